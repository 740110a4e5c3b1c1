/*
 * Account mail: the outbox and the sender thread that empties it.
 *
 * A request only inserts an outbox row (in its own transaction), so it never waits for a
 * mail server, and forgot-password does the same work whether or not the address has an
 * account. The sender claims due rows with FOR UPDATE SKIP LOCKED (replicas share the
 * work, none sends a message twice), then per row: resolves the account, makes the
 * one-time token and seals the message into the row (once), sends it over SMTP with
 * libcurl or to the file transport, and deletes the row — or, on failure, retries later
 * with doubling waits, giving up after MENTIS_MAIL_MAX_ATTEMPTS.
 */
#include <curl/curl.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <sodium.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "account.h"
#include "mentis/log.h"

#define BATCH        8
#define BATCH_STR    "8"
#define HOUSEKEEP_MS (10 * 60 * 1000)

static struct {
    mentis_service_t *svc;
    pthread_t thread;
    bool running;
    bool stopping;
    bool woken;
    pthread_mutex_t lock;
    pthread_cond_t cond;
    int64_t last_housekeeping_ms;
} sender = {.lock = PTHREAD_MUTEX_INITIALIZER};

static int64_t now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

mentis_status_t mentis__auth_mail_enqueue(mentis_db_conn_t *conn, const char *tenant,
                                          const char *kind, const char *email, const char *user_id)
{
    char id[37];
    mentis_crypto_uuid_v7(id);
    const char *p[] = {id, tenant, kind, email, user_id};
    return mentis_db_exec(conn,
                          "INSERT INTO auth.mail_outbox (id, tenant_id, kind, email, user_id) "
                          "VALUES ($1, $2, $3, left($4, 254), $5)",
                          5, p, NULL);
}

void mentis__auth_mail_wake(void)
{
    pthread_mutex_lock(&sender.lock);
    sender.woken = true;
    pthread_cond_signal(&sender.cond);
    pthread_mutex_unlock(&sender.lock);
}

/* ---- messages ---- */

typedef struct {
    char id[37];
    char tenant[37];
    char kind[32];
    char email[255];
    char user_id[37]; /* "" when none */
    char *message;    /* the whole RFC 5322 message (malloc), NULL until prepared */
    int attempts;
} item_t;

/* printf into a new malloc'd string; NULL when out of memory. */
__attribute__((format(printf, 1, 2))) static char *format(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(NULL, 0, fmt, ap);
    va_end(ap);
    char *s = n < 0 ? NULL : malloc((size_t)n + 1);
    if (s == NULL)
        return NULL;
    va_start(ap, fmt);
    vsnprintf(s, (size_t)n + 1, fmt, ap);
    va_end(ap);
    return s;
}

/* The address inside "Name <address>", or the whole setting. */
static void from_address(char out[256])
{
    const char *from = mentis__auth_account()->mail_from;
    const char *lt = strchr(from, '<'), *gt = lt ? strchr(lt, '>') : NULL;
    if (lt != NULL && gt != NULL)
        snprintf(out, 256, "%.*s", (int)(gt - lt - 1), lt + 1);
    else
        snprintf(out, 256, "%s", from);
}

/* The message for `kind` with its link; malloc'd, NULL when out of memory. */
static char *compose(const char *kind, const char *to, const char *token)
{
    const mentis_auth_account_t *s = mentis__auth_account();
    bool reset = strcmp(kind, "password_reset") == 0;
    size_t base = strlen(s->public_url);
    while (base > 0 && s->public_url[base - 1] == '/')
        base--;
    char date[64], msgid[37], domain[256];
    time_t t = time(NULL);
    struct tm tm;
    gmtime_r(&t, &tm);
    strftime(date, sizeof date, "%a, %d %b %Y %H:%M:%S +0000", &tm);
    mentis_crypto_uuid_v7(msgid);
    from_address(domain);
    const char *at = strchr(domain, '@');
    int64_t ttl = reset ? s->reset_ttl_s : s->verify_ttl_s;
    char lifetime[64];
    if (ttl % 3600 == 0)
        snprintf(lifetime, sizeof lifetime, "%lld hour%s", (long long)(ttl / 3600),
                 ttl == 3600 ? "" : "s");
    else
        snprintf(lifetime, sizeof lifetime, "%lld minute%s", (long long)((ttl + 59) / 60),
                 ttl <= 60 ? "" : "s");
    const char *subject = reset ? "Reset your password" : "Confirm your email address";
    const char *intro = reset ? "Someone (hopefully you) asked to reset the password of your "
                                "Mentis account.\r\nChoose a new password here:"
                              : "Welcome to Mentis. Confirm your email address by opening this "
                                "link:";
    const char *outro = reset ? "If you did not ask for this, ignore this message: your "
                                "password stays as it is."
                              : "If you did not create an account, ignore this message.";
    return format("From: %s\r\n"
                  "To: %s\r\n"
                  "Subject: %s\r\n"
                  "Date: %s\r\n"
                  "Message-ID: <%s@%s>\r\n"
                  "MIME-Version: 1.0\r\n"
                  "Content-Type: text/plain; charset=UTF-8\r\n"
                  "Content-Transfer-Encoding: 8bit\r\n"
                  "\r\n"
                  "Hello,\r\n\r\n%s\r\n\r\n%.*s/%s?token=%s\r\n\r\n"
                  "The link works once and expires in %s.\r\n%s\r\n",
                  s->mail_from, to, subject, date, msgid, at ? at + 1 : "localhost", intro,
                  (int)base, s->public_url, reset ? "reset-password" : "verify-email", token,
                  lifetime, outro);
}

