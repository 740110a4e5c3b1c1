/* The read operations: the list, one curriculum, its subjects, its topics, a transcript. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "curriculum.h"

#define NOMEM() mentis_err_set(MENTIS_ERR_NO_MEMORY, NULL, "no memory")

static mentis_status_t query(mentis_ctx_t *ctx, const char *sql, int n, const char *const *params,
                             PGresult **res)
{
    return mentis_db_exec(mentis_ctx_db(ctx), sql, n, params, res);
}

/* Runs sql and reads each row as a message of desc, its columns named for the fields
 * (mentis/rows.h): *items an array of *n in the pool. */
static mentis_status_t query_rows(mentis_ctx_t *ctx, const char *sql, int n,
                                  const char *const *params, const ProtobufCMessageDescriptor *desc,
                                  void ***items, size_t *count)
{
    PGresult *res = NULL;
    mentis_status_t st = query(ctx, sql, n, params, &res);
    if (st == MENTIS_OK)
        st = mentis_rows_read(mentis_ctx_pool(ctx), res, desc, items, count);
    PQclear(res);
    return st;
}

/* `q` as an ILIKE pattern matching it anywhere: %, _ and \ stand for themselves. */
static char *like_pattern(mentis_pool_t *pool, const char *q)
{
    size_t n = strlen(q);
    char *out = mentis_pool_alloc(pool, 2 * n + 3);
    if (out == NULL)
        return NULL;
    size_t o = 0;
    out[o++] = '%';
    for (size_t i = 0; i < n; i++) {
        if (q[i] == '%' || q[i] == '_' || q[i] == '\\')
            out[o++] = '\\';
        out[o++] = q[i];
    }
    out[o++] = '%';
    out[o] = '\0';
    return out;
}

mentis_status_t mentis__cur_op_list(mentis_ctx_t *ctx, const ProtobufCMessage *req,
                                    ProtobufCMessage *resp)
{
    const Mentis__V1__Curriculum__ListCurriculaRequest *in = (const void *)req;
    Mentis__V1__Curriculum__ListCurriculaResponse *out = (void *)resp;
    mentis_pool_t *pool = mentis_ctx_pool(ctx);
    mentis_page_t page;
    bool ok = mentis_page_read(ctx, in->limit, in->cursor, true, &page) == MENTIS_OK;
    if (in->q != NULL && strlen(in->q) > 200) {
        mentis_ctx_field_error(ctx, "q", "must be at most 200 characters");
        ok = false;
    }
    if (!ok)
        return mentis_err_set(MENTIS_ERR_INVALID_ARGUMENT, NULL, "invalid list request");
    const char *pattern = in->q != NULL && in->q[0] != '\0' ? like_pattern(pool, in->q) : "";
    char limit[16], after_us[24];
    snprintf(limit, sizeof limit, "%d", page.limit + 1);
    snprintf(after_us, sizeof after_us, "%lld", (long long)page.after_us);
    const char *sql = mentis_pool_printf(
        pool,
        "SELECT %s FROM curriculum.curricula WHERE status = $1 "
        "AND ($2 = '' OR title ILIKE $2 OR coalesce(description, '') ILIKE $2 "
        "     OR EXISTS (SELECT 1 FROM unnest(keywords) k WHERE k ILIKE $2)) "
        "AND ($3 = '' OR lower(difficulty) = lower($3)) "
        "AND ($4 = '' OR $4 = ANY (keywords)) "
        "AND ($5::bigint IS NULL OR (created_at, id) < "
        "     (timestamptz 'epoch' + $5::bigint * interval '1 microsecond', $6::uuid)) "
        "ORDER BY created_at DESC, id DESC LIMIT $7",
        mentis__cur_summary_columns);
    if (sql == NULL || pattern == NULL)
        return NOMEM();
    const char *params[] = {
        in->status == MENTIS__V1__CURRICULUM__STATUS__STATUS_ARCHIVED ? "archived" : "active",
        pattern,
        in->difficulty != NULL ? in->difficulty : "",
        in->keyword != NULL ? in->keyword : "",
        page.has_after ? after_us : NULL,
        page.has_after ? page.after_id : NULL,
        limit};
    PGresult *res = NULL;
    mentis_status_t st = query(ctx, sql, 7, params, &res);
    if (st != MENTIS_OK)
        return st;
    int rows = PQntuples(res);
    int n = rows > page.limit ? page.limit : rows;
    out->items = mentis_pool_calloc(pool, (size_t)(n ? n : 1), sizeof *out->items);
    if (out->items == NULL)
        st = NOMEM();
    for (int r = 0; r < n && st == MENTIS_OK; r++) {
        Mentis__V1__Curriculum__Curriculum *c = mentis_pool_calloc(pool, 1, sizeof *c);
        if (c == NULL) {
            st = NOMEM();
            break;
        }
        mentis__v1__curriculum__curriculum__init(c);
        st = mentis__cur_summary(pool, res, r, c);
        out->items[out->n_items++] = c;
    }
    if (st == MENTIS_OK && rows > page.limit &&
        (out->next_cursor =
             mentis_page_cursor(pool, PQgetvalue(res, n - 1, 0),
                                strtoll(mentis__cur_get(res, n - 1, "created_us"), NULL, 10),
                                true)) == NULL)
        st = NOMEM();
    PQclear(res);
    return st;
}

