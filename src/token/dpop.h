/*
 * dpop.h: DPoP proofs (RFC 9449) — verification, the jti replay cache, and
 * making a proof (the client side, for agents and tests).
 *
 * A DPoP-bound mandate carries cnf.jkt, the RFC 7638 SHA-256 thumbprint of the
 * client's public key.  Every request presenting it carries
 * `Authorization: DPoP <token>` and `DPoP: <proof>`, a JWT the client signs
 * with that key over the request's method and URI (and the token's hash).  A
 * request is accepted only when md_dpop_verify() returns MD_OK for it and
 * md_dpop_replay_check_and_add() then returns MD_OK for the proof's jti.
 *
 * Conventions as in token.h: MD_OK or a negative code, *err filled once (may
 * be NULL), outputs written only on success, messages never holding the
 * proof, the token or any attacker-chosen string.  Refusals of the generic
 * JOSE layer keep their MD_JOSE_* code (token.h); what only DPoP checks has a
 * code of its own below.  md_dpop_err_name() names both.
 *
 * HTTP mapping (RFC 9449 §7.1, §8, §9): every refusal by md_dpop_verify() is
 * `401 WWW-Authenticate: DPoP error="invalid_dpop_proof"` except
 * MD_DPOP_NONCE_MISSING / MD_DPOP_NONCE_MISMATCH, which are
 * `error="use_dpop_nonce"` with a fresh `DPoP-Nonce` (400 at a token endpoint,
 * 401 at a resource); MD_DPOP_REPLAY is invalid_dpop_proof too;
 * MD_DPOP_REPLAY_FULL is the server's condition (503), not the client's fault.
 *
 * Choices where RFC 9449 leaves room (each refused, never guessed):
 *   - typ must be exactly "dpop+jwt" (case-sensitive, no "application/");
 *   - the key is the header's jwk and nothing else: a header that also has
 *     kid, jku, x5u, x5c, x5t or x5t#S256 is refused (MD_DPOP_KEY_REFERENCE),
 *     as is any crit (MD_JOSE_UNKNOWN_CRIT);
 *   - the jwk must hold no private member at all (d, p, q, dp, dq, qi, oth,
 *     k), whatever its kty (MD_DPOP_PRIVATE_JWK), and must be a key token.h
 *     accepts (EC P-256/P-384 on the curve, Ed25519 not of small order, RSA
 *     2048..8192 bits; "use" other than "sig" refused);
 *   - ECDSA signatures in the high-S form are accepted: most client libraries
 *     do not normalise s, and a malleated twin of a proof has the same key and
 *     jti, so the replay cache (keyed by jkt and jti, not by the proof's
 *     bytes) refuses it like the original;
 *   - htu: both the claim and the server's URI are normalised (RFC 3986
 *     §6.2.2, §6.2.3) and compared bytewise: scheme and host lower-cased,
 *     percent-encodings of unreserved characters decoded and the others
 *     upper-cased, an empty or default port (80 for http, 443 for https)
 *     dropped, an empty path made "/", the query and fragment removed (RFC
 *     9449 §4.3).  Only http and https.  Refused rather than normalised: a
 *     userinfo part, a "." or ".." path segment (also when percent-encoded),
 *     a character outside RFC 3986's set for its part, a non-ASCII byte;
 *   - iat may be fractional: the earlier whole second is used for the age
 *     check and the later one for the future check;
 *   - ath and nonce are checked only when asked for; present but not asked
 *     for, they must still be strings.
 *
 * Thread safety: md_dpop_verify() and md_dpop_sign() keep no state; a replay
 * cache is shared by every worker thread (sharded, one mutex per shard).
 */
#ifndef MD_TOKEN_DPOP_H
#define MD_TOKEN_DPOP_H

#include "core/core.h"
#include "token/token.h"

/* ---------------------------------------------------------------- status codes */

