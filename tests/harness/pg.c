/*
 * A private PostgreSQL cluster on loopback.
 *
 * initdb costs seconds, so it runs once per build directory into a template (guarded by
 * a file lock, since CTest runs tests in parallel) and each test copies the template.
 * PostgreSQL refuses to run as root: when the test is root, initdb and postgres run as
 * user postgres, in directories that user owns; the copies are made by root with cp -a,
 * which keeps the ownership.
 */
#include <errno.h>
#include <fcntl.h>
#include <libpq-fe.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "harness_private.h"

const char *const h_pg_roles[H_PG_ROLE_COUNT] = {"auth", "kb", "curriculum", "metrics", "jobs"};

/* Bumped whenever the template's initdb options change, so stale templates are not used. */
#define TEMPLATE_NAME "pg15-template-v2"

/* The superuser's password: a throwaway cluster on loopback, so a constant is enough. */
#define SUPER_PASSWORD "mentis-harness-superuser"

static const char *pg_bindir(void)
{
    const char *dir = getenv("MENTIS_PG_BINDIR");
    return dir != NULL && dir[0] != '\0' ? dir : "/usr/lib/postgresql/15/bin";
}

static const char *psql_binary(void)
{
    const char *bin = getenv("MENTIS_PSQL");
    return bin != NULL && bin[0] != '\0' ? bin : "psql";
}

static int random_hex(char *out, size_t bytes)
{
    unsigned char raw[64];
    if (bytes > sizeof raw)
        return -1;
    FILE *f = fopen("/dev/urandom", "rb");
    if (f == NULL)
        return -1;
    size_t got = fread(raw, 1, bytes, f);
    fclose(f);
    if (got != bytes)
        return -1;
    for (size_t i = 0; i < bytes; i++)
        snprintf(out + 2 * i, 3, "%02x", raw[i]);
    return 0;
}

static int give_to(const char *path, const h__user_t *user)
{
    if (!user->switch_user)
        return 0;
    if (chown(path, user->uid, user->gid) != 0) {
        fprintf(stderr, "harness: chown %s: %s\n", path, strerror(errno));
        return -1;
    }
    return 0;
}

/* Holds an exclusive fcntl lock on `path` until the returned fd is closed. */
static int lock_file(const char *path)
{
    int fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0644);
    if (fd < 0) {
        fprintf(stderr, "harness: cannot open lock %s: %s\n", path, strerror(errno));
        return -1;
    }
    struct flock fl = {.l_type = F_WRLCK, .l_whence = SEEK_SET};
    while (fcntl(fd, F_SETLKW, &fl) != 0) {
        if (errno != EINTR) {
            close(fd);
            return -1;
        }
    }
    return fd;
}

/* Makes <build>/harness/<TEMPLATE_NAME> once; writes its path into tmpl. */
static int ensure_template(const h__user_t *user, char *tmpl, size_t size)
{
    char base[H_PATH_SIZE], lock[H_PATH_SIZE + 32], ready[H_PATH_SIZE + 32];
    snprintf(base, sizeof base, "%s/harness", h__build_dir());
    if (mkdir(base, 0755) != 0 && errno != EEXIST) {
        fprintf(stderr, "harness: mkdir %s: %s\n", base, strerror(errno));
        return -1;
    }
    snprintf(tmpl, size, "%s/" TEMPLATE_NAME, base);
    snprintf(lock, sizeof lock, "%s/" TEMPLATE_NAME ".lock", base);
    snprintf(ready, sizeof ready, "%s/" TEMPLATE_NAME ".ready", base);

    int lock_fd = lock_file(lock);
    if (lock_fd < 0)
        return -1;
    int rc = -1;
    char work[H_PATH_SIZE] = "";
    if (access(ready, F_OK) == 0) {
        rc = 0;
        goto out;
    }
    h__rm_rf(tmpl);
    /* initdb writes where its user may write: a fresh temporary directory it owns. */
    if (h__mkdtemp("mentis-initdb", work, sizeof work) != 0 || give_to(work, user) != 0)
        goto out;
    char data[H_PATH_SIZE + 8], pwfile[H_PATH_SIZE + 8], pwopt[H_PATH_SIZE + 16],
        log[H_PATH_SIZE + 32];
    snprintf(data, sizeof data, "%s/data", work);
    snprintf(pwfile, sizeof pwfile, "%s/pw", work);
    snprintf(pwopt, sizeof pwopt, "--pwfile=%s", pwfile);
    snprintf(log, sizeof log, "%s/initdb.log", base);
    if (h_write_file(work, "pw", SUPER_PASSWORD "\n") != 0 || give_to(pwfile, user) != 0)
        goto out;
    char initdb[H_PATH_SIZE];
    snprintf(initdb, sizeof initdb, "%s/initdb", pg_bindir());
    const char *const init_argv[] = {initdb,
                                     "-D",
                                     data,
                                     "-U",
                                     "postgres",
                                     "--auth-local=trust",
                                     "--auth-host=scram-sha-256",
                                     pwopt,
                                     "-E",
                                     "UTF8",
                                     "--locale=C",
                                     "--no-sync",
                                     "--wal-segsize=1", /* 1 MiB, not 16: less to copy */
                                     "--no-instructions",
                                     NULL};
    if (h__run(init_argv, NULL, log, user, 120000) != 0) {
        fprintf(stderr, "harness: initdb failed\n");
        h__print_log_tail(log);
        goto out;
    }
    const char *const cp_argv[] = {"cp", "-a", data, tmpl, NULL};
    if (h__run(cp_argv, NULL, NULL, NULL, 120000) != 0)
        goto out;
    int fd = open(ready, O_WRONLY | O_CREAT | O_CLOEXEC, 0644);
    if (fd < 0)
        goto out;
    close(fd);
    rc = 0;
out:
    if (work[0] != '\0')
        h__rm_rf(work);
    close(lock_fd); /* releases the lock */
    return rc;
}

