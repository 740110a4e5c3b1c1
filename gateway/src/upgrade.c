/*
 * The rules an upgrade request must pass (see guard.c for why the gateway judges upgrades
 * itself): pure, so they are unit-tested and fuzzed apart from lws.
 */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "gateway.h"

/* Longest values accepted: lws copies the protocol list into 128 bytes, each name into 64. */
#define PROTOCOLS_MAX  127
#define PROTOCOL_MAX   63
#define EXTENSIONS_MAX 256

const char *gw_upgrade_code(gw_upgrade_verdict_t v)
{
    return v == GW_UPGRADE_NOT_ALLOWED ? "upgrade_not_allowed" : "invalid_upgrade";
}

/* An RFC 9110 token character. */
static bool tchar(char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
           (c != '\0' && strchr("!#$%&'*+-.^_`|~", c) != NULL);
}

static bool ows(char c)
{
    return c == ' ' || c == '\t';
}

/*
 * Walks a comma-separated list of tokens (s[0..len)). Returns the number of elements, or
 * -1 when one is empty or not a token, or longer than max. *has is set when `want` is one
 * of them (case-insensitive), if has is not NULL.
 */
static int token_list(const char *s, size_t len, size_t max, const char *want, bool *has)
{
    int count = 0;
    size_t i = 0;
    if (has)
        *has = false;
    for (;;) {
        while (i < len && ows(s[i]))
            i++;
        size_t start = i;
        while (i < len && tchar(s[i]))
            i++;
        size_t n = i - start;
        if (n == 0 || n > max)
            return -1;
        if (has && want && n == strlen(want) && strncasecmp(s + start, want, n) == 0)
            *has = true;
        count++;
        while (i < len && ows(s[i]))
            i++;
        if (i == len)
            return count;
        if (s[i] != ',')
            return -1;
        i++;
    }
}

bool gw_upgrade_token_listed(const char *list, size_t len, const char *token)
{
    bool has = false;
    return token_list(list, len, 64, token, &has) > 0 && has;
}

/* RFC 6455: the key is 16 random bytes in base64, so 22 base64 characters and "==". */
static bool ws_key_valid(const char *s, size_t len)
{
    if (len != 24 || s[22] != '=' || s[23] != '=')
        return false;
    for (size_t i = 0; i < 22; i++) {
        char c = s[i];
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
              c == '+' || c == '/'))
            return false;
    }
    return true;
}

/* Extension offers: tokens with parameters (RFC 6455 section 9.1), quoted values allowed. */
static bool extensions_valid(const char *s, size_t len)
{
    if (len == 0 || len > EXTENSIONS_MAX)
        return false;
    bool any = false;
    for (size_t i = 0; i < len; i++) {
        char c = s[i];
        if (!(tchar(c) || ows(c) || c == ',' || c == ';' || c == '=' || c == '"'))
            return false;
        any = any || tchar(c);
    }
    return any;
}

/* Whether a path can go into a message as it is: printable ASCII only. */
static bool printable(const char *s)
{
    for (; *s; s++)
        if (*s < 0x21 || *s > 0x7e)
            return false;
    return true;
}

static gw_upgrade_verdict_t invalid(char *why, size_t size, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static gw_upgrade_verdict_t invalid(char *why, size_t size, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(why, size, fmt, ap);
    va_end(ap);
    return GW_UPGRADE_INVALID;
}

gw_upgrade_verdict_t gw_upgrade_check(const gw_upgrade_t *u, const char *const *paths, size_t n,
                                      char *why, size_t why_size)
{
    const gw_upgrade_field_t *once[] = {&u->upgrade, &u->connection, &u->host,      &u->key,
                                        &u->version, &u->protocol,   &u->extensions};
    static const char *const once_names[] = {"Upgrade",
                                             "Connection",
                                             "Host",
                                             "Sec-WebSocket-Key",
                                             "Sec-WebSocket-Version",
                                             "Sec-WebSocket-Protocol",
                                             "Sec-WebSocket-Extensions"};
    /* A repeated header is read differently by different parsers: refuse it outright. */
    for (size_t i = 0; i < sizeof once / sizeof once[0]; i++)
        if (once[i]->count > 1)
            return invalid(why, why_size, "the %s header must come once", once_names[i]);
    if (u->oversized)
        return invalid(why, why_size, "the handshake's headers are too large");

    if (u->upgrade.count == 0 || u->upgrade.len == 0)
        return invalid(why, why_size, "the Upgrade header is empty");
    if (strcasecmp(u->upgrade.value, "h2c") == 0) {
        snprintf(why, why_size, "HTTP/2 over cleartext (h2c) is not offered; use HTTP/1.1");
        return GW_UPGRADE_NOT_ALLOWED;
    }
    if (strcasecmp(u->upgrade.value, "websocket") != 0)
        return invalid(why, why_size,
                       "Upgrade must be exactly \"websocket\" (one protocol, no version)");
    if (strcmp(u->method, "GET") != 0)
        return invalid(why, why_size, "a WebSocket handshake is a GET, not %s", u->method);
    if (!u->http11)
        return invalid(why, why_size, "a WebSocket handshake needs HTTP/1.1");
    if (u->body)
        return invalid(why, why_size, "a WebSocket handshake carries no body");
    if (u->host.count == 0 || u->host.len == 0)
        return invalid(why, why_size, "a WebSocket handshake needs a Host header");
    if (u->connection.count == 0 ||
        !gw_upgrade_token_listed(u->connection.value, u->connection.len, "upgrade"))
        return invalid(why, why_size, "the Connection header must list \"upgrade\"");
    if (u->key.count == 0 || !ws_key_valid(u->key.value, u->key.len))
        return invalid(why, why_size,
                       "Sec-WebSocket-Key must be 16 bytes in base64 (24 characters)");
    if (u->version.count == 0 || strcmp(u->version.value, "13") != 0)
        return invalid(why, why_size, "Sec-WebSocket-Version must be 13");
    if (u->protocol.count == 1 &&
        (u->protocol.len > PROTOCOLS_MAX ||
         token_list(u->protocol.value, u->protocol.len, PROTOCOL_MAX, NULL, NULL) < 0))
        return invalid(why, why_size, "Sec-WebSocket-Protocol must be a list of protocol names");
    if (u->extensions.count == 1 && !extensions_valid(u->extensions.value, u->extensions.len))
        return invalid(why, why_size, "Sec-WebSocket-Extensions is malformed");
    if (u->http2_settings.count > 0)
        return invalid(why, why_size, "HTTP2-Settings belongs to an h2c upgrade");
    if (u->legacy.count > 0)
        return invalid(why, why_size,
                       "pre-RFC 6455 handshake headers (Sec-WebSocket-Key1/Key2/Draft)");

    for (size_t i = 0; i < n; i++)
        if (strcmp(paths[i], u->path) == 0)
            return GW_UPGRADE_OK;
    if (printable(u->path))
        snprintf(why, why_size, "there is no WebSocket channel at %.512s", u->path);
    else
        snprintf(why, why_size, "there is no WebSocket channel at this path");
    return GW_UPGRADE_NOT_ALLOWED;
}
