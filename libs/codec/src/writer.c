#include <string.h>

#include "codec_internal.h"

void mentis__codec_put(mentis__codec_buf_t *b, const char *s, size_t n)
{
    if (b->data != NULL && b->len <= b->cap && n <= b->cap - b->len)
        memcpy(b->data + b->len, s, n);
    b->len += n;
}

void mentis__codec_putc(mentis__codec_buf_t *b, char c)
{
    if (b->data != NULL && b->len < b->cap)
        b->data[b->len] = c;
    b->len++;
}

void mentis__codec_puts(mentis__codec_buf_t *b, const char *s)
{
    mentis__codec_put(b, s, strlen(s));
}

size_t mentis__codec_u64_text(uint64_t v, char buf[MENTIS__CODEC_U64_TEXT])
{
    char rev[20];
    size_t n = 0;
    do {
        rev[n++] = (char)('0' + v % 10);
        v /= 10;
    } while (v != 0);
    for (size_t i = 0; i < n; i++)
        buf[i] = rev[n - 1 - i];
    buf[n] = '\0';
    return n;
}

void mentis__codec_put_i64(mentis__codec_buf_t *b, int64_t v)
{
    char buf[MENTIS__CODEC_U64_TEXT + 1];
    /* The magnitude as unsigned: -INT64_MIN does not fit an int64_t. */
    uint64_t mag = v < 0 ? (uint64_t)0 - (uint64_t)v : (uint64_t)v;
    buf[0] = '-';
    size_t n = mentis__codec_u64_text(mag, buf + 1);
    if (v < 0)
        mentis__codec_put(b, buf, n + 1);
    else
        mentis__codec_put(b, buf + 1, n);
}

size_t mentis__codec_utf8_seq(const unsigned char *s, size_t n)
{
    unsigned char c = s[0];
    if (c < 0x80)
        return 1;
    size_t len;
    unsigned char lo = 0x80, hi = 0xBF; /* the range of the second byte (RFC 3629 table) */
    if (c >= 0xC2 && c <= 0xDF) {
        len = 2;
    } else if (c >= 0xE0 && c <= 0xEF) {
        len = 3;
        if (c == 0xE0)
            lo = 0xA0; /* no overlong forms */
        else if (c == 0xED)
            hi = 0x9F; /* no surrogates */
    } else if (c >= 0xF0 && c <= 0xF4) {
        len = 4;
        if (c == 0xF0)
            lo = 0x90;
        else if (c == 0xF4)
            hi = 0x8F; /* nothing above U+10FFFF */
    } else {
        return 0;
    }
    if (n < len || s[1] < lo || s[1] > hi)
        return 0;
    for (size_t i = 2; i < len; i++)
        if (s[i] < 0x80 || s[i] > 0xBF)
            return 0;
    return len;
}

void mentis__codec_put_escaped(mentis__codec_buf_t *b, const char *s, size_t n)
{
    static const char hex[] = "0123456789abcdef";
    const unsigned char *u = (const unsigned char *)s;
    size_t run = 0; /* start of the bytes that pass through unchanged */
    for (size_t i = 0; i < n;) {
        unsigned char c = u[i];
        /* Printable ASCII, nearly all of most text, passes without a call. */
        if (c >= 0x20 && c < 0x80 && c != '"' && c != '\\') {
            i++;
            continue;
        }
        size_t k = c >= 0x80 ? mentis__codec_utf8_seq(u + i, n - i) : 0;
        if (k > 0) {
            i += k;
            continue;
        }
        mentis__codec_put(b, s + run, i - run);
        switch (c) {
        case '"':
            mentis__codec_put(b, "\\\"", 2);
            break;
        case '\\':
            mentis__codec_put(b, "\\\\", 2);
            break;
        case '\n':
            mentis__codec_put(b, "\\n", 2);
            break;
        case '\r':
            mentis__codec_put(b, "\\r", 2);
            break;
        case '\t':
            mentis__codec_put(b, "\\t", 2);
            break;
        case '\b':
            mentis__codec_put(b, "\\b", 2);
            break;
        case '\f':
            mentis__codec_put(b, "\\f", 2);
            break;
        default:
            if (c < 0x20) {
                char esc[6] = {'\\', 'u', '0', '0', hex[c >> 4], hex[c & 15]};
                mentis__codec_put(b, esc, sizeof esc);
            } else {
                /* One replacement per invalid byte: simple, and the same input always
                 * gives the same output. */
                mentis__codec_put(b, "\xEF\xBF\xBD", 3);
            }
        }
        i++;
        run = i;
    }
    mentis__codec_put(b, s + run, n - run);
}

void mentis__codec_put_string(mentis__codec_buf_t *b, const char *s, size_t n)
{
    mentis__codec_putc(b, '"');
    mentis__codec_put_escaped(b, s, n);
    mentis__codec_putc(b, '"');
}

mentis_status_t mentis__codec_render(mentis_status_t (*write)(mentis__codec_buf_t *, void *),
                                     void *ctx, const mentis_codec_output_t *output,
                                     mentis_pool_t *pool, char **out, size_t *len_out)
{
    size_t max_len =
        output != NULL && output->max_len > 0 ? output->max_len : MENTIS_CODEC_DEFAULT_MAX_OUTPUT;
    size_t headroom = output != NULL ? output->headroom : 0;
    mentis__codec_buf_t measure = {.data = NULL, .len = 0, .cap = 0};
    mentis_status_t st = write(&measure, ctx);
    if (st != MENTIS_OK)
        return st;
    if (measure.len > max_len)
        return mentis_err_set(MENTIS_ERR_NO_MEMORY, NULL,
                              "JSON text of %zu bytes is longer than the cap of %zu", measure.len,
                              max_len);
    if (headroom > SIZE_MAX - 1 - measure.len)
        return mentis_err_set(MENTIS_ERR_NO_MEMORY, NULL, "headroom of %zu bytes", headroom);
    char *block = mentis_pool_alloc(pool, headroom + measure.len + 1);
    if (block == NULL)
        return mentis_err_set(MENTIS_ERR_NO_MEMORY, NULL,
                              "JSON text of %zu bytes: the pool's cap is reached", measure.len);
    mentis__codec_buf_t real = {.data = block + headroom, .len = 0, .cap = measure.len};
    st = write(&real, ctx);
    if (st != MENTIS_OK)
        return st;
    if (real.len != measure.len) /* the writers are deterministic; anything else is a bug */
        return mentis_err_set(MENTIS_ERR_INTERNAL, NULL, "JSON text changed length while written");
    real.data[real.len] = '\0';
    *out = real.data;
    if (len_out != NULL)
        *len_out = real.len;
    return MENTIS_OK;
}
