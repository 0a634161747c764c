/*
 * revoke_bench.c: the task table on the hot path and under revocation.
 *
 *   revoke_bench [RUNS]        (default 9; every figure is the median of RUNS runs)
 *
 * Prints one line of key=value:
 *   lookup_*_ns       md_tasktab_state() in a table of 100,000 tasks, ids in
 *                     random order (so mostly cache misses): active ids,
 *                     revoked ids, ids never added; lookup_hot_ns: the same
 *                     64 ids over and over (cache-resident)
 *   mutex_*           the naive baseline in the same run: the same lookup
 *                     under one pthread mutex (what a locked table costs at
 *                     least), single-threaded and with THREADS threads at once;
 *                     *_ratio = baseline time / lock-free time
 *   revoke_*_ms       md_tasktab_revoke() of a root with 10,000 descendants,
 *                     the changed ids collected by the callback (what the
 *                     caller persists), in the 100,000-task table: bushy
 *                     (random parents, depth <= 8), wide (all children of the
 *                     root), deep (1,250 chains of 8)
 *   sweep_10k_ms      md_tasktab_sweep() removing those 10,001 tasks again
 * A benchmark, not a test: it never fails on a number (targets from issue 4:
 * lookup <= 100 ns, revoking 10,000 descendants <= 50 ms).
 */
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#include "task/revoke.h"

#define NOW 1700000000
#define BACKGROUND 100000
#define TREE 10000
#define THREADS 2

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

static double median(double *v, int n)
{
    qsort(v, (size_t)n, sizeof(double), cmp_double);
    return v[n / 2];
}

static uint64_t splitmix(uint64_t *s)
{
    uint64_t z = (*s += 0x9e3779b97f4a7c15ULL);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
}

static md_task_id_t rand_id(uint64_t *s)
{
    md_task_id_t id;
    uint64_t a = splitmix(s), b = splitmix(s);
    memcpy(id.b, &a, 8);
    memcpy(id.b + 8, &b, 8);
    return id;
}

static void add_or_die(md_tasktab_t *t, const md_task_id_t *id, const md_task_id_t *parent, int64_t exp)
{
    md_err_t err = {0};
    if (md_tasktab_add(t, id, parent, exp, MD_TASK_ACTIVE, NOW, &err) != MD_OK) {
        fprintf(stderr, "add: %s\n", err.msg);
        exit(1);
    }
}

static pthread_mutex_t naive_mu = PTHREAD_MUTEX_INITIALIZER;

static md_task_state_t naive_state(md_tasktab_t *t, const md_task_id_t *id, int64_t now)
{
    pthread_mutex_lock(&naive_mu);
    md_task_state_t s = md_tasktab_state(t, id, now);
    pthread_mutex_unlock(&naive_mu);
    return s;
}

typedef md_task_state_t (*lookup_fn)(md_tasktab_t *, const md_task_id_t *, int64_t);

/* ns per lookup over `n` lookups of ids[order[i] ...]; counts answers other than `want`. */
static double time_lookups(lookup_fn fn, md_tasktab_t *t, const md_task_id_t *ids, const uint32_t *order,
                           size_t n, md_task_state_t want, long *wrong)
{
    double t0 = now_s();
    for (size_t i = 0; i < n; i++)
        if (fn(t, &ids[order[i]], NOW) != want) (*wrong)++;
    return (now_s() - t0) * 1e9 / (double)n;
}

typedef struct mt_arg {
    lookup_fn fn;
    md_tasktab_t *t;
    const md_task_id_t *ids;
    size_t nids;
    double secs;
    _Atomic int *go;
    uint64_t done;
    long wrong;
} mt_arg_t;

static void *mt_worker(void *p)
{
    mt_arg_t *a = p;
    uint64_t seed = (uint64_t)(uintptr_t)a, n = 0;
    while (!atomic_load(a->go)) {}
    double t0 = now_s();
    do {
        for (int k = 0; k < 1024; k++, n++)
            if (a->fn(a->t, &a->ids[splitmix(&seed) % a->nids], NOW) != MD_TASK_ACTIVE) a->wrong++;
    } while (now_s() - t0 < a->secs);
    a->done = (uint64_t)((double)n / (now_s() - t0));
    return NULL;
}

