/*
 * Beta tokens at the edge: "mtb_…" bearer tokens, pre-shared one per tester. Only
 * mentis-auth can tell a good one (it keeps their hashes), so the gateway asks it
 * (mentis.v1.auth.beta.check) and remembers the answer — good or bad — for beta_cache_s,
 * keyed by the token's BLAKE2b hash (the token itself is never kept). Requests for a
 * token whose check is in flight wait for that one check instead of asking again.
 *
 * A revocation (mentis.v1.evt.auth.beta_revoked) drops the remembered answer at once, and
 * the token id is remembered for a while, so a check answered "valid" just before the
 * revocation cannot bring the token back.
 *
 * Metering: every request let through is counted per token and published every
 * usage_interval_ms on mentis.v1.evt.gateway.beta_usage; mentis-auth adds it to the
 * token's daily counters and answers the day's total with the next check, against which
 * the daily quota is held (between checks the local count is added).
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "access.h"
#include "mentis/crypto.h"
#include "mentis/log.h"
#include "mentis/v1/auth.pb-c.h"
#include "mentis/v1/gateway.pb-c.h"

#define CHECK_TIMEOUT_MS 2000

static struct gw_beta_entry *slot_of(gw_access_t *a, const uint8_t hash[32])
{
    uint32_t h;
    memcpy(&h, hash, sizeof h);
    return &a->beta[h % GW_BETA_SLOTS];
}

static bool recently_revoked(gw_access_t *a, const char *token_id)
{
    for (size_t i = 0; i < GW_BETA_REVOKED; i++)
        if (a->beta_revoked[i][0] && strcmp(a->beta_revoked[i], token_id) == 0)
            return true;
    return false;
}

void gw_beta_revoked(gw_access_t *a, const char *token_id)
{
    if (token_id == NULL || token_id[0] == '\0')
        return;
    snprintf(a->beta_revoked[a->beta_revoked_next], sizeof a->beta_revoked[0], "%s", token_id);
    a->beta_revoked_next = (a->beta_revoked_next + 1) % GW_BETA_REVOKED;
    for (size_t i = 0; i < GW_BETA_SLOTS; i++) {
        struct gw_beta_entry *e = &a->beta[i];
        if (e->used && e->valid && strcmp(e->token_id, token_id) == 0) {
            e->valid = false;
            snprintf(e->code, sizeof e->code, "token_revoked");
        }
    }
}

/* Resumes a waiting request with the answer in e. */
static void resume(gw_access_t *a, gw_request_t *req, struct gw_beta_entry *e)
{
    bool ok = gw_access_beta_admit(a, req, e);
    gw_http_access_done(req, ok);
}

static void pending_unlink(gw_access_t *a, struct gw_beta_pending *p)
{
    for (struct gw_beta_pending **pp = &a->beta_pending; *pp; pp = &(*pp)->next) {
        if (*pp == p) {
            *pp = p->next;
            return;
        }
    }
}

