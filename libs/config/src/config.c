#include "mentis/config.h"

#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#define MAX_VALUE_FILE (64 * 1024) /* a secret file larger than this is refused */

struct entry {
    char *name;
    char *def;
    char *help;
    bool secret;
    struct entry *next;
};

struct problem {
    char *text;
    struct problem *next;
};

struct owned {
    char *s;
    struct owned *next;
};

struct mentis_config {
    mentis_config_lookup_fn lookup;
    void *arg;
    struct entry *entries, **entries_tail;
    struct problem *problems, **problems_tail;
    struct owned *strings;
    bool oom;
};

static const char *env_lookup(void *arg, const char *name)
{
    (void)arg;
    return getenv(name);
}

mentis_status_t mentis_config_create(mentis_config_lookup_fn lookup, void *arg,
                                     mentis_config_t **out)
{
    mentis_config_t *cfg = calloc(1, sizeof *cfg);
    if (cfg == NULL)
        return mentis_err_set(MENTIS_ERR_NO_MEMORY, NULL, "config: out of memory");
    cfg->lookup = lookup ? lookup : env_lookup;
    cfg->arg = arg;
    cfg->entries_tail = &cfg->entries;
    cfg->problems_tail = &cfg->problems;
    *out = cfg;
    return MENTIS_OK;
}

void mentis_config_destroy(mentis_config_t *cfg)
{
    if (cfg == NULL)
        return;
    for (struct entry *e = cfg->entries, *n; e; e = n) {
        n = e->next;
        free(e->name);
        free(e->def);
        free(e->help);
        free(e);
    }
    for (struct problem *p = cfg->problems, *n; p; p = n) {
        n = p->next;
        free(p->text);
        free(p);
    }
    for (struct owned *o = cfg->strings, *n; o; o = n) {
        n = o->next;
        free(o->s);
        free(o);
    }
    free(cfg);
}

static char *own(mentis_config_t *cfg, char *s)
{
    if (s == NULL) {
        cfg->oom = true;
        return NULL;
    }
    struct owned *o = malloc(sizeof *o);
    if (o == NULL) {
        free(s);
        cfg->oom = true;
        return NULL;
    }
    o->s = s;
    o->next = cfg->strings;
    cfg->strings = o;
    return s;
}

static void remember(mentis_config_t *cfg, const char *name, const char *def, const char *help,
                     bool secret)
{
    for (struct entry *e = cfg->entries; e; e = e->next)
        if (strcmp(e->name, name) == 0)
            return;
    struct entry *e = calloc(1, sizeof *e);
    if (e == NULL) {
        cfg->oom = true;
        return;
    }
    e->name = strdup(name);
    e->def = strdup(def ? def : "");
    e->help = strdup(help ? help : "");
    e->secret = secret;
    if (!e->name || !e->def || !e->help)
        cfg->oom = true;
    *cfg->entries_tail = e;
    cfg->entries_tail = &e->next;
}

__attribute__((format(printf, 3, 0))) static void vproblem(mentis_config_t *cfg, const char *name, const char *fmt, va_list ap)
{
    char text[512];
    int n = snprintf(text, sizeof text, "%s: ", name);
    if (n < 0 || (size_t)n >= sizeof text)
        n = 0;
    vsnprintf(text + n, sizeof text - (size_t)n, fmt, ap);
    struct problem *p = calloc(1, sizeof *p);
    if (p == NULL || (p->text = strdup(text)) == NULL) {
        free(p);
        cfg->oom = true;
        return;
    }
    *cfg->problems_tail = p;
    cfg->problems_tail = &p->next;
}

void mentis_config_fail(mentis_config_t *cfg, const char *name, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vproblem(cfg, name, fmt, ap);
    va_end(ap);
}

/* Quotes a user value for a problem message: printable ASCII only, cut at 60 bytes. */
static const char *shown(const char *v, char *buf, size_t size)
{
    size_t j = 0;
    for (size_t i = 0; v[i] && j + 5 < size && i < 60; i++)
        buf[j++] = isprint((unsigned char)v[i]) ? v[i] : '?';
    if (strlen(v) > 60 && j + 4 < size) {
        memcpy(buf + j, "...", 3);
        j += 3;
    }
    buf[j] = '\0';
    return buf;
}

const char *mentis_config_str(mentis_config_t *cfg, const char *name, const char *def,
                              const char *help)
{
    remember(cfg, name, def, help, false);
    const char *v = cfg->lookup(cfg->arg, name);
    return v ? v : def;
}

static char *read_secret_file(mentis_config_t *cfg, const char *var, const char *path)
{
    FILE *f = fopen(path, "rb");
    if (f == NULL) {
        mentis_config_fail(cfg, var, "cannot open \"%s\": %s", path, strerror(errno));
        return NULL;
    }
    char *buf = malloc(MAX_VALUE_FILE + 1);
    if (buf == NULL) {
        fclose(f);
        cfg->oom = true;
        return NULL;
    }
    size_t n = fread(buf, 1, MAX_VALUE_FILE + 1, f);
    bool failed = ferror(f) != 0;
    fclose(f);
    if (failed || n > MAX_VALUE_FILE) {
        free(buf);
        mentis_config_fail(cfg, var, failed ? "cannot read \"%s\"" : "\"%s\" is larger than 64 KiB",
                           path);
        return NULL;
    }
    if (n > 0 && buf[n - 1] == '\n')
        n--;
    if (n > 0 && buf[n - 1] == '\r')
        n--;
    buf[n] = '\0';
    if (memchr(buf, '\0', n) != NULL) {
        free(buf);
        mentis_config_fail(cfg, var, "\"%s\" holds a NUL byte", path);
        return NULL;
    }
    return own(cfg, buf);
}

