/*
 * test_dpop.c: unit tests for src/token/dpop.c — DPoP proof verification
 * (RFC 9449), one named test per refusal, htu normalisation, and the jti
 * replay cache (expiry, the full cache, a reference model, threads).
 *
 * Proofs are made in the test: well-formed ones through md_jws_sign() with
 * keys from md_jwk_generate() or imported from OpenSSL; ill-formed ones
 * (duplicate members, bad JSON behind a good signature) by signing raw text
 * with OpenSSL directly.  Vectors: RFC 7515 A.3's private EC JWK.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>

#include <openssl/bio.h>
#include <openssl/bn.h>
#include <openssl/ec.h>
#include <openssl/evp.h>
#include <openssl/obj_mac.h>
#include <openssl/pem.h>

#include "token/dpop.h"
#include "token/token.h"

#define NOW INT64_C(1700000000)
#define HTU "https://gw.example/v1/call"

static md_jwk_t *es_key, *es_other, *ed_key;

/* [7515-A.3]: a P-256 key with its private member d. */
static const char A3_JWK[] = "{\"kty\":\"EC\",\"crv\":\"P-256\","
                             "\"x\":\"f83OJ3D2xF1Bg8vub9tLe1gHMzV76e8Tus9uPHvRVEU\","
                             "\"y\":\"x_FEzRu9m36HLN_tue659LNpXW6pCyStikYjKIWI5a0\","
                             "\"d\":\"jpsQnnGQmL-YBIffH1136cspYG6-0iY7X1fCE9-E9LI\"}";

/* ------------------------------------------------------------ helpers */

static void expect(int got, int want)
{
    if (got != want) fail_msg("got %s, want %s", md_dpop_err_name(got), md_dpop_err_name(want));
}

static md_jwk_t *pem_key(EVP_PKEY *pkey)
{
    assert_non_null(pkey);
    BIO *bio = BIO_new(BIO_s_mem());
    assert_int_equal(PEM_write_bio_PrivateKey(bio, pkey, NULL, NULL, 0, NULL, NULL), 1);
    char *data = NULL;
    long n = BIO_get_mem_data(bio, &data);
    md_jwk_t *k = NULL;
    assert_int_equal(md_jwk_from_pem((md_str_t){data, (size_t)n}, &k, NULL), MD_OK);
    BIO_free(bio);
    EVP_PKEY_free(pkey);
    return k;
}

/* The OpenSSL private key behind a md_jwk_t (through its PEM). */
static EVP_PKEY *evp_of(const md_jwk_t *key)
{
    char *pem = NULL;
    size_t n = 0;
    assert_int_equal(md_jwk_to_pem(key, &pem, &n, NULL), MD_OK);
    BIO *bio = BIO_new_mem_buf(pem, (int)n);
    EVP_PKEY *pkey = PEM_read_bio_PrivateKey(bio, NULL, NULL, NULL);
    assert_non_null(pkey);
    BIO_free(bio);
    md_jose_secret_free(pem, n);
    return pkey;
}

static md_jwk_t *gen(md_jose_alg_t alg)
{
    md_jwk_t *k = NULL;
    switch (alg) {
    case MD_JOSE_ES256:
    case MD_JOSE_EDDSA: assert_int_equal(md_jwk_generate(alg, &k, NULL), MD_OK); return k;
    case MD_JOSE_ES384: return pem_key(EVP_PKEY_Q_keygen(NULL, NULL, "EC", "secp384r1"));
    default: return pem_key(EVP_PKEY_Q_keygen(NULL, NULL, "RSA", (size_t)2048));
    }
}

/* The public JWK as a client puts it in a proof: kty and the key's members only. */
static json_t *pub_jwk(const md_jwk_t *key)
{
    json_t *j = NULL;
    assert_int_equal(md_jwk_to_json(key, &j), MD_OK);
    json_object_del(j, "kid");
    json_object_del(j, "use");
    json_object_del(j, "alg");
    return j;
}

/* {"typ": "dpop+jwt", "jwk": key's public JWK} */
static json_t *hdr(const md_jwk_t *key)
{
    json_t *h = json_object();
    json_object_set_new(h, "typ", json_string("dpop+jwt"));
    json_object_set_new(h, "jwk", pub_jwk(key));
    return h;
}

/* {"jti", "htm": "POST", "htu": HTU, "iat": NOW} */
static json_t *clm(const char *jti)
{
    return json_pack("{s:s, s:s, s:s, s:I}", "jti", jti, "htm", "POST", "htu", HTU, "iat", (json_int_t)NOW);
}

/* Sign claims with header (both taken over) through md_jws_sign; malloc'd. */
static char *make(const md_jwk_t *key, md_jose_alg_t alg, json_t *header, json_t *claims)
{
    char *body = json_dumps(claims, JSON_COMPACT);
    assert_non_null(body);
    md_buf_t b;
    md_buf_init(&b);
    md_err_t err = {0};
    int rc = md_jws_sign(key, alg, header, md_str_c(body), &b, &err);
    if (rc != MD_OK) fail_msg("sign: %s %s", md_dpop_err_name(rc), err.msg);
    free(body);
    json_decref(header);
    json_decref(claims);
    return b.p;
}

/* A good proof by key with the default claims and one claim replaced (value NULL: removed). */
static char *make_with(const md_jwk_t *key, const char *name, json_t *value)
{
    json_t *c = clm("jti-1");
    if (value != NULL)
        json_object_set_new(c, name, value);
    else
        json_object_del(c, name);
    return make(key, 0, hdr(key), c);
}

/* A good proof by key with one header member replaced (value NULL: removed); alg 0: the key's. */
static char *make_hdr(const md_jwk_t *key, const char *name, json_t *value)
{
    json_t *h = hdr(key);
    if (value != NULL)
        json_object_set_new(h, name, value);
    else
        json_object_del(h, name);
    return make(key, 0, h, clm("jti-1"));
}

/* base64url(header text) "." base64url(payload text) "." signature (given, base64url). */
static char *raw(const char *htext, const char *ptext, const char *sig)
{
    md_buf_t b;
    md_buf_init(&b);
    md_b64url_encode(&b, htext, strlen(htext));
    md_buf_addc(&b, '.');
    md_b64url_encode(&b, ptext, strlen(ptext));
    md_buf_addc(&b, '.');
    md_buf_adds(&b, sig);
    return b.p;
}

/* Header and payload as raw text, signed with the Ed25519 key by OpenSSL directly: a good signature over
 * whatever the text holds (duplicate members, broken JSON). */
static char *raw_signed(const char *htext, const char *ptext)
{
    char *t = raw(htext, ptext, "");
    size_t n = strlen(t) - 1; /* the signing input, without the last '.' */
    EVP_PKEY *pkey = evp_of(ed_key);
    EVP_MD_CTX *ctx = EVP_MD_CTX_new();
    unsigned char sig[64];
    size_t slen = sizeof(sig);
    assert_int_equal(EVP_DigestSignInit(ctx, NULL, NULL, NULL, pkey), 1);
    assert_int_equal(EVP_DigestSign(ctx, sig, &slen, (const unsigned char *)t, n), 1);
    md_buf_t b;
    md_buf_init(&b);
    md_buf_adds(&b, t);
    md_b64url_encode(&b, sig, slen);
    EVP_MD_CTX_free(ctx);
    EVP_PKEY_free(pkey);
    free(t);
    return b.p;
}

/* The Ed25519 key's public JWK as JSON text (for raw headers). */
static char *ed_jwk_text(void)
{
    json_t *j = pub_jwk(ed_key);
    char *s = json_dumps(j, JSON_COMPACT);
    json_decref(j);
    return s;
}

static md_dpop_params_t params(const char *proof)
{
    return (md_dpop_params_t){
        .proof = md_str_c(proof), .htm = MD_STR("POST"), .htu = MD_STR(HTU), .now = NOW, .skew = 5};
}

