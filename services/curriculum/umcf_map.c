/*
 * The column maps: which UMCF keys of each object the service models, in which column, and
 * the two directions — an object split into a row (mapped columns + extra) and a row joined
 * back into the object. Rows are inserted in one statement per table through
 * jsonb_to_recordset, so a curriculum of ten thousand segments costs nine statements, not
 * ten thousand round trips.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "curriculum.h"

#define N(a) ((int)(sizeof a / sizeof a[0]))

static const cur_col_t curricula_cols[] = {
    {"title", "title", CUR_COL_TEXT},
    {"description", "description", CUR_COL_TEXT},
    {"lifecycle", "lifecycle", CUR_COL_JSON},
    {"metadata", "metadata", CUR_COL_JSON},
    {"educational", "educational", CUR_COL_JSON},
    {"rights", "rights", CUR_COL_JSON},
};
const cur_entity_t mentis__cur_curricula = {
    "curricula",
    "id uuid, identifier text, curriculum_version text, glossary_extra jsonb, keywords text[], "
    "difficulty text, language text, topic_count integer, total_duration bigint, created_by uuid",
    curricula_cols, N(curricula_cols), NULL};

static const cur_col_t node_cols[] = {
    {"id", "node_id", CUR_COL_ID},
    {"title", "title", CUR_COL_TEXT},
    {"type", "type", CUR_COL_TEXT},
    {"description", "description", CUR_COL_TEXT},
    {"orderIndex", "order_index", CUR_COL_INT},
    {"timeEstimates", "time_estimates", CUR_COL_JSON},
    {"prerequisites", "prerequisites", CUR_COL_JSON},
};
const cur_entity_t mentis__cur_nodes = {
    "nodes",
    "seq integer, parent_id text, position integer, depth integer, is_topic boolean, "
    "topic_order integer, duration bigint, transcript_extra jsonb, media_extra jsonb, lists text[]",
    node_cols, N(node_cols), NULL};

#define ITEM_FIXED "node_id text, position integer"

static const cur_col_t segment_cols[] = {
    {"id", "item_id", CUR_COL_ID},
    {"type", "type", CUR_COL_TEXT},
    {"content", "content", CUR_COL_TEXT},
    {"spokenText", "spoken_text", CUR_COL_TEXT},
    {"spokenContent", "spoken_content", CUR_COL_TEXT},
    {"speakingNotes", "speaking_notes", CUR_COL_JSON},
    {"stoppingPoint", "stopping_point", CUR_COL_JSON},
    {"checkpoint", "checkpoint", CUR_COL_JSON},
    {"glossaryRefs", "glossary_refs", CUR_COL_JSON},
};
const cur_entity_t mentis__cur_segments = {"segments", ITEM_FIXED, segment_cols, N(segment_cols),
                                           "content"};

static const cur_col_t objective_cols[] = {
    {"id", "item_id", CUR_COL_ID},
    {"statement", "statement", CUR_COL_TEXT},
    {"bloomsLevel", "blooms_level", CUR_COL_TEXT},
};
const cur_entity_t mentis__cur_objectives = {"objectives", ITEM_FIXED, objective_cols,
                                             N(objective_cols), "statement"};

static const cur_col_t glossary_cols[] = {
    {"id", "item_id", CUR_COL_ID},
    {"term", "term", CUR_COL_TEXT},
    {"definition", "definition", CUR_COL_TEXT},
    {"spokenDefinition", "spoken_definition", CUR_COL_TEXT},
    {"pronunciation", "pronunciation", CUR_COL_TEXT},
};
const cur_entity_t mentis__cur_glossary = {"glossary_terms", ITEM_FIXED, glossary_cols,
                                           N(glossary_cols), "term"};

static const cur_col_t misconception_cols[] = {
    {"id", "item_id", CUR_COL_ID},
    {"misconception", "misconception", CUR_COL_TEXT},
    {"correction", "correction", CUR_COL_TEXT},
    {"severity", "severity", CUR_COL_TEXT},
    {"triggerPhrases", "trigger_phrases", CUR_COL_JSON},
};
const cur_entity_t mentis__cur_misconceptions = {"misconceptions", ITEM_FIXED, misconception_cols,
                                                 N(misconception_cols), "misconception"};

static const cur_col_t example_cols[] = {
    {"id", "item_id", CUR_COL_ID},
    {"type", "type", CUR_COL_TEXT},
    {"title", "title", CUR_COL_TEXT},
    {"content", "content", CUR_COL_TEXT},
    {"spokenContent", "spoken_content", CUR_COL_TEXT},
};
const cur_entity_t mentis__cur_examples = {"examples", ITEM_FIXED, example_cols, N(example_cols),
                                           "content"};

static const cur_col_t assessment_cols[] = {
    {"id", "item_id", CUR_COL_ID},
    {"type", "type", CUR_COL_TEXT},
    {"title", "title", CUR_COL_TEXT},
    {"prompt", "prompt", CUR_COL_TEXT},
    {"spokenPrompt", "spoken_prompt", CUR_COL_TEXT},
    {"choices", "choices", CUR_COL_JSON},
};
const cur_entity_t mentis__cur_assessments = {"assessments", ITEM_FIXED, assessment_cols,
                                              N(assessment_cols), "prompt"};

static const cur_col_t media_cols[] = {
    {"id", "item_id", CUR_COL_ID},
    {"type", "type", CUR_COL_TEXT},
    {"title", "title", CUR_COL_TEXT},
    {"url", "url", CUR_COL_TEXT},
};
const cur_entity_t mentis__cur_media = {"media", "node_id text, collection text, position integer",
                                        media_cols, N(media_cols), "url"};

static const cur_col_t *find_col(const cur_entity_t *e, const char *key)
{
    for (int i = 0; i < e->ncols; i++)
        if (strcmp(e->cols[i].key, key) == 0)
            return &e->cols[i];
    return NULL;
}

/* Keys are compared exactly: "Title" is not "title". */
static bool has_key(const cJSON *obj, const char *key)
{
    return cJSON_GetObjectItemCaseSensitive(obj, key) != NULL;
}

