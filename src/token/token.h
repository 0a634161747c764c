/*
 * token: JOSE on OpenSSL 3 EVP — JWK/JWKS, JWS compact, strict JWT
 * verification, JWT signing, and a signing key set with rotation.
 *
 * Algorithms: sign ES256 (default) and EdDSA (Ed25519); ES384, RS256 and
 * PS256 signing exists for interoperability tests; verify ES256, ES384,
 * EdDSA, RS256, PS256.  Never: "none", HS* (no symmetric key is ever
 * accepted, so a public key can never be turned into an HMAC secret), ES512,
 * RSA keys below 2048 bits.
 *
 * Conventions (see core.h): functions that can fail return MD_OK or a
 * negative code and fill *err (may be NULL) once.  Every refusal of a token
 * has its own MD_JOSE_* code; md_jose_err_name() names it.  Outputs are
 * written only on success; on failure they are left empty (NULL / zero),
 * never half-filled.  Messages never contain the token, key material or any
 * attacker-chosen string.
 *
 * OpenSSL's per-thread error queue is left as the caller had it: whatever
 * OpenSSL reports inside these functions is removed before they return (a
 * stale error would confuse a later SSL_get_error() on the same thread).
 *
 * Thread safety: a key (md_jwk_t) and a key set are read-only after
 * construction except through the functions documented as modifying them;
 * concurrent readers are safe, a writer needs exclusive access.
 */
#ifndef MD_TOKEN_H
#define MD_TOKEN_H

#include <jansson.h>

#include "core/core.h"

/* ---------------------------------------------------------------- status codes */

/* Token and key refusals.  The range -100..-149 belongs to this module. */
enum {
    MD_JOSE_MALFORMED = -100,    /* not three segments, not JSON, not an object, a member of the wrong type */
    MD_JOSE_TOO_LARGE = -101,    /* over the size limit; refused before any decoding */
    MD_JOSE_BAD_ENCODING = -102, /* not strict base64url (padding, '+', '/', whitespace, stray bits) */
    MD_JOSE_DUPLICATE_KEY = -103,    /* a JSON object has the same member twice */
    MD_JOSE_ALG_NONE = -104,         /* "alg": "none" in any letter case */
    MD_JOSE_ALG_UNSUPPORTED = -105,  /* HS256/HS384/HS512, ES512, or a name we do not know */
    MD_JOSE_ALG_NOT_ALLOWED = -106,  /* a supported alg outside the key's (or caller's) allow-list */
    MD_JOSE_KEY_MISMATCH = -107,     /* alg of another key type (RS256 on an EC key, ...) */
    MD_JOSE_UNKNOWN_KID = -108,      /* no known key has that kid (or no kid and not exactly one key) */
    MD_JOSE_UNKNOWN_CRIT = -109,     /* "crit" names an extension we do not implement */
    MD_JOSE_BAD_SIGNATURE = -110,    /* signature does not verify or has the wrong length */
    MD_JOSE_EXPIRED = -111,          /* now >= exp + skew */
    MD_JOSE_NOT_YET_VALID = -112,    /* now + skew < nbf */
    MD_JOSE_ISSUED_IN_FUTURE = -113, /* iat > now + skew */
    MD_JOSE_BAD_AUDIENCE = -114,     /* aud missing, wrong, or present when no audience was configured */
    MD_JOSE_BAD_ISSUER = -115,       /* iss missing or wrong */
    MD_JOSE_BAD_TYPE = -116,         /* typ header missing or wrong */
    MD_JOSE_BAD_CLAIM = -117,        /* a registered claim of the wrong JSON type or out of range */
    MD_JOSE_MISSING_CLAIM = -118,    /* exp absent (or iat, when required) */
    MD_JOSE_BAD_KEY = -119,          /* a JWK/PEM that is malformed, inconsistent or off the curve */
    MD_JOSE_UNSUPPORTED_KEY =
        -120, /* kty/crv/use we do not handle ("oct", P-521, X25519, "enc", RSA < 2048) */
    MD_JOSE_NO_PRIVATE_KEY = -121, /* signing needs a private key */
    MD_JOSE_SEAL_BROKEN = -122,    /* sealed data fails authentication: tampered, wrong KEK or wrong AAD */
    MD_JOSE_CRYPTO = -123,         /* OpenSSL failed where it should not (a bug or resource failure) */
};

