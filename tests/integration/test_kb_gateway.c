/*
 * mentis-kb end to end through the gateway: the seeded system pack and domains, CRUD of
 * packs, questions and domains with their refusals (field-naming validation, stale
 * versions, deletes still in use, system content, unknown ids, another user's and another
 * tenant's rows), every list filter, and keyset pages that neither repeat nor skip while
 * rows are inserted between them.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "test_kb_support.h"

#define UNKNOWN_ID "0192a4b0-0000-7000-8000-00000000beef"

static gt_response_t r;
static char system_pack[64];

/* Adds up domain_counts[].question_count of a pack. */
static long long domain_count_sum(const gt_response_t *res, int *entries)
{
    cJSON *doc = kt_json(res), *e;
    long long sum = 0;
    *entries = 0;
    cJSON_ArrayForEach(e, cJSON_GetObjectItem(doc, "domain_counts"))
    {
        cJSON *n = cJSON_GetObjectItem(e, "question_count");
        sum += cJSON_IsString(n) ? atoll(n->valuestring) : (long long)cJSON_GetNumberValue(n);
        (*entries)++;
    }
    cJSON_Delete(doc);
    return sum;
}

/* The question_count of one domain_counts[] entry (by slug) of a pack; 0 when absent. */
static long long domain_count_of(const gt_response_t *res, const char *slug)
{
    cJSON *doc = kt_json(res), *e;
    long long n = 0;
    cJSON_ArrayForEach(e, cJSON_GetObjectItem(doc, "domain_counts"))
    {
        if (strcmp(cJSON_GetStringValue(cJSON_GetObjectItem(e, "slug")), slug) == 0)
            n = (long long)cJSON_GetNumberValue(cJSON_GetObjectItem(e, "question_count"));
    }
    cJSON_Delete(doc);
    return n;
}

static void test_seed_and_system_content(void)
{
    kt_setup();
    /* Two replicas started together: one system pack of the 1,000 real questions. */
    REQUIRE(kt_call("GET", "/api/kb/packs?type=system", &kt_alice, NULL, NULL, &r) == 0);
    CHECK_MSG(r.status == 200, "%d %s", r.status, r.body);
    CHECK_INT(kt_items(&r), 1);
    cJSON *doc = kt_json(&r);
    cJSON *p = cJSON_GetArrayItem(cJSON_GetObjectItem(doc, "items"), 0);
    REQUIRE(p != NULL);
    snprintf(system_pack, sizeof system_pack, "%s",
             cJSON_GetStringValue(cJSON_GetObjectItem(p, "id")));
    CHECK_INT((long long)cJSON_GetNumberValue(cJSON_GetObjectItem(p, "question_count")), 1000);
    CHECK_INT((long long)cJSON_GetNumberValue(cJSON_GetObjectItem(p, "domain_count")), 8);
    CHECK(cJSON_IsTrue(cJSON_GetObjectItem(p, "is_system")));
    CHECK_STR(cJSON_GetStringValue(cJSON_GetObjectItem(p, "type")), "system");
    CHECK(strstr(cJSON_GetStringValue(cJSON_GetObjectItem(p, "description")), "CC BY-SA 4.0") !=
          NULL);
    cJSON_Delete(doc);

    /* Per-domain counts of the pack add up to its questions. */
    char path[256];
    snprintf(path, sizeof path, "/api/kb/packs/%s", system_pack);
    REQUIRE(kt_call("GET", path, &kt_carol, NULL, NULL, &r) == 0);
    CHECK_INT(r.status, 200);
    int entries = 0;
    CHECK_INT(domain_count_sum(&r, &entries), 1000);
    CHECK_INT(entries, 8);
    CHECK_INT(domain_count_of(&r, "arts"), 250);
    CHECK_INT(domain_count_of(&r, "social_studies"), 100);
    char etag[64];
    CHECK_STR(gt_header(&r, "etag", etag, sizeof etag), "\"1\"");

    /* Its questions in order keep their source and attribution, in every tenant. */
    snprintf(path, sizeof path, "/api/kb/packs/%s/questions?limit=3", system_pack);
    REQUIRE(kt_call("GET", path, &kt_carol, NULL, NULL, &r) == 0);
    CHECK_INT(r.status, 200);
    doc = kt_json(&r);
    cJSON *q = cJSON_GetArrayItem(cJSON_GetObjectItem(doc, "items"), 0);
    CHECK_STR(cJSON_GetStringValue(cJSON_GetObjectItem(q, "id")),
              "d5717bb3-7e1c-4ca8-bd9a-ce0fe5a370d2");
    CHECK_STR(cJSON_GetStringValue(cJSON_GetObjectItem(q, "question_source")),
              "DOE Science Bowl (Official-set2-round3)");
    CHECK_STR(cJSON_GetStringValue(cJSON_GetObjectItem(q, "source_attribution")),
              "U.S. Department of Energy, Office of Science - Public Domain");
    CHECK_STR(cJSON_GetStringValue(cJSON_GetObjectItem(q, "domain_slug")), "technology");
    CHECK_INT((long long)cJSON_GetNumberValue(cJSON_GetObjectItem(q, "position")), 1);
    cJSON *q2 = cJSON_GetArrayItem(cJSON_GetObjectItem(doc, "items"), 1);
    CHECK_STR(cJSON_GetStringValue(cJSON_GetObjectItem(q2, "source_attribution")),
              "CC BY-SA 4.0 - https://github.com/uberspot/OpenTriviaQA");
    CHECK_INT((long long)cJSON_GetNumberValue(cJSON_GetObjectItem(q2, "difficulty")), 3);
    cJSON_Delete(doc);

    /* The system domains, heaviest first, with the counts every tenant sees. */
    REQUIRE(kt_call("GET", "/api/kb/domains", &kt_carol, NULL, NULL, &r) == 0);
    CHECK_INT(r.status, 200);
    CHECK(kt_items(&r) >= 12);
    const char *slugs[] = {"science",        "mathematics",    "literature", "history",
                           "social_studies", "arts",           "language",   "religion_philosophy",
                           "geography",      "current_events", "technology", "pop_culture"};
    for (size_t i = 0; i < sizeof slugs / sizeof slugs[0]; i++)
        CHECK_MSG(kt_items_with(&r, "slug", slugs[i]) == 1, "domain %s", slugs[i]);
    doc = kt_json(&r);
    CHECK_STR(cJSON_GetStringValue(cJSON_GetObjectItem(
                  cJSON_GetArrayItem(cJSON_GetObjectItem(doc, "items"), 0), "slug")),
              "science");
    cJSON_Delete(doc);
    char science[64];
    REQUIRE(kt_domain(&kt_carol, "science", science));
    snprintf(path, sizeof path, "/api/kb/domains/%s", science);
    REQUIRE(kt_call("GET", path, &kt_carol, NULL, NULL, &r) == 0);
    CHECK_INT(kt_num(&r, "question_count"), 200);

    /* Categories: the subcategories of a domain with counts that add up. */
    snprintf(path, sizeof path, "/api/kb/categories?domain_id=%s", science);
    REQUIRE(kt_call("GET", path, &kt_carol, NULL, NULL, &r) == 0);
    CHECK_INT(r.status, 200);
    CHECK_INT(kt_items(&r), 1);
    doc = kt_json(&r);
    cJSON *cat = cJSON_GetArrayItem(cJSON_GetObjectItem(doc, "items"), 0), *s;
    long long sum = 0, physics = -1;
    cJSON_ArrayForEach(s, cJSON_GetObjectItem(cat, "subcategories"))
    {
        long long n = (long long)cJSON_GetNumberValue(cJSON_GetObjectItem(s, "question_count"));
        sum += n;
        if (strcmp(cJSON_GetStringValue(cJSON_GetObjectItem(s, "name")), "physics") == 0)
            physics = n;
    }
    CHECK_INT(sum, 200);
    CHECK_INT(physics, 51);
    cJSON_Delete(doc);
    /* Every domain pages through, each once. */
    char cursor[256] = "";
    int seen = 0, pages = 0;
    do {
        snprintf(path, sizeof path, "/api/kb/categories?limit=5%s%s", cursor[0] ? "&cursor=" : "",
                 cursor);
        REQUIRE(kt_call("GET", path, &kt_carol, NULL, NULL, &r) == 0);
        REQUIRE(r.status == 200);
        seen += kt_items(&r);
        pages++;
        kt_str(&r, "next_cursor", cursor, sizeof cursor);
    } while (cursor[0] && pages < 10);
    CHECK_INT(seen, 12);
    CHECK_INT(pages, 3);
}

