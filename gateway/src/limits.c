/*
 * The gateway's limits, all on the lws thread:
 *   - rate limits: token buckets (libs/ratelimit) per principal (a user or a beta token)
 *     and, for requests without one, per client address, each route counting against its
 *     category (API.md: login 5/min, ... other authenticated 1000/min);
 *   - in flight: at most max_in_flight requests handled at once; the next is answered
 *     503 with Retry-After at once instead of queueing without end;
 *   - connections per client address: counted at accept (listener.c), since Debian's lws
 *     is built without its own per-peer limits. Trusted proxies are not capped: every
 *     client behind them shares their address.
 * Every refusal is counted in mentis_gateway_rejected_total{reason}.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "gateway.h"
#include "mentis/log.h"

/* Open addressing over client addresses; a slot whose count drops to 0 is a tombstone
 * until the table is rebuilt. Sized to the descriptors a process may hold. */
#define CONN_SLOTS 65536

struct conn_slot {
    uint8_t addr[16];
    uint32_t count;
    bool used;
};

static const char *const reason_names[GW_REJECT_COUNT_] = {
    [GW_REJECT_RATE] = "rate_limited",       [GW_REJECT_QUOTA] = "quota_exceeded",
    [GW_REJECT_IN_FLIGHT] = "in_flight",     [GW_REJECT_CONNS_PER_IP] = "connections_per_ip",
    [GW_REJECT_ORIGIN] = "origin_secret",    [GW_REJECT_UNAUTHENTICATED] = "unauthenticated",
    [GW_REJECT_FORBIDDEN] = "forbidden",     [GW_REJECT_UPGRADE] = "upgrade",
};

struct gw_limits {
    const gw_settings_t *settings;
    mentis_ratelimit_t *rl;
    struct conn_slot *conns;
    size_t conns_used; /* slots ever used since the last rebuild */
    mentis_counter_t *rejected[GW_REJECT_COUNT_];
    mentis_gauge_t *connections;
};

mentis_status_t gw_limits_create(const gw_settings_t *s, mentis_metrics_t *m, gw_limits_t **out)
{
    gw_limits_t *l = calloc(1, sizeof *l);
    if (l == NULL)
        return mentis_err_set(MENTIS_ERR_NO_MEMORY, NULL, "limits: out of memory");
    l->settings = s;
    l->conns = calloc(CONN_SLOTS, sizeof *l->conns);
    if (l->conns == NULL || mentis_ratelimit_create((size_t)s->rate_keys, &l->rl) != MENTIS_OK) {
        gw_limits_destroy(l);
        return mentis_err_set(MENTIS_ERR_NO_MEMORY, NULL, "limits: out of memory");
    }
    static const char *const labels[] = {"reason", NULL};
    for (int i = 0; i < GW_REJECT_COUNT_; i++) {
        const char *values[] = {reason_names[i], NULL};
        l->rejected[i] = mentis_metrics_counter(
            m, "mentis_gateway_rejected_total",
            "Requests and connections the gateway refused before any service saw them",
            labels, values);
    }
    l->connections = mentis_metrics_gauge(m, "mentis_gateway_connections",
                                          "Client connections open now", NULL, NULL);
    *out = l;
    return MENTIS_OK;
}

void gw_limits_destroy(gw_limits_t *l)
{
    if (l == NULL)
        return;
    mentis_ratelimit_destroy(l->rl);
    free(l->conns);
    free(l);
}

void gw_limits_reject(gw_limits_t *l, gw_reject_t reason)
{
    if (reason >= 0 && reason < GW_REJECT_COUNT_)
        mentis_counter_inc(l->rejected[reason]);
}

/* ---- rate limits ---- */

static mentis_ratelimit_category_t category_of(gw_rate_t rate, bool authenticated)
{
    switch (rate) {
    case GW_RATE_LOGIN:
        return MENTIS_RATELIMIT_LOGIN;
    case GW_RATE_REGISTER:
        return MENTIS_RATELIMIT_REGISTER;
    case GW_RATE_FORGOT_PASSWORD:
        return MENTIS_RATELIMIT_FORGOT_PASSWORD;
    case GW_RATE_RESET_PASSWORD:
        return MENTIS_RATELIMIT_RESET_PASSWORD;
    case GW_RATE_REFRESH:
        return MENTIS_RATELIMIT_REFRESH;
    case GW_RATE_DEFAULT:
    default:
        return authenticated ? MENTIS_RATELIMIT_AUTHENTICATED : MENTIS_RATELIMIT_UNAUTHENTICATED;
    }
}

