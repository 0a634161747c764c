/*
 * test_oidc.c: unit tests for OIDC federation (src/identity/oidc*.c) and the
 * `federation:` section of the config (src/core/config.c).
 *
 *   templates       SPIFFE ID and owner templates: what compiles, what renders,
 *                   which claim values are refused and with which code
 *   required claims exact match, any-of lists, booleans and integers
 *   config          the federation section: item keys, required keys, one key
 *                   source, duplicates, lines in messages; registry checks
 *   verification    a registry with a JWKS file and keys made by src/token:
 *                   every refusal has its code
 *   URLs, HTTP      the fetch policy; the HTTP client against a canned server
 *                   on loopback (framing, limits, redirects, deadline)
 *   key cache       a registry fetching from the canned server: cache, refresh
 *                   on unknown kid, the rate limit, discovery checks, IdP down
 * The real IdP end to end is tests/e2e/oidc/run.sh.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <event2/event.h>
#include <event2/thread.h>

#include "core/config.h"
#include "core/log.h"
#include "identity/oidc.h"
#include "identity/oidc_int.h"

#define NOW INT64_C(1800000000)

static void expect_code(int got, int want, const md_err_t *err)
{
    if (got != want)
        fail_msg("got %s, want %s (%s)", md_oidc_err_name(got), md_oidc_err_name(want), err ? err->msg : "");
}

static void expect_msg(const md_err_t *err, const char *want)
{
    if (strstr(err->msg, want) == NULL) fail_msg("expected `%s` in the message `%s`", want, err->msg);
}

/* ------------------------------------------------------------ templates */

static md_oidc_tmpl_t *compile_ok(const char *src, bool spiffe)
{
    md_oidc_tmpl_t *t = NULL;
    char msg[400] = "";
    int rc = md_oidc_tmpl_compile(src, spiffe, &t, msg, sizeof(msg));
    if (rc != MD_OK) fail_msg("`%s` should compile: %s", src, msg);
    return t;
}

static void compile_bad(const char *src, bool spiffe, const char *want)
{
    md_oidc_tmpl_t *t = NULL;
    char msg[400] = "";
    int rc = md_oidc_tmpl_compile(src, spiffe, &t, msg, sizeof(msg));
    if (rc == MD_OK) fail_msg("`%s` should not compile", src);
    assert_null(t);
    if (strstr(msg, want) == NULL) fail_msg("`%s`: expected `%s` in `%s`", src, want, msg);
}

static void test_template_compile(void **state)
{
    md_oidc_tmpl_free(compile_ok("spiffe://example.org/ci/{claims.repository_owner}/{claims.ref}", true));
    md_oidc_tmpl_free(compile_ok("spiffe://example.org/ci/repo-{claims.repository_id}-x", true));
    md_oidc_tmpl_free(compile_ok("spiffe://example.org/static/path", true));
    md_oidc_tmpl_free(compile_ok("spiffe://example.org/{claims.kubernetes.io:ns}", true));
    md_oidc_tmpl_free(compile_ok("{claims.email}", false));
    md_oidc_tmpl_free(compile_ok("team-ci", false));
    md_oidc_tmpl_free(compile_ok("github:{claims.actor} via {claims.repository}", false));

    compile_bad("https://example.org/{claims.x}", true, "spiffe://");
    compile_bad("spiffe://{claims.org}.example.org/x", true, "trust domain");
    compile_bad("spiffe://example.org{claims.x}", true, "trust domain");
    compile_bad("spiffe://example.org/ci/{claims.a}-{claims.b}", true, "one placeholder per path segment");
    compile_bad("spiffe://example.org/ci/{claims.a}{claims.b}", true, "one placeholder per path segment");
    compile_bad("spiffe://example.org/ci/{repository}", true, "unknown placeholder");
    compile_bad("spiffe://example.org/ci/{claims.}", true, "bad placeholder");
    compile_bad("spiffe://example.org/ci/{claims.a b}", true, "bad placeholder");
    compile_bad("spiffe://example.org/ci/{claims.a", true, "bad placeholder");
    compile_bad("spiffe://example.org/ci/a}", true, "without `{`");
    compile_bad("spiffe://example.org/ci/{claims.a}/", true, "trailing");
    compile_bad("spiffe://example.org/c i/{claims.a}", true, "SPIFFE");
    compile_bad("spiffe://Example.org/{claims.a}", true, "SPIFFE");
    compile_bad("spiffe://example.org//{claims.a}", true, "SPIFFE");
    compile_bad("spiffe://example.org/../{claims.a}", true, "SPIFFE");
    compile_bad("team\x01", false, "control character");
    compile_bad("", false, "1..");
}

static json_t *claims_of(const char *json)
{
    json_error_t je;
    json_t *c = json_loads(json, JSON_ALLOW_NUL, &je);
    if (c == NULL) fail_msg("bad test JSON: %s", je.text);
    return c;
}

/* Render t against claims; returns the code; *out (may be NULL) gets the text on success. */
static int render(const char *tmpl, bool spiffe, const char *claims, char *out, size_t outsz, md_err_t *err)
{
    md_oidc_tmpl_t *t = compile_ok(tmpl, spiffe);
    json_t *c = claims_of(claims);
    md_buf_t b;
    md_buf_init(&b);
    int rc = md_oidc_tmpl_render(t, c, &b, err);
    if (rc == MD_OK && out) snprintf(out, outsz, "%s", b.p);
    md_buf_free(&b);
    json_decref(c);
    md_oidc_tmpl_free(t);
    return rc;
}

static void test_template_render(void **state)
{
    const char *id = "spiffe://example.org/ci/{claims.owner}/{claims.repo}/{claims.ref}";
    char out[512];
    md_err_t err = {0};

    expect_code(render(id, true, "{\"owner\":\"acme\",\"repo\":\"widgets\",\"ref\":\"v1.2.3\"}", out,
                       sizeof(out), &err),
                MD_OK, &err);
    assert_string_equal(out, "spiffe://example.org/ci/acme/widgets/v1.2.3");
    /* integers render in decimal */
    expect_code(render("spiffe://example.org/r/{claims.id}", true, "{\"id\":123456}", out, sizeof(out), &err),
                MD_OK, &err);
    assert_string_equal(out, "spiffe://example.org/r/123456");

    /* a value that would add a segment, or any char outside [A-Za-z0-9._-] */
    static const char *const unsafe[] = {"acme/widgets", "a b", "a%2fb", "a\\u0000b", "é",
                                         "a:b",          "a@b", "a?b",   "a#b"};
    for (size_t i = 0; i < sizeof(unsafe) / sizeof(unsafe[0]); i++) {
        char claims[128];
        md_err_t e = {0};
        snprintf(claims, sizeof(claims), "{\"owner\":\"%s\",\"repo\":\"w\",\"ref\":\"main\"}", unsafe[i]);
        expect_code(render(id, true, claims, NULL, 0, &e), MD_OIDC_UNSAFE_CLAIM, &e);
        expect_msg(&e, "claim `owner`");
        assert_null(strstr(e.msg, unsafe[i])); /* never the value */
    }
    md_err_clear(&err);
    expect_code(render(id, true, "{\"owner\":\"\",\"repo\":\"w\",\"ref\":\"m\"}", NULL, 0, &err),
                MD_OIDC_UNSAFE_CLAIM, &err);
    md_err_clear(&err);
    char big[600];
    memset(big, 'a', 300);
    big[300] = '\0';
    char claims[800];
    snprintf(claims, sizeof(claims), "{\"owner\":\"%s\",\"repo\":\"w\",\"ref\":\"m\"}", big);
    expect_code(render(id, true, claims, NULL, 0, &err), MD_OIDC_UNSAFE_CLAIM, &err);
    md_err_clear(&err);
    expect_code(render(id, true, "{\"owner\":true,\"repo\":\"w\",\"ref\":\"m\"}", NULL, 0, &err),
                MD_OIDC_UNSAFE_CLAIM, &err);
    md_err_clear(&err);
    expect_code(render(id, true, "{\"owner\":[\"a\"],\"repo\":\"w\",\"ref\":\"m\"}", NULL, 0, &err),
                MD_OIDC_UNSAFE_CLAIM, &err);
    md_err_clear(&err);
    expect_code(render(id, true, "{\"repo\":\"w\",\"ref\":\"m\"}", NULL, 0, &err), MD_OIDC_CLAIM_MISSING,
                &err);
    expect_msg(&err, "`owner`");
    md_err_clear(&err);
    expect_code(render(id, true, "{\"owner\":null,\"repo\":\"w\",\"ref\":\"m\"}", NULL, 0, &err),
                MD_OIDC_CLAIM_MISSING, &err);
    /* safe characters, but a dot segment: the result is not a SPIFFE ID */
    md_err_clear(&err);
    expect_code(render(id, true, "{\"owner\":\"..\",\"repo\":\"w\",\"ref\":\"m\"}", NULL, 0, &err),
                MD_OIDC_BAD_SPIFFE_ID, &err);
    md_err_clear(&err);
    expect_code(render(id, true, "{\"owner\":\".\",\"repo\":\"w\",\"ref\":\"m\"}", NULL, 0, &err),
                MD_OIDC_BAD_SPIFFE_ID, &err);
    /* with a literal prefix the same value is an ordinary segment */
    expect_code(render("spiffe://example.org/r-{claims.x}", true, "{\"x\":\"..\"}", out, sizeof(out), &err),
                MD_OK, &err);
    assert_string_equal(out, "spiffe://example.org/r-..");

    /* owners: printable UTF-8, no controls */
    md_err_clear(&err);
    expect_code(
        render("{claims.email}", false, "{\"email\":\"ci-bot@acme.example\"}", out, sizeof(out), &err), MD_OK,
        &err);
    assert_string_equal(out, "ci-bot@acme.example");
    expect_code(
        render("github:{claims.actor}", false, "{\"actor\":\"Zo\\u00eb Smith\"}", out, sizeof(out), &err),
        MD_OK, &err);
    assert_string_equal(out, "github:Zo\xc3\xab Smith");
    expect_code(render("team-ci", false, "{}", out, sizeof(out), &err), MD_OK, &err);
    assert_string_equal(out, "team-ci");
    expect_code(render("{claims.email}", false, "{\"email\":\"a\\nb\"}", NULL, 0, &err), MD_OIDC_UNSAFE_CLAIM,
                &err);
    md_err_clear(&err);
    expect_code(render("{claims.email}", false, "{\"email\":\"a\\u0085b\"}", NULL, 0, &err),
                MD_OIDC_UNSAFE_CLAIM, &err);
}

