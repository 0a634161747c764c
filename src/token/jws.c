/*
 * jws.c: JWS compact serialisation — signing and strict verification.
 *
 * Invariants: a signature is checked only with a key the caller supplied,
 * chosen by exact kid match, of the family the header's alg names, and with
 * that alg in the key's allow-list; the alg is never taken from the key or
 * guessed.  ECDSA signatures travel as raw R||S of fixed length (RFC 7518
 * §3.4) and are converted to DER only at the OpenSSL boundary.  They are
 * low-S: (r, s) and (r, n - s) both verify, so only s <= n/2 is accepted
 * (unless a caller opts out for another issuer's tokens) and our signer
 * normalises what OpenSSL gives it; nobody can turn one valid token into
 * a second, different one.
 */
#include "token/token_int.h"

#include <pthread.h>
#include <stdlib.h>

#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/ec.h>
#include <openssl/err.h>
#include <openssl/rsa.h>

/* ---------------------------------------------------------------- ECDSA R||S <-> DER */

int jose_ecdsa_raw_to_der(const unsigned char *raw, size_t n, unsigned char **der, size_t *der_len)
{
    *der = NULL;
    *der_len = 0;
    size_t half = n / 2;
    ECDSA_SIG *sig = ECDSA_SIG_new();
    BIGNUM *r = BN_bin2bn(raw, (int)half, NULL), *s = BN_bin2bn(raw + half, (int)half, NULL);
    int rc = MD_ENOMEM;
    if (sig == NULL || r == NULL || s == NULL) goto out;
    if (ECDSA_SIG_set0(sig, r, s) != 1) goto out;
    r = s = NULL; /* owned by sig now */
    unsigned char *p = NULL;
    int len = i2d_ECDSA_SIG(sig, &p);
    if (len <= 0) {
        rc = MD_JOSE_CRYPTO;
        goto out;
    }
    *der = p;
    *der_len = (size_t)len;
    rc = MD_OK;
out:
    BN_free(r);
    BN_free(s);
    ECDSA_SIG_free(sig);
    return rc;
}

int jose_ecdsa_der_to_raw(const unsigned char *der, size_t der_len, unsigned char *raw, size_t half)
{
    const unsigned char *p = der;
    ECDSA_SIG *sig = d2i_ECDSA_SIG(NULL, &p, (long)der_len);
    if (sig == NULL) return MD_JOSE_CRYPTO;
    const BIGNUM *r = NULL, *s = NULL;
    ECDSA_SIG_get0(sig, &r, &s);
    int rc = MD_OK;
    if (BN_bn2binpad(r, raw, (int)half) < 0 || BN_bn2binpad(s, raw + half, (int)half) < 0)
        rc = MD_JOSE_CRYPTO;
    ECDSA_SIG_free(sig);
    return rc;
}

/* ---------------------------------------------------------------- ECDSA low-S */

/* The orders n of P-256 and P-384 and floor(n / 2), big-endian. */
static const unsigned char p256_n[32] = {0xff, 0xff, 0xff, 0xff, 0x00, 0x00, 0x00, 0x00, 0xff, 0xff, 0xff,
                                         0xff, 0xff, 0xff, 0xff, 0xff, 0xbc, 0xe6, 0xfa, 0xad, 0xa7, 0x17,
                                         0x9e, 0x84, 0xf3, 0xb9, 0xca, 0xc2, 0xfc, 0x63, 0x25, 0x51};
static const unsigned char p256_half_n[32] = {
    0x7f, 0xff, 0xff, 0xff, 0x80, 0x00, 0x00, 0x00, 0x7f, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
    0xde, 0x73, 0x7d, 0x56, 0xd3, 0x8b, 0xcf, 0x42, 0x79, 0xdc, 0xe5, 0x61, 0x7e, 0x31, 0x92, 0xa8};
static const unsigned char p384_n[48] = {
    0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
    0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xc7, 0x63, 0x4d, 0x81, 0xf4, 0x37, 0x2d, 0xdf,
    0x58, 0x1a, 0x0d, 0xb2, 0x48, 0xb0, 0xa7, 0x7a, 0xec, 0xec, 0x19, 0x6a, 0xcc, 0xc5, 0x29, 0x73};
