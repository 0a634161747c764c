/*
 * test_entities.c: unit tests for the entity store, Cedar JSON values and
 * requests (src/cedar/entities.h, entities.c, core/json.c).
 *
 * References: cedar-docs _auth/entities-syntax.md; cedar-policy-core
 * src/entities/json/{entities,value}.rs, src/entities/conformance.rs
 * (validate_entity, validate_euids_in_partial_value), src/transitive_closure.rs
 * and src/validator/coreschema.rs (request validation).  Accept/reject
 * expectations were checked with cedar-wasm 4.13.0 (checkParseEntities,
 * checkParseContext, isAuthorized with a schema).
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

/* ------------------------------------------------------------ helpers */

#include "held.h"

static void free_es(void *p)
{
    md_entities_free(p);
}

static void free_schema(void *p)
{
    md_schema_free(p);
}

#define NAME "t.cedar"

static md_uid_t mkuid(const char *type, const char *id)
{
    md_uid_t u = {md_str_c(type), md_str_c(id), 0};
    u.hash = md_uid_hash(u.type, u.id);
    return u;
}

static md_entities_t *load_at(const char *json, const md_schema_t *schema, const char *file, int line)
{
    md_entities_t *es = NULL;
    md_err_t err = {0};
    int rc = md_entities_parse_json(json, strlen(json), "e.json", schema, &es, &err);
    if (rc != MD_OK || es == NULL) {
        print_error("entities should load (rc %d): %s\n", rc, err.msg);
        _fail(file, line);
    }
    return keep(es, free_es);
}
#define load_ok(json, schema) load_at((json), (schema), __FILE__, __LINE__)

static void reject_at(const char *json, const md_schema_t *schema, const char *want, const char *file,
                      int line)
{
    md_entities_t *es = (md_entities_t *)1;
    md_err_t err = {0};
    int rc = md_entities_parse_json(json, strlen(json), "e.json", schema, &es, &err);
    if (rc == MD_OK) {
        md_entities_free(es);
        print_error("entities should be rejected: %s\n", json);
        _fail(file, line);
    }
    if (es != NULL || rc >= 0 || err.code != rc) {
        print_error("bad failure contract: rc=%d code=%d\n", rc, err.code);
        _fail(file, line);
    }
    if (want && strstr(err.msg, want) == NULL) {
        print_error("error is:  %s\nshould say: %s\n", err.msg, want);
        _fail(file, line);
    }
}
#define load_bad(json, schema, want) reject_at((json), (schema), (want), __FILE__, __LINE__)

static md_schema_t *schema_at(const char *text, const char *file, int line)
{
    md_schema_t *s = NULL;
    md_err_t err = {0};
    if (md_schema_parse_cedar(text, strlen(text), "s.cedarschema", &s, &err) != MD_OK) {
        print_error("schema: %s\n", err.msg);
        _fail(file, line);
    }
    return keep(s, free_schema);
}
#define schema_ok(text) schema_at((text), __FILE__, __LINE__)

static const md_entity_t *get(const md_entities_t *es, const char *type, const char *id)
{
    md_uid_t u = mkuid(type, id);
    return md_entities_get(es, &u);
}

static bool in(const md_entities_t *es, const char *ta, const char *ia, const char *tb, const char *ib)
{
    md_uid_t a = mkuid(ta, ia), b = mkuid(tb, ib);
    return md_entities_in(es, &a, &b);
}

/* An attribute (or tag) of an entity in Cedar syntax. */
static char *field_text(const md_entity_t *e, bool tags, const char *name, size_t namelen)
{
    static char buf[1024];
    const md_cv_t *rec = tags ? &e->tags : &e->attrs;
    const md_cv_t *v = md_cv_record_get(rec, (md_str_t){name, namelen});
    if (v == NULL) return NULL;
    md_buf_t b;
    md_buf_init(&b);
    md_cv_to_cedar(&b, v);
    snprintf(buf, sizeof(buf), "%s", b.p ? b.p : "");
    md_buf_free(&b);
    return buf;
}
#define ATTR(e, name) field_text((e), false, (name), strlen(name))
#define TAG(e, name) field_text((e), true, (name), strlen(name))

static const md_cv_t *attr(const md_entity_t *e, const char *name)
{
    return md_cv_record_get(&e->attrs, md_str_c(name));
}

#define U(t, i) "{\"type\":\"" t "\",\"id\":\"" i "\"}"
#define ENT(t, i, attrs, parents) "{\"uid\":" U(t, i) ",\"attrs\":" attrs ",\"parents\":[" parents "]}"

/* ------------------------------------------------------------ hierarchy */

static void test_parents_and_ancestors(void **state)
{
    /* a -> b -> c, a -> d, d -> c (a diamond), x -> Ghost::"g" (no entry) */
    md_entities_t *es = load_ok(
        "[" ENT("T", "a", "{}", U("T", "b") "," U("T", "d")) "," ENT("T", "b", "{}", U("T", "c")) "," ENT(
            "T", "c", "{}", "") "," ENT("T", "d", "{}", U("T", "c")) "," ENT("T", "x", "{}",
                                                                             U("Ghost", "g")) "]",
        NULL);
    assert_int_equal(es->n, 5);
    const md_entity_t *a = get(es, "T", "a");
    assert_non_null(a);
    assert_int_equal(a->nparents, 2);
    assert_int_equal(a->nanc, 3); /* b, c, d: c only once */
    assert_int_equal(get(es, "T", "b")->nanc, 1);
    assert_int_equal(get(es, "T", "c")->nanc, 0);
    assert_int_equal(get(es, "T", "x")->nanc, 1);

    assert_true(in(es, "T", "a", "T", "b"));
    assert_true(in(es, "T", "a", "T", "c")); /* transitive */
    assert_true(in(es, "T", "a", "T", "d"));
    assert_true(in(es, "T", "a", "T", "a")); /* reflexive */
    assert_false(in(es, "T", "c", "T", "a"));
    assert_false(in(es, "T", "b", "T", "d"));
    assert_false(in(es, "T", "a", "T", "x"));
    assert_false(in(es, "T", "a", "U", "a")); /* the type matters */
    /* a parent without an entry is still an ancestor */
    assert_true(in(es, "T", "x", "Ghost", "g"));
    assert_null(get(es, "Ghost", "g"));
    /* entities that are not in the store are only in themselves */
    assert_true(in(es, "Nope", "n", "Nope", "n"));
    assert_false(in(es, "Nope", "n", "T", "c"));
    assert_null(get(es, "T", "zz"));
    assert_true(md_entities_footprint(es) > 0);
    drop(es);

    /* the empty store */
    es = keep(md_entities_new_empty(), free_es);
    assert_non_null(es);
    assert_int_equal(es->n, 0);
    assert_null(get(es, "T", "a"));
    assert_true(in(es, "T", "a", "T", "a"));
    assert_false(in(es, "T", "a", "T", "b"));
    drop(es);
    es = load_ok("[]", NULL);
    assert_int_equal(es->n, 0);
    drop(es);
}