/* ------------------------------------------------------------ required claims */

static void test_required_claims(void **state)
{
    const char *v_acme[] = {"acme"}, *v_refs[] = {"refs/heads/main", "refs/heads/release"},
               *v_true[] = {"true"}, *v_42[] = {"42"};
    md_conf_map_entry_t e[] = {
        {"repository_owner", {v_acme, 1}, 1},
        {"ref", {v_refs, 2}, 2},
        {"email_verified", {v_true, 1}, 3},
        {"run", {v_42, 1}, 4},
    };
    md_conf_map_t req = {e, 4};
    md_err_t err = {0};
    json_t *c;

    c = claims_of(
        "{\"repository_owner\":\"acme\",\"ref\":\"refs/heads/release\",\"email_verified\":true,\"run\":42}");
    expect_code(md_oidc_claims_check(&req, c, &err), MD_OK, &err);
    json_decref(c);

    c = claims_of(
        "{\"repository_owner\":\"acme2\",\"ref\":\"refs/heads/main\",\"email_verified\":true,\"run\":42}");
    expect_code(md_oidc_claims_check(&req, c, &err), MD_OIDC_CLAIM_MISMATCH, &err);
    expect_msg(&err, "`repository_owner`");
    assert_null(strstr(err.msg, "acme2"));
    json_decref(c);
    md_err_clear(&err);

    c = claims_of(
        "{\"repository_owner\":\"acme\",\"ref\":\"refs/heads/dev\",\"email_verified\":true,\"run\":42}");
    expect_code(md_oidc_claims_check(&req, c, &err), MD_OIDC_CLAIM_MISMATCH, &err);
    json_decref(c);
    md_err_clear(&err);

    c = claims_of(
        "{\"repository_owner\":\"acme\",\"ref\":\"refs/heads/main\",\"email_verified\":false,\"run\":42}");
    expect_code(md_oidc_claims_check(&req, c, &err), MD_OIDC_CLAIM_MISMATCH, &err);
    json_decref(c);
    md_err_clear(&err);

    /* "true" as a string is not the boolean true... but compares equal by text, as documented */
    c = claims_of(
        "{\"repository_owner\":\"acme\",\"ref\":\"refs/heads/main\",\"email_verified\":\"true\",\"run\":42}");
    expect_code(md_oidc_claims_check(&req, c, &err), MD_OK, &err);
    json_decref(c);

    c = claims_of("{\"repository_owner\":\"acme\",\"ref\":\"refs/heads/main\",\"email_verified\":true}");
    expect_code(md_oidc_claims_check(&req, c, &err), MD_OIDC_CLAIM_MISSING, &err);
    expect_msg(&err, "`run`");
    json_decref(c);
    md_err_clear(&err);

    c = claims_of(
        "{\"repository_owner\":[\"acme\"],\"ref\":\"refs/heads/main\",\"email_verified\":true,\"run\":42}");
    expect_code(md_oidc_claims_check(&req, c, &err), MD_OIDC_CLAIM_MISMATCH, &err);
    json_decref(c);
    md_err_clear(&err);

    c = claims_of(
        "{\"repository_owner\":\"acme\",\"ref\":\"refs/heads/main\",\"email_verified\":true,\"run\":42.0}");
    expect_code(md_oidc_claims_check(&req, c, &err), MD_OIDC_CLAIM_MISMATCH, &err);
    json_decref(c);
}

/* ------------------------------------------------------------ config */

static const md_config_overrides_t with_dir = {"/var/lib/mandate", -1};

static md_config_t *conf_ok(const char *text)
{
    md_conf_diag_t d;
    md_config_t *cfg = NULL;
    md_conf_diag_init(&d);
    if (md_config_parse_text("test.conf", text, strlen(text), &with_dir, &cfg, &d) != MD_OK)
        fail_msg("expected the config to parse, got:\n%s", d.text.p ? d.text.p : "(nothing)");
    md_conf_diag_free(&d);
    return cfg;
}

/* Expect failure; every NULL-terminated string must appear in the report. */
static void conf_bad(const char *text, ...)
{
    md_conf_diag_t d;
    md_config_t *cfg = NULL;
    va_list ap;
    const char *want;

    md_conf_diag_init(&d);
    if (md_config_parse_text("test.conf", text, strlen(text), &with_dir, &cfg, &d) == MD_OK)
        fail_msg("expected an error for:\n%s", text);
    assert_null(cfg);
    va_start(ap, text);
    while ((want = va_arg(ap, const char *)) != NULL)
        if (d.text.p == NULL || strstr(d.text.p, want) == NULL)
            fail_msg("expected `%s` in:\n%s", want, d.text.p ? d.text.p : "(nothing)");
    va_end(ap);
    md_conf_diag_free(&d);
}

