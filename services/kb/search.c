/*
 * Ranked full-text search over questions and packs (their vectors: kb.question_search and
 * kb.pack_search, migration 0002). websearch_to_tsquery takes any text
 * (quotes, "or", "-word", unicode, operators as plain characters) without an error; a query
 * that keeps no word (empty, only stop words or punctuation) finds nothing. Hits are
 * ordered by rank, then "kind:id", and the cursor holds both of the last hit: ranks are
 * recomputed identically on every page (float4, sent back exactly), so pages are keyset
 * pages like every other list.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kb.h"

KB_HANDLER(mentis__kb_op_search)
{
    const Mentis__V1__Kb__SearchRequest *in = (const void *)req;
    Mentis__V1__Kb__SearchResponse *out = (void *)resp;
    mentis_pool_t *pool = mentis_ctx_pool(ctx);
    mentis_kb_caller_t c;
    mentis__kb_caller(ctx, &c);
    bool ok = mentis__kb_uuid_opt_ok(ctx, "domain_id", in->domain_id);
    if (in->kind[0] && strcmp(in->kind, "question") != 0 && strcmp(in->kind, "pack") != 0) {
        mentis_ctx_field_error(ctx, "kind", "must be question or pack");
        ok = false;
    }
    mentis_kb_page_t page;
    mentis_status_t st = mentis__kb_page_read(ctx, in->limit, in->cursor, 'r', &page);
    if (!ok)
        return mentis__kb_invalid("search");
    if (st != MENTIS_OK)
        return st;
    if (in->q[0] == '\0')
        return MENTIS_OK; /* nothing asked, nothing found */
    bool questions = strcmp(in->kind, "pack") != 0;
    bool packs = strcmp(in->kind, "question") != 0 && in->domain_id[0] == '\0';
    const char *p[] = {c.user,
                       mentis__kb_caller_admin(&c),
                       mentis__kb_query_text(pool, in->q),
                       questions ? "t" : "f",
                       packs ? "t" : "f",
                       in->domain_id[0] ? in->domain_id : NULL,
                       page.has_after ? page.key : NULL,
                       page.has_after ? page.id : NULL,
                       mentis__kb_itoa(pool, page.limit + 1)};
    PGresult *res = NULL;
    st = mentis__kb_query(
        ctx,
        "WITH query AS (SELECT websearch_to_tsquery('english', $3) AS tq) "
        "SELECT kind, id, rank, tb FROM ("
        " SELECT 'question' AS kind, s.question_id AS id, ts_rank(s.search, tq) AS rank, "
        "  'question:' || s.question_id AS tb FROM query, kb.question_search s "
        "  WHERE $4::boolean AND s.search @@ tq AND (s.tenant_id IS NULL OR s.tenant_id = "
        "  kb.tenant()) AND s.status <> 'archived' AND (s.status <> 'draft' OR s.owner_id = "
        "  $1::uuid OR $2::boolean) AND ($6::uuid IS NULL OR s.domain_id = $6::uuid) "
        " UNION ALL"
        " SELECT 'pack', s.pack_id, ts_rank(s.search, tq), 'pack:' || s.pack_id "
        "  FROM query, kb.pack_search s WHERE $5::boolean AND s.search @@ tq AND "
        "  (s.tenant_id IS NULL OR s.tenant_id = kb.tenant()) AND s.status <> 'archived' AND "
        "  (s.status <> 'draft' OR s.owner_id = $1::uuid OR $2::boolean)"
        ") hits WHERE $7::text IS NULL OR rank < $7::real OR (rank = $7::real AND tb > $8) "
        "ORDER BY rank DESC, tb LIMIT $9",
        9, p, &res);
    if (st != MENTIS_OK)
        return st;
    int n = PQntuples(res), shown = n > page.limit ? page.limit : n;
    out->items = mentis_pool_calloc(pool, (size_t)shown + 1, sizeof *out->items);
    char **qids = mentis_pool_calloc(pool, (size_t)shown + 1, sizeof *qids);
    char **pids = mentis_pool_calloc(pool, (size_t)shown + 1, sizeof *pids);
    size_t nq = 0, np = 0;
    for (int i = 0; out->items && qids && pids && i < shown; i++) {
        Mentis__V1__Kb__SearchHit *h = mentis_pool_alloc(pool, sizeof *h);
        mentis__v1__kb__search_hit__init(h);
        h->kind = mentis__kb_str(pool, res, i, 0);
        h->id = mentis__kb_str(pool, res, i, 1);
        h->rank = (float)strtod(PQgetvalue(res, i, 2), NULL);
        if (h->kind[0] == 'q')
            qids[nq++] = h->id;
        else
            pids[np++] = h->id;
        out->items[out->n_items++] = h;
    }
    if (n > page.limit && shown > 0)
        out->next_cursor = mentis__kb_page_cursor(pool, 'r', PQgetvalue(res, shown - 1, 2),
                                                  PQgetvalue(res, shown - 1, 3));
    PQclear(res);
    /* The hits' content, in two more statements rather than one per hit. */
    char sql[2048];
    for (int pass = 0; pass < 2; pass++) {
        size_t count = pass == 0 ? nq : np;
        if (count == 0)
            continue;
        const char *ids[] = {mentis__kb_strings_json(pool, pass == 0 ? qids : pids, count)};
        snprintf(sql, sizeof sql,
                 "SELECT %s FROM %s WHERE %s.id = ANY(ARRAY(SELECT json_array_elements_text("
                 "$1::json))::uuid[])",
                 pass == 0 ? KB_QUESTION_COLUMNS : KB_PACK_COLUMNS,
                 pass == 0 ? "kb.questions q" : "kb.packs p", pass == 0 ? "q" : "p");
        res = NULL;
        if ((st = mentis__kb_query(ctx, sql, 1, ids, &res)) != MENTIS_OK)
            return st;
        for (int r = 0; r < PQntuples(res); r++) {
            const char *id = PQgetvalue(res, r, 0);
            for (size_t i = 0; i < out->n_items; i++) {
                Mentis__V1__Kb__SearchHit *h = out->items[i];
                if (strcmp(h->id, id) != 0 || (h->kind[0] == 'q') != (pass == 0))
                    continue;
                if (pass == 0) {
                    h->question = mentis_pool_alloc(pool, sizeof *h->question);
                    mentis__kb_question_read(pool, res, r, h->question);
                } else {
                    h->pack = mentis_pool_alloc(pool, sizeof *h->pack);
                    mentis__kb_pack_read(pool, res, r, h->pack);
                }
            }
        }
        PQclear(res);
    }
    /* The content comes through the tables' Row-Level Security: a hit it does not show is
     * no hit (the ranking read the search table, which has none). */
    size_t kept = 0;
    for (size_t i = 0; i < out->n_items; i++)
        if (out->items[i]->question != NULL || out->items[i]->pack != NULL)
            out->items[kept++] = out->items[i];
    out->n_items = kept;
    return MENTIS_OK;
}
