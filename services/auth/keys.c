/*
 * Ed25519 signing keys: one active key signs every access token; retired keys stay in the
 * JWKS until the last token they signed has expired. Secret keys are stored sealed with
 * libsodium's secretbox under MENTIS_AUTH_KEY_ENCRYPTION_KEY.
 */
#include <sodium.h>
#include <stdio.h>
#include <string.h>

#include "auth.h"

#define BOX_LEN (crypto_secretbox_NONCEBYTES + crypto_secretbox_MACBYTES + 64)

static mentis_status_t unseal(const mentis_auth_t *app, const char *box_hex, uint8_t sk[64])
{
    uint8_t box[BOX_LEN];
    size_t n = 0;
    if (mentis_crypto_unhex(box_hex, box, sizeof box, &n) != MENTIS_OK || n != BOX_LEN)
        return mentis_err_set(MENTIS_ERR_INTERNAL, NULL, "signing key: stored box has a bad size");
    if (crypto_secretbox_open_easy(sk, box + crypto_secretbox_NONCEBYTES,
                                   n - crypto_secretbox_NONCEBYTES, box, app->kek) != 0)
        return mentis_err_set(MENTIS_ERR_INTERNAL, NULL,
                              "signing key: cannot open it with MENTIS_AUTH_KEY_ENCRYPTION_KEY "
                              "(is it the key the keys were sealed with?)");
    return MENTIS_OK;
}

static mentis_status_t create_key(mentis_db_conn_t *conn, const mentis_auth_t *app)
{
    uint8_t pk[32], sk[64], box[BOX_LEN], digest[32];
    mentis_crypto_sign_keypair(pk, sk);
    mentis_crypto_random(box, crypto_secretbox_NONCEBYTES);
    crypto_secretbox_easy(box + crypto_secretbox_NONCEBYTES, sk, sizeof sk, box, app->kek);
    sodium_memzero(sk, sizeof sk);
    /* kid: the first 12 bytes of the public key's hash, base64url (16 characters). */
    char kid[17], pk_hex[2 * 32 + 3], box_hex[2 * BOX_LEN + 3];
    mentis_crypto_hash(pk, sizeof pk, digest);
    mentis_crypto_base64url_encode(digest, 12, kid, sizeof kid);
    memcpy(pk_hex, "\\x", 2);
    mentis_crypto_hex(pk, sizeof pk, pk_hex + 2);
    memcpy(box_hex, "\\x", 2);
    mentis_crypto_hex(box, sizeof box, box_hex + 2);
    const char *params[] = {kid, pk_hex, box_hex};
    return mentis_db_exec(conn,
                          "INSERT INTO auth.signing_keys (kid, public_key, secret_box) "
                          "VALUES ($1, $2::bytea, $3::bytea)",
                          3, params, NULL);
}

mentis_status_t mentis__auth_keys_start(mentis_service_t *svc, mentis_auth_t *app)
{
    mentis_db_t *db = mentis_service_db(svc);
    mentis_db_conn_t *conn = NULL;
    int64_t deadline = mentis__auth_now() * 1000 + 30000;
    mentis_status_t st = mentis_db_acquire(db, deadline, &conn);
    if (st != MENTIS_OK)
        return mentis_err_wrap(st, "signing key: ");
    if ((st = mentis_db_tx_begin(conn, NULL)) != MENTIS_OK) {
        mentis_db_release(db, conn);
        return mentis_err_wrap(st, "signing key: ");
    }
    PGresult *res = NULL;
    bool created = false;
    const char *select = "SELECT kid, encode(secret_box, 'hex') FROM auth.signing_keys "
                         "WHERE retired_at IS NULL";
    st = mentis_db_exec(conn, "SELECT pg_advisory_xact_lock(hashtext('mentis.auth.signing_key'))",
                        0, NULL, NULL);
    if (st == MENTIS_OK)
        st = mentis_db_exec(conn, select, 0, NULL, &res);
    if (st == MENTIS_OK && PQntuples(res) == 0) {
        PQclear(res);
        res = NULL;
        st = create_key(conn, app);
        created = st == MENTIS_OK;
        if (st == MENTIS_OK)
            st = mentis_db_exec(conn, select, 0, NULL, &res);
    }
    if (st == MENTIS_OK && PQntuples(res) != 1)
        st = mentis_err_set(MENTIS_ERR_INTERNAL, NULL,
                            "signing key: no active key after creating one");
    if (st == MENTIS_OK) {
        snprintf(app->kid, sizeof app->kid, "%s", PQgetvalue(res, 0, 0));
        st = unseal(app, PQgetvalue(res, 0, 1), app->sk);
    }
    PQclear(res);
    if (st == MENTIS_OK)
        st = mentis_db_tx_commit(conn);
    else
        mentis_db_tx_rollback(conn);
    mentis_db_release(db, conn);
    if (st != MENTIS_OK)
        return mentis_err_wrap(st, "signing key: ");
    if (created) {
        /* Gateways that already run learn of the new key at once. */
        Mentis__V1__Auth__KeySetChanged ev;
        Mentis__V1__Auth__Jwk jwk, *keys[] = {&jwk};
        mentis__v1__auth__key_set_changed__init(&ev);
        mentis__v1__auth__jwk__init(&jwk);
        uint8_t pk[32];
        char x[44];
        crypto_sign_ed25519_sk_to_pk(pk, app->sk);
        mentis_crypto_base64url_encode(pk, sizeof pk, x, sizeof x);
        static char kty[] = "OKP", crv[] = "Ed25519", use[] = "sig", alg[] = "EdDSA";
        jwk.kty = kty;
        jwk.crv = crv;
        jwk.x = x;
        jwk.kid = app->kid;
        jwk.use = use;
        jwk.alg = alg;
        ev.n_keys = 1;
        ev.keys = keys;
        uint8_t buf[512];
        size_t n = protobuf_c_message_pack(&ev.base, buf);
        (void)mentis_bus_publish(mentis_service_bus(svc), "mentis.v1.evt.auth.keys", NULL, NULL, 0,
                                 buf, n);
    }
    return MENTIS_OK;
}

