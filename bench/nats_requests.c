/*
 * mentis-bench-nats: the reference for the gateway benchmark (bench/gateway.py). It makes
 * the request the gateway makes for an authenticated route (GET /api/auth/session, subject
 * mentis.v1.auth.whoami, or with -s mentis.v1.auth.me.get GET /api/auth/me), straight on
 * NATS, so the difference between the two is what the HTTP edge costs.
 *
 *   mentis-bench-nats register <nats-url> <email> <password>
 *       Creates an account over mentis.v1.auth.register and prints, one per line,
 *       user_id=, tenant_id= and access_token= (the session id is inside the token).
 *
 *   mentis-bench-nats load <nats-url> <tenant> <user> <session> [-e email] [-s subject]
 *                          [-c in-flight] [-d seconds] [-w warm-up seconds]
 *       Keeps `-c` requests (default 50) in flight on the subject for the warm-up
 *       and then for the measured time, and prints key=value lines: requests, errors,
 *       seconds, rps, p50_ms, p90_ms, p99_ms, max_ms, reply_bytes.
 *
 * Why it is a fair reference: it goes through libs/bus exactly as the gateway does (one
 * connection with the same options, in loop mode driven by one owner thread's poll(2)
 * loop as the gateway's lws thread drives it, asynchronous requests with a deadline,
 * completions on a dispatch queue run by that thread, which then sends the next request;
 * what one turn sends leaves in one write, as in the gateway), sends the
 * same headers (those of a token without a device, from a client that sends no
 * User-Agent, as wrk does) with a fresh request id and traceparent each time and the same empty
 * MeRequest. Latency is taken from just before the send to the completion on the owner
 * thread, as wrk takes it from the write to the last byte read.
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <poll.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "mentis/bus.h"
#include "mentis/crypto.h"
#include "mentis/v1/auth.pb-c.h"

#define SUBJECT_ME    "mentis.v1.auth.me.get"
static const char *SUBJECT = "mentis.v1.auth.whoami"; /* -s */
#define DEADLINE_MS   5000 /* the gateway's default route timeout */
#define MAX_IN_FLIGHT 1024
#define DRAIN_WAIT_NS (6 * 1000000000LL)
#define MAX_SAMPLES   ((size_t)1 << 26) /* 256 MiB of latencies: hours at this machine's rates */

static int64_t now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

static mentis_bus_t *connect_bus(const char *url)
{
    /* Loop mode, as the gateway: until run_load attaches its loop, a bus thread drives it. */
    mentis_bus_options_t o = {.url = url, .name = "mentis-bench-nats", .loop_mode = true};
    mentis_bus_t *bus = NULL;
    if (mentis_bus_connect(&o, &bus) != MENTIS_OK) {
        fprintf(stderr, "mentis-bench-nats: %s\n", mentis_err_msg());
        return NULL;
    }
    if (mentis_bus_wait_connected(bus, 5000) != MENTIS_OK) {
        fprintf(stderr, "mentis-bench-nats: NATS at %s not reachable\n", url);
        mentis_bus_close(bus);
        return NULL;
    }
    return bus;
}

/* ---- register ---------------------------------------------------------------------- */

static int run_register(const char *url, const char *email, const char *password)
{
    mentis_bus_t *bus = connect_bus(url);
    if (bus == NULL)
        return 1;
    int rc = 1;
    Mentis__V1__Auth__RegisterRequest r;
    mentis__v1__auth__register_request__init(&r);
    r.email = (char *)(uintptr_t)email;
    r.password = (char *)(uintptr_t)password;
    r.display_name = (char *)(uintptr_t) "Bench";
    uint8_t buf[1024];
    if (protobuf_c_message_get_packed_size(&r.base) > sizeof buf) {
        fprintf(stderr, "mentis-bench-nats: email or password too long\n");
        goto out;
    }
    size_t n = protobuf_c_message_pack(&r.base, buf);
    mentis_msg_t *reply = NULL;
    if (mentis_bus_request_sync(bus, "mentis.v1.auth.register", NULL, 0, buf, n, 30000, &reply) !=
        MENTIS_OK) {
        fprintf(stderr, "mentis-bench-nats: register: %s\n", mentis_err_msg());
        goto out;
    }
    const char *code = NULL, *message = NULL;
    mentis_status_t st = mentis_msg_error(reply, &code, &message);
    Mentis__V1__Auth__RegisterResponse *resp = NULL;
    if (st == MENTIS_OK)
        resp = mentis__v1__auth__register_response__unpack(NULL, mentis_msg_len(reply),
                                                           mentis_msg_data(reply));
    if (st != MENTIS_OK || resp == NULL || resp->user == NULL || resp->tokens == NULL) {
        fprintf(stderr, "mentis-bench-nats: register refused: %s (%s)\n",
                code ? code : mentis_status_str(st), message ? message : "no valid reply");
    } else {
        printf("user_id=%s\ntenant_id=%s\naccess_token=%s\n", resp->user->id, resp->user->tenant_id,
               resp->tokens->access_token);
        rc = 0;
    }
    if (resp)
        mentis__v1__auth__register_response__free_unpacked(resp, NULL);
    mentis_msg_destroy(reply);
out:
    mentis_bus_close(bus);
    return rc;
}

