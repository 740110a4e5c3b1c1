/*
 * The routes to mentis-kb (API.md, Knowledge base): entries of gw_route_t, each followed
 * by a comma, included by routes.h into GW_SERVICE_ROUTES.
 */
#ifndef MENTIS_GATEWAY_ROUTES_KB_H
#define MENTIS_GATEWAY_ROUTES_KB_H

#define GW_KB_ROUTES

#endif
