/*
 * Configuration values come from the environment and from secret files that operators
 * write: every getter must refuse garbage with a message, never crash or accept it.
 * Input: NUL-separated values for an int, a double, a bool and an enum.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "mentis/config.h"

static const char *values[4];
static const char *lookup(void *arg, const char *name)
{
    (void)arg;
    if (strcmp(name, "MENTIS_I") == 0)
        return values[0];
    if (strcmp(name, "MENTIS_D") == 0)
        return values[1];
    if (strcmp(name, "MENTIS_B") == 0)
        return values[2];
    if (strcmp(name, "MENTIS_E") == 0)
        return values[3];
    return NULL;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *copy = malloc(size + 1);
    if (copy == NULL)
        return 0;
    memcpy(copy, data, size);
    copy[size] = '\0';
    char *p = copy;
    for (int i = 0; i < 4; i++) {
        values[i] = p;
        size_t n = strlen(p);
        p = (p + n < copy + size) ? p + n + 1 : copy + size;
    }
    static const char *const choices[] = {"smtp", "file", NULL};
    mentis_config_t *cfg = NULL;
    if (mentis_config_create(lookup, NULL, &cfg) == MENTIS_OK) {
        int64_t i = mentis_config_int(cfg, "MENTIS_I", 5, -10, 1000, "i");
        double d = mentis_config_double(cfg, "MENTIS_D", 0.5, 0, 1, "d");
        mentis_config_bool(cfg, "MENTIS_B", false, "b");
        const char *e = mentis_config_enum(cfg, "MENTIS_E", "smtp", choices, "e");
        if (i < -10 || i > 1000 || !(d >= 0 && d <= 1) || (strcmp(e, "smtp") && strcmp(e, "file")))
            __builtin_trap();
        mentis_config_check(cfg);
        mentis_config_destroy(cfg);
    }
    free(copy);
    return 0;
}
