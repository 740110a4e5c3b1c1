/*
 * mentis-gateway's HTTP surface against a real nats-server with no services running:
 * the health page (all down, answered at once), the probes, problem documents, request
 * ids, 404/405/OPTIONS/HEAD, refused bodies, keep-alive, security headers, the admin
 * port, the service API, bad configuration and SIGTERM.
 */
#include <cjson/cJSON.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "check.h"
#include "harness.h"
#include "mentis/bus.h"
#include "test_gateway_support.h"

/* Far above any answer time, so "at once" is told apart from "after the timeout" even on a
 * busy machine. */
#define HEALTH_TIMEOUT_MS 10000

static h_nats_t nats;
static pid_t gateway;
static int port, admin_port;
static char dir[H_PATH_SIZE];

static void setup(void)
{
    static bool done;
    if (done)
        return;
    done = true;
    if (h_nats_start(&nats) != 0 || h_tmpdir("gw-http", dir, sizeof dir) != 0)
        abort();
    port = h_free_port();
    admin_port = h_free_port();
    char log[H_PATH_SIZE + 32];
    snprintf(log, sizeof log, "%s/gateway.log", dir);
    static const char *const env[] = {"MENTIS_GATEWAY_HEALTH_TIMEOUT_MS=10000",
                                      "MENTIS_INSTANCE_ID=gw-test-1", NULL};
    gateway = gt_start_gateway(nats.url, port, admin_port, env, log);
    if (gateway < 0)
        abort();
}

/* The security headers every answer carries. */
static void check_common_headers(const gt_response_t *r)
{
    char v[256];
    CHECK_STR(gt_header(r, "x-content-type-options", v, sizeof v), "nosniff");
    CHECK_STR(gt_header(r, "x-frame-options", v, sizeof v), "DENY");
    CHECK_STR(gt_header(r, "referrer-policy", v, sizeof v), "no-referrer");
    CHECK_STR(gt_header(r, "cache-control", v, sizeof v), "no-store");
    CHECK(gt_header(r, "x-request-id", v, sizeof v) != NULL && strlen(v) > 0);
    CHECK(gt_header(r, "server", v, sizeof v) == NULL);
}

/* A problem document: its fields, and request_id equal to the X-Request-Id header. */
static void check_problem(const gt_response_t *r, int status, const char *code)
{
    char v[256], rid[256];
    CHECK_INT(r->status, status);
    CHECK_STR(gt_header(r, "content-type", v, sizeof v), "application/problem+json");
    check_common_headers(r);
    cJSON *doc = cJSON_Parse(r->body);
    REQUIRE(doc != NULL);
    CHECK_STR(cJSON_GetStringValue(cJSON_GetObjectItem(doc, "type")), "about:blank");
    CHECK(cJSON_IsString(cJSON_GetObjectItem(doc, "title")));
    CHECK_INT(cJSON_GetNumberValue(cJSON_GetObjectItem(doc, "status")), status);
    CHECK_STR(cJSON_GetStringValue(cJSON_GetObjectItem(doc, "code")), code);
    const char *detail = cJSON_GetStringValue(cJSON_GetObjectItem(doc, "detail"));
    CHECK(detail != NULL && detail[0] != '\0');
    CHECK_STR(cJSON_GetStringValue(cJSON_GetObjectItem(doc, "request_id")),
              gt_header(r, "x-request-id", rid, sizeof rid));
    cJSON_Delete(doc);
}

static bool is_uuid_v7(const char *s)
{
    if (s == NULL || strlen(s) != 36 || s[14] != '7')
        return false;
    for (int i = 0; i < 36; i++) {
        bool dash = i == 8 || i == 13 || i == 18 || i == 23;
        if (dash ? s[i] != '-' : strchr("0123456789abcdef", s[i]) == NULL)
            return false;
    }
    return true;
}

