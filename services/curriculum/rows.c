/* What the handlers share: the caller, ids, rows of curricula and topics, events. */
#include <stdlib.h>
#include <string.h>

#include "curriculum.h"
#include "mentis/crypto.h"

const char *mentis__cur_tenant(const mentis_ctx_t *ctx)
{
    const char *t = mentis_ctx_tenant(ctx);
    return t != NULL ? t : "";
}

const char *mentis__cur_user(const mentis_ctx_t *ctx)
{
    const char *p = mentis_ctx_principal(ctx);
    uint8_t id[16];
    return p != NULL && !mentis_ctx_has_role(ctx, "beta") && mentis_crypto_uuid_parse(p, id) ? p
                                                                                             : NULL;
}

mentis_status_t mentis__cur_admin_require(mentis_ctx_t *ctx)
{
    /* The gateway only routes admins here; a message that reached us some other way must
     * still be refused. */
    if (mentis_ctx_has_role(ctx, "admin") || mentis_ctx_has_role(ctx, "platform_admin"))
        return MENTIS_OK;
    return mentis_err_set(MENTIS_ERR_PERMISSION_DENIED, NULL, "only admins may do this");
}

bool mentis__cur_id_valid(mentis_ctx_t *ctx, const char *field, const char *id)
{
    uint8_t bytes[16];
    if (id != NULL && mentis_crypto_uuid_parse(id, bytes))
        return true;
    mentis_ctx_field_error(ctx, field, "must be a curriculum id (a UUID)");
    return false;
}

mentis_status_t mentis__cur_exists(mentis_ctx_t *ctx, const char *id, bool *archived)
{
    if (!mentis__cur_id_valid(ctx, "id", id))
        return mentis_err_set(MENTIS_ERR_INVALID_ARGUMENT, NULL, "invalid curriculum id");
    PGresult *res = NULL;
    mentis_status_t st =
        mentis_db_exec(mentis_ctx_db(ctx), "SELECT status FROM curriculum.curricula WHERE id = $1",
                       1, (const char *const[]){id}, &res);
    if (st != MENTIS_OK)
        return st;
    bool found = PQntuples(res) == 1;
    if (found && archived != NULL)
        *archived = strcmp(PQgetvalue(res, 0, 0), "archived") == 0;
    PQclear(res);
    return found ? MENTIS_OK : mentis_err_set(MENTIS_ERR_NOT_FOUND, NULL, "no such curriculum");
}

Mentis__V1__Timestamp *mentis__cur_timestamp(mentis_pool_t *pool, const char *ms_text)
{
    if (ms_text == NULL)
        return NULL;
    int64_t ms = strtoll(ms_text, NULL, 10);
    Mentis__V1__Timestamp *t = mentis_pool_calloc(pool, 1, sizeof *t);
    if (t == NULL)
        return NULL;
    mentis__v1__timestamp__init(t);
    t->seconds = ms / 1000;
    t->nanos = (int32_t)(ms % 1000) * 1000000;
    return t;
}

Mentis__V1__JsonValue *mentis__cur_json(mentis_pool_t *pool, const char *text)
{
    if (text == NULL)
        return NULL;
    Mentis__V1__JsonValue *v = mentis_pool_calloc(pool, 1, sizeof *v);
    if (v == NULL)
        return NULL;
    mentis__v1__json_value__init(v);
    v->json = mentis_pool_strdup(pool, text);
    return v->json != NULL ? v : NULL;
}

char *mentis__cur_str(mentis_pool_t *pool, const PGresult *res, int r, const char *name)
{
    const char *v = mentis__cur_get(res, r, name);
    return mentis_pool_strdup(pool, v != NULL ? v : "");
}

const char mentis__cur_summary_columns[] =
    "id, identifier, title, description, curriculum_version, status, difficulty, language, "
    "array_to_json(keywords)::text AS keywords, topic_count, total_duration, version, "
    "(extract(epoch FROM created_at) * 1000)::bigint AS created_ms, "
    "(extract(epoch FROM updated_at) * 1000)::bigint AS updated_ms, "
    "(extract(epoch FROM created_at) * 1000000)::bigint AS created_us";

