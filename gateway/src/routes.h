/*
 * The service routes of mentis-gateway: one entry per public endpoint a service serves
 * (API.md). Adding an endpoint is one entry here (method, path template, subject, request
 * and response types, tier, timeout, body limit, retry, rate category, success status)
 * plus the handler in its service; the matcher (match.c), the access check (access.c),
 * the limits (limits.c) and the forwarder (forward.c) need nothing per route.
 *
 * Only operations a service really serves are listed: a route to a subject nobody
 * answers would be a fake answer in production. Both route tables (routes.c and the test
 * binary's) include this list. Each service past auth keeps its entries in a header of its
 * own (routes_<service>.h: a list of entries, each followed by a comma).
 */
#ifndef MENTIS_GATEWAY_ROUTES_H
#define MENTIS_GATEWAY_ROUTES_H

#include "gateway.h"
#include "mentis/v1/auth.pb-c.h"
#include "mentis/v1/auth_account.pb-c.h"
#include "mentis/v1/auth_admin.pb-c.h"
#include "routes_curriculum.h"
#include "routes_kb.h"

#define GW_AUTH(name) &mentis__v1__auth__##name##__descriptor

/* Bodies of account requests are small: an email, a password, a device description. */
#define GW_AUTH_BODY 4096

/* A route to mentis-auth: method, path, op (subject mentis.v1.auth.<op>), request and
 * response message (short names), tier, then any other field (.body_limit, ...); the
 * timeout is GW_DEFAULT_TIMEOUT_MS unless given. */
#define GW_AUTH_ROUTE(m, p, n, op, req, resp, t, ...)                                              \
    {.method = m, .path = p, .name = n, .subject = "mentis.v1.auth." op,                           \
     .request = GW_AUTH(req), .response = GW_AUTH(resp), .tier = t, __VA_ARGS__}

