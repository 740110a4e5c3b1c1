#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "check.h"
#include "mentis/crypto.h"
#include "mentis/jwt.h"

#define NOW      1700000000LL
#define LIFETIME 900
#define ISS      "https://auth.mentis.test"
#define AUD      "mentis-api"

static uint8_t pk1[32], sk1[64], pk2[32], sk2[64];
static mentis_jwt_keyset_t *keys; /* k1 and k2 */

static const mentis_jwt_policy_t policy = {
    .issuer = ISS, .audience = AUD, .leeway_s = 30, .max_lifetime_s = LIFETIME};

static void setup(void)
{
    if (keys != NULL)
        return;
    if (mentis_crypto_init() != MENTIS_OK)
        abort();
    mentis_crypto_sign_keypair(pk1, sk1);
    mentis_crypto_sign_keypair(pk2, sk2);
    mentis_jwt_key_t k[2] = {{.kid = "k1"}, {.kid = "k2"}};
    memcpy(k[0].pk, pk1, 32);
    memcpy(k[1].pk, pk2, 32);
    if (mentis_jwt_keyset_create(k, 2, &keys) != MENTIS_OK)
        abort();
}

static mentis_jwt_claims_t sample_claims(int64_t iat)
{
    mentis_jwt_claims_t c;
    memset(&c, 0, sizeof c);
    snprintf(c.sub, sizeof c.sub, "0190a5c4-0000-7000-8000-000000000001");
    snprintf(c.tid, sizeof c.tid, "0190a5c4-0000-7000-8000-0000000000aa");
    snprintf(c.sid, sizeof c.sid, "0190a5c4-0000-7000-8000-0000000000s1");
    snprintf(c.jti, sizeof c.jti, "0190a5c4-0000-7000-8000-00000000j001");
    snprintf(c.device_id, sizeof c.device_id, "dev-1");
    snprintf(c.email, sizeof c.email, "ada@example.com");
    snprintf(c.iss, sizeof c.iss, ISS);
    snprintf(c.aud, sizeof c.aud, AUD);
    c.role = MENTIS_JWT_ROLE_ADMIN;
    c.iat = iat;
    c.exp = iat + 600;
    return c;
}

static char *sign_or_die(const mentis_jwt_claims_t *c, const char *kid, const uint8_t *sk)
{
    /* Through an array rather than &token: gcc 12, once this is inlined, takes the returned
     * pointer for one into this frame (-Wdangling-pointer). */
    char *slot[1] = {NULL};
    if (mentis_jwt_sign(c, kid, sk, slot) != MENTIS_OK) {
        fprintf(stderr, "sign failed: %s\n", mentis_err_msg());
        abort();
    }
    char *token = slot[0];
    return token;
}

static void b64(const void *data, size_t n, char *out, size_t size)
{
    if (mentis_crypto_base64url_encode(data, n, out, size) != MENTIS_OK)
        abort();
}

/* A token from raw header and claims JSON: signed with sk (Ed25519), or with `sig_b64`
 * used as the signature part verbatim when sk is NULL. The caller frees. */
static char *craft(const char *header, const char *claims, const uint8_t *sk, const char *sig_b64)
{
    size_t size = 4 * (strlen(header) + strlen(claims)) + 256;
    char *t = calloc(1, size);
    b64(header, strlen(header), t, size);
    size_t at = strlen(t);
    t[at++] = '.';
    b64(claims, strlen(claims), t + at, size - at);
    at += strlen(t + at);
    if (sk != NULL) {
        uint8_t sig[64];
        mentis_crypto_sign(sk, t, at, sig);
        t[at++] = '.';
        b64(sig, sizeof sig, t + at, size - at);
    } else {
        snprintf(t + at, size - at, ".%s", sig_b64);
    }
    return t;
}

#define HDR "{\"alg\":\"EdDSA\",\"typ\":\"JWT\",\"kid\":\"k1\"}"

/* Claims that verify at NOW with `policy`, with one extra fragment spliced in front. */
static char *claims_json(const char *extra)
{
    char *out = malloc(2048);
    snprintf(out, 2048,
             "{%s\"sub\":\"u1\",\"tid\":\"t1\",\"sid\":\"s1\",\"role\":\"user\",\"iss\":\"" ISS
             "\",\"aud\":\"" AUD "\",\"iat\":%lld,\"exp\":%lld}",
             extra, NOW - 10, NOW + 500);
    return out;
}

static mentis_status_t verify(const char *token, mentis_jwt_claims_t *out)
{
    mentis_err_clear();
    return mentis_jwt_verify(token, strlen(token), keys, &policy, NOW, out);
}

/* Checks that token is refused with code; `why` names the case in failures. */
static void expect_refused(const char *token, const char *code, const char *why)
{
    mentis_jwt_claims_t out;
    memset(&out, 0x5a, sizeof out);
    mentis_status_t st = verify(token, &out);
    CHECK_MSG(st == MENTIS_ERR_UNAUTHENTICATED, "%s: status %s", why, mentis_status_str(st));
    CHECK_MSG(strcmp(mentis_err_code(), code) == 0, "%s: code %s, want %s (%s)", why,
              mentis_err_code(), code, mentis_err_msg());
    CHECK_MSG(out.sub[0] == 0x5a, "%s: claims written on failure", why);
}

static void expect_ok(const char *token, const char *why)
{
    mentis_jwt_claims_t out;
    mentis_status_t st = verify(token, &out);
    CHECK_MSG(st == MENTIS_OK, "%s: %s %s", why, mentis_err_code(), mentis_err_msg());
}

/* Claims JSON without one member, to test each required claim. */
static void expect_claims(const char *claims, const char *code, const char *why)
{
    char *t = craft(HDR, claims, sk1, NULL);
    if (code == NULL)
        expect_ok(t, why);
    else
        expect_refused(t, code, why);
    free(t);
}

/* ---- sign and verify ---------------------------------------------------------------- */

static void test_round_trip(void)
{
    setup();
    mentis_jwt_claims_t c = sample_claims(NOW);
    c.nbf = NOW - 5;
    char *token = sign_or_die(&c, "k1", sk1);
    CHECK(strlen(token) < MENTIS_JWT_MAX_LEN);

    /* The header is exactly the documented one. */
    const char *dot = strchr(token, '.');
    REQUIRE(dot != NULL);
    uint8_t header[128];
    size_t n = 0;
    CHECK(mentis_crypto_base64url_decode(token, (size_t)(dot - token), header, sizeof header - 1,
                                         &n) == MENTIS_OK);
    header[n] = '\0';
    CHECK_STR((char *)header, HDR);

    mentis_jwt_claims_t got;
    CHECK(verify(token, &got) == MENTIS_OK);
    CHECK_STR(got.sub, c.sub);
    CHECK_STR(got.tid, c.tid);
    CHECK_STR(got.sid, c.sid);
    CHECK_STR(got.jti, c.jti);
    CHECK_STR(got.device_id, c.device_id);
    CHECK_STR(got.email, c.email);
    CHECK_STR(got.iss, ISS);
    CHECK_STR(got.aud, AUD);
    CHECK(got.role == MENTIS_JWT_ROLE_ADMIN);
    CHECK_INT(got.iat, NOW);
    CHECK_INT(got.nbf, NOW - 5);
    CHECK_INT(got.exp, NOW + 600);

    /* Optional claims left out stay out, and come back empty. */
    mentis_jwt_claims_t bare = sample_claims(NOW);
    bare.email[0] = bare.device_id[0] = bare.jti[0] = '\0';
    bare.role = MENTIS_JWT_ROLE_PLATFORM_ADMIN;
    char *t2 = sign_or_die(&bare, "k2", sk2);
    CHECK(verify(t2, &got) == MENTIS_OK);
    CHECK_STR(got.email, "");
    CHECK_STR(got.jti, "");
    CHECK_INT(got.nbf, 0);
    CHECK(got.role == MENTIS_JWT_ROLE_PLATFORM_ADMIN);

    /* Not NUL-terminated: the length counts. */
    size_t len = strlen(token);
    char *copy = malloc(len);
    memcpy(copy, token, len);
    CHECK(mentis_jwt_verify(copy, len, keys, &policy, NOW, &got) == MENTIS_OK);
    CHECK(mentis_jwt_verify(copy, len - 1, keys, &policy, NOW, &got) == MENTIS_ERR_UNAUTHENTICATED);
    free(copy);
    free(t2);
    free(token);
}

