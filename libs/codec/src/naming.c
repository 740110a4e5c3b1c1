#include <stdio.h>
#include <string.h>

#include "codec_internal.h"

/* ASCII only, whatever the locale: names in descriptors are identifiers. */
static char upper(char c)
{
    return c >= 'a' && c <= 'z' ? (char)(c - 'a' + 'A') : c;
}

static char lower(char c)
{
    return c >= 'A' && c <= 'Z' ? (char)(c - 'A' + 'a') : c;
}

static bool is_upper(char c)
{
    return c >= 'A' && c <= 'Z';
}

static bool is_lower(char c)
{
    return c >= 'a' && c <= 'z';
}

static bool is_digit(char c)
{
    return c >= '0' && c <= '9';
}

/* Whether key is protoc's json_name of name: underscores dropped, the letter after one
 * upper-cased ("display_name" -> "displayName"). */
static bool is_json_name(const char *name, const char *key, size_t n)
{
    size_t k = 0;
    bool cap_next = false;
    for (const char *p = name; *p != '\0'; p++) {
        if (*p == '_') {
            cap_next = true;
            continue;
        }
        char c = cap_next ? upper(*p) : *p;
        cap_next = false;
        if (k >= n || key[k] != c)
            return false;
        k++;
    }
    return k == n;
}

const ProtobufCFieldDescriptor *mentis__codec_field_by_key(const ProtobufCMessageDescriptor *desc,
                                                           const char *key, size_t n)
{
    for (unsigned i = 0; i < desc->n_fields; i++) {
        const char *name = desc->fields[i].name;
        if (strlen(name) == n && memcmp(name, key, n) == 0)
            return &desc->fields[i];
    }
    for (unsigned i = 0; i < desc->n_fields; i++)
        if (is_json_name(desc->fields[i].name, key, n))
            return &desc->fields[i];
    return NULL;
}

/* Whether entry_name is protoc's MapEntryName of field: "inner_map" -> "InnerMapEntry". */
static bool is_entry_name(const char *field, const char *entry_name)
{
    const char *e = entry_name;
    bool cap_next = true;
    for (const char *p = field; *p != '\0'; p++) {
        if (*p == '_') {
            cap_next = true;
            continue;
        }
        char c = cap_next ? upper(*p) : *p;
        cap_next = false;
        if (*e++ != c)
            return false;
    }
    return strcmp(e, "Entry") == 0;
}

bool mentis__codec_is_map(const ProtobufCMessageDescriptor *desc,
                          const ProtobufCFieldDescriptor *fd)
{
    if (fd->label != PROTOBUF_C_LABEL_REPEATED || fd->type != PROTOBUF_C_TYPE_MESSAGE)
        return false;
    const ProtobufCMessageDescriptor *entry = fd->descriptor;
    if (entry->n_fields != 2 || entry->fields[0].id != 1 || entry->fields[1].id != 2 ||
        strcmp(entry->fields[0].name, "key") != 0 || strcmp(entry->fields[1].name, "value") != 0 ||
        entry->fields[0].label == PROTOBUF_C_LABEL_REPEATED ||
        entry->fields[1].label == PROTOBUF_C_LABEL_REPEATED)
        return false;
    switch (entry->fields[0].type) {
    case PROTOBUF_C_TYPE_FLOAT:
    case PROTOBUF_C_TYPE_DOUBLE:
    case PROTOBUF_C_TYPE_BYTES:
    case PROTOBUF_C_TYPE_ENUM:
    case PROTOBUF_C_TYPE_MESSAGE:
        return false; /* protoc allows none of these as keys */
    default:
        break;
    }
    if (!is_entry_name(fd->name, entry->short_name))
        return false;
    /* Nested right in desc: "<desc full name>.<Field>Entry". */
    size_t parent = strlen(desc->name);
    return strncmp(entry->name, desc->name, parent) == 0 && entry->name[parent] == '.' &&
           strcmp(entry->name + parent + 1, entry->short_name) == 0;
}

bool mentis__codec_is_json(const ProtobufCMessageDescriptor *desc)
{
    if (strcmp(desc->name, "mentis.v1.JsonValue") != 0)
        return false;
    return desc->n_fields == 1 && desc->fields[0].id == 1 &&
           desc->fields[0].type == PROTOBUF_C_TYPE_STRING &&
           desc->fields[0].label != PROTOBUF_C_LABEL_REPEATED;
}

bool mentis__codec_is_special(const ProtobufCMessageDescriptor *desc)
{
    return mentis__codec_is_timestamp(desc) || mentis__codec_is_json(desc);
}

