/* Accounts: register (which queues the verification mail), and the caller's own profile
 * (me.get, me.update). */
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "account.h"

Mentis__V1__Auth__Role mentis__auth_role_from_str(const char *role)
{
    if (strcmp(role, "platform_admin") == 0)
        return MENTIS__V1__AUTH__ROLE__ROLE_PLATFORM_ADMIN;
    if (strcmp(role, "admin") == 0)
        return MENTIS__V1__AUTH__ROLE__ROLE_ADMIN;
    return MENTIS__V1__AUTH__ROLE__ROLE_USER;
}

void mentis__auth_user_read(mentis_pool_t *pool, const PGresult *res, int row, int col,
                            Mentis__V1__Auth__User *u)
{
    mentis__v1__auth__user__init(u);
    u->id = mentis_pool_strdup(pool, PQgetvalue(res, row, col + 0));
    u->email = mentis_pool_strdup(pool, PQgetvalue(res, row, col + 1));
    u->email_verified = PQgetvalue(res, row, col + 2)[0] == 't';
    u->display_name = mentis_pool_strdup(pool, PQgetvalue(res, row, col + 3));
    u->avatar_url = mentis_pool_strdup(pool, PQgetvalue(res, row, col + 4));
    u->locale = mentis_pool_strdup(pool, PQgetvalue(res, row, col + 5));
    u->timezone = mentis_pool_strdup(pool, PQgetvalue(res, row, col + 6));
    u->role = mentis__auth_role_from_str(PQgetvalue(res, row, col + 7));
    u->tenant_id = mentis_pool_strdup(pool, PQgetvalue(res, row, col + 8));
    u->created_at = mentis__auth_timestamp(pool, strtoll(PQgetvalue(res, row, col + 9), NULL, 10));
    if (!PQgetisnull(res, row, col + 10))
        u->last_login_at =
            mentis__auth_timestamp(pool, strtoll(PQgetvalue(res, row, col + 10), NULL, 10));
    u->version = strtoll(PQgetvalue(res, row, col + 11), NULL, 10);
}

static bool clean_text(const char *s)
{
    for (; *s; s++)
        if ((unsigned char)*s < 0x20 || *s == 0x7f)
            return false;
    return true;
}

bool mentis__auth_text_valid(const char *s, size_t max)
{
    size_t n = s ? strlen(s) : 0;
    return n > 0 && n <= max && clean_text(s);
}

bool mentis__auth_email_valid(const char *e)
{
    size_t n = strlen(e);
    if (n < 3 || n > 254)
        return false;
    const char *at = strchr(e, '@');
    if (at == NULL || at == e || strchr(at + 1, '@') != NULL || at - e > 64)
        return false;
    const char *dot = strrchr(at + 1, '.');
    if (dot == NULL || dot == at + 1 || dot[1] == '\0')
        return false;
    for (const char *c = e; *c; c++)
        if ((unsigned char)*c <= 0x20 || (unsigned char)*c >= 0x7f)
            return false;
    return true;
}

static bool display_name_valid(mentis_ctx_t *ctx, const char *name)
{
    if (!mentis__auth_text_valid(name, 100)) {
        mentis_ctx_field_error(ctx, "display_name",
                               "must be 1 to 100 characters without control characters");
        return false;
    }
    return true;
}

static char *trim(mentis_pool_t *pool, const char *s)
{
    if (s == NULL)
        return mentis_pool_strdup(pool, "");
    while (isspace((unsigned char)*s))
        s++;
    size_t n = strlen(s);
    while (n > 0 && isspace((unsigned char)s[n - 1]))
        n--;
    return mentis_pool_strndup(pool, s, n);
}

