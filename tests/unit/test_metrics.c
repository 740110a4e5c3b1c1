#include <math.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <time.h>

#include "check.h"
#include "mentis/metrics.h"

/* ---- helpers ---------------------------------------------------------------------------- */

static char *render(mentis_metrics_t *reg)
{
    char *text = NULL;
    size_t len = 0;
    if (mentis_metrics_render(reg, &text, &len) != MENTIS_OK)
        return NULL;
    if (strlen(text) != len) {
        free(text);
        return NULL;
    }
    return text;
}

/* Whether `text` holds `line` as a whole line. */
static bool has_line(const char *text, const char *line)
{
    size_t n = strlen(line);
    for (const char *p = text; (p = strstr(p, line)) != NULL; p++)
        if ((p == text || p[-1] == '\n') && p[n] == '\n')
            return true;
    return false;
}

/* The position of a whole line in `text`, or -1. */
static long line_pos(const char *text, const char *line)
{
    size_t n = strlen(line);
    for (const char *p = text; (p = strstr(p, line)) != NULL; p++)
        if ((p == text || p[-1] == '\n') && p[n] == '\n')
            return (long)(p - text);
    return -1;
}

/* The value of the unlabelled sample `name`, or NAN when absent. */
static double sample_value(const char *text, const char *name)
{
    size_t n = strlen(name);
    for (const char *p = text; (p = strstr(p, name)) != NULL; p++)
        if ((p == text || p[-1] == '\n') && p[n] == ' ')
            return strtod(p + n + 1, NULL);
    return NAN;
}

#define CHECK_LINE(text, line) CHECK_MSG(has_line((text), (line)), "missing line: %s", (line))

/* ---- a checker for the text exposition format 0.0.4 ------------------------------------ */

static bool is_metric_char(char c, bool first)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_' || c == ':' ||
           (!first && c >= '0' && c <= '9');
}

static bool is_label_char(char c, bool first)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_' ||
           (!first && c >= '0' && c <= '9');
}

/* Parses a name at *p; returns its length (0 when there is none). */
static size_t scan_name(const char **p, bool metric)
{
    const char *s = *p;
    if (!(metric ? is_metric_char(*s, true) : is_label_char(*s, true)))
        return 0;
    s++;
    while (metric ? is_metric_char(*s, false) : is_label_char(*s, false))
        s++;
    size_t n = (size_t)(s - *p);
    *p = s;
    return n;
}

/* A sample value Prometheus' parser accepts: a decimal float or +Inf, -Inf, NaN. */
static bool valid_value(const char *s, size_t n)
{
    if ((n == 4 && (strncmp(s, "+Inf", 4) == 0 || strncmp(s, "-Inf", 4) == 0)) ||
        (n == 3 && strncmp(s, "NaN", 3) == 0))
        return true;
    if (n == 0 || n >= 64)
        return false;
    char buf[64];
    memcpy(buf, s, n);
    buf[n] = '\0';
    for (size_t i = 0; i < n; i++)
        if (!strchr("0123456789.eE+-", buf[i]))
            return false;
    char *end;
    (void)strtod(buf, &end);
    return *end == '\0';
}

/*
 * Checks one sample line: name [{label="value",...}] value [timestamp]. Writes the metric
 * name into `name`. Returns NULL when fine, else what is wrong.
 */
static const char *check_sample_line(const char *line, char *name, size_t name_size)
{
    const char *p = line;
    size_t n = scan_name(&p, true);
    if (n == 0)
        return "bad metric name";
    if (n >= name_size)
        return "name too long";
    memcpy(name, line, n);
    name[n] = '\0';
    if (*p == '{') {
        p++;
        while (*p != '}') {
            if (scan_name(&p, false) == 0)
                return "bad label name";
            if (*p++ != '=')
                return "no = after label name";
            if (*p++ != '"')
                return "label value not quoted";
            while (*p != '"') {
                if (*p == '\0')
                    return "unterminated label value";
                if (*p == '\\') {
                    p++;
                    if (*p != '\\' && *p != '"' && *p != 'n')
                        return "bad escape in label value";
                }
                p++;
            }
            p++;
            if (*p == ',')
                p++;
            else if (*p != '}')
                return "no , or } after label";
        }
        p++;
    }
    if (*p++ != ' ')
        return "no space before value";
    const char *v = p;
    while (*p && *p != ' ')
        p++;
    if (!valid_value(v, (size_t)(p - v)))
        return "bad value";
    if (*p == ' ') {
        p++;
        const char *ts = p;
        if (*p == '-')
            p++;
        while (*p >= '0' && *p <= '9')
            p++;
        if (p == ts || *p != '\0')
            return "bad timestamp";
    }
    return NULL;
}

/*
 * Checks a whole exposition: every line is a HELP, a TYPE or a sample; TYPE comes once per
 * family before its samples; samples belong to the family last typed (with _bucket, _sum
 * and _count for histograms). Returns the number of bad lines (each reported).
 */
