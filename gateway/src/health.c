/*
 * GET /api/health: asks every service at once (mentis.v1.<svc>.health, asynchronous, on
 * the lws thread's dispatch queue) and answers when all six have completed — a reply, "no
 * responders" (at once) or the health timeout (the request's deadline). Instance counts
 * come from discovery.
 *
 * Per service: "up" when it answered OK, "degraded" when it answered but said DEGRADED or
 * answered with an error, "down" when nobody answered. Overall: "ok" when every service is
 * up (200), "down" when none answered, else "degraded" (both 503).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "gateway.h"
#include "mentis/v1/common.pb-c.h"

const char *const gw_services[GW_SERVICE_COUNT] = {"auth",    "kb",  "curriculum",
                                                   "metrics", "tts", "jobs"};

enum svc_status { SVC_DOWN, SVC_UP, SVC_DEGRADED };

struct probe;

struct slot {
    struct probe *probe;
    uint64_t id;
    bool pending;
    enum svc_status status;
    char version[32];
};

struct probe {
    gw_request_t *req;
    mentis_bus_t *bus;
    struct slot slots[GW_SERVICE_COUNT];
    int remaining;
};

static void rfc3339_now(char *buf, size_t size)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    struct tm tm;
    gmtime_r(&ts.tv_sec, &tm);
    size_t n = strftime(buf, size, "%Y-%m-%dT%H:%M:%S", &tm);
    snprintf(buf + n, size - n, ".%03ldZ", ts.tv_nsec / 1000000);
}

static void answer(struct probe *p)
{
    gw_request_t *req = p->req;
    gw_server_t *srv = gw_request_server(req);
    static const char *const names[] = {
        [SVC_DOWN] = "down", [SVC_UP] = "up", [SVC_DEGRADED] = "degraded"};
    int up = 0, down = 0;
    char ts[40], not_up[160] = "";
    rfc3339_now(ts, sizeof ts);

    cJSON *services = cJSON_CreateObject();
    for (int i = 0; i < GW_SERVICE_COUNT; i++) {
        struct slot *s = &p->slots[i];
        char seen_version[32];
        int instances = gw_discovery_instances(srv->discovery, gw_services[i], seen_version,
                                               sizeof seen_version);
        /* An answer proves one instance even before discovery has finished a round. */
        if (s->status != SVC_DOWN && instances < 1)
            instances = 1;
        if (instances < 0)
            instances = 0;
        const char *version = s->version[0] ? s->version : seen_version;
        cJSON *o = cJSON_AddObjectToObject(services, gw_services[i]);
        cJSON_AddStringToObject(o, "status", names[s->status]);
        cJSON_AddNumberToObject(o, "instances", instances);
        if (version[0])
            cJSON_AddStringToObject(o, "version", version);
        else
            cJSON_AddNullToObject(o, "version");
        up += s->status == SVC_UP;
        down += s->status == SVC_DOWN;
        if (s->status != SVC_UP) {
            size_t n = strlen(not_up);
            snprintf(not_up + n, sizeof not_up - n, "%s%s %s", n ? ", " : "", gw_services[i],
                     names[s->status]);
        }
    }
    const char *overall = up == GW_SERVICE_COUNT     ? "ok"
                          : down == GW_SERVICE_COUNT ? "down"
                                                     : "degraded";
    cJSON *doc = cJSON_CreateObject();
    cJSON_AddStringToObject(doc, "status", overall);
    cJSON_AddStringToObject(doc, "version", MENTIS_VERSION);
    cJSON_AddStringToObject(doc, "timestamp", ts);
    if (doc == NULL || services == NULL || !cJSON_AddItemToObject(doc, "services", services)) {
        cJSON_Delete(services);
        cJSON_Delete(doc);
        gw_respond_problem(req, 500, "internal", "out of memory");
        return;
    }
    if (up != GW_SERVICE_COUNT)
        gw_request_note(req, down == GW_SERVICE_COUNT ? "unavailable" : "degraded", "%s", not_up);
    gw_respond_json(req, up == GW_SERVICE_COUNT ? 200 : 503, doc);
}

static void on_reply(void *arg, mentis_status_t st, mentis_msg_t *reply)
{
    struct slot *s = arg;
    struct probe *p = s->probe;
    s->pending = false;
    if (st == MENTIS_OK) {
        if (mentis_msg_error(reply, NULL, NULL) != MENTIS_OK) {
            s->status = SVC_DEGRADED; /* alive, but refusing (overloaded, shutting down) */
        } else {
            Mentis__V1__HealthResponse *h = mentis__v1__health_response__unpack(
                NULL, mentis_msg_len(reply), mentis_msg_data(reply));
            if (h == NULL) {
                s->status = SVC_DEGRADED;
            } else {
                s->status = h->status == MENTIS__V1__SERVING_STATUS__SERVING_STATUS_OK
                                ? SVC_UP
                                : SVC_DEGRADED;
                if (h->version)
                    snprintf(s->version, sizeof s->version, "%s", h->version);
                mentis__v1__health_response__free_unpacked(h, NULL);
            }
        }
        mentis_msg_destroy(reply);
    }
    if (--p->remaining == 0)
        answer(p);
}

static void release(void *work)
{
    struct probe *p = work;
    for (int i = 0; i < GW_SERVICE_COUNT; i++)
        if (p->slots[i].pending)
            mentis_bus_request_cancel(p->bus, p->slots[i].id);
    free(p);
}

void gw_health_handle(gw_request_t *req)
{
    gw_server_t *srv = gw_request_server(req);
    struct probe *p = calloc(1, sizeof *p);
    if (p == NULL) {
        gw_respond_problem(req, 500, "internal", "out of memory");
        return;
    }
    p->req = req;
    p->bus = srv->bus;
    gw_request_set_work(req, p, release);

    Mentis__V1__HealthRequest hr;
    mentis__v1__health_request__init(&hr);
    uint8_t body[16];
    size_t len = mentis__v1__health_request__pack(&hr, body); /* empty: 0 bytes */
    mentis_header_t hdrs[] = {{MENTIS_HDR_REQUEST_ID, gw_request_id(req)}};
    int64_t deadline = mentis_bus_now_ms() + srv->settings->health_timeout_ms;
    for (int i = 0; i < GW_SERVICE_COUNT; i++) {
        struct slot *s = &p->slots[i];
        char subject[64];
        snprintf(subject, sizeof subject, MENTIS_SUBJECT_PREFIX "%s.health", gw_services[i]);
        s->probe = p;
        s->status = SVC_DOWN;
        /* Count before sending: a completion never runs inside mentis_bus_request here
         * (it goes through the dispatch queue), but the order keeps that assumption cheap. */
        p->remaining++;
        if (mentis_bus_request(srv->bus, subject, hdrs, 1, body, len, deadline, srv->dispatch,
                               on_reply, s, &s->id) == MENTIS_OK)
            s->pending = true;
        else
            p->remaining--; /* not connected: down, no callback will come */
    }
    if (p->remaining == 0)
        answer(p);
}
