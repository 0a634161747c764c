/*
 * jose.c: what the rest of src/token/ shares — status names, alg names,
 * strict base64url, strict JSON loading, AES-256-GCM sealing.
 *
 * Invariant: every decoder here is strict (one accepted spelling per value),
 * so a token can never be "the same" to us and different to a peer.
 */
#include "token/token_int.h"

#include <stdlib.h>
#include <strings.h>

#include <openssl/crypto.h>
#include <openssl/rand.h>

const char *md_jose_err_name(int code)
{
    switch (code) {
    case MD_OK: return "MD_OK";
    case MD_ENOMEM: return "MD_ENOMEM";
    case MD_EINVAL: return "MD_EINVAL";
    case MD_EIO: return "MD_EIO";
    case MD_ELIMIT: return "MD_ELIMIT";
    case MD_ENOENT: return "MD_ENOENT";
    case MD_ESCHEMA: return "MD_ESCHEMA";
    case MD_JOSE_MALFORMED: return "MD_JOSE_MALFORMED";
    case MD_JOSE_TOO_LARGE: return "MD_JOSE_TOO_LARGE";
    case MD_JOSE_BAD_ENCODING: return "MD_JOSE_BAD_ENCODING";
    case MD_JOSE_DUPLICATE_KEY: return "MD_JOSE_DUPLICATE_KEY";
    case MD_JOSE_ALG_NONE: return "MD_JOSE_ALG_NONE";
    case MD_JOSE_ALG_UNSUPPORTED: return "MD_JOSE_ALG_UNSUPPORTED";
    case MD_JOSE_ALG_NOT_ALLOWED: return "MD_JOSE_ALG_NOT_ALLOWED";
    case MD_JOSE_KEY_MISMATCH: return "MD_JOSE_KEY_MISMATCH";
    case MD_JOSE_UNKNOWN_KID: return "MD_JOSE_UNKNOWN_KID";
    case MD_JOSE_UNKNOWN_CRIT: return "MD_JOSE_UNKNOWN_CRIT";
    case MD_JOSE_BAD_SIGNATURE: return "MD_JOSE_BAD_SIGNATURE";
    case MD_JOSE_EXPIRED: return "MD_JOSE_EXPIRED";
    case MD_JOSE_NOT_YET_VALID: return "MD_JOSE_NOT_YET_VALID";
    case MD_JOSE_ISSUED_IN_FUTURE: return "MD_JOSE_ISSUED_IN_FUTURE";
    case MD_JOSE_BAD_AUDIENCE: return "MD_JOSE_BAD_AUDIENCE";
    case MD_JOSE_BAD_ISSUER: return "MD_JOSE_BAD_ISSUER";
    case MD_JOSE_BAD_TYPE: return "MD_JOSE_BAD_TYPE";
    case MD_JOSE_BAD_CLAIM: return "MD_JOSE_BAD_CLAIM";
    case MD_JOSE_MISSING_CLAIM: return "MD_JOSE_MISSING_CLAIM";
    case MD_JOSE_BAD_KEY: return "MD_JOSE_BAD_KEY";
    case MD_JOSE_UNSUPPORTED_KEY: return "MD_JOSE_UNSUPPORTED_KEY";
    case MD_JOSE_NO_PRIVATE_KEY: return "MD_JOSE_NO_PRIVATE_KEY";
    case MD_JOSE_SEAL_BROKEN: return "MD_JOSE_SEAL_BROKEN";
    case MD_JOSE_CRYPTO: return "MD_JOSE_CRYPTO";
    default: return "MD_E_UNKNOWN";
    }
}

/* ---------------------------------------------------------------- algorithms */

static const struct {
    md_jose_alg_t alg;
    const char *name;
} alg_names[] = {
    {MD_JOSE_ES256, "ES256"}, {MD_JOSE_ES384, "ES384"}, {MD_JOSE_EDDSA, "EdDSA"},
    {MD_JOSE_RS256, "RS256"}, {MD_JOSE_PS256, "PS256"},
};

const char *md_jose_alg_name(md_jose_alg_t alg)
{
    for (size_t i = 0; i < sizeof(alg_names) / sizeof(alg_names[0]); i++)
        if (alg_names[i].alg == alg) return alg_names[i].name;
    return NULL;
}

int md_jose_alg_from_name(md_str_t name, md_jose_alg_t *out)
{
    for (size_t i = 0; i < sizeof(alg_names) / sizeof(alg_names[0]); i++) {
        if (md_str_eqc(name, alg_names[i].name)) {
            *out = alg_names[i].alg;
            return MD_OK;
        }
    }
    /* "none" is refused under its own code in every spelling, so that an
     * attempt is recognisable in the audit log whatever its letter case. */
    if (name.n == 4 && strncasecmp(name.p, "none", 4) == 0) return MD_JOSE_ALG_NONE;
    return MD_JOSE_ALG_UNSUPPORTED;
}

