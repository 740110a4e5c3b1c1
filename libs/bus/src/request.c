/*
 * Asynchronous requests. One wildcard subscription "<inbox>.*" receives every reply; the
 * last token of the reply subject is the request id. Deadlines sit in a min-heap watched by
 * one timer thread. An entry stays in the table until its callback runs (or it is
 * cancelled), so a completion queued on a dispatch queue can still be cancelled.
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bus_internal.h"
#include "mentis/log.h"

enum pending_state { WAITING, QUEUED };

struct pending {
    uint64_t id;
    int64_t deadline_ms;
    mentis_bus_reply_fn cb;
    void *arg;
    mentis_bus_dispatch_t *dispatch;
    enum pending_state state;
    size_t heap_idx;        /* valid while WAITING */
    mentis_status_t result; /* valid while QUEUED */
    natsMsg *reply;         /* valid while QUEUED; owned */
    struct pending *next;   /* hash chain */
    /* For mentis_bus_request_sync only. */
};

/* ---- hash table (callers hold r->mu) ---- */

static struct pending **chain(struct requests *r, uint64_t id)
{
    return &r->buckets[(id * 0x9E3779B97F4A7C15u >> 32) & (r->nbuckets - 1)];
}

static bool table_grow(struct requests *r)
{
    size_t n = r->nbuckets * 2;
    struct pending **b = calloc(n, sizeof *b);
    if (b == NULL)
        return false;
    struct pending **old = r->buckets;
    size_t oldn = r->nbuckets;
    r->buckets = b;
    r->nbuckets = n;
    for (size_t i = 0; i < oldn; i++) {
        for (struct pending *p = old[i], *next; p; p = next) {
            next = p->next;
            struct pending **c = chain(r, p->id);
            p->next = *c;
            *c = p;
        }
    }
    free(old);
    return true;
}

static struct pending *table_find(struct requests *r, uint64_t id)
{
    for (struct pending *p = *chain(r, id); p; p = p->next)
        if (p->id == id)
            return p;
    return NULL;
}

static void table_remove(struct requests *r, struct pending *e)
{
    for (struct pending **pp = chain(r, e->id); *pp; pp = &(*pp)->next) {
        if (*pp == e) {
            *pp = e->next;
            r->count--;
            return;
        }
    }
}

/* ---- deadline heap (callers hold r->mu) ---- */

static void heap_swap(struct requests *r, size_t a, size_t b)
{
    struct pending *t = r->heap[a];
    r->heap[a] = r->heap[b];
    r->heap[b] = t;
    r->heap[a]->heap_idx = a;
    r->heap[b]->heap_idx = b;
}

static void heap_up(struct requests *r, size_t i)
{
    while (i > 0) {
        size_t parent = (i - 1) / 2;
        if (r->heap[parent]->deadline_ms <= r->heap[i]->deadline_ms)
            break;
        heap_swap(r, i, parent);
        i = parent;
    }
}

static void heap_down(struct requests *r, size_t i)
{
    for (;;) {
        size_t l = 2 * i + 1, rr = l + 1, m = i;
        if (l < r->heap_len && r->heap[l]->deadline_ms < r->heap[m]->deadline_ms)
            m = l;
        if (rr < r->heap_len && r->heap[rr]->deadline_ms < r->heap[m]->deadline_ms)
            m = rr;
        if (m == i)
            return;
        heap_swap(r, i, m);
        i = m;
    }
}

static bool heap_push(struct requests *r, struct pending *e)
{
    if (r->heap_len == r->heap_cap) {
        size_t cap = r->heap_cap ? r->heap_cap * 2 : 64;
        struct pending **h = realloc(r->heap, cap * sizeof *h);
        if (h == NULL)
            return false;
        r->heap = h;
        r->heap_cap = cap;
    }
    e->heap_idx = r->heap_len;
    r->heap[r->heap_len++] = e;
    heap_up(r, e->heap_idx);
    return true;
}

static void heap_remove(struct requests *r, struct pending *e)
{
    size_t i = e->heap_idx;
    r->heap_len--;
    if (i != r->heap_len) {
        heap_swap(r, i, r->heap_len);
        heap_down(r, i);
        heap_up(r, i);
    }
}

