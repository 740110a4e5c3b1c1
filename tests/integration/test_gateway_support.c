/* Shared by the gateway tests: a raw HTTP/1.1 client and the gateway launcher. */
#include "test_gateway_support.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <unistd.h>

#include "harness.h"

int gt_connect(int port)
{
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return -1;
    struct sockaddr_in sa;
    memset(&sa, 0, sizeof sa);
    sa.sin_family = AF_INET;
    sa.sin_port = htons((uint16_t)port);
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (connect(fd, (struct sockaddr *)&sa, sizeof sa) != 0) {
        close(fd);
        return -1;
    }
    return fd;
}

/* Reads what is available before the deadline into buf; bytes read, 0 on EOF, -1 on timeout. */
static ssize_t read_some(int fd, char *buf, size_t size, long long deadline)
{
    for (;;) {
        long long left = deadline - h_now_ms();
        if (left <= 0)
            return -1;
        struct pollfd p = {.fd = fd, .events = POLLIN};
        int n = poll(&p, 1, (int)left);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            return -1;
        ssize_t got = recv(fd, buf, size, 0);
        if (got < 0 && errno == EINTR)
            continue;
        return got < 0 ? 0 : got;
    }
}

int gt_exchange(int fd, const char *request, gt_response_t *r, int timeout_ms)
{
    long long deadline = h_now_ms() + timeout_ms;
    memset(r, 0, sizeof *r);
    size_t len = strlen(request);
    for (size_t off = 0; off < len;) {
        ssize_t n = send(fd, request + off, len - off, MSG_NOSIGNAL);
        if (n <= 0)
            return -1;
        off += (size_t)n;
    }
    bool head_request = strncmp(request, "HEAD ", 5) == 0;

    /* The head, byte by byte past what we need: a second response may follow on fd. */
    size_t hl = 0;
    while (hl < sizeof r->head - 1) {
        ssize_t n = read_some(fd, r->head + hl, 1, deadline);
        if (n <= 0)
            return -1;
        hl++;
        if (hl >= 4 && memcmp(r->head + hl - 4, "\r\n\r\n", 4) == 0)
            break;
    }
    r->head[hl] = '\0';
    if (sscanf(r->head, "HTTP/1.%*d %d", &r->status) != 1)
        return -1;
    char cl[32];
    size_t want = 0;
    if (gt_header(r, "content-length", cl, sizeof cl))
        want = strtoul(cl, NULL, 10);
    if (head_request || r->status == 204 || r->status == 304)
        want = 0;
    if (want > sizeof r->body - 1)
        return -1;
    while (r->body_len < want) {
        ssize_t n = read_some(fd, r->body + r->body_len, want - r->body_len, deadline);
        if (n <= 0)
            return -1;
        r->body_len += (size_t)n;
    }
    r->body[r->body_len] = '\0';
    return 0;
}

int gt_request(int port, const char *request, gt_response_t *r, int timeout_ms)
{
    int fd = gt_connect(port);
    if (fd < 0)
        return -1;
    int rc = gt_exchange(fd, request, r, timeout_ms);
    close(fd);
    return rc;
}

int gt_get(int port, const char *path, const char *extra_headers, gt_response_t *r, int timeout_ms)
{
    char req[2048];
    snprintf(req, sizeof req, "GET %s HTTP/1.1\r\nHost: 127.0.0.1\r\n%sConnection: close\r\n\r\n",
             path, extra_headers ? extra_headers : "");
    return gt_request(port, req, r, timeout_ms);
}

const char *gt_header(const gt_response_t *r, const char *name, char *buf, size_t size)
{
    size_t nlen = strlen(name);
    const char *line = strstr(r->head, "\r\n");
    while (line != NULL) {
        line += 2;
        const char *end = strstr(line, "\r\n");
        if (end == NULL || end == line)
            return NULL;
        if ((size_t)(end - line) > nlen && line[nlen] == ':' &&
            strncasecmp(line, name, nlen) == 0) {
            const char *v = line + nlen + 1;
            while (*v == ' ')
                v++;
            snprintf(buf, size, "%.*s", (int)(end - v), v);
            return buf;
        }
        line = end;
    }
    return NULL;
}

bool gt_closed(int fd, int timeout_ms)
{
    char c;
    return read_some(fd, &c, 1, h_now_ms() + timeout_ms) == 0;
}

const char *gt_build_path(const char *rel, char *buf, size_t size)
{
    const char *dir = getenv("MENTIS_BUILD_DIR");
    snprintf(buf, size, "%s/%s", dir ? dir : ".", rel);
    return buf;
}

pid_t gt_start_gateway(const char *nats_url, int port, int admin_port, const char *const *extra_env,
                       const char *log_path)
{
    return gt_start_gateway_binary("gateway/mentis-gateway", nats_url, port, admin_port, extra_env,
                                   log_path);
}

pid_t gt_start_gateway_binary(const char *rel, const char *nats_url, int port, int admin_port,
                              const char *const *extra_env, const char *log_path)
{
    static char env_nats[128], env_port[64], env_admin[64];
    snprintf(env_nats, sizeof env_nats, "MENTIS_NATS_URL=%s", nats_url);
    snprintf(env_port, sizeof env_port, "MENTIS_GATEWAY_PORT=%d", port);
    snprintf(env_admin, sizeof env_admin, "MENTIS_ADMIN_PORT=%d", admin_port);
    const char *env[32] = {env_nats, env_port, env_admin, "MENTIS_GATEWAY_ADDR=127.0.0.1",
                           "MENTIS_LOG_SAMPLE=1"};
    size_t n = 5;
    for (size_t i = 0; extra_env && extra_env[i] && n < 31; i++)
        env[n++] = extra_env[i];
    env[n] = NULL;
    char bin[512];
    const char *argv[] = {gt_build_path(rel, bin, sizeof bin), NULL};
    pid_t pid = h_spawn(argv, env, log_path);
    if (pid < 0)
        return -1;
    if (h_wait_http(port, "/healthz", 200, 10000) != 0) {
        fprintf(stderr, "gateway did not answer /healthz on port %d within 10 s\n", port);
        return -1;
    }
    return pid;
}
