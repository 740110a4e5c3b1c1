/*
 * Ed25519 signing keys: one active key signs every access token; retired keys stay in the
 * JWKS until the last token they signed has expired. Secret keys are stored sealed with
 * libsodium's secretbox under MENTIS_AUTH_KEY_ENCRYPTION_KEY. The rotation thread that
 * replaces the active key is in keys_rotation.c.
 */
#include <pthread.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "auth.h"

#define BOX_LEN (crypto_secretbox_NONCEBYTES + crypto_secretbox_MACBYTES + 64)

/* MENTIS_JWT_MAX_KEYS as text for the query's LIMIT. */
#define MAX_KEYS_STR "16"
_Static_assert(MENTIS_JWT_MAX_KEYS == 16, "MAX_KEYS_STR must match MENTIS_JWT_MAX_KEYS");

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

/* Inserts a new active key (the caller has retired the old one, under the lock). */
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
    /* The wall clock, not the transaction's start: a replica that waited for the lock
     * must not date its key before the one it replaces. */
    return mentis_db_exec(conn,
                          "INSERT INTO auth.signing_keys (kid, public_key, secret_box, created_at) "
                          "VALUES ($1, $2::bytea, $3::bytea, clock_timestamp())",
                          3, params, NULL);
}

mentis_status_t mentis__auth_keys_lock(mentis_db_conn_t *conn)
{
    return mentis_db_exec(conn, "SELECT pg_advisory_xact_lock(hashtext('mentis.auth.signing_key'))",
                          0, NULL, NULL);
}

mentis_status_t mentis__auth_keys_rotate(mentis_db_conn_t *conn, const mentis_auth_t *app)
{
    mentis_status_t st = mentis_db_exec(
        conn, "UPDATE auth.signing_keys SET retired_at = clock_timestamp() WHERE retired_at IS NULL",
        0, NULL, NULL);
    if (st == MENTIS_OK)
        st = create_key(conn, app);
    /* Keys retired well before the last token they signed expired are of no use to anyone
     * (one more window as a margin for clocks and slow replicas). */
    char keep[32];
    snprintf(keep, sizeof keep, "%lld", (long long)(2 * app->key_keep_s));
    const char *params[] = {keep};
    if (st == MENTIS_OK)
        st = mentis_db_exec(conn,
                            "DELETE FROM auth.signing_keys WHERE retired_at < clock_timestamp() "
                            "- make_interval(secs => $1::int)",
                            1, params, NULL);
    return st;
}

mentis_status_t mentis__auth_keys_load(mentis_db_conn_t *conn, const mentis_auth_t *app,
                                       char kid[MENTIS_JWT_KID_SIZE], uint8_t sk[64])
{
    PGresult *res = NULL;
    mentis_status_t st = mentis_db_exec(conn,
                                        "SELECT kid, encode(secret_box, 'hex') "
                                        "FROM auth.signing_keys WHERE retired_at IS NULL",
                                        0, NULL, &res);
    if (st == MENTIS_OK && PQntuples(res) != 1)
        st = mentis_err_set(MENTIS_ERR_INTERNAL, NULL, "signing key: no active key");
    if (st == MENTIS_OK) {
        snprintf(kid, MENTIS_JWT_KID_SIZE, "%s", PQgetvalue(res, 0, 0));
        st = unseal(app, PQgetvalue(res, 0, 1), sk);
    }
    PQclear(res);
    return st;
}

void mentis__auth_keys_install(mentis_auth_t *app, const char *kid, const uint8_t sk[64])
{
    pthread_rwlock_wrlock(&app->key_lock);
    snprintf(app->kid, sizeof app->kid, "%s", kid);
    memcpy(app->sk, sk, sizeof app->sk);
    pthread_rwlock_unlock(&app->key_lock);
}

void mentis__auth_keys_current(mentis_auth_t *app, char kid[MENTIS_JWT_KID_SIZE])
{
    pthread_rwlock_rdlock(&app->key_lock);
    snprintf(kid, MENTIS_JWT_KID_SIZE, "%s", app->kid);
    pthread_rwlock_unlock(&app->key_lock);
}

mentis_status_t mentis__auth_keys_sign(mentis_auth_t *app, const mentis_jwt_claims_t *claims,
                                       char **token)
{
    /* Under the read lock, so a key swapped in by the rotation thread is never seen half
     * written: the kid always names the key that made the signature. */
    pthread_rwlock_rdlock(&app->key_lock);
    mentis_status_t st = mentis_jwt_sign(claims, app->kid, app->sk, token);
    pthread_rwlock_unlock(&app->key_lock);
    return st;
}

/* The key set `keys` serves: the active key first, then the keys retired within the
 * window (newest first); res has kid and the public key in hex. */