mentis_status_t mentis__auth_op_keys(mentis_ctx_t *ctx, const ProtobufCMessage *req,
                                     ProtobufCMessage *resp)
{
    (void)req;
    mentis_auth_t *app = mentis__auth_app(ctx);
    Mentis__V1__Auth__JwksResponse *r = (Mentis__V1__Auth__JwksResponse *)resp;
    mentis_pool_t *pool = mentis_ctx_pool(ctx);
    mentis_db_conn_t *conn = NULL;
    mentis_status_t st = mentis__auth_tx_begin(ctx, NULL, &conn);
    if (st != MENTIS_OK)
        return st;
    char ttl[32];
    snprintf(ttl, sizeof ttl, "%lld", (long long)app->access_ttl_s);
    PGresult *res = NULL;
    const char *params[] = {ttl};
    /* Retired keys stay while a token they signed may still be valid. */
    st = mentis_db_exec(
        conn,
        "SELECT kid, encode(public_key, 'hex') FROM auth.signing_keys "
        "WHERE retired_at IS NULL OR retired_at > now() - make_interval(secs => $1::int) "
        "ORDER BY retired_at IS NOT NULL, created_at DESC LIMIT 16",
        1, params, &res);
    if (st == MENTIS_OK) {
        int n = PQntuples(res);
        r->keys = mentis_pool_calloc(pool, (size_t)n + 1, sizeof *r->keys);
        for (int i = 0; r->keys != NULL && i < n; i++) {
            Mentis__V1__Auth__Jwk *k = mentis_pool_calloc(pool, 1, sizeof *k);
            uint8_t pk[32];
            char x[44];
            if (k == NULL ||
                mentis_crypto_unhex(PQgetvalue(res, i, 1), pk, sizeof pk, NULL) != MENTIS_OK) {
                st = mentis_err_set(MENTIS_ERR_INTERNAL, NULL, "signing key %s: bad public key",
                                    PQgetvalue(res, i, 0));
                break;
            }
            mentis__v1__auth__jwk__init(k);
            mentis_crypto_base64url_encode(pk, sizeof pk, x, sizeof x);
            k->kty = mentis_pool_strdup(pool, "OKP");
            k->crv = mentis_pool_strdup(pool, "Ed25519");
            k->x = mentis_pool_strdup(pool, x);
            k->kid = mentis_pool_strdup(pool, PQgetvalue(res, i, 0));
            k->use = mentis_pool_strdup(pool, "sig");
            k->alg = mentis_pool_strdup(pool, "EdDSA");
            r->keys[r->n_keys++] = k;
        }
        if (r->keys == NULL)
            st = mentis_err_set(MENTIS_ERR_NO_MEMORY, NULL, "keys: out of memory");
    }
    PQclear(res);
    return mentis__auth_tx_end(ctx, conn, st, false);
}