/* DPoP refusals.  The range -160..-179 belongs to this file. */
enum {
    MD_DPOP_BAD_TYP = -160,        /* typ header missing, not a string, or not exactly "dpop+jwt" */
    MD_DPOP_NO_JWK = -161,         /* no jwk header, or it is not a JSON object */
    MD_DPOP_PRIVATE_JWK = -162,    /* the jwk holds a private member (d, p, q, dp, dq, qi, oth, k) */
    MD_DPOP_KEY_REFERENCE = -163,  /* the header also names a key another way: kid, jku, x5u, x5c, x5t... */
    MD_DPOP_MISSING_CLAIM = -164,  /* jti, htm, htu or iat absent */
    MD_DPOP_BAD_CLAIM = -165,      /* a claim of the wrong type or out of range (jti empty or over 256
                                      bytes, htu not an absolute http(s) URI, iat not a number...) */
    MD_DPOP_HTM_MISMATCH = -166,   /* htm is not the request's method (case-sensitive) */
    MD_DPOP_HTU_MISMATCH = -167,   /* htu is not the request's URI, after normalisation */
    MD_DPOP_IAT_TOO_OLD = -168,    /* iat < now - max_age - skew */
    MD_DPOP_IAT_IN_FUTURE = -169,  /* iat > now + skew */
    MD_DPOP_ATH_MISSING = -170,    /* an access token is presented and the proof has no ath */
    MD_DPOP_ATH_MISMATCH = -171,   /* ath is not base64url(SHA-256(access token)) */
    MD_DPOP_JKT_MISMATCH = -172,   /* the proof's key is not the one the token is bound to (cnf.jkt) */
    MD_DPOP_NONCE_MISSING = -173,  /* the server requires a nonce and the proof has none */
    MD_DPOP_NONCE_MISMATCH = -174, /* the proof's nonce is not one the server accepts now */
    MD_DPOP_REPLAY = -175,         /* this key already used this jti within the window */
    MD_DPOP_REPLAY_FULL = -176,    /* the replay cache is full of unexpired entries: refused, fail closed */
};

/* The symbolic name of a code above, or of any code md_jose_err_name() knows
 * ("MD_DPOP_REPLAY", "MD_JOSE_BAD_SIGNATURE", "MD_EINVAL"...).  Static storage. */
const char *md_dpop_err_name(int code);

/* ---------------------------------------------------------------- limits */

#define MD_DPOP_MAX_LEN_DEFAULT (8u * 1024u) /* proof size limit when max_len is 0 */
#define MD_DPOP_MAX_LEN_LIMIT (16u * 1024u)  /* the largest max_len a caller may set */
#define MD_DPOP_MAX_AGE_DEFAULT 60           /* seconds a proof is fresh after its iat, when max_age is 0 */
#define MD_DPOP_MAX_AGE_LIMIT 300            /* the largest max_age a caller may set */
#define MD_DPOP_JTI_MAX 256                  /* bytes; a jti is 1..MD_DPOP_JTI_MAX bytes */
#define MD_DPOP_NONCES_MAX 4                 /* nonces a server may accept at once (rotation overlap) */
/* Length of an ath (base64url of a SHA-256) without NUL. */
#define MD_DPOP_ATH_LEN 43

/* ---------------------------------------------------------------- verification */