static void test_deep_and_wide_hierarchies(void **state)
{
    /* a chain of 2000: no recursion limit, every ancestor recorded */
    enum { N = 2000 };
    md_buf_t b;
    md_buf_init(&b);
    md_buf_addc(&b, '[');
    for (int i = 0; i < N; i++) {
        if (i) md_buf_addc(&b, ',');
        md_buf_printf(&b, "{\"uid\":{\"type\":\"N\",\"id\":\"%d\"},\"attrs\":{},\"parents\":[", i);
        if (i + 1 < N) md_buf_printf(&b, "{\"type\":\"N\",\"id\":\"%d\"}", i + 1);
        md_buf_adds(&b, "]}");
    }
    md_buf_addc(&b, ']');
    char *text = keep(b.p, free);
    md_entities_t *es = load_ok(text, NULL);
    drop(text);
    assert_int_equal(es->n, N);
    assert_int_equal(get(es, "N", "0")->nanc, N - 1);
    assert_true(in(es, "N", "0", "N", "1999"));
    assert_true(in(es, "N", "1000", "N", "1998"));
    assert_false(in(es, "N", "1999", "N", "0"));
    drop(es);

    /* one entity with many parents, listed twice */
    md_buf_init(&b);
    md_buf_adds(&b, "[{\"uid\":{\"type\":\"U\",\"id\":\"u\"},\"attrs\":{},\"parents\":[");
    for (int i = 0; i < 300; i++)
        md_buf_printf(&b, "%s{\"type\":\"G\",\"id\":\"%d\"}", i ? "," : "", i % 150);
    md_buf_adds(&b, "]}]");
    text = keep(b.p, free);
    es = load_ok(text, NULL);
    drop(text);
    assert_int_equal(get(es, "U", "u")->nanc, 150);
    assert_true(in(es, "U", "u", "G", "149"));
    assert_false(in(es, "U", "u", "G", "150"));
    drop(es);
}

static void test_cycles_rejected(void **state)
{
    load_bad("[" ENT("T", "a", "{}", U("T", "a")) "]", NULL, "cycle");
    load_bad("[" ENT("T", "a", "{}", U("T", "b")) "," ENT("T", "b", "{}", U("T", "a")) "]", NULL, "cycle");
    load_bad("[" ENT("T", "a", "{}", U("T", "b")) "," ENT("T", "b", "{}", U("T", "c")) "," ENT(
                 "T", "c", "{}", U("T", "a")) "]",
             NULL, "cycle");
    /* a cycle that does not include the first entity */
    load_bad("[" ENT("T", "x", "{}", U("T", "a")) "," ENT("T", "a", "{}", U("T", "b")) "," ENT(
                 "T", "b", "{}", U("T", "c")) "," ENT("T", "c", "{}", U("T", "b")) "]",
             NULL, "cycle");
    /* the message names the file */
    load_bad("[" ENT("T", "a", "{}", U("T", "a")) "]", NULL, "e.json");
    /* same id, different type: no cycle */
    md_entities_t *es = load_ok("[" ENT("T", "a", "{}", U("U", "a")) "," ENT("U", "a", "{}", "") "]", NULL);
    assert_true(in(es, "T", "a", "U", "a"));
    assert_false(in(es, "U", "a", "T", "a"));
    drop(es);
}

static void test_duplicates_rejected(void **state)
{
    load_bad("[" ENT("T", "a", "{}", "") "," ENT("T", "a", "{}", "") "]", NULL, "duplicate entity T::\"a\"");
    load_bad(
        "[" ENT("T", "a", "{\"x\":1}", "") "," ENT("U", "b", "{}", "") "," ENT("T", "a", "{\"x\":2}", "") "]",
        NULL, "duplicate entity");
    /* duplicate keys inside an object are malformed JSON */
    load_bad("[{\"uid\":" U("T", "a") ",\"attrs\":{\"x\":1,\"x\":2},\"parents\":[]}]", NULL, NULL);
    md_entities_t *es = load_ok(
        "[" ENT("T", "a", "{}", "") "," ENT("U", "a", "{}", "") "," ENT("T", "A", "{}", "") "]", NULL);
    assert_int_equal(es->n, 3);
    drop(es);
}

static void test_malformed_entities(void **state)
{
    load_bad("{}", NULL, "array");
    load_bad("[1]", NULL, "object");
    load_bad("[{\"attrs\":{},\"parents\":[]}]", NULL, "uid");
    load_bad("[{\"uid\":{\"type\":\"T\"},\"attrs\":{},\"parents\":[]}]", NULL, "type");
    load_bad("[{\"uid\":{\"type\":\"T\",\"id\":1},\"attrs\":{},\"parents\":[]}]", NULL, NULL);
    load_bad("[{\"uid\":{\"type\":\"\",\"id\":\"a\"},\"attrs\":{},\"parents\":[]}]", NULL, "empty");
    load_bad("[{\"uid\":" U("T", "a") ",\"attrs\":[],\"parents\":[]}]", NULL, "attrs");
    load_bad("[{\"uid\":" U("T", "a") ",\"attrs\":{},\"parents\":{}}]", NULL, "parents");
    load_bad("[{\"uid\":" U("T", "a") ",\"attrs\":{},\"parents\":[\"T::\\\"b\\\"\"]}]", NULL, "parents[0]");
    load_bad("[{\"uid\":" U("T", "a") ",\"attrs\":{},\"parents\":[],\"extra\":1}]", NULL, "extra");
    load_bad("[{\"uid\":" U("T", "a") ",\"attrs\":{},\"parents\":[]", NULL, "invalid JSON");
    load_bad("[{\"uid\":" U("T", "a") ",\"attrs\":null,\"parents\":[]}]", NULL, "attrs");
    load_bad("[{\"uid\":" U("T", "a") ",\"attrs\":{},\"parents\":[],\"tags\":null}]", NULL, "tags");
    /* tags may be omitted; uids and parents may use the __entity escape */
    md_entities_t *es =
        load_ok("[{\"uid\":{\"__entity\":" U("T", "a") "},\"attrs\":{},"
                                                       "\"parents\":[{\"__entity\":" U("T", "b") "}]}]",
                NULL);
    const md_entity_t *e = get(es, "T", "a");
    assert_non_null(e);
    assert_int_equal(e->attrs.kind, MD_CV_RECORD);
    assert_int_equal(e->attrs.rec.n, 0);
    assert_int_equal(e->tags.kind, MD_CV_RECORD);
    assert_int_equal(e->tags.rec.n, 0);
    assert_int_equal(e->nparents, 1);
    assert_true(in(es, "T", "a", "T", "b"));
    drop(es);
}

/* An entity type in JSON must be a Cedar name (Ident {"::" Ident}, no reserved
 * word, no __cedar namespace): the reference parses it with the policy
 * grammar (entities/json/value.rs, TypeAndId -> EntityUID::from_str) and
 * cedar-wasm rejects every type below. */
