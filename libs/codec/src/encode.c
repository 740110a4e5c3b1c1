#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "codec_internal.h"

/* Messages built in memory nest as deep as their code made them; a cycle of pointers
 * would never end. Past this depth the message is refused rather than the stack blown. */
#define ENCODE_MAX_DEPTH 256

typedef struct {
    mentis__codec_buf_t *b;
    mentis__codec_path_t path;
    unsigned depth;
} enc_t;

static mentis_status_t enc_message(enc_t *e, const ProtobufCMessage *m);

static mentis_status_t unencodable(enc_t *e, const char *what)
{
    return mentis_err_set(MENTIS_ERR_INTERNAL, NULL, "encoding %s: %s",
                          e->path.len > 0 ? e->path.text : "the message", what);
}

/*
 * Floats: the fewest significant digits (at most 17, 9 for float) that read back as the
 * same value, so decode(encode(x)) == x and 0.1 stays "0.1"; numbers with up to that many
 * integer digits without an exponent ("100", not "1e+02"), as people write them.
 * printf and strtod follow LC_NUMERIC, which must stay "C" (the default unless the
 * program calls setlocale).
 */
static bool reads_back(char *buf, size_t size, int prec, double v, bool is_float)
{
    snprintf(buf, size, "%.*g", prec, v);
    return is_float ? strtof(buf, NULL) == (float)v : strtod(buf, NULL) == v;
}

static void put_number(mentis__codec_buf_t *b, double v, int max_prec, bool is_float)
{
    /* A whole number below 10^15 (percentages, counts) is its integer digits: exactly what
     * the search below ends with for it (the precision widened to every integer digit),
     * found without printing and parsing it a dozen times. -0 keeps its sign below. */
    if (fabs(v) < 1e15 && v == (double)(int64_t)v && !(v == 0 && signbit(v))) {
        mentis__codec_put_i64(b, (int64_t)v);
        return;
    }
    char buf[48];
    /* Reading back works for every precision from the least that works on (the nearest
     * p + 1 digit decimal is at least as near as the p digit one), so search for it. */
    int lo = 1, hi = max_prec;
    while (lo < hi) {
        int mid = lo + (hi - lo) / 2;
        if (reads_back(buf, sizeof buf, mid, v, is_float))
            hi = mid;
        else
            lo = mid + 1;
    }
    int prec = lo;
    /* %g writes an exponent when the exponent X of %e at this precision is >= the
     * precision; widen the precision to X + 1 digits when that fits. */
    snprintf(buf, sizeof buf, "%.*e", prec - 1, v);
    const char *e = strchr(buf, 'e');
    long exponent = e != NULL ? strtol(e + 1, NULL, 10) : 0;
    if (exponent >= prec && exponent < max_prec)
        prec = (int)exponent + 1;
    snprintf(buf, sizeof buf, "%.*g", prec, v);
    mentis__codec_puts(b, buf);
}

static void put_double(mentis__codec_buf_t *b, double v)
{
    put_number(b, v, 17, false);
}

static void put_float(mentis__codec_buf_t *b, float v)
{
    put_number(b, v, 9, true);
}

static void put_bytes(mentis__codec_buf_t *b, const ProtobufCBinaryData *bytes)
{
    mentis__codec_putc(b, '"');
    /* Three bytes at a time, so no buffer as long as the data is needed. */
    for (size_t i = 0; i < bytes->len; i += 3) {
        size_t n = bytes->len - i < 3 ? bytes->len - i : 3;
        char quad[4];
        mentis__codec_base64_encode(bytes->data + i, n, quad);
        mentis__codec_put(b, quad, sizeof quad);
    }
    mentis__codec_putc(b, '"');
}

static void put_enum(mentis__codec_buf_t *b, const ProtobufCEnumDescriptor *ed, int number)
{
    const ProtobufCEnumValue *ev = protobuf_c_enum_descriptor_get_value(ed, number);
    if (ev == NULL) { /* a number this build does not know: keep it rather than lose it */
        char buf[16];
        snprintf(buf, sizeof buf, "%d", number);
        mentis__codec_puts(b, buf);
        return;
    }
    char name[128];
    mentis__codec_enum_json_name(ed, ev->name, name, sizeof name);
    mentis__codec_put_string(b, name, strlen(name));
}

/* Whether an enum holds its *_UNSPECIFIED zero value, which is left out. */
static bool enum_unset(const ProtobufCFieldDescriptor *fd, mentis__codec_value_t v)
{
    if (fd->type != PROTOBUF_C_TYPE_ENUM)
        return false;
    const ProtobufCEnumValue *ev = protobuf_c_enum_descriptor_get_value(fd->descriptor, v.e);
    return ev != NULL && mentis__codec_enum_is_unspecified(ev);
}

