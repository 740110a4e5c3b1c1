/*
 * What the codec's files share: value conversions, field access through descriptors,
 * names, paths of problems, and the output buffer.
 */
#ifndef MENTIS_CODEC_INTERNAL_H
#define MENTIS_CODEC_INTERNAL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "mentis/codec.h"

/* One value of any field type, as protobuf-c stores it. */
typedef union {
    int32_t i32;
    uint32_t u32;
    int64_t i64;
    uint64_t u64;
    float f;
    double d;
    protobuf_c_boolean b;
    int e;
    char *s;
    ProtobufCBinaryData bytes;
    ProtobufCMessage *msg;
} mentis__codec_value_t;

/* ---- field.c: reading and writing fields through their descriptors ---- */

/* Bytes one value of type t takes in a message or an array. */
size_t mentis__codec_value_size(ProtobufCType t);

/* A new message of type desc in pool, with its defaults; NULL when the pool is full. */
ProtobufCMessage *mentis__codec_message_new(mentis_pool_t *pool,
                                            const ProtobufCMessageDescriptor *desc);

/* Stores v in the singular field fd of msg and marks it present (has_ flag, oneof case). */
void mentis__codec_field_set(ProtobufCMessage *msg, const ProtobufCFieldDescriptor *fd,
                             const mentis__codec_value_t *v);

/* Whether the singular field fd of msg is present: what encode writes. */
bool mentis__codec_field_present(const ProtobufCMessage *msg, const ProtobufCFieldDescriptor *fd);

/* The value of the singular field fd of msg (NULL strings read as ""). */
mentis__codec_value_t mentis__codec_field_get(const ProtobufCMessage *msg,
                                              const ProtobufCFieldDescriptor *fd);

/* Element i of a repeated field's array. */
mentis__codec_value_t mentis__codec_array_get(const void *array, ProtobufCType t, size_t i);

/* The other member of fd's oneof that is set in msg, or NULL. */
const ProtobufCFieldDescriptor *mentis__codec_oneof_rival(const ProtobufCMessage *msg,
                                                          const ProtobufCFieldDescriptor *fd);

/* The members of fd's oneof as "a, b, c" in buf. */
void mentis__codec_oneof_members(const ProtobufCMessageDescriptor *desc,
                                 const ProtobufCFieldDescriptor *fd, char *buf, size_t size);

/* ---- naming.c: how proto names appear in JSON ---- */

/* The field of desc whose proto name or lowerCamelCase JSON name is key (n bytes). */
const ProtobufCFieldDescriptor *mentis__codec_field_by_key(const ProtobufCMessageDescriptor *desc,
                                                           const char *key, size_t n);

/*
 * Whether fd (of message desc) is a map: protoc makes map<K,V> a repeated message
 * <Field>Entry nested in desc with fields key = 1 and value = 2. protobuf-c keeps no
 * map_entry option, so this is recognised by that exact shape and name.
 */
bool mentis__codec_is_map(const ProtobufCMessageDescriptor *desc,
                          const ProtobufCFieldDescriptor *fd);

/* Whether desc is mentis.v1.Timestamp or google.protobuf.Timestamp (seconds, nanos). */
bool mentis__codec_is_timestamp(const ProtobufCMessageDescriptor *desc);

/* Whether desc is mentis.v1.JsonValue (one string field `json` holding a JSON text). */
bool mentis__codec_is_json(const ProtobufCMessageDescriptor *desc);

/* Whether desc has a JSON form other than an object: a timestamp or a JSON value. */
bool mentis__codec_is_special(const ProtobufCMessageDescriptor *desc);

/*
 * Whether text (n bytes) is exactly one well-formed JSON value (surrounding whitespace
 * allowed) nested at most max_depth levels. Used to check what a service sends as a
 * JsonValue before it is written into a reply as it is.
 */
bool mentis__codec_json_valid(const char *text, size_t n, unsigned max_depth);

/* Whether an enum value is the zero value *_UNSPECIFIED, never shown nor accepted. */
bool mentis__codec_enum_is_unspecified(const ProtobufCEnumValue *v);

/* The JSON name of enum value `name` of ed ("ok"), NUL-terminated in buf (cut to fit). */
void mentis__codec_enum_json_name(const ProtobufCEnumDescriptor *ed, const char *name, char *buf,
                                  size_t size);

/* The value of ed named text (n bytes): its JSON name or its full name. Never unspecified. */
const ProtobufCEnumValue *mentis__codec_enum_by_name(const ProtobufCEnumDescriptor *ed,
                                                     const char *text, size_t n);

/* The value of ed with this number, or NULL (also for unspecified). */
const ProtobufCEnumValue *mentis__codec_enum_by_number(const ProtobufCEnumDescriptor *ed,
                                                       int number);

/* "ok, degraded": the JSON names ed accepts, cut to fit in buf. */
void mentis__codec_enum_allowed(const ProtobufCEnumDescriptor *ed, char *buf, size_t size);

/* ---- scalar.c: values from text ---- */

/* Whether s (n bytes) is a JSON number; *integral when it has no fraction nor exponent. */
bool mentis__codec_number_syntax(const char *s, size_t n, bool *integral);