/* nonce ‖ secretbox as '\x' hex for a bytea parameter; malloc'd. */
static char *seal(const char *message)
{
    size_t mlen = strlen(message);
    size_t blen = crypto_secretbox_NONCEBYTES + crypto_secretbox_MACBYTES + mlen;
    uint8_t *box = malloc(blen);
    char *hex = malloc(2 * blen + 3);
    if (box == NULL || hex == NULL) {
        free(box);
        free(hex);
        return NULL;
    }
    randombytes_buf(box, crypto_secretbox_NONCEBYTES);
    crypto_secretbox_easy(box + crypto_secretbox_NONCEBYTES, (const uint8_t *)message, mlen, box,
                          mentis__auth_account()->outbox_key);
    hex[0] = '\\';
    hex[1] = 'x';
    mentis_crypto_hex(box, blen, hex + 2);
    free(box);
    return hex;
}

/* The message from a bytea value in text form; malloc'd, NULL when it does not open. */
static char *unseal(const char *value)
{
    if (strncmp(value, "\\x", 2) != 0)
        return NULL;
    size_t blen = strlen(value + 2) / 2, n = 0;
    if (blen < crypto_secretbox_NONCEBYTES + crypto_secretbox_MACBYTES)
        return NULL;
    uint8_t *box = malloc(blen);
    size_t mlen = blen - crypto_secretbox_NONCEBYTES - crypto_secretbox_MACBYTES;
    char *m = malloc(mlen + 1);
    if (box == NULL || m == NULL || mentis_crypto_unhex(value + 2, box, blen, &n) != MENTIS_OK ||
        n != blen ||
        crypto_secretbox_open_easy((uint8_t *)m, box + crypto_secretbox_NONCEBYTES,
                                   blen - crypto_secretbox_NONCEBYTES, box,
                                   mentis__auth_account()->outbox_key) != 0) {
        free(box);
        free(m);
        return NULL;
    }
    m[mlen] = '\0';
    free(box);
    return m;
}

/* ---- transports ---- */

typedef struct {
    const char *data;
    size_t len, off;
} upload_t;

static size_t upload_read(char *buf, size_t size, size_t nitems, void *arg)
{
    upload_t *u = arg;
    size_t n = size * nitems;
    if (n > u->len - u->off)
        n = u->len - u->off;
    memcpy(buf, u->data + u->off, n);
    u->off += n;
    return n;
}

