/*
 * The JSON mapping of every mentis message, driven only by protobuf-c descriptors: the
 * gateway decodes request bodies, merges path and query parameters and encodes replies
 * with these functions, with no code per route.
 *
 * The mapping (see proto/mentis/v1/common.proto):
 * - Keys are the proto field names (snake_case). Input also accepts the lowerCamelCase
 *   JSON name ("displayName"); a field given twice, in either spelling, is refused, and so
 *   is any key that names no field.
 * - Integers of every width are JSON numbers, exactly (int64 and uint64 included: they
 *   never pass through a double). Input also accepts them as decimal strings ("-12"), as
 *   proto3 JSON does; never with a fraction or an exponent.
 * - float and double are JSON numbers; NaN and infinities have no JSON form and are refused
 *   both ways (decode: a problem; encode: MENTIS_ERR_INTERNAL).
 * - Enums are their value names in lower case without the enum's prefix ("ok" for
 *   SERVING_STATUS_OK of enum ServingStatus: the prefix is the upper snake case of the
 *   enum's name plus "_"). Input also accepts the full name and the number. The zero value
 *   named *_UNSPECIFIED is never accepted, and an enum holding it is left out of the output.
 * - bytes are standard base64 with padding; input accepts standard or URL-safe alphabets,
 *   padded or not.
 * - mentis.v1.Timestamp (and google.protobuf.Timestamp) is an RFC 3339 string. Input takes
 *   up to 9 fractional digits and any offset, converted to UTC; output is UTC with "Z" and
 *   milliseconds when they are not zero ("2026-11-23T10:20:00.123Z"; finer precision is
 *   cut, not rounded).
 * - mentis.v1.JsonValue is any JSON value, read by the same strict rules and kept as its
 *   exact text (string field `json`); on output that text is written as it is, after a
 *   check that it is one well-formed value (else MENTIS_ERR_INTERNAL). Unset is null.
 * - Repeated fields are arrays; map fields are objects (integer and bool keys as their text).
 * - null for a field means "not set"; null inside an array or as a map value is refused.
 *
 * Memory: decoded messages, their strings, arrays and sub-messages live in the caller's
 * mentis_pool_t. Never hand them to protobuf_c_message_free_unpacked; destroying or
 * resetting the pool frees them. Every function is thread-safe as long as each pool and
 * message is used by one thread.
 */
#ifndef MENTIS_CODEC_H
#define MENTIS_CODEC_H

#include <stdbool.h>
#include <stddef.h>

#include <protobuf-c/protobuf-c.h>

#include "mentis/pool.h"
#include "mentis/status.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Defaults of the decode limits (used where a limit is 0). */
#define MENTIS_CODEC_DEFAULT_MAX_INPUT ((size_t)1 << 20)
#define MENTIS_CODEC_DEFAULT_MAX_DEPTH 32u
#define MENTIS_CODEC_DEFAULT_MAX_ITEMS ((size_t)10000)
/* The deepest nesting any caller may ask for: decoding recurses once per level. */
#define MENTIS_CODEC_MAX_DEPTH 128u
/* Default cap of an encoded text (used where max_len is 0). */
#define MENTIS_CODEC_DEFAULT_MAX_OUTPUT ((size_t)8 << 20)

/* Sizes of one problem's texts, NUL included; longer texts are cut. */
#define MENTIS_CODEC_FIELD_MAX   192
#define MENTIS_CODEC_MESSAGE_MAX 256
/* Problems kept per list; later ones are only counted. */
#define MENTIS_CODEC_PROBLEMS_MAX 16

/* What one decode may take. A zero member means its default. */
typedef struct {
    size_t max_input;   /* bytes of JSON; more is MENTIS_ERR_TOO_LARGE */
    unsigned max_depth; /* nested objects and arrays, the outer object counting 1 */
    size_t max_items;   /* elements of one array, entries of one map */
} mentis_codec_limits_t;

/*
 * One thing wrong with an input, for RFC 9457 `errors[]`: `field` is the JSON path of
 * the value ("device.type", "items[2].name", "labels[\"en\"]"; proto field names, except an
 * unknown key which appears as sent; a parameter of mentis_codec_set_text appears as
 * given), "" for the document as a whole (malformed JSON, too large).
 */
typedef struct {
    char field[MENTIS_CODEC_FIELD_MAX];
    char message[MENTIS_CODEC_MESSAGE_MAX];
} mentis_codec_problem_t;

/*
 * Problems found so far, first found first. Start from zero (`= {0}`, or
 * mentis_codec_problems_clear); decode and set_text append to it, so one list can gather
 * the problems of a body, its path parameters and its query.
 */
typedef struct {
    size_t count;   /* entries used in items, at most MENTIS_CODEC_PROBLEMS_MAX */
    size_t dropped; /* problems found beyond the cap, not kept */
    mentis_codec_problem_t items[MENTIS_CODEC_PROBLEMS_MAX];
} mentis_codec_problems_t;

/* Empties a problem list. */
void mentis_codec_problems_clear(mentis_codec_problems_t *problems);

/*
 * Decodes len bytes of JSON (need not be NUL-terminated) into a new message of type desc,
 * allocated with everything it points to in pool. limits may be NULL (the defaults).
 * problems may be NULL; when given, every problem found is appended (see above).
 * *out is written only on success and is valid until the pool is reset or destroyed.
 *
 * Errors:
 * - MENTIS_ERR_INVALID_ARGUMENT: the input is not a valid instance. Every problem goes to
 *   problems, the first also to the error context ("device.type: unknown value ...").
 *   Decoding goes on after a wrong value to find more, but stops at the first syntax error
 *   or exceeded limit. Malformed JSON gives exactly one problem (field "", the byte offset
 *   in its message), replacing those this call found before it.
 * - MENTIS_ERR_TOO_LARGE: more than limits->max_input bytes, or the decoded message would
 *   need more memory than the pool's cap allows (the client should send less).
 * - MENTIS_ERR_INTERNAL: desc, json (with len > 0), pool or out is NULL.
 */
