#include "registry.h"

#include <math.h>
#include <stdlib.h>

mentis_status_t mentis_metrics_create(mentis_metrics_t **out)
{
    mentis_metrics_t *reg = calloc(1, sizeof *reg);
    if (reg == NULL)
        return mentis_err_set(MENTIS_ERR_NO_MEMORY, NULL, "metrics: out of memory");
    if (pthread_rwlock_init(&reg->lock, NULL) != 0) {
        free(reg);
        return mentis_err_set(MENTIS_ERR_INTERNAL, NULL, "metrics: pthread_rwlock_init failed");
    }
    *out = reg;
    return MENTIS_OK;
}

static void free_strings(char **v, size_t n)
{
    if (v == NULL)
        return;
    for (size_t i = 0; i < n; i++)
        free(v[i]);
    free(v);
}

static void series_free(struct mentis__metrics_family *f, struct mentis__metrics_series *s)
{
    if (f->type == MENTIS__METRICS_HISTOGRAM)
        free(s->m.histogram.counts);
    free_strings(s->values, f->nlabels);
    free(s);
}

static void family_free(struct mentis__metrics_family *f)
{
    for (struct mentis__metrics_series *s = f->first, *n; s != NULL; s = n) {
        n = s->next;
        series_free(f, s);
    }
    mentis__metrics_index_free(&f->series_index);
    free_strings(f->labels, f->nlabels);
    free(f->bounds);
    free(f->help);
    free(f->name);
    free(f);
}

void mentis_metrics_destroy(mentis_metrics_t *reg)
{
    if (reg == NULL)
        return;
    for (struct mentis__metrics_family *f = reg->first, *n; f != NULL; f = n) {
        n = f->next;
        family_free(f);
    }
    mentis__metrics_index_free(&reg->family_index);
    pthread_rwlock_destroy(&reg->lock);
    free(reg);
}

const char *mentis__metrics_type_name(enum mentis__metrics_type type)
{
    switch (type) {
    case MENTIS__METRICS_COUNTER:
        return "counter";
    case MENTIS__METRICS_GAUGE:
        return "gauge";
    case MENTIS__METRICS_HISTOGRAM:
        return "histogram";
    }
    return "untyped";
}

static bool valid_metric_name(const char *s)
{
    if (!((*s >= 'a' && *s <= 'z') || (*s >= 'A' && *s <= 'Z') || *s == '_' || *s == ':'))
        return false;
    for (s++; *s; s++)
        if (!((*s >= 'a' && *s <= 'z') || (*s >= 'A' && *s <= 'Z') || (*s >= '0' && *s <= '9') ||
              *s == '_' || *s == ':'))
            return false;
    return true;
}

static bool valid_label_name(const char *s)
{
    if (!((*s >= 'a' && *s <= 'z') || (*s >= 'A' && *s <= 'Z') || *s == '_'))
        return false;
    if (s[0] == '_' && s[1] == '_') /* reserved for Prometheus itself */
        return false;
    for (s++; *s; s++)
        if (!((*s >= 'a' && *s <= 'z') || (*s >= 'A' && *s <= 'Z') || (*s >= '0' && *s <= '9') ||
              *s == '_'))
            return false;
    return true;
}

/* The arguments of one get-or-create call, checked once and passed around together. */
struct request {
    enum mentis__metrics_type type;
    const char *name;
    const char *help;
    const double *bounds;
    size_t nbounds;
    const char *const *labels;
    const char *const *values;
    size_t nlabels;
    uint64_t name_hash;
    uint64_t values_hash;
};

static size_t count_strings(const char *const *v)
{
    size_t n = 0;
    if (v != NULL)
        while (v[n] != NULL)
            n++;
    return n;
}

static mentis_status_t request_init(struct request *rq, mentis_metrics_t *reg)
{
    if (reg == NULL || rq->name == NULL)
        return mentis_err_set(MENTIS_ERR_INVALID_ARGUMENT, NULL, "metrics: NULL registry or name");
    size_t nlabels = count_strings(rq->labels);
    size_t nvalues = count_strings(rq->values);
    if (nlabels != nvalues)
        return mentis_err_set(MENTIS_ERR_INVALID_ARGUMENT, NULL,
                              "metrics: %s: %zu label names but %zu label values", rq->name,
                              nlabels, nvalues);
    if (rq->nbounds > 0 && rq->bounds == NULL)
        return mentis_err_set(MENTIS_ERR_INVALID_ARGUMENT, NULL,
                              "metrics: %s: %zu bounds but no array", rq->name, rq->nbounds);
    rq->nlabels = nlabels;
    rq->name_hash = mentis__metrics_hash(MENTIS__METRICS_HASH_SEED, rq->name, strlen(rq->name));
    uint64_t h = MENTIS__METRICS_HASH_SEED;
    for (size_t i = 0; i < nvalues; i++) {
        /* The separator keeps ("ab","c") and ("a","bc") apart. */
        h = mentis__metrics_hash(h, rq->values[i], strlen(rq->values[i]) + 1);
    }
    rq->values_hash = h;
    return MENTIS_OK;
}

