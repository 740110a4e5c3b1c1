/*
 * The NATS service API (the "micro" protocol) for one process, so standard NATS tooling
 * (`nats micro ls`, `nats micro stats`) and the gateway's health page can find and inspect
 * every running instance. Answers, on $SRV.<VERB>, $SRV.<VERB>.<name> and
 * $SRV.<VERB>.<name>.<id>:
 *   PING  → io.nats.micro.v1.ping_response  {name, id, version, metadata}
 *   INFO  → io.nats.micro.v1.info_response  {…, description, endpoints[{name, subject, queue_group}]}
 *   STATS → io.nats.micro.v1.stats_response {…, started, endpoints[{name, subject, queue_group,
 *           num_requests, num_errors, last_error, processing_time, average_processing_time,
 *           data{latency_seconds{bounds, counts, p50, p95, p99}}}]}
 * Counts and latencies come from the metrics the endpoint already keeps, so STATS and
 * /metrics never disagree.
 */
#ifndef MENTIS_SRVAPI_H
#define MENTIS_SRVAPI_H

#include <pthread.h>

#include "mentis/bus.h"
#include "mentis/metrics.h"
#include "mentis/status.h"

#ifdef __cplusplus
extern "C" {
#endif

/* The last error of an endpoint, written by its handlers, read by STATS. */
typedef struct {
    pthread_mutex_t mu; /* protects text */
    char text[160];
} mentis_srv_last_error_t;

void mentis_srv_last_error_init(mentis_srv_last_error_t *le);
void mentis_srv_last_error_set(mentis_srv_last_error_t *le, const char *code, const char *message);
void mentis_srv_last_error_destroy(mentis_srv_last_error_t *le);

typedef struct {
    const char *name;        /* "pack.create" */
    const char *subject;     /* "mentis.v1.kb.pack.create" */
    const char *queue_group; /* "kb" */
    mentis_histogram_t *duration;  /* seconds: gives num_requests and processing_time */
    mentis_counter_t *errors;      /* may be NULL */
    mentis_srv_last_error_t *last_error; /* may be NULL */
} mentis_srv_endpoint_t;

typedef struct {
    const char *name;        /* service name: "kb", "gateway" */
    const char *id;          /* instance id, unique per process */
    const char *version;     /* semantic version */
    const char *description;
    int64_t started_ms;      /* ms since the epoch */
    const mentis_srv_endpoint_t *endpoints; /* borrowed: must outlive the responder */
    size_t nendpoints;
} mentis_srv_info_t;

typedef struct mentis_srv_api mentis_srv_api_t;

/* Subscribes the nine $SRV subjects. `info` and everything it points to must outlive it. */
mentis_status_t mentis_srv_api_start(mentis_bus_t *bus, const mentis_srv_info_t *info,
                                     mentis_srv_api_t **out);

/* Unsubscribes and frees. NULL is a no-op. */
void mentis_srv_api_stop(mentis_srv_api_t *api);

/*
 * Builds the JSON of one reply ("PING", "INFO" or "STATS"); caller frees with free().
 * Exposed for tests.
 */
char *mentis_srv_api_render(const mentis_srv_info_t *info, const char *verb);

#ifdef __cplusplus
}
#endif
#endif
