/* mentis_db_migrate against a real PostgreSQL, as role mentis_kb. */
#include <pthread.h>
#include <stdio.h>
#include <string.h>

#include "check.h"
#include "harness.h"
#include "mentis/db.h"

static mentis_db_t *open_kb(const h_pg_t *pg)
{
    char url[512];
    if (h_pg_url(pg, "kb", url, sizeof url) != 0)
        return NULL;
    mentis_db_options_t opts = {.url = url, .size = 2, .statement_timeout_ms = 1000};
    mentis_db_t *db = NULL;
    return mentis_db_open(&opts, &db) == MENTIS_OK ? db : NULL;
}

static const char *query(const h_pg_t *pg, const char *sql)
{
    static char out[512];
    if (h_pg_query(pg, sql, out, sizeof out) != 0)
        snprintf(out, sizeof out, "(error)");
    return out;
}

static void test_apply_rerun_fail_checksum(void)
{
    h_pg_t pg;
    REQUIRE(h_pg_start(&pg) == 0);
    mentis_db_t *db = open_kb(&pg);
    REQUIRE(db != NULL);
    char dir[H_PATH_SIZE];
    REQUIRE(h_tmpdir("mentis-migrations", dir, sizeof dir) == 0);
    REQUIRE(h_write_file(dir, "0001_create_pack.sql",
                         "CREATE TABLE pack (id int PRIMARY KEY, title text NOT NULL);\n") == 0);
    REQUIRE(h_write_file(dir, "0002_seed.sql",
                         "ALTER TABLE pack ADD COLUMN lang text;\n"
                         "INSERT INTO pack VALUES (1, 'first', 'en');\n") == 0);
    REQUIRE(h_write_file(dir, "README.md", "not a migration\n") == 0); /* ignored */

    /* Applied in order, into the schema (search_path), owned by the service's role. */
    int version = -1;
    mentis_status_t st = mentis_db_migrate(db, "kb", dir, &version);
    CHECK_MSG(st == MENTIS_OK, "%s", mentis_err_msg());
    CHECK_INT(version, 2);
    CHECK_STR(query(&pg, "SELECT string_agg(version || ':' || name, ',' ORDER BY version) "
                         "FROM kb.schema_migrations"),
              "1:0001_create_pack.sql,2:0002_seed.sql");
    CHECK_STR(query(&pg, "SELECT title || '/' || lang FROM kb.pack"), "first/en");
    CHECK_STR(query(&pg, "SELECT tableowner FROM pg_tables WHERE schemaname = 'kb' AND "
                         "tablename = 'pack'"),
              "mentis_kb");
    CHECK_STR(query(&pg, "SELECT to_regclass('public.pack') IS NULL"), "t");
    CHECK_STR(query(&pg, "SELECT length(checksum) FROM kb.schema_migrations WHERE version = 1"),
              "64");

    /* Again: nothing to do. */
    version = -1;
    CHECK_INT(mentis_db_migrate(db, "kb", dir, &version), MENTIS_OK);
    CHECK_INT(version, 2);
    CHECK_STR(query(&pg, "SELECT count(*) FROM kb.schema_migrations"), "2");
    CHECK_STR(query(&pg, "SELECT count(*) FROM kb.pack"), "1");

    /* A failing file: rolled back whole, not recorded, the run stops, the error says where. */
    REQUIRE(h_write_file(dir, "0003_broken.sql",
                         "CREATE TABLE half_done (x int);\n"
                         "INSERT INTO pack VALUES (2, 'second', 'fr');\n"
                         "INSERT INTO no_such_table VALUES (1);\n") == 0);
    REQUIRE(h_write_file(dir, "0004_after.sql", "CREATE TABLE after_broken (x int);\n") == 0);
    mentis_err_clear();
    version = -1;
    st = mentis_db_migrate(db, "kb", dir, &version);
    CHECK_INT(st, MENTIS_ERR_INTERNAL);
    CHECK_INT(version, -1);
    const char *msg = mentis_err_msg();
    CHECK_MSG(strstr(msg, "0003_broken.sql") != NULL, "%s", msg);
    CHECK_MSG(strstr(msg, "no_such_table") != NULL, "%s", msg);
    CHECK_MSG(strstr(msg, "line 3") != NULL, "%s", msg);
    CHECK_MSG(strstr(msg, "42P01") != NULL, "%s", msg);
    CHECK_STR(query(&pg, "SELECT to_regclass('kb.half_done') IS NULL"), "t");
    CHECK_STR(query(&pg, "SELECT to_regclass('kb.after_broken') IS NULL"), "t");
    CHECK_STR(query(&pg, "SELECT count(*) FROM kb.pack"), "1");
    CHECK_STR(query(&pg, "SELECT max(version) FROM kb.schema_migrations"), "2");
    CHECK_STR(query(&pg, "SELECT to_regclass('kb.pack') IS NOT NULL"), "t");

    /* Fixed before it was ever applied: fine, and the rest follows. */
    REQUIRE(h_write_file(dir, "0003_broken.sql", "CREATE TABLE half_done (x int);\n") == 0);
    version = -1;
    st = mentis_db_migrate(db, "kb", dir, &version);
    CHECK_MSG(st == MENTIS_OK, "%s", mentis_err_msg());
    CHECK_INT(version, 4);
    CHECK_STR(query(&pg, "SELECT to_regclass('kb.after_broken') IS NOT NULL"), "t");

    /* Editing an applied file is refused, and nothing newer is applied meanwhile. */
    REQUIRE(h_write_file(dir, "0002_seed.sql",
                         "ALTER TABLE pack ADD COLUMN lang text;\n"
                         "INSERT INTO pack VALUES (1, 'first (edited)', 'en');\n") == 0);
    REQUIRE(h_write_file(dir, "0005_new.sql", "CREATE TABLE newer (x int);\n") == 0);
    mentis_err_clear();
    st = mentis_db_migrate(db, "kb", dir, &version);
    CHECK_INT(st, MENTIS_ERR_PRECONDITION_FAILED);
    CHECK_MSG(strstr(mentis_err_msg(), "0002_seed.sql") != NULL, "%s", mentis_err_msg());
    CHECK_STR(query(&pg, "SELECT to_regclass('kb.newer') IS NULL"), "t");
    REQUIRE(h_write_file(dir, "0002_seed.sql",
                         "ALTER TABLE pack ADD COLUMN lang text;\n"
                         "INSERT INTO pack VALUES (1, 'first', 'en');\n") == 0);
    CHECK_INT(mentis_db_migrate(db, "kb", dir, &version), MENTIS_OK);
    CHECK_INT(version, 5);

    /* An older release (fewer files) against this schema: accepted, reports the schema's. */
    char old_dir[H_PATH_SIZE];
    REQUIRE(h_tmpdir("mentis-migrations-old", old_dir, sizeof old_dir) == 0);
    REQUIRE(h_write_file(old_dir, "0001_create_pack.sql",
                         "CREATE TABLE pack (id int PRIMARY KEY, title text NOT NULL);\n") == 0);
    CHECK_INT(mentis_db_migrate(db, "kb", old_dir, &version), MENTIS_OK);
    CHECK_INT(version, 5);

    mentis_db_close(db);
    h_pg_stop(&pg);
}

