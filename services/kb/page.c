/*
 * Keyset pages. A cursor names the sort key and id of the previous page's last row, and
 * the next page starts strictly after it in the list's total order (key, then id), so rows
 * inserted or deleted between pages never make one appear twice or be skipped. It is
 * base64url text: opaque to clients, and checked when it comes back.
 */
#include <stdio.h>
#include <string.h>

#include "kb.h"
#include "mentis/crypto.h"

mentis_status_t mentis__kb_page_read(mentis_ctx_t *ctx, int32_t limit, const char *cursor,
                                     char kind, mentis_kb_page_t *out)
{
    memset(out, 0, sizeof *out);
    bool ok = true;
    if (limit < 0 || limit > KB_PAGE_MAX) {
        mentis_ctx_field_error(ctx, "limit", "must be from 1 to 200 (0: 50)");
        ok = false;
    }
    out->limit = limit == 0 ? KB_PAGE_DEFAULT : limit;
    if (cursor != NULL && cursor[0] != '\0') {
        uint8_t raw[160];
        size_t n = 0;
        bool good =
            strlen(cursor) < 200 && mentis_crypto_base64url_decode(cursor, strlen(cursor), raw,
                                                                   sizeof raw - 1, &n) == MENTIS_OK;
        if (good) {
            raw[n] = '\0';
            const char *text = (const char *)raw;
            /* The id part may itself hold a ':' (search: "question:<uuid>"), the key none. */
            const char *a = strchr(text, ':'), *b = a ? strchr(a + 1, ':') : NULL;
            good = n == strlen(text) && text[0] == kind && a == text + 1 && b != NULL &&
                   (size_t)(b - a - 1) < sizeof out->key && strlen(b + 1) < sizeof out->id &&
                   strlen(b + 1) > 0;
            /* The key goes to SQL as a number or a slug: nothing else is a key of ours. */
            for (const char *k = a ? a + 1 : text; good && k < b; k++)
                good = strchr("0123456789abcdefghijklmnopqrstuvwxyz_.-+", *k) != NULL;
            if (good) {
                snprintf(out->key, sizeof out->key, "%.*s", (int)(b - a - 1), a + 1);
                snprintf(out->id, sizeof out->id, "%s", b + 1);
                out->has_after = true;
            }
        }
        if (!good) {
            mentis_ctx_field_error(ctx, "cursor", "is not a cursor of this list");
            ok = false;
        }
    }
    if (!ok)
        return mentis_err_set(MENTIS_ERR_INVALID_ARGUMENT, NULL, "invalid page");
    return MENTIS_OK;
}

char *mentis__kb_page_cursor(mentis_pool_t *pool, char kind, const char *key, const char *id)
{
    char raw[160], text[224];
    int n = snprintf(raw, sizeof raw, "%c:%s:%s", kind, key, id);
    if (n < 0 || (size_t)n >= sizeof raw ||
        mentis_crypto_base64url_encode(raw, (size_t)n, text, sizeof text) != MENTIS_OK)
        return NULL;
    return mentis_pool_strdup(pool, text);
}
