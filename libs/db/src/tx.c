/*
 * Transactions scoped to a tenant, for Row-Level Security.
 *
 * A request's transaction used to cost four round trips before its first row came back:
 * BEGIN, set the tenant, the statement, and COMMIT after it. Round trips, not the
 * statements, were most of what a short read cost both ends (two wake-ups and four system
 * calls each). So asking for a transaction sends nothing: BEGIN and the tenant go out in
 * one pipeline with the first statement (libpq's pipeline mode, ended by one Sync), and a
 * transaction in which nothing ran is never begun or committed.
 *
 * Work that only reads can go further (mentis_db_tx_begin_read): no transaction spans its
 * statements; each is sent with the tenant in a pipeline of its own, which PostgreSQL runs
 * as one implicit transaction ending at the Sync, made read-only. One round trip per
 * statement, none for BEGIN or COMMIT.
 */
#include <stdio.h>
#include <string.h>

#include "internal.h"

/*
 * set_config(…, true) is SET LOCAL with a parameter: the value cannot inject SQL and ends
 * with the transaction. Without a tenant it is set to '' anyway, so nothing the session
 * set earlier can leak into this transaction.
 */
static const char SET_TENANT[] = "SELECT set_config('mentis.tenant_id', $1, true)";
static const char SET_TENANT_READ[] = "SELECT set_config('mentis.tenant_id', $1, true), "
                                      "set_config('transaction_read_only', 'on', true)";

static mentis_status_t ask(mentis_db_conn_t *conn, const char *tenant_id, enum mentis__db_tx tx)
{
    if (conn == NULL || conn->pg == NULL)
        return mentis_err_set(MENTIS_ERR_INVALID_ARGUMENT, NULL, "begin: no connection");
    size_t n = tenant_id ? strlen(tenant_id) : 0;
    if (n >= sizeof conn->tx_tenant)
        return mentis_err_set(MENTIS_ERR_INVALID_ARGUMENT, NULL, "begin: tenant id too long");
    memcpy(conn->tx_tenant, tenant_id ? tenant_id : "", n + 1);
    conn->tx = tx;
    return MENTIS_OK;
}

mentis_status_t mentis_db_tx_begin(mentis_db_conn_t *conn, const char *tenant_id)
{
    return ask(conn, tenant_id, MENTIS__DB_TX_PENDING);
}

mentis_status_t mentis_db_tx_begin_read(mentis_db_conn_t *conn, const char *tenant_id)
{
    return ask(conn, tenant_id, MENTIS__DB_TX_EACH);
}

/* One statement of a pipeline: prepared (name) or not (sql). */
struct piece {
    const char *name, *sql;
    int nparams;
    const char *const *params;
};

static bool send_piece(PGconn *pg, const struct piece *q)
{
    if (q->name != NULL)
        return PQsendQueryPrepared(pg, q->name, q->nparams, q->params, NULL, NULL, 0) == 1;
    return PQsendQueryParams(pg, q->sql, q->nparams, NULL, q->params, NULL, NULL, 0) == 1;
}

/*
 * Sends the pieces and a Sync in one write and reads their results into res (NULL where
 * none came). False when the connection failed part way: its state is then unknown.
 */
static bool run_pipeline(PGconn *pg, const struct piece *q, int n, PGresult **res)
{
    bool ok = PQenterPipelineMode(pg) == 1;
    for (int i = 0; ok && i < n; i++)
        ok = send_piece(pg, &q[i]);
    ok = ok && PQpipelineSync(pg) == 1;
    for (int i = 0; ok && i < n; i++) {
        /* Each statement's result, then NULL; an error skips the rest (PIPELINE_ABORTED). */
        if ((res[i] = PQgetResult(pg)) == NULL)
            ok = false;
        for (PGresult *more; ok && (more = PQgetResult(pg)) != NULL;)
            PQclear(more);
    }
    PGresult *sync = ok ? PQgetResult(pg) : NULL;
    ok = ok && sync != NULL && PQresultStatus(sync) == PGRES_PIPELINE_SYNC;
    PQclear(sync);
    return ok && PQexitPipelineMode(pg) == 1;
}

static bool result_ok(const PGresult *res)
{
    ExecStatusType rs = PQresultStatus(res);
    return rs == PGRES_COMMAND_OK || rs == PGRES_TUPLES_OK;
}