static struct mentis__metrics_family *find_family(const mentis_metrics_t *reg, const char *name,
                                                  uint64_t hash)
{
    size_t pos = SIZE_MAX;
    struct mentis__metrics_family *f;
    while ((f = mentis__metrics_index_next(&reg->family_index, hash, &pos)) != NULL)
        if (strcmp(f->name, name) == 0)
            return f;
    return NULL;
}

static struct mentis__metrics_series *find_series(const struct mentis__metrics_family *f,
                                                  const struct request *rq)
{
    size_t pos = SIZE_MAX;
    struct mentis__metrics_series *s;
    while ((s = mentis__metrics_index_next(&f->series_index, rq->values_hash, &pos)) != NULL) {
        size_t i = 0;
        while (i < f->nlabels && strcmp(s->values[i], rq->values[i]) == 0)
            i++;
        if (i == f->nlabels)
            return s;
    }
    return NULL;
}

/* Whether an existing family is the one the request describes; records why not. */
static bool family_matches(const struct mentis__metrics_family *f, const struct request *rq)
{
    if (f->computed != MENTIS__METRICS_STORED) {
        mentis_err_set(MENTIS_ERR_CONFLICT, NULL,
                       "metrics: %s is a process metric and cannot be updated", f->name);
        return false;
    }
    if (f->type != rq->type) {
        mentis_err_set(MENTIS_ERR_CONFLICT, NULL, "metrics: %s is a %s, not a %s", f->name,
                       mentis__metrics_type_name(f->type), mentis__metrics_type_name(rq->type));
        return false;
    }
    bool same = f->nlabels == rq->nlabels;
    for (size_t i = 0; same && i < f->nlabels; i++)
        same = strcmp(f->labels[i], rq->labels[i]) == 0;
    if (!same) {
        mentis_err_set(MENTIS_ERR_CONFLICT, NULL,
                       "metrics: %s was registered with other label names (%zu of them)", f->name,
                       f->nlabels);
        return false;
    }
    same = f->nbounds == rq->nbounds;
    for (size_t i = 0; same && i < f->nbounds; i++)
        same = f->bounds[i] == rq->bounds[i];
    if (!same) {
        mentis_err_set(MENTIS_ERR_CONFLICT, NULL,
                       "metrics: %s was registered with other bucket bounds (%zu of them)", f->name,
                       f->nbounds);
        return false;
    }
    return true;
}

static char **copy_strings(const char *const *v, size_t n)
{
    char **copy = calloc(n ? n : 1, sizeof *copy);
    if (copy == NULL)
        return NULL;
    for (size_t i = 0; i < n; i++) {
        if ((copy[i] = strdup(v[i])) == NULL) {
            free_strings(copy, i);
            return NULL;
        }
    }
    return copy;
}

/* Well-formed UTF-8: no stray continuation bytes, overlong forms, surrogates or code
 * points past U+10FFFF. */
static bool valid_utf8(const char *str)
{
    const unsigned char *s = (const unsigned char *)str;
    while (*s) {
        unsigned char c = *s;
        size_t n;
        uint32_t cp;
        if (c < 0x80) {
            s++;
            continue;
        } else if (c >= 0xc2 && c <= 0xdf) {
            n = 1;
            cp = c & 0x1f;
        } else if (c >= 0xe0 && c <= 0xef) {
            n = 2;
            cp = c & 0x0f;
        } else if (c >= 0xf0 && c <= 0xf4) {
            n = 3;
            cp = c & 0x07;
        } else {
            return false;
        }
        for (size_t i = 1; i <= n; i++) {
            if ((s[i] & 0xc0) != 0x80)
                return false;
            cp = cp << 6 | (s[i] & 0x3f);
        }
        if ((n == 2 && cp < 0x800) || (n == 3 && cp < 0x10000) || cp > 0x10ffff ||
            (cp >= 0xd800 && cp <= 0xdfff))
            return false;
        s += n + 1;
    }
    return true;
}

