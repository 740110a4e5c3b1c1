/* Sessions: login opens one (device, session, tokens), logout ends one or all. */
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "account.h"

static const char *device_type_str(Mentis__V1__Auth__DeviceType t)
{
    switch (t) {
    case MENTIS__V1__AUTH__DEVICE_TYPE__DEVICE_TYPE_IOS:
        return "ios";
    case MENTIS__V1__AUTH__DEVICE_TYPE__DEVICE_TYPE_ANDROID:
        return "android";
    case MENTIS__V1__AUTH__DEVICE_TYPE__DEVICE_TYPE_WEB:
        return "web";
    case MENTIS__V1__AUTH__DEVICE_TYPE__DEVICE_TYPE_DESKTOP:
        return "desktop";
    default:
        return "";
    }
}

static const char *or_empty(const char *s)
{
    return s ? s : "";
}

/* Records (or refreshes) the device by its fingerprint; writes its id. */
static mentis_status_t device_upsert(mentis_db_conn_t *conn, const char *tenant,
                                     const char *user_id, const Mentis__V1__Auth__Device *d,
                                     char id_out[37])
{
    char id[37];
    mentis_crypto_uuid_v7(id);
    const char *p[] = {id,
                       tenant,
                       user_id,
                       d->fingerprint,
                       or_empty(d->name),
                       device_type_str(d->type),
                       or_empty(d->model),
                       or_empty(d->os_version),
                       or_empty(d->app_version)};
    PGresult *res = NULL;
    mentis_status_t st = mentis_db_exec(
        conn,
        "INSERT INTO auth.devices (id, tenant_id, user_id, fingerprint, name, type, model, "
        "os_version, "
        "app_version) VALUES ($1, $2, $3, left($4, 200), left($5, 200), $6, left($7, 200), "
        "left($8, 100), "
        "left($9, 100)) ON CONFLICT (tenant_id, user_id, fingerprint) DO UPDATE SET name = "
        "EXCLUDED.name, "
        "type = EXCLUDED.type, model = EXCLUDED.model, os_version = EXCLUDED.os_version, "
        "app_version = EXCLUDED.app_version, last_seen_at = now() RETURNING id",
        9, p, &res);
    if (st == MENTIS_OK)
        snprintf(id_out, 37, "%s", PQgetvalue(res, 0, 0));
    PQclear(res);
    return st;
}

mentis_status_t mentis__auth_session_open(mentis_ctx_t *ctx, mentis_db_conn_t *conn,
                                          const Mentis__V1__Auth__User *user,
                                          const Mentis__V1__Auth__Device *device,
                                          Mentis__V1__Auth__Device **device_out,
                                          Mentis__V1__Auth__Tokens **tokens_out)
{
    mentis_auth_t *app = mentis__auth_app(ctx);
    mentis_pool_t *pool = mentis_ctx_pool(ctx);
    mentis_status_t st = MENTIS_OK;
    char device_id[37] = "", session_id[37], ttl[32];
    *device_out = NULL;
    if (device != NULL && device->fingerprint != NULL && device->fingerprint[0] != '\0') {
        if ((st = device_upsert(conn, user->tenant_id, user->id, device, device_id)) != MENTIS_OK)
            return st;
        Mentis__V1__Auth__Device *d = mentis_pool_calloc(pool, 1, sizeof *d);
        if (d == NULL)
            return mentis_err_set(MENTIS_ERR_NO_MEMORY, NULL, "login: out of memory");
        *d = *device;
        d->id = mentis_pool_strdup(pool, device_id);
        *device_out = d;
    }
    mentis_crypto_uuid_v7(session_id);
    snprintf(ttl, sizeof ttl, "%lld", (long long)app->refresh_ttl_s);
    const char *ip = mentis_ctx_header(ctx, MENTIS_AUTH_HDR_CLIENT_IP);
    const char *ua = mentis_ctx_header(ctx, MENTIS_AUTH_HDR_USER_AGENT);
    const char *p[] = {session_id,   user->tenant_id, user->id, device_id[0] ? device_id : NULL,
                       or_empty(ip), or_empty(ua),    ttl};
    st = mentis_db_exec(
        conn,
        "INSERT INTO auth.sessions (id, tenant_id, user_id, device_id, ip_address, user_agent, "
        "expires_at) VALUES ($1, $2, $3, $4, left($5, 64), left($6, 512), "
        "now() + make_interval(secs => $7::bigint))",
        7, p, NULL);
    if (st != MENTIS_OK)
        return st;
    char refresh[MENTIS_AUTH_REFRESH_LEN + 1];
    if ((st = mentis__auth_refresh_create(ctx, conn, user->tenant_id, session_id, user->id,
                                          refresh)) != MENTIS_OK)
        return st;
    const char *role = user->role == MENTIS__V1__AUTH__ROLE__ROLE_PLATFORM_ADMIN ? "platform_admin"
                       : user->role == MENTIS__V1__AUTH__ROLE__ROLE_ADMIN        ? "admin"
                                                                                 : "user";
    char *access = NULL;
    st = mentis__auth_access_token(ctx, user->id, user->tenant_id, session_id, role, user->email,
                                   device_id, &access);
    if (st != MENTIS_OK)
        return st;
    if ((*tokens_out = mentis__auth_tokens(ctx, access, refresh)) == NULL)
        return mentis_err_set(MENTIS_ERR_NO_MEMORY, NULL, "login: out of memory");
    return MENTIS_OK;
}