static void test_sign_refuses(void)
{
    setup();
    char *token = NULL;
    mentis_jwt_claims_t c = sample_claims(NOW);
    CHECK(mentis_jwt_sign(&c, "", sk1, &token) == MENTIS_ERR_INVALID_ARGUMENT);
    CHECK(mentis_jwt_sign(&c, "k\"1", sk1, &token) == MENTIS_ERR_INVALID_ARGUMENT);
    CHECK(mentis_jwt_sign(&c, "k 1", sk1, &token) == MENTIS_ERR_INVALID_ARGUMENT);
    CHECK(mentis_jwt_sign(&c, NULL, sk1, &token) == MENTIS_ERR_INVALID_ARGUMENT);
    c.sub[0] = '\0';
    CHECK(mentis_jwt_sign(&c, "k1", sk1, &token) == MENTIS_ERR_INVALID_ARGUMENT);
    c = sample_claims(NOW);
    memset(c.tid, 'a', sizeof c.tid); /* no NUL inside its array */
    CHECK(mentis_jwt_sign(&c, "k1", sk1, &token) == MENTIS_ERR_INVALID_ARGUMENT);
    c = sample_claims(NOW);
    c.email[3] = '\n';
    CHECK(mentis_jwt_sign(&c, "k1", sk1, &token) == MENTIS_ERR_INVALID_ARGUMENT);
    c = sample_claims(NOW);
    c.email[3] = (char)0xc0; /* not UTF-8 */
    CHECK(mentis_jwt_sign(&c, "k1", sk1, &token) == MENTIS_ERR_INVALID_ARGUMENT);
    c = sample_claims(NOW);
    c.role = (mentis_jwt_role_t)7;
    CHECK(mentis_jwt_sign(&c, "k1", sk1, &token) == MENTIS_ERR_INVALID_ARGUMENT);
    c = sample_claims(NOW);
    c.exp = c.iat;
    CHECK(mentis_jwt_sign(&c, "k1", sk1, &token) == MENTIS_ERR_INVALID_ARGUMENT);
    CHECK(token == NULL);

    /* Strings JSON must escape come through intact. */
    c = sample_claims(NOW);
    snprintf(c.email, sizeof c.email, "a\"b\\c@example.com");
    snprintf(c.device_id, sizeof c.device_id, "caf\xc3\xa9");
    token = sign_or_die(&c, "k1", sk1);
    mentis_jwt_claims_t got;
    CHECK(verify(token, &got) == MENTIS_OK);
    CHECK_STR(got.email, "a\"b\\c@example.com");
    CHECK_STR(got.device_id, "caf\xc3\xa9");
    free(token);
}

static void test_roles_and_codes(void)
{
    mentis_jwt_role_t r;
    CHECK(mentis_jwt_role_parse("user", &r) && r == MENTIS_JWT_ROLE_USER);
    CHECK(mentis_jwt_role_parse("admin", &r) && r == MENTIS_JWT_ROLE_ADMIN);
    CHECK(mentis_jwt_role_parse("platform_admin", &r) && r == MENTIS_JWT_ROLE_PLATFORM_ADMIN);
    CHECK(!mentis_jwt_role_parse("Admin", &r));
    CHECK(!mentis_jwt_role_parse("", &r));
    CHECK_STR(mentis_jwt_role_str(MENTIS_JWT_ROLE_PLATFORM_ADMIN), "platform_admin");
    CHECK_STR(mentis_jwt_role_str((mentis_jwt_role_t)9), "");
    CHECK_STR(mentis_jwt_client_code(MENTIS_JWT_CODE_EXPIRED), "token_expired");
    CHECK_STR(mentis_jwt_client_code(MENTIS_JWT_CODE_SIGNATURE), "token_invalid");
    CHECK_STR(mentis_jwt_client_code(MENTIS_JWT_CODE_REVOKED), "token_invalid");
    CHECK_STR(mentis_jwt_client_code(NULL), "token_invalid");
}

/* ---- refusals ----------------------------------------------------------------------- */

static void test_structure(void)
{
    setup();
    mentis_jwt_claims_t c = sample_claims(NOW);
    char *good = sign_or_die(&c, "k1", sk1);
    const char *m = MENTIS_JWT_CODE_MALFORMED;
    expect_refused("", m, "empty");
    expect_refused("abc", m, "one part");
    expect_refused("abc.def", m, "two parts");
    expect_refused("a.b.c.d", m, "four parts");
    char buf[MENTIS_JWT_MAX_LEN + 64];

    /* Empty parts, padding, characters outside base64url, whitespace. */
    const char *d1 = strchr(good, '.'), *d2 = strchr(d1 + 1, '.');
    snprintf(buf, sizeof buf, "%.*s..%s", (int)(d1 - good), good, d2 + 1);
    expect_refused(buf, m, "empty payload");
    snprintf(buf, sizeof buf, "%s", d1);
    expect_refused(buf, m, "empty header");
    snprintf(buf, sizeof buf, "%.*s", (int)(d2 + 1 - good), good);
    expect_refused(buf, m, "empty signature");
    snprintf(buf, sizeof buf, "%s=", good);
    expect_refused(buf, m, "padding");
    snprintf(buf, sizeof buf, "%s", good);
    buf[1] = '+';
    expect_refused(buf, m, "'+' in header");
    snprintf(buf, sizeof buf, " %s", good);
    expect_refused(buf, m, "leading space");
    snprintf(buf, sizeof buf, "%.*s%s", (int)(d2 + 1 - good), good, "AAAA");
    expect_refused(buf, m, "short signature");
    snprintf(buf, sizeof buf, "%sAAAA", good);
    expect_refused(buf, m, "long signature");

    /* Header not an object, not JSON, JSON with trailing bytes or a NUL. */
    char *t;
    const char *headers[] = {"[1]",
                             "\"EdDSA\"",
                             "{",
                             "nul",
                             HDR " x",
                             HDR "{}",
                             "{\"alg\":\"EdDSA\",\"kid\":\"k1\",}",
                             "{'alg':'EdDSA'}"};
    for (size_t i = 0; i < sizeof headers / sizeof headers[0]; i++) {
        t = craft(headers[i], "{}", sk1, NULL);
        expect_refused(t, m, headers[i]);
        free(t);
    }
    char *claims = claims_json("");
    t = craft("{\"alg\":\"EdDSA\\u0000\",\"kid\":\"k1\"}", claims, sk1, NULL);
    expect_refused(t, m, "\\u0000 in alg");
    free(t);
    t = craft("{\"alg\":\"EdDSA\",\"kid\":\"k1\\u0000x\"}", claims, sk1, NULL);
    expect_refused(t, m, "\\u0000 in kid");
    free(t);
    /* Raw NUL bytes: after the object (cJSON would stop there) and inside a string. */
    const struct {
        const char *json;
        size_t len;
    } raw[] = {{HDR "\0junk", sizeof HDR + 4}, {"{\"alg\":\"EdDSA\0\",\"kid\":\"k1\"}", 27}};
    for (size_t i = 0; i < 2; i++) {
        char h[64], p[1024], whole[2048];
        b64(raw[i].json, raw[i].len, h, sizeof h);
        b64(claims, strlen(claims), p, sizeof p);
        snprintf(whole, sizeof whole, "%s.%s", h, p);
        uint8_t sig[64];
        mentis_crypto_sign(sk1, whole, strlen(whole), sig);
        size_t at = strlen(whole);
        whole[at++] = '.';
        b64(sig, sizeof sig, whole + at, sizeof whole - at);
        expect_refused(whole, m, "raw NUL in header");
    }
    /* An escaped backslash before "u0000" is just text, not a NUL. */
    t = craft("{\"alg\":\"EdDSA\",\"kid\":\"k1\",\"x-note\":\"\\\\u0000\"}", claims, sk1, NULL);
    expect_ok(t, "escaped backslash");
    free(t);

    /* The claims part: checked only once the signature holds, but strict all the same. */
    t = craft(HDR, "[]", sk1, NULL);
    expect_refused(t, m, "claims not an object");
    free(t);
    t = craft(HDR, "{\"sub\":\"u1\"} trailing", sk1, NULL);
    expect_refused(t, m, "claims with trailing bytes");
    free(t);

    /* Size cap: one byte over is refused before anything else. */
    memset(buf, 'A', MENTIS_JWT_MAX_LEN + 1);
    buf[MENTIS_JWT_MAX_LEN + 1] = '\0';
    expect_refused(buf, MENTIS_JWT_CODE_TOO_LARGE, "over the cap");
    buf[MENTIS_JWT_MAX_LEN] = '\0';
    expect_refused(buf, m, "at the cap but garbage");
    free(claims);
    free(good);
}