static mentis_status_t send_smtp(const char *to, const char *message)
{
    const mentis_auth_account_t *s = mentis__auth_account();
    CURL *curl = curl_easy_init();
    if (curl == NULL)
        return mentis_err_set(MENTIS_ERR_NO_MEMORY, NULL, "smtp: curl_easy_init failed");
    char from[256], rcpt[300], errbuf[CURL_ERROR_SIZE] = "";
    from_address(from);
    snprintf(rcpt, sizeof rcpt, "<%s>", to);
    struct curl_slist *rcpts = curl_slist_append(NULL, rcpt);
    char envelope_from[260];
    snprintf(envelope_from, sizeof envelope_from, "<%s>", from);
    upload_t u = {message, strlen(message), 0};
    curl_easy_setopt(curl, CURLOPT_URL, s->smtp_url);
    curl_easy_setopt(curl, CURLOPT_MAIL_FROM, envelope_from);
    curl_easy_setopt(curl, CURLOPT_MAIL_RCPT, rcpts);
    curl_easy_setopt(curl, CURLOPT_READFUNCTION, upload_read);
    curl_easy_setopt(curl, CURLOPT_READDATA, &u);
    curl_easy_setopt(curl, CURLOPT_UPLOAD, 1L);
    curl_easy_setopt(curl, CURLOPT_TIMEOUT, (long)s->smtp_timeout_s);
    curl_easy_setopt(curl, CURLOPT_CONNECTTIMEOUT, 10L);
    curl_easy_setopt(curl, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(curl, CURLOPT_ERRORBUFFER, errbuf);
    /* smtps:// is TLS from the start; smtp:// upgrades with STARTTLS when asked, and then
     * refuses to go on in the clear. Certificates are always verified. */
    if (s->smtp_starttls)
        curl_easy_setopt(curl, CURLOPT_USE_SSL, (long)CURLUSESSL_ALL);
    if (s->smtp_user != NULL && s->smtp_user[0] != '\0')
        curl_easy_setopt(curl, CURLOPT_USERNAME, s->smtp_user);
    if (s->smtp_password != NULL && s->smtp_password[0] != '\0')
        curl_easy_setopt(curl, CURLOPT_PASSWORD, s->smtp_password);
    CURLcode rc = curl_easy_perform(curl);
    curl_slist_free_all(rcpts);
    curl_easy_cleanup(curl);
    if (rc != CURLE_OK)
        return mentis_err_set(MENTIS_ERR_IO, NULL, "smtp: %s",
                              errbuf[0] ? errbuf : curl_easy_strerror(rc));
    return MENTIS_OK;
}

/* The link line of a message (for the log of the local transports). */
static void link_of(const char *message, char out[512])
{
    const char *base = mentis__auth_account()->public_url;
    const char *body = strstr(message, "\r\n\r\n");
    const char *l = body ? strstr(body, base) : NULL;
    out[0] = '\0';
    if (l != NULL)
        snprintf(out, 512, "%.*s", (int)strcspn(l, "\r\n"), l);
}

static mentis_status_t send_file(const item_t *it, const char *message)
{
    const char *dir = mentis__auth_account()->mail_dir;
    char link[512];
    link_of(message, link);
    if (dir == NULL || dir[0] == '\0') {
        mentis_log_info("mail (%s) to %s, not sent (no MENTIS_SMTP_URL or MENTIS_MAIL_DIR): %s",
                        it->kind, it->email, link);
        return MENTIS_OK;
    }
    if (mkdir(dir, 0700) != 0 && errno != EEXIST)
        return mentis_err_set(MENTIS_ERR_IO, NULL, "mail dir %s: %s", dir, strerror(errno));
    char path[1024], tmp[1040];
    snprintf(path, sizeof path, "%s/%lld-%s.eml", dir, (long long)now_ms(), it->id);
    snprintf(tmp, sizeof tmp, "%s.tmp", path);
    /* Written aside and renamed, so a reader never sees half a message. */
    int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    if (fd < 0)
        return mentis_err_set(MENTIS_ERR_IO, NULL, "%s: %s", tmp, strerror(errno));
    size_t len = strlen(message), off = 0;
    while (off < len) {
        ssize_t w = write(fd, message + off, len - off);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0) {
            close(fd);
            unlink(tmp);
            return mentis_err_set(MENTIS_ERR_IO, NULL, "%s: %s", tmp, strerror(errno));
        }
        off += (size_t)w;
    }
    if (close(fd) != 0 || rename(tmp, path) != 0) {
        unlink(tmp);
        return mentis_err_set(MENTIS_ERR_IO, NULL, "%s: %s", path, strerror(errno));
    }
    mentis_log_info("mail (%s) to %s written to %s: %s", it->kind, it->email, path, link);
    return MENTIS_OK;
}

static mentis_status_t transport_send(const item_t *it, const char *message)
{
    const char *url = mentis__auth_account()->smtp_url;
    if (url != NULL && url[0] != '\0')
        return send_smtp(it->email, message);
    return send_file(it, message);
}

/* ---- the sender ---- */