static void test_system_content_is_read_only(void)
{
    kt_setup();
    REQUIRE(system_pack[0]);
    char path[256];
    snprintf(path, sizeof path, "/api/kb/packs/%s", system_pack);
    REQUIRE(kt_call("PATCH", path, &kt_alice, NULL, "{\"name\":\"Mine now\"}", &r) == 0);
    kt_problem(&r, 403, "read_only", "a user renames the system pack");
    /* A tenant admin is no platform admin. */
    REQUIRE(kt_call("DELETE", path, &kt_boss, NULL, NULL, &r) == 0);
    kt_problem(&r, 403, "read_only", "a tenant admin deletes the system pack");
    snprintf(path, sizeof path, "/api/kb/questions/d5717bb3-7e1c-4ca8-bd9a-ce0fe5a370d2");
    REQUIRE(kt_call("PATCH", path, &kt_boss, NULL, "{\"difficulty\":1}", &r) == 0);
    kt_problem(&r, 403, "read_only", "a tenant admin edits a system question");
    REQUIRE(kt_call("DELETE", path, &kt_alice, NULL, NULL, &r) == 0);
    kt_problem(&r, 403, "read_only", "a user deletes a system question");
    char science[64];
    REQUIRE(kt_domain(&kt_alice, "science", science));
    snprintf(path, sizeof path, "/api/kb/domains/%s", science);
    REQUIRE(kt_call("PATCH", path, &kt_boss, NULL, "{\"name\":\"Sci\"}", &r) == 0);
    kt_problem(&r, 403, "read_only", "a tenant admin renames a system domain");
    REQUIRE(kt_call("POST", "/api/kb/domains", &kt_alice, NULL,
                    "{\"slug\":\"sys_x\",\"name\":\"X\",\"system\":true}", &r) == 0);
    kt_problem(&r, 403, "read_only", "a user makes a system domain");

    /* A platform admin may: a change and its undoing, seen by another tenant. */
    snprintf(path, sizeof path, "/api/kb/questions/d5717bb3-7e1c-4ca8-bd9a-ce0fe5a370d2");
    REQUIRE(kt_call("PATCH", path, &kt_root, NULL, "{\"hints\":[\"Java\"]}", &r) == 0);
    CHECK_MSG(r.status == 200, "platform admin edits a system question: %d %s", r.status, r.body);
    REQUIRE(kt_call("GET", path, &kt_carol, NULL, NULL, &r) == 0);
    CHECK(strstr(r.body, "\"hints\":[\"Java\"]") != NULL);
    REQUIRE(kt_call("PATCH", path, &kt_root, NULL, "{\"clear\":[\"hints\"]}", &r) == 0);
    CHECK_INT(r.status, 200);
    CHECK(strstr(r.body, "\"hints\":[]") != NULL);
    /* A system question in a pack is in use. */
    REQUIRE(kt_call("DELETE", path, &kt_root, NULL, NULL, &r) == 0);
    kt_problem(&r, 409, "question_in_use", "deleting a question of the system pack");
}

