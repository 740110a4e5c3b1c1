/*
 * The users of a tenant, as its admins manage them: list and search, create, change role
 * or state, unlock, delete. An admin cannot touch a platform admin nor grant that role;
 * nobody can demote, disable or delete themselves (an instance must not lose its last
 * admin by a slip). Disabling, demoting and deleting end the user's sessions at once.
 */
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "account.h"
#include "admin.h"

#define ADMIN_USER_COLUMNS                                                                         \
    MENTIS_AUTH_USER_COLUMNS ", u.is_active, "                                                     \
                             "floor(extract(epoch FROM u.locked_until) * 1000)::bigint, "          \
                             "u.locked_until > now(), "                                            \
                             "floor(extract(epoch FROM u.updated_at) * 1000)::bigint"

static bool read_user(mentis_pool_t *pool, const PGresult *res, int row,
                      Mentis__V1__Auth__AdminUser *a)
{
    Mentis__V1__Auth__User u;
    mentis__auth_user_read(pool, res, row, 0, &u);
    mentis__v1__auth__admin_user__init(a);
    a->id = u.id;
    a->email = u.email;
    a->email_verified = u.email_verified;
    a->display_name = u.display_name;
    a->avatar_url = u.avatar_url;
    a->locale = u.locale;
    a->timezone = u.timezone;
    a->role = u.role;
    a->tenant_id = u.tenant_id;
    a->created_at = u.created_at;
    a->last_login_at = u.last_login_at;
    a->version = u.version;
    int c = MENTIS_AUTH_USER_NCOLUMNS;
    a->is_active = PQgetvalue(res, row, c)[0] == 't';
    if (PQgetvalue(res, row, c + 2)[0] == 't') /* a lock that ran out is no lock */
        a->locked_until =
            mentis__auth_timestamp(pool, strtoll(PQgetvalue(res, row, c + 1), NULL, 10));
    a->updated_at = mentis__auth_timestamp(pool, strtoll(PQgetvalue(res, row, c + 3), NULL, 10));
    return a->id != NULL && a->email != NULL && a->display_name != NULL && a->avatar_url != NULL &&
           a->locale != NULL && a->timezone != NULL && a->tenant_id != NULL &&
           a->created_at != NULL && a->updated_at != NULL;
}

static bool display_name_valid(const char *s)
{
    return mentis__auth_text_valid(s, 100) && !isspace((unsigned char)s[0]) &&
           !isspace((unsigned char)s[strlen(s) - 1]);
}

static int role_rank(const char *role)
{
    return strcmp(role, "platform_admin") == 0 ? 2 : strcmp(role, "admin") == 0 ? 1 : 0;
}

/* A LIKE pattern matching q anywhere, its wildcards taken literally. */
static char *contains_pattern(mentis_pool_t *pool, const char *q)
{
    size_t n = strlen(q);
    char *p = mentis_pool_alloc(pool, 2 * n + 3);
    if (p == NULL)
        return NULL;
    size_t j = 0;
    p[j++] = '%';
    for (size_t i = 0; i < n; i++) {
        if (q[i] == '%' || q[i] == '_' || q[i] == '\\')
            p[j++] = '\\';
        p[j++] = q[i];
    }
    p[j++] = '%';
    p[j] = '\0';
    return p;
}

