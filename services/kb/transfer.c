/*
 * Import and export of packs as one JSON document (docs/internals/kb.md, "The pack
 * document"), and import of the apps' own question file. A document is read whole and
 * checked whole (pack_doc.c) before anything is written: every problem is listed with its
 * JSON path ("questions[3].answer_text"), and a document with any is refused with nothing
 * written. The seed (seed.c) goes through the same reading, so the shipped questions obey
 * the rules user content does.
 */
#include <cjson/cJSON.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kb.h"
#include "mentis/crypto.h"

static void add_str(cJSON *o, const char *key, const char *v)
{
    cJSON_AddItemToObject(o, key, cJSON_CreateString(v ? v : ""));
}

/* ---- writing ---- */

static mentis_status_t exec(mentis_db_conn_t *conn, const char *sql, int n, const char *const *p,
                            PGresult **res)
{
    return mentis_db_exec(conn, sql, n, p, res);
}

static char *print(mentis_pool_t *pool, const cJSON *v)
{
    char *s = cJSON_PrintUnformatted(v);
    char *copy = s ? mentis_pool_strdup(pool, s) : NULL;
    free(s);
    return copy;
}

/* Gives every question its domain_id: the tenant's domain of that slug, else the system's,
 * else one the document defines (made now). Unknown slugs are problems. */
static mentis_status_t resolve_domains(mentis_db_conn_t *conn, mentis_kb_problems_t *pr,
                                       const char *owner, mentis_kb_doc_t *d, cJSON **to_make)
{
    mentis_pool_t *pool = pr->pool;
    cJSON *slugs = cJSON_CreateArray(), *q;
    cJSON_ArrayForEach(q, d->questions)
    {
        cJSON_AddItemToArray(
            slugs, cJSON_CreateString(cJSON_GetStringValue(cJSON_GetObjectItem(q, "domain"))));
    }
    const char *p[] = {print(pool, slugs)};
    cJSON_Delete(slugs);
    PGresult *res = NULL;
    mentis_status_t st = exec(conn,
                              "SELECT DISTINCT ON (slug) slug, id FROM kb.domains WHERE slug = "
                              "ANY(" KB_TEXT_ARRAY("$1") ") ORDER BY slug, tenant_id IS NULL",
                              1, p, &res);
    if (st != MENTIS_OK)
        return st;
    cJSON *known = cJSON_CreateObject();
    for (int i = 0; i < PQntuples(res); i++)
        cJSON_AddStringToObject(known, PQgetvalue(res, i, 0), PQgetvalue(res, i, 1));
    PQclear(res);
    *to_make = cJSON_CreateArray();
    size_t i = 0;
    cJSON_ArrayForEach(q, d->questions)
    {
        const char *slug = cJSON_GetStringValue(cJSON_GetObjectItem(q, "domain"));
        const char *id = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(known, slug));
        if (id == NULL && owner != NULL) {
            cJSON *def;
            cJSON_ArrayForEach(def, d->domains)
            {
                if (id == NULL &&
                    strcmp(cJSON_GetStringValue(cJSON_GetObjectItem(def, "slug")), slug) == 0) {
                    char nid[37];
                    mentis_crypto_uuid_v7(nid);
                    cJSON *made = cJSON_Duplicate(def, true);
                    cJSON_AddStringToObject(made, "id", nid);
                    cJSON_AddItemToArray(*to_make, made);
                    cJSON_AddStringToObject(known, slug, nid);
                    id = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(known, slug));
                }
            }
        }
        if (id == NULL && slug[0] != '\0') {
            char field[160];
            snprintf(field, sizeof field, "questions[%zu].domain", i);
            mentis__kb_problem(pr, field,
                               "names no domain (neither the tenant's, the system's nor the "
                               "document's)");
        }
        cJSON_AddStringToObject(q, "domain_id", id ? id : "");
        i++;
    }
    cJSON_Delete(known);
    return MENTIS_OK;
}