static void test_pack_crud(void)
{
    kt_setup();
    char id[64], path[256], etag[64], v[256];
    /* Every bad field named at once. */
    REQUIRE(kt_call("POST", "/api/kb/packs", &kt_alice, NULL,
                    "{\"name\":\"\",\"question_ids\":[\"nope\"]}", &r) == 0);
    kt_problem(&r, 400, "invalid_argument", "a pack without a name and a bad id");
    CHECK_MSG(kt_has_field(&r, "name") && kt_has_field(&r, "question_ids[0]"), "fields: %s",
              kt_fields(&r));
    REQUIRE(kt_call("POST", "/api/kb/packs", &kt_alice, NULL,
                    "{\"name\":\"x\",\"difficulty_tier\":\"impossible\"}", &r) == 0);
    kt_problem(&r, 400, "invalid_argument", "an unknown tier");
    CHECK_MSG(kt_has_field(&r, "difficulty_tier"), "fields: %s", kt_fields(&r));
    REQUIRE(kt_call("POST", "/api/kb/packs", &kt_alice, NULL, "{\"name\":\"x\",\"colour\":1}",
                    &r) == 0);
    kt_problem(&r, 400, "invalid_argument", "an unknown field");
    CHECK_MSG(kt_has_field(&r, "colour"), "fields: %s", kt_fields(&r));
    REQUIRE(kt_call("POST", "/api/kb/packs", &kt_alice, NULL,
                    "{\"name\":\"x\",\"question_ids\":[\"" UNKNOWN_ID "\"]}", &r) == 0);
    kt_problem(&r, 400, "invalid_argument", "an unknown question");
    CHECK_MSG(kt_has_field(&r, "question_ids[0]"), "fields: %s", kt_fields(&r));

    REQUIRE(kt_call("POST", "/api/kb/packs", &kt_alice, NULL,
                    "{\"name\":\"Alice's pack\",\"description\":\"mine\","
                    "\"difficulty_tier\":\"high_school\"}",
                    &r) == 0);
    CHECK_MSG(r.status == 201, "create: %d %s", r.status, r.body);
    kt_str(&r, "id", id, sizeof id);
    snprintf(path, sizeof path, "/api/kb/packs/%s", id);
    CHECK_STR(gt_header(&r, "location", v, sizeof v), path);
    CHECK_STR(gt_header(&r, "etag", etag, sizeof etag), "\"1\"");
    CHECK_STR(kt_str(&r, "type", v, sizeof v), "custom");
    CHECK_STR(kt_str(&r, "status", v, sizeof v), "active");
    CHECK_STR(kt_str(&r, "owner_id", v, sizeof v), kt_alice.id);
    CHECK_INT(kt_num(&r, "question_count"), 0);

    /* Conditional updates: If-Match, or the body's version. */
    REQUIRE(kt_call("PATCH", path, &kt_alice, "If-Match: \"1\"\r\n", "{\"name\":\"Renamed\"}",
                    &r) == 0);
    CHECK_MSG(r.status == 200, "patch: %d %s", r.status, r.body);
    CHECK_STR(gt_header(&r, "etag", etag, sizeof etag), "\"2\"");
    CHECK_STR(kt_str(&r, "name", v, sizeof v), "Renamed");
    CHECK_STR(kt_str(&r, "description", v, sizeof v), "mine");
    REQUIRE(kt_call("PATCH", path, &kt_alice, "If-Match: \"1\"\r\n", "{\"name\":\"Stale\"}", &r) ==
            0);
    kt_problem(&r, 412, "precondition_failed", "a stale If-Match");
    REQUIRE(kt_call("PATCH", path, &kt_alice, NULL, "{\"name\":\"Stale\",\"version\":1}", &r) == 0);
    kt_problem(&r, 412, "precondition_failed", "a stale body version");
    REQUIRE(kt_call("PATCH", path, &kt_alice, NULL,
                    "{\"description\":\"\",\"status\":\"draft\",\"version\":2}", &r) == 0);
    CHECK_MSG(r.status == 200, "patch with version: %d %s", r.status, r.body);
    CHECK_INT(kt_num(&r, "version"), 3);
    CHECK_STR(kt_str(&r, "description", v, sizeof v), "");
    CHECK_STR(kt_str(&r, "status", v, sizeof v), "draft");
    REQUIRE(kt_call("GET", path, &kt_alice, NULL, NULL, &r) == 0);
    CHECK_STR(kt_str(&r, "name", v, sizeof v), "Renamed");
    REQUIRE(kt_call("PATCH", path, &kt_alice, NULL, "{\"name\":\"\\u0001bad\"}", &r) == 0);
    kt_problem(&r, 400, "invalid_argument", "a control character in a name");
    CHECK(kt_has_field(&r, "name"));

    /* Unknown and malformed ids. */
    REQUIRE(kt_call("GET", "/api/kb/packs/" UNKNOWN_ID, &kt_alice, NULL, NULL, &r) == 0);
    kt_problem(&r, 404, "not_found", "an unknown pack");
    REQUIRE(kt_call("PATCH", "/api/kb/packs/" UNKNOWN_ID, &kt_alice, NULL, "{\"name\":\"x\"}",
                    &r) == 0);
    kt_problem(&r, 404, "not_found", "patching an unknown pack");
    REQUIRE(kt_call("DELETE", "/api/kb/packs/" UNKNOWN_ID, &kt_alice, NULL, NULL, &r) == 0);
    kt_problem(&r, 404, "not_found", "deleting an unknown pack");
    REQUIRE(kt_call("GET", "/api/kb/packs/not-a-uuid", &kt_alice, NULL, NULL, &r) == 0);
    kt_problem(&r, 400, "invalid_argument", "a malformed id");
    CHECK(kt_has_field(&r, "id"));

    REQUIRE(kt_call("DELETE", path, &kt_alice, NULL, NULL, &r) == 0);
    CHECK_MSG(r.status == 204, "delete: %d %s", r.status, r.body);
    REQUIRE(kt_call("GET", path, &kt_alice, NULL, NULL, &r) == 0);
    kt_problem(&r, 404, "not_found", "a deleted pack");
}

