/*
 * Upgrade requests against the real gateway built with AddressSanitizer
 * (mentis-gateway-testroutes, a real nats-server, an echo responder in this process).
 *
 * libwebsockets 4.1.6 frees a request's header table and then reads it again when a
 * keep-alive connection's next request carries an Upgrade value other than websocket/h2c
 * (CVE-2025-11677). These cases send that request, and every malformed or unexpected
 * WebSocket / h2c handshake, to each kind of route — built-in, health, forwarded, unknown
 * (404), wrong method (405) — with GET, POST and OPTIONS, on new and on reused
 * connections. Each must get a clear answer (a 400 problem, or lws's own 403 for values
 * lws refuses itself) and a closed connection; afterwards the gateway must still serve, its
 * log must hold no sanitizer report, and it must exit cleanly (no leak) on SIGTERM.
 */
#include <cjson/cJSON.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "check.h"
#include "harness.h"
#include "mentis/bus.h"
#include "test_gateway_support.h"

static h_nats_t nats;
static pid_t gateway;
static int port, admin_port;
static char dir[H_PATH_SIZE], log_path[H_PATH_SIZE + 32];
static mentis_bus_t *bus;
static mentis_bus_sub_t *echo_sub;

#define KEY "dGhlIHNhbXBsZSBub25jZQ==" /* RFC 6455's sample key: 16 bytes in base64 */
#define HANDSHAKE                                                                                  \
    "Upgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: " KEY                         \
    "\r\nSec-WebSocket-Version: 13\r\n"

/* A path of every kind of route, and the methods each is tried with. */
static const struct {
    const char *path;
    const char *kind;
} paths[] = {
    {"/healthz", "built-in"},
    {"/api/health", "health page"},
    {"/api/test/echo/abc", "forwarded"},
    {"/api/test/echo/abc/items/q1", "forwarded, POST only (405 for GET)"},
    {"/api/no/such/route", "unknown (404)"},
};
static const char *const methods[] = {"GET", "POST", "OPTIONS"};
#define NPATHS   (sizeof paths / sizeof paths[0])
#define NMETHODS (sizeof methods / sizeof methods[0])

static void on_echo(void *arg, mentis_msg_t *msg)
{
    (void)arg;
    /* EchoResponse has EchoRequest's fields: the request's bytes are a valid answer. */
    mentis_bus_reply(bus, msg, NULL, 0, mentis_msg_data(msg), mentis_msg_len(msg));
    mentis_msg_destroy(msg);
}

static void setup(void)
{
    static bool done;
    if (done)
        return;
    done = true;
    if (h_nats_start(&nats) != 0 || h_tmpdir("gw-upgrade", dir, sizeof dir) != 0)
        abort();
    mentis_bus_options_t o = {.url = nats.url, .name = "gwtest-echo"};
    if (mentis_bus_connect(&o, &bus) != MENTIS_OK ||
        mentis_bus_wait_connected(bus, 5000) != MENTIS_OK ||
        mentis_bus_subscribe(bus, "mentis.v1.gwtest.echo", NULL, on_echo, NULL, &echo_sub) !=
            MENTIS_OK)
        abort();
    port = h_free_port();
    admin_port = h_free_port();
    snprintf(log_path, sizeof log_path, "%s/gateway.log", dir);
    /* Some thousand requests from one address: room enough that no rate limit answers. */
    static const char *const env[] = {"MENTIS_GATEWAY_RATE_UNAUTHENTICATED=100000/min",
                                      "MENTIS_GATEWAY_RATE_AUTHENTICATED=100000/min", NULL};
    gateway = gt_start_gateway_binary("gateway/mentis-gateway-testroutes", nats.url, port,
                                      admin_port, env, log_path);
    if (gateway < 0)
        abort();
}

/*
 * Whether the gateway's log holds a sanitizer report (the gateway writes stderr there);
 * the report's first lines are copied to stderr, as the log goes with the test's directory.
 */
static bool log_has_sanitizer_report(void)
{
    FILE *f = fopen(log_path, "r");
    if (f == NULL)
        return true;
    char line[4096];
    int shown = 0;
    bool found = false;
    while (fgets(line, sizeof line, f) != NULL) {
        if (strstr(line, "ERROR: AddressSanitizer") || strstr(line, "ERROR: LeakSanitizer") ||
            strstr(line, "runtime error:"))
            found = true;
        if (found && shown < 12) {
            fprintf(stderr, "gateway: %s", line);
            shown++;
        }
    }
    fclose(f);
    return found;
}

