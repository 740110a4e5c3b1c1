/* Shared inside libs/bus only. */
#ifndef MENTIS_BUS_INTERNAL_H
#define MENTIS_BUS_INTERNAL_H

#include <pthread.h>

#include "mentis/bus.h"

/*
 * The end of an asynchronous subscription: nats.c may still be running its handler when
 * natsSubscription_Unsubscribe returns, so whoever frees what the handler uses first waits
 * for the subscription's on-complete callback (set with mentis__sub_done_watch).
 */
struct sub_done {
    pthread_mutex_t mu; /* protects done */
    pthread_cond_t cv;
    bool done;
};
/* Initialises d and registers it as sub's on-complete callback. */
natsStatus mentis__sub_done_watch(natsSubscription *sub, struct sub_done *d);
/* Waits up to timeout_ms for the last handler call to return; true when it has (then d's
 * mutex and condition variable are destroyed; otherwise they stay, as the call may come). */
bool mentis__sub_done_wait(struct sub_done *d, int timeout_ms);

/* The state of one asynchronous request (request.c). */
struct pending;

/* The request table: pending requests by id, their deadlines in a min-heap, a timer thread. */
struct requests {
    pthread_mutex_t mu; /* protects everything below */
    pthread_cond_t timer_cv;
    pthread_t timer;
    bool timer_started;
    bool stopping;
    uint64_t next_id;
    struct pending **buckets; /* hash chains by id */
    size_t nbuckets;
    size_t count; /* entries in the table, waiting or queued */
    struct pending **heap; /* waiting entries by deadline */
    size_t heap_len, heap_cap;
    char inbox_prefix[64]; /* "_INBOX.<nuid>"; replies come to "<prefix>.<id>" */
    natsSubscription *sub;
    struct sub_done sub_done;
};

/*
 * Loop mode (loop.c). nats.c tells us its socket (attach, and "stop reading" before it
 * closes it) and that it has something to write; whoever drives the socket — the bus's
 * own thread, or the owner's loop once attached — reads and writes through nats.c. Drivers
 * watch a duplicate of the socket, taken under `mu` while nats.c's descriptor is known to
 * be open, so a descriptor nats.c closes and the kernel reuses is never watched.
 */
struct bus_loop {
    pthread_mutex_t mu; /* protects everything below */
    int fd;             /* nats.c's socket, -1 while there is none */
    uint64_t fd_gen;    /* counts changes of fd */
    bool write_wanted;  /* nats.c has buffered bytes to write */
    bool attached;      /* the owner's loop drives the socket */
    mentis_bus_loop_t owner;
    pthread_t owner_thread;
    uint64_t owner_gen;  /* the fd_gen the owner last took */
    /* The bus's own driver, while no owner is attached. */
    pthread_t thread;
    bool thread_running;
    bool thread_stop;
    int wake_pipe[2];
};

mentis_status_t mentis__loop_init(mentis_bus_t *bus);
/* Sets the nats.c options of loop mode. */
natsStatus mentis__loop_options(mentis_bus_t *bus);
mentis_status_t mentis__loop_start(mentis_bus_t *bus);
/* Stops the bus's driver thread (the owner must have detached). */
void mentis__loop_stop(mentis_bus_t *bus);
void mentis__loop_fini(mentis_bus_t *bus);

struct mentis_bus {
    natsConnection *nc;
    natsOptions *opts;
    void (*on_state)(void *arg, bool connected);
    void *state_arg;
    pthread_mutex_t state_mu; /* protects connected; state_cv signals changes */
    pthread_cond_t state_cv;
    bool connected;
    bool closing; /* set by mentis_bus_close: the last disconnect is not news */
    bool closed;  /* the connection's last callback has run: the bus may be freed */
    bool loop_mode;
    struct requests req;
    struct bus_loop loop; /* loop mode only */
};

mentis_status_t mentis__bus_nats_status(natsStatus s, const char *what);
natsMsg *mentis__bus_msg_new(const char *subject, const char *reply, const mentis_header_t *hdrs,
                             size_t nh, const void *data, size_t len, mentis_status_t *st);

mentis_status_t mentis__requests_init(mentis_bus_t *bus);
void mentis__requests_fini(mentis_bus_t *bus);

/* dispatch.c: queues the completion of request `id` for dispatch->run. */
void mentis__dispatch_post(mentis_bus_dispatch_t *d, mentis_bus_t *bus, uint64_t id);
/* request.c: runs request `id`'s stored completion, unless it was cancelled. */
void mentis__requests_finish(mentis_bus_t *bus, uint64_t id);

#endif