/* ---- load -------------------------------------------------------------------------- */

struct identity {
    const char *tenant, *user, *session, *email; /* email: "" when the token has none */
};

struct load {
    mentis_bus_t *bus;
    mentis_bus_dispatch_t *dispatch;
    struct identity who;
    int wake_pipe[2]; /* written by wake (any thread), read by the owner loop */
    int64_t measure_from_ns, end_ns; /* completions in [measure_from, end) count */
    int in_flight;
    uint64_t errors, send_failures;
    uint32_t *lat_us; /* latencies of counted completions; grows by doubling */
    size_t n_lat, cap_lat;
    bool out_of_memory; /* or past MAX_SAMPLES */
};

struct slot {
    struct load *load;
    int64_t sent_ns;
};

/* The dispatch queue's and the bus loop's wake: any thread. */
static void wake(void *arg)
{
    struct load *l = arg;
    char c = 1;
    ssize_t n = write(l->wake_pipe[1], &c, 1);
    (void)n; /* full: a wake is pending anyway */
}

static void on_reply(void *arg, mentis_status_t st, mentis_msg_t *reply);

/* Sends one request for `s`, with the headers the gateway sends for a client route. */
static bool send_one(struct slot *s)
{
    struct load *l = s->load;
    char request_id[37], traceparent[56];
    uint8_t rnd[24];
    mentis_crypto_uuid_v7(request_id);
    mentis_crypto_random(rnd, sizeof rnd);
    rnd[0] |= 1; /* never the all-zero (invalid) trace id */
    rnd[16] |= 1;
    memcpy(traceparent, "00-", 3);
    mentis_crypto_hex(rnd, 16, traceparent + 3);
    traceparent[35] = '-';
    mentis_crypto_hex(rnd + 16, 8, traceparent + 36);
    memcpy(traceparent + 52, "-01", 4);
    mentis_header_t hdrs[] = {
        {MENTIS_HDR_REQUEST_ID, request_id},  {MENTIS_HDR_TRACEPARENT, traceparent},
        {MENTIS_HDR_CLIENT_IP, "127.0.0.1"},  {MENTIS_HDR_TENANT, l->who.tenant},
        {MENTIS_HDR_PRINCIPAL, l->who.user},  {MENTIS_HDR_ROLES, "user"},
        {MENTIS_HDR_SESSION, l->who.session}, {MENTIS_HDR_EMAIL, l->who.email},
    };
    size_t nh = sizeof hdrs / sizeof hdrs[0] - (l->who.email[0] == '\0'); /* email is last */
    s->sent_ns = now_ns();
    mentis_status_t st =
        mentis_bus_request(l->bus, SUBJECT, hdrs, nh, NULL, 0, mentis_bus_now_ms() + DEADLINE_MS,
                           l->dispatch, on_reply, s, NULL);
    if (st != MENTIS_OK) {
        l->send_failures++;
        return false;
    }
    l->in_flight++;
    return true;
}

static void record(struct load *l, uint32_t us)
{
    if (l->n_lat == l->cap_lat) {
        size_t cap = l->cap_lat ? l->cap_lat * 2 : 1 << 16;
        uint32_t *p = cap <= MAX_SAMPLES ? realloc(l->lat_us, cap * sizeof *p) : NULL;
        if (p == NULL) {
            l->out_of_memory = true;
            return;
        }
        l->lat_us = p;
        l->cap_lat = cap;
    }
    l->lat_us[l->n_lat++] = us;
}

/* Runs on the owner thread (mentis_bus_dispatch_run), like the gateway's completions. */
static void on_reply(void *arg, mentis_status_t st, mentis_msg_t *reply)
{
    struct slot *s = arg;
    struct load *l = s->load;
    int64_t done = now_ns();
    l->in_flight--;
    bool ok = st == MENTIS_OK && mentis_msg_error(reply, NULL, NULL) == MENTIS_OK;
    mentis_msg_destroy(reply);
    if (done >= l->measure_from_ns && done < l->end_ns) {
        if (ok)
            record(l, (uint32_t)((done - s->sent_ns) / 1000));
        else
            l->errors++;
    }
    if (done < l->end_ns)
        send_one(s);
}

