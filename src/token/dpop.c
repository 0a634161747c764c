/*
 * dpop.c: DPoP proofs (RFC 9449) — verification, htu normalisation, the
 * sharded jti replay cache, and making proofs (see dpop.h).
 *
 * Invariants: md_dpop_verify() returns MD_OK only for a proof whose signature
 * verified with the public key in its own header, under an asymmetric alg
 * that fits that key, and whose every claim check asked for passed; the
 * signature is checked before any claim is read.  Secrets and bindings (ath,
 * jkt, nonce) are compared in constant time.  The replay cache never forgets
 * a (jkt, jti) pair while a proof carrying it can still be accepted: a live
 * entry is never evicted; when a shard has no room, new pairs are refused.
 */
#include "token/dpop.h"
#include "token/token_int.h"

#include <math.h>
#include <pthread.h>
#include <stdlib.h>

#include <openssl/crypto.h>
#include <openssl/rand.h>

#include "token/tcache.h"

/* 9999-12-31T23:59:59Z, as in jwt.c: times stay far from overflow. */
#define MAX_NUMERIC_DATE INT64_C(253402300799)
#define JKT_MAX 128

const char *md_dpop_err_name(int code)
{
    switch (code) {
    case MD_DPOP_BAD_TYP: return "MD_DPOP_BAD_TYP";
    case MD_DPOP_NO_JWK: return "MD_DPOP_NO_JWK";
    case MD_DPOP_PRIVATE_JWK: return "MD_DPOP_PRIVATE_JWK";
    case MD_DPOP_KEY_REFERENCE: return "MD_DPOP_KEY_REFERENCE";
    case MD_DPOP_MISSING_CLAIM: return "MD_DPOP_MISSING_CLAIM";
    case MD_DPOP_BAD_CLAIM: return "MD_DPOP_BAD_CLAIM";
    case MD_DPOP_HTM_MISMATCH: return "MD_DPOP_HTM_MISMATCH";
    case MD_DPOP_HTU_MISMATCH: return "MD_DPOP_HTU_MISMATCH";
    case MD_DPOP_IAT_TOO_OLD: return "MD_DPOP_IAT_TOO_OLD";
    case MD_DPOP_IAT_IN_FUTURE: return "MD_DPOP_IAT_IN_FUTURE";
    case MD_DPOP_ATH_MISSING: return "MD_DPOP_ATH_MISSING";
    case MD_DPOP_ATH_MISMATCH: return "MD_DPOP_ATH_MISMATCH";
    case MD_DPOP_JKT_MISMATCH: return "MD_DPOP_JKT_MISMATCH";
    case MD_DPOP_NONCE_MISSING: return "MD_DPOP_NONCE_MISSING";
    case MD_DPOP_NONCE_MISMATCH: return "MD_DPOP_NONCE_MISMATCH";
    case MD_DPOP_REPLAY: return "MD_DPOP_REPLAY";
    case MD_DPOP_REPLAY_FULL: return "MD_DPOP_REPLAY_FULL";
    default: return md_jose_err_name(code);
    }
}

/* ---------------------------------------------------------------- htu normalisation */

static bool is_alpha(unsigned char c)
{
    return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z');
}

static bool is_digit(unsigned char c)
{
    return c >= '0' && c <= '9';
}

static bool is_unreserved(unsigned char c)
{
    return is_alpha(c) || is_digit(c) || c == '-' || c == '.' || c == '_' || c == '~';
}

static bool is_sub_delim(unsigned char c)
{
    return c != '\0' && strchr("!$&'()*+,;=", c) != NULL;
}

static int hex_value(unsigned char c)
{
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
}

static unsigned char to_lower(unsigned char c)
{
    return (c >= 'A' && c <= 'Z') ? (unsigned char)(c - 'A' + 'a') : c;
}

/*
 * Append one URI component, normalised (RFC 3986 §6.2.2.1-2): a percent-encoded
 * unreserved character is decoded, any other percent-encoding keeps upper-case
 * hex; letters are lower-cased when `lower` (the host).  Allowed as they are:
 * unreserved, sub-delims and the characters of `extra`.  false for anything else.
 */
static bool add_component(md_buf_t *out, const char *s, size_t n, const char *extra, bool lower)
{
    static const char hex[] = "0123456789ABCDEF";
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c == '%') {
            if (i + 2 >= n) return false;
            int hi = hex_value((unsigned char)s[i + 1]), lo = hex_value((unsigned char)s[i + 2]);
            if (hi < 0 || lo < 0) return false;
            unsigned char v = (unsigned char)(hi << 4 | lo);
            i += 2;
            if (is_unreserved(v)) {
                md_buf_addc(out, (char)(lower ? to_lower(v) : v));
            } else {
                char enc[3] = {'%', hex[v >> 4], hex[v & 15]};
                md_buf_add(out, enc, 3);
            }
        } else if (is_unreserved(c) || is_sub_delim(c) || (c != '\0' && strchr(extra, c) != NULL)) {
            md_buf_addc(out, (char)(lower ? to_lower(c) : c));
        } else {
            return false;
        }
    }
    return true;
}

