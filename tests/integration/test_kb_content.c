/*
 * mentis-kb's content operations end to end through the gateway: pack aggregates through
 * every change that moves them, bundles (de-duplication, exclusions, sources in use), bulk
 * updates that change all or nothing, ranked search that takes any input, and pack
 * documents: export → import into another tenant → export compares equal, the apps' own
 * question file, and malformed or partly invalid documents refused whole with every
 * problem listed and nothing written.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "test_kb_support.h"

#define UNKNOWN_ID "0192a4b0-0000-7000-8000-00000000beef"

static gt_response_t r, r2;

static long long pack_num(const char *id, const char *key, const kt_user_t *u)
{
    char path[256];
    snprintf(path, sizeof path, "/api/kb/packs/%s", id);
    if (kt_call("GET", path, u, NULL, NULL, &r2) != 0 || r2.status != 200)
        return -2;
    return kt_num(&r2, key);
}

static double pack_audio(const char *id)
{
    char path[256];
    snprintf(path, sizeof path, "/api/kb/packs/%s", id);
    if (kt_call("GET", path, &kt_alice, NULL, NULL, &r2) != 0 || r2.status != 200)
        return -2;
    cJSON *doc = kt_json(&r2);
    cJSON *v = cJSON_GetObjectItem(doc, "audio_coverage_percent");
    double d = cJSON_IsNumber(v) ? v->valuedouble : 0.0;
    cJSON_Delete(doc);
    return d;
}

static bool patch(const kt_user_t *u, const char *what, const char *id, const char *body)
{
    char path[256];
    snprintf(path, sizeof path, "/api/kb/%s/%s", what, id);
    return kt_call("PATCH", path, u, NULL, body, &r2) == 0 && r2.status == 200;
}

static void test_aggregates(void)
{
    kt_setup();
    char sci[64], math[64], hist[64], q[4][64], pack[64], body[512], path[256];
    REQUIRE(kt_domain(&kt_alice, "science", sci) && kt_domain(&kt_alice, "mathematics", math) &&
            kt_domain(&kt_alice, "history", hist));
    REQUIRE(kt_question(&kt_alice, sci, "agg 0", "a", NULL, q[0]));
    REQUIRE(kt_question(&kt_alice, sci, "agg 1", "a", NULL, q[1]));
    REQUIRE(kt_question(&kt_alice, math, "agg 2", "a", NULL, q[2]));
    REQUIRE(kt_question(&kt_alice, hist, "agg 3", "a", NULL, q[3]));
    snprintf(body, sizeof body, ",\"question_ids\":[\"%s\",\"%s\"]", q[0], q[1]);
    REQUIRE(kt_pack(&kt_alice, "Aggregates", body, pack));
    CHECK_INT(pack_num(pack, "question_count", &kt_alice), 2);
    CHECK_INT(pack_num(pack, "domain_count", &kt_alice), 1);
    /* Adding: new ones appended, one already there ignored. */
    snprintf(path, sizeof path, "/api/kb/packs/%s/questions", pack);
    snprintf(body, sizeof body, "{\"question_ids\":[\"%s\",\"%s\"]}", q[2], q[0]);
    REQUIRE(kt_call("POST", path, &kt_alice, NULL, body, &r) == 0);
    CHECK_MSG(r.status == 200, "add: %d %s", r.status, r.body);
    CHECK_INT(kt_num(&r, "question_count"), 3);
    CHECK_INT(kt_num(&r, "domain_count"), 2);
    CHECK_INT(kt_num(&r, "version"), 2);
    /* A question moving domain moves the pack's count. */
    snprintf(body, sizeof body, "{\"domain_id\":\"%s\"}", hist);
    REQUIRE(patch(&kt_alice, "questions", q[1], body));
    CHECK_INT(pack_num(pack, "domain_count", &kt_alice), 3);
    snprintf(body, sizeof body, "{\"domain_id\":\"%s\"}", sci);
    REQUIRE(patch(&kt_alice, "questions", q[1], body));
    CHECK_INT(pack_num(pack, "domain_count", &kt_alice), 2);
    /* Audio coverage follows has_audio. */
    REQUIRE(patch(&kt_alice, "questions", q[2], "{\"has_audio\":true}"));
    double cov = pack_audio(pack);
    CHECK_MSG(cov > 33.3 && cov < 33.4, "audio coverage %f", cov);
    /* Taking one out. */
    snprintf(path, sizeof path, "/api/kb/packs/%s/questions/%s", pack, q[2]);
    REQUIRE(kt_call("DELETE", path, &kt_alice, NULL, NULL, &r) == 0);
    CHECK_INT(r.status, 204);
    CHECK_INT(pack_num(pack, "question_count", &kt_alice), 2);
    CHECK_INT(pack_num(pack, "domain_count", &kt_alice), 1);
    CHECK(pack_audio(pack) == 0.0);
    /* Bulk moves: both questions to history, the count follows. */
    snprintf(body, sizeof body,
             "{\"question_ids\":[\"%s\",\"%s\"],\"updates\":{\"domain_id\":\"%s\"}}", q[0], q[1],
             hist);
    REQUIRE(kt_call("POST", "/api/kb/questions/bulk-update", &kt_alice, NULL, body, &r) == 0);
    CHECK_MSG(r.status == 200, "bulk: %d %s", r.status, r.body);
    CHECK_INT(pack_num(pack, "domain_count", &kt_alice), 1);
    snprintf(path, sizeof path, "/api/kb/packs/%s", pack);
    REQUIRE(kt_call("GET", path, &kt_alice, NULL, NULL, &r) == 0);
    CHECK(strstr(r.body, "\"slug\":\"history\",\"name\":\"History\",\"question_count\":2") != NULL);
    /* A platform admin moving a system question in another tenant's pack moves that pack's
     * count too: the refresh sees every tenant's packs. */
    char bpack[64];
    REQUIRE(kt_pack(&kt_carol, "Carol's system pick",
                    ",\"question_ids\":[\"d5717bb3-7e1c-4ca8-bd9a-ce0fe5a370d2\"]", bpack));
    CHECK_INT(pack_num(bpack, "domain_count", &kt_carol), 1);
    REQUIRE(kt_call("GET", "/api/kb/packs/" UNKNOWN_ID, &kt_carol, NULL, NULL, &r) == 0);
    snprintf(body, sizeof body, "{\"has_audio\":true}");
    REQUIRE(patch(&kt_root, "questions", "d5717bb3-7e1c-4ca8-bd9a-ce0fe5a370d2", body));
    snprintf(path, sizeof path, "/api/kb/packs/%s", bpack);
    REQUIRE(kt_call("GET", path, &kt_carol, NULL, NULL, &r) == 0);
    CHECK_MSG(strstr(r.body, "\"audio_coverage_percent\":100") != NULL, "%s", r.body);
    REQUIRE(patch(&kt_root, "questions", "d5717bb3-7e1c-4ca8-bd9a-ce0fe5a370d2",
                  "{\"has_audio\":false}"));
    REQUIRE(kt_call("GET", path, &kt_carol, NULL, NULL, &r) == 0);
    CHECK_MSG(strstr(r.body, "\"audio_coverage_percent\":0,") != NULL, "%s", r.body);
    /* Domain counts: a new active question counts, a draft does not. */
    snprintf(path, sizeof path, "/api/kb/domains/%s", math);
    REQUIRE(kt_call("GET", path, &kt_alice, NULL, NULL, &r) == 0);
    long long before = kt_num(&r, "question_count");
    char extra[64];
    REQUIRE(kt_question(&kt_alice, math, "agg 4", "a", NULL, extra));
    REQUIRE(kt_question(&kt_alice, math, "agg 5", "a", ",\"status\":\"draft\"", extra));
    REQUIRE(kt_call("GET", path, &kt_alice, NULL, NULL, &r) == 0);
    CHECK_INT(kt_num(&r, "question_count"), before + 1);
    REQUIRE(kt_call("GET", path, &kt_carol, NULL, NULL, &r) == 0);
    CHECK_INT(kt_num(&r, "question_count"), 150); /* tenant B: the system's only */
}

