/*
 * Questions: list (filters, keyset pages, ranked with q), create, get, update, delete, and
 * bulk update. Every statement on kb.questions is in this file, except the pack
 * membership joins of pack_members.c and the search of search.c, which read
 * KB_QUESTION_COLUMNS.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kb.h"

const char KB_QUESTION_COLUMNS[] =
    "q.id, q.domain_id, q.subcategory, q.question_text, q.answer_text, "
    "to_json(q.acceptable_answers), q.difficulty, q.question_type, q.question_source, "
    "q.source_attribution, to_json(q.hints), q.explanation, to_json(q.tags), "
    "to_json(q.mcq_options), q.status, q.has_audio, q.tenant_id IS NULL, "
    "coalesce(q.owner_id::text, ''), q.version, "
    "(extract(epoch FROM q.created_at) * 1000)::bigint, "
    "(extract(epoch FROM q.updated_at) * 1000)::bigint, "
    "(SELECT d.slug FROM kb.domains d WHERE d.id = q.domain_id), q.seq";

/* Drafts are seen by their owner and admins: $1 the caller's id, $2 whether an admin. */
#define VISIBLE "(q.status <> 'draft' OR q.owner_id = $1::uuid OR $2::boolean)"

#define TEXT_MAX   4000
#define ANSWER_MAX 1000

void mentis__kb_question_read(mentis_pool_t *pool, const PGresult *res, int row,
                              Mentis__V1__Kb__Question *q)
{
    mentis__v1__kb__question__init(q);
    q->id = mentis__kb_str(pool, res, row, 0);
    q->domain_id = mentis__kb_str(pool, res, row, 1);
    q->subcategory = mentis__kb_str(pool, res, row, 2);
    q->question_text = mentis__kb_str(pool, res, row, 3);
    q->answer_text = mentis__kb_str(pool, res, row, 4);
    mentis__kb_strings(pool, PQgetvalue(res, row, 5), &q->acceptable_answers,
                       &q->n_acceptable_answers);
    q->difficulty = (int32_t)mentis__kb_int(res, row, 6);
    q->question_type = mentis__kb_question_type_from(PQgetvalue(res, row, 7));
    q->question_source = mentis__kb_str(pool, res, row, 8);
    q->source_attribution = mentis__kb_str(pool, res, row, 9);
    mentis__kb_strings(pool, PQgetvalue(res, row, 10), &q->hints, &q->n_hints);
    q->explanation = mentis__kb_str(pool, res, row, 11);
    mentis__kb_strings(pool, PQgetvalue(res, row, 12), &q->tags, &q->n_tags);
    mentis__kb_strings(pool, PQgetvalue(res, row, 13), &q->mcq_options, &q->n_mcq_options);
    q->status = mentis__kb_status_from(PQgetvalue(res, row, 14));
    q->has_audio = mentis__kb_bool(res, row, 15);
    q->is_system = mentis__kb_bool(res, row, 16);
    q->owner_id = mentis__kb_str(pool, res, row, 17);
    q->version = mentis__kb_int(res, row, 18);
    q->created_at = mentis__kb_timestamp(pool, PQgetvalue(res, row, 19));
    q->updated_at = mentis__kb_timestamp(pool, PQgetvalue(res, row, 20));
    q->domain_slug = mentis__kb_str(pool, res, row, 21);
}

static const char *field(mentis_pool_t *pool, const char *prefix, const char *name)
{
    return prefix[0] ? mentis_pool_printf(pool, "%s%s", prefix, name) : name;
}

