#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include "registry.h"

/* Reads a small /proc file whole into buf (NUL-terminated); false when it cannot. */
static bool read_small_file(const char *path, char *buf, size_t size)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return false;
    size_t len = 0;
    while (len + 1 < size) {
        ssize_t n = read(fd, buf + len, size - 1 - len);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            break;
        len += (size_t)n;
    }
    close(fd);
    buf[len] = '\0';
    return len > 0;
}

/* Seconds since the epoch at which the machine booted ("btime" in /proc/stat). */
static bool boot_time(double *out)
{
    char buf[16384];
    if (!read_small_file("/proc/stat", buf, sizeof buf))
        return false;
    const char *p = strstr(buf, "\nbtime ");
    if (p == NULL)
        return false;
    char *end;
    unsigned long long btime = strtoull(p + 7, &end, 10);
    if (end == p + 7)
        return false;
    *out = (double)btime;
    return true;
}

static bool count_open_fds(double *out)
{
    DIR *d = opendir("/proc/self/fd");
    if (d == NULL)
        return false;
    /* The directory being listed is itself an open descriptor; it is not the process's. */
    int own = dirfd(d);
    double n = 0;
    struct dirent *e;
    while ((e = readdir(d)) != NULL) {
        if (e->d_name[0] == '.')
            continue;
        char *end;
        long fd = strtol(e->d_name, &end, 10);
        if (*end == '\0' && fd != own)
            n++;
    }
    closedir(d);
    *out = n;
    return true;
}

mentis_status_t mentis__metrics_proc_read(struct mentis__metrics_proc *out)
{
    char buf[2048];
    if (!read_small_file("/proc/self/stat", buf, sizeof buf))
        return mentis_err_set(MENTIS_ERR_IO, NULL, "metrics: cannot read /proc/self/stat");
    /* The command name (field 2) is in parentheses and may hold spaces and parentheses
     * itself, so fields are counted from the last ')'. */
    const char *p = strrchr(buf, ')');
    if (p == NULL)
        return mentis_err_set(MENTIS_ERR_IO, NULL, "metrics: malformed /proc/self/stat");
    p++;
    /* Fields 3.. from proc(5): we need utime(14) stime(15) num_threads(20) starttime(22)
     * vsize(23) rss(24). */
    unsigned long long field[25] = {0};
    int got = 0;
    for (int i = 3; i <= 24; i++) {
        while (*p == ' ')
            p++;
        if (i == 3) { /* the state, a letter */
            if (*p == '\0')
                break;
            p++;
            got++;
            continue;
        }
        char *end;
        long long v = strtoll(p, &end, 10);
        if (end == p)
            break;
        field[i] = v < 0 ? 0 : (unsigned long long)v;
        p = end;
        got++;
    }
    if (got != 22)
        return mentis_err_set(MENTIS_ERR_IO, NULL,
                              "metrics: /proc/self/stat has %d fields after the name, not 22", got);
    long ticks = sysconf(_SC_CLK_TCK);
    long page = sysconf(_SC_PAGESIZE);
    if (ticks <= 0)
        ticks = 100;
    if (page <= 0)
        page = 4096;
    double btime = 0;
    if (!boot_time(&btime))
        return mentis_err_set(MENTIS_ERR_IO, NULL, "metrics: cannot read btime from /proc/stat");
    double fds = 0;
    if (!count_open_fds(&fds))
        return mentis_err_set(MENTIS_ERR_IO, NULL, "metrics: cannot list /proc/self/fd");

    out->cpu_seconds = (double)(field[14] + field[15]) / (double)ticks;
    out->threads = (double)field[20];
    out->start_time_seconds = btime + (double)field[22] / (double)ticks;
    out->vsize_bytes = (double)field[23];
    out->rss_bytes = (double)field[24] * (double)page;
    out->open_fds = fds;
    return MENTIS_OK;
}

double mentis__metrics_proc_value(const struct mentis__metrics_proc *p,
                                  enum mentis__metrics_computed computed)
{
    switch (computed) {
    case MENTIS__METRICS_PROC_RSS:
        return p->rss_bytes;
    case MENTIS__METRICS_PROC_VSIZE:
        return p->vsize_bytes;
    case MENTIS__METRICS_PROC_CPU:
        return p->cpu_seconds;
    case MENTIS__METRICS_PROC_FDS:
        return p->open_fds;
    case MENTIS__METRICS_PROC_START:
        return p->start_time_seconds;
    case MENTIS__METRICS_PROC_THREADS:
        return p->threads;
    case MENTIS__METRICS_STORED:
        break;
    }
    return 0.0;
}

mentis_status_t mentis_metrics_add_process(mentis_metrics_t *reg)
{
    static const struct {
        const char *name;
        const char *help;
        enum mentis__metrics_type type;
        enum mentis__metrics_computed computed;
    } defs[] = {
        {"process_cpu_seconds_total", "Total user and system CPU time spent in seconds.",
         MENTIS__METRICS_COUNTER, MENTIS__METRICS_PROC_CPU},
        {"process_open_fds", "Number of open file descriptors.", MENTIS__METRICS_GAUGE,
         MENTIS__METRICS_PROC_FDS},
        {"process_resident_memory_bytes", "Resident memory size in bytes.", MENTIS__METRICS_GAUGE,
         MENTIS__METRICS_PROC_RSS},
        {"process_virtual_memory_bytes", "Virtual memory size in bytes.", MENTIS__METRICS_GAUGE,
         MENTIS__METRICS_PROC_VSIZE},
        {"process_start_time_seconds", "Start time of the process since unix epoch in seconds.",
         MENTIS__METRICS_GAUGE, MENTIS__METRICS_PROC_START},
        {"process_threads", "Number of OS threads in the process.", MENTIS__METRICS_GAUGE,
         MENTIS__METRICS_PROC_THREADS},
    };
    if (reg == NULL)
        return mentis_err_set(MENTIS_ERR_INVALID_ARGUMENT, NULL, "metrics: NULL registry");
    struct mentis__metrics_proc probe;
    mentis_status_t st = mentis__metrics_proc_read(&probe);
    if (st != MENTIS_OK)
        return st;
    for (size_t i = 0; i < sizeof defs / sizeof defs[0]; i++) {
        st = mentis__metrics_add_computed(reg, defs[i].name, defs[i].help, defs[i].type,
                                          defs[i].computed);
        if (st != MENTIS_OK)
            return mentis_err_wrap(st, "metrics: adding process metrics");
    }
    return MENTIS_OK;
}
