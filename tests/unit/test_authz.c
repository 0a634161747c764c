/*
 * test_authz.c: unit tests for the authorizer (md_authorize, md_policyset_index,
 * md_response_to_json in src/cedar/authz.h; eval.c and index.c).
 *
 * Semantics: cedar-spec cedar-lean/Cedar/Spec/Authorizer.lean (isAuthorized:
 * forbid overrides permit, default deny, determining policies are the
 * satisfied permits on allow and the satisfied forbids on deny, erroring
 * policies are skipped and listed) and Policy.lean (a policy is
 * scope && conditions; `unless c` is `!c`).
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

static void free_ps(void *p)
{
    md_policyset_free(p);
}

static void free_es(void *p)
{
    md_entities_free(p);
}

#define NAME "t.cedar"

static md_policyset_t *pset_at(const char *text, const char *file, int line)
{
    md_policyset_t *ps = NULL;
    md_err_t err = {0};
    if (md_policyset_parse(text, strlen(text), "p.cedar", &ps, &err) != MD_OK) {
        print_error("policies: %s\n", err.msg);
        _fail(file, line);
    }
    return keep(ps, free_ps);
}
#define pset(text) pset_at((text), __FILE__, __LINE__)

static md_entities_t *ents_at(const char *json, const char *file, int line)
{
    md_entities_t *es = NULL;
    md_err_t err = {0};
    if (md_entities_parse_json(json, strlen(json), "e.json", NULL, &es, &err) != MD_OK) {
        print_error("entities: %s\n", err.msg);
        _fail(file, line);
    }
    return keep(es, free_es);
}
#define ents(json) ents_at((json), __FILE__, __LINE__)

static md_uid_t mkuid(const char *type, const char *id)
{
    md_uid_t u = {md_str_c(type), md_str_c(id), 0};
    u.hash = md_uid_hash(u.type, u.id);
    return u;
}

/* A request (held): its uids point at the caller's strings, its context is parsed from JSON. */
typedef struct req {
    md_uid_t p, a, r;
    md_arena_t arena; /* holds the context */
    md_request_t q;
} req_t;

static void req_destroy(void *p)
{
    req_t *rq = p;
    md_arena_free(&rq->arena);
    free(rq);
}

static req_t *new_req(const char *pt, const char *pi, const char *ai, const char *rt, const char *ri,
                      const char *ctx)
{
    req_t *rq = malloc(sizeof(*rq));
    assert_non_null(rq);
    rq->p = mkuid(pt, pi);
    rq->a = mkuid("Action", ai);
    rq->r = mkuid(rt, ri);
    md_arena_init(&rq->arena, 1024);
    keep(rq, req_destroy);
    rq->q.principal = &rq->p;
    rq->q.action = &rq->a;
    rq->q.resource = &rq->r;
    rq->q.context = (md_cv_t){.kind = MD_CV_RECORD};
    if (ctx) {
        json_error_t je;
        md_err_t err = {0};
        json_t *j = md_json_loadb(ctx, strlen(ctx), &je);
        assert_non_null(j);
        assert_int_equal(md_json_to_cv(j, NULL, &rq->arena, "context", 0, &rq->q.context, &err), MD_OK);
        json_decref(j);
    }
    return rq;
}

/* Ids of a policy list, comma-separated. */
static const char *ids(const md_policy_t *const *v, uint32_t n)
{
    static char buf[4][1024];
    static int k;
    char *b = buf[k++ & 3];
    b[0] = '\0';
    for (uint32_t i = 0; i < n; i++) {
        size_t len = strlen(b);
        snprintf(b + len, 1024 - len, "%s%.*s", i ? "," : "", (int)v[i]->id.n, v[i]->id.p);
    }
    return b;
}

static const char *error_ids(const md_response_t *r)
{
    static char b[1024];
    b[0] = '\0';
    for (uint32_t i = 0; i < r->nerrors; i++) {
        size_t len = strlen(b);
        snprintf(b + len, sizeof(b) - len, "%s%.*s", i ? "," : "", (int)r->errors[i].policy->id.n,
                 r->errors[i].policy->id.p);
    }
    return b;
}

