/*
 * test_schema.c: unit tests for the schema parsers and resolver
 * (src/cedar/schema.c, schema_cedar.c, schema_json.c).
 *
 * Golden resolved forms were produced by @cedar-policy/cedar-wasm 4.13.0
 * (checkParseSchema + schemaToJsonWithResolvedTypes, rendered in the dump()
 * format below); accept/reject verdicts of the reject tables were checked
 * against the same build.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cedar/schema.h"

/* ------------------------------------------------------------ helpers */

static md_schema_t *parse_text(const char *src)
{
    md_schema_t *s = NULL;
    md_err_t err = {0};
    int rc = md_schema_parse_cedar(src, strlen(src), "t.cedarschema", &s, &err);
    if (rc != MD_OK) fail_msg("schema should parse: %s\n%s", err.msg, src);
    assert_non_null(s);
    return s;
}

static md_schema_t *parse_json(const char *src)
{
    md_schema_t *s = NULL;
    md_err_t err = {0};
    int rc = md_schema_parse_json(src, strlen(src), "t.json", &s, &err);
    if (rc != MD_OK) fail_msg("JSON schema should parse: %s\n%s", err.msg, src);
    assert_non_null(s);
    return s;
}

/* Parse must fail; returns the message for further checks. */
static const char *reject_text(const char *src, md_err_t *err)
{
    md_schema_t *s = (md_schema_t *)0x1;
    md_err_clear(err);
    int rc = md_schema_parse_cedar(src, strlen(src), "t.cedarschema", &s, err);
    if (rc == MD_OK) fail_msg("schema should be rejected:\n%s", src);
    assert_true(rc < 0);
    assert_int_equal(err->code, rc);
    assert_null(s);
    return err->msg;
}

static const char *reject_json(const char *src, md_err_t *err)
{
    md_schema_t *s = (md_schema_t *)0x1;
    md_err_clear(err);
    int rc = md_schema_parse_json(src, strlen(src), "t.json", &s, err);
    if (rc == MD_OK) fail_msg("JSON schema should be rejected:\n%s", src);
    assert_true(rc < 0);
    assert_int_equal(err->code, rc);
    assert_null(s);
    return err->msg;
}

static void names(md_buf_t *b, const md_str_t *v, uint32_t n)
{
    md_buf_adds(b, "[");
    for (uint32_t i = 0; i < n; i++) {
        if (i) md_buf_adds(b, ", ");
        md_buf_add(b, v[i].p, v[i].n);
    }
    md_buf_adds(b, "]");
}

/* The whole resolved schema, one line per entity type and action. */
static char *dump(const md_schema_t *s)
{
    md_buf_t b;
    md_buf_init(&b);
    for (uint32_t i = 0; i < s->netypes; i++) {
        const md_schema_etype_t *e = &s->etypes[i];
        md_buf_printf(&b, "entity %.*s", (int)e->name.n, e->name.p);
        if (e->is_enum) {
            md_buf_adds(&b, " enum [");
            for (uint32_t k = 0; k < e->nenum; k++) {
                if (k) md_buf_adds(&b, ", ");
                md_buf_add_json_str(&b, e->enum_ids[k]);
            }
            md_buf_adds(&b, "]");
        }
        md_buf_adds(&b, " in ");
        names(&b, e->member_of, e->nmember_of);
        md_buf_adds(&b, " ");
        md_ty_to_cedar(&b, e->shape);
        if (e->tags) {
            md_buf_adds(&b, " tags ");
            md_ty_to_cedar(&b, e->tags);
        }
        md_buf_adds(&b, "\n");
    }
    for (uint32_t i = 0; i < s->nactions; i++) {
        const md_schema_action_t *a = &s->actions[i];
        md_buf_printf(&b, "action %.*s::", (int)a->uid.type.n, a->uid.type.p);
        md_buf_add_json_str(&b, a->uid.id);
        md_buf_adds(&b, " in [");
        for (uint32_t k = 0; k < a->nmember_of; k++) {
            if (k) md_buf_adds(&b, ", ");
            md_buf_add(&b, a->member_of[k].type.p, a->member_of[k].type.n);
            md_buf_adds(&b, "::");
            md_buf_add_json_str(&b, a->member_of[k].id);
        }
        md_buf_adds(&b, "] principal ");
        names(&b, a->principals, a->nprincipals);
        md_buf_adds(&b, " resource ");
        names(&b, a->resources, a->nresources);
        md_buf_adds(&b, " context ");
        md_ty_to_cedar(&b, a->context);
        md_buf_adds(&b, "\n");
    }
    assert_false(b.oom);
    if (b.p == NULL) md_buf_adds(&b, "");
    return b.p;
}

static void assert_dump(const md_schema_t *s, const char *want)
{
    char *got = dump(s);
    if (strcmp(got, want) != 0) fail_msg("resolved schema differs\n--- got\n%s--- want\n%s", got, want);
    free(got);
}

static const md_ty_attr_t *attr(const md_ty_t *rec, const char *name)
{
    assert_int_equal(rec->kind, MD_TY_RECORD);
    for (uint32_t i = 0; i < rec->nattrs; i++)
        if (md_str_eqc(rec->attrs[i].name, name)) return &rec->attrs[i];
    fail_msg("no attribute %s", name);
    return NULL;
}

static md_uid_t uid(const char *type, const char *id)
{
    md_uid_t u = {md_str_c(type), md_str_c(id), 0};
    u.hash = md_uid_hash(u.type, u.id);
    return u;
}

/* ------------------------------------------------------------ fixtures */

