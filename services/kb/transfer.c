/*
 * Import and export of packs as one JSON document (docs/internals/kb.md, "The pack
 * document"), and import of the apps' own question file. A document is read whole and
 * checked whole before anything is written: every problem is listed with its JSON path
 * ("questions[3].answer_text"), and a document with any is refused with nothing written.
 * The seed (seed.c) goes through the same reading, so the shipped questions obey the
 * rules user content does.
 */
#include <cjson/cJSON.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kb.h"
#include "mentis/crypto.h"

#define FORMAT         "mentis.kb.pack"
#define FORMAT_VERSION 1
#define MAX_QUESTIONS  5000
#define MAX_DOMAINS    100
#define MAX_PROBLEMS   200

__attribute__((format(printf, 3, 4))) static void problem(mentis_kb_problems_t *p,
                                                          const char *field, const char *fmt, ...)
{
    if (p->count >= MAX_PROBLEMS) {
        p->dropped++;
        return;
    }
    if (p->count == p->cap) {
        size_t cap = p->cap ? p->cap * 2 : 16;
        mentis_kb_problem_t *items = mentis_pool_calloc(p->pool, cap, sizeof *items);
        if (items == NULL) {
            p->dropped++;
            return;
        }
        if (p->count)
            memcpy(items, p->items, p->count * sizeof *items);
        p->items = items;
        p->cap = cap;
    }
    char msg[256];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    p->items[p->count].field = mentis_pool_strdup(p->pool, field);
    p->items[p->count].message = mentis_pool_strdup(p->pool, msg);
    p->count++;
}

/* ---- reading values with their paths ---- */

typedef struct {
    mentis_kb_problems_t *pr;
    char path[128]; /* "questions[3]" */
} at_t;

static const char *path_of(const at_t *at, const char *key, char *buf, size_t size)
{
    snprintf(buf, size, "%s%s%s", at->path, at->path[0] && key[0] ? "." : "", key);
    return buf;
}

/* A string member: NULL when absent or null (a problem when required). */
static const char *text(const at_t *at, const cJSON *obj, const char *key, bool required,
                        size_t min, size_t max, bool multiline)
{
    char path[192], buf[96];
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(obj, key);
    if (v == NULL || cJSON_IsNull(v)) {
        if (required)
            problem(at->pr, path_of(at, key, path, sizeof path), "is required");
        return NULL;
    }
    if (!cJSON_IsString(v)) {
        problem(at->pr, path_of(at, key, path, sizeof path), "must be a string");
        return NULL;
    }
    const char *why = mentis__kb_text_problem(v->valuestring, min, max, multiline, buf, sizeof buf);
    if (why != NULL) {
        problem(at->pr, path_of(at, key, path, sizeof path), "%s", why);
        return NULL;
    }
    return v->valuestring;
}

/* A list of strings as a new JSON array (empty when absent or null). */
static cJSON *strings(const at_t *at, const cJSON *obj, const char *key, size_t max,
                      size_t item_max, bool multiline)
{
    char path[192], buf[96];
    cJSON *out = cJSON_CreateArray();
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(obj, key), *e;
    if (v == NULL || cJSON_IsNull(v))
        return out;
    if (!cJSON_IsArray(v)) {
        problem(at->pr, path_of(at, key, path, sizeof path), "must be a list of strings");
        return out;
    }
    if ((size_t)cJSON_GetArraySize(v) > max) {
        problem(at->pr, path_of(at, key, path, sizeof path), "must have at most %zu items", max);
        return out;
    }
    size_t i = 0;
    cJSON_ArrayForEach(e, v)
    {
        const char *why = !cJSON_IsString(e) ? "must be a string"
                                             : mentis__kb_text_problem(e->valuestring, 1, item_max,
                                                                       multiline, buf, sizeof buf);
        if (why != NULL) {
            char item[224];
            snprintf(item, sizeof item, "%s[%zu]", path_of(at, key, path, sizeof path), i);
            problem(at->pr, item, "%s", why);
        } else {
            cJSON_AddItemToArray(out, cJSON_CreateString(e->valuestring));
        }
        i++;
    }
    return out;
}

/* An enum given by its name: the name, or NULL (absent: dflt). */
static const char *choice(const at_t *at, const cJSON *obj, const char *key, const char *dflt,
                          const char *const *names)
{
    char path[192];
    const char *v = text(at, obj, key, false, 0, 64, false);
    if (v == NULL)
        return cJSON_GetObjectItemCaseSensitive(obj, key) &&
                       !cJSON_IsNull(cJSON_GetObjectItemCaseSensitive(obj, key))
                   ? NULL
                   : dflt;
    for (size_t i = 0; names[i] != NULL; i++)
        if (strcmp(names[i], v) == 0)
            return v;
    problem(at->pr, path_of(at, key, path, sizeof path), "must be one of the documented names");
    return NULL;
}

