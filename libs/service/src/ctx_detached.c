/* A handler context without a service (mentis/service_detached.h). */
#include <stdlib.h>

#include "mentis/service_detached.h"
#include "service_internal.h"

mentis_ctx_t *mentis_ctx_detached_new(mentis_pool_t *pool)
{
    mentis_ctx_t *ctx = calloc(1, sizeof *ctx);
    if (ctx == NULL)
        return NULL;
    ctx->pool = pool;
    ctx->violations_tail = &ctx->violations;
    ctx->events_tail = &ctx->events;
    return ctx;
}

void mentis_ctx_detached_free(mentis_ctx_t *ctx)
{
    free(ctx);
}

size_t mentis_ctx_field_error_count(const mentis_ctx_t *ctx)
{
    return ctx->nviolations;
}

bool mentis_ctx_field_error_get(const mentis_ctx_t *ctx, size_t i, const char **field,
                                const char **message)
{
    const struct ctx_violation *v = ctx->violations;
    for (; v != NULL && i > 0; i--)
        v = v->next;
    if (v == NULL)
        return false;
    *field = v->field;
    *message = v->message;
    return true;
}
