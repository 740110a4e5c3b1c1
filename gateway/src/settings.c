/* Every setting of the gateway, read in one place so --config lists them all. */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "gateway.h"

static bool is_ip_address(const char *s)
{
    struct in6_addr a6;
    struct in_addr a4;
    return inet_pton(AF_INET, s, &a4) == 1 || inet_pton(AF_INET6, s, &a6) == 1;
}

/*
 * Splits a comma-separated list into items (trimmed, empty ones skipped) kept in
 * s->text; false when it does not fit.
 */
static bool split(gw_settings_t *s, size_t *used, const char *list, const char **items,
                  size_t max, size_t *n)
{
    *n = 0;
    for (const char *p = list; p && *p;) {
        const char *end = strchr(p, ',');
        size_t len = end ? (size_t)(end - p) : strlen(p);
        const char *a = p, *b = p + len;
        while (a < b && (*a == ' ' || *a == '\t'))
            a++;
        while (b > a && (b[-1] == ' ' || b[-1] == '\t'))
            b--;
        if (b > a) {
            if (*n == max || *used + (size_t)(b - a) + 1 > sizeof s->text)
                return false;
            char *item = s->text + *used;
            memcpy(item, a, (size_t)(b - a));
            item[b - a] = '\0';
            *used += (size_t)(b - a) + 1;
            items[(*n)++] = item;
        }
        p = end ? end + 1 : b;
    }
    return true;
}

/* "5/min", "3/h", "10/s", "100/day". */
static bool parse_rate(const char *text, mentis_ratelimit_rule_t *out)
{
    char *end = NULL;
    long n = strtol(text, &end, 10);
    if (end == text || *end != '/' || n < 1 || n > (long)MENTIS_RATELIMIT_MAX_LIMIT)
        return false;
    const char *unit = end + 1;
    uint32_t ms = strcmp(unit, "s") == 0     ? 1000u
                  : strcmp(unit, "min") == 0 ? 60000u
                  : strcmp(unit, "h") == 0   ? 3600000u
                  : strcmp(unit, "day") == 0 ? 86400000u
                                             : 0u;
    if (ms == 0)
        return false;
    *out = (mentis_ratelimit_rule_t){(uint32_t)n, ms};
    return true;
}

static void read_rates(mentis_config_t *cfg, gw_settings_t *s)
{
    static const char *const names[MENTIS_RATELIMIT_CATEGORY_COUNT_] = {
        [MENTIS_RATELIMIT_LOGIN] = "MENTIS_GATEWAY_RATE_LOGIN",
        [MENTIS_RATELIMIT_REGISTER] = "MENTIS_GATEWAY_RATE_REGISTER",
        [MENTIS_RATELIMIT_FORGOT_PASSWORD] = "MENTIS_GATEWAY_RATE_FORGOT_PASSWORD",
        [MENTIS_RATELIMIT_RESET_PASSWORD] = "MENTIS_GATEWAY_RATE_RESET_PASSWORD",
        [MENTIS_RATELIMIT_REFRESH] = "MENTIS_GATEWAY_RATE_REFRESH",
        [MENTIS_RATELIMIT_AUTHENTICATED] = "MENTIS_GATEWAY_RATE_AUTHENTICATED",
        [MENTIS_RATELIMIT_UNAUTHENTICATED] = "MENTIS_GATEWAY_RATE_UNAUTHENTICATED",
    };
    for (int c = 0; c < MENTIS_RATELIMIT_CATEGORY_COUNT_; c++) {
        mentis_ratelimit_rule_t def = mentis_ratelimit_default_rule((mentis_ratelimit_category_t)c);
        char text[32], help[160];
        uint32_t w = def.window_ms;
        snprintf(text, sizeof text, "%u/%s", def.limit,
                 w == 1000u ? "s" : w == 60000u ? "min" : w == 3600000u ? "h" : "day");
        snprintf(help, sizeof help,
                 "rate limit of the %s category per client: N/s, N/min, N/h or N/day",
                 mentis_ratelimit_category_str((mentis_ratelimit_category_t)c));
        const char *v = mentis_config_str(cfg, names[c], text, help);
        if (v == NULL || !parse_rate(v, &s->rates[c])) {
            mentis_config_fail(cfg, names[c], "expected N/s, N/min, N/h or N/day, got \"%s\"",
                               v ? v : "");
            s->rates[c] = def;
        }
    }
}

