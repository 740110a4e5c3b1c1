/*
 * mentis-auth's account operations, the real binary on a real nats-server, PostgreSQL and
 * SMTP server (the harness sink), driven over NATS with the gateway's headers: password
 * change, forgot/reset by mail, email verification and resend, sessions and devices,
 * weak passwords, login throttling and lockout, mail retries, and forgot-password timing
 * for known and unknown addresses.
 */
#include <dirent.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "check.h"
#include "harness.h"
#include "mentis/bus.h"
#include "mentis/crypto.h"
#include "mentis/db.h"
#include "mentis/v1/auth.pb-c.h"
#include "mentis/v1/auth_account.pb-c.h"

#define DEFAULT_TENANT "00000000-0000-7000-8000-000000000001"
#define OTHER_TENANT   "0190a000-0000-7000-8000-0000000000ff"
#define PUBLIC_URL     "https://app.example.test"
#define RESET_TTL_S    4
#define LOCK_S         3
#define PASSWORD       "correct horse battery"

static h_nats_t nats;
static h_pg_t pg;
static h_smtp_t *smtp;
static mentis_bus_t *bus;
static pid_t auth_pid;

/* Starts mentis-auth with the test's settings and `transport` (MENTIS_SMTP_URL=… or
 * MENTIS_MAIL_DIR=…); its pid, or -1. */
static pid_t spawn_auth(const char *transport)
{
    static char env_nats[128], env_admin[64], env_db[512], env_ttl[64], env_lock[64];
    char dir[H_PATH_SIZE];
    if (h_tmpdir("auth-account", dir, sizeof dir) != 0)
        return -1;
    int port = h_free_port();
    char url[400];
    h_pg_url(&pg, "auth", url, sizeof url);
    snprintf(env_nats, sizeof env_nats, "MENTIS_NATS_URL=%s", nats.url);
    snprintf(env_admin, sizeof env_admin, "MENTIS_ADMIN_PORT=%d", port);
    snprintf(env_db, sizeof env_db, "MENTIS_DATABASE_URL=%s", url);
    snprintf(env_ttl, sizeof env_ttl, "MENTIS_AUTH_RESET_TOKEN_TTL_S=%d", RESET_TTL_S);
    snprintf(env_lock, sizeof env_lock, "MENTIS_AUTH_LOCK_S=%d", LOCK_S);
    const char *env[] = {
        env_nats,
        env_admin,
        env_db,
        transport,
        env_ttl,
        env_lock,
        "MENTIS_PUBLIC_URL=" PUBLIC_URL,
        "MENTIS_MAIL_FROM=Mentis Test <no-reply@mentis.example.test>",
        "MENTIS_MAIL_POLL_MS=50",
        "MENTIS_AUTH_LOCK_AFTER_FAILURES=4",
        "MENTIS_AUTH_THROTTLE_AFTER_FAILURES=2",
        "MENTIS_AUTH_THROTTLE_MAX_DELAY_S=2",
        "MENTIS_AUTH_IP_THROTTLE_AFTER_FAILURES=6",
        /* The OWASP minimum keeps Argon2 fast enough for tests. */
        "MENTIS_AUTH_ARGON2_OPSLIMIT=2",
        "MENTIS_AUTH_ARGON2_MEMLIMIT=19922944",
        "MENTIS_AUTH_KEY_ENCRYPTION_KEY="
        "000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f",
        "MENTIS_WORKERS=4",
        NULL,
    };
    char path[600], log[600];
    snprintf(path, sizeof path, "%s/services/auth/mentis-auth", getenv("MENTIS_BUILD_DIR"));
    snprintf(log, sizeof log, "%s/auth.log", dir);
    const char *argv[] = {path, NULL};
    pid_t pid = h_spawn(argv, env, log);
    if (pid > 0 && h_wait_http(port, "/readyz", 200, 20000) != 0)
        return -1;
    return pid;
}

static void setup(void)
{
    static bool done;
    if (done)
        return;
    done = true;
    REQUIRE(mentis_crypto_init() == MENTIS_OK);
    REQUIRE(h_nats_start(&nats) == 0 && h_pg_start(&pg) == 0 && h_smtp_start(&smtp) == 0);
    static char env_smtp[64];
    snprintf(env_smtp, sizeof env_smtp, "MENTIS_SMTP_URL=smtp://127.0.0.1:%d", h_smtp_port(smtp));
    auth_pid = spawn_auth(env_smtp);
    REQUIRE(auth_pid > 0);
    mentis_bus_options_t o = {.url = nats.url, .name = "test-auth-account"};
    REQUIRE(mentis_bus_connect(&o, &bus) == MENTIS_OK &&
            mentis_bus_wait_connected(bus, 5000) == MENTIS_OK);
}

/* ---- calls ---- */

typedef struct {
    mentis_status_t st;
    const char *code;
    mentis_msg_t *reply;
    ProtobufCMessage *resp; /* on success */
} call_t;

static void call_free(call_t *c)
{
    if (c->resp)
        protobuf_c_message_free_unpacked(c->resp, NULL);
    mentis_msg_destroy(c->reply);
    memset(c, 0, sizeof *c);
}

static call_t rpc(const char *op, const mentis_header_t *h, size_t nh, const ProtobufCMessage *req,
                  const ProtobufCMessageDescriptor *resp_desc)
{
    call_t c = {0};
    char subject[128];
    snprintf(subject, sizeof subject, "mentis.v1.auth.%s", op);
    uint8_t buf[4096];
    size_t n = protobuf_c_message_pack(req, buf);
    c.st = mentis_bus_request_sync(bus, subject, h, nh, buf, n, 15000, &c.reply);
    if (c.st != MENTIS_OK) {
        c.code = "no reply";
        return c;
    }
    c.st = mentis_msg_error(c.reply, &c.code, NULL);
    if (c.st == MENTIS_OK)
        c.resp = protobuf_c_message_unpack(resp_desc, NULL, mentis_msg_len(c.reply),
                                           mentis_msg_data(c.reply));
    return c;
}

/* The error reply's detail (field errors, Retry-After); free with ..._free_unpacked. */
static Mentis__V1__ErrorDetail *detail_of(const call_t *c)
{
    if (c->reply == NULL || mentis_msg_len(c->reply) == 0)
        return NULL;
    return mentis__v1__error_detail__unpack(NULL, mentis_msg_len(c->reply),
                                            mentis_msg_data(c->reply));
}

