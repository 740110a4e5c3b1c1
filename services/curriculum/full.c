/*
 * curricula.full: the UMCF document rebuilt from its rows. Every row gives back its object
 * (mentis__cur_join: extra plus the mapped columns); nodes come in document order (seq), so
 * appending each to its parent restores the tree, and the items of every list come in
 * their original order (position). The result equals the imported document key for key;
 * only a PATCHed title or description differs, as it should.
 */
#include <stdlib.h>
#include <string.h>

#include "curriculum.h"

typedef struct {
    cJSON **nodes; /* by seq */
    int nnodes;
    cJSON *top;
} build_t;

/* Adds an empty array (or, for "transcript" and "media", the object) that a list name of a
 * node's `lists` stands for. */
static bool open_lists(cJSON *node, const char *lists_json, const char *transcript_extra,
                       const char *media_extra)
{
    cJSON *lists = cJSON_Parse(lists_json != NULL ? lists_json : "[]");
    bool ok = lists != NULL;
    const cJSON *l;
    cJSON_ArrayForEach(l, lists)
    {
        const char *name = cJSON_GetStringValue(l);
        if (name == NULL || !ok)
            continue;
        if (strcmp(name, "transcript") == 0) {
            cJSON *t = cJSON_Parse(transcript_extra != NULL ? transcript_extra : "{}");
            ok = t != NULL && cJSON_AddItemToObject(t, "segments", cJSON_CreateArray()) &&
                 cJSON_AddItemToObject(node, "transcript", t);
            if (!ok)
                cJSON_Delete(t);
        } else if (strncmp(name, "media", 5) == 0) {
            cJSON *m = cJSON_GetObjectItemCaseSensitive(node, "media");
            if (m == NULL) {
                m = cJSON_Parse(media_extra != NULL ? media_extra : "{}");
                if (m == NULL || !cJSON_AddItemToObject(node, "media", m)) {
                    cJSON_Delete(m);
                    ok = false;
                    continue;
                }
            }
            if (name[5] == '.')
                ok = cJSON_AddArrayToObject(m, name + 6) != NULL;
        } else {
            ok = cJSON_AddArrayToObject(node, name) != NULL;
        }
    }
    cJSON_Delete(lists);
    return ok;
}

static mentis_status_t load_nodes(mentis_ctx_t *ctx, const char *id, build_t *b)
{
    mentis_pool_t *pool = mentis_ctx_pool(ctx);
    char *cols = mentis__cur_columns(pool, &mentis__cur_nodes, "");
    const char *sql =
        cols ? mentis_pool_printf(pool,
                                  "SELECT %s, seq, parent_id, array_to_json(lists)::text AS lists, "
                                  "transcript_extra::text AS transcript_extra, "
                                  "media_extra::text AS media_extra FROM curriculum.nodes "
                                  "WHERE curriculum_id = $1 ORDER BY seq",
                                  cols)
             : NULL;
    if (sql == NULL)
        return mentis_err_set(MENTIS_ERR_NO_MEMORY, NULL, "no memory");
    PGresult *res = NULL;
    mentis_status_t st =
        mentis_db_exec(mentis_ctx_db(ctx), sql, 1, (const char *const[]){id}, &res);
    if (st != MENTIS_OK)
        return st;
    b->nnodes = PQntuples(res);
    b->nodes = mentis_pool_calloc(pool, (size_t)(b->nnodes ? b->nnodes : 1), sizeof *b->nodes);
    cJSON *content = cJSON_AddArrayToObject(b->top, "content");
    if (b->nodes == NULL || content == NULL) {
        PQclear(res);
        return mentis_err_set(MENTIS_ERR_NO_MEMORY, NULL, "no memory");
    }
    for (int r = 0; r < b->nnodes && st == MENTIS_OK; r++) {
        cJSON *node = mentis__cur_join(&mentis__cur_nodes, res, r);
        if (node == NULL || strtol(PQgetvalue(res, r, PQfnumber(res, "seq")), NULL, 10) != r ||
            !open_lists(node, mentis__cur_get(res, r, "lists"),
                        mentis__cur_get(res, r, "transcript_extra"),
                        mentis__cur_get(res, r, "media_extra"))) {
            cJSON_Delete(node);
            st = mentis_err_set(MENTIS_ERR_INTERNAL, NULL, "curriculum %s: node %d unreadable", id,
                                r);
            break;
        }
        b->nodes[r] = node;
        const char *parent = mentis__cur_get(res, r, "parent_id");
        cJSON *into = content;
        if (parent != NULL) {
            /* The parent came earlier in document order: look back for it. */
            into = NULL;
            for (int p = r - 1; p >= 0 && into == NULL; p--)
                if (strcmp(PQgetvalue(res, p, PQfnumber(res, "node_id")), parent) == 0)
                    into = cJSON_GetObjectItemCaseSensitive(b->nodes[p], "children");
        }
        if (into == NULL || !cJSON_AddItemToArray(into, node)) {
            cJSON_Delete(node);
            b->nodes[r] = NULL;
            st = mentis_err_set(MENTIS_ERR_INTERNAL, NULL, "curriculum %s: node %d has no parent",
                                id, r);
        }
    }
    PQclear(res);
    return st;
}

