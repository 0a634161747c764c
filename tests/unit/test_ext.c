/*
 * test_ext.c: unit tests for src/cedar/ext.c (decimal, ipaddr, datetime and
 * duration).  Golden values come from the reference sources, cited per block:
 *   [decimal.rs] [ipaddr.rs] [datetime.rs]  cedar-policy-core/src/extensions/ unit tests
 *   [docs-dt] [docs-ops]  cedar-docs _policies/syntax-datatypes.md, syntax-operators.md
 *   [std]  Rust std's Ipv4Addr/Ipv6Addr parser and Display (checked against rustc 1.95)
 *   [java]  java.time.Instant.ofEpochMilli(Long.MIN_VALUE / MAX_VALUE), same proleptic calendar
 * Values marked "derived" were worked out by hand from the Rust code.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>

#include "cedar/ext.h"

#define DAY INT64_C(86400000)
#define HOUR INT64_C(3600000)
#define MINUTE INT64_C(60000)
#define SEC INT64_C(1000)

/* ------------------------------------------------------------ helpers */

static int64_t dec(const char *s)
{
    int64_t v = 0;
    int rc = md_decimal_parse(md_str_c(s), &v);
    if (rc != MD_OK) fail_msg("decimal(\"%s\") should parse", s);
    return v;
}

static void dec_bad(const char *s)
{
    int64_t v = 12345;
    if (md_decimal_parse(md_str_c(s), &v) != MD_EINVAL) fail_msg("decimal(\"%s\") should be rejected", s);
    assert_int_equal(v, 12345); /* output untouched on error */
}

static md_ipaddr_t ip(const char *s)
{
    md_ipaddr_t a;
    memset(&a, 0xAA, sizeof a);
    if (md_ip_parse(md_str_c(s), &a) != MD_OK) fail_msg("ip(\"%s\") should parse", s);
    return a;
}

static void ip_bad(const char *s)
{
    md_ipaddr_t a;
    if (md_ip_parse(md_str_c(s), &a) != MD_EINVAL) fail_msg("ip(\"%s\") should be rejected", s);
}

static int64_t dt(const char *s)
{
    int64_t v = 0;
    if (md_datetime_parse(md_str_c(s), &v) != MD_OK) fail_msg("datetime(\"%s\") should parse", s);
    return v;
}

static void dt_bad(const char *s)
{
    int64_t v;
    if (md_datetime_parse(md_str_c(s), &v) != MD_EINVAL) fail_msg("datetime(\"%s\") should be rejected", s);
}

static int64_t dur(const char *s)
{
    int64_t v = 0;
    if (md_duration_parse(md_str_c(s), &v) != MD_OK) fail_msg("duration(\"%s\") should parse", s);
    return v;
}

static void dur_bad(const char *s)
{
    int64_t v;
    if (md_duration_parse(md_str_c(s), &v) != MD_EINVAL) fail_msg("duration(\"%s\") should be rejected", s);
}

static void check_ip_fmt(const char *in, const char *want)
{
    md_ipaddr_t a = ip(in);
    char buf[96];
    size_t n = md_ip_format(&a, buf, sizeof buf);
    assert_int_equal(n, strlen(want));
    assert_string_equal(buf, want);
}

static bool in_range(const char *a, const char *b)
{
    md_ipaddr_t x = ip(a), y = ip(b);
    return md_ip_in_range(&x, &y);
}

static bool ip_eq(const char *a, const char *b)
{
    md_ipaddr_t x = ip(a), y = ip(b);
    return md_ip_eq(&x, &y);
}

static bool loopback(const char *a)
{
    md_ipaddr_t x = ip(a);
    return md_ip_is_loopback(&x);
}

static bool multicast(const char *a)
{
    md_ipaddr_t x = ip(a);
    return md_ip_is_multicast(&x);
}

/* A small deterministic generator for the round-trip sweeps. */
static uint64_t rng_state = 0x9E3779B97F4A7C15u;
static uint64_t rng(void)
{
    rng_state ^= rng_state << 13;
    rng_state ^= rng_state >> 7;
    rng_state ^= rng_state << 17;
    return rng_state;
}

/* ------------------------------------------------------------ decimal */

static void test_decimal_parse_valid(void **state)
{
    /* [decimal.rs] decimal_creation: valid strings */
    assert_int_equal(dec("1.0"), 10000);
    assert_int_equal(dec("-1.0"), -10000);
    assert_int_equal(dec("123.456"), 1234560);
    assert_int_equal(dec("0.1234"), 1234);
    assert_int_equal(dec("-0.0123"), -123);
    assert_int_equal(dec("55.1"), 551000);
    assert_int_equal(dec("-922337203685477.5808"), INT64_MIN);
    assert_int_equal(dec("00.000"), 0); /* "weird, but ok" */
    /* [decimal.rs] decimal_equality: 123.0 == 123.0000 == 0123.0; 0.0 == -0.0 */
    assert_int_equal(dec("123.0"), dec("123.0000"));
    assert_int_equal(dec("0123.0"), dec("123.0"));
    assert_int_equal(dec("0.0"), dec("-0.0"));
    assert_int_equal(dec("-0.0"), 0);
    assert_true(dec("123.456") != dec("1.23"));
    /* [decimal.rs] VALID_DECIMAL_HELP: the range ends at 922337203685477.5807 */
    assert_int_equal(dec("922337203685477.5807"), INT64_MAX);
    /* derived: the sign applies to the fraction too; leading zeros of any length */
    assert_int_equal(dec("-0.5"), -5000);
    assert_int_equal(dec("-1.5"), -15000);
    assert_int_equal(dec("0000000000000000000000000001.5"), 15000);
    assert_int_equal(dec("7.0001"), 70001);
    assert_int_equal(dec("7.001"), 70010);
}

static void test_decimal_parse_invalid(void **state)
{
    /* [decimal.rs] decimal_creation: invalid strings */
    dec_bad("1234");
    dec_bad("1.0.");
    dec_bad("1.");
    dec_bad(".1");
    dec_bad("1.a");
    dec_bad("-.");
    /* [decimal.rs] too many fraction digits, even zeros */
    dec_bad("0.12345");
    dec_bad("0.00000");
    /* derived from the regex ^(-?\d+)\.(\d+)$ */
    dec_bad("");
    dec_bad("-");
    dec_bad(".");
    dec_bad("-1.");
    dec_bad("-.5");
    dec_bad("+1.0");
    dec_bad("--1.0");
    dec_bad(" 1.0");
    dec_bad("1.0 ");
    dec_bad("1.0\n");
    dec_bad("1 .0");
    dec_bad("1,0");
    dec_bad("1e3.0");
    dec_bad("0x1.0");
    dec_bad("1.-0");
    dec_bad("1..0");
    dec_bad("\xd9\xa1.\xd9\xa0"); /* Arabic-Indic digits: \d matches, i64::from_str does not */
    dec_bad("1.\xd9\xa0");
    md_str_t embedded_nul = {"1.0\0", 4};
    int64_t v;
    assert_int_equal(md_decimal_parse(embedded_nul, &v), MD_EINVAL);
}

