/* The caller's sessions and devices: listed, one session revoked, a device forgotten. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "account.h"

static Mentis__V1__Auth__DeviceType device_type(const char *t)
{
    if (strcmp(t, "ios") == 0)
        return MENTIS__V1__AUTH__DEVICE_TYPE__DEVICE_TYPE_IOS;
    if (strcmp(t, "android") == 0)
        return MENTIS__V1__AUTH__DEVICE_TYPE__DEVICE_TYPE_ANDROID;
    if (strcmp(t, "web") == 0)
        return MENTIS__V1__AUTH__DEVICE_TYPE__DEVICE_TYPE_WEB;
    if (strcmp(t, "desktop") == 0)
        return MENTIS__V1__AUTH__DEVICE_TYPE__DEVICE_TYPE_DESKTOP;
    return MENTIS__V1__AUTH__DEVICE_TYPE__DEVICE_TYPE_UNSPECIFIED;
}

static Mentis__V1__Timestamp *ts(mentis_pool_t *pool, const PGresult *res, int row, int col)
{
    if (PQgetisnull(res, row, col))
        return NULL;
    return mentis__auth_timestamp(pool, strtoll(PQgetvalue(res, row, col), NULL, 10));
}

mentis_status_t mentis__auth_op_sessions_list(mentis_ctx_t *ctx, const ProtobufCMessage *req,
                                              ProtobufCMessage *resp)
{
    (void)req;
    Mentis__V1__Auth__ListSessionsResponse *out = (Mentis__V1__Auth__ListSessionsResponse *)resp;
    mentis_pool_t *pool = mentis_ctx_pool(ctx);
    const char *user_id = NULL, *tenant = NULL;
    mentis_status_t st = mentis__auth_account_caller(ctx, &user_id, &tenant);
    if (st != MENTIS_OK)
        return st;
    const char *current = mentis_ctx_header(ctx, MENTIS_HDR_SESSION);
    const char *p[] = {user_id};
    PGresult *res = NULL;
    /* Active ones only; 500 is far more than anyone has (sessions expire). */
    st = mentis_db_exec(mentis_ctx_db(ctx),
                        "SELECT s.id, s.ip_address, s.user_agent, d.id, d.name, d.type, "
                        "floor(extract(epoch FROM s.created_at) * 1000)::bigint, "
                        "floor(extract(epoch FROM s.last_activity_at) * 1000)::bigint "
                        "FROM auth.sessions s LEFT JOIN auth.devices d ON d.id = s.device_id "
                        "WHERE s.user_id = $1 AND s.revoked_at IS NULL AND s.expires_at > now() "
                        "ORDER BY s.last_activity_at DESC, s.id DESC LIMIT 500",
                        1, p, &res);
    if (st != MENTIS_OK)
        return st;
    int n = PQntuples(res);
    Mentis__V1__Auth__Session **items = mentis_pool_calloc(pool, (size_t)n + 1, sizeof *items);
    for (int i = 0; items != NULL && i < n; i++) {
        Mentis__V1__Auth__Session *s = mentis_pool_calloc(pool, 1, sizeof *s);
        if (s == NULL) {
            items = NULL;
            break;
        }
        mentis__v1__auth__session__init(s);
        s->id = mentis_pool_strdup(pool, PQgetvalue(res, i, 0));
        s->ip_address = mentis_pool_strdup(pool, PQgetvalue(res, i, 1));
        s->user_agent = mentis_pool_strdup(pool, PQgetvalue(res, i, 2));
        if (!PQgetisnull(res, i, 3)) {
            Mentis__V1__Auth__Device *d = mentis_pool_calloc(pool, 1, sizeof *d);
            if (d != NULL) {
                mentis__v1__auth__device__init(d);
                d->id = mentis_pool_strdup(pool, PQgetvalue(res, i, 3));
                d->name = mentis_pool_strdup(pool, PQgetvalue(res, i, 4));
                d->type = device_type(PQgetvalue(res, i, 5));
                s->device = d;
            }
        }
        s->created_at = ts(pool, res, i, 6);
        s->last_activity_at = ts(pool, res, i, 7);
        s->current = current != NULL && strcmp(current, s->id) == 0;
        items[i] = s;
    }
    PQclear(res);
    if (items == NULL)
        return mentis_err_set(MENTIS_ERR_NO_MEMORY, NULL, "sessions.list: out of memory");
    out->items = items;
    out->n_items = (size_t)n;
    return MENTIS_OK;
}