/* Verify; on failure check that the error is filled and the result untouched. */
static int verify_p(const md_dpop_params_t *p, md_dpop_result_t *res)
{
    md_dpop_result_t local;
    if (res == NULL) res = &local;
    memset(res, 0xa5, sizeof(*res));
    md_err_t err = {0};
    int rc = md_dpop_verify(p, res, &err);
    if (rc == MD_OK) {
        assert_int_equal(strlen(res->jkt), MD_JWK_THUMBPRINT_LEN);
        assert_int_equal(strlen(res->jti), res->jti_len);
    } else {
        assert_int_equal(err.code, rc);
        assert_true(err.msg[0] != '\0');
        assert_string_not_equal(md_dpop_err_name(rc), "MD_E_UNKNOWN");
        for (size_t i = 0; i < sizeof(*res); i++)
            assert_int_equal(((unsigned char *)res)[i], 0xa5);
    }
    return rc;
}

/* Verify proof with the default request (POST HTU at NOW, skew 5, max_age 60). */
static int verify(const char *proof)
{
    md_dpop_params_t p = params(proof);
    return verify_p(&p, NULL);
}

/* Verify proof against another request URI. */
static int verify_htu(const char *proof, const char *htu)
{
    md_dpop_params_t p = params(proof);
    p.htu = md_str_c(htu);
    return verify_p(&p, NULL);
}

/* A proof by es_key with htu = claim_htu, checked against request_htu. */
static int htu_pair(const char *claim_htu, const char *request_htu)
{
    char *t = make_with(es_key, "htu", json_string(claim_htu));
    int rc = verify_htu(t, request_htu);
    free(t);
    return rc;
}

static int setup(void **state)
{
    es_key = gen(MD_JOSE_ES256);
    es_other = gen(MD_JOSE_ES256);
    ed_key = gen(MD_JOSE_EDDSA);
    return 0;
}

static int teardown(void **state)
{
    md_jwk_free(es_key);
    md_jwk_free(es_other);
    md_jwk_free(ed_key);
    return 0;
}

/* ------------------------------------------------------------ valid proofs */

static void check_valid(const md_jwk_t *key, md_jose_alg_t alg)
{
    char *t = make(key, alg, hdr(key), clm("jti-valid"));
    md_dpop_params_t p = params(t);
    md_dpop_result_t res;
    md_err_t err = {0};
    int rc = md_dpop_verify(&p, &res, &err);
    if (rc != MD_OK) fail_msg("%s: %s %s", md_jose_alg_name(alg), md_dpop_err_name(rc), err.msg);
    char tp[MD_JWK_THUMBPRINT_LEN + 1];
    assert_int_equal(md_jwk_thumbprint(key, tp), MD_OK);
    assert_string_equal(res.jkt, tp);
    assert_string_equal(res.jti, "jti-valid");
    assert_int_equal(res.jti_len, 9);
    assert_int_equal(res.iat, NOW);
    assert_int_equal(res.replay_until, NOW + MD_DPOP_MAX_AGE_DEFAULT + 5);
    assert_int_equal(res.alg, alg);
    free(t);
}

static void test_valid_es256(void **state)
{
    check_valid(es_key, MD_JOSE_ES256);
}

static void test_valid_eddsa(void **state)
{
    check_valid(ed_key, MD_JOSE_EDDSA);
}

static void test_valid_es384_rs256_ps256(void **state)
{
    md_jwk_t *p384 = gen(MD_JOSE_ES384), *rsa = gen(MD_JOSE_RS256);
    check_valid(p384, MD_JOSE_ES384);
    check_valid(rsa, MD_JOSE_RS256);
    check_valid(rsa, MD_JOSE_PS256);
    md_jwk_free(p384);
    md_jwk_free(rsa);
}

/* A presented token, its binding and a server nonce, all as they should be. */
static void test_valid_bound_token_with_nonce(void **state)
{
    const char *token = "eyJhbGciOiJFUzI1NiJ9.eyJzdWIiOiJ4In0.c2ln";
    char ath[MD_DPOP_ATH_LEN + 1], jkt[MD_JWK_THUMBPRINT_LEN + 1];
    assert_int_equal(md_dpop_ath(md_str_c(token), ath), MD_OK);
    assert_int_equal(md_jwk_thumbprint(ed_key, jkt), MD_OK);
    json_t *c = clm("jti-bound");
    json_object_set_new(c, "ath", json_string(ath));
    json_object_set_new(c, "nonce", json_string("n-2"));
    char *t = make(ed_key, 0, hdr(ed_key), c);
    md_dpop_params_t p = params(t);
    md_str_t nonces[] = {MD_STR("n-3"), MD_STR("n-2")}; /* current and previous */
    p.access_token = md_str_c(token);
    p.jkt = md_str_c(jkt);
    p.nonces = nonces;
    p.nnonces = 2;
    md_dpop_result_t res;
    expect(verify_p(&p, &res), MD_OK);
    assert_string_equal(res.jkt, jkt);
    free(t);
}

/* RFC 9449 §4.2's example ath: the hash of its example access token. */
static void test_ath_rfc9449_example(void **state)
{
    char ath[MD_DPOP_ATH_LEN + 1];
    assert_int_equal(md_dpop_ath(MD_STR("Kz~8mXK1EalYznwH-LC-1fBAo.4Ljp~zsPE_NeO.gxU"), ath), MD_OK);
    assert_string_equal(ath, "fUHyO2r2Z3DZ53EsNrWBb0xWXoaNy59IiKCAqksmQEo");
}

static void test_sign_roundtrip(void **state)
{
    const char *token = "access-token";
    md_buf_t b;
    md_buf_init(&b);
    md_err_t err = {0};
    int rc = md_dpop_sign(es_key, 0, MD_STR("GET"), MD_STR("https://gw.example/v1/call?x=1"), NOW, NULL,
                          md_str_c(token), MD_STR("srv-nonce"), &b, &err);
    if (rc != MD_OK) fail_msg("%s %s", md_dpop_err_name(rc), err.msg);
    char jkt[MD_JWK_THUMBPRINT_LEN + 1];
    assert_int_equal(md_jwk_thumbprint(es_key, jkt), MD_OK);
    md_dpop_params_t p = params(b.p);
    md_str_t nonce = MD_STR("srv-nonce");
    p.htm = MD_STR("GET");
    p.access_token = md_str_c(token);
    p.jkt = md_str_c(jkt);
    p.nonces = &nonce;
    p.nnonces = 1;
    md_dpop_result_t res;
    expect(verify_p(&p, &res), MD_OK);
    assert_int_equal(res.jti_len, 22); /* 16 random bytes */
    /* the header holds typ, alg and the public jwk only */
    unsigned char *h = NULL;
    size_t hn = 0;
    assert_int_equal(md_b64url_decode((md_str_t){b.p, (size_t)(strchr(b.p, '.') - b.p)}, &h, &hn), MD_OK);
    json_t *hj = json_loads((const char *)h, 0, NULL);
    assert_non_null(hj);
    assert_int_equal(json_object_size(hj), 3);
    assert_null(json_object_get(json_object_get(hj, "jwk"), "kid"));
    assert_null(json_object_get(json_object_get(hj, "jwk"), "d"));
    json_decref(hj);
    free(h);
    /* two proofs never share a random jti */
    md_buf_t b2;
    md_buf_init(&b2);
    assert_int_equal(
        md_dpop_sign(es_key, 0, MD_STR("GET"), MD_STR(HTU), NOW, NULL, MD_STR_NULL, MD_STR_NULL, &b2, NULL),
        MD_OK);
    md_dpop_result_t res2;
    p = params(b2.p);
    p.htm = MD_STR("GET");
    expect(verify_p(&p, &res2), MD_OK);
    assert_string_not_equal(res.jti, res2.jti);
    expect(md_dpop_sign(es_key, 0, MD_STR(""), MD_STR(HTU), NOW, NULL, MD_STR_NULL, MD_STR_NULL, &b2, NULL),
           MD_EINVAL);
    expect(md_dpop_sign(es_key, 0, MD_STR("GET"), MD_STR(HTU), NOW, "", MD_STR_NULL, MD_STR_NULL, &b2, NULL),
           MD_EINVAL);
    md_buf_free(&b);
    md_buf_free(&b2);
}