/* ---- topics ---- */

/* The learning objectives of curriculum `id` (all nodes, document order). */
static mentis_status_t load_objectives(mentis_ctx_t *ctx, const char *id,
                                       Mentis__V1__Curriculum__LearningObjective ***items,
                                       size_t *n)
{
    void **rows = NULL;
    mentis_status_t st = query_rows(
        ctx,
        "SELECT o.node_id AS topic_id, o.item_id AS id, o.statement, o.blooms_level "
        "FROM curriculum.objectives o JOIN curriculum.nodes n "
        "ON n.curriculum_id = o.curriculum_id AND n.node_id = o.node_id "
        "WHERE o.curriculum_id = $1 ORDER BY n.seq, o.position",
        1, (const char *const[]){id}, &mentis__v1__curriculum__learning_objective__descriptor,
        &rows, n);
    *items = (Mentis__V1__Curriculum__LearningObjective **)rows;
    return st;
}

/* The topics of curriculum `id` in order, only those below node `subject` unless it is
 * empty, each with its learning objectives. */
static mentis_status_t load_topics(mentis_ctx_t *ctx, const char *id, const char *subject,
                                   Mentis__V1__Curriculum__Topic ***items, size_t *n,
                                   Mentis__V1__Curriculum__LearningObjective ***objectives,
                                   size_t *nobjectives)
{
    mentis_pool_t *pool = mentis_ctx_pool(ctx);
    const char *sql = mentis_pool_printf(
        pool,
        "WITH RECURSIVE below AS ("
        "  SELECT node_id FROM curriculum.nodes WHERE curriculum_id = $1 AND node_id = $2"
        "  UNION ALL SELECT c.node_id FROM curriculum.nodes c JOIN below b"
        "  ON c.parent_id = b.node_id WHERE c.curriculum_id = $1) "
        "SELECT %s FROM curriculum.nodes n WHERE n.curriculum_id = $1 AND n.is_topic "
        "AND ($2 = '' OR n.node_id IN (SELECT node_id FROM below)) ORDER BY n.topic_order",
        mentis__cur_topic_columns);
    if (sql == NULL)
        return NOMEM();
    Mentis__V1__Curriculum__LearningObjective **objs = NULL;
    size_t nobjs = 0;
    mentis_status_t st = load_objectives(ctx, id, &objs, &nobjs);
    if (st != MENTIS_OK)
        return st;
    PGresult *res = NULL;
    if ((st = query(ctx, sql, 2, (const char *const[]){id, subject}, &res)) != MENTIS_OK)
        return st;
    int rows = PQntuples(res);
    *n = 0;
    *items = mentis_pool_calloc(pool, (size_t)(rows ? rows : 1), sizeof **items);
    if (*items == NULL)
        st = NOMEM();
    for (int r = 0; r < rows && st == MENTIS_OK; r++) {
        Mentis__V1__Curriculum__Topic *t = mentis_pool_calloc(pool, 1, sizeof *t);
        if (t == NULL) {
            st = NOMEM();
            break;
        }
        mentis__v1__curriculum__topic__init(t);
        st = mentis_row_read(pool, res, r, &t->base);
        (*items)[(*n)++] = t;
        size_t count = 0;
        for (size_t i = 0; st == MENTIS_OK && i < nobjs; i++)
            count += strcmp(objs[i]->topic_id, t->id) == 0;
        if (count == 0 || st != MENTIS_OK)
            continue;
        t->learning_objectives = mentis_pool_calloc(pool, count, sizeof *t->learning_objectives);
        if (t->learning_objectives == NULL) {
            st = NOMEM();
            break;
        }
        for (size_t i = 0; i < nobjs; i++)
            if (strcmp(objs[i]->topic_id, t->id) == 0)
                t->learning_objectives[t->n_learning_objectives++] = objs[i];
    }
    PQclear(res);
    if (objectives != NULL) {
        *objectives = objs;
        *nobjectives = nobjs;
    }
    return st;
}