static mentis_status_t key_set_select(mentis_db_conn_t *conn, const mentis_auth_t *app,
                                      PGresult **res)
{
    char keep[32];
    snprintf(keep, sizeof keep, "%lld", (long long)app->key_keep_s);
    const char *params[] = {keep};
    /* Retired keys stay while a token they signed may still be valid. Rotation never lets
     * more than MENTIS_JWT_MAX_KEYS keys into the window, so the limit cuts nothing. */
    return mentis_db_exec(
        conn,
        "SELECT kid, encode(public_key, 'hex') FROM auth.signing_keys "
        "WHERE retired_at IS NULL "
        "OR retired_at > clock_timestamp() - make_interval(secs => $1::int) "
        "ORDER BY retired_at IS NOT NULL, created_at DESC LIMIT " MAX_KEYS_STR,
        1, params, res);
}

mentis_status_t mentis__auth_keys_event(mentis_db_conn_t *conn, const mentis_auth_t *app,
                                        uint8_t **buf, size_t *len)
{
    PGresult *res = NULL;
    mentis_status_t st = key_set_select(conn, app, &res);
    if (st != MENTIS_OK)
        return st;
    static char kty[] = "OKP", crv[] = "Ed25519", use[] = "sig", alg[] = "EdDSA";
    Mentis__V1__Auth__KeySetChanged ev;
    Mentis__V1__Auth__Jwk jwks[MENTIS_JWT_MAX_KEYS], *keys[MENTIS_JWT_MAX_KEYS];
    char x[MENTIS_JWT_MAX_KEYS][44];
    mentis__v1__auth__key_set_changed__init(&ev);
    int n = PQntuples(res);
    for (int i = 0; i < n && i < MENTIS_JWT_MAX_KEYS; i++) {
        uint8_t pk[32];
        if (mentis_crypto_unhex(PQgetvalue(res, i, 1), pk, sizeof pk, NULL) != MENTIS_OK) {
            st = mentis_err_set(MENTIS_ERR_INTERNAL, NULL, "signing key %s: bad public key",
                                PQgetvalue(res, i, 0));
            break;
        }
        mentis__v1__auth__jwk__init(&jwks[i]);
        mentis_crypto_base64url_encode(pk, sizeof pk, x[i], sizeof x[i]);
        jwks[i].kty = kty;
        jwks[i].crv = crv;
        jwks[i].x = x[i];
        jwks[i].kid = PQgetvalue(res, i, 0);
        jwks[i].use = use;
        jwks[i].alg = alg;
        keys[ev.n_keys++] = &jwks[i];
    }
    ev.keys = keys;
    if (st == MENTIS_OK) {
        *len = protobuf_c_message_get_packed_size(&ev.base);
        *buf = malloc(*len ? *len : 1);
        if (*buf == NULL)
            st = mentis_err_set(MENTIS_ERR_NO_MEMORY, NULL, "key set event: out of memory");
        else
            protobuf_c_message_pack(&ev.base, *buf);
    }
    PQclear(res);
    return st;
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
    uint8_t *event = NULL;
    size_t event_len = 0;
    char kid[MENTIS_JWT_KID_SIZE];
    uint8_t sk[64];
    st = mentis__auth_keys_lock(conn);
    if (st == MENTIS_OK)
        st = mentis_db_exec(conn, "SELECT 1 FROM auth.signing_keys WHERE retired_at IS NULL", 0,
                            NULL, &res);
    if (st == MENTIS_OK && PQntuples(res) == 0) {
        st = create_key(conn, app);
        created = st == MENTIS_OK;
    }
    PQclear(res);
    if (st == MENTIS_OK)
        st = mentis__auth_keys_load(conn, app, kid, sk);
    if (st == MENTIS_OK && created)
        st = mentis__auth_keys_event(conn, app, &event, &event_len);
    if (st == MENTIS_OK)
        st = mentis_db_tx_commit(conn);
    else
        mentis_db_tx_rollback(conn);
    mentis_db_release(db, conn);
    if (st == MENTIS_OK)
        mentis__auth_keys_install(app, kid, sk);
    sodium_memzero(sk, sizeof sk);
    if (st != MENTIS_OK) {
        free(event);
        return mentis_err_wrap(st, "signing key: ");
    }
    /* Gateways that already run learn of the new key at once. */
    if (event != NULL)
        (void)mentis_bus_publish(mentis_service_bus(svc), MENTIS_AUTH_KEYS_SUBJECT, NULL, NULL, 0,
                                 event, event_len);
    free(event);
    return mentis__auth_keys_rotation_start(svc, app);
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
    PGresult *res = NULL;
    st = key_set_select(conn, app, &res);
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
