/*
 * Forward-only migrations: NNNN_name.sql files applied in order, each once, each in a
 * transaction with the row that records it. See mentis_db_migrate in db.h for the rules.
 */
#include <dirent.h>
#include <errno.h>
#include <limits.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "internal.h"
#include "mentis/log.h"

#define MAX_FILE_BYTES (16L * 1024 * 1024)
#define CHECKSUM_HEX   (2 * crypto_generichash_BYTES + 1)

struct migration {
    int version;
    char *file; /* "0003_add_index.sql" */
    char *sql;
    char checksum[CHECKSUM_HEX];
    bool applied;
};

struct migration_set {
    struct migration *items;
    int count;
    int cap;
};

static void set_free(struct migration_set *set)
{
    for (int i = 0; i < set->count; i++) {
        free(set->items[i].file);
        free(set->items[i].sql);
    }
    free(set->items);
}

/* "0003_add_index.sql" → 3; -1 when the name is not digits, '_', a name, ".sql". */
static int parse_version(const char *name)
{
    size_t digits = strspn(name, "0123456789");
    size_t len = strlen(name);
    if (digits == 0 || digits > 9 || name[digits] != '_' || len < digits + 1 + 1 + 4 ||
        strcmp(name + len - 4, ".sql") != 0)
        return -1;
    return (int)strtol(name, NULL, 10);
}

static mentis_status_t read_file(const char *path, char **out)
{
    FILE *f = fopen(path, "rb");
    if (f == NULL)
        return mentis_err_set(MENTIS_ERR_IO, NULL, "cannot read %s: %s", path, strerror(errno));
    mentis_status_t st = MENTIS_OK;
    char *buf = NULL;
    long size = -1;
    if (fseek(f, 0, SEEK_END) == 0)
        size = ftell(f);
    if (size < 0 || size > MAX_FILE_BYTES || fseek(f, 0, SEEK_SET) != 0) {
        st = mentis_err_set(MENTIS_ERR_INVALID_ARGUMENT, NULL,
                            "%s: unreadable or larger than %ld bytes", path, MAX_FILE_BYTES);
        goto out;
    }
    buf = malloc((size_t)size + 1);
    if (buf == NULL) {
        st = mentis_err_set(MENTIS_ERR_NO_MEMORY, NULL, "%s: out of memory", path);
        goto out;
    }
    if (fread(buf, 1, (size_t)size, f) != (size_t)size) {
        st = mentis_err_set(MENTIS_ERR_IO, NULL, "cannot read %s", path);
        goto out;
    }
    buf[size] = '\0';
    if (strlen(buf) != (size_t)size) {
        st = mentis_err_set(MENTIS_ERR_INVALID_ARGUMENT, NULL, "%s contains a NUL byte", path);
        goto out;
    }
    *out = buf;
    buf = NULL;
out:
    free(buf);
    fclose(f);
    return st;
}

static mentis_status_t add_file(struct migration_set *set, const char *dir, const char *name,
                                int version)
{
    if (set->count == set->cap) {
        int cap = set->cap ? set->cap * 2 : 16;
        struct migration *items = realloc(set->items, (size_t)cap * sizeof *items);
        if (items == NULL)
            return mentis_err_set(MENTIS_ERR_NO_MEMORY, NULL, "migrations: out of memory");
        set->items = items;
        set->cap = cap;
    }
    char path[PATH_MAX];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    struct migration m = {.version = version};
    mentis_status_t st = read_file(path, &m.sql);
    if (st != MENTIS_OK)
        return st;
    m.file = strdup(name);
    if (m.file == NULL) {
        free(m.sql);
        return mentis_err_set(MENTIS_ERR_NO_MEMORY, NULL, "migrations: out of memory");
    }
    unsigned char hash[crypto_generichash_BYTES];
    crypto_generichash(hash, sizeof hash, (const unsigned char *)m.sql, strlen(m.sql), NULL, 0);
    sodium_bin2hex(m.checksum, sizeof m.checksum, hash, sizeof hash);
    set->items[set->count++] = m;
    return MENTIS_OK;
}

static int by_version(const void *a, const void *b)
{
    const struct migration *x = a, *y = b;
    return (x->version > y->version) - (x->version < y->version);
}