static int retry_after(const call_t *c)
{
    Mentis__V1__ErrorDetail *d = detail_of(c);
    int r = d ? d->retry_after_seconds : -1;
    if (d)
        mentis__v1__error_detail__free_unpacked(d, NULL);
    return r;
}

/* A signed-in caller as the gateway describes it. */
typedef struct {
    char tenant[37];
    char user[37];
    char session[37];
    const char *roles;
} who_t;

static size_t headers(const who_t *w, mentis_header_t h[5])
{
    size_t n = 0;
    h[n++] = (mentis_header_t){MENTIS_HDR_TENANT, w->tenant};
    h[n++] = (mentis_header_t){MENTIS_HDR_PRINCIPAL, w->user};
    h[n++] = (mentis_header_t){MENTIS_HDR_ROLES, w->roles ? w->roles : "user"};
    if (w->session[0])
        h[n++] = (mentis_header_t){MENTIS_HDR_SESSION, w->session};
    h[n++] = (mentis_header_t){"Mentis-Client-Ip", "192.0.2.50"};
    return n;
}

static call_t as(const who_t *w, const char *op, const ProtobufCMessage *req,
                 const ProtobufCMessageDescriptor *resp_desc)
{
    mentis_header_t h[5];
    size_t n = headers(w, h);
    return rpc(op, h, n, req, resp_desc);
}

static call_t do_register(const char *email, const char *password)
{
    Mentis__V1__Auth__RegisterRequest r;
    mentis__v1__auth__register_request__init(&r);
    r.email = (char *)(uintptr_t)email;
    r.password = (char *)(uintptr_t)password;
    r.display_name = (char *)(uintptr_t) "Tester";
    return rpc("register", NULL, 0, &r.base, &mentis__v1__auth__register_response__descriptor);
}

static call_t do_login_from(const char *email, const char *password, const char *fingerprint,
                            const char *ip)
{
    Mentis__V1__Auth__LoginRequest r;
    Mentis__V1__Auth__Device d;
    mentis__v1__auth__login_request__init(&r);
    mentis__v1__auth__device__init(&d);
    r.email = (char *)(uintptr_t)email;
    r.password = (char *)(uintptr_t)password;
    if (fingerprint) {
        d.fingerprint = (char *)(uintptr_t)fingerprint;
        d.name = (char *)(uintptr_t)fingerprint;
        d.type = MENTIS__V1__AUTH__DEVICE_TYPE__DEVICE_TYPE_ANDROID;
        r.device = &d;
    }
    mentis_header_t h[] = {{"Mentis-Client-Ip", ip}, {"Mentis-User-Agent", "account-test/1.0"}};
    return rpc("login", h, 2, &r.base, &mentis__v1__auth__login_response__descriptor);
}

static call_t do_login(const char *email, const char *password, const char *fingerprint)
{
    return do_login_from(email, password, fingerprint, "192.0.2.7");
}

static call_t do_refresh(const char *token)
{
    Mentis__V1__Auth__RefreshRequest r;
    mentis__v1__auth__refresh_request__init(&r);
    r.refresh_token = (char *)(uintptr_t)token;
    return rpc("refresh", NULL, 0, &r.base, &mentis__v1__auth__refresh_response__descriptor);
}

static call_t do_forgot(const char *email)
{
    Mentis__V1__Auth__ForgotPasswordRequest r;
    mentis__v1__auth__forgot_password_request__init(&r);
    r.email = (char *)(uintptr_t)email;
    return rpc("password.forgot", NULL, 0, &r.base,
               &mentis__v1__auth__forgot_password_response__descriptor);
}

static call_t do_resend(const char *email)
{
    Mentis__V1__Auth__ResendVerificationRequest r;
    mentis__v1__auth__resend_verification_request__init(&r);
    r.email = (char *)(uintptr_t)email;
    return rpc("email.resend", NULL, 0, &r.base,
               &mentis__v1__auth__resend_verification_response__descriptor);
}

static call_t do_reset(const char *token, const char *password)
{
    Mentis__V1__Auth__ResetPasswordRequest r;
    mentis__v1__auth__reset_password_request__init(&r);
    r.token = (char *)(uintptr_t)token;
    r.new_password = (char *)(uintptr_t)password;
    return rpc("password.reset", NULL, 0, &r.base,
               &mentis__v1__auth__reset_password_response__descriptor);
}

static call_t do_verify(const char *token)
{
    Mentis__V1__Auth__VerifyEmailRequest r;
    mentis__v1__auth__verify_email_request__init(&r);
    r.token = (char *)(uintptr_t)token;
    return rpc("email.verify", NULL, 0, &r.base,
               &mentis__v1__auth__verify_email_response__descriptor);
}

/* Registers an account; its id and the register session's refresh token. */
static bool make_user(const char *email, char user_id[37], char refresh[64])
{
    call_t c = do_register(email, PASSWORD);
    bool ok = c.st == MENTIS_OK && c.resp != NULL;
    if (ok) {
        Mentis__V1__Auth__RegisterResponse *r = (Mentis__V1__Auth__RegisterResponse *)c.resp;
        snprintf(user_id, 37, "%s", r->user->id);
        if (refresh)
            snprintf(refresh, 64, "%s", r->tokens->refresh_token);
    } else {
        fprintf(stderr, "register %s: %s\n", email, c.code);
    }
    call_free(&c);
    return ok;
}

/* The link's token of the next mail to `to` and the path before it; "" on timeout. */
static void mail_token(const char *to, const char *path, char token[64])
{
    static char msg[16384];
    token[0] = '\0';
    if (h_smtp_take(smtp, to, msg, sizeof msg, 10000) != 0)
        return;
    char want[256];
    snprintf(want, sizeof want, PUBLIC_URL "/%s?token=", path);
    const char *l = strstr(msg, want);
    if (l == NULL) {
        fprintf(stderr, "no %s link in:\n%s\n", path, msg);
        return;
    }
    l += strlen(want);
    snprintf(token, 64, "%.*s", (int)strcspn(l, "\r\n"), l);
}

