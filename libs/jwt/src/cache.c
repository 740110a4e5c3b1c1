#include <stdlib.h>
#include <string.h>

#include "mentis/crypto.h"
#include "mentis/jwt.h"
#include "revocation.h"
#include "token.h"

#define NIL          UINT32_MAX
#define MAX_CAPACITY ((size_t)1 << 24)

struct entry {
    uint8_t hash[32];     /* BLAKE2b-256 of the token text */
    mentis_jwt_key_t key; /* the key that verified it */
    mentis_jwt_claims_t claims;
    uint32_t next;         /* bucket chain, or free list */
    uint32_t newer, older; /* recency list */
};

struct mentis_jwt_cache {
    mentis_jwt_policy_t policy; /* its strings point at issuer and audience below */
    char issuer[MENTIS_JWT_URI_SIZE];
    char audience[MENTIS_JWT_URI_SIZE];
    struct entry *entries;
    uint32_t *buckets;
    size_t capacity, mask, count;
    uint32_t free_head;
    uint32_t newest, oldest;
    mentis__jwt_revocations_t *revocations;
    uint64_t hits, misses, evictions, revoked;
};

mentis_status_t mentis_jwt_cache_create(const mentis_jwt_cache_config_t *config,
                                        mentis_jwt_cache_t **out)
{
    if (config == NULL || out == NULL)
        return mentis_err_set(MENTIS_ERR_INVALID_ARGUMENT, NULL, "jwt: cache from NULL");
    mentis_status_t st = mentis__jwt_policy_check(&config->policy);
    if (st != MENTIS_OK)
        return st;
    if (config->capacity < 1 || config->capacity > MAX_CAPACITY || config->max_revocations < 1 ||
        config->max_revocations > MAX_CAPACITY)
        return mentis_err_set(MENTIS_ERR_INVALID_ARGUMENT, NULL,
                              "jwt: cache capacity %zu and revocations %zu must be 1..%zu",
                              config->capacity, config->max_revocations, MAX_CAPACITY);
    size_t nb = 1;
    while (nb < config->capacity)
        nb <<= 1;
    mentis_jwt_cache_t *c = calloc(1, sizeof *c);
    if (c == NULL)
        goto no_memory;
    c->entries = calloc(config->capacity, sizeof *c->entries);
    c->buckets = malloc(nb * sizeof *c->buckets);
    if (c->entries == NULL || c->buckets == NULL)
        goto no_memory;
    st = mentis__jwt_revocations_create(config->max_revocations,
                                        config->policy.max_lifetime_s + config->policy.leeway_s,
                                        &c->revocations);
    if (st != MENTIS_OK)
        goto fail;
    memcpy(c->issuer, config->policy.issuer, strlen(config->policy.issuer) + 1);
    memcpy(c->audience, config->policy.audience, strlen(config->policy.audience) + 1);
    c->policy = config->policy;
    c->policy.issuer = c->issuer;
    c->policy.audience = c->audience;
    for (size_t i = 0; i < nb; i++)
        c->buckets[i] = NIL;
    for (size_t i = 0; i < config->capacity; i++)
        c->entries[i].next = i + 1 < config->capacity ? (uint32_t)(i + 1) : NIL;
    c->capacity = config->capacity;
    c->mask = nb - 1;
    c->free_head = 0;
    c->newest = c->oldest = NIL;
    *out = c;
    return MENTIS_OK;
no_memory:
    st = mentis_err_set(MENTIS_ERR_NO_MEMORY, NULL, "jwt: out of memory for a cache of %zu",
                        config->capacity);
fail:
    mentis_jwt_cache_destroy(c);
    return st;
}

void mentis_jwt_cache_destroy(mentis_jwt_cache_t *c)
{
    if (c == NULL)
        return;
    mentis__jwt_revocations_destroy(c->revocations);
    free(c->entries);
    free(c->buckets);
    free(c);
}

/* The hash is of a token that verified: clients cannot aim many at one bucket. */
static size_t bucket_of(const mentis_jwt_cache_t *c, const uint8_t hash[32])
{
    uint64_t h;
    memcpy(&h, hash, sizeof h);
    return (size_t)(h & c->mask);
}

static uint32_t find(const mentis_jwt_cache_t *c, const uint8_t hash[32])
{
    for (uint32_t i = c->buckets[bucket_of(c, hash)]; i != NIL; i = c->entries[i].next)
        if (mentis_crypto_equal(c->entries[i].hash, hash, 32))
            return i;
    return NIL;
}

static void unlink_recency(mentis_jwt_cache_t *c, uint32_t idx)
{
    struct entry *e = &c->entries[idx];
    if (e->newer != NIL)
        c->entries[e->newer].older = e->older;
    else
        c->newest = e->older;
    if (e->older != NIL)
        c->entries[e->older].newer = e->newer;
    else
        c->oldest = e->newer;
}

static void push_newest(mentis_jwt_cache_t *c, uint32_t idx)
{
    struct entry *e = &c->entries[idx];
    e->newer = NIL;
    e->older = c->newest;
    if (c->newest != NIL)
        c->entries[c->newest].newer = idx;
    c->newest = idx;
    if (c->oldest == NIL)
        c->oldest = idx;
}

static void remove_at(mentis_jwt_cache_t *c, uint32_t idx)
{
    struct entry *e = &c->entries[idx];
    uint32_t *link = &c->buckets[bucket_of(c, e->hash)];
    while (*link != idx)
        link = &c->entries[*link].next;
    *link = e->next;
    unlink_recency(c, idx);
    e->next = c->free_head;
    c->free_head = idx;
    c->count--;
}

