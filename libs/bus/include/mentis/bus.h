/*
 * The bus: mentis's one way onto NATS.
 *
 * - Connecting never gives up: the connection retries at start and reconnects for ever,
 *   buffering what is published meanwhile (up to a bound), so a NATS restart is a pause,
 *   not an outage.
 * - Requests are asynchronous: mentis_bus_request publishes with a reply inbox and
 *   returns at once; the reply, a deadline or "no responders" completes it later through a
 *   callback. Give it a dispatch queue and completions run on your own thread (an event
 *   loop), woken by your wake function; without one they run on the bus's threads.
 * - Replies and errors follow the architecture: an error reply carries
 *   Nats-Service-Error-Code (HTTP status), Nats-Service-Error (human message) and
 *   Mentis-Error-Code (machine code), with an optional protobuf body (mentis.v1.ErrorDetail).
 *
 * All functions are thread-safe unless noted.
 */
#ifndef MENTIS_BUS_H
#define MENTIS_BUS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <nats/nats.h>

#include "mentis/status.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Header names, as the architecture page fixes them. */
#define MENTIS_HDR_REQUEST_ID "Mentis-Request-Id"
#define MENTIS_HDR_TENANT     "Mentis-Tenant"
#define MENTIS_HDR_PRINCIPAL  "Mentis-Principal"
#define MENTIS_HDR_ROLES      "Mentis-Roles"
#define MENTIS_HDR_SESSION    "Mentis-Session"
/* Set by the gateway only, from the verified credentials and the connection. */
#define MENTIS_HDR_DEVICE     "Mentis-Device"
#define MENTIS_HDR_EMAIL      "Mentis-Email"
#define MENTIS_HDR_CLIENT_IP  "Mentis-Client-Ip"
#define MENTIS_HDR_USER_AGENT "Mentis-User-Agent"
#define MENTIS_HDR_DEADLINE   "Mentis-Deadline" /* absolute, ms since the Unix epoch */
#define MENTIS_HDR_TRACEPARENT "traceparent"
#define MENTIS_HDR_ERROR_CODE "Mentis-Error-Code"
#define MENTIS_HDR_SVC_ERROR  "Nats-Service-Error"
#define MENTIS_HDR_SVC_ERROR_CODE "Nats-Service-Error-Code"

/* The subject prefix of every request and event. */
#define MENTIS_SUBJECT_PREFIX "mentis.v1."

typedef struct mentis_bus mentis_bus_t;
typedef struct mentis_bus_sub mentis_bus_sub_t;
typedef struct mentis_bus_dispatch mentis_bus_dispatch_t;

/* A received message. It is a natsMsg; use the accessors below. */
typedef natsMsg mentis_msg_t;

/* One message header. */
typedef struct {
    const char *key;
    const char *value;
} mentis_header_t;

typedef struct {
    const char *url;          /* "nats://127.0.0.1:4222"; a comma-separated list is fine */
    const char *name;         /* connection name shown by the server, e.g. "mentis-kb" */
    const char *user;         /* optional credentials */
    const char *password;
    const char *token;
    int reconnect_buffer_bytes; /* bytes kept while disconnected; 0 → 8 MiB */
    int reconnect_wait_ms;      /* pause between attempts; 0 → 250 ms */
    /* Called (on a bus thread) when the connection goes up or down; may be NULL. */
    void (*on_state)(void *arg, bool connected);
    void *state_arg;
    /* Loop mode: the socket is driven by an event loop (see "Loop mode" below) instead of
     * nats.c's reader thread. */
    bool loop_mode;
} mentis_bus_options_t;

/*
 * Connects. Succeeds even when the server is not up yet (the bus keeps trying); check
 * mentis_bus_connected or wait with mentis_bus_wait_connected. *out is written only on
 * success; close with mentis_bus_close.
 */
mentis_status_t mentis_bus_connect(const mentis_bus_options_t *opts, mentis_bus_t **out);

/*
 * Flushes what was published, closes the connection and frees the bus. Requests still
 * pending are dropped: their callbacks do not run. Close the bus before destroying the
 * dispatch queues its requests used, and run no dispatch queue after. NULL is a no-op.
 * Never call it from a bus callback.
 */
void mentis_bus_close(mentis_bus_t *bus);

/* Whether the connection is up right now. */
bool mentis_bus_connected(mentis_bus_t *bus);

/* Waits up to timeout_ms for the connection to be up; MENTIS_ERR_UNAVAILABLE if it is not. */
mentis_status_t mentis_bus_wait_connected(mentis_bus_t *bus, int timeout_ms);

/* The nats.c connection, for what the bus does not wrap (JetStream). Owned by the bus. */
natsConnection *mentis_bus_nats(mentis_bus_t *bus);

/* Writes a new unique inbox subject into buf. */
mentis_status_t mentis_bus_new_inbox(mentis_bus_t *bus, char *buf, size_t size);