mentis_status_t mentis__auth_op_register(mentis_ctx_t *ctx, const ProtobufCMessage *req,
                                         ProtobufCMessage *resp)
{
    const Mentis__V1__Auth__RegisterRequest *in = (const Mentis__V1__Auth__RegisterRequest *)req;
    Mentis__V1__Auth__RegisterResponse *out = (Mentis__V1__Auth__RegisterResponse *)resp;
    mentis_auth_t *app = mentis__auth_app(ctx);
    mentis_pool_t *pool = mentis_ctx_pool(ctx);
    char *email = trim(pool, in->email), *name = trim(pool, in->display_name);
    if (email == NULL || name == NULL)
        return mentis_err_set(MENTIS_ERR_NO_MEMORY, NULL, "register: out of memory");
    bool email_ok = mentis__auth_email_valid(email);
    if (!email_ok)
        mentis_ctx_field_error(ctx, "email", "must be an email address");
    bool name_ok = display_name_valid(ctx, name);
    bool password_ok = mentis__auth_password_valid(ctx, "password", in->password);
    if (!email_ok || !name_ok)
        return mentis_err_set(MENTIS_ERR_INVALID_ARGUMENT, NULL, "register: invalid fields");
    if (!password_ok)
        return mentis_err_set(MENTIS_ERR_INVALID_ARGUMENT, "weak_password",
                              "password: 8 to 128 characters, not a common password");

    /* Hash before the transaction: Argon2 takes a while, the connection need not wait. */
    char hash[MENTIS_CRYPTO_PWHASH_STRBYTES];
    mentis_status_t st = mentis__auth_password_hash(app, in->password, hash);
    if (st != MENTIS_OK)
        return st;
    const char *tenant = mentis__auth_public_tenant(ctx);
    mentis_db_conn_t *conn = NULL;
    if ((st = mentis__auth_tx_begin(ctx, tenant, &conn)) != MENTIS_OK)
        return st;
    char id[37];
    mentis_crypto_uuid_v7(id);
    const char *p[] = {id, tenant, email, hash, name};
    PGresult *res = NULL;
    st = mentis_db_exec(
        conn,
        "INSERT INTO auth.users AS u (id, tenant_id, email, password_hash, display_name) "
        "VALUES ($1, $2, $3, $4, $5) RETURNING " MENTIS_AUTH_USER_COLUMNS,
        5, p, &res);
    if (st == MENTIS_ERR_CONFLICT) {
        if (strcmp(mentis_db_err_constraint(), "users_tenant_email_key") == 0) {
            mentis_ctx_field_error(ctx, "email", "is already registered");
            st = mentis_err_set(MENTIS_ERR_CONFLICT, "email_exists", "email is already registered");
        } else {
            st = mentis_err_set(MENTIS_ERR_INVALID_ARGUMENT, "invalid_tenant", "unknown tenant %s",
                                tenant);
        }
    }
    if (st != MENTIS_OK)
        goto out;
    Mentis__V1__Auth__User *user = mentis_pool_calloc(pool, 1, sizeof *user);
    if (user == NULL) {
        st = mentis_err_set(MENTIS_ERR_NO_MEMORY, NULL, "register: out of memory");
        goto out;
    }
    mentis__auth_user_read(pool, res, 0, 0, user);
    if ((st = mentis__auth_session_open(ctx, conn, user, in->device, &out->device, &out->tokens)) !=
        MENTIS_OK)
        goto out;
    if ((st = mentis__auth_audit(ctx, conn, tenant, user->id, "register", NULL)) != MENTIS_OK)
        goto out;
    /* The verification mail goes out from the sender thread once this commits. */
    if ((st = mentis__auth_mail_enqueue(conn, tenant, "verify_email", user->email, user->id)) !=
        MENTIS_OK)
        goto out;
    out->user = user;
out:
    PQclear(res);
    st = mentis__auth_tx_end(ctx, conn, st, false);
    if (st == MENTIS_OK)
        mentis__auth_mail_wake();
    return st;
}

static const char *present(const char *s)
{
    return s != NULL && s[0] != '\0' ? s : NULL;
}

static mentis_status_t caller(const mentis_ctx_t *ctx, const char **user_id)
{
    *user_id = mentis_ctx_principal(ctx);
    uint8_t id[16];
    if (*user_id == NULL || !mentis_crypto_uuid_parse(*user_id, id))
        return mentis_err_set(MENTIS_ERR_UNAUTHENTICATED, NULL, "no signed-in caller");
    return MENTIS_OK;
}

mentis_status_t mentis__auth_op_me_get(mentis_ctx_t *ctx, const ProtobufCMessage *req,
                                       ProtobufCMessage *resp)
{
    (void)req;
    const char *user_id = NULL;
    mentis_status_t st = caller(ctx, &user_id);
    if (st != MENTIS_OK)
        return st;
    PGresult *res = NULL;
    const char *p[] = {user_id};
    st = mentis_db_exec(mentis_ctx_db(ctx),
                        "SELECT " MENTIS_AUTH_USER_COLUMNS
                        " FROM auth.users u WHERE u.id = $1 AND u.is_active",
                        1, p, &res);
    if (st != MENTIS_OK)
        return st;
    if (PQntuples(res) == 1)
        mentis__auth_user_read(mentis_ctx_pool(ctx), res, 0, 0, (Mentis__V1__Auth__User *)resp);
    else
        st = mentis_err_set(MENTIS_ERR_NOT_FOUND, NULL, "user %s not found", user_id);
    PQclear(res);
    return st;
}

