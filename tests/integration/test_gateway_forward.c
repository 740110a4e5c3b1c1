/*
 * The generic forwarder, end to end: mentis-gateway-testroutes (the production routes plus
 * routes to mentis.v1.gwtest.*) against a real nats-server, with responders in this
 * process: body, path and query merged into the request message; every kind of input
 * problem as a 400 with errors[]; 413 and 415; service errors passed through; 504 for a
 * slow service while other routes stay fast; 503 and one retry for safe routes on "no
 * responders"; traceparent and request id sent on.
 */
#include <cjson/cJSON.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "check.h"
#include "harness.h"
#include "mentis/bus.h"
#include "mentis/test/gateway_test.pb-c.h"
#include "mentis/v1/common.pb-c.h"
#include "test_gateway_support.h"

static h_nats_t nats;
static pid_t gateway;
static int port, admin_port;
static char dir[H_PATH_SIZE];
static mentis_bus_t *bus;
#define SUBS 5
static mentis_bus_sub_t *subs[SUBS];

/* What the last echo request carried; the responder thread writes, tests read. */
static pthread_mutex_t seen_mu = PTHREAD_MUTEX_INITIALIZER;
static char seen_traceparent[128], seen_request_id[160], seen_deadline[32];

static void on_request(void *arg, mentis_msg_t *msg)
{
    (void)arg;
    const char *subject = mentis_msg_subject(msg);
    if (strcmp(subject, "mentis.v1.gwtest.echo") == 0) {
        const char *tp = mentis_msg_header(msg, MENTIS_HDR_TRACEPARENT);
        const char *rid = mentis_msg_header(msg, MENTIS_HDR_REQUEST_ID);
        const char *dl = mentis_msg_header(msg, MENTIS_HDR_DEADLINE);
        pthread_mutex_lock(&seen_mu);
        snprintf(seen_traceparent, sizeof seen_traceparent, "%s", tp ? tp : "");
        snprintf(seen_request_id, sizeof seen_request_id, "%s", rid ? rid : "");
        snprintf(seen_deadline, sizeof seen_deadline, "%s", dl ? dl : "");
        pthread_mutex_unlock(&seen_mu);
        /* EchoResponse has EchoRequest's fields: the request's bytes are a valid answer. */
        mentis_bus_reply(bus, msg, NULL, 0, mentis_msg_data(msg), mentis_msg_len(msg));
    } else if (strcmp(subject, "mentis.v1.gwtest.fail") == 0) {
        static char f1[] = "display_name", m1[] = "is taken", f2[] = "tags[0]",
                    m2[] = "unknown tag";
        Mentis__V1__FieldViolation v1, v2;
        mentis__v1__field_violation__init(&v1);
        mentis__v1__field_violation__init(&v2);
        v1.field = f1;
        v1.message = m1;
        v2.field = f2;
        v2.message = m2;
        Mentis__V1__FieldViolation *vs[] = {&v1, &v2};
        Mentis__V1__ErrorDetail d;
        mentis__v1__error_detail__init(&d);
        d.n_errors = 2;
        d.errors = vs;
        uint8_t buf[256];
        size_t n = mentis__v1__error_detail__pack(&d, buf);
        mentis_bus_reply_error(bus, msg, NULL, 0, MENTIS_ERR_CONFLICT, "name_taken",
                               "that name is taken", buf, n);
    } else if (strcmp(subject, "mentis.v1.gwtest.document") == 0) {
        /* DocumentResponse has DocumentRequest's fields: echo it, unless there is none. */
        Mentis__Test__DocumentRequest *d = mentis__test__document_request__unpack(
            NULL, mentis_msg_len(msg), mentis_msg_data(msg));
        if (d != NULL && d->document != NULL && d->document->json[0] != '\0')
            mentis_bus_reply(bus, msg, NULL, 0, mentis_msg_data(msg), mentis_msg_len(msg));
        else
            mentis_bus_reply_error(bus, msg, NULL, 0, MENTIS_ERR_INVALID_ARGUMENT,
                                   "document_required", "the body must be a JSON document",
                                   NULL, 0);
        mentis__test__document_request__free_unpacked(d, NULL);
    } else if (strcmp(subject, "mentis.v1.gwtest.garbage") == 0) {
        static const uint8_t junk[] = {0xff, 0xff, 0xff, 0xff};
        mentis_bus_reply(bus, msg, NULL, 0, junk, sizeof junk);
    }
    /* mentis.v1.gwtest.slow: never answered. */
    mentis_msg_destroy(msg);
}

