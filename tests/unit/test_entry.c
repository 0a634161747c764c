/*
 * test_entry.c: selectors (every syntax rule, accepted and refused; the
 * matching truth table) and registration entries (the JSON form, every
 * member's rules with the member named in the error, canonical round trip,
 * validation of entries built in code).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

#include <cmocka.h>

#include "identity/attest.h"
#include "identity/entry.h"
#include "identity/selector.h"

#define SHA_A "4b227777d4dd1fc61c6f884f48641d02b4d121d3fd328cb08b5531fcacdabf8a"
#define SHA_B "ef2d127de37b942baad06145e54b0c619a1f22327b2ebbcfbec78f5564afe39d"

/* ---- selectors ---- */

static int sel_parse(const char *text, md_arena_t *a, md_selector_t *s, md_err_t *err)
{
    md_err_clear(err);
    return md_selector_parse(md_str_c(text), a, s, err);
}

static void expect_sel_ok(md_arena_t *a, const char *text)
{
    md_selector_t s;
    md_err_t err = {0};
    int rc = sel_parse(text, a, &s, &err);
    if (rc != MD_OK) fail_msg("\"%s\" refused: %s", text, err.msg);
    assert_int_equal(md_selector_check(&s, &err), MD_OK);
    /* canonical: printing gives the text back */
    md_buf_t b;
    md_buf_init(&b);
    md_selector_format(&s, &b);
    assert_string_equal(b.p, text);
    md_buf_free(&b);
}

static void expect_sel_bad(md_arena_t *a, const char *text, const char *msg_part)
{
    md_selector_t s;
    md_err_t err = {0};
    int rc = sel_parse(text, a, &s, &err);
    if (rc != MD_EINVAL) fail_msg("\"%s\" accepted", text);
    if (strstr(err.msg, msg_part) == NULL)
        fail_msg("\"%s\": message \"%s\" lacks \"%s\"", text, err.msg, msg_part);
}

static void test_selector_parse_valid(void **state)
{
    md_arena_t a;
    md_arena_init(&a, 4096);
    md_selector_t s;
    md_err_t err = {0};
    assert_int_equal(sel_parse("unix:uid:1000", &a, &s, &err), MD_OK);
    assert_int_equal(s.type, MD_SEL_UNIX_UID);
    assert_int_equal(s.id, 1000);
    assert_null(s.str);
    assert_int_equal(sel_parse("unix:gid:0", &a, &s, &err), MD_OK);
    assert_int_equal(s.type, MD_SEL_UNIX_GID);
    assert_int_equal(s.id, 0);
    assert_int_equal(sel_parse("unix:user:alice", &a, &s, &err), MD_OK);
    assert_int_equal(s.type, MD_SEL_UNIX_USER);
    assert_string_equal(s.str, "alice");
    assert_int_equal(s.len, 5);
    assert_int_equal(sel_parse("unix:path:/usr/bin/agent", &a, &s, &err), MD_OK);
    assert_int_equal(s.type, MD_SEL_UNIX_PATH);
    assert_string_equal(s.str, "/usr/bin/agent");
    assert_int_equal(sel_parse("unix:sha256:" SHA_A, &a, &s, &err), MD_OK);
    assert_int_equal(s.type, MD_SEL_UNIX_SHA256);
    assert_string_equal(s.str, SHA_A);

    expect_sel_ok(&a, "unix:uid:0");
    expect_sel_ok(&a, "unix:uid:4294967294");
    expect_sel_ok(&a, "unix:gid:65533");
    expect_sel_ok(&a, "unix:user:svc_agent-1.x");
    expect_sel_ok(&a, "unix:user:MACHINE$");
    expect_sel_ok(&a, "unix:user:0day");                             /* digits, but not only digits */
    expect_sel_ok(&a, "unix:user:abcdefghijklmnopqrstuvwxyz012345"); /* 32 bytes */
    expect_sel_ok(&a, "unix:path:/a");
    expect_sel_ok(&a, "unix:path:/opt/my agent/bin/run"); /* spaces are fine */
    expect_sel_ok(&a, "unix:path:/x/.../y");              /* "..." is a name */
    expect_sel_ok(&a, "unix:path:/x/.hidden");
    expect_sel_ok(&a, "unix:path:/caf\xc3\xa9");
    expect_sel_ok(&a, "unix:path:/x/(deleted)");
    expect_sel_ok(&a, "unix:sha256:" SHA_B);

    char path[16 + MD_SELECTOR_PATH_MAX + 2];
    strcpy(path, "unix:path:/");
    memset(path + 11, 'p', MD_SELECTOR_PATH_MAX - 1);
    path[10 + MD_SELECTOR_PATH_MAX] = '\0'; /* exactly 4095 bytes of path */
    expect_sel_ok(&a, path);
    md_arena_free(&a);
}

