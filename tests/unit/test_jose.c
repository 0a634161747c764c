/*
 * test_jose.c: unit tests for src/token/ — golden vectors from the RFCs,
 * sign/verify round trips for every algorithm, JWK/JWKS/PEM handling,
 * base64url, and the claim checks at their exact boundaries.
 *
 * Golden vectors, quoted from the RFCs:
 *   [7515-A.2]  RFC 7515 Appendix A.2 (RS256): key, JWS and signature bytes
 *   [7515-A.3]  RFC 7515 Appendix A.3 (ES256): key and JWS
 *   [8037-A]    RFC 8037 Appendix A.1-A.4 (Ed25519): key, thumbprint, JWS
 *   [7638-3.1]  RFC 7638 Section 3.1: RSA key and its thumbprint
 *   [4648-10]   RFC 4648 Section 10 test vectors (base64, mapped to base64url)
 * The attack suite lives in test_jose_attacks.c; rotation in test_keyset.c.
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
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/obj_mac.h>
#include <openssl/pem.h>
#include <openssl/rsa.h>

#include "token/token.h"

#define NOW INT64_C(1700000000)

/* ------------------------------------------------------------ vectors */

/* [7515-A.3] */
static const char A3_JWK[] = "{\"kty\":\"EC\",\"crv\":\"P-256\","
                             "\"x\":\"f83OJ3D2xF1Bg8vub9tLe1gHMzV76e8Tus9uPHvRVEU\","
                             "\"y\":\"x_FEzRu9m36HLN_tue659LNpXW6pCyStikYjKIWI5a0\","
                             "\"d\":\"jpsQnnGQmL-YBIffH1136cspYG6-0iY7X1fCE9-E9LI\"}";
static const char A3_JWS[] =
    "eyJhbGciOiJFUzI1NiJ9"
    ".eyJpc3MiOiJqb2UiLA0KICJleHAiOjEzMDA4MTkzODAsDQogImh0dHA6Ly9leGFtcGxlLmNvbS9pc19yb290Ijp0cnVlfQ"
    ".DtEhU3ljbEg8L38VWAfUAqOyKAM6-Xx-F4GawxaepmXFCgfTjDxw5djxLa8ISlSApmWQxfKTUJqPP3-Kg6NU1Q";
/* The payload of A.1-A.3, with its CR LF line breaks. */
static const char A_PAYLOAD[] =
    "{\"iss\":\"joe\",\r\n \"exp\":1300819380,\r\n \"http://example.com/is_root\":true}";

/* [7515-A.2] public part of the key (the private members are not needed to verify). */
static const char A2_JWK[] = "{\"kty\":\"RSA\","
                             "\"n\":\"ofgWCuLjybRlzo0tZWJjNiuSfb4p4fAkd_wWJcyQoTbji9k0l8W26mPddx"
                             "HmfHQp-Vaw-4qPCJrcS2mJPMEzP1Pt0Bm4d4QlL-yRT-SFd2lZS-pCgNMs"
                             "D1W_YpRPEwOWvG6b32690r2jZ47soMZo9wGzjb_7OMg0LOL-bSf63kpaSH"
                             "SXndS5z5rexMdbBYUsLA9e-KXBdQOS-UTo7WTBEMa2R2CapHg665xsmtdV"
                             "MTBQY4uDZlxvb3qCo5ZwKh9kG4LT6_I5IhlJH7aGhyxXFvUK-DWNmoudF8"
                             "NAco9_h9iaGNj8q2ethFkMLs91kzk2PAcDTW9gb54h4FRWyuXpoQ\","
                             "\"e\":\"AQAB\"}";
static const char A2_JWS[] =
    "eyJhbGciOiJSUzI1NiJ9"
    ".eyJpc3MiOiJqb2UiLA0KICJleHAiOjEzMDA4MTkzODAsDQogImh0dHA6Ly9leGFtcGxlLmNvbS9pc19yb290Ijp0cnVlfQ"
    ".cC4hiUPoj9Eetdgtv3hF80EGrhuB__dzERat0XF9g2VtQgr9PJbu3XOiZj5RZmh7"
    "AAuHIm4Bh-0Qc_lF5YKt_O8W2Fp5jujGbds9uJdbF9CUAr7t1dnZcAcQjbKBYNX4"
    "BAynRFdiuB--f_nZLgrnbyTyWzO75vRK5h6xBArLIARNPvkSjtQBMHlb1L07Qe7K"
    "0GarZRmB_eSN9383LcOLn6_dO--xi12jzDwusC-eOkHWEsqtFZESc6BfI7noOPqv"
    "hJ1phCnvWh6IeYI2w9QOYEUipUTI8np6LbgGY9Fs98rqVt5AXLIhWkWywlVmtVrB"
    "p0igcN_IoypGlUPQGe77Rw";

/* [8037-A] */
static const char ED_JWK[] = "{\"kty\":\"OKP\",\"crv\":\"Ed25519\","
                             "\"d\":\"nWGxne_9WmC6hEr0kuwsxERJxWl7MmkZcDusAxyuf2A\","
                             "\"x\":\"11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo\"}";
static const char ED_THUMBPRINT[] = "kPrK_qmxVWaYVA9wwBF6Iuo3vVzz7TxHCTwXBygrS4k";
static const char ED_PAYLOAD[] = "Example of Ed25519 signing";
static const char ED_JWS[] =
    "eyJhbGciOiJFZERTQSJ9.RXhhbXBsZSBvZiBFZDI1NTE5IHNpZ25pbmc"
    ".hgyY0il_MGCjP0JzlnLWG1PPOt7-09PGcvMg3AIbQR6dWbhijcNR4ki4iylGjg5BhVsPt9g7sVvpAr_MuM0KAg";

/* [7638-3.1] */
static const char TP_JWK[] = "{\"kty\":\"RSA\","
                             "\"n\":\"0vx7agoebGcQSuuPiLJXZptN9nndrQmbXEps2aiAFbWhM78LhWx4cbbfAAt"
                             "VT86zwu1RK7aPFFxuhDR1L6tSoc_BJECPebWKRXjBZCiFV4n3oknjhMstn6"
                             "4tZ_2W-5JsGY4Hc5n9yBXArwl93lqt7_RN5w6Cf0h4QyQ5v-65YGjQR0_FD"
                             "W2QvzqY368QQMicAtaSqzs8KJZgnYb9c7d0zgdAZHzu6qMQvRL5hajrn1n9"
                             "1CbOpbISD08qNLyrdkt-bFTWhAI4vMQFh6WeZu0fM4lFd2NcRwr3XPksINH"
                             "aQ-G_xBniIqbw0Ls1jF44-csFCur-kEgU8awapJzKnqDKgw\","
                             "\"e\":\"AQAB\",\"alg\":\"RS256\",\"kid\":\"2011-04-29\"}";
static const char TP_THUMBPRINT[] = "NzbLsXh8uDCcd-6MNwXF4W_7noWXFZAfHkxZsRGC9Xs";

/* ------------------------------------------------------------ helpers */

static md_jwk_t *jwk(const char *json)
{
    md_jwk_t *k = NULL;
    md_err_t err = {0};
    int rc = md_jwk_parse(md_str_c(json), &k, &err);
    if (rc != MD_OK) fail_msg("JWK should parse: %s %s", md_jose_err_name(rc), err.msg);
    return k;
}

static int jwk_rc(const char *json)
{
    md_jwk_t *k = (md_jwk_t *)0x1;
    int rc = md_jwk_parse(md_str_c(json), &k, NULL);
    if (rc == MD_OK)
        md_jwk_free(k);
    else
        assert_null(k); /* outputs stay empty on failure */
    return rc;
}

