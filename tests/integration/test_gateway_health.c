/*
 * GET /api/health with services that answer, degrade, fail, stay silent or die: instance
 * counts from $SRV.PING discovery, the health timeout, a real-runtime service killed with
 * -9, clients that leave before the answer, and draining with health checks in flight.
 *
 * Most services here are in-process fakes: a bus connection answering
 * mentis.v1.<svc>.health with an encoded HealthResponse and $SRV.PING (libs/srvapi) as
 * <svc>. One is a real service process (gateway_fake_service).
 */
#include <cjson/cJSON.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "check.h"
#include "harness.h"
#include "mentis/bus.h"
#include "mentis/srvapi.h"
#include "mentis/v1/common.pb-c.h"
#include "test_gateway_support.h"

#define HEALTH_TIMEOUT_MS 800

static h_nats_t nats;
static pid_t gateway;
static int port, admin_port;
static char dir[H_PATH_SIZE];

/* ---- fake services ---- */

enum fake_mode { FAKE_OK, FAKE_DEGRADED, FAKE_ERROR, FAKE_SILENT };

struct fake {
    mentis_bus_t *bus;
    mentis_bus_sub_t *sub;
    mentis_srv_api_t *srv;
    mentis_srv_info_t info;
    char name[32], id[32], subject[64];
    enum fake_mode mode;
};

static char fake_version[] = "9.9.9";

static void on_health(void *arg, mentis_msg_t *msg)
{
    struct fake *f = arg;
    if (f->mode == FAKE_ERROR) {
        mentis_bus_reply_error(f->bus, msg, NULL, 0, MENTIS_ERR_UNAVAILABLE, NULL, "overloaded",
                               NULL, 0);
    } else if (f->mode != FAKE_SILENT) {
        Mentis__V1__HealthResponse r;
        mentis__v1__health_response__init(&r);
        r.service = f->name;
        r.version = fake_version;
        r.instance_id = f->id;
        r.status = f->mode == FAKE_OK ? MENTIS__V1__SERVING_STATUS__SERVING_STATUS_OK
                                      : MENTIS__V1__SERVING_STATUS__SERVING_STATUS_DEGRADED;
        uint8_t buf[256];
        size_t n = mentis__v1__health_response__pack(&r, buf);
        mentis_bus_reply(f->bus, msg, NULL, 0, buf, n);
    }
    mentis_msg_destroy(msg);
}

static struct fake *fake_start(const char *name, const char *id, enum fake_mode mode)
{
    struct fake *f = calloc(1, sizeof *f);
    if (f == NULL)
        return NULL;
    snprintf(f->name, sizeof f->name, "%s", name);
    snprintf(f->id, sizeof f->id, "%s", id);
    snprintf(f->subject, sizeof f->subject, "mentis.v1.%s.health", name);
    f->mode = mode;
    f->info = (mentis_srv_info_t){f->name, f->id, "9.9.9", "fake", mentis_bus_now_ms(), NULL, 0};
    mentis_bus_options_t o = {.url = nats.url, .name = "fake"};
    if (mentis_bus_connect(&o, &f->bus) != MENTIS_OK ||
        mentis_bus_wait_connected(f->bus, 5000) != MENTIS_OK ||
        mentis_bus_subscribe(f->bus, f->subject, f->name, on_health, f, &f->sub) != MENTIS_OK ||
        mentis_srv_api_start(f->bus, &f->info, &f->srv) != MENTIS_OK)
        return NULL;
    natsConnection_Flush(mentis_bus_nats(f->bus)); /* subscriptions are live on the server */
    return f;
}

static void fake_stop(struct fake *f)
{
    if (f == NULL)
        return;
    mentis_srv_api_stop(f->srv);
    mentis_bus_unsubscribe(f->sub, false, 0);
    mentis_bus_close(f->bus);
    free(f);
}

/* ---- reading the health page ---- */

static const char *const svc_names[6] = {"auth", "kb", "curriculum", "metrics", "tts", "jobs"};

struct health {
    int http;
    long long ms;
    char overall[16];
    struct {
        char status[16];
        int instances;
        char version[32];
    } svc[6];
};

static int svc_index(const char *name)
{
    for (int i = 0; i < 6; i++)
        if (strcmp(svc_names[i], name) == 0)
            return i;
    abort();
}