static int check_exposition(const char *text)
{
    int bad = 0;
    char family[256] = "", type[32] = "";
    char seen[64][256];
    int nseen = 0;
    size_t total = strlen(text);
    if (total == 0 || text[total - 1] != '\n') {
        fprintf(stderr, "exposition does not end with a newline\n");
        return 1;
    }
    for (const char *line = text; *line;) {
        const char *eol = strchr(line, '\n');
        size_t len = (size_t)(eol - line);
        char buf[1024];
        if (len >= sizeof buf) {
            fprintf(stderr, "line too long\n");
            return bad + 1;
        }
        memcpy(buf, line, len);
        buf[len] = '\0';
        line = eol + 1;

        const char *why = NULL;
        if (strncmp(buf, "# HELP ", 7) == 0) {
            const char *p = buf + 7;
            if (scan_name(&p, true) == 0 || (*p != ' ' && *p != '\0'))
                why = "bad HELP";
            for (; why == NULL && *p; p++)
                if (*p == '\\' && p[1] != '\\' && p[1] != 'n')
                    why = "bad escape in HELP";
                else if (*p == '\\')
                    p++;
        } else if (strncmp(buf, "# TYPE ", 7) == 0) {
            const char *p = buf + 7;
            size_t n = scan_name(&p, true);
            if (n == 0 || *p != ' ' || n >= sizeof family) {
                why = "bad TYPE";
            } else {
                p++;
                if (strcmp(p, "counter") && strcmp(p, "gauge") && strcmp(p, "histogram") &&
                    strcmp(p, "summary") && strcmp(p, "untyped")) {
                    why = "unknown type";
                } else {
                    memcpy(family, buf + 7, n);
                    family[n] = '\0';
                    snprintf(type, sizeof type, "%s", p);
                    for (int i = 0; i < nseen; i++)
                        if (strcmp(seen[i], family) == 0)
                            why = "family typed twice";
                    if (nseen < 64)
                        snprintf(seen[nseen++], sizeof seen[0], "%s", family);
                }
            }
        } else if (buf[0] == '#') {
            why = "unknown comment";
        } else {
            char name[256];
            why = check_sample_line(buf, name, sizeof name);
            if (why == NULL) {
                size_t fl = strlen(family);
                bool ok = family[0] != '\0' && strncmp(name, family, fl) == 0;
                const char *suffix = name + fl;
                if (ok && strcmp(type, "histogram") == 0)
                    ok = strcmp(suffix, "_bucket") == 0 || strcmp(suffix, "_sum") == 0 ||
                         strcmp(suffix, "_count") == 0;
                else if (ok)
                    ok = *suffix == '\0';
                if (!ok)
                    why = "sample outside its family";
            }
        }
        if (why != NULL) {
            fprintf(stderr, "exposition: %s: %s\n", why, buf);
            bad++;
        }
    }
    return bad;
}

/* ---- cases ------------------------------------------------------------------------------ */

static void test_counter_render(void)
{
    mentis_metrics_t *reg = NULL;
    REQUIRE(mentis_metrics_create(&reg) == MENTIS_OK);
    static const char *const names[] = {"route", "code", NULL};
    const char *const ok[] = {"/api/health", "200", NULL};
    const char *const nf[] = {"/api/x", "404", NULL};
    mentis_counter_t *a =
        mentis_metrics_counter(reg, "http_requests_total", "HTTP requests handled.", names, ok);
    mentis_counter_t *b = mentis_metrics_counter(reg, "http_requests_total", "ignored", names, nf);
    mentis_counter_t *plain = mentis_metrics_counter(reg, "jobs_total", NULL, NULL, NULL);
    REQUIRE(a != NULL && b != NULL && plain != NULL);
    CHECK(a != b);
    CHECK(mentis_metrics_counter(reg, "http_requests_total", NULL, names, ok) == a);

    mentis_counter_inc(a);
    mentis_counter_inc(a);
    mentis_counter_add(b, 40);
    mentis_counter_add(plain, UINT64_C(18446744073709551615));
    CHECK_INT(mentis_counter_value(a), 2);
    CHECK_INT(mentis_counter_value(b), 40);

    char *text = render(reg);
    REQUIRE(text != NULL);
    CHECK_STR(text, "# HELP http_requests_total HTTP requests handled.\n"
                    "# TYPE http_requests_total counter\n"
                    "http_requests_total{route=\"/api/health\",code=\"200\"} 2\n"
                    "http_requests_total{route=\"/api/x\",code=\"404\"} 40\n"
                    "# TYPE jobs_total counter\n"
                    "jobs_total 18446744073709551615\n");
    CHECK_INT(check_exposition(text), 0);
    free(text);
    mentis_metrics_destroy(reg);
    mentis_metrics_destroy(NULL);
}

