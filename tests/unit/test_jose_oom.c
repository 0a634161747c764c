/*
 * test_jose_oom.c: allocation-failure injection for src/token/ (after
 * SQLite's malloc tests): each operation is run once to count its
 * allocations, then once more for every allocation i, with allocation i
 * failing.  Every run must end without a crash, with an error code or a
 * complete result, and with every allocation freed.
 *
 * The test replaces malloc/calloc/realloc/free for the whole process
 * (glibc supports this), so failures also reach jansson and OpenSSL, and it
 * counts live allocations to find leaks.  Each failure point runs twice and
 * only the second run is measured: OpenSSL and jansson keep caches that the
 * first run may fill.  Under AddressSanitizer, which owns malloc itself,
 * the test is skipped (the other suites cover leaks there).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>

#include "token/token.h"

#if defined(__SANITIZE_ADDRESS__)
#define MD_OOM_SKIP 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define MD_OOM_SKIP 1
#endif
#endif

#ifndef MD_OOM_SKIP

/* ------------------------------------------------------------ the allocator */

extern void *__libc_malloc(size_t n);
extern void *__libc_calloc(size_t n, size_t m);
extern void *__libc_realloc(void *p, size_t n);
extern void __libc_free(void *p);

static long fail_at = -1; /* the allocation number that fails; -1: none */
static long allocs;       /* allocations attempted since the last arm() */
static long live;         /* allocations not yet freed since the last arm() */
static int failed;        /* an injected failure happened */

static int should_fail(void)
{
    if (fail_at >= 0 && allocs++ == fail_at) {
        failed = 1;
        return 1;
    }
    if (fail_at < 0) allocs++;
    return 0;
}

void *malloc(size_t n)
{
    if (should_fail()) return NULL;
    void *p = __libc_malloc(n);
    if (p != NULL) live++;
    return p;
}

void *calloc(size_t n, size_t m)
{
    if (should_fail()) return NULL;
    void *p = __libc_calloc(n, m);
    if (p != NULL) live++;
    return p;
}

void *realloc(void *p, size_t n)
{
    if (p == NULL) return malloc(n);
    if (n == 0) {
        free(p);
        return NULL;
    }
    if (should_fail()) return NULL;
    return __libc_realloc(p, n);
}

void free(void *p)
{
    if (p != NULL) live--;
    __libc_free(p);
}

static void arm(long at)
{
    fail_at = at;
    allocs = 0;
    live = 0;
    failed = 0;
}

static void disarm(void)
{
    fail_at = -1;
}

/* ------------------------------------------------------------ the operations */

#define NOW INT64_C(1700000000)
static const unsigned char KEK[MD_SEAL_KEY_LEN] = "0123456789abcdef0123456789abcdef";
static const char EC_JWK[] = "{\"kty\":\"EC\",\"crv\":\"P-256\",\"kid\":\"a3\","
                             "\"x\":\"f83OJ3D2xF1Bg8vub9tLe1gHMzV76e8Tus9uPHvRVEU\","
                             "\"y\":\"x_FEzRu9m36HLN_tue659LNpXW6pCyStikYjKIWI5a0\","
                             "\"d\":\"jpsQnnGQmL-YBIffH1136cspYG6-0iY7X1fCE9-E9LI\"}";
static const char ED_JWK[] = "{\"kty\":\"OKP\",\"crv\":\"Ed25519\",\"kid\":\"ed\","
                             "\"d\":\"nWGxne_9WmC6hEr0kuwsxERJxWl7MmkZcDusAxyuf2A\","
                             "\"x\":\"11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo\"}";
static const char RSA_JWKS[] = "{\"keys\":[{\"kty\":\"RSA\",\"kid\":\"r\","
                               "\"n\":\"0vx7agoebGcQSuuPiLJXZptN9nndrQmbXEps2aiAFbWhM78LhWx4cbbfAAt"
                               "VT86zwu1RK7aPFFxuhDR1L6tSoc_BJECPebWKRXjBZCiFV4n3oknjhMstn6"
                               "4tZ_2W-5JsGY4Hc5n9yBXArwl93lqt7_RN5w6Cf0h4QyQ5v-65YGjQR0_FD"
                               "W2QvzqY368QQMicAtaSqzs8KJZgnYb9c7d0zgdAZHzu6qMQvRL5hajrn1n9"
                               "1CbOpbISD08qNLyrdkt-bFTWhAI4vMQFh6WeZu0fM4lFd2NcRwr3XPksINH"
                               "aQ-G_xBniIqbw0Ls1jF44-csFCur-kEgU8awapJzKnqDKgw\",\"e\":\"AQAB\"},"
                               "{\"kty\":\"oct\",\"k\":\"AAAA\"}]}";

