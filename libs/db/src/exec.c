/* Running statements, and turning PostgreSQL's errors into mentis statuses at the edge. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "internal.h"

/* Details of this thread's last failure, for callers that need the constraint's name. */
static _Thread_local char last_sqlstate[8];
static _Thread_local char last_constraint[64];

const char *mentis_db_err_sqlstate(void)
{
    return last_sqlstate;
}

const char *mentis_db_err_constraint(void)
{
    return last_constraint;
}

static bool starts(const char *s, const char *prefix)
{
    return strncmp(s, prefix, strlen(prefix)) == 0;
}

/* Errors after which the session is gone: the pool must not hand the connection out again. */
static bool is_connection_error(const char *sqlstate)
{
    return starts(sqlstate, "08") || strcmp(sqlstate, "57P01") == 0 ||
           strcmp(sqlstate, "57P02") == 0 || strcmp(sqlstate, "57P03") == 0;
}

static mentis_status_t status_of(const char *sqlstate)
{
    if (strcmp(sqlstate, "23505") == 0 || strcmp(sqlstate, "23503") == 0 ||
        strcmp(sqlstate, "23P01") == 0)
        return MENTIS_ERR_CONFLICT;
    if (starts(sqlstate, "22") || strcmp(sqlstate, "23502") == 0 || strcmp(sqlstate, "23514") == 0)
        return MENTIS_ERR_INVALID_ARGUMENT;
    if (strcmp(sqlstate, "40001") == 0 || strcmp(sqlstate, "40P01") == 0)
        return MENTIS_ERR_UNAVAILABLE;
    if (strcmp(sqlstate, "57014") == 0)
        return MENTIS_ERR_DEADLINE_EXCEEDED;
    if (is_connection_error(sqlstate) || starts(sqlstate, "53"))
        return MENTIS_ERR_UNAVAILABLE;
    return MENTIS_ERR_INTERNAL;
}

mentis_status_t mentis__db_translate(mentis_db_conn_t *conn, const PGresult *res)
{
    ExecStatusType rs = res ? PQresultStatus(res) : PGRES_FATAL_ERROR;
    if (rs == PGRES_COMMAND_OK || rs == PGRES_TUPLES_OK)
        return MENTIS_OK;

    const char *sqlstate = res ? PQresultErrorField(res, PG_DIAG_SQLSTATE) : NULL;
    const char *constraint = res ? PQresultErrorField(res, PG_DIAG_CONSTRAINT_NAME) : NULL;
    const char *msg = res ? PQresultErrorField(res, PG_DIAG_MESSAGE_PRIMARY) : NULL;
    snprintf(last_sqlstate, sizeof last_sqlstate, "%s", sqlstate ? sqlstate : "");
    snprintf(last_constraint, sizeof last_constraint, "%s", constraint ? constraint : "");

    bool lost =
        PQstatus(conn->pg) != CONNECTION_OK || (sqlstate != NULL && is_connection_error(sqlstate));
    if (lost)
        conn->broken = true;
    /* A prepared statement whose tables changed shape (0A000: "cached plan must not change
     * result type") or that the session no longer has (26000): this request fails, and the
     * pool gives the next one a new session, which prepares everything afresh. */
    if (sqlstate != NULL && (strcmp(sqlstate, "0A000") == 0 || strcmp(sqlstate, "26000") == 0))
        conn->broken = true;
    if (sqlstate == NULL) {
        /*
         * No SQLSTATE: libpq made the error itself (the server went away, out of memory) or
         * the result is of a kind we do not handle (COPY). A lost server is "unavailable".
         */
        char text[300];
        snprintf(text, sizeof text, "%s", msg ? msg : PQerrorMessage(conn->pg));
        text[strcspn(text, "\n")] = '\0';
        if (lost)
            return mentis_err_set(MENTIS_ERR_UNAVAILABLE, NULL, "postgresql connection lost: %s",
                                  text);
        if (rs != PGRES_FATAL_ERROR && rs != PGRES_NONFATAL_ERROR)
            return mentis_err_set(MENTIS_ERR_INTERNAL, NULL, "postgresql: unexpected result %s",
                                  PQresStatus(rs));
        return mentis_err_set(MENTIS_ERR_INTERNAL, NULL, "postgresql: %s", text);
    }
    mentis_status_t st = lost ? MENTIS_ERR_UNAVAILABLE : status_of(sqlstate);
    /* The primary message only: DETAIL may quote row values (emails), which logs must not. */
    if (constraint != NULL)
        return mentis_err_set(st, NULL, "postgresql: %s (SQLSTATE %s, constraint %s)",
                              msg ? msg : "error", sqlstate, constraint);
    return mentis_err_set(st, NULL, "postgresql: %s (SQLSTATE %s)", msg ? msg : "error", sqlstate);
}

mentis_status_t mentis_db_result_status(mentis_db_conn_t *conn, const PGresult *res)
{
    return mentis__db_translate(conn, res);
}

PGconn *mentis_db_conn_pg(mentis_db_conn_t *conn)
{
    /* What is sent directly belongs to the transaction asked for: open it now. */
    if (conn->tx == MENTIS__DB_TX_PENDING &&
        mentis__db_tx_exec(conn, NULL, 0, NULL, NULL) != MENTIS_OK)
        conn->broken = true;
    return conn->pg;
}