static void test_bundles(void)
{
    kt_setup();
    char sci[64], q[5][64], p1[64], p2[64], bundle[64], body[1024], path[256], v[256];
    REQUIRE(kt_domain(&kt_alice, "science", sci));
    REQUIRE(kt_question(&kt_alice, sci, "What is the speed of light?", "c", NULL, q[0]));
    REQUIRE(kt_question(&kt_alice, sci, "Which planet is red?", "Mars", NULL, q[1]));
    REQUIRE(kt_question(&kt_alice, sci, "Name a noble gas", "Neon", NULL, q[2]));
    /* The same as q[0] but for case, spacing and punctuation. */
    REQUIRE(kt_question(&kt_bob, sci, "what is  the SPEED of light", "c", NULL, q[3]));
    REQUIRE(kt_question(&kt_bob, sci, "What is absolute zero?", "0 K", NULL, q[4]));
    snprintf(body, sizeof body, ",\"question_ids\":[\"%s\",\"%s\",\"%s\"]", q[0], q[1], q[2]);
    REQUIRE(kt_pack(&kt_alice, "Bundle source one", body, p1));
    snprintf(body, sizeof body, ",\"question_ids\":[\"%s\",\"%s\",\"%s\"]", q[2], q[3], q[4]);
    REQUIRE(kt_pack(&kt_bob, "Bundle source two", body, p2));

    REQUIRE(kt_call("POST", "/api/kb/packs/bundle", &kt_alice, NULL,
                    "{\"name\":\"\",\"source_pack_ids\":[]}", &r) == 0);
    kt_problem(&r, 400, "invalid_argument", "an empty bundle");
    CHECK_MSG(kt_has_field(&r, "name") && kt_has_field(&r, "source_pack_ids"), "fields: %s",
              kt_fields(&r));
    snprintf(body, sizeof body, "{\"name\":\"B\",\"source_pack_ids\":[\"%s\",\"" UNKNOWN_ID "\"]}",
             p1);
    REQUIRE(kt_call("POST", "/api/kb/packs/bundle", &kt_alice, NULL, body, &r) == 0);
    kt_problem(&r, 400, "invalid_argument", "an unknown source");
    CHECK_MSG(kt_has_field(&r, "source_pack_ids[1]"), "fields: %s", kt_fields(&r));

    snprintf(body, sizeof body,
             "{\"name\":\"Science bundle\",\"source_pack_ids\":[\"%s\",\"%s\"],"
             "\"exclude_question_ids\":[\"%s\"]}",
             p1, p2, q[1]);
    REQUIRE(kt_call("POST", "/api/kb/packs/bundle", &kt_alice, NULL, body, &r) == 0);
    CHECK_MSG(r.status == 201, "bundle: %d %s", r.status, r.body);
    kt_str(&r, "id", bundle, sizeof bundle);
    snprintf(path, sizeof path, "/api/kb/packs/%s", bundle);
    CHECK_STR(gt_header(&r, "location", v, sizeof v), path);
    CHECK_STR(kt_str(&r, "type", v, sizeof v), "bundle");
    CHECK_INT(kt_num(&r, "question_count"), 3);
    char want[200];
    snprintf(want, sizeof want, "\"source_pack_ids\":[\"%s\",\"%s\"]", p1, p2);
    CHECK_MSG(strstr(r.body, want) != NULL, "%s", r.body);
    /* q0 (first of its text), q2 (once), q4; not q1 (excluded) nor q3 (q0's text). */
    snprintf(path, sizeof path, "/api/kb/packs/%s/questions", bundle);
    REQUIRE(kt_call("GET", path, &kt_alice, NULL, NULL, &r) == 0);
    cJSON *doc = kt_json(&r);
    cJSON *items = cJSON_GetObjectItem(doc, "items");
    CHECK_INT(cJSON_GetArraySize(items), 3);
    const char *order[] = {q[0], q[2], q[4]};
    for (int i = 0; i < 3 && i < cJSON_GetArraySize(items); i++)
        CHECK_STR(cJSON_GetStringValue(cJSON_GetObjectItem(cJSON_GetArrayItem(items, i), "id")),
                  order[i]);
    cJSON_Delete(doc);
    /* A source named by a bundle stays until the bundle goes. */
    snprintf(path, sizeof path, "/api/kb/packs/%s", p2);
    REQUIRE(kt_call("DELETE", path, &kt_bob, NULL, NULL, &r) == 0);
    kt_problem(&r, 409, "pack_in_use", "deleting a bundle's source");
    snprintf(path, sizeof path, "/api/kb/packs/%s", bundle);
    REQUIRE(kt_call("DELETE", path, &kt_alice, NULL, NULL, &r) == 0);
    CHECK_INT(r.status, 204);
    snprintf(path, sizeof path, "/api/kb/packs/%s", p2);
    REQUIRE(kt_call("DELETE", path, &kt_bob, NULL, NULL, &r) == 0);
    CHECK_INT(r.status, 204);
}

