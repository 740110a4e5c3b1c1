#include "mentis/process.h"

#include <stdio.h>
#include <string.h>

#include "mentis/crypto.h"

static const char *const log_levels[] = {"debug", "info", "warn", "error", NULL};

/* The id becomes a token of $SRV.<VERB>.<name>.<id>: no dots, wildcards or spaces. */
static bool is_subject_token(const char *s)
{
    size_t n = 0;
    for (; s[n]; n++) {
        char c = s[n];
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
              c == '_' || c == '-'))
            return false;
    }
    return n >= 1 && n <= 64;
}

void mentis_process_settings_read(mentis_config_t *cfg, int default_admin_port,
                                  mentis_process_settings_t *s)
{
    memset(s, 0, sizeof *s);
    s->bus.url = mentis_config_str(cfg, "MENTIS_NATS_URL", "nats://127.0.0.1:4222",
                                   "NATS server URL(s), comma-separated");
    s->bus.user = mentis_config_str(cfg, "MENTIS_NATS_USER", NULL, "NATS user name (optional)");
    s->bus.password =
        mentis_config_secret(cfg, "MENTIS_NATS_PASSWORD", NULL, "NATS password (optional)");
    s->bus.token = mentis_config_secret(cfg, "MENTIS_NATS_TOKEN", NULL, "NATS token (optional)");
    s->admin_addr = mentis_config_str(cfg, "MENTIS_ADMIN_ADDR", "127.0.0.1",
                                      "address of the admin listener (/healthz, /readyz, /metrics)");
    s->admin_port = (int)mentis_config_int(cfg, "MENTIS_ADMIN_PORT", default_admin_port, 0, 65535,
                                           "port of the admin listener; 0 picks a free one");
    const char *level =
        mentis_config_enum(cfg, "MENTIS_LOG_LEVEL", "info", log_levels, "lowest level logged");
    s->log_level = MENTIS_LOG_INFO;
    mentis_log_level_parse(level, &s->log_level);
    s->log_sample = mentis_config_double(cfg, "MENTIS_LOG_SAMPLE", 0.1, 0, 1,
                                         "fraction of successful requests logged (errors always are)");
    const char *id = mentis_config_str(cfg, "MENTIS_INSTANCE_ID", NULL,
                                       "instance id shown by $SRV and health (random when unset)");
    if (id && *id) {
        if (is_subject_token(id))
            snprintf(s->instance_id, sizeof s->instance_id, "%s", id);
        else
            mentis_config_fail(cfg, "MENTIS_INSTANCE_ID",
                               "expected 1 to 64 characters of [A-Za-z0-9_-], got \"%.64s\"", id);
    }
    s->grace_ms = (int)mentis_config_int(cfg, "MENTIS_SHUTDOWN_GRACE_MS", 10000, 0, 600000,
                                         "time to finish in-flight work after SIGTERM, ms");
}

void mentis_process_start(const char *name, mentis_process_settings_t *s)
{
    mentis_log_init(name, s->log_level, s->log_sample);
    if (s->instance_id[0] == '\0') {
        uint8_t raw[8];
        mentis_crypto_random(raw, sizeof raw);
        mentis_crypto_hex(raw, sizeof raw, s->instance_id);
    }
}
