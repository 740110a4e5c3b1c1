/*
 * The admin listener: one thread, poll(2), a handful of short connections. Probes and
 * scrapers send one small GET and read one answer, so each connection serves one request
 * and closes; a client that sends nothing useful within the timeout is cut.
 */
#include "mentis/admin.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

#include "mentis/log.h"

#define MAX_CONNS   16
#define HEAD_MAX    8192
#define TIMEOUT_MS  5000

struct conn {
    int fd;
    size_t len;
    int64_t started_ms;
    char buf[HEAD_MAX];
};

struct mentis_admin {
    int listen_fd;
    int wake[2]; /* a byte on wake[1] stops the thread */
    int port;
    pthread_t thread;
    mentis_metrics_t *metrics;
    mentis_admin_ready_fn ready;
    void *ready_arg;
    struct conn conns[MAX_CONNS]; /* touched by the admin thread only */
};

static int64_t now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

mentis_status_t mentis_admin_parse_request(const char *head, size_t len, char *method,
                                           size_t method_size, char *path, size_t path_size)
{
    const char *end = memchr(head, '\n', len);
    if (end == NULL)
        return mentis_err_set(MENTIS_ERR_INVALID_ARGUMENT, NULL, "admin: no request line");
    size_t line = (size_t)(end - head);
    if (line > 0 && head[line - 1] == '\r')
        line--;
    const char *sp1 = memchr(head, ' ', line);
    if (sp1 == NULL || sp1 == head)
        return mentis_err_set(MENTIS_ERR_INVALID_ARGUMENT, NULL, "admin: malformed request line");
    const char *target = sp1 + 1;
    const char *sp2 = memchr(target, ' ', line - (size_t)(target - head));
    if (sp2 == NULL || sp2 == target)
        return mentis_err_set(MENTIS_ERR_INVALID_ARGUMENT, NULL, "admin: malformed request line");
    const char *version = sp2 + 1;
    size_t vlen = line - (size_t)(version - head);
    if (vlen != 8 || memcmp(version, "HTTP/1.", 7) != 0 || (version[7] != '0' && version[7] != '1'))
        return mentis_err_set(MENTIS_ERR_INVALID_ARGUMENT, NULL, "admin: not HTTP/1.x");
    size_t mlen = (size_t)(sp1 - head);
    for (size_t i = 0; i < mlen; i++)
        if (head[i] < 'A' || head[i] > 'Z')
            return mentis_err_set(MENTIS_ERR_INVALID_ARGUMENT, NULL, "admin: bad method");
    if (target[0] != '/')
        return mentis_err_set(MENTIS_ERR_INVALID_ARGUMENT, NULL, "admin: target is not a path");
    size_t plen = (size_t)(sp2 - target);
    const char *q = memchr(target, '?', plen);
    if (q)
        plen = (size_t)(q - target);
    for (size_t i = 0; i < plen; i++)
        if ((unsigned char)target[i] <= 0x20 || (unsigned char)target[i] >= 0x7f)
            return mentis_err_set(MENTIS_ERR_INVALID_ARGUMENT, NULL, "admin: bad byte in path");
    if (mlen >= method_size || plen >= path_size)
        return mentis_err_set(MENTIS_ERR_TOO_LARGE, NULL, "admin: request line too long");
    memcpy(method, head, mlen);
    method[mlen] = '\0';
    memcpy(path, target, plen);
    path[plen] = '\0';
    return MENTIS_OK;
}

static void send_all(int fd, const char *p, size_t n)
{
    /* Blocking writes with a send timeout: answers are small and clients are local. */
    while (n > 0) {
        ssize_t w = send(fd, p, n, MSG_NOSIGNAL);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0)
            return;
        p += w;
        n -= (size_t)w;
    }
}

static void respond(int fd, int status, const char *reason, const char *type, const char *extra,
                    const char *body, size_t len)
{
    char head[512];
    int n = snprintf(head, sizeof head,
                     "HTTP/1.1 %d %s\r\nContent-Type: %s\r\nContent-Length: %zu\r\n"
                     "Cache-Control: no-store\r\nConnection: close\r\n%s\r\n",
                     status, reason, type, len, extra ? extra : "");
    if (n > 0 && (size_t)n < sizeof head)
        send_all(fd, head, (size_t)n);
    send_all(fd, body, len);
}

