/* Every setting of the gateway, read in one place so --config lists them all. */
#include <arpa/inet.h>
#include <netinet/in.h>

#include "gateway.h"

static bool is_ip_address(const char *s)
{
    struct in6_addr a6;
    struct in_addr a4;
    return inet_pton(AF_INET, s, &a4) == 1 || inet_pton(AF_INET6, s, &a6) == 1;
}

void gw_settings_read(mentis_config_t *cfg, gw_settings_t *s)
{
    mentis_process_settings_read(cfg, 9100, &s->proc);
    s->addr = mentis_config_str(cfg, "MENTIS_GATEWAY_ADDR", "0.0.0.0",
                                "address of the public HTTP listener (IPv4 or IPv6)");
    if (s->addr == NULL || !is_ip_address(s->addr))
        mentis_config_fail(cfg, "MENTIS_GATEWAY_ADDR",
                           "expected an IPv4 or IPv6 address, got \"%s\"", s->addr ? s->addr : "");
    s->port = (int)mentis_config_int(cfg, "MENTIS_GATEWAY_PORT", 8766, 1, 65535,
                                     "port of the public HTTP listener");
    s->health_timeout_ms =
        (int)mentis_config_int(cfg, "MENTIS_GATEWAY_HEALTH_TIMEOUT_MS", 1000, 50, 60000,
                               "how long GET /api/health waits for each service's answer, ms");
    s->discovery_interval_ms =
        (int)mentis_config_int(cfg, "MENTIS_GATEWAY_DISCOVERY_INTERVAL_MS", 1000, 100, 60000,
                               "how often instances are counted with $SRV.PING, ms");
}
