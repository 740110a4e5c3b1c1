#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "codec_internal.h"

bool mentis__codec_number_syntax(const char *s, size_t n, bool *integral)
{
    size_t i = 0;
    if (i < n && s[i] == '-')
        i++;
    if (i < n && s[i] == '0') {
        i++;
    } else if (i < n && s[i] >= '1' && s[i] <= '9') {
        while (i < n && s[i] >= '0' && s[i] <= '9')
            i++;
    } else {
        return false;
    }
    *integral = true;
    if (i < n && s[i] == '.') {
        size_t start = ++i;
        while (i < n && s[i] >= '0' && s[i] <= '9')
            i++;
        if (i == start)
            return false;
        *integral = false;
    }
    if (i < n && (s[i] == 'e' || s[i] == 'E')) {
        i++;
        if (i < n && (s[i] == '+' || s[i] == '-'))
            i++;
        size_t start = i;
        while (i < n && s[i] >= '0' && s[i] <= '9')
            i++;
        if (i == start)
            return false;
        *integral = false;
    }
    return i == n;
}

static const char *type_name(ProtobufCType t)
{
    switch (t) {
    case PROTOBUF_C_TYPE_INT32:
        return "int32";
    case PROTOBUF_C_TYPE_SINT32:
        return "sint32";
    case PROTOBUF_C_TYPE_SFIXED32:
        return "sfixed32";
    case PROTOBUF_C_TYPE_INT64:
        return "int64";
    case PROTOBUF_C_TYPE_SINT64:
        return "sint64";
    case PROTOBUF_C_TYPE_SFIXED64:
        return "sfixed64";
    case PROTOBUF_C_TYPE_UINT32:
        return "uint32";
    case PROTOBUF_C_TYPE_FIXED32:
        return "fixed32";
    case PROTOBUF_C_TYPE_UINT64:
        return "uint64";
    case PROTOBUF_C_TYPE_FIXED64:
        return "fixed64";
    case PROTOBUF_C_TYPE_FLOAT:
        return "float";
    case PROTOBUF_C_TYPE_DOUBLE:
        return "double";
    default:
        return "?";
    }
}

/*
 * Integers are read digit by digit into a uint64_t magnitude, never through a double, so
 * every int64 and uint64 is exact. s must already match -?(0|[1-9][0-9]*).
 */
static bool parse_integer(ProtobufCType t, const char *s, size_t n, mentis__codec_value_t *v,
                          char *why, size_t why_size)
{
    bool neg = s[0] == '-';
    uint64_t mag = 0;
    bool overflow = false;
    for (size_t i = neg; i < n; i++) {
        unsigned d = (unsigned)(s[i] - '0');
        if (mag > (UINT64_MAX - d) / 10)
            overflow = true;
        else
            mag = mag * 10 + d;
    }
    const char *range = NULL;
    switch (t) {
    case PROTOBUF_C_TYPE_INT32:
    case PROTOBUF_C_TYPE_SINT32:
    case PROTOBUF_C_TYPE_SFIXED32:
    case PROTOBUF_C_TYPE_ENUM:
        if (overflow || mag > (neg ? UINT64_C(2147483648) : UINT64_C(2147483647)))
            range = "-2147483648 to 2147483647";
        else
            v->i32 = neg ? (int32_t)(-(int64_t)mag) : (int32_t)mag;
        break;
    case PROTOBUF_C_TYPE_UINT32:
    case PROTOBUF_C_TYPE_FIXED32:
        if (overflow || (neg && mag != 0) || mag > UINT32_MAX)
            range = "0 to 4294967295";
        else
            v->u32 = (uint32_t)mag;
        break;
    case PROTOBUF_C_TYPE_INT64:
    case PROTOBUF_C_TYPE_SINT64:
    case PROTOBUF_C_TYPE_SFIXED64:
        if (overflow || mag > (neg ? UINT64_C(9223372036854775808) : UINT64_C(9223372036854775807)))
            range = "-9223372036854775808 to 9223372036854775807";
        else if (neg)
            v->i64 = mag == UINT64_C(9223372036854775808) ? INT64_MIN : -(int64_t)mag;
        else
            v->i64 = (int64_t)mag;
        break;
    case PROTOBUF_C_TYPE_UINT64:
    case PROTOBUF_C_TYPE_FIXED64:
        if (overflow || (neg && mag != 0))
            range = "0 to 18446744073709551615";
        else
            v->u64 = mag;
        break;
    default:
        range = "?";
        break;
    }
    if (range != NULL) {
        snprintf(why, why_size, "out of range for %s (%s)",
                 t == PROTOBUF_C_TYPE_ENUM ? "an enum number" : type_name(t), range);
        return false;
    }
    return true;
}

