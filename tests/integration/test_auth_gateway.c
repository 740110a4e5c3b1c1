/*
 * Every auth endpoint of API.md end to end, through the gateway: two mentis-gateway
 * replicas in front of two mentis-auth replicas, real nats-server, PostgreSQL and an SMTP
 * server (the harness sink) that receives the verification and reset links. Each case
 * checks status codes, problem codes, field errors, Location and ETag headers and empty
 * 204 bodies, and the refusals the service promises: duplicate email, weak passwords,
 * wrong password, lockout and unlock, expired and reused refresh tokens (family revoked),
 * concurrent refresh in the grace window, used and expired email tokens, revoked sessions
 * and beta tokens refused by both gateways, tenant isolation with crafted ids, and the
 * time forgot-password takes for known and unknown addresses.
 *
 * The gateway sends no tenant for public routes (every public sign-in lands in the default
 * tenant, docs/internals/auth.md "How the tenant is chosen"), so a user of another tenant
 * can only sign in the way a multi-tenant deployment's host mapping would: the login
 * message on NATS with Mentis-Tenant. Everything after that goes through the gateway.
 */
#include <cjson/cJSON.h>
#include <pthread.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "check.h"
#include "harness.h"
#include "mentis/bus.h"
#include "mentis/crypto.h"
#include "mentis/v1/auth.pb-c.h"
#include "test_gateway_support.h"

#define ADMIN_EMAIL    "root@example.com"
#define ADMIN_PASSWORD "bootstrap admin password"
#define PASSWORD       "correct horse battery"
#define NEW_PASSWORD   "staple battery horse"
#define PUBLIC_URL     "https://app.example.test"
#define DEFAULT_TENANT "00000000-0000-7000-8000-000000000001"
#define KEK "000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f"
/* Failed logins that lock an account here. */
#define LOCK_AFTER 3

static h_nats_t nats;
static h_pg_t pg;
static h_smtp_t *smtp;
static mentis_bus_t *bus;
static char dir[H_PATH_SIZE];
static int ports[2];

/* ---- setup ---- */

static pid_t start_auth(int i)
{
    static char env_nats[2][128], env_admin[2][64], env_db[2][512], env_smtp[2][64];
    char url[400];
    h_pg_url(&pg, "auth", url, sizeof url);
    int admin = h_free_port();
    snprintf(env_nats[i], sizeof env_nats[i], "MENTIS_NATS_URL=%s", nats.url);
    snprintf(env_admin[i], sizeof env_admin[i], "MENTIS_ADMIN_PORT=%d", admin);
    snprintf(env_db[i], sizeof env_db[i], "MENTIS_DATABASE_URL=%s", url);
    snprintf(env_smtp[i], sizeof env_smtp[i], "MENTIS_SMTP_URL=smtp://127.0.0.1:%d",
             h_smtp_port(smtp));
    const char *env[] = {env_nats[i],
                         env_admin[i],
                         env_db[i],
                         env_smtp[i],
                         "MENTIS_PUBLIC_URL=" PUBLIC_URL,
                         "MENTIS_MAIL_FROM=Mentis Test <no-reply@mentis.example.test>",
                         "MENTIS_MAIL_POLL_MS=50",
                         /* Lockout without the growing waits before it; every request comes
                          * from 127.0.0.1, so the per-address throttle stays out of the way. */
                         "MENTIS_AUTH_LOCK_AFTER_FAILURES=3",
                         "MENTIS_AUTH_THROTTLE_AFTER_FAILURES=50",
                         "MENTIS_AUTH_IP_THROTTLE_AFTER_FAILURES=100000",
                         "MENTIS_AUTH_LOCK_S=600",
                         /* A short grace window, so reuse after it is quick to show. */
                         "MENTIS_AUTH_REFRESH_GRACE_S=1",
                         "MENTIS_AUTH_ARGON2_OPSLIMIT=2",
                         "MENTIS_AUTH_ARGON2_MEMLIMIT=19922944",
                         "MENTIS_AUTH_KEY_ENCRYPTION_KEY=" KEK,
                         "MENTIS_AUTH_BOOTSTRAP_ADMIN_EMAIL=" ADMIN_EMAIL,
                         "MENTIS_AUTH_BOOTSTRAP_ADMIN_PASSWORD=" ADMIN_PASSWORD,
                         "MENTIS_WORKERS=4",
                         NULL};
    char path[600], log[H_PATH_SIZE + 32];
    snprintf(path, sizeof path, "%s/services/auth/mentis-auth", getenv("MENTIS_BUILD_DIR"));
    snprintf(log, sizeof log, "%s/auth%d.log", dir, i);
    const char *argv[] = {path, NULL};
    pid_t pid = h_spawn(argv, env, log);
    if (pid > 0 && h_wait_http(admin, "/readyz", 200, 30000) != 0)
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
    REQUIRE(h_tmpdir("auth-gw", dir, sizeof dir) == 0);
    /* The first replica migrates and creates the bootstrap admin before the second starts. */
    REQUIRE(start_auth(0) > 0);
    REQUIRE(start_auth(1) > 0);
    /* Limits far above what the cases send: these tests are about mentis-auth's answers
     * (the limits have their own test, integration_gateway_access). */
    static const char *const env[] = {"MENTIS_GATEWAY_RATE_LOGIN=100000/min",
                                      "MENTIS_GATEWAY_RATE_REGISTER=100000/min",
                                      "MENTIS_GATEWAY_RATE_REFRESH=100000/min",
                                      "MENTIS_GATEWAY_RATE_FORGOT_PASSWORD=100000/min",
                                      "MENTIS_GATEWAY_RATE_RESET_PASSWORD=100000/min",
                                      "MENTIS_GATEWAY_RATE_AUTHENTICATED=100000/min",
                                      "MENTIS_GATEWAY_RATE_UNAUTHENTICATED=100000/min",
                                      NULL};
    for (int i = 0; i < 2; i++) {
        ports[i] = h_free_port();
        char log[H_PATH_SIZE + 32];
        snprintf(log, sizeof log, "%s/gateway%d.log", dir, i);
        REQUIRE(gt_start_gateway(nats.url, ports[i], h_free_port(), env, log) > 0);
    }
    mentis_bus_options_t o = {.url = nats.url, .name = "test-auth-gateway"};
    REQUIRE(mentis_bus_connect(&o, &bus) == MENTIS_OK &&
            mentis_bus_wait_connected(bus, 5000) == MENTIS_OK);
}

/* ---- HTTP ---- */

static int http(int port, const char *method, const char *path, const char *headers,
                const char *body, gt_response_t *r)
{
    char req[16384];
    int n = snprintf(req, sizeof req,
                     "%s %s HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n%s", method, path,
                     headers ? headers : "");
    if (body != NULL)
        n += snprintf(req + n, sizeof req - (size_t)n,
                      "Content-Type: application/json\r\nContent-Length: %zu\r\n\r\n%s",
                      strlen(body), body);
    else
        n += snprintf(req + n, sizeof req - (size_t)n, "\r\n");
    if (n <= 0 || (size_t)n >= sizeof req)
        return -1;
    return gt_request(port, req, r, 15000);
}

/* A request with "Authorization: Bearer token" (none when token is NULL) and extra header
 * lines; body NULL: none. */
static int call(int port, const char *method, const char *path, const char *token,
                const char *extra, const char *body, gt_response_t *r)
{
    char h[6144] = "";
    if (token != NULL)
        snprintf(h, sizeof h, "Authorization: Bearer %s\r\n%s", token, extra ? extra : "");
    else if (extra != NULL)
        snprintf(h, sizeof h, "%s", extra);
    return http(port, method, path, h, body, r);
}

static const char *problem_code(const gt_response_t *r)
{
    static char code[64];
    cJSON *doc = cJSON_Parse(r->body);
    const char *c = cJSON_GetStringValue(cJSON_GetObjectItem(doc, "code"));
    snprintf(code, sizeof code, "%s", c ? c : "");
    cJSON_Delete(doc);
    return code;
}

/* The fields of a problem's errors[], comma-separated ("" without any). */
static const char *problem_fields(const gt_response_t *r)
{
    static char fields[256];
    fields[0] = '\0';
    cJSON *doc = cJSON_Parse(r->body), *e;
    cJSON_ArrayForEach(e, cJSON_GetObjectItem(doc, "errors"))
    {
        const char *f = cJSON_GetStringValue(cJSON_GetObjectItem(e, "field"));
        size_t n = strlen(fields);
        snprintf(fields + n, sizeof fields - n, "%s%s", n ? "," : "", f ? f : "?");
    }
    cJSON_Delete(doc);
    return fields;
}

/* A string at body.a(.b): "" when absent. */
static void json_str(const gt_response_t *r, const char *a, const char *b, char *out, size_t size)
{
    cJSON *doc = cJSON_Parse(r->body);
    cJSON *v = cJSON_GetObjectItem(doc, a);
    if (b != NULL)
        v = cJSON_GetObjectItem(v, b);
    snprintf(out, size, "%s", cJSON_GetStringValue(v) ? cJSON_GetStringValue(v) : "");
    cJSON_Delete(doc);
}

static bool json_bool(const gt_response_t *r, const char *a, const char *b)
{
    cJSON *doc = cJSON_Parse(r->body);
    cJSON *v = cJSON_GetObjectItem(doc, a);
    if (b != NULL)
        v = cJSON_GetObjectItem(v, b);
    bool t = cJSON_IsTrue(v);
    cJSON_Delete(doc);
    return t;
}

/* A number at body.a(.b) (int64 fields may come as strings): -1 when absent. */
static long long json_num(const gt_response_t *r, const char *a, const char *b)
{
    cJSON *doc = cJSON_Parse(r->body);
    cJSON *v = cJSON_GetObjectItem(doc, a);
    if (b != NULL)
        v = cJSON_GetObjectItem(v, b);
    long long n = cJSON_IsNumber(v)   ? (long long)cJSON_GetNumberValue(v)
                  : cJSON_IsString(v) ? atoll(cJSON_GetStringValue(v))
                                      : -1;
    cJSON_Delete(doc);
    return n;
}

/* How many items[] the body has whose `key` equals `value`, and how many items in all. */
static int items_with(const gt_response_t *r, const char *key, const char *value, int *total)
{
    cJSON *doc = cJSON_Parse(r->body), *item;
    int n = 0, all = 0;
    cJSON_ArrayForEach(item, cJSON_GetObjectItem(doc, "items"))
    {
        all++;
        const char *v = cJSON_GetStringValue(cJSON_GetObjectItem(item, key));
        if (v != NULL && value != NULL && strcmp(v, value) == 0)
            n++;
    }
    cJSON_Delete(doc);
    if (total != NULL)
        *total = all;
    return n;
}

/* A 204: no body announced (the client reads none after a 204, so the headers tell), no
 * content type. */
