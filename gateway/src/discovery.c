/*
 * Instance counts from the NATS service API. Every discovery interval the lws thread ends
 * the current window and publishes $SRV.PING with the reply subject "<inbox>.<seq>"; every
 * instance of every service answers once. Replies (on a bus thread) are counted per
 * service name, distinct instance ids only, into the window of their sequence number, so
 * a late answer to an earlier ping never counts twice. The health page reads the newest
 * complete window: an instance that died stops being counted one to two intervals later.
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "gateway.h"
#include "mentis/log.h"

#define MAX_NAMES       16   /* service names tracked per window */
#define MAX_INSTANCES   256  /* distinct ids counted per name */
#define MAX_REPLY_BYTES 4096 /* a ping answer is ~150 bytes */

struct entry {
    char name[32];
    char version[32];
    uint64_t ids[MAX_INSTANCES]; /* FNV-1a of each instance id */
    int count;
};

struct window {
    struct entry entries[MAX_NAMES];
    int n;
};

struct gw_discovery {
    mentis_bus_t *bus;
    mentis_bus_sub_t *sub;
    char inbox[96];
    mentis_gauge_t *gauges[GW_SERVICE_COUNT];

    pthread_mutex_t mu; /* protects seq, current, complete, have_complete */
    uint64_t seq;       /* of the ping whose answers go into current; 0 before the first */
    struct window current, complete;
    bool have_complete;
};

static uint64_t fnv1a(const char *s)
{
    uint64_t h = 0xcbf29ce484222325u;
    for (; *s; s++)
        h = (h ^ (unsigned char)*s) * 0x100000001b3u;
    return h;
}

/* Counts one answer into w (caller holds d->mu). */
static void window_add(struct window *w, const char *name, const char *id, const char *version)
{
    struct entry *e = NULL;
    for (int i = 0; i < w->n; i++)
        if (strcmp(w->entries[i].name, name) == 0)
            e = &w->entries[i];
    if (e == NULL) {
        if (w->n == MAX_NAMES)
            return;
        e = &w->entries[w->n++];
        memset(e, 0, sizeof *e);
        snprintf(e->name, sizeof e->name, "%s", name);
    }
    uint64_t h = fnv1a(id);
    for (int i = 0; i < e->count; i++)
        if (e->ids[i] == h)
            return;
    if (e->count < MAX_INSTANCES)
        e->ids[e->count++] = h;
    if (version && *version)
        snprintf(e->version, sizeof e->version, "%s", version);
}

static void on_reply(void *arg, mentis_msg_t *msg)
{
    gw_discovery_t *d = arg;
    const char *subject = mentis_msg_subject(msg);
    const char *dot = strrchr(subject, '.');
    char *end = NULL;
    uint64_t seq = dot ? strtoull(dot + 1, &end, 10) : 0;
    size_t len = mentis_msg_len(msg);
    if (dot == NULL || end == dot + 1 || *end != '\0' || len == 0 || len > MAX_REPLY_BYTES)
        goto out;

    cJSON *doc = cJSON_ParseWithLength(mentis_msg_data(msg), len);
    const cJSON *name = cJSON_GetObjectItemCaseSensitive(doc, "name");
    const cJSON *id = cJSON_GetObjectItemCaseSensitive(doc, "id");
    const cJSON *version = cJSON_GetObjectItemCaseSensitive(doc, "version");
    if (cJSON_IsString(name) && cJSON_IsString(id) && name->valuestring[0] &&
        strlen(name->valuestring) < sizeof((struct entry *)0)->name) {
        pthread_mutex_lock(&d->mu);
        if (seq == d->seq)
            window_add(&d->current, name->valuestring, id->valuestring,
                       cJSON_IsString(version) ? version->valuestring : NULL);
        pthread_mutex_unlock(&d->mu);
    }
    cJSON_Delete(doc);
out:
    mentis_msg_destroy(msg);
}

mentis_status_t gw_discovery_create(mentis_bus_t *bus, mentis_metrics_t *metrics,
                                    gw_discovery_t **out)
{
    gw_discovery_t *d = calloc(1, sizeof *d);
    if (d == NULL)
        return mentis_err_set(MENTIS_ERR_NO_MEMORY, NULL, "discovery: out of memory");
    d->bus = bus;
    pthread_mutex_init(&d->mu, NULL);
    static const char *const labels[] = {"service", NULL};
    for (int i = 0; i < GW_SERVICE_COUNT; i++) {
        const char *values[] = {gw_services[i], NULL};
        d->gauges[i] = mentis_metrics_gauge(metrics, "mentis_gateway_service_instances",
                                            "Instances of each service that answered the last "
                                            "complete $SRV.PING round",
                                            labels, values);
    }
    mentis_status_t st = mentis_bus_new_inbox(bus, d->inbox, sizeof d->inbox - 2);
    char subject[sizeof d->inbox + 2];
    if (st == MENTIS_OK) {
        snprintf(subject, sizeof subject, "%s.*", d->inbox);
        st = mentis_bus_subscribe(bus, subject, NULL, on_reply, d, &d->sub);
    }
    if (st != MENTIS_OK) {
        pthread_mutex_destroy(&d->mu);
        free(d);
        return mentis_err_wrap(st, "discovery");
    }
    *out = d;
    return MENTIS_OK;
}

void gw_discovery_tick(gw_discovery_t *d)
{
    pthread_mutex_lock(&d->mu);
    if (d->seq > 0) {
        d->complete = d->current;
        d->have_complete = true;
    }
    d->current.n = 0;
    uint64_t seq = ++d->seq;
    pthread_mutex_unlock(&d->mu);

    for (int i = 0; i < GW_SERVICE_COUNT; i++) {
        int n = gw_discovery_instances(d, gw_services[i], NULL, 0);
        mentis_gauge_set(d->gauges[i], n < 0 ? 0 : n);
    }
    /* While disconnected nothing is sent: the window stays empty, which is the truth. */
    if (!mentis_bus_connected(d->bus))
        return;
    char reply[sizeof d->inbox + 24];
    snprintf(reply, sizeof reply, "%s.%" PRIu64, d->inbox, seq);
    if (mentis_bus_publish(d->bus, "$SRV.PING", reply, NULL, 0, NULL, 0) != MENTIS_OK)
        mentis_log_warn("discovery: %s", mentis_err_msg());
}

int gw_discovery_instances(gw_discovery_t *d, const char *service, char *version,
                           size_t version_size)
{
    int n = -1;
    if (version_size > 0)
        version[0] = '\0';
    pthread_mutex_lock(&d->mu);
    if (d->have_complete) {
        n = 0;
        for (int i = 0; i < d->complete.n; i++) {
            const struct entry *e = &d->complete.entries[i];
            if (strcmp(e->name, service) == 0) {
                n = e->count;
                if (version_size > 0)
                    snprintf(version, version_size, "%s", e->version);
            }
        }
    }
    pthread_mutex_unlock(&d->mu);
    return n;
}

void gw_discovery_stop(gw_discovery_t *d)
{
    if (d == NULL)
        return;
    mentis_bus_unsubscribe(d->sub, false, 0);
    d->sub = NULL;
}

void gw_discovery_destroy(gw_discovery_t *d)
{
    if (d == NULL)
        return;
    pthread_mutex_destroy(&d->mu);
    free(d);
}
