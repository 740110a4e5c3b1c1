/* The bus against a real nats-server: requests, errors, deadlines, dispatch, reconnects. */
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "check.h"
#include "harness.h"
#include "mentis/bus.h"

static h_nats_t nats;

static mentis_bus_t *connect_bus(const char *url)
{
    if (nats.pid == 0 && h_nats_start(&nats) != 0) /* one server for the whole file */
        return NULL;
    mentis_bus_options_t o = {.url = url, .name = "test", .reconnect_wait_ms = 50};
    mentis_bus_t *bus = NULL;
    if (mentis_bus_connect(&o, &bus) != MENTIS_OK)
        return NULL;
    return bus;
}

/* A responder: echoes the body with a prefix, copies Mentis-Request-Id back, and answers
 * subject "*.fail" with an error and "*.slow" after 300 ms. */
static mentis_bus_t *responder_bus;
static void echo(void *arg, mentis_msg_t *msg)
{
    (void)arg;
    const char *subject = mentis_msg_subject(msg);
    if (strstr(subject, ".fail")) {
        mentis_bus_reply_error(responder_bus, msg, NULL, 0, MENTIS_ERR_CONFLICT, "email_exists",
                               "that email is taken", NULL, 0);
    } else {
        if (strstr(subject, ".slow"))
            h_sleep_ms(300);
        char body[256];
        int n = snprintf(body, sizeof body, "echo:%.*s|deadline=%s", (int)mentis_msg_len(msg),
                         (const char *)mentis_msg_data(msg),
                         mentis_msg_header(msg, MENTIS_HDR_DEADLINE) ? "yes" : "no");
        mentis_header_t h[] = {{MENTIS_HDR_REQUEST_ID, mentis_msg_header(msg, MENTIS_HDR_REQUEST_ID)}};
        mentis_bus_reply(responder_bus, msg, h, 1, body, (size_t)n);
    }
    mentis_msg_destroy(msg);
}

static void test_sync_request_reply_and_error(void)
{
    mentis_bus_t *bus = connect_bus(nats.url);
    responder_bus = connect_bus(nats.url);
    REQUIRE(bus && responder_bus);
    REQUIRE(mentis_bus_wait_connected(bus, 5000) == MENTIS_OK);
    mentis_bus_sub_t *sub = NULL;
    REQUIRE(mentis_bus_subscribe(responder_bus, "t.echo.>", "echoers", echo, NULL, &sub) == MENTIS_OK);
    natsConnection_Flush(mentis_bus_nats(responder_bus));

    mentis_header_t h[] = {{MENTIS_HDR_REQUEST_ID, "req-42"}};
    mentis_msg_t *reply = NULL;
    REQUIRE(mentis_bus_request_sync(bus, "t.echo.a", h, 1, "hi", 2, 2000, &reply) == MENTIS_OK);
    CHECK(mentis_msg_len(reply) == strlen("echo:hi|deadline=yes"));
    CHECK(memcmp(mentis_msg_data(reply), "echo:hi|deadline=yes", mentis_msg_len(reply)) == 0);
    CHECK_STR(mentis_msg_header(reply, MENTIS_HDR_REQUEST_ID), "req-42");
    CHECK_INT(mentis_msg_error(reply, NULL, NULL), MENTIS_OK);
    mentis_msg_destroy(reply);

    REQUIRE(mentis_bus_request_sync(bus, "t.echo.fail", NULL, 0, "", 0, 2000, &reply) == MENTIS_OK);
    const char *code = NULL, *message = NULL;
    CHECK_INT(mentis_msg_error(reply, &code, &message), MENTIS_ERR_CONFLICT);
    CHECK_STR(code, "email_exists");
    CHECK_STR(message, "that email is taken");
    CHECK_STR(mentis_msg_header(reply, MENTIS_HDR_SVC_ERROR_CODE), "409");
    mentis_msg_destroy(reply);

    mentis_bus_unsubscribe(sub, true, 1000);
    mentis_bus_close(responder_bus);
    mentis_bus_close(bus);
}