mentis_status_t mentis__auth_op_users_list(mentis_ctx_t *ctx, const ProtobufCMessage *req,
                                           ProtobufCMessage *resp)
{
    const Mentis__V1__Auth__ListUsersRequest *in = (const Mentis__V1__Auth__ListUsersRequest *)req;
    Mentis__V1__Auth__ListUsersResponse *out = (Mentis__V1__Auth__ListUsersResponse *)resp;
    mentis_status_t st = mentis__auth_admin_require(ctx, false);
    if (st != MENTIS_OK)
        return st;
    mentis_pool_t *pool = mentis_ctx_pool(ctx);
    mentis_page_t page;
    st = mentis_page_read(ctx, in->limit, in->cursor, false, &page);
    bool ok = st == MENTIS_OK;
    const char *q = in->q != NULL && in->q[0] != '\0' ? in->q : NULL;
    if (q != NULL && strlen(q) > 200) {
        mentis_ctx_field_error(ctx, "q", "must be at most 200 characters");
        ok = false;
    }
    const char *role = NULL;
    if (in->role != MENTIS__V1__AUTH__ROLE__ROLE_UNSPECIFIED &&
        (role = mentis__auth_role_str(in->role)) == NULL) {
        mentis_ctx_field_error(ctx, "role", "must be user, admin or platform_admin");
        ok = false;
    }
    if (!ok)
        return mentis_err_set(MENTIS_ERR_INVALID_ARGUMENT, NULL, "users: invalid filters");
    char *pattern = q != NULL ? contains_pattern(pool, q) : NULL;
    if (q != NULL && pattern == NULL)
        return mentis_err_set(MENTIS_ERR_NO_MEMORY, NULL, "users: out of memory");
    bool active_set =
        in->active_filter_case == MENTIS__V1__AUTH__LIST_USERS_REQUEST__ACTIVE_FILTER_IS_ACTIVE;
    char limit[16];
    snprintf(limit, sizeof limit, "%d", page.limit + 1);
    const char *p[] = {page.has_after ? page.after_id : NULL, limit, pattern, role,
                       active_set ? (in->is_active ? "t" : "f") : NULL};
    PGresult *res = NULL;
    st = mentis_db_exec(mentis_ctx_db(ctx),
                        "SELECT " ADMIN_USER_COLUMNS " FROM auth.users u "
                        "WHERE ($1::uuid IS NULL OR u.id > $1::uuid) "
                        "AND ($3::text IS NULL OR u.email ILIKE $3 ESCAPE '\\' "
                        "OR u.display_name ILIKE $3 ESCAPE '\\') "
                        "AND ($4::text IS NULL OR u.role = $4) "
                        "AND ($5::bool IS NULL OR u.is_active = $5::bool) "
                        "ORDER BY u.id LIMIT $2::int",
                        5, p, &res);
    if (st != MENTIS_OK)
        return st;
    int n = PQntuples(res);
    int shown = n > page.limit ? page.limit : n;
    out->items = mentis_pool_calloc(pool, (size_t)shown + 1, sizeof *out->items);
    for (int i = 0; out->items != NULL && i < shown; i++) {
        Mentis__V1__Auth__AdminUser *a = mentis_pool_calloc(pool, 1, sizeof *a);
        if (a == NULL || !read_user(pool, res, i, a))
            break;
        out->items[out->n_items++] = a;
    }
    if (out->n_items != (size_t)shown)
        st = mentis_err_set(MENTIS_ERR_NO_MEMORY, NULL, "users: out of memory");
    else if (n > page.limit && (out->next_cursor = mentis_page_cursor(
                                    pool, out->items[shown - 1]->id, 0, false)) == NULL)
        st = mentis_err_set(MENTIS_ERR_NO_MEMORY, NULL, "users: out of memory");
    PQclear(res);
    return st;
}

