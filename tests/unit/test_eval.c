/*
 * test_eval.c: unit tests for the Cedar evaluator (md_eval_expr, md_ext_apply
 * in src/cedar/authz.h, implemented in eval.c).
 *
 * Semantics: cedar-spec cedar-lean/Cedar/Spec/Evaluator.lean (apply1, apply2,
 * hasAttr, getAttr, inE, inS, hasTag, getTag), ExtFun.lean (call) and
 * Wildcard.lean.  Where the Lean spec only says "error", the kind expected
 * here is the one the Rust evaluator reports; the values were also checked
 * with cedar-wasm 4.13.0.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>

#include "cedar/authz.h"
#include "core/json.h"

/* ------------------------------------------------------------ fixture */

static const char entities_json[] =
    "["
    "{\"uid\":{\"type\":\"User\",\"id\":\"alice\"},"
    " \"attrs\":{\"age\":42,\"name\":\"alice\",\"emails\":[\"b@x\",\"a@x\",\"a@x\"],"
    "   \"rec\":{\"x\":1,\"y\":{\"z\":true}},"
    "   \"mgr\":{\"__entity\":{\"type\":\"User\",\"id\":\"bob\"}},"
    "   \"ghost\":{\"__entity\":{\"type\":\"User\",\"id\":\"nobody\"}},"
    "   \"score\":{\"__extn\":{\"fn\":\"decimal\",\"arg\":\"0.75\"}},"
    "   \"\":\"empty key\"},"
    " \"parents\":[{\"type\":\"Group\",\"id\":\"eng\"}],"
    " \"tags\":{\"role\":\"admin\",\"level\":3}},"
    "{\"uid\":{\"type\":\"User\",\"id\":\"bob\"},\"attrs\":{},\"parents\":[{\"type\":\"Group\",\"id\":"
    "\"eng\"}]},"
    "{\"uid\":{\"type\":\"Group\",\"id\":\"eng\"},\"attrs\":{},\"parents\":[{\"type\":\"Group\",\"id\":"
    "\"all\"}]},"
    "{\"uid\":{\"type\":\"Group\",\"id\":\"all\"},\"attrs\":{},\"parents\":[]},"
    "{\"uid\":{\"type\":\"Photo\",\"id\":\"p1\"},"
    " \"attrs\":{\"owner\":{\"__entity\":{\"type\":\"User\",\"id\":\"alice\"}}},\"parents\":[]},"
    "{\"uid\":{\"type\":\"Action\",\"id\":\"view\"},\"attrs\":{},\"parents\":[{\"type\":\"Action\",\"id\":"
    "\"read\"}]},"
    "{\"uid\":{\"type\":\"NS::User\",\"id\":\"x\"},\"attrs\":{},\"parents\":[]}"
    "]";

static const char request_json[] =
    "{\"principal\":{\"type\":\"User\",\"id\":\"alice\"},"
    " \"action\":{\"type\":\"Action\",\"id\":\"view\"},"
    " \"resource\":{\"type\":\"Photo\",\"id\":\"p1\"},"
    " \"context\":{\"n\":5,\"s\":\"str\",\"flag\":true,\"set\":[3,1,2],"
    "   \"max\":9223372036854775807,\"min\":-9223372036854775808,"
    "   \"uni\":\"\xe6\x97\xa5\xe6\x9c\xac\xe8\xaa\x9e\",\"r\":{\"k\":\"v\"}}}";

static md_entities_t *g_es;
static md_arena_t g_req_arena;
static md_request_t g_req;

static int setup(void **state)
{
    md_err_t err = {0};
    if (md_entities_parse_json(entities_json, sizeof(entities_json) - 1, "fixture", NULL, &g_es, &err) !=
        MD_OK) {
        fprintf(stderr, "fixture entities: %s\n", err.msg);
        return -1;
    }
    md_arena_init(&g_req_arena, 4096);
    json_error_t je;
    json_t *j = md_json_loadb(request_json, sizeof(request_json) - 1, &je);
    if (j == NULL) {
        fprintf(stderr, "fixture request: %s\n", je.text);
        return -1;
    }
    int rc = md_request_from_json(j, NULL, false, &g_req_arena, &g_req, &err);
    json_decref(j);
    if (rc != MD_OK) {
        fprintf(stderr, "fixture request: %s\n", err.msg);
        return -1;
    }
    return 0;
}

static int teardown(void **state)
{
    md_entities_free(g_es);
    md_arena_free(&g_req_arena);
    return 0;
}

/* ------------------------------------------------------------ helpers */

#include "held.h"

static void free_ps(void *p)
{
    md_policyset_free(p);
}

#define NAME "t.cedar"

typedef struct result {
    md_eval_error_t kind;
    char text[8192]; /* the value in Cedar syntax, or the error message */
    md_cv_t v;
} result_t;

/* Evaluate `expr` (parsed as the condition of a policy) against the fixture. */
static void eval_into(const char *expr, result_t *r, const char *file, int line)
{
    size_t n = strlen(expr) + 64;
    char *text = malloc(n);
    assert_non_null(text);
    snprintf(text, n, "permit(principal, action, resource) when { %s };", expr);
    md_policyset_t *ps = NULL;
    md_err_t err = {0};
    int rc = md_policyset_parse(text, strlen(text), "t", &ps, &err);
    free(text);
    if (rc != MD_OK) {
        print_error("does not parse: %s\n  %s\n", expr, err.msg);
        _fail(file, line);
    }
    md_arena_t arena;
    md_arena_init(&arena, 4096);
    md_str_t msg = MD_STR_NULL;
    memset(r, 0, sizeof(*r));
    r->kind = md_eval_expr(ps->policies[0]->conds[0], g_es, &g_req, &arena, &r->v, &msg);
    if (r->kind == MD_EVAL_OK) {
        md_buf_t b;
        md_buf_init(&b);
        md_cv_to_cedar(&b, &r->v);
        snprintf(r->text, sizeof(r->text), "%s", b.p ? b.p : "");
        md_buf_free(&b);
    } else {
        snprintf(r->text, sizeof(r->text), "%.*s", (int)msg.n, msg.p ? msg.p : "");
    }
    r->v = (md_cv_t){0}; /* points into the arena, which is gone */
    md_arena_free(&arena);
    md_policyset_free(ps);
}

static const char *kind_name(md_eval_error_t k)
{
    static const char *const names[] = {
        "ok",         "entity-does-not-exist", "attr-does-not-exist", "tag-does-not-exist",
        "type-error", "arith-overflow",        "extension-error",     "nomem",
        "depth"};
    return (unsigned)k < sizeof(names) / sizeof(names[0]) ? names[k] : "?";
}

