/* The security audit log: logins, failures, token reuse, logouts, registrations, admin actions. */
#include "auth.h"

mentis_status_t mentis__auth_audit(mentis_ctx_t *ctx, mentis_db_conn_t *conn, const char *tenant,
                                   const char *user_id, const char *event, const char *detail_json)
{
    char id[37];
    mentis_crypto_uuid_v7(id);
    const char *ip = mentis_ctx_header(ctx, MENTIS_AUTH_HDR_CLIENT_IP);
    /* The actor is an account only when signed in with one: a beta token's principal is the
     * token, and an admin signed in through the access proxy has an email and no account. */
    const char *actor = mentis_ctx_principal(ctx);
    uint8_t uuid[16];
    if (actor != NULL &&
        (mentis_ctx_has_role(ctx, "beta") || !mentis_crypto_uuid_parse(actor, uuid)))
        actor = NULL;
    const char *email = mentis_ctx_header(ctx, MENTIS_AUTH_HDR_EMAIL);
    const char *params[] = {id,           tenant,
                            user_id,      event,
                            ip ? ip : "", detail_json ? detail_json : "{}",
                            actor,        email ? email : ""};
    return mentis_db_exec(
        conn,
        "INSERT INTO auth.audit_log (id, tenant_id, user_id, event, ip_address, detail, "
        "actor_id, actor_email) VALUES ($1, $2, $3, $4, left($5, 64), $6::jsonb, $7, left($8, "
        "254))",
        8, params, NULL);
}