/* strtod and strtof need a NUL after the number; the text may not have one. Relies on the
 * "C" LC_NUMERIC locale (the default unless the program calls setlocale). */
static mentis_status_t parse_float(ProtobufCType t, const char *s, size_t n, mentis_pool_t *pool,
                                   mentis__codec_value_t *v, char *why, size_t why_size)
{
    char local[64];
    char *copy = local;
    if (n >= sizeof local && (copy = mentis_pool_alloc(pool, n + 1)) == NULL)
        return MENTIS_ERR_TOO_LARGE;
    memcpy(copy, s, n);
    copy[n] = '\0';
    bool finite;
    if (t == PROTOBUF_C_TYPE_FLOAT) {
        v->f = strtof(copy, NULL);
        finite = isfinite(v->f);
    } else {
        v->d = strtod(copy, NULL);
        finite = isfinite(v->d);
    }
    if (!finite) {
        snprintf(why, why_size, "out of range for %s", type_name(t));
        return MENTIS_ERR_INVALID_ARGUMENT;
    }
    return MENTIS_OK;
}

static mentis_status_t parse_enum(const ProtobufCEnumDescriptor *ed, const char *text, size_t n,
                                  mentis__codec_value_t *v, char *why, size_t why_size)
{
    char allowed[160];
    bool integral;
    const ProtobufCEnumValue *ev;
    if (mentis__codec_number_syntax(text, n, &integral) && integral) {
        mentis__codec_value_t num;
        if (parse_integer(PROTOBUF_C_TYPE_ENUM, text, n, &num, why, why_size) &&
            (ev = mentis__codec_enum_by_number(ed, num.i32)) != NULL) {
            v->e = ev->value;
            return MENTIS_OK;
        }
    } else if ((ev = mentis__codec_enum_by_name(ed, text, n)) != NULL) {
        v->e = ev->value;
        return MENTIS_OK;
    }
    mentis__codec_enum_allowed(ed, allowed, sizeof allowed);
    snprintf(why, why_size, "unknown value \"%.*s%s\" (allowed: %s)", n > 48 ? 48 : (int)n, text,
             n > 48 ? "..." : "", allowed);
    return MENTIS_ERR_INVALID_ARGUMENT;
}

static mentis_status_t copy_string(const char *text, size_t n, mentis_pool_t *pool,
                                   mentis__codec_value_t *v, char *why, size_t why_size)
{
    for (size_t i = 0; i < n;) {
        if (text[i] == '\0') {
            snprintf(why, why_size, "contains a NUL character");
            return MENTIS_ERR_INVALID_ARGUMENT;
        }
        size_t k = mentis__codec_utf8_seq((const unsigned char *)text + i, n - i);
        if (k == 0) {
            snprintf(why, why_size, "not valid UTF-8");
            return MENTIS_ERR_INVALID_ARGUMENT;
        }
        i += k;
    }
    char *s = mentis_pool_strndup(pool, text, n);
    if (s == NULL)
        return MENTIS_ERR_TOO_LARGE;
    v->s = s;
    return MENTIS_OK;
}

static mentis_status_t decode_bytes(const char *text, size_t n, mentis_pool_t *pool,
                                    mentis__codec_value_t *v, char *why, size_t why_size)
{
    uint8_t *data = mentis_pool_alloc(pool, n / 4 * 3 + 3);
    if (data == NULL)
        return MENTIS_ERR_TOO_LARGE;
    const char *reason;
    size_t len;
    if (!mentis__codec_base64_decode(text, n, data, &len, &reason)) {
        snprintf(why, why_size, "%s", reason);
        return MENTIS_ERR_INVALID_ARGUMENT;
    }
    v->bytes.data = len > 0 ? data : NULL;
    v->bytes.len = len;
    return MENTIS_OK;
}

