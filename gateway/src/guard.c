/*
 * Upgrade requests: the gateway decides, before libwebsockets acts, whether a request may
 * leave HTTP, because the upgrade code of lws 4.1.6 is where its known weakness lives.
 *
 * CVE-2025-11677. When lws has parsed a request head with an Upgrade header, it compares
 * the header's first value with "websocket" and "h2c". For any other value it answers 403
 * and completes the transaction, which on a keep-alive connection with nothing pipelined
 * frees the header table — and then carries on as if the value were acceptable: it calls
 * LWS_CALLBACK_HTTP_CONFIRM_UPGRADE with `in` pointing into the freed table and, when the
 * callback returns 0 (the default), compares the freed bytes with "websocket" and "h2c"
 * again before falling into its HTTP path with no header table. The first request of a
 * connection does not reach it (lws closes instead); the second one does.
 *
 * No callback of ours runs between lws's 403 and that read, and the read comes after the
 * callback returns, so the callback is where it stops: gw_guard_confirm_upgrade never
 * reads `in`, looks at the request through the wsi instead, and when the header table is
 * gone (or no longer holds an Upgrade header: a pipelined request reset it) or holds a
 * value lws refused, returns -1 — lws then hangs up at once and never touches the freed
 * bytes. The client has lws's 403 (a short HTML page) and a closed connection.
 *
 * "websocket" and "h2c" reach the callback with the header table intact, and the gateway
 * answers them itself: a valid RFC 6455 handshake on a path that has a WebSocket channel
 * is let through (there is none yet: ws_paths is empty), anything else gets a 400 problem
 * and the connection is closed. h2c is never allowed: the gateway speaks HTTP/1.1. So lws's
 * WebSocket and h2c upgrade code runs only for handshakes the gateway has checked.
 *
 * Requests whose upgrade headers lws ignores (an empty Upgrade, stray Sec-WebSocket-* or
 * HTTP2-Settings) reach the normal request path, where gw_guard_plain has http.c refuse
 * them the same way.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "gateway.h"
#include "mentis/crypto.h"
#include "mentis/log.h"

/*
 * The paths where a WebSocket upgrade may proceed. None yet: the realtime channel adds its
 * path here, with the lws protocol that serves it.
 */
static const char *const ws_paths[1] = {NULL};
static const size_t ws_path_count = 0;

/* Room for the copied header values: they all fit in a request head (max_http_header_data). */
#define COPIES_SIZE 8192

/* Headers kept per occurrence by lws (it chains a repeated header's values as fragments). */
static int occurrences(struct lws *wsi, enum lws_token_indexes h)
{
    int n = 0;
    char c;
    /* A fragment of length 0 is an empty value: copying it into one byte succeeds. */
    while (lws_hdr_fragment_length(wsi, h, n) > 0 || lws_hdr_copy_fragment(wsi, &c, 1, h, n) == 0)
        n++;
    return n;
}

/* The copies of the header values the rules read. */
typedef struct {
    char buf[COPIES_SIZE];
    size_t used;
    bool oversized; /* a value did not fit */
} copies_t;

static void take_field(struct lws *wsi, enum lws_token_indexes h, copies_t *c,
                       gw_upgrade_field_t *f)
{
    f->count = occurrences(wsi, h);
    f->value = "";
    f->len = 0;
    if (f->count == 0)
        return;
    char *dst = c->buf + c->used;
    int n = lws_hdr_copy_fragment(wsi, dst, (int)(sizeof c->buf - c->used), h, 0);
    if (n < 0) {
        c->oversized = true;
        return;
    }
    f->value = dst;
    f->len = (size_t)n;
    c->used += (size_t)n + 1;
}

static const char *const method_names[] = {
    [LWSHUMETH_GET] = "GET",         [LWSHUMETH_POST] = "POST",   [LWSHUMETH_OPTIONS] = "OPTIONS",
    [LWSHUMETH_PUT] = "PUT",         [LWSHUMETH_PATCH] = "PATCH", [LWSHUMETH_DELETE] = "DELETE",
    [LWSHUMETH_CONNECT] = "CONNECT", [LWSHUMETH_HEAD] = "HEAD",
};