static void test_config_federation(void **state)
{
    md_config_t *cfg = conf_ok("federation:\n"                                     /* 1 */
                               "  fetch_timeout: 3s\n"                             /* 2 */
                               "  min_refresh_interval: 1m\n"                      /* 3 */
                               "  issuers:\n"                                      /* 4 */
                               "    - issuer: https://token.actions.example.com\n" /* 5 */
                               "      discovery: true\n"                           /* 6 */
                               "      audience: mandate\n"                         /* 7 */
                               "      spiffe_id: \"spiffe://example.org/ci/{claims.repository_owner}\"\n"
                               "      owner: \"{claims.actor}\"\n"
                               "      required_claims:\n"                /* 10 */
                               "        repository_owner: acme\n"        /* 11 */
                               "        ref: [refs/heads/main, v1]\n"    /* 12 */
                               "    - issuer: https://k8s.example.com\n" /* 13 */
                               "      jwks_file: /etc/mandate/k8s.jwks\n"
                               "      audience: mandate\n"
                               "      algorithms: [ES256, EdDSA]\n"
                               "      spiffe_id: spiffe://example.org/k8s\n"
                               "      owner: platform-team\n"
                               "      max_age: 5m\n");
    const md_config_oidc_issuer_t *a, *b;

    assert_int_equal(cfg->fed_issuers.n, 2);
    assert_int_equal(cfg->fed_fetch_timeout, 3000);
    assert_int_equal(cfg->fed_min_refresh_interval, 60000);
    assert_int_equal(cfg->fed_cache_min, 300000); /* defaults */
    assert_int_equal(cfg->fed_cache_max, 86400000);
    a = md_config_fed_issuer(cfg, 0);
    b = md_config_fed_issuer(cfg, 1);
    assert_null(md_config_fed_issuer(cfg, 2));
    assert_string_equal(a->issuer, "https://token.actions.example.com");
    assert_true(a->discovery);
    assert_null(a->jwks_file);
    assert_int_equal(a->algorithms.n, 0);
    assert_int_equal(a->max_age, 3600000); /* default per item */
    assert_int_equal(a->required_claims.n, 2);
    assert_string_equal(a->required_claims.items[0].key, "repository_owner");
    assert_int_equal(a->required_claims.items[0].values.n, 1);
    assert_string_equal(a->required_claims.items[1].values.items[1], "v1");
    assert_int_equal(a->required_claims.items[1].line, 12);
    assert_false(b->discovery);
    assert_string_equal(b->jwks_file, "/etc/mandate/k8s.jwks");
    assert_int_equal(b->algorithms.n, 2);
    assert_int_equal(b->max_age, 300000);
    assert_int_equal(md_config_fed_issuer_line(cfg, 0, "audience"), 7);
    assert_int_equal(md_config_fed_issuer_line(cfg, 0, "ca_file"), 5); /* unset: the item's line */
    assert_int_equal(md_config_fed_issuer_line(cfg, 1, "issuer"), 13);
    md_config_free(cfg);

    /* no federation at all is fine */
    cfg = conf_ok("listen: 127.0.0.1:7744\n");
    assert_int_equal(cfg->fed_issuers.n, 0);
    md_config_free(cfg);

    conf_bad("federation:\n  issuers:\n    - issuer: https://a.example\n      discovery: true\n",
             "test.conf:3: key `federation.issuers[0].audience`: required",
             "key `federation.issuers[0].spiffe_id`: required", "key `federation.issuers[0].owner`: required",
             NULL);
    conf_bad("federation:\n  issuers:\n    - issuer: https://a.example\n      audience: x\n      spiffe_id: "
             "spiffe://td/x\n      owner: o\n",
             "test.conf:3: key `federation.issuers[0]`: set exactly one source of keys", "(found 0)", NULL);
    conf_bad("federation:\n  issuers:\n    - issuer: https://a.example\n      audience: x\n      spiffe_id: "
             "spiffe://td/x\n      owner: o\n      discovery: true\n      jwks_file: /x\n",
             "(found 2)", NULL);
    conf_bad("federation:\n  issuers:\n    - issuer: https://a.example\n      audience: x\n      spiffe_id: "
             "spiffe://td/x\n      owner: o\n      jwks_file: /x\n      ca_file: /ca.pem\n",
             "test.conf:8: key `federation.issuers[0].ca_file`: only for keys fetched", NULL);
    conf_bad("federation:\n  issuers:\n"
             "    - {issuer: https://a.example, audience: x, spiffe_id: spiffe://td/x, owner: o, discovery: "
             "true}\n"
             "    - {issuer: https://a.example, audience: y, spiffe_id: spiffe://td/y, owner: o, discovery: "
             "true}\n",
             "key `federation.issuers[1].issuer`: `https://a.example` is already configured by "
             "federation.issuers[0]",
             NULL);
    conf_bad("federation:\n  issuers:\n    - issuer: https://a.example\n      audience: x\n      spiffe_id: "
             "spiffe://td/x\n      owner: o\n      discovery: true\n      algorithms: [RS256, HS256]\n",
             "test.conf:8: key `federation.issuers[0].algorithms`: `HS256` is not one of", NULL);
    conf_bad("federation:\n  issuers:\n    - issuer: https://a.example\n      audience: x\n      spiffe_id: "
             "spiffe://td/x\n      owner: o\n      discovery: true\n      algorithms: [RS256, RS256]\n",
             "listed twice", NULL);
    conf_bad("federation:\n  issuers:\n    - issuer: https://a.example\n      audience: x\n      spiffe_id: "
             "spiffe://td/x\n      owner: o\n      discovery: true\n      algorithms: []\n",
             "at least one algorithm", NULL);
    conf_bad("federation:\n  issuers:\n    - issuer: ftp://a.example\n",
             "`ftp://a.example` is not an https://", NULL);
    conf_bad("federation:\n  issuers:\n    - issuer: https://a.example\n      bogus: 1\n",
             "test.conf:4: key `federation.issuers[0].bogus`: unknown key", NULL);
    conf_bad("federation:\n  issuers:\n    - just-a-string\n",
             "key `federation.issuers[0]`: expected a mapping", NULL);
    conf_bad("federation:\n  issuers: https://a.example\n",
             "key `federation.issuers`: expected a list of mappings", NULL);
    conf_bad("federation:\n  issuers:\n    - issuer: https://a.example\n      required_claims: [a, b]\n",
             "key `federation.issuers[0].required_claims`: expected a mapping", NULL);
    conf_bad(
        "federation:\n  issuers:\n    - issuer: https://a.example\n      required_claims:\n        a: []\n",
        "test.conf:5: key `federation.issuers[0].required_claims.a`: the list of values is empty", NULL);
    conf_bad("federation:\n  issuers:\n    - issuer: https://a.example\n      required_claims:\n        a: "
             "{b: c}\n",
             "key `federation.issuers[0].required_claims.a`: expected a single value", NULL);
    conf_bad("federation:\n  issuers:\n    - issuer: https://a.example\n      max_age: 2d\n",
             "federation.issuers[0].max_age", NULL);
    conf_bad("federation:\n  cache_min: 2h\n  cache_max: 1h\n",
             "key `federation.cache_min`: must not be longer", NULL);
    /* item keys are not keys of the top level, and cannot be reached by writing "issuers[]" */
    conf_bad("federation:\n  audience: x\n", "key `federation.audience`: unknown key", NULL);
    conf_bad("federation:\n  \"issuers[]\":\n    audience: x\n", "key `federation.issuers[]`: unknown key",
             NULL);
    conf_bad("audience: x\n", "key `audience`: unknown key", NULL);
}

/* ------------------------------------------------------------ keys and tokens */

static char tmpdir[64];
static md_jwk_t *key_es, *key_es2, *key_ed;
static char jwks_path[128];

static int setup_keys(void **state)
{
    md_err_t err = {0};
    json_t *jwks = NULL;
    const md_jwk_t *pub[2];
    FILE *f;

    snprintf(tmpdir, sizeof(tmpdir), "/tmp/md-test-oidc-XXXXXX");
    if (mkdtemp(tmpdir) == NULL) return -1;
    if (md_jwk_generate(MD_JOSE_ES256, &key_es, &err) != MD_OK) return -1;
    if (md_jwk_generate(MD_JOSE_ES256, &key_es2, &err) != MD_OK) return -1; /* not published */
    if (md_jwk_generate(MD_JOSE_EDDSA, &key_ed, &err) != MD_OK) return -1;
    pub[0] = key_es;
    pub[1] = key_ed;
    if (md_jwks_to_json(pub, 2, &jwks) != MD_OK) return -1;
    snprintf(jwks_path, sizeof(jwks_path), "%s/idp.jwks", tmpdir);
    if ((f = fopen(jwks_path, "w")) == NULL) return -1;
    json_dumpf(jwks, f, JSON_COMPACT);
    fclose(f);
    json_decref(jwks);
    return 0;
}

static int teardown_keys(void **state)
{
    char cmd[128];
    md_jwk_free(key_es);
    md_jwk_free(key_es2);
    md_jwk_free(key_ed);
    snprintf(cmd, sizeof(cmd), "rm -rf %s", tmpdir);
    return system(cmd) == 0 ? 0 : -1;
}

/* A signed token: claims from a json_pack-like JSON text with %s for the issuer. */
static char *sign(const md_jwk_t *k, const char *claims_json)
{
    json_t *c = claims_of(claims_json);
    md_buf_t b;
    md_err_t err = {0};
    md_buf_init(&b);
    int rc = md_jwt_sign(k, 0, "JWT", c, &b, &err);
    if (rc != MD_OK) fail_msg("sign: %s %s", md_oidc_err_name(rc), err.msg);
    json_decref(c);
    return b.p; /* owned */
}

/* The same ES256 token with s replaced by n - s: the other valid signature, as signers that do not
 * normalise (npm jose, Go, Java) produce half of the time.  Returns a new token. */
static char *high_s(const char *token)
{
    static const unsigned char n[32] = {0xff, 0xff, 0xff, 0xff, 0x00, 0x00, 0x00, 0x00, 0xff, 0xff, 0xff,
                                        0xff, 0xff, 0xff, 0xff, 0xff, 0xbc, 0xe6, 0xfa, 0xad, 0xa7, 0x17,
                                        0x9e, 0x84, 0xf3, 0xb9, 0xca, 0xc2, 0xfc, 0x63, 0x25, 0x51};
    const char *dot = strrchr(token, '.');
    unsigned char *sig = NULL;
    size_t len = 0;
    md_buf_t b;
    unsigned borrow = 0;

    assert_int_equal(md_b64url_decode(md_str_c(dot + 1), &sig, &len), MD_OK);
    assert_int_equal(len, 64);
    for (size_t i = 32; i-- > 0;) {
        unsigned v = (unsigned)n[i] - sig[32 + i] - borrow;
        sig[32 + i] = (unsigned char)v;
        borrow = (v >> 8) & 1u;
    }
    md_buf_init(&b);
    md_buf_add(&b, token, (size_t)(dot + 1 - token));
    md_b64url_encode(&b, sig, len);
    free(sig);
    return b.p;
}

static char *claims(const char *iss, const char *aud, int64_t iat, int64_t exp, const char *extra)
{
    static char buf[2048];
    snprintf(buf, sizeof(buf),
             "{\"iss\":\"%s\",\"aud\":\"%s\",\"sub\":\"repo:acme/widgets\",\"iat\":%lld,\"exp\":%lld,"
             "\"repository_owner\":\"acme\",\"repository\":\"widgets\",\"email\":\"ci@acme.example\"%s%s}",
             iss, aud, (long long)iat, (long long)exp, extra[0] ? "," : "", extra);
    return buf;
}

