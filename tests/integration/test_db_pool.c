/*
 * libs/db against a real PostgreSQL: the pool, queries, error translation, deadlines,
 * PostgreSQL down at start and restarted mid-run.
 */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "check.h"
#include "harness.h"
#include "mentis/db.h"

static int64_t now_ms(void)
{
    return (int64_t)h_now_ms();
}

/* A pool as role mentis_kb. */
static mentis_db_t *open_kb(const h_pg_t *pg, int size, int statement_timeout_ms)
{
    char url[512];
    if (h_pg_url(pg, "kb", url, sizeof url) != 0)
        return NULL;
    mentis_db_options_t opts = {.url = url,
                                .size = size,
                                .connect_timeout_ms = 2000,
                                .statement_timeout_ms = statement_timeout_ms,
                                .application_name = "mentis-test"};
    mentis_db_t *db = NULL;
    if (mentis_db_open(&opts, &db) != MENTIS_OK) {
        fprintf(stderr, "open: %s\n", mentis_err_msg());
        return NULL;
    }
    return db;
}

/* Runs one statement on a pooled connection; the status. */
static mentis_status_t run(mentis_db_t *db, const char *sql)
{
    mentis_db_conn_t *c;
    mentis_status_t st = mentis_db_acquire(db, now_ms() + 3000, &c);
    if (st != MENTIS_OK)
        return st;
    st = mentis_db_exec(c, sql, 0, NULL, NULL);
    mentis_db_release(db, c);
    return st;
}

static const char SCHEMA[] = "CREATE SCHEMA t;"
                             "CREATE TABLE t.account ("
                             "  id int PRIMARY KEY,"
                             "  email text NOT NULL CONSTRAINT account_email_key UNIQUE,"
                             "  credits int CHECK (credits >= 0),"
                             "  parent int REFERENCES t.account (id));";

