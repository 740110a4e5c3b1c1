/*
 * Signing-key rotation without downtime: two real mentis-auth replicas on a real
 * nats-server and PostgreSQL, with MENTIS_AUTH_KEY_ROTATION_S=2. A token signed before a
 * rotation still verifies against the key set served afterwards; new tokens from either
 * replica carry the new key; the replicas make one key per period between them; the
 * KeySetChanged event carries the whole set; and the set stays within MENTIS_JWT_MAX_KEYS
 * when keys rotate far faster than tokens expire (rotation waits instead of dropping a key
 * whose tokens are still valid).
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
#include "mentis/jwt.h"
#include "mentis/v1/auth.pb-c.h"

#define REPLICAS   2
#define ROTATION_S 2
#define ACCESS_S   60 /* the shortest access-token lifetime mentis-auth accepts */
#define EMAIL      "rotor@example.org"
#define PASSWORD   "keys-turn-over-2"

static h_nats_t nats;
static h_pg_t pg;
static mentis_bus_t *bus;
static pid_t auth_pids[REPLICAS];
static mentis_bus_sub_t *keys_sub;
static char logs[REPLICAS][H_PATH_SIZE + 16];
static char first_token[2048]; /* signed by the first key, before any rotation */
static char first_kid[64];

static const mentis_jwt_policy_t policy = {
    .issuer = "mentis", .audience = "mentis-api", .leeway_s = 5, .max_lifetime_s = 3600};