static void test_bulk_update(void)
{
    kt_setup();
    char sci[64], math[64], q[3][64], bobs[64], body[1024], path[256];
    REQUIRE(kt_domain(&kt_alice, "science", sci) && kt_domain(&kt_alice, "mathematics", math));
    for (int i = 0; i < 3; i++)
        REQUIRE(kt_question(&kt_alice, sci, "bulk", "a", ",\"tags\":[\"old\",\"keep\"]", q[i]));
    REQUIRE(kt_question(&kt_bob, sci, "bulk bob", "a", NULL, bobs));
    /* One unknown id: nothing changes, the problem names its place. */
    snprintf(body, sizeof body,
             "{\"question_ids\":[\"%s\",\"%s\",\"" UNKNOWN_ID "\"],\"updates\":{\"difficulty\":5}}",
             q[0], q[1]);
    REQUIRE(kt_call("POST", "/api/kb/questions/bulk-update", &kt_alice, NULL, body, &r) == 0);
    kt_problem(&r, 400, "invalid_argument", "bulk with an unknown question");
    CHECK_MSG(strcmp(kt_fields(&r), "question_ids[2]") == 0, "fields: %s", kt_fields(&r));
    /* One of another user's: refused, nothing changes. */
    snprintf(body, sizeof body, "{\"question_ids\":[\"%s\",\"%s\"],\"updates\":{\"difficulty\":5}}",
             q[0], bobs);
    REQUIRE(kt_call("POST", "/api/kb/questions/bulk-update", &kt_alice, NULL, body, &r) == 0);
    kt_problem(&r, 403, "not_owner", "bulk with Bob's question");
    CHECK_MSG(strcmp(kt_fields(&r), "question_ids[1]") == 0, "fields: %s", kt_fields(&r));
    /* Bad changes name their fields. */
    snprintf(body, sizeof body,
             "{\"question_ids\":[\"%s\",\"%s\"],\"updates\":{\"difficulty\":6,\"domain_id\":"
             "\"" UNKNOWN_ID "\"}}",
             q[0], q[0]);
    REQUIRE(kt_call("POST", "/api/kb/questions/bulk-update", &kt_alice, NULL, body, &r) == 0);
    kt_problem(&r, 400, "invalid_argument", "bad bulk changes");
    CHECK_MSG(kt_has_field(&r, "question_ids[1]") && kt_has_field(&r, "updates.difficulty") &&
                  kt_has_field(&r, "updates.domain_id"),
              "fields: %s", kt_fields(&r));
    REQUIRE(kt_call("POST", "/api/kb/questions/bulk-update", &kt_alice, NULL,
                    "{\"question_ids\":[\"" UNKNOWN_ID "\"],\"updates\":{}}", &r) == 0);
    CHECK(kt_has_field(&r, "updates"));
    for (int i = 0; i < 2; i++) {
        snprintf(path, sizeof path, "/api/kb/questions/%s", q[i]);
        REQUIRE(kt_call("GET", path, &kt_alice, NULL, NULL, &r) == 0);
        CHECK_INT(kt_num(&r, "version"), 1);
        CHECK_INT(kt_num(&r, "difficulty"), 3);
    }
    /* All of them, every change. */
    snprintf(body, sizeof body,
             "{\"question_ids\":[\"%s\",\"%s\",\"%s\"],\"updates\":{\"difficulty\":5,"
             "\"domain_id\":\"%s\",\"subcategory\":\"algebra\",\"question_type\":\"lightning\","
             "\"status\":\"archived\",\"add_tags\":[\"new\"],\"remove_tags\":[\"old\"]}}",
             q[0], q[1], q[2], math);
    REQUIRE(kt_call("POST", "/api/kb/questions/bulk-update", &kt_alice, NULL, body, &r) == 0);
    CHECK_MSG(r.status == 200, "bulk: %d %s", r.status, r.body);
    CHECK_INT(kt_num(&r, "updated_count"), 3);
    for (int i = 0; i < 3; i++) {
        snprintf(path, sizeof path, "/api/kb/questions/%s", q[i]);
        REQUIRE(kt_call("GET", path, &kt_alice, NULL, NULL, &r) == 0);
        CHECK_INT(kt_num(&r, "version"), 2);
        CHECK_INT(kt_num(&r, "difficulty"), 5);
        CHECK(strstr(r.body, "\"tags\":[\"keep\",\"new\"]") != NULL);
        CHECK(strstr(r.body, "\"status\":\"archived\"") != NULL);
        CHECK(strstr(r.body, "\"subcategory\":\"algebra\"") != NULL);
        CHECK(strstr(r.body, "\"question_type\":\"lightning\"") != NULL);
    }
    /* An admin may change anyone's; a system question only a platform admin. */
    snprintf(body, sizeof body,
             "{\"question_ids\":[\"%s\",\"d5717bb3-7e1c-4ca8-bd9a-ce0fe5a370d2\"],\"updates\":"
             "{\"add_tags\":[\"x\"]}}",
             bobs);
    REQUIRE(kt_call("POST", "/api/kb/questions/bulk-update", &kt_alice, NULL, body, &r) == 0);
    kt_problem(&r, 403, "read_only", "bulk with a system question");
    CHECK_MSG(strcmp(kt_fields(&r), "question_ids[0],question_ids[1]") == 0, "fields: %s",
              kt_fields(&r));
    snprintf(body, sizeof body, "{\"question_ids\":[\"%s\"],\"updates\":{\"add_tags\":[\"x\"]}}",
             bobs);
    REQUIRE(kt_call("POST", "/api/kb/questions/bulk-update", &kt_root, NULL, body, &r) == 0);
    CHECK_INT(r.status, 200);
}