static void test_entity_type_names_validated(void **state)
{
    md_entities_t *es = load_ok("[" ENT("NS::T", "a", "{}", U("_T1", "b")) "]", NULL);
    assert_true(in(es, "NS::T", "a", "_T1", "b"));
    drop(es);
    static const char *const bad[] = {"A::", "::A",     "1x",         "Bad Type", " T",     "T ",      "if",
                                      "in",  "A::true", "__cedar::T", "A-B",      "A::::B", "T\\u0000"};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        char json[512];
        snprintf(json, sizeof(json), "[{\"uid\":{\"type\":\"%s\",\"id\":\"a\"},\"attrs\":{},\"parents\":[]}]",
                 bad[i]);
        load_bad(json, NULL, NULL);
        snprintf(json, sizeof(json), "[" ENT("T", "a", "{}", "{\"type\":\"%s\",\"id\":\"p\"}") "]", bad[i]);
        load_bad(json, NULL, NULL);
        snprintf(json, sizeof(json),
                 "[" ENT("T", "a", "{\"x\":{\"__entity\":{\"type\":\"%s\",\"id\":\"p\"}}}", "") "]", bad[i]);
        load_bad(json, NULL, NULL);
    }
}

/* entities/json/value.rs: `__expr` is "no longer supported" and the only
 * extension functions are Cedar's (`ip`, not `ipaddr`); cedar-wasm rejects both. */
static void test_unknown_escapes_rejected(void **state)
{
    load_bad("[" ENT("T", "a", "{\"x\":{\"__expr\":\"1\"}}", "") "]", NULL, "__expr");
    load_bad("[" ENT("T", "a", "{\"x\":{\"__extn\":{\"fn\":\"ipaddr\",\"arg\":\"1.2.3.4\"}}}", "") "]", NULL,
             "ipaddr");
}

/* ------------------------------------------------------------ values without a schema */

static void test_values_schemaless(void **state)
{
    md_entities_t *es = load_ok(
        "[{\"uid\":" U(
            "T",
            "a") ",\"attrs\":{"
                 "\"b\":true,\"i\":-9223372036854775808,\"j\":9223372036854775807,\"s\":\"x\\u00e9\","
                 "\"set\":[3,1,3,\"a\"],\"rec\":{\"z\":1,\"a\":{}},"
                 "\"e\":{\"__entity\":" U(
                     "NS::U",
                     "q\\\"") "},"
                              "\"notent\":" U(
                                  "NS::U",
                                  "q") ","
                                       "\"d\":{\"__extn\":{\"fn\":\"decimal\",\"arg\":\"-1.5\"}},"
                                       "\"ip\":{\"__extn\":{\"fn\":\"ip\",\"arg\":\"10.0.0.0/8\"}},"
                                       "\"ip2\":{\"__extn\":{\"fn\":\"ip\",\"arg\":\"::1\"}},"
                                       "\"dt\":{\"__extn\":{\"fn\":\"datetime\",\"arg\":\"2024-01-01\"}},"
                                       "\"du\":{\"__extn\":{\"fn\":\"duration\",\"arg\":\"-2h\"}},"
                                       "\"off\":{\"__extn\":{\"fn\":\"offset\",\"args\":[{\"__extn\":{\"fn\":"
                                       "\"datetime\",\"arg\":\"2024-01-01\"}},"
                                       "{\"__extn\":{\"fn\":\"duration\",\"arg\":\"1d\"}}]}},"
                                       "\"bare\":\"0.5\""
                                       "},\"parents\":[]}]",
        NULL);
    const md_entity_t *e = get(es, "T", "a");
    assert_string_equal(ATTR(e, "b"), "true");
    assert_true(attr(e, "i")->kind == MD_CV_LONG && attr(e, "i")->i == INT64_MIN);
    assert_true(attr(e, "j")->i == INT64_MAX);
    assert_string_equal(ATTR(e, "s"), "\"x\xc3\xa9\"");
    assert_string_equal(ATTR(e, "set"), "[1, 3, \"a\"]");
    assert_string_equal(ATTR(e, "rec"), "{\"a\": {}, \"z\": 1}");
    assert_int_equal(attr(e, "e")->kind, MD_CV_ENTITY);
    assert_string_equal(ATTR(e, "e"), "NS::U::\"q\\\"\"");
    /* without a schema a bare {type,id} is a record */
    assert_int_equal(attr(e, "notent")->kind, MD_CV_RECORD);
    assert_int_equal(attr(e, "d")->kind, MD_CV_DECIMAL);
    assert_int_equal(attr(e, "d")->i, -15000);
    assert_int_equal(attr(e, "ip")->kind, MD_CV_IPADDR);
    assert_int_equal(attr(e, "ip")->ip->prefix, 8);
    assert_int_equal(attr(e, "ip2")->kind, MD_CV_IPADDR);
    assert_int_equal(attr(e, "ip2")->ip->v6, 1);
    assert_int_equal(attr(e, "dt")->kind, MD_CV_DATETIME);
    assert_true(attr(e, "dt")->i == INT64_C(1704067200000));
    assert_int_equal(attr(e, "du")->kind, MD_CV_DURATION);
    assert_true(attr(e, "du")->i == -INT64_C(7200000));
    assert_int_equal(attr(e, "off")->kind, MD_CV_DATETIME);
    assert_true(attr(e, "off")->i == INT64_C(1704067200000) + 86400000);
    /* without a schema a decimal-looking string stays a string */
    assert_int_equal(attr(e, "bare")->kind, MD_CV_STRING);
    drop(es);
}

static void test_values_rejected(void **state)
{
#define ONE_ATTR(v) "[{\"uid\":" U("T", "a") ",\"attrs\":{\"x\":" v "},\"parents\":[]}]"
    load_bad(ONE_ATTR("1.5"), NULL, "floating");
    load_bad(ONE_ATTR("1e3"), NULL, "floating");
    load_bad(ONE_ATTR("null"), NULL, "null");
    load_bad(ONE_ATTR("[1, null]"), NULL, "null");
    load_bad(ONE_ATTR("{\"y\":{\"z\":2.0}}"), NULL, "floating");
    /* bad escapes */
    load_bad(ONE_ATTR("{\"__extn\":{\"fn\":\"decimal\",\"arg\":\"1.23456\"}}"), NULL, "decimal");
    load_bad(ONE_ATTR("{\"__extn\":{\"fn\":\"ip\",\"arg\":\"300.0.0.1\"}}"), NULL, "ipaddr");
    load_bad(ONE_ATTR("{\"__extn\":{\"fn\":\"nope\",\"arg\":\"1\"}}"), NULL, "nope");
    load_bad(ONE_ATTR("{\"__extn\":{\"fn\":\"decimal\",\"arg\":1}}"), NULL, NULL);
    load_bad(ONE_ATTR("{\"__extn\":{\"fn\":\"decimal\"}}"), NULL, NULL);
    load_bad(ONE_ATTR("{\"__extn\":{\"fn\":\"offset\",\"args\":[1,2]}}"), NULL, NULL);
    load_bad(ONE_ATTR("{\"__extn\":{\"fn\":\"offset\",\"args\":[]}}"), NULL, NULL);
    load_bad(
        ONE_ATTR(
            "{\"__extn\":{\"fn\":\"toDays\",\"args\":[{\"__extn\":{\"fn\":\"duration\",\"arg\":\"1d\"}}]}}"),
        NULL, "extension value");
    load_bad(ONE_ATTR("{\"__entity\":{\"type\":\"T\"}}"), NULL, NULL);
    load_bad(ONE_ATTR("{\"__entity\":\"T::\\\"a\\\"\"}"), NULL, NULL);
    /* integers beyond int64 */
    load_bad(ONE_ATTR("9223372036854775808"), NULL, NULL);
    /* errors name the entity and the attribute path */
    load_bad(ONE_ATTR("{\"y\":[1, 2.5]}"), NULL, "entity 0 (T::\"a\")");
    load_bad(ONE_ATTR("{\"y\":[1, 2.5]}"), NULL, ".x.y[1]");
    /* nesting is bounded */
    {
        md_buf_t b;
        md_buf_init(&b);
        md_buf_adds(&b, "[{\"uid\":" U("T", "a") ",\"attrs\":{\"x\":");
        for (int i = 0; i < 5000; i++)
            md_buf_addc(&b, '[');
        for (int i = 0; i < 5000; i++)
            md_buf_addc(&b, ']');
        md_buf_adds(&b, "},\"parents\":[]}]");
        char *text = keep(b.p, free);
        load_bad(text, NULL, NULL);
        drop(text);
    }
#undef ONE_ATTR
}