/* An id from the path: a UUID, or 400 naming the field. */
static mentis_status_t path_id(mentis_ctx_t *ctx, const char *id)
{
    uint8_t b[16];
    if (id == NULL || !mentis_crypto_uuid_parse(id, b)) {
        mentis_ctx_field_error(ctx, "id", "must be a UUID");
        return mentis_err_set(MENTIS_ERR_INVALID_ARGUMENT, NULL, "invalid fields");
    }
    return MENTIS_OK;
}

/* The event for sessions ended in this transaction, sent after the commit. */
static mentis_status_t announce(mentis_ctx_t *ctx, const char *tenant, const char *user_id,
                                char **ids, size_t n, const char *reason)
{
    mentis_pool_t *pool = mentis_ctx_pool(ctx);
    Mentis__V1__Auth__SessionRevoked *ev = mentis_pool_calloc(pool, 1, sizeof *ev);
    if (ev == NULL)
        return mentis_err_set(MENTIS_ERR_NO_MEMORY, NULL, "out of memory");
    mentis__v1__auth__session_revoked__init(ev);
    ev->tenant_id = mentis_pool_strdup(pool, tenant);
    ev->user_id = mentis_pool_strdup(pool, user_id);
    ev->session_ids = ids;
    ev->n_session_ids = n;
    ev->revoked_at = mentis__auth_timestamp(pool, mentis__auth_now() * 1000);
    ev->reason = mentis_pool_strdup(pool, reason);
    return mentis_ctx_publish_event(ctx, "session_revoked", tenant, &ev->base);
}

mentis_status_t mentis__auth_op_sessions_revoke(mentis_ctx_t *ctx, const ProtobufCMessage *req,
                                                ProtobufCMessage *resp)
{
    (void)resp;
    const Mentis__V1__Auth__RevokeSessionRequest *in =
        (const Mentis__V1__Auth__RevokeSessionRequest *)req;
    const char *user_id = NULL, *tenant = NULL;
    mentis_status_t st = mentis__auth_account_caller(ctx, &user_id, &tenant);
    if (st != MENTIS_OK || (st = path_id(ctx, in->id)) != MENTIS_OK)
        return st;
    mentis_db_conn_t *conn = mentis_ctx_db(ctx);
    char **ids = NULL;
    size_t n = 0;
    /* The caller's own only: another user's id (or another tenant's, hidden by Row-Level
     * Security) matches nothing and is 404, as is one already ended. */
    st = mentis__auth_sessions_revoke_where(ctx, conn, user_id, "s.id = $2::uuid", in->id,
                                            "session_revoked", &ids, &n);
    if (st != MENTIS_OK)
        return st;
    if (n == 0)
        return mentis_err_set(MENTIS_ERR_NOT_FOUND, NULL, "session %s not found", in->id);
    char detail[64];
    snprintf(detail, sizeof detail, "{\"session_id\":\"%s\"}", ids[0]);
    if ((st = mentis__auth_audit(ctx, conn, tenant, user_id, "session_revoked", detail)) !=
        MENTIS_OK)
        return st;
    return announce(ctx, tenant, user_id, ids, n, "session_revoked");
}