mentis_status_t mentis__kb_import_document(mentis_db_conn_t *conn, mentis_kb_problems_t *pr,
                                           const char *owner, const char *json, size_t len,
                                           const char *name, const char *system_key, char **pack_id)
{
    mentis_pool_t *pool = pr->pool;
    mentis_kb_doc_t d;
    if (!mentis__kb_doc_read(pr, json, len, owner == NULL, &d))
        return mentis_err_set(MENTIS_ERR_INVALID_ARGUMENT, "invalid_document",
                              "the document is not JSON");
    if (d.name == NULL)
        d.name = name && name[0] ? name : "Imported questions";
    cJSON *to_make = NULL;
    mentis_status_t st = MENTIS_OK;
    if (pr->count == 0)
        st = resolve_domains(conn, pr, owner, &d, &to_make);
    if (st == MENTIS_OK && pr->count + pr->dropped > 0)
        st = mentis_err_set(MENTIS_ERR_INVALID_ARGUMENT, "invalid_document",
                            "the document has %zu problems; nothing was imported",
                            pr->count + pr->dropped);
    const char *system = owner == NULL ? "t" : "f";
    if (st == MENTIS_OK && cJSON_GetArraySize(to_make) > 0) {
        const char *p[] = {print(pool, to_make), owner};
        st =
            exec(conn,
                 "INSERT INTO kb.domains (id, tenant_id, owner_id, slug, name, icon, weight, "
                 "subcategories) SELECT (x->>'id')::uuid, kb.tenant(), $2, x->>'slug', "
                 "x->>'name', x->>'icon', (x->>'weight')::int, ARRAY(SELECT "
                 "json_array_elements_text(x->'subcategories')) FROM json_array_elements($1::json) "
                 "AS x",
                 2, p, NULL);
    }
    char *id = NULL;
    if (st == MENTIS_OK) {
        id = mentis__kb_new_id(pool);
        const char *p[] = {id,
                           owner,
                           system,
                           owner ? "custom" : "system",
                           d.name,
                           d.description ? d.description : "",
                           d.tier ? d.tier : "open",
                           d.status ? d.status : "active",
                           system_key};
        st = exec(conn,
                  "INSERT INTO kb.packs (id, owner_id, tenant_id, type, name, description, "
                  "difficulty_tier, status, system_key) VALUES ($1, $2, CASE WHEN $3::boolean "
                  "THEN NULL ELSE kb.tenant() END, $4, $5, $6, $7, $8, $9)",
                  9, p, NULL);
    }
    if (st == MENTIS_OK) {
        cJSON *q;
        cJSON_ArrayForEach(q, d.questions)
        {
            if (cJSON_GetObjectItem(q, "id") == NULL) {
                char nid[37];
                mentis_crypto_uuid_v7(nid);
                cJSON_AddStringToObject(q, "id", nid);
            }
        }
        const char *p[] = {print(pool, d.questions), owner, system};
#define ARR(k) "ARRAY(SELECT json_array_elements_text(x->'" k "'))"
        st =
            exec(
                conn,
                "INSERT INTO kb.questions (id, owner_id, tenant_id, domain_id, subcategory, "
                "question_text, answer_text, acceptable_answers, difficulty, question_type, "
                "question_source, source_attribution, hints, explanation, tags, mcq_options, "
                "status) SELECT (x->>'id')::uuid, $2, CASE WHEN $3::boolean THEN NULL ELSE "
                "kb.tenant() END, (x->>'domain_id')::uuid, x->>'subcategory', "
                "x->>'question_text', x->>'answer_text', " ARR(
                    "acceptable_answers") ", "
                                          "(x->>'difficulty')::int, x->>'question_type', "
                                          "x->>'question_source', "
                                          "x->>'source_attribution', " ARR("hints") ", "
                                                                                    "x->>'"
                                                                                    "explanation',"
                                                                                    " " ARR("tags") ", " ARR(
                                                                                        "mc"
                                                                                        "q_"
                                                                                        "op"
                                                                                        "ti"
                                                                                        "on"
                                                                                        "s") ", "
                                                                                             "x->>'"
                                                                                             "statu"
                                                                                             "s' "
                                                                                             "FROM "
                                                                                             "json_"
                                                                                             "array"
                                                                                             "_elem"
                                                                                             "ents("
                                                                                             "$1::"
                                                                                             "json)"
                                                                                             " AS "
                                                                                             "x",
                3, p, NULL);
        /* In the document's order: the pack keeps it. */
        const char *m[] = {p[0], system, id};
        if (st == MENTIS_OK)
            st = exec(conn,
                      "INSERT INTO kb.pack_questions (pack_id, question_id, tenant_id, position) "
                      "SELECT $3, (x->>'id')::uuid, CASE WHEN $2::boolean THEN NULL ELSE "
                      "kb.tenant() END, n FROM json_array_elements($1::json) WITH ORDINALITY AS "
                      "j (x, n)",
                      3, m, NULL);
#undef ARR
    }
    if (st == MENTIS_ERR_CONFLICT)
        st = mentis_err_set(MENTIS_ERR_CONFLICT, "conflict",
                            "the document's questions clash with existing ones");
    cJSON_Delete(to_make);
    mentis__kb_doc_free(&d);
    if (st == MENTIS_OK)
        *pack_id = id;
    return st;
}

