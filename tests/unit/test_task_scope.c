/*
 * test_task_scope.c: OAuth scope sets: the token rule (byte for byte the
 * registry's), parsing of the space-separated form and the JSON array form
 * with every refusal named, subset / intersection / difference, the
 * "exceeds" message, formatting and round trips.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

#include <cmocka.h>

#include "identity/entry.h"
#include "task/scope.h"

static md_arena_t *new_arena(void)
{
    md_arena_t *a = malloc(sizeof(*a));
    md_arena_init(a, 4096);
    return a;
}

static void drop_arena(md_arena_t *a)
{
    md_arena_free(a);
    free(a);
}

static md_scope_t parse_ok(md_arena_t *a, const char *text)
{
    md_scope_t s;
    md_err_t err = {0};
    int rc = md_scope_parse(md_str_c(text), a, &s, &err);
    if (rc != MD_OK) fail_msg("\"%s\" refused: %s", text, err.msg);
    return s;
}

static void expect_parse_bad(md_arena_t *a, md_str_t text, int code, const char *msg_part)
{
    md_scope_t s;
    md_err_t err = {0};
    int rc = md_scope_parse(text, a, &s, &err);
    if (rc != code) fail_msg("\"%.*s\": got %d, want %d (%s)", (int)text.n, text.p, rc, code, err.msg);
    if (strstr(err.msg, msg_part) == NULL)
        fail_msg("\"%.*s\": message \"%s\" lacks \"%s\"", (int)text.n, text.p, err.msg, msg_part);
    assert_int_equal(s.n, 0);
    assert_null(s.tok);
}

static void expect_json_bad(md_arena_t *a, const char *doc, int code, const char *msg_part)
{
    json_error_t je;
    json_t *j = json_loads(doc, JSON_DECODE_ANY | JSON_ALLOW_NUL, &je);
    assert_non_null(j);
    md_scope_t s;
    md_err_t err = {0};
    int rc = md_scope_from_json(j, a, &s, &err);
    json_decref(j);
    if (rc != code) fail_msg("%s: got %d, want %d (%s)", doc, rc, code, err.msg);
    if (strstr(err.msg, msg_part) == NULL)
        fail_msg("%s: message \"%s\" lacks \"%s\"", doc, err.msg, msg_part);
    assert_int_equal(s.n, 0);
}

static void assert_tokens(const md_scope_t *s, const char *const *want, size_t n)
{
    assert_int_equal(s->n, n);
    for (size_t i = 0; i < n; i++) {
        if (!md_str_eqc(s->tok[i], want[i]))
            fail_msg("token %zu: \"%.*s\", want \"%s\"", i, (int)s->tok[i].n, s->tok[i].p, want[i]);
        assert_int_equal(s->tok[i].p[s->tok[i].n], '\0'); /* usable as a C string */
    }
}

static void assert_given(const md_scope_t *s, const char *const *want, size_t n)
{
    assert_int_equal(s->n, n);
    for (size_t i = 0; i < n; i++) {
        md_str_t g = md_scope_given(s, i);
        if (!md_str_eqc(g, want[i])) fail_msg("given %zu: \"%.*s\", want \"%s\"", i, (int)g.n, g.p, want[i]);
    }
}

static char *fmt(const md_scope_t *s)
{
    md_buf_t b;
    md_buf_init(&b);
    assert_int_equal(md_scope_format(s, &b), MD_OK);
    return b.p; /* caller frees */
}

/* Does the registry accept `scope` in a scope_ceiling? */
static bool registry_accepts(const char *scope)
{
    const char *scopes[1] = {scope};
    md_entry_t e = {
        .spiffe_id = "spiffe://td/agent/one",
        .owner = "bob@example.com",
        .env = "prod",
        .scopes = scopes,
        .n_scopes = 1,
        .svid_ttl = 300,
        .state = MD_ENTRY_ACTIVE,
    };
    md_err_t err = {0};
    return md_entry_validate(&e, &err) == MD_OK;
}

