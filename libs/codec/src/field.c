#include <stdio.h>
#include <string.h>

#include "codec_internal.h"

/* Where NULL strings read from: a message fresh from code that never set them. */
static char empty_string[1];

size_t mentis__codec_value_size(ProtobufCType t)
{
    switch (t) {
    case PROTOBUF_C_TYPE_INT32:
    case PROTOBUF_C_TYPE_SINT32:
    case PROTOBUF_C_TYPE_SFIXED32:
    case PROTOBUF_C_TYPE_UINT32:
    case PROTOBUF_C_TYPE_FIXED32:
        return sizeof(int32_t);
    case PROTOBUF_C_TYPE_INT64:
    case PROTOBUF_C_TYPE_SINT64:
    case PROTOBUF_C_TYPE_SFIXED64:
    case PROTOBUF_C_TYPE_UINT64:
    case PROTOBUF_C_TYPE_FIXED64:
        return sizeof(int64_t);
    case PROTOBUF_C_TYPE_FLOAT:
        return sizeof(float);
    case PROTOBUF_C_TYPE_DOUBLE:
        return sizeof(double);
    case PROTOBUF_C_TYPE_BOOL:
        return sizeof(protobuf_c_boolean);
    case PROTOBUF_C_TYPE_ENUM:
        return sizeof(int); /* protobuf-c forces enums to int size */
    case PROTOBUF_C_TYPE_STRING:
        return sizeof(char *);
    case PROTOBUF_C_TYPE_BYTES:
        return sizeof(ProtobufCBinaryData);
    case PROTOBUF_C_TYPE_MESSAGE:
        return sizeof(ProtobufCMessage *);
    }
    return 0;
}

ProtobufCMessage *mentis__codec_message_new(mentis_pool_t *pool,
                                            const ProtobufCMessageDescriptor *desc)
{
    ProtobufCMessage *m = mentis_pool_calloc(pool, 1, desc->sizeof_message);
    if (m != NULL)
        protobuf_c_message_init(desc, m);
    return m;
}

static void *member(const ProtobufCMessage *msg, unsigned offset)
{
    /* protobuf-c's own reflection works on byte offsets into the generated struct. */
    return (char *)(uintptr_t)msg + offset;
}

void mentis__codec_field_set(ProtobufCMessage *msg, const ProtobufCFieldDescriptor *fd,
                             const mentis__codec_value_t *v)
{
    memcpy(member(msg, fd->offset), v, mentis__codec_value_size(fd->type));
    if (fd->flags & PROTOBUF_C_FIELD_FLAG_ONEOF) {
        uint32_t id = fd->id;
        memcpy(member(msg, fd->quantifier_offset), &id, sizeof id);
    } else if (fd->label == PROTOBUF_C_LABEL_OPTIONAL && fd->type != PROTOBUF_C_TYPE_STRING &&
               fd->type != PROTOBUF_C_TYPE_MESSAGE) {
        protobuf_c_boolean has = 1;
        memcpy(member(msg, fd->quantifier_offset), &has, sizeof has);
    }
}

bool mentis__codec_field_present(const ProtobufCMessage *msg, const ProtobufCFieldDescriptor *fd)
{
    const void *ptr;
    memcpy(&ptr, member(msg, fd->offset), sizeof ptr);
    bool pointer = fd->type == PROTOBUF_C_TYPE_STRING || fd->type == PROTOBUF_C_TYPE_MESSAGE;
    if (fd->flags & PROTOBUF_C_FIELD_FLAG_ONEOF) {
        uint32_t which;
        memcpy(&which, member(msg, fd->quantifier_offset), sizeof which);
        return which == fd->id && (fd->type != PROTOBUF_C_TYPE_MESSAGE || ptr != NULL);
    }
    if (fd->label == PROTOBUF_C_LABEL_OPTIONAL) {
        if (pointer) /* as protobuf-c packs it: unset is NULL or the default's own pointer */
            return ptr != NULL && ptr != fd->default_value;
        protobuf_c_boolean has;
        memcpy(&has, member(msg, fd->quantifier_offset), sizeof has);
        return has != 0;
    }
    return fd->type != PROTOBUF_C_TYPE_MESSAGE || ptr != NULL;
}

mentis__codec_value_t mentis__codec_field_get(const ProtobufCMessage *msg,
                                              const ProtobufCFieldDescriptor *fd)
{
    mentis__codec_value_t v;
    memset(&v, 0, sizeof v);
    memcpy(&v, member(msg, fd->offset), mentis__codec_value_size(fd->type));
    if (fd->type == PROTOBUF_C_TYPE_STRING && v.s == NULL)
        v.s = empty_string;
    return v;
}

mentis__codec_value_t mentis__codec_array_get(const void *array, ProtobufCType t, size_t i)
{
    mentis__codec_value_t v;
    memset(&v, 0, sizeof v);
    size_t size = mentis__codec_value_size(t);
    memcpy(&v, (const char *)array + i * size, size);
    if (t == PROTOBUF_C_TYPE_STRING && v.s == NULL)
        v.s = empty_string;
    return v;
}

const ProtobufCFieldDescriptor *mentis__codec_oneof_rival(const ProtobufCMessage *msg,
                                                          const ProtobufCFieldDescriptor *fd)
{
    if (!(fd->flags & PROTOBUF_C_FIELD_FLAG_ONEOF))
        return NULL;
    uint32_t which;
    memcpy(&which, member(msg, fd->quantifier_offset), sizeof which);
    if (which == 0 || which == fd->id)
        return NULL;
    return protobuf_c_message_descriptor_get_field(msg->descriptor, which);
}

void mentis__codec_oneof_members(const ProtobufCMessageDescriptor *desc,
                                 const ProtobufCFieldDescriptor *fd, char *buf, size_t size)
{
    size_t len = 0;
    buf[0] = '\0';
    for (unsigned i = 0; i < desc->n_fields; i++) {
        const ProtobufCFieldDescriptor *f = &desc->fields[i];
        if (!(f->flags & PROTOBUF_C_FIELD_FLAG_ONEOF) ||
            f->quantifier_offset != fd->quantifier_offset)
            continue;
        int n = snprintf(buf + len, size - len, "%s%s", len > 0 ? ", " : "", f->name);
        if (n < 0 || (size_t)n >= size - len)
            return;
        len += (size_t)n;
    }
}