/* An OpenSSL-generated private key imported through PEM. */
static md_jwk_t *pem_key(EVP_PKEY *pkey)
{
    assert_non_null(pkey);
    BIO *bio = BIO_new(BIO_s_mem());
    assert_int_equal(PEM_write_bio_PrivateKey(bio, pkey, NULL, NULL, 0, NULL, NULL), 1);
    char *data = NULL;
    long n = BIO_get_mem_data(bio, &data);
    md_jwk_t *k = NULL;
    md_err_t err = {0};
    int rc = md_jwk_from_pem((md_str_t){data, (size_t)n}, &k, &err);
    if (rc != MD_OK) fail_msg("PEM import: %s %s", md_jose_err_name(rc), err.msg);
    BIO_free(bio);
    EVP_PKEY_free(pkey);
    return k;
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

static json_t *claims(const char *fmt)
{
    json_error_t je;
    json_t *j = json_loads(fmt, 0, &je);
    if (j == NULL) fail_msg("test claims: %s", je.text);
    return j;
}

static md_jwt_verify_opts_t opts_default(void)
{
    return (md_jwt_verify_opts_t){.now = NOW, .skew = 60, .iss = "https://mandate.test", .aud = "gateway"};
}

/* Sign {iss, aud, exp = NOW + 300, iat = NOW} with key and alg. */
static char *sign_std(const md_jwk_t *key, md_jose_alg_t alg)
{
    json_t *c = json_pack("{s:s, s:s, s:I, s:I, s:s}", "iss", "https://mandate.test", "aud", "gateway", "exp",
                          (json_int_t)(NOW + 300), "iat", (json_int_t)NOW, "sub", "spiffe://td/agent/x");
    md_buf_t b;
    md_buf_init(&b);
    md_err_t err = {0};
    int rc = md_jwt_sign(key, alg, NULL, c, &b, &err);
    if (rc != MD_OK) fail_msg("sign: %s %s", md_jose_err_name(rc), err.msg);
    json_decref(c);
    return b.p;
}

/* Sign arbitrary claims JSON text with key (default alg), typ "JWT". */
static char *sign_claims(const md_jwk_t *key, const char *json)
{
    json_t *c = claims(json);
    md_buf_t b;
    md_buf_init(&b);
    assert_int_equal(md_jwt_sign(key, 0, NULL, c, &b, NULL), MD_OK);
    json_decref(c);
    return b.p;
}

static int verify_rc(const md_jwk_t *key, const char *token, const md_jwt_verify_opts_t *o)
{
    md_jwt_t jwt;
    const md_jwk_t *keys[] = {key};
    int rc = md_jwt_verify(keys, 1, md_str_c(token), o, &jwt, NULL);
    if (rc == MD_OK) {
        assert_non_null(jwt.claims);
        assert_ptr_equal(jwt.key, key);
        md_jwt_free(&jwt);
    } else {
        assert_null(jwt.claims);
        assert_null(jwt.header);
    }
    return rc;
}

static void expect(int got, int want)
{
    if (got != want) fail_msg("got %s, want %s", md_jose_err_name(got), md_jose_err_name(want));
}

/* The ES256 token with its signature's s replaced by n - s: the other signature that verifies. */
static char *es256_other_s(const char *token)
{
    const char *dot = strrchr(token, '.');
    unsigned char *sig = NULL;
    size_t n = 0;
    assert_int_equal(md_b64url_decode(md_str_c(dot + 1), &sig, &n), MD_OK);
    assert_int_equal(n, 64);
    EC_GROUP *g = EC_GROUP_new_by_curve_name(NID_X9_62_prime256v1);
    BIGNUM *s = BN_bin2bn(sig + 32, 32, NULL);
    assert_non_null(g);
    assert_non_null(s);
    assert_int_equal(BN_sub(s, EC_GROUP_get0_order(g), s), 1);
    assert_int_equal(BN_bn2binpad(s, sig + 32, 32), 32);
    md_buf_t b;
    md_buf_init(&b);
    md_buf_add(&b, token, (size_t)(dot - token + 1));
    md_b64url_encode(&b, sig, 64);
    md_buf_addc(&b, '\0');
    BN_free(s);
    EC_GROUP_free(g);
    free(sig);
    return b.p;
}

/* ------------------------------------------------------------ golden vectors */

static void test_rfc7515_a3_es256_verify(void **state)
{
    md_jwk_t *k = jwk(A3_JWK);
    assert_int_equal(md_jwk_type(k), MD_JWK_EC_P256);
    assert_true(md_jwk_has_private(k));
    const md_jwk_t *keys[] = {k};
    md_jws_t jws;
    md_err_t err = {0};
    /* The RFC's signature happens to be the high-S one of (r, s), (r, n - s): refused as it
     * stands (no malleable signatures), accepted in its low-S form and when asked to. */
    expect(md_jws_verify(keys, 1, md_str_c(A3_JWS), 0, 0, &jws, NULL), MD_JOSE_BAD_SIGNATURE);
    char *low = es256_other_s(A3_JWS);
    int rc = md_jws_verify(keys, 1, md_str_c(low), 0, 0, &jws, &err);
    if (rc != MD_OK) fail_msg("%s %s", md_jose_err_name(rc), err.msg);
    assert_int_equal(jws.alg, MD_JOSE_ES256);
    assert_int_equal(jws.payload_len, strlen(A_PAYLOAD));
    assert_memory_equal(jws.payload, A_PAYLOAD, strlen(A_PAYLOAD));
    md_jws_free(&jws);

    /* And as a JWT, at a time before its exp (2011-03-22T18:43:00Z). */
    md_jwt_verify_opts_t o = {.now = 1300819380 - 61, .skew = 60, .iss = "joe"};
    md_jwt_t jwt;
    expect(md_jwt_verify(keys, 1, md_str_c(A3_JWS), &o, &jwt, NULL), MD_JOSE_BAD_SIGNATURE);
    o.allow_high_s = true;
    rc = md_jwt_verify(keys, 1, md_str_c(A3_JWS), &o, &jwt, &err);
    if (rc != MD_OK) fail_msg("%s %s", md_jose_err_name(rc), err.msg);
    assert_int_equal(jwt.exp, 1300819380);
    assert_true(json_is_true(json_object_get(jwt.claims, "http://example.com/is_root")));
    md_jwt_free(&jwt);
    o.allow_high_s = false;
    rc = md_jwt_verify(keys, 1, md_str_c(low), &o, &jwt, &err);
    if (rc != MD_OK) fail_msg("%s %s", md_jose_err_name(rc), err.msg);
    md_jwt_free(&jwt);
    o.now = 1300819380 + 60;
    expect(md_jwt_verify(keys, 1, md_str_c(low), &o, &jwt, NULL), MD_JOSE_EXPIRED);

    /* The public half alone verifies too. */
    json_t *pub = NULL;
    assert_int_equal(md_jwk_to_json(k, &pub), MD_OK);
    assert_null(json_object_get(pub, "d"));
    md_jwk_t *kp = NULL;
    assert_int_equal(md_jwk_from_json(pub, &kp, NULL), MD_OK);
    assert_false(md_jwk_has_private(kp));
    keys[0] = kp;
    assert_int_equal(md_jws_verify(keys, 1, md_str_c(low), 0, 0, &jws, NULL), MD_OK);
    md_jws_free(&jws);
    json_decref(pub);
    md_jwk_free(kp);
    md_jwk_free(k);
    free(low);
}

static void test_rfc7515_a2_rs256_verify(void **state)
{
    md_jwk_t *k = jwk(A2_JWK);
    assert_int_equal(md_jwk_type(k), MD_JWK_RSA);
    const md_jwk_t *keys[] = {k};
    md_jws_t jws;
    md_err_t err = {0};
    int rc = md_jws_verify(keys, 1, md_str_c(A2_JWS), 0, 0, &jws, &err);
    if (rc != MD_OK) fail_msg("%s %s", md_jose_err_name(rc), err.msg);
    assert_int_equal(jws.alg, MD_JOSE_RS256);
    assert_memory_equal(jws.payload, A_PAYLOAD, strlen(A_PAYLOAD));
    md_jws_free(&jws);
    /* A caller allow-list without RS256 refuses it. */
    expect(md_jws_verify(keys, 1, md_str_c(A2_JWS), MD_JOSE_PS256, 0, &jws, NULL), MD_JOSE_ALG_NOT_ALLOWED);
    md_jwk_free(k);
}

static void test_rfc8037_ed25519_exact_signature(void **state)
{
    md_jwk_t *k = jwk(ED_JWK);
    assert_int_equal(md_jwk_type(k), MD_JWK_ED25519);
    char tp[MD_JWK_THUMBPRINT_LEN + 1];
    assert_int_equal(md_jwk_thumbprint(k, tp), MD_OK);
    assert_string_equal(tp, ED_THUMBPRINT);

    /* Ed25519 is deterministic: our signature must be the RFC's, byte for byte. */
    md_buf_t b;
    md_buf_init(&b);
    assert_int_equal(md_jws_sign(k, MD_JOSE_EDDSA, NULL, md_str_c(ED_PAYLOAD), &b, NULL), MD_OK);
    assert_string_equal(b.p, ED_JWS);
    md_buf_free(&b);

    const md_jwk_t *keys[] = {k};
    md_jws_t jws;
    assert_int_equal(md_jws_verify(keys, 1, md_str_c(ED_JWS), 0, 0, &jws, NULL), MD_OK);
    assert_string_equal((char *)jws.payload, ED_PAYLOAD);
    assert_int_equal(jws.alg, MD_JOSE_EDDSA);
    md_jws_free(&jws);
    md_jwk_free(k);
}

static void test_rfc7638_thumbprint(void **state)
{
    md_jwk_t *k = jwk(TP_JWK);
    char tp[MD_JWK_THUMBPRINT_LEN + 1];
    assert_int_equal(md_jwk_thumbprint(k, tp), MD_OK);
    assert_string_equal(tp, TP_THUMBPRINT);
    assert_string_equal(md_jwk_kid(k), "2011-04-29");
    assert_int_equal(md_jwk_algs(k), MD_JOSE_RS256); /* the JWK's alg restricts it */
    md_jwk_free(k);
}

static void test_b64url_rfc4648_vectors(void **state)
{
    static const char *plain[] = {"", "f", "fo", "foo", "foob", "fooba", "foobar"};
    static const char *enc[] = {"", "Zg", "Zm8", "Zm9v", "Zm9vYg", "Zm9vYmE", "Zm9vYmFy"};
    for (size_t i = 0; i < 7; i++) {
        md_buf_t b;
        md_buf_init(&b);
        md_b64url_encode(&b, plain[i], strlen(plain[i]));
        assert_string_equal(b.p ? b.p : "", enc[i]);
        md_buf_free(&b);
        unsigned char *out = NULL;
        size_t n = 0;
        assert_int_equal(md_b64url_decode(md_str_c(enc[i]), &out, &n), MD_OK);
        assert_int_equal(n, strlen(plain[i]));
        assert_memory_equal(out, plain[i], n);
        free(out);
    }
    /* The two characters that differ from base64, both ways. */
    unsigned char bytes[] = {0xfb, 0xff, 0xbf};
    md_buf_t b;
    md_buf_init(&b);
    md_b64url_encode(&b, bytes, 3);
    assert_string_equal(b.p, "-_-_");
    md_buf_free(&b);
}

static void test_b64url_strict_decode(void **state)
{
    static const char *bad[] = {
        "Zg==",     "Zg=",    "Zm9v=",           /* padding */
        "Zm+v",     "Zm/v",                      /* base64, not base64url */
        "Zm 9v",    "Zm9v\n", "\tZm9v", "Zm9v ", /* whitespace */
        "Z",        "Zm9vY",                     /* impossible lengths */
        "Zh",       "Zm9",    "Zm9vYh", /* non-zero trailing bits ("Zg", "Zm8", "Zm9vYg" are canonical) */
        "Zm9v\x80", "Zm.v",
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        unsigned char *out = (unsigned char *)0x1;
        size_t n = 99;
        int rc = md_b64url_decode(md_str_c(bad[i]), &out, &n);
        if (rc != MD_JOSE_BAD_ENCODING)
            fail_msg("\"%s\" should be refused, got %s", bad[i], md_jose_err_name(rc));
        assert_null(out);
        assert_int_equal(n, 0);
    }
}

static void test_err_names_distinct(void **state)
{
    const char *seen[64];
    size_t n = 0;
    for (int code = 0; code >= MD_JOSE_CRYPTO; code--) {
        if (code < MD_ESCHEMA && code > MD_JOSE_MALFORMED) continue;
        const char *name = md_jose_err_name(code);
        if (strcmp(name, "MD_E_UNKNOWN") == 0) fail_msg("code %d has no name", code);
        for (size_t i = 0; i < n; i++)
            assert_string_not_equal(seen[i], name);
        seen[n++] = name;
    }
    assert_string_equal(md_jose_err_name(MD_JOSE_ALG_NONE), "MD_JOSE_ALG_NONE");
    assert_string_equal(md_jose_err_name(-99), "MD_E_UNKNOWN");
    assert_string_equal(md_jose_err_name(MD_JOSE_CRYPTO - 1), "MD_E_UNKNOWN");
}

static void test_alg_names(void **state)
{
    md_jose_alg_t a = 0;
    static const char *names[] = {"ES256", "ES384", "EdDSA", "RS256", "PS256"};
    for (size_t i = 0; i < 5; i++) {
        assert_int_equal(md_jose_alg_from_name(md_str_c(names[i]), &a), MD_OK);
        assert_string_equal(md_jose_alg_name(a), names[i]);
    }
    expect(md_jose_alg_from_name(md_str_c("none"), &a), MD_JOSE_ALG_NONE);
    expect(md_jose_alg_from_name(md_str_c("nOnE"), &a), MD_JOSE_ALG_NONE);
    static const char *unsupported[] = {"HS256", "HS384",   "HS512", "ES512", "RS384",
                                        "es256", "ED25519", "",      "ES256 "};
    for (size_t i = 0; i < sizeof(unsupported) / sizeof(unsupported[0]); i++)
        expect(md_jose_alg_from_name(md_str_c(unsupported[i]), &a), MD_JOSE_ALG_UNSUPPORTED);
    assert_null(md_jose_alg_name(MD_JOSE_ES256 | MD_JOSE_EDDSA));
    assert_null(md_jose_alg_name(0));
}

/* ------------------------------------------------------------ round trips */

static void round_trip(md_jose_alg_t alg, md_jwk_type_t type)
{
    md_jwk_t *k = gen(alg);
    assert_int_equal(md_jwk_type(k), type);
    char *tok = sign_std(k, alg);
    md_jwt_verify_opts_t o = opts_default();
    md_jwt_t jwt;
    const md_jwk_t *keys[] = {k};
    md_err_t err = {0};
    int rc = md_jwt_verify(keys, 1, md_str_c(tok), &o, &jwt, &err);
    if (rc != MD_OK) fail_msg("%s: %s %s", md_jose_alg_name(alg), md_jose_err_name(rc), err.msg);
    assert_int_equal(jwt.alg, alg);
    assert_int_equal(jwt.exp, NOW + 300);
    assert_int_equal(jwt.iat, NOW);
    assert_string_equal(json_string_value(json_object_get(jwt.claims, "sub")), "spiffe://td/agent/x");
    assert_string_equal(json_string_value(json_object_get(jwt.header, "alg")), md_jose_alg_name(alg));
    assert_string_equal(json_string_value(json_object_get(jwt.header, "typ")), "JWT");
    assert_string_equal(json_string_value(json_object_get(jwt.header, "kid")), md_jwk_kid(k));
    md_jwt_free(&jwt);

    /* Verified by the public half only, after a trip through the published JWKS. */
    json_t *set = NULL;
    const md_jwk_t *pubs[] = {k};
    assert_int_equal(md_jwks_to_json(pubs, 1, &set), MD_OK);
    char *text = json_dumps(set, JSON_COMPACT);
    assert_null(strstr(text, "\"d\""));
    assert_null(strstr(text, "\"p\""));
    md_jwks_t jwks = {0};
    assert_int_equal(md_jwks_parse(md_str_c(text), &jwks, NULL, NULL), MD_OK);
    assert_int_equal(jwks.n, 1);
    assert_false(md_jwk_has_private(jwks.keys[0]));
    rc = md_jwt_verify((const md_jwk_t *const *)jwks.keys, jwks.n, md_str_c(tok), &o, &jwt, &err);
    if (rc != MD_OK) fail_msg("%s via JWKS: %s %s", md_jose_alg_name(alg), md_jose_err_name(rc), err.msg);
    md_jwt_free(&jwt);

    /* A public key cannot sign. */
    md_buf_t b;
    md_buf_init(&b);
    json_t *c = claims("{\"exp\": 1}");
    expect(md_jwt_sign(jwks.keys[0], alg, NULL, c, &b, NULL), MD_JOSE_NO_PRIVATE_KEY);
    assert_null(b.p);
    json_decref(c);

    md_jwks_free(&jwks);
    free(text);
    json_decref(set);
    free(tok);
    md_jwk_free(k);
}

static void test_round_trip_es256(void **state)
{
    round_trip(MD_JOSE_ES256, MD_JWK_EC_P256);
}
static void test_round_trip_es384(void **state)
{
    round_trip(MD_JOSE_ES384, MD_JWK_EC_P384);
}
static void test_round_trip_eddsa(void **state)
{
    round_trip(MD_JOSE_EDDSA, MD_JWK_ED25519);
}
static void test_round_trip_rs256(void **state)
{
    round_trip(MD_JOSE_RS256, MD_JWK_RSA);
}
static void test_round_trip_ps256(void **state)
{
    round_trip(MD_JOSE_PS256, MD_JWK_RSA);
}

static void test_es256_is_the_default(void **state)
{
    md_jwk_t *k = gen(MD_JOSE_ES256);
    char *tok = sign_claims(k, "{\"exp\": 1700000300}");
    md_jwt_verify_opts_t o = {.now = NOW};
    const md_jwk_t *keys[] = {k};
    md_jwt_t jwt;
    assert_int_equal(md_jwt_verify(keys, 1, md_str_c(tok), &o, &jwt, NULL), MD_OK);
    assert_int_equal(jwt.alg, MD_JOSE_ES256);
    md_jwt_free(&jwt);
    free(tok);
    md_jwk_free(k);
}

static void test_es256_signature_is_raw_r_s(void **state)
{
    md_jwk_t *k = jwk(A3_JWK);
    for (int i = 0; i < 20; i++) { /* R or S with leading zero bytes must keep their full width */
        md_buf_t b;
        md_buf_init(&b);
        assert_int_equal(md_jws_sign(k, 0, NULL, MD_STR("x"), &b, NULL), MD_OK);
        const char *sig = strrchr(b.p, '.') + 1;
        unsigned char *raw = NULL;
        size_t n = 0;
        assert_int_equal(md_b64url_decode(md_str_c(sig), &raw, &n), MD_OK);
        assert_int_equal(n, 64);
        free(raw);
        md_buf_free(&b);
    }
    md_jwk_free(k);
}

static void test_jws_sign_rejects_alg_in_extra_header(void **state)
{
    md_jwk_t *k = gen(MD_JOSE_ES256);
    json_t *h = json_pack("{s:s}", "alg", "none");
    md_buf_t b;
    md_buf_init(&b);
    expect(md_jws_sign(k, 0, h, MD_STR("x"), &b, NULL), MD_EINVAL);
    expect(md_jws_sign(k, MD_JOSE_ES384, NULL, MD_STR("x"), &b, NULL), MD_JOSE_ALG_NOT_ALLOWED);
    expect(md_jws_sign(k, MD_JOSE_RS256, NULL, MD_STR("x"), &b, NULL), MD_JOSE_KEY_MISMATCH);
    assert_null(b.p);
    json_decref(h);
    md_jwk_free(k);
}

/* ------------------------------------------------------------ keys */

static void test_generated_key_kid_is_thumbprint(void **state)
{
    md_jose_alg_t algs[] = {MD_JOSE_ES256, MD_JOSE_EDDSA};
    for (int i = 0; i < 2; i++) {
        md_jwk_t *k = gen(algs[i]);
        char tp[MD_JWK_THUMBPRINT_LEN + 1];
        assert_int_equal(md_jwk_thumbprint(k, tp), MD_OK);
        assert_int_equal(strlen(tp), MD_JWK_THUMBPRINT_LEN);
        assert_string_equal(md_jwk_kid(k), tp);
        assert_int_equal(md_jwk_algs(k), algs[i]);
        md_jwk_free(k);
    }
    md_jwk_t *k = NULL;
    expect(md_jwk_generate(MD_JOSE_RS256, &k, NULL), MD_EINVAL);
    assert_null(k);
}

static void test_pem_round_trip(void **state)
{
    md_jose_alg_t algs[] = {MD_JOSE_ES256, MD_JOSE_EDDSA, MD_JOSE_ES384, MD_JOSE_RS256};
    for (int i = 0; i < 4; i++) {
        md_jwk_t *k = gen(algs[i]);
        char *pem = NULL;
        size_t n = 0;
        assert_int_equal(md_jwk_to_pem(k, &pem, &n, NULL), MD_OK);
        assert_non_null(strstr(pem, "-----BEGIN PRIVATE KEY-----"));
        assert_int_equal(strlen(pem), n);
        md_jwk_t *k2 = NULL;
        assert_int_equal(md_jwk_from_pem((md_str_t){pem, n}, &k2, NULL), MD_OK);
        char a[MD_JWK_THUMBPRINT_LEN + 1], b[MD_JWK_THUMBPRINT_LEN + 1];
        assert_int_equal(md_jwk_thumbprint(k, a), MD_OK);
        assert_int_equal(md_jwk_thumbprint(k2, b), MD_OK);
        assert_string_equal(a, b);
        /* What one signs the other verifies. */
        char *tok = sign_std(k2, algs[i]);
        md_jwt_verify_opts_t o = opts_default();
        expect(verify_rc(k, tok, &o), MD_OK);
        free(tok);
        md_jose_secret_free(pem, n);
        md_jwk_free(k2);
        md_jwk_free(k);
    }
}

static void test_pem_refusals(void **state)
{
    md_jwk_t *k = NULL;
    expect(md_jwk_from_pem(MD_STR("not a pem"), &k, NULL), MD_JOSE_BAD_KEY);
    expect(md_jwk_from_pem(MD_STR(""), &k, NULL), MD_JOSE_BAD_KEY);
    /* An encrypted PEM is refused, never prompted for. */
    EVP_PKEY *pkey = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "prime256v1");
    BIO *bio = BIO_new(BIO_s_mem());
    assert_int_equal(
        PEM_write_bio_PKCS8PrivateKey(bio, pkey, EVP_aes_256_cbc(), NULL, 0, NULL, (void *)"secret"), 1);
    char *data = NULL;
    long n = BIO_get_mem_data(bio, &data);
    expect(md_jwk_from_pem((md_str_t){data, (size_t)n}, &k, NULL), MD_JOSE_BAD_KEY);
    BIO_free(bio);
    EVP_PKEY_free(pkey);
    /* A curve we do not support. */
    pkey = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "secp521r1");
    bio = BIO_new(BIO_s_mem());
    assert_int_equal(PEM_write_bio_PrivateKey(bio, pkey, NULL, NULL, 0, NULL, NULL), 1);
    n = BIO_get_mem_data(bio, &data);
    expect(md_jwk_from_pem((md_str_t){data, (size_t)n}, &k, NULL), MD_JOSE_UNSUPPORTED_KEY);
    BIO_free(bio);
    EVP_PKEY_free(pkey);
    /* RSA below 2048 bits. */
    pkey = EVP_PKEY_Q_keygen(NULL, NULL, "RSA", (size_t)1024);
    bio = BIO_new(BIO_s_mem());
    assert_int_equal(PEM_write_bio_PrivateKey(bio, pkey, NULL, NULL, 0, NULL, NULL), 1);
    n = BIO_get_mem_data(bio, &data);
    expect(md_jwk_from_pem((md_str_t){data, (size_t)n}, &k, NULL), MD_JOSE_UNSUPPORTED_KEY);
    BIO_free(bio);
    EVP_PKEY_free(pkey);
    assert_null(k);
    /* A public key has no PEM private export. */
    md_jwk_t *pub = jwk(TP_JWK);
    char *pem = NULL;
    size_t len = 0;
    expect(md_jwk_to_pem(pub, &pem, &len, NULL), MD_JOSE_NO_PRIVATE_KEY);
    assert_null(pem);
    md_jwk_free(pub);
}

