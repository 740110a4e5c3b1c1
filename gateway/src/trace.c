/*
 * W3C Trace Context (https://www.w3.org/TR/trace-context/): the gateway joins a trace the
 * client started, or starts one, and sends its own span id on to the service.
 */
#include <stdio.h>
#include <string.h>

#include "gateway.h"
#include "mentis/crypto.h"

static bool lower_hex(const char *s, size_t n, bool *all_zero)
{
    *all_zero = true;
    for (size_t i = 0; i < n; i++) {
        char c = s[i];
        if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f')))
            return false;
        if (c != '0')
            *all_zero = false;
    }
    return true;
}

static void hex(const unsigned char *b, size_t n, char *out)
{
    static const char digits[] = "0123456789abcdef";
    for (size_t i = 0; i < n; i++) {
        out[2 * i] = digits[b[i] >> 4];
        out[2 * i + 1] = digits[b[i] & 15];
    }
}

/* Whether s is a version-00 traceparent: 00-<trace 32>-<parent 16>-<flags 2>, ids not zero. */
static bool valid(const char *s)
{
    bool zero;
    if (s == NULL || strlen(s) != 55 || s[2] != '-' || s[35] != '-' || s[52] != '-')
        return false;
    if (memcmp(s, "00", 2) != 0)
        return false;
    if (!lower_hex(s + 3, 32, &zero) || zero)
        return false;
    if (!lower_hex(s + 36, 16, &zero) || zero)
        return false;
    return lower_hex(s + 53, 2, &zero);
}

/*
 * Random bytes for ids, taken from a per-thread buffer filled by one call to the system's
 * generator per 4 KiB: a trace needs 24 bytes per request, and a system call for each was
 * a measurable part of what the gateway spends on a request. Ids need to be unpredictable
 * and unique, not secret, and the gateway never forks, so a buffer cannot be shared by two
 * processes.
 */
static void id_random(unsigned char *out, size_t n)
{
    static _Thread_local unsigned char pool[4096];
    static _Thread_local size_t left;
    if (n > sizeof pool) {
        mentis_crypto_random(out, n);
        return;
    }
    if (left < n) {
        mentis_crypto_random(pool, sizeof pool);
        left = sizeof pool;
    }
    memcpy(out, pool + sizeof pool - left, n);
    memset(pool + sizeof pool - left, 0, n); /* each byte is used once */
    left -= n;
}

void gw_traceparent_next(const char *incoming, char out[GW_TRACEPARENT_SIZE])
{
    unsigned char rnd[24];
    id_random(rnd, sizeof rnd);
    memcpy(out, "00-", 3);
    if (valid(incoming)) {
        memcpy(out + 3, incoming + 3, 32);
        memcpy(out + 53, incoming + 53, 2);
    } else {
        if (rnd[0] == 0)
            rnd[0] = 1; /* never the all-zero (invalid) trace id */
        hex(rnd, 16, out + 3);
        memcpy(out + 53, "01", 2);
    }
    if (rnd[16] == 0)
        rnd[16] = 1;
    out[35] = '-';
    hex(rnd + 16, 8, out + 36);
    out[52] = '-';
    out[55] = '\0';
}
