/*
 * Cryptographic helpers on libsodium: randomness, UUIDv7 ids, opaque tokens, constant-time
 * comparison, BLAKE2b hashing, hex and base64url, Argon2id password hashes and Ed25519
 * signatures. Call mentis_crypto_init once at start-up; every other function assumes it
 * ran. All functions are thread-safe.
 */
#ifndef MENTIS_CRYPTO_H
#define MENTIS_CRYPTO_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "mentis/status.h"

#ifdef __cplusplus
extern "C" {
#endif

/* The OWASP minimum for Argon2id: 2 passes over 19 MiB. */
#define MENTIS_CRYPTO_PWHASH_OPSLIMIT_MIN 2ULL
#define MENTIS_CRYPTO_PWHASH_MEMLIMIT_MIN ((size_t)19 << 20)
/* The size of a password hash string, NUL included (crypto_pwhash_STRBYTES). */
#define MENTIS_CRYPTO_PWHASH_STRBYTES 128

/* Initialises libsodium (sodium_init). Idempotent and thread-safe; MENTIS_ERR_INTERNAL when
 * the library cannot start (no entropy source). */
mentis_status_t mentis_crypto_init(void);

/* Fills buf with n bytes from the system's CSPRNG. */
void mentis_crypto_random(void *buf, size_t n);

/*
 * A UUID version 7 (RFC 9562): 48-bit unix time in milliseconds, the version and variant
 * bits, and 74 random bits. Ids made by one process are strictly increasing, also within
 * one millisecond (the random part then grows by a random step) and when the clock steps
 * back. Text form: 36 lower-case characters and a NUL.
 */
void mentis_crypto_uuid_v7(char out[37]);
void mentis_crypto_uuid_v7_bytes(uint8_t out[16]);

/* Formats 16 bytes as the 36-character lower-case form plus NUL. */
void mentis_crypto_uuid_format(const uint8_t uuid[16], char out[37]);

/*
 * Parses the canonical 8-4-4-4-12 hex form (either case) of a UUID of any version. Returns
 * false, leaving out untouched, when text is NULL or malformed.
 */
bool mentis_crypto_uuid_parse(const char *text, uint8_t out[16]);

/*
 * A random token of nbytes (16..64) bytes as base64url without padding, NUL-terminated.
 * out needs 4*ceil(nbytes/3)+1 bytes (exactly: ceil(4*nbytes/3)+1).
 * MENTIS_ERR_INVALID_ARGUMENT for nbytes out of range, MENTIS_ERR_TOO_LARGE when out is too
 * small.
 */
mentis_status_t mentis_crypto_token(size_t nbytes, char *out, size_t out_size);

/* Whether n bytes at a and b are equal, in time that depends only on n (sodium_memcmp). */
bool mentis_crypto_equal(const void *a, const void *b, size_t n);

/* Whether two strings are equal, in time that depends on their lengths only, not on their
 * content. False when either is NULL. */
bool mentis_crypto_str_equal(const char *a, const char *b);

/* BLAKE2b-256 of data (crypto_generichash); hex form is 64 lower-case characters + NUL. */
void mentis_crypto_hash(const void *data, size_t n, uint8_t out[32]);
void mentis_crypto_hash_hex(const void *data, size_t n, char out[65]);

/* BLAKE2b-256 keyed with a 32-byte secret: what to store for a token so a leaked table does
 * not give the tokens away and cannot be matched without the key. */
void mentis_crypto_keyed_hash(const uint8_t key[32], const void *data, size_t n, uint8_t out[32]);

/* Lower-case hex of n bytes; out needs 2n+1 bytes. */
void mentis_crypto_hex(const void *data, size_t n, char *out);

/*
 * Decodes hex (either case, no separators or whitespace) into out. *len_out (may be NULL)
 * gets the byte count; out is unspecified on failure. MENTIS_ERR_INVALID_ARGUMENT for an odd
 * length or a non-hex character, MENTIS_ERR_TOO_LARGE when out is too small.
 */
mentis_status_t mentis_crypto_unhex(const char *hex, uint8_t *out, size_t out_size,
                                    size_t *len_out);

/*
 * base64url (RFC 4648 section 5) without padding, NUL-terminated; out needs
 * ceil(4n/3)+1 bytes, else MENTIS_ERR_TOO_LARGE.
 */
mentis_status_t mentis_crypto_base64url_encode(const void *data, size_t n, char *out,
                                               size_t out_size);

/*
 * Decodes text_len characters of base64url without padding. Refuses (with
 * MENTIS_ERR_INVALID_ARGUMENT) any character outside the alphabet, including '=', '+', '/'
 * and whitespace, an impossible length, and non-zero unused bits in the last character, so
 * every byte string has exactly one accepted encoding. MENTIS_ERR_TOO_LARGE when out is too
 * small. *len_out (may be NULL) gets the byte count.
 */
mentis_status_t mentis_crypto_base64url_decode(const char *text, size_t text_len, uint8_t *out,
                                               size_t out_size, size_t *len_out);

/*
 * Hashes a password with Argon2id (crypto_pwhash_str_alg) into out, a NUL-terminated string
 * that holds the salt and the parameters. opslimit below MENTIS_CRYPTO_PWHASH_OPSLIMIT_MIN
 * or memlimit below MENTIS_CRYPTO_PWHASH_MEMLIMIT_MIN (or above libsodium's maxima) is
 * refused with MENTIS_ERR_INVALID_ARGUMENT; MENTIS_ERR_NO_MEMORY when the memory cannot be
 * had.
 */
mentis_status_t mentis_crypto_password_hash(const char *password, unsigned long long opslimit,
                                            size_t memlimit,
                                            char out[MENTIS_CRYPTO_PWHASH_STRBYTES]);

/* Whether password matches a hash made by mentis_crypto_password_hash; false for NULL or a
 * malformed hash. */
bool mentis_crypto_password_verify(const char *hash, const char *password);

/* Whether a stored hash should be replaced at the next successful login: it is not Argon2id
 * with exactly these limits (or it is malformed). */
bool mentis_crypto_password_needs_rehash(const char *hash, unsigned long long opslimit,
                                         size_t memlimit);

/* Ed25519: a new key pair; a detached signature of msg; its check. */
void mentis_crypto_sign_keypair(uint8_t pk[32], uint8_t sk[64]);
void mentis_crypto_sign(const uint8_t sk[64], const void *msg, size_t n, uint8_t sig[64]);
bool mentis_crypto_sign_verify(const uint8_t pk[32], const void *msg, size_t n,
                               const uint8_t sig[64]);

#ifdef __cplusplus
}
#endif
#endif
