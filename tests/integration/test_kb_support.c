/* The knowledge-base tests' stack and request helpers (test_kb_support.h). */
#include "test_kb_support.h"

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "mentis/crypto.h"

#define ADMIN_EMAIL    "root@example.com"
#define ADMIN_PASSWORD "bootstrap admin password"
#define PASSWORD       "correct horse battery"
#define KEK            "000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f"

kt_user_t kt_root, kt_alice, kt_bob, kt_boss, kt_carol;
h_pg_t kt_pg;
static h_nats_t nats;
static char dir[H_PATH_SIZE];
static int port;
static pid_t kb_pids[2];

static pid_t start_service(const char *name, int i, const char *const *more)
{
    static char env_nats[4][128], env_admin[4][64], env_db[4][512];
    char url[400];
    h_pg_url(&kt_pg, name, url, sizeof url);
    int admin = h_free_port();
    snprintf(env_nats[i], sizeof env_nats[i], "MENTIS_NATS_URL=%s", nats.url);
    snprintf(env_admin[i], sizeof env_admin[i], "MENTIS_ADMIN_PORT=%d", admin);
    snprintf(env_db[i], sizeof env_db[i], "MENTIS_DATABASE_URL=%s", url);
    const char *env[32] = {env_nats[i], env_admin[i], env_db[i], "MENTIS_WORKERS=4"};
    size_t n = 4;
    for (size_t k = 0; more != NULL && more[k] != NULL && n < 31; k++)
        env[n++] = more[k];
    env[n] = NULL;
    char path[600], log[H_PATH_SIZE + 32];
    snprintf(path, sizeof path, "%s/services/%s/mentis-%s", getenv("MENTIS_BUILD_DIR"), name, name);
    snprintf(log, sizeof log, "%s/%s%d.log", dir, name, i);
    const char *argv[] = {path, NULL};
    pid_t pid = h_spawn(argv, env, log);
    if (pid <= 0)
        return -1;
    if (strcmp(name, "kb") == 0)
        kb_pids[i - 1] = pid;
    /* Wait for readiness afterwards (two kb replicas start together). */
    return admin;
}

static bool sign_in(const char *tenant, const char *email, const char *password, kt_user_t *u)
{
    char body[512], h[128] = "";
    snprintf(body, sizeof body, "{\"email\":\"%s\",\"password\":\"%s\"}", email, password);
    if (tenant != NULL)
        snprintf(h, sizeof h, "X-Tenant: %s\r\n", tenant);
    gt_response_t *r = malloc(sizeof *r);
    bool ok =
        r != NULL && kt_call("POST", "/api/auth/login", NULL, h, body, r) == 0 && r->status == 200;
    if (ok) {
        cJSON *doc = kt_json(r);
        const char *a = cJSON_GetStringValue(
            cJSON_GetObjectItem(cJSON_GetObjectItem(doc, "tokens"), "access_token"));
        const char *id =
            cJSON_GetStringValue(cJSON_GetObjectItem(cJSON_GetObjectItem(doc, "user"), "id"));
        snprintf(u->access, sizeof u->access, "%s", a ? a : "");
        snprintf(u->id, sizeof u->id, "%s", id ? id : "");
        cJSON_Delete(doc);
        ok = u->access[0] != '\0';
    } else if (r != NULL) {
        fprintf(stderr, "login %s: %d %s\n", email, r->status, r->body);
    }
    free(r);
    return ok;
}

static bool post_ok(const char *path, const kt_user_t *u, const char *body, int want, char *id)
{
    gt_response_t *r = malloc(sizeof *r);
    bool ok = r != NULL && kt_call("POST", path, u, NULL, body, r) == 0 && r->status == want;
    if (r != NULL && !ok)
        fprintf(stderr, "POST %s: %d %s\n", path, r->status, r->body);
    if (ok && id != NULL)
        kt_str(r, "id", id, 64);
    free(r);
    return ok;
}

/* The end of each log, so a failed start says why (the directory goes with the run). */
static void dump_logs(void)
{
    char cmd[H_PATH_SIZE * 2];
    snprintf(cmd, sizeof cmd, "tail -n 25 %s/*.log >&2", dir);
    if (system(cmd) != 0)
        fprintf(stderr, "no logs in %s\n", dir);
}

void kt_log_errors(void)
{
    char cmd[H_PATH_SIZE * 2];
    snprintf(cmd, sizeof cmd, "grep -h '\"level\":\"error\"' %s/kb*.log | tail -n 20 >&2", dir);
    if (system(cmd) != 0)
        fprintf(stderr, "no errors logged by mentis-kb\n");
}

void kt_finish(void)
{
    /* A clean drain, and nothing the sanitizers (when built in) found on the way. */
    for (int i = 0; i < 2; i++) {
        if (kb_pids[i] <= 0)
            continue;
        h_kill(kb_pids[i], SIGTERM);
        CHECK_INT(h_wait_exit(kb_pids[i], 15000), 0);
        kb_pids[i] = 0;
    }
    char cmd[H_PATH_SIZE * 2];
    snprintf(cmd, sizeof cmd, "grep -l 'Sanitizer\\|runtime error:' %s/kb*.log >&2", dir);
    CHECK_MSG(system(cmd) != 0, "mentis-kb's logs hold sanitizer reports (see above)");
    kt_log_errors();
}

