/*
 * mentis status codes and error context.
 *
 * Every fallible function returns a mentis_status_t; results come back through
 * out-parameters, last. Where a failure happens, record what failed and with which input
 * (mentis_err_set); as it rises, callers may wrap it (mentis_err_wrap). The context is
 * per thread, so a worker's error never mixes with another's.
 */
#ifndef MENTIS_STATUS_H
#define MENTIS_STATUS_H

#include <stdarg.h>

#ifdef __cplusplus
extern "C" {
#endif

/* Each status maps to one HTTP status and one stable machine code (see status.c). */
typedef enum {
    MENTIS_OK = 0,
    MENTIS_ERR_INVALID_ARGUMENT,    /* 400 invalid_argument */
    MENTIS_ERR_UNAUTHENTICATED,     /* 401 unauthenticated */
    MENTIS_ERR_PERMISSION_DENIED,   /* 403 permission_denied */
    MENTIS_ERR_NOT_FOUND,           /* 404 not_found */
    MENTIS_ERR_METHOD_NOT_ALLOWED,  /* 405 method_not_allowed */
    MENTIS_ERR_CONFLICT,            /* 409 conflict */
    MENTIS_ERR_PRECONDITION_FAILED, /* 412 precondition_failed */
    MENTIS_ERR_TOO_LARGE,           /* 413 payload_too_large */
    MENTIS_ERR_RATE_LIMITED,        /* 429 rate_limited */
    MENTIS_ERR_QUOTA_EXCEEDED,      /* 429 quota_exceeded */
    MENTIS_ERR_INTERNAL,            /* 500 internal */
    MENTIS_ERR_NO_MEMORY,           /* 500 internal: an allocation or a hard cap failed */
    MENTIS_ERR_IO,                  /* 500 internal: a system call or peer failed */
    MENTIS_ERR_UNAVAILABLE,         /* 503 unavailable: overloaded, dependency down, draining */
    MENTIS_ERR_DEADLINE_EXCEEDED,   /* 504 deadline_exceeded */
    MENTIS_STATUS_COUNT_
} mentis_status_t;

/* The stable snake_case machine code of a status ("not_found"). Never NULL. */
const char *mentis_status_str(mentis_status_t st);

/* The HTTP status a status becomes at the edge (404 for MENTIS_ERR_NOT_FOUND). */
int mentis_status_http(mentis_status_t st);

/*
 * The status for an HTTP status number (used to read Nats-Service-Error-Code).
 * Unknown 4xx become MENTIS_ERR_INVALID_ARGUMENT, unknown 5xx MENTIS_ERR_INTERNAL.
 */
mentis_status_t mentis_status_from_http(int http);

/* The status for a machine code ("not_found"), or MENTIS_ERR_INTERNAL when unknown. */
mentis_status_t mentis_status_from_str(const char *code);

/*
 * Records the error of this thread: its status, an optional machine code more precise
 * than the status's own (e.g. "email_exists" for MENTIS_ERR_CONFLICT; NULL for the
 * default), and a printf-style human message. Returns st so call sites can write
 * `return mentis_err_set(...)`. Messages longer than 511 bytes are cut.
 */
mentis_status_t mentis_err_set(mentis_status_t st, const char *code, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* As mentis_err_set with a va_list. */
__attribute__((format(printf, 3, 0))) mentis_status_t mentis_err_vset(mentis_status_t st, const char *code, const char *fmt,
                                va_list ap);

/*
 * Prefixes the current message with more context ("loading pack 42: " + old message)
 * and returns st. When no error is recorded, st becomes the recorded status.
 */
mentis_status_t mentis_err_wrap(mentis_status_t st, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

/* The recorded message of this thread, "" when none. Valid until the next mentis_err_*. */
const char *mentis_err_msg(void);

/* The recorded machine code: the explicit one, else that of the recorded status. */
const char *mentis_err_code(void);

/* The recorded status, MENTIS_OK when none. */
mentis_status_t mentis_err_status(void);

/* Forgets the error of this thread. */
void mentis_err_clear(void);

#ifdef __cplusplus
}
#endif
#endif
