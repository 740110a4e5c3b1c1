/*
 * Tenants, for platform admins only. The tenants table is under Row-Level Security like
 * every other: a transaction sees its own tenant's row. These two operations, and nothing
 * else, widen that to every tenant by setting mentis.platform_admin for their transaction
 * only, which the second policy of migration 0003 admits; no other table honours it.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "admin.h"

#define TENANT_COLUMNS                                                                             \
    "id, slug, name, is_active, floor(extract(epoch FROM created_at) * 1000)::bigint"

/* Opens every tenant's row to this transaction; only once the caller is known to be a
 * platform admin. */
static mentis_status_t platform_scope(mentis_ctx_t *ctx)
{
    return mentis_db_exec(mentis_ctx_db(ctx),
                          "SELECT set_config('mentis.platform_admin', 'on', true)", 0, NULL, NULL);
}

static Mentis__V1__Auth__Tenant *read_tenant(mentis_pool_t *pool, const PGresult *res, int row,
                                             Mentis__V1__Auth__Tenant *t)
{
    if (t == NULL && (t = mentis_pool_calloc(pool, 1, sizeof *t)) == NULL)
        return NULL;
    mentis__v1__auth__tenant__init(t);
    t->id = mentis_pool_strdup(pool, PQgetvalue(res, row, 0));
    t->slug = mentis_pool_strdup(pool, PQgetvalue(res, row, 1));
    t->name = mentis_pool_strdup(pool, PQgetvalue(res, row, 2));
    t->is_active = PQgetvalue(res, row, 3)[0] == 't';
    t->created_at = mentis__auth_timestamp(pool, strtoll(PQgetvalue(res, row, 4), NULL, 10));
    return t->id && t->slug && t->name && t->created_at ? t : NULL;
}

mentis_status_t mentis__auth_op_tenants_list(mentis_ctx_t *ctx, const ProtobufCMessage *req,
                                             ProtobufCMessage *resp)
{
    const Mentis__V1__Auth__ListTenantsRequest *in =
        (const Mentis__V1__Auth__ListTenantsRequest *)req;
    Mentis__V1__Auth__ListTenantsResponse *out = (Mentis__V1__Auth__ListTenantsResponse *)resp;
    mentis_status_t st = mentis__auth_admin_require(ctx, true);
    if (st != MENTIS_OK)
        return st;
    mentis_page_t page;
    if ((st = mentis_page_read(ctx, in->limit, in->cursor, false, &page)) != MENTIS_OK)
        return st;
    if ((st = platform_scope(ctx)) != MENTIS_OK)
        return st;
    mentis_pool_t *pool = mentis_ctx_pool(ctx);
    char limit[16];
    snprintf(limit, sizeof limit, "%d", page.limit + 1);
    const char *p[] = {page.has_after ? page.after_id : NULL, limit};
    PGresult *res = NULL;
    st = mentis_db_exec(mentis_ctx_db(ctx),
                        "SELECT " TENANT_COLUMNS " FROM auth.tenants "
                        "WHERE ($1::uuid IS NULL OR id > $1::uuid) ORDER BY id LIMIT $2::int",
                        2, p, &res);
    if (st != MENTIS_OK)
        return st;
    int n = PQntuples(res);
    int shown = n > page.limit ? page.limit : n;
    out->items = mentis_pool_calloc(pool, (size_t)shown + 1, sizeof *out->items);
    for (int i = 0; out->items != NULL && i < shown; i++) {
        if ((out->items[i] = read_tenant(pool, res, i, NULL)) == NULL)
            break;
        out->n_items++;
    }
    if (out->n_items != (size_t)shown)
        st = mentis_err_set(MENTIS_ERR_NO_MEMORY, NULL, "tenants: out of memory");
    else if (n > page.limit && (out->next_cursor = mentis_page_cursor(
                                    pool, out->items[shown - 1]->id, 0, false)) == NULL)
        st = mentis_err_set(MENTIS_ERR_NO_MEMORY, NULL, "tenants: out of memory");
    PQclear(res);
    return st;
}

/*
 * Creates the new tenant's first admin: the transaction moves to that tenant for the insert
 * and its audit entry (Row-Level Security admits no other), then back to the caller's.
 * Argon2 runs with the transaction open; creating tenants is rare.
 */
