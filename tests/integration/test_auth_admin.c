/*
 * mentis-auth's administration, two real replicas on a real nats-server and PostgreSQL,
 * driven over NATS with the identity headers the gateway sends: the bootstrap admin
 * (created once by replicas starting together), beta tokens (issue, check, usage reports
 * counted once, revoke and its event, expiry), users (create, role, disable, unlock,
 * delete, the sessions they end), tenants for platform admins, the audit log, pagination,
 * every refusal (non-admins, admins acting on platform admins or themselves, other
 * tenants' ids) and Row-Level Security on the new tables.
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
#include "mentis/v1/auth.pb-c.h"
#include "mentis/v1/auth_admin.pb-c.h"
#include "mentis/v1/gateway.pb-c.h"

#define DEFAULT_TENANT "00000000-0000-7000-8000-000000000001"
#define ROOT_EMAIL     "root@example.org"
#define ROOT_PASSWORD  "bootstrap-secret-1"
#define REPLICAS       2

static h_nats_t nats;
static h_pg_t pg;
static mentis_bus_t *bus;
static pid_t auth_pids[REPLICAS];
static char root_id[37];
static char tenant_b[37]; /* made by test_tenants, used by the cross-tenant test */
static char tenant_b_admin[37];

static void setup(void)
{
    static bool done;
    if (done)
        return;
    done = true;
    REQUIRE(mentis_crypto_init() == MENTIS_OK);
    REQUIRE(h_nats_start(&nats) == 0 && h_pg_start(&pg) == 0);
    char dir[H_PATH_SIZE];
    REQUIRE(h_tmpdir("auth-admin", dir, sizeof dir) == 0);
    REQUIRE(h_write_file(dir, "root.password", ROOT_PASSWORD) == 0);
    static char env_nats[128], env_db[512], env_pw[H_PATH_SIZE + 64];
    static char env_admin[REPLICAS][64];
    int ports[REPLICAS];
    char url[400];
    h_pg_url(&pg, "auth", url, sizeof url);
    snprintf(env_nats, sizeof env_nats, "MENTIS_NATS_URL=%s", nats.url);
    snprintf(env_db, sizeof env_db, "MENTIS_DATABASE_URL=%s", url);
    /* The password through _FILE, as a deployment would give a secret. */
    snprintf(env_pw, sizeof env_pw, "MENTIS_AUTH_BOOTSTRAP_ADMIN_PASSWORD_FILE=%s/root.password",
             dir);
    char path[600];
    snprintf(path, sizeof path, "%s/services/auth/mentis-auth", getenv("MENTIS_BUILD_DIR"));
    /* Two replicas start at the same moment: the bootstrap admin must still be made once. */
    for (int i = 0; i < REPLICAS; i++) {
        ports[i] = h_free_port();
        snprintf(env_admin[i], sizeof env_admin[i], "MENTIS_ADMIN_PORT=%d", ports[i]);
        const char *env[] = {env_nats,
                             env_admin[i],
                             env_db,
                             env_pw,
                             "MENTIS_AUTH_BOOTSTRAP_ADMIN_EMAIL=" ROOT_EMAIL,
                             "MENTIS_AUTH_ARGON2_OPSLIMIT=2",
                             "MENTIS_AUTH_ARGON2_MEMLIMIT=19922944",
                             "MENTIS_AUTH_KEY_ENCRYPTION_KEY="
                             "000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f",
                             "MENTIS_WORKERS=2",
                             NULL};
        char log[600];
        snprintf(log, sizeof log, "%s/auth-%d.log", dir, i);
        const char *argv[] = {path, NULL};
        auth_pids[i] = h_spawn(argv, env, log);
        REQUIRE(auth_pids[i] > 0);
    }
    for (int i = 0; i < REPLICAS; i++)
        REQUIRE(h_wait_http(ports[i], "/readyz", 200, 30000) == 0);
    mentis_bus_options_t o = {.url = nats.url, .name = "test-auth-admin"};
    REQUIRE(mentis_bus_connect(&o, &bus) == MENTIS_OK &&
            mentis_bus_wait_connected(bus, 5000) == MENTIS_OK);
    REQUIRE(h_pg_query(&pg, "SELECT id FROM auth.users WHERE email = '" ROOT_EMAIL "'", root_id,
                       sizeof root_id) == 0);
}

/* ---- calls --------------------------------------------------------------------------- */

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

/* Who calls: the headers the gateway would send. principal and email may be NULL. */
typedef struct {
    const char *tenant, *principal, *role, *email;
} who_t;

static call_t rpc(const char *op, const who_t *who, const ProtobufCMessage *req,
                  const ProtobufCMessageDescriptor *resp_desc)
{
    call_t c = {0};
    char subject[128];
    snprintf(subject, sizeof subject, "mentis.v1.auth.%s", op);
    mentis_header_t h[6];
    size_t nh = 0;
    if (who != NULL) {
        if (who->tenant)
            h[nh++] = (mentis_header_t){MENTIS_HDR_TENANT, who->tenant};
        if (who->principal)
            h[nh++] = (mentis_header_t){MENTIS_HDR_PRINCIPAL, who->principal};
        if (who->role)
            h[nh++] = (mentis_header_t){MENTIS_HDR_ROLES, who->role};
        if (who->email)
            h[nh++] = (mentis_header_t){"Mentis-Email", who->email};
        h[nh++] = (mentis_header_t){"Mentis-Client-Ip", "198.51.100.4"};
    }
    size_t n = protobuf_c_message_get_packed_size(req);
    uint8_t *buf = malloc(n ? n : 1);
    protobuf_c_message_pack(req, buf);
    c.st = mentis_bus_request_sync(bus, subject, h, nh, buf, n, 10000, &c.reply);
    free(buf);
    if (c.st != MENTIS_OK) {
        c.code = "no reply";
        return c;
    }
    c.st = mentis_msg_error(c.reply, &c.code, NULL);
    if (c.st == MENTIS_OK && resp_desc != NULL)
        c.resp = protobuf_c_message_unpack(resp_desc, NULL, mentis_msg_len(c.reply),
                                           mentis_msg_data(c.reply));
    return c;
}

#define S(x) ((char *)(uintptr_t)(x))

static const who_t root = {DEFAULT_TENANT, root_id, "platform_admin", ROOT_EMAIL};

static call_t create_user(const who_t *who, const char *email, const char *password,
                          Mentis__V1__Auth__Role role)
{
    Mentis__V1__Auth__CreateUserRequest r;
    mentis__v1__auth__create_user_request__init(&r);
    r.email = S(email);
    r.password = S(password);
    r.display_name = S("Someone");
    r.role = role;
    return rpc("admin.users.create", who, &r.base, &mentis__v1__auth__admin_user__descriptor);
}

static call_t create_token(const who_t *who, const char *label, long long expires_s)
{
    Mentis__V1__Auth__CreateBetaTokenRequest r;
    Mentis__V1__Timestamp t;
    mentis__v1__auth__create_beta_token_request__init(&r);
    mentis__v1__timestamp__init(&t);
    r.label = S(label);
    r.rate_limit_per_minute = 30;
    r.daily_request_quota = 1000;
    r.daily_tts_char_quota = 50000;
    if (expires_s != 0) {
        t.seconds = expires_s;
        r.expires_at = &t;
    }
    return rpc("admin.beta_tokens.create", who, &r.base, &mentis__v1__auth__beta_token__descriptor);
}

static call_t beta_check(const char *token)
{
    Mentis__V1__Auth__BetaCheckRequest r;
    mentis__v1__auth__beta_check_request__init(&r);
    r.token = S(token);
    return rpc("beta.check", NULL, &r.base, &mentis__v1__auth__beta_check_response__descriptor);
}

static call_t revoke_token(const who_t *who, const char *id)
{
    Mentis__V1__Auth__RevokeBetaTokenRequest r;
    mentis__v1__auth__revoke_beta_token_request__init(&r);
    r.id = S(id);
    return rpc("admin.beta_tokens.revoke", who, &r.base,
               &mentis__v1__auth__revoke_beta_token_response__descriptor);
}

static call_t update_user(const who_t *who, const Mentis__V1__Auth__UpdateUserRequest *r)
{
    return rpc("admin.users.update", who, &r->base, &mentis__v1__auth__admin_user__descriptor);
}