static void session_of(const char *fingerprint, char out[37])
{
    char sql[256];
    snprintf(sql, sizeof sql,
             "SELECT s.id FROM auth.sessions s JOIN auth.devices d ON d.id = s.device_id "
             "WHERE d.fingerprint = '%s' ORDER BY s.created_at DESC LIMIT 1",
             fingerprint);
    out[0] = '\0';
    h_pg_query(&pg, sql, out, 37);
}

static void query(const char *sql, char *out, size_t size)
{
    if (h_pg_query(&pg, sql, out, size) != 0)
        snprintf(out, size, "(query failed)");
}

/* ---- session_revoked events ---- */

static pthread_mutex_t ev_lock = PTHREAD_MUTEX_INITIALIZER;
static char ev_last[1024]; /* "<reason> <all> <ids…>" of the last event */
static int ev_count;

static void on_revoked(void *arg, mentis_msg_t *msg)
{
    (void)arg;
    Mentis__V1__Auth__SessionRevoked *ev =
        mentis__v1__auth__session_revoked__unpack(NULL, mentis_msg_len(msg), mentis_msg_data(msg));
    if (ev != NULL) {
        pthread_mutex_lock(&ev_lock);
        int n = snprintf(ev_last, sizeof ev_last, "%s %s", ev->reason,
                         ev->all_sessions ? "all" : "some");
        for (size_t i = 0; i < ev->n_session_ids && n > 0 && (size_t)n < sizeof ev_last; i++)
            n += snprintf(ev_last + n, sizeof ev_last - (size_t)n, " %s", ev->session_ids[i]);
        ev_count++;
        pthread_mutex_unlock(&ev_lock);
        mentis__v1__auth__session_revoked__free_unpacked(ev, NULL);
    }
    mentis_msg_destroy(msg);
}

/* Waits for event number `n` and copies the last one. */
static bool wait_event(int n, char *out, size_t size)
{
    for (int i = 0; i < 250; i++) {
        pthread_mutex_lock(&ev_lock);
        bool got = ev_count >= n;
        if (got)
            snprintf(out, size, "%s", ev_last);
        pthread_mutex_unlock(&ev_lock);
        if (got)
            return true;
        h_sleep_ms(20);
    }
    return false;
}

static int events(void)
{
    pthread_mutex_lock(&ev_lock);
    int n = ev_count;
    pthread_mutex_unlock(&ev_lock);
    return n;
}

static mentis_bus_sub_t *ev_sub;

static void subscribe_events(void)
{
    if (ev_sub == NULL)
        mentis_bus_subscribe(bus, "mentis.v1.evt.auth.session_revoked.>", NULL, on_revoked, NULL,
                             &ev_sub);
}

/* ---- cases ---- */

static void test_weak_passwords(void)
{
    setup();
    const char *weak[] = {"password1",  "Password123", "QWERTY123", "iloveyou",
                          "letmein123", "short",       "1234567"};
    for (size_t i = 0; i < sizeof weak / sizeof weak[0]; i++) {
        call_t c = do_register("weak@example.org", weak[i]);
        CHECK_INT(c.st, MENTIS_ERR_INVALID_ARGUMENT);
        CHECK_MSG(c.code && strcmp(c.code, "weak_password") == 0, "%s: %s", weak[i], c.code);
        Mentis__V1__ErrorDetail *d = detail_of(&c);
        CHECK(d != NULL && d->n_errors == 1 && strcmp(d->errors[0]->field, "password") == 0);
        if (d != NULL && i < 5)
            CHECK_MSG(strstr(d->errors[0]->message, "common") != NULL, "%s: %s", weak[i],
                      d->errors[0]->message);
        if (d)
            mentis__v1__error_detail__free_unpacked(d, NULL);
        call_free(&c);
    }
    char longer[130];
    memset(longer, 'x', 129);
    longer[129] = '\0';
    call_t c = do_register("weak@example.org", longer);
    CHECK_STR(c.code, "weak_password");
    call_free(&c);
    char out[64];
    query("SELECT count(*) FROM auth.users WHERE email = 'weak@example.org'", out, sizeof out);
    CHECK_STR(out, "0");
    /* A sound one is taken (and is not in the list just because it has common words). */
    c = do_register("weak@example.org", PASSWORD);
    CHECK_INT(c.st, MENTIS_OK);
    call_free(&c);
}

static void test_register_and_verify_email(void)
{
    setup();
    char uid[37], token[64], token2[64];
    REQUIRE(make_user("Vera@Example.org", uid, NULL));
    /* The verification mail went to the address as registered, with a link. */
    mail_token("Vera@Example.org", "verify-email", token);
    REQUIRE(strlen(token) == 43);

    call_t c = do_verify(token);
    REQUIRE(c.st == MENTIS_OK && c.resp != NULL);
    Mentis__V1__Auth__VerifyEmailResponse *v = (Mentis__V1__Auth__VerifyEmailResponse *)c.resp;
    CHECK(v->email_verified);
    REQUIRE(v->user != NULL);
    CHECK(v->user->email_verified);
    CHECK_STR(v->user->id, uid);
    call_free(&c);
    /* Single use. */
    c = do_verify(token);
    CHECK_INT(c.st, MENTIS_ERR_INVALID_ARGUMENT);
    CHECK_STR(c.code, "token_used");
    call_free(&c);
    c = do_verify("AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA");
    CHECK_STR(c.code, "invalid_token");
    call_free(&c);
    c = do_verify("not a token");
    CHECK_STR(c.code, "invalid_token");
    call_free(&c);
    /* Only the hash is stored. */
    char out[128];
    snprintf(out, sizeof out, "%s", "");
    char sql[256];
    snprintf(sql, sizeof sql,
             "SELECT count(*) FROM auth.one_time_tokens WHERE token_hash::text LIKE '%%%s%%'",
             token);
    query(sql, out, sizeof out);
    CHECK_STR(out, "0");

    /* Resend: 202 alike for an unknown address, a verified one and an unverified one; only
     * the unverified one gets mail. */
    char uid2[37];
    REQUIRE(make_user("walt@example.org", uid2, NULL));
    mail_token("walt@example.org", "verify-email", token);
    REQUIRE(strlen(token) == 43);
    call_t r1 = do_resend("nobody-here@example.org");
    call_t r2 = do_resend("vera@example.org");
    call_t r3 = do_resend("WALT@example.org");
    CHECK_INT(r1.st, MENTIS_OK);
    CHECK_INT(r2.st, MENTIS_OK);
    CHECK_INT(r3.st, MENTIS_OK);
    CHECK_INT(mentis_msg_len(r1.reply), mentis_msg_len(r3.reply));
    call_free(&r1);
    call_free(&r2);
    call_free(&r3);
    mail_token("walt@example.org", "verify-email", token2);
    REQUIRE(strlen(token2) == 43);
    CHECK(strcmp(token, token2) != 0);
    CHECK_INT(h_smtp_count(smtp, "nobody-here@example.org"), 0);
    CHECK_INT(h_smtp_count(smtp, "vera@example.org"), 0);
    /* A malformed address is 400 whoever asks. */
    c = do_resend("not-an-address");
    CHECK_INT(c.st, MENTIS_ERR_INVALID_ARGUMENT);
    call_free(&c);

    /* An expired link: token_expired. */
    snprintf(sql, sizeof sql,
             "UPDATE auth.one_time_tokens SET expires_at = now() - interval '1 second' "
             "WHERE user_id = '%s'",
             uid2);
    REQUIRE(h_pg_exec(&pg, sql) == 0);
    c = do_verify(token2);
    CHECK_STR(c.code, "token_expired");
    call_free(&c);
    snprintf(sql, sizeof sql, "SELECT email_verified FROM auth.users WHERE id = '%s'", uid2);
    query(sql, out, sizeof out);
    CHECK_STR(out, "f");
    query("SELECT count(*) FROM auth.audit_log WHERE event = 'email_verified'", out, sizeof out);
    CHECK_STR(out, "1");
}