/* The items[] ids of a search, in order, joined by ','. */
static const char *hit_ids(const gt_response_t *res)
{
    static char ids[4096];
    ids[0] = '\0';
    cJSON *doc = kt_json(res), *e;
    cJSON_ArrayForEach(e, cJSON_GetObjectItem(doc, "items"))
    {
        size_t n = strlen(ids);
        snprintf(ids + n, sizeof ids - n, "%s%s", n ? "," : "",
                 cJSON_GetStringValue(cJSON_GetObjectItem(e, "id")));
    }
    cJSON_Delete(doc);
    return ids;
}

static void test_search(void)
{
    kt_setup();
    char sci[64], in_text[64], in_answer[64], in_hint[64], pack[64], want[256];
    REQUIRE(kt_domain(&kt_alice, "science", sci));
    REQUIRE(kt_question(&kt_alice, sci, "Which quokka lives on Rottnest?", "An island marsupial",
                        NULL, in_text));
    REQUIRE(kt_question(&kt_alice, sci, "Which marsupial smiles?", "The quokka", NULL, in_answer));
    REQUIRE(kt_question(&kt_alice, sci, "Name a small wallaby", "Setonix",
                        ",\"hints\":[\"think quokka\"]", in_hint));
    REQUIRE(kt_pack(&kt_alice, "Quokka facts", NULL, pack));
    /* Question text outranks answers, which outrank hints; packs rank by name. */
    REQUIRE(kt_call("GET", "/api/kb/search?q=quokka&kind=question", &kt_bob, NULL, NULL, &r) == 0);
    CHECK_MSG(r.status == 200, "%d %s", r.status, r.body);
    snprintf(want, sizeof want, "%s,%s,%s", in_text, in_answer, in_hint);
    CHECK_STR(hit_ids(&r), want);
    CHECK(strstr(r.body, "\"question_text\":\"Which quokka lives on Rottnest?\"") != NULL);
    REQUIRE(kt_call("GET", "/api/kb/search?q=quokka", &kt_bob, NULL, NULL, &r) == 0);
    CHECK_INT(kt_items(&r), 4);
    CHECK_INT(kt_items_with(&r, "kind", "pack"), 1);
    CHECK(strstr(r.body, "\"name\":\"Quokka facts\"") != NULL);
    REQUIRE(kt_call("GET", "/api/kb/search?q=quokka&kind=pack", &kt_bob, NULL, NULL, &r) == 0);
    CHECK_STR(hit_ids(&r), pack);
    /* The search follows changes: a draft is its owner's, archived ones and other domains
     * are left out, a deleted one is gone. */
    char path[256];
    snprintf(path, sizeof path, "/api/kb/questions/%s", in_hint);
    REQUIRE(kt_call("PATCH", path, &kt_alice, NULL, "{\"status\":\"draft\"}", &r) == 0);
    REQUIRE(r.status == 200);
    REQUIRE(kt_call("GET", "/api/kb/search?q=quokka&kind=question", &kt_bob, NULL, NULL, &r) == 0);
    CHECK_INT(kt_items(&r), 2);
    REQUIRE(kt_call("GET", "/api/kb/search?q=quokka&kind=question", &kt_alice, NULL, NULL, &r) ==
            0);
    CHECK_INT(kt_items(&r), 3);
    REQUIRE(kt_call("PATCH", path, &kt_alice, NULL, "{\"status\":\"archived\"}", &r) == 0);
    REQUIRE(kt_call("GET", "/api/kb/search?q=quokka&kind=question", &kt_alice, NULL, NULL, &r) ==
            0);
    CHECK_INT(kt_items(&r), 2);
    char math[64];
    REQUIRE(kt_domain(&kt_alice, "mathematics", math));
    snprintf(path, sizeof path, "/api/kb/search?q=quokka&domain_id=%s", math);
    REQUIRE(kt_call("GET", path, &kt_alice, NULL, NULL, &r) == 0);
    CHECK_INT(kt_items(&r), 0);
    snprintf(path, sizeof path, "/api/kb/search?q=quokka&domain_id=%s", sci);
    REQUIRE(kt_call("GET", path, &kt_alice, NULL, NULL, &r) == 0);
    CHECK_INT(kt_items(&r), 2); /* the questions; packs have no domain */
    snprintf(path, sizeof path, "/api/kb/questions/%s", in_hint);
    REQUIRE(kt_call("DELETE", path, &kt_alice, NULL, NULL, &r) == 0);
    CHECK_INT(r.status, 204);
    REQUIRE(kt_call("GET", "/api/kb/search?q=quokka+OR+setonix", &kt_alice, NULL, NULL, &r) == 0);
    CHECK_MSG(kt_items(&r) == 3 && strstr(r.body, in_hint) == NULL, "%s", r.body);
    /* Another tenant finds none of it; the system questions are everybody's. */
    REQUIRE(kt_call("GET", "/api/kb/search?q=quokka", &kt_carol, NULL, NULL, &r) == 0);
    CHECK_INT(kt_items(&r), 0);
    REQUIRE(kt_call("GET", "/api/kb/search?q=applet", &kt_carol, NULL, NULL, &r) == 0);
    CHECK_MSG(strstr(r.body, "d5717bb3-7e1c-4ca8-bd9a-ce0fe5a370d2") != NULL, "%s", r.body);
    /* Web search syntax: exclusion (phrases and "or" are among the odd inputs below). */
    REQUIRE(kt_call("GET", "/api/kb/search?q=quokka+-rottnest&kind=question", &kt_bob, NULL, NULL,
                    &r) == 0);
    CHECK_MSG(kt_items(&r) == 1, "%s", r.body);
    CHECK_INT(kt_items_with(&r, "id", in_answer), 1);
    /* Any input is a query: none of these is an error. */
    const char *odd[] = {"",
                         "%22",
                         "%22%22%22",
                         "a%20%26%20%7C%20!%20(",
                         "quokka%27%3A*",
                         "%E2%80%9Cquokka%E2%80%9D",
                         "%D0%BC%D0%B8%D1%80",
                         "%F0%9F%A6%98",
                         "or%20or%20-",
                         "the",
                         "%5C%5C%5C",
                         "NOT%20AND%20OR%20%3C-%3E",
                         "x%3Cy%3E*%7B%7D%5B%5D"};
    for (size_t i = 0; i < sizeof odd / sizeof odd[0]; i++) {
        snprintf(path, sizeof path, "/api/kb/search?q=%s", odd[i]);
        REQUIRE(kt_call("GET", path, &kt_bob, NULL, NULL, &r) == 0);
        CHECK_MSG(r.status == 200, "q=%s: %d %s", odd[i], r.status, r.body);
        snprintf(path, sizeof path, "/api/kb/questions?q=%s", odd[i]);
        REQUIRE(kt_call("GET", path, &kt_bob, NULL, NULL, &r) == 0);
        CHECK_MSG(r.status == 200, "questions q=%s: %d %s", odd[i], r.status, r.body);
        snprintf(path, sizeof path, "/api/kb/packs?q=%s", odd[i]);
        REQUIRE(kt_call("GET", path, &kt_bob, NULL, NULL, &r) == 0);
        CHECK_MSG(r.status == 200, "packs q=%s: %d %s", odd[i], r.status, r.body);
    }
    /* A very long query is cut, not refused. */
    static char longq[5000];
    strcpy(longq, "/api/kb/search?q=");
    for (int i = 0; i < 400; i++)
        strcat(longq, "quokka+");
    REQUIRE(kt_call("GET", longq, &kt_bob, NULL, NULL, &r) == 0);
    CHECK_MSG(r.status == 200, "a long q: %d", r.status);
    REQUIRE(kt_call("GET", "/api/kb/search?q=x&kind=everything", &kt_bob, NULL, NULL, &r) == 0);
    kt_problem(&r, 400, "invalid_argument", "an unknown kind");
    CHECK(kt_has_field(&r, "kind"));
}