static void test_nul_and_fdd0_keys(void **state)
{
    /* "\u0000" in keys survives exactly, next to keys that contain U+FDD0 */
    md_entities_t *es = load_ok("[{\"uid\":{\"type\":\"T\",\"id\":\"\\u0000\"},\"attrs\":{"
                                "\"\\u0000\":1,\"a\\u0000b\":2,\"\\u0000\\u0000\":3,\"\\ufdd0\":4,"
                                "\"\xef\xb7\x90\\ufdd0\":5,\"\\\\u0000\":6,\"v\":\"x\\u0000y\\ufdd0\"},"
                                "\"parents\":[],\"tags\":{\"t\\u0000\":7}}]",
                                NULL);
    md_uid_t nul = {MD_STR("T"), {"\0", 1}, 0};
    nul.hash = md_uid_hash(nul.type, nul.id);
    const md_entity_t *e = md_entities_get(es, &nul);
    assert_non_null(e);
    assert_int_equal(e->uid->id.n, 1);
    assert_int_equal(e->attrs.rec.n, 7);
    assert_string_equal(field_text(e, false, "\0", 1), "1");
    assert_string_equal(field_text(e, false, "a\0b", 3), "2");
    assert_string_equal(field_text(e, false, "\0\0", 2), "3");
    assert_string_equal(field_text(e, false, "\xef\xb7\x90", 3), "4");
    assert_string_equal(field_text(e, false, "\xef\xb7\x90\xef\xb7\x90", 6), "5");
    assert_string_equal(field_text(e, false, "\\u0000", 6), "6");
    assert_null(field_text(e, false, "", 0));
    assert_null(field_text(e, false, "ab", 2));
    const md_cv_t *v = md_cv_record_get(&e->attrs, MD_STR("v"));
    assert_non_null(v);
    assert_int_equal(v->s.n, 6);
    assert_memory_equal(v->s.p, "x\0y\xef\xb7\x90", 6);
    assert_string_equal(field_text(e, true, "t\0", 2), "7");
    /* keys stay sorted bytewise with NULs in them */
    for (uint32_t i = 1; i < e->attrs.rec.n; i++)
        assert_true(md_str_cmp(e->attrs.rec.f[i - 1].key, e->attrs.rec.f[i].key) < 0);
    drop(es);

    /* the same key spelled two ways is a duplicate */
    load_bad("[{\"uid\":" U("T", "a") ",\"attrs\":{\"\\ufdd0\":1,\"\xef\xb7\x90\":2},\"parents\":[]}]", NULL,
             NULL);
    load_bad("[{\"uid\":" U("T", "a") ",\"attrs\":{\"\\u0000\":1,\"\\u0000\":2},\"parents\":[]}]", NULL,
             NULL);
}

/* Random keys built from NUL, U+FDD0, U+FDD1 and plain characters, each spelled
 * in several JSON escapes: every key must come back byte for byte, in attrs,
 * nested records and tags, and two spellings of one key are a duplicate. */
static void test_nul_keys_random(void **state)
{
    static const struct {
        const char *bytes;
        size_t n;
        const char *spellings[3];
    } seg[] = {
        {"\0", 1, {"\\u0000", "\\u0000", "\\u0000"}},
        {"\xef\xb7\x90", 3, {"\\ufdd0", "\\uFDD0", "\xef\xb7\x90"}},
        {"\xef\xb7\x91", 3, {"\\ufdd1", "\\uFDD1", "\xef\xb7\x91"}},
        {"a", 1, {"a", "\\u0061", "a"}},
        {"\\", 1, {"\\\\", "\\u005c", "\\\\"}},
        {"\"", 1, {"\\\"", "\\u0022", "\\\""}},
        {":", 1, {":", ":", "\\u003a"}},
    };
    enum { NSEG = sizeof(seg) / sizeof(seg[0]) };
    uint64_t x = 0x853c49e6748fea9bULL;
    int dups = 0, loads = 0;
    for (int iter = 0; iter < 400; iter++) {
        char keys[4][64];
        size_t klen[4];
        int nk = 1 + (int)(iter % 4);
        md_buf_t b;
        md_buf_init(&b);
        md_buf_adds(&b, "[{\"uid\":{\"type\":\"T\",\"id\":\"a\"},\"attrs\":{");
        md_buf_t tags;
        md_buf_init(&tags);
        bool dup = false;
        for (int k = 0; k < nk; k++) {
            x ^= x << 13, x ^= x >> 7, x ^= x << 17;
            int len = 1 + (int)(x % 5);
            klen[k] = 0;
            md_buf_t spelled;
            md_buf_init(&spelled);
            for (int i = 0; i < len; i++) {
                int sg = (int)((x >> (8 + 4 * i)) % NSEG), sp = (int)((x >> (40 + 2 * i)) % 3);
                memcpy(keys[k] + klen[k], seg[sg].bytes, seg[sg].n);
                klen[k] += seg[sg].n;
                md_buf_adds(&spelled, seg[sg].spellings[sp]);
            }
            for (int j = 0; j < k; j++)
                if (klen[j] == klen[k] && memcmp(keys[j], keys[k], klen[k]) == 0) dup = true;
            md_buf_printf(&b, "%s\"%s\" : %d", k ? "," : "", spelled.p, k);
            md_buf_printf(&tags, "%s\"%s\"\n:{\"%s\":%d}", k ? "," : "", spelled.p, spelled.p, k);
            md_buf_free(&spelled);
        }
        md_buf_printf(&b, "},\"parents\":[],\"tags\":{%s}}]", tags.p);
        md_buf_free(&tags);
        assert_false(b.oom);
        char *text = keep(b.p, free);
        if (dup) {
            load_bad(text, NULL, NULL);
            dups++;
            drop(text);
            continue;
        }
        md_entities_t *es = load_ok(text, NULL);
        drop(text);
        loads++;
        const md_entity_t *e = get(es, "T", "a");
        assert_int_equal(e->attrs.rec.n, nk);
        assert_int_equal(e->tags.rec.n, nk);
        for (int k = 0; k < nk; k++) {
            const md_cv_t *v = md_cv_record_get(&e->attrs, (md_str_t){keys[k], klen[k]});
            if (v == NULL) fail_msg("iteration %d: key %d (%zu bytes) is missing", iter, k, klen[k]);
            assert_int_equal(v->kind, MD_CV_LONG);
            assert_int_equal(v->i, k);
            const md_cv_t *t = md_cv_record_get(&e->tags, (md_str_t){keys[k], klen[k]});
            assert_non_null(t);
            assert_int_equal(t->kind, MD_CV_RECORD);
            const md_cv_t *inner = md_cv_record_get(t, (md_str_t){keys[k], klen[k]});
            assert_non_null(inner);
            assert_int_equal(inner->i, k);
        }
        drop(es);
    }
    assert_true(dups > 0 && loads > 200);
}

