/*
 * The table: slots allocated once; a chained hash index over a keyed hash of the key; and
 * a min-heap of the slots ordered by when their bucket will be full. The heap's top is the
 * victim when room is needed: already full (free to forget) if any slot is, else the one
 * whose debt is smallest in time, i.e. the least that forgetting it can forgive.
 */
#include <stdlib.h>
#include <string.h>

#include "bucket.h"
#include "mentis/crypto.h"
#include "mentis/ratelimit.h"

#define NIL          UINT32_MAX
#define MAX_CAPACITY ((size_t)1 << 24)
#define ID_SIZE      16 /* bytes of the keyed hash kept: collisions need ~2^64 keys */

struct slot {
    uint8_t id[ID_SIZE];
    mentis__rl_bucket_t bucket;
    int64_t full_at; /* heap order; refreshed whenever the bucket changes */
    uint32_t next;   /* hash chain, or free list */
    uint32_t heap_pos;
};

struct mentis_ratelimit {
    uint8_t secret[32]; /* keys the hash, so clients cannot pick colliding keys */
    struct slot *slots;
    uint32_t *index; /* chain heads */
    uint32_t *heap;  /* slot numbers; heap[0] has the smallest full_at */
    size_t capacity, mask, count;
    uint32_t free_head;
    uint64_t allowed, refused, evictions, evictions_in_debt;
};

mentis_status_t mentis_ratelimit_create(size_t capacity, mentis_ratelimit_t **out)
{
    if (out == NULL || capacity < 1 || capacity > MAX_CAPACITY)
        return mentis_err_set(MENTIS_ERR_INVALID_ARGUMENT, NULL,
                              "ratelimit: capacity %zu is not within 1..%zu", capacity,
                              MAX_CAPACITY);
    size_t nb = 1;
    while (nb < capacity)
        nb <<= 1;
    mentis_ratelimit_t *rl = calloc(1, sizeof *rl);
    if (rl == NULL)
        goto no_memory;
    rl->slots = calloc(capacity, sizeof *rl->slots);
    rl->index = malloc(nb * sizeof *rl->index);
    rl->heap = malloc(capacity * sizeof *rl->heap);
    if (rl->slots == NULL || rl->index == NULL || rl->heap == NULL)
        goto no_memory;
    for (size_t i = 0; i < nb; i++)
        rl->index[i] = NIL;
    for (size_t i = 0; i < capacity; i++)
        rl->slots[i].next = i + 1 < capacity ? (uint32_t)(i + 1) : NIL;
    rl->capacity = capacity;
    rl->mask = nb - 1;
    rl->free_head = 0;
    mentis_crypto_random(rl->secret, sizeof rl->secret);
    *out = rl;
    return MENTIS_OK;
no_memory:
    mentis_ratelimit_destroy(rl);
    return mentis_err_set(MENTIS_ERR_NO_MEMORY, NULL, "ratelimit: out of memory for %zu keys",
                          capacity);
}

void mentis_ratelimit_destroy(mentis_ratelimit_t *rl)
{
    if (rl == NULL)
        return;
    free(rl->slots);
    free(rl->index);
    free(rl->heap);
    free(rl);
}

/* ---- Heap --------------------------------------------------------------------------- */

static void heap_put(mentis_ratelimit_t *rl, size_t pos, uint32_t s)
{
    rl->heap[pos] = s;
    rl->slots[s].heap_pos = (uint32_t)pos;
}

static int64_t heap_key(const mentis_ratelimit_t *rl, size_t pos)
{
    return rl->slots[rl->heap[pos]].full_at;
}

static void sift_up(mentis_ratelimit_t *rl, size_t pos)
{
    uint32_t s = rl->heap[pos];
    while (pos > 0) {
        size_t parent = (pos - 1) / 2;
        if (heap_key(rl, parent) <= rl->slots[s].full_at)
            break;
        heap_put(rl, pos, rl->heap[parent]);
        pos = parent;
    }
    heap_put(rl, pos, s);
}

static void sift_down(mentis_ratelimit_t *rl, size_t pos)
{
    uint32_t s = rl->heap[pos];
    for (;;) {
        size_t child = 2 * pos + 1;
        if (child >= rl->count)
            break;
        if (child + 1 < rl->count && heap_key(rl, child + 1) < heap_key(rl, child))
            child++;
        if (rl->slots[s].full_at <= heap_key(rl, child))
            break;
        heap_put(rl, pos, rl->heap[child]);
        pos = child;
    }
    heap_put(rl, pos, s);
}

/* Restores the order around a slot whose full_at changed either way. */
static void heap_fix(mentis_ratelimit_t *rl, uint32_t s)
{
    size_t pos = rl->slots[s].heap_pos;
    sift_up(rl, pos);
    sift_down(rl, rl->slots[s].heap_pos);
}

/* Takes a slot out of the heap (and out of count). */
static void heap_remove(mentis_ratelimit_t *rl, uint32_t s)
{
    size_t pos = rl->slots[s].heap_pos;
    rl->count--;
    if (pos == rl->count)
        return;
    heap_put(rl, pos, rl->heap[rl->count]);
    heap_fix(rl, rl->heap[pos]);
}

/* ---- Index -------------------------------------------------------------------------- */

static size_t chain_of(const mentis_ratelimit_t *rl, const uint8_t id[ID_SIZE])
{
    uint64_t h;
    memcpy(&h, id, sizeof h);
    return (size_t)(h & rl->mask);
}

