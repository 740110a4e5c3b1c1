/*
 * One token bucket in exact integer arithmetic. A token is worth window_ms units and the
 * bucket gains `limit` units per millisecond, so it refills `limit` tokens per window with
 * no rounding: units never exceed limit * window_ms (at most 8.64e13).
 */
#ifndef MENTIS_RATELIMIT_BUCKET_H
#define MENTIS_RATELIMIT_BUCKET_H

#include <stdbool.h>
#include <stdint.h>

#include "mentis/ratelimit.h"

typedef struct {
    int64_t units;   /* tokens * window_ms, as of last_ms */
    int64_t last_ms; /* never goes back, even if the clock passed in does */
    uint32_t limit;
    uint32_t window_ms;
} mentis__rl_bucket_t;

/* Whether a rule is within the bounds of ratelimit.h. */
bool mentis__rl_rule_ok(mentis_ratelimit_rule_t rule);

/* A full bucket of this rule at now_ms. */
void mentis__rl_bucket_init(mentis__rl_bucket_t *b, mentis_ratelimit_rule_t rule, int64_t now_ms);

/* Switches a bucket to another rule, keeping its whole tokens up to the new limit. */
void mentis__rl_bucket_rerule(mentis__rl_bucket_t *b, mentis_ratelimit_rule_t rule);

/* Adds what accrued since last_ms (the clock going back adds nothing). */
void mentis__rl_bucket_refill(mentis__rl_bucket_t *b, int64_t now_ms);

/* Takes cost tokens if there are enough (after refill); fills *out either way. */
bool mentis__rl_bucket_take(mentis__rl_bucket_t *b, uint32_t cost, int64_t now_ms,
                            mentis_ratelimit_result_t *out);

/* When the bucket will be full (<= last_ms when it is full now). */
int64_t mentis__rl_bucket_full_at(const mentis__rl_bucket_t *b);

#endif
