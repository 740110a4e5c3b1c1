/* The password policy and hashing with the configured Argon2id limits. */
#include <string.h>

#include "auth.h"

bool mentis__auth_password_valid(mentis_ctx_t *ctx, const char *field, const char *password)
{
    size_t n = password ? strlen(password) : 0;
    if (n < 8 || n > 128) {
        mentis_ctx_field_error(ctx, field, "must be 8 to 128 characters");
        return false;
    }
    return true;
}

mentis_status_t mentis__auth_password_hash(const mentis_auth_t *app, const char *password,
                                           char out[MENTIS_CRYPTO_PWHASH_STRBYTES])
{
    return mentis_crypto_password_hash(password, app->pwhash_opslimit, app->pwhash_memlimit, out);
}
