/*
 * One HTTP request from LWS_CALLBACK_HTTP to the last byte of its answer.
 *
 * A request lives in its own heap object, pointed to by the connection's session data, and
 * sits on the server's list of live requests until it ends. Handlers answer through
 * gw_respond*, now or later (from a bus completion); the answer is only stored and the
 * connection asked for a writable callback, so every write happens in
 * LWS_CALLBACK_HTTP_WRITEABLE: headers first, then the body in chunks. A request ends when
 * its answer is written or its connection closes, whichever comes first; either way its
 * work is released (pending bus requests cancelled) and it is never written to again.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>

#include "gateway.h"
#include "mentis/crypto.h"
#include "mentis/jwt.h"

#define MAX_EXTRA_HEADERS 20
#define BODY_CHUNK        16384
#define HEADERS_SIZE      4096
#define BEARER_MAX        (MENTIS_JWT_MAX_LEN + 1)
#define INLINE_BODY_MAX   16384 /* bodies up to this go out in the headers' write */

enum phase {
    PHASE_HANDLING, /* the handler has not answered yet */
    PHASE_HEADERS,  /* answered: headers to write */
    PHASE_BODY,     /* headers written: body to write */
};

struct gw_request {
    gw_server_t *srv;
    struct lws *wsi; /* NULL once the connection is gone */
    struct gw_session *pss;
    gw_request_t *prev, *next; /* srv->live */
    const gw_route_t *route;   /* NULL when none matched */
    gw_params_t params;        /* the route's path parameters, pointing into path */
    char method[8];
    char path[GW_PATH_MAX + 1];
    char request_id[GW_REQUEST_ID_MAX + 1];
    int64_t started_ns;
    bool head;        /* HEAD: the headers of the GET answer, no body */
    bool close_after; /* close the connection once answered */
    bool client_gone; /* the client closed its side; the connection is being closed */
    bool rx_paused;   /* reading from the connection is stopped until the answer is out */

    void *work;
    void (*release)(void *work);

    enum phase phase;
    int status;
    char content_type[48];
    unsigned char *buf; /* LWS_PRE bytes, then the body */
    size_t body_len, body_sent;
    struct {
        char name[32];
        char value[GW_PATH_MAX / 4]; /* room for a Location */
    } extra[MAX_EXTRA_HEADERS];
    size_t nextra;
    char traceparent[GW_TRACEPARENT_SIZE]; /* ours: incoming trace id, new parent id */
    char *query; /* the query's fragments as lws decoded them, each NUL-ended */
    size_t query_count;
    char *in_body; /* the request body as read so far (forwarded routes) */
    size_t in_len;
    bool reading_body; /* waiting for LWS_CALLBACK_HTTP_BODY_COMPLETION */
    char code[48];     /* a problem's machine code, for the access log */
    char detail[384];  /* a problem's detail (a service's message), for the access log */
    char reason[48];   /* why, more precisely than the client is told (log only) */

    gw_client_t client;
    gw_identity_t identity;
    char user_agent[256];
    char if_match[64];
    char tenant_hint[40]; /* X-Tenant of a public request (a tenant id), "" when none */
    char *bearer;        /* the Authorization bearer token ("" when none) */
    bool access_pending; /* waiting for mentis-auth (a beta-token check) */
    bool route_counted;  /* counted in its route's in-flight gauge */
};

gw_server_t *gw_request_server(const gw_request_t *req)
{
    return req->srv;
}

const char *gw_request_id(const gw_request_t *req)
{
    return req->request_id;
}

const gw_route_t *gw_request_route(const gw_request_t *req)
{
    return req->route;
}

const gw_params_t *gw_request_params(const gw_request_t *req)
{
    return &req->params;
}

const char *gw_request_traceparent(const gw_request_t *req)
{
    return req->traceparent;
}

const char *gw_request_body(const gw_request_t *req, size_t *len)
{
    *len = req->in_len;
    return req->in_body;
}

size_t gw_request_query_count(const gw_request_t *req)
{
    return req->query_count;
}

const char *gw_request_query(const gw_request_t *req, size_t i)
{
    const char *p = req->query;
    for (size_t k = 0; k < i; k++)
        p += strlen(p) + 1;
    return p;
}

