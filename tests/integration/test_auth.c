/*
 * mentis-auth, the real binary on a real nats-server and PostgreSQL, driven over NATS as
 * the gateway drives it: register, login, refresh rotation (grace window, concurrent
 * refresh, reuse revoking the family, expiry), logout, me, the JWKS that verifies the
 * access tokens, and Row-Level Security on its tables.
 */
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "harness.h"
#include "mentis/bus.h"
#include "mentis/crypto.h"
#include "mentis/db.h"
#include "mentis/jwt.h"
#include "mentis/v1/auth.pb-c.h"

#define DEFAULT_TENANT "00000000-0000-7000-8000-000000000001"
#define GRACE_S        2

static h_nats_t nats;
static h_pg_t pg;
static mentis_bus_t *bus;
static pid_t auth_pid;

static void setup(void)
{
    static bool done;
    if (done)
        return;
    done = true;
    REQUIRE(mentis_crypto_init() == MENTIS_OK);
    REQUIRE(h_nats_start(&nats) == 0 && h_pg_start(&pg) == 0);
    char dir[H_PATH_SIZE];
    REQUIRE(h_tmpdir("auth", dir, sizeof dir) == 0);
    static char env_nats[128], env_admin[64], env_db[512], env_grace[64];
    int port = h_free_port();
    char url[400];
    h_pg_url(&pg, "auth", url, sizeof url);
    snprintf(env_nats, sizeof env_nats, "MENTIS_NATS_URL=%s", nats.url);
    snprintf(env_admin, sizeof env_admin, "MENTIS_ADMIN_PORT=%d", port);
    snprintf(env_db, sizeof env_db, "MENTIS_DATABASE_URL=%s", url);
    snprintf(env_grace, sizeof env_grace, "MENTIS_AUTH_REFRESH_GRACE_S=%d", GRACE_S);
    /* The OWASP minimum keeps Argon2 fast enough for tests. */
    const char *env[] = {env_nats,
                         env_admin,
                         env_db,
                         env_grace,
                         "MENTIS_AUTH_ARGON2_OPSLIMIT=2",
                         "MENTIS_AUTH_ARGON2_MEMLIMIT=19922944",
                         "MENTIS_AUTH_KEY_ENCRYPTION_KEY="
                         "000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f",
                         "MENTIS_WORKERS=4",
                         NULL};
    char path[600], log[600];
    snprintf(path, sizeof path, "%s/services/auth/mentis-auth", getenv("MENTIS_BUILD_DIR"));
    snprintf(log, sizeof log, "%s/auth.log", dir);
    const char *argv[] = {path, NULL};
    pid_t pid = h_spawn(argv, env, log);
    REQUIRE(pid > 0);
    auth_pid = pid;
    REQUIRE(h_wait_http(port, "/readyz", 200, 20000) == 0);
    mentis_bus_options_t o = {.url = nats.url, .name = "test-auth"};
    REQUIRE(mentis_bus_connect(&o, &bus) == MENTIS_OK &&
            mentis_bus_wait_connected(bus, 5000) == MENTIS_OK);
}

/* The outcome of one call: the status, machine code, and the reply (kept for details). */
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
    c.st = mentis_bus_request_sync(bus, subject, h, nh, buf, n, 10000, &c.reply);
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

static call_t do_register(const char *email, const char *password, const char *name)
{
    Mentis__V1__Auth__RegisterRequest r;
    mentis__v1__auth__register_request__init(&r);
    r.email = (char *)(uintptr_t)email;
    r.password = (char *)(uintptr_t)password;
    r.display_name = (char *)(uintptr_t)name;
    return rpc("register", NULL, 0, &r.base, &mentis__v1__auth__register_response__descriptor);
}

static call_t do_login(const char *email, const char *password, const char *fingerprint)
{
    Mentis__V1__Auth__LoginRequest r;
    Mentis__V1__Auth__Device d;
    mentis__v1__auth__login_request__init(&r);
    mentis__v1__auth__device__init(&d);
    r.email = (char *)(uintptr_t)email;
    r.password = (char *)(uintptr_t)password;
    if (fingerprint) {
        d.fingerprint = (char *)(uintptr_t)fingerprint;
        d.name = (char *)(uintptr_t) "Test phone";
        d.type = MENTIS__V1__AUTH__DEVICE_TYPE__DEVICE_TYPE_IOS;
        r.device = &d;
    }
    mentis_header_t h[] = {{"Mentis-Client-Ip", "192.0.2.7"}, {"Mentis-User-Agent", "test/1.0"}};
    return rpc("login", h, 2, &r.base, &mentis__v1__auth__login_response__descriptor);
}