static void test_selector_parse_refused(void **state)
{
    md_arena_t a;
    md_arena_init(&a, 4096);
    /* types */
    expect_sel_bad(&a, "", "empty");
    expect_sel_bad(&a, "k8s:ns:default", "unknown selector type \"k8s:ns\"");
    expect_sel_bad(&a, "unix:pid:1", "unknown selector type \"unix:pid\"");
    expect_sel_bad(&a, "UNIX:uid:0", "unknown selector type");
    expect_sel_bad(&a, "unix:uid", "unknown selector type");
    expect_sel_bad(&a, "unix:", "unknown selector type");
    expect_sel_bad(&a, "unix:sha1:da39a3ee5e6b4b0d3255bfef95601890afd80709", "unknown selector type");
    expect_sel_bad(&a, " unix:uid:0", "unknown selector type");
    expect_sel_bad(&a, "unix:Uid:0", "unknown selector type");
    /* uid / gid */
    expect_sel_bad(&a, "unix:uid:", "unix:uid: missing number");
    expect_sel_bad(&a, "unix:uid:-1", "not a decimal number");
    expect_sel_bad(&a, "unix:uid:+1", "not a decimal number");
    expect_sel_bad(&a, "unix:uid:1a", "not a decimal number");
    expect_sel_bad(&a, "unix:uid: 1", "not a decimal number");
    expect_sel_bad(&a, "unix:uid:1 ", "not a decimal number");
    expect_sel_bad(&a, "unix:uid:0x10", "not a decimal number");
    expect_sel_bad(&a, "unix:uid:01", "leading zero");
    expect_sel_bad(&a, "unix:uid:00", "leading zero");
    expect_sel_bad(&a, "unix:uid:4294967295", "out of range"); /* (uid_t)-1 */
    expect_sel_bad(&a, "unix:uid:4294967296", "out of range");
    expect_sel_bad(&a, "unix:uid:99999999999", "out of range");
    expect_sel_bad(&a, "unix:gid:abc", "unix:gid:");
    expect_sel_bad(&a, "unix:gid:4294967295", "out of range");
    /* user */
    expect_sel_bad(&a, "unix:user:", "missing user name");
    expect_sel_bad(&a, "unix:user:-rf", "must not start with '-' or '.'");
    expect_sel_bad(&a, "unix:user:.x", "must not start with '-' or '.'");
    expect_sel_bad(&a, "unix:user:1000", "all digits (write unix:uid:1000");
    expect_sel_bad(&a, "unix:user:al ice", "outside [A-Za-z0-9._-]");
    expect_sel_bad(&a, "unix:user:a:b", "outside");
    expect_sel_bad(&a, "unix:user:a$b", "outside");
    expect_sel_bad(&a, "unix:user:$", "outside");
    expect_sel_bad(&a, "unix:user:caf\xc3\xa9", "outside");
    expect_sel_bad(&a, "unix:user:abcdefghijklmnopqrstuvwxyz0123456", "longer than 32");
    /* path */
    expect_sel_bad(&a, "unix:path:", "missing path");
    expect_sel_bad(&a, "unix:path:usr/bin/x", "absolute");
    expect_sel_bad(&a, "unix:path:~/x", "absolute");
    expect_sel_bad(&a, "unix:path:/", "must name a file");
    expect_sel_bad(&a, "unix:path:/usr/bin/", "must not end with '/'");
    expect_sel_bad(&a, "unix:path://usr/bin/x", "empty segment");
    expect_sel_bad(&a, "unix:path:/usr//bin/x", "empty segment");
    expect_sel_bad(&a, "unix:path:/usr/./bin/x", "\".\" or \"..\"");
    expect_sel_bad(&a, "unix:path:/usr/../bin/x", "\".\" or \"..\"");
    expect_sel_bad(&a, "unix:path:/usr/bin/..", "\".\" or \"..\"");
    expect_sel_bad(&a, "unix:path:/.", "\".\" or \"..\"");
    expect_sel_bad(&a, "unix:path:/usr/bin/x\n", "control character");
    expect_sel_bad(&a, "unix:path:/usr/bin/\tx", "control character");
    expect_sel_bad(&a, "unix:path:/usr/bin/\x7f", "control character");
    expect_sel_bad(&a, "unix:path:/usr/bin/\xff", "UTF-8");
    expect_sel_bad(&a, "unix:path:/usr/bin/agent (deleted)", "(deleted)");
    char path[16 + MD_SELECTOR_PATH_MAX + 2];
    strcpy(path, "unix:path:/");
    memset(path + 11, 'p', MD_SELECTOR_PATH_MAX);
    path[11 + MD_SELECTOR_PATH_MAX] = '\0'; /* 4096 bytes of path */
    expect_sel_bad(&a, path, "longer than 4095");
    /* sha256 */
    expect_sel_bad(&a, "unix:sha256:", "64 hex digits, got 0");
    expect_sel_bad(&a, "unix:sha256:" SHA_A "0", "64 hex digits, got 65");
    expect_sel_bad(&a, "unix:sha256:4b227777d4dd1fc61c6f884f48641d02b4d121d3fd328cb08b5531fcacdabf8",
                   "64 hex digits, got 63");
    expect_sel_bad(&a, "unix:sha256:4B227777D4DD1FC61C6F884F48641D02B4D121D3FD328CB08B5531FCACDABF8A",
                   "lowercase");
    expect_sel_bad(&a, "unix:sha256:gb227777d4dd1fc61c6f884f48641d02b4d121d3fd328cb08b5531fcacdabf8a",
                   "non-hex");
    expect_sel_bad(&a, "unix:sha256:sha256:4b227777d4dd1fc61c6f884f48641d02b4d121d3fd328cb08b5531fca",
                   "non-hex");

    /* a NUL inside the text */
    md_selector_t s;
    md_err_t err = {0};
    assert_int_equal(md_selector_parse((md_str_t){"unix:uid:0\0", 11}, &a, &s, &err), MD_EINVAL);
    assert_non_null(strstr(err.msg, "NUL"));
    md_err_clear(&err);
    assert_int_equal(md_selector_parse((md_str_t){"unix:user:a\0b", 13}, &a, &s, &err), MD_EINVAL);
    /* untrusted text in messages is cut and made printable */
    md_err_clear(&err);
    assert_int_equal(
        sel_parse("x\x01y\"z:aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa", &a, &s, &err),
        MD_EINVAL);
    assert_null(strchr(err.msg, '\x01'));
    assert_non_null(strstr(err.msg, "x?y?z:"));
    assert_non_null(strstr(err.msg, "...\""));
    md_arena_free(&a);
}

