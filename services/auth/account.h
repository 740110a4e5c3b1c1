/*
 * mentis-auth: the signed-in user's own account — password change, forgot/reset,
 * email verification and resend, sessions and devices, login throttling, mail.
 * Files: account_config.c (settings, start and stop), account_password.c,
 * account_email.c, account_sessions.c, account_throttle.c, account_tokens.c (one-time
 * tokens), mail.c (the outbox and its sender thread). main.c includes this for the
 * operation table and calls the configure, start and stop hooks.
 */
#ifndef MENTIS_AUTH_ACCOUNT_H
#define MENTIS_AUTH_ACCOUNT_H

#include "auth.h"
#include "mentis/v1/auth_account.pb-c.h"

/* Entries of main.c's operation table (a comma-separated list, or empty). */
#define MENTIS_AUTH_ACCOUNT_D(name) &mentis__v1__auth__##name##__descriptor
#define MENTIS_AUTH_ACCOUNT_OPS                                                                    \
    {"password.change", MENTIS_AUTH_ACCOUNT_D(change_password_request),                            \
     MENTIS_AUTH_ACCOUNT_D(change_password_response), mentis__auth_op_password_change,             \
     MENTIS_OP_TENANT},                                                                            \
        {"password.forgot", MENTIS_AUTH_ACCOUNT_D(forgot_password_request),                        \
         MENTIS_AUTH_ACCOUNT_D(forgot_password_response), mentis__auth_op_password_forgot, 0},     \
        {"password.reset", MENTIS_AUTH_ACCOUNT_D(reset_password_request),                          \
         MENTIS_AUTH_ACCOUNT_D(reset_password_response), mentis__auth_op_password_reset, 0},       \
        {"email.verify", MENTIS_AUTH_ACCOUNT_D(verify_email_request),                              \
         MENTIS_AUTH_ACCOUNT_D(verify_email_response), mentis__auth_op_email_verify, 0},           \
        {"email.resend", MENTIS_AUTH_ACCOUNT_D(resend_verification_request),                       \
         MENTIS_AUTH_ACCOUNT_D(resend_verification_response), mentis__auth_op_email_resend, 0},    \
        {"sessions.list", MENTIS_AUTH_ACCOUNT_D(list_sessions_request),                            \
         MENTIS_AUTH_ACCOUNT_D(list_sessions_response), mentis__auth_op_sessions_list,             \
         MENTIS_OP_DB | MENTIS_OP_TENANT},                                                         \
        {"sessions.revoke", MENTIS_AUTH_ACCOUNT_D(revoke_session_request),                         \
         MENTIS_AUTH_ACCOUNT_D(revoke_session_response), mentis__auth_op_sessions_revoke,          \
         MENTIS_OP_DB | MENTIS_OP_TENANT},                                                         \
        {"devices.list", MENTIS_AUTH_ACCOUNT_D(list_devices_request),                              \
         MENTIS_AUTH_ACCOUNT_D(list_devices_response), mentis__auth_op_devices_list,               \
         MENTIS_OP_DB | MENTIS_OP_TENANT},                                                         \
        {"devices.delete", MENTIS_AUTH_ACCOUNT_D(delete_device_request),                           \
         MENTIS_AUTH_ACCOUNT_D(delete_device_response), mentis__auth_op_devices_delete,            \
         MENTIS_OP_DB | MENTIS_OP_TENANT},

/* One-time tokens: 32 random bytes, base64url without padding (43 characters). */
#define MENTIS_AUTH_OTT_LEN 43

/* The account half's settings, set by mentis__auth_account_configure; read-only after. */
typedef struct {
    int64_t reset_ttl_s;       /* password-reset token lifetime */
    int64_t verify_ttl_s;      /* email-verification token lifetime */
    int64_t lock_after;        /* consecutive failures that lock an account */
    int64_t lock_s;            /* how long a lock lasts */
    int64_t throttle_after;    /* an account's failures before delays start */
    int64_t ip_throttle_after; /* a client address's failures before delays start */
    int64_t delay_max_s;       /* the longest delay */
    int64_t failure_window_s;  /* failures older than this are forgotten */

    const char *smtp_url; /* NULL or "": the file (or log) transport */
    const char *smtp_user;
    const char *smtp_password;
    bool smtp_starttls;
    int64_t smtp_timeout_s;
    const char *mail_from;  /* header From; the envelope sender is its address */
    const char *public_url; /* links in mail start with it */
    const char *mail_dir;   /* the file transport's folder; NULL or "": log only */
    int64_t mail_poll_ms;
    int64_t mail_max_attempts;

    uint8_t token_hash_key[32]; /* one-time tokens are stored as this keyed hash */
    uint8_t outbox_key[32];     /* seals queued messages */
} mentis_auth_account_t;

/* The settings (a process-wide value). */
const mentis_auth_account_t *mentis__auth_account(void);

/* ---- hooks called by main.c ---- */

/* Reads the account settings; app->kek must already be set. */
void mentis__auth_account_configure(mentis_auth_t *app, mentis_config_t *cfg);
/* Loads the common-password list and starts the mail sender thread. */
mentis_status_t mentis__auth_account_start(mentis_service_t *svc);
/* Stops the sender thread (it finishes the message in hand). */
void mentis__auth_account_stop(void);

/* ---- shared by the account files ---- */

/* The signed-in caller of a client operation: its user id (a UUID) and tenant. A beta
 * token's caller has no account: 403 permission_denied. */
