#include <inttypes.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>

#include "registry.h"

/* The exposition text may not grow past this; a registry that big is a bug elsewhere. */
#define RENDER_CAP ((size_t)64 << 20)

/* A growable text buffer; once `failed` is set every append is a no-op. */
struct text {
    char *buf;
    size_t len, cap;
    bool failed;
};

static bool reserve(struct text *t, size_t more)
{
    if (t->failed)
        return false;
    if (more > RENDER_CAP - t->len - 1) {
        mentis_err_set(MENTIS_ERR_NO_MEMORY, NULL,
                       "metrics: rendering would pass the cap of %zu bytes", RENDER_CAP);
        t->failed = true;
        return false;
    }
    size_t need = t->len + more + 1;
    if (need <= t->cap)
        return true;
    size_t cap = t->cap ? t->cap : 4096;
    while (cap < need)
        cap *= 2;
    if (cap > RENDER_CAP)
        cap = RENDER_CAP;
    char *buf = realloc(t->buf, cap);
    if (buf == NULL) {
        mentis_err_set(MENTIS_ERR_NO_MEMORY, NULL, "metrics: realloc of %zu bytes failed", cap);
        t->failed = true;
        return false;
    }
    t->buf = buf;
    t->cap = cap;
    return true;
}

static void put(struct text *t, const char *s, size_t n)
{
    if (!reserve(t, n))
        return;
    memcpy(t->buf + t->len, s, n);
    t->len += n;
    t->buf[t->len] = '\0';
}

static void puts_(struct text *t, const char *s)
{
    put(t, s, strlen(s));
}

static void putc_(struct text *t, char c)
{
    put(t, &c, 1);
}

/* Label values escape backslash, double quote and newline; help texts only the first and
 * last (exposition format 0.0.4). */
static void put_escaped(struct text *t, const char *s, bool quote)
{
    const char *run = s;
    for (; *s; s++) {
        const char *esc = NULL;
        if (*s == '\\')
            esc = "\\\\";
        else if (*s == '\n')
            esc = "\\n";
        else if (*s == '"' && quote)
            esc = "\\\"";
        if (esc != NULL) {
            put(t, run, (size_t)(s - run));
            put(t, esc, 2);
            run = s + 1;
        }
    }
    put(t, run, (size_t)(s - run));
}

/* The shortest text that reads back as exactly v, in a form Prometheus parses. */
static void format_double(char *buf, size_t size, double v)
{
    if (isnan(v)) {
        snprintf(buf, size, "NaN");
        return;
    }
    if (isinf(v)) {
        snprintf(buf, size, "%s", v > 0 ? "+Inf" : "-Inf");
        return;
    }
    for (int prec = 15; prec <= 17; prec++) {
        snprintf(buf, size, "%.*g", prec, v);
        if (strtod(buf, NULL) == v)
            return;
    }
}

static void put_double(struct text *t, double v)
{
    char buf[40];
    format_double(buf, sizeof buf, v);
    puts_(t, buf);
}

static void put_u64(struct text *t, uint64_t v)
{
    char buf[24];
    snprintf(buf, sizeof buf, "%" PRIu64, v);
    puts_(t, buf);
}

/* `name{l1="v1",...,extra="extra_value"} ` up to the value. */
static void put_series_start(struct text *t, const struct mentis__metrics_family *f,
                             const struct mentis__metrics_series *s, const char *suffix,
                             const char *extra, const char *extra_value)
{
    puts_(t, f->name);
    puts_(t, suffix);
    if (f->nlabels > 0 || extra != NULL) {
        putc_(t, '{');
        for (size_t i = 0; i < f->nlabels; i++) {
            if (i > 0)
                putc_(t, ',');
            puts_(t, f->labels[i]);
            puts_(t, "=\"");
            put_escaped(t, s->values[i], true);
            putc_(t, '"');
        }
        if (extra != NULL) {
            if (f->nlabels > 0)
                putc_(t, ',');
            puts_(t, extra);
            puts_(t, "=\"");
            puts_(t, extra_value);
            putc_(t, '"');
        }
        putc_(t, '}');
    }
    putc_(t, ' ');
}