/* The other one of (r, s), (r, n - s) verifies too (clients do not normalise s); the replay cache,
 * keyed by key and jti, refuses the twin like the original. */
static void test_high_s_twin_accepted_and_replay_caught(void **state)
{
    char *t = make(es_key, 0, hdr(es_key), clm("jti-twin"));
    const char *dot = strrchr(t, '.');
    unsigned char *sig = NULL;
    size_t n = 0;
    assert_int_equal(md_b64url_decode(md_str_c(dot + 1), &sig, &n), MD_OK);
    assert_int_equal(n, 64);
    EC_GROUP *g = EC_GROUP_new_by_curve_name(NID_X9_62_prime256v1);
    BIGNUM *s = BN_bin2bn(sig + 32, 32, NULL);
    assert_int_equal(BN_sub(s, EC_GROUP_get0_order(g), s), 1);
    assert_int_equal(BN_bn2binpad(s, sig + 32, 32), 32);
    md_buf_t b;
    md_buf_init(&b);
    md_buf_add(&b, t, (size_t)(dot - t + 1));
    md_b64url_encode(&b, sig, 64);
    assert_string_not_equal(b.p, t);

    md_dpop_replay_t *r = md_dpop_replay_new(64);
    md_dpop_result_t r1, r2;
    md_dpop_params_t p1 = params(t), p2 = params(b.p);
    expect(verify_p(&p1, &r1), MD_OK);
    expect(verify_p(&p2, &r2), MD_OK);
    expect(md_dpop_replay_check_and_add(r, md_str_c(r1.jkt), md_str_c(r1.jti), r1.replay_until, NOW), MD_OK);
    expect(md_dpop_replay_check_and_add(r, md_str_c(r2.jkt), md_str_c(r2.jti), r2.replay_until, NOW),
           MD_DPOP_REPLAY);
    md_dpop_replay_free(r);
    BN_free(s);
    EC_GROUP_free(g);
    free(sig);
    free(t);
    md_buf_free(&b);
}

/* ------------------------------------------------------------ header refusals */

static void test_refuses_wrong_typ(void **state)
{
    const char *bad[] = {"JWT", "at+jwt", "application/dpop+jwt", "DPoP+JWT", "dpop+jwt ", ""};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        char *t = make_hdr(es_key, "typ", json_string(bad[i]));
        expect(verify(t), MD_DPOP_BAD_TYP);
        free(t);
    }
    char *t = make_hdr(es_key, "typ", NULL);
    expect(verify(t), MD_DPOP_BAD_TYP);
    free(t);
    t = make_hdr(es_key, "typ", json_integer(1));
    expect(verify(t), MD_DPOP_BAD_TYP);
    free(t);
}

static void test_refuses_alg_none(void **state)
{
    const char *names[] = {"none", "None", "NONE"};
    char *jwk = ed_jwk_text();
    for (size_t i = 0; i < 3; i++) {
        char h[1024];
        snprintf(h, sizeof(h), "{\"alg\":\"%s\",\"typ\":\"dpop+jwt\",\"jwk\":%s}", names[i], jwk);
        char *t = raw(h, "{\"jti\":\"a\",\"htm\":\"POST\",\"htu\":\"" HTU "\",\"iat\":1700000000}", "");
        expect(verify(t), MD_JOSE_ALG_NONE);
        free(t);
    }
    free(jwk);
}

static void test_refuses_alg_hs256(void **state)
{
    const char *names[] = {"HS256", "HS384", "HS512", "ES512", "RS512", "ES256K"};
    char *jwk = ed_jwk_text();
    for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
        char h[1024];
        snprintf(h, sizeof(h), "{\"alg\":\"%s\",\"typ\":\"dpop+jwt\",\"jwk\":%s}", names[i], jwk);
        char *t = raw(h, "{\"jti\":\"a\",\"htm\":\"POST\",\"htu\":\"" HTU "\",\"iat\":1700000000}",
                      "c2lnbmF0dXJlLWJ5dGVzLWZvci1obWFjLWtleWVkLXdpdGgtdGhlLWp3aw");
        expect(verify(t), MD_JOSE_ALG_UNSUPPORTED);
        free(t);
    }
    free(jwk);
}

static void test_refuses_alg_outside_allow_list(void **state)
{
    char *t = make(es_key, 0, hdr(es_key), clm("j"));
    md_dpop_params_t p = params(t);
    p.algs = MD_JOSE_EDDSA;
    expect(verify_p(&p, NULL), MD_JOSE_ALG_NOT_ALLOWED);
    p.algs = MD_JOSE_EDDSA | MD_JOSE_ES256;
    expect(verify_p(&p, NULL), MD_OK);
    free(t);
}

static void test_refuses_missing_jwk(void **state)
{
    char *t = make_hdr(es_key, "jwk", NULL);
    expect(verify(t), MD_DPOP_NO_JWK);
    free(t);
    char tp[MD_JWK_THUMBPRINT_LEN + 1];
    assert_int_equal(md_jwk_thumbprint(es_key, tp), MD_OK);
    t = make_hdr(es_key, "jwk", json_string(tp));
    expect(verify(t), MD_DPOP_NO_JWK);
    free(t);
}

static void test_refuses_jwk_with_private_part(void **state)
{
    /* a whole private JWK (RFC 7515 A.3), the proof signed with that very key */
    md_jwk_t *a3 = NULL;
    assert_int_equal(md_jwk_parse(md_str_c(A3_JWK), &a3, NULL), MD_OK);
    json_t *h = json_object();
    json_object_set_new(h, "typ", json_string("dpop+jwt"));
    json_object_set_new(h, "jwk", json_loads(A3_JWK, 0, NULL));
    char *t = make(a3, 0, h, clm("j"));
    expect(verify(t), MD_DPOP_PRIVATE_JWK);
    free(t);
    md_jwk_free(a3);
    /* any private member, in any kty, even where it would be ignored */
    const char *members[] = {"d", "p", "q", "dp", "dq", "qi", "oth", "k"};
    for (size_t i = 0; i < sizeof(members) / sizeof(members[0]); i++) {
        h = hdr(es_key);
        json_object_set_new(json_object_get(h, "jwk"), members[i], json_string("AQAB"));
        t = make(es_key, 0, h, clm("j"));
        expect(verify(t), MD_DPOP_PRIVATE_JWK);
        free(t);
    }
}

static void test_refuses_alg_kty_mismatch(void **state)
{
    char *ed = ed_jwk_text();
    json_t *ecj = pub_jwk(es_key);
    char *ec = json_dumps(ecj, JSON_COMPACT);
    const char *payload = "{\"jti\":\"a\",\"htm\":\"POST\",\"htu\":\"" HTU "\",\"iat\":1700000000}";
    struct {
        const char *alg, *jwk;
    } cases[] = {{"EdDSA", ec}, {"ES384", ec}, {"RS256", ec}, {"PS256", ed}, {"ES256", ed}};
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        char h[1024];
        snprintf(h, sizeof(h), "{\"alg\":\"%s\",\"typ\":\"dpop+jwt\",\"jwk\":%s}", cases[i].alg,
                 cases[i].jwk);
        char *t = raw(h, payload, "AAAA");
        expect(verify(t), MD_JOSE_KEY_MISMATCH);
        free(t);
    }
    /* the jwk's own alg member says otherwise */
    json_t *h = hdr(es_key);
    json_object_set_new(json_object_get(h, "jwk"), "alg", json_string("ES384"));
    char *t = make(es_key, 0, h, clm("j"));
    expect(verify(t), MD_JOSE_KEY_MISMATCH);
    free(t);
    free(ed);
    free(ec);
    json_decref(ecj);
}

