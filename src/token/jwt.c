/*
 * jwt.c: JWT (RFC 7519) signing and strict verification on top of jws.c.
 *
 * Invariant: md_jwt_verify() returns MD_OK only for a token whose signature
 * verified with a known key under an allowed alg AND whose every configured
 * or registered claim check passed; each refusal has its own code.  Time
 * checks use only opts->now (an injected clock) and at most
 * MD_JWT_MAX_SKEW seconds of leeway.
 */
#include "token/token_int.h"

#include <math.h>
#include <stdlib.h>
#include <strings.h>

/* 9999-12-31T23:59:59Z: no NumericDate beyond it is meaningful, and keeping
 * every time below it makes now + skew and exp + skew overflow-free. */
#define MAX_NUMERIC_DATE INT64_C(253402300799)

void md_jwt_free(md_jwt_t *jwt)
{
    if (jwt == NULL) return;
    json_decref(jwt->header);
    json_decref(jwt->claims);
    memset(jwt, 0, sizeof(*jwt));
}

/* RFC 7515 §4.1.9: media types compare case-insensitively, and "application/"
 * may be left out. */
static bool typ_matches(const char *got, const char *want)
{
    static const char app[] = "application/";
    const size_t napp = sizeof(app) - 1;
    if (strncasecmp(got, app, napp) == 0) got += napp;
    if (strncasecmp(want, app, napp) == 0) want += napp;
    return strcasecmp(got, want) == 0;
}

enum { ROUND_DOWN, ROUND_UP };

/* A NumericDate claim: absent (*present = false), or an integer or number in
 * 0..MAX_NUMERIC_DATE.  Fractions round toward the stricter side for the
 * claim (exp down, nbf and iat up). */
static int numeric_date(const json_t *claims, const char *name, int round, int64_t *value, bool *present,
                        md_err_t *err)
{
    *value = 0;
    *present = false;
    const json_t *v = json_object_get(claims, name);
    if (v == NULL) return MD_OK;
    if (json_is_integer(v)) {
        json_int_t i = json_integer_value(v);
        if (i < 0 || i > MAX_NUMERIC_DATE)
            return md_err_set(err, MD_JOSE_BAD_CLAIM, "%s is out of range", name);
        *value = (int64_t)i;
    } else if (json_is_real(v)) {
        double d = json_real_value(v);
        if (!(d >= 0.0 && d <= (double)MAX_NUMERIC_DATE))
            return md_err_set(err, MD_JOSE_BAD_CLAIM, "%s is out of range", name);
        *value = (int64_t)(round == ROUND_DOWN ? floor(d) : ceil(d));
    } else {
        return md_err_set(err, MD_JOSE_BAD_CLAIM, "%s is not a number", name);
    }
    *present = true;
    return MD_OK;
}

static int check_times(const json_t *claims, const md_jwt_verify_opts_t *opts, md_jwt_t *out, md_err_t *err)
{
    bool has_exp, has_nbf, has_iat;
    int rc;
    if ((rc = numeric_date(claims, "exp", ROUND_DOWN, &out->exp, &has_exp, err)) != MD_OK) return rc;
    if ((rc = numeric_date(claims, "nbf", ROUND_UP, &out->nbf, &has_nbf, err)) != MD_OK) return rc;
    if ((rc = numeric_date(claims, "iat", ROUND_UP, &out->iat, &has_iat, err)) != MD_OK) return rc;
    if (!has_exp && !opts->exp_optional) return md_err_set(err, MD_JOSE_MISSING_CLAIM, "token has no exp");
    if (!has_iat && opts->require_iat) return md_err_set(err, MD_JOSE_MISSING_CLAIM, "token has no iat");
    const int64_t now = opts->now, skew = opts->skew;
    if (has_exp && now >= out->exp + skew) return md_err_set(err, MD_JOSE_EXPIRED, "token has expired");
    if (has_nbf && now + skew < out->nbf)
        return md_err_set(err, MD_JOSE_NOT_YET_VALID, "token is not valid yet");
    if (has_iat && out->iat > now + skew)
        return md_err_set(err, MD_JOSE_ISSUED_IN_FUTURE, "token iat is in the future");
    return MD_OK;
}

