/*
 * A hash index of pointers for the registry: open addressing with linear probing, keyed
 * by a 64-bit hash the caller computes; the caller compares the candidates' keys itself.
 * Grows at half load. Not thread-safe: the registry lock protects it.
 */
#ifndef MENTIS_METRICS_INDEX_H
#define MENTIS_METRICS_INDEX_H

#include <stddef.h>
#include <stdint.h>

#include "mentis/status.h"

struct mentis__metrics_index {
    void **items; /* NULL marks an empty slot; nothing is ever removed */
    uint64_t *hashes;
    size_t cap; /* 0 or a power of two */
    size_t n;
};

/* FNV-1a over `n` bytes, continuing from `h` (start with MENTIS__METRICS_HASH_SEED). */
#define MENTIS__METRICS_HASH_SEED 14695981039346656037ULL
uint64_t mentis__metrics_hash(uint64_t h, const void *data, size_t n);

/*
 * Iterates the items stored with `hash`: start with *pos = SIZE_MAX; each call returns the
 * next candidate or NULL when there is none left.
 */
void *mentis__metrics_index_next(const struct mentis__metrics_index *idx, uint64_t hash,
                                 size_t *pos);

/* Adds item (not NULL) under hash. MENTIS_ERR_NO_MEMORY when growing fails. */
mentis_status_t mentis__metrics_index_add(struct mentis__metrics_index *idx, uint64_t hash,
                                          void *item);

/* Frees the index's arrays (not the items). */
void mentis__metrics_index_free(struct mentis__metrics_index *idx);

#endif