static void setup(void)
{
    static bool done;
    if (done)
        return;
    done = true;
    if (h_nats_start(&nats) != 0 || h_tmpdir("gw-fwd", dir, sizeof dir) != 0)
        abort();
    mentis_bus_options_t o = {.url = nats.url, .name = "gwtest-responder"};
    if (mentis_bus_connect(&o, &bus) != MENTIS_OK ||
        mentis_bus_wait_connected(bus, 5000) != MENTIS_OK ||
        mentis_bus_subscribe(bus, "mentis.v1.gwtest.echo", NULL, on_request, NULL, &subs[0]) !=
            MENTIS_OK ||
        mentis_bus_subscribe(bus, "mentis.v1.gwtest.fail", NULL, on_request, NULL, &subs[1]) !=
            MENTIS_OK ||
        mentis_bus_subscribe(bus, "mentis.v1.gwtest.slow", NULL, on_request, NULL, &subs[2]) !=
            MENTIS_OK ||
        mentis_bus_subscribe(bus, "mentis.v1.gwtest.garbage", NULL, on_request, NULL, &subs[3]) !=
            MENTIS_OK ||
        mentis_bus_subscribe(bus, "mentis.v1.gwtest.document", NULL, on_request, NULL,
                             &subs[4]) != MENTIS_OK)
        abort();
    port = h_free_port();
    admin_port = h_free_port();
    char log[H_PATH_SIZE + 32];
    snprintf(log, sizeof log, "%s/gateway.log", dir);
    static const char *const env[] = {"MENTIS_GATEWAY_DISCOVERY_INTERVAL_MS=60000", NULL};
    gateway = gt_start_gateway_binary("gateway/mentis-gateway-testroutes", nats.url, port,
                                      admin_port, env, log);
    if (gateway < 0)
        abort();
}

static int send_json(const char *method, const char *path, const char *content_type,
                     const char *body, const char *extra, gt_response_t *r)
{
    char req[8192];
    snprintf(req, sizeof req,
             "%s %s HTTP/1.1\r\nHost: x\r\nConnection: close\r\n%s%s%s"
             "Content-Length: %zu\r\n\r\n%s",
             method, path, content_type ? "Content-Type: " : "", content_type ? content_type : "",
             content_type ? "\r\n" : "", strlen(body), body);
    if (extra != NULL) { /* extra header lines go before the blank line */
        char *blank = strstr(req, "Content-Length:");
        char tail[8192];
        snprintf(tail, sizeof tail, "%s", blank);
        snprintf(blank, sizeof req - (size_t)(blank - req), "%s%s", extra, tail);
    }
    return gt_request(port, req, r, 5000);
}

/* The problem's errors[] entry for field, its message or NULL. */
static const char *error_for(cJSON *doc, const char *field)
{
    cJSON *e;
    cJSON_ArrayForEach(e, cJSON_GetObjectItem(doc, "errors"))
    {
        const char *f = cJSON_GetStringValue(cJSON_GetObjectItem(e, "field"));
        if (f != NULL && strcmp(f, field) == 0)
            return cJSON_GetStringValue(cJSON_GetObjectItem(e, "message"));
    }
    return NULL;
}

static cJSON *problem(const gt_response_t *r, int status, const char *code)
{
    char v[128];
    CHECK_INT(r->status, status);
    CHECK_STR(gt_header(r, "content-type", v, sizeof v), "application/problem+json");
    cJSON *doc = cJSON_Parse(r->body);
    CHECK(doc != NULL);
    CHECK_STR(cJSON_GetStringValue(cJSON_GetObjectItem(doc, "code")), code);
    CHECK_INT(cJSON_GetNumberValue(cJSON_GetObjectItem(doc, "status")), status);
    return doc;
}

