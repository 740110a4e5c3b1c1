/*
 * PostgreSQL for mentis services: a small bounded connection pool, parameterised queries
 * with errors translated to mentis_status_t, tenant-scoped transactions for Row-Level
 * Security, and forward-only schema migrations.
 *
 * - Opening never fails because PostgreSQL is down: connections are made when first
 *   needed and made again after they break, so a PostgreSQL restart costs the requests in
 *   flight (MENTIS_ERR_UNAVAILABLE), not the service.
 * - Nothing waits past its deadline for a connection: mentis_db_acquire answers
 *   MENTIS_ERR_UNAVAILABLE instead. A statement's own time is bounded by
 *   statement_timeout_ms (MENTIS_ERR_DEADLINE_EXCEEDED).
 * - Every tenant-owned table has ENABLE and FORCE ROW LEVEL SECURITY and a policy on the
 *   tenant that mentis_db_tx_begin sets for the transaction, written
 *
 *     USING (tenant_id = nullif(current_setting('mentis.tenant_id', true), '')::uuid)
 *
 *   (nullif: once a session has set the variable locally, it reads as '' afterwards,
 *   which must mean "no tenant" rather than fail to cast).
 *
 *   mentis_db_conn_t *c;
 *   if ((st = mentis_db_acquire(db, deadline_ms, &c)) != MENTIS_OK) return st;
 *   if ((st = mentis_db_tx_begin(c, tenant)) == MENTIS_OK) {
 *       st = mentis_db_exec(c, "INSERT INTO kb.pack (id, tenant_id, title) VALUES ($1, $2, $3)",
 *                           3, (const char *const[]){id, tenant, title}, NULL);
 *       st = st == MENTIS_OK ? mentis_db_tx_commit(c) : (mentis_db_tx_rollback(c), st);
 *   }
 *   mentis_db_release(db, c);
 *
 * The pool (mentis_db_t) is thread-safe. A connection belongs to the one thread that
 * acquired it until it is released. Errors record their context with mentis_err_set.
 */
#ifndef MENTIS_DB_H
#define MENTIS_DB_H

#include <stdint.h>

#include <libpq-fe.h>

#include "mentis/status.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct mentis_db mentis_db_t;
typedef struct mentis_db_conn mentis_db_conn_t;

typedef struct {
    /* libpq URL ("postgresql://mentis_kb:pw@db:5432/mentis") or key=value conninfo. */
    const char *url;
    int size;                     /* connections at most, up to 256; 0 → 4 */
    int connect_timeout_ms;       /* one connection attempt at most; 0 → 5000 */
    int statement_timeout_ms;     /* per statement, sent as a startup option; 0 → none */
    const char *application_name; /* shown in pg_stat_activity; NULL → from url, or "mentis" */
} mentis_db_options_t;

/*
 * Creates a pool. Connects nothing: PostgreSQL may be down. Fails only on bad options
 * (MENTIS_ERR_INVALID_ARGUMENT, e.g. an unparsable url) or memory. The options are
 * copied. *out is written only on success; close with mentis_db_close.
 */
mentis_status_t mentis_db_open(const mentis_db_options_t *opts, mentis_db_t **out);

/*
 * Closes every connection and frees the pool. Waits until every acquired connection has
 * been released (so draining workers can finish first); never call it while holding one.
 * NULL is a no-op.
 */
void mentis_db_close(mentis_db_t *db);

/*
 * Takes a connection, waiting for a free one until `deadline_ms` (absolute, ms since the
 * Unix epoch, the clock of Mentis-Deadline and mentis_bus_now_ms). An idle connection
 * that the server has closed meanwhile is dropped, and a slot without a connection
 * connects, within the deadline and connect_timeout_ms. Returns MENTIS_ERR_UNAVAILABLE
 * when none is free by the deadline or PostgreSQL cannot be reached; never waits past
 * the deadline (a connection attempt may add the time of one DNS lookup). The connection
 * is the caller's until mentis_db_release.
 */
mentis_status_t mentis_db_acquire(mentis_db_t *db, int64_t deadline_ms, mentis_db_conn_t **out);

/*
 * Gives a connection back. One left inside a transaction is rolled back; one found broken
 * is closed, and the next acquire of its slot connects again. Session state (SET without
 * LOCAL, temporary tables, LISTEN) is not reset, so use none. NULL is a no-op.
 */
void mentis_db_release(mentis_db_t *db, mentis_db_conn_t *conn);

/*
 * Runs one statement with `nparams` text parameters ($1…; an element may be NULL for SQL
 * NULL). On success *out (when out is not NULL) receives the result, which the caller
 * frees with PQclear; *out is untouched on failure. Errors are translated here:
 *
 *   23505 unique, 23503 foreign key, 23P01 exclusion   → MENTIS_ERR_CONFLICT
 *   22xxx data, 23502 not null, 23514 check            → MENTIS_ERR_INVALID_ARGUMENT
 *   40001 serialization, 40P01 deadlock                → MENTIS_ERR_UNAVAILABLE (retry the tx)
 *   57014 query_canceled (statement timeout)           → MENTIS_ERR_DEADLINE_EXCEEDED
 *   08xxx, 57P01-03, 53xxx, lost connection            → MENTIS_ERR_UNAVAILABLE
 *   anything else                                       → MENTIS_ERR_INTERNAL
 *
 * with the message, SQLSTATE and constraint in the error context (mentis_err_msg) and
 * in mentis_db_err_sqlstate / mentis_db_err_constraint. A connection error marks the
 * connection broken; release it as usual. The call blocks until PostgreSQL answers:
 * statement_timeout_ms bounds a slow statement, and TCP keepalives (on by default, about
 * 25 s) a server that vanished without closing the connection.
 */