/* ---- handlers ---- */

KB_HANDLER(mentis__kb_op_import)
{
    const Mentis__V1__Kb__ImportRequest *in = (const void *)req;
    mentis_pool_t *pool = mentis_ctx_pool(ctx);
    mentis_kb_caller_t c;
    mentis__kb_caller(ctx, &c);
    bool ok = true;
    if (in->document == NULL || in->document->json == NULL || in->document->json[0] == '\0') {
        mentis_ctx_field_error(ctx, "document", "is required");
        ok = false;
    }
    if (in->name[0])
        ok = mentis__kb_text_ok(ctx, "name", in->name, 1, 200, false) && ok;
    if (!ok)
        return mentis__kb_invalid("import");
    mentis_status_t st = mentis__kb_need_user(&c);
    if (st != MENTIS_OK)
        return st;
    mentis_kb_problems_t pr = {.pool = pool};
    char *id = NULL;
    st = mentis__kb_import_document(mentis_ctx_db(ctx), &pr, c.user, in->document->json,
                                    strlen(in->document->json), in->name, NULL, &id);
    for (size_t i = 0; i < pr.count; i++)
        mentis_ctx_field_error(ctx, pr.items[i].field, pr.items[i].message);
    if (pr.dropped > 0) {
        char msg[64];
        snprintf(msg, sizeof msg, "and %zu more problems", pr.dropped);
        mentis_ctx_field_error(ctx, "document", msg);
    }
    if (st != MENTIS_OK)
        return st;
    return mentis__kb_pack_load(ctx, &c, id, true, (Mentis__V1__Kb__Pack *)resp);
}