static void test_ownership_and_tenants(void)
{
    kt_setup();
    char active[64], draft[64], path[256], science[64], q[64], v[128];
    REQUIRE(kt_pack(&kt_alice, "Alice shares", NULL, active));
    REQUIRE(kt_pack(&kt_alice, "Alice drafts", ",\"status\":\"draft\"", draft));
    REQUIRE(kt_domain(&kt_alice, "science", science));
    REQUIRE(kt_question(&kt_alice, science, "Alice's draft question?", "Yes",
                        ",\"status\":\"draft\"", q));

    /* Bob (same tenant): reads the active pack, not the drafts; changes nothing. */
    snprintf(path, sizeof path, "/api/kb/packs/%s", active);
    REQUIRE(kt_call("GET", path, &kt_bob, NULL, NULL, &r) == 0);
    CHECK_INT(r.status, 200);
    REQUIRE(kt_call("PATCH", path, &kt_bob, NULL, "{\"name\":\"Bob's\"}", &r) == 0);
    kt_problem(&r, 403, "not_owner", "Bob renames Alice's pack");
    REQUIRE(kt_call("DELETE", path, &kt_bob, NULL, NULL, &r) == 0);
    kt_problem(&r, 403, "not_owner", "Bob deletes Alice's pack");
    char body[256];
    snprintf(body, sizeof body, "{\"question_ids\":[\"%s\"]}", q);
    snprintf(path, sizeof path, "/api/kb/packs/%s/questions", active);
    REQUIRE(kt_call("POST", path, &kt_bob, NULL, body, &r) == 0);
    kt_problem(&r, 403, "not_owner", "Bob adds to Alice's pack");
    snprintf(path, sizeof path, "/api/kb/packs/%s", draft);
    REQUIRE(kt_call("GET", path, &kt_bob, NULL, NULL, &r) == 0);
    kt_problem(&r, 404, "not_found", "Bob reads Alice's draft pack");
    snprintf(path, sizeof path, "/api/kb/questions/%s", q);
    REQUIRE(kt_call("GET", path, &kt_bob, NULL, NULL, &r) == 0);
    kt_problem(&r, 404, "not_found", "Bob reads Alice's draft question");
    REQUIRE(kt_call("GET", "/api/kb/packs?limit=200", &kt_bob, NULL, NULL, &r) == 0);
    CHECK_INT(kt_items_with(&r, "id", active), 1);
    CHECK_INT(kt_items_with(&r, "id", draft), 0);
    REQUIRE(kt_call("GET", "/api/kb/packs?limit=200", &kt_alice, NULL, NULL, &r) == 0);
    CHECK_INT(kt_items_with(&r, "id", draft), 1);
    REQUIRE(kt_call("GET", "/api/kb/packs?status=draft", &kt_bob, NULL, NULL, &r) == 0);
    CHECK_INT(kt_items_with(&r, "id", draft), 0);
    /* The tenant's admin (the platform admin is the default tenant's too) sees and changes
     * them. */
    REQUIRE(kt_call("GET", path, &kt_root, NULL, NULL, &r) == 0);
    CHECK_INT(r.status, 200);
    REQUIRE(kt_call("PATCH", path, &kt_root, NULL, "{\"tags\":[\"checked\"]}", &r) == 0);
    CHECK_MSG(r.status == 200, "admin edits Alice's question: %d %s", r.status, r.body);
    CHECK_STR(kt_str(&r, "owner_id", v, sizeof v), kt_alice.id);

    /* Tenant B: sees the system pack and none of tenant A's content; A's ids are unknown. */
    REQUIRE(kt_call("GET", "/api/kb/packs?limit=200", &kt_carol, NULL, NULL, &r) == 0);
    CHECK_INT(kt_items_with(&r, "id", active), 0);
    CHECK_INT(kt_items_with(&r, "id", system_pack), 1);
    snprintf(path, sizeof path, "/api/kb/packs/%s", active);
    REQUIRE(kt_call("GET", path, &kt_carol, NULL, NULL, &r) == 0);
    kt_problem(&r, 404, "not_found", "tenant B reads A's pack");
    REQUIRE(kt_call("PATCH", path, &kt_boss, NULL, "{\"name\":\"B's now\"}", &r) == 0);
    kt_problem(&r, 404, "not_found", "tenant B's admin renames A's pack");
    REQUIRE(kt_call("DELETE", path, &kt_boss, NULL, NULL, &r) == 0);
    kt_problem(&r, 404, "not_found", "tenant B's admin deletes A's pack");
    snprintf(path, sizeof path, "/api/kb/questions/%s", q);
    REQUIRE(kt_call("GET", path, &kt_boss, NULL, NULL, &r) == 0);
    kt_problem(&r, 404, "not_found", "tenant B's admin reads A's question");
    /* Nor can B use A's question or domain in its own content. */
    char alice_domain[64], bpack[64];
    REQUIRE(kt_call("POST", "/api/kb/domains", &kt_alice, NULL,
                    "{\"slug\":\"alice_only\",\"name\":\"Alice only\"}", &r) == 0);
    CHECK_MSG(r.status == 201, "a tenant domain: %d %s", r.status, r.body);
    kt_str(&r, "id", alice_domain, sizeof alice_domain);
    snprintf(body, sizeof body,
             "{\"domain_id\":\"%s\",\"question_text\":\"q\",\"answer_text\":\"a\"}", alice_domain);
    REQUIRE(kt_call("POST", "/api/kb/questions", &kt_carol, NULL, body, &r) == 0);
    kt_problem(&r, 400, "invalid_argument", "tenant B uses A's domain");
    CHECK(kt_has_field(&r, "domain_id"));
    REQUIRE(kt_call("GET", "/api/kb/domains?limit=200", &kt_carol, NULL, NULL, &r) == 0);
    CHECK_INT(kt_items_with(&r, "slug", "alice_only"), 0);
    REQUIRE(kt_pack(&kt_carol, "Carol's", NULL, bpack));
    snprintf(path, sizeof path, "/api/kb/packs/%s/questions", bpack);
    REQUIRE(kt_call("POST", path, &kt_carol, NULL, "{\"question_ids\":[\"" UNKNOWN_ID "\"]}", &r) ==
            0);
    kt_problem(&r, 400, "invalid_argument", "an unknown question into a pack");
    snprintf(body, sizeof body,
             "{\"question_ids\":[\"d5717bb3-7e1c-4ca8-bd9a-ce0fe5a370d2\","
             "\"%s\"]}",
             q);
    REQUIRE(kt_call("POST", path, &kt_carol, NULL, body, &r) == 0);
    kt_problem(&r, 400, "invalid_argument", "tenant B adds A's question");
    CHECK_MSG(kt_has_field(&r, "question_ids[1]") && !kt_has_field(&r, "question_ids[0]"),
              "fields: %s", kt_fields(&r));
    /* B's admin may change B's user's pack. */
    snprintf(path, sizeof path, "/api/kb/packs/%s", bpack);
    REQUIRE(kt_call("PATCH", path, &kt_boss, NULL, "{\"name\":\"Checked by the admin\"}", &r) == 0);
    CHECK_INT(r.status, 200);
}

