/*
 * Workers and their queue. The NATS delivery thread only places a message in the queue the
 * workers share (MENTIS_MAILBOX_SIZE places per worker); when it is full the message is
 * refused at once with `unavailable`, so load is shed instead of queued without end. Each
 * worker owns a memory pool reset after every message.
 *
 * One shared queue rather than a mailbox per worker: a worker that finishes a message
 * takes the next one without sleeping, and a message wakes a sleeping worker only while
 * the sleepers outnumber the wake-ups already sent. With a mailbox each, filled
 * round-robin, nearly every message woke a sleeping thread — on two cores shared with
 * everything else, those wake-ups (a futex call and two context switches each) cost more
 * than a small handler.
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "mentis/log.h"
#include "mentis/v1/common.pb-c.h"
#include "service_internal.h"

struct slot {
    struct op_entry *entry;
    mentis_msg_t *msg;
};

struct work_queue {
    pthread_mutex_t mu;     /* protects everything below */
    pthread_cond_t work_cv; /* a message waits, or stop */
    pthread_cond_t idle_cv; /* the queue is empty and no worker busy */
    struct slot *ring;
    size_t cap, head, len;
    size_t sleeping; /* workers waiting on work_cv */
    size_t waking;   /* of those, signalled and not yet running */
    size_t busy;     /* workers handling a message */
    bool stop;
};

struct worker {
    mentis_service_t *svc;
    pthread_t thread;
};

static int64_t now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

static bool queue_push(struct work_queue *q, struct op_entry *e, mentis_msg_t *msg)
{
    pthread_mutex_lock(&q->mu);
    bool ok = !q->stop && q->len < q->cap;
    if (ok) {
        q->ring[(q->head + q->len) % q->cap] = (struct slot){e, msg};
        q->len++;
        /* A sleeper is woken only while sleepers outnumber the wake-ups already sent: a
         * burst wakes each worker once, not once per message. */
        if (q->sleeping > q->waking) {
            q->waking++;
            pthread_cond_signal(&q->work_cv);
        }
    }
    pthread_mutex_unlock(&q->mu);
    return ok;
}

void mentis__op_receive(void *arg, mentis_msg_t *msg)
{
    struct op_entry *e = arg;
    mentis_service_t *svc = e->svc;
    if (queue_push(svc->queue, e, msg))
        return;
    mentis_counter_inc(svc->shed);
    mentis_counter_inc(e->requests);
    mentis_counter_inc(e->errors);
    mentis_histogram_observe(e->duration, 0); /* counted as a (very fast) request */
    const char *why = atomic_load(&svc->draining) ? "service is shutting down"
                                                  : "service overloaded: the work queue is full";
    mentis_bus_reply_error(svc->bus, msg, NULL, 0, MENTIS_ERR_UNAVAILABLE, NULL, why, NULL, 0);
    mentis_msg_destroy(msg);
}

/* ---- protobuf-c allocations from the message pool ---- */

static void *pool_alloc(void *data, size_t size)
{
    return mentis_pool_alloc(data, size);
}

static void pool_free(void *data, void *p)
{
    (void)data;
    (void)p; /* freed with the pool */
}

/* Encodes the collected field problems as mentis.v1.ErrorDetail into the pool. */
static uint8_t *error_detail(mentis_ctx_t *ctx, size_t *len)
{
    if (ctx->nviolations == 0 && ctx->retry_after_s <= 0)
        return NULL;
    Mentis__V1__ErrorDetail d;
    mentis__v1__error_detail__init(&d);
    size_t nv = ctx->nviolations ? ctx->nviolations : 1; /* a retry_after alone has none */
    Mentis__V1__FieldViolation *items = mentis_pool_calloc(ctx->pool, nv, sizeof *items);
    Mentis__V1__FieldViolation **ptrs = mentis_pool_calloc(ctx->pool, nv, sizeof *ptrs);
    if (items == NULL || ptrs == NULL)
        return NULL;
    size_t i = 0;
    for (struct ctx_violation *v = ctx->violations; v; v = v->next, i++) {
        mentis__v1__field_violation__init(&items[i]);
        items[i].field = (char *)(uintptr_t)v->field;
        items[i].message = (char *)(uintptr_t)v->message;
        ptrs[i] = &items[i];
    }
    d.code = (char *)(uintptr_t)mentis_err_code();
    d.message = (char *)(uintptr_t)mentis_err_msg();
    d.n_errors = ctx->nviolations;
    d.retry_after_seconds = ctx->retry_after_s > 0 ? ctx->retry_after_s : 0;
    d.errors = ptrs;
    size_t n = mentis__v1__error_detail__get_packed_size(&d);
    uint8_t *buf = mentis_pool_alloc(ctx->pool, n ? n : 1);
    if (buf == NULL)
        return NULL;
    *len = mentis__v1__error_detail__pack(&d, buf);
    return buf;
}

