/*
 * JSON-lines logging: one object per line on stderr, e.g.
 *   {"ts":"2026-11-23T10:20:00.123Z","level":"info","svc":"kb","request_id":"…","msg":"…"}
 *
 * Errors are always written; successful requests are logged only when
 * mentis_log_sample() says so (the rate comes from MENTIS_LOG_SAMPLE). The request id and
 * trace id of the message being handled are per thread (mentis_log_bind), so every line
 * written while handling it carries them without threading them through every call.
 * Safe to call from any thread; one write(2) per line, so lines never interleave.
 */
#ifndef MENTIS_LOG_H
#define MENTIS_LOG_H

#include <stdbool.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef enum {
    MENTIS_LOG_DEBUG = 0,
    MENTIS_LOG_INFO,
    MENTIS_LOG_WARN,
    MENTIS_LOG_ERROR,
} mentis_log_level_t;

/*
 * Sets the process-wide service name ("gateway", "kb"; copied), the lowest level written
 * and the fraction (0..1) of successes mentis_log_sample() keeps. Call once at start-up,
 * before other threads log.
 */
void mentis_log_init(const char *svc, mentis_log_level_t min_level, double sample_rate);

/* Parses "debug", "info", "warn", "error"; returns false on anything else. */
bool mentis_log_level_parse(const char *s, mentis_log_level_t *out);

/*
 * Binds a request id and a W3C traceparent (either may be NULL) to this thread until the
 * next call; mentis_log_bind(NULL, NULL) unbinds. The strings are copied (cut at 127 bytes).
 */
void mentis_log_bind(const char *request_id, const char *traceparent);

/* True for the configured fraction of calls: whether to log one more success. */
bool mentis_log_sample(void);

/* Writes one line at `level` with a printf-style message. */
void mentis_log(mentis_log_level_t level, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/*
 * Writes one line with extra string fields: `kv` is a NULL-terminated list of alternating
 * keys and values ("route", "/api/health", "status", "200", NULL). Values are escaped.
 */
void mentis_log_kv(mentis_log_level_t level, const char *msg, const char *const *kv);

#define mentis_log_debug(...) mentis_log(MENTIS_LOG_DEBUG, __VA_ARGS__)
#define mentis_log_info(...)  mentis_log(MENTIS_LOG_INFO, __VA_ARGS__)
#define mentis_log_warn(...)  mentis_log(MENTIS_LOG_WARN, __VA_ARGS__)
#define mentis_log_error(...) mentis_log(MENTIS_LOG_ERROR, __VA_ARGS__)

#ifdef __cplusplus
}
#endif
#endif
