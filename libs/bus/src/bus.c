/* Connection, subscriptions and publishing. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "bus_internal.h"
#include "mentis/log.h"

struct mentis_bus_sub {
    natsSubscription *sub;
    mentis_bus_msg_fn fn;
    void *arg;
    struct sub_done done;
};

static void on_sub_done(void *closure)
{
    struct sub_done *d = closure;
    pthread_mutex_lock(&d->mu);
    d->done = true;
    pthread_cond_broadcast(&d->cv);
    pthread_mutex_unlock(&d->mu);
}

natsStatus mentis__sub_done_watch(natsSubscription *sub, struct sub_done *d)
{
    pthread_mutex_init(&d->mu, NULL);
    pthread_cond_init(&d->cv, NULL);
    d->done = false;
    return natsSubscription_SetOnCompleteCB(sub, on_sub_done, d);
}

bool mentis__sub_done_wait(struct sub_done *d, int timeout_ms)
{
    int64_t until = mentis_bus_now_ms() + timeout_ms;
    struct timespec ts = {.tv_sec = until / 1000, .tv_nsec = (until % 1000) * 1000000};
    pthread_mutex_lock(&d->mu);
    while (!d->done && pthread_cond_timedwait(&d->cv, &d->mu, &ts) == 0)
        ;
    bool done = d->done;
    pthread_mutex_unlock(&d->mu);
    if (done) {
        pthread_cond_destroy(&d->cv);
        pthread_mutex_destroy(&d->mu);
    }
    return done;
}

mentis_status_t mentis__bus_nats_status(natsStatus s, const char *what)
{
    if (s == NATS_OK)
        return MENTIS_OK;
    mentis_status_t st;
    switch (s) {
    case NATS_NO_MEMORY: st = MENTIS_ERR_NO_MEMORY; break;
    case NATS_TIMEOUT: st = MENTIS_ERR_DEADLINE_EXCEEDED; break;
    case NATS_INVALID_ARG:
    case NATS_INVALID_SUBJECT:
    case NATS_MAX_PAYLOAD: st = MENTIS_ERR_INVALID_ARGUMENT; break;
    default: st = MENTIS_ERR_UNAVAILABLE; break;
    }
    return mentis_err_set(st, NULL, "%s: %s", what, natsStatus_GetText(s));
}

int64_t mentis_bus_now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void set_connected(mentis_bus_t *bus, bool up)
{
    pthread_mutex_lock(&bus->state_mu);
    bool changed = bus->connected != up && !bus->closing;
    bus->connected = up;
    pthread_cond_broadcast(&bus->state_cv);
    pthread_mutex_unlock(&bus->state_mu);
    if (changed) {
        if (up)
            mentis_log_info("nats connected");
        else
            mentis_log_warn("nats disconnected; reconnecting");
        if (bus->on_state)
            bus->on_state(bus->state_arg, up);
    }
}

static void on_connected(natsConnection *nc, void *closure)
{
    (void)nc;
    set_connected(closure, true);
}

static void on_disconnected(natsConnection *nc, void *closure)
{
    (void)nc;
    set_connected(closure, false);
}

/* nats.c runs connection callbacks on a thread of its own; "closed" is always the last. */
static void on_closed(natsConnection *nc, void *closure)
{
    (void)nc;
    mentis_bus_t *bus = closure;
    pthread_mutex_lock(&bus->state_mu);
    bus->closed = true;
    pthread_cond_broadcast(&bus->state_cv);
    pthread_mutex_unlock(&bus->state_mu);
}

static void on_error(natsConnection *nc, natsSubscription *sub, natsStatus err, void *closure)
{
    (void)nc;
    (void)sub;
    (void)closure;
    /* Slow consumers and the like: worth a line, never fatal. */
    mentis_log_warn("nats: %s", natsStatus_GetText(err));
}

