/*
 * mentis-auth internals shared by its files: the process state, the transaction helper
 * for operations that choose their tenant themselves, and the pieces that register,
 * login, refresh and logout share (sessions, tokens, keys, passwords, audit).
 *
 * Files: main.c (the operation table and settings), tx.c (transactions and tenants),
 * passwords.c, keys.c (signing keys, JWKS), keys_rotation.c (the thread that rotates them),
 * tokens.c (access and refresh tokens, refresh), sessions.c (login, logout), users.c
 * (register, me), audit.c; the administration in admin_*.c and beta.c (see admin.h), the
 * own account in account_*.c (see account.h).
 */
#ifndef MENTIS_AUTH_INTERNAL_H
#define MENTIS_AUTH_INTERNAL_H

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>

#include "mentis/crypto.h"
#include "mentis/jwt.h"
#include "mentis/service.h"
#include "mentis/v1/auth.pb-c.h"

/* The tenant of public requests that name none (seeded by migration 0002). */
#define MENTIS_AUTH_DEFAULT_TENANT "00000000-0000-7000-8000-000000000001"

/* Headers the gateway adds for the audit log and the session list (optional). */
#define MENTIS_AUTH_HDR_CLIENT_IP  "Mentis-Client-Ip"
#define MENTIS_AUTH_HDR_USER_AGENT "Mentis-User-Agent"
/* The caller's email (from the access token, or the access proxy's for its admins). */
#define MENTIS_AUTH_HDR_EMAIL      "Mentis-Email"

/* Refresh tokens: 32 random bytes, base64url without padding (43 characters). */
#define MENTIS_AUTH_REFRESH_BYTES 32
#define MENTIS_AUTH_REFRESH_LEN   43

/* KeySetChanged: the whole current key set, published whenever it changes. */
#define MENTIS_AUTH_KEYS_SUBJECT "mentis.v1.evt.auth.keys"

/*
 * The process state, set by configure and start and read-only afterwards: workers read
 * it without a lock — except the signing key, which the rotation thread swaps under
 * key_lock (use mentis__auth_keys_sign).
 */
typedef struct {
    /* settings */
    const char *default_tenant;
    const char *issuer;
    const char *audience;
    int64_t access_ttl_s;
    int64_t refresh_ttl_s;
    int64_t refresh_grace_s;
    int64_t key_rotation_s; /* the active key's age after which it is replaced */
    int64_t key_check_ms;   /* how often the rotation thread looks: min(rotation / 4, 60 s) */
    /* how long a retired key stays in the key set: one access-token lifetime, plus the time
     * another replica may go on signing with it before it notices the rotation */
    int64_t key_keep_s;
    unsigned long long pwhash_opslimit;
    size_t pwhash_memlimit;
    uint8_t kek[32]; /* seals signing keys at rest */
    bool kek_is_development;

    /* derived from kek (BLAKE2b keyed with it, one context string each) */
    uint8_t refresh_hash_key[32];      /* what refresh tokens are stored as */
    uint8_t refresh_successor_key[32]; /* derives a token's successor (grace window) */
    uint8_t beta_hash_key[32];         /* what beta tokens are stored as */

    /* the first platform admin, created at start when the default tenant has no admin
     * (NULL: none asked for) */
    const char *bootstrap_email;
    const char *bootstrap_password;

    /* set by start */
    char dummy_hash[MENTIS_CRYPTO_PWHASH_STRBYTES]; /* verified for unknown emails */

    /* the active signing key: set by start, swapped by the rotation thread */
    pthread_rwlock_t key_lock;
    char kid[MENTIS_JWT_KID_SIZE];
    uint8_t sk[64];
} mentis_auth_t;

static inline mentis_auth_t *mentis__auth_app(const mentis_ctx_t *ctx)
{
    return (mentis_auth_t *)mentis_ctx_app(ctx);
}

/* ---- tx.c ---- */

/* The tenant of a public operation: Mentis-Tenant when the gateway sent one, else the
 * configured default. Valid while the message is handled. */
const char *mentis__auth_public_tenant(const mentis_ctx_t *ctx);

/* Acquires a connection by the request's deadline and begins a transaction scoped to
 * `tenant` (NULL: none). *out only on success. */
mentis_status_t mentis__auth_tx_begin(mentis_ctx_t *ctx, const char *tenant,
                                      mentis_db_conn_t **out);

