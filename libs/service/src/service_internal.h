/* Shared inside libs/service only. */
#ifndef MENTIS_SERVICE_INTERNAL_H
#define MENTIS_SERVICE_INTERNAL_H

#include <pthread.h>
#include <stdatomic.h>

#include "mentis/admin.h"
#include "mentis/service.h"
#include "mentis/srvapi.h"

/* One registered operation with its subject, subscription and statistics. */
struct op_entry {
    mentis_op_t op;
    char subject[160];
    mentis_bus_sub_t *sub;
    mentis_service_t *svc;
    mentis_counter_t *requests; /* mentis_rpc_requests_total{op} */
    mentis_counter_t *errors;   /* mentis_rpc_errors_total{op} */
    mentis_histogram_t *duration;
    mentis_srv_last_error_t last_error; /* for $SRV.STATS */
};

struct worker;
struct work_queue;

struct mentis_service {
    const mentis_service_def_t *def;
    char instance_id[40];
    char started_rfc3339[40];
    int64_t started_ms;
    mentis_bus_t *bus;
    mentis_db_t *db;
    mentis_metrics_t *metrics;
    mentis_admin_t *admin;
    void *app;
    int schema_version;

    struct op_entry *ops; /* def->ops plus "health" */
    size_t nops;

    struct worker *workers;
    size_t nworkers;
    size_t pool_cap;
    struct work_queue *queue; /* shared by the workers: MENTIS_MAILBOX_SIZE per worker */

    mentis_srv_endpoint_t *endpoints; /* one per op, for the service API */
    mentis_srv_info_t srv_info;
    mentis_srv_api_t *srv;

    atomic_bool ready;
    atomic_bool draining;
    mentis_counter_t *shed; /* messages refused because the queue was full */
    mentis_gauge_t *inflight;
};

mentis_status_t mentis__workers_start(mentis_service_t *svc, size_t n, size_t mailbox, size_t pool_cap);
/* Waits until the queue is empty and no worker is busy, or timeout_ms passes. */
bool mentis__workers_idle_wait(mentis_service_t *svc, int timeout_ms);
void mentis__workers_stop(mentis_service_t *svc);
/* The subscription callback of every operation: arg is its struct op_entry. */
void mentis__op_receive(void *arg, mentis_msg_t *msg);


mentis_status_t mentis__health(mentis_ctx_t *ctx, const ProtobufCMessage *req, ProtobufCMessage *resp);

/* A field problem or an event, collected in the message's pool during a handler. */
struct ctx_violation {
    const char *field, *message;
    struct ctx_violation *next;
};
struct ctx_event {
    const char *subject;
    uint8_t *data;
    size_t len;
    struct ctx_event *next;
};

struct mentis_ctx {
    mentis_service_t *svc;
    struct op_entry *entry;
    mentis_msg_t *msg;
    mentis_pool_t *pool;
    mentis_db_conn_t *conn;
    struct ctx_violation *violations, **violations_tail;
    size_t nviolations;
    int retry_after_s; /* > 0: sent as ErrorDetail.retry_after_seconds */
    struct ctx_event *events, **events_tail;
};
#endif