mentis_status_t mentis__cur_op_topics(mentis_ctx_t *ctx, const ProtobufCMessage *req,
                                      ProtobufCMessage *resp)
{
    const Mentis__V1__Curriculum__ListTopicsRequest *in = (const void *)req;
    Mentis__V1__Curriculum__ListTopicsResponse *out = (void *)resp;
    mentis_status_t st = mentis__cur_exists(ctx, in->id, NULL);
    if (st != MENTIS_OK)
        return st;
    const char *subject = in->subject != NULL ? in->subject : "";
    if (subject[0] != '\0') {
        PGresult *res = NULL;
        st = query(ctx, "SELECT 1 FROM curriculum.nodes WHERE curriculum_id = $1 AND node_id = $2",
                   2, (const char *const[]){in->id, subject}, &res);
        if (st != MENTIS_OK)
            return st;
        bool found = PQntuples(res) == 1;
        PQclear(res);
        if (!found) {
            mentis_ctx_field_error(ctx, "subject", "is no node of this curriculum");
            return mentis_err_set(MENTIS_ERR_NOT_FOUND, "subject_not_found", "no such subject");
        }
    }
    return load_topics(ctx, in->id, subject, &out->items, &out->n_items, NULL, NULL);
}

/* ---- glossary ---- */

static mentis_status_t load_glossary(mentis_ctx_t *ctx, const char *id, const char *node,
                                     Mentis__V1__Curriculum__GlossaryTerm ***items, size_t *n)
{
    void **rows = NULL;
    /* node NULL: every term, the curriculum-wide ones first. */
    mentis_status_t st = query_rows(
        ctx,
        "SELECT g.node_id AS topic_id, g.item_id AS id, g.term, g.definition, "
        "g.spoken_definition, g.pronunciation "
        "FROM curriculum.glossary_terms g LEFT JOIN curriculum.nodes n "
        "ON n.curriculum_id = g.curriculum_id AND n.node_id = g.node_id "
        "WHERE g.curriculum_id = $1 AND ($2::text IS NULL OR g.node_id = $2) "
        "ORDER BY n.seq NULLS FIRST, g.position",
        2, (const char *const[]){id, node}, &mentis__v1__curriculum__glossary_term__descriptor,
        &rows, n);
    *items = (Mentis__V1__Curriculum__GlossaryTerm **)rows;
    return st;
}

mentis_status_t mentis__cur_op_get(mentis_ctx_t *ctx, const ProtobufCMessage *req,
                                   ProtobufCMessage *resp)
{
    const Mentis__V1__Curriculum__GetCurriculumRequest *in = (const void *)req;
    Mentis__V1__Curriculum__CurriculumDetail *out = (void *)resp;
    mentis_pool_t *pool = mentis_ctx_pool(ctx);
    if (!mentis__cur_id_valid(ctx, "id", in->id))
        return mentis_err_set(MENTIS_ERR_INVALID_ARGUMENT, NULL, "invalid curriculum id");
    const char *sql =
        mentis_pool_printf(pool,
                           "SELECT %s, lifecycle::text AS lifecycle, metadata::text AS metadata, "
                           "educational::text AS educational, rights::text AS rights "
                           "FROM curriculum.curricula WHERE id = $1",
                           mentis__cur_summary_columns);
    out->curriculum = mentis_pool_calloc(pool, 1, sizeof *out->curriculum);
    if (sql == NULL || out->curriculum == NULL)
        return NOMEM();
    mentis__v1__curriculum__curriculum__init(out->curriculum);
    PGresult *res = NULL;
    mentis_status_t st = query(ctx, sql, 1, (const char *const[]){in->id}, &res);
    if (st != MENTIS_OK)
        return st;
    if (PQntuples(res) != 1) {
        PQclear(res);
        return mentis_err_set(MENTIS_ERR_NOT_FOUND, NULL, "no such curriculum");
    }
    st = mentis__cur_summary(pool, res, 0, out->curriculum);
    if (st == MENTIS_OK) /* its version and the four documents */
        st = mentis_row_read(pool, res, 0, &out->base);
    PQclear(res);
    if (st == MENTIS_OK)
        st = load_topics(ctx, in->id, "", &out->topics, &out->n_topics, &out->learning_objectives,
                         &out->n_learning_objectives);
    if (st == MENTIS_OK)
        st = load_glossary(ctx, in->id, NULL, &out->glossary, &out->n_glossary);
    return st;
}

