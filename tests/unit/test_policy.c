/*
 * test_policy.c: unit tests for the Cedar policy parser and printer
 * (src/cedar/policy.h, policy_parse.c, policy_print.c).
 *
 * Expected behaviour comes from the reference parser: cedar-policy-core
 * src/parser/grammar.lalrpop, cst_to_ast.rs (its unit tests are cited as
 * [cst_to_ast] with the test name) and unescape.rs; every accept/reject
 * expectation below was also checked against cedar-wasm 4.13.0.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>

#include "cedar/authz.h"

/* ------------------------------------------------------------ helpers */

#include "held.h"

static void free_ps(void *p)
{
    md_policyset_free(p);
}

#define NAME "t.cedar"

static md_policyset_t *parse_at(const char *text, const char *file, int line)
{
    md_policyset_t *ps = NULL;
    md_err_t err = {0};
    int rc = md_policyset_parse(text, strlen(text), NAME, &ps, &err);
    if (rc != MD_OK || ps == NULL) {
        print_error("parse failed (%d): %s\n  text: %s\n", rc, err.msg, text);
        _fail(file, line);
    }
    return keep(ps, free_ps);
}
#define parse_ok(text) parse_at((text), __FILE__, __LINE__)

/* Parse must fail; the message must contain `want` (when not NULL).  Returns the message. */
static const char *reject_at(const char *text, const char *want, const char *file, int line)
{
    static md_err_t err;
    md_policyset_t *ps = NULL;
    memset(&err, 0, sizeof(err));
    int rc = md_policyset_parse(text, strlen(text), NAME, &ps, &err);
    if (rc == MD_OK) {
        md_policyset_free(ps);
        print_error("parse should have failed: %s\n", text);
        _fail(file, line);
    }
    if (ps != NULL || rc != err.code || rc >= 0) {
        print_error("bad failure contract: rc=%d code=%d ps=%p\n", rc, err.code, (void *)ps);
        _fail(file, line);
    }
    if (want && strstr(err.msg, want) == NULL) {
        print_error("error for `%s`\n  is:   %s\n  want: ...%s...\n", text, err.msg, want);
        _fail(file, line);
    }
    return err.msg;
}
#define parse_bad(text, want) reject_at((text), (want), __FILE__, __LINE__)

static char *wrap_cond(const char *expr)
{
    static char buf[1 << 16];
    snprintf(buf, sizeof(buf), "permit(principal, action, resource) when { %s };", expr);
    return buf;
}

/* The condition of a one-policy set, printed with md_expr_to_cedar. */
static void expr_prints_at(const char *expr, const char *want, const char *file, int line)
{
    md_policyset_t *ps = parse_at(wrap_cond(expr), file, line);
    md_buf_t b;
    md_buf_init(&b);
    md_expr_to_cedar(&b, ps->policies[0]->conds[0]);
    bool ok = b.p && strcmp(b.p, want) == 0;
    if (!ok) print_error("`%s`\n  printed: %s\n  want:    %s\n", expr, b.p ? b.p : "(null)", want);
    md_buf_free(&b);
    drop(ps);
    if (!ok) _fail(file, line);
}
#define expr_prints(expr, want) expr_prints_at((expr), (want), __FILE__, __LINE__)

static void expr_bad_at(const char *expr, const char *want, const char *file, int line)
{
    reject_at(wrap_cond(expr), want, file, line);
}
#define expr_bad(expr, want) expr_bad_at((expr), (want), __FILE__, __LINE__)

/* The operators along the first-argument spine of a condition, e.g. "NOT GETATTR VAR". */
static void expr_ops_at(const char *expr, const char *want, const char *file, int line)
{
    static const char *const names[] = {
        "?",       "LIT", "VAR",     "SLOT",     "NOT",          "NEG",          "AND",      "OR",
        "IF",      "EQ",  "NE",      "LT",       "LE",           "GT",           "GE",       "IN",
        "ADD",     "SUB", "MUL",     "CONTAINS", "CONTAINS_ALL", "CONTAINS_ANY", "IS_EMPTY", "HAS_TAG",
        "GET_TAG", "HAS", "GETATTR", "LIKE",     "IS",           "SET",          "RECORD",   "EXT"};
    md_policyset_t *ps = parse_at(wrap_cond(expr), file, line);
    char got[256] = "";
    for (const md_expr_t *e = ps->policies[0]->conds[0]; e; e = e->nargs ? e->args[0] : NULL) {
        size_t n = strlen(got);
        snprintf(got + n, sizeof(got) - n, "%s%s", n ? " " : "",
                 e->op < sizeof(names) / sizeof(names[0]) ? names[e->op] : "?");
    }
    drop(ps);
    if (strcmp(got, want) != 0) {
        print_error("`%s`\n  tree: %s\n  want: %s\n", expr, got, want);
        _fail(file, line);
    }
}
#define expr_ops(expr, want) expr_ops_at((expr), (want), __FILE__, __LINE__)

/* Parse one condition and hand back its AST (the policy set goes to *ps). */
static const md_expr_t *cond_of(const char *expr, md_policyset_t **ps)
{
    *ps = parse_ok(wrap_cond(expr));
    assert_int_equal((*ps)->npolicies, 1);
    assert_int_equal((*ps)->policies[0]->nconds, 1);
    return (*ps)->policies[0]->conds[0];
}

static void assert_uid(const md_uid_t *u, const char *type, const char *id)
{
    assert_non_null(u);
    assert_true(md_str_eqc(u->type, type));
    assert_true(md_str_eqc(u->id, id));
    assert_true(u->hash == md_uid_hash(u->type, u->id));
}

static md_uid_t mkuid(const char *type, const char *id)
{
    md_uid_t u = {md_str_c(type), md_str_c(id), 0};
    u.hash = md_uid_hash(u.type, u.id);
    return u;
}

/* Print every policy of a set. */
static char *print_all(const md_policyset_t *ps)
{
    md_buf_t b;
    md_buf_init(&b);
    for (uint32_t i = 0; i < ps->npolicies; i++)
        md_policy_to_cedar(&b, ps->policies[i]);
    assert_false(b.oom);
    return keep(b.p, free); /* drop() it */
}

/* One policy printed (held: drop() it). */
static char *policy_text(const md_policy_t *p)
{
    md_buf_t b;
    md_buf_init(&b);
    md_policy_to_cedar(&b, p);
    assert_false(b.oom);
    return keep(b.p, free);
}

/* ------------------------------------------------------------ scopes */

static void test_scope_unconstrained(void **state)
{
    md_policyset_t *ps = parse_ok("permit(principal, action, resource);");
    const md_policy_t *p = ps->policies[0];
    assert_false(p->forbid);
    assert_false(p->is_template);
    assert_int_equal(p->principal.kind, MD_SCOPE_ANY);
    assert_int_equal(p->action.kind, MD_SCOPE_ANY);
    assert_int_equal(p->resource.kind, MD_SCOPE_ANY);
    assert_int_equal(p->nconds, 0);
    assert_int_equal(p->nannotations, 0);
    assert_null(p->tmpl);
    drop(ps);

    /* a trailing comma after the resource is part of the grammar (Comma<VariableDef>) */
    ps = parse_ok("forbid(principal, action, resource,);");
    assert_true(ps->policies[0]->forbid);
    drop(ps);
}

static void test_scope_eq(void **state)
{
    md_policyset_t *ps = parse_ok(
        "permit(principal == User::\"alice\", action == Action::\"view\", resource == NS::Photo::\"a b\");");
    const md_policy_t *p = ps->policies[0];
    assert_int_equal(p->principal.kind, MD_SCOPE_EQ);
    assert_false(p->principal.slot);
    assert_uid(p->principal.uid, "User", "alice");
    assert_int_equal(p->action.kind, MD_SCOPE_EQ);
    assert_uid(p->action.uid, "Action", "view");
    assert_int_equal(p->resource.kind, MD_SCOPE_EQ);
    assert_uid(p->resource.uid, "NS::Photo", "a b");
    drop(ps);
}

static void test_scope_in(void **state)
{
    md_policyset_t *ps =
        parse_ok("permit(principal in Group::\"g\", action in Action::\"read\", resource in Folder::\"f\");");
    const md_policy_t *p = ps->policies[0];
    assert_int_equal(p->principal.kind, MD_SCOPE_IN);
    assert_uid(p->principal.uid, "Group", "g");
    assert_int_equal(p->action.kind, MD_SCOPE_IN);
    assert_uid(p->action.uid, "Action", "read");
    assert_int_equal(p->resource.kind, MD_SCOPE_IN);
    assert_uid(p->resource.uid, "Folder", "f");
    drop(ps);
}

static void test_scope_is_and_is_in(void **state)
{
    md_policyset_t *ps =
        parse_ok("permit(principal is User, action, resource is NS::Photo in NS::Album::\"trip\");");
    const md_policy_t *p = ps->policies[0];
    assert_int_equal(p->principal.kind, MD_SCOPE_IS);
    assert_true(md_str_eqc(p->principal.type, "User"));
    assert_null(p->principal.uid);
    assert_int_equal(p->resource.kind, MD_SCOPE_IS_IN);
    assert_true(md_str_eqc(p->resource.type, "NS::Photo"));
    assert_uid(p->resource.uid, "NS::Album", "trip");
    drop(ps);

    /* [cst_to_ast] `is` must come first; no `is` on actions; no `is ... ==` */
    parse_bad("permit(principal in Group::\"g\" is User, action, resource);", "is ... in");
    parse_bad("permit(principal, action is Action, resource);", "action scope");
    parse_bad("permit(principal, action in Action::\"a\" is Action, resource);", "action scope");
    parse_bad("permit(principal is User == User::\"a\", action, resource);", "==");
}