static void test_body_params_and_query_are_merged(void)
{
    setup();
    gt_response_t r;
    REQUIRE(send_json("POST", "/api/test/echo/p%C3%A91/items/q-9?limit=7&tags=a&tags=b%20c",
                      "application/json", "{\"displayName\":\"Ann\",\"flag\":true}", NULL,
                      &r) == 0);
    CHECK_INT(r.status, 200);
    cJSON *doc = cJSON_Parse(r.body);
    REQUIRE(doc != NULL);
    CHECK_STR(cJSON_GetStringValue(cJSON_GetObjectItem(doc, "id")), "p\xc3\xa9"
                                                                    "1");
    CHECK_STR(cJSON_GetStringValue(cJSON_GetObjectItem(doc, "question_id")), "q-9");
    CHECK_INT(cJSON_GetNumberValue(cJSON_GetObjectItem(doc, "limit")), 7);
    CHECK_STR(cJSON_GetStringValue(cJSON_GetObjectItem(doc, "display_name")), "Ann");
    CHECK(cJSON_IsTrue(cJSON_GetObjectItem(doc, "flag")));
    cJSON *tags = cJSON_GetObjectItem(doc, "tags");
    CHECK_INT(cJSON_GetArraySize(tags), 2);
    CHECK_STR(cJSON_GetStringValue(cJSON_GetArrayItem(tags, 1)), "b c");
    cJSON_Delete(doc);

    /* snake_case in the body and camelCase in the query; GET without a body is {}. */
    REQUIRE(gt_get(port, "/api/test/echo/x?displayName=Bo&question_id=z", NULL, &r, 5000) == 0);
    CHECK_INT(r.status, 200);
    doc = cJSON_Parse(r.body);
    REQUIRE(doc != NULL);
    CHECK_STR(cJSON_GetStringValue(cJSON_GetObjectItem(doc, "display_name")), "Bo");
    CHECK_STR(cJSON_GetStringValue(cJSON_GetObjectItem(doc, "question_id")), "z");
    CHECK_STR(cJSON_GetStringValue(cJSON_GetObjectItem(doc, "id")), "x");
    cJSON_Delete(doc);

    /* A literal segment wins over a parameter. */
    REQUIRE(gt_get(port, "/api/test/echo/fixed", NULL, &r, 5000) == 0);
    CHECK_INT(r.status, 200);
    doc = cJSON_Parse(r.body);
    CHECK_STR(cJSON_GetStringValue(cJSON_GetObjectItem(doc, "id")), "");
    cJSON_Delete(doc);
}

static void test_path_and_query_text_rules(void)
{
    setup();
    gt_response_t r;
    /* lws percent-decodes the path once; the gateway never decodes it a second time. */
    REQUIRE(gt_get(port, "/api/test/echo/%2541", NULL, &r, 5000) == 0);
    CHECK_INT(r.status, 200);
    cJSON *doc = cJSON_Parse(r.body);
    CHECK_STR(cJSON_GetStringValue(cJSON_GetObjectItem(doc, "id")), "%41");
    cJSON_Delete(doc);
    /* Bytes that are not UTF-8 text, in a path parameter or a query value: 400. */
    REQUIRE(gt_get(port, "/api/test/echo/%FF", NULL, &r, 5000) == 0);
    doc = problem(&r, 400, "invalid_argument");
    CHECK(strstr(cJSON_GetStringValue(cJSON_GetObjectItem(doc, "detail")), "id") != NULL);
    cJSON_Delete(doc);
    REQUIRE(gt_get(port, "/api/test/echo/%01", NULL, &r, 5000) == 0);
    cJSON_Delete(problem(&r, 400, "invalid_argument"));
    REQUIRE(gt_get(port, "/api/test/echo/a?display_name=%C0%AF", NULL, &r, 5000) == 0);
    doc = problem(&r, 400, "invalid_argument");
    CHECK(error_for(doc, "display_name") != NULL);
    cJSON_Delete(doc);
    REQUIRE(gt_get(port, "/api/test/echo/a?%FF=1", NULL, &r, 5000) == 0);
    doc = problem(&r, 400, "invalid_argument"); /* the body parsed: it is valid JSON */
    CHECK(error_for(doc, "") != NULL);
    cJSON_Delete(doc);
    /* An encoded '/' is a separator once lws has decoded it: no route has that shape. */
    REQUIRE(gt_get(port, "/api/test/echo/a%2Fb", NULL, &r, 5000) == 0);
    cJSON_Delete(problem(&r, 404, "not_found"));
    /* Trailing slash: not the same path. */
    REQUIRE(gt_get(port, "/api/test/echo/a/", NULL, &r, 5000) == 0);
    cJSON_Delete(problem(&r, 404, "not_found"));
    /* Wrong method on a template: 405 with Allow. */
    char v[128];
    REQUIRE(send_json("PUT", "/api/test/echo/a", NULL, "", NULL, &r) == 0);
    cJSON_Delete(problem(&r, 405, "method_not_allowed"));
    CHECK_STR(gt_header(&r, "allow", v, sizeof v), "GET, HEAD, OPTIONS");
}