static void test_decimal_overflow(void **state)
{
    /* [decimal.rs] decimal_creation: overflows */
    dec_bad("1000000000000000.0");
    dec_bad("922337203685477.5808");
    dec_bad("-922337203685477.5809");
    dec_bad("-922337203685478.0");
    /* derived: integer part beyond i64 / u64 */
    dec_bad("9223372036854775807.0");
    dec_bad("9223372036854775808.0");
    dec_bad("18446744073709551616.0");
    dec_bad("99999999999999999999999999.0");
    dec_bad("922337203685478.0");
    assert_int_equal(dec("922337203685477.0"), INT64_C(9223372036854770000));
    assert_int_equal(dec("-922337203685477.58"), INT64_C(-9223372036854775800));
}

static void test_decimal_format(void **state)
{
    char buf[64];
    /* [decimal.rs] Display "{}.{:04}" and decimal_display round trips */
    assert_int_equal(md_decimal_format(dec("123.0"), buf, sizeof buf), 8);
    assert_string_equal(buf, "123.0000");
    md_decimal_format(dec("1.2300"), buf, sizeof buf);
    assert_string_equal(buf, "1.2300");
    md_decimal_format(dec("-123.4560"), buf, sizeof buf);
    assert_string_equal(buf, "-123.4560");
    md_decimal_format(dec("0.0"), buf, sizeof buf);
    assert_string_equal(buf, "0.0000");
    md_decimal_format(dec("-0.0"), buf, sizeof buf);
    assert_string_equal(buf, "0.0000");
    md_decimal_format(-5, buf, sizeof buf);
    assert_string_equal(buf, "-0.0005");
    md_decimal_format(INT64_MIN, buf, sizeof buf);
    assert_string_equal(buf, "-922337203685477.5808");
    md_decimal_format(INT64_MAX, buf, sizeof buf);
    assert_string_equal(buf, "922337203685477.5807");
    /* truncation: at most cap-1 bytes and a NUL */
    assert_int_equal(md_decimal_format(12345, buf, 4), 3);
    assert_string_equal(buf, "1.2");
    assert_int_equal(md_decimal_format(12345, buf, 0), 0);
}

static void test_decimal_roundtrip(void **state)
{
    char buf[64];
    for (int i = 0; i < 20000; i++) {
        int64_t v = (int64_t)rng();
        if (i % 3 == 1) v >>= (rng() % 63);
        if (i == 0) v = INT64_MIN;
        if (i == 1) v = INT64_MAX;
        size_t n = md_decimal_format(v, buf, sizeof buf);
        int64_t back = 0;
        assert_int_equal(md_decimal_parse((md_str_t){buf, n}, &back), MD_OK);
        assert_int_equal(back, v);
    }
}

/* ------------------------------------------------------------ ipaddr */

static void test_ip_parse_v4(void **state)
{
    /* [ipaddr.rs] ip("127.0.0.1") isIpv4; no /prefix means /32 */
    md_ipaddr_t a = ip("127.0.0.1");
    assert_int_equal(a.v6, 0);
    assert_int_equal(a.prefix, 32);
    static const uint8_t want[16] = {127, 0, 0, 1};
    assert_memory_equal(a.addr, want, 16);
    /* [ipaddr.rs] ranges and the extremes of the prefix */
    a = ip("127.0.0.1/24");
    assert_int_equal(a.v6, 0);
    assert_int_equal(a.prefix, 24);
    assert_memory_equal(a.addr, want, 16); /* kept as written, not masked */
    assert_int_equal(ip("127.0.0.1/0").prefix, 0);
    assert_int_equal(ip("127.0.0.1/32").prefix, 32);
    /* [docs-dt] */
    a = ip("10.50.0.0/24");
    assert_int_equal(a.prefix, 24);
    assert_int_equal(a.addr[1], 50);
    /* [std] boundaries */
    a = ip("255.255.255.255");
    assert_int_equal(a.addr[0] & a.addr[1] & a.addr[2] & a.addr[3], 255);
    a = ip("0.0.0.0/0");
    assert_int_equal(a.addr[0] | a.addr[1] | a.addr[2] | a.addr[3], 0);
    assert_int_equal(ip("1.2.3.4/9").prefix, 9);
    assert_int_equal(ip("100.200.10.0").addr[1], 200);
}

static void test_ip_parse_v4_invalid(void **state)
{
    /* [ipaddr.rs] */
    ip_bad("380.0.0.1");
    ip_bad("?");
    ip_bad("ab.ab.ab.ab");
    ip_bad("127.0.0.1/8/24");
    ip_bad("172.0.0.1/64");
    ip_bad("10.0.0.0/33");
    /* [std] no octal/leading zeros, exactly four decimal groups of <= 3 digits */
    ip_bad("01.2.3.4");
    ip_bad("1.2.3.04");
    ip_bad("1.2.3.00");
    ip_bad("1.2.3.0001");
    ip_bad("1.2.3.256");
    ip_bad("1.2.3");
    ip_bad("1.2.3.4.5");
    ip_bad("1.2.3.");
    ip_bad(".1.2.3");
    ip_bad("1..2.3");
    ip_bad("127.1");
    ip_bad("0x7f.0.0.1");
    ip_bad("2130706433");
    ip_bad("1.2.3.-4");
    ip_bad("+1.2.3.4");
    ip_bad(" 1.2.3.4");
    ip_bad("1.2.3.4 ");
    ip_bad("");
    /* [ipaddr.rs] parse_prefix: digits only, <= 2 of them, no leading zero, <= 32 */
    ip_bad("1.2.3.4/");
    ip_bad("1.2.3.4/033");
    ip_bad("1.2.3.4/08");
    ip_bad("1.2.3.4/00");
    ip_bad("1.2.3.4/+8");
    ip_bad("1.2.3.4/-0");
    ip_bad("1.2.3.4/ 8");
    ip_bad("1.2.3.4/8 ");
    ip_bad("1.2.3.4/1a");
    ip_bad("/24");
    ip_bad("1.2.3.4//24");
    assert_int_equal(ip("1.2.3.4/0").prefix, 0); /* a lone "0" is fine */
}