static mentis_status_t begin(mentis_db_conn_t **conn, const char *tenant)
{
    mentis_db_t *db = mentis_service_db(sender.svc);
    mentis_status_t st = mentis_db_acquire(db, now_ms() + 5000, conn);
    if (st != MENTIS_OK)
        return st;
    if ((st = mentis_db_tx_begin(*conn, tenant)) != MENTIS_OK) {
        mentis_db_release(db, *conn);
        return st;
    }
    /* Without a tenant: the sender's own statements, admitted by the `sender` policies. */
    if (tenant == NULL &&
        (st = mentis_db_exec(*conn, "SELECT set_config('mentis.auth_sender', 'on', true)", 0, NULL,
                             NULL)) != MENTIS_OK) {
        mentis_db_tx_rollback(*conn);
        mentis_db_release(db, *conn);
    }
    return st;
}

static mentis_status_t end(mentis_db_conn_t *conn, mentis_status_t st)
{
    if (st == MENTIS_OK)
        st = mentis_db_tx_commit(conn);
    else
        mentis_db_tx_rollback(conn);
    mentis_db_release(mentis_service_db(sender.svc), conn);
    return st;
}

/* Claims up to BATCH due rows for this replica (a lease: they come due again if it dies). */
static int claim(item_t items[BATCH])
{
    mentis_db_conn_t *conn = NULL;
    if (begin(&conn, NULL) != MENTIS_OK) {
        mentis_log_warn("mail sender: %s", mentis_err_msg());
        return 0;
    }
    char lease[32];
    snprintf(lease, sizeof lease, "%lld",
             (long long)(2 * mentis__auth_account()->smtp_timeout_s + 60));
    const char *p[] = {lease};
    PGresult *res = NULL;
    mentis_status_t st = mentis_db_exec(
        conn,
        /* MATERIALIZED: the locking select runs once. As `id IN (subquery)` the planner may
         * run it again per row, each run skipping the rows the last one locked, and so
         * lease far more rows than it returns to us. */
        "WITH due AS MATERIALIZED (SELECT id FROM auth.mail_outbox WHERE failed_at IS NULL "
        "AND next_attempt_at <= now() ORDER BY next_attempt_at LIMIT " BATCH_STR
        " FOR UPDATE SKIP LOCKED) "
        "UPDATE auth.mail_outbox o SET attempts = o.attempts + 1, "
        "next_attempt_at = now() + make_interval(secs => $1::bigint) FROM due WHERE o.id = due.id "
        "RETURNING o.id, o.tenant_id, o.kind, o.email, coalesce(o.user_id::text, ''), "
        "o.message_box, o.attempts",
        1, p, &res);
    int n = 0;
    if (st == MENTIS_OK) {
        for (int i = 0; i < PQntuples(res) && n < BATCH; i++) {
            item_t *it = &items[n];
            memset(it, 0, sizeof *it);
            snprintf(it->id, sizeof it->id, "%s", PQgetvalue(res, i, 0));
            snprintf(it->tenant, sizeof it->tenant, "%s", PQgetvalue(res, i, 1));
            snprintf(it->kind, sizeof it->kind, "%s", PQgetvalue(res, i, 2));
            snprintf(it->email, sizeof it->email, "%s", PQgetvalue(res, i, 3));
            snprintf(it->user_id, sizeof it->user_id, "%s", PQgetvalue(res, i, 4));
            if (!PQgetisnull(res, i, 5)) {
                it->message = unseal(PQgetvalue(res, i, 5));
                if (it->message == NULL)
                    mentis_log_warn("mail %s: the sealed message does not open (was "
                                    "MENTIS_AUTH_KEY_ENCRYPTION_KEY changed?); preparing it anew",
                                    it->id);
            }
            it->attempts = atoi(PQgetvalue(res, i, 6));
            n++;
        }
    }
    PQclear(res);
    if (end(conn, st) != MENTIS_OK) {
        mentis_log_warn("mail sender: claim: %s", mentis_err_msg());
        for (int i = 0; i < n; i++)
            free(items[i].message);
        return 0;
    }
    return n;
}

/*
 * Resolves the account, makes the token and stores the sealed message, in the tenant's
 * transaction. *drop when there is nothing to send (no such account, already verified):
 * the row is then deleted.
 */