/* The items of one table, each appended to the list it came from. */
static mentis_status_t load_items(mentis_ctx_t *ctx, const char *id, const cur_entity_t *e,
                                  const char *key, build_t *b)
{
    mentis_pool_t *pool = mentis_ctx_pool(ctx);
    bool media = e == &mentis__cur_media, glossary = e == &mentis__cur_glossary;
    char *cols = mentis__cur_columns(pool, e, "t.");
    const char *sql =
        cols ? mentis_pool_printf(pool,
                                  "SELECT %s, n.seq%s FROM curriculum.%s t LEFT JOIN "
                                  "curriculum.nodes n ON n.curriculum_id = t.curriculum_id AND "
                                  "n.node_id = t.node_id WHERE t.curriculum_id = $1 "
                                  "ORDER BY n.seq NULLS FIRST%s, t.position",
                                  cols, media ? ", t.collection" : "", e->table,
                                  media ? ", t.collection" : "")
             : NULL;
    if (sql == NULL)
        return mentis_err_set(MENTIS_ERR_NO_MEMORY, NULL, "no memory");
    PGresult *res = NULL;
    mentis_status_t st =
        mentis_db_exec(mentis_ctx_db(ctx), sql, 1, (const char *const[]){id}, &res);
    if (st != MENTIS_OK)
        return st;
    int rows = PQntuples(res);
    for (int r = 0; r < rows && st == MENTIS_OK; r++) {
        const char *seq = mentis__cur_get(res, r, "seq");
        cJSON *list = NULL;
        if (seq == NULL && glossary) {
            list = cJSON_GetObjectItemCaseSensitive(
                cJSON_GetObjectItemCaseSensitive(b->top, "glossary"), "terms");
        } else if (seq != NULL) {
            long s = strtol(seq, NULL, 10);
            cJSON *node = s >= 0 && s < b->nnodes ? b->nodes[s] : NULL;
            if (e == &mentis__cur_segments)
                list = cJSON_GetObjectItemCaseSensitive(
                    cJSON_GetObjectItemCaseSensitive(node, "transcript"), "segments");
            else if (media)
                list = cJSON_GetObjectItemCaseSensitive(
                    cJSON_GetObjectItemCaseSensitive(node, "media"),
                    mentis__cur_get(res, r, "collection"));
            else
                list = cJSON_GetObjectItemCaseSensitive(node, key);
        }
        cJSON *item = list != NULL ? mentis__cur_join(e, res, r) : NULL;
        if (item == NULL || !cJSON_AddItemToArray(list, item)) {
            cJSON_Delete(item);
            st = mentis_err_set(MENTIS_ERR_INTERNAL, NULL,
                                "curriculum %s: a row of %s is unreadable", id, e->table);
        }
    }
    PQclear(res);
    return st;
}