const gw_client_t *gw_request_client(const gw_request_t *req)
{
    return &req->client;
}

const gw_identity_t *gw_request_identity(const gw_request_t *req)
{
    return &req->identity;
}

gw_identity_t *gw_request_identity_mut(gw_request_t *req)
{
    return &req->identity;
}

const char *gw_request_user_agent(const gw_request_t *req)
{
    return req->user_agent;
}

const char *gw_request_if_match(const gw_request_t *req)
{
    return req->if_match;
}

const char *gw_request_tenant_hint(const gw_request_t *req)
{
    return req->tenant_hint;
}

const char *gw_request_bearer(const gw_request_t *req)
{
    return req->bearer ? req->bearer : "";
}

void gw_request_set_work(gw_request_t *req, void *work, void (*release)(void *work))
{
    req->work = work;
    req->release = release;
}

static void release_work(gw_request_t *req)
{
    void (*release)(void *) = req->release;
    void *work = req->work;
    req->release = NULL;
    req->work = NULL;
    if (release)
        release(work);
}

/* Ends a request: releases its work, counts and logs it, unlinks and frees it. */
static void request_end(gw_request_t *req, int status)
{
    gw_server_t *srv = req->srv;
    if (req->access_pending) {
        req->access_pending = false;
        gw_access_forget(srv->access, req);
    }
    release_work(req);
    double secs = (double)(gw_now_ns() - req->started_ns) / 1e9;
    gw_observe_request(srv->observe, &(gw_observe_entry_t){
                                         .route = req->route,
                                         .method = req->method,
                                         .path = req->path,
                                         .status = status,
                                         .seconds = secs,
                                         .request_id = req->request_id,
                                         .code = req->code[0] ? req->code : NULL,
                                         .detail = req->detail[0] ? req->detail : NULL,
                                         .reason = req->reason[0] ? req->reason : NULL,
                                         .client_ip = req->client.ip,
                                         .principal = req->identity.principal[0]
                                                          ? req->identity.principal
                                                          : NULL,
                                     });
    if (req->prev)
        req->prev->next = req->next;
    else
        srv->live = req->next;
    if (req->next)
        req->next->prev = req->prev;
    srv->inflight--;
    gw_observe_inflight(srv->observe, -1);
    if (req->route_counted)
        gw_observe_route_inflight(srv->observe, req->route, -1);
    if (req->pss)
        req->pss->req = NULL;
    free(req->buf);
    free(req->bearer);
    free(req->query);
    free(req->in_body);
    free(req);
}

/* ---- answering ---- */

void gw_response_header(gw_request_t *req, const char *name, const char *value)
{
    if (req->nextra == MAX_EXTRA_HEADERS || req->phase != PHASE_HANDLING)
        return;
    snprintf(req->extra[req->nextra].name, sizeof req->extra[0].name, "%s", name);
    snprintf(req->extra[req->nextra].value, sizeof req->extra[0].value, "%s", value);
    req->nextra++;
}

void gw_respond(gw_request_t *req, int status, const char *content_type, const void *body,
                size_t len)
{
    if (req->phase != PHASE_HANDLING)
        return;
    req->buf = malloc(LWS_PRE + (len ? len : 1));
    if (req->buf == NULL) {
        /* Keep the connection honest: an empty 500 rather than nothing at all. */
        len = 0;
        status = 500;
        content_type = NULL;
    } else if (len > 0) {
        memcpy(req->buf + LWS_PRE, body, len);
    }
    req->status = status;
    snprintf(req->content_type, sizeof req->content_type, "%s", content_type ? content_type : "");
    req->body_len = len;
    req->phase = PHASE_HEADERS;
    if (req->reading_body) {
        /* Answered before the body was read whole (a refusal): what is left of it is
         * dropped, and the connection cannot be trusted for another request. */
        req->reading_body = false;
        req->close_after = true;
    }
    if (atomic_load(&req->srv->draining))
        req->close_after = true;
    if (req->wsi == NULL)
        return;
    /* lws 4.1 delivers no writable callback to a connection whose reading is stopped. */
    if (req->rx_paused) {
        req->rx_paused = false;
        lws_rx_flow_control(req->wsi, 1);
    }
    lws_callback_on_writable(req->wsi);
}

