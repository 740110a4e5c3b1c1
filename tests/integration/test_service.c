/*
 * The service runtime, through a real service process (sample_service.c) on a real
 * nats-server and PostgreSQL: load shedding, errors, tenant transactions, the service API,
 * metrics, database restarts and SIGTERM draining.
 */
#include <cjson/cJSON.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "check.h"
#include "harness.h"
#include "mentis/bus.h"
#include "mentis/v1/common.pb-c.h"

static h_nats_t nats;
static h_pg_t pg;
static char dir[H_PATH_SIZE];

static const char *const tenant_a = "0190a000-0000-7000-8000-00000000000a";
static const char *const tenant_b = "0190a000-0000-7000-8000-00000000000b";

static const char *sample_path(void)
{
    static char path[512];
    snprintf(path, sizeof path, "%s/tests/integration/sample_service", getenv("MENTIS_BUILD_DIR"));
    return path;
}

static mentis_bus_t *bus_open(void)
{
    mentis_bus_options_t o = {.url = nats.url, .name = "test"};
    mentis_bus_t *bus = NULL;
    if (mentis_bus_connect(&o, &bus) != MENTIS_OK || mentis_bus_wait_connected(bus, 5000) != MENTIS_OK)
        return NULL;
    return bus;
}

/* Starts the sample service; returns its pid and admin port. */
static pid_t start_sample(bool db, const char *extra, int *admin_port)
{
    static char env_nats[128], env_admin[64], env_db[512], env_mig[512], env_extra[128];
    int port = h_free_port();
    snprintf(env_nats, sizeof env_nats, "MENTIS_NATS_URL=%s", nats.url);
    snprintf(env_admin, sizeof env_admin, "MENTIS_ADMIN_PORT=%d", port);
    snprintf(env_extra, sizeof env_extra, "%s", extra ? extra : "MENTIS_LOG_SAMPLE=1");
    char url[400];
    h_pg_url(&pg, "kb", url, sizeof url);
    snprintf(env_db, sizeof env_db, "MENTIS_DATABASE_URL=%s", url);
    snprintf(env_mig, sizeof env_mig, "MENTIS_MIGRATIONS_DIR=%s/migrations", dir);
    const char *env_db_on[] = {env_nats, env_admin, env_db, env_mig, "MENTIS_WORKERS=1",
                               "MENTIS_MAILBOX_SIZE=2", env_extra, NULL};
    const char *env_db_off[] = {env_nats, env_admin, "TEST_NO_DB=1", "MENTIS_WORKERS=1",
                                "MENTIS_MAILBOX_SIZE=2", env_extra, NULL};
    char log[512];
    snprintf(log, sizeof log, "%s/sample-%s.log", dir, db ? "db" : "nodb");
    const char *argv[] = {sample_path(), NULL};
    pid_t pid = h_spawn(argv, db ? env_db_on : env_db_off, log);
    if (pid > 0 && h_wait_http(port, "/readyz", 200, 15000) != 0)
        return -1;
    *admin_port = port;
    return pid;
}

static void setup(void)
{
    static bool done;
    if (done)
        return;
    done = true;
    if (h_nats_start(&nats) != 0 || h_pg_start(&pg) != 0 || h_tmpdir("svc", dir, sizeof dir) != 0)
        abort();
    char mig[H_PATH_SIZE + 16];
    snprintf(mig, sizeof mig, "%s/migrations", dir);
    if (mkdir(mig, 0755) != 0)
        abort();
    h_write_file(mig, "0001_notes.sql",
                 "CREATE TABLE notes (id bigserial PRIMARY KEY, tenant_id uuid NOT NULL,\n"
                 "  body text NOT NULL CHECK (char_length(body) <= 20));\n"
                 "ALTER TABLE notes ENABLE ROW LEVEL SECURITY;\n"
                 "ALTER TABLE notes FORCE ROW LEVEL SECURITY;\n"
                 "CREATE POLICY tenant ON notes USING (tenant_id = nullif(current_setting('mentis.tenant_id', true), '')::uuid);\n");
}

