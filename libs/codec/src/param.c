#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "codec_internal.h"

/* Reports a refused parameter in the list and the error context. */
__attribute__((format(printf, 3, 4))) static mentis_status_t
refuse(mentis_codec_problems_t *problems, const char *name, const char *fmt, ...)
{
    char message[MENTIS_CODEC_MESSAGE_MAX];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(message, sizeof message, fmt, ap);
    va_end(ap);
    mentis__codec_problem_add(problems, name, "%s", message);
    return mentis_err_set(MENTIS_ERR_INVALID_ARGUMENT, NULL, "parameter \"%.64s\": %s", name,
                          message);
}

static mentis_status_t pool_full(mentis_codec_problems_t *problems, const char *name)
{
    mentis__codec_problem_add(problems, name, "the request needs more memory than allowed");
    return mentis_err_set(MENTIS_ERR_TOO_LARGE, NULL,
                          "parameter \"%.64s\": the request needs more memory than allowed", name);
}

static mentis_status_t check_oneof(mentis_codec_problems_t *problems, const char *name,
                                   const ProtobufCMessage *msg, const ProtobufCFieldDescriptor *fd)
{
    const ProtobufCFieldDescriptor *rival = mentis__codec_oneof_rival(msg, fd);
    if (rival == NULL)
        return MENTIS_OK;
    char members[160];
    mentis__codec_oneof_members(msg->descriptor, fd, members, sizeof members);
    return refuse(problems, name, "conflicts with \"%s\": only one of %s may be set", rival->name,
                  members);
}

/* Appends v to the repeated field fd: a new array one longer, the old one left to the pool
 * (parameters are few, and a copy keeps arrays the caller made intact). */
static mentis_status_t append(ProtobufCMessage *msg, const ProtobufCFieldDescriptor *fd,
                              const mentis__codec_value_t *v, mentis_pool_t *pool,
                              mentis_codec_problems_t *problems, const char *name)
{
    char *base = (char *)msg;
    size_t n, size = mentis__codec_value_size(fd->type);
    void *old;
    memcpy(&n, base + fd->quantifier_offset, sizeof n);
    memcpy(&old, base + fd->offset, sizeof old);
    char *array = mentis_pool_calloc(pool, n + 1, size);
    if (array == NULL)
        return pool_full(problems, name);
    if (n > 0 && old != NULL)
        memcpy(array, old, n * size);
    else
        n = 0;
    memcpy(array + n * size, v, size);
    n++;
    memcpy(base + fd->quantifier_offset, &n, sizeof n);
    memcpy(base + fd->offset, &array, sizeof array);
    return MENTIS_OK;
}

mentis_status_t mentis_codec_set_text(ProtobufCMessage *msg, const char *name, const char *value,
                                      size_t value_len, mentis_pool_t *pool,
                                      mentis_codec_problems_t *problems)
{
    if (msg == NULL || name == NULL || (value == NULL && value_len > 0) || pool == NULL)
        return mentis_err_set(MENTIS_ERR_INTERNAL, NULL, "codec set_text: NULL argument");
    if (value == NULL)
        value = "";
    const char *seg = name;
    for (;;) {
        const char *dot = strchr(seg, '.');
        size_t n = dot != NULL ? (size_t)(dot - seg) : strlen(seg);
        const ProtobufCMessageDescriptor *desc = msg->descriptor;
        const ProtobufCFieldDescriptor *fd = mentis__codec_field_by_key(desc, seg, n);
        if (fd == NULL)
            return refuse(problems, name, "unknown parameter");
        mentis_status_t st = MENTIS_OK;
        if (dot == NULL) {
            char why[MENTIS_CODEC_MESSAGE_MAX];
            mentis__codec_value_t v;
            if (fd->label == PROTOBUF_C_LABEL_REPEATED && mentis__codec_is_map(desc, fd))
                return refuse(problems, name, "a map cannot be set from a parameter");
            if (fd->type == PROTOBUF_C_TYPE_MESSAGE && !mentis__codec_is_timestamp(fd->descriptor))
                return refuse(problems, name, "an object cannot be set from a parameter");
            st = mentis__codec_value_from_text(fd, value, value_len, pool, &v, why, sizeof why);
            if (st == MENTIS_ERR_TOO_LARGE)
                return pool_full(problems, name);
            if (st != MENTIS_OK)
                return refuse(problems, name, "%s", why);
            if (fd->label == PROTOBUF_C_LABEL_REPEATED)
                return append(msg, fd, &v, pool, problems, name);
            if ((st = check_oneof(problems, name, msg, fd)) != MENTIS_OK)
                return st;
            mentis__codec_field_set(msg, fd, &v);
            return MENTIS_OK;
        }
        /* A step into a singular sub-message, made when missing. */
        if (fd->type != PROTOBUF_C_TYPE_MESSAGE || fd->label == PROTOBUF_C_LABEL_REPEATED ||
            mentis__codec_is_special(fd->descriptor))
            return refuse(problems, name, "\"%s\" has no fields to set", fd->name);
        if ((st = check_oneof(problems, name, msg, fd)) != MENTIS_OK)
            return st;
        ProtobufCMessage *sub =
            mentis__codec_field_present(msg, fd) ? mentis__codec_field_get(msg, fd).msg : NULL;
        if (sub == NULL) {
            mentis__codec_value_t v = {.msg = mentis__codec_message_new(pool, fd->descriptor)};
            if (v.msg == NULL)
                return pool_full(problems, name);
            mentis__codec_field_set(msg, fd, &v);
            sub = v.msg;
        }
        msg = sub;
        seg = dot + 1;
    }
}