void kt_setup(void)
{
    static bool done;
    if (done)
        return;
    done = true;
    REQUIRE(mentis_crypto_init() == MENTIS_OK);
    REQUIRE(h_nats_start(&nats) == 0 && h_pg_start(&kt_pg) == 0);
    REQUIRE(h_tmpdir("kb-gw", dir, sizeof dir) == 0);
    static const char *const auth_env[] = {"MENTIS_AUTH_ARGON2_OPSLIMIT=2",
                                           "MENTIS_AUTH_ARGON2_MEMLIMIT=19922944",
                                           "MENTIS_AUTH_KEY_ENCRYPTION_KEY=" KEK,
                                           "MENTIS_AUTH_BOOTSTRAP_ADMIN_EMAIL=" ADMIN_EMAIL,
                                           "MENTIS_AUTH_BOOTSTRAP_ADMIN_PASSWORD=" ADMIN_PASSWORD,
                                           "MENTIS_AUTH_IP_THROTTLE_AFTER_FAILURES=100000",
                                           "MENTIS_SMTP_URL=smtp://127.0.0.1:9",
                                           "MENTIS_PUBLIC_URL=https://app.example.test",
                                           NULL};
    int auth_admin = start_service("auth", 0, auth_env);
    /* Two replicas at once: migrations and the seed must each happen once. */
    int kb_admin[2] = {start_service("kb", 1, NULL), start_service("kb", 2, NULL)};
    REQUIRE(auth_admin > 0 && kb_admin[0] > 0 && kb_admin[1] > 0);
    bool ready = h_wait_http(auth_admin, "/readyz", 200, 30000) == 0 &&
                 h_wait_http(kb_admin[0], "/readyz", 200, 60000) == 0 &&
                 h_wait_http(kb_admin[1], "/readyz", 200, 60000) == 0;
    if (!ready)
        dump_logs();
    REQUIRE(ready);
    static const char *const gw_env[] = {"MENTIS_GATEWAY_RATE_LOGIN=100000/min",
                                         "MENTIS_GATEWAY_RATE_REGISTER=100000/min",
                                         "MENTIS_GATEWAY_RATE_AUTHENTICATED=1000000/min",
                                         "MENTIS_GATEWAY_RATE_UNAUTHENTICATED=100000/min", NULL};
    port = h_free_port();
    char log[H_PATH_SIZE + 32];
    snprintf(log, sizeof log, "%s/gateway.log", dir);
    REQUIRE(gt_start_gateway(nats.url, port, h_free_port(), gw_env, log) > 0);

    REQUIRE(sign_in(NULL, ADMIN_EMAIL, ADMIN_PASSWORD, &kt_root));
    REQUIRE(post_ok("/api/auth/register", NULL,
                    "{\"email\":\"alice@example.org\",\"password\":\"" PASSWORD
                    "\",\"display_name\":\"Alice\"}",
                    201, NULL));
    REQUIRE(post_ok("/api/auth/register", NULL,
                    "{\"email\":\"bob@example.org\",\"password\":\"" PASSWORD
                    "\",\"display_name\":\"Bob\"}",
                    201, NULL));
    REQUIRE(sign_in(NULL, "alice@example.org", PASSWORD, &kt_alice));
    REQUIRE(sign_in(NULL, "bob@example.org", PASSWORD, &kt_bob));
    char tenant_b[64];
    REQUIRE(post_ok("/api/admin/tenants", &kt_root,
                    "{\"slug\":\"bravo\",\"name\":\"Bravo School\",\"admin_email\":"
                    "\"boss@bravo.example\",\"admin_password\":\"" PASSWORD "\"}",
                    201, tenant_b));
    REQUIRE(sign_in(tenant_b, "boss@bravo.example", PASSWORD, &kt_boss));
    REQUIRE(post_ok("/api/admin/users", &kt_boss,
                    "{\"email\":\"carol@bravo.example\",\"password\":\"" PASSWORD
                    "\",\"display_name\":\"Carol\"}",
                    201, NULL));
    REQUIRE(sign_in(tenant_b, "carol@bravo.example", PASSWORD, &kt_carol));
}

int kt_call(const char *method, const char *path, const kt_user_t *u, const char *extra,
            const char *body, gt_response_t *r)
{
    size_t size = 8192 + (body ? strlen(body) : 0);
    char *req = malloc(size);
    if (req == NULL)
        return -1;
    int n =
        snprintf(req, size, "%s %s HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n%s%s%s%s",
                 method, path, u ? "Authorization: Bearer " : "", u ? u->access : "",
                 u ? "\r\n" : "", extra ? extra : "");
    if (body != NULL)
        n += snprintf(req + n, size - (size_t)n,
                      "Content-Type: application/json\r\nContent-Length: %zu\r\n\r\n%s",
                      strlen(body), body);
    else
        n += snprintf(req + n, size - (size_t)n, "\r\n");
    int rc = n > 0 && (size_t)n < size ? gt_request(port, req, r, 30000) : -1;
    free(req);
    return rc;
}

