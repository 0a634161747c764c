/*
 * tcache.c: the verified-token cache (see tcache.h).
 *
 * Layout: nsets * 4 entries; set = siphash(token) & (nsets - 1).  An entry
 * is live when tok != NULL.  `stamp` is a per-cache insertion counter used to
 * pick the oldest way of a full set.
 *
 * SipHash is written here (not taken from OpenSSL's EVP_MAC "SIPHASH"):
 * the EVP path allocates and costs ~1 µs per call, which is the whole budget
 * of a cached verification.  Reference: Aumasson & Bernstein, "SipHash: a
 * fast short-input PRF" (2012); 1 compression and 3 finalisation rounds, the
 * variant used by Rust's std HashMap.
 */
#include "token/tcache.h"

#include <stdlib.h>

#include <openssl/crypto.h>
#include <openssl/rand.h>

#define WAYS 4

typedef struct entry {
    char *tok; /* owned copy; NULL: empty */
    size_t len;
    uint64_t h;
    int64_t exp;
    uint64_t stamp;
    md_jwt_t *jwt; /* owned */
} entry_t;

struct md_tcache {
    unsigned char key[16];
    entry_t *e; /* nsets * WAYS */
    size_t mask;
    uint64_t stamp;
    md_tcache_stats_t st;
};

#define ROTL(x, b) (uint64_t)(((x) << (b)) | ((x) >> (64 - (b))))
#define SIPROUND                                                                                             \
    do {                                                                                                     \
        v0 += v1;                                                                                            \
        v1 = ROTL(v1, 13);                                                                                   \
        v1 ^= v0;                                                                                            \
        v0 = ROTL(v0, 32);                                                                                   \
        v2 += v3;                                                                                            \
        v3 = ROTL(v3, 16);                                                                                   \
        v3 ^= v2;                                                                                            \
        v0 += v3;                                                                                            \
        v3 = ROTL(v3, 21);                                                                                   \
        v3 ^= v0;                                                                                            \
        v2 += v1;                                                                                            \
        v1 = ROTL(v1, 17);                                                                                   \
        v1 ^= v2;                                                                                            \
        v2 = ROTL(v2, 32);                                                                                   \
    } while (0)

static uint64_t le64(const unsigned char *p)
{
    return (uint64_t)p[0] | (uint64_t)p[1] << 8 | (uint64_t)p[2] << 16 | (uint64_t)p[3] << 24 |
           (uint64_t)p[4] << 32 | (uint64_t)p[5] << 40 | (uint64_t)p[6] << 48 | (uint64_t)p[7] << 56;
}

static uint64_t siphash(const unsigned char key[16], const void *data, size_t n, int crounds, int drounds)
{
    const unsigned char *p = data;
    uint64_t k0 = le64(key), k1 = le64(key + 8);
    uint64_t v0 = 0x736f6d6570736575ULL ^ k0, v1 = 0x646f72616e646f6dULL ^ k1;
    uint64_t v2 = 0x6c7967656e657261ULL ^ k0, v3 = 0x7465646279746573ULL ^ k1;
    size_t full = n & ~(size_t)7;
    for (size_t i = 0; i < full; i += 8) {
        uint64_t m = le64(p + i);
        v3 ^= m;
        for (int r = 0; r < crounds; r++)
            SIPROUND;
        v0 ^= m;
    }
    uint64_t b = (uint64_t)n << 56;
    switch (n & 7) {
    case 7: b |= (uint64_t)p[full + 6] << 48; /* fall through */
    case 6: b |= (uint64_t)p[full + 5] << 40; /* fall through */
    case 5: b |= (uint64_t)p[full + 4] << 32; /* fall through */
    case 4: b |= (uint64_t)p[full + 3] << 24; /* fall through */
    case 3: b |= (uint64_t)p[full + 2] << 16; /* fall through */
    case 2: b |= (uint64_t)p[full + 1] << 8;  /* fall through */
    case 1: b |= (uint64_t)p[full]; break;
    default: break;
    }
    v3 ^= b;
    for (int r = 0; r < crounds; r++)
        SIPROUND;
    v0 ^= b;
    v2 ^= 0xff;
    for (int r = 0; r < drounds; r++)
        SIPROUND;
    return v0 ^ v1 ^ v2 ^ v3;
}