static call_t delete_user(const who_t *who, const char *id)
{
    Mentis__V1__Auth__DeleteUserRequest r;
    mentis__v1__auth__delete_user_request__init(&r);
    r.id = S(id);
    return rpc("admin.users.delete", who, &r.base,
               &mentis__v1__auth__delete_user_response__descriptor);
}

static call_t login(const char *tenant, const char *email, const char *password)
{
    Mentis__V1__Auth__LoginRequest r;
    mentis__v1__auth__login_request__init(&r);
    r.email = S(email);
    r.password = S(password);
    who_t who = {tenant, NULL, NULL, NULL};
    return rpc("login", &who, &r.base, &mentis__v1__auth__login_response__descriptor);
}

static long long count(const char *sql)
{
    char out[64];
    if (h_pg_query(&pg, sql, out, sizeof out) != 0)
        return -1;
    return strtoll(out, NULL, 10);
}

/* ---- events -------------------------------------------------------------------------- */

static pthread_mutex_t ev_mu = PTHREAD_MUTEX_INITIALIZER;
static int beta_revoked_events;
static char beta_revoked_last[37];
static int session_revoked_events;
static char session_revoked_reason[64], session_revoked_user[37];
static bool session_revoked_all;

static void on_beta_revoked(void *arg, mentis_msg_t *msg)
{
    (void)arg;
    Mentis__V1__Auth__BetaTokenRevoked *ev = mentis__v1__auth__beta_token_revoked__unpack(
        NULL, mentis_msg_len(msg), mentis_msg_data(msg));
    pthread_mutex_lock(&ev_mu);
    if (ev != NULL && ev->revoked_at != NULL && ev->revoked_at->seconds > 0) {
        beta_revoked_events++;
        snprintf(beta_revoked_last, sizeof beta_revoked_last, "%s", ev->token_id);
    }
    pthread_mutex_unlock(&ev_mu);
    if (ev)
        mentis__v1__auth__beta_token_revoked__free_unpacked(ev, NULL);
    mentis_msg_destroy(msg);
}

static void on_session_revoked(void *arg, mentis_msg_t *msg)
{
    (void)arg;
    Mentis__V1__Auth__SessionRevoked *ev =
        mentis__v1__auth__session_revoked__unpack(NULL, mentis_msg_len(msg), mentis_msg_data(msg));
    pthread_mutex_lock(&ev_mu);
    if (ev != NULL) {
        session_revoked_events++;
        snprintf(session_revoked_reason, sizeof session_revoked_reason, "%s", ev->reason);
        snprintf(session_revoked_user, sizeof session_revoked_user, "%s", ev->user_id);
        session_revoked_all = ev->all_sessions;
    }
    pthread_mutex_unlock(&ev_mu);
    if (ev)
        mentis__v1__auth__session_revoked__free_unpacked(ev, NULL);
    mentis_msg_destroy(msg);
}

static int events_now(int *counter)
{
    pthread_mutex_lock(&ev_mu);
    int n = *counter;
    pthread_mutex_unlock(&ev_mu);
    return n;
}

/* Waits up to 2 s for *counter to reach want. */
static int wait_events(int *counter, int want)
{
    for (int i = 0; i < 100 && events_now(counter) < want; i++)
        h_sleep_ms(20);
    return events_now(counter);
}

/* ---- cases --------------------------------------------------------------------------- */

static void test_bootstrap_admin_once(void)
{
    setup();
    CHECK_INT(count("SELECT count(*) FROM auth.users WHERE email = '" ROOT_EMAIL
                    "' AND role = 'platform_admin' AND tenant_id = '" DEFAULT_TENANT "'"),
              1);
    CHECK_INT(count("SELECT count(*) FROM auth.users"), 1);
    CHECK_INT(count("SELECT count(*) FROM auth.audit_log WHERE event = 'user_created'"), 1);
    /* The password is the configured one: the admin can sign in. */
    call_t c = login(NULL, ROOT_EMAIL, ROOT_PASSWORD);
    REQUIRE(c.st == MENTIS_OK && c.resp != NULL);
    Mentis__V1__Auth__LoginResponse *r = (Mentis__V1__Auth__LoginResponse *)c.resp;
    CHECK_INT(r->user->role, MENTIS__V1__AUTH__ROLE__ROLE_PLATFORM_ADMIN);
    CHECK(r->user->email_verified);
    call_free(&c);
}

/* The usage subscription is a consumer, not an endpoint: $SRV.INFO lists the operations only. */
static void test_service_info(void)
{
    setup();
    mentis_msg_t *reply = NULL;
    REQUIRE(mentis_bus_request_sync(bus, "$SRV.INFO.auth", NULL, 0, NULL, 0, 2000, &reply) ==
            MENTIS_OK);
    char *info = strndup(mentis_msg_data(reply), mentis_msg_len(reply));
    REQUIRE(info != NULL);
    CHECK_MSG(strstr(info, "mentis.v1.auth.admin.users.list") != NULL, "%s", info);
    CHECK_MSG(strstr(info, "mentis.v1.auth.beta.check") != NULL, "%s", info);
    CHECK_MSG(strstr(info, "beta_usage") == NULL, "%s", info);
    free(info);
    mentis_msg_destroy(reply);
}

static void test_refusals_for_non_admins(void)
{
    setup();
    const who_t user = {DEFAULT_TENANT, root_id, "user", ROOT_EMAIL};
    const who_t beta = {DEFAULT_TENANT, "0190a000-0000-7000-8000-00000000b001", "beta", NULL};
    const who_t admin = {DEFAULT_TENANT, root_id, "admin", ROOT_EMAIL};
    const who_t none = {DEFAULT_TENANT, root_id, NULL, ROOT_EMAIL};
    const who_t *refused[] = {&user, &beta, &none};
    Mentis__V1__Auth__ListUsersRequest lu;
    Mentis__V1__Auth__ListBetaTokensRequest lb;
    Mentis__V1__Auth__ListAuditRequest la;
    Mentis__V1__Auth__ListTenantsRequest lt;
    Mentis__V1__Auth__CreateTenantRequest ct;
    Mentis__V1__Auth__UpdateUserRequest uu;
    mentis__v1__auth__list_users_request__init(&lu);
    mentis__v1__auth__list_beta_tokens_request__init(&lb);
    mentis__v1__auth__list_audit_request__init(&la);
    mentis__v1__auth__list_tenants_request__init(&lt);
    mentis__v1__auth__create_tenant_request__init(&ct);
    mentis__v1__auth__update_user_request__init(&uu);
    ct.slug = S("nope");
    ct.name = S("Nope");
    uu.id = S(root_id);
    uu.role = MENTIS__V1__AUTH__ROLE__ROLE_USER;
    for (size_t i = 0; i < sizeof refused / sizeof refused[0]; i++) {
        const who_t *w = refused[i];
        call_t calls[] = {
            rpc("admin.users.list", w, &lu.base, NULL),
            rpc("admin.beta_tokens.list", w, &lb.base, NULL),
            rpc("admin.audit.list", w, &la.base, NULL),
            rpc("admin.tenants.list", w, &lt.base, NULL),
            rpc("admin.tenants.create", w, &ct.base, NULL),
            update_user(w, &uu),
            delete_user(w, root_id),
            create_user(w, "x@example.org", "long enough password", 0),
            create_token(w, "x", 0),
            revoke_token(w, root_id),
        };
        for (size_t k = 0; k < sizeof calls / sizeof calls[0]; k++) {
            CHECK_MSG(calls[k].st == MENTIS_ERR_PERMISSION_DENIED, "caller %zu call %zu: %s", i, k,
                      calls[k].code);
            CHECK_STR(calls[k].code, "permission_denied");
            CHECK_STR(mentis_msg_header(calls[k].reply, MENTIS_HDR_SVC_ERROR_CODE), "403");
            call_free(&calls[k]);
        }
    }
    /* Tenants: platform admins only, not admins. */
    call_t c = rpc("admin.tenants.list", &admin, &lt.base, NULL);
    CHECK_INT(c.st, MENTIS_ERR_PERMISSION_DENIED);
    call_free(&c);
    c = rpc("admin.tenants.create", &admin, &ct.base, NULL);
    CHECK_INT(c.st, MENTIS_ERR_PERMISSION_DENIED);
    call_free(&c);
    CHECK_INT(count("SELECT count(*) FROM auth.tenants WHERE slug = 'nope'"), 0);
    /* Without a tenant: refused before anything else. */
    const who_t untenanted = {NULL, root_id, "platform_admin", ROOT_EMAIL};
    c = rpc("admin.users.list", &untenanted, &lu.base, NULL);
    CHECK_INT(c.st, MENTIS_ERR_UNAUTHENTICATED);
    call_free(&c);
    /* Nothing was written by any refused call. */
    CHECK_INT(count("SELECT count(*) FROM auth.beta_tokens"), 0);
    CHECK_INT(count("SELECT count(*) FROM auth.users"), 1);
}