static void test_token_rule_is_the_registrys(void **state)
{
    for (int c = 1; c < 256; c++) {
        char tok[4] = {'a', (char)c, 'z', '\0'};
        bool ours = md_scope_token_valid(md_str_c(tok));
        if (ours != registry_accepts(tok)) fail_msg("byte 0x%02x: scope %d, registry %d", c, ours, !ours);
        bool expect = c >= 0x21 && c <= 0x7e && c != '"' && c != '\\';
        if (ours != expect) fail_msg("byte 0x%02x: %d", c, ours);
    }
    char longest[MD_SCOPE_TOKEN_MAX + 2];
    memset(longest, 'x', sizeof(longest));
    longest[MD_SCOPE_TOKEN_MAX] = '\0';
    assert_true(md_scope_token_valid(md_str_c(longest)));
    assert_true(registry_accepts(longest));
    longest[MD_SCOPE_TOKEN_MAX] = 'x';
    longest[MD_SCOPE_TOKEN_MAX + 1] = '\0';
    assert_false(md_scope_token_valid(md_str_c(longest)));
    assert_false(registry_accepts(longest));
    assert_false(md_scope_token_valid(MD_STR("")));
    assert_false(md_scope_token_valid(MD_STR("a\0b")));
}

static void test_parse_valid(void **state)
{
    md_arena_t *a = new_arena();
    md_scope_t s = parse_ok(a, "tickets:write repo.read admin");
    const char *sorted[] = {"admin", "repo.read", "tickets:write"};
    const char *written[] = {"tickets:write", "repo.read", "admin"};
    assert_tokens(&s, sorted, 3);
    assert_given(&s, written, 3);

    s = parse_ok(a, "x");
    assert_int_equal(s.n, 1);
    assert_true(md_str_eqc(s.tok[0], "x"));

    /* every allowed punctuation byte, URIs, upper case kept (case-sensitive) */
    const char *odd = "!#$%&'()*+,-./:;<=>?@[]^_`{|}~ https://api.example.com/read Tickets:Read tickets:read";
    s = parse_ok(a, odd);
    assert_int_equal(s.n, 4);
    assert_true(md_scope_contains(&s, MD_STR("Tickets:Read")));
    assert_true(md_scope_contains(&s, MD_STR("tickets:read")));
    assert_false(md_scope_contains(&s, MD_STR("TICKETS:READ")));
    char *back = fmt(&s);
    assert_string_equal(
        back, "!#$%&'()*+,-./:;<=>?@[]^_`{|}~ Tickets:Read https://api.example.com/read tickets:read");
    free(back);

    /* the input need not be NUL-terminated: only text.n bytes are read */
    const char buf[] = "a b!!!";
    s = parse_ok(a, "a b");
    md_err_t err = {0};
    assert_int_equal(md_scope_parse((md_str_t){buf, 3}, a, &s, &err), MD_OK);
    assert_int_equal(s.n, 2);
    assert_true(md_str_eqc(s.tok[1], "b"));
    drop_arena(a);
}

static void test_parse_refused(void **state)
{
    md_arena_t *a = new_arena();
    expect_parse_bad(a, MD_STR(""), MD_EINVAL, "scope: empty");
    expect_parse_bad(a, MD_STR_NULL, MD_EINVAL, "scope: empty");
    expect_parse_bad(a, MD_STR(" a"), MD_EINVAL, "starts with a space");
    expect_parse_bad(a, MD_STR("a "), MD_EINVAL, "ends with a space");
    expect_parse_bad(a, MD_STR(" "), MD_EINVAL, "starts with a space");
    expect_parse_bad(a, MD_STR("a  b"), MD_EINVAL, "two spaces in a row after token 1 (\"a\")");
    expect_parse_bad(a, MD_STR("a b   c"), MD_EINVAL, "after token 2 (\"b\")");
    expect_parse_bad(a, MD_STR("a\tb"), MD_EINVAL, "scope token 1 (\"a?b\"): byte 2 (0x09)");
    expect_parse_bad(a, MD_STR("a\tb"), MD_EINVAL, "separated by one space");
    expect_parse_bad(a, MD_STR("ok a\nb"), MD_EINVAL, "scope token 2 (\"a?b\"): byte 2 (0x0a)");
    expect_parse_bad(a, MD_STR("ok a\"b"), MD_EINVAL, "scope token 2 (\"a?b\"): byte 2 (0x22)");
    expect_parse_bad(a, MD_STR("a\\b"), MD_EINVAL, "byte 2 (0x5c)");
    expect_parse_bad(a, MD_STR("del\x7f"), MD_EINVAL, "byte 4 (0x7f)");
    expect_parse_bad(a, MD_STR("caf\xc3\xa9"), MD_EINVAL, "scope token 1 (\"caf??\"): byte 4 (0xc3)");
    expect_parse_bad(a, MD_STR("a\0b"), MD_EINVAL, "byte 2 (0x00)");
    expect_parse_bad(a, MD_STR("read write read"), MD_EINVAL, "scope token 3 (\"read\"): duplicates token 1");
    expect_parse_bad(a, MD_STR("b a c a"), MD_EINVAL, "scope token 4 (\"a\"): duplicates token 2");
    /* a hostile token is quoted, cut and never echoed raw */
    md_scope_t s;
    md_err_t err = {0};
    assert_int_equal(
        md_scope_parse(MD_STR("evil\"\x1b[31m_and_a_very_long_tail_that_goes_on_and_on_and_on"), a, &s, &err),
        MD_EINVAL);
    assert_null(strchr(err.msg, '\x1b'));
    assert_non_null(strstr(
        err.msg, "scope token 1 (\"evil??[31m_and_a_very_long_tail_that_goes_on_and...\"): byte 5 (0x22)"));
    drop_arena(a);
}