static int get_health_on(int p, struct health *h)
{
    memset(h, 0, sizeof *h);
    gt_response_t r;
    long long t0 = h_now_ms();
    if (gt_get(p, "/api/health", NULL, &r, 20000) != 0)
        return -1;
    h->ms = h_now_ms() - t0;
    h->http = r.status;
    cJSON *doc = cJSON_Parse(r.body);
    if (doc == NULL)
        return -1;
    snprintf(h->overall, sizeof h->overall, "%s",
             cJSON_GetStringValue(cJSON_GetObjectItem(doc, "status")));
    cJSON *services = cJSON_GetObjectItem(doc, "services");
    for (int i = 0; i < 6; i++) {
        cJSON *s = cJSON_GetObjectItem(services, svc_names[i]);
        const char *st = cJSON_GetStringValue(cJSON_GetObjectItem(s, "status"));
        const char *v = cJSON_GetStringValue(cJSON_GetObjectItem(s, "version"));
        snprintf(h->svc[i].status, sizeof h->svc[i].status, "%s", st ? st : "?");
        snprintf(h->svc[i].version, sizeof h->svc[i].version, "%s", v ? v : "");
        h->svc[i].instances = (int)cJSON_GetNumberValue(cJSON_GetObjectItem(s, "instances"));
    }
    cJSON_Delete(doc);
    return 0;
}

static int get_health(struct health *h)
{
    return get_health_on(port, h);
}

/*
 * Polls until `svc` has `status` and (unless instances < 0) that many instances; returns
 * the milliseconds it took, or -1 at the timeout (with the last page in *h).
 */
static long long wait_for(const char *svc, const char *status, int instances, int timeout_ms,
                          struct health *h)
{
    int i = svc_index(svc);
    long long t0 = h_now_ms();
    while (h_now_ms() - t0 < timeout_ms) {
        if (get_health(h) == 0 && strcmp(h->svc[i].status, status) == 0 &&
            (instances < 0 || h->svc[i].instances == instances))
            return h_now_ms() - t0;
        h_sleep_ms(50);
    }
    fprintf(stderr, "%s: wanted %s/%d, last saw %s/%d\n", svc, status, instances, h->svc[i].status,
            h->svc[i].instances);
    return -1;
}

static pid_t start_gateway(int p, int ap, const char *const *env, const char *name)
{
    char log[H_PATH_SIZE + 32];
    snprintf(log, sizeof log, "%s/%s.log", dir, name);
    return gt_start_gateway(nats.url, p, ap, env, log);
}

static void setup(void)
{
    static bool done;
    if (done)
        return;
    done = true;
    if (h_nats_start(&nats) != 0 || h_tmpdir("gw-health", dir, sizeof dir) != 0)
        abort();
    port = h_free_port();
    admin_port = h_free_port();
    static const char *const env[] = {"MENTIS_GATEWAY_HEALTH_TIMEOUT_MS=800", NULL};
    gateway = start_gateway(port, admin_port, env, "gateway");
    if (gateway < 0)
        abort();
}

/* ---- cases ---- */

static void test_instances_are_counted_and_stopped_services_go_down(void)
{
    setup();
    struct health h;
    struct fake *a = fake_start("kb", "kb-1", FAKE_OK);
    REQUIRE(a != NULL);
    CHECK(wait_for("kb", "up", 1, 5000, &h) >= 0);
    CHECK_STR(h.svc[svc_index("kb")].version, "9.9.9");
    CHECK_STR(h.overall, "degraded");
    CHECK_INT(h.http, 503);
    CHECK_STR(h.svc[svc_index("auth")].status, "down");

    struct fake *b = fake_start("kb", "kb-2", FAKE_OK);
    REQUIRE(b != NULL);
    CHECK(wait_for("kb", "up", 2, 5000, &h) >= 0);
    /* Stays at two: late answers to older pings are never counted twice. */
    for (int i = 0; i < 5; i++) {
        h_sleep_ms(300);
        REQUIRE(get_health(&h) == 0);
        CHECK_INT(h.svc[svc_index("kb")].instances, 2);
    }

    fake_stop(a);
    CHECK(wait_for("kb", "up", 1, 5000, &h) >= 0);
    fake_stop(b);
    long long took = wait_for("kb", "down", 0, 5000, &h);
    CHECK_MSG(took >= 0 && took < 5000, "kb down after %lld ms", took);
}

static void test_degraded_and_error_answers(void)
{
    setup();
    struct health h;
    struct fake *tts = fake_start("tts", "tts-1", FAKE_DEGRADED);
    struct fake *jobs = fake_start("jobs", "jobs-1", FAKE_ERROR);
    REQUIRE(tts && jobs);
    CHECK(wait_for("tts", "degraded", 1, 5000, &h) >= 0);
    CHECK(wait_for("jobs", "degraded", 1, 5000, &h) >= 0);
    CHECK_STR(h.overall, "degraded");
    CHECK_INT(h.http, 503);
    fake_stop(tts);
    fake_stop(jobs);
}

