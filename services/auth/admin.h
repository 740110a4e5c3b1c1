/*
 * mentis-auth: administration — beta tokens (and the gateways' check of them), users of
 * a tenant, tenants, the audit log, the bootstrap admin. main.c includes this for the
 * operation table.
 *
 * Files: admin_access.c (who may do what), mentis/page.h (limits and keyset cursors),
 * admin_beta_tokens.c, admin_users.c, admin_tenants.c, admin_audit.c, admin_bootstrap.c,
 * beta.c (the token format, the gateways' check and their usage reports).
 */
#ifndef MENTIS_AUTH_ADMIN_H
#define MENTIS_AUTH_ADMIN_H

#include "auth.h"
#include "mentis/page.h"
#include "mentis/v1/auth_admin.pb-c.h"
#include "mentis/v1/gateway.pb-c.h"

#define MENTIS_AUTH_ADMIN_D(name) &mentis__v1__auth__##name##__descriptor
/* clang-format off */
#define MENTIS_AUTH_ADMIN_OP(op, req, resp, fn)                                                    \
    {"admin." op, MENTIS_AUTH_ADMIN_D(req), MENTIS_AUTH_ADMIN_D(resp), fn,                        \
     MENTIS_OP_DB | MENTIS_OP_TENANT}

/*
 * Entries of main.c's operation table (a comma-separated list, or empty). beta.check is for
 * gateways: it has no tenant but the one its token names (see beta.c). admin.users.create
 * opens its own transaction so that Argon2 runs before a connection is taken. The usage
 * reports of every gateway are consumed in the queue group, each by one replica.
 */
#define MENTIS_AUTH_ADMIN_OPS                                                                      \
    {"beta.check", MENTIS_AUTH_ADMIN_D(beta_check_request),                                        \
     MENTIS_AUTH_ADMIN_D(beta_check_response), mentis__auth_op_beta_check, 0},                     \
    MENTIS_AUTH_ADMIN_OP("beta_tokens.create", create_beta_token_request, beta_token,              \
                         mentis__auth_op_beta_tokens_create),                                      \
    MENTIS_AUTH_ADMIN_OP("beta_tokens.list", list_beta_tokens_request, list_beta_tokens_response,  \
                         mentis__auth_op_beta_tokens_list),                                        \
    MENTIS_AUTH_ADMIN_OP("beta_tokens.revoke", revoke_beta_token_request,                          \
                         revoke_beta_token_response, mentis__auth_op_beta_tokens_revoke),          \
    MENTIS_AUTH_ADMIN_OP("users.list", list_users_request, list_users_response,                    \
                         mentis__auth_op_users_list),                                              \
    {"admin.users.create", MENTIS_AUTH_ADMIN_D(create_user_request),                               \
     MENTIS_AUTH_ADMIN_D(admin_user), mentis__auth_op_users_create, MENTIS_OP_TENANT},             \
    MENTIS_AUTH_ADMIN_OP("users.update", update_user_request, admin_user,                          \
                         mentis__auth_op_users_update),                                            \
    MENTIS_AUTH_ADMIN_OP("users.delete", delete_user_request, delete_user_response,                \
                         mentis__auth_op_users_delete),                                            \
    MENTIS_AUTH_ADMIN_OP("tenants.list", list_tenants_request, list_tenants_response,              \
                         mentis__auth_op_tenants_list),                                            \
    MENTIS_AUTH_ADMIN_OP("tenants.create", create_tenant_request, tenant,                          \
                         mentis__auth_op_tenants_create),                                          \
    MENTIS_AUTH_ADMIN_OP("audit.list", list_audit_request, list_audit_response,                    \
                         mentis__auth_op_audit_list),                                              \
    {MENTIS_AUTH_BETA_USAGE_SUBJECT, &mentis__v1__gateway__beta_usage__descriptor, NULL,           \
     mentis__auth_on_beta_usage, MENTIS_OP_EVENT},
/* clang-format on */

#define MENTIS_AUTH_BETA_USAGE_SUBJECT "mentis.v1.evt.gateway.beta_usage"

/* Beta tokens: "mtb_" and base64url of 32 random bytes then the tenant's 16-byte UUID. */
#define MENTIS_AUTH_BETA_PREFIX     "mtb_"
#define MENTIS_AUTH_BETA_LEN        (4 + 64)
#define MENTIS_AUTH_BETA_PREFIX_LEN 12 /* what lists show: "mtb_" and 8 characters */

/* ---- admin_access.c ---- */

/*
 * Refuses (403 permission_denied) a caller whose Mentis-Roles holds neither admin nor
 * platform_admin, or — with `platform` — not platform_admin. The gateway checks the tier
 * too; this is the service's own check.
 */