static void test_beta_tokens(void)
{
    setup();
    mentis_bus_sub_t *sub = NULL;
    REQUIRE(mentis_bus_subscribe(bus, "mentis.v1.evt.auth.beta_revoked." DEFAULT_TENANT, NULL,
                                 on_beta_revoked, NULL, &sub) == MENTIS_OK);
    /* An admin signed in through the access proxy: an email, no account. */
    const who_t access = {DEFAULT_TENANT, NULL, "admin", "ops@example.org"};
    call_t c = create_token(&access, "Friends & \"family\" \\ co", 0);
    REQUIRE(c.st == MENTIS_OK && c.resp != NULL);
    Mentis__V1__Auth__BetaToken *t = (Mentis__V1__Auth__BetaToken *)c.resp;
    char token[80], id[37], prefix[16];
    snprintf(token, sizeof token, "%s", t->token);
    snprintf(id, sizeof id, "%s", t->id);
    snprintf(prefix, sizeof prefix, "%s", t->prefix);
    CHECK_INT((int)strlen(token), 68);
    CHECK(strncmp(token, "mtb_", 4) == 0);
    CHECK_INT((int)strlen(prefix), 12);
    CHECK(strncmp(token, prefix, 12) == 0);
    CHECK_STR(t->label, "Friends & \"family\" \\ co");
    CHECK_STR(t->tenant_id, DEFAULT_TENANT);
    CHECK_STR(t->created_by, "");
    CHECK_STR(t->created_by_email, "ops@example.org");
    CHECK_INT(t->rate_limit_per_minute, 30);
    CHECK_INT(t->daily_request_quota, 1000);
    CHECK(t->expires_at == NULL && t->revoked_at == NULL && t->last_used_at == NULL);
    call_free(&c);
    /* Only a keyed hash is stored: neither the token nor its plain hash. */
    CHECK_INT(count("SELECT count(*) FROM auth.beta_tokens WHERE octet_length(token_hash) = 32"),
              1);
    char sql[512];
    snprintf(sql, sizeof sql,
             "SELECT count(*) FROM auth.beta_tokens WHERE token_hash = sha256('%s'::bytea) "
             "OR position('%s' in label) > 0",
             token, token + 4);
    CHECK_INT(count(sql), 0);

    /* The gateways' check. */
    c = beta_check(token);
    REQUIRE(c.st == MENTIS_OK && c.resp != NULL);
    Mentis__V1__Auth__BetaCheckResponse *chk = (Mentis__V1__Auth__BetaCheckResponse *)c.resp;
    CHECK_STR(chk->token_id, id);
    CHECK_STR(chk->tenant_id, DEFAULT_TENANT);
    CHECK_STR(chk->label, "Friends & \"family\" \\ co");
    CHECK_INT(chk->rate_limit_per_minute, 30);
    CHECK_INT(chk->daily_request_quota, 1000);
    CHECK_INT(chk->daily_tts_char_quota, 50000);
    CHECK_INT(chk->requests_today, 0);
    CHECK(chk->expires_at == NULL);
    call_free(&c);
    /* Unknown, malformed, or with another tenant written into it: invalid_token. */
    char forged[80];
    snprintf(forged, sizeof forged, "%s", token);
    forged[60] = forged[60] == 'A' ? 'B' : 'A';
    const char *bad[] = {"mtb_short", "",
                         "xyz_AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA",
                         forged};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        c = beta_check(bad[i]);
        CHECK_INT(c.st, MENTIS_ERR_UNAUTHENTICATED);
        CHECK_STR(c.code, "invalid_token");
        call_free(&c);
    }

    /* Usage from two gateways, while two replicas listen: counted once each. */
    for (int g = 0; g < 2; g++) {
        Mentis__V1__Gateway__BetaUsage u;
        Mentis__V1__Gateway__BetaTokenUsage item, junk, *items[] = {&item, &junk};
        mentis__v1__gateway__beta_usage__init(&u);
        mentis__v1__gateway__beta_token_usage__init(&item);
        mentis__v1__gateway__beta_token_usage__init(&junk);
        u.instance_id = S(g == 0 ? "gw-a" : "gw-b");
        item.tenant_id = S(DEFAULT_TENANT);
        item.token_id = S(id);
        item.requests = g == 0 ? 3 : 4;
        /* A token of no tenant it names: ignored, the rest still counts. */
        junk.tenant_id = S("0190a000-0000-7000-8000-0000000000ff");
        junk.token_id = S(id);
        junk.requests = 100;
        u.items = items;
        u.n_items = 2;
        uint8_t buf[256];
        size_t n = protobuf_c_message_pack(&u.base, buf);
        REQUIRE(mentis_bus_publish(bus, "mentis.v1.evt.gateway.beta_usage", NULL, NULL, 0, buf,
                                   n) == MENTIS_OK);
    }
    long long today = 0;
    for (int i = 0; i < 100 && today < 7; i++) {
        h_sleep_ms(20);
        c = beta_check(token);
        if (c.st == MENTIS_OK && c.resp != NULL)
            today = ((Mentis__V1__Auth__BetaCheckResponse *)c.resp)->requests_today;
        call_free(&c);
    }
    h_sleep_ms(300); /* a second replica counting it too would show by now */
    c = beta_check(token);
    REQUIRE(c.st == MENTIS_OK);
    CHECK_INT(((Mentis__V1__Auth__BetaCheckResponse *)c.resp)->requests_today, 7);
    call_free(&c);
    CHECK_INT(count("SELECT sum(requests) FROM auth.beta_usage"), 7);

    /* The list: never the secret, with last use and today's usage. */
    Mentis__V1__Auth__ListBetaTokensRequest lr;
    mentis__v1__auth__list_beta_tokens_request__init(&lr);
    const who_t admin = {DEFAULT_TENANT, root_id, "admin", ROOT_EMAIL};
    c = rpc("admin.beta_tokens.list", &admin, &lr.base,
            &mentis__v1__auth__list_beta_tokens_response__descriptor);
    REQUIRE(c.st == MENTIS_OK && c.resp != NULL);
    Mentis__V1__Auth__ListBetaTokensResponse *list =
        (Mentis__V1__Auth__ListBetaTokensResponse *)c.resp;
    REQUIRE(list->n_items == 1);
    CHECK_STR(list->items[0]->id, id);
    CHECK_STR(list->items[0]->token, "");
    CHECK_STR(list->items[0]->prefix, prefix);
    CHECK(list->items[0]->last_used_at != NULL);
    CHECK_INT(list->items[0]->requests_today, 7);
    CHECK_STR(list->next_cursor, "");
    call_free(&c);

    /* Revoke: empty answer, the event, then the check refuses it. */
    c = revoke_token(&admin, id);
    CHECK_INT(c.st, MENTIS_OK);
    CHECK_INT((int)mentis_msg_len(c.reply), 0);
    call_free(&c);
    CHECK_INT(wait_events(&beta_revoked_events, 1), 1);
    pthread_mutex_lock(&ev_mu);
    CHECK_STR(beta_revoked_last, id);
    pthread_mutex_unlock(&ev_mu);
    c = beta_check(token);
    CHECK_INT(c.st, MENTIS_ERR_UNAUTHENTICATED);
    CHECK_STR(c.code, "token_revoked");
    call_free(&c);
    /* Again: still fine, published again, audited once. */
    char first_revoked[64];
    REQUIRE(h_pg_query(&pg, "SELECT revoked_at::text FROM auth.beta_tokens", first_revoked,
                       sizeof first_revoked) == 0);
    c = revoke_token(&admin, id);
    CHECK_INT(c.st, MENTIS_OK);
    call_free(&c);
    CHECK_INT(wait_events(&beta_revoked_events, 2), 2);
    char again[64];
    REQUIRE(h_pg_query(&pg, "SELECT revoked_at::text FROM auth.beta_tokens", again, sizeof again) ==
            0);
    CHECK_STR(again, first_revoked);
    CHECK_INT(count("SELECT count(*) FROM auth.audit_log WHERE event = 'beta_token_revoked'"), 1);
    CHECK_INT(count("SELECT count(*) FROM auth.audit_log WHERE event = 'beta_token_issued' "
                    "AND actor_id IS NULL AND actor_email = 'ops@example.org' "
                    "AND detail->>'label' = 'Friends & \"family\" \\ co'"),
              1);
    c = revoke_token(&admin, "0190a000-0000-7000-8000-00000000dead");
    CHECK_INT(c.st, MENTIS_ERR_NOT_FOUND);
    call_free(&c);
    c = revoke_token(&admin, "not-a-uuid");
    CHECK_INT(c.st, MENTIS_ERR_INVALID_ARGUMENT);
    call_free(&c);

    /* Expiry: a token that ran out is token_expired. */
    c = create_token(&admin, "short-lived", h_now_ms() / 1000 + 3600);
    REQUIRE(c.st == MENTIS_OK && c.resp != NULL);
    t = (Mentis__V1__Auth__BetaToken *)c.resp;
    CHECK(t->expires_at != NULL && t->expires_at->seconds > h_now_ms() / 1000);
    snprintf(token, sizeof token, "%s", t->token);
    call_free(&c);
    c = beta_check(token);
    CHECK_INT(c.st, MENTIS_OK);
    CHECK(c.resp != NULL && ((Mentis__V1__Auth__BetaCheckResponse *)c.resp)->expires_at != NULL);
    call_free(&c);
    /* Two tokens, one per page, newest first. */
    lr.limit = 1;
    c = rpc("admin.beta_tokens.list", &admin, &lr.base,
            &mentis__v1__auth__list_beta_tokens_response__descriptor);
    REQUIRE(c.st == MENTIS_OK && c.resp != NULL);
    list = (Mentis__V1__Auth__ListBetaTokensResponse *)c.resp;
    REQUIRE(list->n_items == 1 && list->next_cursor[0] != '\0');
    CHECK_STR(list->items[0]->label, "short-lived");
    char cursor[64];
    snprintf(cursor, sizeof cursor, "%s", list->next_cursor);
    call_free(&c);
    lr.cursor = cursor;
    c = rpc("admin.beta_tokens.list", &admin, &lr.base,
            &mentis__v1__auth__list_beta_tokens_response__descriptor);
    REQUIRE(c.st == MENTIS_OK && c.resp != NULL);
    list = (Mentis__V1__Auth__ListBetaTokensResponse *)c.resp;
    REQUIRE(list->n_items == 1);
    CHECK_STR(list->items[0]->id, id);
    CHECK(list->items[0]->revoked_at != NULL);
    CHECK_STR(list->next_cursor, "");
    call_free(&c);
    REQUIRE(h_pg_exec(&pg, "UPDATE auth.beta_tokens SET expires_at = now() - interval '1 second' "
                           "WHERE label = 'short-lived'") == 0);
    c = beta_check(token);
    CHECK_INT(c.st, MENTIS_ERR_UNAUTHENTICATED);
    CHECK_STR(c.code, "token_expired");
    call_free(&c);

    /* Bad fields: every one named, nothing stored. */
    Mentis__V1__Auth__CreateBetaTokenRequest br;
    Mentis__V1__Timestamp past;
    mentis__v1__auth__create_beta_token_request__init(&br);
    mentis__v1__timestamp__init(&past);
    past.seconds = h_now_ms() / 1000 - 10;
    br.label = S("");
    br.expires_at = &past;
    br.daily_request_quota = -1;
    br.rate_limit_per_minute = -5;
    c = rpc("admin.beta_tokens.create", &admin, &br.base, NULL);
    CHECK_INT(c.st, MENTIS_ERR_INVALID_ARGUMENT);
    Mentis__V1__ErrorDetail *d =
        mentis__v1__error_detail__unpack(NULL, mentis_msg_len(c.reply), mentis_msg_data(c.reply));
    REQUIRE(d != NULL);
    CHECK_INT(d->n_errors, 4);
    CHECK_STR(d->errors[0]->field, "label");
    CHECK_STR(d->errors[1]->field, "expires_at");
    mentis__v1__error_detail__free_unpacked(d, NULL);
    call_free(&c);
    CHECK_INT(count("SELECT count(*) FROM auth.beta_tokens"), 2);
    mentis_bus_unsubscribe(sub, false, 0);
}