static void test_a_silent_service_is_down_after_the_timeout(void)
{
    setup();
    struct health h;
    struct fake *auth = fake_start("auth", "auth-1", FAKE_SILENT);
    REQUIRE(auth != NULL);
    REQUIRE(get_health(&h) == 0);
    CHECK_STR(h.svc[svc_index("auth")].status, "down");
    /* Waited for it, but not much longer than the timeout. */
    CHECK_MSG(h.ms >= HEALTH_TIMEOUT_MS - 50 && h.ms < HEALTH_TIMEOUT_MS + 700, "took %lld ms",
              h.ms);
    /* Discovery still sees the instance: it answers $SRV.PING, just not its health. */
    CHECK(wait_for("auth", "down", 1, 5000, &h) >= 0);
    fake_stop(auth);
}

static void test_everything_up_is_ok_200(void)
{
    setup();
    struct fake *f[6];
    for (int i = 0; i < 6; i++) {
        char id[32];
        snprintf(id, sizeof id, "%s-1", svc_names[i]);
        f[i] = fake_start(svc_names[i], id, FAKE_OK);
        REQUIRE(f[i] != NULL);
    }
    struct health h;
    long long t0 = h_now_ms();
    while (h_now_ms() - t0 < 5000) {
        REQUIRE(get_health(&h) == 0);
        if (h.http == 200)
            break;
        h_sleep_ms(50);
    }
    CHECK_INT(h.http, 200);
    CHECK_STR(h.overall, "ok");
    for (int i = 0; i < 6; i++) {
        CHECK_STR(h.svc[i].status, "up");
        CHECK(h.svc[i].instances >= 1);
    }
    for (int i = 0; i < 6; i++)
        fake_stop(f[i]);
}

/* A gauge of the admin port's /metrics (the first series starting with `series`), or -1. */
static int admin_gauge(const char *series)
{
    gt_response_t r;
    if (gt_get(admin_port, "/metrics", NULL, &r, 3000) != 0)
        return -1;
    char want[256];
    snprintf(want, sizeof want, "\n%s ", series);
    const char *p = strstr(r.body, want);
    return p ? atoi(p + strlen(want)) : -1;
}

static void test_a_service_killed_with_9_goes_down_within_5_s(void)
{
    setup();
    char bin[512], env_nats[128], log[H_PATH_SIZE + 32];
    snprintf(env_nats, sizeof env_nats, "MENTIS_NATS_URL=%s", nats.url);
    snprintf(log, sizeof log, "%s/curriculum.log", dir);
    const char *argv[] = {gt_build_path("tests/integration/gateway_fake_service", bin, sizeof bin),
                          NULL};
    const char *env[] = {env_nats, "GW_FAKE_SERVICE=curriculum", "MENTIS_ADMIN_PORT=0",
                         "MENTIS_INSTANCE_ID=cur-1", NULL};
    pid_t pid = h_spawn(argv, env, log);
    REQUIRE(pid > 0);
    struct health h;
    REQUIRE(wait_for("curriculum", "up", 1, 15000, &h) >= 0);
    CHECK_STR(h.svc[svc_index("curriculum")].version, "0.1.0");
    /* Wait until discovery itself counts it (not only its health answer). */
    const char *gauge = "mentis_gateway_service_instances{service=\"curriculum\"}";
    long long t0 = h_now_ms();
    while (admin_gauge(gauge) != 1 && h_now_ms() - t0 < 5000)
        h_sleep_ms(50);
    REQUIRE(admin_gauge(gauge) == 1);

    REQUIRE(h_kill(pid, SIGKILL) == 0);
    t0 = h_now_ms();
    CHECK_INT(h_wait_exit(pid, 5000), 128 + SIGKILL);
    long long down = wait_for("curriculum", "down", -1, 5000, &h);
    CHECK(down >= 0 && down < 5000);
    long long gone = wait_for("curriculum", "down", 0, 5000, &h);
    CHECK(gone >= 0);
    long long total = h_now_ms() - t0;
    CHECK_MSG(total < 5000, "0 instances only after %lld ms", total);
    CHECK_INT(admin_gauge(gauge), 0);
    fprintf(stderr, "killed with -9: down after %lld ms, 0 instances after %lld ms\n", down, total);
}

/* In flight right now, from the admin port's gauge. */
static int in_flight(void)
{
    return admin_gauge("mentis_http_in_flight");
}

