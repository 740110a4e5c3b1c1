/*
 * What every mentis process reads and sets up the same way, whatever its job: the NATS
 * connection settings, the admin listener's address, logging, its instance id and the
 * shutdown grace period. The gateway and the service runtime both start from here, so a
 * variable means the same thing in all seven programs and is checked the same way.
 */
#ifndef MENTIS_PROCESS_H
#define MENTIS_PROCESS_H

#include <stdbool.h>

#include "mentis/bus.h"
#include "mentis/config.h"
#include "mentis/log.h"
#include "mentis/status.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct {
    mentis_bus_options_t bus;  /* url and credentials; the caller sets name and callbacks */
    const char *admin_addr;    /* owned by the config reader */
    int admin_port;
    mentis_log_level_t log_level;
    double log_sample;
    char instance_id[65];      /* MENTIS_INSTANCE_ID, or random after mentis_process_start */
    int grace_ms;
} mentis_process_settings_t;

/*
 * Reads MENTIS_NATS_URL, _USER, _PASSWORD, _TOKEN, MENTIS_ADMIN_ADDR, MENTIS_ADMIN_PORT
 * (default `default_admin_port`), MENTIS_LOG_LEVEL, MENTIS_LOG_SAMPLE, MENTIS_INSTANCE_ID
 * (1 to 64 of [A-Za-z0-9_-]: it becomes a NATS subject token) and MENTIS_SHUTDOWN_GRACE_MS.
 * Problems are recorded in cfg; check it with mentis_config_check afterwards.
 */
void mentis_process_settings_read(mentis_config_t *cfg, int default_admin_port,
                                  mentis_process_settings_t *out);

/*
 * After a successful mentis_config_check: starts logging as `name` and gives the process a
 * random instance id when none was configured. Needs mentis_crypto_init to have run.
 */
void mentis_process_start(const char *name, mentis_process_settings_t *s);

#ifdef __cplusplus
}
#endif
#endif