/*
 * Converts text (n bytes) to a value of fd's type, with the rules of a JSON string value
 * or a URL parameter: integers in JSON integer syntax, floats in JSON number syntax, bools
 * as true/false/1/0, enums by name or number, bytes as base64, strings as valid UTF-8
 * without NUL (copied to pool), timestamps as RFC 3339 (a new message in pool).
 * Returns MENTIS_OK, MENTIS_ERR_INVALID_ARGUMENT with the reason in why, or
 * MENTIS_ERR_TOO_LARGE when the pool is full. Nothing is recorded in the error context.
 */
mentis_status_t mentis__codec_value_from_text(const ProtobufCFieldDescriptor *fd, const char *text,
                                              size_t n, mentis_pool_t *pool,
                                              mentis__codec_value_t *out, char *why,
                                              size_t why_size);

/* ---- timestamp.c: RFC 3339 ---- */

/* Seconds of 0001-01-01T00:00:00Z and 9999-12-31T23:59:59Z. */
#define MENTIS__CODEC_TIME_MIN INT64_C(-62135596800)
#define MENTIS__CODEC_TIME_MAX INT64_C(253402300799)
/* Longest text mentis__codec_time_format writes, NUL included. */
#define MENTIS__CODEC_TIME_TEXT 32

/* Parses an RFC 3339 date-time; false with the reason in *why. */
bool mentis__codec_time_parse(const char *s, size_t n, int64_t *seconds, int32_t *nanos,
                              const char **why);

/* Formats UTC with "Z" and milliseconds when not zero; false when out of range. */
bool mentis__codec_time_format(int64_t seconds, int32_t nanos, char buf[MENTIS__CODEC_TIME_TEXT]);

void mentis__codec_time_get(const ProtobufCMessage *ts, int64_t *seconds, int32_t *nanos);
void mentis__codec_time_set(ProtobufCMessage *ts, int64_t seconds, int32_t nanos);

/* ---- base64.c ---- */

/* Characters of the padded standard encoding of n bytes. */
size_t mentis__codec_base64_len(size_t n);
/* Writes the padded standard encoding (no NUL). */
void mentis__codec_base64_encode(const uint8_t *data, size_t n, char *out);
/* Decodes standard or URL-safe base64, padded or not, into out (room for n * 3 / 4 bytes);
 * false with the reason in *why. */
bool mentis__codec_base64_decode(const char *s, size_t n, uint8_t *out, size_t *len_out,
                                 const char **why);

/* ---- problem.c: JSON paths and problem lists ---- */

typedef struct {
    char text[MENTIS_CODEC_FIELD_MAX];
    size_t len;
} mentis__codec_path_t;

/* Each push returns the length to pop back to. */
size_t mentis__codec_path_field(mentis__codec_path_t *path, const char *name, size_t n);
size_t mentis__codec_path_index(mentis__codec_path_t *path, size_t i);
size_t mentis__codec_path_key(mentis__codec_path_t *path, const char *key, size_t n);
void mentis__codec_path_pop(mentis__codec_path_t *path, size_t len);

/* Appends a problem (list may be NULL: then nothing happens). */
void mentis__codec_problem_add(mentis_codec_problems_t *list, const char *field, const char *fmt,
                               ...) __attribute__((format(printf, 3, 4)));

/* ---- writer.c: the output buffer ---- */

/*
 * Encode and schema run their writer twice: first with data NULL to measure, then into
 * an allocation of exactly that size (cap; nothing is written beyond it). The writer never
 * fails; len counts every byte asked for.
 */
typedef struct {
    char *data;
    size_t len;
    size_t cap;
} mentis__codec_buf_t;

void mentis__codec_put(mentis__codec_buf_t *b, const char *s, size_t n);
void mentis__codec_putc(mentis__codec_buf_t *b, char c);
void mentis__codec_puts(mentis__codec_buf_t *b, const char *s);
/* Decimal digits of v and a NUL into buf (what printf's %llu writes, without its cost);
 * the number of digits. */
#define MENTIS__CODEC_U64_TEXT 21
size_t mentis__codec_u64_text(uint64_t v, char buf[MENTIS__CODEC_U64_TEXT]);
/* An integer as JSON: its decimal digits, '-' first when negative. */
void mentis__codec_put_i64(mentis__codec_buf_t *b, int64_t v);
/* A JSON string: quoted, escaped, invalid UTF-8 replaced by U+FFFD. */
void mentis__codec_put_string(mentis__codec_buf_t *b, const char *s, size_t n);
/* The same without the quotes, to build one string from parts. */
void mentis__codec_put_escaped(mentis__codec_buf_t *b, const char *s, size_t n);

/* Runs write twice into a NUL-terminated pool block (see mentis_codec_output_t). */
mentis_status_t mentis__codec_render(mentis_status_t (*write)(mentis__codec_buf_t *, void *),
                                     void *ctx, const mentis_codec_output_t *output,
                                     mentis_pool_t *pool, char **out, size_t *len_out);

/* Length of the valid UTF-8 sequence at s (at most n bytes), or 0 when invalid. */
size_t mentis__codec_utf8_seq(const unsigned char *s, size_t n);

#endif
