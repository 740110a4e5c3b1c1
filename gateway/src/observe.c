/*
 * What the gateway tells operators about its requests: RED metrics per route on the admin
 * port, the same numbers in $SRV.STATS, and one JSON access-log line per request (errors
 * always, successes sampled).
 *
 * Series handles are created up front for every route (so /metrics shows zeros rather
 * than nothing) and looked up by index afterwards; requests that match no route share the
 * route label "none", one series per method lws knows, created on first use.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "gateway.h"
#include "mentis/log.h"

#define CLASSES 5 /* 1xx .. 5xx */

static const char *const class_names[CLASSES] = {"1xx", "2xx", "3xx", "4xx", "5xx"};
static const char *const other_methods[] = {"GET",    "HEAD",    "POST",    "PUT",  "PATCH",
                                            "DELETE", "OPTIONS", "CONNECT", "OTHER"};
#define OTHER_METHODS (sizeof other_methods / sizeof other_methods[0])

static const char *const counter_labels[] = {"method", "route", "code", NULL};
static const char *const duration_labels[] = {"method", "route", NULL};

struct series {
    mentis_counter_t *requests[CLASSES];
    mentis_histogram_t *duration;
    mentis_gauge_t *inflight; /* routes only */
};

struct gw_observe {
    mentis_metrics_t *metrics;
    mentis_gauge_t *inflight;
    struct series *routes;             /* gw_route_count entries */
    struct series none[OTHER_METHODS]; /* unmatched requests, by method; lazily */
    mentis_srv_endpoint_t *endpoints;  /* one per route */
    mentis_srv_last_error_t *last_errors;
    char (*subjects)[64]; /* "GET /api/health": what each endpoint answers */
};

static bool series_init(mentis_metrics_t *m, struct series *s, const char *method,
                        const char *route)
{
    for (int c = 0; c < CLASSES; c++) {
        const char *values[] = {method, route, class_names[c], NULL};
        s->requests[c] = mentis_metrics_counter(m, "mentis_http_requests_total",
                                                "HTTP requests answered by the gateway, by "
                                                "route and status class",
                                                counter_labels, values);
        if (s->requests[c] == NULL)
            return false;
    }
    const char *values[] = {method, route, NULL};
    s->duration = mentis_metrics_histogram(
        m, "mentis_http_request_duration_seconds",
        "Time from the request's arrival to the last byte of its answer, by route",
        mentis_metrics_latency_buckets, mentis_metrics_latency_buckets_count, duration_labels,
        values);
    return s->duration != NULL;
}

mentis_status_t gw_observe_create(mentis_metrics_t *metrics, gw_observe_t **out)
{
    gw_observe_t *o = calloc(1, sizeof *o);
    if (o == NULL)
        return mentis_err_set(MENTIS_ERR_NO_MEMORY, NULL, "observe: out of memory");
    o->metrics = metrics;
    o->routes = calloc(gw_route_count, sizeof *o->routes);
    o->endpoints = calloc(gw_route_count, sizeof *o->endpoints);
    o->last_errors = calloc(gw_route_count, sizeof *o->last_errors);
    o->subjects = calloc(gw_route_count, sizeof *o->subjects);
    if (o->routes == NULL || o->endpoints == NULL || o->last_errors == NULL ||
        o->subjects == NULL) {
        gw_observe_destroy(o);
        return mentis_err_set(MENTIS_ERR_NO_MEMORY, NULL, "observe: out of memory");
    }
    for (size_t i = 0; i < gw_route_count; i++)
        mentis_srv_last_error_init(&o->last_errors[i]);
    o->inflight = mentis_metrics_gauge(metrics, "mentis_http_in_flight",
                                       "HTTP requests being handled right now", NULL, NULL);
    if (o->inflight == NULL)
        goto fail;
    for (size_t i = 0; i < gw_route_count; i++) {
        const gw_route_t *r = &gw_routes[i];
        if (!series_init(metrics, &o->routes[i], r->method, r->path))
            goto fail;
        const char *values[] = {r->method, r->path, NULL};
        o->routes[i].inflight = mentis_metrics_gauge(
            metrics, "mentis_http_route_in_flight", "HTTP requests of this route being handled",
            duration_labels, values);
        if (o->routes[i].inflight == NULL)
            goto fail;
        snprintf(o->subjects[i], sizeof o->subjects[i], "%s %s", r->method, r->path);
        o->endpoints[i] = (mentis_srv_endpoint_t){
            .name = r->name,
            .subject = o->subjects[i],
            .queue_group = "gateway",
            .duration = o->routes[i].duration,
            .errors = o->routes[i].requests[4],
            .last_error = &o->last_errors[i],
        };
    }
    *out = o;
    return MENTIS_OK;
fail:
    gw_observe_destroy(o);
    return mentis_err_wrap(MENTIS_ERR_INTERNAL, "observe: route metrics");
}

