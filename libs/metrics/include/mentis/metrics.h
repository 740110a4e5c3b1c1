/*
 * Prometheus metrics: a registry of counter, gauge and histogram families, rendered in the
 * text exposition format (version 0.0.4) for GET /metrics.
 *
 * A family is a name, a help text, a type and a fixed list of label names; a series is one
 * combination of label values of a family. Getting a series creates it on first use and
 * takes a lock; updating it afterwards is lock-free, so callers look a series up once and
 * cache the handle:
 *
 *   static const char *const names[] = {"route", "code", NULL};
 *   const char *const values[] = {"/api/health", "200", NULL};
 *   mentis_counter_t *c = mentis_metrics_counter(reg, "http_requests_total",
 *                                                "HTTP requests handled.", names, values);
 *   mentis_counter_inc(c);
 *
 * Every series handle stays valid until the registry is destroyed. A family holds at most
 * MENTIS_METRICS_MAX_SERIES series, so label values that come from outside (which they
 * should not) cannot make the registry grow without end.
 */
#ifndef MENTIS_METRICS_H
#define MENTIS_METRICS_H

#include <stddef.h>
#include <stdint.h>

#include "mentis/status.h"

#ifdef __cplusplus
extern "C" {
#endif

/* The most series one family holds; getting one more returns NULL (MENTIS_ERR_NO_MEMORY). */
#define MENTIS_METRICS_MAX_SERIES 10000

typedef struct mentis_metrics mentis_metrics_t;     /* a registry */
typedef struct mentis_counter mentis_counter_t;     /* one series of a counter family */
typedef struct mentis_gauge mentis_gauge_t;         /* one series of a gauge family */
typedef struct mentis_histogram mentis_histogram_t; /* one series of a histogram family */

/* Creates an empty registry. *out is written only on success; free it with mentis_metrics_destroy.
 */
mentis_status_t mentis_metrics_create(mentis_metrics_t **out);

/*
 * Frees the registry and every series it holds; every handle it returned becomes invalid.
 * No other thread may use the registry or its handles any more. NULL is a no-op.
 */
void mentis_metrics_destroy(mentis_metrics_t *reg);

/*
 * Get-or-create the series of family `name` with the given labels. label_names and
 * label_values are NULL-terminated arrays of equal length (both may be NULL for no labels);
 * every string is copied. `help` (may be NULL) is taken from the first call for a name.
 * Metric names match [a-zA-Z_:][a-zA-Z0-9_:]*, label names [a-zA-Z_][a-zA-Z0-9_]* and do
 * not start with "__"; histograms may not use the label "le"; label values and help are
 * UTF-8. Returns NULL with the error recorded (mentis_err_set):
 *   MENTIS_ERR_CONFLICT          the name exists with another type, other label names or
 *                                (histograms) other bounds, or is a process metric;
 *   MENTIS_ERR_INVALID_ARGUMENT  a NULL registry or name, an invalid name, label value or
 *                                bound, or label_names and label_values of unequal length;
 *   MENTIS_ERR_NO_MEMORY         out of memory, or the family already holds
 *                                MENTIS_METRICS_MAX_SERIES series.
 * Thread-safe. The returned handle is valid until the registry is destroyed, so callers
 * cache it.
 */
mentis_counter_t *mentis_metrics_counter(mentis_metrics_t *reg, const char *name, const char *help,
                                         const char *const *label_names,
                                         const char *const *label_values);
mentis_gauge_t *mentis_metrics_gauge(mentis_metrics_t *reg, const char *name, const char *help,
                                     const char *const *label_names,
                                     const char *const *label_values);
/*
 * bounds: nbounds strictly ascending, finite upper bounds (seconds for durations), without
 * +Inf; copied. nbounds may be 0 (only the +Inf bucket).
 */
mentis_histogram_t *mentis_metrics_histogram(mentis_metrics_t *reg, const char *name,
                                             const char *help, const double *bounds, size_t nbounds,
                                             const char *const *label_names,
                                             const char *const *label_values);

/* Updates and reads. All of these are no-ops (or return 0) on NULL, and lock-free. */
void mentis_counter_inc(mentis_counter_t *c);
void mentis_counter_add(mentis_counter_t *c, uint64_t n);
uint64_t mentis_counter_value(const mentis_counter_t *c);
void mentis_gauge_set(mentis_gauge_t *g, double v);
void mentis_gauge_add(mentis_gauge_t *g, double delta);
double mentis_gauge_value(const mentis_gauge_t *g);
/* Counts v in the first bucket whose bound is >= v (NaN and v above every bound: the +Inf one). */
void mentis_histogram_observe(mentis_histogram_t *h, double v);

/*
 * The bounds of h: returns nbounds and, when `bounds` is not NULL, points *bounds at the
 * registry's copy (valid until the registry is destroyed). 0 on NULL.
 */
size_t mentis_histogram_bounds(const mentis_histogram_t *h, const double **bounds);

/*
 * Copies the state: counts[i] = observations <= bounds[i] and > bounds[i-1] (NOT
 * cumulative), counts[nbounds] = observations above the last bound; counts must hold
 * nbounds+1 entries. *count is the sum of the copied counts. Any out pointer may be NULL.
 * Under concurrent observations the copy is not one instant, but *count always agrees with
 * counts.
 */
void mentis_histogram_snapshot(const mentis_histogram_t *h, uint64_t *counts, double *sum,
                               uint64_t *count);

/*
 * The q-quantile (0..1) estimated by linear interpolation inside buckets, as Prometheus'
 * histogram_quantile does: the lowest bucket starts at 0 (or at its bound when that is
 * <= 0), and a rank in the +Inf bucket gives the last finite bound. NAN when h is NULL or
 * empty, when there is no finite bound, or when q is NaN; -Inf for q < 0 and +Inf for q > 1.
 */
double mentis_histogram_quantile(const mentis_histogram_t *h, double q);

/* Default latency buckets in seconds: 0.0005 0.001 0.0025 0.005 0.01 0.025 0.05 0.1 0.25 0.5 1 2.5
 * 5 10 */
extern const double mentis_metrics_latency_buckets[];
extern const size_t mentis_metrics_latency_buckets_count;

/*
 * Registers process metrics computed at render time from /proc/self:
 * process_resident_memory_bytes, process_virtual_memory_bytes, process_cpu_seconds_total,
 * process_open_fds, process_start_time_seconds, process_threads. Calling it again is a
 * no-op. MENTIS_ERR_IO when /proc/self cannot be read, MENTIS_ERR_CONFLICT when one of the
 * names is already taken by another family. Those names cannot be got as ordinary series.
 */
mentis_status_t mentis_metrics_add_process(mentis_metrics_t *reg);

/*
 * Renders every family in Prometheus text exposition format 0.0.4: # HELP (when a help was
 * given) and # TYPE, then one line per series with escaped label values; histograms as
 * cumulative _bucket{le="..."} lines ending with le="+Inf", then _sum and _count. Families
 * come in registration order, series in creation order. Thread-safe; may run while other
 * threads update series. *out is malloc'd and NUL-terminated, the caller frees it; *len
 * (may be NULL) is its length. *out is written only on success; MENTIS_ERR_NO_MEMORY when
 * the text would pass 64 MiB or malloc fails.
 */
mentis_status_t mentis_metrics_render(mentis_metrics_t *reg, char **out, size_t *len);

#ifdef __cplusplus
}
#endif
#endif
