/* Transactions for operations that choose their tenant, time, and events sent at once. */
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "auth.h"

const char *mentis__auth_public_tenant(const mentis_ctx_t *ctx)
{
    const char *t = mentis_ctx_tenant(ctx);
    return t != NULL && t[0] != '\0' ? t : mentis__auth_app(ctx)->default_tenant;
}

int64_t mentis__auth_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec;
}

mentis_status_t mentis__auth_tx_begin(mentis_ctx_t *ctx, const char *tenant, mentis_db_conn_t **out)
{
    mentis_db_t *db = mentis_service_db(mentis_ctx_service(ctx));
    int64_t deadline = mentis_ctx_deadline_ms(ctx);
    if (deadline == 0)
        deadline = mentis__auth_now() * 1000 + 5000;
    mentis_db_conn_t *conn = NULL;
    mentis_status_t st = mentis_db_acquire(db, deadline, &conn);
    if (st != MENTIS_OK)
        return st;
    /* A tenant that is not a UUID would fail the cast in every policy: say so plainly. */
    uint8_t id[16];
    if (tenant != NULL && !mentis_crypto_uuid_parse(tenant, id)) {
        mentis_db_release(db, conn);
        return mentis_err_set(MENTIS_ERR_INVALID_ARGUMENT, "invalid_tenant",
                              "tenant is not a UUID");
    }
    if ((st = mentis_db_tx_begin(conn, tenant)) != MENTIS_OK) {
        mentis_db_release(db, conn);
        return st;
    }
    /* A tenant named by a public request (X-Tenant) must exist and be active; so must the
     * tenant of a token, or disabling a tenant would not stop its users. Row-Level Security
     * shows this transaction its own tenant's row only. */
    if (tenant != NULL) {
        PGresult *res = NULL;
        st = mentis_db_exec(conn, "SELECT is_active FROM auth.tenants", 0, NULL, &res);
        bool found = st == MENTIS_OK && PQntuples(res) == 1;
        bool active = found && strcmp(PQgetvalue(res, 0, 0), "t") == 0;
        PQclear(res);
        if (st == MENTIS_OK && !active)
            st = found ? mentis_err_set(MENTIS_ERR_PERMISSION_DENIED, "tenant_inactive",
                                        "this tenant is not active")
                       : mentis_err_set(MENTIS_ERR_INVALID_ARGUMENT, "invalid_tenant",
                                        "no tenant has this id");
        if (st != MENTIS_OK) {
            mentis_db_tx_rollback(conn);
            mentis_db_release(db, conn);
            return st;
        }
    }
    *out = conn;
    return MENTIS_OK;
}

mentis_status_t mentis__auth_tx_end(mentis_ctx_t *ctx, mentis_db_conn_t *conn, mentis_status_t st,
                                    bool keep)
{
    mentis_db_t *db = mentis_service_db(mentis_ctx_service(ctx));
    if (st == MENTIS_OK) {
        st = mentis_db_tx_commit(conn);
    } else if (keep) {
        /* Keep the refusal's code and message across the commit. */
        char code[64], msg[512];
        snprintf(code, sizeof code, "%s", mentis_err_code());
        snprintf(msg, sizeof msg, "%s", mentis_err_msg());
        mentis_status_t cst = mentis_db_tx_commit(conn);
        if (cst != MENTIS_OK)
            st = cst;
        else
            mentis_err_set(st, code, "%s", msg);
    } else {
        mentis_db_tx_rollback(conn);
    }
    mentis_db_release(db, conn);
    return st;
}

Mentis__V1__Timestamp *mentis__auth_timestamp(mentis_pool_t *pool, int64_t ms)
{
    Mentis__V1__Timestamp *t = mentis_pool_calloc(pool, 1, sizeof *t);
    if (t == NULL)
        return NULL;
    mentis__v1__timestamp__init(t);
    t->seconds = ms / 1000;
    t->nanos = (int32_t)(ms % 1000) * 1000000;
    return t;
}

void mentis__auth_publish(mentis_ctx_t *ctx, const char *subject, const ProtobufCMessage *msg)
{
    mentis_pool_t *pool = mentis_ctx_pool(ctx);
    size_t n = protobuf_c_message_get_packed_size(msg);
    uint8_t *buf = mentis_pool_alloc(pool, n ? n : 1);
    if (buf == NULL)
        return;
    protobuf_c_message_pack(msg, buf);
    const char *rid = mentis_ctx_request_id(ctx);
    mentis_header_t h[] = {{MENTIS_HDR_REQUEST_ID, rid ? rid : ""}};
    (void)mentis_bus_publish(mentis_service_bus(mentis_ctx_service(ctx)), subject, NULL, h,
                             rid ? 1 : 0, buf, n);
}