static void super_conninfo(const h_pg_t *pg, const char *db, char *buf, size_t size)
{
    snprintf(buf, size, "postgresql://postgres:%s@127.0.0.1:%d/%s", SUPER_PASSWORD, pg->port, db);
}

/* Starts postgres on pg->port with data in pg->dir/data and waits until it is ready. */
static int launch(h_pg_t *pg)
{
    h__user_t user;
    if (h__server_user(&user) != 0)
        return -1;
    char postgres[H_PATH_SIZE], data[H_PATH_SIZE + 8], port[16], log[H_PATH_SIZE + 16];
    snprintf(postgres, sizeof postgres, "%s/postgres", pg_bindir());
    snprintf(data, sizeof data, "%s/data", pg->dir);
    snprintf(port, sizeof port, "%d", pg->port);
    snprintf(log, sizeof log, "%s/postgres.log", pg->dir);
    const char *const argv[] = {postgres,
                                "-D",
                                data,
                                "-p",
                                port,
                                "-k",
                                pg->dir,
                                "-c",
                                "listen_addresses=127.0.0.1",
                                "-c",
                                "fsync=off",
                                "-c",
                                "synchronous_commit=off",
                                "-c",
                                "full_page_writes=off",
                                "-c",
                                "shared_buffers=32MB",
                                "-c",
                                "max_connections=60",
                                NULL};
    /* SIGQUIT on the test's death: an immediate shutdown, the data is thrown away. */
    pg->pid = h__spawn_as(argv, NULL, log, &user, SIGQUIT);
    if (pg->pid < 0) {
        pg->pid = 0;
        return -1;
    }
    h__track_pid(pg->slot_ - 1, pg->pid);

    char conninfo[H_PATH_SIZE];
    snprintf(conninfo, sizeof conninfo,
             "host=127.0.0.1 port=%d dbname=postgres user=postgres connect_timeout=2", pg->port);
    long long deadline = h_now_ms() + 30000;
    while (h_now_ms() < deadline) {
        if (waitpid(pg->pid, NULL, WNOHANG) == pg->pid) {
            fprintf(stderr, "harness: postgres exited at start\n");
            pg->pid = 0;
            h__track_pid(pg->slot_ - 1, 0);
            h__print_log_tail(log);
            return -1;
        }
        if (PQping(conninfo) == PQPING_OK)
            return 0;
        h_sleep_ms(20);
    }
    fprintf(stderr, "harness: postgres not ready on port %d after 30 s\n", pg->port);
    h__print_log_tail(log);
    h__stop_pid(pg->pid, SIGQUIT, 5000);
    pg->pid = 0;
    h__track_pid(pg->slot_ - 1, 0);
    return -1;
}

static int exec_on(const char *conninfo, const char *sql, char *out, size_t size)
{
    PGconn *conn = PQconnectdb(conninfo);
    int rc = -1;
    PGresult *res = NULL;
    if (PQstatus(conn) != CONNECTION_OK) {
        fprintf(stderr, "harness: connect as superuser: %s", PQerrorMessage(conn));
        goto out;
    }
    res = PQexec(conn, sql);
    ExecStatusType st = PQresultStatus(res);
    if (st != PGRES_COMMAND_OK && st != PGRES_TUPLES_OK) {
        fprintf(stderr, "harness: %s\n  failed: %s", sql, PQerrorMessage(conn));
        goto out;
    }
    if (out != NULL) {
        if (st != PGRES_TUPLES_OK || PQntuples(res) < 1 || PQnfields(res) < 1) {
            fprintf(stderr, "harness: %s\n  returned no row\n", sql);
            goto out;
        }
        snprintf(out, size, "%s", PQgetvalue(res, 0, 0));
    }
    rc = 0;
out:
    PQclear(res);
    PQfinish(conn);
    return rc;
}