void gw_respond_json(gw_request_t *req, int status, cJSON *doc)
{
    char *text = doc ? cJSON_PrintUnformatted(doc) : NULL;
    cJSON_Delete(doc);
    if (text == NULL) {
        gw_respond_problem(req, 500, "internal", "out of memory");
        return;
    }
    gw_respond(req, status, "application/json", text, strlen(text));
    free(text);
}

static const char *status_code(int status)
{
    switch (status) {
    case 405:
        return "method_not_allowed";
    case 413:
        return "payload_too_large";
    case 414:
        return "uri_too_long";
    case 415:
        return "unsupported_media_type";
    case 431:
        return "request_header_fields_too_large";
    default:
        return mentis_status_str(mentis_status_from_http(status));
    }
}

void gw_request_note(gw_request_t *req, const char *code, const char *fmt, ...)
{
    if (req->phase != PHASE_HANDLING)
        return;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(req->detail, sizeof req->detail, fmt, ap);
    va_end(ap);
    snprintf(req->code, sizeof req->code, "%s", code);
}

void gw_request_reason(gw_request_t *req, const char *reason)
{
    snprintf(req->reason, sizeof req->reason, "%s", reason);
}

static void respond_problem(gw_request_t *req, int status, const char *code, cJSON *errors,
                            const char *fmt, va_list ap) __attribute__((format(printf, 5, 0)));

static void respond_problem(gw_request_t *req, int status, const char *code, cJSON *errors,
                            const char *fmt, va_list ap)
{
    if (req->phase != PHASE_HANDLING) {
        cJSON_Delete(errors);
        return;
    }
    vsnprintf(req->detail, sizeof req->detail, fmt, ap);
    snprintf(req->code, sizeof req->code, "%s", code ? code : status_code(status));
    size_t len = 0;
    char *text = gw_problem_json(status, req->code, req->detail, req->request_id, errors, &len);
    gw_respond(req, status, "application/problem+json", text, text ? len : 0);
    free(text);
}

void gw_respond_problem(gw_request_t *req, int status, const char *code, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    respond_problem(req, status, code, NULL, fmt, ap);
    va_end(ap);
}

void gw_respond_problem_errors(gw_request_t *req, int status, const char *code, cJSON *errors,
                               const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    respond_problem(req, status, code, errors, fmt, ap);
    va_end(ap);
}

/* ---- starting a request ---- */

static const char *const method_names[] = {
    [LWSHUMETH_GET] = "GET",         [LWSHUMETH_POST] = "POST",   [LWSHUMETH_OPTIONS] = "OPTIONS",
    [LWSHUMETH_PUT] = "PUT",         [LWSHUMETH_PATCH] = "PATCH", [LWSHUMETH_DELETE] = "DELETE",
    [LWSHUMETH_CONNECT] = "CONNECT", [LWSHUMETH_HEAD] = "HEAD",
};

bool gw_request_id_valid(const char *s, size_t len)
{
    if (s == NULL || len == 0 || len > GW_REQUEST_ID_MAX)
        return false;
    for (size_t i = 0; i < len; i++) {
        char c = s[i];
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
              c == '.' || c == '_' || c == '-'))
            return false;
    }
    return true;
}

/* Takes a valid incoming X-Request-Id; anything else is replaced by a new UUIDv7. */
static void take_request_id(struct lws *wsi, char *out)
{
    if (gw_header(wsi, "x-request-id:", out, GW_REQUEST_ID_MAX + 1) &&
        gw_request_id_valid(out, strlen(out)))
        return;
    mentis_crypto_uuid_v7(out);
}

/* Copies the query's fragments (lws splits at '&' and percent-decodes); false when out of memory.
 */
static bool take_query(struct lws *wsi, gw_request_t *req)
{
    int total = lws_hdr_total_length(wsi, WSI_TOKEN_HTTP_URI_ARGS);
    if (total <= 0)
        return true;
    size_t cap = (size_t)total + GW_QUERY_MAX + 1;
    req->query = malloc(cap);
    if (req->query == NULL)
        return false;
    size_t used = 0;
    for (int i = 0; req->query_count < GW_QUERY_MAX; i++) {
        int n = lws_hdr_copy_fragment(wsi, req->query + used, (int)(cap - used),
                                      WSI_TOKEN_HTTP_URI_ARGS, i);
        if (n < 0)
            break;
        if (n == 0)
            continue; /* "a=1&&b=2" */
        used += (size_t)n + 1;
        req->query_count++;
    }
    return true;
}