/* The request line: method name and path (cut to GW_PATH_MAX). */
static void request_line(struct lws *wsi, const char **method, char *path, size_t size)
{
    char *uri = NULL;
    int ulen = 0;
    int m = lws_http_get_uri_and_method(wsi, &uri, &ulen);
    *method = m >= 0 && (size_t)m < sizeof method_names / sizeof method_names[0] && method_names[m]
                  ? method_names[m]
                  : "OTHER";
    snprintf(path, size, "%.*s", uri && ulen > 0 ? ulen : 0, uri ? uri : "");
}

/* Whether a body is announced: any Transfer-Encoding, or a Content-Length other than 0. */
static bool announces_body(struct lws *wsi)
{
    char len[32];
    if (lws_hdr_total_length(wsi, WSI_TOKEN_HTTP_TRANSFER_ENCODING) > 0)
        return true;
    if (lws_hdr_total_length(wsi, WSI_TOKEN_HTTP_CONTENT_LENGTH) <= 0)
        return false;
    if (lws_hdr_copy(wsi, len, sizeof len, WSI_TOKEN_HTTP_CONTENT_LENGTH) <= 0)
        return true;
    return strspn(len, "0") != strlen(len);
}

static void request_id(struct lws *wsi, char out[GW_REQUEST_ID_MAX + 1])
{
    static const char name[] = "x-request-id:";
    int n = lws_hdr_custom_length(wsi, name, (int)sizeof name - 1);
    if (n > 0 && n <= GW_REQUEST_ID_MAX &&
        lws_hdr_custom_copy(wsi, out, GW_REQUEST_ID_MAX + 1, name, (int)sizeof name - 1) == n &&
        gw_request_id_valid(out, (size_t)n))
        return;
    mentis_crypto_uuid_v7(out);
}

static int add_header(struct lws *wsi, const char *name, const char *value, unsigned char **p,
                      unsigned char *end)
{
    return lws_add_http_header_by_name(wsi, (const unsigned char *)name,
                                       (const unsigned char *)value, (int)strlen(value), p, end);
}

/*
 * Writes the 400 problem for a refused upgrade, with Connection: close (the caller returns
 * -1, so lws closes the connection once this is sent). lws has not run its HTTP path for
 * this request, so its idea of the HTTP version may be stale: the status line is ours.
 */
static void refuse(gw_server_t *srv, struct lws *wsi, const gw_upgrade_t *u,
                   gw_upgrade_verdict_t verdict, const char *why, const char *rid)
{
    const char *code = gw_upgrade_code(verdict);
    size_t len = 0;
    char *body = gw_problem_json(400, code, why, rid, NULL, &len);
    gw_client_t client;
    gw_edge_client(srv->settings, wsi, &client);
    gw_observe_request(srv->observe, &(gw_observe_entry_t){.method = u->method,
                                                           .path = u->path,
                                                           .status = 400,
                                                           .request_id = rid,
                                                           .code = code,
                                                           .detail = why,
                                                           .client_ip = client.ip});
    if (body == NULL)
        return; /* out of memory: the connection is closed without an answer */
    unsigned char buf[LWS_PRE + 8192];
    unsigned char *start = buf + LWS_PRE, *p = start, *end = buf + sizeof buf - 1;
    char clen[24];
    snprintf(clen, sizeof clen, "%zu", len);
    /* The status line lws builds names the version of the connection's previous request
     * (HTTP/1.0 on a new one); the answer is HTTP/1.1 whatever it says. */
    bool ok = lws_add_http_header_status(wsi, 400 | LWSAHH_FLAG_NO_SERVER_NAME, &p, end) == 0 &&
              add_header(wsi, "content-type:", "application/problem+json", &p, end) == 0 &&
              add_header(wsi, "content-length:", clen, &p, end) == 0 &&
              add_header(wsi, "x-request-id:", rid, &p, end) == 0 &&
              /* RFC 6455 section 4.2.2: a refused version is answered with the one we speak. */
              (u->version.count == 1 && strcmp(u->version.value, "13") == 0
                   ? true
                   : add_header(wsi, "sec-websocket-version:", "13", &p, end) == 0) &&
              add_header(wsi, "connection:", "close", &p, end) == 0 &&
              lws_finalize_http_header(wsi, &p, end) == 0 && (size_t)(end - p) >= len;
    if (ok) {
        if (memcmp(start, "HTTP/1.", 7) == 0)
            start[7] = '1';
        if (strcmp(u->method, "HEAD") != 0) { /* HEAD: the headers of the answer only */
            memcpy(p, body, len);
            p += len;
        }
        if (lws_write(wsi, start, (size_t)(p - start), LWS_WRITE_HTTP) != (int)(p - start))
            mentis_log_warn("upgrade guard: could not write the refusal");
    }
    free(body);
}