static const char *const PHOTO_SRC =
    "// photo app\n"
    "@doc(\"ns\") namespace PhotoApp {\n"
    "  type Ctx = { \"ip addr\": ipaddr, authenticated: Bool, score?: decimal };\n"
    "  type Name = String;\n"
    "  entity User in [Group] { name: Name, \"if\": Long, tags?: Set<String> } tags Set<Name>;\n"
    "  entity Group, Admin in Group;\n"
    "  entity Photo = { owner: User, taken: datetime, ttl: duration, c: Ctx, c2: Ctx };\n"
    "  entity Color enum [\"red\", \"green\", \"\\u{1F600}\"];\n"
    "  action view, \"edit\" in [\"manage\"] appliesTo { principal: [User, Admin], resource: Photo, context: "
    "Ctx "
    "};\n"
    "  action manage appliesTo { resource: [Photo], principal: User, context: { level: Long } };\n"
    "  action \"list\" in [PhotoApp::Action::\"manage\", Action::\"view\"];\n"
    "}\n"
    "entity Global { x: PhotoApp::User, y: __cedar::String };\n"
    "action root appliesTo { principal: [Global], resource: [Global] };\n";

/* The same schema in the JSON format, spelling types in every JSON way. */
static const char *const PHOTO_JSON =
    "{\"\": {\"entityTypes\": {\"Global\": {\"shape\": {\"type\": \"Record\", \"attributes\": {"
    "    \"x\": {\"type\": \"Entity\", \"name\": \"PhotoApp::User\"},"
    "    \"y\": {\"type\": \"__cedar::String\"}}}}},"
    "  \"actions\": {\"root\": {\"appliesTo\": {\"principalTypes\": [\"Global\"], \"resourceTypes\": "
    "[\"Global\"]}}}},"
    " \"PhotoApp\": {\"annotations\": {\"doc\": \"ns\"},"
    "  \"commonTypes\": {"
    "    \"Ctx\": {\"type\": \"Record\", \"attributes\": {"
    "      \"ip addr\": {\"type\": \"Extension\", \"name\": \"ipaddr\"},"
    "      \"authenticated\": {\"type\": \"Boolean\"},"
    "      \"score\": {\"type\": \"decimal\", \"required\": false, \"annotations\": {\"doc\": null}}}},"
    "    \"Name\": {\"type\": \"EntityOrCommon\", \"name\": \"String\", \"annotations\": {\"a\": \"b\"}}},"
    "  \"entityTypes\": {"
    "    \"User\": {\"memberOfTypes\": [\"Group\"], \"shape\": {\"type\": \"Record\", \"attributes\": {"
    "        \"name\": {\"type\": \"Name\"}, \"if\": {\"type\": \"Long\"},"
    "        \"tags\": {\"type\": \"Set\", \"element\": {\"type\": \"String\"}, \"required\": false}}},"
    "      \"tags\": {\"type\": \"Set\", \"element\": {\"type\": \"EntityOrCommon\", \"name\": \"Name\"}}},"
    "    \"Group\": {\"memberOfTypes\": [\"PhotoApp::Group\"]},"
    "    \"Admin\": {\"memberOfTypes\": [\"Group\"]},"
    "    \"Photo\": {\"shape\": {\"type\": \"Record\", \"additionalAttributes\": false, \"attributes\": {"
    "        \"owner\": {\"type\": \"EntityOrCommon\", \"name\": \"User\"},"
    "        \"taken\": {\"type\": \"datetime\"}, \"ttl\": {\"type\": \"Extension\", \"name\": \"duration\"},"
    "        \"c\": {\"type\": \"Ctx\"}, \"c2\": {\"type\": \"PhotoApp::Ctx\"}}}},"
    "    \"Color\": {\"enum\": [\"red\", \"green\", \"\\ud83d\\ude00\"]}},"
    "  \"actions\": {"
    "    \"view\": {\"appliesTo\": {\"principalTypes\": [\"User\", \"Admin\"], \"resourceTypes\": "
    "[\"Photo\"],"
    "       \"context\": {\"type\": \"Ctx\"}}, \"memberOf\": [{\"id\": \"manage\"}]},"
    "    \"edit\": {\"appliesTo\": {\"principalTypes\": [\"User\", \"Admin\"], \"resourceTypes\": "
    "[\"Photo\"],"
    "       \"context\": {\"type\": \"Ctx\"}}, \"memberOf\": [{\"id\": \"manage\", \"type\": null}]},"
    "    \"manage\": {\"appliesTo\": {\"resourceTypes\": [\"Photo\"], \"principalTypes\": [\"User\"],"
    "       \"context\": {\"type\": \"Record\", \"attributes\": {\"level\": {\"type\": \"Long\"}}}}},"
    "    \"list\": {\"memberOf\": [{\"id\": \"manage\", \"type\": \"PhotoApp::Action\"},"
    "                           {\"id\": \"view\", \"type\": \"Action\"}], \"appliesTo\": null}}}}";

static const char *const PHOTO_GOLDEN =
    "entity Global in [] {x: PhotoApp::User, y: String}\n"
    "entity PhotoApp::Admin in [PhotoApp::Group] {}\n"
    "entity PhotoApp::Color enum [\"red\", \"green\", \"\xF0\x9F\x98\x80\"] in [] {}\n"
    "entity PhotoApp::Group in [PhotoApp::Group] {}\n"
    "entity PhotoApp::Photo in [] {c: {authenticated: Bool, \"ip addr\": ipaddr, score?: decimal}, c2: "
    "{authenticated: Bool, \"ip addr\": ipaddr, score?: decimal}, owner: PhotoApp::User, taken: datetime, "
    "ttl: "
    "duration}\n"
    "entity PhotoApp::User in [PhotoApp::Group] {\"if\": Long, name: String, tags?: Set<String>} tags "
    "Set<String>\n"
    "action Action::\"root\" in [] principal [Global] resource [Global] context {}\n"
    "action PhotoApp::Action::\"edit\" in [PhotoApp::Action::\"manage\"] principal [PhotoApp::Admin, "
    "PhotoApp::User] resource [PhotoApp::Photo] context {authenticated: Bool, \"ip addr\": ipaddr, score?: "
    "decimal}\n"
    "action PhotoApp::Action::\"list\" in [PhotoApp::Action::\"manage\", PhotoApp::Action::\"view\"] "
    "principal [] "
    "resource [] context {}\n"
    "action PhotoApp::Action::\"manage\" in [] principal [PhotoApp::User] resource [PhotoApp::Photo] context "
    "{level: Long}\n"
    "action PhotoApp::Action::\"view\" in [PhotoApp::Action::\"manage\"] principal [PhotoApp::Admin, "
    "PhotoApp::User] resource [PhotoApp::Photo] context {authenticated: Bool, \"ip addr\": ipaddr, score?: "
    "decimal}\n";