static void problem(int fd, int status, const char *reason, const char *code, const char *detail,
                    const char *extra)
{
    char body[512];
    int n = snprintf(body, sizeof body,
                     "{\"type\":\"about:blank\",\"title\":\"%s\",\"status\":%d,\"detail\":\"%s\","
                     "\"code\":\"%s\"}",
                     reason, status, detail, code);
    if (n < 0 || (size_t)n >= sizeof body)
        n = 0;
    respond(fd, status, reason, "application/problem+json", extra, body, (size_t)n);
}

static void serve(mentis_admin_t *a, int fd, const char *head, size_t len)
{
    char method[16], path[256];
    if (mentis_admin_parse_request(head, len, method, sizeof method, path, sizeof path) != MENTIS_OK) {
        problem(fd, 400, "Bad Request", "invalid_argument", "malformed HTTP request", NULL);
        return;
    }
    bool get = strcmp(method, "GET") == 0;
    bool known = strcmp(path, "/healthz") == 0 || strcmp(path, "/readyz") == 0 ||
                 strcmp(path, "/metrics") == 0;
    if (!known) {
        problem(fd, 404, "Not Found", "not_found", "admin endpoints: /healthz, /readyz, /metrics", NULL);
        return;
    }
    if (!get) {
        problem(fd, 405, "Method Not Allowed", "method_not_allowed", "only GET is allowed",
                "Allow: GET\r\n");
        return;
    }
    if (strcmp(path, "/healthz") == 0) {
        respond(fd, 200, "OK", "text/plain; charset=utf-8", NULL, "ok\n", 3);
    } else if (strcmp(path, "/readyz") == 0) {
        char why[200] = "not ready";
        if (a->ready == NULL || a->ready(a->ready_arg, why, sizeof why)) {
            respond(fd, 200, "OK", "text/plain; charset=utf-8", NULL, "ready\n", 6);
        } else {
            /* `why` is ours, but keep it JSON-safe all the same. */
            for (char *p = why; *p; p++)
                if (*p == '"' || *p == '\\' || (unsigned char)*p < 0x20)
                    *p = ' ';
            problem(fd, 503, "Service Unavailable", "unavailable", why, NULL);
        }
    } else {
        char *text = NULL;
        size_t tlen = 0;
        if (a->metrics == NULL) {
            respond(fd, 200, "OK", "text/plain; version=0.0.4; charset=utf-8", NULL, "", 0);
        } else if (mentis_metrics_render(a->metrics, &text, &tlen) == MENTIS_OK) {
            respond(fd, 200, "OK", "text/plain; version=0.0.4; charset=utf-8", NULL, text, tlen);
            free(text);
        } else {
            problem(fd, 500, "Internal Server Error", "internal", "cannot render metrics", NULL);
        }
    }
}

static void conn_close(struct conn *c)
{
    close(c->fd);
    c->fd = -1;
}

static void accept_one(mentis_admin_t *a)
{
    int fd = accept(a->listen_fd, NULL, NULL);
    if (fd < 0)
        return;
    for (int i = 0; i < MAX_CONNS; i++) {
        struct conn *c = &a->conns[i];
        if (c->fd < 0) {
            struct timeval tv = {.tv_sec = 2};
            setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
            fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK);
            c->fd = fd;
            c->len = 0;
            c->started_ms = now_ms();
            return;
        }
    }
    /* Full: answer at once rather than queue. */
    problem(fd, 503, "Service Unavailable", "unavailable", "too many admin connections",
            "Retry-After: 1\r\n");
    close(fd);
}

static void read_some(mentis_admin_t *a, struct conn *c)
{
    ssize_t n = recv(c->fd, c->buf + c->len, sizeof c->buf - c->len, 0);
    if (n < 0 && (errno == EAGAIN || errno == EINTR))
        return;
    if (n <= 0) {
        conn_close(c);
        return;
    }
    size_t scan_from = c->len > 3 ? c->len - 3 : 0;
    c->len += (size_t)n;
    for (size_t i = scan_from; i + 4 <= c->len; i++) {
        if (memcmp(c->buf + i, "\r\n\r\n", 4) == 0) {
            /* The answer is written blocking (with a send timeout): small and local. */
            fcntl(c->fd, F_SETFL, fcntl(c->fd, F_GETFL) & ~O_NONBLOCK);
            serve(a, c->fd, c->buf, i + 4);
            conn_close(c);
            return;
        }
    }
    if (c->len == sizeof c->buf) {
        fcntl(c->fd, F_SETFL, fcntl(c->fd, F_GETFL) & ~O_NONBLOCK);
        problem(c->fd, 431, "Request Header Fields Too Large", "payload_too_large",
                "request head over 8 KiB", NULL);
        conn_close(c);
    }
}