mentis_status_t mentis__cur_op_subjects(mentis_ctx_t *ctx, const ProtobufCMessage *req,
                                        ProtobufCMessage *resp)
{
    const Mentis__V1__Curriculum__ListSubjectsRequest *in = (const void *)req;
    Mentis__V1__Curriculum__ListSubjectsResponse *out = (void *)resp;
    mentis_status_t st = mentis__cur_exists(ctx, in->id, NULL);
    if (st != MENTIS_OK)
        return st;
    void **rows = NULL;
    st = query_rows(ctx,
                    "WITH RECURSIVE up AS ("
                    "  SELECT node_id AS topic, parent_id AS anc FROM curriculum.nodes"
                    "  WHERE curriculum_id = $1 AND is_topic"
                    "  UNION ALL SELECT u.topic, n.parent_id FROM up u JOIN curriculum.nodes n"
                    "  ON n.curriculum_id = $1 AND n.node_id = u.anc) "
                    "SELECT s.node_id AS id, s.title, s.type, s.description, s.parent_id, "
                    "s.depth, (SELECT count(*) FROM up WHERE up.anc = s.node_id) AS topic_count "
                    "FROM curriculum.nodes s WHERE s.curriculum_id = $1 AND NOT s.is_topic "
                    "ORDER BY s.seq",
                    1, (const char *const[]){in->id}, &mentis__v1__curriculum__subject__descriptor,
                    &rows, &out->n_items);
    out->items = (Mentis__V1__Curriculum__Subject **)rows;
    return st;
}

/* ---- transcript ---- */

/*
 * The items of one table for a node, in order, as messages of desc, each with its UMCF
 * object as imported (rebuilt from its row) in the message's `source`.
 */
static mentis_status_t items_of(mentis_ctx_t *ctx, const cur_entity_t *e,
                                const ProtobufCMessageDescriptor *desc, const char *id,
                                const char *node, void ***items, size_t *n)
{
    mentis_pool_t *pool = mentis_ctx_pool(ctx);
    char *cols = mentis__cur_columns(pool, e, "");
    const char *sql =
        cols ? mentis_pool_printf(pool,
                                  "SELECT %s, item_id AS id FROM curriculum.%s "
                                  "WHERE curriculum_id = $1 AND node_id = $2 ORDER BY position",
                                  cols, e->table)
             : NULL;
    if (sql == NULL)
        return NOMEM();
    PGresult *res = NULL;
    mentis_status_t st = query(ctx, sql, 2, (const char *const[]){id, node}, &res);
    if (st == MENTIS_OK)
        st = mentis_rows_read(pool, res, desc, items, n);
    const ProtobufCFieldDescriptor *source =
        protobuf_c_message_descriptor_get_field_by_name(desc, "source");
    for (size_t r = 0; r < *n && st == MENTIS_OK; r++) {
        cJSON *obj = mentis__cur_join(e, res, (int)r);
        char *text = obj != NULL ? cJSON_PrintUnformatted(obj) : NULL;
        cJSON_Delete(obj);
        Mentis__V1__JsonValue *v = mentis__cur_json(pool, text);
        free(text);
        if (v == NULL)
            st = NOMEM();
        else
            memcpy((char *)(*items)[r] + source->offset, &v, sizeof v);
    }
    PQclear(res);
    return st;
}