/* Authorize and check the decision, the reasons and the erroring policies. */
static void check_at(const md_policyset_t *ps, const md_entities_t *es, const req_t *rq, bool allow,
                     const char *reasons, const char *errors, const char *file, int line)
{
    md_arena_t arena;
    md_arena_init(&arena, 4096);
    md_response_t resp;
    memset(&resp, 0xA5, sizeof(resp));
    int rc = md_authorize(ps, es, &rq->q, &arena, &resp);
    const char *got_reasons = rc == MD_OK ? ids(resp.reasons, resp.nreasons) : "";
    const char *got_errors = rc == MD_OK ? error_ids(&resp) : "";
    bool ok = rc == MD_OK && resp.allow == allow && strcmp(got_reasons, reasons) == 0 &&
              strcmp(got_errors, errors) == 0;
    if (!ok)
        print_error("rc %d: got %s [%s] errors [%s]\n  want %s [%s] errors [%s]\n", rc,
                    resp.allow ? "allow" : "deny", got_reasons, got_errors, allow ? "allow" : "deny", reasons,
                    errors);
    for (uint32_t i = 0; ok && i < resp.nerrors; i++)
        if (resp.errors[i].message.n == 0 || resp.errors[i].kind == MD_EVAL_OK) {
            print_error("error %u has no message or kind\n", i);
            ok = false;
        }
    md_arena_free(&arena);
    if (!ok) _fail(file, line);
}
#define ALLOW(ps, es, rq, reasons, errors)                                                                   \
    check_at((ps), (es), (rq), true, (reasons), (errors), __FILE__, __LINE__)
#define DENY(ps, es, rq, reasons, errors)                                                                    \
    check_at((ps), (es), (rq), false, (reasons), (errors), __FILE__, __LINE__)

/* The response as JSON (held: drop() it). */
static char *response_json(const md_response_t *r)
{
    md_buf_t b;
    md_buf_init(&b);
    md_response_to_json(&b, r);
    assert_false(b.oom);
    return keep(b.p, free);
}

static const char base_entities[] =
    "["
    "{\"uid\":{\"type\":\"User\",\"id\":\"alice\"},\"attrs\":{\"age\":42,\"dept\":\"eng\"},"
    " \"parents\":[{\"type\":\"Group\",\"id\":\"eng\"}]},"
    "{\"uid\":{\"type\":\"User\",\"id\":\"bob\"},\"attrs\":{\"age\":17},\"parents\":[]},"
    "{\"uid\":{\"type\":\"Group\",\"id\":\"eng\"},\"attrs\":{},\"parents\":[{\"type\":\"Group\",\"id\":"
    "\"all\"}]},"
    "{\"uid\":{\"type\":\"Group\",\"id\":\"all\"},\"attrs\":{},\"parents\":[]},"
    "{\"uid\":{\"type\":\"Doc\",\"id\":\"d1\"},\"attrs\":{\"owner\":{\"__entity\":{\"type\":\"User\",\"id\":"
    "\"alice\"}},"
    " \"public\":false},\"parents\":[{\"type\":\"Folder\",\"id\":\"f\"}]},"
    "{\"uid\":{\"type\":\"Folder\",\"id\":\"f\"},\"attrs\":{},\"parents\":[]},"
    "{\"uid\":{\"type\":\"Action\",\"id\":\"read\"},\"attrs\":{},\"parents\":[{\"type\":\"Action\",\"id\":"
    "\"any\"}]},"
    "{\"uid\":{\"type\":\"Action\",\"id\":\"write\"},\"attrs\":{},\"parents\":[{\"type\":\"Action\",\"id\":"
    "\"any\"}]}"
    "]";

/* ------------------------------------------------------------ decisions */

static void test_default_deny(void **state)
{
    md_entities_t *es = ents(base_entities);
    req_t *rq = new_req("User", "alice", "read", "Doc", "d1", NULL);

    md_policyset_t *ps = pset("");
    DENY(ps, es, rq, "", "");
    drop(ps);

    /* nothing matches */
    ps = pset("permit(principal == User::\"bob\", action, resource);\n"
              "permit(principal, action == Action::\"write\", resource);\n"
              "permit(principal, action, resource) when { false };\n"
              "permit(principal, action, resource) unless { true };\n"
              "forbid(principal, action, resource) when { false };\n");
    DENY(ps, es, rq, "", "");
    drop(ps);

    /* only templates */
    ps = pset("permit(principal == ?principal, action, resource);");
    DENY(ps, es, rq, "", "");
    drop(ps);

    /* an empty entity store */
    md_entities_t *empty = keep(md_entities_new_empty(), free_es);
    ps = pset("permit(principal in Group::\"eng\", action, resource);");
    DENY(ps, empty, rq, "", "");
    drop(ps);
    ps = pset("permit(principal == User::\"alice\", action, resource);");
    ALLOW(ps, empty, rq, "policy0", "");
    drop(ps);
    drop(empty);
    drop(rq);
    drop(es);
}

