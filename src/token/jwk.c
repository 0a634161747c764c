/*
 * jwk.c: keys — JWK and JWKS parsing and publication, RFC 7638 thumbprints,
 * key generation, PEM import and export of private keys.
 *
 * Invariants: a md_jwk_t always wraps a key that passed OpenSSL's public
 * check (and pairwise check when private) and is of one of the four
 * supported types; an Ed25519 public key is canonically encoded and not of
 * small order; its allow-list is a non-empty subset of what its type
 * supports.  Decoded private scalars are wiped before their buffers go.
 */
#include "token/token_int.h"

#include <stdio.h>
#include <stdlib.h>

#include <openssl/bio.h>
#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/param_build.h>
#include <openssl/pem.h>

#define KID_MAX 256
#define PEM_MAX (64u * 1024u)
#define RSA_MIN_BITS 2048
#define RSA_MAX_BITS 8192

/* ---------------------------------------------------------------- types and algs */

unsigned jwk_type_algs(md_jwk_type_t type)
{
    switch (type) {
    case MD_JWK_EC_P256: return MD_JOSE_ES256;
    case MD_JWK_EC_P384: return MD_JOSE_ES384;
    case MD_JWK_ED25519: return MD_JOSE_EDDSA;
    case MD_JWK_RSA: return MD_JOSE_RS256 | MD_JOSE_PS256;
    }
    return 0;
}

bool jwk_alg_fits(md_jwk_type_t type, md_jose_alg_t alg)
{
    return (jwk_type_algs(type) & (unsigned)alg) != 0;
}

bool jwk_alg_same_family(md_jwk_type_t type, md_jose_alg_t alg)
{
    switch (type) {
    case MD_JWK_EC_P256:
    case MD_JWK_EC_P384: return alg == MD_JOSE_ES256 || alg == MD_JOSE_ES384;
    case MD_JWK_ED25519: return alg == MD_JOSE_EDDSA;
    case MD_JWK_RSA: return alg == MD_JOSE_RS256 || alg == MD_JOSE_PS256;
    }
    return false;
}

static size_t ec_coord_len(md_jwk_type_t type)
{
    return type == MD_JWK_EC_P384 ? 48 : 32;
}

static const char *ec_group(md_jwk_type_t type)
{
    return type == MD_JWK_EC_P384 ? "secp384r1" : "prime256v1";
}

static const char *jwk_crv(md_jwk_type_t type)
{
    switch (type) {
    case MD_JWK_EC_P256: return "P-256";
    case MD_JWK_EC_P384: return "P-384";
    case MD_JWK_ED25519: return "Ed25519";
    case MD_JWK_RSA: return NULL;
    }
    return NULL;
}

/* ---------------------------------------------------------------- accessors */

md_jwk_type_t md_jwk_type(const md_jwk_t *key)
{
    return key->type;
}

bool md_jwk_has_private(const md_jwk_t *key)
{
    return key->priv;
}

const char *md_jwk_kid(const md_jwk_t *key)
{
    return key->kid;
}

unsigned md_jwk_algs(const md_jwk_t *key)
{
    return key->algs;
}

md_jose_alg_t md_jwk_default_alg(const md_jwk_t *key)
{
    return key->type == MD_JWK_RSA ? MD_JOSE_RS256 : (md_jose_alg_t)jwk_type_algs(key->type);
}

int md_jwk_set_kid(md_jwk_t *key, const char *kid)
{
    char *copy = NULL;
    if (kid != NULL) {
        size_t n = strlen(kid);
        if (n == 0 || n > KID_MAX) return MD_EINVAL;
        copy = strdup(kid);
        if (copy == NULL) return MD_ENOMEM;
    }
    free(key->kid);
    key->kid = copy;
    return MD_OK;
}

int md_jwk_set_algs(md_jwk_t *key, unsigned algs)
{
    if (algs == 0 || (algs & ~MD_JOSE_ALGS_ALL) != 0) return MD_EINVAL;
    if ((algs & ~jwk_type_algs(key->type)) != 0) return MD_JOSE_KEY_MISMATCH;
    key->algs = algs;
    return MD_OK;
}

void md_jwk_free(md_jwk_t *key)
{
    if (key == NULL) return;
    EVP_PKEY_free(key->pkey);
    free(key->kid);
    free(key);
}

int md_jwk_dup(const md_jwk_t *key, md_jwk_t **out)
{
    *out = NULL;
    md_jwk_t *k = calloc(1, sizeof(*k));
    if (k == NULL) return MD_ENOMEM;
    if (key->kid != NULL && (k->kid = strdup(key->kid)) == NULL) {
        free(k);
        return MD_ENOMEM;
    }
    if (EVP_PKEY_up_ref(key->pkey) != 1) {
        free(k->kid);
        free(k);
        return MD_JOSE_CRYPTO;
    }
    k->pkey = key->pkey;
    k->type = key->type;
    k->priv = key->priv;
    k->algs = key->algs;
    *out = k;
    return MD_OK;
}

/* ---------------------------------------------------------------- checks on OpenSSL keys */