/* The gateway is alive, serves a built-in and a forwarded route, and has reported nothing. */
static void check_gateway_healthy(const char *after)
{
    siginfo_t info;
    memset(&info, 0, sizeof info);
    /* Looks without reaping: a crashed gateway stays a zombie that kill(pid, 0) accepts. */
    int rc = waitid(P_PID, (id_t)gateway, &info, WEXITED | WNOHANG | WNOWAIT);
    CHECK_MSG(rc == 0 && info.si_pid == 0, "the gateway died after %s", after);
    CHECK_MSG(!log_has_sanitizer_report(), "sanitizer report after %s (see %s)", after, log_path);
    gt_response_t r;
    CHECK_MSG(gt_get(port, "/healthz", NULL, &r, 3000) == 0 && r.status == 200,
              "/healthz after %s: %d", after, r.status);
    CHECK_MSG(gt_get(port, "/api/test/echo/abc", NULL, &r, 3000) == 0 && r.status == 200,
              "forwarded route after %s: %d", after, r.status);
}

/*
 * Sends `request` on fd and checks the answer: a 400 problem with `code` (its request_id
 * the X-Request-Id header), Connection: close, then the connection closed. `what` names
 * the case in failures.
 */
static void expect_problem(int fd, const char *request, const char *code, const char *what)
{
    gt_response_t r;
    char v[256], rid[256];
    int rc = gt_exchange(fd, request, &r, 5000);
    CHECK_MSG(rc == 0, "%s: no answer", what);
    if (rc != 0)
        return;
    CHECK_MSG(r.status == 400, "%s: status %d", what, r.status);
    const char *ct = gt_header(&r, "content-type", v, sizeof v);
    CHECK_MSG(ct && strcmp(ct, "application/problem+json") == 0, "%s: content-type %s", what,
              ct ? ct : "(none)");
    const char *conn = gt_header(&r, "connection", v, sizeof v);
    CHECK_MSG(conn && strcmp(conn, "close") == 0, "%s: connection %s", what,
              conn ? conn : "(none)");
    cJSON *doc = cJSON_Parse(r.body);
    CHECK_MSG(doc != NULL, "%s: body is not JSON: %s", what, r.body);
    if (doc != NULL) {
        const char *got = cJSON_GetStringValue(cJSON_GetObjectItem(doc, "code"));
        CHECK_MSG(got && strcmp(got, code) == 0, "%s: code %s, want %s (%s)", what,
                  got ? got : "(none)", code,
                  cJSON_GetStringValue(cJSON_GetObjectItem(doc, "detail")));
        CHECK_INT(cJSON_GetNumberValue(cJSON_GetObjectItem(doc, "status")), 400);
        const char *detail = cJSON_GetStringValue(cJSON_GetObjectItem(doc, "detail"));
        CHECK(detail != NULL && detail[0] != '\0');
        CHECK_STR(cJSON_GetStringValue(cJSON_GetObjectItem(doc, "request_id")),
                  gt_header(&r, "x-request-id", rid, sizeof rid));
        cJSON_Delete(doc);
    }
    CHECK_MSG(gt_closed(fd, 3000), "%s: the connection stayed open", what);
}

/* A keep-alive request the gateway answers normally, so the next one reuses the connection. */
static int warm_connection(void)
{
    int fd = gt_connect(port);
    if (fd < 0)
        return -1;
    gt_response_t r;
    if (gt_exchange(fd, "GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n", &r, 3000) != 0 ||
        r.status != 200) {
        close(fd);
        return -1;
    }
    return fd;
}

/* `request` on a new connection, and again as the second request of a keep-alive one. */
static void expect_problem_both_ways(const char *request, const char *code, const char *what)
{
    char name[512];
    int fd = gt_connect(port);
    CHECK(fd >= 0);
    if (fd >= 0) {
        snprintf(name, sizeof name, "%s (new connection)", what);
        expect_problem(fd, request, code, name);
        close(fd);
    }
    fd = warm_connection();
    CHECK(fd >= 0);
    if (fd >= 0) {
        snprintf(name, sizeof name, "%s (reused connection)", what);
        expect_problem(fd, request, code, name);
        close(fd);
    }
}

