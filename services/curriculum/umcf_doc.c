/*
 * A UMCF document checked and taken apart into rows, in one walk.
 *
 * Real files deviate from the published schema in small ways (the older "umcf" key instead
 * of formatIdentifier, enum values the schema does not list, dates without a time). What
 * the service can store and give back is accepted and reported as a warning; only what is
 * truly broken is refused, every such problem listed: no title or content, a node or list
 * item id used twice, prerequisites that form a cycle, and a value of the wrong type where
 * the service uses it (content nodes, lists, transcripts, segment text).
 */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "curriculum.h"
#include "mentis/crypto.h"

static const char *const node_types[] = {"curriculum", "unit",    "module",  "topic", "subtopic",
                                         "lesson",     "section", "segment", NULL};
static const char *const segment_types[] = {"lecture",      "explanation", "example",
                                            "checkpoint",   "transition",  "summary",
                                            "introduction", "conclusion",  NULL};
static const char *const assessment_types[] = {"choice", "multiple_choice", "text_entry",
                                               "true_false", NULL};
static const char *const severities[] = {"minor", "moderate", "critical", NULL};
static const char *const example_types[] = {
    "code",           "scenario",   "case_study", "analogy", "diagram_description",
    "worked_problem", "real_world", "historical", NULL};
static const char *const blooms_levels[] = {"remember", "understand", "apply", "analyze",
                                            "evaluate", "create",     NULL};
static const char *const lifecycle_states[] = {"draft",       "final",    "revised",
                                               "unavailable", "archived", NULL};
static const char *const difficulties[] = {"very easy", "easy",           "medium",
                                           "difficult", "very difficult", NULL};

/* The keys of a node the walk stores in tables of their own. */
static const char *const node_lists[] = {
    "children", "learningObjectives", "glossaryTerms", "misconceptions",
    "examples", "assessments",        "transcript",    "media",
    NULL};

typedef struct {
    mentis_ctx_t *ctx;
    mentis_pool_t *pool;
    cur_doc_t *d;
    Mentis__V1__FieldViolation **warn;
    size_t nwarn;
    cJSON *node_paths; /* node id → the path of its id, for duplicates and references */
    cJSON *edges;      /* [from, to, path] of every prerequisite naming a node */
    int seq, topic_order;
    bool oom;
} walk_t;