/* Each returns MD_OK or the first error; a result that claims success must be whole. */

static int op_jwk(void)
{
    md_jwk_t *k = NULL;
    json_t *j = NULL;
    char tp[MD_JWK_THUMBPRINT_LEN + 1];
    int rc = md_jwk_parse(md_str_c(EC_JWK), &k, NULL);
    if (rc == MD_OK) rc = md_jwk_to_json(k, &j);
    if (rc == MD_OK) rc = md_jwk_thumbprint(k, tp);
    if (rc == MD_OK && (json_object_get(j, "x") == NULL || strlen(tp) != MD_JWK_THUMBPRINT_LEN)) rc = -1000;
    json_decref(j);
    md_jwk_free(k);
    return rc;
}

static int op_jwks(void)
{
    md_jwks_t set = {0};
    size_t skipped = 0;
    json_t *j = NULL;
    int rc = md_jwks_parse(md_str_c(RSA_JWKS), &set, &skipped, NULL);
    if (rc == MD_OK && (set.n != 1 || skipped != 1)) rc = -1000;
    if (rc == MD_OK) rc = md_jwks_to_json((const md_jwk_t *const *)set.keys, set.n, &j);
    json_decref(j);
    md_jwks_free(&set);
    return rc;
}

static int sign_verify(const char *jwk_text)
{
    md_jwk_t *k = NULL;
    json_t *c = NULL;
    md_buf_t tok;
    md_buf_init(&tok);
    md_jwt_t jwt = {0};
    int rc = md_jwk_parse(md_str_c(jwk_text), &k, NULL);
    if (rc == MD_OK) {
        c = json_pack("{s:s, s:s, s:I}", "iss", "i", "aud", "a", "exp", (json_int_t)(NOW + 60));
        rc = c ? md_jwt_sign(k, 0, "at+jwt", c, &tok, NULL) : MD_ENOMEM;
    }
    if (rc == MD_OK) {
        const md_jwk_t *keys[] = {k};
        md_jwt_verify_opts_t o = {.now = NOW, .iss = "i", .aud = "a", .typ = "at+jwt"};
        rc = md_jwt_verify(keys, 1, md_str_c(tok.p), &o, &jwt, NULL);
        /* An allocation failure may be reported as a refusal (the token could not be
         * parsed), never as an acceptance of something else. */
        if (rc == MD_OK && (jwt.claims == NULL || jwt.exp != NOW + 60)) rc = -1000;
    }
    md_jwt_free(&jwt);
    md_buf_free(&tok);
    json_decref(c);
    md_jwk_free(k);
    return rc;
}

static int op_es256(void)
{
    return sign_verify(EC_JWK);
}

static int op_eddsa(void)
{
    return sign_verify(ED_JWK);
}

static int op_refusal(void)
{
    md_jwk_t *k = NULL;
    int rc = md_jwk_parse(md_str_c(ED_JWK), &k, NULL);
    if (rc != MD_OK) return rc;
    const md_jwk_t *keys[] = {k};
    md_jwt_verify_opts_t o = {.now = NOW};
    md_jwt_t jwt;
    /* {"alg":"EdDSA","kid":"ed","kid":"ed"} */
    rc = md_jwt_verify(keys, 1, MD_STR("eyJhbGciOiJFZERTQSIsImtpZCI6ImVkIiwia2lkIjoiZWQifQ.e30.AAAA"), &o,
                       &jwt, NULL);
    md_jwt_free(&jwt);
    md_jwk_free(k);
    return rc == MD_JOSE_DUPLICATE_KEY ? MD_OK : rc;
}

static int op_pem(void)
{
    md_jwk_t *k = NULL, *k2 = NULL;
    char *pem = NULL;
    size_t n = 0;
    int rc = md_jwk_parse(md_str_c(EC_JWK), &k, NULL);
    if (rc == MD_OK) rc = md_jwk_to_pem(k, &pem, &n, NULL);
    if (rc == MD_OK) rc = md_jwk_from_pem((md_str_t){pem, n}, &k2, NULL);
    md_jose_secret_free(pem, n);
    md_jwk_free(k);
    md_jwk_free(k2);
    return rc;
}