static void check_value(const char *expr, const char *want, const char *file, int line)
{
    result_t r;
    eval_into(expr, &r, file, line);
    if (r.kind != MD_EVAL_OK) {
        print_error("%.200s\n  error %s: %s\n  want value: %s\n", expr, kind_name(r.kind), r.text, want);
        _fail(file, line);
    }
    if (strcmp(r.text, want) != 0) {
        print_error("%.200s\n  value: %.200s\n  want:  %s\n", expr, r.text, want);
        _fail(file, line);
    }
}

static void check_error(const char *expr, md_eval_error_t want, const char *file, int line)
{
    result_t r;
    eval_into(expr, &r, file, line);
    if (r.kind != want) {
        print_error("%.200s\n  got %s (%.200s)\n  want error %s\n", expr, kind_name(r.kind), r.text,
                    kind_name(want));
        _fail(file, line);
    }
    if (r.text[0] == '\0') {
        print_error("%s: error without a message\n", expr);
        _fail(file, line);
    }
}

#define EV(expr, want) check_value((expr), (want), __FILE__, __LINE__)
#define TRUE_(expr) check_value((expr), "true", __FILE__, __LINE__)
#define FALSE_(expr) check_value((expr), "false", __FILE__, __LINE__)
#define ERR(expr, kind) check_error((expr), (kind), __FILE__, __LINE__)
#define TYPE_ERR(expr) check_error((expr), MD_EVAL_TYPE_ERROR, __FILE__, __LINE__)
#define OVERFLOW(expr) check_error((expr), MD_EVAL_ARITH_OVERFLOW, __FILE__, __LINE__)
#define EXT_ERR(expr) check_error((expr), MD_EVAL_EXTENSION_ERROR, __FILE__, __LINE__)

/* ------------------------------------------------------------ literals and variables */

static void test_literals_and_variables(void **state)
{
    EV("true", "true");
    EV("-7", "-7");
    EV("\"a\\nb\"", "\"a\\nb\"");
    EV("principal", "User::\"alice\"");
    EV("action", "Action::\"view\"");
    EV("resource", "Photo::\"p1\"");
    EV("context.n", "5");
    EV("context.set", "[1, 2, 3]");
    EV("context.r", "{\"k\": \"v\"}");
    EV("User::\"nobody\"", "User::\"nobody\""); /* a literal need not exist */

    result_t r;
    eval_into("context", &r, __FILE__, __LINE__);
    assert_int_equal(r.kind, MD_EVAL_OK);
    assert_non_null(strstr(r.text, "\"max\": 9223372036854775807"));
    assert_non_null(strstr(r.text, "\"min\": -9223372036854775808"));
}

/* ------------------------------------------------------------ boolean logic */

static void test_and_or_not(void **state)
{
    TRUE_("true && true");
    FALSE_("true && false");
    FALSE_("false && true");
    TRUE_("false || true");
    FALSE_("false || false");
    FALSE_("!true");
    TRUE_("!!true");
    /* both operands must be booleans */
    TYPE_ERR("1 && true");
    TYPE_ERR("true && 1");
    TYPE_ERR("\"a\" || true");
    TYPE_ERR("false || 1");
    TYPE_ERR("false || context");
    TYPE_ERR("!1");
    TYPE_ERR("![true]");
}

static void test_short_circuit(void **state)
{
    /* the right side is never evaluated, so its type and its errors do not matter */
    FALSE_("false && 1");
    TRUE_("true || 1");
    FALSE_("false && (1 + \"a\" == 2)");
    TRUE_("true || principal.nosuch");
    FALSE_("false && context.missing");
    TRUE_("true || User::\"nobody\".x");
    TRUE_("true || (9223372036854775807 + 1 == 0)");
    FALSE_("false && decimal(\"bad\").lessThan(decimal(\"1.0\"))");
    /* ... but when it is evaluated its error surfaces */
    ERR("true && context.missing", MD_EVAL_ATTR_DOES_NOT_EXIST);
    ERR("false || User::\"nobody\".x", MD_EVAL_ENTITY_DOES_NOT_EXIST);
    /* the left side is always evaluated */
    ERR("context.missing && false", MD_EVAL_ATTR_DOES_NOT_EXIST);
    ERR("context.missing || true", MD_EVAL_ATTR_DOES_NOT_EXIST);
}

static void test_if_then_else(void **state)
{
    EV("if true then 1 else 2", "1");
    EV("if false then 1 else 2", "2");
    EV("if context.flag then \"a\" else 3", "\"a\"");
    /* only the chosen branch is evaluated */
    EV("if true then 1 else (1 + \"a\")", "1");
    EV("if false then context.missing else 2", "2");
    ERR("if true then context.missing else 2", MD_EVAL_ATTR_DOES_NOT_EXIST);
    /* the condition must be a boolean */
    TYPE_ERR("if 1 then 2 else 3");
    TYPE_ERR("if \"true\" then 2 else 3");
    TYPE_ERR("if [] then 2 else 3");
    ERR("if context.missing then 1 else 2", MD_EVAL_ATTR_DOES_NOT_EXIST);
}

/* ------------------------------------------------------------ arithmetic */

static void test_arithmetic(void **state)
{
    EV("1 + 2", "3");
    EV("2 * 3 - 10", "-4");
    EV("-3 * -3", "9");
    EV("context.n * context.n + 1", "26");
    EV("-(5)", "-5");
    EV("--5", "5");
    EV("-(-9223372036854775807)", "9223372036854775807");
    EV("-9223372036854775808 + 9223372036854775807", "-1");
    EV("4611686018427387903 * 2", "9223372036854775806");
    EV("-4611686018427387904 * 2", "-9223372036854775808");
    EV("9223372036854775807 - 9223372036854775807", "0");
    EV("0 * -9223372036854775808", "0");
    TYPE_ERR("1 + true");
    TYPE_ERR("\"a\" + \"b\"");
    TYPE_ERR("1 - \"1\"");
    TYPE_ERR("[1] * 2");
    TYPE_ERR("-\"a\"");
    TYPE_ERR("-true");
    TYPE_ERR("decimal(\"1.0\") + decimal(\"1.0\")");
    TYPE_ERR("duration(\"1h\") + duration(\"1h\")");
}

static void test_arithmetic_overflow(void **state)
{
    OVERFLOW("9223372036854775807 + 1");
    OVERFLOW("context.max + 1");
    OVERFLOW("1 + context.max");
    OVERFLOW("-9223372036854775808 - 1");
    OVERFLOW("context.min - 1");
    OVERFLOW("0 - context.min");
    OVERFLOW("9223372036854775807 * 2");
    OVERFLOW("-9223372036854775808 * -1");
    OVERFLOW("4611686018427387904 * 2");
    OVERFLOW("-4611686018427387905 * 2");
    OVERFLOW("3037000500 * 3037000500");
    /* unary minus of INT64_MIN, written three ways */
    OVERFLOW("--9223372036854775808");
    OVERFLOW("-context.min");
    OVERFLOW("-(-9223372036854775807 - 1)");
    /* an overflow is an error even where the result would be discarded */
    OVERFLOW("context.max + 1 == 0 || true");
    OVERFLOW("[context.max + 1].isEmpty()");
}