static void test_password_change(void)
{
    setup();
    subscribe_events();
    char uid[37], r0[64];
    REQUIRE(make_user("chang@example.org", uid, r0));
    call_t l1 = do_login("chang@example.org", PASSWORD, "fp-chang-1");
    call_t l2 = do_login("chang@example.org", PASSWORD, "fp-chang-2");
    REQUIRE(l1.st == MENTIS_OK && l2.st == MENTIS_OK);
    who_t w = {.tenant = DEFAULT_TENANT};
    snprintf(w.user, sizeof w.user, "%s", uid);
    session_of("fp-chang-1", w.session);
    char s2[37];
    session_of("fp-chang-2", s2);

    Mentis__V1__Auth__ChangePasswordRequest r;
    mentis__v1__auth__change_password_request__init(&r);
    r.current_password = (char *)(uintptr_t) "not the password";
    r.new_password = (char *)(uintptr_t) "a brand new secret";
    call_t c =
        as(&w, "password.change", &r.base, &mentis__v1__auth__change_password_response__descriptor);
    CHECK_INT(c.st, MENTIS_ERR_UNAUTHENTICATED);
    CHECK_STR(c.code, "invalid_credentials");
    call_free(&c);
    r.current_password = (char *)(uintptr_t)PASSWORD;
    r.new_password = (char *)(uintptr_t) "password123";
    c = as(&w, "password.change", &r.base, &mentis__v1__auth__change_password_response__descriptor);
    CHECK_STR(c.code, "weak_password");
    Mentis__V1__ErrorDetail *d = detail_of(&c);
    CHECK(d != NULL && d->n_errors == 1 && strcmp(d->errors[0]->field, "new_password") == 0);
    if (d)
        mentis__v1__error_detail__free_unpacked(d, NULL);
    call_free(&c);
    /* A beta token's caller has no account. */
    who_t beta = w;
    beta.roles = "beta";
    r.new_password = (char *)(uintptr_t) "a brand new secret";
    c = as(&beta, "password.change", &r.base,
           &mentis__v1__auth__change_password_response__descriptor);
    CHECK_INT(c.st, MENTIS_ERR_PERMISSION_DENIED);
    call_free(&c);

    int before = events();
    c = as(&w, "password.change", &r.base, &mentis__v1__auth__change_password_response__descriptor);
    CHECK_INT(c.st, MENTIS_OK);
    call_free(&c);
    /* The other sessions end (event included); the current one goes on. */
    char ev[1024] = "";
    CHECK(wait_event(before + 1, ev, sizeof ev));
    CHECK_MSG(strncmp(ev, "password_changed some", 21) == 0 && strstr(ev, s2) != NULL &&
                  strstr(ev, w.session) == NULL,
              "event: %s", ev);
    call_t rf = do_refresh(((Mentis__V1__Auth__LoginResponse *)l1.resp)->tokens->refresh_token);
    CHECK_INT(rf.st, MENTIS_OK);
    call_free(&rf);
    rf = do_refresh(((Mentis__V1__Auth__LoginResponse *)l2.resp)->tokens->refresh_token);
    CHECK_STR(rf.code, "token_invalid");
    call_free(&rf);
    rf = do_refresh(r0);
    CHECK_STR(rf.code, "token_invalid");
    call_free(&rf);
    c = do_login("chang@example.org", PASSWORD, NULL);
    CHECK_STR(c.code, "invalid_credentials");
    call_free(&c);
    c = do_login("chang@example.org", "a brand new secret", NULL);
    CHECK_INT(c.st, MENTIS_OK);
    call_free(&c);
    char out[64];
    query("SELECT count(*) FROM auth.audit_log WHERE event = 'password_changed'", out, sizeof out);
    CHECK_STR(out, "1");
    call_free(&l1);
    call_free(&l2);
}