static void test_scope_action_in_set(void **state)
{
    md_policyset_t *ps =
        parse_ok("permit(principal, action in [Action::\"a\", NS::Action::\"b\", Action::\"a\"], resource);"
                 "permit(principal, action in [], resource);");
    const md_policy_t *p = ps->policies[0];
    assert_int_equal(p->action.kind, MD_SCOPE_IN_SET);
    assert_int_equal(p->action.nuids, 3);
    assert_uid(p->action.uids[0], "Action", "a");
    assert_uid(p->action.uids[1], "NS::Action", "b");
    assert_uid(p->action.uids[2], "Action", "a");
    p = ps->policies[1];
    assert_int_equal(p->action.kind, MD_SCOPE_IN_SET);
    assert_int_equal(p->action.nuids, 0);
    drop(ps);

    /* action uids must have an Action type; principal/resource take no sets */
    parse_bad("permit(principal, action == User::\"x\", resource);", "Action");
    parse_bad("permit(principal, action in [Action::\"a\", User::\"x\"], resource);", "`User`");
    parse_bad("permit(principal in [User::\"a\"], action, resource);", "expected an entity uid");
}

static void test_scope_template_slots(void **state)
{
    md_policyset_t *ps =
        parse_ok("permit(principal == ?principal, action, resource in ?resource);\n"
                 "forbid(principal is User in ?principal, action, resource is Photo in ?resource);\n"
                 "permit(principal in ?principal, action, resource);\n"
                 "permit(principal, action, resource == ?resource);\n");
    const md_policy_t *p = ps->policies[0];
    assert_true(p->is_template);
    assert_int_equal(p->principal.kind, MD_SCOPE_EQ);
    assert_true(p->principal.slot);
    assert_null(p->principal.uid);
    assert_int_equal(p->resource.kind, MD_SCOPE_IN);
    assert_true(p->resource.slot);
    assert_null(p->resource.uid);

    p = ps->policies[1];
    assert_true(p->is_template);
    assert_true(p->forbid);
    assert_int_equal(p->principal.kind, MD_SCOPE_IS_IN);
    assert_true(md_str_eqc(p->principal.type, "User"));
    assert_true(p->principal.slot);
    assert_int_equal(p->resource.kind, MD_SCOPE_IS_IN);
    assert_true(md_str_eqc(p->resource.type, "Photo"));
    assert_true(p->resource.slot);

    p = ps->policies[2];
    assert_true(p->is_template);
    assert_int_equal(p->principal.kind, MD_SCOPE_IN);
    assert_true(p->principal.slot);
    assert_false(p->resource.slot);

    p = ps->policies[3];
    assert_true(p->is_template);
    assert_false(p->principal.slot);
    assert_int_equal(p->resource.kind, MD_SCOPE_EQ);
    assert_true(p->resource.slot);
    drop(ps);

    /* wrong slot for the variable, slot on action, unknown slot, slot in a condition */
    parse_bad("permit(principal == ?resource, action, resource);", "principal scope");
    parse_bad("permit(principal, action, resource in ?principal);", "resource scope");
    parse_bad("permit(principal, action == ?principal, resource);", "action scope");
    parse_bad("permit(principal == ?foo, action, resource);", "`?foo` is not a valid template slot");
    parse_bad("permit(principal == ?principal, action, resource) when { ?principal == principal };",
              "only allowed in the policy scope");
    parse_bad("permit(principal, action, resource) when { principal in ?resource };", "slot");
}

static void test_scope_errors(void **state)
{
    parse_bad("permit(resource, action, principal);", "expected `principal`");
    parse_bad("permit(principal, action, resource, context);", "exactly three");
    parse_bad("permit(principal: User, action, resource);", "`:`");
    parse_bad("permit(principal = User::\"a\", action, resource);", "`==`");
    parse_bad("permit(principal != User::\"a\", action, resource);",
              "not a valid operator in the policy scope");
    parse_bad("permit(principal == User, action, resource);", "expected an entity uid");
    parse_bad("allow(principal, action, resource);", "expected `permit` or `forbid`");
    parse_bad("permit(principal, action, resource)", "end of input");
    parse_bad("permit(principal, action, resource) when { true }", "`;`");
    parse_bad("permit(principal, action, resource) when {};", "empty");
    parse_bad("permit(principal, action, resource) whne { true };", "`whne`");
}

/* ------------------------------------------------------------ annotations and ids */

static void test_annotations(void **state)
{
    md_policyset_t *ps = parse_ok("@id(\"mine\") @doc @advice(\"a\\n\\\"b\\\"\") "
                                  "@__cedar(\"ok\")\npermit(principal, action, resource);");
    const md_policy_t *p = ps->policies[0];
    assert_int_equal(p->nannotations, 4);
    assert_true(md_str_eqc(p->annotations[0].key, "id"));
    assert_true(md_str_eqc(p->annotations[0].value, "mine"));
    assert_true(md_str_eqc(p->annotations[1].key, "doc"));
    assert_int_equal(p->annotations[1].value.n, 0);
    assert_true(md_str_eqc(p->annotations[2].key, "advice"));
    assert_true(md_str_eqc(p->annotations[2].value, "a\n\"b\""));
    /* [cst_to_ast] reserved_namespace: `__cedar` is allowed as an annotation key */
    assert_true(md_str_eqc(p->annotations[3].key, "__cedar"));
    /* @id does not rename the policy */
    assert_true(md_str_eqc(p->id, "policy0"));
    assert_int_equal(p->line, 1);
    assert_int_equal(p->col, 1);
    drop(ps);

    parse_bad("@a @a permit(principal, action, resource);", "duplicate annotation `@a`");
    parse_bad("@a(\"x\") @b @a(\"y\") permit(principal, action, resource);", "duplicate annotation `@a`");
    parse_bad("@a(1) permit(principal, action, resource);", "annotation value");
    parse_bad("@ permit(principal, action, resource);", NULL);
    parse_bad("@(\"x\") permit(principal, action, resource);", "annotation name");
}

static void test_policy_ids_in_file_order(void **state)
{
    md_policyset_t *ps = parse_ok("permit(principal, action, resource);\n"
                                  "@id(\"named\") forbid(principal == ?principal, action, resource);\n"
                                  "// a comment between policies\n"
                                  "permit(principal, action, resource) when { true };\n"
                                  "forbid(principal, action, resource);\n");
    assert_int_equal(ps->npolicies, 4);
    for (uint32_t i = 0; i < 4; i++) {
        char want[16];
        snprintf(want, sizeof(want), "policy%u", i);
        assert_true(md_str_eqc(ps->policies[i]->id, want));
        assert_ptr_equal(md_policyset_find(ps, md_str_c(want)), ps->policies[i]);
    }
    assert_false(ps->policies[0]->forbid);
    assert_true(ps->policies[1]->is_template);
    assert_int_equal(ps->policies[2]->line, 4);
    assert_int_equal(ps->policies[3]->line, 5);
    assert_null(md_policyset_find(ps, MD_STR("policy4")));
    assert_null(md_policyset_find(ps, MD_STR("named")));
    drop(ps);

    /* empty input and comment-only input are empty sets */
    ps = parse_ok("");
    assert_int_equal(ps->npolicies, 0);
    drop(ps);
    ps = parse_ok("  // nothing here\n\t\n");
    assert_int_equal(ps->npolicies, 0);
    drop(ps);
}

/* ------------------------------------------------------------ expressions */

static void test_precedence(void **state)
{
    expr_prints("1 + 2 * 3 == 7", "((1 + (2 * 3)) == 7)");
    expr_prints("1 * 2 + 3 < 4 - 5", "(((1 * 2) + 3) < (4 - 5))");
    expr_prints("1 - 2 - 3", "((1 - 2) - 3)");
    expr_prints("2--1", "(2 - (-1))");
    expr_prints("true || false && false", "(true || (false && false))");
    expr_prints("true && false || true && true", "((true && false) || (true && true))");
}