/* Pages through admin.users.list with `limit`, collecting ids into out (n_out). */
static void page_users(const who_t *who, Mentis__V1__Auth__ListUsersRequest *r, int limit,
                       char (*out)[37], int *n_out, int max, bool insert_between)
{
    char cursor[64] = "";
    *n_out = 0;
    for (int pages = 0; pages < 50; pages++) {
        r->limit = limit;
        r->cursor = cursor;
        call_t c = rpc("admin.users.list", who, &r->base,
                       &mentis__v1__auth__list_users_response__descriptor);
        REQUIRE(c.st == MENTIS_OK && c.resp != NULL);
        Mentis__V1__Auth__ListUsersResponse *l = (Mentis__V1__Auth__ListUsersResponse *)c.resp;
        CHECK((int)l->n_items <= limit);
        for (size_t i = 0; i < l->n_items && *n_out < max; i++)
            snprintf(out[(*n_out)++], 37, "%s", l->items[i]->id);
        snprintf(cursor, sizeof cursor, "%s", l->next_cursor);
        call_free(&c);
        if (insert_between && pages == 1) {
            /* A row added while paging: it is newer, so it comes at the end, once. */
            char sql[300];
            snprintf(sql, sizeof sql,
                     "INSERT INTO auth.users (id, tenant_id, email, password_hash, display_name) "
                     "VALUES ('ffffffff-0000-7000-8000-000000000001', '%s', 'late@example.org', "
                     "'x', 'Late')",
                     who->tenant);
            REQUIRE(h_pg_exec(&pg, sql) == 0);
        }
        if (cursor[0] == '\0')
            return;
    }
}