static bool skipped(const char *const *skip, const char *key)
{
    for (; skip != NULL && *skip != NULL; skip++)
        if (strcmp(*skip, key) == 0)
            return true;
    return false;
}

/* The value the column takes from v, or NULL when v does not fit it (it then stays in
 * extra). Never owned: the caller duplicates it. */
static const cJSON *fit(const cur_col_t *c, const cJSON *v)
{
    switch (c->kind) {
    case CUR_COL_TEXT:
        return cJSON_IsString(v) ? v : NULL;
    case CUR_COL_JSON:
        return cJSON_IsNull(v) || cJSON_IsInvalid(v) ? NULL : v;
    case CUR_COL_INT: {
        if (!cJSON_IsNumber(v))
            return NULL;
        double d = cJSON_GetNumberValue(v);
        return d >= -2147483648.0 && d <= 2147483647.0 && d == (double)(int)d ? v : NULL;
    }
    case CUR_COL_ID:
        if (cJSON_IsString(v))
            return v;
        if (cJSON_IsObject(v) && cJSON_IsString(cJSON_GetObjectItemCaseSensitive(v, "value")))
            return cJSON_GetObjectItemCaseSensitive(v, "value");
        return NULL;
    }
    return NULL;
}

bool mentis__cur_split(const cur_entity_t *e, const cJSON *obj, const char *const *skip, cJSON *row)
{
    if (!cJSON_IsObject(obj)) {
        if (e->text_column != NULL && cJSON_IsString(obj) &&
            cJSON_AddStringToObject(row, e->text_column, obj->valuestring) == NULL)
            return false;
        cJSON *whole = cJSON_Duplicate(obj, true);
        return whole != NULL && cJSON_AddItemToObject(row, "extra", whole);
    }
    cJSON *extra = cJSON_CreateObject();
    if (extra == NULL || !cJSON_AddItemToObject(row, "extra", extra))
        return cJSON_Delete(extra), false;
    const cJSON *v;
    cJSON_ArrayForEach(v, obj)
    {
        if (v->string == NULL || skipped(skip, v->string))
            continue;
        const cur_col_t *c = find_col(e, v->string);
        const cJSON *val = c != NULL ? fit(c, v) : NULL;
        /* An id object goes to extra as well: its other keys (catalog) must come back. */
        bool keep = val == NULL || (c->kind == CUR_COL_ID && cJSON_IsObject(v));
        if (val != NULL && !has_key(row, c->column)) {
            cJSON *copy = cJSON_Duplicate(val, true);
            if (copy == NULL || !cJSON_AddItemToObject(row, c->column, copy))
                return cJSON_Delete(copy), false;
        } else if (val != NULL) {
            keep = true; /* a duplicate key: the first fills the column, the rest stay */
        }
        if (keep) {
            cJSON *copy = cJSON_Duplicate(v, true);
            if (copy == NULL || !cJSON_AddItemToObject(extra, v->string, copy))
                return cJSON_Delete(copy), false;
        }
    }
    return true;
}

const char *mentis__cur_get(const PGresult *res, int r, const char *name)
{
    int c = PQfnumber(res, name);
    if (c < 0 || PQgetisnull(res, r, c))
        return NULL;
    return PQgetvalue(res, r, c);
}