static void test_permit_and_forbid(void **state)
{
    md_entities_t *es = ents(base_entities);
    req_t *alice = new_req("User", "alice", "read", "Doc", "d1", NULL);
    req_t *bob = new_req("User", "bob", "read", "Doc", "d1", NULL);
    md_policyset_t *ps =
        pset("permit(principal, action, resource);\n"                                       /* 0 */
             "permit(principal in Group::\"all\", action, resource);\n"                     /* 1 */
             "forbid(principal, action, resource) when { principal.age < 18 };\n"           /* 2 */
             "permit(principal == User::\"carol\", action, resource);\n"                    /* 3 */
             "forbid(principal, action, resource) unless { principal has age };\n"          /* 4 */
             "forbid(principal is User, action, resource) when { principal.age < 21 };\n"); /* 5 */
    /* allow: reasons are every satisfied permit, in policy-set order */
    ALLOW(ps, es, alice, "policy0,policy1", "");
    /* deny: reasons are every satisfied forbid, not the permits */
    DENY(ps, es, bob, "policy2,policy5", "");
    drop(ps);

    /* forbid overrides permit even when the permit is more specific */
    ps = pset("permit(principal == User::\"alice\", action == Action::\"read\", resource == Doc::\"d1\");\n"
              "forbid(principal, action, resource);\n");
    DENY(ps, es, alice, "policy1", "");
    drop(ps);
    drop(alice);
    drop(bob);
    drop(es);
}

static void test_scopes_in_authorization(void **state)
{
    md_entities_t *es = ents(base_entities);
    req_t *rq = new_req("User", "alice", "read", "Doc", "d1", NULL);
    md_policyset_t *ps =
        pset("permit(principal in Group::\"all\", action, resource);\n"                       /* 0 yes */
             "permit(principal is User in Group::\"eng\", action, resource);\n"               /* 1 yes */
             "permit(principal is Group in Group::\"all\", action, resource);\n"              /* 2 no */
             "permit(principal, action in Action::\"any\", resource);\n"                      /* 3 yes */
             "permit(principal, action in [Action::\"write\", Action::\"any\"], resource);\n" /* 4 yes */
             "permit(principal, action in [Action::\"write\"], resource);\n"                  /* 5 no */
             "permit(principal, action in [], resource);\n"                                   /* 6 no */
             "permit(principal, action, resource in Folder::\"f\");\n"                        /* 7 yes */
             "permit(principal, action, resource is Folder);\n"                               /* 8 no */
             "permit(principal, action, resource == Doc::\"d1\");\n"                          /* 9 yes */
             "permit(principal == Group::\"eng\", action, resource);\n"                       /* 10 no */
             "permit(principal in User::\"alice\", action, resource);\n"                      /* 11 yes */
             "permit(principal, action == Action::\"any\", resource);\n"                      /* 12 no */
             "permit(principal is User, action, resource is Doc in Folder::\"f\");\n"         /* 13 yes */
             "permit(principal, action, resource in Nope::\"x\");\n");                        /* 14 no */
    ALLOW(ps, es, rq, "policy0,policy1,policy3,policy4,policy7,policy9,policy11,policy13", "");
    /* the same set with the index answers the same */
    assert_int_equal(md_policyset_index(ps), MD_OK);
    ALLOW(ps, es, rq, "policy0,policy1,policy3,policy4,policy7,policy9,policy11,policy13", "");
    drop(ps);
    drop(rq);
    drop(es);
}

