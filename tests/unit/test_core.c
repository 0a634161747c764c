/*
 * test_core.c: arenas, buffers, UTF-8, file reading and the JSON loader
 * that carries NUL characters in object keys (src/core).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include <cmocka.h>

#include "core/core.h"
#include "core/json.h"

static void test_arena_reset_keeps_one_chunk(void **state)
{
    md_arena_t a;
    md_arena_init(&a, 1024);
    for (int i = 0; i < 100; i++)
        assert_non_null(md_arena_alloc(&a, 100));
    assert_true(md_arena_footprint(&a) > 10000);
    md_arena_reset(&a);
    size_t one = md_arena_footprint(&a);
    assert_true(one < 2048);
    /* steady state: the same allocations after a reset fit the kept chunk */
    for (int i = 0; i < 8; i++)
        assert_non_null(md_arena_alloc(&a, 100));
    assert_int_equal(md_arena_footprint(&a), one);
    md_arena_free(&a);
}

static void test_arena_alignment_and_large(void **state)
{
    md_arena_t a;
    md_arena_init(&a, 256);
    void *p = md_arena_alloc(&a, 3), *q = md_arena_alloc(&a, 5);
    assert_int_equal((uintptr_t)p % 16, 0);
    assert_int_equal((uintptr_t)q % 16, 0);
    char *big = md_arena_alloc(&a, 100000); /* larger than a chunk */
    assert_non_null(big);
    memset(big, 'x', 100000);
    char *after = md_arena_alloc(&a, 16);
    assert_non_null(after);
    md_arena_free(&a);
}

static void test_buf_and_json_string(void **state)
{
    md_buf_t b;
    md_buf_init(&b);
    md_buf_add_json_str(&b, (md_str_t){"a\"b\\c\n\x01\0z", 9});
    assert_string_equal(b.p, "\"a\\\"b\\\\c\\n\\u0001\\u0000z\"");
    md_buf_reset(&b);
    md_buf_printf(&b, "%d-%s", 42, "x");
    assert_string_equal(b.p, "42-x");
    md_buf_free(&b);
}

static void test_utf8(void **state)
{
    const char *s = "a\xc3\xa9\xf0\x9f\x98\x80";
    size_t i = 0, n = strlen(s);
    assert_int_equal(md_utf8_next(s, n, &i), 'a');
    assert_int_equal(md_utf8_next(s, n, &i), 0xe9);
    assert_int_equal(md_utf8_next(s, n, &i), 0x1f600);
    assert_int_equal(i, n);
    i = 0;
    assert_int_equal(md_utf8_next("\xc0\x80", 2, &i), -1); /* overlong */
    i = 0;
    assert_int_equal(md_utf8_next("\xed\xa0\x80", 3, &i), -1); /* surrogate */
    md_buf_t b;
    md_buf_init(&b);
    md_utf8_put(&b, 0x1f600);
    assert_memory_equal(b.p, "\xf0\x9f\x98\x80", 4);
    md_buf_free(&b);
}

static void test_str_cmp(void **state)
{
    assert_true(md_str_cmp(MD_STR("a"), MD_STR("ab")) < 0);
    assert_true(md_str_cmp(MD_STR("b"), MD_STR("ab")) > 0);
    assert_int_equal(md_str_cmp((md_str_t){"a\0b", 3}, (md_str_t){"a\0b", 3}), 0);
    assert_true(md_str_cmp((md_str_t){"a\0", 2}, (md_str_t){"a", 1}) > 0);
}

static void test_json_nul_keys(void **state)
{
    const char *text = "{\"\\u0000\": 1, \"a\\u0000b\": 2, \"\\ufdd0\": 3, \"plain\": \"v\\u0000\"}";
    json_error_t je;
    json_t *j = md_json_loadb(text, strlen(text), &je);
    assert_non_null(j);
    md_arena_t a;
    md_arena_init(&a, 1024);
    int seen = 0;
    const char *key;
    size_t klen;
    json_t *v;
    json_object_keylen_foreach(j, key, klen, v)
    {
        md_str_t k = md_json_key(key, klen, &a);
        json_int_t x = json_integer_value(v);
        if (x == 1) {
            assert_int_equal(k.n, 1);
            assert_int_equal(k.p[0], '\0');
            seen |= 1;
        } else if (x == 2) {
            assert_int_equal(k.n, 3);
            assert_memory_equal(k.p, "a\0b", 3);
            seen |= 2;
        } else if (x == 3) {
            assert_int_equal(k.n, 3);
            assert_memory_equal(k.p, "\xef\xb7\x90", 3); /* a real U+FDD0 survives */
            seen |= 4;
        } else {
            assert_true(md_str_eqc(k, "plain"));
            assert_int_equal(json_string_length(v), 2); /* NUL in values: jansson's own */
            seen |= 8;
        }
    }
    assert_int_equal(seen, 15);
    json_decref(j);
    md_arena_free(&a);
}

static void test_json_keys_stay_distinct(void **state)
{
    /* "\u0000" and the private encoding's spelling must not collide */
    const char *text = "{\"\\u0000\": 1, \"\\ufdd0\\ufdd0\": 2}";
    json_error_t je;
    json_t *j = md_json_loadb(text, strlen(text), &je);
    assert_non_null(j);
    assert_int_equal(json_object_size(j), 2);
    json_decref(j);
    /* duplicates are still refused */
    const char *dup = "{\"\\u0000\": 1, \"\\u0000\": 2}";
    assert_null(md_json_loadb(dup, strlen(dup), &je));
}

static void test_file_read_limits(void **state)
{
    char path[] = "/tmp/md-core-XXXXXX";
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    assert_int_equal(write(fd, "hello", 5), 5);
    close(fd);
    char *t = NULL;
    size_t n = 0;
    md_err_t err = {0};
    assert_int_equal(md_file_read(path, 100, &t, &n, &err), MD_OK);
    assert_int_equal(n, 5);
    assert_string_equal(t, "hello");
    free(t);
    md_err_clear(&err);
    assert_int_equal(md_file_read(path, 3, &t, &n, &err), MD_ELIMIT);
    assert_non_null(strstr(err.msg, "larger than"));
    unlink(path);
    md_err_clear(&err);
    assert_int_equal(md_file_read(path, 100, &t, &n, &err), MD_EIO);
    md_err_clear(&err);
    assert_int_equal(md_file_read("/tmp", 100, &t, &n, &err), MD_EIO);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_arena_reset_keeps_one_chunk),
        cmocka_unit_test(test_arena_alignment_and_large),
        cmocka_unit_test(test_buf_and_json_string),
        cmocka_unit_test(test_utf8),
        cmocka_unit_test(test_str_cmp),
        cmocka_unit_test(test_json_nul_keys),
        cmocka_unit_test(test_json_keys_stay_distinct),
        cmocka_unit_test(test_file_read_limits),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
