/*
 * Login throttling: growing waits per account and per client address, and a temporary
 * lock after repeated failures.
 *
 * Counted: consecutive failures of an account (users.failed_login_count), of an address
 * that has no account (login_throttle 'email:<address>', so an unknown address is
 * throttled and locked exactly like a known one and the answers tell nothing), and of a
 * client address over every account (login_throttle 'ip:<address>'). After
 * MENTIS_AUTH_THROTTLE_AFTER_FAILURES (per account) or
 * MENTIS_AUTH_IP_THROTTLE_AFTER_FAILURES (per address) failures, the next attempt must
 * wait 1 s after the last failure, then 2, 4 … up to MENTIS_AUTH_THROTTLE_MAX_DELAY_S; an
 * attempt too early is answered 429 rate_limited with Retry-After at once — no worker
 * sleeps and no password is checked. MENTIS_AUTH_LOCK_AFTER_FAILURES consecutive failures
 * lock the account for MENTIS_AUTH_LOCK_S: 403 account_locked with its end, again before
 * any password check (checking it would tell an attacker when a guess was right).
 * Failures older than MENTIS_AUTH_FAILURE_WINDOW_S are forgotten; a successful login
 * clears the account's count (not the client address's).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "account.h"

static int64_t now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static int64_t ms_or_zero(const PGresult *res, int col)
{
    return PQgetisnull(res, 0, col) ? 0 : strtoll(PQgetvalue(res, 0, col), NULL, 10);
}

mentis_status_t mentis__auth_throttle_read(mentis_ctx_t *ctx, mentis_db_conn_t *conn,
                                           const char *email, const char *user_id,
                                           mentis_auth_throttle_t *t)
{
    const char *ip = mentis_ctx_header(ctx, MENTIS_AUTH_HDR_CLIENT_IP);
    char ipkey[128], emailkey[300];
    snprintf(ipkey, sizeof ipkey, "ip:%s", ip ? ip : "");
    snprintf(emailkey, sizeof emailkey, "email:%s", email);
    const char *p[] = {ip && ip[0] ? ipkey : NULL, user_id == NULL ? emailkey : NULL};
    PGresult *res = NULL;
    mentis_status_t st =
        mentis_db_exec(conn,
                       "SELECT (SELECT failures FROM auth.login_throttle WHERE key = $1), "
                       "(SELECT floor(extract(epoch FROM last_failure_at) * 1000)::bigint "
                       " FROM auth.login_throttle WHERE key = $1), "
                       "(SELECT failures FROM auth.login_throttle WHERE key = $2), "
                       "(SELECT floor(extract(epoch FROM last_failure_at) * 1000)::bigint "
                       " FROM auth.login_throttle WHERE key = $2), "
                       "(SELECT floor(extract(epoch FROM locked_until) * 1000)::bigint "
                       " FROM auth.login_throttle WHERE key = $2)",
                       2, p, &res);
    if (st != MENTIS_OK)
        return st;
    t->ip_failures = (int)ms_or_zero(res, 0);
    t->ip_last_failure_ms = ms_or_zero(res, 1);
    if (user_id == NULL) {
        t->failures = (int)ms_or_zero(res, 2);
        t->last_failure_ms = ms_or_zero(res, 3);
        t->locked_until_ms = ms_or_zero(res, 4);
    }
    PQclear(res);
    return MENTIS_OK;
}

/* How long after the last failure the next attempt must wait, ms (0: at once). */
static int64_t wait_ms(int failures, int64_t last_ms, int64_t after, int64_t now)
{
    const mentis_auth_account_t *s = mentis__auth_account();
    if (last_ms == 0 || now - last_ms >= s->failure_window_s * 1000 || failures < after)
        return 0;
    int64_t d = 1;
    for (int64_t i = after; i < failures && d < s->delay_max_s; i++)
        d *= 2;
    if (d > s->delay_max_s)
        d = s->delay_max_s;
    return d * 1000;
}

static mentis_status_t refuse_locked(mentis_ctx_t *ctx, int64_t until_ms, int64_t now)
{
    char when[32];
    time_t secs = (time_t)(until_ms / 1000);
    struct tm tm;
    gmtime_r(&secs, &tm);
    strftime(when, sizeof when, "%Y-%m-%dT%H:%M:%SZ", &tm);
    mentis_ctx_retry_after(ctx, (int)((until_ms - now + 999) / 1000));
    return mentis_err_set(MENTIS_ERR_PERMISSION_DENIED, "account_locked",
                          "too many failed logins: the account is locked until %s", when);
}

mentis_status_t mentis__auth_throttle_check(mentis_ctx_t *ctx, const mentis_auth_throttle_t *t)
{
    const mentis_auth_account_t *s = mentis__auth_account();
    int64_t now = now_ms();
    if (t->locked_until_ms > now)
        return refuse_locked(ctx, t->locked_until_ms, now);
    int64_t ip_due = t->ip_last_failure_ms +
                     wait_ms(t->ip_failures, t->ip_last_failure_ms, s->ip_throttle_after, now);
    int64_t acct_due =
        t->last_failure_ms + wait_ms(t->failures, t->last_failure_ms, s->throttle_after, now);
    int64_t due = ip_due > acct_due ? ip_due : acct_due;
    if (due > now) {
        mentis_ctx_retry_after(ctx, (int)((due - now + 999) / 1000));
        return mentis_err_set(MENTIS_ERR_RATE_LIMITED, NULL,
                              "too many failed logins: try again in %lld s",
                              (long long)((due - now + 999) / 1000));
    }
    return MENTIS_OK;
}