/* ------------------------------------------------------------ comparison and equality */

static void test_comparisons(void **state)
{
    TRUE_("1 < 2");
    FALSE_("2 < 2");
    TRUE_("2 <= 2");
    FALSE_("3 > 4");
    TRUE_("3 >= 3");
    TRUE_("-9223372036854775808 < 9223372036854775807");
    TRUE_("context.min <= context.min");
    TRUE_("datetime(\"2024-01-01\") < datetime(\"2024-01-02\")");
    TRUE_("datetime(\"2024-01-01T00:00:00Z\") >= datetime(\"2024-01-01\")");
    FALSE_("datetime(\"2024-01-01T00:00:00.001Z\") <= datetime(\"2024-01-01\")");
    TRUE_("duration(\"1h\") > duration(\"59m\")");
    TRUE_("duration(\"1d\") >= duration(\"24h\")");
    TRUE_("duration(\"-1ms\") < duration(\"0ms\")");
    /* mixed types and unsupported types */
    TYPE_ERR("1 < duration(\"1h\")");
    TYPE_ERR("duration(\"1h\") < 1");
    TYPE_ERR("datetime(\"2024-01-01\") < duration(\"1h\")");
    TYPE_ERR("duration(\"1h\") >= datetime(\"2024-01-01\")");
    TYPE_ERR("\"a\" < \"b\"");
    TYPE_ERR("decimal(\"1.0\") < decimal(\"2.0\")");
    TYPE_ERR("true < false");
    TYPE_ERR("principal > principal");
    TYPE_ERR("[1] <= [2]");
}

static void test_equality_never_errors(void **state)
{
    FALSE_("1 == \"1\"");
    TRUE_("1 != \"1\"");
    FALSE_("1 == true");
    FALSE_("[1] == 1");
    FALSE_("{} == []");
    FALSE_("decimal(\"0.0\") == 0");
    FALSE_("datetime(\"1970-01-01\") == duration(\"0ms\")"); /* same ms count, different types */
    FALSE_("principal == \"User::\\\"alice\\\"\"");
    TRUE_("principal == User::\"alice\"");
    FALSE_("User::\"alice\" == Group::\"alice\"");
    FALSE_("User::\"alice\" == NS::User::\"alice\"");
    TRUE_("resource.owner == principal");
    TRUE_("\"\" == \"\"");
    FALSE_("\"a\" == \"a\\0\"");
    TRUE_("decimal(\"1.0\") == decimal(\"1.0000\")");
    TRUE_("ip(\"10.0.0.1\") == ip(\"10.0.0.1/32\")");
    FALSE_("ip(\"10.0.0.1/24\") == ip(\"10.0.0.0/24\")");
    TRUE_("ip(\"::1\") == ip(\"0:0::1\")");
    TRUE_("datetime(\"2024-01-01\") == datetime(\"2024-01-01T00:00:00Z\")");
    TRUE_("datetime(\"2024-01-01T01:00:00+0100\") == datetime(\"2024-01-01\")");
    TRUE_("duration(\"60s\") == duration(\"1m\")");
    TRUE_("{a: 1, b: [2, 3]} == {b: [3, 2, 2], a: 1}");
    FALSE_("{a: 1} == {a: 1, b: 2}");
    FALSE_("{a: 1} == {b: 1}");
    FALSE_("{a: 1} == {a: \"1\"}");
    TRUE_("context.r == {k: \"v\"}");
    /* `==` evaluates both sides: their errors still propagate */
    ERR("context.missing == 1", MD_EVAL_ATTR_DOES_NOT_EXIST);
    ERR("1 != context.missing", MD_EVAL_ATTR_DOES_NOT_EXIST);
}

/* ------------------------------------------------------------ sets */

static void test_sets_are_deduplicated_and_structural(void **state)
{
    EV("[3, 1, 2, 1]", "[1, 2, 3]");
    EV("[1, \"a\", 1, \"a\"]", "[1, \"a\"]");
    EV("[principal, User::\"alice\"]", "[User::\"alice\"]");
    EV("[{a: 1, b: 2}, {b: 2, a: 1}]", "[{\"a\": 1, \"b\": 2}]");
    EV("[[1, 2], [2, 1, 1]]", "[[1, 2]]");
    EV("principal.emails", "[\"a@x\", \"b@x\"]");
    EV("[]", "[]");
    TRUE_("[1, 1, 2] == [2, 1]");
    TRUE_("[[1, 2], [2, 1]] == [[1, 2]]");
    FALSE_("[1, 2] == [1, 2, 3]");
    TRUE_("[decimal(\"1.0\"), decimal(\"1.00\")] == [decimal(\"1.0\")]");
    TRUE_("[ip(\"::1\"), ip(\"0::1\")] == [ip(\"::1\")]");
    TRUE_("[] == []");
    /* an error in any element is the set's error */
    TYPE_ERR("[1, 1 + \"a\"]");
    ERR("[context.missing]", MD_EVAL_ATTR_DOES_NOT_EXIST);
    TYPE_ERR("{a: 1 + \"a\"}");
}

static void test_set_methods(void **state)
{
    TRUE_("[1, 2, 3].contains(2)");
    FALSE_("[1, 2, 3].contains(\"2\")");
    TRUE_("[1, [2, 3]].contains([3, 2])");
    TRUE_("[{a: 1, b: 2}].contains({b: 2, a: 1})");
    TRUE_("context.set.contains(3)");
    TRUE_("[principal].contains(User::\"alice\")");
    FALSE_("[].contains([])");
    TRUE_("[1, 2, 3].containsAll([1, 3])");
    TRUE_("[1, 2, 3].containsAll([3, 3, 1])");
    FALSE_("[1, 2].containsAll([1, 3])");
    TRUE_("[1].containsAll([])");
    TRUE_("[].containsAll([])");
    FALSE_("[].containsAll([1])");
    TRUE_("[1, 2].containsAny([3, 2])");
    FALSE_("[1, 2].containsAny([3, 4])");
    FALSE_("[1, 2].containsAny([])");
    FALSE_("[].containsAny([])");
    TRUE_("principal.emails.containsAny([\"a@x\"])");
    TRUE_("[].isEmpty()");
    FALSE_("[1].isEmpty()");
    FALSE_("[[]].isEmpty()");
    /* type errors */
    TYPE_ERR("\"abc\".contains(\"a\")");
    TYPE_ERR("{a: 1}.contains(1)");
    TYPE_ERR("[1].containsAll(1)");
    TYPE_ERR("1.containsAll([1])");
    TYPE_ERR("[1].containsAny(\"1\")");
    TYPE_ERR("principal.containsAny([1])");
    TYPE_ERR("1.isEmpty()");
    TYPE_ERR("\"\".isEmpty()");
    TYPE_ERR("{}.isEmpty()");
}