/* The symbolic name of any status code of this module or of core ("MD_JOSE_EXPIRED",
 * "MD_EINVAL", "MD_OK"); "MD_E_UNKNOWN" for codes that are neither.  Static storage. */
const char *md_jose_err_name(int code);

/* ---------------------------------------------------------------- algorithms */

/* Algorithms as bits, so an allow-list is a bitwise OR. */
typedef enum md_jose_alg {
    MD_JOSE_ES256 = 1u << 0, /* ECDSA P-256 SHA-256, signature R||S (64 bytes) */
    MD_JOSE_ES384 = 1u << 1, /* ECDSA P-384 SHA-384, signature R||S (96 bytes) */
    MD_JOSE_EDDSA = 1u << 2, /* Ed25519 (RFC 8037) */
    MD_JOSE_RS256 = 1u << 3, /* RSASSA-PKCS1-v1_5 SHA-256 */
    MD_JOSE_PS256 = 1u << 4, /* RSASSA-PSS SHA-256, MGF1 SHA-256, salt 32 bytes */
} md_jose_alg_t;

#define MD_JOSE_ALGS_ALL 0x1fu

/* "ES256", "ES384", "EdDSA", "RS256", "PS256"; NULL for anything that is not exactly one bit. */
const char *md_jose_alg_name(md_jose_alg_t alg);
/* Parse a JWS "alg" value (case-sensitive, as RFC 7515 says).  Returns MD_OK,
 * MD_JOSE_ALG_NONE for "none" in any letter case, MD_JOSE_ALG_UNSUPPORTED otherwise. */
int md_jose_alg_from_name(md_str_t name, md_jose_alg_t *out) MD_WUR;

/* ---------------------------------------------------------------- base64url */

/* Append the unpadded base64url encoding of p[0..n) to out. */
void md_b64url_encode(md_buf_t *out, const void *p, size_t n);
/* Strict RFC 7515 §2 base64url: alphabet A-Z a-z 0-9 - _ only, no padding, no
 * whitespace, length % 4 != 1, unused trailing bits zero.  *out is malloc'd,
 * NUL-terminated (not counted in *len); caller frees.  MD_JOSE_BAD_ENCODING or
 * MD_ENOMEM on failure (and *out = NULL). */
int md_b64url_decode(md_str_t in, unsigned char **out, size_t *len) MD_WUR;

/* Free secret material: OPENSSL_cleanse the n bytes, then free.  NULL is fine. */
void md_jose_secret_free(void *p, size_t n);

/* ---------------------------------------------------------------- keys (JWK) */

typedef struct md_jwk md_jwk_t;

typedef enum md_jwk_type {
    MD_JWK_EC_P256 = 1, /* kty EC, crv P-256: ES256 */
    MD_JWK_EC_P384,     /* kty EC, crv P-384: ES384 */
    MD_JWK_ED25519,     /* kty OKP, crv Ed25519: EdDSA */
    MD_JWK_RSA,         /* kty RSA, 2048..8192 bits: RS256, PS256 */
} md_jwk_type_t;

/* Length of an RFC 7638 SHA-256 thumbprint in base64url (no NUL). */
#define MD_JWK_THUMBPRINT_LEN 43
/* Limits on what md_jwks_parse() accepts. */
#define MD_JWKS_MAX_KEYS 64
#define MD_JWKS_MAX_LEN (256u * 1024u)