static void test_erroring_policies_are_skipped(void **state)
{
    md_entities_t *es = ents(base_entities);
    req_t *rq = new_req("User", "alice", "read", "Doc", "d1", "{\"n\":1}");
    md_policyset_t *ps =
        pset("permit(principal, action, resource) when { principal.nosuch };\n"              /* 0 error */
             "permit(principal, action, resource) when { context.n == 1 };\n"                /* 1 yes */
             "forbid(principal, action, resource) when { resource.owner.nope };\n"           /* 2 error */
             "forbid(principal, action, resource) unless { 1 + \"a\" == 2 };\n"              /* 3 error */
             "permit(principal, action, resource) when { 1 };\n"                             /* 4 error */
             "permit(principal, action, resource) unless { \"x\" };\n"                       /* 5 error */
             "forbid(principal, action, resource) when { true } when { User::\"zz\".a };\n"  /* 6 error */
             "forbid(principal, action, resource) when { false } when { User::\"zz\".a };\n" /* 7 no */
             "forbid(principal == User::\"bob\", action, resource) when { 1 + \"a\" };\n");  /* 8 no */
    /* erroring forbids do not deny; erroring permits do not allow */
    ALLOW(ps, es, rq, "policy1", "policy0,policy2,policy3,policy4,policy5,policy6");

    md_arena_t *arena = new_arena(4096);
    md_response_t resp;
    assert_int_equal(md_authorize(ps, es, &rq->q, arena, &resp), MD_OK);
    assert_int_equal(resp.nerrors, 6);
    assert_int_equal(resp.errors[0].kind, MD_EVAL_ATTR_DOES_NOT_EXIST);
    assert_non_null(memmem(resp.errors[0].message.p, resp.errors[0].message.n, "nosuch", 6));
    assert_int_equal(resp.errors[1].kind, MD_EVAL_ATTR_DOES_NOT_EXIST);
    assert_int_equal(resp.errors[2].kind, MD_EVAL_TYPE_ERROR);
    assert_int_equal(resp.errors[3].kind, MD_EVAL_TYPE_ERROR);
    assert_int_equal(resp.errors[4].kind, MD_EVAL_TYPE_ERROR);
    assert_int_equal(resp.errors[5].kind, MD_EVAL_ENTITY_DOES_NOT_EXIST);
    assert_ptr_equal(resp.errors[0].policy, ps->policies[0]);
    assert_int_equal(resp.evaluated, 9);

    /* JSON form of the response */
    char *text = response_json(&resp);
    assert_non_null(
        strstr(text, "{\"decision\":\"allow\",\"reasons\":[\"policy1\"],\"errors\":[{\"policy\":\"policy0\","
                     "\"message\":\""));
    assert_non_null(strstr(text, "{\"policy\":\"policy6\",\"message\":\""));
    json_error_t je;
    json_t *j = json_loads(text, 0, &je);
    assert_non_null(j);
    size_t nerr = json_array_size(json_object_get(j, "errors"));
    json_decref(j);
    assert_int_equal(nerr, 6);
    drop(text);
    drop(arena);
    drop(ps);

    /* only errors: deny */
    ps = pset("permit(principal, action, resource) when { principal.nosuch };");
    DENY(ps, es, rq, "", "policy0");
    drop(ps);
    drop(rq);
    drop(es);
}

static void test_response_json(void **state)
{
    md_entities_t *es = ents(base_entities);
    req_t *rq = new_req("User", "alice", "read", "Doc", "d1", NULL);
    md_policyset_t *ps = pset("forbid(principal, action, resource);\npermit(principal, action, resource);");
    md_arena_t *arena = new_arena(4096);
    md_response_t resp;
    assert_int_equal(md_authorize(ps, es, &rq->q, arena, &resp), MD_OK);
    char *text = response_json(&resp);
    assert_string_equal(text, "{\"decision\":\"deny\",\"reasons\":[\"policy0\"],\"errors\":[]}");
    drop(text);
    drop(arena);
    drop(ps);
    drop(rq);
    drop(es);
}

static void test_templates_and_links(void **state)
{
    md_entities_t *es = ents(base_entities);
    req_t *alice = new_req("User", "alice", "read", "Doc", "d1", NULL);
    req_t *bob = new_req("User", "bob", "read", "Doc", "d1", NULL);
    md_policyset_t *ps =
        pset("permit(principal == ?principal, action, resource in ?resource);\n"
             "forbid(principal in ?principal, action, resource) when { principal.nosuch };\n"
             "permit(principal is User in ?principal, action, resource) when { principal.age > 20 };\n");

    /* templates are never evaluated: no decision, no error, not counted */
    md_arena_t *arena = new_arena(4096);
    md_response_t resp;
    assert_int_equal(md_authorize(ps, es, &alice->q, arena, &resp), MD_OK);
    assert_false(resp.allow);
    assert_int_equal(resp.nreasons, 0);
    assert_int_equal(resp.nerrors, 0);
    assert_int_equal(resp.evaluated, 0);
    md_arena_reset(arena);

    md_err_t err = {0};
    md_uid_t ualice = mkuid("User", "alice"), folder = mkuid("Folder", "f"), eng = mkuid("Group", "eng"),
             ubob = mkuid("User", "bob"), all = mkuid("Group", "all");
    assert_int_equal(md_policyset_link(ps, MD_STR("policy0"), MD_STR("alice-f"), &ualice, &folder, &err),
                     MD_OK);
    ALLOW(ps, es, alice, "alice-f", "");
    DENY(ps, es, bob, "", "");

    /* a linked forbid evaluates its condition (and its error) */
    assert_int_equal(md_policyset_link(ps, MD_STR("policy1"), MD_STR("no-eng"), &eng, NULL, &err), MD_OK);
    ALLOW(ps, es, alice, "alice-f", "no-eng");
    DENY(ps, es, bob, "", "");

    assert_int_equal(md_policyset_link(ps, MD_STR("policy2"), MD_STR("adults"), &all, NULL, &err), MD_OK);
    assert_int_equal(md_policyset_link(ps, MD_STR("policy0"), MD_STR("bob-f"), &ubob, &folder, &err), MD_OK);
    ALLOW(ps, es, alice, "alice-f,adults", "no-eng");
    ALLOW(ps, es, bob, "bob-f", "");

    assert_int_equal(md_authorize(ps, es, &alice->q, arena, &resp), MD_OK);
    assert_int_equal(resp.evaluated, 4); /* the four links, not the three templates */
    drop(arena);
    drop(ps);
    drop(alice);
    drop(bob);
    drop(es);
}