/*
 * The CVE's request: an Upgrade value lws does not know, as the second request of a
 * keep-alive connection. lws answers 403 itself before the gateway can see the request;
 * what matters is that the connection is then closed and the gateway lives on.
 */
static void test_unknown_upgrade_values_on_reused_connections(void)
{
    setup();
    static const char *const headers[] = {
        "Upgrade: foo\r\n",
        "Upgrade: websocket, foo\r\nConnection: Upgrade\r\n",
        "Upgrade: h2c, websocket\r\nConnection: Upgrade\r\n",
        "Upgrade: WebSocket/13\r\n"
        "Connection: Upgrade\r\nSec-WebSocket-Key: " KEY "\r\n",
        "Upgrade: websocket2\r\n",
        "Upgrade: foo\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n",
        "Upgrade: HTTP/2.0\r\nConnection: Upgrade\r\n",
        "Upgrade: \x7f\r\n",
    };
    char what[256] = "the start";
    for (size_t h = 0; h < sizeof headers / sizeof headers[0]; h++)
        for (size_t p = 0; p < NPATHS; p++)
            for (size_t m = 0; m < NMETHODS; m++) {
                int fd = warm_connection();
                if (fd < 0)
                    check_gateway_healthy(what); /* says why: a crash, a sanitizer report */
                REQUIRE(fd >= 0);
                char req[1024];
                snprintf(req, sizeof req, "%s %s HTTP/1.1\r\nHost: x\r\n%s\r\n", methods[m],
                         paths[p].path, headers[h]);
                snprintf(what, sizeof what, "%s %s (%s) with header set %zu", methods[m],
                         paths[p].path, paths[p].kind, h);
                gt_response_t r;
                if (gt_exchange(fd, req, &r, 3000) == 0)
                    CHECK_MSG(r.status == 403 || r.status == 400, "%s: status %d", what, r.status);
                CHECK_MSG(gt_closed(fd, 3000), "%s: the connection stayed open", what);
                close(fd);
            }
    check_gateway_healthy("unknown Upgrade values on reused connections");
}

/* The same value on a new connection, and with a request pipelined behind it. */
static void test_unknown_upgrade_values_new_and_pipelined(void)
{
    setup();
    gt_response_t r;
    int fd = gt_connect(port);
    REQUIRE(fd >= 0);
    CHECK(gt_exchange(fd, "GET /healthz HTTP/1.1\r\nHost: x\r\nUpgrade: foo\r\n\r\n", &r, 3000) ==
              0 &&
          r.status == 403);
    CHECK(gt_closed(fd, 3000));
    close(fd);

    /* lws keeps (and resets) the header table when more bytes wait: the pipelined request
     * must not be served on a connection whose previous request was refused. */
    fd = warm_connection();
    REQUIRE(fd >= 0);
    CHECK(gt_exchange(fd,
                      "GET /healthz HTTP/1.1\r\nHost: x\r\nUpgrade: foo\r\n\r\n"
                      "GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n",
                      &r, 3000) == 0 &&
          r.status == 403);
    CHECK(gt_closed(fd, 3000));
    close(fd);
    check_gateway_healthy("unknown Upgrade values on new and pipelined connections");
}