static void test_health_with_no_services_is_down_at_once(void)
{
    setup();
    gt_response_t r;
    long long t0 = h_now_ms();
    REQUIRE(gt_get(port, "/api/health", NULL, &r, 5000) == 0);
    long long took = h_now_ms() - t0;
    CHECK_INT(r.status, 503);
    /* Nobody listens: "no responders" comes back at once, long before the timeout. */
    CHECK_MSG(took < HEALTH_TIMEOUT_MS, "took %lld ms", took);
    char v[128];
    CHECK_STR(gt_header(&r, "content-type", v, sizeof v), "application/json");
    check_common_headers(&r);
    cJSON *doc = cJSON_Parse(r.body);
    REQUIRE(doc != NULL);
    CHECK_STR(cJSON_GetStringValue(cJSON_GetObjectItem(doc, "status")), "down");
    CHECK_STR(cJSON_GetStringValue(cJSON_GetObjectItem(doc, "version")), "0.1.0");
    const char *ts = cJSON_GetStringValue(cJSON_GetObjectItem(doc, "timestamp"));
    CHECK(ts != NULL && strlen(ts) == 24 && ts[10] == 'T' && ts[23] == 'Z');
    cJSON *services = cJSON_GetObjectItem(doc, "services");
    CHECK_INT(cJSON_GetArraySize(services), 6);
    static const char *const names[] = {"auth", "kb", "curriculum", "metrics", "tts", "jobs"};
    for (int i = 0; i < 6; i++) {
        cJSON *s = cJSON_GetObjectItem(services, names[i]);
        CHECK_MSG(s != NULL, "%s missing", names[i]);
        CHECK_STR(cJSON_GetStringValue(cJSON_GetObjectItem(s, "status")), "down");
        CHECK_INT(cJSON_GetNumberValue(cJSON_GetObjectItem(s, "instances")), 0);
    }
    cJSON_Delete(doc);
}

static void test_probes(void)
{
    setup();
    gt_response_t r;
    REQUIRE(gt_get(port, "/healthz", NULL, &r, 3000) == 0);
    CHECK_INT(r.status, 200);
    CHECK_STR(r.body, "{\"status\":\"ok\"}");
    check_common_headers(&r);
    REQUIRE(gt_get(port, "/readyz", NULL, &r, 3000) == 0);
    CHECK_INT(r.status, 200);
    CHECK_STR(r.body, "{\"status\":\"ready\"}");
    /* The admin port says the same. */
    int status = 0;
    char body[256];
    CHECK(h_http_get(admin_port, "/readyz", &status, body, sizeof body, 3000) == 0 &&
          status == 200);
    CHECK(h_http_get(admin_port, "/healthz", &status, body, sizeof body, 3000) == 0 &&
          status == 200);
}

static void test_unknown_path_is_404_problem_with_the_request_id(void)
{
    setup();
    gt_response_t r;
    REQUIRE(gt_get(port, "/api/nope", "X-Request-Id: client-42.a_b-C\r\n", &r, 3000) == 0);
    check_problem(&r, 404, "not_found");
    char v[256];
    CHECK_STR(gt_header(&r, "x-request-id", v, sizeof v), "client-42.a_b-C");
    REQUIRE(gt_get(port, "/api/health/", NULL, &r, 3000) == 0); /* exact paths only */
    check_problem(&r, 404, "not_found");
    REQUIRE(gt_get(port, "/", NULL, &r, 3000) == 0);
    check_problem(&r, 404, "not_found");
}

static void test_invalid_request_ids_are_replaced(void)
{
    setup();
    char long_id[200], hdr[300], v[256];
    memset(long_id, 'a', 129);
    long_id[129] = '\0';
    const char *bad[] = {"has space", "slash/no", "quote\"x", "semi;colon", long_id, ""};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        gt_response_t r;
        snprintf(hdr, sizeof hdr, "X-Request-Id: %s\r\n", bad[i]);
        REQUIRE(gt_get(port, "/nope", hdr, &r, 3000) == 0);
        check_problem(&r, 404, "not_found");
        const char *id = gt_header(&r, "x-request-id", v, sizeof v);
        CHECK_MSG(is_uuid_v7(id), "for \"%s\" got \"%s\"", bad[i], id ? id : "(none)");
    }
    /* Exactly 128 allowed characters are kept; none at all gets a fresh UUIDv7 each time. */
    long_id[128] = '\0';
    gt_response_t r1, r2;
    snprintf(hdr, sizeof hdr, "X-Request-Id: %s\r\n", long_id);
    REQUIRE(gt_get(port, "/healthz", hdr, &r1, 3000) == 0);
    CHECK_STR(gt_header(&r1, "x-request-id", v, sizeof v), long_id);
    REQUIRE(gt_get(port, "/healthz", NULL, &r1, 3000) == 0);
    REQUIRE(gt_get(port, "/healthz", NULL, &r2, 3000) == 0);
    char a[64], b[64];
    CHECK(is_uuid_v7(gt_header(&r1, "x-request-id", a, sizeof a)));
    CHECK(is_uuid_v7(gt_header(&r2, "x-request-id", b, sizeof b)));
    CHECK(strcmp(a, b) != 0);
}