static void test_precedence_more(void **state)
{
    /* unary operators: checked on the tree, not on the printed text */
    expr_ops("!context.a", "NOT GETATTR VAR");
    expr_ops("-context.x", "NEG GETATTR VAR");
    expr_ops("!!true", "NOT NOT LIT");
    expr_ops("!context.a.b", "NOT GETATTR GETATTR VAR");
    expr_ops("(!context.a).b", "GETATTR NOT GETATTR VAR");
    expr_ops("-context.s like \"a\"", "LIKE NEG GETATTR VAR");
    expr_prints("if true then 1 else 2 + 3", "(if true then 1 else (2 + 3))");
    expr_prints("if true then 1 else if false then 2 else 3",
                "(if true then 1 else (if false then 2 else 3))");
    expr_prints("(if true then 1 else 2) + 3", "((if true then 1 else 2) + 3)");
    expr_prints("context.a.b.c", "(((context.a).b).c)");
    expr_prints("context[\"a b\"].c", "((context[\"a b\"]).c)");
    expr_prints("context[\"a\"][\"b\"]", "((context.a).b)");
    expr_prints("principal in Group::\"g\" && true", "((principal in Group::\"g\") && true)");
    expr_prints("context has a || context.s like \"x*\"",
                "((context has \"a\") || ((context.s) like \"x*\"))");
    expr_prints("1 + 1 == 2 || false", "(((1 + 1) == 2) || false)");
    expr_prints("1 != 2", "(1 != 2)");
    expr_prints("[1, 2].contains(1)", "([1, 2]).contains(1)");
    expr_prints("[1].containsAll([]) && [].isEmpty()", "(([1]).containsAll([]) && ([]).isEmpty())");
    expr_prints("principal.hasTag(\"t\") || principal.getTag(\"t\") == 1",
                "((principal).hasTag(\"t\") || ((principal).getTag(\"t\") == 1))");
    expr_prints("{a: 1, \"b c\": [2]}", "{\"a\": 1, \"b c\": [2]}");
    expr_prints("ip(\"1.2.3.4\").isInRange(ip(\"1.2.3.0/24\"))",
                "(ip(\"1.2.3.4\")).isInRange(ip(\"1.2.3.0/24\"))");
    expr_prints("decimal(\"1.0\").lessThan(decimal(\"2.0\"))",
                "(decimal(\"1.0\")).lessThan(decimal(\"2.0\"))");
    expr_prints("principal is User", "(principal is User)");
    expr_prints("principal is NS::User in Group::\"g\"",
                "((principal is NS::User) && (principal in Group::\"g\"))");
    expr_prints("1.a", "(1.a)");
    expr_prints("User::\"a\\\"b\" == principal", "(User::\"a\\\"b\" == principal)");
}

static void test_precedence_ast_shape(void **state)
{
    md_policyset_t *ps;
    /* a + b * c: ADD(a, MUL(b, c)) */
    const md_expr_t *e = cond_of("context.a + 2 * 3 < 10", &ps);
    assert_int_equal(e->op, MD_OP_LT);
    assert_int_equal(e->args[0]->op, MD_OP_ADD);
    assert_int_equal(e->args[0]->args[0]->op, MD_OP_GETATTR);
    assert_true(md_str_eqc(e->args[0]->args[0]->name, "a"));
    assert_int_equal(e->args[0]->args[0]->args[0]->op, MD_OP_VAR);
    assert_int_equal(e->args[0]->args[0]->args[0]->var, MD_VAR_CONTEXT);
    assert_int_equal(e->args[0]->args[1]->op, MD_OP_MUL);
    assert_int_equal(e->args[1]->op, MD_OP_LIT);
    assert_int_equal(e->args[1]->lit.kind, MD_CV_LONG);
    assert_int_equal(e->args[1]->lit.i, 10);
    /* heights: LIT 1, MUL 2, ADD 3, LT 4 */
    assert_int_equal(e->height, 4);
    drop(ps);

    /* `-5` is one literal; `-(5)` is a negation; `--5` is NEG(LIT -5) ([cst_to_ast] test_neg) */
    e = cond_of("-5", &ps);
    assert_int_equal(e->op, MD_OP_LIT);
    assert_int_equal(e->lit.i, -5);
    drop(ps);
    e = cond_of("-(5)", &ps);
    assert_int_equal(e->op, MD_OP_NEG);
    assert_int_equal(e->args[0]->op, MD_OP_LIT);
    assert_int_equal(e->args[0]->lit.i, 5);
    drop(ps);
    e = cond_of("--5", &ps);
    assert_int_equal(e->op, MD_OP_NEG);
    assert_int_equal(e->args[0]->op, MD_OP_LIT);
    assert_int_equal(e->args[0]->lit.i, -5);
    drop(ps);
    /* --(--1): NEG(NEG(NEG(LIT -1))) */
    e = cond_of("--(--1)", &ps);
    for (int i = 0; i < 3; i++) {
        assert_int_equal(e->op, MD_OP_NEG);
        e = e->args[0];
    }
    assert_int_equal(e->op, MD_OP_LIT);
    assert_int_equal(e->lit.i, -1);
    drop(ps);
    /* -1.foo: the dash is not folded into a literal that has a member access */
    e = cond_of("-context.n", &ps);
    assert_int_equal(e->op, MD_OP_NEG);
    assert_int_equal(e->args[0]->op, MD_OP_GETATTR);
    drop(ps);

    /* a != b keeps its own node; a > b stays GT */
    e = cond_of("1 != 2", &ps);
    assert_int_equal(e->op, MD_OP_NE);
    drop(ps);
    e = cond_of("1 >= 2", &ps);
    assert_int_equal(e->op, MD_OP_GE);
    drop(ps);

    /* if c then a else b: IF with three children in order */
    e = cond_of("if context.c then 1 else \"x\"", &ps);
    assert_int_equal(e->op, MD_OP_IF);
    assert_int_equal(e->nargs, 3);
    assert_int_equal(e->args[0]->op, MD_OP_GETATTR);
    assert_int_equal(e->args[1]->lit.kind, MD_CV_LONG);
    assert_int_equal(e->args[2]->lit.kind, MD_CV_STRING);
    drop(ps);

    /* method and extension calls */
    e = cond_of("[1, 2].containsAny([3])", &ps);
    assert_int_equal(e->op, MD_OP_CONTAINS_ANY);
    assert_int_equal(e->nargs, 2);
    assert_int_equal(e->args[0]->op, MD_OP_SET);
    assert_int_equal(e->args[0]->nargs, 2);
    drop(ps);
    e = cond_of("datetime(\"2024-01-01\").offset(duration(\"1h\"))", &ps);
    assert_int_equal(e->op, MD_OP_EXT);
    assert_int_equal(e->var, MD_EXT_OFFSET);
    assert_int_equal(e->nargs, 2);
    assert_int_equal(e->args[0]->op, MD_OP_EXT);
    assert_int_equal(e->args[0]->var, MD_EXT_DATETIME);
    assert_int_equal(e->args[1]->var, MD_EXT_DURATION);
    drop(ps);

    /* record literal keys, in source order */
    e = cond_of("{z: 1, \"a\": 2}", &ps);
    assert_int_equal(e->op, MD_OP_RECORD);
    assert_int_equal(e->nargs, 2);
    assert_true(md_str_eqc(e->keys[0], "z"));
    assert_true(md_str_eqc(e->keys[1], "a"));
    drop(ps);
}

static void test_has_dotted_path(void **state)
{
    /* [cst_to_ast] extended_has */
    expr_prints("context has a.b", "((context has \"a\") && ((context.a) has \"b\"))");
    expr_prints("context has a.b.c",
                "(((context has \"a\") && ((context.a) has \"b\")) && (((context.a).b) has \"c\"))");
    expr_prints("principal has principal.a",
                "((principal has \"principal\") && ((principal.principal) has \"a\"))");
    expr_prints("context has \"a.b\"", "(context has \"a.b\")");

    md_policyset_t *ps;
    const md_expr_t *e = cond_of("context has a.b.c", &ps);
    assert_int_equal(e->op, MD_OP_AND);
    assert_int_equal(e->args[1]->op, MD_OP_HAS);
    assert_true(md_str_eqc(e->args[1]->name, "c"));
    const md_expr_t *t = e->args[1]->args[0]; /* context.a.b */
    assert_int_equal(t->op, MD_OP_GETATTR);
    assert_true(md_str_eqc(t->name, "b"));
    assert_int_equal(t->args[0]->op, MD_OP_GETATTR);
    assert_true(md_str_eqc(t->args[0]->name, "a"));
    assert_int_equal(e->args[0]->op, MD_OP_AND);
    assert_int_equal(e->args[0]->args[0]->op, MD_OP_HAS);
    assert_true(md_str_eqc(e->args[0]->args[0]->name, "a"));
    drop(ps);

    /* a quoted attribute is one attribute, dots and all */
    e = cond_of("context has \"a.b\"", &ps);
    assert_int_equal(e->op, MD_OP_HAS);
    assert_true(md_str_eqc(e->name, "a.b"));
    drop(ps);

    /* [cst_to_ast] extended_has: invalid right-hand sides */
    expr_bad("principal has 1 + 1", NULL);
    expr_bad("principal has a - 1", NULL);
    expr_bad("principal has 3*a", NULL);
    expr_bad("principal has -a.b", NULL);
    expr_bad("principal has !a.b", NULL);
    expr_bad("principal has a::b.c", NULL);
    expr_bad("principal has A::\"\"", NULL);
    expr_bad("principal has ?principal", NULL);
    expr_bad("principal has (b).a", NULL);
    expr_bad("principal has [b].a", NULL);
    expr_bad("principal has {b:1}.a", NULL);
    expr_bad("principal has a.b(1)", NULL);
    expr_bad("principal has a[\"b\"]", NULL);
}

/* [cst_to_ast] extended_has, reserved_idents2/3, reserved_namespace: the reference
 * rejects reserved words (and `__cedar`) as attribute names after `has`, in record
 * literals and after `.`; confirmed with cedar-wasm 4.13.0. */
