/*
 * Client addresses on arbitrary bytes: the first line is a network for
 * MENTIS_GATEWAY_TRUSTED_PROXIES, the rest an X-Forwarded-For value from a trusted proxy.
 * Whatever the bytes, nothing crashes and the address found prints as an address.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "gateway.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size > 4096)
        return 0;
    char *text = malloc(size + 1);
    if (text == NULL)
        return 0;
    memcpy(text, data, size);
    text[size] = '\0';
    char *xff = strchr(text, '\n');
    if (xff != NULL)
        *xff++ = '\0';
    gw_settings_t s;
    memset(&s, 0, sizeof s);
    if (gw_cidr_parse(text, &s.trusted[0]))
        s.ntrusted = 1;
    uint8_t addr[16] = {0};
    gw_forwarded_for(&s, xff ? xff : text, addr);
    char ip[GW_ADDR_SIZE];
    gw_addr_str(addr, ip);
    if (ip[0] == '\0')
        abort();
    free(text);
    return 0;
}