/* The sample file's first n questions as an apps-format document. */
static char *app_document(int n)
{
    char path[512];
    snprintf(path, sizeof path, "%s/services/kb/data/kb-sample-questions.json",
             getenv("MENTIS_SOURCE_DIR"));
    FILE *f = fopen(path, "rb");
    if (f == NULL)
        return NULL;
    static char buf[1 << 20];
    size_t len = fread(buf, 1, sizeof buf - 1, f);
    fclose(f);
    buf[len] = '\0';
    cJSON *doc = cJSON_Parse(buf);
    cJSON *qs = cJSON_GetObjectItem(doc, "questions");
    while (cJSON_GetArraySize(qs) > n)
        cJSON_DeleteItemFromArray(qs, cJSON_GetArraySize(qs) - 1);
    char *text = cJSON_PrintUnformatted(doc);
    cJSON_Delete(doc);
    return text;
}

static void test_export_import(void)
{
    kt_setup();
    char dom[64], sci[64], q[3][64], pack[64], body[2048], path[256], v[256];
    /* A pack with a domain of the tenant's own, a system one, and every field. */
    REQUIRE(kt_call("POST", "/api/kb/domains", &kt_alice, NULL,
                    "{\"slug\":\"astro_export\",\"name\":\"Astronomy\",\"icon\":\"star\","
                    "\"weight\":30,\"subcategories\":[\"planets\",\"stars\"]}",
                    &r) == 0);
    REQUIRE(r.status == 201);
    kt_str(&r, "id", dom, sizeof dom);
    REQUIRE(kt_domain(&kt_alice, "science", sci));
    REQUIRE(kt_question(&kt_alice, dom, "Which planet has the most moons?", "Saturn",
                        ",\"subcategory\":\"planets\",\"acceptable_answers\":[\"saturn\"],"
                        "\"difficulty\":4,\"question_type\":\"bonus\",\"question_source\":"
                        "\"Alice\",\"source_attribution\":\"CC BY 4.0\",\"hints\":[\"rings\","
                        "\"sixth\"],\"explanation\":\"Line one.\\nLine two.\",\"tags\":[\"sky\"],"
                        "\"mcq_options\":[\"Saturn\",\"Jupiter\"]",
                        q[0]));
    REQUIRE(kt_question(&kt_alice, sci, "Unicode: \\u00e9t\\u00e9 \\u2014 \\ud83e\\udd98?", "Oui",
                        NULL, q[1]));
    REQUIRE(kt_question(&kt_alice, dom, "Closest star?", "The Sun", ",\"status\":\"draft\"", q[2]));
    snprintf(body, sizeof body,
             ",\"description\":\"For the \\\"export\\\" test\",\"difficulty_tier\":\"college\","
             "\"question_ids\":[\"%s\",\"%s\",\"%s\"]",
             q[0], q[1], q[2]);
    REQUIRE(kt_pack(&kt_alice, "Exported pack", body, pack));

    snprintf(path, sizeof path, "/api/kb/packs/%s/export", pack);
    REQUIRE(kt_call("GET", path, &kt_alice, NULL, NULL, &r) == 0);
    CHECK_MSG(r.status == 200, "export: %d %s", r.status, r.body);
    static char exported[65536];
    snprintf(exported, sizeof exported, "%s", r.body);
    cJSON *doc = kt_json(&r);
    CHECK_STR(cJSON_GetStringValue(cJSON_GetObjectItem(doc, "format")), "mentis.kb.pack");
    CHECK_INT((long long)cJSON_GetNumberValue(cJSON_GetObjectItem(doc, "format_version")), 1);
    CHECK_INT(cJSON_GetArraySize(cJSON_GetObjectItem(doc, "questions")), 3);
    CHECK_INT(cJSON_GetArraySize(cJSON_GetObjectItem(doc, "domains")), 2);
    cJSON_Delete(doc);
    /* Another user sees no draft: its export leaves it out. */
    REQUIRE(kt_call("GET", path, &kt_bob, NULL, NULL, &r) == 0);
    doc = kt_json(&r);
    CHECK_INT(cJSON_GetArraySize(cJSON_GetObjectItem(doc, "questions")), 2);
    cJSON_Delete(doc);

    /* Into tenant B, then out again: the same document. */
    REQUIRE(kt_call("POST", "/api/kb/import", &kt_carol, NULL, exported, &r) == 0);
    CHECK_MSG(r.status == 201, "import: %d %s", r.status, r.body);
    char imported[64];
    kt_str(&r, "id", imported, sizeof imported);
    snprintf(path, sizeof path, "/api/kb/packs/%s", imported);
    CHECK_STR(gt_header(&r, "location", v, sizeof v), path);
    CHECK_STR(kt_str(&r, "owner_id", v, sizeof v), kt_carol.id);
    CHECK_INT(kt_num(&r, "question_count"), 3);
    CHECK_INT(kt_num(&r, "domain_count"), 2);
    snprintf(path, sizeof path, "/api/kb/packs/%s/export", imported);
    REQUIRE(kt_call("GET", path, &kt_carol, NULL, NULL, &r) == 0);
    CHECK_INT(r.status, 200);
    CHECK_MSG(strcmp(r.body, exported) == 0, "round trip differs:\n%s\n%s", exported, r.body);
    /* B now has the domain; A's is untouched and B's is B's. */
    REQUIRE(kt_call("GET", "/api/kb/domains?q=astro", &kt_carol, NULL, NULL, &r) == 0);
    CHECK_INT(kt_items(&r), 1);
    CHECK_INT(kt_items_with(&r, "id", dom), 0);
    /* A second import makes a second pack with new questions. */
    REQUIRE(kt_call("POST", "/api/kb/import", &kt_carol, NULL, exported, &r) == 0);
    CHECK_INT(r.status, 201);

    /* The apps' own file. */
    char *app = app_document(5);
    REQUIRE(app != NULL);
    REQUIRE(kt_call("POST", "/api/kb/import?name=From+the+app", &kt_bob, NULL, app, &r) == 0);
    free(app);
    CHECK_MSG(r.status == 201, "apps' file: %d %s", r.status, r.body);
    CHECK_STR(kt_str(&r, "name", v, sizeof v), "From the app");
    CHECK_INT(kt_num(&r, "question_count"), 5);
    kt_str(&r, "id", imported, sizeof imported);
    snprintf(path, sizeof path, "/api/kb/packs/%s/questions?limit=1", imported);
    REQUIRE(kt_call("GET", path, &kt_bob, NULL, NULL, &r) == 0);
    CHECK(strstr(r.body, "\"question_text\":\"A Java stock ticker") != NULL);
    CHECK(strstr(r.body, "\"source_attribution\":\"U.S. Department of Energy") != NULL);
    CHECK(strstr(r.body, "\"id\":\"d5717bb3-7e1c-4ca8-bd9a-ce0fe5a370d2\"") == NULL);
    CHECK(strstr(r.body, "\"mcq_options\":[\"an applet\"") != NULL);

    /* Refused whole: every problem listed, nothing written. */
    REQUIRE(kt_call("GET", "/api/kb/packs?mine=true&limit=200", &kt_carol, NULL, NULL, &r) == 0);
    int packs_before = kt_items(&r);
    const char *bad =
        "{\"format\":\"mentis.kb.pack\",\"format_version\":1,\"extra\":true,"
        "\"pack\":{\"name\":\"Bad\",\"status\":\"gone\"},"
        "\"domains\":[{\"slug\":\"new_bad_domain\",\"name\":\"New\"}],"
        "\"questions\":["
        "{\"domain\":\"new_bad_domain\",\"question_text\":\"ok\",\"answer_text\":\"ok\"},"
        "{\"domain\":\"science\",\"question_text\":\"no answer\"},"
        "{\"domain\":\"science\",\"question_text\":\"q\",\"answer_text\":\"a\","
        "\"difficulty\":9,\"tags\":[1],\"colour\":\"red\"},"
        "{\"domain\":\"nowhere\",\"question_text\":\"q\",\"answer_text\":\"a\"},"
        "\"not an object\"]}";
    REQUIRE(kt_call("POST", "/api/kb/import", &kt_carol, NULL, bad, &r) == 0);
    kt_problem(&r, 400, "invalid_document", "a partly invalid document");
    const char *fields[] = {"extra",
                            "pack.status",
                            "questions[1].answer_text",
                            "questions[2].difficulty",
                            "questions[2].tags[0]",
                            "questions[2].colour",
                            "questions[4]"};
    for (size_t i = 0; i < sizeof fields / sizeof fields[0]; i++)
        CHECK_MSG(kt_has_field(&r, fields[i]), "no problem for %s in %s", fields[i], kt_fields(&r));
    /* The unknown domain is found once the rest is right. */
    const char *bad_domain =
        "{\"format\":\"mentis.kb.pack\",\"format_version\":1,\"pack\":{\"name\":\"Bad\"},"
        "\"domains\":[{\"slug\":\"new_bad_domain\",\"name\":\"New\"}],\"questions\":["
        "{\"domain\":\"new_bad_domain\",\"question_text\":\"ok\",\"answer_text\":\"ok\"},"
        "{\"domain\":\"nowhere\",\"question_text\":\"q\",\"answer_text\":\"a\"}]}";
    REQUIRE(kt_call("POST", "/api/kb/import", &kt_carol, NULL, bad_domain, &r) == 0);
    kt_problem(&r, 400, "invalid_document", "an unknown domain");
    CHECK_MSG(strcmp(kt_fields(&r), "questions[1].domain") == 0, "fields: %s", kt_fields(&r));
    REQUIRE(kt_call("GET", "/api/kb/domains?q=new", &kt_carol, NULL, NULL, &r) == 0);
    CHECK_INT(kt_items_with(&r, "slug", "new_bad_domain"), 0);
    REQUIRE(kt_call("GET", "/api/kb/packs?mine=true&limit=200", &kt_carol, NULL, NULL, &r) == 0);
    CHECK_INT(kt_items(&r), packs_before);
    REQUIRE(kt_call("POST", "/api/kb/import", &kt_carol, NULL, "{\"format\":\"other\"}", &r) == 0);
    kt_problem(&r, 400, "invalid_document", "another format");
    CHECK_MSG(kt_has_field(&r, "format") && kt_has_field(&r, "format_version") &&
                  kt_has_field(&r, "pack") && kt_has_field(&r, "questions"),
              "fields: %s", kt_fields(&r));
    REQUIRE(kt_call("POST", "/api/kb/import", &kt_carol, NULL, "[1,2]", &r) == 0);
    kt_problem(&r, 400, "invalid_document", "not an object");
    REQUIRE(kt_call("POST", "/api/kb/import", &kt_carol, NULL, "{\"questions\":", &r) == 0);
    kt_problem(&r, 400, "invalid_argument", "not JSON (refused by the gateway)");
    REQUIRE(kt_call("GET", "/api/kb/packs/" UNKNOWN_ID "/export", &kt_carol, NULL, NULL, &r) == 0);
    kt_problem(&r, 404, "not_found", "exporting an unknown pack");
}