static void test_selector_check_built(void **state)
{
    md_err_t err = {0};
    md_selector_t ok_uid = {.type = MD_SEL_UNIX_UID, .id = 7};
    assert_int_equal(md_selector_check(&ok_uid, &err), MD_OK);
    md_selector_t bad_uid = {.type = MD_SEL_UNIX_UID, .id = UINT32_MAX};
    assert_int_equal(md_selector_check(&bad_uid, &err), MD_EINVAL);
    md_err_clear(&err);
    md_selector_t uid_str = {.type = MD_SEL_UNIX_UID, .id = 1, .str = "x", .len = 1};
    assert_int_equal(md_selector_check(&uid_str, &err), MD_EINVAL);
    md_err_clear(&err);
    md_selector_t path_len = {.type = MD_SEL_UNIX_PATH, .str = "/a/b", .len = 2}; /* len disagrees */
    assert_int_equal(md_selector_check(&path_len, &err), MD_EINVAL);
    md_err_clear(&err);
    md_selector_t path_null = {.type = MD_SEL_UNIX_PATH};
    assert_int_equal(md_selector_check(&path_null, &err), MD_EINVAL);
    md_err_clear(&err);
    md_selector_t path_rel = {.type = MD_SEL_UNIX_PATH, .str = "a/b", .len = 3};
    assert_int_equal(md_selector_check(&path_rel, &err), MD_EINVAL);
    assert_non_null(strstr(err.msg, "absolute"));
    md_err_clear(&err);
    md_selector_t bad_type = {.type = (md_selector_type_t)99};
    assert_int_equal(md_selector_check(&bad_type, &err), MD_EINVAL);
    assert_string_equal(md_selector_type_name((md_selector_type_t)99), "?");

    /* lists: one of each type at most */
    md_selector_t list[3] = {
        {.type = MD_SEL_UNIX_UID, .id = 1},
        {.type = MD_SEL_UNIX_SHA256, .str = SHA_A, .len = 64},
        {.type = MD_SEL_UNIX_UID, .id = 2},
    };
    md_err_clear(&err);
    assert_int_equal(md_selectors_check(list, 2, &err), MD_OK);
    assert_int_equal(md_selectors_check(list, 3, &err), MD_EINVAL);
    assert_non_null(strstr(err.msg, "selectors[2]: a second unix:uid selector (selectors[0] is one)"));
    list[2] = list[0]; /* exact repeat: refused too */
    md_err_clear(&err);
    assert_int_equal(md_selectors_check(list, 3, &err), MD_EINVAL);
    md_err_clear(&err);
    assert_int_equal(md_selectors_check(NULL, 0, &err), MD_OK);
}

/* An attestation as md_attest_peer() would fill it. */
static md_attestation_t sample_attestation(void)
{
    md_attestation_t a;
    memset(&a, 0, sizeof(a));
    a.pid = 4242;
    a.uid = 1000;
    a.gid = 100;
    a.user_known = true;
    strcpy(a.user, "alice");
    strcpy(a.exe_path, "/usr/bin/agent");
    strcpy(a.exe_sha256, SHA_A);
    a.start_time = 12345;
    a.ok = true;
    return a;
}

static bool match1(const char *text, const md_attestation_t *att)
{
    md_arena_t a;
    md_arena_init(&a, 1024);
    md_selector_t s;
    md_err_t err = {0};
    if (md_selector_parse(md_str_c(text), &a, &s, &err) != MD_OK) fail_msg("%s: %s", text, err.msg);
    bool m = md_selector_match(&s, att);
    md_arena_free(&a);
    return m;
}

static void test_selector_match_single(void **state)
{
    md_attestation_t att = sample_attestation();
    assert_true(match1("unix:uid:1000", &att));
    assert_false(match1("unix:uid:1001", &att));
    assert_false(match1("unix:uid:0", &att));
    assert_true(match1("unix:gid:100", &att));
    assert_false(match1("unix:gid:1000", &att)); /* uid value in a gid selector */
    assert_true(match1("unix:user:alice", &att));
    assert_false(match1("unix:user:Alice", &att)); /* exact bytes */
    assert_false(match1("unix:user:alic", &att));
    assert_false(match1("unix:user:alicex", &att));
    assert_true(match1("unix:path:/usr/bin/agent", &att));
    assert_false(match1("unix:path:/usr/bin/agen", &att));
    assert_false(match1("unix:path:/usr/bin/agent2", &att));
    assert_false(match1("unix:path:/usr/local/bin/agent", &att));
    assert_true(match1("unix:sha256:" SHA_A, &att));
    assert_false(match1("unix:sha256:" SHA_B, &att));

    /* an unknown user never matches a user selector */
    md_attestation_t nouser = att;
    nouser.user_known = false;
    nouser.user[0] = '\0';
    assert_false(match1("unix:user:alice", &nouser));
    /* an unsuccessful attestation matches nothing, even uid 0 on a zeroed struct */
    md_attestation_t zero;
    memset(&zero, 0, sizeof(zero));
    assert_false(match1("unix:uid:0", &zero));
    assert_false(match1("unix:gid:0", &zero));
    md_attestation_t notok = att;
    notok.ok = false;
    assert_false(match1("unix:uid:1000", &notok));
    assert_false(match1("unix:sha256:" SHA_A, &notok));
    /* a digest that is not 64 characters long never matches */
    md_attestation_t shortsha = att;
    shortsha.exe_sha256[10] = '\0';
    assert_false(match1("unix:sha256:" SHA_A, &shortsha));
}