static void test_no_responders_and_deadline(void)
{
    mentis_bus_t *bus = connect_bus(nats.url);
    responder_bus = connect_bus(nats.url);
    REQUIRE(bus && responder_bus && mentis_bus_wait_connected(bus, 5000) == MENTIS_OK);
    mentis_msg_t *reply = NULL;
    long long t0 = h_now_ms();
    CHECK_INT(mentis_bus_request_sync(bus, "t.nobody.home", NULL, 0, "x", 1, 3000, &reply),
              MENTIS_ERR_UNAVAILABLE);
    CHECK_MSG(h_now_ms() - t0 < 1000, "no responders took %lld ms", h_now_ms() - t0);

    mentis_bus_sub_t *sub = NULL;
    REQUIRE(mentis_bus_subscribe(responder_bus, "t.echo.>", NULL, echo, NULL, &sub) == MENTIS_OK);
    natsConnection_Flush(mentis_bus_nats(responder_bus));
    t0 = h_now_ms();
    CHECK_INT(mentis_bus_request_sync(bus, "t.echo.slow", NULL, 0, "x", 1, 100, &reply),
              MENTIS_ERR_DEADLINE_EXCEEDED);
    long long took = h_now_ms() - t0;
    CHECK_MSG(took >= 95 && took < 290, "deadline of 100 ms fired after %lld ms", took);
    /* A deadline already past is refused at once. */
    CHECK_INT(mentis_bus_request(bus, "t.echo.a", NULL, 0, "", 0, mentis_bus_now_ms() - 1, NULL,
                                 NULL, NULL, NULL),
              MENTIS_ERR_DEADLINE_EXCEEDED);
    mentis_bus_unsubscribe(sub, true, 1000);
    mentis_bus_close(responder_bus);
    mentis_bus_close(bus);
}

/* ---- dispatch queues ---- */

static atomic_int wakes;
static void on_wake(void *arg)
{
    (void)arg;
    atomic_fetch_add(&wakes, 1);
}

struct result {
    int calls;
    mentis_status_t st;
    pthread_t thread;
};

static void on_done(void *arg, mentis_status_t st, mentis_msg_t *reply)
{
    struct result *r = arg;
    r->calls++;
    r->st = st;
    r->thread = pthread_self();
    mentis_msg_destroy(reply);
}

static void test_dispatch_runs_on_owner_thread_and_cancel(void)
{
    mentis_bus_t *bus = connect_bus(nats.url);
    responder_bus = connect_bus(nats.url);
    REQUIRE(bus && responder_bus && mentis_bus_wait_connected(bus, 5000) == MENTIS_OK);
    mentis_bus_sub_t *sub = NULL;
    REQUIRE(mentis_bus_subscribe(responder_bus, "t.echo.>", NULL, echo, NULL, &sub) == MENTIS_OK);
    natsConnection_Flush(mentis_bus_nats(responder_bus));
    mentis_bus_dispatch_t *d = NULL;
    REQUIRE(mentis_bus_dispatch_create(on_wake, NULL, &d) == MENTIS_OK);

    struct result a = {0}, b = {0}, c = {0};
    uint64_t id_b = 0;
    int64_t deadline = mentis_bus_now_ms() + 2000;
    REQUIRE(mentis_bus_request(bus, "t.echo.a", NULL, 0, "a", 1, deadline, d, on_done, &a, NULL) == MENTIS_OK);
    REQUIRE(mentis_bus_request(bus, "t.echo.b", NULL, 0, "b", 1, deadline, d, on_done, &b, &id_b) == MENTIS_OK);
    REQUIRE(mentis_bus_request(bus, "t.nobody", NULL, 0, "c", 1, deadline, d, on_done, &c, NULL) == MENTIS_OK);
    /* Wait until all three are answered and queued, without running them. */
    for (int i = 0; i < 200 && atomic_load(&wakes) == 0; i++)
        h_sleep_ms(10);
    h_sleep_ms(200);
    CHECK(atomic_load(&wakes) >= 1);
    CHECK_INT(a.calls + b.calls + c.calls, 0); /* nothing ran on a bus thread */
    CHECK(mentis_bus_request_cancel(bus, id_b)); /* answered and queued, not yet run */
    CHECK(!mentis_bus_request_cancel(bus, id_b));
    size_t ran = mentis_bus_dispatch_run(d);
    CHECK_INT(ran, 3); /* three items; the cancelled one found nothing */
    CHECK_INT(a.calls, 1);
    CHECK_INT(a.st, MENTIS_OK);
    CHECK(pthread_equal(a.thread, pthread_self()));
    CHECK_INT(b.calls, 0);
    CHECK_INT(c.calls, 1);
    CHECK_INT(c.st, MENTIS_ERR_UNAVAILABLE);
    CHECK_INT(mentis_bus_pending(bus), 0);

    mentis_bus_unsubscribe(sub, true, 1000);
    mentis_bus_close(responder_bus);
    mentis_bus_close(bus);
    mentis_bus_dispatch_destroy(d);
}

static atomic_int many_done;
static void count_done(void *arg, mentis_status_t st, mentis_msg_t *reply)
{
    (void)arg;
    if (st == MENTIS_OK)
        atomic_fetch_add(&many_done, 1);
    mentis_msg_destroy(reply);
}