/* ------------------------------------------------------------ accept: golden forms */

static void test_text_golden(void **state)
{
    (void)state;
    md_schema_t *s = parse_text(PHOTO_SRC);
    assert_dump(s, PHOTO_GOLDEN);
    md_schema_free(s);
}

static void test_json_golden(void **state)
{
    (void)state;
    md_schema_t *s = parse_json(PHOTO_JSON);
    assert_dump(s, PHOTO_GOLDEN);
    md_schema_free(s);
}

/* Builtin names, shadowing by declarations, NS::Action as an attribute type. */
static void test_name_resolution(void **state)
{
    (void)state;
    md_schema_t *s = parse_text("namespace N {\n"
                                "  entity String;\n"
                                "  entity E { a: String, b: __cedar::String, c: Bool, d: N::E, e: Action, f: "
                                "Set<Action> };\n"
                                "  type Bool2 = { x: Long };\n"
                                "  entity F { b: Bool2 };\n"
                                "  action a;\n"
                                "}\n"
                                "entity Long2;\n"
                                "type T = Long;\n"
                                "entity G { t: T, l: Long, s: String };\n");
    assert_dump(s, "entity G in [] {l: Long, s: String, t: Long}\n"
                   "entity Long2 in [] {}\n"
                   "entity N::E in [] {a: N::String, b: String, c: Bool, d: N::E, e: N::Action, f: "
                   "Set<N::Action>}\n"
                   "entity N::F in [] {b: {x: Long}}\n"
                   "entity N::String in [] {}\n"
                   "action N::Action::\"a\" in [] principal [] resource [] context {}\n");
    md_schema_free(s);

    /* A common type wins over an entity type of the same name; NS before the empty namespace. */
    s = parse_text(
        "namespace N { entity T; type T = Long; entity E { a: T, g: G, h: H, i: I }; type I = String; }\n"
        "entity G; type H = Bool;");
    assert_dump(s, "entity G in [] {}\n"
                   "entity N::E in [] {a: Long, g: G, h: Bool, i: String}\n"
                   "entity N::T in [] {}\n");
    md_schema_free(s);

    /* The empty namespace may claim a builtin name; __cedar:: still reaches the builtin. */
    s = parse_text("entity ipaddr; entity E { a: ipaddr, b: __cedar::ipaddr };");
    assert_dump(s, "entity E in [] {a: ipaddr, b: ipaddr}\nentity ipaddr in [] {}\n");
    const md_schema_etype_t *e = md_schema_etype(s, MD_STR("E"));
    assert_non_null(e);
    assert_int_equal(attr(e->shape, "a")->type->kind, MD_TY_ENTITY);
    assert_int_equal(attr(e->shape, "b")->type->kind, MD_TY_IPADDR);
    md_schema_free(s);

    /* Keywords are identifiers where an identifier may stand. */
    s = parse_text(
        "entity entity; entity tags in tags tags tags; entity Set; entity A { s: Set, t: Set<Set> };\n"
        "action principal, resource, context, appliesTo, \"if\";");
    assert_int_equal(s->netypes, 4);
    assert_int_equal(s->nactions, 5);
    e = md_schema_etype(s, MD_STR("A"));
    assert_int_equal(attr(e->shape, "s")->type->kind, MD_TY_ENTITY);
    assert_int_equal(attr(e->shape, "t")->type->elem->kind, MD_TY_ENTITY);
    md_schema_free(s);
}

static void test_fields_and_lookups(void **state)
{
    (void)state;
    md_schema_t *s = parse_text(PHOTO_SRC);

    const md_schema_etype_t *user = md_schema_etype(s, MD_STR("PhotoApp::User"));
    assert_non_null(user);
    assert_null(md_schema_etype(s, MD_STR("User")));
    assert_null(md_schema_etype(s, MD_STR("PhotoApp::Action")));
    assert_int_equal(user->nmember_of, 1);
    assert_true(md_str_eqc(user->member_of[0], "PhotoApp::Group"));
    assert_false(user->is_enum);
    assert_non_null(user->tags);
    assert_int_equal(user->tags->kind, MD_TY_SET);
    assert_int_equal(user->tags->elem->kind, MD_TY_STRING);
    /* attributes sorted bytewise, optional ones marked */
    assert_int_equal(user->shape->nattrs, 3);
    assert_true(md_str_eqc(user->shape->attrs[0].name, "if"));
    assert_true(md_str_eqc(user->shape->attrs[1].name, "name"));
    assert_true(md_str_eqc(user->shape->attrs[2].name, "tags"));
    assert_true(user->shape->attrs[0].required);
    assert_false(user->shape->attrs[2].required);
    assert_false(user->shape->open);

    const md_schema_etype_t *color = md_schema_etype(s, MD_STR("PhotoApp::Color"));
    assert_true(color->is_enum);
    assert_int_equal(color->nenum, 3);
    assert_true(md_str_eqc(color->enum_ids[2], "\xF0\x9F\x98\x80"));
    assert_int_equal(color->shape->kind, MD_TY_RECORD);
    assert_int_equal(color->shape->nattrs, 0);
    assert_null(color->tags);

    /* a common type used twice is one shared node */
    const md_schema_etype_t *photo = md_schema_etype(s, MD_STR("PhotoApp::Photo"));
    const md_ty_t *c1 = attr(photo->shape, "c")->type, *c2 = attr(photo->shape, "c2")->type;
    assert_ptr_equal(c1, c2);

    md_uid_t view = uid("PhotoApp::Action", "view");
    const md_schema_action_t *a = md_schema_action(s, &view);
    assert_non_null(a);
    assert_true(md_str_eqc(a->uid.type, "PhotoApp::Action"));
    assert_int_equal(a->uid.hash, view.hash);
    assert_true(a->has_applies_to);
    assert_ptr_equal(a->context, c1);
    assert_int_equal(a->nprincipals, 2);
    assert_true(md_str_eqc(a->principals[0], "PhotoApp::Admin"));
    assert_true(md_str_eqc(a->principals[1], "PhotoApp::User"));
    assert_int_equal(a->nmember_of, 1);
    assert_true(md_str_eqc(a->member_of[0].id, "manage"));
    assert_int_equal(a->member_of[0].hash, uid("PhotoApp::Action", "manage").hash);

    md_uid_t list = uid("PhotoApp::Action", "list");
    a = md_schema_action(s, &list);
    assert_non_null(a);
    assert_false(a->has_applies_to);
    assert_int_equal(a->nprincipals + a->nresources, 0);
    assert_int_equal(a->context->kind, MD_TY_RECORD);

    md_uid_t root = uid("Action", "root");
    assert_non_null(md_schema_action(s, &root));
    md_uid_t nope = uid("Action", "view");
    assert_null(md_schema_action(s, &nope));

    assert_true(md_schema_is_action_type(s, MD_STR("PhotoApp::Action")));
    assert_true(md_schema_is_action_type(s, MD_STR("Action")));
    assert_false(md_schema_is_action_type(s, MD_STR("Other::Action")));
    assert_false(md_schema_is_action_type(s, MD_STR("PhotoApp::User")));
    md_schema_free(s);
}