static void test_wrong_method_is_405_with_allow(void)
{
    setup();
    gt_response_t r;
    char v[128];
    REQUIRE(gt_request(port,
                       "POST /api/health HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\n"
                       "Connection: close\r\n\r\n",
                       &r, 3000) == 0);
    check_problem(&r, 405, "method_not_allowed");
    CHECK_STR(gt_header(&r, "allow", v, sizeof v), "GET, HEAD, OPTIONS");
    REQUIRE(gt_request(port, "DELETE /readyz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n", &r,
                       3000) == 0);
    check_problem(&r, 405, "method_not_allowed");
    CHECK_STR(gt_header(&r, "allow", v, sizeof v), "GET, HEAD, OPTIONS");
    /* An unknown path stays 404 whatever the method. */
    REQUIRE(gt_request(port,
                       "PUT /nope HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\n"
                       "Connection: close\r\n\r\n",
                       &r, 3000) == 0);
    check_problem(&r, 404, "not_found");
}

static void test_options_and_head(void)
{
    setup();
    gt_response_t r, g;
    char v[128], w[128];
    REQUIRE(gt_request(port, "OPTIONS /api/health HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
                       &r, 3000) == 0);
    CHECK_INT(r.status, 204);
    CHECK_STR(gt_header(&r, "allow", v, sizeof v), "GET, HEAD, OPTIONS");
    CHECK_INT(r.body_len, 0);
    check_common_headers(&r);

    REQUIRE(gt_request(port, "HEAD /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n", &r,
                       3000) == 0);
    REQUIRE(gt_get(port, "/healthz", NULL, &g, 3000) == 0);
    CHECK_INT(r.status, 200);
    CHECK_STR(gt_header(&r, "content-length", v, sizeof v),
              gt_header(&g, "content-length", w, sizeof w));
    CHECK_STR(gt_header(&r, "content-type", v, sizeof v), "application/json");
    check_common_headers(&r);

    /* HEAD of the health page runs the checks and sends only the head. */
    REQUIRE(gt_request(port, "HEAD /api/health HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
                       &r, 3000) == 0);
    CHECK_INT(r.status, 503);
    CHECK(atoi(gt_header(&r, "content-length", v, sizeof v) ? v : "0") > 100);
}

static void test_bodies_are_refused_and_the_connection_closed(void)
{
    setup();
    int fd = gt_connect(port);
    REQUIRE(fd >= 0);
    gt_response_t r;
    REQUIRE(gt_exchange(fd, "GET /healthz HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n\r\nhello",
                        &r, 3000) == 0);
    check_problem(&r, 413, "payload_too_large");
    char v[64];
    CHECK_STR(gt_header(&r, "connection", v, sizeof v), "close");
    CHECK(gt_closed(fd, 3000));
    close(fd);

    /* Chunked bodies too; an unknown path with a body is still a 404, and closed. */
    fd = gt_connect(port);
    REQUIRE(fd >= 0);
    REQUIRE(gt_exchange(fd,
                        "GET /nope HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n"
                        "5\r\nhello\r\n0\r\n\r\n",
                        &r, 3000) == 0);
    check_problem(&r, 404, "not_found");
    CHECK(gt_closed(fd, 3000));
    close(fd);
}

/* GET target (any length) with Connection: close. */
static int get_long(const char *target, gt_response_t *r)
{
    static char req[16384];
    snprintf(req, sizeof req, "GET %s HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n", target);
    return gt_request(port, req, r, 3000);
}

static void test_long_urls_are_414(void)
{
    setup();
    static char path[8192];
    gt_response_t r;
    memset(path, 'a', sizeof path);
    path[0] = '/';
    path[2049] = '\0'; /* one byte over the path limit */
    REQUIRE(get_long(path, &r) == 0);
    check_problem(&r, 414, "uri_too_long");
    /* The query has its own limit: 4096 bytes. */
    snprintf(path, sizeof path, "/healthz?q=");
    memset(path + 11, 'b', 4200);
    path[11 + 4200] = '\0';
    REQUIRE(get_long(path, &r) == 0);
    check_problem(&r, 414, "uri_too_long");
    path[11 + 3000] = '\0';
    REQUIRE(get_long(path, &r) == 0);
    CHECK_INT(r.status, 200);
}