/*
 * Parse one JWK.  Accepts kty EC (P-256, P-384; x and y of exactly the field
 * size, point on the curve, optional d), OKP (Ed25519; x of 32 bytes, optional
 * d, which must match x) and RSA (n of 2048..8192 bits without leading zero,
 * e odd, 3..2^32-1; private members are ignored: RSA keys are verify-only
 * unless loaded from PEM).  Optional members: kid (string), alg (sets the
 * allow-list to that one alg), use (must be "sig"), key_ops (must include
 * "verify" or "sign").  Refusals: MD_JOSE_MALFORMED / MD_JOSE_DUPLICATE_KEY
 * (text), MD_JOSE_UNSUPPORTED_KEY (kty oct, other curves, use enc, unknown alg,
 * RSA too small or too large), MD_JOSE_KEY_MISMATCH (alg of another key type),
 * MD_JOSE_BAD_KEY (anything else wrong).  *out is owned by the caller
 * (md_jwk_free).  The default allow-list is every alg the key type supports.
 */
int md_jwk_parse(md_str_t json, md_jwk_t **out, md_err_t *err) MD_WUR;
int md_jwk_from_json(const json_t *jwk, md_jwk_t **out, md_err_t *err) MD_WUR;

/* Generate a key pair for MD_JOSE_ES256 (P-256) or MD_JOSE_EDDSA (Ed25519);
 * kid = its RFC 7638 thumbprint, allow-list = {alg}.  MD_EINVAL for other algs. */
int md_jwk_generate(md_jose_alg_t alg, md_jwk_t **out, md_err_t *err) MD_WUR;

/* Import a PEM private key (PKCS#8 or traditional, unencrypted; an encrypted
 * PEM is refused, never prompted for).  Types as for md_jwk_parse; EC keys are
 * checked pairwise.  kid = thumbprint; allow-list = every alg of the type.
 * MD_JOSE_BAD_KEY / MD_JOSE_UNSUPPORTED_KEY on refusal. */
int md_jwk_from_pem(md_str_t pem, md_jwk_t **out, md_err_t *err) MD_WUR;
/* Export the private key as unencrypted PKCS#8 PEM, for sealed storage only.
 * *pem is malloc'd, NUL-terminated, *len without the NUL; free it with
 * md_jose_secret_free(*pem, *len).  MD_JOSE_NO_PRIVATE_KEY for a public key. */
int md_jwk_to_pem(const md_jwk_t *key, char **pem, size_t *len, md_err_t *err) MD_WUR;

/* Public JWK for publication: kty, crv/x/y or n/e, kid (when set), use "sig",
 * and alg when the allow-list has exactly one alg.  Never private members.
 * *out is a new reference (json_decref). */
int md_jwk_to_json(const md_jwk_t *key, json_t **out) MD_WUR;
/* RFC 7638 thumbprint (SHA-256 over the canonical required members, base64url).
 * out receives MD_JWK_THUMBPRINT_LEN characters and a NUL. */
int md_jwk_thumbprint(const md_jwk_t *key, char out[MD_JWK_THUMBPRINT_LEN + 1]) MD_WUR;

/* An independent copy: its own kid and allow-list; the immutable OpenSSL key is shared
 * by reference.  md_jwk_free() each. */
int md_jwk_dup(const md_jwk_t *key, md_jwk_t **out) MD_WUR;
void md_jwk_free(md_jwk_t *key);

md_jwk_type_t md_jwk_type(const md_jwk_t *key);
bool md_jwk_has_private(const md_jwk_t *key);
/* The kid, or NULL when the key has none.  Borrowed: valid until the key is freed or its kid set. */
const char *md_jwk_kid(const md_jwk_t *key);
/* Set (copy) or clear (NULL) the kid.  MD_EINVAL for an empty kid or one over 256 bytes. */
int md_jwk_set_kid(md_jwk_t *key, const char *kid) MD_WUR;
/* The allow-list: the algs this key may verify or sign. */
unsigned md_jwk_algs(const md_jwk_t *key);
/* Restrict the allow-list.  MD_EINVAL for 0 or unknown bits; MD_JOSE_KEY_MISMATCH
 * when an alg does not fit the key type (an EC P-256 key can only ever be ES256). */
