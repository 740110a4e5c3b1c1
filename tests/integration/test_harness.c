/* The harness itself: servers start, answer, restart and stop; processes and HTTP work. */
#include <libpq-fe.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "check.h"
#include "harness.h"

static void test_spawn_wait_env_log(void)
{
    char dir[H_PATH_SIZE], log[H_PATH_SIZE + 16];
    REQUIRE(h_tmpdir("mentis-harness-test", dir, sizeof dir) == 0);
    snprintf(log, sizeof log, "%s/out.log", dir);

    const char *const exit3[] = {"sh", "-c", "echo hello; exit 3", NULL};
    pid_t pid = h_spawn(exit3, NULL, log);
    REQUIRE(pid > 0);
    CHECK_INT(h_wait_exit(pid, 5000), 3);
    FILE *f = fopen(log, "r");
    REQUIRE(f != NULL);
    char line[64] = "";
    CHECK(fgets(line, sizeof line, f) != NULL);
    fclose(f);
    CHECK_STR(line, "hello\n");

    /* Extra variables are seen, and override the inherited ones. */
    setenv("MENTIS_HARNESS_PROBE", "inherited", 1);
    const char *const env[] = {"MENTIS_HARNESS_PROBE=given", "OTHER=x", NULL};
    const char *const probe[] = {"sh", "-c", "test \"$MENTIS_HARNESS_PROBE$OTHER\" = givenx", NULL};
    pid = h_spawn(probe, env, NULL);
    REQUIRE(pid > 0);
    CHECK_INT(h_wait_exit(pid, 5000), 0);

    /* A process that does not end in time: -1, then a signal ends it. */
    const char *const sleeper[] = {"sleep", "30", NULL};
    pid = h_spawn(sleeper, NULL, NULL);
    REQUIRE(pid > 0);
    CHECK_INT(h_wait_exit(pid, 100), -1);
    CHECK_INT(h_kill(pid, SIGTERM), 0);
    CHECK_INT(h_wait_exit(pid, 5000), 128 + SIGTERM);

    int port = h_free_port();
    CHECK(port > 1024 && port < 65536);
    /* Nothing listens there: the client fails within its timeout rather than hanging. */
    long long t0 = h_now_ms();
    int status = 0;
    CHECK_INT(h_http_get(port, "/", &status, NULL, 0, 500), -1);
    CHECK(h_now_ms() - t0 < 2000);
}

static void test_nats_start_restart_stop(void)
{
    h_nats_t n = {0};
    REQUIRE(h_nats_start(&n) == 0);
    CHECK(n.port > 0);
    char want[64];
    snprintf(want, sizeof want, "nats://127.0.0.1:%d", n.port);
    CHECK_STR(n.url, want);
    CHECK_INT(h_wait_http(n.monitor_port, "/healthz", 200, 5000), 0);
    char body[4096];
    int status = 0;
    CHECK_INT(h_http_get(n.monitor_port, "/varz", &status, body, sizeof body, 2000), 0);
    CHECK_INT(status, 200);
    CHECK(strstr(body, "\"jetstream\"") != NULL);

    int port = n.port;
    CHECK_INT(h_nats_kill(&n), 0);
    CHECK_INT(h_http_get(n.monitor_port, "/healthz", &status, NULL, 0, 300), -1);
    CHECK_INT(h_nats_restart(&n), 0);
    CHECK_INT(n.port, port);
    CHECK_INT(h_wait_http(n.monitor_port, "/healthz", 200, 5000), 0);
    CHECK_INT(h_nats_restart(&n), 0); /* a graceful one too */
    CHECK_INT(h_wait_http(n.monitor_port, "/healthz", 200, 5000), 0);

    char dir[H_PATH_SIZE];
    snprintf(dir, sizeof dir, "%s", n.dir);
    CHECK_INT(h_nats_stop(&n), 0);
    CHECK(access(dir, F_OK) != 0);
    CHECK_INT(h_nats_stop(&n), 0); /* twice is harmless */
}

static void test_pg_start_roles_restart_stop(void)
{
    h_pg_t pg;
    REQUIRE(h_pg_start(&pg) == 0);
    char out[128];
    CHECK_INT(h_pg_query(&pg, "SELECT current_database()", out, sizeof out), 0);
    CHECK_STR(out, "mentis");
    CHECK_INT(h_pg_query(&pg, "SHOW fsync", out, sizeof out), 0);
    CHECK_STR(out, "off");
    CHECK_INT(h_pg_query(&pg, "SELECT count(*) FROM pg_roles WHERE rolname LIKE 'mentis\\_%'", out,
                         sizeof out),
              0);
    CHECK_STR(out, "5");

    /* Each service role logs in over TCP with its generated password, and only with it. */
    char url[512];
    REQUIRE(h_pg_url(&pg, "kb", url, sizeof url) == 0);
    PGconn *c = PQconnectdb(url);
    CHECK_MSG(PQstatus(c) == CONNECTION_OK, "%s", PQerrorMessage(c));
    CHECK_STR(PQuser(c), "mentis_kb");
    PQfinish(c);
    char bad[512];
    snprintf(bad, sizeof bad, "postgresql://mentis_kb:wrong@127.0.0.1:%d/mentis", pg.port);
    c = PQconnectdb(bad);
    CHECK(PQstatus(c) == CONNECTION_BAD);
    PQfinish(c);
    CHECK_INT(h_pg_url(&pg, "nosuch", url, sizeof url), -1);

    /* Data survives a restart on the same port. */
    CHECK_INT(h_pg_exec(&pg, "CREATE TABLE survives (x int); INSERT INTO survives VALUES (7)"), 0);
    int port = pg.port;
    CHECK_INT(h_pg_restart(&pg), 0);
    CHECK_INT(pg.port, port);
    CHECK_INT(h_pg_query(&pg, "SELECT x FROM survives", out, sizeof out), 0);
    CHECK_STR(out, "7");
    CHECK_INT(h_pg_exec(&pg, "SELECT * FROM no_such_table"), -1);

    char dir[H_PATH_SIZE];
    snprintf(dir, sizeof dir, "%s", pg.dir);
    CHECK_INT(h_pg_stop(&pg), 0);
    CHECK(access(dir, F_OK) != 0);
}

/* Two clusters at once, as parallel tests have: separate ports, separate data. */
static void test_pg_two_clusters(void)
{
    h_pg_t a, b;
    REQUIRE(h_pg_start(&a) == 0);
    REQUIRE(h_pg_start(&b) == 0);
    CHECK(a.port != b.port);
    CHECK_INT(h_pg_exec(&a, "CREATE TABLE only_in_a (x int)"), 0);
    CHECK_INT(h_pg_exec(&b, "SELECT * FROM only_in_a"), -1);
    h_pg_stop(&a);
    /* b is left running on purpose: the exit handler must stop it. */
}

TEST_MAIN(test_spawn_wait_env_log, test_nats_start_restart_stop, test_pg_start_roles_restart_stop,
          test_pg_two_clusters)
