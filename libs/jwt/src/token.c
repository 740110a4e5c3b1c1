#include "token.h"

#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "jose.h"
#include "mentis/crypto.h"

#define SIG_SIZE    64
#define SIG_B64_LEN 86 /* base64url of 64 bytes, unpadded */
#define MAX_LEEWAY  300

static const char *const role_names[] = {"user", "admin", "platform_admin"};
#define ROLE_COUNT (sizeof role_names / sizeof role_names[0])

const char *mentis_jwt_role_str(mentis_jwt_role_t role)
{
    return (unsigned)role < ROLE_COUNT ? role_names[role] : "";
}

bool mentis_jwt_role_parse(const char *name, mentis_jwt_role_t *out)
{
    if (name == NULL)
        return false;
    for (unsigned i = 0; i < ROLE_COUNT; i++) {
        if (strcmp(name, role_names[i]) == 0) {
            *out = (mentis_jwt_role_t)i;
            return true;
        }
    }
    return false;
}

const char *mentis_jwt_client_code(const char *code)
{
    if (code != NULL && strcmp(code, MENTIS_JWT_CODE_EXPIRED) == 0)
        return MENTIS_JWT_CODE_EXPIRED;
    return "token_invalid";
}

bool mentis__jwt_kid_ok(const char *kid)
{
    if (kid == NULL)
        return false;
    size_t n = 0;
    for (; kid[n] != '\0'; n++) {
        unsigned char c = (unsigned char)kid[n];
        if (n + 1 >= MENTIS_JWT_KID_SIZE || c <= 0x20 || c >= 0x7f || c == '"' || c == '\\')
            return false;
    }
    return n > 0;
}

mentis_status_t mentis__jwt_policy_check(const mentis_jwt_policy_t *policy)
{
    if (policy == NULL || policy->issuer == NULL || policy->audience == NULL ||
        policy->issuer[0] == '\0' || policy->audience[0] == '\0' ||
        strlen(policy->issuer) >= MENTIS_JWT_URI_SIZE ||
        strlen(policy->audience) >= MENTIS_JWT_URI_SIZE)
        return mentis_err_set(MENTIS_ERR_INVALID_ARGUMENT, NULL,
                              "jwt: a policy needs an issuer and an audience of 1..%d bytes",
                              MENTIS_JWT_URI_SIZE - 1);
    if (policy->leeway_s < 0 || policy->leeway_s > MAX_LEEWAY)
        return mentis_err_set(MENTIS_ERR_INVALID_ARGUMENT, NULL,
                              "jwt: leeway of %lld s is not within 0..%d",
                              (long long)policy->leeway_s, MAX_LEEWAY);
    if (policy->max_lifetime_s <= 0 || policy->max_lifetime_s > MENTIS__JOSE_MAX_DATE)
        return mentis_err_set(MENTIS_ERR_INVALID_ARGUMENT, NULL,
                              "jwt: max lifetime of %lld s is not positive",
                              (long long)policy->max_lifetime_s);
    return MENTIS_OK;
}

/* ---- Signing ------------------------------------------------------------------------ */

/* Whether a claim string ends inside its array and is clean text. */
static bool claim_ok(const char *s, size_t size, bool required)
{
    const char *end = memchr(s, '\0', size);
    if (end == NULL)
        return false;
    size_t n = (size_t)(end - s);
    return (n > 0 || !required) && mentis__jose_text_ok(s, n);
}

