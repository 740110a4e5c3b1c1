/*
 * Access tokens arrive from clients in Authorization headers. Two properties:
 *  1. Any bytes, verified against a key set whose secret keys nobody kept, must never be
 *     accepted (a signature cannot be forged) and must never crash.
 *  2. Inputs that start with '{' are also signed as the claims of a token with a key we do
 *     hold, so the claim checks (reached only past the signature) get fuzzed too: whatever
 *     verifies must satisfy every promise of mentis_jwt_verify.
 * The verified-token cache sees every input as well.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "mentis/crypto.h"
#include "mentis/jwt.h"

#define NOW 1700000000LL

static const mentis_jwt_policy_t policy = {.issuer = "https://auth.mentis.test",
                                           .audience = "mentis-api",
                                           .leeway_s = 30,
                                           .max_lifetime_s = 900};

static mentis_jwt_keyset_t *unforgeable; /* k1 and k2, secret keys discarded */
static mentis_jwt_keyset_t *ours;        /* k1, secret key below */
static uint8_t our_sk[64];
static mentis_jwt_cache_t *cache;

static void setup(void)
{
    if (mentis_crypto_init() != MENTIS_OK)
        abort();
    mentis_jwt_key_t k[2] = {{.kid = "k1"}, {.kid = "k2"}};
    uint8_t sk[64];
    mentis_crypto_sign_keypair(k[0].pk, sk);
    mentis_crypto_sign_keypair(k[1].pk, sk);
    memset(sk, 0, sizeof sk);
    if (mentis_jwt_keyset_create(k, 2, &unforgeable) != MENTIS_OK)
        abort();
    mentis_jwt_key_t mine = {.kid = "k1"};
    mentis_crypto_sign_keypair(mine.pk, our_sk);
    if (mentis_jwt_keyset_create(&mine, 1, &ours) != MENTIS_OK)
        abort();
    mentis_jwt_cache_config_t cfg = {.policy = policy, .capacity = 64, .max_revocations = 8};
    if (mentis_jwt_cache_create(&cfg, &cache) != MENTIS_OK)
        abort();
    mentis_jwt_cache_revoke_user(cache, "revoked-user", NOW, NOW);
}

static void check_terminated(const char *s, size_t size)
{
    if (memchr(s, '\0', size) == NULL)
        __builtin_trap();
}

/* Everything mentis_jwt_verify promises of the claims it returns. */
static void check_claims(const mentis_jwt_claims_t *c)
{
    check_terminated(c->sub, sizeof c->sub);
    check_terminated(c->tid, sizeof c->tid);
    check_terminated(c->sid, sizeof c->sid);
    check_terminated(c->jti, sizeof c->jti);
    check_terminated(c->device_id, sizeof c->device_id);
    check_terminated(c->email, sizeof c->email);
    check_terminated(c->iss, sizeof c->iss);
    check_terminated(c->aud, sizeof c->aud);
    if (!c->sub[0] || !c->tid[0] || !c->sid[0] || strcmp(c->iss, policy.issuer) != 0 ||
        strcmp(c->aud, policy.audience) != 0 || mentis_jwt_role_str(c->role)[0] == '\0')
        __builtin_trap();
    if (c->exp <= NOW - policy.leeway_s || c->iat > NOW + policy.leeway_s ||
        c->nbf > NOW + policy.leeway_s || c->exp <= c->iat ||
        c->exp - c->iat > policy.max_lifetime_s)
        __builtin_trap();
    const char *strings[] = {c->sub, c->tid, c->sid, c->jti, c->device_id, c->email};
    for (size_t i = 0; i < sizeof strings / sizeof strings[0]; i++)
        for (const unsigned char *p = (const unsigned char *)strings[i]; *p; p++)
            if (*p < 0x20 || *p == 0x7f)
                __builtin_trap();
}

/* header.base64url(claims).signature with our key. */
static char *sign_claims(const uint8_t *data, size_t size)
{
    static const char header[] = "eyJhbGciOiJFZERTQSIsInR5cCI6IkpXVCIsImtpZCI6ImsxIn0";
    size_t cap = sizeof header + 1 + (size / 3 + 1) * 4 + 1 + 90;
    char *t = malloc(cap);
    if (t == NULL)
        return NULL;
    size_t at = sizeof header - 1;
    memcpy(t, header, at);
    t[at++] = '.';
    if (mentis_crypto_base64url_encode(data, size, t + at, cap - at) != MENTIS_OK) {
        free(t);
        return NULL;
    }
    at += strlen(t + at);
    uint8_t sig[64];
    mentis_crypto_sign(our_sk, t, at, sig);
    t[at++] = '.';
    mentis_crypto_base64url_encode(sig, sizeof sig, t + at, cap - at);
    return t;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static int ready;
    if (!ready) {
        setup();
        ready = 1;
    }
    mentis_jwt_claims_t out;
    const char *text = (const char *)data;
    if (mentis_jwt_verify(text, size, unforgeable, &policy, NOW, &out) == MENTIS_OK)
        __builtin_trap();
    if (mentis_jwt_cache_verify(cache, text, size, unforgeable, NOW, &out) == MENTIS_OK)
        __builtin_trap();

    if (size > 0 && data[0] == '{' && size <= 3000) {
        char *token = sign_claims(data, size);
        if (token == NULL)
            return 0;
        if (mentis_jwt_verify(token, strlen(token), ours, &policy, NOW, &out) == MENTIS_OK)
            check_claims(&out);
        /* Unforgeable keys have a k1 too: our signature must not pass for theirs. */
        if (mentis_jwt_verify(token, strlen(token), unforgeable, &policy, NOW, &out) == MENTIS_OK)
            __builtin_trap();
        if (mentis_jwt_cache_verify(cache, token, strlen(token), ours, NOW, &out) == MENTIS_OK) {
            check_claims(&out);
            if (strcmp(out.sub, "revoked-user") == 0 && out.iat <= NOW)
                __builtin_trap();
        }
        free(token);
    }
    return 0;
}
