/*
 * The JSON codec: round trips, every refusal with its path, exact 64-bit integers, the
 * names clients may use, URL parameters, limits, a full pool, and the schema.
 */
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "mentis/codec.h"
#include "mentis/test/codec_optional.pb-c.h"
#include "mentis/test/codec_test.pb-c.h"
#include "mentis/v1/common.pb-c.h"

#define EVERYTHING (&mentis__test__everything__descriptor)
#define INNER      (&mentis__test__inner__descriptor)
#define OPTIONALS  (&mentis__test__optionals__descriptor)
#define DOCUMENT   (&mentis__test__document__descriptor)

/* What an empty Everything encodes to: every scalar with its default, every repeated field
 * and map empty, unset messages, enums and the oneof left out. */
static const char empty_everything[] =
    "{\"f_int32\":0,\"f_int64\":0,\"f_uint32\":0,\"f_uint64\":0,\"f_sint32\":0,\"f_sint64\":0,"
    "\"f_fixed32\":0,\"f_fixed64\":0,\"f_sfixed32\":0,\"f_sfixed64\":0,\"f_float\":0,"
    "\"f_double\":0,\"f_bool\":false,\"f_string\":\"\",\"f_bytes\":\"\",\"display_name\":\"\","
    "\"r_int32\":[],\"r_int64\":[],\"r_string\":[],\"r_bytes\":[],\"r_color\":[],\"r_inner\":[],"
    "\"r_double\":[],\"r_bool\":[],\"r_time\":[],\"r_uint64\":[],\"labels\":{},\"inner_map\":{},"
    "\"int_map\":{},\"color_map\":{},\"flag_map\":{},\"time_map\":{}}";

/* Every field set, in canonical form: what encode gives back byte for byte. */
static const char full_everything[] =
    "{\"f_int32\":-2147483648,\"f_int64\":-9223372036854775808,\"f_uint32\":4294967295,"
    "\"f_uint64\":18446744073709551615,\"f_sint32\":-7,\"f_sint64\":9007199254740993,"
    "\"f_fixed32\":7,\"f_fixed64\":9007199254740993,\"f_sfixed32\":-8,"
    "\"f_sfixed64\":9223372036854775807,\"f_float\":0.1,\"f_double\":-1.2345678901234567e+300,"
    "\"f_bool\":true,\"f_string\":\"h\xC3\xA9llo \\\"w\\\"\\n\\u0001 \xF0\x9F\x98\x80\","
    "\"f_bytes\":\"AP+/\",\"color\":\"dark_blue\","
    "\"inner\":{\"name\":\"in\",\"count\":3,\"color\":\"red\",\"child\":{\"name\":\"\",\"count\":0}"
    "},"
    "\"created_at\":\"2026-11-23T10:20:00.123Z\",\"display_name\":\"Ada\","
    "\"r_int32\":[1,-2,3],\"r_int64\":[-9223372036854775808,0,9223372036854775807],"
    "\"r_string\":[\"a\",\"\",\"c\"],\"r_bytes\":[\"\",\"Zg==\",\"Zm8=\",\"Zm9v\"],"
    "\"r_color\":[\"red\",\"green\"],\"r_inner\":[{\"name\":\"x\",\"count\":1},{\"name\":\"\","
    "\"count\":0}],"
    "\"r_double\":[0.5,-0,1e-300,5e-324,100,-7,999999999999999,1000000000000000,1e+17],"
    "\"r_bool\":[true,false],"
    "\"r_time\":[\"1970-01-01T00:00:00Z\",\"0001-01-01T00:00:00Z\",\"9999-12-31T23:59:59.999Z\"],"
    "\"r_uint64\":[0,18446744073709551615],"
    "\"labels\":{\"b\":\"2\",\"a\":\"1\"},\"inner_map\":{\"k\":{\"name\":\"v\",\"count\":0}},"
    "\"int_map\":{\"-5\":\"neg\",\"7\":\"seven\"},\"color_map\":{\"x\":\"green\"},"
    "\"flag_map\":{\"true\":1,\"false\":-9223372036854775808},"
    "\"time_map\":{\"t\":\"2000-02-29T12:00:00Z\"},\"choice_number\":-1,"
    "\"optionals\":{\"opt_int32\":0,\"opt_string\":\"\",\"opt_level\":\"high\",\"opt_bool\":false,"
    "\"opt_bytes\":\"\",\"opt_uint64\":18446744073709551615,\"opt_double\":0,"
    "\"opt_child\":{\"opt_int32\":5},\"opt_time\":\"2026-01-01T00:00:00Z\"},"
    "\"method\":\"post\"}";

static mentis_pool_t *new_pool(size_t cap)
{
    mentis_pool_t *pool = NULL;
    if (mentis_pool_create(4096, cap, &pool) != MENTIS_OK)
        abort();
    return pool;
}

/* A message made by code, as a service would (with its defaults), in pool. */
static void *make(mentis_pool_t *pool, const ProtobufCMessageDescriptor *desc)
{
    ProtobufCMessage *m = mentis_pool_calloc(pool, 1, desc->sizeof_message);
    if (m == NULL)
        abort();
    protobuf_c_message_init(desc, m);
    return m;
}

static char *text(mentis_pool_t *pool, const char *s)
{
    char *copy = mentis_pool_strdup(pool, s);
    if (copy == NULL)
        abort();
    return copy;
}

/* Decodes json as desc; NULL when refused. */
static ProtobufCMessage *decode(mentis_pool_t *pool, const ProtobufCMessageDescriptor *desc,
                                const char *json, mentis_codec_problems_t *problems)
{
    ProtobufCMessage *m = NULL;
    mentis_status_t st = mentis_codec_decode(desc, json, strlen(json), NULL, pool, problems, &m);
    return st == MENTIS_OK ? m : NULL;
}

static const char *encode(mentis_pool_t *pool, const ProtobufCMessage *m)
{
    char *out = NULL;
    size_t len = 0;
    if (mentis_codec_encode(m, NULL, pool, &out, &len) != MENTIS_OK)
        return NULL;
    if (strlen(out) != len)
        return "(length mismatch)";
    return out;
}

/* encode(decode(json)) is expected. */
static void check_canonical(const ProtobufCMessageDescriptor *desc, const char *json,
                            const char *expected)
{
    mentis_pool_t *pool = new_pool(1 << 20);
    mentis_codec_problems_t problems = {0};
    ProtobufCMessage *m = decode(pool, desc, json, &problems);
    CHECK_MSG(m != NULL, "%s: %s: %s", json, problems.count ? problems.items[0].field : "",
              problems.count ? problems.items[0].message : mentis_err_msg());
    if (m != NULL)
        CHECK_STR(encode(pool, m), expected);
    mentis_pool_destroy(pool);
}

/* Whether a problem at exactly this field has a message containing `part`. */
static bool has_problem(const mentis_codec_problems_t *p, const char *field, const char *part)
{
    for (size_t i = 0; i < p->count; i++)
        if (strcmp(p->items[i].field, field) == 0 && strstr(p->items[i].message, part) != NULL)
            return true;
    return false;
}

static void dump_problems(const mentis_codec_problems_t *p)
{
    for (size_t i = 0; i < p->count; i++)
        fprintf(stderr, "    problem %zu: [%s] %s\n", i, p->items[i].field, p->items[i].message);
}

/* Decoding json must fail with INVALID_ARGUMENT and a problem at field saying `part`. */
#define CHECK_REFUSED(desc, json, field, part)                                                     \
    do {                                                                                           \
        mentis_pool_t *pool_ = new_pool(1 << 20);                                                  \
        mentis_codec_problems_t pr_ = {0};                                                         \
        ProtobufCMessage *m_ = NULL;                                                               \
        const char *j_ = (json);                                                                   \
        mentis_status_t st_ = mentis_codec_decode(desc, j_, strlen(j_), NULL, pool_, &pr_, &m_);   \
        CHECK_MSG(st_ == MENTIS_ERR_INVALID_ARGUMENT, "%s: status %s", j_,                         \
                  mentis_status_str(st_));                                                         \
        CHECK(m_ == NULL);                                                                         \
        bool found_ = has_problem(&pr_, field, part);                                              \
        CHECK_MSG(found_, "%s: no problem [%s] ~ %s", j_, field, part);                            \
        if (!found_)                                                                               \
            dump_problems(&pr_);                                                                   \
        mentis_pool_destroy(pool_);                                                                \
    } while (0)

static void test_empty_message(void)
{
    check_canonical(EVERYTHING, "{}", empty_everything);
    check_canonical(EVERYTHING, " \t\r\n{ \n} \n", empty_everything);
    check_canonical(INNER, "{}", "{\"name\":\"\",\"count\":0}");
    check_canonical(OPTIONALS, "{}", "{}");
}

static void test_full_round_trip(void)
{
    check_canonical(EVERYTHING, full_everything, full_everything);

    /* And once more through the values themselves. */
    mentis_pool_t *pool = new_pool(1 << 20);
    Mentis__Test__Everything *e =
        (Mentis__Test__Everything *)decode(pool, EVERYTHING, full_everything, NULL);
    REQUIRE(e != NULL);
    CHECK(e->f_int64 == INT64_MIN);
    CHECK(e->f_uint64 == UINT64_MAX);
    CHECK(e->f_sint64 == INT64_C(9007199254740993));
    CHECK(e->f_fixed64 == UINT64_C(9007199254740993));
    CHECK(e->f_sfixed64 == INT64_MAX);
    CHECK(e->f_int32 == INT32_MIN);
    CHECK(e->f_uint32 == UINT32_MAX);
    CHECK(e->f_float == 0.1f);
    CHECK_STR(e->f_string, "h\xC3\xA9llo \"w\"\n\x01 \xF0\x9F\x98\x80");
    CHECK_INT(e->f_bytes.len, 3);
    CHECK(e->f_bytes.data[0] == 0 && e->f_bytes.data[1] == 0xFF && e->f_bytes.data[2] == 0xBF);
    CHECK_INT(e->color, MENTIS__TEST__COLOR__COLOR_DARK_BLUE);
    REQUIRE(e->inner != NULL && e->inner->child != NULL);
    CHECK_STR(e->inner->name, "in");
    REQUIRE(e->created_at != NULL);
    CHECK_INT(e->created_at->seconds, 1795429200);
    CHECK_INT(e->created_at->nanos, 123000000);
    CHECK_INT(e->n_r_int64, 3);
    CHECK_INT(e->n_labels, 2);
    CHECK_STR(e->labels[0]->key, "b");
    CHECK_STR(e->labels[0]->value, "2");
    CHECK_INT(e->n_int_map, 2);
    CHECK_INT(e->int_map[0]->key, -5);
    CHECK_INT(e->choice_case, MENTIS__TEST__EVERYTHING__CHOICE_CHOICE_NUMBER);
    CHECK_INT(e->choice_number, -1);
    REQUIRE(e->optionals != NULL);
    CHECK(e->optionals->has_opt_int32 && e->optionals->opt_int32 == 0);
    CHECK(e->optionals->has_opt_bool && !e->optionals->opt_bool);
    CHECK(e->optionals->opt_string != NULL && e->optionals->opt_string[0] == '\0');
    CHECK_INT(e->method, MENTIS__TEST__HTTPMETHOD__HTTP_METHOD_POST);
    /* The decoded message is a real protobuf-c message: it packs and unpacks. */
    size_t n = protobuf_c_message_get_packed_size(&e->base);
    uint8_t *buf = malloc(n);
    REQUIRE(buf != NULL);
    protobuf_c_message_pack(&e->base, buf);
    Mentis__Test__Everything *back = mentis__test__everything__unpack(NULL, n, buf);
    REQUIRE(back != NULL);
    CHECK(back->f_uint64 == UINT64_MAX);
    CHECK_STR(back->labels[1]->key, "a");
    mentis__test__everything__free_unpacked(back, NULL);
    free(buf);
    mentis_pool_destroy(pool);
}