static void test_keep_alive_after_a_body(void)
{
    setup();
    int fd = gt_connect(port);
    REQUIRE(fd >= 0);
    gt_response_t r;
    char v[64];
    for (int i = 0; i < 3; i++) {
        char req[512], body[64];
        snprintf(body, sizeof body, "{\"limit\":%d}", i + 1);
        snprintf(req, sizeof req,
                 "POST /api/test/echo/k/items/%d HTTP/1.1\r\nHost: x\r\n"
                 "Content-Type: application/json\r\nContent-Length: %zu\r\n\r\n%s",
                 i, strlen(body), body);
        REQUIRE(gt_exchange(fd, req, &r, 3000) == 0);
        CHECK_INT(r.status, 200);
        CHECK(gt_header(&r, "connection", v, sizeof v) == NULL);
        cJSON *doc = cJSON_Parse(r.body);
        CHECK_INT(cJSON_GetNumberValue(cJSON_GetObjectItem(doc, "limit")), i + 1);
        cJSON_Delete(doc);
    }
    /* HEAD of a forwarded GET: the head of the answer, no body. */
    REQUIRE(gt_exchange(fd, "HEAD /api/test/echo/h HTTP/1.1\r\nHost: x\r\n\r\n", &r, 3000) == 0);
    CHECK_INT(r.status, 200);
    CHECK_INT(r.body_len, 0);
    REQUIRE(gt_exchange(fd, "GET /api/test/echo/h HTTP/1.1\r\nHost: x\r\n\r\n", &r, 3000) == 0);
    CHECK_INT(r.status, 200);
    close(fd);
}

static void test_an_invalid_reply_is_502(void)
{
    setup();
    gt_response_t r;
    REQUIRE(gt_get(port, "/api/test/garbage", NULL, &r, 5000) == 0);
    cJSON_Delete(problem(&r, 502, "bad_gateway"));
}

static void test_created_with_location(void)
{
    setup();
    gt_response_t r;
    char v[256];
    REQUIRE(send_json("POST", "/api/test/create", "application/json; charset=utf-8",
                      "{\"id\":\"new 1\"}", NULL, &r) == 0);
    CHECK_INT(r.status, 201);
    CHECK_STR(gt_header(&r, "location", v, sizeof v), "/api/test/echo/new%201");
}

static void test_input_problems_are_400_with_errors(void)
{
    setup();
    gt_response_t r;
    /* Unknown field, wrong type and an out-of-range integer, all in one answer. */
    REQUIRE(send_json("POST", "/api/test/echo/a/items/b?limit=99999999999", "application/json",
                      "{\"nope\":1,\"flag\":\"yes\"}", NULL, &r) == 0);
    cJSON *doc = problem(&r, 400, "invalid_argument");
    CHECK(error_for(doc, "nope") != NULL);
    CHECK(error_for(doc, "flag") != NULL);
    CHECK(error_for(doc, "limit") != NULL);
    cJSON_Delete(doc);

    /* Malformed JSON: one problem for the document, with the byte offset. */
    REQUIRE(send_json("POST", "/api/test/echo/a/items/b", "application/json", "{\"flag\":tru", NULL,
                      &r) == 0);
    doc = problem(&r, 400, "invalid_argument");
    const char *m = error_for(doc, "");
    CHECK_MSG(m != NULL && strstr(m, "at byte 8") != NULL, "message: %s", m ? m : "(none)");
    cJSON_Delete(doc);

    /* An unknown query parameter is named too. */
    REQUIRE(gt_get(port, "/api/test/echo/a?colour=red", NULL, &r, 5000) == 0);
    doc = problem(&r, 400, "invalid_argument");
    CHECK(error_for(doc, "colour") != NULL);
    cJSON_Delete(doc);
}

static void test_413_and_415(void)
{
    setup();
    gt_response_t r;
    char big[2048];
    memset(big, ' ', sizeof big - 1);
    big[sizeof big - 1] = '\0';
    big[0] = '{';
    big[sizeof big - 2] = '}';
    /* By Content-Length, before the body is read. */
    REQUIRE(send_json("POST", "/api/test/echo/a/items/b", "application/json", big, NULL, &r) == 0);
    cJSON_Delete(problem(&r, 413, "payload_too_large"));
    /* Chunked, refused once it passes the limit. */
    char req[8192];
    snprintf(req, sizeof req,
             "POST /api/test/echo/a/items/b HTTP/1.1\r\nHost: x\r\n"
             "Content-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n"
             "%zx\r\n%s\r\n0\r\n\r\n",
             strlen(big), big);
    REQUIRE(gt_request(port, req, &r, 5000) == 0);
    cJSON_Delete(problem(&r, 413, "payload_too_large"));
    /* A body that is not JSON. */
    REQUIRE(send_json("POST", "/api/test/echo/a/items/b", "text/plain", "{}", NULL, &r) == 0);
    cJSON_Delete(problem(&r, 415, "unsupported_media_type"));
    REQUIRE(send_json("POST", "/api/test/echo/a/items/b", NULL, "{}", NULL, &r) == 0);
    cJSON_Delete(problem(&r, 415, "unsupported_media_type"));
    /* A body on a route that takes none; an empty one is fine. */
    REQUIRE(send_json("GET", "/api/test/echo/a", "application/json", "{}", NULL, &r) == 0);
    cJSON_Delete(problem(&r, 413, "payload_too_large"));
    REQUIRE(send_json("GET", "/api/test/echo/a", NULL, "", NULL, &r) == 0);
    CHECK_INT(r.status, 200);
}