static void *admin_main(void *arg)
{
    mentis_admin_t *a = arg;
    struct pollfd fds[MAX_CONNS + 2];
    struct conn *owner[MAX_CONNS + 2];
    for (;;) {
        int n = 0;
        fds[n++] = (struct pollfd){.fd = a->wake[0], .events = POLLIN};
        fds[n++] = (struct pollfd){.fd = a->listen_fd, .events = POLLIN};
        int64_t now = now_ms();
        for (int i = 0; i < MAX_CONNS; i++) {
            struct conn *c = &a->conns[i];
            if (c->fd < 0)
                continue;
            if (now - c->started_ms > TIMEOUT_MS) {
                conn_close(c);
                continue;
            }
            owner[n] = c;
            fds[n++] = (struct pollfd){.fd = c->fd, .events = POLLIN};
        }
        int rc = poll(fds, (nfds_t)n, 500);
        if (rc < 0 && errno != EINTR)
            break;
        if (rc <= 0)
            continue;
        if (fds[0].revents)
            break;
        if (fds[1].revents & POLLIN)
            accept_one(a);
        for (int i = 2; i < n; i++)
            if (fds[i].revents)
                read_some(a, owner[i]);
    }
    return NULL;
}

mentis_status_t mentis_admin_start(const mentis_admin_options_t *o, mentis_admin_t **out)
{
    mentis_admin_t *a = calloc(1, sizeof *a);
    if (a == NULL)
        return mentis_err_set(MENTIS_ERR_NO_MEMORY, NULL, "admin: out of memory");
    for (int i = 0; i < MAX_CONNS; i++)
        a->conns[i].fd = -1;
    a->metrics = o->metrics;
    a->ready = o->ready;
    a->ready_arg = o->ready_arg;
    a->wake[0] = a->wake[1] = -1;
    a->listen_fd = -1;
    const char *addr = o->addr && *o->addr ? o->addr : "127.0.0.1";
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons((uint16_t)o->port)};
    mentis_status_t st;
    if (inet_pton(AF_INET, addr, &sa.sin_addr) != 1) {
        st = mentis_err_set(MENTIS_ERR_INVALID_ARGUMENT, NULL, "admin: bad IPv4 address \"%s\"", addr);
        goto fail;
    }
    a->listen_fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    int one = 1;
    if (a->listen_fd < 0 || setsockopt(a->listen_fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one) < 0 ||
        bind(a->listen_fd, (struct sockaddr *)&sa, sizeof sa) < 0 || listen(a->listen_fd, 64) < 0) {
        st = mentis_err_set(MENTIS_ERR_IO, NULL, "admin: cannot listen on %s:%d: %s", addr, o->port,
                            strerror(errno));
        goto fail;
    }
    socklen_t slen = sizeof sa;
    getsockname(a->listen_fd, (struct sockaddr *)&sa, &slen);
    a->port = ntohs(sa.sin_port);
    if (pipe(a->wake) < 0) {
        st = mentis_err_set(MENTIS_ERR_IO, NULL, "admin: pipe: %s", strerror(errno));
        goto fail;
    }
    if (pthread_create(&a->thread, NULL, admin_main, a) != 0) {
        st = mentis_err_set(MENTIS_ERR_INTERNAL, NULL, "admin: cannot start thread");
        goto fail;
    }
    *out = a;
    return MENTIS_OK;
fail:
    if (a->listen_fd >= 0)
        close(a->listen_fd);
    if (a->wake[0] >= 0) {
        close(a->wake[0]);
        close(a->wake[1]);
    }
    free(a);
    return st;
}

int mentis_admin_port(const mentis_admin_t *a)
{
    return a->port;
}

void mentis_admin_stop(mentis_admin_t *a)
{
    if (a == NULL)
        return;
    ssize_t w = write(a->wake[1], "x", 1);
    (void)w;
    pthread_join(a->thread, NULL);
    for (int i = 0; i < MAX_CONNS; i++)
        if (a->conns[i].fd >= 0)
            close(a->conns[i].fd);
    close(a->listen_fd);
    close(a->wake[0]);
    close(a->wake[1]);
    free(a);
}