static void test_forgot_and_reset(void)
{
    setup();
    subscribe_events();
    char uid[37], token[64];
    REQUIRE(make_user("rosa@example.org", uid, NULL));
    mail_token("rosa@example.org", "verify-email", token); /* the registration's */
    call_t l1 = do_login("rosa@example.org", PASSWORD, "fp-rosa-1");
    REQUIRE(l1.st == MENTIS_OK);

    /* Unknown first: the queue is in order, so once Rosa's mail is in, nothing else came. */
    call_t c = do_forgot("nobody-at-all@example.org");
    CHECK_INT(c.st, MENTIS_OK);
    call_free(&c);
    c = do_forgot(" Rosa@Example.org ");
    CHECK_INT(c.st, MENTIS_OK);
    call_free(&c);
    mail_token("rosa@example.org", "reset-password", token);
    REQUIRE(strlen(token) == 43);
    CHECK_INT(h_smtp_count(smtp, "nobody-at-all@example.org"), 0);

    /* A weak password does not use the token up. */
    c = do_reset(token, "qwerty123");
    CHECK_STR(c.code, "weak_password");
    call_free(&c);
    int before = events();
    c = do_reset(token, "rosa's new passphrase");
    CHECK_INT(c.st, MENTIS_OK);
    call_free(&c);
    char ev[1024] = "";
    CHECK(wait_event(before + 1, ev, sizeof ev));
    CHECK_MSG(strncmp(ev, "password_reset all", 18) == 0, "event: %s", ev);
    /* Every session ended; the token works once. */
    call_t rf = do_refresh(((Mentis__V1__Auth__LoginResponse *)l1.resp)->tokens->refresh_token);
    CHECK_STR(rf.code, "token_invalid");
    call_free(&rf);
    c = do_reset(token, "yet another passphrase");
    CHECK_INT(c.st, MENTIS_ERR_INVALID_ARGUMENT);
    CHECK_STR(c.code, "token_used");
    call_free(&c);
    c = do_reset("BBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBB", "yet another passphrase");
    CHECK_STR(c.code, "invalid_token");
    call_free(&c);
    c = do_login("rosa@example.org", "rosa's new passphrase", NULL);
    CHECK_INT(c.st, MENTIS_OK);
    call_free(&c);
    char out[64], sql[256];
    snprintf(sql, sizeof sql, "SELECT email_verified FROM auth.users WHERE id = '%s'", uid);
    query(sql, out, sizeof out);
    CHECK_STR(out, "t");
    query("SELECT count(*) FROM auth.audit_log WHERE event = 'password_reset'", out, sizeof out);
    CHECK_STR(out, "1");

    /* An expired link (MENTIS_AUTH_RESET_TOKEN_TTL_S is tiny here): token_expired. */
    c = do_forgot("rosa@example.org");
    CHECK_INT(c.st, MENTIS_OK);
    call_free(&c);
    mail_token("rosa@example.org", "reset-password", token);
    REQUIRE(strlen(token) == 43);
    h_sleep_ms(RESET_TTL_S * 1000 + 300);
    c = do_reset(token, "too late for this one");
    CHECK_STR(c.code, "token_expired");
    call_free(&c);
    call_free(&l1);
}

