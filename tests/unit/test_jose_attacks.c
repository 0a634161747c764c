/*
 * test_jose_attacks.c: the attack suite for md_jwt_verify().  Each known
 * attack on JWT verifiers is its own test and asserts the specific refusal
 * code, so a refusal for the wrong reason fails too.
 *
 * Forged tokens are built here with OpenSSL directly (not with the library
 * under test), so each one carries a signature that really verifies under
 * the key it names: the refusal must come from the check being tested, not
 * from a broken signature.  Every test also verifies an honest token first
 * (the control), so a verifier that refused everything would fail.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>

#include <openssl/bio.h>
#include <openssl/bn.h>
#include <openssl/ec.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/obj_mac.h>
#include <openssl/pem.h>
#include <openssl/rsa.h>

#include "token/token.h"

#define NOW INT64_C(1700000000)
#define ISS "https://mandate.test"
#define AUD "gateway"

/* ------------------------------------------------------------ fixture */

typedef struct fixture {
    md_jwk_t *ec;    /* P-256, allow-list ES256 */
    md_jwk_t *ed;    /* Ed25519 */
    md_jwk_t *rsa;   /* RSA 2048, allow-list PS256 only */
    EVP_PKEY *ec_pk; /* the same keys as OpenSSL keys, for forging */
    EVP_PKEY *ed_pk;
    EVP_PKEY *rsa_pk;
    md_jwk_t *pub[3]; /* the verifier's view: public halves only */
    char claims[256]; /* honest claims */
} fixture_t;

static EVP_PKEY *to_pkey(const md_jwk_t *k)
{
    char *pem = NULL;
    size_t n = 0;
    assert_int_equal(md_jwk_to_pem(k, &pem, &n, NULL), MD_OK);
    BIO *bio = BIO_new_mem_buf(pem, (int)n);
    EVP_PKEY *p = PEM_read_bio_PrivateKey(bio, NULL, NULL, NULL);
    assert_non_null(p);
    BIO_free(bio);
    md_jose_secret_free(pem, n);
    return p;
}

static md_jwk_t *public_of(const md_jwk_t *k)
{
    json_t *j = NULL;
    md_jwk_t *p = NULL;
    assert_int_equal(md_jwk_to_json(k, &j), MD_OK);
    assert_int_equal(md_jwk_from_json(j, &p, NULL), MD_OK);
    json_decref(j);
    return p;
}

static int setup(void **state)
{
    fixture_t *f = calloc(1, sizeof(*f));
    assert_int_equal(md_jwk_generate(MD_JOSE_ES256, &f->ec, NULL), MD_OK);
    assert_int_equal(md_jwk_generate(MD_JOSE_EDDSA, &f->ed, NULL), MD_OK);
    EVP_PKEY *r = EVP_PKEY_Q_keygen(NULL, NULL, "RSA", (size_t)2048);
    BIO *bio = BIO_new(BIO_s_mem());
    assert_int_equal(PEM_write_bio_PrivateKey(bio, r, NULL, NULL, 0, NULL, NULL), 1);
    char *data = NULL;
    long n = BIO_get_mem_data(bio, &data);
    assert_int_equal(md_jwk_from_pem((md_str_t){data, (size_t)n}, &f->rsa, NULL), MD_OK);
    assert_int_equal(md_jwk_set_algs(f->rsa, MD_JOSE_PS256), MD_OK);
    BIO_free(bio);
    EVP_PKEY_free(r);
    f->ec_pk = to_pkey(f->ec);
    f->ed_pk = to_pkey(f->ed);
    f->rsa_pk = to_pkey(f->rsa);
    f->pub[0] = public_of(f->ec);
    f->pub[1] = public_of(f->ed);
    f->pub[2] = public_of(f->rsa);
    assert_int_equal(md_jwk_algs(f->pub[2]), MD_JOSE_PS256); /* published with "alg": "PS256" */
    snprintf(f->claims, sizeof(f->claims),
             "{\"iss\":\"" ISS "\",\"aud\":\"" AUD
             "\",\"sub\":\"spiffe://td/agent/x\",\"iat\":%lld,\"exp\":%lld}",
             (long long)NOW, (long long)(NOW + 300));
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    fixture_t *f = *state;
    md_jwk_free(f->ec);
    md_jwk_free(f->ed);
    md_jwk_free(f->rsa);
    for (int i = 0; i < 3; i++)
        md_jwk_free(f->pub[i]);
    EVP_PKEY_free(f->ec_pk);
    EVP_PKEY_free(f->ed_pk);
    EVP_PKEY_free(f->rsa_pk);
    free(f);
    return 0;
}

/* ------------------------------------------------------------ forging */

static void b64(md_buf_t *b, const void *p, size_t n)
{
    md_b64url_encode(b, p, n);
}

/* header.payload, base64url-encoded exactly as given (duplicates and all). */
static void signing_input(md_buf_t *b, const char *header, const char *payload)
{
    b64(b, header, strlen(header));
    md_buf_addc(b, '.');
    b64(b, payload, strlen(payload));
}

/* The ECDSA group order n for a signature of 2 * half bytes (P-256 or P-384); BN_free it. */
static BIGNUM *ec_order(size_t half)
{
    EC_GROUP *g = EC_GROUP_new_by_curve_name(half == 48 ? NID_secp384r1 : NID_X9_62_prime256v1);
    assert_non_null(g);
    BIGNUM *n = BN_dup(EC_GROUP_get0_order(g));
    assert_non_null(n);
    EC_GROUP_free(g);
    return n;
}

/* The s of an R||S signature is above n/2. */
static bool ecdsa_high_s(const unsigned char *sig, size_t half)
{
    BIGNUM *n = ec_order(half), *s = BN_bin2bn(sig + half, (int)half, NULL);
    assert_non_null(s);
    assert_int_equal(BN_rshift1(n, n), 1);
    bool high = BN_cmp(s, n) > 0;
    BN_free(n);
    BN_free(s);
    return high;
}

/* Replace the s of an R||S signature by n - s: the other signature of the pair that verifies. */
static void ecdsa_other_s(unsigned char *sig, size_t half)
{
    BIGNUM *n = ec_order(half), *s = BN_bin2bn(sig + half, (int)half, NULL);
    assert_non_null(s);
    assert_int_equal(BN_sub(s, n, s), 1);
    assert_int_equal(BN_bn2binpad(s, sig + half, (int)half), (int)half);
    BN_free(n);
    BN_free(s);
}

/* Sign the raw input with pkey under alg, OpenSSL only; JOSE signature form.  An
 * ECDSA signature is made low-S (s <= n/2), the only form the verifier accepts. */