/* REQUIRE for helpers that return a value: the whole run stops. */
#define MUST(cond)                                                                                 \
    do {                                                                                           \
        if (!(cond)) {                                                                             \
            fprintf(stderr, "%s:%d: MUST failed: %s\n", __FILE__, __LINE__, #cond);                \
            abort();                                                                               \
        }                                                                                          \
    } while (0)

/* ---- events ---------------------------------------------------------------------------- */

/* The KeySetChanged events received, kids joined by ',' in their order. */
#define MAX_EVENTS 64
static struct {
    pthread_mutex_t lock;
    int n;
    char kids[MAX_EVENTS][MENTIS_JWT_MAX_KEYS * 20];
    size_t n_keys[MAX_EVENTS];
} events = {.lock = PTHREAD_MUTEX_INITIALIZER};

static void on_keys(void *arg, mentis_msg_t *msg)
{
    (void)arg;
    Mentis__V1__Auth__KeySetChanged *ev =
        mentis__v1__auth__key_set_changed__unpack(NULL, mentis_msg_len(msg), mentis_msg_data(msg));
    pthread_mutex_lock(&events.lock);
    if (ev != NULL && events.n < MAX_EVENTS) {
        char *out = events.kids[events.n];
        out[0] = '\0';
        for (size_t i = 0; i < ev->n_keys; i++) {
            size_t len = strlen(out);
            snprintf(out + len, sizeof events.kids[0] - len, "%s%s", i ? "," : "",
                     ev->keys[i]->kid);
        }
        events.n_keys[events.n++] = ev->n_keys;
    }
    pthread_mutex_unlock(&events.lock);
    if (ev)
        mentis__v1__auth__key_set_changed__free_unpacked(ev, NULL);
    mentis_msg_destroy(msg);
}

/* ---- calls ----------------------------------------------------------------------------- */

static mentis_msg_t *call(const char *op, const ProtobufCMessage *req)
{
    char subject[128];
    snprintf(subject, sizeof subject, "mentis.v1.auth.%s", op);
    uint8_t buf[1024];
    size_t n = protobuf_c_message_pack(req, buf);
    mentis_msg_t *reply = NULL;
    MUST(mentis_bus_request_sync(bus, subject, NULL, 0, buf, n, 10000, &reply) == MENTIS_OK);
    const char *code = NULL;
    if (mentis_msg_error(reply, &code, NULL) != MENTIS_OK) {
        fprintf(stderr, "%s: %s\n", op, code ? code : "?");
        MUST(!"call failed");
    }
    return reply;
}

/* Logs in and copies the access token into out. */
static void login(char *out, size_t size)
{
    Mentis__V1__Auth__LoginRequest r;
    mentis__v1__auth__login_request__init(&r);
    r.email = (char *)(uintptr_t)EMAIL;
    r.password = (char *)(uintptr_t)PASSWORD;
    mentis_msg_t *reply = call("login", &r.base);
    Mentis__V1__Auth__LoginResponse *resp = mentis__v1__auth__login_response__unpack(
        NULL, mentis_msg_len(reply), mentis_msg_data(reply));
    REQUIRE(resp != NULL && resp->tokens != NULL);
    snprintf(out, size, "%s", resp->tokens->access_token);
    mentis__v1__auth__login_response__free_unpacked(resp, NULL);
    mentis_msg_destroy(reply);
}

/* The key set `keys` answers, as the gateway reads it (a JWKS document through libs/jwt);
 * kids gets its kids joined by ','. */
static mentis_jwt_keyset_t *jwks(char *kids, size_t size)
{
    Mentis__V1__Auth__JwksRequest kr;
    mentis__v1__auth__jwks_request__init(&kr);
    mentis_msg_t *reply = call("keys", &kr.base);
    Mentis__V1__Auth__JwksResponse *r = mentis__v1__auth__jwks_response__unpack(
        NULL, mentis_msg_len(reply), mentis_msg_data(reply));
    MUST(r != NULL);
    char json[8192];
    size_t len = (size_t)snprintf(json, sizeof json, "{\"keys\":[");
    kids[0] = '\0';
    for (size_t i = 0; i < r->n_keys; i++) {
        Mentis__V1__Auth__Jwk *k = r->keys[i];
        len += (size_t)snprintf(json + len, sizeof json - len,
                                "%s{\"kty\":\"%s\",\"crv\":\"%s\",\"x\":\"%s\",\"kid\":\"%s\","
                                "\"use\":\"%s\",\"alg\":\"%s\"}",
                                i ? "," : "", k->kty, k->crv, k->x, k->kid, k->use, k->alg);
        size_t kl = strlen(kids);
        snprintf(kids + kl, size - kl, "%s%s", i ? "," : "", k->kid);
    }
    snprintf(json + len, sizeof json - len, "]}");
    mentis__v1__auth__jwks_response__free_unpacked(r, NULL);
    mentis_msg_destroy(reply);
    mentis_jwt_keyset_t *set = NULL;
    MUST(mentis_jwt_keyset_parse(json, strlen(json), &set) == MENTIS_OK);
    return set;
}

/* The kid in a token's header. */
static void token_kid(const char *token, char kid[64])
{
    const char *dot = strchr(token, '.');
    REQUIRE(dot != NULL);
    uint8_t header[512];
    size_t n = 0;
    REQUIRE(mentis_crypto_base64url_decode(token, (size_t)(dot - token), header, sizeof header - 1,
                                           &n) == MENTIS_OK);
    header[n] = '\0';
    const char *k = strstr((const char *)header, "\"kid\":\"");
    REQUIRE(k != NULL);
    k += 7;
    const char *end = strchr(k, '"');
    REQUIRE(end != NULL && end - k < 64);
    memcpy(kid, k, (size_t)(end - k));
    kid[end - k] = '\0';
}

static int verify(const char *token, const mentis_jwt_keyset_t *set, mentis_jwt_claims_t *claims)
{
    return mentis_jwt_verify(token, strlen(token), set, &policy, h_now_ms() / 1000, claims);
}

static long query_long(const char *sql)
{
    char out[64];
    MUST(h_pg_query(&pg, sql, out, sizeof out) == 0);
    return strtol(out, NULL, 10);
}

/* How many lines of a replica's log hold `what`. */
static int log_count(int replica, const char *what)
{
    FILE *f = fopen(logs[replica], "r");
    if (f == NULL)
        return 0;
    char line[2048];
    int n = 0;
    while (fgets(line, sizeof line, f) != NULL)
        if (strstr(line, what) != NULL)
            n++;
    fclose(f);
    return n;
}

/* ---- setup ----------------------------------------------------------------------------- */

static void setup(void)
{
    static bool done;
    if (done)
        return;
    done = true;
    REQUIRE(mentis_crypto_init() == MENTIS_OK);
    REQUIRE(h_nats_start(&nats) == 0 && h_pg_start(&pg) == 0);
    mentis_bus_options_t o = {.url = nats.url, .name = "test-auth-keys"};
    REQUIRE(mentis_bus_connect(&o, &bus) == MENTIS_OK &&
            mentis_bus_wait_connected(bus, 5000) == MENTIS_OK);
    /* Before the replicas start: the event of the very first key is seen too. */
    REQUIRE(mentis_bus_subscribe(bus, "mentis.v1.evt.auth.keys", NULL, on_keys, NULL, &keys_sub) ==
            MENTIS_OK);
    char dir[H_PATH_SIZE];
    REQUIRE(h_tmpdir("auth-keys", dir, sizeof dir) == 0);
    static char env_nats[128], env_db[512], env_admin[REPLICAS][64];
    int ports[REPLICAS];
    char url[400];
    h_pg_url(&pg, "auth", url, sizeof url);
    snprintf(env_nats, sizeof env_nats, "MENTIS_NATS_URL=%s", nats.url);
    snprintf(env_db, sizeof env_db, "MENTIS_DATABASE_URL=%s", url);
    char path[600];
    snprintf(path, sizeof path, "%s/services/auth/mentis-auth", getenv("MENTIS_BUILD_DIR"));
    /* The first replica makes the first key alone, so a token from it can be taken before
     * the second replica (and the first rotation) comes. */
    for (int i = 0; i < REPLICAS; i++) {
        ports[i] = h_free_port();
        snprintf(env_admin[i], sizeof env_admin[i], "MENTIS_ADMIN_PORT=%d", ports[i]);
        const char *env[] = {env_nats,
                             env_admin[i],
                             env_db,
                             "MENTIS_AUTH_KEY_ROTATION_S=2",
                             "MENTIS_AUTH_ACCESS_TTL_S=60",
                             "MENTIS_AUTH_ARGON2_OPSLIMIT=2",
                             "MENTIS_AUTH_ARGON2_MEMLIMIT=19922944",
                             "MENTIS_AUTH_KEY_ENCRYPTION_KEY="
                             "000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f",
                             "MENTIS_WORKERS=2",
                             NULL};
        snprintf(logs[i], sizeof logs[i], "%s/auth-%d.log", dir, i);
        const char *argv[] = {path, NULL};
        auth_pids[i] = h_spawn(argv, env, logs[i]);
        REQUIRE(auth_pids[i] > 0);
        REQUIRE(h_wait_http(ports[i], "/readyz", 200, 30000) == 0);
        if (i == 0) {
            Mentis__V1__Auth__RegisterRequest r;
            mentis__v1__auth__register_request__init(&r);
            r.email = (char *)(uintptr_t)EMAIL;
            r.password = (char *)(uintptr_t)PASSWORD;
            r.display_name = (char *)(uintptr_t) "Rotor";
            mentis_msg_destroy(call("register", &r.base));
            login(first_token, sizeof first_token);
            token_kid(first_token, first_kid);
        }
    }
}

/* ---- tests ----------------------------------------------------------------------------- */

/* The first key made at start is announced with its KeySetChanged. */
static void test_first_key(void)
{
    setup();
    char sql[256], first[64];
    snprintf(sql, sizeof sql, "SELECT count(*) FROM auth.signing_keys WHERE kid = '%s'", first_kid);
    CHECK_INT(query_long(sql), 1);
    REQUIRE(h_pg_query(&pg, "SELECT kid FROM auth.signing_keys ORDER BY created_at LIMIT 1", first,
                       sizeof first) == 0);
    long long until = h_now_ms() + 5000;
    int n = 0;
    while (h_now_ms() < until) {
        pthread_mutex_lock(&events.lock);
        n = events.n;
        pthread_mutex_unlock(&events.lock);
        if (n > 0)
            break;
        h_sleep_ms(50);
    }
    REQUIRE(n > 0);
    pthread_mutex_lock(&events.lock);
    CHECK_STR(events.kids[0], first);
    pthread_mutex_unlock(&events.lock);
}

/* After the first rotation the old token still verifies against what `keys` serves, and
 * the first key is served as retired, after the new active key. */
static void test_old_token_verifies_after_rotation(void)
{
    setup();
    char kids[1024];
    long long until = h_now_ms() + 10000;
    mentis_jwt_keyset_t *set = NULL;
    for (;;) {
        set = jwks(kids, sizeof kids);
        if (strncmp(kids, first_kid, strlen(first_kid)) != 0)
            break; /* the active key (served first) is no longer the first one */
        mentis_jwt_keyset_release(set);
        REQUIRE(h_now_ms() < until);
        h_sleep_ms(200);
    }
    CHECK(mentis_jwt_keyset_size(set) >= 2);
    CHECK(mentis_jwt_keyset_find(set, first_kid) != NULL);
    mentis_jwt_claims_t claims;
    CHECK_INT(verify(first_token, set, &claims), MENTIS_OK);
    CHECK_STR(claims.email, EMAIL);
    mentis_jwt_keyset_release(set);
    char sql[256];
    snprintf(sql, sizeof sql,
             "SELECT count(*) FROM auth.signing_keys WHERE kid = '%s' AND retired_at IS NOT NULL",
             first_kid);
    CHECK_INT(query_long(sql), 1);
}

/*
 * New tokens, from whichever replica answers, carry a key that was active when they were
 * signed (a replica may lag one look, half a second here, behind a rotation made by the
 * other) and verify against the served set.
 */
static void test_new_tokens_carry_new_key(void)
{
    setup();
    /* Two looks after the first rotation was seen: no replica signs with the first key. */
    h_sleep_ms(1000);
    for (int i = 0; i < 16; i++) {
        char token[2048], kid[64], kids[1024], sql[512];
        login(token, sizeof token);
        token_kid(token, kid);
        CHECK(strcmp(kid, first_kid) != 0);
        mentis_jwt_keyset_t *set = jwks(kids, sizeof kids);
        mentis_jwt_claims_t claims;
        CHECK_INT(verify(token, set, &claims), MENTIS_OK);
        mentis_jwt_keyset_release(set);
        snprintf(
            sql, sizeof sql,
            "SELECT count(*) FROM auth.signing_keys WHERE kid = '%s' AND created_at < "
            "to_timestamp(%lld + 1) AND (retired_at IS NULL OR retired_at > to_timestamp(%lld) "
            "- interval '2 seconds')",
            kid, (long long)claims.iat, (long long)claims.iat);
        CHECK_INT(query_long(sql), 1);
        h_sleep_ms(150);
    }
    /* Both replicas took part: each rotation was made by one and picked up by the other. */
    int here = 0, followed = 0;
    for (int i = 0; i < REPLICAS; i++) {
        here += log_count(i, "(rotated here)");
        followed += log_count(i, "(rotated by another replica)");
    }
    CHECK(here >= 1);
    CHECK(followed >= 1);
}

/* Two replicas, one key per period: consecutive keys are at least a period apart, and
 * exactly one is active. */
static void test_one_key_per_period(void)
{
    setup();
    h_sleep_ms(3 * ROTATION_S * 1000);
    CHECK(query_long("SELECT count(*) FROM auth.signing_keys") >= 4);
    CHECK_INT(query_long("SELECT count(*) FROM auth.signing_keys WHERE retired_at IS NULL"), 1);
    CHECK_INT(query_long("SELECT count(*) FROM (SELECT created_at - lag(created_at) OVER "
                         "(ORDER BY created_at) AS gap FROM auth.signing_keys) g "
                         "WHERE gap < interval '2 seconds'"),
              0);
    /* Each retired key was retired by its successor's rotation, not by a second one. */
    CHECK_INT(query_long("SELECT count(*) FROM (SELECT retired_at, lead(created_at) OVER "
                         "(ORDER BY created_at) AS next FROM auth.signing_keys) g "
                         "WHERE retired_at IS NOT NULL AND (next IS NULL OR "
                         "abs(extract(epoch FROM next - retired_at)) > 0.5)"),
              0);
}

/* Every KeySetChanged holds the whole set as it was then: its active key first and every
 * older key (none has left the window during this test). */
static void test_events_carry_full_set(void)
{
    setup();
    pthread_mutex_lock(&events.lock);
    int n = events.n;
    pthread_mutex_unlock(&events.lock);
    CHECK(n >= 4);
    for (int i = 0; i < n; i++) {
        char kids[MENTIS_JWT_MAX_KEYS * 20], active[64], sql[512];
        pthread_mutex_lock(&events.lock);
        snprintf(kids, sizeof kids, "%s", events.kids[i]);
        size_t n_keys = events.n_keys[i];
        pthread_mutex_unlock(&events.lock);
        const char *comma = strchr(kids, ',');
        size_t len = comma ? (size_t)(comma - kids) : strlen(kids);
        REQUIRE(len < sizeof active);
        memcpy(active, kids, len);
        active[len] = '\0';
        snprintf(sql, sizeof sql,
                 "SELECT string_agg(kid, ',' ORDER BY created_at DESC) FROM auth.signing_keys "
                 "WHERE created_at <= (SELECT created_at FROM auth.signing_keys WHERE kid = '%s')",
                 active);
        char want[MENTIS_JWT_MAX_KEYS * 20];
        REQUIRE(h_pg_query(&pg, sql, want, sizeof want) == 0);
        CHECK_STR(kids, want);
        CHECK(n_keys >= 1 && n_keys <= MENTIS_JWT_MAX_KEYS);
    }
}

/*
 * Rotating every 2 s with 60 s tokens would put 31 keys in the window: rotation waits at
 * MENTIS_JWT_MAX_KEYS, so the served set stays within the cap and still holds the first
 * key, whose token is still valid.
 */
static void test_key_set_bounded(void)
{
    setup();
    long long until = h_now_ms() + 45000;
    while (query_long("SELECT count(*) FROM auth.signing_keys") < MENTIS_JWT_MAX_KEYS) {
        REQUIRE(h_now_ms() < until);
        h_sleep_ms(500);
    }
    /* A few more periods: nothing more is made. */
    h_sleep_ms(3 * ROTATION_S * 1000);
    CHECK_INT(query_long("SELECT count(*) FROM auth.signing_keys"), MENTIS_JWT_MAX_KEYS);
    char kids[2048];
    mentis_jwt_keyset_t *set = jwks(kids, sizeof kids);
    CHECK_INT((long long)mentis_jwt_keyset_size(set), MENTIS_JWT_MAX_KEYS);
    CHECK(mentis_jwt_keyset_find(set, first_kid) != NULL);
    mentis_jwt_claims_t claims;
    CHECK_INT(verify(first_token, set, &claims), MENTIS_OK);
    mentis_jwt_keyset_release(set);
    CHECK(log_count(0, "signing key rotation waits") + log_count(1, "signing key rotation waits") >=
          1);
    /* Logins go on, with the newest key. */
    char token[2048], kid[64], active[64];
    login(token, sizeof token);
    token_kid(token, kid);
    REQUIRE(h_pg_query(&pg, "SELECT kid FROM auth.signing_keys WHERE retired_at IS NULL", active,
                       sizeof active) == 0);
    CHECK_STR(kid, active);
}

/* SIGTERM: the rotation thread stops promptly and both replicas exit 0 (under the
 * sanitizers: nothing leaked). */
static void test_clean_shutdown(void)
{
    setup();
    for (int i = 0; i < REPLICAS; i++)
        REQUIRE(h_kill(auth_pids[i], SIGTERM) == 0);
    for (int i = 0; i < REPLICAS; i++)
        CHECK_INT(h_wait_exit(auth_pids[i], 15000), 0);
    mentis_bus_unsubscribe(keys_sub, false, 0);
    keys_sub = NULL;
}

TEST_MAIN(test_first_key, test_old_token_verifies_after_rotation, test_new_tokens_carry_new_key,
          test_one_key_per_period, test_events_carry_full_set, test_key_set_bounded,
          test_clean_shutdown)
