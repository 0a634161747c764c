/*
 * cedar_bench.c: in-process authorization latency of mandate's Cedar engine
 * on the shared workload (../shared/peers/cedar/data/n<N>/).
 *
 *   cedar_bench DATA_DIR N [CALLS] [WARMUP]
 *
 * Loads policies.cedar, entities.json (the whole store, once) and the schema,
 * parses every line of requests.jsonl into a request beforehand, checks every
 * decision against the line's "expected", then times CALLS authorizations
 * (cycling over the requests), each timed on its own with CLOCK_MONOTONIC,
 * the request arena reset after each.  Prints one line:
 *
 *   mandate_cedar_N=<N> p50_us=.. p99_us=.. mean_us=.. calls=.. mismatches=..
 *     mallocs_in_loop=.. policy_bytes_per_1000=.. evaluated_avg=..
 *
 * mallocs_in_loop counts calls to malloc/calloc/realloc made by mandate's
 * code during the timed loop (the binary is linked with --wrap for them).
 */
#include <jansson.h>
#include <malloc.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#include "cedar/authz.h"
#include "core/json.h"

static unsigned long long n_alloc;
static int counting;

void *__real_malloc(size_t n);
void *__real_calloc(size_t a, size_t b);
void *__real_realloc(void *p, size_t n);
void *__wrap_malloc(size_t n);
void *__wrap_calloc(size_t a, size_t b);
void *__wrap_realloc(void *p, size_t n);

void *__wrap_malloc(size_t n)
{
    if (counting) n_alloc++;
    return __real_malloc(n);
}
void *__wrap_calloc(size_t a, size_t b)
{
    if (counting) n_alloc++;
    return __real_calloc(a, b);
}
void *__wrap_realloc(void *p, size_t n)
{
    if (counting) n_alloc++;
    return __real_realloc(p, n);
}

static double now_us(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec * 1e6 + (double)ts.tv_nsec / 1e3;
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

static char *readf(const char *path, size_t *len)
{
    char *t = NULL;
    md_err_t err = {0};
    if (md_file_read(path, 256u << 20, &t, len, &err) != MD_OK) {
        fprintf(stderr, "%s\n", err.msg);
        exit(1);
    }
    return t;
}

int main(int argc, char **argv)
{
    if (argc < 3) {
        fprintf(stderr, "usage: cedar_bench DATA_DIR N [CALLS] [WARMUP]\n");
        return 1;
    }
    const char *dir = argv[1];
    int N = atoi(argv[2]);
    long calls = argc > 3 ? atol(argv[3]) : 20000;
    long warm = argc > 4 ? atol(argv[4]) : 3000;
    char path[4096];
    md_err_t err = {0};
    size_t len;
    char *text;

    snprintf(path, sizeof(path), "%s/schema.cedarschema", dir);
    md_schema_t *schema = NULL;
    text = readf(path, &len);
    if (md_schema_parse_cedar(text, len, path, &schema, &err) != MD_OK) {
        fprintf(stderr, "%s\n", err.msg);
        return 1;
    }
    free(text);

    snprintf(path, sizeof(path), "%s/n%d/policies.cedar", dir, N);
    text = readf(path, &len);
    struct mallinfo2 m0 = mallinfo2();
    md_policyset_t *ps = NULL;
    if (md_policyset_parse(text, len, path, &ps, &err) != MD_OK || md_policyset_index(ps) != MD_OK) {
        fprintf(stderr, "%s\n", err.msg);
        return 1;
    }
    struct mallinfo2 m1 = mallinfo2();
    free(text);
    size_t policy_bytes = m1.uordblks - m0.uordblks;

    snprintf(path, sizeof(path), "%s/n%d/entities.json", dir, N);
    text = readf(path, &len);
    md_entities_t *es = NULL;
    if (md_entities_parse_json(text, len, path, schema, &es, &err) != MD_OK) {
        fprintf(stderr, "%s\n", err.msg);
        return 1;
    }
    free(text);

    snprintf(path, sizeof(path), "%s/n%d/requests.jsonl", dir, N);
    FILE *f = fopen(path, "r");
    if (f == NULL) {
        perror(path);
        return 1;
    }
    md_arena_t keep;
    md_arena_init(&keep, 1 << 20);
    size_t nreq = 0, cap = 1024;
    md_request_t *reqs = malloc(cap * sizeof(*reqs));
    bool *expect = malloc(cap * sizeof(*expect));
    char *line = NULL;
    size_t lcap = 0;
    while (getline(&line, &lcap, f) > 0) {
        json_error_t je;
        json_t *j = md_json_loadb(line, strlen(line), &je);
        if (j == NULL) continue;
        if (nreq == cap) {
            cap *= 2;
            reqs = realloc(reqs, cap * sizeof(*reqs));
            expect = realloc(expect, cap * sizeof(*expect));
        }
        if (md_request_from_json(j, schema, true, &keep, &reqs[nreq], &err) != MD_OK) {
            fprintf(stderr, "request %zu: %s\n", nreq, err.msg);
            return 1;
        }
        const char *e = json_string_value(json_object_get(j, "expected"));
        expect[nreq++] = e && strcmp(e, "allow") == 0;
        json_decref(j);
    }
    free(line);
    fclose(f);

    md_arena_t arena;
    md_arena_init(&arena, 64 * 1024);
    md_response_t resp;
    long mismatches = 0;
    uint64_t evaluated = 0;
    for (size_t i = 0; i < nreq; i++) {
        if (md_authorize(ps, es, &reqs[i], &arena, &resp) != MD_OK) return 1;
        if (resp.allow != expect[i]) mismatches++;
        evaluated += resp.evaluated;
        md_arena_reset(&arena);
    }
    for (long i = 0; i < warm; i++) {
        if (md_authorize(ps, es, &reqs[i % nreq], &arena, &resp) != MD_OK) return 1;
        md_arena_reset(&arena);
    }
    double *lat = malloc((size_t)calls * sizeof(double));
    double total0 = now_us();
    counting = 1;
    for (long i = 0; i < calls; i++) {
        double t0 = now_us();
        int rc = md_authorize(ps, es, &reqs[i % nreq], &arena, &resp);
        md_arena_reset(&arena);
        lat[i] = now_us() - t0;
        if (rc != MD_OK) return 1;
    }
    counting = 0;
    double total = now_us() - total0;
    qsort(lat, (size_t)calls, sizeof(double), cmp_double);
    printf("mandate_cedar_N=%d p50_us=%.3f p99_us=%.3f mean_us=%.3f calls=%ld mismatches=%ld "
           "mallocs_in_loop=%llu "
           "policy_bytes_per_1000=%zu evaluated_avg=%.2f requests=%zu\n",
           N, lat[calls / 2], lat[calls * 99 / 100], total / (double)calls, calls, mismatches, n_alloc,
           (size_t)((double)policy_bytes * 1000.0 / (double)ps->npolicies), (double)evaluated / (double)nreq,
           nreq);
    free(lat);
    free(reqs);
    free(expect);
    md_arena_free(&arena);
    md_arena_free(&keep);
    md_entities_free(es);
    md_policyset_free(ps);
    md_schema_free(schema);
    return mismatches ? 2 : 0;
}
