/*
 * The one handler of every route that names a subject: JSON in, protobuf over NATS,
 * protobuf back, JSON out, driven only by the route's descriptors.
 *
 * Everything a request decodes or encodes lives in its own pool, destroyed when the
 * request ends. The bus request is asynchronous on the server's dispatch queue, so the
 * reply (or the deadline, or "no responders") comes back on the lws thread; a slow
 * service holds nothing but its own request.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "gateway.h"
#include "mentis/codec.h"
#include "mentis/crypto.h"
#include "mentis/pool.h"
#include "mentis/v1/common.pb-c.h"

#define POOL_BLOCK 4096
/* Decoded messages take a few times their JSON; replies are bounded by NATS' payload. */
#define POOL_CAP_BASE ((size_t)16 << 20)

struct forward {
    gw_request_t *req;
    mentis_bus_t *bus;
    mentis_pool_t *pool;
    uint8_t *data; /* the packed request, in pool */
    size_t len;
    int64_t deadline_ms;
    uint64_t id;
    bool pending;
    int attempts;
};

static void release(void *work)
{
    struct forward *f = work;
    if (f->pending)
        mentis_bus_request_cancel(f->bus, f->id);
    mentis_pool_destroy(f->pool);
    free(f);
}

static cJSON *problems_json(const mentis_codec_problems_t *p)
{
    cJSON *errors = cJSON_CreateArray();
    for (size_t i = 0; errors && i < p->count; i++) {
        cJSON *e = cJSON_CreateObject();
        cJSON_AddStringToObject(e, "field", p->items[i].field);
        cJSON_AddStringToObject(e, "message", p->items[i].message);
        cJSON_AddItemToArray(errors, e);
    }
    return errors;
}

/* Sets the path parameters, then the query, on msg; problems are gathered. */
static void merge_params(gw_request_t *req, ProtobufCMessage *msg, mentis_pool_t *pool,
                         mentis_codec_problems_t *problems)
{
    const gw_params_t *params = gw_request_params(req);
    for (size_t i = 0; i < params->count; i++) {
        char *name = mentis_pool_strndup(pool, params->items[i].name, params->items[i].name_len);
        if (name != NULL)
            mentis_codec_set_text(msg, name, params->items[i].value, params->items[i].value_len,
                                  pool, problems);
    }
    size_t n = gw_request_query_count(req);
    for (size_t i = 0; i < n; i++) {
        const char *q = gw_request_query(req, i);
        const char *eq = strchr(q, '=');
        size_t name_len = eq ? (size_t)(eq - q) : strlen(q);
        const char *value = eq ? eq + 1 : "";
        char *name = mentis_pool_strndup(pool, q, name_len);
        if (name == NULL)
            continue;
        bool name_ok = gw_text_valid(name, name_len);
        if (!name_ok || !gw_text_valid(value, strlen(value))) {
            /* The name goes into the answer only when it is text itself. */
            if (problems->count < MENTIS_CODEC_PROBLEMS_MAX) {
                mentis_codec_problem_t *p = &problems->items[problems->count++];
                snprintf(p->field, sizeof p->field, "%s", name_ok ? name : "");
                snprintf(p->message, sizeof p->message, "%s is not valid UTF-8 text",
                         name_ok ? "the value" : "a query parameter's name");
            } else {
                problems->dropped++;
            }
            continue;
        }
        mentis_codec_set_text(msg, name, value, strlen(value), pool, problems);
    }
}

/*
 * The version an If-Match header asks for (RFC 9110 section 13.1.1): 0 when the update is
 * unconditional (no header, or "*": any current version), 1 with the digits of a strong
 * entity tag ("3", also without quotes) in out, -1 when it can match no version of ours
 * (a weak tag — If-Match compares strongly — a list, or anything not a version).
 */
static int if_match_version(const char *im, char *out, size_t size)
{
    if (im[0] == '\0' || strcmp(im, "*") == 0)
        return 0;
    const char *v = im;
    size_t len = strlen(v);
    if (len >= 2 && v[0] == '"' && v[len - 1] == '"')
        v++, len -= 2;
    if (len == 0 || len >= size || len > 18)
        return -1;
    for (size_t i = 0; i < len; i++)
        if (v[i] < '0' || v[i] > '9')
            return -1;
    memcpy(out, v, len);
    out[len] = '\0';
    return 1;
}