static void problem(walk_t *w, bool error, const char *path, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

static void problem(walk_t *w, bool error, const char *path, const char *fmt, ...)
{
    char msg[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    if (error) {
        if (w->d->nerrors < CUR_MAX_PROBLEMS)
            mentis_ctx_field_error(w->ctx, path, msg);
        else if (w->d->nerrors == CUR_MAX_PROBLEMS)
            mentis_ctx_field_error(w->ctx, "document", "more problems than are listed");
        w->d->nerrors++;
        return;
    }
    w->d->nwarnings++;
    if (w->nwarn >= CUR_MAX_PROBLEMS)
        return;
    Mentis__V1__FieldViolation *v = mentis_pool_calloc(w->pool, 1, sizeof *v);
    if (v == NULL) {
        w->oom = true;
        return;
    }
    mentis__v1__field_violation__init(v);
    v->field = mentis_pool_strdup(w->pool, path);
    v->message = mentis_pool_strdup(w->pool, msg);
    if (v->field == NULL || v->message == NULL) {
        w->oom = true;
        return;
    }
    w->warn[w->nwarn++] = v;
}

static const char *at(walk_t *w, const char *path, const char *key)
{
    const char *p = path[0] != '\0' ? mentis_pool_printf(w->pool, "%s.%s", path, key)
                                    : mentis_pool_strdup(w->pool, key);
    if (p == NULL) {
        w->oom = true;
        return "";
    }
    return p;
}

static const char *index_of(walk_t *w, const char *path, int i)
{
    const char *p = mentis_pool_printf(w->pool, "%s[%d]", path, i);
    if (p == NULL) {
        w->oom = true;
        return "";
    }
    return p;
}

static bool listed(const char *const *values, const char *v)
{
    for (; *values != NULL; values++)
        if (strcmp(*values, v) == 0)
            return true;
    return false;
}

/* A string field the service shows: wrong types stay in extra, with a warning (or an error
 * when `used`); values outside `values` are kept, with a warning. */
static void check_text(walk_t *w, const cJSON *obj, const char *key, const char *path,
                       const char *const *values, bool used)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(obj, key);
    if (v == NULL)
        return;
    if (!cJSON_IsString(v)) {
        problem(w, used, at(w, path, key), "must be a string");
        return;
    }
    if (values != NULL && !listed(values, v->valuestring))
        problem(w, false, at(w, path, key),
                "\"%.100s\" is not a value the UMCF schema lists; kept as it is", v->valuestring);
}

static void oom_unless(walk_t *w, bool ok)
{
    if (!ok)
        w->oom = true;
}

/* The id of an item: "x" or {"value": "x"}. NULL when absent or of another shape. */
static const char *item_id(const cJSON *v)
{
    if (cJSON_IsString(v))
        return v->valuestring;
    if (cJSON_IsObject(v)) {
        const cJSON *s = cJSON_GetObjectItemCaseSensitive(v, "value");
        return cJSON_IsString(s) ? s->valuestring : NULL;
    }
    return NULL;
}

typedef struct {
    const cur_entity_t *e;
    const char *type_key; /* checked against type_values, NULL for none */
    const char *const *type_values;
    const char *used_text; /* a key whose value must be a string when present */
} list_kind_t;

/*
 * One list of items of a node (or the glossary): every item split into a row of `rows`
 * with node_id and position (and collection for media). Ids must not repeat in a list.
 */
static void take_list(walk_t *w, const list_kind_t *k, const cJSON *list, const char *path,
                      const char *node_id, const char *collection, cJSON *rows)
{
    cJSON *seen = cJSON_CreateObject();
    oom_unless(w, seen != NULL);
    int i = 0;
    const cJSON *item;
    cJSON_ArrayForEach(item, list)
    {
        const char *ipath = index_of(w, path, i);
        if (!cJSON_IsObject(item)) {
            problem(w, false, ipath, "is not an object; kept as it is");
        } else {
            const cJSON *idv = cJSON_GetObjectItemCaseSensitive(item, "id");
            const char *id = item_id(idv);
            if (idv != NULL && id == NULL)
                problem(w, false, at(w, ipath, "id"),
                        "must be a string or an object with a string value; kept as it is");
            if (id != NULL && seen != NULL) {
                const cJSON *prev = cJSON_GetObjectItemCaseSensitive(seen, id);
                if (prev != NULL)
                    problem(w, true, at(w, ipath, "id"), "\"%.100s\" is already the id of %s", id,
                            prev->valuestring);
                else
                    oom_unless(w, cJSON_AddStringToObject(seen, id, ipath) != NULL);
            }
            if (k->type_key != NULL)
                check_text(w, item, k->type_key, ipath, k->type_values, false);
            if (k->used_text != NULL)
                check_text(w, item, k->used_text, ipath, NULL, true);
        }
        cJSON *row = cJSON_CreateObject();
        bool ok = row != NULL && cJSON_AddItemToArray(rows, row);
        if (!ok)
            cJSON_Delete(row);
        ok = ok && mentis__cur_split(k->e, item, NULL, row) &&
             cJSON_AddStringToObject(row, "node_id", node_id) != NULL &&
             cJSON_AddNumberToObject(row, "position", i) != NULL &&
             (collection == NULL || cJSON_AddStringToObject(row, "collection", collection));
        oom_unless(w, ok);
        i++;
    }
    cJSON_Delete(seen);
}

static const list_kind_t objectives_kind = {&mentis__cur_objectives, "bloomsLevel", blooms_levels,
                                            "statement"};
static const list_kind_t glossary_kind = {&mentis__cur_glossary, NULL, NULL, "term"};
static const list_kind_t misconceptions_kind = {&mentis__cur_misconceptions, "severity", severities,
                                                NULL};
static const list_kind_t examples_kind = {&mentis__cur_examples, "type", example_types, NULL};
static const list_kind_t assessments_kind = {&mentis__cur_assessments, "type", assessment_types,
                                             NULL};
static const list_kind_t segments_kind = {&mentis__cur_segments, "type", segment_types, "content"};
static const list_kind_t media_kind = {&mentis__cur_media, NULL, NULL, NULL};

/* Adds obj[key] to extra unchanged: a key the walk could not store in its own table. */
static void keep_whole(walk_t *w, cJSON *extra, const cJSON *obj, const char *key)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(obj, key);
    if (v == NULL || !cJSON_IsObject(extra))
        return;
    cJSON *copy = cJSON_Duplicate(v, true);
    if (copy == NULL || !cJSON_AddItemToObject(extra, key, copy)) {
        cJSON_Delete(copy);
        w->oom = true;
    }
}

