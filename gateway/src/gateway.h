/*
 * Inside mentis-gateway: the pieces of the edge process and how they meet. Nothing here is
 * a library contract; every file of gateway/src includes this header.
 *
 * Threads (see server.c for the whole flow):
 *   main      reads settings, starts everything, waits for SIGTERM/SIGINT, drains, stops.
 *   lws       the one service thread of libwebsockets: every HTTP callback, every route
 *             handler, every bus completion (through the dispatch queue) and every timer.
 *             It never blocks.
 *   bus       nats.c threads: deliver discovery replies (discovery.c, under its own lock),
 *             answer $SRV.* (libs/srvapi) and hand request completions to the dispatch queue.
 *   admin     the admin listener (libs/admin): /healthz, /readyz, /metrics.
 * Unless a comment says otherwise, a function below runs on the lws thread only.
 */
#ifndef MENTIS_GATEWAY_H
#define MENTIS_GATEWAY_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <cjson/cJSON.h>
#include <libwebsockets.h>
#include <protobuf-c/protobuf-c.h>

#include "mentis/bus.h"
#include "mentis/config.h"
#include "mentis/metrics.h"
#include "mentis/process.h"
#include "mentis/srvapi.h"
#include "mentis/status.h"

/* The six services the health page reports, in the order it lists them. */
#define GW_SERVICE_COUNT 6
extern const char *const gw_services[GW_SERVICE_COUNT];

/* Longest request path accepted (longer ones get 414), and longest X-Request-Id kept. */
#define GW_PATH_MAX       2048
#define GW_REQUEST_ID_MAX 128
/* Longest query (its parameters as lws decoded them; longer gets 414), and parameters
 * kept per request (later ones are ignored). */
#define GW_QUERY_BYTES_MAX 4096
#define GW_QUERY_MAX       64
/* A W3C traceparent ("00-<32 hex>-<16 hex>-<2 hex>") and its NUL. */
#define GW_TRACEPARENT_SIZE 56

typedef struct gw_server gw_server_t;
typedef struct gw_request gw_request_t;
typedef struct gw_discovery gw_discovery_t;
typedef struct gw_observe gw_observe_t;

/* ---- settings.c: every MENTIS_* variable the gateway reads ---------------------------- */

typedef struct {
    mentis_process_settings_t proc; /* NATS, admin listener, logging, instance id, grace */
    const char *addr; /* public listener: an IPv4 or IPv6 address */
    int port;
    int health_timeout_ms;
    int discovery_interval_ms;
} gw_settings_t;

/*
 * Reads every setting through cfg (problems are recorded in cfg; check it afterwards with
 * mentis_config_check). The strings are owned by cfg.
 */
void gw_settings_read(mentis_config_t *cfg, gw_settings_t *s);

/* ---- routes.c (the production table) and match.c (the matcher) -------------------------- */

/*
 * Handles one matched request. It must answer exactly once, now or later, with one of the
 * gw_respond* functions; work that outlives the call is attached with gw_request_set_work.
 */
typedef void (*gw_handler_fn)(gw_request_t *req);

/* Who may call a route (ARCHITECTURE.md, Security). */
typedef enum {
    GW_TIER_PUBLIC, /* anyone */
    GW_TIER_CLIENT, /* an access token or a beta token */
    GW_TIER_ADMIN,  /* the admin role */
} gw_tier_t;

/* Which rate limit a route counts against (API.md, Auth). */
typedef enum {
    GW_RATE_DEFAULT,
    GW_RATE_LOGIN,
    GW_RATE_REGISTER,
    GW_RATE_FORGOT_PASSWORD,
    GW_RATE_RESET_PASSWORD,
    GW_RATE_REFRESH,
} gw_rate_t;

/*
 * One route. Exactly one of `handler` (answered inside the gateway) and `subject`
 * (forwarded to a service) is set.
 *
 * `path` is a template: segments separated by '/', each either literal text or a
 * parameter `{name}` standing for one whole non-empty segment ("/api/kb/packs/{id}").
 * A parameter's name is a field of the request message; its value is set with
 * mentis_codec_set_text.
 */
