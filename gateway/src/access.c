/*
 * The authentication tiers (ARCHITECTURE.md, Security):
 *   public  nobody is checked; nothing of a token reaches a service.
 *   client  `Authorization: Bearer <token>`: an access token (a JWT verified here with
 *           the keys of mentis-auth, keys.c, and remembered until it expires) or a beta
 *           token ("mtb_…", checked by mentis-auth and remembered briefly, beta.c).
 *   admin   an access token whose role is admin or platform_admin, or — when that mode
 *           is on — an allowlisted Cloudflare Access email arriving through a trusted proxy.
 * What passes becomes the request's identity; forward.c sends it to the service in the
 * Mentis-* headers, which are built from the identity alone: nothing a client sends under
 * those names ever reaches a service.
 *
 * Refusals: no or unusable credentials → 401 with WWW-Authenticate (code
 * "unauthenticated", "token_invalid" or "token_expired" — the precise reason goes to the
 * log only); a valid identity without the role → 403 "permission_denied"; keys not known
 * yet → 503 (a client must not throw away a good token because auth is starting).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "access.h"
#include "mentis/log.h"

#define TOKEN_MAX_LIFETIME_S 86400 /* the longest access-token lifetime mentis-auth allows */
#define LEEWAY_S             30
#define PURGE_INTERVAL_S     60

int64_t gw_wall_s(void)
{
    return (int64_t)time(NULL);
}

mentis_status_t gw_access_create(gw_server_t *srv, mentis_metrics_t *m, gw_access_t **out)
{
    const gw_settings_t *s = srv->settings;
    gw_access_t *a = calloc(1, sizeof *a);
    if (a == NULL)
        return mentis_err_set(MENTIS_ERR_NO_MEMORY, NULL, "access: out of memory");
    a->srv = srv;
    pthread_mutex_init(&a->events_mu, NULL);
    a->events_tail = &a->events;
    a->beta = calloc(GW_BETA_SLOTS, sizeof *a->beta);
    mentis_jwt_cache_config_t cc = {
        .policy = {.issuer = s->issuer,
                   .audience = s->audience,
                   .leeway_s = LEEWAY_S,
                   .max_lifetime_s = TOKEN_MAX_LIFETIME_S},
        .capacity = (size_t)s->token_cache,
        .max_revocations = (size_t)s->token_cache,
    };
    if (a->beta == NULL || mentis_jwt_cache_create(&cc, &a->cache) != MENTIS_OK) {
        gw_access_destroy(a);
        return mentis_err_wrap(MENTIS_ERR_NO_MEMORY, "access: token cache");
    }
    static const char *const labels[] = {"result", NULL};
    const char *refused[] = {"refused", NULL}, *accepted[] = {"accepted", NULL};
    a->verified[0] = mentis_metrics_counter(m, "mentis_gateway_access_tokens_total",
                                            "Access tokens checked, by result", labels, refused);
    a->verified[1] = mentis_metrics_counter(m, "mentis_gateway_access_tokens_total",
                                            "Access tokens checked, by result", labels, accepted);
    a->revocations = mentis_metrics_counter(m, "mentis_gateway_revocations_total",
                                            "Revocation events applied (sessions, users, beta "
                                            "tokens)",
                                            NULL, NULL);
    a->key_count = mentis_metrics_gauge(m, "mentis_gateway_signing_keys",
                                        "Access-token signing keys known", NULL, NULL);
    mentis_status_t st = gw_keys_subscribe(a);
    if (st != MENTIS_OK) {
        gw_access_stop(a);
        gw_access_destroy(a);
        return st;
    }
    *out = a;
    return MENTIS_OK;
}

static void purge(lws_sorted_usec_list_t *sul)
{
    gw_access_t *a = lws_container_of(sul, gw_access_t, purge_sul);
    mentis_jwt_cache_purge(a->cache, gw_wall_s());
    lws_sul_schedule(a->srv->lws, 0, &a->purge_sul, purge, PURGE_INTERVAL_S * LWS_US_PER_SEC);
}

static void usage_tick(lws_sorted_usec_list_t *sul)
{
    gw_access_t *a = lws_container_of(sul, gw_access_t, usage_sul);
    gw_beta_usage_flush(a);
    lws_sul_schedule(a->srv->lws, 0, &a->usage_sul, usage_tick,
                     (lws_usec_t)a->srv->settings->usage_interval_ms * LWS_US_PER_MS);
}

void gw_access_start(gw_access_t *a)
{
    a->started = true;
    gw_keys_fetch(a);
    lws_sul_schedule(a->srv->lws, 0, &a->purge_sul, purge, PURGE_INTERVAL_S * LWS_US_PER_SEC);
    lws_sul_schedule(a->srv->lws, 0, &a->usage_sul, usage_tick,
                     (lws_usec_t)a->srv->settings->usage_interval_ms * LWS_US_PER_MS);
}

