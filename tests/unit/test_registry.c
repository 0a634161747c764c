/*
 * test_registry.c: unit tests for the agent registry: the admin API's rules
 * (src/identity/registry.c) and the store's agents and signing_keys tables
 * (src/store/).
 *
 *   create    a valid body becomes an entry stamped with the daemon's time;
 *             daemon-owned members, unknown members, bad SPIFFE IDs, bad
 *             selectors and scopes outside [a-z0-9_.:-] are refused
 *   update    only named members change; the SPIFFE ID cannot; an empty or
 *             unknown update is refused; updated_at never precedes created_at
 *   overlap   two selector lists overlap unless one type differs in value
 *   store     insert / duplicate (id, SPIFFE ID) / get both ways / update /
 *             list order / delete; signing keys replace and list
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "identity/registry.h"
#include "store/store.h"

#define NOW INT64_C(1800000000)
#define SHA "unix:sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"

static md_arena_t arena;

static int arena_setup(void **state)
{
    md_arena_init(&arena, 4096);
    return 0;
}

static int arena_teardown(void **state)
{
    md_arena_free(&arena);
    return 0;
}

static json_t *js(const char *text)
{
    json_error_t je;
    json_t *j = json_loads(text, 0, &je);
    if (j == NULL) fail_msg("bad test JSON: %s: %s", text, je.text);
    return j;
}

static int create(const char *text, md_entry_t *e, md_err_t *err)
{
    json_t *j = js(text);
    int rc = md_registry_parse_create(j, NOW, &arena, e, err);
    json_decref(j);
    return rc;
}

static void create_bad(const char *text, const char *want)
{
    md_entry_t e;
    md_err_t err = {0};
    if (create(text, &e, &err) != MD_EINVAL) fail_msg("accepted: %s", text);
    if (strstr(err.msg, want) == NULL) fail_msg("`%s` not in: %s", want, err.msg);
}

#define GOOD                                                                                                 \
    "\"spiffe_id\": \"spiffe://example.org/agent/triage\", \"selectors\": [\"unix:uid:1000\", \"" SHA        \
    "\"], "                                                                                                  \
    "\"owner\": \"alice@example.org\", \"env\": \"prod\", \"scope_ceiling\": [\"tickets:write\", "           \
    "\"tickets:read\"]"

static void test_create(void **state)
{
    md_entry_t e;
    md_err_t err = {0};
    assert_int_equal(create("{" GOOD ", \"labels\": {\"team\": \"triage\"}, \"svid_ttl\": 120}", &e, &err),
                     MD_OK);
    assert_string_equal(e.spiffe_id, "spiffe://example.org/agent/triage");
    assert_int_equal(e.n_selectors, 2);
    assert_int_equal(e.n_scopes, 2);
    assert_string_equal(e.scopes[0], "tickets:read"); /* sorted */
    assert_int_equal(e.svid_ttl, 120);
    assert_int_equal(e.created_at, NOW);
    assert_int_equal(e.updated_at, NOW);
    assert_int_equal(e.state, MD_ENTRY_ACTIVE);

    json_t *out = md_registry_agent_json("ag_0123456789abcdef", &e);
    assert_non_null(out);
    const char *first = json_object_iter_key(json_object_iter(out));
    assert_string_equal(first, "id");
    assert_string_equal(json_string_value(json_object_get(out, "owner")), "alice@example.org");
    json_decref(out);
}

