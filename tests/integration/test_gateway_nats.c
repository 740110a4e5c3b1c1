/*
 * mentis-gateway when NATS is away: it starts anyway, is not ready, answers the health
 * page at once instead of hanging, becomes ready when NATS comes up, and goes back to not
 * ready when NATS goes down again — then finds its services again after the restart.
 */
#include <cjson/cJSON.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "harness.h"
#include "mentis/bus.h"
#include "mentis/srvapi.h"
#include "mentis/v1/common.pb-c.h"
#include "test_gateway_support.h"

static h_nats_t nats;
static pid_t gateway;
static int port, admin_port;
static char dir[H_PATH_SIZE];

static void check_not_ready(void)
{
    gt_response_t r;
    REQUIRE(gt_get(port, "/readyz", NULL, &r, 3000) == 0);
    CHECK_INT(r.status, 503);
    char v[64];
    CHECK_STR(gt_header(&r, "content-type", v, sizeof v), "application/problem+json");
    CHECK(strstr(r.body, "\"code\":\"unavailable\"") != NULL);
    CHECK(strstr(r.body, "NATS") != NULL);
    int status = 0;
    char body[256];
    CHECK(h_http_get(admin_port, "/readyz", &status, body, sizeof body, 3000) == 0 &&
          status == 503);
}

/* The health page answers 503 "down" well within the health timeout (1 s by default). */
static void check_health_down_fast(void)
{
    gt_response_t r;
    long long t0 = h_now_ms();
    REQUIRE(gt_get(port, "/api/health", NULL, &r, 5000) == 0);
    long long took = h_now_ms() - t0;
    CHECK_INT(r.status, 503);
    CHECK(strstr(r.body, "\"status\":\"down\"") != NULL);
    CHECK_MSG(took < 500, "took %lld ms", took);
}

static void test_starts_without_nats_and_is_not_ready(void)
{
    /* A server that is stopped, so its port is known and nothing listens there. */
    REQUIRE(h_nats_start(&nats) == 0 && h_nats_kill(&nats) == 0);
    REQUIRE(h_tmpdir("gw-nats", dir, sizeof dir) == 0);
    port = h_free_port();
    admin_port = h_free_port();
    char log[H_PATH_SIZE + 32];
    snprintf(log, sizeof log, "%s/gateway.log", dir);
    gateway = gt_start_gateway(nats.url, port, admin_port, NULL, log);
    REQUIRE(gateway > 0);
    check_not_ready();
    check_health_down_fast();
    gt_response_t r;
    REQUIRE(gt_get(port, "/healthz", NULL, &r, 3000) == 0);
    CHECK_INT(r.status, 200);
}

static void test_becomes_ready_when_nats_comes_up(void)
{
    REQUIRE(gateway > 0);
    REQUIRE(h_nats_restart(&nats) == 0);
    CHECK(h_wait_http(port, "/readyz", 200, 10000) == 0);
    check_health_down_fast(); /* connected, but nobody answers */
}

static void test_not_ready_again_when_nats_goes_away(void)
{
    REQUIRE(gateway > 0);
    REQUIRE(h_nats_kill(&nats) == 0);
    long long t0 = h_now_ms();
    gt_response_t r;
    do {
        REQUIRE(gt_get(port, "/readyz", NULL, &r, 3000) == 0);
        if (r.status == 503)
            break;
        h_sleep_ms(50);
    } while (h_now_ms() - t0 < 5000);
    check_not_ready();
    check_health_down_fast();
}

/* A kb instance on the bus: answers its health and $SRV.PING. */
static mentis_bus_t *kb_bus;
static char kb_name[] = "kb", fake_version[] = "9.9.9";
static void on_health(void *arg, mentis_msg_t *msg)
{
    (void)arg;
    Mentis__V1__HealthResponse r;
    mentis__v1__health_response__init(&r);
    r.service = kb_name;
    r.version = fake_version;
    r.status = MENTIS__V1__SERVING_STATUS__SERVING_STATUS_OK;
    uint8_t buf[128];
    size_t n = mentis__v1__health_response__pack(&r, buf);
    mentis_bus_reply(kb_bus, msg, NULL, 0, buf, n);
    mentis_msg_destroy(msg);
}

static void test_finds_services_after_nats_restarts(void)
{
    REQUIRE(gateway > 0);
    REQUIRE(h_nats_restart(&nats) == 0);
    CHECK(h_wait_http(port, "/readyz", 200, 10000) == 0);

    mentis_bus_options_t o = {.url = nats.url, .name = "fake-kb"};
    REQUIRE(mentis_bus_connect(&o, &kb_bus) == MENTIS_OK);
    REQUIRE(mentis_bus_wait_connected(kb_bus, 5000) == MENTIS_OK);
    mentis_bus_sub_t *sub = NULL;
    mentis_srv_api_t *srv = NULL;
    mentis_srv_info_t info = {"kb", "kb-1", "9.9.9", "fake", mentis_bus_now_ms(), NULL, 0};
    REQUIRE(mentis_bus_subscribe(kb_bus, "mentis.v1.kb.health", "kb", on_health, NULL, &sub) ==
            MENTIS_OK);
    REQUIRE(mentis_srv_api_start(kb_bus, &info, &srv) == MENTIS_OK);
    natsConnection_Flush(mentis_bus_nats(kb_bus));

    /* The gateway's reply and discovery subscriptions survived the reconnect. */
    bool found = false;
    long long t0 = h_now_ms();
    while (!found && h_now_ms() - t0 < 5000) {
        gt_response_t r;
        REQUIRE(gt_get(port, "/api/health", NULL, &r, 3000) == 0);
        cJSON *doc = cJSON_Parse(r.body);
        cJSON *kb = cJSON_GetObjectItem(cJSON_GetObjectItem(doc, "services"), "kb");
        const char *status = cJSON_GetStringValue(cJSON_GetObjectItem(kb, "status"));
        found = status != NULL && strcmp(status, "up") == 0 &&
                cJSON_GetNumberValue(cJSON_GetObjectItem(kb, "instances")) == 1;
        cJSON_Delete(doc);
        if (!found)
            h_sleep_ms(100);
    }
    CHECK(found);
    mentis_srv_api_stop(srv);
    mentis_bus_unsubscribe(sub, false, 0);
    mentis_bus_close(kb_bus);
}

static void test_sigterm_exits_zero(void)
{
    REQUIRE(gateway > 0);
    REQUIRE(h_kill(gateway, SIGTERM) == 0);
    CHECK_INT(h_wait_exit(gateway, 5000), 0);
    h_nats_stop(&nats);
}

TEST_MAIN(test_starts_without_nats_and_is_not_ready, test_becomes_ready_when_nats_comes_up,
          test_not_ready_again_when_nats_goes_away, test_finds_services_after_nats_restarts,
          test_sigterm_exits_zero)
