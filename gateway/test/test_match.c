/* The route matcher: templates, parameters, precedence, 404/405/OPTIONS, text checks. */
#include <string.h>

#include "check.h"
#include "gateway.h"

static void handle(gw_request_t *req)
{
    (void)req;
}

static const gw_route_t table[] = {
    {.method = "GET", .path = "/healthz", .name = "a", .handler = handle},
    {.method = "GET", .path = "/api/kb/packs/{id}", .name = "b", .handler = handle},
    {.method = "PATCH", .path = "/api/kb/packs/{id}", .name = "c", .handler = handle},
    {.method = "POST", .path = "/api/kb/packs/bundle", .name = "d", .handler = handle},
    {.method = "GET", .path = "/api/kb/packs/bundle", .name = "e", .handler = handle},
    {.method = "DELETE",
     .path = "/api/kb/packs/{id}/questions/{question_id}",
     .name = "f",
     .handler = handle},
};
#define N (sizeof table / sizeof table[0])

/* The matcher's tests bring their own table; the binary's is not linked here. */
const gw_route_t gw_routes[] = {{.method = "GET", .path = "/x", .name = "x", .handler = handle}};
const size_t gw_route_count = 1;

static gw_match_t match(const char *method, const char *path, const gw_route_t **r, gw_params_t *p,
                        char *allow)
{
    return gw_route_match_in(table, N, method, path, r, p, allow, 160);
}

static void test_literal_and_head(void)
{
    const gw_route_t *r = NULL;
    gw_params_t p;
    char allow[160];
    CHECK_INT(match("GET", "/healthz", &r, &p, allow), GW_MATCH_FOUND);
    CHECK_STR(r->name, "a");
    CHECK_INT(p.count, 0);
    CHECK_INT(match("HEAD", "/healthz", &r, &p, allow), GW_MATCH_FOUND);
    /* Trailing slash, doubled slash, empty path: nothing. */
    CHECK_INT(match("GET", "/healthz/", &r, &p, allow), GW_MATCH_NOT_FOUND);
    CHECK_INT(match("GET", "//healthz", &r, &p, allow), GW_MATCH_NOT_FOUND);
    CHECK_INT(match("GET", "", &r, &p, allow), GW_MATCH_NOT_FOUND);
    CHECK_INT(match("GET", "/", &r, &p, allow), GW_MATCH_NOT_FOUND);
    CHECK_INT(match("GET", "/healthzz", &r, &p, allow), GW_MATCH_NOT_FOUND);
}

static void test_params(void)
{
    const gw_route_t *r = NULL;
    gw_params_t p;
    char allow[160];
    CHECK_INT(match("DELETE", "/api/kb/packs/p1/questions/q-9", &r, &p, allow), GW_MATCH_FOUND);
    CHECK_STR(r->name, "f");
    REQUIRE(p.count == 2);
    CHECK(p.items[0].name_len == 2 && memcmp(p.items[0].name, "id", 2) == 0);
    CHECK(p.items[0].value_len == 2 && memcmp(p.items[0].value, "p1", 2) == 0);
    CHECK(p.items[1].name_len == 11 && memcmp(p.items[1].name, "question_id", 11) == 0);
    CHECK(p.items[1].value_len == 3 && memcmp(p.items[1].value, "q-9", 3) == 0);
    /* A parameter is one whole, non-empty segment. */
    CHECK_INT(match("GET", "/api/kb/packs/", &r, &p, allow), GW_MATCH_NOT_FOUND);
    CHECK_INT(match("GET", "/api/kb/packs/a/b", &r, &p, allow), GW_MATCH_NOT_FOUND);
    CHECK_INT(match("DELETE", "/api/kb/packs/p1/questions/", &r, &p, allow), GW_MATCH_NOT_FOUND);
    /* UTF-8 is fine; control bytes and broken UTF-8 are refused with the parameter named. */
    CHECK_INT(match("GET", "/api/kb/packs/\xc3\xa9t\xc3\xa9", &r, &p, allow), GW_MATCH_FOUND);
    CHECK_INT(match("GET", "/api/kb/packs/a\x01", &r, &p, allow), GW_MATCH_BAD_PARAM);
    CHECK(strstr(allow, "id") != NULL);
    CHECK_INT(match("GET", "/api/kb/packs/\xff", &r, &p, allow), GW_MATCH_BAD_PARAM);
    CHECK_INT(match("GET", "/api/kb/packs/\xc0\xaf", &r, &p, allow), GW_MATCH_BAD_PARAM);
    CHECK_INT(match("GET", "/api/kb/packs/\xed\xa0\x80", &r, &p, allow), GW_MATCH_BAD_PARAM);
    CHECK_INT(match("GET", "/api/kb/packs/\xe2\x82", &r, &p, allow), GW_MATCH_BAD_PARAM);
}

static void test_literal_beats_param(void)
{
    const gw_route_t *r = NULL;
    gw_params_t p;
    char allow[160];
    CHECK_INT(match("POST", "/api/kb/packs/bundle", &r, &p, allow), GW_MATCH_FOUND);
    CHECK_STR(r->name, "d");
    CHECK_INT(match("GET", "/api/kb/packs/bundle", &r, &p, allow), GW_MATCH_FOUND);
    CHECK_STR(r->name, "e");
    CHECK_INT(p.count, 0);
    CHECK_INT(match("PATCH", "/api/kb/packs/bundle", &r, &p, allow), GW_MATCH_FOUND);
    CHECK_STR(r->name, "c"); /* only the template has PATCH */
    CHECK_INT(p.count, 1);
}

static void test_405_and_options(void)
{
    const gw_route_t *r = NULL;
    gw_params_t p;
    char allow[160];
    CHECK_INT(match("POST", "/api/kb/packs/p1", &r, &p, allow), GW_MATCH_NO_METHOD);
    CHECK_STR(allow, "GET, HEAD, PATCH, OPTIONS");
    CHECK_INT(match("OPTIONS", "/api/kb/packs/p1", &r, &p, allow), GW_MATCH_OPTIONS);
    CHECK_STR(allow, "GET, HEAD, PATCH, OPTIONS");
    CHECK_INT(match("PUT", "/healthz", &r, &p, allow), GW_MATCH_NO_METHOD);
    CHECK_STR(allow, "GET, HEAD, OPTIONS");
    CHECK_INT(match("PUT", "/nope", &r, &p, allow), GW_MATCH_NOT_FOUND);
}

static void test_text_valid(void)
{
    CHECK(gw_text_valid("", 0));
    CHECK(gw_text_valid("abc \xf0\x9f\x98\x80", 8));
    CHECK(!gw_text_valid("a\0b", 3));
    CHECK(!gw_text_valid("\x7f", 1));
    CHECK(!gw_text_valid("\xf4\x90\x80\x80", 4)); /* above U+10FFFF */
    CHECK(!gw_text_valid("\xe0\x80\xaf", 3));     /* overlong */
}

TEST_MAIN(test_literal_and_head, test_params, test_literal_beats_param, test_405_and_options,
          test_text_valid)
