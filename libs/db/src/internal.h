/* Shared by the files of libs/db; never included from outside. */
#ifndef MENTIS_DB_INTERNAL_H
#define MENTIS_DB_INTERNAL_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#include "mentis/db.h"

/* A statement prepared on a connection: its text, and the hash it is looked up by. */
struct mentis__db_stmt {
    uint64_t hash;
    char *sql;
};

/*
 * Where a connection is in the work mentis_db_tx_begin* asked for (tx.c). Nothing is sent
 * when it is asked: the BEGIN and the tenant go out in one pipeline with the first
 * statement, so a transaction costs no round trip of its own.
 */
enum mentis__db_tx {
    MENTIS__DB_TX_NONE,    /* statements run as sent */
    MENTIS__DB_TX_PENDING, /* a transaction is asked for: BEGIN goes with the next statement */
    MENTIS__DB_TX_OPEN,    /* BEGIN has been sent: statements run as sent, COMMIT ends it */
    MENTIS__DB_TX_EACH,    /* each statement its own read-only transaction, with the tenant */
};

struct mentis_db_conn {
    mentis_db_t *db;
    PGconn *pg;  /* NULL until connected; touched only by the holder while in_use */
    bool in_use; /* protected by db->mu */
    bool broken; /* set by the holder (or its notice receiver) when the session is lost */
    /* Pool connections prepare each parameterised statement once (exec.c): stmts[i] is
     * the server's statement "s<i>" of session stmts_pg; a new session starts afresh. */
    bool prepare;
    PGconn *stmts_pg;
    struct mentis__db_stmt *stmts;
    int nstmts;
    enum mentis__db_tx tx;
    char tx_tenant[64]; /* the tenant of a pending or per-statement transaction, "" none */
};

/* Forgets conn's prepared statements (the memory; the session keeps its own). */
void mentis__db_stmts_free(mentis_db_conn_t *conn);

/*
 * The server's name of sql as conn's prepared statement (written to name), preparing it
 * the first time; NULL when it is to run unprepared (no parameters, the cache is full) or
 * when preparing it failed: then *failed holds the error result (PQclear it).
 */
const char *mentis__db_stmt(mentis_db_conn_t *conn, const char *sql, int nparams, char name[16],
                            PGresult **failed);

/*
 * Runs sql (NULL: none) after what a pending or per-statement transaction still has to
 * send, all in one pipeline: one round trip (tx.c). As mentis_db_exec otherwise.
 */
mentis_status_t mentis__db_tx_exec(mentis_db_conn_t *conn, const char *sql, int nparams,
                                   const char *const *params, PGresult **out);

struct mentis_db {
    /* Connection parameters for PQconnectStartParams, NULL-terminated; read-only. */
    char **keywords;
    char **values;
    int connect_timeout_ms;

    pthread_mutex_t mu;
    pthread_cond_t released; /* signalled when a slot is given back; CLOCK_REALTIME */
    mentis_db_conn_t *slots; /* `size` of them; in_use protected by mu */
    int size;
    int in_use;   /* protected by mu */
    bool closing; /* protected by mu */

    _Atomic uint64_t connects;
    _Atomic uint64_t connect_failures;
    _Atomic uint64_t resets;
    _Atomic uint64_t acquire_timeouts;
};

/* Milliseconds since the Unix epoch. */
int64_t mentis__db_now_ms(void);

/*
 * Builds the connection parameters from the options: the url's own, then
 * application_name and `options` (-c statement_timeout=…, added to the url's).
 */
mentis_status_t mentis__db_params(mentis_db_t *db, const mentis_db_options_t *opts);

/* Frees what mentis__db_params built. */
void mentis__db_params_free(mentis_db_t *db);

/*
 * Opens one connection without blocking past deadline_ms. On success *out is a ready
 * connection whose notices go to the log; a FATAL notice (the server closing the session)
 * sets *fatal_seen, which must outlive the connection. Otherwise MENTIS_ERR_UNAVAILABLE
 * with the reason recorded.
 */
mentis_status_t mentis__db_connect(mentis_db_t *db, int64_t deadline_ms, bool *fatal_seen,
                                   PGconn **out);

/*
 * Translates a libpq outcome (res may be NULL) into a status and error context, and marks
 * the connection broken on connection errors. MENTIS_OK for COMMAND_OK / TUPLES_OK.
 */
mentis_status_t mentis__db_translate(mentis_db_conn_t *conn, const PGresult *res);

/*
 * Runs a multi-statement script; on failure *error_line (may be NULL) receives the
 * 1-based line of the failing statement, or 0 when unknown.
 */
mentis_status_t mentis__db_script(mentis_db_conn_t *conn, const char *sql, int *error_line);

#endif