static void test_questions_and_domains(void)
{
    kt_setup();
    char dom[64], q[64], pack[64], path[256], v[256], etag[64];
    /* Domains: validation, a slug taken by the system, create, update, delete in use. */
    REQUIRE(kt_call("POST", "/api/kb/domains", &kt_bob, NULL,
                    "{\"slug\":\"Bad Slug\",\"name\":\"\",\"weight\":5000,"
                    "\"subcategories\":[\"\"]}",
                    &r) == 0);
    kt_problem(&r, 400, "invalid_argument", "a bad domain");
    CHECK_MSG(kt_has_field(&r, "slug") && kt_has_field(&r, "name") && kt_has_field(&r, "weight") &&
                  kt_has_field(&r, "subcategories[0]"),
              "fields: %s", kt_fields(&r));
    REQUIRE(kt_call("POST", "/api/kb/domains", &kt_bob, NULL,
                    "{\"slug\":\"science\",\"name\":\"Mine\"}", &r) == 0);
    kt_problem(&r, 409, "slug_exists", "a system domain's slug");
    REQUIRE(kt_call("POST", "/api/kb/domains", &kt_bob, NULL,
                    "{\"slug\":\"bobs_domain\",\"name\":\"Bob's\",\"icon\":\"b\",\"weight\":7,"
                    "\"subcategories\":[\"alpha\",\"beta\"]}",
                    &r) == 0);
    CHECK_MSG(r.status == 201, "domain: %d %s", r.status, r.body);
    kt_str(&r, "id", dom, sizeof dom);
    snprintf(path, sizeof path, "/api/kb/domains/%s", dom);
    CHECK_STR(gt_header(&r, "location", v, sizeof v), path);
    REQUIRE(kt_call("PATCH", path, &kt_bob, "If-Match: \"1\"\r\n",
                    "{\"name\":\"Bob's domain\",\"weight\":0,\"subcategories\":[\"alpha\","
                    "\"gamma\"]}",
                    &r) == 0);
    CHECK_MSG(r.status == 200, "domain patch: %d %s", r.status, r.body);
    CHECK_STR(gt_header(&r, "etag", etag, sizeof etag), "\"2\"");
    CHECK_INT(kt_num(&r, "weight"), 0);
    CHECK(strstr(r.body, "\"subcategories\":[\"alpha\",\"gamma\"]") != NULL);
    REQUIRE(kt_call("PATCH", path, &kt_bob, "If-Match: \"1\"\r\n", "{\"name\":\"x\"}", &r) == 0);
    kt_problem(&r, 412, "precondition_failed", "a stale domain version");
    REQUIRE(kt_call("PATCH", path, &kt_alice, NULL, "{\"name\":\"x\"}", &r) == 0);
    kt_problem(&r, 403, "not_owner", "another user's domain");

    /* Questions: every bad field at once. */
    REQUIRE(kt_call("POST", "/api/kb/questions", &kt_bob, NULL,
                    "{\"domain_id\":\"" UNKNOWN_ID "\",\"question_text\":\"\",\"difficulty\":9,"
                    "\"tags\":[\"\"],\"hints\":[\"ok\",\"\"]}",
                    &r) == 0);
    kt_problem(&r, 400, "invalid_argument", "a bad question");
    CHECK_MSG(kt_has_field(&r, "domain_id") && kt_has_field(&r, "question_text") &&
                  kt_has_field(&r, "answer_text") && kt_has_field(&r, "difficulty") &&
                  kt_has_field(&r, "tags[0]") && kt_has_field(&r, "hints[1]"),
              "fields: %s", kt_fields(&r));
    REQUIRE(kt_call("POST", "/api/kb/questions", &kt_bob, NULL,
                    "{\"domain_id\":\"x\",\"question_text\":\"a\",\"answer_text\":\"b\","
                    "\"question_type\":\"essay\"}",
                    &r) == 0);
    kt_problem(&r, 400, "invalid_argument", "an unknown question type");
    CHECK(kt_has_field(&r, "question_type"));

    char body[1024];
    snprintf(body, sizeof body,
             "{\"domain_id\":\"%s\",\"subcategory\":\"alpha\",\"question_text\":\"What is the "
             "first letter?\",\"answer_text\":\"Alpha\",\"acceptable_answers\":[\"A\"],"
             "\"difficulty\":2,\"question_type\":\"bonus\",\"question_source\":\"Bob\","
             "\"source_attribution\":\"CC0\",\"hints\":[\"Greek\"],\"explanation\":\"It "
             "starts the alphabet.\",\"tags\":[\"letters\"],\"mcq_options\":[\"Alpha\","
             "\"Omega\"]}",
             dom);
    REQUIRE(kt_call("POST", "/api/kb/questions", &kt_bob, NULL, body, &r) == 0);
    CHECK_MSG(r.status == 201, "question: %d %s", r.status, r.body);
    kt_str(&r, "id", q, sizeof q);
    snprintf(path, sizeof path, "/api/kb/questions/%s", q);
    CHECK_STR(gt_header(&r, "location", v, sizeof v), path);
    CHECK_STR(kt_str(&r, "question_type", v, sizeof v), "bonus");
    CHECK_STR(kt_str(&r, "domain_slug", v, sizeof v), "bobs_domain");
    CHECK_INT(kt_num(&r, "difficulty"), 2);
    CHECK(strstr(r.body, "\"mcq_options\":[\"Alpha\",\"Omega\"]") != NULL);

    REQUIRE(kt_call("PATCH", path, &kt_bob, "If-Match: \"1\"\r\n",
                    "{\"answer_text\":\"alpha\",\"clear\":[\"hints\",\"mcq_options\"],"
                    "\"explanation\":\"\",\"has_audio\":true}",
                    &r) == 0);
    CHECK_MSG(r.status == 200, "question patch: %d %s", r.status, r.body);
    CHECK_INT(kt_num(&r, "version"), 2);
    CHECK(strstr(r.body, "\"hints\":[]") != NULL && strstr(r.body, "\"mcq_options\":[]") != NULL);
    CHECK(strstr(r.body, "\"tags\":[\"letters\"]") != NULL);
    CHECK_STR(kt_str(&r, "explanation", v, sizeof v), "");
    CHECK(strstr(r.body, "\"has_audio\":true") != NULL);
    REQUIRE(kt_call("PATCH", path, &kt_bob, "If-Match: \"1\"\r\n", "{\"difficulty\":5}", &r) == 0);
    kt_problem(&r, 412, "precondition_failed", "a stale question version");
    REQUIRE(kt_call("PATCH", path, &kt_bob, NULL, "{\"clear\":[\"answer_text\"]}", &r) == 0);
    kt_problem(&r, 400, "invalid_argument", "clearing what cannot be");
    CHECK(kt_has_field(&r, "clear[0]"));
    REQUIRE(kt_call("PATCH", path, &kt_alice, NULL, "{\"difficulty\":5}", &r) == 0);
    kt_problem(&r, 403, "not_owner", "Alice edits Bob's question");
    REQUIRE(kt_call("DELETE", path, &kt_alice, NULL, NULL, &r) == 0);
    kt_problem(&r, 403, "not_owner", "Alice deletes Bob's question");
    REQUIRE(kt_call("GET", "/api/kb/questions/" UNKNOWN_ID, &kt_bob, NULL, NULL, &r) == 0);
    kt_problem(&r, 404, "not_found", "an unknown question");
    REQUIRE(kt_call("DELETE", "/api/kb/questions/" UNKNOWN_ID, &kt_bob, NULL, NULL, &r) == 0);
    kt_problem(&r, 404, "not_found", "deleting an unknown question");

    /* In use: the domain by the question, the question by a pack. */
    snprintf(body, sizeof body, ",\"question_ids\":[\"%s\"]", q);
    REQUIRE(kt_pack(&kt_bob, "Bob's letters", body, pack));
    char dpath[256];
    snprintf(dpath, sizeof dpath, "/api/kb/domains/%s", dom);
    REQUIRE(kt_call("DELETE", dpath, &kt_bob, NULL, NULL, &r) == 0);
    kt_problem(&r, 409, "domain_in_use", "deleting a domain with questions");
    REQUIRE(kt_call("DELETE", path, &kt_bob, NULL, NULL, &r) == 0);
    kt_problem(&r, 409, "question_in_use", "deleting a question in a pack");
    char ppath[256];
    snprintf(ppath, sizeof ppath, "/api/kb/packs/%s/questions/%s", pack, q);
    REQUIRE(kt_call("DELETE", ppath, &kt_bob, NULL, NULL, &r) == 0);
    CHECK_MSG(r.status == 204, "out of the pack: %d %s", r.status, r.body);
    REQUIRE(kt_call("DELETE", ppath, &kt_bob, NULL, NULL, &r) == 0);
    kt_problem(&r, 404, "not_found", "taking out a question not in the pack");
    REQUIRE(kt_call("DELETE", path, &kt_bob, NULL, NULL, &r) == 0);
    CHECK_MSG(r.status == 204, "question delete: %d %s", r.status, r.body);
    REQUIRE(kt_call("DELETE", dpath, &kt_bob, NULL, NULL, &r) == 0);
    CHECK_MSG(r.status == 204, "domain delete: %d %s", r.status, r.body);
    REQUIRE(kt_call("GET", dpath, &kt_bob, NULL, NULL, &r) == 0);
    kt_problem(&r, 404, "not_found", "a deleted domain");
}