typedef struct {
    const char *method; /* "GET"; a GET route also answers HEAD */
    const char *path;   /* template, no query */
    const char *name;   /* short name: $SRV endpoint name, metrics label */
    gw_handler_fn handler;
    const char *subject;                        /* "mentis.v1.<svc>.<op>" */
    const ProtobufCMessageDescriptor *request;  /* what the service takes */
    const ProtobufCMessageDescriptor *response; /* what it answers */
    gw_tier_t tier;
    int timeout_ms;    /* the service's deadline; 0 = GW_DEFAULT_TIMEOUT_MS */
    size_t body_limit; /* largest body accepted; 0 = the route takes no body */
    bool retry_safe;   /* sent once more when nobody answered ("no responders") */
    gw_rate_t rate;
    /* When set, success is 201 with Location: this template, its {field}s filled from
     * the response's top-level fields ("/api/kb/packs/{id}"). */
    const char *location;
} gw_route_t;

#define GW_DEFAULT_TIMEOUT_MS 5000

/* The platform routes every table starts with: health, healthz, readyz, openapi.json. */
#define GW_BUILTIN_ROUTES                                                                          \
    {.method = "GET", .path = "/api/health", .name = "health", .handler = gw_health_handle},       \
        {.method = "GET", .path = "/healthz", .name = "healthz", .handler = gw_healthz_handle},    \
        {.method = "GET", .path = "/readyz", .name = "readyz", .handler = gw_readyz_handle},       \
    {                                                                                              \
        .method = "GET", .path = "/api/openapi.json", .name = "openapi",                           \
        .handler = gw_openapi_handle                                                               \
    }

/*
 * The table of the binary: routes.c for mentis-gateway, gateway/test/routes_test.c for
 * mentis-gateway-testroutes (the same routes plus routes to test subjects).
 */
extern const gw_route_t gw_routes[];
extern const size_t gw_route_count;

/* Path parameters of a matched route, in template order, values as received. */
#define GW_PARAMS_MAX 8
typedef struct {
    size_t count;
    struct {
        const char *name; /* points into the template, name_len bytes */
        size_t name_len;
        const char *value; /* points into the matched path, value_len bytes */
        size_t value_len;
    } items[GW_PARAMS_MAX];
} gw_params_t;

typedef enum {
    GW_MATCH_FOUND,     /* *route is the route to run, params filled */
    GW_MATCH_OPTIONS,   /* OPTIONS on a known path: answer 204 with Allow */
    GW_MATCH_NO_METHOD, /* known path, other method: 405 with Allow */
    GW_MATCH_NOT_FOUND, /* no route has this path: 404 */
    GW_MATCH_BAD_PARAM, /* the route matched but a parameter is unacceptable: 400 */
} gw_match_t;

/*
 * Matches method and path against routes[0..n). Literal segments must be equal; a
 * parameter takes one non-empty segment. A trailing slash is an empty last segment, so
 * "/healthz/" matches nothing (no redirect, no second spelling). When several templates
 * match, the one whose first differing segment is literal wins ("/packs/bundle" before
 * "/packs/{id}").
 *
 * For GW_MATCH_FOUND writes *route and *params (pointing into path and the table). For
 * GW_MATCH_OPTIONS and GW_MATCH_NO_METHOD writes the Allow header's value ("GET, HEAD,
 * OPTIONS") into allow. For GW_MATCH_BAD_PARAM writes *route and a reason into allow.
 * A parameter value must be valid UTF-8 without control characters. lws has already
 * percent-decoded the path (see docs/internals/gateway.md), so values are not decoded
 * again: "%2541" arrives as "%41" and stays so.
 * Pure; any thread.
 */
gw_match_t gw_route_match_in(const gw_route_t *routes, size_t n, const char *method,
                             const char *path, const gw_route_t **route, gw_params_t *params,
                             char *allow, size_t allow_size);