/* obj without the keys in `drop`: the extra of a transcript or media object. */
static cJSON *without(walk_t *w, const cJSON *obj, const char *const *drop)
{
    cJSON *copy = cJSON_Duplicate(obj, true);
    oom_unless(w, copy != NULL);
    for (; copy != NULL && *drop != NULL; drop++)
        cJSON_DeleteItemFromObjectCaseSensitive(copy, *drop);
    return copy;
}

/* A node's duration in seconds: the transcript's totalDuration, else one of its
 * timeEstimates (intermediate first: the depth most learners take). */
static int64_t node_duration(const cJSON *node)
{
    const cJSON *tr = cJSON_GetObjectItemCaseSensitive(node, "transcript");
    int64_t s = mentis__cur_duration(
        cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(tr, "totalDuration")));
    if (s >= 0)
        return s;
    const cJSON *te = cJSON_GetObjectItemCaseSensitive(node, "timeEstimates");
    static const char *const depths[] = {"intermediate", "introductory", "overview",
                                         "advanced",     "graduate",     "research"};
    for (size_t i = 0; i < sizeof depths / sizeof depths[0]; i++) {
        s = mentis__cur_duration(
            cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(te, depths[i])));
        if (s >= 0)
            return s;
    }
    return 0;
}

static void take_node(walk_t *w, const cJSON *node, const char *path, const char *parent,
                      int position, int depth);

static void take_children(walk_t *w, const cJSON *list, const char *path, const char *parent,
                          int depth)
{
    int i = 0;
    const cJSON *child;
    cJSON_ArrayForEach(child, list)
    {
        take_node(w, child, index_of(w, path, i), parent, i, depth);
        i++;
    }
}