static mentis_status_t parse_time(const ProtobufCMessageDescriptor *desc, const char *text,
                                  size_t n, mentis_pool_t *pool, mentis__codec_value_t *v,
                                  char *why, size_t why_size)
{
    int64_t seconds;
    int32_t nanos;
    const char *reason;
    if (!mentis__codec_time_parse(text, n, &seconds, &nanos, &reason)) {
        snprintf(why, why_size, "%s", reason);
        return MENTIS_ERR_INVALID_ARGUMENT;
    }
    ProtobufCMessage *ts = mentis__codec_message_new(pool, desc);
    if (ts == NULL)
        return MENTIS_ERR_TOO_LARGE;
    mentis__codec_time_set(ts, seconds, nanos);
    v->msg = ts;
    return MENTIS_OK;
}

mentis_status_t mentis__codec_value_from_text(const ProtobufCFieldDescriptor *fd, const char *text,
                                              size_t n, mentis_pool_t *pool,
                                              mentis__codec_value_t *out, char *why,
                                              size_t why_size)
{
    bool integral;
    switch (fd->type) {
    case PROTOBUF_C_TYPE_INT32:
    case PROTOBUF_C_TYPE_SINT32:
    case PROTOBUF_C_TYPE_SFIXED32:
    case PROTOBUF_C_TYPE_INT64:
    case PROTOBUF_C_TYPE_SINT64:
    case PROTOBUF_C_TYPE_SFIXED64:
    case PROTOBUF_C_TYPE_UINT32:
    case PROTOBUF_C_TYPE_FIXED32:
    case PROTOBUF_C_TYPE_UINT64:
    case PROTOBUF_C_TYPE_FIXED64:
        if (!mentis__codec_number_syntax(text, n, &integral)) {
            snprintf(why, why_size, "expected an integer (%s)", type_name(fd->type));
            return MENTIS_ERR_INVALID_ARGUMENT;
        }
        if (!integral) {
            snprintf(why, why_size, "expected an integer (%s), without fraction or exponent",
                     type_name(fd->type));
            return MENTIS_ERR_INVALID_ARGUMENT;
        }
        return parse_integer(fd->type, text, n, out, why, why_size) ? MENTIS_OK
                                                                    : MENTIS_ERR_INVALID_ARGUMENT;
    case PROTOBUF_C_TYPE_FLOAT:
    case PROTOBUF_C_TYPE_DOUBLE:
        if (!mentis__codec_number_syntax(text, n, &integral)) {
            snprintf(why, why_size, "expected a number (%s)", type_name(fd->type));
            return MENTIS_ERR_INVALID_ARGUMENT;
        }
        return parse_float(fd->type, text, n, pool, out, why, why_size);
    case PROTOBUF_C_TYPE_BOOL:
        if ((n == 4 && memcmp(text, "true", 4) == 0) || (n == 1 && text[0] == '1')) {
            out->b = 1;
        } else if ((n == 5 && memcmp(text, "false", 5) == 0) || (n == 1 && text[0] == '0')) {
            out->b = 0;
        } else {
            snprintf(why, why_size, "expected true, false, 1 or 0");
            return MENTIS_ERR_INVALID_ARGUMENT;
        }
        return MENTIS_OK;
    case PROTOBUF_C_TYPE_ENUM:
        return parse_enum(fd->descriptor, text, n, out, why, why_size);
    case PROTOBUF_C_TYPE_STRING:
        return copy_string(text, n, pool, out, why, why_size);
    case PROTOBUF_C_TYPE_BYTES:
        return decode_bytes(text, n, pool, out, why, why_size);
    case PROTOBUF_C_TYPE_MESSAGE:
        if (mentis__codec_is_timestamp(fd->descriptor))
            return parse_time(fd->descriptor, text, n, pool, out, why, why_size);
        snprintf(why, why_size, "expected an object, which a text cannot give");
        return MENTIS_ERR_INVALID_ARGUMENT;
    }
    snprintf(why, why_size, "unsupported field type");
    return MENTIS_ERR_INVALID_ARGUMENT;
}