/* The JOSE type of an OpenSSL key; MD_JOSE_UNSUPPORTED_KEY for anything else. */
static int pkey_type(EVP_PKEY *pkey, md_jwk_type_t *type)
{
    switch (EVP_PKEY_get_base_id(pkey)) {
    case EVP_PKEY_EC: {
        char group[64];
        size_t len = 0;
        if (EVP_PKEY_get_utf8_string_param(pkey, OSSL_PKEY_PARAM_GROUP_NAME, group, sizeof(group), &len) != 1)
            return MD_JOSE_UNSUPPORTED_KEY; /* explicit curve parameters, never accepted */
        if (strcmp(group, "prime256v1") == 0 || strcmp(group, "P-256") == 0) {
            *type = MD_JWK_EC_P256;
            return MD_OK;
        }
        if (strcmp(group, "secp384r1") == 0 || strcmp(group, "P-384") == 0) {
            *type = MD_JWK_EC_P384;
            return MD_OK;
        }
        return MD_JOSE_UNSUPPORTED_KEY;
    }
    case EVP_PKEY_ED25519: *type = MD_JWK_ED25519; return MD_OK;
    case EVP_PKEY_RSA: *type = MD_JWK_RSA; return MD_OK;
    default: return MD_JOSE_UNSUPPORTED_KEY;
    }
}

/* RSA limits: 2048..8192-bit odd modulus, odd exponent 3..2^32-1. */
static int rsa_check(EVP_PKEY *pkey, md_err_t *err)
{
    BIGNUM *n = NULL, *e = NULL;
    int rc = MD_JOSE_BAD_KEY;
    if (EVP_PKEY_get_bn_param(pkey, OSSL_PKEY_PARAM_RSA_N, &n) != 1 ||
        EVP_PKEY_get_bn_param(pkey, OSSL_PKEY_PARAM_RSA_E, &e) != 1) {
        md_err_set(err, rc, "RSA key without modulus or exponent");
        goto out;
    }
    int bits = BN_num_bits(n);
    if (bits < RSA_MIN_BITS || bits > RSA_MAX_BITS) {
        rc = md_err_set(err, MD_JOSE_UNSUPPORTED_KEY, "RSA modulus of %d bits (2048..8192 accepted)", bits);
        goto out;
    }
    if (!BN_is_odd(n)) {
        md_err_set(err, rc, "RSA modulus is even");
        goto out;
    }
    if (!BN_is_odd(e) || BN_num_bits(e) > 32 || BN_cmp(e, BN_value_one()) <= 0) {
        md_err_set(err, rc, "RSA exponent must be odd and in 3..2^32-1");
        goto out;
    }
    rc = MD_OK;
out:
    BN_free(n);
    BN_free(e);
    return rc;
}

/*
 * The y coordinates (little-endian, sign bit clear) of the eight points of
 * small order on edwards25519: with either sign bit they encode all eight
 * (x = 0 for y = 1 and y = -1, where a set sign bit is itself invalid).  A
 * public key among them verifies forgeries: with A of small order, R = the
 * identity and S = 0 satisfy the cofactorless equation [S]B = R + [k]A for
 * many messages (for the identity, every message), and OpenSSL does not
 * check.  The list is libsodium's (ge25519_has_small_order), less its two
 * non-canonical entries, which ed25519_canonical() refuses.
 */
static const unsigned char ed25519_small_order_y[5][32] = {
    /* 0: the two points of order 4 */
    {0},
    /* 1: the identity (order 1) */
    {1},
    /* p - 1: the point of order 2 */
    {0xec, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
     0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x7f},
    /* the two y of the four points of order 8 */
    {0x26, 0xe8, 0x95, 0x8f, 0xc2, 0xb2, 0x27, 0xb0, 0x45, 0xc3, 0xf4, 0x89, 0xf2, 0xef, 0x98, 0xf0,
     0xd5, 0xdf, 0xac, 0x05, 0xd3, 0xc6, 0x33, 0x39, 0xb1, 0x38, 0x02, 0x88, 0x6d, 0x53, 0xfc, 0x05},
    {0xc7, 0x17, 0x6a, 0x70, 0x3d, 0x4d, 0xd8, 0x4f, 0xba, 0x3c, 0x0b, 0x76, 0x0d, 0x10, 0x67, 0x0f,
     0x2a, 0x20, 0x53, 0xfa, 0x2c, 0x39, 0xcc, 0xc6, 0x4e, 0xc7, 0xfd, 0x77, 0x92, 0xac, 0x03, 0x7a},
};

/* y < p = 2^255 - 19, y being the encoding with its sign bit (bit 255) cleared. */
static bool ed25519_canonical(const unsigned char a[32])
{
    if ((a[31] & 0x7f) != 0x7f) return true;
    for (int i = 30; i > 0; i--)
        if (a[i] != 0xff) return true;
    return a[0] < 0xed;
}

/* Refuse an Ed25519 public key that is not canonically encoded or of small order. */
static int ed25519_check(EVP_PKEY *pkey, md_err_t *err)
{
    unsigned char a[32];
    size_t len = sizeof(a);
    if (EVP_PKEY_get_raw_public_key(pkey, a, &len) != 1 || len != sizeof(a))
        return md_err_set(err, MD_JOSE_BAD_KEY, "Ed25519 key without a public key");
    if (!ed25519_canonical(a))
        return md_err_set(err, MD_JOSE_BAD_KEY, "Ed25519 public key is not canonically encoded (y >= p)");
    a[31] &= 0x7f; /* the sign of x: both signs of each point are refused */
    for (size_t i = 0; i < sizeof(ed25519_small_order_y) / sizeof(ed25519_small_order_y[0]); i++)
        if (memcmp(a, ed25519_small_order_y[i], sizeof(a)) == 0)
            return md_err_set(err, MD_JOSE_BAD_KEY, "Ed25519 public key is a point of small order");
    return MD_OK;
}

