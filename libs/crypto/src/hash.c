#include <sodium.h>

#include "mentis/crypto.h"

void mentis_crypto_hash(const void *data, size_t n, uint8_t out[32])
{
    crypto_generichash(out, 32, data, n, NULL, 0);
}

void mentis_crypto_hash_hex(const void *data, size_t n, char out[65])
{
    uint8_t digest[32];
    mentis_crypto_hash(data, n, digest);
    mentis_crypto_hex(digest, sizeof digest, out);
}

void mentis_crypto_keyed_hash(const uint8_t key[32], const void *data, size_t n, uint8_t out[32])
{
    crypto_generichash(out, 32, data, n, key, 32);
}