KB_HANDLER(mentis__kb_op_packs_export)
{
    const Mentis__V1__Kb__PackRef *in = (const void *)req;
    Mentis__V1__Kb__ExportPackResponse *out = (void *)resp;
    mentis_pool_t *pool = mentis_ctx_pool(ctx);
    mentis_kb_caller_t c;
    mentis__kb_caller(ctx, &c);
    if (!mentis__kb_uuid_ok(ctx, "id", in->id))
        return mentis__kb_invalid("packs.export");
    Mentis__V1__Kb__Pack pack;
    mentis_status_t st = mentis__kb_pack_load(ctx, &c, in->id, false, &pack);
    if (st != MENTIS_OK)
        return st;
    const char *p[] = {c.user, mentis__kb_caller_admin(&c), in->id};
    PGresult *qs = NULL, *ds = NULL;
    st = mentis__kb_query(
        ctx,
        "SELECT d.slug, q.subcategory, q.question_text, q.answer_text, "
        "to_json(q.acceptable_answers), q.difficulty, q.question_type, "
        "q.question_source, q.source_attribution, to_json(q.hints), q.explanation, "
        "to_json(q.tags), to_json(q.mcq_options), q.status FROM kb.pack_questions pq "
        "JOIN kb.questions q ON q.id = pq.question_id JOIN kb.domains d ON d.id = "
        "q.domain_id WHERE pq.pack_id = $3 AND (q.status <> 'draft' OR q.owner_id = "
        "$1::uuid OR $2::boolean) ORDER BY pq.position",
        3, p, &qs);
    if (st == MENTIS_OK)
        st = mentis__kb_query(
            ctx,
            "SELECT d.slug, d.name, d.icon, d.weight, to_json(d.subcategories) FROM "
            "kb.domains d WHERE d.id IN (SELECT q.domain_id FROM kb.pack_questions pq "
            "JOIN kb.questions q ON q.id = pq.question_id WHERE pq.pack_id = $1) "
            "ORDER BY d.slug",
            1, &p[2], &ds);
    if (st != MENTIS_OK) {
        PQclear(qs);
        return st;
    }
    cJSON *doc = cJSON_CreateObject(), *o = cJSON_CreateObject();
    cJSON_AddStringToObject(doc, "format", MENTIS_KB_FORMAT);
    cJSON_AddNumberToObject(doc, "format_version", MENTIS_KB_FORMAT_VERSION);
    add_str(o, "name", pack.name);
    add_str(o, "description", pack.description);
    add_str(o, "type", mentis__kb_pack_type_str(pack.type));
    add_str(o, "difficulty_tier", mentis__kb_tier_str(pack.difficulty_tier));
    add_str(o, "status", mentis__kb_status_str(pack.status));
    cJSON_AddItemToObject(doc, "pack", o);
    cJSON *domains = cJSON_AddArrayToObject(doc, "domains");
    for (int i = 0; i < PQntuples(ds); i++) {
        o = cJSON_CreateObject();
        add_str(o, "slug", PQgetvalue(ds, i, 0));
        add_str(o, "name", PQgetvalue(ds, i, 1));
        add_str(o, "icon", PQgetvalue(ds, i, 2));
        cJSON_AddNumberToObject(o, "weight", (double)mentis__kb_int(ds, i, 3));
        cJSON_AddItemToObject(o, "subcategories", cJSON_Parse(PQgetvalue(ds, i, 4)));
        cJSON_AddItemToArray(domains, o);
    }
    static const char *const cols[] = {"domain",
                                       "subcategory",
                                       "question_text",
                                       "answer_text",
                                       "acceptable_answers",
                                       "difficulty",
                                       "question_type",
                                       "question_source",
                                       "source_attribution",
                                       "hints",
                                       "explanation",
                                       "tags",
                                       "mcq_options",
                                       "status"};
    cJSON *questions = cJSON_AddArrayToObject(doc, "questions");
    for (int i = 0; i < PQntuples(qs); i++) {
        o = cJSON_CreateObject();
        for (int k = 0; k < 14; k++) {
            const char *v = PQgetvalue(qs, i, k);
            if (k == 4 || k == 9 || k == 11 || k == 12)
                cJSON_AddItemToObject(o, cols[k], cJSON_Parse(v));
            else if (k == 5)
                cJSON_AddNumberToObject(o, cols[k], (double)mentis__kb_int(qs, i, k));
            else
                add_str(o, cols[k], v);
        }
        cJSON_AddItemToArray(questions, o);
    }
    PQclear(qs);
    PQclear(ds);
    out->document = mentis_pool_alloc(pool, sizeof *out->document);
    if (out->document != NULL) {
        mentis__v1__json_value__init(out->document);
        out->document->json = print(pool, doc);
    }
    cJSON_Delete(doc);
    if (out->document == NULL || out->document->json == NULL)
        return mentis_err_set(MENTIS_ERR_NO_MEMORY, NULL, "packs.export: out of memory");
    return MENTIS_OK;
}
