#include <pthread.h>
#include <string.h>
#include <time.h>

#include <sodium.h>

#include "mentis/crypto.h"

/*
 * Monotonic ids (RFC 9562 section 6.2, method 2): within one millisecond, or when the clock
 * steps back, the 74 random bits of the previous id grow by a random step instead of being
 * drawn afresh, so ids sort in the order they were made and stay unguessable. The state is
 * per process and guarded by `lock`.
 */
static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static uint64_t last_ms; /* the timestamp of the last id */
static uint64_t last_hi; /* its 12 rand_a bits */
static uint64_t last_lo; /* its 62 rand_b bits */

#define LO_BITS 62
#define LO_MASK ((UINT64_C(1) << LO_BITS) - 1)
#define HI_MASK UINT64_C(0xfff)

static uint64_t now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

static uint64_t random_u64(void)
{
    uint64_t v;
    randombytes_buf(&v, sizeof v);
    return v;
}

void mentis_crypto_uuid_v7_bytes(uint8_t out[16])
{
    uint64_t ms = now_ms() & UINT64_C(0xffffffffffff);
    pthread_mutex_lock(&lock);
    if (ms > last_ms) {
        last_ms = ms;
        last_hi = random_u64() & HI_MASK;
        last_lo = random_u64() & LO_MASK;
    } else {
        /* A step of 1..2^32 leaves room for about 2^41 ids per millisecond. */
        uint64_t step = (random_u64() & UINT64_C(0xffffffff)) + 1;
        last_lo += step;
        if (last_lo > LO_MASK) {
            last_lo &= LO_MASK;
            if (++last_hi > HI_MASK) {
                /* The random bits ran out: borrow the next millisecond. */
                last_ms++;
                last_hi = random_u64() & HI_MASK;
                last_lo = random_u64() & LO_MASK;
            }
        }
    }
    uint64_t t = last_ms, hi = last_hi, lo = last_lo;
    pthread_mutex_unlock(&lock);

    for (int i = 0; i < 6; i++)
        out[i] = (uint8_t)(t >> (40 - 8 * i));
    out[6] = (uint8_t)(0x70 | (hi >> 8)); /* version 7 */
    out[7] = (uint8_t)hi;
    out[8] = (uint8_t)(0x80 | (lo >> 56)); /* variant 0b10 */
    for (int i = 9; i < 16; i++)
        out[i] = (uint8_t)(lo >> (8 * (15 - i)));
}

void mentis_crypto_uuid_format(const uint8_t uuid[16], char out[37])
{
    static const char digits[] = "0123456789abcdef";
    size_t o = 0;
    for (int i = 0; i < 16; i++) {
        if (i == 4 || i == 6 || i == 8 || i == 10)
            out[o++] = '-';
        out[o++] = digits[uuid[i] >> 4];
        out[o++] = digits[uuid[i] & 0xf];
    }
    out[o] = '\0';
}

void mentis_crypto_uuid_v7(char out[37])
{
    uint8_t b[16];
    mentis_crypto_uuid_v7_bytes(b);
    mentis_crypto_uuid_format(b, out);
}

static int hex_value(char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

bool mentis_crypto_uuid_parse(const char *text, uint8_t out[16])
{
    if (text == NULL)
        return false;
    uint8_t b[16];
    size_t n = 0;
    for (size_t i = 0; i < 36; i++) {
        if (i == 8 || i == 13 || i == 18 || i == 23) {
            if (text[i] != '-')
                return false;
            continue;
        }
        int v = hex_value(text[i]); /* also stops at a NUL inside the 36 */
        if (v < 0)
            return false;
        if (n % 2 == 0)
            b[n / 2] = (uint8_t)(v << 4);
        else
            b[n / 2] |= (uint8_t)v;
        n++;
    }
    if (text[36] != '\0')
        return false;
    memcpy(out, b, sizeof b);
    return true;
}
