/* What a handler can see and do. */
#include <stdlib.h>
#include <string.h>

#include "service_internal.h"

mentis_pool_t *mentis_ctx_pool(mentis_ctx_t *ctx)
{
    return ctx->pool;
}

mentis_db_conn_t *mentis_ctx_db(mentis_ctx_t *ctx)
{
    return ctx->conn;
}

const char *mentis_ctx_header(const mentis_ctx_t *ctx, const char *key)
{
    const char *v = mentis_msg_header(ctx->msg, key);
    return (v && *v) ? v : NULL;
}

const char *mentis_ctx_tenant(const mentis_ctx_t *ctx)
{
    return mentis_ctx_header(ctx, MENTIS_HDR_TENANT);
}

const char *mentis_ctx_principal(const mentis_ctx_t *ctx)
{
    return mentis_ctx_header(ctx, MENTIS_HDR_PRINCIPAL);
}

const char *mentis_ctx_request_id(const mentis_ctx_t *ctx)
{
    return mentis_ctx_header(ctx, MENTIS_HDR_REQUEST_ID);
}

bool mentis_ctx_has_role(const mentis_ctx_t *ctx, const char *role)
{
    const char *roles = mentis_ctx_header(ctx, MENTIS_HDR_ROLES);
    size_t n = strlen(role);
    /* Mentis-Roles is a comma-separated list: match whole items only. */
    for (const char *p = roles; p && *p;) {
        while (*p == ' ' || *p == ',')
            p++;
        const char *end = p;
        while (*end && *end != ',')
            end++;
        const char *last = end;
        while (last > p && last[-1] == ' ')
            last--;
        if ((size_t)(last - p) == n && strncmp(p, role, n) == 0)
            return true;
        p = end;
    }
    return false;
}

int64_t mentis_ctx_deadline_ms(const mentis_ctx_t *ctx)
{
    const char *v = mentis_ctx_header(ctx, MENTIS_HDR_DEADLINE);
    if (v == NULL)
        return 0;
    char *end = NULL;
    long long d = strtoll(v, &end, 10);
    return (end != v && *end == '\0' && d > 0) ? (int64_t)d : 0;
}

void *mentis_ctx_app(const mentis_ctx_t *ctx)
{
    return ctx->svc->app;
}

mentis_service_t *mentis_ctx_service(mentis_ctx_t *ctx)
{
    return ctx->svc;
}

void mentis_ctx_field_error(mentis_ctx_t *ctx, const char *field, const char *message)
{
    struct ctx_violation *v = mentis_pool_alloc(ctx->pool, sizeof *v);
    if (v == NULL)
        return;
    v->field = mentis_pool_strdup(ctx->pool, field ? field : "");
    v->message = mentis_pool_strdup(ctx->pool, message ? message : "");
    v->next = NULL;
    if (v->field == NULL || v->message == NULL)
        return;
    *ctx->violations_tail = v;
    ctx->violations_tail = &v->next;
    ctx->nviolations++;
}

mentis_status_t mentis_ctx_publish_event(mentis_ctx_t *ctx, const char *event, const char *suffix,
                                         const ProtobufCMessage *msg)
{
    struct ctx_event *ev = mentis_pool_alloc(ctx->pool, sizeof *ev);
    if (ev == NULL)
        return MENTIS_ERR_NO_MEMORY;
    ev->subject = suffix ? mentis_pool_printf(ctx->pool, MENTIS_SUBJECT_PREFIX "evt.%s.%s.%s",
                                              ctx->svc->def->name, event, suffix)
                         : mentis_pool_printf(ctx->pool, MENTIS_SUBJECT_PREFIX "evt.%s.%s",
                                              ctx->svc->def->name, event);
    ev->len = protobuf_c_message_get_packed_size(msg);
    ev->data = mentis_pool_alloc(ctx->pool, ev->len ? ev->len : 1);
    if (ev->subject == NULL || ev->data == NULL)
        return MENTIS_ERR_NO_MEMORY;
    protobuf_c_message_pack(msg, ev->data);
    ev->next = NULL;
    *ctx->events_tail = ev;
    ctx->events_tail = &ev->next;
    return MENTIS_OK;
}

void mentis_ctx_retry_after(mentis_ctx_t *ctx, int seconds)
{
    ctx->retry_after_s = seconds;
}