static void test_sessions_and_devices(void)
{
    setup();
    subscribe_events();
    char ua[37], ub[37], ra[64];
    REQUIRE(make_user("sam@example.org", ua, ra));
    REQUIRE(make_user("tess@example.org", ub, NULL));
    call_t l1 = do_login("sam@example.org", PASSWORD, "fp-sam-1");
    call_t l2 = do_login("sam@example.org", PASSWORD, "fp-sam-2");
    call_t lb = do_login("tess@example.org", PASSWORD, "fp-tess-1");
    REQUIRE(l1.st == MENTIS_OK && l2.st == MENTIS_OK && lb.st == MENTIS_OK);
    who_t a = {.tenant = DEFAULT_TENANT}, b = {.tenant = DEFAULT_TENANT};
    snprintf(a.user, sizeof a.user, "%s", ua);
    snprintf(b.user, sizeof b.user, "%s", ub);
    session_of("fp-sam-1", a.session);
    session_of("fp-tess-1", b.session);
    char s2[37];
    session_of("fp-sam-2", s2);

    Mentis__V1__Auth__ListSessionsRequest lr;
    mentis__v1__auth__list_sessions_request__init(&lr);
    call_t c =
        as(&a, "sessions.list", &lr.base, &mentis__v1__auth__list_sessions_response__descriptor);
    REQUIRE(c.st == MENTIS_OK && c.resp != NULL);
    Mentis__V1__Auth__ListSessionsResponse *ls = (Mentis__V1__Auth__ListSessionsResponse *)c.resp;
    CHECK_INT(ls->n_items, 3); /* register, fp-sam-1, fp-sam-2 */
    int current = 0;
    for (size_t i = 0; i < ls->n_items; i++) {
        Mentis__V1__Auth__Session *s = ls->items[i];
        CHECK(s->created_at != NULL && s->last_activity_at != NULL);
        if (s->current) {
            current++;
            CHECK_STR(s->id, a.session);
            CHECK_STR(s->ip_address, "192.0.2.7");
            CHECK_STR(s->user_agent, "account-test/1.0");
            REQUIRE(s->device != NULL);
            CHECK_STR(s->device->name, "fp-sam-1");
            CHECK_INT(s->device->type, MENTIS__V1__AUTH__DEVICE_TYPE__DEVICE_TYPE_ANDROID);
        }
    }
    CHECK_INT(current, 1);
    call_free(&c);

    /* Another user's session, another tenant, a malformed id: not found / refused. */
    Mentis__V1__Auth__RevokeSessionRequest rr;
    mentis__v1__auth__revoke_session_request__init(&rr);
    rr.id = s2;
    c = as(&b, "sessions.revoke", &rr.base, &mentis__v1__auth__revoke_session_response__descriptor);
    CHECK_INT(c.st, MENTIS_ERR_NOT_FOUND);
    CHECK_STR(c.code, "not_found");
    call_free(&c);
    who_t other = a;
    snprintf(other.tenant, sizeof other.tenant, "%s", OTHER_TENANT);
    c = as(&other, "sessions.revoke", &rr.base,
           &mentis__v1__auth__revoke_session_response__descriptor);
    CHECK_INT(c.st, MENTIS_ERR_NOT_FOUND);
    call_free(&c);
    c = as(&other, "sessions.list", &lr.base,
           &mentis__v1__auth__list_sessions_response__descriptor);
    CHECK_INT(c.st, MENTIS_OK);
    CHECK(c.resp != NULL && ((Mentis__V1__Auth__ListSessionsResponse *)c.resp)->n_items == 0);
    call_free(&c);
    rr.id = (char *)(uintptr_t) "not-a-uuid";
    c = as(&a, "sessions.revoke", &rr.base, &mentis__v1__auth__revoke_session_response__descriptor);
    CHECK_INT(c.st, MENTIS_ERR_INVALID_ARGUMENT);
    call_free(&c);
    who_t beta = a;
    beta.roles = "beta";
    c = as(&beta, "sessions.list", &lr.base, &mentis__v1__auth__list_sessions_response__descriptor);
    CHECK_INT(c.st, MENTIS_ERR_PERMISSION_DENIED);
    call_free(&c);
    char sql[256], out[64];
    snprintf(sql, sizeof sql,
             "SELECT count(*) FROM auth.sessions WHERE id = '%s' AND revoked_at IS NULL", s2);
    query(sql, out, sizeof out);
    CHECK_STR(out, "1");

    /* The owner revokes it: event, its refresh token dies, the list shrinks. */
    int before = events();
    rr.id = s2;
    c = as(&a, "sessions.revoke", &rr.base, &mentis__v1__auth__revoke_session_response__descriptor);
    CHECK_INT(c.st, MENTIS_OK);
    call_free(&c);
    char ev[1024] = "";
    CHECK(wait_event(before + 1, ev, sizeof ev));
    CHECK_MSG(strncmp(ev, "session_revoked some", 20) == 0 && strstr(ev, s2) != NULL, "event: %s",
              ev);
    call_t rf = do_refresh(((Mentis__V1__Auth__LoginResponse *)l2.resp)->tokens->refresh_token);
    CHECK_STR(rf.code, "token_invalid");
    call_free(&rf);
    c = as(&a, "sessions.revoke", &rr.base, &mentis__v1__auth__revoke_session_response__descriptor);
    CHECK_INT(c.st, MENTIS_ERR_NOT_FOUND); /* already ended */
    call_free(&c);
    c = as(&a, "sessions.list", &lr.base, &mentis__v1__auth__list_sessions_response__descriptor);
    CHECK(c.resp != NULL && ((Mentis__V1__Auth__ListSessionsResponse *)c.resp)->n_items == 2);
    call_free(&c);

    /* Devices: both listed with their live sessions; deleting one ends its sessions. */
    Mentis__V1__Auth__ListDevicesRequest dr;
    mentis__v1__auth__list_devices_request__init(&dr);
    c = as(&a, "devices.list", &dr.base, &mentis__v1__auth__list_devices_response__descriptor);
    REQUIRE(c.st == MENTIS_OK && c.resp != NULL);
    Mentis__V1__Auth__ListDevicesResponse *ld = (Mentis__V1__Auth__ListDevicesResponse *)c.resp;
    CHECK_INT(ld->n_items, 2);
    char dev1[37] = "";
    for (size_t i = 0; i < ld->n_items; i++) {
        CHECK(ld->items[i]->created_at != NULL && ld->items[i]->last_seen_at != NULL);
        if (strcmp(ld->items[i]->name, "fp-sam-1") == 0) {
            snprintf(dev1, sizeof dev1, "%s", ld->items[i]->id);
            CHECK_INT(ld->items[i]->active_sessions, 1);
        } else {
            CHECK_INT(ld->items[i]->active_sessions, 0);
        }
    }
    call_free(&c);
    REQUIRE(dev1[0] != '\0');
    Mentis__V1__Auth__DeleteDeviceRequest xr;
    mentis__v1__auth__delete_device_request__init(&xr);
    xr.id = dev1;
    c = as(&b, "devices.delete", &xr.base, &mentis__v1__auth__delete_device_response__descriptor);
    CHECK_INT(c.st, MENTIS_ERR_NOT_FOUND);
    call_free(&c);
    before = events();
    c = as(&a, "devices.delete", &xr.base, &mentis__v1__auth__delete_device_response__descriptor);
    CHECK_INT(c.st, MENTIS_OK);
    call_free(&c);
    CHECK(wait_event(before + 1, ev, sizeof ev));
    CHECK_MSG(strncmp(ev, "device_deleted some", 19) == 0 && strstr(ev, a.session) != NULL,
              "event: %s", ev);
    rf = do_refresh(((Mentis__V1__Auth__LoginResponse *)l1.resp)->tokens->refresh_token);
    CHECK_STR(rf.code, "token_invalid");
    call_free(&rf);
    c = as(&a, "devices.delete", &xr.base, &mentis__v1__auth__delete_device_response__descriptor);
    CHECK_INT(c.st, MENTIS_ERR_NOT_FOUND);
    call_free(&c);
    c = as(&a, "devices.list", &dr.base, &mentis__v1__auth__list_devices_response__descriptor);
    CHECK(c.resp != NULL && ((Mentis__V1__Auth__ListDevicesResponse *)c.resp)->n_items == 1);
    call_free(&c);
    /* The register session (no device) is untouched. */
    rf = do_refresh(ra);
    CHECK_INT(rf.st, MENTIS_OK);
    call_free(&rf);
    call_free(&l1);
    call_free(&l2);
    call_free(&lb);
}

/* Four failures from one address against `email`: the answers of the throttle. */
static void lockout_sequence(const char *email, const char *ip, bool known)
{
    call_t c = do_login_from(email, "wrong guess one", NULL, ip);
    CHECK_STR(c.code, "invalid_credentials");
    call_free(&c);
    c = do_login_from(email, "wrong guess two", NULL, ip);
    CHECK_STR(c.code, "invalid_credentials");
    call_free(&c);
    /* Two failures: the next attempt must wait 1 s, answered at once with Retry-After. */
    long long t0 = h_now_ms();
    c = do_login_from(email, known ? PASSWORD : "wrong guess three", NULL, ip);
    CHECK_INT(c.st, MENTIS_ERR_RATE_LIMITED);
    CHECK_STR(c.code, "rate_limited");
    CHECK_INT(retry_after(&c), 1);
    CHECK_MSG(h_now_ms() - t0 < 1000, "a throttled answer took %lld ms", h_now_ms() - t0);
    call_free(&c);
    h_sleep_ms(1100);
    c = do_login_from(email, "wrong guess three", NULL, ip);
    CHECK_STR(c.code, "invalid_credentials");
    call_free(&c);
    c = do_login_from(email, "wrong guess four", NULL, ip);
    CHECK_STR(c.code, "rate_limited");
    CHECK_INT(retry_after(&c), 2);
    call_free(&c);
    h_sleep_ms(2100);
    /* The fourth failure locks it, for LOCK_S seconds. */
    c = do_login_from(email, "wrong guess four", NULL, ip);
    CHECK_INT(c.st, MENTIS_ERR_PERMISSION_DENIED);
    CHECK_STR(c.code, "account_locked");
    int ra = retry_after(&c);
    CHECK_MSG(ra >= 1 && ra <= LOCK_S, "retry after %d", ra);
    call_free(&c);
    /* Locked: even the right password is refused (so it cannot be confirmed). */
    c = do_login_from(email, known ? PASSWORD : "anything at all", NULL, ip);
    CHECK_STR(c.code, "account_locked");
    call_free(&c);
}