static void test_exec_and_error_translation(void)
{
    h_pg_t pg;
    REQUIRE(h_pg_start(&pg) == 0);
    mentis_db_t *db = open_kb(&pg, 2, 0);
    REQUIRE(db != NULL);
    mentis_db_conn_t *c;
    REQUIRE(mentis_db_acquire(db, now_ms() + 3000, &c) == MENTIS_OK);
    REQUIRE(mentis_db_exec_script(c, SCHEMA) == MENTIS_OK);

    /* Parameters, NULL parameters and results. */
    const char *row1[] = {"1", "a@example.org", "5", NULL};
    CHECK_INT(mentis_db_exec(c, "INSERT INTO t.account VALUES ($1, $2, $3, $4)", 4, row1, NULL),
              MENTIS_OK);
    const char *row2[] = {"2", "b@example.org", "0", "1"};
    CHECK_INT(mentis_db_exec(c, "INSERT INTO t.account VALUES ($1, $2, $3, $4)", 4, row2, NULL),
              MENTIS_OK);
    PGresult *res = NULL;
    const char *who[] = {"b@example.org"};
    REQUIRE(mentis_db_exec(c, "SELECT id, parent, current_user FROM t.account WHERE email = $1", 1,
                           who, &res) == MENTIS_OK);
    REQUIRE(PQntuples(res) == 1);
    CHECK_STR(PQgetvalue(res, 0, 0), "2");
    CHECK_STR(PQgetvalue(res, 0, 1), "1");
    CHECK_STR(PQgetvalue(res, 0, 2), "mentis_kb");
    PQclear(res);
    CHECK(mentis_db_conn_pg(c) != NULL);

    /* A value that is SQL, passed as a parameter, stays a value. */
    const char *evil[] = {"3", "x'); DROP TABLE t.account; --", "1", NULL};
    CHECK_INT(mentis_db_exec(c, "INSERT INTO t.account VALUES ($1, $2, $3, $4)", 4, evil, NULL),
              MENTIS_OK);

    struct {
        const char *sql;
        const char *const *params;
        int nparams;
        mentis_status_t want;
        const char *sqlstate;
    } cases[] = {
        {"INSERT INTO t.account VALUES (9, $1, 1, NULL)", (const char *const[]){"a@example.org"}, 1,
         MENTIS_ERR_CONFLICT, "23505"},
        {"INSERT INTO t.account VALUES (9, 'n@x', 1, 77)", NULL, 0, MENTIS_ERR_CONFLICT, "23503"},
        {"UPDATE t.account SET credits = -1 WHERE id = 1", NULL, 0, MENTIS_ERR_INVALID_ARGUMENT,
         "23514"},
        {"INSERT INTO t.account (id) VALUES (10)", NULL, 0, MENTIS_ERR_INVALID_ARGUMENT, "23502"},
        {"SELECT * FROM t.account WHERE id = $1", (const char *const[]){"not-a-number"}, 1,
         MENTIS_ERR_INVALID_ARGUMENT, "22P02"},
        {"SELECT 1 / 0", NULL, 0, MENTIS_ERR_INVALID_ARGUMENT, "22012"},
        {"SELEC 1", NULL, 0, MENTIS_ERR_INTERNAL, "42601"},
        {"SELECT * FROM t.nothing", NULL, 0, MENTIS_ERR_INTERNAL, "42P01"},
        /* Codes that are hard to provoke on demand, raised as they would arrive. */
        {"DO $$ BEGIN RAISE EXCEPTION 'x' USING ERRCODE = '40001'; END $$", NULL, 0,
         MENTIS_ERR_UNAVAILABLE, "40001"},
        {"DO $$ BEGIN RAISE EXCEPTION 'x' USING ERRCODE = '40P01'; END $$", NULL, 0,
         MENTIS_ERR_UNAVAILABLE, "40P01"},
        {"DO $$ BEGIN RAISE EXCEPTION 'x' USING ERRCODE = '57014'; END $$", NULL, 0,
         MENTIS_ERR_DEADLINE_EXCEEDED, "57014"},
        {"DO $$ BEGIN RAISE EXCEPTION 'x' USING ERRCODE = '53300'; END $$", NULL, 0,
         MENTIS_ERR_UNAVAILABLE, "53300"},
        {"DO $$ BEGIN RAISE EXCEPTION 'x' USING ERRCODE = '23P01'; END $$", NULL, 0,
         MENTIS_ERR_CONFLICT, "23P01"},
        {"DO $$ BEGIN RAISE EXCEPTION 'x' USING ERRCODE = 'XX000'; END $$", NULL, 0,
         MENTIS_ERR_INTERNAL, "XX000"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        mentis_err_clear();
        mentis_status_t st =
            mentis_db_exec(c, cases[i].sql, cases[i].nparams, cases[i].params, &res);
        CHECK_MSG(st == cases[i].want, "%s: got %s, want %s (%s)", cases[i].sql,
                  mentis_status_str(st), mentis_status_str(cases[i].want), mentis_err_msg());
        CHECK_STR(mentis_db_err_sqlstate(), cases[i].sqlstate);
        CHECK_MSG(strstr(mentis_err_msg(), cases[i].sqlstate) != NULL, "%s", mentis_err_msg());
        CHECK_INT(mentis_err_status(), cases[i].want);
    }
    /* The constraint is named; the row's values (DETAIL) are not repeated. */
    const char *dup[] = {"a@example.org"};
    CHECK_INT(mentis_db_exec(c, "INSERT INTO t.account VALUES (11, $1, 1, NULL)", 1, dup, NULL),
              MENTIS_ERR_CONFLICT);
    CHECK_STR(mentis_db_err_constraint(), "account_email_key");
    CHECK(strstr(mentis_err_msg(), "account_email_key") != NULL);
    CHECK(strstr(mentis_err_msg(), "a@example.org") == NULL);

    /* Transactions: commit, rollback, and a failed one that cannot commit. */
    CHECK_INT(mentis_db_tx_begin(c, NULL), MENTIS_OK);
    CHECK_INT(mentis_db_exec(c, "UPDATE t.account SET credits = 100 WHERE id = 1", 0, NULL, NULL),
              MENTIS_OK);
    CHECK_INT(mentis_db_tx_rollback(c), MENTIS_OK);
    CHECK_INT(mentis_db_tx_begin(c, NULL), MENTIS_OK);
    CHECK_INT(mentis_db_exec(c, "UPDATE t.account SET credits = 7 WHERE id = 1", 0, NULL, NULL),
              MENTIS_OK);
    CHECK_INT(mentis_db_tx_commit(c), MENTIS_OK);
    CHECK_INT(mentis_db_tx_begin(c, NULL), MENTIS_OK);
    CHECK(mentis_db_exec(c, "SELECT 1 / 0", 0, NULL, NULL) != MENTIS_OK);
    CHECK_INT(mentis_db_tx_commit(c), MENTIS_ERR_INTERNAL);
    CHECK(strstr(mentis_err_msg(), "rolled back") != NULL);
    CHECK_INT(PQtransactionStatus(mentis_db_conn_pg(c)), PQTRANS_IDLE);

    /* Released inside a transaction: rolled back, not left for the next holder. */
    CHECK_INT(mentis_db_tx_begin(c, NULL), MENTIS_OK);
    CHECK_INT(mentis_db_exec(c, "UPDATE t.account SET credits = 999 WHERE id = 1", 0, NULL, NULL),
              MENTIS_OK);
    mentis_db_release(db, c);
    char out[64];
    CHECK_INT(h_pg_query(&pg, "SELECT credits FROM t.account WHERE id = 1", out, sizeof out), 0);
    CHECK_STR(out, "7");
    REQUIRE(mentis_db_acquire(db, now_ms() + 3000, &c) == MENTIS_OK);
    CHECK_INT(PQtransactionStatus(mentis_db_conn_pg(c)), PQTRANS_IDLE);

    /* A connection-class error marks the connection broken: release drops it. */
    mentis_db_stats_t before, after;
    mentis_db_stats(db, &before);
    CHECK_INT(mentis_db_exec(c, "DO $$ BEGIN RAISE EXCEPTION 'x' USING ERRCODE = '08006'; END $$",
                             0, NULL, NULL),
              MENTIS_ERR_UNAVAILABLE);
    mentis_db_release(db, c);
    mentis_db_stats(db, &after);
    CHECK_INT(after.resets, before.resets + 1);
    CHECK_INT(after.in_use, 0);
    CHECK_INT(run(db, "SELECT 1"), MENTIS_OK);

    mentis_db_close(db);
    h_pg_stop(&pg);
}

/* The number of statements the session of c has prepared, or -1. */
static int prepared_count(mentis_db_conn_t *c)
{
    PGresult *res = NULL;
    if (mentis_db_exec(c, "SELECT count(*) FROM pg_prepared_statements", 0, NULL, &res) !=
        MENTIS_OK)
        return -1;
    int n = atoi(PQgetvalue(res, 0, 0));
    PQclear(res);
    return n;
}

/* Parameterised statements are prepared once per session, up to a cap; a statement whose
 * table changed shape fails once, and the next session prepares it afresh. */
static void test_prepared_statements(void)
{
    h_pg_t pg;
    REQUIRE(h_pg_start(&pg) == 0);
    mentis_db_t *db = open_kb(&pg, 1, 0);
    REQUIRE(db != NULL);
    mentis_db_conn_t *c;
    REQUIRE(mentis_db_acquire(db, now_ms() + 3000, &c) == MENTIS_OK);
    REQUIRE(mentis_db_exec_script(c, "CREATE SCHEMA t; CREATE TABLE t.p (id int, name text);"
                                     "INSERT INTO t.p VALUES (1, 'one');") == MENTIS_OK);
    static const char select[] = "SELECT * FROM t.p WHERE id = $1";
    const char *one[] = {"1"};
    PGresult *res = NULL;
    for (int i = 0; i < 3; i++) {
        REQUIRE(mentis_db_exec(c, select, 1, one, &res) == MENTIS_OK);
        CHECK_INT(PQntuples(res), 1);
        CHECK_INT(PQnfields(res), 2);
        PQclear(res);
    }
    CHECK_INT(prepared_count(c), 1); /* three runs, one statement */

    /* Texts built per call fill the cache, then run unprepared, with the same answers. */
    for (int i = 0; i < 300; i++) {
        char sql[64], want[16];
        snprintf(sql, sizeof sql, "SELECT $1::int + %d", i);
        snprintf(want, sizeof want, "%d", i + 1);
        REQUIRE(mentis_db_exec(c, sql, 1, one, &res) == MENTIS_OK);
        CHECK_STR(PQgetvalue(res, 0, 0), want);
        PQclear(res);
    }
    CHECK_INT(prepared_count(c), 256);

    /* The table changes shape under the prepared SELECT *: that run fails, the session is
     * replaced, and the statement works again, with the new column. */
    REQUIRE(mentis_db_exec(c, "ALTER TABLE t.p ADD COLUMN extra int", 0, NULL, NULL) == MENTIS_OK);
    CHECK_INT(mentis_db_exec(c, select, 1, one, NULL), MENTIS_ERR_INTERNAL);
    CHECK_STR(mentis_db_err_sqlstate(), "0A000");
    mentis_db_release(db, c);
    REQUIRE(mentis_db_acquire(db, now_ms() + 3000, &c) == MENTIS_OK);
    REQUIRE(mentis_db_exec(c, select, 1, one, &res) == MENTIS_OK);
    CHECK_INT(PQnfields(res), 3);
    PQclear(res);
    CHECK_INT(prepared_count(c), 1);
    mentis_db_release(db, c);
    mentis_db_close(db);
    h_pg_stop(&pg);
}

static void test_statement_timeout(void)
{
    h_pg_t pg;
    REQUIRE(h_pg_start(&pg) == 0);
    mentis_db_t *db = open_kb(&pg, 1, 200);
    REQUIRE(db != NULL);
    int64_t t0 = now_ms();
    CHECK_INT(run(db, "SELECT pg_sleep(5)"), MENTIS_ERR_DEADLINE_EXCEEDED);
    CHECK(now_ms() - t0 < 2000);
    CHECK_STR(mentis_db_err_sqlstate(), "57014");
    /* The connection is fine afterwards, and the option is really per statement. */
    mentis_db_conn_t *c;
    REQUIRE(mentis_db_acquire(db, now_ms() + 3000, &c) == MENTIS_OK);
    PGresult *res = NULL;
    REQUIRE(mentis_db_exec(c, "SHOW statement_timeout", 0, NULL, &res) == MENTIS_OK);
    CHECK_STR(PQgetvalue(res, 0, 0), "200ms");
    PQclear(res);
    REQUIRE(mentis_db_exec(c, "SELECT current_setting('application_name')", 0, NULL, &res) ==
            MENTIS_OK);
    CHECK_STR(PQgetvalue(res, 0, 0), "mentis-test");
    PQclear(res);
    mentis_db_release(db, c);
    mentis_db_close(db);

    /* Options the url already carries are kept, with the timeout added to them. */
    char url[512], with_options[600];
    REQUIRE(h_pg_url(&pg, "kb", url, sizeof url) == 0);
    snprintf(with_options, sizeof with_options, "%s?options=-c%%20lock_timeout%%3D1234", url);
    mentis_db_options_t opts = {.url = with_options, .statement_timeout_ms = 300};
    REQUIRE(mentis_db_open(&opts, &db) == MENTIS_OK);
    REQUIRE(mentis_db_acquire(db, now_ms() + 3000, &c) == MENTIS_OK);
    REQUIRE(mentis_db_exec(c,
                           "SELECT current_setting('lock_timeout'), "
                           "current_setting('statement_timeout'), "
                           "current_setting('application_name')",
                           0, NULL, &res) == MENTIS_OK);
    CHECK_STR(PQgetvalue(res, 0, 0), "1234ms");
    CHECK_STR(PQgetvalue(res, 0, 1), "300ms");
    CHECK_STR(PQgetvalue(res, 0, 2), "mentis");
    PQclear(res);
    mentis_db_release(db, c);
    mentis_db_close(db);
    h_pg_stop(&pg);
}

struct holder {
    mentis_db_t *db;
    mentis_db_conn_t *conn;
    int delay_ms;
};

static void *release_later(void *arg)
{
    struct holder *h = arg;
    h_sleep_ms(h->delay_ms);
    mentis_db_release(h->db, h->conn);
    return NULL;
}

static void test_acquire_deadline(void)
{
    h_pg_t pg;
    REQUIRE(h_pg_start(&pg) == 0);
    mentis_db_t *db = open_kb(&pg, 2, 0);
    REQUIRE(db != NULL);
    mentis_db_conn_t *a, *b, *c;
    REQUIRE(mentis_db_acquire(db, now_ms() + 3000, &a) == MENTIS_OK);
    REQUIRE(mentis_db_acquire(db, now_ms() + 3000, &b) == MENTIS_OK);
    mentis_db_stats_t s;
    mentis_db_stats(db, &s);
    CHECK_INT(s.in_use, 2);
    CHECK_INT(s.size, 2);

    /* All taken: unavailable at the deadline, not before and not much after. */
    int64_t t0 = now_ms();
    CHECK_INT(mentis_db_acquire(db, t0 + 300, &c), MENTIS_ERR_UNAVAILABLE);
    int64_t waited = now_ms() - t0;
    CHECK_MSG(waited >= 290 && waited < 800, "waited %lld ms", (long long)waited);
    CHECK(strstr(mentis_err_msg(), "2 of 2 in use") != NULL);
    /* A deadline already past answers at once. */
    t0 = now_ms();
    CHECK_INT(mentis_db_acquire(db, t0 - 1, &c), MENTIS_ERR_UNAVAILABLE);
    CHECK(now_ms() - t0 < 50);
    mentis_db_stats(db, &s);
    CHECK_INT(s.acquire_timeouts, 2);

    /* A waiter is woken when a connection comes back, well before its deadline. */
    struct holder h = {db, a, 150};
    pthread_t t;
    REQUIRE(pthread_create(&t, NULL, release_later, &h) == 0);
    t0 = now_ms();
    CHECK_INT(mentis_db_acquire(db, t0 + 5000, &c), MENTIS_OK);
    waited = now_ms() - t0;
    CHECK_MSG(waited >= 100 && waited < 1500, "waited %lld ms", (long long)waited);
    pthread_join(t, NULL);
    CHECK(c == a); /* the same slot, its connection kept */
    mentis_db_release(db, c);
    mentis_db_release(db, b);
    mentis_db_stats(db, &s);
    CHECK_INT(s.in_use, 0);
    CHECK_INT(s.idle, 2);
    CHECK_INT(s.connects, 2);
    CHECK_INT(mentis_db_ping(db, now_ms() + 1000), MENTIS_OK);
    mentis_db_close(db);
    h_pg_stop(&pg);
}

/* Many threads over a small pool: every acquire either gets a connection or times out. */
struct hammer {
    mentis_db_t *db;
    atomic_int ok;
    atomic_int unavailable;
    atomic_int other;
};

static void *hammer_run(void *arg)
{
    struct hammer *hm = arg;
    for (int i = 0; i < 40; i++) {
        mentis_db_conn_t *c;
        mentis_status_t st = mentis_db_acquire(hm->db, now_ms() + 2000, &c);
        if (st == MENTIS_OK) {
            st = mentis_db_exec(c, "SELECT pg_sleep(0.002)", 0, NULL, NULL);
            mentis_db_release(hm->db, c);
        }
        if (st == MENTIS_OK)
            atomic_fetch_add(&hm->ok, 1);
        else if (st == MENTIS_ERR_UNAVAILABLE)
            atomic_fetch_add(&hm->unavailable, 1);
        else
            atomic_fetch_add(&hm->other, 1);
    }
    return NULL;
}

static void test_concurrent_use(void)
{
    h_pg_t pg;
    REQUIRE(h_pg_start(&pg) == 0);
    struct hammer hm = {.db = open_kb(&pg, 3, 0)};
    REQUIRE(hm.db != NULL);
    pthread_t t[8];
    for (int i = 0; i < 8; i++)
        REQUIRE(pthread_create(&t[i], NULL, hammer_run, &hm) == 0);
    for (int i = 0; i < 8; i++)
        pthread_join(t[i], NULL);
    CHECK_INT(atomic_load(&hm.ok), 8 * 40);
    CHECK_INT(atomic_load(&hm.other), 0);
    mentis_db_stats_t s;
    mentis_db_stats(hm.db, &s);
    CHECK_INT(s.in_use, 0);
    CHECK_INT(s.connects, 3);
    char out[32];
    CHECK_INT(h_pg_query(&pg,
                         "SELECT count(*) FROM pg_stat_activity "
                         "WHERE application_name = 'mentis-test'",
                         out, sizeof out),
              0);
    CHECK_STR(out, "3"); /* bounded: never more connections than the pool's size */
    mentis_db_close(hm.db);
    h_pg_stop(&pg);
}

static void test_down_at_open_then_up(void)
{
    h_pg_t pg;
    REQUIRE(h_pg_start(&pg) == 0);
    REQUIRE(h_pg_down(&pg) == 0);

    mentis_db_t *db = open_kb(&pg, 2, 0);
    REQUIRE(db != NULL); /* opening does not need the server */
    mentis_db_conn_t *c;
    int64_t t0 = now_ms();
    CHECK_INT(mentis_db_acquire(db, t0 + 2000, &c), MENTIS_ERR_UNAVAILABLE);
    CHECK(now_ms() - t0 < 2100);
    CHECK_MSG(strstr(mentis_err_msg(), "postgresql") != NULL, "%s", mentis_err_msg());
    CHECK_INT(mentis_db_ping(db, now_ms() + 500), MENTIS_ERR_UNAVAILABLE);
    mentis_db_stats_t s;
    mentis_db_stats(db, &s);
    CHECK(s.connect_failures >= 2);
    CHECK_INT(s.in_use, 0); /* a failed connect gives its slot back */

    REQUIRE(h_pg_up(&pg) == 0);
    CHECK_INT(mentis_db_ping(db, now_ms() + 2000), MENTIS_OK);
    CHECK_INT(run(db, "SELECT 1"), MENTIS_OK);
    mentis_db_close(db);
    h_pg_stop(&pg);
}

/* A peer that accepts TCP connections and never answers: only the deadline ends the wait. */
static void test_connect_bounded_by_deadline(void)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    REQUIRE(fd >= 0);
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t len = sizeof sa;
    REQUIRE(bind(fd, (struct sockaddr *)&sa, sizeof sa) == 0);
    REQUIRE(listen(fd, 8) == 0);
    REQUIRE(getsockname(fd, (struct sockaddr *)&sa, &len) == 0);
    char url[128];
    snprintf(url, sizeof url, "postgresql://u:p@127.0.0.1:%d/db?sslmode=disable",
             ntohs(sa.sin_port));
    mentis_db_options_t opts = {.url = url, .connect_timeout_ms = 10000};
    mentis_db_t *db = NULL;
    REQUIRE(mentis_db_open(&opts, &db) == MENTIS_OK);
    mentis_db_conn_t *c;
    int64_t t0 = now_ms();
    CHECK_INT(mentis_db_acquire(db, t0 + 300, &c), MENTIS_ERR_UNAVAILABLE);
    int64_t waited = now_ms() - t0;
    CHECK_MSG(waited >= 250 && waited < 800, "waited %lld ms", (long long)waited);

    /* And connect_timeout_ms bounds it when the deadline is further away. */
    mentis_db_close(db);
    opts.connect_timeout_ms = 300;
    REQUIRE(mentis_db_open(&opts, &db) == MENTIS_OK);
    t0 = now_ms();
    CHECK_INT(mentis_db_acquire(db, t0 + 10000, &c), MENTIS_ERR_UNAVAILABLE);
    waited = now_ms() - t0;
    CHECK_MSG(waited >= 250 && waited < 800, "waited %lld ms", (long long)waited);
    mentis_db_close(db);
    close(fd);

    /* Bad options fail at open, naming the problem. */
    mentis_db_options_t bad = {.url = "postgresql://host:notaport:5/x?nosuchoption=1"};
    db = NULL;
    CHECK_INT(mentis_db_open(&bad, &db), MENTIS_ERR_INVALID_ARGUMENT);
    CHECK(db == NULL);
    mentis_db_options_t none = {0};
    CHECK_INT(mentis_db_open(&none, &db), MENTIS_ERR_INVALID_ARGUMENT);
    mentis_db_close(NULL);
}