static const unsigned char p384_half_n[48] = {
    0x7f, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
    0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xe3, 0xb1, 0xa6, 0xc0, 0xfa, 0x1b, 0x96, 0xef,
    0xac, 0x0d, 0x06, 0xd9, 0x24, 0x58, 0x53, 0xbd, 0x76, 0x76, 0x0c, 0xb5, 0x66, 0x62, 0x94, 0xb9};

/* s (half bytes, big-endian) > n/2: the high one of the pair s, n - s.  s is public. */
static bool ecdsa_s_high(const unsigned char *s, size_t half)
{
    return memcmp(s, half == 48 ? p384_half_n : p256_half_n, half) > 0;
}

/* s := n - s, for s in 1..n-1 (what a signer gives), so nothing borrows past the top byte. */
static void ecdsa_s_negate(unsigned char *s, size_t half)
{
    const unsigned char *n = half == 48 ? p384_n : p256_n;
    unsigned borrow = 0;
    for (size_t i = half; i-- > 0;) {
        unsigned v = (unsigned)n[i] - s[i] - borrow;
        s[i] = (unsigned char)v;
        borrow = (v >> 8) & 1u;
    }
}

/* ---------------------------------------------------------------- primitives */

static const char *alg_digest(md_jose_alg_t alg)
{
    switch (alg) {
    case MD_JOSE_ES384: return "SHA384";
    case MD_JOSE_EDDSA: return NULL; /* Ed25519 hashes internally */
    default: return "SHA256";
    }
}

static size_t alg_ec_half(md_jose_alg_t alg)
{
    return alg == MD_JOSE_ES256 ? 32 : alg == MD_JOSE_ES384 ? 48 : 0;
}

/* Padding for RSA algs; pctx is the context EVP_DigestSign/VerifyInit gave. */
static bool set_rsa_padding(EVP_PKEY_CTX *pctx, md_jose_alg_t alg)
{
    if (alg == MD_JOSE_RS256) return EVP_PKEY_CTX_set_rsa_padding(pctx, RSA_PKCS1_PADDING) > 0;
    if (alg == MD_JOSE_PS256) /* RFC 7518 §3.5: MGF1 with the same hash, salt as long as the hash. */
        return EVP_PKEY_CTX_set_rsa_padding(pctx, RSA_PKCS1_PSS_PADDING) > 0 &&
               EVP_PKEY_CTX_set_rsa_mgf1_md_name(pctx, "SHA256", NULL) > 0 &&
               EVP_PKEY_CTX_set_rsa_pss_saltlen(pctx, 32) > 0;
    return true;
}

/*
 * ECDSA signing contexts, cached per thread.  EVP_DigestSignInit_ex costs
 * several microseconds per call in OpenSSL 3 (algorithm fetches, context
 * set-up): a third of an ES256 signature.  So for EC keys each thread keeps
 * one EVP_PKEY_CTX initialised for signing with the last key it used, and
 * the message is hashed with a digest fetched once.  The cached context
 * holds a reference on its EVP_PKEY, so that pointer cannot be freed and
 * reused for another key while it is cached (no ABA); the price is that a
 * thread keeps its last signing key alive until it signs with another key
 * or exits (the thread-key destructor frees it).
 */
typedef struct sign_cache {
    EVP_PKEY *pkey; /* borrowed identity; the reference is held by ctx */
    EVP_PKEY_CTX *ctx;
} sign_cache_t;

static pthread_once_t sign_once = PTHREAD_ONCE_INIT;
static pthread_key_t sign_tls;
static bool sign_tls_ok;
static EVP_MD *md_sha256, *md_sha384;

static void sign_cache_free(void *p)
{
    sign_cache_t *c = p;
    if (c == NULL) return;
    EVP_PKEY_CTX_free(c->ctx);
    free(c);
}

static void sign_init_once(void)
{
    sign_tls_ok = pthread_key_create(&sign_tls, sign_cache_free) == 0;
    md_sha256 = EVP_MD_fetch(NULL, "SHA256", NULL);
    md_sha384 = EVP_MD_fetch(NULL, "SHA384", NULL);
}

