#include "bucket.h"

static int64_t full_units(const mentis__rl_bucket_t *b)
{
    return (int64_t)b->limit * b->window_ms;
}

/* ceil(a / b) for a >= 0, b > 0. */
static int64_t ceil_div(int64_t a, int64_t b)
{
    return a <= 0 ? 0 : (a + b - 1) / b;
}

static uint32_t seconds_up(int64_t ms)
{
    int64_t s = ceil_div(ms, 1000);
    return s > UINT32_MAX ? UINT32_MAX : (uint32_t)s;
}

bool mentis__rl_rule_ok(mentis_ratelimit_rule_t rule)
{
    return rule.limit >= 1 && rule.limit <= MENTIS_RATELIMIT_MAX_LIMIT && rule.window_ms >= 1 &&
           rule.window_ms <= MENTIS_RATELIMIT_MAX_WINDOW_MS;
}

void mentis__rl_bucket_init(mentis__rl_bucket_t *b, mentis_ratelimit_rule_t rule, int64_t now_ms)
{
    b->limit = rule.limit;
    b->window_ms = rule.window_ms;
    b->units = full_units(b);
    b->last_ms = now_ms;
}

void mentis__rl_bucket_rerule(mentis__rl_bucket_t *b, mentis_ratelimit_rule_t rule)
{
    int64_t tokens = b->units / b->window_ms;
    if (tokens > rule.limit)
        tokens = rule.limit;
    b->limit = rule.limit;
    b->window_ms = rule.window_ms;
    b->units = tokens * rule.window_ms;
}

void mentis__rl_bucket_refill(mentis__rl_bucket_t *b, int64_t now_ms)
{
    if (now_ms <= b->last_ms)
        return;
    int64_t full = full_units(b);
    int64_t elapsed = now_ms - b->last_ms;
    /* A whole window refills any bucket; capping first keeps the product small. */
    if (elapsed >= b->window_ms || b->units + elapsed * b->limit >= full)
        b->units = full;
    else
        b->units += elapsed * b->limit;
    b->last_ms = now_ms;
}

int64_t mentis__rl_bucket_full_at(const mentis__rl_bucket_t *b)
{
    return b->last_ms + ceil_div(full_units(b) - b->units, b->limit);
}

bool mentis__rl_bucket_take(mentis__rl_bucket_t *b, uint32_t cost, int64_t now_ms,
                            mentis_ratelimit_result_t *out)
{
    mentis__rl_bucket_refill(b, now_ms);
    int64_t need = (int64_t)cost * b->window_ms;
    bool allowed = b->units >= need;
    if (allowed)
        b->units -= need;
    /* Times are measured from last_ms, which is now_ms unless the clock went back. */
    out->allowed = allowed;
    out->limit = b->limit;
    out->remaining = (uint32_t)(b->units / b->window_ms);
    out->reset_s = seconds_up(mentis__rl_bucket_full_at(b) - b->last_ms);
    out->retry_after_s = allowed ? 0 : seconds_up(ceil_div(need - b->units, b->limit));
    return allowed;
}