static void test_refuses_unusable_jwk(void **state)
{
    /* a point off the curve, an oct key, a "use": "enc" key: the JOSE layer's refusals */
    json_t *h = hdr(es_key);
    json_object_set_new(json_object_get(h, "jwk"), "y",
                        json_string("AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"));
    char *t = make(es_key, 0, h, clm("j"));
    expect(verify(t), MD_JOSE_BAD_KEY);
    free(t);
    h = hdr(es_key);
    json_object_set_new(json_object_get(h, "jwk"), "use", json_string("enc"));
    t = make(es_key, 0, h, clm("j"));
    expect(verify(t), MD_JOSE_UNSUPPORTED_KEY);
    free(t);
    h = hdr(es_key);
    json_object_set_new(h, "jwk", json_pack("{s:s}", "kty", "oct"));
    t = make(es_key, 0, h, clm("j"));
    expect(verify(t), MD_JOSE_UNSUPPORTED_KEY);
    free(t);
}

static void test_refuses_key_references(void **state)
{
    char tp[MD_JWK_THUMBPRINT_LEN + 1];
    assert_int_equal(md_jwk_thumbprint(es_key, tp), MD_OK);
    const char *names[] = {"kid", "jku", "x5u", "x5t", "x5t#S256"};
    for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
        char *t = make_hdr(es_key, names[i], json_string(names[i][0] == 'k' ? tp : "https://evil.example/k"));
        expect(verify(t), MD_DPOP_KEY_REFERENCE);
        free(t);
    }
    char *t = make_hdr(es_key, "x5c", json_pack("[s]", "MIIB"));
    expect(verify(t), MD_DPOP_KEY_REFERENCE);
    free(t);
}

static void test_refuses_crit(void **state)
{
    char *t = make_hdr(es_key, "crit", json_pack("[s]", "exp"));
    expect(verify(t), MD_JOSE_UNKNOWN_CRIT);
    free(t);
}

/* ------------------------------------------------------------ signature and encoding */

static void test_refuses_bad_signature(void **state)
{
    char *t = make(ed_key, 0, hdr(ed_key), clm("j"));
    char *last = strrchr(t, '.') + 5;
    *last = *last == 'A' ? 'B' : 'A';
    expect(verify(t), MD_JOSE_BAD_SIGNATURE);
    free(t);
    /* the jwk of one key, signed by another */
    t = make(es_other, 0, hdr(es_key), clm("j"));
    expect(verify(t), MD_JOSE_BAD_SIGNATURE);
    free(t);
    /* a payload swapped for another, signature kept */
    t = make(es_key, 0, hdr(es_key), clm("j"));
    char *t2 = make(es_key, 0, hdr(es_key), clm("k"));
    char *p1 = strchr(t, '.'), *p2 = strchr(t2, '.');
    md_buf_t b;
    md_buf_init(&b);
    md_buf_add(&b, t, (size_t)(p1 - t));
    md_buf_add(&b, p2, (size_t)(strrchr(t2, '.') - p2));
    md_buf_adds(&b, strrchr(t, '.'));
    expect(verify(b.p), MD_JOSE_BAD_SIGNATURE);
    md_buf_free(&b);
    free(t);
    free(t2);
}

static void test_refuses_oversized_proof(void **state)
{
    /* a valid proof made large by its jti is fine up to the limit, refused past it */
    char jti[MD_DPOP_JTI_MAX + 1];
    memset(jti, 'j', MD_DPOP_JTI_MAX);
    jti[MD_DPOP_JTI_MAX] = '\0';
    char *t = make(es_key, 0, hdr(es_key), clm(jti));
    expect(verify(t), MD_OK);
    md_dpop_params_t p = params(t);
    p.max_len = strlen(t) - 1;
    expect(verify_p(&p, NULL), MD_JOSE_TOO_LARGE);
    free(t);
    /* past the default 8 KiB, before anything is decoded */
    char *big = malloc(MD_DPOP_MAX_LEN_DEFAULT + 2);
    memset(big, 'A', MD_DPOP_MAX_LEN_DEFAULT + 1);
    big[10] = '.';
    big[20] = '.';
    big[MD_DPOP_MAX_LEN_DEFAULT + 1] = '\0';
    expect(verify(big), MD_JOSE_TOO_LARGE);
    free(big);
}

static void test_refuses_malformed(void **state)
{
    expect(verify(""), MD_JOSE_MALFORMED);
    expect(verify("abc"), MD_JOSE_MALFORMED);
    expect(verify("a.b"), MD_JOSE_MALFORMED);
    expect(verify("a.b.c.d"), MD_JOSE_MALFORMED);
    char *good = make(es_key, 0, hdr(es_key), clm("j"));
    /* base64url: padding, the standard alphabet, whitespace */
    const char *bad_b64[] = {"eyJ0eXAiOiJkcG9wK2p3dCJ9=", "eyJ0eXAi+2p3dCJ9", "eyJ0eX Ai"};
    for (size_t i = 0; i < 3; i++) {
        md_buf_t b;
        md_buf_init(&b);
        md_buf_adds(&b, bad_b64[i]);
        md_buf_adds(&b, strchr(good, '.'));
        expect(verify(b.p), MD_JOSE_BAD_ENCODING);
        md_buf_free(&b);
    }
    /* signature segment not base64url */
    md_buf_t b;
    md_buf_init(&b);
    md_buf_add(&b, good, (size_t)(strrchr(good, '.') - good + 1));
    md_buf_adds(&b, "a+b/");
    expect(verify(b.p), MD_JOSE_BAD_ENCODING);
    md_buf_free(&b);
    free(good);
    /* header: not JSON, not an object */
    char *t = raw("{\"typ\":", "{}", "AAAA");
    expect(verify(t), MD_JOSE_MALFORMED);
    free(t);
    t = raw("[\"dpop+jwt\"]", "{}", "AAAA");
    expect(verify(t), MD_JOSE_MALFORMED);
    free(t);
    /* payload: not JSON, an array, behind a good signature */
    char *jwk = ed_jwk_text(), h[1024];
    snprintf(h, sizeof(h), "{\"alg\":\"EdDSA\",\"typ\":\"dpop+jwt\",\"jwk\":%s}", jwk);
    t = raw_signed(h, "{\"jti\":\"a\",");
    expect(verify(t), MD_JOSE_MALFORMED);
    free(t);
    t = raw_signed(h, "[1]");
    expect(verify(t), MD_JOSE_MALFORMED);
    free(t);
    /* a JWS in the JSON serialisation is not a proof */
    expect(verify("{\"payload\":\"e30\",\"signatures\":[]}"), MD_JOSE_MALFORMED);
    free(jwk);
}

static void test_refuses_duplicate_header_keys(void **state)
{
    char *jwk = ed_jwk_text(), h[1024];
    const char *payload = "{\"jti\":\"a\",\"htm\":\"POST\",\"htu\":\"" HTU "\",\"iat\":1700000000}";
    /* the same typ twice; then a second, different jwk; then a duplicate inside the jwk */
    snprintf(h, sizeof(h), "{\"alg\":\"EdDSA\",\"typ\":\"dpop+jwt\",\"typ\":\"dpop+jwt\",\"jwk\":%s}", jwk);
    char *t = raw_signed(h, payload);
    expect(verify(t), MD_JOSE_DUPLICATE_KEY);
    free(t);
    snprintf(h, sizeof(h), "{\"alg\":\"EdDSA\",\"typ\":\"dpop+jwt\",\"jwk\":%s,\"jwk\":{\"kty\":\"OKP\"}}",
             jwk);
    t = raw_signed(h, payload);
    expect(verify(t), MD_JOSE_DUPLICATE_KEY);
    free(t);
    snprintf(h, sizeof(h),
             "{\"alg\":\"EdDSA\",\"typ\":\"dpop+jwt\",\"jwk\":{\"kty\":\"OKP\",\"kty\":\"OKP\"}}");
    t = raw_signed(h, payload);
    expect(verify(t), MD_JOSE_DUPLICATE_KEY);
    free(t);
    /* the control: the same header once, well formed, verifies */
    snprintf(h, sizeof(h), "{\"alg\":\"EdDSA\",\"typ\":\"dpop+jwt\",\"jwk\":%s}", jwk);
    t = raw_signed(h, payload);
    expect(verify(t), MD_OK);
    free(t);
    free(jwk);
}

