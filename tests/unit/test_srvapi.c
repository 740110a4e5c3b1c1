/* The NATS service API replies, rendered from real metrics. */
#include <cjson/cJSON.h>
#include <math.h>
#include <stdlib.h>

#include "check.h"
#include "mentis/srvapi.h"

static void test_ping_info_stats(void)
{
    mentis_metrics_t *reg = NULL;
    REQUIRE(mentis_metrics_create(&reg) == MENTIS_OK);
    const char *names[] = {"op", NULL}, *values[] = {"pack.get", NULL};
    static const double bounds[] = {0.001, 0.01, 0.1};
    mentis_histogram_t *h = mentis_metrics_histogram(reg, "d_seconds", "d", bounds, 3, names, values);
    mentis_counter_t *errors = mentis_metrics_counter(reg, "e_total", "e", names, values);
    REQUIRE(h && errors);
    for (int i = 0; i < 90; i++)
        mentis_histogram_observe(h, 0.0005);
    for (int i = 0; i < 10; i++)
        mentis_histogram_observe(h, 0.05);
    mentis_counter_add(errors, 3);
    mentis_srv_last_error_t le;
    mentis_srv_last_error_init(&le);
    mentis_srv_last_error_set(&le, "not_found", "pack 7");
    mentis_srv_endpoint_t ep = {"pack.get", "mentis.v1.kb.pack.get", "kb", h, errors, &le};
    mentis_srv_info_t info = {"kb", "abc123", "0.1.0", "question packs", 1795392000000, &ep, 1};

    char *text = mentis_srv_api_render(&info, "PING");
    cJSON *o = cJSON_Parse(text);
    REQUIRE(o != NULL);
    CHECK_STR(cJSON_GetObjectItem(o, "type")->valuestring, "io.nats.micro.v1.ping_response");
    CHECK_STR(cJSON_GetObjectItem(o, "name")->valuestring, "kb");
    CHECK_STR(cJSON_GetObjectItem(o, "id")->valuestring, "abc123");
    CHECK(cJSON_GetObjectItem(o, "endpoints") == NULL);
    cJSON_Delete(o);
    free(text);

    text = mentis_srv_api_render(&info, "INFO");
    o = cJSON_Parse(text);
    REQUIRE(o != NULL);
    CHECK_STR(cJSON_GetObjectItem(o, "description")->valuestring, "question packs");
    cJSON *e = cJSON_GetArrayItem(cJSON_GetObjectItem(o, "endpoints"), 0);
    REQUIRE(e != NULL);
    CHECK_STR(cJSON_GetObjectItem(e, "subject")->valuestring, "mentis.v1.kb.pack.get");
    CHECK_STR(cJSON_GetObjectItem(e, "queue_group")->valuestring, "kb");
    cJSON_Delete(o);
    free(text);

    text = mentis_srv_api_render(&info, "STATS");
    o = cJSON_Parse(text);
    REQUIRE(o != NULL);
    CHECK_STR(cJSON_GetObjectItem(o, "started")->valuestring, "2026-11-23T00:00:00.000Z");
    e = cJSON_GetArrayItem(cJSON_GetObjectItem(o, "endpoints"), 0);
    REQUIRE(e != NULL);
    CHECK_INT(cJSON_GetObjectItem(e, "num_requests")->valuedouble, 100);
    CHECK_INT(cJSON_GetObjectItem(e, "num_errors")->valuedouble, 3);
    CHECK_STR(cJSON_GetObjectItem(e, "last_error")->valuestring, "not_found: pack 7");
    /* 90 × 0.5 ms + 10 × 50 ms = 545 ms, in nanoseconds. */
    CHECK(fabs(cJSON_GetObjectItem(e, "processing_time")->valuedouble - 545e6) < 1e3);
    CHECK(fabs(cJSON_GetObjectItem(e, "average_processing_time")->valuedouble - 5.45e6) < 1e3);
    cJSON *lat = cJSON_GetObjectItem(cJSON_GetObjectItem(e, "data"), "latency_seconds");
    REQUIRE(lat != NULL);
    CHECK_INT(cJSON_GetArraySize(cJSON_GetObjectItem(lat, "bounds")), 3);
    cJSON *counts = cJSON_GetObjectItem(lat, "counts");
    CHECK_INT(cJSON_GetArraySize(counts), 4);
    CHECK_INT(cJSON_GetArrayItem(counts, 0)->valuedouble, 90);
    CHECK_INT(cJSON_GetArrayItem(counts, 2)->valuedouble, 10);
    CHECK(cJSON_GetObjectItem(lat, "p50")->valuedouble <= 0.001);
    CHECK(cJSON_GetObjectItem(lat, "p99")->valuedouble > 0.01);
    cJSON_Delete(o);
    free(text);

    mentis_srv_last_error_destroy(&le);
    mentis_metrics_destroy(reg);
}

static void test_no_requests_yet(void)
{
    mentis_srv_endpoint_t ep = {"health", "mentis.v1.tts.health", "tts", NULL, NULL, NULL};
    mentis_srv_info_t info = {"tts", "x", "0.1.0", "", 0, &ep, 1};
    char *text = mentis_srv_api_render(&info, "STATS");
    cJSON *o = cJSON_Parse(text);
    REQUIRE(o != NULL);
    cJSON *e = cJSON_GetArrayItem(cJSON_GetObjectItem(o, "endpoints"), 0);
    CHECK_INT(cJSON_GetObjectItem(e, "num_requests")->valuedouble, 0);
    CHECK_INT(cJSON_GetObjectItem(e, "average_processing_time")->valuedouble, 0);
    CHECK(cJSON_IsNull(cJSON_GetObjectItem(cJSON_GetObjectItem(cJSON_GetObjectItem(e, "data"),
                                                               "latency_seconds"), "p50")));
    cJSON_Delete(o);
    free(text);
}

TEST_MAIN(test_ping_info_stats, test_no_requests_yet)