static void test_camel_case_keys(void)
{
    check_canonical(EVERYTHING,
                    "{\"fInt32\":5,\"displayName\":\"Ada\",\"rInt32\":[1],\"innerMap\":{\"a\":"
                    "{\"name\":\"n\"}},\"createdAt\":\"2026-11-23T10:20:00Z\",\"choiceText\":\"t\","
                    "\"optionals\":{\"optInt32\":1}}",
                    "{\"f_int32\":5,\"f_int64\":0,\"f_uint32\":0,\"f_uint64\":0,\"f_sint32\":0,"
                    "\"f_sint64\":0,\"f_fixed32\":0,\"f_fixed64\":0,\"f_sfixed32\":0,"
                    "\"f_sfixed64\":0,\"f_float\":0,\"f_double\":0,\"f_bool\":false,"
                    "\"f_string\":\"\",\"f_bytes\":\"\",\"created_at\":\"2026-11-23T10:20:00Z\","
                    "\"display_name\":\"Ada\",\"r_int32\":[1],\"r_int64\":[],\"r_string\":[],"
                    "\"r_bytes\":[],\"r_color\":[],\"r_inner\":[],\"r_double\":[],\"r_bool\":[],"
                    "\"r_time\":[],\"r_uint64\":[],\"labels\":{},"
                    "\"inner_map\":{\"a\":{\"name\":\"n\",\"count\":0}},\"int_map\":{},"
                    "\"color_map\":{},\"flag_map\":{},\"time_map\":{},\"choice_text\":\"t\","
                    "\"optionals\":{\"opt_int32\":1}}");
    /* Only the exact JSON name: no other spellings. */
    CHECK_REFUSED(INNER, "{\"Name\":\"x\"}", "Name", "unknown field");
    CHECK_REFUSED(EVERYTHING, "{\"display_Name\":\"x\"}", "display_Name", "unknown field");
    CHECK_REFUSED(EVERYTHING, "{\"displayname\":\"x\"}", "displayname", "unknown field");
}

static void test_int64_exact(void)
{
    mentis_pool_t *pool = new_pool(1 << 20);
    Mentis__Test__Everything *e = (Mentis__Test__Everything *)decode(
        pool, EVERYTHING,
        "{\"f_int64\":9007199254740993,\"f_uint64\":\"9007199254740993\",\"f_sint64\":\"-0\","
        "\"f_int32\":\"-12\",\"r_int64\":[\"-9223372036854775808\",9223372036854775807],"
        "\"r_uint64\":[\"18446744073709551615\",18446744073709551614]}",
        NULL);
    REQUIRE(e != NULL);
    CHECK(e->f_int64 == INT64_C(9007199254740993));
    CHECK(e->f_uint64 == UINT64_C(9007199254740993));
    CHECK(e->f_sint64 == 0);
    CHECK(e->f_int32 == -12);
    REQUIRE(e->n_r_int64 == 2 && e->n_r_uint64 == 2);
    CHECK(e->r_int64[0] == INT64_MIN && e->r_int64[1] == INT64_MAX);
    CHECK(e->r_uint64[0] == UINT64_MAX && e->r_uint64[1] == UINT64_MAX - 1);
    const char *json = encode(pool, &e->base);
    REQUIRE(json != NULL);
    /* Written as JSON numbers, exactly. */
    CHECK(strstr(json, "\"f_int64\":9007199254740993,") != NULL);
    CHECK(strstr(json, "\"f_uint64\":9007199254740993,") != NULL);
    CHECK(strstr(json, "\"r_uint64\":[18446744073709551615,18446744073709551614]") != NULL);
    mentis_pool_destroy(pool);

    CHECK_REFUSED(EVERYTHING, "{\"f_int64\":9223372036854775808}", "f_int64",
                  "out of range for int64");
    CHECK_REFUSED(EVERYTHING, "{\"f_int64\":-9223372036854775809}", "f_int64", "out of range");
    CHECK_REFUSED(EVERYTHING, "{\"f_int64\":99999999999999999999999}", "f_int64", "out of range");
    CHECK_REFUSED(EVERYTHING, "{\"f_uint64\":18446744073709551616}", "f_uint64",
                  "out of range for uint64");
    CHECK_REFUSED(EVERYTHING, "{\"f_uint64\":-1}", "f_uint64", "out of range");
    CHECK_REFUSED(EVERYTHING, "{\"f_int32\":2147483648}", "f_int32", "out of range for int32");
    CHECK_REFUSED(EVERYTHING, "{\"f_int32\":-2147483649}", "f_int32", "out of range");
    CHECK_REFUSED(EVERYTHING, "{\"f_uint32\":4294967296}", "f_uint32", "out of range for uint32");
    CHECK_REFUSED(EVERYTHING, "{\"f_fixed32\":-1}", "f_fixed32", "out of range for fixed32");
    CHECK_REFUSED(EVERYTHING, "{\"f_sint32\":\"2147483648\"}", "f_sint32", "out of range");
    CHECK_REFUSED(EVERYTHING, "{\"r_int64\":[1,\"9223372036854775808\"]}", "r_int64[1]",
                  "out of range");
}

static void test_integer_syntax(void)
{
    CHECK_REFUSED(EVERYTHING, "{\"f_int32\":1.5}", "f_int32", "without fraction or exponent");
    CHECK_REFUSED(EVERYTHING, "{\"f_int32\":1.0}", "f_int32", "without fraction");
    CHECK_REFUSED(EVERYTHING, "{\"f_int64\":1e3}", "f_int64", "without fraction or exponent");
    CHECK_REFUSED(EVERYTHING, "{\"f_int64\":\"1.5\"}", "f_int64", "without fraction");
    CHECK_REFUSED(EVERYTHING, "{\"f_int64\":\"\"}", "f_int64", "expected an integer");
    CHECK_REFUSED(EVERYTHING, "{\"f_int64\":\" 1\"}", "f_int64", "expected an integer");
    CHECK_REFUSED(EVERYTHING, "{\"f_int64\":\"+1\"}", "f_int64", "expected an integer");
    CHECK_REFUSED(EVERYTHING, "{\"f_int64\":\"01\"}", "f_int64", "expected an integer");
    CHECK_REFUSED(EVERYTHING, "{\"f_uint32\":\"0x10\"}", "f_uint32", "expected an integer");
}

static void test_wrong_types(void)
{
    CHECK_REFUSED(EVERYTHING, "{\"f_string\":1}", "f_string", "expected a string, got a number");
    CHECK_REFUSED(EVERYTHING, "{\"f_string\":{}}", "f_string", "expected a string, got an object");
    CHECK_REFUSED(EVERYTHING, "{\"f_bool\":\"true\"}", "f_bool",
                  "expected true or false, got a string");
    CHECK_REFUSED(EVERYTHING, "{\"f_bool\":1}", "f_bool", "expected true or false, got a number");
    CHECK_REFUSED(EVERYTHING, "{\"f_int32\":true}", "f_int32",
                  "expected an integer, got a boolean");
    CHECK_REFUSED(EVERYTHING, "{\"f_double\":\"1.5\"}", "f_double",
                  "expected a number, got a string");
    CHECK_REFUSED(EVERYTHING, "{\"f_bytes\":[]}", "f_bytes",
                  "expected a base64 string, got an array");
    CHECK_REFUSED(EVERYTHING, "{\"inner\":[]}", "inner", "expected an object, got an array");
    CHECK_REFUSED(EVERYTHING, "{\"inner\":\"x\"}", "inner", "expected an object, got a string");
    CHECK_REFUSED(EVERYTHING, "{\"r_int32\":1}", "r_int32", "expected an array, got a number");
    CHECK_REFUSED(EVERYTHING, "{\"r_int32\":{}}", "r_int32", "expected an array, got an object");
    CHECK_REFUSED(EVERYTHING, "{\"labels\":[]}", "labels", "expected an object, got an array");
    CHECK_REFUSED(EVERYTHING, "{\"labels\":{\"a\":1}}", "labels[\"a\"]", "expected a string");
    CHECK_REFUSED(EVERYTHING, "{\"created_at\":1795429200}", "created_at",
                  "expected an RFC 3339 date-time string, got a number");
    CHECK_REFUSED(EVERYTHING, "{\"color\":true}", "color", "expected a string naming a value");
    CHECK_REFUSED(EVERYTHING, "{\"r_inner\":[{},1]}", "r_inner[1]", "expected an object");
    /* The body itself must be an object. */
    CHECK_REFUSED(EVERYTHING, "[]", "", "expected a JSON object, got an array");
    CHECK_REFUSED(EVERYTHING, "null", "", "expected a JSON object, got null");
    CHECK_REFUSED(EVERYTHING, "\"x\"", "", "expected a JSON object, got a string");
}

static void test_unknown_fields(void)
{
    CHECK_REFUSED(EVERYTHING, "{\"nope\":1}", "nope", "unknown field");
    CHECK_REFUSED(EVERYTHING, "{\"inner\":{\"type\":\"x\"}}", "inner.type", "unknown field");
    CHECK_REFUSED(EVERYTHING, "{\"r_inner\":[{},{},{\"nam\":{\"deep\":[1,2]}}]}", "r_inner[2].nam",
                  "unknown field");
    CHECK_REFUSED(EVERYTHING, "{\"inner_map\":{\"k\":{\"x\":1}}}", "inner_map[\"k\"].x",
                  "unknown field");
    CHECK_REFUSED(EVERYTHING, "{\"inner\":{\"child\":{\"child\":{\"oops\":null}}}}",
                  "inner.child.child.oops", "unknown field");
    /* A very long key is reported, cut, not overflowed. */
    char json[600];
    memset(json, 'k', sizeof json);
    memcpy(json, "{\"", 2);
    memcpy(json + sizeof json - 6, "\":1}", 5);
    mentis_pool_t *pool = new_pool(1 << 20);
    mentis_codec_problems_t pr = {0};
    CHECK(decode(pool, EVERYTHING, json, &pr) == NULL);
    REQUIRE(pr.count == 1);
    CHECK(strlen(pr.items[0].field) < MENTIS_CODEC_FIELD_MAX);
    CHECK(strncmp(pr.items[0].field, "kkkk", 4) == 0);
    CHECK(strstr(pr.items[0].field, "...") != NULL);
    mentis_pool_destroy(pool);
}