static void test_service_errors_pass_through(void)
{
    setup();
    gt_response_t r;
    REQUIRE(gt_get(port, "/api/test/fail", NULL, &r, 5000) == 0);
    cJSON *doc = problem(&r, 409, "name_taken");
    CHECK_STR(cJSON_GetStringValue(cJSON_GetObjectItem(doc, "detail")), "that name is taken");
    CHECK_STR(error_for(doc, "display_name"), "is taken");
    CHECK_STR(error_for(doc, "tags[0]"), "unknown tag");
    cJSON_Delete(doc);
}

static void test_trace_context_and_request_id_are_sent_on(void)
{
    setup();
    gt_response_t r;
    const char *tp = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";
    char hdrs[160];
    snprintf(hdrs, sizeof hdrs, "traceparent: %s\r\nX-Request-Id: trace-1\r\n", tp);
    REQUIRE(gt_get(port, "/api/test/echo/t", hdrs, &r, 5000) == 0);
    CHECK_INT(r.status, 200);
    pthread_mutex_lock(&seen_mu);
    CHECK_INT(strlen(seen_traceparent), 55);
    CHECK(strncmp(seen_traceparent, tp, 36) == 0);           /* same trace */
    CHECK(strncmp(seen_traceparent + 36, tp + 36, 16) != 0); /* our own span */
    CHECK_STR(seen_request_id, "trace-1");
    long long dl = atoll(seen_deadline);
    CHECK(dl > 0);
    pthread_mutex_unlock(&seen_mu);
    /* An invalid one starts a new trace. */
    REQUIRE(gt_get(port, "/api/test/echo/t", "traceparent: 00-zz\r\n", &r, 5000) == 0);
    pthread_mutex_lock(&seen_mu);
    CHECK_INT(strlen(seen_traceparent), 55);
    CHECK(strncmp(seen_traceparent, "00-", 3) == 0);
    CHECK(strncmp(seen_traceparent + 3, tp + 3, 32) != 0);
    pthread_mutex_unlock(&seen_mu);
}

struct slow_call {
    gt_response_t r;
    int rc;
    long long took;
};

static void *call_slow(void *arg)
{
    struct slow_call *c = arg;
    long long t0 = h_now_ms();
    c->rc = gt_get(port, "/api/test/slow", NULL, &c->r, 5000);
    c->took = h_now_ms() - t0;
    return NULL;
}

static void test_slow_service_is_504_and_others_stay_fast(void)
{
    setup();
    struct slow_call c;
    pthread_t t;
    REQUIRE(pthread_create(&t, NULL, call_slow, &c) == 0);
    h_sleep_ms(50);
    gt_response_t r;
    long long t0 = h_now_ms();
    REQUIRE(gt_get(port, "/api/test/echo/fast", NULL, &r, 5000) == 0);
    long long fast = h_now_ms() - t0;
    CHECK_INT(r.status, 200);
    CHECK_MSG(fast < 50, "the fast route took %lld ms while the slow one was pending", fast);
    pthread_join(t, NULL);
    REQUIRE(c.rc == 0);
    cJSON_Delete(problem(&c.r, 504, "deadline_exceeded"));
    CHECK_MSG(c.took >= 280 && c.took < 1500, "the slow route took %lld ms", c.took);
}

