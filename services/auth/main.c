/* mentis-auth: accounts, sessions, tokens, beta tokens, tenants and email flows */
#include <pthread.h>
#include <sodium.h>
#include <stdio.h>
#include <string.h>

#include "account.h"
#include "admin.h"
#include "auth.h"
#include "mentis/log.h"

/* Used when MENTIS_AUTH_KEY_ENCRYPTION_KEY is unset, so the local stack starts with no
 * setup. Public, hence never for production: the start-up log says so loudly. */
#define DEVELOPMENT_KEK "6d656e7469732d6c6f63616c2d646576656c6f706d656e742d6f6e6c79210000"

static mentis_auth_t app_state;
static bool key_lock_ready; /* app_state.key_lock was initialised by start */

static void derive(const uint8_t kek[32], const char *context, uint8_t out[32])
{
    mentis_crypto_keyed_hash(kek, context, strlen(context), out);
}

static mentis_status_t configure(mentis_service_t *svc, mentis_config_t *cfg)
{
    mentis_auth_t *app = &app_state;
    memset(app, 0, sizeof *app);
    app->default_tenant =
        mentis_config_str(cfg, "MENTIS_AUTH_DEFAULT_TENANT", MENTIS_AUTH_DEFAULT_TENANT,
                          "tenant of public requests (register, login, refresh) that "
                          "arrive without Mentis-Tenant");
    uint8_t id[16];
    if (!mentis_crypto_uuid_parse(app->default_tenant, id))
        mentis_config_fail(cfg, "MENTIS_AUTH_DEFAULT_TENANT", "expected a UUID, got \"%s\"",
                           app->default_tenant);
    app->issuer =
        mentis_config_str(cfg, "MENTIS_AUTH_ISSUER", "mentis", "access tokens' iss claim");
    app->audience =
        mentis_config_str(cfg, "MENTIS_AUTH_AUDIENCE", "mentis-api", "access tokens' aud claim");
    app->access_ttl_s = mentis_config_int(cfg, "MENTIS_AUTH_ACCESS_TTL_S", 900, 60, 86400,
                                          "access token lifetime, seconds");
    app->refresh_ttl_s =
        mentis_config_int(cfg, "MENTIS_AUTH_REFRESH_TTL_S", 30 * 86400, 300, 365 * 86400,
                          "refresh token (and idle session) lifetime, seconds");
    app->refresh_grace_s =
        mentis_config_int(cfg, "MENTIS_AUTH_REFRESH_GRACE_S", 10, 0, 300,
                          "seconds in which a just-rotated refresh token gives the "
                          "same successor instead of counting as reuse");
    app->key_rotation_s = mentis_config_int(
        cfg, "MENTIS_AUTH_KEY_ROTATION_S", 30 * 86400, 2, 365 * 86400,
        "age of the active token signing key after which a new one replaces it, seconds "
        "(production: days; values of seconds are for tests)");
    /* The rotation thread looks four times a period, at least once a minute; a retired key
     * stays served for a token's lifetime plus two looks (another replica may sign with it
     * until its next look notices the rotation). */
    app->key_check_ms = app->key_rotation_s * 1000 / 4;
    if (app->key_check_ms > 60000)
        app->key_check_ms = 60000;
    app->key_keep_s = app->access_ttl_s + 2 * ((app->key_check_ms + 999) / 1000);
    app->pwhash_opslimit = (unsigned long long)mentis_config_int(
        cfg, "MENTIS_AUTH_ARGON2_OPSLIMIT", 3, (int64_t)MENTIS_CRYPTO_PWHASH_OPSLIMIT_MIN, 32,
        "Argon2id passes (OWASP minimum 2)");
    app->pwhash_memlimit = (size_t)mentis_config_int(
        cfg, "MENTIS_AUTH_ARGON2_MEMLIMIT", 64 << 20, (int64_t)MENTIS_CRYPTO_PWHASH_MEMLIMIT_MIN,
        (int64_t)1 << 32, "Argon2id memory, bytes (OWASP minimum 19 MiB)");
    const char *kek =
        mentis_config_secret(cfg, "MENTIS_AUTH_KEY_ENCRYPTION_KEY", NULL,
                             "64 hex characters (32 bytes): seals the token signing keys "
                             "at rest and keys the refresh-token hashes; keep it stable");
    if (kek == NULL || kek[0] == '\0') {
        kek = DEVELOPMENT_KEK;
        app->kek_is_development = true;
    }
    size_t n = 0;
    if (mentis_crypto_unhex(kek, app->kek, sizeof app->kek, &n) != MENTIS_OK ||
        n != sizeof app->kek)
        mentis_config_fail(cfg, "MENTIS_AUTH_KEY_ENCRYPTION_KEY", "expected 64 hex characters");
    derive(app->kek, "mentis.auth.refresh-token-hash", app->refresh_hash_key);
    derive(app->kek, "mentis.auth.refresh-token-successor", app->refresh_successor_key);
    derive(app->kek, "mentis.auth.beta-token-hash", app->beta_hash_key);
    app->bootstrap_email = mentis_config_str(
        cfg, "MENTIS_AUTH_BOOTSTRAP_ADMIN_EMAIL", NULL,
        "creates this platform admin at start when the default tenant has no admin yet");
    app->bootstrap_password = mentis_config_secret(
        cfg, "MENTIS_AUTH_BOOTSTRAP_ADMIN_PASSWORD", NULL,
        "the bootstrap admin's first password (8 to 128 characters)");
    if (app->bootstrap_email != NULL && app->bootstrap_email[0] != '\0') {
        size_t pn = app->bootstrap_password ? strlen(app->bootstrap_password) : 0;
        if (!mentis__auth_email_valid(app->bootstrap_email))
            mentis_config_fail(cfg, "MENTIS_AUTH_BOOTSTRAP_ADMIN_EMAIL",
                               "expected an email address, got \"%s\"", app->bootstrap_email);
        if (pn == 0)
            mentis_config_fail(cfg, "MENTIS_AUTH_BOOTSTRAP_ADMIN_PASSWORD",
                               "required with MENTIS_AUTH_BOOTSTRAP_ADMIN_EMAIL (or its _FILE)");
        else if (pn < 8 || pn > 128)
            mentis_config_fail(cfg, "MENTIS_AUTH_BOOTSTRAP_ADMIN_PASSWORD",
                               "must be 8 to 128 characters");
    }
    mentis__auth_account_configure(app, cfg);
    mentis_service_set_app(svc, app);
    return MENTIS_OK;
}