void gw_access_halt(gw_access_t *a)
{
    if (!a->started)
        return;
    gw_beta_usage_flush(a); /* what was counted is reported, even at shutdown */
    lws_sul_cancel(&a->keys_sul);
    lws_sul_cancel(&a->purge_sul);
    lws_sul_cancel(&a->usage_sul);
    a->started = false;
}

void gw_access_stop(gw_access_t *a)
{
    if (a == NULL)
        return;
    for (size_t i = 0; i < sizeof a->subs / sizeof a->subs[0]; i++) {
        mentis_bus_unsubscribe(a->subs[i], false, 0);
        a->subs[i] = NULL;
    }
}

void gw_access_destroy(gw_access_t *a)
{
    if (a == NULL)
        return;
    struct gw_event *ev = a->events;
    while (ev) {
        struct gw_event *next = ev->next;
        protobuf_c_message_free_unpacked(ev->msg, NULL);
        free(ev);
        ev = next;
    }
    gw_beta_free(a);
    mentis_jwt_keyset_release(a->keys);
    mentis_jwt_cache_destroy(a->cache);
    pthread_mutex_destroy(&a->events_mu);
    free(a->beta);
    free(a);
}

void gw_access_run_events(gw_access_t *a)
{
    pthread_mutex_lock(&a->events_mu);
    struct gw_event *ev = a->events;
    a->events = NULL;
    a->events_tail = &a->events;
    pthread_mutex_unlock(&a->events_mu);
    while (ev) {
        struct gw_event *next = ev->next;
        gw_keys_apply_event(a, ev);
        mentis_counter_inc(a->revocations);
        protobuf_c_message_free_unpacked(ev->msg, NULL);
        free(ev);
        ev = next;
    }
}

/* ---- the check ---- */

static void refuse(gw_access_t *a, gw_request_t *req, int status, const char *code,
                   const char *log_code, const char *detail)
{
    gw_limits_reject(a->srv->limits,
                     status == 403 ? GW_REJECT_FORBIDDEN : GW_REJECT_UNAUTHENTICATED);
    if (status == 401) {
        char www[160];
        if (strcmp(code, "unauthenticated") == 0)
            snprintf(www, sizeof www, "Bearer realm=\"mentis\"");
        else
            snprintf(www, sizeof www, "Bearer realm=\"mentis\", error=\"invalid_token\", "
                     "error_description=\"%s\"", code);
        gw_response_header(req, "WWW-Authenticate", www);
    }
    if (log_code != NULL)
        gw_request_reason(req, log_code);
    gw_respond_problem(req, status, code, "%s", detail);
}

static bool is_admin_role(const char *role)
{
    return strcmp(role, "admin") == 0 || strcmp(role, "platform_admin") == 0;
}

/* The request's tier is met by its identity; else answers 403. */
static gw_access_result_t tier_met(gw_access_t *a, gw_request_t *req)
{
    const gw_route_t *route = gw_request_route(req);
    const gw_identity_t *id = gw_request_identity(req);
    if (route->tier == GW_TIER_ADMIN && !is_admin_role(id->role)) {
        refuse(a, req, 403, "permission_denied", NULL, "this route needs the admin role");
        return GW_ACCESS_ANSWERED;
    }
    return GW_ACCESS_OK;
}

static gw_access_result_t check_jwt(gw_access_t *a, gw_request_t *req, const char *token)
{
    if (a->keys == NULL) {
        gw_keys_fetch(a);
        gw_response_header(req, "Retry-After", "1");
        gw_respond_problem(req, 503, "unavailable",
                           "access tokens cannot be checked yet: the signing keys of "
                           "mentis-auth are not known; retry in a second");
        return GW_ACCESS_ANSWERED;
    }
    mentis_jwt_claims_t c;
    mentis_status_t st =
        mentis_jwt_cache_verify(a->cache, token, strlen(token), a->keys, gw_wall_s(), &c);
    if (st != MENTIS_OK) {
        mentis_counter_inc(a->verified[0]);
        const char *code = mentis_err_code();
        if (code == NULL)
            code = MENTIS_JWT_CODE_MALFORMED;
        if (strcmp(code, MENTIS_JWT_CODE_UNKNOWN_KEY) == 0)
            gw_keys_fetch(a); /* perhaps a key made since the last fetch */
        const char *client = mentis_jwt_client_code(code);
        refuse(a, req, 401, client, code,
               strcmp(client, "token_expired") == 0
                   ? "the access token has expired; refresh it"
                   : "the access token is not valid; sign in again");
        return GW_ACCESS_ANSWERED;
    }
    mentis_counter_inc(a->verified[1]);
    gw_identity_t *id = gw_request_identity_mut(req);
    id->kind = GW_PRINCIPAL_USER;
    snprintf(id->principal, sizeof id->principal, "%s", c.sub);
    snprintf(id->tenant, sizeof id->tenant, "%s", c.tid);
    snprintf(id->session, sizeof id->session, "%s", c.sid);
    snprintf(id->device, sizeof id->device, "%s", c.device_id);
    snprintf(id->email, sizeof id->email, "%s", c.email);
    snprintf(id->role, sizeof id->role, "%s", mentis_jwt_role_str(c.role));
    return tier_met(a, req);
}