static mentis_status_t transcript_segments(mentis_ctx_t *ctx, const char *id, const char *node,
                                           Mentis__V1__Curriculum__Transcript *out)
{
    void **rows = NULL;
    mentis_status_t st = query_rows(
        ctx,
        "SELECT position AS index, item_id AS id, type, content, "
        "coalesce(spoken_text, spoken_content) AS spoken_text, "
        "speaking_notes::text AS speaking_notes, stopping_point::text AS stopping_point, "
        "checkpoint::text AS checkpoint, glossary_refs::text AS glossary_refs "
        "FROM curriculum.segments WHERE curriculum_id = $1 AND node_id = $2 ORDER BY position",
        2, (const char *const[]){id, node}, &mentis__v1__curriculum__segment__descriptor, &rows,
        &out->n_segments);
    out->segments = (Mentis__V1__Curriculum__Segment **)rows;
    out->total_segments = (int32_t)out->n_segments;
    return st;
}

static mentis_status_t transcript_items(mentis_ctx_t *ctx, const char *id, const char *node,
                                        Mentis__V1__Curriculum__Transcript *out)
{
    void **misconceptions = NULL, **examples = NULL, **assessments = NULL;
    mentis_status_t st = items_of(ctx, &mentis__cur_misconceptions,
                                  &mentis__v1__curriculum__misconception__descriptor, id, node,
                                  &misconceptions, &out->n_misconceptions);
    out->misconceptions = (Mentis__V1__Curriculum__Misconception **)misconceptions;
    if (st == MENTIS_OK)
        st = items_of(ctx, &mentis__cur_examples, &mentis__v1__curriculum__example__descriptor, id,
                      node, &examples, &out->n_examples);
    out->examples = (Mentis__V1__Curriculum__Example **)examples;
    if (st == MENTIS_OK)
        st = items_of(ctx, &mentis__cur_assessments,
                      &mentis__v1__curriculum__assessment__descriptor, id, node, &assessments,
                      &out->n_assessments);
    out->assessments = (Mentis__V1__Curriculum__Assessment **)assessments;
    return st;
}

mentis_status_t mentis__cur_op_transcript(mentis_ctx_t *ctx, const ProtobufCMessage *req,
                                          ProtobufCMessage *resp)
{
    const Mentis__V1__Curriculum__GetTranscriptRequest *in = (const void *)req;
    Mentis__V1__Curriculum__Transcript *out = (void *)resp;
    mentis_pool_t *pool = mentis_ctx_pool(ctx);
    if (!mentis__cur_id_valid(ctx, "id", in->id))
        return mentis_err_set(MENTIS_ERR_INVALID_ARGUMENT, NULL, "invalid curriculum id");
    const char *node = in->topic_id != NULL ? in->topic_id : "";
    /* The curriculum and the node in one look: a transcript is the hottest read. */
    PGresult *res = NULL;
    mentis_status_t st =
        query(ctx,
              "SELECT n.node_id IS NOT NULL, coalesce(n.title, '') FROM curriculum.curricula c "
              "LEFT JOIN curriculum.nodes n ON n.curriculum_id = c.id AND n.node_id = $2 "
              "WHERE c.id = $1",
              2, (const char *const[]){in->id, node}, &res);
    if (st != MENTIS_OK)
        return st;
    bool curriculum = PQntuples(res) == 1;
    bool found = curriculum && strcmp(PQgetvalue(res, 0, 0), "t") == 0;
    out->title = found ? mentis_pool_strdup(pool, PQgetvalue(res, 0, 1)) : NULL;
    PQclear(res);
    if (!curriculum)
        return mentis_err_set(MENTIS_ERR_NOT_FOUND, NULL, "no such curriculum");
    if (!found)
        return mentis_err_set(MENTIS_ERR_NOT_FOUND, "topic_not_found", "no such topic");
    out->curriculum_id = mentis_pool_strdup(pool, in->id);
    out->topic_id = mentis_pool_strdup(pool, node);
    if (out->title == NULL || out->curriculum_id == NULL || out->topic_id == NULL)
        return NOMEM();
    if ((st = transcript_segments(ctx, in->id, node, out)) != MENTIS_OK ||
        (st = transcript_items(ctx, in->id, node, out)) != MENTIS_OK)
        return st;
    return load_glossary(ctx, in->id, node, &out->glossary, &out->n_glossary);
}