static mentis_status_t first_admin(mentis_ctx_t *ctx, const char *tenant, const char *email,
                                   const char *password, const char *name)
{
    char hash[MENTIS_CRYPTO_PWHASH_STRBYTES];
    mentis_status_t st = mentis__auth_password_hash(mentis__auth_app(ctx), password, hash);
    if (st != MENTIS_OK)
        return st;
    mentis_db_conn_t *conn = mentis_ctx_db(ctx);
    char id[37];
    mentis_crypto_uuid_v7(id);
    const char *scope[] = {tenant};
    const char *p[] = {id, tenant, email, hash, name};
    st = mentis_db_exec(conn, "SELECT set_config('mentis.tenant_id', $1, true)", 1, scope, NULL);
    if (st == MENTIS_OK)
        st = mentis_db_exec(conn,
                            "INSERT INTO auth.users (id, tenant_id, email, password_hash, "
                            "display_name, role, email_verified) "
                            "VALUES ($1, $2, $3, $4, $5, 'admin', true)",
                            5, p, NULL);
    if (st == MENTIS_OK) {
        const char *kv[] = {"email", email, "role", "admin", NULL};
        st = mentis__auth_admin_audit_in(ctx, conn, tenant, id, "user_created", kv);
    }
    const char *back[] = {mentis_ctx_tenant(ctx)};
    if (st == MENTIS_OK)
        st = mentis_db_exec(conn, "SELECT set_config('mentis.tenant_id', $1, true)", 1, back, NULL);
    return st;
}

static bool slug_valid(const char *s)
{
    size_t n = s ? strlen(s) : 0;
    if (n == 0 || n > 63 || s[0] == '-')
        return false;
    return strspn(s, "abcdefghijklmnopqrstuvwxyz0123456789-") == n;
}

mentis_status_t mentis__auth_op_tenants_create(mentis_ctx_t *ctx, const ProtobufCMessage *req,
                                               ProtobufCMessage *resp)
{
    const Mentis__V1__Auth__CreateTenantRequest *in =
        (const Mentis__V1__Auth__CreateTenantRequest *)req;
    Mentis__V1__Auth__Tenant *out = (Mentis__V1__Auth__Tenant *)resp;
    mentis_status_t st = mentis__auth_admin_require(ctx, true);
    if (st != MENTIS_OK)
        return st;
    bool ok = true;
    if (!slug_valid(in->slug)) {
        mentis_ctx_field_error(ctx, "slug",
                               "must be 1 to 63 lower-case letters, digits and '-', not "
                               "starting with '-'");
        ok = false;
    }
    if (!mentis__auth_text_valid(in->name, 100)) {
        mentis_ctx_field_error(ctx, "name",
                               "must be 1 to 100 characters without control characters");
        ok = false;
    }
    const char *admin_email =
        in->admin_email != NULL && in->admin_email[0] ? in->admin_email : NULL;
    const char *admin_name = in->admin_display_name != NULL && in->admin_display_name[0]
                                 ? in->admin_display_name
                                 : "Administrator";
    bool password_ok = true;
    if (admin_email != NULL) {
        if (!mentis__auth_email_valid(admin_email)) {
            mentis_ctx_field_error(ctx, "admin_email", "must be an email address");
            ok = false;
        }
        if (!mentis__auth_text_valid(admin_name, 100)) {
            mentis_ctx_field_error(ctx, "admin_display_name",
                                   "must be 1 to 100 characters without control characters");
            ok = false;
        }
        password_ok = mentis__auth_password_valid(ctx, "admin_password", in->admin_password);
    } else if (in->admin_password != NULL && in->admin_password[0]) {
        mentis_ctx_field_error(ctx, "admin_email", "is required with admin_password");
        ok = false;
    }
    if (!ok)
        return mentis_err_set(MENTIS_ERR_INVALID_ARGUMENT, NULL, "tenants.create: invalid fields");
    if (!password_ok)
        return mentis_err_set(MENTIS_ERR_INVALID_ARGUMENT, "weak_password",
                              "admin_password does not meet the policy");
    if ((st = platform_scope(ctx)) != MENTIS_OK)
        return st;
    char id[37];
    mentis_crypto_uuid_v7(id);
    const char *p[] = {id, in->slug, in->name};
    PGresult *res = NULL;
    st = mentis_db_exec(mentis_ctx_db(ctx),
                        "INSERT INTO auth.tenants (id, slug, name) VALUES ($1, $2, $3) "
                        "RETURNING " TENANT_COLUMNS,
                        3, p, &res);
    if (st == MENTIS_ERR_CONFLICT) {
        mentis_ctx_field_error(ctx, "slug", "is taken");
        return mentis_err_set(MENTIS_ERR_CONFLICT, "slug_exists", "tenant slug %s is taken",
                              in->slug);
    }
    if (st != MENTIS_OK)
        return st;
    bool read = read_tenant(mentis_ctx_pool(ctx), res, 0, out) != NULL;
    PQclear(res);
    if (!read)
        return mentis_err_set(MENTIS_ERR_NO_MEMORY, NULL, "tenants.create: out of memory");
    if (admin_email != NULL &&
        (st = first_admin(ctx, id, admin_email, in->admin_password, admin_name)) != MENTIS_OK)
        return st;
    /* Recorded in the platform admin's own tenant, where the action was taken. */
    const char *kv[] = {"tenant_id", id, "slug", in->slug, "name", in->name, NULL};
    return mentis__auth_admin_audit(ctx, mentis_ctx_db(ctx), NULL, "tenant_created", kv);
}
