/*
 * The public HTTP server: one libwebsockets context, served by one thread.
 *
 * The path of a request:
 *   lws thread   listener.c accepts the connection and hands it to lws.
 *                LWS_CALLBACK_HTTP → gw_http_begin (http.c) matches the route table (match.c)
 *                and runs the handler — a local one, or the forwarder (forward.c) for a
 *                route with a subject, after LWS_CALLBACK_HTTP_BODY(_COMPLETION) when the
 *                request has a body. A handler that needs services sends asynchronous bus
 *                requests on the server's dispatch queue and returns at once.
 *   lws thread   the NATS socket is one more descriptor of the lws loop (the bus in loop
 *                mode, see "NATS on the lws thread" below): the requests a turn of the loop
 *                published leave in one write at the end of the turn, and the socket is
 *                read here (LWS_CALLBACK_RAW_RX_FILE runs mentis_bus_loop_read).
 *   bus thread   nats.c's delivery thread hands a reply to the bus, which queues it (or a
 *                deadline, from the bus's timer thread, or "no responders") on the dispatch
 *                queue, whose wake function (gw_server_wake) calls lws_cancel_service().
 *   lws thread   LWS_CALLBACK_EVENT_WAIT_CANCELLED runs mentis_bus_dispatch_run: the
 *                completions run here, call gw_respond, and gw_respond asks lws for a
 *                writable callback; LWS_CALLBACK_HTTP_WRITEABLE writes headers, then body.
 * Nothing on the lws thread blocks: no synchronous request, no sleep, no file I/O. Timers
 * (the discovery round, the client check, the drain deadline) are lws sul timers on the
 * same thread, so request state needs no lock.
 *
 * NATS on the lws thread. The bus is connected in loop mode; until the loop starts (and
 * after it ends) a bus thread drives the socket. loop_main attaches the loop: at the top of
 * every turn nats_turn adopts the socket's descriptor when it changed (a duplicate, as a
 * raw file, protocol "mentis-nats"; a reconnection brings a new one), then ends the last
 * turn for the bus: the messages it destroyed go to nats.c's collector together, and what
 * it published leaves in one write. Measured on two cores, a write(2) per forwarded
 * request woke nats-server while the lws thread still had requests to read, and each
 * destroyed message woke nats.c's collector thread: most of what the gateway added to a
 * request was those wake-ups, not its own work.
 *
 * A client may leave before its answer. lws 4.1 stops reading a connection while a request
 * is in progress (and would spin on it), so reading is paused until the answer and a timer
 * looks at waiting connections every GW_CLIENT_CHECK_MS (gw_http_check_clients); a closed
 * one is closed on our side, and the close ends its request (gw_http_closed), cancelling
 * its pending bus requests on the dispatch thread, so their callbacks never run against a
 * freed request.
 *
 * Shutdown: on SIGTERM/SIGINT the main thread calls gw_server_drain, which sets `draining`
 * and wakes the loop. The loop closes its listening socket (listener.c) and keeps serving
 * the requests in flight, each answer now carrying Connection: close. When none is left,
 * or at the end of the grace period (what is still waiting is answered 503, then the loop
 * gets one more second to write), the thread ends. The main thread then destroys the
 * context (gw_server_close) — first clearing wake_target, since a bus thread may still
 * call the wake function — and only after that closes the bus and destroys the dispatch
 * queue.
 */
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "gateway.h"
#include "mentis/log.h"

int64_t gw_now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

static gw_server_t *server_of(struct lws *wsi)
{
    return lws_context_user(lws_get_context(wsi));
}

/* lws's handle on the NATS socket (a duplicate the bus gave us); lws thread only. One
 * server per process, as main.c makes. */
static struct lws *nats_wsi;

/* The NATS socket, as a raw file on the lws loop. */
static int nats_callback(struct lws *wsi, enum lws_callback_reasons reason, void *user,
                         void *in, size_t len)
{
    (void)user;
    (void)in;
    (void)len;
    gw_server_t *srv = server_of(wsi);
    switch (reason) {
    case LWS_CALLBACK_RAW_RX_FILE:
        mentis_bus_loop_read(srv->bus);
        return 0;
    case LWS_CALLBACK_RAW_WRITEABLE_FILE:
        if (mentis_bus_loop_write(srv->bus))
            lws_callback_on_writable(wsi);
        return 0;
    case LWS_CALLBACK_RAW_CLOSE_FILE: /* lws closes the descriptor, our duplicate */
        if (wsi == nats_wsi)
            nats_wsi = NULL;
        return 0;
    default:
        return 0;
    }
}

