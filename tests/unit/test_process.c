/* The settings every process shares. */
#include "check.h"
#include "mentis/crypto.h"
#include "mentis/process.h"

static const char *const *env;
static const char *lookup(void *arg, const char *name)
{
    (void)arg;
    for (int i = 0; env[i]; i += 2)
        if (strcmp(env[i], name) == 0)
            return env[i + 1];
    return NULL;
}

static void test_defaults_and_random_id(void)
{
    static const char *const e[] = {NULL};
    env = e;
    mentis_config_t *cfg = NULL;
    REQUIRE(mentis_config_create(lookup, NULL, &cfg) == MENTIS_OK);
    mentis_process_settings_t s;
    mentis_process_settings_read(cfg, 9102, &s);
    CHECK_INT(mentis_config_check(cfg), MENTIS_OK);
    CHECK_STR(s.bus.url, "nats://127.0.0.1:4222");
    CHECK_STR(s.admin_addr, "127.0.0.1");
    CHECK_INT(s.admin_port, 9102);
    CHECK_INT(s.log_level, MENTIS_LOG_INFO);
    CHECK_INT(s.grace_ms, 10000);
    CHECK_STR(s.instance_id, "");
    REQUIRE(mentis_crypto_init() == MENTIS_OK);
    mentis_process_start("kb", &s);
    CHECK_INT(strlen(s.instance_id), 16);
    mentis_config_destroy(cfg);
}

static void test_values_and_refusals(void)
{
    static const char *const good[] = {"MENTIS_NATS_URL", "nats://n:4222", "MENTIS_LOG_LEVEL", "warn",
                                       "MENTIS_INSTANCE_ID", "kb-1_a", "MENTIS_ADMIN_PORT", "0", NULL};
    env = good;
    mentis_config_t *cfg = NULL;
    REQUIRE(mentis_config_create(lookup, NULL, &cfg) == MENTIS_OK);
    mentis_process_settings_t s;
    mentis_process_settings_read(cfg, 9102, &s);
    CHECK_INT(mentis_config_check(cfg), MENTIS_OK);
    CHECK_STR(s.bus.url, "nats://n:4222");
    CHECK_INT(s.log_level, MENTIS_LOG_WARN);
    CHECK_STR(s.instance_id, "kb-1_a");
    CHECK_INT(s.admin_port, 0);
    mentis_config_destroy(cfg);

    /* An instance id becomes a subject token: dots and wildcards are refused. */
    static const char *const bad[] = {"MENTIS_INSTANCE_ID", "kb.1", "MENTIS_LOG_LEVEL", "loud",
                                      "MENTIS_ADMIN_PORT", "70000", NULL};
    env = bad;
    REQUIRE(mentis_config_create(lookup, NULL, &cfg) == MENTIS_OK);
    mentis_process_settings_read(cfg, 9102, &s);
    CHECK_INT(mentis_config_check(cfg), MENTIS_ERR_INVALID_ARGUMENT);
    CHECK(strstr(mentis_err_msg(), "MENTIS_INSTANCE_ID") != NULL);
    CHECK(strstr(mentis_err_msg(), "MENTIS_LOG_LEVEL") != NULL);
    CHECK(strstr(mentis_err_msg(), "MENTIS_ADMIN_PORT") != NULL);
    mentis_config_destroy(cfg);
}

TEST_MAIN(test_defaults_and_random_id, test_values_and_refusals)
