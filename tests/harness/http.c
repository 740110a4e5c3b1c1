/* Loopback sockets: free ports, "is it listening", and a minimal HTTP/1.0 GET. */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "harness_private.h"

static struct sockaddr_in loopback(int port)
{
    struct sockaddr_in sa;
    memset(&sa, 0, sizeof sa);
    sa.sin_family = AF_INET;
    sa.sin_port = htons((uint16_t)port);
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    return sa;
}

int h_free_port(void)
{
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return -1;
    struct sockaddr_in sa = loopback(0);
    socklen_t len = sizeof sa;
    int port = -1;
    if (bind(fd, (struct sockaddr *)&sa, sizeof sa) == 0 &&
        getsockname(fd, (struct sockaddr *)&sa, &len) == 0)
        port = ntohs(sa.sin_port);
    close(fd);
    return port;
}

/* A non-blocking connect to 127.0.0.1:port finished within timeout_ms; the fd or -1. */
static int connect_loopback(int port, int timeout_ms)
{
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
    if (fd < 0)
        return -1;
    struct sockaddr_in sa = loopback(port);
    if (connect(fd, (struct sockaddr *)&sa, sizeof sa) != 0) {
        if (errno != EINPROGRESS)
            goto fail;
        struct pollfd p = {.fd = fd, .events = POLLOUT};
        if (poll(&p, 1, timeout_ms) != 1)
            goto fail;
        int err = 0;
        socklen_t len = sizeof err;
        if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &len) != 0 || err != 0)
            goto fail;
    }
    return fd;
fail:
    close(fd);
    return -1;
}

bool h__port_open(int port, int timeout_ms)
{
    int fd = connect_loopback(port, timeout_ms);
    if (fd < 0)
        return false;
    close(fd);
    return true;
}

/* Sends all of buf before the deadline. */
static int send_all(int fd, const char *buf, size_t len, long long deadline)
{
    while (len > 0) {
        ssize_t n = send(fd, buf, len, MSG_NOSIGNAL);
        if (n > 0) {
            buf += n;
            len -= (size_t)n;
            continue;
        }
        if (n < 0 && errno != EAGAIN && errno != EINTR)
            return -1;
        long long left = deadline - h_now_ms();
        struct pollfd p = {.fd = fd, .events = POLLOUT};
        if (left <= 0 || poll(&p, 1, (int)left) <= 0)
            return -1;
    }
    return 0;
}

/* Copies what fits of data into body (keeping room for the NUL). */
static void append(char *body, size_t body_size, size_t *body_len, const char *data, size_t len)
{
    if (body == NULL || body_size == 0 || *body_len >= body_size - 1)
        return;
    size_t take = len < body_size - 1 - *body_len ? len : body_size - 1 - *body_len;
    memcpy(body + *body_len, data, take);
    *body_len += take;
}

int h_http_get(int port, const char *path, int *status, char *body, size_t body_size,
               int timeout_ms)
{
    long long deadline = h_now_ms() + timeout_ms;
    int fd = connect_loopback(port, timeout_ms);
    if (fd < 0)
        return -1;
    char req[1024];
    int n = snprintf(req, sizeof req, "GET %s HTTP/1.0\r\nHost: 127.0.0.1:%d\r\n\r\n", path, port);
    int rc = -1;
    /* The head is kept whole (up to 16 KiB); the body is copied as far as it fits. */
    char head[16384];
    size_t head_len = 0, body_len = 0;
    const char *body_start = NULL;
    if (n < 0 || (size_t)n >= sizeof req || send_all(fd, req, (size_t)n, deadline) != 0)
        goto out;
    for (;;) {
        long long left = deadline - h_now_ms();
        struct pollfd p = {.fd = fd, .events = POLLIN};
        if (left <= 0 || poll(&p, 1, (int)left) <= 0)
            goto out;
        char chunk[4096];
        ssize_t got = recv(fd, chunk, sizeof chunk, 0);
        if (got < 0 && (errno == EAGAIN || errno == EINTR))
            continue;
        if (got < 0)
            goto out;
        if (got == 0)
            break;
        size_t used = 0; /* bytes of this chunk taken into the head */
        if (body_start == NULL) {
            size_t room = sizeof head - 1 - head_len;
            used = (size_t)got < room ? (size_t)got : room;
            memcpy(head + head_len, chunk, used);
            head_len += used;
            head[head_len] = '\0';
            char *end = strstr(head, "\r\n\r\n");
            if (end == NULL) {
                if (head_len == sizeof head - 1)
                    goto out; /* a head this large is not what a test server sends */
                continue;
            }
            body_start = end + 4;
            /* What the head buffer holds past the blank line is already body. */
            append(body, body_size, &body_len, body_start, head_len - (size_t)(body_start - head));
        }
        append(body, body_size, &body_len, chunk + used, (size_t)got - used);
    }
    int code = 0;
    if (body_start == NULL || sscanf(head, "HTTP/%*d.%*d %d", &code) != 1)
        goto out;
    if (status != NULL)
        *status = code;
    if (body != NULL && body_size > 0)
        body[body_len] = '\0';
    rc = 0;
out:
    close(fd);
    return rc;
}

int h_wait_http(int port, const char *path, int want_status, int timeout_ms)
{
    long long deadline = h_now_ms() + timeout_ms;
    for (;;) {
        int status = 0;
        long long left = deadline - h_now_ms();
        if (left <= 0)
            return -1;
        if (h_http_get(port, path, &status, NULL, 0, left < 1000 ? (int)left : 1000) == 0 &&
            status == want_status)
            return 0;
        h_sleep_ms(50);
    }
}