/* ------------------------------------------------------------ values with a schema */

static const char schema_text[] =
    "entity Group;\n"
    "entity Color enum [\"red\", \"green\"];\n"
    "entity User in [Group] {\n"
    "  name: String,\n"
    "  age?: Long,\n"
    "  score?: decimal,\n"
    "  addr?: ipaddr,\n"
    "  born?: datetime,\n"
    "  ttl?: duration,\n"
    "  boss?: User,\n"
    "  fav?: Color,\n"
    "  emails?: Set<String>,\n"
    "  nested?: { a: Long, b?: Set<decimal> },\n"
    "} tags Long;\n"
    "entity Doc { color?: Color };\n"
    "action view appliesTo { principal: [User], resource: [Doc], context: { n: Long, when?: datetime } };\n"
    "action edit appliesTo { principal: [User], resource: [Doc, Color] };\n"
    "action nothing;\n";

static void test_schema_based_values(void **state)
{
    md_schema_t *s = schema_ok(schema_text);
    md_entities_t *es = load_ok(
        "[{\"uid\":" U(
            "User",
            "alice") ",\"attrs\":{"
                     "\"name\":\"Alice\",\"age\":42,\"score\":\"0.75\",\"addr\":\"10.0.0.1/"
                     "24\",\"born\":\"2000-02-29\","
                     "\"ttl\":\"1h30m\",\"boss\":" U("User", "bob") ",\"fav\":{\"__entity\":" U(
                         "Color",
                         "red") "},"
                                "\"emails\":[\"a\",\"a\"],\"nested\":{\"a\":1,\"b\":[\"1.0\",{\"__extn\":{"
                                "\"fn\":\"decimal\",\"arg\":\"1.0000\"}}]}"
                                "},\"parents\":[" U(
                                    "Group",
                                    "g") "],\"tags\":{\"level\":3}},"
                                         "{\"uid\":" U(
                                             "User",
                                             "bob") ",\"attrs\":{\"name\":\"Bob\","
                                                    "\"born\":{\"__extn\":{\"fn\":\"offset\",\"args\":[{\"__"
                                                    "extn\":{\"fn\":\"datetime\",\"arg\":\"1970-01-01\"}},"
                                                    "{\"__extn\":{\"fn\":\"duration\",\"arg\":\"1d\"}}]}}},"
                                                    "\"parents\":[]},"
                                                    "{\"uid\":" U("Color",
                                                                  "green") ",\"attrs\":{},\"parents\":[]}]",
        s);
    const md_entity_t *a = get(es, "User", "alice");
    assert_non_null(a);
    assert_int_equal(attr(a, "name")->kind, MD_CV_STRING);
    assert_int_equal(attr(a, "score")->kind, MD_CV_DECIMAL);
    assert_int_equal(attr(a, "score")->i, 7500);
    assert_int_equal(attr(a, "addr")->kind, MD_CV_IPADDR);
    assert_int_equal(attr(a, "addr")->ip->prefix, 24);
    assert_int_equal(attr(a, "born")->kind, MD_CV_DATETIME);
    assert_true(attr(a, "born")->i == INT64_C(951782400000));
    assert_int_equal(attr(a, "ttl")->kind, MD_CV_DURATION);
    assert_int_equal(attr(a, "ttl")->i, 5400000);
    assert_int_equal(attr(a, "boss")->kind, MD_CV_ENTITY);
    assert_string_equal(ATTR(a, "boss"), "User::\"bob\"");
    assert_string_equal(ATTR(a, "fav"), "Color::\"red\"");
    assert_string_equal(ATTR(a, "emails"), "[\"a\"]");
    assert_string_equal(ATTR(a, "nested"), "{\"a\": 1, \"b\": [decimal(\"1.0000\")]}");
    assert_string_equal(TAG(a, "level"), "3");
    const md_entity_t *b = get(es, "User", "bob");
    assert_true(attr(b, "born")->kind == MD_CV_DATETIME && attr(b, "born")->i == 86400000);
    /* the schema's actions are added to the store */
    assert_non_null(get(es, "Action", "view"));
    assert_non_null(get(es, "Action", "edit"));
    assert_non_null(get(es, "Action", "nothing"));
    assert_int_equal(es->n, 3 + 3);
    drop(es);
    drop(s);
}

