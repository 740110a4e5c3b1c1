#include <string.h>

#include <sodium.h>

#include "mentis/crypto.h"

#define B64_VARIANT sodium_base64_VARIANT_URLSAFE_NO_PADDING

void mentis_crypto_hex(const void *data, size_t n, char *out)
{
    sodium_bin2hex(out, 2 * n + 1, data, n);
}

mentis_status_t mentis_crypto_unhex(const char *hex, uint8_t *out, size_t out_size, size_t *len_out)
{
    if (hex == NULL || (out == NULL && out_size > 0))
        return mentis_err_set(MENTIS_ERR_INVALID_ARGUMENT, NULL, "crypto: unhex of NULL");
    size_t len = strlen(hex);
    if (len % 2 != 0)
        return mentis_err_set(MENTIS_ERR_INVALID_ARGUMENT, NULL, "crypto: hex of odd length %zu",
                              len);
    if (len / 2 > out_size)
        return mentis_err_set(MENTIS_ERR_TOO_LARGE, NULL, "crypto: %zu hex bytes do not fit in %zu",
                              len / 2, out_size);
    size_t bin_len = 0;
    /* sodium_hex2bin is constant-time in the content, which matters for hex secrets. */
    if (len > 0 && sodium_hex2bin(out, out_size, hex, len, NULL, &bin_len, NULL) != 0)
        return mentis_err_set(MENTIS_ERR_INVALID_ARGUMENT, NULL, "crypto: not hex (%zu characters)",
                              len);
    if (len_out != NULL)
        *len_out = bin_len;
    return MENTIS_OK;
}

mentis_status_t mentis_crypto_base64url_encode(const void *data, size_t n, char *out,
                                               size_t out_size)
{
    if (n > (SIZE_MAX - 4) / 4 * 3)
        return mentis_err_set(MENTIS_ERR_TOO_LARGE, NULL, "crypto: %zu bytes to encode", n);
    size_t need = sodium_base64_encoded_len(n, B64_VARIANT);
    if (out == NULL || out_size < need)
        return mentis_err_set(MENTIS_ERR_TOO_LARGE, NULL,
                              "crypto: base64url of %zu bytes needs %zu, buffer has %zu", n, need,
                              out == NULL ? 0 : out_size);
    sodium_bin2base64(out, out_size, data, n, B64_VARIANT);
    return MENTIS_OK;
}

mentis_status_t mentis_crypto_base64url_decode(const char *text, size_t text_len, uint8_t *out,
                                               size_t out_size, size_t *len_out)
{
    if ((text == NULL && text_len > 0) || (out == NULL && out_size > 0))
        return mentis_err_set(MENTIS_ERR_INVALID_ARGUMENT, NULL, "crypto: base64url of NULL");
    /* One leftover character carries only 6 bits: no byte string encodes to that length. */
    if (text_len % 4 == 1)
        return mentis_err_set(MENTIS_ERR_INVALID_ARGUMENT, NULL,
                              "crypto: base64url of impossible length %zu", text_len);
    size_t decoded = text_len / 4 * 3 + (text_len % 4 ? text_len % 4 - 1 : 0);
    if (decoded > out_size)
        return mentis_err_set(MENTIS_ERR_TOO_LARGE, NULL,
                              "crypto: %zu decoded bytes do not fit in %zu", decoded, out_size);
    /* libsodium 1.0.18 takes any byte >= 0x80 for a valid character (its lookup works on a
     * signed char), so those are refused here first, without branching on the content. */
    unsigned char high = 0;
    for (size_t i = 0; i < text_len; i++)
        high |= (unsigned char)text[i];
    if (high & 0x80)
        return mentis_err_set(MENTIS_ERR_INVALID_ARGUMENT, NULL,
                              "crypto: not base64url without padding (%zu characters)", text_len);
    size_t bin_len = 0;
    /* With no ignore set and no end pointer, libsodium refuses any character outside the
     * alphabet and any non-zero unused bits in the last one, in constant time. */
    if (text_len > 0 &&
        sodium_base642bin(out, out_size, text, text_len, NULL, &bin_len, NULL, B64_VARIANT) != 0)
        return mentis_err_set(MENTIS_ERR_INVALID_ARGUMENT, NULL,
                              "crypto: not base64url without padding (%zu characters)", text_len);
    if (len_out != NULL)
        *len_out = bin_len;
    return MENTIS_OK;
}