static void test_reserved_words_in_has(void **state)
{
    expr_bad("principal has if", "reserved");
    expr_bad("principal has true", "reserved");
    expr_bad("principal has in", "reserved");
    expr_bad("principal has a.if", "reserved");
    expr_bad("principal has if.a", "reserved");
    expr_bad("principal has true.if", "reserved");
    expr_bad("principal has a.__cedar", "__cedar");
}

static void test_reserved_words_as_record_keys(void **state)
{
    expr_bad("{if: true}", "reserved");
    expr_bad("{has: false}", "reserved");
    expr_bad("{__cedar: 0}", "__cedar");
    /* quoted keys are plain strings and fine */
    expr_prints("{\"if\": true, \"__cedar\": 0}", "{\"if\": true, \"__cedar\": 0}");
    /* variables are not reserved */
    expr_prints("{principal: 1}", "{\"principal\": 1}");
}

static void test_reserved_words_as_attributes_and_names(void **state)
{
    expr_bad("context.if", "reserved");
    expr_bad("context.then", "reserved");
    expr_bad("context.like", "reserved");
    expr_prints("context[\"if\"]", "(context[\"if\"])");
    /* entity type names: no reserved component, no __cedar namespace */
    expr_bad("if::\"x\" == principal", NULL);
    expr_bad("true::\"x\" == principal", NULL);
    expr_bad("__cedar::X::\"y\" == principal", "__cedar");
    expr_bad("A::__cedar::B::\"\" == principal", "__cedar");
    expr_bad("principal is __cedar::A", "__cedar");
    expr_bad("principal is if", NULL);
}

/* [cst_to_ast] reserved_namespace: `{a: 0}.__cedar` is an error in the reference. */
static void test_reserved_dunder_cedar_attribute(void **state)
{
    expr_bad("context.__cedar", "__cedar");
    expr_bad("{a: 0}.__cedar", "__cedar");
}

/* cst_to_ast.rs Name::to_internal_name: every path component goes through
 * to_valid_ident, which rejects in/has/like/is as well (cedar-wasm agrees). */
static void test_reserved_words_in_type_names(void **state)
{
    expr_bad("has::\"x\" == principal", "reserved");
    expr_bad("Foo::in::\"x\" == principal", "reserved");
    expr_bad("like::\"a\" == principal", "reserved");
    expr_bad("principal is in", NULL);
    expr_bad("principal is has", NULL);
    expr_bad("principal is Foo::is", NULL);
}

static void test_like_patterns(void **state)
{
    md_policyset_t *ps;
    const md_expr_t *e = cond_of("context.s like \"a*b\\*c\\\\*\"", &ps);
    assert_int_equal(e->op, MD_OP_LIKE);
    static const uint32_t want[] = {'a', MD_LIKE_STAR, 'b', '*', 'c', '\\', MD_LIKE_STAR};
    assert_int_equal(e->npat, 7);
    assert_memory_equal(e->pat, want, sizeof(want));
    drop(ps);

    /* code points, not bytes; escapes decode inside patterns too */
    e = cond_of("\"x\" like \"\\u{1F600}*\\x41\xc3\xa9\"", &ps);
    static const uint32_t want2[] = {0x1F600, MD_LIKE_STAR, 'A', 0xE9};
    assert_int_equal(e->npat, 4);
    assert_memory_equal(e->pat, want2, sizeof(want2));
    drop(ps);

    /* only `\*` is a literal star: a star written as \u{2a} or \x2a is still a
     * wildcard (unescape.rs to_pattern maps every unescaped '*' to Wildcard) */
    e = cond_of("\"x\" like \"\\u{2a}\\x2a\\*\"", &ps);
    assert_int_equal(e->npat, 3);
    assert_int_equal(e->pat[0], MD_LIKE_STAR);
    assert_int_equal(e->pat[1], MD_LIKE_STAR);
    assert_int_equal(e->pat[2], '*');
    drop(ps);

    e = cond_of("\"\" like \"\"", &ps);
    assert_int_equal(e->npat, 0);
    drop(ps);

    expr_prints("context.s like \"a*b\\*c\"", "((context.s) like \"a*b\\*c\")");
    expr_prints("\"\" like \"\\\"\\n\"", "(\"\" like \"\\\"\\u{a}\")");

    /* \* is only an escape in patterns; the pattern must be a literal */
    expr_bad("\"a\\*\" == \"a\"", "`\\*` is not a valid escape");
    expr_bad("context like context", "string literal pattern");
    expr_bad("context like \"a\" + \"b\"", "string literal pattern");
    expr_bad("context like \"a\".b", "string literal pattern");
    expr_bad("context like (\"a\")", "string literal pattern");
}

static md_str_t string_lit(const char *lit, md_policyset_t **ps)
{
    char expr[512];
    snprintf(expr, sizeof(expr), "%s == \"\"", lit);
    const md_expr_t *e = cond_of(expr, ps);
    assert_int_equal(e->args[0]->op, MD_OP_LIT);
    assert_int_equal(e->args[0]->lit.kind, MD_CV_STRING);
    return e->args[0]->lit.s;
}

static void test_string_escapes(void **state)
{
    md_policyset_t *ps;
    md_str_t s = string_lit("\"\\n\\t\\0\\x41\\u{1F600}\\\"\\\\\\'\\r\"", &ps);
    static const char want[] = "\n\t\0A\xf0\x9f\x98\x80\"\\'\r";
    assert_int_equal(s.n, sizeof(want) - 1);
    assert_memory_equal(s.p, want, sizeof(want) - 1);
    drop(ps);

    s = string_lit("\"\\u{0}\\u{7f}\\u{e9}\\u{10FFFF}\\u{1_F6_00}\"", &ps);
    static const char want2[] = "\0\x7f\xc3\xa9\xf4\x8f\xbf\xbf\xf0\x9f\x98\x80";
    assert_int_equal(s.n, sizeof(want2) - 1);
    assert_memory_equal(s.p, want2, sizeof(want2) - 1);
    drop(ps);

    /* raw UTF-8 and raw newlines pass through */
    s = string_lit("\"h\xc3\xa9\nllo\"", &ps);
    assert_int_equal(s.n, 7);
    assert_memory_equal(s.p, "h\xc3\xa9\nllo", 7);
    drop(ps);

    s = string_lit("\"\"", &ps);
    assert_int_equal(s.n, 0);
    drop(ps);

    /* [unescape.rs] invalid escapes */
    expr_bad("\"\\q\"", "not a valid escape");
    expr_bad("\"\\x80\"", "\\x");
    expr_bad("\"\\xff\"", "\\x");
    expr_bad("\"\\x4\"", "\\x");
    expr_bad("\"\\xg0\"", "\\x");
    expr_bad("\"\\u{D800}\"", "surrogate");
    expr_bad("\"\\u{DFFF}\"", "surrogate");
    expr_bad("\"\\u{110000}\"", "out of range");
    expr_bad("\"\\u{}\"", "empty");
    expr_bad("\"\\u{1234567}\"", "overlong");
    expr_bad("\"\\u1234\"", "\\u");
    expr_bad("\"\\u{_1F600}\"", "\\u");
    expr_bad("\"\\u{12\"", "\\u");
    expr_bad("\"\\u{zz}\"", "\\u");
    expr_bad("\"abc", "unterminated");
    expr_bad("\"abc\\\"", "unterminated");
    expr_bad("\"\xff\"", "UTF-8");
    expr_bad("\"a\rb\"", "carriage return");
}

static void test_integer_literals(void **state)
{
    md_policyset_t *ps;
    const md_expr_t *e = cond_of("9223372036854775807", &ps);
    assert_int_equal(e->op, MD_OP_LIT);
    assert_true(e->lit.i == INT64_MAX);
    drop(ps);

    e = cond_of("-9223372036854775808", &ps);
    assert_int_equal(e->op, MD_OP_LIT);
    assert_true(e->lit.i == INT64_MIN);
    drop(ps);

    /* [cst_to_ast] test_neg: parses, overflows only when evaluated */
    e = cond_of("--9223372036854775808", &ps);
    assert_int_equal(e->op, MD_OP_NEG);
    assert_true(e->args[0]->lit.i == INT64_MIN);
    drop(ps);

    e = cond_of("-(9223372036854775807)", &ps);
    assert_int_equal(e->op, MD_OP_NEG);
    assert_true(e->args[0]->lit.i == INT64_MAX);
    drop(ps);

    e = cond_of("0", &ps);
    assert_int_equal(e->lit.i, 0);
    drop(ps);
    e = cond_of("007", &ps);
    assert_int_equal(e->lit.i, 7);
    drop(ps);

    expr_bad("9223372036854775808", "too large");
    expr_bad("-9223372036854775809", "too large");
    expr_bad("-(9223372036854775808)", "too large");
    expr_bad("9223372036854775808.foo", "too large");
    expr_bad("-9223372036854775808.foo", "too large");
    expr_bad("18446744073709551616", "too large");
    expr_bad("99999999999999999999999999", "too large");
    expr_bad("1 + 9223372036854775808", "too large");
}

static void test_unary_repeat_limit(void **state)
{
    expr_ops("!!!!true", "NOT NOT NOT NOT LIT");
    expr_ops("----1", "NEG NEG NEG LIT"); /* one dash is folded into the literal -1 */
    expr_ops("-(-(-(-(-(1)))))", "NEG NEG NEG NEG NEG LIT");
    expr_bad("!!!!!true", "too many occurrences of `!`");
    expr_bad("!!!!!!!!!!true", "too many occurrences of `!`");
    expr_bad("-----1", "too many occurrences of `-`");
    expr_bad("!-1", NULL);
    expr_bad("-!1", NULL);
}