static void test_duplicate_keys(void)
{
    CHECK_REFUSED(EVERYTHING, "{\"f_int32\":1,\"f_int32\":2}", "f_int32", "given more than once");
    CHECK_REFUSED(EVERYTHING, "{\"display_name\":\"a\",\"displayName\":\"b\"}", "display_name",
                  "given more than once");
    CHECK_REFUSED(EVERYTHING, "{\"inner\":null,\"inner\":{}}", "inner", "given more than once");
    CHECK_REFUSED(EVERYTHING, "{\"inner\":{\"name\":\"a\",\"name\":\"a\"}}", "inner.name",
                  "given more than once");
    CHECK_REFUSED(EVERYTHING, "{\"labels\":{\"a\":\"1\",\"b\":\"2\",\"a\":\"3\"}}", "labels[\"a\"]",
                  "key given more than once");
    CHECK_REFUSED(EVERYTHING, "{\"int_map\":{\"1\":\"a\",\"-0\":\"b\",\"0\":\"c\"}}",
                  "int_map[\"0\"]", "key given more than once");
    CHECK_REFUSED(EVERYTHING, "{\"flag_map\":{\"true\":1,\"true\":2}}", "flag_map[\"true\"]",
                  "key given more than once");
    /* Unknown keys given twice are simply unknown twice. */
    CHECK_REFUSED(EVERYTHING, "{\"x\":1,\"x\":2}", "x", "unknown field");
}

static void test_many_problems(void)
{
    mentis_pool_t *pool = new_pool(1 << 20);
    mentis_codec_problems_t pr = {0};
    const char *json = "{\"nope\":1,\"f_int32\":\"x\",\"inner\":{\"count\":1.5},"
                       "\"r_int32\":[1,null,\"a\"],\"color\":\"purple\",\"f_bool\":true}";
    ProtobufCMessage *m = NULL;
    mentis_err_clear();
    CHECK_INT(mentis_codec_decode(EVERYTHING, json, strlen(json), NULL, pool, &pr, &m),
              MENTIS_ERR_INVALID_ARGUMENT);
    CHECK(m == NULL);
    REQUIRE(pr.count == 6);
    CHECK_STR(pr.items[0].field, "nope");
    CHECK_STR(pr.items[1].field, "f_int32");
    CHECK_STR(pr.items[2].field, "inner.count");
    CHECK_STR(pr.items[3].field, "r_int32[1]");
    CHECK_STR(pr.items[3].message, "null is not allowed in an array");
    CHECK_STR(pr.items[4].field, "r_int32[2]");
    CHECK_STR(pr.items[5].field, "color");
    CHECK_STR(pr.items[5].message, "unknown value \"purple\" (allowed: red, green, dark_blue)");
    CHECK_INT(pr.dropped, 0);
    /* The first one is the error context. */
    CHECK_STR(mentis_err_msg(), "nope: unknown field");
    CHECK_STR(mentis_err_code(), "invalid_argument");

    /* More than the list holds: the rest are counted. */
    char big[4096];
    size_t len = 0;
    big[len++] = '{';
    for (int i = 0; i < 40; i++)
        len += (size_t)snprintf(big + len, sizeof big - len, "%s\"u%d\":%d", i ? "," : "", i, i);
    big[len++] = '}';
    big[len] = '\0';
    mentis_codec_problems_clear(&pr);
    CHECK(decode(pool, EVERYTHING, big, &pr) == NULL);
    CHECK_INT(pr.count, MENTIS_CODEC_PROBLEMS_MAX);
    CHECK_INT(pr.dropped, 40 - MENTIS_CODEC_PROBLEMS_MAX);
    CHECK_STR(pr.items[MENTIS_CODEC_PROBLEMS_MAX - 1].field, "u15");

    /* Problems may be left out entirely. */
    m = NULL;
    CHECK_INT(mentis_codec_decode(EVERYTHING, "{\"x\":1}", 7, NULL, pool, NULL, &m),
              MENTIS_ERR_INVALID_ARGUMENT);
    CHECK_STR(mentis_err_msg(), "x: unknown field");
    mentis_pool_destroy(pool);
}

/* Malformed JSON: one problem, field "", with the offset, whatever came before. */
static void check_malformed(const char *json, size_t len, size_t offset)
{
    mentis_pool_t *pool = new_pool(1 << 20);
    mentis_codec_problems_t pr = {0};
    ProtobufCMessage *m = NULL;
    mentis_status_t st = mentis_codec_decode(EVERYTHING, json, len, NULL, pool, &pr, &m);
    CHECK_MSG(st == MENTIS_ERR_INVALID_ARGUMENT, "%.*s: %s", (int)len, json, mentis_status_str(st));
    CHECK(m == NULL);
    CHECK_MSG(pr.count == 1, "%.*s: %zu problems", (int)len, json, pr.count);
    if (pr.count >= 1) {
        char want[64];
        snprintf(want, sizeof want, "malformed JSON at byte %zu:", offset);
        CHECK_STR(pr.items[0].field, "");
        CHECK_MSG(strncmp(pr.items[0].message, want, strlen(want)) == 0, "%.*s: %s (want %s)",
                  (int)len, json, pr.items[0].message, want);
    }
    mentis_pool_destroy(pool);
}

#define MALFORMED(lit, offset) check_malformed(lit, sizeof(lit) - 1, offset)

static void test_malformed_json(void)
{
    MALFORMED("", 0);
    MALFORMED("   ", 3);
    MALFORMED("{", 1);
    MALFORMED("{\"f_int32\":}", 11);
    MALFORMED("{\"f_int32\":1,}", 13);
    MALFORMED("{\"f_int32\" 1}", 11);
    MALFORMED("{\"f_int32\":01}", 11);
    MALFORMED("{\"f_int32\":1 2}", 13);
    MALFORMED("{\"f_double\":NaN}", 12);
    MALFORMED("{\"f_double\":-}", 12);
    MALFORMED("{\"f_double\":1.}", 12);
    MALFORMED("{\"f_double\":.5}", 12);
    MALFORMED("{\"f_bool\":tru}", 10);
    MALFORMED("{} x", 3);
    MALFORMED("{}{}", 2);
    MALFORMED("{'f_int32':1}", 1);
    MALFORMED("{\"f_string\":\"a\x01\"}", 14);
    MALFORMED("{\"f_string\":\"\\x\"}", 13);
    MALFORMED("{\"f_string\":\"ab\\ud800\"}", 15);
    MALFORMED("{\"f_string\":\"\\udc00\"}", 13);
    MALFORMED("{\"f_string\":\"\\ud800\\u0041\"}", 13);
    MALFORMED("{\"f_string\":\"\\u12\"}", 13);
    MALFORMED("{\"f_string\":\"\\u12", 13);
    MALFORMED("{\"f_string\":\"\xC3\x28\"}", 13);
    MALFORMED("{\"f_string\":\"\xC0\xAF\"}", 13);     /* overlong '/' */
    MALFORMED("{\"f_string\":\"\xED\xA0\x80\"}", 13); /* an encoded surrogate */
    MALFORMED("{\"f_string\":\"abc", 16);
    MALFORMED("\xEF\xBB\xBF{}", 0); /* no byte order mark */
    MALFORMED("{\"r_int32\":[1,]}", 14);
    MALFORMED("{\"r_int32\":[1 2]}", 14);
    MALFORMED("{\"labels\":{\"a\" \"b\"}}", 15);
    MALFORMED("{\"labels\":{1:\"b\"}}", 11);
    /* An unknown field's value is still checked. */
    MALFORMED("{\"nope\":[1,{\"a\":}]}", 16);
    /* Earlier problems give way to the syntax error. */
    MALFORMED("{\"nope\":1,\"f_int32\":\"x\",\"f_bool\":", 33);
    /* NUL bytes inside the length are just bad bytes. */
    MALFORMED("{\"f_int32\":1}\0", 13);
}

static void test_enums(void)
{
    check_canonical(INNER, "{\"color\":\"red\"}", "{\"name\":\"\",\"count\":0,\"color\":\"red\"}");
    check_canonical(INNER, "{\"color\":\"COLOR_GREEN\"}",
                    "{\"name\":\"\",\"count\":0,\"color\":\"green\"}");
    check_canonical(INNER, "{\"color\":3}", "{\"name\":\"\",\"count\":0,\"color\":\"dark_blue\"}");
    check_canonical(INNER, "{\"color\":\"dark_blue\"}",
                    "{\"name\":\"\",\"count\":0,\"color\":\"dark_blue\"}");
    check_canonical(INNER, "{\"color\":null}", "{\"name\":\"\",\"count\":0}");
    /* An acronym in the enum's name: the prefix is HTTP_METHOD_. */
    mentis_pool_t *pool = new_pool(1 << 20);
    Mentis__Test__Everything *e = (Mentis__Test__Everything *)decode(
        pool, EVERYTHING, "{\"method\":\"get\",\"r_color\":[\"red\",2,\"COLOR_DARK_BLUE\"]}", NULL);
    REQUIRE(e != NULL);
    CHECK_INT(e->method, MENTIS__TEST__HTTPMETHOD__HTTP_METHOD_GET);
    REQUIRE(e->n_r_color == 3);
    CHECK_INT(e->r_color[2], MENTIS__TEST__COLOR__COLOR_DARK_BLUE);
    e = (Mentis__Test__Everything *)decode(pool, EVERYTHING, "{\"method\":\"HTTP_METHOD_POST\"}",
                                           NULL);
    REQUIRE(e != NULL);
    CHECK_INT(e->method, MENTIS__TEST__HTTPMETHOD__HTTP_METHOD_POST);
    mentis_pool_destroy(pool);

    const char *allowed = "(allowed: red, green, dark_blue)";
    CHECK_REFUSED(INNER, "{\"color\":\"unspecified\"}", "color", allowed);
    CHECK_REFUSED(INNER, "{\"color\":\"COLOR_UNSPECIFIED\"}", "color",
                  "unknown value \"COLOR_UNSPECIFIED\"");
    CHECK_REFUSED(INNER, "{\"color\":0}", "color", allowed);
    CHECK_REFUSED(INNER, "{\"color\":4}", "color", "unknown value \"4\"");
    CHECK_REFUSED(INNER, "{\"color\":-1}", "color", allowed);
    CHECK_REFUSED(INNER, "{\"color\":1.5}", "color", allowed);
    CHECK_REFUSED(INNER, "{\"color\":\"1\"}", "color", allowed);
    CHECK_REFUSED(INNER, "{\"color\":\"Red\"}", "color", allowed);
    CHECK_REFUSED(INNER, "{\"color\":\"RED\"}", "color", allowed);
    CHECK_REFUSED(INNER, "{\"color\":\"\"}", "color", allowed);
    CHECK_REFUSED(EVERYTHING, "{\"method\":\"put\"}", "method", "(allowed: get, post)");
    CHECK_REFUSED(EVERYTHING, "{\"r_color\":[\"red\",\"blue\"]}", "r_color[1]", allowed);
    CHECK_REFUSED(EVERYTHING, "{\"color_map\":{\"a\":\"unspecified\"}}", "color_map[\"a\"]",
                  allowed);
}