mentis_status_t mentis__auth_op_users_create(mentis_ctx_t *ctx, const ProtobufCMessage *req,
                                             ProtobufCMessage *resp)
{
    const Mentis__V1__Auth__CreateUserRequest *in =
        (const Mentis__V1__Auth__CreateUserRequest *)req;
    Mentis__V1__Auth__AdminUser *out = (Mentis__V1__Auth__AdminUser *)resp;
    mentis_status_t st = mentis__auth_admin_require(ctx, false);
    if (st != MENTIS_OK)
        return st;
    bool ok = true;
    if (!mentis__auth_email_valid(in->email)) {
        mentis_ctx_field_error(ctx, "email", "must be an email address");
        ok = false;
    }
    if (!display_name_valid(in->display_name)) {
        mentis_ctx_field_error(ctx, "display_name",
                               "must be 1 to 100 characters without control characters");
        ok = false;
    }
    const char *role = in->role == MENTIS__V1__AUTH__ROLE__ROLE_UNSPECIFIED
                           ? "user"
                           : mentis__auth_role_str(in->role);
    if (role == NULL) {
        mentis_ctx_field_error(ctx, "role", "must be user, admin or platform_admin");
        ok = false;
    }
    bool password_ok = mentis__auth_password_valid(ctx, "password", in->password);
    if (!ok)
        return mentis_err_set(MENTIS_ERR_INVALID_ARGUMENT, NULL, "users.create: invalid fields");
    if (!password_ok)
        return mentis_err_set(MENTIS_ERR_INVALID_ARGUMENT, "weak_password",
                              "password does not meet the policy");
    if (role_rank(role) == 2 && !mentis__auth_admin_is_platform(ctx))
        return mentis_err_set(MENTIS_ERR_PERMISSION_DENIED, NULL,
                              "only platform admins may create platform admins");

    /* Argon2 before the transaction: the connection need not wait for it. */
    char hash[MENTIS_CRYPTO_PWHASH_STRBYTES];
    if ((st = mentis__auth_password_hash(mentis__auth_app(ctx), in->password, hash)) != MENTIS_OK)
        return st;
    const char *tenant = mentis_ctx_tenant(ctx);
    mentis_db_conn_t *conn = NULL;
    if ((st = mentis__auth_tx_begin(ctx, tenant, &conn)) != MENTIS_OK)
        return st;
    char id[37];
    mentis_crypto_uuid_v7(id);
    /* An admin vouches for the address: no verification mail. */
    const char *p[] = {id, tenant, in->email, hash, in->display_name, role};
    PGresult *res = NULL;
    st = mentis_db_exec(conn,
                        "INSERT INTO auth.users AS u (id, tenant_id, email, password_hash, "
                        "display_name, role, email_verified) VALUES ($1, $2, $3, $4, $5, $6, true) "
                        "RETURNING " ADMIN_USER_COLUMNS,
                        6, p, &res);
    if (st == MENTIS_ERR_CONFLICT) {
        if (strcmp(mentis_db_err_constraint(), "users_tenant_email_key") == 0) {
            mentis_ctx_field_error(ctx, "email", "is already registered");
            st = mentis_err_set(MENTIS_ERR_CONFLICT, "email_exists", "email is already registered");
        } else {
            st = mentis_err_set(MENTIS_ERR_INVALID_ARGUMENT, "invalid_tenant", "unknown tenant %s",
                                tenant);
        }
    }
    if (st == MENTIS_OK && !read_user(mentis_ctx_pool(ctx), res, 0, out))
        st = mentis_err_set(MENTIS_ERR_NO_MEMORY, NULL, "users.create: out of memory");
    PQclear(res);
    if (st == MENTIS_OK) {
        const char *kv[] = {"email", in->email, "role", role, NULL};
        st = mentis__auth_admin_audit(ctx, conn, id, "user_created", kv);
    }
    return mentis__auth_tx_end(ctx, conn, st, false);
}

/* The account an admin acts on, locked for the change. */
typedef struct {
    char role[16];
    bool is_active;
    char *email;
} target_t;

/* Finds the target in the caller's tenant and checks that the caller may change it. */
static mentis_status_t target_lock(mentis_ctx_t *ctx, const char *id, target_t *t)
{
    const char *p[] = {id};
    PGresult *res = NULL;
    mentis_status_t st = mentis_db_exec(
        mentis_ctx_db(ctx),
        "SELECT role, is_active, email FROM auth.users WHERE id = $1 FOR UPDATE", 1, p, &res);
    if (st != MENTIS_OK)
        return st;
    if (PQntuples(res) != 1) {
        PQclear(res);
        return mentis_err_set(MENTIS_ERR_NOT_FOUND, NULL, "user %s not found", id);
    }
    snprintf(t->role, sizeof t->role, "%s", PQgetvalue(res, 0, 0));
    t->is_active = PQgetvalue(res, 0, 1)[0] == 't';
    t->email = mentis_pool_strdup(mentis_ctx_pool(ctx), PQgetvalue(res, 0, 2));
    PQclear(res);
    if (t->email == NULL)
        return mentis_err_set(MENTIS_ERR_NO_MEMORY, NULL, "user: out of memory");
    if (role_rank(t->role) == 2 && !mentis__auth_admin_is_platform(ctx))
        return mentis_err_set(MENTIS_ERR_PERMISSION_DENIED, NULL,
                              "only platform admins may change a platform admin");
    return MENTIS_OK;
}

static bool is_caller(const mentis_ctx_t *ctx, const char *id)
{
    const char *caller = mentis__auth_admin_caller(ctx);
    uint8_t a[16], b[16];
    return caller != NULL && mentis_crypto_uuid_parse(caller, a) &&
           mentis_crypto_uuid_parse(id, b) && memcmp(a, b, 16) == 0;
}

static mentis_status_t refuse_self(void)
{
    return mentis_err_set(MENTIS_ERR_PERMISSION_DENIED, "self_lockout",
                          "admins cannot demote, disable or delete their own account");
}

/* Ends every session of the user (and their refresh tokens) in this transaction. */
/*
 * The ids of the rows a statement returned (first column), in the pool. Gateways revoke
 * exactly these sessions: naming them, rather than "every session of the user until now",
 * keeps a sign-in made in the same second (a new session) working.
 */
