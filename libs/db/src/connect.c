/* Making one connection: parameters from the options, and a connect bounded by a deadline. */
#include <errno.h>
#include <limits.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "internal.h"
#include "mentis/log.h"

int64_t mentis__db_now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static mentis_status_t add_param(mentis_db_t *db, int *n, const char *key, const char *value)
{
    char *k = strdup(key), *v = strdup(value);
    if (k == NULL || v == NULL) {
        free(k);
        free(v);
        return mentis_err_set(MENTIS_ERR_NO_MEMORY, NULL, "database options: out of memory");
    }
    db->keywords[*n] = k;
    db->values[*n] = v;
    (*n)++;
    return MENTIS_OK;
}

mentis_status_t mentis__db_params(mentis_db_t *db, const mentis_db_options_t *opts)
{
    char *parse_error = NULL;
    PQconninfoOption *parsed = PQconninfoParse(opts->url, &parse_error);
    if (parsed == NULL) {
        mentis_status_t st =
            parse_error
                ? mentis_err_set(MENTIS_ERR_INVALID_ARGUMENT, NULL,
                                 "database url is not a libpq URL or conninfo: %s", parse_error)
                : mentis_err_set(MENTIS_ERR_NO_MEMORY, NULL, "database url: out of memory");
        PQfreemem(parse_error);
        return st;
    }
    mentis_status_t st = MENTIS_OK;
    int count = 0;
    for (PQconninfoOption *o = parsed; o->keyword != NULL; o++)
        count++;
    /* The url's own parameters, keepalives, application_name, options; NULL-terminated. */
    db->keywords = calloc((size_t)count + 6, sizeof *db->keywords);
    db->values = calloc((size_t)count + 6, sizeof *db->values);
    if (db->keywords == NULL || db->values == NULL) {
        st = mentis_err_set(MENTIS_ERR_NO_MEMORY, NULL, "database options: out of memory");
        goto out;
    }
    int n = 0;
    const char *url_app = NULL, *url_options = NULL;
    for (PQconninfoOption *o = parsed; o->keyword != NULL && st == MENTIS_OK; o++) {
        if (o->val == NULL)
            continue;
        if (strcmp(o->keyword, "application_name") == 0)
            url_app = o->val;
        else if (strcmp(o->keyword, "options") == 0)
            url_options = o->val;
        else
            st = add_param(db, &n, o->keyword, o->val);
    }
    if (st != MENTIS_OK)
        goto out;
    /*
     * TCP keepalives unless the url says otherwise: a query waiting on a server that
     * vanished (host down, network cut) fails in about 25 s instead of the kernel's hours.
     */
    static const char *const keepalive[][2] = {
        {"keepalives_idle", "10"}, {"keepalives_interval", "5"}, {"keepalives_count", "3"}};
    for (size_t i = 0; i < sizeof keepalive / sizeof keepalive[0] && st == MENTIS_OK; i++) {
        bool given = false;
        for (int k = 0; k < n && !given; k++)
            given = strcmp(db->keywords[k], keepalive[i][0]) == 0;
        if (!given)
            st = add_param(db, &n, keepalive[i][0], keepalive[i][1]);
    }
    if (st != MENTIS_OK)
        goto out;
    const char *app = opts->application_name ? opts->application_name
                      : url_app              ? url_app
                                             : "mentis";
    if ((st = add_param(db, &n, "application_name", app)) != MENTIS_OK)
        goto out;
    /* Sent in the startup packet: every statement on every connection is bounded. */
    char options[1024];
    int len = snprintf(options, sizeof options, "%s", url_options ? url_options : "");
    if (opts->statement_timeout_ms > 0)
        len = snprintf(options, sizeof options, "%s%s-c statement_timeout=%d",
                       url_options ? url_options : "", url_options ? " " : "",
                       opts->statement_timeout_ms);
    if (len < 0 || (size_t)len >= sizeof options) {
        st = mentis_err_set(MENTIS_ERR_INVALID_ARGUMENT, NULL, "database url: options too long");
        goto out;
    }
    if (options[0] != '\0')
        st = add_param(db, &n, "options", options);
out:
    PQconninfoFree(parsed);
    return st;
}