mentis_status_t mentis_bus_connect(const mentis_bus_options_t *o, mentis_bus_t **out)
{
    mentis_status_t st;
    natsStatus s;
    /* Before nats.c opens itself with its default: no spinning on its locks. It spins up
     * to 2000 times before sleeping, which on a machine with few cores (and on a virtual
     * one, where a pause loop can cost an exit) burns the time the lock's holder needs —
     * a holder that is usually inside a write(2). A no-op once the library is open. */
    nats_Open(0);
    mentis_bus_t *bus = calloc(1, sizeof *bus);
    if (bus == NULL)
        return mentis_err_set(MENTIS_ERR_NO_MEMORY, NULL, "bus: out of memory");
    pthread_mutex_init(&bus->state_mu, NULL);
    pthread_cond_init(&bus->state_cv, NULL);
    bus->on_state = o->on_state;
    bus->state_arg = o->state_arg;

    s = natsOptions_Create(&bus->opts);
    if (s == NATS_OK)
        s = natsOptions_SetServers(bus->opts, NULL, 0);
    if (s == NATS_OK)
        s = natsOptions_SetURL(bus->opts, o->url ? o->url : "nats://127.0.0.1:4222");
    if (s == NATS_OK && o->name)
        s = natsOptions_SetName(bus->opts, o->name);
    if (s == NATS_OK && o->user)
        s = natsOptions_SetUserInfo(bus->opts, o->user, o->password ? o->password : "");
    if (s == NATS_OK && o->token)
        s = natsOptions_SetToken(bus->opts, o->token);
    /* Never give up: -1 reconnects for ever; publishes are buffered meanwhile. */
    if (s == NATS_OK)
        s = natsOptions_SetMaxReconnect(bus->opts, -1);
    if (s == NATS_OK)
        s = natsOptions_SetReconnectWait(bus->opts, o->reconnect_wait_ms > 0 ? o->reconnect_wait_ms : 250);
    if (s == NATS_OK)
        s = natsOptions_SetReconnectJitter(bus->opts, 100, 1000);
    if (s == NATS_OK)
        s = natsOptions_SetReconnectBufSize(bus->opts, o->reconnect_buffer_bytes > 0
                                                           ? o->reconnect_buffer_bytes
                                                           : 8 * 1024 * 1024);
    /* Without this, every reply waits for the flusher (about 1 ms each). */
    if (s == NATS_OK)
        s = natsOptions_SetSendAsap(bus->opts, true);
    if (s == NATS_OK)
        s = natsOptions_SetTimeout(bus->opts, 2000);
    /* Callbacks only hand messages on, so one shared delivery thread serves every
     * subscription instead of a thread each. */
    if (s == NATS_OK)
        s = natsOptions_UseGlobalMessageDelivery(bus->opts, true);
    if (s == NATS_OK)
        s = natsOptions_SetRetryOnFailedConnect(bus->opts, true, on_connected, bus);
    if (s == NATS_OK)
        s = natsOptions_SetDisconnectedCB(bus->opts, on_disconnected, bus);
    if (s == NATS_OK)
        s = natsOptions_SetReconnectedCB(bus->opts, on_connected, bus);
    if (s == NATS_OK)
        s = natsOptions_SetErrorHandler(bus->opts, on_error, bus);
    if (s == NATS_OK)
        s = natsOptions_SetClosedCB(bus->opts, on_closed, bus);
    if (s == NATS_OK && o->loop_mode) {
        bus->loop_mode = true;
        if ((st = mentis__loop_init(bus)) != MENTIS_OK) {
            bus->loop_mode = false;
            goto fail;
        }
        s = mentis__loop_options(bus);
    }
    if (s != NATS_OK) {
        st = mentis__bus_nats_status(s, "bus: options");
        goto fail;
    }
    /* Before connecting: the connection's first writes go through the socket's driver. */
    if (bus->loop_mode && (st = mentis__loop_start(bus)) != MENTIS_OK)
        goto fail;
    s = natsConnection_Connect(&bus->nc, bus->opts);
    if (s == NATS_OK) {
        set_connected(bus, true);
    } else if (s == NATS_NOT_YET_CONNECTED) {
        mentis_log_warn("nats at %s not reachable yet; retrying in the background",
                        o->url ? o->url : "nats://127.0.0.1:4222");
    } else {
        st = mentis__bus_nats_status(s, "bus: connect");
        goto fail;
    }
    st = mentis__requests_init(bus);
    if (st != MENTIS_OK)
        goto fail;
    *out = bus;
    return MENTIS_OK;

fail:
    if (bus->loop_mode)
        mentis__loop_stop(bus);
    if (bus->nc) {
        natsConnection_Close(bus->nc);
        natsConnection_Destroy(bus->nc);
    }
    if (bus->loop_mode)
        mentis__loop_fini(bus);
    natsOptions_Destroy(bus->opts);
    pthread_cond_destroy(&bus->state_cv);
    pthread_mutex_destroy(&bus->state_mu);
    free(bus);
    return st;
}