static mentis_status_t check_definition(const struct request *rq)
{
    if (rq->help != NULL && !valid_utf8(rq->help))
        return mentis_err_set(MENTIS_ERR_INVALID_ARGUMENT, NULL,
                              "metrics: %s: help text is not UTF-8", rq->name);
    if (!valid_metric_name(rq->name))
        return mentis_err_set(MENTIS_ERR_INVALID_ARGUMENT, NULL,
                              "metrics: invalid metric name \"%s\"", rq->name);
    for (size_t i = 0; i < rq->nlabels; i++) {
        if (!valid_label_name(rq->labels[i]))
            return mentis_err_set(MENTIS_ERR_INVALID_ARGUMENT, NULL,
                                  "metrics: %s: invalid label name \"%s\"", rq->name,
                                  rq->labels[i]);
        if (rq->type == MENTIS__METRICS_HISTOGRAM && strcmp(rq->labels[i], "le") == 0)
            return mentis_err_set(MENTIS_ERR_INVALID_ARGUMENT, NULL,
                                  "metrics: %s: a histogram cannot have the label \"le\"",
                                  rq->name);
        for (size_t j = 0; j < i; j++)
            if (strcmp(rq->labels[i], rq->labels[j]) == 0)
                return mentis_err_set(MENTIS_ERR_INVALID_ARGUMENT, NULL,
                                      "metrics: %s: label \"%s\" given twice", rq->name,
                                      rq->labels[i]);
    }
    for (size_t i = 0; i < rq->nbounds; i++)
        if (!isfinite(rq->bounds[i]) || (i > 0 && !(rq->bounds[i] > rq->bounds[i - 1])))
            return mentis_err_set(MENTIS_ERR_INVALID_ARGUMENT, NULL,
                                  "metrics: %s: bounds must be finite and strictly ascending "
                                  "(bound %zu is %g)",
                                  rq->name, i, rq->bounds[i]);
    return MENTIS_OK;
}

/* Allocates a family and links it in; called with the write lock held. */
static mentis_status_t family_add(mentis_metrics_t *reg, const struct request *rq,
                                  enum mentis__metrics_computed computed,
                                  struct mentis__metrics_family **out)
{
    struct mentis__metrics_family *f = calloc(1, sizeof *f);
    if (f == NULL)
        goto fail;
    f->type = rq->type;
    f->computed = computed;
    f->nlabels = rq->nlabels;
    f->nbounds = rq->nbounds;
    if ((f->name = strdup(rq->name)) == NULL)
        goto fail;
    if (rq->help != NULL && (f->help = strdup(rq->help)) == NULL)
        goto fail;
    if ((f->labels = copy_strings(rq->labels, rq->nlabels)) == NULL)
        goto fail;
    if (rq->nbounds > 0) {
        if ((f->bounds = malloc(rq->nbounds * sizeof *f->bounds)) == NULL)
            goto fail;
        memcpy(f->bounds, rq->bounds, rq->nbounds * sizeof *f->bounds);
    }
    if (mentis__metrics_index_add(&reg->family_index, rq->name_hash, f) != MENTIS_OK)
        goto fail;
    if (reg->last != NULL)
        reg->last->next = f;
    else
        reg->first = f;
    reg->last = f;
    *out = f;
    return MENTIS_OK;
fail:
    if (f != NULL)
        family_free(f);
    return mentis_err_set(MENTIS_ERR_NO_MEMORY, NULL, "metrics: %s: out of memory", rq->name);
}

/* Allocates a series and links it in; called with the write lock held. */
static struct mentis__metrics_series *series_add(struct mentis__metrics_family *f,
                                                 const struct request *rq)
{
    if (f->nseries >= MENTIS_METRICS_MAX_SERIES) {
        mentis_err_set(MENTIS_ERR_NO_MEMORY, NULL,
                       "metrics: %s already has %d series; refusing one more", f->name,
                       MENTIS_METRICS_MAX_SERIES);
        return NULL;
    }
    struct mentis__metrics_series *s = calloc(1, sizeof *s);
    if (s == NULL)
        goto fail;
    if ((s->values = copy_strings(rq->values, f->nlabels)) == NULL)
        goto fail;
    if (f->type == MENTIS__METRICS_HISTOGRAM) {
        s->m.histogram.bounds = f->bounds;
        s->m.histogram.nbounds = f->nbounds;
        s->m.histogram.counts = calloc(f->nbounds + 1, sizeof *s->m.histogram.counts);
        if (s->m.histogram.counts == NULL)
            goto fail;
        for (size_t i = 0; i <= f->nbounds; i++)
            atomic_init(&s->m.histogram.counts[i], 0);
        atomic_init(&s->m.histogram.sum_bits, mentis__metrics_bits(0.0));
    } else if (f->type == MENTIS__METRICS_GAUGE) {
        atomic_init(&s->m.gauge.bits, mentis__metrics_bits(0.0));
    } else {
        atomic_init(&s->m.counter.value, 0);
    }
    if (mentis__metrics_index_add(&f->series_index, rq->values_hash, s) != MENTIS_OK)
        goto fail;
    if (f->last != NULL)
        f->last->next = s;
    else
        f->first = s;
    f->last = s;
    f->nseries++;
    return s;
fail:
    if (s != NULL) {
        s->next = NULL;
        series_free(f, s);
    }
    mentis_err_set(MENTIS_ERR_NO_MEMORY, NULL, "metrics: %s: out of memory for a series", f->name);
    return NULL;
}

