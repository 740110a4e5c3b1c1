/*
 * The service runtime: what every mentis service process is made of.
 *
 * A service is a table of operations and a main that hands it to mentis_service_main:
 *
 *   static const mentis_op_t ops[] = {
 *       {"pack.get", &mentis__v1__kb__pack_get_request__descriptor,
 *        &mentis__v1__kb__pack__descriptor, pack_get, MENTIS_OP_DB},
 *   };
 *   static const mentis_service_def_t kb = {.name = "kb", .ops = ops, .nops = 1, ...};
 *   int main(int argc, char **argv) { return mentis_service_main(&kb, argc, argv); }
 *
 * The runtime reads the configuration, connects to NATS (and PostgreSQL, applying the
 * service's migrations), subscribes every operation on mentis.v1.<name>.<op> in queue
 * group <name>, answers the NATS service API ($SRV.PING/INFO/STATS) and a built-in
 * "health" operation, serves /healthz, /readyz and /metrics on the admin port, and on
 * SIGTERM stops taking messages, finishes those in hand and exits.
 *
 * Inside, N worker threads share one bounded queue; the NATS callback only places a
 * message in it, and answers `unavailable` at once when it is full. A worker decodes the
 * request into a per-message memory pool, runs the
 * handler (inside a tenant-scoped transaction for MENTIS_OP_DB operations), and replies.
 */
#ifndef MENTIS_SERVICE_H
#define MENTIS_SERVICE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <protobuf-c/protobuf-c.h>

#include "mentis/bus.h"
#include "mentis/config.h"
#include "mentis/db.h"
#include "mentis/metrics.h"
#include "mentis/pool.h"
#include "mentis/status.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct mentis_service mentis_service_t;
typedef struct mentis_ctx mentis_ctx_t;

/*
 * Handles one request. `req` is decoded and `resp` initialised (both in the message's
 * pool); fill resp and return MENTIS_OK, or return an error recorded with mentis_err_set
 * (its code and message become the error reply). Runs on a worker thread.
 */
typedef mentis_status_t (*mentis_handler_fn)(mentis_ctx_t *ctx, const ProtobufCMessage *req,
                                             ProtobufCMessage *resp);

enum {
    /* Needs PostgreSQL: the handler runs inside a transaction scoped to Mentis-Tenant,
     * committed when it returns MENTIS_OK and rolled back otherwise. */
    MENTIS_OP_DB = 1u << 0,
    /* Refused with `unauthenticated` unless the gateway sent Mentis-Tenant. */
    MENTIS_OP_TENANT = 1u << 1,
    /*
     * An event to consume, not a request to answer: `op` is the event's full subject
     * ("mentis.v1.evt.gateway.beta_usage"), `response` is NULL and the handler gets resp
     * NULL. Subscribed in queue group <name> like the operations, so each event reaches one
     * replica of the service (replicas never count it twice); nothing is replied, a failure
     * is logged and counted. Not listed among the $SRV endpoints.
     */
    MENTIS_OP_EVENT = 1u << 2,
    /*
     * With MENTIS_OP_DB, for a handler that only reads: instead of one transaction, each of
     * its statements runs as a read-only transaction of its own with the tenant set
     * (mentis_db_tx_begin_read). That saves the round trips of BEGIN and COMMIT; the price
     * is that its statements do not share a snapshot, so use it only where they need not
     * agree with each other (one statement, or hits read back by id).
     */
    MENTIS_OP_READ = 1u << 3,
};

typedef struct {
    const char *op; /* "pack.create": the subject is mentis.v1.<service>.<op>; for
                       MENTIS_OP_EVENT the whole subject */
    const ProtobufCMessageDescriptor *request;
    const ProtobufCMessageDescriptor *response;
    mentis_handler_fn fn;
    unsigned flags;
} mentis_op_t;