static void test_jwk_refusals(void **state)
{
    /* A3 key with y changed: no longer on the curve. */
    expect(jwk_rc("{\"kty\":\"EC\",\"crv\":\"P-256\",\"x\":\"f83OJ3D2xF1Bg8vub9tLe1gHMzV76e8Tus9uPHvRVEU\","
                  "\"y\":\"x_FEzRu9m36HLN_tue659LNpXW6pCyStikYjKIWI5a1\"}"),
           MD_JOSE_BAD_KEY);
    /* x one byte short. */
    expect(jwk_rc("{\"kty\":\"EC\",\"crv\":\"P-256\",\"x\":\"f83OJ3D2xF1Bg8vub9tLe1gHMzV76e8Tus9uPHvRV\","
                  "\"y\":\"x_FEzRu9m36HLN_tue659LNpXW6pCyStikYjKIWI5a0\"}"),
           MD_JOSE_BAD_KEY);
    /* A3 private key whose d does not match its x, y (d of another key). */
    expect(jwk_rc("{\"kty\":\"EC\",\"crv\":\"P-256\",\"x\":\"f83OJ3D2xF1Bg8vub9tLe1gHMzV76e8Tus9uPHvRVEU\","
                  "\"y\":\"x_FEzRu9m36HLN_tue659LNpXW6pCyStikYjKIWI5a0\","
                  "\"d\":\"nWGxne_9WmC6hEr0kuwsxERJxWl7MmkZcDusAxyuf2A\"}"),
           MD_JOSE_BAD_KEY);
    /* Ed25519 d that does not match x. */
    expect(
        jwk_rc("{\"kty\":\"OKP\",\"crv\":\"Ed25519\",\"d\":\"jpsQnnGQmL-YBIffH1136cspYG6-0iY7X1fCE9-E9LI\","
               "\"x\":\"11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo\"}"),
        MD_JOSE_BAD_KEY);
    /* Symmetric keys are never accepted. */
    expect(jwk_rc("{\"kty\":\"oct\",\"k\":\"GawgguFyGrWKav7AX4VKUg\"}"), MD_JOSE_UNSUPPORTED_KEY);
    expect(
        jwk_rc("{\"kty\":\"OKP\",\"crv\":\"X25519\",\"x\":\"hSDwCYkwp1R0i33ctD73Wg2_Og0mOBr066SpjqqbTmo\"}"),
        MD_JOSE_UNSUPPORTED_KEY);
    expect(jwk_rc("{\"kty\":\"EC\",\"crv\":\"P-521\",\"x\":\"AA\",\"y\":\"AA\"}"), MD_JOSE_UNSUPPORTED_KEY);
    /* An encryption key is not a signature key. */
    expect(
        jwk_rc("{\"kty\":\"OKP\",\"crv\":\"Ed25519\",\"x\":\"11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo\","
               "\"use\":\"enc\"}"),
        MD_JOSE_UNSUPPORTED_KEY);
    expect(
        jwk_rc("{\"kty\":\"OKP\",\"crv\":\"Ed25519\",\"x\":\"11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo\","
               "\"key_ops\":[\"encrypt\"]}"),
        MD_JOSE_UNSUPPORTED_KEY);
    /* alg of another key type, and algs we never use. */
    expect(
        jwk_rc("{\"kty\":\"OKP\",\"crv\":\"Ed25519\",\"x\":\"11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo\","
               "\"alg\":\"ES256\"}"),
        MD_JOSE_KEY_MISMATCH);
    expect(
        jwk_rc("{\"kty\":\"OKP\",\"crv\":\"Ed25519\",\"x\":\"11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo\","
               "\"alg\":\"HS256\"}"),
        MD_JOSE_UNSUPPORTED_KEY);
    /* RSA: a modulus with a leading zero byte, a tiny modulus. */
    expect(jwk_rc("{\"kty\":\"RSA\",\"n\":\"AKNJ8w\",\"e\":\"AQAB\"}"), MD_JOSE_BAD_KEY);
    expect(jwk_rc("{\"kty\":\"RSA\",\"n\":\"o0nz\",\"e\":\"AQAB\"}"), MD_JOSE_UNSUPPORTED_KEY);
    /* Malformed text and members. */
    expect(jwk_rc("{\"kty\":\"EC\",\"kty\":\"RSA\"}"), MD_JOSE_DUPLICATE_KEY);
    expect(jwk_rc("[]"), MD_JOSE_MALFORMED);
    expect(jwk_rc("{\"crv\":\"Ed25519\"}"), MD_JOSE_BAD_KEY);
    expect(
        jwk_rc(
            "{\"kty\":\"OKP\",\"crv\":\"Ed25519\",\"x\":\"11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo=\"}"),
        MD_JOSE_BAD_KEY);
    expect(
        jwk_rc("{\"kty\":\"OKP\",\"crv\":\"Ed25519\",\"x\":\"11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo\","
               "\"kid\":7}"),
        MD_JOSE_BAD_KEY);
}

