#include "mentis/pool.h"

#include <stdalign.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct block {
    struct block *next;
    size_t size; /* usable bytes after the header */
    size_t used;
    alignas(max_align_t) unsigned char data[];
};

struct mentis_pool {
    struct block *head; /* newest block first; the first block ever made is last */
    size_t block_size;
    size_t cap;
    size_t held;
};

#define ALIGN (alignof(max_align_t))

static struct block *block_new(mentis_pool_t *pool, size_t size)
{
    if (size > SIZE_MAX - sizeof(struct block) || pool->held + size + sizeof(struct block) > pool->cap) {
        mentis_err_set(MENTIS_ERR_NO_MEMORY, NULL, "pool: cap of %zu bytes reached", pool->cap);
        return NULL;
    }
    struct block *b = malloc(sizeof *b + size);
    if (b == NULL) {
        mentis_err_set(MENTIS_ERR_NO_MEMORY, NULL, "pool: malloc of %zu bytes failed", size);
        return NULL;
    }
    b->size = size;
    b->used = 0;
    pool->held += sizeof *b + size;
    return b;
}

mentis_status_t mentis_pool_create(size_t block_size, size_t cap, mentis_pool_t **out)
{
    if (block_size < 256)
        block_size = 256;
    mentis_pool_t *pool = calloc(1, sizeof *pool);
    if (pool == NULL)
        return mentis_err_set(MENTIS_ERR_NO_MEMORY, NULL, "pool: out of memory");
    pool->block_size = block_size;
    pool->cap = cap;
    pool->head = block_new(pool, block_size);
    if (pool->head == NULL) {
        free(pool);
        return MENTIS_ERR_NO_MEMORY;
    }
    pool->head->next = NULL;
    *out = pool;
    return MENTIS_OK;
}

void mentis_pool_destroy(mentis_pool_t *pool)
{
    if (pool == NULL)
        return;
    for (struct block *b = pool->head, *n; b; b = n) {
        n = b->next;
        free(b);
    }
    free(pool);
}

void *mentis_pool_alloc(mentis_pool_t *pool, size_t size)
{
    if (size == 0)
        size = 1;
    if (size > SIZE_MAX - ALIGN) {
        mentis_err_set(MENTIS_ERR_NO_MEMORY, NULL, "pool: request of %zu bytes", size);
        return NULL;
    }
    size_t need = (size + ALIGN - 1) & ~(ALIGN - 1);
    struct block *b = pool->head;
    if (b->size - b->used < need) {
        /* Large requests get a block of their own behind the head, so the head keeps
         * serving small ones. */
        if (need > pool->block_size / 2) {
            struct block *big = block_new(pool, need);
            if (big == NULL)
                return NULL;
            big->used = need;
            big->next = b->next;
            b->next = big;
            return big->data;
        }
        b = block_new(pool, pool->block_size);
        if (b == NULL)
            return NULL;
        b->next = pool->head;
        pool->head = b;
    }
    void *p = b->data + b->used;
    b->used += need;
    return p;
}

void *mentis_pool_calloc(mentis_pool_t *pool, size_t count, size_t size)
{
    if (size != 0 && count > SIZE_MAX / size) {
        mentis_err_set(MENTIS_ERR_NO_MEMORY, NULL, "pool: %zu x %zu bytes overflows", count, size);
        return NULL;
    }
    void *p = mentis_pool_alloc(pool, count * size);
    if (p)
        memset(p, 0, count * size);
    return p;
}

char *mentis_pool_strndup(mentis_pool_t *pool, const char *s, size_t n)
{
    size_t len = strnlen(s, n);
    char *p = mentis_pool_alloc(pool, len + 1);
    if (p) {
        memcpy(p, s, len);
        p[len] = '\0';
    }
    return p;
}

char *mentis_pool_strdup(mentis_pool_t *pool, const char *s)
{
    return mentis_pool_strndup(pool, s, SIZE_MAX);
}

char *mentis_pool_printf(mentis_pool_t *pool, const char *fmt, ...)
{
    va_list ap, ap2;
    va_start(ap, fmt);
    va_copy(ap2, ap);
    int n = vsnprintf(NULL, 0, fmt, ap);
    va_end(ap);
    char *p = NULL;
    if (n >= 0 && (p = mentis_pool_alloc(pool, (size_t)n + 1)) != NULL)
        vsnprintf(p, (size_t)n + 1, fmt, ap2);
    va_end(ap2);
    return p;
}

void mentis_pool_reset(mentis_pool_t *pool)
{
    struct block *b = pool->head;
    while (b->next != NULL) {
        struct block *n = b->next;
        pool->held -= sizeof *b + b->size;
        free(b);
        b = n;
    }
    b->used = 0;
    pool->head = b;
}

size_t mentis_pool_used(const mentis_pool_t *pool)
{
    return pool->held;
}