/* CPU time (user + system) of a process so far, in clock ticks. */
static long cpu_ticks(pid_t pid)
{
    char path[64], buf[1024];
    snprintf(path, sizeof path, "/proc/%d/stat", (int)pid);
    FILE *f = fopen(path, "r");
    if (f == NULL)
        return -1;
    size_t n = fread(buf, 1, sizeof buf - 1, f);
    fclose(f);
    buf[n] = '\0';
    const char *p = strrchr(buf, ')'); /* the command name may hold spaces */
    long utime = 0, stime = 0;
    if (p == NULL ||
        sscanf(p + 2, "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %ld %ld", &utime, &stime) != 2)
        return -1;
    return utime + stime;
}

static void test_clients_leaving_early_cancel_their_checks(void)
{
    setup();
    struct fake *auth = fake_start("auth", "auth-1", FAKE_SILENT);
    REQUIRE(auth != NULL);
    int p = h_free_port(), ap = h_free_port();
    static const char *const env[] = {"MENTIS_GATEWAY_HEALTH_TIMEOUT_MS=3000", NULL};
    pid_t gw = start_gateway(p, ap, env, "leaving");
    REQUIRE(gw > 0);
    int saved_admin = admin_port;
    admin_port = ap; /* in_flight() reads this gateway's gauge */

    /* Each of these waits on auth's 3 s timeout; the clients leave long before. */
    int fds[20];
    for (int i = 0; i < 20; i++) {
        fds[i] = gt_connect(p);
        REQUIRE(fds[i] >= 0);
        const char *req = "GET /api/health HTTP/1.1\r\nHost: x\r\n\r\n";
        CHECK(send(fds[i], req, strlen(req), MSG_NOSIGNAL) == (ssize_t)strlen(req));
    }
    h_sleep_ms(200);
    CHECK_INT(in_flight(), 20);
    long ticks = cpu_ticks(gw);
    for (int i = 0; i < 20; i++)
        close(fds[i]);
    /* Ended soon after the close, not when the timeout would have fired. */
    long long t0 = h_now_ms();
    while (in_flight() != 0 && h_now_ms() - t0 < 3000)
        h_sleep_ms(20);
    CHECK_INT(in_flight(), 0);
    CHECK_MSG(h_now_ms() - t0 < 1000, "took %lld ms", h_now_ms() - t0);
    /* Nor does the loop spin on the closed sockets meanwhile. */
    h_sleep_ms(1000);
    long used = cpu_ticks(gw) - ticks;
    CHECK_MSG(used >= 0 && used < 40, "%ld ticks of CPU in ~1.2 s", used);
    /* A client that pipelines behind a slow check: served in order, and no spinning while
     * the first answer is awaited (lws 4.1 would, were reading not paused meanwhile). */
    int fd = gt_connect(p);
    REQUIRE(fd >= 0);
    ticks = cpu_ticks(gw);
    gt_response_t r;
    REQUIRE(gt_exchange(fd,
                        "GET /api/health HTTP/1.1\r\nHost: x\r\n\r\n"
                        "GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n",
                        &r, 5000) == 0);
    used = cpu_ticks(gw) - ticks;
    CHECK_INT(r.status, 503);
    CHECK_MSG(used >= 0 && used < 60, "%ld ticks of CPU while waiting 3 s", used);
    REQUIRE(gt_exchange(fd, "", &r, 3000) == 0);
    CHECK_INT(r.status, 200);
    close(fd);
    /* The deadlines pass: the cancelled checks must never call back into freed requests. */
    struct health h;
    REQUIRE(get_health_on(p, &h) == 0);
    CHECK_INT(h.http, 503);
    admin_port = saved_admin;
    REQUIRE(h_kill(gw, SIGTERM) == 0);
    CHECK_INT(h_wait_exit(gw, 8000), 0);
    fake_stop(auth);
}