static void take_node(walk_t *w, const cJSON *node, const char *path, const char *parent,
                      int position, int depth)
{
    cur_doc_t *d = w->d;
    if (!cJSON_IsObject(node)) {
        problem(w, true, path, "must be an object (a content node)");
        return;
    }
    const cJSON *idv = cJSON_GetObjectItemCaseSensitive(node, "id");
    const char *id = item_id(idv);
    if (idv == NULL)
        problem(w, true, at(w, path, "id"), "required: the node's identifier");
    else if (id == NULL || id[0] == '\0')
        problem(w, true, at(w, path, "id"),
                "must be a non-empty string or an object with a non-empty string value");
    if (id != NULL && id[0] != '\0') {
        const cJSON *prev = cJSON_GetObjectItemCaseSensitive(w->node_paths, id);
        if (prev != NULL)
            problem(w, true, at(w, path, "id"), "\"%.100s\" is already the id of %s", id,
                    prev->valuestring);
        else
            oom_unless(w, cJSON_AddStringToObject(w->node_paths, id, at(w, path, "id")) != NULL);
    } else {
        id = NULL;
    }
    const cJSON *title = cJSON_GetObjectItemCaseSensitive(node, "title");
    if (title == NULL)
        problem(w, false, at(w, path, "title"), "missing: the UMCF schema requires a title");
    check_text(w, node, "title", path, NULL, true);
    if (cJSON_GetObjectItemCaseSensitive(node, "type") == NULL)
        problem(w, false, at(w, path, "type"), "missing: the UMCF schema requires a type");
    check_text(w, node, "type", path, node_types, true);
    check_text(w, node, "description", path, NULL, false);
    const cJSON *oi = cJSON_GetObjectItemCaseSensitive(node, "orderIndex");
    /* In range before the cast: (int)1e300 is undefined, not merely another number. */
    if (oi != NULL &&
        !(cJSON_IsNumber(oi) && oi->valuedouble >= -2147483648.0 &&
          oi->valuedouble <= 2147483647.0 && oi->valuedouble == (double)(int)oi->valuedouble))
        problem(w, false, at(w, path, "orderIndex"), "must be an integer; kept as it is");

    const cJSON *prereq = cJSON_GetObjectItemCaseSensitive(node, "prerequisites");
    if (prereq != NULL && !cJSON_IsArray(prereq))
        problem(w, false, at(w, path, "prerequisites"), "must be an array; kept as it is");
    int pi = 0;
    const cJSON *p;
    const cJSON *prereqs = cJSON_IsArray(prereq) ? prereq : NULL;
    cJSON_ArrayForEach(p, prereqs)
    {
        const char *to = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(p, "nodeId"));
        if (to != NULL && id != NULL) {
            cJSON *edge = cJSON_CreateArray();
            bool ok = edge != NULL && cJSON_AddItemToArray(w->edges, edge);
            if (!ok)
                cJSON_Delete(edge);
            ok = ok && cJSON_AddItemToArray(edge, cJSON_CreateString(id)) &&
                 cJSON_AddItemToArray(edge, cJSON_CreateString(to)) &&
                 cJSON_AddItemToArray(
                     edge, cJSON_CreateString(
                               at(w, index_of(w, at(w, path, "prerequisites"), pi), "nodeId")));
            oom_unless(w, ok);
        }
        pi++;
    }

    /* The lists: each must be an array where present (an object for transcript and
     * media), since the service stores and serves their items. */
    for (int i = 0; node_lists[i] != NULL; i++) {
        const cJSON *v = cJSON_GetObjectItemCaseSensitive(node, node_lists[i]);
        bool object =
            strcmp(node_lists[i], "transcript") == 0 || strcmp(node_lists[i], "media") == 0;
        if (v != NULL && (object ? !cJSON_IsObject(v) : !cJSON_IsArray(v)))
            problem(w, strcmp(node_lists[i], "media") != 0, at(w, path, node_lists[i]),
                    object ? "must be an object" : "must be an array");
    }
    if (id == NULL || d->nerrors > 0) {
        /* Rows are only worth making for a document that will be stored; keep checking. */
        const cJSON *children = cJSON_GetObjectItemCaseSensitive(node, "children");
        if (cJSON_IsArray(children))
            take_children(w, children, at(w, path, "children"), id ? id : "", depth + 1);
        const cJSON *tr = cJSON_GetObjectItemCaseSensitive(node, "transcript");
        cJSON *scratch = cJSON_CreateArray();
        oom_unless(w, scratch != NULL);
        const cJSON *segs = cJSON_GetObjectItemCaseSensitive(tr, "segments");
        if (cJSON_IsArray(segs) && scratch != NULL)
            take_list(w, &segments_kind, segs, at(w, at(w, path, "transcript"), "segments"), "",
                      NULL, scratch);
        else if (cJSON_IsObject(tr) && segs != NULL)
            problem(w, true, at(w, at(w, path, "transcript"), "segments"), "must be an array");
        const list_kind_t *kinds[] = {&objectives_kind, &glossary_kind, &misconceptions_kind,
                                      &examples_kind, &assessments_kind};
        const char *keys[] = {"learningObjectives", "glossaryTerms", "misconceptions", "examples",
                              "assessments"};
        for (int i = 0; i < 5 && scratch != NULL; i++) {
            const cJSON *list = cJSON_GetObjectItemCaseSensitive(node, keys[i]);
            if (cJSON_IsArray(list))
                take_list(w, kinds[i], list, at(w, path, keys[i]), "", NULL, scratch);
        }
        cJSON_Delete(scratch);
        return;
    }

    cJSON *row = cJSON_CreateObject();
    if (row == NULL || !cJSON_AddItemToArray(d->nodes, row)) {
        cJSON_Delete(row);
        w->oom = true;
        return;
    }
    oom_unless(w, mentis__cur_split(&mentis__cur_nodes, node, node_lists, row));
    cJSON *extra = cJSON_GetObjectItemCaseSensitive(row, "extra");
    cJSON *lists = cJSON_CreateArray();
    oom_unless(w, lists != NULL && cJSON_AddItemToObject(row, "lists", lists));
    const cJSON *children = cJSON_GetObjectItemCaseSensitive(node, "children");
    bool topic = !cJSON_IsArray(children) || cJSON_GetArraySize(children) == 0;
    int64_t duration = topic ? node_duration(node) : 0;
    oom_unless(w, cJSON_AddNumberToObject(row, "seq", w->seq++) != NULL &&
                      (parent != NULL ? cJSON_AddStringToObject(row, "parent_id", parent)
                                      : cJSON_AddNullToObject(row, "parent_id")) != NULL &&
                      cJSON_AddNumberToObject(row, "position", position) != NULL &&
                      cJSON_AddNumberToObject(row, "depth", depth) != NULL &&
                      cJSON_AddBoolToObject(row, "is_topic", topic) != NULL &&
                      (topic ? cJSON_AddNumberToObject(row, "topic_order", w->topic_order++)
                             : cJSON_AddNullToObject(row, "topic_order")) != NULL &&
                      cJSON_AddNumberToObject(row, "duration", (double)duration) != NULL);
    if (topic) {
        d->topic_count++;
        d->total_duration += duration;
    }

    const list_kind_t *kinds[] = {&objectives_kind, &glossary_kind, &misconceptions_kind,
                                  &examples_kind, &assessments_kind};
    const char *keys[] = {"learningObjectives", "glossaryTerms", "misconceptions", "examples",
                          "assessments"};
    cJSON *tables[] = {d->objectives, d->glossary, d->misconceptions, d->examples, d->assessments};
    for (int i = 0; i < 5; i++) {
        const cJSON *list = cJSON_GetObjectItemCaseSensitive(node, keys[i]);
        if (list == NULL)
            continue;
        oom_unless(w, cJSON_AddItemToArray(lists, cJSON_CreateString(keys[i])));
        take_list(w, kinds[i], list, at(w, path, keys[i]), id, NULL, tables[i]);
    }

    const cJSON *tr = cJSON_GetObjectItemCaseSensitive(node, "transcript");
    const cJSON *segs = cJSON_GetObjectItemCaseSensitive(tr, "segments");
    if (cJSON_IsObject(tr) && cJSON_IsArray(segs)) {
        static const char *const drop[] = {"segments", NULL};
        cJSON *rest = without(w, tr, drop);
        oom_unless(w, rest != NULL && cJSON_AddItemToObject(row, "transcript_extra", rest) &&
                          cJSON_AddItemToArray(lists, cJSON_CreateString("transcript")));
        take_list(w, &segments_kind, segs, at(w, at(w, path, "transcript"), "segments"), id, NULL,
                  d->segments);
    } else if (cJSON_IsObject(tr)) {
        if (segs != NULL)
            problem(w, true, at(w, at(w, path, "transcript"), "segments"), "must be an array");
        else
            problem(w, false, at(w, path, "transcript"), "has no segments; kept as it is");
        keep_whole(w, extra, node, "transcript");
    }

    const cJSON *media = cJSON_GetObjectItemCaseSensitive(node, "media");
    if (cJSON_IsObject(media)) {
        static const char *const collections[] = {"embedded", "reference", NULL};
        const char *drop[3] = {NULL, NULL, NULL};
        int nd = 0;
        for (int i = 0; collections[i] != NULL; i++) {
            const cJSON *list = cJSON_GetObjectItemCaseSensitive(media, collections[i]);
            if (list == NULL)
                continue;
            if (!cJSON_IsArray(list)) {
                problem(w, false, at(w, at(w, path, "media"), collections[i]),
                        "must be an array; kept as it is");
                continue;
            }
            drop[nd++] = collections[i];
            const char *name = i == 0 ? "media.embedded" : "media.reference";
            oom_unless(w, cJSON_AddItemToArray(lists, cJSON_CreateString(name)));
            take_list(w, &media_kind, list, at(w, at(w, path, "media"), collections[i]), id,
                      collections[i], d->media);
        }
        cJSON *rest = without(w, media, drop);
        oom_unless(w, rest != NULL && cJSON_AddItemToObject(row, "media_extra", rest) &&
                          cJSON_AddItemToArray(lists, cJSON_CreateString("media")));
    } else {
        keep_whole(w, extra, node, "media");
    }

    if (cJSON_IsArray(children)) {
        oom_unless(w, cJSON_AddItemToArray(lists, cJSON_CreateString("children")));
        take_children(w, children, at(w, path, "children"), id, depth + 1);
    }
}