/* Reads every NNNN_name.sql of dir, sorted, and checks that versions run 1, 2, 3… */
static mentis_status_t load_dir(const char *dir, struct migration_set *set)
{
    DIR *d = opendir(dir);
    if (d == NULL)
        return mentis_err_set(MENTIS_ERR_INVALID_ARGUMENT, NULL,
                              "cannot open migrations directory %s: %s", dir, strerror(errno));
    mentis_status_t st = MENTIS_OK;
    struct dirent *e;
    while (st == MENTIS_OK && (e = readdir(d)) != NULL) {
        if (e->d_name[0] == '.')
            continue;
        char path[PATH_MAX];
        struct stat sb;
        snprintf(path, sizeof path, "%s/%s", dir, e->d_name);
        if (stat(path, &sb) != 0 || !S_ISREG(sb.st_mode))
            continue;
        int version = parse_version(e->d_name);
        if (version < 0) {
            mentis_log_warn("ignoring %s: not a migration (NNNN_name.sql)", path);
            continue;
        }
        st = add_file(set, dir, e->d_name, version);
    }
    closedir(d);
    if (st != MENTIS_OK)
        return st;
    qsort(set->items, (size_t)set->count, sizeof *set->items, by_version);
    for (int i = 0; i < set->count; i++) {
        if (i > 0 && set->items[i].version == set->items[i - 1].version)
            return mentis_err_set(
                MENTIS_ERR_INVALID_ARGUMENT, NULL, "migrations in %s: version %d twice (%s and %s)",
                dir, set->items[i].version, set->items[i - 1].file, set->items[i].file);
        if (set->items[i].version != i + 1)
            return mentis_err_set(MENTIS_ERR_INVALID_ARGUMENT, NULL,
                                  "migrations in %s: version %d is missing (next is %s); "
                                  "versions run 1, 2, 3... without gaps",
                                  dir, i + 1, set->items[i].file);
    }
    return MENTIS_OK;
}

/* Applies one file and its record row in one transaction; all or nothing. */
static mentis_status_t apply(mentis_db_conn_t *c, const char *quoted, const char *dir,
                             const struct migration *m)
{
    char sql[256];
    mentis_status_t st = mentis_db_exec(c, "BEGIN", 0, NULL, NULL);
    if (st != MENTIS_OK)
        return st;
    snprintf(sql, sizeof sql, "SET LOCAL search_path = %s, public", quoted);
    if ((st = mentis_db_exec(c, sql, 0, NULL, NULL)) != MENTIS_OK)
        goto fail;
    int line = 0;
    if ((st = mentis__db_script(c, m->sql, &line)) != MENTIS_OK) {
        if (line > 0)
            mentis_err_wrap(st, "%s/%s failed at line %d", dir, m->file, line);
        else
            mentis_err_wrap(st, "%s/%s failed", dir, m->file);
        goto fail;
    }
    if (PQtransactionStatus(c->pg) != PQTRANS_INTRANS) {
        st = mentis_err_set(MENTIS_ERR_INVALID_ARGUMENT, NULL,
                            "%s/%s ended the transaction it runs in: a migration must not "
                            "contain BEGIN, COMMIT or ROLLBACK",
                            dir, m->file);
        goto fail;
    }
    char version[16];
    snprintf(version, sizeof version, "%d", m->version);
    const char *params[] = {version, m->file, m->checksum};
    snprintf(sql, sizeof sql,
             "INSERT INTO %s.schema_migrations (version, name, checksum) VALUES ($1, $2, $3)",
             quoted);
    if ((st = mentis_db_exec(c, sql, 3, params, NULL)) != MENTIS_OK) {
        mentis_err_wrap(st, "recording %s", m->file);
        goto fail;
    }
    if ((st = mentis_db_tx_commit(c)) != MENTIS_OK) {
        mentis_err_wrap(st, "%s/%s", dir, m->file);
        goto fail;
    }
    return MENTIS_OK;
fail:
    if (PQstatus(c->pg) == CONNECTION_OK && PQtransactionStatus(c->pg) != PQTRANS_IDLE)
        PQclear(PQexec(c->pg, "ROLLBACK"));
    return st;
}

/* Compares what the schema has recorded with the files; marks the applied ones. */
static mentis_status_t check_applied(mentis_db_conn_t *c, const char *quoted, const char *schema,
                                     struct migration_set *set, int *applied_max)
{
    char sql[256];
    snprintf(sql, sizeof sql,
             "SELECT version, name, checksum FROM %s.schema_migrations ORDER BY version", quoted);
    PGresult *res = NULL;
    mentis_status_t st = mentis_db_exec(c, sql, 0, NULL, &res);
    if (st != MENTIS_OK)
        return st;
    *applied_max = 0;
    for (int row = 0; row < PQntuples(res); row++) {
        int version = (int)strtol(PQgetvalue(res, row, 0), NULL, 10);
        const char *name = PQgetvalue(res, row, 1);
        const char *checksum = PQgetvalue(res, row, 2);
        if (version > *applied_max)
            *applied_max = version;
        if (version < 1 || version > set->count)
            continue; /* a newer release's file: reported once below */
        struct migration *m = &set->items[version - 1];
        m->applied = true;
        if (strcmp(m->checksum, checksum) != 0) {
            st = mentis_err_set(MENTIS_ERR_PRECONDITION_FAILED, NULL,
                                "%s was changed after it was applied (checksum %.12s, "
                                "recorded %.12s): never edit an applied migration, add a new one",
                                m->file, m->checksum, checksum);
            break;
        }
        if (strcmp(m->file, name) != 0)
            mentis_log_warn("schema %s: version %d was applied as %s, the file is now %s", schema,
                            version, name, m->file);
    }
    PQclear(res);
    /* A newer release migrated already (a rolling update): this one runs against it. */
    if (st == MENTIS_OK && *applied_max > set->count)
        mentis_log_warn("schema %s is at version %d, newer than the %d migration(s) here", schema,
                        *applied_max, set->count);
    for (int i = 0; st == MENTIS_OK && i < set->count; i++)
        if (!set->items[i].applied && set->items[i].version < *applied_max)
            st = mentis_err_set(MENTIS_ERR_PRECONDITION_FAILED, NULL,
                                "%s is not applied but version %d is: migrations apply in order",
                                set->items[i].file, *applied_max);
    return st;
}

