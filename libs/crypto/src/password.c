#include <string.h>

#include <sodium.h>

#include "mentis/crypto.h"

_Static_assert(MENTIS_CRYPTO_PWHASH_STRBYTES == crypto_pwhash_STRBYTES,
               "the header's hash size must match libsodium's");

mentis_status_t mentis_crypto_password_hash(const char *password, unsigned long long opslimit,
                                            size_t memlimit,
                                            char out[MENTIS_CRYPTO_PWHASH_STRBYTES])
{
    if (password == NULL || out == NULL)
        return mentis_err_set(MENTIS_ERR_INVALID_ARGUMENT, NULL, "crypto: NULL password or out");
    if (opslimit < MENTIS_CRYPTO_PWHASH_OPSLIMIT_MIN ||
        memlimit < MENTIS_CRYPTO_PWHASH_MEMLIMIT_MIN)
        return mentis_err_set(MENTIS_ERR_INVALID_ARGUMENT, NULL,
                              "crypto: Argon2id limits too weak (opslimit %llu, memlimit %zu; "
                              "the minimum is %llu and %zu)",
                              opslimit, memlimit, MENTIS_CRYPTO_PWHASH_OPSLIMIT_MIN,
                              MENTIS_CRYPTO_PWHASH_MEMLIMIT_MIN);
    if (opslimit > crypto_pwhash_argon2id_OPSLIMIT_MAX ||
        memlimit > crypto_pwhash_argon2id_MEMLIMIT_MAX)
        return mentis_err_set(MENTIS_ERR_INVALID_ARGUMENT, NULL,
                              "crypto: Argon2id limits too large (opslimit %llu, memlimit %zu)",
                              opslimit, memlimit);
    size_t len = strlen(password);
    if (len > crypto_pwhash_argon2id_PASSWD_MAX)
        return mentis_err_set(MENTIS_ERR_INVALID_ARGUMENT, NULL, "crypto: password too long");
    if (crypto_pwhash_str_alg(out, password, len, opslimit, memlimit,
                              crypto_pwhash_ALG_ARGON2ID13) != 0)
        return mentis_err_set(MENTIS_ERR_NO_MEMORY, NULL,
                              "crypto: Argon2id could not get %zu bytes", memlimit);
    return MENTIS_OK;
}

/* A stored hash is a NUL-terminated string shorter than crypto_pwhash_STRBYTES. */
static bool plausible_hash(const char *hash)
{
    return hash != NULL && strnlen(hash, crypto_pwhash_STRBYTES) < crypto_pwhash_STRBYTES;
}

bool mentis_crypto_password_verify(const char *hash, const char *password)
{
    if (!plausible_hash(hash) || password == NULL)
        return false;
    return crypto_pwhash_str_verify(hash, password, strlen(password)) == 0;
}

bool mentis_crypto_password_needs_rehash(const char *hash, unsigned long long opslimit,
                                         size_t memlimit)
{
    if (!plausible_hash(hash))
        return true;
    /* The Argon2id variant answers -1 for anything not Argon2id, which needs a rehash too. */
    return crypto_pwhash_argon2id_str_needs_rehash(hash, opslimit, memlimit) != 0;
}