mentis_status_t mentis__auth_account_caller(const mentis_ctx_t *ctx, const char **user_id,
                                            const char **tenant);

/* Lower-cases and trims an address into the pool; NULL when out of memory. */
char *mentis__auth_email_normalise(mentis_pool_t *pool, const char *email);

/* Revokes sessions of user_id matching `where` (SQL over s, $1 the user, $2 `arg`) with
 * their refresh tokens; their ids (in the pool) in *ids, *n. */
mentis_status_t mentis__auth_sessions_revoke_where(mentis_ctx_t *ctx, mentis_db_conn_t *conn,
                                                   const char *user_id, const char *where,
                                                   const char *arg, const char *reason, char ***ids,
                                                   size_t *n);

/* ---- account_tokens.c ---- */

/* A new one-time token for user_id; the plaintext in `token`. */
mentis_status_t mentis__auth_ott_create(mentis_db_conn_t *conn, const char *tenant,
                                        const char *user_id, const char *purpose, const char *email,
                                        int64_t ttl_s, char token[MENTIS_AUTH_OTT_LEN + 1]);

/*
 * Uses the token of `purpose` in the tenant's transaction: marks it used and writes its
 * user and email (37 and 255 bytes). 400 invalid_token (unknown, malformed), token_used,
 * token_expired.
 */
mentis_status_t mentis__auth_ott_use(mentis_db_conn_t *conn, const char *token, const char *purpose,
                                     char user_id[37], char email[255]);

/* Checks, without using it, that the token is valid now (same errors). */
mentis_status_t mentis__auth_ott_check(mentis_db_conn_t *conn, const char *token,
                                       const char *purpose);

/* ---- mail.c ---- */

/* Queues mail of `kind` ("verify_email", "password_reset") for `email` in the tenant's
 * transaction; user_id may be NULL (the sender looks the address up). */
mentis_status_t mentis__auth_mail_enqueue(mentis_db_conn_t *conn, const char *tenant,
                                          const char *kind, const char *email, const char *user_id);
/* Wakes the sender (after the commit of an enqueue). */
void mentis__auth_mail_wake(void);
mentis_status_t mentis__auth_mail_start(mentis_service_t *svc);
void mentis__auth_mail_stop(void);

/* ---- account_throttle.c (used by sessions.c's login) ---- */

typedef struct {
    /* Read before the password is checked. */
    int failures;            /* the account's (or unknown address's) consecutive failures */
    int64_t last_failure_ms; /* 0: none */
    int64_t locked_until_ms; /* 0: not locked */
    int ip_failures;
    int64_t ip_last_failure_ms;
} mentis_auth_throttle_t;

/* Reads the client address's counters (and, when user_id is NULL, the unknown address's)
 * into t on conn; t's account fields must already hold the user's row when user_id is set. */
mentis_status_t mentis__auth_throttle_read(mentis_ctx_t *ctx, mentis_db_conn_t *conn,
                                           const char *email, const char *user_id,
                                           mentis_auth_throttle_t *t);

/* 403 account_locked or 429 rate_limited (with Retry-After) when the attempt must wait;
 * MENTIS_OK when the password may be checked. */
mentis_status_t mentis__auth_throttle_check(mentis_ctx_t *ctx, const mentis_auth_throttle_t *t);

/*
 * Records a failed login (its own transaction): counts it for the client address and for
 * the account (or unknown address), audits login_failed, locks after the configured
 * number and audits account_locked. Returns the answer: 401 invalid_credentials, or 403
 * account_locked when this failure locked it.
 */
mentis_status_t mentis__auth_throttle_failed(mentis_ctx_t *ctx, const char *tenant,
                                             const char *email, const char *user_id,
                                             const char *detail);

/* ---- the operations ---- */

mentis_status_t mentis__auth_op_password_change(mentis_ctx_t *ctx, const ProtobufCMessage *req,
                                                ProtobufCMessage *resp);
mentis_status_t mentis__auth_op_password_forgot(mentis_ctx_t *ctx, const ProtobufCMessage *req,
                                                ProtobufCMessage *resp);
mentis_status_t mentis__auth_op_password_reset(mentis_ctx_t *ctx, const ProtobufCMessage *req,
                                               ProtobufCMessage *resp);
mentis_status_t mentis__auth_op_email_verify(mentis_ctx_t *ctx, const ProtobufCMessage *req,
                                             ProtobufCMessage *resp);
mentis_status_t mentis__auth_op_email_resend(mentis_ctx_t *ctx, const ProtobufCMessage *req,
                                             ProtobufCMessage *resp);
mentis_status_t mentis__auth_op_sessions_list(mentis_ctx_t *ctx, const ProtobufCMessage *req,
                                              ProtobufCMessage *resp);
mentis_status_t mentis__auth_op_sessions_revoke(mentis_ctx_t *ctx, const ProtobufCMessage *req,
                                                ProtobufCMessage *resp);
mentis_status_t mentis__auth_op_devices_list(mentis_ctx_t *ctx, const ProtobufCMessage *req,
                                             ProtobufCMessage *resp);
mentis_status_t mentis__auth_op_devices_delete(mentis_ctx_t *ctx, const ProtobufCMessage *req,
                                               ProtobufCMessage *resp);

/* ---- passwords.c ---- */

/* Whether the password (case-insensitively) is in the shipped common-password list. */
bool mentis__auth_password_common(const char *password);
/* Builds the list's index (once, at start). */
mentis_status_t mentis__auth_passwords_start(void);
void mentis__auth_passwords_stop(void);

#endif