static void test_tenants(void)
{
    setup();
    Mentis__V1__Auth__CreateTenantRequest ct;
    mentis__v1__auth__create_tenant_request__init(&ct);
    ct.slug = S("acme");
    ct.name = S("Acme Tutoring");
    /* A weak password for the first admin: nothing is created, not even the tenant. */
    ct.admin_email = S("boss@acme.example");
    ct.admin_password = S("short");
    call_t c = rpc("admin.tenants.create", &root, &ct.base, NULL);
    CHECK_INT(c.st, MENTIS_ERR_INVALID_ARGUMENT);
    CHECK_STR(c.code, "weak_password");
    call_free(&c);
    CHECK_INT(count("SELECT count(*) FROM auth.tenants WHERE slug = 'acme'"), 0);
    ct.admin_password = S("acme-boss-password");
    c = rpc("admin.tenants.create", &root, &ct.base, &mentis__v1__auth__tenant__descriptor);
    REQUIRE(c.st == MENTIS_OK && c.resp != NULL);
    Mentis__V1__Auth__Tenant *t = (Mentis__V1__Auth__Tenant *)c.resp;
    CHECK_STR(t->slug, "acme");
    CHECK_STR(t->name, "Acme Tutoring");
    CHECK(t->is_active && t->created_at != NULL);
    snprintf(tenant_b, sizeof tenant_b, "%s", t->id);
    call_free(&c);
    /* Its first admin came with it, and signs in to that tenant. */
    c = login(tenant_b, "boss@acme.example", "acme-boss-password");
    REQUIRE(c.st == MENTIS_OK && c.resp != NULL);
    Mentis__V1__Auth__LoginResponse *lr = (Mentis__V1__Auth__LoginResponse *)c.resp;
    CHECK_INT(lr->user->role, MENTIS__V1__AUTH__ROLE__ROLE_ADMIN);
    CHECK_STR(lr->user->tenant_id, tenant_b);
    snprintf(tenant_b_admin, sizeof tenant_b_admin, "%s", lr->user->id);
    call_free(&c);
    c = login(NULL, "boss@acme.example", "acme-boss-password"); /* not in the default tenant */
    CHECK_INT(c.st, MENTIS_ERR_UNAUTHENTICATED);
    call_free(&c);
    char sql[300];
    snprintf(sql, sizeof sql,
             "SELECT count(*) FROM auth.audit_log WHERE tenant_id = '%s' AND event = "
             "'user_created' AND actor_id = '%s'",
             tenant_b, root_id);
    CHECK_INT(count(sql), 1);
    ct.admin_email = S("");
    ct.admin_password = S("");
    c = rpc("admin.tenants.create", &root, &ct.base, NULL);
    CHECK_INT(c.st, MENTIS_ERR_CONFLICT);
    CHECK_STR(c.code, "slug_exists");
    call_free(&c);
    ct.slug = S("-Bad Slug");
    ct.name = S("");
    c = rpc("admin.tenants.create", &root, &ct.base, NULL);
    CHECK_INT(c.st, MENTIS_ERR_INVALID_ARGUMENT);
    call_free(&c);
    ct.slug = S("globex");
    ct.name = S("Globex");
    c = rpc("admin.tenants.create", &root, &ct.base, NULL);
    CHECK_INT(c.st, MENTIS_OK);
    call_free(&c);

    /* Every tenant, one per page, in order, each once. */
    Mentis__V1__Auth__ListTenantsRequest lt;
    mentis__v1__auth__list_tenants_request__init(&lt);
    char cursor[64] = "", seen[8][64];
    int n = 0;
    for (int i = 0; i < 8; i++) {
        lt.limit = 1;
        lt.cursor = cursor;
        c = rpc("admin.tenants.list", &root, &lt.base,
                &mentis__v1__auth__list_tenants_response__descriptor);
        REQUIRE(c.st == MENTIS_OK && c.resp != NULL);
        Mentis__V1__Auth__ListTenantsResponse *l = (Mentis__V1__Auth__ListTenantsResponse *)c.resp;
        REQUIRE(l->n_items == 1);
        snprintf(seen[n++], 64, "%s", l->items[0]->slug);
        snprintf(cursor, sizeof cursor, "%s", l->next_cursor);
        call_free(&c);
        if (cursor[0] == '\0')
            break;
    }
    REQUIRE(n == 3);
    CHECK_STR(seen[0], "default");
    CHECK_STR(seen[1], "acme");
    CHECK_STR(seen[2], "globex");
    CHECK_INT(count("SELECT count(*) FROM auth.audit_log WHERE event = 'tenant_created' AND "
                    "detail->>'slug' = 'acme'"),
              1);
    /* A cursor of another list, or garbage: refused, naming the field. */
    lt.cursor = S("not a cursor!");
    c = rpc("admin.tenants.list", &root, &lt.base, NULL);
    CHECK_INT(c.st, MENTIS_ERR_INVALID_ARGUMENT);
    call_free(&c);
    lt.cursor = S("");
    lt.limit = 201;
    c = rpc("admin.tenants.list", &root, &lt.base, NULL);
    CHECK_INT(c.st, MENTIS_ERR_INVALID_ARGUMENT);
    call_free(&c);
}