/* Over 8 KiB of headers is a 431 problem; past lws's 16 KiB buffer the connection drops. */
static void test_large_heads(void)
{
    setup();
    static char req[24000];
    static char cookie[20001];
    memset(cookie, 'c', sizeof cookie - 1);
    cookie[9000] = '\0';
    snprintf(req, sizeof req, "GET /healthz HTTP/1.1\r\nHost: x\r\nCookie: %s\r\n\r\n", cookie);
    gt_response_t r;
    REQUIRE(gt_request(port, req, &r, 3000) == 0);
    check_problem(&r, 431, "request_header_fields_too_large");
    cookie[9000] = 'c';
    snprintf(req, sizeof req, "GET /healthz HTTP/1.1\r\nHost: x\r\nCookie: %s\r\n\r\n", cookie);
    int fd = gt_connect(port);
    REQUIRE(fd >= 0);
    CHECK(gt_exchange(fd, req, &r, 3000) != 0 || r.status >= 400);
    CHECK(gt_closed(fd, 3000));
    close(fd);
    /* 6 KiB is fine. */
    cookie[6000] = '\0';
    snprintf(req, sizeof req, "GET /healthz HTTP/1.1\r\nHost: x\r\nCookie: %s\r\n\r\n", cookie);
    REQUIRE(gt_request(port, req, &r, 3000) == 0);
    CHECK_INT(r.status, 200);
}

static void test_openapi_document_lists_the_production_routes(void)
{
    setup();
    gt_response_t r;
    REQUIRE(gt_get(port, "/api/openapi.json", NULL, &r, 3000) == 0);
    CHECK_INT(r.status, 200);
    cJSON *doc = cJSON_Parse(r.body);
    REQUIRE(doc != NULL);
    CHECK_STR(cJSON_GetStringValue(cJSON_GetObjectItem(doc, "openapi")), "3.1.0");
    cJSON *paths = cJSON_GetObjectItem(doc, "paths");
    /* The platform routes and the first auth routes (the count of all of them is checked
     * against $SRV.INFO below), and nothing of the test routes. */
    const char *const want[][2] = {
        {"/api/health", "get"},        {"/healthz", "get"},
        {"/readyz", "get"},            {"/api/openapi.json", "get"},
        {"/.well-known/jwks.json", "get"}, {"/api/auth/register", "post"},
        {"/api/auth/login", "post"},   {"/api/auth/refresh", "post"},
        {"/api/auth/logout", "post"},  {"/api/auth/me", "get"},
        {"/api/auth/me", "patch"},
    };
    size_t n = sizeof want / sizeof want[0];
    for (size_t i = 0; i < n; i++)
        CHECK_MSG(cJSON_GetObjectItem(cJSON_GetObjectItemCaseSensitive(paths, want[i][0]),
                                      want[i][1]),
                  "%s %s missing", want[i][1], want[i][0]);
    /* Every operation names its tier (x-mentis-tier) and every client or admin one says
     * it needs a bearer token. */
    cJSON *item, *op;
    cJSON_ArrayForEach(item, paths) cJSON_ArrayForEach(op, item)
    {
        const char *tier = cJSON_GetStringValue(cJSON_GetObjectItem(op, "x-mentis-tier"));
        CHECK_MSG(tier != NULL, "%s %s has no tier", op->string, item->string);
        if (tier != NULL && strcmp(tier, "public") != 0)
            CHECK_MSG(cJSON_GetArraySize(cJSON_GetObjectItem(op, "security")) == 1,
                      "%s %s has no security", op->string, item->string);
    }
    CHECK(cJSON_GetObjectItemCaseSensitive(paths, "/api/test/echo/fixed") == NULL);
    cJSON_Delete(doc);
}