void gw_settings_read(mentis_config_t *cfg, gw_settings_t *s)
{
    mentis_process_settings_read(cfg, 9100, &s->proc);
    size_t used = 0;
    s->addr = mentis_config_str(cfg, "MENTIS_GATEWAY_ADDR", "0.0.0.0",
                                "address of the public HTTP listener (IPv4 or IPv6)");
    if (s->addr == NULL || !is_ip_address(s->addr))
        mentis_config_fail(cfg, "MENTIS_GATEWAY_ADDR",
                           "expected an IPv4 or IPv6 address, got \"%s\"", s->addr ? s->addr : "");
    s->port = (int)mentis_config_int(cfg, "MENTIS_GATEWAY_PORT", 8766, 1, 65535,
                                     "port of the public HTTP listener");
    s->health_timeout_ms =
        (int)mentis_config_int(cfg, "MENTIS_GATEWAY_HEALTH_TIMEOUT_MS", 1000, 50, 60000,
                               "how long GET /api/health waits for each service's answer, ms");
    s->discovery_interval_ms =
        (int)mentis_config_int(cfg, "MENTIS_GATEWAY_DISCOVERY_INTERVAL_MS", 1000, 100, 60000,
                               "how often instances are counted with $SRV.PING, ms");

    /* Tokens: the same names as mentis-auth's, so one value serves both. */
    s->issuer = mentis_config_str(cfg, "MENTIS_AUTH_ISSUER", "mentis",
                                  "the iss claim access tokens must carry");
    s->audience = mentis_config_str(cfg, "MENTIS_AUTH_AUDIENCE", "mentis-api",
                                    "the aud claim access tokens must carry");
    s->default_tenant = mentis_config_str(
        cfg, "MENTIS_AUTH_DEFAULT_TENANT", "00000000-0000-7000-8000-000000000001",
        "tenant of a Cloudflare Access admin (the default tenant)");
    s->token_cache = (int)mentis_config_int(cfg, "MENTIS_GATEWAY_TOKEN_CACHE", 10000, 16, 1 << 22,
                                            "verified access tokens (and revocations) "
                                            "remembered");
    s->keys_refresh_s =
        (int)mentis_config_int(cfg, "MENTIS_GATEWAY_KEYS_REFRESH_S", 300, 1, 86400,
                               "how often the signing keys are asked of mentis-auth, seconds "
                               "(changes are also announced at once)");
    s->beta_cache_s = (int)mentis_config_int(
        cfg, "MENTIS_GATEWAY_BETA_CACHE_S", 30, 1, 3600,
        "how long mentis-auth's answer about a beta token is trusted, seconds "
        "(revocations apply at once)");
    s->usage_interval_ms =
        (int)mentis_config_int(cfg, "MENTIS_GATEWAY_USAGE_INTERVAL_MS", 5000, 100, 600000,
                               "how often beta-token usage is reported to mentis-auth, ms");

    /* Behind a proxy. */
    s->origin_secret = mentis_config_secret(
        cfg, "MENTIS_GATEWAY_ORIGIN_SECRET", "",
        "when set, every request must carry it in MENTIS_GATEWAY_ORIGIN_HEADER (403 "
        "otherwise): only the proxy in front knows it");
    const char *header = mentis_config_str(cfg, "MENTIS_GATEWAY_ORIGIN_HEADER", "X-Origin-Secret",
                                           "header that carries the origin secret");
    static char header_lc[64];
    snprintf(header_lc, sizeof header_lc, "%s", header ? header : "");
    for (char *c = header_lc; *c; c++) {
        if (*c >= 'A' && *c <= 'Z')
            *c = (char)(*c - 'A' + 'a');
        else if (!((*c >= 'a' && *c <= 'z') || (*c >= '0' && *c <= '9') || *c == '-'))
            mentis_config_fail(cfg, "MENTIS_GATEWAY_ORIGIN_HEADER", "not a header name: \"%s\"",
                               header);
    }
    s->origin_header = header_lc;
    const char *trusted = mentis_config_str(
        cfg, "MENTIS_GATEWAY_TRUSTED_PROXIES", "",
        "comma-separated addresses or networks (CIDR) of proxies whose CF-Connecting-IP, "
        "X-Forwarded-For and X-Forwarded-Proto are believed");
    const char *items[GW_TRUSTED_MAX];
    size_t n = 0;
    if (!split(s, &used, trusted, items, GW_TRUSTED_MAX, &n))
        mentis_config_fail(cfg, "MENTIS_GATEWAY_TRUSTED_PROXIES", "at most %d entries",
                           GW_TRUSTED_MAX);
    s->ntrusted = 0;
    for (size_t i = 0; i < n; i++) {
        if (gw_cidr_parse(items[i], &s->trusted[s->ntrusted]))
            s->ntrusted++;
        else
            mentis_config_fail(cfg, "MENTIS_GATEWAY_TRUSTED_PROXIES",
                               "not an address or network: \"%s\"", items[i]);
    }
    const char *cf = mentis_config_str(
        cfg, "MENTIS_GATEWAY_CF_ACCESS_ADMINS", "",
        "comma-separated emails accepted as admins from Cf-Access-Authenticated-User-Email "
        "(through a trusted proxy only); empty: the mode is off");
    if (!split(s, &used, cf, s->cf_admins, GW_LIST_MAX, &s->ncf_admins))
        mentis_config_fail(cfg, "MENTIS_GATEWAY_CF_ACCESS_ADMINS", "at most %d entries",
                           GW_LIST_MAX);
    if (s->ncf_admins > 0 && s->ntrusted == 0)
        mentis_config_fail(cfg, "MENTIS_GATEWAY_CF_ACCESS_ADMINS",
                           "needs MENTIS_GATEWAY_TRUSTED_PROXIES: the header is believed only "
                           "from the proxy that sets it");
    const char *cors = mentis_config_str(
        cfg, "MENTIS_GATEWAY_CORS_ORIGINS", "",
        "comma-separated browser origins allowed to call the API (\"https://app.example\"); "
        "never a wildcard");
    if (!split(s, &used, cors, s->cors_origins, GW_LIST_MAX, &s->ncors_origins))
        mentis_config_fail(cfg, "MENTIS_GATEWAY_CORS_ORIGINS", "at most %d entries", GW_LIST_MAX);
    for (size_t i = 0; i < s->ncors_origins; i++)
        if (strcmp(s->cors_origins[i], "*") == 0 || strchr(s->cors_origins[i], '/') == NULL)
            mentis_config_fail(cfg, "MENTIS_GATEWAY_CORS_ORIGINS",
                               "\"%s\" is not an origin like https://app.example",
                               s->cors_origins[i]);
    s->hsts = mentis_config_bool(cfg, "MENTIS_GATEWAY_HSTS", false,
                                 "send Strict-Transport-Security on every answer (it is sent "
                                 "anyway when a trusted proxy says the client used https)");

    /* Limits. */
    read_rates(cfg, s);
    s->rate_keys = (int)mentis_config_int(cfg, "MENTIS_GATEWAY_RATE_KEYS", 100000, 64, 1 << 24,
                                          "clients the rate limiter remembers (least recently "
                                          "seen forgotten first)");
    s->max_in_flight = (int)mentis_config_int(
        cfg, "MENTIS_GATEWAY_MAX_IN_FLIGHT", 1024, 1, 1 << 20,
        "requests handled at once; more are answered 503 with Retry-After");
    s->max_conns_per_ip = (int)mentis_config_int(
        cfg, "MENTIS_GATEWAY_MAX_CONNS_PER_IP", 64, 1, 1 << 20,
        "open connections from one client address (trusted proxies excepted)");
    s->header_timeout_s = (int)mentis_config_int(
        cfg, "MENTIS_GATEWAY_HEADER_TIMEOUT_S", 10, 1, 300,
        "time a client has to send a whole request head, seconds (slow clients are cut)");
    s->idle_timeout_s = (int)mentis_config_int(
        cfg, "MENTIS_GATEWAY_IDLE_TIMEOUT_S", 30, 1, 3600,
        "an idle keep-alive connection is closed after this many seconds");
}