struct sleeper {
    mentis_db_t *db;
    mentis_status_t st;
    atomic_int started;
};

static void *sleep_query(void *arg)
{
    struct sleeper *s = arg;
    mentis_db_conn_t *c;
    s->st = mentis_db_acquire(s->db, now_ms() + 3000, &c);
    if (s->st != MENTIS_OK)
        return NULL;
    atomic_store(&s->started, 1);
    s->st = mentis_db_exec(c, "SELECT pg_sleep(20)", 0, NULL, NULL);
    mentis_db_release(s->db, c);
    return NULL;
}

static void test_restart_mid_run(void)
{
    h_pg_t pg;
    REQUIRE(h_pg_start(&pg) == 0);
    mentis_db_t *db = open_kb(&pg, 4, 0);
    REQUIRE(db != NULL);
    REQUIRE(run(db, "CREATE SCHEMA r") == MENTIS_OK);
    REQUIRE(run(db, "CREATE TABLE r.hits (n int)") == MENTIS_OK);

    /* Open every connection of the pool, so each one is stale after the restart. */
    mentis_db_conn_t *held[4];
    for (int i = 0; i < 4; i++)
        REQUIRE(mentis_db_acquire(db, now_ms() + 3000, &held[i]) == MENTIS_OK);
    for (int i = 0; i < 4; i++)
        mentis_db_release(db, held[i]);

    /* One query is in flight when the server goes down. */
    struct sleeper s = {.db = db};
    pthread_t t;
    REQUIRE(pthread_create(&t, NULL, sleep_query, &s) == 0);
    while (!atomic_load(&s.started))
        h_sleep_ms(5);
    h_sleep_ms(100);
    int64_t t0 = now_ms();
    REQUIRE(h_pg_restart(&pg) == 0);
    pthread_join(t, NULL);
    CHECK_MSG(s.st == MENTIS_ERR_UNAVAILABLE, "in-flight query: %s", mentis_status_str(s.st));
    CHECK(now_ms() - t0 < 15000);

    /*
     * After the restart, with no action from anyone: every query succeeds, on each of the
     * pool's connections in turn, and at once with all of them in use.
     */
    for (int i = 0; i < 8; i++) {
        mentis_status_t st = run(db, "INSERT INTO r.hits VALUES (1)");
        CHECK_MSG(st == MENTIS_OK, "query %d after restart: %s: %s", i, mentis_status_str(st),
                  mentis_err_msg());
    }
    for (int i = 0; i < 4; i++)
        CHECK_INT(mentis_db_acquire(db, now_ms() + 3000, &held[i]), MENTIS_OK);
    for (int i = 0; i < 4; i++) {
        CHECK_INT(mentis_db_exec(held[i], "SELECT 1", 0, NULL, NULL), MENTIS_OK);
        mentis_db_release(db, held[i]);
    }
    char out[32];
    CHECK_INT(h_pg_query(&pg, "SELECT count(*) FROM r.hits", out, sizeof out), 0);
    CHECK_STR(out, "8");
    mentis_db_stats_t st;
    mentis_db_stats(db, &st);
    CHECK(st.resets >= 4);
    CHECK_INT(st.in_use, 0);

    /*
     * A restart while a connection sits idle in a holder's hands: its next query fails
     * "unavailable" (never "internal"), and the one after that works.
     */
    mentis_db_conn_t *c;
    REQUIRE(mentis_db_acquire(db, now_ms() + 3000, &c) == MENTIS_OK);
    REQUIRE(h_pg_restart(&pg) == 0);
    mentis_status_t first = mentis_db_exec(c, "SELECT 1", 0, NULL, NULL);
    CHECK_MSG(first == MENTIS_ERR_UNAVAILABLE, "%s: %s", mentis_status_str(first),
              mentis_err_msg());
    mentis_db_release(db, c);
    CHECK_INT(run(db, "SELECT 1"), MENTIS_OK);
    CHECK_INT(mentis_db_ping(db, now_ms() + 2000), MENTIS_OK);
    mentis_db_close(db);
    h_pg_stop(&pg);
}

TEST_MAIN(test_exec_and_error_translation, test_prepared_statements, test_statement_timeout, test_acquire_deadline,
          test_concurrent_use, test_down_at_open_then_up, test_connect_bounded_by_deadline,
          test_restart_mid_run)