static void test_ip_parse_v6(void **state)
{
    /* [ipaddr.rs] ip("::1") isIpv6 */
    md_ipaddr_t a = ip("::1");
    assert_int_equal(a.v6, 1);
    assert_int_equal(a.prefix, 128);
    static const uint8_t one[16] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1};
    assert_memory_equal(a.addr, one, 16);
    /* [ipaddr.rs] IPv4-mapped written in hex is an IPv6 address */
    a = ip("::ffff:ff00:1");
    assert_int_equal(a.v6, 1);
    static const uint8_t mapped[16] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff, 0xff, 0, 0, 1};
    assert_memory_equal(a.addr, mapped, 16);
    /* [ipaddr.rs] ranges and prefix extremes */
    a = ip("ffee::/64");
    assert_int_equal(a.prefix, 64);
    assert_int_equal(a.addr[0], 0xff);
    assert_int_equal(a.addr[1], 0xee);
    assert_int_equal(ip("ffee::/0").prefix, 0);
    assert_int_equal(ip("ffee::/128").prefix, 128);
    /* [std] full form, mixed case, leading zeros, "::" at either end */
    a = ip("1:2:3:4:5:6:7:8");
    for (int k = 0; k < 8; k++) {
        assert_int_equal(a.addr[2 * k], 0);
        assert_int_equal(a.addr[2 * k + 1], k + 1);
    }
    a = ip("ABCD:EF01:2345:6789:abcd:ef01:2345:6789/128"); /* 43 bytes: the longest accepted */
    assert_int_equal(a.addr[0], 0xab);
    assert_int_equal(a.addr[3], 0x01);
    assert_int_equal(a.addr[15], 0x89);
    a = ip("0001:0db8::");
    assert_int_equal(a.addr[1], 1);
    assert_int_equal(a.addr[2], 0x0d);
    assert_int_equal(a.addr[3], 0xb8);
    a = ip("1:2:3:4:5:6:7::");
    assert_int_equal(a.addr[13], 7);
    assert_int_equal(a.addr[15], 0);
    a = ip("::2:3:4:5:6:7:8");
    assert_int_equal(a.addr[1], 0);
    assert_int_equal(a.addr[3], 2);
    assert_int_equal(a.addr[15], 8);
    a = ip("1::8");
    assert_int_equal(a.addr[1], 1);
    assert_int_equal(a.addr[15], 8);
    a = ip("::");
    static const uint8_t zero[16] = {0};
    assert_memory_equal(a.addr, zero, 16);
    assert_int_equal(ip("::/0").prefix, 0);
    assert_int_equal(ip("1:2:3:4::/48").prefix, 48); /* [docs-dt] */
}

static void test_ip_parse_v6_invalid(void **state)
{
    /* [ipaddr.rs] */
    ip_bad("foo::1");
    ip_bad("::ffff:127.0.0.1"); /* IPv4 embedded in IPv6 is refused */
    ip_bad("::127.0.0.1");
    ip_bad("fee::/64::1");
    ip_bad("ffee::/132");
    ip_bad("ffee::/+1");
    ip_bad("ffee::/01");
    ip_bad("ffee::/1234");
    /* derived: every embedded-IPv4 form, which std would parse */
    ip_bad("1:2:3:4:5:6:1.2.3.4");
    ip_bad("::1.2.3.4/128");
    ip_bad("64:ff9b::192.0.2.33");
    /* [std] group syntax */
    ip_bad("1:2:3:4:5:6:7");
    ip_bad("1:2:3:4:5:6:7:8:9");
    ip_bad("1:2:3:4:5:6:7:8::");
    ip_bad("::1:2:3:4:5:6:7:8");
    ip_bad("1::2:3:4:5:6:7:8"); /* "::" must stand for at least one zero group */
    ip_bad("1:2:3:4::5:6:7:8");
    ip_bad("1::2::3");
    ip_bad(":::");
    ip_bad("1:::2");
    ip_bad(":1::");
    ip_bad("1::2:");
    ip_bad(":1:2:3:4:5:6:7:8");
    ip_bad("1:2:3:4:5:6:7:8:");
    ip_bad("12345::");
    ip_bad("::00001");
    ip_bad("::g");
    ip_bad(":");
    ip_bad("1:2");
    ip_bad("[::1]");
    ip_bad("::1%eth0");
    ip_bad(" ::1");
    /* [ipaddr.rs] parse_prefix for IPv6: <= 3 digits, no leading zero, <= 128 */
    ip_bad("::1/129");
    ip_bad("::1/0128");
    ip_bad("::1/012");
    ip_bad("::1/");
    ip_bad("::1/1.2");
    ip_bad("::/-1");
    /* [ipaddr.rs] longer than 43 bytes */
    ip_bad("ABCD:EF01:2345:6789:ABCD:EF01:2345:6789/1280");
}

static void test_ip_eq_cmp(void **state)
{
    /* [ipaddr.rs] ip_eq and more_ip_semantics */
    assert_true(ip_eq("127.0.0.1", "127.0.0.1"));
    assert_false(ip_eq("192.168.0.1", "8.8.8.8"));
    assert_false(ip_eq("127.0.0.1", "::1"));
    assert_false(ip_eq("127.0.0.1", "192.168.0.1/24"));
    assert_false(ip_eq("192.168.0.1/24", "8.8.8.8/8"));
    assert_true(ip_eq("10.0.0.0", "10.0.0.0"));
    assert_false(ip_eq("10.0.0.0", "10.0.0.1"));
    assert_true(ip_eq("10.0.0.0/32", "10.0.0.0"));
    assert_false(ip_eq("10.0.0.0/24", "10.0.0.0"));
    assert_true(ip_eq("10.0.0.0/32", "10.0.0.0/32"));
    assert_false(ip_eq("10.0.0.0/24", "10.0.0.0/32"));
    assert_false(ip_eq("10.0.0.0/24", "10.0.0.1/24")); /* no masking */
    assert_false(ip_eq("10.0.0.1/24", "10.0.0.1/29"));
    /* derived: same value however it is written */
    assert_true(ip_eq("::1", "0:0:0:0:0:0:0:1/128"));
    assert_true(ip_eq("FFEE::", "ffee:0::0"));
    assert_false(ip_eq("::", "0.0.0.0"));
    assert_false(ip_eq("::ffff:7f00:1", "127.0.0.1"));

    /* Rust's derived Ord: IPv4 < IPv6, then address, then prefix */
    const char *order[] = {
        "0.0.0.0/0", "0.0.0.0", "10.0.0.0/24", "10.0.0.0", "10.0.0.1/8", "255.255.255.255", "::/0",
        "::",        "::1/64",  "::1",         "1::",      "ffff::/8",   "ffff::/128",      "ffff::ffff"};
    size_t n = sizeof order / sizeof order[0];
    for (size_t i = 0; i < n; i++) {
        for (size_t j = 0; j < n; j++) {
            md_ipaddr_t x = ip(order[i]), y = ip(order[j]);
            int c = md_ip_cmp(&x, &y), want = i < j ? -1 : i > j ? 1 : 0;
            if ((c > 0) - (c < 0) != want) fail_msg("cmp(%s, %s) = %d, want %d", order[i], order[j], c, want);
            assert_int_equal(md_ip_eq(&x, &y), i == j);
        }
    }
    md_ipaddr_t x = ip("10.0.0.0/32"), y = ip("10.0.0.0");
    assert_int_equal(md_ip_cmp(&x, &y), 0);
}