/* The whole document of curriculum `id`, as a new cJSON tree (caller frees). */
static mentis_status_t rebuild(mentis_ctx_t *ctx, const char *id, cJSON **out)
{
    mentis_pool_t *pool = mentis_ctx_pool(ctx);
    char *cols = mentis__cur_columns(pool, &mentis__cur_curricula, "");
    const char *sql = cols ? mentis_pool_printf(pool,
                                                "SELECT %s, glossary_extra::text AS glossary_extra "
                                                "FROM curriculum.curricula WHERE id = $1",
                                                cols)
                           : NULL;
    if (sql == NULL)
        return mentis_err_set(MENTIS_ERR_NO_MEMORY, NULL, "no memory");
    PGresult *res = NULL;
    mentis_status_t st =
        mentis_db_exec(mentis_ctx_db(ctx), sql, 1, (const char *const[]){id}, &res);
    if (st != MENTIS_OK)
        return st;
    if (PQntuples(res) != 1) {
        PQclear(res);
        return mentis_err_set(MENTIS_ERR_NOT_FOUND, NULL, "no such curriculum");
    }
    build_t b = {.top = mentis__cur_join(&mentis__cur_curricula, res, 0)};
    const char *gx = mentis__cur_get(res, 0, "glossary_extra");
    if (b.top != NULL && gx != NULL) {
        cJSON *g = cJSON_Parse(gx);
        if (g == NULL || !cJSON_AddArrayToObject(g, "terms") ||
            !cJSON_AddItemToObject(b.top, "glossary", g)) {
            cJSON_Delete(g);
            cJSON_Delete(b.top);
            b.top = NULL;
        }
    }
    PQclear(res);
    if (b.top == NULL)
        return mentis_err_set(MENTIS_ERR_INTERNAL, NULL, "curriculum %s: row unreadable", id);
    st = load_nodes(ctx, id, &b);
    const struct {
        const cur_entity_t *e;
        const char *key;
    } lists[] = {
        {&mentis__cur_segments, "segments"},
        {&mentis__cur_objectives, "learningObjectives"},
        {&mentis__cur_glossary, "glossaryTerms"},
        {&mentis__cur_misconceptions, "misconceptions"},
        {&mentis__cur_examples, "examples"},
        {&mentis__cur_assessments, "assessments"},
        {&mentis__cur_media, NULL},
    };
    for (size_t i = 0; st == MENTIS_OK && i < sizeof lists / sizeof lists[0]; i++)
        st = load_items(ctx, id, lists[i].e, lists[i].key, &b);
    if (st != MENTIS_OK) {
        cJSON_Delete(b.top);
        return st;
    }
    *out = b.top;
    return MENTIS_OK;
}

mentis_status_t mentis__cur_op_full(mentis_ctx_t *ctx, const ProtobufCMessage *req,
                                    ProtobufCMessage *resp)
{
    const Mentis__V1__Curriculum__GetFullRequest *in = (const void *)req;
    Mentis__V1__Curriculum__GetFullResponse *out = (void *)resp;
    if (!mentis__cur_id_valid(ctx, "id", in->id))
        return mentis_err_set(MENTIS_ERR_INVALID_ARGUMENT, NULL, "invalid curriculum id");
    cJSON *doc = NULL;
    mentis_status_t st = rebuild(ctx, in->id, &doc);
    if (st != MENTIS_OK)
        return st;
    char *text = cJSON_PrintUnformatted(doc);
    cJSON_Delete(doc);
    if (text == NULL)
        return mentis_err_set(MENTIS_ERR_NO_MEMORY, NULL, "full: no memory");
    out->document = mentis__cur_json(mentis_ctx_pool(ctx), text);
    free(text);
    return out->document != NULL ? MENTIS_OK
                                 : mentis_err_set(MENTIS_ERR_NO_MEMORY, NULL, "full: no memory");
}
