/*
 * Keyset pages of lists (API.md: `limit`, `cursor`, `next_cursor`). A cursor names the last
 * row of the previous page — its id, and its time for lists ordered by time — and the next
 * page starts right after it, so rows inserted or deleted meanwhile never make a row appear
 * twice or be skipped. The cursor is base64url of those bytes: opaque to clients, checked
 * on return.
 */
#ifndef MENTIS_PAGE_H
#define MENTIS_PAGE_H

#include <stdbool.h>
#include <stdint.h>

#include "mentis/pool.h"
#include "mentis/service.h"

#define MENTIS_PAGE_DEFAULT 50
#define MENTIS_PAGE_MAX     200

/* A page: the row limit and the keyset position after which it starts. */
typedef struct {
    int limit;         /* rows to return; one more is read to know whether more follow */
    bool has_after;    /* false: from the start */
    char after_id[37]; /* the last row's id on the previous page */
    int64_t after_us;  /* and its time (µs since the epoch), for lists ordered by time */
} mentis_page_t;

/*
 * Checks limit (0: 50; 1–200) and decodes cursor (empty: the start). `timed` cursors
 * also carry a time. Adds field errors and returns invalid_argument for bad values.
 */
mentis_status_t mentis_page_read(mentis_ctx_t *ctx, int32_t limit, const char *cursor, bool timed,
                                 mentis_page_t *out);

/* The cursor after the row (id, us) in the pool: opaque base64url. NULL when out of memory. */
char *mentis_page_cursor(mentis_pool_t *pool, const char *id, int64_t us, bool timed);

#endif