static mentis_status_t put_time(enc_t *e, const ProtobufCMessage *ts)
{
    int64_t seconds = 0;
    int32_t nanos = 0;
    if (ts != NULL) /* an unset element of an array or map value: the zero time */
        mentis__codec_time_get(ts, &seconds, &nanos);
    char text[MENTIS__CODEC_TIME_TEXT];
    if (!mentis__codec_time_format(seconds, nanos, text))
        return unencodable(
            e, "timestamp outside 0001-01-01..9999-12-31 or nanos outside 0..999999999");
    mentis__codec_put_string(e->b, text, strlen(text));
    return MENTIS_OK;
}

/*
 * A mentis.v1.JsonValue is written as the text it holds, which must be one well-formed
 * JSON value: a service's mistake must not make the whole reply invalid JSON. Unset or
 * empty is null.
 */
static mentis_status_t put_json(enc_t *e, const ProtobufCMessage *m)
{
    const char *text = NULL;
    if (m != NULL && mentis__codec_field_present(m, &m->descriptor->fields[0]))
        text = mentis__codec_field_get(m, &m->descriptor->fields[0]).s;
    if (text == NULL || text[0] == '\0') {
        mentis__codec_put(e->b, "null", 4);
        return MENTIS_OK;
    }
    size_t n = strlen(text);
    if (!mentis__codec_json_valid(text, n, MENTIS_CODEC_MAX_DEPTH))
        return unencodable(e, "a JsonValue that is not one well-formed JSON value");
    mentis__codec_put(e->b, text, n);
    return MENTIS_OK;
}

static mentis_status_t enc_value(enc_t *e, const ProtobufCFieldDescriptor *fd,
                                 mentis__codec_value_t v)
{
    switch (fd->type) {
    case PROTOBUF_C_TYPE_INT32:
    case PROTOBUF_C_TYPE_SINT32:
    case PROTOBUF_C_TYPE_SFIXED32:
        mentis__codec_put_i64(e->b, v.i32);
        return MENTIS_OK;
    case PROTOBUF_C_TYPE_UINT32:
    case PROTOBUF_C_TYPE_FIXED32:
        mentis__codec_put_i64(e->b, v.u32);
        return MENTIS_OK;
    case PROTOBUF_C_TYPE_INT64:
    case PROTOBUF_C_TYPE_SINT64:
    case PROTOBUF_C_TYPE_SFIXED64:
        mentis__codec_put_i64(e->b, v.i64);
        return MENTIS_OK;
    case PROTOBUF_C_TYPE_UINT64:
    case PROTOBUF_C_TYPE_FIXED64: {
        char buf[MENTIS__CODEC_U64_TEXT];
        mentis__codec_put(e->b, buf, mentis__codec_u64_text(v.u64, buf));
        return MENTIS_OK;
    }
    case PROTOBUF_C_TYPE_BOOL:
        if (v.b)
            mentis__codec_put(e->b, "true", 4);
        else
            mentis__codec_put(e->b, "false", 5);
        return MENTIS_OK;
    case PROTOBUF_C_TYPE_FLOAT:
        if (!isfinite(v.f))
            return unencodable(e, "NaN or infinity has no JSON form");
        put_float(e->b, v.f);
        return MENTIS_OK;
    case PROTOBUF_C_TYPE_DOUBLE:
        if (!isfinite(v.d))
            return unencodable(e, "NaN or infinity has no JSON form");
        put_double(e->b, v.d);
        return MENTIS_OK;
    case PROTOBUF_C_TYPE_ENUM:
        put_enum(e->b, fd->descriptor, v.e);
        return MENTIS_OK;
    case PROTOBUF_C_TYPE_STRING:
        mentis__codec_put_string(e->b, v.s, strlen(v.s));
        return MENTIS_OK;
    case PROTOBUF_C_TYPE_BYTES:
        put_bytes(e->b, &v.bytes);
        return MENTIS_OK;
    case PROTOBUF_C_TYPE_MESSAGE:
        if (mentis__codec_is_timestamp(fd->descriptor))
            return put_time(e, v.msg);
        if (mentis__codec_is_json(fd->descriptor))
            return put_json(e, v.msg);
        if (v.msg == NULL) { /* an unset element of an array or map value: the empty one */
            mentis__codec_put(e->b, "{}", 2);
            return MENTIS_OK;
        }
        return enc_message(e, v.msg);
    }
    return unencodable(e, "a field type the codec does not know");
}

/* The text of a map key: JSON object keys are strings, so numbers and bools as text. */
static void put_key(enc_t *e, const ProtobufCFieldDescriptor *kfd, mentis__codec_value_t k)
{
    if (kfd->type == PROTOBUF_C_TYPE_STRING) {
        mentis__codec_put_string(e->b, k.s, strlen(k.s));
        return;
    }
    mentis__codec_putc(e->b, '"');
    enc_value(e, kfd, k); /* integers and bools cannot fail */
    mentis__codec_putc(e->b, '"');
}