static md_oidc_registry_t *registry(const char *yaml)
{
    md_config_t *cfg = conf_ok(yaml);
    md_conf_diag_t d;
    md_oidc_registry_t *reg = NULL;
    md_conf_diag_init(&d);
    if (md_oidc_registry_new(cfg, NULL, &reg, &d) != MD_OK)
        fail_msg("registry: %s", d.text.p ? d.text.p : "(nothing)");
    md_conf_diag_free(&d);
    md_config_free(cfg);
    return reg;
}

static void registry_bad(const char *yaml, const char *want)
{
    md_config_t *cfg = conf_ok(yaml);
    md_conf_diag_t d;
    md_oidc_registry_t *reg = NULL;
    md_conf_diag_init(&d);
    if (md_oidc_registry_new(cfg, NULL, &reg, &d) == MD_OK)
        fail_msg("the registry should fail for:\n%s", yaml);
    if (d.text.p == NULL || strstr(d.text.p, want) == NULL)
        fail_msg("expected `%s` in:\n%s", want, d.text.p ? d.text.p : "(nothing)");
    md_conf_diag_free(&d);
    md_config_free(cfg);
}

static char yaml_file[2048];

static const char *file_yaml(const char *algs, const char *max_age)
{
    snprintf(yaml_file, sizeof(yaml_file),
             "federation:\n"
             "  issuers:\n"
             "    - issuer: https://idp.example\n"
             "      jwks_file: %s\n"
             "      audience: mandate\n"
             "      algorithms: %s\n"
             "      spiffe_id: \"spiffe://example.org/ci/{claims.repository_owner}/{claims.repository}\"\n"
             "      owner: \"{claims.email}\"\n"
             "      max_age: %s\n"
             "      required_claims:\n"
             "        repository_owner: acme\n",
             jwks_path, algs, max_age);
    return yaml_file;
}

/* Verify token with reg at now; expects want; returns nothing, checks the message has no token. */
static void verify_expect(md_oidc_registry_t *reg, const char *token, int64_t now, int want,
                          md_oidc_result_t *res)
{
    md_oidc_result_t r = {0};
    md_err_t err = {0};
    int rc = md_oidc_verify(reg, md_str_c(token), now, &r, &err);
    expect_code(rc, want, &err);
    if (rc != MD_OK) {
        assert_null(r.spiffe_id);
        assert_true(err.msg[0] != '\0');
    }
    if (res)
        *res = r;
    else
        md_oidc_result_free(&r);
}

static void test_verify_file(void **state)
{
    md_oidc_registry_t *reg = registry(file_yaml("[ES256]", "10m"));
    md_oidc_result_t r = {0};
    char *t;

    assert_int_equal(md_oidc_registry_count(reg), 1);
    t = sign(key_es, claims("https://idp.example", "mandate", NOW - 10, NOW + 300, ""));
    verify_expect(reg, t, NOW, MD_OK, &r);
    assert_string_equal(r.spiffe_id, "spiffe://example.org/ci/acme/widgets");
    assert_string_equal(r.owner, "ci@acme.example");
    assert_string_equal(r.issuer, "https://idp.example");
    assert_string_equal(r.subject, "repo:acme/widgets");
    assert_string_equal(r.kid, md_jwk_kid(key_es));
    assert_int_equal(r.alg, MD_JOSE_ES256);
    assert_int_equal(r.iat, NOW - 10);
    assert_int_equal(r.exp, NOW + 300);
    assert_int_equal(r.issuer_index, 0);
    assert_string_equal(json_string_value(json_object_get(r.claims, "repository")), "widgets");
    md_oidc_result_free(&r);

    /* the other signature of the same token (s > n/2) is accepted from an external issuer */
    {
        char *h = high_s(t);
        assert_string_not_equal(h, t);
        verify_expect(reg, h, NOW, MD_OK, NULL);
        free(h);
    }

    /* the clock: 60 s of skew either way, then refusals */
    verify_expect(reg, t, NOW + 300 + 59, MD_OK, NULL);
    verify_expect(reg, t, NOW + 300 + 60, MD_JOSE_EXPIRED, NULL);
    verify_expect(reg, t, NOW - 10 - 61, MD_JOSE_ISSUED_IN_FUTURE, NULL);
    free(t);
    t = sign(key_es, claims("https://idp.example", "mandate", NOW - 601, NOW + 300, ""));
    verify_expect(reg, t, NOW, MD_OIDC_TOO_OLD, NULL);
    free(t);
    t = sign(key_es, claims("https://idp.example", "mandate", NOW - 600, NOW + 300, ""));
    verify_expect(reg, t, NOW, MD_OK, NULL);
    free(t);

    /* the audience */
    t = sign(key_es, claims("https://idp.example", "someone-else", NOW, NOW + 300, ""));
    verify_expect(reg, t, NOW, MD_JOSE_BAD_AUDIENCE, NULL);
    free(t);
    /* the issuer: unconfigured, missing, not a string, a near miss */
    t = sign(key_es, claims("https://other.example", "mandate", NOW, NOW + 300, ""));
    verify_expect(reg, t, NOW, MD_OIDC_UNKNOWN_ISSUER, NULL);
    free(t);
    t = sign(key_es, claims("https://idp.example/", "mandate", NOW, NOW + 300, ""));
    verify_expect(reg, t, NOW, MD_OIDC_UNKNOWN_ISSUER, NULL);
    free(t);
    t = sign(key_es, "{\"aud\":\"mandate\",\"iat\":1800000000,\"exp\":1800000300}");
    verify_expect(reg, t, NOW, MD_JOSE_BAD_ISSUER, NULL);
    free(t);
    t = sign(key_es, "{\"iss\":42,\"aud\":\"mandate\",\"iat\":1800000000,\"exp\":1800000300}");
    verify_expect(reg, t, NOW, MD_JOSE_BAD_ISSUER, NULL);
    free(t);
    /* no iat: max_age needs it */
    t = sign(key_es, "{\"iss\":\"https://idp.example\",\"aud\":\"mandate\",\"exp\":1800000300,"
                     "\"repository_owner\":\"acme\",\"repository\":\"w\",\"email\":\"e\"}");
    verify_expect(reg, t, NOW, MD_JOSE_MISSING_CLAIM, NULL);
    free(t);
    /* keys: unknown kid (a file is never refreshed), an algorithm outside the list */
    t = sign(key_es2, claims("https://idp.example", "mandate", NOW, NOW + 300, ""));
    verify_expect(reg, t, NOW, MD_JOSE_UNKNOWN_KID, NULL);
    free(t);
    t = sign(key_ed, claims("https://idp.example", "mandate", NOW, NOW + 300, ""));
    verify_expect(reg, t, NOW, MD_JOSE_ALG_NOT_ALLOWED, NULL);
    free(t);
    /* claims and mapping */
    t = sign(key_es,
             "{\"iss\":\"https://idp.example\",\"aud\":\"mandate\",\"iat\":1800000000,\"exp\":1800000300,"
             "\"repository_owner\":\"evil\",\"repository\":\"w\",\"email\":\"e\"}");
    verify_expect(reg, t, NOW, MD_OIDC_CLAIM_MISMATCH, NULL);
    free(t);
    t = sign(key_es,
             "{\"iss\":\"https://idp.example\",\"aud\":\"mandate\",\"iat\":1800000000,\"exp\":1800000300,"
             "\"repository\":\"w\",\"email\":\"e\"}");
    verify_expect(reg, t, NOW, MD_OIDC_CLAIM_MISSING, NULL);
    free(t);
    t = sign(key_es,
             "{\"iss\":\"https://idp.example\",\"aud\":\"mandate\",\"iat\":1800000000,\"exp\":1800000300,"
             "\"repository_owner\":\"acme\",\"repository\":\"acme/w\",\"email\":\"e\"}");
    verify_expect(reg, t, NOW, MD_OIDC_UNSAFE_CLAIM, NULL);
    free(t);
    t = sign(key_es,
             "{\"iss\":\"https://idp.example\",\"aud\":\"mandate\",\"iat\":1800000000,\"exp\":1800000300,"
             "\"repository_owner\":\"acme\",\"repository\":\"w\"}");
    verify_expect(reg, t, NOW, MD_OIDC_CLAIM_MISSING, NULL); /* the owner's claim */
    free(t);

    /* shape and tampering */
    verify_expect(reg, "", NOW, MD_JOSE_MALFORMED, NULL);
    verify_expect(reg, "a.b", NOW, MD_JOSE_MALFORMED, NULL);
    verify_expect(reg, "a.b.c.d", NOW, MD_JOSE_MALFORMED, NULL);
    verify_expect(reg, "eyJhbGciOiJFUzI1NiJ9.e30=.sig", NOW, MD_JOSE_BAD_ENCODING, NULL);
    verify_expect(reg, "eyJhbGciOiJFUzI1NiJ9.WzFd.sig", NOW, MD_JOSE_MALFORMED, NULL); /* payload [1] */
    {
        char *big = malloc(20000);
        memset(big, 'a', 19999);
        big[19999] = '\0';
        big[10] = big[20] = '.';
        verify_expect(reg, big, NOW, MD_JOSE_TOO_LARGE, NULL);
        free(big);
    }
    t = sign(key_es, claims("https://idp.example", "mandate", NOW, NOW + 300, ""));
    {
        char *dot = strrchr(t, '.');
        dot[5] = dot[5] == 'A' ? 'B' : 'A';
        verify_expect(reg, t, NOW, MD_JOSE_BAD_SIGNATURE, NULL);
    }
    free(t);

    /* the async API answers at once when the keys are cached (a file: always) */
    {
        struct event_base *base = event_base_new();
        md_oidc_wait_t *w = (md_oidc_wait_t *)1;
        md_oidc_result_t res = {0};
        md_err_t err = {0};
        t = sign(key_es, claims("https://idp.example", "mandate", NOW, NOW + 300, ""));
        expect_code(md_oidc_verify_start(reg, base, md_str_c(t), NOW, NULL, NULL, &w, &res, &err), MD_OK,
                    &err);
        assert_null(w);
        assert_string_equal(res.spiffe_id, "spiffe://example.org/ci/acme/widgets");
        md_oidc_result_free(&res);
        expect_code(md_oidc_verify_start(reg, base, md_str_c(t), NOW + 3600, NULL, NULL, &w, &res, &err),
                    MD_JOSE_EXPIRED, &err);
        free(t);
        event_base_free(base);
    }
    {
        md_oidc_issuer_stats_t st;
        assert_int_equal(md_oidc_registry_stats(reg, 0, &st), MD_OK);
        assert_false(st.remote);
        assert_int_equal(st.keys, 2);
        assert_int_equal(st.fetches, 0);
        assert_int_equal(md_oidc_registry_stats(reg, 1, &st), MD_ENOENT);
    }
    md_oidc_registry_unref(reg);

    /* default algorithms: RS256 and ES256, so an EdDSA key is not used */
    reg = registry(file_yaml("[ES256, EdDSA]", "1h"));
    t = sign(key_ed, claims("https://idp.example", "mandate", NOW, NOW + 300, ""));
    verify_expect(reg, t, NOW, MD_OK, NULL);
    md_oidc_registry_unref(reg);
    snprintf(yaml_file, sizeof(yaml_file),
             "federation:\n  issuers:\n    - {issuer: https://idp.example, jwks_file: %s, audience: mandate, "
             "spiffe_id: spiffe://example.org/x, owner: o}\n",
             jwks_path);
    reg = registry(yaml_file);
    verify_expect(reg, t, NOW, MD_JOSE_ALG_NOT_ALLOWED, NULL);
    free(t);
    md_oidc_registry_unref(reg);
}