/* One malformed or refused handshake: extra header lines, and the code a GET gets. */
static const struct {
    const char *name;
    const char *headers; /* header lines after Host, each ending in \r\n */
    const char *code;    /* for GET on any path */
} handshakes[] = {
    {"a valid handshake (no channel at the path)", HANDSHAKE, "upgrade_not_allowed"},
    {"upper-case Upgrade value",
     "Upgrade: WEBSOCKET\r\nConnection: upgrade\r\nSec-WebSocket-Key: " KEY
     "\r\nSec-WebSocket-Version: 13\r\n",
     "upgrade_not_allowed"},
    {"a protocol naming the listener", HANDSHAKE "Sec-WebSocket-Protocol: mentis-listen\r\n",
     "upgrade_not_allowed"},
    {"no Connection",
     "Upgrade: websocket\r\nSec-WebSocket-Key: " KEY "\r\nSec-WebSocket-Version: 13\r\n",
     "invalid_upgrade"},
    {"Connection without upgrade",
     "Upgrade: websocket\r\nConnection: keep-alive\r\nSec-WebSocket-Key: " KEY
     "\r\nSec-WebSocket-Version: 13\r\n",
     "invalid_upgrade"},
    {"Connection with a prefix of upgrade",
     "Upgrade: websocket\r\nConnection: up\r\nSec-WebSocket-Key: " KEY
     "\r\nSec-WebSocket-Version: 13\r\n",
     "invalid_upgrade"},
    {"Connection repeated", HANDSHAKE "Connection: Upgrade\r\n", "invalid_upgrade"},
    {"no key", "Upgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Version: 13\r\n",
     "invalid_upgrade"},
    {"empty key",
     "Upgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key:\r\n"
     "Sec-WebSocket-Version: 13\r\n",
     "invalid_upgrade"},
    {"short key",
     "Upgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: abc\r\n"
     "Sec-WebSocket-Version: 13\r\n",
     "invalid_upgrade"},
    {"key not base64",
     "Upgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: !!!!!!!!!!!!!!!!!!!!!!==\r\n"
     "Sec-WebSocket-Version: 13\r\n",
     "invalid_upgrade"},
    {"key of 17 bytes",
     "Upgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZSE=\r\n"
     "Sec-WebSocket-Version: 13\r\n",
     "invalid_upgrade"},
    {"key repeated", HANDSHAKE "Sec-WebSocket-Key: " KEY "\r\n", "invalid_upgrade"},
    {"no version", "Upgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: " KEY "\r\n",
     "invalid_upgrade"},
    {"version 8",
     "Upgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: " KEY
     "\r\nSec-WebSocket-Version: 8\r\n",
     "invalid_upgrade"},
    {"version list",
     "Upgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: " KEY
     "\r\nSec-WebSocket-Version: 13, 8\r\n",
     "invalid_upgrade"},
    {"empty version",
     "Upgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: " KEY
     "\r\nSec-WebSocket-Version:\r\n",
     "invalid_upgrade"},
    {"version repeated", HANDSHAKE "Sec-WebSocket-Version: 13\r\n", "invalid_upgrade"},
    {"Upgrade repeated", HANDSHAKE "Upgrade: websocket\r\n", "invalid_upgrade"},
    {"Upgrade websocket then foo", HANDSHAKE "Upgrade: foo\r\n", "invalid_upgrade"},
    {"empty protocol", HANDSHAKE "Sec-WebSocket-Protocol:\r\n", "invalid_upgrade"},
    {"protocol list with a hole", HANDSHAKE "Sec-WebSocket-Protocol: chat,,superchat\r\n",
     "invalid_upgrade"},
    {"protocol with a space", HANDSHAKE "Sec-WebSocket-Protocol: super chat\r\n",
     "invalid_upgrade"},
    {"protocol repeated",
     HANDSHAKE "Sec-WebSocket-Protocol: chat\r\nSec-WebSocket-Protocol: chat\r\n",
     "invalid_upgrade"},
    {"empty extensions", HANDSHAKE "Sec-WebSocket-Extensions:\r\n", "invalid_upgrade"},
    {"extensions not a list", HANDSHAKE "Sec-WebSocket-Extensions: {permessage-deflate}\r\n",
     "invalid_upgrade"},
    {"extensions repeated",
     HANDSHAKE "Sec-WebSocket-Extensions: permessage-deflate\r\n"
               "Sec-WebSocket-Extensions: permessage-deflate\r\n",
     "invalid_upgrade"},
    {"HTTP2-Settings on a WebSocket handshake", HANDSHAKE "HTTP2-Settings: AAMAAABkAAQAAP__\r\n",
     "invalid_upgrade"},
    {"pre-RFC 6455 keys", HANDSHAKE "Sec-WebSocket-Key1: 4 @1  46546xW%0l 1 5\r\n",
     "invalid_upgrade"},
    {"a body", HANDSHAKE "Content-Length: 5\r\n\r\nhello", "invalid_upgrade"},
    {"h2c with HTTP2-Settings",
     "Upgrade: h2c\r\nConnection: Upgrade, HTTP2-Settings\r\nHTTP2-Settings: AAMAAABkAAQAAP__\r\n",
     "upgrade_not_allowed"},
    {"h2c without HTTP2-Settings", "Upgrade: h2c\r\nConnection: Upgrade\r\n",
     "upgrade_not_allowed"},
    {"H2C in capitals", "Upgrade: H2C\r\nConnection: Upgrade, HTTP2-Settings\r\n",
     "upgrade_not_allowed"},
};