static mentis_status_t refuse_credentials(void)
{
    return mentis_err_set(MENTIS_ERR_UNAUTHENTICATED, "invalid_credentials",
                          "email or password is wrong");
}

mentis_status_t mentis__auth_op_login(mentis_ctx_t *ctx, const ProtobufCMessage *req,
                                      ProtobufCMessage *resp)
{
    const Mentis__V1__Auth__LoginRequest *in = (const Mentis__V1__Auth__LoginRequest *)req;
    Mentis__V1__Auth__LoginResponse *out = (Mentis__V1__Auth__LoginResponse *)resp;
    mentis_auth_t *app = mentis__auth_app(ctx);
    mentis_pool_t *pool = mentis_ctx_pool(ctx);
    char *email = mentis__auth_email_normalise(pool, in->email);
    const char *password = in->password ? in->password : "";
    if (email == NULL)
        return mentis_err_set(MENTIS_ERR_NO_MEMORY, NULL, "login: out of memory");
    if (email[0] == '\0' || password[0] == '\0' || strlen(password) > 1024)
        return refuse_credentials();
    const char *tenant = mentis__auth_public_tenant(ctx);

    /* First the account and the throttling counters, in a short read; Argon2 then runs
     * with no connection held, and not at all when the attempt must wait (see
     * account_throttle.c). */
    mentis_db_conn_t *conn = NULL;
    mentis_status_t st = mentis__auth_tx_begin(ctx, tenant, &conn);
    if (st != MENTIS_OK)
        return st;
    PGresult *res = NULL;
    const char *p[] = {email};
    st = mentis_db_exec(
        conn,
        "SELECT " MENTIS_AUTH_USER_COLUMNS ", u.password_hash, u.is_active, "
        "u.failed_login_count, floor(extract(epoch FROM u.last_failed_login_at) * 1000)::bigint, "
        "floor(extract(epoch FROM u.locked_until) * 1000)::bigint "
        "FROM auth.users u WHERE lower(u.email) = $1",
        1, p, &res);
    mentis_auth_throttle_t throttle = {0};
    bool found = st == MENTIS_OK && PQntuples(res) == 1;
    if (found) {
        int c = MENTIS_AUTH_USER_NCOLUMNS + 2;
        throttle.failures = atoi(PQgetvalue(res, 0, c));
        throttle.last_failure_ms =
            PQgetisnull(res, 0, c + 1) ? 0 : strtoll(PQgetvalue(res, 0, c + 1), NULL, 10);
        throttle.locked_until_ms =
            PQgetisnull(res, 0, c + 2) ? 0 : strtoll(PQgetvalue(res, 0, c + 2), NULL, 10);
    }
    if (st == MENTIS_OK)
        st = mentis__auth_throttle_read(ctx, conn, email, found ? PQgetvalue(res, 0, 0) : NULL,
                                        &throttle);
    st = mentis__auth_tx_end(ctx, conn, st, false);
    if (st == MENTIS_OK)
        st = mentis__auth_throttle_check(ctx, &throttle);
    if (st != MENTIS_OK) {
        PQclear(res);
        return st;
    }
    if (!found) {
        PQclear(res);
        /* The same Argon2 work as for a real account, so timing does not tell. */
        (void)mentis_crypto_password_verify(app->dummy_hash, password);
        return mentis__auth_throttle_failed(ctx, tenant, email, NULL,
                                            "{\"reason\":\"unknown_email\"}");
    }
    Mentis__V1__Auth__User *user = mentis_pool_calloc(pool, 1, sizeof *user);
    char *hash = mentis_pool_strdup(pool, PQgetvalue(res, 0, MENTIS_AUTH_USER_NCOLUMNS));
    bool active = PQgetvalue(res, 0, MENTIS_AUTH_USER_NCOLUMNS + 1)[0] == 't';
    if (user != NULL)
        mentis__auth_user_read(pool, res, 0, 0, user);
    PQclear(res);
    if (user == NULL || hash == NULL)
        return mentis_err_set(MENTIS_ERR_NO_MEMORY, NULL, "login: out of memory");
    if (!mentis_crypto_password_verify(hash, password))
        return mentis__auth_throttle_failed(ctx, tenant, email, user->id,
                                            "{\"reason\":\"password\"}");
    /* Only a caller who knows the password learns whether the account is inactive. */
    if (!active)
        return mentis_err_set(MENTIS_ERR_PERMISSION_DENIED, "account_inactive",
                              "account is inactive");
    char fresh[MENTIS_CRYPTO_PWHASH_STRBYTES] = "";
    if (mentis_crypto_password_needs_rehash(hash, app->pwhash_opslimit, app->pwhash_memlimit) &&
        mentis__auth_password_hash(app, password, fresh) != MENTIS_OK)
        fresh[0] = '\0'; /* keep the old hash; try again next time */

    if ((st = mentis__auth_tx_begin(ctx, tenant, &conn)) != MENTIS_OK)
        return st;
    /* Still active now: it may have changed while the password was checked. */
    const char *pl[] = {user->id, fresh[0] ? fresh : NULL};
    PGresult *lres = NULL;
    st = mentis_db_exec(
        conn,
        "UPDATE auth.users SET last_login_at = now(), password_hash = coalesce($2, password_hash), "
        "failed_login_count = 0 "
        "WHERE id = $1 AND is_active "
        "RETURNING floor(extract(epoch FROM last_login_at) * 1000)::bigint",
        2, pl, &lres);
    if (st == MENTIS_OK && PQntuples(lres) != 1)
        st =
            mentis_err_set(MENTIS_ERR_PERMISSION_DENIED, "account_inactive", "account is inactive");
    if (st == MENTIS_OK)
        user->last_login_at =
            mentis__auth_timestamp(pool, strtoll(PQgetvalue(lres, 0, 0), NULL, 10));
    PQclear(lres);
    if (st == MENTIS_OK)
        st = mentis__auth_session_open(ctx, conn, user, in->device, &out->device, &out->tokens);
    if (st == MENTIS_OK)
        st = mentis__auth_audit(ctx, conn, tenant, user->id, "login", NULL);
    if (st == MENTIS_OK)
        out->user = user;
    return mentis__auth_tx_end(ctx, conn, st, false);
}

