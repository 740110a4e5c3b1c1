/* Field validation: each refusal names its field, and every field is looked at. */
#include <stdio.h>
#include <string.h>

#include "kb.h"
#include "mentis/crypto.h"

void mentis__kb_item_error(mentis_ctx_t *ctx, const char *field, size_t i, const char *message)
{
    char name[160];
    snprintf(name, sizeof name, "%s[%zu]", field, i);
    mentis_ctx_field_error(ctx, name, message);
}

mentis_status_t mentis__kb_invalid(const char *what)
{
    return mentis_err_set(MENTIS_ERR_INVALID_ARGUMENT, NULL, "%s: invalid fields", what);
}

bool mentis__kb_uuid_ok(mentis_ctx_t *ctx, const char *field, const char *id)
{
    uint8_t b[16];
    if (id != NULL && mentis_crypto_uuid_parse(id, b))
        return true;
    mentis_ctx_field_error(ctx, field, "must be a UUID");
    return false;
}

bool mentis__kb_uuid_opt_ok(mentis_ctx_t *ctx, const char *field, const char *id)
{
    return id == NULL || id[0] == '\0' || mentis__kb_uuid_ok(ctx, field, id);
}

/* Characters of valid UTF-8 (the codec has checked the encoding), or SIZE_MAX on a
 * control character. */
static size_t chars(const char *s, bool multiline)
{
    size_t n = 0;
    for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
        if ((*p < 0x20 && !(multiline && (*p == '\n' || *p == '\t' || *p == '\r'))) || *p == 0x7f)
            return (size_t)-1;
        if ((*p & 0xC0) != 0x80)
            n++;
    }
    return n;
}

const char *mentis__kb_text_problem(const char *s, size_t min, size_t max, bool multiline,
                                    char *buf, size_t size)
{
    size_t n = chars(s ? s : "", multiline);
    if (n == (size_t)-1)
        return "must not hold control characters";
    if (n >= min && n <= max)
        return NULL;
    if (min > 0)
        snprintf(buf, size, "must be %zu to %zu characters", min, max);
    else
        snprintf(buf, size, "must be at most %zu characters", max);
    return buf;
}

bool mentis__kb_text_ok(mentis_ctx_t *ctx, const char *field, const char *s, size_t min, size_t max,
                        bool multiline)
{
    char buf[96];
    const char *problem = mentis__kb_text_problem(s, min, max, multiline, buf, sizeof buf);
    if (problem != NULL)
        mentis_ctx_field_error(ctx, field, problem);
    return problem == NULL;
}

bool mentis__kb_list_ok(mentis_ctx_t *ctx, const char *field, char *const *items, size_t n,
                        size_t max, size_t item_max, bool multiline)
{
    char msg[96];
    if (n > max) {
        snprintf(msg, sizeof msg, "must have at most %zu items", max);
        mentis_ctx_field_error(ctx, field, msg);
        return false;
    }
    bool ok = true;
    for (size_t i = 0; i < n; i++) {
        size_t c = chars(items[i], multiline);
        if (c == (size_t)-1 || c == 0 || c > item_max) {
            snprintf(msg, sizeof msg, "must be 1 to %zu characters, no control characters",
                     item_max);
            mentis__kb_item_error(ctx, field, i, msg);
            ok = false;
        }
    }
    return ok;
}

bool mentis__kb_ids_ok(mentis_ctx_t *ctx, const char *field, char *const *ids, size_t n, size_t max)
{
    char msg[64];
    if (n == 0 || n > max) {
        snprintf(msg, sizeof msg, "must list 1 to %zu ids", max);
        mentis_ctx_field_error(ctx, field, msg);
        return false;
    }
    bool ok = true;
    uint8_t b[16];
    for (size_t i = 0; i < n; i++) {
        if (!mentis_crypto_uuid_parse(ids[i], b)) {
            mentis__kb_item_error(ctx, field, i, "must be a UUID");
            ok = false;
            continue;
        }
        for (size_t j = 0; j < i; j++)
            if (strcmp(ids[i], ids[j]) == 0) {
                mentis__kb_item_error(ctx, field, i, "is listed twice");
                ok = false;
                break;
            }
    }
    return ok;
}

mentis_status_t mentis__kb_expected_version(int64_t body, int64_t if_match, int64_t *out)
{
    if (body < 0 || if_match < 0)
        return mentis_err_set(MENTIS_ERR_PRECONDITION_FAILED, NULL, "no version is negative");
    if (body != 0 && if_match != 0 && body != if_match)
        return mentis_err_set(MENTIS_ERR_PRECONDITION_FAILED, NULL,
                              "If-Match names version %lld, the body version %lld",
                              (long long)if_match, (long long)body);
    *out = if_match != 0 ? if_match : body;
    return MENTIS_OK;
}

mentis_status_t mentis__kb_version_mismatch(const char *what, const char *id, int64_t want)
{
    return mentis_err_set(MENTIS_ERR_PRECONDITION_FAILED, NULL,
                          "%s %s is no longer at version %lld", what, id, (long long)want);
}