int md_jwk_set_algs(md_jwk_t *key, unsigned algs) MD_WUR;
/* The alg used when signing with alg 0: ES256, ES384, EdDSA or RS256 by key type. */
md_jose_alg_t md_jwk_default_alg(const md_jwk_t *key);

/* ---------------------------------------------------------------- key sets (JWKS) */

typedef struct md_jwks {
    md_jwk_t **keys; /* owned: the array and every key */
    size_t n;
} md_jwks_t;

/*
 * Parse {"keys": [...]} (at most MD_JWKS_MAX_KEYS keys, MD_JWKS_MAX_LEN bytes).
 * With skipped == NULL every key must be usable: the first unusable one fails
 * the set.  With skipped != NULL, keys of a kind we do not implement
 * (MD_JOSE_UNSUPPORTED_KEY: "oct", other curves, "use": "enc", RSA < 2048)
 * are skipped and counted (RFC 7517 §5), as an external issuer's set needs;
 * a malformed key still fails the whole set, so that no key vanishes silently.
 * Two keys with the same kid fail the set either way (MD_JOSE_BAD_KEY): a kid
 * must name one key.  *out must be zeroed or freed before; md_jwks_free() it.
 */
int md_jwks_parse(md_str_t json, md_jwks_t *out, size_t *skipped, md_err_t *err) MD_WUR;
/* {"keys": [public JWKs]} for publication; *out is a new reference. */
int md_jwks_to_json(const md_jwk_t *const *keys, size_t n, json_t **out) MD_WUR;
void md_jwks_free(md_jwks_t *jwks);

/* ---------------------------------------------------------------- JWS compact */

/* Default and ceiling for the token size limit. */
#define MD_JWT_MAX_LEN_DEFAULT (16u * 1024u)
#define MD_JWT_MAX_LEN_LIMIT (64u * 1024u)
/* The most clock skew a verifier may allow, seconds. */
#define MD_JWT_MAX_SKEW 60

/*
 * Sign payload as a compact JWS.  header: NULL or a JSON object of extra
 * protected header members (it must not contain "alg", which is set from alg).
 * alg 0 means md_jwk_default_alg(key); the alg must be in the key's
 * allow-list.  On success the token is appended to out; on failure out is
 * left as it was.  MD_JOSE_NO_PRIVATE_KEY, MD_JOSE_ALG_NOT_ALLOWED,
 * MD_JOSE_KEY_MISMATCH, MD_EINVAL, MD_ENOMEM, MD_JOSE_CRYPTO.
 */
int md_jws_sign(const md_jwk_t *key, md_jose_alg_t alg, const json_t *header, md_str_t payload, md_buf_t *out,
                md_err_t *err) MD_WUR;

/* A verified JWS. */
typedef struct md_jws {
    json_t *header;         /* owned: the protected header, a JSON object */
    unsigned char *payload; /* owned: decoded payload, NUL-terminated */
    size_t payload_len;
    md_jose_alg_t alg;
    const md_jwk_t *key; /* borrowed from the caller's key list: the key that verified */
} md_jws_t;

/*
 * Verify a compact JWS against known keys (borrowed; never fetched, never
 * looked up by path or URL: "kid" is only compared with the keys' kids, and
 * jku/x5u/jwk/x5c headers are ignored).  algs: 0, or a caller allow-list
 * intersected with each key's.  max_len: 0 for MD_JWT_MAX_LEN_DEFAULT, at most
 * MD_JWT_MAX_LEN_LIMIT.  Checks, in order, each with its own code:
 *   size (TOO_LARGE) → three segments (MALFORMED) → base64url of all three
 *   (BAD_ENCODING) → header JSON object without duplicates (DUPLICATE_KEY,
 *   MALFORMED) → alg (ALG_NONE, ALG_UNSUPPORTED) → crit (UNKNOWN_CRIT) →
 *   kid lookup (UNKNOWN_KID; with no kid, the key list must hold exactly one
 *   key) → key type (KEY_MISMATCH) → allow-list (ALG_NOT_ALLOWED) →
 *   signature (BAD_SIGNATURE; an ECDSA signature must be low-S, s <= n/2).
 * The payload is not interpreted.  *out must be zeroed; md_jws_free() it.
 */