static mentis_status_t returned_ids(mentis_ctx_t *ctx, const char *sql, const char *const *p,
                                    int np, const char ***ids, size_t *n)
{
    PGresult *res = NULL;
    mentis_status_t st = mentis_db_exec(mentis_ctx_db(ctx), sql, np, p, &res);
    if (st != MENTIS_OK)
        return st;
    *n = (size_t)PQntuples(res);
    *ids = mentis_pool_calloc(mentis_ctx_pool(ctx), *n + 1, sizeof **ids);
    for (size_t i = 0; *ids != NULL && i < *n; i++)
        (*ids)[i] = mentis_pool_strdup(mentis_ctx_pool(ctx), PQgetvalue(res, (int)i, 0));
    PQclear(res);
    if (*ids == NULL)
        return mentis_err_set(MENTIS_ERR_NO_MEMORY, NULL, "users: out of memory");
    return MENTIS_OK;
}

mentis_status_t mentis__auth_op_users_update(mentis_ctx_t *ctx, const ProtobufCMessage *req,
                                             ProtobufCMessage *resp)
{
    const Mentis__V1__Auth__UpdateUserRequest *in =
        (const Mentis__V1__Auth__UpdateUserRequest *)req;
    Mentis__V1__Auth__AdminUser *out = (Mentis__V1__Auth__AdminUser *)resp;
    mentis_status_t st = mentis__auth_admin_require(ctx, false);
    if (st != MENTIS_OK)
        return st;
    bool ok = mentis__auth_admin_id_valid(ctx, "id", in->id);
    const char *role = NULL;
    if (in->role != MENTIS__V1__AUTH__ROLE__ROLE_UNSPECIFIED &&
        (role = mentis__auth_role_str(in->role)) == NULL) {
        mentis_ctx_field_error(ctx, "role", "must be user, admin or platform_admin");
        ok = false;
    }
    const char *name =
        in->display_name != NULL && in->display_name[0] != '\0' ? in->display_name : NULL;
    if (name != NULL && !display_name_valid(name)) {
        mentis_ctx_field_error(ctx, "display_name",
                               "must be 1 to 100 characters without control characters");
        ok = false;
    }
    if (!ok)
        return mentis_err_set(MENTIS_ERR_INVALID_ARGUMENT, NULL, "users.update: invalid fields");
    bool active_set =
        in->active_change_case == MENTIS__V1__AUTH__UPDATE_USER_REQUEST__ACTIVE_CHANGE_IS_ACTIVE;
    target_t t;
    if ((st = target_lock(ctx, in->id, &t)) != MENTIS_OK)
        return st;
    if (role != NULL && role_rank(role) == 2 && !mentis__auth_admin_is_platform(ctx))
        return mentis_err_set(MENTIS_ERR_PERMISSION_DENIED, NULL,
                              "only platform admins may grant the role platform_admin");
    bool role_changes = role != NULL && strcmp(role, t.role) != 0;
    bool disables = active_set && !in->is_active && t.is_active;
    bool enables = active_set && in->is_active && !t.is_active;
    if (is_caller(ctx, in->id) &&
        ((role_changes && role_rank(role) < role_rank(t.role)) || disables))
        return refuse_self();

    const char *p[] = {in->id, role_changes ? role : NULL,
                       active_set ? (in->is_active ? "t" : "f") : NULL, in->unlock ? "t" : "f",
                       name};
    PGresult *res = NULL;
    st = mentis_db_exec(
        mentis_ctx_db(ctx),
        "UPDATE auth.users u SET role = coalesce($2, role), "
        "is_active = coalesce($3::bool, is_active), "
        "locked_until = CASE WHEN $4::bool THEN NULL ELSE locked_until END, "
        "failed_login_count = CASE WHEN $4::bool THEN 0 ELSE failed_login_count END, "
        "display_name = coalesce($5, display_name), version = version + 1, updated_at = now() "
        "WHERE u.id = $1 RETURNING " ADMIN_USER_COLUMNS,
        5, p, &res);
    if (st != MENTIS_OK)
        return st;
    bool read = PQntuples(res) == 1 && read_user(mentis_ctx_pool(ctx), res, 0, out);
    PQclear(res);
    if (!read)
        return mentis_err_set(MENTIS_ERR_INTERNAL, NULL, "user %s not read back", in->id);

    if (role_changes) {
        const char *kv[] = {"email", t.email, "from", t.role, "to", role, NULL};
        if ((st = mentis__auth_admin_audit(ctx, mentis_ctx_db(ctx), out->id, "role_changed", kv)) !=
            MENTIS_OK)
            return st;
    }
    if (disables || enables) {
        const char *kv[] = {"email", t.email, NULL};
        if ((st = mentis__auth_admin_audit(ctx, mentis_ctx_db(ctx), out->id,
                                           disables ? "user_disabled" : "user_enabled", kv)) !=
            MENTIS_OK)
            return st;
    }
    if (in->unlock) {
        const char *kv[] = {"email", t.email, NULL};
        if ((st = mentis__auth_admin_audit(ctx, mentis_ctx_db(ctx), out->id, "user_unlocked",
                                           kv)) != MENTIS_OK)
            return st;
    }
    if (name != NULL) {
        const char *kv[] = {"email", t.email, "display_name", name, NULL};
        if ((st = mentis__auth_admin_audit(ctx, mentis_ctx_db(ctx), out->id, "user_updated", kv)) !=
            MENTIS_OK)
            return st;
    }
    /* The role is in every access token: a demoted user signs in again to lose it. */
    const char *reason = disables                                              ? "user_disabled"
                         : role_changes && role_rank(role) < role_rank(t.role) ? "role_changed"
                                                                               : NULL;
    if (reason != NULL) {
        char **ids = NULL;
        size_t n = 0;
        if ((st = mentis__auth_sessions_revoke_where(ctx, mentis_ctx_db(ctx), out->id, "true",
                                                     NULL, reason, &ids, &n)) != MENTIS_OK)
            return st;
        /* Published at once, so last: only the commit is left, and should that fail the
         * gateways have refused a few tokens early, never accepted one too long. */
        if (n > 0)
            mentis__auth_publish_revoked(ctx, mentis_ctx_tenant(ctx), out->id,
                                         (const char *const *)ids, n, true, reason);
    }
    return MENTIS_OK;
}