/* Whether the Content-Type is application/json (any parameters, any case). */
static bool json_content_type(struct lws *wsi)
{
    char ct[128];
    if (lws_hdr_copy(wsi, ct, sizeof ct, WSI_TOKEN_HTTP_CONTENT_TYPE) <= 0)
        return false;
    static const char want[] = "application/json";
    size_t n = sizeof want - 1;
    if (strncasecmp(ct, want, n) != 0)
        return false;
    return ct[n] == '\0' || ct[n] == ';' || ct[n] == ' ';
}

/* The announced Content-Length, or -1 when there is none (chunked) or it is unreadable. */
static long long content_length(struct lws *wsi)
{
    char len[32];
    if (lws_hdr_total_length(wsi, WSI_TOKEN_HTTP_CONTENT_LENGTH) <= 0 ||
        lws_hdr_copy(wsi, len, sizeof len, WSI_TOKEN_HTTP_CONTENT_LENGTH) <= 0)
        return -1;
    char *end = NULL;
    long long n = strtoll(len, &end, 10);
    return end != len && *end == '\0' && n >= 0 ? n : -1;
}

/*
 * A forwarded route with a body: refuses one it cannot take (413 by the route's limit,
 * before reading; 415 when it is not JSON), else starts reading it.
 */
static void begin_body(gw_request_t *req, struct lws *wsi)
{
    const gw_route_t *route = req->route;
    long long announced = content_length(wsi);
    if (route->body_limit == 0) {
        gw_respond_problem(req, 413, NULL, "%s %s takes no request body", route->method,
                           route->path);
        return;
    }
    if (announced > (long long)route->body_limit) {
        gw_respond_problem(req, 413, NULL, "the body of %s %s is limited to %zu bytes",
                           route->method, route->path, route->body_limit);
        return;
    }
    if (!json_content_type(wsi)) {
        gw_respond_problem(req, 415, NULL, "a request body must be application/json");
        return;
    }
    req->in_body = malloc(route->body_limit);
    if (req->in_body == NULL) {
        gw_respond_problem(req, 500, "internal", "out of memory");
        return;
    }
    /* The body will be read whole, so the connection stays usable (unless draining). */
    req->close_after = atomic_load(&req->srv->draining);
    req->reading_body = true;
}

/*
 * lws 4.1 does not read while a transaction is in progress, yet keeps the socket in its
 * poll set: a client that closes (or pipelines) while an answer is awaited makes the loop
 * spin until the answer. So reading stops until the answer is out, and
 * gw_http_check_clients notices a client that leaves.
 */
static void pause_until_answered(gw_request_t *req)
{
    if (req->phase == PHASE_HANDLING && !req->reading_body && !req->rx_paused &&
        req->wsi != NULL) {
        req->rx_paused = true;
        lws_rx_flow_control(req->wsi, 0);
    }
}

/* The caller is who the route needs: count it against its rate limit and run the route
 * (a forwarded route with a body runs once the body is read). */
static void proceed(gw_request_t *req)
{
    if (!gw_limits_rate(req->srv->limits, req))
        return;
    if (req->route->handler != NULL)
        req->route->handler(req);
    else if (!req->reading_body)
        gw_forward_handle(req);
}

void gw_http_access_done(gw_request_t *req, bool ok)
{
    req->access_pending = false;
    if (ok && req->phase == PHASE_HANDLING)
        proceed(req);
    pause_until_answered(req);
}

int gw_http_body(struct gw_session *pss, const void *in, size_t len)
{
    gw_request_t *req = pss->req;
    if (req == NULL || !req->reading_body)
        return 0; /* refused already: the bytes are dropped, the connection closes after */
    if (len > req->route->body_limit - req->in_len) {
        gw_respond_problem(req, 413, NULL, "the body of %s %s is limited to %zu bytes",
                           req->route->method, req->route->path, req->route->body_limit);
        return 0;
    }
    memcpy(req->in_body + req->in_len, in, len);
    req->in_len += len;
    return 0;
}