/* What mentis-auth answered, stored in the slot of its hash. */
static void store(gw_access_t *a, struct gw_beta_pending *p, mentis_status_t st,
                  mentis_msg_t *reply, struct gw_beta_entry *out)
{
    memset(out, 0, sizeof *out);
    memcpy(out->hash, p->hash, sizeof out->hash);
    out->used = true;
    int64_t now = mentis_bus_now_ms();
    out->expires_ms = now + (int64_t)a->srv->settings->beta_cache_s * 1000;
    const char *code = NULL;
    if (st == MENTIS_OK)
        st = mentis_msg_error(reply, &code, NULL);
    /* A refusal about the token itself is an answer (remembered like a good one); only
     * an auth that cannot answer leaves nothing remembered. */
    if (st == MENTIS_ERR_UNAUTHENTICATED || st == MENTIS_ERR_INVALID_ARGUMENT ||
        st == MENTIS_ERR_NOT_FOUND || st == MENTIS_ERR_PERMISSION_DENIED) {
        snprintf(out->code, sizeof out->code, "%s", code && code[0] ? code : "invalid_token");
        return;
    }
    if (st != MENTIS_OK) {
        /* mentis-auth did not answer: nothing is remembered, the waiters get 503. */
        out->used = false;
        snprintf(out->code, sizeof out->code, "unavailable");
        return;
    }
    Mentis__V1__Auth__BetaCheckResponse *r = mentis__v1__auth__beta_check_response__unpack(
        NULL, mentis_msg_len(reply), mentis_msg_data(reply));
    if (r == NULL || r->token_id[0] == '\0' || r->tenant_id[0] == '\0') {
        out->used = false;
        snprintf(out->code, sizeof out->code, "unavailable");
    } else if (recently_revoked(a, r->token_id)) {
        snprintf(out->code, sizeof out->code, "token_revoked");
    } else {
        out->valid = true;
        snprintf(out->token_id, sizeof out->token_id, "%s", r->token_id);
        snprintf(out->tenant_id, sizeof out->tenant_id, "%s", r->tenant_id);
        out->rate_per_minute = r->rate_limit_per_minute;
        out->quota = r->daily_request_quota;
        out->used_today = r->requests_today;
        /* Never trusted past its own expiry. */
        if (r->expires_at && r->expires_at->seconds * 1000 < out->expires_ms)
            out->expires_ms = r->expires_at->seconds * 1000;
    }
    if (r != NULL)
        mentis__v1__auth__beta_check_response__free_unpacked(r, NULL);
}

static void on_check(void *arg, mentis_status_t st, mentis_msg_t *reply)
{
    struct gw_beta_pending *p = arg;
    gw_access_t *a = p->access;
    struct gw_beta_entry answer;
    store(a, p, st, reply, &answer);
    if (answer.used)
        *slot_of(a, p->hash) = answer;
    if (reply != NULL)
        mentis_msg_destroy(reply);
    /* Each waiter is resumed from the stored answer (its count goes there). */
    gw_request_t **waiters = p->waiters;
    size_t n = p->nwaiters;
    p->waiters = NULL;
    p->nwaiters = 0;
    pending_unlink(a, p);
    for (size_t i = 0; i < n; i++) {
        struct gw_beta_entry *e = slot_of(a, answer.hash);
        if (!answer.used || memcmp(e->hash, answer.hash, sizeof answer.hash) != 0)
            e = &answer;
        if (strcmp(answer.code, "unavailable") == 0) {
            gw_response_header(waiters[i], "Retry-After", "1");
            gw_respond_problem(waiters[i], 503, "unavailable",
                               "the beta token cannot be checked: mentis-auth did not answer");
            gw_http_access_done(waiters[i], false);
            continue;
        }
        resume(a, waiters[i], e);
    }
    free(waiters);
    free(p);
}

gw_access_result_t gw_beta_check(gw_access_t *a, gw_request_t *req, const char *token)
{
    uint8_t hash[32];
    mentis_crypto_hash(token, strlen(token), hash);
    struct gw_beta_entry *e = slot_of(a, hash);
    if (e->used && memcmp(e->hash, hash, sizeof hash) == 0 &&
        e->expires_ms > mentis_bus_now_ms())
        return gw_access_beta_admit(a, req, e) ? GW_ACCESS_OK : GW_ACCESS_ANSWERED;

    struct gw_beta_pending *p = a->beta_pending;
    while (p && memcmp(p->hash, hash, sizeof hash) != 0)
        p = p->next;
    bool fresh = p == NULL;
    if (fresh) {
        p = calloc(1, sizeof *p);
        if (p == NULL) {
            gw_respond_problem(req, 500, "internal", "out of memory");
            return GW_ACCESS_ANSWERED;
        }
        memcpy(p->hash, hash, sizeof hash);
        p->access = a;
    }
    if (p->nwaiters == p->cap) {
        size_t cap = p->cap ? p->cap * 2 : 4;
        gw_request_t **grown = realloc(p->waiters, cap * sizeof *grown);
        if (grown == NULL) {
            if (fresh)
                free(p);
            gw_respond_problem(req, 500, "internal", "out of memory");
            return GW_ACCESS_ANSWERED;
        }
        p->waiters = grown;
        p->cap = cap;
    }
    p->waiters[p->nwaiters++] = req;
    if (!fresh)
        return GW_ACCESS_PENDING;

    Mentis__V1__Auth__BetaCheckRequest m;
    mentis__v1__auth__beta_check_request__init(&m);
    m.token = (char *)(uintptr_t)token;
    uint8_t buf[512];
    size_t len = mentis__v1__auth__beta_check_request__get_packed_size(&m);
    if (len > sizeof buf) {
        free(p->waiters);
        free(p);
        gw_respond_problem(req, 401, "token_invalid", "the beta token is not valid");
        return GW_ACCESS_ANSWERED;
    }
    mentis__v1__auth__beta_check_request__pack(&m, buf);
    mentis_header_t hdrs[] = {{MENTIS_HDR_REQUEST_ID, gw_request_id(req)}};
    mentis_status_t st = mentis_bus_request(a->srv->bus, "mentis.v1.auth.beta.check", hdrs, 1,
                                            buf, len, mentis_bus_now_ms() + CHECK_TIMEOUT_MS,
                                            a->srv->dispatch, on_check, p, &p->bus_id);
    if (st != MENTIS_OK) {
        free(p->waiters);
        free(p);
        gw_response_header(req, "Retry-After", "1");
        gw_respond_problem(req, 503, "unavailable",
                           "the beta token cannot be checked: not connected to NATS");
        return GW_ACCESS_ANSWERED;
    }
    p->next = a->beta_pending;
    a->beta_pending = p;
    return GW_ACCESS_PENDING;
}