static void test_division_and_remainder_rejected(void **state)
{
    expr_bad("1 / 2", "`/`");
    expr_bad("1 % 2", "`%`");
    expr_bad("context.a * 2 / 3", "not supported");
    /* `//` is a comment, not division */
    expr_prints("1 // comment\n + 2", "(1 + 2)");
}

static void test_relations_not_associative(void **state)
{
    expr_bad("1 < 2 < 3", "not associative");
    expr_bad("1 == 2 == 3", "not associative");
    expr_bad("1 <= 2 >= 3", "not associative");
    expr_bad("principal in Group::\"g\" in Group::\"h\"", "not associative");
    expr_bad("context has a has b", NULL);
    expr_bad("\"a\" like \"a\" == true", "not associative");
    expr_bad("principal is User is User", NULL);
    expr_bad("1 = 2", "`=` is not a valid operator");
    expr_prints("(1 < 2) == true", "((1 < 2) == true)");
    expr_prints("1 < 2 && 2 < 3", "((1 < 2) && (2 < 3))");
}

static void test_unknown_functions_and_methods(void **state)
{
    expr_bad("foo(\"x\")", "`foo` is not a known extension function");
    expr_bad("NS::decimal(\"1.0\")", "`NS::decimal` is not a known extension function");
    expr_bad("context.foo()", "`foo` is not a known method");
    expr_bad("principal.x(1)", "`x` is not a known method");
    expr_bad("context(1)", "`context` is not a known extension function");
    expr_bad("context.a(1)", "`a` is not a known method");
    expr_bad("[1](1)", "cannot be called");
    /* methods called as functions and functions called as methods */
    expr_bad("lessThan(decimal(\"1.0\"), decimal(\"2.0\"))", "`lessThan` is a method, not a function");
    expr_bad("isInRange(ip(\"1.1.1.1\"), ip(\"1.1.1.1\"))", "is a method, not a function");
    expr_bad("contains([1], 1)", "`contains` is a method, not a function");
    expr_bad("isEmpty([])", "is a method, not a function");
    expr_bad("\"1.0\".decimal()", "`decimal` is a function, not a method");
    expr_bad("\"1.2.3.4\".ip()", "`ip` is a function, not a method");
    /* builtin methods check their arity at parse time */
    expr_bad("[1].contains()", "requires exactly 1 argument");
    expr_bad("[1].contains(1, 2)", "requires exactly 1 argument");
    expr_bad("[].isEmpty(1)", "requires exactly 0 arguments");
    expr_bad("principal.getTag()", "requires exactly 1 argument");
    /* extension functions do not (their arity is checked when evaluated) */
    expr_prints("decimal(\"1\", \"2\")", "decimal(\"1\", \"2\")");
    expr_prints("ip(\"1.2.3.4\").isInRange()", "(ip(\"1.2.3.4\")).isInRange()");

    bool method = true;
    assert_int_equal(md_extfn_lookup(MD_STR("decimal"), &method), MD_EXT_DECIMAL);
    assert_false(method);
    assert_int_equal(md_extfn_lookup(MD_STR("toDays"), &method), MD_EXT_TO_DAYS);
    assert_true(method);
    assert_int_equal(md_extfn_lookup(MD_STR("contains"), &method), 0);
    assert_int_equal(md_extfn_lookup(MD_STR("Decimal"), &method), 0);
    assert_string_equal(md_extfn_name(MD_EXT_IS_IN_RANGE), "isInRange");
    assert_string_equal(md_extfn_name(MD_EXT_DURATION_SINCE), "durationSince");
}

static void test_record_literals(void **state)
{
    expr_bad("{a: 1, a: 2}", "duplicate key `a`");
    expr_bad("{a: 1, \"a\": 2}", "duplicate key `a`");
    expr_bad("{\"\\x61\": 1, a: 2}", "duplicate key `a`");
    expr_bad("{a::b: 1}", NULL);
    expr_bad("{1: 2}", "record key");
    expr_bad("{a 1}", NULL);
    expr_prints("{}", "{}");
    expr_prints("{a: {b: {}}, c: [{}]}", "{\"a\": {\"b\": {}}, \"c\": [{}]}");
    expr_prints("{a: 1,}", "{\"a\": 1}");
    expr_prints("[1, 2,]", "[1, 2]");
    expr_prints("[]", "[]");
}

static void test_variables(void **state)
{
    md_policyset_t *ps;
    const md_expr_t *e = cond_of("[principal, action, resource, context]", &ps);
    assert_int_equal(e->nargs, 4);
    for (uint32_t i = 0; i < 4; i++) {
        assert_int_equal(e->args[i]->op, MD_OP_VAR);
        assert_int_equal(e->args[i]->var, MD_VAR_PRINCIPAL + i);
    }
    drop(ps);
    expr_bad("user == principal", "invalid variable `user`");
    expr_bad("NS::principal", "invalid variable");
    expr_bad("if::principal", NULL);
}

static void test_whitespace_and_comments(void **state)
{
    /* Unicode White_Space between tokens (NBSP, ideographic space, line separator) */
    md_policyset_t *ps = parse_ok("permit(\xc2\xa0principal,\xe3\x80\x80"
                                  "action,\xe2\x80\xa8resource)// c\r\n;//end");
    assert_int_equal(ps->npolicies, 1);
    drop(ps);
    /* a non-space non-ASCII character is an error */
    parse_bad("permit(principal,\xc3\xa9 action, resource);", "0xc3");
    parse_bad("permit(principal, action, resource) when { 1 | 2 };", "'||'");
    parse_bad("permit(principal, action, resource) when { 1 & 2 };", "'&&'");
    parse_bad("permit(principal, action, resource) when { 1 # 2 };", "'#'");
}

/* ------------------------------------------------------------ error locations */

static void test_error_locations(void **state)
{
    parse_bad("permit(principal, action, resource)\nwhen { 1 / 2 };", "t.cedar:2:10: ");
    parse_bad("permit(principal, action, resource);\n  forbid(principal, actoin, resource);",
              "t.cedar:2:21: expected `action`");
    /* an unterminated string is reported where it starts */
    parse_bad("permit(principal, action, resource) when {\n\t\"abc };", "t.cedar:2:2: unterminated");
    /* end of input: one past the last character */
    parse_bad("permit(principal, action, resource)", "t.cedar:1:36: ");
    /* a string spanning lines keeps the line count right */
    parse_bad("permit(principal, action, resource) when { \"a\nb\" == 1 / 2 };", "t.cedar:2:9: ");
    /* numbers and escapes are located at their token */
    parse_bad("permit(principal, action, resource) when {\n  1 + 99999999999999999999 };", "t.cedar:2:7: ");
    parse_bad("permit(principal, action, resource) when {\n    \"\\q\" };", "t.cedar:2:5: ");
    /* the duplicate annotation is located at its `@` */
    parse_bad("@a\n  @b @a permit(principal, action, resource);", "t.cedar:2:6: duplicate annotation");
    /* the second policy's error, after comments and CRLF */
    parse_bad("// one\r\npermit(principal, action, resource);\r\n\r\npermit(principal, action, resource) "
              "when { 1 < 2 < 3 };",
              "t.cedar:4:50: ");

    /* a NULL name is reported as <policies> */
    md_policyset_t *ps = (md_policyset_t *)1;
    md_err_t err = {0};
    assert_int_equal(md_policyset_parse("foo", 3, NULL, &ps, &err), MD_EINVAL);
    assert_null(ps);
    assert_int_equal(err.code, MD_EINVAL);
    assert_non_null(strstr(err.msg, "<policies>:1:1: "));

    /* the length is honoured: text after len is not parsed */
    const char *text = "permit(principal, action, resource); garbage";
    memset(&err, 0, sizeof(err));
    assert_int_equal(md_policyset_parse(text, 36, "n", &ps, &err), MD_OK);
    keep(ps, free_ps);
    assert_int_equal(ps->npolicies, 1);
    drop(ps);
}

/* ------------------------------------------------------------ nesting limits */

static char *repeat3(const char *pre, int n, const char *mid, const char *post)
{
    size_t lp = strlen(pre), lm = strlen(mid), lq = strlen(post);
    char *s = malloc((size_t)n * (lp + lq) + lm + 1);
    assert_non_null(s);
    char *w = s;
    for (int i = 0; i < n; i++, w += lp)
        memcpy(w, pre, lp);
    memcpy(w, mid, lm);
    w += lm;
    for (int i = 0; i < n; i++, w += lq)
        memcpy(w, post, lq);
    *w = '\0';
    return s;
}

/* `n` copies of `unit` joined by `sep`. */
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

static void check_nesting(char *expr, bool ok, const char *want)
{
    md_policyset_t *ps = NULL;
    md_err_t err = {0};
    char *text = malloc(strlen(expr) + 100);
    assert_non_null(text);
    sprintf(text, "permit(principal, action, resource) when { %s };", expr);
    int rc = md_policyset_parse(text, strlen(text), NAME, &ps, &err);
    free(text);
    free(expr);
    if (ok) {
        md_policyset_free(ps);
        if (rc != MD_OK) fail_msg("should parse: %s", err.msg);
    } else {
        assert_int_equal(rc, MD_EINVAL);
        assert_null(ps);
        if (strstr(err.msg, want) == NULL) fail_msg("unexpected error: %s", err.msg);
    }
}

