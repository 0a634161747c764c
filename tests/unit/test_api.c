/*
 * test_api.c: the public embedding API, used exactly as an embedder would
 * (only <mandate/cedar.h>): load, link, decide, errors, and threads sharing
 * one loaded policy set.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <pthread.h>
#include <string.h>

#include <cmocka.h>

#include "mandate/cedar.h"

static const char policies[] = "permit(principal == User::\"alice\", action == Action::\"view\", resource in "
                               "Folder::\"docs\");\n"
                               "forbid(principal, action, resource) when { resource.locked };\n"
                               "permit(principal == ?principal, action, resource == ?resource);\n";
static const char schema[] = "entity User; entity Folder; entity Doc in [Folder] { locked: Bool };\n"
                             "action view appliesTo { principal: User, resource: [Doc, Folder] };\n";
static const char entities[] = "[{\"uid\":{\"type\":\"Folder\",\"id\":\"docs\"},\"attrs\":{},\"parents\":[]},"
                               "{\"uid\":{\"type\":\"Doc\",\"id\":\"a\"},\"attrs\":{\"locked\":false},"
                               "\"parents\":[{\"type\":\"Folder\",\"id\":\"docs\"}]},"
                               "{\"uid\":{\"type\":\"Doc\",\"id\":\"b\"},\"attrs\":{\"locked\":true},"
                               "\"parents\":[{\"type\":\"Folder\",\"id\":\"docs\"}]}]";

#define REQ(p, r)                                                                                            \
    "{\"principal\":{\"type\":\"User\",\"id\":\"" p "\"},\"action\":{\"type\":\"Action\",\"id\":\"view\"},"  \
    "\"resource\":{\"type\":\"Doc\",\"id\":\"" r "\"},\"context\":{}}"

typedef struct fixture {
    md_cedar_policies_t *p;
    md_cedar_schema_t *s;
    md_cedar_entities_t *e;
} fixture_t;

static int setup(void **state)
{
    static fixture_t f;
    char err[512];
    assert_int_equal(md_cedar_policies_load(policies, strlen(policies), "p.cedar", &f.p, err, sizeof(err)),
                     0);
    assert_int_equal(md_cedar_schema_load(schema, strlen(schema), "s", 0, &f.s, err, sizeof(err)), 0);
    assert_int_equal(
        md_cedar_entities_load(entities, strlen(entities), "e.json", f.s, &f.e, err, sizeof(err)), 0);
    *state = &f;
    return 0;
}

static int teardown(void **state)
{
    fixture_t *f = *state;
    md_cedar_entities_free(f->e);
    md_cedar_schema_free(f->s);
    md_cedar_policies_free(f->p);
    return 0;
}

static void test_decisions(void **state)
{
    fixture_t *f = *state;
    md_cedar_ctx_t *c = md_cedar_ctx_new();
    const char *resp;
    char err[256];
    assert_int_equal(md_cedar_authorize_json(c, f->p, f->e, f->s, REQ("alice", "a"),
                                             strlen(REQ("alice", "a")), &resp, err, sizeof(err)),
                     MD_CEDAR_ALLOW);
    assert_string_equal(resp, "{\"decision\":\"allow\",\"reasons\":[\"policy0\"],\"errors\":[]}");
    assert_int_equal(md_cedar_authorize_json(c, f->p, f->e, f->s, REQ("alice", "b"),
                                             strlen(REQ("alice", "b")), &resp, err, sizeof(err)),
                     MD_CEDAR_DENY);
    assert_string_equal(resp, "{\"decision\":\"deny\",\"reasons\":[\"policy1\"],\"errors\":[]}");
    assert_int_equal(md_cedar_authorize_json(c, f->p, f->e, f->s, REQ("bob", "a"), strlen(REQ("bob", "a")),
                                             NULL, err, sizeof(err)),
                     MD_CEDAR_DENY);
    md_cedar_ctx_free(c);
}

static void test_link(void **state)
{
    fixture_t *f = *state;
    md_cedar_ctx_t *c = md_cedar_ctx_new();
    char err[256];
    assert_int_equal(
        md_cedar_policies_link(f->p, "policy2", "bob-a", "User::\"bob\"", "Doc::\"a\"", err, sizeof(err)), 0);
    assert_int_equal(md_cedar_authorize_json(c, f->p, f->e, f->s, REQ("bob", "a"), strlen(REQ("bob", "a")),
                                             NULL, err, sizeof(err)),
                     MD_CEDAR_ALLOW);
    assert_true(md_cedar_policies_link(f->p, "policy0", "x", "User::\"bob\"", NULL, err, sizeof(err)) < 0);
    assert_non_null(strstr(err, "static policy"));
    assert_true(md_cedar_policies_link(f->p, "policy2", "y", "not a uid", "Doc::\"a\"", err, sizeof(err)) <
                0);
    md_cedar_ctx_free(c);
}

static void test_errors(void **state)
{
    fixture_t *f = *state;
    md_cedar_policies_t *p = NULL;
    char err[256];
    assert_true(md_cedar_policies_load("permit(principal, action, resource) when { 1 < 2 < 3 };", 55,
                                       "bad.cedar", &p, err, sizeof(err)) < 0);
    assert_null(p);
    assert_non_null(strstr(err, "bad.cedar:1:"));
    md_cedar_ctx_t *c = md_cedar_ctx_new();
    const char *resp = "unchanged";
    /* a malformed request never yields an allow */
    assert_true(md_cedar_authorize_json(c, f->p, f->e, f->s, "{", 1, &resp, err, sizeof(err)) < 0);
    assert_null(resp);
    const char wrong_type[] =
        "{\"principal\":{\"type\":\"Doc\",\"id\":\"a\"},\"action\":{\"type\":\"Action\",\"id\":"
        "\"view\"},\"resource\":{\"type\":\"Doc\",\"id\":\"a\"},\"context\":{}}";
    assert_true(md_cedar_authorize_json(c, f->p, f->e, f->s, wrong_type, strlen(wrong_type), &resp, err,
                                        sizeof(err)) < 0);
    assert_non_null(strstr(err, "principal type"));
    md_cedar_ctx_free(c);
}

