/*
 * Configuration from MENTIS_* environment variables.
 *
 * A process reads every setting through one mentis_config_t: each getter returns the
 * value (or the default) and records a problem naming the variable when the value is bad,
 * so start-up reports every bad setting at once and refuses to start:
 *
 *   mentis_config_t *cfg;
 *   mentis_config_create(NULL, NULL, &cfg);
 *   int port = (int)mentis_config_int(cfg, "MENTIS_GATEWAY_PORT", 8766, 1, 65535,
 *                                     "public HTTP port");
 *   if (mentis_config_check(cfg) != MENTIS_OK) { fprintf(stderr, "%s\n", mentis_err_msg()); exit(2); }
 *
 * Secrets (mentis_config_secret) may instead be given as <NAME>_FILE, the path of a file
 * holding the value (one trailing newline is dropped); giving both is a problem.
 * Every variable read is remembered with its default and help, so `--config` can print
 * the table the documentation is built from.
 */
#ifndef MENTIS_CONFIG_H
#define MENTIS_CONFIG_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#include "mentis/status.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct mentis_config mentis_config_t;

/* Looks a variable up: returns its value or NULL when unset. getenv by default. */
typedef const char *(*mentis_config_lookup_fn)(void *arg, const char *name);

/*
 * Creates a configuration reader. `lookup` may be NULL for the process environment.
 * *out is written only on success; destroy with mentis_config_destroy.
 */
mentis_status_t mentis_config_create(mentis_config_lookup_fn lookup, void *arg,
                                     mentis_config_t **out);

/* Frees the reader and every string it returned. NULL is a no-op. */
void mentis_config_destroy(mentis_config_t *cfg);

/* A string; empty values count as set. The result is owned by cfg. */
const char *mentis_config_str(mentis_config_t *cfg, const char *name, const char *def,
                              const char *help);

/* A secret from NAME or NAME_FILE (not both). Never echoed in problems or --config. */
const char *mentis_config_secret(mentis_config_t *cfg, const char *name, const char *def,
                                 const char *help);

/* A decimal integer within [min, max]. */
int64_t mentis_config_int(mentis_config_t *cfg, const char *name, int64_t def, int64_t min,
                          int64_t max, const char *help);

/* A number within [min, max]. */
double mentis_config_double(mentis_config_t *cfg, const char *name, double def, double min,
                            double max, const char *help);

/* true/false, 1/0, yes/no, on/off (any case). */
bool mentis_config_bool(mentis_config_t *cfg, const char *name, bool def, const char *help);

/* One of `choices` (a NULL-terminated list); returns the matching entry of choices. */
const char *mentis_config_enum(mentis_config_t *cfg, const char *name, const char *def,
                               const char *const *choices, const char *help);

/* Records a problem found by the caller (e.g. an unsafe production setting). */
void mentis_config_fail(mentis_config_t *cfg, const char *name, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/*
 * MENTIS_OK when no problem was recorded; otherwise MENTIS_ERR_INVALID_ARGUMENT with every
 * problem, one per line, in the error context ("MENTIS_GATEWAY_PORT: expected an integer
 * from 1 to 65535, got \"http\"").
 */
mentis_status_t mentis_config_check(mentis_config_t *cfg);

/* Writes the variables read so far as a Markdown table (name, default, description). */
void mentis_config_describe(const mentis_config_t *cfg, FILE *out);

#ifdef __cplusplus
}
#endif
#endif
