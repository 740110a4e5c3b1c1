/*
 * A pack's questions: the list in order, adding, taking one out, and bundles made of other
 * packs. Membership changes move the pack's aggregates through the triggers of migration
 * 0002, and bump the pack's version (its content changed).
 */
#include <stdio.h>
#include <string.h>

#include "kb.h"

KB_HANDLER(mentis__kb_op_pack_questions_list)
{
    const Mentis__V1__Kb__ListPackQuestionsRequest *in = (const void *)req;
    if (!mentis__kb_uuid_ok(ctx, "id", in->id))
        return mentis__kb_invalid("packs.questions.list");
    /* The question list filtered by pack is this list: one query, one cursor format. */
    Mentis__V1__Kb__ListQuestionsRequest q;
    mentis__v1__kb__list_questions_request__init(&q);
    q.pack_id = in->id;
    q.limit = in->limit;
    q.cursor = in->cursor;
    return mentis__kb_op_questions_list(ctx, &q.base, resp);
}

KB_HANDLER(mentis__kb_op_pack_questions_add)
{
    const Mentis__V1__Kb__AddPackQuestionsRequest *in = (const void *)req;
    mentis_kb_caller_t c;
    mentis__kb_caller(ctx, &c);
    bool ok = mentis__kb_uuid_ok(ctx, "id", in->id);
    ok = mentis__kb_ids_ok(ctx, "question_ids", in->question_ids, in->n_question_ids, 1000) && ok;
    if (!ok)
        return mentis__kb_invalid("packs.questions.add");
    Mentis__V1__Kb__Pack pack;
    mentis_status_t st = mentis__kb_pack_touch(ctx, &c, in->id, 0, &pack);
    if (st == MENTIS_OK)
        st = mentis__kb_pack_append(ctx, &c, in->id, "question_ids", in->question_ids,
                                    in->n_question_ids);
    if (st != MENTIS_OK)
        return st;
    return mentis__kb_pack_load(ctx, &c, in->id, true, (Mentis__V1__Kb__Pack *)resp);
}

KB_HANDLER(mentis__kb_op_pack_questions_remove)
{
    (void)resp;
    const Mentis__V1__Kb__RemovePackQuestionRequest *in = (const void *)req;
    mentis_kb_caller_t c;
    mentis__kb_caller(ctx, &c);
    bool ok = mentis__kb_uuid_ok(ctx, "id", in->id);
    ok = mentis__kb_uuid_ok(ctx, "question_id", in->question_id) && ok;
    if (!ok)
        return mentis__kb_invalid("packs.questions.remove");
    Mentis__V1__Kb__Pack pack;
    mentis_status_t st = mentis__kb_pack_touch(ctx, &c, in->id, 0, &pack);
    if (st != MENTIS_OK)
        return st;
    const char *p[] = {in->id, in->question_id};
    PGresult *res = NULL;
    st = mentis__kb_query(ctx,
                          "DELETE FROM kb.pack_questions WHERE pack_id = $1 AND question_id = $2 "
                          "RETURNING 1",
                          2, p, &res);
    bool gone = st == MENTIS_OK && PQntuples(res) == 1;
    PQclear(res);
    if (st == MENTIS_OK && !gone)
        st = mentis_err_set(MENTIS_ERR_NOT_FOUND, NULL, "question %s is not in pack %s",
                            in->question_id, in->id);
    return st;
}

KB_HANDLER(mentis__kb_op_packs_bundle)
{
    const Mentis__V1__Kb__CreateBundleRequest *in = (const void *)req;
    mentis_pool_t *pool = mentis_ctx_pool(ctx);
    mentis_kb_caller_t c;
    mentis__kb_caller(ctx, &c);
    bool ok = mentis__kb_text_ok(ctx, "name", in->name, 1, 200, false);
    ok = mentis__kb_text_ok(ctx, "description", in->description, 0, 4000, true) && ok;
    ok =
        mentis__kb_ids_ok(ctx, "source_pack_ids", in->source_pack_ids, in->n_source_pack_ids, 50) &&
        ok;
    if (in->n_exclude_question_ids > 0)
        ok = mentis__kb_ids_ok(ctx, "exclude_question_ids", in->exclude_question_ids,
                               in->n_exclude_question_ids, 1000) &&
             ok;
    if (!ok)
        return mentis__kb_invalid("packs.bundle");
    mentis_status_t st = mentis__kb_need_user(&c);
    if (st != MENTIS_OK)
        return st;
    const char *sources = mentis__kb_strings_json(pool, in->source_pack_ids, in->n_source_pack_ids);
    const char *p0[] = {c.user, mentis__kb_caller_admin(&c), sources};
    PGresult *res = NULL;
    st = mentis__kb_query(
        ctx,
        "SELECT p.id IS NOT NULL FROM json_array_elements_text($3::json) WITH "
        "ORDINALITY AS s (id, n) LEFT JOIN kb.packs p ON p.id = s.id::uuid AND "
        "(p.status <> 'draft' OR p.owner_id = $1::uuid OR $2::boolean) ORDER BY s.n",
        3, p0, &res);
    if (st != MENTIS_OK)
        return st;
    for (int i = 0; i < PQntuples(res); i++)
        if (!mentis__kb_bool(res, i, 0)) {
            mentis__kb_item_error(ctx, "source_pack_ids", (size_t)i, "names no pack");
            ok = false;
        }
    PQclear(res);
    if (!ok)
        return mentis_err_set(MENTIS_ERR_INVALID_ARGUMENT, NULL, "packs.bundle: unknown packs");
    char *id = mentis__kb_new_id(pool);
    st = mentis__kb_pack_insert(ctx, &c, id, "bundle", in->name, in->description,
                                in->difficulty_tier, in->status, NULL);
    if (st != MENTIS_OK)
        return st;
    const char *p1[] = {id, sources};
    st = mentis__kb_query(
        ctx,
        "INSERT INTO kb.bundle_sources (bundle_id, source_id, tenant_id, position) "
        "SELECT $1, s.id::uuid, kb.tenant(), s.n FROM json_array_elements_text($2::json) "
        "WITH ORDINALITY AS s (id, n)",
        2, p1, NULL);
    if (st != MENTIS_OK)
        return st;
    /* The first of each normalised text wins, in source order then position. */
    const char *p2[] = {
        c.user, mentis__kb_caller_admin(&c), id, sources,
        mentis__kb_strings_json(pool, in->exclude_question_ids, in->n_exclude_question_ids)};
    st = mentis__kb_query(
        ctx,
        "INSERT INTO kb.pack_questions (pack_id, question_id, tenant_id, position) "
        "SELECT $3, u.question_id, kb.tenant(), row_number() OVER (ORDER BY u.src, u.position) "
        "FROM (SELECT DISTINCT ON (kb.normalised(q.question_text)) pq.question_id, s.n AS src, "
        "pq.position FROM json_array_elements_text($4::json) WITH ORDINALITY AS s (id, n) "
        "JOIN kb.pack_questions pq ON pq.pack_id = s.id::uuid "
        "JOIN kb.questions q ON q.id = pq.question_id AND (q.status <> 'draft' OR "
        "q.owner_id = $1::uuid OR $2::boolean) "
        "WHERE NOT q.id = ANY(ARRAY(SELECT json_array_elements_text($5::json))::uuid[]) "
        "ORDER BY kb.normalised(q.question_text), s.n, pq.position) u",
        5, p2, NULL);
    if (st != MENTIS_OK)
        return st;
    return mentis__kb_pack_load(ctx, &c, id, true, (Mentis__V1__Kb__Pack *)resp);
}
