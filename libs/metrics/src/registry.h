/*
 * The registry's inside, shared by registry.c (families and series), series.c (updates),
 * render.c (exposition) and process.c (process metrics).
 *
 * Locking: reg->lock guards the family list, every family's series list and both kinds of
 * index; families and series are only ever added, never removed before destroy. Values
 * inside a series are C11 atomics and need no lock.
 */
#ifndef MENTIS_METRICS_REGISTRY_H
#define MENTIS_METRICS_REGISTRY_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "index.h"
#include "mentis/metrics.h"

enum mentis__metrics_type {
    MENTIS__METRICS_COUNTER,
    MENTIS__METRICS_GAUGE,
    MENTIS__METRICS_HISTOGRAM,
};

/* The exposition-format name of a type ("counter"). */
const char *mentis__metrics_type_name(enum mentis__metrics_type type);

/* Families whose one value is read from /proc/self when rendering. */
enum mentis__metrics_computed {
    MENTIS__METRICS_STORED = 0, /* an ordinary family: its values live in its series */
    MENTIS__METRICS_PROC_RSS,
    MENTIS__METRICS_PROC_VSIZE,
    MENTIS__METRICS_PROC_CPU,
    MENTIS__METRICS_PROC_FDS,
    MENTIS__METRICS_PROC_START,
    MENTIS__METRICS_PROC_THREADS,
};

struct mentis_counter {
    _Atomic uint64_t value;
};

/* Doubles live as their bit patterns, so loads and stores are plain atomic integers. */
struct mentis_gauge {
    _Atomic uint64_t bits;
};

struct mentis_histogram {
    const double *bounds; /* the family's copy */
    size_t nbounds;
    _Atomic uint64_t sum_bits; /* a double */
    _Atomic uint64_t *counts;  /* nbounds + 1, not cumulative */
};

struct mentis__metrics_series {
    struct mentis__metrics_series *next; /* creation order */
    char **values;                       /* one per label name of the family */
    union {
        struct mentis_counter counter;
        struct mentis_gauge gauge;
        struct mentis_histogram histogram;
    } m;
};

struct mentis__metrics_family {
    struct mentis__metrics_family *next; /* registration order */
    char *name;
    char *help; /* NULL when none was given */
    enum mentis__metrics_type type;
    enum mentis__metrics_computed computed;
    char **labels;
    size_t nlabels;
    double *bounds; /* histograms only */
    size_t nbounds;
    struct mentis__metrics_series *first, *last;
    size_t nseries;
    struct mentis__metrics_index series_index; /* keyed by the hash of the label values */
};

struct mentis_metrics {
    pthread_rwlock_t lock;
    struct mentis__metrics_family *first, *last;
    struct mentis__metrics_index family_index; /* keyed by the hash of the name */
};

static inline uint64_t mentis__metrics_bits(double v)
{
    uint64_t b;
    memcpy(&b, &v, sizeof b);
    return b;
}

static inline double mentis__metrics_double(uint64_t b)
{
    double v;
    memcpy(&v, &b, sizeof v);
    return v;
}

/* A relaxed load through a const pointer (C11's atomic_load takes a non-const one). */
static inline uint64_t mentis__metrics_load(const _Atomic uint64_t *p)
{
    return atomic_load_explicit((_Atomic uint64_t *)(uintptr_t)p, memory_order_relaxed);
}

/*
 * Registers a computed family under the write lock; MENTIS_OK when it is already there as
 * the same computed family, MENTIS_ERR_CONFLICT when the name is taken by another.
 */
mentis_status_t mentis__metrics_add_computed(mentis_metrics_t *reg, const char *name,
                                             const char *help, enum mentis__metrics_type type,
                                             enum mentis__metrics_computed computed);

/* A snapshot of /proc/self for the computed families. */
struct mentis__metrics_proc {
    double rss_bytes;
    double vsize_bytes;
    double cpu_seconds;
    double open_fds;
    double start_time_seconds;
    double threads;
};

/* Reads /proc/self. MENTIS_ERR_IO (recorded) when it cannot. */
mentis_status_t mentis__metrics_proc_read(struct mentis__metrics_proc *out);

/* The value of one computed family in a snapshot. */
double mentis__metrics_proc_value(const struct mentis__metrics_proc *p,
                                  enum mentis__metrics_computed computed);

#endif
