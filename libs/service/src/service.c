/* The life of a service process: configure, connect, migrate, serve, drain. */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "mentis/admin.h"
#include "mentis/crypto.h"
#include "mentis/log.h"
#include "mentis/process.h"
#include "mentis/v1/common.pb-c.h"
#include "service_internal.h"

#ifndef MENTIS_SOURCE_DIR
#define MENTIS_SOURCE_DIR "."
#endif

struct settings {
    mentis_process_settings_t proc; /* NATS, admin, logging, instance id, grace */
    int workers, mailbox, message_memory_mb;
    const char *db_url;
    int db_pool, db_statement_timeout_ms;
    const char *migrations_dir;
    char default_migrations[512];
};

static void read_settings(mentis_service_t *svc, mentis_config_t *cfg, struct settings *s)
{
    const mentis_service_def_t *def = svc->def;
    mentis_process_settings_read(cfg, def->default_admin_port, &s->proc);
    s->workers = (int)mentis_config_int(cfg, "MENTIS_WORKERS", 4, 1, 256, "worker threads");
    s->mailbox = (int)mentis_config_int(cfg, "MENTIS_MAILBOX_SIZE", 64, 1, 65536,
                                        "messages each worker may hold before load is shed");
    s->message_memory_mb = (int)mentis_config_int(cfg, "MENTIS_MESSAGE_MEMORY_MB", 16, 1, 1024,
                                                  "memory cap of one message's pool, MiB");
    if (def->schema != NULL) {
        s->db_url = mentis_config_secret(cfg, "MENTIS_DATABASE_URL", NULL,
                                         "PostgreSQL URL for this service's role (required)");
        if (s->db_url == NULL || s->db_url[0] == '\0')
            mentis_config_fail(cfg, "MENTIS_DATABASE_URL",
                               "required: a PostgreSQL URL for role mentis_%s (or MENTIS_DATABASE_URL_FILE)",
                               def->name);
        s->db_pool = (int)mentis_config_int(cfg, "MENTIS_DB_POOL_SIZE", 4, 1, 64,
                                            "PostgreSQL connections kept by this process");
        s->db_statement_timeout_ms = (int)mentis_config_int(cfg, "MENTIS_DB_STATEMENT_TIMEOUT_MS", 5000, 0,
                                                            600000, "statement timeout, ms (0: none)");
        s->migrations_dir = mentis_config_str(cfg, "MENTIS_MIGRATIONS_DIR", NULL,
                                              "folder of this service's SQL migrations (default: "
                                              "services/<name>/migrations of the source tree when "
                                              "it exists, else /usr/share/mentis/migrations/<name>)");
        if (s->migrations_dir == NULL) {
            struct stat st;
            snprintf(s->default_migrations, sizeof s->default_migrations,
                     "%s/services/%s/migrations", MENTIS_SOURCE_DIR, def->name);
            if (stat(s->default_migrations, &st) != 0)
                snprintf(s->default_migrations, sizeof s->default_migrations,
                         "/usr/share/mentis/migrations/%s", def->name);
            s->migrations_dir = s->default_migrations;
        }
    }
}

static bool is_ready(void *arg, char *why, size_t size)
{
    mentis_service_t *svc = arg;
    if (atomic_load(&svc->draining)) {
        snprintf(why, size, "shutting down");
        return false;
    }
    if (!atomic_load(&svc->ready)) {
        snprintf(why, size, "starting");
        return false;
    }
    if (!mentis_bus_connected(svc->bus)) {
        snprintf(why, size, "not connected to NATS");
        return false;
    }
    return true;
}

static void usage(const mentis_service_def_t *def, FILE *out)
{
    fprintf(out,
            "mentis-%s %s: %s\n\n"
            "usage: mentis-%s [--help | --version | --config]\n\n"
            "Runs until SIGTERM or SIGINT. Configured by MENTIS_* environment variables;\n"
            "--config lists them. Admin endpoints: /healthz /readyz /metrics.\n",
            def->name, MENTIS_VERSION, def->description, def->name);
}