/* ---- Subscriptions ---- */

/* Receives one message; the callback owns msg and frees it with mentis_msg_destroy. */
typedef void (*mentis_bus_msg_fn)(void *arg, mentis_msg_t *msg);

/*
 * Subscribes to `subject` (wildcards allowed), in queue group `queue` when not NULL.
 * Messages are delivered on a bus thread, one at a time per subscription.
 * *out is written only on success; end with mentis_bus_unsubscribe.
 */
mentis_status_t mentis_bus_subscribe(mentis_bus_t *bus, const char *subject, const char *queue,
                                     mentis_bus_msg_fn fn, void *arg, mentis_bus_sub_t **out);

/*
 * Stops delivery. With drain, messages already received are delivered first and this
 * waits for them (up to timeout_ms). Frees sub; NULL is a no-op. Not from its own callback.
 */
void mentis_bus_unsubscribe(mentis_bus_sub_t *sub, bool drain, int timeout_ms);

/* ---- Publishing ---- */

/* Publishes `data` (may be NULL with len 0) with `nh` headers; `reply` may be NULL. */
mentis_status_t mentis_bus_publish(mentis_bus_t *bus, const char *subject, const char *reply,
                                   const mentis_header_t *hdrs, size_t nh, const void *data,
                                   size_t len);

/* Answers a request: publishes on its reply subject. A request without one is ignored. */
mentis_status_t mentis_bus_reply(mentis_bus_t *bus, const mentis_msg_t *req,
                                 const mentis_header_t *hdrs, size_t nh, const void *data,
                                 size_t len);

/*
 * Answers a request with an error: the three error headers from `st`, `code` (NULL for the
 * status's own) and `message`, plus `hdrs`, and an optional body (an encoded
 * mentis.v1.ErrorDetail, or NULL).
 */
mentis_status_t mentis_bus_reply_error(mentis_bus_t *bus, const mentis_msg_t *req,
                                       const mentis_header_t *hdrs, size_t nh, mentis_status_t st,
                                       const char *code, const char *message, const void *body,
                                       size_t body_len);

/* ---- Asynchronous requests ---- */

/*
 * Completes a request. st is MENTIS_OK with the reply (which may itself be a service error:
 * see mentis_msg_error), MENTIS_ERR_DEADLINE_EXCEEDED when the deadline passed, or
 * MENTIS_ERR_UNAVAILABLE when nobody listens on the subject or the connection was lost.
 * reply is NULL unless st is MENTIS_OK; the callback owns it.
 */
typedef void (*mentis_bus_reply_fn)(void *arg, mentis_status_t st, mentis_msg_t *reply);

/*
 * Sends a request and returns at once. `deadline_ms` is absolute (ms since the Unix epoch,
 * see mentis_bus_now_ms) and is also sent as Mentis-Deadline. The callback runs exactly once
 * — unless the request is cancelled first — on `dispatch`'s thread when dispatch is not
 * NULL, else on a bus thread. *id_out (may be NULL) identifies it for cancelling.
 * When it cannot be sent — the connection is down right now, the deadline has passed —
 * returns the error (MENTIS_ERR_UNAVAILABLE, MENTIS_ERR_DEADLINE_EXCEEDED) and never calls cb.
 */
mentis_status_t mentis_bus_request(mentis_bus_t *bus, const char *subject,
                                   const mentis_header_t *hdrs, size_t nh, const void *data,
                                   size_t len, int64_t deadline_ms, mentis_bus_dispatch_t *dispatch,
                                   mentis_bus_reply_fn cb, void *arg, uint64_t *id_out);

/*
 * Cancels a pending request: its callback will not run after this returns, provided it is
 * called on the request's dispatch thread (or, without a dispatch queue, from anywhere
 * but the callback). Returns false when it had already completed.
 */
bool mentis_bus_request_cancel(mentis_bus_t *bus, uint64_t id);

/*
 * A blocking request, for tools and tests — never on an event loop. On MENTIS_OK *reply is
 * the answer (caller frees with mentis_msg_destroy).
 */
mentis_status_t mentis_bus_request_sync(mentis_bus_t *bus, const char *subject,
                                        const mentis_header_t *hdrs, size_t nh, const void *data,
                                        size_t len, int timeout_ms, mentis_msg_t **reply);

/* Requests waiting for an answer right now. */
size_t mentis_bus_pending(mentis_bus_t *bus);

/* ---- Dispatch queues: completions on your thread ---- */

/*
 * Creates a queue whose completions run in mentis_bus_dispatch_run. `wake` is called (from
 * any thread, possibly often) when the queue goes from empty to non-empty — e.g. a function
 * that calls lws_cancel_service(). *out is written only on success.
 */
mentis_status_t mentis_bus_dispatch_create(void (*wake)(void *arg), void *wake_arg,
                                           mentis_bus_dispatch_t **out);