/* The ids of a list page into ids (appended), the next cursor into cursor. */
static int collect(const gt_response_t *res, char ids[][64], int n, int cap, char *cursor,
                   size_t size)
{
    cJSON *doc = kt_json(res), *e;
    cJSON_ArrayForEach(e, cJSON_GetObjectItem(doc, "items"))
    {
        if (n < cap)
            snprintf(ids[n++], 64, "%s", cJSON_GetStringValue(cJSON_GetObjectItem(e, "id")));
    }
    const char *c = cJSON_GetStringValue(cJSON_GetObjectItem(doc, "next_cursor"));
    snprintf(cursor, size, "%s", c ? c : "");
    cJSON_Delete(doc);
    return n;
}

static int count_of(char ids[][64], int n, const char *id)
{
    int k = 0;
    for (int i = 0; i < n; i++)
        k += strcmp(ids[i], id) == 0;
    return k;
}

static void test_filters(void)
{
    kt_setup();
    char dom[64], ids[8][64], path[512];
    REQUIRE(kt_call("POST", "/api/kb/domains", &kt_alice, NULL,
                    "{\"slug\":\"filters\",\"name\":\"Filters\"}", &r) == 0);
    REQUIRE(r.status == 201);
    kt_str(&r, "id", dom, sizeof dom);
    REQUIRE(
        kt_question(&kt_alice, dom, "f0", "a", ",\"difficulty\":1,\"subcategory\":\"s1\"", ids[0]));
    REQUIRE(kt_question(&kt_alice, dom, "f1", "a",
                        ",\"difficulty\":2,\"subcategory\":\"s1\",\"question_type\":\"bonus\"",
                        ids[1]));
    REQUIRE(kt_question(&kt_alice, dom, "f2", "a",
                        ",\"difficulty\":3,\"subcategory\":\"s2\",\"question_type\":\"pyramid\"",
                        ids[2]));
    REQUIRE(
        kt_question(&kt_alice, dom, "f3", "a", ",\"difficulty\":3,\"status\":\"draft\"", ids[3]));
    REQUIRE(kt_question(&kt_alice, dom, "f4", "a", ",\"difficulty\":5,\"status\":\"archived\"",
                        ids[4]));
    REQUIRE(kt_question(&kt_bob, dom, "f5 lightning round", "a",
                        ",\"difficulty\":4,\"question_type\":\"lightning\"", ids[5]));
    snprintf(path, sizeof path, "/api/kb/questions/%s", ids[2]);
    REQUIRE(kt_call("PATCH", path, &kt_alice, NULL, "{\"has_audio\":true}", &r) == 0);
    REQUIRE(r.status == 200);
    struct {
        const kt_user_t *u;
        const char *query;
        int want;
        const char *first;
    } cases[] = {
        {&kt_alice, "", 5, ids[5]},                 /* active and own drafts, newest first */
        {&kt_bob, "", 4, ids[5]},                   /* not Alice's draft */
        {&kt_alice, "&status=archived", 1, ids[4]}, /* archived only when asked */
        {&kt_alice, "&status=draft", 1, ids[3]},
        {&kt_bob, "&status=draft", 0, NULL},
        {&kt_alice, "&subcategory=s1", 2, ids[1]},
        {&kt_alice, "&difficulty=3", 2, ids[3]},
        {&kt_alice, "&difficulty=1&difficulty=2", 2, ids[1]},
        {&kt_alice, "&question_type=bonus", 1, ids[1]},
        {&kt_alice, "&question_type=toss_up", 2, ids[3]},
        {&kt_alice, "&has_audio=true", 1, ids[2]},
        {&kt_alice, "&has_audio=false", 4, ids[5]},
        {&kt_alice, "&mine=true", 4, ids[3]},
        {&kt_alice, "&q=lightning", 1, ids[5]},
        {&kt_alice, "&q=lightning&question_type=bonus", 0, NULL},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        snprintf(path, sizeof path, "/api/kb/questions?domain_id=%s%s", dom, cases[i].query);
        REQUIRE(kt_call("GET", path, cases[i].u, NULL, NULL, &r) == 0);
        CHECK_MSG(r.status == 200 && kt_items(&r) == cases[i].want, "%s: %d items (want %d) %s",
                  cases[i].query, kt_items(&r), cases[i].want, r.body);
        if (cases[i].first != NULL) {
            char got[8][64], cur[8];
            collect(&r, got, 0, 8, cur, sizeof cur);
            CHECK_MSG(strcmp(got[0], cases[i].first) == 0, "%s: first %s", cases[i].query, got[0]);
        }
    }
    /* Bad filters name themselves. */
    REQUIRE(kt_call("GET", "/api/kb/questions?difficulty=7&domain_id=x&limit=500", &kt_alice, NULL,
                    NULL, &r) == 0);
    kt_problem(&r, 400, "invalid_argument", "bad filters");
    CHECK_MSG(kt_has_field(&r, "difficulty[0]") && kt_has_field(&r, "domain_id") &&
                  kt_has_field(&r, "limit"),
              "fields: %s", kt_fields(&r));
    REQUIRE(kt_call("GET", "/api/kb/questions?cursor=bm9wZQ", &kt_alice, NULL, NULL, &r) == 0);
    kt_problem(&r, 400, "invalid_argument", "a cursor of nothing");
    CHECK(kt_has_field(&r, "cursor"));

    /* Pack filters: type, status, domain, q, mine. */
    char p1[64], p2[64], body[256];
    snprintf(body, sizeof body, ",\"question_ids\":[\"%s\"],\"description\":\"zebra crossing\"",
             ids[1]);
    REQUIRE(kt_pack(&kt_alice, "Filter pack one", body, p1));
    REQUIRE(kt_pack(&kt_alice, "Filter pack two", ",\"status\":\"archived\"", p2));
    snprintf(path, sizeof path, "/api/kb/packs?domain_id=%s", dom);
    REQUIRE(kt_call("GET", path, &kt_alice, NULL, NULL, &r) == 0);
    CHECK_INT(kt_items(&r), 1);
    CHECK_INT(kt_items_with(&r, "id", p1), 1);
    REQUIRE(kt_call("GET", "/api/kb/packs?q=zebra", &kt_bob, NULL, NULL, &r) == 0);
    CHECK_INT(kt_items_with(&r, "id", p1), 1);
    REQUIRE(kt_call("GET", "/api/kb/packs?status=archived&mine=true", &kt_alice, NULL, NULL, &r) ==
            0);
    CHECK_INT(kt_items(&r), 1);
    CHECK_INT(kt_items_with(&r, "id", p2), 1);
    REQUIRE(kt_call("GET", "/api/kb/packs?mine=true&limit=200", &kt_bob, NULL, NULL, &r) == 0);
    CHECK_INT(kt_items_with(&r, "id", p1), 0);
    REQUIRE(kt_call("GET", "/api/kb/packs?type=custom&limit=200", &kt_alice, NULL, NULL, &r) == 0);
    CHECK_INT(kt_items_with(&r, "id", p1), 1);
    CHECK_INT(kt_items_with(&r, "id", system_pack), 0);
    REQUIRE(kt_call("GET", "/api/kb/domains?q=filt", &kt_alice, NULL, NULL, &r) == 0);
    CHECK_INT(kt_items(&r), 1);
}