/* Waits up to ms for SIGTERM/SIGINT (blocked in every thread); true when one came. */
static bool wait_signal(int ms)
{
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGTERM);
    sigaddset(&set, SIGINT);
    if (ms < 0) {
        int sig = 0;
        sigwait(&set, &sig);
        return true;
    }
    struct timespec ts = {.tv_sec = ms / 1000, .tv_nsec = (long)(ms % 1000) * 1000000};
    return sigtimedwait(&set, NULL, &ts) > 0;
}

static mentis_status_t build_ops(mentis_service_t *svc)
{
    static const mentis_op_t health = {"health", &mentis__v1__health_request__descriptor,
                                       &mentis__v1__health_response__descriptor, mentis__health, 0};
    const mentis_service_def_t *def = svc->def;
    svc->nops = def->nops + 1;
    svc->ops = calloc(svc->nops, sizeof *svc->ops);
    svc->endpoints = calloc(svc->nops, sizeof *svc->endpoints);
    if (svc->ops == NULL || svc->endpoints == NULL)
        return mentis_err_set(MENTIS_ERR_NO_MEMORY, NULL, "service: out of memory");
    size_t nendpoints = 0;
    for (size_t i = 0; i < svc->nops; i++) {
        struct op_entry *e = &svc->ops[i];
        e->op = i < def->nops ? def->ops[i] : health;
        e->svc = svc;
        if (e->op.flags & MENTIS_OP_EVENT)
            snprintf(e->subject, sizeof e->subject, "%s", e->op.op);
        else
            snprintf(e->subject, sizeof e->subject, MENTIS_SUBJECT_PREFIX "%s.%s", def->name,
                     e->op.op);
        const char *names[] = {"op", NULL};
        const char *values[] = {e->op.op, NULL};
        e->requests = mentis_metrics_counter(svc->metrics, "mentis_rpc_requests_total",
                                             "Requests handled, by operation", names, values);
        e->errors = mentis_metrics_counter(svc->metrics, "mentis_rpc_errors_total",
                                           "Requests answered with an error, by operation", names, values);
        e->duration = mentis_metrics_histogram(svc->metrics, "mentis_rpc_duration_seconds",
                                               "Time from taking a request to replying, by operation",
                                               mentis_metrics_latency_buckets,
                                               mentis_metrics_latency_buckets_count, names, values);
        if (e->requests == NULL || e->errors == NULL || e->duration == NULL)
            return mentis_err_wrap(MENTIS_ERR_INTERNAL, "metrics for %s", e->op.op);
        mentis_srv_last_error_init(&e->last_error);
        if (!(e->op.flags & MENTIS_OP_EVENT)) /* consumed events are no endpoints */
            svc->endpoints[nendpoints++] = (mentis_srv_endpoint_t){
                e->op.op, e->subject, def->name, e->duration, e->errors, &e->last_error};
    }
    svc->srv_info = (mentis_srv_info_t){def->name, svc->instance_id, MENTIS_VERSION, def->description,
                                        svc->started_ms, svc->endpoints, nendpoints};
    return MENTIS_OK;
}

static mentis_status_t migrate_until_done(mentis_service_t *svc, const struct settings *s, bool *stopped)
{
    /* PostgreSQL may come up after us (compose, Kubernetes): keep trying, not ready meanwhile. */
    for (int attempt = 1;; attempt++) {
        mentis_status_t st = mentis_db_migrate(svc->db, svc->def->schema, s->migrations_dir,
                                               &svc->schema_version);
        if (st == MENTIS_OK) {
            mentis_log_info("schema %s at version %d", svc->def->schema, svc->schema_version);
            return MENTIS_OK;
        }
        if (st != MENTIS_ERR_UNAVAILABLE)
            return st; /* a broken migration will not fix itself */
        mentis_log_warn("migrations: %s (attempt %d; retrying)", mentis_err_msg(), attempt);
        if (wait_signal(attempt < 10 ? 200 * attempt : 2000)) {
            *stopped = true;
            return MENTIS_OK;
        }
    }
}