static Mentis__V1__HealthResponse *call(mentis_bus_t *bus, const char *op, const mentis_header_t *h,
                                        size_t nh, mentis_status_t *st, const char **code,
                                        mentis_msg_t **keep)
{
    char subject[128];
    snprintf(subject, sizeof subject, "mentis.v1.%s", op);
    mentis_msg_t *reply = NULL;
    *st = mentis_bus_request_sync(bus, subject, h, nh, NULL, 0, 5000, &reply);
    if (*st != MENTIS_OK)
        return NULL;
    *keep = reply;
    const char *message = NULL;
    *st = mentis_msg_error(reply, code, &message);
    if (*st != MENTIS_OK) {
        fprintf(stderr, "  %s: %s (%s)\n", subject, *code, message ? message : "");
        return NULL;
    }
    return mentis__v1__health_response__unpack(NULL, mentis_msg_len(reply), mentis_msg_data(reply));
}

/* ---- without a database ---- */

static atomic_int ok_count, shed_count, other_count;
static atomic_llong last_shed_ms;
static void count_reply(void *arg, mentis_status_t st, mentis_msg_t *reply)
{
    (void)arg;
    if (st == MENTIS_OK && mentis_msg_error(reply, NULL, NULL) == MENTIS_OK)
        atomic_fetch_add(&ok_count, 1);
    else if (st == MENTIS_OK && mentis_msg_error(reply, NULL, NULL) == MENTIS_ERR_UNAVAILABLE) {
        atomic_fetch_add(&shed_count, 1);
        atomic_store(&last_shed_ms, h_now_ms());
    } else
        atomic_fetch_add(&other_count, 1);
    mentis_msg_destroy(reply);
}