static void test_create_refusals(void **state)
{
    create_bad("{" GOOD ", \"id\": \"ag_0000000000000000\"}", "id: set by the daemon");
    create_bad("{" GOOD ", \"created_at\": 5}", "created_at: set by the daemon");
    create_bad("{" GOOD ", \"updated_at\": 5}", "updated_at: set by the daemon");
    create_bad("{" GOOD ", \"admin\": true}", "unknown member");
    create_bad(
        "{\"spiffe_id\": \"http://example.org/a\", \"selectors\": [], \"owner\": \"a\", \"env\": \"p\", "
        "\"scope_ceiling\": []}",
        "spiffe_id");
    create_bad(
        "{\"spiffe_id\": \"spiffe://example.org\", \"selectors\": [], \"owner\": \"a\", \"env\": \"p\", "
        "\"scope_ceiling\": []}",
        "spiffe_id");
    create_bad("{\"spiffe_id\": \"spiffe://example.org/a\", \"selectors\": [\"k8s:ns:x\"], \"owner\": \"a\", "
               "\"env\": \"p\", \"scope_ceiling\": []}",
               "selectors[0]");
    create_bad("{\"spiffe_id\": \"spiffe://example.org/a\", \"selectors\": [\"unix:uid:1\", \"unix:uid:2\"], "
               "\"owner\": \"a\", \"env\": \"p\", \"scope_ceiling\": []}",
               "selectors");
    create_bad(
        "{\"spiffe_id\": \"spiffe://example.org/a\", \"selectors\": [], \"owner\": \"\", \"env\": \"p\", "
        "\"scope_ceiling\": []}",
        "owner");
    create_bad(
        "{\"spiffe_id\": \"spiffe://example.org/a\", \"selectors\": [], \"owner\": \"a\", \"env\": \"p q\", "
        "\"scope_ceiling\": []}",
        "env");
    create_bad(
        "{\"spiffe_id\": \"spiffe://example.org/a\", \"selectors\": [], \"owner\": \"a\", \"env\": \"p\", "
        "\"scope_ceiling\": [\"Tickets:Read\"]}",
        "outside [a-z0-9_.:-]");
    create_bad(
        "{\"spiffe_id\": \"spiffe://example.org/a\", \"selectors\": [], \"owner\": \"a\", \"env\": \"p\", "
        "\"scope_ceiling\": [\"a/b\"]}",
        "outside [a-z0-9_.:-]");
    create_bad(
        "{\"spiffe_id\": \"spiffe://example.org/a\", \"selectors\": [], \"owner\": \"a\", \"env\": \"p\", "
        "\"scope_ceiling\": [], \"svid_ttl\": 0}",
        "svid_ttl");
    create_bad(
        "{\"spiffe_id\": \"spiffe://example.org/a\", \"selectors\": [], \"owner\": \"a\", \"env\": \"p\", "
        "\"scope_ceiling\": [], \"svid_ttl\": \"300\"}",
        "svid_ttl");
    create_bad(
        "{\"spiffe_id\": 7, \"selectors\": [], \"owner\": \"a\", \"env\": \"p\", \"scope_ceiling\": []}",
        "spiffe_id");
    create_bad("{\"spiffe_id\": \"spiffe://example.org/a\", \"owner\": \"a\", \"env\": \"p\", "
               "\"scope_ceiling\": []}",
               "selectors: missing");
    create_bad(
        "{\"spiffe_id\": \"spiffe://example.org/a\", \"selectors\": [], \"owner\": \"a\", \"env\": \"p\", "
        "\"scope_ceiling\": [], \"labels\": {\"k\": 1}}",
        "labels");
    md_entry_t e;
    md_err_t err = {0};
    json_t *arr = json_array();
    assert_int_equal(md_registry_parse_create(arr, NOW, &arena, &e, &err), MD_EINVAL);
    json_decref(arr);
}

/* The canonical JSON of a freshly created GOOD entry, as the store keeps it. */
static json_t *stored(void)
{
    md_entry_t e;
    md_err_t err = {0};
    json_t *j = js("{" GOOD "}");
    assert_int_equal(md_registry_parse_create(j, NOW, &arena, &e, &err), MD_OK);
    json_decref(j);
    return md_entry_to_json(&e);
}

static int update(const char *patch, int64_t now, md_entry_t *e, md_err_t *err)
{
    json_t *cur = stored(), *p = js(patch);
    int rc = md_registry_parse_update(cur, p, now, &arena, e, err);
    json_decref(cur);
    json_decref(p);
    return rc;
}

static void test_update(void **state)
{
    md_entry_t e;
    md_err_t err = {0};
    assert_int_equal(
        update("{\"owner\": \"bob@example.org\", \"state\": \"quarantined\"}", NOW + 5, &e, &err), MD_OK);
    assert_string_equal(e.owner, "bob@example.org");
    assert_int_equal(e.state, MD_ENTRY_QUARANTINED);
    assert_string_equal(e.env, "prod");  /* unchanged */
    assert_int_equal(e.n_selectors, 2);  /* unchanged */
    assert_int_equal(e.created_at, NOW); /* kept */
    assert_int_equal(e.updated_at, NOW + 5);
    /* the same SPIFFE ID may be repeated */
    assert_int_equal(
        update("{\"spiffe_id\": \"spiffe://example.org/agent/triage\", \"selectors\": []}", NOW, &e, &err),
        MD_OK);
    assert_int_equal(e.n_selectors, 0);
    /* a clock behind created_at never makes updated_at earlier */
    assert_int_equal(update("{\"env\": \"dev\"}", NOW - 100, &e, &err), MD_OK);
    assert_int_equal(e.updated_at, NOW);
}