static void test_enum_output(void)
{
    mentis_pool_t *pool = new_pool(1 << 20);
    Mentis__Test__Inner *in = make(pool, INNER);
    in->color = MENTIS__TEST__COLOR__COLOR_UNSPECIFIED;
    CHECK_STR(encode(pool, &in->base), "{\"name\":\"\",\"count\":0}");
    in->color = (Mentis__Test__Color)99; /* a number this build does not know */
    CHECK_STR(encode(pool, &in->base), "{\"name\":\"\",\"count\":0,\"color\":99}");

    /* Unspecified elements and map values say nothing and are left out. */
    Mentis__Test__Everything *e = make(pool, EVERYTHING);
    Mentis__Test__Color colors[] = {MENTIS__TEST__COLOR__COLOR_RED,
                                    MENTIS__TEST__COLOR__COLOR_UNSPECIFIED,
                                    MENTIS__TEST__COLOR__COLOR_GREEN};
    e->n_r_color = 3;
    e->r_color = colors;
    Mentis__Test__Everything__ColorMapEntry *c1 =
        make(pool, &mentis__test__everything__color_map_entry__descriptor);
    Mentis__Test__Everything__ColorMapEntry *c2 =
        make(pool, &mentis__test__everything__color_map_entry__descriptor);
    c1->key = text(pool, "gone");
    c2->key = text(pool, "kept");
    c2->value = MENTIS__TEST__COLOR__COLOR_RED;
    Mentis__Test__Everything__ColorMapEntry *cm[] = {c1, c2};
    e->n_color_map = 2;
    e->color_map = cm;
    const char *json = encode(pool, &e->base);
    REQUIRE(json != NULL);
    CHECK(strstr(json, "\"r_color\":[\"red\",\"green\"]") != NULL);
    CHECK(strstr(json, "\"color_map\":{\"kept\":\"red\"}") != NULL);
    mentis_pool_destroy(pool);
}

static void test_bytes(void)
{
    mentis_pool_t *pool = new_pool(1 << 20);
    const char *inputs[] = {"aGVsbG8=", "aGVsbG8"};
    for (size_t i = 0; i < 2; i++) {
        char json[64];
        snprintf(json, sizeof json, "{\"f_bytes\":\"%s\"}", inputs[i]);
        Mentis__Test__Everything *e =
            (Mentis__Test__Everything *)decode(pool, EVERYTHING, json, NULL);
        REQUIRE(e != NULL);
        CHECK(e->f_bytes.len == 5 && memcmp(e->f_bytes.data, "hello", 5) == 0);
        CHECK(strstr(encode(pool, &e->base), "\"f_bytes\":\"aGVsbG8=\"") != NULL);
    }
    /* URL-safe and standard alphabets, padded or not: 0xFB 0xFF. */
    const char *forms[] = {"+/8=", "-_8=", "+/8", "-_8"};
    for (size_t i = 0; i < 4; i++) {
        char json[64];
        snprintf(json, sizeof json, "{\"r_bytes\":[\"%s\"]}", forms[i]);
        Mentis__Test__Everything *e =
            (Mentis__Test__Everything *)decode(pool, EVERYTHING, json, NULL);
        REQUIRE(e != NULL && e->n_r_bytes == 1);
        CHECK(e->r_bytes[0].len == 2 && e->r_bytes[0].data[0] == 0xFB &&
              e->r_bytes[0].data[1] == 0xFF);
        CHECK(strstr(encode(pool, &e->base), "\"r_bytes\":[\"+/8=\"]") != NULL);
    }
    mentis_pool_destroy(pool);
    CHECK_REFUSED(EVERYTHING, "{\"f_bytes\":\"a\"}", "f_bytes", "invalid base64");
    CHECK_REFUSED(EVERYTHING, "{\"f_bytes\":\"aGVsbG8==\"}", "f_bytes", "invalid base64");
    CHECK_REFUSED(EVERYTHING, "{\"f_bytes\":\"aG=sbG8=\"}", "f_bytes", "invalid base64");
    CHECK_REFUSED(EVERYTHING, "{\"f_bytes\":\"aGVs bG8=\"}", "f_bytes", "invalid base64");
    CHECK_REFUSED(EVERYTHING, "{\"f_bytes\":\"aGVsbG9=\"}", "f_bytes", "stray bits");
    CHECK_REFUSED(EVERYTHING, "{\"r_bytes\":[\"\",\"***\"]}", "r_bytes[1]", "invalid base64");
}

static void test_timestamps(void)
{
    struct {
        const char *in, *out;
    } ok[] = {
        {"2026-11-23T10:20:00Z", "2026-11-23T10:20:00Z"},
        {"2026-11-23t10:20:00z", "2026-11-23T10:20:00Z"},
        {"2026-11-23T10:20:00.1Z", "2026-11-23T10:20:00.100Z"},
        {"2026-11-23T10:20:00.123456789Z", "2026-11-23T10:20:00.123Z"},
        {"2026-11-23T10:20:00.000999Z", "2026-11-23T10:20:00Z"},
        {"2026-11-23T12:20:00+02:00", "2026-11-23T10:20:00Z"},
        {"2026-11-23T00:20:00.5-10:30", "2026-11-23T10:50:00.500Z"},
        {"2026-01-01T01:00:00+01:00", "2026-01-01T00:00:00Z"},
        {"2024-02-29T00:00:00Z", "2024-02-29T00:00:00Z"},
        {"2000-02-29T23:59:59Z", "2000-02-29T23:59:59Z"},
        {"1969-12-31T23:59:59.999Z", "1969-12-31T23:59:59.999Z"},
        {"0001-01-01T00:00:00Z", "0001-01-01T00:00:00Z"},
        {"9999-12-31T23:59:59.999999999Z", "9999-12-31T23:59:59.999Z"},
    };
    mentis_pool_t *pool = new_pool(1 << 20);
    for (size_t i = 0; i < sizeof ok / sizeof ok[0]; i++) {
        char json[128], want[128];
        snprintf(json, sizeof json, "{\"opt_time\":\"%s\"}", ok[i].in);
        snprintf(want, sizeof want, "{\"opt_time\":\"%s\"}", ok[i].out);
        ProtobufCMessage *m = decode(pool, OPTIONALS, json, NULL);
        CHECK_MSG(m != NULL, "%s: %s", ok[i].in, mentis_err_msg());
        if (m != NULL)
            CHECK_STR(encode(pool, m), want);
    }
    Mentis__Test__Optionals *o = (Mentis__Test__Optionals *)decode(
        pool, OPTIONALS, "{\"opt_time\":\"1969-12-31T23:59:59.5Z\"}", NULL);
    REQUIRE(o != NULL && o->opt_time != NULL);
    CHECK_INT(o->opt_time->seconds, -1);
    CHECK_INT(o->opt_time->nanos, 500000000);
    mentis_pool_destroy(pool);

    const char *bad[] = {
        "2026-02-30T00:00:00Z",
        "2025-02-29T00:00:00Z",
        "1900-02-29T00:00:00Z",
        "2026-04-31T00:00:00Z",
        "2026-13-01T00:00:00Z",
        "2026-00-01T00:00:00Z",
        "2026-01-00T00:00:00Z",
        "2026-01-01T24:00:00Z",
        "2026-01-01T23:60:00Z",
        "2026-01-01T23:59:60Z",
        "2026-01-01T00:00:00",
        "2026-01-01 00:00:00Z",
        "2026-01-01T00:00:00.Z",
        "2026-01-01T00:00:00.1234567890Z",
        "2026-01-01T00:00:00+2:00",
        "2026-01-01T00:00:00+24:00",
        "2026-01-01T00:00:00+02:60",
        "2026-01-01T00:00:00+0200",
        "2026-1-01T00:00:00Z",
        "0000-01-01T00:00:00Z",
        "0001-01-01T00:00:00+00:01",
        "9999-12-31T23:59:59-00:01",
        "2026-01-01T00:00:00ZZ",
        "",
        "now",
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        char json[128];
        snprintf(json, sizeof json, "{\"created_at\":\"%s\"}", bad[i]);
        CHECK_REFUSED(EVERYTHING, json, "created_at", "");
    }
    CHECK_REFUSED(EVERYTHING, "{\"created_at\":\"2026-02-30T00:00:00Z\"}", "created_at",
                  "no such date");
    CHECK_REFUSED(EVERYTHING, "{\"created_at\":\"2026-01-01T24:00:00Z\"}", "created_at",
                  "no such time");
    CHECK_REFUSED(EVERYTHING, "{\"created_at\":{\"seconds\":1}}", "created_at",
                  "expected an RFC 3339");
    CHECK_REFUSED(EVERYTHING, "{\"r_time\":[\"2026-01-01T00:00:00Z\",\"x\"]}", "r_time[1]",
                  "RFC 3339");
}

static void test_timestamp_output_limits(void)
{
    mentis_pool_t *pool = new_pool(1 << 20);
    Mentis__V1__Timestamp *ts = make(pool, &mentis__v1__timestamp__descriptor);
    Mentis__Test__Everything *e = make(pool, EVERYTHING);
    e->created_at = ts;
    ts->seconds = INT64_C(253402300800); /* year 10000 */
    char *out = NULL;
    CHECK_INT(mentis_codec_encode(&e->base, NULL, pool, &out, NULL), MENTIS_ERR_INTERNAL);
    CHECK(strstr(mentis_err_msg(), "created_at") != NULL);
    ts->seconds = 0;
    ts->nanos = 1000000000;
    CHECK_INT(mentis_codec_encode(&e->base, NULL, pool, &out, NULL), MENTIS_ERR_INTERNAL);
    ts->nanos = -1;
    CHECK_INT(mentis_codec_encode(&e->base, NULL, pool, &out, NULL), MENTIS_ERR_INTERNAL);
    ts->nanos = 999999999;
    ts->seconds = -1;
    CHECK(mentis_codec_encode(&e->base, NULL, pool, &out, NULL) == MENTIS_OK);
    CHECK(strstr(out, "\"created_at\":\"1969-12-31T23:59:59.999Z\"") != NULL);

    /* A Timestamp on its own is a string. */
    CHECK_STR(encode(pool, &ts->base), "\"1969-12-31T23:59:59.999Z\"");
    ProtobufCMessage *m = NULL;
    const char *text = "\"2026-11-23T10:20:00Z\"";
    CHECK(mentis_codec_decode(&mentis__v1__timestamp__descriptor, text, strlen(text), NULL, pool,
                              NULL, &m) == MENTIS_OK);
    REQUIRE(m != NULL);
    CHECK_INT(((Mentis__V1__Timestamp *)m)->seconds, 1795429200);
    mentis_pool_destroy(pool);
}

static void test_null(void)
{
    check_canonical(EVERYTHING,
                    "{\"f_int32\":null,\"f_string\":null,\"inner\":null,\"created_at\":null,"
                    "\"r_int32\":null,\"labels\":null,\"color\":null,\"choice_text\":null,"
                    "\"optionals\":null,\"f_bytes\":null}",
                    empty_everything);
    check_canonical(OPTIONALS, "{\"opt_int32\":null,\"opt_string\":null,\"opt_child\":null}", "{}");
    CHECK_REFUSED(EVERYTHING, "{\"r_int32\":[1,null]}", "r_int32[1]",
                  "null is not allowed in an array");
    CHECK_REFUSED(EVERYTHING, "{\"r_inner\":[null]}", "r_inner[0]", "null is not allowed");
    CHECK_REFUSED(EVERYTHING, "{\"labels\":{\"a\":null}}", "labels[\"a\"]",
                  "null is not allowed as a map value");
}