/* ------------------------------------------------------------ hierarchy */

static void test_in(void **state)
{
    TRUE_("principal in Group::\"eng\"");
    TRUE_("principal in Group::\"all\""); /* transitive */
    TRUE_("principal in principal");
    TRUE_("principal in User::\"alice\"");
    FALSE_("principal in Group::\"other\"");
    FALSE_("principal in User::\"bob\"");
    FALSE_("Group::\"eng\" in principal");
    TRUE_("Group::\"eng\" in Group::\"all\"");
    TRUE_("action in Action::\"read\"");
    /* an entity that does not exist is only in itself; no error */
    FALSE_("User::\"nobody\" in Group::\"eng\"");
    TRUE_("User::\"nobody\" in User::\"nobody\"");
    FALSE_("principal in User::\"nobody\"");
    /* sets of entities */
    TRUE_("principal in [Group::\"x\", Group::\"all\"]");
    FALSE_("principal in [Group::\"x\", User::\"bob\"]");
    FALSE_("principal in []");
    TRUE_("principal in [principal]");
    /* a set with any non-entity element is a type error, even when another element matches */
    TYPE_ERR("principal in [Group::\"eng\", 1]");
    TYPE_ERR("principal in [1]");
    TYPE_ERR("principal in [[Group::\"eng\"]]");
    TYPE_ERR("principal in [\"Group::\\\"eng\\\"\"]");
    /* left must be an entity, right an entity or a set */
    TYPE_ERR("1 in [1]");
    TYPE_ERR("\"a\" in Group::\"eng\"");
    TYPE_ERR("principal in \"x\"");
    TYPE_ERR("principal in {a: Group::\"eng\"}");
    TYPE_ERR("[principal] in Group::\"eng\"");
}

/* ------------------------------------------------------------ attributes and tags */

static void test_has_and_attribute_access(void **state)
{
    TRUE_("principal has age");
    FALSE_("principal has nope");
    TRUE_("principal has \"\"");
    EV("principal[\"\"]", "\"empty key\"");
    EV("principal.age", "42");
    EV("principal[\"name\"]", "\"alice\"");
    EV("principal.rec.y", "{\"z\": true}");
    EV("principal.rec.y.z", "true");
    EV("principal.mgr", "User::\"bob\"");
    EV("principal.score", "decimal(\"0.7500\")");
    EV("{a: 1}.a", "1");
    EV("context.n", "5");
    TRUE_("context has s");
    TRUE_("{a: 1} has a");
    FALSE_("{a: 1} has b");
    FALSE_("{} has \"\"");
    /* has on an entity that does not exist is false; access is an error */
    FALSE_("User::\"nobody\" has age");
    FALSE_("principal.ghost has x");
    ERR("User::\"nobody\".age", MD_EVAL_ENTITY_DOES_NOT_EXIST);
    ERR("principal.ghost.x", MD_EVAL_ENTITY_DOES_NOT_EXIST);
    /* a missing attribute of an existing entity or record */
    ERR("principal.nope", MD_EVAL_ATTR_DOES_NOT_EXIST);
    ERR("principal.mgr.age", MD_EVAL_ATTR_DOES_NOT_EXIST);
    ERR("action.x", MD_EVAL_ATTR_DOES_NOT_EXIST);
    ERR("context.missing", MD_EVAL_ATTR_DOES_NOT_EXIST);
    ERR("{a: 1}.b", MD_EVAL_ATTR_DOES_NOT_EXIST);
    ERR("principal.rec.q", MD_EVAL_ATTR_DOES_NOT_EXIST);
    /* only entities and records have attributes */
    TYPE_ERR("1 has a");
    TYPE_ERR("\"abc\" has a");
    TYPE_ERR("[1] has a");
    TYPE_ERR("1.a");
    TYPE_ERR("principal.age.x");
    TYPE_ERR("decimal(\"1.0\").x");
}

static void test_has_dotted_path(void **state)
{
    TRUE_("principal has rec.y.z");
    FALSE_("principal has rec.y.w");
    FALSE_("principal has rec.q.z"); /* stops at the first missing step: no error */
    FALSE_("principal has nope.x.y");
    FALSE_("User::\"nobody\" has a.b");
    TRUE_("principal has mgr");
    FALSE_("principal has mgr.age"); /* bob exists with no attributes */
    FALSE_("principal has ghost.x"); /* User::"nobody" does not exist: has is false */
    /* a step that is neither a record nor an entity is a type error ([cst_to_ast] extended_has desugaring) */
    TYPE_ERR("context has n.x");
    TYPE_ERR("principal has age.x");
}

static void test_tags(void **state)
{
    TRUE_("principal.hasTag(\"role\")");
    FALSE_("principal.hasTag(\"x\")");
    FALSE_("principal.hasTag(\"age\")"); /* attributes are not tags */
    EV("principal.getTag(\"role\")", "\"admin\"");
    EV("principal.getTag(\"level\") + 1", "4");
    ERR("principal.getTag(\"x\")", MD_EVAL_TAG_DOES_NOT_EXIST);
    ERR("resource.getTag(\"role\")", MD_EVAL_TAG_DOES_NOT_EXIST);
    /* a missing entity has no tags: hasTag is false, getTag is an error */
    FALSE_("User::\"nobody\".hasTag(\"role\")");
    ERR("User::\"nobody\".getTag(\"role\")", MD_EVAL_ENTITY_DOES_NOT_EXIST);
    /* entity and string only */
    TYPE_ERR("principal.hasTag(1)");
    TYPE_ERR("principal.getTag(User::\"alice\")");
    TYPE_ERR("context.hasTag(\"a\")");
    TYPE_ERR("{role: 1}.getTag(\"role\")");
    TYPE_ERR("\"role\".hasTag(\"role\")");
}