static void test_drain_finishes_health_checks_in_flight(void)
{
    setup();
    struct fake *auth = fake_start("auth", "auth-1", FAKE_SILENT);
    REQUIRE(auth != NULL);
    int p = h_free_port(), ap = h_free_port();
    static const char *const env[] = {"MENTIS_GATEWAY_HEALTH_TIMEOUT_MS=1500", NULL};
    pid_t gw = start_gateway(p, ap, env, "drain");
    REQUIRE(gw > 0);

    int fd = gt_connect(p);
    REQUIRE(fd >= 0);
    const char *req = "GET /api/health HTTP/1.1\r\nHost: x\r\n\r\n";
    CHECK(send(fd, req, strlen(req), MSG_NOSIGNAL) == (ssize_t)strlen(req));
    h_sleep_ms(200);
    long long t0 = h_now_ms();
    REQUIRE(h_kill(gw, SIGTERM) == 0);
    h_sleep_ms(200);
    /* Not accepting any more, and not ready, while the check runs on. */
    CHECK(gt_connect(p) < 0);
    int status = 0;
    char body[256];
    CHECK(h_http_get(ap, "/readyz", &status, body, sizeof body, 2000) == 0 && status == 503);

    gt_response_t r;
    REQUIRE(gt_exchange(fd, "", &r, 5000) == 0);
    CHECK_INT(r.status, 503);
    char v[64];
    CHECK_STR(gt_header(&r, "connection", v, sizeof v), "close");
    cJSON *doc = cJSON_Parse(r.body);
    CHECK(doc != NULL && cJSON_GetObjectItem(doc, "services") != NULL);
    cJSON_Delete(doc);
    CHECK(gt_closed(fd, 2000));
    close(fd);
    CHECK_INT(h_wait_exit(gw, 5000), 0);
    CHECK_MSG(h_now_ms() - t0 < 1500 + 1000, "took %lld ms", h_now_ms() - t0);
    fake_stop(auth);
}

static void test_drain_answers_503_when_the_grace_period_ends(void)
{
    setup();
    struct fake *auth = fake_start("auth", "auth-1", FAKE_SILENT);
    REQUIRE(auth != NULL);
    int p = h_free_port(), ap = h_free_port();
    static const char *const env[] = {"MENTIS_GATEWAY_HEALTH_TIMEOUT_MS=5000",
                                      "MENTIS_SHUTDOWN_GRACE_MS=300", NULL};
    pid_t gw = start_gateway(p, ap, env, "grace");
    REQUIRE(gw > 0);
    int fd = gt_connect(p);
    REQUIRE(fd >= 0);
    const char *req = "GET /api/health HTTP/1.1\r\nHost: x\r\nX-Request-Id: drain-1\r\n\r\n";
    CHECK(send(fd, req, strlen(req), MSG_NOSIGNAL) == (ssize_t)strlen(req));
    h_sleep_ms(200);
    long long t0 = h_now_ms();
    REQUIRE(h_kill(gw, SIGTERM) == 0);
    gt_response_t r;
    REQUIRE(gt_exchange(fd, "", &r, 5000) == 0);
    long long took = h_now_ms() - t0;
    CHECK_INT(r.status, 503);
    char v[64];
    CHECK_STR(gt_header(&r, "content-type", v, sizeof v), "application/problem+json");
    CHECK(strstr(r.body, "\"code\":\"unavailable\"") != NULL);
    CHECK(strstr(r.body, "\"request_id\":\"drain-1\"") != NULL);
    CHECK_MSG(took >= 250 && took < 1500, "answered after %lld ms", took);
    close(fd);
    CHECK_INT(h_wait_exit(gw, 5000), 0);
    fake_stop(auth);
}

/* lws cuts a request after its own timeout_secs (10 s) unless the gateway says otherwise. */
static void test_a_health_timeout_above_10_s_is_honoured(void)
{
    setup();
    struct fake *auth = fake_start("auth", "auth-1", FAKE_SILENT);
    REQUIRE(auth != NULL);
    int p = h_free_port(), ap = h_free_port();
    static const char *const env[] = {"MENTIS_GATEWAY_HEALTH_TIMEOUT_MS=10500", NULL};
    pid_t gw = start_gateway(p, ap, env, "slow");
    REQUIRE(gw > 0);
    struct health h;
    REQUIRE(get_health_on(p, &h) == 0);
    CHECK_INT(h.http, 503);
    CHECK_STR(h.svc[svc_index("auth")].status, "down");
    CHECK_MSG(h.ms >= 10400 && h.ms < 12000, "took %lld ms", h.ms);
    REQUIRE(h_kill(gw, SIGTERM) == 0);
    CHECK_INT(h_wait_exit(gw, 5000), 0);
    fake_stop(auth);
}

static void test_sigterm_exits_zero(void)
{
    setup();
    REQUIRE(h_kill(gateway, SIGTERM) == 0);
    CHECK_INT(h_wait_exit(gateway, 5000), 0);
}

TEST_MAIN(test_instances_are_counted_and_stopped_services_go_down, test_degraded_and_error_answers,
          test_a_silent_service_is_down_after_the_timeout, test_everything_up_is_ok_200,
          test_a_service_killed_with_9_goes_down_within_5_s,
          test_clients_leaving_early_cancel_their_checks,
          test_drain_finishes_health_checks_in_flight,
          test_drain_answers_503_when_the_grace_period_ends,
          test_a_health_timeout_above_10_s_is_honoured, test_sigterm_exits_zero)