static void test_oneof(void)
{
    CHECK_REFUSED(
        EVERYTHING, "{\"choice_text\":\"a\",\"choice_number\":1}", "choice_number",
        "conflicts with \"choice_text\": only one of choice_text, choice_number, choice_inner");
    CHECK_REFUSED(EVERYTHING, "{\"choice_inner\":{},\"choiceText\":\"\"}", "choice_text",
                  "conflicts");
    mentis_pool_t *pool = new_pool(1 << 20);
    Mentis__Test__Everything *e = (Mentis__Test__Everything *)decode(
        pool, EVERYTHING,
        "{\"choice_text\":null,\"choice_inner\":{\"name\":\"n\"},\"choice_number\":null}", NULL);
    REQUIRE(e != NULL);
    CHECK_INT(e->choice_case, MENTIS__TEST__EVERYTHING__CHOICE_CHOICE_INNER);
    REQUIRE(e->choice_inner != NULL);
    CHECK_STR(e->choice_inner->name, "n");
    const char *json = encode(pool, &e->base);
    CHECK(strstr(json, "\"choice_inner\":{\"name\":\"n\",\"count\":0}}") != NULL);
    CHECK(strstr(json, "choice_text") == NULL && strstr(json, "choice_number") == NULL);
    /* A set string member is written even when empty. */
    e = (Mentis__Test__Everything *)decode(pool, EVERYTHING, "{\"choice_text\":\"\"}", NULL);
    REQUIRE(e != NULL);
    CHECK(strstr(encode(pool, &e->base), ",\"choice_text\":\"\"}") != NULL);
    mentis_pool_destroy(pool);
}

static void test_presence(void)
{
    check_canonical(OPTIONALS, "{\"opt_int32\":0}", "{\"opt_int32\":0}");
    check_canonical(OPTIONALS, "{\"opt_bool\":false,\"opt_string\":\"\"}",
                    "{\"opt_string\":\"\",\"opt_bool\":false}");
    check_canonical(OPTIONALS, "{\"optLevel\":\"low\",\"opt_bytes\":\"\"}",
                    "{\"opt_level\":\"low\",\"opt_bytes\":\"\"}");
    check_canonical(OPTIONALS, "{\"opt_child\":{}}", "{\"opt_child\":{}}");
    mentis_pool_t *pool = new_pool(1 << 20);
    Mentis__Test__Optionals *o =
        (Mentis__Test__Optionals *)decode(pool, OPTIONALS, "{\"opt_uint64\":0}", NULL);
    REQUIRE(o != NULL);
    CHECK(o->has_opt_uint64 && o->opt_uint64 == 0);
    CHECK(!o->has_opt_int32 && !o->has_opt_bool && o->opt_string == NULL);
    /* An explicitly set unspecified enum is still left out. */
    Mentis__Test__Optionals *made = make(pool, OPTIONALS);
    made->has_opt_level = 1;
    made->opt_level = MENTIS__TEST__LEVEL__LEVEL_UNSPECIFIED;
    CHECK_STR(encode(pool, &made->base), "{}");
    mentis_pool_destroy(pool);
}

static void test_maps(void)
{
    mentis_pool_t *pool = new_pool(1 << 20);
    Mentis__Test__Everything *e = (Mentis__Test__Everything *)decode(
        pool, EVERYTHING,
        "{\"int_map\":{\"7\":\"a\",\"-2147483648\":\"b\"},\"flag_map\":{\"false\":\"5\"},"
        "\"time_map\":{\"a\":\"2026-01-01T00:00:00+01:00\"},\"inner_map\":{\"\":{}}}",
        NULL);
    REQUIRE(e != NULL);
    REQUIRE(e->n_int_map == 2);
    CHECK_INT(e->int_map[1]->key, INT32_MIN);
    REQUIRE(e->n_flag_map == 1);
    CHECK(!e->flag_map[0]->key && e->flag_map[0]->value == 5);
    REQUIRE(e->n_time_map == 1 && e->time_map[0]->value != NULL);
    CHECK_INT(e->time_map[0]->value->seconds, 1767222000);
    const char *json = encode(pool, &e->base);
    CHECK(strstr(json, "\"int_map\":{\"7\":\"a\",\"-2147483648\":\"b\"}") != NULL);
    CHECK(strstr(json, "\"flag_map\":{\"false\":5}") != NULL);
    CHECK(strstr(json, "\"time_map\":{\"a\":\"2025-12-31T23:00:00Z\"}") != NULL);
    CHECK(strstr(json, "\"inner_map\":{\"\":{\"name\":\"\",\"count\":0}}") != NULL);
    mentis_pool_destroy(pool);

    CHECK_REFUSED(EVERYTHING, "{\"int_map\":{\"x\":\"a\"}}", "int_map[\"x\"]",
                  "invalid key: expected an integer");
    CHECK_REFUSED(EVERYTHING, "{\"int_map\":{\"2147483648\":\"a\"}}", "int_map[\"2147483648\"]",
                  "out of range");
    CHECK_REFUSED(EVERYTHING, "{\"int_map\":{\"01\":\"a\"}}", "int_map[\"01\"]", "invalid key");
    CHECK_REFUSED(EVERYTHING, "{\"flag_map\":{\"1\":1}}", "flag_map[\"1\"]",
                  "key must be \"true\" or \"false\"");
    CHECK_REFUSED(EVERYTHING, "{\"labels\":{\"a\\u0000\":\"b\"}}", "labels[\"a?\"]", "NUL");
    CHECK_REFUSED(EVERYTHING, "{\"inner_map\":{\"q\\\"\":[]}}", "inner_map[\"q\\\"\"]",
                  "expected an object");
}

static void test_strings(void)
{
    check_canonical(
        INNER, "{\"name\":\"\\u00e9\\ud83d\\ude00\\n\\t\\\"\\\\\\/\\b\\f\\r\\u001f\\u007f\"}",
        "{\"name\":\"\xC3\xA9\xF0\x9F\x98\x80\\n\\t\\\"\\\\/\\b\\f\\r\\u001f\x7F\",\"count\":0}");
    check_canonical(INNER, "{\"name\":\"\xE2\x82\xAC \xF4\x8F\xBF\xBF\"}",
                    "{\"name\":\"\xE2\x82\xAC \xF4\x8F\xBF\xBF\",\"count\":0}");
    CHECK_REFUSED(INNER, "{\"name\":\"a\\u0000b\"}", "name", "contains a NUL character");

    /* Invalid UTF-8 that code put in a message still gives valid JSON. */
    mentis_pool_t *pool = new_pool(1 << 20);
    Mentis__Test__Inner *in = make(pool, INNER);
    in->name = text(pool, "a\xFF"
                          "b\xC3"
                          "\xE2\x82"
                          "c\xED\xA0\x80");
    CHECK_STR(encode(pool, &in->base), "{\"name\":\"a\xEF\xBF\xBD"
                                       "b\xEF\xBF\xBD\xEF\xBF\xBD\xEF\xBF\xBD"
                                       "c\xEF\xBF\xBD\xEF\xBF\xBD\xEF\xBF\xBD\",\"count\":0}");
    in->name = NULL; /* read as "" */
    CHECK_STR(encode(pool, &in->base), "{\"name\":\"\",\"count\":0}");
    Mentis__Test__Everything__LabelsEntry *l =
        make(pool, &mentis__test__everything__labels_entry__descriptor);
    Mentis__Test__Everything__LabelsEntry *labels[] = {l};
    l->key = text(pool, "k\x80");
    l->value = text(pool, "\x01");
    Mentis__Test__Everything *e = make(pool, EVERYTHING);
    e->n_labels = 1;
    e->labels = labels;
    CHECK(strstr(encode(pool, &e->base), "\"labels\":{\"k\xEF\xBF\xBD\":\"\\u0001\"}") != NULL);
    mentis_pool_destroy(pool);
}

static void test_floats(void)
{
    struct {
        const char *in, *out;
    } doubles[] = {
        {"0.1", "0.1"},
        {"-0", "-0"},
        {"-0.0", "-0"},
        {"1e308", "1e+308"},
        {"1E2", "100"},
        {"1.7976931348623157e308", "1.7976931348623157e+308"},
        {"5e-324", "5e-324"},
        {"4.9406564584124654e-324", "5e-324"},
        {"1e-400", "0"},
        {"1e16", "10000000000000000"},
        {"1e17", "1e+17"},
        {"9.5", "9.5"},
        {"99.99", "99.99"},
        {"0.0001", "0.0001"},
        {"0.00001", "1e-05"},
        {"123456789012345678", "1.2345678901234568e+17"},
        {"0.30000000000000004", "0.30000000000000004"},
    };
    mentis_pool_t *pool = new_pool(1 << 20);
    for (size_t i = 0; i < sizeof doubles / sizeof doubles[0]; i++) {
        char json[128], want[128];
        snprintf(json, sizeof json, "{\"opt_double\":%s}", doubles[i].in);
        snprintf(want, sizeof want, "{\"opt_double\":%s}", doubles[i].out);
        ProtobufCMessage *m = decode(pool, OPTIONALS, json, NULL);
        CHECK_MSG(m != NULL, "%s", json);
        if (m != NULL)
            CHECK_STR(encode(pool, m), want);
    }
    Mentis__Test__Everything *e = (Mentis__Test__Everything *)decode(
        pool, EVERYTHING, "{\"f_float\":3.4028235e38,\"r_double\":[0.5,1e-300]}", NULL);
    REQUIRE(e != NULL);
    CHECK(e->f_float == 3.4028235e38f);
    CHECK(strstr(encode(pool, &e->base), "\"f_float\":3.4028235e+38") != NULL);

    /* No NaN or infinity in JSON: refused when encoding. */
    Mentis__Test__Everything *made = make(pool, EVERYTHING);
    char *out = NULL;
    made->f_double = NAN;
    CHECK_INT(mentis_codec_encode(&made->base, NULL, pool, &out, NULL), MENTIS_ERR_INTERNAL);
    CHECK(strstr(mentis_err_msg(), "f_double") != NULL);
    made->f_double = 0;
    made->f_float = -INFINITY;
    CHECK_INT(mentis_codec_encode(&made->base, NULL, pool, &out, NULL), MENTIS_ERR_INTERNAL);
    CHECK(strstr(mentis_err_msg(), "f_float") != NULL);
    made->f_float = 0;
    double r[] = {1, INFINITY};
    made->n_r_double = 2;
    made->r_double = r;
    CHECK_INT(mentis_codec_encode(&made->base, NULL, pool, &out, NULL), MENTIS_ERR_INTERNAL);
    CHECK(strstr(mentis_err_msg(), "r_double[1]") != NULL);
    mentis_pool_destroy(pool);

    CHECK_REFUSED(EVERYTHING, "{\"f_double\":1e309}", "f_double", "out of range for double");
    CHECK_REFUSED(EVERYTHING, "{\"f_double\":-1e309}", "f_double", "out of range");
    CHECK_REFUSED(EVERYTHING, "{\"f_float\":3.5e38}", "f_float", "out of range for float");
    CHECK_REFUSED(EVERYTHING, "{\"f_float\":\"NaN\"}", "f_float",
                  "expected a number, got a string");
}