static void test_schema_type_mismatches(void **state)
{
    md_schema_t *s = schema_ok(schema_text);
#define USER(attrs) "[{\"uid\":" U("User", "u") ",\"attrs\":" attrs ",\"parents\":[]}]"
    load_bad(USER("{\"name\":1}"), s, "name");
    load_bad(USER("{\"name\":\"n\",\"age\":\"42\"}"), s, "age");
    load_bad(USER("{\"name\":\"n\",\"age\":true}"), s, "age");
    load_bad(USER("{\"name\":\"n\",\"score\":\"0.123456\"}"), s, "score");
    load_bad(USER("{\"name\":\"n\",\"score\":1}"), s, "score");
    load_bad(USER("{\"name\":\"n\",\"score\":{\"__extn\":{\"fn\":\"ip\",\"arg\":\"1.2.3.4\"}}}"), s, "score");
    load_bad(USER("{\"name\":\"n\",\"addr\":\"not an ip\"}"), s, "addr");
    load_bad(USER("{\"name\":\"n\",\"born\":\"2000-02-30\"}"), s, "born");
    load_bad(USER("{\"name\":\"n\",\"ttl\":\"1 hour\"}"), s, "ttl");
    load_bad(USER("{\"name\":\"n\",\"boss\":" U("Group", "g") "}"), s, "boss");
    load_bad(USER("{\"name\":\"n\",\"boss\":\"User::\\\"b\\\"\"}"), s, "boss");
    load_bad(USER("{\"name\":\"n\",\"emails\":\"a\"}"), s, "emails");
    load_bad(USER("{\"name\":\"n\",\"emails\":[1]}"), s, "emails[0]");
    load_bad(USER("{\"name\":\"n\",\"nested\":{\"a\":\"1\"}}"), s, "nested.a");
    load_bad(USER("{\"name\":\"n\",\"nested\":{\"a\":1,\"b\":[\"x\"]}}"), s, "nested.b[0]");
    load_bad(USER("{\"name\":1.5}"), s, NULL);
    load_bad(USER("{\"name\":null}"), s, NULL);
    /* required attributes, including inside records */
    load_bad(USER("{}"), s, "`name`");
    load_bad(USER("{\"name\":\"n\",\"nested\":{}}"), s, "`a`");
    /* attributes the schema does not declare */
    load_bad(USER("{\"name\":\"n\",\"nick\":\"x\"}"), s, "nick");
    load_bad(USER("{\"name\":\"n\",\"nested\":{\"a\":1,\"c\":2}}"), s, "`c`");
    /* tags typed by the schema; types without tags take none */
    load_bad(
        "[{\"uid\":" U("User", "u") ",\"attrs\":{\"name\":\"n\"},\"parents\":[],\"tags\":{\"t\":\"x\"}}]", s,
        "tags");
    load_bad("[{\"uid\":" U("Group", "g") ",\"attrs\":{},\"parents\":[],\"tags\":{\"t\":1}}]", s, "tags");
#undef USER
    drop(s);
}

static void test_schema_entity_checks(void **state)
{
    md_schema_t *s = schema_ok(schema_text);
    /* undeclared entity types */
    load_bad("[" ENT("Robot", "r", "{}", "") "]", s, "Robot");
    load_bad("[" ENT("NS::User", "u", "{}", "") "]", s, "NS::User");
    /* parents must be of a memberOfTypes type */
    load_bad("[" ENT("User", "u", "{\"name\":\"n\"}", U("Doc", "d")) "]", s, "memberOfTypes");
    load_bad("[" ENT("Group", "g", "{}", U("Group", "h")) "]", s, "memberOfTypes");
    /* enum entities: only the declared ids */
    load_bad("[" ENT("Color", "blue", "{}", "") "]", s, "blue");
    md_entities_t *es = load_ok("[" ENT("Color", "red", "{}", "") "," ENT("Color", "green", "{}", "") "]", s);
    assert_non_null(get(es, "Color", "red"));
    drop(es);
    /* actions: undeclared ones and attributes on actions are errors */
    load_bad("[" ENT("Action", "fly", "{}", "") "]", s, "fly");
    load_bad("[" ENT("Action", "view", "{\"a\":1}", "") "]", s, "attributes");
    /* an action listed in the file, consistently with the schema */
    es = load_ok("[" ENT("Action", "view", "{}", "") "]", s);
    assert_non_null(get(es, "Action", "view"));
    drop(es);
    drop(s);
}

/* conformance.rs validate_entity_attributes / validate_tags call
 * validate_euids_in_partial_value: an enum entity inside an attribute or tag
 * value must use a declared id (cedar-wasm checkParseEntities agrees). */
static void test_schema_enum_ids_in_values(void **state)
{
    md_schema_t *s = schema_ok(schema_text);
    md_entities_t *es = load_ok("[" ENT("Doc", "d", "{\"color\":" U("Color", "green") "}", "") "]", s);
    drop(es);
    load_bad("[" ENT("Doc", "d", "{\"color\":" U("Color", "blue") "}", "") "]", s, "blue");
    load_bad("[" ENT("Doc", "d", "{\"color\":{\"__entity\":" U("Color", "purple") "}}", "") "]", s, "purple");
    drop(s);

    /* nested in sets and records, and in tags */
    s = schema_ok("entity Color enum [\"red\"];\n"
                  "entity Box { cs: Set<Color>, r: { c: Color } } tags Color;");
    es = load_ok("[{\"uid\":" U("Box", "b") ",\"attrs\":{\"cs\":[" U("Color", "red") "],\"r\":{\"c\":" U(
                     "Color", "red") "}},"
                                     "\"parents\":[],\"tags\":{\"t\":" U("Color", "red") "}}]",
                 s);
    drop(es);
    load_bad("[{\"uid\":" U("Box", "b") ",\"attrs\":{\"cs\":[" U("Color", "red") "," U(
                 "Color", "tan") "],"
                                 "\"r\":{\"c\":" U("Color", "red") "}},\"parents\":[]}]",
             s, "tan");
    load_bad("[{\"uid\":" U("Box", "b") ",\"attrs\":{\"cs\":[],\"r\":{\"c\":" U("Color",
                                                                                "tan") "}},\"parents\":[]}]",
             s, "tan");
    load_bad("[{\"uid\":" U("Box", "b") ",\"attrs\":{\"cs\":[],\"r\":{\"c\":" U(
                 "Color", "red") "}},\"parents\":[],"
                                 "\"tags\":{\"t\":" U("Color", "tan") "}}]",
             s, "tan");
    drop(s);
}

static void test_schema_enum_ids_in_parents(void **state)
{
    md_schema_t *s = schema_ok("entity Team enum [\"a\", \"b\"]; entity P in [Team];");
    md_entities_t *es = load_ok("[" ENT("P", "p", "{}", U("Team", "a")) "]", s);
    assert_true(in(es, "P", "p", "Team", "a"));
    drop(es);
    load_bad("[" ENT("P", "p", "{}", U("Team", "c")) "]", s, "\"c\"");
    drop(s);
}

/* ------------------------------------------------------------ md_json_to_cv and md_json_to_uid */

static void test_json_to_cv_direct(void **state)
{
    md_arena_t *a = new_arena(1024);
    md_err_t err = {0};
    json_error_t je;
    md_cv_t v;
    const char *txt = "{\"k\":[1,{\"__entity\":{\"type\":\"T\",\"id\":\"i\"}}]}";
    json_t *j = md_json_loadb(txt, strlen(txt), &je);
    assert_non_null(j);
    assert_int_equal(md_json_to_cv(j, NULL, a, "ctx", 0, &v, &err), MD_OK);
    assert_int_equal(v.kind, MD_CV_RECORD);
    const md_cv_t *k = md_cv_record_get(&v, MD_STR("k"));
    assert_non_null(k);
    assert_int_equal(k->set.n, 2);
    assert_int_equal(k->set.v[1].kind, MD_CV_ENTITY);
    json_decref(j);

    /* depth: the caller's depth counts against the limit */
    j = json_integer(1);
    assert_int_equal(md_json_to_cv(j, NULL, a, "deep", MD_CEDAR_MAX_DEPTH + 1, &v, &err), MD_EINVAL);
    assert_non_null(strstr(err.msg, "deep"));
    json_decref(j);

    const md_uid_t *u;
    md_err_clear(&err);
    txt = "{\"__entity\":{\"type\":\"A::B\",\"id\":\"\"}}";
    j = md_json_loadb(txt, strlen(txt), &je);
    assert_non_null(j);
    assert_int_equal(md_json_to_uid(j, a, "u", &u, &err), MD_OK);
    assert_true(md_str_eqc(u->type, "A::B"));
    assert_int_equal(u->id.n, 0);
    assert_true(u->hash == md_uid_hash(u->type, u->id));
    json_decref(j);
    txt = "{\"type\":\"A\",\"id\":\"x\",\"more\":1}";
    j = md_json_loadb(txt, strlen(txt), &je);
    assert_non_null(j);
    assert_int_equal(md_json_to_uid(j, a, "u", &u, &err), MD_EINVAL);
    json_decref(j);
    drop(a);
}