static void check_no_content(const gt_response_t *r, const char *what)
{
    char v[64];
    CHECK_MSG(r->status == 204, "%s: %d %s", what, r->status, r->body);
    const char *cl = gt_header(r, "content-length", v, sizeof v);
    CHECK_MSG(cl == NULL || strcmp(cl, "0") == 0, "%s: Content-Length %s", what, cl);
    CHECK_MSG(gt_header(r, "transfer-encoding", v, sizeof v) == NULL, "%s: chunked 204", what);
    CHECK_MSG(gt_header(r, "content-type", v, sizeof v) == NULL, "%s: Content-Type %s", what, v);
}

static void check_problem(const gt_response_t *r, int status, const char *code, const char *what)
{
    CHECK_MSG(r->status == status, "%s: %d (want %d) %s", what, r->status, status, r->body);
    CHECK_MSG(strcmp(problem_code(r), code) == 0, "%s: code %s (want %s)", what, problem_code(r),
              code);
    char v[128];
    const char *ct = gt_header(r, "content-type", v, sizeof v);
    CHECK_MSG(ct != NULL && strncmp(ct, "application/problem+json", 24) == 0,
              "%s: content type %s", what, ct ? ct : "(none)");
}

/* ---- accounts ---- */

typedef struct {
    char id[64];
    char access[2048];
    char refresh[256];
    char device[64];
} tokens_t;

static void take_tokens(const gt_response_t *r, tokens_t *t)
{
    json_str(r, "tokens", "access_token", t->access, sizeof t->access);
    json_str(r, "tokens", "refresh_token", t->refresh, sizeof t->refresh);
    json_str(r, "user", "id", t->id, sizeof t->id);
    json_str(r, "device", "id", t->device, sizeof t->device);
}

static int do_register(int port, const char *email, const char *password, gt_response_t *r)
{
    char body[512];
    snprintf(body, sizeof body, "{\"email\":\"%s\",\"password\":\"%s\",\"display_name\":\"T\"}",
             email, password);
    return http(port, "POST", "/api/auth/register", NULL, body, r);
}

static int do_login(int port, const char *email, const char *password, const char *fingerprint,
                    gt_response_t *r)
{
    char body[512];
    if (fingerprint != NULL)
        snprintf(body, sizeof body,
                 "{\"email\":\"%s\",\"password\":\"%s\",\"device\":{\"fingerprint\":\"%s\","
                 "\"name\":\"%s\",\"type\":\"web\",\"model\":\"m\",\"os_version\":\"1\","
                 "\"app_version\":\"2\"}}",
                 email, password, fingerprint, fingerprint);
    else
        snprintf(body, sizeof body, "{\"email\":\"%s\",\"password\":\"%s\"}", email, password);
    return http(port, "POST", "/api/auth/login", NULL, body, r);
}

/* Registers email with PASSWORD through gw[0]; its id into id (may be NULL). */
static bool make_user(const char *email, char *id, size_t size)
{
    gt_response_t r;
    if (do_register(ports[0], email, PASSWORD, &r) != 0 || r.status != 201) {
        fprintf(stderr, "register %s: %d %s\n", email, r.status, r.body);
        return false;
    }
    if (id != NULL)
        json_str(&r, "user", "id", id, size);
    return true;
}

/* Signs email in through gw[port_index] with a device named after fingerprint. */
static bool sign_in(int port_index, const char *email, const char *password,
                    const char *fingerprint, tokens_t *t)
{
    gt_response_t r;
    memset(t, 0, sizeof *t);
    if (do_login(ports[port_index], email, password, fingerprint, &r) != 0 || r.status != 200) {
        fprintf(stderr, "login %s: %d %s\n", email, r.status, r.body);
        return false;
    }
    take_tokens(&r, t);
    return strlen(t->access) > 20 && strlen(t->refresh) > 20;
}

static void admin_token(char *token, size_t size)
{
    tokens_t t;
    REQUIRE(sign_in(0, ADMIN_EMAIL, ADMIN_PASSWORD, NULL, &t));
    snprintf(token, size, "%s", t.access);
}

/* Polls both gateways with `token` on `path` until each answers 401, 2 s at most. */
static bool refused_everywhere(const char *token, const char *path, const char *what)
{
    long long t0 = h_now_ms(), took[2] = {-1, -1};
    gt_response_t r;
    while ((took[0] < 0 || took[1] < 0) && h_now_ms() - t0 < 2000) {
        for (int i = 0; i < 2; i++) {
            if (took[i] >= 0)
                continue;
            if (call(ports[i], "GET", path, token, NULL, NULL, &r) == 0 && r.status == 401)
                took[i] = h_now_ms() - t0;
        }
        if (took[0] < 0 || took[1] < 0)
            h_sleep_ms(20);
    }
    CHECK_MSG(took[0] >= 0 && took[1] >= 0, "%s: refused by gateway 1: %s, gateway 2: %s", what,
              took[0] >= 0 ? "yes" : "no", took[1] >= 0 ? "yes" : "no");
    if (took[0] >= 0 && took[1] >= 0)
        printf("  %s: refused by both gateways after %lld and %lld ms\n", what, took[0],
               took[1]);
    return took[0] >= 0 && took[1] >= 0;
}

/* Both gateways answer `path` with `token` 200. */
static void accepted_everywhere(const char *token, const char *path, const char *what)
{
    gt_response_t r;
    for (int i = 0; i < 2; i++) {
        REQUIRE(call(ports[i], "GET", path, token, NULL, NULL, &r) == 0);
        CHECK_MSG(r.status == 200, "%s on gateway %d: %d %s", what, i + 1, r.status, r.body);
    }
}

/* The link's token of the next mail to `to` ("" after 10 s without one). */
static void mail_token(const char *to, const char *page, char *token, size_t size)
{
    static char msg[16384];
    token[0] = '\0';
    if (h_smtp_take(smtp, to, msg, sizeof msg, 10000) != 0) {
        fprintf(stderr, "no mail to %s\n", to);
        return;
    }
    char want[256];
    snprintf(want, sizeof want, PUBLIC_URL "/%s?token=", page);
    const char *l = strstr(msg, want);
    if (l == NULL) {
        fprintf(stderr, "no %s link in:\n%s\n", page, msg);
        return;
    }
    l += strlen(want);
    snprintf(token, size, "%.*s", (int)strcspn(l, "\r\n\" <&"), l);
}

static void sql_value(const char *sql, char *out, size_t size)
{
    out[0] = '\0';
    if (h_pg_query(&pg, sql, out, size) != 0)
        snprintf(out, size, "(query failed)");
}

/* ---- register and login ---- */

static void test_register(void)
{
    setup();
    gt_response_t r;
    REQUIRE(do_register(ports[0], "Reg@Example.org", PASSWORD, &r) == 0);
    CHECK_MSG(r.status == 201, "register: %d %s", r.status, r.body);
    char v[256], id[64], email[128];
    json_str(&r, "user", "id", id, sizeof id);
    json_str(&r, "user", "email", email, sizeof email);
    CHECK(strlen(id) == 36);
    CHECK_STR(email, "Reg@Example.org");
    CHECK(!json_bool(&r, "user", "email_verified"));
    CHECK_STR(gt_header(&r, "location", v, sizeof v), "/api/auth/me");
    tokens_t t;
    take_tokens(&r, &t);
    CHECK(strlen(t.access) > 20 && strlen(t.refresh) > 20);
    /* The new account is signed in: its token opens /me on either gateway. */
    accepted_everywhere(t.access, "/api/auth/me", "the token of a new account");

    /* The same address, another case: 409. */
    REQUIRE(do_register(ports[1], "reg@example.ORG", PASSWORD, &r) == 0);
    check_problem(&r, 409, "email_exists", "duplicate email");
    /* Weak passwords: a common one and a short one, each naming the field. */
    REQUIRE(do_register(ports[0], "weak@example.org", "password1", &r) == 0);
    check_problem(&r, 400, "weak_password", "common password");
    CHECK_STR(problem_fields(&r), "password");
    REQUIRE(do_register(ports[1], "weak@example.org", "Sh0rt!", &r) == 0);
    check_problem(&r, 400, "weak_password", "short password");
    CHECK_STR(problem_fields(&r), "password");
    /* Not an address: the field is named. */
    REQUIRE(do_register(ports[0], "not-an-address", PASSWORD, &r) == 0);
    check_problem(&r, 400, "invalid_argument", "bad email");
    CHECK(strstr(problem_fields(&r), "email") != NULL);
    /* With a device, the device is recorded and returned. */
    REQUIRE(http(ports[1], "POST", "/api/auth/register", NULL,
                 "{\"email\":\"regdev@example.org\",\"password\":\"" PASSWORD
                 "\",\"display_name\":\"D\",\"device\":{\"fingerprint\":\"fp-regdev\","
                 "\"name\":\"Phone\",\"type\":\"android\",\"model\":\"Pixel\"}}",
                 &r) == 0);
    CHECK_MSG(r.status == 201, "register with a device: %d %s", r.status, r.body);
    take_tokens(&r, &t);
    CHECK(strlen(t.device) == 36);
    json_str(&r, "device", "type", v, sizeof v);
    CHECK_STR(v, "android");
    REQUIRE(call(ports[0], "GET", "/api/auth/devices", t.access, NULL, NULL, &r) == 0);
    CHECK_INT(items_with(&r, "id", t.device, NULL), 1);
    /* No role of one's choosing: the field is not part of a registration. */
    REQUIRE(http(ports[0], "POST", "/api/auth/register", NULL,
                 "{\"email\":\"climber@example.org\",\"password\":\"" PASSWORD
                 "\",\"display_name\":\"C\",\"role\":\"platform_admin\"}",
                 &r) == 0);
    check_problem(&r, 400, "invalid_argument", "register with a role");
    CHECK_STR(problem_fields(&r), "role");
    /* Nothing written by the refusals. */
    char out[32];
    sql_value("SELECT count(*) FROM auth.users WHERE lower(email) IN ('weak@example.org', "
              "'not-an-address', 'climber@example.org')",
              out, sizeof out);
    CHECK_STR(out, "0");
    sql_value("SELECT count(*) FROM auth.users WHERE lower(email) = 'reg@example.org'", out,
              sizeof out);
    CHECK_STR(out, "1");
}

static void test_login_and_wrong_password(void)
{
    setup();
    REQUIRE(make_user("login@example.org", NULL, 0));
    gt_response_t r;
    REQUIRE(do_login(ports[1], "LOGIN@example.org", PASSWORD, "fp-login", &r) == 0);
    CHECK_MSG(r.status == 200, "login: %d %s", r.status, r.body);
    char v[128];
    json_str(&r, "tokens", "token_type", v, sizeof v);
    CHECK_STR(v, "Bearer");
    CHECK(json_num(&r, "tokens", "expires_in") == 900);
    json_str(&r, "device", "id", v, sizeof v);
    CHECK(strlen(v) == 36);
    json_str(&r, "user", "email", v, sizeof v);
    CHECK_STR(v, "login@example.org");

    REQUIRE(do_login(ports[1], "login@example.org", "not the password", NULL, &r) == 0);
    check_problem(&r, 401, "invalid_credentials", "wrong password");
    char d1[256], d2[256];
    json_str(&r, "detail", NULL, d1, sizeof d1);
    REQUIRE(do_login(ports[0], "nobody-at-all@example.org", "not the password", NULL, &r) == 0);
    check_problem(&r, 401, "invalid_credentials", "unknown email");
    /* Nothing tells the two apart. */
    json_str(&r, "detail", NULL, d2, sizeof d2);
    CHECK_STR(d1, d2);
}