static call_t do_refresh(const char *token)
{
    Mentis__V1__Auth__RefreshRequest r;
    mentis__v1__auth__refresh_request__init(&r);
    r.refresh_token = (char *)(uintptr_t)token;
    return rpc("refresh", NULL, 0, &r.base, &mentis__v1__auth__refresh_response__descriptor);
}

#define LOGIN(c)   ((Mentis__V1__Auth__LoginResponse *)(c).resp)
#define REFRESH(c) ((Mentis__V1__Auth__RefreshResponse *)(c).resp)

static void test_register(void)
{
    setup();
    call_t c = do_register("Ada@Example.org", "correct horse battery", "Ada");
    REQUIRE(c.st == MENTIS_OK && c.resp != NULL);
    Mentis__V1__Auth__RegisterResponse *r = (Mentis__V1__Auth__RegisterResponse *)c.resp;
    REQUIRE(r->user != NULL && r->tokens != NULL);
    CHECK_STR(r->user->email, "Ada@Example.org");
    CHECK_STR(r->user->display_name, "Ada");
    CHECK_STR(r->user->tenant_id, DEFAULT_TENANT);
    CHECK_INT(r->user->role, MENTIS__V1__AUTH__ROLE__ROLE_USER);
    CHECK(r->user->created_at != NULL && r->user->created_at->seconds > 0);
    CHECK_INT(r->user->version, 1);
    CHECK_STR(r->tokens->token_type, "Bearer");
    CHECK_INT(r->tokens->expires_in, 900);
    CHECK_INT((int)strlen(r->tokens->refresh_token), 43);
    CHECK(strlen(r->tokens->access_token) > 100);
    call_free(&c);

    /* The password is stored as Argon2id, never as given. */
    char out[256];
    REQUIRE(h_pg_query(&pg, "SELECT password_hash FROM auth.users WHERE email = 'Ada@Example.org'",
                       out, sizeof out) == 0);
    CHECK_MSG(strncmp(out, "$argon2id$", 10) == 0, "stored hash %s", out);

    /* The same address in another case: 409 email_exists. */
    c = do_register("ada@example.ORG", "another password", "Ada Two");
    CHECK_INT(c.st, MENTIS_ERR_CONFLICT);
    CHECK_STR(c.code, "email_exists");
    CHECK_STR(mentis_msg_header(c.reply, MENTIS_HDR_SVC_ERROR_CODE), "409");
    call_free(&c);

    /* Bad email and display name: 400 with a field error each. */
    c = do_register("not-an-email", "correct horse battery", "");
    CHECK_INT(c.st, MENTIS_ERR_INVALID_ARGUMENT);
    CHECK_STR(c.code, "invalid_argument");
    Mentis__V1__ErrorDetail *d =
        mentis__v1__error_detail__unpack(NULL, mentis_msg_len(c.reply), mentis_msg_data(c.reply));
    REQUIRE(d != NULL);
    REQUIRE(d->n_errors == 2);
    CHECK_STR(d->errors[0]->field, "email");
    CHECK_STR(d->errors[1]->field, "display_name");
    mentis__v1__error_detail__free_unpacked(d, NULL);
    call_free(&c);

    /* A short password alone: 400 weak_password naming the field. */
    c = do_register("bob@example.org", "short", "Bob");
    CHECK_INT(c.st, MENTIS_ERR_INVALID_ARGUMENT);
    CHECK_STR(c.code, "weak_password");
    d = mentis__v1__error_detail__unpack(NULL, mentis_msg_len(c.reply), mentis_msg_data(c.reply));
    REQUIRE(d != NULL && d->n_errors == 1);
    CHECK_STR(d->errors[0]->field, "password");
    mentis__v1__error_detail__free_unpacked(d, NULL);
    call_free(&c);
    REQUIRE(h_pg_query(&pg,
                       "SELECT count(*) FROM auth.users WHERE lower(email) = 'bob@example.org'",
                       out, sizeof out) == 0);
    CHECK_STR(out, "0");

    /* With a device: it is recorded and returned with its id. */
    Mentis__V1__Auth__RegisterRequest rd;
    Mentis__V1__Auth__Device dev;
    mentis__v1__auth__register_request__init(&rd);
    mentis__v1__auth__device__init(&dev);
    rd.email = (char *)(uintptr_t) "dev@example.org";
    rd.password = (char *)(uintptr_t) "correct horse battery";
    rd.display_name = (char *)(uintptr_t) "Dev";
    dev.fingerprint = (char *)(uintptr_t) "fp-dev";
    dev.type = MENTIS__V1__AUTH__DEVICE_TYPE__DEVICE_TYPE_ANDROID;
    rd.device = &dev;
    c = rpc("register", NULL, 0, &rd.base, &mentis__v1__auth__register_response__descriptor);
    REQUIRE(c.st == MENTIS_OK);
    Mentis__V1__Auth__Device *got = ((Mentis__V1__Auth__RegisterResponse *)c.resp)->device;
    REQUIRE(got != NULL);
    CHECK_STR(got->fingerprint, "fp-dev");
    CHECK_INT(got->type, MENTIS__V1__AUTH__DEVICE_TYPE__DEVICE_TYPE_ANDROID);
    uint8_t dev_id[16];
    CHECK(mentis_crypto_uuid_parse(got->id, dev_id));
    call_free(&c);
    REQUIRE(h_pg_query(&pg, "SELECT type FROM auth.devices WHERE fingerprint = 'fp-dev'", out,
                       sizeof out) == 0);
    CHECK_STR(out, "android");

    /* A tenant that does not exist is refused, not silently created. */
    Mentis__V1__Auth__RegisterRequest rr;
    mentis__v1__auth__register_request__init(&rr);
    rr.email = (char *)(uintptr_t) "eve@example.org";
    rr.password = (char *)(uintptr_t) "correct horse battery";
    rr.display_name = (char *)(uintptr_t) "Eve";
    mentis_header_t h[] = {{MENTIS_HDR_TENANT, "0190a000-0000-7000-8000-0000000000ff"}};
    c = rpc("register", h, 1, &rr.base, &mentis__v1__auth__register_response__descriptor);
    CHECK_INT(c.st, MENTIS_ERR_INVALID_ARGUMENT);
    CHECK_STR(c.code, "invalid_tenant");
    call_free(&c);
}