bool mentis__kb_question_fields_ok(mentis_ctx_t *ctx, const char *prefix,
                                   const Mentis__V1__Kb__CreateQuestionRequest *in,
                                   bool check_domain)
{
    mentis_pool_t *pool = mentis_ctx_pool(ctx);
#define F(name) field(pool, prefix, name)
    bool ok = mentis__kb_uuid_ok(ctx, F("domain_id"), in->domain_id);
    if (ok && check_domain) {
        bool found = false;
        if (mentis__kb_domain_visible(ctx, in->domain_id, &found) != MENTIS_OK || !found) {
            mentis_ctx_field_error(ctx, F("domain_id"), "names no domain");
            ok = false;
        }
    }
    ok = mentis__kb_text_ok(ctx, F("subcategory"), in->subcategory, 0, 100, false) && ok;
    ok = mentis__kb_text_ok(ctx, F("question_text"), in->question_text, 1, TEXT_MAX, true) && ok;
    ok = mentis__kb_text_ok(ctx, F("answer_text"), in->answer_text, 1, ANSWER_MAX, true) && ok;
    ok = mentis__kb_list_ok(ctx, F("acceptable_answers"), in->acceptable_answers,
                            in->n_acceptable_answers, 50, ANSWER_MAX, true) &&
         ok;
    if (in->difficulty < 0 || in->difficulty > 5) {
        mentis_ctx_field_error(ctx, F("difficulty"), "must be from 1 to 5");
        ok = false;
    }
    ok = mentis__kb_text_ok(ctx, F("question_source"), in->question_source, 0, 500, false) && ok;
    ok = mentis__kb_text_ok(ctx, F("source_attribution"), in->source_attribution, 0, 500, false) &&
         ok;
    ok = mentis__kb_list_ok(ctx, F("hints"), in->hints, in->n_hints, 20, 1000, true) && ok;
    ok = mentis__kb_text_ok(ctx, F("explanation"), in->explanation, 0, TEXT_MAX, true) && ok;
    ok = mentis__kb_list_ok(ctx, F("tags"), in->tags, in->n_tags, 50, 64, false) && ok;
    ok = mentis__kb_list_ok(ctx, F("mcq_options"), in->mcq_options, in->n_mcq_options, 10, 500,
                            false) &&
         ok;
#undef F
    return ok;
}

mentis_status_t mentis__kb_question_insert(mentis_ctx_t *ctx, const mentis_kb_caller_t *c,
                                           const char *id,
                                           const Mentis__V1__Kb__CreateQuestionRequest *in)
{
    mentis_pool_t *pool = mentis_ctx_pool(ctx);
    const char *p[] = {
        id,
        c ? c->user : NULL,
        c ? "f" : "t",
        in->domain_id,
        in->subcategory,
        in->question_text,
        in->answer_text,
        mentis__kb_strings_json(pool, in->acceptable_answers, in->n_acceptable_answers),
        mentis__kb_itoa(pool, in->difficulty ? in->difficulty : 3),
        in->question_type ? mentis__kb_question_type_str(in->question_type) : "toss_up",
        in->question_source,
        in->source_attribution,
        mentis__kb_strings_json(pool, in->hints, in->n_hints),
        in->explanation,
        mentis__kb_strings_json(pool, in->tags, in->n_tags),
        mentis__kb_strings_json(pool, in->mcq_options, in->n_mcq_options),
        in->status ? mentis__kb_status_str(in->status) : "active",
    };
    return mentis__kb_query(
        ctx,
        "INSERT INTO kb.questions (id, owner_id, tenant_id, domain_id, subcategory, "
        "question_text, answer_text, acceptable_answers, difficulty, question_type, "
        "question_source, source_attribution, hints, explanation, tags, mcq_options, status) "
        "VALUES ($1, $2, CASE WHEN $3::boolean THEN NULL ELSE kb.tenant() END, $4, $5, $6, "
        "$7, " KB_TEXT_ARRAY("$8") ", $9, $10, $11, $12, " KB_TEXT_ARRAY(
            "$13") ", $14, " KB_TEXT_ARRAY("$15") ", " KB_TEXT_ARRAY("$16") ", $17)",
        17, p, NULL);
}

/* One question as the caller sees it; not_found otherwise. */
static mentis_status_t question_get(mentis_ctx_t *ctx, const mentis_kb_caller_t *c, const char *id,
                                    Mentis__V1__Kb__Question *out)
{
    char sql[2048];
    snprintf(sql, sizeof sql, "SELECT %s FROM kb.questions q WHERE q.id = $3 AND " VISIBLE,
             KB_QUESTION_COLUMNS);
    const char *p[] = {c->user, mentis__kb_caller_admin(c), id};
    PGresult *res = NULL;
    mentis_status_t st = mentis__kb_query(ctx, sql, 3, p, &res);
    if (st == MENTIS_OK && PQntuples(res) != 1)
        st = mentis_err_set(MENTIS_ERR_NOT_FOUND, NULL, "no question %s", id);
    if (st == MENTIS_OK)
        mentis__kb_question_read(mentis_ctx_pool(ctx), res, 0, out);
    PQclear(res);
    return st;
}