/* Prerequisites must name nodes of the document (a warning otherwise) and form no cycle. */
static void check_prerequisites(walk_t *w)
{
    int n = cJSON_GetArraySize(w->edges);
    if (n == 0)
        return;
    /* Depth-first search over the edges; states per node id: absent (white), 1 (on the
     * path), 2 (done). The graph is small (nodes, not segments), so linear lookups do. */
    cJSON *state = cJSON_CreateObject();
    if (state == NULL) {
        w->oom = true;
        return;
    }
    const cJSON *e;
    cJSON_ArrayForEach(e, w->edges)
    {
        const char *to = cJSON_GetArrayItem(e, 1)->valuestring;
        if (cJSON_GetObjectItemCaseSensitive(w->node_paths, to) == NULL)
            problem(w, false, cJSON_GetArrayItem(e, 2)->valuestring,
                    "\"%.100s\" names no node of this curriculum; kept as it is", to);
    }
    /* Iterative DFS with an explicit stack of (node, next edge index). */
    int cap = n + 1;
    const char **stack_node = mentis_pool_calloc(w->pool, (size_t)cap * 2, sizeof *stack_node);
    int *stack_edge = mentis_pool_calloc(w->pool, (size_t)cap * 2, sizeof *stack_edge);
    if (stack_node == NULL || stack_edge == NULL) {
        cJSON_Delete(state);
        w->oom = true;
        return;
    }
    cJSON_ArrayForEach(e, w->edges)
    {
        const char *start = cJSON_GetArrayItem(e, 0)->valuestring;
        if (cJSON_GetObjectItemCaseSensitive(state, start) != NULL)
            continue;
        int top = 0;
        stack_node[0] = start;
        stack_edge[0] = 0;
        cJSON_AddNumberToObject(state, start, 1);
        while (top >= 0) {
            const char *cur = stack_node[top];
            bool pushed = false;
            for (int i = stack_edge[top]; i < n; i++) {
                const cJSON *ed = cJSON_GetArrayItem(w->edges, i);
                if (strcmp(cJSON_GetArrayItem(ed, 0)->valuestring, cur) != 0)
                    continue;
                const char *to = cJSON_GetArrayItem(ed, 1)->valuestring;
                if (cJSON_GetObjectItemCaseSensitive(w->node_paths, to) == NULL)
                    continue;
                const cJSON *s = cJSON_GetObjectItemCaseSensitive(state, to);
                if (s != NULL && s->valuedouble == 1) {
                    problem(w, true, cJSON_GetArrayItem(ed, 2)->valuestring,
                            "\"%.100s\" closes a cycle of prerequisites (through \"%.100s\")", to,
                            cur);
                    continue;
                }
                if (s != NULL || top + 1 >= cap * 2)
                    continue;
                stack_edge[top] = i + 1;
                top++;
                stack_node[top] = to;
                stack_edge[top] = 0;
                cJSON_AddNumberToObject(state, to, 1);
                pushed = true;
                break;
            }
            if (!pushed) {
                cJSON *s = cJSON_GetObjectItemCaseSensitive(state, cur);
                if (s != NULL)
                    cJSON_SetNumberValue(s, 2);
                top--;
            }
        }
    }
    cJSON_Delete(state);
}