/* ------------------------------------------------------------ the scope index */

static uint64_t rng_state;
static uint32_t rnd(uint32_t n)
{
    rng_state ^= rng_state << 13;
    rng_state ^= rng_state >> 7;
    rng_state ^= rng_state << 17;
    return (uint32_t)(rng_state % n);
}

enum { NUSERS = 8, NGROUPS = 5, NDOCS = 8, NFOLDERS = 4 };

static char *random_entities(void)
{
    md_buf_t b;
    md_buf_init(&b);
    md_buf_addc(&b, '[');
    /* groups: g0..g4, each gi may have parents among g(i+1).. (a DAG) */
    for (int i = 0; i < NGROUPS; i++) {
        md_buf_printf(&b, "{\"uid\":{\"type\":\"Group\",\"id\":\"g%d\"},\"attrs\":{},\"parents\":[", i);
        int k = 0;
        for (int j = i + 1; j < NGROUPS; j++)
            if (rnd(3) == 0) md_buf_printf(&b, "%s{\"type\":\"Group\",\"id\":\"g%d\"}", k++ ? "," : "", j);
        md_buf_adds(&b, "]},");
    }
    for (int i = 0; i < NUSERS; i++) {
        md_buf_printf(&b,
                      "{\"uid\":{\"type\":\"User\",\"id\":\"u%d\"},\"attrs\":{\"level\":%u},\"parents\":[", i,
                      rnd(5));
        int k = 0;
        for (int j = 0; j < NGROUPS; j++)
            if (rnd(3) == 0) md_buf_printf(&b, "%s{\"type\":\"Group\",\"id\":\"g%d\"}", k++ ? "," : "", j);
        md_buf_adds(&b, "]},");
    }
    for (int i = 0; i < NFOLDERS; i++) {
        md_buf_printf(&b, "{\"uid\":{\"type\":\"Folder\",\"id\":\"f%d\"},\"attrs\":{},\"parents\":[", i);
        if (i + 1 < NFOLDERS && rnd(2)) md_buf_printf(&b, "{\"type\":\"Folder\",\"id\":\"f%d\"}", i + 1);
        md_buf_adds(&b, "]},");
    }
    for (int i = 0; i < NDOCS; i++) {
        md_buf_printf(&b,
                      "{\"uid\":{\"type\":\"Doc\",\"id\":\"d%d\"},\"attrs\":{\"secret\":%s},\"parents\":[", i,
                      rnd(2) ? "true" : "false");
        if (rnd(4)) md_buf_printf(&b, "{\"type\":\"Folder\",\"id\":\"f%u\"}", rnd(NFOLDERS));
        md_buf_adds(&b, "]},");
    }
    md_buf_adds(
        &b, "{\"uid\":{\"type\":\"Action\",\"id\":\"read\"},\"attrs\":{},\"parents\":[{\"type\":\"Action\","
            "\"id\":\"all\"}]},"
            "{\"uid\":{\"type\":\"Action\",\"id\":\"write\"},\"attrs\":{},\"parents\":[{\"type\":\"Action\","
            "\"id\":\"all\"}]}]");
    assert_false(b.oom);
    return b.p;
}

