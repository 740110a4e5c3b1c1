/*
 * GET /api/openapi.json: an OpenAPI 3.1 document generated from the route table and the
 * protobuf descriptors, so it cannot drift from what the gateway accepts. Schemas come
 * from mentis_codec_schema (JSON Schema 2020-12, which OpenAPI 3.1 uses as is).
 *
 * The document is built per request: it is small, and building it costs less than the
 * bookkeeping of a cache.
 */
#include <stdio.h>
#include <string.h>

#include "gateway.h"
#include "mentis/codec.h"
#include "mentis/pool.h"

#define REF_PREFIX "#/components/schemas/"
#define TYPES_MAX  64

static cJSON *ref(const char *name)
{
    char buf[256];
    snprintf(buf, sizeof buf, REF_PREFIX "%s", name);
    cJSON *o = cJSON_CreateObject();
    cJSON_AddStringToObject(o, "$ref", buf);
    return o;
}

/* Adds the schema of every message type reachable from desc to schemas (once each). */
static bool add_schemas(cJSON *schemas, const ProtobufCMessageDescriptor *desc, mentis_pool_t *pool)
{
    const ProtobufCMessageDescriptor *types[TYPES_MAX];
    size_t n = 0;
    if (mentis_codec_schema_types(desc, types, TYPES_MAX, &n) != MENTIS_OK)
        return false;
    for (size_t i = 0; i < n; i++) {
        if (cJSON_GetObjectItemCaseSensitive(schemas, types[i]->name) != NULL)
            continue;
        char *text = NULL;
        if (mentis_codec_schema(types[i], REF_PREFIX, NULL, pool, &text, NULL) != MENTIS_OK)
            return false;
        cJSON *schema = cJSON_Parse(text);
        if (schema == NULL)
            return false;
        cJSON_AddItemToObject(schemas, types[i]->name, schema);
    }
    return true;
}

/* The property schema of field `name` of desc, from components (a copy), or a string. */
static cJSON *field_schema(cJSON *schemas, const ProtobufCMessageDescriptor *desc, const char *name)
{
    cJSON *props =
        desc ? cJSON_GetObjectItem(cJSON_GetObjectItem(schemas, desc->name), "properties") : NULL;
    cJSON *p = props ? cJSON_GetObjectItemCaseSensitive(props, name) : NULL;
    if (p != NULL)
        return cJSON_Duplicate(p, true);
    cJSON *o = cJSON_CreateObject();
    cJSON_AddStringToObject(o, "type", "string");
    return o;
}

static cJSON *parameter(const char *name, const char *in, bool required, cJSON *schema)
{
    cJSON *p = cJSON_CreateObject();
    cJSON_AddStringToObject(p, "name", name);
    cJSON_AddStringToObject(p, "in", in);
    cJSON_AddBoolToObject(p, "required", required);
    cJSON_AddItemToObject(p, "schema", schema);
    return p;
}

/* Path parameters from the template; for routes without a body, the other fields as query. */
static cJSON *parameters(const gw_route_t *r, cJSON *schemas)
{
    cJSON *list = cJSON_CreateArray();
    char names[GW_PARAMS_MAX][64];
    size_t count = 0;
    for (const char *p = strchr(r->path, '{'); p != NULL; p = strchr(p + 1, '{')) {
        const char *end = strchr(p, '}');
        if (end == NULL || count == GW_PARAMS_MAX)
            break;
        snprintf(names[count], sizeof names[0], "%.*s", (int)(end - p - 1), p + 1);
        cJSON_AddItemToArray(list, parameter(names[count], "path", true,
                                             field_schema(schemas, r->request, names[count])));
        count++;
    }
    if (r->request == NULL || r->body_limit > 0)
        return list;
    for (unsigned i = 0; i < r->request->n_fields; i++) {
        const ProtobufCFieldDescriptor *f = &r->request->fields[i];
        bool in_path = false;
        for (size_t k = 0; k < count; k++)
            in_path = in_path || strcmp(names[k], f->name) == 0;
        if (in_path ||
            (f->type == PROTOBUF_C_TYPE_MESSAGE && f->label != PROTOBUF_C_LABEL_REPEATED &&
             strcmp(((const ProtobufCMessageDescriptor *)f->descriptor)->name,
                    "mentis.v1.Timestamp") != 0))
            continue; /* sub-messages are not settable from text (timestamps are) */
        cJSON_AddItemToArray(
            list, parameter(f->name, "query", false, field_schema(schemas, r->request, f->name)));
    }
    return list;
}

static cJSON *json_content(cJSON *schema, const char *media)
{
    cJSON *content = cJSON_CreateObject();
    cJSON *m = cJSON_AddObjectToObject(content, media);
    cJSON_AddItemToObject(m, "schema", schema);
    return content;
}