int gw_http_body_done(struct gw_session *pss)
{
    gw_request_t *req = pss->req;
    if (req == NULL || !req->reading_body)
        return 0;
    req->reading_body = false;
    /* With the access check still waiting, gw_http_access_done runs the route. A route
     * refused by its rate limit after the check was answered then (phase moved on). */
    if (!req->access_pending && req->phase == PHASE_HANDLING)
        gw_forward_handle(req);
    pause_until_answered(req);
    return 0;
}

/* Whether the request announces a body. */
static bool has_body(struct lws *wsi)
{
    char len[32];
    if (lws_hdr_total_length(wsi, WSI_TOKEN_HTTP_TRANSFER_ENCODING) > 0)
        return true;
    if (lws_hdr_total_length(wsi, WSI_TOKEN_HTTP_CONTENT_LENGTH) <= 0)
        return false;
    if (lws_hdr_copy(wsi, len, sizeof len, WSI_TOKEN_HTTP_CONTENT_LENGTH) <= 0)
        return true; /* too long to be zero */
    for (const char *p = len; *p; p++)
        if (*p != '0' && *p != ' ')
            return true;
    return false;
}

/* Copies what the access check and the forwarder need of the request's headers. */
static bool take_credentials(struct lws *wsi, gw_request_t *req)
{
    req->bearer = calloc(1, BEARER_MAX + 16);
    if (req->bearer == NULL)
        return false;
    int n = lws_hdr_total_length(wsi, WSI_TOKEN_HTTP_AUTHORIZATION);
    if (n > 0) {
        char *auth = malloc((size_t)n + 1);
        if (auth == NULL)
            return false;
        if (lws_hdr_copy(wsi, auth, n + 1, WSI_TOKEN_HTTP_AUTHORIZATION) == n &&
            strncasecmp(auth, "Bearer ", 7) == 0) {
            const char *t = auth + 7;
            while (*t == ' ')
                t++;
            size_t len = strlen(t);
            while (len > 0 && t[len - 1] == ' ')
                len--;
            /* Too long to be a token: keep a prefix, which can only fail to verify. */
            if (len > BEARER_MAX - 1)
                len = BEARER_MAX - 1;
            memcpy(req->bearer, t, len);
            req->bearer[len] = '\0';
        } else if (n > 0) {
            snprintf(req->bearer, BEARER_MAX, "-"); /* another scheme: never valid */
        }
        free(auth);
    }
    char im[96];
    if (lws_hdr_copy(wsi, im, sizeof im, WSI_TOKEN_HTTP_IF_MATCH) > 0)
        snprintf(req->if_match, sizeof req->if_match, "%s", im);
    /* Public requests (sign-in, register, refresh, resets) name their tenant themselves;
     * anything else takes it from its credentials. */
    char tenant[64];
    if (req->route->tier == GW_TIER_PUBLIC && gw_header(wsi, "x-tenant:", tenant, sizeof tenant))
        snprintf(req->tenant_hint, sizeof req->tenant_hint, "%s", tenant);
    return true;
}

/* The CORS headers of an answer to an allowed origin. */
static void cors_headers(gw_request_t *req, const char *origin)
{
    gw_response_header(req, "Access-Control-Allow-Origin", origin);
    gw_response_header(req, "Vary", "Origin");
    gw_response_header(req, "Access-Control-Expose-Headers",
                       "X-Request-Id, Location, ETag, Retry-After, RateLimit-Limit, "
                       "RateLimit-Remaining, RateLimit-Reset");
}

/* OPTIONS on a known path: a CORS preflight, or a plain OPTIONS (Allow). */
static void answer_options(gw_request_t *req, struct lws *wsi, const char *origin,
                           const char *allow)
{
    char want[32];
    bool preflight = lws_hdr_total_length(wsi, WSI_TOKEN_ORIGIN) > 0 &&
                     gw_header(wsi, "access-control-request-method:", want, sizeof want);
    if (!preflight) {
        gw_response_header(req, "Allow", allow);
        gw_respond(req, 204, NULL, NULL, 0);
        return;
    }
    if (origin == NULL) {
        gw_respond_problem(req, 403, "cors_origin_refused",
                           "this origin may not call the API from a browser");
        return;
    }
    gw_response_header(req, "Access-Control-Allow-Methods", allow);
    gw_response_header(req, "Access-Control-Allow-Headers",
                       "Authorization, Content-Type, If-Match, Idempotency-Key, X-Request-Id, "
                       "X-Tenant, traceparent");
    gw_response_header(req, "Access-Control-Max-Age", "600");
    gw_response_header(req, "Allow", allow);
    gw_respond(req, 204, NULL, NULL, 0);
}