static void random_scope(md_buf_t *b, const char *var, bool principal)
{
    const char *T = principal ? "User" : "Doc", *G = principal ? "Group" : "Folder";
    int n = principal ? NUSERS : NDOCS, ng = principal ? NGROUPS : NFOLDERS;
    char t = principal ? 'u' : 'd', g = principal ? 'g' : 'f';
    switch (rnd(10)) {
    case 0:
    case 1: md_buf_adds(b, var); break;
    case 2: md_buf_printf(b, "%s == %s::\"%c%u\"", var, T, t, rnd(n)); break;
    case 3: md_buf_printf(b, "%s in %s::\"%c%u\"", var, G, g, rnd(ng)); break;
    case 4: md_buf_printf(b, "%s in %s::\"%c%u\"", var, T, t, rnd(n)); break;
    case 5: md_buf_printf(b, "%s is %s", var, rnd(2) ? T : G); break;
    case 6: md_buf_printf(b, "%s is %s in %s::\"%c%u\"", var, T, G, g, rnd(ng)); break;
    case 7: md_buf_printf(b, "%s is %s in %s::\"%c%u\"", var, G, G, g, rnd(ng)); break;
    case 8: md_buf_printf(b, "%s == %s::\"%c%u\"", var, G, g, rnd(ng)); break;
    default:
        if (rnd(2)) /* an entity that is in no store, but may be the request's own */
            md_buf_printf(b, "%s %s %s::\"%c99\"", var, rnd(2) ? "==" : "in", T, t);
        else
            md_buf_printf(b, "%s in Nowhere::\"%u\"", var, rnd(3));
        break;
    }
}

static char *random_policies(int n)
{
    md_buf_t b;
    md_buf_init(&b);
    for (int i = 0; i < n; i++) {
        bool tmpl = rnd(12) == 0;
        md_buf_adds(&b, rnd(4) == 0 ? "forbid(" : "permit(");
        if (tmpl && rnd(2))
            md_buf_adds(&b, rnd(2) ? "principal == ?principal" : "principal in ?principal");
        else
            random_scope(&b, "principal", true);
        static const char *const actions[] = {"action", "action", "action == Action::\"read\"",
                                              "action in Action::\"all\"",
                                              "action in [Action::\"write\", Action::\"other\"]"};
        md_buf_printf(&b, ", %s, ", actions[rnd(5)]);
        if (tmpl)
            md_buf_adds(&b, rnd(2) ? "resource == ?resource" : "resource in ?resource");
        else
            random_scope(&b, "resource", false);
        md_buf_adds(&b, ")");
        switch (rnd(6)) {
        case 0: md_buf_printf(&b, " when { context.n > %u }", rnd(4)); break;
        case 1:
            md_buf_adds(&b, " unless { resource.secret }");
            break; /* errors for folders and unknown docs */
        case 2: md_buf_printf(&b, " when { principal.level >= %u }", rnd(5)); break;
        case 3: md_buf_adds(&b, " when { principal in resource || context.flag }"); break;
        default: break;
        }
        md_buf_adds(&b, ";\n");
    }
    assert_false(b.oom);
    return b.p;
}

/* Link every template a few times (the same links on every copy of the set). */
static void link_all(md_policyset_t *ps, uint64_t seed)
{
    uint64_t saved = rng_state;
    rng_state = seed;
    uint32_t n = ps->npolicies;
    for (uint32_t i = 0; i < n; i++) {
        const md_policy_t *t = ps->policies[i];
        if (!t->is_template) continue;
        for (int k = 0; k < 3; k++) {
            char pid[16], rid[16], nid[32];
            snprintf(pid, sizeof(pid), "%c%u", rnd(2) ? 'u' : 'g', rnd(NGROUPS));
            snprintf(rid, sizeof(rid), "%c%u", rnd(2) ? 'd' : 'f', rnd(NFOLDERS));
            snprintf(nid, sizeof(nid), "link%u_%d", i, k);
            md_uid_t p = mkuid(pid[0] == 'u' ? "User" : "Group", pid),
                     r = mkuid(rid[0] == 'd' ? "Doc" : "Folder", rid);
            md_err_t err = {0};
            assert_int_equal(md_policyset_link(ps, t->id, md_str_c(nid), t->principal.slot ? &p : NULL,
                                               t->resource.slot ? &r : NULL, &err),
                             MD_OK);
        }
    }
    rng_state = saved;
}

typedef struct answer {
    char json[4096];
    uint32_t evaluated;
} answer_t;

static void answer(const md_policyset_t *ps, const md_entities_t *es, const md_request_t *q,
                   md_arena_t *arena, answer_t *out)
{
    md_response_t resp;
    md_arena_reset(arena);
    assert_int_equal(md_authorize(ps, es, q, arena, &resp), MD_OK);
    md_buf_t b;
    md_buf_init(&b);
    md_response_to_json(&b, &resp);
    bool fits = !b.oom && b.n < sizeof(out->json);
    snprintf(out->json, sizeof(out->json), "%s", b.p ? b.p : "");
    md_buf_free(&b);
    assert_true(fits);
    out->evaluated = resp.evaluated;
}

