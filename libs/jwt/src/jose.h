/*
 * Strict reading of the JSON objects of JOSE (token headers and claims, JWKS documents)
 * on top of cJSON, closing the gaps that matter when the bytes come from outside: no
 * trailing bytes, no NUL (raw or \u0000, which cJSON would cut strings at), no duplicate
 * member names, a bounded member count; plus typed getters that tell "absent" from
 * "wrong type" and check what a claim string may hold.
 */
#ifndef MENTIS_JWT_JOSE_H
#define MENTIS_JWT_JOSE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <cjson/cJSON.h>

/* The most members one object may have (a header or claims set has about a dozen). */
#define MENTIS__JOSE_MAX_MEMBERS 64

/* The largest NumericDate accepted: 9999-12-31T23:59:59Z. */
#define MENTIS__JOSE_MAX_DATE 253402300799LL

/*
 * Parses len bytes as one JSON object. NULL when they are not exactly that, hold a NUL,
 * repeat a member name, or have more than MENTIS__JOSE_MAX_MEMBERS members (*no_memory is
 * set when the reason was an allocation). The caller frees the result with cJSON_Delete.
 */
cJSON *mentis__jose_parse_object(const void *bytes, size_t len, bool *no_memory);

/* Whether an object (from anywhere) repeats a member name or has too many members. */
bool mentis__jose_members_ok(const cJSON *object);

typedef enum {
    MENTIS__JOSE_OK = 0,
    MENTIS__JOSE_ABSENT,
    MENTIS__JOSE_BAD, /* wrong type, too long, control character, bad UTF-8, out of range */
} mentis__jose_get_t;

/* The member `name` (case-sensitive), or NULL. */
const cJSON *mentis__jose_member(const cJSON *object, const char *name);

/*
 * Copies the string member `name` into out (size bytes, NUL included). BAD when it is not
 * a string, does not fit, or (when `text` is set) holds a control character or invalid
 * UTF-8. out is "" unless OK.
 */
mentis__jose_get_t mentis__jose_get_string(const cJSON *object, const char *name, char *out,
                                           size_t size);

/* The integer member `name`, 0..MENTIS__JOSE_MAX_DATE, into *out. BAD for any other value. */
mentis__jose_get_t mentis__jose_get_date(const cJSON *object, const char *name, int64_t *out);

/* Whether s (n bytes) is valid UTF-8 with no control character (C0, DEL). */
bool mentis__jose_text_ok(const char *s, size_t n);

#endif