static int cmp_u32(const void *a, const void *b)
{
    uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;
    return (x > y) - (x < y);
}

static double percentile_ms(const uint32_t *sorted, size_t n, double p)
{
    if (n == 0)
        return 0;
    size_t i = (size_t)(p * (double)(n - 1) + 0.5);
    return sorted[i] / 1000.0;
}

/* One blocking request first: the subject answers, and answers this caller's account. */
static bool check_once(struct load *l, size_t *reply_bytes)
{
    mentis_header_t hdrs[] = {
        {MENTIS_HDR_TENANT, l->who.tenant},
        {MENTIS_HDR_PRINCIPAL, l->who.user},
        {MENTIS_HDR_ROLES, "user"},
        {MENTIS_HDR_SESSION, l->who.session},
    };
    mentis_msg_t *reply = NULL;
    if (mentis_bus_request_sync(l->bus, SUBJECT, hdrs, sizeof hdrs / sizeof hdrs[0], NULL, 0,
                                DEADLINE_MS, &reply) != MENTIS_OK) {
        fprintf(stderr, "mentis-bench-nats: %s: %s\n", SUBJECT, mentis_err_msg());
        return false;
    }
    const char *code = NULL, *message = NULL;
    mentis_status_t st = mentis_msg_error(reply, &code, &message);
    Mentis__V1__Auth__User *user = NULL;
    bool ok = false;
    if (st == MENTIS_OK && strcmp(SUBJECT, SUBJECT_ME) == 0) {
        user = mentis__v1__auth__user__unpack(NULL, mentis_msg_len(reply), mentis_msg_data(reply));
        ok = user != NULL && strcmp(user->id, l->who.user) == 0;
    } else if (st == MENTIS_OK) {
        Mentis__V1__Auth__WhoamiResponse *w = mentis__v1__auth__whoami_response__unpack(
            NULL, mentis_msg_len(reply), mentis_msg_data(reply));
        ok = w != NULL && strcmp(w->principal_id, l->who.user) == 0;
        if (w != NULL)
            mentis__v1__auth__whoami_response__free_unpacked(w, NULL);
    }
    if (st != MENTIS_OK)
        fprintf(stderr, "mentis-bench-nats: %s refused: %s (%s)\n", SUBJECT,
                code ? code : mentis_status_str(st), message ? message : "");
    else if (!ok)
        fprintf(stderr, "mentis-bench-nats: %s did not answer the account %s\n", SUBJECT,
                l->who.user);
    *reply_bytes = mentis_msg_len(reply);
    if (user)
        mentis__v1__auth__user__free_unpacked(user, NULL);
    mentis_msg_destroy(reply);
    return ok;
}

