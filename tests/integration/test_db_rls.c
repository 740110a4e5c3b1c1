/*
 * Tenant isolation end to end: a service role that is neither superuser nor BYPASSRLS,
 * a table with FORCE ROW LEVEL SECURITY, and mentis_db_tx_begin setting the tenant.
 * Queries here deliberately have no WHERE on tenant_id: the policy alone must filter.
 */
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "harness.h"
#include "mentis/db.h"

#define TENANT_A "0190a1b2-0000-7000-8000-00000000000a"
#define TENANT_B "0190a1b2-0000-7000-8000-00000000000b"

static const char SCHEMA[] =
    "CREATE SCHEMA kb;"
    "CREATE TABLE kb.note (id serial PRIMARY KEY, tenant_id uuid NOT NULL, body text NOT NULL);"
    "ALTER TABLE kb.note ENABLE ROW LEVEL SECURITY;"
    "ALTER TABLE kb.note FORCE ROW LEVEL SECURITY;"
    "CREATE POLICY tenant_isolation ON kb.note"
    "  USING (tenant_id = nullif(current_setting('mentis.tenant_id', true), '')::uuid)"
    "  WITH CHECK (tenant_id = nullif(current_setting('mentis.tenant_id', true), '')::uuid);";

static mentis_db_t *open_as(const h_pg_t *pg, const char *service, int size)
{
    char url[512];
    if (h_pg_url(pg, service, url, sizeof url) != 0)
        return NULL;
    mentis_db_options_t opts = {.url = url, .size = size};
    mentis_db_t *db = NULL;
    return mentis_db_open(&opts, &db) == MENTIS_OK ? db : NULL;
}

static int64_t soon(void)
{
    return (int64_t)h_now_ms() + 3000;
}

/* Inserts a note as `tenant` in its own transaction. */
static mentis_status_t add_note(mentis_db_conn_t *c, const char *tenant, const char *body)
{
    mentis_status_t st = mentis_db_tx_begin(c, tenant);
    if (st != MENTIS_OK)
        return st;
    const char *params[] = {tenant, body};
    st =
        mentis_db_exec(c, "INSERT INTO kb.note (tenant_id, body) VALUES ($1, $2)", 2, params, NULL);
    if (st != MENTIS_OK) {
        mentis_db_tx_rollback(c);
        return st;
    }
    return mentis_db_tx_commit(c);
}

/* One string cell of a statement run on c, "(error)" when it failed. */
static void cell(mentis_db_conn_t *c, const char *sql, char *out, size_t size)
{
    PGresult *res = NULL;
    snprintf(out, size, "(error)");
    if (mentis_db_exec(c, sql, 0, NULL, &res) == MENTIS_OK) {
        snprintf(out, size, "%s", PQntuples(res) == 1 ? PQgetvalue(res, 0, 0) : "(rows)");
        PQclear(res);
    }
}

/* The bodies visible in a transaction of `tenant` (NULL: none), comma-separated, sorted. */
static void visible(mentis_db_conn_t *c, const char *tenant, char *out, size_t size)
{
    snprintf(out, size, "(error)");
    if (mentis_db_tx_begin(c, tenant) != MENTIS_OK)
        return;
    cell(c, "SELECT coalesce(string_agg(body, ',' ORDER BY body), '') FROM kb.note", out, size);
    mentis_db_tx_rollback(c);
}

/* A cluster with the notes table, a pool of one connection as kb, and that connection. */
static bool start(h_pg_t *pg, mentis_db_t **db, mentis_db_conn_t **c)
{
    return h_pg_start(pg) == 0 && (*db = open_as(pg, "kb", 1)) != NULL &&
           mentis_db_acquire(*db, soon(), c) == MENTIS_OK &&
           mentis_db_exec_script(*c, SCHEMA) == MENTIS_OK;
}

