/*
 * The pool: `size` slots, each holding at most one connection. A slot is taken under the
 * mutex; connecting, health checks and roll-backs happen outside it, by the slot's holder,
 * so a slow PostgreSQL never blocks threads that only want to give a connection back.
 */
#include <errno.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "internal.h"
#include "mentis/log.h"

/* Far above what one process should hold: PostgreSQL's own default is 100 in all. */
#define MAX_SIZE 256

mentis_status_t mentis_db_open(const mentis_db_options_t *opts, mentis_db_t **out)
{
    if (opts == NULL || opts->url == NULL || out == NULL || opts->size < 0 ||
        opts->size > MAX_SIZE || opts->connect_timeout_ms < 0 || opts->statement_timeout_ms < 0)
        return mentis_err_set(MENTIS_ERR_INVALID_ARGUMENT, NULL,
                              "mentis_db_open: a url is required, size is 0..%d and timeouts "
                              "cannot be negative",
                              MAX_SIZE);
    mentis_db_t *db = calloc(1, sizeof *db);
    if (db == NULL)
        return mentis_err_set(MENTIS_ERR_NO_MEMORY, NULL, "mentis_db_open: out of memory");
    mentis_status_t st;
    db->size = opts->size > 0 ? opts->size : 4;
    db->connect_timeout_ms = opts->connect_timeout_ms > 0 ? opts->connect_timeout_ms : 5000;
    if ((st = mentis__db_params(db, opts)) != MENTIS_OK)
        goto fail_params;
    db->slots = calloc((size_t)db->size, sizeof *db->slots);
    if (db->slots == NULL) {
        st = mentis_err_set(MENTIS_ERR_NO_MEMORY, NULL, "mentis_db_open: out of memory");
        goto fail_params;
    }
    for (int i = 0; i < db->size; i++) {
        db->slots[i].db = db;
        db->slots[i].prepare = true;
    }
    if (pthread_mutex_init(&db->mu, NULL) != 0) {
        st = mentis_err_set(MENTIS_ERR_INTERNAL, NULL, "mentis_db_open: mutex");
        goto fail_slots;
    }
    /* The default clock is CLOCK_REALTIME, the clock of deadline_ms: no conversion needed. */
    if (pthread_cond_init(&db->released, NULL) != 0) {
        st = mentis_err_set(MENTIS_ERR_INTERNAL, NULL, "mentis_db_open: condition variable");
        goto fail_mutex;
    }
    *out = db;
    return MENTIS_OK;

fail_mutex:
    pthread_mutex_destroy(&db->mu);
fail_slots:
    free(db->slots);
fail_params:
    mentis__db_params_free(db);
    free(db);
    return st;
}

void mentis_db_close(mentis_db_t *db)
{
    if (db == NULL)
        return;
    pthread_mutex_lock(&db->mu);
    db->closing = true;
    pthread_cond_broadcast(&db->released); /* waiting acquirers give up now */
    if (db->in_use > 0)
        mentis_log_warn("closing the database pool: waiting for %d connection(s) in use",
                        db->in_use);
    while (db->in_use > 0)
        pthread_cond_wait(&db->released, &db->mu);
    pthread_mutex_unlock(&db->mu);
    for (int i = 0; i < db->size; i++) {
        if (db->slots[i].pg != NULL)
            PQfinish(db->slots[i].pg);
        mentis__db_stmts_free(&db->slots[i]);
    }
    pthread_cond_destroy(&db->released);
    pthread_mutex_destroy(&db->mu);
    free(db->slots);
    mentis__db_params_free(db);
    free(db);
}

/*
 * Whether an idle connection is still usable, without a round trip. After a restart the
 * server has sent a FATAL message and closed the socket, so it reads as ready: consume
 * what is there (the notice receiver sets `broken` on the FATAL) until the end of the
 * stream shows or nothing more is waiting.
 */
static bool still_alive(mentis_db_conn_t *slot)
{
    PGconn *pg = slot->pg;
    if (PQstatus(pg) != CONNECTION_OK || PQtransactionStatus(pg) != PQTRANS_IDLE)
        return false;
    for (int round = 0; round < 4; round++) {
        struct pollfd p = {.fd = PQsocket(pg), .events = POLLIN};
        int ready = poll(&p, 1, 0);
        if (ready < 0 && errno == EINTR)
            continue;
        if (ready <= 0)
            break;
        if (!PQconsumeInput(pg))
            return false;
        PGnotify *n;
        while ((n = PQnotifies(pg)) != NULL)
            PQfreemem(n);
        if (slot->broken || PQstatus(pg) != CONNECTION_OK)
            return false;
    }
    return !slot->broken && PQstatus(pg) == CONNECTION_OK;
}

/* Gives a slot back: the caller holds no lock. */
static void put_back(mentis_db_t *db, mentis_db_conn_t *slot)
{
    pthread_mutex_lock(&db->mu);
    slot->in_use = false;
    db->in_use--;
    pthread_cond_signal(&db->released);
    if (db->closing) /* mentis_db_close waits for the last one */
        pthread_cond_broadcast(&db->released);
    pthread_mutex_unlock(&db->mu);
}

/* A free slot, preferring one with an open connection; NULL when all are taken. */
static mentis_db_conn_t *take_slot(mentis_db_t *db)
{
    mentis_db_conn_t *empty = NULL;
    for (int i = 0; i < db->size; i++) {
        mentis_db_conn_t *s = &db->slots[i];
        if (s->in_use)
            continue;
        if (s->pg != NULL)
            return s;
        if (empty == NULL)
            empty = s;
    }
    return empty;
}