static void test_is(void **state)
{
    TRUE_("principal is User");
    FALSE_("principal is Group");
    FALSE_("principal is NS::User");
    TRUE_("NS::User::\"x\" is NS::User");
    FALSE_("NS::User::\"x\" is User");
    TRUE_("User::\"nobody\" is User"); /* a type test, existence does not matter */
    TRUE_("principal is User in Group::\"all\"");
    FALSE_("principal is Group in Group::\"all\"");
    FALSE_("principal is User in Group::\"other\"");
    TRUE_("principal is User in [Group::\"x\", Group::\"eng\"]");
    TYPE_ERR("1 is User");
    TYPE_ERR("\"User\" is User");
    TYPE_ERR("context is User");
    TYPE_ERR("1 is User in Group::\"all\"");
    /* is ... in: the `is` is tested first, so a wrong type skips the `in` */
    FALSE_("principal is Group in 1");
    TYPE_ERR("principal is User in 1");
}

/* ------------------------------------------------------------ like */

static void test_like(void **state)
{
    TRUE_("\"abc\" like \"a*c\"");
    TRUE_("\"abc\" like \"a*\"");
    TRUE_("\"abc\" like \"*\"");
    TRUE_("\"\" like \"*\"");
    TRUE_("\"\" like \"\"");
    TRUE_("\"\" like \"***\"");
    FALSE_("\"a\" like \"\"");
    FALSE_("\"abc\" like \"ab\"");
    FALSE_("\"ab\" like \"abc\"");
    TRUE_("\"a*c\" like \"a\\*c\"");
    FALSE_("\"abc\" like \"a\\*c\"");
    TRUE_("\"aXbXc\" like \"a*b*c\"");
    FALSE_("\"aaa\" like \"a*a*a*a\"");
    TRUE_("\"aaaa\" like \"a*a*a*a\"");
    TRUE_("\"mississippi\" like \"*sip*\"");
    TRUE_("\"mississippi\" like \"m*iss*ppi\"");
    FALSE_("\"mississippi\" like \"m*iss*ppx\"");
    TRUE_("\"a\\nb\" like \"a?b\" || \"a\\nb\" like \"a*b\"");
    FALSE_("\"ABC\" like \"abc\"");
    TRUE_("\"\\0\" like \"\\0\"");
    TYPE_ERR("1 like \"1\"");
    TYPE_ERR("principal like \"*\"");
    TYPE_ERR("[\"a\"] like \"*\"");
}

static void test_like_multibyte(void **state)
{
    /* a wildcard and a literal each stand for one code point, never for a byte */
    TRUE_("\"\xc3\xa9\" like \"\\u{e9}\"");
    FALSE_("\"\xc3\xa9\" like \"\\u{c3}\\u{a9}\"");
    TRUE_("\"h\xc3\xa9llo\" like \"h*llo\"");
    TRUE_("context.uni like \"\xe6\x97\xa5*\xe8\xaa\x9e\"");
    TRUE_("context.uni like \"*\xe6\x9c\xac*\"");
    FALSE_("context.uni like \"*\xe6\x9c\xac\"");
    TRUE_("\"\xe6\x97\xa5\xe6\x9c\xac\xe8\xaa\x9e\xe6\x9c\xac\" like \"*\xe6\x9c\xac\"");
    TRUE_("\"a\xf0\x9f\x98\x80"
          "b\" like \"a*b\"");
    TRUE_("\"\xf0\x9f\x98\x80\" like \"\\u{1F600}\"");
    TRUE_("\"\xf0\x9f\x98\x80x\" like \"\\u{1F600}*\"");
    FALSE_("\"\xf0\x9f\x98\x80\" like \"\\u{1F601}\"");
    /* a pattern character that shares a UTF-8 prefix with the string's */
    FALSE_("\"\xc3\xa9\" like \"\\u{e8}*\"");
    FALSE_("\"\xe6\x97\xa5\" like \"\\u{65e4}\"");
}

/* Wildcard.lean, as a direct recursion over code points. */
static bool naive_like(const uint32_t *s, int ns, const uint32_t *p, int np)
{
    if (np == 0) return ns == 0;
    if (p[0] == MD_LIKE_STAR)
        return naive_like(s, ns, p + 1, np - 1) || (ns > 0 && naive_like(s + 1, ns - 1, p, np));
    return ns > 0 && s[0] == p[0] && naive_like(s + 1, ns - 1, p + 1, np - 1);
}

static void test_like_random_against_naive(void **state)
{
    static const uint32_t alphabet[] = {'a', 'b', 0xE9, 0x65E5, '*'};
    static const char *const utf8[] = {"a", "b", "\xc3\xa9", "\xe6\x97\xa5", "*"};
    uint64_t x = 0x9E3779B97F4A7C15ULL;
    int matches = 0;
    for (int iter = 0; iter < 3000; iter++) {
        uint32_t str[8], pat[8];
        int ns, np;
        char expr[256], *w = expr;
        x ^= x << 13, x ^= x >> 7, x ^= x << 17;
        ns = (int)(x % 7);
        np = (int)((x >> 8) % 7);
        w += sprintf(w, "\"");
        for (int i = 0; i < ns; i++) {
            int k = (int)((x >> (16 + 3 * i)) % 5);
            str[i] = alphabet[k];
            w += sprintf(w, "%s", utf8[k]);
        }
        w += sprintf(w, "\" like \"");
        x ^= x << 13, x ^= x >> 7, x ^= x << 17;
        if (x & 1) { /* half of the patterns are derived from the string, so that many match */
            np = 0;
            for (int i = 0; i < ns && np < 8; i++) {
                int k = (int)((x >> (1 + 3 * i)) % 6);
                if (k == 0) {
                    pat[np++] = MD_LIKE_STAR; /* the star swallows this character */
                    w += sprintf(w, "*");
                    continue;
                }
                if (k == 1 && np < 7) {
                    pat[np++] = MD_LIKE_STAR;
                    w += sprintf(w, "*");
                }
                pat[np++] = str[i];
                if (str[i] == '*')
                    w += sprintf(w, "\\*");
                else
                    w += sprintf(w, "%s",
                                 utf8[str[i] == 'a'    ? 0
                                      : str[i] == 'b'  ? 1
                                      : str[i] == 0xE9 ? 2
                                                       : 3]);
            }
        }
        for (int i = 0; !(x & 1) && i < np; i++) {
            int k = (int)((x >> (3 * i)) % 6);
            if (k == 5) {
                pat[i] = MD_LIKE_STAR;
                w += sprintf(w, "*");
            } else if (k == 4) {
                pat[i] = '*';
                w += sprintf(w, "\\*");
            } else {
                pat[i] = alphabet[k];
                w += sprintf(w, "%s", utf8[k]);
            }
        }
        sprintf(w, "\"");
        bool want = naive_like(str, ns, pat, np);
        matches += want;
        result_t r;
        eval_into(expr, &r, __FILE__, __LINE__);
        assert_int_equal(r.kind, MD_EVAL_OK);
        if (strcmp(r.text, want ? "true" : "false") != 0) fail_msg("%s: got %s", expr, r.text);
    }
    if (!(matches > 300 && matches < 2700))
        fail_msg("matches %d", matches); /* both outcomes well represented */
}