void mentis__db_params_free(mentis_db_t *db)
{
    for (int i = 0; db->keywords != NULL && db->keywords[i] != NULL; i++)
        free(db->keywords[i]);
    for (int i = 0; db->values != NULL && db->values[i] != NULL; i++)
        free(db->values[i]);
    free(db->keywords);
    free(db->values);
    db->keywords = NULL;
    db->values = NULL;
}

/*
 * Server notices go to our log rather than libpq's default, stderr. The message of a
 * server closing an idle session (a restart) also arrives here, as a FATAL notice, often
 * before libpq has seen the end of the stream: the flag lets the pool drop it at once.
 */
static void on_notice(void *arg, const PGresult *res)
{
    bool *fatal_seen = arg;
    const char *severity = PQresultErrorField(res, PG_DIAG_SEVERITY_NONLOCALIZED);
    const char *msg = PQresultErrorField(res, PG_DIAG_MESSAGE_PRIMARY);
    bool loud =
        severity != NULL && (strcmp(severity, "WARNING") == 0 || strcmp(severity, "ERROR") == 0 ||
                             strcmp(severity, "FATAL") == 0 || strcmp(severity, "PANIC") == 0);
    if (severity != NULL && (strcmp(severity, "FATAL") == 0 || strcmp(severity, "PANIC") == 0))
        *fatal_seen = true;
    mentis_log(loud ? MENTIS_LOG_WARN : MENTIS_LOG_DEBUG, "postgresql %s: %s",
               severity ? severity : "NOTICE", msg ? msg : "");
}

/* libpq's multi-line message on one line, without the trailing newline. */
static void one_line(const char *in, char *out, size_t size)
{
    size_t j = 0;
    bool space = false;
    for (size_t i = 0; in != NULL && in[i] != '\0' && j + 1 < size; i++) {
        char c = in[i];
        if (c == '\n' || c == '\t' || c == '\r') {
            space = j > 0;
            continue;
        }
        if (space && j + 2 < size)
            out[j++] = ' ';
        space = false;
        out[j++] = c;
    }
    out[j] = '\0';
}

mentis_status_t mentis__db_connect(mentis_db_t *db, int64_t deadline_ms, bool *fatal_seen,
                                   PGconn **out)
{
    PGconn *pg =
        PQconnectStartParams((const char *const *)db->keywords, (const char *const *)db->values, 0);
    if (pg == NULL)
        return mentis_err_set(MENTIS_ERR_NO_MEMORY, NULL, "postgresql: out of memory");
    bool timed_out = false;
    /*
     * The non-blocking handshake: libpq says which way it waits, we poll with what is left
     * of the deadline. It starts as if PQconnectPoll had answered "writing".
     */
    PostgresPollingStatusType state =
        PQstatus(pg) == CONNECTION_BAD ? PGRES_POLLING_FAILED : PGRES_POLLING_WRITING;
    while (state != PGRES_POLLING_OK) {
        if (state == PGRES_POLLING_FAILED || PQsocket(pg) < 0)
            goto fail;
        int64_t left = deadline_ms - mentis__db_now_ms();
        if (left <= 0) {
            timed_out = true;
            goto fail;
        }
        struct pollfd p = {.fd = PQsocket(pg),
                           .events = state == PGRES_POLLING_READING ? POLLIN : POLLOUT};
        int ready = poll(&p, 1, left > INT_MAX ? INT_MAX : (int)left);
        if (ready < 0 && errno != EINTR)
            goto fail;
        if (ready <= 0)
            continue;
        state = PQconnectPoll(pg);
    }
    PQsetNoticeReceiver(pg, on_notice, fatal_seen);
    *out = pg;
    return MENTIS_OK;
fail:;
    char reason[400];
    if (timed_out)
        snprintf(reason, sizeof reason, "no connection before the deadline");
    else
        one_line(PQerrorMessage(pg), reason, sizeof reason);
    mentis_err_set(MENTIS_ERR_UNAVAILABLE, NULL, "postgresql at %s:%s unavailable: %s",
                   PQhost(pg) ? PQhost(pg) : "?", PQport(pg) ? PQport(pg) : "?", reason);
    PQfinish(pg);
    return MENTIS_ERR_UNAVAILABLE;
}
