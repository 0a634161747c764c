/*
 * tcache.h: the verified-token cache.
 *
 * A gateway verifies a token once and then serves it from this cache until
 * its `exp` (docs/DESIGN.md "Tokens").  The key is the whole token: a lookup
 * hashes it with SipHash-1-3 under a random per-cache key (so nobody can
 * aim collisions at one bucket) and confirms a hit by comparing every byte
 * in constant time (so a timing probe cannot learn a cached token's bytes).
 *
 * Contract:
 *   - One cache per verification policy (issuer keys, audience, type...): a
 *     token verified under one policy must never be served to another.
 *   - One cache per thread: no locking inside (each worker owns its caches).
 *   - A hit requires now < exp: a cached token is never served past its exp,
 *     and no clock skew is granted on the cached path.
 *   - Revocation is not the cache's business: callers check it on every use.
 *   - The cache owns what is put in it (the md_jwt_t and a copy of the token)
 *     and frees it on eviction, on md_tcache_clear() and md_tcache_free().
 * Capacity is fixed at creation: sets of 4 ways; a full set evicts the
 * expired or else the least recently inserted entry.
 */
#ifndef MD_TOKEN_TCACHE_H
#define MD_TOKEN_TCACHE_H

#include "core/core.h"
#include "token/token.h"

typedef struct md_tcache md_tcache_t;

typedef struct md_tcache_stats {
    uint64_t hits, misses, expired, evictions, inserts;
} md_tcache_stats_t;

/* A cache for about `capacity` tokens (rounded up to a power of two, at least 64). NULL on OOM. */
md_tcache_t *md_tcache_new(size_t capacity);
void md_tcache_free(md_tcache_t *c);

/* The verified token for `token` if cached and now < its exp; NULL otherwise
 * (an expired entry is dropped).  The result is borrowed: valid until the
 * next call that may evict (put, clear, free). */
const md_jwt_t *md_tcache_get(md_tcache_t *c, md_str_t token, int64_t now);

/* Cache jwt (taken over, also on failure) for token until jwt->exp.  Tokens
 * without exp, already expired at `now`, or longer than MD_JWT_MAX_LEN_LIMIT
 * are not cached (jwt freed, MD_EINVAL).  MD_ENOMEM when the copy fails. */
int md_tcache_put(md_tcache_t *c, md_str_t token, md_jwt_t *jwt, int64_t now);

/* Drop every entry (e.g. when an issuer's keys change). */
void md_tcache_clear(md_tcache_t *c);
md_tcache_stats_t md_tcache_stats(const md_tcache_t *c);

/* SipHash-1-3 (what the cache uses) and SipHash-2-4 (the paper's reference
 * variant, for test vectors) of p under a 16-byte key. */
uint64_t md_siphash13(const unsigned char key[16], const void *p, size_t n);
uint64_t md_siphash24(const unsigned char key[16], const void *p, size_t n);

#endif
