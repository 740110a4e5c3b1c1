/*
 * What the gateway tests share: a raw HTTP/1.1 client that sees every header (and can
 * send any method, body or header, and reuse a connection), and a way to start
 * mentis-gateway from the build tree.
 */
#ifndef MENTIS_TEST_GATEWAY_SUPPORT_H
#define MENTIS_TEST_GATEWAY_SUPPORT_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

typedef struct {
    int status;
    char head[8192]; /* status line and headers, as received */
    char body[262144];
    size_t body_len;
} gt_response_t;

/* Connects to 127.0.0.1:port; the socket or -1. */
int gt_connect(int port);

/*
 * Sends `request` (a complete HTTP/1.1 request) on fd and reads one response: headers,
 * then Content-Length bytes of body (none for HEAD requests, 204 and 304). 0 on success,
 * -1 when no complete response arrived within timeout_ms.
 */
int gt_exchange(int fd, const char *request, gt_response_t *r, int timeout_ms);

/* gt_connect + gt_exchange + close. */
int gt_request(int port, const char *request, gt_response_t *r, int timeout_ms);

/* GET path with "Connection: close" and optional extra header lines (each ending in \r\n). */
int gt_get(int port, const char *path, const char *extra_headers, gt_response_t *r, int timeout_ms);

/* A response header's value (case-insensitive name), copied into buf; NULL when absent. */
const char *gt_header(const gt_response_t *r, const char *name, char *buf, size_t size);

/* Whether the peer closed fd (reads EOF within timeout_ms). */
bool gt_closed(int fd, int timeout_ms);

/*
 * Starts build/gateway/mentis-gateway with MENTIS_NATS_URL=nats_url, the public port,
 * the admin port and `extra_env` ("K=V", NULL-terminated, may be NULL), logging into
 * log_path, and waits until its public /healthz answers (10 s at most). The pid or -1.
 */
pid_t gt_start_gateway(const char *nats_url, int port, int admin_port, const char *const *extra_env,
                       const char *log_path);

/* As gt_start_gateway, for another build of it ("gateway/mentis-gateway-testroutes"). */
pid_t gt_start_gateway_binary(const char *rel, const char *nats_url, int port, int admin_port,
                              const char *const *extra_env, const char *log_path);

/* The path of a file built into the build directory ("gateway/mentis-gateway"). */
const char *gt_build_path(const char *rel, char *buf, size_t size);

#endif
