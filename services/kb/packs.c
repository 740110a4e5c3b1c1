/*
 * Packs: list (filters, keyset pages, ranked with q), create, get (with per-domain
 * counts), update, delete, and appending questions. Every statement on kb.packs is in this
 * file; membership lists and bundles are in pack_members.c. question_count, domain_count
 * and audio_count are kept by the triggers of migration 0002 on every change of
 * membership or of a member question.
 */
#include <cjson/cJSON.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kb.h"

const char KB_PACK_COLUMNS[] =
    "p.id, p.name, p.description, p.type, p.difficulty_tier, p.status, p.question_count, "
    "p.domain_count, p.audio_count, p.version, p.tenant_id IS NULL, "
    "coalesce(p.owner_id::text, ''), (extract(epoch FROM p.created_at) * 1000)::bigint, "
    "(extract(epoch FROM p.updated_at) * 1000)::bigint, "
    "CASE WHEN p.type = 'bundle' THEN (SELECT to_json(array_agg(b.source_id ORDER BY "
    "b.position)) FROM kb.bundle_sources b WHERE b.bundle_id = p.id) END, p.seq";

/* Drafts are seen by their owner and admins: $1 the caller's id, $2 whether an admin. */
#define VISIBLE "(p.status <> 'draft' OR p.owner_id = $1::uuid OR $2::boolean)"

void mentis__kb_pack_read(mentis_pool_t *pool, const PGresult *res, int row,
                          Mentis__V1__Kb__Pack *p)
{
    mentis__v1__kb__pack__init(p);
    p->id = mentis__kb_str(pool, res, row, 0);
    p->name = mentis__kb_str(pool, res, row, 1);
    p->description = mentis__kb_str(pool, res, row, 2);
    p->type = mentis__kb_pack_type_from(PQgetvalue(res, row, 3));
    p->difficulty_tier = mentis__kb_tier_from(PQgetvalue(res, row, 4));
    p->status = mentis__kb_status_from(PQgetvalue(res, row, 5));
    p->question_count = mentis__kb_int(res, row, 6);
    p->domain_count = mentis__kb_int(res, row, 7);
    int64_t audio = mentis__kb_int(res, row, 8);
    p->audio_coverage_percent =
        p->question_count > 0 ? 100.0 * (double)audio / (double)p->question_count : 0.0;
    p->version = mentis__kb_int(res, row, 9);
    p->is_system = mentis__kb_bool(res, row, 10);
    p->owner_id = mentis__kb_str(pool, res, row, 11);
    p->created_at = mentis__kb_timestamp(pool, PQgetvalue(res, row, 12));
    p->updated_at = mentis__kb_timestamp(pool, PQgetvalue(res, row, 13));
    if (!PQgetisnull(res, row, 14))
        mentis__kb_strings(pool, PQgetvalue(res, row, 14), &p->source_pack_ids,
                           &p->n_source_pack_ids);
}

/* A pack's questions per domain, as one JSON column of the pack's own row (one statement
 * for a pack with its counts): [[domain id, slug, name, count], ...], most first. */
#define DOMAIN_COUNTS                                                                              \
    "(SELECT json_agg(json_build_array(d.id, d.slug, d.name, c.n) ORDER BY c.n DESC, d.slug) "     \
    "FROM (SELECT q.domain_id, count(*) AS n FROM kb.pack_questions pq JOIN kb.questions q ON "    \
    "q.id = pq.question_id WHERE pq.pack_id = p.id GROUP BY q.domain_id) c JOIN kb.domains d ON "  \
    "d.id = c.domain_id)"

