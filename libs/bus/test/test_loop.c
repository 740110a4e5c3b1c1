/*
 * Loop mode against a real nats-server: the bus's own thread drives the socket until an
 * owner loop (here a poll(2) loop on the test's thread) attaches; requests sent during a
 * turn leave together and complete on the owner's thread; "no responders" still answers;
 * a NATS restart hands the owner a new socket; after detaching, the bus's thread drives
 * again and the bus closes cleanly.
 */
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "check.h"
#include "harness.h"
#include "mentis/bus.h"

static h_nats_t nats;

static mentis_bus_t *connect_bus(bool loop_mode)
{
    mentis_bus_options_t o = {.url = nats.url, .name = "test-loop", .reconnect_wait_ms = 50,
                              .loop_mode = loop_mode};
    mentis_bus_t *bus = NULL;
    if (mentis_bus_connect(&o, &bus) != MENTIS_OK)
        return NULL;
    if (mentis_bus_wait_connected(bus, 5000) != MENTIS_OK) {
        mentis_bus_close(bus);
        return NULL;
    }
    return bus;
}

/* The responder, on a bus in the usual mode: echoes the body with a prefix. */
static mentis_bus_t *responder_bus;
static void echo(void *arg, mentis_msg_t *msg)
{
    (void)arg;
    char body[128];
    int n = snprintf(body, sizeof body, "echo:%.*s", (int)mentis_msg_len(msg),
                     (const char *)mentis_msg_data(msg));
    mentis_bus_reply(responder_bus, msg, NULL, 0, body, (size_t)n);
    mentis_msg_destroy(msg);
}

/* ---- the owner's loop ---- */

struct owner {
    mentis_bus_t *bus;
    mentis_bus_dispatch_t *dispatch;
    int wake_pipe[2];
    int fd;             /* the socket's duplicate the bus gave us, or -1 */
    int sockets_seen;   /* descriptors handed over (a reconnection brings one more) */
};

static void owner_wake(void *arg)
{
    struct owner *o = arg;
    char c = 1;
    ssize_t n = write(o->wake_pipe[1], &c, 1);
    (void)n;
}

static void owner_init(struct owner *o, mentis_bus_t *bus)
{
    memset(o, 0, sizeof *o);
    o->bus = bus;
    o->fd = -1;
    REQUIRE(pipe(o->wake_pipe) == 0);
    for (int i = 0; i < 2; i++)
        fcntl(o->wake_pipe[i], F_SETFL, O_NONBLOCK);
    REQUIRE(mentis_bus_dispatch_create(owner_wake, o, &o->dispatch) == MENTIS_OK);
    mentis_bus_loop_t loop = {owner_wake, o};
    REQUIRE(mentis_bus_loop_attach(bus, &loop) == MENTIS_OK);
}

/* One turn: the socket, what to write, a sleep of up to 50 ms, what came. */
static void owner_turn(struct owner *o)
{
    int fd = -1;
    if (mentis_bus_loop_socket(o->bus, &fd)) {
        if (o->fd >= 0)
            close(o->fd);
        o->fd = fd;
        if (fd >= 0)
            o->sockets_seen++;
    }
    bool more = mentis_bus_loop_write(o->bus);
    struct pollfd p[2] = {{o->wake_pipe[0], POLLIN, 0},
                          {o->fd, (short)(POLLIN | (more ? POLLOUT : 0)), 0}};
    if (poll(p, o->fd >= 0 ? 2 : 1, 50) > 0) {
        char buf[64];
        if (p[0].revents & POLLIN)
            while (read(o->wake_pipe[0], buf, sizeof buf) > 0)
                ;
        if (o->fd >= 0 && (p[1].revents & (POLLIN | POLLHUP | POLLERR)))
            mentis_bus_loop_read(o->bus);
    }
    mentis_bus_dispatch_run(o->dispatch);
}

static void owner_detach(struct owner *o)
{
    if (o->fd >= 0)
        close(o->fd);
    o->fd = -1;
    mentis_bus_loop_detach(o->bus);
}

static void owner_fini(struct owner *o)
{
    mentis_bus_dispatch_destroy(o->dispatch);
    close(o->wake_pipe[0]);
    close(o->wake_pipe[1]);
}

struct call {
    int done;
    mentis_status_t st;
    char body[64];
    pthread_t thread;
};

static void on_done(void *arg, mentis_status_t st, mentis_msg_t *reply)
{
    struct call *c = arg;
    c->done++;
    c->st = st;
    c->thread = pthread_self();
    if (reply != NULL)
        snprintf(c->body, sizeof c->body, "%.*s", (int)mentis_msg_len(reply),
                 (const char *)mentis_msg_data(reply));
    mentis_msg_destroy(reply);
}