/* Any finite double or float, written and read back, is the same bits. */
static void test_float_bits_round_trip(void)
{
    mentis_pool_t *pool = new_pool(1 << 20);
    uint64_t x = 0x9E3779B97F4A7C15u;
    int failures = 0;
    for (int i = 0; i < 10000 && failures < 5; i++) {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        double d;
        float f;
        uint32_t fbits = (uint32_t)(x >> 32);
        memcpy(&d, &x, sizeof d);
        memcpy(&f, &fbits, sizeof f);
        Mentis__Test__Everything *e = make(pool, EVERYTHING);
        e->f_double = isfinite(d) ? d : (double)i;
        e->f_float = isfinite(f) ? f : (float)i;
        const char *json = encode(pool, &e->base);
        Mentis__Test__Everything *back =
            json != NULL ? (Mentis__Test__Everything *)decode(pool, EVERYTHING, json, NULL) : NULL;
        if (back == NULL || memcmp(&back->f_double, &e->f_double, sizeof d) != 0 ||
            memcmp(&back->f_float, &e->f_float, sizeof f) != 0) {
            failures++;
            CHECK_MSG(false, "%.17g / %.9g: %s", e->f_double, (double)e->f_float,
                      json ? json : "(null)");
        }
        mentis_pool_reset(pool);
    }
    CHECK_INT(failures, 0);
    mentis_pool_destroy(pool);
}

static void test_depth_limit(void)
{
    char json[2048];
    size_t len = 0;
    /* Depth 1 is the outer object; each "inner"/"child" adds one. */
    for (int depth = 30; depth <= 34; depth++) {
        len = 0;
        len += (size_t)snprintf(json + len, sizeof json - len, "{\"inner\":");
        for (int i = 2; i < depth; i++)
            len += (size_t)snprintf(json + len, sizeof json - len, "{\"child\":");
        len += (size_t)snprintf(json + len, sizeof json - len, "{}");
        for (int i = 1; i < depth; i++)
            json[len++] = '}';
        json[len] = '\0';
        mentis_pool_t *pool = new_pool(1 << 20);
        mentis_codec_problems_t pr = {0};
        ProtobufCMessage *m = decode(pool, EVERYTHING, json, &pr);
        if (depth <= 32) {
            CHECK_MSG(m != NULL, "depth %d", depth);
        } else {
            CHECK_MSG(m == NULL, "depth %d", depth);
            REQUIRE(pr.count == 1);
            CHECK_STR(pr.items[0].message, "nested deeper than 32 levels");
            CHECK(strncmp(pr.items[0].field, "inner.child.child", 17) == 0);
        }
        mentis_pool_destroy(pool);
    }
    /* Deep arrays under an unknown key are refused the same way, and never recurse far. */
    mentis_pool_t *pool = new_pool(1 << 20);
    static char deep[200000];
    memset(deep, '[', sizeof deep - 1);
    memcpy(deep, "{\"x\":", 5);
    deep[sizeof deep - 1] = '\0';
    mentis_codec_problems_t pr = {0};
    CHECK(decode(pool, EVERYTHING, deep, &pr) == NULL);
    CHECK(has_problem(&pr, "", "nested deeper than 32 levels"));
    /* A caller may allow more, up to MENTIS_CODEC_MAX_DEPTH. */
    mentis_codec_limits_t lim = {.max_depth = 1000};
    ProtobufCMessage *m = NULL;
    mentis_codec_problems_clear(&pr);
    CHECK_INT(mentis_codec_decode(EVERYTHING, deep, strlen(deep), &lim, pool, &pr, &m),
              MENTIS_ERR_INVALID_ARGUMENT);
    CHECK(has_problem(&pr, "", "nested deeper than 128 levels"));
    lim.max_depth = 40;
    CHECK_INT(mentis_codec_decode(EVERYTHING, json, strlen(json), &lim, pool, NULL, &m), MENTIS_OK);
    mentis_pool_destroy(pool);
}

static void test_size_limits(void)
{
    mentis_pool_t *pool = new_pool(1 << 20);
    mentis_codec_problems_t pr = {0};
    ProtobufCMessage *m = NULL;
    mentis_codec_limits_t lim = {.max_input = 16, .max_items = 3};
    const char *json = "{\"f_string\":\"0123456789\"}";
    CHECK_INT(mentis_codec_decode(EVERYTHING, json, strlen(json), &lim, pool, &pr, &m),
              MENTIS_ERR_TOO_LARGE);
    CHECK(m == NULL);
    CHECK(has_problem(&pr, "", "at most 16"));
    lim.max_input = 0;
    json = "{\"r_int32\":[1,2,3]}";
    CHECK_INT(mentis_codec_decode(EVERYTHING, json, strlen(json), &lim, pool, NULL, &m), MENTIS_OK);
    mentis_codec_problems_clear(&pr);
    json = "{\"r_int32\":[1,2,3,4]}";
    CHECK_INT(mentis_codec_decode(EVERYTHING, json, strlen(json), &lim, pool, &pr, &m),
              MENTIS_ERR_INVALID_ARGUMENT);
    CHECK(has_problem(&pr, "r_int32", "more than 3 elements"));
    mentis_codec_problems_clear(&pr);
    json = "{\"labels\":{\"a\":\"\",\"b\":\"\",\"c\":\"\",\"d\":\"\"}}";
    CHECK_INT(mentis_codec_decode(EVERYTHING, json, strlen(json), &lim, pool, &pr, &m),
              MENTIS_ERR_INVALID_ARGUMENT);
    CHECK(has_problem(&pr, "labels", "more than 3 entries"));
    mentis_codec_problems_clear(&pr);
    json = "{\"x\":[1,2,3,4]}"; /* unknown, and arbitrarily long: only passed over */
    CHECK_INT(mentis_codec_decode(EVERYTHING, json, strlen(json), &lim, pool, &pr, &m),
              MENTIS_ERR_INVALID_ARGUMENT);
    CHECK_INT(pr.count, 1);
    mentis_pool_destroy(pool);
}

/* Every cap from tiny to enough: decode either works or says TOO_LARGE, never crashes. */
static void test_pool_cap(void)
{
    size_t worked_at = 0;
    for (size_t cap = 4096 + 64; cap < 200000 && worked_at == 0; cap += 257) {
        mentis_pool_t *pool = NULL;
        REQUIRE(mentis_pool_create(256, cap, &pool) == MENTIS_OK);
        mentis_codec_problems_t pr = {0};
        ProtobufCMessage *m = NULL;
        mentis_status_t st = mentis_codec_decode(EVERYTHING, full_everything,
                                                 strlen(full_everything), NULL, pool, &pr, &m);
        if (st == MENTIS_OK) {
            worked_at = cap;
            CHECK(m != NULL);
        } else {
            CHECK_MSG(st == MENTIS_ERR_TOO_LARGE, "cap %zu: %s", cap, mentis_status_str(st));
            CHECK(m == NULL);
            CHECK(has_problem(&pr, pr.count ? pr.items[0].field : "", "more memory than allowed"));
        }
        mentis_pool_destroy(pool);
    }
    CHECK(worked_at > 0);

    /* A long array that needs more than the cap. */
    static char big[400000];
    size_t len = (size_t)snprintf(big, sizeof big, "{\"r_int64\":[");
    for (int i = 0; i < 9000; i++)
        len += (size_t)snprintf(big + len, sizeof big - len, "%s9223372036854775807", i ? "," : "");
    len += (size_t)snprintf(big + len, sizeof big - len, "]}");
    mentis_pool_t *pool = NULL;
    REQUIRE(mentis_pool_create(4096, 64 << 10, &pool) == MENTIS_OK);
    ProtobufCMessage *m = NULL;
    mentis_codec_problems_t pr = {0};
    CHECK_INT(mentis_codec_decode(EVERYTHING, big, len, NULL, pool, &pr, &m), MENTIS_ERR_TOO_LARGE);
    REQUIRE(pr.count == 1);
    CHECK_STR(pr.items[0].field, "r_int64");
    CHECK_STR(pr.items[0].message, "the request needs more memory than allowed");
    mentis_pool_destroy(pool);

    /* Encoding: a pool too small for the text, and a text longer than max_len. */
    REQUIRE(mentis_pool_create(4096, 1 << 20, &pool) == MENTIS_OK);
    m = decode(pool, EVERYTHING, full_everything, NULL);
    REQUIRE(m != NULL);
    mentis_pool_t *small = NULL;
    REQUIRE(mentis_pool_create(256, 1024, &small) == MENTIS_OK);
    char *out = NULL;
    CHECK_INT(mentis_codec_encode(m, NULL, small, &out, NULL), MENTIS_ERR_NO_MEMORY);
    CHECK(out == NULL);
    mentis_codec_output_t o = {.max_len = strlen(full_everything) - 1};
    CHECK_INT(mentis_codec_encode(m, &o, pool, &out, NULL), MENTIS_ERR_NO_MEMORY);
    CHECK(out == NULL);
    o.max_len = strlen(full_everything);
    o.headroom = 16;
    size_t n = 0;
    CHECK_INT(mentis_codec_encode(m, &o, pool, &out, &n), MENTIS_OK);
    CHECK_INT(n, strlen(full_everything));
    CHECK_STR(out, full_everything);
    if (out != NULL)
        memset(out - 16, 0, 16); /* the headroom is ours to write */
    mentis_pool_destroy(small);
    mentis_pool_destroy(pool);
}

static void check_set(const char *name, const char *value, const char *expect_fragment)
{
    mentis_pool_t *pool = new_pool(1 << 20);
    Mentis__Test__Everything *e = (Mentis__Test__Everything *)decode(pool, EVERYTHING, "{}", NULL);
    REQUIRE(e != NULL);
    mentis_codec_problems_t pr = {0};
    mentis_status_t st = mentis_codec_set_text(&e->base, name, value, strlen(value), pool, &pr);
    CHECK_MSG(st == MENTIS_OK, "%s=%s: %s", name, value, mentis_err_msg());
    const char *json = encode(pool, &e->base);
    CHECK_MSG(json != NULL && strstr(json, expect_fragment) != NULL, "%s=%s: %s lacks %s", name,
              value, json ? json : "(null)", expect_fragment);
    mentis_pool_destroy(pool);
}

static void check_set_refused(const char *name, const char *value, const char *part)
{
    mentis_pool_t *pool = new_pool(1 << 20);
    Mentis__Test__Everything *e = (Mentis__Test__Everything *)decode(pool, EVERYTHING, "{}", NULL);
    REQUIRE(e != NULL);
    mentis_codec_problems_t pr = {0};
    mentis_status_t st = mentis_codec_set_text(&e->base, name, value, strlen(value), pool, &pr);
    CHECK_MSG(st == MENTIS_ERR_INVALID_ARGUMENT, "%s=%s: %s", name, value, mentis_status_str(st));
    CHECK_MSG(has_problem(&pr, name, part), "%s=%s: %s", name, value,
              pr.count ? pr.items[0].message : "(none)");
    CHECK_MSG(strstr(mentis_err_msg(), name) != NULL, "%s", mentis_err_msg());
    mentis_pool_destroy(pool);
}

