/*
 * test_tcache.c: the verified-token cache: hits and misses, expiry with an
 * injected clock, no serving past exp, eviction, constant-time confirmation
 * of the whole token, and SipHash against the paper's test vector.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

#include <cmocka.h>

#include "token/tcache.h"

static md_jwt_t *fake_jwt(int64_t exp)
{
    md_jwt_t *j = calloc(1, sizeof(*j));
    j->claims = json_pack("{s:I}", "exp", (json_int_t)exp);
    j->exp = exp;
    return j;
}

static void test_siphash_vectors(void **state)
{
    unsigned char key[16], msg[64];
    for (int i = 0; i < 16; i++)
        key[i] = (unsigned char)i;
    for (int i = 0; i < 64; i++)
        msg[i] = (unsigned char)i;
    /* SipHash-2-4, Aumasson & Bernstein 2012, Appendix A: 15-byte message 00..0e */
    assert_true(md_siphash24(key, msg, 15) == 0xa129ca6149be45e5ULL);
    /* the empty message, from the reference implementation's vectors.h */
    assert_true(md_siphash24(key, msg, 0) == 0x726fdb47dd0e0e31ULL);
    /* 1-3 differs from 2-4 and depends on every byte and the length */
    assert_true(md_siphash13(key, msg, 15) != md_siphash24(key, msg, 15));
    assert_true(md_siphash13(key, msg, 15) != md_siphash13(key, msg, 16));
    msg[3] ^= 1;
    uint64_t a = md_siphash13(key, msg, 15);
    msg[3] ^= 1;
    assert_true(a != md_siphash13(key, msg, 15));
}

static void test_hit_miss_expiry(void **state)
{
    md_tcache_t *c = md_tcache_new(100);
    md_str_t t = MD_STR("header.payload.signature");
    assert_null(md_tcache_get(c, t, 1000));
    assert_int_equal(md_tcache_put(c, t, fake_jwt(1010), 1000), MD_OK);
    const md_jwt_t *j = md_tcache_get(c, t, 1005);
    assert_non_null(j);
    assert_int_equal(j->exp, 1010);
    /* one byte different, same length: a miss */
    assert_null(md_tcache_get(c, MD_STR("header.payload.signaturf"), 1005));
    /* a prefix: a miss */
    assert_null(md_tcache_get(c, MD_STR("header.payload.signatur"), 1005));
    /* at exp: never served (no skew on the cached path), and dropped */
    assert_null(md_tcache_get(c, t, 1010));
    assert_null(md_tcache_get(c, t, 1005));
    md_tcache_stats_t st = md_tcache_stats(c);
    assert_int_equal(st.hits, 1);
    assert_int_equal(st.expired, 1);
    assert_int_equal(st.misses, 5);
    md_tcache_free(c);
}

static void test_refuses_unfit(void **state)
{
    md_tcache_t *c = md_tcache_new(64);
    assert_int_equal(md_tcache_put(c, MD_STR("x.y.z"), fake_jwt(0), 1000), MD_EINVAL);    /* no exp */
    assert_int_equal(md_tcache_put(c, MD_STR("x.y.z"), fake_jwt(1000), 1000), MD_EINVAL); /* expired */
    assert_int_equal(md_tcache_put(c, MD_STR(""), fake_jwt(2000), 1000), MD_EINVAL);
    assert_null(md_tcache_get(c, MD_STR("x.y.z"), 999));
    md_tcache_free(c);
}

static void test_eviction_keeps_capacity(void **state)
{
    md_tcache_t *c = md_tcache_new(64);
    char tok[64];
    for (int i = 0; i < 10000; i++) {
        int n = snprintf(tok, sizeof(tok), "tok-%d", i);
        assert_int_equal(md_tcache_put(c, (md_str_t){tok, (size_t)n}, fake_jwt(5000 + i), 1000), MD_OK);
    }
    /* the newest are present; at most the capacity is held */
    int present = 0;
    for (int i = 0; i < 10000; i++) {
        int n = snprintf(tok, sizeof(tok), "tok-%d", i);
        if (md_tcache_get(c, (md_str_t){tok, (size_t)n}, 1001)) present++;
    }
    assert_true(present > 0 && present <= 64);
    int n = snprintf(tok, sizeof(tok), "tok-%d", 9999);
    assert_non_null(md_tcache_get(c, (md_str_t){tok, (size_t)n}, 1001));
    md_tcache_stats_t st = md_tcache_stats(c);
    assert_true(st.evictions >= 10000 - 64);
    md_tcache_clear(c);
    assert_null(md_tcache_get(c, (md_str_t){tok, (size_t)n}, 1001));
    md_tcache_free(c);
}

static void test_expired_way_reused_first(void **state)
{
    md_tcache_t *c = md_tcache_new(1); /* 16 sets x 4 ways */
    char tok[32];
    /* fill far beyond capacity with tokens that expire at 1100 */
    for (int i = 0; i < 200; i++) {
        int n = snprintf(tok, sizeof(tok), "old-%d", i);
        assert_int_equal(md_tcache_put(c, (md_str_t){tok, (size_t)n}, fake_jwt(1100), 1000), MD_OK);
    }
    uint64_t ev = md_tcache_stats(c).evictions;
    /* later, every entry has expired: inserting (at most 4 = the ways of one
     * set, so no live entry can be pushed out) evicts nothing live */
    for (int i = 0; i < 4; i++) {
        int n = snprintf(tok, sizeof(tok), "new-%d", i);
        assert_int_equal(md_tcache_put(c, (md_str_t){tok, (size_t)n}, fake_jwt(3000), 2000), MD_OK);
    }
    assert_int_equal(md_tcache_stats(c).evictions, ev);
    md_tcache_free(c);
}

static void test_same_token_replaced(void **state)
{
    md_tcache_t *c = md_tcache_new(64);
    md_str_t t = MD_STR("a.b.c");
    assert_int_equal(md_tcache_put(c, t, fake_jwt(2000), 1000), MD_OK);
    assert_int_equal(md_tcache_put(c, t, fake_jwt(1500), 1000), MD_OK);
    const md_jwt_t *j = md_tcache_get(c, t, 1001);
    assert_non_null(j);
    assert_int_equal(j->exp, 1500);
    md_tcache_free(c);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_siphash_vectors),
        cmocka_unit_test(test_hit_miss_expiry),
        cmocka_unit_test(test_refuses_unfit),
        cmocka_unit_test(test_eviction_keeps_capacity),
        cmocka_unit_test(test_expired_way_reused_first),
        cmocka_unit_test(test_same_token_replaced),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