/*
 * Prepared statements. A statement run with PQexecParams is parsed and planned on every
 * call, and with Row-Level Security policies to expand, planning is a large part of what a
 * short query costs. So a pool connection prepares each parameterised statement the first
 * time it runs it and afterwards only executes it. Statements are found by their text,
 * and at most STMTS_MAX per session (texts built per call would otherwise grow without
 * end: past the cap they run unprepared, as before).
 */
#define STMTS_MAX 256

void mentis__db_stmts_free(mentis_db_conn_t *conn)
{
    for (int i = 0; i < conn->nstmts; i++)
        free(conn->stmts[i].sql);
    free(conn->stmts);
    conn->stmts = NULL;
    conn->nstmts = 0;
    conn->stmts_pg = NULL;
}

static uint64_t hash_text(const char *s)
{
    uint64_t h = UINT64_C(14695981039346656037); /* FNV-1a */
    for (; *s; s++)
        h = (h ^ (unsigned char)*s) * UINT64_C(1099511628211);
    return h;
}

const char *mentis__db_stmt(mentis_db_conn_t *conn, const char *sql, int nparams, char name[16],
                            PGresult **failed)
{
    *failed = NULL;
    if (!conn->prepare || nparams == 0)
        return NULL;
    if (conn->stmts_pg != conn->pg) { /* a new session has none of the old statements */
        mentis__db_stmts_free(conn);
        conn->stmts_pg = conn->pg;
    }
    uint64_t h = hash_text(sql);
    for (int i = 0; i < conn->nstmts; i++) {
        if (conn->stmts[i].hash == h && strcmp(conn->stmts[i].sql, sql) == 0) {
            snprintf(name, 16, "s%d", i);
            return name;
        }
    }
    if (conn->nstmts == STMTS_MAX)
        return NULL;
    if (conn->stmts == NULL && (conn->stmts = calloc(STMTS_MAX, sizeof *conn->stmts)) == NULL)
        return NULL;
    char *copy = strdup(sql);
    if (copy == NULL)
        return NULL;
    snprintf(name, 16, "s%d", conn->nstmts);
    /* A failed PREPARE is the statement's own error (the same parse and analysis as
     * running it). */
    PGresult *res = PQprepare(conn->pg, name, sql, nparams, NULL);
    if (PQresultStatus(res) != PGRES_COMMAND_OK) {
        free(copy);
        *failed = res;
        return NULL;
    }
    PQclear(res);
    conn->stmts[conn->nstmts++] = (struct mentis__db_stmt){h, copy};
    return name;
}

mentis_status_t mentis_db_exec(mentis_db_conn_t *conn, const char *sql, int nparams,
                               const char *const *params, PGresult **out)
{
    if (conn == NULL || conn->pg == NULL || sql == NULL || nparams < 0 ||
        (nparams > 0 && params == NULL))
        return mentis_err_set(MENTIS_ERR_INVALID_ARGUMENT, NULL, "mentis_db_exec: bad arguments");
    if (conn->tx == MENTIS__DB_TX_PENDING || conn->tx == MENTIS__DB_TX_EACH)
        return mentis__db_tx_exec(conn, sql, nparams, params, out);
    char name[16];
    PGresult *res = NULL;
    const char *stmt = mentis__db_stmt(conn, sql, nparams, name, &res);
    if (stmt != NULL)
        res = PQexecPrepared(conn->pg, stmt, nparams, params, NULL, NULL, 0);
    else if (res == NULL)
        res = PQexecParams(conn->pg, sql, nparams, NULL, params, NULL, NULL, 0);
    mentis_status_t st = mentis__db_translate(conn, res);
    if (st == MENTIS_OK && out != NULL)
        *out = res;
    else
        PQclear(res);
    return st;
}

/* The 1-based line of a 1-based character position in sql (ASCII-counted; close enough). */
static int line_of(const char *sql, const char *position)
{
    if (position == NULL)
        return 0;
    long pos = strtol(position, NULL, 10);
    int line = 1;
    for (long i = 0; i < pos - 1 && sql[i] != '\0'; i++)
        if (sql[i] == '\n')
            line++;
    return line;
}

mentis_status_t mentis__db_script(mentis_db_conn_t *conn, const char *sql, int *error_line)
{
    if (conn == NULL || conn->pg == NULL || sql == NULL)
        return mentis_err_set(MENTIS_ERR_INVALID_ARGUMENT, NULL,
                              "mentis_db_exec_script: bad arguments");
    /* PQexec returns the last statement's result, or the first error's: all we need. */
    PGresult *res = PQexec(conn->pg, sql);
    mentis_status_t st = mentis__db_translate(conn, res);
    if (st != MENTIS_OK && error_line != NULL)
        *error_line = res ? line_of(sql, PQresultErrorField(res, PG_DIAG_STATEMENT_POSITION)) : 0;
    PQclear(res);
    return st;
}

mentis_status_t mentis_db_exec_script(mentis_db_conn_t *conn, const char *sql)
{
    if (conn != NULL && conn->tx == MENTIS__DB_TX_EACH)
        return mentis_err_set(MENTIS_ERR_INVALID_ARGUMENT, NULL,
                              "mentis_db_exec_script: a script cannot run statement by statement");
    if (conn != NULL && conn->tx == MENTIS__DB_TX_PENDING) {
        mentis_status_t st = mentis__db_tx_exec(conn, NULL, 0, NULL, NULL);
        if (st != MENTIS_OK)
            return st;
    }
    return mentis__db_script(conn, sql, NULL);
}
