#include "jose.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

/*
 * cJSON turns \u0000 into a NUL inside the decoded string, silently cutting it: "EdDSA\u0000x"
 * would read as "EdDSA" and "a\u0000" and "a" would be one member name. Refuse the escape
 * (and raw NULs) up front. Outside strings a backslash is a syntax error anyway, so a
 * plain scan of escapes is enough.
 */
static bool has_nul(const unsigned char *p, size_t len)
{
    for (size_t i = 0; i < len; i++) {
        if (p[i] == '\0')
            return true;
        if (p[i] != '\\' || i + 1 >= len)
            continue;
        if (p[i + 1] == 'u' && i + 5 < len && memcmp(p + i + 2, "0000", 4) == 0)
            return true;
        i++; /* the escaped character, so "\\u0000" (an escaped backslash) is not caught */
    }
    return false;
}

bool mentis__jose_members_ok(const cJSON *object)
{
    const cJSON *members[MENTIS__JOSE_MAX_MEMBERS];
    size_t n = 0;
    for (const cJSON *m = object->child; m != NULL; m = m->next) {
        if (n == MENTIS__JOSE_MAX_MEMBERS || m->string == NULL)
            return false;
        for (size_t i = 0; i < n; i++)
            if (strcmp(members[i]->string, m->string) == 0)
                return false;
        members[n++] = m;
    }
    return true;
}

cJSON *mentis__jose_parse_object(const void *bytes, size_t len, bool *no_memory)
{
    *no_memory = false;
    if (len == 0 || len == SIZE_MAX || has_nul(bytes, len))
        return NULL;
    /* cJSON accepts trailing bytes unless the text ends in a NUL it is told to require. */
    char *text = malloc(len + 1);
    if (text == NULL) {
        *no_memory = true;
        return NULL;
    }
    memcpy(text, bytes, len);
    text[len] = '\0';
    cJSON *root = cJSON_ParseWithLengthOpts(text, len + 1, NULL, 1);
    free(text);
    if (root == NULL)
        return NULL;
    if (!cJSON_IsObject(root) || !mentis__jose_members_ok(root)) {
        cJSON_Delete(root);
        return NULL;
    }
    return root;
}

const cJSON *mentis__jose_member(const cJSON *object, const char *name)
{
    /* Never cJSON_GetObjectItem: it matches names case-insensitively ("ALG" for "alg"). */
    return cJSON_GetObjectItemCaseSensitive(object, name);
}

bool mentis__jose_text_ok(const char *text, size_t n)
{
    const unsigned char *s = (const unsigned char *)text;
    size_t i = 0;
    while (i < n) {
        unsigned c = s[i];
        if (c < 0x20 || c == 0x7f)
            return false;
        if (c < 0x80) {
            i++;
            continue;
        }
        size_t extra;
        unsigned cp, min;
        if (c >= 0xc2 && c <= 0xdf) {
            extra = 1, cp = c & 0x1f, min = 0x80;
        } else if (c >= 0xe0 && c <= 0xef) {
            extra = 2, cp = c & 0x0f, min = 0x800;
        } else if (c >= 0xf0 && c <= 0xf4) {
            extra = 3, cp = c & 0x07, min = 0x10000;
        } else {
            return false;
        }
        if (n - i <= extra)
            return false;
        for (size_t k = 1; k <= extra; k++) {
            if ((s[i + k] & 0xc0) != 0x80)
                return false;
            cp = (cp << 6) | (s[i + k] & 0x3f);
        }
        if (cp < min || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff))
            return false;
        i += extra + 1;
    }
    return true;
}

mentis__jose_get_t mentis__jose_get_string(const cJSON *object, const char *name, char *out,
                                           size_t size)
{
    out[0] = '\0';
    const cJSON *m = mentis__jose_member(object, name);
    if (m == NULL)
        return MENTIS__JOSE_ABSENT;
    if (!cJSON_IsString(m) || m->valuestring == NULL)
        return MENTIS__JOSE_BAD;
    size_t n = strlen(m->valuestring);
    if (n >= size || !mentis__jose_text_ok(m->valuestring, n))
        return MENTIS__JOSE_BAD;
    memcpy(out, m->valuestring, n + 1);
    return MENTIS__JOSE_OK;
}

mentis__jose_get_t mentis__jose_get_date(const cJSON *object, const char *name, int64_t *out)
{
    const cJSON *m = mentis__jose_member(object, name);
    if (m == NULL)
        return MENTIS__JOSE_ABSENT;
    if (!cJSON_IsNumber(m))
        return MENTIS__JOSE_BAD;
    double d = m->valuedouble;
    /* The range check comes first: converting an out-of-range double is undefined. */
    if (!isfinite(d) || d < 0 || d > (double)MENTIS__JOSE_MAX_DATE || d != floor(d))
        return MENTIS__JOSE_BAD;
    *out = (int64_t)d;
    return MENTIS__JOSE_OK;
}
