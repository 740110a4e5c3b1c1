#include <sodium.h>

#include "mentis/crypto.h"

mentis_status_t mentis_crypto_init(void)
{
    /* sodium_init is itself thread-safe and returns 1 when it already ran. */
    if (sodium_init() < 0)
        return mentis_err_set(MENTIS_ERR_INTERNAL, NULL,
                              "crypto: sodium_init failed (no entropy source?)");
    return MENTIS_OK;
}

void mentis_crypto_random(void *buf, size_t n)
{
    randombytes_buf(buf, n);
}

mentis_status_t mentis_crypto_token(size_t nbytes, char *out, size_t out_size)
{
    unsigned char raw[64];
    if (nbytes < 16 || nbytes > sizeof raw)
        return mentis_err_set(MENTIS_ERR_INVALID_ARGUMENT, NULL,
                              "crypto: a token has 16..64 bytes, not %zu", nbytes);
    if (out == NULL)
        return mentis_err_set(MENTIS_ERR_INVALID_ARGUMENT, NULL, "crypto: NULL token buffer");
    randombytes_buf(raw, nbytes);
    mentis_status_t st = mentis_crypto_base64url_encode(raw, nbytes, out, out_size);
    sodium_memzero(raw, sizeof raw);
    return st;
}
