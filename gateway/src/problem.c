/* RFC 9457 problem documents: every error the gateway answers has this shape. */
#include <stdlib.h>
#include <string.h>

#include "gateway.h"

const char *gw_http_reason(int status)
{
    switch (status) {
    case 200:
        return "OK";
    case 201:
        return "Created";
    case 202:
        return "Accepted";
    case 204:
        return "No Content";
    case 400:
        return "Bad Request";
    case 401:
        return "Unauthorized";
    case 403:
        return "Forbidden";
    case 404:
        return "Not Found";
    case 405:
        return "Method Not Allowed";
    case 409:
        return "Conflict";
    case 411:
        return "Length Required";
    case 412:
        return "Precondition Failed";
    case 413:
        return "Content Too Large";
    case 414:
        return "URI Too Long";
    case 415:
        return "Unsupported Media Type";
    case 422:
        return "Unprocessable Content";
    case 431:
        return "Request Header Fields Too Large";
    case 429:
        return "Too Many Requests";
    case 500:
        return "Internal Server Error";
    case 502:
        return "Bad Gateway";
    case 503:
        return "Service Unavailable";
    case 504:
        return "Gateway Timeout";
    default:
        return "Unknown";
    }
}

char *gw_problem_json(int status, const char *code, const char *detail, const char *request_id,
                      cJSON *errors, size_t *len)
{
    cJSON *doc = cJSON_CreateObject();
    if (doc == NULL) {
        cJSON_Delete(errors);
        return NULL;
    }

    char *text = NULL;
    if (cJSON_AddStringToObject(doc, "type", "about:blank") &&
        cJSON_AddStringToObject(doc, "title", gw_http_reason(status)) &&
        cJSON_AddNumberToObject(doc, "status", status) &&
        cJSON_AddStringToObject(doc, "detail", detail ? detail : "") &&
        cJSON_AddStringToObject(doc, "code", code ? code : "internal") &&
        cJSON_AddStringToObject(doc, "request_id", request_id ? request_id : "")) {
        if (errors != NULL && !cJSON_AddItemToObject(doc, "errors", errors))
            cJSON_Delete(errors);
        errors = NULL;
        text = cJSON_PrintUnformatted(doc);
    }
    cJSON_Delete(errors);
    cJSON_Delete(doc);
    if (text != NULL && len != NULL)
        *len = strlen(text);
    return text;
}
