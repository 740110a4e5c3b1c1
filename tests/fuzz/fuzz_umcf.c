/*
 * UMCF documents come from whoever holds an admin token (POST /api/admin/curricula): the
 * import's walk must check and take apart any JSON without crashing or leaking, and what it
 * answers must hold together. A refused document names at least one problem and keeps no
 * rows; an accepted one has one node row per content node, a topic count equal to the topic
 * rows, each item row under a node of the document, and a total duration that adds up.
 * Input: the request body, as the handler parses it.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "curriculum.h"
#include "mentis/service_detached.h"

static void require(bool ok, const char *what)
{
    if (!ok) {
        fprintf(stderr, "umcf invariant broken: %s\n", what);
        abort();
    }
}

static int size_of(const cJSON *a)
{
    return cJSON_IsArray(a) ? cJSON_GetArraySize(a) : 0;
}

/* What the accepted document should have become, counted from the document itself. */
typedef struct {
    int nodes, segments, objectives, glossary, misconceptions, examples, assessments, media;
} counts_t;

static void count_nodes(const cJSON *list, counts_t *c)
{
    const cJSON *n;
    cJSON_ArrayForEach(n, list)
    {
        c->nodes++;
        c->objectives += size_of(cJSON_GetObjectItemCaseSensitive(n, "learningObjectives"));
        c->glossary += size_of(cJSON_GetObjectItemCaseSensitive(n, "glossaryTerms"));
        c->misconceptions += size_of(cJSON_GetObjectItemCaseSensitive(n, "misconceptions"));
        c->examples += size_of(cJSON_GetObjectItemCaseSensitive(n, "examples"));
        c->assessments += size_of(cJSON_GetObjectItemCaseSensitive(n, "assessments"));
        const cJSON *tr = cJSON_GetObjectItemCaseSensitive(n, "transcript");
        if (cJSON_IsObject(tr))
            c->segments += size_of(cJSON_GetObjectItemCaseSensitive(tr, "segments"));
        const cJSON *media = cJSON_GetObjectItemCaseSensitive(n, "media");
        if (cJSON_IsObject(media))
            c->media += size_of(cJSON_GetObjectItemCaseSensitive(media, "embedded")) +
                        size_of(cJSON_GetObjectItemCaseSensitive(media, "reference"));
        const cJSON *children = cJSON_GetObjectItemCaseSensitive(n, "children");
        if (cJSON_IsArray(children))
            count_nodes(children, c);
    }
}

static double number(const cJSON *row, const char *key)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(row, key);
    require(cJSON_IsNumber(v), key);
    return v->valuedouble;
}

static void check_items(const cJSON *rows, int want, const cJSON *node_ids, const char *what)
{
    require(cJSON_GetArraySize(rows) == want, what);
    const cJSON *r;
    cJSON_ArrayForEach(r, rows)
    {
        const char *node = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(r, "node_id"));
        require(node != NULL, "an item row without node_id");
        /* "" is the curriculum-wide glossary. */
        require(node[0] == '\0' || cJSON_GetObjectItemCaseSensitive(node_ids, node) != NULL,
                "an item row under no node row");
        require(cJSON_GetObjectItemCaseSensitive(r, "extra") != NULL, "an item row without extra");
        number(r, "position");
    }
}