typedef struct {
    const char *name;        /* "kb": subjects, queue group, logs, $SRV name */
    const char *description; /* one line, shown by $SRV.INFO and --help */
    const mentis_op_t *ops;  /* the table; "health" is added by the runtime */
    size_t nops;
    int default_admin_port;  /* MENTIS_ADMIN_PORT's default */
    const char *schema;      /* PostgreSQL schema owned, or NULL for none */
    /*
     * Optional: reads the service's own settings from cfg (no I/O, no threads) and may keep
     * state with mentis_service_set_app. Also runs for --config, so every setting shows up
     * in the configuration table.
     */
    mentis_status_t (*configure)(mentis_service_t *svc, mentis_config_t *cfg);
    /* Optional: runs once after connections and migrations, before any message is taken. */
    mentis_status_t (*start)(mentis_service_t *svc);
    /* Optional: runs once after the last message, to free what configure and start made. */
    void (*stop)(mentis_service_t *svc);
} mentis_service_def_t;

/*
 * Runs a service until SIGTERM or SIGINT. Handles --help, --version and --config (prints
 * the configuration table). Returns the process exit code: 0 after a clean drain, 2 for a
 * bad configuration, 1 for other start-up failures.
 */
int mentis_service_main(const mentis_service_def_t *def, int argc, char **argv);

/* State for handlers, set by def->configure or def->start; read with mentis_ctx_app. */
void mentis_service_set_app(mentis_service_t *svc, void *app);
void *mentis_service_app(const mentis_service_t *svc);
mentis_bus_t *mentis_service_bus(mentis_service_t *svc);
mentis_metrics_t *mentis_service_metrics(mentis_service_t *svc);
/* NULL when the service has no schema. */
mentis_db_t *mentis_service_db(mentis_service_t *svc);
const char *mentis_service_instance_id(const mentis_service_t *svc);

/* ---- inside a handler ---- */

/* The message's pool: everything allocated here is freed when the reply is sent. */
mentis_pool_t *mentis_ctx_pool(mentis_ctx_t *ctx);
/* The transaction's connection for MENTIS_OP_DB operations, else NULL. */
mentis_db_conn_t *mentis_ctx_db(mentis_ctx_t *ctx);
/* A request header (see MENTIS_HDR_*), NULL when absent. */
const char *mentis_ctx_header(const mentis_ctx_t *ctx, const char *key);
/* Shorthands for the identity headers the gateway sets; NULL when absent. */
const char *mentis_ctx_tenant(const mentis_ctx_t *ctx);
const char *mentis_ctx_principal(const mentis_ctx_t *ctx);
const char *mentis_ctx_request_id(const mentis_ctx_t *ctx);
/* Whether Mentis-Roles lists `role`. */
bool mentis_ctx_has_role(const mentis_ctx_t *ctx, const char *role);
/* Absolute deadline (ms since the epoch) from Mentis-Deadline, or 0 when none. */
int64_t mentis_ctx_deadline_ms(const mentis_ctx_t *ctx);
void *mentis_ctx_app(const mentis_ctx_t *ctx);
mentis_service_t *mentis_ctx_service(mentis_ctx_t *ctx);

/*
 * Adds a field problem to the error reply (mentis.v1.ErrorDetail.errors); return
 * mentis_err_set(MENTIS_ERR_INVALID_ARGUMENT, …) afterwards. Strings are copied.
 */
void mentis_ctx_field_error(mentis_ctx_t *ctx, const char *field, const char *message);

/* With an error reply (429, 403 …): when the caller may try again, in seconds; the gateway
 * sends it as Retry-After. */
void mentis_ctx_retry_after(mentis_ctx_t *ctx, int seconds);

/*
 * Publishes an event on mentis.v1.evt.<service>.<event>[.<suffix>] with the request's id
 * and trace headers. `msg` is encoded with protobuf-c; it is sent only if the handler
 * succeeds (and, for MENTIS_OP_DB, after the commit).
 */
mentis_status_t mentis_ctx_publish_event(mentis_ctx_t *ctx, const char *event, const char *suffix,
                                         const ProtobufCMessage *msg);

#ifdef __cplusplus
}
#endif
#endif
