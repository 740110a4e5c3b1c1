#include <string.h>

#include "codec_internal.h"

typedef struct {
    mentis__codec_buf_t *b;
    const char *ref_prefix;                                         /* NULL: describe in place */
    const ProtobufCMessageDescriptor *open[MENTIS_CODEC_MAX_DEPTH]; /* types being described */
    size_t depth;
} schema_t;

static void put(schema_t *s, const char *text)
{
    mentis__codec_puts(s->b, text);
}

static void describe_message(schema_t *s, const ProtobufCMessageDescriptor *desc);

static void describe_enum(schema_t *s, const ProtobufCEnumDescriptor *ed)
{
    put(s, "{\"type\":\"string\",\"enum\":[");
    bool first = true;
    for (unsigned i = 0; i < ed->n_values; i++) {
        if (mentis__codec_enum_is_unspecified(&ed->values[i]))
            continue;
        char name[128];
        mentis__codec_enum_json_name(ed, ed->values[i].name, name, sizeof name);
        if (!first)
            put(s, ",");
        first = false;
        mentis__codec_put_string(s->b, name, strlen(name));
    }
    put(s, "]}");
}

/* One value of fd's type (an element, for repeated fields). */
static void describe_type(schema_t *s, const ProtobufCFieldDescriptor *fd)
{
    switch (fd->type) {
    case PROTOBUF_C_TYPE_INT32:
    case PROTOBUF_C_TYPE_SINT32:
    case PROTOBUF_C_TYPE_SFIXED32:
        put(s, "{\"type\":\"integer\",\"format\":\"int32\"}");
        return;
    case PROTOBUF_C_TYPE_UINT32:
    case PROTOBUF_C_TYPE_FIXED32:
        put(s, "{\"type\":\"integer\",\"format\":\"uint32\",\"minimum\":0,\"maximum\":4294967295}");
        return;
    case PROTOBUF_C_TYPE_INT64:
    case PROTOBUF_C_TYPE_SINT64:
    case PROTOBUF_C_TYPE_SFIXED64:
        put(s, "{\"type\":\"integer\",\"format\":\"int64\"}");
        return;
    case PROTOBUF_C_TYPE_UINT64:
    case PROTOBUF_C_TYPE_FIXED64:
        put(s, "{\"type\":\"integer\",\"format\":\"uint64\",\"minimum\":0}");
        return;
    case PROTOBUF_C_TYPE_FLOAT:
        put(s, "{\"type\":\"number\",\"format\":\"float\"}");
        return;
    case PROTOBUF_C_TYPE_DOUBLE:
        put(s, "{\"type\":\"number\",\"format\":\"double\"}");
        return;
    case PROTOBUF_C_TYPE_BOOL:
        put(s, "{\"type\":\"boolean\"}");
        return;
    case PROTOBUF_C_TYPE_STRING:
        put(s, "{\"type\":\"string\"}");
        return;
    case PROTOBUF_C_TYPE_BYTES:
        put(s, "{\"type\":\"string\",\"format\":\"byte\"}");
        return;
    case PROTOBUF_C_TYPE_ENUM:
        describe_enum(s, fd->descriptor);
        return;
    case PROTOBUF_C_TYPE_MESSAGE: {
        const ProtobufCMessageDescriptor *md = fd->descriptor;
        if (mentis__codec_is_timestamp(md)) {
            put(s, "{\"type\":\"string\",\"format\":\"date-time\"}");
        } else if (mentis__codec_is_json(md)) {
            put(s, "{}"); /* any JSON value */
        } else if (s->ref_prefix != NULL) {
            put(s, "{\"$ref\":\"");
            mentis__codec_put_escaped(s->b, s->ref_prefix, strlen(s->ref_prefix));
            mentis__codec_put_escaped(s->b, md->name, strlen(md->name));
            put(s, "\"}");
        } else {
            describe_message(s, md);
        }
        return;
    }
    }
}

static void describe_field(schema_t *s, const ProtobufCMessageDescriptor *desc,
                           const ProtobufCFieldDescriptor *fd)
{
    if (fd->label != PROTOBUF_C_LABEL_REPEATED) {
        describe_type(s, fd);
    } else if (mentis__codec_is_map(desc, fd)) {
        const ProtobufCMessageDescriptor *entry = fd->descriptor;
        put(s, "{\"type\":\"object\",\"additionalProperties\":");
        describe_type(s, &entry->fields[1]);
        put(s, "}");
    } else {
        put(s, "{\"type\":\"array\",\"items\":");
        describe_type(s, fd);
        put(s, "}");
    }
}