static void raw_sign(EVP_PKEY *pkey, const char *alg, const char *in, size_t n, unsigned char *sig,
                     size_t *len)
{
    const char *md = strcmp(alg, "EdDSA") == 0 ? NULL : strcmp(alg, "ES384") == 0 ? "SHA384" : "SHA256";
    EVP_MD_CTX *ctx = EVP_MD_CTX_new();
    EVP_PKEY_CTX *pctx = NULL;
    assert_int_equal(EVP_DigestSignInit_ex(ctx, &pctx, md, NULL, NULL, pkey, NULL), 1);
    if (strcmp(alg, "PS256") == 0) {
        assert_true(EVP_PKEY_CTX_set_rsa_padding(pctx, RSA_PKCS1_PSS_PADDING) > 0);
        assert_true(EVP_PKEY_CTX_set_rsa_pss_saltlen(pctx, 32) > 0);
    }
    unsigned char der[1024];
    size_t dlen = sizeof(der);
    assert_int_equal(EVP_DigestSign(ctx, der, &dlen, (const unsigned char *)in, n), 1);
    EVP_MD_CTX_free(ctx);
    if (alg[0] == 'E' && alg[1] == 'S') {
        size_t half = strcmp(alg, "ES384") == 0 ? 48 : 32;
        const unsigned char *p = der;
        ECDSA_SIG *s = d2i_ECDSA_SIG(NULL, &p, (long)dlen);
        assert_non_null(s);
        assert_true(BN_bn2binpad(ECDSA_SIG_get0_r(s), sig, (int)half) > 0);
        assert_true(BN_bn2binpad(ECDSA_SIG_get0_s(s), sig + half, (int)half) > 0);
        ECDSA_SIG_free(s);
        if (ecdsa_high_s(sig, half)) ecdsa_other_s(sig, half);
        *len = 2 * half;
    } else {
        memcpy(sig, der, dlen);
        *len = dlen;
    }
}

/* A token with exactly this header and payload text, really signed by pkey
 * under `alg` (which need not be the header's alg).  Caller frees. */
static char *forge(EVP_PKEY *pkey, const char *alg, const char *header, const char *payload)
{
    md_buf_t b;
    md_buf_init(&b);
    signing_input(&b, header, payload);
    unsigned char sig[1024];
    size_t len = 0;
    if (pkey != NULL) raw_sign(pkey, alg, b.p, b.n, sig, &len);
    md_buf_addc(&b, '.');
    b64(&b, sig, len);
    return b.p;
}

static char *hdr(const char *alg, const md_jwk_t *key)
{
    static char buf[256];
    snprintf(buf, sizeof(buf), "{\"alg\":\"%s\",\"typ\":\"JWT\",\"kid\":\"%s\"}", alg, md_jwk_kid(key));
    return buf;
}

/* ------------------------------------------------------------ verifying */

static md_jwt_verify_opts_t opts(void)
{
    return (md_jwt_verify_opts_t){.now = NOW, .skew = 60, .iss = ISS, .aud = AUD};
}

static int verify_with(fixture_t *f, const char *token, const md_jwt_verify_opts_t *o)
{
    md_jwt_t jwt;
    md_err_t err = {0};
    int rc = md_jwt_verify((const md_jwk_t *const *)f->pub, 3, md_str_c(token), o, &jwt, &err);
    if (rc == MD_OK)
        md_jwt_free(&jwt);
    else {
        assert_null(jwt.claims); /* nothing leaks out of a refusal */
        assert_int_equal(err.code, rc);
        if (token[0] != '\0') assert_null(strstr(err.msg, token)); /* the token is never echoed */
    }
    return rc;
}

static int verify(fixture_t *f, const char *token)
{
    md_jwt_verify_opts_t o = opts();
    return verify_with(f, token, &o);
}

static void expect(int got, int want)
{
    if (got != want) fail_msg("got %s, want %s", md_jose_err_name(got), md_jose_err_name(want));
}

/* The control: an honest forged token verifies, so the forging is right. */
static void control(fixture_t *f, EVP_PKEY *pk, const char *alg, const md_jwk_t *key)
{
    char *t = forge(pk, alg, hdr(alg, key), f->claims);
    expect(verify(f, t), MD_OK);
    free(t);
}

/* ------------------------------------------------------------ the attacks */

static void test_alg_none(void **state)
{
    fixture_t *f = *state;
    control(f, f->ec_pk, "ES256", f->ec);
    static const char *spellings[] = {"none", "None", "NONE", "nOnE"};
    for (int i = 0; i < 4; i++) {
        char *t = forge(NULL, NULL, hdr(spellings[i], f->ec), f->claims); /* empty signature */
        expect(verify(f, t), MD_JOSE_ALG_NONE);
        free(t);
    }
    /* "none" with a signature attached is still "none". */
    char *t = forge(f->ec_pk, "ES256", hdr("none", f->ec), f->claims);
    expect(verify(f, t), MD_JOSE_ALG_NONE);
    free(t);
}

static void test_hs256_with_public_key_as_secret(void **state)
{
    fixture_t *f = *state;
    control(f, f->rsa_pk, "PS256", f->rsa);
    /* The classic key confusion: HMAC keyed with our public key as published,
     * as PEM and as the JWK text, for each key. */
    EVP_PKEY *pks[] = {f->ec_pk, f->ed_pk, f->rsa_pk};
    for (int i = 0; i < 3; i++) {
        BIO *bio = BIO_new(BIO_s_mem());
        assert_int_equal(PEM_write_bio_PUBKEY(bio, pks[i]), 1);
        char *pem = NULL;
        long pem_len = BIO_get_mem_data(bio, &pem);
        json_t *j = NULL;
        assert_int_equal(md_jwk_to_json(f->pub[i], &j), MD_OK);
        char *jwk_text = json_dumps(j, JSON_COMPACT);
        const char *secrets[] = {pem, jwk_text};
        size_t lens[] = {(size_t)pem_len, strlen(jwk_text)};
        static const char *algs[] = {"HS256", "HS384", "HS512"};
        for (int s = 0; s < 2; s++) {
            for (int a = 0; a < 3; a++) {
                md_buf_t b;
                md_buf_init(&b);
                signing_input(&b, hdr(algs[a], f->pub[i]), f->claims);
                unsigned char mac[64];
                unsigned int mlen = 0;
                const EVP_MD *md = a == 0 ? EVP_sha256() : a == 1 ? EVP_sha384() : EVP_sha512();
                assert_non_null(HMAC(md, secrets[s], (int)lens[s], (unsigned char *)b.p, b.n, mac, &mlen));
                md_buf_addc(&b, '.');
                b64(&b, mac, mlen);
                expect(verify(f, b.p), MD_JOSE_ALG_UNSUPPORTED);
                md_buf_free(&b);
            }
        }
        free(jwk_text);
        json_decref(j);
        BIO_free(bio);
    }
    /* And a symmetric JWK can never enter a key list. */
    md_jwk_t *k = NULL;
    expect(md_jwk_parse(MD_STR("{\"kty\":\"oct\",\"k\":\"c2VjcmV0\",\"alg\":\"HS256\"}"), &k, NULL),
           MD_JOSE_UNSUPPORTED_KEY);
}