static void insert(mentis_jwt_cache_t *c, const uint8_t hash[32], const mentis_jwt_key_t *key,
                   const mentis_jwt_claims_t *claims)
{
    if (c->count == c->capacity) {
        remove_at(c, c->oldest);
        c->evictions++;
    }
    uint32_t idx = c->free_head;
    struct entry *e = &c->entries[idx];
    c->free_head = e->next;
    memcpy(e->hash, hash, 32);
    e->key = *key;
    e->claims = *claims;
    size_t b = bucket_of(c, hash);
    e->next = c->buckets[b];
    c->buckets[b] = idx;
    push_newest(c, idx);
    c->count++;
}

static mentis_status_t refuse_revoked(mentis_jwt_cache_t *c, const char *what)
{
    c->revoked++;
    return mentis__jwt_refuse(MENTIS_JWT_CODE_REVOKED, "jwt: token covered by a revoked %s", what);
}

mentis_status_t mentis_jwt_cache_verify(mentis_jwt_cache_t *c, const char *token, size_t len,
                                        const mentis_jwt_keyset_t *keys, int64_t now,
                                        mentis_jwt_claims_t *out)
{
    if (c == NULL || token == NULL || out == NULL)
        return mentis_err_set(MENTIS_ERR_INVALID_ARGUMENT, NULL, "jwt: cache verify with NULL");
    if (len > MENTIS_JWT_MAX_LEN) /* refused there, without hashing a huge input */
        return mentis_jwt_verify(token, len, keys, &c->policy, now, out);

    uint8_t hash[32];
    mentis_crypto_hash(token, len, hash);
    uint32_t idx = find(c, hash);
    if (idx != NIL) {
        struct entry *e = &c->entries[idx];
        if (e->claims.exp <= now - c->policy.leeway_s) {
            c->hits++;
            int64_t exp = e->claims.exp;
            remove_at(c, idx);
            return mentis__jwt_refuse(
                MENTIS_JWT_CODE_EXPIRED, "jwt: expired at %lld (now %lld, leeway %lld s)",
                (long long)exp, (long long)now, (long long)c->policy.leeway_s);
        }
        const mentis_jwt_key_t *key = mentis_jwt_keyset_find(keys, e->key.kid);
        if (key != NULL && mentis_crypto_equal(key->pk, e->key.pk, sizeof key->pk)) {
            c->hits++;
            const char *what = mentis__jwt_revocations_match(c->revocations, &e->claims);
            if (what != NULL) {
                remove_at(c, idx);
                return refuse_revoked(c, what);
            }
            unlink_recency(c, idx);
            push_newest(c, idx);
            *out = e->claims;
            return MENTIS_OK;
        }
        /* Its key left the set (or changed): verify again, which will most likely refuse. */
        remove_at(c, idx);
    }

    c->misses++;
    mentis_jwt_claims_t claims;
    const mentis_jwt_key_t *key = NULL;
    mentis_status_t st = mentis__jwt_verify(token, len, keys, &c->policy, now, &claims, &key);
    if (st != MENTIS_OK)
        return st;
    const char *what = mentis__jwt_revocations_match(c->revocations, &claims);
    if (what != NULL)
        return refuse_revoked(c, what);
    insert(c, hash, key, &claims);
    *out = claims;
    return MENTIS_OK;
}

static mentis_status_t revoke(mentis_jwt_cache_t *c, mentis__jwt_revoke_kind_t kind, const char *id,
                              int64_t since, int64_t now)
{
    if (c == NULL || id == NULL || id[0] == '\0' ||
        strnlen(id, MENTIS_JWT_ID_SIZE) >= MENTIS_JWT_ID_SIZE)
        return mentis_err_set(MENTIS_ERR_INVALID_ARGUMENT, NULL,
                              "jwt: revocation needs an id of 1..%d bytes", MENTIS_JWT_ID_SIZE - 1);
    mentis__jwt_revocations_add(c->revocations, kind, id, since, now);
    return MENTIS_OK;
}

mentis_status_t mentis_jwt_cache_revoke_session(mentis_jwt_cache_t *c, const char *sid,
                                                int64_t since, int64_t now)
{
    return revoke(c, MENTIS__JWT_REVOKE_SESSION, sid, since, now);
}

mentis_status_t mentis_jwt_cache_revoke_user(mentis_jwt_cache_t *c, const char *sub, int64_t since,
                                             int64_t now)
{
    return revoke(c, MENTIS__JWT_REVOKE_USER, sub, since, now);
}

void mentis_jwt_cache_purge(mentis_jwt_cache_t *c, int64_t now)
{
    if (c == NULL)
        return;
    for (uint32_t idx = c->oldest, newer; idx != NIL; idx = newer) {
        newer = c->entries[idx].newer;
        if (c->entries[idx].claims.exp <= now - c->policy.leeway_s)
            remove_at(c, idx);
    }
    mentis__jwt_revocations_purge(c->revocations, now);
}

void mentis_jwt_cache_stats(const mentis_jwt_cache_t *c, mentis_jwt_cache_stats_t *out)
{
    memset(out, 0, sizeof *out);
    if (c == NULL)
        return;
    out->hits = c->hits;
    out->misses = c->misses;
    out->evictions = c->evictions;
    out->revoked = c->revoked;
    out->revocations_folded = mentis__jwt_revocations_folded(c->revocations);
    out->entries = c->count;
    out->revocations = mentis__jwt_revocations_count(c->revocations);
    out->revocation_floor = mentis__jwt_revocations_floor(c->revocations);
}