static void update_bad(const char *patch, const char *want)
{
    md_entry_t e;
    md_err_t err = {0};
    if (update(patch, NOW, &e, &err) != MD_EINVAL) fail_msg("accepted: %s", patch);
    if (strstr(err.msg, want) == NULL) fail_msg("`%s` not in: %s", want, err.msg);
}

static void test_update_refusals(void **state)
{
    update_bad("{}", "nothing to change");
    update_bad("{\"spiffe_id\": \"spiffe://example.org/agent/other\"}", "cannot change");
    update_bad("{\"spiffe_id\": 5}", "spiffe_id");
    update_bad("{\"id\": \"ag_0000000000000000\"}", "set by the daemon");
    update_bad("{\"created_at\": 1}", "set by the daemon");
    update_bad("{\"bogus\": 1}", "unknown member");
    update_bad("{\"owner\": \"\"}", "owner");
    update_bad("{\"owner\": 5}", "owner");
    update_bad("{\"selectors\": [\"unix:uid:-1\"]}", "selectors[0]");
    update_bad("{\"scope_ceiling\": [\"UPPER\"]}", "outside [a-z0-9_.:-]");
    update_bad("{\"state\": \"gone\"}", "state");
}

/* ------------------------------------------------------------ overlap */

static md_entry_t with(const char *const *sels, size_t n)
{
    md_entry_t e;
    md_err_t err = {0};
    json_t *j = js("{\"spiffe_id\": \"spiffe://example.org/x\", \"owner\": \"a\", \"env\": \"p\", "
                   "\"scope_ceiling\": []}");
    json_t *arr = json_array();
    for (size_t i = 0; i < n; i++)
        json_array_append_new(arr, json_string(sels[i]));
    json_object_set_new(j, "selectors", arr);
    if (md_registry_parse_create(j, NOW, &arena, &e, &err) != MD_OK) fail_msg("%s", err.msg);
    json_decref(j);
    return e;
}

static void test_overlap(void **state)
{
    const char *uid1000[] = {"unix:uid:1000"};
    const char *uid1001[] = {"unix:uid:1001"};
    const char *uid1000_sha[] = {"unix:uid:1000", SHA};
    const char *uid1000_path[] = {"unix:uid:1000", "unix:path:/usr/bin/agent"};
    const char *user_bob[] = {"unix:user:bob"};
    const char *gid5_sha[] = {"unix:gid:5", SHA};
    const char *other_sha[] = {
        "unix:uid:1000", "unix:sha256:ffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff"};
    md_entry_t a = with(uid1000, 1), b = with(uid1001, 1), c = with(uid1000_sha, 2),
               d = with(uid1000_path, 2), u = with(user_bob, 1), g = with(gid5_sha, 2),
               o = with(other_sha, 2), none = with(NULL, 0);

    assert_true(md_registry_selectors_overlap(&a, &a));
    assert_false(md_registry_selectors_overlap(&a, &b)); /* different uid */
    assert_true(md_registry_selectors_overlap(&a, &c)); /* c is narrower: both match uid 1000 + that binary */
    assert_true(md_registry_selectors_overlap(&c, &d)); /* sha and path can hold together */
    assert_false(md_registry_selectors_overlap(&c, &o)); /* different executables */
    assert_true(md_registry_selectors_overlap(&a, &u));  /* bob may be uid 1000 */
    assert_true(md_registry_selectors_overlap(&c, &g));  /* same binary, uid and gid compatible */
    assert_false(md_registry_selectors_overlap(&b, &d));
    assert_false(md_registry_selectors_overlap(&a, &none)); /* no selectors: never matched */
    assert_false(md_registry_selectors_overlap(&none, &none));
}