static mentis_status_t enc_map(enc_t *e, const ProtobufCFieldDescriptor *fd, size_t n,
                               ProtobufCMessage *const *entries)
{
    const ProtobufCMessageDescriptor *entry_desc = fd->descriptor;
    const ProtobufCFieldDescriptor *kfd = &entry_desc->fields[0], *vfd = &entry_desc->fields[1];
    bool first = true;
    mentis__codec_putc(e->b, '{');
    for (size_t i = 0; i < n; i++) {
        if (entries[i] == NULL)
            continue;
        mentis__codec_value_t k = mentis__codec_field_get(entries[i], kfd);
        mentis__codec_value_t v = mentis__codec_field_get(entries[i], vfd);
        if (enum_unset(vfd, v))
            continue;
        if (!first)
            mentis__codec_putc(e->b, ',');
        first = false;
        put_key(e, kfd, k);
        mentis__codec_putc(e->b, ':');
        size_t at = kfd->type == PROTOBUF_C_TYPE_STRING
                        ? mentis__codec_path_key(&e->path, k.s, strlen(k.s))
                        : mentis__codec_path_index(&e->path, i);
        mentis_status_t st = enc_value(e, vfd, v);
        mentis__codec_path_pop(&e->path, at);
        if (st != MENTIS_OK)
            return st;
    }
    mentis__codec_putc(e->b, '}');
    return MENTIS_OK;
}

static mentis_status_t enc_repeated(enc_t *e, const ProtobufCMessage *m,
                                    const ProtobufCFieldDescriptor *fd)
{
    const char *base = (const char *)m;
    size_t n;
    const void *array;
    memcpy(&n, base + fd->quantifier_offset, sizeof n);
    memcpy(&array, base + fd->offset, sizeof array);
    if (array == NULL)
        n = 0;
    if (mentis__codec_is_map(m->descriptor, fd))
        return enc_map(e, fd, n, array);
    bool first = true;
    mentis__codec_putc(e->b, '[');
    for (size_t i = 0; i < n; i++) {
        mentis__codec_value_t v = mentis__codec_array_get(array, fd->type, i);
        if (enum_unset(fd, v)) /* says nothing: left out like a singular one */
            continue;
        if (!first)
            mentis__codec_putc(e->b, ',');
        first = false;
        size_t at = mentis__codec_path_index(&e->path, i);
        mentis_status_t st = enc_value(e, fd, v);
        mentis__codec_path_pop(&e->path, at);
        if (st != MENTIS_OK)
            return st;
    }
    mentis__codec_putc(e->b, ']');
    return MENTIS_OK;
}

static mentis_status_t enc_message(enc_t *e, const ProtobufCMessage *m)
{
    const ProtobufCMessageDescriptor *desc = m->descriptor;
    if (desc == NULL || desc->magic != PROTOBUF_C__MESSAGE_DESCRIPTOR_MAGIC)
        return unencodable(e, "not a protobuf-c message");
    if (mentis__codec_is_timestamp(desc))
        return put_time(e, m);
    if (mentis__codec_is_json(desc))
        return put_json(e, m);
    if (++e->depth > ENCODE_MAX_DEPTH)
        return unencodable(e, "nested too deep (a cycle?)");
    bool first = true;
    mentis__codec_putc(e->b, '{');
    for (unsigned i = 0; i < desc->n_fields; i++) {
        const ProtobufCFieldDescriptor *fd = &desc->fields[i];
        mentis__codec_value_t v = {0};
        bool repeated = fd->label == PROTOBUF_C_LABEL_REPEATED;
        if (!repeated) {
            if (!mentis__codec_field_present(m, fd))
                continue;
            v = mentis__codec_field_get(m, fd);
            if (enum_unset(fd, v))
                continue;
        }
        if (!first)
            mentis__codec_putc(e->b, ',');
        first = false;
        mentis__codec_put_string(e->b, fd->name, strlen(fd->name));
        mentis__codec_putc(e->b, ':');
        size_t at = mentis__codec_path_field(&e->path, fd->name, strlen(fd->name));
        mentis_status_t st = repeated ? enc_repeated(e, m, fd) : enc_value(e, fd, v);
        mentis__codec_path_pop(&e->path, at);
        if (st != MENTIS_OK)
            return st;
    }
    mentis__codec_putc(e->b, '}');
    e->depth--;
    return MENTIS_OK;
}

static mentis_status_t write_message(mentis__codec_buf_t *b, void *ctx)
{
    enc_t e = {.b = b};
    return enc_message(&e, ctx);
}

mentis_status_t mentis_codec_encode(const ProtobufCMessage *msg,
                                    const mentis_codec_output_t *output, mentis_pool_t *pool,
                                    char **out, size_t *len_out)
{
    if (msg == NULL || pool == NULL || out == NULL)
        return mentis_err_set(MENTIS_ERR_INTERNAL, NULL, "codec encode: NULL argument");
    /* The writer takes a void *; the message is only read. */
    return mentis__codec_render(write_message, (void *)(uintptr_t)msg, output, pool, out, len_out);
}