static cJSON *operation(const gw_route_t *r, cJSON *schemas)
{
    static const char *const tiers[] = {
        [GW_TIER_PUBLIC] = "public", [GW_TIER_CLIENT] = "client", [GW_TIER_ADMIN] = "admin"};
    cJSON *op = cJSON_CreateObject();
    cJSON_AddStringToObject(op, "operationId", r->name);
    cJSON_AddStringToObject(op, "x-mentis-tier", tiers[r->tier]);
    if (r->subject)
        cJSON_AddStringToObject(op, "x-mentis-subject", r->subject);
    cJSON *params = parameters(r, schemas);
    if (cJSON_GetArraySize(params) > 0)
        cJSON_AddItemToObject(op, "parameters", params);
    else
        cJSON_Delete(params);
    if (r->request != NULL && r->body_limit > 0) {
        cJSON *body = cJSON_AddObjectToObject(op, "requestBody");
        cJSON *schema = r->body_field ? field_schema(schemas, r->request, r->body_field)
                                      : ref(r->request->name);
        cJSON_AddItemToObject(body, "content", json_content(schema, "application/json"));
    }
    if (r->tier != GW_TIER_PUBLIC) {
        /* An access token or a beta token; the admin tier needs the admin role too. */
        cJSON *security = cJSON_AddArrayToObject(op, "security");
        cJSON *scheme = cJSON_CreateObject();
        cJSON_AddArrayToObject(scheme, "bearer");
        cJSON_AddItemToArray(security, scheme);
    }
    cJSON *responses = cJSON_AddObjectToObject(op, "responses");
    int status = r->status ? r->status : r->location ? 201 : 200;
    char code[8];
    snprintf(code, sizeof code, "%d", status);
    cJSON *ok = cJSON_AddObjectToObject(responses, code);
    cJSON_AddStringToObject(ok, "description", gw_http_reason(status));
    if (status == 204) {
        /* No content. */
    } else if (r->response != NULL) {
        cJSON *schema = r->response_field ? field_schema(schemas, r->response, r->response_field)
                                          : ref(r->response->name);
        cJSON_AddItemToObject(ok, "content", json_content(schema, "application/json"));
    } else {
        cJSON *any = cJSON_CreateObject();
        cJSON_AddStringToObject(any, "type", "object");
        cJSON_AddItemToObject(ok, "content", json_content(any, "application/json"));
    }
    cJSON *problem = cJSON_AddObjectToObject(responses, "default");
    cJSON_AddStringToObject(problem, "$ref", "#/components/responses/Problem");
    return op;
}

/* The RFC 9457 problem document, with errors[] for validation. */
static cJSON *problem_schema(void)
{
    static const char text[] =
        "{\"type\":\"object\",\"properties\":{"
        "\"type\":{\"type\":\"string\"},\"title\":{\"type\":\"string\"},"
        "\"status\":{\"type\":\"integer\"},\"detail\":{\"type\":\"string\"},"
        "\"code\":{\"type\":\"string\"},\"request_id\":{\"type\":\"string\"},"
        "\"errors\":{\"type\":\"array\",\"items\":{\"type\":\"object\",\"properties\":{"
        "\"field\":{\"type\":\"string\"},\"message\":{\"type\":\"string\"}}}}},"
        "\"required\":[\"type\",\"title\",\"status\",\"detail\",\"code\",\"request_id\"]}";
    return cJSON_Parse(text);
}

static void lower(char *s)
{
    for (; *s; s++)
        if (*s >= 'A' && *s <= 'Z')
            *s = (char)(*s - 'A' + 'a');
}

cJSON *gw_openapi_document(const gw_route_t *routes, size_t n)
{
    mentis_pool_t *pool = NULL;
    if (mentis_pool_create(16384, (size_t)8 << 20, &pool) != MENTIS_OK)
        return NULL;
    cJSON *doc = cJSON_CreateObject();
    cJSON_AddStringToObject(doc, "openapi", "3.1.0");
    cJSON *info = cJSON_AddObjectToObject(doc, "info");
    cJSON_AddStringToObject(info, "title", "mentis");
    cJSON_AddStringToObject(info, "version", MENTIS_VERSION);
    cJSON *paths = cJSON_AddObjectToObject(doc, "paths");
    cJSON *components = cJSON_AddObjectToObject(doc, "components");
    cJSON *schemas = cJSON_AddObjectToObject(components, "schemas");
    cJSON_AddItemToObject(schemas, "Problem", problem_schema());
    cJSON *problem =
        cJSON_AddObjectToObject(cJSON_AddObjectToObject(components, "responses"), "Problem");
    cJSON_AddStringToObject(problem, "description", "An RFC 9457 problem");
    cJSON_AddItemToObject(problem, "content",
                          json_content(ref("Problem"), "application/problem+json"));
    cJSON *bearer = cJSON_AddObjectToObject(
        cJSON_AddObjectToObject(components, "securitySchemes"), "bearer");
    cJSON_AddStringToObject(bearer, "type", "http");
    cJSON_AddStringToObject(bearer, "scheme", "bearer");
    cJSON_AddStringToObject(bearer, "description",
                            "An access token (a JWT from /api/auth/login) or a beta token "
                            "(\"mtb_...\")");
    bool ok = doc != NULL && paths != NULL && schemas != NULL;
    for (size_t i = 0; ok && i < n; i++) {
        const gw_route_t *r = &routes[i];
        if (r->request != NULL)
            ok = add_schemas(schemas, r->request, pool);
        if (ok && r->response != NULL)
            ok = add_schemas(schemas, r->response, pool);
        cJSON *item = cJSON_GetObjectItemCaseSensitive(paths, r->path);
        if (item == NULL)
            item = cJSON_AddObjectToObject(paths, r->path);
        char method[16];
        snprintf(method, sizeof method, "%s", r->method);
        lower(method);
        if (ok && item != NULL)
            cJSON_AddItemToObject(item, method, operation(r, schemas));
    }
    mentis_pool_destroy(pool);
    if (!ok) {
        cJSON_Delete(doc);
        return NULL;
    }
    return doc;
}

void gw_openapi_handle(gw_request_t *req)
{
    cJSON *doc = gw_openapi_document(gw_routes, gw_route_count);
    if (doc == NULL) {
        gw_respond_problem(req, 500, "internal", "cannot build the OpenAPI document");
        return;
    }
    gw_respond_json(req, 200, doc);
}