static void test_gauge_values(void)
{
    mentis_metrics_t *reg = NULL;
    REQUIRE(mentis_metrics_create(&reg) == MENTIS_OK);
    static const char *const names[] = {"k", NULL};
    const char *const v[][2] = {{"half", NULL}, {"neg", NULL},   {"big", NULL},
                                {"tiny", NULL}, {"inf", NULL},   {"ninf", NULL},
                                {"nan", NULL},  {"tenth", NULL}, {"int", NULL}};
    mentis_gauge_t *g[9];
    for (int i = 0; i < 9; i++) {
        g[i] = mentis_metrics_gauge(reg, "temperature", "A gauge.", names, v[i]);
        REQUIRE(g[i] != NULL);
    }
    CHECK(mentis_gauge_value(g[0]) == 0.0);
    mentis_gauge_set(g[0], 0.25);
    mentis_gauge_add(g[0], 0.25);
    mentis_gauge_set(g[1], -3);
    mentis_gauge_set(g[2], 1e300);
    mentis_gauge_set(g[3], 5e-324);
    mentis_gauge_set(g[4], INFINITY);
    mentis_gauge_set(g[5], -INFINITY);
    mentis_gauge_set(g[6], NAN);
    mentis_gauge_set(g[7], 0.1);
    mentis_gauge_set(g[8], 123456789);
    mentis_gauge_add(g[8], -9);
    CHECK(mentis_gauge_value(g[0]) == 0.5);
    CHECK(mentis_gauge_value(g[8]) == 123456780);
    CHECK(isnan(mentis_gauge_value(g[6])));

    char *text = render(reg);
    REQUIRE(text != NULL);
    CHECK_LINE(text, "# TYPE temperature gauge");
    CHECK_LINE(text, "temperature{k=\"half\"} 0.5");
    CHECK_LINE(text, "temperature{k=\"neg\"} -3");
    CHECK_LINE(text, "temperature{k=\"big\"} 1e+300");
    /* Whatever the digits, the smallest denormal reads back exactly. */
    const char *tiny = strstr(text, "temperature{k=\"tiny\"} ");
    REQUIRE(tiny != NULL);
    CHECK(strtod(tiny + strlen("temperature{k=\"tiny\"} "), NULL) == 5e-324);
    CHECK_LINE(text, "temperature{k=\"inf\"} +Inf");
    CHECK_LINE(text, "temperature{k=\"ninf\"} -Inf");
    CHECK_LINE(text, "temperature{k=\"nan\"} NaN");
    CHECK_LINE(text, "temperature{k=\"tenth\"} 0.1");
    CHECK_LINE(text, "temperature{k=\"int\"} 123456780");
    CHECK_INT(check_exposition(text), 0);
    free(text);
    mentis_metrics_destroy(reg);
}

static void test_escaping(void)
{
    mentis_metrics_t *reg = NULL;
    REQUIRE(mentis_metrics_create(&reg) == MENTIS_OK);
    static const char *const names[] = {"path", "q", NULL};
    const char *const values[] = {"C:\\dir\\file", "say \"hi\"\nbye", NULL};
    mentis_counter_t *c = mentis_metrics_counter(
        reg, "escapes_total", "Back\\slash and\nnewline \"quoted\".", names, values);
    REQUIRE(c != NULL);
    const char *const empty[] = {"", "", NULL};
    REQUIRE(mentis_metrics_counter(reg, "escapes_total", NULL, names, empty) != NULL);
    char *text = render(reg);
    REQUIRE(text != NULL);
    /* HELP escapes backslash and newline only; label values also the double quote. */
    CHECK_LINE(text, "# HELP escapes_total Back\\\\slash and\\nnewline \"quoted\".");
    CHECK_LINE(text, "escapes_total{path=\"C:\\\\dir\\\\file\",q=\"say \\\"hi\\\"\\nbye\"} 0");
    CHECK_LINE(text, "escapes_total{path=\"\",q=\"\"} 0");
    CHECK_INT(check_exposition(text), 0);
    free(text);
    mentis_metrics_destroy(reg);
}

static void test_histogram(void)
{
    mentis_metrics_t *reg = NULL;
    REQUIRE(mentis_metrics_create(&reg) == MENTIS_OK);
    static const char *const names[] = {"route", NULL};
    const char *const values[] = {"/a", NULL};
    const double bounds[] = {0.1, 0.5, 1};
    mentis_histogram_t *h = mentis_metrics_histogram(reg, "request_duration_seconds",
                                                     "Request latency.", bounds, 3, names, values);
    REQUIRE(h != NULL);
    const double obs[] = {0.05, 0.1, 0.2, 0.5, 0.7, 2, 3, NAN};
    for (size_t i = 0; i < 7; i++)
        mentis_histogram_observe(h, obs[i]);

    const double *b = NULL;
    CHECK_INT(mentis_histogram_bounds(h, &b), 3);
    REQUIRE(b != NULL);
    CHECK(b != bounds && b[0] == 0.1 && b[2] == 1);
    uint64_t counts[4];
    double sum = 0;
    uint64_t count = 0;
    mentis_histogram_snapshot(h, counts, &sum, &count);
    /* Not cumulative: (..0.1] holds 0.05 and 0.1 (upper bounds are inclusive). */
    CHECK_INT(counts[0], 2);
    CHECK_INT(counts[1], 2);
    CHECK_INT(counts[2], 1);
    CHECK_INT(counts[3], 2);
    CHECK_INT(count, 7);
    CHECK(fabs(sum - 6.55) < 1e-12);
    mentis_histogram_snapshot(h, NULL, NULL, NULL);
    mentis_histogram_snapshot(h, NULL, NULL, &count);
    CHECK_INT(count, 7);

    char *text = render(reg);
    REQUIRE(text != NULL);
    CHECK_LINE(text, "# HELP request_duration_seconds Request latency.");
    CHECK_LINE(text, "# TYPE request_duration_seconds histogram");
    CHECK_LINE(text, "request_duration_seconds_bucket{route=\"/a\",le=\"0.1\"} 2");
    CHECK_LINE(text, "request_duration_seconds_bucket{route=\"/a\",le=\"0.5\"} 4");
    CHECK_LINE(text, "request_duration_seconds_bucket{route=\"/a\",le=\"1\"} 5");
    CHECK_LINE(text, "request_duration_seconds_bucket{route=\"/a\",le=\"+Inf\"} 7");
    CHECK_LINE(text, "request_duration_seconds_sum{route=\"/a\"} 6.55");
    CHECK_LINE(text, "request_duration_seconds_count{route=\"/a\"} 7");
    /* Buckets come in ascending order, then _sum, then _count. */
    CHECK(line_pos(text, "request_duration_seconds_bucket{route=\"/a\",le=\"0.1\"} 2") <
          line_pos(text, "request_duration_seconds_bucket{route=\"/a\",le=\"+Inf\"} 7"));
    CHECK(line_pos(text, "request_duration_seconds_bucket{route=\"/a\",le=\"+Inf\"} 7") <
          line_pos(text, "request_duration_seconds_count{route=\"/a\"} 7"));
    CHECK_INT(check_exposition(text), 0);
    free(text);

    /* NaN lands in +Inf and poisons the sum, as in the Prometheus clients. */
    mentis_histogram_observe(h, obs[7]);
    mentis_histogram_snapshot(h, counts, &sum, &count);
    CHECK_INT(counts[3], 3);
    CHECK(isnan(sum));

    /* No labels, default buckets, and a histogram with no finite bound at all. */
    mentis_histogram_t *lat =
        mentis_metrics_histogram(reg, "db_query_seconds", NULL, mentis_metrics_latency_buckets,
                                 mentis_metrics_latency_buckets_count, NULL, NULL);
    REQUIRE(lat != NULL);
    CHECK_INT(mentis_metrics_latency_buckets_count, 14);
    mentis_histogram_observe(lat, 0.003);
    mentis_histogram_t *only_inf =
        mentis_metrics_histogram(reg, "sizes", NULL, NULL, 0, NULL, NULL);
    REQUIRE(only_inf != NULL);
    mentis_histogram_observe(only_inf, 5);
    CHECK(isnan(mentis_histogram_quantile(only_inf, 0.5)));
    text = render(reg);
    REQUIRE(text != NULL);
    CHECK_LINE(text, "db_query_seconds_bucket{le=\"0.0005\"} 0");
    CHECK_LINE(text, "db_query_seconds_bucket{le=\"0.0025\"} 0");
    CHECK_LINE(text, "db_query_seconds_bucket{le=\"0.005\"} 1");
    CHECK_LINE(text, "db_query_seconds_bucket{le=\"2.5\"} 1");
    CHECK_LINE(text, "db_query_seconds_bucket{le=\"10\"} 1");
    CHECK_LINE(text, "db_query_seconds_bucket{le=\"+Inf\"} 1");
    CHECK_LINE(text, "db_query_seconds_sum 0.003");
    CHECK_LINE(text, "db_query_seconds_count 1");
    CHECK_LINE(text, "sizes_bucket{le=\"+Inf\"} 1");
    CHECK_LINE(text, "sizes_sum 5");
    CHECK_LINE(text, "sizes_count 1");
    CHECK_INT(check_exposition(text), 0);
    free(text);
    mentis_metrics_destroy(reg);
}