/* The thread's signing context for pkey, or NULL (then use the slow path). */
static EVP_PKEY_CTX *ec_sign_ctx(EVP_PKEY *pkey)
{
    pthread_once(&sign_once, sign_init_once);
    if (!sign_tls_ok) return NULL;
    sign_cache_t *c = pthread_getspecific(sign_tls);
    if (c == NULL) {
        if ((c = calloc(1, sizeof(*c))) == NULL) return NULL;
        if (pthread_setspecific(sign_tls, c) != 0) {
            free(c);
            return NULL;
        }
    }
    if (c->ctx != NULL && c->pkey == pkey) return c->ctx;
    EVP_PKEY_CTX_free(c->ctx);
    c->ctx = NULL;
    c->pkey = NULL;
    EVP_PKEY_CTX *ctx = EVP_PKEY_CTX_new_from_pkey(NULL, pkey, NULL);
    if (ctx == NULL || EVP_PKEY_sign_init(ctx) != 1) {
        EVP_PKEY_CTX_free(ctx);
        return NULL;
    }
    c->ctx = ctx;
    c->pkey = pkey;
    return ctx;
}

static void ec_sign_ctx_drop(void)
{
    sign_cache_t *c = sign_tls_ok ? pthread_getspecific(sign_tls) : NULL;
    if (c == NULL) return;
    EVP_PKEY_CTX_free(c->ctx);
    c->ctx = NULL;
    c->pkey = NULL;
}

/* ECDSA over the digest with the cached context: DER signature, malloc'd. */
static int ec_sign_fast(const md_jwk_t *key, md_jose_alg_t alg, const void *msg, size_t n,
                        unsigned char **der, size_t *der_len)
{
    unsigned char dg[EVP_MAX_MD_SIZE];
    unsigned int dlen = 0;
    size_t len = 0;
    EVP_PKEY_CTX *ctx = ec_sign_ctx(key->pkey);
    const EVP_MD *md = alg == MD_JOSE_ES384 ? md_sha384 : md_sha256;
    if (ctx == NULL || md == NULL) return MD_JOSE_CRYPTO;
    if (EVP_Digest(msg, n, dg, &dlen, md, NULL) != 1 || EVP_PKEY_sign(ctx, NULL, &len, dg, dlen) != 1)
        goto fail;
    unsigned char *buf = malloc(len);
    if (buf == NULL) return MD_ENOMEM;
    if (EVP_PKEY_sign(ctx, buf, &len, dg, dlen) != 1) {
        free(buf);
        goto fail;
    }
    *der = buf;
    *der_len = len;
    return MD_OK;
fail:
    ec_sign_ctx_drop();
    return MD_JOSE_CRYPTO;
}

/* Sign msg; *sig is malloc'd in JOSE form (raw R||S for ECDSA). */
static int sign_bytes(const md_jwk_t *key, md_jose_alg_t alg, const void *msg, size_t n, unsigned char **sig,
                      size_t *sig_len)
{
    *sig = NULL;
    *sig_len = 0;
    int rc = MD_JOSE_CRYPTO;
    unsigned char *buf = NULL;
    size_t len = 0;
    EVP_PKEY_CTX *pctx = NULL;
    EVP_MD_CTX *mctx = NULL;
    size_t half = alg_ec_half(alg);
    if (half != 0 && (rc = ec_sign_fast(key, alg, msg, n, &buf, &len)) != MD_OK) {
        if (rc == MD_ENOMEM) goto out;
        rc = MD_JOSE_CRYPTO;
        buf = NULL; /* fall back to the one-shot path below */
    }
    if (buf == NULL) {
        if ((mctx = EVP_MD_CTX_new()) == NULL) return MD_ENOMEM;
        if (EVP_DigestSignInit_ex(mctx, &pctx, alg_digest(alg), NULL, NULL, key->pkey, NULL) != 1) goto out;
        if (!set_rsa_padding(pctx, alg)) goto out;
        if (EVP_DigestSign(mctx, NULL, &len, msg, n) != 1) goto out;
        if ((buf = malloc(len)) == NULL) {
            rc = MD_ENOMEM;
            goto out;
        }
        if (EVP_DigestSign(mctx, buf, &len, msg, n) != 1) goto out;
    }
    if (half != 0) {
        unsigned char *raw = malloc(2 * half);
        if (raw == NULL) {
            rc = MD_ENOMEM;
            goto out;
        }
        rc = jose_ecdsa_der_to_raw(buf, len, raw, half);
        if (rc != MD_OK) {
            free(raw);
            goto out;
        }
        /* OpenSSL gives either of (r, s) and (r, n - s); our verifier accepts the low one only */
        if (ecdsa_s_high(raw + half, half)) ecdsa_s_negate(raw + half, half);
        free(buf);
        buf = raw;
        len = 2 * half;
    }
    *sig = buf;
    *sig_len = len;
    buf = NULL;
    rc = MD_OK;
out:
    free(buf);
    EVP_MD_CTX_free(mctx);
    return rc;
}