/* Pages through `base` (limit 7), making one more row of the list after each page with
 * `insert`; every row that was there at the start is seen exactly once. */
static void page_while_inserting(const char *base, char before[][64], int nbefore,
                                 bool (*insert)(int i), const char *what)
{
    static char seen[400][64];
    char cursor[256] = "", path[768];
    int n = 0, pages = 0;
    do {
        snprintf(path, sizeof path, "%s%slimit=7%s%s", base, strchr(base, '?') ? "&" : "?",
                 cursor[0] ? "&cursor=" : "", cursor);
        REQUIRE(kt_call("GET", path, &kt_alice, NULL, NULL, &r) == 0);
        CHECK_MSG(r.status == 200, "%s: %d %s", what, r.status, r.body);
        if (r.status != 200)
            return;
        n = collect(&r, seen, n, 400, cursor, sizeof cursor);
        REQUIRE(insert(pages));
        pages++;
    } while (cursor[0] && pages < 60);
    for (int i = 0; i < nbefore; i++)
        CHECK_MSG(count_of(seen, n, before[i]) == 1, "%s: %s seen %d times", what, before[i],
                  count_of(seen, n, before[i]));
    for (int i = 0; i < n; i++)
        CHECK_MSG(count_of(seen, n, seen[i]) == 1, "%s: %s repeated", what, seen[i]);
    printf("  %s: %d rows in %d pages, %d at the start, a row inserted after each page\n", what, n,
           pages, nbefore);
}