static void test_errors_shedding_srv_api_metrics_and_drain(void)
{
    setup();
    int admin = 0;
    pid_t pid = start_sample(false, NULL, &admin);
    REQUIRE(pid > 0);
    mentis_bus_t *bus = bus_open();
    REQUIRE(bus != NULL);

    /* A plain call carries the tenant header through. */
    mentis_status_t st;
    const char *code = NULL;
    mentis_msg_t *keep = NULL;
    mentis_header_t h[] = {{MENTIS_HDR_TENANT, tenant_a}};
    Mentis__V1__HealthResponse *r = call(bus, "sample.sleep", h, 1, &st, &code, &keep);
    REQUIRE(r != NULL);
    CHECK_STR(r->service, tenant_a);
    mentis__v1__health_response__free_unpacked(r, NULL);
    mentis_msg_destroy(keep);

    /* A validation error: status, machine code, and the field problems in the body. */
    r = call(bus, "sample.fail", NULL, 0, &st, &code, &keep);
    CHECK(r == NULL);
    CHECK_INT(st, MENTIS_ERR_INVALID_ARGUMENT);
    CHECK_STR(code, "validation_failed");
    CHECK_STR(mentis_msg_header(keep, MENTIS_HDR_SVC_ERROR_CODE), "400");
    CHECK_STR(mentis_msg_header(keep, MENTIS_HDR_SVC_ERROR), "2 fields are invalid");
    Mentis__V1__ErrorDetail *d = mentis__v1__error_detail__unpack(NULL, mentis_msg_len(keep), mentis_msg_data(keep));
    REQUIRE(d != NULL);
    REQUIRE(d->n_errors == 2);
    CHECK_STR(d->errors[0]->field, "email");
    CHECK_STR(d->errors[1]->message, "must be 8 to 128 characters");
    mentis__v1__error_detail__free_unpacked(d, NULL);
    mentis_msg_destroy(keep);

    /* Bytes that are not the request message: 400, not a crash. */
    mentis_msg_t *reply = NULL;
    REQUIRE(mentis_bus_request_sync(bus, "mentis.v1.sample.sleep", NULL, 0, "\xff\xff\xff", 3, 5000, &reply) == MENTIS_OK);
    CHECK_INT(mentis_msg_error(reply, &code, NULL), MENTIS_ERR_INVALID_ARGUMENT);
    mentis_msg_destroy(reply);

    /* One worker with a mailbox of two: of ten slow requests, at most three are taken (one
     * running, two waiting; two when the worker has not picked up the first yet) and the
     * rest are refused at once with `unavailable`. */
    mentis_header_t slow[] = {{"Test-Sleep-Ms", "300"}};
    long long t0 = h_now_ms();
    for (int i = 0; i < 10; i++)
        REQUIRE(mentis_bus_request(bus, "mentis.v1.sample.sleep", slow, 1, NULL, 0, h_now_ms() + 5000,
                                   NULL, count_reply, NULL, NULL) == MENTIS_OK);
    for (int i = 0; i < 300 && atomic_load(&ok_count) + atomic_load(&shed_count) < 10; i++)
        h_sleep_ms(10);
    int served = atomic_load(&ok_count), shed = atomic_load(&shed_count);
    CHECK_MSG(served == 2 || served == 3, "%d served", served);
    CHECK_INT(served + shed, 10);
    CHECK_INT(atomic_load(&other_count), 0);
    CHECK_MSG(atomic_load(&last_shed_ms) - t0 < 250, "shedding took %lld ms", atomic_load(&last_shed_ms) - t0);

    /* The service API reports those calls. */
    REQUIRE(mentis_bus_request_sync(bus, "$SRV.PING.sample", NULL, 0, NULL, 0, 2000, &reply) == MENTIS_OK);
    cJSON *ping = cJSON_ParseWithLength(mentis_msg_data(reply), mentis_msg_len(reply));
    REQUIRE(ping != NULL);
    CHECK_STR(cJSON_GetObjectItem(ping, "type")->valuestring, "io.nats.micro.v1.ping_response");
    CHECK_STR(cJSON_GetObjectItem(ping, "name")->valuestring, "sample");
    cJSON_Delete(ping);
    mentis_msg_destroy(reply);
    REQUIRE(mentis_bus_request_sync(bus, "$SRV.INFO.sample", NULL, 0, NULL, 0, 2000, &reply) == MENTIS_OK);
    cJSON *info = cJSON_ParseWithLength(mentis_msg_data(reply), mentis_msg_len(reply));
    REQUIRE(info != NULL);
    CHECK_INT(cJSON_GetArraySize(cJSON_GetObjectItem(info, "endpoints")), 3); /* sleep, fail, health */
    cJSON_Delete(info);
    mentis_msg_destroy(reply);
    REQUIRE(mentis_bus_request_sync(bus, "$SRV.STATS.sample", NULL, 0, NULL, 0, 2000, &reply) == MENTIS_OK);
    cJSON *stats = cJSON_ParseWithLength(mentis_msg_data(reply), mentis_msg_len(reply));
    REQUIRE(stats != NULL);
    cJSON *ep = NULL, *sleep_ep = NULL;
    cJSON_ArrayForEach(ep, cJSON_GetObjectItem(stats, "endpoints"))
        if (strcmp(cJSON_GetObjectItem(ep, "name")->valuestring, "sleep") == 0)
            sleep_ep = ep;
    REQUIRE(sleep_ep != NULL);
    CHECK_INT(cJSON_GetObjectItem(sleep_ep, "num_requests")->valuedouble, 12); /* 1 + 1 malformed + 10 */
    CHECK_INT(cJSON_GetObjectItem(sleep_ep, "num_errors")->valuedouble, 1 + shed); /* malformed + shed */
    CHECK(cJSON_GetObjectItem(sleep_ep, "processing_time")->valuedouble >= served * 300e6);
    cJSON *p99 = cJSON_GetObjectItem(cJSON_GetObjectItem(cJSON_GetObjectItem(sleep_ep, "data"), "latency_seconds"), "p99");
    CHECK(p99 != NULL && p99->valuedouble >= 0.25);
    cJSON_Delete(stats);
    mentis_msg_destroy(reply);

    /* /metrics agrees. */
    static char body[65536];
    int status = 0;
    REQUIRE(h_http_get(admin, "/metrics", &status, body, sizeof body, 2000) == 0);
    CHECK_INT(status, 200);
    CHECK(strstr(body, "mentis_rpc_requests_total{op=\"sleep\"} 12\n") != NULL);
    char line[64];
    snprintf(line, sizeof line, "mentis_rpc_shed_total %d\n", shed);
    CHECK(strstr(body, line) != NULL);
    CHECK(strstr(body, "mentis_rpc_duration_seconds_count{op=\"sleep\"} 12\n") != NULL);

    /* SIGTERM while two slow requests are in hand: both are answered, then it exits 0. */
    atomic_store(&ok_count, 0);
    atomic_store(&shed_count, 0);
    mentis_header_t slower[] = {{"Test-Sleep-Ms", "400"}};
    for (int i = 0; i < 2; i++)
        REQUIRE(mentis_bus_request(bus, "mentis.v1.sample.sleep", slower, 1, NULL, 0, h_now_ms() + 5000,
                                   NULL, count_reply, NULL, NULL) == MENTIS_OK);
    h_sleep_ms(100);
    h_kill(pid, SIGTERM);
    h_sleep_ms(100);
    CHECK_INT(h_http_get(admin, "/readyz", &status, NULL, 0, 1000), 0);
    CHECK_INT(status, 503); /* draining: not ready any more */
    /* New work is no longer taken. */
    CHECK_INT(mentis_bus_request_sync(bus, "mentis.v1.sample.sleep", NULL, 0, NULL, 0, 1000, &reply),
              MENTIS_ERR_UNAVAILABLE);
    CHECK_INT(h_wait_exit(pid, 5000), 0);
    CHECK_INT(atomic_load(&ok_count), 2);
    mentis_bus_close(bus);
}

