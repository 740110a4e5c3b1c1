/*
 * The clean-up registry: every server, spawned process and temporary directory a test
 * made, stopped and removed at exit or on a fatal signal, so a failing test leaves no
 * postgres or nats-server behind. The registry copies pids and paths, so it never points
 * into a test's stack.
 */
#include <errno.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "harness_private.h"

#define MAX_ENTRIES 128

static struct entry {
    bool used;
    pid_t pid;    /* 0: no process */
    int stop_sig; /* how to ask it to stop */
    char dir[H_PATH_SIZE];
} entries[MAX_ENTRIES];

static pid_t owner; /* the test process; forked children must not clean up */

/* Asks every process to stop, waits a bounded time, then removes the directories. */
static void cleanup_all(void)
{
    if (owner == 0 || getpid() != owner)
        return;
    for (int i = 0; i < MAX_ENTRIES; i++)
        if (entries[i].used && entries[i].pid > 0)
            kill(entries[i].pid, entries[i].stop_sig ? entries[i].stop_sig : SIGTERM);
    for (int i = 0; i < MAX_ENTRIES; i++) {
        if (entries[i].used && entries[i].pid > 0)
            h__stop_pid(entries[i].pid, entries[i].stop_sig ? entries[i].stop_sig : SIGTERM, 5000);
        entries[i].pid = 0;
    }
    for (int i = 0; i < MAX_ENTRIES; i++) {
        if (entries[i].used && entries[i].dir[0] != '\0')
            h__rm_rf(entries[i].dir);
        entries[i].used = false;
    }
}

/*
 * Runs the clean-up, then dies of the same signal. kill, waitpid, nanosleep, fork and
 * execve are async-signal-safe; the process is ending anyway, so this is good enough.
 */
static void on_signal(int sig)
{
    cleanup_all();
    signal(sig, SIG_DFL);
    raise(sig);
}

static void install(void)
{
    if (owner != 0)
        return;
    owner = getpid();
    atexit(cleanup_all);
    h__sweep_stale();
    static const int sigs[] = {SIGINT, SIGTERM, SIGHUP, SIGABRT};
    for (size_t i = 0; i < sizeof sigs / sizeof sigs[0]; i++) {
        struct sigaction sa;
        memset(&sa, 0, sizeof sa);
        sa.sa_handler = on_signal;
        sigemptyset(&sa.sa_mask);
        sa.sa_flags = SA_RESETHAND;
        sigaction(sigs[i], &sa, NULL);
    }
}

int h__track(pid_t pid, int stop_sig, const char *dir)
{
    install();
    for (int i = 0; i < MAX_ENTRIES; i++) {
        if (!entries[i].used) {
            entries[i].used = true;
            entries[i].pid = pid;
            entries[i].stop_sig = stop_sig;
            snprintf(entries[i].dir, sizeof entries[i].dir, "%s", dir ? dir : "");
            return i;
        }
    }
    fprintf(stderr, "harness: clean-up registry full\n");
    return -1;
}

void h__track_pid(int slot, pid_t pid)
{
    if (slot >= 0 && slot < MAX_ENTRIES)
        entries[slot].pid = pid;
}

void h__untrack(int slot)
{
    if (slot >= 0 && slot < MAX_ENTRIES)
        memset(&entries[slot], 0, sizeof entries[slot]);
}

int h__slot_of_pid(pid_t pid)
{
    for (int i = 0; i < MAX_ENTRIES; i++)
        if (entries[i].used && entries[i].pid == pid)
            return i;
    return -1;
}
