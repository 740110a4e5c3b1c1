/*
 * mentis-curriculum end to end, through the gateway: real nats-server, PostgreSQL,
 * mentis-auth (the bootstrap admin, learners, a second tenant), mentis-curriculum and
 * mentis-gateway.
 *
 * Every shipped UMCF example (../shared/umcf/examples, or MENTIS_UMCF_EXAMPLES) is
 * imported, listed, read, its topics and every transcript fetched, and GET …/full is
 * compared with the file structurally (both parsed, cJSON_Compare). Then the refusals:
 * broken documents with every problem listed and nothing written, a second import of one
 * identifier, non-admins, another tenant's curriculum and another learner's progress.
 * Progress upserts keep completed topics completed, are idempotent and end consistent
 * under concurrent PUTs. Updates, archives, pages and the events on NATS; and, straight over
 * NATS, the service's own checks of roles and tenant.
 */
#include <cjson/cJSON.h>
#include <dirent.h>
#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include "check.h"
#include "harness.h"
#include "mentis/bus.h"
#include "mentis/v1/curriculum.pb-c.h"
#include "test_gateway_support.h"

#define ADMIN_EMAIL    "root@example.com"
#define ADMIN_PASSWORD "bootstrap admin password"
#define PASSWORD       "correct horse battery"
#define KEK            "000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f"
#define MAX_EXAMPLES   32

static h_nats_t nats;
static h_pg_t pg;
static mentis_bus_t *bus;
static char dir[H_PATH_SIZE];
static int port;
static char admin[2048];

/* ---- HTTP with bodies of any size ---- */

typedef struct {
    int status;
    char head[8192];
    char *body; /* NUL-terminated, malloc'd */
    size_t len;
} resp_t;

static void resp_free(resp_t *r)
{
    free(r->body);
    memset(r, 0, sizeof *r);
}

static bool send_all(int fd, const char *p, size_t n)
{
    while (n > 0) {
        ssize_t w = write(fd, p, n);
        if (w <= 0)
            return false;
        p += w;
        n -= (size_t)w;
    }
    return true;
}

/* One request with "Connection: close"; reads the whole answer. 0 on success. */
static int http(const char *method, const char *path, const char *token, const char *extra,
                const char *body, resp_t *r)
{
    memset(r, 0, sizeof *r);
    int fd = gt_connect(port);
    if (fd < 0)
        return -1;
    char head[4096];
    int n = snprintf(head, sizeof head,
                     "%s %s HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n%s%s%s%s", method,
                     path, token ? "Authorization: Bearer " : "", token ? token : "",
                     token ? "\r\n" : "", extra ? extra : "");
    if (body != NULL)
        n +=
            snprintf(head + n, sizeof head - (size_t)n,
                     "Content-Type: application/json\r\nContent-Length: %zu\r\n\r\n", strlen(body));
    else
        n += snprintf(head + n, sizeof head - (size_t)n, "\r\n");
    if (n <= 0 || (size_t)n >= sizeof head || !send_all(fd, head, (size_t)n) ||
        (body != NULL && !send_all(fd, body, strlen(body)))) {
        close(fd);
        return -1;
    }
    size_t cap = 65536, len = 0;
    char *buf = malloc(cap + 1);
    long long t0 = h_now_ms();
    while (buf != NULL && h_now_ms() - t0 < 30000) {
        struct pollfd p = {.fd = fd, .events = POLLIN};
        if (poll(&p, 1, 1000) <= 0)
            continue;
        if (len == cap) {
            char *nb = realloc(buf, cap * 2 + 1);
            if (nb == NULL)
                break;
            buf = nb;
            cap *= 2;
        }
        ssize_t got = read(fd, buf + len, cap - len);
        if (got <= 0)
            break;
        len += (size_t)got;
    }
    close(fd);
    if (buf == NULL)
        return -1;
    buf[len] = '\0';
    char *sep = strstr(buf, "\r\n\r\n");
    if (sep == NULL || sscanf(buf, "HTTP/1.1 %d", &r->status) != 1) {
        free(buf);
        return -1;
    }
    size_t hl = (size_t)(sep - buf);
    snprintf(r->head, sizeof r->head, "%.*s",
             (int)(hl < sizeof r->head - 1 ? hl : sizeof r->head - 1), buf);
    r->len = len - hl - 4;
    r->body = malloc(r->len + 1);
    if (r->body == NULL) {
        free(buf);
        return -1;
    }
    memcpy(r->body, sep + 4, r->len);
    r->body[r->len] = '\0';
    free(buf);
    return 0;
}

/* A response header's value (case-insensitive name) into out; NULL when absent. */
static const char *header(const resp_t *r, const char *name, char *out, size_t size)
{
    size_t nl = strlen(name);
    for (const char *p = strstr(r->head, "\r\n"); p != NULL; p = strstr(p + 2, "\r\n")) {
        const char *line = p + 2;
        if (strncasecmp(line, name, nl) == 0 && line[nl] == ':') {
            const char *v = line + nl + 1;
            while (*v == ' ')
                v++;
            size_t vl = strcspn(v, "\r\n");
            snprintf(out, size, "%.*s", (int)vl, v);
            return out;
        }
    }
    return NULL;
}

static cJSON *json_of(const resp_t *r)
{
    return cJSON_Parse(r->body != NULL ? r->body : "");
}

static const char *str_at(const cJSON *o, const char *key)
{
    const char *s = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(o, key));
    return s != NULL ? s : "";
}

static double num_at(const cJSON *o, const char *key)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);
    if (cJSON_IsString(v))
        return strtod(v->valuestring, NULL);
    return cJSON_IsNumber(v) ? v->valuedouble : -1;
}

/* Whether the problem's errors[] names `field` (exactly). */
static bool has_error(const cJSON *problem, const char *field)
{
    const cJSON *e;
    cJSON_ArrayForEach(e, cJSON_GetObjectItemCaseSensitive(problem, "errors"))
    {
        if (strcmp(str_at(e, "field"), field) == 0)
            return true;
    }
    return false;
}

static void check_problem(const resp_t *r, int status, const char *code, const char *what)
{
    cJSON *p = json_of(r);
    CHECK_MSG(r->status == status, "%s: %d (want %d) %.300s", what, r->status, status, r->body);
    CHECK_MSG(strcmp(str_at(p, "code"), code) == 0, "%s: code %s (want %s)", what,
              str_at(p, "code"), code);
    cJSON_Delete(p);
}

/* ---- set-up ---- */

static pid_t start_service(const char *name, int admin_port, const char *const *extra)
{
    static char env_nats[2][128], env_admin[2][64], env_db[2][512];
    static int slot;
    int i = slot++ % 2;
    char url[400];
    h_pg_url(&pg, name, url, sizeof url);
    snprintf(env_nats[i], sizeof env_nats[i], "MENTIS_NATS_URL=%s", nats.url);
    snprintf(env_admin[i], sizeof env_admin[i], "MENTIS_ADMIN_PORT=%d", admin_port);
    snprintf(env_db[i], sizeof env_db[i], "MENTIS_DATABASE_URL=%s", url);
    const char *env[24] = {env_nats[i], env_admin[i], env_db[i], "MENTIS_WORKERS=4"};
    int n = 4;
    for (; extra != NULL && *extra != NULL && n < 23; extra++)
        env[n++] = *extra;
    env[n] = NULL;
    char path[600], log[H_PATH_SIZE + 32];
    snprintf(path, sizeof path, "%s/services/%s/mentis-%s", getenv("MENTIS_BUILD_DIR"), name, name);
    snprintf(log, sizeof log, "%s/%s.log", dir, name);
    const char *argv[] = {path, NULL};
    pid_t pid = h_spawn(argv, env, log);
    if (pid > 0 && h_wait_http(admin_port, "/readyz", 200, 30000) != 0)
        return -1;
    return pid;
}

