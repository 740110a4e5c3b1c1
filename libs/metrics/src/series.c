#include <math.h>
#include <stdlib.h>

#include "registry.h"

const double mentis_metrics_latency_buckets[] = {0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05,
                                                 0.1,    0.25,  0.5,    1,     2.5,  5,     10};
const size_t mentis_metrics_latency_buckets_count =
    sizeof mentis_metrics_latency_buckets / sizeof mentis_metrics_latency_buckets[0];

void mentis_counter_inc(mentis_counter_t *c)
{
    mentis_counter_add(c, 1);
}

void mentis_counter_add(mentis_counter_t *c, uint64_t n)
{
    if (c != NULL)
        atomic_fetch_add_explicit(&c->value, n, memory_order_relaxed);
}

uint64_t mentis_counter_value(const mentis_counter_t *c)
{
    if (c == NULL)
        return 0;
    return mentis__metrics_load(&c->value);
}

void mentis_gauge_set(mentis_gauge_t *g, double v)
{
    if (g != NULL)
        atomic_store_explicit(&g->bits, mentis__metrics_bits(v), memory_order_relaxed);
}

static void add_double(_Atomic uint64_t *bits, double delta)
{
    uint64_t old = atomic_load_explicit(bits, memory_order_relaxed);
    while (!atomic_compare_exchange_weak_explicit(
        bits, &old, mentis__metrics_bits(mentis__metrics_double(old) + delta), memory_order_relaxed,
        memory_order_relaxed)) {
    }
}

void mentis_gauge_add(mentis_gauge_t *g, double delta)
{
    if (g != NULL)
        add_double(&g->bits, delta);
}

double mentis_gauge_value(const mentis_gauge_t *g)
{
    if (g == NULL)
        return 0.0;
    return mentis__metrics_double(mentis__metrics_load(&g->bits));
}

void mentis_histogram_observe(mentis_histogram_t *h, double v)
{
    if (h == NULL)
        return;
    /* The first bound >= v; NaN compares false everywhere and lands in +Inf, as in the
     * Prometheus clients. */
    size_t lo = 0, hi = h->nbounds;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (h->bounds[mid] >= v)
            hi = mid;
        else
            lo = mid + 1;
    }
    if (isnan(v))
        lo = h->nbounds;
    atomic_fetch_add_explicit(&h->counts[lo], 1, memory_order_relaxed);
    add_double(&h->sum_bits, v);
}

size_t mentis_histogram_bounds(const mentis_histogram_t *h, const double **bounds)
{
    if (h == NULL)
        return 0;
    if (bounds != NULL)
        *bounds = h->bounds;
    return h->nbounds;
}

void mentis_histogram_snapshot(const mentis_histogram_t *h, uint64_t *counts, double *sum,
                               uint64_t *count)
{
    uint64_t total = 0;
    if (h != NULL) {
        for (size_t i = 0; i <= h->nbounds; i++) {
            uint64_t n = mentis__metrics_load(&h->counts[i]);
            if (counts != NULL)
                counts[i] = n;
            total += n;
        }
    }
    if (sum != NULL)
        *sum = h ? mentis__metrics_double(mentis__metrics_load(&h->sum_bits)) : 0.0;
    if (count != NULL)
        *count = total;
}

double mentis_histogram_quantile(const mentis_histogram_t *h, double q)
{
    if (h == NULL || isnan(q))
        return NAN;
    if (q < 0)
        return -INFINITY;
    if (q > 1)
        return INFINITY;
    if (h->nbounds == 0)
        return NAN;

    /* Cumulative counts, as Prometheus sees the _bucket series. */
    uint64_t *cum = calloc(h->nbounds + 1, sizeof *cum);
    if (cum == NULL)
        return NAN;
    uint64_t total = 0;
    for (size_t i = 0; i <= h->nbounds; i++) {
        total += mentis__metrics_load(&h->counts[i]);
        cum[i] = total;
    }
    double result = NAN;
    if (total == 0)
        goto out;

    double rank = q * (double)total;
    /* Prometheus picks the first bucket whose cumulative count reaches the rank. For rank 0
     * that is always bucket 0, even when empty, and it then divides 0 by 0; requiring a
     * non-empty bucket gives the lowest observed bucket instead of NaN. */
    size_t b = 0;
    while (b < h->nbounds && ((double)cum[b] < rank || cum[b] == 0))
        b++;
    if (b == h->nbounds) {
        result = h->bounds[h->nbounds - 1];
        goto out;
    }
    if (b == 0 && h->bounds[0] <= 0) {
        result = h->bounds[0];
        goto out;
    }
    double start = 0, end = h->bounds[b];
    double in_bucket = (double)cum[b];
    if (b > 0) {
        start = h->bounds[b - 1];
        in_bucket -= (double)cum[b - 1];
        rank -= (double)cum[b - 1];
    }
    result = start + (end - start) * (rank / in_bucket);
out:
    free(cum);
    return result;
}