/* gw_route_match_in over gw_routes. */
gw_match_t gw_route_match(const char *method, const char *path, const gw_route_t **route,
                          gw_params_t *params, char *allow, size_t allow_size);

/* Whether s[0..len) is valid UTF-8 (no overlongs, no surrogates) without control bytes. */
bool gw_text_valid(const char *s, size_t len);

/* The handlers of the table. */
void gw_health_handle(gw_request_t *req);  /* health.c */
void gw_healthz_handle(gw_request_t *req); /* probes.c */
void gw_readyz_handle(gw_request_t *req);  /* probes.c */
void gw_openapi_handle(gw_request_t *req); /* openapi.c */

/*
 * The OpenAPI 3.1 document of routes[0..n) (openapi.c): paths with their parameters,
 * request bodies and answers, every message type under components.schemas, the problem
 * document as the default answer. Caller deletes; NULL when out of memory.
 */
cJSON *gw_openapi_document(const gw_route_t *routes, size_t n);

/* ---- problem.c: RFC 9457 problem documents -------------------------------------------- */

/* The reason phrase of an HTTP status ("Not Found"); "Unknown" for others. Never NULL. */
const char *gw_http_reason(int status);

/*
 * The problem JSON {"type":"about:blank","title","status","detail","code","request_id"},
 * plus "errors" when errors (a cJSON array of {"field","message"}, taken and freed) is not
 * NULL. Returns a malloc'd NUL-terminated string the caller frees (NULL when out of
 * memory); *len (may be NULL) gets its length.
 */
char *gw_problem_json(int status, const char *code, const char *detail, const char *request_id,
                      cJSON *errors, size_t *len);

/* Whether s is an acceptable incoming X-Request-Id: 1..128 characters of [A-Za-z0-9._-]. */
bool gw_request_id_valid(const char *s, size_t len);

/* ---- http.c: one request and its response --------------------------------------------- */

/* What lws keeps per connection (its per-session data). */
struct gw_session {
    gw_request_t *req; /* the request being handled, NULL between requests */
};

/*
 * Starts a request on wsi (LWS_CALLBACK_HTTP): records method, path and request id, routes
 * it and runs its handler. Returns 0, or -1 to close the connection (out of memory).
 */
int gw_http_begin(gw_server_t *srv, struct lws *wsi, struct gw_session *pss, const char *uri,
                  size_t uri_len);

/*
 * A part of a request body (LWS_CALLBACK_HTTP_BODY), and its end
 * (LWS_CALLBACK_HTTP_BODY_COMPLETION), which runs the forwarder. Bodies over the route's
 * limit are answered 413 as soon as they pass it. Return 0 or -1 to close.
 */
int gw_http_body(struct gw_session *pss, const void *in, size_t len);
int gw_http_body_done(struct gw_session *pss);

/* Writes the next part of the response (LWS_CALLBACK_HTTP_WRITEABLE). Returns 0 or -1 to close. */
int gw_http_writeable(struct lws *wsi, struct gw_session *pss);

/*
 * The connection is closing or the session is being dropped: the request (if any) is
 * ended — its work released, pending bus requests cancelled — and never written to again.
 */
void gw_http_closed(struct gw_session *pss);

/*
 * Looks for clients that closed their connection while their request waits for its
 * handler, and closes those connections (which ends the requests and cancels their work).
 * Called every GW_CLIENT_CHECK_MS.
 */
void gw_http_check_clients(gw_server_t *srv);
#define GW_CLIENT_CHECK_MS 200

/* Answers every request still waiting for its handler with 503 (end of the grace period). */
void gw_http_abort_all(gw_server_t *srv);

/* The server a request belongs to. */
gw_server_t *gw_request_server(const gw_request_t *req);

/* The request id (valid incoming X-Request-Id, else a new UUIDv7). Valid while req lives. */
const char *gw_request_id(const gw_request_t *req);

/* The matched route, and its path parameters. Valid while req lives. */
const gw_route_t *gw_request_route(const gw_request_t *req);
const gw_params_t *gw_request_params(const gw_request_t *req);