static void test_registry_checks(void **state)
{
    char y[1024];

    registry_bad(
        "federation:\n  issuers:\n"
        "    - issuer: http://10.0.0.1:8080\n"
        "      discovery: true\n"
        "      audience: a\n"
        "      spiffe_id: spiffe://example.org/x\n"
        "      owner: o\n",
        "test.conf:3: key `federation.issuers[0].issuer`: discovery: plain http:// is fetched only from a "
        "loopback");
    registry_bad("federation:\n  issuers:\n"
                 "    - issuer: https://a.example\n"
                 "      jwks_uri: http://a.example/jwks\n"
                 "      audience: a\n"
                 "      spiffe_id: spiffe://example.org/x\n"
                 "      owner: o\n",
                 "test.conf:4: key `federation.issuers[0].jwks_uri`: plain http://");
    registry_bad("federation:\n  issuers:\n"
                 "    - issuer: https://a.example\n"
                 "      discovery: true\n"
                 "      audience: a\n"
                 "      spiffe_id: \"spiffe://example.org/{claims.a}{claims.b}\"\n"
                 "      owner: o\n",
                 "test.conf:6: key `federation.issuers[0].spiffe_id`: at most one placeholder");
    registry_bad("federation:\n  issuers:\n"
                 "    - issuer: https://a.example\n"
                 "      discovery: true\n"
                 "      audience: a\n"
                 "      spiffe_id: spiffe://example.org/x\n"
                 "      owner: \"{email}\"\n",
                 "test.conf:7: key `federation.issuers[0].owner`: unknown placeholder");
    registry_bad("federation:\n  issuers:\n"
                 "    - issuer: https://a.example\n"
                 "      jwks_file: /nonexistent/keys.jwks\n"
                 "      audience: a\n"
                 "      spiffe_id: spiffe://example.org/x\n"
                 "      owner: o\n",
                 "test.conf:4: key `federation.issuers[0].jwks_file`: /nonexistent/keys.jwks");
    snprintf(y, sizeof(y),
             "federation:\n  issuers:\n"
             "    - issuer: https://a.example\n"
             "      discovery: true\n"
             "      ca_file: %s\n"
             "      audience: a\n"
             "      spiffe_id: spiffe://example.org/x\n"
             "      owner: o\n",
             jwks_path);
    registry_bad(y, "test.conf:5: key `federation.issuers[0].ca_file`");
    /* a JWKS file with a key of the wrong kind fails; an unusable kind is skipped */
    {
        char p[160];
        FILE *f;
        snprintf(p, sizeof(p), "%s/bad.jwks", tmpdir);
        f = fopen(p, "w");
        fputs("{\"keys\":[{\"kty\":\"oct\",\"k\":\"c2VjcmV0\"}]}", f);
        fclose(f);
        snprintf(y, sizeof(y),
                 "federation:\n  issuers:\n    - {issuer: https://a.example, jwks_file: %s, audience: a, "
                 "spiffe_id: spiffe://example.org/x, owner: o}\n",
                 p);
        registry_bad(y, "no key we can verify with");
    }
}

/* ------------------------------------------------------------ URLs */

static void url_ok(const char *s, bool https, const char *host, int port, const char *target)
{
    md_oidc_url_t u;
    char msg[300] = "";
    if (md_oidc_url_parse(s, &u, msg, sizeof(msg)) != MD_OK) fail_msg("`%s` should be fetched: %s", s, msg);
    assert_int_equal(u.https, https);
    assert_string_equal(u.host, host);
    assert_int_equal(u.port, port);
    assert_string_equal(u.target, target);
}

static void url_bad(const char *s, const char *want)
{
    md_oidc_url_t u;
    char msg[300] = "";
    if (md_oidc_url_parse(s, &u, msg, sizeof(msg)) != MD_OIDC_URL_REFUSED)
        fail_msg("`%s` should be refused", s);
    if (strstr(msg, want) == NULL) fail_msg("`%s`: expected `%s` in `%s`", s, want, msg);
}

static void test_url_policy(void **state)
{
    url_ok("https://token.actions.githubusercontent.com/.well-known/jwks", true,
           "token.actions.githubusercontent.com", 443, "/.well-known/jwks");
    url_ok("https://idp.example:8443", true, "idp.example", 8443, "/");
    url_ok("https://idp.example?x=1", true, "idp.example", 443, "/?x=1");
    url_ok("https://10.0.0.1/keys", true, "10.0.0.1", 443, "/keys");
    url_ok("https://[2001:db8::1]:444/k", true, "2001:db8::1", 444, "/k");
    url_ok("http://127.0.0.1:8080/jwks", false, "127.0.0.1", 8080, "/jwks");
    url_ok("http://127.1.2.3/jwks", false, "127.1.2.3", 80, "/jwks");
    url_ok("http://[::1]:9/x", false, "::1", 9, "/x");

    url_bad("http://10.0.0.1/jwks", "loopback");
    url_bad("http://localhost:8080/jwks", "loopback"); /* a name could resolve anywhere */
    url_bad("http://idp.example/jwks", "loopback");
    url_bad("http://[::ffff:127.0.0.1]/jwks", "loopback");
    url_bad("http://0x7f.1/jwks", "loopback"); /* a name, not an IP literal */
    url_bad("http://127.1/jwks", "host");
    url_bad("ftp://idp.example/jwks", "only https://");
    url_bad("HTTPS://idp.example/jwks", "only https://");
    url_bad("https://user:pw@idp.example/jwks", "user information");
    url_bad("https://idp.example/jwks#frag", "fragment");
    url_bad("https://idp.example/a b", "space");
    url_bad("https://idp.example:0/", "port");
    url_bad("https://idp.example:65536/", "port");
    url_bad("https://idp.example:/", "host");
    url_bad("https:///jwks", "host");
    url_bad("https://idp_example/jwks", "host");
    url_bad("https://[::1/jwks", "host");
}

static void test_cache_control(void **state)
{
    static const struct {
        const char *v;
        int64_t want;
    } cases[] = {
        {"max-age=300", 300},
        {"public, max-age=86400, must-revalidate", 86400},
        {"MAX-AGE=10", 10},
        {"max-age=\"60\"", 60},
        {"no-store", 0},
        {"max-age=300, no-cache", 0},
        {"private", -1},
        {"max-age=abc", -1},
        {"max-age=", -1},
        {"s-maxage=10", -1},
        {"", -1},
        {"max-age=999999999999999999999", 100000000000LL},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        int64_t got = md_oidc_cache_control_max_age(cases[i].v, strlen(cases[i].v));
        if (got != cases[i].want)
            fail_msg("`%s`: got %lld, want %lld", cases[i].v, (long long)got, (long long)cases[i].want);
    }
}