static void nats_unwatch(void)
{
    if (nats_wsi != NULL) {
        struct lws *wsi = nats_wsi;
        nats_wsi = NULL;
        lws_set_timeout(wsi, PENDING_TIMEOUT_USER_OK, LWS_TO_KILL_SYNC);
    }
}

/* Once per turn of the loop, before it polls: the socket to watch, then what to write. */
static void nats_turn(gw_server_t *srv)
{
    int fd = -1;
    if (mentis_bus_loop_socket(srv->bus, &fd)) {
        nats_unwatch();
        if (fd >= 0) {
            lws_sock_file_fd_type desc;
            desc.filefd = fd;
            struct lws_vhost *vh = lws_get_vhost_by_name(srv->lws, "mentis-gateway");
            nats_wsi = lws_adopt_descriptor_vhost(vh, LWS_ADOPT_RAW_FILE_DESC, desc,
                                                  "mentis-nats", NULL);
            if (nats_wsi == NULL) /* lws may have closed fd: leak it rather than close twice */
                mentis_log_error("lws refused the NATS socket; requests wait for a reconnection");
        }
    }
    if (mentis_bus_loop_write(srv->bus) && nats_wsi != NULL)
        lws_callback_on_writable(nats_wsi); /* the rest once the socket takes more */
}

static int callback(struct lws *wsi, enum lws_callback_reasons reason, void *user, void *in,
                    size_t len)
{
    struct gw_session *pss = user;
    switch (reason) {
    case LWS_CALLBACK_EVENT_WAIT_CANCELLED:
        mentis_bus_dispatch_run(server_of(wsi)->dispatch);
        gw_access_run_events(server_of(wsi)->access);
        return 0;
    case LWS_CALLBACK_WSI_DESTROY:
        gw_listener_conn_closed(server_of(wsi), wsi);
        return 0;
    case LWS_CALLBACK_HTTP_CONFIRM_UPGRADE: /* before lws's upgrade code runs: guard.c */
        return gw_guard_confirm_upgrade(server_of(wsi), wsi);
    case LWS_CALLBACK_HTTP:
        return gw_http_begin(server_of(wsi), wsi, pss, in, len);
    case LWS_CALLBACK_HTTP_BODY:
        return pss ? gw_http_body(pss, in, len) : 0;
    case LWS_CALLBACK_HTTP_BODY_COMPLETION:
        return pss ? gw_http_body_done(pss) : 0;
    case LWS_CALLBACK_HTTP_WRITEABLE:
        return pss ? gw_http_writeable(wsi, pss) : 0;
    case LWS_CALLBACK_CLOSED_HTTP:
    case LWS_CALLBACK_HTTP_DROP_PROTOCOL:
        if (pss)
            gw_http_closed(pss);
        return 0;
    default:
        return lws_callback_http_dummy(wsi, reason, user, in, len);
    }
}

/* The HTTP protocol comes first: lws gives every adopted connection protocols[0]. */
static struct lws_protocols protocols[] = {
    {"mentis-http", callback, sizeof(struct gw_session), 0, 0, NULL, 0},
    {NULL, NULL, 0, 0, 0, NULL, 0}, /* gw_listener_protocol, set in gw_server_listen */
    {"mentis-nats", nats_callback, 0, 0, 0, NULL, 0},
    {NULL, NULL, 0, 0, 0, NULL, 0},
};

/*
 * Headers on every answer. lws adds these itself, so they are also on the few answers lws
 * writes without asking us (its 403 for a request line it cannot parse).
 */
static const struct lws_protocol_vhost_options header_cache = {NULL, NULL,
                                                               "cache-control:", "no-store"};
static const struct lws_protocol_vhost_options header_referrer = {
    &header_cache, NULL, "referrer-policy:", "no-referrer"};
static const struct lws_protocol_vhost_options header_frame = {&header_referrer, NULL,
                                                               "x-frame-options:", "DENY"};
