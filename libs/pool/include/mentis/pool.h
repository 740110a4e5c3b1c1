/*
 * A memory pool (arena) for one request or message: many small allocations, freed all at
 * once when the work ends. Every pool has a hard cap on the bytes it may hold, so sizes
 * that come from the network can never make it grow without end.
 *
 * Not thread-safe: a pool belongs to the one thread handling its message.
 */
#ifndef MENTIS_POOL_H
#define MENTIS_POOL_H

#include <stdarg.h>
#include <stddef.h>

#include "mentis/status.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct mentis_pool mentis_pool_t;

/*
 * Creates a pool that allocates blocks of `block_size` bytes (larger requests get their own
 * block) and refuses to hold more than `cap` bytes in all. *out is written only on success.
 */
mentis_status_t mentis_pool_create(size_t block_size, size_t cap, mentis_pool_t **out);

/* Frees the pool and everything allocated from it. NULL is a no-op. */
void mentis_pool_destroy(mentis_pool_t *pool);

/*
 * Returns `size` bytes aligned for any type, valid until the next reset or destroy, or NULL
 * (with MENTIS_ERR_NO_MEMORY recorded) when the cap would be exceeded or malloc fails.
 */
void *mentis_pool_alloc(mentis_pool_t *pool, size_t size);

/* As mentis_pool_alloc, zero-filled. */
void *mentis_pool_calloc(mentis_pool_t *pool, size_t count, size_t size);

/* A copy of `s` (or of its first `n` bytes, NUL-terminated) in the pool; NULL on failure. */
char *mentis_pool_strdup(mentis_pool_t *pool, const char *s);
char *mentis_pool_strndup(mentis_pool_t *pool, const char *s, size_t n);

/* A formatted string in the pool; NULL on failure. */
char *mentis_pool_printf(mentis_pool_t *pool, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

/* Frees everything but the first block, ready for the next message. */
void mentis_pool_reset(mentis_pool_t *pool);

/* Bytes currently held from malloc (blocks, not what callers asked for). */
size_t mentis_pool_used(const mentis_pool_t *pool);

#ifdef __cplusplus
}
#endif
#endif
