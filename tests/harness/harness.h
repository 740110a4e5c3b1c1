/*
 * The integration-test harness: real nats-server and PostgreSQL on 127.0.0.1, free ports,
 * temporary directories, child processes, a tiny HTTP client and an SMTP sink.
 *
 * Everything a test starts is registered for clean-up: servers and spawned processes are
 * stopped and their directories removed at exit, on SIGINT/SIGTERM/SIGHUP/SIGABRT, and
 * (through the parent-death signal) even when the test process is killed outright. The
 * registry keeps its own copy of what it needs, so a test may return early and leave its
 * h_pg_t / h_nats_t on the stack.
 *
 * Paths come from the environment: MENTIS_SOURCE_DIR (for deploy/db/bootstrap.sql) and
 * MENTIS_BUILD_DIR (for cached templates), both set by mentis_test(); when unset, the
 * directories of the build that compiled the harness are used. Optional overrides:
 * MENTIS_PG_BINDIR (initdb, postgres), MENTIS_PSQL, MENTIS_NATS_SERVER, TMPDIR.
 *
 * Functions returning int give 0 on success and -1 on failure, after printing the reason
 * (and the tail of the server's log) on stderr. Call them from one thread at a time, and
 * start servers and processes from a thread that outlives them (normally the main one):
 * the parent-death signal fires when the thread that started a child ends.
 */
#ifndef MENTIS_TEST_HARNESS_H
#define MENTIS_TEST_HARNESS_H

#include <stddef.h>
#include <sys/types.h>