/* The path (normalised, from its leading '/') has no "." or ".." segment. */
static bool no_dot_segments(const char *path, size_t n)
{
    size_t start = 1;
    for (size_t i = 1; i <= n; i++) {
        if (i == n || path[i] == '/') {
            size_t len = i - start;
            if ((len == 1 && path[start] == '.') ||
                (len == 2 && path[start] == '.' && path[start + 1] == '.'))
                return false;
            start = i + 1;
        }
    }
    return true;
}

/*
 * Normalise an absolute http(s) URI into out (reset first) as
 * scheme "://" host [":" port] path, without query and fragment; see dpop.h
 * for the rules.  false when in is not such a URI or is refused.
 */
static bool htu_normalise(md_str_t in, md_buf_t *out)
{
    md_buf_reset(out);
    const char *s = in.p, *end = in.p + in.n;
    if (s == NULL || in.n == 0) return false;

    /* scheme */
    const char *colon = memchr(s, ':', in.n);
    if (colon == NULL) return false;
    char scheme[8];
    size_t slen = (size_t)(colon - s);
    if (slen == 0 || slen >= sizeof(scheme)) return false;
    for (size_t i = 0; i < slen; i++)
        scheme[i] = (char)to_lower((unsigned char)s[i]);
    scheme[slen] = '\0';
    bool https = strcmp(scheme, "https") == 0;
    if (!https && strcmp(scheme, "http") != 0) return false;
    s = colon + 1;
    if (end - s < 2 || s[0] != '/' || s[1] != '/') return false;
    s += 2;
    md_buf_adds(out, scheme);
    md_buf_adds(out, "://");

    /* authority: up to the path, query or fragment */
    const char *auth = s;
    while (s < end && *s != '/' && *s != '?' && *s != '#')
        s++;
    const char *auth_end = s;
    if (memchr(auth, '@', (size_t)(auth_end - auth)) != NULL) return false; /* userinfo */
    const char *port = NULL;
    if (auth < auth_end && *auth == '[') {
        /* IP-literal: IPv6 only (no IPvFuture, no zone id), hex lower-cased */
        const char *close = memchr(auth, ']', (size_t)(auth_end - auth));
        if (close == NULL || close == auth + 1) return false;
        for (const char *q = auth + 1; q < close; q++)
            if (hex_value((unsigned char)*q) < 0 && *q != ':' && *q != '.') return false;
        md_buf_addc(out, '[');
        for (const char *q = auth + 1; q < close; q++)
            md_buf_addc(out, (char)to_lower((unsigned char)*q));
        md_buf_addc(out, ']');
        if (close + 1 < auth_end) {
            if (close[1] != ':') return false;
            port = close + 2;
        }
    } else {
        const char *pc = memchr(auth, ':', (size_t)(auth_end - auth));
        const char *host_end = pc ? pc : auth_end;
        if (host_end == auth) return false; /* empty host */
        size_t before = out->n;
        if (!add_component(out, auth, (size_t)(host_end - auth), "", true)) return false;
        if (out->n == before) return false;
        if (pc) port = pc + 1;
    }
    if (port != NULL) {
        /* digits only; leading zeros dropped; empty or the scheme's default port left out */
        uint32_t v = 0;
        bool any = false;
        for (const char *q = port; q < auth_end; q++) {
            if (!is_digit((unsigned char)*q)) return false;
            v = v * 10 + (uint32_t)(*q - '0');
            if (v > 65535) return false;
            any = true;
        }
        if (any && v != (https ? 443u : 80u)) md_buf_printf(out, ":%u", v);
    }

    /* path: up to the query or fragment, which are ignored (RFC 9449 §4.3) */
    const char *path = s;
    while (s < end && *s != '?' && *s != '#')
        s++;
    size_t path_start = out->n;
    if (path == s) {
        md_buf_addc(out, '/'); /* RFC 3986 §6.2.3: an empty path is "/" */
    } else {
        if (!add_component(out, path, (size_t)(s - path), ":@/", false)) return false;
        if (out->oom) return false;
        if (!no_dot_segments(out->p + path_start, out->n - path_start)) return false;
    }
    return !out->oom;
}

/* ---------------------------------------------------------------- checks */

/* RFC 9110 §5.6.2 token: a method name. */
static bool is_token(md_str_t s)
{
    if (s.p == NULL || s.n == 0) return false;
    for (size_t i = 0; i < s.n; i++) {
        unsigned char c = (unsigned char)s.p[i];
        if (!is_alpha(c) && !is_digit(c) && (c == '\0' || strchr("!#$%&'*+-.^_`|~", c) == NULL)) return false;
    }
    return true;
}