static void test_set_text(void)
{
    check_set("f_int32", "-2147483648", "\"f_int32\":-2147483648,");
    check_set("fInt64", "-9223372036854775808", "\"f_int64\":-9223372036854775808,");
    check_set("f_uint32", "4294967295", "\"f_uint32\":4294967295,");
    check_set("f_uint64", "18446744073709551615", "\"f_uint64\":18446744073709551615,");
    check_set("f_sint32", "-1", "\"f_sint32\":-1,");
    check_set("f_sint64", "9007199254740993", "\"f_sint64\":9007199254740993,");
    check_set("f_fixed32", "1", "\"f_fixed32\":1,");
    check_set("f_fixed64", "2", "\"f_fixed64\":2,");
    check_set("f_sfixed32", "-3", "\"f_sfixed32\":-3,");
    check_set("f_sfixed64", "-4", "\"f_sfixed64\":-4,");
    check_set("f_float", "1.5", "\"f_float\":1.5,");
    check_set("f_double", "2.5e3", "\"f_double\":2500,");
    check_set("f_bool", "true", "\"f_bool\":true,");
    check_set("f_bool", "1", "\"f_bool\":true,");
    check_set("f_bool", "false", "\"f_bool\":false,");
    check_set("f_bool", "0", "\"f_bool\":false,");
    check_set("f_string", "h\xC3\xA9 \"q\"", "\"f_string\":\"h\xC3\xA9 \\\"q\\\"\",");
    check_set("f_string", "", "\"f_string\":\"\",");
    check_set("f_bytes", "aGk", "\"f_bytes\":\"aGk=\",");
    check_set("f_bytes", "-_8", "\"f_bytes\":\"+/8=\",");
    check_set("color", "green", "\"color\":\"green\",");
    check_set("color", "COLOR_DARK_BLUE", "\"color\":\"dark_blue\",");
    check_set("color", "1", "\"color\":\"red\",");
    check_set("method", "post", "\"method\":\"post\"");
    check_set("created_at", "2026-11-23T12:20:00.5+02:00",
              "\"created_at\":\"2026-11-23T10:20:00.500Z\",");
    check_set("createdAt", "2026-11-23T10:20:00Z", "\"created_at\":\"2026-11-23T10:20:00Z\",");
    check_set("display_name", "Ada", "\"display_name\":\"Ada\",");
    check_set("r_time", "2026-11-23T10:20:00Z", "\"r_time\":[\"2026-11-23T10:20:00Z\"]");
    check_set("r_bool", "1", "\"r_bool\":[true]");
    check_set("r_bytes", "Zm9v", "\"r_bytes\":[\"Zm9v\"]");
    check_set("inner.name", "x", "\"inner\":{\"name\":\"x\",\"count\":0}");
    check_set("inner.child.count", "7",
              "\"inner\":{\"name\":\"\",\"count\":0,\"child\":{\"name\":\"\",\"count\":7}}");
    check_set("optionals.optInt32", "0", "\"optionals\":{\"opt_int32\":0}");
    check_set("optionals.opt_level", "high", "\"optionals\":{\"opt_level\":\"high\"}");
    check_set("choice_number", "-5", "\"choice_number\":-5}");
    check_set("choice_inner.count", "2", "\"choice_inner\":{\"name\":\"\",\"count\":2}}");

    check_set_refused("nope", "1", "unknown parameter");
    check_set_refused("inner.nope", "1", "unknown parameter");
    check_set_refused("f_int32", "1.5", "without fraction");
    check_set_refused("f_int32", "", "expected an integer");
    check_set_refused("f_int32", "2147483648", "out of range");
    check_set_refused("f_uint64", "-1", "out of range");
    check_set_refused("f_int64", "10 ", "expected an integer");
    check_set_refused("f_bool", "yes", "expected true, false, 1 or 0");
    check_set_refused("f_bool", "TRUE", "expected true, false, 1 or 0");
    check_set_refused("f_double", "inf", "expected a number");
    check_set_refused("f_double", "1e999", "out of range");
    check_set_refused("f_double", "0x10", "expected a number");
    check_set_refused("color", "unspecified", "allowed: red, green, dark_blue");
    check_set_refused("color", "0", "allowed: red, green, dark_blue");
    check_set_refused("f_bytes", "a", "invalid base64");
    check_set_refused("f_string", "\xC3", "not valid UTF-8");
    check_set_refused("created_at", "2026-02-30T00:00:00Z", "no such date");
    check_set_refused("created_at", "2026-11-23T10:20:00 02:00", "RFC 3339");
    check_set_refused("inner", "x", "an object cannot be set from a parameter");
    check_set_refused("r_inner", "x", "an object cannot be set");
    check_set_refused("labels", "a", "a map cannot be set from a parameter");
    check_set_refused("f_int32.x", "1", "has no fields to set");
    check_set_refused("created_at.seconds", "1", "has no fields to set");
    check_set_refused("r_inner.name", "1", "has no fields to set");
    check_set_refused("", "1", "unknown parameter");
    check_set_refused("inner.", "1", "unknown parameter");

    /* A NUL inside a value cannot reach a C string. */
    mentis_pool_t *pool = new_pool(1 << 20);
    Mentis__Test__Everything *e = (Mentis__Test__Everything *)decode(pool, EVERYTHING, "{}", NULL);
    REQUIRE(e != NULL);
    mentis_codec_problems_t pr = {0};
    CHECK_INT(mentis_codec_set_text(&e->base, "f_string", "a\0b", 3, pool, &pr),
              MENTIS_ERR_INVALID_ARGUMENT);
    CHECK(has_problem(&pr, "f_string", "NUL"));

    /* Repeated fields: each call appends; singular ones take the last value. */
    const char *values[] = {"1", "2", "3"};
    for (size_t i = 0; i < 3; i++) {
        CHECK(mentis_codec_set_text(&e->base, "r_int32", values[i], 1, pool, NULL) == MENTIS_OK);
        CHECK(mentis_codec_set_text(&e->base, "rColor", i == 1 ? "green" : "red", i == 1 ? 5 : 3,
                                    pool, NULL) == MENTIS_OK);
        CHECK(mentis_codec_set_text(&e->base, "f_int32", values[i], 1, pool, NULL) == MENTIS_OK);
        CHECK(mentis_codec_set_text(&e->base, "r_string", values[i], 1, pool, NULL) == MENTIS_OK);
        CHECK(mentis_codec_set_text(&e->base, "r_uint64", "18446744073709551615", 20, pool, NULL) ==
              MENTIS_OK);
    }
    const char *json = encode(pool, &e->base);
    REQUIRE(json != NULL);
    CHECK(strstr(json, "\"f_int32\":3,") != NULL);
    CHECK(strstr(json, "\"r_int32\":[1,2,3]") != NULL);
    CHECK(strstr(json, "\"r_color\":[\"red\",\"green\",\"red\"]") != NULL);
    CHECK(strstr(json, "\"r_string\":[\"1\",\"2\",\"3\"]") != NULL);
    CHECK(strstr(json,
                 "\"r_uint64\":[18446744073709551615,18446744073709551615,18446744073709551615]") !=
          NULL);

    /* Appending keeps what a body already gave. */
    e = (Mentis__Test__Everything *)decode(pool, EVERYTHING,
                                           "{\"r_int64\":[7],\"choice_text\":\"t\"}", NULL);
    REQUIRE(e != NULL);
    CHECK(mentis_codec_set_text(&e->base, "r_int64", "8", 1, pool, NULL) == MENTIS_OK);
    REQUIRE(e->n_r_int64 == 2);
    CHECK(e->r_int64[0] == 7 && e->r_int64[1] == 8);
    /* A oneof member while another is set is refused; the same member is replaced. */
    mentis_codec_problems_clear(&pr);
    CHECK_INT(mentis_codec_set_text(&e->base, "choice_number", "1", 1, pool, &pr),
              MENTIS_ERR_INVALID_ARGUMENT);
    CHECK(has_problem(&pr, "choice_number", "conflicts with \"choice_text\""));
    CHECK_INT(mentis_codec_set_text(&e->base, "choice_inner.name", "1", 1, pool, &pr),
              MENTIS_ERR_INVALID_ARGUMENT);
    CHECK_INT(mentis_codec_set_text(&e->base, "choiceText", "u", 1, pool, &pr), MENTIS_OK);
    CHECK_STR(e->choice_text, "u");

    /* Problems from a body and its parameters gather in one list. */
    mentis_codec_problems_clear(&pr);
    ProtobufCMessage *m = NULL;
    CHECK_INT(mentis_codec_decode(EVERYTHING, "{\"bad\":1}", 9, NULL, pool, &pr, &m),
              MENTIS_ERR_INVALID_ARGUMENT);
    CHECK_INT(mentis_codec_set_text(&e->base, "limit", "10", 2, pool, &pr),
              MENTIS_ERR_INVALID_ARGUMENT);
    REQUIRE(pr.count == 2);
    CHECK_STR(pr.items[0].field, "bad");
    CHECK_STR(pr.items[1].field, "limit");
    CHECK_STR(mentis_err_msg(), "parameter \"limit\": unknown parameter");
    /* An invalid UTF-8 name still gives a valid UTF-8 problem. */
    mentis_codec_problems_clear(&pr);
    CHECK_INT(mentis_codec_set_text(&e->base, "\xFFx", "1", 1, pool, &pr),
              MENTIS_ERR_INVALID_ARGUMENT);
    REQUIRE(pr.count == 1);
    CHECK_STR(pr.items[0].field, "?x");
    mentis_pool_destroy(pool);

    /* A full pool is TOO_LARGE, not a crash. */
    REQUIRE(mentis_pool_create(256, 4096 + 256, &pool) == MENTIS_OK);
    e = (Mentis__Test__Everything *)decode(pool, EVERYTHING, "{}", NULL);
    REQUIRE(e != NULL);
    mentis_status_t st = MENTIS_OK;
    for (int i = 0; i < 1000 && st == MENTIS_OK; i++)
        st = mentis_codec_set_text(&e->base, "r_string", "abcdefgh", 8, pool, NULL);
    CHECK_INT(st, MENTIS_ERR_TOO_LARGE);
    mentis_pool_destroy(pool);
}

static void test_health_response(void)
{
    /* The shape common.proto promises, on a real message. */
    const char *json = "{\"service\":\"kb\",\"version\":\"0.1.0\",\"instance_id\":\"i-1\","
                       "\"status\":\"degraded\",\"checks\":[{\"name\":\"postgres\",\"ok\":false,"
                       "\"detail\":\"down\"}],\"started_at\":\"2026-11-23T10:20:00.123Z\","
                       "\"uptime_seconds\":9007199254740993}";
    check_canonical(&mentis__v1__health_response__descriptor, json, json);
    check_canonical(
        &mentis__v1__health_response__descriptor,
        "{\"instanceId\":\"i\",\"status\":\"SERVING_STATUS_OK\",\"uptimeSeconds\":\"5\"}",
        "{\"service\":\"\",\"version\":\"\",\"instance_id\":\"i\",\"status\":\"ok\","
        "\"checks\":[],\"uptime_seconds\":5}");
    CHECK_REFUSED(&mentis__v1__health_response__descriptor, "{\"status\":\"unspecified\"}",
                  "status", "(allowed: ok, degraded)");
    CHECK_REFUSED(&mentis__v1__health_response__descriptor, "{\"checks\":[{\"ok\":\"yes\"}]}",
                  "checks[0].ok", "expected true or false");
}