static void test_many_concurrent_and_queue_group(void)
{
    mentis_bus_t *bus = connect_bus(nats.url);
    responder_bus = connect_bus(nats.url);
    REQUIRE(bus && responder_bus && mentis_bus_wait_connected(bus, 5000) == MENTIS_OK);
    mentis_bus_sub_t *s1 = NULL, *s2 = NULL;
    REQUIRE(mentis_bus_subscribe(responder_bus, "t.echo.>", "g", echo, NULL, &s1) == MENTIS_OK);
    REQUIRE(mentis_bus_subscribe(responder_bus, "t.echo.>", "g", echo, NULL, &s2) == MENTIS_OK);
    natsConnection_Flush(mentis_bus_nats(responder_bus));
    atomic_store(&many_done, 0);
    for (int i = 0; i < 2000; i++)
        REQUIRE(mentis_bus_request(bus, "t.echo.n", NULL, 0, "n", 1, mentis_bus_now_ms() + 10000,
                                   NULL, count_done, NULL, NULL) == MENTIS_OK);
    for (int i = 0; i < 500 && atomic_load(&many_done) < 2000; i++)
        h_sleep_ms(10);
    /* Exactly one reply each: a queue group delivers every message to one member only. */
    h_sleep_ms(100);
    CHECK_INT(atomic_load(&many_done), 2000);
    CHECK_INT(mentis_bus_pending(bus), 0);
    mentis_bus_unsubscribe(s1, false, 0);
    mentis_bus_unsubscribe(s2, false, 0);
    mentis_bus_close(responder_bus);
    mentis_bus_close(bus);
}

static atomic_int events_seen;
static void on_event(void *arg, mentis_msg_t *msg)
{
    (void)arg;
    atomic_fetch_add(&events_seen, 1);
    mentis_msg_destroy(msg);
}

static void test_nats_down_at_start_and_restart(void)
{
    h_nats_t n2 = {0};
    REQUIRE(h_nats_start(&n2) == 0);
    REQUIRE(h_nats_kill(&n2) == 0);
    /* Connecting while the server is down succeeds; the bus keeps trying. */
    mentis_bus_t *bus = connect_bus(n2.url);
    REQUIRE(bus != NULL);
    CHECK(!mentis_bus_connected(bus));
    CHECK_INT(mentis_bus_wait_connected(bus, 100), MENTIS_ERR_UNAVAILABLE);
    CHECK_INT(mentis_bus_request(bus, "t.x", NULL, 0, "", 0, mentis_bus_now_ms() + 1000, NULL,
                                 count_done, NULL, NULL),
              MENTIS_ERR_UNAVAILABLE);
    REQUIRE(h_nats_restart(&n2) == 0);
    CHECK_INT(mentis_bus_wait_connected(bus, 10000), MENTIS_OK);

    /* A subscription survives a server crash and restart. */
    mentis_bus_sub_t *sub = NULL;
    atomic_store(&events_seen, 0);
    REQUIRE(mentis_bus_subscribe(bus, "t.evt", NULL, on_event, NULL, &sub) == MENTIS_OK);
    REQUIRE(h_nats_kill(&n2) == 0);
    for (int i = 0; i < 100 && mentis_bus_connected(bus); i++)
        h_sleep_ms(10);
    CHECK(!mentis_bus_connected(bus));
    /* Published while down: buffered, sent after the reconnect. */
    CHECK_INT(mentis_bus_publish(bus, "t.evt", NULL, NULL, 0, "buffered", 8), MENTIS_OK);
    REQUIRE(h_nats_restart(&n2) == 0);
    CHECK_INT(mentis_bus_wait_connected(bus, 10000), MENTIS_OK);
    for (int i = 0; i < 300 && atomic_load(&events_seen) < 1; i++)
        h_sleep_ms(10);
    CHECK_INT(mentis_bus_publish(bus, "t.evt", NULL, NULL, 0, "after", 5), MENTIS_OK);
    for (int i = 0; i < 300 && atomic_load(&events_seen) < 2; i++)
        h_sleep_ms(10);
    CHECK_INT(atomic_load(&events_seen), 2);
    mentis_bus_unsubscribe(sub, false, 0);
    mentis_bus_close(bus);
    h_nats_stop(&n2);
}

TEST_MAIN(test_sync_request_reply_and_error, test_no_responders_and_deadline,
          test_dispatch_runs_on_owner_thread_and_cancel, test_many_concurrent_and_queue_group,
          test_nats_down_at_start_and_restart)