static void test_nesting_limits(void **state)
{
    check_nesting(repeat3("(", 50, "1", ")"), true, NULL);
    check_nesting(repeat3("(", 100000, "1", ")"), false, "nested too deeply");
    check_nesting(repeat3("[", 50, "1", "]"), true, NULL);
    check_nesting(repeat3("[", 100000, "1", "]"), false, "nested too deeply");
    check_nesting(repeat3("{a: ", 50, "1", "}"), true, NULL);
    check_nesting(repeat3("{a: ", 100000, "1", "}"), false, "nested too deeply");
    check_nesting(repeat3("if true then ", 50, "1", " else 2"), true, NULL);
    check_nesting(repeat3("if ", 100000, "true", " then true else false"), false, "nested too deeply");
    check_nesting(repeat3("!(", 20000, "true", ")"), false, "nested too deeply");
    check_nesting(repeat3("-(", 20000, "1", ")"), false, "nested too deeply");
    check_nesting(repeat3("decimal(", 20000, "\"1.0\"", ")"), false, "nested too deeply");

    /* long left-leaning chains are bounded by MD_CEDAR_MAX_HEIGHT */
    check_nesting(chain("true", " && ", 1000), true, NULL);
    check_nesting(chain("true", " && ", MD_CEDAR_MAX_HEIGHT + 10), false, "too deeply nested");
    check_nesting(chain("false", " || ", 100000), false, "too deeply nested");
    check_nesting(chain("1", " + ", 100000), false, "too deeply nested");
    check_nesting(chain("2", " * ", 100000), false, "too deeply nested");
    {
        char *dots = chain(".a", "", 1000);
        char *e = malloc(strlen(dots) + 16);
        assert_non_null(e);
        sprintf(e, "context%s", dots);
        free(dots);
        check_nesting(e, true, NULL);
    }
    {
        char *dots = chain(".a", "", 100000);
        char *e = malloc(strlen(dots) + 16);
        assert_non_null(e);
        sprintf(e, "context%s", dots);
        free(dots);
        check_nesting(e, false, "too deeply nested");
    }
    {
        char *calls = chain(".isEmpty()", "", 100000);
        char *e = malloc(strlen(calls) + 16);
        assert_non_null(e);
        sprintf(e, "[]%s", calls);
        free(calls);
        check_nesting(e, false, "too deeply nested");
    }

    /* the height recorded in the tree matches the chain */
    md_policyset_t *ps;
    char *c = keep(chain("true", " && ", 1000), free);
    const md_expr_t *e = cond_of(c, &ps);
    drop(c);
    assert_int_equal(e->height, 1000);
    drop(ps);
}

/* ------------------------------------------------------------ templates and linking */

static void test_link_happy_path(void **state)
{
    md_policyset_t *ps =
        parse_ok("permit(principal, action, resource);\n"
                 "permit(principal == ?principal, action == Action::\"view\", resource in ?resource)"
                 " when { context.ok };\n"
                 "forbid(principal is User in ?principal, action, resource);\n"
                 "permit(principal, action, resource == ?resource);\n");
    md_err_t err = {0};
    md_uid_t alice = mkuid("User", "alice"), album = mkuid("Album", "a\0b"), grp = mkuid("Group", "g");
    album.id.n = 3; /* an id with a NUL byte is copied exactly */
    album.hash = md_uid_hash(album.type, album.id);

    assert_int_equal(md_policyset_link(ps, MD_STR("policy1"), MD_STR("link1"), &alice, &album, &err), MD_OK);
    assert_int_equal(err.code, 0);
    assert_int_equal(ps->npolicies, 5);
    const md_policy_t *l = ps->policies[4];
    assert_ptr_equal(md_policyset_find(ps, MD_STR("link1")), l);
    assert_true(md_str_eqc(l->id, "link1"));
    assert_false(l->is_template);
    assert_ptr_equal(l->tmpl, ps->policies[1]);
    assert_int_equal(l->principal.kind, MD_SCOPE_EQ);
    assert_false(l->principal.slot);
    assert_uid(l->principal.uid, "User", "alice");
    assert_ptr_not_equal(l->principal.uid, &alice); /* copied into the set's arena */
    assert_int_equal(l->resource.kind, MD_SCOPE_IN);
    assert_false(l->resource.slot);
    assert_int_equal(l->resource.uid->id.n, 3);
    assert_memory_equal(l->resource.uid->id.p, "a\0b", 3);
    assert_int_equal(l->action.kind, MD_SCOPE_EQ);
    assert_uid(l->action.uid, "Action", "view");
    assert_int_equal(l->nconds, 1);
    /* the template itself is unchanged */
    const md_policy_t *t = ps->policies[1];
    assert_true(t->is_template);
    assert_true(t->principal.slot);
    assert_null(t->principal.uid);
    assert_true(t->resource.slot);
    assert_null(t->resource.uid);

    char *text = policy_text(l);
    assert_string_equal(text, "permit (\n  principal == User::\"alice\",\n  action == Action::\"view\",\n"
                              "  resource in Album::\"a\\0b\"\n)\nwhen { (context.ok) };\n");
    drop(text);

    /* one-slot templates, `is ... in ?principal`, and the same template twice */
    assert_int_equal(md_policyset_link(ps, MD_STR("policy2"), MD_STR("link2"), &grp, NULL, &err), MD_OK);
    l = md_policyset_find(ps, MD_STR("link2"));
    assert_non_null(l);
    assert_true(l->forbid);
    assert_int_equal(l->principal.kind, MD_SCOPE_IS_IN);
    assert_true(md_str_eqc(l->principal.type, "User"));
    assert_uid(l->principal.uid, "Group", "g");
    assert_int_equal(md_policyset_link(ps, MD_STR("policy3"), MD_STR("link3"), NULL, &album, &err), MD_OK);
    assert_int_equal(md_policyset_link(ps, MD_STR("policy3"), MD_STR("link4"), NULL, &alice, &err), MD_OK);
    assert_int_equal(ps->npolicies, 8);
    assert_uid(md_policyset_find(ps, MD_STR("link4"))->resource.uid, "User", "alice");
    assert_int_equal(md_policyset_find(ps, MD_STR("link3"))->resource.uid->id.n, 3);
    drop(ps);
}

static void test_link_errors(void **state)
{
    md_policyset_t *ps = parse_ok("permit(principal, action, resource);\n"
                                  "permit(principal == ?principal, action, resource in ?resource);\n"
                                  "permit(principal in ?principal, action, resource);\n");
    md_uid_t u = mkuid("User", "u");
    md_err_t err = {0};

    assert_int_equal(md_policyset_link(ps, MD_STR("nope"), MD_STR("x"), &u, &u, &err), MD_ENOENT);
    assert_int_equal(err.code, MD_ENOENT);
    assert_non_null(strstr(err.msg, "nope"));

    md_err_clear(&err);
    assert_int_equal(md_policyset_link(ps, MD_STR("policy0"), MD_STR("x"), NULL, NULL, &err), MD_EINVAL);
    assert_non_null(strstr(err.msg, "static policy"));

    /* slot mismatch: missing, extra */
    md_err_clear(&err);
    assert_int_equal(md_policyset_link(ps, MD_STR("policy1"), MD_STR("x"), &u, NULL, &err), MD_EINVAL);
    assert_non_null(strstr(err.msg, "?principal, ?resource"));
    md_err_clear(&err);
    assert_int_equal(md_policyset_link(ps, MD_STR("policy1"), MD_STR("x"), NULL, &u, &err), MD_EINVAL);
    md_err_clear(&err);
    assert_int_equal(md_policyset_link(ps, MD_STR("policy2"), MD_STR("x"), &u, &u, &err), MD_EINVAL);
    assert_non_null(strstr(err.msg, "?principal"));
    md_err_clear(&err);
    assert_int_equal(md_policyset_link(ps, MD_STR("policy2"), MD_STR("x"), NULL, NULL, &err), MD_EINVAL);

    /* duplicate ids: an existing policy, a template, an earlier link */
    md_err_clear(&err);
    assert_int_equal(md_policyset_link(ps, MD_STR("policy2"), MD_STR("policy0"), &u, NULL, &err), MD_EINVAL);
    assert_non_null(strstr(err.msg, "already exists"));
    md_err_clear(&err);
    assert_int_equal(md_policyset_link(ps, MD_STR("policy2"), MD_STR("policy1"), &u, NULL, &err), MD_EINVAL);
    md_err_clear(&err);
    assert_int_equal(md_policyset_link(ps, MD_STR("policy2"), MD_STR("L"), &u, NULL, &err), MD_OK);
    assert_int_equal(md_policyset_link(ps, MD_STR("policy2"), MD_STR("L"), &u, NULL, &err), MD_EINVAL);
    assert_non_null(strstr(err.msg, "already exists"));

    /* a linked policy is not a template and cannot be linked again */
    md_err_clear(&err);
    assert_int_equal(md_policyset_link(ps, MD_STR("L"), MD_STR("L2"), &u, NULL, &err), MD_EINVAL);

    /* no failed call added anything */
    assert_int_equal(ps->npolicies, 4);
    drop(ps);
}