/* The traceparent to send on (see trace.c). Valid while req lives. */
const char *gw_request_traceparent(const gw_request_t *req);

/* The request body read for a forwarded route (NULL with *len 0 when none). */
const char *gw_request_body(const gw_request_t *req, size_t *len);

/* The query's parameters: the i-th "name=value" as lws percent-decoded it, NUL-terminated. */
size_t gw_request_query_count(const gw_request_t *req);
const char *gw_request_query(const gw_request_t *req, size_t i);

/*
 * Attaches the handler's asynchronous state. `release` runs exactly once when the request
 * ends for any reason — answered and written, client gone, or aborted at shutdown — and
 * must cancel whatever may still call back into the request, then free `work`. It never
 * runs inside the handler's own callbacks.
 */
void gw_request_set_work(gw_request_t *req, void *work, void (*release)(void *work));

/*
 * Answers: status, Content-Type and body (copied; may be NULL with len 0). The writer adds
 * Content-Length and X-Request-Id; the security headers and Cache-Control come from the
 * vhost (server.c). Only the first answer counts.
 */
void gw_respond(gw_request_t *req, int status, const char *content_type, const void *body,
                size_t len);

/* Answers with a JSON document (which it deletes). */
void gw_respond_json(gw_request_t *req, int status, cJSON *doc);