/* ------------------------------------------------------------ records */

static void test_records(void **state)
{
    EV("{a: 1, b: \"x\"}", "{\"a\": 1, \"b\": \"x\"}");
    EV("{b: 1, a: 2}", "{\"a\": 2, \"b\": 1}");
    EV("{\"\": {}, \"a b\": [principal]}", "{\"\": {}, \"a b\": [User::\"alice\"]}");
    EV("{a: context.n + 1}.a", "6");
    ERR("{a: context.missing}", MD_EVAL_ATTR_DOES_NOT_EXIST);
}

/* ------------------------------------------------------------ extensions */

static void test_ext_decimal(void **state)
{
    EV("decimal(\"1.23\")", "decimal(\"1.2300\")");
    EV("decimal(\"-922337203685477.5808\")", "decimal(\"-922337203685477.5808\")");
    TRUE_("decimal(\"1.2345\").lessThan(decimal(\"1.2346\"))");
    FALSE_("decimal(\"1.2345\").lessThan(decimal(\"1.2345\"))");
    TRUE_("decimal(\"1.2345\").lessThanOrEqual(decimal(\"1.2345\"))");
    FALSE_("decimal(\"1.5\").lessThanOrEqual(decimal(\"-1.5\"))");
    TRUE_("decimal(\"0.1\").greaterThan(decimal(\"-0.1\"))");
    FALSE_("decimal(\"0.1\").greaterThan(decimal(\"0.1000\"))");
    TRUE_("decimal(\"0.1\").greaterThanOrEqual(decimal(\"0.1000\"))");
    TRUE_("principal.score.greaterThan(decimal(\"0.5\"))");
    /* bad literals are extension errors */
    EXT_ERR("decimal(\"1.23456\")");
    EXT_ERR("decimal(\"abc\")");
    EXT_ERR("decimal(\"1\")");
    EXT_ERR("decimal(\"922337203685477.5808\")");
    EXT_ERR("decimal(context.s)");
    /* wrong argument types and counts are type errors */
    TYPE_ERR("decimal(1)");
    TYPE_ERR("decimal(\"1.0\", \"2.0\")");
    TYPE_ERR("decimal()");
    TYPE_ERR("decimal(\"1.0\").lessThan(1)");
    TYPE_ERR("decimal(\"1.0\").lessThan(\"2.0\")");
    TYPE_ERR("decimal(\"1.0\").lessThan()");
    TYPE_ERR("decimal(\"1.0\").greaterThan(decimal(\"1.0\"), decimal(\"1.0\"))");
    TYPE_ERR("1.lessThan(decimal(\"1.0\"))");
    TYPE_ERR("ip(\"1.2.3.4\").lessThanOrEqual(decimal(\"1.0\"))");
    /* argument errors come first */
    ERR("decimal(context.missing)", MD_EVAL_ATTR_DOES_NOT_EXIST);
}

static void test_ext_ipaddr(void **state)
{
    EV("ip(\"10.0.0.1\")", "ip(\"10.0.0.1/32\")");
    EV("ip(\"::1\")", "ip(\"::1/128\")");
    TRUE_("ip(\"127.0.0.1\").isLoopback()");
    TRUE_("ip(\"::1\").isLoopback()");
    FALSE_("ip(\"10.0.0.1\").isLoopback()");
    TRUE_("ip(\"10.0.0.1\").isIpv4()");
    FALSE_("ip(\"10.0.0.1\").isIpv6()");
    TRUE_("ip(\"2001:db8::/32\").isIpv6()");
    TRUE_("ip(\"ff02::1\").isMulticast()");
    TRUE_("ip(\"224.0.0.1\").isMulticast()");
    FALSE_("ip(\"223.255.255.255\").isMulticast()");
    TRUE_("ip(\"10.1.2.3\").isInRange(ip(\"10.0.0.0/8\"))");
    FALSE_("ip(\"10.1.2.3\").isInRange(ip(\"11.0.0.0/8\"))");
    TRUE_("ip(\"10.0.0.1\").isInRange(ip(\"10.0.0.1\"))");
    TRUE_("ip(\"1.2.3.4\").isInRange(ip(\"0.0.0.0/0\"))");
    FALSE_("ip(\"0.0.0.0/0\").isInRange(ip(\"1.2.3.4\"))");
    FALSE_("ip(\"::1\").isInRange(ip(\"127.0.0.0/8\"))"); /* different families */
    EXT_ERR("ip(\"1.2.3\")");
    EXT_ERR("ip(\"1.2.3.4/33\")");
    EXT_ERR("ip(\"::ffff:1.2.3.4\")");
    EXT_ERR("ip(\"\")");
    TYPE_ERR("ip(1)");
    TYPE_ERR("ip(\"1.2.3.4\", \"1.2.3.4\")");
    TYPE_ERR("ip(\"1.2.3.4\").isIpv4(1)");
    TYPE_ERR("ip(\"1.2.3.4\").isInRange(\"1.2.3.0/24\")");
    TYPE_ERR("ip(\"1.2.3.4\").isInRange()");
    TYPE_ERR("decimal(\"1.0\").isIpv4()");
    TYPE_ERR("\"1.2.3.4\".isLoopback()");
    TYPE_ERR("principal.isMulticast()");
}