static void test_login(void)
{
    setup();
    call_t c = do_register("grace@example.org", "hopper-1906", "Grace");
    REQUIRE(c.st == MENTIS_OK);
    call_free(&c);

    c = do_login("  GRACE@example.org ", "hopper-1906", "fp-grace-1");
    REQUIRE(c.st == MENTIS_OK && c.resp != NULL);
    Mentis__V1__Auth__LoginResponse *r = LOGIN(c);
    REQUIRE(r->user && r->device && r->tokens);
    CHECK_STR(r->user->email, "grace@example.org");
    CHECK(r->user->last_login_at != NULL);
    CHECK_STR(r->device->fingerprint, "fp-grace-1");
    CHECK_INT(r->device->type, MENTIS__V1__AUTH__DEVICE_TYPE__DEVICE_TYPE_IOS);
    uint8_t id[16];
    CHECK(mentis_crypto_uuid_parse(r->device->id, id));
    char device_id[37];
    snprintf(device_id, sizeof device_id, "%s", r->device->id);
    call_free(&c);

    /* The session records where it came from; the device is found again by fingerprint. */
    char out[256];
    REQUIRE(
        h_pg_query(&pg,
                   "SELECT ip_address || ' ' || user_agent FROM auth.sessions s JOIN auth.users u "
                   "ON u.id = s.user_id WHERE u.email = 'grace@example.org' ORDER BY s.created_at "
                   "DESC LIMIT 1",
                   out, sizeof out) == 0);
    CHECK_STR(out, "192.0.2.7 test/1.0");
    c = do_login("grace@example.org", "hopper-1906", "fp-grace-1");
    REQUIRE(c.st == MENTIS_OK);
    CHECK_STR(LOGIN(c)->device->id, device_id);
    call_free(&c);

    /* Wrong password and unknown email: the same 401, and both take Argon2 time. */
    long long t0 = h_now_ms();
    c = do_login("grace@example.org", "wrong password", NULL);
    long long wrong_ms = h_now_ms() - t0;
    CHECK_INT(c.st, MENTIS_ERR_UNAUTHENTICATED);
    CHECK_STR(c.code, "invalid_credentials");
    CHECK_STR(mentis_msg_header(c.reply, MENTIS_HDR_SVC_ERROR_CODE), "401");
    call_free(&c);
    t0 = h_now_ms();
    c = do_login("nobody@example.org", "wrong password", NULL);
    long long unknown_ms = h_now_ms() - t0;
    CHECK_INT(c.st, MENTIS_ERR_UNAUTHENTICATED);
    CHECK_STR(c.code, "invalid_credentials");
    call_free(&c);
    CHECK_MSG(unknown_ms * 3 > wrong_ms, "unknown email %lld ms vs wrong password %lld ms",
              unknown_ms, wrong_ms);
    /* Failures are audited even though the request was refused. */
    REQUIRE(h_pg_query(&pg, "SELECT count(*) FROM auth.audit_log WHERE event = 'login_failed'", out,
                       sizeof out) == 0);
    CHECK_STR(out, "2");

    /* An inactive account: 403 account_inactive, only with the right password. */
    REQUIRE(h_pg_exec(
                &pg, "UPDATE auth.users SET is_active = false WHERE email = 'grace@example.org'") ==
            0);
    c = do_login("grace@example.org", "hopper-1906", NULL);
    CHECK_INT(c.st, MENTIS_ERR_PERMISSION_DENIED);
    CHECK_STR(c.code, "account_inactive");
    call_free(&c);
    c = do_login("grace@example.org", "not the password", NULL);
    CHECK_STR(c.code, "invalid_credentials");
    call_free(&c);
    REQUIRE(h_pg_exec(&pg,
                      "UPDATE auth.users SET is_active = true WHERE email = 'grace@example.org'") ==
            0);

    /* A locked account: 403 account_locked until the lock runs out. */
    REQUIRE(h_pg_exec(&pg, "UPDATE auth.users SET locked_until = now() + interval '1 hour' "
                           "WHERE email = 'grace@example.org'") == 0);
    c = do_login("grace@example.org", "hopper-1906", NULL);
    CHECK_INT(c.st, MENTIS_ERR_PERMISSION_DENIED);
    CHECK_STR(c.code, "account_locked");
    call_free(&c);
    REQUIRE(h_pg_exec(&pg, "UPDATE auth.users SET locked_until = now() - interval '1 second' "
                           "WHERE email = 'grace@example.org'") == 0);
    c = do_login("grace@example.org", "hopper-1906", NULL);
    CHECK_INT(c.st, MENTIS_OK);
    CHECK(c.resp != NULL && LOGIN(c)->device == NULL);
    call_free(&c);
}

