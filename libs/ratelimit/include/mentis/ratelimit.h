/*
 * Rate limits: one token bucket per client key ("ip:203.0.113.7:login",
 * "user:<id>:authenticated", "beta:<id>"), in a table of fixed capacity.
 *
 * A rule is `limit` requests per `window_ms`: the bucket holds at most `limit` tokens and
 * refills continuously at limit/window_ms (5 per minute = one token every 12 s); a key
 * seen for the first time starts with a full bucket. Arithmetic is exact (integers in
 * units of 1/window_ms token), so no drift accumulates. Time is passed in: monotonic
 * milliseconds (e.g. CLOCK_MONOTONIC), so tests are deterministic.
 *
 *   mentis_ratelimit_result_t r;
 *   mentis_status_t st = mentis_ratelimit_take(rl, key,
 *       mentis_ratelimit_default_rule(MENTIS_RATELIMIT_LOGIN), 1, now_ms, &r);
 *   // RateLimit-Limit: r.limit, RateLimit-Remaining: r.remaining, RateLimit-Reset: r.reset_s
 *   // st == MENTIS_ERR_RATE_LIMITED: 429 with Retry-After: r.retry_after_s
 *
 * Memory is allocated once, by create, for `capacity` keys (about 70 bytes each); take
 * never allocates. A full bucket carries no state (forgetting it changes nothing), so
 * when the table is full the key whose bucket is full, or would be full soonest, makes
 * room: a flood of new keys displaces idle keys and other flood keys first, and can only
 * displace a key that still has debt after every key with less debt is gone. Keys are
 * hashed with a per-table random secret (BLAKE2b), so clients cannot aim keys at one
 * bucket of the hash table.
 *
 * Not thread-safe: the gateway uses one table from its event-loop thread only.
 * Call mentis_crypto_init() before create.
 */
#ifndef MENTIS_RATELIMIT_H
#define MENTIS_RATELIMIT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "mentis/status.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Bounds of a rule: limit 1..MENTIS_RATELIMIT_MAX_LIMIT, window 1 ms..one day. */
#define MENTIS_RATELIMIT_MAX_LIMIT     1000000u
#define MENTIS_RATELIMIT_MAX_WINDOW_MS 86400000u
/* The longest key accepted (bytes). */
#define MENTIS_RATELIMIT_MAX_KEY 1024

/* `limit` requests per `window_ms`; also the bucket's capacity. */
typedef struct {
    uint32_t limit;
    uint32_t window_ms;
} mentis_ratelimit_rule_t;

/* The per-client categories of the API contract, with their default rules. */
typedef enum {
    MENTIS_RATELIMIT_LOGIN = 0,       /* 5 per minute */
    MENTIS_RATELIMIT_REGISTER,        /* 3 per hour */
    MENTIS_RATELIMIT_FORGOT_PASSWORD, /* 3 per hour */
    MENTIS_RATELIMIT_RESET_PASSWORD,  /* 5 per hour */
    MENTIS_RATELIMIT_REFRESH,         /* 60 per minute */
    MENTIS_RATELIMIT_AUTHENTICATED,   /* 1000 per minute: other routes with a token */
    MENTIS_RATELIMIT_UNAUTHENTICATED, /* 500 per minute: other routes without one */
    MENTIS_RATELIMIT_CATEGORY_COUNT_
} mentis_ratelimit_category_t;

/* The default rule of a category ({0, 0} for a value out of range). */
mentis_ratelimit_rule_t mentis_ratelimit_default_rule(mentis_ratelimit_category_t category);

/* "login", "register", "forgot_password", "reset_password", "refresh", "authenticated",
 * "unauthenticated" (for keys and metric labels); "" for a value out of range. */
const char *mentis_ratelimit_category_str(mentis_ratelimit_category_t category);

/* What one take answers, for the response headers. */
typedef struct {
    bool allowed;
    uint32_t limit;         /* RateLimit-Limit: the rule's limit */
    uint32_t remaining;     /* RateLimit-Remaining: whole tokens left after this take */
    uint32_t reset_s;       /* RateLimit-Reset: seconds (rounded up) until the bucket is full */
    uint32_t retry_after_s; /* Retry-After when refused: seconds (rounded up, >= 1) until
                               `cost` tokens are there; 0 when allowed */
} mentis_ratelimit_result_t;

typedef struct {
    uint64_t allowed;           /* takes allowed (reports, of cost 0, are not counted) */
    uint64_t refused;           /* takes refused */
    uint64_t evictions;         /* keys dropped to make room */
    uint64_t evictions_in_debt; /* of those, keys whose bucket was not yet full (forgiven) */
    size_t entries;             /* keys held now */
    size_t capacity;
} mentis_ratelimit_stats_t;

typedef struct mentis_ratelimit mentis_ratelimit_t;

/*
 * A table for up to `capacity` keys (1..1<<24). *out is written only on success.
 * MENTIS_ERR_INVALID_ARGUMENT, MENTIS_ERR_NO_MEMORY.
 */
mentis_status_t mentis_ratelimit_create(size_t capacity, mentis_ratelimit_t **out);

/* Frees the table. NULL is a no-op. */
void mentis_ratelimit_destroy(mentis_ratelimit_t *rl);

/*
 * Takes `cost` tokens (0..rule.limit; 0 only reports, and remembers nothing for a new key)
 * from the bucket of `key` (1..MENTIS_RATELIMIT_MAX_KEY bytes, NUL-terminated) at now_ms,
 * after refilling it. A key whose rule changed keeps its whole tokens, up to the new limit.
 * Returns MENTIS_OK when allowed, MENTIS_ERR_RATE_LIMITED (code "rate_limited") when not
 * (nothing is taken then); *out is filled in both cases. MENTIS_ERR_INVALID_ARGUMENT for a
 * bad key, rule or cost (*out untouched).
 */
mentis_status_t mentis_ratelimit_take(mentis_ratelimit_t *rl, const char *key,
                                      mentis_ratelimit_rule_t rule, uint32_t cost, int64_t now_ms,
                                      mentis_ratelimit_result_t *out);

/* Forgets a key, so its next take starts with a full bucket (e.g. after a revocation).
 * Whether it was held. */
bool mentis_ratelimit_forget(mentis_ratelimit_t *rl, const char *key);

void mentis_ratelimit_stats(const mentis_ratelimit_t *rl, mentis_ratelimit_stats_t *out);

#ifdef __cplusplus
}
#endif
#endif