int mentis_service_main(const mentis_service_def_t *def, int argc, char **argv)
{
    bool describe = false;
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0) {
            usage(def, stdout);
            return 0;
        } else if (strcmp(argv[i], "--version") == 0) {
            printf("mentis-%s %s\n", def->name, MENTIS_VERSION);
            return 0;
        } else if (strcmp(argv[i], "--config") == 0) {
            describe = true;
        } else {
            fprintf(stderr, "mentis-%s: unknown argument \"%s\"\n", def->name, argv[i]);
            usage(def, stderr);
            return 2;
        }
    }

    /* Signals are taken by the main thread only (sigwait); every thread inherits the mask. */
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGTERM);
    sigaddset(&set, SIGINT);
    pthread_sigmask(SIG_BLOCK, &set, NULL);
    signal(SIGPIPE, SIG_IGN);

    int rc = 1;
    mentis_service_t svc_ = {.def = def};
    mentis_service_t *svc = &svc_;
    struct settings s = {0};
    mentis_config_t *cfg = NULL;
    svc->started_ms = mentis_bus_now_ms();
    struct timespec t0;
    clock_gettime(CLOCK_MONOTONIC, &t0);

    if (mentis_config_create(NULL, NULL, &cfg) != MENTIS_OK) {
        fprintf(stderr, "mentis-%s: %s\n", def->name, mentis_err_msg());
        return 1;
    }
    read_settings(svc, cfg, &s);
    mentis_status_t st = def->configure ? def->configure(svc, cfg) : MENTIS_OK;
    if (describe) {
        mentis_config_describe(cfg, stdout);
        mentis_config_destroy(cfg);
        if (def->stop)
            def->stop(svc);
        return 0;
    }
    if (st == MENTIS_OK)
        st = mentis_config_check(cfg);
    if (st != MENTIS_OK) {
        fprintf(stderr, "mentis-%s: refusing to start: bad configuration:\n%s\n", def->name, mentis_err_msg());
        rc = 2;
        goto out;
    }
    if (mentis_crypto_init() != MENTIS_OK) {
        fprintf(stderr, "mentis-%s: %s\n", def->name, mentis_err_msg());
        goto out;
    }
    mentis_process_start(def->name, &s.proc);
    snprintf(svc->instance_id, sizeof svc->instance_id, "%s", s.proc.instance_id);
    if (mentis_metrics_create(&svc->metrics) != MENTIS_OK || mentis_metrics_add_process(svc->metrics) != MENTIS_OK)
        goto fail;
    svc->shed = mentis_metrics_counter(svc->metrics, "mentis_rpc_shed_total",
                                       "Requests refused at once because the work queue was full", NULL, NULL);
    svc->inflight = mentis_metrics_gauge(svc->metrics, "mentis_rpc_in_flight",
                                         "Requests being handled right now", NULL, NULL);
    if (build_ops(svc) != MENTIS_OK)
        goto fail;

    mentis_admin_options_t ao = {.addr = s.proc.admin_addr, .port = s.proc.admin_port, .metrics = svc->metrics,
                                 .ready = is_ready, .ready_arg = svc};
    if (mentis_admin_start(&ao, &svc->admin) != MENTIS_OK)
        goto fail;

    char conn_name[64];
    snprintf(conn_name, sizeof conn_name, "mentis-%s", def->name);
    mentis_bus_options_t bo = s.proc.bus;
    bo.name = conn_name;
    bo.loop_mode = true; /* see "Sending replies" in docs/internals/service-runtime.md */
    if (mentis_bus_connect(&bo, &svc->bus) != MENTIS_OK)
        goto fail;

    if (def->schema != NULL) {
        mentis_db_options_t dbo = {.url = s.db_url, .size = s.db_pool,
                                   .statement_timeout_ms = s.db_statement_timeout_ms,
                                   .application_name = conn_name};
        if (mentis_db_open(&dbo, &svc->db) != MENTIS_OK)
            goto fail;
        bool stopped = false;
        if (migrate_until_done(svc, &s, &stopped) != MENTIS_OK)
            goto fail;
        if (stopped) {
            rc = 0;
            goto out;
        }
    }

    if (mentis__workers_start(svc, (size_t)s.workers, (size_t)s.mailbox,
                              (size_t)s.message_memory_mb * 1024 * 1024) != MENTIS_OK)
        goto fail;
    if (def->start && def->start(svc) != MENTIS_OK)
        goto fail;
    for (size_t i = 0; i < svc->nops; i++)
        if (mentis_bus_subscribe(svc->bus, svc->ops[i].subject, def->name, mentis__op_receive,
                                 &svc->ops[i], &svc->ops[i].sub) != MENTIS_OK)
            goto fail;
    if (mentis_srv_api_start(svc->bus, &svc->srv_info, &svc->srv) != MENTIS_OK)
        goto fail;
    atomic_store(&svc->ready, true);
    struct timespec t1;
    clock_gettime(CLOCK_MONOTONIC, &t1);
    mentis_log_info("ready in %.1f ms: %zu operations on " MENTIS_SUBJECT_PREFIX "%s.*, admin on %s:%d, instance %s",
                    (double)(t1.tv_sec - t0.tv_sec) * 1e3 + (double)(t1.tv_nsec - t0.tv_nsec) / 1e6,
                    svc->nops, def->name, s.proc.admin_addr, mentis_admin_port(svc->admin), svc->instance_id);

    wait_signal(-1);
    mentis_log_info("draining: no new messages, finishing those in hand (up to %d ms)", s.proc.grace_ms);
    atomic_store(&svc->draining, true);
    rc = 0;
    goto out;