/* MD_OK when sig (JOSE form) is a valid signature of msg; MD_JOSE_BAD_SIGNATURE otherwise
 * (also for an ECDSA signature with a high s, unless allow_high_s). */
static int verify_bytes(const md_jwk_t *key, md_jose_alg_t alg, const void *msg, size_t n,
                        const unsigned char *sig, size_t sig_len, bool allow_high_s)
{
    int rc = MD_JOSE_BAD_SIGNATURE;
    unsigned char *der = NULL;
    size_t der_len = 0;
    EVP_PKEY_CTX *pctx = NULL;
    EVP_MD_CTX *mctx = NULL;
    size_t half = alg_ec_half(alg);
    if (half != 0) {
        if (sig_len != 2 * half) return MD_JOSE_BAD_SIGNATURE;
        if (!allow_high_s && ecdsa_s_high(sig + half, half)) return MD_JOSE_BAD_SIGNATURE; /* malleated */
        rc = jose_ecdsa_raw_to_der(sig, sig_len, &der, &der_len);
        if (rc != MD_OK) return rc;
        sig = der;
        sig_len = der_len;
        rc = MD_JOSE_BAD_SIGNATURE;
    } else if (alg == MD_JOSE_EDDSA) {
        if (sig_len != 64) return MD_JOSE_BAD_SIGNATURE;
    } else if (sig_len != (size_t)EVP_PKEY_get_size(key->pkey)) {
        return MD_JOSE_BAD_SIGNATURE;
    }
    if ((mctx = EVP_MD_CTX_new()) == NULL) {
        rc = MD_ENOMEM;
        goto out;
    }
    if (EVP_DigestVerifyInit_ex(mctx, &pctx, alg_digest(alg), NULL, NULL, key->pkey, NULL) != 1) {
        rc = MD_JOSE_CRYPTO;
        goto out;
    }
    if (!set_rsa_padding(pctx, alg)) {
        rc = MD_JOSE_CRYPTO;
        goto out;
    }
    if (EVP_DigestVerify(mctx, sig, sig_len, msg, n) == 1) rc = MD_OK;
out:
    EVP_MD_CTX_free(mctx);
    OPENSSL_free(der);
    return rc;
}

/* ---------------------------------------------------------------- sign */

/* Check that key can sign or verify with alg; resolves alg 0 to the key's default. */
static int key_alg_check(const md_jwk_t *key, md_jose_alg_t *alg, md_err_t *err)
{
    if (*alg == 0) *alg = md_jwk_default_alg(key);
    if (md_jose_alg_name(*alg) == NULL) return md_err_set(err, MD_EINVAL, "unknown algorithm");
    if (!jwk_alg_same_family(key->type, *alg))
        return md_err_set(err, MD_JOSE_KEY_MISMATCH, "%s does not fit the key type", md_jose_alg_name(*alg));
    if ((key->algs & (unsigned)*alg) == 0)
        return md_err_set(err, MD_JOSE_ALG_NOT_ALLOWED, "%s is not allowed for this key",
                          md_jose_alg_name(*alg));
    return MD_OK;
}