static void test_lockout(void)
{
    setup();
    char uid[37];
    REQUIRE(make_user("lock@example.org", uid, NULL));
    lockout_sequence("lock@example.org", "203.0.113.1", true);
    char sql[256], out[64];
    snprintf(sql, sizeof sql,
             "SELECT failed_login_count || ' ' || (locked_until > now()) FROM auth.users "
             "WHERE id = '%s'",
             uid);
    query(sql, out, sizeof out);
    CHECK_STR(out, "4 true");
    query("SELECT count(*) FROM auth.audit_log WHERE event = 'account_locked'", out, sizeof out);
    CHECK_STR(out, "1");
    /* An address without an account answers exactly the same way. */
    lockout_sequence("ghost@example.org", "203.0.113.2", false);
    query("SELECT count(*) FROM auth.audit_log WHERE event = 'account_locked'", out, sizeof out);
    CHECK_STR(out, "2");
    /* When the lock ends, the right password works and clears the count. */
    h_sleep_ms(LOCK_S * 1000 + 200);
    call_t c = do_login_from("lock@example.org", PASSWORD, NULL, "203.0.113.1");
    CHECK_INT(c.st, MENTIS_OK);
    call_free(&c);
    snprintf(sql, sizeof sql, "SELECT failed_login_count FROM auth.users WHERE id = '%s'", uid);
    query(sql, out, sizeof out);
    CHECK_STR(out, "0");
}

static void test_ip_throttle(void)
{
    setup();
    /* Six failures from one address, each for another (unknown) account … */
    for (int i = 0; i < 6; i++) {
        char email[64];
        snprintf(email, sizeof email, "spray%d@example.org", i);
        call_t c = do_login_from(email, "spray guess", NULL, "198.51.100.9");
        CHECK_STR(c.code, "invalid_credentials");
        call_free(&c);
    }
    /* … and the address must wait, whichever account it tries next. */
    call_t c = do_login_from("spray99@example.org", "spray guess", NULL, "198.51.100.9");
    CHECK_INT(c.st, MENTIS_ERR_RATE_LIMITED);
    CHECK_INT(retry_after(&c), 1);
    call_free(&c);
    /* Other addresses are not affected. */
    c = do_login_from("spray99@example.org", "spray guess", NULL, "198.51.100.10");
    CHECK_STR(c.code, "invalid_credentials");
    call_free(&c);
    h_sleep_ms(1100);
    c = do_login_from("spray98@example.org", "spray guess", NULL, "198.51.100.9");
    CHECK_STR(c.code, "invalid_credentials");
    call_free(&c);
}

static void test_mail_retry_and_sealed_outbox(void)
{
    setup();
    char uid[37], token[64];
    /* The first attempt meets a temporary failure; the sender tries again (5 s later). */
    h_smtp_fail_next(smtp, 1);
    REQUIRE(make_user("retry@example.org", uid, NULL));
    char out[128] = "";
    for (int i = 0; i < 100; i++) {
        query("SELECT attempts || ' ' || (message_box IS NOT NULL) || ' ' || "
              "(last_error IS NOT NULL) FROM auth.mail_outbox WHERE email = 'retry@example.org'",
              out, sizeof out);
        if (strcmp(out, "1 true true") == 0)
            break;
        h_sleep_ms(50);
    }
    CHECK_STR(out, "1 true true");
    /* Waiting, the message is sealed: its link is not in the table in the clear. */
    query("SELECT position('token='::bytea IN message_box) FROM auth.mail_outbox "
          "WHERE email = 'retry@example.org'",
          out, sizeof out);
    CHECK_STR(out, "0");
    mail_token("retry@example.org", "verify-email", token);
    CHECK_INT((int)strlen(token), 43);
    for (int i = 0; i < 50; i++) {
        query("SELECT count(*) FROM auth.mail_outbox WHERE email = 'retry@example.org'", out,
              sizeof out);
        if (strcmp(out, "0") == 0)
            break;
        h_sleep_ms(50);
    }
    CHECK_STR(out, "0");
    call_t c = do_verify(token);
    CHECK_INT(c.st, MENTIS_OK);
    call_free(&c);

    /* Row-Level Security: the service's own role, without a tenant (and without the
     * sender's declaration), sees none of the new tables' rows. */
    char url[400];
    h_pg_url(&pg, "auth", url, sizeof url);
    mentis_db_options_t o = {.url = url, .size = 1};
    mentis_db_t *db = NULL;
    REQUIRE(mentis_db_open(&o, &db) == MENTIS_OK);
    mentis_db_conn_t *conn = NULL;
    REQUIRE(mentis_db_acquire(db, h_now_ms() + 5000, &conn) == MENTIS_OK);
    const char *tables[] = {"one_time_tokens", "login_throttle"};
    for (size_t i = 0; i < 2; i++) {
        char sql[128];
        snprintf(sql, sizeof sql, "SELECT count(*) FROM auth.%s", tables[i]);
        PGresult *res = NULL;
        REQUIRE(mentis_db_tx_begin(conn, NULL) == MENTIS_OK);
        REQUIRE(mentis_db_exec(conn, sql, 0, NULL, &res) == MENTIS_OK);
        CHECK_MSG(strcmp(PQgetvalue(res, 0, 0), "0") == 0, "%s: %s rows without a tenant",
                  tables[i], PQgetvalue(res, 0, 0));
        PQclear(res);
        mentis_db_tx_rollback(conn);
        REQUIRE(mentis_db_tx_begin(conn, OTHER_TENANT) == MENTIS_OK);
        REQUIRE(mentis_db_exec(conn, sql, 0, NULL, &res) == MENTIS_OK);
        CHECK_MSG(strcmp(PQgetvalue(res, 0, 0), "0") == 0, "%s: %s rows of another tenant",
                  tables[i], PQgetvalue(res, 0, 0));
        PQclear(res);
        mentis_db_tx_rollback(conn);
    }
    mentis_db_release(db, conn);
    mentis_db_close(db);
}