static void test_refuses_duplicate_claim_keys(void **state)
{
    char *jwk = ed_jwk_text(), h[1024];
    snprintf(h, sizeof(h), "{\"alg\":\"EdDSA\",\"typ\":\"dpop+jwt\",\"jwk\":%s}", jwk);
    char *t = raw_signed(h, "{\"jti\":\"a\",\"htm\":\"POST\",\"htm\":\"GET\",\"htu\":\"" HTU
                            "\",\"iat\":1700000000}");
    expect(verify(t), MD_JOSE_DUPLICATE_KEY);
    free(t);
    /* a NUL inside a claim could cut it short for a C reader */
    t = raw_signed(h, "{\"jti\":\"a\\u0000b\",\"htm\":\"POST\",\"htu\":\"" HTU "\",\"iat\":1700000000}");
    expect(verify(t), MD_JOSE_MALFORMED);
    free(t);
    free(jwk);
}

/* ------------------------------------------------------------ claim refusals */

static void test_refuses_missing_jti(void **state)
{
    char *t = make_with(es_key, "jti", NULL);
    expect(verify(t), MD_DPOP_MISSING_CLAIM);
    free(t);
}

static void test_refuses_empty_jti(void **state)
{
    char *t = make_with(es_key, "jti", json_string(""));
    expect(verify(t), MD_DPOP_BAD_CLAIM);
    free(t);
}

static void test_refuses_bad_jti(void **state)
{
    char long_jti[MD_DPOP_JTI_MAX + 2];
    memset(long_jti, 'x', MD_DPOP_JTI_MAX + 1);
    long_jti[MD_DPOP_JTI_MAX + 1] = '\0';
    char *t = make_with(es_key, "jti", json_string(long_jti));
    expect(verify(t), MD_DPOP_BAD_CLAIM);
    free(t);
    t = make_with(es_key, "jti", json_integer(7));
    expect(verify(t), MD_DPOP_BAD_CLAIM);
    free(t);
    t = make_with(es_key, "jti", json_null());
    expect(verify(t), MD_DPOP_BAD_CLAIM);
    free(t);
}

static void test_refuses_missing_htm_htu_iat(void **state)
{
    const char *names[] = {"htm", "htu", "iat"};
    for (size_t i = 0; i < 3; i++) {
        char *t = make_with(es_key, names[i], NULL);
        expect(verify(t), MD_DPOP_MISSING_CLAIM);
        free(t);
        t = make_with(es_key, names[i], json_true());
        expect(verify(t), MD_DPOP_BAD_CLAIM);
        free(t);
    }
    char *t = make_with(es_key, "iat", json_string("1700000000"));
    expect(verify(t), MD_DPOP_BAD_CLAIM);
    free(t);
    t = make_with(es_key, "iat", json_integer(-1));
    expect(verify(t), MD_DPOP_BAD_CLAIM);
    free(t);
    t = make_with(es_key, "ath", json_integer(1));
    expect(verify(t), MD_DPOP_BAD_CLAIM);
    free(t);
    t = make_with(es_key, "nonce", json_pack("[]"));
    expect(verify(t), MD_DPOP_BAD_CLAIM);
    free(t);
}

static void test_refuses_htm_other_method(void **state)
{
    char *t = make_with(es_key, "htm", json_string("GET"));
    expect(verify(t), MD_DPOP_HTM_MISMATCH); /* the request is a POST */
    free(t);
}

static void test_refuses_htm_other_case(void **state)
{
    char *t = make_with(es_key, "htm", json_string("post"));
    expect(verify(t), MD_DPOP_HTM_MISMATCH);
    free(t);
    t = make_with(es_key, "htm", json_string("POST "));
    expect(verify(t), MD_DPOP_HTM_MISMATCH);
    free(t);
}

static void test_refuses_htu_other_path(void **state)
{
    expect(htu_pair("https://gw.example/v1/other", HTU), MD_DPOP_HTU_MISMATCH);
    expect(htu_pair("https://gw.example/v1/call/", HTU), MD_DPOP_HTU_MISMATCH);
    expect(htu_pair("https://gw.example/V1/call", HTU),
           MD_DPOP_HTU_MISMATCH); /* the path is case-sensitive */
    expect(htu_pair("https://gw.example/v1/call%2Fx", "https://gw.example/v1/call/x"), MD_DPOP_HTU_MISMATCH);
}

static void test_refuses_htu_other_host(void **state)
{
    expect(htu_pair("https://evil.example/v1/call", HTU), MD_DPOP_HTU_MISMATCH);
    expect(htu_pair("https://gw.example.evil/v1/call", HTU), MD_DPOP_HTU_MISMATCH);
    expect(htu_pair("https://gw.example:8443/v1/call", HTU), MD_DPOP_HTU_MISMATCH);
    expect(htu_pair("http://gw.example/v1/call", HTU), MD_DPOP_HTU_MISMATCH); /* the scheme too */
    expect(htu_pair("http://gw.example:443/v1/call", HTU), MD_DPOP_HTU_MISMATCH);
}

static void test_htu_query_and_fragment_ignored(void **state)
{
    expect(htu_pair(HTU "?a=1&b=2", HTU), MD_OK);
    expect(htu_pair(HTU "#frag", HTU), MD_OK);
    expect(htu_pair(HTU, HTU "?x=y"), MD_OK);
    expect(htu_pair(HTU "?a=1", HTU "?a=2#z"), MD_OK);
    expect(htu_pair("https://gw.example?q", "https://gw.example/"), MD_OK);
}

static void test_htu_default_port_normalised(void **state)
{
    expect(htu_pair("https://gw.example:443/v1/call", HTU), MD_OK);
    expect(htu_pair(HTU, "https://gw.example:443/v1/call"), MD_OK);
    expect(htu_pair("https://gw.example:/v1/call", HTU), MD_OK);     /* empty port */
    expect(htu_pair("https://gw.example:0443/v1/call", HTU), MD_OK); /* leading zero */
    expect(htu_pair("http://gw.example:80/a", "http://gw.example/a"), MD_OK);
    expect(htu_pair("https://gw.example:8443/a", "https://gw.example:08443/a"), MD_OK);
    expect(htu_pair("https://gw.example", "https://gw.example/"), MD_OK); /* empty path */
}

static void test_htu_case_normalised(void **state)
{
    expect(htu_pair("HTTPS://GW.Example/v1/call", HTU), MD_OK);
    expect(htu_pair("hTTpS://gw.EXAMPLE:443/v1/call", HTU), MD_OK);
    expect(htu_pair("https://[2001:DB8::1]:443/a", "https://[2001:db8::1]/a"), MD_OK);
    /* percent-encoding: unreserved decoded, the rest upper-case hex */
    expect(htu_pair("https://gw.example/v1/%63all", HTU), MD_OK);
    expect(htu_pair("https://gw.example/~u/a", "https://gw.example/%7Eu/a"), MD_OK);
    expect(htu_pair("https://gw.example/a%2fb", "https://gw.example/a%2Fb"), MD_OK);
    expect(htu_pair("https://g%57.example/v1/call", HTU), MD_OK);
}