/* Signs email in (with X-Tenant when tenant is not NULL); the access token into token. */
static bool sign_in(const char *tenant, const char *email, const char *password, char *token,
                    size_t size)
{
    char body[512], h[128] = "";
    snprintf(body, sizeof body, "{\"email\":\"%s\",\"password\":\"%s\"}", email, password);
    if (tenant != NULL)
        snprintf(h, sizeof h, "X-Tenant: %s\r\n", tenant);
    resp_t r;
    if (http("POST", "/api/auth/login", NULL, h, body, &r) != 0 || r.status != 200) {
        fprintf(stderr, "login %s: %d %s\n", email, r.status, r.body ? r.body : "");
        resp_free(&r);
        return false;
    }
    cJSON *doc = json_of(&r);
    snprintf(token, size, "%s",
             str_at(cJSON_GetObjectItemCaseSensitive(doc, "tokens"), "access_token"));
    cJSON_Delete(doc);
    resp_free(&r);
    return token[0] != '\0';
}

static bool make_learner(const char *email, char *token, size_t size)
{
    char body[512];
    snprintf(body, sizeof body,
             "{\"email\":\"%s\",\"password\":\"" PASSWORD "\",\"display_name\":\"Learner\"}",
             email);
    resp_t r;
    if (http("POST", "/api/auth/register", NULL, NULL, body, &r) != 0 || r.status != 201) {
        fprintf(stderr, "register %s: %d %s\n", email, r.status, r.body ? r.body : "");
        resp_free(&r);
        return false;
    }
    resp_free(&r);
    return sign_in(NULL, email, PASSWORD, token, size);
}

/* Events seen on mentis.v1.evt.curriculum.> : "<event> <curriculum id>" lines. */
static pthread_mutex_t events_lock = PTHREAD_MUTEX_INITIALIZER;
static char events[8192];

static void on_event(void *arg, mentis_msg_t *msg)
{
    (void)arg;
    Mentis__V1__Curriculum__CurriculumEvent *ev = mentis__v1__curriculum__curriculum_event__unpack(
        NULL, mentis_msg_len(msg), mentis_msg_data(msg));
    const char *subject = mentis_msg_subject(msg);
    const char *name = subject + strlen("mentis.v1.evt.curriculum.");
    size_t nl = strcspn(name, ".");
    pthread_mutex_lock(&events_lock);
    size_t n = strlen(events);
    if (ev != NULL && n < sizeof events - 128)
        snprintf(events + n, sizeof events - n, "%.*s %s %s\n", (int)nl, name, ev->curriculum_id,
                 ev->tenant_id);
    pthread_mutex_unlock(&events_lock);
    mentis__v1__curriculum__curriculum_event__free_unpacked(ev, NULL);
    mentis_msg_destroy(msg);
}

/* Whether an event line "<event> <id>" arrived within 3 s. */
static bool event_seen(const char *event, const char *id)
{
    char want[160];
    snprintf(want, sizeof want, "%s %s ", event, id);
    for (long long t0 = h_now_ms(); h_now_ms() - t0 < 3000; h_sleep_ms(20)) {
        pthread_mutex_lock(&events_lock);
        bool seen = strstr(events, want) != NULL;
        pthread_mutex_unlock(&events_lock);
        if (seen)
            return true;
    }
    return false;
}

static void setup(void)
{
    static bool done;
    if (done)
        return;
    done = true;
    REQUIRE(h_nats_start(&nats) == 0 && h_pg_start(&pg) == 0);
    REQUIRE(h_tmpdir("curriculum", dir, sizeof dir) == 0);
    static const char *const auth_env[] = {"MENTIS_AUTH_ARGON2_OPSLIMIT=2",
                                           "MENTIS_AUTH_ARGON2_MEMLIMIT=19922944",
                                           "MENTIS_AUTH_KEY_ENCRYPTION_KEY=" KEK,
                                           "MENTIS_AUTH_BOOTSTRAP_ADMIN_EMAIL=" ADMIN_EMAIL,
                                           "MENTIS_AUTH_BOOTSTRAP_ADMIN_PASSWORD=" ADMIN_PASSWORD,
                                           NULL};
    REQUIRE(start_service("auth", h_free_port(), auth_env) > 0);
    REQUIRE(start_service("curriculum", h_free_port(), NULL) > 0);
    static const char *const env[] = {"MENTIS_GATEWAY_RATE_LOGIN=100000/min",
                                      "MENTIS_GATEWAY_RATE_REGISTER=100000/min",
                                      "MENTIS_GATEWAY_RATE_AUTHENTICATED=100000/min",
                                      "MENTIS_GATEWAY_RATE_UNAUTHENTICATED=100000/min", NULL};
    port = h_free_port();
    char log[H_PATH_SIZE + 32];
    snprintf(log, sizeof log, "%s/gateway.log", dir);
    REQUIRE(gt_start_gateway(nats.url, port, h_free_port(), env, log) > 0);
    mentis_bus_options_t o = {.url = nats.url, .name = "test-curriculum"};
    REQUIRE(mentis_bus_connect(&o, &bus) == MENTIS_OK &&
            mentis_bus_wait_connected(bus, 5000) == MENTIS_OK);
    mentis_bus_sub_t *sub = NULL;
    REQUIRE(mentis_bus_subscribe(bus, "mentis.v1.evt.curriculum.>", NULL, on_event, NULL, &sub) ==
            MENTIS_OK);
    REQUIRE(sign_in(NULL, ADMIN_EMAIL, ADMIN_PASSWORD, admin, sizeof admin));
}

/* ---- the shipped examples ---- */

typedef struct {
    char name[128];
    char *text;
    char id[64]; /* the service's id once imported */
} example_t;

static example_t examples[MAX_EXAMPLES];
static int nexamples;

static char *read_file(const char *path)
{
    FILE *f = fopen(path, "rb");
    if (f == NULL)
        return NULL;
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    char *buf = n >= 0 ? malloc((size_t)n + 1) : NULL;
    if (buf != NULL && fread(buf, 1, (size_t)n, f) != (size_t)n) {
        free(buf);
        buf = NULL;
    }
    if (buf != NULL)
        buf[n] = '\0';
    fclose(f);
    return buf;
}

static int by_name(const void *a, const void *b)
{
    return strcmp(((const example_t *)a)->name, ((const example_t *)b)->name);
}

static void load_examples(void)
{
    char path[1024];
    const char *env = getenv("MENTIS_UMCF_EXAMPLES");
    if (env != NULL && env[0] != '\0')
        snprintf(path, sizeof path, "%s", env);
    else
        snprintf(path, sizeof path, "%s/../shared/umcf/examples", getenv("MENTIS_SOURCE_DIR"));
    DIR *d = opendir(path);
    CHECK_MSG(d != NULL, "the UMCF examples at %s: %s", path, strerror(errno));
    if (d == NULL)
        return;
    struct dirent *e;
    while ((e = readdir(d)) != NULL && nexamples < MAX_EXAMPLES) {
        size_t n = strlen(e->d_name);
        if (n < 6 || strcmp(e->d_name + n - 5, ".umcf") != 0)
            continue;
        example_t *x = &examples[nexamples];
        snprintf(x->name, sizeof x->name, "%s", e->d_name);
        char file[1300];
        snprintf(file, sizeof file, "%s/%s", path, e->d_name);
        x->text = read_file(file);
        CHECK_MSG(x->text != NULL, "read %s", file);
        if (x->text != NULL)
            nexamples++;
    }
    closedir(d);
    qsort(examples, (size_t)nexamples, sizeof examples[0], by_name);
}