/* Equal in constant time for equal lengths (lengths are not secret here). */
static bool ct_equal(const char *a, size_t an, const char *b, size_t bn)
{
    return an == bn && CRYPTO_memcmp(a, b, an) == 0;
}

/* base64url(SHA-256(bytes)): an ath, or a thumbprint of canonical JWK text. */
static int sha256_b64url(md_str_t token, char out[MD_DPOP_ATH_LEN + 1])
{
    unsigned char digest[32];
    unsigned int dlen = 0;
    if (EVP_Digest(token.p, token.n, digest, &dlen, EVP_sha256(), NULL) != 1 || dlen != 32)
        return MD_JOSE_CRYPTO;
    md_buf_t enc;
    md_buf_init(&enc);
    md_b64url_encode(&enc, digest, dlen);
    if (enc.oom || enc.n != MD_DPOP_ATH_LEN) {
        md_buf_free(&enc);
        return MD_ENOMEM;
    }
    memcpy(out, enc.p, MD_DPOP_ATH_LEN + 1);
    md_buf_free(&enc);
    return MD_OK;
}

int md_dpop_ath(md_str_t access_token, char out[MD_DPOP_ATH_LEN + 1])
{
    JOSE_OPENSSL_SCOPE(sha256_b64url(access_token, out));
}

/* A required string claim. */
static int claim_string(const json_t *claims, const char *name, const json_t **out, md_err_t *err)
{
    *out = json_object_get(claims, name);
    if (*out == NULL) return md_err_set(err, MD_DPOP_MISSING_CLAIM, "proof has no %s", name);
    if (!json_is_string(*out)) return md_err_set(err, MD_DPOP_BAD_CLAIM, "%s is not a string", name);
    return MD_OK;
}

/* An optional string claim: absent is fine, anything but a string is not. */
static int claim_opt_string(const json_t *claims, const char *name, const json_t **out, md_err_t *err)
{
    *out = json_object_get(claims, name);
    if (*out != NULL && !json_is_string(*out))
        return md_err_set(err, MD_DPOP_BAD_CLAIM, "%s is not a string", name);
    return MD_OK;
}

/* iat: integer or number in 0..MAX_NUMERIC_DATE; lo = floor, hi = ceil. */
static int claim_iat(const json_t *claims, int64_t *lo, int64_t *hi, md_err_t *err)
{
    const json_t *v = json_object_get(claims, "iat");
    if (v == NULL) return md_err_set(err, MD_DPOP_MISSING_CLAIM, "proof has no iat");
    if (json_is_integer(v)) {
        json_int_t i = json_integer_value(v);
        if (i < 0 || i > MAX_NUMERIC_DATE) return md_err_set(err, MD_DPOP_BAD_CLAIM, "iat is out of range");
        *lo = *hi = (int64_t)i;
        return MD_OK;
    }
    if (json_is_real(v)) {
        double d = json_real_value(v);
        if (!(d >= 0.0 && d <= (double)MAX_NUMERIC_DATE))
            return md_err_set(err, MD_DPOP_BAD_CLAIM, "iat is out of range");
        *lo = (int64_t)floor(d);
        *hi = (int64_t)ceil(d);
        return MD_OK;
    }
    return md_err_set(err, MD_DPOP_BAD_CLAIM, "iat is not a number");
}

/*
 * The RFC 7638 thumbprint of the jwk from its member strings, as RFC 7638 and
 * other implementations (npm jose) compute it.  Only after md_jwk_from_json()
 * accepted the jwk: its parser admits one spelling per key (fixed-length
 * strict base64url for EC and OKP, minimal strict base64url for RSA), so this
 * equals md_jwk_thumbprint() of the parsed key, without exporting the key
 * from OpenSSL (which costs as much as the import did).
 */
static int jkt_of_members(const json_t *jwk, md_jwk_type_t type, char out[MD_JWK_THUMBPRINT_LEN + 1])
{
#define MEMBER(name) json_string_value(json_object_get(jwk, name))
    md_buf_t canon;
    md_buf_init(&canon);
    if (type == MD_JWK_RSA)
        md_buf_printf(&canon, "{\"e\":\"%s\",\"kty\":\"RSA\",\"n\":\"%s\"}", MEMBER("e"), MEMBER("n"));
    else if (type == MD_JWK_ED25519)
        md_buf_printf(&canon, "{\"crv\":\"Ed25519\",\"kty\":\"OKP\",\"x\":\"%s\"}", MEMBER("x"));
    else
        md_buf_printf(&canon, "{\"crv\":\"%s\",\"kty\":\"EC\",\"x\":\"%s\",\"y\":\"%s\"}", MEMBER("crv"),
                      MEMBER("x"), MEMBER("y"));
#undef MEMBER
    int rc = canon.oom ? MD_ENOMEM : sha256_b64url((md_str_t){canon.p, canon.n}, out);
    md_buf_free(&canon);
    return rc;
}