/* The truth table: a list matches iff it is non-empty and every selector matches. */
static void test_selector_match_table(void **state)
{
    md_attestation_t att = sample_attestation();
    const char *good[MD_SEL_TYPE_COUNT] = {"unix:uid:1000", "unix:gid:100", "unix:user:alice",
                                           "unix:path:/usr/bin/agent", "unix:sha256:" SHA_A};
    const char *bad[MD_SEL_TYPE_COUNT] = {"unix:uid:0", "unix:gid:0", "unix:user:bob",
                                          "unix:path:/usr/bin/other", "unix:sha256:" SHA_B};
    md_arena_t a;
    md_arena_init(&a, 4096);
    int checked = 0;
    /* every subset of types (which are present), and every good/bad assignment */
    for (unsigned present = 0; present < (1u << MD_SEL_TYPE_COUNT); present++) {
        for (unsigned which = 0; which < (1u << MD_SEL_TYPE_COUNT); which++) {
            if ((which & ~present) != 0) continue; /* only assign "bad" to present types */
            md_selector_t list[MD_SEL_TYPE_COUNT];
            size_t n = 0;
            for (int t = 0; t < MD_SEL_TYPE_COUNT; t++) {
                if (!(present & (1u << t))) continue;
                md_err_t err = {0};
                const char *text = (which & (1u << t)) ? bad[t] : good[t];
                assert_int_equal(md_selector_parse(md_str_c(text), &a, &list[n], &err), MD_OK);
                n++;
            }
            bool want = present != 0 && which == 0;
            if (md_selectors_match(list, n, &att) != want)
                fail_msg("present=%#x bad=%#x: expected %s", present, which, want ? "match" : "no match");
            checked++;
        }
    }
    assert_int_equal(checked, 243); /* 3^5: each type absent, good or bad */
    md_arena_free(&a);
    /* the empty list never matches, whatever the attestation */
    assert_false(md_selectors_match(NULL, 0, &att));
}

/* ---- entries ---- */

static const char *const full_entry =
    "{\"spiffe_id\": \"spiffe://example.org/agent/triage\","
    " \"selectors\": [\"unix:uid:1000\", \"unix:sha256:" SHA_A "\", \"unix:path:/usr/bin/agent\"],"
    " \"owner\": \"alice@example.com\", \"env\": \"prod\","
    " \"labels\": {\"team\": \"support\", \"app.kubernetes.io/name\": \"triage\", \"cost-center\": \"\"},"
    " \"scope_ceiling\": [\"tickets:write\", \"tickets:read\", \"kb:search\"],"
    " \"svid_ttl\": 120, \"state\": \"quarantined\", \"created_at\": 1700000000, \"updated_at\": 1700000100}";

static void test_entry_parse_full(void **state)
{
    md_arena_t a;
    md_arena_init(&a, 4096);
    md_entry_t e;
    md_err_t err = {0};
    int rc = md_entry_parse(full_entry, strlen(full_entry), &a, &e, &err);
    if (rc != MD_OK) fail_msg("%s", err.msg);
    assert_string_equal(e.spiffe_id, "spiffe://example.org/agent/triage");
    assert_true(md_str_eqc(e.id.trust_domain, "example.org"));
    assert_true(md_str_eqc(e.id.path, "/agent/triage"));
    assert_int_equal(e.n_selectors, 3);
    assert_int_equal(e.selectors[0].type, MD_SEL_UNIX_UID);
    assert_int_equal(e.selectors[1].type, MD_SEL_UNIX_SHA256);
    assert_int_equal(e.selectors[2].type, MD_SEL_UNIX_PATH);
    assert_string_equal(e.owner, "alice@example.com");
    assert_string_equal(e.env, "prod");
    assert_int_equal(e.n_labels, 3); /* sorted by key */
    assert_string_equal(e.labels[0].key, "app.kubernetes.io/name");
    assert_string_equal(e.labels[0].value, "triage");
    assert_string_equal(e.labels[1].key, "cost-center");
    assert_string_equal(e.labels[1].value, "");
    assert_string_equal(e.labels[2].key, "team");
    assert_int_equal(e.n_scopes, 3); /* sorted */
    assert_string_equal(e.scopes[0], "kb:search");
    assert_string_equal(e.scopes[1], "tickets:read");
    assert_string_equal(e.scopes[2], "tickets:write");
    assert_true(md_entry_has_scope(&e, "tickets:read"));
    assert_false(md_entry_has_scope(&e, "tickets"));
    assert_false(md_entry_has_scope(&e, "tickets:read "));
    assert_int_equal(e.svid_ttl, 120);
    assert_int_equal(e.state, MD_ENTRY_QUARANTINED);
    assert_int_equal(e.created_at, 1700000000);
    assert_int_equal(e.updated_at, 1700000100);
    assert_int_equal(md_entry_validate(&e, &err), MD_OK);
    md_arena_free(&a);
}

