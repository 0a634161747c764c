/*
 * ext.c: Cedar's extension types as plain C values (decimal, ipaddr,
 * datetime, duration): their parsers, their canonical text forms and the
 * pure operations declared in ext.h.  No allocation, no I/O.
 *
 * The reference is the Rust implementation in cedar-policy-core
 * (src/extensions/{decimal,ipaddr,datetime}.rs), which is what produces the
 * conformance corpus; the Lean specification (cedar-lean Cedar/Spec/Ext) is
 * followed where it agrees.  Where the two differ the Rust behaviour wins and
 * a comment below says so.
 */
#include "cedar/ext.h"

#include <stdio.h>

/* ---------------------------------------------------------------- helpers */

static bool is_digit(char c)
{
    return c >= '0' && c <= '9';
}

static int hex_val(char c)
{
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
}

/* Number of ASCII digits starting at p[i]. */
static size_t digit_run(const char *p, size_t n, size_t i)
{
    size_t j = i;
    while (j < n && is_digit(p[j]))
        j++;
    return j - i;
}

/* Parse exactly len ASCII digits (the caller has checked them) as a small number. */
static int small_num(const char *p, size_t len)
{
    int v = 0;
    for (size_t i = 0; i < len; i++)
        v = v * 10 + (p[i] - '0');
    return v;
}

/* Parse a run of ASCII digits as a u64; false on overflow. */
static bool parse_u64(const char *p, size_t len, uint64_t *out)
{
    uint64_t v = 0;
    for (size_t i = 0; i < len; i++) {
        if (__builtin_mul_overflow(v, 10, &v) || __builtin_add_overflow(v, (uint64_t)(p[i] - '0'), &v))
            return false;
    }
    *out = v;
    return true;
}