static void domain_counts_read(mentis_pool_t *pool, const char *json, Mentis__V1__Kb__Pack *out)
{
    cJSON *a = cJSON_Parse(json), *e;
    int n = cJSON_GetArraySize(a);
    out->domain_counts = mentis_pool_calloc(pool, (size_t)n + 1, sizeof *out->domain_counts);
    cJSON_ArrayForEach(e, a)
    {
        Mentis__V1__Kb__DomainCount *dc = mentis_pool_alloc(pool, sizeof *dc);
        if (out->domain_counts == NULL || dc == NULL || cJSON_GetArraySize(e) != 4)
            break;
        mentis__v1__kb__domain_count__init(dc);
        dc->domain_id = mentis_pool_strdup(pool, cJSON_GetStringValue(cJSON_GetArrayItem(e, 0)));
        dc->slug = mentis_pool_strdup(pool, cJSON_GetStringValue(cJSON_GetArrayItem(e, 1)));
        dc->name = mentis_pool_strdup(pool, cJSON_GetStringValue(cJSON_GetArrayItem(e, 2)));
        dc->question_count = (int64_t)cJSON_GetNumberValue(cJSON_GetArrayItem(e, 3));
        out->domain_counts[out->n_domain_counts++] = dc;
    }
    cJSON_Delete(a);
}

mentis_status_t mentis__kb_pack_load(mentis_ctx_t *ctx, const mentis_kb_caller_t *c, const char *id,
                                     bool counts, Mentis__V1__Kb__Pack *out)
{
    mentis_pool_t *pool = mentis_ctx_pool(ctx);
    char sql[4096];
    snprintf(sql, sizeof sql, "SELECT %s, %s FROM kb.packs p WHERE p.id = $3 AND " VISIBLE,
             KB_PACK_COLUMNS, counts ? DOMAIN_COUNTS : "NULL");
    const char *p[] = {c->user, mentis__kb_caller_admin(c), id};
    PGresult *res = NULL;
    mentis_status_t st = mentis__kb_query(ctx, sql, 3, p, &res);
    if (st == MENTIS_OK && PQntuples(res) != 1)
        st = mentis_err_set(MENTIS_ERR_NOT_FOUND, NULL, "no pack %s", id);
    if (st == MENTIS_OK) {
        mentis__kb_pack_read(pool, res, 0, out);
        if (counts)
            domain_counts_read(pool, PQgetvalue(res, 0, KB_PACK_NCOLS), out);
    }
    PQclear(res);
    return st;
}

mentis_status_t mentis__kb_pack_insert(mentis_ctx_t *ctx, const mentis_kb_caller_t *c,
                                       const char *id, const char *type, const char *name,
                                       const char *description, Mentis__V1__Kb__DifficultyTier tier,
                                       Mentis__V1__Kb__Status status, const char *system_key)
{
    const char *p[] = {id,
                       c ? c->user : NULL,
                       c ? "f" : "t",
                       type,
                       name,
                       description,
                       tier ? mentis__kb_tier_str(tier) : "open",
                       status ? mentis__kb_status_str(status) : "active",
                       system_key};
    return mentis__kb_query(
        ctx,
        "INSERT INTO kb.packs (id, owner_id, tenant_id, type, name, description, "
        "difficulty_tier, status, system_key) VALUES ($1, $2, CASE WHEN $3::boolean "
        "THEN NULL ELSE kb.tenant() END, $4, $5, $6, $7, $8, $9)",
        9, p, NULL);
}