static void test_lockout_and_unlock(void)
{
    setup();
    char uid[64];
    REQUIRE(make_user("lock@example.org", uid, sizeof uid));
    gt_response_t r;
    for (int i = 1; i <= LOCK_AFTER; i++) {
        REQUIRE(do_login(ports[i % 2], "lock@example.org", "wrong guess", NULL, &r) == 0);
        if (i < LOCK_AFTER)
            check_problem(&r, 401, "invalid_credentials", "a failure before the lock");
        else
            check_problem(&r, 403, "account_locked", "the failure that locks");
    }
    /* Locked: even the right password is refused, with the time to wait. */
    REQUIRE(do_login(ports[1], "lock@example.org", PASSWORD, NULL, &r) == 0);
    check_problem(&r, 403, "account_locked", "the right password while locked");
    char v[64];
    const char *ra = gt_header(&r, "retry-after", v, sizeof v);
    CHECK_MSG(ra != NULL && atoi(ra) > 500 && atoi(ra) <= 600, "Retry-After %s", ra);

    /* An admin sees the lock and lifts it. */
    char admin[2048], path[160];
    admin_token(admin, sizeof admin);
    REQUIRE(call(ports[0], "GET", "/api/admin/users?q=lock%40example.org", admin, NULL, NULL,
                 &r) == 0);
    CHECK_INT(r.status, 200);
    CHECK(strstr(r.body, "\"locked_until\"") != NULL);
    snprintf(path, sizeof path, "/api/admin/users/%s", uid);
    REQUIRE(call(ports[1], "PATCH", path, admin, NULL, "{\"unlock\":true}", &r) == 0);
    CHECK_MSG(r.status == 200, "unlock: %d %s", r.status, r.body);
    CHECK(strstr(r.body, "\"locked_until\"") == NULL);
    REQUIRE(do_login(ports[0], "lock@example.org", PASSWORD, NULL, &r) == 0);
    CHECK_MSG(r.status == 200, "login after unlock: %d %s", r.status, r.body);
    /* The audit log has both. */
    char q[200];
    snprintf(q, sizeof q, "/api/admin/audit?event=account_locked&user_id=%s", uid);
    REQUIRE(call(ports[0], "GET", q, admin, NULL, NULL, &r) == 0);
    CHECK_INT(r.status, 200);
    CHECK_INT(items_with(&r, "event", "account_locked", NULL), 1);
    snprintf(q, sizeof q, "/api/admin/audit?event=user_unlocked&user_id=%s", uid);
    REQUIRE(call(ports[0], "GET", q, admin, NULL, NULL, &r) == 0);
    CHECK_INT(items_with(&r, "event", "user_unlocked", NULL), 1);
}

/* ---- refresh ---- */

static int do_refresh(int port, const char *refresh, gt_response_t *r)
{
    char body[512];
    snprintf(body, sizeof body, "{\"refresh_token\":\"%s\"}", refresh);
    return http(port, "POST", "/api/auth/refresh", NULL, body, r);
}

static void test_refresh_reuse_and_expiry(void)
{
    setup();
    char uid[64];
    REQUIRE(make_user("refresh@example.org", uid, sizeof uid));
    tokens_t t0, t1;
    REQUIRE(sign_in(0, "refresh@example.org", PASSWORD, "fp-refresh", &t0));
    gt_response_t r;
    REQUIRE(do_refresh(ports[1], t0.refresh, &r) == 0);
    CHECK_MSG(r.status == 200, "refresh: %d %s", r.status, r.body);
    take_tokens(&r, &t1);
    CHECK(strlen(t1.refresh) > 20 && strcmp(t1.refresh, t0.refresh) != 0);
    CHECK(strlen(t1.access) > 20);
    accepted_everywhere(t1.access, "/api/auth/me", "a refreshed access token");

    /* After the grace window (1 s here) the old one is a reuse: the family is revoked. */
    h_sleep_ms(1200);
    REQUIRE(do_refresh(ports[0], t0.refresh, &r) == 0);
    check_problem(&r, 401, "token_reused", "reused refresh token");
    /* ... so the family's newer token is dead too, and so is the session's access token. */
    REQUIRE(do_refresh(ports[1], t1.refresh, &r) == 0);
    CHECK_MSG(r.status == 401, "the family's other token: %d %s", r.status, r.body);
    CHECK_MSG(strcmp(problem_code(&r), "token_invalid") == 0 ||
                  strcmp(problem_code(&r), "token_reused") == 0,
              "the family's other token: %s", problem_code(&r));
    refused_everywhere(t1.access, "/api/auth/me", "access token of a reused family");
    char admin[2048], q[200];
    admin_token(admin, sizeof admin);
    snprintf(q, sizeof q, "/api/admin/audit?event=token_reused&user_id=%s", uid);
    REQUIRE(call(ports[0], "GET", q, admin, NULL, NULL, &r) == 0);
    CHECK_INT(items_with(&r, "event", "token_reused", NULL), 1);

    /* An expired refresh token (its expiry moved into the past). */
    tokens_t t2;
    REQUIRE(sign_in(1, "refresh@example.org", PASSWORD, "fp-refresh-2", &t2));
    char sql[256];
    snprintf(sql, sizeof sql,
             "UPDATE auth.refresh_tokens SET expires_at = now() - interval '1 second' "
             "WHERE user_id = '%s' AND used_at IS NULL AND revoked_at IS NULL",
             uid);
    REQUIRE(h_pg_exec(&pg, sql) == 0);
    REQUIRE(do_refresh(ports[0], t2.refresh, &r) == 0);
    check_problem(&r, 401, "token_expired", "expired refresh token");
    /* A made-up one. */
    REQUIRE(do_refresh(ports[1], "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA", &r) == 0);
    check_problem(&r, 401, "token_invalid", "unknown refresh token");
}

typedef struct {
    int port;
    const char *refresh;
    gt_response_t r;
    int rc;
} refresh_job_t;

static void *refresh_thread(void *arg)
{
    refresh_job_t *j = arg;
    j->rc = do_refresh(j->port, j->refresh, &j->r);
    return NULL;
}

static void test_concurrent_refresh(void)
{
    setup();
    REQUIRE(make_user("twins@example.org", NULL, 0));
    tokens_t t;
    REQUIRE(sign_in(0, "twins@example.org", PASSWORD, "fp-twins", &t));
    /* Four tabs refresh the same token at once, two through each gateway (so through
     * both mentis-auth replicas too); three rounds, each from the last round's token. */
    enum { TABS = 4 };
    static refresh_job_t jobs[TABS];
    char current[256];
    snprintf(current, sizeof current, "%s", t.refresh);
    for (int round = 0; round < 3; round++) {
        pthread_t th[TABS];
        for (int i = 0; i < TABS; i++) {
            jobs[i].port = ports[i % 2];
            jobs[i].refresh = current;
            REQUIRE(pthread_create(&th[i], NULL, refresh_thread, &jobs[i]) == 0);
        }
        for (int i = 0; i < TABS; i++)
            pthread_join(th[i], NULL);
        tokens_t first;
        take_tokens(&jobs[0].r, &first);
        for (int i = 0; i < TABS; i++) {
            CHECK_INT(jobs[i].rc, 0);
            CHECK_MSG(jobs[i].r.status == 200, "round %d, parallel refresh %d: %d %s", round, i,
                      jobs[i].r.status, jobs[i].r.body);
            tokens_t other;
            take_tokens(&jobs[i].r, &other);
            /* All got the one successor, and each access token works. */
            CHECK_STR(other.refresh, first.refresh);
            accepted_everywhere(other.access, "/api/auth/me", "a parallel refresh's token");
        }
        REQUIRE(strlen(first.refresh) > 20 && strcmp(first.refresh, current) != 0);
        snprintf(current, sizeof current, "%s", first.refresh);
    }
    /* The session lives on: one family, one live token. */
    gt_response_t r;
    REQUIRE(do_refresh(ports[1], current, &r) == 0);
    CHECK_MSG(r.status == 200, "refresh after the races: %d %s", r.status, r.body);
}

/* ---- me, logout ---- */