/*
 * Ends what mentis__auth_tx_begin began: commits when st is MENTIS_OK or `keep` is set
 * (a refusal whose writes must stay, e.g. a revoked family), rolls back otherwise, and
 * releases the connection. Returns st, or the commit's error when st was MENTIS_OK.
 * The error context of a refusal survives the commit.
 */
mentis_status_t mentis__auth_tx_end(mentis_ctx_t *ctx, mentis_db_conn_t *conn, mentis_status_t st,
                                    bool keep);

/* Seconds since the Unix epoch. */
int64_t mentis__auth_now(void);

/* A Timestamp in the pool from milliseconds since the epoch. */
Mentis__V1__Timestamp *mentis__auth_timestamp(mentis_pool_t *pool, int64_t ms);

/* Publishes `msg` on `subject` at once (not tied to the handler's outcome). */
void mentis__auth_publish(mentis_ctx_t *ctx, const char *subject, const ProtobufCMessage *msg);

/* ---- passwords.c ---- */

/* Adds a field error and returns false when the password breaks the policy (8–128). */
bool mentis__auth_password_valid(mentis_ctx_t *ctx, const char *field, const char *password);

/* Argon2id with the configured limits. */
mentis_status_t mentis__auth_password_hash(const mentis_auth_t *app, const char *password,
                                           char out[MENTIS_CRYPTO_PWHASH_STRBYTES]);

/* ---- keys.c ---- */

/* Loads the active signing key, creating it on first start (under a lock, so replicas
 * starting together agree on one), and starts the rotation thread. */
mentis_status_t mentis__auth_keys_start(mentis_service_t *svc, mentis_auth_t *app);

/* Takes the transaction-level advisory lock that serialises key creation and rotation
 * across replicas. */
mentis_status_t mentis__auth_keys_lock(mentis_db_conn_t *conn);

/* Under that lock: retires the active key, creates its successor, and deletes keys retired
 * long enough ago that no token they signed can still be valid. */
mentis_status_t mentis__auth_keys_rotate(mentis_db_conn_t *conn, const mentis_auth_t *app);

/* The active key from the database, unsealed into kid and sk (zero it after use). */
mentis_status_t mentis__auth_keys_load(mentis_db_conn_t *conn, const mentis_auth_t *app,
                                       char kid[MENTIS_JWT_KID_SIZE], uint8_t sk[64]);

/* Swaps kid and sk in as the key that signs (under key_lock). */
void mentis__auth_keys_install(mentis_auth_t *app, const char *kid, const uint8_t sk[64]);

/* The kid of the key that signs now. */
void mentis__auth_keys_current(mentis_auth_t *app, char kid[MENTIS_JWT_KID_SIZE]);

/* Signs claims with the active key; *token malloc'd (as mentis_jwt_sign). */
mentis_status_t mentis__auth_keys_sign(mentis_auth_t *app, const mentis_jwt_claims_t *claims,
                                       char **token);

/* The packed KeySetChanged of the current key set (as `keys` answers), malloc'd in *buf. */
mentis_status_t mentis__auth_keys_event(mentis_db_conn_t *conn, const mentis_auth_t *app,
                                        uint8_t **buf, size_t *len);

/* mentis.v1.auth.keys */
mentis_status_t mentis__auth_op_keys(mentis_ctx_t *ctx, const ProtobufCMessage *req,
                                     ProtobufCMessage *resp);

/* ---- keys_rotation.c ---- */

/* Starts the thread that replaces the active key when it is older than key_rotation_s and
 * picks up a key another replica rotated in. */
mentis_status_t mentis__auth_keys_rotation_start(mentis_service_t *svc, mentis_auth_t *app);

/* Stops and joins it (nothing when it never started). */
void mentis__auth_keys_rotation_stop(void);

/* ---- users.c ---- */

/* The columns mentis__auth_user_read reads, in order, from table alias u. */
#define MENTIS_AUTH_USER_COLUMNS                                                                   \
    "u.id, u.email, u.email_verified, u.display_name, u.avatar_url, u.locale, u.timezone, "        \
    "u.role, u.tenant_id, floor(extract(epoch FROM u.created_at) * 1000)::bigint, "                \
    "floor(extract(epoch FROM u.last_login_at) * 1000)::bigint, u.version"
#define MENTIS_AUTH_USER_NCOLUMNS 12

