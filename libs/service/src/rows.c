/* Query results onto protobuf messages by column name (mentis/rows.h). */
#include <ctype.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "mentis/rows.h"
#include "mentis/v1/common.pb-c.h"

static mentis_status_t no_memory(void)
{
    return mentis_err_set(MENTIS_ERR_NO_MEMORY, NULL, "rows: no memory");
}

/* Where the field's value is, marking it present when the field has a presence flag
 * (proto3 optional) or is a member of a oneof. */
static void *field_at(ProtobufCMessage *msg, const ProtobufCFieldDescriptor *fd)
{
    char *base = (char *)msg;
    if (fd->label != PROTOBUF_C_LABEL_REPEATED && fd->quantifier_offset != 0) {
        if (fd->flags & PROTOBUF_C_FIELD_FLAG_ONEOF) {
            uint32_t which = fd->id;
            memcpy(base + fd->quantifier_offset, &which, sizeof which);
        } else {
            protobuf_c_boolean has = 1;
            memcpy(base + fd->quantifier_offset, &has, sizeof has);
        }
    }
    return base + fd->offset;
}

/* The enum value whose name ends in "_<text>" (any case); NULL when none does. */
static const ProtobufCEnumValue *enum_value(const ProtobufCEnumDescriptor *ed, const char *text)
{
    size_t n = strlen(text);
    for (unsigned i = 0; i < ed->n_values; i++) {
        const char *name = ed->values[i].name;
        size_t len = strlen(name);
        if (n == 0 || len <= n || name[len - n - 1] != '_')
            continue;
        size_t k = 0;
        while (k < n && toupper((unsigned char)text[k]) == name[len - n + k])
            k++;
        if (k == n)
            return &ed->values[i];
    }
    return NULL;
}

/* A JSON array of strings into a repeated string field; its other elements are skipped. */
static mentis_status_t read_strings(mentis_pool_t *pool, const char *json, ProtobufCMessage *msg,
                                    const ProtobufCFieldDescriptor *fd)
{
    cJSON *arr = cJSON_Parse(json);
    if (!cJSON_IsArray(arr)) { /* a stored value of another shape lists nothing */
        cJSON_Delete(arr);
        return MENTIS_OK;
    }
    size_t count = (size_t)cJSON_GetArraySize(arr), n = 0;
    char **items = mentis_pool_calloc(pool, count ? count : 1, sizeof *items);
    if (items == NULL) {
        cJSON_Delete(arr);
        return no_memory();
    }
    const cJSON *s;
    cJSON_ArrayForEach(s, arr)
    {
        if (cJSON_IsString(s) && (items[n] = mentis_pool_strdup(pool, s->valuestring)) != NULL)
            n++;
    }
    cJSON_Delete(arr);
    memcpy((char *)msg + fd->quantifier_offset, &n, sizeof n);
    memcpy((char *)msg + fd->offset, &items, sizeof items);
    return MENTIS_OK;
}

/* A mentis.v1.JsonValue or mentis.v1.Timestamp from its column. */
static mentis_status_t read_message(mentis_pool_t *pool, const char *v, ProtobufCMessage *msg,
                                    const ProtobufCFieldDescriptor *fd)
{
    void *m = NULL;
    if (fd->descriptor == &mentis__v1__json_value__descriptor) {
        Mentis__V1__JsonValue *j = mentis_pool_alloc(pool, sizeof *j);
        if (j != NULL) {
            mentis__v1__json_value__init(j);
            j->json = mentis_pool_strdup(pool, v);
        }
        m = j != NULL && j->json != NULL ? j : NULL;
    } else if (fd->descriptor == &mentis__v1__timestamp__descriptor) {
        int64_t ms = strtoll(v, NULL, 10);
        Mentis__V1__Timestamp *t = mentis_pool_alloc(pool, sizeof *t);
        if (t != NULL) {
            mentis__v1__timestamp__init(t);
            t->seconds = ms / 1000;
            t->nanos = (int32_t)(ms % 1000) * 1000000;
        }
        m = t;
    } else {
        return mentis_err_set(MENTIS_ERR_INTERNAL, NULL,
                              "rows: column %s names a message field rows cannot fill", fd->name);
    }
    if (m == NULL)
        return no_memory();
    memcpy(field_at(msg, fd), &m, sizeof m);
    return MENTIS_OK;
}