void mentis_bus_close(mentis_bus_t *bus)
{
    if (bus == NULL)
        return;
    if (natsConnection_Status(bus->nc) == NATS_CONN_STATUS_CONNECTED)
        natsConnection_FlushTimeout(bus->nc, 1000);
    mentis__requests_fini(bus);
    pthread_mutex_lock(&bus->state_mu);
    bus->closing = true;
    pthread_mutex_unlock(&bus->state_mu);
    natsConnection_Close(bus->nc);
    /* Callbacks still queued (disconnected, closed) hold a pointer to the bus: wait for
     * the last one before freeing it. */
    int64_t until = mentis_bus_now_ms() + 5000;
    struct timespec ts = {.tv_sec = until / 1000, .tv_nsec = (until % 1000) * 1000000};
    pthread_mutex_lock(&bus->state_mu);
    while (!bus->closed && pthread_cond_timedwait(&bus->state_cv, &bus->state_mu, &ts) == 0)
        ;
    pthread_mutex_unlock(&bus->state_mu);
    /* Loop mode: the socket's driver (the bus's thread: the owner has detached) ran until
     * the connection closed; it stops before the connection is freed. */
    if (bus->loop_mode)
        mentis__loop_fini(bus);
    natsConnection_Destroy(bus->nc);
    natsOptions_Destroy(bus->opts);
    pthread_cond_destroy(&bus->state_cv);
    pthread_mutex_destroy(&bus->state_mu);
    free(bus);
}

bool mentis_bus_connected(mentis_bus_t *bus)
{
    return natsConnection_Status(bus->nc) == NATS_CONN_STATUS_CONNECTED;
}

mentis_status_t mentis_bus_wait_connected(mentis_bus_t *bus, int timeout_ms)
{
    int64_t until = mentis_bus_now_ms() + timeout_ms;
    struct timespec ts = {.tv_sec = until / 1000, .tv_nsec = (until % 1000) * 1000000};
    pthread_mutex_lock(&bus->state_mu);
    while (!bus->connected) {
        if (pthread_cond_timedwait(&bus->state_cv, &bus->state_mu, &ts) != 0)
            break;
    }
    bool up = bus->connected;
    pthread_mutex_unlock(&bus->state_mu);
    if (!up)
        return mentis_err_set(MENTIS_ERR_UNAVAILABLE, NULL, "bus: not connected to NATS after %d ms",
                              timeout_ms);
    return MENTIS_OK;
}

natsConnection *mentis_bus_nats(mentis_bus_t *bus)
{
    return bus->nc;
}

mentis_status_t mentis_bus_new_inbox(mentis_bus_t *bus, char *buf, size_t size)
{
    (void)bus;
    natsInbox *inbox = NULL;
    natsStatus s = natsInbox_Create(&inbox);
    if (s != NATS_OK)
        return mentis__bus_nats_status(s, "bus: inbox");
    int n = snprintf(buf, size, "%s", inbox);
    natsInbox_Destroy(inbox);
    if (n < 0 || (size_t)n >= size)
        return mentis_err_set(MENTIS_ERR_TOO_LARGE, NULL, "bus: inbox buffer too small");
    return MENTIS_OK;
}

static void on_sub_msg(natsConnection *nc, natsSubscription *sub, natsMsg *msg, void *closure)
{
    (void)nc;
    (void)sub;
    mentis_bus_sub_t *s = closure;
    s->fn(s->arg, msg);
}

mentis_status_t mentis_bus_subscribe(mentis_bus_t *bus, const char *subject, const char *queue,
                                     mentis_bus_msg_fn fn, void *arg, mentis_bus_sub_t **out)
{
    mentis_bus_sub_t *s = calloc(1, sizeof *s);
    if (s == NULL)
        return mentis_err_set(MENTIS_ERR_NO_MEMORY, NULL, "bus: out of memory");
    s->fn = fn;
    s->arg = arg;
    natsStatus ns = queue ? natsConnection_QueueSubscribe(&s->sub, bus->nc, subject, queue, on_sub_msg, s)
                          : natsConnection_Subscribe(&s->sub, bus->nc, subject, on_sub_msg, s);
    if (ns == NATS_OK && (ns = mentis__sub_done_watch(s->sub, &s->done)) != NATS_OK)
        natsSubscription_Destroy(s->sub); /* closes it: not subscribed long enough to matter */
    if (ns != NATS_OK) {
        free(s);
        return mentis_err_wrap(mentis__bus_nats_status(ns, "subscribe"), "bus: %s", subject);
    }
    *out = s;
    return MENTIS_OK;
}