/* ------------------------------------------------------------ a canned HTTP server on loopback */

#define MAX_ROUTES 32

static struct {
    int fd;
    int port;
    pthread_t thread;
    pthread_mutex_t mu;
    atomic_int stop;
    struct {
        char path[64];
        char *response; /* owned: raw bytes; NULL: hang until the client gives up */
        int hits;
    } routes[MAX_ROUTES];
    int nroutes;
} srv = {.fd = -1, .mu = PTHREAD_MUTEX_INITIALIZER};

static void route(const char *path, const char *response)
{
    pthread_mutex_lock(&srv.mu);
    int i;
    for (i = 0; i < srv.nroutes; i++)
        if (strcmp(srv.routes[i].path, path) == 0) break;
    if (i == MAX_ROUTES) {
        pthread_mutex_unlock(&srv.mu);
        fail_msg("too many routes in the canned server");
    }
    if (i == srv.nroutes) srv.nroutes++;
    snprintf(srv.routes[i].path, sizeof(srv.routes[i].path), "%s", path);
    free(srv.routes[i].response);
    srv.routes[i].response = response ? strdup(response) : NULL;
    pthread_mutex_unlock(&srv.mu);
}

static int hits(const char *path)
{
    int n = 0;
    pthread_mutex_lock(&srv.mu);
    for (int i = 0; i < srv.nroutes; i++)
        if (strcmp(srv.routes[i].path, path) == 0) n = srv.routes[i].hits;
    pthread_mutex_unlock(&srv.mu);
    return n;
}

/* A 200 response with a JSON body and extra headers. */
static char *ok_json(const char *body, const char *headers)
{
    static char buf[300000];
    snprintf(buf, sizeof(buf),
             "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: %zu\r\n%s\r\n%s",
             strlen(body), headers, body);
    return buf;
}

static void *serve(void *arg)
{
    while (!srv.stop) {
        struct pollfd pfd = {srv.fd, POLLIN, 0};
        if (poll(&pfd, 1, 50) <= 0) continue;
        int c = accept(srv.fd, NULL, NULL);
        if (c < 0) continue;
        char req[8192];
        size_t n = 0;
        while (n < sizeof(req) - 1) {
            ssize_t r = read(c, req + n, sizeof(req) - 1 - n);
            if (r <= 0) break;
            n += (size_t)r;
            req[n] = '\0';
            if (strstr(req, "\r\n\r\n")) break;
        }
        req[n] = '\0';
        char path[64] = "";
        sscanf(req, "GET %63s ", path);
        char *resp = NULL;
        bool found = false;
        pthread_mutex_lock(&srv.mu);
        for (int i = 0; i < srv.nroutes; i++)
            if (strcmp(srv.routes[i].path, path) == 0) {
                srv.routes[i].hits++;
                resp = srv.routes[i].response ? strdup(srv.routes[i].response) : NULL;
                found = true;
            }
        pthread_mutex_unlock(&srv.mu);
        if (!found) resp = strdup("HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\n");
        if (resp != NULL) {
            size_t len = strlen(resp), off = 0;
            while (off < len) {
                ssize_t w = write(c, resp + off, len - off);
                if (w <= 0) break;
                off += (size_t)w;
            }
            free(resp);
        } else { /* hang: keep the connection until the client closes it */
            char sink[256];
            struct pollfd cp = {c, POLLIN, 0};
            while (!srv.stop && poll(&cp, 1, 50) >= 0)
                if ((cp.revents & (POLLIN | POLLHUP)) && read(c, sink, sizeof(sink)) <= 0) break;
        }
        close(c);
    }
    return NULL;
}

