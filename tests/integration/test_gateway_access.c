/*
 * The gateway's access check and limits against the real mentis-auth, real nats-server
 * and PostgreSQL, through two gateway replicas and a third behind a (pretend) proxy:
 * tokens verified with auth's keys, forged Mentis-* headers ignored, refused tokens
 * (alg none, garbage, expired, wrong audience, another key), a revoked session refused by
 * both replicas within 2 s, rate limits hit and recovered, CORS, the origin secret,
 * client addresses through trusted proxies only, connections per address, slow clients
 * cut off, refused bodies, and a stopped service answering 503 while the rest stays fast.
 */
#include <cjson/cJSON.h>
#include <signal.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "check.h"
#include "harness.h"
#include "mentis/crypto.h"
#include "mentis/jwt.h"
#include "test_gateway_support.h"

#define ADMIN_EMAIL    "root@example.com"
#define ADMIN_PASSWORD "bootstrap admin password"
#define KEK "000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f"

static h_nats_t nats;
static h_pg_t pg;
static pid_t auth_pid;
static char dir[H_PATH_SIZE];
/* gw[0] and gw[1]: replicas, limits low enough to hit; gw[2]: behind a proxy. */
static int ports[3], admin_ports[3];
static pid_t gws[3];

static void start_auth(void)
{
    static char env_nats[128], env_admin[64], env_db[512];
    char url[400];
    h_pg_url(&pg, "auth", url, sizeof url);
    snprintf(env_nats, sizeof env_nats, "MENTIS_NATS_URL=%s", nats.url);
    int admin = h_free_port();
    snprintf(env_admin, sizeof env_admin, "MENTIS_ADMIN_PORT=%d", admin);
    snprintf(env_db, sizeof env_db, "MENTIS_DATABASE_URL=%s", url);
    const char *env[] = {env_nats,
                         env_admin,
                         env_db,
                         "MENTIS_AUTH_ARGON2_OPSLIMIT=2",
                         "MENTIS_AUTH_ARGON2_MEMLIMIT=19922944",
                         "MENTIS_AUTH_KEY_ENCRYPTION_KEY=" KEK,
                         "MENTIS_AUTH_BOOTSTRAP_ADMIN_EMAIL=" ADMIN_EMAIL,
                         "MENTIS_AUTH_BOOTSTRAP_ADMIN_PASSWORD=" ADMIN_PASSWORD,
                         NULL};
    char path[600], log[H_PATH_SIZE + 32];
    snprintf(path, sizeof path, "%s/services/auth/mentis-auth", getenv("MENTIS_BUILD_DIR"));
    snprintf(log, sizeof log, "%s/auth.log", dir);
    const char *argv[] = {path, NULL};
    auth_pid = h_spawn(argv, env, log);
    REQUIRE(auth_pid > 0);
    REQUIRE(h_wait_http(admin, "/readyz", 200, 20000) == 0);
}

static void setup(void)
{
    static bool done;
    if (done)
        return;
    done = true;
    REQUIRE(mentis_crypto_init() == MENTIS_OK);
    REQUIRE(h_nats_start(&nats) == 0 && h_pg_start(&pg) == 0);
    REQUIRE(h_tmpdir("gw-access", dir, sizeof dir) == 0);
    start_auth();
    /* gw[0] takes every sign-up of the tests, so its account routes are not limited here;
     * gw[1] keeps the default account limits. */
    static const char *const first_env[] = {"MENTIS_GATEWAY_RATE_AUTHENTICATED=30/min",
                                            "MENTIS_GATEWAY_RATE_LOGIN=1000/min",
                                            "MENTIS_GATEWAY_RATE_REGISTER=1000/min",
                                            "MENTIS_GATEWAY_CORS_ORIGINS=https://app.example",
                                            "MENTIS_GATEWAY_MAX_CONNS_PER_IP=8",
                                            "MENTIS_GATEWAY_HEADER_TIMEOUT_S=2",
                                            "MENTIS_GATEWAY_IDLE_TIMEOUT_S=3",
                                            NULL};
    static const char *const second_env[] = {"MENTIS_GATEWAY_CORS_ORIGINS=https://app.example",
                                             "MENTIS_GATEWAY_USAGE_INTERVAL_MS=200", NULL};
    static const char *const proxy_env[] = {"MENTIS_GATEWAY_TRUSTED_PROXIES=127.0.0.1",
                                            "MENTIS_GATEWAY_ORIGIN_SECRET=front-door-secret",
                                            "MENTIS_GATEWAY_RATE_LOGIN=3/min",
                                            "MENTIS_GATEWAY_CF_ACCESS_ADMINS=ops@example.com",
                                            NULL};
    for (int i = 0; i < 3; i++) {
        ports[i] = h_free_port();
        admin_ports[i] = h_free_port();
        char log[H_PATH_SIZE + 32];
        snprintf(log, sizeof log, "%s/gateway%d.log", dir, i);
        if (i < 2) {
            gws[i] = gt_start_gateway(nats.url, ports[i], admin_ports[i],
                                      i == 0 ? first_env : second_env, log);
            REQUIRE(gws[i] > 0);
            continue;
        }
        /* Behind the proxy even /healthz needs the secret: wait on the admin port. */
        static char e_nats[160], e_port[48], e_admin[48];
        snprintf(e_nats, sizeof e_nats, "MENTIS_NATS_URL=%s", nats.url);
        snprintf(e_port, sizeof e_port, "MENTIS_GATEWAY_PORT=%d", ports[i]);
        snprintf(e_admin, sizeof e_admin, "MENTIS_ADMIN_PORT=%d", admin_ports[i]);
        const char *env[] = {e_nats, e_port, e_admin, "MENTIS_GATEWAY_ADDR=127.0.0.1",
                             proxy_env[0], proxy_env[1], proxy_env[2], proxy_env[3],
                             NULL};
        char bin[H_PATH_SIZE];
        const char *argv[] = {gt_build_path("gateway/mentis-gateway", bin, sizeof bin), NULL};
        gws[i] = h_spawn(argv, env, log);
        REQUIRE(gws[i] > 0);
        REQUIRE(h_wait_http(admin_ports[i], "/readyz", 200, 10000) == 0);
    }
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
    return gt_request(port, req, r, 10000);
}