static void test_keep_alive_serves_several_requests(void)
{
    setup();
    int fd = gt_connect(port);
    REQUIRE(fd >= 0);
    gt_response_t r;
    char first[64] = "", v[64];
    for (int i = 0; i < 5; i++) {
        const char *req = i % 2 ? "GET /nope HTTP/1.1\r\nHost: x\r\n\r\n"
                                : "GET /api/health HTTP/1.1\r\nHost: x\r\n\r\n";
        REQUIRE(gt_exchange(fd, req, &r, 3000) == 0);
        CHECK_INT(r.status, i % 2 ? 404 : 503);
        CHECK(gt_header(&r, "connection", v, sizeof v) == NULL);
        gt_header(&r, "x-request-id", v, sizeof v);
        CHECK(strcmp(first, v) != 0);
        snprintf(first, sizeof first, "%s", v);
    }
    /* Pipelined: three requests in one write, three answers in order. */
    REQUIRE(gt_exchange(fd,
                        "GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n"
                        "GET /api/health HTTP/1.1\r\nHost: x\r\n\r\n"
                        "GET /nope HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
                        &r, 3000) == 0);
    CHECK_INT(r.status, 200);
    REQUIRE(gt_exchange(fd, "", &r, 3000) == 0);
    CHECK_INT(r.status, 503);
    REQUIRE(gt_exchange(fd, "", &r, 3000) == 0);
    CHECK_INT(r.status, 404);
    CHECK(gt_closed(fd, 3000));
    close(fd);
}

static void test_admin_metrics(void)
{
    setup();
    gt_response_t r;
    REQUIRE(gt_get(port, "/api/health", NULL, &r, 3000) == 0);
    REQUIRE(gt_get(port, "/nope", NULL, &r, 3000) == 0);
    REQUIRE(gt_get(admin_port, "/metrics", NULL, &r, 3000) == 0);
    CHECK_INT(r.status, 200);
    const char *want[] = {
        "mentis_http_requests_total{method=\"GET\",route=\"/api/health\",code=\"5xx\"} ",
        "mentis_http_requests_total{method=\"GET\",route=\"none\",code=\"4xx\"} ",
        "mentis_http_requests_total{method=\"GET\",route=\"/healthz\",code=\"2xx\"} ",
        "mentis_http_request_duration_seconds_count{method=\"GET\",route=\"/api/health\"} ",
        "mentis_http_in_flight ",
        "mentis_http_route_in_flight{method=\"GET\",route=\"/api/health\"} 0",
        "mentis_gateway_rejected_total{reason=\"rate_limited\"} ",
        "mentis_gateway_connections ",
        "mentis_gateway_service_instances{service=\"kb\"} ",
        "process_resident_memory_bytes ",
    };
    for (size_t i = 0; i < sizeof want / sizeof want[0]; i++)
        CHECK_MSG(strstr(r.body, want[i]) != NULL, "no %s", want[i]);
    const char *p = strstr(r.body, want[0]);
    CHECK(p != NULL && atoi(p + strlen(want[0])) >= 1);
}

static void test_service_api_lists_the_gateway(void)
{
    setup();
    mentis_bus_options_t o = {.url = nats.url, .name = "test"};
    mentis_bus_t *bus = NULL;
    REQUIRE(mentis_bus_connect(&o, &bus) == MENTIS_OK);
    REQUIRE(mentis_bus_wait_connected(bus, 5000) == MENTIS_OK);
    mentis_msg_t *reply = NULL;
    REQUIRE(mentis_bus_request_sync(bus, "$SRV.INFO.gateway", NULL, 0, NULL, 0, 2000, &reply) ==
            MENTIS_OK);
    cJSON *doc = cJSON_ParseWithLength(mentis_msg_data(reply), mentis_msg_len(reply));
    mentis_msg_destroy(reply);
    REQUIRE(doc != NULL);
    CHECK_STR(cJSON_GetStringValue(cJSON_GetObjectItem(doc, "name")), "gateway");
    CHECK_STR(cJSON_GetStringValue(cJSON_GetObjectItem(doc, "id")), "gw-test-1");
    /* One endpoint per route: as many as the OpenAPI document has operations. */
    gt_response_t r;
    REQUIRE(gt_get(port, "/api/openapi.json", NULL, &r, 3000) == 0);
    cJSON *openapi = cJSON_Parse(r.body);
    int ops = 0;
    cJSON *item;
    cJSON_ArrayForEach(item, cJSON_GetObjectItem(openapi, "paths")) ops +=
        cJSON_GetArraySize(item);
    cJSON_Delete(openapi);
    cJSON *eps = cJSON_GetObjectItem(doc, "endpoints");
    CHECK(ops > 10);
    CHECK_INT(cJSON_GetArraySize(eps), ops);
    CHECK_STR(cJSON_GetStringValue(cJSON_GetObjectItem(cJSON_GetArrayItem(eps, 0), "subject")),
              "GET /api/health");
    cJSON_Delete(doc);
    REQUIRE(mentis_bus_request_sync(bus, "$SRV.STATS.gateway.gw-test-1", NULL, 0, NULL, 0, 2000,
                                    &reply) == MENTIS_OK);
    doc = cJSON_ParseWithLength(mentis_msg_data(reply), mentis_msg_len(reply));
    mentis_msg_destroy(reply);
    REQUIRE(doc != NULL);
    cJSON *health = cJSON_GetArrayItem(cJSON_GetObjectItem(doc, "endpoints"), 0);
    CHECK(cJSON_GetNumberValue(cJSON_GetObjectItem(health, "num_requests")) >= 1);
    CHECK(cJSON_GetNumberValue(cJSON_GetObjectItem(health, "num_errors")) >= 1);
    cJSON_Delete(doc);
    mentis_bus_close(bus);
}