static void test_me_and_etag(void)
{
    setup();
    REQUIRE(make_user("me@example.org", NULL, 0));
    tokens_t t;
    REQUIRE(sign_in(1, "me@example.org", PASSWORD, "fp-me", &t));
    gt_response_t r;
    REQUIRE(call(ports[0], "GET", "/api/auth/me", t.access, NULL, NULL, &r) == 0);
    CHECK_INT(r.status, 200);
    char etag[64], v[128], want[64];
    CHECK(gt_header(&r, "etag", etag, sizeof etag) != NULL);
    long long version = json_num(&r, "version", NULL);
    snprintf(want, sizeof want, "\"%lld\"", version);
    CHECK_MSG(version >= 1 && strcmp(etag, want) == 0, "ETag %s, version %lld", etag, version);
    json_str(&r, "email", NULL, v, sizeof v);
    CHECK_STR(v, "me@example.org");
    json_str(&r, "role", NULL, v, sizeof v);
    CHECK_STR(v, "user");
    json_str(&r, "tenant_id", NULL, v, sizeof v);
    CHECK_STR(v, DEFAULT_TENANT);
    CHECK(strstr(r.body, "\"created_at\"") != NULL && strstr(r.body, "\"last_login_at\"") != NULL);

    /* A conditional update with the current ETag: applied, new ETag. */
    char h[128];
    snprintf(h, sizeof h, "If-Match: %s\r\n", etag);
    REQUIRE(call(ports[1], "PATCH", "/api/auth/me", t.access, h,
                 "{\"display_name\":\"Meg\",\"locale\":\"fr-FR\",\"timezone\":\"Europe/Paris\"}",
                 &r) == 0);
    CHECK_MSG(r.status == 200, "PATCH with If-Match: %d %s", r.status, r.body);
    char etag2[64];
    CHECK(gt_header(&r, "etag", etag2, sizeof etag2) != NULL);
    snprintf(want, sizeof want, "\"%lld\"", version + 1);
    CHECK_STR(etag2, want);
    json_str(&r, "display_name", NULL, v, sizeof v);
    CHECK_STR(v, "Meg");
    /* The stale ETag: 412, nothing changed. */
    REQUIRE(call(ports[0], "PATCH", "/api/auth/me", t.access, h, "{\"display_name\":\"Late\"}",
                 &r) == 0);
    check_problem(&r, 412, "precondition_failed", "stale If-Match");
    /* A tag that cannot name a version of ours never matches: 412, as does a weak one
     * (If-Match compares strongly). */
    REQUIRE(call(ports[0], "PATCH", "/api/auth/me", t.access, "If-Match: \"abc\"\r\n",
                 "{\"display_name\":\"Odd\"}", &r) == 0);
    CHECK_MSG(r.status == 412, "If-Match \"abc\": %d %s", r.status, r.body);
    REQUIRE(call(ports[0], "PATCH", "/api/auth/me", t.access, "If-Match: W/\"1\"\r\n",
                 "{\"display_name\":\"Weak\"}", &r) == 0);
    CHECK_MSG(r.status == 412, "If-Match W/\"1\": %d %s", r.status, r.body);
    /* "If-Match: *" matches any current representation (RFC 9110 13.1.1): the update
     * applies as if unconditional. */
    REQUIRE(call(ports[1], "PATCH", "/api/auth/me", t.access, "If-Match: *\r\n",
                 "{\"display_name\":\"Meg\"}", &r) == 0);
    CHECK_MSG(r.status == 200, "If-Match *: %d %s", r.status, r.body);
    bool star_applied = r.status == 200;
    /* Without If-Match the update is unconditional. */
    REQUIRE(call(ports[0], "PATCH", "/api/auth/me", t.access, NULL,
                 "{\"avatar_url\":\"https://cdn.example.org/a.png\"}", &r) == 0);
    CHECK_MSG(r.status == 200, "PATCH without If-Match: %d %s", r.status, r.body);
    /* The role and the address are not profile fields. */
    REQUIRE(call(ports[0], "PATCH", "/api/auth/me", t.access, NULL,
                 "{\"role\":\"platform_admin\",\"email\":\"else@example.org\"}", &r) == 0);
    check_problem(&r, 400, "invalid_argument", "PATCH me with role and email");
    CHECK(strstr(problem_fields(&r), "role") != NULL);
    /* Bad fields are named. */
    REQUIRE(call(ports[1], "PATCH", "/api/auth/me", t.access, NULL,
                 "{\"locale\":\"not a locale!\",\"timezone\":\"Europe/Nowhere at all\"}", &r) == 0);
    check_problem(&r, 400, "invalid_argument", "bad profile fields");
    CHECK(strstr(problem_fields(&r), "locale") != NULL);
    CHECK(strstr(problem_fields(&r), "timezone") != NULL);
    REQUIRE(call(ports[1], "GET", "/api/auth/me", t.access, NULL, NULL, &r) == 0);
    json_str(&r, "display_name", NULL, v, sizeof v);
    CHECK_STR(v, "Meg");
    json_str(&r, "locale", NULL, v, sizeof v);
    CHECK_STR(v, "fr-FR");
    json_str(&r, "timezone", NULL, v, sizeof v);
    CHECK_STR(v, "Europe/Paris");
    json_str(&r, "avatar_url", NULL, v, sizeof v);
    CHECK_STR(v, "https://cdn.example.org/a.png");
    snprintf(want, sizeof want, "\"%lld\"", version + (star_applied ? 3 : 2));
    CHECK_STR(gt_header(&r, "etag", etag, sizeof etag), want);
    /* No token: 401. */
    REQUIRE(call(ports[0], "GET", "/api/auth/me", NULL, NULL, NULL, &r) == 0);
    check_problem(&r, 401, "unauthenticated", "me without a token");
}

static void test_logout(void)
{
    setup();
    REQUIRE(make_user("bye@example.org", NULL, 0));
    tokens_t a, b, c;
    REQUIRE(sign_in(0, "bye@example.org", PASSWORD, "fp-bye-1", &a));
    REQUIRE(sign_in(1, "bye@example.org", PASSWORD, "fp-bye-2", &b));
    REQUIRE(sign_in(0, "bye@example.org", PASSWORD, "fp-bye-3", &c));
    accepted_everywhere(a.access, "/api/auth/me", "before logout");
    gt_response_t r;
    /* Another user's refresh token in a logout ends nothing of theirs. */
    REQUIRE(make_user("other-bye@example.org", NULL, 0));
    tokens_t o;
    REQUIRE(sign_in(1, "other-bye@example.org", PASSWORD, "fp-other-bye", &o));
    char body[512];
    snprintf(body, sizeof body, "{\"refresh_token\":\"%s\"}", o.refresh);
    REQUIRE(call(ports[0], "POST", "/api/auth/logout", c.access, NULL, body, &r) == 0);
    CHECK_MSG(r.status == 204 || r.status == 404 || r.status == 400,
              "logout naming another user's refresh token: %d %s", r.status, r.body);
    h_sleep_ms(300); /* a revocation would have reached the gateways by now */
    accepted_everywhere(o.access, "/api/auth/me", "another user after a logout naming their token");
    REQUIRE(do_refresh(ports[1], o.refresh, &r) == 0);
    CHECK_MSG(r.status == 200, "another user's refresh token after a logout naming it: %d %s",
              r.status, r.body);
    REQUIRE(call(ports[1], "POST", "/api/auth/logout", a.access, NULL, "{}", &r) == 0);
    check_no_content(&r, "logout");
    refused_everywhere(a.access, "/api/auth/me", "access token after logout");
    REQUIRE(do_refresh(ports[0], a.refresh, &r) == 0);
    check_problem(&r, 401, "token_invalid", "refresh token after logout");
    /* The other sessions live on; all_devices ends them. */
    accepted_everywhere(b.access, "/api/auth/me", "another session after logout");
    REQUIRE(call(ports[0], "POST", "/api/auth/logout", b.access, NULL, "{\"all_devices\":true}",
                 &r) == 0);
    check_no_content(&r, "logout of all devices");
    refused_everywhere(b.access, "/api/auth/me", "access token after logout of all devices");
    refused_everywhere(c.access, "/api/auth/me", "another device after logout of all devices");
    REQUIRE(do_refresh(ports[1], c.refresh, &r) == 0);
    CHECK_INT(r.status, 401);
    /* Without a token: 401. */
    REQUIRE(call(ports[0], "POST", "/api/auth/logout", NULL, NULL, "{}", &r) == 0);
    check_problem(&r, 401, "unauthenticated", "logout without a token");
}

/* ---- password, email flows ---- */

static int post_json(int port, const char *path, const char *token, const char *body,
                     gt_response_t *r)
{
    return call(port, "POST", path, token, NULL, body, r);
}

static void test_password_change(void)
{
    setup();
    REQUIRE(make_user("chpw@example.org", NULL, 0));
    tokens_t a, b;
    REQUIRE(sign_in(0, "chpw@example.org", PASSWORD, "fp-chpw-1", &a));
    REQUIRE(sign_in(1, "chpw@example.org", PASSWORD, "fp-chpw-2", &b));
    gt_response_t r;
    REQUIRE(post_json(ports[0], "/api/auth/password", a.access,
                      "{\"current_password\":\"wrong one\",\"new_password\":\"" NEW_PASSWORD
                      "\"}",
                      &r) == 0);
    check_problem(&r, 401, "invalid_credentials", "wrong current password");
    REQUIRE(post_json(ports[1], "/api/auth/password", a.access,
                      "{\"current_password\":\"" PASSWORD "\",\"new_password\":\"iloveyou\"}",
                      &r) == 0);
    check_problem(&r, 400, "weak_password", "common new password");
    CHECK_STR(problem_fields(&r), "new_password");
    REQUIRE(post_json(ports[1], "/api/auth/password", a.access,
                      "{\"current_password\":\"" PASSWORD "\",\"new_password\":\"tiny\"}",
                      &r) == 0);
    check_problem(&r, 400, "weak_password", "short new password");
    CHECK_STR(problem_fields(&r), "new_password");
    REQUIRE(post_json(ports[0], "/api/auth/password", a.access,
                      "{\"current_password\":\"" PASSWORD "\",\"new_password\":\"" NEW_PASSWORD
                      "\"}",
                      &r) == 0);
    check_no_content(&r, "password change");
    /* The other device's session ends; this one stays. */
    refused_everywhere(b.access, "/api/auth/me", "other session after a password change");
    accepted_everywhere(a.access, "/api/auth/me", "own session after a password change");
    REQUIRE(do_refresh(ports[1], b.refresh, &r) == 0);
    CHECK_INT(r.status, 401);
    REQUIRE(do_refresh(ports[1], a.refresh, &r) == 0);
    CHECK_MSG(r.status == 200, "own refresh token after a password change: %d %s", r.status,
              r.body);
    REQUIRE(do_login(ports[1], "chpw@example.org", PASSWORD, NULL, &r) == 0);
    check_problem(&r, 401, "invalid_credentials", "the old password");
    REQUIRE(do_login(ports[0], "chpw@example.org", NEW_PASSWORD, NULL, &r) == 0);
    CHECK_MSG(r.status == 200, "the new password: %d %s", r.status, r.body);
}