fail:
    mentis_log_error("start-up failed: %s", mentis_err_msg());
    fprintf(stderr, "mentis-%s: %s\n", def->name, mentis_err_msg());
    rc = 1;
out:
    atomic_store(&svc->draining, true);
    /* Stop intake first (draining what NATS already delivered), then let workers finish. */
    for (size_t i = 0; svc->ops && i < svc->nops; i++) {
        mentis_bus_unsubscribe(svc->ops[i].sub, true, s.proc.grace_ms);
        svc->ops[i].sub = NULL;
    }
    if (svc->nworkers && !mentis__workers_idle_wait(svc, s.proc.grace_ms))
        mentis_log_warn("grace period over with work left; answering it unavailable");
    mentis__workers_stop(svc);
    mentis_srv_api_stop(svc->srv);
    if (def->stop)
        def->stop(svc);
    mentis_db_close(svc->db);
    mentis_bus_close(svc->bus);
    mentis_admin_stop(svc->admin);
    for (size_t i = 0; svc->ops && i < svc->nops; i++)
        mentis_srv_last_error_destroy(&svc->ops[i].last_error);
    free(svc->ops);
    free(svc->endpoints);
    mentis_metrics_destroy(svc->metrics);
    mentis_config_destroy(cfg);
    if (rc == 0)
        mentis_log_info("stopped");
    return rc;
}

void mentis_service_set_app(mentis_service_t *svc, void *app)
{
    svc->app = app;
}

void *mentis_service_app(const mentis_service_t *svc)
{
    return svc->app;
}

mentis_bus_t *mentis_service_bus(mentis_service_t *svc)
{
    return svc->bus;
}

mentis_metrics_t *mentis_service_metrics(mentis_service_t *svc)
{
    return svc->metrics;
}

mentis_db_t *mentis_service_db(mentis_service_t *svc)
{
    return svc->db;
}

const char *mentis_service_instance_id(const mentis_service_t *svc)
{
    return svc->instance_id;
}