mentis_status_t mentis__db_tx_exec(mentis_db_conn_t *conn, const char *sql, int nparams,
                                   const char *const *params, PGresult **out)
{
    bool begin = conn->tx == MENTIS__DB_TX_PENDING;
    const char *set_tenant = begin ? SET_TENANT : SET_TENANT_READ;
    char tname[16], sname[16];
    PGresult *failed = NULL;
    const char *tstmt = mentis__db_stmt(conn, set_tenant, 1, tname, &failed);
    if (failed != NULL) {
        mentis_status_t st = mentis__db_translate(conn, failed);
        PQclear(failed);
        return mentis_err_wrap(st, "set tenant of transaction");
    }
    const char *stmt = sql ? mentis__db_stmt(conn, sql, nparams, sname, &failed) : NULL;
    if (failed != NULL) {
        mentis_status_t st = mentis__db_translate(conn, failed);
        PQclear(failed);
        return st;
    }

    const char *tenant[] = {conn->tx_tenant};
    struct piece q[3];
    int n = 0, at_tenant, at_sql = -1;
    if (begin)
        q[n++] = (struct piece){NULL, "BEGIN", 0, NULL};
    at_tenant = n;
    q[n++] = (struct piece){tstmt, set_tenant, 1, tenant};
    if (sql != NULL) {
        at_sql = n;
        q[n++] = (struct piece){stmt, sql, nparams, params};
    }
    PGresult *res[3] = {NULL, NULL, NULL};
    bool whole = run_pipeline(conn->pg, q, n, res);
    if (begin && res[0] != NULL && result_ok(res[0]))
        conn->tx = MENTIS__DB_TX_OPEN; /* even when what followed failed: ROLLBACK ends it */

    /* The first failure is the one to report: what follows it was skipped. */
    mentis_status_t st = MENTIS_OK;
    for (int i = 0; i < n && st == MENTIS_OK; i++) {
        if (res[i] == NULL || result_ok(res[i]))
            continue;
        st = mentis__db_translate(conn, res[i]);
        if (i == at_tenant)
            st = mentis_err_wrap(st, "set tenant of transaction");
        else if (i != at_sql)
            st = mentis_err_wrap(st, "begin transaction");
    }
    if (!whole) {
        conn->broken = true;
        if (st == MENTIS_OK) {
            char text[300];
            snprintf(text, sizeof text, "%s", PQerrorMessage(conn->pg));
            text[strcspn(text, "\n")] = '\0';
            st = mentis_err_set(MENTIS_ERR_UNAVAILABLE, NULL, "postgresql connection lost: %s",
                                text);
        }
    }
    for (int i = 0; i < n; i++) {
        if (i == at_sql && st == MENTIS_OK && out != NULL)
            *out = res[i];
        else
            PQclear(res[i]);
    }
    return st;
}

/* Ends what was asked without sending anything, when nothing was begun on the server. */
static bool nothing_begun(mentis_db_conn_t *conn)
{
    bool nothing = conn->tx == MENTIS__DB_TX_PENDING || conn->tx == MENTIS__DB_TX_EACH;
    conn->tx = MENTIS__DB_TX_NONE;
    return nothing;
}

mentis_status_t mentis_db_tx_commit(mentis_db_conn_t *conn)
{
    if (nothing_begun(conn))
        return MENTIS_OK;
    PGresult *res = NULL;
    mentis_status_t st = mentis_db_exec(conn, "COMMIT", 0, NULL, &res);
    if (st != MENTIS_OK)
        return mentis_err_wrap(st, "commit");
    /* COMMIT of a failed transaction succeeds as a command but reports ROLLBACK. */
    bool rolled_back = strcmp(PQcmdStatus(res), "ROLLBACK") == 0;
    PQclear(res);
    if (rolled_back)
        return mentis_err_set(MENTIS_ERR_INTERNAL, NULL,
                              "commit: the transaction had failed and was rolled back");
    return MENTIS_OK;
}

mentis_status_t mentis_db_tx_rollback(mentis_db_conn_t *conn)
{
    if (nothing_begun(conn))
        return MENTIS_OK;
    mentis_status_t st = mentis_db_exec(conn, "ROLLBACK", 0, NULL, NULL);
    return st == MENTIS_OK ? MENTIS_OK : mentis_err_wrap(st, "rollback");
}
