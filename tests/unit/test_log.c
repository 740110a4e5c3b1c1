#include <cjson/cJSON.h>
#include <fcntl.h>
#include <stdlib.h>
#include <unistd.h>

#include "check.h"
#include "mentis/log.h"

/* Runs fn with stderr sent to a file and returns what it wrote (caller frees). */
static char *capture(void (*fn)(void))
{
    char path[] = "/tmp/mentis-log-XXXXXX";
    int fd = mkstemp(path);
    int saved = dup(STDERR_FILENO);
    dup2(fd, STDERR_FILENO);
    fn();
    dup2(saved, STDERR_FILENO);
    close(saved);
    off_t size = lseek(fd, 0, SEEK_END);
    char *buf = calloc(1, (size_t)size + 1);
    pread(fd, buf, (size_t)size, 0);
    close(fd);
    unlink(path);
    return buf;
}

static void write_lines(void)
{
    mentis_log_init("kb", MENTIS_LOG_INFO, 1.0);
    mentis_log_debug("hidden");
    mentis_log_bind("req-1", "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01");
    mentis_log_info("pack %d \"created\"\n", 7);
    mentis_log_bind(NULL, NULL);
    const char *kv[] = {"route", "/api/health", "status", "200", NULL};
    mentis_log_kv(MENTIS_LOG_ERROR, "done", kv);
}

static void test_json_lines(void)
{
    char *out = capture(write_lines);
    REQUIRE(out != NULL);
    char *nl = strchr(out, '\n');
    REQUIRE(nl != NULL);
    *nl = '\0';
    cJSON *a = cJSON_Parse(out);
    cJSON *b = cJSON_Parse(nl + 1);
    REQUIRE(a != NULL && b != NULL);
    CHECK_STR(cJSON_GetObjectItem(a, "level")->valuestring, "info");
    CHECK_STR(cJSON_GetObjectItem(a, "svc")->valuestring, "kb");
    CHECK_STR(cJSON_GetObjectItem(a, "request_id")->valuestring, "req-1");
    CHECK_STR(cJSON_GetObjectItem(a, "msg")->valuestring, "pack 7 \"created\"\n");
    CHECK(cJSON_GetObjectItem(a, "traceparent") != NULL);
    CHECK(strlen(cJSON_GetObjectItem(a, "ts")->valuestring) == 24);
    CHECK(cJSON_GetObjectItem(b, "request_id") == NULL);
    CHECK_STR(cJSON_GetObjectItem(b, "route")->valuestring, "/api/health");
    CHECK_STR(cJSON_GetObjectItem(b, "level")->valuestring, "error");
    CHECK(strstr(out, "hidden") == NULL && strstr(nl + 1, "hidden") == NULL);
    cJSON_Delete(a);
    cJSON_Delete(b);
    free(out);
}

static void test_sampling(void)
{
    mentis_log_init("kb", MENTIS_LOG_INFO, 0.0);
    int kept = 0;
    for (int i = 0; i < 1000; i++)
        kept += mentis_log_sample();
    CHECK_INT(kept, 0);
    mentis_log_init("kb", MENTIS_LOG_INFO, 0.1);
    kept = 0;
    for (int i = 0; i < 100000; i++)
        kept += mentis_log_sample();
    CHECK_MSG(kept > 9000 && kept < 11000, "kept %d of 100000 at 10%%", kept);
    mentis_log_init("kb", MENTIS_LOG_INFO, 1.0);
    CHECK(mentis_log_sample());
    mentis_log_level_t lvl;
    CHECK(mentis_log_level_parse("warn", &lvl) && lvl == MENTIS_LOG_WARN);
    CHECK(!mentis_log_level_parse("loud", &lvl));
}

TEST_MAIN(test_json_lines, test_sampling)