mentis_status_t mentis__kb_pack_append(mentis_ctx_t *ctx, const mentis_kb_caller_t *c,
                                       const char *pack_id, const char *field, char *const *ids,
                                       size_t n)
{
    mentis_pool_t *pool = mentis_ctx_pool(ctx);
    const char *json = mentis__kb_strings_json(pool, ids, n);
    const char *p0[] = {c ? c->user : NULL, c ? mentis__kb_caller_admin(c) : "t", json};
    PGresult *res = NULL;
    mentis_status_t st = mentis__kb_query(
        ctx,
        "SELECT q.id IS NOT NULL FROM json_array_elements_text($3::json) WITH ORDINALITY AS "
        "i (id, n) LEFT JOIN kb.questions q ON q.id = i.id::uuid AND (q.status <> 'draft' OR "
        "q.owner_id = $1::uuid OR $2::boolean) ORDER BY i.n",
        3, p0, &res);
    if (st != MENTIS_OK)
        return st;
    bool ok = true;
    for (int i = 0; i < PQntuples(res); i++)
        if (!mentis__kb_bool(res, i, 0)) {
            mentis__kb_item_error(ctx, field, (size_t)i, "names no question");
            ok = false;
        }
    PQclear(res);
    if (!ok)
        return mentis_err_set(MENTIS_ERR_INVALID_ARGUMENT, NULL, "unknown questions");
    /* Positions follow the last one; the pack's row lock (its version was just bumped, or it
     * was just made) keeps two appends from taking the same ones. */
    const char *p[] = {pack_id, json};
    return mentis__kb_query(
        ctx,
        "INSERT INTO kb.pack_questions (pack_id, question_id, tenant_id, position) "
        "SELECT $1, i.id::uuid, (SELECT tenant_id FROM kb.packs WHERE id = $1), "
        "coalesce((SELECT max(position) FROM kb.pack_questions WHERE pack_id = $1), "
        "0) + row_number() OVER (ORDER BY i.n) "
        "FROM json_array_elements_text($2::json) WITH ORDINALITY AS i (id, n) "
        "WHERE NOT EXISTS (SELECT 1 FROM kb.pack_questions x WHERE x.pack_id = $1 "
        "AND x.question_id = i.id::uuid)",
        2, p, NULL);
}

mentis_status_t mentis__kb_pack_touch(mentis_ctx_t *ctx, const mentis_kb_caller_t *c,
                                      const char *id, int64_t want, Mentis__V1__Kb__Pack *pack)
{
    mentis_status_t st = mentis__kb_pack_load(ctx, c, id, false, pack);
    if (st == MENTIS_OK)
        st = mentis__kb_may_change(ctx, c, pack->is_system, pack->owner_id, "packs");
    if (st != MENTIS_OK)
        return st;
    const char *p[] = {id, want ? mentis__kb_itoa(mentis_ctx_pool(ctx), want) : NULL};
    PGresult *res = NULL;
    st = mentis__kb_query(
        ctx,
        "UPDATE kb.packs SET version = version + 1, updated_at = now() WHERE id = $1 "
        "AND ($2::bigint IS NULL OR version = $2::bigint) RETURNING id",
        2, p, &res);
    bool done = st == MENTIS_OK && PQntuples(res) == 1;
    PQclear(res);
    if (st == MENTIS_OK && !done)
        st = mentis__kb_version_mismatch("pack", id, want);
    return st;
}

static bool pack_fields_ok(mentis_ctx_t *ctx, const char *name, bool name_required,
                           const char *description)
{
    bool ok = true;
    if (name_required || name[0] != '\0')
        ok = mentis__kb_text_ok(ctx, "name", name, 1, 200, false);
    if (description != NULL)
        ok = mentis__kb_text_ok(ctx, "description", description, 0, 4000, true) && ok;
    return ok;
}