static void test_parse_limits(void **state)
{
    md_arena_t *a = new_arena();
    /* the largest accepted: 128 distinct tokens of 128 bytes */
    md_buf_t b;
    md_buf_init(&b);
    for (int i = 0; i < MD_SCOPE_MAX; i++) {
        char tok[MD_SCOPE_TOKEN_MAX + 1];
        memset(tok, 'a' + i % 26, MD_SCOPE_TOKEN_MAX);
        snprintf(tok, 8, "%03d", i);
        tok[3] = 'x';
        if (i) md_buf_addc(&b, ' ');
        md_buf_add(&b, tok, MD_SCOPE_TOKEN_MAX);
    }
    md_scope_t s;
    md_err_t err = {0};
    assert_int_equal(md_scope_parse((md_str_t){b.p, b.n}, a, &s, &err), MD_OK);
    assert_int_equal(s.n, MD_SCOPE_MAX);
    char *back = fmt(&s);
    assert_string_equal(back, b.p); /* the tokens were written sorted already */
    free(back);
    /* one more byte anywhere: over the length limit */
    md_buf_addc(&b, 'z');
    expect_parse_bad(a, (md_str_t){b.p, b.n}, MD_ELIMIT, "scope: longer than");
    md_buf_free(&b);

    /* 129 short tokens */
    md_buf_init(&b);
    for (int i = 0; i <= MD_SCOPE_MAX; i++)
        md_buf_printf(&b, "%ss%d", i ? " " : "", i);
    expect_parse_bad(a, (md_str_t){b.p, b.n}, MD_ELIMIT, "more than 128 scopes");
    md_buf_free(&b);

    /* one token of 129 bytes */
    char tok[MD_SCOPE_TOKEN_MAX + 8];
    memset(tok, 'q', MD_SCOPE_TOKEN_MAX + 1);
    tok[MD_SCOPE_TOKEN_MAX + 1] = '\0';
    char text[sizeof(tok) + 8];
    snprintf(text, sizeof(text), "ok %s", tok);
    expect_parse_bad(a, md_str_c(text), MD_ELIMIT, "scope token 2 (\"qqqq");
    expect_parse_bad(a, md_str_c(text), MD_ELIMIT, "longer than 128 bytes");
    drop_arena(a);
}

static void test_from_json(void **state)
{
    md_arena_t *a = new_arena();
    json_t *j = json_pack("[sss]", "z:write", "a:read", "m");
    md_scope_t s;
    md_err_t err = {0};
    assert_int_equal(md_scope_from_json(j, a, &s, &err), MD_OK);
    json_decref(j);
    const char *sorted[] = {"a:read", "m", "z:write"}, *written[] = {"z:write", "a:read", "m"};
    assert_tokens(&s, sorted, 3);
    assert_given(&s, written, 3);

    j = json_array();
    assert_int_equal(md_scope_from_json(j, a, &s, &err), MD_OK);
    assert_int_equal(s.n, 0);
    char *empty = fmt(&s);
    assert_string_equal(empty, "");
    free(empty);
    json_decref(j);

    expect_json_bad(a, "\"a b\"", MD_EINVAL, "scope: must be an array of strings");
    expect_json_bad(a, "{}", MD_EINVAL, "must be an array");
    expect_json_bad(a, "[\"a\", 1]", MD_EINVAL, "scope[1]: must be a string");
    expect_json_bad(a, "[\"a\", null]", MD_EINVAL, "scope[1]: must be a string");
    expect_json_bad(a, "[\"x\", \"y\", \"x\"]", MD_EINVAL, "scope[2]: duplicates scope[0] (\"x\")");
    expect_json_bad(a, "[\"\"]", MD_EINVAL, "scope[0]: empty scope");
    expect_json_bad(a, "[\"a b\"]", MD_EINVAL, "scope[0] (\"a b\"): byte 2 (0x20)");
    expect_json_bad(a, "[\"ok\", \"a\\u0000b\"]", MD_EINVAL, "scope[1]: contains U+0000");
    expect_json_bad(a, "[\"caf\\u00e9\"]", MD_EINVAL, "byte 4 (0xc3)");

    j = json_array();
    for (int i = 0; i <= MD_SCOPE_MAX; i++) {
        char name[16];
        snprintf(name, sizeof(name), "s%d", i);
        json_array_append_new(j, json_string(name));
    }
    assert_int_equal(md_scope_from_json(j, a, &s, &(md_err_t){0}), MD_ELIMIT);
    json_array_remove(j, 0);
    assert_int_equal(md_scope_from_json(j, a, &s, &err), MD_OK);
    assert_int_equal(s.n, MD_SCOPE_MAX);
    json_decref(j);
    drop_arena(a);
}