static void put_histogram(struct text *t, const struct mentis__metrics_family *f,
                          const struct mentis__metrics_series *s)
{
    const struct mentis_histogram *h = &s->m.histogram;
    uint64_t cum = 0;
    char le[40];
    for (size_t i = 0; i <= h->nbounds; i++) {
        cum += mentis__metrics_load(&h->counts[i]);
        if (i < h->nbounds)
            format_double(le, sizeof le, h->bounds[i]);
        else
            snprintf(le, sizeof le, "+Inf");
        put_series_start(t, f, s, "_bucket", "le", le);
        put_u64(t, cum);
        putc_(t, '\n');
    }
    put_series_start(t, f, s, "_sum", NULL, NULL);
    put_double(t, mentis__metrics_double(mentis__metrics_load(&h->sum_bits)));
    putc_(t, '\n');
    /* The count is the +Inf bucket as rendered, so the two always agree. */
    put_series_start(t, f, s, "_count", NULL, NULL);
    put_u64(t, cum);
    putc_(t, '\n');
}

static void put_family(struct text *t, const struct mentis__metrics_family *f,
                       const struct mentis__metrics_proc *proc)
{
    if (f->help != NULL) {
        puts_(t, "# HELP ");
        puts_(t, f->name);
        putc_(t, ' ');
        put_escaped(t, f->help, false);
        putc_(t, '\n');
    }
    puts_(t, "# TYPE ");
    puts_(t, f->name);
    putc_(t, ' ');
    puts_(t, mentis__metrics_type_name(f->type));
    putc_(t, '\n');

    if (f->computed != MENTIS__METRICS_STORED) {
        if (proc != NULL) {
            puts_(t, f->name);
            putc_(t, ' ');
            put_double(t, mentis__metrics_proc_value(proc, f->computed));
            putc_(t, '\n');
        }
        return;
    }
    for (const struct mentis__metrics_series *s = f->first; s != NULL; s = s->next) {
        switch (f->type) {
        case MENTIS__METRICS_COUNTER:
            put_series_start(t, f, s, "", NULL, NULL);
            put_u64(t, mentis__metrics_load(&s->m.counter.value));
            putc_(t, '\n');
            break;
        case MENTIS__METRICS_GAUGE:
            put_series_start(t, f, s, "", NULL, NULL);
            put_double(t, mentis__metrics_double(mentis__metrics_load(&s->m.gauge.bits)));
            putc_(t, '\n');
            break;
        case MENTIS__METRICS_HISTOGRAM:
            put_histogram(t, f, s);
            break;
        }
    }
}

mentis_status_t mentis_metrics_render(mentis_metrics_t *reg, char **out, size_t *len)
{
    if (reg == NULL || out == NULL)
        return mentis_err_set(MENTIS_ERR_INVALID_ARGUMENT, NULL,
                              "metrics: render needs a registry and an out pointer");
    struct text t = {0};
    if (!reserve(&t, 0))
        return MENTIS_ERR_NO_MEMORY;
    t.buf[0] = '\0';

    struct mentis__metrics_proc proc;
    int proc_state = 0; /* 0 not read yet, 1 read, -1 unreadable */
    pthread_rwlock_rdlock(&reg->lock);
    for (const struct mentis__metrics_family *f = reg->first; f != NULL && !t.failed; f = f->next) {
        if (f->computed != MENTIS__METRICS_STORED && proc_state == 0)
            proc_state = mentis__metrics_proc_read(&proc) == MENTIS_OK ? 1 : -1;
        put_family(&t, f, proc_state == 1 ? &proc : NULL);
    }
    pthread_rwlock_unlock(&reg->lock);

    if (t.failed) {
        free(t.buf);
        return MENTIS_ERR_NO_MEMORY;
    }
    *out = t.buf;
    if (len != NULL)
        *len = t.len;
    return MENTIS_OK;
}