static void test_refuses_bad_sets(void)
{
    h_pg_t pg;
    REQUIRE(h_pg_start(&pg) == 0);
    mentis_db_t *db = open_kb(&pg);
    REQUIRE(db != NULL);
    int version = -1;

    char gap[H_PATH_SIZE];
    REQUIRE(h_tmpdir("mentis-migrations-gap", gap, sizeof gap) == 0);
    REQUIRE(h_write_file(gap, "0001_a.sql", "CREATE TABLE a (x int);") == 0);
    REQUIRE(h_write_file(gap, "0003_c.sql", "CREATE TABLE c (x int);") == 0);
    CHECK_INT(mentis_db_migrate(db, "gap", gap, &version), MENTIS_ERR_INVALID_ARGUMENT);
    CHECK_MSG(strstr(mentis_err_msg(), "version 2 is missing") != NULL, "%s", mentis_err_msg());
    CHECK_STR(query(&pg, "SELECT count(*) FROM pg_namespace WHERE nspname = 'gap'"), "0");

    char dup[H_PATH_SIZE];
    REQUIRE(h_tmpdir("mentis-migrations-dup", dup, sizeof dup) == 0);
    REQUIRE(h_write_file(dup, "0001_a.sql", "CREATE TABLE a (x int);") == 0);
    REQUIRE(h_write_file(dup, "0002_b.sql", "CREATE TABLE b (x int);") == 0);
    REQUIRE(h_write_file(dup, "002_b_again.sql", "CREATE TABLE b2 (x int);") == 0);
    CHECK_INT(mentis_db_migrate(db, "dup", dup, &version), MENTIS_ERR_INVALID_ARGUMENT);
    CHECK_MSG(strstr(mentis_err_msg(), "version 2 twice") != NULL, "%s", mentis_err_msg());

    char txn[H_PATH_SIZE];
    REQUIRE(h_tmpdir("mentis-migrations-txn", txn, sizeof txn) == 0);
    REQUIRE(h_write_file(txn, "0001_commits.sql", "CREATE TABLE a (x int); COMMIT;") == 0);
    CHECK(mentis_db_migrate(db, "txn", txn, &version) != MENTIS_OK);
    CHECK_MSG(strstr(mentis_err_msg(), "must not contain") != NULL, "%s", mentis_err_msg());
    CHECK_STR(query(&pg, "SELECT count(*) FROM txn.schema_migrations"), "0");

    CHECK_INT(mentis_db_migrate(db, "kb", "/nonexistent/migrations", &version),
              MENTIS_ERR_INVALID_ARGUMENT);
    CHECK_INT(mentis_db_migrate(db, "", gap, &version), MENTIS_ERR_INVALID_ARGUMENT);

    /* An awkward schema name is quoted, not spliced. */
    char odd[H_PATH_SIZE];
    REQUIRE(h_tmpdir("mentis-migrations-odd", odd, sizeof odd) == 0);
    REQUIRE(h_write_file(odd, "0001_t.sql", "CREATE TABLE t (x int);") == 0);
    CHECK_INT(mentis_db_migrate(db, "Odd \"name\"; x", odd, &version), MENTIS_OK);
    CHECK_STR(query(&pg, "SELECT count(*) FROM \"Odd \"\"name\"\"; x\".t"), "0");

    /* PostgreSQL down: unavailable, quickly. */
    REQUIRE(h_pg_down(&pg) == 0);
    long long t0 = h_now_ms();
    CHECK_INT(mentis_db_migrate(db, "kb", odd, &version), MENTIS_ERR_UNAVAILABLE);
    CHECK(h_now_ms() - t0 < 3000);
    mentis_db_close(db);
    h_pg_stop(&pg);
}