static void test_rls_isolates_tenants(void)
{
    h_pg_t pg;
    REQUIRE(h_pg_start(&pg) == 0);
    /* One connection, so every transaction below reuses the same session. */
    mentis_db_t *db = open_as(&pg, "kb", 1);
    REQUIRE(db != NULL);
    mentis_db_conn_t *c;
    REQUIRE(mentis_db_acquire(db, soon(), &c) == MENTIS_OK);

    /* The role really is an ordinary one. */
    PGresult *res = NULL;
    REQUIRE(mentis_db_exec(c,
                           "SELECT current_user, rolsuper, rolbypassrls, rolcreaterole, "
                           "rolcreatedb FROM pg_roles WHERE rolname = current_user",
                           0, NULL, &res) == MENTIS_OK);
    REQUIRE(PQntuples(res) == 1);
    CHECK_STR(PQgetvalue(res, 0, 0), "mentis_kb");
    CHECK_STR(PQgetvalue(res, 0, 1), "f");
    CHECK_STR(PQgetvalue(res, 0, 2), "f");
    CHECK_STR(PQgetvalue(res, 0, 3), "f");
    CHECK_STR(PQgetvalue(res, 0, 4), "f");
    PQclear(res);

    /* A fresh session, no tenant ever set: sees nothing (current_setting is NULL). */
    REQUIRE(mentis_db_exec_script(c, SCHEMA) == MENTIS_OK);
    REQUIRE(add_note(c, TENANT_A, "a1") == MENTIS_OK);
    REQUIRE(add_note(c, TENANT_A, "a2") == MENTIS_OK);
    REQUIRE(add_note(c, TENANT_B, "b1") == MENTIS_OK);
    char out[256];
    CHECK_INT(h_pg_query(&pg, "SELECT count(*) FROM kb.note", out, sizeof out), 0);
    CHECK_STR(out, "3"); /* all three rows exist */

    /* Without any WHERE, each tenant sees only its own rows. */
    visible(c, TENANT_A, out, sizeof out);
    CHECK_STR(out, "a1,a2");
    visible(c, TENANT_B, out, sizeof out);
    CHECK_STR(out, "b1");
    /* No tenant: nothing, also on a session that had one set before. */
    visible(c, NULL, out, sizeof out);
    CHECK_STR(out, "");
    REQUIRE(mentis_db_exec(c, "SELECT count(*) FROM kb.note", 0, NULL, &res) == MENTIS_OK);
    CHECK_STR(PQgetvalue(res, 0, 0), "0"); /* outside any transaction, too */
    PQclear(res);
    /* The tenant ends with its transaction. */
    REQUIRE(mentis_db_exec(c, "SELECT current_setting('mentis.tenant_id', true)", 0, NULL, &res) ==
            MENTIS_OK);
    CHECK_STR(PQgetvalue(res, 0, 0), "");
    PQclear(res);

    /* Writes are confined too: an unqualified DELETE removes only the tenant's rows... */
    REQUIRE(mentis_db_tx_begin(c, TENANT_B) == MENTIS_OK);
    REQUIRE(mentis_db_exec(c, "DELETE FROM kb.note", 0, NULL, &res) == MENTIS_OK);
    CHECK_STR(PQcmdTuples(res), "1");
    PQclear(res);
    REQUIRE(mentis_db_exec(c, "UPDATE kb.note SET body = 'x'", 0, NULL, &res) == MENTIS_OK);
    CHECK_STR(PQcmdTuples(res), "0");
    PQclear(res);
    CHECK_INT(mentis_db_tx_rollback(c), MENTIS_OK);
    /* ...and a row for another tenant cannot be written. */
    REQUIRE(mentis_db_tx_begin(c, TENANT_A) == MENTIS_OK);
    const char *other[] = {TENANT_B, "sneaky"};
    CHECK(mentis_db_exec(c, "INSERT INTO kb.note (tenant_id, body) VALUES ($1, $2)", 2, other,
                         NULL) != MENTIS_OK);
    CHECK_STR(mentis_db_err_sqlstate(), "42501");
    mentis_db_tx_rollback(c);
    CHECK_INT(h_pg_query(&pg, "SELECT count(*) FROM kb.note", out, sizeof out), 0);
    CHECK_STR(out, "3");

    /* The tenant is a parameter, never SQL: this is just a bad uuid. */
    REQUIRE(mentis_db_tx_begin(c, "x'; DROP TABLE kb.note; --") == MENTIS_OK);
    CHECK_INT(mentis_db_exec(c, "SELECT count(*) FROM kb.note", 0, NULL, NULL),
              MENTIS_ERR_INVALID_ARGUMENT);
    mentis_db_tx_rollback(c);
    CHECK_INT(h_pg_query(&pg, "SELECT count(*) FROM kb.note", out, sizeof out), 0);
    CHECK_STR(out, "3");

    /* Handed to the next holder, the session keeps no tenant. */
    REQUIRE(mentis_db_tx_begin(c, TENANT_A) == MENTIS_OK);
    mentis_db_release(db, c); /* inside the transaction: rolled back */
    REQUIRE(mentis_db_acquire(db, soon(), &c) == MENTIS_OK);
    visible(c, NULL, out, sizeof out);
    CHECK_STR(out, "");
    mentis_db_release(db, c);

    /* Another service's role cannot even read kb's table. */
    mentis_db_t *auth = open_as(&pg, "auth", 1);
    REQUIRE(auth != NULL);
    REQUIRE(mentis_db_acquire(auth, soon(), &c) == MENTIS_OK);
    REQUIRE(mentis_db_tx_begin(c, TENANT_A) == MENTIS_OK);
    CHECK(mentis_db_exec(c, "SELECT count(*) FROM kb.note", 0, NULL, NULL) != MENTIS_OK);
    CHECK_STR(mentis_db_err_sqlstate(), "42501");
    mentis_db_tx_rollback(c);
    /* Nor create anything in public. */
    CHECK(mentis_db_exec(c, "CREATE TABLE public.shared (x int)", 0, NULL, NULL) != MENTIS_OK);
    CHECK_STR(mentis_db_err_sqlstate(), "42501");
    mentis_db_release(auth, c);
    mentis_db_close(auth);

    mentis_db_close(db);
    h_pg_stop(&pg);
}

