/* The account half's settings, its start and stop, and helpers its operations share. */
#include <ctype.h>
#include <string.h>

#include "account.h"
#include "mentis/log.h"

static mentis_auth_account_t settings;

const mentis_auth_account_t *mentis__auth_account(void)
{
    return &settings;
}

void mentis__auth_account_configure(mentis_auth_t *app, mentis_config_t *cfg)
{
    mentis_auth_account_t *s = &settings;
    memset(s, 0, sizeof *s);
    s->reset_ttl_s = mentis_config_int(cfg, "MENTIS_AUTH_RESET_TOKEN_TTL_S", 3600, 1, 7 * 86400,
                                       "password-reset link lifetime, seconds");
    s->verify_ttl_s = mentis_config_int(cfg, "MENTIS_AUTH_VERIFY_TOKEN_TTL_S", 86400, 1, 30 * 86400,
                                        "email-verification link lifetime, seconds");
    s->lock_after = mentis_config_int(cfg, "MENTIS_AUTH_LOCK_AFTER_FAILURES", 10, 2, 1000,
                                      "consecutive failed logins that lock an account");
    s->lock_s = mentis_config_int(cfg, "MENTIS_AUTH_LOCK_S", 900, 1, 7 * 86400,
                                  "how long such a lock lasts, seconds");
    s->throttle_after =
        mentis_config_int(cfg, "MENTIS_AUTH_THROTTLE_AFTER_FAILURES", 3, 1, 1000,
                          "failed logins of one account before each further attempt must "
                          "wait (1 s, then doubling)");
    s->ip_throttle_after =
        mentis_config_int(cfg, "MENTIS_AUTH_IP_THROTTLE_AFTER_FAILURES", 20, 1, 100000,
                          "failed logins from one client address (any account) before each "
                          "further attempt from it must wait (1 s, then doubling)");
    s->delay_max_s = mentis_config_int(cfg, "MENTIS_AUTH_THROTTLE_MAX_DELAY_S", 60, 1, 3600,
                                       "the longest such wait, seconds");
    s->failure_window_s =
        mentis_config_int(cfg, "MENTIS_AUTH_FAILURE_WINDOW_S", 3600, 1, 30 * 86400,
                          "failed logins older than this are forgotten, seconds");

    s->smtp_url = mentis_config_str(cfg, "MENTIS_SMTP_URL", NULL,
                                    "mail server: smtp://host:port (STARTTLS with "
                                    "MENTIS_SMTP_STARTTLS) or smtps://host:port (TLS); unset: "
                                    "messages go to MENTIS_MAIL_DIR");
    s->smtp_user = mentis_config_str(cfg, "MENTIS_SMTP_USER", NULL, "mail server user name");
    s->smtp_password =
        mentis_config_secret(cfg, "MENTIS_SMTP_PASSWORD", NULL, "mail server password");
    s->smtp_starttls = mentis_config_bool(cfg, "MENTIS_SMTP_STARTTLS", false,
                                          "require STARTTLS on an smtp:// server");
    s->smtp_timeout_s = mentis_config_int(cfg, "MENTIS_SMTP_TIMEOUT_S", 30, 1, 600,
                                          "longest time one message may take to send, seconds");
    s->mail_from = mentis_config_str(cfg, "MENTIS_MAIL_FROM", "Mentis <no-reply@localhost>",
                                     "sender of account mail: an address, or \"Name <address>\"");
    s->public_url = mentis_config_str(cfg, "MENTIS_PUBLIC_URL", "http://localhost:8080",
                                      "where clients reach the service; links in mail start "
                                      "with it");
    s->mail_dir = mentis_config_str(cfg, "MENTIS_MAIL_DIR", NULL,
                                    "without MENTIS_SMTP_URL: folder that receives each message "
                                    "as an .eml file (unset: the link is only logged)");
    s->mail_poll_ms = mentis_config_int(cfg, "MENTIS_MAIL_POLL_MS", 1000, 10, 60000,
                                        "how often the mail sender looks for queued mail "
                                        "(it is also woken at once by this replica), ms");
    s->mail_max_attempts = mentis_config_int(cfg, "MENTIS_MAIL_MAX_ATTEMPTS", 8, 1, 100,
                                             "attempts to send one message before giving up "
                                             "(waits double from 5 s between them)");
    if (s->smtp_url != NULL && s->smtp_url[0] != '\0' && strncmp(s->smtp_url, "smtp://", 7) != 0 &&
        strncmp(s->smtp_url, "smtps://", 8) != 0)
        mentis_config_fail(cfg, "MENTIS_SMTP_URL", "expected smtp://host[:port] or smtps://…");
    if (strncmp(s->public_url, "http://", 7) != 0 && strncmp(s->public_url, "https://", 8) != 0)
        mentis_config_fail(cfg, "MENTIS_PUBLIC_URL", "expected an http:// or https:// URL");
    for (const char *c = s->mail_from; *c; c++)
        if ((unsigned char)*c < 0x20 || *c == 0x7f)
            mentis_config_fail(cfg, "MENTIS_MAIL_FROM", "control characters are not allowed");
    mentis_crypto_keyed_hash(app->kek, "mentis.auth.one-time-token-hash",
                             strlen("mentis.auth.one-time-token-hash"), s->token_hash_key);
    mentis_crypto_keyed_hash(app->kek, "mentis.auth.mail-outbox", strlen("mentis.auth.mail-outbox"),
                             s->outbox_key);
}

