/* Paths and files: the source and build directories, temporary directories, logs. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "harness_private.h"

const char *h__source_dir(void)
{
    const char *dir = getenv("MENTIS_SOURCE_DIR");
    return dir != NULL && dir[0] != '\0' ? dir : MENTIS_HARNESS_SOURCE_DIR;
}

const char *h__build_dir(void)
{
    const char *dir = getenv("MENTIS_BUILD_DIR");
    return dir != NULL && dir[0] != '\0' ? dir : MENTIS_HARNESS_BUILD_DIR;
}

/*
 * Every temporary directory holds a marker with the test's pid, so a later test can remove
 * what a killed one (a CTest timeout is SIGKILL) could not.
 */
#define OWNER_MARKER ".mentis-harness-owner"

static const char *tmp_base(void)
{
    const char *base = getenv("TMPDIR");
    return base != NULL && base[0] != '\0' ? base : "/tmp";
}

int h__mkdtemp(const char *prefix, char *buf, size_t size)
{
    int n = snprintf(buf, size, "%s/%s-XXXXXX", tmp_base(), prefix);
    if (n < 0 || (size_t)n >= size)
        return -1;
    if (mkdtemp(buf) == NULL) {
        fprintf(stderr, "harness: mkdtemp %s: %s\n", buf, strerror(errno));
        return -1;
    }
    char pid[32];
    snprintf(pid, sizeof pid, "%ld\n", (long)getpid());
    if (h_write_file(buf, OWNER_MARKER, pid) != 0) {
        h__rm_rf(buf);
        return -1;
    }
    return 0;
}

void h__sweep_stale(void)
{
    DIR *d = opendir(tmp_base());
    if (d == NULL)
        return;
    struct dirent *e;
    while ((e = readdir(d)) != NULL) {
        if (e->d_name[0] == '.')
            continue;
        char dir[H_PATH_SIZE * 2], marker[H_PATH_SIZE * 3];
        snprintf(dir, sizeof dir, "%s/%s", tmp_base(), e->d_name);
        snprintf(marker, sizeof marker, "%s/" OWNER_MARKER, dir);
        FILE *f = fopen(marker, "r");
        if (f == NULL)
            continue; /* not made by the harness */
        long pid = 0;
        int got = fscanf(f, "%ld", &pid);
        fclose(f);
        /* Gone (ESRCH) means stale; EPERM means alive under another user: leave it. */
        if (got == 1 && pid > 0 && kill((pid_t)pid, 0) != 0 && errno == ESRCH)
            h__rm_rf(dir);
    }
    closedir(d);
}

int h_tmpdir(const char *prefix, char *buf, size_t size)
{
    if (h__mkdtemp(prefix, buf, size) != 0)
        return -1;
    if (h__track(0, 0, buf) < 0) {
        h__rm_rf(buf);
        return -1;
    }
    return 0;
}

/* Fork and exec rather than nftw: this also runs inside the fatal-signal handler. */
int h__rm_rf(const char *dir)
{
    if (dir == NULL || dir[0] == '\0' || strcmp(dir, "/") == 0)
        return -1;
    pid_t pid = fork();
    if (pid == 0) {
        const char *const argv[] = {"rm", "-rf", "--", dir, NULL};
        execv("/bin/rm", (char *const *)(uintptr_t)argv); /* execv is not const-correct */
        _exit(127);
    }
    if (pid < 0)
        return -1;
    int status = 0;
    while (waitpid(pid, &status, 0) < 0) {
        if (errno != EINTR)
            return -1;
    }
    return WIFEXITED(status) && WEXITSTATUS(status) == 0 ? 0 : -1;
}

int h_write_file(const char *dir, const char *name, const char *content)
{
    char path[H_PATH_SIZE * 2];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    FILE *f = fopen(path, "w");
    if (f == NULL) {
        fprintf(stderr, "harness: cannot write %s: %s\n", path, strerror(errno));
        return -1;
    }
    size_t len = strlen(content);
    int rc = fwrite(content, 1, len, f) == len ? 0 : -1;
    if (fclose(f) != 0)
        rc = -1;
    return rc;
}

void h__print_log_tail(const char *path)
{
    FILE *f = fopen(path, "r");
    if (f == NULL)
        return;
    char buf[4096];
    if (fseek(f, 0, SEEK_END) == 0) {
        long end = ftell(f);
        fseek(f, end > (long)sizeof buf - 1 ? end - (long)sizeof buf + 1 : 0, SEEK_SET);
    }
    size_t n = fread(buf, 1, sizeof buf - 1, f);
    buf[n] = '\0';
    fclose(f);
    fprintf(stderr, "---- last lines of %s ----\n%s\n---- end ----\n", path, buf);
}