static void test_edge_accepts(void **state)
{
    (void)state;
    md_schema_t *s;

    /* empty inputs */
    s = parse_text("");
    assert_int_equal(s->netypes + s->nactions, 0);
    md_schema_free(s);
    s = parse_text("// only a comment");
    md_schema_free(s);
    s = parse_json("{}");
    assert_int_equal(s->netypes + s->nactions, 0);
    md_schema_free(s);

    /* a repeated attribute keeps its last declaration, unresolved ones included */
    s = parse_text("entity A { x: Undefined, x: String };");
    assert_dump(s, "entity A in [] {x: String}\n");
    md_schema_free(s);
    s = parse_text("type A = { x: A, x: Long }; entity E { a: A };");
    assert_dump(s, "entity E in [] {a: {x: Long}}\n");
    md_schema_free(s);

    /* string escapes; a NUL byte survives in names */
    s = parse_text("entity A { \"a\\0b\": Long, \"\\x41\\u{1_F6_00}\\t\": Bool, \"\\\"\": String };");
    const md_schema_etype_t *e = md_schema_etype(s, MD_STR("A"));
    assert_int_equal(e->shape->nattrs, 3);
    assert_int_equal(e->shape->attrs[0].name.n, 1);
    assert_memory_equal(e->shape->attrs[0].name.p, "\"", 1);
    assert_int_equal(e->shape->attrs[1].name.n, 6);
    assert_memory_equal(e->shape->attrs[1].name.p, "A\xF0\x9F\x98\x80\t", 6);
    assert_int_equal(e->shape->attrs[2].name.n, 3);
    assert_memory_equal(e->shape->attrs[2].name.p, "a\0b", 3);
    md_schema_free(s);

    /* Unicode whitespace separates tokens */
    s = parse_text("entity\xC2\xA0"
                   "A;\xE2\x80\xA8"
                   "entity\x0B"
                   "B;");
    assert_int_equal(s->netypes, 2);
    md_schema_free(s);

    /* entity type cycles are allowed; action parents across namespaces */
    s = parse_text("entity A in B; entity B in A;\n"
                   "namespace N { action a; } namespace M { action b in N::Action::\"a\"; }");
    assert_dump(s, "entity A in [B] {}\nentity B in [A] {}\n"
                   "action M::Action::\"b\" in [N::Action::\"a\"] principal [] resource [] context {}\n"
                   "action N::Action::\"a\" in [] principal [] resource [] context {}\n");
    md_schema_free(s);

    /* a context given as a common type that resolves to a record, through an alias */
    s = parse_text("entity A; type C = {a: Long}; type D = C;\n"
                   "action x appliesTo { context: D, principal: A, resource: A, };");
    assert_dump(
        s, "entity A in [] {}\naction Action::\"x\" in [] principal [A] resource [A] context {a: Long}\n");
    md_schema_free(s);

    /* JSON: appliesTo with empty lists, serde's array form of structs, null options */
    s = parse_json(
        "{\"N\": [{}, {\"A\": [[\"A\"]]}, {\"a\": [null, [[], [\"A\"]], [[\"b\"]]], \"b\": {\"appliesTo\": "
        "{\"principalTypes\": [], \"resourceTypes\": []}, \"memberOf\": null, \"attributes\": null}}]}");
    assert_dump(s, "entity N::A in [N::A] {}\n"
                   "action N::Action::\"a\" in [N::Action::\"b\"] principal [N::A] resource [] context {}\n"
                   "action N::Action::\"b\" in [] principal [] resource [] context {}\n");
    md_uid_t b = uid("N::Action", "b");
    assert_true(md_schema_action(s, &b)->has_applies_to);
    md_schema_free(s);
}

/* ------------------------------------------------------------ reject */

typedef struct reject_case {
    const char *src;
    const char *msg; /* expected substring */
} reject_case_t;