static void test_rsa_even_exponent_refused(void **state)
{
    md_jwk_t *k = jwk(TP_JWK);
    json_t *j = NULL;
    assert_int_equal(md_jwk_to_json(k, &j), MD_OK);
    json_object_set_new(j, "e", json_string("AQAC")); /* 65538 */
    md_jwk_t *k2 = NULL;
    expect(md_jwk_from_json(j, &k2, NULL), MD_JOSE_BAD_KEY);
    json_object_set_new(j, "e", json_string("AQ")); /* 1 */
    expect(md_jwk_from_json(j, &k2, NULL), MD_JOSE_BAD_KEY);
    json_object_set_new(j, "e", json_string("AAEAAQ")); /* leading zero */
    expect(md_jwk_from_json(j, &k2, NULL), MD_JOSE_BAD_KEY);
    assert_null(k2);
    json_decref(j);
    md_jwk_free(k);
}

static void test_jwk_publication_has_no_private_members(void **state)
{
    md_jwk_t *k = jwk(ED_JWK);
    assert_int_equal(md_jwk_set_kid(k, "ed-1"), MD_OK);
    json_t *j = NULL;
    assert_int_equal(md_jwk_to_json(k, &j), MD_OK);
    char *text = json_dumps(j, JSON_COMPACT | JSON_SORT_KEYS);
    assert_string_equal(text, "{\"alg\":\"EdDSA\",\"crv\":\"Ed25519\",\"kid\":\"ed-1\",\"kty\":\"OKP\","
                              "\"use\":\"sig\",\"x\":\"11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo\"}");
    free(text);
    json_decref(j);

    md_jwk_t *a3 = jwk(A3_JWK);
    assert_int_equal(md_jwk_to_json(a3, &j), MD_OK);
    text = json_dumps(j, JSON_COMPACT | JSON_SORT_KEYS);
    assert_string_equal(text, "{\"alg\":\"ES256\",\"crv\":\"P-256\",\"kty\":\"EC\",\"use\":\"sig\","
                              "\"x\":\"f83OJ3D2xF1Bg8vub9tLe1gHMzV76e8Tus9uPHvRVEU\","
                              "\"y\":\"x_FEzRu9m36HLN_tue659LNpXW6pCyStikYjKIWI5a0\"}");
    free(text);
    json_decref(j);
    md_jwk_free(a3);
    md_jwk_free(k);
}