static void test_quantiles(void)
{
    mentis_metrics_t *reg = NULL;
    REQUIRE(mentis_metrics_create(&reg) == MENTIS_OK);
    const double bounds[] = {1, 2, 4};
    mentis_histogram_t *h = mentis_metrics_histogram(reg, "q", NULL, bounds, 3, NULL, NULL);
    REQUIRE(h != NULL);
    CHECK(isnan(mentis_histogram_quantile(h, 0.5))); /* empty */

    /* 10 in (0,1], 10 in (1,2], 20 in (2,4]: 40 in all. */
    for (int i = 0; i < 10; i++) {
        mentis_histogram_observe(h, 0.5);
        mentis_histogram_observe(h, 1.5);
        mentis_histogram_observe(h, 3);
        mentis_histogram_observe(h, 3);
    }
    CHECK(fabs(mentis_histogram_quantile(h, 0.25) - 1.0) < 1e-12);
    CHECK(fabs(mentis_histogram_quantile(h, 0.5) - 2.0) < 1e-12);
    CHECK(fabs(mentis_histogram_quantile(h, 0.75) - 3.0) < 1e-12);
    CHECK(fabs(mentis_histogram_quantile(h, 0.125) - 0.5) < 1e-12);
    CHECK(fabs(mentis_histogram_quantile(h, 1.0) - 4.0) < 1e-12);
    CHECK(fabs(mentis_histogram_quantile(h, 0.0) - 0.0) < 1e-12);
    CHECK(isinf(mentis_histogram_quantile(h, -0.1)) && mentis_histogram_quantile(h, -0.1) < 0);
    CHECK(isinf(mentis_histogram_quantile(h, 1.1)) && mentis_histogram_quantile(h, 1.1) > 0);
    CHECK(isnan(mentis_histogram_quantile(h, NAN)));
    CHECK(isnan(mentis_histogram_quantile(NULL, 0.5)));

    /* Ranks in the +Inf bucket give the last finite bound. */
    for (int i = 0; i < 60; i++)
        mentis_histogram_observe(h, 100);
    CHECK(mentis_histogram_quantile(h, 0.99) == 4.0);
    CHECK(mentis_histogram_quantile(h, 0.41) == 4.0);
    /* q = 0 is the lower edge of the lowest non-empty bucket. */
    mentis_histogram_t *high = mentis_metrics_histogram(reg, "high", NULL, bounds, 3, NULL, NULL);
    REQUIRE(high != NULL);
    mentis_histogram_observe(high, 3);
    CHECK(mentis_histogram_quantile(high, 0.0) == 2.0);
    CHECK(mentis_histogram_quantile(high, 1.0) == 4.0);

    /* A uniform distribution over (0,10] with 1-wide buckets: estimates are exact. */
    double unit[10];
    for (int i = 0; i < 10; i++)
        unit[i] = i + 1;
    mentis_histogram_t *u = mentis_metrics_histogram(reg, "uniform", NULL, unit, 10, NULL, NULL);
    REQUIRE(u != NULL);
    for (int i = 1; i <= 10000; i++)
        mentis_histogram_observe(u, i / 1000.0);
    CHECK(fabs(mentis_histogram_quantile(u, 0.5) - 5.0) < 1e-9);
    CHECK(fabs(mentis_histogram_quantile(u, 0.9) - 9.0) < 1e-9);
    CHECK(fabs(mentis_histogram_quantile(u, 0.99) - 9.9) < 1e-9);
    CHECK(fabs(mentis_histogram_quantile(u, 0.123) - 1.23) < 1e-9);

    /* Negative bounds: a rank in the first bucket returns its bound when it is <= 0. */
    const double neg[] = {-1, 0, 1};
    mentis_histogram_t *n = mentis_metrics_histogram(reg, "neg", NULL, neg, 3, NULL, NULL);
    REQUIRE(n != NULL);
    mentis_histogram_observe(n, -5);
    mentis_histogram_observe(n, 0.5);
    CHECK(mentis_histogram_quantile(n, 0.25) == -1.0);
    CHECK(fabs(mentis_histogram_quantile(n, 1.0) - 1.0) < 1e-12);
    mentis_metrics_destroy(reg);
}

