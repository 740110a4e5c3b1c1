#include <inttypes.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "mentis/crypto.h"
#include "mentis/ratelimit.h"

#define T0 1000000 /* a monotonic clock reading, ms */

static const mentis_ratelimit_rule_t login = {5, 60000};

static mentis_ratelimit_t *new_table(size_t capacity)
{
    mentis_ratelimit_t *rl = NULL;
    if (mentis_crypto_init() != MENTIS_OK || mentis_ratelimit_create(capacity, &rl) != MENTIS_OK)
        abort();
    return rl;
}

static mentis_ratelimit_result_t take(mentis_ratelimit_t *rl, const char *key,
                                      mentis_ratelimit_rule_t rule, uint32_t cost, int64_t now)
{
    mentis_ratelimit_result_t r;
    memset(&r, 0xee, sizeof r);
    mentis_status_t st = mentis_ratelimit_take(rl, key, rule, cost, now, &r);
    if (st != MENTIS_OK && st != MENTIS_ERR_RATE_LIMITED) {
        fprintf(stderr, "take failed: %s\n", mentis_err_msg());
        abort();
    }
    if ((st == MENTIS_OK) != r.allowed) {
        fprintf(stderr, "status and result disagree\n");
        abort();
    }
    return r;
}

static void test_defaults(void)
{
    struct {
        mentis_ratelimit_category_t c;
        const char *name;
        uint32_t limit, window_ms;
    } want[] = {
        {MENTIS_RATELIMIT_LOGIN, "login", 5, 60000},
        {MENTIS_RATELIMIT_REGISTER, "register", 3, 3600000},
        {MENTIS_RATELIMIT_FORGOT_PASSWORD, "forgot_password", 3, 3600000},
        {MENTIS_RATELIMIT_RESET_PASSWORD, "reset_password", 5, 3600000},
        {MENTIS_RATELIMIT_REFRESH, "refresh", 60, 60000},
        {MENTIS_RATELIMIT_AUTHENTICATED, "authenticated", 1000, 60000},
        {MENTIS_RATELIMIT_UNAUTHENTICATED, "unauthenticated", 500, 60000},
    };
    CHECK_INT(sizeof want / sizeof want[0], MENTIS_RATELIMIT_CATEGORY_COUNT_);
    for (size_t i = 0; i < sizeof want / sizeof want[0]; i++) {
        mentis_ratelimit_rule_t r = mentis_ratelimit_default_rule(want[i].c);
        CHECK_INT(r.limit, want[i].limit);
        CHECK_INT(r.window_ms, want[i].window_ms);
        CHECK_STR(mentis_ratelimit_category_str(want[i].c), want[i].name);
    }
    CHECK_INT(mentis_ratelimit_default_rule(MENTIS_RATELIMIT_CATEGORY_COUNT_).limit, 0);
    CHECK_STR(mentis_ratelimit_category_str((mentis_ratelimit_category_t)-1), "");
}

static void test_full_bucket_first(void)
{
    mentis_ratelimit_t *rl = new_table(16);
    mentis_ratelimit_result_t r = take(rl, "ip:203.0.113.7:login", login, 1, T0);
    CHECK(r.allowed);
    CHECK_INT(r.limit, 5);
    CHECK_INT(r.remaining, 4);
    CHECK_INT(r.reset_s, 12); /* one token short: full again in 12 s */
    CHECK_INT(r.retry_after_s, 0);
    for (int i = 3; i >= 0; i--) {
        r = take(rl, "ip:203.0.113.7:login", login, 1, T0);
        CHECK(r.allowed);
        CHECK_INT(r.remaining, i);
    }
    CHECK_INT(r.reset_s, 60);
    r = take(rl, "ip:203.0.113.7:login", login, 1, T0);
    CHECK(!r.allowed);
    CHECK_INT(r.remaining, 0);
    CHECK_INT(r.retry_after_s, 12);
    CHECK_INT(r.reset_s, 60);
    CHECK_STR(mentis_err_code(), "rate_limited");
    /* Another key, or the same client in another category, starts full. */
    r = take(rl, "ip:203.0.113.8:login", login, 1, T0);
    CHECK(r.allowed && r.remaining == 4);
    r = take(rl, "ip:203.0.113.7:register", (mentis_ratelimit_rule_t){3, 3600000}, 1, T0);
    CHECK(r.allowed && r.remaining == 2);
    mentis_ratelimit_stats_t st;
    mentis_ratelimit_stats(rl, &st);
    CHECK_INT(st.allowed, 7);
    CHECK_INT(st.refused, 1);
    CHECK_INT(st.entries, 3);
    mentis_ratelimit_destroy(rl);
    mentis_ratelimit_destroy(NULL);
}

