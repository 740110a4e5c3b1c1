/* Transactions scoped to a tenant, for Row-Level Security. */
#include <string.h>

#include "internal.h"

mentis_status_t mentis_db_tx_begin(mentis_db_conn_t *conn, const char *tenant_id)
{
    mentis_status_t st = mentis_db_exec(conn, "BEGIN", 0, NULL, NULL);
    if (st != MENTIS_OK)
        return mentis_err_wrap(st, "begin transaction");
    /*
     * set_config(…, true) is SET LOCAL with a parameter: the value cannot inject SQL and
     * ends with the transaction. Without a tenant it is set to '' anyway, so nothing the
     * session set earlier can leak into this transaction.
     */
    const char *params[] = {tenant_id ? tenant_id : ""};
    st = mentis_db_exec(conn, "SELECT set_config('mentis.tenant_id', $1, true)", 1, params, NULL);
    if (st != MENTIS_OK) {
        mentis_status_t saved = st;
        PQclear(PQexec(conn->pg, "ROLLBACK"));
        return mentis_err_wrap(saved, "set tenant of transaction");
    }
    return MENTIS_OK;
}

mentis_status_t mentis_db_tx_commit(mentis_db_conn_t *conn)
{
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
    mentis_status_t st = mentis_db_exec(conn, "ROLLBACK", 0, NULL, NULL);
    return st == MENTIS_OK ? MENTIS_OK : mentis_err_wrap(st, "rollback");
}