static mentis_status_t run_handler(mentis_ctx_t *ctx, const ProtobufCMessage *req,
                                   ProtobufCMessage *resp)
{
    struct op_entry *e = ctx->entry;
    mentis_service_t *svc = ctx->svc;
    if ((e->op.flags & MENTIS_OP_TENANT) && mentis_ctx_tenant(ctx) == NULL)
        return mentis_err_set(MENTIS_ERR_UNAUTHENTICATED, NULL, "%s needs a tenant", e->op.op);
    if (!(e->op.flags & MENTIS_OP_DB))
        return e->op.fn(ctx, req, resp);

    int64_t deadline = mentis_ctx_deadline_ms(ctx);
    if (deadline == 0)
        deadline = mentis_bus_now_ms() + 5000;
    mentis_status_t st = mentis_db_acquire(svc->db, deadline, &ctx->conn);
    if (st != MENTIS_OK)
        return st;
    st = (e->op.flags & MENTIS_OP_READ) ? mentis_db_tx_begin_read(ctx->conn, mentis_ctx_tenant(ctx))
                                        : mentis_db_tx_begin(ctx->conn, mentis_ctx_tenant(ctx));
    if (st == MENTIS_OK) {
        st = e->op.fn(ctx, req, resp);
        if (st == MENTIS_OK)
            st = mentis_db_tx_commit(ctx->conn);
        else
            mentis_db_tx_rollback(ctx->conn);
    }
    mentis_db_release(svc->db, ctx->conn);
    ctx->conn = NULL;
    return st;
}