static const struct lws_protocol_vhost_options security_headers = {
    &header_frame, NULL, "x-content-type-options:", "nosniff"};

/* lws's own warnings and errors go into our log as single JSON lines. */
static void lws_log_line(int level, const char *line)
{
    size_t n = strlen(line);
    while (n > 0 && (line[n - 1] == '\n' || line[n - 1] == '\r'))
        n--;
    mentis_log(level == LLL_ERR ? MENTIS_LOG_ERROR : MENTIS_LOG_WARN, "lws: %.*s", (int)n, line);
}

mentis_status_t gw_server_listen(gw_server_t *srv)
{
    const gw_settings_t *s = srv->settings;
    lws_set_log_level(LLL_ERR | LLL_WARN, lws_log_line);

    srv->listen_fd = -1;
    mentis_status_t st = gw_listener_open(s->addr, s->port, &srv->listen_fd);
    if (st != MENTIS_OK)
        return st;

    /* The slowest route's timeout (the health page's, or a forwarded route's), then time
     * to read the body and write the answer. */
    int slowest_ms = s->health_timeout_ms;
    for (size_t i = 0; i < gw_route_count; i++) {
        int t = gw_routes[i].handler          ? 0
                : gw_routes[i].timeout_ms > 0 ? gw_routes[i].timeout_ms
                                              : GW_DEFAULT_TIMEOUT_MS;
        if (t > slowest_ms)
            slowest_ms = t;
    }
    srv->answer_budget_s = (slowest_ms + 999) / 1000 + 10;
    protocols[1] = gw_listener_protocol;
    struct lws_context_creation_info info;
    memset(&info, 0, sizeof info);
    info.port = CONTEXT_PORT_NO_LISTEN_SERVER;
    info.protocols = protocols;
    info.user = srv;
    info.vhost_name = "mentis-gateway";
    info.headers = &security_headers;
    info.count_threads = 1;
    info.max_http_header_data = GW_HEAD_HARD_MAX;
    info.timeout_secs = (unsigned)s->header_timeout_s; /* a stalled request head or body */
    info.keepalive_timeout = s->idle_timeout_s;        /* an idle keep-alive connection */
    srv->lws = lws_create_context(&info);
    if (srv->lws == NULL)
        return mentis_err_set(MENTIS_ERR_INTERNAL, NULL, "cannot create the lws context");
    struct lws_vhost *vh = lws_get_vhost_by_name(srv->lws, info.vhost_name);
    if (vh == NULL)
        return mentis_err_set(MENTIS_ERR_INTERNAL, NULL, "lws: no vhost %s", info.vhost_name);
    st = gw_listener_attach(srv, vh);
    if (st != MENTIS_OK)
        return st;
    pthread_mutex_lock(&srv->wake_mu);
    srv->wake_target = srv->lws;
    pthread_mutex_unlock(&srv->wake_mu);
    return MENTIS_OK;
}

void gw_server_wake(void *arg)
{
    gw_server_t *srv = arg;
    pthread_mutex_lock(&srv->wake_mu);
    if (srv->wake_target)
        lws_cancel_service(srv->wake_target);
    pthread_mutex_unlock(&srv->wake_mu);
}

bool gw_server_ready(gw_server_t *srv, char *why, size_t why_size)
{
    if (atomic_load(&srv->draining)) {
        snprintf(why, why_size, "shutting down");
        return false;
    }
    if (!atomic_load(&srv->started)) {
        snprintf(why, why_size, "starting");
        return false;
    }
    if (!mentis_bus_connected(srv->bus)) {
        snprintf(why, why_size, "not connected to NATS");
        return false;
    }
    return true;
}

static void discovery_round(lws_sorted_usec_list_t *sul)
{
    gw_server_t *srv = lws_container_of(sul, gw_server_t, discovery_sul);
    gw_discovery_tick(srv->discovery);
    lws_sul_schedule(srv->lws, 0, &srv->discovery_sul, discovery_round,
                     (lws_usec_t)srv->settings->discovery_interval_ms * LWS_US_PER_MS);
}