/* ---- with PostgreSQL ---- */

static void test_tenant_transactions_and_db_restart(void)
{
    setup();
    int admin = 0;
    pid_t pid = start_sample(true, NULL, &admin);
    REQUIRE(pid > 0);
    mentis_bus_t *bus = bus_open();
    REQUIRE(bus != NULL);
    mentis_status_t st;
    const char *code = NULL;
    mentis_msg_t *keep = NULL;

    mentis_header_t ha[] = {{MENTIS_HDR_TENANT, tenant_a}, {"Test-Note", "from a"}};
    mentis_header_t hb[] = {{MENTIS_HDR_TENANT, tenant_b}, {"Test-Note", "from b"}};
    for (int i = 0; i < 3; i++) {
        Mentis__V1__HealthResponse *r = call(bus, "kb.note.create", ha, 2, &st, &code, &keep);
        CHECK_INT(st, MENTIS_OK);
        mentis__v1__health_response__free_unpacked(r, NULL);
        mentis_msg_destroy(keep);
    }
    Mentis__V1__HealthResponse *r = call(bus, "kb.note.create", hb, 2, &st, &code, &keep);
    CHECK_INT(st, MENTIS_OK);
    mentis__v1__health_response__free_unpacked(r, NULL);
    mentis_msg_destroy(keep);

    /* Each tenant sees only its own rows, with no WHERE in the query. */
    r = call(bus, "kb.tenant", ha, 1, &st, &code, &keep);
    REQUIRE(r != NULL);
    CHECK_STR(r->service, tenant_a);
    CHECK_INT(r->uptime_seconds, 3);
    mentis__v1__health_response__free_unpacked(r, NULL);
    mentis_msg_destroy(keep);
    r = call(bus, "kb.tenant", hb, 1, &st, &code, &keep);
    REQUIRE(r != NULL);
    CHECK_INT(r->uptime_seconds, 1);
    mentis__v1__health_response__free_unpacked(r, NULL);
    mentis_msg_destroy(keep);

    /* No tenant: refused before any SQL. */
    r = call(bus, "kb.tenant", NULL, 0, &st, &code, &keep);
    CHECK(r == NULL);
    CHECK_INT(st, MENTIS_ERR_UNAUTHENTICATED);
    mentis_msg_destroy(keep);

    /* A handler failing after its write: the write is rolled back. */
    mentis_header_t fail[] = {{MENTIS_HDR_TENANT, tenant_a}, {"Test-Note", "lost"}, {"Test-Fail-After-Write", "1"}};
    r = call(bus, "kb.note.create", fail, 3, &st, &code, &keep);
    CHECK_INT(st, MENTIS_ERR_CONFLICT);
    mentis_msg_destroy(keep);
    /* A constraint violation (a note over 20 characters) is a clear 400, not a 500. */
    mentis_header_t empty[] = {{MENTIS_HDR_TENANT, tenant_a}, {"Test-Note", "far too long for the note column"}};
    r = call(bus, "kb.note.create", empty, 2, &st, &code, &keep);
    CHECK_INT(st, MENTIS_ERR_INVALID_ARGUMENT);
    mentis_msg_destroy(keep);
    char count[32];
    REQUIRE(h_pg_query(&pg, "SELECT count(*) FROM kb.notes", count, sizeof count) == 0);
    CHECK_STR(count, "4");

    /* Health: ok, degraded while PostgreSQL is down, ok again after it is back. */
    r = call(bus, "kb.health", NULL, 0, &st, &code, &keep);
    REQUIRE(r != NULL);
    CHECK_INT(r->status, MENTIS__V1__SERVING_STATUS__SERVING_STATUS_OK);
    CHECK_STR(r->service, "kb");
    mentis__v1__health_response__free_unpacked(r, NULL);
    mentis_msg_destroy(keep);
    REQUIRE(h_pg_down(&pg) == 0);
    r = call(bus, "kb.health", NULL, 0, &st, &code, &keep);
    REQUIRE(r != NULL);
    CHECK_INT(r->status, MENTIS__V1__SERVING_STATUS__SERVING_STATUS_DEGRADED);
    mentis__v1__health_response__free_unpacked(r, NULL);
    mentis_msg_destroy(keep);
    /* A request needing the database answers `unavailable` rather than hanging. */
    long long t0 = h_now_ms();
    r = call(bus, "kb.tenant", ha, 1, &st, &code, &keep);
    CHECK_INT(st, MENTIS_ERR_UNAVAILABLE);
    CHECK_MSG(h_now_ms() - t0 < 4000, "took %lld ms", h_now_ms() - t0);
    mentis_msg_destroy(keep);
    REQUIRE(h_pg_up(&pg) == 0);
    bool back = false;
    for (int i = 0; i < 50 && !back; i++) {
        r = call(bus, "kb.tenant", ha, 1, &st, &code, &keep);
        back = r != NULL && r->uptime_seconds == 3;
        mentis__v1__health_response__free_unpacked(r, NULL);
        mentis_msg_destroy(keep);
        keep = NULL;
        if (!back)
            h_sleep_ms(100);
    }
    CHECK_MSG(back, "the service did not recover after PostgreSQL came back");

    h_kill(pid, SIGTERM);
    CHECK_INT(h_wait_exit(pid, 5000), 0);
    mentis_bus_close(bus);
}

