/* A small real SMTP server on 127.0.0.1 for tests: it keeps what it receives. */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

#include "harness.h"

struct h_smtp_msg {
    char *from;
    char *rcpts; /* "<a@x> <b@y>" */
    char *data;  /* the message, dot-unstuffed, CRLF line ends */
    struct h_smtp_msg *next;
};

struct h_smtp {
    int fd;
    int port;
    pthread_t thread;
    pthread_mutex_t lock;
    pthread_cond_t cond;
    bool stop;
    int fail_next;
    struct h_smtp_msg *head, **tail;
};

/* ---- one connection ---- */

typedef struct {
    int fd;
    char buf[8192];
    size_t len;
} conn_t;

/* Reads one line (without CRLF) into out; -1 on EOF, timeout or an over-long line. */
static int read_line(conn_t *c, char *out, size_t size)
{
    for (;;) {
        char *nl = memchr(c->buf, '\n', c->len);
        if (nl != NULL) {
            size_t n = (size_t)(nl - c->buf);
            size_t keep = n > 0 && c->buf[n - 1] == '\r' ? n - 1 : n;
            if (keep >= size)
                return -1;
            memcpy(out, c->buf, keep);
            out[keep] = '\0';
            memmove(c->buf, nl + 1, c->len - n - 1);
            c->len -= n + 1;
            return 0;
        }
        if (c->len == sizeof c->buf)
            return -1;
        ssize_t r = read(c->fd, c->buf + c->len, sizeof c->buf - c->len);
        if (r < 0 && errno == EINTR)
            continue;
        if (r <= 0)
            return -1;
        c->len += (size_t)r;
    }
}

static void say(int fd, const char *s)
{
    size_t n = strlen(s), off = 0;
    while (off < n) {
        ssize_t w = write(fd, s + off, n - off);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0)
            return;
        off += (size_t)w;
    }
}

/* Appends s and CRLF to a growing buffer. */
static int append(char **buf, size_t *len, size_t *cap, const char *s)
{
    size_t n = strlen(s);
    if (*len + n + 3 > *cap) {
        size_t ncap = (*cap ? *cap * 2 : 4096) + n;
        char *nb = realloc(*buf, ncap);
        if (nb == NULL)
            return -1;
        *buf = nb;
        *cap = ncap;
    }
    memcpy(*buf + *len, s, n);
    *len += n;
    memcpy(*buf + *len, "\r\n", 3);
    *len += 2;
    return 0;
}

static void serve(h_smtp_t *s, int fd)
{
    conn_t c = {.fd = fd};
    char line[1100], from[512] = "", rcpts[2048] = "";
    say(fd, "220 mentis-test-sink ESMTP\r\n");
    while (read_line(&c, line, sizeof line) == 0) {
        if (strncasecmp(line, "EHLO", 4) == 0) {
            say(fd, "250-mentis-test-sink\r\n250-8BITMIME\r\n250 SIZE 10485760\r\n");
        } else if (strncasecmp(line, "HELO", 4) == 0) {
            say(fd, "250 mentis-test-sink\r\n");
        } else if (strncasecmp(line, "MAIL FROM:", 10) == 0) {
            snprintf(from, sizeof from, "%s", line + 10);
            rcpts[0] = '\0';
            say(fd, "250 OK\r\n");
        } else if (strncasecmp(line, "RCPT TO:", 8) == 0) {
            size_t n = strlen(rcpts);
            snprintf(rcpts + n, sizeof rcpts - n, "%s%s", n ? " " : "", line + 8);
            say(fd, "250 OK\r\n");
        } else if (strncasecmp(line, "DATA", 4) == 0) {
            if (rcpts[0] == '\0') {
                say(fd, "503 RCPT first\r\n");
                continue;
            }
            say(fd, "354 go ahead\r\n");
            char *data = NULL;
            size_t len = 0, cap = 0;
            bool ok = false;
            while (read_line(&c, line, sizeof line) == 0) {
                if (strcmp(line, ".") == 0) {
                    ok = true;
                    break;
                }
                /* RFC 5321 4.5.2: a leading dot was doubled by the client. */
                if (append(&data, &len, &cap, line[0] == '.' ? line + 1 : line) != 0)
                    break;
            }
            if (!ok) {
                free(data);
                break;
            }
            pthread_mutex_lock(&s->lock);
            bool fail = s->fail_next > 0;
            if (fail) {
                s->fail_next--;
                free(data);
            } else {
                struct h_smtp_msg *m = calloc(1, sizeof *m);
                if (m != NULL) {
                    m->from = strdup(from);
                    m->rcpts = strdup(rcpts);
                    m->data = data ? data : strdup("");
                    *s->tail = m;
                    s->tail = &m->next;
                    pthread_cond_broadcast(&s->cond);
                } else {
                    free(data);
                }
            }
            pthread_mutex_unlock(&s->lock);
            say(fd, fail ? "451 4.3.0 try again later\r\n" : "250 OK queued\r\n");
            rcpts[0] = '\0';
        } else if (strncasecmp(line, "RSET", 4) == 0 || strncasecmp(line, "NOOP", 4) == 0) {
            rcpts[0] = '\0';
            say(fd, "250 OK\r\n");
        } else if (strncasecmp(line, "QUIT", 4) == 0) {
            say(fd, "221 bye\r\n");
            break;
        } else {
            say(fd, "500 unknown command\r\n");
        }
    }
    close(fd);
}

