/*
 * The routes to mentis-curriculum (API.md, Curriculum): entries of gw_route_t, each
 * followed by a comma, included by routes.h into GW_SERVICE_ROUTES.
 */
#ifndef MENTIS_GATEWAY_ROUTES_CURRICULUM_H
#define MENTIS_GATEWAY_ROUTES_CURRICULUM_H

#define GW_CURRICULUM_ROUTES

#endif
