/*
 * mentis-gateway: the only public listener. Starts like every mentis process — settings,
 * logs, metrics, admin port, NATS — then serves HTTP until SIGTERM/SIGINT and drains.
 */
#include <signal.h>
#include <stdio.h>
#include <string.h>

#include "gateway.h"
#include "mentis/process.h"
#include "mentis/admin.h"
#include "mentis/crypto.h"
#include "mentis/log.h"

static void usage(FILE *out)
{
    fprintf(out,
            "mentis-gateway %s: the public HTTP edge of mentis\n\n"
            "usage: mentis-gateway [--help | --version | --config]\n\n"
            "Runs until SIGTERM or SIGINT. Configured by MENTIS_* environment variables;\n"
            "--config lists them. GET /api/openapi.json describes every route.\n"
            "Admin endpoints: /healthz /readyz /metrics.\n",
            MENTIS_VERSION);
}

static bool admin_ready(void *arg, char *why, size_t size)
{
    return gw_server_ready(arg, why, size);
}

int main(int argc, char **argv)
{
    bool describe = false;
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0) {
            usage(stdout);
            return 0;
        } else if (strcmp(argv[i], "--version") == 0) {
            printf("mentis-gateway %s\n", MENTIS_VERSION);
            return 0;
        } else if (strcmp(argv[i], "--config") == 0) {
            describe = true;
        } else {
            fprintf(stderr, "mentis-gateway: unknown argument \"%s\"\n", argv[i]);
            usage(stderr);
            return 2;
        }
    }

    /* Signals are taken by the main thread only (sigwait); every thread inherits the mask. */
    sigset_t signals;
    sigemptyset(&signals);
    sigaddset(&signals, SIGTERM);
    sigaddset(&signals, SIGINT);
    pthread_sigmask(SIG_BLOCK, &signals, NULL);
    signal(SIGPIPE, SIG_IGN);

    int rc = 1;
    gw_settings_t settings = {0};
    gw_server_t srv = {
        .settings = &settings, .listen_fd = -1, .wake_mu = PTHREAD_MUTEX_INITIALIZER};
    mentis_config_t *cfg = NULL;
    mentis_metrics_t *metrics = NULL;
    mentis_admin_t *admin = NULL;
    mentis_srv_api_t *srvapi = NULL;
    mentis_srv_info_t info = {0};
    int64_t started_ms = mentis_bus_now_ms();
    int64_t t0 = gw_now_ns();

    if (mentis_config_create(NULL, NULL, &cfg) != MENTIS_OK) {
        fprintf(stderr, "mentis-gateway: %s\n", mentis_err_msg());
        return 1;
    }
    gw_settings_read(cfg, &settings);
    if (describe) {
        mentis_config_describe(cfg, stdout);
        mentis_config_destroy(cfg);
        return 0;
    }
    if (mentis_config_check(cfg) != MENTIS_OK) {
        fprintf(stderr, "mentis-gateway: refusing to start: bad configuration:\n%s\n",
                mentis_err_msg());
        mentis_config_destroy(cfg);
        return 2;
    }
    if (mentis_crypto_init() != MENTIS_OK)
        goto fail;
    mentis_process_start("gateway", &settings.proc);
    const char *instance_id = settings.proc.instance_id;

    if (mentis_metrics_create(&metrics) != MENTIS_OK ||
        mentis_metrics_add_process(metrics) != MENTIS_OK ||
        gw_observe_create(metrics, &srv.observe) != MENTIS_OK)
        goto fail;

    mentis_admin_options_t ao = {.addr = settings.proc.admin_addr,
                                 .port = settings.proc.admin_port,
                                 .metrics = metrics,
                                 .ready = admin_ready,
                                 .ready_arg = &srv};
    if (mentis_admin_start(&ao, &admin) != MENTIS_OK)
        goto fail;

    if (mentis_bus_dispatch_create(gw_server_wake, &srv, &srv.dispatch) != MENTIS_OK)
        goto fail;
    mentis_bus_options_t bo = settings.proc.bus;
    bo.name = "mentis-gateway";
    bo.loop_mode = true; /* the lws thread drives the socket once it runs (server.c) */
    if (mentis_bus_connect(&bo, &srv.bus) != MENTIS_OK)
        goto fail;
    if (gw_discovery_create(srv.bus, metrics, &srv.discovery) != MENTIS_OK)
        goto fail;
    if (gw_limits_create(&settings, metrics, &srv.limits) != MENTIS_OK ||
        gw_access_create(&srv, metrics, &srv.access) != MENTIS_OK)
        goto fail;
    if (gw_server_listen(&srv) != MENTIS_OK)
        goto fail;

    size_t nendpoints = 0;
    const mentis_srv_endpoint_t *endpoints = gw_observe_endpoints(srv.observe, &nendpoints);
    info = (mentis_srv_info_t){"gateway",  instance_id, MENTIS_VERSION, "the public HTTP edge",
                               started_ms, endpoints,   nendpoints};
    if (mentis_srv_api_start(srv.bus, &info, &srvapi) != MENTIS_OK)
        goto fail;
    if (gw_server_start(&srv) != MENTIS_OK)
        goto fail;
    atomic_store(&srv.started, true);

    mentis_log_info("ready in %.1f ms: HTTP on %s:%d, admin on %s:%d, instance %s",
                    (double)(gw_now_ns() - t0) / 1e6, settings.addr, settings.port,
                    settings.proc.admin_addr, mentis_admin_port(admin), instance_id);
    int sig = 0;
    sigwait(&signals, &sig);
    mentis_log_info("%s: stopping", sig == SIGINT ? "SIGINT" : "SIGTERM");
    rc = 0;
    goto out;

fail:
    mentis_log_error("start-up failed: %s", mentis_err_msg());
    fprintf(stderr, "mentis-gateway: %s\n", mentis_err_msg());
    rc = 1;
out:
    /* The order matters: HTTP first (its requests use the bus), subscriptions before the
     * bus, the bus before its dispatch queue. */
    gw_server_drain(&srv);
    mentis_srv_api_stop(srvapi);
    gw_server_close(&srv);
    mentis_admin_stop(admin);
    gw_discovery_stop(srv.discovery);
    gw_discovery_destroy(srv.discovery);
    gw_access_stop(srv.access);
    mentis_bus_close(srv.bus);
    mentis_bus_dispatch_destroy(srv.dispatch);
    gw_access_destroy(srv.access);
    gw_limits_destroy(srv.limits);
    gw_observe_destroy(srv.observe);
    mentis_metrics_destroy(metrics);
    mentis_config_destroy(cfg);
    if (rc == 0)
        mentis_log_info("stopped");
    return rc;
}