static int run_load(const char *url, struct identity who, int in_flight, double seconds,
                    double warmup)
{
    static struct slot slots[MAX_IN_FLIGHT];
    struct load l = {.who = who};
    int rc = 1, nats_fd = -1;
    bool attached = false;
    size_t reply_bytes = 0;
    if (pipe(l.wake_pipe) != 0) {
        perror("mentis-bench-nats: pipe");
        return 1;
    }
    for (int i = 0; i < 2; i++)
        fcntl(l.wake_pipe[i], F_SETFL, O_NONBLOCK);
    if (mentis_bus_dispatch_create(wake, &l, &l.dispatch) != MENTIS_OK) {
        fprintf(stderr, "mentis-bench-nats: %s\n", mentis_err_msg());
        goto out;
    }
    l.bus = connect_bus(url);
    if (l.bus == NULL || !check_once(&l, &reply_bytes)) /* blocking: before the loop */
        goto out;
    mentis_bus_loop_t loop = {wake, &l};
    if (mentis_bus_loop_attach(l.bus, &loop) != MENTIS_OK) {
        fprintf(stderr, "mentis-bench-nats: %s\n", mentis_err_msg());
        goto out;
    }
    attached = true;

    int64_t start = now_ns();
    l.measure_from_ns = start + (int64_t)(warmup * 1e9);
    l.end_ns = l.measure_from_ns + (int64_t)(seconds * 1e9);
    for (int i = 0; i < in_flight; i++) {
        slots[i].load = &l;
        if (!send_one(&slots[i])) {
            fprintf(stderr, "mentis-bench-nats: cannot send: %s\n", mentis_err_msg());
            goto out;
        }
    }
    /* The owner loop, as the gateway's lws thread: each turn takes the NATS socket when it
     * changed, writes what the last turn sent, sleeps in poll(2) until the socket or a
     * wake, reads the replies and runs the completions (each sends the next request),
     * until the end and the last reply. */
    for (;;) {
        int fd = -1;
        if (mentis_bus_loop_socket(l.bus, &fd)) {
            if (nats_fd >= 0)
                close(nats_fd);
            nats_fd = fd;
        }
        bool more = mentis_bus_loop_write(l.bus);
        int64_t t = now_ns();
        if (l.in_flight == 0 || t > l.end_ns + DRAIN_WAIT_NS)
            break;
        struct pollfd p[2] = {{l.wake_pipe[0], POLLIN, 0},
                              {nats_fd, (short)(POLLIN | (more ? POLLOUT : 0)), 0}};
        if (poll(p, nats_fd >= 0 ? 2 : 1, 100) < 0)
            continue;
        if (p[0].revents & POLLIN) {
            char buf[64];
            while (read(l.wake_pipe[0], buf, sizeof buf) > 0)
                ;
        }
        if (nats_fd >= 0 && (p[1].revents & (POLLIN | POLLHUP | POLLERR)))
            mentis_bus_loop_read(l.bus);
        mentis_bus_dispatch_run(l.dispatch);
    }
    if (l.out_of_memory) {
        fprintf(stderr, "mentis-bench-nats: too many latencies to keep; measure for less time\n");
        goto out;
    }
    qsort(l.lat_us, l.n_lat, sizeof *l.lat_us, cmp_u32);
    printf("requests=%zu\nerrors=%" PRIu64 "\nsend_failures=%" PRIu64 "\nseconds=%.3f\n"
           "rps=%.1f\np50_ms=%.3f\np90_ms=%.3f\np99_ms=%.3f\nmax_ms=%.3f\nreply_bytes=%zu\n",
           l.n_lat, l.errors, l.send_failures, seconds, (double)l.n_lat / seconds,
           percentile_ms(l.lat_us, l.n_lat, 0.50), percentile_ms(l.lat_us, l.n_lat, 0.90),
           percentile_ms(l.lat_us, l.n_lat, 0.99), l.n_lat ? l.lat_us[l.n_lat - 1] / 1000.0 : 0,
           reply_bytes);
    rc = 0;
out:
    if (nats_fd >= 0)
        close(nats_fd);
    if (attached)
        mentis_bus_loop_detach(l.bus); /* before closing: the bus's thread drives it again */
    mentis_bus_close(l.bus); /* before the queue its requests use */
    mentis_bus_dispatch_destroy(l.dispatch);
    free(l.lat_us);
    close(l.wake_pipe[0]);
    close(l.wake_pipe[1]);
    return rc;
}

static bool parse_number(const char *text, double min, double max, double *out)
{
    char *end = NULL;
    errno = 0;
    double v = strtod(text, &end);
    if (errno != 0 || end == text || *end != '\0' || v < min || v > max)
        return false;
    *out = v;
    return true;
}

static int usage(void)
{
    fprintf(stderr, "usage: mentis-bench-nats register <nats-url> <email> <password>\n"
                    "       mentis-bench-nats load <nats-url> <tenant> <user> <session>"
                    " [-e email] [-s subject] [-c in-flight] [-d seconds] [-w warm-up seconds]\n");
    return 2;
}

int main(int argc, char **argv)
{
    if (mentis_crypto_init() != MENTIS_OK) {
        fprintf(stderr, "mentis-bench-nats: %s\n", mentis_err_msg());
        return 1;
    }
    if (argc == 5 && strcmp(argv[1], "register") == 0)
        return run_register(argv[2], argv[3], argv[4]);
    if (argc < 6 || strcmp(argv[1], "load") != 0)
        return usage();
    double in_flight = 50, seconds = 10, warmup = 2;
    const char *email = "";
    for (int i = 6; i < argc; i += 2) {
        if (i + 1 >= argc)
            return usage();
        bool ok = false;
        if (strcmp(argv[i], "-e") == 0)
            email = argv[i + 1], ok = true;
        else if (strcmp(argv[i], "-s") == 0)
            SUBJECT = argv[i + 1], ok = true;
        else if (strcmp(argv[i], "-c") == 0)
            ok = parse_number(argv[i + 1], 1, MAX_IN_FLIGHT, &in_flight);
        else if (strcmp(argv[i], "-d") == 0)
            ok = parse_number(argv[i + 1], 0.1, 3600, &seconds);
        else if (strcmp(argv[i], "-w") == 0)
            ok = parse_number(argv[i + 1], 0, 3600, &warmup);
        if (!ok) {
            fprintf(stderr, "mentis-bench-nats: bad option %s %s\n", argv[i], argv[i + 1]);
            return usage();
        }
    }
    struct identity who = {.tenant = argv[3], .user = argv[4], .session = argv[5], .email = email};
    return run_load(argv[2], who, (int)in_flight, seconds, warmup);
}