static void test_email_verification(void)
{
    setup();
    char uid[64], token[128], token2[128];
    REQUIRE(make_user("Vera@Example.org", uid, sizeof uid));
    mail_token("Vera@Example.org", "verify-email", token, sizeof token);
    REQUIRE(strlen(token) >= 32);
    char path[256];
    snprintf(path, sizeof path, "/api/auth/verify-email?token=%s", token);
    gt_response_t r;
    REQUIRE(http(ports[1], "GET", path, NULL, NULL, &r) == 0);
    CHECK_MSG(r.status == 200, "verify: %d %s", r.status, r.body);
    CHECK(json_bool(&r, "email_verified", NULL));
    CHECK(json_bool(&r, "user", "email_verified"));
    char v[64];
    json_str(&r, "user", "id", v, sizeof v);
    CHECK_STR(v, uid);
    /* Used. */
    REQUIRE(http(ports[0], "GET", path, NULL, NULL, &r) == 0);
    check_problem(&r, 400, "token_used", "a used verification link");
    REQUIRE(http(ports[0], "GET",
                 "/api/auth/verify-email?token=AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA", NULL,
                 NULL, &r) == 0);
    check_problem(&r, 400, "invalid_token", "an unknown verification link");

    /* Resend: 202 alike for an unknown, a verified and an unverified address. */
    REQUIRE(make_user("walt@example.org", uid, sizeof uid));
    mail_token("walt@example.org", "verify-email", token, sizeof token);
    REQUIRE(strlen(token) >= 32);
    gt_response_t r2, r3;
    REQUIRE(post_json(ports[0], "/api/auth/resend-verification", NULL,
                      "{\"email\":\"nobody-here@example.org\"}", &r) == 0);
    REQUIRE(post_json(ports[1], "/api/auth/resend-verification", NULL,
                      "{\"email\":\"vera@example.org\"}", &r2) == 0);
    REQUIRE(post_json(ports[0], "/api/auth/resend-verification", NULL,
                      "{\"email\":\"WALT@example.org\"}", &r3) == 0);
    CHECK_INT(r.status, 202);
    CHECK_INT(r2.status, 202);
    CHECK_INT(r3.status, 202);
    CHECK_STR(r.body, r3.body);
    CHECK_STR(r2.body, r3.body);
    mail_token("walt@example.org", "verify-email", token2, sizeof token2);
    REQUIRE(strlen(token2) >= 32);
    CHECK(strcmp(token, token2) != 0);
    CHECK_INT(h_smtp_count(smtp, "nobody-here@example.org"), 0);
    CHECK_INT(h_smtp_count(smtp, "vera@example.org"), 0);
    REQUIRE(post_json(ports[1], "/api/auth/resend-verification", NULL,
                      "{\"email\":\"not-an-address\"}", &r) == 0);
    check_problem(&r, 400, "invalid_argument", "resend to a non-address");

    /* A verification link is no password reset link. */
    char body[256];
    snprintf(body, sizeof body, "{\"token\":\"%s\",\"new_password\":\"" NEW_PASSWORD "\"}",
             token2);
    REQUIRE(post_json(ports[0], "/api/auth/reset-password", NULL, body, &r) == 0);
    check_problem(&r, 400, "invalid_token", "a verification link used to reset a password");
    REQUIRE(do_login(ports[0], "walt@example.org", NEW_PASSWORD, NULL, &r) == 0);
    CHECK_INT(r.status, 401);

    /* An expired link. */
    char sql[256];
    snprintf(sql, sizeof sql,
             "UPDATE auth.one_time_tokens SET expires_at = now() - interval '1 second' "
             "WHERE user_id = '%s' AND used_at IS NULL",
             uid);
    REQUIRE(h_pg_exec(&pg, sql) == 0);
    snprintf(path, sizeof path, "/api/auth/verify-email?token=%s", token2);
    REQUIRE(http(ports[1], "GET", path, NULL, NULL, &r) == 0);
    check_problem(&r, 400, "token_expired", "an expired verification link");
    tokens_t t;
    REQUIRE(sign_in(0, "walt@example.org", PASSWORD, NULL, &t));
    REQUIRE(call(ports[0], "GET", "/api/auth/me", t.access, NULL, NULL, &r) == 0);
    CHECK(!json_bool(&r, "email_verified", NULL));
}

static void test_forgot_and_reset(void)
{
    setup();
    char uid[64];
    REQUIRE(make_user("rosa@example.org", uid, sizeof uid));
    char token[128];
    mail_token("rosa@example.org", "verify-email", token, sizeof token); /* not this one */
    tokens_t a;
    REQUIRE(sign_in(0, "rosa@example.org", PASSWORD, "fp-rosa", &a));
    gt_response_t r, u;
    REQUIRE(post_json(ports[1], "/api/auth/forgot-password", NULL,
                      "{\"email\":\"Rosa@example.org\"}", &r) == 0);
    CHECK_INT(r.status, 202);
    REQUIRE(post_json(ports[0], "/api/auth/forgot-password", NULL,
                      "{\"email\":\"nobody-rosa@example.org\"}", &u) == 0);
    CHECK_INT(u.status, 202);
    CHECK_STR(r.body, u.body);
    mail_token("rosa@example.org", "reset-password", token, sizeof token);
    REQUIRE(strlen(token) >= 32);
    CHECK_INT(h_smtp_count(smtp, "nobody-rosa@example.org"), 0);

    char body[512];
    /* A reset link does not verify an address. */
    snprintf(body, sizeof body, "/api/auth/verify-email?token=%s", token);
    REQUIRE(http(ports[0], "GET", body, NULL, NULL, &r) == 0);
    check_problem(&r, 400, "invalid_token", "a reset link used to verify an address");
    /* A weak new password is refused and leaves the link usable. */
    snprintf(body, sizeof body, "{\"token\":\"%s\",\"new_password\":\"password1\"}", token);
    REQUIRE(post_json(ports[0], "/api/auth/reset-password", NULL, body, &r) == 0);
    check_problem(&r, 400, "weak_password", "reset to a weak password");
    CHECK_STR(problem_fields(&r), "new_password");
    snprintf(body, sizeof body, "{\"token\":\"%s\",\"new_password\":\"" NEW_PASSWORD "\"}",
             token);
    REQUIRE(post_json(ports[1], "/api/auth/reset-password", NULL, body, &r) == 0);
    check_no_content(&r, "reset-password");
    /* Every session of the user ends. */
    refused_everywhere(a.access, "/api/auth/me", "access token after a reset");
    REQUIRE(do_refresh(ports[0], a.refresh, &r) == 0);
    CHECK_INT(r.status, 401);
    /* The link works once. */
    snprintf(body, sizeof body, "{\"token\":\"%s\",\"new_password\":\"another fine password\"}",
             token);
    REQUIRE(post_json(ports[0], "/api/auth/reset-password", NULL, body, &r) == 0);
    check_problem(&r, 400, "token_used", "a used reset link");
    REQUIRE(do_login(ports[1], "rosa@example.org", PASSWORD, NULL, &r) == 0);
    check_problem(&r, 401, "invalid_credentials", "the password before the reset");
    REQUIRE(do_login(ports[0], "rosa@example.org", NEW_PASSWORD, NULL, &r) == 0);
    CHECK_MSG(r.status == 200, "the reset password: %d %s", r.status, r.body);

    /* An expired link. */
    REQUIRE(post_json(ports[1], "/api/auth/forgot-password", NULL,
                      "{\"email\":\"rosa@example.org\"}", &r) == 0);
    CHECK_INT(r.status, 202);
    mail_token("rosa@example.org", "reset-password", token, sizeof token);
    REQUIRE(strlen(token) >= 32);
    char sql[256];
    snprintf(sql, sizeof sql,
             "UPDATE auth.one_time_tokens SET expires_at = now() - interval '1 second' "
             "WHERE user_id = '%s' AND used_at IS NULL",
             uid);
    REQUIRE(h_pg_exec(&pg, sql) == 0);
    snprintf(body, sizeof body, "{\"token\":\"%s\",\"new_password\":\"another fine password\"}",
             token);
    REQUIRE(post_json(ports[0], "/api/auth/reset-password", NULL, body, &r) == 0);
    check_problem(&r, 400, "token_expired", "an expired reset link");
    REQUIRE(post_json(ports[0], "/api/auth/reset-password", NULL,
                      "{\"token\":\"AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA\","
                      "\"new_password\":\"another fine password\"}",
                      &r) == 0);
    check_problem(&r, 400, "invalid_token", "an unknown reset link");
}

/* ---- sessions and devices ---- */

/* The id of the session marked current in GET /api/auth/sessions, and how many there are. */
static int sessions_of(const char *access, char *current, size_t size, gt_response_t *r)
{
    current[0] = '\0';
    if (call(ports[0], "GET", "/api/auth/sessions", access, NULL, NULL, r) != 0 ||
        r->status != 200)
        return -1;
    cJSON *doc = cJSON_Parse(r->body), *item;
    int n = 0;
    cJSON_ArrayForEach(item, cJSON_GetObjectItem(doc, "items"))
    {
        n++;
        if (cJSON_IsTrue(cJSON_GetObjectItem(item, "current")))
            snprintf(current, size, "%s",
                     cJSON_GetStringValue(cJSON_GetObjectItem(item, "id"))
                         ? cJSON_GetStringValue(cJSON_GetObjectItem(item, "id"))
                         : "");
    }
    cJSON_Delete(doc);
    return n;
}

static void test_sessions_and_devices(void)
{
    setup();
    REQUIRE(make_user("sam@example.org", NULL, 0));
    tokens_t a, b, c;
    REQUIRE(sign_in(0, "sam@example.org", PASSWORD, "fp-sam-1", &a));
    REQUIRE(sign_in(1, "sam@example.org", PASSWORD, "fp-sam-2", &b));
    REQUIRE(sign_in(0, "sam@example.org", PASSWORD, "fp-sam-3", &c));
    gt_response_t r;
    char sa[64], sb[64];
    /* Three logins and the register session. */
    CHECK_INT(sessions_of(a.access, sa, sizeof sa, &r), 4);
    CHECK(strstr(r.body, "\"fp-sam-2\"") != NULL && strstr(r.body, "\"web\"") != NULL);
    CHECK(strstr(r.body, "\"ip_address\"") != NULL && strstr(r.body, "\"user_agent\"") != NULL);
    CHECK(strstr(r.body, "\"last_activity_at\"") != NULL);
    CHECK_INT(sessions_of(b.access, sb, sizeof sb, &r), 4);
    CHECK(strlen(sa) == 36 && strlen(sb) == 36 && strcmp(sa, sb) != 0);

    /* Another user of the same tenant cannot touch them. */
    REQUIRE(make_user("sid@example.org", NULL, 0));
    tokens_t x;
    REQUIRE(sign_in(1, "sid@example.org", PASSWORD, "fp-sid", &x));
    char path[160];
    snprintf(path, sizeof path, "/api/auth/sessions/%s", sb);
    REQUIRE(call(ports[1], "DELETE", path, x.access, NULL, NULL, &r) == 0);
    check_problem(&r, 404, "not_found", "another user's session");
    snprintf(path, sizeof path, "/api/auth/devices/%s", b.device);
    REQUIRE(call(ports[1], "DELETE", path, x.access, NULL, NULL, &r) == 0);
    check_problem(&r, 404, "not_found", "another user's device");
    accepted_everywhere(b.access, "/api/auth/me", "a session another user tried to end");

    /* One session revokes another: refused by both gateways within 2 s. */
    accepted_everywhere(b.access, "/api/auth/me", "before the revocation");
    snprintf(path, sizeof path, "/api/auth/sessions/%s", sb);
    REQUIRE(call(ports[1], "DELETE", path, a.access, NULL, NULL, &r) == 0);
    check_no_content(&r, "DELETE session");
    refused_everywhere(b.access, "/api/auth/me", "revoked session");
    REQUIRE(do_refresh(ports[0], b.refresh, &r) == 0);
    check_problem(&r, 401, "token_invalid", "refresh token of a revoked session");
    REQUIRE(call(ports[0], "DELETE", path, a.access, NULL, NULL, &r) == 0);
    check_problem(&r, 404, "not_found", "a revoked session again");
    REQUIRE(call(ports[0], "DELETE", "/api/auth/sessions/not-a-uuid", a.access, NULL, NULL, &r) ==
            0);
    CHECK_MSG(r.status == 400, "a malformed session id: %d %s", r.status, r.body);
    CHECK_INT(sessions_of(a.access, sa, sizeof sa, &r), 3);

    /* Devices: three, each with its details; forgetting one ends its sessions. */
    REQUIRE(call(ports[1], "GET", "/api/auth/devices", a.access, NULL, NULL, &r) == 0);
    CHECK_INT(r.status, 200);
    int total = 0;
    CHECK_INT(items_with(&r, "name", "fp-sam-3", &total), 1);
    CHECK_INT(total, 3);
    CHECK(strstr(r.body, "\"app_version\"") != NULL && strstr(r.body, "\"last_seen_at\"") != NULL);
    CHECK(strlen(c.device) == 36);
    snprintf(path, sizeof path, "/api/auth/devices/%s", c.device);
    REQUIRE(call(ports[0], "DELETE", path, a.access, NULL, NULL, &r) == 0);
    check_no_content(&r, "DELETE device");
    refused_everywhere(c.access, "/api/auth/me", "session of a forgotten device");
    REQUIRE(call(ports[1], "DELETE", path, a.access, NULL, NULL, &r) == 0);
    check_problem(&r, 404, "not_found", "a forgotten device again");
    REQUIRE(call(ports[1], "GET", "/api/auth/devices", a.access, NULL, NULL, &r) == 0);
    CHECK_INT(items_with(&r, "name", "fp-sam-3", &total), 0);
    CHECK_INT(total, 2);
    accepted_everywhere(a.access, "/api/auth/me", "the session that did it all");
}