/*
 * The counts of domains and categories a user is shown, as "id=n,..." and
 * "id/subcategory=n,..." (subcategories with questions only), sorted; from the API.
 */
static void shown_counts(const kt_user_t *u, char *domains, size_t dsize, char *cats, size_t csize)
{
    domains[0] = cats[0] = '\0';
    size_t dn = 0, cn = 0;
    REQUIRE(kt_call("GET", "/api/kb/domains?limit=200", u, NULL, NULL, &r2) == 0 &&
            r2.status == 200);
    cJSON *doc = kt_json(&r2), *e;
    cJSON_ArrayForEach(e, cJSON_GetObjectItem(doc, "items"))
    {
        dn += (size_t)snprintf(domains + dn, dsize - dn, "%s%s=%lld", dn ? "\n" : "",
                               cJSON_GetStringValue(cJSON_GetObjectItem(e, "id")),
                               (long long)cJSON_GetNumberValue(
                                   cJSON_GetObjectItem(e, "question_count")));
        REQUIRE(dn < dsize);
    }
    cJSON_Delete(doc);
    REQUIRE(kt_call("GET", "/api/kb/categories?limit=200", u, NULL, NULL, &r2) == 0 &&
            r2.status == 200);
    doc = kt_json(&r2);
    cJSON_ArrayForEach(e, cJSON_GetObjectItem(doc, "items"))
    {
        cJSON *s;
        cJSON_ArrayForEach(s, cJSON_GetObjectItem(e, "subcategories"))
        {
            long long n = (long long)cJSON_GetNumberValue(cJSON_GetObjectItem(s, "question_count"));
            if (n == 0)
                continue;
            cn += (size_t)snprintf(cats + cn, csize - cn, "%s%s/%s=%lld", cn ? "\n" : "",
                                   cJSON_GetStringValue(cJSON_GetObjectItem(e, "domain_id")),
                                   cJSON_GetStringValue(cJSON_GetObjectItem(s, "name")), n);
            REQUIRE(cn < csize);
        }
    }
    cJSON_Delete(doc);
}