mentis_status_t mentis_db_exec(mentis_db_conn_t *conn, const char *sql, int nparams,
                               const char *const *params, PGresult **out);

/*
 * Runs a script of several statements separated by ';' (simple query protocol, no
 * parameters), e.g. test fixtures. Errors as mentis_db_exec. Never pass it text built
 * from input: use mentis_db_exec with parameters.
 */
mentis_status_t mentis_db_exec_script(mentis_db_conn_t *conn, const char *sql);

/*
 * Translates the outcome of a libpq call made directly on mentis_db_conn_pg (a result,
 * or NULL when the call returned none) exactly as mentis_db_exec would. Does not free res.
 */
mentis_status_t mentis_db_result_status(mentis_db_conn_t *conn, const PGresult *res);

/* The libpq connection, for what this wrapper does not cover. Valid until release. */
PGconn *mentis_db_conn_pg(mentis_db_conn_t *conn);

/*
 * The SQLSTATE ("23505") and constraint name of this thread's last failed mentis_db call,
 * "" when it had none (e.g. the connection was lost). Valid until the next failure.
 */
const char *mentis_db_err_sqlstate(void);
const char *mentis_db_err_constraint(void);

/*
 * A transaction in which mentis.tenant_id is `tenant_id` (set_config(…, true), the
 * parameterised SET LOCAL), or '' — no tenant: tenant policies match no row — when
 * tenant_id is NULL. Nothing is sent yet: BEGIN and the tenant go to the server in one
 * pipeline with the first statement, so their failures are that statement's; a
 * transaction in which nothing ran costs no round trip at all. Fails only on a tenant id
 * of 64 bytes or more.
 */
mentis_status_t mentis_db_tx_begin(mentis_db_conn_t *conn, const char *tenant_id);

/*
 * For work that only reads: no transaction spans the statements. Each runs as a read-only
 * transaction of its own with the tenant set (a write fails, SQLSTATE 25006), in one round
 * trip; there is no BEGIN or COMMIT to wait for. Statements do not share a snapshot: use
 * mentis_db_tx_begin when they must agree with each other. End it with
 * mentis_db_tx_commit or mentis_db_tx_rollback as usual (both send nothing).
 * mentis_db_exec_script is refused meanwhile, and what is sent on mentis_db_conn_pg
 * directly has no tenant.
 */
mentis_status_t mentis_db_tx_begin_read(mentis_db_conn_t *conn, const char *tenant_id);

/*
 * COMMIT. A transaction that had failed is rolled back by the server instead: that
 * returns MENTIS_ERR_INTERNAL. Constraint or serialization failures raised at commit are
 * translated as in mentis_db_exec.
 */
mentis_status_t mentis_db_tx_commit(mentis_db_conn_t *conn);

/* ROLLBACK. */
mentis_status_t mentis_db_tx_rollback(mentis_db_conn_t *conn);

/*
 * Brings `schema` up to date with the SQL files in `dir`, on a connection of its own.
 *
 * Files are named NNNN_name.sql (a version number, '_', a name); other files are ignored
 * with a warning. Versions must run 1, 2, 3… without gaps or duplicates. Under a session
 * advisory lock on 'mentis.migrate.<schema>' — so concurrent migrators of one schema take
 * turns and never apply a file twice — it creates the schema and
 * <schema>.schema_migrations when missing, checks that every applied file still has its
 * recorded checksum (BLAKE2b-256 of its bytes; an applied file must never be edited), and
 * applies each file not yet recorded, in order, each in its own transaction together with
 * its record, with search_path = <schema>, public. A file must not contain transaction
 * control or statements that cannot run in a transaction (CREATE INDEX CONCURRENTLY).
 * statement_timeout does not apply here.
 *
 * Errors: MENTIS_ERR_INVALID_ARGUMENT for bad names, gaps or duplicates;
 * MENTIS_ERR_PRECONDITION_FAILED when an applied file changed; a failing file is rolled
 * back whole, stops the run and returns the translated error naming the file, the line
 * and PostgreSQL's message; MENTIS_ERR_UNAVAILABLE when PostgreSQL cannot be reached.
 * Files applied before a failure stay applied. On success *version_out (may be NULL)
 * receives the schema's version: the highest applied.
 */
mentis_status_t mentis_db_migrate(mentis_db_t *db, const char *schema, const char *dir,
                                  int *version_out);

/* SELECT 1 on a pooled connection by the deadline: MENTIS_OK when PostgreSQL answers. */
mentis_status_t mentis_db_ping(mentis_db_t *db, int64_t deadline_ms);

/* A snapshot of the pool's counters, for metrics. */
typedef struct {
    int size;                  /* connections at most */
    int in_use;                /* acquired now */
    int idle;                  /* open and not acquired */
    uint64_t connects;         /* connections made, first ones and reconnects */
    uint64_t connect_failures; /* connection attempts that failed */
    uint64_t resets;           /* connections closed because they broke */
    uint64_t acquire_timeouts; /* acquires that found no free connection by the deadline */
} mentis_db_stats_t;

void mentis_db_stats(mentis_db_t *db, mentis_db_stats_t *out);

#ifdef __cplusplus
}
#endif
#endif