/* Turns the loop until every call is done, for at most about ten seconds. */
static bool run_until_done(struct owner *o, struct call *calls, int n)
{
    for (int turn = 0; turn < 200; turn++) {
        int done = 0;
        for (int i = 0; i < n; i++)
            done += calls[i].done;
        if (done == n)
            return true;
        owner_turn(o);
    }
    return false;
}

enum { N = 50 };

static void test_requests_through_the_owner_loop(void)
{
    REQUIRE(h_nats_start(&nats) == 0);
    mentis_bus_t *bus = connect_bus(true);
    responder_bus = connect_bus(false);
    REQUIRE(bus != NULL && responder_bus != NULL);
    mentis_bus_sub_t *sub = NULL;
    REQUIRE(mentis_bus_subscribe(responder_bus, "t.loop.>", "echoers", echo, NULL, &sub) ==
            MENTIS_OK);
    natsConnection_Flush(mentis_bus_nats(responder_bus));

    /* Before any owner: the bus's own thread drives the socket, so blocking calls work. */
    mentis_msg_t *reply = NULL;
    REQUIRE(mentis_bus_request_sync(bus, "t.loop.a", NULL, 0, "one", 3, 5000, &reply) == MENTIS_OK);
    CHECK(mentis_msg_len(reply) == 8 && memcmp(mentis_msg_data(reply), "echo:one", 8) == 0);
    mentis_msg_destroy(reply);

    struct owner o;
    owner_init(&o, bus);
    /* Fifty requests in one turn: they leave together at the end of it. */
    static struct call calls[N];
    memset(calls, 0, sizeof calls);
    for (int i = 0; i < N; i++) {
        char body[16];
        int n = snprintf(body, sizeof body, "r%d", i);
        REQUIRE(mentis_bus_request(bus, "t.loop.b", NULL, 0, body, (size_t)n,
                                   mentis_bus_now_ms() + 10000, o.dispatch, on_done, &calls[i],
                                   NULL) == MENTIS_OK);
    }
    REQUIRE(run_until_done(&o, calls, N));
    CHECK_INT(o.sockets_seen, 1);
    for (int i = 0; i < N; i++) {
        char want[24];
        snprintf(want, sizeof want, "echo:r%d", i);
        CHECK_INT(calls[i].done, 1);
        CHECK_INT(calls[i].st, MENTIS_OK);
        CHECK_STR(calls[i].body, want);
        CHECK(pthread_equal(calls[i].thread, pthread_self()));
    }

    /* Nobody on the subject: "no responders" still completes the request. */
    struct call nobody = {0};
    REQUIRE(mentis_bus_request(bus, "t.nobody.home", NULL, 0, "x", 1, mentis_bus_now_ms() + 10000,
                               o.dispatch, on_done, &nobody, NULL) == MENTIS_OK);
    REQUIRE(run_until_done(&o, &nobody, 1));
    CHECK_INT(nobody.st, MENTIS_ERR_UNAVAILABLE);

    /* NATS goes away and comes back: the owner is handed the new socket and requests
     * flow again (the deadline is long: the first ones may wait for the reconnection). */
    REQUIRE(h_nats_restart(&nats) == 0);
    bool again = false;
    for (int attempt = 0; attempt < 50 && !again; attempt++) {
        struct call c = {0};
        if (mentis_bus_request(bus, "t.loop.c", NULL, 0, "back", 4, mentis_bus_now_ms() + 2000,
                               o.dispatch, on_done, &c, NULL) != MENTIS_OK) {
            owner_turn(&o); /* not connected yet */
            continue;
        }
        REQUIRE(run_until_done(&o, &c, 1));
        again = c.st == MENTIS_OK && strcmp(c.body, "echo:back") == 0;
    }
    CHECK(again);
    CHECK(o.sockets_seen >= 2);

    /* Detached, the bus's thread drives again: a blocking request works, then close. */
    owner_detach(&o);
    REQUIRE(mentis_bus_request_sync(bus, "t.loop.d", NULL, 0, "two", 3, 5000, &reply) == MENTIS_OK);
    CHECK(mentis_msg_len(reply) == 8 && memcmp(mentis_msg_data(reply), "echo:two", 8) == 0);
    mentis_msg_destroy(reply);

    mentis_bus_unsubscribe(sub, true, 1000);
    mentis_bus_close(bus);
    owner_fini(&o);
    mentis_bus_close(responder_bus);
    h_nats_stop(&nats);
}

static void test_attach_needs_loop_mode(void)
{
    memset(&nats, 0, sizeof nats);
    REQUIRE(h_nats_start(&nats) == 0);
    mentis_bus_t *bus = connect_bus(false);
    REQUIRE(bus != NULL);
    mentis_bus_loop_t loop = {owner_wake, NULL};
    CHECK_INT(mentis_bus_loop_attach(bus, &loop), MENTIS_ERR_INVALID_ARGUMENT);
    mentis_bus_close(bus);
    h_nats_stop(&nats);
}

TEST_MAIN(test_requests_through_the_owner_loop, test_attach_needs_loop_mode)