/* Answers with a problem document; `code` NULL means the machine code of the HTTP status. */
void gw_respond_problem(gw_request_t *req, int status, const char *code, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

/* As gw_respond_problem, with `errors` (a cJSON array, taken; may be NULL) as errors[]. */
void gw_respond_problem_errors(gw_request_t *req, int status, const char *code, cJSON *errors,
                               const char *fmt, ...) __attribute__((format(printf, 5, 6)));

/*
 * Says, for the access log only, why a non-problem answer is an error (the health page's
 * 503: which services are not up). Call before answering.
 */
void gw_request_note(gw_request_t *req, const char *code, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* Adds a response header (before answering). Name and value are copied; at most 6. */
void gw_response_header(gw_request_t *req, const char *name, const char *value);

/* ---- trace.c: W3C trace context -------------------------------------------------------- */

/*
 * The traceparent the gateway sends on: the trace id and flags of `incoming` when it is a
 * valid version-00 traceparent, else a new random trace id (flags 01); always a new
 * random parent id (the gateway's own span). incoming may be NULL or "". Any thread.
 */
void gw_traceparent_next(const char *incoming, char out[GW_TRACEPARENT_SIZE]);

/* ---- forward.c: the generic forwarder of every subject route --------------------------- */

/*
 * Builds the route's request message from the body (JSON, or {} when empty), the path
 * parameters and the query; sends it on the route's subject; answers with the reply as
 * JSON, or a problem. Never blocks.
 */
void gw_forward_handle(gw_request_t *req);

/* ---- discovery.c: instances seen on $SRV.PING ------------------------------------------ */

/*
 * Subscribes the reply inbox for $SRV.PING on bus. Counts are kept per service name over
 * windows of one discovery interval. *out is written only on success.
 */
mentis_status_t gw_discovery_create(mentis_bus_t *bus, mentis_metrics_t *metrics,
                                    gw_discovery_t **out);

/*
 * Ends the current window (it becomes the newest complete one) and publishes the next
 * $SRV.PING. Called every discovery interval.
 */
void gw_discovery_tick(gw_discovery_t *d);

/*
 * Instances of `service` in the newest complete window, or -1 before the first window
 * completed. When found, copies the version one of them reported into version (else "").
 * Any thread.
 */
int gw_discovery_instances(gw_discovery_t *d, const char *service, char *version,
                           size_t version_size);

/* Unsubscribes; call before closing the bus. NULL is a no-op. */
void gw_discovery_stop(gw_discovery_t *d);

/* Frees; after gw_discovery_stop (no reply is delivered once it returns). NULL is a no-op. */
void gw_discovery_destroy(gw_discovery_t *d);

/* ---- observe.c: metrics and the access log --------------------------------------------- */

/* Creates every per-route series up front. *out is written only on success. */
mentis_status_t gw_observe_create(mentis_metrics_t *metrics, gw_observe_t **out);

void gw_observe_destroy(gw_observe_t *o);

/* The $SRV endpoints, one per route, fed by the route metrics. Valid until destroy. */
const mentis_srv_endpoint_t *gw_observe_endpoints(gw_observe_t *o, size_t *n);

/* One request more or fewer in flight. */
void gw_observe_inflight(gw_observe_t *o, int delta);

/*
 * Counts one finished request and writes its access-log line (errors always, successes
 * sampled). `route` is NULL when none matched; `code`/`detail` describe a problem answer
 * (NULL otherwise).
 */
void gw_observe_request(gw_observe_t *o, const gw_route_t *route, const char *method,
                        const char *path, int status, double seconds, const char *request_id,
                        const char *code, const char *detail);

/* ---- server.c: the lws context, its thread and the drain -------------------------------- */

struct gw_server {
    const gw_settings_t *settings;
    mentis_bus_t *bus;
    mentis_bus_dispatch_t *dispatch;
    gw_discovery_t *discovery;
    gw_observe_t *observe;
    struct lws_context *lws;
    int listen_fd;          /* -1 when closed */
    struct lws *listen_wsi; /* lws's handle on listen_fd; lws thread */

    pthread_mutex_t wake_mu;         /* protects wake_target; statically initialised */
    struct lws_context *wake_target; /* lws while it may be woken; NULL once destroyed */

    pthread_t thread;
    bool thread_started;
    atomic_bool started;  /* set by main once everything runs (bus set); read anywhere */
    atomic_bool draining; /* set by main on SIGTERM/SIGINT; read anywhere */
    int answer_budget_s;  /* longest a request may take to be answered and written */

    /* lws thread only. */
    gw_request_t *live; /* every request not yet ended */
    size_t inflight;
    bool drain_begun, stop_now;
    lws_sorted_usec_list_t discovery_sul, drain_sul, stop_sul, accept_sul, clients_sul;
};

/*
 * Opens the listening socket on settings->addr:port and creates the lws context around it.
 * bus, dispatch, discovery and observe must be set already. MENTIS_ERR_IO when the port
 * cannot be bound. Main thread, before gw_server_start.
 */
mentis_status_t gw_server_listen(gw_server_t *srv);

/* Starts the lws thread. */
mentis_status_t gw_server_start(gw_server_t *srv);

/*
 * Main thread: stops accepting connections, lets requests in flight finish within the
 * grace period (answering what is left with 503), then joins the lws thread.
 */
void gw_server_drain(gw_server_t *srv);

/* Main thread, after the drain: destroys the lws context. Safe when never listened. */
void gw_server_close(gw_server_t *srv);

/* The dispatch queue's wake function: makes the lws thread run the queue. Any thread. */
void gw_server_wake(void *arg);

/*
 * Whether the gateway is ready (started, NATS connected, not draining); else why. Any
 * thread — the admin listener asks from the start, before the bus exists.
 */
bool gw_server_ready(gw_server_t *srv, char *why, size_t why_size);

/* ---- listener.c: the public listening socket -------------------------------------------- */

/* Binds and listens on addr:port (non-blocking). *fd_out is written only on success. */
mentis_status_t gw_listener_open(const char *addr, int port, int *fd_out);

/* The lws protocol that watches the socket and hands accepted connections to lws. */
extern const struct lws_protocols gw_listener_protocol;

/* Puts srv->listen_fd under lws's watch on vhost vh. Before the lws thread starts. */
mentis_status_t gw_listener_attach(gw_server_t *srv, struct lws_vhost *vh);

/* Stops accepting: closes the listening socket. Connections already taken carry on. */
void gw_listener_close(gw_server_t *srv);

/* Monotonic clock in nanoseconds, for durations. */
int64_t gw_now_ns(void);

#endif