/* A request: method, path, version, then Host and the case's headers. */
static void build(char *buf, size_t size, const char *method, const char *path, const char *version,
                  const char *headers)
{
    /* A case with a body carries its own blank line. */
    bool has_body = strstr(headers, "\r\n\r\n") != NULL;
    snprintf(buf, size, "%s %s %s\r\nHost: x\r\n%s%s", method, path, version, headers,
             has_body ? "" : "\r\n");
}

static void test_malformed_handshakes_are_400_problems(void)
{
    setup();
    for (size_t c = 0; c < sizeof handshakes / sizeof handshakes[0]; c++)
        for (size_t p = 0; p < NPATHS; p++)
            for (size_t m = 0; m < NMETHODS; m++) {
                char req[4096], what[512];
                build(req, sizeof req, methods[m], paths[p].path, "HTTP/1.1",
                      handshakes[c].headers);
                snprintf(what, sizeof what, "%s %s (%s): %s", methods[m], paths[p].path,
                         paths[p].kind, handshakes[c].name);
                /* Only a GET can be a WebSocket handshake; h2c is refused on any method
                 * and repeated headers before anything else. */
                const char *code = handshakes[c].code;
                if (strcmp(methods[m], "GET") != 0 && strcmp(code, "upgrade_not_allowed") == 0 &&
                    strstr(handshakes[c].headers, "h2c") == NULL &&
                    strstr(handshakes[c].headers, "H2C") == NULL)
                    code = "invalid_upgrade";
                expect_problem_both_ways(req, code, what);
            }
    check_gateway_healthy("malformed handshakes");
}

static void test_handshakes_with_the_wrong_version_or_method(void)
{
    setup();
    char req[1024];
    build(req, sizeof req, "GET", "/healthz", "HTTP/1.0", HANDSHAKE);
    expect_problem_both_ways(req, "invalid_upgrade", "a handshake over HTTP/1.0");
    build(req, sizeof req, "DELETE", "/healthz", "HTTP/1.1", HANDSHAKE);
    expect_problem_both_ways(req, "invalid_upgrade", "a DELETE handshake (405 route)");

    /* HEAD: the problem's headers without its body. */
    gt_response_t r;
    char v[64];
    int fd = gt_connect(port);
    REQUIRE(fd >= 0);
    build(req, sizeof req, "HEAD", "/healthz", "HTTP/1.1", HANDSHAKE);
    REQUIRE(gt_exchange(fd, req, &r, 3000) == 0);
    CHECK_INT(r.status, 400);
    CHECK_STR(gt_header(&r, "content-type", v, sizeof v), "application/problem+json");
    CHECK_STR(gt_header(&r, "connection", v, sizeof v), "close");
    CHECK(gt_closed(fd, 3000)); /* and no body before the end */
    close(fd);

    /* A wrong version is answered with the version the gateway would speak (RFC 6455). */
    fd = gt_connect(port);
    REQUIRE(fd >= 0);
    build(req, sizeof req, "GET", "/healthz", "HTTP/1.1",
          "Upgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: " KEY
          "\r\nSec-WebSocket-Version: 8\r\n");
    REQUIRE(gt_exchange(fd, req, &r, 3000) == 0);
    CHECK_INT(r.status, 400);
    CHECK_STR(gt_header(&r, "sec-websocket-version", v, sizeof v), "13");
    CHECK_STR(gt_header(&r, "x-content-type-options", v, sizeof v), "nosniff");
    CHECK(strncmp(r.head, "HTTP/1.1 400 ", 13) == 0);
    close(fd);
    check_gateway_healthy("handshakes with the wrong version or method");
}