static void take_top(walk_t *w, const cJSON *doc)
{
    cur_doc_t *d = w->d;
    if (cJSON_GetObjectItemCaseSensitive(doc, "formatIdentifier") == NULL) {
        const char *umcf = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(doc, "umcf"));
        if (umcf != NULL)
            problem(w, false, "formatIdentifier",
                    "missing; the older \"umcf\": \"%.20s\" is taken in its place", umcf);
        else
            problem(w, false, "formatIdentifier", "missing");
    }
    const cJSON *idv = cJSON_GetObjectItemCaseSensitive(doc, "id");
    d->identifier = item_id(idv);
    if (idv == NULL)
        problem(w, false, "id", "missing: the curriculum is stored under a new identifier");
    else if (d->identifier == NULL || d->identifier[0] == '\0' || strlen(d->identifier) > 512)
        problem(w, true, "id", "must be an identifier: {\"value\": \"…\"}, 1 to 512 characters");
    const cJSON *title = cJSON_GetObjectItemCaseSensitive(doc, "title");
    if (title == NULL)
        problem(w, true, "title", "required");
    else if (!cJSON_IsString(title) || title->valuestring[0] == '\0')
        problem(w, true, "title", "must be a non-empty string");
    check_text(w, doc, "description", "", NULL, false);
    const cJSON *version = cJSON_GetObjectItemCaseSensitive(doc, "version");
    if (version == NULL)
        problem(w, false, "version", "missing: the UMCF schema requires version.number");
    else if (!cJSON_IsString(cJSON_GetObjectItemCaseSensitive(version, "number")))
        problem(w, false, "version.number", "missing or not a string; kept as it is");
    const char *date = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(version, "date"));
    if (date != NULL && (strlen(date) < 20 || date[10] != 'T'))
        problem(w, false, "version.date", "\"%.40s\" is not an RFC 3339 date-time; kept as it is",
                date);
    const cJSON *lifecycle = cJSON_GetObjectItemCaseSensitive(doc, "lifecycle");
    check_text(w, lifecycle, "status", "lifecycle", lifecycle_states, false);
    const cJSON *educational = cJSON_GetObjectItemCaseSensitive(doc, "educational");
    check_text(w, educational, "difficulty", "educational", difficulties, false);
    const cJSON *metadata = cJSON_GetObjectItemCaseSensitive(doc, "metadata");
    const cJSON *keywords = cJSON_GetObjectItemCaseSensitive(metadata, "keywords");
    cJSON *kw = cJSON_CreateArray();
    oom_unless(w, kw != NULL);
    if (keywords != NULL && !cJSON_IsArray(keywords))
        problem(w, false, "metadata.keywords", "must be an array of strings; kept as it is");
    const cJSON *k;
    const cJSON *kws = cJSON_IsArray(keywords) ? keywords : NULL;
    cJSON_ArrayForEach(k, kws)
    {
        if (cJSON_IsString(k) && kw != NULL)
            oom_unless(w, cJSON_AddItemToArray(kw, cJSON_CreateString(k->valuestring)));
    }

    const cJSON *content = cJSON_GetObjectItemCaseSensitive(doc, "content");
    if (content == NULL)
        problem(w, true, "content", "required: at least one content node");
    else if (!cJSON_IsArray(content))
        problem(w, true, "content", "must be an array of content nodes");
    else if (cJSON_GetArraySize(content) == 0)
        problem(w, true, "content", "must hold at least one content node");
    else
        take_children(w, content, "content", NULL, 0);
    check_prerequisites(w);

    const cJSON *glossary = cJSON_GetObjectItemCaseSensitive(doc, "glossary");
    const cJSON *terms = cJSON_GetObjectItemCaseSensitive(glossary, "terms");
    bool glossary_rows = cJSON_IsObject(glossary) && cJSON_IsArray(terms);
    if (glossary != NULL && !glossary_rows)
        problem(w, false, "glossary", "is not an object with a terms array; kept as it is");
    if (glossary_rows)
        take_list(w, &glossary_kind, terms, "glossary.terms", "", NULL, d->glossary);

    if (d->nerrors > 0 || w->oom) {
        cJSON_Delete(kw);
        return;
    }
    static const char *const top_lists[] = {"content", "glossary", NULL};
    cJSON *row = d->curriculum;
    oom_unless(w, mentis__cur_split(&mentis__cur_curricula, doc, top_lists, row));
    if (glossary_rows) {
        static const char *const drop[] = {"terms", NULL};
        cJSON *rest = without(w, glossary, drop);
        oom_unless(w, rest != NULL && cJSON_AddItemToObject(row, "glossary_extra", rest));
    } else {
        keep_whole(w, cJSON_GetObjectItemCaseSensitive(row, "extra"), doc, "glossary");
    }
    const char *number = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(version, "number"));
    const char *difficulty =
        cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(educational, "difficulty"));
    const char *language =
        cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(metadata, "language"));
    if (d->total_duration == 0) {
        int64_t s = mentis__cur_duration(cJSON_GetStringValue(
            cJSON_GetObjectItemCaseSensitive(educational, "typicalLearningTime")));
        d->total_duration = s > 0 ? s : 0;
    }
    oom_unless(w, (number ? cJSON_AddStringToObject(row, "curriculum_version", number)
                          : cJSON_AddNullToObject(row, "curriculum_version")) != NULL &&
                      (difficulty ? cJSON_AddStringToObject(row, "difficulty", difficulty)
                                  : cJSON_AddNullToObject(row, "difficulty")) != NULL &&
                      (language ? cJSON_AddStringToObject(row, "language", language)
                                : cJSON_AddNullToObject(row, "language")) != NULL &&
                      cJSON_AddNumberToObject(row, "topic_count", d->topic_count) != NULL &&
                      cJSON_AddNumberToObject(row, "total_duration", (double)d->total_duration) !=
                          NULL);
    if (kw != NULL) {
        oom_unless(w, cJSON_AddItemToObject(row, "keywords", kw));
        kw = NULL;
    }
    cJSON_Delete(kw);
}