/* Lookups per second, all threads together. */
static double mt_rate(lookup_fn fn, md_tasktab_t *t, const md_task_id_t *ids, size_t nids, double secs,
                      long *wrong)
{
    pthread_t th[THREADS];
    mt_arg_t args[THREADS];
    _Atomic int go = 0;
    for (int i = 0; i < THREADS; i++) {
        args[i] = (mt_arg_t){fn, t, ids, nids, secs, &go, 0, 0};
        pthread_create(&th[i], NULL, mt_worker, &args[i]);
    }
    atomic_store(&go, 1);
    double total = 0;
    for (int i = 0; i < THREADS; i++) {
        pthread_join(th[i], NULL);
        total += (double)args[i].done;
        *wrong += args[i].wrong;
    }
    return total;
}

typedef struct sink {
    md_task_id_t *ids;
    size_t n;
} sink_t;

static void collect(void *arg, const md_task_id_t *id, md_task_state_t old)
{
    sink_t *s = arg;
    s->ids[s->n++] = *id;
}

enum shape { BUSHY, WIDE, DEEP };

/* Add a root with TREE descendants of the given shape, exp = NOW + 10 (the background lives longer). */
static void add_tree(md_tasktab_t *t, enum shape shape, uint64_t *seed, md_task_id_t *ids,
                     unsigned char *depth)
{
    ids[0] = rand_id(seed);
    depth[0] = 0;
    add_or_die(t, &ids[0], NULL, NOW + 10);
    for (size_t i = 1; i <= TREE; i++) {
        size_t parent;
        if (shape == WIDE) {
            parent = 0;
        } else if (shape == DEEP) {
            parent = (i - 1) % 8 == 0 ? 0 : i - 1; /* 1,250 chains of 8 under the root */
        } else {
            do
                parent = splitmix(seed) % i;
            while (depth[parent] >= 8);
        }
        ids[i] = rand_id(seed);
        depth[i] = (unsigned char)(depth[parent] + 1);
        add_or_die(t, &ids[i], &ids[parent], NOW + 10);
    }
}