/* Counts the document's topics (nodes without children) and, for each, checks its
 * transcript through the gateway against the document's. */
static void walk_topics(const char *id, const cJSON *nodes, int *topics, const char *what)
{
    const cJSON *node;
    cJSON_ArrayForEach(node, nodes)
    {
        const cJSON *children = cJSON_GetObjectItemCaseSensitive(node, "children");
        if (cJSON_GetArraySize(children) > 0) {
            walk_topics(id, children, topics, what);
            continue;
        }
        (*topics)++;
        const cJSON *nid = cJSON_GetObjectItemCaseSensitive(node, "id");
        const char *topic = cJSON_IsString(nid) ? nid->valuestring : str_at(nid, "value");
        char path[512];
        snprintf(path, sizeof path, "/api/curricula/%s/topics/%s/transcript", id, topic);
        resp_t r;
        REQUIRE(http("GET", path, admin, NULL, NULL, &r) == 0);
        CHECK_MSG(r.status == 200, "%s transcript %s: %d %.200s", what, topic, r.status, r.body);
        cJSON *t = json_of(&r);
        const cJSON *want = cJSON_GetObjectItemCaseSensitive(
            cJSON_GetObjectItemCaseSensitive(node, "transcript"), "segments");
        const cJSON *got = cJSON_GetObjectItemCaseSensitive(t, "segments");
        CHECK_MSG(cJSON_GetArraySize(got) == cJSON_GetArraySize(want),
                  "%s %s: %d segments, want %d", what, topic, cJSON_GetArraySize(got),
                  cJSON_GetArraySize(want));
        CHECK_INT((int)num_at(t, "total_segments") < 0 ? 0 : (int)num_at(t, "total_segments"),
                  cJSON_GetArraySize(want));
        for (int i = 0; i < cJSON_GetArraySize(want) && i < cJSON_GetArraySize(got); i++) {
            const cJSON *ws = cJSON_GetArrayItem(want, i), *gs = cJSON_GetArrayItem(got, i);
            CHECK_MSG(strcmp(str_at(ws, "content"), str_at(gs, "content")) == 0 &&
                          strcmp(str_at(ws, "id"), str_at(gs, "id")) == 0 &&
                          strcmp(str_at(ws, "type"), str_at(gs, "type")) == 0,
                      "%s %s: segment %d differs", what, topic, i);
        }
        const char *lists[] = {"misconceptions", "examples", "assessments"};
        /* Each item's id and main text, as the document has them (a UMCF key, its field). */
        const char *texts[][2][2] = {{{"misconception", "misconception"},
                                      {"correction", "correction"}},
                                     {{"title", "title"}, {"spokenContent", "spoken_content"}},
                                     {{"title", "title"}, {"prompt", "prompt"}}};
        for (int i = 0; i < 3; i++) {
            const cJSON *wl = cJSON_GetObjectItemCaseSensitive(node, lists[i]);
            const cJSON *gl = cJSON_GetObjectItemCaseSensitive(t, lists[i]);
            CHECK_MSG(cJSON_GetArraySize(gl) == cJSON_GetArraySize(wl), "%s %s: %s", what, topic,
                      lists[i]);
            for (int k = 0; k < cJSON_GetArraySize(wl) && k < cJSON_GetArraySize(gl); k++) {
                const cJSON *w = cJSON_GetArrayItem(wl, k), *g = cJSON_GetArrayItem(gl, k);
                const cJSON *wid = cJSON_GetObjectItemCaseSensitive(w, "id");
                CHECK_MSG(strcmp(cJSON_IsString(wid) ? wid->valuestring : str_at(wid, "value"),
                                 str_at(g, "id")) == 0,
                          "%s %s: %s[%d] id", what, topic, lists[i], k);
                for (int f = 0; f < 2; f++)
                    CHECK_MSG(!cJSON_IsString(cJSON_GetObjectItemCaseSensitive(w, texts[i][f][0])) ||
                                  strcmp(str_at(w, texts[i][f][0]), str_at(g, texts[i][f][1])) == 0,
                              "%s %s: %s[%d].%s", what, topic, lists[i], k, texts[i][f][1]);
            }
        }
        /* An assessment's source is its UMCF object as imported. */
        const cJSON *wa =
            cJSON_GetArrayItem(cJSON_GetObjectItemCaseSensitive(node, "assessments"), 0);
        const cJSON *ga = cJSON_GetArrayItem(cJSON_GetObjectItemCaseSensitive(t, "assessments"), 0);
        if (wa != NULL)
            CHECK_MSG(cJSON_Compare(wa, cJSON_GetObjectItemCaseSensitive(ga, "source"), true),
                      "%s %s: assessment source", what, topic);
        cJSON_Delete(t);
        resp_free(&r);
    }
}

static bool has_warning(const cJSON *answer, const char *field)
{
    const cJSON *w;
    cJSON_ArrayForEach(w, cJSON_GetObjectItemCaseSensitive(answer, "warnings"))
    {
        if (strcmp(str_at(w, "field"), field) == 0)
            return true;
    }
    return false;
}

