#include <stdio.h>
#include <string.h>

#include "codec_internal.h"

/* Days since 1970-01-01 of a proleptic Gregorian date (H. Hinnant's days_from_civil). */
static int64_t days_from_civil(int64_t y, unsigned m, unsigned d)
{
    y -= m <= 2;
    int64_t era = (y >= 0 ? y : y - 399) / 400;
    unsigned yoe = (unsigned)(y - era * 400);
    unsigned doy = (153 * (m > 2 ? m - 3 : m + 9) + 2) / 5 + d - 1;
    unsigned doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    return era * 146097 + (int64_t)doe - 719468;
}

static void civil_from_days(int64_t z, int64_t *y_out, unsigned *m_out, unsigned *d_out)
{
    z += 719468;
    int64_t era = (z >= 0 ? z : z - 146096) / 146097;
    unsigned doe = (unsigned)(z - era * 146097);
    unsigned yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
    unsigned doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    unsigned mp = (5 * doy + 2) / 153;
    unsigned d = doy - (153 * mp + 2) / 5 + 1;
    unsigned m = mp < 10 ? mp + 3 : mp - 9;
    *y_out = (int64_t)yoe + era * 400 + (m <= 2);
    *m_out = m;
    *d_out = d;
}

static unsigned days_in_month(int64_t y, unsigned m)
{
    static const unsigned char days[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    bool leap = (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
    return m == 2 && leap ? 29 : days[m - 1];
}

/* Reads exactly `count` digits at s[*i]; false when one is not a digit. */
static bool digits(const char *s, size_t n, size_t *i, int count, unsigned *out)
{
    unsigned v = 0;
    for (int k = 0; k < count; k++, (*i)++) {
        if (*i >= n || s[*i] < '0' || s[*i] > '9')
            return false;
        v = v * 10 + (unsigned)(s[*i] - '0');
    }
    *out = v;
    return true;
}

static bool expect(const char *s, size_t n, size_t *i, char a, char b)
{
    if (*i >= n || (s[*i] != a && s[*i] != b))
        return false;
    (*i)++;
    return true;
}

bool mentis__codec_time_parse(const char *s, size_t n, int64_t *seconds, int32_t *nanos,
                              const char **why)
{
    static const char *const form = "expected an RFC 3339 date-time like 2026-11-23T10:20:00Z";
    size_t i = 0;
    unsigned year, month, day, hour, minute, second;
    /* RFC 3339 allows "t" and "z" in lower case as well. */
    if (!digits(s, n, &i, 4, &year) || !expect(s, n, &i, '-', '-') ||
        !digits(s, n, &i, 2, &month) || !expect(s, n, &i, '-', '-') || !digits(s, n, &i, 2, &day) ||
        !expect(s, n, &i, 'T', 't') || !digits(s, n, &i, 2, &hour) || !expect(s, n, &i, ':', ':') ||
        !digits(s, n, &i, 2, &minute) || !expect(s, n, &i, ':', ':') ||
        !digits(s, n, &i, 2, &second)) {
        *why = form;
        return false;
    }
    uint32_t frac = 0;
    if (i < n && s[i] == '.') {
        i++;
        int count = 0;
        while (i < n && s[i] >= '0' && s[i] <= '9') {
            if (++count > 9) {
                *why = "more than 9 fractional digits of a second";
                return false;
            }
            frac = frac * 10 + (uint32_t)(s[i++] - '0');
        }
        if (count == 0) {
            *why = form;
            return false;
        }
        for (; count < 9; count++)
            frac *= 10;
    }
    int64_t offset = 0;
    if (i < n && (s[i] == 'Z' || s[i] == 'z')) {
        i++;
    } else if (i < n && (s[i] == '+' || s[i] == '-')) {
        int sign = s[i++] == '-' ? -1 : 1;
        unsigned oh, om;
        if (!digits(s, n, &i, 2, &oh) || !expect(s, n, &i, ':', ':') || !digits(s, n, &i, 2, &om)) {
            *why = form;
            return false;
        }
        if (oh > 23 || om > 59) {
            *why = "invalid UTC offset";
            return false;
        }
        offset = sign * (int64_t)(oh * 3600 + om * 60);
    } else {
        *why = i < n ? form : "a time zone (Z or an offset like +02:00) is required";
        return false;
    }
    if (i != n) {
        *why = form;
        return false;
    }
    if (year < 1 || month < 1 || month > 12 || day < 1 || day > days_in_month(year, month)) {
        *why = "no such date";
        return false;
    }
    if (hour > 23 || minute > 59 || second > 59) { /* no leap seconds, as in protobuf */
        *why = "no such time of day";
        return false;
    }
    int64_t t =
        days_from_civil(year, month, day) * 86400 + hour * 3600 + minute * 60 + second - offset;
    if (t < MENTIS__CODEC_TIME_MIN || t > MENTIS__CODEC_TIME_MAX) {
        *why = "outside the years 0001 to 9999 in UTC";
        return false;
    }
    *seconds = t;
    *nanos = (int32_t)frac;
    return true;
}

/* v as exactly `width` decimal digits (zero-padded) at p; the end of them. */
static char *put_digits(char *p, unsigned v, int width)
{
    for (int i = width - 1; i >= 0; i--, v /= 10)
        p[i] = (char)('0' + v % 10);
    return p + width;
}

bool mentis__codec_time_format(int64_t seconds, int32_t nanos, char buf[MENTIS__CODEC_TIME_TEXT])
{
    if (seconds < MENTIS__CODEC_TIME_MIN || seconds > MENTIS__CODEC_TIME_MAX || nanos < 0 ||
        nanos > 999999999)
        return false;
    int64_t days = seconds / 86400, rem = seconds % 86400;
    if (rem < 0) {
        rem += 86400;
        days--;
    }
    int64_t y;
    unsigned m, d;
    civil_from_days(days, &y, &m, &d);
    /* Digit by digit: printf's cost showed in every reply with timestamps. */
    char *p = buf;
    p = put_digits(p, (unsigned)y, 4);
    *p++ = '-';
    p = put_digits(p, m, 2);
    *p++ = '-';
    p = put_digits(p, d, 2);
    *p++ = 'T';
    p = put_digits(p, (unsigned)(rem / 3600), 2);
    *p++ = ':';
    p = put_digits(p, (unsigned)(rem / 60 % 60), 2);
    *p++ = ':';
    p = put_digits(p, (unsigned)(rem % 60), 2);
    unsigned ms = (unsigned)nanos / 1000000;
    if (ms != 0) { /* whole seconds leave the milliseconds out: "…:05Z" */
        *p++ = '.';
        p = put_digits(p, ms, 3);
    }
    *p++ = 'Z';
    *p = '\0';
    return true;
}

void mentis__codec_time_get(const ProtobufCMessage *ts, int64_t *seconds, int32_t *nanos)
{
    const ProtobufCMessageDescriptor *desc = ts->descriptor;
    *seconds = mentis__codec_field_get(ts, &desc->fields[0]).i64;
    *nanos = mentis__codec_field_get(ts, &desc->fields[1]).i32;
}

void mentis__codec_time_set(ProtobufCMessage *ts, int64_t seconds, int32_t nanos)
{
    const ProtobufCMessageDescriptor *desc = ts->descriptor;
    mentis__codec_value_t v = {.i64 = seconds};
    mentis__codec_field_set(ts, &desc->fields[0], &v);
    v.i32 = nanos;
    mentis__codec_field_set(ts, &desc->fields[1], &v);
}