/* q cut to 256 bytes on a character boundary: any text is a query, long ones are cut. */
static const char *query_text(mentis_pool_t *pool, const char *q)
{
    size_t n = strlen(q);
    if (n <= 256)
        return q;
    n = 256;
    while (n > 0 && ((unsigned char)q[n] & 0xC0) == 0x80)
        n--;
    return mentis_pool_strndup(pool, q, n);
}

const char *mentis__kb_query_text(mentis_pool_t *pool, const char *q)
{
    return query_text(pool, q);
}

KB_HANDLER(mentis__kb_op_questions_list)
{
    const Mentis__V1__Kb__ListQuestionsRequest *in = (const void *)req;
    Mentis__V1__Kb__ListQuestionsResponse *out = (void *)resp;
    mentis_pool_t *pool = mentis_ctx_pool(ctx);
    mentis_kb_caller_t c;
    mentis__kb_caller(ctx, &c);
    bool ok = mentis__kb_uuid_opt_ok(ctx, "pack_id", in->pack_id);
    ok = mentis__kb_uuid_opt_ok(ctx, "domain_id", in->domain_id) && ok;
    for (size_t i = 0; i < in->n_difficulty; i++)
        if (in->difficulty[i] < 1 || in->difficulty[i] > 5) {
            mentis__kb_item_error(ctx, "difficulty", i, "must be from 1 to 5");
            ok = false;
        }
    if (in->n_difficulty > 5) {
        mentis_ctx_field_error(ctx, "difficulty", "must list at most 5 levels");
        ok = false;
    }
    ok = mentis__kb_text_ok(ctx, "subcategory", in->subcategory, 0, 100, false) && ok;
    bool ranked = in->q[0] != '\0', in_pack = in->pack_id[0] != '\0';
    char kind = ranked ? 'r' : in_pack ? 'p' : 's';
    mentis_kb_page_t page;
    mentis_status_t st = mentis__kb_page_read(ctx, in->limit, in->cursor, kind, &page);
    if (!ok)
        return mentis__kb_invalid("questions.list");
    if (st != MENTIS_OK)
        return st;
    if (in_pack) {
        Mentis__V1__Kb__Pack pack;
        if ((st = mentis__kb_pack_load(ctx, &c, in->pack_id, false, &pack)) != MENTIS_OK)
            return st;
    }
    char **levels = mentis_pool_calloc(pool, in->n_difficulty + 1, sizeof *levels);
    for (size_t i = 0; levels && i < in->n_difficulty; i++)
        levels[i] = mentis__kb_itoa(pool, in->difficulty[i]);
    bool has_audio_filter =
        in->audio_filter_case == MENTIS__V1__KB__LIST_QUESTIONS_REQUEST__AUDIO_FILTER_HAS_AUDIO;
    const char *p[] = {
        c.user,
        mentis__kb_caller_admin(&c),
        in->status ? mentis__kb_status_str(in->status) : NULL,
        in->domain_id[0] ? in->domain_id : NULL,
        in->subcategory[0] ? in->subcategory : NULL,
        in->n_difficulty ? mentis__kb_strings_json(pool, levels, in->n_difficulty) : NULL,
        in->question_type ? mentis__kb_question_type_str(in->question_type) : NULL,
        has_audio_filter ? (in->has_audio ? "t" : "f") : NULL,
        in->mine ? "t" : "f",
        in_pack ? in->pack_id : NULL,
        ranked ? query_text(pool, in->q) : NULL,
        page.has_after ? page.key : NULL,
        page.has_after ? page.id : NULL,
        mentis__kb_itoa(pool, page.limit + 1),
    };
    const char *order = ranked ? "rank DESC, q.id" : in_pack ? "pq.position" : "q.seq DESC";
    const char *after = ranked    ? "(ts_rank(s.search, websearch_to_tsquery('english', $11)) < "
                                    "$12::real OR (ts_rank(s.search, websearch_to_tsquery("
                                    "'english', $11)) = $12::real AND q.id > $13::uuid))"
                        : in_pack ? "(pq.position > $12::int AND $13::uuid IS NOT NULL)"
                                  : "(q.seq < $12::bigint AND $13::uuid IS NOT NULL)";
    char sql[6144];
    snprintf(sql, sizeof sql,
             "SELECT %s, %s AS rank, %s FROM kb.questions q %s %s WHERE " VISIBLE
             " AND (CASE WHEN $3::text IS NULL THEN q.status IN ('active', 'draft') ELSE "
             "q.status = $3 END) AND ($4::uuid IS NULL OR q.domain_id = $4::uuid) "
             "AND ($5::text IS NULL OR q.subcategory = $5) "
             "AND ($6::json IS NULL OR q.difficulty = ANY(ARRAY(SELECT "
             "json_array_elements_text($6::json)::int))) "
             "AND ($7::text IS NULL OR q.question_type = $7) "
             "AND ($8::boolean IS NULL OR q.has_audio = $8::boolean) "
             "AND (NOT $9::boolean OR q.owner_id = $1::uuid) "
             "AND ($10::uuid IS NULL OR pq.pack_id = $10::uuid) "
             "AND ($11::text IS NULL OR s.search @@ websearch_to_tsquery('english', $11)) "
             "AND ($12::text IS NULL OR %s) ORDER BY %s LIMIT $14",
             KB_QUESTION_COLUMNS,
             ranked ? "ts_rank(s.search, websearch_to_tsquery('english', $11))" : "0::real",
             in_pack ? "pq.position" : "0",
             in_pack ? "JOIN kb.pack_questions pq ON pq.question_id = q.id"
                     : "LEFT JOIN (SELECT NULL::uuid AS pack_id) pq ON true",
             /* The vectors' own table, so the GIN index serves (migration 0002). */
             ranked ? "JOIN kb.question_search s ON s.question_id = q.id AND (s.tenant_id IS "
                      "NULL OR s.tenant_id = kb.tenant())"
                    : "LEFT JOIN (SELECT NULL::tsvector AS search) s ON true",
             after, order);
    PGresult *res = NULL;
    if ((st = mentis__kb_query(ctx, sql, 14, p, &res)) != MENTIS_OK)
        return st;
    int n = PQntuples(res), shown = n > page.limit ? page.limit : n;
    out->items = mentis_pool_calloc(pool, (size_t)shown + 1, sizeof *out->items);
    for (int i = 0; out->items && i < shown; i++) {
        out->items[i] = mentis_pool_alloc(pool, sizeof *out->items[i]);
        mentis__kb_question_read(pool, res, i, out->items[i]);
        if (in_pack)
            out->items[i]->position = (int32_t)mentis__kb_int(res, i, KB_QUESTION_NCOLS + 1);
        out->n_items++;
    }
    if (n > page.limit && shown > 0) {
        int last = shown - 1;
        const char *key = ranked    ? PQgetvalue(res, last, KB_QUESTION_NCOLS)
                          : in_pack ? PQgetvalue(res, last, KB_QUESTION_NCOLS + 1)
                                    : PQgetvalue(res, last, KB_QUESTION_NCOLS - 1);
        out->next_cursor = mentis__kb_page_cursor(pool, kind, key, PQgetvalue(res, last, 0));
    }
    PQclear(res);
    return MENTIS_OK;
}