static void test_examples_round_trip(void)
{
    setup();
    load_examples();
    CHECK_MSG(nexamples >= 8, "%d examples", nexamples);
    for (int i = 0; i < nexamples; i++) {
        example_t *x = &examples[i];
        cJSON *doc = cJSON_Parse(x->text);
        REQUIRE(doc != NULL);
        resp_t r;
        long long t0 = h_now_ms();
        REQUIRE(http("POST", "/api/admin/curricula", admin, NULL, x->text, &r) == 0);
        CHECK_MSG(r.status == 201, "import %s: %d %.500s", x->name, r.status, r.body);
        cJSON *answer = json_of(&r);
        snprintf(x->id, sizeof x->id, "%s", str_at(answer, "id"));
        printf("  %-28s %7zu bytes: imported in %lld ms, %d warnings\n", x->name, strlen(x->text),
               h_now_ms() - t0,
               cJSON_GetArraySize(cJSON_GetObjectItemCaseSensitive(answer, "warnings")));
        char v[256], want[256];
        snprintf(want, sizeof want, "/api/curricula/%s", x->id);
        CHECK_STR(header(&r, "location", v, sizeof v), want);
        /* None of the examples names formatIdentifier: each says so, and is stored anyway. */
        CHECK_MSG(has_warning(answer, "formatIdentifier"), "%s: no formatIdentifier warning",
                  x->name);
        if (strcmp(x->name, "ckla-grade-4.umcf") == 0)
            CHECK(has_warning(answer, "version.date"));
        if (strcmp(x->name, "color-theory.umcf") == 0)
            CHECK(has_warning(answer, "educational.difficulty"));
        const cJSON *c = cJSON_GetObjectItemCaseSensitive(answer, "curriculum");
        CHECK_STR(str_at(c, "title"), str_at(doc, "title"));
        CHECK_STR(str_at(c, "identifier"),
                  str_at(cJSON_GetObjectItemCaseSensitive(doc, "id"), "value"));
        CHECK(event_seen("curriculum_imported", x->id));
        cJSON_Delete(answer);
        resp_free(&r);

        /* Listed. */
        char path[512];
        REQUIRE(http("GET", "/api/curricula?limit=200", admin, NULL, NULL, &r) == 0);
        CHECK_INT(r.status, 200);
        CHECK_MSG(strstr(r.body, x->id) != NULL, "%s not listed", x->name);
        resp_free(&r);

        /* Read: topics in order, the same count as the document's leaves. */
        int topics = 0;
        walk_topics(x->id, cJSON_GetObjectItemCaseSensitive(doc, "content"), &topics, x->name);
        snprintf(path, sizeof path, "/api/curricula/%s", x->id);
        REQUIRE(http("GET", path, admin, NULL, NULL, &r) == 0);
        CHECK_MSG(r.status == 200, "get %s: %d %.200s", x->name, r.status, r.body);
        cJSON *one = json_of(&r);
        CHECK_INT(cJSON_GetArraySize(cJSON_GetObjectItemCaseSensitive(one, "topics")), topics);
        CHECK_INT((int)num_at(cJSON_GetObjectItemCaseSensitive(one, "curriculum"), "topic_count"),
                  topics);
        CHECK(header(&r, "etag", v, sizeof v) != NULL);
        const cJSON *gl = cJSON_GetObjectItemCaseSensitive(doc, "glossary");
        CHECK_INT(cJSON_GetArraySize(cJSON_GetObjectItemCaseSensitive(one, "glossary")),
                  cJSON_GetArraySize(cJSON_GetObjectItemCaseSensitive(gl, "terms")));
        cJSON_Delete(one);
        resp_free(&r);
        snprintf(path, sizeof path, "/api/curricula/%s/topics", x->id);
        REQUIRE(http("GET", path, admin, NULL, NULL, &r) == 0);
        cJSON *list = json_of(&r);
        const cJSON *items = cJSON_GetObjectItemCaseSensitive(list, "items");
        CHECK_INT(cJSON_GetArraySize(items), topics);
        for (int k = 0; k < cJSON_GetArraySize(items); k++)
            CHECK_INT((int)num_at(cJSON_GetArrayItem(items, k), "order") < 0
                          ? 0
                          : (int)num_at(cJSON_GetArrayItem(items, k), "order"),
                      k);
        cJSON_Delete(list);
        resp_free(&r);
        snprintf(path, sizeof path, "/api/curricula/%s/subjects", x->id);
        REQUIRE(http("GET", path, admin, NULL, NULL, &r) == 0);
        CHECK_INT(r.status, 200);
        resp_free(&r);

        /* The whole document back, equal to the file. */
        snprintf(path, sizeof path, "/api/curricula/%s/full", x->id);
        REQUIRE(http("GET", path, admin, NULL, NULL, &r) == 0);
        CHECK_MSG(r.status == 200, "full %s: %d %.200s", x->name, r.status, r.body);
        cJSON *full = json_of(&r);
        CHECK_MSG(full != NULL && cJSON_Compare(doc, full, true), "%s: full differs from the file",
                  x->name);
        if (full != NULL && !cJSON_Compare(doc, full, true)) {
            char out[H_PATH_SIZE + 200];
            snprintf(out, sizeof out, "%s/full-%s.json", dir, x->name);
            FILE *f = fopen(out, "w");
            if (f != NULL) {
                fputs(r.body, f);
                fclose(f);
            }
            fprintf(stderr, "  written to %s\n", out);
        }
        cJSON_Delete(full);
        resp_free(&r);
        cJSON_Delete(doc);
    }
    /* Topics of one subject: the neural-networks course node holds all eight. */
    for (int i = 0; i < nexamples; i++) {
        if (strcmp(examples[i].name, "minimal-compliance.umcf") != 0)
            continue;
        char path[512];
        resp_t r;
        snprintf(path, sizeof path, "/api/curricula/%s/topics?subject=module-1", examples[i].id);
        REQUIRE(http("GET", path, admin, NULL, NULL, &r) == 0);
        cJSON *list = json_of(&r);
        CHECK_INT(cJSON_GetArraySize(cJSON_GetObjectItemCaseSensitive(list, "items")), 2);
        cJSON_Delete(list);
        resp_free(&r);
        snprintf(path, sizeof path, "/api/curricula/%s/subjects", examples[i].id);
        REQUIRE(http("GET", path, admin, NULL, NULL, &r) == 0);
        list = json_of(&r);
        const cJSON *s = cJSON_GetArrayItem(cJSON_GetObjectItemCaseSensitive(list, "items"), 0);
        CHECK_STR(str_at(s, "id"), "module-1");
        CHECK_INT((int)num_at(s, "topic_count"), 2);
        cJSON_Delete(list);
        resp_free(&r);
        snprintf(path, sizeof path, "/api/curricula/%s/topics?subject=nope", examples[i].id);
        REQUIRE(http("GET", path, admin, NULL, NULL, &r) == 0);
        check_problem(&r, 404, "subject_not_found", "an unknown subject");
        resp_free(&r);
    }
}

/* What real files do besides the schema: every shape below is stored and comes back as it
 * was, and each deviation is reported as a warning, not refused. */
static void test_quirks_round_trip(void)
{
    setup();
    static const char doc[] =
        "{\"umcf\":\"1.0.0\",\"id\":{\"catalog\":\"internal\",\"value\":\"quirks\",\"note\":1},"
        "\"title\":\"Quirks \\u00e9\\u4e2d\",\"description\":17,\"Title\":\"shadow\","
        "\"version\":{\"number\":2,\"date\":\"2026-01-02\"},\"lifecycle\":null,"
        "\"educational\":{\"difficulty\":\"beginner\"},\"x-vendor\":{\"deep\":[1,[2,[3,{}]]]},"
        "\"glossary\":{\"note\":\"no terms here\"},"
        "\"content\":["
        " {\"id\":\"plain-string-id\",\"title\":\"S\",\"type\":\"chapter\",\"orderIndex\":1.5,"
        "  \"children\":[],\"transcript\":{\"voiceProfile\":{\"tone\":\"calm\"}},"
        "  "
        "\"media\":{\"embedded\":[{\"id\":\"m1\",\"type\":\"image\",\"url\":\"u\",\"alt\":\"a\"}],"
        "           \"layout\":\"grid\",\"reference\":[]},"
        "  \"glossaryTerms\":[{\"term\":\"t\",\"definition\":{\"rich\":true}}],"
        "  \"assessments\":[{\"id\":{\"value\":\"q\"},\"type\":\"choice\",\"title\":{\"x\":1},"
        "                  \"prompt\":\"P\",\"choices\":[{\"id\":\"a\",\"correct\":true}],"
        "                  \"scoring\":{\"maxScore\":1.25}}],"
        "  \"misconceptions\":[],\"examples\":[\"bare example\",42,null]},"
        " {\"id\":{\"value\":\"n2\"},\"type\":\"topic\",\"description\":null,"
        "  \"prerequisites\":[{\"nodeId\":\"plain-string-id\"},{\"nodeId\":\"elsewhere\"}],"
        "  \"transcript\":{\"segments\":[{\"id\":\"s\",\"type\":\"aside\",\"content\":\"c\","
        "   \"spokenText\":\"spoken\",\"glossaryRefs\":[\"t\"],\"stoppingPoint\":false},"
        "   \"a bare segment\"],\"totalDuration\":\"PT1H2M\"}}]}";
    resp_t r;
    REQUIRE(http("POST", "/api/admin/curricula", admin, NULL, doc, &r) == 0);
    CHECK_MSG(r.status == 201, "quirks: %d %.600s", r.status, r.body);
    cJSON *answer = json_of(&r);
    const char *warned[] = {"formatIdentifier",
                            "version.date",
                            "educational.difficulty",
                            "content[0].type",
                            "content[0].orderIndex",
                            "content[0].transcript",
                            "content[1].title",
                            "content[1].prerequisites[1].nodeId",
                            "content[1].transcript.segments[0].type",
                            "content[1].transcript.segments[1]",
                            "content[0].examples[0]",
                            "glossary",
                            "description"};
    for (size_t i = 0; i < sizeof warned / sizeof warned[0]; i++)
        CHECK_MSG(has_warning(answer, warned[i]), "quirks: no warning at %s in %.1500s", warned[i],
                  r.body);
    char id[64], path[256];
    snprintf(id, sizeof id, "%s", str_at(answer, "id"));
    const cJSON *c = cJSON_GetObjectItemCaseSensitive(answer, "curriculum");
    CHECK_INT((int)num_at(c, "topic_count"), 2);
    CHECK_INT((int)num_at(c, "total_duration"), 3720);
    cJSON_Delete(answer);
    resp_free(&r);
    snprintf(path, sizeof path, "/api/curricula/%s/full", id);
    REQUIRE(http("GET", path, admin, NULL, NULL, &r) == 0);
    cJSON *full = json_of(&r), *want = cJSON_Parse(doc);
    CHECK_MSG(full != NULL && cJSON_Compare(full, want, true), "quirks round trip:\n%s", r.body);
    cJSON_Delete(full);
    cJSON_Delete(want);
    resp_free(&r);
    /* A PATCHed description replaces the number the file had, in …/full too. */
    snprintf(path, sizeof path, "/api/admin/curricula/%s", id);
    REQUIRE(http("PATCH", path, admin, NULL, "{\"description\":\"Now words\"}", &r) == 0);
    CHECK_MSG(r.status == 200, "patch quirks: %d %s", r.status, r.body);
    resp_free(&r);
    snprintf(path, sizeof path, "/api/curricula/%s/full", id);
    REQUIRE(http("GET", path, admin, NULL, NULL, &r) == 0);
    full = json_of(&r);
    CHECK_STR(str_at(full, "description"), "Now words");
    CHECK_STR(str_at(full, "Title"), "shadow");
    cJSON_Delete(full);
    resp_free(&r);
    /* The transcript shows the bare segment as its content, and the spoken text. */
    snprintf(path, sizeof path, "/api/curricula/%s/topics/n2/transcript", id);
    REQUIRE(http("GET", path, admin, NULL, NULL, &r) == 0);
    cJSON *t = json_of(&r);
    const cJSON *segs = cJSON_GetObjectItemCaseSensitive(t, "segments");
    CHECK_INT(cJSON_GetArraySize(segs), 2);
    CHECK_STR(str_at(cJSON_GetArrayItem(segs, 0), "spoken_text"), "spoken");
    CHECK_STR(str_at(cJSON_GetArrayItem(segs, 1), "content"), "a bare segment");
    cJSON_Delete(t);
    resp_free(&r);
}

