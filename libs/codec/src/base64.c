#include <string.h>

#include "codec_internal.h"

static const char alphabet[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

size_t mentis__codec_base64_len(size_t n)
{
    return (n + 2) / 3 * 4;
}

void mentis__codec_base64_encode(const uint8_t *data, size_t n, char *out)
{
    size_t o = 0, i = 0;
    for (; i + 3 <= n; i += 3) {
        uint32_t v = (uint32_t)data[i] << 16 | (uint32_t)data[i + 1] << 8 | data[i + 2];
        out[o++] = alphabet[v >> 18];
        out[o++] = alphabet[v >> 12 & 63];
        out[o++] = alphabet[v >> 6 & 63];
        out[o++] = alphabet[v & 63];
    }
    if (n - i == 1) {
        uint32_t v = (uint32_t)data[i] << 16;
        out[o++] = alphabet[v >> 18];
        out[o++] = alphabet[v >> 12 & 63];
        out[o++] = '=';
        out[o++] = '=';
    } else if (n - i == 2) {
        uint32_t v = (uint32_t)data[i] << 16 | (uint32_t)data[i + 1] << 8;
        out[o++] = alphabet[v >> 18];
        out[o++] = alphabet[v >> 12 & 63];
        out[o++] = alphabet[v >> 6 & 63];
        out[o++] = '=';
    }
}

/* The 6-bit value of a character of either alphabet, or -1. */
static int sextet(char c)
{
    if (c >= 'A' && c <= 'Z')
        return c - 'A';
    if (c >= 'a' && c <= 'z')
        return c - 'a' + 26;
    if (c >= '0' && c <= '9')
        return c - '0' + 52;
    if (c == '+' || c == '-')
        return 62;
    if (c == '/' || c == '_')
        return 63;
    return -1;
}

/* out may be s itself: each byte is written only after the characters it comes from. */
bool mentis__codec_base64_decode(const char *s, size_t n, uint8_t *out, size_t *len_out,
                                 const char **why)
{
    size_t pad = 0;
    while (pad < 2 && n > pad && s[n - pad - 1] == '=')
        pad++;
    size_t m = n - pad;
    if (m % 4 == 1 || (pad > 0 && (n % 4 != 0 || m % 4 + pad != 4))) {
        *why = "invalid base64: wrong length or padding";
        return false;
    }
    uint32_t acc = 0;
    int bits = 0;
    size_t o = 0;
    for (size_t i = 0; i < m; i++) {
        int v = sextet(s[i]);
        if (v < 0) {
            *why = "invalid base64: a character outside the alphabet";
            return false;
        }
        acc = (acc << 6 | (uint32_t)v) & 0xFFFFFF;
        bits += 6;
        if (bits >= 8) {
            bits -= 8;
            out[o++] = (uint8_t)(acc >> bits);
        }
    }
    /* Unused low bits of the last character must be zero: one byte string, one text. */
    if (bits > 0 && (acc & ((1u << bits) - 1)) != 0) {
        *why = "invalid base64: stray bits in the last character";
        return false;
    }
    *len_out = o;
    return true;
}
