/*
 * Inside the access check: the state access.c (tiers), keys.c (signing keys and
 * revocation events) and beta.c (beta-token checks and usage) share. lws thread only,
 * except the event queue (events_mu).
 */
#ifndef MENTIS_GATEWAY_ACCESS_H
#define MENTIS_GATEWAY_ACCESS_H

#include "gateway.h"
#include "mentis/jwt.h"

#define GW_BETA_SLOTS   4096 /* beta-token answers remembered (direct-mapped by hash) */
#define GW_BETA_REVOKED 256  /* recently revoked beta tokens (refuse late check answers) */
#define GW_BETA_PREFIX  "mtb_"

/* A queued event from a bus thread. */
struct gw_event {
    struct gw_event *next;
    enum { EV_SESSION_REVOKED, EV_BETA_REVOKED, EV_KEYS } type;
    void *msg; /* the unpacked protobuf message, freed with protobuf_c_message_free_unpacked */
};

/* One remembered beta-token answer. */
struct gw_beta_entry {
    uint8_t hash[32];
    bool used;
    bool valid;
    int64_t expires_ms; /* forget after */
    char code[32];      /* refusal code when not valid */
    char token_id[64], tenant_id[64];
    int32_t rate_per_minute;
    int64_t quota, used_today; /* daily request quota (0: none), count at the check */
    int64_t counted;           /* requests this gateway let through since the check */
};

/* A beta-token check in flight, with the requests waiting for it. */
struct gw_beta_pending {
    struct gw_beta_pending *next;
    gw_access_t *access;
    uint8_t hash[32];
    uint64_t bus_id;
    gw_request_t **waiters;
    size_t nwaiters, cap;
};

/* Requests of one beta token since the last usage report. */
struct gw_beta_usage {
    char token_id[64], tenant_id[64];
    int64_t requests;
};

struct gw_access {
    gw_server_t *srv;
    mentis_jwt_cache_t *cache;
    mentis_jwt_keyset_t *keys; /* NULL until mentis-auth answered once */
    int64_t keys_asked_ms;     /* when the keys were last asked for */
    bool keys_pending;
    uint64_t keys_bus_id;
    lws_sorted_usec_list_t keys_sul, usage_sul, purge_sul;
    bool started;

    mentis_bus_sub_t *subs[3];
    pthread_mutex_t events_mu;
    struct gw_event *events, **events_tail;

    struct gw_beta_entry *beta; /* GW_BETA_SLOTS */
    struct gw_beta_pending *beta_pending;
    char beta_revoked[GW_BETA_REVOKED][64];
    size_t beta_revoked_next;
    struct gw_beta_usage *usage;
    size_t nusage, usage_cap;

    mentis_counter_t *verified[2]; /* access tokens: 0 refused, 1 accepted */
    mentis_counter_t *revocations;
    mentis_gauge_t *key_count;
};

/* keys.c */
mentis_status_t gw_keys_subscribe(gw_access_t *a);
void gw_keys_fetch(gw_access_t *a);
void gw_keys_apply_event(gw_access_t *a, struct gw_event *ev);

/* beta.c */
gw_access_result_t gw_beta_check(gw_access_t *a, gw_request_t *req, const char *token);
void gw_beta_forget(gw_access_t *a, gw_request_t *req);
void gw_beta_revoked(gw_access_t *a, const char *token_id);
void gw_beta_usage_flush(gw_access_t *a);
void gw_beta_free(gw_access_t *a);

/* access.c: fills the identity of a valid beta token and counts its use (false: answered). */
bool gw_access_beta_admit(gw_access_t *a, gw_request_t *req, struct gw_beta_entry *e);

/* Wall clock, seconds and milliseconds since the epoch. */
int64_t gw_wall_s(void);

#endif
