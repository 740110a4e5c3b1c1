#include <stdlib.h>
#include <unistd.h>

#include "check.h"
#include "mentis/config.h"

/* A fake environment: alternating names and values. */
static const char *const *env;
static const char *lookup(void *arg, const char *name)
{
    (void)arg;
    for (int i = 0; env[i]; i += 2)
        if (strcmp(env[i], name) == 0)
            return env[i + 1];
    return NULL;
}

static void test_defaults_and_values(void)
{
    static const char *const e[] = {"MENTIS_PORT", "9000", "MENTIS_ON", "Yes", "MENTIS_RATE",
                                    "0.25", "MENTIS_MODE", "file", "MENTIS_NAME", "", NULL};
    static const char *const modes[] = {"smtp", "file", NULL};
    env = e;
    mentis_config_t *cfg = NULL;
    REQUIRE(mentis_config_create(lookup, NULL, &cfg) == MENTIS_OK);
    CHECK_INT(mentis_config_int(cfg, "MENTIS_PORT", 8766, 1, 65535, "port"), 9000);
    CHECK_INT(mentis_config_int(cfg, "MENTIS_UNSET", 7, 1, 10, "unset"), 7);
    CHECK(mentis_config_bool(cfg, "MENTIS_ON", false, "on"));
    CHECK(mentis_config_double(cfg, "MENTIS_RATE", 1, 0, 1, "rate") == 0.25);
    CHECK_STR(mentis_config_enum(cfg, "MENTIS_MODE", "smtp", modes, "mode"), "file");
    CHECK_STR(mentis_config_str(cfg, "MENTIS_NAME", "x", "name"), "");
    CHECK_INT(mentis_config_check(cfg), MENTIS_OK);
    mentis_config_destroy(cfg);
}

static void test_bad_values_named(void)
{
    static const char *const e[] = {"MENTIS_PORT", "http", "MENTIS_BIG", "70000", "MENTIS_ON",
                                    "maybe", "MENTIS_RATE", "nan", "MENTIS_MODE", "pigeon",
                                    "MENTIS_NEG", " 5", NULL};
    static const char *const modes[] = {"smtp", "file", NULL};
    env = e;
    mentis_config_t *cfg = NULL;
    REQUIRE(mentis_config_create(lookup, NULL, &cfg) == MENTIS_OK);
    CHECK_INT(mentis_config_int(cfg, "MENTIS_PORT", 8766, 1, 65535, "port"), 8766);
    mentis_config_int(cfg, "MENTIS_BIG", 1, 1, 65535, "big");
    mentis_config_bool(cfg, "MENTIS_ON", false, "on");
    mentis_config_double(cfg, "MENTIS_RATE", 1, 0, 1, "rate");
    mentis_config_enum(cfg, "MENTIS_MODE", "smtp", modes, "mode");
    mentis_config_int(cfg, "MENTIS_NEG", 1, 0, 10, "leading space");
    CHECK_INT(mentis_config_check(cfg), MENTIS_ERR_INVALID_ARGUMENT);
    const char *msg = mentis_err_msg();
    CHECK(strstr(msg, "MENTIS_PORT: expected an integer from 1 to 65535, got \"http\"") != NULL);
    CHECK(strstr(msg, "MENTIS_BIG") != NULL);
    CHECK(strstr(msg, "MENTIS_ON") != NULL);
    CHECK(strstr(msg, "MENTIS_RATE") != NULL);
    CHECK(strstr(msg, "MENTIS_MODE: expected one of smtp, file") != NULL);
    CHECK(strstr(msg, "MENTIS_NEG") != NULL);
    CHECK_STR(mentis_err_code(), "invalid_configuration");
    mentis_config_destroy(cfg);
}

static void test_secret_file(void)
{
    char path[] = "/tmp/mentis-secret-XXXXXX";
    int fd = mkstemp(path);
    REQUIRE(fd >= 0);
    REQUIRE(write(fd, "s3cret\n", 7) == 7);
    close(fd);
    const char *e1[] = {"MENTIS_DB_URL_FILE", path, NULL};
    env = e1;
    mentis_config_t *cfg = NULL;
    REQUIRE(mentis_config_create(lookup, NULL, &cfg) == MENTIS_OK);
    CHECK_STR(mentis_config_secret(cfg, "MENTIS_DB_URL", "", "db"), "s3cret");
    CHECK_INT(mentis_config_check(cfg), MENTIS_OK);
    mentis_config_destroy(cfg);

    const char *e2[] = {"MENTIS_DB_URL_FILE", path, "MENTIS_DB_URL", "direct", NULL};
    env = e2;
    REQUIRE(mentis_config_create(lookup, NULL, &cfg) == MENTIS_OK);
    mentis_config_secret(cfg, "MENTIS_DB_URL", "", "db");
    CHECK_INT(mentis_config_check(cfg), MENTIS_ERR_INVALID_ARGUMENT);
    CHECK(strstr(mentis_err_msg(), "not both") != NULL);
    CHECK(strstr(mentis_err_msg(), "direct") == NULL); /* secrets are never echoed */
    mentis_config_destroy(cfg);

    unlink(path);
    const char *e3[] = {"MENTIS_DB_URL_FILE", path, NULL};
    env = e3;
    REQUIRE(mentis_config_create(lookup, NULL, &cfg) == MENTIS_OK);
    mentis_config_secret(cfg, "MENTIS_DB_URL", "", "db");
    CHECK_INT(mentis_config_check(cfg), MENTIS_ERR_INVALID_ARGUMENT);
    CHECK(strstr(mentis_err_msg(), "MENTIS_DB_URL_FILE: cannot open") != NULL);
    mentis_config_destroy(cfg);
}

static void test_describe(void)
{
    static const char *const e[] = {NULL};
    env = e;
    mentis_config_t *cfg = NULL;
    REQUIRE(mentis_config_create(lookup, NULL, &cfg) == MENTIS_OK);
    mentis_config_int(cfg, "MENTIS_GATEWAY_PORT", 8766, 1, 65535, "public HTTP port");
    mentis_config_secret(cfg, "MENTIS_DB_URL", "", "database URL");
    char buf[1024] = {0};
    FILE *f = fmemopen(buf, sizeof buf - 1, "w");
    REQUIRE(f != NULL);
    mentis_config_describe(cfg, f);
    fclose(f);
    CHECK(strstr(buf, "| `MENTIS_GATEWAY_PORT` | `8766` | public HTTP port |") != NULL);
    CHECK(strstr(buf, "| `MENTIS_DB_URL` (or `_FILE`) | — | database URL |") != NULL);
    mentis_config_destroy(cfg);
}

TEST_MAIN(test_defaults_and_values, test_bad_values_named, test_secret_file, test_describe)