static void test_index_never_changes_the_answer(void **state)
{
    static const char *const ptypes[] = {"User", "Group", "User"};
    static const char *const rtypes[] = {"Doc", "Folder", "Doc"};
    static const char *const actions[] = {"read", "write", "all", "other"};
    uint64_t total_plain = 0, total_indexed = 0, compared = 0, allows = 0, with_errors = 0;

    for (int round = 0; round < 12; round++) {
        rng_state = 0x2545F4914F6CDD1DULL + (uint64_t)round * 7919;
        char *etext = keep(random_entities(), free);
        char *ptext = keep(random_policies(20 + round * 10), free);
        md_entities_t *es = ents(etext);
        md_policyset_t *plain = pset(ptext), *indexed = pset(ptext);
        link_all(plain, 99 + (uint64_t)round);
        link_all(indexed, 99 + (uint64_t)round);
        assert_int_equal(plain->npolicies, indexed->npolicies);
        assert_int_equal(md_policyset_index(indexed), MD_OK);
        assert_non_null(indexed->index);
        assert_null(plain->index);

        md_arena_t *arena = new_arena(8192);
        static answer_t a, b;
        for (int pi = 0; pi < NUSERS + 2; pi++)
            for (int ai = 0; ai < 4; ai++)
                for (int ri = 0; ri < NDOCS + 2; ri++) {
                    char pid[16], rid[16];
                    const char *pt = ptypes[pi % 3], *rt = rtypes[ri % 3];
                    snprintf(pid, sizeof(pid), "%c%d", pt[0] == 'U' ? 'u' : 'g',
                             pi == NUSERS + 1 ? 99 : pi % NGROUPS);
                    if (pt[0] == 'U' && pi < NUSERS) snprintf(pid, sizeof(pid), "u%d", pi);
                    snprintf(rid, sizeof(rid), "%c%d", rt[0] == 'D' ? 'd' : 'f',
                             ri == NDOCS + 1 ? 99 : ri % NFOLDERS);
                    if (rt[0] == 'D' && ri < NDOCS) snprintf(rid, sizeof(rid), "d%d", ri);
                    char ctx[64];
                    snprintf(ctx, sizeof(ctx), "{\"n\":%d,\"flag\":%s}", (pi + ri) % 4,
                             (pi * ri) % 3 ? "false" : "true");
                    req_t *rq = new_req(pt, pid, actions[ai], rt, rid, ctx);
                    answer(plain, es, &rq->q, arena, &a);
                    answer(indexed, es, &rq->q, arena, &b);
                    if (strcmp(a.json, b.json) != 0)
                        fail_msg("round %d, %s::%s %s %s::%s:\n  plain:   %s\n  indexed: %s", round, pt, pid,
                                 actions[ai], rt, rid, a.json, b.json);
                    assert_true(b.evaluated <= a.evaluated);
                    total_plain += a.evaluated;
                    total_indexed += b.evaluated;
                    compared++;
                    allows += strstr(a.json, "\"allow\"") != NULL;
                    with_errors += strstr(a.json, "\"errors\":[]") == NULL;
                    drop(rq);
                }
        drop(arena);
        drop(plain);
        drop(indexed);
        drop(es);
        drop(etext);
        drop(ptext);
    }
    /* the sweep exercised allows, denies and errors, and the index did filter */
    assert_true(compared == 12 * (NUSERS + 2) * 4 * (NDOCS + 2));
    assert_true(allows > compared / 10 && allows < compared - compared / 10);
    assert_true(with_errors > compared / 20);
    assert_true(total_indexed < total_plain);
}

/* Re-indexing replaces the old index and keeps answering correctly. */
static void test_index_rebuild(void **state)
{
    md_entities_t *es = ents(base_entities);
    req_t *rq = new_req("User", "alice", "read", "Doc", "d1", NULL);
    md_policyset_t *ps =
        pset("permit(principal == User::\"alice\", action, resource);\n"
             "forbid(principal in Group::\"all\", action, resource) when { context has stop };\n"
             "permit(principal, action, resource in Folder::\"f\");\n"
             "permit(principal == User::\"bob\", action, resource);\n");
    for (int i = 0; i < 3; i++) {
        ALLOW(ps, es, rq, "policy0,policy2", "");
        assert_int_equal(md_policyset_index(ps), MD_OK);
    }
    md_arena_t *arena = new_arena(4096);
    md_response_t resp;
    assert_int_equal(md_authorize(ps, es, &rq->q, arena, &resp), MD_OK);
    assert_int_equal(resp.evaluated, 3); /* bob's policy is not a candidate */
    drop(arena);
    drop(ps);
    drop(rq);
    drop(es);
}

/* Linking after the index was built must not change answers either: the
 * linked policy has to be considered (or the index rebuilt/dropped). */