static void describe_message(schema_t *s, const ProtobufCMessageDescriptor *desc)
{
    if (mentis__codec_is_timestamp(desc)) {
        put(s, "{\"type\":\"string\",\"format\":\"date-time\"}");
        return;
    }
    if (mentis__codec_is_json(desc)) {
        put(s, "{}");
        return;
    }
    bool recursive = false;
    for (size_t i = 0; i < s->depth; i++)
        recursive |= s->open[i] == desc;
    if (recursive || s->depth == MENTIS_CODEC_MAX_DEPTH) {
        put(s, "{\"type\":\"object\"}");
        return;
    }
    s->open[s->depth++] = desc;
    put(s, "{\"type\":\"object\",\"properties\":{");
    for (unsigned i = 0; i < desc->n_fields; i++) {
        if (i > 0)
            put(s, ",");
        mentis__codec_put_string(s->b, desc->fields[i].name, strlen(desc->fields[i].name));
        put(s, ":");
        describe_field(s, desc, &desc->fields[i]);
    }
    put(s, "},\"additionalProperties\":false}");
    s->depth--;
}

typedef struct {
    const ProtobufCMessageDescriptor *desc;
    const char *ref_prefix;
} schema_args_t;

static mentis_status_t write_schema(mentis__codec_buf_t *b, void *ctx)
{
    const schema_args_t *args = ctx;
    schema_t s = {.b = b, .ref_prefix = args->ref_prefix};
    describe_message(&s, args->desc);
    return MENTIS_OK;
}

mentis_status_t mentis_codec_schema(const ProtobufCMessageDescriptor *desc, const char *ref_prefix,
                                    const mentis_codec_output_t *output, mentis_pool_t *pool,
                                    char **out, size_t *len_out)
{
    if (desc == NULL || pool == NULL || out == NULL)
        return mentis_err_set(MENTIS_ERR_INTERNAL, NULL, "codec schema: NULL argument");
    schema_args_t args = {.desc = desc, .ref_prefix = ref_prefix};
    return mentis__codec_render(write_schema, &args, output, pool, out, len_out);
}

mentis_status_t mentis_codec_schema_types(const ProtobufCMessageDescriptor *desc,
                                          const ProtobufCMessageDescriptor **types, size_t cap,
                                          size_t *n_out)
{
    if (desc == NULL || (types == NULL && cap > 0) || n_out == NULL)
        return mentis_err_set(MENTIS_ERR_INTERNAL, NULL, "codec schema_types: NULL argument");
    if (cap == 0)
        return mentis_err_set(MENTIS_ERR_TOO_LARGE, NULL, "schema of %s: no room for types",
                              desc->name);
    size_t n = 0;
    types[n++] = desc;
    /* Breadth first over the list itself: each type's fields add the types not yet in it. */
    for (size_t i = 0; i < n; i++) {
        const ProtobufCMessageDescriptor *t = types[i];
        for (unsigned f = 0; f < t->n_fields; f++) {
            const ProtobufCFieldDescriptor *fd = &t->fields[f];
            if (fd->type != PROTOBUF_C_TYPE_MESSAGE)
                continue;
            const ProtobufCMessageDescriptor *md = fd->descriptor;
            if (mentis__codec_is_map(t, fd)) {
                const ProtobufCFieldDescriptor *vfd = &md->fields[1];
                if (vfd->type != PROTOBUF_C_TYPE_MESSAGE)
                    continue;
                md = vfd->descriptor;
            }
            if (mentis__codec_is_special(md))
                continue;
            bool known = false;
            for (size_t k = 0; k < n && !known; k++)
                known = types[k] == md;
            if (known)
                continue;
            if (n == cap)
                return mentis_err_set(MENTIS_ERR_TOO_LARGE, NULL,
                                      "schema of %s: more than %zu message types", desc->name, cap);
            types[n++] = md;
        }
    }
    *n_out = n;
    return MENTIS_OK;
}