static void *pool_alloc(void *data, size_t size)
{
    return mentis_pool_alloc(data, size);
}

static void pool_free(void *data, void *p)
{
    (void)data, (void)p; /* the pool frees everything at once */
}

/*
 * Fills the route's Location template from the reply's top-level fields (strings, or
 * integers); false when a field is missing or empty or the result does not fit.
 */
static bool location(const char *tmpl, const char *json, char *out, size_t size)
{
    cJSON *doc = cJSON_Parse(json);
    size_t n = 0;
    bool ok = doc != NULL;
    for (const char *p = tmpl; ok && *p;) {
        if (*p == '{') {
            const char *end = strchr(p, '}');
            char name[64];
            if (end == NULL || (size_t)(end - p - 1) >= sizeof name) {
                ok = false;
                break;
            }
            snprintf(name, sizeof name, "%.*s", (int)(end - p - 1), p + 1);
            cJSON *v = cJSON_GetObjectItemCaseSensitive(doc, name);
            char num[32];
            const char *text = cJSON_IsString(v) ? v->valuestring : NULL;
            if (cJSON_IsNumber(v)) {
                snprintf(num, sizeof num, "%.0f", v->valuedouble);
                text = num;
            }
            if (text == NULL || text[0] == '\0') {
                ok = false;
                break;
            }
            /* Only what is safe in a path segment goes in unescaped; the rest as %XX. */
            for (const unsigned char *c = (const unsigned char *)text; ok && *c; c++) {
                if (n + 4 >= size)
                    ok = false; /* too long for a header: better none than a wrong one */
                else if ((*c >= 'a' && *c <= 'z') || (*c >= 'A' && *c <= 'Z') ||
                         (*c >= '0' && *c <= '9') || strchr("-._~", *c))
                    out[n++] = (char)*c;
                else
                    n += (size_t)snprintf(out + n, size - n, "%%%02X", *c);
            }
            p = end + 1;
        } else {
            if (n + 1 >= size)
                ok = false;
            else
                out[n++] = *p;
            p++;
        }
    }
    out[n < size ? n : size - 1] = '\0';
    cJSON_Delete(doc);
    return ok;
}

/* A service's error reply, as a problem with its status, code, message and errors[]. */
static void answer_error(struct forward *f, mentis_msg_t *reply, mentis_status_t st,
                         const char *code, const char *message)
{
    const char *http = mentis_msg_header(reply, MENTIS_HDR_SVC_ERROR_CODE);
    long status = http ? strtol(http, NULL, 10) : 0;
    if (status < 400 || status > 599)
        status = mentis_status_http(st);
    cJSON *errors = NULL;
    Mentis__V1__ErrorDetail *detail = NULL;
    if (mentis_msg_len(reply) > 0) {
        ProtobufCAllocator a = {pool_alloc, pool_free, f->pool};
        detail =
            mentis__v1__error_detail__unpack(&a, mentis_msg_len(reply), mentis_msg_data(reply));
    }
    if (detail != NULL && detail->n_errors > 0) {
        errors = cJSON_CreateArray();
        for (size_t i = 0; errors && i < detail->n_errors; i++) {
            cJSON *e = cJSON_CreateObject();
            cJSON_AddStringToObject(e, "field", detail->errors[i]->field);
            cJSON_AddStringToObject(e, "message", detail->errors[i]->message);
            cJSON_AddItemToArray(errors, e);
        }
    }
    if (detail != NULL && detail->retry_after_seconds > 0) {
        char ra[16];
        snprintf(ra, sizeof ra, "%d", detail->retry_after_seconds);
        gw_response_header(f->req, "Retry-After", ra);
    }
    gw_respond_problem_errors(f->req, (int)status, code, errors, "%s",
                              message && message[0] ? message : gw_http_reason((int)status));
}