static void test_unknown_kid(void **state)
{
    fixture_t *f = *state;
    control(f, f->ec_pk, "ES256", f->ec);
    /* A well-formed token from a key we do not know. */
    md_jwk_t *other = NULL;
    assert_int_equal(md_jwk_generate(MD_JOSE_ES256, &other, NULL), MD_OK);
    EVP_PKEY *opk = to_pkey(other);
    char *t = forge(opk, "ES256", hdr("ES256", other), f->claims);
    expect(verify(f, t), MD_JOSE_UNKNOWN_KID);
    free(t);
    /* No kid at all, with several known keys: no guessing. */
    t = forge(f->ec_pk, "ES256", "{\"alg\":\"ES256\"}", f->claims);
    expect(verify(f, t), MD_JOSE_UNKNOWN_KID);
    free(t);
    /* A kid that differs from ours in one character, or only in case. */
    char kid[64];
    snprintf(kid, sizeof(kid), "%s", md_jwk_kid(f->ec));
    kid[0] = kid[0] == 'A' ? 'B' : 'A';
    char h[128];
    snprintf(h, sizeof(h), "{\"alg\":\"ES256\",\"kid\":\"%s\"}", kid);
    t = forge(f->ec_pk, "ES256", h, f->claims);
    expect(verify(f, t), MD_JOSE_UNKNOWN_KID);
    free(t);
    EVP_PKEY_free(opk);
    md_jwk_free(other);
}

static void test_path_like_kid(void **state)
{
    fixture_t *f = *state;
    control(f, f->ec_pk, "ES256", f->ec);
    static const char *kids[] = {
        "../../etc/passwd",
        "/etc/passwd",
        "file:///etc/passwd",
        "https://attacker.example/jwks.json",
        "' OR '1'='1",
        "*",
        "",
    };
    for (size_t i = 0; i < sizeof(kids) / sizeof(kids[0]); i++) {
        char h[256];
        snprintf(h, sizeof(h), "{\"alg\":\"ES256\",\"kid\":\"%s\"}", kids[i]);
        char *t = forge(f->ec_pk, "ES256", h, f->claims);
        expect(verify(f, t), MD_JOSE_UNKNOWN_KID);
        free(t);
    }
}

static void test_jku_x5u_and_embedded_jwk_ignored(void **state)
{
    fixture_t *f = *state;
    control(f, f->ec_pk, "ES256", f->ec);
    md_jwk_t *evil = NULL;
    assert_int_equal(md_jwk_generate(MD_JOSE_ES256, &evil, NULL), MD_OK);
    EVP_PKEY *epk = to_pkey(evil);
    json_t *ej = NULL;
    assert_int_equal(md_jwk_to_json(evil, &ej), MD_OK);
    char *ejt = json_dumps(ej, JSON_COMPACT);
    char h[1024];
    /* The attacker's own key, offered in the header, under our kid: never used. */
    snprintf(h, sizeof(h),
             "{\"alg\":\"ES256\",\"kid\":\"%s\",\"jwk\":%s,\"jku\":\"https://attacker.example/jwks\","
             "\"x5u\":\"https://attacker.example/cert\"}",
             md_jwk_kid(f->ec), ejt);
    char *t = forge(epk, "ES256", h, f->claims);
    expect(verify(f, t), MD_JOSE_BAD_SIGNATURE);
    free(t);
    free(ejt);
    json_decref(ej);
    EVP_PKEY_free(epk);
    md_jwk_free(evil);
}

static void test_flipped_signature_bit(void **state)
{
    fixture_t *f = *state;
    struct {
        EVP_PKEY *pk;
        const char *alg;
        const md_jwk_t *key;
    } cases[] = {{f->ec_pk, "ES256", f->ec}, {f->ed_pk, "EdDSA", f->ed}, {f->rsa_pk, "PS256", f->rsa}};
    for (int c = 0; c < 3; c++) {
        md_buf_t b;
        md_buf_init(&b);
        signing_input(&b, hdr(cases[c].alg, cases[c].key), f->claims);
        unsigned char sig[1024];
        size_t len = 0;
        raw_sign(cases[c].pk, cases[c].alg, b.p, b.n, sig, &len);
        size_t prefix = b.n;
        for (size_t bit = 0; bit < len * 8; bit += (len > 64 ? 7 : 1)) {
            for (int flip = 0; flip < 2; flip++) { /* flip == 0 is the control */
                if (flip) sig[bit / 8] ^= (unsigned char)(1u << (bit % 8));
                b.n = prefix;
                md_buf_addc(&b, '.');
                b64(&b, sig, len);
                expect(verify(f, b.p), flip ? MD_JOSE_BAD_SIGNATURE : MD_OK);
                if (flip) sig[bit / 8] ^= (unsigned char)(1u << (bit % 8));
            }
        }
        md_buf_free(&b);
    }
}

static void test_tampered_payload(void **state)
{
    fixture_t *f = *state;
    char *t = forge(f->ec_pk, "ES256", hdr("ES256", f->ec), f->claims);
    expect(verify(f, t), MD_OK);
    /* Same header and signature, payload saying something else. */
    char *d1 = strchr(t, '.'), *d2 = strchr(d1 + 1, '.');
    md_buf_t b;
    md_buf_init(&b);
    md_buf_add(&b, t, (size_t)(d1 - t + 1));
    char evil[256];
    snprintf(evil, sizeof(evil),
             "{\"iss\":\"" ISS "\",\"aud\":\"" AUD "\",\"sub\":\"spiffe://td/agent/root\",\"exp\":%lld}",
             (long long)(NOW + 300));
    b64(&b, evil, strlen(evil));
    md_buf_adds(&b, d2);
    expect(verify(f, b.p), MD_JOSE_BAD_SIGNATURE);
    md_buf_free(&b);
    free(t);
}