cJSON *mentis__cur_join(const cur_entity_t *e, const PGresult *res, int r)
{
    const char *text = mentis__cur_get(res, r, "extra");
    cJSON *obj = text != NULL ? cJSON_Parse(text) : cJSON_CreateObject();
    if (obj == NULL || !cJSON_IsObject(obj))
        return obj; /* a bare item (a string objective) comes back as it was */
    for (int i = 0; i < e->ncols; i++) {
        const cur_col_t *c = &e->cols[i];
        const char *v = mentis__cur_get(res, r, c->column);
        if (v == NULL || has_key(obj, c->key))
            continue;
        cJSON *item = NULL;
        switch (c->kind) {
        case CUR_COL_TEXT:
        case CUR_COL_ID:
            item = cJSON_CreateString(v);
            break;
        case CUR_COL_INT:
            item = cJSON_CreateNumber((double)strtol(v, NULL, 10));
            break;
        case CUR_COL_JSON:
            item = cJSON_Parse(v);
            break;
        }
        if (item == NULL || !cJSON_AddItemToObject(obj, c->key, item)) {
            cJSON_Delete(item);
            cJSON_Delete(obj);
            return NULL;
        }
    }
    return obj;
}

char *mentis__cur_columns(mentis_pool_t *pool, const cur_entity_t *e, const char *p)
{
    char buf[1024];
    size_t n = (size_t)snprintf(buf, sizeof buf, "%sextra", p);
    for (int i = 0; i < e->ncols && n < sizeof buf; i++)
        n += (size_t)snprintf(buf + n, sizeof buf - n, ", %s%s", p, e->cols[i].column);
    return n < sizeof buf ? mentis_pool_strdup(pool, buf) : NULL;
}

/* Appends to buf (at *n): the fixed columns' names, each prefixed by `prefix`. */
static void fixed_names(const char *fixed, const char *prefix, char *buf, size_t size, size_t *n)
{
    const char *p = fixed;
    while (*p != '\0' && *n < size) {
        while (*p == ' ' || *p == ',')
            p++;
        size_t len = strcspn(p, " ");
        *n += (size_t)snprintf(buf + *n, size - *n, ", %s%.*s", prefix, (int)len, p);
        p += strcspn(p, ",");
    }
}

mentis_status_t mentis__cur_insert(mentis_ctx_t *ctx, const cur_entity_t *e, const cJSON *rows,
                                   const char *curriculum_id)
{
    if (cJSON_GetArraySize(rows) == 0)
        return MENTIS_OK;
    bool top = strcmp(e->table, "curricula") == 0;
    char sql[4096];
    size_t n = (size_t)snprintf(sql, sizeof sql, "INSERT INTO curriculum.%s (tenant_id%s", e->table,
                                top ? "" : ", curriculum_id");
    fixed_names(e->fixed, "", sql, sizeof sql, &n);
    for (int i = 0; i < e->ncols && n < sizeof sql; i++)
        n += (size_t)snprintf(sql + n, sizeof sql - n, ", %s", e->cols[i].column);
    if (n < sizeof sql)
        n += (size_t)snprintf(sql + n, sizeof sql - n, ", extra) SELECT $2::uuid%s",
                              top ? "" : ", $3::uuid");
    fixed_names(e->fixed, "r.", sql, sizeof sql, &n);
    for (int i = 0; i < e->ncols && n < sizeof sql; i++)
        n += (size_t)snprintf(sql + n, sizeof sql - n, ", r.%s", e->cols[i].column);
    /* Every row has extra; SQL NULL there is a list item that was JSON null itself. */
    if (n < sizeof sql)
        n += (size_t)snprintf(
            sql + n, sizeof sql - n,
            ", coalesce(r.extra, 'null') FROM jsonb_to_recordset($1::jsonb) AS r(%s", e->fixed);
    for (int i = 0; i < e->ncols && n < sizeof sql; i++) {
        const cur_col_t *c = &e->cols[i];
        const char *type = c->kind == CUR_COL_JSON  ? "jsonb"
                           : c->kind == CUR_COL_INT ? "integer"
                                                    : "text";
        n += (size_t)snprintf(sql + n, sizeof sql - n, ", %s %s", c->column, type);
    }
    if (n < sizeof sql)
        n += (size_t)snprintf(sql + n, sizeof sql - n, ", extra jsonb)");
    if (n >= sizeof sql)
        return mentis_err_set(MENTIS_ERR_INTERNAL, NULL, "insert into %s: statement too long",
                              e->table);
    char *json = cJSON_PrintUnformatted(rows);
    if (json == NULL)
        return mentis_err_set(MENTIS_ERR_NO_MEMORY, NULL, "insert into %s: no memory", e->table);
    const char *params[] = {json, mentis__cur_tenant(ctx), curriculum_id};
    mentis_status_t st = mentis_db_exec(mentis_ctx_db(ctx), sql, top ? 2 : 3, params, NULL);
    free(json);
    return st;
}