/* ---- refusals ---- */

static int stored_curricula(void)
{
    char v[32];
    if (h_pg_query(&pg, "SELECT count(*) FROM curriculum.curricula", v, sizeof v) != 0)
        return -1;
    return atoi(v);
}

static int stored_nodes(void)
{
    char v[32];
    if (h_pg_query(&pg, "SELECT count(*) FROM curriculum.nodes", v, sizeof v) != 0)
        return -1;
    return atoi(v);
}

static void test_broken_documents(void)
{
    setup();
    int before = stored_curricula(), nodes_before = stored_nodes();
    resp_t r;
    /* Not JSON at all: the gateway refuses it before it travels. */
    REQUIRE(http("POST", "/api/admin/curricula", admin, NULL, "{\"title\": \"x\",", &r) == 0);
    CHECK_MSG(r.status == 400, "not JSON: %d %s", r.status, r.body);
    resp_free(&r);
    REQUIRE(http("POST", "/api/admin/curricula", admin, NULL, "[1, 2]", &r) == 0);
    check_problem(&r, 400, "invalid_curriculum", "an array");
    resp_free(&r);
    /* Everything wrong at once: each problem listed with its path. */
    static const char broken[] =
        "{\"formatIdentifier\":\"umcf\",\"id\":{\"value\":\"broken-1\"},\"title\":42,"
        "\"version\":{\"number\":\"1\"},\"content\":["
        " {\"id\":{\"value\":\"a\"},\"title\":\"A\",\"type\":\"module\",\"children\":["
        "   {\"id\":{\"value\":\"b\"},\"title\":\"B\",\"type\":\"topic\","
        "    \"prerequisites\":[{\"nodeId\":\"c\",\"required\":true}],"
        "    \"transcript\":{\"segments\":[{\"id\":\"s1\",\"type\":\"lecture\",\"content\":7},"
        "                                 "
        "{\"id\":\"s1\",\"type\":\"lecture\",\"content\":\"x\"}]}},"
        "   {\"id\":{\"value\":\"c\"},\"title\":\"C\",\"type\":\"topic\","
        "    \"prerequisites\":[{\"nodeId\":\"b\"}]},"
        "   {\"id\":{\"value\":\"a\"},\"title\":\"A again\",\"type\":\"topic\"},"
        "   \"not a node\","
        "   {\"id\":{\"value\":\"d\"},\"title\":\"D\",\"type\":\"topic\",\"children\":\"none\","
        "    \"assessments\":{}}]}]}";
    REQUIRE(http("POST", "/api/admin/curricula", admin, NULL, broken, &r) == 0);
    check_problem(&r, 400, "invalid_curriculum", "a broken document");
    cJSON *p = json_of(&r);
    const char *fields[] = {"title",
                            "content[0].children[0].transcript.segments[0].content",
                            "content[0].children[0].transcript.segments[1].id",
                            "content[0].children[1].prerequisites[0].nodeId",
                            "content[0].children[2].id",
                            "content[0].children[3]",
                            "content[0].children[4].children",
                            "content[0].children[4].assessments"};
    for (size_t i = 0; i < sizeof fields / sizeof fields[0]; i++)
        CHECK_MSG(has_error(p, fields[i]), "broken document: no error at %s in %.800s", fields[i],
                  r.body);
    cJSON_Delete(p);
    resp_free(&r);
    /* No content, no title. */
    REQUIRE(http("POST", "/api/admin/curricula", admin, NULL,
                 "{\"id\":{\"value\":\"empty\"},\"content\":[]}", &r) == 0);
    check_problem(&r, 400, "invalid_curriculum", "no title, no content");
    p = json_of(&r);
    CHECK(has_error(p, "title") && has_error(p, "content"));
    cJSON_Delete(p);
    resp_free(&r);
    CHECK_INT(stored_curricula(), before);
    CHECK_INT(stored_nodes(), nodes_before);

    /* A second import of one identifier. */
    static const char small[] =
        "{\"umcf\":\"1.0.0\",\"id\":{\"value\":\"dup-check\"},\"title\":\"Once\","
        "\"version\":{\"number\":\"1.0.0\"},\"content\":[{\"id\":{\"value\":\"t\"},"
        "\"title\":\"T\",\"type\":\"lesson\",\"learningObjectives\":[\"read\",{\"id\":\"o\","
        "\"statement\":\"S\",\"bloomsLevel\":\"ponder\"}]}]}";
    REQUIRE(http("POST", "/api/admin/curricula", admin, NULL, small, &r) == 0);
    CHECK_MSG(r.status == 201, "small: %d %s", r.status, r.body);
    p = json_of(&r);
    CHECK(has_warning(p, "content[0].learningObjectives[0]"));
    CHECK(has_warning(p, "content[0].learningObjectives[1].bloomsLevel"));
    char id[64];
    snprintf(id, sizeof id, "%s", str_at(p, "id"));
    cJSON_Delete(p);
    resp_free(&r);
    REQUIRE(http("POST", "/api/admin/curricula", admin, NULL, small, &r) == 0);
    check_problem(&r, 409, "curriculum_exists", "the same identifier twice");
    resp_free(&r);
    CHECK_INT(stored_curricula(), before + 1);
    /* Its bare-string objective comes back as it was. */
    char path[256];
    snprintf(path, sizeof path, "/api/curricula/%s/full", id);
    REQUIRE(http("GET", path, admin, NULL, NULL, &r) == 0);
    cJSON *full = json_of(&r), *doc = cJSON_Parse(small);
    CHECK_MSG(cJSON_Compare(full, doc, true), "small round trip: %s", r.body);
    cJSON_Delete(full);
    cJSON_Delete(doc);
    resp_free(&r);

    /* Learners import nothing; nobody without a token reads. */
    char learner[2048];
    REQUIRE(make_learner("reader@example.com", learner, sizeof learner));
    REQUIRE(http("POST", "/api/admin/curricula", learner, NULL, small, &r) == 0);
    CHECK_INT(r.status, 403);
    resp_free(&r);
    REQUIRE(http("GET", "/api/curricula", NULL, NULL, NULL, &r) == 0);
    CHECK_INT(r.status, 401);
    resp_free(&r);
    REQUIRE(http("GET", "/api/curricula/not-a-uuid", learner, NULL, NULL, &r) == 0);
    CHECK_INT(r.status, 400);
    resp_free(&r);
    REQUIRE(http("GET", "/api/curricula/00000000-0000-7000-8000-00000000dead", learner, NULL, NULL,
                 &r) == 0);
    check_problem(&r, 404, "not_found", "an unknown curriculum");
    resp_free(&r);
    snprintf(path, sizeof path, "/api/curricula/%s/topics/nope/transcript", id);
    REQUIRE(http("GET", path, learner, NULL, NULL, &r) == 0);
    check_problem(&r, 404, "topic_not_found", "an unknown topic");
    resp_free(&r);
}