/* ---- completion ---- */

/*
 * Completes a WAITING entry (caller holds r->mu; returns with it released). Without a
 * dispatch queue the callback runs here, on the calling bus thread; with one, the result
 * is stored and the queue told.
 */
static void complete_locked(mentis_bus_t *bus, struct pending *e, mentis_status_t st, natsMsg *reply)
{
    struct requests *r = &bus->req;
    heap_remove(r, e);
    if (e->dispatch == NULL) {
        table_remove(r, e);
        pthread_mutex_unlock(&r->mu);
        e->cb(e->arg, st, reply);
        free(e);
        return;
    }
    e->state = QUEUED;
    e->result = st;
    e->reply = reply;
    mentis_bus_dispatch_t *d = e->dispatch;
    uint64_t id = e->id;
    pthread_mutex_unlock(&r->mu);
    mentis__dispatch_post(d, bus, id);
}

void mentis__requests_finish(mentis_bus_t *bus, uint64_t id)
{
    struct requests *r = &bus->req;
    pthread_mutex_lock(&r->mu);
    struct pending *e = table_find(r, id);
    if (e == NULL || e->state != QUEUED) { /* cancelled meanwhile */
        pthread_mutex_unlock(&r->mu);
        return;
    }
    table_remove(r, e);
    pthread_mutex_unlock(&r->mu);
    e->cb(e->arg, e->result, e->reply);
    free(e);
}

static void on_reply(natsConnection *nc, natsSubscription *sub, natsMsg *msg, void *closure)
{
    (void)nc;
    (void)sub;
    mentis_bus_t *bus = closure;
    struct requests *r = &bus->req;
    const char *subject = natsMsg_GetSubject(msg);
    const char *dot = strrchr(subject, '.');
    char *end = NULL;
    uint64_t id = dot ? strtoull(dot + 1, &end, 10) : 0;
    if (dot == NULL || end == dot + 1 || *end != '\0') {
        natsMsg_Destroy(msg);
        return;
    }
    pthread_mutex_lock(&r->mu);
    struct pending *e = table_find(r, id);
    if (e == NULL || e->state != WAITING) { /* late, duplicate or cancelled */
        pthread_mutex_unlock(&r->mu);
        natsMsg_Destroy(msg);
        return;
    }
    if (natsMsg_IsNoResponders(msg)) {
        natsMsg_Destroy(msg);
        complete_locked(bus, e, MENTIS_ERR_UNAVAILABLE, NULL);
        return;
    }
    complete_locked(bus, e, MENTIS_OK, msg);
}

static void *timer_main(void *arg)
{
    mentis_bus_t *bus = arg;
    struct requests *r = &bus->req;
    pthread_mutex_lock(&r->mu);
    while (!r->stopping) {
        if (r->heap_len == 0) {
            pthread_cond_wait(&r->timer_cv, &r->mu);
            continue;
        }
        int64_t now = mentis_bus_now_ms();
        struct pending *e = r->heap[0];
        if (e->deadline_ms <= now) {
            complete_locked(bus, e, MENTIS_ERR_DEADLINE_EXCEEDED, NULL);
            pthread_mutex_lock(&r->mu);
            continue;
        }
        struct timespec ts = {.tv_sec = e->deadline_ms / 1000,
                              .tv_nsec = (e->deadline_ms % 1000) * 1000000};
        pthread_cond_timedwait(&r->timer_cv, &r->mu, &ts);
    }
    pthread_mutex_unlock(&r->mu);
    return NULL;
}