bool gw_access_beta_admit(gw_access_t *a, gw_request_t *req, struct gw_beta_entry *e)
{
    if (!e->valid) {
        refuse(a, req, 401, strcmp(e->code, "token_expired") == 0 ? "token_expired"
                                                                   : "token_invalid",
               e->code, "the beta token is not valid");
        return false;
    }
    const gw_route_t *route = gw_request_route(req);
    if (route->tier == GW_TIER_ADMIN) {
        refuse(a, req, 403, "permission_denied", NULL, "this route needs the admin role");
        return false;
    }
    if (e->quota > 0 && e->used_today + e->counted >= e->quota) {
        gw_limits_reject(a->srv->limits, GW_REJECT_QUOTA);
        /* The quota is per UTC day: it comes back at midnight. */
        int64_t now = gw_wall_s();
        char ra[24];
        snprintf(ra, sizeof ra, "%lld", (long long)(86400 - now % 86400));
        gw_response_header(req, "Retry-After", ra);
        gw_respond_problem(req, 429, "quota_exceeded",
                           "this beta token has used its %lld requests of today",
                           (long long)e->quota);
        return false;
    }
    e->counted++;
    gw_identity_t *id = gw_request_identity_mut(req);
    id->kind = GW_PRINCIPAL_BETA;
    snprintf(id->principal, sizeof id->principal, "%s", e->token_id);
    snprintf(id->tenant, sizeof id->tenant, "%s", e->tenant_id);
    snprintf(id->role, sizeof id->role, "beta");
    id->rate_per_minute = e->rate_per_minute;
    /* Usage is counted here, where the request is let through. */
    struct gw_beta_usage *u = NULL;
    for (size_t i = 0; i < a->nusage; i++)
        if (strcmp(a->usage[i].token_id, e->token_id) == 0)
            u = &a->usage[i];
    if (u == NULL) {
        if (a->nusage == a->usage_cap) {
            size_t cap = a->usage_cap ? a->usage_cap * 2 : 16;
            struct gw_beta_usage *grown = realloc(a->usage, cap * sizeof *grown);
            if (grown == NULL)
                return true; /* not counted, rather than refused */
            a->usage = grown;
            a->usage_cap = cap;
        }
        u = &a->usage[a->nusage++];
        memset(u, 0, sizeof *u);
        snprintf(u->token_id, sizeof u->token_id, "%s", e->token_id);
        snprintf(u->tenant_id, sizeof u->tenant_id, "%s", e->tenant_id);
    }
    u->requests++;
    return true;
}

gw_access_result_t gw_access_check(gw_access_t *a, gw_request_t *req, struct lws *wsi)
{
    const gw_route_t *route = gw_request_route(req);
    if (route->tier == GW_TIER_PUBLIC)
        return GW_ACCESS_OK;
    const char *token = gw_request_bearer(req);
    if (token[0] == '\0' && route->tier == GW_TIER_ADMIN) {
        char email[256];
        if (gw_edge_cf_admin(a->srv->settings, gw_request_client(req), wsi, email,
                             sizeof email)) {
            gw_identity_t *id = gw_request_identity_mut(req);
            id->kind = GW_PRINCIPAL_CF_ACCESS;
            snprintf(id->tenant, sizeof id->tenant, "%s", a->srv->settings->default_tenant);
            snprintf(id->role, sizeof id->role, "admin");
            snprintf(id->email, sizeof id->email, "%s", email);
            return GW_ACCESS_OK;
        }
    }
    if (token[0] == '\0') {
        refuse(a, req, 401, "unauthenticated", NULL,
               "this route needs an access token or a beta token (Authorization: Bearer ...)");
        return GW_ACCESS_ANSWERED;
    }
    if (strncmp(token, GW_BETA_PREFIX, strlen(GW_BETA_PREFIX)) == 0)
        return gw_beta_check(a, req, token);
    return check_jwt(a, req, token);
}

void gw_access_forget(gw_access_t *a, gw_request_t *req)
{
    gw_beta_forget(a, req);
}