/* Messages the gateway's connection has published so far (NATS monitoring /connz). */
static long long gateway_in_msgs(void)
{
    static char body[1 << 16];
    int status = 0;
    if (h_http_get(nats.monitor_port, "/connz", &status, body, sizeof body, 3000) != 0 ||
        status != 200)
        return -1;
    cJSON *doc = cJSON_Parse(body);
    long long n = -1;
    cJSON *c;
    cJSON_ArrayForEach(c, cJSON_GetObjectItem(doc, "connections"))
    {
        const char *name = cJSON_GetStringValue(cJSON_GetObjectItem(c, "name"));
        if (name && strstr(name, "gateway"))
            n = (long long)cJSON_GetNumberValue(cJSON_GetObjectItem(c, "in_msgs"));
    }
    cJSON_Delete(doc);
    return n;
}

/* A route whose body is one field (a JsonValue) and whose answer is one field. */
static void test_document_body_and_response_fields(void)
{
    setup();
    gt_response_t r;
    const char *doc = "{\"title\": \"Caf\\u00e9 \u00e9\", \"n\": [1, 2.50, -3e2, true, null],"
                      " \"deep\": {\"a\": [{\"b\": {}}]}, \"s\": \"x\\\"y\"}";
    CHECK(send_json("PUT", "/api/test/documents/d1", "application/json", doc, NULL, &r) == 0);
    CHECK_INT(r.status, 200);
    /* The exact text comes back: the gateway neither re-parses nor re-formats it. */
    CHECK_STR(r.body, doc);

    /* Any JSON value, an array or a string too. */
    CHECK(send_json("PUT", "/api/test/documents/d1", "application/json", " [1,\"two\"] ", NULL,
                    &r) == 0);
    CHECK_INT(r.status, 200);
    CHECK_STR(r.body, "[1,\"two\"]");

    /* Not JSON: 400 from the gateway, saying where. */
    CHECK(send_json("PUT", "/api/test/documents/d1", "application/json", "{\"a\": [1,}", NULL,
                    &r) == 0);
    cJSON *p = problem(&r, 400, "invalid_argument");
    CHECK(p != NULL && strstr(cJSON_GetStringValue(cJSON_GetObjectItem(p, "detail")),
                              "byte") != NULL);
    cJSON_Delete(p);

    /* No body: the field stays unset and the service names what is missing. */
    CHECK(send_json("PUT", "/api/test/documents/d1", "application/json", "", NULL, &r) == 0);
    cJSON_Delete(problem(&r, 400, "document_required"));

    /* Over the route's body limit: 413 before any decoding. */
    char big[6000];
    memset(big, ' ', sizeof big - 3);
    big[0] = '[';
    big[sizeof big - 3] = ']';
    big[sizeof big - 2] = '\0';
    CHECK(send_json("PUT", "/api/test/documents/d1", "application/json", big, NULL, &r) == 0);
    CHECK_INT(r.status, 413);

    /* OpenAPI describes body and answer as the field's schema: any JSON value. */
    REQUIRE(gt_get(port, "/api/openapi.json", NULL, &r, 5000) == 0);
    cJSON *api = cJSON_Parse(r.body);
    cJSON *put = cJSON_GetObjectItem(
        cJSON_GetObjectItem(cJSON_GetObjectItem(api, "paths"), "/api/test/documents/{id}"), "put");
    cJSON *in = cJSON_GetObjectItem(
        cJSON_GetObjectItem(cJSON_GetObjectItem(cJSON_GetObjectItem(put, "requestBody"), "content"),
                            "application/json"),
        "schema");
    cJSON *out = cJSON_GetObjectItem(
        cJSON_GetObjectItem(
            cJSON_GetObjectItem(cJSON_GetObjectItem(cJSON_GetObjectItem(put, "responses"), "200"),
                                "content"),
            "application/json"),
        "schema");
    CHECK(cJSON_IsObject(in) && in->child == NULL);
    CHECK(cJSON_IsObject(out) && out->child == NULL);
    cJSON_Delete(api);
}

static void test_no_responders_is_503_and_safe_routes_retry_once(void)
{
    setup();
    gt_response_t r;
    char v[32];
    long long before = gateway_in_msgs();
    REQUIRE(before >= 0);
    REQUIRE(gt_get(port, "/api/test/nobody", NULL, &r, 5000) == 0);
    cJSON_Delete(problem(&r, 503, "unavailable"));
    CHECK_STR(gt_header(&r, "retry-after", v, sizeof v), "1");
    h_sleep_ms(100); /* /connz counts with a small delay */
    long long safe = gateway_in_msgs();
    CHECK_MSG(safe - before == 2, "a safe route sent %lld requests", safe - before);
    REQUIRE(gt_request(port,
                       "DELETE /api/test/nobody HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
                       &r, 5000) == 0);
    cJSON_Delete(problem(&r, 503, "unavailable"));
    h_sleep_ms(100);
    long long unsafe = gateway_in_msgs();
    CHECK_MSG(unsafe - safe == 1, "an unsafe route sent %lld requests", unsafe - safe);
}