/* OpenSSL's own validation: the point is on the curve and of the right order;
 * a private key matches its public half.  OpenSSL checks none of this for
 * Ed25519 public keys, so ed25519_check() does the part that matters. */
static int pkey_validate(EVP_PKEY *pkey, md_jwk_type_t type, bool priv, md_err_t *err)
{
    if (type == MD_JWK_RSA) {
        int rc = rsa_check(pkey, err);
        if (rc != MD_OK) return rc;
    }
    if (type == MD_JWK_ED25519) {
        int rc = ed25519_check(pkey, err);
        if (rc != MD_OK) return rc;
    }
    EVP_PKEY_CTX *ctx = EVP_PKEY_CTX_new_from_pkey(NULL, pkey, NULL);
    if (ctx == NULL) return md_err_set(err, MD_ENOMEM, "out of memory");
    int ok = EVP_PKEY_public_check(ctx) == 1;
    if (ok && priv) ok = EVP_PKEY_pairwise_check(ctx) == 1;
    EVP_PKEY_CTX_free(ctx);
    if (!ok) return md_err_set(err, MD_JOSE_BAD_KEY, "key fails validation (%s)", priv ? "pair" : "public");
    return MD_OK;
}

int jwk_wrap(EVP_PKEY *pkey, bool priv, md_jwk_t **out, md_err_t *err)
{
    *out = NULL;
    md_jwk_type_t type;
    int rc = pkey_type(pkey, &type);
    if (rc != MD_OK) return md_err_set(err, rc, "unsupported key type");
    rc = pkey_validate(pkey, type, priv, err);
    if (rc != MD_OK) return rc;
    md_jwk_t *k = calloc(1, sizeof(*k));
    if (k == NULL) return md_err_set(err, MD_ENOMEM, "out of memory");
    k->type = type;
    k->pkey = pkey;
    k->priv = priv;
    k->algs = jwk_type_algs(type);
    *out = k;
    return MD_OK;
}

/* ---------------------------------------------------------------- public members */

/* a = x (EC, OKP) or n (RSA), b = y (EC) or e (RSA), base64url. */
static int public_members(const md_jwk_t *key, md_buf_t *a, md_buf_t *b)
{
    int rc = MD_JOSE_CRYPTO;
    BIGNUM *x = NULL, *y = NULL;
    unsigned char buf[RSA_MAX_BITS / 8];
    if (key->type == MD_JWK_ED25519) {
        size_t len = 32;
        if (EVP_PKEY_get_raw_public_key(key->pkey, buf, &len) != 1 || len != 32) goto out;
        md_b64url_encode(a, buf, len);
    } else if (key->type == MD_JWK_RSA) {
        if (EVP_PKEY_get_bn_param(key->pkey, OSSL_PKEY_PARAM_RSA_N, &x) != 1) goto out;
        if (EVP_PKEY_get_bn_param(key->pkey, OSSL_PKEY_PARAM_RSA_E, &y) != 1) goto out;
        int n = BN_bn2bin(x, buf);
        md_b64url_encode(a, buf, (size_t)n);
        n = BN_bn2bin(y, buf);
        md_b64url_encode(b, buf, (size_t)n);
    } else {
        size_t cs = ec_coord_len(key->type);
        if (EVP_PKEY_get_bn_param(key->pkey, OSSL_PKEY_PARAM_EC_PUB_X, &x) != 1) goto out;
        if (EVP_PKEY_get_bn_param(key->pkey, OSSL_PKEY_PARAM_EC_PUB_Y, &y) != 1) goto out;
        if (BN_bn2binpad(x, buf, (int)cs) < 0) goto out;
        md_b64url_encode(a, buf, cs);
        if (BN_bn2binpad(y, buf, (int)cs) < 0) goto out;
        md_b64url_encode(b, buf, cs);
    }
    rc = (a->oom || b->oom) ? MD_ENOMEM : MD_OK;
out:
    BN_free(x);
    BN_free(y);
    return rc;
}