static const char *const STATUSES[] = {"active", "draft", "archived", NULL};
static const char *const TIERS[] = {"elementary", "middle_school", "high_school",
                                    "college",    "open",          NULL};
static const char *const QTYPES[] = {"toss_up", "bonus", "pyramid", "lightning", NULL};
static const char *const PACK_TYPES[] = {"system", "custom", "bundle", NULL};

static bool known_keys(const at_t *at, const cJSON *obj, const char *const *keys)
{
    bool ok = true;
    const cJSON *e;
    char path[192];
    cJSON_ArrayForEach(e, obj)
    {
        size_t i = 0;
        while (keys[i] != NULL && strcmp(keys[i], e->string) != 0)
            i++;
        if (keys[i] == NULL) {
            problem(at->pr, path_of(at, e->string, path, sizeof path), "is not a field here");
            ok = false;
        }
    }
    return ok;
}

/* ---- the document, read ---- */

typedef struct {
    const char *name, *description, *tier, *status;
    cJSON *domains;   /* [{slug, name, icon, weight, subcategories}] defined by the document */
    cJSON *questions; /* normalised: the pack format's question fields, "domain" a slug */
} doc_t;

static void add_str(cJSON *o, const char *key, const char *v)
{
    cJSON_AddItemToObject(o, key, cJSON_CreateString(v ? v : ""));
}

static void read_domains(mentis_kb_problems_t *pr, const cJSON *list, doc_t *d)
{
    static const char *const keys[] = {"slug", "name", "icon", "weight", "subcategories", NULL};
    if (list == NULL || cJSON_IsNull(list))
        return;
    if (!cJSON_IsArray(list) || cJSON_GetArraySize(list) > MAX_DOMAINS) {
        problem(pr, "domains", "must be a list of at most %d domains", MAX_DOMAINS);
        return;
    }
    const cJSON *e;
    size_t i = 0;
    cJSON_ArrayForEach(e, list)
    {
        at_t at = {.pr = pr};
        snprintf(at.path, sizeof at.path, "domains[%zu]", i++);
        if (!cJSON_IsObject(e)) {
            problem(pr, at.path, "must be an object");
            continue;
        }
        known_keys(&at, e, keys);
        const char *slug = text(&at, e, "slug", true, 1, 63, false);
        char path[192];
        if (slug != NULL && strspn(slug, "abcdefghijklmnopqrstuvwxyz0123456789_") != strlen(slug)) {
            problem(pr, path_of(&at, "slug", path, sizeof path), "must be of a-z, 0-9 and _");
            slug = NULL;
        }
        const char *name = text(&at, e, "name", true, 1, 100, false);
        const char *icon = text(&at, e, "icon", false, 0, 64, false);
        const cJSON *w = cJSON_GetObjectItemCaseSensitive(e, "weight");
        int weight = 100;
        if (w != NULL && !cJSON_IsNull(w)) {
            if (!cJSON_IsNumber(w) || w->valuedouble != (double)w->valueint || w->valueint < 0 ||
                w->valueint > 1000)
                problem(pr, path_of(&at, "weight", path, sizeof path),
                        "must be a whole number from 0 to 1000");
            else
                weight = w->valueint;
        }
        cJSON *subs = strings(&at, e, "subcategories", 100, 100, false);
        if (slug == NULL || name == NULL) {
            cJSON_Delete(subs);
            continue;
        }
        cJSON *o = cJSON_CreateObject();
        add_str(o, "slug", slug);
        add_str(o, "name", name);
        add_str(o, "icon", icon);
        cJSON_AddNumberToObject(o, "weight", weight);
        cJSON_AddItemToObject(o, "subcategories", subs);
        cJSON_AddItemToArray(d->domains, o);
    }
}

