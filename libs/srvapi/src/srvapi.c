#include "mentis/srvapi.h"

#include <cjson/cJSON.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "mentis/log.h"

#define NVERBS 3
static const char *const verbs[NVERBS] = {"PING", "INFO", "STATS"};

struct responder {
    mentis_srv_api_t *api;
    const char *verb;
};

struct mentis_srv_api {
    mentis_bus_t *bus;
    const mentis_srv_info_t *info;
    struct responder responders[NVERBS];
    mentis_bus_sub_t *subs[NVERBS * 3];
};

void mentis_srv_last_error_init(mentis_srv_last_error_t *le)
{
    pthread_mutex_init(&le->mu, NULL);
    le->text[0] = '\0';
}

void mentis_srv_last_error_set(mentis_srv_last_error_t *le, const char *code, const char *message)
{
    pthread_mutex_lock(&le->mu);
    snprintf(le->text, sizeof le->text, "%s: %s", code ? code : "internal", message ? message : "");
    pthread_mutex_unlock(&le->mu);
}

void mentis_srv_last_error_destroy(mentis_srv_last_error_t *le)
{
    pthread_mutex_destroy(&le->mu);
}

static void rfc3339(int64_t ms, char *buf, size_t size)
{
    time_t secs = (time_t)(ms / 1000);
    struct tm tm;
    gmtime_r(&secs, &tm);
    size_t n = strftime(buf, size, "%Y-%m-%dT%H:%M:%S", &tm);
    snprintf(buf + n, size - n, ".%03dZ", (int)(ms % 1000));
}

static void add_quantile(cJSON *o, const char *key, double v)
{
    if (isnan(v))
        cJSON_AddNullToObject(o, key);
    else
        cJSON_AddNumberToObject(o, key, v);
}

static cJSON *endpoint_json(const mentis_srv_endpoint_t *e, bool stats)
{
    cJSON *o = cJSON_CreateObject();
    cJSON_AddStringToObject(o, "name", e->name);
    cJSON_AddStringToObject(o, "subject", e->subject);
    cJSON_AddStringToObject(o, "queue_group", e->queue_group ? e->queue_group : "");
    if (!stats) {
        cJSON_AddNullToObject(o, "metadata");
        return o;
    }
    uint64_t count = 0;
    double sum = 0;
    const double *bounds = NULL;
    size_t nb = e->duration ? mentis_histogram_bounds(e->duration, &bounds) : 0;
    uint64_t *counts = calloc(nb + 1, sizeof *counts);
    if (e->duration && counts)
        mentis_histogram_snapshot(e->duration, counts, &sum, &count);
    cJSON_AddNumberToObject(o, "num_requests", (double)count);
    cJSON_AddNumberToObject(o, "num_errors", (double)mentis_counter_value(e->errors));
    if (e->last_error) {
        pthread_mutex_lock(&e->last_error->mu);
        cJSON_AddStringToObject(o, "last_error", e->last_error->text);
        pthread_mutex_unlock(&e->last_error->mu);
    } else {
        cJSON_AddStringToObject(o, "last_error", "");
    }
    /* Durations in nanoseconds, as the protocol says. */
    cJSON_AddNumberToObject(o, "processing_time", floor(sum * 1e9));
    cJSON_AddNumberToObject(o, "average_processing_time", count ? floor(sum * 1e9 / (double)count) : 0);
    cJSON *data = cJSON_AddObjectToObject(o, "data");
    cJSON *lat = cJSON_AddObjectToObject(data, "latency_seconds");
    cJSON_AddItemToObject(lat, "bounds", cJSON_CreateDoubleArray(bounds ? bounds : (const double[]){0}, (int)nb));
    cJSON *carr = cJSON_AddArrayToObject(lat, "counts");
    for (size_t i = 0; counts && i <= nb; i++)
        cJSON_AddItemToArray(carr, cJSON_CreateNumber((double)counts[i]));
    add_quantile(lat, "p50", e->duration ? mentis_histogram_quantile(e->duration, 0.50) : NAN);
    add_quantile(lat, "p95", e->duration ? mentis_histogram_quantile(e->duration, 0.95) : NAN);
    add_quantile(lat, "p99", e->duration ? mentis_histogram_quantile(e->duration, 0.99) : NAN);
    free(counts);
    return o;
}

char *mentis_srv_api_render(const mentis_srv_info_t *info, const char *verb)
{
    cJSON *o = cJSON_CreateObject();
    if (o == NULL)
        return NULL;
    bool ping = strcmp(verb, "PING") == 0, stats = strcmp(verb, "STATS") == 0;
    char type[64];
    snprintf(type, sizeof type, "io.nats.micro.v1.%s_response", ping ? "ping" : stats ? "stats" : "info");
    cJSON_AddStringToObject(o, "type", type);
    cJSON_AddStringToObject(o, "name", info->name);
    cJSON_AddStringToObject(o, "id", info->id);
    cJSON_AddStringToObject(o, "version", info->version);
    cJSON_AddObjectToObject(o, "metadata");
    if (!ping) {
        if (!stats)
            cJSON_AddStringToObject(o, "description", info->description ? info->description : "");
        else {
            char started[40];
            rfc3339(info->started_ms, started, sizeof started);
            cJSON_AddStringToObject(o, "started", started);
        }
        cJSON *eps = cJSON_AddArrayToObject(o, "endpoints");
        for (size_t i = 0; i < info->nendpoints; i++)
            cJSON_AddItemToArray(eps, endpoint_json(&info->endpoints[i], stats));
    }
    char *text = cJSON_PrintUnformatted(o);
    cJSON_Delete(o);
    return text;
}

static void on_request(void *arg, mentis_msg_t *msg)
{
    struct responder *r = arg;
    char *text = mentis_srv_api_render(r->api->info, r->verb);
    if (text != NULL) {
        mentis_bus_reply(r->api->bus, msg, NULL, 0, text, strlen(text));
        free(text);
    }
    mentis_msg_destroy(msg);
}

mentis_status_t mentis_srv_api_start(mentis_bus_t *bus, const mentis_srv_info_t *info,
                                     mentis_srv_api_t **out)
{
    mentis_srv_api_t *api = calloc(1, sizeof *api);
    if (api == NULL)
        return mentis_err_set(MENTIS_ERR_NO_MEMORY, NULL, "srvapi: out of memory");
    api->bus = bus;
    api->info = info;
    size_t n = 0;
    for (int v = 0; v < NVERBS; v++) {
        api->responders[v] = (struct responder){api, verbs[v]};
        char subjects[3][200];
        snprintf(subjects[0], sizeof subjects[0], "$SRV.%s", verbs[v]);
        snprintf(subjects[1], sizeof subjects[1], "$SRV.%s.%s", verbs[v], info->name);
        snprintf(subjects[2], sizeof subjects[2], "$SRV.%s.%s.%s", verbs[v], info->name, info->id);
        for (int k = 0; k < 3; k++) {
            mentis_status_t st = mentis_bus_subscribe(bus, subjects[k], NULL, on_request,
                                                      &api->responders[v], &api->subs[n]);
            if (st != MENTIS_OK) {
                mentis_srv_api_stop(api);
                return st;
            }
            n++;
        }
    }
    *out = api;
    return MENTIS_OK;
}

void mentis_srv_api_stop(mentis_srv_api_t *api)
{
    if (api == NULL)
        return;
    for (size_t i = 0; i < NVERBS * 3; i++)
        mentis_bus_unsubscribe(api->subs[i], false, 0);
    free(api);
}