static void test_jwk_allow_list(void **state)
{
    md_jwk_t *rsa = jwk(A2_JWK);
    assert_int_equal(md_jwk_algs(rsa), MD_JOSE_RS256 | MD_JOSE_PS256);
    expect(md_jwk_set_algs(rsa, MD_JOSE_ES256), MD_JOSE_KEY_MISMATCH);
    expect(md_jwk_set_algs(rsa, 0), MD_EINVAL);
    expect(md_jwk_set_algs(rsa, 1u << 7), MD_EINVAL);
    assert_int_equal(md_jwk_set_algs(rsa, MD_JOSE_PS256), MD_OK);
    const md_jwk_t *keys[] = {rsa};
    md_jws_t jws;
    expect(md_jws_verify(keys, 1, md_str_c(A2_JWS), 0, 0, &jws, NULL), MD_JOSE_ALG_NOT_ALLOWED);
    assert_int_equal(md_jwk_set_algs(rsa, MD_JOSE_RS256), MD_OK);
    expect(md_jws_verify(keys, 1, md_str_c(A2_JWS), 0, 0, &jws, NULL), MD_OK);
    md_jws_free(&jws);
    md_jwk_free(rsa);

    md_jwk_t *p384 = gen(MD_JOSE_ES384);
    expect(md_jwk_set_algs(p384, MD_JOSE_ES256), MD_JOSE_KEY_MISMATCH); /* a curve fixes its alg */
    md_jwk_free(p384);
}