/*
 * A transaction is sent with its first statement (BEGIN, the tenant and the statement in
 * one pipeline): whatever fails where, the outcome must be the same as four round trips.
 */
static void test_transaction_goes_with_first_statement(void)
{
    h_pg_t pg;
    mentis_db_t *db = NULL;
    mentis_db_conn_t *c = NULL;
    REQUIRE(start(&pg, &db, &c));
    REQUIRE(mentis_db_exec_script(c, "CREATE UNIQUE INDEX ON kb.note (body)") == MENTIS_OK);
    REQUIRE(add_note(c, TENANT_A, "a1") == MENTIS_OK);
    char out[256];

    /* The statements after the first run in the same transaction as it. */
    REQUIRE(mentis_db_tx_begin(c, TENANT_A) == MENTIS_OK);
    cell(c, "SELECT set_config('mentis.probe', 'kept', true)", out, sizeof out);
    CHECK_STR(out, "kept");
    cell(c, "SELECT current_setting('mentis.probe', true)", out, sizeof out);
    CHECK_STR(out, "kept");
    const char *a2[] = {TENANT_A, "a2"};
    CHECK_INT(mentis_db_exec(c, "INSERT INTO kb.note (tenant_id, body) VALUES ($1, $2)", 2, a2,
                             NULL),
              MENTIS_OK);
    CHECK_INT(mentis_db_tx_rollback(c), MENTIS_OK);
    visible(c, TENANT_A, out, sizeof out);
    CHECK_STR(out, "a1"); /* the insert was rolled back with the rest */

    /* A first statement that fails (a constraint) has opened the transaction: it is
     * aborted until the rollback, and then the session is as good as new. */
    REQUIRE(mentis_db_tx_begin(c, TENANT_A) == MENTIS_OK);
    const char *dup[] = {TENANT_A, "a1"};
    CHECK_INT(mentis_db_exec(c, "INSERT INTO kb.note (tenant_id, body) VALUES ($1, $2)", 2, dup,
                             NULL),
              MENTIS_ERR_CONFLICT);
    CHECK_STR(mentis_db_err_sqlstate(), "23505");
    cell(c, "SELECT 1", out, sizeof out);
    CHECK_STR(out, "(error)");
    CHECK_STR(mentis_db_err_sqlstate(), "25P02"); /* in a failed transaction */
    CHECK_INT(mentis_db_tx_rollback(c), MENTIS_OK);
    CHECK_INT(PQtransactionStatus(mentis_db_conn_pg(c)), PQTRANS_IDLE);

    /* A first statement that cannot even be prepared: its own error, nothing left open. */
    REQUIRE(mentis_db_tx_begin(c, TENANT_A) == MENTIS_OK);
    const char *one[] = {"1"};
    CHECK(mentis_db_exec(c, "SELEC $1", 1, one, NULL) != MENTIS_OK);
    CHECK_STR(mentis_db_err_sqlstate(), "42601");
    CHECK_INT(mentis_db_tx_rollback(c), MENTIS_OK);
    CHECK_INT(PQtransactionStatus(mentis_db_conn_pg(c)), PQTRANS_IDLE);
    REQUIRE(add_note(c, TENANT_A, "a3") == MENTIS_OK);
    visible(c, TENANT_A, out, sizeof out);
    CHECK_STR(out, "a1,a3");

    /* Nothing run: nothing to commit, and nothing was begun. */
    REQUIRE(mentis_db_tx_begin(c, TENANT_B) == MENTIS_OK);
    CHECK_INT(mentis_db_tx_commit(c), MENTIS_OK);
    CHECK_INT(PQtransactionStatus(mentis_db_conn_pg(c)), PQTRANS_IDLE);
    /* A tenant id no policy could hold is refused before anything is sent. */
    char long_id[80];
    memset(long_id, 'x', sizeof long_id - 1);
    long_id[sizeof long_id - 1] = '\0';
    CHECK_INT(mentis_db_tx_begin(c, long_id), MENTIS_ERR_INVALID_ARGUMENT);

    /* The session ends between the request for a transaction and its first statement:
     * unavailable, and the pool connects afresh for the next holder. */
    REQUIRE(mentis_db_tx_begin(c, TENANT_A) == MENTIS_OK);
    CHECK_INT(h_pg_query(&pg,
                         "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity "
                         "WHERE usename = 'mentis_kb'",
                         out, sizeof out),
              0);
    CHECK_STR(out, "1");
    CHECK_INT(mentis_db_exec(c, "SELECT count(*) FROM kb.note WHERE body <> $1", 1, one, NULL),
              MENTIS_ERR_UNAVAILABLE);
    mentis_db_tx_rollback(c);
    mentis_db_release(db, c);
    REQUIRE(mentis_db_acquire(db, soon(), &c) == MENTIS_OK);
    visible(c, TENANT_A, out, sizeof out);
    CHECK_STR(out, "a1,a3");
    mentis_db_release(db, c);
    mentis_db_close(db);
    h_pg_stop(&pg);
}

