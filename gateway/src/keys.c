/*
 * The gateway's knowledge from mentis-auth: the public keys that verify access tokens,
 * and the revocations that must be honoured before those tokens expire.
 *
 * Keys are asked for on mentis.v1.auth.keys when the loop starts, every keys_refresh_s
 * once known, and on demand — a token arrives while none are known, or names a key we do
 * not know — at most once a second; they are replaced whenever mentis-auth announces a
 * new set on mentis.v1.evt.auth.keys. Without keys nothing is asked in the background:
 * a gateway whose auth is down stays quiet on the bus until a client needs it.
 *
 * Events arrive on bus threads: each is decoded there and queued; the loop is woken and
 * applies them (gw_access_run_events), since the token cache belongs to the lws thread.
 * A revoked session's tokens are refused from the next request on; there is no window
 * but the bus's own delivery.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "access.h"
#include "mentis/crypto.h"
#include "mentis/log.h"
#include "mentis/v1/auth.pb-c.h"

#define KEYS_TIMEOUT_MS 2000
#define KEYS_MIN_GAP_MS 1000

/* ---- events (bus threads) ---- */

static void enqueue(gw_access_t *a, int type, void *msg)
{
    struct gw_event *ev = calloc(1, sizeof *ev);
    if (ev == NULL) {
        protobuf_c_message_free_unpacked(msg, NULL);
        mentis_log_error("access: out of memory queueing an event; it is lost");
        return;
    }
    ev->type = type;
    ev->msg = msg;
    pthread_mutex_lock(&a->events_mu);
    *a->events_tail = ev;
    a->events_tail = &ev->next;
    pthread_mutex_unlock(&a->events_mu);
    gw_server_wake(a->srv);
}

static void on_event(gw_access_t *a, int type, const ProtobufCMessageDescriptor *d,
                     mentis_msg_t *msg)
{
    ProtobufCMessage *m =
        protobuf_c_message_unpack(d, NULL, mentis_msg_len(msg), mentis_msg_data(msg));
    if (m == NULL)
        mentis_log_warn("access: undecodable %s event ignored", d->name);
    else
        enqueue(a, type, m);
    mentis_msg_destroy(msg);
}

static void on_session_revoked(void *arg, mentis_msg_t *msg)
{
    on_event(arg, EV_SESSION_REVOKED, &mentis__v1__auth__session_revoked__descriptor, msg);
}

static void on_beta_revoked(void *arg, mentis_msg_t *msg)
{
    on_event(arg, EV_BETA_REVOKED, &mentis__v1__auth__beta_token_revoked__descriptor, msg);
}

static void on_keys(void *arg, mentis_msg_t *msg)
{
    on_event(arg, EV_KEYS, &mentis__v1__auth__key_set_changed__descriptor, msg);
}

mentis_status_t gw_keys_subscribe(gw_access_t *a)
{
    /* Every replica hears every event: no queue group. */
    mentis_bus_t *bus = a->srv->bus;
    if (mentis_bus_subscribe(bus, "mentis.v1.evt.auth.session_revoked.>", NULL,
                             on_session_revoked, a, &a->subs[0]) != MENTIS_OK ||
        mentis_bus_subscribe(bus, "mentis.v1.evt.auth.beta_revoked.>", NULL, on_beta_revoked, a,
                             &a->subs[1]) != MENTIS_OK ||
        mentis_bus_subscribe(bus, "mentis.v1.evt.auth.keys", NULL, on_keys, a, &a->subs[2]) !=
            MENTIS_OK)
        return mentis_err_wrap(MENTIS_ERR_UNAVAILABLE, "access: subscribing to auth events");
    return MENTIS_OK;
}

/* ---- keys (lws thread) ---- */

/* A key set from JWKS entries; NULL when none is usable (the old set stays). */
static mentis_jwt_keyset_t *keyset_of(Mentis__V1__Auth__Jwk **jwks, size_t n)
{
    mentis_jwt_key_t keys[MENTIS_JWT_MAX_KEYS];
    size_t k = 0;
    for (size_t i = 0; i < n && k < MENTIS_JWT_MAX_KEYS; i++) {
        const Mentis__V1__Auth__Jwk *j = jwks[i];
        if (strcmp(j->kty, "OKP") != 0 || strcmp(j->crv, "Ed25519") != 0 ||
            (j->alg[0] && strcmp(j->alg, "EdDSA") != 0) || strlen(j->kid) == 0 ||
            strlen(j->kid) >= sizeof keys[k].kid)
            continue;
        size_t len = 0;
        if (mentis_crypto_base64url_decode(j->x, strlen(j->x), keys[k].pk, sizeof keys[k].pk,
                                           &len) != MENTIS_OK ||
            len != sizeof keys[k].pk)
            continue;
        snprintf(keys[k].kid, sizeof keys[k].kid, "%s", j->kid);
        k++;
    }
    mentis_jwt_keyset_t *set = NULL;
    if (k == 0 || mentis_jwt_keyset_create(keys, k, &set) != MENTIS_OK) {
        mentis_log_warn("access: mentis-auth sent no usable signing key");
        return NULL;
    }
    return set;
}