/* The singular message field `name` of msg's type, or NULL (route tables are checked by
 * the gateway's unit tests, so a wrong name fails there first). */
static const ProtobufCFieldDescriptor *message_field(const ProtobufCMessageDescriptor *desc,
                                                     const char *name)
{
    const ProtobufCFieldDescriptor *fd = protobuf_c_message_descriptor_get_field_by_name(desc, name);
    if (fd == NULL || fd->type != PROTOBUF_C_TYPE_MESSAGE || fd->label == PROTOBUF_C_LABEL_REPEATED)
        return NULL;
    return fd;
}

static ProtobufCMessage **message_slot(ProtobufCMessage *msg, const ProtobufCFieldDescriptor *fd)
{
    return (ProtobufCMessage **)(void *)((char *)msg + fd->offset);
}

static void answer_reply(struct forward *f, mentis_msg_t *reply)
{
    gw_request_t *req = f->req;
    const gw_route_t *route = gw_request_route(req);
    const char *code = NULL, *message = NULL;
    mentis_status_t st = mentis_msg_error(reply, &code, &message);
    if (st != MENTIS_OK) {
        answer_error(f, reply, st, code, message);
        return;
    }
    ProtobufCAllocator a = {pool_alloc, pool_free, f->pool};
    ProtobufCMessage *msg = protobuf_c_message_unpack(route->response, &a, mentis_msg_len(reply),
                                                      mentis_msg_data(reply));
    if (msg == NULL) {
        gw_respond_problem(req, 502, "bad_gateway", "%s answered with an invalid %s",
                           route->subject, route->response->name);
        return;
    }
    if (route->status == 204) {
        gw_respond(req, 204, NULL, NULL, 0);
        return;
    }
    /* A resource with a version carries it as its ETag (API.md: If-Match). */
    const ProtobufCFieldDescriptor *vf =
        protobuf_c_message_descriptor_get_field_by_name(route->response, "version");
    if (vf != NULL && vf->label != PROTOBUF_C_LABEL_REPEATED &&
        (vf->type == PROTOBUF_C_TYPE_INT64 || vf->type == PROTOBUF_C_TYPE_INT32)) {
        const char *at = (const char *)msg + vf->offset;
        long long v = vf->type == PROTOBUF_C_TYPE_INT64 ? (long long)*(const int64_t *)at
                                                        : (long long)*(const int32_t *)at;
        if (v > 0) {
            char etag[32];
            snprintf(etag, sizeof etag, "\"%lld\"", v);
            gw_response_header(req, "ETag", etag);
        }
    }
    const ProtobufCMessage *body = msg;
    if (route->response_field != NULL) {
        const ProtobufCFieldDescriptor *fd = message_field(route->response, route->response_field);
        body = fd != NULL ? *message_slot(msg, fd) : NULL;
        if (body == NULL) {
            gw_respond_problem(req, 502, "bad_gateway", "%s answered without its %s",
                               route->subject, route->response_field);
            return;
        }
    }
    char *json = NULL;
    size_t len = 0;
    if (mentis_codec_encode(body, NULL, f->pool, &json, &len) != MENTIS_OK) {
        gw_respond_problem(req, 502, "bad_gateway", "%s: %s", route->subject, mentis_err_msg());
        return;
    }
    int status = route->status ? route->status : 200;
    if (route->location != NULL) {
        char loc[GW_PATH_MAX / 4];
        if (location(route->location, json, loc, sizeof loc))
            gw_response_header(req, "Location", loc);
        status = 201;
    }
    gw_respond(req, status, "application/json", json, len);
}

static mentis_status_t send_request(struct forward *f);

static void on_reply(void *arg, mentis_status_t st, mentis_msg_t *reply)
{
    struct forward *f = arg;
    const gw_route_t *route = gw_request_route(f->req);
    f->pending = false;
    if (st == MENTIS_OK) {
        answer_reply(f, reply);
        mentis_msg_destroy(reply);
        return;
    }
    if (st == MENTIS_ERR_UNAVAILABLE && route->retry_safe && f->attempts == 1 &&
        send_request(f) == MENTIS_OK)
        return;
    if (st == MENTIS_ERR_DEADLINE_EXCEEDED) {
        gw_respond_problem(f->req, 504, "deadline_exceeded", "%s did not answer within %d ms",
                           route->subject, route->timeout_ms);
        return;
    }
    gw_response_header(f->req, "Retry-After", "1");
    gw_respond_problem(f->req, 503, "unavailable", "no service answers %s", route->subject);
}