static void test_jwk_dup_and_kid(void **state)
{
    md_jwk_t *k = jwk(A3_JWK), *d = NULL;
    assert_null(md_jwk_kid(k));
    expect(md_jwk_set_kid(k, ""), MD_EINVAL);
    assert_int_equal(md_jwk_set_kid(k, "a3"), MD_OK);
    assert_int_equal(md_jwk_dup(k, &d), MD_OK);
    md_jwk_free(k); /* the copy outlives the original */
    assert_string_equal(md_jwk_kid(d), "a3");
    const md_jwk_t *keys[] = {d};
    md_jws_t jws;
    char *low = es256_other_s(A3_JWS); /* the RFC's signature is high-S */
    assert_int_equal(md_jws_verify(keys, 1, md_str_c(low), 0, 0, &jws, NULL), MD_OK);
    md_jws_free(&jws);
    free(low);
    assert_int_equal(md_jwk_set_kid(d, NULL), MD_OK);
    assert_null(md_jwk_kid(d));
    md_jwk_free(d);
}

static void test_jwks_parse(void **state)
{
    /* RFC 7517 A.1 holds an EC "enc" key and an RSA "sig" key. */
    static const char set[] =
        "{\"keys\":[{\"kty\":\"EC\",\"crv\":\"P-256\",\"x\":\"MKBCTNIcKUSDii11ySs3526iDZ8AiTo7Tu6KPAqv7D4\","
        "\"y\":\"4Etl6SRW2YiLUrN5vfvVHuhp7x8PxltmWWlbbM4IFyM\",\"use\":\"enc\",\"kid\":\"1\"},";
    char text[4096];
    const char *rsa = strchr(TP_JWK, '{');
    snprintf(text, sizeof(text), "%s%s]}", set, rsa);
    md_jwks_t jwks = {0};
    md_err_t err = {0};
    expect(md_jwks_parse(md_str_c(text), &jwks, NULL, &err), MD_JOSE_UNSUPPORTED_KEY);
    assert_null(jwks.keys);
    size_t skipped = 0;
    assert_int_equal(md_jwks_parse(md_str_c(text), &jwks, &skipped, NULL), MD_OK);
    assert_int_equal(skipped, 1);
    assert_int_equal(jwks.n, 1);
    assert_string_equal(md_jwk_kid(jwks.keys[0]), "2011-04-29");
    md_jwks_free(&jwks);

    /* Two keys under one kid: refused either way. */
    snprintf(text, sizeof(text), "{\"keys\":[%s,%s]}", TP_JWK, TP_JWK);
    expect(md_jwks_parse(md_str_c(text), &jwks, &skipped, NULL), MD_JOSE_BAD_KEY);
    expect(md_jwks_parse(md_str_c(text), &jwks, NULL, NULL), MD_JOSE_BAD_KEY);
    assert_int_equal(skipped, 0);

    /* Skipping is for keys we do not implement; a malformed key fails the set. */
    snprintf(text, sizeof(text),
             "%s%s,{\"kty\":\"OKP\",\"crv\":\"Ed25519\",\"x\":\"11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaP\"}]}",
             set, rsa);
    expect(md_jwks_parse(md_str_c(text), &jwks, &skipped, NULL), MD_JOSE_BAD_KEY);
    assert_null(jwks.keys);

    expect(md_jwks_parse(MD_STR("{\"keys\":{}}"), &jwks, NULL, NULL), MD_JOSE_MALFORMED);
    expect(md_jwks_parse(MD_STR("{\"keys\":[],\"keys\":[]}"), &jwks, NULL, NULL), MD_JOSE_DUPLICATE_KEY);
    assert_int_equal(md_jwks_parse(MD_STR("{\"keys\":[]}"), &jwks, NULL, NULL), MD_OK);
    assert_int_equal(jwks.n, 0);
    md_jwks_free(&jwks);

    md_buf_t many;
    md_buf_init(&many);
    md_buf_adds(&many, "{\"keys\":[");
    for (int i = 0; i <= MD_JWKS_MAX_KEYS; i++)
        md_buf_printf(&many, "%s{\"kty\":\"oct\"}", i ? "," : "");
    md_buf_adds(&many, "]}");
    expect(md_jwks_parse((md_str_t){many.p, many.n}, &jwks, &skipped, NULL), MD_JOSE_TOO_LARGE);
    md_buf_free(&many);
}