static uint32_t find(const mentis_ratelimit_t *rl, const uint8_t id[ID_SIZE])
{
    for (uint32_t s = rl->index[chain_of(rl, id)]; s != NIL; s = rl->slots[s].next)
        if (memcmp(rl->slots[s].id, id, ID_SIZE) == 0)
            return s;
    return NIL;
}

static void remove_slot(mentis_ratelimit_t *rl, uint32_t s)
{
    uint32_t *link = &rl->index[chain_of(rl, rl->slots[s].id)];
    while (*link != s)
        link = &rl->slots[*link].next;
    *link = rl->slots[s].next;
    heap_remove(rl, s);
    rl->slots[s].next = rl->free_head;
    rl->free_head = s;
}

static uint32_t add_slot(mentis_ratelimit_t *rl, const uint8_t id[ID_SIZE],
                         mentis_ratelimit_rule_t rule, int64_t now_ms)
{
    if (rl->count == rl->capacity) {
        uint32_t victim = rl->heap[0];
        rl->evictions++;
        if (rl->slots[victim].full_at > now_ms)
            rl->evictions_in_debt++;
        remove_slot(rl, victim);
    }
    uint32_t s = rl->free_head;
    struct slot *slot = &rl->slots[s];
    rl->free_head = slot->next;
    memcpy(slot->id, id, ID_SIZE);
    mentis__rl_bucket_init(&slot->bucket, rule, now_ms);
    slot->full_at = mentis__rl_bucket_full_at(&slot->bucket);
    size_t chain = chain_of(rl, id);
    slot->next = rl->index[chain];
    rl->index[chain] = s;
    heap_put(rl, rl->count, s);
    rl->count++;
    sift_up(rl, slot->heap_pos);
    return s;
}

/* ---- Taking ------------------------------------------------------------------------- */

static bool key_id(const mentis_ratelimit_t *rl, const char *key, uint8_t id[ID_SIZE])
{
    if (key == NULL)
        return false;
    size_t n = strnlen(key, MENTIS_RATELIMIT_MAX_KEY + 1);
    if (n == 0 || n > MENTIS_RATELIMIT_MAX_KEY)
        return false;
    uint8_t hash[32];
    mentis_crypto_keyed_hash(rl->secret, key, n, hash);
    memcpy(id, hash, ID_SIZE);
    return true;
}

mentis_status_t mentis_ratelimit_take(mentis_ratelimit_t *rl, const char *key,
                                      mentis_ratelimit_rule_t rule, uint32_t cost, int64_t now_ms,
                                      mentis_ratelimit_result_t *out)
{
    uint8_t id[ID_SIZE];
    if (rl == NULL || out == NULL || !key_id(rl, key, id))
        return mentis_err_set(MENTIS_ERR_INVALID_ARGUMENT, NULL,
                              "ratelimit: take needs a table, a result and a key of 1..%d bytes",
                              MENTIS_RATELIMIT_MAX_KEY);
    if (!mentis__rl_rule_ok(rule) || cost > rule.limit)
        return mentis_err_set(MENTIS_ERR_INVALID_ARGUMENT, NULL,
                              "ratelimit: rule %u per %u ms with cost %u is out of bounds",
                              rule.limit, rule.window_ms, cost);
    uint32_t s = find(rl, id);
    if (s == NIL && cost == 0) {
        /* A report on a key never seen: its bucket is full, and storing that says nothing. */
        mentis__rl_bucket_t fresh;
        mentis__rl_bucket_init(&fresh, rule, now_ms);
        mentis__rl_bucket_take(&fresh, 0, now_ms, out);
        return MENTIS_OK;
    }
    if (s == NIL)
        s = add_slot(rl, id, rule, now_ms);
    struct slot *slot = &rl->slots[s];
    if (slot->bucket.limit != rule.limit || slot->bucket.window_ms != rule.window_ms) {
        mentis__rl_bucket_refill(&slot->bucket, now_ms);
        mentis__rl_bucket_rerule(&slot->bucket, rule);
    }
    bool allowed = mentis__rl_bucket_take(&slot->bucket, cost, now_ms, out);
    slot->full_at = mentis__rl_bucket_full_at(&slot->bucket);
    heap_fix(rl, s);
    if (!allowed) {
        rl->refused++;
        return mentis_err_set(MENTIS_ERR_RATE_LIMITED, NULL,
                              "ratelimit: %u per %u ms exceeded; retry in %u s", rule.limit,
                              rule.window_ms, out->retry_after_s);
    }
    if (cost > 0)
        rl->allowed++;
    return MENTIS_OK;
}

bool mentis_ratelimit_forget(mentis_ratelimit_t *rl, const char *key)
{
    uint8_t id[ID_SIZE];
    if (rl == NULL || !key_id(rl, key, id))
        return false;
    uint32_t s = find(rl, id);
    if (s == NIL)
        return false;
    remove_slot(rl, s);
    return true;
}

void mentis_ratelimit_stats(const mentis_ratelimit_t *rl, mentis_ratelimit_stats_t *out)
{
    memset(out, 0, sizeof *out);
    if (rl == NULL)
        return;
    out->allowed = rl->allowed;
    out->refused = rl->refused;
    out->evictions = rl->evictions;
    out->evictions_in_debt = rl->evictions_in_debt;
    out->entries = rl->count;
    out->capacity = rl->capacity;
}