/* Huge values: refused with a problem while the head fits lws's buffer, closed beyond. */
static void test_huge_handshake_headers(void)
{
    setup();
    static const char *const names[] = {"Sec-WebSocket-Key", "Sec-WebSocket-Protocol",
                                        "Sec-WebSocket-Extensions", "Connection",
                                        "Sec-WebSocket-Version"};
    char big[4001];
    memset(big, 'A', sizeof big - 1);
    big[sizeof big - 1] = '\0';
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++) {
        char headers[4400], req[5120], what[128];
        snprintf(headers, sizeof headers, "Upgrade: websocket\r\n%s%s%s%s: %s\r\n",
                 strcmp(names[i], "Connection") ? "Connection: Upgrade\r\n" : "",
                 strcmp(names[i], "Sec-WebSocket-Key") ? "Sec-WebSocket-Key: " KEY "\r\n" : "",
                 strcmp(names[i], "Sec-WebSocket-Version") ? "Sec-WebSocket-Version: 13\r\n" : "",
                 names[i], big);
        build(req, sizeof req, "GET", "/api/test/echo/abc", "HTTP/1.1", headers);
        snprintf(what, sizeof what, "a 4000-byte %s", names[i]);
        expect_problem_both_ways(req, "invalid_upgrade", what);
    }
    /* Past the header buffer lws drops the connection itself, before any callback. */
    static char huge[20000];
    memset(huge, 'A', sizeof huge - 1);
    static char req[20400];
    snprintf(req, sizeof req,
             "GET /healthz HTTP/1.1\r\nHost: x\r\n" HANDSHAKE "Sec-WebSocket-Protocol: %s\r\n\r\n",
             huge);
    int fd = gt_connect(port);
    REQUIRE(fd >= 0);
    gt_response_t r;
    if (gt_exchange(fd, req, &r, 3000) == 0)
        CHECK_MSG(r.status >= 400, "status %d", r.status);
    CHECK(gt_closed(fd, 3000));
    close(fd);
    check_gateway_healthy("huge handshake headers");
}

/* Upgrade headers lws does not act on reach the gateway as plain requests: refused too. */
static void test_stray_upgrade_headers_on_plain_requests(void)
{
    setup();
    static const char *const headers[] = {
        "Upgrade:\r\n",
        "Upgrade:   \r\n",
        "Upgrade:\r\nConnection: Upgrade\r\n",
        "Sec-WebSocket-Key: " KEY "\r\n",
        "Sec-WebSocket-Version: 13\r\n",
        "Sec-WebSocket-Protocol: chat\r\n",
        "Sec-WebSocket-Extensions: permessage-deflate\r\n",
        "HTTP2-Settings: AAMAAABkAAQAAP__\r\n",
    };
    for (size_t h = 0; h < sizeof headers / sizeof headers[0]; h++)
        for (size_t p = 0; p < NPATHS; p++)
            for (size_t m = 0; m < NMETHODS; m++) {
                char req[1024], what[256];
                build(req, sizeof req, methods[m], paths[p].path, "HTTP/1.1", headers[h]);
                snprintf(what, sizeof what, "%s %s (%s) with %.*s", methods[m], paths[p].path,
                         paths[p].kind, (int)strcspn(headers[h], "\r"), headers[h]);
                expect_problem_both_ways(req, "invalid_upgrade", what);
            }

    /* Connection: upgrade without an Upgrade header is no upgrade (some proxies send it on
     * every request): the request is served as usual. */
    gt_response_t r;
    REQUIRE(gt_request(
                port, "GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: keep-alive, Upgrade\r\n\r\n",
                &r, 3000) == 0);
    CHECK_INT(r.status, 200);
    REQUIRE(gt_request(port,
                       "GET /api/no/such/route HTTP/1.1\r\nHost: x\r\nConnection: upgrade\r\n\r\n",
                       &r, 3000) == 0);
    CHECK_INT(r.status, 404);
    check_gateway_healthy("stray upgrade headers");
}

/* The gateway ends cleanly: exit code 0 means no leak report either. */
static void test_exits_cleanly(void)
{
    setup();
    check_gateway_healthy("every case");
    REQUIRE(h_kill(gateway, SIGTERM) == 0);
    CHECK_INT(h_wait_exit(gateway, 10000), 0);
    CHECK_MSG(!log_has_sanitizer_report(), "sanitizer report at exit (see %s)", log_path);
    mentis_bus_unsubscribe(echo_sub, false, 1000);
    mentis_bus_close(bus);
}

TEST_MAIN(test_unknown_upgrade_values_on_reused_connections,
          test_unknown_upgrade_values_new_and_pipelined, test_malformed_handshakes_are_400_problems,
          test_handshakes_with_the_wrong_version_or_method, test_huge_handshake_headers,
          test_stray_upgrade_headers_on_plain_requests, test_exits_cleanly)