static void test_access_token_verifies_with_jwks(void)
{
    setup();
    call_t c = do_register("linus@example.org", "penguins-all-the-way", "Linus");
    REQUIRE(c.st == MENTIS_OK);
    call_free(&c);
    c = do_login("linus@example.org", "penguins-all-the-way", "fp-linus");
    REQUIRE(c.st == MENTIS_OK);
    Mentis__V1__Auth__LoginResponse *r = LOGIN(c);

    Mentis__V1__Auth__JwksRequest kr;
    mentis__v1__auth__jwks_request__init(&kr);
    call_t k = rpc("keys", NULL, 0, &kr.base, &mentis__v1__auth__jwks_response__descriptor);
    REQUIRE(k.st == MENTIS_OK && k.resp != NULL);
    Mentis__V1__Auth__JwksResponse *jwks = (Mentis__V1__Auth__JwksResponse *)k.resp;
    REQUIRE(jwks->n_keys == 1);
    CHECK_STR(jwks->keys[0]->kty, "OKP");
    CHECK_STR(jwks->keys[0]->crv, "Ed25519");
    CHECK_STR(jwks->keys[0]->alg, "EdDSA");

    /* The JSON the gateway makes of this response is a JWKS document libs/jwt reads. */
    char json[1024];
    snprintf(json, sizeof json,
             "{\"keys\":[{\"kty\":\"%s\",\"crv\":\"%s\",\"x\":\"%s\",\"kid\":\"%s\",\"use\":\"%s\","
             "\"alg\":\"%s\"}]}",
             jwks->keys[0]->kty, jwks->keys[0]->crv, jwks->keys[0]->x, jwks->keys[0]->kid,
             jwks->keys[0]->use, jwks->keys[0]->alg);
    mentis_jwt_keyset_t *set = NULL;
    REQUIRE(mentis_jwt_keyset_parse(json, strlen(json), &set) == MENTIS_OK);
    mentis_jwt_policy_t policy = {
        .issuer = "mentis", .audience = "mentis-api", .leeway_s = 5, .max_lifetime_s = 3600};
    mentis_jwt_claims_t claims;
    long long now = h_now_ms() / 1000;
    CHECK_INT(mentis_jwt_verify(r->tokens->access_token, strlen(r->tokens->access_token), set,
                                &policy, now, &claims),
              MENTIS_OK);
    CHECK_STR(claims.sub, r->user->id);
    CHECK_STR(claims.tid, DEFAULT_TENANT);
    CHECK_STR(claims.email, "linus@example.org");
    CHECK_STR(claims.device_id, r->device->id);
    CHECK_INT(claims.role, MENTIS_JWT_ROLE_USER);
    CHECK_INT(claims.exp - claims.iat, 900);
    CHECK(claims.sid[0] != '\0' && claims.jti[0] != '\0');
    /* The session of the claim exists. */
    char sql[256], out[64];
    snprintf(sql, sizeof sql,
             "SELECT count(*) FROM auth.sessions WHERE id = '%s' AND revoked_at IS NULL",
             claims.sid);
    REQUIRE(h_pg_query(&pg, sql, out, sizeof out) == 0);
    CHECK_STR(out, "1");
    /* A token from a key outside the set is refused. */
    CHECK_INT(mentis_jwt_verify(r->tokens->access_token, strlen(r->tokens->access_token), NULL,
                                &policy, now, &claims),
              MENTIS_ERR_UNAUTHENTICATED);
    /* The secret key is stored sealed, never in the clear. */
    REQUIRE(h_pg_query(&pg, "SELECT octet_length(secret_box) FROM auth.signing_keys", out,
                       sizeof out) == 0);
    CHECK_STR(out, "104");
    mentis_jwt_keyset_release(set);
    call_free(&k);
    call_free(&c);
}