/* The operation for method (lower case) on path in an OpenAPI document, or NULL. */
static cJSON *openapi_op(cJSON *doc, const char *path, const char *method)
{
    return cJSON_GetObjectItem(
        cJSON_GetObjectItemCaseSensitive(cJSON_GetObjectItem(doc, "paths"), path), method);
}

static void test_openapi_lists_every_route(void)
{
    setup();
    gt_response_t r;
    REQUIRE(gt_get(port, "/api/openapi.json", NULL, &r, 5000) == 0);
    CHECK_INT(r.status, 200);
    cJSON *doc = cJSON_Parse(r.body);
    REQUIRE(doc != NULL);
    CHECK_STR(cJSON_GetStringValue(cJSON_GetObjectItem(doc, "openapi")), "3.1.0");
    static const char *const routes[][2] = {
        {"/api/health", "get"},
        {"/healthz", "get"},
        {"/readyz", "get"},
        {"/api/openapi.json", "get"},
        {"/.well-known/jwks.json", "get"},
        {"/api/auth/register", "post"},
        {"/api/auth/login", "post"},
        {"/api/auth/refresh", "post"},
        {"/api/auth/logout", "post"},
        {"/api/auth/me", "get"},
        {"/api/auth/me", "patch"},
        {"/api/test/echo/{id}/items/{question_id}", "post"},
        {"/api/test/echo/{id}", "get"},
        {"/api/test/echo/fixed", "get"},
        {"/api/test/create", "post"},
        {"/api/test/slow", "get"},
        {"/api/test/fail", "get"},
        {"/api/test/nobody", "get"},
        {"/api/test/nobody", "delete"},
        {"/api/test/garbage", "get"},
    };
    size_t n = sizeof routes / sizeof routes[0], ops = 0;
    for (size_t i = 0; i < n; i++)
        CHECK_MSG(openapi_op(doc, routes[i][0], routes[i][1]) != NULL, "%s %s missing",
                  routes[i][1], routes[i][0]);
    cJSON *item;
    cJSON_ArrayForEach(item, cJSON_GetObjectItem(doc, "paths")) ops +=
        (size_t)cJSON_GetArraySize(item);
    CHECK(ops >= n); /* and the production routes besides (test_gateway_http counts those) */

    /* Path parameters, the body's schema, the reply's, the problem as default. */
    cJSON *post = openapi_op(doc, "/api/test/echo/{id}/items/{question_id}", "post");
    cJSON *params = cJSON_GetObjectItem(post, "parameters");
    CHECK_INT(cJSON_GetArraySize(params), 2);
    CHECK_STR(cJSON_GetStringValue(cJSON_GetObjectItem(cJSON_GetArrayItem(params, 1), "name")),
              "question_id");
    CHECK_STR(cJSON_GetStringValue(cJSON_GetObjectItem(cJSON_GetArrayItem(params, 1), "in")),
              "path");
    cJSON *body_schema = cJSON_GetObjectItem(
        cJSON_GetObjectItem(
            cJSON_GetObjectItem(cJSON_GetObjectItem(post, "requestBody"), "content"),
            "application/json"),
        "schema");
    CHECK_STR(cJSON_GetStringValue(cJSON_GetObjectItem(body_schema, "$ref")),
              "#/components/schemas/mentis.test.EchoRequest");
    CHECK(cJSON_GetObjectItem(cJSON_GetObjectItem(post, "responses"), "default") != NULL);
    cJSON *schemas = cJSON_GetObjectItem(cJSON_GetObjectItem(doc, "components"), "schemas");
    CHECK(cJSON_GetObjectItemCaseSensitive(schemas, "mentis.test.EchoRequest") != NULL);
    CHECK(cJSON_GetObjectItemCaseSensitive(schemas, "mentis.test.EchoResponse") != NULL);
    CHECK(cJSON_GetObjectItemCaseSensitive(schemas, "Problem") != NULL);
    /* A route without a body takes the other fields from the query. */
    cJSON *get = openapi_op(doc, "/api/test/echo/{id}", "get");
    bool limit_in_query = false;
    cJSON_ArrayForEach(item, cJSON_GetObjectItem(get, "parameters"))
    {
        const char *name = cJSON_GetStringValue(cJSON_GetObjectItem(item, "name"));
        if (name && strcmp(name, "limit") == 0) {
            limit_in_query = true;
            CHECK_STR(cJSON_GetStringValue(cJSON_GetObjectItem(item, "in")), "query");
            CHECK_STR(cJSON_GetStringValue(
                          cJSON_GetObjectItem(cJSON_GetObjectItem(item, "schema"), "type")),
                      "integer");
        }
    }
    CHECK(limit_in_query);
    /* 201 for a route with a Location. */
    CHECK(cJSON_GetObjectItem(
              cJSON_GetObjectItem(openapi_op(doc, "/api/test/create", "post"), "responses"),
              "201") != NULL);
    cJSON_Delete(doc);
}

