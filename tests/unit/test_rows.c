/*
 * mentis/rows.h: query results onto messages by column name. The results are built with
 * libpq's own constructors (no server): column names and text values as PostgreSQL sends
 * them.
 */
#include <stdint.h>
#include <string.h>

#include <libpq-fe.h>

#include "check.h"
#include "mentis/rows.h"
#include "mentis/v1/curriculum.pb-c.h"
#include "mentis/v1/kb.pb-c.h"

/* A result of one row: names[i] = values[i] (NULL: SQL NULL), all columns text. */
static PGresult *one_row(const char *const *names, const char *const *values, int n)
{
    PGresult *res = PQmakeEmptyPGresult(NULL, PGRES_TUPLES_OK);
    PGresAttDesc attrs[16];
    memset(attrs, 0, sizeof attrs);
    for (int i = 0; i < n; i++) {
        attrs[i].name = (char *)(uintptr_t)names[i]; /* libpq copies it */
        attrs[i].typid = 25;                         /* text */
        attrs[i].typlen = -1;
        attrs[i].atttypmod = -1;
    }
    if (res == NULL || !PQsetResultAttrs(res, n, attrs))
        return NULL;
    for (int i = 0; i < n; i++)
        if (!PQsetvalue(res, 0, i, (char *)(uintptr_t)values[i],
                        values[i] ? (int)strlen(values[i]) : -1))
            return NULL;
    return res;
}

static mentis_pool_t *new_pool(void)
{
    mentis_pool_t *pool = NULL;
    return mentis_pool_create(4096, 1 << 20, &pool) == MENTIS_OK ? pool : NULL;
}

/* Every kind of field a column can fill, and what is skipped. */
static void test_each_type(void)
{
    mentis_pool_t *pool = new_pool();
    REQUIRE(pool != NULL);
    const char *names[] = {"id",
                           "type",
                           "difficulty_tier",
                           "status",
                           "version",
                           "is_system",
                           "audio_coverage_percent",
                           "owner_id",
                           "source_pack_ids",
                           "created_at",
                           "not_a_field"};
    const char *values[] = {
        "p1", "custom",          "middle_school", "archived", "9007199254740993", "t", "37.5",
        NULL, "[\"a\",\"b\",7]", "1700000000123", "zzz"};
    PGresult *res = one_row(names, values, 11);
    REQUIRE(res != NULL);
    Mentis__V1__Kb__Pack p;
    mentis__v1__kb__pack__init(&p);
    CHECK_INT(mentis_row_read(pool, res, 0, &p.base), MENTIS_OK);
    CHECK_STR(p.id, "p1");
    CHECK_INT(p.type, MENTIS__V1__KB__PACK_TYPE__PACK_TYPE_CUSTOM);
    CHECK_INT(p.difficulty_tier, MENTIS__V1__KB__DIFFICULTY_TIER__DIFFICULTY_TIER_MIDDLE_SCHOOL);
    CHECK_INT(p.status, MENTIS__V1__KB__STATUS__STATUS_ARCHIVED);
    CHECK(p.version == 9007199254740993LL);
    CHECK(p.is_system);
    CHECK(p.audio_coverage_percent == 37.5);
    CHECK_STR(p.owner_id, "");         /* NULL: the default */
    REQUIRE(p.n_source_pack_ids == 2); /* the array's strings only */
    CHECK_STR(p.source_pack_ids[0], "a");
    CHECK_STR(p.source_pack_ids[1], "b");
    REQUIRE(p.created_at != NULL);
    CHECK(p.created_at->seconds == 1700000000 && p.created_at->nanos == 123000000);
    CHECK(p.updated_at == NULL);
    PQclear(res);

    /* A JsonValue keeps its text; JSON that is not an array lists nothing. */
    const char *snames[] = {"id", "index", "checkpoint", "glossary_refs"};
    const char *svalues[] = {"s1", "3", "{\"q\": [1, 2]}", "\"one\""};
    res = one_row(snames, svalues, 4);
    REQUIRE(res != NULL);
    void **items = NULL;
    size_t n = 9;
    CHECK_INT(mentis_rows_read(pool, res, &mentis__v1__curriculum__segment__descriptor, &items, &n),
              MENTIS_OK);
    REQUIRE(n == 1);
    Mentis__V1__Curriculum__Segment *s = items[0];
    CHECK_STR(s->id, "s1");
    CHECK_INT(s->index, 3);
    REQUIRE(s->checkpoint != NULL);
    CHECK_STR(s->checkpoint->json, "{\"q\": [1, 2]}");
    CHECK(s->n_glossary_refs == 0);
    CHECK(s->speaking_notes == NULL);
    PQclear(res);
    mentis_pool_destroy(pool);
}

/* A query that disagrees with its message is refused, naming the column. */
static void test_mismatches(void)
{
    mentis_pool_t *pool = new_pool();
    REQUIRE(pool != NULL);
    const char *bad_enum[] = {"status"}, *bad_enum_v[] = {"lost"};
    PGresult *res = one_row(bad_enum, bad_enum_v, 1);
    Mentis__V1__Kb__Pack p;
    mentis__v1__kb__pack__init(&p);
    CHECK_INT(mentis_row_read(pool, res, 0, &p.base), MENTIS_ERR_INTERNAL);
    CHECK(strstr(mentis_err_msg(), "status") != NULL);
    PQclear(res);
    /* A name that is only the end of a value's name after no '_' is no match. */
    const char *part[] = {"type"}, *part_v[] = {"ustom"};
    res = one_row(part, part_v, 1);
    CHECK_INT(mentis_row_read(pool, res, 0, &p.base), MENTIS_ERR_INTERNAL);
    PQclear(res);
    const char *msgs[] = {"domain_counts"}, *msgs_v[] = {"[]"};
    res = one_row(msgs, msgs_v, 1);
    CHECK_INT(mentis_row_read(pool, res, 0, &p.base), MENTIS_ERR_INTERNAL);
    CHECK(strstr(mentis_err_msg(), "domain_counts") != NULL);
    PQclear(res);
    /* No rows: an empty array, not NULL. */
    res = PQmakeEmptyPGresult(NULL, PGRES_TUPLES_OK);
    void **items = NULL;
    size_t n = 5;
    CHECK_INT(mentis_rows_read(pool, res, &mentis__v1__kb__pack__descriptor, &items, &n),
              MENTIS_OK);
    CHECK(items != NULL && n == 0);
    PQclear(res);
    mentis_pool_destroy(pool);
}

TEST_MAIN(test_each_type, test_mismatches)