static long long now_us(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (long long)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

static int cmp_ll(const void *a, const void *b)
{
    long long x = *(const long long *)a, y = *(const long long *)b;
    return (x > y) - (x < y);
}

/* forgot-password answers known and unknown addresses alike, in the same time. */
static void test_forgot_timing(void)
{
    setup();
    char uid[37];
    REQUIRE(make_user("timing@example.org", uid, NULL));
    enum { WARM = 10, N = 101 };
    long long known[N], unknown[N];
    for (int i = 0; i < WARM + N; i++) {
        char other[64];
        snprintf(other, sizeof other, "timing-%d@example.org", i);
        /* Alternate which goes first, so neither always follows the other's background
         * work (the sender wakes after each). */
        bool known_first = i % 2 == 0;
        long long t0 = now_us();
        call_t a = do_forgot(known_first ? "timing@example.org" : other);
        long long t1 = now_us();
        call_t b = do_forgot(known_first ? other : "timing@example.org");
        long long t2 = now_us();
        CHECK_INT(a.st, MENTIS_OK);
        CHECK_INT(b.st, MENTIS_OK);
        CHECK_INT(mentis_msg_len(a.reply), mentis_msg_len(b.reply));
        call_free(&a);
        call_free(&b);
        if (i >= WARM) {
            known[i - WARM] = known_first ? t1 - t0 : t2 - t1;
            unknown[i - WARM] = known_first ? t2 - t1 : t1 - t0;
        }
    }
    qsort(known, N, sizeof known[0], cmp_ll);
    qsort(unknown, N, sizeof unknown[0], cmp_ll);
    long long mk = known[N / 2], mu = unknown[N / 2];
    long long hi = mk > mu ? mk : mu, diff = mk > mu ? mk - mu : mu - mk;
    printf("forgot-password median over %d: known %lld us, unknown %lld us (%.1f%% apart)\n", N, mk,
           mu, 100.0 * (double)diff / (double)hi);
    CHECK_MSG(diff * 4 <= hi, "known %lld us vs unknown %lld us", mk, mu);
}

/* SIGTERM: the service (and its mail sender) stops and exits 0, leak-free. */
static void test_clean_shutdown(void)
{
    setup();
    REQUIRE(h_kill(auth_pid, SIGTERM) == 0);
    CHECK_INT(h_wait_exit(auth_pid, 15000), 0);
    if (ev_sub)
        mentis_bus_unsubscribe(ev_sub, false, 0);
    h_smtp_stop(smtp);
    smtp = NULL;
}

/* The .eml files in dir/out addressed to `to`; (the last of) them copied into buf. */
static int eml_count(const char *dir, const char *to, char *buf, size_t size)
{
    char path[H_PATH_SIZE + 300], want[300];
    snprintf(path, sizeof path, "%s/out", dir);
    snprintf(want, sizeof want, "\r\nTo: %s\r\n", to);
    DIR *d = opendir(path);
    int n = 0;
    for (struct dirent *e; d != NULL && (e = readdir(d)) != NULL;) {
        size_t len = strlen(e->d_name);
        if (len < 4 || strcmp(e->d_name + len - 4, ".eml") != 0)
            continue;
        snprintf(path, sizeof path, "%s/out/%s", dir, e->d_name);
        FILE *f = fopen(path, "r");
        if (f == NULL)
            continue;
        static char msg[16384];
        size_t got = fread(msg, 1, sizeof msg - 1, f);
        fclose(f);
        msg[got] = '\0';
        /* The headers come first: "To:" is the second one. */
        if (strstr(msg, want) != NULL) {
            snprintf(buf, size, "%s", msg);
            n++;
        }
    }
    if (d != NULL)
        closedir(d);
    return n;
}

/* Without an SMTP server: each message becomes an .eml file in MENTIS_MAIL_DIR, and the
 * link in it works. Also shows mail queued before a restart is not lost. */
static void test_file_transport(void)
{
    setup();
    char dir[H_PATH_SIZE], env_dir[H_PATH_SIZE + 32];
    REQUIRE(h_tmpdir("auth-mail", dir, sizeof dir) == 0);
    /* Queued while no instance runs; the next one sends it. */
    char sql[512];
    snprintf(sql, sizeof sql,
             "INSERT INTO auth.mail_outbox (id, tenant_id, kind, email) VALUES "
             "(gen_random_uuid(), '%s', 'password_reset', 'rosa@example.org')",
             DEFAULT_TENANT);
    REQUIRE(h_pg_exec(&pg, sql) == 0);
    snprintf(env_dir, sizeof env_dir, "MENTIS_MAIL_DIR=%s/out", dir);
    pid_t pid = spawn_auth(env_dir);
    REQUIRE(pid > 0);
    char uid[37];
    REQUIRE(make_user("filer@example.org", uid, NULL));
    /* Both messages arrive as files (the folder is made on first use). */
    char out[4096] = "";
    for (int i = 0; i < 200; i++) {
        snprintf(sql, sizeof sql, "SELECT count(*) FROM auth.mail_outbox WHERE failed_at IS NULL");
        query(sql, out, sizeof out);
        if (strcmp(out, "0") == 0)
            break;
        h_sleep_ms(50);
    }
    CHECK_STR(out, "0");
    CHECK_INT(eml_count(dir, "filer@example.org", out, sizeof out), 1);
    const char *want = PUBLIC_URL "/verify-email?token=";
    const char *l = strstr(out, want);
    REQUIRE(l != NULL);
    char token[64];
    snprintf(token, sizeof token, "%.*s", (int)strcspn(l + strlen(want), "\r\n"), l + strlen(want));
    call_t c = do_verify(token);
    CHECK_INT(c.st, MENTIS_OK);
    call_free(&c);
    char other[4096];
    CHECK_INT(eml_count(dir, "rosa@example.org", other, sizeof other), 1);
    CHECK(strstr(other, PUBLIC_URL "/reset-password?token=") != NULL);
    REQUIRE(h_kill(pid, SIGTERM) == 0);
    CHECK_INT(h_wait_exit(pid, 15000), 0);
}

TEST_MAIN(test_weak_passwords, test_register_and_verify_email, test_password_change,
          test_forgot_and_reset, test_sessions_and_devices, test_lockout, test_ip_throttle,
          test_mail_retry_and_sealed_outbox, test_forgot_timing, test_clean_shutdown,
          test_file_transport)