/* Header members that name a key other than by the embedded jwk. */
static const char *const key_refs[] = {"kid", "jku", "x5u", "x5c", "x5t", "x5t#S256"};
/* JWK members that are (part of) a private or secret key, in any kty. */
static const char *const private_members[] = {"d", "p", "q", "dp", "dq", "qi", "oth", "k"};

static int check_params(const md_dpop_params_t *p, md_buf_t *want_htu, size_t *max_len, int64_t *max_age,
                        md_err_t *err)
{
    if (p == NULL || p->now <= 0 || p->now > MAX_NUMERIC_DATE || p->skew < 0 || p->skew > MD_JWT_MAX_SKEW ||
        p->max_age < 0 || p->max_age > MD_DPOP_MAX_AGE_LIMIT || p->max_len > MD_DPOP_MAX_LEN_LIMIT ||
        (p->algs & ~MD_JOSE_ALGS_ALL) != 0)
        return md_err_set(err, MD_EINVAL, "DPoP verification needs now > 0, skew 0..%d, max_age 0..%d",
                          MD_JWT_MAX_SKEW, MD_DPOP_MAX_AGE_LIMIT);
    if (!is_token(p->htm)) return md_err_set(err, MD_EINVAL, "the request method is not an HTTP token");
    if (!htu_normalise(p->htu, want_htu)) {
        if (want_htu->oom) return md_err_set(err, MD_ENOMEM, "out of memory");
        return md_err_set(err, MD_EINVAL, "the request URI is not an absolute http(s) URI we accept");
    }
    if (p->access_token.p != NULL && (p->access_token.n == 0 || p->jkt.p == NULL))
        return md_err_set(err, MD_EINVAL, "an access token presented with DPoP needs its cnf.jkt");
    if (p->nnonces > MD_DPOP_NONCES_MAX || (p->nnonces > 0 && p->nonces == NULL))
        return md_err_set(err, MD_EINVAL, "at most %d nonces", MD_DPOP_NONCES_MAX);
    for (size_t i = 0; i < p->nnonces; i++)
        if (p->nonces[i].p == NULL || p->nonces[i].n == 0)
            return md_err_set(err, MD_EINVAL, "a server nonce must not be empty");
    *max_len = p->max_len ? p->max_len : MD_DPOP_MAX_LEN_DEFAULT;
    *max_age = p->max_age ? p->max_age : MD_DPOP_MAX_AGE_DEFAULT;
    return MD_OK;
}

/* The protected header: typ, alg, no key reference, a public jwk fit for alg.  *key is the caller's. */
static int check_header(const md_dpop_params_t *p, const json_t *header, md_jose_alg_t *alg, md_jwk_t **key,
                        md_err_t *err)
{
    const json_t *typ = json_object_get(header, "typ");
    if (!json_is_string(typ) || strcmp(json_string_value(typ), "dpop+jwt") != 0 ||
        json_string_length(typ) != strlen("dpop+jwt"))
        return md_err_set(err, MD_DPOP_BAD_TYP, "typ is not \"dpop+jwt\"");

    const json_t *jalg = json_object_get(header, "alg");
    if (!json_is_string(jalg)) return md_err_set(err, MD_JOSE_MALFORMED, "header has no string alg");
    int rc = md_jose_alg_from_name((md_str_t){json_string_value(jalg), json_string_length(jalg)}, alg);
    if (rc != MD_OK)
        return md_err_set(err, rc,
                          rc == MD_JOSE_ALG_NONE ? "alg none is never accepted"
                                                 : "alg is not a supported asymmetric algorithm");
    if (((p->algs ? p->algs : MD_JOSE_ALGS_ALL) & (unsigned)*alg) == 0)
        return md_err_set(err, MD_JOSE_ALG_NOT_ALLOWED, "%s is not accepted for DPoP here",
                          md_jose_alg_name(*alg));

    for (size_t i = 0; i < sizeof(key_refs) / sizeof(key_refs[0]); i++)
        if (json_object_get(header, key_refs[i]) != NULL)
            return md_err_set(err, MD_DPOP_KEY_REFERENCE, "header has %s: a DPoP key is given by jwk only",
                              key_refs[i]);

    const json_t *jwk = json_object_get(header, "jwk");
    if (!json_is_object(jwk)) return md_err_set(err, MD_DPOP_NO_JWK, "header has no jwk object");
    for (size_t i = 0; i < sizeof(private_members) / sizeof(private_members[0]); i++)
        if (json_object_get(jwk, private_members[i]) != NULL)
            return md_err_set(err, MD_DPOP_PRIVATE_JWK, "jwk has the private member %s", private_members[i]);
    if ((rc = md_jwk_from_json(jwk, key, err)) != MD_OK) return rc;
    if (!jwk_alg_fits((*key)->type, *alg) || ((*key)->algs & (unsigned)*alg) == 0)
        return md_err_set(err, MD_JOSE_KEY_MISMATCH, "%s does not fit the jwk", md_jose_alg_name(*alg));
    return MD_OK;
}

