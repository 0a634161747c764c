/*
 * oidc.h: OIDC federation — tokens of trusted external issuers (a CI job's
 * ID token, a cloud workload's identity token) verified and mapped to a
 * SPIFFE ID and an owner, so that they can be exchanged for our JWT-SVID.
 *
 * An issuer registry is built from the config's `federation:` section.  Per
 * issuer: the exact `iss`, where its keys come from (a JWKS file, a JWKS URL,
 * or OIDC discovery: <issuer>/.well-known/openid-configuration, then its
 * jwks_uri), the audience, the algorithms, a SPIFFE ID template, an owner
 * template, required claims and a maximum token age.
 *
 * Fetching: HTTPS with certificate verification (the system store or the
 * issuer's ca_file) and host name check, or plain HTTP to a loopback IP
 * literal only; redirects are not followed; 256 KiB per document; one
 * deadline (federation.fetch_timeout) for the whole fetch.  All fetching
 * runs on one thread owned by the registry (started on first need), never on
 * the caller's event loop.
 *
 * Key cache, per issuer: keys are kept for the JWKS answer's Cache-Control
 * max-age bounded to [cache_min, cache_max] (1 h without max-age).  When they
 * are due, they keep serving while a refresh runs in the background; if the
 * IdP fails, they serve until cache_max after their last successful fetch.
 * A token whose kid is unknown triggers a refresh, as does a cold cache.  At
 * most one fetch per issuer is in flight, and one starts at most once per
 * min_refresh_interval per issuer, so a stream of tokens with made-up kids
 * cannot make us hammer the IdP.  Every time here is the caller's `now`
 * (seconds since the epoch), so tests drive the cache with an injected clock.
 *
 * Threads: a registry is shared by every worker; verification takes a
 * per-issuer mutex only to take a reference to the current key set.  Async
 * waiters are woken on their own event_base with event_active(), so every
 * event_base passed here must have been created after evthread_use_pthreads()
 * (md_oidc_registry_new() calls it; the daemon calls it before its workers).
 *
 * Refusals: every one has its own code (MD_OIDC_* below, or the MD_JOSE_*
 * code of src/token for what md_jwt_verify() refuses) and a message that
 * never contains the token or a claim value.
 */
#ifndef MD_IDENTITY_OIDC_H
#define MD_IDENTITY_OIDC_H

#include <jansson.h>

#include "core/config.h"
#include "core/core.h"
#include "token/token.h"

struct event_base;

/* Codes of this module: -150..-199 (token has -100..-149, attest -200..). */
enum {
    MD_OIDC_PENDING = 1,           /* not a failure: md_oidc_verify_start() will call back */
    MD_OIDC_UNKNOWN_ISSUER = -150, /* the token's iss is not a configured issuer */
    MD_OIDC_KEYS_UNAVAILABLE =
        -151,                     /* no usable keys: the fetch failed (message says why) or is rate limited */
    MD_OIDC_TOO_OLD = -152,       /* now - iat exceeds the issuer's max_age */
    MD_OIDC_CLAIM_MISSING = -153, /* a required claim, or one the mapping uses, is absent or null */
    MD_OIDC_CLAIM_MISMATCH = -154, /* a required claim has a value that is not allowed */
    MD_OIDC_UNSAFE_CLAIM = -155,   /* a claim the mapping substitutes is not a string (or integer), is empty,
                                      too long, or has a character outside the allowed set */
    MD_OIDC_BAD_SPIFFE_ID = -156,  /* the mapped SPIFFE ID is not a valid SPIFFE ID */
    MD_OIDC_FETCH_FAILED = -157,   /* fetching: connection, TLS, timeout, HTTP status, framing, size */
    MD_OIDC_BAD_DOCUMENT = -158,   /* fetching: a discovery document or JWKS we cannot use */
    MD_OIDC_URL_REFUSED = -159, /* a URL we do not fetch: plain HTTP off loopback, userinfo, fragment, ... */
};

/* The symbolic name of any code of this module, of src/token or of core ("MD_OIDC_TOO_OLD",
 * "MD_JOSE_EXPIRED", "MD_OK"); static storage. */
const char *md_oidc_err_name(int code);

/* Substituted claim values: SPIFFE ID templates accept [A-Za-z0-9._-] only (so a value can never
 * add a path segment), owner templates any printable UTF-8 without controls; both at most this long. */
#define MD_OIDC_MAX_CLAIM_VALUE 255

typedef struct md_oidc_registry md_oidc_registry_t;

/*
 * Build a registry from cfg->fed_issuers and the federation.* settings
 * (cfg may be freed afterwards: the registry copies what it keeps).  Checks
 * what config.c cannot: templates (syntax; placeholders only in the SPIFFE ID's
 * path, at most one per segment; the literal parts form a valid SPIFFE ID),
 * URL policy of fetched URLs, ca_file, and reads every jwks_file.  Errors go
 * to diag as "file:line: key `federation.issuers[i].k`: message".
 * prev (may be NULL): the registry being replaced on reload; an issuer with
 * the same issuer, key source and ca_file keeps its cached keys and rate-limit
 * state, so a reload does not refetch.  Nothing is fetched here.
 * Returns MD_OK (*out has one reference), MD_EINVAL (diag), MD_ENOMEM or MD_EIO.
 */