static void keys_replace(gw_access_t *a, mentis_jwt_keyset_t *set)
{
    if (set == NULL)
        return;
    bool first = a->keys == NULL;
    mentis_jwt_keyset_release(a->keys);
    a->keys = set;
    mentis_gauge_set(a->key_count, (double)mentis_jwt_keyset_size(set));
    if (first)
        mentis_log_info("access: %zu signing key(s) of mentis-auth known",
                        mentis_jwt_keyset_size(set));
}

static void keys_tick(lws_sorted_usec_list_t *sul);

static void keys_schedule(gw_access_t *a, int64_t ms)
{
    if (a->started)
        lws_sul_schedule(a->srv->lws, 0, &a->keys_sul, keys_tick, (lws_usec_t)ms * LWS_US_PER_MS);
}

static void on_keys_reply(void *arg, mentis_status_t st, mentis_msg_t *reply)
{
    gw_access_t *a = arg;
    a->keys_pending = false;
    if (st == MENTIS_OK && mentis_msg_error(reply, NULL, NULL) == MENTIS_OK) {
        Mentis__V1__Auth__JwksResponse *r = mentis__v1__auth__jwks_response__unpack(
            NULL, mentis_msg_len(reply), mentis_msg_data(reply));
        if (r != NULL) {
            keys_replace(a, keyset_of(r->keys, r->n_keys));
            mentis__v1__auth__jwks_response__free_unpacked(r, NULL);
        }
    }
    if (reply != NULL)
        mentis_msg_destroy(reply);
    if (a->keys != NULL)
        keys_schedule(a, (int64_t)a->srv->settings->keys_refresh_s * 1000);
}

void gw_keys_fetch(gw_access_t *a)
{
    int64_t now = mentis_bus_now_ms();
    if (a->keys_pending || (a->keys_asked_ms && now - a->keys_asked_ms < KEYS_MIN_GAP_MS) ||
        !a->started)
        return;
    a->keys_asked_ms = now;
    mentis_status_t st =
        mentis_bus_request(a->srv->bus, "mentis.v1.auth.keys", NULL, 0, NULL, 0,
                           now + KEYS_TIMEOUT_MS, a->srv->dispatch, on_keys_reply, a,
                           &a->keys_bus_id);
    a->keys_pending = st == MENTIS_OK;
}

static void keys_tick(lws_sorted_usec_list_t *sul)
{
    gw_access_t *a = lws_container_of(sul, gw_access_t, keys_sul);
    gw_keys_fetch(a);
}

/* ---- applying events (lws thread) ---- */

void gw_keys_apply_event(gw_access_t *a, struct gw_event *ev)
{
    int64_t now = gw_wall_s();
    switch (ev->type) {
    case EV_SESSION_REVOKED: {
        const Mentis__V1__Auth__SessionRevoked *m = ev->msg;
        int64_t since = m->revoked_at ? m->revoked_at->seconds : now;
        for (size_t i = 0; i < m->n_session_ids; i++)
            mentis_jwt_cache_revoke_session(a->cache, m->session_ids[i], since, now);
        /* Without the ids, every token of the user issued until now goes; with them, only
         * those sessions (so a sign-in right after, in the same second, still works). */
        if (m->all_sessions && m->n_session_ids == 0 && m->user_id[0])
            mentis_jwt_cache_revoke_user(a->cache, m->user_id, since, now);
        mentis_log_info("access: %zu session(s) of user %s revoked (%s)", m->n_session_ids,
                        m->user_id, m->reason);
        break;
    }
    case EV_BETA_REVOKED: {
        const Mentis__V1__Auth__BetaTokenRevoked *m = ev->msg;
        gw_beta_revoked(a, m->token_id);
        mentis_log_info("access: beta token %s revoked", m->token_id);
        break;
    }
    case EV_KEYS: {
        const Mentis__V1__Auth__KeySetChanged *m = ev->msg;
        keys_replace(a, keyset_of(m->keys, m->n_keys));
        break;
    }
    }
}
