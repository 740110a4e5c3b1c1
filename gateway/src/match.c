/*
 * Matching a request's method and path against a route table of templates.
 *
 * Tables are small (tens of routes), so a linear scan over segments is enough and keeps
 * the rules obvious: literal segments compare byte for byte, a `{param}` takes one whole
 * non-empty segment, and among templates that fit the most literal one wins, decided at
 * the first segment where they differ.
 */
#include <stdio.h>
#include <string.h>

#include "gateway.h"

/* Appends name to the comma-separated list in allow unless it is there; stops when full. */
static void allow_add(char *allow, size_t size, const char *name)
{
    size_t len = strlen(name);
    for (const char *p = allow; *p;) {
        const char *end = strchr(p, ',');
        size_t n = end ? (size_t)(end - p) : strlen(p);
        if (n == len && memcmp(p, name, len) == 0)
            return;
        p = end ? end + 2 : p + n;
    }
    size_t n = strlen(allow);
    snprintf(allow + n, size - n, "%s%s", n ? ", " : "", name);
}

bool gw_text_valid(const char *s, size_t len)
{
    const unsigned char *p = (const unsigned char *)s, *end = p + len;
    while (p < end) {
        unsigned c = *p;
        if (c < 0x80) {
            if (c < 0x20 || c == 0x7f)
                return false;
            p++;
            continue;
        }
        size_t n;
        unsigned cp, min;
        if ((c & 0xe0) == 0xc0) {
            n = 2, cp = c & 0x1f, min = 0x80;
        } else if ((c & 0xf0) == 0xe0) {
            n = 3, cp = c & 0x0f, min = 0x800;
        } else if ((c & 0xf8) == 0xf0) {
            n = 4, cp = c & 0x07, min = 0x10000;
        } else {
            return false;
        }
        if ((size_t)(end - p) < n)
            return false;
        for (size_t i = 1; i < n; i++) {
            if ((p[i] & 0xc0) != 0x80)
                return false;
            cp = (cp << 6) | (p[i] & 0x3f);
        }
        if (cp < min || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff))
            return false;
        p += n;
    }
    return true;
}

/*
 * Whether path fits template t. On a fit, records the parameters and the specificity:
 * bit i (from the top) set when segment i is literal, so a larger number is the more
 * literal template at the first difference.
 */
static bool fits(const char *t, const char *path, gw_params_t *params, unsigned long *literal)
{
    params->count = 0;
    *literal = 0;
    unsigned bit = 0;
    if (*t != '/' || *path != '/')
        return false;
    for (;;) {
        t++, path++; /* past the '/' */
        const char *te = strchr(t, '/'), *pe = strchr(path, '/');
        size_t tl = te ? (size_t)(te - t) : strlen(t);
        size_t pl = pe ? (size_t)(pe - path) : strlen(path);
        bool param = tl >= 2 && t[0] == '{' && t[tl - 1] == '}';
        if (param) {
            if (pl == 0 || params->count == GW_PARAMS_MAX)
                return false;
            params->items[params->count].name = t + 1;
            params->items[params->count].name_len = tl - 2;
            params->items[params->count].value = path;
            params->items[params->count].value_len = pl;
            params->count++;
        } else {
            if (tl != pl || memcmp(t, path, tl) != 0)
                return false;
            if (bit < sizeof *literal * 8)
                *literal |= 1UL << (sizeof *literal * 8 - 1 - bit);
        }
        bit++;
        if ((te == NULL) != (pe == NULL))
            return false;
        if (te == NULL)
            return true;
        t = te, path = pe;
    }
}

gw_match_t gw_route_match_in(const gw_route_t *routes, size_t n, const char *method,
                             const char *path, const gw_route_t **route, gw_params_t *params,
                             char *allow, size_t allow_size)
{
    bool path_known = false;
    const gw_route_t *best = NULL;
    unsigned long best_literal = 0;
    gw_params_t cand;
    if (allow_size > 0)
        allow[0] = '\0';
    bool head = strcmp(method, "HEAD") == 0;
    for (size_t i = 0; i < n; i++) {
        const gw_route_t *r = &routes[i];
        unsigned long literal;
        if (!fits(r->path, path, &cand, &literal))
            continue;
        path_known = true;
        bool get = strcmp(r->method, "GET") == 0;
        if (strcmp(r->method, method) == 0 || (get && head)) {
            if (best == NULL || literal > best_literal) {
                best = r;
                best_literal = literal;
                *params = cand;
            }
            continue;
        }
        allow_add(allow, allow_size, r->method);
        if (get)
            allow_add(allow, allow_size, "HEAD");
    }
    if (best != NULL) {
        *route = best;
        for (size_t i = 0; i < params->count; i++) {
            if (!gw_text_valid(params->items[i].value, params->items[i].value_len)) {
                if (allow_size > 0)
                    snprintf(allow, allow_size, "path parameter %.*s is not valid UTF-8 text",
                             (int)params->items[i].name_len, params->items[i].name);
                return GW_MATCH_BAD_PARAM;
            }
        }
        return GW_MATCH_FOUND;
    }
    if (!path_known)
        return GW_MATCH_NOT_FOUND;
    allow_add(allow, allow_size, "OPTIONS");
    return strcmp(method, "OPTIONS") == 0 ? GW_MATCH_OPTIONS : GW_MATCH_NO_METHOD;
}

gw_match_t gw_route_match(const char *method, const char *path, const gw_route_t **route,
                          gw_params_t *params, char *allow, size_t allow_size)
{
    return gw_route_match_in(gw_routes, gw_route_count, method, path, route, params, allow,
                             allow_size);
}