/* ------------------------------------------------------------ printing and round trip */

static const char roundtrip_src[] =
    "@id(\"first\") @note\n"
    "permit(principal == User::\"al\\\"ice\", action in [Action::\"a\", NS::Action::\"b\"], resource);\n"
    "forbid(principal is NS::User in Group::\"g\\n\\t\\0\\u{1}\", action == NS::Action::\"x\", resource is "
    "Doc)\n"
    "  when { context.a.b has c.d && !(context[\"weird key\"] like \"a*\\*b\\u{7}\xc3\xa9*\") }\n"
    "  unless { if -9223372036854775808 < -(1) * 3 - -2 then [1, [2, \"x\"], {a: true}].contains(1) else "
    "false };\n"
    "permit(principal in ?principal, action in Action::\"grp\", resource == ?resource)\n"
    "  when { principal.hasTag(\"t\") && principal.getTag(\"t\") != resource && resource is Doc in principal "
    "};\n"
    "permit(principal, action, resource)\n"
    "  when { decimal(\"1.2300\").lessThanOrEqual(decimal(\"-0.5\")) || ip(\"::1\").isLoopback() ||\n"
    "         datetime(\"2024-01-01T00:00:00Z\").offset(duration(\"-1d2h\")).toTime().toHours() >= 3 ||\n"
    "         context.s like \"\" || context has \"\" || {\"\": \"\\\\\", \"a b\": -0} == {} ||\n"
    "         [].containsAll([]) || [1].containsAny([--1]) || [].isEmpty() || --(--5) == 5 }\n"
    "  when { \"\\u{1F600}\\r\\n\\\"\\x7f\" == \"\" };\n"
    "permit(principal is User, action, resource in Folder::\"\");\n";

static void test_round_trip(void **state)
{
    md_policyset_t *ps1 = parse_ok(roundtrip_src);
    assert_int_equal(ps1->npolicies, 5);
    char *text1 = print_all(ps1);

    md_policyset_t *ps2 = parse_ok(text1);
    assert_int_equal(ps2->npolicies, ps1->npolicies);
    char *text2 = print_all(ps2);
    assert_string_equal(text1, text2);

    /* the structure survives, not only the text */
    for (uint32_t i = 0; i < ps1->npolicies; i++) {
        const md_policy_t *a = ps1->policies[i], *b = ps2->policies[i];
        assert_true(md_str_eq(a->id, b->id));
        assert_int_equal(a->forbid, b->forbid);
        assert_int_equal(a->is_template, b->is_template);
        assert_int_equal(a->nconds, b->nconds);
        assert_int_equal(a->nannotations, b->nannotations);
        assert_int_equal(a->principal.kind, b->principal.kind);
        assert_int_equal(a->action.kind, b->action.kind);
        assert_int_equal(a->resource.kind, b->resource.kind);
        for (uint32_t k = 0; k < a->nconds; k++) {
            assert_int_equal(a->unless[k], b->unless[k]);
            assert_int_equal(a->conds[k]->height, b->conds[k]->height);
        }
    }
    /* spot checks of the printed form */
    assert_non_null(
        strstr(text1, "@id(\"first\")\n@note(\"\")\npermit (\n  principal == User::\"al\\\"ice\",\n"));
    assert_non_null(strstr(text1, "principal is NS::User in Group::\"g\\n\\t\\0\\u{1}\""));
    assert_non_null(strstr(text1, "(-9223372036854775808)"));
    assert_non_null(strstr(text1, "like \"a*\\*b\\u{7}\xc3\xa9*\""));
    assert_non_null(strstr(text1, "principal in ?principal"));
    assert_non_null(strstr(text1, "resource == ?resource"));
    assert_non_null(strstr(text1, "\nunless { "));
    assert_non_null(strstr(text1, "(context has \"\")"));

    /* the strings decode to the same bytes on both sides */
    const md_expr_t *c1 = ps1->policies[3]->conds[1], *c2 = ps2->policies[3]->conds[1];
    assert_int_equal(c1->args[0]->lit.s.n, c2->args[0]->lit.s.n);
    assert_memory_equal(c1->args[0]->lit.s.p, c2->args[0]->lit.s.p, c1->args[0]->lit.s.n);
    assert_int_equal(c1->args[0]->lit.s.n, 4 + 4);

    drop(text1);
    drop(text2);
    drop(ps1);
    drop(ps2);
}

static void test_round_trip_linked(void **state)
{
    md_policyset_t *ps = parse_ok(
        "permit(principal == ?principal, action, resource in ?resource) when { resource.x == \"\\0\" };");
    md_uid_t p = mkuid("User", "a\"b"), r = mkuid("NS::Folder", "\n");
    md_err_t err = {0};
    assert_int_equal(md_policyset_link(ps, MD_STR("policy0"), MD_STR("l"), &p, &r, &err), MD_OK);
    char *text = policy_text(ps->policies[1]);
    md_policyset_t *ps2 = parse_ok(text);
    assert_false(ps2->policies[0]->is_template);
    assert_uid(ps2->policies[0]->principal.uid, "User", "a\"b");
    assert_uid(ps2->policies[0]->resource.uid, "NS::Folder", "\n");
    char *again = print_all(ps2);
    assert_string_equal(text, again);
    drop(again);
    drop(text);
    drop(ps2);
    drop(ps);
}

/* Attribute names that are not identifiers (or are reserved) must be printed in
 * the ["..."] form, or the printed policy no longer parses. */
static void test_round_trip_reserved_attribute_names(void **state)
{
    static const char *const names[] = {"__cedar", "if",   "true", "in",  "has", "like",     "is",
                                        "then",    "else", "",     "a b", "1a",  "\xc3\xa9", "a\\nb"};
    for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
        char expr[256];
        snprintf(
            expr, sizeof(expr),
            "context[\"%s\"] == 1 && context has \"%s\" && {\"%s\": 1} == {} && principal[\"%s\"][\"%s\"]",
            names[i], names[i], names[i], names[i], names[i]);
        md_policyset_t *ps = parse_ok(wrap_cond(expr));
        char *text1 = print_all(ps);
        md_policyset_t *ps2 = NULL;
        md_err_t err = {0};
        if (md_policyset_parse(text1, strlen(text1), "printed", &ps2, &err) != MD_OK)
            fail_msg("attribute \"%s\": the printed policy does not parse: %s\n%s", names[i], err.msg, text1);
        keep(ps2, free_ps);
        char *text2 = print_all(ps2);
        assert_string_equal(text1, text2);
        drop(text2);
        drop(ps2);
        drop(text1);
        drop(ps);
    }
}

/* policy_print.c says "parsing it again yields the same AST": a member access
 * or method call on a negation must keep the negation inside it. */
static void test_print_member_of_unary(void **state)
{
    static const struct {
        const char *src, *ops;
    } cases[] = {
        {"(-context.n).a", "GETATTR NEG GETATTR VAR"},
        {"(!context.flag).a", "GETATTR NOT GETATTR VAR"},
        {"(!context.flag)[\"a b\"]", "GETATTR NOT GETATTR VAR"},
        {"(!!context.flag).a", "GETATTR NOT NOT GETATTR VAR"},
        {"(-context.n).contains(1)", "CONTAINS NEG GETATTR VAR"},
        {"(-context.n) has a", "HAS NEG GETATTR VAR"},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        expr_ops(cases[i].src, cases[i].ops);
        md_policyset_t *ps = parse_ok(wrap_cond(cases[i].src));
        md_buf_t b;
        md_buf_init(&b);
        md_expr_to_cedar(&b, ps->policies[0]->conds[0]);
        char *printed = keep(b.p, free);
        drop(ps);
        expr_ops(printed, cases[i].ops);
        drop(printed);
    }
}

/* A small random generator of fully parenthesised expressions for the printer
 * round trip: parse -> print -> parse -> print must be a fixed point. */
static uint64_t gen_state;
static uint32_t gen_rnd(uint32_t n)
{
    gen_state ^= gen_state << 13;
    gen_state ^= gen_state >> 7;
    gen_state ^= gen_state << 17;
    return (uint32_t)(gen_state % n);
}

