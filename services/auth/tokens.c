/*
 * Access tokens (Ed25519 JWTs) and refresh tokens (opaque, rotated on every use).
 *
 * A refresh token is 256 random bits shown once; the table keeps its BLAKE2b hash keyed
 * with a key derived from MENTIS_AUTH_KEY_ENCRYPTION_KEY. Rotation marks the token used
 * and stores its successor: generation + 1 in the same family. The successor's plaintext
 * is derived from the used token (keyed BLAKE2b again), so a client that presents the
 * just-rotated token again within the grace window — two tabs refreshing at once, a reply
 * lost on a bad network — gets the same successor without anything secret being stored.
 * Past the window, reuse means the token was copied: the whole family and its session
 * are revoked.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "auth.h"

void mentis__auth_refresh_hash(const mentis_auth_t *app, const char *token, char out[67])
{
    uint8_t h[32];
    mentis_crypto_keyed_hash(app->refresh_hash_key, token, strlen(token), h);
    memcpy(out, "\\x", 2);
    mentis_crypto_hex(h, sizeof h, out + 2);
}

static void successor_of(const mentis_auth_t *app, const char *token,
                         char out[MENTIS_AUTH_REFRESH_LEN + 1])
{
    uint8_t h[32];
    mentis_crypto_keyed_hash(app->refresh_successor_key, token, strlen(token), h);
    mentis_crypto_base64url_encode(h, sizeof h, out, MENTIS_AUTH_REFRESH_LEN + 1);
}

static mentis_status_t insert_token(mentis_ctx_t *ctx, mentis_db_conn_t *conn, const char *tenant,
                                    const char *session_id, const char *user_id, const char *family,
                                    int generation, const char *parent_id, const char *token)
{
    mentis_auth_t *app = mentis__auth_app(ctx);
    char id[37], hash[67], gen[16], ttl[32];
    mentis_crypto_uuid_v7(id);
    mentis__auth_refresh_hash(app, token, hash);
    snprintf(gen, sizeof gen, "%d", generation);
    snprintf(ttl, sizeof ttl, "%lld", (long long)app->refresh_ttl_s);
    const char *params[] = {id, tenant, session_id, user_id, family, gen, parent_id, hash, ttl};
    return mentis_db_exec(
        conn,
        "INSERT INTO auth.refresh_tokens (id, tenant_id, session_id, user_id, family_id, "
        "generation, parent_id, token_hash, expires_at) VALUES ($1, $2, $3, $4, $5, "
        "$6::int, $7, $8::bytea, now() + make_interval(secs => $9::bigint))",
        9, params, NULL);
}

mentis_status_t mentis__auth_refresh_create(mentis_ctx_t *ctx, mentis_db_conn_t *conn,
                                            const char *tenant, const char *session_id,
                                            const char *user_id,
                                            char token[MENTIS_AUTH_REFRESH_LEN + 1])
{
    char family[37];
    mentis_crypto_uuid_v7(family);
    mentis_status_t st =
        mentis_crypto_token(MENTIS_AUTH_REFRESH_BYTES, token, MENTIS_AUTH_REFRESH_LEN + 1);
    if (st != MENTIS_OK)
        return st;
    return insert_token(ctx, conn, tenant, session_id, user_id, family, 0, NULL, token);
}

mentis_status_t mentis__auth_access_token(mentis_ctx_t *ctx, const char *user_id,
                                          const char *tenant, const char *session_id,
                                          const char *role, const char *email,
                                          const char *device_id, char **out)
{
    mentis_auth_t *app = mentis__auth_app(ctx);
    mentis_jwt_claims_t c;
    memset(&c, 0, sizeof c);
    snprintf(c.sub, sizeof c.sub, "%s", user_id);
    snprintf(c.tid, sizeof c.tid, "%s", tenant);
    snprintf(c.sid, sizeof c.sid, "%s", session_id);
    mentis_crypto_uuid_v7(c.jti);
    snprintf(c.device_id, sizeof c.device_id, "%s", device_id ? device_id : "");
    snprintf(c.email, sizeof c.email, "%s", email ? email : "");
    snprintf(c.iss, sizeof c.iss, "%s", app->issuer);
    snprintf(c.aud, sizeof c.aud, "%s", app->audience);
    if (!mentis_jwt_role_parse(role, &c.role))
        return mentis_err_set(MENTIS_ERR_INTERNAL, NULL, "user %s has an unknown role", user_id);
    c.iat = mentis__auth_now();
    c.exp = c.iat + app->access_ttl_s;
    char *token = NULL;
    mentis_status_t st = mentis__auth_keys_sign(app, &c, &token);
    if (st != MENTIS_OK)
        return mentis_err_wrap(st, "signing an access token: ");
    *out = mentis_pool_strdup(mentis_ctx_pool(ctx), token);
    free(token);
    return *out ? MENTIS_OK
                : mentis_err_set(MENTIS_ERR_NO_MEMORY, NULL, "access token: out of memory");
}

Mentis__V1__Auth__Tokens *mentis__auth_tokens(mentis_ctx_t *ctx, char *access, const char *refresh)
{
    mentis_pool_t *pool = mentis_ctx_pool(ctx);
    Mentis__V1__Auth__Tokens *t = mentis_pool_calloc(pool, 1, sizeof *t);
    if (t == NULL)
        return NULL;
    mentis__v1__auth__tokens__init(t);
    t->access_token = access;
    t->refresh_token = mentis_pool_strdup(pool, refresh);
    t->token_type = mentis_pool_strdup(pool, "Bearer");
    t->expires_in = mentis__auth_app(ctx)->access_ttl_s;
    return t;
}

/* Revokes a family and its session after reuse; the caller commits and answers 401. */
static mentis_status_t revoke_family(mentis_ctx_t *ctx, mentis_db_conn_t *conn, const char *tenant,
                                     const char *family, const char *session_id,
                                     const char *user_id)
{
    const char *p1[] = {family};
    mentis_status_t st = mentis_db_exec(conn,
                                        "UPDATE auth.refresh_tokens SET revoked_at = now() "
                                        "WHERE family_id = $1 AND revoked_at IS NULL",
                                        1, p1, NULL);
    const char *p2[] = {session_id};
    if (st == MENTIS_OK)
        st = mentis_db_exec(
            conn,
            "UPDATE auth.sessions SET revoked_at = now(), revoked_reason = 'token_reused' "
            "WHERE id = $1 AND revoked_at IS NULL",
            1, p2, NULL);
    if (st == MENTIS_OK) {
        char detail[128];
        snprintf(detail, sizeof detail, "{\"family_id\":\"%s\",\"session_id\":\"%s\"}", family,
                 session_id);
        st = mentis__auth_audit(ctx, conn, tenant, user_id, "token_reused", detail);
    }
    return st;
}