static mentis_status_t check_claims_to_sign(const mentis_jwt_claims_t *c)
{
    static const struct {
        const char *name;
        size_t offset, size;
        bool required;
    } strings[] = {
        {"sub", offsetof(mentis_jwt_claims_t, sub), MENTIS_JWT_ID_SIZE, true},
        {"tid", offsetof(mentis_jwt_claims_t, tid), MENTIS_JWT_ID_SIZE, true},
        {"sid", offsetof(mentis_jwt_claims_t, sid), MENTIS_JWT_ID_SIZE, true},
        {"jti", offsetof(mentis_jwt_claims_t, jti), MENTIS_JWT_ID_SIZE, false},
        {"device_id", offsetof(mentis_jwt_claims_t, device_id), MENTIS_JWT_ID_SIZE, false},
        {"email", offsetof(mentis_jwt_claims_t, email), MENTIS_JWT_EMAIL_SIZE, false},
        {"iss", offsetof(mentis_jwt_claims_t, iss), MENTIS_JWT_URI_SIZE, true},
        {"aud", offsetof(mentis_jwt_claims_t, aud), MENTIS_JWT_URI_SIZE, true},
    };
    for (size_t i = 0; i < sizeof strings / sizeof strings[0]; i++) {
        const char *s = (const char *)c + strings[i].offset;
        if (!claim_ok(s, strings[i].size, strings[i].required))
            return mentis_err_set(
                MENTIS_ERR_INVALID_ARGUMENT, NULL, "jwt: claim %s is %s", strings[i].name,
                strings[i].required && s[0] == '\0' ? "missing"
                                                    : "not clean text ending in its buffer");
    }
    if ((unsigned)c->role >= ROLE_COUNT)
        return mentis_err_set(MENTIS_ERR_INVALID_ARGUMENT, NULL, "jwt: role %d out of range",
                              (int)c->role);
    if (c->iat < 0 || c->exp <= c->iat || c->exp > MENTIS__JOSE_MAX_DATE || c->nbf < 0 ||
        c->nbf > MENTIS__JOSE_MAX_DATE)
        return mentis_err_set(MENTIS_ERR_INVALID_ARGUMENT, NULL,
                              "jwt: times iat %lld, nbf %lld, exp %lld are not in order",
                              (long long)c->iat, (long long)c->nbf, (long long)c->exp);
    return MENTIS_OK;
}

static char *claims_json(const mentis_jwt_claims_t *c)
{
    char *text = NULL;
    cJSON *o = cJSON_CreateObject();
    if (o == NULL)
        return NULL;
    bool ok =
        cJSON_AddStringToObject(o, "iss", c->iss) && cJSON_AddStringToObject(o, "sub", c->sub) &&
        cJSON_AddStringToObject(o, "aud", c->aud) && cJSON_AddStringToObject(o, "tid", c->tid) &&
        cJSON_AddStringToObject(o, "sid", c->sid) &&
        cJSON_AddStringToObject(o, "role", mentis_jwt_role_str(c->role)) &&
        (!c->email[0] || cJSON_AddStringToObject(o, "email", c->email)) &&
        (!c->device_id[0] || cJSON_AddStringToObject(o, "device_id", c->device_id)) &&
        cJSON_AddNumberToObject(o, "iat", (double)c->iat) &&
        (!c->nbf || cJSON_AddNumberToObject(o, "nbf", (double)c->nbf)) &&
        cJSON_AddNumberToObject(o, "exp", (double)c->exp) &&
        (!c->jti[0] || cJSON_AddStringToObject(o, "jti", c->jti));
    if (ok)
        text = cJSON_PrintUnformatted(o);
    cJSON_Delete(o);
    return text;
}

/* Appends base64url(data) at out + *at; the caller has sized out for it. */
static void append_b64(char *out, size_t size, size_t *at, const void *data, size_t n)
{
    mentis_crypto_base64url_encode(data, n, out + *at, size - *at);
    *at += strlen(out + *at);
}

static size_t b64_len(size_t n)
{
    return n / 3 * 4 + (n % 3 ? n % 3 + 1 : 0);
}