static void test_ids(void **state)
{
    char a[MD_AGENT_ID_LEN + 1], b[MD_AGENT_ID_LEN + 1];
    assert_int_equal(md_registry_new_id(a), MD_OK);
    assert_int_equal(md_registry_new_id(b), MD_OK);
    assert_int_equal(strlen(a), MD_AGENT_ID_LEN);
    assert_true(md_registry_id_valid(a));
    assert_string_not_equal(a, b);
    assert_int_equal(md_registry_key_kind(a), MD_REGISTRY_KEY_ID);
    assert_int_equal(md_registry_key_kind("spiffe://example.org/a"), MD_REGISTRY_KEY_SPIFFE);
    assert_int_equal(md_registry_key_kind("ag_0123456789ABCDEF"), MD_REGISTRY_KEY_BAD);
    assert_int_equal(md_registry_key_kind("ag_0123"), MD_REGISTRY_KEY_BAD);
    assert_int_equal(md_registry_key_kind("triage"), MD_REGISTRY_KEY_BAD);
    assert_int_equal(md_registry_key_kind(NULL), MD_REGISTRY_KEY_BAD);
}

/* ------------------------------------------------------------ the store */

static char dir[64], dbpath[128];

static int store_setup(void **state)
{
    snprintf(dir, sizeof(dir), "/tmp/md-test-registry-XXXXXX");
    if (mkdtemp(dir) == NULL) return -1;
    snprintf(dbpath, sizeof(dbpath), "%s/mandate.db", dir);
    return arena_setup(state);
}

static int store_teardown(void **state)
{
    char cmd[128];
    snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
    arena_teardown(state);
    return system(cmd) == 0 ? 0 : -1;
}

static md_store_t *open_store(void)
{
    md_store_opts_t o = {MD_STORE_SQLITE, dbpath, 500};
    md_store_t *st = NULL;
    md_err_t err = {0};
    if (md_store_open(&o, &st, &err) != MD_OK) fail_msg("%s", err.msg);
    return st;
}

static void test_store_agents(void **state)
{
    md_store_t *st = open_store();
    md_err_t err = {0};
    md_store_agent_t a = {
        "ag_00000000000000aa", "spiffe://example.org/b", "alice", "prod", "active", "{\"x\":1}", NOW, NOW};
    md_store_agent_t b = {
        "ag_00000000000000bb", "spiffe://example.org/a", "bob", "dev", "quarantined", "{}", NOW, NOW};
    md_store_agent_t got, *rows = NULL;
    size_t n = 0;

    assert_int_equal(md_store_agent_insert(st, &a, &err), MD_OK);
    assert_int_equal(md_store_agent_insert(st, &b, &err), MD_OK);
    /* same id, or same SPIFFE ID: exists */
    md_store_agent_t dup = a;
    dup.spiffe_id = "spiffe://example.org/c";
    assert_int_equal(md_store_agent_insert(st, &dup, &err), MD_STORE_EEXISTS);
    dup = b;
    dup.id = "ag_00000000000000cc";
    md_err_clear(&err);
    assert_int_equal(md_store_agent_insert(st, &dup, &err), MD_STORE_EEXISTS);
    /* argument checks before the backend */
    dup = a;
    dup.state = "deleted";
    md_err_clear(&err);
    assert_int_equal(md_store_agent_insert(st, &dup, &err), MD_EINVAL);
    dup = a;
    dup.entry = "not json";
    assert_int_equal(md_store_agent_insert(st, &dup, &err), MD_EINVAL);
    dup = a;
    dup.id = "has space";
    assert_int_equal(md_store_agent_insert(st, &dup, &err), MD_EINVAL);

    assert_int_equal(md_store_agent_get(st, "ag_00000000000000aa", false, &arena, &got, &err), MD_OK);
    assert_string_equal(got.spiffe_id, "spiffe://example.org/b");
    assert_string_equal(got.entry, "{\"x\":1}");
    assert_int_equal(md_store_agent_get(st, "spiffe://example.org/a", true, &arena, &got, &err), MD_OK);
    assert_string_equal(got.id, "ag_00000000000000bb");
    assert_string_equal(got.state, "quarantined");
    md_err_clear(&err);
    assert_int_equal(md_store_agent_get(st, "spiffe://example.org/zzz", true, &arena, &got, &err), MD_ENOENT);

    assert_int_equal(md_store_agent_list(st, &arena, &rows, &n, &err), MD_OK);
    assert_int_equal(n, 2);
    assert_string_equal(rows[0].spiffe_id, "spiffe://example.org/a"); /* by SPIFFE ID */
    assert_string_equal(rows[1].spiffe_id, "spiffe://example.org/b");

    md_store_agent_t upd = a;
    upd.owner = "carol";
    upd.entry = "{\"y\":2}";
    upd.updated_at = NOW + 9;
    assert_int_equal(md_store_agent_update(st, &upd, &err), MD_OK);
    assert_int_equal(md_store_agent_get(st, a.id, false, &arena, &got, &err), MD_OK);
    assert_string_equal(got.owner, "carol");
    assert_int_equal(got.updated_at, NOW + 9);
    assert_int_equal(got.created_at, NOW);
    upd.spiffe_id = "spiffe://example.org/renamed"; /* the SPIFFE ID is not changed by an update */
    md_err_clear(&err);
    assert_int_equal(md_store_agent_update(st, &upd, &err), MD_ENOENT);

    assert_int_equal(md_store_agent_delete(st, a.id, &err), MD_OK);
    md_err_clear(&err);
    assert_int_equal(md_store_agent_delete(st, a.id, &err), MD_ENOENT);
    assert_int_equal(md_store_agent_list(st, &arena, &rows, &n, &err), MD_OK);
    assert_int_equal(n, 1);
    md_store_close(st);

    /* it survives a reopen */
    st = open_store();
    assert_int_equal(md_store_agent_get(st, b.id, false, &arena, &got, &err), MD_OK);
    md_store_close(st);
}