static void test_ecdsa_zero_and_der_signatures(void **state)
{
    fixture_t *f = *state;
    control(f, f->ec_pk, "ES256", f->ec);
    md_buf_t b;
    md_buf_init(&b);
    signing_input(&b, hdr("ES256", f->ec), f->claims);
    size_t prefix = b.n;
    /* r = s = 0 ("psychic signatures", CVE-2022-21449). */
    unsigned char zero[64] = {0};
    md_buf_addc(&b, '.');
    b64(&b, zero, sizeof(zero));
    expect(verify(f, b.p), MD_JOSE_BAD_SIGNATURE);
    /* A valid signature in DER form instead of R||S. */
    EVP_MD_CTX *ctx = EVP_MD_CTX_new();
    unsigned char der[128];
    size_t dlen = sizeof(der);
    assert_int_equal(EVP_DigestSignInit_ex(ctx, NULL, "SHA256", NULL, NULL, f->ec_pk, NULL), 1);
    assert_int_equal(EVP_DigestSign(ctx, der, &dlen, (unsigned char *)b.p, prefix), 1);
    EVP_MD_CTX_free(ctx);
    b.n = prefix;
    md_buf_addc(&b, '.');
    b64(&b, der, dlen);
    expect(verify(f, b.p), MD_JOSE_BAD_SIGNATURE);
    /* Truncated and extended R||S. */
    unsigned char sig[128];
    size_t len = 0;
    b.n = prefix;
    raw_sign(f->ec_pk, "ES256", b.p, prefix, sig, &len);
    md_buf_addc(&b, '.');
    b64(&b, sig, len - 1);
    expect(verify(f, b.p), MD_JOSE_BAD_SIGNATURE);
    sig[64] = 0;
    b.n = prefix;
    md_buf_addc(&b, '.');
    b64(&b, sig, 65);
    expect(verify(f, b.p), MD_JOSE_BAD_SIGNATURE);
    /* An empty signature. */
    b.n = prefix;
    md_buf_addc(&b, '.');
    expect(verify(f, b.p), MD_JOSE_BAD_SIGNATURE);
    md_buf_free(&b);
}

/* A fresh P-384 key (md_jwk_generate() makes P-256 and Ed25519 only). */
static md_jwk_t *p384_key(void)
{
    md_jwk_t *k = NULL;
    EVP_PKEY *pk = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "secp384r1");
    assert_non_null(pk);
    BIO *bio = BIO_new(BIO_s_mem());
    assert_int_equal(PEM_write_bio_PrivateKey(bio, pk, NULL, NULL, 0, NULL, NULL), 1);
    char *pem = NULL;
    long pem_len = BIO_get_mem_data(bio, &pem);
    assert_int_equal(md_jwk_from_pem((md_str_t){pem, (size_t)pem_len}, &k, NULL), MD_OK);
    BIO_free(bio);
    EVP_PKEY_free(pk);
    return k;
}

/* ECDSA malleability: (r, s) and (r, n - s) both satisfy the ECDSA equation, so a verifier
 * that took both would let anyone turn a valid token into a second, different valid token
 * (defeating anything keyed on the token's bytes: caches, replay and revocation lists). */
static void test_ecdsa_high_s_refused(void **state)
{
    fixture_t *f = *state;
    md_jwk_t *p384 = p384_key();
    const md_jwk_t *keys[2] = {f->ec, p384};
    md_jose_alg_t algs[2] = {MD_JOSE_ES256, MD_JOSE_ES384};
    for (int k = 0; k < 2; k++) {
        size_t half = algs[k] == MD_JOSE_ES384 ? 48 : 32;
        const md_jwk_t *one[1] = {keys[k]};
        json_t *claims = json_loads(f->claims, 0, NULL);
        assert_non_null(claims);
        md_buf_t tok;
        md_buf_init(&tok);
        assert_int_equal(md_jwt_sign(keys[k], algs[k], NULL, claims, &tok, NULL), MD_OK);
        md_buf_addc(&tok, '\0');
        json_decref(claims);
        md_jwt_verify_opts_t o = opts();
        md_jwt_t jwt;
        expect(md_jwt_verify(one, 1, md_str_c(tok.p), &o, &jwt, NULL), MD_OK); /* the control */
        md_jwt_free(&jwt);

        /* The same token with (r, n - s): a distinct token, refused as a bad signature. */
        char *dot = strrchr(tok.p, '.');
        unsigned char *sig = NULL;
        size_t n = 0;
        assert_int_equal(md_b64url_decode(md_str_c(dot + 1), &sig, &n), MD_OK);
        assert_int_equal(n, 2 * half);
        assert_false(ecdsa_high_s(sig, half)); /* ours is low-S */
        ecdsa_other_s(sig, half);
        assert_true(ecdsa_high_s(sig, half));
        md_buf_t evil;
        md_buf_init(&evil);
        md_buf_add(&evil, tok.p, (size_t)(dot - tok.p + 1));
        b64(&evil, sig, n);
        md_buf_addc(&evil, '\0');
        assert_string_not_equal(evil.p, tok.p);
        md_err_t err = {0};
        int rc = md_jwt_verify(one, 1, md_str_c(evil.p), &o, &jwt, &err);
        expect(rc, MD_JOSE_BAD_SIGNATURE);
        assert_null(jwt.claims);
        md_jws_t jws;
        expect(md_jws_verify(one, 1, md_str_c(evil.p), 0, 0, &jws, NULL), MD_JOSE_BAD_SIGNATURE);
        /* It is a valid ECDSA signature all the same: refused for its form alone. */
        o.allow_high_s = true;
        expect(md_jwt_verify(one, 1, md_str_c(evil.p), &o, &jwt, NULL), MD_OK);
        md_jwt_free(&jwt);
        free(sig);
        md_buf_free(&evil);
        md_buf_free(&tok);
    }
    md_jwk_free(p384);

    /* Forged with OpenSSL directly, in both forms. */
    md_buf_t b;
    md_buf_init(&b);
    signing_input(&b, hdr("ES256", f->ec), f->claims);
    size_t prefix = b.n;
    unsigned char sig[64];
    size_t len = 0;
    raw_sign(f->ec_pk, "ES256", b.p, prefix, sig, &len);
    md_buf_addc(&b, '.');
    b64(&b, sig, len);
    expect(verify(f, b.p), MD_OK);
    ecdsa_other_s(sig, 32);
    b.n = prefix;
    md_buf_addc(&b, '.');
    b64(&b, sig, len);
    expect(verify(f, b.p), MD_JOSE_BAD_SIGNATURE);
    md_buf_free(&b);
}

/* Our signer gives low-S signatures, every time: OpenSSL does not, and the verifier
 * would otherwise refuse about half of our own tokens. */