#ifdef __cplusplus
extern "C" {
#endif

#define H_PATH_SIZE 256

/* A port on 127.0.0.1 that was free a moment ago, or -1. */
int h_free_port(void);

/* ---- nats-server ---------------------------------------------------------------------- */

typedef struct {
    /* Optional, set before h_nats_start: a nats-server config file passed with -c. */
    const char *config;

    /* Set by h_nats_start. */
    int port;              /* client port */
    int monitor_port;      /* HTTP monitoring port (/healthz, /varz) */
    char url[64];          /* "nats://127.0.0.1:<port>" */
    char dir[H_PATH_SIZE]; /* temporary directory: JetStream store (js/), nats.log */
    pid_t pid;             /* 0 while not running */
    int slot_;             /* clean-up registry entry + 1, 0: none; internal */
} h_nats_t;

/*
 * Starts nats-server with JetStream on free ports in a new temporary directory and waits
 * until it accepts client connections (10 s at most). Zero the struct first.
 */
int h_nats_start(h_nats_t *n);

/* SIGTERM, waits for the exit, removes the directory. A stopped server is a no-op. */
int h_nats_stop(h_nats_t *n);

/* SIGKILL, as a crash would; keeps the directory and port for h_nats_restart. */
int h_nats_kill(h_nats_t *n);

/* Stops (if running) and starts again on the same ports with the same JetStream store. */
int h_nats_restart(h_nats_t *n);

/* ---- PostgreSQL ----------------------------------------------------------------------- */

/* The login roles deploy/db/bootstrap.sql creates: mentis_<name>. */
#define H_PG_ROLE_COUNT 5
extern const char *const h_pg_roles[H_PG_ROLE_COUNT]; /* "auth", "kb", ... */

typedef struct {
    int port;
    char super_url[H_PATH_SIZE]; /* superuser libpq URL (role postgres) on database mentis */
    char dir[H_PATH_SIZE];       /* temporary directory: data/, sockets, postgres.log */
    pid_t pid;                   /* postmaster, 0 while down */
    char passwords[H_PG_ROLE_COUNT][40]; /* generated, in h_pg_roles order */
    int slot_;                           /* clean-up registry entry + 1, 0: none; internal */
} h_pg_t;

/*
 * Starts a private cluster: copies a template cluster (made once per build directory by
 * initdb, under a lock so parallel tests do not race), starts postgres on a free port
 * (listen_addresses=127.0.0.1, sockets in the temporary directory, fsync=off), creates
 * database `mentis` and runs deploy/db/bootstrap.sql through psql with generated role
 * passwords. Runs the servers as user postgres when the test runs as root.
 */
int h_pg_start(h_pg_t *pg);

/* Writes the libpq URL of role mentis_<service> ("kb" → mentis_kb) with its password. */
int h_pg_url(const h_pg_t *pg, const char *service, char *buf, size_t size);

/* Fast shutdown; keeps data, directory and port. For "PostgreSQL is down" cases. */
int h_pg_down(h_pg_t *pg);

/* Starts a cluster that h_pg_down stopped, on the same port, and waits until it is ready. */
int h_pg_up(h_pg_t *pg);

/* h_pg_down then h_pg_up: what clients see when the server restarts. */
int h_pg_restart(h_pg_t *pg);

/* Fast shutdown and removal of the directory. A stopped cluster is a no-op. */
int h_pg_stop(h_pg_t *pg);

/* Runs SQL (one or several statements) as superuser on database mentis. */
int h_pg_exec(const h_pg_t *pg, const char *sql);

/*
 * Runs a query as superuser and copies the first column of the first row into `out`
 * ("" for NULL). Fails when the query fails or returns no row.
 */
int h_pg_query(const h_pg_t *pg, const char *sql, char *out, size_t size);

/* ---- processes ------------------------------------------------------------------------ */

/*
 * Starts argv[0] (searched in PATH when it has no '/') with the current environment plus
 * `env` ("K=V" strings overriding same-named variables; NULL-terminated; may be NULL),
 * stdout and stderr appended to `log_path` (NULL: inherited). The process is registered
 * for clean-up (SIGTERM, then SIGKILL) until h_wait_exit reaps it. Returns its pid or -1.
 */
pid_t h_spawn(const char *const argv[], const char *const env[], const char *log_path);

/*
 * Waits up to timeout_ms for the process to end and reaps it. Returns its exit code,
 * 128 + the signal number when a signal ended it, or -1 on timeout or error.
 */
int h_wait_exit(pid_t pid, int timeout_ms);

/* Sends a signal. */
int h_kill(pid_t pid, int sig);

/* ---- HTTP ----------------------------------------------------------------------------- */

/*
 * GET http://127.0.0.1:<port><path> over HTTP/1.0. On success writes the status code and
 * the body (NUL-terminated, cut to body_size - 1 bytes; body may be NULL) and returns 0;
 * returns -1 when no complete response arrived within timeout_ms.
 */
int h_http_get(int port, const char *path, int *status, char *body, size_t body_size,
               int timeout_ms);

/* Retries h_http_get until it answers want_status; 0 then, -1 at the timeout. */
int h_wait_http(int port, const char *path, int want_status, int timeout_ms);

/* ---- small helpers -------------------------------------------------------------------- */

/* Milliseconds since the Unix epoch (the clock of deadlines). */
long long h_now_ms(void);

/* Sleeps for ms milliseconds. */
void h_sleep_ms(int ms);

/*
 * Creates a directory under $TMPDIR (or /tmp) named <prefix>-XXXXXX, registered for
 * removal at exit, and writes its path into buf. It holds one hidden file (the owner's pid,
 * so that a later test removes it if this one is killed).
 */
int h_tmpdir(const char *prefix, char *buf, size_t size);

/* Writes `content` into dir/name (created or truncated). */
int h_write_file(const char *dir, const char *name, const char *content);

/* ---- SMTP sink ------------------------------------------------------------------------ */

/*
 * A real, small SMTP server on 127.0.0.1 (a port the kernel picks) in a thread of the test:
 * EHLO/HELO, MAIL, RCPT, DATA, RSET, NOOP, QUIT, no TLS or AUTH. It keeps every message it
 * accepts (dot-unstuffed, CRLF line ends) until a test takes it.
 */
typedef struct h_smtp h_smtp_t;

int h_smtp_start(h_smtp_t **out);
int h_smtp_port(const h_smtp_t *s);
/* Answers the next n DATA with 451 (a temporary failure), keeping nothing. */
void h_smtp_fail_next(h_smtp_t *s, int n);
/* Messages held for rcpt (an address, case-insensitive; NULL: all). */
int h_smtp_count(h_smtp_t *s, const char *rcpt);
/* Waits up to timeout_ms for a message to rcpt (NULL: any), removes the oldest and copies
 * it into buf (cut to size - 1). */
int h_smtp_take(h_smtp_t *s, const char *rcpt, char *buf, size_t size, int timeout_ms);
/* Stops the thread and frees everything. NULL is a no-op. */
void h_smtp_stop(h_smtp_t *s);

#ifdef __cplusplus
}
#endif
#endif