static void test_refuses_htu_unacceptable(void **state)
{
    const char *bad[] = {
        "/v1/call",                         /* relative */
        "gw.example/v1/call",               /* no scheme */
        "ftp://gw.example/v1/call",         /* another scheme */
        "https:/gw.example/v1/call",        /* no authority */
        "https:///v1/call",                 /* empty host */
        "https://user@gw.example/v1/call",  /* userinfo */
        "https://gw.example/v1/../v1/call", /* dot segments, refused rather than resolved */
        "https://gw.example/v1/./call",
        "https://gw.example/v1/%2e%2E/call", /* encoded dot segment */
        "https://gw.example/v1/call/..",
        "https://gw.example/v1/ca ll", /* space */
        "https://gw.example/v1/call%", /* broken percent-encoding */
        "https://gw.example/v1/call%zz",
        "https://gw.example/v1/caf\xc3\xa9", /* not ASCII */
        "https://gw.example:99999/v1/call",  /* port out of range */
        "https://gw.example:44x/v1/call",
        "https://[v1.fe80::1]/a",     /* IPvFuture */
        "https://[fe80::1%25eth0]/a", /* zone id */
        "https://gw.example\\evil/a", /* backslash */
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        int rc = htu_pair(bad[i], HTU);
        if (rc != MD_DPOP_BAD_CLAIM) fail_msg("htu %s: %s", bad[i], md_dpop_err_name(rc));
    }
}

static void test_refuses_iat_too_old(void **state)
{
    /* window: now - max_age - skew <= iat; max_age 60 (default), skew 5 */
    char *t = make_with(es_key, "iat", json_integer(NOW - 66));
    expect(verify(t), MD_DPOP_IAT_TOO_OLD);
    free(t);
    t = make_with(es_key, "iat", json_integer(NOW - 65));
    expect(verify(t), MD_OK);
    md_dpop_params_t p = params(t);
    p.max_age = 30;
    expect(verify_p(&p, NULL), MD_DPOP_IAT_TOO_OLD);
    free(t);
    t = make_with(es_key, "iat", json_real((double)(NOW - 65) - 0.5)); /* rounded down: older */
    expect(verify(t), MD_DPOP_IAT_TOO_OLD);
    free(t);
}

static void test_refuses_iat_in_future(void **state)
{
    char *t = make_with(es_key, "iat", json_integer(NOW + 6));
    expect(verify(t), MD_DPOP_IAT_IN_FUTURE);
    free(t);
    t = make_with(es_key, "iat", json_integer(NOW + 5));
    expect(verify(t), MD_OK);
    free(t);
    t = make_with(es_key, "iat", json_real((double)(NOW + 5) + 0.25)); /* rounded up: later */
    expect(verify(t), MD_DPOP_IAT_IN_FUTURE);
    free(t);
    t = make_with(es_key, "iat", json_integer(NOW + 1));
    md_dpop_params_t p = params(t);
    p.skew = 0;
    expect(verify_p(&p, NULL), MD_DPOP_IAT_IN_FUTURE);
    free(t);
}

/* The proof and binding of a presented token, for the ath/jkt tests. */
static int verify_with_token(const char *proof, const char *token, const md_jwk_t *bound)
{
    char jkt[MD_JWK_THUMBPRINT_LEN + 1];
    assert_int_equal(md_jwk_thumbprint(bound, jkt), MD_OK);
    md_dpop_params_t p = params(proof);
    p.access_token = md_str_c(token);
    p.jkt = md_str_c(jkt);
    return verify_p(&p, NULL);
}

static void test_refuses_ath_missing(void **state)
{
    char *t = make(es_key, 0, hdr(es_key), clm("j"));
    expect(verify_with_token(t, "the-token", es_key), MD_DPOP_ATH_MISSING);
    expect(verify(t), MD_OK); /* no token presented: no ath needed */
    free(t);
}

static void test_refuses_ath_wrong(void **state)
{
    char ath[MD_DPOP_ATH_LEN + 1];
    assert_int_equal(md_dpop_ath(MD_STR("another-token"), ath), MD_OK);
    char *t = make_with(es_key, "ath", json_string(ath));
    expect(verify_with_token(t, "the-token", es_key), MD_DPOP_ATH_MISMATCH);
    free(t);
    t = make_with(es_key, "ath", json_string(""));
    expect(verify_with_token(t, "the-token", es_key), MD_DPOP_ATH_MISMATCH);
    free(t);
    /* the hash in padded or hex form is not the hash */
    assert_int_equal(md_dpop_ath(MD_STR("the-token"), ath), MD_OK);
    char padded[MD_DPOP_ATH_LEN + 2];
    snprintf(padded, sizeof(padded), "%s=", ath);
    t = make_with(es_key, "ath", json_string(padded));
    expect(verify_with_token(t, "the-token", es_key), MD_DPOP_ATH_MISMATCH);
    free(t);
    t = make_with(es_key, "ath", json_string(ath));
    expect(verify_with_token(t, "the-token", es_key), MD_OK);
    free(t);
}

static void test_refuses_jkt_mismatch(void **state)
{
    char ath[MD_DPOP_ATH_LEN + 1];
    assert_int_equal(md_dpop_ath(MD_STR("the-token"), ath), MD_OK);
    json_t *c = clm("j");
    json_object_set_new(c, "ath", json_string(ath));
    char *t = make(es_other, 0, hdr(es_other), c); /* a valid proof by another key */
    expect(verify_with_token(t, "the-token", es_key), MD_DPOP_JKT_MISMATCH);
    expect(verify_with_token(t, "the-token", es_other), MD_OK);
    /* a binding of another length (not a thumbprint at all) */
    md_dpop_params_t p = params(t);
    p.access_token = MD_STR("the-token");
    p.jkt = MD_STR("short");
    expect(verify_p(&p, NULL), MD_DPOP_JKT_MISMATCH);
    /* binding checked without a token (issuance of a bound refresh) */
    char jkt[MD_JWK_THUMBPRINT_LEN + 1];
    assert_int_equal(md_jwk_thumbprint(es_key, jkt), MD_OK);
    p = params(t);
    p.jkt = md_str_c(jkt);
    expect(verify_p(&p, NULL), MD_DPOP_JKT_MISMATCH);
    free(t);
}

static void test_refuses_nonce_missing(void **state)
{
    char *t = make(es_key, 0, hdr(es_key), clm("j"));
    md_dpop_params_t p = params(t);
    md_str_t nonce = MD_STR("n-1");
    p.nonces = &nonce;
    p.nnonces = 1;
    expect(verify_p(&p, NULL), MD_DPOP_NONCE_MISSING);
    free(t);
}

static void test_refuses_nonce_mismatch(void **state)
{
    char *t = make_with(es_key, "nonce", json_string("n-0"));
    md_dpop_params_t p = params(t);
    md_str_t nonces[] = {MD_STR("n-1"), MD_STR("n-0x")};
    p.nonces = nonces;
    p.nnonces = 2;
    expect(verify_p(&p, NULL), MD_DPOP_NONCE_MISMATCH);
    p.nnonces = 0; /* not required: a nonce in the proof is fine */
    expect(verify_p(&p, NULL), MD_OK);
    free(t);
}

static void test_refuses_bad_params(void **state)
{
    char *t = make(es_key, 0, hdr(es_key), clm("j"));
    md_dpop_params_t p;
    p = params(t), p.now = 0;
    expect(verify_p(&p, NULL), MD_EINVAL);
    p = params(t), p.skew = MD_JWT_MAX_SKEW + 1;
    expect(verify_p(&p, NULL), MD_EINVAL);
    p = params(t), p.max_age = MD_DPOP_MAX_AGE_LIMIT + 1;
    expect(verify_p(&p, NULL), MD_EINVAL);
    p = params(t), p.max_len = MD_DPOP_MAX_LEN_LIMIT + 1;
    expect(verify_p(&p, NULL), MD_EINVAL);
    p = params(t), p.htm = MD_STR("PO ST");
    expect(verify_p(&p, NULL), MD_EINVAL);
    p = params(t), p.htm = MD_STR_NULL;
    expect(verify_p(&p, NULL), MD_EINVAL);
    p = params(t), p.htu = MD_STR("/v1/call");
    expect(verify_p(&p, NULL), MD_EINVAL);
    p = params(t), p.access_token = MD_STR("tok"); /* a presented token without its binding */
    expect(verify_p(&p, NULL), MD_EINVAL);
    md_str_t empty = MD_STR("");
    p = params(t), p.nonces = &empty, p.nnonces = 1;
    expect(verify_p(&p, NULL), MD_EINVAL);
    p = params(t), p.algs = 1u << 7;
    expect(verify_p(&p, NULL), MD_EINVAL);
    free(t);
}