static void test_our_ecdsa_signatures_are_low_s(void **state)
{
    fixture_t *f = *state;
    md_jwk_t *p384 = p384_key();
    const md_jwk_t *keys[2] = {f->ec, p384};
    md_jose_alg_t algs[2] = {MD_JOSE_ES256, MD_JOSE_ES384};
    json_t *claims = json_loads(f->claims, 0, NULL);
    assert_non_null(claims);
    for (int k = 0; k < 2; k++) {
        size_t half = algs[k] == MD_JOSE_ES384 ? 48 : 32;
        const md_jwk_t *one[1] = {keys[k]};
        int high = 0;
        for (int i = 0; i < 1000; i++) {
            md_buf_t tok;
            md_buf_init(&tok);
            assert_int_equal(md_jwt_sign(keys[k], algs[k], NULL, claims, &tok, NULL), MD_OK);
            md_buf_addc(&tok, '\0');
            md_jwt_verify_opts_t o = opts();
            md_jwt_t jwt;
            md_err_t err = {0};
            int rc = md_jwt_verify(one, 1, md_str_c(tok.p), &o, &jwt, &err);
            if (rc != MD_OK)
                fail_msg("%s token %d: %s %s", md_jose_alg_name(algs[k]), i, md_jose_err_name(rc), err.msg);
            md_jwt_free(&jwt);
            unsigned char *sig = NULL;
            size_t n = 0;
            assert_int_equal(md_b64url_decode(md_str_c(strrchr(tok.p, '.') + 1), &sig, &n), MD_OK);
            assert_int_equal(n, 2 * half);
            high += ecdsa_high_s(sig, half);
            free(sig);
            md_buf_free(&tok);
        }
        if (high != 0) fail_msg("%s: %d of 1000 signatures are high-S", md_jose_alg_name(algs[k]), high);
    }
    json_decref(claims);
    md_jwk_free(p384);
}

/* An Ed25519 public key of small order verifies forgeries: with A the identity, R the
 * identity and S = 0, [S]B = R + [k]A holds for every message.  Such keys, and
 * non-canonical encodings (y >= p), are refused at import, whatever the route in. */
static void test_ed25519_weak_public_keys_refused(void **state)
{
    fixture_t *f = *state;
    md_err_t err = {0};
    md_jwk_t *k = NULL;

    /* The reviewer's forgery: the identity point as the key, R = identity, S = 0. */
    int rc = md_jwk_parse(MD_STR("{\"kty\":\"OKP\",\"crv\":\"Ed25519\",\"x\":"
                                 "\"AQAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA\",\"kid\":\"w\"}"),
                          &k, &err);
    expect(rc, MD_JOSE_BAD_KEY);
    assert_null(k);
    assert_non_null(strstr(err.msg, "small order"));
    /* ... so the forged token has no key to verify under: it names an unknown kid. */
    unsigned char forged_sig[64] = {1}; /* R = identity (y = 1), S = 0 */
    md_buf_t t;
    md_buf_init(&t);
    signing_input(&t, "{\"alg\":\"EdDSA\",\"kid\":\"w\"}", f->claims);
    md_buf_addc(&t, '.');
    b64(&t, forged_sig, sizeof(forged_sig));
    expect(verify(f, t.p), MD_JOSE_UNKNOWN_KID);
    md_buf_free(&t);

    /* Every encoding of the eight points of small order (both signs of x; a set sign
     * bit with x = 0 is itself invalid), and every non-canonical y (p .. 2^255 - 1). */
    static const unsigned char small_y[5][32] =
        {
            {0}, /* order 4 (x = +-sqrt(-1)) */
            {1}, /* order 1: the identity */
            {0xec, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
             0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
             0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x7f}, /* order 2 */
            {0x26, 0xe8, 0x95, 0x8f, 0xc2, 0xb2, 0x27, 0xb0, 0x45, 0xc3, 0xf4,
             0x89, 0xf2, 0xef, 0x98, 0xf0, 0xd5, 0xdf, 0xac, 0x05, 0xd3, 0xc6,
             0x33, 0x39, 0xb1, 0x38, 0x02, 0x88, 0x6d, 0x53, 0xfc, 0x05}, /* order 8 */
            {0xc7, 0x17, 0x6a, 0x70, 0x3d, 0x4d, 0xd8, 0x4f, 0xba, 0x3c, 0x0b,
             0x76, 0x0d, 0x10, 0x67, 0x0f, 0x2a, 0x20, 0x53, 0xfa, 0x2c, 0x39,
             0xcc, 0xc6, 0x4e, 0xc7, 0xfd, 0x77, 0x92, 0xac, 0x03, 0x7a}, /* order 8 */
        };
    unsigned char enc[5 * 2 + 19 * 2][32];
    size_t nenc = 0;
    for (int i = 0; i < 5; i++)
        for (int sign = 0; sign < 2; sign++) {
            memcpy(enc[nenc], small_y[i], 32);
            enc[nenc++][31] |= (unsigned char)(sign << 7);
        }
    for (int d = 0; d < 19; d++) /* y = p + d: 0xed..0xff, then 0xff * 30, 0x7f */
        for (int sign = 0; sign < 2; sign++) {
            memset(enc[nenc], 0xff, 32);
            enc[nenc][0] = (unsigned char)(0xed + d);
            enc[nenc++][31] = (unsigned char)(0x7f | (sign << 7));
        }
    assert_int_equal(nenc, sizeof(enc) / sizeof(enc[0]));
    for (size_t i = 0; i < nenc; i++) {
        md_buf_t j;
        md_buf_init(&j);
        md_buf_adds(&j, "{\"kty\":\"OKP\",\"crv\":\"Ed25519\",\"x\":\"");
        b64(&j, enc[i], 32);
        md_buf_adds(&j, "\"}");
        k = NULL;
        rc = md_jwk_parse((md_str_t){j.p, j.n}, &k, &err);
        if (rc != MD_JOSE_BAD_KEY)
            fail_msg("encoding %zu (%.*s): got %s, want MD_JOSE_BAD_KEY", i, (int)j.n, j.p,
                     md_jose_err_name(rc));
        assert_null(k);
        /* and in a key set: the whole set fails, rather than the key being skipped */
        md_buf_t set;
        md_buf_init(&set);
        md_buf_adds(&set, "{\"keys\":[");
        md_buf_add(&set, j.p, j.n);
        md_buf_adds(&set, "]}");
        md_jwks_t jwks = {0};
        size_t skipped = 0;
        expect(md_jwks_parse((md_str_t){set.p, set.n}, &jwks, &skipped, NULL), MD_JOSE_BAD_KEY);
        assert_int_equal(jwks.n, 0);
        md_buf_free(&set);
        md_buf_free(&j);
    }

    /* The control: a real Ed25519 public key still imports, and its tokens verify. */
    control(f, f->ed_pk, "EdDSA", f->ed);
}

static void test_expired(void **state)
{
    fixture_t *f = *state;
    control(f, f->ec_pk, "ES256", f->ec);
    char c[256];
    snprintf(c, sizeof(c), "{\"iss\":\"" ISS "\",\"aud\":\"" AUD "\",\"iat\":%lld,\"exp\":%lld}",
             (long long)(NOW - 3600), (long long)(NOW - 61));
    char *t = forge(f->ec_pk, "ES256", hdr("ES256", f->ec), c);
    expect(verify(f, t), MD_JOSE_EXPIRED);
    free(t);
}

