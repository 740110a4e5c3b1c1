/*
 * The public listening socket. The gateway opens it itself and hands lws each accepted
 * connection (lws_adopt_socket_vhost), instead of letting lws listen, for one reason: a
 * drain must stop accepting while connections in flight carry on, and lws 4.1's only way
 * to close its own listener alone (lws_context_deprecate) uses the listener after freeing
 * it. Owning the socket also makes a busy port a clear start-up error.
 *
 * The socket is watched by lws as a raw file descriptor on the lws thread; readable means
 * connections are waiting.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "gateway.h"
#include "mentis/log.h"

#define ACCEPTS_PER_WAKE 64
#define BACKLOG          511

mentis_status_t gw_listener_open(const char *addr, int port, int *fd_out)
{
    struct sockaddr_storage ss;
    socklen_t sslen;
    memset(&ss, 0, sizeof ss);
    struct sockaddr_in *a4 = (struct sockaddr_in *)&ss;
    struct sockaddr_in6 *a6 = (struct sockaddr_in6 *)&ss;
    if (inet_pton(AF_INET, addr, &a4->sin_addr) == 1) {
        a4->sin_family = AF_INET;
        a4->sin_port = htons((uint16_t)port);
        sslen = sizeof *a4;
    } else if (inet_pton(AF_INET6, addr, &a6->sin6_addr) == 1) {
        a6->sin6_family = AF_INET6;
        a6->sin6_port = htons((uint16_t)port);
        sslen = sizeof *a6;
    } else {
        return mentis_err_set(MENTIS_ERR_INVALID_ARGUMENT, NULL, "listener: bad address \"%s\"",
                              addr);
    }
    int fd = socket(ss.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return mentis_err_set(MENTIS_ERR_IO, NULL, "listener: socket: %s", strerror(errno));
    int one = 1, zero = 0;
    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    /* "::" serves IPv4 too, as the operator would expect of "every address". */
    if (ss.ss_family == AF_INET6)
        setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &zero, sizeof zero);
    if (bind(fd, (struct sockaddr *)&ss, sslen) != 0 || listen(fd, BACKLOG) != 0) {
        int e = errno;
        close(fd);
        return mentis_err_set(MENTIS_ERR_IO, NULL, "cannot listen on %s port %d: %s", addr, port,
                              strerror(e));
    }
    *fd_out = fd;
    return MENTIS_OK;
}


/*
 * Refuses a connection over the per-address cap: a short 503 problem written straight
 * to the socket (it fits in any send buffer), then the connection is closed. No lws
 * state is spent on it.
 */
static void refuse(int fd, const char *ip, int cap)
{
    char body[384], msg[768];
    int blen = snprintf(body, sizeof body,
                        "{\"type\":\"about:blank\",\"title\":\"Service Unavailable\","
                        "\"status\":503,\"detail\":\"too many connections from %s (at most "
                        "%d)\",\"code\":\"too_many_connections\"}",
                        ip, cap);
    int n = snprintf(msg, sizeof msg,
                     "HTTP/1.1 503 Service Unavailable\r\n"
                     "content-type: application/problem+json\r\n"
                     "retry-after: 1\r\nconnection: close\r\n"
                     "content-length: %d\r\n\r\n%s",
                     blen, body);
    if (n > 0 && (size_t)n < sizeof msg) {
        ssize_t w = send(fd, msg, (size_t)n, MSG_DONTWAIT | MSG_NOSIGNAL);
        (void)w; /* best effort: the client may already be gone */
    }
    shutdown(fd, SHUT_WR);
    close(fd);
}

void gw_listener_conn_closed(gw_server_t *srv, struct lws *wsi)
{
    struct gw_conn *c = lws_get_opaque_user_data(wsi);
    if (c == NULL)
        return;
    lws_set_opaque_user_data(wsi, NULL);
    gw_limits_conn_close(srv->limits, c->addr);
    free(c);
}

static void resume_accepting(lws_sorted_usec_list_t *sul)
{
    gw_server_t *srv = lws_container_of(sul, gw_server_t, accept_sul);
    if (srv->listen_wsi)
        lws_rx_flow_control(srv->listen_wsi, 1);
}