void gw_beta_forget(gw_access_t *a, gw_request_t *req)
{
    for (struct gw_beta_pending *p = a->beta_pending; p; p = p->next) {
        for (size_t i = 0; i < p->nwaiters; i++) {
            if (p->waiters[i] != req)
                continue;
            p->waiters[i] = p->waiters[--p->nwaiters];
            if (p->nwaiters == 0) {
                /* Nobody waits any more: cancel the check (its callback never runs). */
                if (mentis_bus_request_cancel(a->srv->bus, p->bus_id)) {
                    pending_unlink(a, p);
                    free(p->waiters);
                    free(p);
                }
            }
            return;
        }
    }
}

void gw_beta_usage_flush(gw_access_t *a)
{
    if (a->nusage == 0)
        return;
    Mentis__V1__Gateway__BetaUsage m;
    mentis__v1__gateway__beta_usage__init(&m);
    Mentis__V1__Gateway__BetaTokenUsage *items = calloc(a->nusage, sizeof *items);
    Mentis__V1__Gateway__BetaTokenUsage **ptrs = calloc(a->nusage, sizeof *ptrs);
    uint8_t *buf = NULL;
    if (items != NULL && ptrs != NULL) {
        for (size_t i = 0; i < a->nusage; i++) {
            mentis__v1__gateway__beta_token_usage__init(&items[i]);
            items[i].token_id = a->usage[i].token_id;
            items[i].tenant_id = a->usage[i].tenant_id;
            items[i].requests = a->usage[i].requests;
            ptrs[i] = &items[i];
        }
        m.instance_id = (char *)(uintptr_t)a->srv->settings->proc.instance_id;
        m.n_items = a->nusage;
        m.items = ptrs;
        size_t len = mentis__v1__gateway__beta_usage__get_packed_size(&m);
        buf = malloc(len ? len : 1);
        if (buf != NULL) {
            mentis__v1__gateway__beta_usage__pack(&m, buf);
            if (mentis_bus_publish(a->srv->bus, "mentis.v1.evt.gateway.beta_usage", NULL, NULL,
                                   0, buf, len) == MENTIS_OK)
                a->nusage = 0;
        }
    }
    if (a->nusage != 0)
        mentis_log_warn("access: beta-token usage not published; kept for the next report");
    free(buf);
    free(ptrs);
    free(items);
}

void gw_beta_free(gw_access_t *a)
{
    struct gw_beta_pending *p = a->beta_pending;
    while (p) {
        struct gw_beta_pending *next = p->next;
        free(p->waiters);
        free(p);
        p = next;
    }
    a->beta_pending = NULL;
    free(a->usage);
    a->usage = NULL;
}