bool mentis__codec_is_timestamp(const ProtobufCMessageDescriptor *desc)
{
    if (strcmp(desc->name, "mentis.v1.Timestamp") != 0 &&
        strcmp(desc->name, "google.protobuf.Timestamp") != 0)
        return false;
    /* Checked, not assumed: the codec reads these two fields by their descriptors. */
    return desc->n_fields == 2 && desc->fields[0].id == 1 &&
           desc->fields[0].type == PROTOBUF_C_TYPE_INT64 &&
           desc->fields[0].label != PROTOBUF_C_LABEL_REPEATED && desc->fields[1].id == 2 &&
           desc->fields[1].type == PROTOBUF_C_TYPE_INT32 &&
           desc->fields[1].label != PROTOBUF_C_LABEL_REPEATED;
}

bool mentis__codec_enum_is_unspecified(const ProtobufCEnumValue *v)
{
    static const char suffix[] = "UNSPECIFIED";
    size_t n = strlen(v->name);
    return v->value == 0 && n >= sizeof suffix - 1 &&
           strcmp(v->name + n - (sizeof suffix - 1), suffix) == 0;
}

/* UPPER_SNAKE of an enum's short name plus "_": "ServingStatus" -> "SERVING_STATUS_",
 * "HTTPMethod" -> "HTTP_METHOD_". Returns 0 when it does not fit. */
static size_t enum_prefix(const ProtobufCEnumDescriptor *ed, char *buf, size_t size)
{
    const char *s = ed->short_name;
    size_t len = 0;
    for (size_t i = 0; s[i] != '\0'; i++) {
        /* A word starts at an upper-case letter after a lower-case one or a digit, and at
         * the last capital of an acronym followed by lower case ("HTTPMethod"). */
        bool boundary = i > 0 && is_upper(s[i]) &&
                        (is_lower(s[i - 1]) || is_digit(s[i - 1]) ||
                         (is_upper(s[i - 1]) && is_lower(s[i + 1])));
        if (len + 3 > size)
            return 0;
        if (boundary)
            buf[len++] = '_';
        buf[len++] = upper(s[i]);
    }
    buf[len++] = '_';
    buf[len] = '\0';
    return len;
}

/* The part of a value name shown in JSON: without the prefix when it has it. */
static const char *strip_prefix(const char *name, const char *prefix, size_t prefix_len)
{
    if (prefix_len > 0 && strncmp(name, prefix, prefix_len) == 0 && name[prefix_len] != '\0')
        return name + prefix_len;
    return name;
}

void mentis__codec_enum_json_name(const ProtobufCEnumDescriptor *ed, const char *name, char *buf,
                                  size_t size)
{
    char prefix[128];
    size_t prefix_len = enum_prefix(ed, prefix, sizeof prefix);
    const char *s = strip_prefix(name, prefix, prefix_len);
    size_t i = 0;
    for (; s[i] != '\0' && i + 1 < size; i++)
        buf[i] = lower(s[i]);
    buf[i] = '\0';
}

const ProtobufCEnumValue *mentis__codec_enum_by_name(const ProtobufCEnumDescriptor *ed,
                                                     const char *text, size_t n)
{
    char prefix[128];
    size_t prefix_len = enum_prefix(ed, prefix, sizeof prefix);
    for (unsigned i = 0; i < ed->n_value_names; i++) {
        const char *name = ed->values_by_name[i].name;
        const ProtobufCEnumValue *v = &ed->values[ed->values_by_name[i].index];
        bool match = strlen(name) == n && memcmp(name, text, n) == 0;
        if (!match) {
            const char *s = strip_prefix(name, prefix, prefix_len);
            match = strlen(s) == n;
            for (size_t k = 0; match && k < n; k++)
                match = lower(s[k]) == text[k];
        }
        if (match)
            return mentis__codec_enum_is_unspecified(v) ? NULL : v;
    }
    return NULL;
}

const ProtobufCEnumValue *mentis__codec_enum_by_number(const ProtobufCEnumDescriptor *ed,
                                                       int number)
{
    const ProtobufCEnumValue *v = protobuf_c_enum_descriptor_get_value(ed, number);
    return v == NULL || mentis__codec_enum_is_unspecified(v) ? NULL : v;
}

void mentis__codec_enum_allowed(const ProtobufCEnumDescriptor *ed, char *buf, size_t size)
{
    size_t len = 0;
    buf[0] = '\0';
    for (unsigned i = 0; i < ed->n_values; i++) {
        if (mentis__codec_enum_is_unspecified(&ed->values[i]))
            continue;
        char name[128];
        mentis__codec_enum_json_name(ed, ed->values[i].name, name, sizeof name);
        int n = snprintf(buf + len, size - len, "%s%s", len > 0 ? ", " : "", name);
        if (n < 0 || (size_t)n >= size - len) {
            if (size >= 4)
                memcpy(buf + size - 4, "...", 4);
            return;
        }
        len += (size_t)n;
    }
}