int gw_http_begin(gw_server_t *srv, struct lws *wsi, struct gw_session *pss, const char *uri,
                  size_t uri_len)
{
    gw_request_t *req = calloc(1, sizeof *req);
    if (req == NULL)
        return -1;
    req->srv = srv;
    req->wsi = wsi;
    req->pss = pss;
    req->started_ns = gw_now_ns();
    req->next = srv->live;
    if (srv->live)
        srv->live->prev = req;
    srv->live = req;
    srv->inflight++;
    gw_observe_inflight(srv->observe, 1);
    pss->req = req;
    const gw_settings_t *settings = srv->settings;

    char *uri_ptr = NULL;
    int ulen = 0;
    int m = lws_http_get_uri_and_method(wsi, &uri_ptr, &ulen);
    const char *method =
        m >= 0 && (size_t)m < sizeof method_names / sizeof method_names[0] && method_names[m]
            ? method_names[m]
            : "OTHER";
    snprintf(req->method, sizeof req->method, "%s", method);
    req->head = strcmp(method, "HEAD") == 0;
    take_request_id(wsi, req->request_id);
    char incoming[GW_TRACEPARENT_SIZE + 8];
    if (!gw_header(wsi, "traceparent:", incoming, sizeof incoming))
        incoming[0] = '\0';
    gw_traceparent_next(incoming, req->traceparent);
    gw_edge_client(settings, wsi, &req->client);
    if (lws_hdr_copy(wsi, req->user_agent, sizeof req->user_agent, WSI_TOKEN_HTTP_USER_AGENT) < 0)
        req->user_agent[0] = '\0';
    if (atomic_load(&srv->draining))
        req->close_after = true;
    /* Headers every answer carries, refusals included. */
    char origin_buf[256];
    const char *origin = gw_edge_cors_origin(settings, wsi, origin_buf, sizeof origin_buf);
    if (origin != NULL)
        cors_headers(req, origin);
    if (settings->hsts || req->client.https)
        gw_response_header(req, "Strict-Transport-Security", "max-age=31536000; includeSubDomains");

    size_t copy = uri_len > GW_PATH_MAX ? GW_PATH_MAX : uri_len;
    memcpy(req->path, uri, copy);
    req->path[copy] = '\0';
    /* No route reads a body it was not asked for: a refused request's body is never read,
     * so the connection cannot be reused after the answer. */
    bool body = has_body(wsi);
    if (body)
        req->close_after = true;

    /* lws holds up to GW_HEAD_HARD_MAX bytes of head (more and it drops the connection
     * before we see anything); above GW_HEAD_MAX of the headers it knows, the client gets
     * a 431 instead. Headers lws does not know count toward the hard cap only. */
    size_t head = 0;
    for (int t = 0; t < WSI_TOKEN_COUNT; t++) {
        int n = lws_hdr_total_length(wsi, (enum lws_token_indexes)t);
        if (n > 0)
            head += (size_t)n;
    }
    if (head > GW_HEAD_MAX) {
        req->close_after = true;
        gw_respond_problem(req, 431, NULL, "the request's headers are larger than %d bytes",
                           GW_HEAD_MAX);
        goto out;
    }

    const char *upgrade = gw_guard_plain(wsi); /* upgrade headers lws did not act on */
    if (upgrade != NULL) {
        gw_limits_reject(srv->limits, GW_REJECT_UPGRADE);
        req->close_after = true;
        gw_respond_problem(req, 400, "invalid_upgrade", "%s", upgrade);
        goto out;
    }
    if (!gw_edge_origin_secret_ok(settings, wsi)) {
        gw_limits_reject(srv->limits, GW_REJECT_ORIGIN);
        req->close_after = true;
        gw_respond_problem(req, 403, "origin_refused",
                           "requests must come through the configured front door");
        goto out;
    }
    if (!gw_limits_in_flight(srv->limits, req, srv->inflight))
        goto out;
    if (uri_len > GW_PATH_MAX) {
        req->close_after = true;
        gw_respond_problem(req, 414, NULL, "the path is longer than %d bytes", GW_PATH_MAX);
        goto out;
    }
    int query_len = lws_hdr_total_length(wsi, WSI_TOKEN_HTTP_URI_ARGS);
    if (query_len > GW_QUERY_BYTES_MAX) {
        req->close_after = true;
        gw_respond_problem(req, 414, NULL, "the query is longer than %d bytes", GW_QUERY_BYTES_MAX);
        goto out;
    }
    if (!take_query(wsi, req))
        return -1;

    /* lws gave the request head timeout_secs; from here the route's own deadline rules, so
     * allow that plus room to write. A client that never reads its answer is still cut. */
    lws_set_timeout(wsi, PENDING_TIMEOUT_USER_OK, srv->answer_budget_s);

    const gw_route_t *route = NULL;
    char allow[160];
    gw_match_t match =
        gw_route_match(req->method, req->path, &route, &req->params, allow, sizeof allow);
    switch (match) {
    case GW_MATCH_BAD_PARAM:
        req->route = route;
        gw_respond_problem(req, 400, "invalid_argument", "%s", allow);
        break;
    case GW_MATCH_NOT_FOUND:
        gw_respond_problem(req, 404, NULL, "no route for %s %s", req->method, req->path);
        break;
    case GW_MATCH_NO_METHOD:
        gw_response_header(req, "Allow", allow);
        gw_respond_problem(req, 405, NULL, "%s is not allowed on %s (allowed: %s)", req->method,
                           req->path, allow);
        break;
    case GW_MATCH_OPTIONS:
        answer_options(req, wsi, origin, allow);
        break;
    case GW_MATCH_FOUND: {
        req->route = route;
        req->route_counted = true;
        gw_observe_route_inflight(srv->observe, route, 1);
        if (body && route->handler != NULL) {
            gw_respond_problem(req, 413, NULL, "%s %s takes no request body", route->method,
                               route->path);
            break;
        }
        if (!take_credentials(wsi, req))
            return -1;
        gw_access_result_t access = gw_access_check(srv->access, req, wsi);
        if (access == GW_ACCESS_ANSWERED)
            break;
        if (body)
            begin_body(req, wsi);
        if (req->phase != PHASE_HANDLING)
            break;
        if (access == GW_ACCESS_PENDING) {
            req->access_pending = true;
            break;
        }
        proceed(req);
        break;
    }
    }
out:
    pause_until_answered(req);
    return 0;
}

