#include "index.h"

#include <stdlib.h>

uint64_t mentis__metrics_hash(uint64_t h, const void *data, size_t n)
{
    const unsigned char *p = data;
    for (size_t i = 0; i < n; i++) {
        h ^= p[i];
        h *= 1099511628211ULL;
    }
    return h;
}

void *mentis__metrics_index_next(const struct mentis__metrics_index *idx, uint64_t hash,
                                 size_t *pos)
{
    if (idx->cap == 0)
        return NULL;
    size_t mask = idx->cap - 1;
    size_t i = *pos == SIZE_MAX ? (size_t)hash & mask : (*pos + 1) & mask;
    /* The table is at most half full, so an empty slot always ends the probe. */
    while (idx->items[i] != NULL) {
        if (idx->hashes[i] == hash) {
            *pos = i;
            return idx->items[i];
        }
        i = (i + 1) & mask;
    }
    return NULL;
}

static void place(void **items, uint64_t *hashes, size_t cap, uint64_t hash, void *item)
{
    size_t i = (size_t)hash & (cap - 1);
    while (items[i] != NULL)
        i = (i + 1) & (cap - 1);
    items[i] = item;
    hashes[i] = hash;
}

mentis_status_t mentis__metrics_index_add(struct mentis__metrics_index *idx, uint64_t hash,
                                          void *item)
{
    if ((idx->n + 1) * 2 > idx->cap) {
        size_t cap = idx->cap ? idx->cap * 2 : 16;
        void **items = calloc(cap, sizeof *items);
        uint64_t *hashes = calloc(cap, sizeof *hashes);
        if (items == NULL || hashes == NULL) {
            free(items);
            free(hashes);
            return mentis_err_set(MENTIS_ERR_NO_MEMORY, NULL,
                                  "metrics: growing an index to %zu slots failed", cap);
        }
        for (size_t i = 0; i < idx->cap; i++)
            if (idx->items[i] != NULL)
                place(items, hashes, cap, idx->hashes[i], idx->items[i]);
        free(idx->items);
        free(idx->hashes);
        idx->items = items;
        idx->hashes = hashes;
        idx->cap = cap;
    }
    place(idx->items, idx->hashes, idx->cap, hash, item);
    idx->n++;
    return MENTIS_OK;
}

void mentis__metrics_index_free(struct mentis__metrics_index *idx)
{
    free(idx->items);
    free(idx->hashes);
    idx->items = NULL;
    idx->hashes = NULL;
    idx->cap = idx->n = 0;
}
