/*
 * The routes to mentis-kb (API.md, Knowledge base): entries of gw_route_t, each followed
 * by a comma, included by routes.h into GW_SERVICE_ROUTES.
 */
#ifndef MENTIS_GATEWAY_ROUTES_KB_H
#define MENTIS_GATEWAY_ROUTES_KB_H

#include "mentis/v1/kb.pb-c.h"

#define GW_KB(name) &mentis__v1__kb__##name##__descriptor

/* A question or pack is a few KB at most (4000-character texts, short lists); a bulk
 * update or an add names up to 1000 ids. */
#define GW_KB_BODY (256u << 10)
/* An imported document: the apps' file of 1,000 questions is 0.9 MB; a pack of the most
 * questions a document may hold (5000) is a few MB, bounded by NATS' payload too. */
#define GW_KB_DOCUMENT_BODY (8u << 20)

/* A route to mentis-kb: method, path, name, op (subject mentis.v1.kb.<op>), request and
 * response message (short names), then any other field; every route is for clients. */
#define GW_KB_ROUTE(m, p, n, op, req, resp, ...)                                                   \
    {.method = m, .path = p, .name = n, .subject = "mentis.v1.kb." op, .request = GW_KB(req),      \
     .response = GW_KB(resp), .tier = GW_TIER_CLIENT, __VA_ARGS__}

#define GW_KB_ROUTES                                                                               \
    GW_KB_ROUTE("GET", "/api/kb/packs", "kb_packs", "packs.list", list_packs_request,              \
                list_packs_response, .retry_safe = true),                                          \
    GW_KB_ROUTE("POST", "/api/kb/packs", "kb_pack_create", "packs.create",                         \
                create_pack_request, pack, .body_limit = GW_KB_BODY,                               \
                .location = "/api/kb/packs/{id}"),                                                 \
    GW_KB_ROUTE("POST", "/api/kb/packs/bundle", "kb_pack_bundle", "packs.bundle",                  \
                create_bundle_request, pack, .body_limit = GW_KB_BODY, .timeout_ms = 15000,        \
                .location = "/api/kb/packs/{id}"),                                                 \
    GW_KB_ROUTE("GET", "/api/kb/packs/{id}", "kb_pack", "packs.get", pack_ref, pack,               \
                .retry_safe = true),                                                               \
    GW_KB_ROUTE("PATCH", "/api/kb/packs/{id}", "kb_pack_update", "packs.update",                   \
                update_pack_request, pack, .body_limit = GW_KB_BODY),                              \
    GW_KB_ROUTE("DELETE", "/api/kb/packs/{id}", "kb_pack_delete", "packs.delete", pack_ref,        \
                empty, .status = 204),                                                             \
    GW_KB_ROUTE("GET", "/api/kb/packs/{id}/questions", "kb_pack_questions",                        \
                "packs.questions.list", list_pack_questions_request, list_questions_response,      \
                .retry_safe = true),                                                               \
    GW_KB_ROUTE("POST", "/api/kb/packs/{id}/questions", "kb_pack_questions_add",                   \
                "packs.questions.add", add_pack_questions_request, pack,                           \
                .body_limit = GW_KB_BODY),                                                         \
    GW_KB_ROUTE("DELETE", "/api/kb/packs/{id}/questions/{question_id}",                            \
                "kb_pack_question_remove", "packs.questions.remove",                               \
                remove_pack_question_request, empty, .status = 204),                               \
    GW_KB_ROUTE("GET", "/api/kb/packs/{id}/export", "kb_pack_export", "packs.export",              \
                pack_ref, export_pack_response, .timeout_ms = 15000, .retry_safe = true,           \
                .response_field = "document"),                                                     \
    GW_KB_ROUTE("POST", "/api/kb/import", "kb_import", "import", import_request, pack,             \
                .body_limit = GW_KB_DOCUMENT_BODY, .timeout_ms = 30000,                            \
                .body_field = "document", .location = "/api/kb/packs/{id}"),                       \
    GW_KB_ROUTE("GET", "/api/kb/questions", "kb_questions", "questions.list",                      \
                list_questions_request, list_questions_response, .retry_safe = true),              \
    GW_KB_ROUTE("POST", "/api/kb/questions", "kb_question_create", "questions.create",             \
                create_question_request, question, .body_limit = GW_KB_BODY,                       \
                .location = "/api/kb/questions/{id}"),                                             \
    GW_KB_ROUTE("POST", "/api/kb/questions/bulk-update", "kb_questions_bulk_update",               \
                "questions.bulk_update", bulk_update_questions_request,                            \
                bulk_update_questions_response, .body_limit = GW_KB_BODY,                          \
                .timeout_ms = 15000),                                                              \
    GW_KB_ROUTE("GET", "/api/kb/questions/{id}", "kb_question", "questions.get", question_ref,     \
                question, .retry_safe = true),                                                     \
    GW_KB_ROUTE("PATCH", "/api/kb/questions/{id}", "kb_question_update", "questions.update",       \
                update_question_request, question, .body_limit = GW_KB_BODY),                      \
    GW_KB_ROUTE("DELETE", "/api/kb/questions/{id}", "kb_question_delete", "questions.delete",      \
                question_ref, empty, .status = 204),                                               \
    GW_KB_ROUTE("GET", "/api/kb/domains", "kb_domains", "domains.list", list_domains_request,      \
                list_domains_response, .retry_safe = true),                                        \
    GW_KB_ROUTE("POST", "/api/kb/domains", "kb_domain_create", "domains.create",                   \
                create_domain_request, domain, .body_limit = GW_KB_BODY,                           \
                .location = "/api/kb/domains/{id}"),                                               \
    GW_KB_ROUTE("GET", "/api/kb/domains/{id}", "kb_domain", "domains.get", domain_ref, domain,     \
                .retry_safe = true),                                                               \
    GW_KB_ROUTE("PATCH", "/api/kb/domains/{id}", "kb_domain_update", "domains.update",             \
                update_domain_request, domain, .body_limit = GW_KB_BODY),                          \
    GW_KB_ROUTE("DELETE", "/api/kb/domains/{id}", "kb_domain_delete", "domains.delete",            \
                domain_ref, empty, .status = 204),                                                 \
    GW_KB_ROUTE("GET", "/api/kb/categories", "kb_categories", "categories.list",                   \
                list_categories_request, list_categories_response, .retry_safe = true),            \
    GW_KB_ROUTE("GET", "/api/kb/search", "kb_search", "search", search_request,                    \
                search_response, .retry_safe = true),

#endif