/* ---- the service itself, over NATS ---- */

/* Sends an import of `json` to mentis.v1.curriculum.admin.import with the given identity
 * headers (tenant NULL: none); the error code into code ("" on success). */
static void import_over_nats(const char *tenant, const char *roles, const char *json, char *code,
                             size_t size)
{
    Mentis__V1__JsonValue doc;
    mentis__v1__json_value__init(&doc);
    doc.json = (char *)(uintptr_t)json;
    Mentis__V1__Curriculum__ImportCurriculumRequest req;
    mentis__v1__curriculum__import_curriculum_request__init(&req);
    req.document = &doc;
    size_t n = protobuf_c_message_get_packed_size(&req.base);
    uint8_t *buf = malloc(n ? n : 1);
    code[0] = '\0';
    if (buf == NULL)
        return;
    protobuf_c_message_pack(&req.base, buf);
    mentis_header_t h[3] = {{MENTIS_HDR_ROLES, roles},
                            {MENTIS_HDR_PRINCIPAL, "00000000-0000-7000-8000-0000000000aa"},
                            {MENTIS_HDR_TENANT, tenant}};
    mentis_msg_t *reply = NULL;
    mentis_status_t st = mentis_bus_request_sync(bus, "mentis.v1.curriculum.admin.import", h,
                                                 tenant ? 3 : 2, buf, n, 10000, &reply);
    free(buf);
    if (st != MENTIS_OK) {
        snprintf(code, size, "no answer");
        return;
    }
    const char *c = NULL;
    if (mentis_msg_error(reply, &c, NULL) != MENTIS_OK)
        snprintf(code, size, "%s", c ? c : "?");
    mentis_msg_destroy(reply);
}

/* The service checks for itself what the gateway checks: a message that reaches it some
 * other way is refused the same. */
static void test_service_over_nats(void)
{
    setup();
    static const char doc[] = "{\"id\":{\"value\":\"nats-only\"},\"title\":\"N\","
                              "\"content\":[{\"id\":\"t\",\"title\":\"T\",\"type\":\"topic\"}]}";
    const char *tenant = "00000000-0000-7000-8000-000000000001";
    char code[64];
    int before = stored_curricula();
    import_over_nats(tenant, "user", doc, code, sizeof code);
    CHECK_STR(code, "permission_denied");
    import_over_nats(NULL, "admin", doc, code, sizeof code);
    CHECK_STR(code, "unauthenticated");
    import_over_nats(tenant, "admin", "{\"title\": ", code, sizeof code);
    CHECK_STR(code, "invalid_curriculum");
    CHECK_INT(stored_curricula(), before);
    import_over_nats(tenant, "admin", doc, code, sizeof code);
    CHECK_STR(code, "");
    CHECK_INT(stored_curricula(), before + 1);
}

/* ---- progress ---- */

static char progress_id[64]; /* a curriculum with topics t1..t3 */

static void import_progress_curriculum(void)
{
    if (progress_id[0] != '\0')
        return;
    static const char doc[] =
        "{\"umcf\":\"1.0.0\",\"id\":{\"value\":\"progress-course\"},\"title\":\"Progress\","
        "\"version\":{\"number\":\"1.0.0\"},\"content\":[{\"id\":{\"value\":\"u\"},"
        "\"title\":\"U\",\"type\":\"unit\",\"children\":["
        "{\"id\":{\"value\":\"t1\"},\"title\":\"One\",\"type\":\"topic\"},"
        "{\"id\":{\"value\":\"t2\"},\"title\":\"Two\",\"type\":\"topic\"},"
        "{\"id\":{\"value\":\"t3\"},\"title\":\"Three\",\"type\":\"topic\"}]}]}";
    resp_t r;
    REQUIRE(http("POST", "/api/admin/curricula", admin, NULL, doc, &r) == 0);
    CHECK_MSG(r.status == 201, "progress course: %d %s", r.status, r.body);
    cJSON *p = json_of(&r);
    snprintf(progress_id, sizeof progress_id, "%s", str_at(p, "id"));
    cJSON_Delete(p);
    resp_free(&r);
}

static int put_progress(const char *token, const char *topic, const char *body, resp_t *r)
{
    char path[256];
    snprintf(path, sizeof path, "/api/curricula/%s/topics/%s/progress", progress_id, topic);
    return http("PUT", path, token, NULL, body, r);
}

static const char *status_of(const resp_t *r)
{
    static char s[32];
    cJSON *p = json_of(r);
    snprintf(s, sizeof s, "%s", str_at(p, "status"));
    cJSON_Delete(p);
    return s;
}