typedef struct md_dpop_params {
    md_str_t proof; /* borrowed: the DPoP header's value (the caller refuses a request with two) */
    md_str_t htm;   /* borrowed: the request's method as received, e.g. "GET"; an RFC 9110 token */
    /* borrowed: the request's URI as the server reconstructs it, scheme://host[:port]/path (a query or
     * fragment is ignored); the path the server routes on.  Normalised as the claim is (see above). */
    md_str_t htu;
    int64_t now;     /* required: seconds since the epoch, > 0 (the injected clock) */
    int64_t max_age; /* 0: MD_DPOP_MAX_AGE_DEFAULT; else 1..MD_DPOP_MAX_AGE_LIMIT */
    int64_t skew;    /* clock leeway in both directions, 0..MD_JWT_MAX_SKEW */
    unsigned algs;   /* 0: every alg token.h verifies (ES256 ES384 EdDSA RS256 PS256); else a subset */
    size_t max_len;  /* 0: MD_DPOP_MAX_LEN_DEFAULT; else at most MD_DPOP_MAX_LEN_LIMIT */
    /* borrowed; p == NULL: no access token is presented (a token endpoint).  Else the token exactly as in
     * the Authorization header, and the proof must carry its ath; jkt must then be set too (MD_EINVAL
     * otherwise): a token presented with DPoP must be bound to a key, and the caller checks that. */
    md_str_t access_token;
    /* borrowed; p == NULL: no binding to check (issuance: the result's jkt is what to bind).  Else the
     * token's cnf.jkt: the proof key's thumbprint must equal it (constant time). */
    md_str_t jkt;
    /* borrowed; nnonces == 0: no nonce required.  Else the proof's nonce must equal one of them
     * (constant time), 1..MD_DPOP_NONCES_MAX non-empty values (current and previous, when rotating). */
    const md_str_t *nonces;
    size_t nnonces;
} md_dpop_params_t;

/* What a verified proof says.  Self-contained: nothing to free. */
typedef struct md_dpop_result {
    char jkt[MD_JWK_THUMBPRINT_LEN + 1]; /* RFC 7638 SHA-256 thumbprint of the proof's key, base64url */
    char jti[MD_DPOP_JTI_MAX + 1];       /* NUL-terminated (a jti never holds NUL) */
    size_t jti_len;
    int64_t iat; /* whole seconds (a fractional iat rounded down) */
    /* The proof is accepted by md_dpop_verify() up to and including this time (iat + max_age + skew):
     * its jti must be remembered until then (md_dpop_replay_check_and_add's `until`). */
    int64_t replay_until;
    md_jose_alg_t alg;
} md_dpop_result_t;

/*
 * Verify a DPoP proof for one request.  Checks, in order, each refusal with
 * its own code:
 *   size (MD_JOSE_TOO_LARGE) → three segments, strict base64url, header a JSON
 *   object without duplicate members (MD_JOSE_MALFORMED, _BAD_ENCODING,
 *   _DUPLICATE_KEY) → typ (BAD_TYP) → alg (MD_JOSE_ALG_NONE; HS*, ES512 and
 *   unknown names MD_JOSE_ALG_UNSUPPORTED; outside p->algs
 *   MD_JOSE_ALG_NOT_ALLOWED) → kid/jku/x5u/x5c/x5t/x5t#S256 (KEY_REFERENCE)
 *   → jwk present (NO_JWK) → no private member (PRIVATE_JWK) → a usable
 *   public key (MD_JOSE_BAD_KEY, _UNSUPPORTED_KEY, _KEY_MISMATCH) → alg fits
 *   its type, and its own "alg" member when it has one (MD_JOSE_KEY_MISMATCH)
 *   → crit (MD_JOSE_UNKNOWN_CRIT) → signature (MD_JOSE_BAD_SIGNATURE) →
 *   payload a JSON object without duplicates → jti, htm, htu, iat present
 *   (MISSING_CLAIM) and well-typed (BAD_CLAIM), ath and nonce strings when
 *   present (BAD_CLAIM) → htm (HTM_MISMATCH) → htu (HTU_MISMATCH) → iat
 *   (IAT_TOO_OLD, IAT_IN_FUTURE) → ath when p->access_token (ATH_MISSING,
 *   ATH_MISMATCH) → thumbprint when p->jkt (JKT_MISMATCH) → nonce when
 *   p->nnonces (NONCE_MISSING, NONCE_MISMATCH).
 * The jti is not looked up: the caller does that with the replay cache after
 * MD_OK.  MD_EINVAL for bad parameters (p->htm not a token, p->htu not an
 * absolute http(s) URI, out-of-range limits).  *out is written only on MD_OK.
 */