void gw_observe_destroy(gw_observe_t *o)
{
    if (o == NULL)
        return;
    for (size_t i = 0; o->last_errors && i < gw_route_count; i++)
        mentis_srv_last_error_destroy(&o->last_errors[i]);
    free(o->routes);
    free(o->endpoints);
    free(o->last_errors);
    free(o->subjects);
    free(o);
}

const mentis_srv_endpoint_t *gw_observe_endpoints(gw_observe_t *o, size_t *n)
{
    *n = gw_route_count;
    return o->endpoints;
}

void gw_observe_inflight(gw_observe_t *o, int delta)
{
    mentis_gauge_add(o->inflight, delta);
}

void gw_observe_route_inflight(gw_observe_t *o, const gw_route_t *route, int delta)
{
    mentis_gauge_add(o->routes[route - gw_routes].inflight, delta);
}

static struct series *series_for(gw_observe_t *o, const gw_route_t *route, const char *method)
{
    if (route != NULL)
        return &o->routes[route - gw_routes];
    size_t i = 0;
    while (i < OTHER_METHODS - 1 && strcmp(other_methods[i], method) != 0)
        i++;
    struct series *s = &o->none[i];
    if (s->duration == NULL && !series_init(o->metrics, s, other_methods[i], "none"))
        return NULL;
    return s;
}

void gw_observe_request(gw_observe_t *o, const gw_observe_entry_t *e)
{
    struct series *s = series_for(o, e->route, e->method);
    int cls = e->status / 100 - 1;
    if (s != NULL && cls >= 0 && cls < CLASSES) {
        mentis_counter_inc(s->requests[cls]);
        mentis_histogram_observe(s->duration, e->seconds);
    }
    if (e->route != NULL && e->status >= 500)
        mentis_srv_last_error_set(&o->last_errors[e->route - gw_routes], e->code, e->detail);

    bool error = e->status >= 400;
    if (!error && !mentis_log_sample())
        return;
    char st[8], ms[32];
    snprintf(st, sizeof st, "%d", e->status);
    snprintf(ms, sizeof ms, "%.3f", e->seconds * 1e3);
    const char *kv[24] = {"method", e->method, "path", e->path, "status", st, "duration_ms", ms};
    size_t n = 8;
    const char *opt[][2] = {
        {"route", e->route ? e->route->name : NULL},
        {"client_ip", e->client_ip && e->client_ip[0] ? e->client_ip : NULL},
        {"principal", e->principal},
        {"code", e->code},
        {"reason", e->reason},
        {"detail", e->detail},
    };
    for (size_t i = 0; i < sizeof opt / sizeof opt[0]; i++) {
        if (opt[i][1] == NULL)
            continue;
        kv[n++] = opt[i][0];
        kv[n++] = opt[i][1];
    }
    kv[n] = NULL;
    mentis_log_bind(e->request_id, NULL);
    mentis_log_kv(e->status >= 500 ? MENTIS_LOG_ERROR
                  : error         ? MENTIS_LOG_WARN
                                  : MENTIS_LOG_INFO,
                  "request", kv);
    mentis_log_bind(NULL, NULL);
}