static void test_broken_migration_refuses_to_start(void)
{
    setup();
    char bad[H_PATH_SIZE];
    REQUIRE(h_tmpdir("badmig", bad, sizeof bad) == 0);
    char logdir[H_PATH_SIZE];
    REQUIRE(h_tmpdir("badmig-log", logdir, sizeof logdir) == 0);
    h_write_file(bad, "0001_ok.sql", "CREATE TABLE fine (id int);\n");
    h_write_file(bad, "0002_broken.sql", "CREATE TABLE half (id int);\nSELECT no_such_function();\n");
    char url[400], env_db[512], env_mig[512], env_nats[128], log[600];
    h_pg_url(&pg, "curriculum", url, sizeof url);
    snprintf(env_db, sizeof env_db, "MENTIS_DATABASE_URL=%s", url);
    snprintf(env_mig, sizeof env_mig, "MENTIS_MIGRATIONS_DIR=%s", bad);
    snprintf(env_nats, sizeof env_nats, "MENTIS_NATS_URL=%s", nats.url);
    snprintf(log, sizeof log, "%s/broken.log", logdir);
    /* The curriculum role, so this schema is separate from the other tests'. */
    char path[600];
    snprintf(path, sizeof path, "%s/services/curriculum/mentis-curriculum", getenv("MENTIS_BUILD_DIR"));
    const char *argv[] = {path, NULL};
    const char *env[] = {env_db, env_mig, env_nats, "MENTIS_ADMIN_PORT=0", NULL};
    pid_t pid = h_spawn(argv, env, log);
    REQUIRE(pid > 0);
    CHECK_INT(h_wait_exit(pid, 15000), 1);
    FILE *f = fopen(log, "r");
    REQUIRE(f != NULL);
    static char text[16384];
    size_t n = fread(text, 1, sizeof text - 1, f);
    text[n] = '\0';
    fclose(f);
    CHECK_MSG(strstr(text, "0002_broken.sql") != NULL, "log does not name the file:\n%s", text);
    char out[64];
    REQUIRE(h_pg_query(&pg, "SELECT coalesce(max(version), 0) FROM curriculum.schema_migrations", out, sizeof out) == 0);
    CHECK_STR(out, "1");
    REQUIRE(h_pg_query(&pg, "SELECT count(*) FROM pg_tables WHERE schemaname = 'curriculum' AND tablename = 'half'", out, sizeof out) == 0);
    CHECK_STR(out, "0");
}

TEST_MAIN(test_errors_shedding_srv_api_metrics_and_drain, test_tenant_transactions_and_db_restart,
          test_broken_migration_refuses_to_start)