int gw_guard_confirm_upgrade(gw_server_t *srv, struct lws *wsi)
{
    /*
     * Whatever lws passes as `in` may already be freed (see the top of this file): the
     * Upgrade value is read again from the header table, which lws has detached (NULL) or
     * reset when it answered the request itself.
     */
    char upgrade[16];
    int n = lws_hdr_copy_fragment(wsi, upgrade, sizeof upgrade, WSI_TOKEN_UPGRADE, 0);
    if (n <= 0 || (strcasecmp(upgrade, "websocket") != 0 && strcasecmp(upgrade, "h2c") != 0)) {
        gw_limits_reject(srv->limits, GW_REJECT_UPGRADE);
        return -1; /* lws answered 403 already; hang up before it reads freed memory */
    }

    char path[GW_PATH_MAX + 1], rid[GW_REQUEST_ID_MAX + 1], version[16];
    copies_t copies;
    copies.used = 0;
    copies.oversized = false;
    gw_upgrade_t u;
    memset(&u, 0, sizeof u);
    request_line(wsi, &u.method, path, sizeof path);
    u.path = path;
    u.http11 = lws_hdr_copy(wsi, version, sizeof version, WSI_TOKEN_HTTP) > 0 &&
               strcmp(version, "HTTP/1.1") == 0;
    u.body = announces_body(wsi);
    take_field(wsi, WSI_TOKEN_UPGRADE, &copies, &u.upgrade);
    take_field(wsi, WSI_TOKEN_CONNECTION, &copies, &u.connection);
    take_field(wsi, WSI_TOKEN_HOST, &copies, &u.host);
    take_field(wsi, WSI_TOKEN_KEY, &copies, &u.key);
    take_field(wsi, WSI_TOKEN_VERSION, &copies, &u.version);
    take_field(wsi, WSI_TOKEN_PROTOCOL, &copies, &u.protocol);
    take_field(wsi, WSI_TOKEN_EXTENSIONS, &copies, &u.extensions);
    take_field(wsi, WSI_TOKEN_HTTP2_SETTINGS, &copies, &u.http2_settings);
    take_field(wsi, WSI_TOKEN_KEY1, &copies, &u.legacy);
    u.legacy.count += occurrences(wsi, WSI_TOKEN_KEY2) + occurrences(wsi, WSI_TOKEN_DRAFT);
    u.oversized = copies.oversized;

    char why[640];
    gw_upgrade_verdict_t v = gw_upgrade_check(&u, ws_paths, ws_path_count, why, sizeof why);
    if (v == GW_UPGRADE_OK)
        return 0;
    request_id(wsi, rid);
    gw_limits_reject(srv->limits, GW_REJECT_UPGRADE);
    refuse(srv, wsi, &u, v, why, rid);
    return -1;
}

const char *gw_guard_plain(struct lws *wsi)
{
    /* lws takes the upgrade path for any non-empty Upgrade; what is left here is empty.
     * Connection: upgrade alone is let through: some proxies send it on every request, and
     * without an Upgrade header lws does nothing with it. */
    if (occurrences(wsi, WSI_TOKEN_UPGRADE) > 0)
        return "the Upgrade header is empty";
    static const struct {
        enum lws_token_indexes token;
        const char *why;
    } stray[] = {
        {WSI_TOKEN_KEY, "Sec-WebSocket-Key without an Upgrade header"},
        {WSI_TOKEN_VERSION, "Sec-WebSocket-Version without an Upgrade header"},
        {WSI_TOKEN_PROTOCOL, "Sec-WebSocket-Protocol without an Upgrade header"},
        {WSI_TOKEN_EXTENSIONS, "Sec-WebSocket-Extensions without an Upgrade header"},
        {WSI_TOKEN_KEY1, "Sec-WebSocket-Key1 without an Upgrade header"},
        {WSI_TOKEN_KEY2, "Sec-WebSocket-Key2 without an Upgrade header"},
        {WSI_TOKEN_DRAFT, "Sec-WebSocket-Draft without an Upgrade header"},
        {WSI_TOKEN_HTTP2_SETTINGS, "HTTP2-Settings without an Upgrade header"},
    };
    for (size_t i = 0; i < sizeof stray / sizeof stray[0]; i++)
        if (occurrences(wsi, stray[i].token) > 0)
            return stray[i].why;
    return NULL;
}