mentis_status_t mentis__cur_summary(mentis_pool_t *pool, const PGresult *res, int r,
                                    Mentis__V1__Curriculum__Curriculum *c)
{
    /* The times are read as *_ms, not under their fields' names: "created_at" as an output
     * column would be what the list's ORDER BY sorts on, in milliseconds. */
    mentis_status_t st = mentis_row_read(pool, res, r, &c->base);
    if (st != MENTIS_OK)
        return st;
    c->created_at = mentis__cur_timestamp(pool, mentis__cur_get(res, r, "created_ms"));
    c->updated_at = mentis__cur_timestamp(pool, mentis__cur_get(res, r, "updated_ms"));
    if (c->created_at == NULL || c->updated_at == NULL)
        return mentis_err_set(MENTIS_ERR_NO_MEMORY, NULL, "no memory");
    return MENTIS_OK;
}

/* Reads back the stored summary of curriculum `id` into c. */
static mentis_status_t load_summary(mentis_ctx_t *ctx, const char *id,
                                    Mentis__V1__Curriculum__Curriculum *c)
{
    mentis_pool_t *pool = mentis_ctx_pool(ctx);
    const char *sql = mentis_pool_printf(pool, "SELECT %s FROM curriculum.curricula WHERE id = $1",
                                         mentis__cur_summary_columns);
    if (sql == NULL)
        return mentis_err_set(MENTIS_ERR_NO_MEMORY, NULL, "no memory");
    PGresult *res = NULL;
    mentis_status_t st =
        mentis_db_exec(mentis_ctx_db(ctx), sql, 1, (const char *const[]){id}, &res);
    if (st != MENTIS_OK)
        return st;
    if (PQntuples(res) == 1)
        st = mentis__cur_summary(pool, res, 0, c);
    else
        st = mentis_err_set(MENTIS_ERR_NOT_FOUND, NULL, "no such curriculum");
    PQclear(res);
    return st;
}

mentis_status_t mentis__cur_load_summary(mentis_ctx_t *ctx, const char *id,
                                         Mentis__V1__Curriculum__Curriculum **out)
{
    Mentis__V1__Curriculum__Curriculum *c = mentis_pool_calloc(mentis_ctx_pool(ctx), 1, sizeof *c);
    if (c == NULL)
        return mentis_err_set(MENTIS_ERR_NO_MEMORY, NULL, "no memory");
    mentis__v1__curriculum__curriculum__init(c);
    mentis_status_t st = load_summary(ctx, id, c);
    if (st == MENTIS_OK)
        *out = c;
    return st;
}

const char mentis__cur_topic_columns[] =
    "n.node_id AS id, n.title, n.type, n.description, n.topic_order AS \"order\", n.parent_id, "
    "n.depth, n.duration, n.time_estimates::text AS time_estimates, "
    "n.prerequisites::text AS prerequisites, "
    "(SELECT count(*) FROM curriculum.segments s WHERE s.curriculum_id = n.curriculum_id "
    "AND s.node_id = n.node_id) AS segment_count";

mentis_status_t mentis__cur_event(mentis_ctx_t *ctx, const char *event,
                                  const Mentis__V1__Curriculum__Curriculum *c)
{
    mentis_pool_t *pool = mentis_ctx_pool(ctx);
    Mentis__V1__Curriculum__CurriculumEvent *ev = mentis_pool_calloc(pool, 1, sizeof *ev);
    if (ev == NULL)
        return mentis_err_set(MENTIS_ERR_NO_MEMORY, NULL, "no memory");
    mentis__v1__curriculum__curriculum_event__init(ev);
    ev->curriculum_id = c->id;
    ev->tenant_id = mentis_pool_strdup(pool, mentis__cur_tenant(ctx));
    ev->identifier = c->identifier;
    ev->title = c->title;
    ev->status = c->status;
    ev->version = c->version;
    ev->topic_count = c->topic_count;
    const char *actor = mentis__cur_user(ctx);
    ev->actor = mentis_pool_strdup(pool, actor != NULL ? actor : "");
    if (ev->tenant_id == NULL || ev->actor == NULL)
        return mentis_err_set(MENTIS_ERR_NO_MEMORY, NULL, "no memory");
    return mentis_ctx_publish_event(ctx, event, mentis__cur_tenant(ctx), &ev->base);
}