static void test_text_rejects(void **state)
{
    (void)state;
    static const reject_case_t cases[] = {
        /* syntax */
        {"entity A", "unexpected end of input"},
        {"entity A {a: Long}", "unexpected end of input"},
        {";", "unexpected token `;`"},
        {"entity A { a: 1 };", "unexpected token `1`"},
        {"entity A, ;", "unexpected token `;`"},
        {"entity B; entity A in [B,];", "unexpected token `]`"},
        {"entity A enum [];", "unexpected token `]`"},
        {"entity A enum [a];", "unexpected token `a`"},
        {"entity B; entity A in B enum [\"a\"];", "unexpected token `enum`"},
        {"entity A tags String {};", "unexpected token `{`"},
        {"entity A tags Long tags Long;", "unexpected token `tags`"},
        {"entity A = ;", "unexpected token `;`"},
        {"type A::B = Long;", "unexpected token `::`"},
        {"namespace A { namespace B { } }", "unexpected token `namespace`"},
        {"namespace A { entity D; };", "unexpected token `;`"},
        {"action a in [];", "unexpected token `]`"},
        {"action \"a\"; action b in Action::a;", "unexpected token `;`"},
        {"action a attributes {x: Long};", "unexpected token `x`"},
        {"entity A; action x appliesTo { };", "unexpected token `}`"},
        {"entity A; action x appliesTo { principal: A resource: A };", "unexpected token `resource`"},
        {"entity A; action a appliesTo { @x principal: A, resource: A };", "unexpected token `@`"},
        {"entity A; action a appliesTo { principal: A, resource: A, context: Set<Long> };",
         "unexpected token `<`"},
        {"entity A { a: Set<Long };", "unexpected token `}`"},
        {"@doc() entity A;", "unexpected token `)`"},
        {"entity \xC3\xA9;", "invalid token"},
        {"\xEF\xBB\xBF"
         "entity A;",
         "invalid token"},
        {"entity A { \"abc: Long };", "unterminated string"},
        {"entity A { \"a\\\nb\": Long };", "invalid token"},
        {"entity A { \"a\xFF\": Long };", "invalid UTF-8"},
        /* strings */
        {"entity A { \"a\rb\": Long };", "invalid escape"},
        {"entity A { \"\\q\": Long };", "invalid escape"},
        {"entity A { \"\\*\": Long };", "invalid escape"},
        {"entity A { \"\\x80\": Long };", "invalid escape"},
        {"entity A { \"\\x1\": Long };", "invalid escape"},
        {"entity A { \"\\u{D800}\": Long };", "invalid escape"},
        {"entity A { \"\\u{110000}\": Long };", "invalid escape"},
        {"entity A { \"\\u{0000001}\": Long };", "invalid escape"},
        {"entity A { \"\\u{_1}\": Long };", "invalid escape"},
        {"entity A { \"\\u{}\": Long };", "invalid escape"},
        {"entity A { \"\\u1234\": Long };", "invalid escape"},
        {"action \"\\q\";", "invalid escape"},
        /* reserved words and names */
        {"entity A { if: Long };", "`if` is a reserved identifier"},
        {"entity true;", "`true` is a reserved identifier"},
        {"action in;", "`in` is a reserved identifier"},
        {"namespace A::if { entity B; }", "`if` is a reserved identifier"},
        {"entity __cedar;", "`__cedar` is reserved"},
        {"type __cedar = Long;", "`__cedar` is reserved"},
        {"namespace A::__cedar { entity B; }", "reserved `__cedar`"},
        {"type Long = String;", "`Long` is a reserved schema keyword"},
        {"type Boolean = Long;", "`Boolean` is a reserved schema keyword"},
        {"type Set = Long;", "`Set` is a reserved schema keyword"},
        {"namespace N { entity Action; }", "entity type `Action` cannot be declared"},
        /* duplicates */
        {"namespace N { @a @a entity A; }", "duplicate annotation `@a`"},
        {"entity A { @a(\"x\") @b @a(\"y\") x: Long };", "duplicate annotation `@a`"},
        {"entity A; entity A;", "entity type `A` is declared twice"},
        {"entity A, A;", "entity type `A` is declared twice"},
        {"action a, \"a\";", "action `a` is declared twice"},
        {"type A = Long; type A = String;", "common type `A` is declared twice"},
        {"namespace N { entity A; } namespace N { entity B; }", "duplicate namespace `N`"},
        {"entity A; action a appliesTo { principal: A, principal: A, resource: A };",
         "duplicate `principal`"},
        {"entity A; action a appliesTo { principal: A, resource: A, context: {}, context: {} };",
         "duplicate context"},
        /* appliesTo */
        {"entity A; action x appliesTo { principal: A };", "missing `resource` declaration for `x`"},
        {"action a appliesTo { context: {} };", "missing `resource`"},
        {"entity A; action x appliesTo { resource: A };", "missing `principal`"},
        {"entity A; action x appliesTo { principal: [], resource: A };", "`principal` is `[]`"},
        /* resolution */
        {"type A = Foo;", "undeclared common or entity type `Foo`"},
        {"entity A { a: Boolean };", "undeclared common or entity type `Boolean`"},
        {"entity A { a: Decimal };", "undeclared common or entity type `Decimal`"},
        {"entity A { x: __cedar::Foo };", "`__cedar::Foo`"},
        {"entity B; namespace N { entity A { x: N::B }; }", "`N::B`"},
        {"entity A in B;", "undeclared entity type `B`"},
        {"entity B; type T = B; entity A in T;", "undeclared entity type `T`"},
        {"entity A in Action; action x;", "undeclared entity type `Action`"},
        {"action x appliesTo { principal: Action, resource: Action };", "undeclared entity type `Action`"},
        {"entity A { a: Action };", "undeclared common or entity type `Action`"},
        {"namespace N { action a; } namespace M { entity E { a: Action }; }", "`Action`"},
        {"type T = Long; action a appliesTo { principal: T, resource: T };", "undeclared entity type `T`"},
        {"entity A; action x appliesTo { principal: A, resource: A, context: A };",
         "undeclared common type `A`"},
        {"entity A; action x appliesTo { principal: A, resource: A, context: Bool };", "is not a record"},
        {"entity A; type C = A; action a appliesTo { principal: A, resource: A, context: C };",
         "is not a record"},
        {"action a in b;", "undeclared action `Action::\"b\"`"},
        {"entity Foo; action a; action b in Foo::\"a\";", "undeclared action `Foo::\"a\"`"},
        {"namespace N { action a; } action b in Action::\"a\";", "undeclared action"},
        {"type A = B; type B = A;", "cycle in common type references"},
        {"type A = Set<A>;", "cycle in common type references containing `A`"},
        {"type D = A; type A = {b: Set<B>}; type B = A;", "cycle in common type references"},
        {"namespace N { type A = M::B; } namespace M { type B = N::A; }", "cycle in common type references"},
        {"action a in a;", "cycle in action hierarchy containing `Action::\"a\"`"},
        {"action a in b; action b in c; action c in [a, d]; action d;", "cycle in action hierarchy"},
        /* RFC 70 */
        {"entity A; namespace N { entity A; }",
         "definition of `N::A` illegally shadows the existing definition of `A`"},
        {"type A = Long; namespace N { type A = Long; }", "illegally shadows"},
        {"action a; namespace N { action a; }",
         "illegally shadows the existing definition of `Action::\"a\"`"},
    };
    md_err_t err;
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        const char *msg = reject_text(cases[i].src, &err);
        if (strncmp(msg, "t.cedarschema:", 14) != 0 || strstr(msg, cases[i].msg) == NULL)
            fail_msg("case %zu: %s\n  got: %s\n  want: %s", i, cases[i].src, msg, cases[i].msg);
    }
}