KB_HANDLER(mentis__kb_op_packs_list)
{
    const Mentis__V1__Kb__ListPacksRequest *in = (const void *)req;
    Mentis__V1__Kb__ListPacksResponse *out = (void *)resp;
    mentis_pool_t *pool = mentis_ctx_pool(ctx);
    mentis_kb_caller_t c;
    mentis__kb_caller(ctx, &c);
    bool ok = mentis__kb_uuid_opt_ok(ctx, "domain_id", in->domain_id);
    bool ranked = in->q[0] != '\0';
    char kind = ranked ? 'r' : 's';
    mentis_kb_page_t page;
    mentis_status_t st = mentis__kb_page_read(ctx, in->limit, in->cursor, kind, &page);
    if (!ok)
        return mentis__kb_invalid("packs.list");
    if (st != MENTIS_OK)
        return st;
    const char *p[] = {
        c.user,
        mentis__kb_caller_admin(&c),
        in->type ? mentis__kb_pack_type_str(in->type) : NULL,
        in->status ? mentis__kb_status_str(in->status) : NULL,
        in->domain_id[0] ? in->domain_id : NULL,
        ranked ? mentis__kb_query_text(pool, in->q) : NULL,
        in->mine ? "t" : "f",
        page.has_after ? page.key : NULL,
        page.has_after ? page.id : NULL,
        mentis__kb_itoa(pool, page.limit + 1),
    };
    char sql[4096];
    snprintf(sql, sizeof sql,
             "SELECT %s, %s AS rank FROM kb.packs p %s WHERE " VISIBLE
             " AND ($3::text IS NULL OR p.type = $3) AND (CASE WHEN $4::text IS NULL THEN "
             "p.status IN ('active', 'draft') ELSE p.status = $4 END) "
             "AND ($5::uuid IS NULL OR EXISTS (SELECT 1 FROM kb.pack_questions pq JOIN "
             "kb.questions q ON q.id = pq.question_id WHERE pq.pack_id = p.id AND q.domain_id = "
             "$5::uuid)) AND ($6::text IS NULL OR s.search @@ websearch_to_tsquery('english', "
             "$6)) AND (NOT $7::boolean OR p.owner_id = $1::uuid) AND ($8::text IS NULL OR %s) "
             "ORDER BY %s LIMIT $10",
             KB_PACK_COLUMNS,
             ranked ? "ts_rank(s.search, websearch_to_tsquery('english', $6))" : "0::real",
             /* The vectors' own table, so the GIN index serves (migration 0002). */
             ranked ? "JOIN kb.pack_search s ON s.pack_id = p.id AND (s.tenant_id IS NULL OR "
                      "s.tenant_id = kb.tenant())"
                    : "LEFT JOIN (SELECT NULL::tsvector AS search) s ON true",
             ranked ? "(ts_rank(s.search, websearch_to_tsquery('english', $6)) < $8::real OR "
                      "(ts_rank(s.search, websearch_to_tsquery('english', $6)) = $8::real AND "
                      "p.id > $9::uuid))"
                    : "(p.seq < $8::bigint AND $9::uuid IS NOT NULL)",
             ranked ? "rank DESC, p.id" : "p.seq DESC");
    PGresult *res = NULL;
    if ((st = mentis__kb_query(ctx, sql, 10, p, &res)) != MENTIS_OK)
        return st;
    int n = PQntuples(res), shown = n > page.limit ? page.limit : n;
    out->items = mentis_pool_calloc(pool, (size_t)shown + 1, sizeof *out->items);
    for (int i = 0; out->items && i < shown; i++) {
        out->items[i] = mentis_pool_alloc(pool, sizeof *out->items[i]);
        mentis__kb_pack_read(pool, res, i, out->items[i]);
        out->n_items++;
    }
    if (n > page.limit && shown > 0) {
        const char *key = PQgetvalue(res, shown - 1, ranked ? KB_PACK_NCOLS : KB_PACK_NCOLS - 1);
        out->next_cursor = mentis__kb_page_cursor(pool, kind, key, PQgetvalue(res, shown - 1, 0));
    }
    PQclear(res);
    return MENTIS_OK;
}

KB_HANDLER(mentis__kb_op_packs_create)
{
    const Mentis__V1__Kb__CreatePackRequest *in = (const void *)req;
    mentis_kb_caller_t c;
    mentis__kb_caller(ctx, &c);
    bool ok = pack_fields_ok(ctx, in->name, true, in->description);
    if (in->n_question_ids > 0)
        ok = mentis__kb_ids_ok(ctx, "question_ids", in->question_ids, in->n_question_ids, 1000) &&
             ok;
    if (!ok)
        return mentis__kb_invalid("packs.create");
    mentis_status_t st = mentis__kb_need_user(&c);
    char *id = mentis__kb_new_id(mentis_ctx_pool(ctx));
    if (st == MENTIS_OK)
        st = mentis__kb_pack_insert(ctx, &c, id, "custom", in->name, in->description,
                                    in->difficulty_tier, in->status, NULL);
    if (st == MENTIS_OK && in->n_question_ids > 0)
        st = mentis__kb_pack_append(ctx, &c, id, "question_ids", in->question_ids,
                                    in->n_question_ids);
    if (st != MENTIS_OK)
        return st;
    return mentis__kb_pack_load(ctx, &c, id, true, (Mentis__V1__Kb__Pack *)resp);
}

