/*
 * The admin HTTP listener every process serves on its own port, for probes and Prometheus:
 *   GET /healthz  200 while the process runs
 *   GET /readyz   200 when the ready callback says so, else 503 with the reason
 *   GET /metrics  the registry in Prometheus text format (version 0.0.4)
 * Anything else is 404 (405 for other methods), as RFC 9457 problem JSON.
 *
 * It runs on a thread of its own with poll(2): a few connections at a time, each cut after
 * a short timeout, request heads capped at 8 KiB, one request per connection.
 */
#ifndef MENTIS_ADMIN_H
#define MENTIS_ADMIN_H

#include <stdbool.h>
#include <stddef.h>

#include "mentis/metrics.h"
#include "mentis/status.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct mentis_admin mentis_admin_t;

/* Says whether the process is ready; when not, writes why into `why`. Called on the admin thread. */
typedef bool (*mentis_admin_ready_fn)(void *arg, char *why, size_t why_size);

typedef struct {
    const char *addr;            /* "127.0.0.1" by default */
    int port;                    /* 0 picks a free port (see mentis_admin_port) */
    mentis_metrics_t *metrics;   /* rendered at /metrics; may be NULL */
    mentis_admin_ready_fn ready; /* NULL means always ready */
    void *ready_arg;
} mentis_admin_options_t;

/* Binds and starts the listener thread. *out is written only on success. */
mentis_status_t mentis_admin_start(const mentis_admin_options_t *opts, mentis_admin_t **out);

/* The port actually bound. */
int mentis_admin_port(const mentis_admin_t *admin);

/* Stops the thread, closes every connection and frees admin. NULL is a no-op. */
void mentis_admin_stop(mentis_admin_t *admin);

/*
 * Parses the head of one HTTP/1.x request (exposed for the fuzz target and tests):
 * MENTIS_OK with method and path (query stripped) copied into the given buffers, or
 * MENTIS_ERR_INVALID_ARGUMENT for anything malformed, MENTIS_ERR_TOO_LARGE when a part does
 * not fit its buffer. `head` need not be NUL-terminated.
 */
mentis_status_t mentis_admin_parse_request(const char *head, size_t len, char *method,
                                           size_t method_size, char *path, size_t path_size);

#ifdef __cplusplus
}
#endif
#endif