static void test_text_error_locations(void **state)
{
    (void)state;
    md_err_t err;
    assert_string_equal(reject_text("entity A;\nentity B {\n  x: Undefined\n};", &err),
                        "t.cedarschema:3:6: undeclared common or entity type `Undefined`");
    assert_string_equal(reject_text("entity A;\n  entity A;", &err),
                        "t.cedarschema:2:10: entity type `A` is declared twice");
    /* columns count characters, not bytes */
    assert_string_equal(reject_text("entity A { \"\xC3\xA9\xC3\xA9\": Long, } $", &err),
                        "t.cedarschema:1:26: invalid token");
    assert_int_equal(err.code, MD_EINVAL);
}

static void test_json_rejects(void **state)
{
    (void)state;
    static const reject_case_t cases[] = {
        {"", "invalid JSON"},
        {"{\"\": {\"entityTypes\": {}, \"actions\": {}}, \"\": {}}", "invalid JSON"}, /* duplicate key */
        {"{} x", "invalid JSON"},
        {"[]", "expected an object of namespaces"},
        {"{\"\": null}", "expected a namespace"},
        {"{\"\": {\"entityTypes\": {}}}", "missing field `actions`"},
        {"{\"\": {\"actions\": {}}}", "missing field `entityTypes`"},
        {"{\"\": {\"entityTypes\": {}, \"actions\": {}, \"foo\": 1}}", "unknown field `foo`"},
        {"{\"\": {\"entityTypes\": {}, \"actions\": {}, \"annotations\": {\"a\": \"b\"}}}",
         "annotations are not allowed on the empty namespace"},
        {"{\"N\": {\"entityTypes\": {}, \"actions\": {}, \"annotations\": {\"a\": 1}}}", "a string or null"},
        {"{\"N \": {\"entityTypes\": {}, \"actions\": {}}}", "invalid namespace `N `"},
        {"{\"if\": {\"entityTypes\": {}, \"actions\": {}}}", "invalid namespace `if`"},
        {"{\"__cedar\": {\"entityTypes\": {}, \"actions\": {}}}", "reserved `__cedar`"},
        {"{\"\": {\"entityTypes\": {\"A::B\": {}}, \"actions\": {}}}", "invalid entity type name `A::B`"},
        {"{\"\": {\"entityTypes\": {\"A\": {\"shape\": null}}, \"actions\": {}}}", "expected a type"},
        {"{\"\": {\"entityTypes\": {\"A\": {\"memberOfTypes\": null}}, \"actions\": {}}}",
         "expected an array"},
        {"{\"\": {\"entityTypes\": {\"A\": {\"memberOfTypes\": [\"A \"]}}, \"actions\": {}}}",
         "invalid name `A `"},
        {"{\"\": {\"entityTypes\": {\"A\": {\"enum\": []}}, \"actions\": {}}}", "must not be empty"},
        {"{\"\": {\"entityTypes\": {\"A\": {\"enum\": [\"a\"], \"shape\": {\"type\": \"Record\", "
         "\"attributes\": "
         "{}}}}, \"actions\": {}}}",
         "unexpected field in an enumerated entity type: shape"},
        {"{\"\": {\"entityTypes\": {}, \"actions\": {\"a\": {\"attributes\": {}}}}}",
         "action declared with attributes"},
        {"{\"\": {\"entityTypes\": {\"A\": {}}, \"actions\": {\"a\": {\"appliesTo\": {\"principalTypes\": "
         "[\"A\"]}}}}}",
         "missing field `resourceTypes`"},
        {"{\"\": {\"entityTypes\": {}, \"actions\": {\"a\": {\"appliesTo\": {\"principalTypes\": [], "
         "\"resourceTypes\": [], \"context\": null}}}}}",
         "expected a type"},
        {"{\"\": {\"entityTypes\": {}, \"actions\": {\"a\": {}, \"b\": {\"memberOf\": [{\"id\": \"a\", "
         "\"x\": "
         "1}]}}}}",
         "unknown field `x`"},
        {"{\"\": {\"entityTypes\": {}, \"actions\": {\"a\": {\"memberOf\": [[]]}}}}", "missing field `id`"},
        {"{\"N\": {\"entityTypes\": {}, \"actions\": {\"a\": {\"memberOf\": [{\"id\": \"b\"}]}}}}",
         "undeclared action `Action::\"b\"`"},
        {"{\"\": {\"entityTypes\": {\"A\": {\"shape\": {\"type\": \"Record\"}}}, \"actions\": {}}}",
         "missing field `attributes`"},
        {"{\"\": {\"entityTypes\": {\"A\": {\"shape\": {}}}, \"actions\": {}}}", "missing field `type`"},
        {"{\"\": {\"entityTypes\": {\"A\": {\"shape\": {\"type\": 1}}}, \"actions\": {}}}",
         "expected a string"},
        {"{\"\": {\"entityTypes\": {\"A\": {\"shape\": {\"type\": \"Record\", \"attributes\": {}, "
         "\"required\": "
         "true}}}, \"actions\": {}}}",
         "unknown field `required`"},
        {"{\"\": {\"entityTypes\": {\"A\": {\"shape\": {\"type\": \"Record\", \"attributes\": {}, "
         "\"annotations\": {}}}}, \"actions\": {}}}",
         "unknown field `annotations`"},
        {"{\"\": {\"commonTypes\": {\"T\": {\"type\": \"Long\", \"required\": false}}, \"entityTypes\": {}, "
         "\"actions\": {}}}",
         "unknown field `required`"},
        {"{\"\": {\"entityTypes\": {\"A\": {\"shape\": {\"type\": \"Record\", \"attributes\": {\"a\": "
         "{\"type\": "
         "\"Long\", \"name\": \"x\"}}}}}, \"actions\": {}}}",
         "unknown field `name`"},
        {"{\"\": {\"entityTypes\": {\"A\": {\"shape\": {\"type\": \"Record\", \"attributes\": {\"a\": "
         "{\"type\": "
         "\"Set\"}}}}}, \"actions\": {}}}",
         "missing field `element`"},
        {"{\"\": {\"entityTypes\": {\"A\": {\"shape\": {\"type\": \"Record\", \"attributes\": {\"a\": "
         "{\"type\": "
         "\"Entity\"}}}}}, \"actions\": {}}}",
         "missing field `name`"},
        {"{\"\": {\"entityTypes\": {\"A\": {\"shape\": {\"type\": \"Record\", \"attributes\": {\"a\": "
         "{\"type\": "
         "\"Long\", \"required\": null}}}}}, \"actions\": {}}}",
         "a boolean"},
        {"{\"\": {\"entityTypes\": {\"A\": {\"shape\": {\"type\": \"Record\", \"attributes\": {\"d\": "
         "{\"type\": "
         "\"Extension\", \"name\": \"foo\"}}}}}, \"actions\": {}}}",
         "unknown extension type `foo`"},
        {"{\"\": {\"entityTypes\": {\"A\": {\"shape\": {\"type\": \"Record\", \"attributes\": {}, "
         "\"additionalAttributes\": true}}}, \"actions\": {}}}",
         "additionalAttributes"},
        {"{\"\": {\"entityTypes\": {\"A\": {\"shape\": {\"type\": \"Long\"}}}, \"actions\": {}}}",
         "the shape of entity type `A` is not a record"},
        {"{\"\": {\"entityTypes\": {}, \"actions\": {\"a\": {\"appliesTo\": {\"principalTypes\": [], "
         "\"resourceTypes\": [], \"context\": {\"type\": \"Long\"}}}}}}",
         "is not a record"},
        {"{\"\": {\"commonTypes\": {\"T\": {\"type\": \"A\"}}, \"entityTypes\": {\"A\": {}}, \"actions\": "
         "{}}}",
         "undeclared common type `A`"},
        {"{\"\": {\"commonTypes\": {\"T\": {\"type\": \"Long\"}}, \"entityTypes\": {\"A\": {\"shape\": "
         "{\"type\": "
         "\"Record\", \"attributes\": {\"a\": {\"type\": \"Entity\", \"name\": \"T\"}}}}}, \"actions\": {}}}",
         "undeclared entity type `T`"},
        {"{\"\": {\"commonTypes\": {\"Record\": {\"type\": \"Long\"}}, \"entityTypes\": {}, \"actions\": "
         "{}}}",
         "`Record` is a reserved schema keyword"},
        {"{\"N\": {\"entityTypes\": {}, \"actions\": {\"a\": {\"appliesTo\": {\"principalTypes\": "
         "[\"Action\"], "
         "\"resourceTypes\": []}}}}}",
         "undeclared entity type `N::Action`"},
        {"{\"\": {\"entityTypes\": {}, \"actions\": {\"a\": {}}}, \"N\": {\"entityTypes\": {}, \"actions\": "
         "{\"a\": {}}}}",
         "illegally shadows"},
        {"{\"N\": [{}, {\"A\": {}}]}", "missing field `actions`"},
        {"{\"N\": [{}, {}, {}, {}, 5]}", "invalid length 5"},
        {"{\"\": {\"entityTypes\": {\"A\": {\"shape\": {\"type\": \"Record\", \"attributes\": {\"x\": "
         "[\"Long\"]}}}}, \"actions\": {}}}",
         "expected a type"},
    };
    md_err_t err;
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        const char *msg = reject_json(cases[i].src, &err);
        if (strncmp(msg, "t.json: $", 9) != 0 || strstr(msg, cases[i].msg) == NULL)
            fail_msg("case %zu: %s\n  got: %s\n  want: %s", i, cases[i].src, msg, cases[i].msg);
    }
    /* the message names the JSON path */
    assert_string_equal(
        reject_json("{\"NS\": {\"entityTypes\": {\"User\": {\"shape\": {\"type\": \"Record\", "
                    "\"attributes\": {\"a b\": {\"type\": \"Nope\"}}}}}, \"actions\": {}}}",
                    &err),
        "t.json: $.NS.entityTypes.User.shape.attributes[\"a b\"]: undeclared common type `Nope`");
}