static mentis_status_t start(mentis_service_t *svc)
{
    mentis_auth_t *app = mentis_service_app(svc);
    if (app->kek_is_development)
        mentis_log_warn(
            "MENTIS_AUTH_KEY_ENCRYPTION_KEY is unset: using the public development key; "
            "set it (or MENTIS_AUTH_KEY_ENCRYPTION_KEY_FILE) for any real deployment");
    /* What an unknown email is checked against, so a miss costs what a hit costs. Argon2id's
     * cost is in the parameters the string names, not in how its salt and hash were made, so
     * random ones do: no real hash (a whole Argon2 run) is spent at start-up. */
    uint8_t salt[16], hash[32];
    char salt64[32], hash64[48];
    mentis_crypto_random(salt, sizeof salt);
    mentis_crypto_random(hash, sizeof hash);
    sodium_bin2base64(salt64, sizeof salt64, salt, sizeof salt, sodium_base64_VARIANT_ORIGINAL_NO_PADDING);
    sodium_bin2base64(hash64, sizeof hash64, hash, sizeof hash, sodium_base64_VARIANT_ORIGINAL_NO_PADDING);
    int n = snprintf(app->dummy_hash, sizeof app->dummy_hash, "$argon2id$v=19$m=%zu,t=%llu,p=1$%s$%s",
                     app->pwhash_memlimit / 1024, app->pwhash_opslimit, salt64, hash64);
    if (n < 0 || (size_t)n >= sizeof app->dummy_hash)
        return mentis_err_set(MENTIS_ERR_INTERNAL, NULL, "auth start: dummy hash does not fit");
    if (pthread_rwlock_init(&app->key_lock, NULL) != 0)
        return mentis_err_set(MENTIS_ERR_INTERNAL, NULL, "auth start: cannot make the key lock");
    key_lock_ready = true;
    mentis_status_t st = mentis__auth_account_start(svc);
    if (st == MENTIS_OK)
        st = mentis__auth_keys_start(svc, app);
    if (st == MENTIS_OK)
        st = mentis__auth_bootstrap_admin(svc, app);
    return st;
}

static void stop(mentis_service_t *svc)
{
    mentis__auth_keys_rotation_stop();
    mentis__auth_account_stop();
    mentis_auth_t *app = mentis_service_app(svc);
    if (app != NULL && key_lock_ready) {
        pthread_rwlock_destroy(&app->key_lock);
        key_lock_ready = false;
    }
    /* The secret keys (signing key, key-encryption key) go with it. */
    if (app != NULL)
        sodium_memzero(app, sizeof *app);
}

#define D(name) &mentis__v1__auth__##name##__descriptor
static const mentis_op_t ops[] = {
    /* Public: the tenant comes from Mentis-Tenant or the default; own transactions, since
     * some refusals (failed logins, reused tokens) must still be recorded. */
    {"register", D(register_request), D(register_response), mentis__auth_op_register, 0},
    {"login", D(login_request), D(login_response), mentis__auth_op_login, 0},
    {"refresh", D(refresh_request), D(refresh_response), mentis__auth_op_refresh, 0},
    {"keys", D(jwks_request), D(jwks_response), mentis__auth_op_keys, 0},
    /* Client: the gateway has checked the access token and sends the identity headers. */
    {"logout", D(logout_request), D(logout_response), mentis__auth_op_logout,
     MENTIS_OP_DB | MENTIS_OP_TENANT},
    {"me.get", D(me_request), D(user), mentis__auth_op_me_get, MENTIS_OP_DB | MENTIS_OP_TENANT},
    {"me.update", D(update_me_request), D(user), mentis__auth_op_me_update,
     MENTIS_OP_DB | MENTIS_OP_TENANT},
    {"whoami", D(whoami_request), D(whoami_response), mentis__auth_op_whoami, MENTIS_OP_TENANT},
    MENTIS_AUTH_ACCOUNT_OPS
    MENTIS_AUTH_ADMIN_OPS
};

static const mentis_service_def_t service = {
    .name = "auth",
    .description = "accounts, sessions, tokens, beta tokens, tenants and email flows",
    .ops = ops,
    .nops = sizeof ops / sizeof ops[0],
    .default_admin_port = 9101,
    .schema = "auth",
    .configure = configure,
    .start = start,
    .stop = stop,
};

int main(int argc, char **argv)
{
    return mentis_service_main(&service, argc, argv);
}