static void test_err_names(void **state)
{
    for (int code = MD_DPOP_REPLAY_FULL; code <= MD_DPOP_BAD_TYP; code++) {
        const char *name = md_dpop_err_name(code);
        assert_true(strncmp(name, "MD_DPOP_", 8) == 0);
    }
    assert_string_equal(md_dpop_err_name(MD_DPOP_REPLAY), "MD_DPOP_REPLAY");
    assert_string_equal(md_dpop_err_name(MD_JOSE_BAD_SIGNATURE), "MD_JOSE_BAD_SIGNATURE");
    assert_string_equal(md_dpop_err_name(MD_OK), "MD_OK");
    assert_string_equal(md_dpop_err_name(-177), "MD_E_UNKNOWN");
}

/* ------------------------------------------------------------ replay cache */

static int add(md_dpop_replay_t *r, const char *jkt, const char *jti, int64_t until, int64_t now)
{
    return md_dpop_replay_check_and_add(r, md_str_c(jkt), md_str_c(jti), until, now);
}

static void test_replay_second_use_refused(void **state)
{
    md_dpop_replay_t *r = md_dpop_replay_new(1024);
    assert_non_null(r);
    char *t = make(es_key, 0, hdr(es_key), clm("once"));
    md_dpop_params_t p = params(t);
    md_dpop_result_t res;
    expect(verify_p(&p, &res), MD_OK);
    expect(md_dpop_replay_check_and_add(r, md_str_c(res.jkt), md_str_c(res.jti), res.replay_until, NOW),
           MD_OK);
    /* the same proof again, a second later */
    p.now = NOW + 1;
    expect(verify_p(&p, &res), MD_OK);
    expect(md_dpop_replay_check_and_add(r, md_str_c(res.jkt), md_str_c(res.jti), res.replay_until, NOW + 1),
           MD_DPOP_REPLAY);
    /* a fresh jti from the same key, and the same jti from another key, are new */
    expect(add(r, res.jkt, "twice", res.replay_until, NOW + 1), MD_OK);
    expect(add(r, "another-key-thumbprint", "once", res.replay_until, NOW + 1), MD_OK);
    /* length prefix: ("ab", "c") and ("a", "bc") are two pairs */
    expect(add(r, "ab", "c", NOW + 10, NOW), MD_OK);
    expect(add(r, "a", "bc", NOW + 10, NOW), MD_OK);
    md_dpop_replay_stats_t st = md_dpop_replay_stats(r);
    assert_int_equal(st.added, 5);
    assert_int_equal(st.replays, 1);
    assert_int_equal(st.full, 0);
    assert_true(st.capacity >= 1024);
    md_dpop_replay_free(r);
    free(t);
}

/* The cache remembers a jti exactly as long as verification would accept its proof. */
static void test_replay_window_expiry(void **state)
{
    md_dpop_replay_t *r = md_dpop_replay_new(64);
    char *t = make(es_key, 0, hdr(es_key), clm("windowed"));
    md_dpop_params_t p = params(t);
    md_dpop_result_t res;
    expect(verify_p(&p, &res), MD_OK);
    expect(md_dpop_replay_check_and_add(r, md_str_c(res.jkt), md_str_c(res.jti), res.replay_until, NOW),
           MD_OK);
    /* up to replay_until the proof verifies and the cache refuses it */
    p.now = res.replay_until;
    expect(verify_p(&p, NULL), MD_OK);
    expect(add(r, res.jkt, res.jti, res.replay_until, res.replay_until), MD_DPOP_REPLAY);
    /* one second later verification refuses it, and the cache has let it go */
    p.now = res.replay_until + 1;
    expect(verify_p(&p, NULL), MD_DPOP_IAT_TOO_OLD);
    expect(add(r, res.jkt, res.jti, res.replay_until + 60, res.replay_until + 1), MD_OK);
    md_dpop_replay_free(r);
    free(t);
}

static void test_replay_full_fails_closed(void **state)
{
    md_dpop_replay_t *r = md_dpop_replay_new(8); /* one shard of 8 */
    assert_int_equal(md_dpop_replay_stats(r).capacity, 8);
    char jti[16];
    for (int i = 0; i < 8; i++) {
        snprintf(jti, sizeof(jti), "j%d", i);
        expect(add(r, "k", jti, NOW + 10 + i, NOW), MD_OK);
    }
    /* full of live entries: a new jti is refused, nothing is forgotten */
    expect(add(r, "k", "j8", NOW + 10, NOW), MD_DPOP_REPLAY_FULL);
    expect(add(r, "k", "j8", NOW + 10, NOW + 10), MD_DPOP_REPLAY_FULL);
    for (int i = 0; i < 8; i++) {
        snprintf(jti, sizeof(jti), "j%d", i);
        expect(add(r, "k", jti, NOW + 10, NOW + 10), MD_DPOP_REPLAY); /* still known */
    }
    /* j0 (until NOW + 10) has expired at NOW + 11: exactly one slot frees */
    expect(add(r, "k", "j8", NOW + 30, NOW + 11), MD_OK);
    expect(add(r, "k", "j9", NOW + 30, NOW + 11), MD_DPOP_REPLAY_FULL);
    expect(add(r, "k", "j1", NOW + 30, NOW + 11), MD_DPOP_REPLAY);
    /* later, everything but j8 has expired */
    for (int i = 9; i < 16; i++) {
        snprintf(jti, sizeof(jti), "j%d", i);
        expect(add(r, "k", jti, NOW + 40, NOW + 20), MD_OK);
    }
    expect(add(r, "k", "j16", NOW + 40, NOW + 20), MD_DPOP_REPLAY_FULL);
    expect(add(r, "k", "j8", NOW + 40, NOW + 20), MD_DPOP_REPLAY);
    md_dpop_replay_stats_t st = md_dpop_replay_stats(r);
    assert_int_equal(st.full, 4);
    md_dpop_replay_free(r);
}

static void test_replay_bad_arguments(void **state)
{
    md_dpop_replay_t *r = md_dpop_replay_new(16);
    char long_jti[MD_DPOP_JTI_MAX + 2], long_jkt[130];
    memset(long_jti, 'x', sizeof(long_jti) - 1);
    long_jti[sizeof(long_jti) - 1] = '\0';
    memset(long_jkt, 'k', sizeof(long_jkt) - 1);
    long_jkt[sizeof(long_jkt) - 1] = '\0';
    expect(add(r, "", "j", NOW + 1, NOW), MD_EINVAL);
    expect(add(r, "k", "", NOW + 1, NOW), MD_EINVAL);
    expect(add(r, "k", long_jti, NOW + 1, NOW), MD_EINVAL);
    expect(add(r, long_jkt, "j", NOW + 1, NOW), MD_EINVAL);
    expect(add(r, "k", "j", NOW - 1, NOW), MD_EINVAL); /* already expired */
    expect(add(r, "k", "j", NOW + MD_DPOP_MAX_AGE_LIMIT + 2 * MD_JWT_MAX_SKEW + 1, NOW), MD_EINVAL);
    expect(add(r, "k", "j", 5, 0), MD_EINVAL);
    expect(add(r, "k", "j", NOW + MD_DPOP_MAX_AGE_LIMIT + 2 * MD_JWT_MAX_SKEW, NOW), MD_OK);
    assert_null(md_dpop_replay_new(0));
    md_dpop_replay_free(r);
    md_dpop_replay_free(NULL);
}

/* Against a reference model: a list of (jti, until).  One shard (capacity < 512), so the outcome is
 * exact: REPLAY iff the pair is live, else FULL iff `capacity` pairs are live, else OK. */
