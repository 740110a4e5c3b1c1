/* Shared by the harness's own files; tests include harness.h only. */
#ifndef MENTIS_TEST_HARNESS_PRIVATE_H
#define MENTIS_TEST_HARNESS_PRIVATE_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

#include "harness.h"

/* Who a child runs as: the test's own user, or postgres when the test runs as root. */
typedef struct {
    bool switch_user;
    uid_t uid;
    gid_t gid;
} h__user_t;

/* The user servers that refuse root (PostgreSQL) run as. */
int h__server_user(h__user_t *out);

/*
 * Spawns a child as `user` (NULL: unchanged) whose parent-death signal is `death_sig`
 * (0: none). Not registered for clean-up; see h__track.
 */
pid_t h__spawn_as(const char *const argv[], const char *const env[], const char *log_path,
                  const h__user_t *user, int death_sig);

/* Spawns, waits up to timeout_ms and returns the exit code (-1 on timeout, killed). */
int h__run(const char *const argv[], const char *const env[], const char *log_path,
           const h__user_t *user, int timeout_ms);

/*
 * The clean-up registry. An entry holds a pid to stop with `stop_sig` (0: none) and a
 * directory to remove (NULL: none). Returns the entry's index or -1 when full.
 */
int h__track(pid_t pid, int stop_sig, const char *dir);
void h__track_pid(int slot, pid_t pid); /* the process of an entry changed (restart) */
void h__untrack(int slot);
int h__slot_of_pid(pid_t pid); /* -1 when not registered */

/* Sends sig and waits up to timeout_ms, then SIGKILLs and reaps. */
void h__stop_pid(pid_t pid, int sig, int timeout_ms);

/* A new directory <$TMPDIR or /tmp>/<prefix>-XXXXXX, not registered for clean-up. */
int h__mkdtemp(const char *prefix, char *buf, size_t size);

/* Removes temporary directories left by test processes that no longer exist. */
void h__sweep_stale(void);

/* rm -rf dir (refuses "" and "/"). */
int h__rm_rf(const char *dir);

/* The source and build directories (environment first, then those of this build). */
const char *h__source_dir(void);
const char *h__build_dir(void);

/* Prints the last lines of a log file on stderr, to show why a server did not start. */
void h__print_log_tail(const char *path);

/* `bytes` random bytes as lowercase hex into out (2 * bytes + 1). */
int h__random_hex(char *out, size_t bytes);

/* True when a TCP connection to 127.0.0.1:port succeeds within timeout_ms. */
bool h__port_open(int port, int timeout_ms);

#endif