/* ---------------------------------------------------------------- base64url */

static const char b64url_alphabet[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

void md_b64url_encode(md_buf_t *out, const void *p, size_t n)
{
    const unsigned char *s = p;
    char quad[4];
    size_t i = 0;
    for (; i + 3 <= n; i += 3) {
        uint32_t v = (uint32_t)s[i] << 16 | (uint32_t)s[i + 1] << 8 | s[i + 2];
        quad[0] = b64url_alphabet[v >> 18];
        quad[1] = b64url_alphabet[(v >> 12) & 63];
        quad[2] = b64url_alphabet[(v >> 6) & 63];
        quad[3] = b64url_alphabet[v & 63];
        md_buf_add(out, quad, 4);
    }
    if (n - i == 1) {
        uint32_t v = (uint32_t)s[i] << 16;
        quad[0] = b64url_alphabet[v >> 18];
        quad[1] = b64url_alphabet[(v >> 12) & 63];
        md_buf_add(out, quad, 2);
    } else if (n - i == 2) {
        uint32_t v = (uint32_t)s[i] << 16 | (uint32_t)s[i + 1] << 8;
        quad[0] = b64url_alphabet[v >> 18];
        quad[1] = b64url_alphabet[(v >> 12) & 63];
        quad[2] = b64url_alphabet[(v >> 6) & 63];
        md_buf_add(out, quad, 3);
    }
}

static int b64url_value(unsigned char c)
{
    if (c >= 'A' && c <= 'Z') return c - 'A';
    if (c >= 'a' && c <= 'z') return c - 'a' + 26;
    if (c >= '0' && c <= '9') return c - '0' + 52;
    if (c == '-') return 62;
    if (c == '_') return 63;
    return -1;
}

/* Decode into buf (room for in.n * 3 / 4 bytes); returns the length or -1. */
static long b64url_decode_into(md_str_t in, unsigned char *buf)
{
    if (in.n % 4 == 1) return -1;
    size_t o = 0;
    uint32_t acc = 0;
    int bits = 0;
    for (size_t i = 0; i < in.n; i++) {
        int v = b64url_value((unsigned char)in.p[i]);
        if (v < 0) return -1;
        acc = (acc << 6) | (uint32_t)v;
        bits += 6;
        if (bits >= 8) {
            bits -= 8;
            buf[o++] = (unsigned char)(acc >> bits);
            acc &= (1u << bits) - 1;
        }
    }
    /* Leftover bits must be zero: "QR" and "QQ" must not both mean "A". */
    if (acc != 0) return -1;
    return (long)o;
}

int md_b64url_decode(md_str_t in, unsigned char **out, size_t *len)
{
    *out = NULL;
    *len = 0;
    unsigned char *buf = malloc(in.n / 4 * 3 + 3);
    if (buf == NULL) return MD_ENOMEM;
    long n = b64url_decode_into(in, buf);
    if (n < 0) {
        free(buf);
        return MD_JOSE_BAD_ENCODING;
    }
    buf[n] = '\0';
    *out = buf;
    *len = (size_t)n;
    return MD_OK;
}

int jose_b64url_fixed(const char *s, unsigned char *buf, size_t want)
{
    md_str_t in = md_str_c(s);
    /* The exact encoded length of want bytes, so buf can never overflow. */
    if (in.n != (want * 4 + 2) / 3) return MD_JOSE_BAD_KEY;
    long n = b64url_decode_into(in, buf);
    if (n < 0 || (size_t)n != want) return MD_JOSE_BAD_KEY;
    return MD_OK;
}

void md_jose_secret_free(void *p, size_t n)
{
    if (p == NULL) return;
    OPENSSL_cleanse(p, n);
    free(p);
}

/* ---------------------------------------------------------------- JSON */

int jose_json_object(const char *text, size_t len, json_t **out)
{
    *out = NULL;
    json_error_t je;
    /* No JSON_ALLOW_NUL: a NUL inside a claim could truncate it for a C consumer. */
    json_t *j = json_loadb(text, len, JSON_REJECT_DUPLICATES, &je);
    if (j == NULL) {
        switch (json_error_code(&je)) {
        case json_error_duplicate_key: return MD_JOSE_DUPLICATE_KEY;
        case json_error_out_of_memory: return MD_ENOMEM;
        default: return MD_JOSE_MALFORMED;
        }
    }
    if (!json_is_object(j)) {
        json_decref(j);
        return MD_JOSE_MALFORMED;
    }
    *out = j;
    return MD_OK;
}

/* ---------------------------------------------------------------- sealing */

static int jose_seal(const unsigned char *kek, md_str_t aad, const void *pt, size_t n, unsigned char **out,
                     size_t *out_len)
{
    *out = NULL;
    *out_len = 0;
    if (n > INT32_MAX - MD_SEAL_OVERHEAD || aad.n > INT32_MAX) return MD_ELIMIT;
    int rc = MD_JOSE_CRYPTO, len = 0;
    EVP_CIPHER_CTX *ctx = NULL;
    unsigned char *buf = malloc(n + MD_SEAL_OVERHEAD);
    if (buf == NULL) return MD_ENOMEM;
    unsigned char *nonce = buf, *ct = buf + MD_SEAL_NONCE_LEN, *tag = buf + MD_SEAL_NONCE_LEN + n;
    if (RAND_bytes(nonce, MD_SEAL_NONCE_LEN) != 1) goto out;
    ctx = EVP_CIPHER_CTX_new();
    if (ctx == NULL) {
        rc = MD_ENOMEM;
        goto out;
    }
    if (EVP_EncryptInit_ex(ctx, EVP_aes_256_gcm(), NULL, NULL, NULL) != 1) goto out;
    if (EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_GCM_SET_IVLEN, MD_SEAL_NONCE_LEN, NULL) != 1) goto out;
    if (EVP_EncryptInit_ex(ctx, NULL, NULL, kek, nonce) != 1) goto out;
    if (aad.n > 0 && EVP_EncryptUpdate(ctx, NULL, &len, (const unsigned char *)aad.p, (int)aad.n) != 1)
        goto out;
    if (n > 0 && EVP_EncryptUpdate(ctx, ct, &len, pt, (int)n) != 1) goto out;
    if (EVP_EncryptFinal_ex(ctx, ct + len, &len) != 1) goto out;
    if (EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_GCM_GET_TAG, MD_SEAL_TAG_LEN, tag) != 1) goto out;
    *out = buf;
    *out_len = n + MD_SEAL_OVERHEAD;
    buf = NULL;
    rc = MD_OK;