static int jws_sign(const md_jwk_t *key, md_jose_alg_t alg, const json_t *header, md_str_t payload,
                    md_buf_t *out, md_err_t *err)
{
    if (!key->priv) return md_err_set(err, MD_JOSE_NO_PRIVATE_KEY, "signing needs a private key");
    int rc = key_alg_check(key, &alg, err);
    if (rc != MD_OK) return rc;
    if (header != NULL && (!json_is_object(header) || json_object_get(header, "alg") != NULL))
        return md_err_set(err, MD_EINVAL, "extra header must be an object without \"alg\"");

    md_buf_t tok;
    md_buf_init(&tok);
    char *htext = NULL;
    unsigned char *sig = NULL;
    size_t sig_len = 0;
    json_t *h = json_object();
    rc = MD_ENOMEM;
    if (h == NULL || json_object_set_new(h, "alg", json_string(md_jose_alg_name(alg))) != 0) goto out;
    /* json_object_update only adds references; header stays the caller's. */
    if (header != NULL && json_object_update(h, (json_t *)header) != 0) goto out;
    if ((htext = json_dumps(h, JSON_COMPACT)) == NULL) goto out;
    md_b64url_encode(&tok, htext, strlen(htext));
    md_buf_addc(&tok, '.');
    md_b64url_encode(&tok, payload.p, payload.n);
    if (tok.oom) goto out;
    rc = sign_bytes(key, alg, tok.p, tok.n, &sig, &sig_len);
    if (rc != MD_OK) {
        md_err_set(err, rc, "signing failed");
        goto out;
    }
    md_buf_addc(&tok, '.');
    md_b64url_encode(&tok, sig, sig_len);
    if (tok.oom) {
        rc = MD_ENOMEM;
        goto out;
    }
    md_buf_add(out, tok.p, tok.n);
    rc = out->oom ? MD_ENOMEM : MD_OK;
out:
    if (rc == MD_ENOMEM) md_err_set(err, rc, "out of memory");
    json_decref(h);
    free(htext);
    free(sig);
    md_buf_free(&tok);
    return rc;
}

int md_jws_sign(const md_jwk_t *key, md_jose_alg_t alg, const json_t *header, md_str_t payload, md_buf_t *out,
                md_err_t *err)
{
    JOSE_OPENSSL_SCOPE(jws_sign(key, alg, header, payload, out, err));
}

/* ---------------------------------------------------------------- verify */

void md_jws_free(md_jws_t *jws)
{
    if (jws == NULL) return;
    json_decref(jws->header);
    free(jws->payload);
    memset(jws, 0, sizeof(*jws));
}

/* RFC 7515 §4.1.11: we implement no extension, so any "crit" is refused. */
static int check_crit(const json_t *header, md_err_t *err)
{
    const json_t *crit = json_object_get(header, "crit");
    if (crit == NULL) return MD_OK;
    if (!json_is_array(crit) || json_array_size(crit) == 0)
        return md_err_set(err, MD_JOSE_MALFORMED, "crit must be a non-empty array");
    size_t i;
    const json_t *v;
    json_array_foreach(crit, i, v)
    {
        if (!json_is_string(v)) return md_err_set(err, MD_JOSE_MALFORMED, "crit must hold strings");
    }
    return md_err_set(err, MD_JOSE_UNKNOWN_CRIT, "crit names an extension this verifier does not implement");
}

static int select_key(const md_jwk_t *const *keys, size_t nkeys, const json_t *header, const md_jwk_t **key,
                      md_err_t *err)
{
    *key = NULL;
    const json_t *kid = json_object_get(header, "kid");
    if (kid == NULL) {
        if (nkeys == 1) {
            *key = keys[0];
            return MD_OK;
        }
        return md_err_set(err, MD_JOSE_UNKNOWN_KID, "token has no kid and the key is ambiguous");
    }
    if (!json_is_string(kid)) return md_err_set(err, MD_JOSE_MALFORMED, "kid must be a string");
    /* Compared for equality only: a kid is a name, never a path, URL or query. */
    const char *want = json_string_value(kid);
    for (size_t i = 0; i < nkeys; i++) {
        if (keys[i]->kid != NULL && strcmp(keys[i]->kid, want) == 0) {
            *key = keys[i];
            return MD_OK;
        }
    }
    return md_err_set(err, MD_JOSE_UNKNOWN_KID, "no known key has this kid");
}