int main(int argc, char **argv)
{
    int runs = argc > 1 ? atoi(argv[1]) : 9;
    if (runs < 1 || runs > 101) runs = 9;
    uint64_t seed = 12345;
    md_tasktab_opts_t opts = {.expected = BACKGROUND + TREE + 1, .max_depth = 8};
    md_tasktab_t *t = md_tasktab_new(&opts);
    if (t == NULL) return 1;

    /* 100,000 tasks: 1,000 roots of 99 children each (to make revoked trees from) */
    md_task_id_t *bg = malloc(BACKGROUND * sizeof(*bg));
    for (size_t i = 0; i < BACKGROUND; i++) {
        bg[i] = rand_id(&seed);
        add_or_die(t, &bg[i], i % 100 == 0 ? NULL : &bg[i - i % 100], NOW + 900);
    }
    /* revoke every other tree: half the table reads revoked */
    md_task_id_t *active = malloc(BACKGROUND / 2 * sizeof(*active));
    md_task_id_t *revoked = malloc(BACKGROUND / 2 * sizeof(*revoked));
    md_task_id_t *unknown = malloc(BACKGROUND / 2 * sizeof(*unknown));
    size_t na = 0, nr = 0;
    for (size_t i = 0; i < BACKGROUND; i++) {
        if ((i / 100) % 2 == 1) {
            if (i % 100 == 0 && md_tasktab_revoke(t, &bg[i], MD_TASK_REVOKED, NOW, NULL, NULL, NULL) != MD_OK)
                return 1;
            revoked[nr++] = bg[i];
        } else {
            active[na++] = bg[i];
        }
    }
    for (size_t i = 0; i < BACKGROUND / 2; i++)
        unknown[i] = rand_id(&seed);

    enum { N = 400000 };
    uint32_t *order = malloc(N * sizeof(*order)), *hot = malloc(N * sizeof(*hot));
    for (size_t i = 0; i < N; i++) {
        order[i] = (uint32_t)(splitmix(&seed) % (BACKGROUND / 2));
        hot[i] = (uint32_t)(i % 64);
    }
    double *v_act = malloc((size_t)runs * sizeof(double)), *v_rev = malloc((size_t)runs * sizeof(double));
    double *v_unk = malloc((size_t)runs * sizeof(double)), *v_hot = malloc((size_t)runs * sizeof(double));
    double *v_mx = malloc((size_t)runs * sizeof(double)), *v_mxhot = malloc((size_t)runs * sizeof(double));
    long wrong = 0;
    for (int r = 0; r < runs; r++) {
        v_act[r] = time_lookups(md_tasktab_state, t, active, order, N, MD_TASK_ACTIVE, &wrong);
        v_rev[r] = time_lookups(md_tasktab_state, t, revoked, order, N, MD_TASK_REVOKED, &wrong);
        v_unk[r] = time_lookups(md_tasktab_state, t, unknown, order, N, MD_TASK_UNKNOWN, &wrong);
        v_hot[r] = time_lookups(md_tasktab_state, t, active, hot, N, MD_TASK_ACTIVE, &wrong);
        v_mx[r] = time_lookups(naive_state, t, active, order, N, MD_TASK_ACTIVE, &wrong);
        v_mxhot[r] = time_lookups(naive_state, t, active, hot, N, MD_TASK_ACTIVE, &wrong);
    }
    double act = median(v_act, runs), rev = median(v_rev, runs), unk = median(v_unk, runs);
    double hotns = median(v_hot, runs), mx = median(v_mx, runs), mxhot = median(v_mxhot, runs);
    double *v_mt = malloc((size_t)runs * sizeof(double)), *v_mtmx = malloc((size_t)runs * sizeof(double));
    for (int r = 0; r < runs; r++) {
        v_mt[r] = mt_rate(md_tasktab_state, t, active, na, 0.2, &wrong);
        v_mtmx[r] = mt_rate(naive_state, t, active, na, 0.2, &wrong);
    }
    double mt = median(v_mt, runs), mtmx = median(v_mtmx, runs);

    /* revocation of 10,000 descendants, in the same 100,000-task table */
    md_task_id_t *tree = malloc((TREE + 1) * sizeof(*tree));
    unsigned char *depth = malloc(TREE + 1);
    sink_t sink = {malloc((TREE + 1) * sizeof(md_task_id_t)), 0};
    double revoke_ms[3], *v = malloc((size_t)runs * sizeof(double)),
                         *v_sweep = malloc((size_t)runs * sizeof(double));
    for (int shape = BUSHY; shape <= DEEP; shape++) {
        for (int r = 0; r < runs; r++) {
            add_tree(t, (enum shape)shape, &seed, tree, depth);
            sink.n = 0;
            size_t changed = 0;
            double t0 = now_s();
            int rc = md_tasktab_revoke(t, &tree[0], MD_TASK_REVOKED, NOW, collect, &sink, &changed);
            v[r] = (now_s() - t0) * 1e3;
            if (rc != MD_OK || changed != TREE + 1 || sink.n != TREE + 1) wrong++;
            t0 = now_s();
            size_t swept = md_tasktab_sweep(t, NOW + 11);
            v_sweep[r] = (now_s() - t0) * 1e3;
            if (swept != TREE + 1) wrong++;
        }
        revoke_ms[shape] = median(v, runs);
    }
    double sweep_ms = median(v_sweep, runs);
    md_tasktab_stats_t st = md_tasktab_stats(t);

    printf(
        "mandate_revoke tasks=%zu runs=%d lookup_active_ns=%.1f lookup_revoked_ns=%.1f "
        "lookup_unknown_ns=%.1f "
        "lookup_hot_ns=%.1f mutex_lookup_ns=%.1f mutex_hot_ns=%.1f mutex_ratio=%.2f mutex_hot_ratio=%.2f "
        "threads=%d mt_lookups_per_s=%.0f mt_mutex_lookups_per_s=%.0f mt_ratio=%.2f revoke_bushy_ms=%.3f "
        "revoke_wide_ms=%.3f revoke_deep_ms=%.3f revoke_descendants=%d sweep_10k_ms=%.3f index_capacity=%zu "
        "wrong=%ld\n",
        st.tasks, runs, act, rev, unk, hotns, mx, mxhot, mx / act, mxhot / hotns, THREADS, mt, mtmx,
        mt / mtmx, revoke_ms[BUSHY], revoke_ms[WIDE], revoke_ms[DEEP], TREE, sweep_ms, st.index_capacity,
        wrong);
    md_tasktab_free(t);
    free(bg);
    free(active);
    free(revoked);
    free(unknown);
    free(order);
    free(hot);
    free(v_act);
    free(v_rev);
    free(v_unk);
    free(v_hot);
    free(v_mx);
    free(v_mxhot);
    free(v_mt);
    free(v_mtmx);
    free(tree);
    free(depth);
    free(sink.ids);
    free(v);
    free(v_sweep);
    return wrong ? 1 : 0;
}