int md_jws_verify(const md_jwk_t *const *keys, size_t nkeys, md_str_t token, unsigned algs, size_t max_len,
                  md_jws_t *out, md_err_t *err) MD_WUR;
void md_jws_free(md_jws_t *jws);

/* ---------------------------------------------------------------- JWT */

typedef struct md_jwt_verify_opts {
    int64_t now;     /* required: seconds since the epoch, > 0 (the injected clock) */
    int64_t skew;    /* leeway for exp/nbf/iat in seconds, 0..MD_JWT_MAX_SKEW */
    const char *iss; /* NULL: not checked; else iss must equal it */
    const char *aud; /* NULL: the token must have no aud; else aud (string or array) must contain it */
    const char *typ; /* NULL: not checked; else the typ header must match ("at+jwt" = "application/at+jwt") */
    unsigned algs;   /* 0, or an allow-list intersected with each key's */
    size_t max_len;  /* 0: MD_JWT_MAX_LEN_DEFAULT; at most MD_JWT_MAX_LEN_LIMIT */
    bool exp_optional; /* false (default): a token without exp is refused */
    bool require_iat;  /* true: a token without iat is refused */
    /* false (default): an ES256/ES384 signature with s > n/2 is refused (BAD_SIGNATURE), since
     * (r, n - s) would verify too and make a second valid token of one.  true: accepted, for
     * another issuer's tokens: RFC 7518 allows both, and most signers (RFC 7515 A.3's example,
     * npm jose, Go, Java) do not normalise, so half their ECDSA tokens are high-S. */
    bool allow_high_s;
} md_jwt_verify_opts_t;

typedef struct md_jwt {
    json_t *header; /* owned */
    json_t *claims; /* owned: the payload, a JSON object */
    md_jose_alg_t alg;
    const md_jwk_t *key;   /* borrowed: the key that verified */
    int64_t exp, nbf, iat; /* 0 when absent; fractional values rounded to the strict side */
} md_jwt_t;

/*
 * Verify a JWT: md_jws_verify() with opts->algs and opts->max_len (a high-S
 * ECDSA signature accepted only with opts->allow_high_s), then
 *   payload a JSON object without duplicate members (DUPLICATE_KEY, MALFORMED)
 *   → typ header when opts->typ (BAD_TYPE; a non-string typ is MALFORMED)
 *   → exp, nbf, iat: integers or numbers in 0..253402300799 (BAD_CLAIM);
 *     exp required unless exp_optional (MISSING_CLAIM); iat required when
 *     require_iat (MISSING_CLAIM); expired when now >= exp + skew (EXPIRED);
 *     now + skew < nbf (NOT_YET_VALID); iat > now + skew (ISSUED_IN_FUTURE)
 *   → iss a string (BAD_CLAIM), equal to opts->iss when set (BAD_ISSUER)
 *   → aud a string or array of strings (BAD_CLAIM), containing opts->aud; an
 *     aud with no configured audience is refused (RFC 7519 §4.1.3) (BAD_AUDIENCE)
 *   → sub and jti strings when present (BAD_CLAIM).
 * MD_EINVAL for bad options.  *out must be zeroed; md_jwt_free() it.
 */
int md_jwt_verify(const md_jwk_t *const *keys, size_t nkeys, md_str_t token, const md_jwt_verify_opts_t *opts,
                  md_jwt_t *out, md_err_t *err) MD_WUR;
void md_jwt_free(md_jwt_t *jwt);

/*
 * Sign claims (a JSON object, serialised compactly) with header
 * {"alg", "typ", "kid"}: alg 0 = the key's default, typ NULL = "JWT", kid
 * omitted when the key has none.  Appends the token to out (left as it was
 * on failure).  Errors as md_jws_sign().
 */