static mentis_status_t read_field(mentis_pool_t *pool, const char *v, ProtobufCMessage *msg,
                                  const ProtobufCFieldDescriptor *fd)
{
    if (fd->label == PROTOBUF_C_LABEL_REPEATED) {
        if (fd->type != PROTOBUF_C_TYPE_STRING)
            return mentis_err_set(MENTIS_ERR_INTERNAL, NULL,
                                  "rows: column %s names a repeated field that is not of strings",
                                  fd->name);
        return read_strings(pool, v, msg, fd);
    }
    switch (fd->type) {
    case PROTOBUF_C_TYPE_STRING: {
        char *s = mentis_pool_strdup(pool, v);
        if (s == NULL)
            return no_memory();
        memcpy(field_at(msg, fd), &s, sizeof s);
        return MENTIS_OK;
    }
    case PROTOBUF_C_TYPE_INT32:
    case PROTOBUF_C_TYPE_SINT32:
    case PROTOBUF_C_TYPE_SFIXED32:
    case PROTOBUF_C_TYPE_UINT32:
    case PROTOBUF_C_TYPE_FIXED32: {
        int32_t x = (int32_t)strtoll(v, NULL, 10);
        memcpy(field_at(msg, fd), &x, sizeof x);
        return MENTIS_OK;
    }
    case PROTOBUF_C_TYPE_INT64:
    case PROTOBUF_C_TYPE_SINT64:
    case PROTOBUF_C_TYPE_SFIXED64:
    case PROTOBUF_C_TYPE_UINT64:
    case PROTOBUF_C_TYPE_FIXED64: {
        int64_t x = strtoll(v, NULL, 10);
        memcpy(field_at(msg, fd), &x, sizeof x);
        return MENTIS_OK;
    }
    case PROTOBUF_C_TYPE_BOOL: {
        protobuf_c_boolean b = v[0] == 't';
        memcpy(field_at(msg, fd), &b, sizeof b);
        return MENTIS_OK;
    }
    case PROTOBUF_C_TYPE_DOUBLE: {
        double d = strtod(v, NULL);
        memcpy(field_at(msg, fd), &d, sizeof d);
        return MENTIS_OK;
    }
    case PROTOBUF_C_TYPE_FLOAT: {
        float f = strtof(v, NULL);
        memcpy(field_at(msg, fd), &f, sizeof f);
        return MENTIS_OK;
    }
    case PROTOBUF_C_TYPE_ENUM: {
        const ProtobufCEnumValue *ev = enum_value(fd->descriptor, v);
        if (ev == NULL)
            return mentis_err_set(MENTIS_ERR_INTERNAL, NULL, "rows: column %s: no value \"%.40s\"",
                                  fd->name, v);
        memcpy(field_at(msg, fd), &ev->value, sizeof ev->value);
        return MENTIS_OK;
    }
    case PROTOBUF_C_TYPE_MESSAGE:
        return read_message(pool, v, msg, fd);
    default:
        return mentis_err_set(MENTIS_ERR_INTERNAL, NULL,
                              "rows: column %s names a field rows cannot fill", fd->name);
    }
}

mentis_status_t mentis_row_read(mentis_pool_t *pool, const PGresult *res, int row,
                                ProtobufCMessage *msg)
{
    for (int c = 0; c < PQnfields(res); c++) {
        const ProtobufCFieldDescriptor *fd =
            protobuf_c_message_descriptor_get_field_by_name(msg->descriptor, PQfname(res, c));
        if (fd == NULL || PQgetisnull(res, row, c))
            continue;
        mentis_status_t st = read_field(pool, PQgetvalue(res, row, c), msg, fd);
        if (st != MENTIS_OK)
            return st;
    }
    return MENTIS_OK;
}

mentis_status_t mentis_rows_read(mentis_pool_t *pool, const PGresult *res,
                                 const ProtobufCMessageDescriptor *desc, void ***out, size_t *n)
{
    size_t rows = (size_t)PQntuples(res);
    *n = 0;
    if ((*out = mentis_pool_calloc(pool, rows ? rows : 1, sizeof **out)) == NULL)
        return no_memory();
    for (size_t r = 0; r < rows; r++) {
        ProtobufCMessage *m = mentis_pool_alloc(pool, desc->sizeof_message);
        if (m == NULL)
            return no_memory();
        protobuf_c_message_init(desc, m);
        mentis_status_t st = mentis_row_read(pool, res, (int)r, m);
        if (st != MENTIS_OK)
            return st;
        (*out)[(*n)++] = m;
    }
    return MENTIS_OK;
}