static void gen_expr(md_buf_t *b, int depth)
{
    static const char *const strings[] = {
        "\"\"", "\"a\"", "\"\\0\\n\\t\\\\\\\"\"", "\"\\u{1F600}\xc3\xa9\"", "\"\\x7f\\u{1}\"", "\"*\""};
    static const char *const idents[] = {"a", "_b1", "principal", "then_", "Z9"};
    static const char *const attrs[] = {"\"a\"", "\"if\"", "\"__cedar\"", "\"\"", "\"a b\"", "\"\\n\""};
    static const char *const leaves[] = {"principal",
                                         "action",
                                         "resource",
                                         "context",
                                         "true",
                                         "false",
                                         "0",
                                         "-1",
                                         "9223372036854775807",
                                         "-9223372036854775808",
                                         "User::\"\\0x\"",
                                         "NS::A::\"\\u{1F600}\"",
                                         "Action::\"\\\"\""};
    if (depth <= 0 || gen_rnd(5) == 0) {
        if (gen_rnd(3) == 0)
            md_buf_adds(b, strings[gen_rnd(6)]);
        else
            md_buf_adds(b, leaves[gen_rnd(13)]);
        return;
    }
    switch (gen_rnd(16)) {
    case 0: {
        static const char *const ops[] = {"+", "-", "*", "==", "!=", "<", "<=", ">", ">=", "in", "&&", "||"};
        md_buf_addc(b, '(');
        gen_expr(b, depth - 1);
        md_buf_printf(b, " %s ", ops[gen_rnd(12)]);
        gen_expr(b, depth - 1);
        md_buf_addc(b, ')');
        break;
    }
    case 1:
        md_buf_adds(b, gen_rnd(2) ? "!(" : "-(");
        gen_expr(b, depth - 1);
        md_buf_addc(b, ')');
        break;
    case 2:
        md_buf_adds(b, "(if ");
        gen_expr(b, depth - 1);
        md_buf_adds(b, " then ");
        gen_expr(b, depth - 1);
        md_buf_adds(b, " else ");
        gen_expr(b, depth - 1);
        md_buf_addc(b, ')');
        break;
    case 3:
        md_buf_addc(b, '(');
        gen_expr(b, depth - 1);
        if (gen_rnd(2))
            md_buf_printf(b, " has %s)", attrs[gen_rnd(6)]);
        else
            md_buf_printf(b, " has %s.%s)", idents[gen_rnd(5)], idents[gen_rnd(5)]);
        break;
    case 4:
        md_buf_addc(b, '(');
        gen_expr(b, depth - 1);
        if (gen_rnd(2))
            md_buf_printf(b, ").%s", idents[gen_rnd(5)]);
        else
            md_buf_printf(b, ")[%s]", attrs[gen_rnd(6)]);
        break;
    case 5: {
        static const char *const pats[] = {
            "\"\"", "\"*\"", "\"a\\*b*\"", "\"\\u{2a}\\\\\"", "\"\\n*\\0\"", "\"\xe6\x97\xa5*\""};
        md_buf_addc(b, '(');
        gen_expr(b, depth - 1);
        md_buf_printf(b, " like %s)", pats[gen_rnd(6)]);
        break;
    }
    case 6:
        md_buf_addc(b, '(');
        gen_expr(b, depth - 1);
        md_buf_printf(b, " is %s", gen_rnd(2) ? "User" : "NS::A");
        if (gen_rnd(2)) {
            md_buf_adds(b, " in ");
            gen_expr(b, depth - 1);
        }
        md_buf_addc(b, ')');
        break;
    case 7: {
        static const char *const m1[] = {"contains", "containsAll", "containsAny", "hasTag", "getTag"};
        md_buf_addc(b, '(');
        gen_expr(b, depth - 1);
        md_buf_printf(b, ").%s(", m1[gen_rnd(5)]);
        gen_expr(b, depth - 1);
        md_buf_addc(b, ')');
        break;
    }
    case 8:
        md_buf_addc(b, '(');
        gen_expr(b, depth - 1);
        md_buf_adds(b, ").isEmpty()");
        break;
    case 9: {
        int n = (int)gen_rnd(4);
        md_buf_addc(b, '[');
        for (int i = 0; i < n; i++) {
            if (i) md_buf_adds(b, ", ");
            gen_expr(b, depth - 1);
        }
        md_buf_addc(b, ']');
        break;
    }
    case 10: {
        static const char *const keys[] = {"a", "\"b c\"", "\"\"", "_d", "\"if\"", "\"__cedar\""};
        int n = (int)gen_rnd(4);
        md_buf_addc(b, '{');
        for (int i = 0; i < n; i++) { /* keys[i] are distinct */
            if (i) md_buf_adds(b, ", ");
            md_buf_printf(b, "%s: ", keys[(i + gen_rnd(2) * 3) % 6]);
            gen_expr(b, depth - 1);
        }
        md_buf_addc(b, '}');
        break;
    }
    case 11: {
        static const char *const ctors[] = {"decimal(\"1.5\")", "ip(\"::1\")", "datetime(\"2024-01-01\")",
                                            "duration(\"-1h\")"};
        md_buf_adds(b, ctors[gen_rnd(4)]);
        break;
    }
    case 12: {
        static const char *const meths[] = {"lessThan", "isInRange", "offset", "durationSince",
                                            "greaterThanOrEqual"};
        md_buf_addc(b, '(');
        gen_expr(b, depth - 1);
        md_buf_printf(b, ").%s(", meths[gen_rnd(5)]);
        gen_expr(b, depth - 1);
        md_buf_addc(b, ')');
        break;
    }
    case 13: {
        static const char *const meths0[] = {"isIpv4", "isLoopback", "toDate", "toTime", "toDays"};
        md_buf_addc(b, '(');
        gen_expr(b, depth - 1);
        md_buf_printf(b, ").%s()", meths0[gen_rnd(5)]);
        break;
    }
    default:
        md_buf_addc(b, '(');
        gen_expr(b, depth - 1);
        md_buf_addc(b, ')');
        break;
    }
}

static void test_round_trip_random(void **state)
{
    gen_state = 0xD1B54A32D192ED03ULL;
    for (int iter = 0; iter < 3000; iter++) {
        md_buf_t b;
        md_buf_init(&b);
        md_buf_adds(&b, iter % 3 ? "permit(principal, action, resource) when { "
                                 : "forbid(principal, action, resource) unless { ");
        gen_expr(&b, 1 + iter % 6);
        md_buf_adds(&b, " };");
        assert_false(b.oom);
        char *src = keep(b.p, free);
        md_policyset_t *ps1 = NULL;
        md_err_t err = {0};
        if (md_policyset_parse(src, strlen(src), "gen", &ps1, &err) != MD_OK)
            fail_msg("generated policy does not parse: %s\n%s", err.msg, src);
        keep(ps1, free_ps);
        char *text1 = print_all(ps1);
        md_policyset_t *ps2 = NULL;
        md_err_clear(&err);
        if (md_policyset_parse(text1, strlen(text1), "printed", &ps2, &err) != MD_OK)
            fail_msg("printed policy does not parse: %s\nsource:  %s\nprinted: %s", err.msg, src, text1);
        keep(ps2, free_ps);
        char *text2 = print_all(ps2);
        if (strcmp(text1, text2) != 0) fail_msg("not a fixed point:\n%s\n%s", text1, text2);
        assert_int_equal(ps1->policies[0]->conds[0]->height, ps2->policies[0]->conds[0]->height);
        drop(text2);
        drop(ps2);
        drop(text1);
        drop(ps1);
        drop(src);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_teardown(test_scope_unconstrained, drop_all),
        cmocka_unit_test_teardown(test_scope_eq, drop_all),
        cmocka_unit_test_teardown(test_scope_in, drop_all),
        cmocka_unit_test_teardown(test_scope_is_and_is_in, drop_all),
        cmocka_unit_test_teardown(test_scope_action_in_set, drop_all),
        cmocka_unit_test_teardown(test_scope_template_slots, drop_all),
        cmocka_unit_test_teardown(test_scope_errors, drop_all),
        cmocka_unit_test_teardown(test_annotations, drop_all),
        cmocka_unit_test_teardown(test_policy_ids_in_file_order, drop_all),
        cmocka_unit_test_teardown(test_precedence, drop_all),
        cmocka_unit_test_teardown(test_precedence_more, drop_all),
        cmocka_unit_test_teardown(test_precedence_ast_shape, drop_all),
        cmocka_unit_test_teardown(test_has_dotted_path, drop_all),
        cmocka_unit_test_teardown(test_reserved_words_in_has, drop_all),
        cmocka_unit_test_teardown(test_reserved_words_as_record_keys, drop_all),
        cmocka_unit_test_teardown(test_reserved_words_as_attributes_and_names, drop_all),
        cmocka_unit_test_teardown(test_reserved_dunder_cedar_attribute, drop_all),
        cmocka_unit_test_teardown(test_reserved_words_in_type_names, drop_all),
        cmocka_unit_test_teardown(test_like_patterns, drop_all),
        cmocka_unit_test_teardown(test_string_escapes, drop_all),
        cmocka_unit_test_teardown(test_integer_literals, drop_all),
        cmocka_unit_test_teardown(test_unary_repeat_limit, drop_all),
        cmocka_unit_test_teardown(test_division_and_remainder_rejected, drop_all),
        cmocka_unit_test_teardown(test_relations_not_associative, drop_all),
        cmocka_unit_test_teardown(test_unknown_functions_and_methods, drop_all),
        cmocka_unit_test_teardown(test_record_literals, drop_all),
        cmocka_unit_test_teardown(test_variables, drop_all),
        cmocka_unit_test_teardown(test_whitespace_and_comments, drop_all),
        cmocka_unit_test_teardown(test_error_locations, drop_all),
        cmocka_unit_test_teardown(test_nesting_limits, drop_all),
        cmocka_unit_test_teardown(test_link_happy_path, drop_all),
        cmocka_unit_test_teardown(test_link_errors, drop_all),
        cmocka_unit_test_teardown(test_round_trip, drop_all),
        cmocka_unit_test_teardown(test_round_trip_linked, drop_all),
        cmocka_unit_test_teardown(test_round_trip_reserved_attribute_names, drop_all),
        cmocka_unit_test_teardown(test_print_member_of_unary, drop_all),
        cmocka_unit_test_teardown(test_round_trip_random, drop_all),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
