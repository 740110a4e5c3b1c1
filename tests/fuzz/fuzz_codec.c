/*
 * The JSON codec on bytes from anywhere: request bodies are the gateway's widest door.
 * Whatever decodes must encode, and its encoding must decode again and encode to the very
 * same bytes (encode is a fixed point of decode). Inputs of the form name=value are also
 * applied as a URL parameter.
 */
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "mentis/codec.h"
#include "mentis/test/codec_optional.pb-c.h"
#include "mentis/test/codec_test.pb-c.h"
#include "mentis/v1/common.pb-c.h"

static void round_trip(const ProtobufCMessageDescriptor *desc, const uint8_t *data, size_t size,
                       mentis_pool_t *pool)
{
    mentis_codec_problems_t problems = {0};
    ProtobufCMessage *m = NULL;
    if (mentis_codec_decode(desc, (const char *)data, size, NULL, pool, &problems, &m) !=
        MENTIS_OK) {
        if (problems.count == 0 || m != NULL) /* every refusal says why, and gives nothing */
            __builtin_trap();
        return;
    }
    char *first = NULL, *second = NULL;
    size_t first_len = 0, second_len = 0;
    if (mentis_codec_encode(m, NULL, pool, &first, &first_len) != MENTIS_OK)
        __builtin_trap();
    /* The encoding may be longer than the input ("{}" gains every scalar): no input cap. */
    static const mentis_codec_limits_t unlimited_input = {.max_input = (size_t)1 << 30};
    ProtobufCMessage *again = NULL;
    if (mentis_codec_decode(desc, first, first_len, &unlimited_input, pool, NULL, &again) !=
        MENTIS_OK)
        __builtin_trap();
    if (mentis_codec_encode(again, NULL, pool, &second, &second_len) != MENTIS_OK)
        __builtin_trap();
    if (first_len != second_len || memcmp(first, second, first_len) != 0)
        __builtin_trap();
    /* A decoded message is a real protobuf-c message. */
    size_t packed = protobuf_c_message_get_packed_size(m);
    uint8_t *buf = mentis_pool_alloc(pool, packed + 1);
    if (buf != NULL && protobuf_c_message_pack(m, buf) != packed)
        __builtin_trap();
}

static void parameter(const uint8_t *data, size_t size, mentis_pool_t *pool)
{
    const uint8_t *eq = memchr(data, '=', size);
    if (eq == NULL || eq - data > 64)
        return;
    char name[65];
    memcpy(name, data, (size_t)(eq - data));
    name[eq - data] = '\0';
    ProtobufCMessage *m = NULL;
    if (mentis_codec_decode(&mentis__test__everything__descriptor, "{}", 2, NULL, pool, NULL, &m) !=
        MENTIS_OK)
        __builtin_trap();
    const char *value = (const char *)eq + 1;
    size_t value_len = size - (size_t)(eq - data) - 1;
    /* Twice: repeated fields append, singular ones are replaced. */
    for (int i = 0; i < 2; i++)
        if (mentis_codec_set_text(m, name, value, value_len, pool, NULL) != MENTIS_OK)
            return;
    char *json = NULL;
    size_t len = 0;
    ProtobufCMessage *again = NULL;
    if (mentis_codec_encode(m, NULL, pool, &json, &len) != MENTIS_OK ||
        mentis_codec_decode(&mentis__test__everything__descriptor, json, len, NULL, pool, NULL,
                            &again) != MENTIS_OK)
        __builtin_trap();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static const ProtobufCMessageDescriptor *const types[] = {
        &mentis__test__everything__descriptor,
        &mentis__test__optionals__descriptor,
        &mentis__v1__health_response__descriptor,
        &mentis__test__document__descriptor,
        &mentis__v1__json_value__descriptor,
    };
    mentis_pool_t *pool = NULL;
    if (mentis_pool_create(4096, 4 << 20, &pool) != MENTIS_OK)
        return 0;
    for (size_t i = 0; i < sizeof types / sizeof types[0]; i++) {
        round_trip(types[i], data, size, pool);
        mentis_pool_reset(pool);
    }
    parameter(data, size, pool);
    mentis_pool_destroy(pool);
    return 0;
}