/* GET path with "Authorization: Bearer token" and extra header lines. */
static int get_as(int port, const char *path, const char *token, const char *extra,
                  gt_response_t *r)
{
    char h[6144];
    snprintf(h, sizeof h, "Authorization: Bearer %s\r\n%s", token, extra ? extra : "");
    return http(port, "GET", path, h, NULL, r);
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

static void json_str(const gt_response_t *r, const char *a, const char *b, char *out, size_t size)
{
    cJSON *doc = cJSON_Parse(r->body);
    cJSON *v = cJSON_GetObjectItem(doc, a);
    if (b != NULL)
        v = cJSON_GetObjectItem(v, b);
    snprintf(out, size, "%s", cJSON_GetStringValue(v) ? cJSON_GetStringValue(v) : "");
    cJSON_Delete(doc);
}

/* Registers an account through gw[0] and signs it in; the access token goes into token. */
static void sign_up(const char *email, char *token, size_t size, char *user_id, size_t id_size)
{
    char body[512];
    snprintf(body, sizeof body,
             "{\"email\":\"%s\",\"password\":\"correct horse battery\",\"display_name\":\"T\"}",
             email);
    gt_response_t r;
    REQUIRE(http(ports[0], "POST", "/api/auth/register", NULL, body, &r) == 0);
    CHECK_MSG(r.status == 201, "register: %d %s", r.status, r.body);
    snprintf(body, sizeof body,
             "{\"email\":\"%s\",\"password\":\"correct horse battery\",\"device\":{"
             "\"fingerprint\":\"fp-%s\",\"name\":\"test\",\"type\":\"web\"}}",
             email, email);
    REQUIRE(http(ports[0], "POST", "/api/auth/login", NULL, body, &r) == 0);
    REQUIRE(r.status == 200);
    json_str(&r, "tokens", "access_token", token, size);
    if (user_id != NULL)
        json_str(&r, "user", "id", user_id, id_size);
    REQUIRE(strlen(token) > 20);
}

static void check_security_headers(const gt_response_t *r)
{
    char v[256];
    CHECK_STR(gt_header(r, "x-content-type-options", v, sizeof v), "nosniff");
    CHECK_STR(gt_header(r, "x-frame-options", v, sizeof v), "DENY");
    CHECK_STR(gt_header(r, "referrer-policy", v, sizeof v), "no-referrer");
    CHECK(gt_header(r, "x-request-id", v, sizeof v) != NULL);
}

/* ---- tests ---- */

static void test_client_routes_need_a_token(void)
{
    setup();
    gt_response_t r;
    REQUIRE(http(ports[0], "GET", "/api/auth/me", NULL, NULL, &r) == 0);
    CHECK_INT(r.status, 401);
    CHECK_STR(problem_code(&r), "unauthenticated");
    char v[256];
    CHECK(gt_header(&r, "www-authenticate", v, sizeof v) != NULL && strncmp(v, "Bearer", 6) == 0);
    check_security_headers(&r);
    /* Another scheme is not a bearer token. */
    REQUIRE(http(ports[0], "GET", "/api/auth/me", "Authorization: Basic dXNlcjpwYXNz\r\n", NULL,
                 &r) == 0);
    CHECK_INT(r.status, 401);
    CHECK_STR(problem_code(&r), "token_invalid");
}

static void test_jwks_is_passed_through(void)
{
    setup();
    gt_response_t r;
    REQUIRE(http(ports[0], "GET", "/.well-known/jwks.json", NULL, NULL, &r) == 0);
    CHECK_INT(r.status, 200);
    cJSON *doc = cJSON_Parse(r.body);
    cJSON *key = cJSON_GetArrayItem(cJSON_GetObjectItem(doc, "keys"), 0);
    CHECK_STR(cJSON_GetStringValue(cJSON_GetObjectItem(key, "kty")), "OKP");
    CHECK_STR(cJSON_GetStringValue(cJSON_GetObjectItem(key, "crv")), "Ed25519");
    CHECK_STR(cJSON_GetStringValue(cJSON_GetObjectItem(key, "alg")), "EdDSA");
    CHECK(cJSON_GetObjectItem(key, "d") == NULL);
    cJSON_Delete(doc);
}

static void test_forged_identity_headers_are_ignored(void)
{
    setup();
    char a[2048], b[2048], a_id[64], b_id[64];
    sign_up("forge-a@example.com", a, sizeof a, a_id, sizeof a_id);
    sign_up("forge-b@example.com", b, sizeof b, b_id, sizeof b_id);
    char forged[512];
    snprintf(forged, sizeof forged,
             "Mentis-Principal: %s\r\nMentis-Tenant: 00000000-0000-7000-8000-0000000000ff\r\n"
             "Mentis-Roles: platform_admin\r\nMentis-Session: x\r\n",
             b_id);
    gt_response_t r;
    REQUIRE(get_as(ports[0], "/api/auth/me", a, forged, &r) == 0);
    CHECK_INT(r.status, 200);
    char email[128], id[64], role[32];
    json_str(&r, "email", NULL, email, sizeof email);
    json_str(&r, "id", NULL, id, sizeof id);
    json_str(&r, "role", NULL, role, sizeof role);
    CHECK_STR(email, "forge-a@example.com");
    CHECK_STR(id, a_id);
    CHECK_STR(role, "user");
    /* whoami answers the identity the service was given: the token's, never the forgery. */
    REQUIRE(get_as(ports[0], "/api/auth/session", a, forged, &r) == 0);
    CHECK_INT(r.status, 200);
    json_str(&r, "principal_id", NULL, id, sizeof id);
    json_str(&r, "role", NULL, role, sizeof role);
    json_str(&r, "tenant_id", NULL, email, sizeof email);
    CHECK_STR(id, a_id);
    CHECK_STR(role, "user");
    CHECK_STR(email, "00000000-0000-7000-8000-000000000001");
    json_str(&r, "session_id", NULL, id, sizeof id);
    CHECK(strlen(id) == 36);
    /* Without a token the forged headers get nothing at all. */
    REQUIRE(http(ports[0], "GET", "/api/auth/me", forged, NULL, &r) == 0);
    CHECK_INT(r.status, 401);
}

/* base64url of s, into out. */
static void b64(const char *s, char *out, size_t size)
{
    sodium_bin2base64(out, size, (const unsigned char *)s, strlen(s),
                      sodium_base64_VARIANT_URLSAFE_NO_PADDING);
}

/* The active signing key of mentis-auth, opened with the key-encryption key. */
static void real_key(char *kid, size_t kid_size, uint8_t sk[64])
{
    char hex[512];
    REQUIRE(h_pg_query(&pg, "SELECT kid FROM auth.signing_keys WHERE retired_at IS NULL", kid,
                       kid_size) == 0);
    REQUIRE(h_pg_query(&pg,
                       "SELECT encode(secret_box, 'hex') FROM auth.signing_keys "
                       "WHERE retired_at IS NULL",
                       hex, sizeof hex) == 0);
    uint8_t box[256], kek[32];
    size_t n = 0, kn = 0;
    REQUIRE(mentis_crypto_unhex(hex, box, sizeof box, &n) == MENTIS_OK);
    REQUIRE(mentis_crypto_unhex(KEK, kek, sizeof kek, &kn) == MENTIS_OK);
    REQUIRE(n == crypto_secretbox_NONCEBYTES + crypto_secretbox_MACBYTES + 64);
    REQUIRE(crypto_secretbox_open_easy(sk, box + crypto_secretbox_NONCEBYTES,
                                       n - crypto_secretbox_NONCEBYTES, box, kek) == 0);
}

static void claims_for(mentis_jwt_claims_t *c, const char *user_id)
{
    memset(c, 0, sizeof *c);
    snprintf(c->sub, sizeof c->sub, "%s", user_id);
    snprintf(c->tid, sizeof c->tid, "00000000-0000-7000-8000-000000000001");
    snprintf(c->sid, sizeof c->sid, "00000000-0000-7000-8000-0000000000aa");
    snprintf(c->iss, sizeof c->iss, "mentis");
    snprintf(c->aud, sizeof c->aud, "mentis-api");
    c->role = MENTIS_JWT_ROLE_USER;
    c->iat = (int64_t)time(NULL);
    c->exp = c->iat + 600;
}

static void expect_refused(const char *token, const char *code, const char *what)
{
    gt_response_t r;
    REQUIRE(get_as(ports[0], "/api/auth/me", token, NULL, &r) == 0);
    CHECK_MSG(r.status == 401, "%s: %d", what, r.status);
    CHECK_MSG(strcmp(problem_code(&r), code) == 0, "%s: %s", what, problem_code(&r));
}

static void test_bad_tokens_are_refused(void)
{
    setup();
    char good[2048], id[64];
    sign_up("tokens@example.com", good, sizeof good, id, sizeof id);
    char kid[64];
    uint8_t sk[64];
    real_key(kid, sizeof kid, sk);
    mentis_jwt_claims_t c;
    char *t = NULL;

    /* The real key signs a good token: the reference for the refusals below. */
    claims_for(&c, id);
    REQUIRE(mentis_jwt_sign(&c, kid, sk, &t) == MENTIS_OK);
    gt_response_t r;
    REQUIRE(get_as(ports[0], "/api/auth/me", t, NULL, &r) == 0);
    CHECK_INT(r.status, 200);
    free(t);

    /* alg none: the same claims, no signature. */
    char h64[256], c64[1024], none[1400];
    b64("{\"alg\":\"none\",\"typ\":\"JWT\"}", h64, sizeof h64);
    const char *dot = strchr(good, '.');
    const char *dot2 = strchr(dot + 1, '.');
    snprintf(c64, sizeof c64, "%.*s", (int)(dot2 - dot - 1), dot + 1);
    snprintf(none, sizeof none, "%s.%s.", h64, c64);
    expect_refused(none, "token_invalid", "alg none, empty signature");
    snprintf(none, sizeof none, "%s.%s.%s", h64, c64, dot2 + 1);
    expect_refused(none, "token_invalid", "alg none, old signature");
    /* HS256 with the public key as the secret (the classic confusion). */
    b64("{\"alg\":\"HS256\",\"typ\":\"JWT\"}", h64, sizeof h64);
    snprintf(none, sizeof none, "%s.%s.%s", h64, c64, dot2 + 1);
    expect_refused(none, "token_invalid", "alg HS256");
    expect_refused("garbage", "token_invalid", "garbage");
    expect_refused("a.b.c", "token_invalid", "three parts of nothing");

    /* Expired, signed by the real key. */
    claims_for(&c, id);
    c.iat -= 3600;
    c.exp = c.iat + 900;
    REQUIRE(mentis_jwt_sign(&c, kid, sk, &t) == MENTIS_OK);
    expect_refused(t, "token_expired", "expired");
    free(t);
    /* Wrong audience, wrong issuer, a key nobody published, a tampered claim. */
    claims_for(&c, id);
    snprintf(c.aud, sizeof c.aud, "someone-else");
    REQUIRE(mentis_jwt_sign(&c, kid, sk, &t) == MENTIS_OK);
    expect_refused(t, "token_invalid", "audience");
    free(t);
    claims_for(&c, id);
    snprintf(c.iss, sizeof c.iss, "evil");
    REQUIRE(mentis_jwt_sign(&c, kid, sk, &t) == MENTIS_OK);
    expect_refused(t, "token_invalid", "issuer");
    free(t);
    uint8_t pk2[32], sk2[64];
    mentis_crypto_sign_keypair(pk2, sk2);
    claims_for(&c, id);
    REQUIRE(mentis_jwt_sign(&c, kid, sk2, &t) == MENTIS_OK);
    expect_refused(t, "token_invalid", "signed by another key under the real kid");
    free(t);
    REQUIRE(mentis_jwt_sign(&c, "not-published", sk2, &t) == MENTIS_OK);
    expect_refused(t, "token_invalid", "unknown kid");
    free(t);
    char tampered[2048];
    snprintf(tampered, sizeof tampered, "%s", good);
    tampered[(dot - good) + 5] ^= 1;
    expect_refused(tampered, "token_invalid", "a flipped claim byte");
    sodium_memzero(sk, sizeof sk);
}

static void test_revoked_session_is_refused_by_every_replica(void)
{
    setup();
    char body[512];
    snprintf(body, sizeof body, "{\"email\":\"revoke@example.com\",\"password\":\"correct horse "
                                "battery\",\"display_name\":\"R\"}");
    gt_response_t r;
    REQUIRE(http(ports[0], "POST", "/api/auth/register", NULL, body, &r) == 0);
    REQUIRE(r.status == 201);
    char token[2048];
    json_str(&r, "tokens", "access_token", token, sizeof token);
    /* Both replicas have verified (and cached) the token. */
    for (int i = 0; i < 2; i++) {
        REQUIRE(get_as(ports[i], "/api/auth/me", token, NULL, &r) == 0);
        CHECK_INT(r.status, 200);
    }
    char h[4096];
    snprintf(h, sizeof h, "Authorization: Bearer %s\r\n", token);
    REQUIRE(http(ports[0], "POST", "/api/auth/logout", h, "{}", &r) == 0);
    CHECK_INT(r.status, 204);
    long long t0 = h_now_ms();
    bool refused[2] = {false, false};
    long long took[2] = {0, 0};
    while ((!refused[0] || !refused[1]) && h_now_ms() - t0 < 2000) {
        for (int i = 0; i < 2; i++) {
            if (refused[i])
                continue;
            REQUIRE(get_as(ports[i], "/api/auth/me", token, NULL, &r) == 0);
            if (r.status == 401) {
                refused[i] = true;
                took[i] = h_now_ms() - t0;
            }
        }
        h_sleep_ms(20);
    }
    CHECK_MSG(refused[0] && refused[1], "refused by replica 1: %d, replica 2: %d", refused[0],
              refused[1]);
    printf("  revoked session refused after %lld ms (replica 1) and %lld ms (replica 2)\n",
           took[0], took[1]);
    REQUIRE(get_as(ports[1], "/api/auth/me", token, NULL, &r) == 0);
    CHECK_STR(problem_code(&r), "token_invalid");
}

static void test_rate_limit_is_hit_and_recovers(void)
{
    setup();
    char token[2048];
    sign_up("rate@example.com", token, sizeof token, NULL, 0);
    gt_response_t r;
    char v[64];
    int ok = 0, last_remaining = 1000;
    for (int i = 0; i < 40; i++) {
        REQUIRE(get_as(ports[0], "/api/auth/me", token, NULL, &r) == 0);
        if (r.status != 200)
            break;
        ok++;
        CHECK_STR(gt_header(&r, "ratelimit-limit", v, sizeof v), "30");
        CHECK_STR(gt_header(&r, "x-ratelimit-limit", v, sizeof v), "30");
        const char *h = gt_header(&r, "ratelimit-remaining", v, sizeof v);
        int rem = h ? atoi(h) : -1;
        CHECK_MSG(rem < last_remaining, "remaining %d after %d", rem, last_remaining);
        last_remaining = rem;
    }
    /* A new client starts with a full bucket: 30 pass (sign-up's requests were public,
     * counted per address, not against this user). */
    CHECK_INT(ok, 30);
    CHECK_INT(r.status, 429);
    CHECK_STR(problem_code(&r), "rate_limited");
    const char *ra = gt_header(&r, "retry-after", v, sizeof v);
    int retry = ra ? atoi(ra) : 0;
    CHECK_MSG(retry >= 1 && retry <= 2, "Retry-After %d", retry);
    CHECK_STR(gt_header(&r, "ratelimit-remaining", v, sizeof v), "0");
    CHECK(gt_header(&r, "ratelimit-reset", v, sizeof v) != NULL);
    /* The other replica keeps its own buckets; this one recovers after Retry-After. */
    h_sleep_ms(retry * 1000 + 100);
    REQUIRE(get_as(ports[0], "/api/auth/me", token, NULL, &r) == 0);
    CHECK_INT(r.status, 200);
}

static void test_cors(void)
{
    setup();
    gt_response_t r;
    REQUIRE(http(ports[0], "OPTIONS", "/api/auth/me",
                 "Origin: https://app.example\r\nAccess-Control-Request-Method: PATCH\r\n"
                 "Access-Control-Request-Headers: authorization, content-type\r\n",
                 NULL, &r) == 0);
    CHECK_INT(r.status, 204);
    char v[512];
    CHECK_STR(gt_header(&r, "access-control-allow-origin", v, sizeof v), "https://app.example");
    CHECK(gt_header(&r, "access-control-allow-methods", v, sizeof v) && strstr(v, "PATCH"));
    CHECK(gt_header(&r, "access-control-allow-headers", v, sizeof v) &&
          strstr(v, "Authorization") && strstr(v, "Content-Type"));
    CHECK(gt_header(&r, "access-control-max-age", v, sizeof v) != NULL);
    CHECK(gt_header(&r, "access-control-allow-credentials", v, sizeof v) == NULL);
    CHECK_STR(gt_header(&r, "vary", v, sizeof v), "Origin");
    /* Another origin: refused, and never told it may. */
    REQUIRE(http(ports[0], "OPTIONS", "/api/auth/me",
                 "Origin: https://evil.example\r\nAccess-Control-Request-Method: GET\r\n", NULL,
                 &r) == 0);
    CHECK_INT(r.status, 403);
    CHECK_STR(problem_code(&r), "cors_origin_refused");
    CHECK(gt_header(&r, "access-control-allow-origin", v, sizeof v) == NULL);
    /* A simple request from the allowed origin may read its answer, errors included. */
    REQUIRE(http(ports[0], "GET", "/api/auth/me", "Origin: https://app.example\r\n", NULL, &r) ==
            0);
    CHECK_INT(r.status, 401);
    CHECK_STR(gt_header(&r, "access-control-allow-origin", v, sizeof v), "https://app.example");
    CHECK(gt_header(&r, "access-control-expose-headers", v, sizeof v) &&
          strstr(v, "X-Request-Id") && strstr(v, "RateLimit-Remaining"));
    /* No HSTS on plain HTTP from a client. */
    CHECK(gt_header(&r, "strict-transport-security", v, sizeof v) == NULL);
}

static void test_behind_a_proxy(void)
{
    setup();
    gt_response_t r;
    char v[256];
    /* Without the origin secret nothing passes, not even a probe. */
    REQUIRE(http(ports[2], "GET", "/healthz", NULL, NULL, &r) == 0);
    CHECK_INT(r.status, 403);
    CHECK_STR(problem_code(&r), "origin_refused");
    REQUIRE(http(ports[2], "GET", "/healthz", "X-Origin-Secret: wrong-door-secret\r\n", NULL, &r) ==
            0);
    CHECK_INT(r.status, 403);
    REQUIRE(http(ports[2], "GET", "/healthz",
                 "X-Origin-Secret: front-door-secret\r\nX-Forwarded-Proto: https\r\n", NULL,
                 &r) == 0);
    CHECK_INT(r.status, 200);
    CHECK(gt_header(&r, "strict-transport-security", v, sizeof v) != NULL);

    /* Login is limited per client address (3/min here): the address is the proxy's
     * X-Forwarded-For, so two clients behind it have their own buckets. */
    /* Each attempt names another account: mentis-auth's own throttle of failed logins
     * per account must not be what answers here. */
    char body[128];
    for (int i = 0; i < 4; i++) {
        snprintf(body, sizeof body,
                 "{\"email\":\"nobody%d@example.com\",\"password\":\"wrong password\"}", i);
        REQUIRE(http(ports[2], "POST", "/api/auth/login",
                     "X-Origin-Secret: front-door-secret\r\n"
                     "X-Forwarded-For: 203.0.113.7, 127.0.0.1\r\n",
                     body, &r) == 0);
        CHECK_MSG(r.status == (i < 3 ? 401 : 429), "login %d: %d", i, r.status);
    }
    CHECK_STR(problem_code(&r), "rate_limited");
    snprintf(body, sizeof body, "{\"email\":\"nobody9@example.com\",\"password\":\"x\"}");
    REQUIRE(http(ports[2], "POST", "/api/auth/login",
                 "X-Origin-Secret: front-door-secret\r\nCF-Connecting-IP: 198.51.100.9\r\n", body,
                 &r) == 0);
    CHECK_INT(r.status, 401);

    /* A peer that is not a trusted proxy cannot choose its address: gw[0] counts by the
     * connection, whatever X-Forwarded-For says. Its login limit is the default 5/min. */
    int refused_at = -1;
    for (int i = 0; i < 7 && refused_at < 0; i++) {
        char h[128];
        snprintf(h, sizeof h, "X-Forwarded-For: 192.0.2.%d\r\nCF-Connecting-IP: 192.0.2.%d\r\n",
                 i, i);
        snprintf(body, sizeof body,
                 "{\"email\":\"other%d@example.com\",\"password\":\"wrong password\"}", i);
        REQUIRE(http(ports[1], "POST", "/api/auth/login", h, body, &r) == 0);
        if (r.status == 429)
            refused_at = i;
    }
    CHECK_INT(refused_at, 5);
}

static void test_connections_per_address(void)
{
    setup();
    int fds[8];
    for (int i = 0; i < 8; i++) {
        fds[i] = gt_connect(ports[0]);
        REQUIRE(fds[i] >= 0);
    }
    h_sleep_ms(100);
    gt_response_t r;
    int fd = gt_connect(ports[0]);
    REQUIRE(fd >= 0);
    /* The ninth is answered 503 and closed without a request being read. */
    int rc = gt_exchange(fd, "GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n", &r, 3000);
    CHECK(rc == 0 && r.status == 503);
    CHECK_STR(problem_code(&r), "too_many_connections");
    char v[32];
    CHECK_STR(gt_header(&r, "retry-after", v, sizeof v), "1");
    close(fd);
    /* One closes: a new one is served. */
    close(fds[0]);
    h_sleep_ms(200);
    REQUIRE(http(ports[0], "GET", "/healthz", NULL, NULL, &r) == 0);
    CHECK_INT(r.status, 200);
    for (int i = 1; i < 8; i++)
        close(fds[i]);
}

static void test_slow_and_idle_clients_are_cut(void)
{
    setup();
    h_sleep_ms(300); /* the previous test's connections are gone */
    /* A request head trickling in one byte every 400 ms never completes in 2 s. */
    int fd = gt_connect(ports[0]);
    REQUIRE(fd >= 0);
    const char *head = "GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Slow: aaaaaaaaaaaaaaaa";
    long long t0 = h_now_ms();
    bool cut = false;
    for (size_t i = 0; head[i] && h_now_ms() - t0 < 8000; i++) {
        if (send(fd, &head[i], 1, MSG_NOSIGNAL) != 1) {
            cut = true;
            break;
        }
        if (gt_closed(fd, 400)) {
            cut = true;
            break;
        }
    }
    long long took = h_now_ms() - t0;
    CHECK_MSG(cut, "a slow client was not cut off in %lld ms", took);
    CHECK_MSG(took < 4500, "cut after %lld ms (timeout 2 s)", took);
    close(fd);
    /* An idle keep-alive connection is closed after its timeout (3 s here). */
    fd = gt_connect(ports[0]);
    REQUIRE(fd >= 0);
    gt_response_t r;
    REQUIRE(gt_exchange(fd, "GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n", &r, 3000) == 0);
    t0 = h_now_ms();
    CHECK(gt_closed(fd, 6000));
    took = h_now_ms() - t0;
    CHECK_MSG(took >= 2000 && took < 6000, "idle connection closed after %lld ms", took);
    close(fd);
}

static void test_bodies_and_fields(void)
{
    setup();
    gt_response_t r;
    char big[6000];
    memset(big, 'a', sizeof big - 1);
    big[sizeof big - 1] = '\0';
    char body[6200];
    snprintf(body, sizeof body, "{\"email\":\"%s\"}", big);
    REQUIRE(http(ports[0], "POST", "/api/auth/login", NULL, body, &r) == 0);
    CHECK_INT(r.status, 413);
    CHECK_STR(problem_code(&r), "payload_too_large");
    REQUIRE(http(ports[0], "POST", "/api/auth/login", NULL,
                 "{\"email\":\"a@example.com\",\"password\":\"x\",\"passwrod\":\"y\"}", &r) == 0);
    CHECK_INT(r.status, 400);
    CHECK_STR(problem_code(&r), "invalid_argument");
    CHECK(strstr(r.body, "\"field\":\"passwrod\"") != NULL);
}

/* Last: stops mentis-auth. */
static void test_stopped_service_is_503_and_others_stay_fast(void)
{
    setup();
    char token[2048];
    sign_up("last@example.com", token, sizeof token, NULL, 0);
    REQUIRE(h_kill(auth_pid, SIGKILL) == 0);
    h_wait_exit(auth_pid, 5000);
    gt_response_t r;
    long long t0 = h_now_ms();
    REQUIRE(get_as(ports[1], "/api/auth/me", token, NULL, &r) == 0);
    long long took = h_now_ms() - t0;
    CHECK_INT(r.status, 503);
    CHECK_STR(problem_code(&r), "unavailable");
    char v[16];
    CHECK(gt_header(&r, "retry-after", v, sizeof v) != NULL);
    CHECK_MSG(took < 1000, "503 took %lld ms", took);
    t0 = h_now_ms();
    REQUIRE(http(ports[1], "GET", "/healthz", NULL, NULL, &r) == 0);
    CHECK_INT(r.status, 200);
    CHECK_MSG(h_now_ms() - t0 < 200, "healthz took %lld ms", h_now_ms() - t0);
}

/* The access token of the bootstrap admin (a platform admin), through gw[0]. */
static void admin_token(char *token, size_t size)
{
    gt_response_t r;
    REQUIRE(http(ports[0], "POST", "/api/auth/login", NULL,
                 "{\"email\":\"" ADMIN_EMAIL "\",\"password\":\"" ADMIN_PASSWORD "\"}",
                 &r) == 0);
    REQUIRE(r.status == 200);
    json_str(&r, "tokens", "access_token", token, size);
}

static void test_admin_tier(void)
{
    setup();
    char user[2048], admin[2048];
    sign_up("plain@example.com", user, sizeof user, NULL, 0);
    admin_token(admin, sizeof admin);
    gt_response_t r;
    REQUIRE(get_as(ports[0], "/api/admin/users", user, NULL, &r) == 0);
    CHECK_INT(r.status, 403);
    CHECK_STR(problem_code(&r), "permission_denied");
    REQUIRE(http(ports[0], "GET", "/api/admin/users", NULL, NULL, &r) == 0);
    CHECK_INT(r.status, 401);
    REQUIRE(get_as(ports[0], "/api/admin/users", admin, NULL, &r) == 0);
    CHECK_INT(r.status, 200);
    CHECK(strstr(r.body, "plain@example.com") != NULL);
    /* A Cloudflare Access email counts only where that mode is on, through the proxy, and
     * only when allowlisted. */
    REQUIRE(http(ports[0], "GET", "/api/admin/audit",
                 "Cf-Access-Authenticated-User-Email: ops@example.com\r\n", NULL, &r) == 0);
    CHECK_INT(r.status, 401);
    REQUIRE(http(ports[2], "GET", "/api/admin/audit",
                 "X-Origin-Secret: front-door-secret\r\n"
                 "Cf-Access-Authenticated-User-Email: intruder@example.com\r\n",
                 NULL, &r) == 0);
    CHECK_INT(r.status, 401);
    REQUIRE(http(ports[2], "GET", "/api/admin/audit",
                 "X-Origin-Secret: front-door-secret\r\n"
                 "Cf-Access-Authenticated-User-Email: OPS@example.com\r\n",
                 NULL, &r) == 0);
    CHECK_MSG(r.status == 200, "Cloudflare Access admin: %d %s", r.status, r.body);
    /* ... and never on a client route: it names no user. */
    REQUIRE(http(ports[2], "GET", "/api/auth/me",
                 "X-Origin-Secret: front-door-secret\r\n"
                 "Cf-Access-Authenticated-User-Email: ops@example.com\r\n",
                 NULL, &r) == 0);
    CHECK_INT(r.status, 401);
}

static void test_beta_tokens(void)
{
    setup();
    char admin[2048], h[4096];
    admin_token(admin, sizeof admin);
    snprintf(h, sizeof h, "Authorization: Bearer %s\r\n", admin);
    gt_response_t r;
    REQUIRE(http(ports[0], "POST", "/api/admin/beta-tokens", h,
                 "{\"label\":\"tester 1\",\"daily_request_quota\":5}", &r) == 0);
    REQUIRE(r.status == 201);
    char beta[256], id[64], loc[160];
    json_str(&r, "token", NULL, beta, sizeof beta);
    json_str(&r, "id", NULL, id, sizeof id);
    CHECK(strncmp(beta, "mtb_", 4) == 0);
    char want[160];
    snprintf(want, sizeof want, "/api/admin/beta-tokens/%s", id);
    CHECK_STR(gt_header(&r, "location", loc, sizeof loc), want);

    /* A beta token opens client routes. It names no user, so mentis-auth's account
     * routes refuse it themselves (403): the gateway let it through with its identity. */
    REQUIRE(get_as(ports[1], "/api/auth/sessions", beta, NULL, &r) == 0);
    CHECK_MSG(r.status == 403 || r.status == 200, "beta on a client route: %d %s", r.status,
              r.body);
    CHECK(strcmp(problem_code(&r), "unauthenticated") != 0);
    REQUIRE(get_as(ports[1], "/api/auth/session", beta, NULL, &r) == 0);
    CHECK_INT(r.status, 200);
    char who[64];
    json_str(&r, "role", NULL, who, sizeof who);
    CHECK_STR(who, "beta");
    json_str(&r, "principal_id", NULL, who, sizeof who);
    CHECK_STR(who, id);
    /* Never admin routes. */
    REQUIRE(get_as(ports[1], "/api/admin/users", beta, NULL, &r) == 0);
    CHECK_INT(r.status, 403);
    /* An unknown one is refused. */
    REQUIRE(get_as(ports[1], "/api/auth/sessions",
                   "mtb_AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA", NULL,
                   &r) == 0);
    CHECK_INT(r.status, 401);

    /* The daily quota (5): two requests were counted above (the admin route was refused
     * before counting); three more pass, the sixth is refused. */
    int passed = 2;
    for (int i = 0; i < 5; i++) {
        REQUIRE(get_as(ports[1], "/api/auth/sessions", beta, NULL, &r) == 0);
        if (r.status == 429)
            break;
        passed++;
    }
    CHECK_INT(passed, 5);
    CHECK_STR(problem_code(&r), "quota_exceeded");
    char v[32];
    CHECK(gt_header(&r, "retry-after", v, sizeof v) != NULL && atoi(v) > 0);
    /* gw[1] reported its use: mentis-auth counted exactly the five let through. */
    h_sleep_ms(600);
    REQUIRE(http(ports[0], "GET", "/api/admin/beta-tokens", h, NULL, &r) == 0);
    REQUIRE(r.status == 200);
    cJSON *doc = cJSON_Parse(r.body), *item;
    double today = -1;
    cJSON_ArrayForEach(item, cJSON_GetObjectItem(doc, "items"))
    {
        const char *item_id = cJSON_GetStringValue(cJSON_GetObjectItem(item, "id"));
        if (item_id != NULL && strcmp(item_id, id) == 0)
            today = cJSON_GetNumberValue(cJSON_GetObjectItem(item, "requests_today"));
        const char *secret = cJSON_GetStringValue(cJSON_GetObjectItem(item, "token"));
        CHECK(secret == NULL || secret[0] == '\0'); /* never the secret again */
    }
    cJSON_Delete(doc);
    CHECK_MSG(today == 5, "requests_today %g", today);

    /* Another token, revoked: refused by both replicas at once. */
    REQUIRE(http(ports[0], "POST", "/api/admin/beta-tokens", h, "{\"label\":\"tester 2\"}",
                 &r) == 0);
    REQUIRE(r.status == 201);
    json_str(&r, "token", NULL, beta, sizeof beta);
    json_str(&r, "id", NULL, id, sizeof id);
    for (int i = 0; i < 2; i++) {
        REQUIRE(get_as(ports[i], "/api/auth/sessions", beta, NULL, &r) == 0);
        CHECK(r.status != 401);
    }
    char path[160];
    snprintf(path, sizeof path, "/api/admin/beta-tokens/%s", id);
    REQUIRE(http(ports[0], "DELETE", path, h, NULL, &r) == 0);
    CHECK_INT(r.status, 204);
    long long t0 = h_now_ms();
    bool refused[2] = {false, false};
    while ((!refused[0] || !refused[1]) && h_now_ms() - t0 < 2000) {
        for (int i = 0; i < 2; i++) {
            if (!refused[i]) {
                REQUIRE(get_as(ports[i], "/api/auth/sessions", beta, NULL, &r) == 0);
                refused[i] = r.status == 401;
            }
        }
        h_sleep_ms(20);
    }
    CHECK_MSG(refused[0] && refused[1], "revoked beta token refused: %d %d", refused[0],
              refused[1]);
    printf("  revoked beta token refused by both replicas after %lld ms\n", h_now_ms() - t0);
}

/* After test_stopped_service...: a gateway that starts while mentis-auth is down answers
 * client routes 503 (not 401), and learns the keys on demand once auth is back. */
static void test_keys_are_learned_on_demand(void)
{
    setup();
    char kid[64];
    uint8_t sk[64];
    real_key(kid, sizeof kid, sk);
    mentis_jwt_claims_t c;
    claims_for(&c, "00000000-0000-7000-8000-0000000000bb");
    char *t = NULL;
    REQUIRE(mentis_jwt_sign(&c, kid, sk, &t) == MENTIS_OK);
    sodium_memzero(sk, sizeof sk);
    int p = h_free_port(), ap = h_free_port();
    char log[H_PATH_SIZE + 32];
    snprintf(log, sizeof log, "%s/gateway-late.log", dir);
    pid_t gw = gt_start_gateway(nats.url, p, ap, NULL, log);
    REQUIRE(gw > 0);
    gt_response_t r;
    REQUIRE(get_as(p, "/api/auth/me", t, NULL, &r) == 0);
    CHECK_INT(r.status, 503);
    CHECK_STR(problem_code(&r), "unavailable");
    start_auth();
    /* The token verifies as soon as the keys arrive; its user does not exist, so auth
     * answers 404 — what matters is that the gateway let it through. */
    long long t0 = h_now_ms();
    int status = 0;
    while (h_now_ms() - t0 < 5000) {
        REQUIRE(get_as(p, "/api/auth/me", t, NULL, &r) == 0);
        status = r.status;
        if (status != 503)
            break;
        h_sleep_ms(100);
    }
    CHECK_MSG(status != 503 && status != 401, "after auth came back: %d %s", status, r.body);
    free(t);
    REQUIRE(h_kill(gw, SIGTERM) == 0);
    CHECK_INT(h_wait_exit(gw, 5000), 0);
}

TEST_MAIN(test_client_routes_need_a_token, test_jwks_is_passed_through,
          test_forged_identity_headers_are_ignored, test_bad_tokens_are_refused,
          test_revoked_session_is_refused_by_every_replica, test_rate_limit_is_hit_and_recovers,
          test_cors, test_behind_a_proxy, test_connections_per_address,
          test_slow_and_idle_clients_are_cut, test_bodies_and_fields, test_admin_tier,
          test_beta_tokens,
          test_stopped_service_is_503_and_others_stay_fast, test_keys_are_learned_on_demand)