static void test_ext_datetime_duration(void **state)
{
    EV("datetime(\"2024-10-15T11:35:00+0100\")", "datetime(\"2024-10-15T10:35:00Z\")");
    EV("duration(\"1d2h3m4s5ms\")", "duration(\"93784005ms\")");
    TRUE_("datetime(\"2024-10-15\").offset(duration(\"1d\")) == datetime(\"2024-10-16\")");
    TRUE_("datetime(\"2024-10-15\").offset(duration(\"-1ms\")) < datetime(\"2024-10-15\")");
    TRUE_("datetime(\"2024-10-16\").durationSince(datetime(\"2024-10-15\")) == duration(\"1d\")");
    TRUE_("datetime(\"2024-10-15\").durationSince(datetime(\"2024-10-16\")) == duration(\"-24h\")");
    TRUE_("datetime(\"2024-10-15T11:35:00Z\").toDate() == datetime(\"2024-10-15\")");
    TRUE_("datetime(\"1969-12-31T23:00:00Z\").toDate() == datetime(\"1969-12-31\")");
    TRUE_("datetime(\"2024-10-15T11:35:00Z\").toTime() == duration(\"11h35m\")");
    TRUE_("datetime(\"1969-12-31T23:00:00Z\").toTime() == duration(\"23h\")");
    EV("duration(\"1d2h3m4s5ms\").toMilliseconds()", "93784005");
    EV("duration(\"1d2h3m4s5ms\").toSeconds()", "93784");
    EV("duration(\"1d2h3m4s5ms\").toMinutes()", "1563");
    EV("duration(\"1d2h3m4s5ms\").toHours()", "26");
    EV("duration(\"1d2h3m4s5ms\").toDays()", "1");
    /* truncation toward zero */
    EV("duration(\"-1d1ms\").toDays()", "-1");
    EV("duration(\"-1ms\").toSeconds()", "0");
    EV("duration(\"-59s\").toMinutes()", "0");
    /* bad literals */
    EXT_ERR("datetime(\"2024-13-01\")");
    EXT_ERR("datetime(\"2024-02-30\")");
    EXT_ERR("datetime(\"2024-01-01T25:00:00Z\")");
    EXT_ERR("datetime(\"\")");
    EXT_ERR("duration(\"1x\")");
    EXT_ERR("duration(\"\")");
    EXT_ERR("duration(\"1h1d\")");
    EXT_ERR("duration(\"9223372036854775808ms\")");
    /* overflows in offset, durationSince and toDate are extension errors */
    EXT_ERR("datetime(\"2024-01-01\").offset(duration(\"106751990000d\"))");
    EXT_ERR("datetime(\"1970-01-01\").offset(duration(\"-106751990000d\")).durationSince(datetime(\"2024-01-"
            "01\"))");
    EXT_ERR(
        "datetime(\"1970-01-01\").offset(duration(\"-106751991167d\")).offset(duration(\"-1ms\")).toDate()");
    /* types and arity */
    TYPE_ERR("datetime(1)");
    TYPE_ERR("duration(60)");
    TYPE_ERR("datetime(\"2024-01-01\").offset(1)");
    TYPE_ERR("datetime(\"2024-01-01\").offset(datetime(\"2024-01-01\"))");
    TYPE_ERR("duration(\"1h\").offset(duration(\"1h\"))");
    TYPE_ERR("datetime(\"2024-01-01\").durationSince(duration(\"1h\"))");
    TYPE_ERR("duration(\"1h\").toDate()");
    TYPE_ERR("duration(\"1h\").toTime()");
    TYPE_ERR("datetime(\"2024-01-01\").toDays()");
    TYPE_ERR("1.toMilliseconds()");
    TYPE_ERR("datetime(\"2024-01-01\").offset()");
    TYPE_ERR("duration(\"1h\").toHours(1)");
    TYPE_ERR("datetime(\"2024-01-01\", \"x\")");
    /* the argument error comes before the method's */
    EXT_ERR("datetime(\"x\").toDate()");
}

/* md_ext_apply: the entry point used for `__extn` values with "args" in JSON. */
static void test_ext_apply_direct(void **state)
{
    md_arena_t *arena = new_arena(1024);
    md_cv_t out, args[2];
    md_str_t msg = MD_STR_NULL;

    args[0] = md_cv_string(MD_STR("1.5"));
    assert_int_equal(md_ext_apply(MD_EXT_DECIMAL, args, 1, arena, &out, &msg), MD_EVAL_OK);
    assert_int_equal(out.kind, MD_CV_DECIMAL);
    assert_int_equal(out.i, 15000);

    args[0] = md_cv_string(MD_STR("192.168.0.1/16"));
    assert_int_equal(md_ext_apply(MD_EXT_IP, args, 1, arena, &out, &msg), MD_EVAL_OK);
    assert_int_equal(out.kind, MD_CV_IPADDR);
    assert_int_equal(out.ip->prefix, 16);
    assert_int_equal(out.ip->addr[0], 192);

    args[0] = md_cv_string(MD_STR("1970-01-02"));
    args[1] = md_cv_string(MD_STR("-1h"));
    assert_int_equal(md_ext_apply(MD_EXT_DATETIME, args, 1, arena, &args[0], &msg), MD_EVAL_OK);
    assert_int_equal(md_ext_apply(MD_EXT_DURATION, &args[1], 1, arena, &args[1], &msg), MD_EVAL_OK);
    assert_int_equal(md_ext_apply(MD_EXT_OFFSET, args, 2, arena, &out, &msg), MD_EVAL_OK);
    assert_int_equal(out.kind, MD_CV_DATETIME);
    assert_int_equal(out.i, 86400000 - 3600000);

    msg = MD_STR_NULL;
    args[0] = md_cv_string(MD_STR("nope"));
    assert_int_equal(md_ext_apply(MD_EXT_DECIMAL, args, 1, arena, &out, &msg), MD_EVAL_EXTENSION_ERROR);
    assert_non_null(msg.p);
    assert_true(msg.n > 0);

    args[0] = md_cv_long(1);
    assert_int_equal(md_ext_apply(MD_EXT_DECIMAL, args, 1, arena, &out, &msg), MD_EVAL_TYPE_ERROR);
    assert_int_equal(md_ext_apply(MD_EXT_OFFSET, args, 1, arena, &out, &msg), MD_EVAL_TYPE_ERROR);
    assert_int_equal(md_ext_apply(MD_EXT_TO_DAYS, args, 0, arena, &out, &msg), MD_EVAL_TYPE_ERROR);
    assert_int_equal(md_ext_apply(0, args, 0, arena, &out, &msg), MD_EVAL_TYPE_ERROR);
    assert_int_equal(md_ext_apply(200, args, 1, arena, &out, &msg), MD_EVAL_TYPE_ERROR);
    drop(arena);
}

/* ------------------------------------------------------------ error messages and limits */

static void test_error_messages(void **state)
{
    result_t r;
    eval_into("principal.nope", &r, __FILE__, __LINE__);
    assert_int_equal(r.kind, MD_EVAL_ATTR_DOES_NOT_EXIST);
    assert_non_null(strstr(r.text, "nope"));
    assert_non_null(strstr(r.text, "alice"));
    eval_into("User::\"nobody\".age", &r, __FILE__, __LINE__);
    assert_non_null(strstr(r.text, "nobody"));
    eval_into("principal.getTag(\"zzz\")", &r, __FILE__, __LINE__);
    assert_non_null(strstr(r.text, "zzz"));
    eval_into("context.max + 1", &r, __FILE__, __LINE__);
    assert_non_null(strstr(r.text, "overflow"));
    eval_into("decimal(\"xyz\")", &r, __FILE__, __LINE__);
    assert_non_null(strstr(r.text, "xyz"));
    /* the first error wins */
    eval_into("[principal.nope, 1 + \"a\"]", &r, __FILE__, __LINE__);
    assert_int_equal(r.kind, MD_EVAL_ATTR_DOES_NOT_EXIST);
}