static void test_not_yet_valid(void **state)
{
    fixture_t *f = *state;
    control(f, f->ec_pk, "ES256", f->ec);
    char c[256];
    snprintf(c, sizeof(c), "{\"iss\":\"" ISS "\",\"aud\":\"" AUD "\",\"nbf\":%lld,\"exp\":%lld}",
             (long long)(NOW + 61), (long long)(NOW + 600));
    char *t = forge(f->ec_pk, "ES256", hdr("ES256", f->ec), c);
    expect(verify(f, t), MD_JOSE_NOT_YET_VALID);
    free(t);
}

static void test_iat_in_future(void **state)
{
    fixture_t *f = *state;
    control(f, f->ec_pk, "ES256", f->ec);
    char c[256];
    snprintf(c, sizeof(c), "{\"iss\":\"" ISS "\",\"aud\":\"" AUD "\",\"iat\":%lld,\"exp\":%lld}",
             (long long)(NOW + 61), (long long)(NOW + 600));
    char *t = forge(f->ec_pk, "ES256", hdr("ES256", f->ec), c);
    expect(verify(f, t), MD_JOSE_ISSUED_IN_FUTURE);
    free(t);
}

static void test_skew_cannot_be_widened(void **state)
{
    fixture_t *f = *state;
    char c[256];
    snprintf(c, sizeof(c), "{\"iss\":\"" ISS "\",\"aud\":\"" AUD "\",\"exp\":%lld}", (long long)(NOW - 61));
    char *t = forge(f->ec_pk, "ES256", hdr("ES256", f->ec), c);
    md_jwt_verify_opts_t o = opts();
    o.skew = 3600;
    expect(verify_with(f, t, &o), MD_EINVAL);
    o.skew = 60;
    expect(verify_with(f, t, &o), MD_JOSE_EXPIRED);
    free(t);
}

static void test_wrong_audience(void **state)
{
    fixture_t *f = *state;
    control(f, f->ec_pk, "ES256", f->ec);
    char c[256];
    snprintf(c, sizeof(c), "{\"iss\":\"" ISS "\",\"aud\":[\"other-tool\",\"gateway2\"],\"exp\":%lld}",
             (long long)(NOW + 300));
    char *t = forge(f->ec_pk, "ES256", hdr("ES256", f->ec), c);
    expect(verify(f, t), MD_JOSE_BAD_AUDIENCE);
    free(t);
}

static void test_wrong_issuer(void **state)
{
    fixture_t *f = *state;
    control(f, f->ec_pk, "ES256", f->ec);
    char c[256];
    snprintf(c, sizeof(c), "{\"iss\":\"https://mandate.test.attacker\",\"aud\":\"" AUD "\",\"exp\":%lld}",
             (long long)(NOW + 300));
    char *t = forge(f->ec_pk, "ES256", hdr("ES256", f->ec), c);
    expect(verify(f, t), MD_JOSE_BAD_ISSUER);
    free(t);
    snprintf(c, sizeof(c), "{\"aud\":\"" AUD "\",\"exp\":%lld}", (long long)(NOW + 300));
    t = forge(f->ec_pk, "ES256", hdr("ES256", f->ec), c);
    expect(verify(f, t), MD_JOSE_BAD_ISSUER);
    free(t);
}

static void test_wrong_typ(void **state)
{
    fixture_t *f = *state;
    md_jwt_verify_opts_t o = opts();
    o.typ = "at+jwt";
    char h[256];
    snprintf(h, sizeof(h), "{\"alg\":\"ES256\",\"typ\":\"at+jwt\",\"kid\":\"%s\"}", md_jwk_kid(f->ec));
    char *t = forge(f->ec_pk, "ES256", h, f->claims);
    expect(verify_with(f, t, &o), MD_OK); /* control */
    free(t);
    /* An ID token or a DPoP proof presented as an access token. */
    static const char *typs[] = {"JWT", "dpop+jwt", "application/jwt"};
    for (int i = 0; i < 3; i++) {
        snprintf(h, sizeof(h), "{\"alg\":\"ES256\",\"typ\":\"%s\",\"kid\":\"%s\"}", typs[i],
                 md_jwk_kid(f->ec));
        t = forge(f->ec_pk, "ES256", h, f->claims);
        expect(verify_with(f, t, &o), MD_JOSE_BAD_TYPE);
        free(t);
    }
    snprintf(h, sizeof(h), "{\"alg\":\"ES256\",\"kid\":\"%s\"}", md_jwk_kid(f->ec));
    t = forge(f->ec_pk, "ES256", h, f->claims);
    expect(verify_with(f, t, &o), MD_JOSE_BAD_TYPE); /* missing */
    free(t);
}

static void test_oversized_token(void **state)
{
    fixture_t *f = *state;
    /* A validly signed token just over the default 16 KiB. */
    md_buf_t c;
    md_buf_init(&c);
    md_buf_printf(&c, "{\"iss\":\"" ISS "\",\"aud\":\"" AUD "\",\"exp\":%lld,\"pad\":\"",
                  (long long)(NOW + 300));
    for (int i = 0; i < 12300; i++)
        md_buf_addc(&c, 'a');
    md_buf_adds(&c, "\"}");
    char *t = forge(f->ec_pk, "ES256", hdr("ES256", f->ec), c.p);
    size_t n = strlen(t);
    assert_true(n > MD_JWT_MAX_LEN_DEFAULT);
    expect(verify(f, t), MD_JOSE_TOO_LARGE);
    /* The limit is exact: at its length it passes, one byte less it is refused. */
    md_jwt_verify_opts_t o = opts();
    o.max_len = n;
    expect(verify_with(f, t, &o), MD_OK);
    o.max_len = n - 1;
    expect(verify_with(f, t, &o), MD_JOSE_TOO_LARGE);
    free(t);
    md_buf_free(&c);
    /* A megabyte of garbage is refused before anything looks at it. */
    char *big = malloc(1u << 20);
    memset(big, '.', 1u << 20);
    big[(1u << 20) - 1] = '\0';
    expect(verify(f, big), MD_JOSE_TOO_LARGE);
    free(big);
}