static int dpop_verify(const md_dpop_params_t *p, md_dpop_result_t *out, md_err_t *err)
{
    md_buf_t want_htu, got_htu;
    md_buf_init(&want_htu);
    md_buf_init(&got_htu);
    unsigned char *hbuf = NULL;
    size_t hlen = 0, max_len = 0;
    int64_t max_age = 0;
    json_t *header = NULL, *claims = NULL;
    md_jwk_t *key = NULL;
    md_jws_t jws = {0};
    md_jose_alg_t alg = 0;
    md_dpop_result_t res;
    memset(&res, 0, sizeof(res));

    int rc = check_params(p, &want_htu, &max_len, &max_age, err);
    if (rc != MD_OK) goto out;
    const md_str_t proof = p->proof;
    if (proof.n > max_len) {
        rc = md_err_set(err, MD_JOSE_TOO_LARGE, "proof over %zu bytes", max_len);
        goto out;
    }
    const char *d1 = proof.p ? memchr(proof.p, '.', proof.n) : NULL;
    const char *d2 = d1 ? memchr(d1 + 1, '.', (size_t)(proof.p + proof.n - d1 - 1)) : NULL;
    if (d1 == NULL || d2 == NULL || memchr(d2 + 1, '.', (size_t)(proof.p + proof.n - d2 - 1)) != NULL) {
        rc = md_err_set(err, MD_JOSE_MALFORMED, "a DPoP proof is a compact JWS of three segments");
        goto out;
    }
    if ((rc = md_b64url_decode((md_str_t){proof.p, (size_t)(d1 - proof.p)}, &hbuf, &hlen)) != MD_OK) {
        md_err_set(err, rc, "the header is not strict base64url");
        goto out;
    }
    if ((rc = jose_json_object((const char *)hbuf, hlen, &header)) != MD_OK) {
        md_err_set(err, rc, "header is not a JSON object without duplicate members");
        goto out;
    }
    if ((rc = check_header(p, header, &alg, &key, err)) != MD_OK) goto out;

    /* High-S ECDSA accepted: see dpop.h (replay is keyed by jkt and jti, not by the bytes). */
    const md_jwk_t *keys[1] = {key};
    rc = jose_jws_verify(keys, 1, proof, (unsigned)alg, max_len, true, &jws, err);
    if (rc != MD_OK) goto out;
    if ((rc = jose_json_object((const char *)jws.payload, jws.payload_len, &claims)) != MD_OK) {
        md_err_set(err, rc, "payload is not a JSON object without duplicate members");
        goto out;
    }

    /* presence and types first, then the comparisons */
    const json_t *jti, *htm, *htu, *ath, *nonce;
    int64_t iat_lo = 0, iat_hi = 0;
    if ((rc = claim_string(claims, "jti", &jti, err)) != MD_OK) goto out;
    if ((rc = claim_string(claims, "htm", &htm, err)) != MD_OK) goto out;
    if ((rc = claim_string(claims, "htu", &htu, err)) != MD_OK) goto out;
    if ((rc = claim_iat(claims, &iat_lo, &iat_hi, err)) != MD_OK) goto out;
    if ((rc = claim_opt_string(claims, "ath", &ath, err)) != MD_OK) goto out;
    if ((rc = claim_opt_string(claims, "nonce", &nonce, err)) != MD_OK) goto out;
    size_t jti_len = json_string_length(jti);
    if (jti_len == 0 || jti_len > MD_DPOP_JTI_MAX) {
        rc = md_err_set(err, MD_DPOP_BAD_CLAIM, "jti must be 1..%d bytes", MD_DPOP_JTI_MAX);
        goto out;
    }
    if (!htu_normalise((md_str_t){json_string_value(htu), json_string_length(htu)}, &got_htu)) {
        rc = got_htu.oom ? md_err_set(err, MD_ENOMEM, "out of memory")
                         : md_err_set(err, MD_DPOP_BAD_CLAIM, "htu is not an absolute http(s) URI we accept");
        goto out;
    }

    if (!md_str_eq((md_str_t){json_string_value(htm), json_string_length(htm)}, p->htm)) {
        rc = md_err_set(err, MD_DPOP_HTM_MISMATCH, "htm is not the request's method");
        goto out;
    }
    if (!md_str_eq((md_str_t){got_htu.p, got_htu.n}, (md_str_t){want_htu.p, want_htu.n})) {
        rc = md_err_set(err, MD_DPOP_HTU_MISMATCH, "htu is not the request's URI");
        goto out;
    }
    if (iat_lo < p->now - max_age - p->skew) {
        rc = md_err_set(err, MD_DPOP_IAT_TOO_OLD, "proof is older than %lld s", (long long)max_age);
        goto out;
    }
    if (iat_hi > p->now + p->skew) {
        rc = md_err_set(err, MD_DPOP_IAT_IN_FUTURE, "proof iat is in the future");
        goto out;
    }
    if (p->access_token.p != NULL) {
        char want[MD_DPOP_ATH_LEN + 1];
        if (ath == NULL) {
            rc = md_err_set(err, MD_DPOP_ATH_MISSING, "proof has no ath for the access token");
            goto out;
        }
        if ((rc = sha256_b64url(p->access_token, want)) != MD_OK) {
            md_err_set(err, rc, "hashing the access token failed");
            goto out;
        }
        if (!ct_equal(json_string_value(ath), json_string_length(ath), want, MD_DPOP_ATH_LEN)) {
            rc = md_err_set(err, MD_DPOP_ATH_MISMATCH, "ath is not the hash of the access token");
            goto out;
        }
    }
    if ((rc = jkt_of_members(json_object_get(header, "jwk"), md_jwk_type(key), res.jkt)) != MD_OK) {
        md_err_set(err, rc, "thumbprint failed");
        goto out;
    }
    if (p->jkt.p != NULL && !ct_equal(res.jkt, MD_JWK_THUMBPRINT_LEN, p->jkt.p, p->jkt.n)) {
        rc = md_err_set(err, MD_DPOP_JKT_MISMATCH, "proof key is not the key the token is bound to");
        goto out;
    }
    if (p->nnonces > 0) {
        if (nonce == NULL) {
            rc = md_err_set(err, MD_DPOP_NONCE_MISSING, "proof has no nonce and the server requires one");
            goto out;
        }
        bool ok = false;
        for (size_t i = 0; i < p->nnonces; i++) /* no early exit: every nonce is compared */
            ok |=
                ct_equal(json_string_value(nonce), json_string_length(nonce), p->nonces[i].p, p->nonces[i].n);
        if (!ok) {
            rc = md_err_set(err, MD_DPOP_NONCE_MISMATCH, "proof nonce is not a current server nonce");
            goto out;
        }
    }

    memcpy(res.jti, json_string_value(jti), jti_len);
    res.jti[jti_len] = '\0';
    res.jti_len = jti_len;
    res.iat = iat_lo;
    res.replay_until = iat_lo + max_age + p->skew;
    res.alg = alg;
    *out = res;
    rc = MD_OK;
out:
    json_decref(header);
    json_decref(claims);
    md_jws_free(&jws);
    md_jwk_free(key);
    free(hbuf);
    md_buf_free(&want_htu);
    md_buf_free(&got_htu);
    return rc;
}