struct worker {
    mentis_metrics_t *reg;
    mentis_counter_t *shared;
    int id;
    bool same_handle;
};

#define THREADS    4
#define PER_THREAD 100000

static void *work(void *arg)
{
    struct worker *w = arg;
    static const char *const names[] = {"kind", NULL};
    const char *const values[] = {"shared", NULL};
    w->same_handle = true;
    for (int i = 0; i < PER_THREAD; i++) {
        mentis_counter_inc(w->shared);
        if (i % 1000 == 0) {
            /* Lookups and creations race with updates and with each other. */
            mentis_counter_t *again =
                mentis_metrics_counter(w->reg, "ops_total", NULL, names, values);
            if (again != w->shared)
                w->same_handle = false;
            char id[32];
            snprintf(id, sizeof id, "t%d-%d", w->id, i / 1000);
            const char *const mine[] = {id, NULL};
            mentis_counter_inc(mentis_metrics_counter(w->reg, "ops_total", NULL, names, mine));
        }
        mentis_gauge_add(mentis_metrics_gauge(w->reg, "level", NULL, NULL, NULL), 0.5);
        mentis_histogram_observe(
            mentis_metrics_histogram(w->reg, "lat", NULL, mentis_metrics_latency_buckets,
                                     mentis_metrics_latency_buckets_count, NULL, NULL),
            (i % 4) * 0.01);
        if (i % 20000 == 0) {
            char *text = NULL;
            if (mentis_metrics_render(w->reg, &text, NULL) == MENTIS_OK)
                free(text);
        }
    }
    return NULL;
}

static void test_concurrency(void)
{
    mentis_metrics_t *reg = NULL;
    REQUIRE(mentis_metrics_create(&reg) == MENTIS_OK);
    static const char *const names[] = {"kind", NULL};
    const char *const values[] = {"shared", NULL};
    mentis_counter_t *shared = mentis_metrics_counter(reg, "ops_total", "Ops.", names, values);
    REQUIRE(shared != NULL);
    pthread_t th[THREADS];
    struct worker w[THREADS];
    for (int i = 0; i < THREADS; i++) {
        w[i] = (struct worker){.reg = reg, .shared = shared, .id = i};
        REQUIRE(pthread_create(&th[i], NULL, work, &w[i]) == 0);
    }
    for (int i = 0; i < THREADS; i++) {
        pthread_join(th[i], NULL);
        CHECK(w[i].same_handle);
    }
    CHECK_INT(mentis_counter_value(shared), (uint64_t)THREADS * PER_THREAD);
    CHECK(mentis_gauge_value(mentis_metrics_gauge(reg, "level", NULL, NULL, NULL)) ==
          THREADS * PER_THREAD * 0.5);
    mentis_histogram_t *lat =
        mentis_metrics_histogram(reg, "lat", NULL, mentis_metrics_latency_buckets,
                                 mentis_metrics_latency_buckets_count, NULL, NULL);
    uint64_t count = 0;
    uint64_t counts[15];
    mentis_histogram_snapshot(lat, counts, NULL, &count);
    CHECK_INT(count, (uint64_t)THREADS * PER_THREAD);
    CHECK_INT(counts[0], (uint64_t)THREADS * PER_THREAD / 4); /* the zeros */
    char *text = render(reg);
    REQUIRE(text != NULL);
    CHECK_LINE(text, "ops_total{kind=\"shared\"} 400000");
    CHECK_LINE(text, "ops_total{kind=\"t3-99\"} 1");
    CHECK_LINE(text, "lat_count 400000");
    CHECK_INT(check_exposition(text), 0);
    free(text);
    mentis_metrics_destroy(reg);
}