static void test_unlinked_slot_is_an_error(void **state)
{
    md_expr_t slot = {.op = MD_OP_SLOT, .var = MD_VAR_PRINCIPAL, .height = 1};
    md_arena_t *arena = new_arena(1024);
    md_cv_t out;
    md_str_t msg = MD_STR_NULL;
    assert_int_equal(md_eval_expr(&slot, g_es, &g_req, arena, &out, &msg), MD_EVAL_TYPE_ERROR);
    assert_true(msg.n > 0);
    drop(arena);
}

static char *chain(const char *unit, const char *sep, int n)
{
    size_t lu = strlen(unit), ls = strlen(sep);
    char *s = malloc((size_t)n * (lu + ls) + 1);
    assert_non_null(s);
    char *w = s;
    for (int i = 0; i < n; i++) {
        if (i) memcpy(w, sep, ls), w += ls;
        memcpy(w, unit, lu), w += lu;
    }
    *w = '\0';
    return s;
}

/* The same expressions as policy conditions: md_authorize agrees with md_eval_expr
 * (true: satisfied; false: not; non-boolean: type error; error: skipped and listed). */
static void test_authorize_agrees_with_eval(void **state)
{
    static const char *const exprs[] = {
        "true",
        "false",
        "1",
        "\"x\"",
        "principal in Group::\"all\"",
        "context.missing",
        "principal.age > 40",
        "User::\"nobody\".age == 1",
        "principal.getTag(\"nope\")",
        "context.max + 1 > 0",
        "decimal(\"x\") == 1",
        "[1, 2].contains(2)",
        "principal.hasTag(\"role\") && principal.getTag(\"role\") == \"admin\"",
        "context has n.x",
        "\"abc\" like \"*c\"",
        "ip(\"::1\").isLoopback()",
        "if context.flag then 1 else true",
    };
    for (size_t i = 0; i < sizeof(exprs) / sizeof(exprs[0]); i++) {
        char text[512];
        snprintf(text, sizeof(text), "permit(principal, action, resource) when { %s };", exprs[i]);
        md_policyset_t *ps = NULL;
        md_err_t err = {0};
        assert_int_equal(md_policyset_parse(text, strlen(text), "t", &ps, &err), MD_OK);
        keep(ps, free_ps);
        md_arena_t *arena = new_arena(4096);
        md_cv_t v;
        md_str_t msg = MD_STR_NULL;
        md_eval_error_t kind = md_eval_expr(ps->policies[0]->conds[0], g_es, &g_req, arena, &v, &msg);
        md_response_t resp;
        assert_int_equal(md_authorize(ps, g_es, &g_req, arena, &resp), MD_OK);
        assert_int_equal(resp.evaluated, 1);
        if (kind == MD_EVAL_OK && v.kind == MD_CV_BOOL) {
            assert_int_equal(resp.allow, v.b);
            assert_int_equal(resp.nreasons, v.b ? 1 : 0);
            assert_int_equal(resp.nerrors, 0);
        } else {
            md_eval_error_t want = kind == MD_EVAL_OK ? MD_EVAL_TYPE_ERROR : kind;
            if (resp.allow || resp.nreasons != 0 || resp.nerrors != 1 || resp.errors[0].kind != want)
                fail_msg("`%s`: eval kind %s, authorize allow=%d reasons=%u errors=%u", exprs[i],
                         kind_name(kind), resp.allow, resp.nreasons, resp.nerrors);
            assert_ptr_equal(resp.errors[0].policy, ps->policies[0]);
            assert_true(resp.errors[0].message.n > 0);
        }
        drop(arena);
        drop(ps);
    }
}

/* Long chains: && and || of any parseable length evaluate; arithmetic chains
 * evaluate up to the evaluator's depth limit and beyond it fail cleanly with
 * MD_EVAL_DEPTH (cedar-wasm itself runs out of stack near 500 additions). */
static void test_long_chains_evaluate(void **state)
{
    char *e = keep(chain("true", " && ", 1999), free);
    EV(e, "true");
    drop(e);
    e = keep(chain("false", " || ", 1999), free);
    EV(e, "false");
    drop(e);
    e = keep(chain("1", " + ", 700), free);
    EV(e, "700");
    drop(e);
    e = keep(chain("context.n", " - ", 700), free);
    EV(e, "-3490");
    drop(e);
    for (int n = 1000; n < MD_CEDAR_MAX_HEIGHT; n += 333) {
        result_t r;
        e = keep(chain("1", " * ", n), free);
        eval_into(e, &r, __FILE__, __LINE__);
        drop(e);
        if (r.kind == MD_EVAL_OK)
            assert_string_equal(r.text, "1");
        else
            assert_int_equal(r.kind, MD_EVAL_DEPTH);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_teardown(test_literals_and_variables, drop_all),
        cmocka_unit_test_teardown(test_and_or_not, drop_all),
        cmocka_unit_test_teardown(test_short_circuit, drop_all),
        cmocka_unit_test_teardown(test_if_then_else, drop_all),
        cmocka_unit_test_teardown(test_arithmetic, drop_all),
        cmocka_unit_test_teardown(test_arithmetic_overflow, drop_all),
        cmocka_unit_test_teardown(test_comparisons, drop_all),
        cmocka_unit_test_teardown(test_equality_never_errors, drop_all),
        cmocka_unit_test_teardown(test_sets_are_deduplicated_and_structural, drop_all),
        cmocka_unit_test_teardown(test_set_methods, drop_all),
        cmocka_unit_test_teardown(test_in, drop_all),
        cmocka_unit_test_teardown(test_has_and_attribute_access, drop_all),
        cmocka_unit_test_teardown(test_has_dotted_path, drop_all),
        cmocka_unit_test_teardown(test_tags, drop_all),
        cmocka_unit_test_teardown(test_is, drop_all),
        cmocka_unit_test_teardown(test_like, drop_all),
        cmocka_unit_test_teardown(test_like_multibyte, drop_all),
        cmocka_unit_test_teardown(test_like_random_against_naive, drop_all),
        cmocka_unit_test_teardown(test_records, drop_all),
        cmocka_unit_test_teardown(test_ext_decimal, drop_all),
        cmocka_unit_test_teardown(test_ext_ipaddr, drop_all),
        cmocka_unit_test_teardown(test_ext_datetime_duration, drop_all),
        cmocka_unit_test_teardown(test_ext_apply_direct, drop_all),
        cmocka_unit_test_teardown(test_error_messages, drop_all),
        cmocka_unit_test_teardown(test_unlinked_slot_is_an_error, drop_all),
        cmocka_unit_test_teardown(test_authorize_agrees_with_eval, drop_all),
        cmocka_unit_test_teardown(test_long_chains_evaluate, drop_all),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
