/* Rows to messages and back: timestamps, JSON lists, the enums' database names. */
#include <cjson/cJSON.h>
#include <stdlib.h>
#include <string.h>

#include "kb.h"
#include "mentis/crypto.h"

Mentis__V1__Timestamp *mentis__kb_timestamp(mentis_pool_t *pool, const char *ms_text)
{
    Mentis__V1__Timestamp *t = mentis_pool_calloc(pool, 1, sizeof *t);
    if (t == NULL)
        return NULL;
    mentis__v1__timestamp__init(t);
    long long ms = strtoll(ms_text, NULL, 10);
    t->seconds = ms / 1000;
    t->nanos = (int32_t)(ms % 1000) * 1000000;
    return t;
}

char *mentis__kb_str(mentis_pool_t *pool, const PGresult *res, int row, int col)
{
    return mentis_pool_strdup(pool, PQgetvalue(res, row, col));
}

int64_t mentis__kb_int(const PGresult *res, int row, int col)
{
    return strtoll(PQgetvalue(res, row, col), NULL, 10);
}

bool mentis__kb_bool(const PGresult *res, int row, int col)
{
    return PQgetvalue(res, row, col)[0] == 't';
}

char *mentis__kb_itoa(mentis_pool_t *pool, long long v)
{
    return mentis_pool_printf(pool, "%lld", v);
}

void mentis__kb_strings(mentis_pool_t *pool, const char *json, char ***out, size_t *n)
{
    *out = NULL;
    *n = 0;
    cJSON *a = cJSON_Parse(json);
    int count = cJSON_GetArraySize(a);
    if (cJSON_IsArray(a) && count > 0) {
        char **items = mentis_pool_calloc(pool, (size_t)count, sizeof *items);
        cJSON *e;
        size_t i = 0;
        cJSON_ArrayForEach(e, a)
        {
            if (items != NULL && cJSON_IsString(e))
                items[i++] = mentis_pool_strdup(pool, e->valuestring);
        }
        *out = items;
        *n = items ? i : 0;
    }
    cJSON_Delete(a);
}

char *mentis__kb_strings_json(mentis_pool_t *pool, char *const *items, size_t n)
{
    cJSON *a = cJSON_CreateArray();
    for (size_t i = 0; a != NULL && i < n; i++)
        cJSON_AddItemToArray(a, cJSON_CreateString(items[i]));
    char *text = a ? cJSON_PrintUnformatted(a) : NULL;
    char *copy = text ? mentis_pool_strdup(pool, text) : NULL;
    free(text);
    cJSON_Delete(a);
    return copy;
}

char *mentis__kb_new_id(mentis_pool_t *pool)
{
    char id[37];
    mentis_crypto_uuid_v7(id);
    return mentis_pool_strdup(pool, id);
}

mentis_status_t mentis__kb_query(mentis_ctx_t *ctx, const char *sql, int n,
                                 const char *const *params, PGresult **out)
{
    return mentis_db_exec(mentis_ctx_db(ctx), sql, n, params, out);
}

/* Enum names: the database keeps the JSON names of the values. */
#define NAMES(fn_str, fn_from, type, ...)                                                          \
    static const char *const fn_str##_names[] = {__VA_ARGS__};                                     \
    const char *fn_str(type v)                                                                     \
    {                                                                                              \
        size_t n = sizeof fn_str##_names / sizeof fn_str##_names[0];                               \
        return (size_t)v < n ? fn_str##_names[v] : NULL;                                           \
    }                                                                                              \
    type fn_from(const char *s)                                                                    \
    {                                                                                              \
        size_t n = sizeof fn_str##_names / sizeof fn_str##_names[0];                               \
        for (size_t i = 1; s != NULL && i < n; i++)                                                \
            if (strcmp(fn_str##_names[i], s) == 0)                                                 \
                return (type)i;                                                                    \
        return (type)0;                                                                            \
    }

NAMES(mentis__kb_status_str, mentis__kb_status_from, Mentis__V1__Kb__Status, NULL, "active",
      "draft", "archived")
NAMES(mentis__kb_pack_type_str, mentis__kb_pack_type_from, Mentis__V1__Kb__PackType, NULL, "system",
      "custom", "bundle")
NAMES(mentis__kb_question_type_str, mentis__kb_question_type_from, Mentis__V1__Kb__QuestionType,
      NULL, "toss_up", "bonus", "pyramid", "lightning")
NAMES(mentis__kb_tier_str, mentis__kb_tier_from, Mentis__V1__Kb__DifficultyTier, NULL, "elementary",
      "middle_school", "high_school", "college", "open")