static void test_errors(void)
{
    mentis_metrics_t *reg = NULL;
    REQUIRE(mentis_metrics_create(&reg) == MENTIS_OK);
    static const char *const one[] = {"a", NULL};
    static const char *const two[] = {"a", "b", NULL};
    static const char *const other[] = {"x", NULL};
    const char *const v1[] = {"1", NULL};
    const char *const v2[] = {"1", "2", NULL};
    REQUIRE(mentis_metrics_counter(reg, "c_total", NULL, one, v1) != NULL);

    /* Type mismatch. */
    mentis_err_clear();
    CHECK(mentis_metrics_gauge(reg, "c_total", NULL, one, v1) == NULL);
    CHECK_INT(mentis_err_status(), MENTIS_ERR_CONFLICT);
    CHECK(strstr(mentis_err_msg(), "c_total") != NULL);
    CHECK(mentis_metrics_histogram(reg, "c_total", NULL, NULL, 0, one, v1) == NULL);
    /* Other label names, or another number of them. */
    mentis_err_clear();
    CHECK(mentis_metrics_counter(reg, "c_total", NULL, two, v2) == NULL);
    CHECK_INT(mentis_err_status(), MENTIS_ERR_CONFLICT);
    CHECK(mentis_metrics_counter(reg, "c_total", NULL, other, v1) == NULL);
    CHECK(mentis_metrics_counter(reg, "c_total", NULL, NULL, NULL) == NULL);
    /* Names and values of different lengths. */
    mentis_err_clear();
    CHECK(mentis_metrics_counter(reg, "c_total", NULL, one, v2) == NULL);
    CHECK_INT(mentis_err_status(), MENTIS_ERR_INVALID_ARGUMENT);
    CHECK(mentis_metrics_counter(reg, "c_total", NULL, two, v1) == NULL);
    CHECK(mentis_metrics_counter(reg, "new_total", NULL, one, NULL) == NULL);
    CHECK(mentis_metrics_counter(reg, "new_total", NULL, NULL, v1) == NULL);

    /* Bad metric names. */
    const char *bad_metric[] = {"", "1abc", "a-b", "a b", "é", "a.b", "a{b}"};
    for (size_t i = 0; i < sizeof bad_metric / sizeof bad_metric[0]; i++) {
        mentis_err_clear();
        CHECK_MSG(mentis_metrics_counter(reg, bad_metric[i], NULL, NULL, NULL) == NULL, "%s",
                  bad_metric[i]);
        CHECK_INT(mentis_err_status(), MENTIS_ERR_INVALID_ARGUMENT);
    }
    CHECK(mentis_metrics_gauge(reg, "ns:sub_metric9", NULL, NULL, NULL) != NULL);
    CHECK(mentis_metrics_gauge(reg, ":a", NULL, NULL, NULL) != NULL);
    CHECK(mentis_metrics_gauge(reg, "_a", NULL, NULL, NULL) != NULL);

    /* Bad label names, duplicates, and "le" on a histogram. */
    const char *bad_label[] = {"", "1a", "a-b", "__reserved", "a:b", "a b"};
    for (size_t i = 0; i < sizeof bad_label / sizeof bad_label[0]; i++) {
        const char *const names[] = {bad_label[i], NULL};
        mentis_err_clear();
        CHECK_MSG(mentis_metrics_gauge(reg, "g_bad_label", NULL, names, v1) == NULL, "%s",
                  bad_label[i]);
        CHECK_INT(mentis_err_status(), MENTIS_ERR_INVALID_ARGUMENT);
    }
    static const char *const dup[] = {"a", "a", NULL};
    CHECK(mentis_metrics_gauge(reg, "g_dup", NULL, dup, v2) == NULL);
    static const char *const le[] = {"le", NULL};
    CHECK(mentis_metrics_histogram(reg, "h_le", NULL, NULL, 0, le, v1) == NULL);
    CHECK(mentis_metrics_gauge(reg, "g_le", NULL, le, v1) != NULL); /* fine on a gauge */
    static const char *const under[] = {"_a", NULL};
    CHECK(mentis_metrics_gauge(reg, "g_under", NULL, under, v1) != NULL);

    /* Bounds: not ascending, repeated, NaN, infinite, missing; and a mismatch later. */
    const double desc[] = {1, 0.5};
    const double rep[] = {1, 1};
    const double withnan[] = {1, NAN};
    const double withinf[] = {1, INFINITY};
    CHECK(mentis_metrics_histogram(reg, "h1", NULL, desc, 2, NULL, NULL) == NULL);
    CHECK(mentis_metrics_histogram(reg, "h2", NULL, rep, 2, NULL, NULL) == NULL);
    CHECK(mentis_metrics_histogram(reg, "h3", NULL, withnan, 2, NULL, NULL) == NULL);
    CHECK(mentis_metrics_histogram(reg, "h4", NULL, withinf, 2, NULL, NULL) == NULL);
    CHECK(mentis_metrics_histogram(reg, "h5", NULL, NULL, 2, NULL, NULL) == NULL);
    const double ok[] = {1, 2};
    const double ok2[] = {1, 3};
    REQUIRE(mentis_metrics_histogram(reg, "h6", NULL, ok, 2, NULL, NULL) != NULL);
    mentis_err_clear();
    CHECK(mentis_metrics_histogram(reg, "h6", NULL, ok2, 2, NULL, NULL) == NULL);
    CHECK_INT(mentis_err_status(), MENTIS_ERR_CONFLICT);
    CHECK(mentis_metrics_histogram(reg, "h6", NULL, ok, 1, NULL, NULL) == NULL);

    /* Label values and help must be UTF-8, or Prometheus would refuse the whole scrape. */
    static const char *const lang[] = {"lang", NULL};
    const char *const good_utf8[] = {"h\xc3\xa9llo \xe2\x9c\x93 \xf0\x9f\x98\x80", NULL};
    CHECK(mentis_metrics_counter(reg, "utf8_total", "Caf\xc3\xa9.", lang, good_utf8) != NULL);
    const char *bad_utf8[] = {
        "\xff",         "a\x80",    "\xc0\xaf",         "\xe0\x80\xaf",
        "\xed\xa0\x80", "\xe2\x82", "\xf4\x90\x80\x80", "\xf8\x88\x80\x80\x80"};
    for (size_t i = 0; i < sizeof bad_utf8 / sizeof bad_utf8[0]; i++) {
        const char *const values[] = {bad_utf8[i], NULL};
        mentis_err_clear();
        CHECK_MSG(mentis_metrics_counter(reg, "utf8_total", NULL, lang, values) == NULL,
                  "bad UTF-8 %zu accepted", i);
        CHECK_INT(mentis_err_status(), MENTIS_ERR_INVALID_ARGUMENT);
    }
    CHECK(mentis_metrics_counter(reg, "bad_help_total", "\xff", NULL, NULL) == NULL);

    /* NULL registry, name or out pointer. */
    CHECK(mentis_metrics_counter(NULL, "x_total", NULL, NULL, NULL) == NULL);
    CHECK(mentis_metrics_counter(reg, NULL, NULL, NULL, NULL) == NULL);
    CHECK(mentis_metrics_render(NULL, NULL, NULL) == MENTIS_ERR_INVALID_ARGUMENT);
    CHECK(mentis_metrics_add_process(NULL) == MENTIS_ERR_INVALID_ARGUMENT);

    /* Refused calls left no trace: only the good families render, and validly. */
    char *text = render(reg);
    REQUIRE(text != NULL);
    CHECK(strstr(text, "g_bad_label") == NULL);
    CHECK(strstr(text, "h1") == NULL);
    CHECK(strstr(text, "new_total") == NULL);
    CHECK_LINE(text, "c_total{a=\"1\"} 0");
    CHECK_LINE(text, "utf8_total{lang=\"h\xc3\xa9llo \xe2\x9c\x93 \xf0\x9f\x98\x80\"} 0");
    CHECK(strstr(text, "bad_help_total") == NULL);
    CHECK_INT(check_exposition(text), 0);
    free(text);
    mentis_metrics_destroy(reg);
}