/* ---- writing ---- */

static int add_header(struct lws *wsi, const char *name, const char *value, unsigned char **p,
                      unsigned char *end)
{
    return lws_add_http_header_by_name(wsi, (const unsigned char *)name,
                                       (const unsigned char *)value, (int)strlen(value), p, end);
}

/*
 * Writes the headers — and, when the body is small, the body with them in the same
 * write: one send and one writable callback per answer instead of two, which under load
 * is a poll round and a syscall saved per request. *with_body says which happened.
 */
static int write_headers(struct lws *wsi, gw_request_t *req, bool *with_body)
{
    unsigned char buf[LWS_PRE + HEADERS_SIZE + INLINE_BODY_MAX];
    unsigned char *start = buf + LWS_PRE, *p = start, *end = start + HEADERS_SIZE - 1;
    if (lws_add_http_header_status(wsi, (unsigned)req->status | LWSAHH_FLAG_NO_SERVER_NAME, &p,
                                   end))
        return -1;
    if (req->content_type[0] && add_header(wsi, "content-type:", req->content_type, &p, end))
        return -1;
    /* 204 carries no Content-Length (RFC 9110 section 8.6). */
    if (req->status != 204 &&
        lws_add_http_header_content_length(wsi, (lws_filepos_t)req->body_len, &p, end))
        return -1;
    /* The security headers and Cache-Control come from the vhost (server.c). */
    if (add_header(wsi, "x-request-id:", req->request_id, &p, end))
        return -1;
    for (size_t i = 0; i < req->nextra; i++) {
        char name[40];
        snprintf(name, sizeof name, "%s:", req->extra[i].name);
        for (char *c = name; *c; c++) /* HTTP/2 insists on lower case; HTTP/1 does not mind */
            if (*c >= 'A' && *c <= 'Z')
                *c = (char)(*c - 'A' + 'a');
        if (add_header(wsi, name, req->extra[i].value, &p, end))
            return -1;
    }
    if (req->close_after && add_header(wsi, "connection:", "close", &p, end))
        return -1;
    if (lws_finalize_http_header(wsi, &p, end))
        return -1;
    *with_body = !req->head && req->body_len > 0 && req->body_len <= INLINE_BODY_MAX;
    if (*with_body) {
        /* HTTP/1 headers are raw bytes to lws: the body may follow them in one write. */
        memcpy(p, req->buf + LWS_PRE, req->body_len);
        p += req->body_len;
    }
    int len = lws_ptr_diff(p, start);
    return lws_write(wsi, start, (size_t)len, LWS_WRITE_HTTP_HEADERS) == len ? 0 : -1;
}