static void check_clients(lws_sorted_usec_list_t *sul)
{
    gw_server_t *srv = lws_container_of(sul, gw_server_t, clients_sul);
    gw_http_check_clients(srv);
    lws_sul_schedule(srv->lws, 0, &srv->clients_sul, check_clients,
                     GW_CLIENT_CHECK_MS * LWS_US_PER_MS);
}

static void stop_now(lws_sorted_usec_list_t *sul)
{
    gw_server_t *srv = lws_container_of(sul, gw_server_t, stop_sul);
    srv->stop_now = true;
}

static void drain_expired(lws_sorted_usec_list_t *sul)
{
    gw_server_t *srv = lws_container_of(sul, gw_server_t, drain_sul);
    if (srv->inflight == 0)
        return;
    mentis_log_warn("grace period over with %zu requests in flight; answering them 503",
                    srv->inflight);
    gw_http_abort_all(srv);
    lws_sul_schedule(srv->lws, 0, &srv->stop_sul, stop_now, LWS_US_PER_SEC);
}

static void begin_drain(gw_server_t *srv)
{
    srv->drain_begun = true;
    gw_listener_close(srv);
    lws_sul_cancel(&srv->discovery_sul);
    lws_sul_schedule(srv->lws, 0, &srv->drain_sul, drain_expired,
                     (lws_usec_t)srv->settings->proc.grace_ms * LWS_US_PER_MS + 1);
    mentis_log_info("draining: listener closed, finishing %zu requests in flight (up to %d ms)",
                    srv->inflight, srv->settings->proc.grace_ms);
}

static void *loop_main(void *arg)
{
    gw_server_t *srv = arg;
    lws_sul_schedule(srv->lws, 0, &srv->discovery_sul, discovery_round, 1);
    lws_sul_schedule(srv->lws, 0, &srv->clients_sul, check_clients,
                     GW_CLIENT_CHECK_MS * LWS_US_PER_MS);
    gw_access_start(srv->access);
    mentis_bus_loop_t nats_loop = {gw_server_wake, srv};
    if (mentis_bus_loop_attach(srv->bus, &nats_loop) != MENTIS_OK)
        mentis_log_warn("%s; NATS stays on the bus's threads", mentis_err_msg());
    while (!srv->stop_now) {
        nats_turn(srv);
        if (lws_service(srv->lws, 0) < 0) {
            mentis_log_error("lws service loop failed; stopping");
            break;
        }
        if (atomic_load(&srv->draining)) {
            if (!srv->drain_begun)
                begin_drain(srv);
            if (srv->inflight == 0)
                break;
        }
    }
    /* What the last turn published, then the socket back to a bus thread: the bus is
     * still used (and closed) after this thread ends. */
    nats_turn(srv);
    nats_unwatch();
    mentis_bus_loop_detach(srv->bus);
    gw_access_halt(srv->access);
    lws_sul_cancel(&srv->discovery_sul);
    lws_sul_cancel(&srv->clients_sul);
    lws_sul_cancel(&srv->drain_sul);
    lws_sul_cancel(&srv->stop_sul);
    lws_sul_cancel(&srv->accept_sul);
    return NULL;
}

mentis_status_t gw_server_start(gw_server_t *srv)
{
    if (pthread_create(&srv->thread, NULL, loop_main, srv) != 0)
        return mentis_err_set(MENTIS_ERR_INTERNAL, NULL, "cannot start the HTTP thread");
    srv->thread_started = true;
    return MENTIS_OK;
}

void gw_server_drain(gw_server_t *srv)
{
    atomic_store(&srv->draining, true);
    if (!srv->thread_started)
        return;
    gw_server_wake(srv);
    pthread_join(srv->thread, NULL);
    srv->thread_started = false;
}

void gw_server_close(gw_server_t *srv)
{
    if (srv->lws != NULL) {
        pthread_mutex_lock(&srv->wake_mu);
        srv->wake_target = NULL;
        pthread_mutex_unlock(&srv->wake_mu);
        /* Closes every connection left (their requests end and cancel their bus requests)
         * and the listening socket if the drain has not. */
        lws_context_destroy(srv->lws);
        srv->lws = NULL;
    }
    srv->listen_wsi = NULL;
    if (srv->listen_fd >= 0) /* opened, never handed to lws */
        close(srv->listen_fd);
    srv->listen_fd = -1;
}