static void test_alg_refused(void)
{
    setup();
    char *claims = claims_json("");
    const char *a = MENTIS_JWT_CODE_ALG;

    /* alg "none" with an empty signature, and with a real one. */
    char *t = craft("{\"alg\":\"none\",\"typ\":\"JWT\",\"kid\":\"k1\"}", claims, NULL, "");
    expect_refused(t, MENTIS_JWT_CODE_MALFORMED, "none, empty signature"); /* empty part */
    free(t);
    t = craft("{\"alg\":\"none\",\"typ\":\"JWT\",\"kid\":\"k1\"}", claims, NULL, "AAAA");
    expect_refused(t, a, "none, junk signature");
    free(t);
    t = craft("{\"alg\":\"none\",\"typ\":\"JWT\",\"kid\":\"k1\"}", claims, sk1, NULL);
    expect_refused(t, a, "none, Ed25519 signature");
    free(t);

    /* The confusion attack: HS256 with the public key (raw, and as its JWK x) as the secret. */
    const char *hs = "{\"alg\":\"HS256\",\"typ\":\"JWT\",\"kid\":\"k1\"}";
    char x[64];
    b64(pk1, 32, x, sizeof x);
    const struct {
        const void *key;
        size_t n;
    } secrets[] = {{pk1, 32}, {x, strlen(x)}};
    for (size_t i = 0; i < 2; i++) {
        char *unsigned_part = craft(hs, claims, NULL, "");
        unsigned_part[strlen(unsigned_part) - 1] = '\0'; /* drop the trailing '.' */
        uint8_t mac[crypto_auth_hmacsha256_BYTES];
        crypto_auth_hmacsha256_state st;
        crypto_auth_hmacsha256_init(&st, secrets[i].key, secrets[i].n);
        crypto_auth_hmacsha256_update(&st, (const uint8_t *)unsigned_part, strlen(unsigned_part));
        crypto_auth_hmacsha256_final(&st, mac);
        char sig[64];
        b64(mac, sizeof mac, sig, sizeof sig);
        char *forged = craft(hs, claims, NULL, sig);
        expect_refused(forged, a, "HS256 keyed with the public key");
        free(forged);
        free(unsigned_part);
    }

    /* Every other spelling, even when the Ed25519 signature over it is genuine. */
    const char *algs[] = {"\"RS256\"", "\"ES256\"",  "\"eddsa\"",   "\"EDDSA\"",
                          "\"EdDsa\"", "\"EdDSA \"", "\"Ed25519\"", "\"\"",
                          "null",      "1",          "[\"EdDSA\"]", "{\"EdDSA\":1}"};
    for (size_t i = 0; i < sizeof algs / sizeof algs[0]; i++) {
        char h[128];
        snprintf(h, sizeof h, "{\"alg\":%s,\"typ\":\"JWT\",\"kid\":\"k1\"}", algs[i]);
        t = craft(h, claims, sk1, NULL);
        expect_refused(t, a, algs[i]);
        free(t);
    }
    /* No alg at all; a member named "Alg" is not "alg". */
    t = craft("{\"typ\":\"JWT\",\"kid\":\"k1\"}", claims, sk1, NULL);
    expect_refused(t, a, "no alg");
    free(t);
    t = craft("{\"Alg\":\"EdDSA\",\"kid\":\"k1\"}", claims, sk1, NULL);
    expect_refused(t, a, "Alg");
    free(t);
    free(claims);
}

static void test_header_refused(void)
{
    setup();
    char *claims = claims_json("");
    const char *params[] = {"\"crit\":[\"exp\"]",
                            "\"jku\":\"https://evil.example/jwks\"",
                            "\"jwk\":{\"kty\":\"OKP\",\"crv\":\"Ed25519\",\"x\":\"AAAA\"}",
                            "\"x5u\":\"https://evil.example/cert\"",
                            "\"x5c\":[\"MIIB\"]",
                            "\"typ\":\"JOSE\"",
                            "\"typ\":1"};
    for (size_t i = 0; i < sizeof params / sizeof params[0]; i++) {
        char h[256];
        snprintf(h, sizeof h, "{\"alg\":\"EdDSA\",\"kid\":\"k1\",%s}", params[i]);
        char *t = craft(h, claims, sk1, NULL);
        expect_refused(t, MENTIS_JWT_CODE_HEADER, params[i]);
        free(t);
    }
    /* typ in any case, or none; unknown parameters are ignored. */
    const char *fine[] = {"{\"alg\":\"EdDSA\",\"kid\":\"k1\"}",
                          "{\"alg\":\"EdDSA\",\"kid\":\"k1\",\"typ\":\"jwt\"}",
                          "{\"kid\":\"k1\",\"typ\":\"JWT\",\"alg\":\"EdDSA\",\"x-extra\":[1,{}]}"};
    for (size_t i = 0; i < sizeof fine / sizeof fine[0]; i++) {
        char *t = craft(fine[i], claims, sk1, NULL);
        expect_ok(t, fine[i]);
        free(t);
    }
    free(claims);
}

static void test_keys_and_signature(void)
{
    setup();
    char *claims = claims_json("");
    const char *u = MENTIS_JWT_CODE_UNKNOWN_KEY, *s = MENTIS_JWT_CODE_SIGNATURE;
    char *t = craft("{\"alg\":\"EdDSA\"}", claims, sk1, NULL);
    expect_refused(t, u, "no kid");
    free(t);
    t = craft("{\"alg\":\"EdDSA\",\"kid\":\"k3\"}", claims, sk1, NULL);
    expect_refused(t, u, "kid not in the set");
    free(t);
    t = craft("{\"alg\":\"EdDSA\",\"kid\":1}", claims, sk1, NULL);
    expect_refused(t, u, "kid a number");
    free(t);
    t = craft("{\"alg\":\"EdDSA\",\"kid\":\"K1\"}", claims, sk1, NULL);
    expect_refused(t, u, "kid in another case");
    free(t);
    mentis_jwt_claims_t out;
    mentis_jwt_claims_t c = sample_claims(NOW);
    char *good = sign_or_die(&c, "k1", sk1);
    CHECK(mentis_jwt_verify(good, strlen(good), NULL, &policy, NOW, &out) ==
          MENTIS_ERR_UNAUTHENTICATED);
    CHECK_STR(mentis_err_code(), u);

    /* Kid swap both ways: signed by k2's key but naming k1, and the reverse. */
    t = craft("{\"alg\":\"EdDSA\",\"kid\":\"k1\"}", claims, sk2, NULL);
    expect_refused(t, s, "signed by k2, kid k1");
    free(t);
    t = craft("{\"alg\":\"EdDSA\",\"kid\":\"k2\"}", claims, sk1, NULL);
    expect_refused(t, s, "signed by k1, kid k2");
    free(t);

    /* Changed payload under the old signature: a promotion to platform_admin. */
    mentis_jwt_claims_t admin = c;
    admin.role = MENTIS_JWT_ROLE_PLATFORM_ADMIN;
    char *other = sign_or_die(&admin, "k1", sk1);
    const char *g1 = strchr(good, '.'), *g2 = strrchr(good, '.');
    const char *o1 = strchr(other, '.'), *o2 = strrchr(other, '.');
    char buf[MENTIS_JWT_MAX_LEN];
    snprintf(buf, sizeof buf, "%.*s%s", (int)(o2 - other), other, g2);
    expect_refused(buf, s, "new payload, old signature");
    /* Old header from another token is the same bytes here, so swap the payload only. */
    snprintf(buf, sizeof buf, "%.*s%.*s%s", (int)(g1 - good), good, (int)(o2 - o1), o1, g2);
    expect_refused(buf, s, "payload swapped in");

    /* Any single bit flipped in the signature. */
    snprintf(buf, sizeof buf, "%s", good);
    size_t last = strlen(buf) - 3;
    buf[last] = buf[last] == 'A' ? 'B' : 'A';
    expect_refused(buf, s, "flipped signature");
    /* A non-canonical last character (unused bits set) is not base64url at all. */
    static const char alphabet[] =
        "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    snprintf(buf, sizeof buf, "%s", good);
    char *end = buf + strlen(buf) - 1;
    *end = alphabet[(strchr(alphabet, *end) - alphabet) | 1]; /* an unused low bit set */
    expect_refused(buf, MENTIS_JWT_CODE_MALFORMED, "non-canonical signature");
    expect_ok(good, "the original still verifies");
    free(good);
    free(other);
    free(claims);
}

