#include <string.h>

#include <sodium.h>

#include "mentis/crypto.h"

bool mentis_crypto_equal(const void *a, const void *b, size_t n)
{
    if (n == 0)
        return true;
    return sodium_memcmp(a, b, n) == 0;
}

bool mentis_crypto_str_equal(const char *a, const char *b)
{
    if (a == NULL || b == NULL)
        return false;
    size_t la = strlen(a), lb = strlen(b);
    if (la != lb)
        return false;
    return mentis_crypto_equal(a, b, la);
}