/* mentis_db_tx_begin_read: each statement a read-only transaction of its own, with the
 * tenant. */
static void test_read_statements_each_alone(void)
{
    h_pg_t pg;
    mentis_db_t *db = NULL;
    mentis_db_conn_t *c = NULL;
    REQUIRE(start(&pg, &db, &c));
    REQUIRE(add_note(c, TENANT_A, "a1") == MENTIS_OK);
    REQUIRE(add_note(c, TENANT_B, "b1") == MENTIS_OK);
    char out[256];

    REQUIRE(mentis_db_tx_begin_read(c, TENANT_A) == MENTIS_OK);
    /* Every statement has the tenant, with or without parameters... */
    cell(c, "SELECT string_agg(body, ',') FROM kb.note", out, sizeof out);
    CHECK_STR(out, "a1");
    const char *like[] = {"%"};
    PGresult *res = NULL;
    REQUIRE(mentis_db_exec(c, "SELECT string_agg(body, ',') FROM kb.note WHERE body LIKE $1", 1,
                           like, &res) == MENTIS_OK);
    CHECK_STR(PQgetvalue(res, 0, 0), "a1");
    PQclear(res);
    /* ...but no transaction spans two of them... */
    cell(c, "SELECT set_config('mentis.probe', 'gone', true)", out, sizeof out);
    CHECK_STR(out, "gone");
    cell(c, "SELECT coalesce(current_setting('mentis.probe', true), '')", out, sizeof out);
    CHECK_STR(out, "");
    /* ...and none may write: refused, nothing written, the next read unaffected. */
    const char *a2[] = {TENANT_A, "a2"};
    CHECK(mentis_db_exec(c, "INSERT INTO kb.note (tenant_id, body) VALUES ($1, $2)", 2, a2,
                         NULL) != MENTIS_OK);
    CHECK_STR(mentis_db_err_sqlstate(), "25006");
    cell(c, "SELECT string_agg(body, ',') FROM kb.note", out, sizeof out);
    CHECK_STR(out, "a1");
    CHECK_INT(mentis_db_exec_script(c, "SELECT 1; SELECT 2"), MENTIS_ERR_INVALID_ARGUMENT);
    CHECK_INT(mentis_db_tx_commit(c), MENTIS_OK);
    CHECK_INT(PQtransactionStatus(mentis_db_conn_pg(c)), PQTRANS_IDLE);
    /* After it, statements run as sent again: no tenant. */
    cell(c, "SELECT count(*) FROM kb.note", out, sizeof out);
    CHECK_STR(out, "0");

    REQUIRE(mentis_db_tx_begin_read(c, NULL) == MENTIS_OK);
    cell(c, "SELECT count(*) FROM kb.note", out, sizeof out);
    CHECK_STR(out, "0");
    CHECK_INT(mentis_db_tx_rollback(c), MENTIS_OK);
    REQUIRE(mentis_db_tx_begin_read(c, TENANT_B) == MENTIS_OK);
    cell(c, "SELECT string_agg(body, ',') FROM kb.note", out, sizeof out);
    CHECK_STR(out, "b1");
    mentis_db_release(db, c); /* without an end: the next holder starts clean */
    REQUIRE(mentis_db_acquire(db, soon(), &c) == MENTIS_OK);
    cell(c, "SELECT count(*) FROM kb.note", out, sizeof out);
    CHECK_STR(out, "0");
    CHECK_INT(h_pg_query(&pg, "SELECT string_agg(body, ',' ORDER BY body) FROM kb.note", out,
                         sizeof out),
              0);
    CHECK_STR(out, "a1,b1");
    mentis_db_release(db, c);
    mentis_db_close(db);
    h_pg_stop(&pg);
}