static void test_entry_defaults(void **state)
{
    const char *text =
        "{\"spiffe_id\":\"spiffe://td/a\",\"selectors\":[],\"owner\":\"ops team\",\"env\":\"dev\","
        "\"scope_ceiling\":[]}";
    md_arena_t a;
    md_arena_init(&a, 1024);
    md_entry_t e;
    md_err_t err = {0};
    int rc = md_entry_parse(text, strlen(text), &a, &e, &err);
    if (rc != MD_OK) fail_msg("%s", err.msg);
    assert_int_equal(e.n_selectors, 0); /* allowed; such an entry is never matched by attestation */
    assert_int_equal(e.n_labels, 0);
    assert_int_equal(e.n_scopes, 0);
    assert_int_equal(e.svid_ttl, MD_ENTRY_TTL_DEFAULT);
    assert_int_equal(e.svid_ttl, 300);
    assert_int_equal(e.state, MD_ENTRY_ACTIVE);
    assert_int_equal(e.created_at, 0);
    assert_int_equal(e.updated_at, 0);
    md_attestation_t att = sample_attestation();
    assert_false(md_selectors_match(e.selectors, e.n_selectors, &att));
    md_arena_free(&a);
}

static char *dump(const md_entry_t *e)
{
    json_t *j = md_entry_to_json(e);
    assert_non_null(j);
    char *s = json_dumps(j, JSON_COMPACT | JSON_PRESERVE_ORDER);
    json_decref(j);
    assert_non_null(s);
    return s;
}

static void test_entry_round_trip(void **state)
{
    md_arena_t a;
    md_arena_init(&a, 4096);
    md_entry_t e1, e2;
    md_err_t err = {0};
    assert_int_equal(md_entry_parse(full_entry, strlen(full_entry), &a, &e1, &err), MD_OK);
    char *s1 = dump(&e1);
    assert_string_equal(
        s1,
        "{\"spiffe_id\":\"spiffe://example.org/agent/"
        "triage\",\"selectors\":[\"unix:uid:1000\",\"unix:sha256:" SHA_A
        "\",\"unix:path:/usr/bin/agent\"],\"owner\":\"alice@example.com\",\"env\":\"prod\",\"labels\":{\"app."
        "kubernetes.io/name\":\"triage\",\"cost-center\":\"\",\"team\":\"support\"},\"scope_ceiling\":[\"kb:"
        "search\",\"tickets:read\",\"tickets:write\"],\"svid_ttl\":120,\"state\":\"quarantined\",\"created_"
        "at\":"
        "1700000000,\"updated_at\":1700000100}");
    assert_int_equal(md_entry_parse(s1, strlen(s1), &a, &e2, &err), MD_OK);
    char *s2 = dump(&e2);
    assert_string_equal(s1, s2);
    free(s1);
    free(s2);
    md_arena_free(&a);
}

/* A base entry with one member replaced (or removed when value is NULL). */
static char *with_member(const char *name, const char *value)
{
    json_error_t je;
    json_t *base = json_loads(full_entry, 0, &je);
    assert_non_null(base);
    if (value == NULL) {
        json_object_del(base, name);
    } else {
        json_t *v = json_loads(value, JSON_DECODE_ANY, &je);
        if (v == NULL) fail_msg("test value %s: %s", value, je.text);
        json_object_set_new(base, name, v);
    }
    char *s = json_dumps(base, JSON_COMPACT);
    json_decref(base);
    return s;
}

static void expect_entry_bad_text(const char *text, int code, const char *msg_part)
{
    md_arena_t a;
    md_arena_init(&a, 4096);
    md_entry_t e;
    md_err_t err = {0};
    int rc = md_entry_parse(text, strlen(text), &a, &e, &err);
    if (rc != code) fail_msg("%s: got %d (%s), want %d", text, rc, err.msg, code);
    if (strstr(err.msg, msg_part) == NULL)
        fail_msg("%s: message \"%s\" lacks \"%s\"", text, err.msg, msg_part);
    assert_null(e.spiffe_id); /* zeroed on failure */
    assert_int_equal(e.n_selectors, 0);
    md_arena_free(&a);
}

static void expect_entry_bad(const char *name, const char *value, const char *msg_part)
{
    char *text = with_member(name, value);
    expect_entry_bad_text(text, MD_EINVAL, msg_part);
    free(text);
}