mentis_status_t mentis__requests_init(mentis_bus_t *bus)
{
    struct requests *r = &bus->req;
    pthread_mutex_init(&r->mu, NULL);
    pthread_cond_init(&r->timer_cv, NULL);
    r->nbuckets = 256;
    r->buckets = calloc(r->nbuckets, sizeof *r->buckets);
    r->next_id = 1;
    if (r->buckets == NULL)
        return mentis_err_set(MENTIS_ERR_NO_MEMORY, NULL, "bus: out of memory");
    mentis_status_t st = mentis_bus_new_inbox(bus, r->inbox_prefix, sizeof r->inbox_prefix);
    if (st != MENTIS_OK)
        goto fail;
    char subject[sizeof r->inbox_prefix + 2];
    snprintf(subject, sizeof subject, "%s.*", r->inbox_prefix);
    /* Asynchronous even in loop mode: a synchronous subscription would be read on the
     * loop's thread, but nats.c's NextMsg swallows a "no responders" status and returns
     * only an error, without the subject that says which request it answers. */
    natsStatus s = natsConnection_Subscribe(&r->sub, bus->nc, subject, on_reply, bus);
    if (s == NATS_OK) /* replies must never be dropped for being "slow" */
        s = natsSubscription_SetPendingLimits(r->sub, -1, -1);
    if (s == NATS_OK)
        s = mentis__sub_done_watch(r->sub, &r->sub_done);
    if (s != NATS_OK) {
        st = mentis__bus_nats_status(s, "bus: reply subscription");
        goto fail;
    }
    if (pthread_create(&r->timer, NULL, timer_main, bus) != 0) {
        st = mentis_err_set(MENTIS_ERR_INTERNAL, NULL, "bus: cannot start the timer thread");
        goto fail;
    }
    r->timer_started = true;
    return MENTIS_OK;
fail:
    if (r->sub)
        natsSubscription_Destroy(r->sub);
    r->sub = NULL;
    free(r->buckets);
    pthread_cond_destroy(&r->timer_cv);
    pthread_mutex_destroy(&r->mu);
    return st;
}

void mentis__requests_fini(mentis_bus_t *bus)
{
    struct requests *r = &bus->req;
    natsSubscription_Unsubscribe(r->sub);
    /* on_reply may be running: the table must outlive it. */
    if (!mentis__sub_done_wait(&r->sub_done, 5000))
        mentis_log_warn("bus: the reply handler did not finish within 5 s");
    natsSubscription_Destroy(r->sub);
    r->sub = NULL;
    pthread_mutex_lock(&r->mu);
    r->stopping = true;
    pthread_cond_signal(&r->timer_cv);
    pthread_mutex_unlock(&r->mu);
    if (r->timer_started)
        pthread_join(r->timer, NULL);
    for (size_t i = 0; i < r->nbuckets; i++) {
        for (struct pending *p = r->buckets[i], *n; p; p = n) {
            n = p->next;
            if (p->state == QUEUED)
                natsMsg_Destroy(p->reply);
            free(p);
        }
    }
    free(r->buckets);
    free(r->heap);
    pthread_cond_destroy(&r->timer_cv);
    pthread_mutex_destroy(&r->mu);
}

mentis_status_t mentis_bus_request(mentis_bus_t *bus, const char *subject,
                                   const mentis_header_t *hdrs, size_t nh, const void *data,
                                   size_t len, int64_t deadline_ms, mentis_bus_dispatch_t *dispatch,
                                   mentis_bus_reply_fn cb, void *arg, uint64_t *id_out)
{
    struct requests *r = &bus->req;
    if (!mentis_bus_connected(bus))
        return mentis_err_set(MENTIS_ERR_UNAVAILABLE, NULL, "bus: not connected to NATS (%s)", subject);
    if (deadline_ms <= mentis_bus_now_ms())
        return mentis_err_set(MENTIS_ERR_DEADLINE_EXCEEDED, NULL, "bus: deadline already passed (%s)",
                              subject);
    struct pending *e = calloc(1, sizeof *e);
    if (e == NULL)
        return mentis_err_set(MENTIS_ERR_NO_MEMORY, NULL, "bus: out of memory");
    e->deadline_ms = deadline_ms;
    e->cb = cb;
    e->arg = arg;
    e->dispatch = dispatch;
    e->state = WAITING;

    enum { MAX_HDRS = 16 };
    mentis_header_t all[MAX_HDRS + 1];
    char deadline[24], reply[sizeof r->inbox_prefix + 24];
    size_t n = 0;
    for (size_t i = 0; i < nh && n < MAX_HDRS; i++)
        if (strcmp(hdrs[i].key, MENTIS_HDR_DEADLINE) != 0)
            all[n++] = hdrs[i];
    snprintf(deadline, sizeof deadline, "%" PRId64, deadline_ms);
    all[n++] = (mentis_header_t){MENTIS_HDR_DEADLINE, deadline};

    pthread_mutex_lock(&r->mu);
    if (r->count * 2 >= r->nbuckets && !table_grow(r)) {
        pthread_mutex_unlock(&r->mu);
        free(e);
        return mentis_err_set(MENTIS_ERR_NO_MEMORY, NULL, "bus: out of memory");
    }
    e->id = r->next_id++;
    if (!heap_push(r, e)) {
        pthread_mutex_unlock(&r->mu);
        free(e);
        return mentis_err_set(MENTIS_ERR_NO_MEMORY, NULL, "bus: out of memory");
    }
    struct pending **c = chain(r, e->id);
    e->next = *c;
    *c = e;
    r->count++;
    uint64_t id = e->id;
    if (e->heap_idx == 0)
        pthread_cond_signal(&r->timer_cv);
    pthread_mutex_unlock(&r->mu);
    /* From here on the entry may complete (and be freed) at any time: use `id` only. */

    snprintf(reply, sizeof reply, "%s.%" PRIu64, r->inbox_prefix, id);
    mentis_status_t st = mentis_bus_publish(bus, subject, reply, all, n, data, len);
    if (st != MENTIS_OK) {
        if (mentis_bus_request_cancel(bus, id))
            return st;
        /* Completed already (a timer raced the failed publish): let that completion stand. */
    }
    if (id_out)
        *id_out = id;
    return MENTIS_OK;
}

