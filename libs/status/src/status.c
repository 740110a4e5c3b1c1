#include "mentis/status.h"

#include <stdio.h>
#include <string.h>

struct status_info {
    const char *code;
    int http;
};

static const struct status_info infos[MENTIS_STATUS_COUNT_] = {
    [MENTIS_OK] = {"ok", 200},
    [MENTIS_ERR_INVALID_ARGUMENT] = {"invalid_argument", 400},
    [MENTIS_ERR_UNAUTHENTICATED] = {"unauthenticated", 401},
    [MENTIS_ERR_PERMISSION_DENIED] = {"permission_denied", 403},
    [MENTIS_ERR_NOT_FOUND] = {"not_found", 404},
    [MENTIS_ERR_METHOD_NOT_ALLOWED] = {"method_not_allowed", 405},
    [MENTIS_ERR_CONFLICT] = {"conflict", 409},
    [MENTIS_ERR_PRECONDITION_FAILED] = {"precondition_failed", 412},
    [MENTIS_ERR_TOO_LARGE] = {"payload_too_large", 413},
    [MENTIS_ERR_RATE_LIMITED] = {"rate_limited", 429},
    [MENTIS_ERR_QUOTA_EXCEEDED] = {"quota_exceeded", 429},
    [MENTIS_ERR_INTERNAL] = {"internal", 500},
    [MENTIS_ERR_NO_MEMORY] = {"internal", 500},
    [MENTIS_ERR_IO] = {"internal", 500},
    [MENTIS_ERR_UNAVAILABLE] = {"unavailable", 503},
    [MENTIS_ERR_DEADLINE_EXCEEDED] = {"deadline_exceeded", 504},
};

const char *mentis_status_str(mentis_status_t st)
{
    if ((unsigned)st >= MENTIS_STATUS_COUNT_)
        return "internal";
    return infos[st].code;
}

int mentis_status_http(mentis_status_t st)
{
    if ((unsigned)st >= MENTIS_STATUS_COUNT_)
        return 500;
    return infos[st].http;
}

mentis_status_t mentis_status_from_http(int http)
{
    if (http >= 200 && http < 300)
        return MENTIS_OK;
    /* The first status with that number is the canonical one. */
    for (int i = 1; i < MENTIS_STATUS_COUNT_; i++)
        if (infos[i].http == http)
            return (mentis_status_t)i;
    if (http >= 400 && http < 500)
        return MENTIS_ERR_INVALID_ARGUMENT;
    return MENTIS_ERR_INTERNAL;
}

mentis_status_t mentis_status_from_str(const char *code)
{
    if (code == NULL)
        return MENTIS_ERR_INTERNAL;
    for (int i = 0; i < MENTIS_STATUS_COUNT_; i++)
        if (strcmp(infos[i].code, code) == 0)
            return (mentis_status_t)i;
    return MENTIS_ERR_INTERNAL;
}

/* Per-thread error context. */
static _Thread_local struct {
    mentis_status_t status;
    char code[64];
    char msg[512];
} err;

mentis_status_t mentis_err_vset(mentis_status_t st, const char *code, const char *fmt, va_list ap)
{
    err.status = st;
    snprintf(err.code, sizeof err.code, "%s", code ? code : "");
    vsnprintf(err.msg, sizeof err.msg, fmt, ap);
    return st;
}

mentis_status_t mentis_err_set(mentis_status_t st, const char *code, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    mentis_err_vset(st, code, fmt, ap);
    va_end(ap);
    return st;
}

mentis_status_t mentis_err_wrap(mentis_status_t st, const char *fmt, ...)
{
    char prefix[256];
    char old[sizeof err.msg];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(prefix, sizeof prefix, fmt, ap);
    va_end(ap);
    memcpy(old, err.msg, sizeof old);
    /* prefix + ": " + old, cut to the buffer; built by hand so the cut is explicit. */
    size_t n = strnlen(prefix, sizeof prefix);
    if (n > sizeof err.msg - 1)
        n = sizeof err.msg - 1;
    memcpy(err.msg, prefix, n);
    if (old[0] != '\0') {
        const char *parts[] = {": ", old};
        for (int i = 0; i < 2; i++) {
            size_t len = strlen(parts[i]);
            size_t room = sizeof err.msg - 1 - n;
            if (len > room)
                len = room;
            memcpy(err.msg + n, parts[i], len);
            n += len;
        }
    }
    err.msg[n] = '\0';
    if (err.status == MENTIS_OK)
        err.status = st;
    return st;
}

const char *mentis_err_msg(void)
{
    return err.msg;
}

const char *mentis_err_code(void)
{
    if (err.code[0] != '\0')
        return err.code;
    return mentis_status_str(err.status);
}

mentis_status_t mentis_err_status(void)
{
    return err.status;
}

void mentis_err_clear(void)
{
    err.status = MENTIS_OK;
    err.code[0] = '\0';
    err.msg[0] = '\0';
}
