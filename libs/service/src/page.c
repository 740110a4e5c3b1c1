/* Keyset pages of lists (mentis/page.h). */
#include <string.h>

#include "mentis/crypto.h"
#include "mentis/page.h"

mentis_status_t mentis_page_read(mentis_ctx_t *ctx, int32_t limit, const char *cursor,
                                       bool timed, mentis_page_t *out)
{
    memset(out, 0, sizeof *out);
    bool ok = true;
    if (limit < 0 || limit > MENTIS_PAGE_MAX) {
        mentis_ctx_field_error(ctx, "limit", "must be from 1 to 200 (0: 50)");
        ok = false;
    }
    out->limit = limit == 0 ? MENTIS_PAGE_DEFAULT : limit;
    if (cursor != NULL && cursor[0] != '\0') {
        uint8_t raw[24];
        size_t n = 0, want = timed ? 24 : 16;
        if (mentis_crypto_base64url_decode(cursor, strlen(cursor), raw, sizeof raw, &n) !=
                MENTIS_OK ||
            n != want) {
            mentis_ctx_field_error(ctx, "cursor", "is not a cursor of this list");
            ok = false;
        } else {
            mentis_crypto_uuid_format(raw, out->after_id);
            uint64_t us = 0;
            for (size_t i = 16; i < n; i++)
                us = us << 8 | raw[i];
            out->after_us = (int64_t)us;
            out->has_after = true;
        }
    }
    if (!ok)
        return mentis_err_set(MENTIS_ERR_INVALID_ARGUMENT, NULL, "invalid page");
    return MENTIS_OK;
}

char *mentis_page_cursor(mentis_pool_t *pool, const char *id, int64_t us, bool timed)
{
    uint8_t raw[24];
    if (!mentis_crypto_uuid_parse(id, raw))
        return NULL;
    for (int i = 0; i < 8; i++)
        raw[16 + i] = (uint8_t)((uint64_t)us >> (56 - 8 * i));
    char text[33];
    if (mentis_crypto_base64url_encode(raw, timed ? 24 : 16, text, sizeof text) != MENTIS_OK)
        return NULL;
    return mentis_pool_strdup(pool, text);
}