mentis_status_t mentis_jwt_sign(const mentis_jwt_claims_t *claims, const char *kid,
                                const uint8_t sk[64], char **out)
{
    if (claims == NULL || sk == NULL || out == NULL)
        return mentis_err_set(MENTIS_ERR_INVALID_ARGUMENT, NULL, "jwt: sign with NULL");
    if (!mentis__jwt_kid_ok(kid))
        return mentis_err_set(MENTIS_ERR_INVALID_ARGUMENT, NULL,
                              "jwt: kid must be 1..%d printable characters without quotes",
                              MENTIS_JWT_KID_SIZE - 1);
    mentis_status_t st = check_claims_to_sign(claims);
    if (st != MENTIS_OK)
        return st;

    char header[128];
    int hn =
        snprintf(header, sizeof header, "{\"alg\":\"EdDSA\",\"typ\":\"JWT\",\"kid\":\"%s\"}", kid);
    char *payload = claims_json(claims);
    if (payload == NULL)
        return mentis_err_set(MENTIS_ERR_NO_MEMORY, NULL, "jwt: out of memory writing claims");
    size_t pn = strlen(payload);
    size_t total = b64_len((size_t)hn) + 1 + b64_len(pn) + 1 + SIG_B64_LEN;
    char *token = NULL;
    if (total > MENTIS_JWT_MAX_LEN) {
        st = mentis_err_set(MENTIS_ERR_TOO_LARGE, NULL, "jwt: a token of %zu bytes would exceed %d",
                            total, MENTIS_JWT_MAX_LEN);
        goto out;
    }
    token = malloc(total + 1);
    if (token == NULL) {
        st = mentis_err_set(MENTIS_ERR_NO_MEMORY, NULL, "jwt: out of memory for a token");
        goto out;
    }
    size_t at = 0;
    append_b64(token, total + 1, &at, header, (size_t)hn);
    token[at++] = '.';
    append_b64(token, total + 1, &at, payload, pn);
    uint8_t sig[SIG_SIZE];
    mentis_crypto_sign(sk, token, at, sig);
    token[at++] = '.';
    append_b64(token, total + 1, &at, sig, sizeof sig);
    *out = token;
out:
    cJSON_free(payload);
    return st;
}

/* ---- Verification ------------------------------------------------------------------- */

mentis_status_t mentis__jwt_refuse(const char *code, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    mentis_err_vset(MENTIS_ERR_UNAUTHENTICATED, code, fmt, ap);
    va_end(ap);
    return MENTIS_ERR_UNAUTHENTICATED;
}

static bool ascii_case_equal(const char *a, const char *b)
{
    for (; *a && *b; a++, b++) {
        char x = (*a >= 'A' && *a <= 'Z') ? (char)(*a - 'A' + 'a') : *a;
        char y = (*b >= 'A' && *b <= 'Z') ? (char)(*b - 'A' + 'a') : *b;
        if (x != y)
            return false;
    }
    return *a == *b;
}

/* Decodes one part into buf and parses it as a strict JSON object. */
static mentis_status_t decode_object(const char *part, size_t n, uint8_t *buf, size_t size,
                                     const char *what, cJSON **out)
{
    size_t len = 0;
    if (mentis_crypto_base64url_decode(part, n, buf, size, &len) != MENTIS_OK)
        return mentis__jwt_refuse(MENTIS_JWT_CODE_MALFORMED, "jwt: %s is not base64url", what);
    bool no_memory;
    *out = mentis__jose_parse_object(buf, len, &no_memory);
    if (*out == NULL) {
        if (no_memory)
            return mentis_err_set(MENTIS_ERR_NO_MEMORY, NULL, "jwt: out of memory parsing %s",
                                  what);
        return mentis__jwt_refuse(MENTIS_JWT_CODE_MALFORMED,
                                  "jwt: %s is not a JSON object with unique member names", what);
    }
    return MENTIS_OK;
}