static void test_bad_base64url(void **state)
{
    fixture_t *f = *state;
    char *t = forge(f->ec_pk, "ES256", hdr("ES256", f->ec), f->claims);
    expect(verify(f, t), MD_OK);
    char *d1 = strchr(t, '.'), *d2 = strchr(d1 + 1, '.');
    size_t hlen = (size_t)(d1 - t), plen = (size_t)(d2 - d1 - 1);
    /* Each mutation: insert `ins` at offset `at` (or replace one char with it). */
    struct {
        const char *what;
        size_t at;
        const char *ins;
        bool replace;
    } cases[] = {
        {"padding on the header", hlen, "==", false},
        {"padding on the signature", strlen(t), "=", false},
        {"'+' in the payload", hlen + 1 + plen / 2, "+", true},
        {"'/' in the signature", (size_t)(d2 - t) + 5, "/", true},
        {"space in the header", 4, " ", false},
        {"newline in the payload", hlen + 1 + 8, "\n", false},
        {"tab before the signature", (size_t)(d2 - t) + 1, "\t", false},
        {"CR LF at the end", strlen(t), "\r\n", false},
        {"'%' in the header", 2, "%", true},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        md_buf_t b;
        md_buf_init(&b);
        md_buf_add(&b, t, cases[i].at);
        md_buf_adds(&b, cases[i].ins);
        md_buf_adds(&b, t + cases[i].at + (cases[i].replace ? 1 : 0));
        int rc = verify(f, b.p);
        if (rc != MD_JOSE_BAD_ENCODING) fail_msg("%s: got %s", cases[i].what, md_jose_err_name(rc));
        md_buf_free(&b);
    }
    free(t);
    /* Non-canonical trailing bits: the same bytes spelled another way.
     * Header {"alg":"ES256"...} base64url ends in "fQ" ('}'); "fR" decodes to '}' too. */
    md_buf_t b;
    md_buf_init(&b);
    const char *h = "{\"alg\":\"ES256\",\"kid\":\"x\"}";
    b64(&b, h, strlen(h));
    assert_int_equal(b.p[b.n - 1], 'Q');
    b.p[b.n - 1] = 'R';
    md_buf_adds(&b, ".e30.AAAA");
    expect(verify(f, b.p), MD_JOSE_BAD_ENCODING);
    md_buf_free(&b);
}

static void test_duplicate_json_keys_in_header(void **state)
{
    fixture_t *f = *state;
    control(f, f->ec_pk, "ES256", f->ec);
    char h[256];
    const char *kid = md_jwk_kid(f->ec);
    /* Two algs: one parser sees ES256, another none. */
    snprintf(h, sizeof(h), "{\"alg\":\"ES256\",\"kid\":\"%s\",\"alg\":\"none\"}", kid);
    char *t = forge(f->ec_pk, "ES256", h, f->claims);
    expect(verify(f, t), MD_JOSE_DUPLICATE_KEY);
    free(t);
    snprintf(h, sizeof(h), "{\"alg\":\"ES256\",\"kid\":\"%s\",\"kid\":\"%s\"}", kid, kid);
    t = forge(f->ec_pk, "ES256", h, f->claims);
    expect(verify(f, t), MD_JOSE_DUPLICATE_KEY);
    free(t);
    /* The same name spelled with an escape is the same member. */
    snprintf(h, sizeof(h), "{\"alg\":\"ES256\",\"kid\":\"%s\",\"\\u0061lg\":\"ES256\"}", kid);
    t = forge(f->ec_pk, "ES256", h, f->claims);
    expect(verify(f, t), MD_JOSE_DUPLICATE_KEY);
    free(t);
}

static void test_duplicate_json_keys_in_payload(void **state)
{
    fixture_t *f = *state;
    char c[256];
    snprintf(c, sizeof(c),
             "{\"iss\":\"" ISS "\",\"aud\":\"" AUD "\",\"sub\":\"alice\",\"exp\":%lld,\"sub\":\"root\"}",
             (long long)(NOW + 300));
    char *t = forge(f->ec_pk, "ES256", hdr("ES256", f->ec), c);
    expect(verify(f, t), MD_JOSE_DUPLICATE_KEY);
    free(t);
    snprintf(c, sizeof(c), "{\"iss\":\"" ISS "\",\"aud\":\"" AUD "\",\"exp\":%lld,\"exp\":%lld}",
             (long long)(NOW - 3600), (long long)(NOW + 300));
    t = forge(f->ec_pk, "ES256", hdr("ES256", f->ec), c);
    expect(verify(f, t), MD_JOSE_DUPLICATE_KEY);
    free(t);
}

static void test_unknown_crit(void **state)
{
    fixture_t *f = *state;
    control(f, f->ec_pk, "ES256", f->ec);
    char h[256];
    const char *kid = md_jwk_kid(f->ec);
    /* RFC 7797 unencoded payload: a verifier that ignored crit would read the payload wrongly. */
    snprintf(h, sizeof(h), "{\"alg\":\"ES256\",\"kid\":\"%s\",\"b64\":false,\"crit\":[\"b64\"]}", kid);
    char *t = forge(f->ec_pk, "ES256", h, f->claims);
    expect(verify(f, t), MD_JOSE_UNKNOWN_CRIT);
    free(t);
    snprintf(h, sizeof(h), "{\"alg\":\"ES256\",\"kid\":\"%s\",\"x-policy\":1,\"crit\":[\"x-policy\"]}", kid);
    t = forge(f->ec_pk, "ES256", h, f->claims);
    expect(verify(f, t), MD_JOSE_UNKNOWN_CRIT);
    free(t);
    /* A malformed crit is malformed, not ignored. */
    snprintf(h, sizeof(h), "{\"alg\":\"ES256\",\"kid\":\"%s\",\"crit\":[]}", kid);
    t = forge(f->ec_pk, "ES256", h, f->claims);
    expect(verify(f, t), MD_JOSE_MALFORMED);
    free(t);
    snprintf(h, sizeof(h), "{\"alg\":\"ES256\",\"kid\":\"%s\",\"crit\":\"b64\"}", kid);
    t = forge(f->ec_pk, "ES256", h, f->claims);
    expect(verify(f, t), MD_JOSE_MALFORMED);
    free(t);
}

static void test_alg_not_in_allow_list(void **state)
{
    fixture_t *f = *state;
    /* ES384 on a key allowed only ES256 (the signature is a real P-256/SHA-384 one). */
    char *t = forge(f->ec_pk, "ES384", hdr("ES384", f->ec), f->claims);
    expect(verify(f, t), MD_JOSE_ALG_NOT_ALLOWED);
    free(t);
    /* A genuine RS256 signature by an RSA key that is published for PS256 only. */
    control(f, f->rsa_pk, "PS256", f->rsa);
    t = forge(f->rsa_pk, "RS256", hdr("RS256", f->rsa), f->claims);
    expect(verify(f, t), MD_JOSE_ALG_NOT_ALLOWED);
    free(t);
    /* The caller's allow-list narrows further: an honest EdDSA token where only ES256 is wanted. */
    t = forge(f->ed_pk, "EdDSA", hdr("EdDSA", f->ed), f->claims);
    expect(verify(f, t), MD_OK);
    md_jwt_verify_opts_t o = opts();
    o.algs = MD_JOSE_ES256;
    expect(verify_with(f, t, &o), MD_JOSE_ALG_NOT_ALLOWED);
    free(t);
}