static void test_claims_required_and_typed(void)
{
    setup();
    const char *miss = MENTIS_JWT_CODE_MISSING_CLAIM, *bad = MENTIS_JWT_CODE_INVALID_CLAIM;
    char c[2048];
    const char *names[] = {"sub", "tid", "sid", "role", "iss", "aud", "iat", "exp"};
    const char *values[] = {"\"u1\"",      "\"t1\"",      "\"s1\"",     "\"user\"",
                            "\"" ISS "\"", "\"" AUD "\"", "1699999990", "1700000500"};
    for (size_t skip = 0; skip < 8; skip++) {
        size_t at = (size_t)snprintf(c, sizeof c, "{");
        for (size_t i = 0; i < 8; i++)
            if (i != skip)
                at += (size_t)snprintf(c + at, sizeof c - at, "%s\"%s\":%s", at > 1 ? "," : "",
                                       names[i], values[i]);
        snprintf(c + at, sizeof c - at, "}");
        expect_claims(c, miss, names[skip]);
    }
    /* Present but empty required strings count as missing. */
    char *j = claims_json("\"x\":0,");
    expect_claims(j, NULL, "the base claims verify");
    free(j);

    const struct {
        const char *member;
        const char *code;
    } cases[] = {
        {"\"sub\":42", bad},
        {"\"sub\":null", bad},
        {"\"tid\":[\"t1\"]", bad},
        {"\"sid\":\"\"", miss},
        {"\"role\":\"root\"", bad},
        {"\"role\":\"Admin\"", bad},
        {"\"role\":1", bad},
        {"\"iss\":{}", bad},
        {"\"aud\":7", bad},
        {"\"aud\":[\"" AUD "\",7]", bad},
        {"\"exp\":\"1700000500\"", bad},
        {"\"exp\":1700000500.5", bad},
        {"\"exp\":-1", bad},
        {"\"exp\":1e300", bad},
        {"\"exp\":1e400", bad},
        {"\"exp\":true", bad},
        {"\"iat\":null", bad},
        {"\"nbf\":\"0\"", bad},
        {"\"email\":1", bad},
        {"\"device_id\":false", bad},
        {"\"jti\":[]", bad},
        {"\"sub\":\"a\\nb\"", bad},
        {"\"sub\":\"a\\u007fb\"", bad},
        {"\"email\":\"\xc0\xaf@x\"", bad},
        {"\"email\":\"\xed\xa0\x80\"", bad},
        {"\"sub\":\"0123456789012345678901234567890123456789012345678901234567890123\"", bad},
        {"\"exp\":1700000400", NULL},  /* exactly as given: fine */
        {"\"exp\":1699999990", bad},   /* exp == iat */
        {"\"exp\":1700000891", bad},   /* lifetime 901 > 900 */
        {"\"exp\":1700000890", NULL},  /* lifetime 900 */
        {"\"exp\":1.7000004e9", NULL}, /* integral in exponent form */
        {"\"email\":\"\xc3\xa9@example.com\"", NULL},
        {"\"sub\":\"012345678901234567890123456789012345678901234567890123456789012\"", NULL},
        {"\"unknown\":{\"sub\":1,\"sub\":2}", NULL}, /* nested members are not claims */
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        /* The case's member replaces the base one of that name: put it alone in the JSON
         * and fill the rest from the base, skipping the same name. */
        char name[32];
        sscanf(cases[i].member, "\"%31[^\"]\"", name);
        size_t at = (size_t)snprintf(c, sizeof c, "{%s", cases[i].member);
        for (size_t k = 0; k < 8; k++)
            if (strcmp(names[k], name) != 0)
                at += (size_t)snprintf(c + at, sizeof c - at, ",\"%s\":%s", names[k], values[k]);
        snprintf(c + at, sizeof c - at, "}");
        expect_claims(c, cases[i].code, cases[i].member);
    }
}

static void test_issuer_audience(void)
{
    setup();
    char c[1024];
    const char *tail = "\"sub\":\"u1\",\"tid\":\"t1\",\"sid\":\"s1\",\"role\":\"user\","
                       "\"iat\":1699999990,\"exp\":1700000500";
    snprintf(c, sizeof c, "{\"iss\":\"https://evil.example\",\"aud\":\"" AUD "\",%s}", tail);
    expect_claims(c, MENTIS_JWT_CODE_ISSUER, "other issuer");
    snprintf(c, sizeof c, "{\"iss\":\"" ISS "/\",\"aud\":\"" AUD "\",%s}", tail);
    expect_claims(c, MENTIS_JWT_CODE_ISSUER, "issuer with a slash");
    snprintf(c, sizeof c, "{\"iss\":\"" ISS "\",\"aud\":\"other-api\",%s}", tail);
    expect_claims(c, MENTIS_JWT_CODE_AUDIENCE, "other audience");
    snprintf(c, sizeof c, "{\"iss\":\"" ISS "\",\"aud\":[],%s}", tail);
    expect_claims(c, MENTIS_JWT_CODE_AUDIENCE, "empty audience array");
    snprintf(c, sizeof c, "{\"iss\":\"" ISS "\",\"aud\":[\"a\",\"b\"],%s}", tail);
    expect_claims(c, MENTIS_JWT_CODE_AUDIENCE, "array without ours");
    snprintf(c, sizeof c, "{\"iss\":\"" ISS "\",\"aud\":[\"a\",\"" AUD "\",\"b\"],%s}", tail);
    char *t = craft(HDR, c, sk1, NULL);
    mentis_jwt_claims_t out;
    CHECK(verify(t, &out) == MENTIS_OK);
    CHECK_STR(out.aud, AUD);
    free(t);
}

static void test_time_boundaries(void)
{
    setup();
    mentis_jwt_claims_t c = sample_claims(NOW - 100);
    mentis_jwt_claims_t out;
    const int64_t L = policy.leeway_s;
    struct {
        int64_t iat, nbf, exp;
        const char *code;
    } cases[] = {
        {NOW - 100, 0, NOW - L, MENTIS_JWT_CODE_EXPIRED}, /* exp <= now - leeway */
        {NOW - 100, 0, NOW - L + 1, NULL},                /* one second inside */
        {NOW - 100, 0, NOW, NULL},
        {NOW - 100, NOW + L, NOW + 100, NULL}, /* nbf at the edge */
        {NOW - 100, NOW + L + 1, NOW + 100, MENTIS_JWT_CODE_NOT_YET_VALID},
        {NOW + L, 0, NOW + 100, NULL}, /* iat at the edge */
        {NOW + L + 1, 0, NOW + 100, MENTIS_JWT_CODE_NOT_YET_VALID},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        c.iat = cases[i].iat;
        c.nbf = cases[i].nbf;
        c.exp = cases[i].exp;
        char *t = sign_or_die(&c, "k1", sk1);
        char why[64];
        snprintf(why, sizeof why, "time case %zu", i);
        if (cases[i].code)
            expect_refused(t, cases[i].code, why);
        else
            expect_ok(t, why);
        free(t);
    }
    /* Without leeway the edge is exp itself. */
    mentis_jwt_policy_t strict = policy;
    strict.leeway_s = 0;
    c.iat = NOW - 100;
    c.nbf = 0;
    c.exp = NOW;
    char *t = sign_or_die(&c, "k1", sk1);
    CHECK(mentis_jwt_verify(t, strlen(t), keys, &strict, NOW, &out) == MENTIS_ERR_UNAUTHENTICATED);
    CHECK_STR(mentis_err_code(), MENTIS_JWT_CODE_EXPIRED);
    CHECK(mentis_jwt_verify(t, strlen(t), keys, &strict, NOW - 1, &out) == MENTIS_OK);
    free(t);

    /* A bad policy is the caller's error, not the token's. */
    mentis_jwt_policy_t p = policy;
    p.issuer = NULL;
    CHECK(mentis_jwt_verify("a.b.c", 5, keys, &p, NOW, &out) == MENTIS_ERR_INVALID_ARGUMENT);
    p = policy;
    p.leeway_s = -1;
    CHECK(mentis_jwt_verify("a.b.c", 5, keys, &p, NOW, &out) == MENTIS_ERR_INVALID_ARGUMENT);
    p = policy;
    p.max_lifetime_s = 0;
    CHECK(mentis_jwt_verify("a.b.c", 5, keys, &p, NOW, &out) == MENTIS_ERR_INVALID_ARGUMENT);
    CHECK(mentis_jwt_verify(NULL, 0, keys, &policy, NOW, &out) == MENTIS_ERR_INVALID_ARGUMENT);
}