static void test_schema(void)
{
    mentis_pool_t *pool = new_pool(1 << 20);
    char *out = NULL;
    size_t len = 0;
    CHECK_INT(mentis_codec_schema(INNER, "#/components/schemas/", NULL, pool, &out, &len),
              MENTIS_OK);
    CHECK_STR(out, "{\"type\":\"object\",\"properties\":{"
                   "\"name\":{\"type\":\"string\"},"
                   "\"count\":{\"type\":\"integer\",\"format\":\"int32\"},"
                   "\"color\":{\"type\":\"string\",\"enum\":[\"red\",\"green\",\"dark_blue\"]},"
                   "\"child\":{\"$ref\":\"#/components/schemas/mentis.test.Inner\"}},"
                   "\"additionalProperties\":false}");
    CHECK_INT(len, strlen(out));
    /* In place, a type inside itself stops at a plain object. */
    CHECK_INT(mentis_codec_schema(INNER, NULL, NULL, pool, &out, &len), MENTIS_OK);
    CHECK(strstr(out, "\"child\":{\"type\":\"object\"}}") != NULL);

    CHECK_INT(mentis_codec_schema(EVERYTHING, "#/c/", NULL, pool, &out, &len), MENTIS_OK);
    const char *fragments[] = {
        "\"f_int64\":{\"type\":\"integer\",\"format\":\"int64\"}",
        "\"f_uint64\":{\"type\":\"integer\",\"format\":\"uint64\",\"minimum\":0}",
        "\"f_uint32\":{\"type\":\"integer\",\"format\":\"uint32\",\"minimum\":0,\"maximum\":"
        "4294967295}",
        "\"f_float\":{\"type\":\"number\",\"format\":\"float\"}",
        "\"f_double\":{\"type\":\"number\",\"format\":\"double\"}",
        "\"f_bool\":{\"type\":\"boolean\"}",
        "\"f_bytes\":{\"type\":\"string\",\"format\":\"byte\"}",
        "\"created_at\":{\"type\":\"string\",\"format\":\"date-time\"}",
        "\"r_int32\":{\"type\":\"array\",\"items\":{\"type\":\"integer\",\"format\":\"int32\"}}",
        "\"r_inner\":{\"type\":\"array\",\"items\":{\"$ref\":\"#/c/mentis.test.Inner\"}}",
        "\"r_time\":{\"type\":\"array\",\"items\":{\"type\":\"string\",\"format\":\"date-time\"}}",
        "\"labels\":{\"type\":\"object\",\"additionalProperties\":{\"type\":\"string\"}}",
        "\"inner_map\":{\"type\":\"object\",\"additionalProperties\":{\"$ref\":\"#/c/"
        "mentis.test.Inner\"}}",
        "\"method\":{\"type\":\"string\",\"enum\":[\"get\",\"post\"]}",
        "\"optionals\":{\"$ref\":\"#/c/mentis.test.Optionals\"}",
    };
    for (size_t i = 0; i < sizeof fragments / sizeof fragments[0]; i++)
        CHECK_MSG(strstr(out, fragments[i]) != NULL, "schema lacks %s", fragments[i]);
    /* The schema is itself JSON that the codec's own reader accepts (as a map of strings
     * it is not, but its syntax is checked by decoding it into a message that refuses it
     * only for its keys). */
    mentis_codec_problems_t pr = {0};
    ProtobufCMessage *m = NULL;
    CHECK_INT(mentis_codec_decode(INNER, out, len, NULL, pool, &pr, &m),
              MENTIS_ERR_INVALID_ARGUMENT);
    CHECK(pr.count > 0 && strncmp(pr.items[0].message, "malformed", 9) != 0);

    const ProtobufCMessageDescriptor *types[8];
    size_t n = 0;
    CHECK_INT(mentis_codec_schema_types(EVERYTHING, types, 8, &n), MENTIS_OK);
    REQUIRE(n == 3);
    CHECK(types[0] == EVERYTHING);
    CHECK(types[1] == INNER);
    CHECK(types[2] == OPTIONALS);
    CHECK_INT(mentis_codec_schema_types(EVERYTHING, types, 2, &n), MENTIS_ERR_TOO_LARGE);
    CHECK_INT(mentis_codec_schema_types(&mentis__v1__health_response__descriptor, types, 8, &n),
              MENTIS_OK);
    CHECK_INT(n, 2);
    mentis_codec_output_t small = {.max_len = 10};
    CHECK_INT(mentis_codec_schema(EVERYTHING, NULL, &small, pool, &out, &len),
              MENTIS_ERR_NO_MEMORY);
    mentis_pool_destroy(pool);
}

static void test_null_arguments(void)
{
    mentis_pool_t *pool = new_pool(1 << 20);
    ProtobufCMessage *m = NULL;
    char *out = NULL;
    CHECK_INT(mentis_codec_decode(NULL, "{}", 2, NULL, pool, NULL, &m), MENTIS_ERR_INTERNAL);
    CHECK_INT(mentis_codec_decode(INNER, NULL, 2, NULL, pool, NULL, &m), MENTIS_ERR_INTERNAL);
    CHECK_INT(mentis_codec_decode(INNER, "{}", 2, NULL, NULL, NULL, &m), MENTIS_ERR_INTERNAL);
    CHECK_INT(mentis_codec_decode(INNER, NULL, 0, NULL, pool, NULL, &m),
              MENTIS_ERR_INVALID_ARGUMENT);
    CHECK_INT(mentis_codec_encode(NULL, NULL, pool, &out, NULL), MENTIS_ERR_INTERNAL);
    CHECK_INT(mentis_codec_set_text(NULL, "a", "1", 1, pool, NULL), MENTIS_ERR_INTERNAL);
    CHECK_INT(mentis_codec_schema(NULL, NULL, NULL, pool, &out, NULL), MENTIS_ERR_INTERNAL);
    mentis_codec_problems_clear(NULL);
    mentis_pool_destroy(pool);
}

/* A JsonValue is any JSON value, checked and kept as its exact text; output writes it back. */
static void test_json_values(void)
{
    check_canonical(DOCUMENT, "{\"document\": {\"b\" : [1, 2.50, \"\\u00e9\"], \"a\":null}}",
                    "{\"name\":\"\",\"document\":{\"b\" : [1, 2.50, \"\\u00e9\"], \"a\":null},"
                    "\"items\":[]}");
    check_canonical(DOCUMENT, "{\"items\":[1,\"x\",[null],{},true,false]}",
                    "{\"name\":\"\",\"items\":[1,\"x\",[null],{},true,false]}");
    CHECK_REFUSED(DOCUMENT, "{\"items\":[1,null]}", "items[1]", "null is not allowed");
    check_canonical(DOCUMENT, "{\"document\":\"text\"}",
                    "{\"name\":\"\",\"document\":\"text\",\"items\":[]}");
    /* null means "not set", as for every field. */
    check_canonical(DOCUMENT, "{\"document\":null}", "{\"name\":\"\",\"items\":[]}");

    mentis_pool_t *pool = new_pool(1 << 20);
    mentis_codec_problems_t problems = {0};
    Mentis__Test__Document *d = (Mentis__Test__Document *)decode(
        pool, DOCUMENT, "{\"document\":{\"k\":[true]}, \"name\":\"n\"}", &problems);
    CHECK(d != NULL && d->document != NULL);
    if (d != NULL && d->document != NULL)
        CHECK_STR(d->document->json, "{\"k\":[true]}");
    /* On its own, the message is the value itself. */
    const char *top = " [ {\"a\" :1} ] ";
    ProtobufCMessage *m = NULL;
    CHECK_INT(mentis_codec_decode(&mentis__v1__json_value__descriptor, top, strlen(top), NULL, pool,
                                  NULL, &m),
              MENTIS_OK);
    if (m != NULL) {
        CHECK_STR(((Mentis__V1__JsonValue *)m)->json, "[ {\"a\" :1} ]");
        CHECK_STR(encode(pool, m), "[ {\"a\" :1} ]");
    }
    /* Output: a service's text must be one JSON value, or the reply is refused whole. */
    Mentis__V1__JsonValue *bad = make(pool, &mentis__v1__json_value__descriptor);
    Mentis__Test__Document *out = make(pool, DOCUMENT);
    out->document = bad;
    const char *bad_texts[] = {"{", "{\"a\":1} x", "[1,]", "\"\x01\"", "nul", ""};
    char *text = NULL;
    for (size_t i = 0; i < sizeof bad_texts / sizeof bad_texts[0]; i++) {
        bad->json = mentis_pool_strdup(pool, bad_texts[i]);
        if (bad_texts[i][0] == '\0') /* empty is unset: null */
            CHECK_STR(encode(pool, &out->base), "{\"name\":\"\",\"document\":null,\"items\":[]}");
        else
            CHECK_MSG(mentis_codec_encode(&out->base, NULL, pool, &text, NULL) ==
                          MENTIS_ERR_INTERNAL,
                      "%s was written", bad_texts[i]);
    }
    mentis_pool_destroy(pool);

    /* Input: the same strict reader as everywhere, with the same nesting limit. */
    CHECK_REFUSED(DOCUMENT, "{\"document\":{\"a\":}}", "", "unexpected");
    CHECK_REFUSED(DOCUMENT, "{\"document\":[1,]}", "", "unexpected");
    CHECK_REFUSED(DOCUMENT, "{\"document\":\"\xff\"}", "", "UTF-8");
    char deep[200] = "{\"document\":";
    for (int i = 0; i < 40; i++)
        strcat(deep, "[");
    for (int i = 0; i < 40; i++)
        strcat(deep, "]");
    strcat(deep, "}");
    CHECK_REFUSED(DOCUMENT, deep, "document", "nested deeper");
    /* Parameters cannot set a document, nor reach inside one. */
    pool = new_pool(1 << 20);
    d = (Mentis__Test__Document *)decode(pool, DOCUMENT, "{}", &problems);
    mentis_codec_problems_t pp = {0};
    CHECK_INT(mentis_codec_set_text(&d->base, "document", "{}", 2, pool, &pp),
              MENTIS_ERR_INVALID_ARGUMENT);
    CHECK_INT(mentis_codec_set_text(&d->base, "document.json", "{", 1, pool, &pp),
              MENTIS_ERR_INVALID_ARGUMENT);
    /* Its schema is any value. */
    CHECK_INT(mentis_codec_schema(DOCUMENT, NULL, NULL, pool, &text, NULL), MENTIS_OK);
    CHECK(strstr(text, "\"document\":{}") != NULL);
    mentis_pool_destroy(pool);
}

TEST_MAIN(test_empty_message, test_full_round_trip, test_camel_case_keys, test_int64_exact,
          test_integer_syntax, test_wrong_types, test_unknown_fields, test_duplicate_keys,
          test_many_problems, test_malformed_json, test_enums, test_enum_output, test_bytes,
          test_timestamps, test_timestamp_output_limits, test_null, test_oneof, test_presence,
          test_maps, test_strings, test_floats, test_float_bits_round_trip, test_depth_limit,
          test_size_limits, test_pool_cap, test_set_text, test_health_response, test_schema,
          test_null_arguments, test_json_values)
