/*
 * JSON text to a protobuf-c message, in one pass driven by the message's descriptor.
 *
 * Why not cJSON: it stores every number as a double, so int64 values above 2^53 would be
 * rounded before we could see them, and it keeps duplicate keys without telling. It also
 * builds a whole tree on the heap first. This is a strict RFC 8259 reader instead: it
 * keeps the raw text of numbers, refuses invalid UTF-8, lone surrogates, control
 * characters and trailing data, and writes straight into the pool, so the only memory a
 * request costs is the message it becomes.
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "codec_internal.h"

typedef struct {
    const char *start, *p, *end;
    mentis_pool_t *pool;
    unsigned depth, max_depth;
    size_t max_items;
    mentis_codec_problems_t *problems;  /* may be NULL */
    size_t problems_base, dropped_base; /* the list as this call found it */
    mentis__codec_path_t path;
    bool failed; /* a problem was found */
    bool stop;   /* a syntax error or a limit: read no further */
    mentis_status_t stop_status;
    char first[MENTIS_CODEC_FIELD_MAX + MENTIS_CODEC_MESSAGE_MAX]; /* for the error context */
} dec_t;

/* Keys of messages are read into a buffer this size; a longer key names no field. */
#define KEY_MAX 256

__attribute__((format(printf, 2, 0))) static void vproblem(dec_t *d, const char *fmt, va_list ap)
{
    char message[MENTIS_CODEC_MESSAGE_MAX];
    vsnprintf(message, sizeof message, fmt, ap);
    mentis__codec_problem_add(d->problems, d->path.text, "%s", message);
    if (!d->failed) {
        if (d->path.len > 0)
            snprintf(d->first, sizeof d->first, "%s: %s", d->path.text, message);
        else
            snprintf(d->first, sizeof d->first, "%s", message);
    }
    d->failed = true;
}

/* A value is wrong; decoding goes on to find more. */
__attribute__((format(printf, 2, 3))) static void problem(dec_t *d, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vproblem(d, fmt, ap);
    va_end(ap);
}

/* A limit is exceeded (or the pool is full): report where, and read no further. */
__attribute__((format(printf, 3, 4))) static void limit(dec_t *d, mentis_status_t st,
                                                        const char *fmt, ...)
{
    if (d->stop)
        return;
    va_list ap;
    va_start(ap, fmt);
    vproblem(d, fmt, ap);
    va_end(ap);
    d->stop = true;
    d->stop_status = st;
}

/* The text is not JSON: that alone is the answer, so it replaces what this call found. */
__attribute__((format(printf, 2, 3))) static void syntax(dec_t *d, const char *fmt, ...)
{
    if (d->stop)
        return;
    char what[128];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(what, sizeof what, fmt, ap);
    va_end(ap);
    if (d->problems != NULL) {
        d->problems->count = d->problems_base;
        d->problems->dropped = d->dropped_base;
    }
    d->failed = false;
    d->path.len = 0;
    d->path.text[0] = '\0';
    problem(d, "malformed JSON at byte %zu: %s", (size_t)(d->p - d->start), what);
    d->stop = true;
    d->stop_status = MENTIS_ERR_INVALID_ARGUMENT;
}

static void pool_full(dec_t *d)
{
    limit(d, MENTIS_ERR_TOO_LARGE, "the request needs more memory than allowed");
}

/* ---- lexing ---- */

/* The next significant character, or 0 at the end. */
static char peek(dec_t *d)
{
    while (d->p < d->end && (*d->p == ' ' || *d->p == '\t' || *d->p == '\n' || *d->p == '\r'))
        d->p++;
    return d->p < d->end ? *d->p : '\0';
}

static bool enter(dec_t *d)
{
    if (++d->depth > d->max_depth) {
        limit(d, MENTIS_ERR_INVALID_ARGUMENT, "nested deeper than %u levels", d->max_depth);
        return false;
    }
    return true;
}