static int bootstrap(const h_pg_t *pg)
{
    char vars[H_PG_ROLE_COUNT][80];
    const char *argv[8 + 2 * H_PG_ROLE_COUNT + 6];
    int argc = 0;
    argv[argc++] = psql_binary();
    argv[argc++] = "-X";
    argv[argc++] = "-q";
    argv[argc++] = "-v";
    argv[argc++] = "ON_ERROR_STOP=1";
    for (int i = 0; i < H_PG_ROLE_COUNT; i++) {
        snprintf(vars[i], sizeof vars[i], "%s_password=%s", h_pg_roles[i], pg->passwords[i]);
        argv[argc++] = "-v";
        argv[argc++] = vars[i];
    }
    char file[H_PATH_SIZE + 32], log[H_PATH_SIZE + 16];
    snprintf(file, sizeof file, "%s/deploy/db/bootstrap.sql", h__source_dir());
    snprintf(log, sizeof log, "%s/bootstrap.log", pg->dir);
    argv[argc++] = "-d";
    argv[argc++] = pg->super_url;
    argv[argc++] = "-f";
    argv[argc++] = file;
    argv[argc] = NULL;
    if (h__run(argv, NULL, log, NULL, 30000) != 0) {
        fprintf(stderr, "harness: %s failed\n", file);
        h__print_log_tail(log);
        return -1;
    }
    return 0;
}

int h_pg_start(h_pg_t *pg)
{
    memset(pg, 0, sizeof *pg);
    h__user_t user;
    char tmpl[H_PATH_SIZE], data[H_PATH_SIZE + 8], conninfo[H_PATH_SIZE];
    if (h__server_user(&user) != 0 || ensure_template(&user, tmpl, sizeof tmpl) != 0)
        return -1;
    pg->port = h_free_port();
    if (pg->port < 0 || h__mkdtemp("mentis-pg", pg->dir, sizeof pg->dir) != 0)
        return -1;
    pg->slot_ = h__track(0, SIGINT, pg->dir) + 1;
    if (pg->slot_ == 0 || give_to(pg->dir, &user) != 0)
        goto fail;
    snprintf(data, sizeof data, "%s/data", pg->dir);
    const char *const cp_argv[] = {"cp", "-a", tmpl, data, NULL};
    if (h__run(cp_argv, NULL, NULL, NULL, 60000) != 0)
        goto fail;
    for (int i = 0; i < H_PG_ROLE_COUNT; i++)
        if (random_hex(pg->passwords[i], 16) != 0)
            goto fail;
    super_conninfo(pg, "mentis", pg->super_url, sizeof pg->super_url);
    if (launch(pg) != 0)
        goto fail;
    super_conninfo(pg, "postgres", conninfo, sizeof conninfo);
    if (exec_on(conninfo, "CREATE DATABASE mentis", NULL, 0) != 0 || bootstrap(pg) != 0)
        goto fail;
    return 0;
fail:
    h_pg_stop(pg);
    return -1;
}

int h_pg_url(const h_pg_t *pg, const char *service, char *buf, size_t size)
{
    for (int i = 0; i < H_PG_ROLE_COUNT; i++) {
        if (strcmp(service, h_pg_roles[i]) == 0) {
            int n = snprintf(buf, size, "postgresql://mentis_%s:%s@127.0.0.1:%d/mentis", service,
                             pg->passwords[i], pg->port);
            return n > 0 && (size_t)n < size ? 0 : -1;
        }
    }
    fprintf(stderr, "harness: no database role for service %s\n", service);
    return -1;
}

int h_pg_down(h_pg_t *pg)
{
    if (pg->pid <= 0)
        return -1;
    /* SIGINT is PostgreSQL's fast shutdown: clients are disconnected, then it exits. */
    h__stop_pid(pg->pid, SIGINT, 15000);
    pg->pid = 0;
    h__track_pid(pg->slot_ - 1, 0);
    return 0;
}

int h_pg_up(h_pg_t *pg)
{
    if (pg->slot_ == 0 || pg->pid > 0)
        return -1;
    return launch(pg);
}

int h_pg_restart(h_pg_t *pg)
{
    if (h_pg_down(pg) != 0)
        return -1;
    return h_pg_up(pg);
}

int h_pg_stop(h_pg_t *pg)
{
    if (pg->slot_ == 0)
        return 0;
    if (pg->pid > 0)
        h_pg_down(pg);
    h__rm_rf(pg->dir);
    h__untrack(pg->slot_ - 1);
    pg->slot_ = 0;
    return 0;
}

int h_pg_exec(const h_pg_t *pg, const char *sql)
{
    return exec_on(pg->super_url, sql, NULL, 0);
}

int h_pg_query(const h_pg_t *pg, const char *sql, char *out, size_t size)
{
    return exec_on(pg->super_url, sql, out, size);
}