struct migrator {
    const h_pg_t *pg;
    const char *dir;
    mentis_status_t st;
    int version;
    char msg[512];
};

static void *migrate_thread(void *arg)
{
    struct migrator *m = arg;
    mentis_db_t *db = open_kb(m->pg);
    if (db == NULL) {
        m->st = MENTIS_ERR_INTERNAL;
        return NULL;
    }
    m->st = mentis_db_migrate(db, "conc", m->dir, &m->version);
    snprintf(m->msg, sizeof m->msg, "%s", mentis_err_msg());
    mentis_db_close(db);
    return NULL;
}

/* Two processes' worth of migrators at once: each file runs exactly once. */
static void test_concurrent_migrators(void)
{
    h_pg_t pg;
    REQUIRE(h_pg_start(&pg) == 0);
    char dir[H_PATH_SIZE];
    REQUIRE(h_tmpdir("mentis-migrations-conc", dir, sizeof dir) == 0);
    /* Every file logs itself and sleeps, so a second runner would overlap if it could. */
    REQUIRE(h_write_file(dir, "0001_log.sql",
                         "CREATE TABLE applied_log (version int, at timestamptz DEFAULT "
                         "clock_timestamp());\n"
                         "INSERT INTO applied_log (version) VALUES (1);\n"
                         "SELECT pg_sleep(0.1);\n") == 0);
    for (int v = 2; v <= 5; v++) {
        char name[32], sql[256];
        snprintf(name, sizeof name, "%04d_step.sql", v);
        snprintf(sql, sizeof sql,
                 "CREATE TABLE step_%d (x int);\n"
                 "INSERT INTO applied_log (version) VALUES (%d);\n"
                 "SELECT pg_sleep(0.1);\n",
                 v, v);
        REQUIRE(h_write_file(dir, name, sql) == 0);
    }
    struct migrator a = {.pg = &pg, .dir = dir}, b = {.pg = &pg, .dir = dir};
    pthread_t ta, tb;
    REQUIRE(pthread_create(&ta, NULL, migrate_thread, &a) == 0);
    REQUIRE(pthread_create(&tb, NULL, migrate_thread, &b) == 0);
    pthread_join(ta, NULL);
    pthread_join(tb, NULL);
    CHECK_MSG(a.st == MENTIS_OK, "%s", a.msg);
    CHECK_MSG(b.st == MENTIS_OK, "%s", b.msg);
    CHECK_INT(a.version, 5);
    CHECK_INT(b.version, 5);
    CHECK_STR(query(&pg, "SELECT string_agg(version::text, ',' ORDER BY version) "
                         "FROM conc.applied_log"),
              "1,2,3,4,5");
    CHECK_STR(query(&pg, "SELECT count(*) FROM conc.schema_migrations"), "5");
    h_pg_stop(&pg);
}

TEST_MAIN(test_apply_rerun_fail_checksum, test_refuses_bad_sets, test_concurrent_migrators)