static int setup_server(void **state)
{
    struct sockaddr_in a = {0};
    socklen_t len = sizeof(a);
    int one = 1;

    if (setup_keys(state) != 0) return -1;
    srv.fd = socket(AF_INET, SOCK_STREAM, 0);
    setsockopt(srv.fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (bind(srv.fd, (struct sockaddr *)&a, sizeof(a)) != 0 || listen(srv.fd, 16) != 0) return -1;
    getsockname(srv.fd, (struct sockaddr *)&a, &len);
    srv.port = ntohs(a.sin_port);
    srv.stop = 0;
    return pthread_create(&srv.thread, NULL, serve, NULL) == 0 ? 0 : -1;
}

static int teardown_server(void **state)
{
    srv.stop = 1;
    pthread_join(srv.thread, NULL);
    close(srv.fd);
    for (int i = 0; i < srv.nroutes; i++) {
        free(srv.routes[i].response);
        srv.routes[i].response = NULL;
        srv.routes[i].hits = 0;
    }
    srv.nroutes = 0;
    return teardown_keys(state);
}

static int get(const char *path, int64_t timeout_ms, size_t max_body, md_oidc_http_resp_t *resp,
               md_err_t *err)
{
    char url[128];
    md_oidc_http_opts_t o = {NULL, timeout_ms, max_body};
    snprintf(url, sizeof(url), "http://127.0.0.1:%d%s", srv.port, path);
    memset(resp, 0, sizeof(*resp));
    md_err_clear(err);
    return md_oidc_http_get_blocking(&o, url, resp, err);
}

static void test_http_client(void **state)
{
    md_oidc_http_resp_t r;
    md_err_t err = {0};

    route("/cl", ok_json("{\"keys\":[]}", "Cache-Control: public, max-age=120\r\n"));
    expect_code(get("/cl", 2000, 0, &r, &err), MD_OK, &err);
    assert_int_equal(r.status, 200);
    assert_string_equal(r.body, "{\"keys\":[]}");
    assert_int_equal(r.max_age, 120);
    md_oidc_http_resp_free(&r);

    route("/chunked",
          "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
          "4;ext=1\r\n{\"ke\r\nA\r\nys\":[1,2,3\r\n1\r\n]\r\n1\r\n}\r\n0\r\nX-Trailer: 1\r\n\r\n");
    expect_code(get("/chunked", 2000, 0, &r, &err), MD_OK, &err);
    assert_string_equal(r.body, "{\"keys\":[1,2,3]}");
    assert_int_equal(r.max_age, -1);
    md_oidc_http_resp_free(&r);

    route("/close", "HTTP/1.0 200 OK\r\nCache-Control: no-store\r\n\r\n{\"until\":\"close\"}");
    expect_code(get("/close", 2000, 0, &r, &err), MD_OK, &err);
    assert_string_equal(r.body, "{\"until\":\"close\"}");
    assert_int_equal(r.max_age, 0);
    md_oidc_http_resp_free(&r);

    route("/redirect", "HTTP/1.1 302 Found\r\nLocation: http://127.0.0.1:1/x\r\nContent-Length: 0\r\n\r\n");
    expect_code(get("/redirect", 2000, 0, &r, &err), MD_OIDC_FETCH_FAILED, &err);
    expect_msg(&err, "redirects are not followed");
    expect_code(get("/missing", 2000, 0, &r, &err), MD_OIDC_FETCH_FAILED, &err);
    expect_msg(&err, "HTTP 404");

    route("/big", ok_json("{\"keys\":[\"0123456789\"]}", ""));
    expect_code(get("/big", 2000, 10, &r, &err), MD_OIDC_FETCH_FAILED, &err);
    expect_msg(&err, "larger than 10 bytes");
    route("/bigchunk",
          "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n8\r\n01234567\r\n8\r\n01234567\r\n0\r\n\r\n");
    expect_code(get("/bigchunk", 2000, 10, &r, &err), MD_OIDC_FETCH_FAILED, &err);
    expect_msg(&err, "larger than 10 bytes");
    route("/bigclose", "HTTP/1.1 200 OK\r\n\r\n0123456789abcdef");
    expect_code(get("/bigclose", 2000, 10, &r, &err), MD_OIDC_FETCH_FAILED, &err);

    route("/gzip", "HTTP/1.1 200 OK\r\nContent-Encoding: gzip\r\nContent-Length: 2\r\n\r\n{}");
    expect_code(get("/gzip", 2000, 0, &r, &err), MD_OIDC_FETCH_FAILED, &err);
    expect_msg(&err, "compressed");
    route("/both",
          "HTTP/1.1 200 OK\r\nContent-Length: 2\r\nTransfer-Encoding: chunked\r\n\r\n2\r\n{}\r\n0\r\n\r\n");
    expect_code(get("/both", 2000, 0, &r, &err), MD_OIDC_FETCH_FAILED, &err);
    route("/twolen", "HTTP/1.1 200 OK\r\nContent-Length: 2\r\nContent-Length: 3\r\n\r\n{} ");
    expect_code(get("/twolen", 2000, 0, &r, &err), MD_OIDC_FETCH_FAILED, &err);
    route("/te", "HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip, chunked\r\n\r\n");
    expect_code(get("/te", 2000, 0, &r, &err), MD_OIDC_FETCH_FAILED, &err);
    route("/status", "HTTP/2 200 OK\r\n\r\n{}");
    expect_code(get("/status", 2000, 0, &r, &err), MD_OIDC_FETCH_FAILED, &err);
    expect_msg(&err, "not an HTTP/1.x response");
    route("/fold", "HTTP/1.1 200 OK\r\nX-A: 1\r\n  folded\r\nContent-Length: 2\r\n\r\n{}");
    expect_code(get("/fold", 2000, 0, &r, &err), MD_OIDC_FETCH_FAILED, &err);
    route("/short", "HTTP/1.1 200 OK\r\nContent-Length: 20\r\n\r\n{}");
    expect_code(get("/short", 2000, 0, &r, &err), MD_OIDC_FETCH_FAILED, &err);
    expect_msg(&err, "closed before");
    route("/badchunk", "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n");
    expect_code(get("/badchunk", 2000, 0, &r, &err), MD_OIDC_FETCH_FAILED, &err);
    expect_msg(&err, "chunk");

    /* a server that never answers is cut off at the deadline */
    route("/hang", NULL);
    int64_t t0 = 0;
    {
        struct timespec ts;
        clock_gettime(CLOCK_MONOTONIC, &ts);
        t0 = (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
    }
    expect_code(get("/hang", 300, 0, &r, &err), MD_OIDC_FETCH_FAILED, &err);
    expect_msg(&err, "deadline");
    {
        struct timespec ts;
        clock_gettime(CLOCK_MONOTONIC, &ts);
        int64_t ms = (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000 - t0;
        if (ms < 250 || ms > 3000) fail_msg("the deadline took %lld ms", (long long)ms);
    }

    /* nothing listens there */
    {
        md_oidc_http_opts_t o = {NULL, 2000, 0};
        memset(&r, 0, sizeof(r));
        md_err_clear(&err);
        expect_code(md_oidc_http_get_blocking(&o, "http://127.0.0.1:1/x", &r, &err), MD_OIDC_FETCH_FAILED,
                    &err);
        md_err_clear(&err);
        expect_code(md_oidc_http_get_blocking(&o, "http://192.0.2.1/x", &r, &err), MD_OIDC_URL_REFUSED, &err);
        md_err_clear(&err);
        expect_code(md_oidc_http_get_blocking(&o, "https://127.0.0.1:1/x", &r, &err), MD_OIDC_FETCH_FAILED,
                    &err);
        expect_msg(&err, "no TLS context");
    }
}

/* ------------------------------------------------------------ the key cache against the canned server */

static char jwks_doc[8192];

static void publish(const md_jwk_t *a, const md_jwk_t *b, const char *cache_control)
{
    const md_jwk_t *keys[2] = {a, b};
    json_t *j = NULL;
    char *text;
    char headers[128];
    assert_int_equal(md_jwks_to_json(keys, b ? 2 : 1, &j), MD_OK);
    text = json_dumps(j, JSON_COMPACT);
    snprintf(jwks_doc, sizeof(jwks_doc), "%s", text);
    free(text);
    json_decref(j);
    snprintf(headers, sizeof(headers), "%s", cache_control ? cache_control : "");
    route("/jwks", ok_json(jwks_doc, headers));
}

static md_oidc_registry_t *remote_registry(const char *source, int min_refresh_s)
{
    char y[2048];
    snprintf(y, sizeof(y),
             "federation:\n"
             "  min_refresh_interval: %ds\n"
             "  fetch_timeout: 2s\n"
             "  cache_min: 1m\n"
             "  cache_max: 1h\n"
             "  issuers:\n"
             "    - issuer: http://127.0.0.1:%d\n"
             "      %s\n"
             "      audience: mandate\n"
             "      algorithms: [ES256]\n"
             "      spiffe_id: \"spiffe://example.org/ci/{claims.repository_owner}/{claims.repository}\"\n"
             "      owner: \"{claims.email}\"\n",
             min_refresh_s, srv.port, source);
    return registry(y);
}

static char issuer_url[64];

static char *tok(const md_jwk_t *k, int64_t iat)
{
    snprintf(issuer_url, sizeof(issuer_url), "http://127.0.0.1:%d", srv.port);
    return sign(k, claims(issuer_url, "mandate", iat, iat + 3000, ""));
}

typedef struct async_res {
    int calls, rc;
    char id[256];
} async_res_t;

static void on_done(void *arg, int rc, md_oidc_result_t *r, const md_err_t *err)
{
    async_res_t *a = arg;
    a->calls++;
    a->rc = rc;
    if (rc == MD_OK) {
        snprintf(a->id, sizeof(a->id), "%s", r->spiffe_id);
        free(r->spiffe_id); /* fields may be moved out */
        r->spiffe_id = NULL;
    }
}

static void test_key_cache(void **state)
{
    char src[128];
    md_oidc_registry_t *reg;
    md_oidc_issuer_stats_t st;
    char *t1, *t2, *t3;

    snprintf(src, sizeof(src), "jwks_uri: http://127.0.0.1:%d/jwks", srv.port);
    publish(key_es, NULL, "Cache-Control: max-age=300\r\n");
    reg = remote_registry(src, 10);
    t1 = tok(key_es, NOW);
    t2 = tok(key_es2, NOW);

    /* cold: one fetch; then cached */
    verify_expect(reg, t1, NOW, MD_OK, NULL);
    assert_int_equal(hits("/jwks"), 1);
    verify_expect(reg, t1, NOW + 1, MD_OK, NULL);
    assert_int_equal(hits("/jwks"), 1);
    assert_int_equal(md_oidc_registry_stats(reg, 0, &st), MD_OK);
    assert_true(st.remote);
    assert_int_equal(st.keys, 1);
    assert_int_equal(st.fetched_at, NOW);
    assert_int_equal(st.expires_at, NOW + 300); /* max-age=300 within [1m, 1h] */

    /* a new key at the IdP: within the rate limit, no fetch; after it, one */
    publish(key_es, key_es2, "Cache-Control: max-age=300\r\n");
    verify_expect(reg, t2, NOW + 5, MD_JOSE_UNKNOWN_KID, NULL);
    assert_int_equal(hits("/jwks"), 1);
    for (int i = 0; i < 50; i++)
        verify_expect(reg, t2, NOW + 6, MD_JOSE_UNKNOWN_KID, NULL);
    assert_int_equal(hits("/jwks"), 1);
    verify_expect(reg, t2, NOW + 10, MD_OK, NULL);
    assert_int_equal(hits("/jwks"), 2);
    assert_int_equal(md_oidc_registry_stats(reg, 0, &st), MD_OK);
    assert_int_equal(st.keys, 2);
    assert_int_equal(st.fetches, 2);
    assert_int_equal(st.refreshes_limited, 51);

    /* due keys keep serving while a background refresh runs */
    publish(key_es2, NULL, "Cache-Control: max-age=30\r\n"); /* below cache_min: kept 1m */
    verify_expect(reg, t1, NOW + 10 + 300, MD_OK, NULL);     /* served from the old set */
    for (int i = 0; i < 200 && hits("/jwks") < 3; i++)
        usleep(10000);
    assert_int_equal(hits("/jwks"), 3);
    for (int i = 0; i < 200; i++) { /* the refresh publishes a set without key_es */
        assert_int_equal(md_oidc_registry_stats(reg, 0, &st), MD_OK);
        if (st.keys == 1) break;
        usleep(10000);
    }
    assert_int_equal(st.keys, 1);
    assert_int_equal(st.expires_at - st.fetched_at, 60);
    verify_expect(reg, t1, NOW + 10 + 300 + 1, MD_JOSE_UNKNOWN_KID, NULL); /* a removed key is gone */

    /* the IdP goes away: cached keys serve until cache_max after their fetch, then nothing */
    route("/jwks", "HTTP/1.1 500 Internal Server Error\r\nContent-Length: 0\r\n\r\n");
    verify_expect(reg, t2, NOW + 10 + 300 + 100, MD_OK, NULL); /* due: a refresh fails in the background */
    for (int i = 0; i < 200; i++) {
        assert_int_equal(md_oidc_registry_stats(reg, 0, &st), MD_OK);
        if (st.fetch_errors == 1) break;
        usleep(10000);
    }
    assert_int_equal(st.fetch_errors, 1);
    assert_int_equal(st.last_error, MD_OIDC_FETCH_FAILED);
    verify_expect(reg, t2, NOW + 10 + 300 + 200, MD_OK, NULL); /* still serving; another background refresh */
    for (int i = 0; i < 200; i++) {
        assert_int_equal(md_oidc_registry_stats(reg, 0, &st), MD_OK);
        if (st.fetch_errors == 2) break;
        usleep(10000);
    }
    assert_int_equal(st.fetch_errors, 2);
    {
        md_oidc_result_t r = {0};
        md_err_t err = {0};
        /* past cache_max (1h after the last good fetch at NOW+310): refused, saying why */
        expect_code(md_oidc_verify(reg, md_str_c(t2), NOW + 310 + 3600 + 100, &r, &err),
                    MD_OIDC_KEYS_UNAVAILABLE, &err);
        expect_msg(&err, "HTTP 500");
        /* and again at once: the rate limit applies to failures too */
        int before = hits("/jwks");
        md_err_clear(&err);
        expect_code(md_oidc_verify(reg, md_str_c(t2), NOW + 310 + 3600 + 101, &r, &err),
                    MD_OIDC_KEYS_UNAVAILABLE, &err);
        expect_msg(&err, "next attempt allowed in");
        assert_int_equal(hits("/jwks"), before);
    }

    /* the async API waits for a fetch and calls back on the caller's base */
    publish(key_es, NULL, NULL);
    md_oidc_registry_unref(reg);
    reg = remote_registry(src, 10);
    {
        struct event_base *base = event_base_new();
        async_res_t a = {0, 0, ""};
        md_oidc_wait_t *w = NULL, *w2 = NULL;
        md_oidc_result_t r = {0};
        md_err_t err = {0};
        async_res_t b = {0, 0, ""};
        int before = hits("/jwks");

        expect_code(md_oidc_verify_start(reg, base, md_str_c(t1), NOW, on_done, &a, &w, &r, &err),
                    MD_OIDC_PENDING, &err);
        assert_non_null(w);
        /* a second waiter, cancelled before the fetch ends: never called */
        expect_code(md_oidc_verify_start(reg, base, md_str_c(t1), NOW, on_done, &b, &w2, &r, &err),
                    MD_OIDC_PENDING, &err);
        md_oidc_wait_cancel(w2);
        for (int i = 0; i < 500 && a.calls == 0; i++)
            event_base_loop(base, EVLOOP_ONCE | EVLOOP_NONBLOCK), usleep(2000);
        assert_int_equal(a.calls, 1);
        expect_code(a.rc, MD_OK, NULL);
        assert_string_equal(a.id, "spiffe://example.org/ci/acme/widgets");
        assert_int_equal(b.calls, 0);
        assert_int_equal(hits("/jwks"), before + 1);
        /* without max-age: kept an hour (the default), bounded by cache_max (1h) */
        assert_int_equal(md_oidc_registry_stats(reg, 0, &st), MD_OK);
        assert_int_equal(st.expires_at - st.fetched_at, 3600);
        event_base_free(base);
    }
    md_oidc_registry_unref(reg);

    /* a reload keeps the cache of an unchanged issuer */
    {
        md_oidc_registry_t *a = remote_registry(src, 10), *b = NULL;
        md_config_t *cfg;
        md_conf_diag_t d;
        char y[2048];
        int before;
        verify_expect(a, t1, NOW, MD_OK, NULL);
        before = hits("/jwks");
        snprintf(y, sizeof(y),
                 "federation:\n  min_refresh_interval: 10s\n  issuers:\n"
                 "    - {issuer: \"http://127.0.0.1:%d\", jwks_uri: \"http://127.0.0.1:%d/jwks\", audience: "
                 "mandate,"
                 " algorithms: [ES256], spiffe_id: spiffe://example.org/z, owner: o}\n",
                 srv.port, srv.port);
        cfg = conf_ok(y);
        md_conf_diag_init(&d);
        assert_int_equal(md_oidc_registry_new(cfg, a, &b, &d), MD_OK);
        md_oidc_registry_unref(a);
        md_config_free(cfg);
        md_conf_diag_free(&d);
        verify_expect(b, t1, NOW + 1, MD_OK, NULL);
        assert_int_equal(hits("/jwks"), before);
        md_oidc_registry_unref(b);
    }
    free(t1);
    free(t2);

    /* discovery: the document must name the issuer; its jwks_uri must pass the policy */
    snprintf(src, sizeof(src), "discovery: true");
    {
        char doc[512];
        snprintf(doc, sizeof(doc),
                 "{\"issuer\":\"http://127.0.0.1:%d\",\"jwks_uri\":\"http://127.0.0.1:%d/jwks\"}", srv.port,
                 srv.port);
        route("/.well-known/openid-configuration", ok_json(doc, ""));
        publish(key_es, NULL, NULL);
        reg = remote_registry(src, 10);
        t3 = tok(key_es, NOW);
        verify_expect(reg, t3, NOW, MD_OK, NULL);
        md_oidc_registry_unref(reg);

        snprintf(doc, sizeof(doc),
                 "{\"issuer\":\"http://127.0.0.1:%d/\",\"jwks_uri\":\"http://127.0.0.1:%d/jwks\"}", srv.port,
                 srv.port);
        route("/.well-known/openid-configuration", ok_json(doc, ""));
        reg = remote_registry(src, 10);
        {
            md_oidc_result_t r = {0};
            md_err_t err = {0};
            expect_code(md_oidc_verify(reg, md_str_c(t3), NOW, &r, &err), MD_OIDC_KEYS_UNAVAILABLE, &err);
            expect_msg(&err, "names another issuer");
        }
        md_oidc_registry_unref(reg);

        snprintf(doc, sizeof(doc),
                 "{\"issuer\":\"http://127.0.0.1:%d\",\"jwks_uri\":\"http://192.0.2.7/jwks\"}", srv.port);
        route("/.well-known/openid-configuration", ok_json(doc, ""));
        reg = remote_registry(src, 10);
        {
            md_oidc_result_t r = {0};
            md_err_t err = {0};
            expect_code(md_oidc_verify(reg, md_str_c(t3), NOW, &r, &err), MD_OIDC_KEYS_UNAVAILABLE, &err);
            expect_msg(&err, "jwks_uri is refused");
        }
        md_oidc_registry_unref(reg);

        route("/.well-known/openid-configuration", ok_json("{\"issuer\":", ""));
        reg = remote_registry(src, 10);
        {
            md_oidc_result_t r = {0};
            md_err_t err = {0};
            expect_code(md_oidc_verify(reg, md_str_c(t3), NOW, &r, &err), MD_OIDC_KEYS_UNAVAILABLE, &err);
            expect_msg(&err, "not a JSON object");
        }
        md_oidc_registry_unref(reg);

        /* a JWKS that is not one */
        snprintf(doc, sizeof(doc),
                 "{\"issuer\":\"http://127.0.0.1:%d\",\"jwks_uri\":\"http://127.0.0.1:%d/jwks\"}", srv.port,
                 srv.port);
        route("/.well-known/openid-configuration", ok_json(doc, ""));
        route("/jwks", ok_json("{\"keys\":[{\"kty\":\"EC\"}]}", ""));
        reg = remote_registry(src, 10);
        {
            md_oidc_result_t r = {0};
            md_err_t err = {0};
            expect_code(md_oidc_verify(reg, md_str_c(t3), NOW, &r, &err), MD_OIDC_KEYS_UNAVAILABLE, &err);
            expect_msg(&err, "JWKS is not usable");
        }
        /* prefetch reports the same, naming the issuer */
        {
            md_err_t err = {0};
            expect_code(md_oidc_registry_prefetch(reg, NOW + 1, &err), MD_OIDC_BAD_DOCUMENT, &err);
            expect_msg(&err, "http://127.0.0.1:");
        }
        publish(key_es, NULL, NULL);
        {
            md_err_t err = {0};
            expect_code(md_oidc_registry_prefetch(reg, NOW + 2, &err), MD_OK,
                        &err); /* ignores the rate limit */
        }
        verify_expect(reg, t3, NOW + 2, MD_OK, NULL);
        md_oidc_registry_unref(reg);
        free(t3);
    }
}

/* An unref while an async wait is pending is impossible (the wait holds a reference);
 * an unref while a background fetch hangs must stop the fetch thread promptly. */
static void test_shutdown_during_fetch(void **state)
{
    char src[128];
    md_oidc_registry_t *reg;
    char *t;

    route("/slow", NULL);
    snprintf(src, sizeof(src), "jwks_uri: http://127.0.0.1:%d/slow", srv.port);
    reg = remote_registry(src, 10);
    t = tok(key_es, NOW);
    {
        struct event_base *base = event_base_new();
        async_res_t a = {0, 0, ""};
        md_oidc_wait_t *w = NULL;
        md_oidc_result_t r = {0};
        md_err_t err = {0};
        expect_code(md_oidc_verify_start(reg, base, md_str_c(t), NOW, on_done, &a, &w, &r, &err),
                    MD_OIDC_PENDING, &err);
        md_oidc_wait_cancel(w);
        event_base_free(base);
    }
    md_oidc_registry_unref(reg); /* the fetch is still hanging: the thread is stopped and joined */
    free(t);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_template_compile),
        cmocka_unit_test(test_template_render),
        cmocka_unit_test(test_required_claims),
        cmocka_unit_test(test_config_federation),
        cmocka_unit_test_setup_teardown(test_verify_file, setup_keys, teardown_keys),
        cmocka_unit_test_setup_teardown(test_registry_checks, setup_keys, teardown_keys),
        cmocka_unit_test(test_url_policy),
        cmocka_unit_test(test_cache_control),
        cmocka_unit_test_setup_teardown(test_http_client, setup_server, teardown_server),
        cmocka_unit_test_setup_teardown(test_key_cache, setup_server, teardown_server),
        cmocka_unit_test_setup_teardown(test_shutdown_during_fetch, setup_server, teardown_server),
    };
    md_log_set_level(MD_LOG_ERROR);
    if (evthread_use_pthreads() != 0) return 1;
    return cmocka_run_group_tests(tests, NULL, NULL);
}