KB_HANDLER(mentis__kb_op_questions_create)
{
    const Mentis__V1__Kb__CreateQuestionRequest *in = (const void *)req;
    mentis_kb_caller_t c;
    mentis__kb_caller(ctx, &c);
    if (!mentis__kb_question_fields_ok(ctx, "", in, true))
        return mentis__kb_invalid("questions.create");
    mentis_status_t st = mentis__kb_need_user(&c);
    if (st != MENTIS_OK)
        return st;
    char *id = mentis__kb_new_id(mentis_ctx_pool(ctx));
    if ((st = mentis__kb_question_insert(ctx, &c, id, in)) != MENTIS_OK)
        return st;
    return question_get(ctx, &c, id, (Mentis__V1__Kb__Question *)resp);
}

KB_HANDLER(mentis__kb_op_questions_get)
{
    const Mentis__V1__Kb__QuestionRef *in = (const void *)req;
    mentis_kb_caller_t c;
    mentis__kb_caller(ctx, &c);
    if (!mentis__kb_uuid_ok(ctx, "id", in->id))
        return mentis__kb_invalid("questions.get");
    return question_get(ctx, &c, in->id, (Mentis__V1__Kb__Question *)resp);
}

/* The question's kind and owner, when the caller sees it. */
static mentis_status_t question_owner(mentis_ctx_t *ctx, const mentis_kb_caller_t *c,
                                      const char *id, bool *is_system, char **owner)
{
    const char *p[] = {c->user, mentis__kb_caller_admin(c), id};
    PGresult *res = NULL;
    mentis_status_t st =
        mentis__kb_query(ctx,
                         "SELECT q.tenant_id IS NULL, coalesce(q.owner_id::text, '') "
                         "FROM kb.questions q WHERE q.id = $3 AND " VISIBLE,
                         3, p, &res);
    if (st == MENTIS_OK && PQntuples(res) != 1)
        st = mentis_err_set(MENTIS_ERR_NOT_FOUND, NULL, "no question %s", id);
    if (st == MENTIS_OK) {
        *is_system = mentis__kb_bool(res, 0, 0);
        *owner = mentis__kb_str(mentis_ctx_pool(ctx), res, 0, 1);
    }
    PQclear(res);
    return st;
}

