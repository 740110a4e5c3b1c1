/* What the cache needs of verification besides the public mentis_jwt_verify. */
#ifndef MENTIS_JWT_TOKEN_H
#define MENTIS_JWT_TOKEN_H

#include "mentis/jwt.h"

/*
 * mentis_jwt_verify, also giving the key that verified the signature (*key_out, valid
 * while the caller holds keys; written only on success; may be NULL).
 */
mentis_status_t mentis__jwt_verify(const char *token, size_t len, const mentis_jwt_keyset_t *keys,
                                   const mentis_jwt_policy_t *policy, int64_t now,
                                   mentis_jwt_claims_t *out, const mentis_jwt_key_t **key_out);

/* MENTIS_OK when a policy is usable, else MENTIS_ERR_INVALID_ARGUMENT recorded. */
mentis_status_t mentis__jwt_policy_check(const mentis_jwt_policy_t *policy);

/* Records a refusal: MENTIS_ERR_UNAUTHENTICATED with one of the MENTIS_JWT_CODE_* codes. */
mentis_status_t mentis__jwt_refuse(const char *code, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

/* Whether kid is 1..63 printable ASCII characters other than '"' and '\'. */
bool mentis__jwt_kid_ok(const char *kid);

#endif
