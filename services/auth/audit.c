/* The security audit log: logins, failures, token reuse, logouts, registrations. */
#include "auth.h"

mentis_status_t mentis__auth_audit(mentis_ctx_t *ctx, mentis_db_conn_t *conn, const char *tenant,
                                   const char *user_id, const char *event, const char *detail_json)
{
    char id[37];
    mentis_crypto_uuid_v7(id);
    const char *ip = mentis_ctx_header(ctx, MENTIS_AUTH_HDR_CLIENT_IP);
    const char *params[] = {id,    tenant,       user_id,
                            event, ip ? ip : "", detail_json ? detail_json : "{}"};
    return mentis_db_exec(
        conn,
        "INSERT INTO auth.audit_log (id, tenant_id, user_id, event, ip_address, detail) "
        "VALUES ($1, $2, $3, $4, left($5, 64), $6::jsonb)",
        6, params, NULL);
}