static mentis_status_t check_header(const cJSON *h, const mentis_jwt_keyset_t *keys,
                                    const mentis_jwt_key_t **key_out)
{
    char text[MENTIS_JWT_KID_SIZE];
    if (mentis__jose_get_string(h, "alg", text, sizeof text) != MENTIS__JOSE_OK ||
        strcmp(text, "EdDSA") != 0)
        return mentis__jwt_refuse(MENTIS_JWT_CODE_ALG, "jwt: header alg is not \"EdDSA\"");
    /* Each of these would let the token choose how it is checked: refuse, never follow. */
    static const char *const refused[] = {"crit", "jku", "jwk", "x5u", "x5c"};
    for (size_t i = 0; i < sizeof refused / sizeof refused[0]; i++)
        if (mentis__jose_member(h, refused[i]) != NULL)
            return mentis__jwt_refuse(MENTIS_JWT_CODE_HEADER, "jwt: header parameter %s refused",
                                      refused[i]);
    switch (mentis__jose_get_string(h, "typ", text, sizeof text)) {
    case MENTIS__JOSE_ABSENT:
        break;
    case MENTIS__JOSE_OK:
        if (ascii_case_equal(text, "JWT"))
            break;
        /* fall through */
    case MENTIS__JOSE_BAD:
        return mentis__jwt_refuse(MENTIS_JWT_CODE_HEADER, "jwt: header typ is not \"JWT\"");
    }
    if (mentis__jose_get_string(h, "kid", text, sizeof text) != MENTIS__JOSE_OK)
        return mentis__jwt_refuse(MENTIS_JWT_CODE_UNKNOWN_KEY,
                                  "jwt: header kid is not a string of at most %d bytes",
                                  MENTIS_JWT_KID_SIZE - 1);
    const mentis_jwt_key_t *key = mentis_jwt_keyset_find(keys, text);
    if (key == NULL)
        return mentis__jwt_refuse(MENTIS_JWT_CODE_UNKNOWN_KEY, "jwt: no key with kid \"%s\"", text);
    *key_out = key;
    return MENTIS_OK;
}

/* Reads a string claim, mapping absent/bad to the refusal codes. */
static mentis_status_t string_claim(const cJSON *c, const char *name, char *out, size_t size,
                                    bool required)
{
    switch (mentis__jose_get_string(c, name, out, size)) {
    case MENTIS__JOSE_OK:
        if (required && out[0] == '\0')
            return mentis__jwt_refuse(MENTIS_JWT_CODE_MISSING_CLAIM, "jwt: claim %s is empty",
                                      name);
        return MENTIS_OK;
    case MENTIS__JOSE_ABSENT:
        if (required)
            return mentis__jwt_refuse(MENTIS_JWT_CODE_MISSING_CLAIM, "jwt: claim %s is missing",
                                      name);
        return MENTIS_OK;
    case MENTIS__JOSE_BAD:
        break;
    }
    return mentis__jwt_refuse(MENTIS_JWT_CODE_INVALID_CLAIM,
                              "jwt: claim %s is not a string of clean UTF-8 text under %zu bytes",
                              name, size);
}

static mentis_status_t date_claim(const cJSON *c, const char *name, int64_t *out, bool required)
{
    switch (mentis__jose_get_date(c, name, out)) {
    case MENTIS__JOSE_OK:
        return MENTIS_OK;
    case MENTIS__JOSE_ABSENT:
        if (required)
            return mentis__jwt_refuse(MENTIS_JWT_CODE_MISSING_CLAIM, "jwt: claim %s is missing",
                                      name);
        return MENTIS_OK;
    case MENTIS__JOSE_BAD:
        break;
    }
    return mentis__jwt_refuse(MENTIS_JWT_CODE_INVALID_CLAIM, "jwt: claim %s is not an integer date",
                              name);
}

