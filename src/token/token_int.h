/*
 * token_int.h: internals shared by the files of src/token/.  Not a contract:
 * nothing outside src/token/ includes this.
 */
#ifndef MD_TOKEN_INT_H
#define MD_TOKEN_INT_H

#include <openssl/err.h>
#include <openssl/evp.h>

#include "token/token.h"

/*
 * OpenSSL reports failures on the calling thread's error queue, where a later
 * TLS call on the same thread (SSL_get_error) would misread them.  Every public
 * function that calls OpenSSL runs its body through this, so it returns with
 * the queue exactly as it found it: the caller's own errors stay, ours go.
 */
#define JOSE_OPENSSL_SCOPE(call)                                                                             \
    do {                                                                                                     \
        ERR_set_mark();                                                                                      \
        int rc_ = (call);                                                                                    \
        ERR_pop_to_mark();                                                                                   \
        return rc_;                                                                                          \
    } while (0)

/* A key: an immutable OpenSSL key plus the JOSE metadata around it. */
struct md_jwk {
    md_jwk_type_t type;
    EVP_PKEY *pkey; /* owned (one reference); never modified after construction */
    bool priv;      /* pkey holds the private half */
    char *kid;      /* owned, NULL when absent */
    unsigned algs;  /* allow-list, a subset of jwk_type_algs(type) */
};

/* Every alg a key type can ever be used with. */
unsigned jwk_type_algs(md_jwk_type_t type);
/* alg (one bit) may be used with a key of this type. */
bool jwk_alg_fits(md_jwk_type_t type, md_jose_alg_t alg);
/* Same key family (EC, OKP, RSA) as the alg: false means key/alg type confusion. */
bool jwk_alg_same_family(md_jwk_type_t type, md_jose_alg_t alg);

/* Wrap pkey (reference taken over on success only) into a new key. */
int jwk_wrap(EVP_PKEY *pkey, bool priv, md_jwk_t **out, md_err_t *err);

/* Parse JSON text that must be an object: MD_OK, MD_JOSE_DUPLICATE_KEY,
 * MD_JOSE_MALFORMED or MD_ENOMEM.  Rejects NUL in strings. */
int jose_json_object(const char *text, size_t len, json_t **out);

/* Strict base64url of a value that must decode to exactly want bytes into buf. */
int jose_b64url_fixed(const char *s, unsigned char *buf, size_t want);

/* md_jws_verify(), which always refuses a high-S ECDSA signature, with that made optional
 * (md_jwt_verify_opts_t.allow_high_s). */
int jose_jws_verify(const md_jwk_t *const *keys, size_t nkeys, md_str_t token, unsigned algs, size_t max_len,
                    bool allow_high_s, md_jws_t *out, md_err_t *err);

/* ECDSA: raw R||S (2 * half bytes) <-> DER. */
int jose_ecdsa_raw_to_der(const unsigned char *raw, size_t n, unsigned char **der, size_t *der_len);
int jose_ecdsa_der_to_raw(const unsigned char *der, size_t der_len, unsigned char *raw, size_t half);

#endif