/* Takes every waiting connection (up to a bound, so one flood cannot starve the loop). */
static void accept_waiting(gw_server_t *srv, struct lws_vhost *vh)
{
    for (int i = 0; i < ACCEPTS_PER_WAKE; i++) {
        struct sockaddr_storage ss;
        socklen_t sslen = sizeof ss;
        int fd = accept(srv->listen_fd, (struct sockaddr *)&ss, &sslen);
        if (fd < 0) {
            if (errno == EMFILE || errno == ENFILE || errno == ENOBUFS || errno == ENOMEM) {
                /* Out of descriptors: the connection stays queued and poll(2) would wake us
                 * at once for ever. Pause accepting briefly instead of spinning. */
                mentis_log_warn("listener: accept: %s; pausing accepts for 100 ms",
                                strerror(errno));
                lws_rx_flow_control(srv->listen_wsi, 0);
                lws_sul_schedule(srv->lws, 0, &srv->accept_sul, resume_accepting,
                                 100 * LWS_US_PER_MS);
            }
            return; /* EAGAIN: nothing more; ECONNABORTED and the like: the next wake */
        }
        int flags = fcntl(fd, F_GETFL);
        if (flags < 0 || fcntl(fd, F_SETFL, flags | O_NONBLOCK) != 0 ||
            fcntl(fd, F_SETFD, FD_CLOEXEC) != 0) {
            close(fd);
            continue;
        }
        /* Answers go out as a header write and a body write: without this, Nagle holds the
         * body back until the client's delayed ACK (~40 ms on every keep-alive request). */
        int one = 1;
        setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
        struct gw_conn *c = calloc(1, sizeof *c);
        if (c == NULL || !gw_addr_of_sockaddr(&ss, c->addr)) {
            free(c);
            close(fd);
            continue;
        }
        if (!gw_limits_conn_open(srv->limits, c->addr)) {
            char ip[GW_ADDR_SIZE];
            gw_addr_str(c->addr, ip);
            refuse(fd, ip, srv->settings->max_conns_per_ip);
            /* No request was read, so this is the access log's line for it. */
            const char *kv[] = {"status", "503", "code", "too_many_connections", "client_ip", ip,
                                NULL};
            mentis_log_kv(MENTIS_LOG_WARN, "connection refused", kv);
            free(c);
            continue;
        }
        struct lws *wsi = lws_adopt_socket_vhost(vh, fd);
        if (wsi == NULL) { /* lws closed fd */
            gw_limits_conn_close(srv->limits, c->addr);
            free(c);
            mentis_log_warn("listener: lws could not take a new connection");
            continue;
        }
        lws_set_opaque_user_data(wsi, c);
        /* The whole request head must arrive within the header timeout: lws by itself
         * would wait for ever on a client that sends one byte now and then. Once the head
         * is complete the request's own deadline takes over (http.c). */
        lws_set_timeout(wsi, PENDING_TIMEOUT_USER_OK, srv->settings->header_timeout_s);
    }
}

static int callback(struct lws *wsi, enum lws_callback_reasons reason, void *user, void *in,
                    size_t len)
{
    gw_server_t *srv = lws_context_user(lws_get_context(wsi));
    switch (reason) {
    case LWS_CALLBACK_RAW_RX_FILE:
        accept_waiting(srv, lws_get_vhost(wsi));
        return 0;
    case LWS_CALLBACK_RAW_CLOSE_FILE:
        /* lws closes the descriptor itself. */
        srv->listen_wsi = NULL;
        srv->listen_fd = -1;
        return 0;
    default:
        return 0;
    }
}

const struct lws_protocols gw_listener_protocol = {"mentis-listen", callback, 0, 0, 0, NULL, 0};

mentis_status_t gw_listener_attach(gw_server_t *srv, struct lws_vhost *vh)
{
    lws_sock_file_fd_type fd;
    fd.filefd = srv->listen_fd;
    srv->listen_wsi = lws_adopt_descriptor_vhost(vh, LWS_ADOPT_RAW_FILE_DESC, fd,
                                                 gw_listener_protocol.name, NULL);
    if (srv->listen_wsi == NULL)
        return mentis_err_set(MENTIS_ERR_INTERNAL, NULL, "listener: lws refused the socket");
    return MENTIS_OK;
}

void gw_listener_close(gw_server_t *srv)
{
    lws_sul_cancel(&srv->accept_sul);
    if (srv->listen_wsi != NULL)
        lws_set_timeout(srv->listen_wsi, PENDING_TIMEOUT_USER_OK, LWS_TO_KILL_SYNC);
    else if (srv->listen_fd >= 0)
        close(srv->listen_fd);
    srv->listen_wsi = NULL;
    srv->listen_fd = -1;
}