static void test_rs256_header_on_ec_key(void **state)
{
    fixture_t *f = *state;
    control(f, f->ec_pk, "ES256", f->ec);
    /* Signed by the RSA key, but naming the EC key. */
    char *t = forge(f->rsa_pk, "RS256", hdr("RS256", f->ec), f->claims);
    expect(verify(f, t), MD_JOSE_KEY_MISMATCH);
    free(t);
    t = forge(f->rsa_pk, "PS256", hdr("PS256", f->ed), f->claims);
    expect(verify(f, t), MD_JOSE_KEY_MISMATCH);
    free(t);
    t = forge(f->ec_pk, "ES256", hdr("ES256", f->rsa), f->claims);
    expect(verify(f, t), MD_JOSE_KEY_MISMATCH);
    free(t);
    t = forge(f->ed_pk, "EdDSA", hdr("EdDSA", f->ec), f->claims);
    expect(verify(f, t), MD_JOSE_KEY_MISMATCH);
    free(t);
}

static void test_unsupported_algs(void **state)
{
    fixture_t *f = *state;
    static const char *algs[] = {"ES512", "RS512", "PS384", "ES256K", "EdDSA ", "es256", "RSA-OAEP", "dir"};
    for (size_t i = 0; i < sizeof(algs) / sizeof(algs[0]); i++) {
        char *t = forge(f->ec_pk, "ES256", hdr(algs[i], f->ec), f->claims);
        expect(verify(f, t), MD_JOSE_ALG_UNSUPPORTED);
        free(t);
    }
}

static void test_structure(void **state)
{
    fixture_t *f = *state;
    char *t = forge(f->ec_pk, "ES256", hdr("ES256", f->ec), f->claims);
    expect(verify(f, t), MD_OK);
    char buf[2048];
    /* JWE (five segments), two segments, four segments, empty. */
    snprintf(buf, sizeof(buf), "%s.AAAA.BBBB", t);
    expect(verify(f, buf), MD_JOSE_MALFORMED);
    *strrchr(strcpy(buf, t), '.') = '\0';
    expect(verify(f, buf), MD_JOSE_MALFORMED);
    snprintf(buf, sizeof(buf), "%s.", t);
    expect(verify(f, buf), MD_JOSE_MALFORMED);
    expect(verify(f, ""), MD_JOSE_MALFORMED);
    expect(verify(f, ".."), MD_JOSE_MALFORMED);
    free(t);
    /* Header or payload that is not a JSON object. */
    static const char *headers[] = {"[\"ES256\"]", "\"ES256\"", "{\"alg\":\"ES256\"", "{\"alg\":\"ES256\"}x",
                                    "null"};
    for (size_t i = 0; i < sizeof(headers) / sizeof(headers[0]); i++) {
        t = forge(f->ec_pk, "ES256", headers[i], f->claims);
        expect(verify(f, t), MD_JOSE_MALFORMED);
        free(t);
    }
    t = forge(f->ec_pk, "ES256", hdr("ES256", f->ec), "[1,2,3]");
    expect(verify(f, t), MD_JOSE_MALFORMED);
    free(t);
    /* alg missing or not a string; kid not a string; NUL inside a header string. */
    t = forge(f->ec_pk, "ES256", "{\"kid\":\"x\"}", f->claims);
    expect(verify(f, t), MD_JOSE_MALFORMED);
    free(t);
    t = forge(f->ec_pk, "ES256", "{\"alg\":[\"ES256\"]}", f->claims);
    expect(verify(f, t), MD_JOSE_MALFORMED);
    free(t);
    t = forge(f->ec_pk, "ES256", "{\"alg\":\"ES256\",\"kid\":1}", f->claims);
    expect(verify(f, t), MD_JOSE_MALFORMED);
    free(t);
    snprintf(buf, sizeof(buf), "{\"alg\":\"ES256\",\"kid\":\"%s\\u0000junk\"}", md_jwk_kid(f->ec));
    t = forge(f->ec_pk, "ES256", buf, f->claims);
    expect(verify(f, t), MD_JOSE_MALFORMED);
    free(t);
}

static void test_missing_exp(void **state)
{
    fixture_t *f = *state;
    control(f, f->ec_pk, "ES256", f->ec);
    char *t = forge(f->ec_pk, "ES256", hdr("ES256", f->ec), "{\"iss\":\"" ISS "\",\"aud\":\"" AUD "\"}");
    expect(verify(f, t), MD_JOSE_MISSING_CLAIM);
    free(t);
}

static void test_unexpected_audience(void **state)
{
    fixture_t *f = *state;
    /* A token meant for some audience, shown to a verifier that names none. */
    char *t = forge(f->ec_pk, "ES256", hdr("ES256", f->ec), f->claims);
    md_jwt_verify_opts_t o = opts();
    o.aud = NULL;
    expect(verify_with(f, t, &o), MD_JOSE_BAD_AUDIENCE);
    free(t);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_alg_none),
        cmocka_unit_test(test_hs256_with_public_key_as_secret),
        cmocka_unit_test(test_unknown_kid),
        cmocka_unit_test(test_path_like_kid),
        cmocka_unit_test(test_jku_x5u_and_embedded_jwk_ignored),
        cmocka_unit_test(test_flipped_signature_bit),
        cmocka_unit_test(test_tampered_payload),
        cmocka_unit_test(test_ecdsa_zero_and_der_signatures),
        cmocka_unit_test(test_ecdsa_high_s_refused),
        cmocka_unit_test(test_our_ecdsa_signatures_are_low_s),
        cmocka_unit_test(test_ed25519_weak_public_keys_refused),
        cmocka_unit_test(test_expired),
        cmocka_unit_test(test_not_yet_valid),
        cmocka_unit_test(test_iat_in_future),
        cmocka_unit_test(test_skew_cannot_be_widened),
        cmocka_unit_test(test_wrong_audience),
        cmocka_unit_test(test_wrong_issuer),
        cmocka_unit_test(test_wrong_typ),
        cmocka_unit_test(test_oversized_token),
        cmocka_unit_test(test_bad_base64url),
        cmocka_unit_test(test_duplicate_json_keys_in_header),
        cmocka_unit_test(test_duplicate_json_keys_in_payload),
        cmocka_unit_test(test_unknown_crit),
        cmocka_unit_test(test_alg_not_in_allow_list),
        cmocka_unit_test(test_rs256_header_on_ec_key),
        cmocka_unit_test(test_unsupported_algs),
        cmocka_unit_test(test_structure),
        cmocka_unit_test(test_missing_exp),
        cmocka_unit_test(test_unexpected_audience),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