static void test_progress(void)
{
    setup();
    import_progress_curriculum();
    REQUIRE(progress_id[0] != '\0');
    char ann[2048], bob[2048];
    REQUIRE(make_learner("ann@example.com", ann, sizeof ann));
    REQUIRE(make_learner("bob@example.com", bob, sizeof bob));
    resp_t r;
    REQUIRE(put_progress(ann, "t1",
                         "{\"status\":\"in_progress\",\"time_spent_seconds\":30,"
                         "\"last_segment\":2}",
                         &r) == 0);
    CHECK_MSG(r.status == 200, "put: %d %s", r.status, r.body);
    CHECK_STR(status_of(&r), "in_progress");
    resp_free(&r);
    REQUIRE(put_progress(ann, "t1",
                         "{\"status\":\"completed\",\"score\":90,"
                         "\"time_spent_seconds\":120,\"last_segment\":5}",
                         &r) == 0);
    CHECK_STR(status_of(&r), "completed");
    char first[64], again[64];
    cJSON *p = json_of(&r);
    snprintf(first, sizeof first, "%s", str_at(p, "updated_at"));
    cJSON_Delete(p);
    resp_free(&r);
    /* The same PUT again: nothing moves, not even updated_at. */
    h_sleep_ms(20);
    REQUIRE(put_progress(ann, "t1",
                         "{\"status\":\"completed\",\"score\":90,"
                         "\"time_spent_seconds\":120,\"last_segment\":5}",
                         &r) == 0);
    p = json_of(&r);
    snprintf(again, sizeof again, "%s", str_at(p, "updated_at"));
    cJSON_Delete(p);
    CHECK_STR(again, first);
    resp_free(&r);
    /* A completed topic stays completed (and keeps its score) unless reset is asked. */
    REQUIRE(put_progress(ann, "t1",
                         "{\"status\":\"in_progress\",\"score\":10,"
                         "\"time_spent_seconds\":60,\"last_segment\":1}",
                         &r) == 0);
    CHECK_STR(status_of(&r), "completed");
    p = json_of(&r);
    CHECK_INT((int)num_at(p, "score"), 90);
    CHECK_INT((int)num_at(p, "time_spent_seconds"), 120);
    cJSON_Delete(p);
    resp_free(&r);
    REQUIRE(put_progress(ann, "t2", "{\"status\":\"in_progress\",\"time_spent_seconds\":15}", &r) ==
            0);
    resp_free(&r);
    /* Bad input: every problem named. */
    REQUIRE(put_progress(ann, "t2", "{\"score\":101,\"time_spent_seconds\":-1}", &r) == 0);
    CHECK_INT(r.status, 400);
    p = json_of(&r);
    CHECK(has_error(p, "status") && has_error(p, "score") && has_error(p, "time_spent_seconds"));
    cJSON_Delete(p);
    resp_free(&r);
    REQUIRE(put_progress(ann, "u", "{\"status\":\"in_progress\"}", &r) == 0);
    check_problem(&r, 404, "topic_not_found", "progress on a subject");
    resp_free(&r);

    /* Ann's overview; Bob sees none of it. */
    char path[256];
    snprintf(path, sizeof path, "/api/curricula/%s/progress", progress_id);
    REQUIRE(http("GET", path, ann, NULL, NULL, &r) == 0);
    CHECK_MSG(r.status == 200, "progress: %d %s", r.status, r.body);
    p = json_of(&r);
    CHECK_INT((int)num_at(p, "topics_total"), 3);
    CHECK_INT((int)num_at(p, "topics_completed"), 1);
    CHECK_INT((int)num_at(p, "topics_in_progress"), 1);
    CHECK_INT((int)num_at(p, "time_spent_seconds"), 135);
    CHECK_MSG(num_at(p, "percent_complete") > 33.3 && num_at(p, "percent_complete") < 33.4,
              "percent %f", num_at(p, "percent_complete"));
    CHECK_STR(
        str_at(cJSON_GetArrayItem(cJSON_GetObjectItemCaseSensitive(p, "topics"), 2), "status"),
        "not_started");
    cJSON_Delete(p);
    resp_free(&r);
    REQUIRE(http("GET", path, bob, NULL, NULL, &r) == 0);
    p = json_of(&r);
    CHECK_INT((int)num_at(p, "topics_completed") < 0 ? 0 : (int)num_at(p, "topics_completed"), 0);
    CHECK_INT((int)num_at(p, "time_spent_seconds") < 0 ? 0 : (int)num_at(p, "time_spent_seconds"),
              0);
    cJSON_Delete(p);
    resp_free(&r);
    /* Reset moves a completed topic back. */
    REQUIRE(put_progress(ann, "t1", "{\"status\":\"in_progress\",\"reset\":true}", &r) == 0);
    CHECK_STR(status_of(&r), "in_progress");
    resp_free(&r);
}

typedef struct {
    const char *token;
    int index;
    int failures;
} putter_t;

#define PUTTERS   12
#define PUTS_EACH 8

static void *putter(void *arg)
{
    putter_t *p = arg;
    for (int i = 0; i < PUTS_EACH; i++) {
        int n = p->index * PUTS_EACH + i;
        /* One of the PUTs completes the topic; the others say in progress with their own
         * time, up to PUTTERS * PUTS_EACH * 10 seconds. */
        char body[160];
        snprintf(body, sizeof body,
                 "{\"status\":\"%s\",\"score\":%d,\"time_spent_seconds\":%d,\"last_segment\":%d}",
                 n == 17 ? "completed" : "in_progress", n % 100, (n + 1) * 10, n);
        resp_t r;
        if (put_progress(p->token, "t3", body, &r) != 0 || r.status != 200)
            p->failures++;
        resp_free(&r);
    }
    return NULL;
}

static void test_progress_concurrent(void)
{
    setup();
    import_progress_curriculum();
    REQUIRE(progress_id[0] != '\0');
    char cy[2048];
    REQUIRE(make_learner("cy@example.com", cy, sizeof cy));
    pthread_t t[PUTTERS];
    putter_t args[PUTTERS];
    for (int i = 0; i < PUTTERS; i++) {
        args[i] = (putter_t){.token = cy, .index = i};
        REQUIRE(pthread_create(&t[i], NULL, putter, &args[i]) == 0);
    }
    int failures = 0;
    for (int i = 0; i < PUTTERS; i++) {
        pthread_join(t[i], NULL);
        failures += args[i].failures;
    }
    CHECK_INT(failures, 0);
    /* One row; completed (one PUT said so and nothing may undo it); the largest time. */
    char v[64];
    REQUIRE(h_pg_query(&pg,
                       "SELECT count(*) || ' ' || min(status) || ' ' || max(time_spent_seconds) "
                       "FROM curriculum.progress WHERE topic_id = 't3'",
                       v, sizeof v) == 0);
    char want[64];
    snprintf(want, sizeof want, "1 completed %d", PUTTERS * PUTS_EACH * 10);
    CHECK_STR(v, want);
}

/* ---- administration, tenants, pages ---- */

