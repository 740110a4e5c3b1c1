/* One-time tokens (email verification, password reset): made, checked and used once. */
#include <stdio.h>
#include <string.h>

#include "account.h"

/* Stored form: '\x' and the hex of the keyed hash (as refresh tokens are kept). */
static void ott_hash(const char *token, char out[67])
{
    uint8_t h[32];
    mentis_crypto_keyed_hash(mentis__auth_account()->token_hash_key, token, strlen(token), h);
    out[0] = '\\';
    out[1] = 'x';
    mentis_crypto_hex(h, sizeof h, out + 2);
}

mentis_status_t mentis__auth_ott_create(mentis_db_conn_t *conn, const char *tenant,
                                        const char *user_id, const char *purpose, const char *email,
                                        int64_t ttl_s, char token[MENTIS_AUTH_OTT_LEN + 1])
{
    mentis_status_t st = mentis_crypto_token(32, token, MENTIS_AUTH_OTT_LEN + 1);
    if (st != MENTIS_OK)
        return st;
    char id[37], hash[67], ttl[32];
    mentis_crypto_uuid_v7(id);
    ott_hash(token, hash);
    snprintf(ttl, sizeof ttl, "%lld", (long long)ttl_s);
    const char *p[] = {id, tenant, user_id, purpose, hash, email, ttl};
    return mentis_db_exec(conn,
                          "INSERT INTO auth.one_time_tokens (id, tenant_id, user_id, purpose, "
                          "token_hash, email, expires_at) VALUES ($1, $2, $3, $4, $5::bytea, $6, "
                          "now() + make_interval(secs => $7::bigint))",
                          7, p, NULL);
}

static mentis_status_t refuse_token(const char *code, const char *why)
{
    return mentis_err_set(MENTIS_ERR_INVALID_ARGUMENT, code, "%s", why);
}

/* Finds the token (locked when `lock`); writes its state or refuses. */
static mentis_status_t ott_find(mentis_db_conn_t *conn, const char *token, const char *purpose,
                                bool lock, char id[37], char user_id[37], char email[255])
{
    /* A malformed token cannot exist: same answer as an unknown one, no query needed. */
    if (token == NULL || strlen(token) != MENTIS_AUTH_OTT_LEN ||
        strspn(token, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_") !=
            MENTIS_AUTH_OTT_LEN)
        return refuse_token("invalid_token", "the link is not valid");
    char hash[67];
    ott_hash(token, hash);
    const char *p[] = {hash, purpose};
    PGresult *res = NULL;
    mentis_status_t st = mentis_db_exec(
        conn,
        lock ? "SELECT id, user_id, email, used_at IS NOT NULL, expires_at <= now() "
               "FROM auth.one_time_tokens WHERE token_hash = $1::bytea AND purpose = $2 FOR UPDATE"
             : "SELECT id, user_id, email, used_at IS NOT NULL, expires_at <= now() "
               "FROM auth.one_time_tokens WHERE token_hash = $1::bytea AND purpose = $2",
        2, p, &res);
    if (st != MENTIS_OK)
        return st;
    if (PQntuples(res) != 1) {
        st = refuse_token("invalid_token", "the link is not valid");
    } else if (PQgetvalue(res, 0, 3)[0] == 't') {
        st = refuse_token("token_used", "the link was already used");
    } else if (PQgetvalue(res, 0, 4)[0] == 't') {
        st = refuse_token("token_expired", "the link has expired: ask for a new one");
    } else {
        if (id != NULL)
            snprintf(id, 37, "%s", PQgetvalue(res, 0, 0));
        if (user_id != NULL)
            snprintf(user_id, 37, "%s", PQgetvalue(res, 0, 1));
        if (email != NULL)
            snprintf(email, 255, "%s", PQgetvalue(res, 0, 2));
    }
    PQclear(res);
    return st;
}

mentis_status_t mentis__auth_ott_check(mentis_db_conn_t *conn, const char *token,
                                       const char *purpose)
{
    return ott_find(conn, token, purpose, false, NULL, NULL, NULL);
}

mentis_status_t mentis__auth_ott_use(mentis_db_conn_t *conn, const char *token, const char *purpose,
                                     char user_id[37], char email[255])
{
    char id[37];
    /* FOR UPDATE: of two requests with one token, the second sees it used. */
    mentis_status_t st = ott_find(conn, token, purpose, true, id, user_id, email);
    if (st != MENTIS_OK)
        return st;
    const char *p[] = {id};
    return mentis_db_exec(conn, "UPDATE auth.one_time_tokens SET used_at = now() WHERE id = $1", 1,
                          p, NULL);
}