static void test_production_binary_has_no_test_routes(void)
{
    setup();
    char log[H_PATH_SIZE + 32];
    snprintf(log, sizeof log, "%s/gateway-prod.log", dir);
    int p = h_free_port(), a = h_free_port();
    pid_t prod = gt_start_gateway(nats.url, p, a, NULL, log);
    REQUIRE(prod > 0);
    gt_response_t r;
    REQUIRE(gt_get(p, "/api/test/echo/x", NULL, &r, 5000) == 0);
    CHECK_INT(r.status, 404);
    h_kill(prod, 15);
    CHECK(h_wait_exit(prod, 5000) == 0);
}

static void test_sigterm_exits_zero(void)
{
    setup();
    h_kill(gateway, 15);
    CHECK(h_wait_exit(gateway, 5000) == 0);
    for (int i = 0; i < SUBS; i++)
        mentis_bus_unsubscribe(subs[i], false, 0);
    mentis_bus_close(bus);
}

/* A gateway that takes three requests at once: the fourth is refused at once, and once
 * the three are answered, requests pass again. */
static void test_in_flight_cap_is_hit_and_recovers(void)
{
    setup();
    int p = h_free_port(), ap = h_free_port();
    char log[H_PATH_SIZE + 32];
    snprintf(log, sizeof log, "%s/gateway-cap.log", dir);
    static const char *const env[] = {"MENTIS_GATEWAY_MAX_IN_FLIGHT=3",
                                      "MENTIS_GATEWAY_DISCOVERY_INTERVAL_MS=60000", NULL};
    pid_t gw = gt_start_gateway_binary("gateway/mentis-gateway-testroutes", nats.url, p, ap, env,
                                       log);
    REQUIRE(gw > 0);
    int fds[3];
    const char *slow = "GET /api/test/slow HTTP/1.1\r\nHost: x\r\n\r\n";
    for (int i = 0; i < 3; i++) {
        fds[i] = gt_connect(p);
        REQUIRE(fds[i] >= 0);
        REQUIRE(write(fds[i], slow, strlen(slow)) == (ssize_t)strlen(slow));
    }
    h_sleep_ms(100); /* the three wait for a service that never answers (300 ms) */
    gt_response_t r;
    long long t0 = h_now_ms();
    REQUIRE(gt_get(p, "/api/test/echo/fixed", NULL, &r, 3000) == 0);
    CHECK_INT(r.status, 503);
    CHECK(strstr(r.body, "\"code\":\"overloaded\"") != NULL);
    char v[16];
    CHECK_STR(gt_header(&r, "retry-after", v, sizeof v), "1");
    CHECK_MSG(h_now_ms() - t0 < 150, "the refusal took %lld ms", h_now_ms() - t0);
    for (int i = 0; i < 3; i++) {
        REQUIRE(gt_exchange(fds[i], "", &r, 3000) == 0);
        CHECK_INT(r.status, 504);
        close(fds[i]);
    }
    REQUIRE(gt_get(p, "/api/test/echo/fixed", NULL, &r, 3000) == 0);
    CHECK_INT(r.status, 200);
    REQUIRE(h_kill(gw, SIGTERM) == 0);
    CHECK_INT(h_wait_exit(gw, 5000), 0);
}

TEST_MAIN(test_document_body_and_response_fields, test_body_params_and_query_are_merged, test_path_and_query_text_rules,
          test_keep_alive_after_a_body, test_an_invalid_reply_is_502, test_created_with_location,
          test_input_problems_are_400_with_errors, test_413_and_415,
          test_service_errors_pass_through, test_trace_context_and_request_id_are_sent_on,
          test_slow_service_is_504_and_others_stay_fast,
          test_no_responders_is_503_and_safe_routes_retry_once,
          test_in_flight_cap_is_hit_and_recovers, test_openapi_lists_every_route,
          test_production_binary_has_no_test_routes, test_sigterm_exits_zero)
