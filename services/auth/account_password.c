/* Passwords of an account: change (signed in), forgot and reset (by mail). */
#include <sodium.h>
#include <stdio.h>
#include <string.h>

#include "account.h"

mentis_status_t mentis__auth_op_password_change(mentis_ctx_t *ctx, const ProtobufCMessage *req,
                                                ProtobufCMessage *resp)
{
    (void)resp;
    const Mentis__V1__Auth__ChangePasswordRequest *in =
        (const Mentis__V1__Auth__ChangePasswordRequest *)req;
    mentis_auth_t *app = mentis__auth_app(ctx);
    const char *user_id = NULL, *tenant = NULL;
    mentis_status_t st = mentis__auth_account_caller(ctx, &user_id, &tenant);
    if (st != MENTIS_OK)
        return st;
    const char *current = in->current_password ? in->current_password : "";
    if (current[0] == '\0') {
        mentis_ctx_field_error(ctx, "current_password", "is required");
        return mentis_err_set(MENTIS_ERR_INVALID_ARGUMENT, NULL, "password.change: invalid fields");
    }
    if (!mentis__auth_password_valid(ctx, "new_password", in->new_password))
        return mentis_err_set(MENTIS_ERR_INVALID_ARGUMENT, "weak_password",
                              "new_password: 8 to 128 characters, not a common password");

    /* The stored hash in a short read: the Argon2 runs hold no connection. */
    mentis_db_conn_t *conn = NULL;
    if ((st = mentis__auth_tx_begin(ctx, tenant, &conn)) != MENTIS_OK)
        return st;
    const char *p[] = {user_id};
    PGresult *res = NULL;
    st = mentis_db_exec(conn, "SELECT password_hash FROM auth.users WHERE id = $1 AND is_active", 1,
                        p, &res);
    st = mentis__auth_tx_end(ctx, conn, st, false);
    if (st == MENTIS_OK && PQntuples(res) != 1)
        st = mentis_err_set(MENTIS_ERR_NOT_FOUND, NULL, "user %s not found", user_id);
    char stored[MENTIS_CRYPTO_PWHASH_STRBYTES] = "";
    if (st == MENTIS_OK)
        snprintf(stored, sizeof stored, "%s", PQgetvalue(res, 0, 0));
    PQclear(res);
    if (st != MENTIS_OK)
        return st;
    if (strlen(current) > 1024 || !mentis_crypto_password_verify(stored, current)) {
        if ((st = mentis__auth_tx_begin(ctx, tenant, &conn)) != MENTIS_OK)
            return st;
        st = mentis__auth_audit(ctx, conn, tenant, user_id, "password_change_failed", NULL);
        if ((st = mentis__auth_tx_end(ctx, conn, st, false)) != MENTIS_OK)
            return st;
        mentis_ctx_field_error(ctx, "current_password", "is wrong");
        return mentis_err_set(MENTIS_ERR_UNAUTHENTICATED, "invalid_credentials",
                              "the current password is wrong");
    }
    char hash[MENTIS_CRYPTO_PWHASH_STRBYTES];
    if ((st = mentis__auth_password_hash(app, in->new_password, hash)) != MENTIS_OK)
        return st;

    if ((st = mentis__auth_tx_begin(ctx, tenant, &conn)) != MENTIS_OK)
        return st;
    /* Only if the password is still the one checked: a concurrent change wins once. */
    const char *u[] = {user_id, hash, stored};
    res = NULL;
    st = mentis_db_exec(conn,
                        "UPDATE auth.users SET password_hash = $2, updated_at = now() "
                        "WHERE id = $1 AND is_active AND password_hash = $3 RETURNING id",
                        3, u, &res);
    if (st == MENTIS_OK && PQntuples(res) != 1)
        st = mentis_err_set(MENTIS_ERR_CONFLICT, NULL, "the password changed meanwhile: try again");
    PQclear(res);
    /* Every other session ends: whoever else knew the old password is signed out. */
    const char *session = mentis_ctx_header(ctx, MENTIS_HDR_SESSION);
    char **ids = NULL;
    size_t n = 0;
    if (st == MENTIS_OK)
        st = mentis__auth_sessions_revoke_where(ctx, conn, user_id, "s.id::text <> $2", session,
                                                "password_changed", &ids, &n);
    /* Reset links sent before the change die with the old password. */
    if (st == MENTIS_OK)
        st = mentis_db_exec(conn,
                            "UPDATE auth.one_time_tokens SET used_at = now() WHERE user_id = $1 "
                            "AND purpose = 'password_reset' AND used_at IS NULL",
                            1, p, NULL);
    if (st == MENTIS_OK)
        st = mentis__auth_audit(ctx, conn, tenant, user_id, "password_changed", NULL);
    st = mentis__auth_tx_end(ctx, conn, st, false);
    if (st == MENTIS_OK && n > 0)
        mentis__auth_publish_revoked(ctx, tenant, user_id, (const char *const *)ids, n, false,
                                     "password_changed");
    return st;
}

/* The address of a forgot or resend request: 400 only when it cannot be an address at all
 * (which tells nothing about accounts). */