cJSON *kt_json(const gt_response_t *r)
{
    return cJSON_Parse(r->body);
}

const char *kt_str(const gt_response_t *r, const char *key, char *out, size_t size)
{
    cJSON *doc = kt_json(r);
    const char *v = cJSON_GetStringValue(cJSON_GetObjectItem(doc, key));
    snprintf(out, size, "%s", v ? v : "");
    cJSON_Delete(doc);
    return out;
}

long long kt_num(const gt_response_t *r, const char *key)
{
    cJSON *doc = kt_json(r);
    cJSON *v = cJSON_GetObjectItem(doc, key);
    long long n = cJSON_IsNumber(v)   ? (long long)cJSON_GetNumberValue(v)
                  : cJSON_IsString(v) ? atoll(cJSON_GetStringValue(v))
                                      : -1;
    cJSON_Delete(doc);
    return n;
}

const char *kt_code(const gt_response_t *r)
{
    static char code[64];
    return kt_str(r, "code", code, sizeof code);
}

const char *kt_fields(const gt_response_t *r)
{
    static char fields[2048];
    fields[0] = '\0';
    cJSON *doc = kt_json(r), *e;
    cJSON_ArrayForEach(e, cJSON_GetObjectItem(doc, "errors"))
    {
        const char *f = cJSON_GetStringValue(cJSON_GetObjectItem(e, "field"));
        size_t n = strlen(fields);
        snprintf(fields + n, sizeof fields - n, "%s%s", n ? "," : "", f ? f : "?");
    }
    cJSON_Delete(doc);
    return fields;
}

bool kt_has_field(const gt_response_t *r, const char *field)
{
    bool found = false;
    cJSON *doc = kt_json(r), *e;
    cJSON_ArrayForEach(e, cJSON_GetObjectItem(doc, "errors"))
    {
        const char *f = cJSON_GetStringValue(cJSON_GetObjectItem(e, "field"));
        found = found || (f != NULL && strcmp(f, field) == 0);
    }
    cJSON_Delete(doc);
    return found;
}

void kt_problem(const gt_response_t *r, int status, const char *code, const char *what)
{
    CHECK_MSG(r->status == status, "%s: %d (want %d) %s", what, r->status, status, r->body);
    CHECK_MSG(strcmp(kt_code(r), code) == 0, "%s: code %s (want %s)", what, kt_code(r), code);
    char v[128];
    const char *ct = gt_header(r, "content-type", v, sizeof v);
    CHECK_MSG(ct != NULL && strncmp(ct, "application/problem+json", 24) == 0, "%s: content type %s",
              what, ct ? ct : "(none)");
}

int kt_items(const gt_response_t *r)
{
    cJSON *doc = kt_json(r);
    int n = cJSON_GetArraySize(cJSON_GetObjectItem(doc, "items"));
    cJSON_Delete(doc);
    return n;
}

int kt_items_with(const gt_response_t *r, const char *key, const char *value)
{
    cJSON *doc = kt_json(r), *item;
    int n = 0;
    cJSON_ArrayForEach(item, cJSON_GetObjectItem(doc, "items"))
    {
        const char *v = cJSON_GetStringValue(cJSON_GetObjectItem(item, key));
        n += v != NULL && strcmp(v, value) == 0;
    }
    cJSON_Delete(doc);
    return n;
}

bool kt_question(const kt_user_t *u, const char *domain_id, const char *text, const char *answer,
                 const char *extra, char id[64])
{
    char body[8192];
    snprintf(body, sizeof body,
             "{\"domain_id\":\"%s\",\"question_text\":\"%s\",\"answer_text\":\"%s\"%s}", domain_id,
             text, answer, extra ? extra : "");
    return post_ok("/api/kb/questions", u, body, 201, id);
}

bool kt_pack(const kt_user_t *u, const char *name, const char *extra, char id[64])
{
    char body[8192];
    snprintf(body, sizeof body, "{\"name\":\"%s\"%s}", name, extra ? extra : "");
    return post_ok("/api/kb/packs", u, body, 201, id);
}

bool kt_domain(const kt_user_t *u, const char *slug, char id[64])
{
    gt_response_t *r = malloc(sizeof *r);
    bool ok = false;
    id[0] = '\0';
    if (r != NULL && kt_call("GET", "/api/kb/domains?limit=200", u, NULL, NULL, r) == 0 &&
        r->status == 200) {
        cJSON *doc = kt_json(r), *item;
        cJSON_ArrayForEach(item, cJSON_GetObjectItem(doc, "items"))
        {
            const char *s = cJSON_GetStringValue(cJSON_GetObjectItem(item, "slug"));
            if (!ok && s != NULL && strcmp(s, slug) == 0) {
                snprintf(id, 64, "%s", cJSON_GetStringValue(cJSON_GetObjectItem(item, "id")));
                ok = true;
            }
        }
        cJSON_Delete(doc);
    }
    free(r);
    return ok;
}
