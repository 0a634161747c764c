/*
 * token_bench.c: JWT-SVID minting and verification in process.
 *
 *   token_bench [SECONDS]
 *
 * Prints one line:
 *   mandate_token mint_per_s=.. verify_per_s=.. cached_verify_p50_ns=.. cached_verify_p99_ns=..
 *
 * mint: claims built as a JWT-SVID (sub, aud, iat, exp, jti), serialised, signed
 * ES256 (md_jwt_sign).  verify: md_jwt_verify (signature and claims).  cached:
 * md_tcache_get hits on verified tokens (SipHash + constant-time compare),
 * each timed in batches of 64 to stay above the clock's resolution.
 */
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#include "token/tcache.h"
#include "token/token.h"

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

static json_t *svid_claims(long i, int64_t now)
{
    char jti[32];
    snprintf(jti, sizeof(jti), "svid-%ld", i);
    return json_pack("{s:s,s:s,s:I,s:I,s:s}", "sub", "spiffe://example.org/agent/triage", "aud", "mandate",
                     "iat", (json_int_t)now, "exp", (json_int_t)(now + 300), "jti", jti);
}

int main(int argc, char **argv)
{
    double secs = argc > 1 ? atof(argv[1]) : 2.0;
    md_err_t err = {0};
    md_jwk_t *key = NULL;
    if (md_jwk_generate(MD_JOSE_ES256, &key, &err) != MD_OK) {
        fprintf(stderr, "%s\n", err.msg);
        return 1;
    }
    int64_t now = (int64_t)time(NULL);

    /* mint */
    enum { KEEP = 4096 };
    md_buf_t *toks = calloc(KEEP, sizeof(md_buf_t));
    long minted = 0;
    double t0 = now_s(), t1;
    do {
        json_t *c = svid_claims(minted, now);
        md_buf_t *b = &toks[minted % KEEP];
        md_buf_reset(b);
        if (md_jwt_sign(key, MD_JOSE_ES256, "JWT", c, b, &err) != MD_OK) {
            fprintf(stderr, "sign: %s\n", err.msg);
            return 1;
        }
        json_decref(c);
        minted++;
        t1 = now_s();
    } while (t1 - t0 < secs);
    double mint_rate = (double)minted / (t1 - t0);
    long ntok = minted < KEEP ? minted : KEEP;

    /* verify (uncached) */
    md_jwt_verify_opts_t opts = {.now = now, .skew = 60, .aud = "mandate", .algs = MD_JOSE_ES256};
    const md_jwk_t *keys[1] = {key};
    long verified = 0;
    t0 = now_s();
    do {
        md_buf_t *b = &toks[verified % ntok];
        md_jwt_t jwt = {0};
        if (md_jwt_verify(keys, 1, (md_str_t){b->p, b->n}, &opts, &jwt, &err) != MD_OK) {
            fprintf(stderr, "verify: %s\n", err.msg);
            return 1;
        }
        md_jwt_free(&jwt);
        verified++;
        t1 = now_s();
    } while (t1 - t0 < secs);
    double verify_rate = (double)verified / (t1 - t0);

    /* cached */
    md_tcache_t *cache = md_tcache_new((size_t)ntok * 64);
    for (long i = 0; i < ntok; i++) {
        md_jwt_t *jwt = calloc(1, sizeof(*jwt));
        if (md_jwt_verify(keys, 1, (md_str_t){toks[i].p, toks[i].n}, &opts, jwt, &err) != MD_OK ||
            md_tcache_put(cache, (md_str_t){toks[i].p, toks[i].n}, jwt, now) != MD_OK) {
            fprintf(stderr, "cache fill failed\n");
            return 1;
        }
    }
    enum { BATCH = 64, ROUNDS = 20000 };
    double *lat = malloc(ROUNDS * sizeof(double));
    long misses = 0;
    for (int r = 0; r < ROUNDS; r++) {
        double a = now_s();
        for (int k = 0; k < BATCH; k++) {
            md_buf_t *b = &toks[(r * BATCH + k) % ntok];
            if (md_tcache_get(cache, (md_str_t){b->p, b->n}, now + 1) == NULL) misses++;
        }
        lat[r] = (now_s() - a) * 1e9 / BATCH;
    }
    qsort(lat, ROUNDS, sizeof(double), cmp_double);
    printf(
        "mandate_token mint_per_s=%.0f verify_per_s=%.0f cached_verify_p50_ns=%.0f cached_verify_p99_ns=%.0f "
        "cache_misses=%ld token_bytes=%zu\n",
        mint_rate, verify_rate, lat[ROUNDS / 2], lat[ROUNDS * 99 / 100], misses, toks[0].n);
    md_tcache_free(cache);
    for (long i = 0; i < KEEP; i++)
        md_buf_free(&toks[i]);
    free(toks);
    free(lat);
    md_jwk_free(key);
    return 0;
}