static void check_accepted(const cJSON *doc, const cur_doc_t *d)
{
    require(d->nerrors == 0, "accepted with errors");
    counts_t want = {0};
    count_nodes(cJSON_GetObjectItemCaseSensitive(doc, "content"), &want);
    const cJSON *glossary = cJSON_GetObjectItemCaseSensitive(doc, "glossary");
    if (cJSON_IsObject(glossary))
        want.glossary += size_of(cJSON_GetObjectItemCaseSensitive(glossary, "terms"));
    require(want.nodes > 0, "accepted without content nodes");
    require(cJSON_GetArraySize(d->nodes) == want.nodes, "one node row per content node");

    cJSON *ids = cJSON_CreateObject();
    require(ids != NULL, "no memory");
    int topics = 0, seq = 0;
    int64_t duration = 0;
    const cJSON *r;
    cJSON_ArrayForEach(r, d->nodes)
    {
        const char *id = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(r, "node_id"));
        require(id != NULL && id[0] != '\0', "a node row without node_id");
        require(cJSON_GetObjectItemCaseSensitive(ids, id) == NULL, "two node rows of one id");
        cJSON_AddTrueToObject(ids, id);
        require(number(r, "seq") == seq++, "seq is not the document order");
        const cJSON *parent = cJSON_GetObjectItemCaseSensitive(r, "parent_id");
        require(cJSON_IsNull(parent) ||
                    (cJSON_IsString(parent) &&
                     cJSON_GetObjectItemCaseSensitive(ids, parent->valuestring) != NULL),
                "a parent that is not an earlier node");
        require((number(r, "depth") == 0) == cJSON_IsNull(parent), "depth 0 is the top");
        const cJSON *topic = cJSON_GetObjectItemCaseSensitive(r, "is_topic");
        require(cJSON_IsBool(topic), "is_topic");
        if (cJSON_IsTrue(topic)) {
            require(number(r, "topic_order") == topics, "topic_order is not the topic's rank");
            topics++;
            /* Durations are bounded (ten years), so sums stay exact as doubles and int64. */
            require(number(r, "duration") >= 0 && number(r, "duration") < 1e15,
                    "a topic duration past the bound");
            duration += (int64_t)number(r, "duration");
        } else {
            require(cJSON_IsNull(cJSON_GetObjectItemCaseSensitive(r, "topic_order")),
                    "a subject with a topic_order");
        }
    }
    require(topics == d->topic_count, "topic_count equals the topic rows");
    require(topics > 0, "a tree of nodes has at least one leaf");
    require(d->total_duration >= 0 && d->total_duration < (int64_t)1e15,
            "a total duration past the bound");
    require(duration == 0 ? d->total_duration >= 0 : d->total_duration == duration,
            "total_duration is the sum of the topics'");

    check_items(d->segments, want.segments, ids, "one segment row per segment");
    check_items(d->objectives, want.objectives, ids, "one row per learning objective");
    check_items(d->glossary, want.glossary, ids, "one row per glossary term");
    check_items(d->misconceptions, want.misconceptions, ids, "one row per misconception");
    check_items(d->examples, want.examples, ids, "one row per example");
    check_items(d->assessments, want.assessments, ids, "one row per assessment");
    check_items(d->media, want.media, ids, "one row per media item");
    cJSON_Delete(ids);

    const cJSON *row = d->curriculum;
    require(cJSON_IsObject(cJSON_GetObjectItemCaseSensitive(row, "extra")), "curriculum extra");
    require(number(row, "topic_count") == d->topic_count, "the row's topic_count");
    require(number(row, "total_duration") == (double)d->total_duration, "the row's duration");
    const char *identifier = d->identifier;
    require(identifier == NULL || (identifier[0] != '\0' && strlen(identifier) <= 512),
            "an identifier out of bounds");
}

static void check_refused(const cur_doc_t *d, const mentis_ctx_t *ctx)
{
    require(d->nerrors > 0, "refused without an error");
    size_t listed = mentis_ctx_field_error_count(ctx);
    size_t want = d->nerrors <= CUR_MAX_PROBLEMS ? (size_t)d->nerrors : CUR_MAX_PROBLEMS + 1;
    require(listed == want, "every error listed, up to the limit and a last word");
    const cJSON *rows[] = {d->nodes,          d->segments, d->objectives,  d->glossary,
                           d->misconceptions, d->examples, d->assessments, d->media};
    for (size_t i = 0; i < sizeof rows / sizeof rows[0]; i++)
        require(cJSON_GetArraySize(rows[i]) == 0, "a refused document keeps rows");
    require(cJSON_GetArraySize(d->curriculum) == 0, "a refused document keeps its row");
    require(d->topic_count == 0 && d->total_duration == 0, "a refused document counts topics");
    for (size_t i = 0; i < listed; i++) {
        const char *field = NULL, *message = NULL;
        require(mentis_ctx_field_error_get(ctx, i, &field, &message), "an error to read back");
        require(field[0] != '\0' && message[0] != '\0', "an error without field or message");
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    /* The request carries the document as a string: it ends at the first NUL. */
    char *json = malloc(size + 1);
    if (json == NULL)
        return 0;
    memcpy(json, data, size);
    json[size] = '\0';
    cJSON *doc = cJSON_ParseWithOpts(json, NULL, true);
    free(json);
    if (doc == NULL)
        return 0;
    mentis_pool_t *pool = NULL;
    if (mentis_pool_create(16 * 1024, (size_t)64 << 20, &pool) != MENTIS_OK) {
        cJSON_Delete(doc);
        return 0;
    }
    mentis_ctx_t *ctx = mentis_ctx_detached_new(pool);
    require(ctx != NULL, "no memory");
    cur_doc_t d;
    Mentis__V1__FieldViolation **warnings = NULL;
    size_t nwarnings = 0;
    mentis_status_t st = mentis__cur_umcf_take(ctx, doc, &d, &warnings, &nwarnings);
    if (st == MENTIS_OK) {
        require(mentis_ctx_field_error_count(ctx) == 0, "accepted with field errors");
        check_accepted(doc, &d);
    } else {
        require(st == MENTIS_ERR_INVALID_ARGUMENT, "a status other than invalid_argument");
        check_refused(&d, ctx);
    }
    require(nwarnings <= CUR_MAX_PROBLEMS && nwarnings <= (size_t)d.nwarnings,
            "more warnings listed than found");
    require(nwarnings == (size_t)d.nwarnings || nwarnings == CUR_MAX_PROBLEMS ||
                !cJSON_IsObject(doc),
            "a warning found and not listed");
    for (size_t i = 0; i < nwarnings; i++)
        require(warnings[i]->field != NULL && warnings[i]->message[0] != '\0', "a bare warning");
    mentis__cur_doc_free(&d);
    cJSON_Delete(doc);
    mentis_ctx_detached_free(ctx);
    mentis_pool_destroy(pool);
    mentis_err_clear();
    return 0;
}