int md_dpop_verify(const md_dpop_params_t *p, md_dpop_result_t *out, md_err_t *err)
{
    JOSE_OPENSSL_SCOPE(dpop_verify(p, out, err));
}

/* ---------------------------------------------------------------- making a proof */

static int dpop_sign(const md_jwk_t *key, md_jose_alg_t alg, md_str_t htm, md_str_t htu, int64_t iat,
                     const char *jti, md_str_t access_token, md_str_t nonce, md_buf_t *out, md_err_t *err)
{
    if (htm.p == NULL || htm.n == 0 || htu.p == NULL || htu.n == 0 || iat < 0 || iat > MAX_NUMERIC_DATE)
        return md_err_set(err, MD_EINVAL, "a DPoP proof needs a method, a URI and an iat");
    if (jti != NULL && (jti[0] == '\0' || strlen(jti) > MD_DPOP_JTI_MAX))
        return md_err_set(err, MD_EINVAL, "jti must be 1..%d bytes", MD_DPOP_JTI_MAX);
    int rc = MD_ENOMEM;
    json_t *jwk = NULL, *header = NULL, *claims = NULL;
    char *body = NULL;
    md_buf_t gen;
    md_buf_init(&gen);
    if ((rc = md_jwk_to_json(key, &jwk)) != MD_OK) goto out;
    /* only the key's public members: a verifier needs nothing else, and a kid would be a second name */
    json_object_del(jwk, "kid");
    json_object_del(jwk, "use");
    json_object_del(jwk, "alg");
    rc = MD_ENOMEM;
    if ((header = json_object()) == NULL ||
        json_object_set_new(header, "typ", json_string("dpop+jwt")) != 0 ||
        json_object_set(header, "jwk", jwk) != 0)
        goto out;
    if (jti == NULL) {
        unsigned char raw[16];
        if (RAND_bytes(raw, sizeof(raw)) != 1) {
            rc = md_err_set(err, MD_JOSE_CRYPTO, "no randomness for the jti");
            goto out;
        }
        md_b64url_encode(&gen, raw, sizeof(raw));
        if (gen.oom) goto out;
        jti = gen.p;
    }
    if ((claims = json_object()) == NULL || json_object_set_new(claims, "jti", json_string(jti)) != 0 ||
        json_object_set_new(claims, "htm", json_stringn(htm.p, htm.n)) != 0 ||
        json_object_set_new(claims, "htu", json_stringn(htu.p, htu.n)) != 0 ||
        json_object_set_new(claims, "iat", json_integer((json_int_t)iat)) != 0)
        goto out;
    if (access_token.p != NULL) {
        char ath[MD_DPOP_ATH_LEN + 1];
        if ((rc = sha256_b64url(access_token, ath)) != MD_OK) goto out;
        rc = MD_ENOMEM;
        if (json_object_set_new(claims, "ath", json_string(ath)) != 0) goto out;
    }
    if (nonce.p != NULL && json_object_set_new(claims, "nonce", json_stringn(nonce.p, nonce.n)) != 0)
        goto out;
    if ((body = json_dumps(claims, JSON_COMPACT)) == NULL) goto out;
    rc = md_jws_sign(key, alg, header, md_str_c(body), out, err);
out:
    if (rc == MD_ENOMEM) md_err_set(err, rc, "out of memory");
    if (rc == MD_JOSE_CRYPTO) md_err_set(err, rc, "making the proof failed");
    json_decref(jwk);
    json_decref(header);
    json_decref(claims);
    free(body);
    md_buf_free(&gen);
    return rc;
}