void mentis__auth_publish_revoked(mentis_ctx_t *ctx, const char *tenant, const char *user_id,
                                  const char *const *session_ids, size_t n, bool all_sessions,
                                  const char *reason)
{
    mentis_pool_t *pool = mentis_ctx_pool(ctx);
    Mentis__V1__Auth__SessionRevoked ev;
    mentis__v1__auth__session_revoked__init(&ev);
    char **ids = mentis_pool_calloc(pool, n + 1, sizeof *ids);
    if (ids == NULL)
        return;
    for (size_t i = 0; i < n; i++)
        ids[i] = mentis_pool_strdup(pool, session_ids[i]);
    ev.tenant_id = mentis_pool_strdup(pool, tenant);
    ev.user_id = mentis_pool_strdup(pool, user_id);
    ev.session_ids = ids;
    ev.n_session_ids = n;
    ev.all_sessions = all_sessions;
    ev.revoked_at = mentis__auth_timestamp(pool, mentis__auth_now() * 1000);
    ev.reason = mentis_pool_strdup(pool, reason);
    char subject[128];
    snprintf(subject, sizeof subject, "mentis.v1.evt.auth.session_revoked.%s", tenant);
    mentis__auth_publish(ctx, subject, &ev.base);
}

mentis_status_t mentis__auth_op_logout(mentis_ctx_t *ctx, const ProtobufCMessage *req,
                                       ProtobufCMessage *resp)
{
    (void)resp;
    const Mentis__V1__Auth__LogoutRequest *in = (const Mentis__V1__Auth__LogoutRequest *)req;
    mentis_auth_t *app = mentis__auth_app(ctx);
    mentis_pool_t *pool = mentis_ctx_pool(ctx);
    mentis_db_conn_t *conn = mentis_ctx_db(ctx);
    const char *tenant = mentis_ctx_tenant(ctx);
    const char *user_id = mentis_ctx_principal(ctx);
    const char *session = mentis_ctx_header(ctx, MENTIS_HDR_SESSION);
    if (user_id == NULL || user_id[0] == '\0')
        return mentis_err_set(MENTIS_ERR_UNAUTHENTICATED, NULL, "logout needs a signed-in caller");
    char hash[67] = "";
    if (in->refresh_token != NULL && in->refresh_token[0] != '\0')
        mentis__auth_refresh_hash(app, in->refresh_token, hash);
    const char *p[] = {user_id, session, hash[0] ? hash : NULL, in->all_devices ? "t" : "f"};
    PGresult *res = NULL;
    /* The caller's own sessions only: the session of the header, that of the refresh
     * token, or all of them. */
    mentis_status_t st = mentis_db_exec(
        conn,
        "UPDATE auth.sessions SET revoked_at = now(), revoked_reason = 'logout' "
        "WHERE user_id = $1 AND revoked_at IS NULL AND ($4::bool OR id::text = $2 OR id IN "
        "(SELECT session_id FROM auth.refresh_tokens WHERE token_hash = $3::bytea AND user_id = "
        "$1)) "
        "RETURNING id",
        4, p, &res);
    if (st != MENTIS_OK)
        return st;
    int n = PQntuples(res);
    char **ids = mentis_pool_calloc(pool, (size_t)n + 1, sizeof *ids);
    for (int i = 0; ids != NULL && i < n; i++)
        ids[i] = mentis_pool_strdup(pool, PQgetvalue(res, i, 0));
    PQclear(res);
    if (ids == NULL)
        return mentis_err_set(MENTIS_ERR_NO_MEMORY, NULL, "logout: out of memory");
    if (n > 0) {
        st = mentis_db_exec(
            conn,
            "UPDATE auth.refresh_tokens SET revoked_at = now() WHERE revoked_at IS NULL "
            "AND session_id IN (SELECT id FROM auth.sessions WHERE user_id = $1 "
            "AND revoked_at IS NOT NULL)",
            1, p, NULL);
        if (st == MENTIS_OK)
            st = mentis__auth_audit(ctx, conn, tenant, user_id, "logout",
                                    in->all_devices ? "{\"all_devices\":true}" : NULL);
        if (st != MENTIS_OK)
            return st;
        Mentis__V1__Auth__SessionRevoked *ev = mentis_pool_calloc(pool, 1, sizeof *ev);
        if (ev == NULL)
            return mentis_err_set(MENTIS_ERR_NO_MEMORY, NULL, "logout: out of memory");
        mentis__v1__auth__session_revoked__init(ev);
        ev->tenant_id = mentis_pool_strdup(pool, tenant);
        ev->user_id = mentis_pool_strdup(pool, user_id);
        ev->session_ids = ids;
        ev->n_session_ids = (size_t)n;
        ev->all_sessions = in->all_devices;
        ev->revoked_at = mentis__auth_timestamp(pool, mentis__auth_now() * 1000);
        ev->reason = mentis_pool_strdup(pool, "logout");
        st = mentis_ctx_publish_event(ctx, "session_revoked", tenant, &ev->base);
    }
    return st;
}