/* Fills user (in the pool) from row `row` of res, columns MENTIS_AUTH_USER_COLUMNS from `col`. */
void mentis__auth_user_read(mentis_pool_t *pool, const PGresult *res, int row, int col,
                            Mentis__V1__Auth__User *user);

Mentis__V1__Auth__Role mentis__auth_role_from_str(const char *role);

/* A pragmatic address check: local@domain.tld, printable ASCII without spaces. */
bool mentis__auth_email_valid(const char *email);

/* Whether s is 1..max bytes without control characters (tabs and newlines included). */
bool mentis__auth_text_valid(const char *s, size_t max);

mentis_status_t mentis__auth_op_register(mentis_ctx_t *ctx, const ProtobufCMessage *req,
                                         ProtobufCMessage *resp);
mentis_status_t mentis__auth_op_me_get(mentis_ctx_t *ctx, const ProtobufCMessage *req,
                                       ProtobufCMessage *resp);
mentis_status_t mentis__auth_op_me_update(mentis_ctx_t *ctx, const ProtobufCMessage *req,
                                          ProtobufCMessage *resp);
/* mentis.v1.auth.whoami: the caller as the gateway verified it; no database. */
mentis_status_t mentis__auth_op_whoami(mentis_ctx_t *ctx, const ProtobufCMessage *req,
                                       ProtobufCMessage *resp);

/* ---- sessions.c ---- */

/*
 * Signs a user in on conn (inside the tenant's transaction): records the device (when
 * given), creates a session, its first refresh token and an access token. `user` was
 * read with MENTIS_AUTH_USER_COLUMNS. *device_out is NULL when no device was given.
 */
mentis_status_t mentis__auth_session_open(mentis_ctx_t *ctx, mentis_db_conn_t *conn,
                                          const Mentis__V1__Auth__User *user,
                                          const Mentis__V1__Auth__Device *device,
                                          Mentis__V1__Auth__Device **device_out,
                                          Mentis__V1__Auth__Tokens **tokens_out);

mentis_status_t mentis__auth_op_login(mentis_ctx_t *ctx, const ProtobufCMessage *req,
                                      ProtobufCMessage *resp);
mentis_status_t mentis__auth_op_logout(mentis_ctx_t *ctx, const ProtobufCMessage *req,
                                       ProtobufCMessage *resp);

/* Publishes session_revoked for the given sessions (all_sessions: every one of user). */
void mentis__auth_publish_revoked(mentis_ctx_t *ctx, const char *tenant, const char *user_id,
                                  const char *const *session_ids, size_t n, bool all_sessions,
                                  const char *reason);

/* ---- tokens.c ---- */

/* A new refresh token family for a session: generation 0. `token` gets the plaintext. */
mentis_status_t mentis__auth_refresh_create(mentis_ctx_t *ctx, mentis_db_conn_t *conn,
                                            const char *tenant, const char *session_id,
                                            const char *user_id,
                                            char token[MENTIS_AUTH_REFRESH_LEN + 1]);

/* An access token for this session; *out in the pool. */
mentis_status_t mentis__auth_access_token(mentis_ctx_t *ctx, const char *user_id,
                                          const char *tenant, const char *session_id,
                                          const char *role, const char *email,
                                          const char *device_id, char **out);

/* The Tokens message for an access and a refresh token, in the pool. */
Mentis__V1__Auth__Tokens *mentis__auth_tokens(mentis_ctx_t *ctx, char *access, const char *refresh);

/* Stored form of a refresh token: '\x' and the hex of its keyed hash, in out. */
void mentis__auth_refresh_hash(const mentis_auth_t *app, const char *token, char out[67]);

mentis_status_t mentis__auth_op_refresh(mentis_ctx_t *ctx, const ProtobufCMessage *req,
                                        ProtobufCMessage *resp);

/* ---- audit.c ---- */

/* Appends a security event (login, login_failed, token_reused, logout, register, and the
 * admin actions) to the tenant's audit log on conn. user_id (the account the event is
 * about) may be NULL; detail_json a JSON object or NULL. The actor — the caller named by
 * Mentis-Principal and Mentis-Email, when the gateway sent them — is recorded with it. */
mentis_status_t mentis__auth_audit(mentis_ctx_t *ctx, mentis_db_conn_t *conn, const char *tenant,
                                   const char *user_id, const char *event, const char *detail_json);

#endif