static void test_users(void)
{
    setup();
    mentis_bus_sub_t *sub = NULL;
    REQUIRE(mentis_bus_subscribe(bus, "mentis.v1.evt.auth.session_revoked.>", NULL,
                                 on_session_revoked, NULL, &sub) == MENTIS_OK);
    /* root makes an admin; that admin manages the rest. */
    call_t c = create_user(&root, "alice@example.org", "alice-password-1",
                           MENTIS__V1__AUTH__ROLE__ROLE_ADMIN);
    REQUIRE(c.st == MENTIS_OK && c.resp != NULL);
    char alice[37];
    snprintf(alice, sizeof alice, "%s", ((Mentis__V1__Auth__AdminUser *)c.resp)->id);
    CHECK_INT(((Mentis__V1__Auth__AdminUser *)c.resp)->role, MENTIS__V1__AUTH__ROLE__ROLE_ADMIN);
    CHECK(((Mentis__V1__Auth__AdminUser *)c.resp)->is_active);
    call_free(&c);
    const who_t admin = {DEFAULT_TENANT, alice, "admin", "alice@example.org"};

    c = create_user(&admin, "bob@example.org", "bob-password-12", 0);
    REQUIRE(c.st == MENTIS_OK && c.resp != NULL);
    char bob[37];
    snprintf(bob, sizeof bob, "%s", ((Mentis__V1__Auth__AdminUser *)c.resp)->id);
    CHECK_INT(((Mentis__V1__Auth__AdminUser *)c.resp)->role, MENTIS__V1__AUTH__ROLE__ROLE_USER);
    CHECK_STR(((Mentis__V1__Auth__AdminUser *)c.resp)->tenant_id, DEFAULT_TENANT);
    call_free(&c);
    c = create_user(&admin, "BOB@example.org", "bob-password-12", 0);
    CHECK_INT(c.st, MENTIS_ERR_CONFLICT);
    CHECK_STR(c.code, "email_exists");
    call_free(&c);
    c = create_user(&admin, "carol@example.org", "short", 0);
    CHECK_INT(c.st, MENTIS_ERR_INVALID_ARGUMENT);
    CHECK_STR(c.code, "weak_password");
    call_free(&c);
    c = create_user(&admin, "not an email", "long enough password", 0);
    CHECK_INT(c.st, MENTIS_ERR_INVALID_ARGUMENT);
    call_free(&c);
    /* Only a platform admin makes platform admins. */
    c = create_user(&admin, "pa@example.org", "long enough password",
                    MENTIS__V1__AUTH__ROLE__ROLE_PLATFORM_ADMIN);
    CHECK_INT(c.st, MENTIS_ERR_PERMISSION_DENIED);
    call_free(&c);
    CHECK_INT(count("SELECT count(*) FROM auth.users WHERE email IN ('carol@example.org', "
                    "'pa@example.org')"),
              0);

    /* Promote bob, then demote him: his sessions end with reason role_changed. */
    Mentis__V1__Auth__UpdateUserRequest u;
    mentis__v1__auth__update_user_request__init(&u);
    u.id = bob;
    u.role = MENTIS__V1__AUTH__ROLE__ROLE_ADMIN;
    c = update_user(&admin, &u);
    REQUIRE(c.st == MENTIS_OK && c.resp != NULL);
    CHECK_INT(((Mentis__V1__Auth__AdminUser *)c.resp)->role, MENTIS__V1__AUTH__ROLE__ROLE_ADMIN);
    CHECK_INT(((Mentis__V1__Auth__AdminUser *)c.resp)->version, 2);
    call_free(&c);
    call_t l = login(NULL, "bob@example.org", "bob-password-12");
    REQUIRE(l.st == MENTIS_OK);
    call_free(&l);
    int before = events_now(&session_revoked_events);
    u.role = MENTIS__V1__AUTH__ROLE__ROLE_USER;
    c = update_user(&admin, &u);
    CHECK_INT(c.st, MENTIS_OK);
    call_free(&c);
    CHECK_INT(wait_events(&session_revoked_events, before + 1), before + 1);
    pthread_mutex_lock(&ev_mu);
    CHECK_STR(session_revoked_reason, "role_changed");
    CHECK_STR(session_revoked_user, bob);
    CHECK(session_revoked_all);
    pthread_mutex_unlock(&ev_mu);
    char sql[400];
    snprintf(sql, sizeof sql,
             "SELECT count(*) FROM auth.sessions WHERE user_id = '%s' AND revoked_at IS NULL", bob);
    CHECK_INT(count(sql), 0);
    snprintf(sql, sizeof sql,
             "SELECT count(*) FROM auth.audit_log WHERE event = 'role_changed' AND user_id = '%s' "
             "AND actor_id = '%s' AND detail->>'to' = 'user' AND detail->>'from' = 'admin'",
             bob, alice);
    CHECK_INT(count(sql), 1);

    /* Disable: sessions end (user_disabled) and login says account_inactive; enable again. */
    l = login(NULL, "bob@example.org", "bob-password-12");
    CHECK_INT(l.st, MENTIS_OK);
    call_free(&l);
    mentis__v1__auth__update_user_request__init(&u);
    u.id = bob;
    u.active_change_case = MENTIS__V1__AUTH__UPDATE_USER_REQUEST__ACTIVE_CHANGE_IS_ACTIVE;
    u.is_active = false;
    before = events_now(&session_revoked_events);
    c = update_user(&admin, &u);
    REQUIRE(c.st == MENTIS_OK && c.resp != NULL);
    CHECK(!((Mentis__V1__Auth__AdminUser *)c.resp)->is_active);
    CHECK_INT(((Mentis__V1__Auth__AdminUser *)c.resp)->role, MENTIS__V1__AUTH__ROLE__ROLE_USER);
    call_free(&c);
    CHECK_INT(wait_events(&session_revoked_events, before + 1), before + 1);
    pthread_mutex_lock(&ev_mu);
    CHECK_STR(session_revoked_reason, "user_disabled");
    pthread_mutex_unlock(&ev_mu);
    CHECK_INT(count(sql), 1); /* the role_changed entry, still one */
    l = login(NULL, "bob@example.org", "bob-password-12");
    CHECK_STR(l.code, "account_inactive");
    call_free(&l);
    u.is_active = true;
    c = update_user(&admin, &u);
    CHECK_INT(c.st, MENTIS_OK);
    call_free(&c);

    /* Unlock: the lock and the failure count are cleared. */
    snprintf(sql, sizeof sql,
             "UPDATE auth.users SET locked_until = now() + interval '1 hour', "
             "failed_login_count = 7 WHERE id = '%s'",
             bob);
    REQUIRE(h_pg_exec(&pg, sql) == 0);
    l = login(NULL, "bob@example.org", "bob-password-12");
    CHECK_STR(l.code, "account_locked");
    call_free(&l);
    mentis__v1__auth__update_user_request__init(&u);
    u.id = bob;
    u.unlock = true;
    u.display_name = S("Robert");
    c = update_user(&admin, &u);
    REQUIRE(c.st == MENTIS_OK && c.resp != NULL);
    CHECK(((Mentis__V1__Auth__AdminUser *)c.resp)->locked_until == NULL);
    CHECK(((Mentis__V1__Auth__AdminUser *)c.resp)->is_active); /* merge: left as it was */
    CHECK_STR(((Mentis__V1__Auth__AdminUser *)c.resp)->display_name, "Robert");
    call_free(&c);
    snprintf(sql, sizeof sql,
             "SELECT count(*) FROM auth.users WHERE id = '%s' AND locked_until IS NULL AND "
             "failed_login_count = 0",
             bob);
    CHECK_INT(count(sql), 1);
    l = login(NULL, "bob@example.org", "bob-password-12");
    CHECK_INT(l.st, MENTIS_OK);
    call_free(&l);

    /* Nobody demotes, disables or deletes themselves; admins leave platform admins alone. */
    mentis__v1__auth__update_user_request__init(&u);
    u.id = alice;
    u.role = MENTIS__V1__AUTH__ROLE__ROLE_USER;
    c = update_user(&admin, &u);
    CHECK_INT(c.st, MENTIS_ERR_PERMISSION_DENIED);
    CHECK_STR(c.code, "self_lockout");
    call_free(&c);
    u.role = 0;
    u.active_change_case = MENTIS__V1__AUTH__UPDATE_USER_REQUEST__ACTIVE_CHANGE_IS_ACTIVE;
    u.is_active = false;
    c = update_user(&admin, &u);
    CHECK_STR(c.code, "self_lockout");
    call_free(&c);
    c = delete_user(&admin, alice);
    CHECK_STR(c.code, "self_lockout");
    call_free(&c);
    mentis__v1__auth__update_user_request__init(&u);
    u.id = root_id;
    u.role = MENTIS__V1__AUTH__ROLE__ROLE_USER;
    c = update_user(&admin, &u);
    CHECK_INT(c.st, MENTIS_ERR_PERMISSION_DENIED);
    CHECK_STR(c.code, "permission_denied");
    call_free(&c);
    c = delete_user(&admin, root_id);
    CHECK_INT(c.st, MENTIS_ERR_PERMISSION_DENIED);
    call_free(&c);
    u.id = bob;
    u.role = MENTIS__V1__AUTH__ROLE__ROLE_PLATFORM_ADMIN;
    c = update_user(&admin, &u);
    CHECK_INT(c.st, MENTIS_ERR_PERMISSION_DENIED);
    call_free(&c);
    CHECK_INT(count("SELECT count(*) FROM auth.users WHERE role = 'platform_admin'"), 1);
    c = update_user(&root, &u); /* a platform admin may */
    CHECK_INT(c.st, MENTIS_OK);
    call_free(&c);
    u.role = MENTIS__V1__AUTH__ROLE__ROLE_USER;
    c = update_user(&root, &u);
    CHECK_INT(c.st, MENTIS_OK);
    call_free(&c);
    u.id = S("0190a000-0000-7000-8000-00000000dead");
    c = update_user(&admin, &u);
    CHECK_INT(c.st, MENTIS_ERR_NOT_FOUND);
    call_free(&c);

    /* Delete: the account and its sessions go, the event says so, login fails. */
    before = events_now(&session_revoked_events);
    c = delete_user(&admin, bob);
    CHECK_INT(c.st, MENTIS_OK);
    CHECK_INT((int)mentis_msg_len(c.reply), 0);
    call_free(&c);
    CHECK_INT(wait_events(&session_revoked_events, before + 1), before + 1);
    pthread_mutex_lock(&ev_mu);
    CHECK_STR(session_revoked_reason, "user_deleted");
    CHECK_STR(session_revoked_user, bob);
    pthread_mutex_unlock(&ev_mu);
    snprintf(sql, sizeof sql, "SELECT count(*) FROM auth.sessions WHERE user_id = '%s'", bob);
    CHECK_INT(count(sql), 0);
    l = login(NULL, "bob@example.org", "bob-password-12");
    CHECK_STR(l.code, "invalid_credentials");
    call_free(&l);
    c = delete_user(&admin, bob);
    CHECK_INT(c.st, MENTIS_ERR_NOT_FOUND);
    call_free(&c);
    CHECK_INT(count("SELECT count(*) FROM auth.audit_log WHERE event = 'user_deleted' AND "
                    "detail->>'email' = 'bob@example.org'"),
              1);
    mentis_bus_unsubscribe(sub, false, 0);
}

static void test_users_list_and_pages(void)
{
    setup();
    /* A tenant of its own, filled directly: 23 users, some inactive, two admins. */
    REQUIRE(h_pg_exec(&pg, "INSERT INTO auth.tenants (id, slug, name) VALUES "
                           "('0190b000-0000-7000-8000-000000000c00', 'paging', 'Paging')") == 0);
    REQUIRE(h_pg_exec(&pg,
                      "INSERT INTO auth.users (id, tenant_id, email, password_hash, display_name, "
                      "role, is_active) SELECT ('0190b000-0000-7000-8000-' || lpad(i::text, 12, "
                      "'0'))::uuid, '0190b000-0000-7000-8000-000000000c00', 'p' || i || "
                      "'@example.org', 'x', CASE WHEN i % 5 = 0 THEN 'Zed_' || i ELSE 'Person ' "
                      "|| i END, CASE WHEN i <= 2 THEN 'admin' ELSE 'user' END, i % 4 <> 0 "
                      "FROM generate_series(1, 23) i") == 0);
    const who_t admin = {"0190b000-0000-7000-8000-000000000c00",
                         "0190b000-0000-7000-8000-000000000001", "admin", "p1@example.org"};
    Mentis__V1__Auth__ListUsersRequest r;
    mentis__v1__auth__list_users_request__init(&r);
    static char ids[40][37];
    int n = 0;
    page_users(&admin, &r, 5, ids, &n, 40, true);
    /* Every row once, in order, the one added meanwhile at the end. */
    REQUIRE(n == 24);
    for (int i = 0; i < 23; i++) {
        char want[37];
        snprintf(want, sizeof want, "0190b000-0000-7000-8000-%012d", i + 1);
        CHECK_STR(ids[i], want);
    }
    CHECK_STR(ids[23], "ffffffff-0000-7000-8000-000000000001");

    /* Filters: text (wildcards taken literally), role, state. */
    r.q = S("zed_");
    page_users(&admin, &r, 200, ids, &n, 40, false);
    CHECK_INT(n, 4); /* 5, 10, 15, 20 */
    r.q = S("_");
    page_users(&admin, &r, 200, ids, &n, 40, false);
    CHECK_INT(n, 4);
    r.q = S("P1");
    page_users(&admin, &r, 200, ids, &n, 40, false);
    CHECK_INT(n, 11); /* p1, p10–p19 */
    r.q = NULL;
    r.role = MENTIS__V1__AUTH__ROLE__ROLE_ADMIN;
    page_users(&admin, &r, 200, ids, &n, 40, false);
    CHECK_INT(n, 2);
    r.role = 0;
    r.active_filter_case = MENTIS__V1__AUTH__LIST_USERS_REQUEST__ACTIVE_FILTER_IS_ACTIVE;
    r.is_active = false;
    page_users(&admin, &r, 200, ids, &n, 40, false);
    CHECK_INT(n, 5); /* 4, 8, 12, 16, 20 */
    r.is_active = true;
    page_users(&admin, &r, 3, ids, &n, 40, false);
    CHECK_INT(n, 19);
}