int md_dpop_sign(const md_jwk_t *key, md_jose_alg_t alg, md_str_t htm, md_str_t htu, int64_t iat,
                 const char *jti, md_str_t access_token, md_str_t nonce, md_buf_t *out, md_err_t *err)
{
    JOSE_OPENSSL_SCOPE(dpop_sign(key, alg, htm, htu, iat, jti, access_token, nonce, out, err));
}

/* ---------------------------------------------------------------- replay cache */

/*
 * Each shard: an open-addressed table (linear probing) of 2 * cap slots,
 * holding at most cap entries, so a probe always ends at an empty slot.
 * until == 0 marks an empty slot; an entry with until < now is dead and its
 * slot may be taken by the next insert whose probe passes it.  min_until is
 * a lower bound of every entry's until: while now <= min_until nothing has
 * expired, so a full shard is not scanned again before then.  Purging
 * deletes dead entries with backward shifting (Knuth, TAOCP 6.4 Algorithm
 * R), which keeps every live entry reachable from its home slot.
 */
#define MAX_SHARDS 64
#define MIN_SHARD_CAP 256
#define MAX_CAPACITY ((size_t)1 << 26)

typedef struct slot {
    uint64_t h1, h2;
    int64_t until; /* 0: empty */
} slot_t;

typedef struct shard {
    _Alignas(64) pthread_mutex_t mu;
    slot_t *slots; /* owned: mask + 1 slots */
    size_t mask;
    size_t used; /* non-empty slots, live or dead */
    size_t cap;  /* most non-empty slots */
    int64_t min_until;
    uint64_t added, replays, full;
} shard_t;

struct md_dpop_replay {
    unsigned char k1[16], k2[16]; /* SipHash keys: slot hash and confirmation hash */
    shard_t *shards;              /* owned: nshards */
    size_t nshards;
};

md_dpop_replay_t *md_dpop_replay_new(size_t capacity)
{
    if (capacity == 0 || capacity > MAX_CAPACITY) return NULL;
    size_t nshards = 1;
    while (nshards < MAX_SHARDS && capacity / (nshards * 2) >= MIN_SHARD_CAP)
        nshards *= 2;
    size_t cap = (capacity + nshards - 1) / nshards, nslots = 2;
    while (nslots < 2 * cap)
        nslots *= 2;
    md_dpop_replay_t *r = calloc(1, sizeof(*r));
    if (r == NULL) return NULL;
    r->shards = aligned_alloc(64, nshards * sizeof(shard_t));
    if (r->shards == NULL || RAND_bytes(r->k1, sizeof(r->k1)) != 1 || RAND_bytes(r->k2, sizeof(r->k2)) != 1) {
        free(r->shards);
        free(r);
        return NULL;
    }
    memset(r->shards, 0, nshards * sizeof(shard_t));
    for (size_t i = 0; i < nshards; i++) {
        shard_t *s = &r->shards[i];
        s->slots = calloc(nslots, sizeof(slot_t));
        if (s->slots == NULL || pthread_mutex_init(&s->mu, NULL) != 0) {
            free(s->slots);
            r->nshards = i;
            md_dpop_replay_free(r);
            return NULL;
        }
        s->mask = nslots - 1;
        s->cap = cap;
        s->min_until = INT64_MAX;
        r->nshards = i + 1;
    }
    return r;
}