/* ------------------------------------------------------------ requests */

static int request_at(const char *text, const md_schema_t *s, bool validate, md_arena_t *a, md_request_t *r,
                      md_err_t *err)
{
    json_error_t je;
    json_t *j = md_json_loadb(text, strlen(text), &je);
    if (j == NULL) fail_msg("bad JSON in test: %s", je.text);
    memset(err, 0, sizeof(*err));
    int rc = md_request_from_json(j, s, validate, a, r, err);
    json_decref(j);
    return rc;
}

#define REQ(p, a, r, ctx) "{\"principal\":" p ",\"action\":" a ",\"resource\":" r ctx "}"

static void test_request_without_schema(void **state)
{
    md_arena_t *a = new_arena(4096);
    md_request_t r;
    md_err_t err;
    assert_int_equal(
        request_at(
            REQ(U("User", "u"), U("Action", "view"), U("Doc", "d"),
                ",\"context\":{\"x\":{\"__extn\":{\"fn\":\"decimal\",\"arg\":\"1.0\"}},\"s\":\"0.5\"}"),
            NULL, true, a, &r, &err),
        MD_OK);
    assert_true(md_str_eqc(r.principal->type, "User"));
    assert_true(md_str_eqc(r.action->id, "view"));
    assert_true(md_str_eqc(r.resource->id, "d"));
    assert_int_equal(r.context.kind, MD_CV_RECORD);
    assert_int_equal(md_cv_record_get(&r.context, MD_STR("x"))->kind, MD_CV_DECIMAL);
    assert_int_equal(md_cv_record_get(&r.context, MD_STR("s"))->kind, MD_CV_STRING);

    /* context may be omitted */
    assert_int_equal(
        request_at(REQ(U("User", "u"), U("Action", "view"), U("Doc", "d"), ""), NULL, false, a, &r, &err),
        MD_OK);
    assert_int_equal(r.context.kind, MD_CV_RECORD);
    assert_int_equal(r.context.rec.n, 0);

    /* malformed requests */
    assert_int_equal(request_at("[]", NULL, false, a, &r, &err), MD_EINVAL);
    assert_int_equal(request_at("{\"principal\":" U("User", "u") ",\"action\":" U("Action", "v") "}", NULL,
                                false, a, &r, &err),
                     MD_EINVAL);
    assert_non_null(strstr(err.msg, "resource"));
    assert_int_equal(
        request_at(REQ("\"User::\\\"u\\\"\"", U("Action", "v"), U("Doc", "d"), ""), NULL, false, a, &r, &err),
        MD_EINVAL);
    assert_non_null(strstr(err.msg, "request.principal"));
    assert_int_equal(request_at(REQ(U("User", "u"), U("Action", "v"), U("Doc", "d"), ",\"context\":[1]"),
                                NULL, false, a, &r, &err),
                     MD_EINVAL);
    assert_non_null(strstr(err.msg, "context"));
    assert_int_equal(
        request_at(REQ(U("User", "u"), U("Action", "v"), U("Doc", "d"), ",\"context\":{\"f\":0.5}"), NULL,
                   false, a, &r, &err),
        MD_EINVAL);
    drop(a);
}

static void test_request_with_schema(void **state)
{
    md_schema_t *s = schema_ok(schema_text);
    md_arena_t *a = new_arena(4096);
    md_request_t r;
    md_err_t err;
#define OK_CTX ",\"context\":{\"n\":1,\"when\":\"2024-05-05T10:00:00Z\"}"

    /* a valid request: the context is parsed with the action's context type */
    assert_int_equal(
        request_at(REQ(U("User", "u"), U("Action", "view"), U("Doc", "d"), OK_CTX), s, true, a, &r, &err),
        MD_OK);
    assert_int_equal(md_cv_record_get(&r.context, MD_STR("when"))->kind, MD_CV_DATETIME);
    assert_int_equal(md_request_validate(&r, s, &err), MD_OK);

    /* principal / resource type not in appliesTo */
    assert_int_equal(
        request_at(REQ(U("Doc", "x"), U("Action", "view"), U("Doc", "d"), OK_CTX), s, true, a, &r, &err),
        MD_ESCHEMA);
    assert_non_null(strstr(err.msg, "principal"));
    assert_int_equal(
        request_at(REQ(U("User", "u"), U("Action", "view"), U("User", "d"), OK_CTX), s, true, a, &r, &err),
        MD_ESCHEMA);
    assert_non_null(strstr(err.msg, "resource"));
    /* ... accepted when not validating */
    assert_int_equal(
        request_at(REQ(U("Doc", "x"), U("Action", "view"), U("User", "d"), OK_CTX), s, false, a, &r, &err),
        MD_OK);

    /* undeclared action, and an action that applies to nothing */
    assert_int_equal(
        request_at(REQ(U("User", "u"), U("Action", "fly"), U("Doc", "d"), ""), s, true, a, &r, &err),
        MD_ESCHEMA);
    assert_non_null(strstr(err.msg, "fly"));
    assert_int_equal(
        request_at(REQ(U("User", "u"), U("Action", "nothing"), U("Doc", "d"), ""), s, true, a, &r, &err),
        MD_ESCHEMA);
    /* an undeclared action's context is read without a schema when not validating */
    assert_int_equal(
        request_at(REQ(U("User", "u"), U("Action", "fly"), U("Doc", "d"), ",\"context\":{\"z\":\"1.0\"}"), s,
                   false, a, &r, &err),
        MD_OK);
    assert_int_equal(md_cv_record_get(&r.context, MD_STR("z"))->kind, MD_CV_STRING);

    /* a context that does not conform: wrong type, missing, undeclared */
    assert_true(
        request_at(REQ(U("User", "u"), U("Action", "view"), U("Doc", "d"), ",\"context\":{\"n\":\"1\"}"), s,
                   true, a, &r, &err) < 0);
    assert_non_null(strstr(err.msg, "n"));
    assert_true(request_at(REQ(U("User", "u"), U("Action", "view"), U("Doc", "d"), ",\"context\":{}"), s,
                           true, a, &r, &err) < 0);
    assert_non_null(strstr(err.msg, "`n`"));
    assert_true(
        request_at(REQ(U("User", "u"), U("Action", "view"), U("Doc", "d"), ""), s, true, a, &r, &err) < 0);
    assert_true(request_at(REQ(U("User", "u"), U("Action", "view"), U("Doc", "d"),
                               ",\"context\":{\"n\":1,\"extra\":2}"),
                           s, true, a, &r, &err) < 0);
    assert_non_null(strstr(err.msg, "extra"));
    assert_true(request_at(REQ(U("User", "u"), U("Action", "view"), U("Doc", "d"),
                               ",\"context\":{\"n\":1,\"when\":\"x\"}"),
                           s, true, a, &r, &err) < 0);

    /* enum entities in the request */
    assert_int_equal(
        request_at(REQ(U("User", "u"), U("Action", "edit"), U("Color", "red"), ""), s, true, a, &r, &err),
        MD_OK);
    assert_true(request_at(REQ(U("User", "u"), U("Action", "edit"), U("Color", "blue"), ""), s, true, a, &r,
                           &err) < 0);
    assert_non_null(strstr(err.msg, "blue"));
    assert_int_equal(
        request_at(REQ(U("User", "u"), U("Action", "edit"), U("Color", "blue"), ""), s, false, a, &r, &err),
        MD_OK);
#undef OK_CTX
    drop(a);
    drop(s);
}