static void test_cross_tenant(void)
{
    setup();
    REQUIRE(tenant_b[0] != '\0');
    /* B's first admin gives B a user and a beta token of its own. */
    const who_t admin_b = {tenant_b, tenant_b_admin, "admin", "boss@acme.example"};
    const who_t admin_a = {DEFAULT_TENANT, root_id, "admin", ROOT_EMAIL};
    call_t c = create_user(&admin_b, "dave@example.org", "dave-password-1", 0);
    REQUIRE(c.st == MENTIS_OK && c.resp != NULL);
    char dave[37];
    snprintf(dave, sizeof dave, "%s", ((Mentis__V1__Auth__AdminUser *)c.resp)->id);
    CHECK_STR(((Mentis__V1__Auth__AdminUser *)c.resp)->tenant_id, tenant_b);
    call_free(&c);
    c = create_token(&admin_b, "B's token", 0);
    REQUIRE(c.st == MENTIS_OK && c.resp != NULL);
    char token_b[80], token_b_id[37];
    snprintf(token_b, sizeof token_b, "%s", ((Mentis__V1__Auth__BetaToken *)c.resp)->token);
    snprintf(token_b_id, sizeof token_b_id, "%s", ((Mentis__V1__Auth__BetaToken *)c.resp)->id);
    call_free(&c);
    /* The same address may exist in both tenants. */
    c = create_user(&admin_a, "dave@example.org", "dave-password-2", 0);
    CHECK_INT(c.st, MENTIS_OK);
    call_free(&c);

    /* A's admin, with B's ids: not found, and nothing changes. */
    Mentis__V1__Auth__UpdateUserRequest u;
    mentis__v1__auth__update_user_request__init(&u);
    u.id = dave;
    u.active_change_case = MENTIS__V1__AUTH__UPDATE_USER_REQUEST__ACTIVE_CHANGE_IS_ACTIVE;
    u.is_active = false;
    c = update_user(&admin_a, &u);
    CHECK_INT(c.st, MENTIS_ERR_NOT_FOUND);
    call_free(&c);
    c = delete_user(&admin_a, dave);
    CHECK_INT(c.st, MENTIS_ERR_NOT_FOUND);
    call_free(&c);
    c = revoke_token(&admin_a, token_b_id);
    CHECK_INT(c.st, MENTIS_ERR_NOT_FOUND);
    call_free(&c);
    /* Even a platform admin acts within the tenant of the request. */
    c = delete_user(&root, dave);
    CHECK_INT(c.st, MENTIS_ERR_NOT_FOUND);
    call_free(&c);
    char sql[300];
    snprintf(sql, sizeof sql, "SELECT count(*) FROM auth.users WHERE id = '%s' AND is_active",
             dave);
    CHECK_INT(count(sql), 1);
    /* Lists show only the caller's tenant. */
    Mentis__V1__Auth__ListBetaTokensRequest lb;
    mentis__v1__auth__list_beta_tokens_request__init(&lb);
    c = rpc("admin.beta_tokens.list", &admin_b, &lb.base,
            &mentis__v1__auth__list_beta_tokens_response__descriptor);
    REQUIRE(c.st == MENTIS_OK && c.resp != NULL);
    Mentis__V1__Auth__ListBetaTokensResponse *bl =
        (Mentis__V1__Auth__ListBetaTokensResponse *)c.resp;
    REQUIRE(bl->n_items == 1);
    CHECK_STR(bl->items[0]->id, token_b_id);
    call_free(&c);
    Mentis__V1__Auth__ListAuditRequest la;
    mentis__v1__auth__list_audit_request__init(&la);
    la.user_id = dave;
    c = rpc("admin.audit.list", &admin_a, &la.base,
            &mentis__v1__auth__list_audit_response__descriptor);
    REQUIRE(c.st == MENTIS_OK && c.resp != NULL);
    CHECK_INT(((Mentis__V1__Auth__ListAuditResponse *)c.resp)->n_items, 0);
    call_free(&c);
    c = rpc("admin.audit.list", &admin_b, &la.base,
            &mentis__v1__auth__list_audit_response__descriptor);
    REQUIRE(c.st == MENTIS_OK && c.resp != NULL);
    CHECK_INT(((Mentis__V1__Auth__ListAuditResponse *)c.resp)->n_items, 1);
    call_free(&c);
    /* B's token checks as B's. */
    c = beta_check(token_b);
    REQUIRE(c.st == MENTIS_OK && c.resp != NULL);
    CHECK_STR(((Mentis__V1__Auth__BetaCheckResponse *)c.resp)->tenant_id, tenant_b);
    call_free(&c);
}

