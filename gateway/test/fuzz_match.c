/*
 * The route matcher on arbitrary request lines: "METHOD path" (the first space splits).
 * Whatever the bytes, it must not crash, and a match must point inside the path.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "gateway.h"

static void handle(gw_request_t *req)
{
    (void)req;
}

const gw_route_t gw_routes[] = {
    {.method = "GET", .path = "/healthz", .name = "a", .handler = handle},
    {.method = "GET", .path = "/api/kb/packs/{id}", .name = "b", .handler = handle},
    {.method = "POST", .path = "/api/kb/packs/bundle", .name = "c", .handler = handle},
    {.method = "DELETE",
     .path = "/api/kb/packs/{id}/questions/{question_id}",
     .name = "d",
     .handler = handle},
    {.method = "GET",
     .path = "/api/kb/audio/{question_id}/{segment}",
     .name = "e",
     .handler = handle},
};
const size_t gw_route_count = sizeof gw_routes / sizeof gw_routes[0];

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *text = malloc(size + 1);
    if (text == NULL)
        return 0;
    memcpy(text, data, size);
    text[size] = '\0';
    char *space = strchr(text, ' ');
    const char *method = "GET", *path = text;
    if (space != NULL) {
        *space = '\0';
        method = text;
        path = space + 1;
    }
    const gw_route_t *route = NULL;
    gw_params_t params;
    char allow[160];
    gw_match_t m = gw_route_match(method, path, &route, &params, allow, sizeof allow);
    if (m == GW_MATCH_FOUND) {
        size_t plen = strlen(path);
        for (size_t i = 0; i < params.count; i++) {
            const char *v = params.items[i].value;
            if (v < path || v + params.items[i].value_len > path + plen ||
                params.items[i].value_len == 0 || !gw_text_valid(v, params.items[i].value_len))
                abort();
        }
    }
    if (strlen(allow) >= sizeof allow)
        abort();
    free(text);
    return 0;
}