static int jwk_thumbprint(const md_jwk_t *key, char out[MD_JWK_THUMBPRINT_LEN + 1])
{
    md_buf_t a, b, canon, enc;
    md_buf_init(&a);
    md_buf_init(&b);
    md_buf_init(&canon);
    md_buf_init(&enc);
    int rc = public_members(key, &a, &b);
    if (rc != MD_OK) goto out;
    /* RFC 7638 §3.2: required members only, sorted, no whitespace.  Every
     * value is base64url or a fixed name, so nothing needs escaping. */
    if (key->type == MD_JWK_RSA)
        md_buf_printf(&canon, "{\"e\":\"%s\",\"kty\":\"RSA\",\"n\":\"%s\"}", b.p, a.p);
    else if (key->type == MD_JWK_ED25519)
        md_buf_printf(&canon, "{\"crv\":\"Ed25519\",\"kty\":\"OKP\",\"x\":\"%s\"}", a.p);
    else
        md_buf_printf(&canon, "{\"crv\":\"%s\",\"kty\":\"EC\",\"x\":\"%s\",\"y\":\"%s\"}", jwk_crv(key->type),
                      a.p, b.p);
    if (canon.oom) {
        rc = MD_ENOMEM;
        goto out;
    }
    unsigned char digest[32];
    unsigned int dlen = 0;
    if (EVP_Digest(canon.p, canon.n, digest, &dlen, EVP_sha256(), NULL) != 1 || dlen != 32) {
        rc = MD_JOSE_CRYPTO;
        goto out;
    }
    md_b64url_encode(&enc, digest, dlen);
    if (enc.oom) {
        rc = MD_ENOMEM;
        goto out;
    }
    memcpy(out, enc.p, MD_JWK_THUMBPRINT_LEN + 1);
    rc = MD_OK;
out:
    md_buf_free(&a);
    md_buf_free(&b);
    md_buf_free(&canon);
    md_buf_free(&enc);
    return rc;
}

int md_jwk_thumbprint(const md_jwk_t *key, char out[MD_JWK_THUMBPRINT_LEN + 1])
{
    JOSE_OPENSSL_SCOPE(jwk_thumbprint(key, out));
}

static int jwk_to_json(const md_jwk_t *key, json_t **out)
{
    *out = NULL;
    md_buf_t a, b;
    md_buf_init(&a);
    md_buf_init(&b);
    json_t *j = json_object();
    int rc = j ? public_members(key, &a, &b) : MD_ENOMEM;
    if (rc != MD_OK) goto out;
    int bad = 0;
    if (key->type == MD_JWK_RSA) {
        bad |= json_object_set_new(j, "kty", json_string("RSA"));
        bad |= json_object_set_new(j, "n", json_string(a.p));
        bad |= json_object_set_new(j, "e", json_string(b.p));
    } else if (key->type == MD_JWK_ED25519) {
        bad |= json_object_set_new(j, "kty", json_string("OKP"));
        bad |= json_object_set_new(j, "crv", json_string("Ed25519"));
        bad |= json_object_set_new(j, "x", json_string(a.p));
    } else {
        bad |= json_object_set_new(j, "kty", json_string("EC"));
        bad |= json_object_set_new(j, "crv", json_string(jwk_crv(key->type)));
        bad |= json_object_set_new(j, "x", json_string(a.p));
        bad |= json_object_set_new(j, "y", json_string(b.p));
    }
    if (key->kid != NULL) bad |= json_object_set_new(j, "kid", json_string(key->kid));
    bad |= json_object_set_new(j, "use", json_string("sig"));
    const char *alg = md_jose_alg_name((md_jose_alg_t)key->algs);
    if (alg != NULL) bad |= json_object_set_new(j, "alg", json_string(alg));
    if (bad) {
        rc = MD_ENOMEM;
        goto out;
    }
    *out = j;
    j = NULL;
out:
    json_decref(j);
    md_buf_free(&a);
    md_buf_free(&b);
    return rc;
}

int md_jwk_to_json(const md_jwk_t *key, json_t **out)
{
    JOSE_OPENSSL_SCOPE(jwk_to_json(key, out));
}

/* ---------------------------------------------------------------- JWK import */

static int build_ec(md_jwk_type_t type, const unsigned char *x, const unsigned char *y,
                    const unsigned char *d, EVP_PKEY **out)
{
    size_t cs = ec_coord_len(type);
    unsigned char point[1 + 2 * 48];
    point[0] = 0x04; /* uncompressed */
    memcpy(point + 1, x, cs);
    memcpy(point + 1 + cs, y, cs);
    int rc = MD_ENOMEM;
    OSSL_PARAM_BLD *bld = OSSL_PARAM_BLD_new();
    OSSL_PARAM *params = NULL;
    EVP_PKEY_CTX *ctx = NULL;
    BIGNUM *priv = NULL;
    if (bld == NULL) goto out;
    if (OSSL_PARAM_BLD_push_utf8_string(bld, OSSL_PKEY_PARAM_GROUP_NAME, ec_group(type), 0) != 1) goto out;
    if (OSSL_PARAM_BLD_push_octet_string(bld, OSSL_PKEY_PARAM_PUB_KEY, point, 1 + 2 * cs) != 1) goto out;
    if (d != NULL) {
        if ((priv = BN_secure_new()) == NULL || BN_bin2bn(d, (int)cs, priv) == NULL) goto out;
        if (OSSL_PARAM_BLD_push_BN(bld, OSSL_PKEY_PARAM_PRIV_KEY, priv) != 1) goto out;
    }
    if ((params = OSSL_PARAM_BLD_to_param(bld)) == NULL) goto out;
    if ((ctx = EVP_PKEY_CTX_new_from_name(NULL, "EC", NULL)) == NULL) goto out;
    rc = MD_JOSE_BAD_KEY; /* fromdata refuses points that are not on the curve */
    if (EVP_PKEY_fromdata_init(ctx) != 1) goto out;
    if (EVP_PKEY_fromdata(ctx, out, d ? EVP_PKEY_KEYPAIR : EVP_PKEY_PUBLIC_KEY, params) != 1) goto out;
    rc = MD_OK;
out:
    EVP_PKEY_CTX_free(ctx);
    OSSL_PARAM_free(params) /* wipes the secure block holding d */;
    OSSL_PARAM_BLD_free(bld);
    BN_clear_free(priv);
    return rc;
}