static void test_null_handles(void)
{
    mentis_counter_inc(NULL);
    mentis_counter_add(NULL, 5);
    CHECK_INT(mentis_counter_value(NULL), 0);
    mentis_gauge_set(NULL, 1);
    mentis_gauge_add(NULL, 1);
    CHECK(mentis_gauge_value(NULL) == 0.0);
    mentis_histogram_observe(NULL, 1);
    const double *b = (const double *)&b;
    CHECK_INT(mentis_histogram_bounds(NULL, &b), 0);
    uint64_t count = 7;
    double sum = 7;
    mentis_histogram_snapshot(NULL, NULL, &sum, &count);
    CHECK_INT(count, 0);
    CHECK(sum == 0.0);
}

static void test_order_and_empty(void)
{
    mentis_metrics_t *reg = NULL;
    REQUIRE(mentis_metrics_create(&reg) == MENTIS_OK);
    char *text = render(reg);
    REQUIRE(text != NULL);
    CHECK_STR(text, "");
    free(text);

    static const char *const names[] = {"n", NULL};
    const char *const z[] = {"z", NULL};
    const char *const a[] = {"a", NULL};
    REQUIRE(mentis_metrics_gauge(reg, "zeta", "Z.", names, z) != NULL);
    REQUIRE(mentis_metrics_counter(reg, "alpha_total", "A.", NULL, NULL) != NULL);
    REQUIRE(mentis_metrics_gauge(reg, "zeta", NULL, names, a) != NULL);
    text = render(reg);
    REQUIRE(text != NULL);
    CHECK_STR(text, "# HELP zeta Z.\n"
                    "# TYPE zeta gauge\n"
                    "zeta{n=\"z\"} 0\n"
                    "zeta{n=\"a\"} 0\n"
                    "# HELP alpha_total A.\n"
                    "# TYPE alpha_total counter\n"
                    "alpha_total 0\n");
    free(text);
    mentis_metrics_destroy(reg);
}

static void test_series_cap(void)
{
    mentis_metrics_t *reg = NULL;
    REQUIRE(mentis_metrics_create(&reg) == MENTIS_OK);
    static const char *const names[] = {"id", NULL};
    char id[16];
    const char *const values[] = {id, NULL};
    int made = 0;
    for (int i = 0; i < MENTIS_METRICS_MAX_SERIES; i++) {
        snprintf(id, sizeof id, "%d", i);
        if (mentis_metrics_counter(reg, "many_total", NULL, names, values) != NULL)
            made++;
    }
    CHECK_INT(made, MENTIS_METRICS_MAX_SERIES);
    snprintf(id, sizeof id, "one-more");
    mentis_err_clear();
    CHECK(mentis_metrics_counter(reg, "many_total", NULL, names, values) == NULL);
    CHECK_INT(mentis_err_status(), MENTIS_ERR_NO_MEMORY);
    /* Existing series are still found, and every one is a distinct handle. */
    snprintf(id, sizeof id, "%d", 1234);
    mentis_counter_t *c = mentis_metrics_counter(reg, "many_total", NULL, names, values);
    REQUIRE(c != NULL);
    mentis_counter_add(c, 7);
    snprintf(id, sizeof id, "%d", 1235);
    CHECK_INT(mentis_counter_value(mentis_metrics_counter(reg, "many_total", NULL, names, values)),
              0);
    char *text = render(reg);
    REQUIRE(text != NULL);
    CHECK_LINE(text, "many_total{id=\"1234\"} 7");
    CHECK_LINE(text, "many_total{id=\"9999\"} 0");
    free(text);
    mentis_metrics_destroy(reg);
}