/*
 * The headers a service gets: the request's id and trace, then who is calling, taken only
 * from the verified identity and the connection — never from the client's own headers.
 */
static size_t identity_headers(gw_request_t *req, mentis_header_t *h)
{
    const gw_identity_t *id = gw_request_identity(req);
    size_t n = 0;
    h[n++] = (mentis_header_t){MENTIS_HDR_REQUEST_ID, gw_request_id(req)};
    h[n++] = (mentis_header_t){MENTIS_HDR_TRACEPARENT, gw_request_traceparent(req)};
    h[n++] = (mentis_header_t){MENTIS_HDR_CLIENT_IP, gw_request_client(req)->ip};
    /* Only a public request may name its tenant (X-Tenant); a verified one has its own. */
    const char *tenant = id->kind == GW_PRINCIPAL_NONE ? gw_request_tenant_hint(req) : id->tenant;
    const struct {
        const char *name, *value;
    } opt[] = {
        {MENTIS_HDR_TENANT, tenant},     {MENTIS_HDR_PRINCIPAL, id->principal},
        {MENTIS_HDR_ROLES, id->role},        {MENTIS_HDR_SESSION, id->session},
        {MENTIS_HDR_DEVICE, id->device},     {MENTIS_HDR_EMAIL, id->email},
        {MENTIS_HDR_USER_AGENT, gw_request_user_agent(req)},
    };
    for (size_t i = 0; i < sizeof opt / sizeof opt[0]; i++)
        if (opt[i].value[0] != '\0')
            h[n++] = (mentis_header_t){opt[i].name, opt[i].value};
    return n;
}

static mentis_status_t send_request(struct forward *f)
{
    gw_request_t *req = f->req;
    gw_server_t *srv = gw_request_server(req);
    const gw_route_t *route = gw_request_route(req);
    mentis_header_t hdrs[12];
    size_t nh = identity_headers(req, hdrs);
    f->attempts++;
    mentis_status_t st =
        mentis_bus_request(srv->bus, route->subject, hdrs, nh, f->data, f->len, f->deadline_ms,
                           srv->dispatch, on_reply, f, &f->id);
    f->pending = st == MENTIS_OK;
    return st;
}