typedef struct {
    const char *token;
    call_t result;
} refresh_job_t;

static void *refresh_thread(void *arg)
{
    refresh_job_t *j = arg;
    j->result = do_refresh(j->token);
    return NULL;
}

static int revoked_events;
static void on_revoked(void *arg, mentis_msg_t *msg)
{
    (void)arg;
    Mentis__V1__Auth__SessionRevoked *ev =
        mentis__v1__auth__session_revoked__unpack(NULL, mentis_msg_len(msg), mentis_msg_data(msg));
    if (ev != NULL && ev->n_session_ids >= 1)
        __atomic_add_fetch(&revoked_events, 1, __ATOMIC_SEQ_CST);
    if (ev)
        mentis__v1__auth__session_revoked__free_unpacked(ev, NULL);
    mentis_msg_destroy(msg);
}

static void test_refresh_rotation_grace_and_reuse(void)
{
    setup();
    mentis_bus_sub_t *sub = NULL;
    REQUIRE(mentis_bus_subscribe(bus, "mentis.v1.evt.auth.session_revoked.>", NULL, on_revoked,
                                 NULL, &sub) == MENTIS_OK);
    call_t c = do_register("ken@example.org", "unix-since-1969", "Ken");
    REQUIRE(c.st == MENTIS_OK);
    char r0[64], r1[64], r2[64];
    snprintf(r0, sizeof r0, "%s",
             ((Mentis__V1__Auth__RegisterResponse *)c.resp)->tokens->refresh_token);
    call_free(&c);

    /* Rotation: a new token, stored hashed, one generation on. */
    c = do_refresh(r0);
    REQUIRE(c.st == MENTIS_OK && REFRESH(c)->tokens != NULL);
    snprintf(r1, sizeof r1, "%s", REFRESH(c)->tokens->refresh_token);
    CHECK(strcmp(r0, r1) != 0);
    CHECK(strlen(REFRESH(c)->tokens->access_token) > 100);
    call_free(&c);
    char out[128];
    REQUIRE(h_pg_query(&pg,
                       "SELECT string_agg(generation::text || (used_at IS NOT NULL)::text, ',' "
                       "ORDER BY generation) "
                       "FROM auth.refresh_tokens t JOIN auth.users u ON u.id = t.user_id WHERE "
                       "u.email = 'ken@example.org'",
                       out, sizeof out) == 0);
    CHECK_STR(out, "0true,1false");

    /* The just-rotated token again, inside the grace window: the same successor. */
    c = do_refresh(r0);
    REQUIRE(c.st == MENTIS_OK);
    CHECK_STR(REFRESH(c)->tokens->refresh_token, r1);
    call_free(&c);

    /* Two refreshes of r1 at once: both succeed, with the same successor. */
    refresh_job_t a = {.token = r1}, b = {.token = r1};
    pthread_t ta, tb;
    pthread_create(&ta, NULL, refresh_thread, &a);
    pthread_create(&tb, NULL, refresh_thread, &b);
    pthread_join(ta, NULL);
    pthread_join(tb, NULL);
    REQUIRE(a.result.st == MENTIS_OK && b.result.st == MENTIS_OK);
    CHECK_STR(REFRESH(a.result)->tokens->refresh_token, REFRESH(b.result)->tokens->refresh_token);
    snprintf(r2, sizeof r2, "%s", REFRESH(a.result)->tokens->refresh_token);
    call_free(&a.result);
    call_free(&b.result);

    /* After the window, r1 again is reuse: 401 token_reused, the family and session die. */
    h_sleep_ms(GRACE_S * 1000 + 1100);
    c = do_refresh(r1);
    CHECK_INT(c.st, MENTIS_ERR_UNAUTHENTICATED);
    CHECK_STR(c.code, "token_reused");
    call_free(&c);
    c = do_refresh(r2);
    CHECK_INT(c.st, MENTIS_ERR_UNAUTHENTICATED);
    CHECK_STR(c.code, "token_invalid");
    call_free(&c);
    REQUIRE(h_pg_query(
                &pg,
                "SELECT count(*) FROM auth.refresh_tokens t JOIN auth.users u ON u.id = t.user_id "
                "WHERE u.email = 'ken@example.org' AND t.revoked_at IS NULL",
                out, sizeof out) == 0);
    CHECK_STR(out, "0");
    REQUIRE(h_pg_query(
                &pg,
                "SELECT revoked_reason FROM auth.sessions s JOIN auth.users u ON u.id = s.user_id "
                "WHERE u.email = 'ken@example.org'",
                out, sizeof out) == 0);
    CHECK_STR(out, "token_reused");
    REQUIRE(h_pg_query(&pg, "SELECT count(*) FROM auth.audit_log WHERE event = 'token_reused'", out,
                       sizeof out) == 0);
    CHECK_STR(out, "1");
    for (int i = 0; i < 100 && __atomic_load_n(&revoked_events, __ATOMIC_SEQ_CST) < 1; i++)
        h_sleep_ms(20);
    CHECK_INT(__atomic_load_n(&revoked_events, __ATOMIC_SEQ_CST), 1);

    /* An expired token: 401 token_expired. Unknown or malformed: token_invalid. */
    c = do_login("ken@example.org", "unix-since-1969", NULL);
    REQUIRE(c.st == MENTIS_OK);
    char r3[64];
    snprintf(r3, sizeof r3, "%s", LOGIN(c)->tokens->refresh_token);
    call_free(&c);
    REQUIRE(h_pg_exec(&pg,
                      "UPDATE auth.refresh_tokens SET expires_at = now() - interval '1 second' "
                      "WHERE used_at IS NULL AND revoked_at IS NULL") == 0);
    c = do_refresh(r3);
    CHECK_INT(c.st, MENTIS_ERR_UNAUTHENTICATED);
    CHECK_STR(c.code, "token_expired");
    call_free(&c);
    c = do_refresh("AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA");
    CHECK_STR(c.code, "token_invalid");
    call_free(&c);
    c = do_refresh("short");
    CHECK_STR(c.code, "token_invalid");
    call_free(&c);
    mentis_bus_unsubscribe(sub, false, 0);
}