static void test_refill_boundaries(void)
{
    mentis_ratelimit_t *rl = new_table(16);
    const char *k = "user:u1:login";
    for (int i = 0; i < 5; i++)
        take(rl, k, login, 1, T0);
    /* One token every 12 000 ms, exactly. */
    mentis_ratelimit_result_t r = take(rl, k, login, 1, T0 + 11999);
    CHECK(!r.allowed);
    CHECK_INT(r.retry_after_s, 1); /* 1 ms left, rounded up */
    CHECK_INT(r.reset_s, 49);      /* 48 001 ms, rounded up */
    r = take(rl, k, login, 1, T0 + 12000);
    CHECK(r.allowed);
    CHECK_INT(r.remaining, 0);
    CHECK_INT(r.reset_s, 60);
    r = take(rl, k, login, 1, T0 + 12000);
    CHECK(!r.allowed);
    CHECK_INT(r.retry_after_s, 12);
    /* A whole window refills completely, and never beyond the limit. */
    r = take(rl, k, login, 0, T0 + 12000 + 60000);
    CHECK(r.allowed);
    CHECK_INT(r.remaining, 5);
    CHECK_INT(r.reset_s, 0);
    r = take(rl, k, login, 0, T0 + 10000000);
    CHECK_INT(r.remaining, 5);
    /* Partial refill: 30 s after emptying gives 2 whole tokens (2.5). */
    for (int i = 0; i < 5; i++)
        take(rl, k, login, 1, T0 + 20000000);
    r = take(rl, k, login, 0, T0 + 20000000 + 30000);
    CHECK_INT(r.remaining, 2);
    CHECK_INT(r.reset_s, 30);
    r = take(rl, k, login, 3, T0 + 20000000 + 30000);
    CHECK(!r.allowed);
    CHECK_INT(r.retry_after_s, 6); /* 0.5 token short: 6 s */
    r = take(rl, k, login, 3, T0 + 20000000 + 36000);
    CHECK(r.allowed);
    CHECK_INT(r.remaining, 0);
    mentis_ratelimit_destroy(rl);
}

static void test_uneven_rate(void)
{
    /* 7 per minute: a token every 8571.43 ms; integer units keep it exact. */
    mentis_ratelimit_t *rl = new_table(4);
    mentis_ratelimit_rule_t seven = {7, 60000};
    for (int i = 0; i < 7; i++)
        CHECK(take(rl, "k", seven, 1, 0).allowed);
    mentis_ratelimit_result_t r = take(rl, "k", seven, 1, 0);
    CHECK(!r.allowed);
    CHECK_INT(r.retry_after_s, 9);
    CHECK(!take(rl, "k", seven, 1, 8571).allowed);
    CHECK(take(rl, "k", seven, 1, 8572).allowed);
    /* After 7 × 8571.43 ms = 60 000 ms since emptying, the bucket is full; not a ms before
     * the seventh token is due, counting from the last take's leftover. */
    r = take(rl, "k", seven, 0, 60000);
    CHECK_INT(r.remaining, 6);
    r = take(rl, "k", seven, 0, 8572 + 60000);
    CHECK_INT(r.remaining, 7);
    /* Over a long run the count allowed matches the rate exactly: one take per ms for an
     * hour allows 7 (initial) + 7 × 60 = 427. */
    mentis_ratelimit_forget(rl, "k");
    int allowed = 0;
    for (int64_t t = 0; t < 3600000; t++)
        allowed += take(rl, "k", seven, 1, t).allowed;
    CHECK_INT(allowed, 7 + 7 * 60 - 1); /* the last token lands at exactly 3 600 000 */
    mentis_ratelimit_destroy(rl);
}