mentis_status_t mentis_db_acquire(mentis_db_t *db, int64_t deadline_ms, mentis_db_conn_t **out)
{
    if (db == NULL || out == NULL)
        return mentis_err_set(MENTIS_ERR_INVALID_ARGUMENT, NULL,
                              "mentis_db_acquire: bad arguments");
    pthread_mutex_lock(&db->mu);
    mentis_db_conn_t *slot;
    for (;;) {
        if (db->closing) {
            pthread_mutex_unlock(&db->mu);
            return mentis_err_set(MENTIS_ERR_UNAVAILABLE, NULL, "database pool is closing");
        }
        if ((slot = take_slot(db)) != NULL)
            break;
        if (mentis__db_now_ms() >= deadline_ms) {
            int in_use = db->in_use;
            pthread_mutex_unlock(&db->mu);
            atomic_fetch_add(&db->acquire_timeouts, 1);
            return mentis_err_set(MENTIS_ERR_UNAVAILABLE, NULL,
                                  "no database connection free before the deadline "
                                  "(%d of %d in use)",
                                  in_use, db->size);
        }
        struct timespec until = {.tv_sec = (time_t)(deadline_ms / 1000),
                                 .tv_nsec = (long)(deadline_ms % 1000) * 1000000L};
        pthread_cond_timedwait(&db->released, &db->mu, &until);
    }
    slot->in_use = true;
    slot->broken = false;
    slot->tx = MENTIS__DB_TX_NONE;
    db->in_use++;
    pthread_mutex_unlock(&db->mu);

    if (slot->pg != NULL && !still_alive(slot)) {
        PQfinish(slot->pg);
        slot->pg = NULL;
        atomic_fetch_add(&db->resets, 1);
    }
    if (slot->pg == NULL) {
        int64_t connect_deadline = mentis__db_now_ms() + db->connect_timeout_ms;
        if (connect_deadline > deadline_ms)
            connect_deadline = deadline_ms;
        slot->broken = false;
        mentis_status_t st = mentis__db_connect(db, connect_deadline, &slot->broken, &slot->pg);
        if (st != MENTIS_OK) {
            atomic_fetch_add(&db->connect_failures, 1);
            put_back(db, slot);
            return st;
        }
        atomic_fetch_add(&db->connects, 1);
    }
    *out = slot;
    return MENTIS_OK;
}

void mentis_db_release(mentis_db_t *db, mentis_db_conn_t *conn)
{
    if (db == NULL || conn == NULL)
        return;
    PGconn *pg = conn->pg;
    bool reset = conn->broken || pg == NULL || PQstatus(pg) != CONNECTION_OK;
    if (!reset) {
        switch (PQtransactionStatus(pg)) {
        case PQTRANS_IDLE:
            break;
        case PQTRANS_INTRANS:
        case PQTRANS_INERROR: {
            /* A handler that returned early: its work must not be committed by the next. */
            mentis_log_warn("database connection released inside a transaction: rolling back");
            PGresult *res = PQexec(pg, "ROLLBACK");
            reset =
                PQresultStatus(res) != PGRES_COMMAND_OK || PQtransactionStatus(pg) != PQTRANS_IDLE;
            PQclear(res);
            break;
        }
        default: /* a query still running (PQsendQuery without its results), or unknown */
            reset = true;
            break;
        }
    }
    if (reset && pg != NULL) {
        PQfinish(pg);
        conn->pg = NULL;
        atomic_fetch_add(&db->resets, 1);
    }
    conn->broken = false;
    conn->tx = MENTIS__DB_TX_NONE;
    put_back(db, conn);
}

mentis_status_t mentis_db_ping(mentis_db_t *db, int64_t deadline_ms)
{
    mentis_status_t st = MENTIS_OK;
    /* A second try only when the first connection turned out dead: that is not an outage. */
    for (int attempt = 0; attempt < 2; attempt++) {
        mentis_db_conn_t *conn;
        if ((st = mentis_db_acquire(db, deadline_ms, &conn)) != MENTIS_OK)
            return mentis_err_wrap(st, "database ping");
        st = mentis_db_exec(conn, "SELECT 1", 0, NULL, NULL);
        bool broken = conn->broken;
        mentis_db_release(db, conn);
        if (st == MENTIS_OK || !broken || mentis__db_now_ms() >= deadline_ms)
            break;
    }
    return st == MENTIS_OK ? MENTIS_OK : mentis_err_wrap(st, "database ping");
}

void mentis_db_stats(mentis_db_t *db, mentis_db_stats_t *out)
{
    memset(out, 0, sizeof *out);
    if (db == NULL)
        return;
    pthread_mutex_lock(&db->mu);
    out->size = db->size;
    out->in_use = db->in_use;
    for (int i = 0; i < db->size; i++)
        if (!db->slots[i].in_use && db->slots[i].pg != NULL)
            out->idle++;
    pthread_mutex_unlock(&db->mu);
    out->connects = atomic_load(&db->connects);
    out->connect_failures = atomic_load(&db->connect_failures);
    out->resets = atomic_load(&db->resets);
    out->acquire_timeouts = atomic_load(&db->acquire_timeouts);
}