void md_dpop_replay_free(md_dpop_replay_t *r)
{
    if (r == NULL) return;
    for (size_t i = 0; i < r->nshards; i++) {
        pthread_mutex_destroy(&r->shards[i].mu);
        free(r->shards[i].slots);
    }
    free(r->shards);
    OPENSSL_cleanse(r->k1, sizeof(r->k1));
    OPENSSL_cleanse(r->k2, sizeof(r->k2));
    free(r);
}

/* Empty slot i, shifting back later entries of its cluster that may not stay behind the hole. */
static void slot_delete(shard_t *s, size_t i)
{
    size_t j = i;
    for (;;) {
        s->slots[i].until = 0;
        for (;;) {
            j = (j + 1) & s->mask;
            if (s->slots[j].until == 0) return;
            size_t k = s->slots[j].h1 & s->mask; /* home of the entry at j */
            /* it stays when its home lies cyclically in (i, j] */
            bool stays = i <= j ? (i < k && k <= j) : (i < k || k <= j);
            if (!stays) break;
        }
        s->slots[i] = s->slots[j];
        i = j;
    }
}

/* Delete every dead entry; recompute min_until over what remains. */
static void shard_purge(shard_t *s, int64_t now)
{
    for (size_t i = 0; i <= s->mask; i++) {
        while (s->slots[i].until != 0 && s->slots[i].until < now) {
            slot_delete(s, i);
            s->used--;
        }
    }
    s->min_until = INT64_MAX;
    for (size_t i = 0; i <= s->mask; i++)
        if (s->slots[i].until != 0 && s->slots[i].until < s->min_until) s->min_until = s->slots[i].until;
}

static int shard_add(shard_t *s, uint64_t h1, uint64_t h2, int64_t until, int64_t now)
{
    size_t i = h1 & s->mask, reuse = SIZE_MAX;
    for (; s->slots[i].until != 0; i = (i + 1) & s->mask) {
        slot_t *e = &s->slots[i];
        if (e->until < now) {
            if (reuse == SIZE_MAX) reuse = i;
        } else if (e->h1 == h1 && e->h2 == h2) {
            s->replays++;
            return MD_DPOP_REPLAY;
        }
    }
    if (reuse == SIZE_MAX) {
        if (s->used >= s->cap && now > s->min_until) {
            shard_purge(s, now);
            /* the pair is still absent (purging only deletes); find the empty slot again */
            for (i = h1 & s->mask; s->slots[i].until != 0; i = (i + 1) & s->mask) {}
        }
        if (s->used >= s->cap) {
            s->full++;
            return MD_DPOP_REPLAY_FULL;
        }
        reuse = i;
        s->used++;
    }
    s->slots[reuse] = (slot_t){h1, h2, until};
    if (until < s->min_until) s->min_until = until;
    s->added++;
    return MD_OK;
}

int md_dpop_replay_check_and_add(md_dpop_replay_t *r, md_str_t jkt, md_str_t jti, int64_t until, int64_t now)
{
    if (r == NULL || jkt.p == NULL || jkt.n == 0 || jkt.n > JKT_MAX || jti.p == NULL || jti.n == 0 ||
        jti.n > MD_DPOP_JTI_MAX || now <= 0 || until < now ||
        until - now > MD_DPOP_MAX_AGE_LIMIT + 2 * MD_JWT_MAX_SKEW)
        return MD_EINVAL;
    /* length-prefixed, so that no two (jkt, jti) pairs give the same bytes */
    unsigned char buf[1 + JKT_MAX + MD_DPOP_JTI_MAX];
    buf[0] = (unsigned char)jkt.n;
    memcpy(buf + 1, jkt.p, jkt.n);
    memcpy(buf + 1 + jkt.n, jti.p, jti.n);
    size_t n = 1 + jkt.n + jti.n;
    uint64_t h1 = md_siphash24(r->k1, buf, n), h2 = md_siphash24(r->k2, buf, n);
    /* until == 0 marks an empty slot; until >= now > 0 here */
    shard_t *s = &r->shards[(h2 >> 32) & (r->nshards - 1)];
    pthread_mutex_lock(&s->mu);
    int rc = shard_add(s, h1, h2, until, now);
    pthread_mutex_unlock(&s->mu);
    return rc;
}

md_dpop_replay_stats_t md_dpop_replay_stats(md_dpop_replay_t *r)
{
    md_dpop_replay_stats_t st = {0};
    for (size_t i = 0; i < r->nshards; i++) {
        shard_t *s = &r->shards[i];
        pthread_mutex_lock(&s->mu);
        st.added += s->added;
        st.replays += s->replays;
        st.full += s->full;
        st.capacity += s->cap;
        pthread_mutex_unlock(&s->mu);
    }
    return st;
}