mentis_status_t mentis__auth_op_users_delete(mentis_ctx_t *ctx, const ProtobufCMessage *req,
                                             ProtobufCMessage *resp)
{
    (void)resp;
    const Mentis__V1__Auth__DeleteUserRequest *in =
        (const Mentis__V1__Auth__DeleteUserRequest *)req;
    mentis_status_t st = mentis__auth_admin_require(ctx, false);
    if (st != MENTIS_OK)
        return st;
    if (!mentis__auth_admin_id_valid(ctx, "id", in->id))
        return mentis_err_set(MENTIS_ERR_INVALID_ARGUMENT, NULL, "users.delete: invalid id");
    target_t t;
    if ((st = target_lock(ctx, in->id, &t)) != MENTIS_OK)
        return st;
    if (is_caller(ctx, in->id))
        return refuse_self();
    const char *p[] = {in->id};
    const char **sessions = NULL;
    size_t nsessions = 0;
    if ((st = returned_ids(ctx,
                           "SELECT id FROM auth.sessions WHERE user_id = $1 AND revoked_at IS NULL",
                           p, 1, &sessions, &nsessions)) != MENTIS_OK)
        return st;
    PGresult *res = NULL;
    /* Sessions, devices and tokens go with the account (ON DELETE CASCADE). */
    st = mentis_db_exec(mentis_ctx_db(ctx), "DELETE FROM auth.users WHERE id = $1 RETURNING id", 1,
                        p, &res);
    if (st != MENTIS_OK)
        return st;
    char *id = mentis_pool_strdup(mentis_ctx_pool(ctx), PQgetvalue(res, 0, 0));
    PQclear(res);
    if (id == NULL)
        return mentis_err_set(MENTIS_ERR_NO_MEMORY, NULL, "users.delete: out of memory");
    const char *kv[] = {"email", t.email, "role", t.role, NULL};
    if ((st = mentis__auth_admin_audit(ctx, mentis_ctx_db(ctx), id, "user_deleted", kv)) !=
        MENTIS_OK)
        return st;
    /* Always published: with no live session it still tells gateways the account is gone
     * (they refuse its tokens issued until now; nobody can sign in as it again). */
    mentis__auth_publish_revoked(ctx, mentis_ctx_tenant(ctx), id, sessions, nsessions, true,
                                 "user_deleted");
    return MENTIS_OK;
}
