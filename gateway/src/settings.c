/* Every setting of the gateway, read in one place so --config lists them all. */
#include <arpa/inet.h>
#include <netinet/in.h>

#include "gateway.h"

static const char *const log_levels[] = {"debug", "info", "warn", "error", NULL};

static bool is_ip_address(const char *s)
{
    struct in6_addr a6;
    struct in_addr a4;
    return inet_pton(AF_INET, s, &a4) == 1 || inet_pton(AF_INET6, s, &a6) == 1;
}

/* The id becomes a token of $SRV.<VERB>.gateway.<id>: no dots, wildcards or spaces. */
static bool is_subject_token(const char *s)
{
    size_t n = 0;
    for (; s[n]; n++) {
        char c = s[n];
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
              c == '_' || c == '-'))
            return false;
    }
    return n >= 1 && n <= 64;
}

void gw_settings_read(mentis_config_t *cfg, gw_settings_t *s)
{
    s->nats_url = mentis_config_str(cfg, "MENTIS_NATS_URL", "nats://127.0.0.1:4222",
                                    "NATS server URL(s), comma-separated");
    s->nats_user = mentis_config_str(cfg, "MENTIS_NATS_USER", NULL, "NATS user name (optional)");
    s->nats_password =
        mentis_config_secret(cfg, "MENTIS_NATS_PASSWORD", NULL, "NATS password (optional)");
    s->nats_token = mentis_config_secret(cfg, "MENTIS_NATS_TOKEN", NULL, "NATS token (optional)");
    s->addr = mentis_config_str(cfg, "MENTIS_GATEWAY_ADDR", "0.0.0.0",
                                "address of the public HTTP listener (IPv4 or IPv6)");
    if (s->addr == NULL || !is_ip_address(s->addr))
        mentis_config_fail(cfg, "MENTIS_GATEWAY_ADDR",
                           "expected an IPv4 or IPv6 address, got \"%s\"", s->addr ? s->addr : "");
    s->port = (int)mentis_config_int(cfg, "MENTIS_GATEWAY_PORT", 8766, 1, 65535,
                                     "port of the public HTTP listener");
    s->admin_addr =
        mentis_config_str(cfg, "MENTIS_ADMIN_ADDR", "127.0.0.1",
                          "address of the admin listener (/healthz, /readyz, /metrics)");
    s->admin_port = (int)mentis_config_int(cfg, "MENTIS_ADMIN_PORT", 9100, 0, 65535,
                                           "port of the admin listener; 0 picks a free one");
    s->log_level =
        mentis_config_enum(cfg, "MENTIS_LOG_LEVEL", "info", log_levels, "lowest level logged");
    s->log_sample =
        mentis_config_double(cfg, "MENTIS_LOG_SAMPLE", 0.1, 0, 1,
                             "fraction of successful requests logged (errors always are)");
    s->instance_id = mentis_config_str(cfg, "MENTIS_INSTANCE_ID", NULL,
                                       "instance id shown by $SRV (random when unset)");
    if (s->instance_id && *s->instance_id && !is_subject_token(s->instance_id))
        mentis_config_fail(cfg, "MENTIS_INSTANCE_ID",
                           "expected 1 to 64 characters of [A-Za-z0-9_-], got \"%s\"",
                           s->instance_id);
    s->health_timeout_ms =
        (int)mentis_config_int(cfg, "MENTIS_GATEWAY_HEALTH_TIMEOUT_MS", 1000, 50, 60000,
                               "how long GET /api/health waits for each service's answer, ms");
    s->discovery_interval_ms =
        (int)mentis_config_int(cfg, "MENTIS_GATEWAY_DISCOVERY_INTERVAL_MS", 1000, 100, 60000,
                               "how often instances are counted with $SRV.PING, ms");
    s->grace_ms = (int)mentis_config_int(cfg, "MENTIS_SHUTDOWN_GRACE_MS", 10000, 0, 600000,
                                         "time to finish in-flight requests after SIGTERM, ms");
}