static int check_strings(const json_t *claims, const md_jwt_verify_opts_t *opts, md_err_t *err)
{
    const json_t *iss = json_object_get(claims, "iss");
    if (iss != NULL && !json_is_string(iss)) return md_err_set(err, MD_JOSE_BAD_CLAIM, "iss is not a string");
    if (opts->iss != NULL && (iss == NULL || strcmp(json_string_value(iss), opts->iss) != 0))
        return md_err_set(err, MD_JOSE_BAD_ISSUER, "iss is not the expected issuer");

    const json_t *aud = json_object_get(claims, "aud");
    bool aud_ok = false;
    if (json_is_string(aud)) {
        aud_ok = opts->aud != NULL && strcmp(json_string_value(aud), opts->aud) == 0;
    } else if (json_is_array(aud)) {
        size_t i;
        const json_t *v;
        json_array_foreach(aud, i, v)
        {
            if (!json_is_string(v)) return md_err_set(err, MD_JOSE_BAD_CLAIM, "aud holds a non-string");
            if (opts->aud != NULL && strcmp(json_string_value(v), opts->aud) == 0) aud_ok = true;
        }
    } else if (aud != NULL) {
        return md_err_set(err, MD_JOSE_BAD_CLAIM, "aud is neither a string nor an array");
    }
    if (aud == NULL && opts->aud != NULL) return md_err_set(err, MD_JOSE_BAD_AUDIENCE, "token has no aud");
    if (aud != NULL && !aud_ok)
        return md_err_set(err, MD_JOSE_BAD_AUDIENCE,
                          opts->aud ? "aud does not name this audience"
                                    : "token has an aud and none was expected");

    const json_t *sub = json_object_get(claims, "sub"), *jti = json_object_get(claims, "jti");
    if (sub != NULL && !json_is_string(sub)) return md_err_set(err, MD_JOSE_BAD_CLAIM, "sub is not a string");
    if (jti != NULL && !json_is_string(jti)) return md_err_set(err, MD_JOSE_BAD_CLAIM, "jti is not a string");
    return MD_OK;
}

int md_jwt_verify(const md_jwk_t *const *keys, size_t nkeys, md_str_t token, const md_jwt_verify_opts_t *opts,
                  md_jwt_t *out, md_err_t *err)
{
    memset(out, 0, sizeof(*out));
    if (opts == NULL || opts->now <= 0 || opts->now > MAX_NUMERIC_DATE || opts->skew < 0 ||
        opts->skew > MD_JWT_MAX_SKEW)
        return md_err_set(err, MD_EINVAL, "verification needs now > 0 and a skew of 0..%d s",
                          MD_JWT_MAX_SKEW);

    md_jws_t jws = {0};
    md_jwt_t jwt = {0};
    int rc = jose_jws_verify(keys, nkeys, token, opts->algs, opts->max_len, opts->allow_high_s, &jws, err);
    if (rc != MD_OK) return rc;
    rc = jose_json_object((const char *)jws.payload, jws.payload_len, &jwt.claims);
    if (rc != MD_OK) {
        md_err_set(err, rc, "payload is not a JSON object without duplicate members");
        goto out;
    }
    jwt.header = json_incref(jws.header);
    jwt.alg = jws.alg;
    jwt.key = jws.key;

    const json_t *typ = json_object_get(jwt.header, "typ");
    if (typ != NULL && !json_is_string(typ)) {
        rc = md_err_set(err, MD_JOSE_MALFORMED, "typ is not a string");
        goto out;
    }
    if (opts->typ != NULL && (typ == NULL || !typ_matches(json_string_value(typ), opts->typ))) {
        rc = md_err_set(err, MD_JOSE_BAD_TYPE, "typ is not the expected type");
        goto out;
    }
    if ((rc = check_times(jwt.claims, opts, &jwt, err)) != MD_OK) goto out;
    if ((rc = check_strings(jwt.claims, opts, err)) != MD_OK) goto out;
    *out = jwt;
    memset(&jwt, 0, sizeof(jwt));
out:
    md_jwt_free(&jwt);
    md_jws_free(&jws);
    return rc;
}

int md_jwt_sign(const md_jwk_t *key, md_jose_alg_t alg, const char *typ, const json_t *claims, md_buf_t *out,
                md_err_t *err)
{
    if (!json_is_object(claims)) return md_err_set(err, MD_EINVAL, "claims must be a JSON object");
    int rc = MD_ENOMEM;
    char *body = NULL;
    json_t *h = json_object();
    if (h == NULL || json_object_set_new(h, "typ", json_string(typ ? typ : "JWT")) != 0) goto out;
    if (key->kid != NULL && json_object_set_new(h, "kid", json_string(key->kid)) != 0) goto out;
    if ((body = json_dumps(claims, JSON_COMPACT)) == NULL) goto out;
    rc = md_jws_sign(key, alg, h, md_str_c(body), out, err);
out:
    if (rc == MD_ENOMEM) md_err_set(err, rc, "out of memory");
    json_decref(h);
    free(body);
    return rc;
}
