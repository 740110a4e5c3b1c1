/*
 * A small service on the real runtime, used by test_service.c to exercise what every
 * mentis service gets: mailboxes and load shedding, tenant transactions, errors with field
 * details, the service API and draining. Its operations reuse the health messages so the
 * test needs no proto of its own.
 */
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "mentis/service.h"
#include "mentis/v1/common.pb-c.h"

/* "sleep": waits Test-Sleep-Ms milliseconds, then answers with the tenant as `service`. */
static mentis_status_t op_sleep(mentis_ctx_t *ctx, const ProtobufCMessage *req, ProtobufCMessage *resp)
{
    (void)req;
    const char *ms = mentis_ctx_header(ctx, "Test-Sleep-Ms");
    long n = ms ? strtol(ms, NULL, 10) : 0;
    struct timespec ts = {.tv_sec = n / 1000, .tv_nsec = (n % 1000) * 1000000};
    nanosleep(&ts, NULL);
    Mentis__V1__HealthResponse *r = (Mentis__V1__HealthResponse *)resp;
    r->service = mentis_pool_strdup(mentis_ctx_pool(ctx), mentis_ctx_tenant(ctx) ? mentis_ctx_tenant(ctx) : "");
    return MENTIS_OK;
}

/* "tenant": reads mentis.tenant_id back from inside the transaction, and counts rows of
 * kb.notes it can see (Row-Level Security decides which). */
static mentis_status_t op_tenant(mentis_ctx_t *ctx, const ProtobufCMessage *req, ProtobufCMessage *resp)
{
    (void)req;
    PGresult *res = NULL;
    mentis_status_t st = mentis_db_exec(mentis_ctx_db(ctx),
                                        "SELECT current_setting('mentis.tenant_id'), count(*) FROM kb.notes",
                                        0, NULL, &res);
    if (st != MENTIS_OK)
        return st;
    Mentis__V1__HealthResponse *r = (Mentis__V1__HealthResponse *)resp;
    r->service = mentis_pool_strdup(mentis_ctx_pool(ctx), PQgetvalue(res, 0, 0));
    r->uptime_seconds = strtoll(PQgetvalue(res, 0, 1), NULL, 10);
    PQclear(res);
    return MENTIS_OK;
}

/* "fail": a validation error with two field problems. */
static mentis_status_t op_fail(mentis_ctx_t *ctx, const ProtobufCMessage *req, ProtobufCMessage *resp)
{
    (void)req;
    (void)resp;
    mentis_ctx_field_error(ctx, "email", "must be an email address");
    mentis_ctx_field_error(ctx, "password", "must be 8 to 128 characters");
    return mentis_err_set(MENTIS_ERR_INVALID_ARGUMENT, "validation_failed", "2 fields are invalid");
}

/* "crash-db": an INSERT that violates a constraint inside the transaction: rolled back. */
static mentis_status_t op_insert(mentis_ctx_t *ctx, const ProtobufCMessage *req, ProtobufCMessage *resp)
{
    (void)req;
    (void)resp;
    const char *params[] = {mentis_ctx_tenant(ctx), mentis_ctx_header(ctx, "Test-Note")};
    mentis_status_t st = mentis_db_exec(mentis_ctx_db(ctx),
                                        "INSERT INTO kb.notes (tenant_id, body) VALUES ($1, $2)", 2,
                                        params, NULL);
    if (st != MENTIS_OK)
        return st;
    /* Fail after writing when asked: the runtime must roll the write back. */
    if (mentis_ctx_header(ctx, "Test-Fail-After-Write"))
        return mentis_err_set(MENTIS_ERR_CONFLICT, NULL, "failing after the write");
    return MENTIS_OK;
}

#define HREQ &mentis__v1__health_request__descriptor
#define HRESP &mentis__v1__health_response__descriptor
static const mentis_op_t ops[] = {
    {"sleep", HREQ, HRESP, op_sleep, 0},
    {"tenant", HREQ, HRESP, op_tenant, MENTIS_OP_DB | MENTIS_OP_TENANT},
    {"fail", HREQ, HRESP, op_fail, 0},
    {"note.create", HREQ, HRESP, op_insert, MENTIS_OP_DB | MENTIS_OP_TENANT},
};

static const mentis_service_def_t with_db = {
    .name = "kb",
    .description = "runtime test service",
    .ops = ops,
    .nops = sizeof ops / sizeof ops[0],
    .default_admin_port = 0,
    .schema = "kb",
};

int main(int argc, char **argv)
{
    mentis_service_def_t def = with_db;
    /* Without a database, the DB operations are left out. */
    if (getenv("TEST_NO_DB")) {
        def.schema = NULL;
        def.nops = 1;
        static const mentis_op_t nodb[] = {{"sleep", HREQ, HRESP, op_sleep, 0}, {"fail", HREQ, HRESP, op_fail, 0}};
        def.ops = nodb;
        def.nops = 2;
        def.name = "sample";
    }
    return mentis_service_main(&def, argc, argv);
}