static int jws_verify(const md_jwk_t *const *keys, size_t nkeys, md_str_t token, unsigned algs,
                      size_t max_len, bool allow_high_s, md_jws_t *out, md_err_t *err)
{
    memset(out, 0, sizeof(*out));
    if (max_len == 0) max_len = MD_JWT_MAX_LEN_DEFAULT;
    if (max_len > MD_JWT_MAX_LEN_LIMIT || (algs & ~MD_JOSE_ALGS_ALL) != 0)
        return md_err_set(err, MD_EINVAL, "bad verification options");
    if (token.n > max_len) return md_err_set(err, MD_JOSE_TOO_LARGE, "token over %zu bytes", max_len);
    if (token.p == NULL || token.n == 0) return md_err_set(err, MD_JOSE_MALFORMED, "empty token");

    const char *end = token.p + token.n;
    const char *d1 = memchr(token.p, '.', token.n);
    const char *d2 = d1 ? memchr(d1 + 1, '.', (size_t)(end - d1 - 1)) : NULL;
    if (d1 == NULL || d2 == NULL || memchr(d2 + 1, '.', (size_t)(end - d2 - 1)) != NULL)
        return md_err_set(err, MD_JOSE_MALFORMED, "a compact JWS has exactly three segments");
    md_str_t hseg = {token.p, (size_t)(d1 - token.p)};
    md_str_t pseg = {d1 + 1, (size_t)(d2 - d1 - 1)};
    md_str_t sseg = {d2 + 1, (size_t)(end - d2 - 1)};

    unsigned char *hbuf = NULL, *pbuf = NULL, *sbuf = NULL;
    size_t hlen = 0, plen = 0, slen = 0;
    json_t *header = NULL;
    const md_jwk_t *key = NULL;
    md_jose_alg_t alg = 0;
    int rc;
    if ((rc = md_b64url_decode(hseg, &hbuf, &hlen)) != MD_OK ||
        (rc = md_b64url_decode(pseg, &pbuf, &plen)) != MD_OK ||
        (rc = md_b64url_decode(sseg, &sbuf, &slen)) != MD_OK) {
        md_err_set(err, rc, "a segment is not strict base64url");
        goto out;
    }
    if ((rc = jose_json_object((const char *)hbuf, hlen, &header)) != MD_OK) {
        md_err_set(err, rc, "header is not a JSON object without duplicate members");
        goto out;
    }
    const json_t *jalg = json_object_get(header, "alg");
    if (!json_is_string(jalg)) {
        rc = md_err_set(err, MD_JOSE_MALFORMED, "header has no string alg");
        goto out;
    }
    rc = md_jose_alg_from_name((md_str_t){json_string_value(jalg), json_string_length(jalg)}, &alg);
    if (rc != MD_OK) {
        md_err_set(err, rc, rc == MD_JOSE_ALG_NONE ? "alg none is never accepted" : "alg is not supported");
        goto out;
    }
    if ((rc = check_crit(header, err)) != MD_OK) goto out;
    if ((rc = select_key(keys, nkeys, header, &key, err)) != MD_OK) goto out;
    if (!jwk_alg_same_family(key->type, alg)) {
        rc = md_err_set(err, MD_JOSE_KEY_MISMATCH, "%s does not fit the key's type", md_jose_alg_name(alg));
        goto out;
    }
    unsigned allowed = key->algs & (algs ? algs : MD_JOSE_ALGS_ALL);
    if ((allowed & (unsigned)alg) == 0) {
        rc =
            md_err_set(err, MD_JOSE_ALG_NOT_ALLOWED, "%s is not allowed for this key", md_jose_alg_name(alg));
        goto out;
    }
    /* The signing input is the two first segments exactly as received. */
    rc = verify_bytes(key, alg, token.p, (size_t)(d2 - token.p), sbuf, slen, allow_high_s);
    if (rc != MD_OK) {
        md_err_set(err, rc,
                   rc == MD_JOSE_BAD_SIGNATURE ? "signature does not verify" : "verification failed");
        goto out;
    }
    out->header = header;
    out->payload = pbuf;
    out->payload_len = plen;
    out->alg = alg;
    out->key = key;
    header = NULL;
    pbuf = NULL;
out:
    json_decref(header);
    free(hbuf);
    free(pbuf);
    free(sbuf);
    return rc;
}

int md_jws_verify(const md_jwk_t *const *keys, size_t nkeys, md_str_t token, unsigned algs, size_t max_len,
                  md_jws_t *out, md_err_t *err)
{
    JOSE_OPENSSL_SCOPE(jws_verify(keys, nkeys, token, algs, max_len, false, out, err));
}

int jose_jws_verify(const md_jwk_t *const *keys, size_t nkeys, md_str_t token, unsigned algs, size_t max_len,
                    bool allow_high_s, md_jws_t *out, md_err_t *err)
{
    JOSE_OPENSSL_SCOPE(jws_verify(keys, nkeys, token, algs, max_len, allow_high_s, out, err));
}
