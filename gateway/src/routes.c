/* The route table of mentis-gateway: the platform routes and every service route. */
#include "routes.h"

const gw_route_t gw_routes[] = {
    GW_BUILTIN_ROUTES,
    GW_SERVICE_ROUTES
};
const size_t gw_route_count = sizeof gw_routes / sizeof gw_routes[0];