static void read_pack_question(const at_t *at, const cJSON *e, cJSON *o)
{
    static const char *const keys[] = {"domain",
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
                                       "status",
                                       NULL};
    known_keys(at, e, keys);
    add_str(o, "domain", text(at, e, "domain", true, 1, 63, false));
    add_str(o, "subcategory", text(at, e, "subcategory", false, 0, 100, false));
    add_str(o, "question_text", text(at, e, "question_text", true, 1, 4000, true));
    add_str(o, "answer_text", text(at, e, "answer_text", true, 1, 1000, true));
    cJSON_AddItemToObject(o, "acceptable_answers",
                          strings(at, e, "acceptable_answers", 50, 1000, true));
    const cJSON *dv = cJSON_GetObjectItemCaseSensitive(e, "difficulty");
    int difficulty = 3;
    char path[192];
    if (dv != NULL && !cJSON_IsNull(dv)) {
        if (!cJSON_IsNumber(dv) || dv->valuedouble != (double)dv->valueint || dv->valueint < 1 ||
            dv->valueint > 5)
            problem(at->pr, path_of(at, "difficulty", path, sizeof path),
                    "must be a whole number from 1 to 5");
        else
            difficulty = dv->valueint;
    }
    cJSON_AddNumberToObject(o, "difficulty", difficulty);
    add_str(o, "question_type", choice(at, e, "question_type", "toss_up", QTYPES));
    add_str(o, "question_source", text(at, e, "question_source", false, 0, 500, false));
    add_str(o, "source_attribution", text(at, e, "source_attribution", false, 0, 500, false));
    cJSON_AddItemToObject(o, "hints", strings(at, e, "hints", 20, 1000, true));
    add_str(o, "explanation", text(at, e, "explanation", false, 0, 4000, true));
    cJSON_AddItemToObject(o, "tags", strings(at, e, "tags", 50, 64, false));
    cJSON_AddItemToObject(o, "mcq_options", strings(at, e, "mcq_options", 10, 500, false));
    add_str(o, "status", choice(at, e, "status", "active", STATUSES));
}

/* The apps' domain names are lowerCamelCase ("socialStudies"): ours are snake_case. */
static void app_domain(const char *in, char *out, size_t size)
{
    size_t n = 0;
    for (const char *p = in; *p && n + 2 < size; p++) {
        if (*p >= 'A' && *p <= 'Z') {
            if (n > 0)
                out[n++] = '_';
            out[n++] = (char)(*p - 'A' + 'a');
        } else {
            out[n++] = *p == ' ' || *p == '-' ? '_' : *p;
        }
    }
    out[n] = '\0';
}

/* The apps' difficulty names, as our 1–5. */
static int app_difficulty(const cJSON *v)
{
    static const struct {
        const char *name;
        int level;
    } names[] = {{"novice", 1},       {"elementary", 1},   {"beginner", 2}, {"junior", 2},
                 {"jv", 2},           {"intermediate", 3}, {"varsity", 4},  {"advanced", 4},
                 {"championship", 5}, {"expert", 5}};
    if (v == NULL || cJSON_IsNull(v))
        return 3;
    if (cJSON_IsNumber(v))
        return v->valuedouble == (double)v->valueint && v->valueint >= 1 && v->valueint <= 5
                   ? v->valueint
                   : 0;
    for (size_t i = 0; cJSON_IsString(v) && i < sizeof names / sizeof names[0]; i++)
        if (strcmp(names[i].name, v->valuestring) == 0)
            return names[i].level;
    return 0;
}

static void read_app_question(const at_t *at, const cJSON *e, cJSON *o, bool keep_ids)
{
    char path[192], slug[80];
    const char *domain = text(at, e, "domain", true, 1, 63, false);
    if (domain != NULL)
        app_domain(domain, slug, sizeof slug);
    add_str(o, "domain", domain ? slug : NULL);
    add_str(o, "subcategory", text(at, e, "subdomain", false, 0, 100, false));
    add_str(o, "question_text", text(at, e, "text", true, 1, 4000, true));
    const cJSON *ans = cJSON_GetObjectItemCaseSensitive(e, "answer");
    if (!cJSON_IsObject(ans)) {
        problem(at->pr, path_of(at, "answer", path, sizeof path), "must be an object");
        add_str(o, "answer_text", NULL);
        cJSON_AddItemToObject(o, "acceptable_answers", cJSON_CreateArray());
    } else {
        at_t in = *at;
        snprintf(in.path, sizeof in.path, "%s.answer", at->path);
        add_str(o, "answer_text", text(&in, ans, "primary", true, 1, 1000, true));
        cJSON_AddItemToObject(o, "acceptable_answers",
                              strings(&in, ans, "acceptable", 50, 1000, true));
    }
    int difficulty = app_difficulty(cJSON_GetObjectItemCaseSensitive(e, "difficulty"));
    if (difficulty == 0)
        problem(at->pr, path_of(at, "difficulty", path, sizeof path),
                "must be 1 to 5 or a level name (novice … championship)");
    cJSON_AddNumberToObject(o, "difficulty", difficulty ? difficulty : 3);
    cJSON *tags = strings(at, e, "tags", 50, 64, false), *t;
    const char *type = "toss_up";
    cJSON_ArrayForEach(t, tags)
    {
        if (strcmp(t->valuestring, "bonus") == 0)
            type = "bonus";
        else if (strcmp(t->valuestring, "pyramid") == 0)
            type = "pyramid";
        else if (strcmp(t->valuestring, "lightning") == 0)
            type = "lightning";
    }
    add_str(o, "question_type", type);
    add_str(o, "question_source", text(at, e, "source", false, 0, 500, false));
    add_str(o, "source_attribution", text(at, e, "sourceAttribution", false, 0, 500, false));
    cJSON_AddItemToObject(o, "hints", cJSON_CreateArray());
    add_str(o, "explanation", "");
    cJSON_AddItemToObject(o, "tags", tags);
    cJSON_AddItemToObject(o, "mcq_options", strings(at, e, "mcqOptions", 10, 500, false));
    add_str(o, "status", "active");
    const char *id = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(e, "id"));
    uint8_t b[16];
    if (keep_ids && id != NULL && mentis_crypto_uuid_parse(id, b))
        add_str(o, "id", id);
}