/* ---- admin ---- */

/* Sleeps until just after the wall clock's next whole second (token times are seconds). */
static void wait_next_second(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    h_sleep_ms((int)((1000000000L - ts.tv_nsec) / 1000000) + 20);
}

static void test_admin_users(void)
{
    setup();
    char admin[2048], admin_id[64];
    admin_token(admin, sizeof admin);
    gt_response_t r;
    REQUIRE(call(ports[0], "GET", "/api/auth/me", admin, NULL, NULL, &r) == 0);
    json_str(&r, "id", NULL, admin_id, sizeof admin_id);
    char v[256];
    json_str(&r, "role", NULL, v, sizeof v);
    CHECK_STR(v, "platform_admin");

    REQUIRE(call(ports[1], "POST", "/api/admin/users", admin, NULL,
                 "{\"email\":\"made@example.org\",\"password\":\"" PASSWORD
                 "\",\"display_name\":\"Made\"}",
                 &r) == 0);
    CHECK_MSG(r.status == 201, "create user: %d %s", r.status, r.body);
    char id[64], want[160];
    json_str(&r, "id", NULL, id, sizeof id);
    snprintf(want, sizeof want, "/api/admin/users/%s", id);
    CHECK_STR(gt_header(&r, "location", v, sizeof v), want);
    CHECK(json_bool(&r, "email_verified", NULL));
    json_str(&r, "role", NULL, v, sizeof v);
    CHECK_STR(v, "user");
    REQUIRE(call(ports[0], "POST", "/api/admin/users", admin, NULL,
                 "{\"email\":\"MADE@example.org\",\"password\":\"" PASSWORD
                 "\",\"display_name\":\"Twin\"}", &r) == 0);
    check_problem(&r, 409, "email_exists", "admin create of a taken address");
    REQUIRE(call(ports[0], "POST", "/api/admin/users", admin, NULL,
                 "{\"email\":\"made2@example.org\",\"password\":\"123456789\","
                 "\"display_name\":\"Weak\"}", &r) == 0);
    check_problem(&r, 400, "weak_password", "admin create with a weak password");
    REQUIRE(call(ports[1], "GET", "/api/admin/users?q=made", admin, NULL, NULL, &r) == 0);
    CHECK_INT(r.status, 200);
    int total = 0;
    CHECK_INT(items_with(&r, "id", id, &total), 1);
    CHECK_INT(total, 1);
    CHECK(strstr(r.body, "password") == NULL);

    /* A plain user is refused the admin routes. */
    tokens_t u;
    REQUIRE(sign_in(0, "made@example.org", PASSWORD, NULL, &u));
    REQUIRE(call(ports[0], "GET", "/api/admin/users", u.access, NULL, NULL, &r) == 0);
    check_problem(&r, 403, "permission_denied", "a user on an admin route");
    /* Made an admin, a new sign-in may use them. */
    char path[160];
    snprintf(path, sizeof path, "/api/admin/users/%s", id);
    REQUIRE(call(ports[1], "PATCH", path, admin, NULL, "{\"role\":\"admin\"}", &r) == 0);
    CHECK_MSG(r.status == 200, "promote: %d %s", r.status, r.body);
    json_str(&r, "role", NULL, v, sizeof v);
    CHECK_STR(v, "admin");
    REQUIRE(sign_in(1, "made@example.org", PASSWORD, NULL, &u));
    REQUIRE(call(ports[1], "GET", "/api/admin/users", u.access, NULL, NULL, &r) == 0);
    CHECK_MSG(r.status == 200, "a new admin: %d %s", r.status, r.body);
    /* ... within an admin's powers: no platform admin made, none changed. */
    snprintf(want, sizeof want, "/api/admin/users/%s", admin_id);
    REQUIRE(call(ports[0], "PATCH", want, u.access, NULL, "{\"is_active\":false}", &r) == 0);
    CHECK_MSG(r.status == 403, "an admin disabling the platform admin: %d %s", r.status, r.body);
    REQUIRE(call(ports[0], "PATCH", path, u.access, NULL, "{\"role\":\"platform_admin\"}",
                 &r) == 0);
    CHECK_MSG(r.status == 403, "an admin making itself platform admin: %d %s", r.status, r.body);
    accepted_everywhere(admin, "/api/auth/me", "the platform admin after those attempts");
    /* ... and not the platform admin's routes. */
    REQUIRE(call(ports[1], "GET", "/api/admin/tenants", u.access, NULL, NULL, &r) == 0);
    CHECK_INT(r.status, 403);
    /* Demoted: the sessions that carried the admin role end on both gateways. The
     * demotion happens at the start of a second so that the sign-in right after it falls
     * in the same second: its new token must work all the same. */
    wait_next_second();
    REQUIRE(call(ports[0], "PATCH", path, admin, NULL, "{\"role\":\"user\"}", &r) == 0);
    CHECK_MSG(r.status == 200, "demote: %d %s", r.status, r.body);
    tokens_t fresh;
    REQUIRE(sign_in(1, "made@example.org", PASSWORD, "fp-made-again", &fresh));
    refused_everywhere(u.access, "/api/auth/me", "a demoted admin's token");
    for (int i = 0; i < 2; i++) {
        REQUIRE(call(ports[i], "GET", "/api/auth/me", fresh.access, NULL, NULL, &r) == 0);
        CHECK_MSG(r.status == 200,
                  "a sign-in in the same second as a demotion, on gateway %d: %d %s", i + 1,
                  r.status, r.body);
    }
    /* (mentis-auth holds that session for live: its refresh token works.) */
    REQUIRE(do_refresh(ports[0], fresh.refresh, &r) == 0);
    CHECK_MSG(r.status == 200, "refresh of the same-second session: %d %s", r.status, r.body);
    wait_next_second();
    REQUIRE(sign_in(0, "made@example.org", PASSWORD, NULL, &u));
    REQUIRE(call(ports[0], "GET", "/api/admin/users", u.access, NULL, NULL, &r) == 0);
    check_problem(&r, 403, "permission_denied", "a demoted admin on an admin route");
    /* Disabled: its token is refused everywhere, and it cannot sign in. */
    REQUIRE(call(ports[0], "PATCH", path, admin, NULL, "{\"is_active\":false}", &r) == 0);
    CHECK_MSG(r.status == 200 && !json_bool(&r, "is_active", NULL), "disable: %d %s", r.status,
              r.body);
    refused_everywhere(u.access, "/api/auth/me", "a disabled user's token");
    REQUIRE(do_login(ports[0], "made@example.org", PASSWORD, NULL, &r) == 0);
    check_problem(&r, 403, "account_inactive", "login of a disabled user");
    /* Nobody locks themselves out. */
    snprintf(want, sizeof want, "/api/admin/users/%s", admin_id);
    REQUIRE(call(ports[0], "PATCH", want, admin, NULL, "{\"is_active\":false}", &r) == 0);
    check_problem(&r, 403, "self_lockout", "disabling oneself");
    REQUIRE(call(ports[0], "PATCH", path, admin, NULL, "{\"role\":\"emperor\"}", &r) == 0);
    CHECK_MSG(r.status == 400, "a made-up role: %d %s", r.status, r.body);
    /* Enabled again, signed in, then deleted: its token dies with it. */
    REQUIRE(call(ports[1], "PATCH", path, admin, NULL, "{\"is_active\":true}", &r) == 0);
    CHECK_MSG(r.status == 200 && json_bool(&r, "is_active", NULL), "enable: %d %s", r.status,
              r.body);
    wait_next_second(); /* the same second as the disable is the case checked above */
    REQUIRE(sign_in(1, "made@example.org", PASSWORD, "fp-made", &u));
    accepted_everywhere(u.access, "/api/auth/me", "an enabled user's token");
    REQUIRE(call(ports[1], "DELETE", path, admin, NULL, NULL, &r) == 0);
    check_no_content(&r, "DELETE user");
    refused_everywhere(u.access, "/api/auth/me", "a deleted user's token");
    REQUIRE(do_refresh(ports[0], u.refresh, &r) == 0);
    CHECK_INT(r.status, 401);
    REQUIRE(do_login(ports[0], "made@example.org", PASSWORD, NULL, &r) == 0);
    check_problem(&r, 401, "invalid_credentials", "login of a deleted user");
    REQUIRE(call(ports[0], "DELETE", path, admin, NULL, NULL, &r) == 0);
    check_problem(&r, 404, "not_found", "a deleted user again");
    REQUIRE(call(ports[0], "GET", "/api/admin/users?q=made", admin, NULL, NULL, &r) == 0);
    CHECK_INT(items_with(&r, "id", id, &total), 0);
    /* The audit log tells the story, newest first. */
    char q[200];
    snprintf(q, sizeof q, "/api/admin/audit?user_id=%s", id);
    REQUIRE(call(ports[1], "GET", q, admin, NULL, NULL, &r) == 0);
    CHECK_INT(r.status, 200);
    CHECK_INT(items_with(&r, "event", "user_created", NULL), 1);
    CHECK_INT(items_with(&r, "event", "role_changed", NULL), 2);
    CHECK_INT(items_with(&r, "event", "user_deleted", NULL), 1);
    cJSON *doc = cJSON_Parse(r.body);
    const char *first = cJSON_GetStringValue(
        cJSON_GetObjectItem(cJSON_GetArrayItem(cJSON_GetObjectItem(doc, "items"), 0), "event"));
    CHECK_STR(first, "user_deleted");
    cJSON_Delete(doc);
    REQUIRE(call(ports[1], "GET", "/api/admin/audit?event=login_failed&limit=2", admin, NULL, NULL,
                 &r) == 0);
    CHECK_INT(r.status, 200);
    CHECK_INT(items_with(&r, "event", "login_failed", &total), total);
    CHECK(total >= 1 && total <= 2);
}