/* The bootstrap can run again (as for a password rotation) without an error. */
static void test_bootstrap_is_idempotent(void)
{
    h_pg_t pg;
    REQUIRE(h_pg_start(&pg) == 0);
    char file[512], cmd[2048];
    const char *src = getenv("MENTIS_SOURCE_DIR");
    snprintf(file, sizeof file, "%s/deploy/db/bootstrap.sql", src ? src : ".");
    snprintf(cmd, sizeof cmd,
             "psql -X -q -v ON_ERROR_STOP=1 -v auth_password=p1 -v kb_password=p2 "
             "-v curriculum_password=p3 -v metrics_password=p4 -v jobs_password=p5 "
             "-d '%s' -f '%s' >/dev/null 2>&1",
             pg.super_url, file);
    CHECK_INT(system(cmd), 0);
    /* The new password works. */
    char url[256];
    snprintf(url, sizeof url, "postgresql://mentis_kb:p2@127.0.0.1:%d/mentis", pg.port);
    mentis_db_options_t opts = {.url = url, .size = 1};
    mentis_db_t *db = NULL;
    REQUIRE(mentis_db_open(&opts, &db) == MENTIS_OK);
    CHECK_INT(mentis_db_ping(db, soon()), MENTIS_OK);
    mentis_db_close(db);
    /* A missing password is refused with a clear message, not half-applied. */
    snprintf(cmd, sizeof cmd,
             "psql -X -q -v ON_ERROR_STOP=1 -v auth_password=p1 -d '%s' -f '%s' 2>&1 "
             "| grep -q 'missing psql variable kb_password'",
             pg.super_url, file);
    CHECK_INT(system(cmd), 0);
    h_pg_stop(&pg);
}

TEST_MAIN(test_rls_isolates_tenants, test_transaction_goes_with_first_statement,
          test_read_statements_each_alone, test_bootstrap_is_idempotent)