static void handle(struct worker *w, mentis_pool_t *pool, struct op_entry *e, mentis_msg_t *msg)
{
    mentis_service_t *svc = w->svc;
    int64_t t0 = now_ns();
    mentis_ctx_t ctx = {.svc = svc, .entry = e, .msg = msg, .pool = pool};
    ctx.violations_tail = &ctx.violations;
    ctx.events_tail = &ctx.events;
    mentis_err_clear();
    mentis_log_bind(mentis_msg_header(msg, MENTIS_HDR_REQUEST_ID),
                    mentis_msg_header(msg, MENTIS_HDR_TRACEPARENT));

    mentis_status_t st = MENTIS_OK;
    ProtobufCAllocator alloc = {.alloc = pool_alloc, .free = pool_free, .allocator_data = pool};
    ProtobufCMessage *req = NULL, *resp = NULL;
    int64_t deadline = mentis_ctx_deadline_ms(&ctx);
    if (deadline != 0 && deadline <= mentis_bus_now_ms()) {
        /* The caller has given up already: do no work for nobody. */
        st = mentis_err_set(MENTIS_ERR_DEADLINE_EXCEEDED, NULL, "deadline passed before %s started",
                            e->op.op);
        goto reply;
    }
    req = protobuf_c_message_unpack(e->op.request, &alloc, mentis_msg_len(msg), mentis_msg_data(msg));
    if (req == NULL) {
        st = mentis_err_set(MENTIS_ERR_INVALID_ARGUMENT, NULL, "malformed %s message",
                            e->op.request->name);
        goto reply;
    }
    if (e->op.response != NULL) { /* NULL: a consumed event, answered with nothing */
        resp = mentis_pool_alloc(pool, e->op.response->sizeof_message);
        if (resp == NULL) {
            st = MENTIS_ERR_NO_MEMORY;
            goto reply;
        }
        protobuf_c_message_init(e->op.response, resp);
    }
    st = run_handler(&ctx, req, resp);

reply:
    if (st == MENTIS_OK) {
        size_t n = resp != NULL ? protobuf_c_message_get_packed_size(resp) : 0;
        uint8_t *buf = mentis_pool_alloc(pool, n ? n : 1);
        if (buf == NULL) {
            st = MENTIS_ERR_NO_MEMORY;
        } else {
            if (resp != NULL) {
                protobuf_c_message_pack(resp, buf);
                mentis_bus_reply(svc->bus, msg, NULL, 0, buf, n);
            }
            for (struct ctx_event *ev = ctx.events; ev; ev = ev->next) {
                mentis_header_t h[] = {
                    {MENTIS_HDR_REQUEST_ID, mentis_msg_header(msg, MENTIS_HDR_REQUEST_ID)},
                    {MENTIS_HDR_TRACEPARENT, mentis_msg_header(msg, MENTIS_HDR_TRACEPARENT)},
                };
                if (mentis_bus_publish(svc->bus, ev->subject, NULL, h, 2, ev->data, ev->len) != MENTIS_OK)
                    mentis_log_error("event %s not published: %s", ev->subject, mentis_err_msg());
            }
        }
    }
    if (st != MENTIS_OK) {
        if (mentis_err_status() == MENTIS_OK) /* a status returned without context */
            mentis_err_set(st, NULL, "%s failed: %s", e->op.op, mentis_status_str(st));
        size_t dlen = 0;
        uint8_t *detail = error_detail(&ctx, &dlen);
        /* Internal details stay in the log; the caller learns only that it failed. */
        int http = mentis_status_http(st);
        const char *message = http >= 500 && st != MENTIS_ERR_UNAVAILABLE &&
                                      st != MENTIS_ERR_DEADLINE_EXCEEDED
                                  ? "internal error"
                                  : mentis_err_msg();
        mentis_bus_reply_error(svc->bus, msg, NULL, 0, st, mentis_err_code(), message, detail, dlen);
    }

    double secs = (double)(now_ns() - t0) / 1e9;
    mentis_counter_inc(e->requests);
    mentis_histogram_observe(e->duration, secs);
    if (st != MENTIS_OK) {
        mentis_counter_inc(e->errors);
        mentis_srv_last_error_set(&e->last_error, mentis_err_code(), mentis_err_msg());
        char ms[32];
        snprintf(ms, sizeof ms, "%.3f", secs * 1e3);
        const char *kv[] = {"op", e->op.op, "code", mentis_err_code(), "error", mentis_err_msg(),
                            "duration_ms", ms, NULL};
        mentis_log_kv(mentis_status_http(st) >= 500 ? MENTIS_LOG_ERROR : MENTIS_LOG_WARN,
                      "request failed", kv);
    } else if (mentis_log_sample()) {
        char ms[32];
        snprintf(ms, sizeof ms, "%.3f", secs * 1e3);
        const char *kv[] = {"op", e->op.op, "duration_ms", ms, NULL};
        mentis_log_kv(MENTIS_LOG_INFO, "request", kv);
    }
    mentis_log_bind(NULL, NULL);
    mentis_msg_destroy(msg);
}

static void *worker_main(void *arg)
{
    struct worker *w = arg;
    struct work_queue *q = w->svc->queue;
    mentis_pool_t *pool = NULL;
    if (mentis_pool_create(16 * 1024, w->svc->pool_cap, &pool) != MENTIS_OK) {
        mentis_log_error("worker: no memory for its pool");
        return NULL;
    }
    /* A run of messages taken without sleeping is one batch of destroyed messages
     * (mentis_bus_batch_begin): nats.c's collector is woken once per run, not twice per
     * message. The batch ends before the worker sleeps. */
    bool batching = false;
    pthread_mutex_lock(&q->mu);
    for (;;) {
        if (q->len == 0 && batching) {
            pthread_mutex_unlock(&q->mu);
            mentis_bus_batch_end();
            batching = false;
            pthread_mutex_lock(&q->mu);
            continue;
        }
        while (q->len == 0 && !q->stop) {
            q->sleeping++;
            pthread_cond_wait(&q->work_cv, &q->mu);
            q->sleeping--;
            if (q->waking > 0) /* a spurious wake-up only makes the next push wake one more */
                q->waking--;
        }
        if (q->len == 0 && q->stop)
            break;
        struct slot s = q->ring[q->head];
        q->head = (q->head + 1) % q->cap;
        q->len--;
        q->busy++;
        pthread_mutex_unlock(&q->mu);

        if (!batching) {
            mentis_bus_batch_begin();
            batching = true;
        }
        mentis_gauge_add(w->svc->inflight, 1);
        handle(w, pool, s.entry, s.msg);
        mentis_gauge_add(w->svc->inflight, -1);
        mentis_pool_reset(pool);

        pthread_mutex_lock(&q->mu);
        q->busy--;
        if (q->len == 0 && q->busy == 0)
            pthread_cond_broadcast(&q->idle_cv);
    }
    pthread_mutex_unlock(&q->mu);
    if (batching)
        mentis_bus_batch_end();
    mentis_pool_destroy(pool);
    return NULL;
}