out:
    EVP_CIPHER_CTX_free(ctx);
    free(buf); /* ciphertext only, nothing secret */
    return rc;
}

int md_jose_seal(const unsigned char kek[MD_SEAL_KEY_LEN], md_str_t aad, const void *pt, size_t n,
                 unsigned char **out, size_t *out_len)
{
    JOSE_OPENSSL_SCOPE(jose_seal(kek, aad, pt, n, out, out_len));
}

static int jose_unseal(const unsigned char *kek, md_str_t aad, const void *sealed, size_t n,
                       unsigned char **pt, size_t *pt_len)
{
    *pt = NULL;
    *pt_len = 0;
    if (n < MD_SEAL_OVERHEAD) return MD_JOSE_SEAL_BROKEN;
    if (n > INT32_MAX || aad.n > INT32_MAX) return MD_ELIMIT;
    const unsigned char *nonce = sealed, *ct = nonce + MD_SEAL_NONCE_LEN;
    size_t ct_len = n - MD_SEAL_OVERHEAD;
    unsigned char tag[MD_SEAL_TAG_LEN];
    memcpy(tag, ct + ct_len, MD_SEAL_TAG_LEN);
    int rc = MD_JOSE_CRYPTO, len = 0;
    EVP_CIPHER_CTX *ctx = NULL;
    unsigned char *buf = malloc(ct_len + 1);
    if (buf == NULL) return MD_ENOMEM;
    ctx = EVP_CIPHER_CTX_new();
    if (ctx == NULL) {
        rc = MD_ENOMEM;
        goto out;
    }
    if (EVP_DecryptInit_ex(ctx, EVP_aes_256_gcm(), NULL, NULL, NULL) != 1) goto out;
    if (EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_GCM_SET_IVLEN, MD_SEAL_NONCE_LEN, NULL) != 1) goto out;
    if (EVP_DecryptInit_ex(ctx, NULL, NULL, kek, nonce) != 1) goto out;
    if (aad.n > 0 && EVP_DecryptUpdate(ctx, NULL, &len, (const unsigned char *)aad.p, (int)aad.n) != 1)
        goto out;
    if (ct_len > 0 && EVP_DecryptUpdate(ctx, buf, &len, ct, (int)ct_len) != 1) goto out;
    if (EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_GCM_SET_TAG, MD_SEAL_TAG_LEN, tag) != 1) goto out;
    /* The tag is checked here (in constant time by OpenSSL); nothing of buf is
     * released unless it passes. */
    if (EVP_DecryptFinal_ex(ctx, buf + len, &len) != 1) {
        rc = MD_JOSE_SEAL_BROKEN;
        goto out;
    }
    buf[ct_len] = '\0';
    *pt = buf;
    *pt_len = ct_len;
    buf = NULL;
    rc = MD_OK;
out:
    EVP_CIPHER_CTX_free(ctx);
    md_jose_secret_free(buf, ct_len + 1);
    return rc;
}

int md_jose_unseal(const unsigned char kek[MD_SEAL_KEY_LEN], md_str_t aad, const void *sealed, size_t n,
                   unsigned char **pt, size_t *pt_len)
{
    JOSE_OPENSSL_SCOPE(jose_unseal(kek, aad, sealed, n, pt, pt_len));
}