static int build_rsa(const unsigned char *n, size_t nlen, const unsigned char *e, size_t elen, EVP_PKEY **out)
{
    int rc = MD_ENOMEM;
    OSSL_PARAM_BLD *bld = OSSL_PARAM_BLD_new();
    OSSL_PARAM *params = NULL;
    EVP_PKEY_CTX *ctx = NULL;
    BIGNUM *bn = BN_bin2bn(n, (int)nlen, NULL), *be = BN_bin2bn(e, (int)elen, NULL);
    if (bld == NULL || bn == NULL || be == NULL) goto out;
    if (OSSL_PARAM_BLD_push_BN(bld, OSSL_PKEY_PARAM_RSA_N, bn) != 1) goto out;
    if (OSSL_PARAM_BLD_push_BN(bld, OSSL_PKEY_PARAM_RSA_E, be) != 1) goto out;
    if ((params = OSSL_PARAM_BLD_to_param(bld)) == NULL) goto out;
    if ((ctx = EVP_PKEY_CTX_new_from_name(NULL, "RSA", NULL)) == NULL) goto out;
    rc = MD_JOSE_BAD_KEY;
    if (EVP_PKEY_fromdata_init(ctx) != 1) goto out;
    if (EVP_PKEY_fromdata(ctx, out, EVP_PKEY_PUBLIC_KEY, params) != 1) goto out;
    rc = MD_OK;
out:
    EVP_PKEY_CTX_free(ctx);
    OSSL_PARAM_free(params);
    OSSL_PARAM_BLD_free(bld);
    BN_free(bn);
    BN_free(be);
    return rc;
}

/* A member that must be a string when present: NULL when absent; *bad set when not a string. */
static const char *opt_string(const json_t *obj, const char *name, bool *bad)
{
    const json_t *v = json_object_get(obj, name);
    if (v == NULL) return NULL;
    if (!json_is_string(v)) {
        *bad = true;
        return NULL;
    }
    return json_string_value(v);
}

/* A base64url member of any length (RSA n, e), strict and minimal (no leading zero byte). */
static int decode_uint(const char *s, unsigned char **buf, size_t *len)
{
    int rc = md_b64url_decode(md_str_c(s), buf, len);
    if (rc == MD_ENOMEM) return rc;
    if (rc != MD_OK || *len == 0 || (*buf)[0] == 0) {
        free(*buf);
        *buf = NULL;
        return MD_JOSE_BAD_KEY;
    }
    return MD_OK;
}

/* The JWK metadata: kid, use, key_ops, alg.  Applied after the key is built. */
static int jwk_metadata(const json_t *jwk, md_jwk_t *k, md_err_t *err)
{
    bool bad = false;
    const char *kid = opt_string(jwk, "kid", &bad);
    const char *use = opt_string(jwk, "use", &bad);
    const char *alg = opt_string(jwk, "alg", &bad);
    if (bad) return md_err_set(err, MD_JOSE_BAD_KEY, "JWK kid, use and alg must be strings");
    if (kid != NULL) {
        int rc = md_jwk_set_kid(k, kid);
        if (rc == MD_ENOMEM) return md_err_set(err, rc, "out of memory");
        if (rc != MD_OK) return md_err_set(err, MD_JOSE_BAD_KEY, "JWK kid must be 1..%d bytes", KID_MAX);
    }
    if (use != NULL && strcmp(use, "sig") != 0)
        return md_err_set(err, MD_JOSE_UNSUPPORTED_KEY, "JWK use is not \"sig\"");
    const json_t *ops = json_object_get(jwk, "key_ops");
    if (ops != NULL) {
        if (!json_is_array(ops)) return md_err_set(err, MD_JOSE_BAD_KEY, "JWK key_ops must be an array");
        bool sig = false;
        size_t i;
        const json_t *op;
        json_array_foreach(ops, i, op)
        {
            if (!json_is_string(op)) return md_err_set(err, MD_JOSE_BAD_KEY, "JWK key_ops must hold strings");
            if (strcmp(json_string_value(op), "verify") == 0 || strcmp(json_string_value(op), "sign") == 0)
                sig = true;
        }
        if (!sig)
            return md_err_set(err, MD_JOSE_UNSUPPORTED_KEY, "JWK key_ops allow neither sign nor verify");
    }
    if (alg != NULL) {
        md_jose_alg_t a;
        if (md_jose_alg_from_name(md_str_c(alg), &a) != MD_OK)
            return md_err_set(err, MD_JOSE_UNSUPPORTED_KEY, "JWK alg is not a supported signature algorithm");
        if (!jwk_alg_fits(k->type, a))
            return md_err_set(err, MD_JOSE_KEY_MISMATCH, "JWK alg %s does not fit its key type",
                              md_jose_alg_name(a));
        k->algs = (unsigned)a;
    }
    return MD_OK;
}