void mentis_bus_unsubscribe(mentis_bus_sub_t *s, bool drain, int timeout_ms)
{
    if (s == NULL)
        return;
    if (drain && natsSubscription_Drain(s->sub) == NATS_OK) {
        natsSubscription_WaitForDrainCompletion(s->sub, timeout_ms);
    } else {
        natsSubscription_Unsubscribe(s->sub);
    }
    /* The handler may still be running on a delivery thread: s (and the caller's state)
     * must outlive it. Should nats.c never report the end, leak s rather than free it. */
    bool done = mentis__sub_done_wait(&s->done, 5000);
    natsSubscription_Destroy(s->sub);
    if (done)
        free(s);
    else
        mentis_log_warn("bus: a subscription's handler did not finish within 5 s");
}

natsMsg *mentis__bus_msg_new(const char *subject, const char *reply, const mentis_header_t *hdrs,
                             size_t nh, const void *data, size_t len, mentis_status_t *st)
{
    natsMsg *m = NULL;
    if (len > (size_t)INT32_MAX) {
        *st = mentis_err_set(MENTIS_ERR_TOO_LARGE, NULL, "bus: %zu-byte message", len);
        return NULL;
    }
    natsStatus s = natsMsg_Create(&m, subject, reply, data, (int)len);
    for (size_t i = 0; s == NATS_OK && i < nh; i++)
        if (hdrs[i].key && hdrs[i].value)
            s = natsMsgHeader_Set(m, hdrs[i].key, hdrs[i].value);
    if (s != NATS_OK) {
        natsMsg_Destroy(m);
        *st = mentis_err_wrap(mentis__bus_nats_status(s, "message"), "bus: %s", subject);
        return NULL;
    }
    *st = MENTIS_OK;
    return m;
}

mentis_status_t mentis_bus_publish(mentis_bus_t *bus, const char *subject, const char *reply,
                                   const mentis_header_t *hdrs, size_t nh, const void *data, size_t len)
{
    mentis_status_t st;
    natsMsg *m = mentis__bus_msg_new(subject, reply, hdrs, nh, data, len, &st);
    if (m == NULL)
        return st;
    natsStatus s = natsConnection_PublishMsg(bus->nc, m);
    mentis_msg_destroy(m);
    if (s != NATS_OK)
        return mentis_err_wrap(mentis__bus_nats_status(s, "publish"), "bus: %s", subject);
    return MENTIS_OK;
}

mentis_status_t mentis_bus_reply(mentis_bus_t *bus, const mentis_msg_t *req,
                                 const mentis_header_t *hdrs, size_t nh, const void *data, size_t len)
{
    const char *reply = mentis_msg_reply(req);
    if (reply == NULL)
        return MENTIS_OK;
    return mentis_bus_publish(bus, reply, NULL, hdrs, nh, data, len);
}

mentis_status_t mentis_bus_reply_error(mentis_bus_t *bus, const mentis_msg_t *req,
                                       const mentis_header_t *hdrs, size_t nh, mentis_status_t st,
                                       const char *code, const char *message, const void *body,
                                       size_t body_len)
{
    enum { MAX_EXTRA = 16 };
    mentis_header_t all[MAX_EXTRA + 3];
    char http[8];
    if (st == MENTIS_OK)
        st = MENTIS_ERR_INTERNAL;
    snprintf(http, sizeof http, "%d", mentis_status_http(st));
    size_t n = 0;
    all[n++] = (mentis_header_t){MENTIS_HDR_SVC_ERROR_CODE, http};
    all[n++] = (mentis_header_t){MENTIS_HDR_SVC_ERROR, message && *message ? message : mentis_status_str(st)};
    all[n++] = (mentis_header_t){MENTIS_HDR_ERROR_CODE, code && *code ? code : mentis_status_str(st)};
    for (size_t i = 0; i < nh && i < MAX_EXTRA; i++)
        all[n++] = hdrs[i];
    return mentis_bus_reply(bus, req, all, n, body, body_len);
}