static void test_update_archive_and_pages(void)
{
    setup();
    import_progress_curriculum();
    REQUIRE(progress_id[0] != '\0');
    char path[256], v[64], etag[64];
    snprintf(path, sizeof path, "/api/admin/curricula/%s", progress_id);
    resp_t r;
    char get_path[256];
    snprintf(get_path, sizeof get_path, "/api/curricula/%s", progress_id);
    REQUIRE(http("GET", get_path, admin, NULL, NULL, &r) == 0);
    REQUIRE(header(&r, "etag", etag, sizeof etag) != NULL);
    resp_free(&r);
    REQUIRE(http("PATCH", path, admin, "If-Match: \"999\"\r\n", "{\"title\":\"Renamed\"}", &r) ==
            0);
    CHECK_INT(r.status, 412);
    resp_free(&r);
    char h[128];
    snprintf(h, sizeof h, "If-Match: %s\r\n", etag);
    REQUIRE(http("PATCH", path, admin, h, "{\"title\":\"Renamed\"}", &r) == 0);
    CHECK_MSG(r.status == 200, "patch: %d %s", r.status, r.body);
    cJSON *p = json_of(&r);
    CHECK_STR(str_at(p, "title"), "Renamed");
    CHECK_MSG(header(&r, "etag", v, sizeof v) != NULL && strcmp(v, etag) != 0, "etag %s", v);
    cJSON_Delete(p);
    resp_free(&r);
    CHECK(event_seen("curriculum_updated", progress_id));
    REQUIRE(http("PATCH", path, admin, NULL, "{\"title\":\"\"}", &r) == 0);
    CHECK_INT(r.status, 400);
    resp_free(&r);
    /* The rename shows in the document too. */
    snprintf(get_path, sizeof get_path, "/api/curricula/%s/full", progress_id);
    REQUIRE(http("GET", get_path, admin, NULL, NULL, &r) == 0);
    p = json_of(&r);
    CHECK_STR(str_at(p, "title"), "Renamed");
    cJSON_Delete(p);
    resp_free(&r);

    /* Pages: two at a time, every curriculum once. */
    int seen = 0, pages = 0;
    char cursor[128] = "";
    char ids[64][40];
    do {
        char list[320];
        snprintf(list, sizeof list, "/api/curricula?limit=2%s%s", cursor[0] ? "&cursor=" : "",
                 cursor);
        REQUIRE(http("GET", list, admin, NULL, NULL, &r) == 0);
        REQUIRE(r.status == 200);
        p = json_of(&r);
        const cJSON *it;
        cJSON_ArrayForEach(it, cJSON_GetObjectItemCaseSensitive(p, "items"))
        {
            for (int k = 0; k < seen; k++)
                CHECK_MSG(strcmp(ids[k], str_at(it, "id")) != 0, "listed twice: %s", ids[k]);
            if (seen < 64)
                snprintf(ids[seen++], sizeof ids[0], "%s", str_at(it, "id"));
        }
        snprintf(cursor, sizeof cursor, "%s", str_at(p, "next_cursor"));
        cJSON_Delete(p);
        resp_free(&r);
        pages++;
    } while (cursor[0] != '\0' && pages < 40);
    CHECK_INT(seen, stored_curricula());
    REQUIRE(http("GET", "/api/curricula?cursor=garbage", admin, NULL, NULL, &r) == 0);
    CHECK_INT(r.status, 400);
    resp_free(&r);
    REQUIRE(http("GET", "/api/curricula?q=renaissance", admin, NULL, NULL, &r) == 0);
    p = json_of(&r);
    CHECK_INT(cJSON_GetArraySize(cJSON_GetObjectItemCaseSensitive(p, "items")), 1);
    cJSON_Delete(p);
    resp_free(&r);
    REQUIRE(http("GET", "/api/curricula?difficulty=medium", admin, NULL, NULL, &r) == 0);
    p = json_of(&r);
    CHECK_INT(cJSON_GetArraySize(cJSON_GetObjectItemCaseSensitive(p, "items")), 2);
    cJSON_Delete(p);
    resp_free(&r);

    /* Archive: gone from the list, still readable, listed with status=archived. */
    REQUIRE(http("DELETE", path, admin, NULL, NULL, &r) == 0);
    CHECK_INT(r.status, 204);
    resp_free(&r);
    CHECK(event_seen("curriculum_archived", progress_id));
    REQUIRE(http("GET", "/api/curricula?limit=200", admin, NULL, NULL, &r) == 0);
    CHECK(strstr(r.body, progress_id) == NULL);
    resp_free(&r);
    REQUIRE(http("GET", "/api/curricula?limit=200&status=archived", admin, NULL, NULL, &r) == 0);
    CHECK(strstr(r.body, progress_id) != NULL);
    resp_free(&r);
    snprintf(get_path, sizeof get_path, "/api/curricula/%s", progress_id);
    REQUIRE(http("GET", get_path, admin, NULL, NULL, &r) == 0);
    CHECK_INT(r.status, 200);
    CHECK(strstr(r.body, "\"archived\"") != NULL);
    resp_free(&r);
    /* Purge: every row of it goes, progress included. */
    snprintf(get_path, sizeof get_path, "%s?purge=true", path);
    REQUIRE(http("DELETE", get_path, admin, NULL, NULL, &r) == 0);
    CHECK_INT(r.status, 204);
    resp_free(&r);
    REQUIRE(h_pg_query(&pg,
                       "SELECT (SELECT count(*) FROM curriculum.nodes WHERE node_id IN "
                       "('t1','t2','t3')) + (SELECT count(*) FROM curriculum.progress)",
                       v, sizeof v) == 0);
    CHECK_STR(v, "0");
    REQUIRE(http("DELETE", path, admin, NULL, NULL, &r) == 0);
    CHECK_INT(r.status, 404);
    resp_free(&r);
}

static void test_tenant_isolation(void)
{
    setup();
    resp_t r;
    REQUIRE(http("POST", "/api/admin/tenants", admin, NULL,
                 "{\"slug\":\"bravo\",\"name\":\"Bravo School\",\"admin_email\":"
                 "\"boss@bravo.example\",\"admin_password\":\"" PASSWORD "\"}",
                 &r) == 0);
    CHECK_MSG(r.status == 201, "tenant: %d %s", r.status, r.body);
    cJSON *p = json_of(&r);
    char tenant[64], boss[2048];
    snprintf(tenant, sizeof tenant, "%s", str_at(p, "id"));
    cJSON_Delete(p);
    resp_free(&r);
    REQUIRE(sign_in(tenant, "boss@bravo.example", PASSWORD, boss, sizeof boss));
    /* Every table of the schema has Row-Level Security, forced (the service's role owns
     * them), with the tenant policy. */
    char v[64];
    REQUIRE(
        h_pg_query(&pg,
                   "SELECT count(*) FILTER (WHERE NOT (c.relrowsecurity AND c.relforcerowsecurity "
                   "AND EXISTS (SELECT 1 FROM pg_policy p WHERE p.polrelid = c.oid))) || '/' || "
                   "count(*) FROM pg_class c WHERE c.relnamespace = 'curriculum'::regnamespace "
                   "AND c.relkind = 'r' AND c.relname <> 'schema_migrations'",
                   v, sizeof v) == 0);
    CHECK_STR(v, "0/10");
    /* A's curricula are invisible to B: the list, one by id, its document, its progress. */
    REQUIRE(nexamples > 0 && examples[0].id[0] != '\0');
    const char *a_id = examples[0].id;
    REQUIRE(http("GET", "/api/curricula", boss, NULL, NULL, &r) == 0);
    CHECK_INT(r.status, 200);
    CHECK(strstr(r.body, a_id) == NULL);
    resp_free(&r);
    /* not_found, the curriculum's: not topic_not_found, which would say it exists. */
    const char *suffixes[] = {"",          "/full",     "/topics",
                              "/subjects", "/progress", "/topics/any/transcript"};
    for (size_t i = 0; i < sizeof suffixes / sizeof suffixes[0]; i++) {
        char path[256];
        snprintf(path, sizeof path, "/api/curricula/%s%s", a_id, suffixes[i]);
        REQUIRE(http("GET", path, boss, NULL, NULL, &r) == 0);
        check_problem(&r, 404, "not_found", path);
        resp_free(&r);
    }
    {
        char path[256];
        snprintf(path, sizeof path, "/api/curricula/%s/topics/any/progress", a_id);
        REQUIRE(http("PUT", path, boss, NULL, "{\"status\":\"completed\"}", &r) == 0);
        check_problem(&r, 404, "not_found", "B writes progress on A's curriculum");
        resp_free(&r);
    }
    char path[256];
    snprintf(path, sizeof path, "/api/admin/curricula/%s", a_id);
    REQUIRE(http("PATCH", path, boss, NULL, "{\"title\":\"Taken\"}", &r) == 0);
    CHECK_INT(r.status, 404);
    resp_free(&r);
    REQUIRE(http("DELETE", path, boss, NULL, NULL, &r) == 0);
    CHECK_INT(r.status, 404);
    resp_free(&r);
    /* B may import the same document: identifiers are per tenant. */
    REQUIRE(http("POST", "/api/admin/curricula", boss, NULL, examples[0].text, &r) == 0);
    CHECK_MSG(r.status == 201, "B imports: %d %.300s", r.status, r.body);
    p = json_of(&r);
    CHECK(strcmp(str_at(p, "id"), a_id) != 0);
    CHECK(event_seen("curriculum_imported", str_at(p, "id")));
    cJSON_Delete(p);
    resp_free(&r);
    REQUIRE(http("GET", "/api/curricula", boss, NULL, NULL, &r) == 0);
    p = json_of(&r);
    CHECK_INT(cJSON_GetArraySize(cJSON_GetObjectItemCaseSensitive(p, "items")), 1);
    cJSON_Delete(p);
    resp_free(&r);
}

TEST_MAIN(test_examples_round_trip, test_quirks_round_trip, test_broken_documents,
          test_service_over_nats, test_progress, test_progress_concurrent,
          test_update_archive_and_pages, test_tenant_isolation)