/* Runs the gateway with one bad setting; returns its exit code and leaves its output in log. */
static int run_with(const char *setting, const char *log)
{
    char bin[512];
    const char *argv[] = {gt_build_path("gateway/mentis-gateway", bin, sizeof bin), NULL};
    const char *env[] = {setting, NULL};
    pid_t pid = h_spawn(argv, env, log);
    return pid < 0 ? -1 : h_wait_exit(pid, 10000);
}

static bool file_contains(const char *path, const char *text)
{
    static char buf[65536];
    FILE *f = fopen(path, "r");
    if (f == NULL)
        return false;
    size_t n = fread(buf, 1, sizeof buf - 1, f);
    fclose(f);
    buf[n] = '\0';
    return strstr(buf, text) != NULL;
}

static void test_bad_configuration_refuses_to_start(void)
{
    setup();
    const char *bad[] = {"MENTIS_GATEWAY_PORT=http",
                         "MENTIS_GATEWAY_PORT=70000",
                         "MENTIS_GATEWAY_ADDR=localhost",
                         "MENTIS_GATEWAY_HEALTH_TIMEOUT_MS=0",
                         "MENTIS_GATEWAY_DISCOVERY_INTERVAL_MS=x",
                         "MENTIS_SHUTDOWN_GRACE_MS=-1",
                         "MENTIS_LOG_LEVEL=loud",
                         "MENTIS_LOG_SAMPLE=2",
                         "MENTIS_INSTANCE_ID=a.b"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        char log[H_PATH_SIZE + 32], name[64];
        snprintf(log, sizeof log, "%s/bad-%zu.log", dir, i);
        snprintf(name, sizeof name, "%.*s", (int)(strchr(bad[i], '=') - bad[i]), bad[i]);
        CHECK_MSG(run_with(bad[i], log) == 2, "%s", bad[i]);
        CHECK_MSG(file_contains(log, name), "the message for %s names it", bad[i]);
    }
    /* A port already taken: a start-up failure (1) that says so. */
    char log[H_PATH_SIZE + 32], setting[64];
    snprintf(log, sizeof log, "%s/busy.log", dir);
    snprintf(setting, sizeof setting, "MENTIS_GATEWAY_PORT=%d", port);
    char bin[512];
    const char *argv[] = {gt_build_path("gateway/mentis-gateway", bin, sizeof bin), NULL};
    const char *env[] = {setting, "MENTIS_GATEWAY_ADDR=127.0.0.1", "MENTIS_ADMIN_PORT=0", NULL};
    pid_t pid = h_spawn(argv, env, log);
    CHECK_INT(h_wait_exit(pid, 10000), 1);
    CHECK(file_contains(log, "cannot listen on 127.0.0.1 port"));
}