mentis_status_t mentis__workers_start(mentis_service_t *svc, size_t n, size_t mailbox, size_t pool_cap)
{
    struct work_queue *q = calloc(1, sizeof *q);
    svc->workers = calloc(n, sizeof *svc->workers);
    if (q == NULL || svc->workers == NULL ||
        (q->ring = calloc(n * mailbox, sizeof *q->ring)) == NULL) {
        if (q != NULL)
            free(q->ring);
        free(q);
        free(svc->workers);
        svc->workers = NULL;
        return mentis_err_set(MENTIS_ERR_NO_MEMORY, NULL, "workers: out of memory");
    }
    pthread_mutex_init(&q->mu, NULL);
    pthread_cond_init(&q->work_cv, NULL);
    pthread_cond_init(&q->idle_cv, NULL);
    q->cap = n * mailbox;
    svc->queue = q;
    svc->pool_cap = pool_cap;
    for (size_t i = 0; i < n; i++) {
        struct worker *w = &svc->workers[i];
        w->svc = svc;
        if (pthread_create(&w->thread, NULL, worker_main, w) != 0) {
            svc->nworkers = i;
            mentis__workers_stop(svc);
            return mentis_err_set(MENTIS_ERR_NO_MEMORY, NULL, "workers: cannot start worker %zu", i);
        }
        svc->nworkers = i + 1;
    }
    return MENTIS_OK;
}

bool mentis__workers_idle_wait(mentis_service_t *svc, int timeout_ms)
{
    struct work_queue *q = svc->queue;
    if (q == NULL)
        return true;
    int64_t until = mentis_bus_now_ms() + timeout_ms;
    struct timespec ts = {.tv_sec = until / 1000, .tv_nsec = (until % 1000) * 1000000};
    pthread_mutex_lock(&q->mu);
    while ((q->len > 0 || q->busy > 0) && pthread_cond_timedwait(&q->idle_cv, &q->mu, &ts) == 0)
        ;
    bool idle = q->len == 0 && q->busy == 0;
    pthread_mutex_unlock(&q->mu);
    return idle;
}

void mentis__workers_stop(mentis_service_t *svc)
{
    struct work_queue *q = svc->queue;
    if (q == NULL)
        return;
    pthread_mutex_lock(&q->mu);
    q->stop = true;
    pthread_cond_broadcast(&q->work_cv);
    pthread_mutex_unlock(&q->mu);
    for (size_t i = 0; i < svc->nworkers; i++)
        pthread_join(svc->workers[i].thread, NULL);
    /* Anything left (only after a timed-out drain) is answered, not dropped silently. */
    for (; q->len > 0; q->len--, q->head = (q->head + 1) % q->cap) {
        struct slot *s = &q->ring[q->head];
        mentis_bus_reply_error(svc->bus, s->msg, NULL, 0, MENTIS_ERR_UNAVAILABLE, NULL,
                               "service is shutting down", NULL, 0);
        mentis_msg_destroy(s->msg);
    }
    free(q->ring);
    pthread_cond_destroy(&q->idle_cv);
    pthread_cond_destroy(&q->work_cv);
    pthread_mutex_destroy(&q->mu);
    free(q);
    svc->queue = NULL;
    free(svc->workers);
    svc->workers = NULL;
    svc->nworkers = 0;
}
