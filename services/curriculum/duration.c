/* ISO 8601 durations as UMCF writes them (timeEstimates, totalDuration): "PT1H30M", "P1D". */
#include <ctype.h>
#include <stdlib.h>

#include "curriculum.h"

/*
 * Longer than any course: not taken as a duration. Unbounded, one string could hold more
 * seconds than an int64 ("P999999999Y" repeated: the conversion is then undefined), and the
 * topics' durations are summed in one. At ten years each, a million topics still sum to 15
 * digits, exact in the doubles cJSON carries them in.
 */
#define MAX_SECONDS (10 * 365 * 86400.0)

int64_t mentis__cur_duration(const char *text)
{
    if (text == NULL || text[0] != 'P' || text[1] == '\0')
        return -1;
    const char *p = text + 1;
    bool in_time = false, any = false;
    double total = 0;
    while (*p != '\0') {
        if (*p == 'T') {
            if (in_time || p[1] == '\0')
                return -1;
            in_time = true;
            p++;
            continue;
        }
        if (!isdigit((unsigned char)*p))
            return -1;
        char *end = NULL;
        double v = strtod(p, &end);
        if (end == p || v < 0 || v > 1e9)
            return -1;
        double unit;
        switch (*end) {
        case 'Y':
            unit = in_time ? -1 : 365 * 86400.0;
            break;
        case 'W':
            unit = in_time ? -1 : 7 * 86400.0;
            break;
        case 'D':
            unit = in_time ? -1 : 86400.0;
            break;
        case 'H':
            unit = in_time ? 3600.0 : -1;
            break;
        case 'S':
            unit = in_time ? 1.0 : -1;
            break;
        case 'M':
            unit = in_time ? 60.0 : 30 * 86400.0;
            break;
        default:
            unit = -1;
            break;
        }
        if (unit < 0)
            return -1;
        total += v * unit;
        any = true;
        p = end + 1;
    }
    return any && total <= MAX_SECONDS ? (int64_t)(total + 0.5) : -1;
}
