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
#include "mentis/ratelimit.h"
#include "mentis/srvapi.h"
#include "mentis/status.h"

/* The six services the health page reports, in the order it lists them. */
#define GW_SERVICE_COUNT 6
extern const char *const gw_services[GW_SERVICE_COUNT];

/* Request heads: over GW_HEAD_MAX bytes of headers is answered 431; lws keeps at most
 * GW_HEAD_HARD_MAX bytes of a head and drops a connection whose head is larger. */
#define GW_HEAD_MAX      8192
#define GW_HEAD_HARD_MAX 16384
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
typedef struct gw_access gw_access_t;
typedef struct gw_limits gw_limits_t;

/* An IPv4 or IPv6 network ("10.0.0.0/8", "2001:db8::/32", or one address). IPv4 is kept
 * as its IPv4-mapped IPv6 form, so one comparison serves both. */
typedef struct {
    uint8_t addr[16];
    int prefix; /* 0..128 */
} gw_cidr_t;

#define GW_TRUSTED_MAX 32
#define GW_LIST_MAX    32 /* CORS origins, Cloudflare Access admins */

/* ---- settings.c: every MENTIS_* variable the gateway reads ---------------------------- */

typedef struct {
    mentis_process_settings_t proc; /* NATS, admin listener, logging, instance id, grace */
    const char *addr; /* public listener: an IPv4 or IPv6 address */
    int port;
    int health_timeout_ms;
    int discovery_interval_ms;

    /* access.c: tokens */
    const char *issuer, *audience; /* what access tokens must name (as mentis-auth signs) */
    const char *default_tenant;    /* tenant of a Cloudflare Access admin */
    int token_cache;               /* verified access tokens remembered */
    int keys_refresh_s;            /* how often the signing keys are asked for anyway */
    int beta_cache_s;              /* how long a beta token's check is trusted */
    int usage_interval_ms;         /* how often beta-token usage is published */
    /* edge.c: proxies, origin, CORS */
    const char *origin_secret; /* "" = not required */
    const char *origin_header; /* its header's name, lower case */
    gw_cidr_t trusted[GW_TRUSTED_MAX];
    size_t ntrusted;
    const char *cf_admins[GW_LIST_MAX]; /* allowlisted Cloudflare Access emails; none = off */
    size_t ncf_admins;
    const char *cors_origins[GW_LIST_MAX];
    size_t ncors_origins;
    bool hsts;
    /* limits.c */
    mentis_ratelimit_rule_t rates[MENTIS_RATELIMIT_CATEGORY_COUNT_];
    int rate_keys;        /* clients the rate limiter remembers */
    int max_in_flight;    /* requests being handled at once */
    int max_conns_per_ip; /* open connections from one client address */
    int header_timeout_s; /* to send a whole request head (and each body part) */
    int idle_timeout_s;   /* an idle keep-alive connection */

    char text[4096]; /* where the list settings' items live */
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
    /* The status of success when not 200 (or 201 with a location): 202, or 204 (the
     * response message is then not sent: it must be empty). */
    int status;
    /* When set, the whole body is this one singular message field of the request (often
     * a mentis.v1.JsonValue: a document the service reads itself), as google.api.http's
     * `body: "field"`; path and query parameters still fill the other fields. */
    const char *body_field;
    /* When set, the answer's body is only this singular message field of the response
     * (`response_body: "field"`); ETag still comes from the response's `version`. */
    const char *response_field;
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

/* ---- edge.c: client address, trusted proxies, origin secret, CORS ---------------------- */

#define GW_ADDR_SIZE 46 /* INET6_ADDRSTRLEN */

/* Who sent a request: the TCP peer, and the client (the peer, or the address a trusted
 * proxy reported). */
typedef struct {
    uint8_t peer[16], addr[16]; /* IPv4 as IPv4-mapped IPv6 */
    char ip[GW_ADDR_SIZE];      /* addr as text */
    bool via_proxy;             /* the peer is a trusted proxy */
    bool https;                 /* a trusted proxy says the client used TLS */
} gw_client_t;

struct sockaddr_storage;
bool gw_addr_parse(const char *s, uint8_t out[16]);
void gw_addr_str(const uint8_t addr[16], char out[GW_ADDR_SIZE]);
bool gw_addr_of_sockaddr(const struct sockaddr_storage *ss, uint8_t out[16]);
/* "10.0.0.0/8", "::1", "2001:db8::/32"; false when malformed. Pure; any thread. */
bool gw_cidr_parse(const char *s, gw_cidr_t *out);
bool gw_cidr_contains(const gw_cidr_t *net, const uint8_t addr[16]);
/* Whether addr is one of the configured trusted proxies. */
bool gw_edge_trusted(const gw_settings_t *s, const uint8_t addr[16]);

/* A header's value by its lower-case name with colon ("x-origin:"), NUL-terminated in buf;
 * false when absent or not shorter than size. */
bool gw_header(struct lws *wsi, const char *name_colon, char *buf, size_t size);

/*
 * The client of an X-Forwarded-For value that came from a trusted proxy: read from the
 * right, each trusted hop skipped, the first untrusted address (or the last readable one)
 * is written to addr; addr is left alone when the rightmost item is unreadable. xff is
 * modified. Pure; any thread.
 */
void gw_forwarded_for(const gw_settings_t *s, char *xff, uint8_t addr[16]);

/* Fills *c for the request on wsi (see edge.c for which headers are believed when). */
void gw_edge_client(const gw_settings_t *s, struct lws *wsi, gw_client_t *c);

/* Whether the request carries the configured origin secret (true when none is set). */
bool gw_edge_origin_secret_ok(const gw_settings_t *s, struct lws *wsi);

/* The request's Origin when it is on the CORS allowlist (copied into buf), else NULL. */
const char *gw_edge_cors_origin(const gw_settings_t *s, struct lws *wsi, char *buf, size_t size);

/* Whether the Cloudflare Access email names an allowlisted admin (mode on, peer a
 * trusted proxy); the trimmed email is left in email. */
bool gw_edge_cf_admin(const gw_settings_t *s, const gw_client_t *c, struct lws *wsi, char *email,
                      size_t size);

/* ---- access.c, keys.c, beta.c: who is calling ------------------------------------------ */

typedef enum {
    GW_PRINCIPAL_NONE,      /* public route, nobody checked */
    GW_PRINCIPAL_USER,      /* an access token */
    GW_PRINCIPAL_BETA,      /* a beta token */
    GW_PRINCIPAL_CF_ACCESS, /* an allowlisted Cloudflare Access admin */
} gw_principal_kind_t;

/* What the services are told in the Mentis-* headers (nothing else of the client's). */
typedef struct {
    gw_principal_kind_t kind;
    char principal[64]; /* user id or beta token id; "" for a Cloudflare Access admin */
    char tenant[64];
    char role[16]; /* user, admin, platform_admin, beta */
    char session[64];
    char device[64];
    char email[256];
    int32_t rate_per_minute; /* a beta token's own limit; 0 = the default */
} gw_identity_t;

typedef enum {
    GW_ACCESS_OK,       /* go on: identity set */
    GW_ACCESS_ANSWERED, /* refused: the request is answered */
    GW_ACCESS_PENDING,  /* asked mentis-auth: gw_http_access_done follows */
} gw_access_result_t;

/* Creates the verified-token cache and subscribes to the key and revocation events.
 * After the bus exists; main thread. */
mentis_status_t gw_access_create(gw_server_t *srv, mentis_metrics_t *m, gw_access_t **out);
/* lws thread, once the loop runs: fetches the signing keys, starts the timers. */
void gw_access_start(gw_access_t *a);
/* lws thread, before the loop ends: stops the timers. */
void gw_access_halt(gw_access_t *a);
/* Unsubscribes; main thread, before the bus closes. */
void gw_access_stop(gw_access_t *a);
/* Frees; after the bus is closed. NULL is a no-op. */
void gw_access_destroy(gw_access_t *a);
/* Applies the events that arrived (revocations, new keys); lws thread, on every wake. */
void gw_access_run_events(gw_access_t *a);
/* Checks the request's credentials against its route's tier. */
gw_access_result_t gw_access_check(gw_access_t *a, gw_request_t *req, struct lws *wsi);
/* The request ends while its check is pending: forget it. */
void gw_access_forget(gw_access_t *a, gw_request_t *req);

/* ---- limits.c: rate limits, in-flight cap, connections per address -------------------- */

typedef enum {
    GW_REJECT_RATE,
    GW_REJECT_QUOTA,
    GW_REJECT_IN_FLIGHT,
    GW_REJECT_CONNS_PER_IP,
    GW_REJECT_ORIGIN,
    GW_REJECT_UNAUTHENTICATED,
    GW_REJECT_FORBIDDEN,
    GW_REJECT_UPGRADE,
    GW_REJECT_COUNT_
} gw_reject_t;

mentis_status_t gw_limits_create(const gw_settings_t *s, mentis_metrics_t *m, gw_limits_t **out);
void gw_limits_destroy(gw_limits_t *l);
/* Counts a refusal in mentis_gateway_rejected_total. */
void gw_limits_reject(gw_limits_t *l, gw_reject_t reason);
/* Takes one token of the request's bucket; adds the RateLimit-* headers; false when
 * refused (answered 429). */
bool gw_limits_rate(gw_limits_t *l, gw_request_t *req);
/* false when more than max_in_flight requests are in flight (answered 503). */
bool gw_limits_in_flight(gw_limits_t *l, gw_request_t *req, size_t inflight);
/* A connection from addr opens (false: over the per-address cap, refuse it) or closes. */
bool gw_limits_conn_open(gw_limits_t *l, const uint8_t addr[16]);
void gw_limits_conn_close(gw_limits_t *l, const uint8_t addr[16]);
uint32_t gw_limits_conn_count(gw_limits_t *l, const uint8_t addr[16]);

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

/* Who sent the request, and who it is on behalf of (set by the access check). */
const gw_client_t *gw_request_client(const gw_request_t *req);
const gw_identity_t *gw_request_identity(const gw_request_t *req);
gw_identity_t *gw_request_identity_mut(gw_request_t *req);
/* The User-Agent (truncated to 255 bytes; "" when none). */
const char *gw_request_user_agent(const gw_request_t *req);
/* The If-Match header as received, trimmed by lws ("" when none). */
const char *gw_request_if_match(const gw_request_t *req);
/* X-Tenant of a public route as sent ("" when none): the tenant a sign-in, registration,
 * refresh or reset belongs to (the default tenant when absent). */
const char *gw_request_tenant_hint(const gw_request_t *req);
/* The bearer token of Authorization ("" when none or not Bearer). */
const char *gw_request_bearer(const gw_request_t *req);

/* The access check that answered GW_ACCESS_PENDING is over: ok = identity set (the
 * request goes on), else it was answered. */
void gw_http_access_done(gw_request_t *req, bool ok);

/* Records, for the access log only, a more precise reason than the client is told
 * ("token_bad_signature" behind a "token_invalid"). */
void gw_request_reason(gw_request_t *req, const char *reason);

/* Adds a response header (before answering). Name and value are copied; at most 20. */
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

/* One request more or fewer in flight, in all and on a route. */
void gw_observe_inflight(gw_observe_t *o, int delta);
void gw_observe_route_inflight(gw_observe_t *o, const gw_route_t *route, int delta);

/* One finished request, as the access log and the metrics see it. */
typedef struct {
    const gw_route_t *route; /* NULL when none matched */
    const char *method, *path;
    int status;
    double seconds;
    const char *request_id;
    const char *code, *detail; /* a problem answer's (NULL otherwise) */
    const char *reason;        /* a more precise reason, for the log only (may be NULL) */
    const char *client_ip;
    const char *principal; /* user or beta token id (NULL when none) */
} gw_observe_entry_t;

/* Counts one finished request and writes its access-log line (errors always, successes
 * sampled). */
void gw_observe_request(gw_observe_t *o, const gw_observe_entry_t *e);

/* ---- server.c: the lws context, its thread and the drain -------------------------------- */

struct gw_server {
    const gw_settings_t *settings;
    mentis_bus_t *bus;
    mentis_bus_dispatch_t *dispatch;
    gw_discovery_t *discovery;
    gw_observe_t *observe;
    gw_access_t *access;
    gw_limits_t *limits;
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

/* lws destroys a connection: its client address is counted out (LWS_CALLBACK_WSI_DESTROY). */
void gw_listener_conn_closed(gw_server_t *srv, struct lws *wsi);

/* What a connection the listener accepted remembers of its client: its lws opaque user
 * data (freed when lws destroys the connection), read for the per-address count and as
 * the request's peer address, so a request costs no getpeername. */
struct gw_conn {
    uint8_t addr[16];
};

/* Stops accepting: closes the listening socket. Connections already taken carry on. */
void gw_listener_close(gw_server_t *srv);

/* Monotonic clock in nanoseconds, for durations. */
int64_t gw_now_ns(void);

/* ---- upgrade.c, guard.c: upgrades, kept off lws 4.1.6's CVE-2025-11677 path ------------ */

/* One request header as the upgrade rules see it. */
typedef struct {
    const char *value; /* its first occurrence, NUL-terminated; "" when absent */
    size_t len;        /* strlen(value) */
    int count;         /* how many times it came; 0 = absent */
} gw_upgrade_field_t;

/* The parts of a request that decide whether it may leave HTTP. */
typedef struct {
    const char *method; /* "GET", ... */
    const char *path;
    bool http11;    /* the request line says HTTP/1.1 */
    bool body;      /* a body is announced */
    bool oversized; /* a header was too long to examine */
    gw_upgrade_field_t upgrade, connection, host, key, version, protocol, extensions;
    gw_upgrade_field_t http2_settings;
    gw_upgrade_field_t legacy; /* pre-RFC 6455 Sec-WebSocket-Key1 / -Key2 / -Draft */
} gw_upgrade_t;

typedef enum {
    GW_UPGRADE_OK,          /* a valid WebSocket handshake on a path that has a channel */
    GW_UPGRADE_INVALID,     /* malformed: 400 invalid_upgrade */
    GW_UPGRADE_NOT_ALLOWED, /* well formed, nothing upgrades there: 400 upgrade_not_allowed */
} gw_upgrade_verdict_t;

/*
 * Whether the comma-separated token list list[0..len) names token (case-insensitive);
 * false when the list is malformed. Pure.
 */
bool gw_upgrade_token_listed(const char *list, size_t len, const char *token);

/* The problem code of a refusal: "invalid_upgrade" or "upgrade_not_allowed". */
const char *gw_upgrade_code(gw_upgrade_verdict_t v);

/*
 * Judges an upgrade request: every header at most once, Upgrade exactly "websocket" (h2c is
 * never allowed), then RFC 6455 section 4.2.1 (GET, HTTP/1.1, no body, Host, Connection
 * listing "upgrade", a 16-byte base64 key, version 13, well-formed protocol and extension
 * lists), then the path against ws_paths[0..n). Writes why into why unless OK. Pure.
 */
gw_upgrade_verdict_t gw_upgrade_check(const gw_upgrade_t *u, const char *const *ws_paths, size_t n,
                                      char *why, size_t why_size);

/*
 * LWS_CALLBACK_HTTP_CONFIRM_UPGRADE. 0 lets lws upgrade; -1 makes lws close the connection,
 * after the 400 problem written here — or, for an Upgrade value other than websocket/h2c,
 * after lws's own 403, written before this runs. Never reads the callback's `in`, which
 * lws 4.1.6 may have freed. lws thread.
 */
int gw_guard_confirm_upgrade(gw_server_t *srv, struct lws *wsi);

/*
 * A request lws serves as plain HTTP (LWS_CALLBACK_HTTP): NULL when it carries no upgrade
 * header, else why it is refused (400 invalid_upgrade, connection closed): an empty
 * Upgrade, Sec-WebSocket-*, HTTP2-Settings (Connection: upgrade alone passes). Static string.
 */
const char *gw_guard_plain(struct lws *wsi);

#endif