static mentis_status_t prepare(item_t *it, bool *drop)
{
    const mentis_auth_account_t *s = mentis__auth_account();
    bool reset = strcmp(it->kind, "password_reset") == 0;
    *drop = false;
    mentis_db_conn_t *conn = NULL;
    mentis_status_t st = begin(&conn, it->tenant);
    if (st != MENTIS_OK)
        return st;
    const char *p[] = {it->user_id[0] ? it->user_id : NULL, it->email};
    PGresult *res = NULL;
    st = mentis_db_exec(conn,
                        "SELECT id, email, email_verified FROM auth.users WHERE is_active AND "
                        "CASE WHEN $1::uuid IS NULL THEN lower(email) = lower($2) "
                        "ELSE id = $1::uuid END",
                        2, p, &res);
    char user_id[37] = "", email[255] = "";
    bool verified = false;
    if (st == MENTIS_OK && PQntuples(res) == 1) {
        snprintf(user_id, sizeof user_id, "%s", PQgetvalue(res, 0, 0));
        snprintf(email, sizeof email, "%s", PQgetvalue(res, 0, 1));
        verified = PQgetvalue(res, 0, 2)[0] == 't';
    }
    PQclear(res);
    if (st == MENTIS_OK && (user_id[0] == '\0' || (!reset && verified))) {
        *drop = true;
        const char *d[] = {it->id};
        st = mentis_db_exec(conn, "DELETE FROM auth.mail_outbox WHERE id = $1", 1, d, NULL);
        return end(conn, st);
    }
    char token[MENTIS_AUTH_OTT_LEN + 1];
    if (st == MENTIS_OK)
        st = mentis__auth_ott_create(conn, it->tenant, user_id, it->kind, email,
                                     reset ? s->reset_ttl_s : s->verify_ttl_s, token);
    char *message = st == MENTIS_OK ? compose(it->kind, email, token) : NULL;
    char *box = message ? seal(message) : NULL;
    if (st == MENTIS_OK && box == NULL)
        st = mentis_err_set(MENTIS_ERR_NO_MEMORY, NULL, "mail: out of memory");
    if (st == MENTIS_OK) {
        const char *u[] = {it->id, box, email};
        st = mentis_db_exec(conn,
                            "UPDATE auth.mail_outbox SET message_box = $2::bytea, email = $3 "
                            "WHERE id = $1",
                            3, u, NULL);
    }
    free(box);
    sodium_memzero(token, sizeof token);
    st = end(conn, st);
    if (st == MENTIS_OK) {
        it->message = message;
        snprintf(it->email, sizeof it->email, "%s", email);
    } else {
        free(message);
    }
    return st;
}

/* After a send: delete the row, or schedule the next attempt (or give up). */
static void settle(const item_t *it, mentis_status_t sent, const char *why)
{
    const mentis_auth_account_t *s = mentis__auth_account();
    mentis_db_conn_t *conn = NULL;
    if (begin(&conn, NULL) != MENTIS_OK) {
        mentis_log_warn("mail %s: %s (it will be tried again)", it->id, mentis_err_msg());
        return;
    }
    mentis_status_t st;
    if (sent == MENTIS_OK) {
        const char *p[] = {it->id};
        st = mentis_db_exec(conn, "DELETE FROM auth.mail_outbox WHERE id = $1", 1, p, NULL);
    } else if (it->attempts >= s->mail_max_attempts) {
        mentis_log_error("mail %s (%s) to %s: giving up after %d attempts: %s", it->id, it->kind,
                         it->email, it->attempts, why);
        const char *p[] = {it->id, why};
        st = mentis_db_exec(conn,
                            "UPDATE auth.mail_outbox SET failed_at = now(), message_box = NULL, "
                            "last_error = left($2, 1000) WHERE id = $1",
                            2, p, NULL);
    } else {
        /* 5 s, 10 s, 20 s … at most an hour. */
        int64_t wait = 5;
        for (int i = 1; i < it->attempts && wait < 3600; i++)
            wait *= 2;
        if (wait > 3600)
            wait = 3600;
        mentis_log_warn("mail %s (%s): attempt %d failed, next in %lld s: %s", it->id, it->kind,
                        it->attempts, (long long)wait, why);
        char w[32];
        snprintf(w, sizeof w, "%lld", (long long)wait);
        const char *p[] = {it->id, why, w};
        st = mentis_db_exec(conn,
                            "UPDATE auth.mail_outbox SET last_error = left($2, 1000), "
                            "next_attempt_at = now() + make_interval(secs => $3::bigint) "
                            "WHERE id = $1",
                            3, p, NULL);
    }
    if (end(conn, st) != MENTIS_OK)
        mentis_log_warn("mail %s: %s", it->id, mentis_err_msg());
}