static mentis_status_t mail_request(mentis_ctx_t *ctx, const char *given, const char *kind)
{
    char *email = mentis__auth_email_normalise(mentis_ctx_pool(ctx), given);
    if (email == NULL)
        return mentis_err_set(MENTIS_ERR_NO_MEMORY, NULL, "out of memory");
    if (!mentis__auth_email_valid(email)) {
        mentis_ctx_field_error(ctx, "email", "must be an email address");
        return mentis_err_set(MENTIS_ERR_INVALID_ARGUMENT, NULL, "invalid fields");
    }
    /*
     * One insert, the same whether or not an account has this address: the answer and its
     * timing cannot tell. The sender thread looks the account up, and sends nothing when
     * there is none.
     */
    const char *tenant = mentis__auth_public_tenant(ctx);
    mentis_db_conn_t *conn = NULL;
    mentis_status_t st = mentis__auth_tx_begin(ctx, tenant, &conn);
    if (st != MENTIS_OK)
        return st;
    st = mentis__auth_mail_enqueue(conn, tenant, kind, email, NULL);
    if (st == MENTIS_ERR_INVALID_ARGUMENT || st == MENTIS_ERR_CONFLICT)
        st = mentis_err_set(MENTIS_ERR_INVALID_ARGUMENT, "invalid_tenant", "unknown tenant %s",
                            tenant);
    st = mentis__auth_tx_end(ctx, conn, st, false);
    if (st == MENTIS_OK)
        mentis__auth_mail_wake();
    return st;
}

mentis_status_t mentis__auth_op_password_forgot(mentis_ctx_t *ctx, const ProtobufCMessage *req,
                                                ProtobufCMessage *resp)
{
    (void)resp;
    const Mentis__V1__Auth__ForgotPasswordRequest *in =
        (const Mentis__V1__Auth__ForgotPasswordRequest *)req;
    return mail_request(ctx, in->email, "password_reset");
}

mentis_status_t mentis__auth_op_email_resend(mentis_ctx_t *ctx, const ProtobufCMessage *req,
                                             ProtobufCMessage *resp)
{
    (void)resp;
    const Mentis__V1__Auth__ResendVerificationRequest *in =
        (const Mentis__V1__Auth__ResendVerificationRequest *)req;
    return mail_request(ctx, in->email, "verify_email");
}

mentis_status_t mentis__auth_op_password_reset(mentis_ctx_t *ctx, const ProtobufCMessage *req,
                                               ProtobufCMessage *resp)
{
    (void)resp;
    const Mentis__V1__Auth__ResetPasswordRequest *in =
        (const Mentis__V1__Auth__ResetPasswordRequest *)req;
    mentis_auth_t *app = mentis__auth_app(ctx);
    const char *tenant = mentis__auth_public_tenant(ctx);
    if (!mentis__auth_password_valid(ctx, "new_password", in->new_password))
        return mentis_err_set(MENTIS_ERR_INVALID_ARGUMENT, "weak_password",
                              "new_password: 8 to 128 characters, not a common password");
    /* The token first (cheap), so a bad link costs no Argon2 run. */
    mentis_db_conn_t *conn = NULL;
    mentis_status_t st = mentis__auth_tx_begin(ctx, tenant, &conn);
    if (st != MENTIS_OK)
        return st;
    st = mentis__auth_ott_check(conn, in->token, "password_reset");
    if ((st = mentis__auth_tx_end(ctx, conn, st, false)) != MENTIS_OK)
        return st;
    char hash[MENTIS_CRYPTO_PWHASH_STRBYTES];
    if ((st = mentis__auth_password_hash(app, in->new_password, hash)) != MENTIS_OK)
        return st;

    if ((st = mentis__auth_tx_begin(ctx, tenant, &conn)) != MENTIS_OK)
        return st;
    char user_id[37] = "", email[255] = "";
    st = mentis__auth_ott_use(conn, in->token, "password_reset", user_id, email);
    /* The new password; the mailbox was reached, so the address is verified, and the
     * reset lifts a lock from failed logins. */
    const char *p[] = {user_id, hash};
    PGresult *res = NULL;
    if (st == MENTIS_OK)
        st = mentis_db_exec(conn,
                            "UPDATE auth.users SET password_hash = $2, updated_at = now(), "
                            "email_verified = true, failed_login_count = 0, locked_until = NULL "
                            "WHERE id = $1 AND is_active RETURNING id",
                            2, p, &res);
    if (st == MENTIS_OK && PQntuples(res) != 1)
        st = mentis_err_set(MENTIS_ERR_INVALID_ARGUMENT, "invalid_token", "the link is not valid");
    PQclear(res);
    char **ids = NULL;
    size_t n = 0;
    if (st == MENTIS_OK)
        st = mentis__auth_sessions_revoke_where(ctx, conn, user_id, "true", "", "password_reset",
                                                &ids, &n);
    if (st == MENTIS_OK)
        st = mentis_db_exec(conn,
                            "UPDATE auth.one_time_tokens SET used_at = now() WHERE user_id = $1 "
                            "AND purpose = 'password_reset' AND used_at IS NULL",
                            1, p, NULL);
    if (st == MENTIS_OK)
        st = mentis__auth_audit(ctx, conn, tenant, user_id, "password_reset", NULL);
    sodium_memzero(hash, sizeof hash);
    st = mentis__auth_tx_end(ctx, conn, st, false);
    if (st == MENTIS_OK)
        mentis__auth_publish_revoked(ctx, tenant, user_id, (const char *const *)ids, n, true,
                                     "password_reset");
    return st;
}