static int op_keyset(void)
{
    static const md_keyset_policy_t p = {MD_JOSE_ES256, 2 * 86400, 86400, 86400};
    md_keyset_t *ks = md_keyset_new(), *back = NULL;
    char *text = NULL;
    size_t n = 0;
    json_t *jwks = NULL;
    int rc = ks ? MD_OK : MD_ENOMEM;
    for (int d = 0; d <= 3 && rc == MD_OK; d++)
        rc = md_keyset_rotate(ks, NOW + d * 86400, &p, NULL);
    if (rc == MD_OK) rc = md_keyset_jwks(ks, &jwks);
    if (rc == MD_OK) rc = md_keyset_save(ks, KEK, 1, MD_STR("bound"), &text, &n, NULL);
    if (rc == MD_OK) rc = md_keyset_load(md_str_c(text), KEK, MD_STR("bound"), &back, NULL, NULL);
    if (rc == MD_OK && md_keyset_count(back) != 3) rc = -1000;
    json_decref(jwks);
    free(text);
    md_keyset_free(back);
    md_keyset_free(ks);
    return rc;
}

static int op_seal(void)
{
    unsigned char *s = NULL, *pt = NULL;
    size_t n = 0, m = 0;
    int rc = md_jose_seal(KEK, MD_STR("kid"), "secret", 6, &s, &n);
    if (rc == MD_OK) rc = md_jose_unseal(KEK, MD_STR("kid"), s, n, &pt, &m);
    if (rc == MD_OK && (m != 6 || memcmp(pt, "secret", 6) != 0)) rc = -1000;
    md_jose_secret_free(pt, m);
    free(s);
    return rc;
}

/* ------------------------------------------------------------ the driver */

/* Every failure point when the operation has at most `budget` of them (or when
 * MD_OOM_FULL is set in the environment); else an even spread of about
 * `budget` points, so that `make unit` stays quick.  MD_OOM_FULL=1 runs all. */
static void inject(const char *name, int (*op)(void), long budget)
{
    /* A clean run to fill caches, then one to count. */
    disarm();
    assert_int_equal(op(), MD_OK);
    arm(-1);
    assert_int_equal(op(), MD_OK);
    long total = allocs;
    if (live != 0) fail_msg("%s: %ld allocations leaked without any failure", name, live);
    assert_true(total > 0);
    long failures_seen = 0, points = 0;
    long stride = (getenv("MD_OOM_FULL") != NULL || total <= budget) ? 1 : total / budget + 1;
    for (long i = 0; i < total; i += stride, points++) {
        arm(i);
        (void)op(); /* the first run with this failure point may fill caches */
        arm(i);
        int rc = op();
        long leaked = live, did_fail = failed;
        disarm();
        if (rc == -1000)
            fail_msg("%s: allocation %ld failing gave a wrong result reported as success", name, i);
        if (leaked != 0)
            fail_msg("%s: allocation %ld failing leaked %ld allocations (%s)", name, i, leaked,
                     md_jose_err_name(rc));
        failures_seen += did_fail;
    }
    /* The injection reached the operation: a test that fails nothing proves nothing. */
    if (failures_seen < points / 2)
        fail_msg("%s: only %ld of %ld failure points were hit", name, failures_seen, points);
    print_message("%s: %ld of %ld allocation failure points, no leak\n", name, points, total);
}

static void test_oom_jwk(void **state)
{
    inject("jwk", op_jwk, 1000);
}
static void test_oom_jwks(void **state)
{
    inject("jwks", op_jwks, 1000);
}
static void test_oom_jwt_es256(void **state)
{
    inject("jwt es256", op_es256, 1000);
}
static void test_oom_jwt_eddsa(void **state)
{
    inject("jwt eddsa", op_eddsa, 1000);
}
static void test_oom_refusal(void **state)
{
    inject("refusal", op_refusal, 1000);
}
static void test_oom_pem(void **state)
{
    inject("pem", op_pem, 400);
}
static void test_oom_keyset(void **state)
{
    inject("keyset", op_keyset, 400);
}
static void test_oom_seal(void **state)
{
    inject("seal", op_seal, 1000);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_oom_jwk),       cmocka_unit_test(test_oom_jwks),
        cmocka_unit_test(test_oom_jwt_es256), cmocka_unit_test(test_oom_jwt_eddsa),
        cmocka_unit_test(test_oom_refusal),   cmocka_unit_test(test_oom_pem),
        cmocka_unit_test(test_oom_keyset),    cmocka_unit_test(test_oom_seal),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

#else /* AddressSanitizer owns malloc */

static void test_oom_skipped_under_asan(void **state)
{
    skip();
}

int main(void)
{
    const struct CMUnitTest tests[] = {cmocka_unit_test(test_oom_skipped_under_asan)};
    return cmocka_run_group_tests(tests, NULL, NULL);
}

#endif