const char *mentis_config_secret(mentis_config_t *cfg, const char *name, const char *def,
                                 const char *help)
{
    remember(cfg, name, def, help, true);
    char file_var[160];
    snprintf(file_var, sizeof file_var, "%s_FILE", name);
    const char *direct = cfg->lookup(cfg->arg, name);
    const char *path = cfg->lookup(cfg->arg, file_var);
    if (direct && path) {
        mentis_config_fail(cfg, name, "set either %s or %s, not both", name, file_var);
        return def;
    }
    if (path) {
        const char *v = read_secret_file(cfg, file_var, path);
        return v ? v : def;
    }
    return direct ? direct : def;
}

int64_t mentis_config_int(mentis_config_t *cfg, const char *name, int64_t def, int64_t min,
                          int64_t max, const char *help)
{
    char defs[32], buf[80];
    snprintf(defs, sizeof defs, "%lld", (long long)def);
    remember(cfg, name, defs, help, false);
    const char *v = cfg->lookup(cfg->arg, name);
    if (v == NULL)
        return def;
    char *end = NULL;
    errno = 0;
    long long x = strtoll(v, &end, 10);
    if (v[0] == '\0' || isspace((unsigned char)v[0]) || *end != '\0' || errno == ERANGE ||
        x < min || x > max) {
        mentis_config_fail(cfg, name, "expected an integer from %lld to %lld, got \"%s\"",
                           (long long)min, (long long)max, shown(v, buf, sizeof buf));
        return def;
    }
    return x;
}

double mentis_config_double(mentis_config_t *cfg, const char *name, double def, double min,
                            double max, const char *help)
{
    char defs[32], buf[80];
    snprintf(defs, sizeof defs, "%g", def);
    remember(cfg, name, defs, help, false);
    const char *v = cfg->lookup(cfg->arg, name);
    if (v == NULL)
        return def;
    char *end = NULL;
    errno = 0;
    double x = strtod(v, &end);
    if (v[0] == '\0' || isspace((unsigned char)v[0]) || *end != '\0' || errno == ERANGE ||
        !isfinite(x) || x < min || x > max) {
        mentis_config_fail(cfg, name, "expected a number from %g to %g, got \"%s\"", min, max,
                           shown(v, buf, sizeof buf));
        return def;
    }
    return x;
}

bool mentis_config_bool(mentis_config_t *cfg, const char *name, bool def, const char *help)
{
    static const char *const yes[] = {"1", "true", "yes", "on"};
    static const char *const no[] = {"0", "false", "no", "off"};
    char buf[80];
    remember(cfg, name, def ? "true" : "false", help, false);
    const char *v = cfg->lookup(cfg->arg, name);
    if (v == NULL)
        return def;
    for (int i = 0; i < 4; i++) {
        if (strcasecmp(v, yes[i]) == 0)
            return true;
        if (strcasecmp(v, no[i]) == 0)
            return false;
    }
    mentis_config_fail(cfg, name, "expected true or false, got \"%s\"", shown(v, buf, sizeof buf));
    return def;
}

const char *mentis_config_enum(mentis_config_t *cfg, const char *name, const char *def,
                               const char *const *choices, const char *help)
{
    char buf[80], list[256];
    remember(cfg, name, def, help, false);
    const char *v = cfg->lookup(cfg->arg, name);
    if (v == NULL)
        return def;
    size_t n = 0;
    list[0] = '\0';
    for (size_t i = 0; choices[i]; i++) {
        if (strcmp(v, choices[i]) == 0)
            return choices[i];
        int w = snprintf(list + n, sizeof list - n, "%s%s", i ? ", " : "", choices[i]);
        if (w > 0 && (size_t)w < sizeof list - n)
            n += (size_t)w;
    }
    mentis_config_fail(cfg, name, "expected one of %s, got \"%s\"", list, shown(v, buf, sizeof buf));
    return def;
}

mentis_status_t mentis_config_check(mentis_config_t *cfg)
{
    if (cfg->oom)
        return mentis_err_set(MENTIS_ERR_NO_MEMORY, NULL, "configuration: out of memory");
    if (cfg->problems == NULL)
        return MENTIS_OK;
    char msg[480];
    size_t n = 0;
    int count = 0;
    msg[0] = '\0';
    for (struct problem *p = cfg->problems; p; p = p->next, count++) {
        int w = snprintf(msg + n, sizeof msg - n, "%s%s", count ? "\n" : "", p->text);
        if (w < 0 || (size_t)w >= sizeof msg - n)
            break;
        n += (size_t)w;
    }
    return mentis_err_set(MENTIS_ERR_INVALID_ARGUMENT, "invalid_configuration", "%s", msg);
}

void mentis_config_describe(const mentis_config_t *cfg, FILE *out)
{
    fprintf(out, "| variable | default | description |\n| --- | --- | --- |\n");
    for (const struct entry *e = cfg->entries; e; e = e->next)
        fprintf(out, "| `%s`%s | %s%s%s | %s |\n", e->name, e->secret ? " (or `_FILE`)" : "",
                e->def[0] ? "`" : "", e->def[0] ? e->def : "—", e->def[0] ? "`" : "", e->help);
}