static void test_store_signing_keys(void **state)
{
    md_store_t *st = open_store();
    md_err_t err = {0};
    md_store_signing_key_t rows[2] = {
        {"kid-one", "ES256", "retired", 10, 10, 20, 100, "c2VhbGVk", 3, "bWFj"},
        {"kid-two", "EdDSA", "active", 15, 20, 0, 0, "c2VhbGVkMg", 3, "bWFjMg"},
    };
    md_store_signing_key_t *got = NULL;
    size_t n = 0;

    assert_int_equal(md_store_begin(st, &err), MD_OK);
    assert_int_equal(md_store_signing_keys_replace(st, rows, 2, &err), MD_OK);
    assert_int_equal(md_store_commit(st, &err), MD_OK);
    assert_int_equal(md_store_signing_keys_list(st, &arena, &got, &n, &err), MD_OK);
    assert_int_equal(n, 2);
    assert_string_equal(got[0].kid, "kid-one");
    assert_int_equal(got[0].remove_at, 100);
    assert_string_equal(got[1].alg, "EdDSA");
    assert_string_equal(got[1].sealed, "c2VhbGVkMg");
    assert_int_equal(got[1].generation, 3);
    assert_string_equal(got[1].mac, "bWFjMg");
    /* replace drops what is not given */
    assert_int_equal(md_store_signing_keys_replace(st, rows + 1, 1, &err), MD_OK);
    assert_int_equal(md_store_signing_keys_list(st, &arena, &got, &n, &err), MD_OK);
    assert_int_equal(n, 1);
    /* checks */
    md_store_signing_key_t bad = rows[0];
    bad.state = "lost";
    assert_int_equal(md_store_signing_keys_replace(st, &bad, 1, &err), MD_EINVAL);
    bad = rows[0];
    bad.kid = "a kid";
    assert_int_equal(md_store_signing_keys_replace(st, &bad, 1, &err), MD_EINVAL);
    bad = rows[0];
    bad.generation = -1;
    assert_int_equal(md_store_signing_keys_replace(st, &bad, 1, &err), MD_EINVAL);
    md_store_signing_key_t twice[2] = {rows[0], rows[0]};
    assert_int_equal(md_store_signing_keys_replace(st, twice, 2, &err), MD_EINVAL);
    assert_int_equal(md_store_signing_keys_list(st, &arena, &got, &n, &err), MD_OK);
    assert_int_equal(n, 1); /* refused before anything was written */
    md_store_close(st);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_create, arena_setup, arena_teardown),
        cmocka_unit_test_setup_teardown(test_create_refusals, arena_setup, arena_teardown),
        cmocka_unit_test_setup_teardown(test_update, arena_setup, arena_teardown),
        cmocka_unit_test_setup_teardown(test_update_refusals, arena_setup, arena_teardown),
        cmocka_unit_test_setup_teardown(test_overlap, arena_setup, arena_teardown),
        cmocka_unit_test_setup_teardown(test_ids, arena_setup, arena_teardown),
        cmocka_unit_test_setup_teardown(test_store_agents, store_setup, store_teardown),
        cmocka_unit_test_setup_teardown(test_store_signing_keys, store_setup, store_teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