/* ------------------------------------------------------------ limits */

/* pre + open*n + mid + close*n + post, on the heap */
static char *repeat3(const char *pre, const char *open, int n, const char *mid, const char *close,
                     const char *post)
{
    md_buf_t b;
    md_buf_init(&b);
    md_buf_adds(&b, pre);
    for (int i = 0; i < n; i++)
        md_buf_adds(&b, open);
    md_buf_adds(&b, mid);
    for (int i = 0; i < n; i++)
        md_buf_adds(&b, close);
    md_buf_adds(&b, post);
    if (b.oom) abort();
    return b.p;
}

static void test_depth_limits(void **state)
{
    (void)state;
    md_err_t err;
    md_schema_t *s;
    /* the shape record plus 63 records: 64 levels */
    char *src = repeat3("entity A ", "{ a: ", 63, "{}", "}", ";");
    s = parse_text(src);
    md_schema_free(s);
    free(src);
    src = repeat3("entity A ", "{ a: ", 64, "{}", "}", ";");
    reject_text(src, &err);
    assert_int_equal(err.code, MD_ELIMIT);
    assert_non_null(strstr(err.msg, "nested more than 64 levels"));
    free(src);
    /* far too deep: an error, not a stack overflow */
    src = repeat3("entity A { a: ", "Set<", 200000, "Long", ">", " };");
    reject_text(src, &err);
    assert_int_equal(err.code, MD_ELIMIT);
    free(src);
    src = repeat3("{\"\": {\"entityTypes\": {\"A\": {\"tags\": ", "{\"type\": \"Set\", \"element\": ", 65,
                  "{\"type\": \"Long\"}", "}", "}}, \"actions\": {}}}");
    reject_json(src, &err);
    assert_int_equal(err.code, MD_ELIMIT);
    free(src);
    src = repeat3("", "[", 100000, "", "]", "");
    reject_json(src, &err);
    free(src);

    /* nesting that only becomes too deep once common types are inlined */
    src = repeat3("type T0 = ", "Set<", 40, "Long", ">", "; type T1 = Set<Set<Set<Set<T0>>>>;");
    s = parse_text(src); /* 44 levels */
    md_schema_free(s);
    free(src);
    src = repeat3("type T0 = ", "Set<", 40, "Long", ">",
                  "; entity A { a: T1 }; type T1 = Set<Set<{a: Set<T0>}>>;");
    s = parse_text(src); /* 1 + 3 + 1 + 40 = 45 */
    md_schema_free(s);
    free(src);
    src = repeat3("type T0 = ", "Set<", 40, "Long", ">", "; type T1 = ");
    char *src2 = repeat3(src, "Set<", 30, "T0", ">", ";");
    reject_text(src2, &err);
    assert_int_equal(err.code, MD_ELIMIT);
    free(src);
    free(src2);
}

