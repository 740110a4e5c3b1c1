/* The admin listener: parsing, the three endpoints, refusals and slow clients. */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include "check.h"
#include "harness.h"
#include "mentis/admin.h"

static void test_parse_request(void)
{
    char m[16], p[64];
    const char *ok = "GET /metrics?x=1 HTTP/1.1\r\nHost: a\r\n\r\n";
    CHECK_INT(mentis_admin_parse_request(ok, strlen(ok), m, sizeof m, p, sizeof p), MENTIS_OK);
    CHECK_STR(m, "GET");
    CHECK_STR(p, "/metrics");
    const char *lf = "HEAD /healthz HTTP/1.0\n\n";
    CHECK_INT(mentis_admin_parse_request(lf, strlen(lf), m, sizeof m, p, sizeof p), MENTIS_OK);
    CHECK_STR(m, "HEAD");
    static const char *const bad[] = {
        "GET /x\r\n\r\n",              /* no version */
        "GET /x HTTP/2.0\r\n\r\n",     /* not 1.x */
        "get /x HTTP/1.1\r\n\r\n",     /* method case */
        "GET x HTTP/1.1\r\n\r\n",      /* not a path */
        " /x HTTP/1.1\r\n\r\n",        /* no method */
        "GET /a b HTTP/1.1\r\n\r\n",   /* space in target */
        "GET /\x01 HTTP/1.1\r\n\r\n",  /* control byte */
        "GET /x HTTP/1.1",             /* no line end */
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        CHECK_MSG(mentis_admin_parse_request(bad[i], strlen(bad[i]), m, sizeof m, p, sizeof p) ==
                      MENTIS_ERR_INVALID_ARGUMENT,
                  "accepted bad request %zu", i);
    char longpath[200];
    snprintf(longpath, sizeof longpath, "GET /%0150d HTTP/1.1\r\n\r\n", 0);
    CHECK_INT(mentis_admin_parse_request(longpath, strlen(longpath), m, sizeof m, p, sizeof p),
              MENTIS_ERR_TOO_LARGE);
}

static bool ready_flag;
static bool ready(void *arg, char *why, size_t size)
{
    (void)arg;
    snprintf(why, size, "waiting for \"the\" database");
    return ready_flag;
}

/* Sends raw bytes and returns what came back (up to size-1 bytes). */
static int raw(int port, const char *req, size_t len, char *out, size_t size)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
    inet_pton(AF_INET, "127.0.0.1", &sa.sin_addr);
    if (connect(fd, (struct sockaddr *)&sa, sizeof sa) != 0) {
        close(fd);
        return -1;
    }
    if (len)
        send(fd, req, len, MSG_NOSIGNAL);
    size_t got = 0;
    ssize_t n;
    struct timeval tv = {.tv_sec = 8};
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    while (got < size - 1 && (n = recv(fd, out + got, size - 1 - got, 0)) > 0)
        got += (size_t)n;
    out[got] = '\0';
    close(fd);
    return (int)got;
}

static void test_endpoints(void)
{
    mentis_metrics_t *reg = NULL;
    REQUIRE(mentis_metrics_create(&reg) == MENTIS_OK);
    mentis_counter_inc(mentis_metrics_counter(reg, "mentis_test_total", "A test counter", NULL, NULL));
    mentis_admin_t *admin = NULL;
    mentis_admin_options_t o = {.port = 0, .metrics = reg, .ready = ready};
    REQUIRE(mentis_admin_start(&o, &admin) == MENTIS_OK);
    int port = mentis_admin_port(admin);
    CHECK(port > 0);
    int status = 0;
    static char body[8192];
    REQUIRE(h_http_get(port, "/healthz", &status, body, sizeof body, 2000) == 0);
    CHECK_INT(status, 200);
    ready_flag = false;
    REQUIRE(h_http_get(port, "/readyz", &status, body, sizeof body, 2000) == 0);
    CHECK_INT(status, 503);
    CHECK(strstr(body, "\"detail\":\"waiting for  the  database\"") != NULL); /* kept JSON-safe */
    ready_flag = true;
    REQUIRE(h_http_get(port, "/readyz", &status, body, sizeof body, 2000) == 0);
    CHECK_INT(status, 200);
    REQUIRE(h_http_get(port, "/metrics", &status, body, sizeof body, 2000) == 0);
    CHECK_INT(status, 200);
    CHECK(strstr(body, "# TYPE mentis_test_total counter\nmentis_test_total 1\n") != NULL);
    REQUIRE(h_http_get(port, "/nope", &status, body, sizeof body, 2000) == 0);
    CHECK_INT(status, 404);
    CHECK(strstr(body, "\"code\":\"not_found\"") != NULL);

    char out[2048];
    const char *post = "POST /metrics HTTP/1.1\r\n\r\n";
    REQUIRE(raw(port, post, strlen(post), out, sizeof out) > 0);
    CHECK(strncmp(out, "HTTP/1.1 405", 12) == 0);
    CHECK(strstr(out, "Allow: GET\r\n") != NULL);
    const char *junk = "\x16\x03\x01 hello\r\n\r\n";
    REQUIRE(raw(port, junk, strlen(junk), out, sizeof out) > 0);
    CHECK(strncmp(out, "HTTP/1.1 400", 12) == 0);
    char *huge = malloc(10000);
    memcpy(huge, "GET /metrics HTTP/1.1\r\nX: ", 26);
    memset(huge + 26, 'a', 10000 - 26);
    REQUIRE(raw(port, huge, 10000, out, sizeof out) > 0);
    CHECK(strncmp(out, "HTTP/1.1 431", 12) == 0);
    free(huge);

    /* A client that connects and says nothing is cut after the timeout, and meanwhile
     * others are still served. */
    int idle = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
    inet_pton(AF_INET, "127.0.0.1", &sa.sin_addr);
    REQUIRE(connect(idle, (struct sockaddr *)&sa, sizeof sa) == 0);
    long long t0 = h_now_ms();
    REQUIRE(h_http_get(port, "/healthz", &status, NULL, 0, 2000) == 0);
    CHECK_INT(status, 200);
    CHECK(h_now_ms() - t0 < 1000);
    char c;
    struct timeval tv = {.tv_sec = 10};
    setsockopt(idle, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    t0 = h_now_ms();
    CHECK_INT(recv(idle, &c, 1, 0), 0); /* closed by the server */
    long long waited = h_now_ms() - t0;
    CHECK_MSG(waited < 7000, "idle connection held for %lld ms", waited);
    close(idle);

    mentis_admin_stop(admin);
    mentis_admin_stop(NULL);
    mentis_metrics_destroy(reg);
}

static void test_port_in_use(void)
{
    mentis_admin_t *a = NULL, *b = NULL;
    mentis_admin_options_t o = {.port = 0};
    REQUIRE(mentis_admin_start(&o, &a) == MENTIS_OK);
    o.port = mentis_admin_port(a);
    CHECK_INT(mentis_admin_start(&o, &b), MENTIS_ERR_IO);
    CHECK(strstr(mentis_err_msg(), "cannot listen on 127.0.0.1") != NULL);
    o.addr = "not-an-ip";
    CHECK_INT(mentis_admin_start(&o, &b), MENTIS_ERR_INVALID_ARGUMENT);
    mentis_admin_stop(a);
}

TEST_MAIN(test_parse_request, test_endpoints, test_port_in_use)