static void process(item_t *it)
{
    bool drop = false;
    char why[512] = "";
    mentis_status_t st = MENTIS_OK;
    if (it->message == NULL) {
        st = prepare(it, &drop);
        if (drop)
            return;
    }
    if (st == MENTIS_OK)
        st = transport_send(it, it->message);
    if (st != MENTIS_OK)
        snprintf(why, sizeof why, "%s", mentis_err_msg());
    settle(it, st, why);
}

/* Old rows nobody needs: used or expired tokens, stale counters, abandoned mail. */
static void housekeep(void)
{
    mentis_db_conn_t *conn = NULL;
    if (begin(&conn, NULL) != MENTIS_OK)
        return;
    char window[32];
    snprintf(window, sizeof window, "%lld", (long long)mentis__auth_account()->failure_window_s);
    const char *p[] = {window};
    mentis_status_t st = mentis_db_exec(
        conn, "DELETE FROM auth.one_time_tokens WHERE expires_at < now() - interval '7 days'", 0,
        NULL, NULL);
    if (st == MENTIS_OK)
        st = mentis_db_exec(conn,
                            "DELETE FROM auth.login_throttle WHERE last_failure_at < now() - "
                            "make_interval(secs => $1::bigint) AND (locked_until IS NULL OR "
                            "locked_until < now())",
                            1, p, NULL);
    if (st == MENTIS_OK)
        st = mentis_db_exec(
            conn, "DELETE FROM auth.mail_outbox WHERE failed_at < now() - interval '30 days'", 0,
            NULL, NULL);
    if (end(conn, st) != MENTIS_OK)
        mentis_log_warn("mail sender: housekeeping: %s", mentis_err_msg());
}

static void *sender_main(void *arg)
{
    (void)arg;
    for (;;) {
        pthread_mutex_lock(&sender.lock);
        bool stop = sender.stopping;
        sender.woken = false;
        pthread_mutex_unlock(&sender.lock);
        if (stop)
            break;
        if (now_ms() - sender.last_housekeeping_ms >= HOUSEKEEP_MS) {
            sender.last_housekeeping_ms = now_ms();
            housekeep();
        }
        item_t items[BATCH];
        int n = claim(items);
        for (int i = 0; i < n; i++) {
            process(&items[i]);
            free(items[i].message);
        }
        if (n == BATCH)
            continue; /* more may be due */
        pthread_mutex_lock(&sender.lock);
        if (!sender.stopping && !sender.woken) {
            struct timespec until;
            clock_gettime(CLOCK_MONOTONIC, &until);
            int64_t ns = until.tv_nsec + (mentis__auth_account()->mail_poll_ms % 1000) * 1000000;
            until.tv_sec += mentis__auth_account()->mail_poll_ms / 1000 + ns / 1000000000;
            until.tv_nsec = ns % 1000000000;
            pthread_cond_timedwait(&sender.cond, &sender.lock, &until);
        }
        pthread_mutex_unlock(&sender.lock);
    }
    return NULL;
}

mentis_status_t mentis__auth_mail_start(mentis_service_t *svc)
{
    const mentis_auth_account_t *s = mentis__auth_account();
    if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK)
        return mentis_err_set(MENTIS_ERR_INTERNAL, NULL, "mail: curl_global_init failed");
    if (s->smtp_url == NULL || s->smtp_url[0] == '\0')
        mentis_log_info("mail: no MENTIS_SMTP_URL: messages go to %s",
                        s->mail_dir && s->mail_dir[0] ? s->mail_dir : "the log only");
    sender.svc = svc;
    sender.stopping = false;
    sender.last_housekeeping_ms = now_ms() - HOUSEKEEP_MS + 60000; /* first after a minute */
    pthread_condattr_t attr;
    pthread_condattr_init(&attr);
    pthread_condattr_setclock(&attr, CLOCK_MONOTONIC);
    int rc = pthread_cond_init(&sender.cond, &attr);
    pthread_condattr_destroy(&attr);
    if (rc != 0 || pthread_create(&sender.thread, NULL, sender_main, NULL) != 0)
        return mentis_err_set(MENTIS_ERR_INTERNAL, NULL, "mail: cannot start the sender thread");
    sender.running = true;
    return MENTIS_OK;
}

void mentis__auth_mail_stop(void)
{
    if (!sender.running)
        return;
    pthread_mutex_lock(&sender.lock);
    sender.stopping = true;
    pthread_cond_signal(&sender.cond);
    pthread_mutex_unlock(&sender.lock);
    pthread_join(sender.thread, NULL);
    pthread_cond_destroy(&sender.cond);
    sender.running = false;
    curl_global_cleanup();
}
