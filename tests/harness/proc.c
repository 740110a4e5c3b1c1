/* Child processes: spawn (optionally as another user), wait, kill. */
#define _DEFAULT_SOURCE /* setgroups */
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <pwd.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "harness_private.h"

extern char **environ;

long long h_now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

void h_sleep_ms(int ms)
{
    struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};
    while (nanosleep(&ts, &ts) != 0 && errno == EINTR) {
    }
}

int h__server_user(h__user_t *out)
{
    memset(out, 0, sizeof *out);
    if (geteuid() != 0)
        return 0;
    struct passwd *pw = getpwnam("postgres");
    if (pw == NULL) {
        fprintf(stderr, "harness: running as root but there is no user 'postgres' to run "
                        "PostgreSQL as\n");
        return -1;
    }
    out->switch_user = true;
    out->uid = pw->pw_uid;
    out->gid = pw->pw_gid;
    return 0;
}

/* Finds an executable in PATH; everything here runs in the parent, before fork. */
static int resolve(const char *name, char *out, size_t size)
{
    if (strchr(name, '/') != NULL) {
        snprintf(out, size, "%s", name);
        return access(out, X_OK) == 0 ? 0 : -1;
    }
    const char *path = getenv("PATH");
    char dirs[4096];
    snprintf(dirs, sizeof dirs, "%s:/usr/sbin:/sbin", path ? path : "/usr/bin:/bin");
    for (char *dir = dirs, *next; dir != NULL; dir = next) {
        next = strchr(dir, ':');
        if (next != NULL)
            *next++ = '\0';
        if (*dir == '\0')
            continue;
        int n = snprintf(out, size, "%s/%s", dir, name);
        if (n > 0 && (size_t)n < size && access(out, X_OK) == 0)
            return 0;
    }
    return -1;
}

/* environ with `extra` overriding same-named entries; the array is malloc'ed, not strings. */
static char **merge_env(const char *const extra[])
{
    size_t n_env = 0, n_extra = 0;
    while (environ[n_env] != NULL)
        n_env++;
    while (extra != NULL && extra[n_extra] != NULL)
        n_extra++;
    char **out = calloc(n_env + n_extra + 1, sizeof *out);
    if (out == NULL)
        return NULL;
    size_t k = 0;
    for (size_t i = 0; i < n_env; i++) {
        const char *eq = strchr(environ[i], '=');
        size_t klen = eq ? (size_t)(eq - environ[i]) : strlen(environ[i]);
        int overridden = 0;
        for (size_t j = 0; j < n_extra && !overridden; j++)
            overridden = strncmp(extra[j], environ[i], klen) == 0 && extra[j][klen] == '=';
        if (!overridden)
            out[k++] = environ[i];
    }
    for (size_t j = 0; j < n_extra; j++)
        out[k++] = (char *)(uintptr_t)extra[j]; /* execve's prototype is not const-correct */
    return out;
}

pid_t h__spawn_as(const char *const argv[], const char *const env[], const char *log_path,
                  const h__user_t *user, int death_sig)
{
    char path[1024];
    if (resolve(argv[0], path, sizeof path) != 0) {
        fprintf(stderr, "harness: cannot find executable %s\n", argv[0]);
        return -1;
    }
    char **envp = merge_env(env);
    if (envp == NULL)
        return -1;
    int null_fd = open("/dev/null", O_RDONLY | O_CLOEXEC);
    int log_fd = -1;
    if (log_path != NULL) {
        log_fd = open(log_path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
        if (log_fd < 0) {
            fprintf(stderr, "harness: cannot open %s: %s\n", log_path, strerror(errno));
            if (null_fd >= 0)
                close(null_fd);
            free(envp);
            return -1;
        }
        if (user != NULL && user->switch_user && fchown(log_fd, user->uid, user->gid) != 0) {
            /* Only matters for reading the log as that user; not a reason to fail. */
        }
    }
    pid_t parent = getpid();
    pid_t pid = fork();
    if (pid == 0) {
        /* In the child: async-signal-safe calls only (the test may have threads). */
        if (null_fd >= 0)
            dup2(null_fd, 0);
        if (log_fd >= 0) {
            dup2(log_fd, 1);
            dup2(log_fd, 2);
        }
        if (user != NULL && user->switch_user) {
            if (setgroups(1, &user->gid) != 0 || setgid(user->gid) != 0 || setuid(user->uid) != 0)
                _exit(126);
        }
        /* Set after the user switch, which clears it. */
        if (death_sig != 0 && (prctl(PR_SET_PDEATHSIG, death_sig) != 0 || getppid() != parent))
            _exit(125);
        execve(path, (char *const *)(uintptr_t)argv, envp);
        _exit(127);
    }
    int saved = errno;
    if (null_fd >= 0)
        close(null_fd);
    if (log_fd >= 0)
        close(log_fd);
    free(envp);
    if (pid < 0) {
        fprintf(stderr, "harness: fork: %s\n", strerror(saved));
        return -1;
    }
    return pid;
}

pid_t h_spawn(const char *const argv[], const char *const env[], const char *log_path)
{
    pid_t pid = h__spawn_as(argv, env, log_path, NULL, SIGKILL);
    if (pid > 0 && h__track(pid, SIGTERM, NULL) < 0) {
        h__stop_pid(pid, SIGKILL, 1000);
        return -1;
    }
    return pid;
}

int h_wait_exit(pid_t pid, int timeout_ms)
{
    long long deadline = h_now_ms() + timeout_ms;
    for (;;) {
        int status = 0;
        pid_t r = waitpid(pid, &status, WNOHANG);
        if (r == pid) {
            int slot = h__slot_of_pid(pid);
            if (slot >= 0)
                h__untrack(slot);
            if (WIFEXITED(status))
                return WEXITSTATUS(status);
            if (WIFSIGNALED(status))
                return 128 + WTERMSIG(status);
            return -1;
        }
        if (r < 0 && errno != EINTR)
            return -1;
        if (h_now_ms() >= deadline)
            return -1;
        h_sleep_ms(10);
    }
}

int h_kill(pid_t pid, int sig)
{
    if (pid <= 0)
        return -1;
    return kill(pid, sig) == 0 ? 0 : -1;
}

void h__stop_pid(pid_t pid, int sig, int timeout_ms)
{
    if (pid <= 0)
        return;
    if (kill(pid, sig) != 0 && errno == ESRCH) {
        waitpid(pid, NULL, WNOHANG);
        return;
    }
    for (int waited = 0; waited < timeout_ms; waited += 10) {
        pid_t r = waitpid(pid, NULL, WNOHANG);
        if (r == pid || (r < 0 && errno == ECHILD))
            return;
        h_sleep_ms(10);
    }
    kill(pid, SIGKILL);
    waitpid(pid, NULL, 0);
}

int h__run(const char *const argv[], const char *const env[], const char *log_path,
           const h__user_t *user, int timeout_ms)
{
    pid_t pid = h__spawn_as(argv, env, log_path, user, SIGKILL);
    if (pid < 0)
        return -1;
    int slot = h__track(pid, SIGKILL, NULL);
    int rc = h_wait_exit(pid, timeout_ms);
    if (rc < 0) {
        fprintf(stderr, "harness: %s did not finish within %d ms\n", argv[0], timeout_ms);
        h__stop_pid(pid, SIGKILL, 1000);
        if (slot >= 0)
            h__untrack(slot);
    }
    return rc;
}