/* The answer is out: end the request and either keep the connection for the next one or close. */
static int finish(struct lws *wsi, gw_request_t *req)
{
    bool close_after = req->close_after;
    request_end(req, req->status);
    if (close_after)
        return -1;
    return lws_http_transaction_completed(wsi) ? -1 : 0;
}

int gw_http_writeable(struct lws *wsi, struct gw_session *pss)
{
    gw_request_t *req = pss->req;
    if (req == NULL || req->phase == PHASE_HANDLING)
        return 0;
    if (req->phase == PHASE_HEADERS) {
        bool with_body = false;
        if (write_headers(wsi, req, &with_body) != 0) {
            request_end(req, req->status);
            return -1;
        }
        if (req->head || req->body_len == 0 || with_body)
            return finish(wsi, req);
        req->phase = PHASE_BODY;
        lws_callback_on_writable(wsi);
        return 0;
    }
    size_t left = req->body_len - req->body_sent;
    size_t n = left > BODY_CHUNK ? BODY_CHUNK : left;
    bool last = n == left;
    /* lws may use the LWS_PRE bytes before the chunk; they were sent already (or are the
     * reserved head of the buffer), so overwriting them is harmless. */
    unsigned char *chunk = req->buf + LWS_PRE + req->body_sent;
    if (lws_write(wsi, chunk, n, last ? LWS_WRITE_HTTP_FINAL : LWS_WRITE_HTTP) != (int)n) {
        request_end(req, req->status);
        return -1;
    }
    req->body_sent += n;
    if (last)
        return finish(wsi, req);
    lws_callback_on_writable(wsi);
    return 0;
}

void gw_http_closed(struct gw_session *pss)
{
    gw_request_t *req = pss->req;
    if (req == NULL)
        return;
    req->wsi = NULL;
    /* 499: the client went away before the answer was written (the nginx convention). */
    if (req->phase == PHASE_HANDLING) {
        snprintf(req->code, sizeof req->code, "client_closed");
        snprintf(req->detail, sizeof req->detail, "the client closed the connection first");
    }
    request_end(req, 499);
}

void gw_http_check_clients(gw_server_t *srv)
{
    for (gw_request_t *req = srv->live; req; req = req->next) {
        if (req->phase != PHASE_HANDLING || req->wsi == NULL || req->client_gone)
            continue;
        char c;
        ssize_t n = recv(lws_get_socket_fd(req->wsi), &c, 1, MSG_PEEK | MSG_DONTWAIT);
        if (n > 0 || (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR)))
            continue; /* still there (bytes waiting are a pipelined request) */
        /* EOF or an error: close it; the close ends the request and cancels its work. */
        req->client_gone = true;
        lws_set_timeout(req->wsi, PENDING_TIMEOUT_USER_OK, LWS_TO_KILL_ASYNC);
    }
}

void gw_http_abort_all(gw_server_t *srv)
{
    for (gw_request_t *req = srv->live; req; req = req->next) {
        if (req->phase != PHASE_HANDLING)
            continue;
        release_work(req);
        req->close_after = true;
        gw_respond_problem(req, 503, "unavailable",
                           "the gateway is shutting down and could not finish in time");
    }
}