/* aud: a string, or an array of strings, that holds the expected audience. */
static mentis_status_t check_audience(const cJSON *c, const char *expected)
{
    const cJSON *aud = mentis__jose_member(c, "aud");
    if (aud == NULL)
        return mentis__jwt_refuse(MENTIS_JWT_CODE_MISSING_CLAIM, "jwt: claim aud is missing");
    bool found = false;
    if (cJSON_IsString(aud)) {
        found = strcmp(aud->valuestring, expected) == 0;
    } else if (cJSON_IsArray(aud)) {
        for (const cJSON *e = aud->child; e != NULL; e = e->next) {
            if (!cJSON_IsString(e))
                return mentis__jwt_refuse(MENTIS_JWT_CODE_INVALID_CLAIM,
                                          "jwt: claim aud holds something other than strings");
            found = found || strcmp(e->valuestring, expected) == 0;
        }
    } else {
        return mentis__jwt_refuse(MENTIS_JWT_CODE_INVALID_CLAIM,
                                  "jwt: claim aud is neither a string nor an array");
    }
    if (!found)
        return mentis__jwt_refuse(MENTIS_JWT_CODE_AUDIENCE, "jwt: audience \"%s\" is not in aud",
                                  expected);
    return MENTIS_OK;
}

static mentis_status_t read_claims(const cJSON *c, const mentis_jwt_policy_t *policy, int64_t now,
                                   mentis_jwt_claims_t *cl)
{
    mentis_status_t st;
    char role[32];
    if ((st = string_claim(c, "sub", cl->sub, sizeof cl->sub, true)) != MENTIS_OK ||
        (st = string_claim(c, "tid", cl->tid, sizeof cl->tid, true)) != MENTIS_OK ||
        (st = string_claim(c, "sid", cl->sid, sizeof cl->sid, true)) != MENTIS_OK ||
        (st = string_claim(c, "role", role, sizeof role, true)) != MENTIS_OK ||
        (st = string_claim(c, "iss", cl->iss, sizeof cl->iss, true)) != MENTIS_OK ||
        (st = string_claim(c, "jti", cl->jti, sizeof cl->jti, false)) != MENTIS_OK ||
        (st = string_claim(c, "device_id", cl->device_id, sizeof cl->device_id, false)) !=
            MENTIS_OK ||
        (st = string_claim(c, "email", cl->email, sizeof cl->email, false)) != MENTIS_OK ||
        (st = date_claim(c, "iat", &cl->iat, true)) != MENTIS_OK ||
        (st = date_claim(c, "exp", &cl->exp, true)) != MENTIS_OK ||
        (st = date_claim(c, "nbf", &cl->nbf, false)) != MENTIS_OK)
        return st;
    if (!mentis_jwt_role_parse(role, &cl->role))
        return mentis__jwt_refuse(MENTIS_JWT_CODE_INVALID_CLAIM, "jwt: role \"%s\" is unknown",
                                  role);
    if (cl->exp <= cl->iat || cl->exp - cl->iat > policy->max_lifetime_s)
        return mentis__jwt_refuse(MENTIS_JWT_CODE_INVALID_CLAIM,
                                  "jwt: lifetime from iat %lld to exp %lld is not within 1..%lld s",
                                  (long long)cl->iat, (long long)cl->exp,
                                  (long long)policy->max_lifetime_s);
    if (strcmp(cl->iss, policy->issuer) != 0)
        return mentis__jwt_refuse(MENTIS_JWT_CODE_ISSUER, "jwt: issuer \"%s\" is not \"%s\"",
                                  cl->iss, policy->issuer);
    if ((st = check_audience(c, policy->audience)) != MENTIS_OK)
        return st;
    snprintf(cl->aud, sizeof cl->aud, "%s", policy->audience);
    if (cl->exp <= now - policy->leeway_s)
        return mentis__jwt_refuse(MENTIS_JWT_CODE_EXPIRED,
                                  "jwt: expired at %lld (now %lld, leeway %lld s)",
                                  (long long)cl->exp, (long long)now, (long long)policy->leeway_s);
    if (cl->nbf > now + policy->leeway_s || cl->iat > now + policy->leeway_s)
        return mentis__jwt_refuse(MENTIS_JWT_CODE_NOT_YET_VALID,
                                  "jwt: not valid before %lld (iat %lld, now %lld, leeway %lld s)",
                                  (long long)cl->nbf, (long long)cl->iat, (long long)now,
                                  (long long)policy->leeway_s);
    return MENTIS_OK;
}

