/*
 * Pack documents and the apps' question files come from any user (POST /api/kb/import):
 * reading and checking them must take any bytes without crashing or leaking, and what it
 * answers must hold together. Bytes that are not JSON are one problem; a document with
 * problems lists them (200 at most, the rest counted) and keeps nothing to write; an
 * accepted one has one normalised question per question of the document, each within the
 * rules the database relies on, and only well-formed domains. Both readings (a user's,
 * and the seed's that keeps question ids) must agree on whether it is accepted.
 * Input: the request body.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kb.h"

static void require(bool ok, const char *what)
{
    if (!ok) {
        fprintf(stderr, "kb import invariant broken: %s\n", what);
        abort();
    }
}

static const char *str(const cJSON *o, const char *key)
{
    const char *s = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(o, key));
    require(s != NULL, key);
    return s;
}

static bool one_of(const char *v, const char *const *names)
{
    for (; *names != NULL; names++)
        if (strcmp(*names, v) == 0)
            return true;
    return false;
}

static void strings_only(const cJSON *o, const char *key)
{
    const cJSON *a = cJSON_GetObjectItemCaseSensitive(o, key), *e;
    require(cJSON_IsArray(a), key);
    cJSON_ArrayForEach(e, a)
    {
        require(cJSON_IsString(e) && e->valuestring[0] != '\0', key);
    }
}

static void check_accepted(const mentis_kb_doc_t *d)
{
    static const char *const types[] = {"toss_up", "bonus", "pyramid", "lightning", NULL};
    static const char *const statuses[] = {"active", "draft", "archived", NULL};
    const cJSON *given = cJSON_GetObjectItemCaseSensitive(d->root, "questions");
    int n = cJSON_GetArraySize(d->questions);
    require(n >= 1 && n <= 5000, "an accepted document has 1 to 5000 questions");
    require(n == cJSON_GetArraySize(given), "one question read per question given");
    const cJSON *q;
    cJSON_ArrayForEach(q, d->questions)
    {
        require(str(q, "domain")[0] != '\0', "a question without its domain");
        require(str(q, "question_text")[0] != '\0', "a question without text");
        require(str(q, "answer_text")[0] != '\0', "a question without answer");
        double level = cJSON_GetNumberValue(cJSON_GetObjectItemCaseSensitive(q, "difficulty"));
        require(level >= 1 && level <= 5 && level == (int)level, "difficulty 1 to 5");
        require(one_of(str(q, "question_type"), types), "a question type of the enum");
        require(one_of(str(q, "status"), statuses), "a status of the enum");
        str(q, "subcategory");
        str(q, "question_source");
        str(q, "source_attribution");
        str(q, "explanation");
        strings_only(q, "acceptable_answers");
        strings_only(q, "hints");
        strings_only(q, "tags");
        strings_only(q, "mcq_options");
    }
    require(cJSON_GetArraySize(d->domains) <= 100, "at most 100 domains");
    const cJSON *dom;
    cJSON_ArrayForEach(dom, d->domains)
    {
        const char *slug = str(dom, "slug");
        require(slug[0] != '\0' && strlen(slug) <= 63 &&
                    strspn(slug, "abcdefghijklmnopqrstuvwxyz0123456789_") == strlen(slug),
                "a domain slug of a-z, 0-9 and _");
        require(str(dom, "name")[0] != '\0', "a domain without name");
        double w = cJSON_GetNumberValue(cJSON_GetObjectItemCaseSensitive(dom, "weight"));
        require(w >= 0 && w <= 1000 && w == (int)w, "a weight from 0 to 1000");
        strings_only(dom, "subcategories");
    }
    if (cJSON_GetObjectItemCaseSensitive(d->root, "format") != NULL)
        require(d->name != NULL && d->name[0] != '\0', "a pack document names its pack");
}

/* Reads the document once; true when accepted. */
static bool read_once(const uint8_t *data, size_t size, bool keep_ids)
{
    mentis_pool_t *pool = NULL;
    if (mentis_pool_create(16 * 1024, (size_t)64 << 20, &pool) != MENTIS_OK)
        abort();
    mentis_kb_problems_t pr = {.pool = pool};
    mentis_kb_doc_t d;
    bool json = mentis__kb_doc_read(&pr, (const char *)data, size, keep_ids, &d);
    bool accepted = json && pr.count + pr.dropped == 0;
    require(pr.count <= 200, "more than 200 problems listed");
    require(pr.dropped == 0 || pr.count == 200, "a problem dropped before the list was full");
    for (size_t i = 0; i < pr.count; i++)
        require(pr.items[i].field != NULL && pr.items[i].field[0] != '\0' &&
                    pr.items[i].message != NULL && pr.items[i].message[0] != '\0',
                "a problem without field or message");
    if (!json) {
        require(pr.count == 1 && d.root == NULL, "bytes that are not JSON are one problem");
    } else if (!accepted) {
        require(pr.count >= 1, "refused without a problem");
        require(cJSON_GetArraySize(d.questions) == 0 && cJSON_GetArraySize(d.domains) == 0,
                "a refused document keeps questions or domains");
    } else {
        check_accepted(&d);
    }
    mentis__kb_doc_free(&d);
    mentis_pool_destroy(pool);
    return accepted;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    bool user = read_once(data, size, false);
    bool seed = read_once(data, size, true);
    require(user == seed, "the user's and the seed's readings disagree");
    mentis_err_clear();
    return 0;
}