KB_HANDLER(mentis__kb_op_packs_get)
{
    const Mentis__V1__Kb__PackRef *in = (const void *)req;
    mentis_kb_caller_t c;
    mentis__kb_caller(ctx, &c);
    if (!mentis__kb_uuid_ok(ctx, "id", in->id))
        return mentis__kb_invalid("packs.get");
    return mentis__kb_pack_load(ctx, &c, in->id, true, (Mentis__V1__Kb__Pack *)resp);
}

KB_HANDLER(mentis__kb_op_packs_update)
{
    const Mentis__V1__Kb__UpdatePackRequest *in = (const void *)req;
    mentis_kb_caller_t c;
    mentis__kb_caller(ctx, &c);
    bool has_desc = in->description_set_case ==
                    MENTIS__V1__KB__UPDATE_PACK_REQUEST__DESCRIPTION_SET_DESCRIPTION;
    bool ok = mentis__kb_uuid_ok(ctx, "id", in->id);
    ok = pack_fields_ok(ctx, in->name, false, has_desc ? in->description : NULL) && ok;
    if (!ok)
        return mentis__kb_invalid("packs.update");
    int64_t want = 0;
    Mentis__V1__Kb__Pack pack;
    mentis_status_t st = mentis__kb_expected_version(in->version, in->expected_version, &want);
    if (st == MENTIS_OK)
        st = mentis__kb_pack_touch(ctx, &c, in->id, want, &pack);
    if (st != MENTIS_OK)
        return st;
    const char *p[] = {in->id, in->name[0] ? in->name : NULL, has_desc ? in->description : NULL,
                       in->difficulty_tier ? mentis__kb_tier_str(in->difficulty_tier) : NULL,
                       in->status ? mentis__kb_status_str(in->status) : NULL};
    st = mentis__kb_query(
        ctx,
        "UPDATE kb.packs SET name = coalesce($2, name), description = coalesce($3, "
        "description), difficulty_tier = coalesce($4, difficulty_tier), status = "
        "coalesce($5, status) WHERE id = $1",
        5, p, NULL);
    if (st != MENTIS_OK)
        return st;
    return mentis__kb_pack_load(ctx, &c, in->id, true, (Mentis__V1__Kb__Pack *)resp);
}

KB_HANDLER(mentis__kb_op_packs_delete)
{
    (void)resp;
    const Mentis__V1__Kb__PackRef *in = (const void *)req;
    mentis_kb_caller_t c;
    mentis__kb_caller(ctx, &c);
    if (!mentis__kb_uuid_ok(ctx, "id", in->id))
        return mentis__kb_invalid("packs.delete");
    Mentis__V1__Kb__Pack pack;
    mentis_status_t st = mentis__kb_pack_load(ctx, &c, in->id, false, &pack);
    if (st == MENTIS_OK)
        st = mentis__kb_may_change(ctx, &c, pack.is_system, pack.owner_id, "packs");
    if (st != MENTIS_OK)
        return st;
    const char *p[] = {in->id};
    st = mentis__kb_query(ctx, "DELETE FROM kb.packs WHERE id = $1", 1, p, NULL);
    if (st == MENTIS_ERR_CONFLICT)
        return mentis_err_set(MENTIS_ERR_CONFLICT, "pack_in_use", "pack %s is a source of a bundle",
                              in->id);
    return st;
}