/* Runs every queued completion on the calling thread; returns how many ran. */
size_t mentis_bus_dispatch_run(mentis_bus_dispatch_t *dispatch);

/*
 * Frees the queue; completions still queued are dropped. Close the bus first (or cancel
 * every request that uses this queue). NULL is a no-op.
 */
void mentis_bus_dispatch_destroy(mentis_bus_dispatch_t *dispatch);

/* ---- Loop mode: the NATS socket driven by the owner's event loop ---- */

/*
 * With mentis_bus_options_t.loop_mode, nats.c reads and writes the socket only when told
 * to. Until an owner loop attaches (and again after it detaches) a thread of the bus does
 * that; while one is attached, the owner's thread does, and then
 *   - what the owner publishes during one turn of its loop goes out in one write at the
 *     end of the turn (instead of one write, and one wake-up of nats-server, each);
 *   - the messages the owner destroys during a turn (the replies it used, the requests it
 *     sent) go to nats.c's collector together at the end of the turn;
 *   - the socket is read on the owner's thread (nats.c has no reader thread).
 * Messages, request replies included, are still delivered by nats.c's delivery thread
 * (onto the request's dispatch queue, which wakes the owner): a synchronous subscription
 * read on the owner's thread would lose "no responders" (nats.c drops its subject).
 * One owner loop per thread.
 *
 * The owner's loop, on its own thread, at every turn:
 *   - watches the descriptor given by mentis_bus_loop_socket (asked once per turn; it
 *     changes on reconnection) and calls mentis_bus_loop_read when it is readable;
 *   - calls mentis_bus_loop_write before it sleeps, and again when the descriptor is
 *     writable while that returned true.
 * `wake` is called from any other thread (with nats.c's connection locked: it must only
 * note the call and wake the loop) when the socket changed or something waits to be
 * written; what the owner's own thread causes, it finds at its next turn.
 */
typedef struct {
    void (*wake)(void *arg);
    void *arg;
} mentis_bus_loop_t;

/* The owner's loop takes over the socket from the bus's thread (called on its thread). */
mentis_status_t mentis_bus_loop_attach(mentis_bus_t *bus, const mentis_bus_loop_t *loop);

/* The owner's loop gives the socket back to a bus thread, e.g. before it ends (on its
 * thread; close its descriptor too). Close the bus only after this. */
void mentis_bus_loop_detach(mentis_bus_t *bus);

/*
 * When the socket changed since the last call: true, with *fd a duplicate of the new one
 * (the caller owns it: close it on the next change) or -1 while there is none. False when
 * nothing changed. Owner thread.
 */
bool mentis_bus_loop_socket(mentis_bus_t *bus, int *fd);

/* The descriptor is readable: reads once and hands what came to nats.c. Owner thread. */
void mentis_bus_loop_read(mentis_bus_t *bus);

/* The end of a turn: writes what is buffered, then destroys the messages the turn left
 * (mentis_bus_batch_begin). True when some is left to write: call again once the
 * descriptor is writable. Cheap when nothing is buffered. Owner thread. */
bool mentis_bus_loop_write(mentis_bus_t *bus);

/* ---- Messages ---- */

const char *mentis_msg_subject(const mentis_msg_t *msg);
const char *mentis_msg_reply(const mentis_msg_t *msg); /* NULL when none */
const void *mentis_msg_data(const mentis_msg_t *msg);
size_t mentis_msg_len(const mentis_msg_t *msg);
/* A header's first value, NULL when absent. Valid while msg lives. */
const char *mentis_msg_header(const mentis_msg_t *msg, const char *key);
/*
 * MENTIS_OK for a normal reply; for an error reply its status, with *code (machine code)
 * and *message (may be NULL) pointing into msg.
 */
mentis_status_t mentis_msg_error(const mentis_msg_t *msg, const char **code, const char **message);
void mentis_msg_destroy(mentis_msg_t *msg);

/*
 * Destroying messages in batches. nats.c frees every message on a collector thread of its
 * own, which it wakes when idle: a futex call and two context switches per message, and a
 * request makes two (the one sent, the reply). Between mentis_bus_batch_begin and
 * mentis_bus_batch_end, the messages this thread destroys (mentis_msg_destroy, and the
 * one each publish builds) are kept and destroyed together at the end, or whenever 64
 * have piled up. For a run of work on one thread: a turn of an event loop (an owner loop
 * attached in loop mode gets this for every turn), a worker's run of messages. End it
 * before the thread sleeps for long or exits. Calls do not nest.
 */
void mentis_bus_batch_begin(void);
void mentis_bus_batch_end(void);

/* Milliseconds since the Unix epoch (the clock of Mentis-Deadline). */
int64_t mentis_bus_now_ms(void);

#ifdef __cplusplus
}
#endif
#endif