static void test_me_and_logout(void)
{
    setup();
    call_t c = do_register("barbara@example.org", "liskov-substitution", "Barbara");
    REQUIRE(c.st == MENTIS_OK);
    char user_id[37], tenant[37];
    snprintf(user_id, sizeof user_id, "%s",
             ((Mentis__V1__Auth__RegisterResponse *)c.resp)->user->id);
    snprintf(tenant, sizeof tenant, "%s",
             ((Mentis__V1__Auth__RegisterResponse *)c.resp)->user->tenant_id);
    call_free(&c);
    call_t l1 = do_login("barbara@example.org", "liskov-substitution", "fp-b1");
    call_t l2 = do_login("barbara@example.org", "liskov-substitution", "fp-b2");
    call_t l3 = do_login("barbara@example.org", "liskov-substitution", "fp-b3");
    REQUIRE(l1.st == MENTIS_OK && l2.st == MENTIS_OK && l3.st == MENTIS_OK);
    /* The session id (the gateway takes it from the token's sid): the first login's. */
    char sid1[64];
    char sql[512];
    snprintf(sql, sizeof sql,
             "SELECT s.id FROM auth.sessions s JOIN auth.devices d ON d.id = s.device_id "
             "WHERE d.fingerprint = 'fp-b1'");
    REQUIRE(h_pg_query(&pg, sql, sid1, sizeof sid1) == 0);

    /* me.get: needs the identity headers. */
    Mentis__V1__Auth__MeRequest mr;
    mentis__v1__auth__me_request__init(&mr);
    c = rpc("me.get", NULL, 0, &mr.base, &mentis__v1__auth__user__descriptor);
    CHECK_INT(c.st, MENTIS_ERR_UNAUTHENTICATED);
    call_free(&c);
    mentis_header_t h[] = {
        {MENTIS_HDR_TENANT, tenant}, {MENTIS_HDR_PRINCIPAL, user_id}, {MENTIS_HDR_SESSION, sid1}};
    c = rpc("me.get", h, 2, &mr.base, &mentis__v1__auth__user__descriptor);
    REQUIRE(c.st == MENTIS_OK);
    CHECK_STR(((Mentis__V1__Auth__User *)c.resp)->display_name, "Barbara");
    CHECK_INT(((Mentis__V1__Auth__User *)c.resp)->version, 1);
    call_free(&c);
    /* Another tenant's header finds nothing (Row-Level Security). */
    mentis_header_t other[] = {{MENTIS_HDR_TENANT, "0190a000-0000-7000-8000-0000000000ff"},
                               {MENTIS_HDR_PRINCIPAL, user_id}};
    c = rpc("me.get", other, 2, &mr.base, &mentis__v1__auth__user__descriptor);
    CHECK_INT(c.st, MENTIS_ERR_NOT_FOUND);
    call_free(&c);

    /* me.update: merge, version grows; a stale expected_version is 412. */
    Mentis__V1__Auth__UpdateMeRequest ur;
    mentis__v1__auth__update_me_request__init(&ur);
    ur.display_name = (char *)(uintptr_t) "Barbara L.";
    ur.timezone = (char *)(uintptr_t) "America/New_York";
    ur.expected_version = 1;
    c = rpc("me.update", h, 2, &ur.base, &mentis__v1__auth__user__descriptor);
    REQUIRE(c.st == MENTIS_OK);
    CHECK_STR(((Mentis__V1__Auth__User *)c.resp)->display_name, "Barbara L.");
    CHECK_STR(((Mentis__V1__Auth__User *)c.resp)->timezone, "America/New_York");
    CHECK_STR(((Mentis__V1__Auth__User *)c.resp)->email, "barbara@example.org");
    CHECK_INT(((Mentis__V1__Auth__User *)c.resp)->version, 2);
    call_free(&c);
    c = rpc("me.update", h, 2, &ur.base, &mentis__v1__auth__user__descriptor);
    CHECK_INT(c.st, MENTIS_ERR_PRECONDITION_FAILED);
    call_free(&c);
    mentis__v1__auth__update_me_request__init(&ur);
    ur.avatar_url = (char *)(uintptr_t) "javascript:alert(1)";
    c = rpc("me.update", h, 2, &ur.base, &mentis__v1__auth__user__descriptor);
    CHECK_INT(c.st, MENTIS_ERR_INVALID_ARGUMENT);
    call_free(&c);

    /* logout of the caller's session: its refresh token stops working, the others go on. */
    int before = __atomic_load_n(&revoked_events, __ATOMIC_SEQ_CST);
    mentis_bus_sub_t *sub = NULL;
    REQUIRE(mentis_bus_subscribe(bus, "mentis.v1.evt.auth.session_revoked.>", NULL, on_revoked,
                                 NULL, &sub) == MENTIS_OK);
    Mentis__V1__Auth__LogoutRequest lr;
    mentis__v1__auth__logout_request__init(&lr);
    c = rpc("logout", h, 3, &lr.base, &mentis__v1__auth__logout_response__descriptor);
    CHECK_INT(c.st, MENTIS_OK);
    call_free(&c);
    call_t rf = do_refresh(LOGIN(l1)->tokens->refresh_token);
    CHECK_STR(rf.code, "token_invalid");
    call_free(&rf);
    rf = do_refresh(LOGIN(l2)->tokens->refresh_token);
    CHECK_INT(rf.st, MENTIS_OK);
    call_free(&rf);
    for (int i = 0; i < 100 && __atomic_load_n(&revoked_events, __ATOMIC_SEQ_CST) < before + 1; i++)
        h_sleep_ms(20);
    CHECK_INT(__atomic_load_n(&revoked_events, __ATOMIC_SEQ_CST), before + 1);

    /* all_devices: every other session ends too. */
    lr.all_devices = true;
    c = rpc("logout", h, 2, &lr.base, &mentis__v1__auth__logout_response__descriptor);
    CHECK_INT(c.st, MENTIS_OK);
    call_free(&c);
    rf = do_refresh(LOGIN(l3)->tokens->refresh_token);
    CHECK_STR(rf.code, "token_invalid");
    call_free(&rf);
    char out[64];
    snprintf(sql, sizeof sql,
             "SELECT count(*) FROM auth.sessions WHERE user_id = '%s' AND revoked_at IS NULL",
             user_id);
    REQUIRE(h_pg_query(&pg, sql, out, sizeof out) == 0);
    CHECK_STR(out, "0");
    mentis_bus_unsubscribe(sub, false, 0);
    call_free(&l1);
    call_free(&l2);
    call_free(&l3);
}

