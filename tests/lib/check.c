#include "check.h"

#include <ctype.h>
#include <stdlib.h>
#include <time.h>

int check_failures;
int check_count;

/* `names` is the comma-separated source text of the case list, as TEST_MAIN stringified it. */
int check_run_named(const char *names, const check_case_fn *cases, int n)
{
    const char *p = names;
    int failed_cases = 0;
    const char *only = getenv("CHECK_ONLY");
    for (int i = 0; i < n; i++) {
        while (*p == ',' || isspace((unsigned char)*p))
            p++;
        const char *end = p;
        while (*end && *end != ',')
            end++;
        int len = (int)(end - p);
        while (len > 0 && isspace((unsigned char)p[len - 1]))
            len--;
        if (only == NULL || ((int)strlen(only) == len && strncmp(only, p, (size_t)len) == 0)) {
            int before = check_failures;
            struct timespec t0, t1;
            clock_gettime(CLOCK_MONOTONIC, &t0);
            cases[i]();
            clock_gettime(CLOCK_MONOTONIC, &t1);
            double ms = (double)(t1.tv_sec - t0.tv_sec) * 1e3 + (double)(t1.tv_nsec - t0.tv_nsec) / 1e6;

            if (check_failures != before)
                failed_cases++;
            fprintf(stderr, "%s %.*s (%.1f ms)\n", check_failures == before ? "ok  " : "FAIL", len, p, ms);
        }
        p = end;
    }
    fprintf(stderr, "%d checks, %d failed\n", check_count, check_failures);
    if (check_count == 0) {
        fprintf(stderr, "no check ran\n");
        return 1;
    }
    return failed_cases ? 1 : 0;
}