static void test_cost_and_rules(void)
{
    mentis_ratelimit_t *rl = new_table(4);
    mentis_ratelimit_result_t r;
    memset(&r, 0, sizeof r);
    /* Bad arguments leave the result alone. */
    CHECK(mentis_ratelimit_take(rl, "", login, 1, T0, &r) == MENTIS_ERR_INVALID_ARGUMENT);
    CHECK(mentis_ratelimit_take(rl, NULL, login, 1, T0, &r) == MENTIS_ERR_INVALID_ARGUMENT);
    CHECK(mentis_ratelimit_take(rl, "k", login, 6, T0, &r) == MENTIS_ERR_INVALID_ARGUMENT);
    CHECK(mentis_ratelimit_take(rl, "k", (mentis_ratelimit_rule_t){0, 1000}, 0, T0, &r) ==
          MENTIS_ERR_INVALID_ARGUMENT);
    CHECK(mentis_ratelimit_take(rl, "k", (mentis_ratelimit_rule_t){1, 0}, 0, T0, &r) ==
          MENTIS_ERR_INVALID_ARGUMENT);
    CHECK(mentis_ratelimit_take(rl, "k",
                                (mentis_ratelimit_rule_t){MENTIS_RATELIMIT_MAX_LIMIT + 1, 1000}, 0,
                                T0, &r) == MENTIS_ERR_INVALID_ARGUMENT);
    CHECK(mentis_ratelimit_take(rl, "k",
                                (mentis_ratelimit_rule_t){1, MENTIS_RATELIMIT_MAX_WINDOW_MS + 1}, 0,
                                T0, &r) == MENTIS_ERR_INVALID_ARGUMENT);
    char *long_key = malloc(MENTIS_RATELIMIT_MAX_KEY + 2);
    memset(long_key, 'k', MENTIS_RATELIMIT_MAX_KEY + 1);
    long_key[MENTIS_RATELIMIT_MAX_KEY + 1] = '\0';
    CHECK(mentis_ratelimit_take(rl, long_key, login, 1, T0, &r) == MENTIS_ERR_INVALID_ARGUMENT);
    long_key[MENTIS_RATELIMIT_MAX_KEY] = '\0';
    CHECK(mentis_ratelimit_take(rl, long_key, login, 1, T0, &r) == MENTIS_OK);
    free(long_key);
    CHECK(mentis_ratelimit_create(0, &(mentis_ratelimit_t *){NULL}) == MENTIS_ERR_INVALID_ARGUMENT);

    /* Cost 0 on a new key reports a full bucket and stores nothing. */
    mentis_ratelimit_stats_t st;
    mentis_ratelimit_stats(rl, &st);
    size_t before = st.entries;
    uint64_t allowed_before = st.allowed;
    r = take(rl, "peek", login, 0, T0);
    CHECK(r.allowed && r.remaining == 5 && r.reset_s == 0);
    mentis_ratelimit_stats(rl, &st);
    CHECK_INT(st.entries, before);
    CHECK_INT(st.allowed, allowed_before);

    /* A cost larger than what is left is refused whole; nothing is taken. */
    take(rl, "c", login, 4, T0);
    r = take(rl, "c", login, 2, T0);
    CHECK(!r.allowed);
    CHECK_INT(r.remaining, 1);
    CHECK_INT(r.retry_after_s, 12);
    r = take(rl, "c", login, 1, T0);
    CHECK(r.allowed && r.remaining == 0);

    /* A changed rule keeps whole tokens, capped by the new limit. */
    take(rl, "r", (mentis_ratelimit_rule_t){100, 60000}, 10, T0); /* 90 left */
    r = take(rl, "r", login, 0, T0);
    CHECK_INT(r.remaining, 5);
    CHECK_INT(r.limit, 5);
    r = take(rl, "r", (mentis_ratelimit_rule_t){100, 60000}, 0, T0);
    CHECK_INT(r.remaining, 5);
    CHECK_INT(r.limit, 100);

    /* The clock going back refills nothing and breaks nothing. */
    take(rl, "back", login, 5, T0);
    r = take(rl, "back", login, 1, T0 - 50000);
    CHECK(!r.allowed);
    r = take(rl, "back", login, 1, T0 + 12000);
    CHECK(r.allowed);

    /* Forget: the next take starts full. */
    CHECK(mentis_ratelimit_forget(rl, "back"));
    CHECK(!mentis_ratelimit_forget(rl, "back"));
    r = take(rl, "back", login, 1, T0 + 12000);
    CHECK_INT(r.remaining, 4);
    mentis_ratelimit_destroy(rl);
}

