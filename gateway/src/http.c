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
#include <sys/socket.h>

#include "gateway.h"
#include "mentis/crypto.h"

#define MAX_EXTRA_HEADERS 4
#define BODY_CHUNK        16384
#define HEADERS_SIZE      2048

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
        char value[128];
    } extra[MAX_EXTRA_HEADERS];
    size_t nextra;
    char code[48];    /* a problem's machine code, for the access log */
    char detail[160]; /* a problem's detail, for the access log */
};

gw_server_t *gw_request_server(const gw_request_t *req)
{
    return req->srv;
}

const char *gw_request_id(const gw_request_t *req)
{
    return req->request_id;
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
    release_work(req);
    double secs = (double)(gw_now_ns() - req->started_ns) / 1e9;
    gw_observe_request(srv->observe, req->route, req->method, req->path, status, secs,
                       req->request_id, req->code[0] ? req->code : NULL,
                       req->detail[0] ? req->detail : NULL);
    if (req->prev)
        req->prev->next = req->next;
    else
        srv->live = req->next;
    if (req->next)
        req->next->prev = req->prev;
    srv->inflight--;
    gw_observe_inflight(srv->observe, -1);
    if (req->pss)
        req->pss->req = NULL;
    free(req->buf);
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

void gw_respond_problem(gw_request_t *req, int status, const char *code, const char *fmt, ...)
{
    if (req->phase != PHASE_HANDLING)
        return;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(req->detail, sizeof req->detail, fmt, ap);
    va_end(ap);
    snprintf(req->code, sizeof req->code, "%s", code ? code : status_code(status));
    size_t len = 0;
    char *text = gw_problem_json(status, req->code, req->detail, req->request_id, &len);
    gw_respond(req, status, "application/problem+json", text, text ? len : 0);
    free(text);
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
    static const char name[] = "x-request-id:";
    int n = lws_hdr_custom_length(wsi, name, (int)sizeof name - 1);
    if (n > 0 && n <= GW_REQUEST_ID_MAX &&
        lws_hdr_custom_copy(wsi, out, GW_REQUEST_ID_MAX + 1, name, (int)sizeof name - 1) == n &&
        gw_request_id_valid(out, (size_t)n))
        return;
    mentis_crypto_uuid_v7(out);
}

/* Whether the request announces a body (none of the current routes takes one). */
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
    if (atomic_load(&srv->draining))
        req->close_after = true;

    if (uri_len > GW_PATH_MAX) {
        memcpy(req->path, uri, GW_PATH_MAX);
        req->close_after = true;
        gw_respond_problem(req, 414, NULL, "the path is longer than %d bytes", GW_PATH_MAX);
        return 0;
    }
    memcpy(req->path, uri, uri_len);
    req->path[uri_len] = '\0';

    /* lws gave the request head timeout_secs; from here the route's own deadline rules, so
     * allow that plus room to write. A client that never reads its answer is still cut. */
    lws_set_timeout(wsi, PENDING_TIMEOUT_USER_OK, srv->answer_budget_s);

    const gw_route_t *route = NULL;
    char allow[96];
    gw_match_t match = gw_route_match(req->method, req->path, &route, allow, sizeof allow);
    /* No route reads a body yet: one that is announced is refused, and since it is never
     * read, the connection cannot be reused after the answer. */
    bool body = has_body(wsi);
    if (body)
        req->close_after = true;
    switch (match) {
    case GW_MATCH_NOT_FOUND:
        gw_respond_problem(req, 404, NULL, "no route for %s %s", req->method, req->path);
        break;
    case GW_MATCH_NO_METHOD:
        gw_response_header(req, "Allow", allow);
        gw_respond_problem(req, 405, NULL, "%s is not allowed on %s (allowed: %s)", req->method,
                           req->path, allow);
        break;
    case GW_MATCH_OPTIONS:
        gw_response_header(req, "Allow", allow);
        gw_respond(req, 204, NULL, NULL, 0);
        break;
    case GW_MATCH_FOUND:
        req->route = route;
        if (body) {
            gw_respond_problem(req, 413, NULL, "%s %s takes no request body", route->method,
                               route->path);
            break;
        }
        route->handler(req);
        break;
    }
    /* lws 4.1 does not read while a transaction is in progress, yet keeps the socket in its
     * poll set: a client that closes (or pipelines) while an answer is awaited makes the
     * loop spin until the answer. So reading stops until the answer is out, and
     * gw_http_check_clients notices a client that leaves. */
    if (req->phase == PHASE_HANDLING) {
        req->rx_paused = true;
        lws_rx_flow_control(wsi, 0);
    }
    return 0;
}

/* ---- writing ---- */

static int add_header(struct lws *wsi, const char *name, const char *value, unsigned char **p,
                      unsigned char *end)
{
    return lws_add_http_header_by_name(wsi, (const unsigned char *)name,
                                       (const unsigned char *)value, (int)strlen(value), p, end);
}

static int write_headers(struct lws *wsi, gw_request_t *req)
{
    unsigned char buf[LWS_PRE + HEADERS_SIZE];
    unsigned char *start = buf + LWS_PRE, *p = start, *end = buf + sizeof buf - 1;
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
    return lws_finalize_write_http_header(wsi, start, &p, end) ? -1 : 0;
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
        if (write_headers(wsi, req) != 0) {
            request_end(req, req->status);
            return -1;
        }
        if (req->head || req->body_len == 0)
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
