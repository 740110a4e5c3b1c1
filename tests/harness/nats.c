/* A private nats-server with JetStream on loopback. */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "harness_private.h"

static const char *nats_binary(void)
{
    const char *bin = getenv("MENTIS_NATS_SERVER");
    return bin != NULL && bin[0] != '\0' ? bin : "nats-server";
}

/*
 * The settings every mentis nats-server runs with (scripts/stack.sh writes the same):
 * messages up to 8 MiB, so a whole curriculum or question pack fits in one request.
 */
static const char default_config[] = "max_payload: 8MB\n";

static int write_default_config(const char *path)
{
    FILE *f = fopen(path, "w");
    if (f == NULL)
        return -1;
    bool ok = fputs(default_config, f) >= 0;
    return fclose(f) == 0 && ok ? 0 : -1;
}

/* Starts the process on n->port / n->monitor_port with the store in n->dir. */
static int launch(h_nats_t *n)
{
    char port[16], mport[16], store[H_PATH_SIZE + 8], log[H_PATH_SIZE + 16];
    char conf[H_PATH_SIZE + 16];
    snprintf(port, sizeof port, "%d", n->port);
    snprintf(mport, sizeof mport, "%d", n->monitor_port);
    snprintf(store, sizeof store, "%s/js", n->dir);
    snprintf(log, sizeof log, "%s/nats.log", n->dir);
    const char *argv[16] = {nats_binary(), "-a",  "127.0.0.1", "-p",  port,
                            "-m",          mport, "-js",       "-sd", store};
    int argc = 10;
    snprintf(conf, sizeof conf, "%s/nats.conf", n->dir);
    if (n->config == NULL && write_default_config(conf) != 0)
        return -1;
    argv[argc++] = "-c";
    argv[argc++] = n->config != NULL ? n->config : conf;
    argv[argc] = NULL;
    n->pid = h__spawn_as(argv, NULL, log, NULL, SIGKILL);
    if (n->pid < 0) {
        n->pid = 0;
        return -1;
    }
    h__track_pid(n->slot_ - 1, n->pid);

    /* Ready when the client port accepts connections; give up early if it died. */
    long long deadline = h_now_ms() + 10000;
    while (h_now_ms() < deadline) {
        if (waitpid(n->pid, NULL, WNOHANG) == n->pid) {
            fprintf(stderr, "harness: nats-server exited at start\n");
            n->pid = 0;
            h__track_pid(n->slot_ - 1, 0);
            h__print_log_tail(log);
            return -1;
        }
        if (h__port_open(n->port, 200))
            return 0;
        h_sleep_ms(20);
    }
    fprintf(stderr, "harness: nats-server not ready on port %d after 10 s\n", n->port);
    h__print_log_tail(log);
    h__stop_pid(n->pid, SIGKILL, 1000);
    n->pid = 0;
    h__track_pid(n->slot_ - 1, 0);
    return -1;
}

int h_nats_start(h_nats_t *n)
{
    n->pid = 0;
    n->slot_ = 0;
    n->port = h_free_port();
    n->monitor_port = h_free_port();
    if (n->port < 0 || n->monitor_port < 0 || n->port == n->monitor_port)
        return -1;
    snprintf(n->url, sizeof n->url, "nats://127.0.0.1:%d", n->port);
    if (h__mkdtemp("mentis-nats", n->dir, sizeof n->dir) != 0)
        return -1;
    n->slot_ = h__track(0, SIGTERM, n->dir) + 1;
    if (n->slot_ == 0 || launch(n) != 0) {
        h_nats_stop(n);
        return -1;
    }
    return 0;
}

int h_nats_stop(h_nats_t *n)
{
    if (n->slot_ == 0)
        return 0;
    h__stop_pid(n->pid, SIGTERM, 10000);
    n->pid = 0;
    h__rm_rf(n->dir);
    h__untrack(n->slot_ - 1);
    n->slot_ = 0;
    return 0;
}

int h_nats_kill(h_nats_t *n)
{
    if (n->pid <= 0)
        return -1;
    h__stop_pid(n->pid, SIGKILL, 5000);
    n->pid = 0;
    h__track_pid(n->slot_ - 1, 0);
    return 0;
}

int h_nats_restart(h_nats_t *n)
{
    if (n->slot_ == 0)
        return -1;
    if (n->pid > 0) {
        h__stop_pid(n->pid, SIGTERM, 10000);
        n->pid = 0;
        h__track_pid(n->slot_ - 1, 0);
    }
    return launch(n);
}