/* A key's state, read without changing it. */
static uint32_t remaining(mentis_ratelimit_t *rl, const char *key, mentis_ratelimit_rule_t rule,
                          int64_t now)
{
    return take(rl, key, rule, 0, now).remaining;
}

static void test_eviction_prefers_full(void)
{
    mentis_ratelimit_t *rl = new_table(3);
    mentis_ratelimit_stats_t st;
    take(rl, "a", login, 5, T0);     /* empty: full at T0 + 60 s */
    take(rl, "b", login, 1, T0);     /* full at T0 + 12 s */
    take(rl, "c", login, 2, T0 + 1); /* full at T0 + 24 s + 1 ms */
    /* At T0 + 13 s, b is full again (no state): it goes, for free. */
    take(rl, "d", login, 1, T0 + 13000);
    mentis_ratelimit_stats(rl, &st);
    CHECK_INT(st.evictions, 1);
    CHECK_INT(st.evictions_in_debt, 0);
    CHECK_INT(st.entries, 3);
    CHECK_INT(remaining(rl, "a", login, T0 + 13000), 1);
    CHECK_INT(remaining(rl, "c", login, T0 + 13000), 4);
    /* Nobody full: the one closest to full goes (d: full at T0 + 25 s; c at T0 + 24 s). */
    take(rl, "e", login, 1, T0 + 13000);
    mentis_ratelimit_stats(rl, &st);
    CHECK_INT(st.evictions, 2);
    CHECK_INT(st.evictions_in_debt, 1);
    CHECK_INT(remaining(rl, "a", login, T0 + 13000), 1);
    CHECK_INT(remaining(rl, "d", login, T0 + 13000), 4); /* d keeps its debt */
    CHECK_INT(remaining(rl, "c", login, T0 + 13000), 5); /* c's was forgiven  */
    mentis_ratelimit_destroy(rl);
}

static uint64_t rng_state = 0x9e3779b97f4a7c15ULL;
static uint64_t rng(void)
{
    rng_state ^= rng_state << 13;
    rng_state ^= rng_state >> 7;
    rng_state ^= rng_state << 17;
    return rng_state;
}

static long rss_kib(void)
{
    FILE *f = fopen("/proc/self/status", "r");
    if (f == NULL)
        return -1;
    char line[256];
    long kib = -1;
    while (fgets(line, sizeof line, f))
        if (sscanf(line, "VmRSS: %ld kB", &kib) == 1)
            break;
    fclose(f);
    return kib;
}