/* The same counts, counted from the questions themselves as superuser. */
static void true_counts(const kt_user_t *u, char *domains, size_t dsize, char *cats, size_t csize)
{
    char sql[2048];
#define KT_VISIBLE_TENANT(alias)                                                                   \
    "(" alias ".tenant_id IS NULL OR " alias ".tenant_id = (SELECT tenant_id FROM auth.users "     \
    "WHERE id = '%s'))"
    snprintf(sql, sizeof sql,
             "SELECT coalesce(string_agg(d.id || '=' || coalesce(x.n, 0), E'\\n'), '') FROM kb.domains d LEFT JOIN (SELECT domain_id, count(*) AS n FROM "
             "kb.questions q WHERE q.status = 'active' AND " KT_VISIBLE_TENANT("q")
             " GROUP BY 1) x ON x.domain_id = d.id WHERE " KT_VISIBLE_TENANT("d"),
             u->id, u->id);
    REQUIRE(h_pg_query(&kt_pg, sql, domains, dsize) == 0);
    snprintf(sql, sizeof sql,
             "SELECT coalesce(string_agg(x.domain_id || '/' || x.subcategory || '=' || x.n, "
             "E'\\n'), '') FROM (SELECT domain_id, subcategory, count(*) AS n FROM "
             "kb.questions q WHERE q.status = 'active' AND " KT_VISIBLE_TENANT("q")
             " GROUP BY 1, 2) x",
             u->id);
#undef KT_VISIBLE_TENANT
    REQUIRE(h_pg_query(&kt_pg, sql, cats, csize) == 0);
}