mentis_status_t mentis_codec_decode(const ProtobufCMessageDescriptor *desc, const char *json,
                                    size_t len, const mentis_codec_limits_t *limits,
                                    mentis_pool_t *pool, mentis_codec_problems_t *problems,
                                    ProtobufCMessage **out);

/*
 * Sets a field of msg from the text of a URL path or query parameter. name is a field name
 * (snake_case or lowerCamelCase) or a dotted path into singular sub-messages
 * ("page.limit"; missing sub-messages are created in pool). value is value_len bytes,
 * converted with the rules of decode: numbers in the same exact integer or JSON number
 * syntax, bools as true/false/1/0, enums as their names or numbers, bytes as base64,
 * timestamps as RFC 3339, strings as they are (valid UTF-8 without NUL). A repeated field
 * gets one more element per call; a singular field takes the last value set; setting a
 * oneof member while another member of it is set is refused. Messages other than
 * timestamps and maps cannot be set from text.
 *
 * msg must be writable and its strings, arrays and sub-messages replaceable (a decoded
 * message, or one built in the same pool); new memory comes from pool, old arrays are not
 * freed. problems may be NULL; when given, a problem is appended (field = name as given).
 *
 * Errors: MENTIS_ERR_INVALID_ARGUMENT (unknown name, unsettable field, invalid value; the
 * message names the parameter), MENTIS_ERR_TOO_LARGE when the pool's cap is reached,
 * MENTIS_ERR_INTERNAL for NULL arguments.
 */
mentis_status_t mentis_codec_set_text(ProtobufCMessage *msg, const char *name, const char *value,
                                      size_t value_len, mentis_pool_t *pool,
                                      mentis_codec_problems_t *problems);

/* How an encoded text is laid out. A zero member means its default. */
typedef struct {
    size_t max_len;  /* longest text allowed, NUL excluded; MENTIS_CODEC_DEFAULT_MAX_OUTPUT */
    size_t headroom; /* bytes left free in front of the text (e.g. LWS_PRE); 0 = none */
} mentis_codec_output_t;

/*
 * Encodes msg as compact JSON: proto field names as keys, fields in field-number order,
 * deterministic (the same message always gives the same bytes). Scalars are written even
 * when they hold their default (0, false, ""); unset sub-messages, unset fields with
 * presence (has_ flag, NULL) and unset oneof members are left out; repeated fields are
 * always written ([] when empty), maps as objects in their entries' order. Strings are
 * escaped per RFC 8259; bytes that are not valid UTF-8 become U+FFFD, so the output is
 * always valid JSON. Enum values with no name are written as their number.
 *
 * output may be NULL (the defaults). On success *out (NUL-terminated, in pool, after
 * output->headroom free bytes: the block starts at *out - headroom) and *len_out (NUL
 * excluded; may be NULL) are written; valid until the pool is reset or destroyed.
 *
 * Errors: MENTIS_ERR_INTERNAL when msg holds what JSON cannot say (NaN or infinite float,
 * a timestamp outside years 1..9999 or with nanos outside 0..999999999) or a NULL
 * argument; MENTIS_ERR_NO_MEMORY when the text would be longer than max_len or the pool's
 * cap is reached. The message says which field.
 */
mentis_status_t mentis_codec_encode(const ProtobufCMessage *msg,
                                    const mentis_codec_output_t *output, mentis_pool_t *pool,
                                    char **out, size_t *len_out);

/*
 * Describes the JSON form of message type desc as a JSON Schema (2020-12, as OpenAPI 3.1
 * uses) object: {"type":"object","properties":{...},"additionalProperties":false}, the
 * properties in field-number order. Integers are "integer" with format int32, int64,
 * uint32 (with minimum and maximum) or uint64 (with minimum 0); float and double "number"
 * with format float/double; bytes "string" with format "byte"; timestamps "string" with
 * format "date-time"; enums "string" with their JSON names in "enum"; repeated fields
 * "array"; maps "object" with additionalProperties. Nothing is "required": the codec
 * never demands a field (services check what they need).
 *
 * Nested message types: with ref_prefix (e.g. "#/components/schemas/"), each becomes
 * {"$ref": ref_prefix + full name ("mentis.v1.HealthCheck")}, and
 * mentis_codec_schema_types lists the types to describe; with ref_prefix NULL they are
 * described in place, and a type nested in itself becomes {"type":"object"} there.
 * output, *out and *len_out as for mentis_codec_encode. Errors: MENTIS_ERR_NO_MEMORY (cap),
 * MENTIS_ERR_INTERNAL (NULL argument).
 */
mentis_status_t mentis_codec_schema(const ProtobufCMessageDescriptor *desc, const char *ref_prefix,
                                    const mentis_codec_output_t *output, mentis_pool_t *pool,
                                    char **out, size_t *len_out);

/*
 * The message types a $ref schema of desc needs: desc itself first, then every message
 * type reachable from its fields, each once, in the order first met (map entries and
 * timestamps are no types of their own in JSON and are not listed; the types of their
 * values are). Writes the descriptors to types and their number to *n_out.
 * Errors: MENTIS_ERR_TOO_LARGE when there are more than cap (nothing written to *n_out),
 * MENTIS_ERR_INTERNAL for NULL arguments.
 */
mentis_status_t mentis_codec_schema_types(const ProtobufCMessageDescriptor *desc,
                                          const ProtobufCMessageDescriptor **types, size_t cap,
                                          size_t *n_out);

#ifdef __cplusplus
}
#endif
#endif