mentis_status_t mentis__auth_account_start(mentis_service_t *svc)
{
    mentis_status_t st = mentis__auth_passwords_start();
    if (st != MENTIS_OK)
        return st;
    return mentis__auth_mail_start(svc);
}

void mentis__auth_account_stop(void)
{
    mentis__auth_mail_stop();
    mentis__auth_passwords_stop();
}

mentis_status_t mentis__auth_account_caller(const mentis_ctx_t *ctx, const char **user_id,
                                            const char **tenant)
{
    *user_id = mentis_ctx_principal(ctx);
    *tenant = mentis_ctx_tenant(ctx);
    if (mentis_ctx_has_role(ctx, "beta"))
        return mentis_err_set(MENTIS_ERR_PERMISSION_DENIED, NULL,
                              "a beta token has no account: sign in for this");
    uint8_t id[16];
    if (*user_id == NULL || !mentis_crypto_uuid_parse(*user_id, id) || *tenant == NULL)
        return mentis_err_set(MENTIS_ERR_UNAUTHENTICATED, NULL, "no signed-in caller");
    return MENTIS_OK;
}

char *mentis__auth_email_normalise(mentis_pool_t *pool, const char *email)
{
    if (email == NULL)
        return mentis_pool_strdup(pool, "");
    while (isspace((unsigned char)*email))
        email++;
    size_t n = strlen(email);
    while (n > 0 && isspace((unsigned char)email[n - 1]))
        n--;
    char *s = mentis_pool_strndup(pool, email, n);
    for (size_t i = 0; s != NULL && i < n; i++)
        s[i] = (char)tolower((unsigned char)s[i]);
    return s;
}

mentis_status_t mentis__auth_sessions_revoke_where(mentis_ctx_t *ctx, mentis_db_conn_t *conn,
                                                   const char *user_id, const char *where,
                                                   const char *arg, const char *reason, char ***ids,
                                                   size_t *n)
{
    mentis_pool_t *pool = mentis_ctx_pool(ctx);
    *ids = NULL;
    *n = 0;
    char *sql = mentis_pool_printf(
        pool,
        "WITH s AS (UPDATE auth.sessions s SET revoked_at = now(), revoked_reason = $3 "
        "WHERE s.user_id = $1 AND s.revoked_at IS NULL AND (%s) AND $2::text IS NOT NULL "
        "RETURNING s.id), "
        "t AS (UPDATE auth.refresh_tokens r SET revoked_at = now() FROM s "
        "WHERE r.session_id = s.id AND r.revoked_at IS NULL) "
        "SELECT id FROM s",
        where);
    if (sql == NULL)
        return mentis_err_set(MENTIS_ERR_NO_MEMORY, NULL, "revoke sessions: out of memory");
    const char *p[] = {user_id, arg ? arg : "", reason};
    PGresult *res = NULL;
    mentis_status_t st = mentis_db_exec(conn, sql, 3, p, &res);
    if (st != MENTIS_OK)
        return st;
    int rows = PQntuples(res);
    char **out = mentis_pool_calloc(pool, (size_t)rows + 1, sizeof *out);
    for (int i = 0; out != NULL && i < rows; i++)
        out[i] = mentis_pool_strdup(pool, PQgetvalue(res, i, 0));
    PQclear(res);
    if (out == NULL)
        return mentis_err_set(MENTIS_ERR_NO_MEMORY, NULL, "revoke sessions: out of memory");
    *ids = out;
    *n = (size_t)rows;
    return MENTIS_OK;
}