static void read_document(mentis_kb_problems_t *pr, const cJSON *root, bool keep_ids, doc_t *d)
{
    if (!cJSON_IsObject(root)) {
        problem(pr, "document", "must be a JSON object");
        return;
    }
    const cJSON *format = cJSON_GetObjectItemCaseSensitive(root, "format");
    const cJSON *qs = cJSON_GetObjectItemCaseSensitive(root, "questions");
    /* The apps' file has no "format": questions at the top, each with "text". */
    bool app = format == NULL;
    at_t top = {.pr = pr};
    if (!app) {
        static const char *const keys[] = {"format",  "format_version", "pack",
                                           "domains", "questions",      NULL};
        known_keys(&top, root, keys);
        if (!cJSON_IsString(format) || strcmp(format->valuestring, FORMAT) != 0)
            problem(pr, "format", "must be \"" FORMAT "\"");
        const cJSON *v = cJSON_GetObjectItemCaseSensitive(root, "format_version");
        if (!cJSON_IsNumber(v) || v->valuedouble != FORMAT_VERSION)
            problem(pr, "format_version", "must be %d", FORMAT_VERSION);
        const cJSON *pack = cJSON_GetObjectItemCaseSensitive(root, "pack");
        if (!cJSON_IsObject(pack)) {
            problem(pr, "pack", "must be an object");
        } else {
            static const char *const pkeys[] = {"name",   "description", "type", "difficulty_tier",
                                                "status", NULL};
            at_t at = {.pr = pr, .path = "pack"};
            known_keys(&at, pack, pkeys);
            d->name = text(&at, pack, "name", true, 1, 200, false);
            d->description = text(&at, pack, "description", false, 0, 4000, true);
            (void)choice(&at, pack, "type", "custom", PACK_TYPES);
            d->tier = choice(&at, pack, "difficulty_tier", "open", TIERS);
            d->status = choice(&at, pack, "status", "active", STATUSES);
        }
        read_domains(pr, cJSON_GetObjectItemCaseSensitive(root, "domains"), d);
    }
    if (!cJSON_IsArray(qs) || cJSON_GetArraySize(qs) < 1 ||
        cJSON_GetArraySize(qs) > MAX_QUESTIONS) {
        problem(pr, "questions", "must be a list of 1 to %d questions", MAX_QUESTIONS);
        return;
    }
    const cJSON *e;
    size_t i = 0;
    cJSON_ArrayForEach(e, qs)
    {
        at_t at = {.pr = pr};
        snprintf(at.path, sizeof at.path, "questions[%zu]", i++);
        if (!cJSON_IsObject(e)) {
            problem(pr, at.path, "must be an object");
            continue;
        }
        cJSON *o = cJSON_CreateObject();
        if (app)
            read_app_question(&at, e, o, keep_ids);
        else
            read_pack_question(&at, e, o);
        cJSON_AddItemToArray(d->questions, o);
    }
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
                                       const char *owner, doc_t *d, cJSON **to_make)
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
            problem(pr, field,
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
    cJSON *root = cJSON_ParseWithLength(json, len);
    if (root == NULL) {
        problem(pr, "document", "is not well-formed JSON");
        return mentis_err_set(MENTIS_ERR_INVALID_ARGUMENT, "invalid_document",
                              "the document is not JSON");
    }
    doc_t d = {.domains = cJSON_CreateArray(), .questions = cJSON_CreateArray()};
    read_document(pr, root, owner == NULL, &d);
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
    cJSON_Delete(d.domains);
    cJSON_Delete(d.questions);
    cJSON_Delete(root);
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
    cJSON_AddStringToObject(doc, "format", FORMAT);
    cJSON_AddNumberToObject(doc, "format_version", FORMAT_VERSION);
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