static void test_entry_refused(void **state)
{
    /* document */
    expect_entry_bad_text("", MD_EINVAL, "invalid JSON");
    expect_entry_bad_text("[]", MD_EINVAL, "entry: must be a JSON object");
    expect_entry_bad_text("{\"spiffe_id\":\"spiffe://td/a\",\"spiffe_id\":\"spiffe://td/b\"}", MD_EINVAL,
                          "duplicate");
    expect_entry_bad_text("{\"owner\":\"a\\u0000b\"}", MD_EINVAL, "invalid JSON");
    expect_entry_bad("extra", "1", "entry: unknown member \"extra\"");
    expect_entry_bad("Spiffe_id", "\"spiffe://td/a\"", "entry: unknown member \"Spiffe_id\"");
    /* spiffe_id */
    expect_entry_bad("spiffe_id", NULL, "spiffe_id: missing");
    expect_entry_bad("spiffe_id", "42", "spiffe_id: must be a string");
    expect_entry_bad("spiffe_id", "\"https://td/a\"", "spiffe_id: scheme");
    expect_entry_bad("spiffe_id", "\"spiffe://TD/a\"", "spiffe_id: trust domain characters");
    expect_entry_bad("spiffe_id", "\"spiffe://td/a/\"", "spiffe_id: path cannot have a trailing slash");
    expect_entry_bad("spiffe_id", "\"spiffe://td\"", "spiffe_id: must name a workload");
    /* selectors */
    expect_entry_bad("selectors", NULL, "selectors: missing");
    expect_entry_bad("selectors", "\"unix:uid:0\"", "selectors: must be an array");
    expect_entry_bad("selectors", "[1]", "selectors[0]: must be a string");
    expect_entry_bad("selectors", "[\"unix:uid:0\", \"k8s:ns:x\"]",
                     "selectors[1]: unknown selector type \"k8s:ns\"");
    expect_entry_bad("selectors", "[\"unix:uid:0\", \"unix:uid:0\"]",
                     "selectors[1]: a second unix:uid selector");
    expect_entry_bad("selectors", "[\"unix:uid:0\", \"unix:gid:0\", \"unix:uid:1\"]",
                     "selectors[2]: a second unix:uid");
    expect_entry_bad("selectors", "[\"unix:path:rel\"]", "selectors[0]: unix:path: path must be absolute");
    expect_entry_bad("selectors",
                     "[\"unix:uid:0\",\"unix:gid:0\",\"unix:user:a\",\"unix:path:/a\",\"unix:sha256:" SHA_A
                     "\",\"unix:uid:1\"]",
                     "selectors: 6 selectors");
    /* owner */
    expect_entry_bad("owner", NULL, "owner: missing");
    expect_entry_bad("owner", "null", "owner: must be a string");
    expect_entry_bad("owner", "\"\"", "owner: must not be empty");
    expect_entry_bad("owner", "\" alice\"", "owner: has a leading or trailing space");
    expect_entry_bad("owner", "\"alice\\n\"", "owner: has a control character");
    char big[300];
    big[0] = '"';
    memset(big + 1, 'o', 255);
    big[256] = '"';
    big[257] = '\0';
    expect_entry_bad("owner", big, "owner: longer than 254 bytes");
    /* env */
    expect_entry_bad("env", NULL, "env: missing");
    expect_entry_bad("env", "\"\"", "env: must not be empty");
    expect_entry_bad("env", "\"prod env\"", "env: \"prod env\" has a character outside");
    expect_entry_bad("env", "[\"prod\"]", "env: must be a string");
    /* labels */
    expect_entry_bad("labels", "[]", "labels: must be an object");
    expect_entry_bad("labels", "{\"team\": 1}", "labels.team: must be a string");
    expect_entry_bad("labels", "{\"\": \"x\"}", "labels: a key is empty");
    expect_entry_bad("labels", "{\"-x\": \"x\"}", "labels: key \"-x\" must start with a letter or digit");
    expect_entry_bad("labels", "{\"a b\": \"x\"}", "labels: key \"a b\" has a character outside");
    expect_entry_bad("labels", "{\"team\": \"a\\tb\"}", "labels.team: value has a control character");
    expect_entry_bad_text("{\"labels\":{\"a\\u0000b\":\"x\"}}", MD_EINVAL,
                          "invalid JSON"); /* jansson refuses it */
    /* scope_ceiling */
    expect_entry_bad("scope_ceiling", NULL, "scope_ceiling: missing");
    expect_entry_bad("scope_ceiling", "{}", "scope_ceiling: must be an array");
    expect_entry_bad("scope_ceiling", "[\"a\", 2]", "scope_ceiling[1]: must be a string");
    expect_entry_bad("scope_ceiling", "[\"a\", \"b\", \"a\"]",
                     "scope_ceiling[2]: duplicates scope_ceiling[0]");
    expect_entry_bad("scope_ceiling", "[\"\"]", "scope_ceiling[0]: empty scope");
    expect_entry_bad("scope_ceiling", "[\"tickets read\"]", "scope_ceiling[0]: character 7 is not allowed");
    expect_entry_bad("scope_ceiling", "[\"a\\\"b\"]", "scope_ceiling[0]: character 1");
    expect_entry_bad("scope_ceiling", "[\"a\\\\b\"]", "scope_ceiling[0]: character 1");
    expect_entry_bad("scope_ceiling", "[\"caf\\u00e9\"]", "scope_ceiling[0]: character 3");
    /* svid_ttl */
    expect_entry_bad("svid_ttl", "0", "svid_ttl: 0 is outside 1..3600");
    expect_entry_bad("svid_ttl", "3601", "svid_ttl: 3601 is outside");
    expect_entry_bad("svid_ttl", "-300", "svid_ttl: -300 is outside");
    expect_entry_bad("svid_ttl", "\"300\"", "svid_ttl: must be an integer");
    expect_entry_bad("svid_ttl", "300.0", "svid_ttl: must be an integer");
    expect_entry_bad("svid_ttl", "true", "svid_ttl: must be an integer");
    expect_entry_bad("svid_ttl", "9223372036854775807", "svid_ttl: 9223372036854775807 is outside");
    /* state */
    expect_entry_bad("state", "\"paused\"", "state: \"paused\" is neither");
    expect_entry_bad("state", "\"Active\"", "state: \"Active\" is neither");
    expect_entry_bad("state", "1", "state: must be a string");
    /* times */
    expect_entry_bad("created_at", "-1", "created_at: -1 is outside");
    expect_entry_bad("created_at", "253402300800", "created_at: 253402300800 is outside");
    expect_entry_bad("updated_at", "1.5", "updated_at: must be an integer");
    expect_entry_bad("updated_at", "1699999999", "updated_at: 1699999999 is before created_at 1700000000");
}

