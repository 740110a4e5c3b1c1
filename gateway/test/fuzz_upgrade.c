/*
 * The upgrade rules on arbitrary header values: the input's lines are the path, Upgrade,
 * Connection, Sec-WebSocket-Key, -Version, -Protocol and -Extensions. Whatever the bytes,
 * the rules must not crash, must explain every refusal, and may only pass a handshake on
 * the channel path with Upgrade "websocket" and version 13.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "gateway.h"

#define FIELDS 7

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *text = malloc(size + 1);
    if (text == NULL)
        return 0;
    memcpy(text, data, size);
    text[size] = '\0';
    const char *parts[FIELDS] = {"", "", "", "", "", "", ""};
    char *p = text;
    for (int i = 0; i < FIELDS && p != NULL; i++) {
        parts[i] = p;
        p = strchr(p, '\n');
        if (p != NULL)
            *p++ = '\0';
    }
    gw_upgrade_t u;
    memset(&u, 0, sizeof u);
    u.method = "GET";
    u.http11 = true;
    u.path = parts[0];
    gw_upgrade_field_t *f[] = {&u.upgrade, &u.connection, &u.key,
                               &u.version, &u.protocol,   &u.extensions};
    for (int i = 0; i < FIELDS - 1; i++) {
        f[i]->value = parts[i + 1];
        f[i]->len = strlen(parts[i + 1]);
        f[i]->count = parts[i + 1][0] != '\0' || i < 4; /* the first four always present */
    }
    u.host = (gw_upgrade_field_t){.value = "x", .len = 1, .count = 1};
    u.http2_settings.value = u.legacy.value = "";
    static const char *const channels[] = {"/ws"};
    char why[256];
    why[0] = 'X';
    gw_upgrade_verdict_t v = gw_upgrade_check(&u, channels, 1, why, sizeof why);
    if (v == GW_UPGRADE_OK) {
        if (strcmp(u.path, "/ws") != 0 || strcasecmp(u.upgrade.value, "websocket") != 0 ||
            strcmp(u.version.value, "13") != 0 || strlen(u.key.value) != 24)
            abort();
    } else if (why[0] == 'X' || memchr(why, '\0', sizeof why) == NULL || why[0] == '\0') {
        abort();
    }
    free(text);
    return 0;
}
