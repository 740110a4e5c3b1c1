#include "revocation.h"

#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#define NIL UINT32_MAX

struct revocation {
    char id[MENTIS_JWT_ID_SIZE];
    int64_t since;
    uint32_t next; /* next in its bucket's chain, or in the free list */
    uint8_t kind;
    bool used;
};

struct mentis__jwt_revocations {
    struct revocation *entries;
    uint32_t *buckets;
    size_t capacity, mask, count;
    uint32_t free_head;
    int64_t horizon;
    int64_t floor; /* when floored, tokens with iat <= floor are covered */
    bool floored;
    uint64_t folded;
};

/* Ids are server-made UUIDs from verified tokens and from mentis-auth, not chosen by
 * clients, so a plain FNV-1a spreads them well enough. */
static size_t bucket_of(const mentis__jwt_revocations_t *r, uint8_t kind, const char *id)
{
    uint64_t h = 0xcbf29ce484222325ULL;
    h = (h ^ kind) * 0x100000001b3ULL;
    for (const unsigned char *p = (const unsigned char *)id; *p; p++)
        h = (h ^ *p) * 0x100000001b3ULL;
    return (size_t)(h & r->mask);
}

mentis_status_t mentis__jwt_revocations_create(size_t capacity, int64_t horizon_s,
                                               mentis__jwt_revocations_t **out)
{
    size_t nb = 1;
    while (nb < capacity)
        nb <<= 1;
    mentis__jwt_revocations_t *r = calloc(1, sizeof *r);
    if (r == NULL)
        goto fail;
    r->entries = calloc(capacity, sizeof *r->entries);
    r->buckets = malloc(nb * sizeof *r->buckets);
    if (r->entries == NULL || r->buckets == NULL)
        goto fail;
    for (size_t i = 0; i < nb; i++)
        r->buckets[i] = NIL;
    for (size_t i = 0; i < capacity; i++)
        r->entries[i].next = i + 1 < capacity ? (uint32_t)(i + 1) : NIL;
    r->capacity = capacity;
    r->mask = nb - 1;
    r->free_head = 0;
    r->horizon = horizon_s;
    *out = r;
    return MENTIS_OK;
fail:
    mentis__jwt_revocations_destroy(r);
    return mentis_err_set(MENTIS_ERR_NO_MEMORY, NULL, "jwt: out of memory for %zu revocations",
                          capacity);
}

void mentis__jwt_revocations_destroy(mentis__jwt_revocations_t *r)
{
    if (r == NULL)
        return;
    free(r->entries);
    free(r->buckets);
    free(r);
}

static uint32_t find(const mentis__jwt_revocations_t *r, uint8_t kind, const char *id)
{
    for (uint32_t i = r->buckets[bucket_of(r, kind, id)]; i != NIL; i = r->entries[i].next)
        if (r->entries[i].kind == kind && strcmp(r->entries[i].id, id) == 0)
            return i;
    return NIL;
}

static void remove_at(mentis__jwt_revocations_t *r, uint32_t idx)
{
    struct revocation *e = &r->entries[idx];
    uint32_t *link = &r->buckets[bucket_of(r, e->kind, e->id)];
    while (*link != idx)
        link = &r->entries[*link].next;
    *link = e->next;
    e->used = false;
    e->next = r->free_head;
    r->free_head = idx;
    r->count--;
}

static bool stale(const mentis__jwt_revocations_t *r, int64_t since, int64_t now)
{
    return now - r->horizon > since;
}

void mentis__jwt_revocations_purge(mentis__jwt_revocations_t *r, int64_t now)
{
    for (size_t i = 0; i < r->capacity && r->count > 0; i++)
        if (r->entries[i].used && stale(r, r->entries[i].since, now))
            remove_at(r, (uint32_t)i);
    if (r->floored && stale(r, r->floor, now)) {
        r->floored = false;
        r->floor = 0;
    }
}

/* Full of live revocations: the oldest gives up its entry and raises the floor instead. */
static void fold_oldest(mentis__jwt_revocations_t *r)
{
    uint32_t oldest = NIL;
    for (size_t i = 0; i < r->capacity; i++)
        if (r->entries[i].used && (oldest == NIL || r->entries[i].since < r->entries[oldest].since))
            oldest = (uint32_t)i;
    if (!r->floored || r->entries[oldest].since > r->floor)
        r->floor = r->entries[oldest].since;
    r->floored = true;
    remove_at(r, oldest);
    r->folded++;
}

void mentis__jwt_revocations_add(mentis__jwt_revocations_t *r, mentis__jwt_revoke_kind_t kind,
                                 const char *id, int64_t since, int64_t now)
{
    if (stale(r, since, now) || (r->floored && since <= r->floor))
        return; /* nothing it covers can still be accepted */
    uint32_t idx = find(r, (uint8_t)kind, id);
    if (idx != NIL) {
        if (since > r->entries[idx].since)
            r->entries[idx].since = since;
        return;
    }
    if (r->count == r->capacity) {
        mentis__jwt_revocations_purge(r, now);
        if (r->count == r->capacity)
            fold_oldest(r);
        if (r->floored && since <= r->floor)
            return;
    }
    idx = r->free_head;
    struct revocation *e = &r->entries[idx];
    r->free_head = e->next;
    memset(e->id, 0, sizeof e->id);
    memcpy(e->id, id, strlen(id));
    e->since = since;
    e->kind = (uint8_t)kind;
    e->used = true;
    size_t b = bucket_of(r, e->kind, e->id);
    e->next = r->buckets[b];
    r->buckets[b] = idx;
    r->count++;
}

const char *mentis__jwt_revocations_match(const mentis__jwt_revocations_t *r,
                                          const mentis_jwt_claims_t *claims)
{
    if (r->floored && claims->iat <= r->floor)
        return "floor";
    uint32_t idx = find(r, MENTIS__JWT_REVOKE_SESSION, claims->sid);
    if (idx != NIL && claims->iat <= r->entries[idx].since)
        return "session";
    idx = find(r, MENTIS__JWT_REVOKE_USER, claims->sub);
    if (idx != NIL && claims->iat <= r->entries[idx].since)
        return "user";
    return NULL;
}

size_t mentis__jwt_revocations_count(const mentis__jwt_revocations_t *r)
{
    return r->count;
}

uint64_t mentis__jwt_revocations_folded(const mentis__jwt_revocations_t *r)
{
    return r->folded;
}

int64_t mentis__jwt_revocations_floor(const mentis__jwt_revocations_t *r)
{
    return r->floor;
}
