/*
 * The first admin. A fresh install has no account that could create one, so when
 * MENTIS_AUTH_BOOTSTRAP_ADMIN_EMAIL is set and the default tenant has no admin yet, start
 * creates that platform admin with MENTIS_AUTH_BOOTSTRAP_ADMIN_PASSWORD. Replicas that
 * start together serialise on an advisory lock and check again under it, so it is created
 * once. An existing account with that address is left as it is: promoting whoever
 * registered it first would hand the instance to them.
 */
#include <stdio.h>
#include <stdlib.h>

#include "admin.h"
#include "mentis/log.h"

#define HAS_ADMIN "SELECT count(*) FROM auth.users WHERE role IN ('admin', 'platform_admin')"

/* Begins a transaction of the default tenant on a fresh connection. */
static mentis_status_t begin(mentis_db_t *db, const mentis_auth_t *app, mentis_db_conn_t **conn)
{
    mentis_status_t st = mentis_db_acquire(db, mentis__auth_now() * 1000 + 30000, conn);
    if (st != MENTIS_OK)
        return st;
    if ((st = mentis_db_tx_begin(*conn, app->default_tenant)) != MENTIS_OK)
        mentis_db_release(db, *conn);
    return st;
}

static mentis_status_t end(mentis_db_t *db, mentis_db_conn_t *conn, mentis_status_t st)
{
    if (st == MENTIS_OK)
        st = mentis_db_tx_commit(conn);
    else
        mentis_db_tx_rollback(conn);
    mentis_db_release(db, conn);
    return st;
}

static mentis_status_t count_admins(mentis_db_conn_t *conn, long *n)
{
    PGresult *res = NULL;
    mentis_status_t st = mentis_db_exec(conn, HAS_ADMIN, 0, NULL, &res);
    if (st == MENTIS_OK)
        *n = strtol(PQgetvalue(res, 0, 0), NULL, 10);
    PQclear(res);
    return st;
}

mentis_status_t mentis__auth_bootstrap_admin(mentis_service_t *svc, const mentis_auth_t *app)
{
    if (app->bootstrap_email == NULL || app->bootstrap_email[0] == '\0')
        return MENTIS_OK;
    mentis_db_t *db = mentis_service_db(svc);
    mentis_db_conn_t *conn = NULL;
    long admins = 0;
    /* A quick look first: on every start but the first there is an admin, and Argon2 is
     * not worth running. */
    mentis_status_t st = begin(db, app, &conn);
    if (st == MENTIS_OK)
        st = end(db, conn, count_admins(conn, &admins));
    if (st != MENTIS_OK)
        return mentis_err_wrap(st, "bootstrap admin: ");
    if (admins > 0)
        return MENTIS_OK;

    char hash[MENTIS_CRYPTO_PWHASH_STRBYTES];
    if ((st = mentis__auth_password_hash(app, app->bootstrap_password, hash)) != MENTIS_OK)
        return mentis_err_wrap(st, "bootstrap admin: ");
    if ((st = begin(db, app, &conn)) != MENTIS_OK)
        return mentis_err_wrap(st, "bootstrap admin: ");
    bool created = false, taken = false;
    st = mentis_db_exec(conn,
                        "SELECT pg_advisory_xact_lock(hashtext('mentis.auth.bootstrap_admin'))", 0,
                        NULL, NULL);
    if (st == MENTIS_OK)
        st = count_admins(conn, &admins);
    if (st == MENTIS_OK && admins == 0) {
        char id[37], audit_id[37];
        mentis_crypto_uuid_v7(id);
        mentis_crypto_uuid_v7(audit_id);
        const char *p[] = {id, app->default_tenant, app->bootstrap_email, hash, audit_id};
        PGresult *res = NULL;
        st = mentis_db_exec(
            conn,
            "WITH u AS (INSERT INTO auth.users (id, tenant_id, email, password_hash, "
            "display_name, role, email_verified) SELECT $1, $2, $3, $4, 'Administrator', "
            "'platform_admin', true WHERE NOT EXISTS (SELECT 1 FROM auth.users "
            "WHERE lower(email) = lower($3)) RETURNING id, tenant_id, email) "
            "INSERT INTO auth.audit_log (id, tenant_id, user_id, event, detail) "
            "SELECT $5, tenant_id, id, 'user_created', jsonb_build_object('email', email, "
            "'role', 'platform_admin', 'bootstrap', 'true') FROM u RETURNING id",
            5, p, &res);
        if (st == MENTIS_OK) {
            created = PQntuples(res) == 1;
            taken = !created;
        }
        PQclear(res);
    }
    if ((st = end(db, conn, st)) != MENTIS_OK)
        return mentis_err_wrap(st, "bootstrap admin: ");
    if (created)
        mentis_log_info("bootstrap admin: created platform admin %s in the default tenant",
                        app->bootstrap_email);
    else if (taken)
        mentis_log_error("bootstrap admin: %s already has an account that is no admin; it was "
                         "left as it is and no admin was created",
                         app->bootstrap_email);
    return MENTIS_OK;
}