static void test_ip_loopback_multicast(void **state)
{
    /* [ipaddr.rs] is_loopback_and_is_multicast, [docs-ops] */
    assert_true(loopback("127.0.0.2"));
    assert_true(loopback("::1"));
    assert_false(loopback("::2"));
    assert_false(loopback("127.255.200.200/0"));
    assert_true(multicast("228.228.228.0"));
    assert_false(multicast("224.0.0.0/3"));
    assert_true(multicast("224.0.0.0/5"));
    assert_false(multicast("ff00::/7"));
    assert_true(multicast("ff00::/9"));
    assert_false(multicast("127.0.0.1"));
    assert_false(multicast("127.0.0.1/1"));
    assert_true(multicast("ff00::2"));
    /* derived: the prefix thresholds and range edges (127.0.0.0/8, ::1/128, 224.0.0.0/4, ff00::/8) */
    assert_true(loopback("127.0.0.0/8"));
    assert_false(loopback("127.0.0.0/7"));
    assert_true(loopback("127.255.255.255"));
    assert_false(loopback("128.0.0.1"));
    assert_false(loopback("126.255.255.255"));
    assert_false(loopback("::1/127"));
    assert_true(loopback("::1/128"));
    assert_false(loopback("::"));
    assert_false(loopback("::ffff:7f00:1")); /* mapped 127.0.0.1 is IPv6, not loopback */
    assert_true(multicast("224.0.0.0/4"));
    assert_true(multicast("239.255.255.255"));
    assert_false(multicast("240.0.0.0"));
    assert_false(multicast("223.255.255.255"));
    assert_true(multicast("ff00::/8"));
    assert_true(multicast("ffff:ffff::"));
    assert_false(multicast("fe00::"));
    assert_false(multicast("::ffff:e000:1"));
}

static void test_ip_in_range(void **state)
{
    /* [ipaddr.rs] ip_is_in_range, [docs-ops] isInRange */
    assert_true(in_range("192.168.0.1/24", "192.168.0.1/24"));
    assert_true(in_range("192.168.0.1", "192.168.0.1/28"));
    assert_true(in_range("192.168.0.10", "192.168.0.1/24"));
    assert_true(in_range("192.168.0.10", "192.168.0.1/28"));
    assert_true(in_range("192.168.0.75", "192.168.0.1/24"));
    assert_false(in_range("192.168.0.75", "192.168.0.1/28"));
    assert_true(in_range("192.168.0.1", "192.168.0.1"));
    assert_true(in_range("1:2:3:4::", "1:2:3:4::/48"));
    assert_true(in_range("1:2:3:4::", "1:2:3:4::/52"));
    assert_true(in_range("1:2:3:6::", "1:2:3:4::/48"));
    assert_true(in_range("1:2:3:6::", "1:2:3:4::/52"));
    assert_true(in_range("1:2:3:ffff::", "1:2:3:4::/48"));
    assert_false(in_range("1:2:3:ffff::", "1:2:3:4::/52"));
    assert_true(in_range("1:2:3:4::", "1:2:3:4::"));
    assert_false(in_range("192.168.0.1", "1:2:3:4::/48"));
    assert_false(in_range("192.168.0.1", "1:2:3:4::"));
    /* [ipaddr.rs] variadic cases, taken one range at a time */
    assert_true(in_range("192.168.1.100", "192.168.0.0/16"));
    assert_false(in_range("192.168.1.100", "10.0.0.0/8"));
    assert_false(in_range("8.8.8.8", "172.16.0.0/12"));
    assert_true(in_range("2001:db8::1", "2001:db8::/32"));
    assert_false(in_range("2001:db8::1", "fe80::/10"));
    assert_false(in_range("2001:db8::1", "::1/128"));
    assert_true(in_range("127.0.0.1", "127.0.0.0/8"));
    assert_true(in_range("::1", "::1/128"));
    assert_true(in_range("192.168.0.0", "192.168.0.0/24"));
    assert_true(in_range("192.168.0.255", "192.168.0.0/24"));
    assert_false(in_range("192.168.1.0", "192.168.0.0/24"));
    assert_false(in_range("203.0.113.1", "172.16.0.0/12"));
    /* [ipaddr.rs] more_ip_semantics */
    assert_true(in_range("10.0.0.0", "10.0.0.0/24"));
    assert_true(in_range("10.0.0.0", "10.0.0.0/32"));
    assert_true(in_range("10.0.0.0", "10.0.0.1/24"));
    assert_false(in_range("10.0.0.0", "10.0.0.1/32"));
    assert_true(in_range("10.0.0.1", "10.0.0.0/24"));
    assert_true(in_range("10.0.0.1", "10.0.0.1/24"));
    assert_false(in_range("10.0.0.0/24", "10.0.0.0/32"));
    assert_true(in_range("10.0.0.0/32", "10.0.0.0/24"));
    assert_true(in_range("10.0.0.1/24", "10.0.0.0/24"));
    assert_true(in_range("10.0.0.1/24", "10.0.0.1/24"));
    assert_true(in_range("10.0.0.0/24", "10.0.0.1/24"));
    assert_false(in_range("10.0.0.0/24", "10.0.0.0/29"));
    assert_true(in_range("10.0.0.0/29", "10.0.0.0/24"));
    assert_false(in_range("10.0.0.0/24", "10.0.0.1/29"));
    assert_true(in_range("10.0.0.0/29", "10.0.0.1/24"));
    assert_false(in_range("10.0.0.1/24", "10.0.0.0/29"));
    assert_true(in_range("10.0.0.1/29", "10.0.0.0/24"));
    assert_true(in_range("10.0.0.0/32", "10.0.0.0/32"));
    assert_true(in_range("10.0.0.0/32", "10.0.0.0"));
    /* derived: /0 covers the family, never the other family; odd prefixes */
    assert_true(in_range("255.255.255.255", "1.2.3.4/0"));
    assert_true(in_range("0.0.0.0/0", "9.9.9.9/0"));
    assert_false(in_range("0.0.0.0/0", "0.0.0.0/1"));
    assert_true(in_range("ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff", "::/0"));
    assert_false(in_range("::/0", "::/1"));
    assert_false(in_range("::ffff:c0a8:1", "192.168.0.0/16")); /* ::ffff:192.168.0.1 */
    assert_false(in_range("192.168.0.1", "::ffff:c0a8:0/112"));
    assert_false(in_range("::", "0.0.0.0/0"));
    assert_true(in_range("10.0.0.127", "10.0.0.0/25"));
    assert_false(in_range("10.0.0.128", "10.0.0.0/25"));
    assert_true(in_range("1:2:3:4:7fff::", "1:2:3:4::/65"));
    assert_false(in_range("1:2:3:4:8000::", "1:2:3:4::/65"));
    assert_true(in_range("1::8000:0/97", "1::/96"));
    assert_false(in_range("1::/95", "1::/96"));
    assert_true(in_range("1::ffff", "1::ff00/120"));
    assert_false(in_range("1::1:0", "1::ff00/120"));
}