int md_oidc_registry_new(const md_config_t *cfg, md_oidc_registry_t *prev, md_oidc_registry_t **out,
                         md_conf_diag_t *diag) MD_WUR;
md_oidc_registry_t *md_oidc_registry_ref(md_oidc_registry_t *reg);
/* Drop a reference; the last one stops the fetch thread (joining it) and frees everything.
 * Must not be called on the registry's own fetch thread (it never is: callbacks run on the caller's base). */
void md_oidc_registry_unref(md_oidc_registry_t *reg);

size_t md_oidc_registry_count(const md_oidc_registry_t *reg);

/* What a verified, mapped token gave. */
typedef struct md_oidc_result {
    char *spiffe_id; /* owned: from the issuer's template, valid per md_spiffe_parse */
    char *owner;     /* owned */
    char *issuer;    /* owned: the configured (and verified) iss */
    char *subject;   /* owned: sub, or NULL when the token has none */
    char *kid;       /* owned: the kid of the key that verified, or NULL */
    json_t *claims;  /* owned reference: every claim of the token */
    md_jose_alg_t alg;
    int64_t iat, exp;
    size_t issuer_index; /* federation.issuers[i] */
} md_oidc_result_t;

void md_oidc_result_free(md_oidc_result_t *r);

/*
 * Verify token at time now and map it.  In order:
 *   size and shape, unverified iss only to pick the issuer (MD_OIDC_UNKNOWN_ISSUER
 *   when none is configured; MD_JOSE_BAD_ISSUER when there is no string iss)
 *   → keys (fetched or refreshed when needed, see above: MD_OIDC_KEYS_UNAVAILABLE)
 *   → md_jwt_verify(): signature with the issuer's keys and algorithms, iss,
 *     aud, exp/nbf/iat with 60 s skew, iat required (MD_JOSE_*; an unknown kid
 *     refreshes the keys once, rate limits permitting, then MD_JOSE_UNKNOWN_KID)
 *   → max_age (MD_OIDC_TOO_OLD) → required claims (MD_OIDC_CLAIM_MISSING,
 *     MD_OIDC_CLAIM_MISMATCH) → SPIFFE ID and owner (MD_OIDC_CLAIM_MISSING,
 *     MD_OIDC_UNSAFE_CLAIM, MD_OIDC_BAD_SPIFFE_ID).
 * Blocking: when keys must be fetched it waits for the fetch (at most
 * federation.fetch_timeout plus a margin).  For tests, tools and start-up;
 * inside an event loop use md_oidc_verify_start().
 * *out must be zeroed; filled only on MD_OK (md_oidc_result_free).
 */
int md_oidc_verify(md_oidc_registry_t *reg, md_str_t token, int64_t now, md_oidc_result_t *out,
                   md_err_t *err) MD_WUR;

/*
 * The same without blocking, for an event loop.  Returns MD_OK (*out filled)
 * or a refusal (err filled) when it could decide at once, which is the case
 * whenever the keys are cached.  Otherwise returns MD_OIDC_PENDING with *wait
 * set: done(arg, rc, result, err) will be called exactly once, on base's
 * thread, after the fetch — unless md_oidc_wait_cancel(*wait) is called first.
 * result and err are valid during the call only (result's fields may be moved
 * out: set them to NULL).  The pending wait holds a registry reference.
 * Every pending wait must be completed or cancelled before base is freed.
 */
typedef struct md_oidc_wait md_oidc_wait_t;
typedef void (*md_oidc_done_fn)(void *arg, int rc, md_oidc_result_t *result, const md_err_t *err);

int md_oidc_verify_start(md_oidc_registry_t *reg, struct event_base *base, md_str_t token, int64_t now,
                         md_oidc_done_fn done, void *arg, md_oidc_wait_t **wait, md_oidc_result_t *out,
                         md_err_t *err) MD_WUR;
/* Cancel a pending wait: done will not be called.  Only on the wait's base's thread. */
void md_oidc_wait_cancel(md_oidc_wait_t *wait);

/*
 * Fetch the keys of every issuer that has none yet (or only expired ones),
 * ignoring the rate limit, and wait for all (blocking: for start-up and
 * tests).  Returns MD_OK when every remote issuer has usable keys afterwards,
 * else the first failure (err names the issuer); other issuers still fetched.
 */
int md_oidc_registry_prefetch(md_oidc_registry_t *reg, int64_t now, md_err_t *err) MD_WUR;

/* Per-issuer state, for metrics, status pages and tests. */
typedef struct md_oidc_issuer_stats {
    const char *issuer;         /* borrowed from the registry */
    bool remote;                /* keys come from the network */
    size_t keys;                /* usable keys in the current set (0: none) */
    int64_t fetched_at;         /* caller time of the fetch that gave the current set; 0: none */
    int64_t expires_at;         /* keys are due for refresh then */
    uint64_t fetches;           /* fetches started */
    uint64_t fetch_errors;      /* fetches that failed */
    uint64_t refreshes_limited; /* refreshes wanted but refused by the rate limit */
    int last_error;             /* MD_OK or the code of the last failed fetch */
    char last_error_msg[256];
} md_oidc_issuer_stats_t;

int md_oidc_registry_stats(md_oidc_registry_t *reg, size_t i, md_oidc_issuer_stats_t *out) MD_WUR;

#endif