int md_jwt_sign(const md_jwk_t *key, md_jose_alg_t alg, const char *typ, const json_t *claims, md_buf_t *out,
                md_err_t *err) MD_WUR;

/* ---------------------------------------------------------------- sealing */

#define MD_SEAL_KEY_LEN 32
#define MD_SEAL_NONCE_LEN 12
#define MD_SEAL_TAG_LEN 16
#define MD_SEAL_OVERHEAD (MD_SEAL_NONCE_LEN + MD_SEAL_TAG_LEN)

/* AES-256-GCM under kek with a random 96-bit nonce; aad is authenticated, not
 * stored.  *out = nonce || ciphertext || tag (n + MD_SEAL_OVERHEAD bytes), malloc'd. */
int md_jose_seal(const unsigned char kek[MD_SEAL_KEY_LEN], md_str_t aad, const void *pt, size_t n,
                 unsigned char **out, size_t *out_len) MD_WUR;
/* Open what md_jose_seal() made with the same kek and aad.  MD_JOSE_SEAL_BROKEN
 * when anything differs.  *pt is malloc'd and NUL-terminated; free with
 * md_jose_secret_free(*pt, *pt_len). */
int md_jose_unseal(const unsigned char kek[MD_SEAL_KEY_LEN], md_str_t aad, const void *sealed, size_t n,
                   unsigned char **pt, size_t *pt_len) MD_WUR;

/* ---------------------------------------------------------------- signing key set with rotation */

/*
 * A key set holds our own signing keys, each next → active → retired:
 *   - a next key is published (in md_keyset_jwks()) for at least `overlap`
 *     seconds before it signs, so verifiers that cache our JWKS know it first;
 *   - exactly one key is active and signs (after the first md_keyset_rotate());
 *   - a retired key stays published until every token it can have signed has
 *     expired, for verifiers with the largest allowed skew:
 *     remove_at = retired + max_token_lifetime + MD_JWT_MAX_SKEW.
 * Schedule, applied by md_keyset_rotate(ks, now, policy):
 *   1. retired keys with now >= remove_at leave the set (remove_at never
 *      shrinks; it grows when max_token_lifetime grows);
 *   2. no active key: the oldest next key becomes active, or, when there is
 *      none (first start), a new key is generated and is active at once;
 *   3. no next key and now >= active.activated + rotation_period - overlap:
 *      a next key is generated;
 *   4. now >= active.activated + rotation_period and
 *      now >= next.published + overlap: the active key retires, the next
 *      key becomes active.
 * Pure and clock-driven: no I/O, no clock reads; keys come from OpenSSL's RNG.
 * Storage is the caller's (md_keyset_save / md_keyset_load).
 */
typedef struct md_keyset md_keyset_t;

typedef enum md_key_state {
    MD_KEY_NEXT = 1,
    MD_KEY_ACTIVE,
    MD_KEY_RETIRED,
} md_key_state_t;

typedef struct md_keyset_policy {
    md_jose_alg_t alg;          /* new keys: MD_JOSE_ES256 or MD_JOSE_EDDSA */
    int64_t rotation_period;    /* seconds a key signs; > overlap */
    int64_t overlap;            /* seconds a next key is published before it signs; > 0 */
    int64_t max_token_lifetime; /* longest exp - now of any token signed; 0 < it <= rotation_period */
} md_keyset_policy_t;

typedef struct md_keyset_entry {
    const md_jwk_t *key; /* borrowed from the set */
    md_key_state_t state;
    int64_t published; /* entered the set and the JWKS */
    int64_t activated; /* started signing; 0 if not yet */
    int64_t retired;   /* stopped signing; 0 if not yet */
    int64_t remove_at; /* retired keys: leaves the JWKS at this time; 0 otherwise */
} md_keyset_entry_t;