static void *smtp_main(void *arg)
{
    h_smtp_t *s = arg;
    for (;;) {
        pthread_mutex_lock(&s->lock);
        bool stop = s->stop;
        pthread_mutex_unlock(&s->lock);
        if (stop)
            break;
        struct pollfd p = {.fd = s->fd, .events = POLLIN};
        if (poll(&p, 1, 100) <= 0)
            continue;
        int fd = accept(s->fd, NULL, NULL);
        if (fd < 0)
            continue;
        struct timeval tv = {.tv_sec = 10};
        setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
        serve(s, fd);
    }
    return NULL;
}

int h_smtp_start(h_smtp_t **out)
{
    h_smtp_t *s = calloc(1, sizeof *s);
    if (s == NULL)
        return -1;
    s->tail = &s->head;
    pthread_mutex_init(&s->lock, NULL);
    pthread_cond_init(&s->cond, NULL);
    s->fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = 0};
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t alen = sizeof a;
    if (s->fd < 0 || bind(s->fd, (struct sockaddr *)&a, sizeof a) != 0 || listen(s->fd, 16) != 0 ||
        getsockname(s->fd, (struct sockaddr *)&a, &alen) != 0) {
        fprintf(stderr, "h_smtp_start: %s\n", strerror(errno));
        if (s->fd >= 0)
            close(s->fd);
        free(s);
        return -1;
    }
    s->port = ntohs(a.sin_port);
    if (pthread_create(&s->thread, NULL, smtp_main, s) != 0) {
        close(s->fd);
        free(s);
        return -1;
    }
    *out = s;
    return 0;
}

int h_smtp_port(const h_smtp_t *s)
{
    return s->port;
}

void h_smtp_fail_next(h_smtp_t *s, int n)
{
    pthread_mutex_lock(&s->lock);
    s->fail_next = n;
    pthread_mutex_unlock(&s->lock);
}

static bool for_rcpt(const struct h_smtp_msg *m, const char *rcpt)
{
    if (rcpt == NULL)
        return true;
    char want[300];
    int n = snprintf(want, sizeof want, "<%s>", rcpt);
    for (const char *p = m->rcpts; n > 0 && *p; p++)
        if (strncasecmp(p, want, (size_t)n) == 0)
            return true;
    return false;
}

int h_smtp_count(h_smtp_t *s, const char *rcpt)
{
    int n = 0;
    pthread_mutex_lock(&s->lock);
    for (struct h_smtp_msg *m = s->head; m; m = m->next)
        n += for_rcpt(m, rcpt);
    pthread_mutex_unlock(&s->lock);
    return n;
}

int h_smtp_take(h_smtp_t *s, const char *rcpt, char *buf, size_t size, int timeout_ms)
{
    struct timespec until;
    clock_gettime(CLOCK_REALTIME, &until);
    until.tv_sec += timeout_ms / 1000;
    until.tv_nsec += (long)(timeout_ms % 1000) * 1000000;
    if (until.tv_nsec >= 1000000000) {
        until.tv_sec++;
        until.tv_nsec -= 1000000000;
    }
    pthread_mutex_lock(&s->lock);
    for (;;) {
        for (struct h_smtp_msg **pm = &s->head; *pm; pm = &(*pm)->next) {
            struct h_smtp_msg *m = *pm;
            if (!for_rcpt(m, rcpt))
                continue;
            *pm = m->next;
            if (s->tail == &m->next)
                s->tail = pm;
            pthread_mutex_unlock(&s->lock);
            snprintf(buf, size, "%s", m->data);
            free(m->from);
            free(m->rcpts);
            free(m->data);
            free(m);
            return 0;
        }
        if (pthread_cond_timedwait(&s->cond, &s->lock, &until) == ETIMEDOUT)
            break;
    }
    pthread_mutex_unlock(&s->lock);
    fprintf(stderr, "h_smtp_take: no message for %s within %d ms\n", rcpt ? rcpt : "anyone",
            timeout_ms);
    return -1;
}

void h_smtp_stop(h_smtp_t *s)
{
    if (s == NULL)
        return;
    pthread_mutex_lock(&s->lock);
    s->stop = true;
    pthread_mutex_unlock(&s->lock);
    pthread_join(s->thread, NULL);
    close(s->fd);
    while (s->head) {
        struct h_smtp_msg *m = s->head;
        s->head = m->next;
        free(m->from);
        free(m->rcpts);
        free(m->data);
        free(m);
    }
    pthread_cond_destroy(&s->cond);
    pthread_mutex_destroy(&s->lock);
    free(s);
}