static void test_render_cap(void)
{
    mentis_metrics_t *reg = NULL;
    REQUIRE(mentis_metrics_create(&reg) == MENTIS_OK);
    /* 10000 series with 7000-byte values would render to about 70 MB, over the 64 MiB cap. */
    static const char *const names[] = {"v", NULL};
    enum { VALUE_LEN = 7000 };
    char *value = malloc(VALUE_LEN + 1);
    REQUIRE(value != NULL);
    memset(value, 'x', VALUE_LEN);
    value[VALUE_LEN] = '\0';
    const char *const values[] = {value, NULL};
    int made = 0;
    for (int i = 0; i < MENTIS_METRICS_MAX_SERIES; i++) {
        char num[16];
        snprintf(num, sizeof num, "%015d", i);
        memcpy(value, num, 15); /* a distinct prefix; the rest stays 'x' */
        if (mentis_metrics_gauge(reg, "wide", NULL, names, values) != NULL)
            made++;
    }
    free(value);
    CHECK_INT(made, MENTIS_METRICS_MAX_SERIES);
    char sentinel[] = "untouched";
    char *text = sentinel;
    size_t len = 42;
    mentis_err_clear();
    CHECK(mentis_metrics_render(reg, &text, &len) == MENTIS_ERR_NO_MEMORY);
    CHECK(strstr(mentis_err_msg(), "cap") != NULL);
    CHECK(text == sentinel);
    CHECK_INT(len, 42);
    mentis_metrics_destroy(reg);
}

static void test_process(void)
{
    mentis_metrics_t *reg = NULL;
    REQUIRE(mentis_metrics_create(&reg) == MENTIS_OK);
    REQUIRE(mentis_metrics_add_process(reg) == MENTIS_OK);
    CHECK(mentis_metrics_add_process(reg) == MENTIS_OK); /* again: a no-op */
    mentis_counter_inc(mentis_metrics_counter(reg, "after_total", NULL, NULL, NULL));

    /* The computed families cannot be updated as ordinary series. */
    mentis_err_clear();
    CHECK(mentis_metrics_gauge(reg, "process_threads", NULL, NULL, NULL) == NULL);
    CHECK_INT(mentis_err_status(), MENTIS_ERR_CONFLICT);
    CHECK(mentis_metrics_counter(reg, "process_cpu_seconds_total", NULL, NULL, NULL) == NULL);

    /* Burn a little CPU so the counter is not stuck at its start. */
    volatile double x = 0;
    for (int i = 0; i < 3000000; i++)
        x += i * 0.5;
    CHECK(x > 0);

    char *text = render(reg);
    REQUIRE(text != NULL);
    CHECK_LINE(text, "# TYPE process_cpu_seconds_total counter");
    CHECK_LINE(text, "# TYPE process_resident_memory_bytes gauge");
    CHECK_LINE(text, "# TYPE process_virtual_memory_bytes gauge");
    CHECK_LINE(text, "# TYPE process_open_fds gauge");
    CHECK_LINE(text, "# TYPE process_start_time_seconds gauge");
    CHECK_LINE(text, "# TYPE process_threads gauge");
    CHECK_LINE(text, "after_total 1");
    CHECK_INT(check_exposition(text), 0);

    double rss = sample_value(text, "process_resident_memory_bytes");
    double vsize = sample_value(text, "process_virtual_memory_bytes");
    double cpu = sample_value(text, "process_cpu_seconds_total");
    double fds = sample_value(text, "process_open_fds");
    double start = sample_value(text, "process_start_time_seconds");
    double threads = sample_value(text, "process_threads");
    CHECK_MSG(rss > 1e5, "rss %g", rss);
    CHECK_MSG(vsize >= rss, "vsize %g rss %g", vsize, rss);
    CHECK_MSG(cpu >= 0 && cpu < 1e6, "cpu %g", cpu);
    CHECK_MSG(fds >= 3 && fds < 1e6, "fds %g", fds); /* at least stdin, stdout, stderr */
    double now = (double)time(NULL);
    CHECK_MSG(start > now - 3600 && start <= now + 2, "start %f now %f", start, now);
    CHECK_MSG(threads >= 1 && threads < 1000, "threads %g", threads);
    free(text);

    /* A descriptor more shows up in the next render. */
    text = render(reg);
    REQUIRE(text != NULL);
    double fds_before = sample_value(text, "process_open_fds");
    free(text);
    FILE *f = fopen("/proc/self/stat", "r");
    REQUIRE(f != NULL);
    text = render(reg);
    REQUIRE(text != NULL);
    CHECK_MSG(sample_value(text, "process_open_fds") == fds_before + 1, "fds %g then %g",
              fds_before, sample_value(text, "process_open_fds"));
    free(text);
    fclose(f);
    mentis_metrics_destroy(reg);

    /* A name already taken makes add_process fail with a conflict. */
    REQUIRE(mentis_metrics_create(&reg) == MENTIS_OK);
    REQUIRE(mentis_metrics_gauge(reg, "process_threads", NULL, NULL, NULL) != NULL);
    CHECK(mentis_metrics_add_process(reg) == MENTIS_ERR_CONFLICT);
    mentis_metrics_destroy(reg);
}

TEST_MAIN(test_counter_render, test_gauge_values, test_escaping, test_histogram, test_quantiles,
          test_concurrency, test_errors, test_null_handles, test_order_and_empty, test_series_cap,
          test_render_cap, test_process)
