/*
 * Access tokens: JWTs (RFC 7519) signed with Ed25519 (JWS alg "EdDSA", RFC 8037).
 *
 *   header  {"alg":"EdDSA","typ":"JWT","kid":"<key id>"}
 *   claims  sub tid sid role email device_id iss aud iat nbf exp jti
 *
 * mentis-auth signs them (mentis_jwt_sign) and publishes its public keys as a JWKS
 * document; the gateway holds those keys in a key set (mentis_jwt_keyset_t), verifies
 * tokens locally (mentis_jwt_verify), and remembers verified tokens and revocations in a
 * cache (mentis_jwt_cache_t).
 *
 * Every refusal is MENTIS_ERR_UNAUTHENTICATED with one of the MENTIS_JWT_CODE_* machine
 * codes recorded through mentis_err_set (read it with mentis_err_code()) and a message
 * for the log that never contains the token. Clients should see only the two codes that
 * mentis_jwt_client_code() returns; the precise one belongs in the log.
 *
 * Times are seconds since the Unix epoch (wall clock), passed in by the caller so tests
 * are deterministic. Call mentis_crypto_init() once before using this module.
 */
#ifndef MENTIS_JWT_H
#define MENTIS_JWT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "mentis/status.h"

#ifdef __cplusplus
extern "C" {
#endif

/* A token longer than this (in bytes) is refused before anything is decoded. */
#define MENTIS_JWT_MAX_LEN 4096

/* Buffer sizes of the claim strings, NUL included. A longer claim makes the token invalid. */
#define MENTIS_JWT_ID_SIZE    64  /* sub, tid, sid, jti, device_id (UUIDs in practice) */
#define MENTIS_JWT_EMAIL_SIZE 256 /* email (RFC 5321 allows 254) */
#define MENTIS_JWT_URI_SIZE   256 /* iss, aud */
#define MENTIS_JWT_KID_SIZE   64  /* key ids */

/* The most keys one key set holds. */
#define MENTIS_JWT_MAX_KEYS 16

/*
 * The machine codes of refusals (mentis_err_code() after a failed verify):
 *   TOO_LARGE      over MENTIS_JWT_MAX_LEN bytes
 *   MALFORMED      not three base64url parts, the first two strict JSON objects
 *   ALG            alg is not exactly "EdDSA"
 *   HEADER         crit, jku, jwk, x5u or x5c present, or a typ other than "JWT"
 *   UNKNOWN_KEY    no kid, or a kid not in the key set
 *   SIGNATURE      the signature does not verify
 *   MISSING_CLAIM  a required claim is absent or empty
 *   INVALID_CLAIM  a claim of the wrong type, too long, not clean text, an unknown role,
 *                  or a lifetime (exp - iat) out of bounds
 *   ISSUER, AUDIENCE, EXPIRED, NOT_YET_VALID (nbf or iat in the future)
 *   REVOKED        its session or user was revoked (cache only)
 */
#define MENTIS_JWT_CODE_TOO_LARGE     "token_too_large"
#define MENTIS_JWT_CODE_MALFORMED     "token_malformed"
#define MENTIS_JWT_CODE_ALG           "token_alg_refused"
#define MENTIS_JWT_CODE_HEADER        "token_header_refused"
#define MENTIS_JWT_CODE_UNKNOWN_KEY   "token_unknown_key"
#define MENTIS_JWT_CODE_SIGNATURE     "token_bad_signature"
#define MENTIS_JWT_CODE_MISSING_CLAIM "token_missing_claim"
#define MENTIS_JWT_CODE_INVALID_CLAIM "token_invalid_claim"
#define MENTIS_JWT_CODE_ISSUER        "token_wrong_issuer"
#define MENTIS_JWT_CODE_AUDIENCE      "token_wrong_audience"
#define MENTIS_JWT_CODE_EXPIRED       "token_expired"
#define MENTIS_JWT_CODE_NOT_YET_VALID "token_not_yet_valid"
#define MENTIS_JWT_CODE_REVOKED       "token_revoked"

/*
 * What a client is told for a refusal code: "token_expired" for MENTIS_JWT_CODE_EXPIRED
 * (the client should refresh), "token_invalid" for every other code (log the precise one).
 */
const char *mentis_jwt_client_code(const char *code);

typedef enum {
    MENTIS_JWT_ROLE_USER = 0,
    MENTIS_JWT_ROLE_ADMIN,
    MENTIS_JWT_ROLE_PLATFORM_ADMIN,
} mentis_jwt_role_t;

/* "user", "admin", "platform_admin"; "" for a value out of range. */
const char *mentis_jwt_role_str(mentis_jwt_role_t role);

/* The role for its name (exact, case-sensitive); false when there is none. */
bool mentis_jwt_role_parse(const char *name, mentis_jwt_role_t *out);

/*
 * The claims of an access token. Every string is NUL-terminated inside its array; "" means
 * absent for the optional ones (email, device_id, jti). Strings hold no control characters
 * and are valid UTF-8 (verify refuses tokens that break this; sign refuses such claims).
 */
typedef struct {
    char sub[MENTIS_JWT_ID_SIZE];       /* user id; required */
    char tid[MENTIS_JWT_ID_SIZE];       /* tenant id; required */
    char sid[MENTIS_JWT_ID_SIZE];       /* session id; required */
    char jti[MENTIS_JWT_ID_SIZE];       /* token id; optional */
    char device_id[MENTIS_JWT_ID_SIZE]; /* optional */
    char email[MENTIS_JWT_EMAIL_SIZE];  /* optional */
    char iss[MENTIS_JWT_URI_SIZE];      /* required */
    char aud[MENTIS_JWT_URI_SIZE];      /* required; after verify: the expected audience */
    mentis_jwt_role_t role;             /* required */
    int64_t iat;                        /* issued at; required */
    int64_t nbf;                        /* not before; 0 when absent */
    int64_t exp;                        /* expires at; required */
} mentis_jwt_claims_t;

/*
 * Signs claims into a compact token: base64url(header) "." base64url(claims) "."
 * base64url(signature), with header {"alg":"EdDSA","typ":"JWT","kid":kid}. aud is written
 * as one string; nbf, email, device_id and jti only when set.
 * kid: 1..63 printable ASCII characters other than '"' and '\'. sk: the 64-byte Ed25519
 * secret key (libsodium layout, seed followed by public key).
 * *out gets a NUL-terminated token; the caller frees it with free(). Written only on
 * success.
 * Errors: MENTIS_ERR_INVALID_ARGUMENT for a missing required claim, a string that is not
 * NUL-terminated in its array or has control characters or invalid UTF-8, a role out of
 * range, iat < 0 or exp <= iat, or a bad kid; MENTIS_ERR_TOO_LARGE when the token would
 * exceed MENTIS_JWT_MAX_LEN; MENTIS_ERR_NO_MEMORY.
 */
mentis_status_t mentis_jwt_sign(const mentis_jwt_claims_t *claims, const char *kid,
                                const uint8_t sk[64], char **out);

/* ---- Key sets ----------------------------------------------------------------------- */

/* One public key: its id and its 32-byte Ed25519 public key. */
typedef struct {
    char kid[MENTIS_JWT_KID_SIZE];
    uint8_t pk[32];
} mentis_jwt_key_t;

/*
 * An immutable set of public keys, reference-counted so that one thread can replace the
 * gateway's current set while others still verify with the old one: whoever holds a
 * reference may use the set from any thread; acquire and release are thread-safe (atomic)
 * and the last release frees it. A new set has one reference, owned by its creator.
 */
typedef struct mentis_jwt_keyset mentis_jwt_keyset_t;

/*
 * A set of n (0..MENTIS_JWT_MAX_KEYS) keys, copied. Kids as for mentis_jwt_sign, unique.
 * MENTIS_ERR_INVALID_ARGUMENT for a bad or duplicate kid or too many keys;
 * MENTIS_ERR_NO_MEMORY. *out is written only on success; release it when done.
 */
mentis_status_t mentis_jwt_keyset_create(const mentis_jwt_key_t *keys, size_t n,
                                         mentis_jwt_keyset_t **out);

/*
 * A set from a JWKS document (RFC 7517) of len bytes (at most 64 KiB):
 *   {"keys":[{"kty":"OKP","crv":"Ed25519","x":"<base64url>","kid":"...",
 *             "use":"sig","alg":"EdDSA"}, ...]}
 * Entries of another kty or crv, or whose "alg" (when present) is not "EdDSA" or whose
 * "use" (when present) is not "sig", are skipped. The whole document is refused with
 * MENTIS_ERR_INVALID_ARGUMENT when it is not such JSON (including duplicate member
 * names), when an Ed25519 entry lacks a valid kid or a 32-byte x, carries a private key
 * ("d"), or repeats a kid, or when it holds more than MENTIS_JWT_MAX_KEYS usable keys.
 * A document with no usable key gives an empty set, which refuses every token.
 * *out is written only on success; release it when done.
 */
mentis_status_t mentis_jwt_keyset_parse(const char *json, size_t len, mentis_jwt_keyset_t **out);

/*
 * The set as a JWKS document, in the form mentis_jwt_keyset_parse reads, keys in their
 * order. *out is NUL-terminated; the caller frees it with free(). MENTIS_ERR_NO_MEMORY.
 */
mentis_status_t mentis_jwt_keyset_render(const mentis_jwt_keyset_t *keys, char **out);

/* The number of keys, and the i-th (i < size); NULL-safe (a NULL set is empty). */
size_t mentis_jwt_keyset_size(const mentis_jwt_keyset_t *keys);
const mentis_jwt_key_t *mentis_jwt_keyset_at(const mentis_jwt_keyset_t *keys, size_t i);

/* The key with this kid, or NULL. The pointer is valid while the caller holds a reference. */
const mentis_jwt_key_t *mentis_jwt_keyset_find(const mentis_jwt_keyset_t *keys, const char *kid);

/* Takes one more reference and returns keys (NULL stays NULL). */
mentis_jwt_keyset_t *mentis_jwt_keyset_acquire(mentis_jwt_keyset_t *keys);

/* Drops one reference; the last one frees the set. NULL is a no-op. */
void mentis_jwt_keyset_release(mentis_jwt_keyset_t *keys);

/*
 * A slot holding the current key set, for replacing it while other threads verify: the
 * thread that learns of new keys calls mentis_jwt_keyslot_set, a verifying thread calls
 * mentis_jwt_keyslot_get, verifies, and releases. Thread-safe (a mutex guards the
 * pointer; a set stays alive for as long as anyone holds it).
 */
typedef struct mentis_jwt_keyslot mentis_jwt_keyslot_t;

/* An empty slot. *out is written only on success. MENTIS_ERR_NO_MEMORY, MENTIS_ERR_INTERNAL. */
mentis_status_t mentis_jwt_keyslot_create(mentis_jwt_keyslot_t **out);

/* Releases the slot's set and frees the slot. No thread may use it any more. NULL is a no-op. */
void mentis_jwt_keyslot_destroy(mentis_jwt_keyslot_t *slot);

/* The current set with one reference taken for the caller (release it), or NULL when empty. */
mentis_jwt_keyset_t *mentis_jwt_keyslot_get(mentis_jwt_keyslot_t *slot);

/*
 * Makes keys (may be NULL) the current set: the slot takes its own reference (the caller
 * keeps and still releases its one) and releases the previous set's.
 */
void mentis_jwt_keyslot_set(mentis_jwt_keyslot_t *slot, mentis_jwt_keyset_t *keys);

/* ---- Verification ------------------------------------------------------------------- */

/* What a token must satisfy besides its signature. */
typedef struct {
    const char *issuer;     /* iss must equal it exactly; required */
    const char *audience;   /* aud (a string, or an array of strings) must contain it; required */
    int64_t leeway_s;       /* clock skew forgiven on exp, nbf and iat; 0..300 */
    int64_t max_lifetime_s; /* exp - iat above this is refused (token_invalid_claim); > 0 */
} mentis_jwt_policy_t;

/*
 * Verifies the len bytes of token (need not be NUL-terminated) with keys (may be NULL: no
 * key) at time now, and on success copies its claims into *out (written only on success;
 * out->aud is the policy's audience). In order:
 *   - at most MENTIS_JWT_MAX_LEN bytes, exactly three non-empty base64url parts (no
 *     padding), the first two JSON objects without duplicate member names;
 *   - header: alg exactly "EdDSA"; no crit, jku, jwk, x5u or x5c; typ, when present,
 *     "JWT" in any case; kid a string naming a key of the set;
 *   - the Ed25519 signature over the first two parts, before any claim is looked at;
 *   - claims: sub, tid, sid, role, iss, aud, iat, exp present (token_missing_claim) and of
 *     their types (strings; aud a string or an array of strings; iat, exp, nbf integers
 *     from 0 to 253402300799), role one of the three, strings within their sizes, no
 *     control characters, valid UTF-8, exp > iat and exp - iat <= max_lifetime_s
 *     (token_invalid_claim);
 *   - iss == policy->issuer, aud contains policy->audience;
 *   - exp > now - leeway (else token_expired), nbf and iat <= now + leeway (else
 *     token_not_yet_valid).
 * Member order does not matter; unknown header parameters and claims are ignored.
 * Errors: MENTIS_ERR_UNAUTHENTICATED with a MENTIS_JWT_CODE_* code; MENTIS_ERR_INVALID_ARGUMENT
 * for a NULL token, policy or out, or a policy without issuer or audience;
 * MENTIS_ERR_NO_MEMORY. Callable from any thread: it keeps no state of its own (cJSON, which
 * parses the two JSON parts, records the position of its last parse error in a global that
 * nothing here reads).
 */
mentis_status_t mentis_jwt_verify(const char *token, size_t len, const mentis_jwt_keyset_t *keys,
                                  const mentis_jwt_policy_t *policy, int64_t now,
                                  mentis_jwt_claims_t *out);

/* ---- Verified-token cache and revocations ----------------------------------------- */

/*
 * Remembers tokens that verified, keyed by their BLAKE2b-256 hash, so a busy client's
 * token is checked once, not on every request; and remembers revocations of sessions and
 * users, which every answer honours, cached or not.
 *
 * - An entry lives until its token's exp (+ leeway); a hit re-checks exp against now and
 *   that its kid still names the same key in the key set given (a key dropped from the
 *   set stops its tokens at once). At capacity the least recently used entry goes.
 * - A revocation refuses every token of that session (sid) or user (sub) issued at or
 *   before `since` (iat <= since). It is forgotten once no such token can still be
 *   valid (now > since + max_lifetime_s + leeway_s). When more live revocations arrive
 *   than max_revocations, the oldest is folded into a floor that refuses every token
 *   issued at or before its `since`, for everyone: clients refresh, nothing revoked comes
 *   back to life (stats: revocations_folded).
 *
 * Memory is allocated once, by create: about 1.3 KB per token of capacity and 90 bytes per
 * revocation. Not thread-safe: the gateway uses one cache from
 * its event-loop thread only; revocation events that arrive on another thread must be
 * handed to that thread (queue + lws_cancel_service) before calling revoke.
 */
typedef struct mentis_jwt_cache mentis_jwt_cache_t;

typedef struct {
    mentis_jwt_policy_t policy; /* what tokens must satisfy; the strings are copied */
    size_t capacity;            /* tokens held, 1..1<<24 */
    size_t max_revocations;     /* live revocations held (sessions and users), 1..1<<24 */
} mentis_jwt_cache_config_t;

typedef struct {
    uint64_t hits;               /* answered from the cache */
    uint64_t misses;             /* verified in full */
    uint64_t evictions;          /* entries dropped at capacity */
    uint64_t revoked;            /* tokens refused as revoked */
    uint64_t revocations_folded; /* revocations folded into the floor at capacity */
    size_t entries;              /* tokens held now */
    size_t revocations;          /* revocations held now (some may be stale until purged) */
    int64_t revocation_floor;    /* tokens with iat <= this are refused; 0 when none */
} mentis_jwt_cache_stats_t;

/*
 * A cache. MENTIS_ERR_INVALID_ARGUMENT for a bad config (see the fields and
 * mentis_jwt_policy_t); MENTIS_ERR_NO_MEMORY. *out is written only on success.
 */
mentis_status_t mentis_jwt_cache_create(const mentis_jwt_cache_config_t *config,
                                        mentis_jwt_cache_t **out);

/* Frees the cache. NULL is a no-op. */
void mentis_jwt_cache_destroy(mentis_jwt_cache_t *cache);

/*
 * As mentis_jwt_verify with the cache's policy, answered from the cache when it can, and
 * refused with MENTIS_JWT_CODE_REVOKED when a revocation or the floor covers the token.
 * A token that verifies (and is not revoked) is remembered.
 */
mentis_status_t mentis_jwt_cache_verify(mentis_jwt_cache_t *cache, const char *token, size_t len,
                                        const mentis_jwt_keyset_t *keys, int64_t now,
                                        mentis_jwt_claims_t *out);

/*
 * Revokes the tokens of session sid (or of user sub) issued at or before `since`. A second
 * revocation of the same id keeps the later `since`. One that can no longer match a valid
 * token at `now` is not stored. MENTIS_ERR_INVALID_ARGUMENT for a NULL or empty id or
 * one of MENTIS_JWT_ID_SIZE bytes or more.
 */
mentis_status_t mentis_jwt_cache_revoke_session(mentis_jwt_cache_t *cache, const char *sid,
                                                int64_t since, int64_t now);
mentis_status_t mentis_jwt_cache_revoke_user(mentis_jwt_cache_t *cache, const char *sub,
                                             int64_t since, int64_t now);

/* Drops cached tokens that have expired and revocations that can no longer match. The
 * cache also does this lazily; call it now and then (e.g. once a minute) to keep stats
 * exact. */
void mentis_jwt_cache_purge(mentis_jwt_cache_t *cache, int64_t now);

void mentis_jwt_cache_stats(const mentis_jwt_cache_t *cache, mentis_jwt_cache_stats_t *out);

#ifdef __cplusplus
}
#endif
#endif