static bool clears(const Mentis__V1__Kb__UpdateQuestionRequest *in, const char *name)
{
    for (size_t i = 0; i < in->n_clear; i++)
        if (strcmp(in->clear[i], name) == 0)
            return true;
    return false;
}

/* A list's new value as JSON: the given items, [] when cleared, NULL when unchanged. */
static const char *list_change(mentis_pool_t *pool, const Mentis__V1__Kb__UpdateQuestionRequest *in,
                               const char *name, char *const *items, size_t n)
{
    if (n > 0)
        return mentis__kb_strings_json(pool, items, n);
    return clears(in, name) ? "[]" : NULL;
}

KB_HANDLER(mentis__kb_op_questions_update)
{
    const Mentis__V1__Kb__UpdateQuestionRequest *in = (const void *)req;
    mentis_pool_t *pool = mentis_ctx_pool(ctx);
    mentis_kb_caller_t c;
    mentis__kb_caller(ctx, &c);
#define HAS(oneof, CASE) (in->oneof##_case == MENTIS__V1__KB__UPDATE_QUESTION_REQUEST__##CASE)
    bool has_sub = HAS(subcategory_set, SUBCATEGORY_SET_SUBCATEGORY);
    bool has_src = HAS(question_source_set, QUESTION_SOURCE_SET_QUESTION_SOURCE);
    bool has_attr = HAS(source_attribution_set, SOURCE_ATTRIBUTION_SET_SOURCE_ATTRIBUTION);
    bool has_expl = HAS(explanation_set, EXPLANATION_SET_EXPLANATION);
    bool has_audio = HAS(audio_set, AUDIO_SET_HAS_AUDIO);
#undef HAS
    bool ok = mentis__kb_uuid_ok(ctx, "id", in->id);
    if (in->domain_id[0]) {
        bool found = false;
        if (!mentis__kb_uuid_ok(ctx, "domain_id", in->domain_id))
            ok = false;
        else if (mentis__kb_domain_visible(ctx, in->domain_id, &found) != MENTIS_OK || !found) {
            mentis_ctx_field_error(ctx, "domain_id", "names no domain");
            ok = false;
        }
    }
    if (has_sub)
        ok = mentis__kb_text_ok(ctx, "subcategory", in->subcategory, 0, 100, false) && ok;
    if (in->question_text[0])
        ok = mentis__kb_text_ok(ctx, "question_text", in->question_text, 1, TEXT_MAX, true) && ok;
    if (in->answer_text[0])
        ok = mentis__kb_text_ok(ctx, "answer_text", in->answer_text, 1, ANSWER_MAX, true) && ok;
    ok = mentis__kb_list_ok(ctx, "acceptable_answers", in->acceptable_answers,
                            in->n_acceptable_answers, 50, ANSWER_MAX, true) &&
         ok;
    if (in->difficulty < 0 || in->difficulty > 5) {
        mentis_ctx_field_error(ctx, "difficulty", "must be from 1 to 5");
        ok = false;
    }
    if (has_src)
        ok = mentis__kb_text_ok(ctx, "question_source", in->question_source, 0, 500, false) && ok;
    if (has_attr)
        ok = mentis__kb_text_ok(ctx, "source_attribution", in->source_attribution, 0, 500, false) &&
             ok;
    ok = mentis__kb_list_ok(ctx, "hints", in->hints, in->n_hints, 20, 1000, true) && ok;
    if (has_expl)
        ok = mentis__kb_text_ok(ctx, "explanation", in->explanation, 0, TEXT_MAX, true) && ok;
    ok = mentis__kb_list_ok(ctx, "tags", in->tags, in->n_tags, 50, 64, false) && ok;
    ok = mentis__kb_list_ok(ctx, "mcq_options", in->mcq_options, in->n_mcq_options, 10, 500,
                            false) &&
         ok;
    static const char *const lists[] = {"acceptable_answers", "hints", "tags", "mcq_options"};
    size_t given[] = {in->n_acceptable_answers, in->n_hints, in->n_tags, in->n_mcq_options};
    for (size_t i = 0; i < in->n_clear; i++) {
        size_t k = 0;
        while (k < 4 && strcmp(in->clear[i], lists[k]) != 0)
            k++;
        if (k == 4)
            mentis__kb_item_error(ctx, "clear", i,
                                  "must be acceptable_answers, hints, tags or mcq_options");
        else if (given[k] > 0)
            mentis__kb_item_error(ctx, "clear", i, "names a list the request also sets");
        ok = ok && k < 4 && given[k] == 0;
    }
    if (!ok)
        return mentis__kb_invalid("questions.update");
    int64_t want = 0;
    mentis_status_t st = mentis__kb_expected_version(in->version, in->expected_version, &want);
    bool is_system = false;
    char *owner = NULL;
    if (st == MENTIS_OK)
        st = question_owner(ctx, &c, in->id, &is_system, &owner);
    if (st == MENTIS_OK)
        st = mentis__kb_may_change(ctx, &c, is_system, owner, "questions");
    if (st != MENTIS_OK)
        return st;
    const char *p[] = {
        in->id,
        in->domain_id[0] ? in->domain_id : NULL,
        has_sub ? in->subcategory : NULL,
        in->question_text[0] ? in->question_text : NULL,
        in->answer_text[0] ? in->answer_text : NULL,
        list_change(pool, in, "acceptable_answers", in->acceptable_answers,
                    in->n_acceptable_answers),
        in->difficulty ? mentis__kb_itoa(pool, in->difficulty) : NULL,
        in->question_type ? mentis__kb_question_type_str(in->question_type) : NULL,
        has_src ? in->question_source : NULL,
        has_attr ? in->source_attribution : NULL,
        list_change(pool, in, "hints", in->hints, in->n_hints),
        has_expl ? in->explanation : NULL,
        list_change(pool, in, "tags", in->tags, in->n_tags),
        list_change(pool, in, "mcq_options", in->mcq_options, in->n_mcq_options),
        in->status ? mentis__kb_status_str(in->status) : NULL,
        has_audio ? (in->has_audio ? "t" : "f") : NULL,
        want ? mentis__kb_itoa(pool, want) : NULL,
    };
#define LIST(col, n)                                                                               \
    col " = CASE WHEN " n "::json IS NULL THEN " col " ELSE " KB_TEXT_ARRAY(n) " END"
    PGresult *res = NULL;
    st = mentis__kb_query(
        ctx,
        /* Laid out by hand: the formatter breaks literals joined with macros apart. */
        // clang-format off
        "UPDATE kb.questions SET domain_id = coalesce($2::uuid, domain_id), "
        "subcategory = coalesce($3, subcategory), "
        "question_text = coalesce($4, question_text), "
        "answer_text = coalesce($5, answer_text), "
        LIST("acceptable_answers", "$6") ", "
        "difficulty = coalesce($7::int, difficulty), "
        "question_type = coalesce($8, question_type), "
        "question_source = coalesce($9, question_source), "
        "source_attribution = coalesce($10, source_attribution), "
        LIST("hints", "$11") ", "
        "explanation = coalesce($12, explanation), "
        LIST("tags", "$13") ", "
        LIST("mcq_options", "$14") ", "
        "status = coalesce($15, status), has_audio = coalesce($16::boolean, has_audio), "
        "version = version + 1, updated_at = now() "
        "WHERE id = $1 AND ($17::bigint IS NULL OR version = $17::bigint) RETURNING id",
        // clang-format on
        17, p, &res);
#undef LIST
    bool done = st == MENTIS_OK && PQntuples(res) == 1;
    PQclear(res);
    if (st != MENTIS_OK)
        return st;
    if (!done)
        return mentis__kb_version_mismatch("question", in->id, want);
    return question_get(ctx, &c, in->id, (Mentis__V1__Kb__Question *)resp);
}