static void test_request_validate_direct(void **state)
{
    md_schema_t *s = schema_ok(schema_text);
    md_arena_t *a = new_arena(4096);
    md_request_t r;
    md_err_t err;
    /* built without a schema, then validated: the context must conform */
    assert_int_equal(
        request_at(REQ(U("User", "u"), U("Action", "view"), U("Doc", "d"), ",\"context\":{\"n\":\"one\"}"),
                   NULL, false, a, &r, &err),
        MD_OK);
    md_err_clear(&err);
    assert_int_equal(md_request_validate(&r, s, &err), MD_ESCHEMA);
    assert_non_null(strstr(err.msg, "context"));
    /* a string where the schema wants a datetime does not conform either */
    assert_int_equal(request_at(REQ(U("User", "u"), U("Action", "view"), U("Doc", "d"),
                                    ",\"context\":{\"n\":1,\"when\":\"2024-01-01\"}"),
                                NULL, false, a, &r, &err),
                     MD_OK);
    md_err_clear(&err);
    assert_int_equal(md_request_validate(&r, s, &err), MD_ESCHEMA);
    /* a conforming one passes */
    assert_int_equal(
        request_at(REQ(U("User", "u"), U("Action", "view"), U("Doc", "d"), ",\"context\":{\"n\":7}"), NULL,
                   false, a, &r, &err),
        MD_OK);
    md_err_clear(&err);
    assert_int_equal(md_request_validate(&r, s, &err), MD_OK);
    drop(a);
    drop(s);
}

/* Every other request-validation failure is MD_ESCHEMA ("input does not conform
 * to the schema", core.h); an undeclared enum id is the same kind of failure. */
static void test_request_enum_id_error_code(void **state)
{
    md_schema_t *s = schema_ok(schema_text);
    md_arena_t *a = new_arena(4096);
    md_request_t r;
    md_err_t err;
    assert_int_equal(
        request_at(REQ(U("User", "u"), U("Action", "edit"), U("Color", "blue"), ""), s, false, a, &r, &err),
        MD_OK);
    md_err_clear(&err);
    assert_int_equal(md_request_validate(&r, s, &err), MD_ESCHEMA);
    assert_int_equal(err.code, MD_ESCHEMA);
    drop(a);
    drop(s);
}

/* Request uids go through the same entity-reference parsing: the type must be a Cedar name. */
static void test_request_entity_type_names_validated(void **state)
{
    md_arena_t *a = new_arena(4096);
    md_request_t r;
    md_err_t err;
    assert_true(request_at(REQ(U("Bad Type", "u"), U("Action", "v"), U("Doc", "d"), ""), NULL, false, a, &r,
                           &err) < 0);
    assert_true(request_at(REQ(U("User", "u"), U("if", "v"), U("Doc", "d"), ""), NULL, false, a, &r, &err) <
                0);
    assert_true(
        request_at(REQ(U("User", "u"), U("Action", "v"), U("Doc::", "d"), ""), NULL, false, a, &r, &err) < 0);
    drop(a);
}

/* coreschema.rs validate_context: enum entities inside the context are checked too. */
static void test_request_enum_ids_in_context(void **state)
{
    md_schema_t *s =
        schema_ok("entity Color enum [\"red\"]; entity U; entity D;\n"
                  "action a appliesTo { principal: [U], resource: [D], context: { c: Color } };");
    md_arena_t *a = new_arena(4096);
    md_request_t r;
    md_err_t err;
    assert_int_equal(request_at(REQ(U("U", "u"), U("Action", "a"), U("D", "d"),
                                    ",\"context\":{\"c\":" U("Color", "red") "}"),
                                s, true, a, &r, &err),
                     MD_OK);
    assert_true(request_at(REQ(U("U", "u"), U("Action", "a"), U("D", "d"),
                               ",\"context\":{\"c\":" U("Color", "pink") "}"),
                           s, true, a, &r, &err) < 0);
    assert_non_null(strstr(err.msg, "pink"));
    drop(a);
    drop(s);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_teardown(test_parents_and_ancestors, drop_all),
        cmocka_unit_test_teardown(test_deep_and_wide_hierarchies, drop_all),
        cmocka_unit_test_teardown(test_cycles_rejected, drop_all),
        cmocka_unit_test_teardown(test_duplicates_rejected, drop_all),
        cmocka_unit_test_teardown(test_malformed_entities, drop_all),
        cmocka_unit_test_teardown(test_entity_type_names_validated, drop_all),
        cmocka_unit_test_teardown(test_unknown_escapes_rejected, drop_all),
        cmocka_unit_test_teardown(test_values_schemaless, drop_all),
        cmocka_unit_test_teardown(test_values_rejected, drop_all),
        cmocka_unit_test_teardown(test_nul_and_fdd0_keys, drop_all),
        cmocka_unit_test_teardown(test_nul_keys_random, drop_all),
        cmocka_unit_test_teardown(test_schema_based_values, drop_all),
        cmocka_unit_test_teardown(test_schema_type_mismatches, drop_all),
        cmocka_unit_test_teardown(test_schema_entity_checks, drop_all),
        cmocka_unit_test_teardown(test_schema_enum_ids_in_values, drop_all),
        cmocka_unit_test_teardown(test_schema_enum_ids_in_parents, drop_all),
        cmocka_unit_test_teardown(test_json_to_cv_direct, drop_all),
        cmocka_unit_test_teardown(test_request_without_schema, drop_all),
        cmocka_unit_test_teardown(test_request_with_schema, drop_all),
        cmocka_unit_test_teardown(test_request_validate_direct, drop_all),
        cmocka_unit_test_teardown(test_request_entity_type_names_validated, drop_all),
        cmocka_unit_test_teardown(test_request_enum_id_error_code, drop_all),
        cmocka_unit_test_teardown(test_request_enum_ids_in_context, drop_all),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