mentis_status_t mentis__auth_op_me_update(mentis_ctx_t *ctx, const ProtobufCMessage *req,
                                          ProtobufCMessage *resp)
{
    const Mentis__V1__Auth__UpdateMeRequest *in = (const Mentis__V1__Auth__UpdateMeRequest *)req;
    const char *user_id = NULL;
    mentis_status_t st = caller(ctx, &user_id);
    if (st != MENTIS_OK)
        return st;
    /* Empty means "leave as it is" (see UpdateMeRequest). */
    const char *display_name = present(in->display_name), *avatar_url = present(in->avatar_url);
    const char *locale = present(in->locale), *timezone = present(in->timezone);
    bool has_version = in->expected_version != 0;
    bool ok = true;
    if (display_name != NULL)
        ok = display_name_valid(ctx, display_name) && ok;
    if (avatar_url != NULL && (strlen(avatar_url) > 2048 || !clean_text(avatar_url) ||
                               strncmp(avatar_url, "https://", 8) != 0)) {
        mentis_ctx_field_error(ctx, "avatar_url",
                               "must be an https URL of at most 2048 characters");
        ok = false;
    }
    if (locale != NULL &&
        (strlen(locale) > 35 || strspn(locale, "ABCDEFGHIJKLMNOPQRSTUVWXYZ"
                                               "abcdefghijklmnopqrstuvwxyz"
                                               "0123456789-_") != strlen(locale))) {
        mentis_ctx_field_error(ctx, "locale", "must be a BCP 47 language tag");
        ok = false;
    }
    if (timezone != NULL &&
        (strlen(timezone) > 64 || strspn(timezone, "ABCDEFGHIJKLMNOPQRSTUVWXYZ"
                                                   "abcdefghijklmnopqrstuvwxyz"
                                                   "0123456789-_/+") != strlen(timezone))) {
        mentis_ctx_field_error(ctx, "timezone", "must be an IANA time zone name");
        ok = false;
    }
    if (!ok)
        return mentis_err_set(MENTIS_ERR_INVALID_ARGUMENT, NULL, "me.update: invalid fields");
    char version[32];
    snprintf(version, sizeof version, "%lld", (long long)in->expected_version);
    const char *p[] = {user_id, display_name, avatar_url,
                       locale,  timezone,     has_version ? version : NULL};
    PGresult *res = NULL;
    st = mentis_db_exec(
        mentis_ctx_db(ctx),
        "UPDATE auth.users u SET display_name = coalesce($2, display_name), "
        "avatar_url = coalesce($3, avatar_url), locale = coalesce($4, locale), "
        "timezone = coalesce($5, timezone), version = version + 1, updated_at = now() "
        "WHERE u.id = $1 AND u.is_active AND ($6::bigint IS NULL OR u.version = $6::bigint) "
        "RETURNING " MENTIS_AUTH_USER_COLUMNS,
        6, p, &res);
    if (st != MENTIS_OK)
        return st;
    if (PQntuples(res) == 1) {
        mentis__auth_user_read(mentis_ctx_pool(ctx), res, 0, 0, (Mentis__V1__Auth__User *)resp);
    } else if (has_version) {
        st = mentis_err_set(MENTIS_ERR_PRECONDITION_FAILED, NULL,
                            "user %s is not at version %lld (or gone)", user_id,
                            (long long)in->expected_version);
    } else {
        st = mentis_err_set(MENTIS_ERR_NOT_FOUND, NULL, "user %s not found", user_id);
    }
    PQclear(res);
    return st;
}

mentis_status_t mentis__auth_op_whoami(mentis_ctx_t *ctx, const ProtobufCMessage *req,
                                       ProtobufCMessage *resp)
{
    (void)req;
    Mentis__V1__Auth__WhoamiResponse *out = (Mentis__V1__Auth__WhoamiResponse *)resp;
    mentis_pool_t *pool = mentis_ctx_pool(ctx);
    const struct {
        const char *header;
        char **field;
    } from[] = {
        {MENTIS_HDR_PRINCIPAL, &out->principal_id}, {MENTIS_HDR_TENANT, &out->tenant_id},
        {MENTIS_HDR_ROLES, &out->role},             {MENTIS_HDR_SESSION, &out->session_id},
        {MENTIS_HDR_DEVICE, &out->device_id},       {MENTIS_HDR_EMAIL, &out->email},
    };
    for (size_t i = 0; i < sizeof from / sizeof from[0]; i++) {
        const char *v = mentis_ctx_header(ctx, from[i].header);
        if (v != NULL && v[0] != '\0' && (*from[i].field = mentis_pool_strdup(pool, v)) == NULL)
            return mentis_err_set(MENTIS_ERR_NO_MEMORY, NULL, "whoami: out of memory");
    }
    if (out->role[0] == '\0')
        return mentis_err_set(MENTIS_ERR_UNAUTHENTICATED, "unauthenticated",
                              "whoami: the request names nobody");
    return MENTIS_OK;
}