static int jwk_from_json(const json_t *jwk, md_jwk_t **out, md_err_t *err)
{
    *out = NULL;
    if (!json_is_object(jwk)) return md_err_set(err, MD_JOSE_MALFORMED, "JWK is not a JSON object");
    bool bad = false;
    const char *kty = opt_string(jwk, "kty", &bad);
    const char *crv = opt_string(jwk, "crv", &bad);
    const char *x = opt_string(jwk, "x", &bad);
    const char *y = opt_string(jwk, "y", &bad);
    const char *d = opt_string(jwk, "d", &bad);
    const char *n = opt_string(jwk, "n", &bad);
    const char *e = opt_string(jwk, "e", &bad);
    if (bad || kty == NULL)
        return md_err_set(err, MD_JOSE_BAD_KEY, "JWK members kty, crv, x, y, d, n, e must be strings");

    int rc = MD_OK;
    EVP_PKEY *pkey = NULL;
    md_jwk_t *k = NULL;
    unsigned char dbuf[48], xbuf[48], ybuf[48];
    unsigned char *nbuf = NULL, *ebuf = NULL;
    size_t nlen = 0, elen = 0;
    bool priv = false;

    if (strcmp(kty, "EC") == 0) {
        md_jwk_type_t type;
        if (crv != NULL && strcmp(crv, "P-256") == 0)
            type = MD_JWK_EC_P256;
        else if (crv != NULL && strcmp(crv, "P-384") == 0)
            type = MD_JWK_EC_P384;
        else {
            rc = md_err_set(err, MD_JOSE_UNSUPPORTED_KEY, "EC JWK curve is not P-256 or P-384");
            goto out;
        }
        size_t cs = ec_coord_len(type);
        if (x == NULL || y == NULL || jose_b64url_fixed(x, xbuf, cs) != MD_OK ||
            jose_b64url_fixed(y, ybuf, cs) != MD_OK) {
            rc = md_err_set(err, MD_JOSE_BAD_KEY, "EC JWK x and y must be %zu bytes of base64url", cs);
            goto out;
        }
        if (d != NULL && jose_b64url_fixed(d, dbuf, cs) != MD_OK) {
            rc = md_err_set(err, MD_JOSE_BAD_KEY, "EC JWK d must be %zu bytes of base64url", cs);
            goto out;
        }
        priv = d != NULL;
        rc = build_ec(type, xbuf, ybuf, priv ? dbuf : NULL, &pkey);
        if (rc != MD_OK) {
            md_err_set(err, rc, "EC JWK is not a valid key (point not on the curve?)");
            goto out;
        }
    } else if (strcmp(kty, "OKP") == 0) {
        if (crv == NULL || strcmp(crv, "Ed25519") != 0) {
            rc = md_err_set(err, MD_JOSE_UNSUPPORTED_KEY, "OKP JWK curve is not Ed25519");
            goto out;
        }
        if (x == NULL || jose_b64url_fixed(x, xbuf, 32) != MD_OK) {
            rc = md_err_set(err, MD_JOSE_BAD_KEY, "Ed25519 JWK x must be 32 bytes of base64url");
            goto out;
        }
        if (d != NULL) {
            if (jose_b64url_fixed(d, dbuf, 32) != MD_OK) {
                rc = md_err_set(err, MD_JOSE_BAD_KEY, "Ed25519 JWK d must be 32 bytes of base64url");
                goto out;
            }
            priv = true;
            pkey = EVP_PKEY_new_raw_private_key(EVP_PKEY_ED25519, NULL, dbuf, 32);
            unsigned char pub[32];
            size_t plen = sizeof(pub);
            if (pkey == NULL || EVP_PKEY_get_raw_public_key(pkey, pub, &plen) != 1 || plen != 32) {
                rc = md_err_set(err, MD_JOSE_CRYPTO, "Ed25519 key import failed");
                goto out;
            }
            if (CRYPTO_memcmp(pub, xbuf, 32) != 0) {
                rc = md_err_set(err, MD_JOSE_BAD_KEY, "Ed25519 JWK x does not match d");
                goto out;
            }
        } else {
            pkey = EVP_PKEY_new_raw_public_key(EVP_PKEY_ED25519, NULL, xbuf, 32);
            if (pkey == NULL) {
                rc = md_err_set(err, MD_JOSE_BAD_KEY, "Ed25519 JWK x is not a valid key");
                goto out;
            }
        }
    } else if (strcmp(kty, "RSA") == 0) {
        if (n == NULL || e == NULL) {
            rc = md_err_set(err, MD_JOSE_BAD_KEY, "RSA JWK needs n and e");
            goto out;
        }
        if ((rc = decode_uint(n, &nbuf, &nlen)) != MD_OK || (rc = decode_uint(e, &ebuf, &elen)) != MD_OK) {
            md_err_set(err, rc, "RSA JWK n and e must be minimal non-empty base64url");
            goto out;
        }
        if (nlen > RSA_MAX_BITS / 8 || elen > 4) {
            rc = md_err_set(err, MD_JOSE_UNSUPPORTED_KEY, "RSA JWK modulus or exponent too large");
            goto out;
        }
        rc = build_rsa(nbuf, nlen, ebuf, elen, &pkey);
        if (rc != MD_OK) {
            md_err_set(err, rc, "RSA JWK is not a valid key");
            goto out;
        }
    } else {
        rc = md_err_set(err, MD_JOSE_UNSUPPORTED_KEY, "JWK kty is not EC, OKP or RSA");
        goto out;
    }

    rc = jwk_wrap(pkey, priv, &k, err);
    if (rc != MD_OK) goto out;
    pkey = NULL;
    rc = jwk_metadata(jwk, k, err);
    if (rc != MD_OK) goto out;
    *out = k;
    k = NULL;
out:
    OPENSSL_cleanse(dbuf, sizeof(dbuf));
    EVP_PKEY_free(pkey);
    md_jwk_free(k);
    free(nbuf);
    free(ebuf);
    return rc;
}