static void test_audit(void)
{
    setup();
    const who_t admin = {DEFAULT_TENANT, root_id, "admin", ROOT_EMAIL};
    Mentis__V1__Auth__ListAuditRequest r;
    mentis__v1__auth__list_audit_request__init(&r);
    /* Every admin action of the cases before left its entry. */
    const char *events[] = {"beta_token_issued", "beta_token_revoked", "role_changed",
                            "user_disabled",     "user_enabled",       "user_unlocked",
                            "user_deleted",      "user_created",       "tenant_created"};
    for (size_t i = 0; i < sizeof events / sizeof events[0]; i++) {
        r.event = S(events[i]);
        call_t c = rpc("admin.audit.list", &admin, &r.base,
                       &mentis__v1__auth__list_audit_response__descriptor);
        REQUIRE(c.st == MENTIS_OK && c.resp != NULL);
        Mentis__V1__Auth__ListAuditResponse *l = (Mentis__V1__Auth__ListAuditResponse *)c.resp;
        CHECK_MSG(l->n_items >= 1, "no %s entry", events[i]);
        for (size_t k = 0; k < l->n_items; k++)
            CHECK_STR(l->items[k]->event, events[i]);
        call_free(&c);
    }
    r.event = S("role_changed");
    call_t c = rpc("admin.audit.list", &admin, &r.base,
                   &mentis__v1__auth__list_audit_response__descriptor);
    REQUIRE(c.st == MENTIS_OK && c.resp != NULL);
    Mentis__V1__Auth__ListAuditResponse *l = (Mentis__V1__Auth__ListAuditResponse *)c.resp;
    REQUIRE(l->n_items >= 1);
    /* The detail comes back as an object of strings; the newest change was back to user. */
    Mentis__V1__Auth__AuditEntry *e = l->items[0];
    const char *to = NULL;
    for (size_t k = 0; k < e->n_detail; k++)
        if (strcmp(e->detail[k]->key, "to") == 0)
            to = e->detail[k]->value;
    CHECK_STR(to, "user");
    CHECK_STR(e->actor_id, root_id);
    CHECK_STR(e->actor_email, ROOT_EMAIL);
    CHECK_STR(e->ip_address, "198.51.100.4");
    call_free(&c);

    /* All entries of the tenant, two per page: newest first, each once. */
    r.event = NULL;
    char cursor[64] = "";
    static char seen[400][37];
    int n = 0;
    long long last_us = -1;
    for (int pages = 0; pages < 300; pages++) {
        r.limit = 2;
        r.cursor = cursor;
        c = rpc("admin.audit.list", &admin, &r.base,
                &mentis__v1__auth__list_audit_response__descriptor);
        REQUIRE(c.st == MENTIS_OK && c.resp != NULL);
        l = (Mentis__V1__Auth__ListAuditResponse *)c.resp;
        for (size_t k = 0; k < l->n_items && n < 400; k++) {
            long long us = l->items[k]->created_at->seconds * 1000000LL +
                           l->items[k]->created_at->nanos / 1000;
            CHECK_MSG(last_us < 0 || us <= last_us, "entry %d is newer than the one before", n);
            last_us = us;
            for (int j = 0; j < n; j++)
                CHECK_MSG(strcmp(seen[j], l->items[k]->id) != 0, "entry %s twice", seen[j]);
            snprintf(seen[n++], 37, "%s", l->items[k]->id);
        }
        snprintf(cursor, sizeof cursor, "%s", l->next_cursor);
        call_free(&c);
        if (cursor[0] == '\0')
            break;
    }
    CHECK_INT(n,
              count("SELECT count(*) FROM auth.audit_log WHERE tenant_id = '" DEFAULT_TENANT "'"));

    /* A time window: until the first entry's time, nothing; since it, everything. */
    char first_us[32];
    REQUIRE(h_pg_query(&pg,
                       "SELECT (extract(epoch FROM min(created_at)) * 1000000)::bigint "
                       "FROM auth.audit_log WHERE tenant_id = '" DEFAULT_TENANT "'",
                       first_us, sizeof first_us) == 0);
    long long t0 = strtoll(first_us, NULL, 10);
    Mentis__V1__Timestamp since, until;
    mentis__v1__timestamp__init(&since);
    mentis__v1__timestamp__init(&until);
    until.seconds = t0 / 1000000;
    until.nanos = (int32_t)(t0 % 1000000) * 1000;
    r.until = &until;
    r.limit = 200;
    r.cursor = NULL;
    c = rpc("admin.audit.list", &admin, &r.base,
            &mentis__v1__auth__list_audit_response__descriptor);
    REQUIRE(c.st == MENTIS_OK && c.resp != NULL);
    CHECK_INT(((Mentis__V1__Auth__ListAuditResponse *)c.resp)->n_items, 0);
    call_free(&c);
    r.until = NULL;
    since = until;
    r.since = &since;
    r.event = S("user_created");
    c = rpc("admin.audit.list", &admin, &r.base,
            &mentis__v1__auth__list_audit_response__descriptor);
    REQUIRE(c.st == MENTIS_OK && c.resp != NULL);
    CHECK_INT(((Mentis__V1__Auth__ListAuditResponse *)c.resp)->n_items,
              count("SELECT count(*) FROM auth.audit_log WHERE event = 'user_created' AND "
                    "tenant_id = '" DEFAULT_TENANT "'"));
    call_free(&c);
    /* By account: what happened to root, and what root did. */
    r.since = NULL;
    r.event = NULL;
    r.user_id = root_id;
    c = rpc("admin.audit.list", &admin, &r.base,
            &mentis__v1__auth__list_audit_response__descriptor);
    REQUIRE(c.st == MENTIS_OK && c.resp != NULL);
    char sql[300];
    snprintf(sql, sizeof sql,
             "SELECT count(*) FROM auth.audit_log WHERE tenant_id = '" DEFAULT_TENANT "' AND "
             "(user_id = '%s' OR actor_id = '%s')",
             root_id, root_id);
    CHECK_INT(((Mentis__V1__Auth__ListAuditResponse *)c.resp)->n_items, count(sql));
    call_free(&c);
    r.user_id = S("nope");
    c = rpc("admin.audit.list", &admin, &r.base, NULL);
    CHECK_INT(c.st, MENTIS_ERR_INVALID_ARGUMENT);
    call_free(&c);
}

/* As the service's own role, without a tenant: the new tables show nothing; the platform
 * setting opens the tenants table and no other. */
static void test_row_level_security(void)
{
    setup();
    CHECK(count("SELECT count(*) FROM auth.beta_tokens") > 0);
    CHECK(count("SELECT count(*) FROM auth.beta_usage") > 0);
    char url[400];
    h_pg_url(&pg, "auth", url, sizeof url);
    mentis_db_options_t o = {.url = url, .size = 1};
    mentis_db_t *db = NULL;
    REQUIRE(mentis_db_open(&o, &db) == MENTIS_OK);
    mentis_db_conn_t *conn = NULL;
    REQUIRE(mentis_db_acquire(db, h_now_ms() + 5000, &conn) == MENTIS_OK);
    const char *tables[] = {"beta_tokens", "beta_usage", "tenants", "users", "audit_log"};
    for (size_t i = 0; i < sizeof tables / sizeof tables[0]; i++) {
        char sql[128];
        snprintf(sql, sizeof sql, "SELECT count(*) FROM auth.%s", tables[i]);
        PGresult *res = NULL;
        REQUIRE(mentis_db_tx_begin(conn, NULL) == MENTIS_OK);
        REQUIRE(mentis_db_exec(conn, sql, 0, NULL, &res) == MENTIS_OK);
        CHECK_MSG(strcmp(PQgetvalue(res, 0, 0), "0") == 0, "%s: %s rows without a tenant",
                  tables[i], PQgetvalue(res, 0, 0));
        PQclear(res);
        /* With the platform admins' setting: all tenants, but still no other table's rows. */
        REQUIRE(mentis_db_exec(conn, "SELECT set_config('mentis.platform_admin', 'on', true)", 0,
                               NULL, NULL) == MENTIS_OK);
        REQUIRE(mentis_db_exec(conn, sql, 0, NULL, &res) == MENTIS_OK);
        if (strcmp(tables[i], "tenants") == 0)
            CHECK_STR(PQgetvalue(res, 0, 0), "4");
        else
            CHECK_MSG(strcmp(PQgetvalue(res, 0, 0), "0") == 0, "%s: %s rows with the setting",
                      tables[i], PQgetvalue(res, 0, 0));
        PQclear(res);
        mentis_db_tx_rollback(conn);
        /* And in a later transaction of the same connection the setting is gone. */
        REQUIRE(mentis_db_tx_begin(conn, NULL) == MENTIS_OK);
        REQUIRE(mentis_db_exec(conn, "SELECT count(*) FROM auth.tenants", 0, NULL, &res) ==
                MENTIS_OK);
        CHECK_STR(PQgetvalue(res, 0, 0), "0");
        PQclear(res);
        mentis_db_tx_rollback(conn);
    }
    /* Within a tenant: only its own tokens. */
    PGresult *res = NULL;
    REQUIRE(mentis_db_tx_begin(conn, tenant_b) == MENTIS_OK);
    REQUIRE(mentis_db_exec(conn, "SELECT count(*) FROM auth.beta_tokens", 0, NULL, &res) ==
            MENTIS_OK);
    CHECK_STR(PQgetvalue(res, 0, 0), "1");
    PQclear(res);
    /* Nor can a row be written into another tenant. */
    CHECK(mentis_db_exec(
              conn,
              "INSERT INTO auth.beta_usage (tenant_id, token_id, day) SELECT '" DEFAULT_TENANT
              "', id, current_date FROM auth.beta_tokens",
              0, NULL, NULL) != MENTIS_OK);
    mentis_db_tx_rollback(conn);
    mentis_db_release(db, conn);
    mentis_db_close(db);
}

/* SIGTERM: both replicas drain and exit 0 (under the sanitizers: with nothing leaked). */
static void test_clean_shutdown(void)
{
    setup();
    for (int i = 0; i < REPLICAS; i++)
        REQUIRE(h_kill(auth_pids[i], SIGTERM) == 0);
    for (int i = 0; i < REPLICAS; i++)
        CHECK_INT(h_wait_exit(auth_pids[i], 15000), 0);
}

TEST_MAIN(test_bootstrap_admin_once, test_service_info, test_refusals_for_non_admins,
          test_beta_tokens, test_tenants, test_users, test_users_list_and_pages, test_cross_tenant,
          test_audit, test_row_level_security, test_clean_shutdown)