mentis_status_t mentis__jwt_verify(const char *token, size_t len, const mentis_jwt_keyset_t *keys,
                                   const mentis_jwt_policy_t *policy, int64_t now,
                                   mentis_jwt_claims_t *out, const mentis_jwt_key_t **key_out)
{
    if (token == NULL || out == NULL)
        return mentis_err_set(MENTIS_ERR_INVALID_ARGUMENT, NULL, "jwt: verify with NULL");
    mentis_status_t st = mentis__jwt_policy_check(policy);
    if (st != MENTIS_OK)
        return st;
    if (len > MENTIS_JWT_MAX_LEN)
        return mentis__jwt_refuse(MENTIS_JWT_CODE_TOO_LARGE, "jwt: token of %zu bytes exceeds %d",
                                  len, MENTIS_JWT_MAX_LEN);

    const char *dot1 = memchr(token, '.', len);
    const char *dot2 = dot1 ? memchr(dot1 + 1, '.', len - (size_t)(dot1 + 1 - token)) : NULL;
    if (dot2 == NULL || memchr(dot2 + 1, '.', len - (size_t)(dot2 + 1 - token)) != NULL)
        return mentis__jwt_refuse(MENTIS_JWT_CODE_MALFORMED,
                                  "jwt: token is not three dot-separated parts");
    size_t header_len = (size_t)(dot1 - token);
    size_t payload_len = (size_t)(dot2 - dot1 - 1);
    size_t sig_len = len - (size_t)(dot2 + 1 - token);
    if (header_len == 0 || payload_len == 0 || sig_len == 0)
        return mentis__jwt_refuse(MENTIS_JWT_CODE_MALFORMED, "jwt: token has an empty part");

    uint8_t buf[MENTIS_JWT_MAX_LEN];
    cJSON *json = NULL;
    const mentis_jwt_key_t *key = NULL;
    if ((st = decode_object(token, header_len, buf, sizeof buf, "header", &json)) != MENTIS_OK)
        return st;
    st = check_header(json, keys, &key);
    cJSON_Delete(json);
    json = NULL;
    if (st != MENTIS_OK)
        return st;

    uint8_t sig[SIG_SIZE];
    size_t got = 0;
    if (sig_len != SIG_B64_LEN ||
        mentis_crypto_base64url_decode(dot2 + 1, sig_len, sig, sizeof sig, &got) != MENTIS_OK ||
        got != SIG_SIZE)
        return mentis__jwt_refuse(MENTIS_JWT_CODE_MALFORMED,
                                  "jwt: signature is not 64 bytes of base64url");
    if (!mentis_crypto_sign_verify(key->pk, token, (size_t)(dot2 - token), sig))
        return mentis__jwt_refuse(MENTIS_JWT_CODE_SIGNATURE,
                                  "jwt: signature does not verify with kid \"%s\"", key->kid);

    /* From here on the bytes are ours (or a key holder's): the claims can be read. */
    if ((st = decode_object(dot1 + 1, payload_len, buf, sizeof buf, "claims", &json)) != MENTIS_OK)
        return st;
    mentis_jwt_claims_t claims;
    memset(&claims, 0, sizeof claims);
    st = read_claims(json, policy, now, &claims);
    cJSON_Delete(json);
    if (st != MENTIS_OK)
        return st;
    *out = claims;
    if (key_out != NULL)
        *key_out = key;
    return MENTIS_OK;
}

mentis_status_t mentis_jwt_verify(const char *token, size_t len, const mentis_jwt_keyset_t *keys,
                                  const mentis_jwt_policy_t *policy, int64_t now,
                                  mentis_jwt_claims_t *out)
{
    return mentis__jwt_verify(token, len, keys, policy, now, out, NULL);
}
