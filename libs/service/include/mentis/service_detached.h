/*
 * A handler context that belongs to no service: a pool and the field errors, nothing else.
 *
 * For code that runs a handler's pure part (checking a document, taking it apart) outside
 * a running service: fuzz targets and unit tests. Such a context has no message, no
 * connection and no service, so only mentis_ctx_pool, mentis_ctx_db (NULL),
 * mentis_ctx_field_error and mentis_ctx_retry_after may be called with it; the header,
 * role, app and event functions need a real message and must not be.
 */
#ifndef MENTIS_SERVICE_DETACHED_H
#define MENTIS_SERVICE_DETACHED_H

#include <stddef.h>

#include "mentis/pool.h"
#include "mentis/service.h"

#ifdef __cplusplus
extern "C" {
#endif

/* A context over `pool` (kept, not owned: the caller destroys it after the context).
 * NULL when out of memory. */
mentis_ctx_t *mentis_ctx_detached_new(mentis_pool_t *pool);
/* Frees the context (the field errors live in the pool). NULL is a no-op. */
void mentis_ctx_detached_free(mentis_ctx_t *ctx);

/* How many field errors mentis_ctx_field_error has recorded. */
size_t mentis_ctx_field_error_count(const mentis_ctx_t *ctx);
/*
 * Field error i (0 = first recorded) into *field and *message (strings of the pool);
 * false when there is no such error.
 */
bool mentis_ctx_field_error_get(const mentis_ctx_t *ctx, size_t i, const char **field,
                                const char **message);

#ifdef __cplusplus
}
#endif
#endif