bool mentis_bus_request_cancel(mentis_bus_t *bus, uint64_t id)
{
    struct requests *r = &bus->req;
    pthread_mutex_lock(&r->mu);
    struct pending *e = table_find(r, id);
    if (e == NULL) {
        pthread_mutex_unlock(&r->mu);
        return false;
    }
    table_remove(r, e);
    if (e->state == WAITING)
        heap_remove(r, e);
    pthread_mutex_unlock(&r->mu);
    if (e->state == QUEUED)
        natsMsg_Destroy(e->reply);
    free(e);
    return true;
}

size_t mentis_bus_pending(mentis_bus_t *bus)
{
    pthread_mutex_lock(&bus->req.mu);
    size_t n = bus->req.count;
    pthread_mutex_unlock(&bus->req.mu);
    return n;
}

/* ---- the blocking form, on top of the asynchronous one ---- */

struct sync_wait {
    pthread_mutex_t mu;
    pthread_cond_t cv;
    bool done;
    mentis_status_t st;
    natsMsg *reply;
};

static void sync_done(void *arg, mentis_status_t st, mentis_msg_t *reply)
{
    struct sync_wait *w = arg;
    pthread_mutex_lock(&w->mu);
    w->done = true;
    w->st = st;
    w->reply = reply;
    pthread_cond_signal(&w->cv);
    pthread_mutex_unlock(&w->mu);
}

mentis_status_t mentis_bus_request_sync(mentis_bus_t *bus, const char *subject,
                                        const mentis_header_t *hdrs, size_t nh, const void *data,
                                        size_t len, int timeout_ms, mentis_msg_t **reply)
{
    struct sync_wait w = {.done = false};
    pthread_mutex_init(&w.mu, NULL);
    pthread_cond_init(&w.cv, NULL);
    mentis_status_t st = mentis_bus_request(bus, subject, hdrs, nh, data, len,
                                            mentis_bus_now_ms() + timeout_ms, NULL, sync_done, &w, NULL);
    if (st == MENTIS_OK) {
        pthread_mutex_lock(&w.mu);
        while (!w.done)
            pthread_cond_wait(&w.cv, &w.mu);
        pthread_mutex_unlock(&w.mu);
        st = w.st;
        if (st == MENTIS_OK)
            *reply = w.reply;
        else if (st == MENTIS_ERR_DEADLINE_EXCEEDED)
            mentis_err_set(st, NULL, "bus: no reply on %s within %d ms", subject, timeout_ms);
        else
            mentis_err_set(st, NULL, "bus: no responders on %s", subject);
    }
    pthread_cond_destroy(&w.cv);
    pthread_mutex_destroy(&w.mu);
    return st;
}