void gw_forward_handle(gw_request_t *req)
{
    const gw_route_t *route = gw_request_route(req);
    struct forward *f = calloc(1, sizeof *f);
    if (f == NULL) {
        gw_respond_problem(req, 500, "internal", "out of memory");
        return;
    }
    f->req = req;
    f->bus = gw_request_server(req)->bus;
    gw_request_set_work(req, f, release);
    if (mentis_pool_create(POOL_BLOCK, POOL_CAP_BASE + route->body_limit * 8, &f->pool) !=
        MENTIS_OK) {
        gw_respond_problem(req, 500, "internal", "out of memory");
        return;
    }

    size_t body_len = 0;
    const char *body = gw_request_body(req, &body_len);
    mentis_codec_problems_t problems = {0};
    mentis_codec_limits_t limits = {.max_input = route->body_limit ? route->body_limit : 2};
    ProtobufCMessage *msg = NULL;
    mentis_status_t st;
    if (route->body_field != NULL) {
        /* The body is one field; without a body that field stays unset, for the service
         * to name. */
        const ProtobufCFieldDescriptor *fd = message_field(route->request, route->body_field);
        ProtobufCMessage *part = NULL;
        st = fd == NULL ? mentis_err_set(MENTIS_ERR_INTERNAL, NULL, "no body field")
             : body_len == 0
                 ? MENTIS_OK
                 : mentis_codec_decode(fd->descriptor, body, body_len, &limits, f->pool,
                                       &problems, &part);
        if (st == MENTIS_OK) {
            mentis_codec_problems_t ignored = {0};
            st = mentis_codec_decode(route->request, "{}", 2, NULL, f->pool, &ignored, &msg);
            if (st == MENTIS_OK)
                *message_slot(msg, fd) = part;
        }
    } else {
        if (body_len == 0)
            body = "{}", body_len = 2;
        st = mentis_codec_decode(route->request, body, body_len, &limits, f->pool, &problems,
                                 &msg);
    }
    if (st == MENTIS_ERR_TOO_LARGE) {
        gw_respond_problem(req, 413, NULL, "the body of %s %s is too large", route->method,
                           route->path);
        return;
    }
    if (msg == NULL) {
        /* Still look at the parameters, so one answer lists every problem. */
        mentis_codec_problems_t ignored = {0};
        mentis_codec_decode(route->request, "{}", 2, NULL, f->pool, &ignored, &msg);
    }
    if (msg != NULL)
        merge_params(req, msg, f->pool, &problems);
    /* If-Match makes an update conditional: the version goes to the service, which
     * answers 412 when the resource has moved on. */
    if (msg != NULL &&
        protobuf_c_message_descriptor_get_field_by_name(route->request, "expected_version")) {
        char version[32];
        int m = if_match_version(gw_request_if_match(req), version, sizeof version);
        if (m < 0) {
            gw_respond_problem(req, 412, "precondition_failed",
                               "If-Match names no version of this resource (a strong entity tag "
                               "such as \"3\" is expected)");
            return;
        }
        if (m > 0)
            mentis_codec_set_text(msg, "expected_version", version, strlen(version), f->pool,
                                  &problems);
    }
    const char *hint = gw_request_tenant_hint(req);
    uint8_t tenant_id[16];
    if (hint[0] != '\0' && !mentis_crypto_uuid_parse(hint, tenant_id) &&
        problems.count < MENTIS_CODEC_PROBLEMS_MAX) {
        mentis_codec_problem_t *p = &problems.items[problems.count++];
        snprintf(p->field, sizeof p->field, "X-Tenant");
        snprintf(p->message, sizeof p->message, "must be a tenant id (a UUID)");
    }
    if (problems.count > 0 || st != MENTIS_OK || msg == NULL) {
        const mentis_codec_problem_t *first = problems.count ? &problems.items[0] : NULL;
        size_t more = problems.count + problems.dropped - (first != NULL);
        char extra[48] = "";
        if (more > 0)
            snprintf(extra, sizeof extra, " (and %zu more)", more);
        gw_respond_problem_errors(req, 400, "invalid_argument", problems_json(&problems),
                                  "%s%s%s%s", first && first->field[0] ? first->field : "",
                                  first && first->field[0] ? ": " : "",
                                  first ? first->message : "the request is not valid", extra);
        return;
    }

    f->len = protobuf_c_message_get_packed_size(msg);
    f->data = mentis_pool_alloc(f->pool, f->len ? f->len : 1);
    if (f->data == NULL) {
        gw_respond_problem(req, 413, NULL, "the request is too large");
        return;
    }
    protobuf_c_message_pack(msg, f->data);
    int timeout = route->timeout_ms > 0 ? route->timeout_ms : GW_DEFAULT_TIMEOUT_MS;
    f->deadline_ms = mentis_bus_now_ms() + timeout;
    st = send_request(f);
    if (st == MENTIS_ERR_DEADLINE_EXCEEDED) {
        gw_respond_problem(req, 504, "deadline_exceeded", "%s: no time left", route->subject);
    } else if (st == MENTIS_ERR_INVALID_ARGUMENT) {
        /* Larger than the bus carries (nats-server's max_payload). */
        gw_respond_problem(req, 413, NULL, "the request is too large to forward (%zu bytes)",
                           f->len);
    } else if (st != MENTIS_OK) {
        gw_response_header(req, "Retry-After", "1");
        gw_respond_problem(req, 503, "unavailable", "cannot reach %s: not connected to NATS",
                           route->subject);
    }
}