mentis_status_t mentis_db_migrate(mentis_db_t *db, const char *schema, const char *dir,
                                  int *version_out)
{
    if (db == NULL || schema == NULL || dir == NULL || schema[0] == '\0' || strlen(schema) > 63)
        return mentis_err_set(MENTIS_ERR_INVALID_ARGUMENT, NULL,
                              "mentis_db_migrate: a schema name (1-63 bytes) and a directory "
                              "are required");
    if (sodium_init() < 0)
        return mentis_err_set(MENTIS_ERR_INTERNAL, NULL, "libsodium failed to initialise");
    struct migration_set set = {0};
    mentis_db_conn_t c = {.db = db, .in_use = true};
    char *quoted = NULL;
    char sql[512], lock_key[96];
    int applied_max = 0, version = 0;
    mentis_status_t st = load_dir(dir, &set);
    if (st != MENTIS_OK)
        goto out;

    /* A connection of its own, outside the pool: the session lock lives and dies with it. */
    st = mentis__db_connect(db, mentis__db_now_ms() + db->connect_timeout_ms, &c.broken, &c.pg);
    if (st != MENTIS_OK)
        goto out;
    atomic_fetch_add(&db->connects, 1);
    /* Migrations may legitimately outlast a request's statement_timeout (index builds). */
    if ((st = mentis_db_exec(&c, "SET statement_timeout = 0", 0, NULL, NULL)) != MENTIS_OK)
        goto out;
    quoted = PQescapeIdentifier(c.pg, schema, strlen(schema));
    if (quoted == NULL) {
        st = mentis_err_set(MENTIS_ERR_INVALID_ARGUMENT, NULL, "bad schema name: %s",
                            PQerrorMessage(c.pg));
        goto out;
    }
    snprintf(lock_key, sizeof lock_key, "mentis.migrate.%s", schema);
    const char *lock_params[] = {lock_key};
    if ((st = mentis_db_exec(&c, "SELECT pg_advisory_lock(hashtext($1))", 1, lock_params, NULL)) !=
        MENTIS_OK)
        goto out;
    snprintf(sql, sizeof sql, "CREATE SCHEMA IF NOT EXISTS %s", quoted);
    if ((st = mentis_db_exec(&c, sql, 0, NULL, NULL)) != MENTIS_OK)
        goto out;
    snprintf(sql, sizeof sql,
             "CREATE TABLE IF NOT EXISTS %s.schema_migrations ("
             "version integer PRIMARY KEY, name text NOT NULL, checksum text NOT NULL, "
             "applied_at timestamptz NOT NULL DEFAULT now())",
             quoted);
    if ((st = mentis_db_exec(&c, sql, 0, NULL, NULL)) != MENTIS_OK)
        goto out;
    if ((st = check_applied(&c, quoted, schema, &set, &applied_max)) != MENTIS_OK)
        goto out;
    version = applied_max;
    for (int i = 0; i < set.count; i++) {
        struct migration *m = &set.items[i];
        if (m->applied)
            continue;
        if ((st = apply(&c, quoted, dir, m)) != MENTIS_OK)
            goto out;
        mentis_log_info("schema %s: applied migration %s", schema, m->file);
        if (m->version > version)
            version = m->version;
    }
    PQclear(PQexecParams(c.pg, "SELECT pg_advisory_unlock(hashtext($1))", 1, NULL, lock_params,
                         NULL, NULL, 0));
out:
    if (quoted != NULL)
        PQfreemem(quoted);
    if (c.pg != NULL)
        PQfinish(c.pg); /* also releases the advisory lock when we failed holding it */
    set_free(&set);
    if (st != MENTIS_OK)
        return mentis_err_wrap(st, "migrating schema %s", schema);
    if (version_out != NULL)
        *version_out = version;
    return MENTIS_OK;
}