static void test_admin_beta_tokens(void)
{
    setup();
    char admin[2048];
    admin_token(admin, sizeof admin);
    gt_response_t r;
    REQUIRE(call(ports[0], "POST", "/api/admin/beta-tokens", admin, NULL,
                 "{\"label\":\"e2e tester\",\"rate_limit_per_minute\":100}", &r) == 0);
    CHECK_MSG(r.status == 201, "create beta token: %d %s", r.status, r.body);
    char beta[256], id[64], want[160], v[160];
    json_str(&r, "token", NULL, beta, sizeof beta);
    json_str(&r, "id", NULL, id, sizeof id);
    CHECK(strncmp(beta, "mtb_", 4) == 0);
    snprintf(want, sizeof want, "/api/admin/beta-tokens/%s", id);
    CHECK_STR(gt_header(&r, "location", v, sizeof v), want);
    REQUIRE(call(ports[0], "POST", "/api/admin/beta-tokens", admin, NULL, "{\"label\":\"\"}",
                 &r) == 0);
    CHECK_MSG(r.status == 400 && strstr(problem_fields(&r), "label") != NULL,
              "a beta token without a label: %d %s", r.status, r.body);
    /* It opens client routes on both gateways (it names no user: not 401, not 200). */
    for (int i = 0; i < 2; i++) {
        REQUIRE(call(ports[i], "GET", "/api/auth/sessions", beta, NULL, NULL, &r) == 0);
        CHECK_MSG(r.status != 401, "a beta token on gateway %d: %d %s", i + 1, r.status, r.body);
    }
    /* It names no account: no password to change. */
    REQUIRE(call(ports[0], "POST", "/api/auth/password", beta, NULL,
                 "{\"current_password\":\"x\",\"new_password\":\"" NEW_PASSWORD "\"}",
                 &r) == 0);
    check_problem(&r, 403, "permission_denied", "a beta token changing a password");
    REQUIRE(call(ports[1], "GET", "/api/admin/beta-tokens", admin, NULL, NULL, &r) == 0);
    CHECK_INT(r.status, 200);
    CHECK_INT(items_with(&r, "id", id, NULL), 1);
    /* Never the secret again: at most its first characters, to recognise a leak. */
    CHECK(strstr(r.body, beta) == NULL && strstr(r.body, beta + 16) == NULL);
    CHECK_INT(items_with(&r, "label", "e2e tester", NULL), 1);
    /* Revoked: refused by both gateways within 2 s. */
    REQUIRE(call(ports[1], "DELETE", want, admin, NULL, NULL, &r) == 0);
    check_no_content(&r, "DELETE beta token");
    long long t0 = h_now_ms(), took[2] = {-1, -1};
    while ((took[0] < 0 || took[1] < 0) && h_now_ms() - t0 < 2000) {
        for (int i = 0; i < 2; i++)
            if (took[i] < 0 &&
                call(ports[i], "GET", "/api/auth/sessions", beta, NULL, NULL, &r) == 0 &&
                r.status == 401)
                took[i] = h_now_ms() - t0;
        h_sleep_ms(20);
    }
    CHECK_MSG(took[0] >= 0 && took[1] >= 0, "revoked beta token refused: %lld %lld", took[0],
              took[1]);
    printf("  revoked beta token: refused by both gateways after %lld and %lld ms\n", took[0],
           took[1]);
    REQUIRE(call(ports[0], "DELETE", want, admin, NULL, NULL, &r) == 0);
    CHECK_MSG(r.status == 404 || r.status == 204, "revoking twice: %d %s", r.status, r.body);
    REQUIRE(call(ports[0], "GET", "/api/admin/audit?event=beta_token_revoked", admin, NULL, NULL,
                 &r) == 0);
    CHECK(items_with(&r, "event", "beta_token_revoked", NULL) >= 1);
    /* Not for users. */
    REQUIRE(make_user("nobeta@example.org", NULL, 0));
    tokens_t u;
    REQUIRE(sign_in(0, "nobeta@example.org", PASSWORD, NULL, &u));
    REQUIRE(call(ports[0], "POST", "/api/admin/beta-tokens", u.access, NULL,
                 "{\"label\":\"mine\"}", &r) == 0);
    check_problem(&r, 403, "permission_denied", "a user issuing a beta token");
}

/* ---- tenants ---- */

static char tenant_b[64];

/* Signs in to another tenant through the gateway: public requests name their tenant with
 * X-Tenant (a tenant id). */
static bool tenant_login(const char *tenant, const char *email, const char *password,
                         const char *fingerprint, tokens_t *t)
{
    char h[128], body[512];
    snprintf(h, sizeof h, "X-Tenant: %s\r\n", tenant);
    snprintf(body, sizeof body,
             "{\"email\":\"%s\",\"password\":\"%s\",\"device\":{\"fingerprint\":\"%s\","
             "\"name\":\"%s\",\"type\":\"web\"}}",
             email, password, fingerprint, fingerprint);
    gt_response_t r;
    if (call(ports[1], "POST", "/api/auth/login", NULL, h, body, &r) != 0 || r.status != 200)
        return false;
    memset(t, 0, sizeof *t);
    json_str(&r, "tokens", "access_token", t->access, sizeof t->access);
    json_str(&r, "tokens", "refresh_token", t->refresh, sizeof t->refresh);
    json_str(&r, "user", "id", t->id, sizeof t->id);
    json_str(&r, "device", "id", t->device, sizeof t->device);
    return t->access[0] != '\0';
}

static void test_admin_tenants(void)
{
    setup();
    char admin[2048];
    admin_token(admin, sizeof admin);
    gt_response_t r;
    REQUIRE(call(ports[0], "GET", "/api/admin/tenants", admin, NULL, NULL, &r) == 0);
    CHECK_INT(r.status, 200);
    CHECK_INT(items_with(&r, "id", DEFAULT_TENANT, NULL), 1);
    REQUIRE(call(ports[1], "POST", "/api/admin/tenants", admin, NULL,
                 "{\"slug\":\"bravo\",\"name\":\"Bravo School\",\"admin_email\":"
                 "\"boss@bravo.example\",\"admin_password\":\"" PASSWORD "\"}",
                 &r) == 0);
    CHECK_MSG(r.status == 201, "create tenant: %d %s", r.status, r.body);
    char v[160], want[160];
    json_str(&r, "id", NULL, tenant_b, sizeof tenant_b);
    snprintf(want, sizeof want, "/api/admin/tenants/%s", tenant_b);
    CHECK_STR(gt_header(&r, "location", v, sizeof v), want);
    json_str(&r, "slug", NULL, v, sizeof v);
    CHECK_STR(v, "bravo");
    REQUIRE(call(ports[0], "POST", "/api/admin/tenants", admin, NULL,
                 "{\"slug\":\"bravo\",\"name\":\"Again\"}", &r) == 0);
    check_problem(&r, 409, "slug_exists", "a taken slug");
    REQUIRE(call(ports[0], "POST", "/api/admin/tenants", admin, NULL,
                 "{\"slug\":\"Not A Slug\",\"name\":\"X\"}", &r) == 0);
    CHECK_MSG(r.status == 400 && strstr(problem_fields(&r), "slug") != NULL, "bad slug: %d %s",
              r.status, r.body);
    REQUIRE(call(ports[1], "GET", "/api/admin/tenants", admin, NULL, NULL, &r) == 0);
    CHECK_INT(items_with(&r, "id", tenant_b, NULL), 1);
    REQUIRE(call(ports[1], "GET", "/api/admin/audit?event=tenant_created", admin, NULL, NULL,
                 &r) == 0);
    CHECK_INT(items_with(&r, "event", "tenant_created", NULL), 1);
    /* The new tenant's admin cannot sign in through the gateway: public routes carry no
     * tenant, so the address is looked up in the default tenant. */
    REQUIRE(do_login(ports[0], "boss@bravo.example", PASSWORD, NULL, &r) == 0);
    check_problem(&r, 401, "invalid_credentials", "tenant B's admin at the default tenant");
}