/* As the service's own role, without a tenant: no row of users or sessions is visible. */
static void test_row_level_security(void)
{
    setup();
    call_t c = do_register("rls@example.org", "row-level-security", "RLS");
    REQUIRE(c.st == MENTIS_OK);
    call_free(&c);
    char url[400];
    h_pg_url(&pg, "auth", url, sizeof url);
    mentis_db_options_t o = {.url = url, .size = 1};
    mentis_db_t *db = NULL;
    REQUIRE(mentis_db_open(&o, &db) == MENTIS_OK);
    mentis_db_conn_t *conn = NULL;
    REQUIRE(mentis_db_acquire(db, h_now_ms() + 5000, &conn) == MENTIS_OK);
    const char *tables[] = {"users", "sessions", "refresh_tokens", "devices", "audit_log"};
    for (size_t i = 0; i < sizeof tables / sizeof tables[0]; i++) {
        char sql[128];
        snprintf(sql, sizeof sql, "SELECT count(*) FROM auth.%s", tables[i]);
        PGresult *res = NULL;
        REQUIRE(mentis_db_tx_begin(conn, NULL) == MENTIS_OK);
        REQUIRE(mentis_db_exec(conn, sql, 0, NULL, &res) == MENTIS_OK);
        CHECK_MSG(strcmp(PQgetvalue(res, 0, 0), "0") == 0, "%s: %s rows without a tenant",
                  tables[i], PQgetvalue(res, 0, 0));
        PQclear(res);
        mentis_db_tx_rollback(conn);
        REQUIRE(mentis_db_tx_begin(conn, DEFAULT_TENANT) == MENTIS_OK);
        REQUIRE(mentis_db_exec(conn, sql, 0, NULL, &res) == MENTIS_OK);
        CHECK_MSG(strcmp(PQgetvalue(res, 0, 0), "0") != 0, "%s: no rows in the default tenant",
                  tables[i]);
        PQclear(res);
        mentis_db_tx_rollback(conn);
    }
    /* Nor can it write a row into another tenant than the one set. */
    REQUIRE(mentis_db_tx_begin(conn, DEFAULT_TENANT) == MENTIS_OK);
    CHECK(mentis_db_exec(conn,
                         "INSERT INTO auth.audit_log (id, tenant_id, event) VALUES "
                         "(gen_random_uuid(), '0190a000-0000-7000-8000-0000000000ff', 'x')",
                         0, NULL, NULL) != MENTIS_OK);
    mentis_db_tx_rollback(conn);
    mentis_db_release(db, conn);
    mentis_db_close(db);
}

/* SIGTERM: the service drains and exits 0 (under the sanitizers: with nothing leaked). */
static void test_clean_shutdown(void)
{
    setup();
    REQUIRE(h_kill(auth_pid, SIGTERM) == 0);
    CHECK_INT(h_wait_exit(auth_pid, 15000), 0);
}

TEST_MAIN(test_register, test_login, test_access_token_verifies_with_jwks,
          test_refresh_rotation_grace_and_reuse, test_me_and_logout, test_row_level_security,
          test_clean_shutdown)