mentis_status_t mentis__auth_throttle_failed(mentis_ctx_t *ctx, const char *tenant,
                                             const char *email, const char *user_id,
                                             const char *detail)
{
    const mentis_auth_account_t *s = mentis__auth_account();
    mentis_db_conn_t *conn = NULL;
    mentis_status_t st = mentis__auth_tx_begin(ctx, tenant, &conn);
    if (st != MENTIS_OK)
        return st;
    char window[32], lock_after[32], lock_s[32], key[300];
    snprintf(window, sizeof window, "%lld", (long long)s->failure_window_s);
    snprintf(lock_after, sizeof lock_after, "%lld", (long long)s->lock_after);
    snprintf(lock_s, sizeof lock_s, "%lld", (long long)s->lock_s);
    const char *ip = mentis_ctx_header(ctx, MENTIS_AUTH_HDR_CLIENT_IP);
    if (ip != NULL && ip[0] != '\0') {
        snprintf(key, sizeof key, "ip:%s", ip);
        const char *p[] = {tenant, key, window};
        st = mentis_db_exec(
            conn,
            "INSERT INTO auth.login_throttle AS t (tenant_id, key, failures) "
            "VALUES ($1, left($2, 300), 1) ON CONFLICT (tenant_id, key) DO UPDATE SET "
            "failures = CASE WHEN t.last_failure_at < now() - make_interval(secs => $3::bigint) "
            "THEN 1 ELSE t.failures + 1 END, last_failure_at = now()",
            3, p, NULL);
    }
    PGresult *res = NULL;
    if (st == MENTIS_OK && user_id != NULL) {
        const char *p[] = {user_id, window, lock_after, lock_s};
        st = mentis_db_exec(
            conn,
            "WITH n AS (SELECT CASE WHEN last_failed_login_at IS NULL OR last_failed_login_at < "
            "now() - make_interval(secs => $2::bigint) THEN 1 ELSE failed_login_count + 1 END "
            "AS c FROM auth.users WHERE id = $1 FOR UPDATE) "
            "UPDATE auth.users u SET failed_login_count = n.c, last_failed_login_at = now(), "
            "locked_until = CASE WHEN n.c >= $3::int THEN now() + make_interval(secs => "
            "$4::bigint) ELSE u.locked_until END FROM n WHERE u.id = $1 "
            "RETURNING n.c, n.c >= $3::int, floor(extract(epoch FROM u.locked_until) * "
            "1000)::bigint",
            4, p, &res);
    } else if (st == MENTIS_OK) {
        snprintf(key, sizeof key, "email:%s", email);
        const char *p[] = {tenant, key, window, lock_after};
        st = mentis_db_exec(
            conn,
            "INSERT INTO auth.login_throttle AS t (tenant_id, key, failures) "
            "VALUES ($1, left($2, 300), 1) ON CONFLICT (tenant_id, key) DO UPDATE SET "
            "failures = CASE WHEN t.last_failure_at < now() - make_interval(secs => $3::bigint) "
            "THEN 1 ELSE t.failures + 1 END, last_failure_at = now() "
            "RETURNING failures, failures >= $4::int, "
            "floor(extract(epoch FROM locked_until) * 1000)::bigint",
            4, p, &res);
        /* The lock of an unknown address, set as for an account. */
        if (st == MENTIS_OK && PQntuples(res) == 1 && PQgetvalue(res, 0, 1)[0] == 't') {
            PQclear(res);
            res = NULL;
            const char *u[] = {tenant, key, lock_s};
            st = mentis_db_exec(conn,
                                "UPDATE auth.login_throttle SET locked_until = now() + "
                                "make_interval(secs => $3::bigint) WHERE tenant_id = $1 AND key = "
                                "left($2, 300) RETURNING failures, true, "
                                "floor(extract(epoch FROM locked_until) * 1000)::bigint",
                                3, u, &res);
        }
    }
    bool locked = false;
    int failures = 0;
    int64_t until = 0;
    if (st == MENTIS_OK && res != NULL && PQntuples(res) == 1) {
        failures = atoi(PQgetvalue(res, 0, 0));
        locked = PQgetvalue(res, 0, 1)[0] == 't';
        until = ms_or_zero(res, 2);
    }
    PQclear(res);
    if (st == MENTIS_OK)
        st = mentis__auth_audit(ctx, conn, tenant, user_id, "login_failed", detail);
    if (st == MENTIS_OK && locked) {
        char d[128];
        snprintf(d, sizeof d, "{\"failures\":%d,\"locked_until_ms\":%lld,\"known\":%s}", failures,
                 (long long)until, user_id ? "true" : "false");
        st = mentis__auth_audit(ctx, conn, tenant, user_id, "account_locked", d);
    }
    st = mentis__auth_tx_end(ctx, conn, st, false);
    if (st != MENTIS_OK)
        return st;
    if (locked)
        return refuse_locked(ctx, until, now_ms());
    return mentis_err_set(MENTIS_ERR_UNAUTHENTICATED, "invalid_credentials",
                          "email or password is wrong");
}