static void test_ip_format(void **state)
{
    /* [ipaddr.rs] Display "{addr}/{prefix}" */
    check_ip_fmt("127.0.0.1/0", "127.0.0.1/0");
    check_ip_fmt("127.0.0.1/8", "127.0.0.1/8");
    check_ip_fmt("127.0.0.1/32", "127.0.0.1/32");
    check_ip_fmt("127.0.0.1", "127.0.0.1/32");
    check_ip_fmt("ffee::/64", "ffee::/64");
    check_ip_fmt("ffee::11", "ffee::11/128");
    check_ip_fmt("10.0.0.1/24", "10.0.0.1/24"); /* not masked */
    /* [std] Ipv6Addr Display: the first longest run of >= 2 zero groups becomes "::" */
    check_ip_fmt("::", "::/128");
    check_ip_fmt("::1", "::1/128");
    check_ip_fmt("1::", "1::/128");
    check_ip_fmt("FFEE:0:0:0:0:0:0:AB", "ffee::ab/128");
    check_ip_fmt("0001:0db8:0000:0000:0000:0000:0000:0001/64", "1:db8::1/64");
    check_ip_fmt("1:0:0:1:0:0:0:1/64", "1:0:0:1::1/64");
    check_ip_fmt("1:0:0:2:0:0:3:4", "1::2:0:0:3:4/128");
    check_ip_fmt("1:0:2:3:4:5:6:7", "1:0:2:3:4:5:6:7/128");
    check_ip_fmt("1:2:3:4:5:6:7:8", "1:2:3:4:5:6:7:8/128");
    check_ip_fmt("ABCD:EF01:2345:6789:ABCD:EF01:2345:6789/128",
                 "abcd:ef01:2345:6789:abcd:ef01:2345:6789/128");
    /* [std] IPv4-mapped addresses print dotted (what Rust prints, although ip() refuses it) */
    check_ip_fmt("::ffff:ff00:1", "::ffff:255.0.0.1/128");
    check_ip_fmt("::ffff:0:0/96", "::ffff:0.0.0.0/96");
    check_ip_fmt("::fffe:ff00:1", "::fffe:ff00:1/128");
    check_ip_fmt("0:0:0:0:0:1:ffff:1", "::1:ffff:1/128");

    char buf[8];
    md_ipaddr_t a = ip("192.168.100.200/24");
    assert_int_equal(md_ip_format(&a, buf, sizeof buf), 7);
    assert_string_equal(buf, "192.168");
}

/* ------------------------------------------------------------ datetime */

static void test_datetime_parse_valid(void **state)
{
    /* [datetime.rs] test_interpretation_datetime */
    assert_int_equal(dt("2024-10-28"), INT64_C(1730073600000));
    assert_int_equal(dt("2024-10-28T01:22:33.456Z"), INT64_C(1730078553456));
    assert_int_equal(dt("2024-10-28T10:12:13.456-0700"), INT64_C(1730135533456));
    assert_int_equal(dt("2024-10-28T10:12:13.456-0700"), dt("2024-10-28T17:12:13.456Z"));
    assert_int_equal(dt("2024-10-28T10:12:13.456-0700") - 7 * HOUR, dt("2024-10-28T10:12:13.456Z"));
    assert_int_equal(dt("2024-10-28T10:12:13.456+0700") + 7 * HOUR, dt("2024-10-28T10:12:13.456Z"));
    assert_true(dt("2024-10-28T10:12:13.456-0700") < dt("2024-10-28T17:12:13.456-0800"));
    /* [datetime.rs] test_parse_pos */
    assert_int_equal(dt("2024-10-15"), dt("2024-10-15T00:00:00Z"));
    assert_int_equal(dt("2024-10-15T11:38:02Z"), INT64_C(1728992282000));
    assert_int_equal(dt("2024-10-15T11:38:02.101Z"), INT64_C(1728992282101));
    assert_int_equal(dt("2024-10-15T11:38:02.101+1134"), dt("2024-10-15T00:04:02.101Z"));
    assert_int_equal(dt("2024-10-15T11:38:02.101-1134"), dt("2024-10-15T23:12:02.101Z"));
    assert_int_equal(dt("2024-10-15T11:38:02+1134"), dt("2024-10-15T00:04:02Z"));
    assert_int_equal(dt("2024-10-15T11:38:02-1134"), dt("2024-10-15T23:12:02Z"));
    assert_int_equal(dt("2024-10-15T23:59:00+2359"), dt("2024-10-15"));
    assert_int_equal(dt("2024-10-15T00:00:00-2359"), dt("2024-10-15T23:59:00Z"));
    /* [datetime.rs] test_duration_since: 2024-10-24 is day 20020 */
    assert_int_equal(dt("2024-10-24"), 20020 * DAY);
    assert_int_equal(dt("1970-01-01"), 0);
    assert_int_equal(dt("1969-12-31"), -DAY);
    /* [docs-dt] the five formats */
    assert_int_equal(dt("2024-10-15T11:35:00Z"), dt("2024-10-15T11:35:00.000Z"));
    assert_int_equal(dt("2024-10-15T11:35:00+0100"), dt("2024-10-15T10:35:00Z"));
    assert_int_equal(dt("2024-10-15T11:35:00.000+0100"), dt("2024-10-15T10:35:00Z"));
    /* [docs-ops] durationSince examples */
    assert_int_equal(dt("2024-10-15T01:00:00Z") - dt("2024-10-15"), HOUR);
    assert_int_equal(dt("2024-10-14T23:18:00Z") - dt("2024-10-15"), -42 * MINUTE);
    assert_int_equal(dt("2024-10-16T00:00:00-0500") - dt("2024-10-15"), DAY + 5 * HOUR);
    /* derived (proleptic Gregorian, as chrono): leap years, year 0, ends of months */
    assert_int_equal(dt("1900-01-01"), INT64_C(-2208988800000));
    assert_int_equal(dt("2000-02-29"), INT64_C(951782400000));
    assert_int_equal(dt("2000-03-01") - dt("2000-02-28"), 2 * DAY);
    assert_int_equal(dt("1900-03-01") - dt("1900-02-28"), DAY);
    assert_int_equal(dt("0001-01-01"), INT64_C(-62135596800000));
    assert_int_equal(dt("0001-01-01") - dt("0000-01-01"), 366 * DAY); /* year 0 is a leap year */
    assert_int_equal(dt("0000-02-29") + DAY, dt("0000-03-01"));
    assert_int_equal(dt("2024-12-31T23:59:59.999Z") + 1, dt("2025-01-01"));
    assert_int_equal(dt("2024-04-30"), dt("2024-05-01") - DAY);
    assert_int_equal(dt("1969-12-31T23:59:59.999Z"), -1);
    assert_int_equal(dt("1970-01-01T00:00:00.001+0000"), 1);
    assert_int_equal(dt("1970-01-01T00:00:00-0000"), 0);
}