static void test_entry_limits(void **state)
{
    /* 64 labels are fine, 65 are not; 128 scopes are fine, 129 are not */
    md_buf_t b;
    md_buf_init(&b);
    for (int n = 64; n <= 65; n++) {
        md_buf_reset(&b);
        md_buf_adds(&b, "{");
        for (int i = 0; i < n; i++)
            md_buf_printf(&b, "%s\"k%d\":\"v\"", i ? "," : "", i);
        md_buf_adds(&b, "}");
        char *text = with_member("labels", b.p);
        md_arena_t a;
        md_arena_init(&a, 4096);
        md_entry_t e;
        md_err_t err = {0};
        int rc = md_entry_parse(text, strlen(text), &a, &e, &err);
        assert_int_equal(rc, n == 64 ? MD_OK : MD_EINVAL);
        if (n == 65) assert_non_null(strstr(err.msg, "labels: more than 64 labels"));
        md_arena_free(&a);
        free(text);
    }
    for (int n = 128; n <= 129; n++) {
        md_buf_reset(&b);
        md_buf_adds(&b, "[");
        for (int i = 0; i < n; i++)
            md_buf_printf(&b, "%s\"s%d\"", i ? "," : "", i);
        md_buf_adds(&b, "]");
        char *text = with_member("scope_ceiling", b.p);
        md_arena_t a;
        md_arena_init(&a, 4096);
        md_entry_t e;
        md_err_t err = {0};
        int rc = md_entry_parse(text, strlen(text), &a, &e, &err);
        assert_int_equal(rc, n == 128 ? MD_OK : MD_EINVAL);
        if (n == 129) assert_non_null(strstr(err.msg, "scope_ceiling: more than 128 scopes"));
        md_arena_free(&a);
        free(text);
    }
    /* label key and value lengths, scope length */
    expect_entry_bad("labels",
                     "{\"kkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkk\":\"v\"}", /* 64 */
                     "is longer than 63 bytes");
    md_buf_reset(&b);
    md_buf_adds(&b, "{\"k\":\"");
    for (int i = 0; i < 256; i++)
        md_buf_addc(&b, 'v');
    md_buf_adds(&b, "\"}");
    expect_entry_bad("labels", b.p, "labels.k: value is longer than 255 bytes");
    md_buf_reset(&b);
    md_buf_adds(&b, "[\"");
    for (int i = 0; i < 129; i++)
        md_buf_addc(&b, 's');
    md_buf_adds(&b, "\"]");
    expect_entry_bad("scope_ceiling", b.p, "scope_ceiling[0]: longer than 128 bytes");
    /* the document itself */
    md_buf_reset(&b);
    md_buf_adds(&b, "{\"owner\":\"");
    for (int i = 0; i < MD_ENTRY_JSON_MAX; i++)
        md_buf_addc(&b, 'x');
    md_buf_adds(&b, "\"}");
    expect_entry_bad_text(b.p, MD_ELIMIT, "larger than");
    md_buf_free(&b);
}

/* A document loaded by someone else, with NUL allowed in strings. */
static void test_entry_from_json_nul(void **state)
{
    json_error_t je;
    md_arena_t a;
    md_arena_init(&a, 4096);
    md_entry_t e;
    md_err_t err = {0};
    const char *text =
        "{\"spiffe_id\":\"spiffe://td/a\",\"selectors\":[\"unix:uid:0\\u0000\"],\"owner\":\"a\","
        "\"env\":\"e\",\"scope_ceiling\":[]}";
    json_t *doc = json_loads(text, JSON_ALLOW_NUL, &je);
    assert_non_null(doc);
    assert_int_equal(md_entry_from_json(doc, &a, &e, &err), MD_EINVAL);
    assert_non_null(strstr(err.msg, "selectors[0]: selector contains a NUL byte"));
    json_decref(doc);
    text = "{\"spiffe_id\":\"spiffe://td/a\",\"selectors\":[],\"owner\":\"a\\u0000b\",\"env\":\"e\","
           "\"scope_ceiling\":[]}";
    doc = json_loads(text, JSON_ALLOW_NUL, &je);
    assert_non_null(doc);
    md_err_clear(&err);
    assert_int_equal(md_entry_from_json(doc, &a, &e, &err), MD_EINVAL);
    assert_string_equal(err.msg, "owner: contains U+0000");
    json_decref(doc);
    text = "{\"spiffe_id\":\"spiffe://td/a\",\"selectors\":[],\"owner\":\"a\",\"env\":\"e\","
           "\"scope_ceiling\":[\"x\\u0000\"]}";
    doc = json_loads(text, JSON_ALLOW_NUL, &je);
    assert_non_null(doc);
    md_err_clear(&err);
    assert_int_equal(md_entry_from_json(doc, &a, &e, &err), MD_EINVAL);
    assert_string_equal(err.msg, "scope_ceiling[0]: contains U+0000");
    json_decref(doc);
    md_arena_free(&a);
}