static void test_order_and_duplicates(void)
{
    setup();
    /* Any member order verifies. */
    expect_claims("{\"exp\":1700000500,\"aud\":\"" AUD "\",\"role\":\"user\",\"iat\":1699999990,"
                  "\"sid\":\"s1\",\"iss\":\"" ISS "\",\"tid\":\"t1\",\"sub\":\"u1\"}",
                  NULL, "reversed order");
    char *t = craft("{\"kid\":\"k1\",\"alg\":\"EdDSA\"}",
                    "{\"sub\":\"u1\",\"tid\":\"t1\",\"sid\":"
                    "\"s1\",\"role\":\"user\",\"iss\":\"" ISS "\",\"aud\":\"" AUD "\",\"iat\":"
                    "1699999990,\"exp\":1700000500}",
                    sk1, NULL);
    expect_ok(t, "kid before alg");
    free(t);

    /* Duplicates, whichever copy a parser would keep. */
    char *claims = claims_json("");
    const char *headers[] = {"{\"alg\":\"EdDSA\",\"kid\":\"k1\",\"alg\":\"none\"}",
                             "{\"alg\":\"none\",\"kid\":\"k1\",\"alg\":\"EdDSA\"}",
                             "{\"alg\":\"EdDSA\",\"kid\":\"k2\",\"kid\":\"k1\"}",
                             "{\"alg\":\"EdDSA\",\"kid\":\"k1\",\"typ\":\"JWT\",\"typ\":\"JWT\"}"};
    for (size_t i = 0; i < sizeof headers / sizeof headers[0]; i++) {
        t = craft(headers[i], claims, sk1, NULL);
        expect_refused(t, MENTIS_JWT_CODE_MALFORMED, headers[i]);
        free(t);
    }
    free(claims);
    const char *dups[] = {"\"sub\":\"admin\",", "\"role\":\"platform_admin\",",
                          "\"exp\":9999999999,", "\"aud\":\"x\","};
    for (size_t i = 0; i < sizeof dups / sizeof dups[0]; i++) {
        claims = claims_json(dups[i]);
        expect_claims(claims, MENTIS_JWT_CODE_MALFORMED, dups[i]);
        free(claims);
    }
}

/* ---- key sets ----------------------------------------------------------------------- */

static void test_jwks_round_trip(void)
{
    setup();
    char *text = NULL;
    CHECK(mentis_jwt_keyset_render(keys, &text) == MENTIS_OK);
    REQUIRE(text != NULL);
    char x1[64], x2[64], want[512];
    b64(pk1, 32, x1, sizeof x1);
    b64(pk2, 32, x2, sizeof x2);
    snprintf(want, sizeof want,
             "{\"keys\":[{\"kty\":\"OKP\",\"crv\":\"Ed25519\",\"x\":\"%s\",\"kid\":\"k1\","
             "\"use\":\"sig\",\"alg\":\"EdDSA\"},{\"kty\":\"OKP\",\"crv\":\"Ed25519\",\"x\":\"%s\","
             "\"kid\":\"k2\",\"use\":\"sig\",\"alg\":\"EdDSA\"}]}",
             x1, x2);
    CHECK_STR(text, want);
    mentis_jwt_keyset_t *back = NULL;
    CHECK(mentis_jwt_keyset_parse(text, strlen(text), &back) == MENTIS_OK);
    CHECK_INT(mentis_jwt_keyset_size(back), 2);
    const mentis_jwt_key_t *k = mentis_jwt_keyset_find(back, "k2");
    CHECK(k != NULL && memcmp(k->pk, pk2, 32) == 0);
    CHECK(mentis_jwt_keyset_find(back, "k3") == NULL);
    CHECK_STR(mentis_jwt_keyset_at(back, 0)->kid, "k1");
    CHECK(mentis_jwt_keyset_at(back, 2) == NULL);

    /* A token verifies with the parsed set as with the original. */
    mentis_jwt_claims_t c = sample_claims(NOW), out;
    char *t = sign_or_die(&c, "k2", sk2);
    CHECK(mentis_jwt_verify(t, strlen(t), back, &policy, NOW, &out) == MENTIS_OK);
    free(t);
    mentis_jwt_keyset_release(back);
    free(text);

    /* Other kinds of keys are skipped; extra members are ignored; order is free. */
    char doc[2048];
    snprintf(
        doc, sizeof doc,
        "{\"keys\":[{\"kty\":\"RSA\",\"n\":\"AQAB\",\"e\":\"AQAB\",\"kid\":\"r1\"},"
        "{\"kty\":\"OKP\",\"crv\":\"X25519\",\"x\":\"%s\",\"kid\":\"x1\"},"
        "{\"kty\":\"OKP\",\"crv\":\"Ed448\",\"x\":\"AAAA\",\"kid\":\"e4\"},"
        "{\"kty\":\"OKP\",\"crv\":\"Ed25519\",\"x\":\"%s\",\"kid\":\"enc\",\"use\":\"enc\"},"
        "{\"kty\":\"OKP\",\"crv\":\"Ed25519\",\"x\":\"%s\",\"kid\":\"es\",\"alg\":\"ES256\"},"
        "{\"kid\":\"k9\",\"x\":\"%s\",\"crv\":\"Ed25519\",\"kty\":\"OKP\",\"key_ops\":[\"verify\"]}"
        "],\"extra\":true}",
        x1, x1, x1, x2);
    mentis_jwt_keyset_t *set = NULL;
    CHECK(mentis_jwt_keyset_parse(doc, strlen(doc), &set) == MENTIS_OK);
    CHECK_INT(mentis_jwt_keyset_size(set), 1);
    k = mentis_jwt_keyset_find(set, "k9");
    CHECK(k != NULL && memcmp(k->pk, pk2, 32) == 0);
    mentis_jwt_keyset_release(set);

    /* No usable key: an empty set, which refuses everything as an unknown key. */
    CHECK(mentis_jwt_keyset_parse("{\"keys\":[]}", 11, &set) == MENTIS_OK);
    CHECK_INT(mentis_jwt_keyset_size(set), 0);
    CHECK(mentis_jwt_keyset_render(set, &text) == MENTIS_OK);
    CHECK_STR(text, "{\"keys\":[]}");
    free(text);
    c = sample_claims(NOW);
    t = sign_or_die(&c, "k1", sk1);
    CHECK(mentis_jwt_verify(t, strlen(t), set, &policy, NOW, &out) == MENTIS_ERR_UNAUTHENTICATED);
    CHECK_STR(mentis_err_code(), MENTIS_JWT_CODE_UNKNOWN_KEY);
    free(t);
    mentis_jwt_keyset_release(set);
}

