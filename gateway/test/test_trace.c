/* W3C traceparent: a valid incoming trace is joined, anything else starts a new one. */
#include <string.h>

#include "check.h"
#include "gateway.h"

static bool well_formed(const char *t)
{
    if (strlen(t) != 55 || strncmp(t, "00-", 3) != 0 || t[35] != '-' || t[52] != '-')
        return false;
    for (int i = 3; i < 55; i++)
        if (i != 35 && i != 52 && strchr("0123456789abcdef", t[i]) == NULL)
            return false;
    return strncmp(t + 3, "00000000000000000000000000000000", 32) != 0 &&
           strncmp(t + 36, "0000000000000000", 16) != 0;
}

static void test_joins_a_valid_trace_with_a_new_span(void)
{
    const char *in = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-00";
    char out[GW_TRACEPARENT_SIZE], again[GW_TRACEPARENT_SIZE];
    gw_traceparent_next(in, out);
    CHECK(well_formed(out));
    CHECK(strncmp(out, in, 36) == 0);
    CHECK(strncmp(out + 36, in + 36, 16) != 0);
    CHECK_STR(out + 52, "-00"); /* flags kept */
    gw_traceparent_next(in, again);
    CHECK(strcmp(out, again) != 0);
}

static void test_anything_else_starts_a_new_trace(void)
{
    const char *bad[] = {
        NULL,
        "",
        "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7",    /* short */
        "01-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01", /* version */
        "00-4BF92F3577B34DA6A3CE929D0E0E4736-00f067aa0ba902b7-01", /* upper case */
        "00-00000000000000000000000000000000-00f067aa0ba902b7-01", /* zero trace */
        "00-4bf92f3577b34da6a3ce929d0e0e4736-0000000000000000-01", /* zero span */
        "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01-extra",
        "00_4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        char out[GW_TRACEPARENT_SIZE];
        gw_traceparent_next(bad[i], out);
        CHECK_MSG(well_formed(out), "from %s: %s", bad[i] ? bad[i] : "NULL", out);
        CHECK(strncmp(out + 3, "4bf92f3577b34da6a3ce929d0e0e4736", 32) != 0);
        CHECK_STR(out + 52, "-01");
    }
}

TEST_MAIN(test_joins_a_valid_trace_with_a_new_span, test_anything_else_starts_a_new_trace)
