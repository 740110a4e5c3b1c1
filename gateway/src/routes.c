/*
 * The route table: method, path and handler. Only the platform routes exist so far; the
 * table is where the service routes (subject, types, tier, timeout, body limit) will go.
 */
#include <stdio.h>
#include <string.h>

#include "gateway.h"

const gw_route_t gw_routes[] = {
    {"GET", "/api/health", "health", gw_health_handle},
    {"GET", "/healthz", "healthz", gw_healthz_handle},
    {"GET", "/readyz", "readyz", gw_readyz_handle},
};
const size_t gw_route_count = sizeof gw_routes / sizeof gw_routes[0];

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

gw_match_t gw_route_match(const char *method, const char *path, const gw_route_t **route,
                          char *allow, size_t allow_size)
{
    bool path_known = false;
    if (allow_size > 0)
        allow[0] = '\0';
    for (size_t i = 0; i < gw_route_count; i++) {
        const gw_route_t *r = &gw_routes[i];
        if (strcmp(r->path, path) != 0)
            continue;
        path_known = true;
        bool get = strcmp(r->method, "GET") == 0;
        if (strcmp(r->method, method) == 0 || (get && strcmp(method, "HEAD") == 0)) {
            *route = r;
            return GW_MATCH_FOUND;
        }
        allow_add(allow, allow_size, r->method);
        if (get)
            allow_add(allow, allow_size, "HEAD");
    }
    if (!path_known)
        return GW_MATCH_NOT_FOUND;
    allow_add(allow, allow_size, "OPTIONS");
    return strcmp(method, "OPTIONS") == 0 ? GW_MATCH_OPTIONS : GW_MATCH_NO_METHOD;
}