static void test_from_list(void **state)
{
    md_arena_t *a = new_arena();
    const char *ceiling[] = {"tickets:write", "tickets:read"};
    md_scope_t s;
    md_err_t err = {0};
    assert_int_equal(md_scope_from_list(ceiling, 2, a, &s, &err), MD_OK);
    assert_true(md_str_eqc(s.tok[0], "tickets:read"));
    assert_int_equal(md_scope_from_list(NULL, 0, a, &s, &err), MD_OK);
    assert_int_equal(s.n, 0);
    const char *holes[] = {"a", NULL};
    assert_int_equal(md_scope_from_list(holes, 2, a, &s, &err), MD_EINVAL);
    assert_string_equal(err.msg, "scope[1]: missing");
    md_err_clear(&err);
    const char *dups[] = {"a", "b", "a"};
    assert_int_equal(md_scope_from_list(dups, 3, a, &s, &err), MD_EINVAL);
    assert_non_null(strstr(err.msg, "scope[2]: duplicates scope[0]"));
    drop_arena(a);
}

static void test_subset_intersect_diff(void **state)
{
    md_arena_t *a = new_arena();
    md_scope_t ceiling = parse_ok(a, "tickets:read tickets:write repo:read");
    md_scope_t req = parse_ok(a, "repo:read tickets:read");
    md_scope_t over = parse_ok(a, "zeta tickets:read admin repo:write");
    md_scope_t empty = {0};

    assert_true(md_scope_subset(&req, &ceiling));
    assert_false(md_scope_subset(&ceiling, &req));
    assert_true(md_scope_subset(&ceiling, &ceiling));
    assert_true(md_scope_subset(&empty, &ceiling));
    assert_true(md_scope_subset(&empty, &empty));
    assert_false(md_scope_subset(&req, &empty));
    assert_false(md_scope_subset(&over, &ceiling));
    /* prefixes are different tokens */
    md_scope_t prefix = parse_ok(a, "tickets");
    assert_false(md_scope_subset(&prefix, &ceiling));
    md_scope_t star = parse_ok(a, "tickets:*");
    assert_false(md_scope_subset(&req, &star)); /* no wildcards */

    md_scope_t x;
    assert_int_equal(md_scope_intersect(&over, &ceiling, a, &x), MD_OK);
    const char *inter[] = {"tickets:read"};
    assert_tokens(&x, inter, 1);
    assert_int_equal(md_scope_intersect(&ceiling, &empty, a, &x), MD_OK);
    assert_int_equal(x.n, 0);
    assert_int_equal(md_scope_intersect(&ceiling, &ceiling, a, &x), MD_OK);
    assert_true(md_scope_equal(&x, &ceiling));
    assert_false(md_scope_equal(&x, &req));

    md_scope_t d;
    assert_int_equal(md_scope_diff(&over, &ceiling, a, &d), MD_OK);
    const char *dsorted[] = {"admin", "repo:write", "zeta"}, *dreq[] = {"zeta", "admin", "repo:write"};
    assert_tokens(&d, dsorted, 3);
    assert_given(&d, dreq, 3); /* in request order */
    assert_int_equal(md_scope_diff(&req, &ceiling, a, &d), MD_OK);
    assert_int_equal(d.n, 0);
    /* diff of an intersection result (no written order) is sorted */
    assert_int_equal(md_scope_diff(&ceiling, &req, a, &d), MD_OK);
    const char *rest[] = {"tickets:write"};
    assert_given(&d, rest, 1);
    /* the difference and the intersection partition the request */
    assert_int_equal(md_scope_diff(&over, &ceiling, a, &d), MD_OK);
    assert_int_equal(md_scope_intersect(&over, &ceiling, a, &x), MD_OK);
    assert_int_equal(d.n + x.n, over.n);
    drop_arena(a);
}