static int by_text(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* The lines of s in byte order, in place (the API and the count list them differently). */
static void sort_lines(char *s)
{
    static char *lines[4096];
    static char copy[65536];
    size_t n = 0;
    snprintf(copy, sizeof copy, "%s", s);
    for (char *save = NULL, *t = strtok_r(copy, "\n", &save); t && n < 4096;
         t = strtok_r(NULL, "\n", &save))
        lines[n++] = t;
    qsort(lines, n, sizeof lines[0], by_text);
    size_t len = 0;
    s[0] = '\0';
    for (size_t i = 0; i < n; i++)
        len += (size_t)sprintf(s + len, "%s%s", i ? "\n" : "", lines[i]);
}

/* What the API shows equals what the questions say, for a user of each tenant. */
static void counts_hold(const char *after)
{
    static char shown_d[16384], shown_c[65536], true_d[16384], true_c[65536];
    const kt_user_t *users[] = {&kt_alice, &kt_carol};
    for (size_t i = 0; i < sizeof users / sizeof users[0]; i++) {
        shown_counts(users[i], shown_d, sizeof shown_d, shown_c, sizeof shown_c);
        true_counts(users[i], true_d, sizeof true_d, true_c, sizeof true_c);
        sort_lines(shown_d);
        sort_lines(shown_c);
        sort_lines(true_d);
        sort_lines(true_c);
        CHECK_MSG(strcmp(shown_d, true_d) == 0, "after %s, domains:\n shown %s\n true  %s", after,
                  shown_d, true_d);
        CHECK_MSG(strcmp(shown_c, true_c) == 0, "after %s, categories:\n shown %s\n true  %s",
                  after, shown_c, true_c);
    }
}

/* Domain and category counts are kept by triggers (migration 0003) through every change
 * of the questions they count. */
static void test_domain_counts(void)
{
    kt_setup();
    counts_hold("the tests before");
    char sci[64], hist[64], q[64], q2[64], path[256];
    REQUIRE(kt_domain(&kt_alice, "science", sci) && kt_domain(&kt_alice, "history", hist));
    REQUIRE(kt_question(&kt_alice, sci, "Counted: what is a quark?", "a particle",
                        ",\"subcategory\":\"physics\"", q));
    REQUIRE(kt_question(&kt_carol, sci, "Counted in B: what is a lepton?", "a particle",
                        ",\"subcategory\":\"physics\",\"status\":\"draft\"", q2));
    counts_hold("a create, and a draft's");
    REQUIRE(patch(&kt_alice, "questions", q, "{\"subcategory\":\"quantum\"}"));
    counts_hold("a new subcategory");
    snprintf(path, sizeof path, "{\"domain_id\":\"%s\"}", hist);
    REQUIRE(patch(&kt_alice, "questions", q, path));
    counts_hold("a move to another domain");
    REQUIRE(patch(&kt_alice, "questions", q, "{\"status\":\"archived\"}"));
    counts_hold("archiving");
    REQUIRE(patch(&kt_alice, "questions", q, "{\"status\":\"active\"}"));
    REQUIRE(patch(&kt_carol, "questions", q2, "{\"status\":\"active\"}"));
    counts_hold("activating");
    REQUIRE(patch(&kt_alice, "questions", q, "{\"question_text\":\"Counted: what is a gluon?\"}"));
    counts_hold("a change of text alone");
    /* A platform admin's change of a system question moves a system count, seen by both. */
    REQUIRE(patch(&kt_root, "questions", "d5717bb3-7e1c-4ca8-bd9a-ce0fe5a370d2",
                  "{\"subcategory\":\"counted by root\"}"));
    counts_hold("a change of a system question");
    snprintf(path, sizeof path, "/api/kb/questions/%s", q);
    REQUIRE(kt_call("DELETE", path, &kt_alice, NULL, NULL, &r2) == 0);
    CHECK_INT(r2.status, 204);
    counts_hold("a delete");
}

static void test_finish(void)
{
    kt_finish();
}

TEST_MAIN(test_aggregates, test_bundles, test_bulk_update, test_search, test_export_import,
          test_domain_counts, test_finish)
