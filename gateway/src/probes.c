/* GET /healthz (the process runs) and GET /readyz (it can serve: NATS up, not draining). */
#include "gateway.h"

void gw_healthz_handle(gw_request_t *req)
{
    cJSON *doc = cJSON_CreateObject();
    cJSON_AddStringToObject(doc, "status", "ok");
    gw_respond_json(req, 200, doc);
}

void gw_readyz_handle(gw_request_t *req)
{
    char why[128];
    if (!gw_server_ready(gw_request_server(req), why, sizeof why)) {
        gw_respond_problem(req, 503, "unavailable", "not ready: %s", why);
        return;
    }
    cJSON *doc = cJSON_CreateObject();
    cJSON_AddStringToObject(doc, "status", "ready");
    gw_respond_json(req, 200, doc);
}