/* {"keys":[<entries>]} with the entries formatted as printf would. */
static void jwks_doc(char *out, size_t size, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static void jwks_doc(char *out, size_t size, const char *fmt, ...)
{
    char entries[900];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(entries, sizeof entries, fmt, ap);
    va_end(ap);
    snprintf(out, size, "{\"keys\":[%s]}", entries);
}

static void test_jwks_malformed(void)
{
    setup();
    char x[64];
    b64(pk1, 32, x, sizeof x);
    char x31[64];
    b64(pk1, 31, x31, sizeof x31);
    char docs[24][1024];
    int n = 0;
#define ENTRY(...) jwks_doc(docs[n++], sizeof docs[0], __VA_ARGS__)
    snprintf(docs[n++], sizeof docs[0], "not json");
    snprintf(docs[n++], sizeof docs[0], "[]");
    snprintf(docs[n++], sizeof docs[0], "{}");
    snprintf(docs[n++], sizeof docs[0], "{\"keys\":{}}");
    snprintf(docs[n++], sizeof docs[0], "{\"keys\":[]} trailing");
    snprintf(docs[n++], sizeof docs[0], "{\"keys\":[],\"keys\":[]}");
    ENTRY("1");
    ENTRY("{\"crv\":\"Ed25519\",\"x\":\"%s\",\"kid\":\"a\"}", x); /* no kty */
    ENTRY("{\"kty\":1,\"crv\":\"Ed25519\",\"x\":\"%s\",\"kid\":\"a\"}", x);
    ENTRY("{\"kty\":\"OKP\",\"crv\":\"Ed25519\",\"x\":\"%s\"}", x); /* no kid */
    ENTRY("{\"kty\":\"OKP\",\"crv\":\"Ed25519\",\"x\":\"%s\",\"kid\":\"\"}", x);
    ENTRY("{\"kty\":\"OKP\",\"crv\":\"Ed25519\",\"x\":\"%s\",\"kid\":\"a b\"}", x);
    ENTRY("{\"kty\":\"OKP\",\"crv\":\"Ed25519\",\"kid\":\"a\"}"); /* no x */
    ENTRY("{\"kty\":\"OKP\",\"crv\":\"Ed25519\",\"x\":\"%s\",\"kid\":\"a\"}", x31);
    ENTRY("{\"kty\":\"OKP\",\"crv\":\"Ed25519\",\"x\":\"%s=\",\"kid\":\"a\"}", x);
    ENTRY("{\"kty\":\"OKP\",\"crv\":\"Ed25519\",\"x\":7,\"kid\":\"a\"}");
    ENTRY("{\"kty\":\"OKP\",\"crv\":\"Ed25519\",\"x\":\"%s\",\"kid\":\"a\",\"d\":\"%s\"}", x, x);
    ENTRY("{\"kty\":\"OKP\",\"crv\":\"Ed25519\",\"x\":\"%s\",\"kid\":\"a\",\"alg\":1}", x);
    ENTRY("{\"kty\":\"OKP\",\"crv\":\"Ed25519\",\"x\":\"%s\",\"kid\":\"a\",\"kid\":\"b\"}", x);
    ENTRY("{\"kty\":\"OKP\",\"crv\":\"Ed25519\",\"x\":\"%s\",\"kid\":\"a\"},"
          "{\"kty\":\"OKP\",\"crv\":\"Ed25519\",\"x\":\"%s\",\"kid\":\"a\"}",
          x, x);
#undef ENTRY
    for (int i = 0; i < n; i++) {
        mentis_jwt_keyset_t *set = NULL;
        mentis_status_t st = mentis_jwt_keyset_parse(docs[i], strlen(docs[i]), &set);
        CHECK_MSG(st == MENTIS_ERR_INVALID_ARGUMENT, "doc %d accepted: %s", i, docs[i]);
        CHECK(set == NULL);
    }
    /* More than MENTIS_JWT_MAX_KEYS usable keys, and an oversized document. */
    char big[8192];
    size_t at = (size_t)snprintf(big, sizeof big, "{\"keys\":[");
    for (int i = 0; i <= MENTIS_JWT_MAX_KEYS; i++)
        at +=
            (size_t)snprintf(big + at, sizeof big - at,
                             "%s{\"kty\":\"OKP\",\"crv\":\"Ed25519\",\"x\":\"%s\",\"kid\":\"k%d\"}",
                             i ? "," : "", x, i);
    snprintf(big + at, sizeof big - at, "]}");
    mentis_jwt_keyset_t *set = NULL;
    CHECK(mentis_jwt_keyset_parse(big, strlen(big), &set) == MENTIS_ERR_INVALID_ARGUMENT);
    char *huge = malloc(70000);
    memset(huge, ' ', 70000);
    memcpy(huge, "{\"keys\":[]}", 11);
    CHECK(mentis_jwt_keyset_parse(huge, 70000, &set) == MENTIS_ERR_INVALID_ARGUMENT);
    CHECK(mentis_jwt_keyset_parse(huge, 1000, &set) == MENTIS_OK); /* trailing spaces are fine */
    mentis_jwt_keyset_release(set);
    free(huge);

    /* create checks its input the same way. */
    mentis_jwt_key_t k[2] = {{.kid = "a"}, {.kid = "a"}};
    CHECK(mentis_jwt_keyset_create(k, 2, &set) == MENTIS_ERR_INVALID_ARGUMENT);
    CHECK(mentis_jwt_keyset_create(k, MENTIS_JWT_MAX_KEYS + 1, &set) ==
          MENTIS_ERR_INVALID_ARGUMENT);
    memset(k[0].kid, 'a', sizeof k[0].kid);
    CHECK(mentis_jwt_keyset_create(k, 1, &set) == MENTIS_ERR_INVALID_ARGUMENT);
}

struct swap_state {
    mentis_jwt_keyslot_t *slot;
    const char *token;
    atomic_int stop;
    atomic_long verified;
    atomic_long failures;
};

static void *verifier(void *arg)
{
    struct swap_state *s = arg;
    while (!atomic_load(&s->stop)) {
        mentis_jwt_keyset_t *ks = mentis_jwt_keyslot_get(s->slot);
        mentis_jwt_claims_t out;
        if (mentis_jwt_verify(s->token, strlen(s->token), ks, &policy, NOW, &out) != MENTIS_OK)
            atomic_fetch_add(&s->failures, 1);
        atomic_fetch_add(&s->verified, 1);
        mentis_jwt_keyset_release(ks);
    }
    return NULL;
}

static void test_keyslot_swap(void)
{
    setup();
    /* References: the slot's and ours are independent. */
    mentis_jwt_keyslot_t *slot = NULL;
    REQUIRE(mentis_jwt_keyslot_create(&slot) == MENTIS_OK);
    CHECK(mentis_jwt_keyslot_get(slot) == NULL);
    mentis_jwt_keyset_t *mine = NULL;
    mentis_jwt_key_t k = {.kid = "k1"};
    memcpy(k.pk, pk1, 32);
    REQUIRE(mentis_jwt_keyset_create(&k, 1, &mine) == MENTIS_OK);
    mentis_jwt_keyslot_set(slot, mine);
    mentis_jwt_keyset_t *held = mentis_jwt_keyslot_get(slot);
    CHECK(held == mine);
    mentis_jwt_keyset_release(mine);    /* ours */
    mentis_jwt_keyslot_set(slot, NULL); /* the slot's */
    CHECK(mentis_jwt_keyslot_get(slot) == NULL);
    CHECK(mentis_jwt_keyset_find(held, "k1") != NULL); /* still alive: we hold it */
    mentis_jwt_keyset_release(held);

    /* Replaced over and over while four threads verify: never a failure, never a leak or a
     * use after free (the sanitizers watch). */
    mentis_jwt_claims_t c = sample_claims(NOW);
    char *token = sign_or_die(&c, "k1", sk1);
    struct swap_state s = {.slot = slot, .token = token};
    mentis_jwt_keyset_t *first;
    REQUIRE(mentis_jwt_keyset_create(&k, 1, &first) == MENTIS_OK);
    mentis_jwt_keyslot_set(slot, first);
    mentis_jwt_keyset_release(first);
    pthread_t th[4];
    for (int i = 0; i < 4; i++)
        pthread_create(&th[i], NULL, verifier, &s);
    for (int i = 0; i < 2000 || atomic_load(&s.verified) < 2000; i++) {
        mentis_jwt_keyset_t *next;
        mentis_jwt_key_t two[2] = {{.kid = "k1"}, {.kid = "k2"}};
        memcpy(two[0].pk, pk1, 32);
        memcpy(two[1].pk, pk2, 32);
        if (mentis_jwt_keyset_create(two, 1 + (size_t)(i % 2), &next) != MENTIS_OK)
            abort();
        mentis_jwt_keyslot_set(slot, next);
        mentis_jwt_keyset_release(next);
    }
    atomic_store(&s.stop, 1);
    for (int i = 0; i < 4; i++)
        pthread_join(th[i], NULL);
    CHECK(atomic_load(&s.verified) > 0);
    CHECK_INT(atomic_load(&s.failures), 0);
    mentis_jwt_keyslot_destroy(slot);
    mentis_jwt_keyslot_destroy(NULL);
    free(token);
}

/* ---- cache and revocations ---------------------------------------------------------- */

static mentis_jwt_cache_t *new_cache(size_t capacity, size_t revocations)
{
    mentis_jwt_cache_config_t cfg = {
        .policy = policy, .capacity = capacity, .max_revocations = revocations};
    mentis_jwt_cache_t *cache = NULL;
    if (mentis_jwt_cache_create(&cfg, &cache) != MENTIS_OK)
        abort();
    return cache;
}

static mentis_status_t cache_verify(mentis_jwt_cache_t *cache, const char *token, int64_t now,
                                    mentis_jwt_claims_t *out)
{
    mentis_err_clear();
    return mentis_jwt_cache_verify(cache, token, strlen(token), keys, now, out);
}

static char *token_for(const char *sub, const char *sid, int64_t iat)
{
    mentis_jwt_claims_t c = sample_claims(iat);
    snprintf(c.sub, sizeof c.sub, "%s", sub);
    snprintf(c.sid, sizeof c.sid, "%s", sid);
    return sign_or_die(&c, "k1", sk1);
}

static void test_cache_hit_miss_expiry(void)
{
    setup();
    mentis_jwt_cache_t *cache = new_cache(8, 8);
    mentis_jwt_cache_stats_t st;
    char *t = token_for("u1", "s1", NOW); /* exp NOW + 600 */
    mentis_jwt_claims_t a, b;
    CHECK(cache_verify(cache, t, NOW, &a) == MENTIS_OK);
    CHECK(cache_verify(cache, t, NOW + 1, &b) == MENTIS_OK);
    CHECK(memcmp(&a, &b, sizeof a) == 0);
    mentis_jwt_cache_stats(cache, &st);
    CHECK_INT(st.misses, 1);
    CHECK_INT(st.hits, 1);
    CHECK_INT(st.entries, 1);

    /* Refusals are not cached: a forged token stays a miss every time. */
    char forged[MENTIS_JWT_MAX_LEN];
    snprintf(forged, sizeof forged, "%s", t);
    forged[strlen(forged) - 3] ^= 1;
    CHECK(cache_verify(cache, forged, NOW, &a) == MENTIS_ERR_UNAUTHENTICATED);
    CHECK(cache_verify(cache, forged, NOW, &a) == MENTIS_ERR_UNAUTHENTICATED);
    mentis_jwt_cache_stats(cache, &st);
    CHECK_INT(st.misses, 3);
    CHECK_INT(st.entries, 1);

    /* Exp re-checked on every hit, with the leeway. */
    CHECK(cache_verify(cache, t, NOW + 600 + 29, &a) == MENTIS_OK);
    CHECK(cache_verify(cache, t, NOW + 600 + 30, &a) == MENTIS_ERR_UNAUTHENTICATED);
    CHECK_STR(mentis_err_code(), MENTIS_JWT_CODE_EXPIRED);
    mentis_jwt_cache_stats(cache, &st);
    CHECK_INT(st.entries, 0);
    CHECK(cache_verify(cache, t, NOW + 600 + 30, &a) == MENTIS_ERR_UNAUTHENTICATED);
    CHECK_STR(mentis_err_code(), MENTIS_JWT_CODE_EXPIRED);

    /* Purge drops what expired. */
    CHECK(cache_verify(cache, t, NOW, &a) == MENTIS_OK);
    mentis_jwt_cache_purge(cache, NOW + 100);
    mentis_jwt_cache_stats(cache, &st);
    CHECK_INT(st.entries, 1);
    mentis_jwt_cache_purge(cache, NOW + 700);
    mentis_jwt_cache_stats(cache, &st);
    CHECK_INT(st.entries, 0);
    free(t);
    mentis_jwt_cache_destroy(cache);
    mentis_jwt_cache_destroy(NULL);
}

static void test_cache_eviction_lru(void)
{
    setup();
    mentis_jwt_cache_t *cache = new_cache(2, 8);
    char *ta = token_for("ua", "sa", NOW), *tb = token_for("ub", "sb", NOW),
         *tc = token_for("uc", "sc", NOW);
    mentis_jwt_claims_t out;
    mentis_jwt_cache_stats_t st;
    CHECK(cache_verify(cache, ta, NOW, &out) == MENTIS_OK); /* miss */
    CHECK(cache_verify(cache, tb, NOW, &out) == MENTIS_OK); /* miss */
    CHECK(cache_verify(cache, ta, NOW, &out) == MENTIS_OK); /* hit: a is now the newest */
    CHECK(cache_verify(cache, tc, NOW, &out) == MENTIS_OK); /* miss: evicts b */
    mentis_jwt_cache_stats(cache, &st);
    CHECK_INT(st.evictions, 1);
    CHECK_INT(st.entries, 2);
    CHECK_INT(st.hits, 1);
    CHECK(cache_verify(cache, ta, NOW, &out) == MENTIS_OK); /* still there */
    CHECK_STR(out.sub, "ua");
    mentis_jwt_cache_stats(cache, &st);
    CHECK_INT(st.hits, 2);
    CHECK(cache_verify(cache, tb, NOW, &out) == MENTIS_OK); /* gone: verified again */
    mentis_jwt_cache_stats(cache, &st);
    CHECK_INT(st.misses, 4);
    CHECK_INT(st.evictions, 2); /* c went */
    free(ta);
    free(tb);
    free(tc);
    mentis_jwt_cache_destroy(cache);
}

static void test_cache_key_rotation(void)
{
    setup();
    mentis_jwt_cache_t *cache = new_cache(4, 4);
    char *t = token_for("u1", "s1", NOW);
    mentis_jwt_claims_t out;
    CHECK(cache_verify(cache, t, NOW, &out) == MENTIS_OK);
    /* k1 leaves the set: its cached tokens stop at once. */
    mentis_jwt_key_t only2 = {.kid = "k2"};
    memcpy(only2.pk, pk2, 32);
    mentis_jwt_keyset_t *next = NULL;
    REQUIRE(mentis_jwt_keyset_create(&only2, 1, &next) == MENTIS_OK);
    mentis_err_clear();
    CHECK(mentis_jwt_cache_verify(cache, t, strlen(t), next, NOW, &out) ==
          MENTIS_ERR_UNAUTHENTICATED);
    CHECK_STR(mentis_err_code(), MENTIS_JWT_CODE_UNKNOWN_KEY);
    /* Same kid, another key: refused too. */
    CHECK(cache_verify(cache, t, NOW, &out) == MENTIS_OK);
    mentis_jwt_key_t swapped = {.kid = "k1"};
    memcpy(swapped.pk, pk2, 32);
    mentis_jwt_keyset_release(next);
    REQUIRE(mentis_jwt_keyset_create(&swapped, 1, &next) == MENTIS_OK);
    mentis_err_clear();
    CHECK(mentis_jwt_cache_verify(cache, t, strlen(t), next, NOW, &out) ==
          MENTIS_ERR_UNAUTHENTICATED);
    CHECK_STR(mentis_err_code(), MENTIS_JWT_CODE_SIGNATURE);
    mentis_jwt_keyset_release(next);
    free(t);
    mentis_jwt_cache_destroy(cache);
}

static void test_cache_revocations(void)
{
    setup();
    mentis_jwt_cache_t *cache = new_cache(16, 16);
    mentis_jwt_claims_t out;
    mentis_jwt_cache_stats_t st;
    char *s1 = token_for("u1", "s1", NOW - 60);
    char *s2 = token_for("u1", "s2", NOW - 60);
    char *other = token_for("u2", "s3", NOW - 60);
    CHECK(cache_verify(cache, s1, NOW, &out) == MENTIS_OK); /* now cached */

    /* Session s1 revoked: refused although cached; its sibling and others are not. */
    CHECK(mentis_jwt_cache_revoke_session(cache, "s1", NOW - 1, NOW) == MENTIS_OK);
    CHECK(cache_verify(cache, s1, NOW, &out) == MENTIS_ERR_UNAUTHENTICATED);
    CHECK_STR(mentis_err_code(), MENTIS_JWT_CODE_REVOKED);
    CHECK(cache_verify(cache, s1, NOW, &out) == MENTIS_ERR_UNAUTHENTICATED); /* uncached now */
    CHECK_STR(mentis_err_code(), MENTIS_JWT_CODE_REVOKED);
    CHECK(cache_verify(cache, s2, NOW, &out) == MENTIS_OK);
    CHECK(cache_verify(cache, other, NOW, &out) == MENTIS_OK);

    /* "At or before": a token issued at `since` is covered, one a second later is not. */
    char *at = token_for("u1", "s1", NOW - 1), *after = token_for("u1", "s1", NOW);
    CHECK(cache_verify(cache, at, NOW, &out) == MENTIS_ERR_UNAUTHENTICATED);
    CHECK(cache_verify(cache, after, NOW, &out) == MENTIS_OK);

    /* The user revoked (password reset): every session, cached or not, until re-login. */
    CHECK(mentis_jwt_cache_revoke_user(cache, "u1", NOW, NOW) == MENTIS_OK);
    CHECK(cache_verify(cache, s2, NOW, &out) == MENTIS_ERR_UNAUTHENTICATED);
    CHECK_STR(mentis_err_code(), MENTIS_JWT_CODE_REVOKED);
    CHECK(cache_verify(cache, after, NOW, &out) == MENTIS_ERR_UNAUTHENTICATED);
    CHECK(cache_verify(cache, other, NOW, &out) == MENTIS_OK);
    char *relogin = token_for("u1", "s9", NOW + 1);
    CHECK(cache_verify(cache, relogin, NOW + 1, &out) == MENTIS_OK);
    /* A later revocation of the same user raises `since`; an earlier one does not lower it. */
    CHECK(mentis_jwt_cache_revoke_user(cache, "u1", NOW - 500, NOW) == MENTIS_OK);
    CHECK(cache_verify(cache, s2, NOW, &out) == MENTIS_ERR_UNAUTHENTICATED);
    mentis_jwt_cache_stats(cache, &st);
    CHECK_INT(st.revocations, 2);
    CHECK(st.revoked >= 5);

    /* Bad ids. */
    char long_id[MENTIS_JWT_ID_SIZE + 1];
    memset(long_id, 'a', MENTIS_JWT_ID_SIZE);
    long_id[MENTIS_JWT_ID_SIZE] = '\0';
    CHECK(mentis_jwt_cache_revoke_session(cache, long_id, NOW, NOW) == MENTIS_ERR_INVALID_ARGUMENT);
    long_id[MENTIS_JWT_ID_SIZE - 1] = '\0';
    CHECK(mentis_jwt_cache_revoke_session(cache, long_id, NOW, NOW) == MENTIS_OK);
    CHECK(mentis_jwt_cache_revoke_user(cache, "", NOW, NOW) == MENTIS_ERR_INVALID_ARGUMENT);
    CHECK(mentis_jwt_cache_revoke_user(cache, NULL, NOW, NOW) == MENTIS_ERR_INVALID_ARGUMENT);

    /* Forgotten once nothing they cover can be valid: since + 900 (lifetime) + 30 (leeway). */
    mentis_jwt_cache_purge(cache, NOW + 929);
    mentis_jwt_cache_stats(cache, &st);
    CHECK_INT(st.revocations, 3);
    mentis_jwt_cache_purge(cache, NOW + 930); /* s1's (since NOW - 1) goes first */
    mentis_jwt_cache_stats(cache, &st);
    CHECK_INT(st.revocations, 2);
    mentis_jwt_cache_purge(cache, NOW + 931);
    mentis_jwt_cache_stats(cache, &st);
    CHECK_INT(st.revocations, 0);
    /* ...and one that is stale already is not stored. */
    CHECK(mentis_jwt_cache_revoke_session(cache, "s5", NOW, NOW + 931) == MENTIS_OK);
    mentis_jwt_cache_stats(cache, &st);
    CHECK_INT(st.revocations, 0);

    free(s1);
    free(s2);
    free(other);
    free(at);
    free(after);
    free(relogin);
    mentis_jwt_cache_destroy(cache);
}

static void test_revocations_bounded(void)
{
    setup();
    mentis_jwt_cache_t *cache = new_cache(16, 2);
    mentis_jwt_claims_t out;
    mentis_jwt_cache_stats_t st;
    CHECK(mentis_jwt_cache_revoke_session(cache, "sa", NOW - 300, NOW) == MENTIS_OK);
    CHECK(mentis_jwt_cache_revoke_session(cache, "sb", NOW - 200, NOW) == MENTIS_OK);
    CHECK(mentis_jwt_cache_revoke_session(cache, "sc", NOW - 100, NOW) == MENTIS_OK);
    mentis_jwt_cache_stats(cache, &st);
    CHECK_INT(st.revocations, 2);
    CHECK_INT(st.revocations_folded, 1);
    CHECK_INT(st.revocation_floor, NOW - 300);
    /* sa's tokens stay refused through the floor, with everyone's from before it. */
    char *a = token_for("u1", "sa", NOW - 300), *x = token_for("u9", "sx", NOW - 300),
         *y = token_for("u9", "sy", NOW - 299), *c = token_for("u3", "sc", NOW - 100);
    CHECK(cache_verify(cache, a, NOW, &out) == MENTIS_ERR_UNAUTHENTICATED);
    CHECK(cache_verify(cache, x, NOW, &out) == MENTIS_ERR_UNAUTHENTICATED);
    CHECK_STR(mentis_err_code(), MENTIS_JWT_CODE_REVOKED);
    CHECK(cache_verify(cache, y, NOW, &out) == MENTIS_OK);
    CHECK(cache_verify(cache, c, NOW, &out) == MENTIS_ERR_UNAUTHENTICATED);
    /* Thousands more: memory stays at two entries, nothing revoked comes back. */
    for (int i = 0; i < 5000; i++) {
        char sid[32];
        snprintf(sid, sizeof sid, "flood-%d", i);
        mentis_jwt_cache_revoke_session(cache, sid, NOW - 100 + i / 100, NOW);
    }
    mentis_jwt_cache_stats(cache, &st);
    CHECK(st.revocations <= 2);
    CHECK(st.revocation_floor >= NOW - 100);
    CHECK(st.revocations_folded > 100);
    CHECK(cache_verify(cache, c, NOW, &out) == MENTIS_ERR_UNAUTHENTICATED);
    CHECK(cache_verify(cache, a, NOW, &out) == MENTIS_ERR_UNAUTHENTICATED);
    /* Tokens issued after every revocation are fine. */
    char *fresh = token_for("u9", "sz", NOW);
    CHECK(cache_verify(cache, fresh, NOW, &out) == MENTIS_OK);
    free(a);
    free(x);
    free(y);
    free(c);
    free(fresh);
    mentis_jwt_cache_destroy(cache);
}

static void test_cache_config(void)
{
    setup();
    mentis_jwt_cache_t *cache = NULL;
    mentis_jwt_cache_config_t cfg = {.policy = policy, .capacity = 0, .max_revocations = 1};
    CHECK(mentis_jwt_cache_create(&cfg, &cache) == MENTIS_ERR_INVALID_ARGUMENT);
    cfg.capacity = 1;
    cfg.max_revocations = 0;
    CHECK(mentis_jwt_cache_create(&cfg, &cache) == MENTIS_ERR_INVALID_ARGUMENT);
    cfg.max_revocations = 1;
    cfg.policy.audience = "";
    CHECK(mentis_jwt_cache_create(&cfg, &cache) == MENTIS_ERR_INVALID_ARGUMENT);
    CHECK(cache == NULL);
    /* The policy's strings are copied. */
    char iss[64];
    snprintf(iss, sizeof iss, "%s", ISS);
    cfg.policy = policy;
    cfg.policy.issuer = iss;
    REQUIRE(mentis_jwt_cache_create(&cfg, &cache) == MENTIS_OK);
    memset(iss, 'x', sizeof iss - 1);
    char *t = token_for("u1", "s1", NOW);
    mentis_jwt_claims_t out;
    CHECK(cache_verify(cache, t, NOW, &out) == MENTIS_OK);
    char big[MENTIS_JWT_MAX_LEN + 2];
    memset(big, 'a', sizeof big - 1);
    big[sizeof big - 1] = '\0';
    CHECK(cache_verify(cache, big, NOW, &out) == MENTIS_ERR_UNAUTHENTICATED);
    CHECK_STR(mentis_err_code(), MENTIS_JWT_CODE_TOO_LARGE);
    free(t);
    mentis_jwt_cache_destroy(cache);
}

static void test_teardown(void)
{
    mentis_jwt_keyset_release(keys);
    keys = NULL;
    CHECK(1);
}

TEST_MAIN(test_round_trip, test_sign_refuses, test_roles_and_codes, test_structure,
          test_alg_refused, test_header_refused, test_keys_and_signature,
          test_claims_required_and_typed, test_issuer_audience, test_time_boundaries,
          test_order_and_duplicates, test_jwks_round_trip, test_jwks_malformed, test_keyslot_swap,
          test_cache_hit_miss_expiry, test_cache_eviction_lru, test_cache_key_rotation,
          test_cache_revocations, test_revocations_bounded, test_cache_config, test_teardown)