/* Probes hit the admin port from the moment it listens, before NATS is even set up. */
static void test_admin_probes_while_starting(void)
{
    setup();
    for (int round = 0; round < 5; round++) {
        int p = h_free_port(), ap = h_free_port();
        char env_nats[128], env_port[64], env_admin[64], bin[512], log[H_PATH_SIZE + 32];
        snprintf(env_nats, sizeof env_nats, "MENTIS_NATS_URL=%s", nats.url);
        snprintf(env_port, sizeof env_port, "MENTIS_GATEWAY_PORT=%d", p);
        snprintf(env_admin, sizeof env_admin, "MENTIS_ADMIN_PORT=%d", ap);
        snprintf(log, sizeof log, "%s/starting-%d.log", dir, round);
        const char *argv[] = {gt_build_path("gateway/mentis-gateway", bin, sizeof bin), NULL};
        const char *env[] = {env_nats, env_port, env_admin, "MENTIS_GATEWAY_ADDR=127.0.0.1", NULL};
        pid_t pid = h_spawn(argv, env, log);
        REQUIRE(pid > 0);
        int status = 0, seen503 = 0;
        char body[512];
        long long t0 = h_now_ms();
        while (h_now_ms() - t0 < 10000) {
            if (h_http_get(ap, "/readyz", &status, body, sizeof body, 1000) == 0) {
                if (status == 200)
                    break;
                seen503 += status == 503;
            }
        }
        CHECK_INT(status, 200);
        (void)seen503;
        REQUIRE(h_kill(pid, SIGTERM) == 0);
        CHECK_INT(h_wait_exit(pid, 5000), 0);
    }
}

/* $SRV.PING floods the gateway's service API while it stops: its handlers must be done
 * before what they use is freed (exit 0 under ASan, every time). */
static atomic_bool flooding;

static void *flood(void *arg)
{
    mentis_bus_t *bus = arg;
    while (atomic_load(&flooding)) {
        for (int i = 0; i < 200; i++)
            mentis_bus_publish(bus, "$SRV.PING", "_INBOX.gateway-test-flood", NULL, 0, NULL, 0);
        h_sleep_ms(1);
    }
    return NULL;
}

static void test_stopping_under_service_api_traffic(void)
{
    setup();
    mentis_bus_options_t o = {.url = nats.url, .name = "flood"};
    mentis_bus_t *bus = NULL;
    REQUIRE(mentis_bus_connect(&o, &bus) == MENTIS_OK);
    REQUIRE(mentis_bus_wait_connected(bus, 5000) == MENTIS_OK);
    atomic_store(&flooding, true);
    pthread_t t;
    REQUIRE(pthread_create(&t, NULL, flood, bus) == 0);
    for (int round = 0; round < 10; round++) {
        char log[H_PATH_SIZE + 32];
        snprintf(log, sizeof log, "%s/flood-%d.log", dir, round);
        pid_t pid = gt_start_gateway(nats.url, h_free_port(), h_free_port(), NULL, log);
        CHECK(pid > 0);
        if (pid <= 0)
            break;
        h_sleep_ms(100);
        CHECK(h_kill(pid, SIGTERM) == 0);
        CHECK_INT(h_wait_exit(pid, 10000), 0);
    }
    atomic_store(&flooding, false);
    pthread_join(t, NULL);
    mentis_bus_close(bus);
}

static void test_sigterm_exits_zero_promptly(void)
{
    setup();
    /* An idle keep-alive connection must not hold the exit up. */
    int fd = gt_connect(port);
    REQUIRE(fd >= 0);
    gt_response_t r;
    REQUIRE(gt_exchange(fd, "GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n", &r, 3000) == 0);
    long long t0 = h_now_ms();
    REQUIRE(h_kill(gateway, SIGTERM) == 0);
    CHECK_INT(h_wait_exit(gateway, 5000), 0);
    CHECK_MSG(h_now_ms() - t0 < 2000, "took %lld ms", h_now_ms() - t0);
    CHECK(gt_closed(fd, 1000));
    close(fd);
    CHECK(gt_connect(port) < 0);
}

TEST_MAIN(test_health_with_no_services_is_down_at_once, test_probes, test_long_urls_are_414,
          test_large_heads,
          test_openapi_document_lists_the_production_routes,
          test_unknown_path_is_404_problem_with_the_request_id,
          test_invalid_request_ids_are_replaced, test_wrong_method_is_405_with_allow,
          test_options_and_head, test_bodies_are_refused_and_the_connection_closed,
          test_keep_alive_serves_several_requests, test_admin_metrics,
          test_service_api_lists_the_gateway, test_bad_configuration_refuses_to_start,
          test_admin_probes_while_starting, test_stopping_under_service_api_traffic,
          test_sigterm_exits_zero_promptly)
