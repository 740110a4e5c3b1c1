#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "codec_internal.h"

void mentis_codec_problems_clear(mentis_codec_problems_t *problems)
{
    if (problems != NULL) {
        problems->count = 0;
        problems->dropped = 0;
    }
}

/* Appends n bytes, cutting at the buffer's end; a cut path ends in "..." so nobody takes it
 * for a whole one. */
static void path_append(mentis__codec_path_t *path, const char *s, size_t n)
{
    size_t room = sizeof path->text - 1 - path->len;
    if (n > room) {
        memcpy(path->text + path->len, s, room);
        path->len += room;
        memcpy(path->text + sizeof path->text - 4, "...", 3);
    } else {
        memcpy(path->text + path->len, s, n);
        path->len += n;
    }
    path->text[path->len] = '\0';
}

size_t mentis__codec_path_field(mentis__codec_path_t *path, const char *name, size_t n)
{
    size_t old = path->len;
    if (path->len > 0)
        path_append(path, ".", 1);
    path_append(path, name, n);
    return old;
}

size_t mentis__codec_path_index(mentis__codec_path_t *path, size_t i)
{
    size_t old = path->len;
    char buf[32];
    int len = snprintf(buf, sizeof buf, "[%zu]", i);
    path_append(path, buf, (size_t)len);
    return old;
}

size_t mentis__codec_path_key(mentis__codec_path_t *path, const char *key, size_t n)
{
    size_t old = path->len;
    path_append(path, "[\"", 2);
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)key[i];
        if (c == '"' || c == '\\')
            path_append(path, "\\", 1);
        if (c < 0x20)
            path_append(path, "?", 1); /* a path is for people; control characters help nobody */
        else
            path_append(path, &key[i], 1);
    }
    path_append(path, "\"]", 2);
    return old;
}

void mentis__codec_path_pop(mentis__codec_path_t *path, size_t len)
{
    path->len = len;
    path->text[len] = '\0';
}

/* Problems carry names and values from the input and may be cut anywhere: keep them valid
 * UTF-8 (invalid bytes become '?'), as whoever shows them will put them in JSON. */
static void make_utf8(char *s)
{
    size_t n = strlen(s);
    for (size_t i = 0; i < n;) {
        size_t k = mentis__codec_utf8_seq((const unsigned char *)s + i, n - i);
        if (k == 0) {
            s[i] = '?';
            k = 1;
        }
        i += k;
    }
}

void mentis__codec_problem_add(mentis_codec_problems_t *list, const char *field, const char *fmt,
                               ...)
{
    if (list == NULL)
        return;
    if (list->count >= MENTIS_CODEC_PROBLEMS_MAX) {
        list->dropped++;
        return;
    }
    mentis_codec_problem_t *p = &list->items[list->count++];
    snprintf(p->field, sizeof p->field, "%s", field);
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(p->message, sizeof p->message, fmt, ap);
    va_end(ap);
    make_utf8(p->field);
    make_utf8(p->message);
}