/* Long chains of common types resolve in dependency order, whatever the declaration order. */
static void test_long_alias_chain(void **state)
{
    (void)state;
    enum { N = 3000 };
    md_buf_t b;
    md_buf_init(&b);
    md_buf_printf(&b, "entity E { a: A%d };", N);
    for (int i = N; i > 0; i--)
        md_buf_printf(&b, "type A%d = A%d;", i, i - 1);
    md_buf_adds(&b, "type A0 = { x: Long };");
    md_schema_t *s = parse_text(b.p);
    const md_ty_t *t = attr(md_schema_etype(s, MD_STR("E"))->shape, "a")->type;
    assert_int_equal(t->kind, MD_TY_RECORD);
    assert_int_equal(attr(t, "x")->type->kind, MD_TY_LONG);
    md_schema_free(s);
    /* and a cycle at the end of a long chain is still found */
    md_buf_reset(&b);
    for (int i = N; i > 0; i--)
        md_buf_printf(&b, "type A%d = A%d;", i, i - 1);
    md_buf_printf(&b, "type A0 = Set<A%d>;", N / 2);
    md_err_t err;
    assert_non_null(strstr(reject_text(b.p, &err), "cycle in common type references"));
    md_buf_free(&b);
}

/* ------------------------------------------------------------ printing */

static void test_ty_to_cedar(void **state)
{
    (void)state;
    md_schema_t *s = parse_text("entity U; type R = { \"a b\": Set<{ z?: U }>, \"\\n\\\"\": datetime, ok: "
                                "duration, \"has\": Bool, _x1: decimal };\n"
                                "entity E { r: R, e: {} };");
    md_buf_t b;
    md_buf_init(&b);
    md_ty_to_cedar(&b, md_schema_etype(s, MD_STR("E"))->shape);
    assert_string_equal(
        b.p, "{e: {}, r: {\"\\n\\\"\": datetime, _x1: decimal, \"a b\": Set<{z?: U}>, \"has\": Bool, "
             "ok: duration}}");
    md_buf_free(&b);
    md_schema_free(s);

    /* a type that doubles at each of 60 levels prints in bounded space */
    md_buf_init(&b);
    md_buf_adds(&b, "type T0 = Long;");
    for (int i = 1; i <= 60; i++)
        md_buf_printf(&b, "type T%d = {a: T%d, b: T%d};", i, i - 1, i - 1);
    md_buf_adds(&b, "entity E { t: T60 };");
    s = parse_text(b.p);
    md_buf_reset(&b);
    md_ty_to_cedar(&b, md_schema_etype(s, MD_STR("E"))->shape);
    assert_true(b.n > 1000 && b.n < 70000);
    assert_memory_equal(b.p + b.n - 3, "...", 3);
    md_buf_free(&b);
    md_schema_free(s);
    md_schema_free(NULL);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_text_golden),          cmocka_unit_test(test_json_golden),
        cmocka_unit_test(test_name_resolution),      cmocka_unit_test(test_fields_and_lookups),
        cmocka_unit_test(test_edge_accepts),         cmocka_unit_test(test_text_rejects),
        cmocka_unit_test(test_text_error_locations), cmocka_unit_test(test_json_rejects),
        cmocka_unit_test(test_depth_limits),         cmocka_unit_test(test_long_alias_chain),
        cmocka_unit_test(test_ty_to_cedar),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