static void test_datetime_parse_invalid(void **state)
{
    /* [datetime.rs] test_parse_neg */
    const char *bad[] = {
        "",
        "a",
        "-",
        "-1",
        "11-12-13",
        "1111-1x-20",
        "2024-10-15Z",
        "2024-10-15T11:38:02ZZ",
        /* invalid dates */
        "0000-0a-01",
        "10000-01-01",
        "10000-01-01T00:00:00Z",
        "2024-00-01",
        "2024-01-00",
        "2024-02-30",
        "2025-02-29",
        "2024-20-01",
        "2024-01-32",
        "2024-01-99",
        "2024-04-31",
        /* invalid hms */
        "2024-01-01T",
        "2024-01-01Ta",
        "2024-01-01T01:",
        "2024-01-01T01:02",
        "2024-01-01T01:02:0b",
        "2024-01-01T01::02:03",
        "2024-01-01T01::02::03",
        "2024-01-01T31:02:03Z",
        "2024-01-01T01:60:03Z",
        "2016-12-31T23:59:60Z",
        "2016-12-31T23:59:61Z",
        /* invalid ms / offset */
        "2024-01-01T00:00:00",
        "2024-01-01T00:00:00T",
        "2024-01-01T00:00:00ZZ",
        "2024-01-01T00:00:00x001Z",
        "2024-01-01T00:00:00.001ZZ",
        "2024-01-01T00:00:00\xe2\x9e\x95"
        "0000",
        "2024-01-01T00:00:00\xe2\x9e\x96"
        "0000",
        "2024-01-01T00:00:00.0001Z",
        "2024-01-01T00:00:00.001\xe2\x9e\x96"
        "0000",
        "2024-01-01T00:00:00.001\xe2\x9e\x95"
        "0000",
        "2024-01-01T00:00:00.001+00000",
        "2024-01-01T00:00:00.001-00000",
        "2016-12-31T00:00:00+1160",
        "2016-12-31T00:00:00+1199",
        "2016-12-31T00:00:00+2400",
        /* [docs-ops] */
        "2022-10-10 ",
        "2024-01-01T01:02",
        "2016-12-31T23:59:60.000Z",
        /* derived */
        "2024-01-01T00:00:00.1Z",
        "2024-01-01T00:00:00.12Z",
        "2024-01-01T00:00:00.Z",
        "2024-01-01T00:00:00.000",
        "2024-01-01T00:00:00+01:00",
        "2024-01-01T00:00:00+01",
        "2024-01-01T00:00:00+1",
        "2024-01-01T00:00:00z",
        "2024-01-01t00:00:00Z",
        "2024-01-01 00:00:00Z",
        "+2024-01-01",
        " 2024-01-01",
        "2024-1-01",
        "2024-01-1",
        "24-01-01",
        "2024/01/01",
        "2024-01-01T24:00:00Z",
        "2024-01-01T00:00:00-0060",
        "2024-01-01T00:00:00-2400",
        "2024-01-01T1:00:00Z",
        "2024-01-01T00:00:00.000Z ",
        "2024-01-01T00:00:00Z\n",
        "2024-01-01\n",
        "1900-02-29",
        "2100-02-29",
        "2023-02-29",
        "2024-06-31",
        "2024-09-31",
        "2024-11-31",
        "2024-13-01",
        "2024-01-01T00:00:00.000+2359Z",
        "2024-01-01TT00:00:00Z",
        "\xd9\xa2"
        "024-01-01",
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        dt_bad(bad[i]);
    md_str_t nul = {"2024-01-01\0", 11};
    int64_t v;
    assert_int_equal(md_datetime_parse(nul, &v), MD_EINVAL);
}

static void test_datetime_bounds(void **state)
{
    /* [docs-dt] the earliest and latest datetimes a string can denote */
    int64_t lo = dt("0000-01-01T00:00:00+2359"), hi = dt("9999-12-31T23:59:59-2359");
    assert_int_equal(lo, INT64_C(-62167219200000) - (23 * HOUR + 59 * MINUTE));
    assert_int_equal(hi, INT64_C(253402300799000) + 23 * HOUR + 59 * MINUTE);
    assert_int_equal(dt("0000-01-01"), INT64_C(-62167219200000));
    assert_int_equal(dt("9999-12-31T23:59:59.999Z"), INT64_C(253402300799999));
    assert_int_equal(dt("9999-12-31T23:59:59.999-2359"), hi + 999);
}

static void test_datetime_to_date_time(void **state)
{
    int64_t out = 0;
    /* [docs-ops] toDate / toTime */
    assert_int_equal(md_datetime_to_date(dt("2025-02-20T10:35:00Z"), &out), MD_OK);
    assert_int_equal(out, dt("2025-02-20"));
    assert_int_equal(md_datetime_to_date(dt("2025-02-20T22:00:00-0500"), &out), MD_OK);
    assert_int_equal(out, dt("2025-02-21"));
    assert_int_equal(md_datetime_to_time(dt("2025-02-20T10:35:00Z")), dur("10h35m"));
    assert_int_equal(md_datetime_to_time(dt("2025-02-20T10:35:00-0500")), dur("15h35m"));
    assert_int_equal(md_datetime_to_time(dt("2025-02-20T22:00:00-0500")), dur("3h"));
    /* [datetime.rs] test_interpretation_datetime */
    assert_int_equal(md_datetime_to_date(dt("2024-10-28T10:12:13.456+0700"), &out), MD_OK);
    assert_int_equal(out, dt("2024-10-28"));
    assert_int_equal(md_datetime_to_date(dt("2024-10-28T10:12:13.456-0700"), &out), MD_OK);
    assert_int_equal(out, dt("2024-10-28"));
    assert_int_equal(md_datetime_to_time(dt("2024-10-28T10:12:13.456+0700")), dur("3h12m13s456ms"));
    assert_int_equal(md_datetime_to_time(dt("2024-10-28T10:12:13.456-0700")), dur("17h12m13s456ms"));
    /* [datetime.rs] test_to_date / test_to_time, including days before the epoch */
    const char *days[] = {"2024-10-24", "2024-10-23", "1970-01-01", "1900-01-01"};
    int64_t maxo = dur("23h59m59s999ms"), mino = dur("-23h59m59s999ms");
    for (size_t i = 0; i < 4; i++) {
        int64_t d = dt(days[i]);
        assert_int_equal(md_datetime_to_date(d, &out), MD_OK);
        assert_int_equal(out, d);
        assert_int_equal(md_datetime_to_date(d + maxo, &out), MD_OK);
        assert_int_equal(out, d);
        assert_int_equal(md_datetime_to_date(d + mino, &out), MD_OK);
        assert_int_equal(out, d - DAY);
        assert_int_equal(md_datetime_to_time(d + maxo), maxo);
        assert_int_equal(md_datetime_to_time(d + mino), 1);
        assert_int_equal(md_datetime_to_time(d), 0);
    }
    /* [datetime.rs] test_to_date: epoch.offset(i64::MINUTE).toDate() overflows */
    out = 77;
    assert_int_equal(md_datetime_to_date(INT64_MIN, &out), MD_EINVAL);
    assert_int_equal(out, 77);
    /* derived: the first day boundary above INT64_MIN is -9223372036828800000 */
    assert_int_equal(md_datetime_to_date(INT64_C(-9223372036828800000), &out), MD_OK);
    assert_int_equal(out, INT64_C(-9223372036828800000));
    assert_int_equal(md_datetime_to_date(INT64_C(-9223372036828799999), &out), MD_OK);
    assert_int_equal(out, INT64_C(-9223372036828800000));
    assert_int_equal(md_datetime_to_date(INT64_C(-9223372036828800001), &out), MD_EINVAL);
    assert_int_equal(md_datetime_to_date(INT64_MAX, &out), MD_OK);
    assert_int_equal(out, INT64_C(9223372036828800000));
    assert_int_equal(md_datetime_to_date(-1, &out), MD_OK);
    assert_int_equal(out, -DAY);
    assert_int_equal(md_datetime_to_date(-DAY, &out), MD_OK);
    assert_int_equal(out, -DAY);
    assert_int_equal(md_datetime_to_date(-DAY - 1, &out), MD_OK);
    assert_int_equal(out, -2 * DAY);
    assert_int_equal(md_datetime_to_time(INT64_MIN), 60424192);
    assert_int_equal(md_datetime_to_time(INT64_MAX), 25975807);
    assert_int_equal(md_datetime_to_time(-1), DAY - 1);
    assert_int_equal(md_datetime_to_time(-DAY), 0);
    assert_int_equal(md_datetime_to_time(DAY - 1), DAY - 1);
}

static void check_dt_fmt(int64_t ms, const char *want)
{
    char buf[96];
    size_t n = md_datetime_format(ms, buf, sizeof buf);
    assert_int_equal(n, strlen(want));
    assert_string_equal(buf, want);
}

static void test_datetime_format(void **state)
{
    check_dt_fmt(0, "1970-01-01");
    check_dt_fmt(INT64_C(1730073600000), "2024-10-28");
    check_dt_fmt(INT64_C(1730078553456), "2024-10-28T01:22:33.456Z");
    check_dt_fmt(INT64_C(1730078553000), "2024-10-28T01:22:33Z");
    check_dt_fmt(-1, "1969-12-31T23:59:59.999Z");
    check_dt_fmt(INT64_C(-62167219200000), "0000-01-01");
    check_dt_fmt(INT64_C(253402300799999), "9999-12-31T23:59:59.999Z");
    /* just outside years 0000-9999 but reachable with a +/-2359 offset */
    check_dt_fmt(dt("0000-01-01T00:00:00+2359"), "0000-01-01T00:00:00+2359");
    check_dt_fmt(INT64_C(-62167219200000) - 1, "0000-01-01T23:58:59.999+2359");
    check_dt_fmt(dt("9999-12-31T23:59:59.999-2359"), "9999-12-31T23:59:59.999-2359");
    check_dt_fmt(INT64_C(253402300800000), "9999-12-31T00:01:00-2359");
    /* [java] beyond any datetime string: ISO 8601 expanded years (messages only) */
    check_dt_fmt(INT64_MIN, "-292275055-05-16T16:47:04.192Z");
    check_dt_fmt(INT64_MAX, "+292278994-08-17T07:12:55.807Z");
    int64_t v;
    char buf[96];
    size_t n = md_datetime_format(INT64_MIN, buf, sizeof buf);
    assert_int_equal(md_datetime_parse((md_str_t){buf, n}, &v), MD_EINVAL);

    /* every instant a datetime string can denote formats to a string that parses back to it */
    int64_t lo = dt("0000-01-01T00:00:00+2359"), hi = dt("9999-12-31T23:59:59.999-2359");
    uint64_t span = (uint64_t)(hi - lo) + 1;
    for (int i = 0; i < 50000; i++) {
        int64_t ms = lo + (int64_t)(rng() % span);
        if (i % 4 == 1) ms -= ms % SEC;
        if (i % 4 == 2) ms -= ms % DAY;
        if (i < 4) ms = (int64_t[]){lo, hi, lo + 1, hi - 1}[i];
        n = md_datetime_format(ms, buf, sizeof buf);
        v = 0;
        if (md_datetime_parse((md_str_t){buf, n}, &v) != MD_OK || v != ms)
            fail_msg("datetime %lld formats as \"%s\", which does not parse back", (long long)ms, buf);
    }
}

/* ------------------------------------------------------------ duration */

static void test_duration_parse_valid(void **state)
{
    /* [datetime.rs] parse_duration_pos, test_interpretation_duration */
    assert_int_equal(dur("1h"), HOUR);
    assert_int_equal(dur("-10h"), -10 * HOUR);
    assert_int_equal(dur("5d3ms"), 5 * DAY + 3);
    assert_int_equal(dur("-3h5m"), -3 * HOUR - 5 * MINUTE);
    assert_int_equal(dur("1d2h3m4s50ms"), 93784050);
    assert_int_equal(dur("-1d2h3m4s50ms"), -93784050);
    assert_int_equal(dur("10d23h59m58s999ms"),
                     ((INT64_C(10) * 24 + 23) * 60 * 60 + 59 * 60 + 58) * 1000 + 999);
    assert_int_equal(dur("-3d"), dur("-72h"));
    assert_true(dur("-2h") < dur("1h"));
    /* [datetime.rs] test_duration_since */
    assert_int_equal(dur("20020d"), 20020 * DAY);
    assert_int_equal(dur("-1d"), -DAY);
    /* [docs-dt] [docs-ops] */
    assert_int_equal(dur("2h30m"), 2 * HOUR + 30 * MINUTE);
    assert_int_equal(dur("-1d12h"), -(DAY + 12 * HOUR));
    assert_int_equal(dur("1h30m45s"), HOUR + 30 * MINUTE + 45 * SEC);
    assert_true(dur("3h30m") < dur("15000s"));
    assert_int_equal(dur("1d"), 86400000);
    assert_int_equal(dur("4s100ms"), 4100);
    assert_int_equal(dur("4m70s"), 4 * MINUTE + 70 * SEC);
    /* derived: each unit alone, zero, leading zeros, "m" followed by "ms" */
    assert_int_equal(dur("1m"), MINUTE);
    assert_int_equal(dur("1s"), SEC);
    assert_int_equal(dur("1ms"), 1);
    assert_int_equal(dur("1m1ms"), MINUTE + 1);
    assert_int_equal(dur("0ms"), 0);
    assert_int_equal(dur("-0ms"), 0);
    assert_int_equal(dur("-0d0h0m0s0ms"), 0);
    assert_int_equal(dur("007s"), 7000);
    assert_int_equal(dur("00000000000000000000000000001d"), DAY);
    assert_int_equal(dur("1000ms"), dur("1s"));
    assert_int_equal(dur("90m"), dur("1h30m"));
}

static void test_duration_parse_invalid(void **state)
{
    /* [datetime.rs] parse_duration_neg and test_interpretation_duration */
    const char *bad[] = {
        "",
        "a",
        "-",
        "-1",
        "\xe2\x9e\x96"
        "1ms",
        "11dd",
        "00000mm",
        "-d",
        "-h",
        "-1hh",
        "-h2d",
        "-ms",
        "1ms1s",
        "1ms1m",
        "1ms1h",
        "0ms1d",
        "1s1m",
        "1s1h",
        "0s0d",
        "0m0h",
        "0m0d",
        "1h1d",
        "1ms1m1d",
        "1dd2h3m4s50ms",
        /* [docs-ops] */
        "1d2h3m4s5ms ",
        "1d2h3m4s5ms6",
        "d",
        "1s1s",
        /* derived */
        "1d-2h",
        "1",
        "ms",
        "s",
        "1mms",
        "1m s",
        " 1s",
        "+1s",
        "--1s",
        "1s-",
        "1.5s",
        "1S",
        "1D",
        "1H",
        "1M",
        "1MS",
        "1w",
        "1y",
        "1us",
        "1ns",
        "1d1d",
        "1h1h",
        "1m1m",
        "1ms1ms",
        "1h1m1h",
        "1sms",
        "1s1",
        "1d\n",
        "\xd9\xa1s",
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        dur_bad(bad[i]);
    md_str_t nul = {"1s\0", 3};
    int64_t v;
    assert_int_equal(md_duration_parse(nul, &v), MD_EINVAL);
}

static void test_duration_overflow(void **state)
{
    /* [datetime.rs] parse_duration_pos/neg: i64::MAX and i64::MINUTE as d/h/m/s/ms, one beyond fails */
    assert_int_equal(dur("106751991167d7h12m55s807ms"), INT64_MAX);
    assert_int_equal(dur("-106751991167d7h12m55s808ms"), INT64_MIN);
    dur_bad("106751991167d7h12m55s808ms");
    dur_bad("-106751991167d7h12m55s809ms");
    /* [docs-ops] */
    dur_bad("1d9223372036854775807ms");
    /* [docs-dt] the range of duration */
    assert_int_equal(dur("-9223372036854775808ms"), INT64_MIN);
    assert_int_equal(dur("9223372036854775807ms"), INT64_MAX);
    /* derived: u64 overflow of a quantity, overflow of each multiplication */
    dur_bad("9223372036854775808ms");
    dur_bad("-9223372036854775809ms");
    dur_bad("18446744073709551615ms");
    dur_bad("18446744073709551616ms");
    dur_bad("-18446744073709551616ms");
    dur_bad("99999999999999999999999d");
    dur_bad("106751991168d");
    assert_int_equal(dur("106751991167d"), INT64_C(106751991167) * DAY);
    assert_int_equal(dur("-106751991167d"), -INT64_C(106751991167) * DAY);
    dur_bad("2562047788016h");
    assert_int_equal(dur("2562047788015h"), INT64_C(2562047788015) * HOUR);
    dur_bad("153722867280913m");
    assert_int_equal(dur("153722867280912m"), INT64_C(153722867280912) * MINUTE);
    dur_bad("9223372036854776s");
    assert_int_equal(dur("9223372036854775s"), INT64_C(9223372036854775000));
    assert_int_equal(dur("-9223372036854775s808ms"), INT64_MIN);
    dur_bad("9223372036854775s808ms");
    dur_bad("106751991167d1000000000000ms");
}

static void test_duration_format(void **state)
{
    char buf[64];
    /* [datetime.rs] Display "{ms}ms" */
    assert_int_equal(md_duration_format(93784050, buf, sizeof buf), 10);
    assert_string_equal(buf, "93784050ms");
    md_duration_format(-7 * HOUR, buf, sizeof buf);
    assert_string_equal(buf, "-25200000ms");
    md_duration_format(0, buf, sizeof buf);
    assert_string_equal(buf, "0ms");
    for (int i = 0; i < 20000; i++) {
        int64_t v = (int64_t)rng();
        if (i % 2) v >>= (rng() % 63);
        if (i == 0) v = INT64_MIN;
        if (i == 1) v = INT64_MAX;
        size_t n = md_duration_format(v, buf, sizeof buf);
        int64_t back = 0;
        assert_int_equal(md_duration_parse((md_str_t){buf, n}, &back), MD_OK);
        assert_int_equal(back, v);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_decimal_parse_valid),
        cmocka_unit_test(test_decimal_parse_invalid),
        cmocka_unit_test(test_decimal_overflow),
        cmocka_unit_test(test_decimal_format),
        cmocka_unit_test(test_decimal_roundtrip),
        cmocka_unit_test(test_ip_parse_v4),
        cmocka_unit_test(test_ip_parse_v4_invalid),
        cmocka_unit_test(test_ip_parse_v6),
        cmocka_unit_test(test_ip_parse_v6_invalid),
        cmocka_unit_test(test_ip_eq_cmp),
        cmocka_unit_test(test_ip_loopback_multicast),
        cmocka_unit_test(test_ip_in_range),
        cmocka_unit_test(test_ip_format),
        cmocka_unit_test(test_datetime_parse_valid),
        cmocka_unit_test(test_datetime_parse_invalid),
        cmocka_unit_test(test_datetime_bounds),
        cmocka_unit_test(test_datetime_to_date_time),
        cmocka_unit_test(test_datetime_format),
        cmocka_unit_test(test_duration_parse_valid),
        cmocka_unit_test(test_duration_parse_invalid),
        cmocka_unit_test(test_duration_overflow),
        cmocka_unit_test(test_duration_format),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
