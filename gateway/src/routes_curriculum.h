/*
 * The routes to mentis-curriculum (API.md, Curriculum): entries of gw_route_t, each
 * followed by a comma, included by routes.h into GW_SERVICE_ROUTES.
 */
#ifndef MENTIS_GATEWAY_ROUTES_CURRICULUM_H
#define MENTIS_GATEWAY_ROUTES_CURRICULUM_H

#include "mentis/v1/curriculum.pb-c.h"

#define GW_CUR(name) &mentis__v1__curriculum__##name##__descriptor

/* A UMCF document: the largest real one is about 200 KB; a generated course of 200 topics
 * of 50 segments each is about 3 MB. Below the 8 MiB messages NATS carries in the stack. */
#define GW_CURRICULUM_DOCUMENT_BODY (7u << 20)
/* Progress and metadata updates are a handful of fields. */
#define GW_CURRICULUM_BODY 16384

/* A route to mentis-curriculum: method, path, name, op (subject mentis.v1.curriculum.<op>),
 * request and response message (short names), tier, then any other field. */
#define GW_CUR_ROUTE(m, p, n, op, req, resp, t, ...)                                               \
    {.method = m, .path = p, .name = n, .subject = "mentis.v1.curriculum." op,                     \
     .request = GW_CUR(req), .response = GW_CUR(resp), .tier = t, __VA_ARGS__}

#define GW_CURRICULUM_ROUTES                                                                       \
    GW_CUR_ROUTE("GET", "/api/curricula", "curricula_list", "curricula.list",                      \
                 list_curricula_request, list_curricula_response, GW_TIER_CLIENT,                  \
                 .retry_safe = true),                                                              \
    GW_CUR_ROUTE("GET", "/api/curricula/{id}", "curricula_get", "curricula.get",                   \
                 get_curriculum_request, curriculum_detail, GW_TIER_CLIENT, .retry_safe = true),   \
    GW_CUR_ROUTE("GET", "/api/curricula/{id}/subjects", "curricula_subjects",                      \
                 "curricula.subjects", list_subjects_request, list_subjects_response,              \
                 GW_TIER_CLIENT, .retry_safe = true),                                              \
    GW_CUR_ROUTE("GET", "/api/curricula/{id}/topics", "curricula_topics", "curricula.topics",      \
                 list_topics_request, list_topics_response, GW_TIER_CLIENT, .retry_safe = true),   \
    GW_CUR_ROUTE("GET", "/api/curricula/{id}/topics/{topic_id}/transcript",                        \
                 "curricula_transcript", "curricula.transcript", get_transcript_request,           \
                 transcript, GW_TIER_CLIENT, .retry_safe = true),                                  \
    GW_CUR_ROUTE("GET", "/api/curricula/{id}/full", "curricula_full", "curricula.full",            \
                 get_full_request, get_full_response, GW_TIER_CLIENT, .timeout_ms = 15000,         \
                 .retry_safe = true, .response_field = "document"),                                \
    GW_CUR_ROUTE("GET", "/api/curricula/{id}/progress", "curricula_progress", "progress.get",      \
                 get_progress_request, progress_response, GW_TIER_CLIENT, .retry_safe = true),     \
    GW_CUR_ROUTE("PUT", "/api/curricula/{id}/topics/{topic_id}/progress",                          \
                 "curricula_progress_put", "progress.put", put_progress_request, topic_progress,   \
                 GW_TIER_CLIENT, .body_limit = GW_CURRICULUM_BODY, .retry_safe = true),            \
    GW_CUR_ROUTE("POST", "/api/admin/curricula", "admin_curriculum_import", "admin.import",        \
                 import_curriculum_request, import_curriculum_response, GW_TIER_ADMIN,             \
                 .timeout_ms = 60000, .body_limit = GW_CURRICULUM_DOCUMENT_BODY,                   \
                 .body_field = "document", .location = "/api/curricula/{id}"),                     \
    GW_CUR_ROUTE("PATCH", "/api/admin/curricula/{id}", "admin_curriculum_update", "admin.update",  \
                 update_curriculum_request, curriculum, GW_TIER_ADMIN,                             \
                 .body_limit = GW_CURRICULUM_BODY),                                                \
    GW_CUR_ROUTE("DELETE", "/api/admin/curricula/{id}", "admin_curriculum_delete", "admin.delete", \
                 delete_curriculum_request, delete_curriculum_response, GW_TIER_ADMIN,             \
                 .status = 204),

#endif
