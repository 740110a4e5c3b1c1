/*
 * Pages of the curriculum list. Keyset pagination: a cursor names the last row of the
 * previous page (its id and creation time), and the next page starts right after it, so
 * curricula imported or archived meanwhile never make a row appear twice or be skipped.
 * The cursor is base64url of those 24 bytes: opaque to clients, checked on return.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "curriculum.h"
#include "mentis/crypto.h"

#define DEFAULT_LIMIT 50
#define MAX_LIMIT     200

mentis_status_t mentis__cur_page_read(mentis_ctx_t *ctx, int32_t limit, const char *cursor,
                                      cur_page_t *out)
{
    memset(out, 0, sizeof *out);
    bool ok = true;
    if (limit < 0 || limit > MAX_LIMIT) {
        mentis_ctx_field_error(ctx, "limit", "must be from 1 to 200 (0: 50)");
        ok = false;
    }
    out->limit = limit == 0 ? DEFAULT_LIMIT : limit;
    if (cursor != NULL && cursor[0] != '\0') {
        uint8_t raw[24];
        size_t n = 0;
        if (mentis_crypto_base64url_decode(cursor, strlen(cursor), raw, sizeof raw, &n) !=
                MENTIS_OK ||
            n != sizeof raw) {
            mentis_ctx_field_error(ctx, "cursor", "is not a cursor of this list");
            ok = false;
        } else {
            mentis_crypto_uuid_format(raw, out->after_id);
            uint64_t us = 0;
            for (size_t i = 16; i < n; i++)
                us = us << 8 | raw[i];
            snprintf(out->after_us, sizeof out->after_us, "%lld", (long long)us);
            out->has_after = true;
        }
    }
    if (!ok)
        return mentis_err_set(MENTIS_ERR_INVALID_ARGUMENT, NULL, "invalid page");
    return MENTIS_OK;
}

char *mentis__cur_page_cursor(mentis_pool_t *pool, const char *id, const char *us_text)
{
    uint8_t raw[24];
    if (!mentis_crypto_uuid_parse(id, raw) || us_text == NULL)
        return NULL;
    long long us = strtoll(us_text, NULL, 10);
    for (int i = 0; i < 8; i++)
        raw[16 + i] = (uint8_t)((uint64_t)us >> (56 - 8 * i));
    char text[33];
    if (mentis_crypto_base64url_encode(raw, sizeof raw, text, sizeof text) != MENTIS_OK)
        return NULL;
    return mentis_pool_strdup(pool, text);
}