static void test_replay_matches_model(void **state)
{
    enum { CAP = 48, NAMES = 200, STEPS = 200000 };
    md_dpop_replay_t *r = md_dpop_replay_new(CAP);
    int64_t model[NAMES] = {0}; /* until, 0: never added */
    uint64_t x = 0x9e3779b97f4a7c15u;
    int64_t now = NOW;
    size_t ok = 0, replays = 0, full = 0;
    for (int step = 0; step < STEPS; step++) {
        x ^= x << 13, x ^= x >> 7, x ^= x << 17;
        if (x % 8 == 0) now += (int64_t)(x >> 8) % 3;
        int name = (int)((x >> 16) % NAMES);
        int64_t until = now + (int64_t)((x >> 32) % 40);
        char jti[16];
        snprintf(jti, sizeof(jti), "jti-%d", name);
        int want;
        if (model[name] >= now) {
            want = MD_DPOP_REPLAY;
        } else {
            int live = 0;
            for (int i = 0; i < NAMES; i++)
                live += model[i] >= now;
            want = live >= CAP ? MD_DPOP_REPLAY_FULL : MD_OK;
        }
        int got = add(r, "key", jti, until, now);
        if (got != want)
            fail_msg("step %d (%s, now %lld): got %s, want %s", step, jti, (long long)(now - NOW),
                     md_dpop_err_name(got), md_dpop_err_name(want));
        if (got == MD_OK) model[name] = until, ok++;
        replays += got == MD_DPOP_REPLAY;
        full += got == MD_DPOP_REPLAY_FULL;
    }
    /* every outcome was exercised */
    assert_true(ok > 1000 && replays > 1000 && full > 1000);
    md_dpop_replay_free(r);
}

enum { THREADS = 8, ROUNDS = 300 };

typedef struct race {
    md_dpop_replay_t *r;
    pthread_barrier_t *barrier;
    atomic_int *wins;    /* per round */
    atomic_int *refused; /* per round, MD_DPOP_REPLAY */
    atomic_int other;    /* any other outcome */
    int id;
} race_t;

static void *racer(void *arg)
{
    race_t *a = arg;
    char jti[32];
    for (int round = 0; round < ROUNDS; round++) {
        snprintf(jti, sizeof(jti), "shared-%d", round);
        pthread_barrier_wait(a->barrier);
        int rc = add(a->r, "jkt-of-the-client", jti, NOW + 60, NOW);
        if (rc == MD_OK)
            atomic_fetch_add(&a->wins[round], 1);
        else if (rc == MD_DPOP_REPLAY)
            atomic_fetch_add(&a->refused[round], 1);
        else
            atomic_fetch_add(&a->other, 1);
        /* and a jti of its own, which nobody else uses */
        snprintf(jti, sizeof(jti), "own-%d-%d", a->id, round);
        if (add(a->r, "jkt-of-the-client", jti, NOW + 60, NOW) != MD_OK) atomic_fetch_add(&a->other, 1);
    }
    return NULL;
}

/* Several threads submit the same jti at once: exactly one wins, every time. */
static void test_replay_threads_exactly_one_wins(void **state)
{
    md_dpop_replay_t *r = md_dpop_replay_new(65536);
    pthread_barrier_t barrier;
    pthread_barrier_init(&barrier, NULL, THREADS);
    static atomic_int wins[ROUNDS], refused[ROUNDS];
    for (int i = 0; i < ROUNDS; i++) {
        atomic_init(&wins[i], 0);
        atomic_init(&refused[i], 0);
    }
    race_t args[THREADS];
    pthread_t th[THREADS];
    for (int i = 0; i < THREADS; i++) {
        args[i] = (race_t){.r = r, .barrier = &barrier, .wins = wins, .refused = refused, .id = i};
        atomic_init(&args[i].other, 0);
        assert_int_equal(pthread_create(&th[i], NULL, racer, &args[i]), 0);
    }
    for (int i = 0; i < THREADS; i++)
        pthread_join(th[i], NULL);
    for (int i = 0; i < THREADS; i++)
        assert_int_equal(atomic_load(&args[i].other), 0);
    for (int round = 0; round < ROUNDS; round++) {
        assert_int_equal(atomic_load(&wins[round]), 1);
        assert_int_equal(atomic_load(&refused[round]), THREADS - 1);
    }
    /* nothing was lost: every jti is known afterwards */
    char jti[32];
    for (int i = 0; i < THREADS; i++)
        for (int round = 0; round < ROUNDS; round += 37) {
            snprintf(jti, sizeof(jti), "own-%d-%d", i, round);
            expect(add(r, "jkt-of-the-client", jti, NOW + 60, NOW), MD_DPOP_REPLAY);
        }
    md_dpop_replay_stats_t st = md_dpop_replay_stats(r);
    assert_int_equal(st.added, ROUNDS + THREADS * ROUNDS);
    pthread_barrier_destroy(&barrier);
    md_dpop_replay_free(r);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_valid_es256),
        cmocka_unit_test(test_valid_eddsa),
        cmocka_unit_test(test_valid_es384_rs256_ps256),
        cmocka_unit_test(test_valid_bound_token_with_nonce),
        cmocka_unit_test(test_ath_rfc9449_example),
        cmocka_unit_test(test_sign_roundtrip),
        cmocka_unit_test(test_high_s_twin_accepted_and_replay_caught),
        cmocka_unit_test(test_refuses_wrong_typ),
        cmocka_unit_test(test_refuses_alg_none),
        cmocka_unit_test(test_refuses_alg_hs256),
        cmocka_unit_test(test_refuses_alg_outside_allow_list),
        cmocka_unit_test(test_refuses_missing_jwk),
        cmocka_unit_test(test_refuses_jwk_with_private_part),
        cmocka_unit_test(test_refuses_alg_kty_mismatch),
        cmocka_unit_test(test_refuses_unusable_jwk),
        cmocka_unit_test(test_refuses_key_references),
        cmocka_unit_test(test_refuses_crit),
        cmocka_unit_test(test_refuses_bad_signature),
        cmocka_unit_test(test_refuses_oversized_proof),
        cmocka_unit_test(test_refuses_malformed),
        cmocka_unit_test(test_refuses_duplicate_header_keys),
        cmocka_unit_test(test_refuses_duplicate_claim_keys),
        cmocka_unit_test(test_refuses_missing_jti),
        cmocka_unit_test(test_refuses_empty_jti),
        cmocka_unit_test(test_refuses_bad_jti),
        cmocka_unit_test(test_refuses_missing_htm_htu_iat),
        cmocka_unit_test(test_refuses_htm_other_method),
        cmocka_unit_test(test_refuses_htm_other_case),
        cmocka_unit_test(test_refuses_htu_other_path),
        cmocka_unit_test(test_refuses_htu_other_host),
        cmocka_unit_test(test_htu_query_and_fragment_ignored),
        cmocka_unit_test(test_htu_default_port_normalised),
        cmocka_unit_test(test_htu_case_normalised),
        cmocka_unit_test(test_refuses_htu_unacceptable),
        cmocka_unit_test(test_refuses_iat_too_old),
        cmocka_unit_test(test_refuses_iat_in_future),
        cmocka_unit_test(test_refuses_ath_missing),
        cmocka_unit_test(test_refuses_ath_wrong),
        cmocka_unit_test(test_refuses_jkt_mismatch),
        cmocka_unit_test(test_refuses_nonce_missing),
        cmocka_unit_test(test_refuses_nonce_mismatch),
        cmocka_unit_test(test_refuses_bad_params),
        cmocka_unit_test(test_err_names),
        cmocka_unit_test(test_replay_second_use_refused),
        cmocka_unit_test(test_replay_window_expiry),
        cmocka_unit_test(test_replay_full_fails_closed),
        cmocka_unit_test(test_replay_bad_arguments),
        cmocka_unit_test(test_replay_matches_model),
        cmocka_unit_test(test_replay_threads_exactly_one_wins),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
