/*
 * test_spiffe.c: SPIFFE ID validation — every rule of spiffe.h, accepted and
 * refused, with its specific error.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

#include <cmocka.h>

#include "identity/spiffe.h"

static md_spiffe_error_t parse(const char *s, md_spiffe_id_t *id)
{
    return md_spiffe_parse(md_str_c(s), id);
}

static void test_valid(void **state)
{
    md_spiffe_id_t id;
    assert_int_equal(parse("spiffe://example.org/agent/triage", &id), MD_SPIFFE_OK);
    assert_true(md_str_eqc(id.trust_domain, "example.org"));
    assert_true(md_str_eqc(id.path, "/agent/triage"));
    assert_int_equal(parse("spiffe://example.org", &id), MD_SPIFFE_OK);
    assert_int_equal(id.path.n, 0);
    assert_int_equal(parse("spiffe://a-b_c.9/Az09._-/x", &id), MD_SPIFFE_OK);
    assert_int_equal(parse("spiffe://td/...", &id), MD_SPIFFE_OK); /* three dots is a name */
    assert_true(md_spiffe_in_trust_domain(&id, MD_STR("td")));
    assert_false(md_spiffe_in_trust_domain(&id, MD_STR("td2")));
}

static void test_scheme(void **state)
{
    md_spiffe_id_t id;
    assert_int_equal(parse("", &id), MD_SPIFFE_EMPTY);
    assert_int_equal(parse("SPIFFE://example.org/x", &id), MD_SPIFFE_BAD_SCHEME);
    assert_int_equal(parse("https://example.org/x", &id), MD_SPIFFE_BAD_SCHEME);
    assert_int_equal(parse("spiffe:/example.org/x", &id), MD_SPIFFE_BAD_SCHEME);
    assert_int_equal(parse("spiffe://", &id), MD_SPIFFE_MISSING_TRUST_DOMAIN);
    assert_int_equal(parse("spiffe:///path", &id), MD_SPIFFE_MISSING_TRUST_DOMAIN);
}

static void test_trust_domain(void **state)
{
    md_spiffe_id_t id;
    assert_int_equal(parse("spiffe://Example.org/x", &id), MD_SPIFFE_BAD_TRUST_DOMAIN_CHAR);
    assert_int_equal(parse("spiffe://exa mple.org", &id), MD_SPIFFE_BAD_TRUST_DOMAIN_CHAR);
    assert_int_equal(parse("spiffe://example.org:8080/x", &id), MD_SPIFFE_PORT_OR_USERINFO);
    assert_int_equal(parse("spiffe://user@example.org/x", &id), MD_SPIFFE_PORT_OR_USERINFO);
    assert_int_equal(parse("spiffe://ex%41mple.org", &id), MD_SPIFFE_BAD_TRUST_DOMAIN_CHAR);
    char td[300];
    memset(td, 'a', sizeof(td));
    char buf[400];
    snprintf(buf, sizeof(buf), "spiffe://%.*s/x", 256, td);
    assert_int_equal(parse(buf, &id), MD_SPIFFE_TRUST_DOMAIN_TOO_LONG);
    snprintf(buf, sizeof(buf), "spiffe://%.*s/x", 255, td);
    assert_int_equal(parse(buf, &id), MD_SPIFFE_OK);
}

static void test_path(void **state)
{
    md_spiffe_id_t id;
    assert_int_equal(parse("spiffe://td/", &id), MD_SPIFFE_TRAILING_SLASH);
    assert_int_equal(parse("spiffe://td/a/", &id), MD_SPIFFE_TRAILING_SLASH);
    assert_int_equal(parse("spiffe://td//a", &id), MD_SPIFFE_EMPTY_SEGMENT);
    assert_int_equal(parse("spiffe://td/a/./b", &id), MD_SPIFFE_DOT_SEGMENT);
    assert_int_equal(parse("spiffe://td/a/..", &id), MD_SPIFFE_DOT_SEGMENT);
    assert_int_equal(parse("spiffe://td/a%2fb", &id), MD_SPIFFE_BAD_PATH_CHAR);
    assert_int_equal(parse("spiffe://td/a b", &id), MD_SPIFFE_BAD_PATH_CHAR);
    assert_int_equal(parse("spiffe://td/caf\xc3\xa9", &id), MD_SPIFFE_BAD_PATH_CHAR);
    assert_int_equal(parse("spiffe://td/a?x=1", &id), MD_SPIFFE_QUERY_OR_FRAGMENT);
    assert_int_equal(parse("spiffe://td/a#frag", &id), MD_SPIFFE_QUERY_OR_FRAGMENT);
    assert_int_equal(parse("spiffe://td?x", &id), MD_SPIFFE_QUERY_OR_FRAGMENT);
}

static void test_length(void **state)
{
    md_spiffe_id_t id;
    char *buf = malloc(2100);
    memcpy(buf, "spiffe://td/", 12);
    memset(buf + 12, 'a', 2100 - 12);
    /* exactly 2048 bytes is accepted, 2049 is not */
    assert_int_equal(md_spiffe_parse((md_str_t){buf, 2048}, &id), MD_SPIFFE_OK);
    assert_int_equal(md_spiffe_parse((md_str_t){buf, 2049}, &id), MD_SPIFFE_TOO_LONG);
    free(buf);
    assert_string_equal(md_spiffe_strerror(MD_SPIFFE_DOT_SEGMENT), "path cannot contain dot segments");
}

static void test_nul_byte(void **state)
{
    md_spiffe_id_t id;
    assert_int_equal(md_spiffe_parse((md_str_t){"spiffe://td/a\0b", 15}, &id), MD_SPIFFE_BAD_PATH_CHAR);
    assert_int_equal(md_spiffe_parse((md_str_t){"spiffe://t\0d/a", 14}, &id),
                     MD_SPIFFE_BAD_TRUST_DOMAIN_CHAR);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_valid), cmocka_unit_test(test_scheme), cmocka_unit_test(test_trust_domain),
        cmocka_unit_test(test_path),  cmocka_unit_test(test_length), cmocka_unit_test(test_nul_byte),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
