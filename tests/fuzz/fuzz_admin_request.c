/* The admin listener's request-line parser takes bytes straight from a socket. */
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "mentis/admin.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char method[16], path[256];
    if (mentis_admin_parse_request((const char *)data, size, method, sizeof method, path,
                                   sizeof path) == MENTIS_OK) {
        /* What it accepts is always a short method and a NUL-terminated path. */
        if (strlen(method) == 0 || strlen(method) >= sizeof method || path[0] != '/')
            __builtin_trap();
    }
    return 0;
}