static void test_flood_of_random_keys(void)
{
    const size_t capacity = 10000;
    mentis_ratelimit_t *rl = new_table(capacity);
    mentis_ratelimit_rule_t authed = mentis_ratelimit_default_rule(MENTIS_RATELIMIT_AUTHENTICATED);
    mentis_ratelimit_rule_t anon = mentis_ratelimit_default_rule(MENTIS_RATELIMIT_UNAUTHENTICATED);
    /* A busy client has used 900 of its 1000 per minute; an attacker's login brute force is
     * held at zero. */
    mentis_ratelimit_result_t r = take(rl, "user:hot:authenticated", authed, 900, T0);
    CHECK_INT(r.remaining, 100);
    for (int i = 0; i < 6; i++)
        take(rl, "ip:198.51.100.9:login", login, 1, T0);

    /* A million keys, never seen before, each spending one token, as fast as possible
     * (here: within one second). */
    long rss_before = 0;
    char key[64];
    for (int i = 0; i < 1000000; i++) {
        if (i == 100000) /* the table is full and every page of it touched */
            rss_before = rss_kib();
        snprintf(key, sizeof key, "ip:%016" PRIx64 ":unauthenticated", rng());
        take(rl, key, anon, 1, T0 + i / 1000);
    }
    long rss_after = rss_kib();
    mentis_ratelimit_stats_t st;
    mentis_ratelimit_stats(rl, &st);
    CHECK_INT(st.entries, capacity);
    CHECK_INT(st.evictions, 1000000 - (capacity - 2));
    CHECK_MSG(rss_after - rss_before < 1024, "RSS grew by %ld KiB", rss_after - rss_before);

    /* The hot keys kept their state: 100 + 1 s of refill (16.67 tokens) = 116. */
    const int64_t end = T0 + 999;
    r = take(rl, "user:hot:authenticated", authed, 0, end);
    CHECK_INT(r.remaining, 116);
    r = take(rl, "ip:198.51.100.9:login", login, 1, end);
    CHECK(!r.allowed);
    CHECK_INT(r.retry_after_s, 12); /* 11.001 s left, rounded up */

    /* Flood keys that each spend 2 of their 5 logins (24 s of debt) displace one another,
     * never a key that owes more. */
    for (int i = 0; i < 100000; i++) {
        snprintf(key, sizeof key, "ip:%016" PRIx64 ":login", rng());
        take(rl, key, login, 2, end);
    }
    r = take(rl, "ip:198.51.100.9:login", login, 1, end);
    CHECK(!r.allowed);
    CHECK_INT(take(rl, "user:hot:authenticated", authed, 0, end).remaining, 116);
    mentis_ratelimit_stats(rl, &st);
    CHECK_INT(st.entries, capacity);
    mentis_ratelimit_destroy(rl);
}

/* The table against a plain model (one bucket per key, no eviction) on random traffic. */
struct model {
    int64_t units, last;
};

static void test_matches_model(void)
{
    enum { KEYS = 50 };
    mentis_ratelimit_t *rl = new_table(KEYS);
    struct model m[KEYS];
    mentis_ratelimit_rule_t rule = {13, 7000};
    const int64_t full = (int64_t)rule.limit * rule.window_ms;
    for (int i = 0; i < KEYS; i++)
        m[i] = (struct model){full, 0};
    int64_t now = 0;
    int mismatches = 0;
    for (int step = 0; step < 200000; step++) {
        now += (int64_t)(rng() % 700);
        int k = (int)(rng() % KEYS);
        uint32_t cost = (uint32_t)(rng() % 4);
        char key[16];
        snprintf(key, sizeof key, "k%d", k);
        int64_t u = m[k].units + (now - m[k].last) * rule.limit;
        if (u > full)
            u = full;
        m[k].units = u;
        m[k].last = now;
        bool ok = u >= (int64_t)cost * rule.window_ms;
        if (ok)
            m[k].units -= (int64_t)cost * rule.window_ms;
        mentis_ratelimit_result_t r = take(rl, key, rule, cost, now);
        if (r.allowed != ok || r.remaining != (uint32_t)(m[k].units / rule.window_ms))
            mismatches++;
    }
    CHECK_INT(mismatches, 0);
    mentis_ratelimit_stats_t st;
    mentis_ratelimit_stats(rl, &st);
    CHECK_INT(st.evictions, 0);
    mentis_ratelimit_destroy(rl);
}

TEST_MAIN(test_defaults, test_full_bucket_first, test_refill_boundaries, test_uneven_rate,
          test_cost_and_rules, test_eviction_prefers_full, test_flood_of_random_keys,
          test_matches_model)