enum { T_ID, T_SESSION, T_USER, T_FAMILY, T_GEN, T_EXPIRED, T_USED, T_IN_GRACE, T_REVOKED };

mentis_status_t mentis__auth_op_refresh(mentis_ctx_t *ctx, const ProtobufCMessage *req,
                                        ProtobufCMessage *resp)
{
    const Mentis__V1__Auth__RefreshRequest *in = (const Mentis__V1__Auth__RefreshRequest *)req;
    Mentis__V1__Auth__RefreshResponse *out = (Mentis__V1__Auth__RefreshResponse *)resp;
    mentis_auth_t *app = mentis__auth_app(ctx);
    if (in->refresh_token == NULL || strlen(in->refresh_token) != MENTIS_AUTH_REFRESH_LEN)
        return mentis_err_set(MENTIS_ERR_UNAUTHENTICATED, "token_invalid",
                              "refresh token is malformed");
    const char *tenant = mentis__auth_public_tenant(ctx);
    mentis_db_conn_t *conn = NULL;
    mentis_status_t st = mentis__auth_tx_begin(ctx, tenant, &conn);
    if (st != MENTIS_OK)
        return st;

    bool keep = false, reused = false;
    char hash[67], grace[32], next[MENTIS_AUTH_REFRESH_LEN + 1];
    char session_id[37] = "", user_id[37] = "", family[37] = "", token_id[37] = "";
    mentis__auth_refresh_hash(app, in->refresh_token, hash);
    snprintf(grace, sizeof grace, "%lld", (long long)app->refresh_grace_s);
    PGresult *res = NULL, *sres = NULL;
    const char *p[] = {hash, grace};
    /* FOR UPDATE: concurrent refreshes of one token take turns, and the second sees the
     * first's rotation (and so lands in the grace window). */
    st = mentis_db_exec(
        conn,
        "SELECT id, session_id, user_id, family_id, generation, expires_at <= now(), "
        "used_at IS NOT NULL, used_at > now() - make_interval(secs => $2::int), "
        "revoked_at IS NOT NULL FROM auth.refresh_tokens WHERE token_hash = $1::bytea "
        "FOR UPDATE",
        2, p, &res);
    if (st != MENTIS_OK)
        goto out;
    if (PQntuples(res) != 1) {
        st = mentis_err_set(MENTIS_ERR_UNAUTHENTICATED, "token_invalid", "refresh token unknown");
        goto out;
    }
    snprintf(token_id, sizeof token_id, "%s", PQgetvalue(res, 0, T_ID));
    snprintf(session_id, sizeof session_id, "%s", PQgetvalue(res, 0, T_SESSION));
    snprintf(user_id, sizeof user_id, "%s", PQgetvalue(res, 0, T_USER));
    snprintf(family, sizeof family, "%s", PQgetvalue(res, 0, T_FAMILY));
    int generation = (int)strtol(PQgetvalue(res, 0, T_GEN), NULL, 10);
    bool used = PQgetvalue(res, 0, T_USED)[0] == 't';
    if (PQgetvalue(res, 0, T_REVOKED)[0] == 't') {
        st = mentis_err_set(MENTIS_ERR_UNAUTHENTICATED, "token_invalid", "refresh token revoked");
        goto out;
    }
    if (PQgetvalue(res, 0, T_EXPIRED)[0] == 't') {
        st = mentis_err_set(MENTIS_ERR_UNAUTHENTICATED, "token_expired", "refresh token expired");
        goto out;
    }
    successor_of(app, in->refresh_token, next);
    if (used) {
        /* Within the grace window the successor is handed out again, provided it has not
         * itself been used or revoked meanwhile. */
        bool in_grace = PQgetvalue(res, 0, T_IN_GRACE)[0] == 't';
        if (in_grace) {
            char next_hash[67];
            mentis__auth_refresh_hash(app, next, next_hash);
            const char *pn[] = {next_hash};
            PGresult *nres = NULL;
            st = mentis_db_exec(conn,
                                "SELECT 1 FROM auth.refresh_tokens WHERE token_hash = $1::bytea "
                                "AND used_at IS NULL AND revoked_at IS NULL AND expires_at > now()",
                                1, pn, &nres);
            if (st != MENTIS_OK)
                goto out;
            in_grace = PQntuples(nres) == 1;
            PQclear(nres);
        }
        if (!in_grace) {
            reused = true;
            st = revoke_family(ctx, conn, tenant, family, session_id, user_id);
            if (st == MENTIS_OK) {
                keep = true;
                st = mentis_err_set(MENTIS_ERR_UNAUTHENTICATED, "token_reused",
                                    "refresh token of family %s reused: family revoked", family);
            }
            goto out;
        }
    }

    /* The session and its user must still be good. */
    const char *ps[] = {session_id};
    st = mentis_db_exec(
        conn,
        "SELECT s.revoked_at IS NULL AND s.expires_at > now(), u.is_active, u.role, u.email, "
        "coalesce(s.device_id::text, '') FROM auth.sessions s JOIN auth.users u "
        "ON u.id = s.user_id WHERE s.id = $1",
        1, ps, &sres);
    if (st != MENTIS_OK)
        goto out;
    if (PQntuples(sres) != 1 || PQgetvalue(sres, 0, 0)[0] != 't') {
        st = mentis_err_set(MENTIS_ERR_UNAUTHENTICATED, "token_invalid", "session %s has ended",
                            session_id);
        goto out;
    }
    if (PQgetvalue(sres, 0, 1)[0] != 't') {
        st =
            mentis_err_set(MENTIS_ERR_PERMISSION_DENIED, "account_inactive", "account is inactive");
        goto out;
    }
    if (!used) {
        const char *pu[] = {token_id};
        st = mentis_db_exec(conn, "UPDATE auth.refresh_tokens SET used_at = now() WHERE id = $1", 1,
                            pu, NULL);
        if (st == MENTIS_OK)
            st = insert_token(ctx, conn, tenant, session_id, user_id, family, generation + 1,
                              token_id, next);
        if (st == MENTIS_OK) {
            char ttl[32];
            snprintf(ttl, sizeof ttl, "%lld", (long long)app->refresh_ttl_s);
            const char *px[] = {session_id, ttl};
            st = mentis_db_exec(
                conn,
                "UPDATE auth.sessions SET last_activity_at = now(), "
                "expires_at = now() + make_interval(secs => $2::bigint) WHERE id = $1",
                2, px, NULL);
        }
        if (st != MENTIS_OK)
            goto out;
    }
    char *access = NULL;
    st = mentis__auth_access_token(ctx, user_id, tenant, session_id, PQgetvalue(sres, 0, 2),
                                   PQgetvalue(sres, 0, 3), PQgetvalue(sres, 0, 4), &access);
    if (st == MENTIS_OK && (out->tokens = mentis__auth_tokens(ctx, access, next)) == NULL)
        st = mentis_err_set(MENTIS_ERR_NO_MEMORY, NULL, "refresh: out of memory");
out:
    PQclear(res);
    PQclear(sres);
    st = mentis__auth_tx_end(ctx, conn, st, keep);
    if (reused && keep) {
        const char *ids[] = {session_id};
        mentis__auth_publish_revoked(ctx, tenant, user_id, ids, 1, false, "token_reused");
        mentis_err_set(MENTIS_ERR_UNAUTHENTICATED, "token_reused",
                       "refresh token of family %s reused: family revoked", family);
    }
    return st;
}