static void test_tenant_isolation(void)
{
    setup();
    REQUIRE(tenant_b[0] != '\0');
    tokens_t boss, bu;
    gt_response_t r;
    char v[128];
    /* Without X-Tenant a sign-in is the default tenant's; an unknown or malformed tenant
     * is refused as such. */
    const char *login = "{\"email\":\"boss@bravo.example\",\"password\":\"" PASSWORD "\"}";
    REQUIRE(call(ports[0], "POST", "/api/auth/login", NULL, NULL, login, &r) == 0);
    check_problem(&r, 401, "invalid_credentials", "B's admin without X-Tenant");
    REQUIRE(call(ports[0], "POST", "/api/auth/login", NULL,
                 "X-Tenant: 00000000-0000-7000-8000-0000000000ee\r\n", login, &r) == 0);
    check_problem(&r, 400, "invalid_tenant", "an unknown X-Tenant");
    REQUIRE(call(ports[0], "POST", "/api/auth/login", NULL, "X-Tenant: bravo\r\n", login, &r) ==
            0);
    check_problem(&r, 400, "invalid_argument", "a malformed X-Tenant");
    CHECK(strstr(r.body, "\"field\":\"X-Tenant\"") != NULL);
    REQUIRE(tenant_login(tenant_b, "boss@bravo.example", PASSWORD, "fp-boss", &boss));
    /* Tenant B's admin through the gateway: its own tenant, a plain admin. */
    REQUIRE(call(ports[0], "GET", "/api/auth/me", boss.access, NULL, NULL, &r) == 0);
    CHECK_INT(r.status, 200);
    json_str(&r, "tenant_id", NULL, v, sizeof v);
    CHECK_STR(v, tenant_b);
    json_str(&r, "role", NULL, v, sizeof v);
    CHECK_STR(v, "admin");
    /* B's things: a user (with a session and a device) and a beta token. */
    REQUIRE(call(ports[1], "POST", "/api/admin/users", boss.access, NULL,
                 "{\"email\":\"pupil@bravo.example\",\"password\":\"" PASSWORD
                 "\",\"display_name\":\"Pupil\"}", &r) == 0);
    CHECK_MSG(r.status == 201, "B creates a user: %d %s", r.status, r.body);
    REQUIRE(tenant_login(tenant_b, "pupil@bravo.example", PASSWORD, "fp-pupil", &bu));
    char b_session[64];
    REQUIRE(sessions_of(bu.access, b_session, sizeof b_session, &r) == 1);
    REQUIRE(call(ports[0], "POST", "/api/admin/beta-tokens", boss.access, NULL,
                 "{\"label\":\"bravo beta\"}", &r) == 0);
    REQUIRE(r.status == 201);
    char b_beta[256], b_beta_id[64];
    json_str(&r, "token", NULL, b_beta, sizeof b_beta);
    json_str(&r, "id", NULL, b_beta_id, sizeof b_beta_id);
    /* A tenant's admin makes no platform admins. */
    REQUIRE(call(ports[1], "POST", "/api/admin/users", boss.access, NULL,
                 "{\"email\":\"emperor@bravo.example\",\"password\":\"" PASSWORD
                 "\",\"display_name\":\"E\",\"role\":\"platform_admin\"}",
                 &r) == 0);
    CHECK_MSG(r.status == 403, "B's admin creating a platform admin: %d %s", r.status, r.body);
    /* Tenant B cannot see tenant A: its user list has only its own, tenants are closed. */
    REQUIRE(call(ports[1], "GET", "/api/admin/users", boss.access, NULL, NULL, &r) == 0);
    int total = 0;
    items_with(&r, "id", NULL, &total);
    CHECK_INT(total, 2);
    CHECK(strstr(r.body, "example.org") == NULL && strstr(r.body, ADMIN_EMAIL) == NULL);
    REQUIRE(call(ports[1], "GET", "/api/admin/tenants", boss.access, NULL, NULL, &r) == 0);
    CHECK_INT(r.status, 403);
    REQUIRE(call(ports[0], "GET", "/api/admin/audit?limit=200", boss.access, NULL, NULL, &r) ==
            0);
    CHECK_INT(r.status, 200);
    /* Its own two accounts made (the first by the platform admin, who acted in B), and
     * nothing of A's users (all of them at example.org). */
    CHECK_INT(items_with(&r, "event", "user_created", NULL), 2);
    CHECK_MSG(strstr(r.body, "example.org") == NULL, "B's audit shows A: %s", r.body);

    /* Tenant A: the platform admin and a user, with B's ids. */
    char admin[2048], a_admin_id[64];
    admin_token(admin, sizeof admin);
    REQUIRE(call(ports[0], "GET", "/api/auth/me", admin, NULL, NULL, &r) == 0);
    json_str(&r, "id", NULL, a_admin_id, sizeof a_admin_id);
    REQUIRE(make_user("alice@example.org", NULL, 0));
    tokens_t alice;
    REQUIRE(sign_in(0, "alice@example.org", PASSWORD, "fp-alice", &alice));
    REQUIRE(call(ports[0], "GET", "/api/admin/users?limit=100", admin, NULL, NULL, &r) == 0);
    CHECK_INT(r.status, 200);
    CHECK(strstr(r.body, "bravo.example") == NULL);
    CHECK_INT(items_with(&r, "id", bu.id, NULL), 0);
    REQUIRE(call(ports[0], "GET", "/api/admin/users?q=bravo", admin, NULL, NULL, &r) == 0);
    CHECK_INT(items_with(&r, "id", NULL, &total), 0);
    CHECK_INT(total, 0);
    char path[200];
    snprintf(path, sizeof path, "/api/admin/users/%s", bu.id);
    REQUIRE(call(ports[1], "PATCH", path, admin, NULL, "{\"is_active\":false}", &r) == 0);
    check_problem(&r, 404, "not_found", "A's admin disabling B's user");
    REQUIRE(call(ports[1], "PATCH", path, admin, NULL, "{\"role\":\"admin\"}", &r) == 0);
    check_problem(&r, 404, "not_found", "A's admin promoting B's user");
    REQUIRE(call(ports[0], "DELETE", path, admin, NULL, NULL, &r) == 0);
    check_problem(&r, 404, "not_found", "A's admin deleting B's user");
    snprintf(path, sizeof path, "/api/admin/audit?user_id=%s", bu.id);
    REQUIRE(call(ports[0], "GET", path, admin, NULL, NULL, &r) == 0);
    CHECK_INT(r.status, 200);
    items_with(&r, "id", NULL, &total);
    CHECK_INT(total, 0);
    REQUIRE(call(ports[0], "GET", "/api/admin/audit?limit=200", admin, NULL, NULL, &r) == 0);
    CHECK_INT(r.status, 200);
    items_with(&r, "id", NULL, &total);
    CHECK(total > 10);
    CHECK_MSG(strstr(r.body, "bravo.example") == NULL && strstr(r.body, bu.id) == NULL &&
                  strstr(r.body, boss.id) == NULL,
              "A's audit shows B's accounts");
    REQUIRE(call(ports[0], "GET", "/api/admin/beta-tokens", admin, NULL, NULL, &r) == 0);
    CHECK_INT(items_with(&r, "id", b_beta_id, NULL), 0);
    snprintf(path, sizeof path, "/api/admin/beta-tokens/%s", b_beta_id);
    REQUIRE(call(ports[1], "DELETE", path, admin, NULL, NULL, &r) == 0);
    check_problem(&r, 404, "not_found", "A's admin revoking B's beta token");
    snprintf(path, sizeof path, "/api/auth/sessions/%s", b_session);
    REQUIRE(call(ports[0], "DELETE", path, alice.access, NULL, NULL, &r) == 0);
    check_problem(&r, 404, "not_found", "A's user revoking B's session");
    REQUIRE(call(ports[0], "DELETE", path, admin, NULL, NULL, &r) == 0);
    check_problem(&r, 404, "not_found", "A's admin revoking B's session");
    snprintf(path, sizeof path, "/api/auth/devices/%s", bu.device);
    REQUIRE(call(ports[1], "DELETE", path, alice.access, NULL, NULL, &r) == 0);
    check_problem(&r, 404, "not_found", "A's user deleting B's device");
    /* B's admin with A's ids, the other way round. */
    snprintf(path, sizeof path, "/api/admin/users/%s", a_admin_id);
    REQUIRE(call(ports[1], "PATCH", path, boss.access, NULL, "{\"is_active\":false}", &r) == 0);
    check_problem(&r, 404, "not_found", "B's admin disabling A's platform admin");
    REQUIRE(call(ports[1], "DELETE", path, boss.access, NULL, NULL, &r) == 0);
    check_problem(&r, 404, "not_found", "B's admin deleting A's platform admin");
    snprintf(path, sizeof path, "/api/admin/users/%s", alice.id);
    REQUIRE(call(ports[0], "PATCH", path, boss.access, NULL, "{\"role\":\"admin\"}", &r) == 0);
    check_problem(&r, 404, "not_found", "B's admin promoting A's user");

    /* Nothing of B was touched, nothing of A either. */
    accepted_everywhere(bu.access, "/api/auth/me", "B's user after A's attempts");
    accepted_everywhere(alice.access, "/api/auth/me", "A's user after B's attempts");
    accepted_everywhere(admin, "/api/auth/me", "A's admin after B's attempts");
    REQUIRE(call(ports[1], "GET", "/api/auth/sessions", b_beta, NULL, NULL, &r) == 0);
    CHECK_MSG(r.status != 401, "B's beta token after A's attempts: %d %s", r.status, r.body);
    char sql[256], out[64];
    snprintf(sql, sizeof sql,
             "SELECT is_active || ' ' || role FROM auth.users WHERE id = '%s'", bu.id);
    sql_value(sql, out, sizeof out);
    CHECK_STR(out, "true user");
    /* B's beta token with its tenant part changed to A's finds nothing. */
    uint8_t raw[64];
    size_t raw_len = 0;
    REQUIRE(strncmp(b_beta, "mtb_", 4) == 0);
    REQUIRE(sodium_base642bin(raw, sizeof raw, b_beta + 4, strlen(b_beta + 4), NULL, &raw_len,
                              NULL, sodium_base64_VARIANT_URLSAFE_NO_PADDING) == 0);
    REQUIRE(raw_len == 48);
    size_t uuid_len = 0;
    char hex[33];
    const char *a_tenant = DEFAULT_TENANT;
    snprintf(hex, sizeof hex, "%.8s%.4s%.4s%.4s%.12s", a_tenant, &a_tenant[9], &a_tenant[14],
             &a_tenant[19], &a_tenant[24]);
    REQUIRE(sodium_hex2bin(raw + 32, 16, hex, 32, NULL, &uuid_len, NULL) == 0 && uuid_len == 16);
    char crafted[128] = "mtb_";
    sodium_bin2base64(crafted + 4, sizeof crafted - 4, raw, raw_len,
                      sodium_base64_VARIANT_URLSAFE_NO_PADDING);
    REQUIRE(strcmp(crafted, b_beta) != 0);
    REQUIRE(call(ports[0], "GET", "/api/auth/sessions", crafted, NULL, NULL, &r) == 0);
    check_problem(&r, 401, "token_invalid", "B's beta token moved to tenant A");
}

/* ---- forgot-password timing ---- */

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

static void test_forgot_password_timing(void)
{
    setup();
    REQUIRE(make_user("timing@example.org", NULL, 0));
    enum { WARM = 4, N = 31 };
    long long known[N], unknown[N];
    for (int i = 0; i < WARM + N; i++) {
        char body[2][128];
        snprintf(body[0], sizeof body[0], "{\"email\":\"timing@example.org\"}");
        snprintf(body[1], sizeof body[1], "{\"email\":\"timing-%d@example.org\"}", i);
        /* Alternate which goes first; and let the mail sender finish the previous request's
         * mail before timing the next one, so a request is not measured with the background
         * send of a known address's mail running beside it on the two cores. */
        int first = i % 2;
        gt_response_t r[2];
        long long t[4];
        h_sleep_ms(15);
        t[0] = now_us();
        REQUIRE(post_json(ports[0], "/api/auth/forgot-password", NULL, body[first], &r[first]) ==
                0);
        t[1] = now_us();
        h_sleep_ms(15);
        t[2] = now_us();
        REQUIRE(post_json(ports[0], "/api/auth/forgot-password", NULL, body[!first],
                          &r[!first]) == 0);
        t[3] = now_us();
        CHECK_INT(r[0].status, 202);
        CHECK_INT(r[1].status, 202);
        CHECK_STR(r[0].body, r[1].body);
        if (i >= WARM) {
            known[i - WARM] = first == 0 ? t[1] - t[0] : t[3] - t[2];
            unknown[i - WARM] = first == 0 ? t[3] - t[2] : t[1] - t[0];
        }
    }
    qsort(known, N, sizeof known[0], cmp_ll);
    qsort(unknown, N, sizeof unknown[0], cmp_ll);
    long long mk = known[N / 2], mu = unknown[N / 2];
    long long hi = mk > mu ? mk : mu, diff = mk > mu ? mk - mu : mu - mk;
    printf("  forgot-password through the gateway, median of %d: known %lld us, unknown %lld us "
           "(%.1f%% apart)\n",
           N, mk, mu, 100.0 * (double)diff / (double)hi);
    CHECK_MSG(diff * 4 <= hi, "known %lld us vs unknown %lld us", mk, mu);
}

TEST_MAIN(test_register, test_login_and_wrong_password, test_lockout_and_unlock,
          test_refresh_reuse_and_expiry, test_concurrent_refresh, test_me_and_etag, test_logout,
          test_password_change, test_email_verification, test_forgot_and_reset,
          test_sessions_and_devices, test_admin_users, test_admin_beta_tokens,
          test_admin_tenants, test_tenant_isolation, test_forgot_password_timing)