/* ------------------------------------------------------------ claims at their boundaries */

static void test_exp_boundary(void **state)
{
    md_jwk_t *k = gen(MD_JOSE_ES256);
    md_jwt_verify_opts_t o = {.now = NOW, .skew = 60};
    char buf[128];
    snprintf(buf, sizeof(buf), "{\"exp\": %lld}", (long long)(NOW - 59));
    char *tok = sign_claims(k, buf);
    expect(verify_rc(k, tok, &o), MD_OK); /* within skew */
    free(tok);
    snprintf(buf, sizeof(buf), "{\"exp\": %lld}", (long long)(NOW - 60));
    tok = sign_claims(k, buf);
    expect(verify_rc(k, tok, &o), MD_JOSE_EXPIRED); /* now >= exp + skew */
    o.skew = 0;
    snprintf(buf, sizeof(buf), "{\"exp\": %lld}", (long long)(NOW + 1));
    free(tok);
    tok = sign_claims(k, buf);
    expect(verify_rc(k, tok, &o), MD_OK);
    o.now = NOW + 1;
    expect(verify_rc(k, tok, &o), MD_JOSE_EXPIRED); /* exp is the first instant it is invalid */
    free(tok);
    /* A fractional exp rounds down: valid until the whole second before. */
    o.now = NOW;
    tok = sign_claims(k, "{\"exp\": 1700000000.9}");
    expect(verify_rc(k, tok, &o), MD_JOSE_EXPIRED);
    free(tok);
    md_jwk_free(k);
}

static void test_nbf_iat_boundary(void **state)
{
    md_jwk_t *k = gen(MD_JOSE_ES256);
    md_jwt_verify_opts_t o = {.now = NOW, .skew = 60};
    char buf[128];
    snprintf(buf, sizeof(buf), "{\"exp\": %lld, \"nbf\": %lld}", (long long)(NOW + 300),
             (long long)(NOW + 60));
    char *tok = sign_claims(k, buf);
    expect(verify_rc(k, tok, &o), MD_OK);
    free(tok);
    snprintf(buf, sizeof(buf), "{\"exp\": %lld, \"nbf\": %lld}", (long long)(NOW + 300),
             (long long)(NOW + 61));
    tok = sign_claims(k, buf);
    expect(verify_rc(k, tok, &o), MD_JOSE_NOT_YET_VALID);
    free(tok);
    snprintf(buf, sizeof(buf), "{\"exp\": %lld, \"iat\": %lld}", (long long)(NOW + 300),
             (long long)(NOW + 60));
    tok = sign_claims(k, buf);
    expect(verify_rc(k, tok, &o), MD_OK);
    free(tok);
    snprintf(buf, sizeof(buf), "{\"exp\": %lld, \"iat\": %lld.5}", (long long)(NOW + 300),
             (long long)(NOW + 60));
    tok = sign_claims(k, buf);
    expect(verify_rc(k, tok, &o), MD_JOSE_ISSUED_IN_FUTURE); /* fractions round up for iat */
    free(tok);
    md_jwk_free(k);
}

static void test_required_and_typed_claims(void **state)
{
    md_jwk_t *k = gen(MD_JOSE_EDDSA);
    md_jwt_verify_opts_t o = {.now = NOW, .skew = 60};
    char *tok = sign_claims(k, "{\"sub\": \"a\"}");
    expect(verify_rc(k, tok, &o), MD_JOSE_MISSING_CLAIM);
    o.exp_optional = true;
    expect(verify_rc(k, tok, &o), MD_OK);
    o.require_iat = true;
    expect(verify_rc(k, tok, &o), MD_JOSE_MISSING_CLAIM);
    free(tok);
    o = (md_jwt_verify_opts_t){.now = NOW, .skew = 60};
    static const char *bad[] = {
        "{\"exp\": \"1700000300\"}",
        "{\"exp\": true}",
        "{\"exp\": -1}",
        "{\"exp\": 253402300800}",
        "{\"exp\": 1e300}",
        "{\"exp\": 1700000300, \"nbf\": null}",
        "{\"exp\": 1700000300, \"iss\": 1}",
        "{\"exp\": 1700000300, \"sub\": {}}",
        "{\"exp\": 1700000300, \"jti\": 5}",
        "{\"exp\": 1700000300, \"aud\": 5}",
        "{\"exp\": 1700000300, \"aud\": [\"gateway\", 5]}",
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        tok = sign_claims(k, bad[i]);
        int rc = verify_rc(k, tok, &o);
        if (rc != MD_JOSE_BAD_CLAIM) fail_msg("%s: got %s", bad[i], md_jose_err_name(rc));
        free(tok);
    }
    md_jwk_free(k);
}

static void test_audience_forms(void **state)
{
    md_jwk_t *k = gen(MD_JOSE_ES256);
    md_jwt_verify_opts_t o = {.now = NOW, .skew = 60, .aud = "gateway"};
    char *tok = sign_claims(k, "{\"exp\": 1700000300, \"aud\": [\"tool\", \"gateway\"]}");
    expect(verify_rc(k, tok, &o), MD_OK);
    o.aud = "gate";
    expect(verify_rc(k, tok, &o), MD_JOSE_BAD_AUDIENCE);
    o.aud = NULL; /* RFC 7519 §4.1.3: an aud we are not in means refusal */
    expect(verify_rc(k, tok, &o), MD_JOSE_BAD_AUDIENCE);
    free(tok);
    tok = sign_claims(k, "{\"exp\": 1700000300, \"aud\": []}");
    o.aud = "gateway";
    expect(verify_rc(k, tok, &o), MD_JOSE_BAD_AUDIENCE);
    free(tok);
    tok = sign_claims(k, "{\"exp\": 1700000300}");
    expect(verify_rc(k, tok, &o), MD_JOSE_BAD_AUDIENCE);
    o.aud = NULL;
    expect(verify_rc(k, tok, &o), MD_OK);
    free(tok);
    md_jwk_free(k);
}

static void test_typ_media_type_forms(void **state)
{
    md_jwk_t *k = gen(MD_JOSE_ES256);
    json_t *c = claims("{\"exp\": 1700000300}");
    md_jwt_verify_opts_t o = {.now = NOW, .typ = "at+jwt"};
    static const struct {
        const char *typ;
        int want;
    } cases[] = {
        {"at+jwt", MD_OK},         {"application/at+jwt", MD_OK},         {"AT+JWT", MD_OK},
        {"JWT", MD_JOSE_BAD_TYPE}, {"application/jwt", MD_JOSE_BAD_TYPE}, {"at+jwt ", MD_JOSE_BAD_TYPE},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        md_buf_t b;
        md_buf_init(&b);
        assert_int_equal(md_jwt_sign(k, 0, cases[i].typ, c, &b, NULL), MD_OK);
        int rc = verify_rc(k, b.p, &o);
        if (rc != cases[i].want) fail_msg("typ \"%s\": got %s", cases[i].typ, md_jose_err_name(rc));
        md_buf_free(&b);
    }
    json_decref(c);
    md_jwk_free(k);
}