static struct mentis__metrics_series *get_series(mentis_metrics_t *reg, struct request *rq)
{
    if (request_init(rq, reg) != MENTIS_OK)
        return NULL;

    /* The common case: both exist, and a read lock lets lookups run side by side. */
    pthread_rwlock_rdlock(&reg->lock);
    struct mentis__metrics_family *f = find_family(reg, rq->name, rq->name_hash);
    struct mentis__metrics_series *s = NULL;
    bool ok = f == NULL || family_matches(f, rq);
    if (f != NULL && ok)
        s = find_series(f, rq);
    pthread_rwlock_unlock(&reg->lock);
    if (!ok || s != NULL)
        return s;

    if (f == NULL && check_definition(rq) != MENTIS_OK)
        return NULL;
    for (size_t i = 0; i < rq->nlabels; i++) {
        /* Prometheus refuses a whole scrape over one value that is not UTF-8. */
        if (!valid_utf8(rq->values[i])) {
            mentis_err_set(MENTIS_ERR_INVALID_ARGUMENT, NULL,
                           "metrics: %s: value of label \"%s\" is not UTF-8", rq->name,
                           rq->labels[i]);
            return NULL;
        }
    }
    pthread_rwlock_wrlock(&reg->lock);
    /* Another thread may have added either one between the two locks. */
    f = find_family(reg, rq->name, rq->name_hash);
    if (f == NULL) {
        if (family_add(reg, rq, MENTIS__METRICS_STORED, &f) != MENTIS_OK)
            goto out;
    } else if (!family_matches(f, rq)) {
        goto out;
    }
    s = find_series(f, rq);
    if (s == NULL)
        s = series_add(f, rq);
out:
    pthread_rwlock_unlock(&reg->lock);
    return s;
}

mentis_counter_t *mentis_metrics_counter(mentis_metrics_t *reg, const char *name, const char *help,
                                         const char *const *label_names,
                                         const char *const *label_values)
{
    struct request rq = {.type = MENTIS__METRICS_COUNTER,
                         .name = name,
                         .help = help,
                         .labels = label_names,
                         .values = label_values};
    struct mentis__metrics_series *s = get_series(reg, &rq);
    return s ? &s->m.counter : NULL;
}

mentis_gauge_t *mentis_metrics_gauge(mentis_metrics_t *reg, const char *name, const char *help,
                                     const char *const *label_names,
                                     const char *const *label_values)
{
    struct request rq = {.type = MENTIS__METRICS_GAUGE,
                         .name = name,
                         .help = help,
                         .labels = label_names,
                         .values = label_values};
    struct mentis__metrics_series *s = get_series(reg, &rq);
    return s ? &s->m.gauge : NULL;
}

mentis_histogram_t *mentis_metrics_histogram(mentis_metrics_t *reg, const char *name,
                                             const char *help, const double *bounds, size_t nbounds,
                                             const char *const *label_names,
                                             const char *const *label_values)
{
    struct request rq = {.type = MENTIS__METRICS_HISTOGRAM,
                         .name = name,
                         .help = help,
                         .bounds = bounds,
                         .nbounds = nbounds,
                         .labels = label_names,
                         .values = label_values};
    struct mentis__metrics_series *s = get_series(reg, &rq);
    return s ? &s->m.histogram : NULL;
}

mentis_status_t mentis__metrics_add_computed(mentis_metrics_t *reg, const char *name,
                                             const char *help, enum mentis__metrics_type type,
                                             enum mentis__metrics_computed computed)
{
    struct request rq = {.type = type, .name = name, .help = help};
    mentis_status_t st = request_init(&rq, reg);
    if (st != MENTIS_OK)
        return st;
    pthread_rwlock_wrlock(&reg->lock);
    struct mentis__metrics_family *f = find_family(reg, name, rq.name_hash);
    if (f == NULL) {
        st = family_add(reg, &rq, computed, &f);
    } else if (f->computed != computed) {
        st = mentis_err_set(MENTIS_ERR_CONFLICT, NULL,
                            "metrics: %s is already registered as another metric", name);
    }
    pthread_rwlock_unlock(&reg->lock);
    return st;
}