KB_HANDLER(mentis__kb_op_questions_delete)
{
    (void)resp;
    const Mentis__V1__Kb__QuestionRef *in = (const void *)req;
    mentis_kb_caller_t c;
    mentis__kb_caller(ctx, &c);
    if (!mentis__kb_uuid_ok(ctx, "id", in->id))
        return mentis__kb_invalid("questions.delete");
    bool is_system = false;
    char *owner = NULL;
    mentis_status_t st = question_owner(ctx, &c, in->id, &is_system, &owner);
    if (st == MENTIS_OK)
        st = mentis__kb_may_change(ctx, &c, is_system, owner, "questions");
    if (st != MENTIS_OK)
        return st;
    const char *p[] = {in->id};
    /* Packs of every tenant count: the foreign key sees them all. */
    st = mentis__kb_query(ctx, "DELETE FROM kb.questions WHERE id = $1", 1, p, NULL);
    if (st == MENTIS_ERR_CONFLICT)
        return mentis_err_set(MENTIS_ERR_CONFLICT, "question_in_use",
                              "question %s is still in a pack: take it out first", in->id);
    return st;
}

KB_HANDLER(mentis__kb_op_questions_bulk_update)
{
    const Mentis__V1__Kb__BulkUpdateQuestionsRequest *in = (const void *)req;
    Mentis__V1__Kb__BulkUpdateQuestionsResponse *out = (void *)resp;
    mentis_pool_t *pool = mentis_ctx_pool(ctx);
    mentis_kb_caller_t c;
    mentis__kb_caller(ctx, &c);
    const Mentis__V1__Kb__QuestionChanges *u = in->updates;
    bool ok = mentis__kb_ids_ok(ctx, "question_ids", in->question_ids, in->n_question_ids, 1000);
    bool has_sub = u != NULL && u->subcategory_set_case ==
                                    MENTIS__V1__KB__QUESTION_CHANGES__SUBCATEGORY_SET_SUBCATEGORY;
    if (u == NULL || (!u->domain_id[0] && !has_sub && !u->difficulty && !u->question_type &&
                      !u->status && !u->n_add_tags && !u->n_remove_tags)) {
        mentis_ctx_field_error(ctx, "updates", "must change at least one field");
        ok = false;
    } else {
        if (u->domain_id[0]) {
            bool found = false;
            if (!mentis__kb_uuid_ok(ctx, "updates.domain_id", u->domain_id))
                ok = false;
            else if (mentis__kb_domain_visible(ctx, u->domain_id, &found) != MENTIS_OK || !found) {
                mentis_ctx_field_error(ctx, "updates.domain_id", "names no domain");
                ok = false;
            }
        }
        if (has_sub)
            ok =
                mentis__kb_text_ok(ctx, "updates.subcategory", u->subcategory, 0, 100, false) && ok;
        if (u->difficulty < 0 || u->difficulty > 5) {
            mentis_ctx_field_error(ctx, "updates.difficulty", "must be from 1 to 5");
            ok = false;
        }
        ok = mentis__kb_list_ok(ctx, "updates.add_tags", u->add_tags, u->n_add_tags, 50, 64,
                                false) &&
             ok;
        ok = mentis__kb_list_ok(ctx, "updates.remove_tags", u->remove_tags, u->n_remove_tags, 50,
                                64, false) &&
             ok;
    }
    if (!ok)
        return mentis__kb_invalid("questions.bulk_update");
    /* Every question must be there and the caller's to change, or nothing changes. */
    const char *ids = mentis__kb_strings_json(pool, in->question_ids, in->n_question_ids);
    const char *p0[] = {c.user, mentis__kb_caller_admin(&c), ids};
    PGresult *res = NULL;
    mentis_status_t st = mentis__kb_query(
        ctx,
        "SELECT i.id, q.id IS NOT NULL, q.tenant_id IS NULL, coalesce(q.owner_id::text, '') "
        "FROM json_array_elements_text($3::json) WITH ORDINALITY AS i (id, n) "
        "LEFT JOIN kb.questions q ON q.id = i.id::uuid AND " VISIBLE " ORDER BY i.n",
        3, p0, &res);
    if (st != MENTIS_OK)
        return st;
    bool missing = false, refused = false, system = false;
    const char *code = "not_owner";
    for (int i = 0; i < PQntuples(res); i++) {
        if (!mentis__kb_bool(res, i, 1)) {
            mentis__kb_item_error(ctx, "question_ids", (size_t)i, "names no question");
            missing = true;
        } else if (mentis__kb_bool(res, i, 2)) {
            system = true;
            if (!c.platform) {
                mentis__kb_item_error(ctx, "question_ids", (size_t)i,
                                      "is a system question: read-only");
                refused = true;
                code = "read_only";
            }
        } else if (!c.admin && (c.user == NULL || strcmp(c.user, PQgetvalue(res, i, 3)) != 0)) {
            mentis__kb_item_error(ctx, "question_ids", (size_t)i, "is not yours to change");
            refused = true;
        }
    }
    PQclear(res);
    if (missing)
        return mentis_err_set(MENTIS_ERR_INVALID_ARGUMENT, NULL,
                              "questions.bulk_update: unknown questions");
    if (refused)
        return mentis_err_set(MENTIS_ERR_PERMISSION_DENIED, code,
                              "questions.bulk_update: some questions are not yours to change");
    if (system && (st = mentis__kb_system_writes(ctx)) != MENTIS_OK)
        return st;
    const char *p[] = {
        ids,
        u->domain_id[0] ? u->domain_id : NULL,
        has_sub ? u->subcategory : NULL,
        u->difficulty ? mentis__kb_itoa(pool, u->difficulty) : NULL,
        u->question_type ? mentis__kb_question_type_str(u->question_type) : NULL,
        u->status ? mentis__kb_status_str(u->status) : NULL,
        mentis__kb_strings_json(pool, u->add_tags, u->n_add_tags),
        mentis__kb_strings_json(pool, u->remove_tags, u->n_remove_tags),
    };
    st = mentis__kb_query(
        ctx,
        "UPDATE kb.questions SET domain_id = coalesce($2::uuid, domain_id), "
        "subcategory = coalesce($3, subcategory), "
        "difficulty = coalesce($4::int, difficulty), "
        "question_type = coalesce($5, question_type), status = coalesce($6, status), "
        "tags = ARRAY(SELECT t FROM (SELECT t, min(o) AS o FROM unnest(tags || " KB_TEXT_ARRAY(
            "$7") ") WITH ORDINALITY AS x (t, o) GROUP BY t) s "
                  "WHERE NOT t = ANY(" KB_TEXT_ARRAY(
                      "$8") ") ORDER BY o), "
                            "version = version + 1, updated_at = now() "
                            "WHERE id = ANY(ARRAY(SELECT "
                            "json_array_elements_text($1::json))::uuid[]) "
                            "RETURNING id",
        8, p, &res);
    if (st != MENTIS_OK)
        return st;
    int n = PQntuples(res);
    PQclear(res);
    if ((size_t)n != in->n_question_ids)
        return mentis_err_set(MENTIS_ERR_INTERNAL, NULL, "bulk update changed %d of %zu", n,
                              in->n_question_ids);
    out->updated_count = n;
    out->question_ids = in->question_ids;
    out->n_question_ids = in->n_question_ids;
    return MENTIS_OK;
}