static int hex_digit(char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

static bool read_hex4(dec_t *d, const char *escape, uint32_t *out)
{
    uint32_t v = 0;
    for (int i = 0; i < 4; i++) {
        int h = d->p + i < d->end ? hex_digit(d->p[i]) : -1;
        if (h < 0) {
            d->p = escape;
            syntax(d, "invalid \\u escape");
            return false;
        }
        v = v << 4 | (uint32_t)h;
    }
    d->p += 4;
    *out = v;
    return true;
}

/* Writes byte c at dst[*len] when it fits, and counts it either way. */
static void emit(char *dst, size_t cap, size_t *len, char c)
{
    if (dst != NULL && *len < cap)
        dst[*len] = c;
    (*len)++;
}

static void emit_utf8(char *dst, size_t cap, size_t *len, uint32_t cp)
{
    if (cp < 0x80) {
        emit(dst, cap, len, (char)cp);
    } else if (cp < 0x800) {
        emit(dst, cap, len, (char)(0xC0 | cp >> 6));
        emit(dst, cap, len, (char)(0x80 | (cp & 0x3F)));
    } else if (cp < 0x10000) {
        emit(dst, cap, len, (char)(0xE0 | cp >> 12));
        emit(dst, cap, len, (char)(0x80 | (cp >> 6 & 0x3F)));
        emit(dst, cap, len, (char)(0x80 | (cp & 0x3F)));
    } else {
        emit(dst, cap, len, (char)(0xF0 | cp >> 18));
        emit(dst, cap, len, (char)(0x80 | (cp >> 12 & 0x3F)));
        emit(dst, cap, len, (char)(0x80 | (cp >> 6 & 0x3F)));
        emit(dst, cap, len, (char)(0x80 | (cp & 0x3F)));
    }
}

/*
 * Reads the string at d->p (which is '"'), decoding it into dst (up to cap bytes; dst may
 * be NULL) and counting its decoded length in *len. False on a syntax error.
 */
static bool lex_string(dec_t *d, char *dst, size_t cap, size_t *len)
{
    *len = 0;
    d->p++;
    for (;;) {
        if (d->p >= d->end) {
            syntax(d, "unterminated string");
            return false;
        }
        unsigned char c = (unsigned char)*d->p;
        if (c == '"') {
            d->p++;
            return true;
        }
        if (c < 0x20) {
            syntax(d, "control character in a string");
            return false;
        }
        if (c != '\\') {
            size_t k = mentis__codec_utf8_seq((const unsigned char *)d->p, (size_t)(d->end - d->p));
            if (k == 0) {
                syntax(d, "invalid UTF-8");
                return false;
            }
            for (size_t i = 0; i < k; i++)
                emit(dst, cap, len, d->p[i]);
            d->p += k;
            continue;
        }
        const char *escape = d->p; /* errors in an escape point at its backslash */
        d->p++;
        char e = d->p < d->end ? *d->p++ : '\0';
        uint32_t cp;
        switch (e) {
        case '"':
            emit(dst, cap, len, '"');
            break;
        case '\\':
            emit(dst, cap, len, '\\');
            break;
        case '/':
            emit(dst, cap, len, '/');
            break;
        case 'b':
            emit(dst, cap, len, '\b');
            break;
        case 'f':
            emit(dst, cap, len, '\f');
            break;
        case 'n':
            emit(dst, cap, len, '\n');
            break;
        case 'r':
            emit(dst, cap, len, '\r');
            break;
        case 't':
            emit(dst, cap, len, '\t');
            break;
        case 'u':
            if (!read_hex4(d, escape, &cp))
                return false;
            if (cp >= 0xDC00 && cp <= 0xDFFF) {
                d->p = escape;
                syntax(d, "lone low surrogate in a \\u escape");
                return false;
            }
            if (cp >= 0xD800 && cp <= 0xDBFF) {
                uint32_t low;
                if (d->end - d->p < 2 || d->p[0] != '\\' || d->p[1] != 'u') {
                    d->p = escape;
                    syntax(d, "high surrogate without its low half");
                    return false;
                }
                d->p += 2;
                if (!read_hex4(d, escape, &low))
                    return false;
                if (low < 0xDC00 || low > 0xDFFF) {
                    d->p = escape;
                    syntax(d, "high surrogate without its low half");
                    return false;
                }
                cp = 0x10000 + ((cp - 0xD800) << 10) + (low - 0xDC00);
            }
            emit_utf8(dst, cap, len, cp);
            break;
        default:
            d->p = escape;
            syntax(d, "invalid escape in a string");
            return false;
        }
    }
}

/* Reads a string into a new pool block (NUL-terminated); false on a syntax error or a full
 * pool (both reported). */
static bool string_in_pool(dec_t *d, char **out, size_t *len)
{
    const char *at = d->p;
    if (!lex_string(d, NULL, 0, len))
        return false;
    char *s = mentis_pool_alloc(d->pool, *len + 1);
    if (s == NULL) {
        pool_full(d);
        return false;
    }
    d->p = at;
    lex_string(d, s, *len, len);
    s[*len] = '\0';
    *out = s;
    return true;
}

/* Reads a number token, leaving its text in *tok. */
static bool lex_number(dec_t *d, const char **tok, size_t *n)
{
    const char *s = d->p;
    while (d->p < d->end && ((*d->p >= '0' && *d->p <= '9') || *d->p == '-' || *d->p == '+' ||
                             *d->p == '.' || *d->p == 'e' || *d->p == 'E'))
        d->p++;
    bool integral;
    if (!mentis__codec_number_syntax(s, (size_t)(d->p - s), &integral)) {
        d->p = s;
        syntax(d, "invalid number");
        return false;
    }
    *tok = s;
    *n = (size_t)(d->p - s);
    return true;
}

static bool lex_literal(dec_t *d)
{
    static const char *const words[] = {"true", "false", "null"};
    for (size_t i = 0; i < sizeof words / sizeof words[0]; i++) {
        size_t n = strlen(words[i]);
        if ((size_t)(d->end - d->p) >= n && memcmp(d->p, words[i], n) == 0) {
            d->p += n;
            return true;
        }
    }
    syntax(d, "unexpected character");
    return false;
}

/* Checks and passes over one value (an unknown field's, a refused one's). */
static bool skip_value(dec_t *d)
{
    char c = peek(d);
    size_t len;
    const char *tok;
    switch (c) {
    case '"':
        return lex_string(d, NULL, 0, &len);
    case '{':
    case '[': {
        char close = c == '{' ? '}' : ']';
        if (!enter(d))
            return false;
        d->p++;
        if (peek(d) == close) {
            d->p++;
            d->depth--;
            return true;
        }
        for (;;) {
            if (c == '{') {
                if (peek(d) != '"') {
                    syntax(d, "expected a string key");
                    return false;
                }
                if (!lex_string(d, NULL, 0, &len))
                    return false;
                if (peek(d) != ':') {
                    syntax(d, "expected ':'");
                    return false;
                }
                d->p++;
            }
            if (!skip_value(d))
                return false;
            char next = peek(d);
            if (next == ',') {
                d->p++;
            } else if (next == close) {
                d->p++;
                d->depth--;
                return true;
            } else {
                syntax(d, close == '}' ? "expected ',' or '}'" : "expected ',' or ']'");
                return false;
            }
        }
    }
    case '\0':
        syntax(d, d->p == d->end ? "unexpected end of input" : "unexpected character");
        return false;
    default:
        if (c == '-' || (c >= '0' && c <= '9'))
            return lex_number(d, &tok, &len);
        return lex_literal(d);
    }
}

/* ---- values ---- */

static const char *kind_of(char c)
{
    switch (c) {
    case '{':
        return "an object";
    case '[':
        return "an array";
    case '"':
        return "a string";
    case 't':
    case 'f':
        return "a boolean";
    case 'n':
        return "null";
    default:
        return "a number";
    }
}

/* The value is of the wrong JSON type: say so, then pass over it. */
static bool refuse(dec_t *d, const char *expected)
{
    char c = peek(d);
    if (c == '\0' || !strchr("{[\"tfn-0123456789", c)) {
        skip_value(d); /* reports the syntax error */
        return false;
    }
    problem(d, "expected %s, got %s", expected, kind_of(c));
    skip_value(d);
    return false;
}

/* After a conversion failed: report it as a problem, or stop when the pool is full. */
static bool conversion_failed(dec_t *d, mentis_status_t st, const char *why)
{
    if (st == MENTIS_ERR_TOO_LARGE)
        pool_full(d);
    else
        problem(d, "%s", why);
    return false;
}

static void dec_object(dec_t *d, const ProtobufCMessageDescriptor *desc, ProtobufCMessage *msg);

/*
 * A mentis.v1.JsonValue: any JSON value, checked by the same strict reader (syntax, UTF-8,
 * nesting depth), kept as its exact text in a new message in the pool.
 */
static bool dec_json(dec_t *d, const ProtobufCMessageDescriptor *md, mentis__codec_value_t *v)
{
    peek(d);
    const char *from = d->p;
    if (!skip_value(d))
        return false;
    ProtobufCMessage *m = mentis__codec_message_new(d->pool, md);
    char *text = m != NULL ? mentis_pool_strndup(d->pool, from, (size_t)(d->p - from)) : NULL;
    if (text == NULL) {
        pool_full(d);
        return false;
    }
    mentis__codec_value_t t = {.s = text};
    mentis__codec_field_set(m, &md->fields[0], &t);
    v->msg = m;
    return true;
}

/* A string no longer than cap - 1 bytes read into buf; longer ones are only counted. */
static bool small_string(dec_t *d, char *buf, size_t cap, size_t *len)
{
    if (!lex_string(d, buf, cap - 1, len))
        return false;
    buf[*len < cap - 1 ? *len : cap - 1] = '\0';
    return true;
}

/*
 * Decodes the value at d->p as one value of field fd into *v. False when the value was
 * refused (a problem is recorded and the value passed over) or reading stopped.
 */
static bool dec_value(dec_t *d, const ProtobufCFieldDescriptor *fd, mentis__codec_value_t *v)
{
    char why[MENTIS_CODEC_MESSAGE_MAX];
    char c = peek(d);
    const char *tok;
    size_t n;
    mentis_status_t st;
    switch (fd->type) {
    case PROTOBUF_C_TYPE_MESSAGE: {
        const ProtobufCMessageDescriptor *md = fd->descriptor;
        if (mentis__codec_is_json(md))
            return dec_json(d, md, v);
        if (mentis__codec_is_timestamp(md)) {
            char text[64];
            if (c != '"')
                return refuse(d, "an RFC 3339 date-time string");
            if (!small_string(d, text, sizeof text, &n))
                return false;
            if (n >= sizeof text)
                return conversion_failed(
                    d, MENTIS_ERR_INVALID_ARGUMENT,
                    "expected an RFC 3339 date-time like 2026-11-23T10:20:00Z");
            st = mentis__codec_value_from_text(fd, text, n, d->pool, v, why, sizeof why);
            return st == MENTIS_OK || conversion_failed(d, st, why);
        }
        if (c != '{')
            return refuse(d, "an object");
        ProtobufCMessage *m = mentis__codec_message_new(d->pool, md);
        if (m == NULL) {
            pool_full(d);
            return false;
        }
        v->msg = m;
        /* A sub-message with problems inside still counts as given: its problems are
         * recorded, and the decode fails as a whole. */
        dec_object(d, md, m);
        return !d->stop;
    }
    case PROTOBUF_C_TYPE_STRING: {
        if (c != '"')
            return refuse(d, "a string");
        if (!string_in_pool(d, &v->s, &n))
            return false;
        if (memchr(v->s, '\0', n) != NULL)
            return conversion_failed(d, MENTIS_ERR_INVALID_ARGUMENT, "contains a NUL character");
        return true;
    }
    case PROTOBUF_C_TYPE_BYTES: {
        char *text;
        if (c != '"')
            return refuse(d, "a base64 string");
        if (!string_in_pool(d, &text, &n))
            return false;
        st = mentis__codec_value_from_text(fd, text, n, d->pool, v, why, sizeof why);
        return st == MENTIS_OK || conversion_failed(d, st, why);
    }
    case PROTOBUF_C_TYPE_ENUM: {
        char text[KEY_MAX];
        if (c == '"') {
            /* A string is a name only: "1" does not mean the number 1. */
            if (!small_string(d, text, sizeof text, &n))
                return false;
            const ProtobufCEnumValue *ev =
                n < sizeof text ? mentis__codec_enum_by_name(fd->descriptor, text, n) : NULL;
            if (ev != NULL) {
                v->e = ev->value;
                return true;
            }
            char allowed[160];
            mentis__codec_enum_allowed(fd->descriptor, allowed, sizeof allowed);
            problem(d, "unknown value \"%.48s%s\" (allowed: %s)", text, n > 48 ? "..." : "",
                    allowed);
            return false;
        }
        if (c == '-' || (c >= '0' && c <= '9')) {
            if (!lex_number(d, &tok, &n))
                return false;
            st = mentis__codec_value_from_text(fd, tok, n, d->pool, v, why, sizeof why);
            return st == MENTIS_OK || conversion_failed(d, st, why);
        }
        return refuse(d, "a string naming a value");
    }
    case PROTOBUF_C_TYPE_BOOL:
        if (c != 't' && c != 'f')
            return refuse(d, "true or false");
        if (!lex_literal(d))
            return false;
        v->b = c == 't';
        return true;
    case PROTOBUF_C_TYPE_FLOAT:
    case PROTOBUF_C_TYPE_DOUBLE:
        if (c != '-' && (c < '0' || c > '9'))
            return refuse(d, "a number");
        if (!lex_number(d, &tok, &n))
            return false;
        st = mentis__codec_value_from_text(fd, tok, n, d->pool, v, why, sizeof why);
        return st == MENTIS_OK || conversion_failed(d, st, why);
    default: /* the integers: JSON numbers, or decimal strings as proto3 JSON allows */
        if (c == '"') {
            char text[KEY_MAX];
            if (!small_string(d, text, sizeof text, &n))
                return false;
            if (n >= sizeof text)
                n = sizeof text - 1; /* far too long for any integer: refused below */
            st = mentis__codec_value_from_text(fd, text, n, d->pool, v, why, sizeof why);
            return st == MENTIS_OK || conversion_failed(d, st, why);
        }
        if (c != '-' && (c < '0' || c > '9'))
            return refuse(d, "an integer");
        if (!lex_number(d, &tok, &n))
            return false;
        st = mentis__codec_value_from_text(fd, tok, n, d->pool, v, why, sizeof why);
        return st == MENTIS_OK || conversion_failed(d, st, why);
    }
}

/* ---- arrays and maps ---- */

/* A growing array in the pool: doubled when full, the old block left to the pool. */
typedef struct {
    char *data;
    size_t n, cap, size;
} grow_t;

static bool grow_push(dec_t *d, grow_t *g, const void *value)
{
    if (g->n == g->cap) {
        size_t cap = g->cap > 0 ? g->cap * 2 : 4;
        char *data = mentis_pool_alloc(d->pool, cap * g->size);
        if (data == NULL) {
            pool_full(d);
            return false;
        }
        if (g->n > 0)
            memcpy(data, g->data, g->n * g->size);
        g->data = data;
        g->cap = cap;
    }
    memcpy(g->data + g->n * g->size, value, g->size);
    g->n++;
    return true;
}

static void set_repeated(ProtobufCMessage *msg, const ProtobufCFieldDescriptor *fd, grow_t *g)
{
    char *base = (char *)msg;
    void *data = g->n > 0 ? g->data : NULL;
    memcpy(base + fd->quantifier_offset, &g->n, sizeof g->n);
    memcpy(base + fd->offset, &data, sizeof data);
}

static void dec_array(dec_t *d, ProtobufCMessage *msg, const ProtobufCFieldDescriptor *fd)
{
    if (peek(d) != '[') {
        refuse(d, "an array");
        return;
    }
    if (!enter(d))
        return;
    d->p++;
    grow_t g = {.size = mentis__codec_value_size(fd->type)};
    if (peek(d) == ']') {
        d->p++;
    } else {
        for (size_t i = 0;; i++) {
            if (i == d->max_items) {
                limit(d, MENTIS_ERR_INVALID_ARGUMENT, "more than %zu elements", d->max_items);
                return;
            }
            size_t at = mentis__codec_path_index(&d->path, i);
            mentis__codec_value_t v;
            bool ok;
            if (peek(d) == 'n') {
                ok = false;
                if (lex_literal(d))
                    problem(d, "null is not allowed in an array");
            } else {
                ok = dec_value(d, fd, &v);
            }
            mentis__codec_path_pop(&d->path, at);
            if (d->stop || (ok && !grow_push(d, &g, &v)))
                return;
            char next = peek(d);
            if (next == ',') {
                d->p++;
            } else if (next == ']') {
                d->p++;
                break;
            } else {
                syntax(d, "expected ',' or ']'");
                return;
            }
        }
    }
    d->depth--;
    set_repeated(msg, fd, &g);
}

/* A map key in its canonical text, to find keys given twice. */
typedef struct {
    const char *text;
    size_t order;
} map_key_t;

static int compare_keys(const void *a, const void *b)
{
    const map_key_t *x = a, *y = b;
    int c = strcmp(x->text, y->text);
    return c != 0 ? c : (x->order > y->order) - (x->order < y->order);
}

/* The key's value for the entry, and its canonical text ("1" for "1", "-0" is 0). */
static bool map_key(dec_t *d, const ProtobufCFieldDescriptor *kfd, char *text, size_t n,
                    mentis__codec_value_t *kv, const char **canon)
{
    char why[MENTIS_CODEC_MESSAGE_MAX];
    if (kfd->type == PROTOBUF_C_TYPE_STRING) {
        if (memchr(text, '\0', n) != NULL) {
            problem(d, "key contains a NUL character");
            return false;
        }
        kv->s = text;
        *canon = text;
        return true;
    }
    if (kfd->type == PROTOBUF_C_TYPE_BOOL &&
        !((n == 4 && memcmp(text, "true", 4) == 0) || (n == 5 && memcmp(text, "false", 5) == 0))) {
        problem(d, "key must be \"true\" or \"false\"");
        return false;
    }
    mentis_status_t st = mentis__codec_value_from_text(kfd, text, n, d->pool, kv, why, sizeof why);
    if (st != MENTIS_OK) {
        if (st == MENTIS_ERR_TOO_LARGE)
            pool_full(d);
        else
            problem(d, "invalid key: %s", why);
        return false;
    }
    char *c = NULL;
    switch (kfd->type) {
    case PROTOBUF_C_TYPE_BOOL:
        *canon = kv->b ? "true" : "false";
        return true;
    case PROTOBUF_C_TYPE_INT32:
    case PROTOBUF_C_TYPE_SINT32:
    case PROTOBUF_C_TYPE_SFIXED32:
        c = mentis_pool_printf(d->pool, "%d", (int)kv->i32);
        break;
    case PROTOBUF_C_TYPE_UINT32:
    case PROTOBUF_C_TYPE_FIXED32:
        c = mentis_pool_printf(d->pool, "%u", (unsigned)kv->u32);
        break;
    case PROTOBUF_C_TYPE_UINT64:
    case PROTOBUF_C_TYPE_FIXED64:
        c = mentis_pool_printf(d->pool, "%llu", (unsigned long long)kv->u64);
        break;
    default:
        c = mentis_pool_printf(d->pool, "%lld", (long long)kv->i64);
        break;
    }
    if (c == NULL) {
        pool_full(d);
        return false;
    }
    *canon = c;
    return true;
}

static void dec_map(dec_t *d, ProtobufCMessage *msg, const ProtobufCFieldDescriptor *fd)
{
    if (peek(d) != '{') {
        refuse(d, "an object");
        return;
    }
    if (!enter(d))
        return;
    d->p++;
    const ProtobufCMessageDescriptor *entry_desc = fd->descriptor;
    const ProtobufCFieldDescriptor *kfd = &entry_desc->fields[0], *vfd = &entry_desc->fields[1];
    grow_t entries = {.size = sizeof(ProtobufCMessage *)};
    grow_t keys = {.size = sizeof(map_key_t)};
    if (peek(d) == '}') {
        d->p++;
    } else {
        for (size_t i = 0;; i++) {
            if (i == d->max_items) {
                limit(d, MENTIS_ERR_INVALID_ARGUMENT, "more than %zu entries", d->max_items);
                return;
            }
            char *text;
            size_t n;
            if (peek(d) != '"') {
                syntax(d, "expected a string key");
                return;
            }
            if (!string_in_pool(d, &text, &n))
                return;
            if (peek(d) != ':') {
                syntax(d, "expected ':'");
                return;
            }
            d->p++;
            size_t at = mentis__codec_path_key(&d->path, text, n);
            mentis__codec_value_t kv, vv;
            const char *canon = NULL;
            bool key_ok = map_key(d, kfd, text, n, &kv, &canon);
            bool value_ok = false;
            if (d->stop)
                return;
            if (peek(d) == 'n') {
                if (lex_literal(d))
                    problem(d, "null is not allowed as a map value");
            } else {
                value_ok = dec_value(d, vfd, &vv);
            }
            mentis__codec_path_pop(&d->path, at);
            if (d->stop)
                return;
            if (key_ok && value_ok) {
                ProtobufCMessage *entry = mentis__codec_message_new(d->pool, entry_desc);
                map_key_t mk = {.text = canon, .order = i};
                if (entry == NULL) {
                    pool_full(d);
                    return;
                }
                mentis__codec_field_set(entry, kfd, &kv);
                mentis__codec_field_set(entry, vfd, &vv);
                if (!grow_push(d, &entries, &entry) || !grow_push(d, &keys, &mk))
                    return;
            }
            char next = peek(d);
            if (next == ',') {
                d->p++;
            } else if (next == '}') {
                d->p++;
                break;
            } else {
                syntax(d, "expected ',' or '}'");
                return;
            }
        }
    }
    d->depth--;
    /* Keys given twice: sort a copy, compare neighbours. The pool holds the sorted copy. */
    if (keys.n > 1) {
        qsort(keys.data, keys.n, keys.size, compare_keys);
        const map_key_t *k = (const map_key_t *)(void *)keys.data;
        for (size_t i = 1; i < keys.n; i++) {
            if (strcmp(k[i].text, k[i - 1].text) == 0 &&
                (i < 2 || strcmp(k[i - 1].text, k[i - 2].text) != 0)) {
                size_t at = mentis__codec_path_key(&d->path, k[i].text, strlen(k[i].text));
                problem(d, "key given more than once");
                mentis__codec_path_pop(&d->path, at);
            }
        }
    }
    set_repeated(msg, fd, &entries);
}

/* ---- messages ---- */

static void dec_field(dec_t *d, const ProtobufCMessageDescriptor *desc, ProtobufCMessage *msg,
                      const ProtobufCFieldDescriptor *fd)
{
    if (peek(d) == 'n') {
        lex_literal(d); /* null: the field stays unset */
        return;
    }
    if (fd->label == PROTOBUF_C_LABEL_REPEATED) {
        if (mentis__codec_is_map(desc, fd))
            dec_map(d, msg, fd);
        else
            dec_array(d, msg, fd);
        return;
    }
    mentis__codec_value_t v;
    if (!dec_value(d, fd, &v))
        return;
    const ProtobufCFieldDescriptor *rival = mentis__codec_oneof_rival(msg, fd);
    if (rival != NULL) {
        char members[160];
        mentis__codec_oneof_members(desc, fd, members, sizeof members);
        problem(d, "conflicts with \"%s\": only one of %s may be set", rival->name, members);
        return;
    }
    mentis__codec_field_set(msg, fd, &v);
}

/* Decodes the object at d->p (which is '{') into msg; d->stop tells whether to go on. */
static void dec_object(dec_t *d, const ProtobufCMessageDescriptor *desc, ProtobufCMessage *msg)
{
    if (!enter(d))
        return;
    d->p++;
    /* Fields seen so far, by index in desc->fields: 256 fields fit on the stack. */
    uint8_t seen_small[256];
    uint8_t *seen = seen_small;
    if (desc->n_fields > sizeof seen_small) {
        if ((seen = mentis_pool_alloc(d->pool, desc->n_fields)) == NULL) {
            pool_full(d);
            return;
        }
    }
    memset(seen, 0, desc->n_fields);
    if (peek(d) == '}') {
        d->p++;
        d->depth--;
        return;
    }
    for (;;) {
        char key[KEY_MAX];
        size_t n;
        if (peek(d) != '"') {
            syntax(d, "expected a string key");
            return;
        }
        if (!small_string(d, key, sizeof key, &n))
            return;
        if (peek(d) != ':') {
            syntax(d, "expected ':'");
            return;
        }
        d->p++;
        bool whole = n < sizeof key;
        const ProtobufCFieldDescriptor *fd =
            whole ? mentis__codec_field_by_key(desc, key, n) : NULL;
        size_t at;
        if (fd == NULL) {
            at = mentis__codec_path_field(&d->path, key, whole ? n : sizeof key - 1);
            problem(d, "unknown field");
            mentis__codec_path_pop(&d->path, at);
            if (!skip_value(d))
                return;
        } else {
            size_t index = (size_t)(fd - desc->fields);
            at = mentis__codec_path_field(&d->path, fd->name, strlen(fd->name));
            if (seen[index]) {
                problem(d, "given more than once");
                mentis__codec_path_pop(&d->path, at);
                if (!skip_value(d))
                    return;
            } else {
                seen[index] = 1;
                dec_field(d, desc, msg, fd);
                mentis__codec_path_pop(&d->path, at);
                if (d->stop)
                    return;
            }
        }
        char next = peek(d);
        if (next == ',') {
            d->p++;
        } else if (next == '}') {
            d->p++;
            d->depth--;
            return;
        } else {
            syntax(d, "expected ',' or '}'");
            return;
        }
    }
}

mentis_status_t mentis_codec_decode(const ProtobufCMessageDescriptor *desc, const char *json,
                                    size_t len, const mentis_codec_limits_t *limits,
                                    mentis_pool_t *pool, mentis_codec_problems_t *problems,
                                    ProtobufCMessage **out)
{
    if (desc == NULL || (json == NULL && len > 0) || pool == NULL || out == NULL)
        return mentis_err_set(MENTIS_ERR_INTERNAL, NULL, "codec decode: NULL argument");
    size_t max_input = limits != NULL && limits->max_input > 0 ? limits->max_input
                                                               : MENTIS_CODEC_DEFAULT_MAX_INPUT;
    if (json == NULL)
        json = "";
    dec_t d = {
        .start = json,
        .p = json,
        .end = json + len,
        .pool = pool,
        .max_depth = limits != NULL && limits->max_depth > 0 ? limits->max_depth
                                                             : MENTIS_CODEC_DEFAULT_MAX_DEPTH,
        .max_items = limits != NULL && limits->max_items > 0 ? limits->max_items
                                                             : MENTIS_CODEC_DEFAULT_MAX_ITEMS,
        .problems = problems,
        .problems_base = problems != NULL ? problems->count : 0,
        .dropped_base = problems != NULL ? problems->dropped : 0,
    };
    if (d.max_depth > MENTIS_CODEC_MAX_DEPTH)
        d.max_depth = MENTIS_CODEC_MAX_DEPTH;
    ProtobufCMessage *msg = NULL;
    if (len > max_input) {
        limit(&d, MENTIS_ERR_TOO_LARGE, "the body has %zu bytes; at most %zu are accepted", len,
              max_input);
    } else if (peek(&d) == '\0') {
        syntax(&d, "unexpected end of input");
    } else if (mentis__codec_is_special(desc)) {
        /* A timestamp on its own is a string and a JSON value any value, as everywhere
         * else. */
        ProtobufCFieldDescriptor fd = {
            .name = "", .type = PROTOBUF_C_TYPE_MESSAGE, .descriptor = desc};
        mentis__codec_value_t v;
        if (dec_value(&d, &fd, &v))
            msg = v.msg;
    } else if (peek(&d) != '{') {
        refuse(&d, "a JSON object");
    } else if ((msg = mentis__codec_message_new(pool, desc)) == NULL) {
        pool_full(&d);
    } else {
        dec_object(&d, desc, msg);
    }
    if (!d.stop) {
        peek(&d);
        if (d.p != d.end)
            syntax(&d, "unexpected data after the JSON value");
    }
    if (d.stop || d.failed)
        return mentis_err_set(d.stop ? d.stop_status : MENTIS_ERR_INVALID_ARGUMENT, NULL, "%s",
                              d.first);
    *out = msg;
    return MENTIS_OK;
}

bool mentis__codec_json_valid(const char *text, size_t n, unsigned max_depth)
{
    if (text == NULL)
        return false;
    dec_t d = {.start = text, .p = text, .end = text + n, .max_depth = max_depth};
    if (!skip_value(&d) || d.stop || d.failed)
        return false;
    peek(&d);
    return d.p == d.end;
}
