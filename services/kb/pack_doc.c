/*
 * The pack document and the apps' question file, read and checked (docs/internals/kb.md,
 * "The pack document"): no database, no writing, so the whole of it can be fuzzed. Every
 * problem is listed with its JSON path ("questions[3].answer_text"); transfer.c writes a
 * document only when there is none, after looking its domains up.
 */
#include <cjson/cJSON.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kb.h"
#include "mentis/crypto.h"

#define MAX_QUESTIONS 5000
#define MAX_DOMAINS   100
#define MAX_PROBLEMS  200

void mentis__kb_problem(mentis_kb_problems_t *p, const char *field, const char *fmt, ...)
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
            mentis__kb_problem(at->pr, path_of(at, key, path, sizeof path), "is required");
        return NULL;
    }
    if (!cJSON_IsString(v)) {
        mentis__kb_problem(at->pr, path_of(at, key, path, sizeof path), "must be a string");
        return NULL;
    }
    const char *why = mentis__kb_text_problem(v->valuestring, min, max, multiline, buf, sizeof buf);
    if (why != NULL) {
        mentis__kb_problem(at->pr, path_of(at, key, path, sizeof path), "%s", why);
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
        mentis__kb_problem(at->pr, path_of(at, key, path, sizeof path),
                           "must be a list of strings");
        return out;
    }
    if ((size_t)cJSON_GetArraySize(v) > max) {
        mentis__kb_problem(at->pr, path_of(at, key, path, sizeof path),
                           "must have at most %zu items", max);
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
            mentis__kb_problem(at->pr, item, "%s", why);
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
    mentis__kb_problem(at->pr, path_of(at, key, path, sizeof path),
                       "must be one of the documented names");
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
            /* The empty key too must have a path that names it: "" at the top, not "". */
            const char *name = e->string[0] != '\0' ? e->string : "\"\"";
            mentis__kb_problem(at->pr, path_of(at, name, path, sizeof path), "is not a field here");
            ok = false;
        }
    }
    return ok;
}

/* ---- the document, read ---- */

static void add_str(cJSON *o, const char *key, const char *v)
{
    cJSON_AddItemToObject(o, key, cJSON_CreateString(v ? v : ""));
}

static void read_domains(mentis_kb_problems_t *pr, const cJSON *list, mentis_kb_doc_t *d)
{
    static const char *const keys[] = {"slug", "name", "icon", "weight", "subcategories", NULL};
    if (list == NULL || cJSON_IsNull(list))
        return;
    if (!cJSON_IsArray(list) || cJSON_GetArraySize(list) > MAX_DOMAINS) {
        mentis__kb_problem(pr, "domains", "must be a list of at most %d domains", MAX_DOMAINS);
        return;
    }
    const cJSON *e;
    size_t i = 0;
    cJSON_ArrayForEach(e, list)
    {
        at_t at = {.pr = pr};
        snprintf(at.path, sizeof at.path, "domains[%zu]", i++);
        if (!cJSON_IsObject(e)) {
            mentis__kb_problem(pr, at.path, "must be an object");
            continue;
        }
        known_keys(&at, e, keys);
        const char *slug = text(&at, e, "slug", true, 1, 63, false);
        char path[192];
        if (slug != NULL && strspn(slug, "abcdefghijklmnopqrstuvwxyz0123456789_") != strlen(slug)) {
            mentis__kb_problem(pr, path_of(&at, "slug", path, sizeof path),
                               "must be of a-z, 0-9 and _");
            slug = NULL;
        }
        const char *name = text(&at, e, "name", true, 1, 100, false);
        const char *icon = text(&at, e, "icon", false, 0, 64, false);
        const cJSON *w = cJSON_GetObjectItemCaseSensitive(e, "weight");
        int weight = 100;
        if (w != NULL && !cJSON_IsNull(w)) {
            if (!cJSON_IsNumber(w) || w->valuedouble != (double)w->valueint || w->valueint < 0 ||
                w->valueint > 1000)
                mentis__kb_problem(pr, path_of(&at, "weight", path, sizeof path),
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
            mentis__kb_problem(at->pr, path_of(at, "difficulty", path, sizeof path),
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
        mentis__kb_problem(at->pr, path_of(at, "answer", path, sizeof path), "must be an object");
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
        mentis__kb_problem(at->pr, path_of(at, "difficulty", path, sizeof path),
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

static void read_document(mentis_kb_problems_t *pr, const cJSON *root, bool keep_ids,
                          mentis_kb_doc_t *d)
{
    if (!cJSON_IsObject(root)) {
        mentis__kb_problem(pr, "document", "must be a JSON object");
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
        if (!cJSON_IsString(format) || strcmp(format->valuestring, MENTIS_KB_FORMAT) != 0)
            mentis__kb_problem(pr, "format", "must be \"" MENTIS_KB_FORMAT "\"");
        const cJSON *v = cJSON_GetObjectItemCaseSensitive(root, "format_version");
        if (!cJSON_IsNumber(v) || v->valuedouble != MENTIS_KB_FORMAT_VERSION)
            mentis__kb_problem(pr, "format_version", "must be %d", MENTIS_KB_FORMAT_VERSION);
        const cJSON *pack = cJSON_GetObjectItemCaseSensitive(root, "pack");
        if (!cJSON_IsObject(pack)) {
            mentis__kb_problem(pr, "pack", "must be an object");
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
        mentis__kb_problem(pr, "questions", "must be a list of 1 to %d questions", MAX_QUESTIONS);
        return;
    }
    const cJSON *e;
    size_t i = 0;
    cJSON_ArrayForEach(e, qs)
    {
        at_t at = {.pr = pr};
        snprintf(at.path, sizeof at.path, "questions[%zu]", i++);
        if (!cJSON_IsObject(e)) {
            mentis__kb_problem(pr, at.path, "must be an object");
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

bool mentis__kb_doc_read(mentis_kb_problems_t *pr, const char *json, size_t len, bool keep_ids,
                         mentis_kb_doc_t *d)
{
    memset(d, 0, sizeof *d);
    d->root = cJSON_ParseWithLength(json, len);
    if (d->root == NULL) {
        mentis__kb_problem(pr, "document", "is not well-formed JSON");
        return false;
    }
    d->domains = cJSON_CreateArray();
    d->questions = cJSON_CreateArray();
    read_document(pr, d->root, keep_ids, d);
    if (pr->count + pr->dropped > 0) {
        /* Refused: nothing of it is to be written, so nothing of it is kept. */
        cJSON_Delete(d->domains);
        cJSON_Delete(d->questions);
        d->domains = cJSON_CreateArray();
        d->questions = cJSON_CreateArray();
    }
    return true;
}

void mentis__kb_doc_free(mentis_kb_doc_t *d)
{
    cJSON_Delete(d->domains);
    cJSON_Delete(d->questions);
    cJSON_Delete(d->root);
    memset(d, 0, sizeof *d);
}
