#include <sodium.h>

#include "mentis/crypto.h"

void mentis_crypto_sign_keypair(uint8_t pk[32], uint8_t sk[64])
{
    crypto_sign_keypair(pk, sk);
}

void mentis_crypto_sign(const uint8_t sk[64], const void *msg, size_t n, uint8_t sig[64])
{
    crypto_sign_detached(sig, NULL, msg, n, sk);
}

bool mentis_crypto_sign_verify(const uint8_t pk[32], const void *msg, size_t n,
                               const uint8_t sig[64])
{
    return crypto_sign_verify_detached(sig, msg, n, pk) == 0;
}