int md_jwk_from_json(const json_t *jwk, md_jwk_t **out, md_err_t *err)
{
    JOSE_OPENSSL_SCOPE(jwk_from_json(jwk, out, err));
}

int md_jwk_parse(md_str_t json, md_jwk_t **out, md_err_t *err)
{
    *out = NULL;
    json_t *j = NULL;
    if (json.n > MD_JWKS_MAX_LEN)
        return md_err_set(err, MD_JOSE_TOO_LARGE, "JWK over %u bytes", MD_JWKS_MAX_LEN);
    int rc = jose_json_object(json.p, json.n, &j);
    if (rc != MD_OK) return md_err_set(err, rc, "JWK is not a JSON object without duplicate members");
    rc = md_jwk_from_json(j, out, err);
    json_decref(j);
    return rc;
}

/* ---------------------------------------------------------------- generation and PEM */

static int set_thumbprint_kid(md_jwk_t *k)
{
    char tp[MD_JWK_THUMBPRINT_LEN + 1];
    int rc = md_jwk_thumbprint(k, tp);
    if (rc != MD_OK) return rc;
    return md_jwk_set_kid(k, tp);
}

static int jwk_generate(md_jose_alg_t alg, md_jwk_t **out, md_err_t *err)
{
    *out = NULL;
    EVP_PKEY *pkey = NULL;
    if (alg == MD_JOSE_ES256)
        pkey = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "prime256v1");
    else if (alg == MD_JOSE_EDDSA)
        pkey = EVP_PKEY_Q_keygen(NULL, NULL, "ED25519");
    else
        return md_err_set(err, MD_EINVAL, "keys are generated for ES256 and EdDSA only");
    if (pkey == NULL) return md_err_set(err, MD_JOSE_CRYPTO, "key generation failed");
    md_jwk_t *k = NULL;
    int rc = jwk_wrap(pkey, true, &k, err);
    if (rc != MD_OK) {
        EVP_PKEY_free(pkey);
        return rc;
    }
    k->algs = (unsigned)alg;
    rc = set_thumbprint_kid(k);
    if (rc != MD_OK) {
        md_jwk_free(k);
        return md_err_set(err, rc, "cannot compute the key's thumbprint");
    }
    *out = k;
    return MD_OK;
}

int md_jwk_generate(md_jose_alg_t alg, md_jwk_t **out, md_err_t *err)
{
    JOSE_OPENSSL_SCOPE(jwk_generate(alg, out, err));
}

/* Never prompt, never decrypt: stored keys are sealed by us, not by a passphrase. */
static int refuse_passphrase(char *buf, int size, int rwflag, void *u)
{
    (void)buf;
    (void)size;
    (void)rwflag;
    (void)u;
    return -1;
}

static int jwk_from_pem(md_str_t pem, md_jwk_t **out, md_err_t *err)
{
    *out = NULL;
    if (pem.n == 0 || pem.n > PEM_MAX)
        return md_err_set(err, MD_JOSE_BAD_KEY, "PEM empty or over %u bytes", PEM_MAX);
    BIO *bio = BIO_new_mem_buf(pem.p, (int)pem.n);
    if (bio == NULL) return md_err_set(err, MD_ENOMEM, "out of memory");
    EVP_PKEY *pkey = PEM_read_bio_PrivateKey(bio, NULL, refuse_passphrase, NULL);
    BIO_free(bio);
    if (pkey == NULL) return md_err_set(err, MD_JOSE_BAD_KEY, "not an unencrypted PEM private key");
    md_jwk_t *k = NULL;
    int rc = jwk_wrap(pkey, true, &k, err);
    if (rc != MD_OK) {
        EVP_PKEY_free(pkey);
        return rc;
    }
    rc = set_thumbprint_kid(k);
    if (rc != MD_OK) {
        md_jwk_free(k);
        return md_err_set(err, rc, "cannot compute the key's thumbprint");
    }
    *out = k;
    return MD_OK;
}

int md_jwk_from_pem(md_str_t pem, md_jwk_t **out, md_err_t *err)
{
    JOSE_OPENSSL_SCOPE(jwk_from_pem(pem, out, err));
}