bool gw_limits_rate(gw_limits_t *l, gw_request_t *req)
{
    const gw_route_t *route = gw_request_route(req);
    const gw_identity_t *id = gw_request_identity(req);
    bool authenticated = id->kind != GW_PRINCIPAL_NONE;
    mentis_ratelimit_category_t cat = category_of(route->rate, authenticated);
    mentis_ratelimit_rule_t rule = l->settings->rates[cat];
    if (cat == MENTIS_RATELIMIT_AUTHENTICATED && id->kind == GW_PRINCIPAL_BETA &&
        id->rate_per_minute > 0)
        rule = (mentis_ratelimit_rule_t){(uint32_t)id->rate_per_minute, 60000};
    /* The account routes (login, register, ...) are public and counted per address even
     * with a token; everything else per principal when there is one. */
    char key[160];
    if (authenticated && cat == MENTIS_RATELIMIT_AUTHENTICATED)
        snprintf(key, sizeof key, "%s|p|%s", mentis_ratelimit_category_str(cat), id->principal);
    else
        snprintf(key, sizeof key, "%s|ip|%s", mentis_ratelimit_category_str(cat),
                 gw_request_client(req)->ip);
    mentis_ratelimit_result_t r;
    mentis_status_t st = mentis_ratelimit_take(l->rl, key, rule, 1, gw_now_ns() / 1000000, &r);
    if (st != MENTIS_OK && st != MENTIS_ERR_RATE_LIMITED) {
        /* A limiter that cannot decide lets the request through, and says so. */
        mentis_log_error("rate limit not applied: %s", mentis_err_msg());
        return true;
    }
    char n[16];
    snprintf(n, sizeof n, "%u", r.limit);
    gw_response_header(req, "RateLimit-Limit", n);
    gw_response_header(req, "X-RateLimit-Limit", n);
    snprintf(n, sizeof n, "%u", r.remaining);
    gw_response_header(req, "RateLimit-Remaining", n);
    gw_response_header(req, "X-RateLimit-Remaining", n);
    snprintf(n, sizeof n, "%u", r.reset_s);
    gw_response_header(req, "RateLimit-Reset", n);
    gw_response_header(req, "X-RateLimit-Reset", n);
    if (st == MENTIS_OK)
        return true;
    gw_limits_reject(l, GW_REJECT_RATE);
    snprintf(n, sizeof n, "%u", r.retry_after_s);
    gw_response_header(req, "Retry-After", n);
    gw_respond_problem(req, 429, "rate_limited",
                       "too many requests (%s: %u per %u s); retry in %u s",
                       mentis_ratelimit_category_str(cat), rule.limit, rule.window_ms / 1000,
                       r.retry_after_s);
    return false;
}

/* ---- in flight ---- */

bool gw_limits_in_flight(gw_limits_t *l, gw_request_t *req, size_t inflight)
{
    if (inflight <= (size_t)l->settings->max_in_flight)
        return true;
    gw_limits_reject(l, GW_REJECT_IN_FLIGHT);
    gw_response_header(req, "Retry-After", "1");
    gw_respond_problem(req, 503, "overloaded",
                       "the gateway is handling %d requests already; retry in a second",
                       l->settings->max_in_flight);
    return false;
}

/* ---- connections per address ---- */

static size_t slot_hash(const uint8_t addr[16])
{
    uint64_t h = 1469598103934665603ULL; /* FNV-1a */
    for (int i = 0; i < 16; i++)
        h = (h ^ addr[i]) * 1099511628211ULL;
    return (size_t)(h % CONN_SLOTS);
}

/* The slot of addr, or a free one to use for it (NULL when the table is full). */
static struct conn_slot *slot_find(gw_limits_t *l, const uint8_t addr[16], bool create)
{
    size_t i = slot_hash(addr);
    struct conn_slot *reuse = NULL;
    for (size_t probe = 0; probe < CONN_SLOTS; probe++, i = (i + 1) % CONN_SLOTS) {
        struct conn_slot *s = &l->conns[i];
        if (!s->used)
            break;
        if (memcmp(s->addr, addr, 16) == 0)
            return s;
        if (s->count == 0 && reuse == NULL)
            reuse = s;
    }
    if (!create)
        return NULL;
    if (reuse == NULL) {
        /* A fresh slot: rebuild when tombstones fill the table, so probes stay short. */
        if (l->conns_used * 4 >= CONN_SLOTS * 3) {
            struct conn_slot *old = l->conns;
            struct conn_slot *fresh = calloc(CONN_SLOTS, sizeof *fresh);
            if (fresh == NULL)
                return NULL;
            l->conns = fresh;
            l->conns_used = 0;
            for (size_t k = 0; k < CONN_SLOTS; k++) {
                if (old[k].used && old[k].count > 0) {
                    struct conn_slot *s = slot_find(l, old[k].addr, true);
                    if (s != NULL)
                        s->count = old[k].count;
                }
            }
            free(old);
            return slot_find(l, addr, true);
        }
        i = slot_hash(addr);
        while (l->conns[i].used)
            i = (i + 1) % CONN_SLOTS;
        reuse = &l->conns[i];
        l->conns_used++;
    }
    memcpy(reuse->addr, addr, 16);
    reuse->used = true;
    reuse->count = 0;
    return reuse;
}

bool gw_limits_conn_open(gw_limits_t *l, const uint8_t addr[16])
{
    if (gw_edge_trusted(l->settings, addr)) {
        mentis_gauge_add(l->connections, 1);
        return true;
    }
    struct conn_slot *s = slot_find(l, addr, true);
    if (s == NULL || s->count >= (uint32_t)l->settings->max_conns_per_ip) {
        gw_limits_reject(l, GW_REJECT_CONNS_PER_IP);
        return false;
    }
    s->count++;
    mentis_gauge_add(l->connections, 1);
    return true;
}

void gw_limits_conn_close(gw_limits_t *l, const uint8_t addr[16])
{
    mentis_gauge_add(l->connections, -1);
    if (gw_edge_trusted(l->settings, addr))
        return;
    struct conn_slot *s = slot_find(l, addr, false);
    if (s != NULL && s->count > 0)
        s->count--;
}

uint32_t gw_limits_conn_count(gw_limits_t *l, const uint8_t addr[16])
{
    struct conn_slot *s = slot_find(l, addr, false);
    return s ? s->count : 0;
}