static void test_check_within_messages(void **state)
{
    md_arena_t *a = new_arena();
    md_scope_t ceiling = parse_ok(a, "tickets:read tickets:write");
    md_err_t err = {0};
    assert_int_equal(md_scope_check_within(&ceiling, &ceiling, "x", &err), MD_OK);
    assert_int_equal(err.code, 0);

    md_scope_t one = parse_ok(a, "tickets:read admin");
    assert_int_equal(md_scope_check_within(&one, &ceiling, "the agent's scope_ceiling", &err),
                     MD_SCOPE_EEXCEEDS);
    assert_string_equal(err.msg, "scope \"admin\" exceeds the agent's scope_ceiling");

    md_err_clear(&err);
    md_scope_t two = parse_ok(a, "zeta tickets:read admin");
    assert_int_equal(md_scope_check_within(&two, &ceiling, "the parent mandate's scope", &err),
                     MD_SCOPE_EEXCEEDS);
    assert_string_equal(err.msg, "scope \"zeta\" and \"admin\" exceed the parent mandate's scope");

    md_err_clear(&err);
    md_scope_t three = parse_ok(a, "c b tickets:write a");
    assert_int_equal(md_scope_check_within(&three, &ceiling, NULL, &err), MD_SCOPE_EEXCEEDS);
    assert_string_equal(err.msg, "scope \"c\", \"b\" and \"a\" exceed the ceiling");

    /* many long tokens: cut, still one sentence within md_err_t */
    md_buf_t b;
    md_buf_init(&b);
    for (int i = 0; i < 40; i++)
        md_buf_printf(&b, "%sexcess-scope-number-%02d-with-a-long-name", i ? " " : "", i);
    md_scope_t many = parse_ok(a, b.p);
    md_buf_free(&b);
    md_err_clear(&err);
    assert_int_equal(md_scope_check_within(&many, &ceiling, "the ceiling", &err), MD_SCOPE_EEXCEEDS);
    assert_non_null(strstr(err.msg, "scope \"excess-scope-number-00-with-a-long-name\", "));
    assert_non_null(strstr(err.msg, ", ... exceed the ceiling"));
    drop_arena(a);
}

static void test_format_round_trip(void **state)
{
    md_arena_t *a = new_arena();
    const char *texts[] = {"b a", "x", "tickets:write tickets:read repo:read admin", "~ ! Z a"};
    for (size_t i = 0; i < sizeof(texts) / sizeof(texts[0]); i++) {
        md_scope_t s = parse_ok(a, texts[i]);
        char *canon = fmt(&s);
        md_scope_t back = parse_ok(a, canon);
        assert_true(md_scope_equal(&s, &back));
        char *again = fmt(&back);
        assert_string_equal(canon, again); /* canonical: formatting is idempotent */
        json_t *j = md_scope_to_json(&s);
        md_scope_t fromj;
        assert_int_equal(md_scope_from_json(j, a, &fromj, &(md_err_t){0}), MD_OK);
        assert_true(md_scope_equal(&s, &fromj));
        json_decref(j);
        free(canon);
        free(again);
    }
    md_scope_t s = parse_ok(a, "b a");
    json_t *j = md_scope_to_json(&s);
    char *dump = json_dumps(j, JSON_COMPACT);
    assert_string_equal(dump, "[\"a\",\"b\"]");
    free(dump);
    json_decref(j);
    drop_arena(a);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_token_rule_is_the_registrys),
        cmocka_unit_test(test_parse_valid),
        cmocka_unit_test(test_parse_refused),
        cmocka_unit_test(test_parse_limits),
        cmocka_unit_test(test_from_json),
        cmocka_unit_test(test_from_list),
        cmocka_unit_test(test_subset_intersect_diff),
        cmocka_unit_test(test_check_within_messages),
        cmocka_unit_test(test_format_round_trip),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