int md_dpop_verify(const md_dpop_params_t *p, md_dpop_result_t *out, md_err_t *err) MD_WUR;

/* ath for a token: base64url(SHA-256(token bytes)), MD_DPOP_ATH_LEN characters and a NUL. */
int md_dpop_ath(md_str_t access_token, char out[MD_DPOP_ATH_LEN + 1]) MD_WUR;

/*
 * Make a proof (the client side): header {"alg", "typ": "dpop+jwt", "jwk": the
 * key's public members only}, claims {"jti", "htm", "htu", "iat", and "ath"
 * when access_token.p != NULL, "nonce" when nonce.p != NULL}.  jti NULL: 16
 * random bytes, base64url.  alg 0: the key's default.  Appends the proof to
 * out (left as it was on failure).  Errors as md_jws_sign(), MD_EINVAL for an
 * empty htm or htu or a jti outside 1..MD_DPOP_JTI_MAX bytes.
 */
int md_dpop_sign(const md_jwk_t *key, md_jose_alg_t alg, md_str_t htm, md_str_t htu, int64_t iat,
                 const char *jti, md_str_t access_token, md_str_t nonce, md_buf_t *out, md_err_t *err) MD_WUR;

/* ---------------------------------------------------------------- replay cache */

/*
 * Remembers (jkt, jti) pairs until their proofs can no longer be accepted,
 * so that each proof is used once.  Shared by every worker thread.
 *
 * Keys: two SipHash-2-4 values (128 bits) of the length-prefixed jkt and jti
 * under random per-cache keys: nobody can aim collisions at a shard or a
 * slot, and two different pairs are taken for one with probability ~2^-128
 * per comparison.  Neither the jti nor the jkt is stored.
 *
 * Memory is bounded: `capacity` entries are split evenly over shards (a
 * power of two, up to 64), each an open-addressed table at most half full,
 * under its own mutex.  An entry whose `until` has passed is dead and its
 * slot is reused; when a shard holds `capacity / shards` entries none of
 * which has expired, a new jti is refused with MD_DPOP_REPLAY_FULL rather
 * than forgetting one that could still be replayed (fail closed).  Size the
 * cache above peak proofs per second × (max_age + 2 × skew); a shard that
 * is full is scanned again only after its earliest entry expires, so a
 * flood does not cost a scan per request.
 */
typedef struct md_dpop_replay md_dpop_replay_t;

/* A cache for at least `capacity` entries (1..2^26).  NULL on OOM, RNG
 * failure or a capacity out of range. */
md_dpop_replay_t *md_dpop_replay_new(size_t capacity);
void md_dpop_replay_free(md_dpop_replay_t *r);

/*
 * Record that the key `jkt` used `jti`, to be remembered while now <= until
 * (a verified proof's replay_until).  MD_OK: first use (recorded);
 * MD_DPOP_REPLAY: the pair is already recorded and not expired (nothing
 * changes); MD_DPOP_REPLAY_FULL: the shard is full of live entries (nothing
 * recorded).  MD_EINVAL for an empty or over-long jkt (> 128 bytes) or jti
 * (> MD_DPOP_JTI_MAX bytes), now <= 0, until < now or until more than
 * MD_DPOP_MAX_AGE_LIMIT + 2 * MD_JWT_MAX_SKEW seconds ahead of now.
 * Atomic per pair: of several threads adding the same pair, exactly one gets
 * MD_OK.
 */
int md_dpop_replay_check_and_add(md_dpop_replay_t *r, md_str_t jkt, md_str_t jti, int64_t until,
                                 int64_t now) MD_WUR;

typedef struct md_dpop_replay_stats {
    uint64_t added, replays, full; /* outcomes of check_and_add since creation */
    size_t capacity;               /* entries the cache holds at most */
} md_dpop_replay_stats_t;
md_dpop_replay_stats_t md_dpop_replay_stats(md_dpop_replay_t *r);

#endif
