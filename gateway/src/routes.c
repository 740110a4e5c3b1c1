/*
 * The route table of mentis-gateway. Adding an endpoint is one entry here (method, path
 * template, subject, request and response types, tier, timeout, body limit, retry,
 * rate category) plus the handler in its service; the matcher (match.c) and the forwarder
 * (forward.c) need nothing per route.
 *
 * Only operations a service really serves are listed: a route to a subject nobody
 * answers would be a fake answer in production. So far only the platform routes exist.
 */
#include "gateway.h"

const gw_route_t gw_routes[] = {
    GW_BUILTIN_ROUTES,
};
const size_t gw_route_count = sizeof gw_routes / sizeof gw_routes[0];