void mentis__cur_doc_free(cur_doc_t *d)
{
    cJSON *all[] = {d->curriculum,     d->nodes,    d->segments,    d->objectives, d->glossary,
                    d->misconceptions, d->examples, d->assessments, d->media};
    for (size_t i = 0; i < sizeof all / sizeof all[0]; i++)
        cJSON_Delete(all[i]);
    memset(d, 0, sizeof *d);
}

mentis_status_t mentis__cur_umcf_take(mentis_ctx_t *ctx, const cJSON *doc, cur_doc_t *out,
                                      Mentis__V1__FieldViolation ***warnings, size_t *nwarnings)
{
    memset(out, 0, sizeof *out);
    walk_t w = {.ctx = ctx, .pool = mentis_ctx_pool(ctx), .d = out};
    *warnings = NULL;
    *nwarnings = 0;
    if (!cJSON_IsObject(doc)) {
        mentis_ctx_field_error(ctx, "document", "must be a JSON object (a UMCF curriculum)");
        out->nerrors = 1;
        return mentis_err_set(MENTIS_ERR_INVALID_ARGUMENT, "invalid_curriculum",
                              "the document is not a UMCF curriculum");
    }
    w.warn = mentis_pool_calloc(w.pool, CUR_MAX_PROBLEMS, sizeof *w.warn);
    out->curriculum = cJSON_CreateObject();
    cJSON **arrays[] = {&out->nodes,          &out->segments, &out->objectives,  &out->glossary,
                        &out->misconceptions, &out->examples, &out->assessments, &out->media};
    bool ok = w.warn != NULL && out->curriculum != NULL;
    for (size_t i = 0; i < sizeof arrays / sizeof arrays[0]; i++)
        ok = (*arrays[i] = cJSON_CreateArray()) != NULL && ok;
    w.node_paths = cJSON_CreateObject();
    w.edges = cJSON_CreateArray();
    if (ok && w.node_paths != NULL && w.edges != NULL)
        take_top(&w, doc);
    else
        w.oom = true;
    cJSON_Delete(w.node_paths);
    cJSON_Delete(w.edges);
    if (w.oom)
        return mentis_err_set(MENTIS_ERR_NO_MEMORY, NULL, "import: out of memory");
    *warnings = w.warn;
    *nwarnings = w.nwarn;
    if (out->nerrors > 0) {
        /* Refused: the rows made before the first problem showed are not to be kept. */
        for (size_t i = 0; i < sizeof arrays / sizeof arrays[0]; i++) {
            cJSON *row;
            while ((row = cJSON_DetachItemFromArray(*arrays[i], 0)) != NULL)
                cJSON_Delete(row);
        }
        out->topic_count = 0;
        out->total_duration = 0;
        return mentis_err_set(MENTIS_ERR_INVALID_ARGUMENT, "invalid_curriculum",
                              "the document cannot be imported: %d problem%s", out->nerrors,
                              out->nerrors == 1 ? "" : "s");
    }
    return MENTIS_OK;
}