static void test_verify_option_checks(void **state)
{
    md_jwk_t *k = gen(MD_JOSE_ES256);
    char *tok = sign_claims(k, "{\"exp\": 1700000300}");
    md_jwt_verify_opts_t o = {.now = 0};
    expect(verify_rc(k, tok, &o), MD_EINVAL);
    o = (md_jwt_verify_opts_t){.now = NOW, .skew = 61};
    expect(verify_rc(k, tok, &o), MD_EINVAL);
    o = (md_jwt_verify_opts_t){.now = NOW, .skew = -1};
    expect(verify_rc(k, tok, &o), MD_EINVAL);
    o = (md_jwt_verify_opts_t){.now = NOW, .max_len = MD_JWT_MAX_LEN_LIMIT + 1};
    expect(verify_rc(k, tok, &o), MD_EINVAL);
    o = (md_jwt_verify_opts_t){.now = NOW, .algs = 1u << 9};
    expect(verify_rc(k, tok, &o), MD_EINVAL);
    const md_jwk_t *keys[] = {k};
    md_jwt_t jwt;
    expect(md_jwt_verify(keys, 1, md_str_c(tok), NULL, &jwt, NULL), MD_EINVAL);
    free(tok);
    md_jwk_free(k);
}

/* ------------------------------------------------------------ OpenSSL's error queue */

static void test_openssl_error_queue_left_as_found(void **state)
{
    /* Refusals that go through OpenSSL leave nothing on the thread's queue ... */
    ERR_clear_error();
    expect(jwk_rc("{\"kty\":\"EC\",\"crv\":\"P-256\",\"x\":\"f83OJ3D2xF1Bg8vub9tLe1gHMzV76e8Tus9uPHvRVEU\","
                  "\"y\":\"x_FEzRu9m36HLN_tue659LNpXW6pCyStikYjKIWI5a1\"}"),
           MD_JOSE_BAD_KEY);
    md_jwk_t *k = NULL;
    expect(
        md_jwk_from_pem(MD_STR("-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n"), &k, NULL),
        MD_JOSE_BAD_KEY);
    unsigned char kek[MD_SEAL_KEY_LEN] = {0}, *sealed = NULL, *pt = NULL;
    size_t n = 0, m = 0;
    assert_int_equal(md_jose_seal(kek, MD_STR("a"), "x", 1, &sealed, &n), MD_OK);
    expect(md_jose_unseal(kek, MD_STR("b"), sealed, n, &pt, &m), MD_JOSE_SEAL_BROKEN);
    md_jwk_t *ec = jwk(A3_JWK);
    const md_jwk_t *keys[] = {ec};
    md_jws_t jws;
    char *bad = es256_other_s(A3_JWS); /* low-S, so that the tampered one reaches OpenSSL */
    size_t blen = strlen(bad);
    bad[blen - 3] = bad[blen - 3] == 'A' ? 'B' : 'A';
    expect(md_jws_verify(keys, 1, md_str_c(bad), 0, 0, &jws, NULL), MD_JOSE_BAD_SIGNATURE);
    assert_int_equal(ERR_peek_error(), 0);
    /* ... and keep what the caller already had there. */
    ERR_raise(ERR_LIB_USER, 42);
    unsigned long mine = ERR_peek_error();
    assert_int_not_equal(mine, 0);
    expect(md_jose_unseal(kek, MD_STR("b"), sealed, n, &pt, &m), MD_JOSE_SEAL_BROKEN);
    expect(md_jws_verify(keys, 1, md_str_c(bad), 0, 0, &jws, NULL), MD_JOSE_BAD_SIGNATURE);
    assert_int_equal(ERR_get_error(), mine);
    assert_int_equal(ERR_get_error(), 0);
    md_jwk_free(ec);
    free(bad);
    free(sealed);
}

/* ------------------------------------------------------------ sealing */

static void test_seal_round_trip(void **state)
{
    unsigned char kek[MD_SEAL_KEY_LEN];
    for (int i = 0; i < MD_SEAL_KEY_LEN; i++)
        kek[i] = (unsigned char)i;
    unsigned char *s1 = NULL, *s2 = NULL, *pt = NULL;
    size_t n1 = 0, n2 = 0, pn = 0;
    assert_int_equal(md_jose_seal(kek, MD_STR("kid-1"), "secret", 6, &s1, &n1), MD_OK);
    assert_int_equal(md_jose_seal(kek, MD_STR("kid-1"), "secret", 6, &s2, &n2), MD_OK);
    assert_int_equal(n1, 6 + MD_SEAL_OVERHEAD);
    assert_memory_not_equal(s1, s2, MD_SEAL_NONCE_LEN); /* a fresh nonce each time */
    assert_int_equal(md_jose_unseal(kek, MD_STR("kid-1"), s1, n1, &pt, &pn), MD_OK);
    assert_int_equal(pn, 6);
    assert_string_equal((char *)pt, "secret");
    md_jose_secret_free(pt, pn);
    expect(md_jose_unseal(kek, MD_STR("kid-2"), s1, n1, &pt, &pn), MD_JOSE_SEAL_BROKEN);
    assert_null(pt);
    expect(md_jose_unseal(kek, MD_STR("kid-1"), s1, MD_SEAL_OVERHEAD - 1, &pt, &pn), MD_JOSE_SEAL_BROKEN);
    for (size_t bit = 0; bit < n1 * 8; bit++) { /* nonce, ciphertext and tag are all covered */
        s1[bit / 8] ^= (unsigned char)(1u << (bit % 8));
        expect(md_jose_unseal(kek, MD_STR("kid-1"), s1, n1, &pt, &pn), MD_JOSE_SEAL_BROKEN);
        s1[bit / 8] ^= (unsigned char)(1u << (bit % 8));
    }
    kek[0] ^= 1;
    expect(md_jose_unseal(kek, MD_STR("kid-1"), s1, n1, &pt, &pn), MD_JOSE_SEAL_BROKEN);
    free(s1);
    free(s2);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_rfc7515_a3_es256_verify),
        cmocka_unit_test(test_rfc7515_a2_rs256_verify),
        cmocka_unit_test(test_rfc8037_ed25519_exact_signature),
        cmocka_unit_test(test_rfc7638_thumbprint),
        cmocka_unit_test(test_b64url_rfc4648_vectors),
        cmocka_unit_test(test_b64url_strict_decode),
        cmocka_unit_test(test_err_names_distinct),
        cmocka_unit_test(test_alg_names),
        cmocka_unit_test(test_round_trip_es256),
        cmocka_unit_test(test_round_trip_es384),
        cmocka_unit_test(test_round_trip_eddsa),
        cmocka_unit_test(test_round_trip_rs256),
        cmocka_unit_test(test_round_trip_ps256),
        cmocka_unit_test(test_es256_is_the_default),
        cmocka_unit_test(test_es256_signature_is_raw_r_s),
        cmocka_unit_test(test_jws_sign_rejects_alg_in_extra_header),
        cmocka_unit_test(test_generated_key_kid_is_thumbprint),
        cmocka_unit_test(test_pem_round_trip),
        cmocka_unit_test(test_pem_refusals),
        cmocka_unit_test(test_jwk_refusals),
        cmocka_unit_test(test_rsa_even_exponent_refused),
        cmocka_unit_test(test_jwk_publication_has_no_private_members),
        cmocka_unit_test(test_jwk_allow_list),
        cmocka_unit_test(test_jwk_dup_and_kid),
        cmocka_unit_test(test_jwks_parse),
        cmocka_unit_test(test_exp_boundary),
        cmocka_unit_test(test_nbf_iat_boundary),
        cmocka_unit_test(test_required_and_typed_claims),
        cmocka_unit_test(test_audience_forms),
        cmocka_unit_test(test_typ_media_type_forms),
        cmocka_unit_test(test_verify_option_checks),
        cmocka_unit_test(test_openssl_error_queue_left_as_found),
        cmocka_unit_test(test_seal_round_trip),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