mentis_status_t mentis__auth_op_devices_list(mentis_ctx_t *ctx, const ProtobufCMessage *req,
                                             ProtobufCMessage *resp)
{
    (void)req;
    Mentis__V1__Auth__ListDevicesResponse *out = (Mentis__V1__Auth__ListDevicesResponse *)resp;
    mentis_pool_t *pool = mentis_ctx_pool(ctx);
    const char *user_id = NULL, *tenant = NULL;
    mentis_status_t st = mentis__auth_account_caller(ctx, &user_id, &tenant);
    if (st != MENTIS_OK)
        return st;
    const char *p[] = {user_id};
    PGresult *res = NULL;
    st = mentis_db_exec(
        mentis_ctx_db(ctx),
        "SELECT d.id, d.name, d.type, d.model, d.os_version, d.app_version, "
        "floor(extract(epoch FROM d.created_at) * 1000)::bigint, "
        "floor(extract(epoch FROM d.last_seen_at) * 1000)::bigint, "
        "(SELECT count(*) FROM auth.sessions s WHERE s.device_id = d.id AND s.revoked_at IS NULL "
        " AND s.expires_at > now()) "
        "FROM auth.devices d WHERE d.user_id = $1 ORDER BY d.last_seen_at DESC, d.id DESC "
        "LIMIT 500",
        1, p, &res);
    if (st != MENTIS_OK)
        return st;
    int n = PQntuples(res);
    Mentis__V1__Auth__UserDevice **items = mentis_pool_calloc(pool, (size_t)n + 1, sizeof *items);
    for (int i = 0; items != NULL && i < n; i++) {
        Mentis__V1__Auth__UserDevice *d = mentis_pool_calloc(pool, 1, sizeof *d);
        if (d == NULL) {
            items = NULL;
            break;
        }
        mentis__v1__auth__user_device__init(d);
        d->id = mentis_pool_strdup(pool, PQgetvalue(res, i, 0));
        d->name = mentis_pool_strdup(pool, PQgetvalue(res, i, 1));
        d->type = device_type(PQgetvalue(res, i, 2));
        d->model = mentis_pool_strdup(pool, PQgetvalue(res, i, 3));
        d->os_version = mentis_pool_strdup(pool, PQgetvalue(res, i, 4));
        d->app_version = mentis_pool_strdup(pool, PQgetvalue(res, i, 5));
        d->created_at = ts(pool, res, i, 6);
        d->last_seen_at = ts(pool, res, i, 7);
        d->active_sessions = atoi(PQgetvalue(res, i, 8));
        items[i] = d;
    }
    PQclear(res);
    if (items == NULL)
        return mentis_err_set(MENTIS_ERR_NO_MEMORY, NULL, "devices.list: out of memory");
    out->items = items;
    out->n_items = (size_t)n;
    return MENTIS_OK;
}

mentis_status_t mentis__auth_op_devices_delete(mentis_ctx_t *ctx, const ProtobufCMessage *req,
                                               ProtobufCMessage *resp)
{
    (void)resp;
    const Mentis__V1__Auth__DeleteDeviceRequest *in =
        (const Mentis__V1__Auth__DeleteDeviceRequest *)req;
    const char *user_id = NULL, *tenant = NULL;
    mentis_status_t st = mentis__auth_account_caller(ctx, &user_id, &tenant);
    if (st != MENTIS_OK || (st = path_id(ctx, in->id)) != MENTIS_OK)
        return st;
    mentis_db_conn_t *conn = mentis_ctx_db(ctx);
    /* Its sessions end first (deleting the device would only detach them). */
    char **ids = NULL;
    size_t n = 0;
    st = mentis__auth_sessions_revoke_where(ctx, conn, user_id, "s.device_id = $2::uuid", in->id,
                                            "device_deleted", &ids, &n);
    if (st != MENTIS_OK)
        return st;
    const char *p[] = {in->id, user_id};
    PGresult *res = NULL;
    st = mentis_db_exec(
        conn, "DELETE FROM auth.devices WHERE id = $1 AND user_id = $2 RETURNING id", 2, p, &res);
    if (st == MENTIS_OK && PQntuples(res) != 1)
        st = mentis_err_set(MENTIS_ERR_NOT_FOUND, NULL, "device %s not found", in->id);
    PQclear(res);
    if (st != MENTIS_OK)
        return st; /* rolled back, sessions included */
    char detail[96];
    snprintf(detail, sizeof detail, "{\"device_id\":\"%s\",\"sessions\":%zu}", in->id, n);
    if ((st = mentis__auth_audit(ctx, conn, tenant, user_id, "device_deleted", detail)) !=
        MENTIS_OK)
        return st;
    return n > 0 ? announce(ctx, tenant, user_id, ids, n, "device_deleted") : MENTIS_OK;
}