static int jwk_to_pem(const md_jwk_t *key, char **pem, size_t *len, md_err_t *err)
{
    *pem = NULL;
    *len = 0;
    if (!key->priv) return md_err_set(err, MD_JOSE_NO_PRIVATE_KEY, "key has no private half");
    /* A secure-memory BIO: its buffer is wiped when freed. */
    BIO *bio = BIO_new(BIO_s_secmem());
    if (bio == NULL) return md_err_set(err, MD_ENOMEM, "out of memory");
    int rc = MD_JOSE_CRYPTO;
    if (PEM_write_bio_PrivateKey(bio, key->pkey, NULL, NULL, 0, NULL, NULL) != 1) {
        md_err_set(err, rc, "PEM encoding failed");
        goto out;
    }
    char *data = NULL;
    long n = BIO_get_mem_data(bio, &data);
    if (n <= 0 || data == NULL) {
        md_err_set(err, rc, "PEM encoding failed");
        goto out;
    }
    char *copy = malloc((size_t)n + 1);
    if (copy == NULL) {
        rc = md_err_set(err, MD_ENOMEM, "out of memory");
        goto out;
    }
    memcpy(copy, data, (size_t)n);
    copy[n] = '\0';
    *pem = copy;
    *len = (size_t)n;
    rc = MD_OK;
out:
    BIO_free(bio);
    return rc;
}

int md_jwk_to_pem(const md_jwk_t *key, char **pem, size_t *len, md_err_t *err)
{
    JOSE_OPENSSL_SCOPE(jwk_to_pem(key, pem, len, err));
}

/* ---------------------------------------------------------------- JWKS */

void md_jwks_free(md_jwks_t *jwks)
{
    if (jwks == NULL) return;
    for (size_t i = 0; i < jwks->n; i++)
        md_jwk_free(jwks->keys[i]);
    free(jwks->keys);
    jwks->keys = NULL;
    jwks->n = 0;
}

int md_jwks_parse(md_str_t json, md_jwks_t *out, size_t *skipped, md_err_t *err)
{
    out->keys = NULL;
    out->n = 0;
    if (skipped != NULL) *skipped = 0;
    if (json.n > MD_JWKS_MAX_LEN)
        return md_err_set(err, MD_JOSE_TOO_LARGE, "JWKS over %u bytes", MD_JWKS_MAX_LEN);
    json_t *j = NULL;
    md_jwks_t set = {NULL, 0};
    int rc = jose_json_object(json.p, json.n, &j);
    if (rc != MD_OK) {
        md_err_set(err, rc, "JWKS is not a JSON object without duplicate members");
        goto out;
    }
    const json_t *keys = json_object_get(j, "keys");
    if (!json_is_array(keys)) {
        rc = md_err_set(err, MD_JOSE_MALFORMED, "JWKS has no \"keys\" array");
        goto out;
    }
    size_t count = json_array_size(keys);
    if (count > MD_JWKS_MAX_KEYS) {
        rc = md_err_set(err, MD_JOSE_TOO_LARGE, "JWKS has over %d keys", MD_JWKS_MAX_KEYS);
        goto out;
    }
    if (count > 0 && (set.keys = calloc(count, sizeof(*set.keys))) == NULL) {
        rc = md_err_set(err, MD_ENOMEM, "out of memory");
        goto out;
    }
    for (size_t i = 0; i < count; i++) {
        md_jwk_t *k = NULL;
        md_err_t kerr = {0};
        rc = md_jwk_from_json(json_array_get(keys, i), &k, &kerr);
        /* Only keys of a kind we do not implement are skipped: a malformed key, or
         * one that failed for lack of memory, fails the set rather than vanish. */
        if (rc != MD_OK && (rc != MD_JOSE_UNSUPPORTED_KEY || skipped == NULL)) {
            md_err_set(err, rc, "JWKS key %zu: %s", i, kerr.msg);
            goto out;
        }
        if (rc != MD_OK) {
            (*skipped)++;
            continue;
        }
        for (size_t m = 0; k->kid != NULL && m < set.n; m++) {
            if (set.keys[m]->kid != NULL && strcmp(set.keys[m]->kid, k->kid) == 0) {
                md_jwk_free(k);
                rc = md_err_set(err, MD_JOSE_BAD_KEY, "JWKS has two keys with the same kid");
                goto out;
            }
        }
        set.keys[set.n++] = k;
    }
    *out = set;
    set.keys = NULL;
    set.n = 0;
    rc = MD_OK;
out:
    md_jwks_free(&set);
    json_decref(j);
    if (rc != MD_OK && skipped != NULL) *skipped = 0;
    return rc;
}

int md_jwks_to_json(const md_jwk_t *const *keys, size_t n, json_t **out)
{
    *out = NULL;
    json_t *arr = json_array(), *set = json_object();
    int rc = MD_ENOMEM;
    if (arr == NULL || set == NULL) goto out;
    for (size_t i = 0; i < n; i++) {
        json_t *k = NULL;
        rc = md_jwk_to_json(keys[i], &k);
        if (rc != MD_OK) goto out;
        if (json_array_append_new(arr, k) != 0) {
            rc = MD_ENOMEM;
            goto out;
        }
    }
    if (json_object_set_new(set, "keys", arr) != 0) {
        arr = NULL; /* set_new consumed it even on failure */
        rc = MD_ENOMEM;
        goto out;
    }
    arr = NULL;
    *out = set;
    set = NULL;
    rc = MD_OK;
out:
    json_decref(arr);
    json_decref(set);
    return rc;
}