uint64_t md_siphash13(const unsigned char key[16], const void *p, size_t n)
{
    return siphash(key, p, n, 1, 3);
}

uint64_t md_siphash24(const unsigned char key[16], const void *p, size_t n)
{
    return siphash(key, p, n, 2, 4);
}

md_tcache_t *md_tcache_new(size_t capacity)
{
    size_t sets = 16;
    while (sets * WAYS < capacity)
        sets *= 2;
    md_tcache_t *c = calloc(1, sizeof(*c));
    if (c == NULL) return NULL;
    c->e = calloc(sets * WAYS, sizeof(entry_t));
    if (c->e == NULL || RAND_bytes(c->key, sizeof(c->key)) != 1) {
        free(c->e);
        free(c);
        return NULL;
    }
    c->mask = sets - 1;
    return c;
}

static void drop(entry_t *e)
{
    if (e->tok == NULL) return;
    OPENSSL_cleanse(e->tok, e->len); /* a bearer token: wipe the copy */
    free(e->tok);
    md_jwt_free(e->jwt);
    free(e->jwt);
    memset(e, 0, sizeof(*e));
}

void md_tcache_clear(md_tcache_t *c)
{
    if (c == NULL) return;
    for (size_t i = 0; i <= c->mask; i++)
        for (int w = 0; w < WAYS; w++)
            drop(&c->e[i * WAYS + w]);
}

void md_tcache_free(md_tcache_t *c)
{
    if (c == NULL) return;
    md_tcache_clear(c);
    free(c->e);
    OPENSSL_cleanse(c->key, sizeof(c->key));
    free(c);
}

const md_jwt_t *md_tcache_get(md_tcache_t *c, md_str_t token, int64_t now)
{
    uint64_t h = md_siphash13(c->key, token.p, token.n);
    entry_t *set = &c->e[(h & c->mask) * WAYS];
    for (int w = 0; w < WAYS; w++) {
        entry_t *e = &set[w];
        if (e->tok == NULL || e->h != h || e->len != token.n) continue;
        if (CRYPTO_memcmp(e->tok, token.p, token.n) != 0) continue;
        if (now >= e->exp) {
            drop(e);
            c->st.expired++;
            c->st.misses++;
            return NULL;
        }
        c->st.hits++;
        return e->jwt;
    }
    c->st.misses++;
    return NULL;
}

int md_tcache_put(md_tcache_t *c, md_str_t token, md_jwt_t *jwt, int64_t now)
{
    if (jwt == NULL) return MD_EINVAL;
    if (jwt->exp <= now || token.n == 0 || token.n > MD_JWT_MAX_LEN_LIMIT) {
        md_jwt_free(jwt);
        free(jwt);
        return MD_EINVAL;
    }
    uint64_t h = md_siphash13(c->key, token.p, token.n);
    entry_t *set = &c->e[(h & c->mask) * WAYS], *victim = NULL;
    for (int w = 0; w < WAYS; w++) {
        entry_t *e = &set[w];
        if (e->tok && e->h == h && e->len == token.n && CRYPTO_memcmp(e->tok, token.p, token.n) == 0) {
            victim = e; /* the same token again: replace it */
            break;
        }
        if (e->tok == NULL || e->exp <= now) {
            if (victim == NULL || victim->tok != NULL) victim = e;
        } else if (victim == NULL || (victim->tok != NULL && victim->exp > now && e->stamp < victim->stamp)) {
            victim = e;
        }
    }
    char *copy = malloc(token.n);
    if (copy == NULL) {
        md_jwt_free(jwt);
        free(jwt);
        return MD_ENOMEM;
    }
    memcpy(copy, token.p, token.n);
    if (victim->tok) {
        if (victim->exp > now) c->st.evictions++;
        drop(victim);
    }
    victim->tok = copy;
    victim->len = token.n;
    victim->h = h;
    victim->exp = jwt->exp;
    victim->stamp = ++c->stamp;
    victim->jwt = jwt;
    c->st.inserts++;
    return MD_OK;
}

md_tcache_stats_t md_tcache_stats(const md_tcache_t *c)
{
    return c->st;
}