static void *worker(void *arg)
{
    fixture_t *f = arg;
    md_cedar_ctx_t *c = md_cedar_ctx_new();
    char err[128];
    long bad = 0;
    for (int i = 0; i < 20000; i++) {
        int want = (i & 1) ? MD_CEDAR_DENY : MD_CEDAR_ALLOW;
        const char *r = (i & 1) ? REQ("alice", "b") : REQ("alice", "a");
        if (md_cedar_authorize_json(c, f->p, f->e, f->s, r, strlen(r), NULL, err, sizeof(err)) != want) bad++;
    }
    md_cedar_ctx_free(c);
    return (void *)bad;
}

static void test_threads_share_one_set(void **state)
{
    fixture_t *f = *state;
    pthread_t t[4];
    for (int i = 0; i < 4; i++)
        assert_int_equal(pthread_create(&t[i], NULL, worker, f), 0);
    for (int i = 0; i < 4; i++) {
        void *bad;
        assert_int_equal(pthread_join(t[i], &bad), 0);
        assert_int_equal((long)bad, 0);
    }
}

static void test_annotations(void **state)
{
    const char text[] = "@id(\"alice-reads\") @owner(\"sec\") @flag\n"
                        "permit(principal, action, resource);\n"
                        "forbid(principal, action, resource);\n";
    md_cedar_policies_t *p = NULL;
    char err[256], buf[64], small[4];
    (void)state;
    assert_int_equal(md_cedar_policies_load(text, strlen(text), "a.cedar", &p, err, sizeof(err)), 0);
    assert_string_equal(md_cedar_policy_annotation(p, "policy0", "id", buf, sizeof(buf)), "alice-reads");
    assert_string_equal(md_cedar_policy_annotation(p, "policy0", "owner", buf, sizeof(buf)), "sec");
    assert_string_equal(md_cedar_policy_annotation(p, "policy0", "flag", buf, sizeof(buf)), "");
    assert_string_equal(md_cedar_policy_annotation(p, "policy0", "id", small, sizeof(small)),
                        "ali"); /* cut */
    assert_null(md_cedar_policy_annotation(p, "policy0", "missing", buf, sizeof(buf)));
    assert_null(md_cedar_policy_annotation(p, "policy1", "id", buf, sizeof(buf)));     /* no annotation */
    assert_null(md_cedar_policy_annotation(p, "alice-reads", "id", buf, sizeof(buf))); /* @id is no id */
    assert_null(md_cedar_policy_annotation(p, "policy9", "id", buf, sizeof(buf)));
    assert_null(md_cedar_policy_annotation(NULL, "policy0", "id", buf, sizeof(buf)));
    md_cedar_policies_free(p);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_decisions),   cmocka_unit_test(test_link),
        cmocka_unit_test(test_errors),      cmocka_unit_test(test_threads_share_one_set),
        cmocka_unit_test(test_annotations),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