/* snprintf into buf and return the number of bytes actually stored (without the NUL). */
static size_t put(char *buf, size_t cap, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static size_t put(char *buf, size_t cap, const char *fmt, ...)
{
    if (cap == 0) return 0;
    va_list ap;
    va_start(ap, fmt);
    int r = vsnprintf(buf, cap, fmt, ap);
    va_end(ap);
    if (r < 0) {
        buf[0] = '\0';
        return 0;
    }
    return (size_t)r < cap ? (size_t)r : cap - 1;
}

#define I64_MAX_U ((uint64_t)INT64_MAX)
#define I64_MIN_MAG ((uint64_t)INT64_MAX + 1u) /* |INT64_MIN| */

/* ---------------------------------------------------------------- decimal */

/*
 * Rust: regex ^(-?\d+)\.(\d+)$, at most 4 fraction digits, then
 * i64::from_str(int part) * 10^4 +/- frac * 10^(4-len), every step checked.
 * (\d is Unicode in Rust's regex, but non-ASCII digits then fail
 * i64::from_str, so only ASCII digits are ever accepted.)  Every
 * intermediate has the sign of the result and a magnitude no larger than
 * it, so "the exact value fits in i64" is the whole overflow rule; this is
 * also Lean's rule (Decimal.parse, Int64.ofInt?).  Leading zeros are fine.
 */
int md_decimal_parse(md_str_t s, int64_t *out)
{
    const char *p = s.p;
    size_t n = s.n, i = 0;
    bool neg = false;
    if (n > 0 && p[0] == '-') {
        neg = true;
        i = 1;
    }
    size_t il = digit_run(p, n, i);
    if (il == 0) return MD_EINVAL;
    size_t ip = i;
    i += il;
    if (i >= n || p[i] != '.') return MD_EINVAL;
    i++;
    size_t fl = digit_run(p, n, i);
    if (fl == 0 || fl > 4 || i + fl != n) return MD_EINVAL;

    uint64_t mag;
    if (!parse_u64(p + ip, il, &mag)) return MD_EINVAL;
    if (__builtin_mul_overflow(mag, 10000u, &mag)) return MD_EINVAL;
    uint64_t frac = (uint64_t)small_num(p + i, fl);
    for (size_t k = fl; k < 4; k++)
        frac *= 10;
    if (__builtin_add_overflow(mag, frac, &mag)) return MD_EINVAL;
    if (mag > (neg ? I64_MIN_MAG : I64_MAX_U)) return MD_EINVAL;
    *out = neg ? (int64_t)(0u - mag) : (int64_t)mag;
    return MD_OK;
}

/* Rust Display: "{}.{:04}" of |d| with a leading '-' when negative (Lean agrees). */
size_t md_decimal_format(int64_t d, char *buf, size_t cap)
{
    uint64_t mag = d < 0 ? 0u - (uint64_t)d : (uint64_t)d;
    return put(buf, cap, "%s%llu.%04llu", d < 0 ? "-" : "", (unsigned long long)(mag / 10000),
               (unsigned long long)(mag % 10000));
}

/* ---------------------------------------------------------------- ipaddr */

#define IP_STR_MAX_LEN 43 /* len("ABCD:EF01:2345:6789:ABCD:EF01:2345:6789/128") */

/*
 * Rust std's Ipv4Addr parser: exactly four '.'-separated decimal groups of
 * 1-3 digits, no leading zero unless the group is "0", each <= 255.
 */
static bool parse_v4(const char *p, size_t n, uint8_t out[4])
{
    size_t i = 0;
    for (int k = 0; k < 4; k++) {
        if (k > 0) {
            if (i >= n || p[i] != '.') return false;
            i++;
        }
        size_t len = digit_run(p, n, i);
        if (len == 0 || len > 3) return false;
        if (len > 1 && p[i] == '0') return false;
        int v = small_num(p + i, len);
        if (v > 255) return false;
        out[k] = (uint8_t)v;
        i += len;
    }
    return i == n;
}

/*
 * Rust std's read_groups: up to `limit` ':'-separated groups of 1-4 hex
 * digits starting at *pos; a group that fails to parse is not consumed
 * (neither is its separator).  Returns how many groups were read.
 */
static int v6_groups(const char *p, size_t n, size_t *pos, uint16_t *g, int limit)
{
    size_t i = *pos;
    int k;
    for (k = 0; k < limit; k++) {
        size_t j = i;
        if (k > 0) {
            if (j >= n || p[j] != ':') break;
            j++;
        }
        size_t len = 0;
        unsigned v = 0;
        while (j + len < n && hex_val(p[j + len]) >= 0) {
            v = v * 16 + (unsigned)hex_val(p[j + len]);
            if (++len > 4) break;
        }
        if (len == 0 || len > 4) break;
        g[k] = (uint16_t)v;
        i = j + len;
    }
    *pos = i;
    return k;
}

/*
 * Rust std's Ipv6Addr parser without the embedded-IPv4 tail: Cedar rejects
 * any string with two or more ':' and two or more '.' before parsing, and
 * every IPv6 string with an embedded IPv4 part has at least two of each, so
 * that branch of the std parser can never produce an accepted value.  (Lean's
 * parseSegsV6 has no embedded-IPv4 form either.)  "::" stands for at least
 * one zero group and may appear once.
 */
static bool parse_v6(const char *p, size_t n, uint8_t out[16])
{
    uint16_t head[8] = {0}, tail[7] = {0};
    size_t i = 0;
    int hn = v6_groups(p, n, &i, head, 8), tn = 0;
    if (hn < 8) {
        if (i + 1 >= n || p[i] != ':' || p[i + 1] != ':') return false;
        i += 2;
        tn = v6_groups(p, n, &i, tail, 7 - hn);
        for (int k = 0; k < tn; k++)
            head[8 - tn + k] = tail[k];
    }
    if (i != n) return false;
    for (int k = 0; k < 8; k++) {
        out[2 * k] = (uint8_t)(head[k] >> 8);
        out[2 * k + 1] = (uint8_t)head[k];
    }
    return true;
}

/* Rust parse_prefix: at most max_len ASCII digits, no leading zero unless "0", value <= max. */
static bool parse_prefix(const char *p, size_t n, unsigned max, size_t max_len, uint8_t *out)
{
    if (n == 0 || n > max_len || digit_run(p, n, 0) != n) return false;
    if (n > 1 && p[0] == '0') return false;
    int v = small_num(p, n);
    if ((unsigned)v > max) return false;
    *out = (uint8_t)v;
    return true;
}

static size_t count_char(const char *p, size_t n, char c)
{
    size_t k = 0;
    for (size_t i = 0; i < n; i++)
        k += p[i] == c;
    return k;
}

/*
 * Rust IPAddr::from_str: reject strings longer than 43 bytes and strings
 * with >= 2 ':' and >= 2 '.' (IPv4 embedded in IPv6); split at the first
 * '/'; parse the address as IPv4, else IPv6; then the prefix (0..32 with at
 * most 2 digits, or 0..128 with at most 3).  The address is kept as written:
 * it is not masked with the prefix, so ip("10.0.0.1/24") != ip("10.0.0.0/24").
 */
int md_ip_parse(md_str_t s, md_ipaddr_t *out)
{
    const char *p = s.p;
    size_t n = s.n;
    if (n > IP_STR_MAX_LEN) return MD_EINVAL;
    if (count_char(p, n, ':') >= 2 && count_char(p, n, '.') >= 2) return MD_EINVAL;
    size_t an = n;
    const char *slash = n ? memchr(p, '/', n) : NULL;
    if (slash) an = (size_t)(slash - p);

    md_ipaddr_t ip;
    memset(&ip, 0, sizeof ip);
    if (parse_v4(p, an, ip.addr)) {
        ip.v6 = 0;
        ip.prefix = 32;
    } else if (parse_v6(p, an, ip.addr)) {
        ip.v6 = 1;
        ip.prefix = 128;
    } else {
        return MD_EINVAL;
    }
    if (slash) {
        const char *pp = slash + 1;
        size_t pn = n - an - 1;
        if (!parse_prefix(pp, pn, ip.v6 ? 128 : 32, ip.v6 ? 3 : 2, &ip.prefix)) return MD_EINVAL;
    }
    *out = ip;
    return MD_OK;
}

/*
 * Rust Display: "{addr}/{prefix}", the prefix always printed.  IPv6 uses
 * std's Display: an IPv4-mapped address (::ffff:a.b.c.d) prints in that
 * dotted form, otherwise the first longest run of two or more zero groups
 * becomes "::" and groups are lowercase hex without leading zeros.  (Lean
 * prints all eight groups zero-padded; this only affects messages.)  Note the
 * dotted mapped form is what Rust prints, even though ip() rejects it.
 */
size_t md_ip_format(const md_ipaddr_t *ip, char *buf, size_t cap)
{
    const uint8_t *a = ip->addr;
    if (!ip->v6) return put(buf, cap, "%u.%u.%u.%u/%u", a[0], a[1], a[2], a[3], ip->prefix);

    static const uint8_t mapped[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};
    if (memcmp(a, mapped, 12) == 0)
        return put(buf, cap, "::ffff:%u.%u.%u.%u/%u", a[12], a[13], a[14], a[15], ip->prefix);

    unsigned seg[8];
    for (int k = 0; k < 8; k++)
        seg[k] = (unsigned)a[2 * k] << 8 | a[2 * k + 1];
    int best = 0, best_len = 0, cur = 0, cur_len = 0;
    for (int k = 0; k < 8; k++) {
        if (seg[k] == 0) {
            if (cur_len == 0) cur = k;
            if (++cur_len > best_len) {
                best = cur;
                best_len = cur_len;
            }
        } else {
            cur_len = 0;
        }
    }
    char t[64];
    size_t m = 0;
    if (best_len > 1) {
        for (int k = 0; k < best; k++)
            m += (size_t)snprintf(t + m, sizeof t - m, k ? ":%x" : "%x", seg[k]);
        m += (size_t)snprintf(t + m, sizeof t - m, "::");
        for (int k = best + best_len; k < 8; k++)
            m += (size_t)snprintf(t + m, sizeof t - m, k > best + best_len ? ":%x" : "%x", seg[k]);
    } else {
        for (int k = 0; k < 8; k++)
            m += (size_t)snprintf(t + m, sizeof t - m, k ? ":%x" : "%x", seg[k]);
    }
    return put(buf, cap, "%s/%u", t, ip->prefix);
}

/* Rust derives PartialEq on {addr, prefix}; Lean derives DecidableEq on the CIDR. */
bool md_ip_eq(const md_ipaddr_t *a, const md_ipaddr_t *b)
{
    return a->v6 == b->v6 && a->prefix == b->prefix && memcmp(a->addr, b->addr, 16) == 0;
}

/* Rust's derived Ord: IPv4 before IPv6, then the address, then the prefix (Lean's IPNet.lt agrees). */
int md_ip_cmp(const md_ipaddr_t *a, const md_ipaddr_t *b)
{
    if (a->v6 != b->v6) return a->v6 < b->v6 ? -1 : 1;
    int c = memcmp(a->addr, b->addr, a->v6 ? 16 : 4);
    if (c != 0) return c < 0 ? -1 : 1;
    if (a->prefix != b->prefix) return a->prefix < b->prefix ? -1 : 1;
    return 0;
}

/* Rust: addr.is_loopback() && prefix >= 8 (IPv4: 127.0.0.0/8) or 128 (IPv6: ::1 only). */
bool md_ip_is_loopback(const md_ipaddr_t *ip)
{
    if (!ip->v6) return ip->addr[0] == 127 && ip->prefix >= 8;
    for (int k = 0; k < 15; k++)
        if (ip->addr[k] != 0) return false;
    return ip->addr[15] == 1 && ip->prefix >= 128;
}

/* Rust: addr.is_multicast() && prefix >= 4 (224.0.0.0/4) or 8 (ff00::/8). */
bool md_ip_is_multicast(const md_ipaddr_t *ip)
{
    if (!ip->v6) return ip->addr[0] >= 224 && ip->addr[0] <= 239 && ip->prefix >= 4;
    return ip->addr[0] == 0xff && ip->prefix >= 8;
}

/*
 * Rust is_in_range: same family, and other.network <= self.network and
 * self.broadcast <= other.broadcast, where network = addr & netmask(prefix)
 * and broadcast = addr | hostmask(prefix).  Computed bytewise (big-endian,
 * so memcmp is numeric order).
 */
bool md_ip_in_range(const md_ipaddr_t *a, const md_ipaddr_t *b)
{
    if (a->v6 != b->v6) return false;
    size_t w = a->v6 ? 16 : 4;
    uint8_t an[16], ab[16], bn[16], bb[16];
    for (size_t k = 0; k < w; k++) {
        int bit = (int)k * 8;
        int ma = a->prefix - bit, mb = b->prefix - bit; /* network bits in this byte */
        uint8_t mska = ma >= 8 ? 0xff : ma <= 0 ? 0 : (uint8_t)(0xff << (8 - ma));
        uint8_t mskb = mb >= 8 ? 0xff : mb <= 0 ? 0 : (uint8_t)(0xff << (8 - mb));
        an[k] = a->addr[k] & mska;
        ab[k] = a->addr[k] | (uint8_t)~mska;
        bn[k] = b->addr[k] & mskb;
        bb[k] = b->addr[k] | (uint8_t)~mskb;
    }
    return memcmp(bn, an, w) <= 0 && memcmp(ab, bb, w) <= 0;
}

/* ---------------------------------------------------------------- datetime */

#define MS_PER_DAY INT64_C(86400000)

static bool is_leap(int64_t y)
{
    return (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
}

static int days_in_month(int64_t y, int m)
{
    static const int dim[12] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    return m == 2 && is_leap(y) ? 29 : dim[m - 1];
}

/* Days since 1970-01-01 of a proleptic Gregorian date (H. Hinnant's days_from_civil). */
static int64_t days_from_civil(int64_t y, int m, int d)
{
    y -= m <= 2;
    int64_t era = (y >= 0 ? y : y - 399) / 400;
    int64_t yoe = y - era * 400;
    int64_t doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
    int64_t doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    return era * 146097 + doe - 719468;
}

/* Inverse of days_from_civil (civil_from_days); valid for any day count of an int64 ms value. */
static void civil_from_days(int64_t z, int64_t *y, int *m, int *d)
{
    z += 719468;
    int64_t era = (z >= 0 ? z : z - 146096) / 146097;
    int64_t doe = z - era * 146097;
    int64_t yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
    int64_t doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    int64_t mp = (5 * doy + 2) / 153;
    *d = (int)(doy - (153 * mp + 2) / 5 + 1);
    *m = (int)(mp < 10 ? mp + 3 : mp - 9);
    *y = yoe + era * 400 + (*m <= 2);
}

static bool digits_at(const char *p, size_t n, size_t i, size_t len)
{
    if (i + len > n) return false;
    for (size_t k = 0; k < len; k++)
        if (!is_digit(p[i + k])) return false;
    return true;
}

/*
 * Rust parse_datetime: three anchored regexes applied in turn,
 *   ^([0-9]{4})-([0-9]{2})-([0-9]{2})           (the whole string, or)
 *   ^T([0-9]{2}):([0-9]{2}):([0-9]{2})          then
 *   ^(\.([0-9]{3}))?(Z|((\+|-)([0-9]{2})([0-9]{2})))$
 * then chrono's NaiveDate::from_ymd_opt (any year 0000-9999, Gregorian leap
 * years, year 0 is a leap year), NaiveTime::from_hms_milli_opt (h < 24,
 * m < 60, s < 60: no leap second) and an offset with hh < 24 and mm < 60,
 * which is subtracted.  The result is ms since the epoch; it always fits.
 */
int md_datetime_parse(md_str_t s, int64_t *ms)
{
    const char *p = s.p;
    size_t n = s.n;
    if (!digits_at(p, n, 0, 4) || n < 5 || p[4] != '-' || !digits_at(p, n, 5, 2) || n < 8 || p[7] != '-' ||
        !digits_at(p, n, 8, 2))
        return MD_EINVAL;
    int y = small_num(p, 4), mo = small_num(p + 5, 2), d = small_num(p + 8, 2);
    int h = 0, mi = 0, sec = 0, milli = 0, off = 0; /* off in minutes east of UTC */
    if (n > 10) {
        if (p[10] != 'T' || !digits_at(p, n, 11, 2) || n < 14 || p[13] != ':' || !digits_at(p, n, 14, 2) ||
            n < 17 || p[16] != ':' || !digits_at(p, n, 17, 2))
            return MD_EINVAL;
        h = small_num(p + 11, 2);
        mi = small_num(p + 14, 2);
        sec = small_num(p + 17, 2);
        size_t i = 19;
        if (i < n && p[i] == '.' && digits_at(p, n, i + 1, 3)) {
            milli = small_num(p + i + 1, 3);
            i += 4;
        }
        if (i + 1 == n && p[i] == 'Z') {
            /* UTC */
        } else if (i + 5 == n && (p[i] == '+' || p[i] == '-') && digits_at(p, n, i + 1, 4)) {
            int oh = small_num(p + i + 1, 2), om = small_num(p + i + 3, 2);
            if (oh >= 24 || om >= 60) return MD_EINVAL;
            off = (oh * 60 + om) * (p[i] == '+' ? 1 : -1);
        } else {
            return MD_EINVAL;
        }
    }
    if (mo < 1 || mo > 12 || d < 1 || d > days_in_month(y, mo)) return MD_EINVAL;
    if (h >= 24 || mi >= 60 || sec >= 60) return MD_EINVAL;
    int64_t v = days_from_civil(y, mo, d) * MS_PER_DAY;
    v += ((int64_t)h * 3600 + mi * 60 + sec) * 1000 + milli;
    v -= (int64_t)off * 60000;
    *ms = v;
    return MD_OK;
}

/*
 * Rust parse_duration: ^-?((\d+)d)?((\d+)h)?((\d+)m)?((\d+)s)?((\d+)ms)?$
 * with [0-9] digits, "" and "-" rejected.  So units appear in the order
 * d h m s ms, each at most once, each with at least one digit; after a digit
 * run, "ms" is always the millisecond unit ("1ms" cannot be 1m followed by a
 * quantity-less "s").  Each quantity is a u64, the terms are added (or, with
 * '-', subtracted) with checked i64 arithmetic.  All terms share a sign, so
 * overflow happens exactly when the exact total leaves the i64 range; in
 * particular "-9223372036854775808ms" is accepted.  Lean agrees.
 */
int md_duration_parse(md_str_t s, int64_t *ms)
{
    static const uint64_t mul[5] = {86400000u, 3600000u, 60000u, 1000u, 1u};
    const char *p = s.p;
    size_t n = s.n, i = 0;
    bool neg = false;
    if (n > 0 && p[0] == '-') {
        neg = true;
        i = 1;
    }
    if (i == n) return MD_EINVAL; /* "" and "-" */
    int next = 0;                 /* the smallest unit index still allowed */
    uint64_t total = 0;
    while (i < n) {
        size_t len = digit_run(p, n, i);
        if (len == 0) return MD_EINVAL;
        uint64_t q;
        bool ok = parse_u64(p + i, len, &q);
        i += len;
        int unit;
        if (i + 1 < n && p[i] == 'm' && p[i + 1] == 's') {
            unit = 4;
            i += 2;
        } else if (i < n && (p[i] == 'd' || p[i] == 'h' || p[i] == 'm' || p[i] == 's')) {
            unit = p[i] == 'd' ? 0 : p[i] == 'h' ? 1 : p[i] == 'm' ? 2 : 3;
            i += 1;
        } else {
            return MD_EINVAL;
        }
        if (unit < next) return MD_EINVAL;
        next = unit + 1;
        uint64_t t;
        if (!ok || __builtin_mul_overflow(q, mul[unit], &t) || __builtin_add_overflow(total, t, &total))
            return MD_EINVAL;
    }
    if (total > (neg ? I64_MIN_MAG : I64_MAX_U)) return MD_EINVAL;
    *ms = neg ? (int64_t)(0u - total) : (int64_t)total;
    return MD_OK;
}

/* The earliest and latest instants a "...Z" datetime string can denote. */
#define DT_MIN_Z INT64_C(-62167219200000) /* 0000-01-01T00:00:00.000Z */
#define DT_MAX_Z INT64_C(253402300799999) /* 9999-12-31T23:59:59.999Z */
#define DT_MAX_OFF_MS INT64_C(86340000)   /* an offset of +/-2359 */

static size_t fmt_local(int64_t local, const char *zone, char *buf, size_t cap)
{
    int64_t days = local / MS_PER_DAY, rem = local % MS_PER_DAY;
    if (rem < 0) {
        rem += MS_PER_DAY;
        days -= 1;
    }
    int64_t y;
    int m, d;
    civil_from_days(days, &y, &m, &d);
    int h = (int)(rem / 3600000), mi = (int)(rem / 60000 % 60), sec = (int)(rem / 1000 % 60),
        milli = (int)(rem % 1000);
    if (y < 0 || y > 9999) /* not expressible; ISO 8601 expanded year, for messages only */
        return put(buf, cap, "%+lld-%02d-%02dT%02d:%02d:%02d.%03dZ", (long long)y, m, d, h, mi, sec, milli);
    if (rem == 0 && zone[0] == 'Z') return put(buf, cap, "%04lld-%02d-%02d", (long long)y, m, d);
    if (milli == 0)
        return put(buf, cap, "%04lld-%02d-%02dT%02d:%02d:%02d%s", (long long)y, m, d, h, mi, sec, zone);
    return put(buf, cap, "%04lld-%02d-%02dT%02d:%02d:%02d.%03d%s", (long long)y, m, d, h, mi, sec, milli,
               zone);
}

/*
 * A datetime string that md_datetime_parse maps back to ms: the shortest of
 * "YYYY-MM-DD", "...Thh:mm:ssZ" and "...Thh:mm:ss.SSSZ".  Instants just
 * outside years 0000-9999 that a +/-2359 offset can still reach are written
 * with that offset.  (Rust prints a datetime as
 * offset(datetime("1970-01-01"), duration("<ms>ms")), which is not a string.)
 * Values no datetime string can denote (reachable only through offset())
 * get an expanded-year form that does not parse back.
 */
size_t md_datetime_format(int64_t ms, char *buf, size_t cap)
{
    if (ms < DT_MIN_Z && ms >= DT_MIN_Z - DT_MAX_OFF_MS)
        return fmt_local(ms + DT_MAX_OFF_MS, "+2359", buf, cap);
    if (ms > DT_MAX_Z && ms <= DT_MAX_Z + DT_MAX_OFF_MS)
        return fmt_local(ms - DT_MAX_OFF_MS, "-2359", buf, cap);
    return fmt_local(ms, "Z", buf, cap);
}

/* Rust Display: "{ms}ms", which parses back for every i64. */
size_t md_duration_format(int64_t ms, char *buf, size_t cap)
{
    return put(buf, cap, "%lldms", (long long)ms);
}

/*
 * Rust to_date: epoch - epoch.rem_euclid(DAY), checked; it overflows only
 * for instants in the partial day just above INT64_MIN.  (Lean's toDate
 * computes ((val.div DAY) - 1) * DAY with wrapping Int64 arithmetic and so
 * never fails there; we follow Rust, which returns an error.)
 */
int md_datetime_to_date(int64_t ms, int64_t *out)
{
    int64_t r = ms % MS_PER_DAY;
    if (r < 0) r += MS_PER_DAY;
    if (ms < INT64_MIN + r) return MD_EINVAL;
    *out = ms - r;
    return MD_OK;
}

/* Rust to_time: the Euclidean remainder by one day, in [0, 86400000). */
int64_t md_datetime_to_time(int64_t ms)
{
    int64_t r = ms % MS_PER_DAY;
    return r < 0 ? r + MS_PER_DAY : r;
}