mentis_status_t mentis__auth_admin_require(mentis_ctx_t *ctx, bool platform);

/* Whether the caller is a platform admin. */
bool mentis__auth_admin_is_platform(const mentis_ctx_t *ctx);

/* The caller's account id (Mentis-Principal) when it is one, else NULL (an admin signed in
 * through the access proxy has none). */
const char *mentis__auth_admin_caller(const mentis_ctx_t *ctx);

/* "user", "admin", "platform_admin"; NULL for ROLE_UNSPECIFIED or an unknown value. */
const char *mentis__auth_role_str(Mentis__V1__Auth__Role role);

/* Whether a path id is a UUID; adds a field error and returns false when not. */
bool mentis__auth_admin_id_valid(mentis_ctx_t *ctx, const char *field, const char *id);

/* ---- beta.c ---- */

/* A new beta token of `tenant`: the token (shown once), its stored hash ('\x' + hex) and
 * the prefix lists show. */
void mentis__auth_beta_token_new(const mentis_auth_t *app, const char *tenant,
                                 char token[MENTIS_AUTH_BETA_LEN + 1], char hash[67],
                                 char prefix[MENTIS_AUTH_BETA_PREFIX_LEN + 1]);

/* mentis.v1.auth.beta.check */
mentis_status_t mentis__auth_op_beta_check(mentis_ctx_t *ctx, const ProtobufCMessage *req,
                                           ProtobufCMessage *resp);

/* mentis.v1.evt.gateway.beta_usage: adds each token's requests to its day. */
mentis_status_t mentis__auth_on_beta_usage(mentis_ctx_t *ctx, const ProtobufCMessage *req,
                                           ProtobufCMessage *resp);

/* ---- admin_beta_tokens.c ---- */

mentis_status_t mentis__auth_op_beta_tokens_create(mentis_ctx_t *ctx, const ProtobufCMessage *req,
                                                   ProtobufCMessage *resp);
mentis_status_t mentis__auth_op_beta_tokens_list(mentis_ctx_t *ctx, const ProtobufCMessage *req,
                                                 ProtobufCMessage *resp);
mentis_status_t mentis__auth_op_beta_tokens_revoke(mentis_ctx_t *ctx, const ProtobufCMessage *req,
                                                   ProtobufCMessage *resp);

/* ---- admin_users.c ---- */

mentis_status_t mentis__auth_op_users_list(mentis_ctx_t *ctx, const ProtobufCMessage *req,
                                           ProtobufCMessage *resp);
mentis_status_t mentis__auth_op_users_create(mentis_ctx_t *ctx, const ProtobufCMessage *req,
                                             ProtobufCMessage *resp);
mentis_status_t mentis__auth_op_users_update(mentis_ctx_t *ctx, const ProtobufCMessage *req,
                                             ProtobufCMessage *resp);
mentis_status_t mentis__auth_op_users_delete(mentis_ctx_t *ctx, const ProtobufCMessage *req,
                                             ProtobufCMessage *resp);


/* ---- admin_tenants.c ---- */

mentis_status_t mentis__auth_op_tenants_list(mentis_ctx_t *ctx, const ProtobufCMessage *req,
                                             ProtobufCMessage *resp);
mentis_status_t mentis__auth_op_tenants_create(mentis_ctx_t *ctx, const ProtobufCMessage *req,
                                               ProtobufCMessage *resp);

/* ---- admin_audit.c ---- */

/*
 * Audits an admin action in the caller's tenant on conn: `kv` is a NULL-terminated list of
 * key, value strings, stored as the JSON object of the entry's detail. user_id (the account
 * acted on) may be NULL.
 */
mentis_status_t mentis__auth_admin_audit(mentis_ctx_t *ctx, mentis_db_conn_t *conn,
                                         const char *user_id, const char *event,
                                         const char *const *kv);

/* The same in another tenant than the caller's (the transaction must be scoped to it). */
mentis_status_t mentis__auth_admin_audit_in(mentis_ctx_t *ctx, mentis_db_conn_t *conn,
                                            const char *tenant, const char *user_id,
                                            const char *event, const char *const *kv);

mentis_status_t mentis__auth_op_audit_list(mentis_ctx_t *ctx, const ProtobufCMessage *req,
                                           ProtobufCMessage *resp);

/* ---- admin_bootstrap.c ---- */

/*
 * At start: when app->bootstrap_email is set and the default tenant has no admin, creates
 * that platform admin (once, under an advisory lock, however many replicas start).
 */
mentis_status_t mentis__auth_bootstrap_admin(mentis_service_t *svc, const mentis_auth_t *app);

#endif
