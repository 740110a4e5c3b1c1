/*
 * Revocations of sessions and users: "tokens of this id issued at or before `since` are
 * refused". Bounded: a revocation is forgotten once no token it covers can still be valid
 * (now > since + horizon), and when the table is full of live ones the oldest is folded
 * into a floor that covers every token issued at or before it, so memory stays fixed and
 * nothing revoked ever comes back. Not thread-safe (the cache's thread owns it).
 */
#ifndef MENTIS_JWT_REVOCATION_H
#define MENTIS_JWT_REVOCATION_H

#include <stdint.h>

#include "mentis/jwt.h"

typedef enum {
    MENTIS__JWT_REVOKE_SESSION = 0,
    MENTIS__JWT_REVOKE_USER,
} mentis__jwt_revoke_kind_t;

typedef struct mentis__jwt_revocations mentis__jwt_revocations_t;

/* capacity 1..1<<24; horizon_s: the longest a covered token can stay valid after since
 * (max lifetime + leeway). *out is written only on success. */
mentis_status_t mentis__jwt_revocations_create(size_t capacity, int64_t horizon_s,
                                               mentis__jwt_revocations_t **out);
void mentis__jwt_revocations_destroy(mentis__jwt_revocations_t *r);

/* Adds (or raises) the revocation of id (1..MENTIS_JWT_ID_SIZE-1 bytes, checked by the caller). */
void mentis__jwt_revocations_add(mentis__jwt_revocations_t *r, mentis__jwt_revoke_kind_t kind,
                                 const char *id, int64_t since, int64_t now);

/* What covers a token: "session", "user", "floor", or NULL when nothing does. */
const char *mentis__jwt_revocations_match(const mentis__jwt_revocations_t *r,
                                          const mentis_jwt_claims_t *claims);

/* Forgets what can no longer match. */
void mentis__jwt_revocations_purge(mentis__jwt_revocations_t *r, int64_t now);

size_t mentis__jwt_revocations_count(const mentis__jwt_revocations_t *r);
uint64_t mentis__jwt_revocations_folded(const mentis__jwt_revocations_t *r);
int64_t mentis__jwt_revocations_floor(const mentis__jwt_revocations_t *r);

#endif