/* An empty set (NULL on OOM).  md_keyset_free(NULL) is fine. */
md_keyset_t *md_keyset_new(void);
void md_keyset_free(md_keyset_t *ks);

/* Apply the schedule at time now (> 0).  MD_EINVAL for a bad policy.  When
 * key generation fails no key changes state (step 1 may still have removed
 * expired keys), so calling again later is safe. */
int md_keyset_rotate(md_keyset_t *ks, int64_t now, const md_keyset_policy_t *policy, md_err_t *err) MD_WUR;

size_t md_keyset_count(const md_keyset_t *ks);
/* Entry i (0 <= i < count), in the order keys entered the set. */
md_keyset_entry_t md_keyset_entry(const md_keyset_t *ks, size_t i);
/* The active key (borrowed), or NULL before the first rotate. */
const md_jwk_t *md_keyset_signer(const md_keyset_t *ks);
/* Every key in the set — exactly what md_keyset_jwks() publishes — for
 * md_jwt_verify().  Borrowed; valid until the next rotate, load or free. */
const md_jwk_t *const *md_keyset_keys(const md_keyset_t *ks, size_t *n);
/* What must be published now: the public JWKS of every key in the set. */
int md_keyset_jwks(const md_keyset_t *ks, json_t **out) MD_WUR;

/*
 * Sign a JWT with the active key, enforcing the lifetime the rotation
 * schedule relies on: claims must have an integer exp with
 * now < exp <= now + policy->max_token_lifetime (MD_JOSE_BAD_CLAIM otherwise).
 * MD_ENOENT when there is no active key.  Appends to out as md_jwt_sign().
 */
int md_keyset_sign_jwt(const md_keyset_t *ks, int64_t now, const md_keyset_policy_t *policy, const char *typ,
                       const json_t *claims, md_buf_t *out, md_err_t *err) MD_WUR;

/*
 * Serialise for storage: {"version": 2, "generation": G, "keys": [...]}, each
 * key with its kid, alg, state and times in the clear, its private key sealed
 * (md_jose_seal over its PKCS#8 PEM, AAD = its kid) and a "mac": HMAC-SHA256,
 * under a key derived from kek with HKDF-SHA256, over that key's kid, alg,
 * state, times and sealed value together with `generation`, the kids of the
 * whole set and the caller's `bound` bytes (which are not stored: the caller
 * keeps them and passes the same bytes to md_keyset_load).  So whoever can
 * write the stored document but does not hold the KEK cannot change any key's
 * schedule, drop or add a key, or mix keys from two saves; they can still
 * replay a whole earlier document (with its generation and bound bytes):
 * telling that apart needs state kept outside the document (keys.h).
 * generation >= 1 (MD_EINVAL otherwise); the caller raises it on every save.
 * *out is malloc'd, NUL-terminated; plain free() it (it holds no plaintext secret).
 */
int md_keyset_save(const md_keyset_t *ks, const unsigned char kek[MD_SEAL_KEY_LEN], int64_t generation,
                   md_str_t bound, char **out, size_t *out_len, md_err_t *err) MD_WUR;
/*
 * Load what md_keyset_save() wrote, with the same kek and bound.  In this
 * order, for every key: it must unseal under kek with its kid as AAD
 * (MD_JOSE_SEAL_BROKEN: wrong KEK, or sealed value or kid changed), its kid
 * must be its thumbprint (MD_JOSE_BAD_KEY), its MAC must match
 * (MD_JOSE_SEAL_BROKEN, "signing key <kid>: stored metadata does not match its
 * seal: ..."); then the states must hold the invariants (at most one active
 * and one next key; times consistent) (MD_JOSE_MALFORMED).  A version 1
 * document (written before metadata was authenticated) is refused
 * (MD_JOSE_MALFORMED).  *generation (when not NULL) gets the document's.
 */
int md_keyset_load(md_str_t text, const unsigned char kek[MD_SEAL_KEY_LEN], md_str_t bound, md_keyset_t **out,
                   int64_t *generation, md_err_t *err) MD_WUR;

#endif