static char page_domain[64];
static bool insert_question(int i)
{
    char text[64], id[64];
    snprintf(text, sizeof text, "pagination marmot %d inserted", i);
    return kt_question(&kt_alice, page_domain, text, "a", NULL, id);
}

static bool insert_pack(int i)
{
    char name[64], id[64];
    snprintf(name, sizeof name, "Paging pack inserted %d", i);
    return kt_pack(&kt_alice, name, NULL, id);
}

static char page_pack[64];
static bool insert_member(int i)
{
    char id[64], body[128], path[256];
    if (!kt_question(&kt_alice, page_domain, "pagination member added", "a", NULL, id))
        return false;
    snprintf(body, sizeof body, "{\"question_ids\":[\"%s\"]}", id);
    snprintf(path, sizeof path, "/api/kb/packs/%s/questions", page_pack);
    gt_response_t *res = malloc(sizeof *res);
    bool ok = res && kt_call("POST", path, &kt_alice, NULL, body, res) == 0 && res->status == 200;
    free(res);
    (void)i;
    return ok;
}

static void test_pagination(void)
{
    kt_setup();
    static char qs[30][64], packs[30][64];
    REQUIRE(kt_call("POST", "/api/kb/domains", &kt_alice, NULL,
                    "{\"slug\":\"paging\",\"name\":\"Paging\"}", &r) == 0);
    REQUIRE(r.status == 201);
    kt_str(&r, "id", page_domain, sizeof page_domain);
    for (int i = 0; i < 30; i++) {
        char text[96];
        /* Ranks differ (how often the word comes) and tie (same text twice). */
        snprintf(text, sizeof text, "pagination marmot %s %d", i % 3 == 0 ? "marmot marmot" : "",
                 i / 2);
        REQUIRE(kt_question(&kt_alice, page_domain, text, "a", NULL, qs[i]));
    }
    char base[256];
    snprintf(base, sizeof base, "/api/kb/questions?domain_id=%s", page_domain);
    page_while_inserting(base, qs, 30, insert_question, "questions, newest first");
    snprintf(base, sizeof base, "/api/kb/questions?domain_id=%s&q=marmot", page_domain);
    page_while_inserting(base, qs, 30, insert_question, "questions ranked by q");
    page_while_inserting("/api/kb/search?q=pagination+marmot&kind=question", qs, 30,
                         insert_question, "search");
    for (int i = 0; i < 30; i++) {
        char name[64];
        snprintf(name, sizeof name, "Paging pack %d", i);
        REQUIRE(kt_pack(&kt_alice, name, NULL, packs[i]));
    }
    page_while_inserting("/api/kb/packs?mine=true", packs, 30, insert_pack, "packs");
    page_while_inserting("/api/kb/packs?q=paging", packs, 30, insert_pack, "packs ranked by q");
    /* A pack's questions in order, while more are appended. */
    char body[4096] = ",\"question_ids\":[";
    for (int i = 0; i < 30; i++)
        snprintf(body + strlen(body), sizeof body - strlen(body), "%s\"%s\"", i ? "," : "", qs[i]);
    strcat(body, "]");
    REQUIRE(kt_pack(&kt_alice, "Paging members", body, page_pack));
    char path[256];
    snprintf(path, sizeof path, "/api/kb/packs/%s/questions", page_pack);
    page_while_inserting(path, qs, 30, insert_member, "a pack's questions");
    snprintf(path, sizeof path, "/api/kb/packs/%s/questions?limit=30", page_pack);
    REQUIRE(kt_call("GET", path, &kt_alice, NULL, NULL, &r) == 0);
    char got[30][64], cursor[256];
    int n = collect(&r, got, 0, 30, cursor, sizeof cursor);
    CHECK_INT(n, 30);
    for (int i = 0; i < n; i++)
        CHECK_MSG(strcmp(got[i], qs[i]) == 0, "pack order at %d", i);
}

static void test_finish(void)
{
    kt_finish();
}

TEST_MAIN(test_seed_and_system_content, test_system_content_is_read_only, test_pack_crud,
          test_ownership_and_tenants, test_questions_and_domains, test_filters, test_pagination,
          test_finish)
