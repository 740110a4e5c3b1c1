/* The built-in "health" operation every service answers on mentis.v1.<name>.health. */
#include <stdio.h>
#include <time.h>

#include "mentis/v1/common.pb-c.h"
#include "service_internal.h"

static Mentis__V1__HealthCheck *check(mentis_ctx_t *ctx, const char *name, bool ok, const char *detail)
{
    Mentis__V1__HealthCheck *c = mentis_pool_alloc(ctx->pool, sizeof *c);
    if (c == NULL)
        return NULL;
    mentis__v1__health_check__init(c);
    c->name = (char *)(uintptr_t)name;
    c->ok = ok;
    c->detail = mentis_pool_strdup(ctx->pool, detail);
    return c;
}

mentis_status_t mentis__health(mentis_ctx_t *ctx, const ProtobufCMessage *req, ProtobufCMessage *resp_)
{
    (void)req;
    mentis_service_t *svc = ctx->svc;
    Mentis__V1__HealthResponse *resp = (Mentis__V1__HealthResponse *)resp_;
    Mentis__V1__HealthCheck **checks = mentis_pool_calloc(ctx->pool, 3, sizeof *checks);
    Mentis__V1__Timestamp *started = mentis_pool_alloc(ctx->pool, sizeof *started);
    if (checks == NULL || started == NULL)
        return MENTIS_ERR_NO_MEMORY;
    bool ok = true;
    size_t n = 0;
    checks[n++] = check(ctx, "nats", mentis_bus_connected(svc->bus), "connected");
    if (svc->db != NULL) {
        mentis_status_t st = mentis_db_ping(svc->db, mentis_bus_now_ms() + 1000);
        checks[n++] = check(ctx, "postgres", st == MENTIS_OK, st == MENTIS_OK ? "reachable" : mentis_err_msg());
        char version[64];
        snprintf(version, sizeof version, "schema %s at version %d", svc->def->schema, svc->schema_version);
        checks[n++] = check(ctx, "migrations", true, version);
        ok = st == MENTIS_OK;
    }
    for (size_t i = 0; i < n; i++)
        if (checks[i] == NULL)
            return MENTIS_ERR_NO_MEMORY;
    mentis_err_clear();
    mentis__v1__timestamp__init(started);
    started->seconds = svc->started_ms / 1000;
    started->nanos = (int32_t)(svc->started_ms % 1000) * 1000000;
    resp->service = (char *)(uintptr_t)svc->def->name;
    resp->version = (char *)(uintptr_t)MENTIS_VERSION;
    resp->instance_id = svc->instance_id;
    resp->status = ok ? MENTIS__V1__SERVING_STATUS__SERVING_STATUS_OK
                      : MENTIS__V1__SERVING_STATUS__SERVING_STATUS_DEGRADED;
    resp->n_checks = n;
    resp->checks = checks;
    resp->started_at = started;
    resp->uptime_seconds = (mentis_bus_now_ms() - svc->started_ms) / 1000;
    return MENTIS_OK;
}