static void test_entry_validate_built(void **state)
{
    md_selector_t sels[2] = {{.type = MD_SEL_UNIX_UID, .id = 1000},
                             {.type = MD_SEL_UNIX_SHA256, .str = SHA_A, .len = 64}};
    md_label_t labels[2] = {{"a", "1"}, {"b", "2"}};
    const char *scopes[2] = {"x:read", "y:read"};
    md_entry_t e = {
        .spiffe_id = "spiffe://td/agent/one",
        .selectors = sels,
        .n_selectors = 2,
        .owner = "bob@example.com",
        .env = "staging",
        .labels = labels,
        .n_labels = 2,
        .scopes = scopes,
        .n_scopes = 2,
        .svid_ttl = 3600,
        .state = MD_ENTRY_ACTIVE,
    };
    md_err_t err = {0};
    assert_int_equal(md_entry_validate(&e, &err), MD_OK);
    assert_true(md_str_eqc(e.id.path, "/agent/one")); /* refreshed */
    char *s = dump(&e);
    md_arena_t a;
    md_arena_init(&a, 4096);
    md_entry_t back;
    assert_int_equal(md_entry_parse(s, strlen(s), &a, &back, &err), MD_OK);
    free(s);
    md_arena_free(&a);

#define EXPECT_INVALID(mutation, part)                                                                       \
    do {                                                                                                     \
        md_entry_t x = e;                                                                                    \
        mutation;                                                                                            \
        md_err_clear(&err);                                                                                  \
        assert_int_equal(md_entry_validate(&x, &err), MD_EINVAL);                                            \
        if (strstr(err.msg, part) == NULL)                                                                   \
            fail_msg("%s: message \"%s\" lacks \"%s\"", #mutation, err.msg, part);                           \
    } while (0)
    const char *unsorted[2] = {"y:read", "x:read"};
    const char *dup[2] = {"x:read", "x:read"};
    md_label_t unsorted_labels[2] = {{"b", "1"}, {"a", "2"}};
    md_label_t bad_utf8[1] = {{"a", "\xc3"}};
    md_selector_t dup_sels[2] = {{.type = MD_SEL_UNIX_UID, .id = 1}, {.type = MD_SEL_UNIX_UID, .id = 1}};
    EXPECT_INVALID(x.spiffe_id = NULL, "spiffe_id: missing");
    EXPECT_INVALID(x.spiffe_id = "spiffe://td", "spiffe_id: must name a workload");
    EXPECT_INVALID(x.selectors = NULL, "selectors: missing");
    EXPECT_INVALID(x.selectors = dup_sels, "selectors[1]: a second unix:uid");
    EXPECT_INVALID(x.owner = NULL, "owner: missing");
    EXPECT_INVALID(x.owner = "\xff\xfe", "owner: is not valid UTF-8");
    EXPECT_INVALID(x.env = "a/b", "env:");
    EXPECT_INVALID(x.labels = unsorted_labels, "labels: keys are not sorted and unique at 1");
    EXPECT_INVALID((x.labels = bad_utf8, x.n_labels = 1), "labels.a: value is not valid UTF-8");
    EXPECT_INVALID(x.scopes = unsorted, "scope_ceiling: scopes are not sorted and unique at 1");
    EXPECT_INVALID(x.scopes = dup, "scope_ceiling: scopes are not sorted and unique at 1");
    EXPECT_INVALID(x.n_scopes = 129, "scope_ceiling: more than 128");
    EXPECT_INVALID(x.svid_ttl = 0, "svid_ttl: 0 is outside");
    EXPECT_INVALID(x.svid_ttl = 3601, "svid_ttl: 3601");
    EXPECT_INVALID(x.state = (md_entry_state_t)7, "state: 7");
    EXPECT_INVALID((x.created_at = 10, x.updated_at = 9), "updated_at: 9 is before created_at 10");
    EXPECT_INVALID(x.created_at = -5, "created_at: -5");
#undef EXPECT_INVALID
}

static void test_entry_state_names(void **state)
{
    md_entry_state_t s;
    assert_string_equal(md_entry_state_name(MD_ENTRY_ACTIVE), "active");
    assert_string_equal(md_entry_state_name(MD_ENTRY_QUARANTINED), "quarantined");
    assert_string_equal(md_entry_state_name((md_entry_state_t)9), "?");
    assert_int_equal(md_entry_state_parse("active", &s), MD_OK);
    assert_int_equal(s, MD_ENTRY_ACTIVE);
    assert_int_equal(md_entry_state_parse("quarantined", &s), MD_OK);
    assert_int_equal(s, MD_ENTRY_QUARANTINED);
    assert_int_equal(md_entry_state_parse("", &s), MD_EINVAL);
    assert_int_equal(md_entry_state_parse("QUARANTINED", &s), MD_EINVAL);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_selector_parse_valid), cmocka_unit_test(test_selector_parse_refused),
        cmocka_unit_test(test_selector_check_built), cmocka_unit_test(test_selector_match_single),
        cmocka_unit_test(test_selector_match_table), cmocka_unit_test(test_entry_parse_full),
        cmocka_unit_test(test_entry_defaults),       cmocka_unit_test(test_entry_round_trip),
        cmocka_unit_test(test_entry_refused),        cmocka_unit_test(test_entry_limits),
        cmocka_unit_test(test_entry_from_json_nul),  cmocka_unit_test(test_entry_validate_built),
        cmocka_unit_test(test_entry_state_names),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