static void test_index_then_link(void **state)
{
    md_entities_t *es = ents(base_entities);
    req_t *rq = new_req("User", "alice", "read", "Doc", "d1", NULL);
    md_policyset_t *ps = pset("permit(principal == ?principal, action, resource);\n"
                              "forbid(principal, action, resource in ?resource);\n"
                              "permit(principal == User::\"bob\", action, resource);\n");
    assert_int_equal(md_policyset_index(ps), MD_OK);
    md_uid_t ualice = mkuid("User", "alice"), folder = mkuid("Folder", "f");
    md_err_t err = {0};
    assert_int_equal(md_policyset_link(ps, MD_STR("policy0"), MD_STR("p-alice"), &ualice, NULL, &err), MD_OK);
    ALLOW(ps, es, rq, "p-alice", "");
    assert_int_equal(md_policyset_link(ps, MD_STR("policy1"), MD_STR("f-forbid"), NULL, &folder, &err),
                     MD_OK);
    DENY(ps, es, rq, "f-forbid", "");
    drop(ps);
    drop(rq);
    drop(es);
}

/* ------------------------------------------------------------ memory */

static void steady_state(size_t chunk, bool with_index)
{
    md_entities_t *es = ents(base_entities);
    req_t *rq = new_req("User", "alice", "read", "Doc", "d1", "{\"tags\":[\"a\",\"b\"],\"n\":3}");
    md_policyset_t *ps =
        pset("permit(principal in Group::\"all\", action, resource) when { [1, 2, context.n].contains(3) };\n"
             "permit(principal, action, resource) when { {a: principal.age, b: [resource]} has a };\n"
             "forbid(principal, action, resource) when { principal.nosuch };\n" /* error + message */
             "forbid(principal, action, resource) when { 1 + \"x\" == 2 };\n"   /* error + message */
             "permit(principal, action, resource) when { context.tags.containsAll([\"a\"]) && "
             "\"abcdef\" like \"a*f\" && decimal(\"1.5\").lessThan(decimal(\"2.0\")) && "
             "ip(\"10.0.0.1\").isInRange(ip(\"10.0.0.0/8\")) };\n"
             "permit(principal == User::\"bob\", action, resource);\n"
             "forbid(principal, action, resource) when { User::\"ghost\".x };\n");
    if (with_index) assert_int_equal(md_policyset_index(ps), MD_OK);

    md_arena_t *arena = new_arena(chunk);
    md_response_t resp;
    /* warm-up */
    assert_int_equal(md_authorize(ps, es, &rq->q, arena, &resp), MD_OK);
    assert_true(resp.allow);
    assert_int_equal(resp.nerrors, 3);
    md_arena_reset(arena);
    assert_int_equal(md_authorize(ps, es, &rq->q, arena, &resp), MD_OK);
    size_t footprint = md_arena_footprint(arena), used = arena->used_total;
    const void *head = arena->head;
    assert_true(footprint > 0);
    assert_true(used > 0);
    for (int i = 0; i < 200; i++) {
        md_arena_reset(arena);
        assert_int_equal(md_authorize(ps, es, &rq->q, arena, &resp), MD_OK);
        assert_true(resp.allow);
        assert_int_equal(resp.nreasons, 3);
        assert_int_equal(resp.nerrors, 3);
        if (md_arena_footprint(arena) != footprint)
            fail_msg("chunk %zu, index %d: footprint %zu after request %d, %zu after the warm-up", chunk,
                     with_index, md_arena_footprint(arena), i, footprint);
        assert_int_equal(arena->used_total, used);
        if (footprint <= chunk + 256) assert_ptr_equal(arena->head, head); /* one chunk, reused */
    }
    drop(arena);
    drop(ps);
    drop(rq);
    drop(es);
}

static void test_arena_steady_state(void **state)
{
    steady_state(64 * 1024, false);
    steady_state(64 * 1024, true);
    steady_state(256, false); /* requests that need several chunks */
    steady_state(256, true);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_teardown(test_default_deny, drop_all),
        cmocka_unit_test_teardown(test_permit_and_forbid, drop_all),
        cmocka_unit_test_teardown(test_scopes_in_authorization, drop_all),
        cmocka_unit_test_teardown(test_erroring_policies_are_skipped, drop_all),
        cmocka_unit_test_teardown(test_response_json, drop_all),
        cmocka_unit_test_teardown(test_templates_and_links, drop_all),
        cmocka_unit_test_teardown(test_index_never_changes_the_answer, drop_all),
        cmocka_unit_test_teardown(test_index_rebuild, drop_all),
        cmocka_unit_test_teardown(test_index_then_link, drop_all),
        cmocka_unit_test_teardown(test_arena_steady_state, drop_all),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
