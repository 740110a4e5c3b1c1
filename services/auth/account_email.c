/* Email verification: the link of the verification mail (email.verify). Resend shares
 * forgot-password's path (account_password.c); register queues the first mail. */
#include <stdio.h>
#include <string.h>

#include "account.h"

mentis_status_t mentis__auth_op_email_verify(mentis_ctx_t *ctx, const ProtobufCMessage *req,
                                             ProtobufCMessage *resp)
{
    const Mentis__V1__Auth__VerifyEmailRequest *in =
        (const Mentis__V1__Auth__VerifyEmailRequest *)req;
    Mentis__V1__Auth__VerifyEmailResponse *out = (Mentis__V1__Auth__VerifyEmailResponse *)resp;
    mentis_pool_t *pool = mentis_ctx_pool(ctx);
    const char *tenant = mentis__auth_public_tenant(ctx);
    mentis_db_conn_t *conn = NULL;
    mentis_status_t st = mentis__auth_tx_begin(ctx, tenant, &conn);
    if (st != MENTIS_OK)
        return st;
    char user_id[37] = "", email[255] = "";
    st = mentis__auth_ott_use(conn, in->token, "verify_email", user_id, email);
    /* Only the address the mail went to: a link sent before an address change verifies
     * nothing. */
    const char *p[] = {user_id, email};
    PGresult *res = NULL;
    if (st == MENTIS_OK)
        st = mentis_db_exec(conn,
                            "UPDATE auth.users u SET email_verified = true, updated_at = now() "
                            "WHERE u.id = $1 AND lower(u.email) = lower($2) AND u.is_active "
                            "RETURNING " MENTIS_AUTH_USER_COLUMNS,
                            2, p, &res);
    if (st == MENTIS_OK && PQntuples(res) != 1)
        st = mentis_err_set(MENTIS_ERR_INVALID_ARGUMENT, "invalid_token", "the link is not valid");
    if (st == MENTIS_OK) {
        Mentis__V1__Auth__User *user = mentis_pool_calloc(pool, 1, sizeof *user);
        if (user == NULL) {
            st = mentis_err_set(MENTIS_ERR_NO_MEMORY, NULL, "email.verify: out of memory");
        } else {
            mentis__auth_user_read(pool, res, 0, 0, user);
            out->user = user;
            out->email_verified = true;
        }
    }
    PQclear(res);
    if (st == MENTIS_OK)
        st = mentis__auth_audit(ctx, conn, tenant, user_id, "email_verified", NULL);
    return mentis__auth_tx_end(ctx, conn, st, false);
}
