#include "mentis/log.h"

#include <stdarg.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

/* Written once by mentis_log_init before other threads start; read-only afterwards. */
static char svc_name[32] = "mentis";
static mentis_log_level_t min_level = MENTIS_LOG_INFO;
static uint32_t sample_threshold = UINT32_MAX; /* keep a success when draw < threshold */
static atomic_uint_fast64_t sample_state = 0x9E3779B97F4A7C15u;

static _Thread_local char bound_request_id[128];
static _Thread_local char bound_traceparent[128];

static const char *const level_names[] = {"debug", "info", "warn", "error"};

void mentis_log_init(const char *svc, mentis_log_level_t level, double rate)
{
    snprintf(svc_name, sizeof svc_name, "%s", svc ? svc : "mentis");
    min_level = level;
    if (rate <= 0.0)
        sample_threshold = 0;
    else if (rate >= 1.0)
        sample_threshold = UINT32_MAX;
    else
        sample_threshold = (uint32_t)(rate * (double)UINT32_MAX);
}

bool mentis_log_level_parse(const char *s, mentis_log_level_t *out)
{
    for (int i = 0; i < 4; i++) {
        if (s != NULL && strcmp(s, level_names[i]) == 0) {
            *out = (mentis_log_level_t)i;
            return true;
        }
    }
    return false;
}

void mentis_log_bind(const char *request_id, const char *traceparent)
{
    snprintf(bound_request_id, sizeof bound_request_id, "%s", request_id ? request_id : "");
    snprintf(bound_traceparent, sizeof bound_traceparent, "%s", traceparent ? traceparent : "");
}

bool mentis_log_sample(void)
{
    if (sample_threshold == UINT32_MAX)
        return true;
    if (sample_threshold == 0)
        return false;
    /* splitmix64 over a shared atomic counter: cheap, lock-free, good enough to sample. */
    uint64_t z = atomic_fetch_add(&sample_state, 0x9E3779B97F4A7C15u);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9u;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBu;
    z ^= z >> 31;
    return (uint32_t)(z >> 32) < sample_threshold;
}

/* A line is built in a fixed buffer; what does not fit is cut, never overflowed. */
struct line {
    char buf[4096];
    size_t len;
};

static void put_raw(struct line *l, const char *s, size_t n)
{
    size_t room = sizeof l->buf - 2 - l->len; /* keep room for "}\n" */
    if (n > room)
        n = room;
    memcpy(l->buf + l->len, s, n);
    l->len += n;
}

static void put_str(struct line *l, const char *s)
{
    put_raw(l, s, strlen(s));
}

static void put_escaped(struct line *l, const char *s)
{
    static const char hex[] = "0123456789abcdef";
    for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
        char esc[7];
        size_t n;
        switch (*p) {
        case '"': n = 2; memcpy(esc, "\\\"", 2); break;
        case '\\': n = 2; memcpy(esc, "\\\\", 2); break;
        case '\n': n = 2; memcpy(esc, "\\n", 2); break;
        case '\r': n = 2; memcpy(esc, "\\r", 2); break;
        case '\t': n = 2; memcpy(esc, "\\t", 2); break;
        default:
            if (*p < 0x20) {
                memcpy(esc, "\\u00", 4);
                esc[4] = hex[*p >> 4];
                esc[5] = hex[*p & 15];
                n = 6;
            } else {
                esc[0] = (char)*p;
                n = 1;
            }
        }
        put_raw(l, esc, n);
    }
}

static void put_field(struct line *l, const char *key, const char *value)
{
    put_str(l, ",\"");
    put_escaped(l, key);
    put_str(l, "\":\"");
    put_escaped(l, value);
    put_str(l, "\"");
}

static void begin(struct line *l, mentis_log_level_t level)
{
    struct timespec ts;
    struct tm tm;
    char when[40];
    clock_gettime(CLOCK_REALTIME, &ts);
    gmtime_r(&ts.tv_sec, &tm);
    size_t n = strftime(when, sizeof when, "%Y-%m-%dT%H:%M:%S", &tm);
    snprintf(when + n, sizeof when - n, ".%03ldZ", ts.tv_nsec / 1000000);
    l->len = 0;
    put_str(l, "{\"ts\":\"");
    put_str(l, when);
    put_str(l, "\",\"level\":\"");
    put_str(l, level_names[level]);
    put_str(l, "\"");
    put_field(l, "svc", svc_name);
    if (bound_request_id[0])
        put_field(l, "request_id", bound_request_id);
    if (bound_traceparent[0])
        put_field(l, "traceparent", bound_traceparent);
}

static void finish(struct line *l)
{
    l->buf[l->len++] = '}';
    l->buf[l->len++] = '\n';
    /* One write per line: concurrent lines never interleave. Errors are ignored. */
    ssize_t rc = write(STDERR_FILENO, l->buf, l->len);
    (void)rc;
}

void mentis_log(mentis_log_level_t level, const char *fmt, ...)
{
    if (level < min_level || level > MENTIS_LOG_ERROR)
        return;
    struct line l;
    char msg[2048];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    begin(&l, level);
    put_field(&l, "msg", msg);
    finish(&l);
}

void mentis_log_kv(mentis_log_level_t level, const char *msg, const char *const *kv)
{
    if (level < min_level || level > MENTIS_LOG_ERROR)
        return;
    struct line l;
    begin(&l, level);
    put_field(&l, "msg", msg ? msg : "");
    for (size_t i = 0; kv != NULL && kv[i] != NULL && kv[i + 1] != NULL; i += 2)
        put_field(&l, kv[i], kv[i + 1]);
    finish(&l);
}