#define GW_SERVICE_ROUTES                                                                          \
    {.method = "GET", .path = "/.well-known/jwks.json", .name = "jwks",                            \
     .subject = "mentis.v1.auth.keys", .request = GW_AUTH(jwks_request),                           \
     .response = GW_AUTH(jwks_response), .tier = GW_TIER_PUBLIC, .timeout_ms = 2000,               \
     .retry_safe = true},                                                                          \
    {.method = "POST", .path = "/api/auth/register", .name = "auth_register",                      \
     .subject = "mentis.v1.auth.register", .request = GW_AUTH(register_request),                   \
     .response = GW_AUTH(register_response), .tier = GW_TIER_PUBLIC, .timeout_ms = 10000,          \
     .body_limit = GW_AUTH_BODY, .rate = GW_RATE_REGISTER, .location = "/api/auth/me"},            \
    {.method = "POST", .path = "/api/auth/login", .name = "auth_login",                            \
     .subject = "mentis.v1.auth.login", .request = GW_AUTH(login_request),                         \
     .response = GW_AUTH(login_response), .tier = GW_TIER_PUBLIC, .timeout_ms = 10000,             \
     .body_limit = GW_AUTH_BODY, .rate = GW_RATE_LOGIN},                                           \
    {.method = "POST", .path = "/api/auth/refresh", .name = "auth_refresh",                        \
     .subject = "mentis.v1.auth.refresh", .request = GW_AUTH(refresh_request),                     \
     .response = GW_AUTH(refresh_response), .tier = GW_TIER_PUBLIC, .timeout_ms = 5000,            \
     .body_limit = GW_AUTH_BODY, .rate = GW_RATE_REFRESH},                                         \
    {.method = "POST", .path = "/api/auth/logout", .name = "auth_logout",                          \
     .subject = "mentis.v1.auth.logout", .request = GW_AUTH(logout_request),                       \
     .response = GW_AUTH(logout_response), .tier = GW_TIER_CLIENT, .timeout_ms = 5000,             \
     .body_limit = GW_AUTH_BODY, .status = 204},                                                   \
    {.method = "GET", .path = "/api/auth/me", .name = "auth_me",                                   \
     .subject = "mentis.v1.auth.me.get", .request = GW_AUTH(me_request),                           \
     .response = GW_AUTH(user), .tier = GW_TIER_CLIENT, .timeout_ms = 5000, .retry_safe = true},   \
    {.method = "PATCH", .path = "/api/auth/me", .name = "auth_me_update",                          \
     .subject = "mentis.v1.auth.me.update", .request = GW_AUTH(update_me_request),                 \
     .response = GW_AUTH(user), .tier = GW_TIER_CLIENT, .timeout_ms = 5000,                        \
     .body_limit = GW_AUTH_BODY},                                                                  \
    GW_AUTH_ROUTE("GET", "/api/auth/session", "auth_whoami", "whoami", whoami_request,             \
                  whoami_response, GW_TIER_CLIENT, .timeout_ms = 2000, .retry_safe = true),        \
    GW_AUTH_ROUTE("POST", "/api/auth/password", "auth_password", "password.change",                \
                  change_password_request, change_password_response, GW_TIER_CLIENT,               \
                  .timeout_ms = 10000, .body_limit = GW_AUTH_BODY, .status = 204),                 \
    GW_AUTH_ROUTE("POST", "/api/auth/forgot-password", "auth_forgot_password", "password.forgot",  \
                  forgot_password_request, forgot_password_response, GW_TIER_PUBLIC,               \
                  .body_limit = GW_AUTH_BODY, .rate = GW_RATE_FORGOT_PASSWORD, .status = 202),     \
    GW_AUTH_ROUTE("POST", "/api/auth/reset-password", "auth_reset_password", "password.reset",     \
                  reset_password_request, reset_password_response, GW_TIER_PUBLIC,                 \
                  .timeout_ms = 10000, .body_limit = GW_AUTH_BODY,                                 \
                  .rate = GW_RATE_RESET_PASSWORD, .status = 204),                                  \
    GW_AUTH_ROUTE("GET", "/api/auth/verify-email", "auth_verify_email", "email.verify",            \
                  verify_email_request, verify_email_response, GW_TIER_PUBLIC),                                                 \
    GW_AUTH_ROUTE("POST", "/api/auth/resend-verification", "auth_resend_verification",             \
                  "email.resend", resend_verification_request, resend_verification_response,       \
                  GW_TIER_PUBLIC, .body_limit = GW_AUTH_BODY, .rate = GW_RATE_FORGOT_PASSWORD,     \
                  .status = 202),                                                                  \
    GW_AUTH_ROUTE("GET", "/api/auth/sessions", "auth_sessions", "sessions.list",                   \
                  list_sessions_request, list_sessions_response, GW_TIER_CLIENT,                   \
                  .retry_safe = true),                                                             \
    GW_AUTH_ROUTE("DELETE", "/api/auth/sessions/{id}", "auth_session_revoke", "sessions.revoke",   \
                  revoke_session_request, revoke_session_response, GW_TIER_CLIENT,                 \
                  .status = 204),                                                                  \
    GW_AUTH_ROUTE("GET", "/api/auth/devices", "auth_devices", "devices.list",                      \
                  list_devices_request, list_devices_response, GW_TIER_CLIENT,                     \
                  .retry_safe = true),                                                             \
    GW_AUTH_ROUTE("DELETE", "/api/auth/devices/{id}", "auth_device_delete", "devices.delete",      \
                  delete_device_request, delete_device_response, GW_TIER_CLIENT, .status = 204),   \
    GW_AUTH_ROUTE("POST", "/api/admin/beta-tokens", "admin_beta_token_create",                     \
                  "admin.beta_tokens.create", create_beta_token_request, beta_token,               \
                  GW_TIER_ADMIN, .body_limit = GW_AUTH_BODY,                                       \
                  .location = "/api/admin/beta-tokens/{id}"),                                      \
    GW_AUTH_ROUTE("GET", "/api/admin/beta-tokens", "admin_beta_tokens", "admin.beta_tokens.list",  \
                  list_beta_tokens_request, list_beta_tokens_response, GW_TIER_ADMIN,              \
                  .retry_safe = true),                                                             \
    GW_AUTH_ROUTE("DELETE", "/api/admin/beta-tokens/{id}", "admin_beta_token_revoke",              \
                  "admin.beta_tokens.revoke", revoke_beta_token_request,                           \
                  revoke_beta_token_response, GW_TIER_ADMIN, .status = 204),                       \
    GW_AUTH_ROUTE("GET", "/api/admin/users", "admin_users", "admin.users.list",                    \
                  list_users_request, list_users_response, GW_TIER_ADMIN, .retry_safe = true),     \
    GW_AUTH_ROUTE("POST", "/api/admin/users", "admin_user_create", "admin.users.create",           \
                  create_user_request, admin_user, GW_TIER_ADMIN, .timeout_ms = 10000,             \
                  .body_limit = GW_AUTH_BODY, .location = "/api/admin/users/{id}"),                \
    GW_AUTH_ROUTE("PATCH", "/api/admin/users/{id}", "admin_user_update", "admin.users.update",     \
                  update_user_request, admin_user, GW_TIER_ADMIN, .body_limit = GW_AUTH_BODY),     \
    GW_AUTH_ROUTE("DELETE", "/api/admin/users/{id}", "admin_user_delete", "admin.users.delete",    \
                  delete_user_request, delete_user_response, GW_TIER_ADMIN, .status = 204),        \
    GW_AUTH_ROUTE("GET", "/api/admin/tenants", "admin_tenants", "admin.tenants.list",              \
                  list_tenants_request, list_tenants_response, GW_TIER_ADMIN, .retry_safe = true), \
    GW_AUTH_ROUTE("POST", "/api/admin/tenants", "admin_tenant_create", "admin.tenants.create",     \
                  create_tenant_request, tenant, GW_TIER_ADMIN, .body_limit = GW_AUTH_BODY,        \
                  .location = "/api/admin/tenants/{id}"),                                          \
    GW_AUTH_ROUTE("GET", "/api/admin/audit", "admin_audit", "admin.audit.list",                    \
                  list_audit_request, list_audit_response, GW_TIER_ADMIN, .retry_safe = true), \
    GW_KB_ROUTES GW_CURRICULUM_ROUTES

#endif
