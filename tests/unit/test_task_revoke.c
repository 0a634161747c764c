/*
 * test_task_revoke.c: the task table: ids, states, add refusals, cascading
 * revoke and end (exactly the subtree), idempotence, expiry by time, sweep,
 * tree walks, growth; a property test on random delegation trees (scopes
 * derived through task/scope.h, exp and depth checked, random revocations
 * compared with a model); readers hammering md_tasktab_state() while a writer
 * adds, revokes, grows and sweeps (run it under ASan and TSan too).
 *
 * The property test prints its seed; MD_TEST_SEED=<n> replays one.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

#include <cmocka.h>

#include <pthread.h>
#include <stdatomic.h>
#include <time.h>
#include <unistd.h>

#include "task/revoke.h"
#include "task/scope.h"

#define NOW 1000000

/* ---- helpers ---- */

static uint64_t splitmix(uint64_t *s)
{
    uint64_t z = (*s += 0x9e3779b97f4a7c15ULL);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
}

static uint64_t rnd(uint64_t *s, uint64_t n)
{
    return n ? splitmix(s) % n : 0;
}

/* An id whose last 4 bytes carry `tag` (so a callback can map it back) and the rest is random. */
static md_task_id_t tagged_id(uint64_t *s, uint32_t tag)
{
    md_task_id_t id;
    uint64_t a = splitmix(s), b = splitmix(s);
    memcpy(id.b, &a, 8);
    memcpy(id.b + 8, &b, 4);
    memcpy(id.b + 12, &tag, 4);
    return id;
}

static uint32_t id_tag(const md_task_id_t *id)
{
    uint32_t tag;
    memcpy(&tag, id->b + 12, 4);
    return tag;
}

/* A readable fixed id: n in the first byte. */
static md_task_id_t small_id(unsigned n)
{
    md_task_id_t id = {{0}};
    id.b[0] = (uint8_t)n;
    id.b[15] = 0xee;
    return id;
}

static md_tasktab_t *new_tab(size_t expected, unsigned max_depth)
{
    md_tasktab_opts_t o = {.expected = expected, .max_depth = max_depth};
    md_tasktab_t *t = md_tasktab_new(&o);
    assert_non_null(t);
    return t;
}

static void add_ok(md_tasktab_t *t, unsigned id, int parent, int64_t exp)
{
    md_task_id_t i = small_id(id), p = small_id((unsigned)parent);
    md_err_t err = {0};
    int rc = md_tasktab_add(t, &i, parent < 0 ? NULL : &p, exp, MD_TASK_ACTIVE, NOW, &err);
    if (rc != MD_OK) fail_msg("add %u under %d: %d %s", id, parent, rc, err.msg);
}

static md_task_state_t st(md_tasktab_t *t, unsigned id, int64_t now)
{
    md_task_id_t i = small_id(id);
    return md_tasktab_state(t, &i, now);
}

typedef struct collected {
    md_task_id_t ids[64];
    md_task_state_t old[64];
    size_t n;
} collected_t;

static void collect(void *arg, const md_task_id_t *id, md_task_state_t old)
{
    collected_t *c = arg;
    if (c->n < 64) {
        c->ids[c->n] = *id;
        c->old[c->n] = old;
    }
    c->n++;
}

static size_t do_revoke(md_tasktab_t *t, unsigned id, md_task_state_t to, int64_t now, collected_t *c)
{
    md_task_id_t i = small_id(id);
    size_t changed = 99;
    if (c) memset(c, 0, sizeof(*c));
    assert_int_equal(md_tasktab_revoke(t, &i, to, now, c ? collect : NULL, c, &changed), MD_OK);
    if (c) assert_int_equal(c->n, changed);
    return changed;
}

/*
 * Two trees used by several tests:
 *   1 ── 2 ── 4
 *   │    └─── 5 ── 7
 *   └─── 3 ── 6
 *  10 ── 11
 */
static md_tasktab_t *two_trees(void)
{
    md_tasktab_t *t = new_tab(16, 8);
    add_ok(t, 1, -1, NOW + 900);
    add_ok(t, 2, 1, NOW + 800);
    add_ok(t, 3, 1, NOW + 900);
    add_ok(t, 4, 2, NOW + 700);
    add_ok(t, 5, 2, NOW + 800);
    add_ok(t, 6, 3, NOW + 600);
    add_ok(t, 7, 5, NOW + 800);
    add_ok(t, 10, -1, NOW + 900);
    add_ok(t, 11, 10, NOW + 900);
    return t;
}

static const unsigned all_ids[] = {1, 2, 3, 4, 5, 6, 7, 10, 11};
#define NALL (sizeof(all_ids) / sizeof(all_ids[0]))

/* Every task in `set` has state s_in, every other one s_out. */
static void expect_states(md_tasktab_t *t, const unsigned *set, size_t n, md_task_state_t s_in,
                          md_task_state_t s_out)
{
    for (size_t i = 0; i < NALL; i++) {
        bool in = false;
        for (size_t k = 0; k < n; k++)
            in |= set[k] == all_ids[i];
        md_task_state_t got = st(t, all_ids[i], NOW);
        if (got != (in ? s_in : s_out))
            fail_msg("task %u: %s, want %s", all_ids[i], md_task_state_name(got),
                     md_task_state_name(in ? s_in : s_out));
    }
}

/* ---- ids and names ---- */

static void test_ids_and_names(void **state)
{
    md_task_id_t a, b;
    assert_int_equal(md_task_id_new(&a), MD_OK);
    assert_int_equal(md_task_id_new(&b), MD_OK);
    assert_false(md_task_id_eq(&a, &b));
    char hex[MD_TASK_ID_HEX_LEN + 1];
    md_task_id_hex(&a, hex);
    assert_int_equal(strlen(hex), 32);
    md_task_id_t back;
    assert_int_equal(md_task_id_parse(md_str_c(hex), &back), MD_OK);
    assert_true(md_task_id_eq(&a, &back));

    md_task_id_t k = {{0x00, 0x01, 0xab, 0xff}};
    md_task_id_hex(&k, hex);
    assert_string_equal(hex, "0001abff000000000000000000000000");
    /* exactly one text form */
    assert_int_equal(md_task_id_parse(MD_STR("0001ABFF000000000000000000000000"), &back), MD_EINVAL);
    assert_int_equal(md_task_id_parse(MD_STR("0001abff00000000000000000000000"), &back), MD_EINVAL);
    assert_int_equal(md_task_id_parse(MD_STR("0001abff0000000000000000000000000"), &back), MD_EINVAL);
    assert_int_equal(md_task_id_parse(MD_STR("0001abff00000000000000000000000g"), &back), MD_EINVAL);
    assert_int_equal(md_task_id_parse(MD_STR(" 001abff000000000000000000000000"), &back), MD_EINVAL);
    assert_int_equal(md_task_id_parse(MD_STR_NULL, &back), MD_EINVAL);
    md_task_id_t zero = {{0}};
    assert_true(md_task_id_eq(&back, &zero));

    for (md_task_state_t s = MD_TASK_UNKNOWN; s <= MD_TASK_REVOKED; s++) {
        md_task_state_t p;
        assert_int_equal(md_task_state_parse(md_task_state_name(s), &p), MD_OK);
        assert_int_equal(p, s);
    }
    md_task_state_t p;
    assert_int_equal(md_task_state_parse("Active", &p), MD_EINVAL);
    assert_string_equal(md_task_state_name((md_task_state_t)9), "?");
    assert_true(md_task_state_usable(MD_TASK_ACTIVE));
    assert_false(md_task_state_usable(MD_TASK_EXPIRED));
    assert_false(md_task_state_usable(MD_TASK_UNKNOWN));
    assert_true(md_task_state_terminal(MD_TASK_ENDED));
    assert_false(md_task_state_terminal(MD_TASK_EXPIRED));

    md_tasktab_opts_t o = {.max_depth = MD_TASK_DEPTH_LIMIT + 1};
    assert_null(md_tasktab_new(&o));
    md_tasktab_t *t = md_tasktab_new(NULL); /* defaults */
    assert_non_null(t);
    md_tasktab_free(t);
    md_tasktab_free(NULL);
}

/* ---- basic states and refusals ---- */

static void test_basic_states(void **state)
{
    md_tasktab_t *t = two_trees();
    expect_states(t, NULL, 0, MD_TASK_ACTIVE, MD_TASK_ACTIVE);
    assert_int_equal(st(t, 99, NOW), MD_TASK_UNKNOWN);

    md_task_info_t info;
    md_task_id_t i7 = small_id(7), i5 = small_id(5), i1 = small_id(1);
    assert_int_equal(md_tasktab_get(t, &i7, NOW, &info), MD_OK);
    assert_int_equal(info.depth, 3);
    assert_true(info.has_parent);
    assert_true(md_task_id_eq(&info.parent, &i5));
    assert_int_equal(info.exp, NOW + 800);
    assert_int_equal(info.state, MD_TASK_ACTIVE);
    assert_int_equal(info.stored, MD_TASK_ACTIVE);
    assert_int_equal(info.children, 0);
    assert_int_equal(md_tasktab_get(t, &i1, NOW, &info), MD_OK);
    assert_false(info.has_parent);
    assert_int_equal(info.depth, 0);
    assert_int_equal(info.children, 2);
    md_task_id_t i99 = small_id(99);
    assert_int_equal(md_tasktab_get(t, &i99, NOW, &info), MD_ENOENT);

    md_err_t err = {0};
    assert_int_equal(md_tasktab_add(t, &i5, &i1, NOW + 10, MD_TASK_ACTIVE, NOW, &err), MD_TASK_EEXISTS);
    assert_string_equal(err.msg, "task 050000000000000000000000000000ee: already exists");
    md_err_clear(&err);
    md_task_id_t i20 = small_id(20);
    assert_int_equal(md_tasktab_add(t, &i20, &i99, NOW + 10, MD_TASK_ACTIVE, NOW, &err), MD_ENOENT);
    assert_string_equal(err.msg, "task 140000000000000000000000000000ee: parent task "
                                 "630000000000000000000000000000ee is not known");
    md_err_clear(&err);
    assert_int_equal(md_tasktab_add(t, &i20, NULL, NOW + 10, MD_TASK_EXPIRED, NOW, &err), MD_EINVAL);
    assert_int_equal(md_tasktab_add(t, &i20, NULL, NOW + 10, MD_TASK_UNKNOWN, NOW, &err), MD_EINVAL);
    md_err_clear(&err);
    /* a child may not outlive its parent */
    assert_int_equal(md_tasktab_add(t, &i20, &i5, NOW + 801, MD_TASK_ACTIVE, NOW, &err), MD_TASK_EEXP);
    assert_non_null(strstr(err.msg, "is after its parent"));
    assert_int_equal(md_tasktab_add(t, &i20, &i5, NOW + 800, MD_TASK_ACTIVE, NOW, NULL), MD_OK);
    assert_int_equal(st(t, 20, NOW), MD_TASK_ACTIVE);
    md_tasktab_stats_t s = md_tasktab_stats(t);
    assert_int_equal(s.tasks, NALL + 1);
    md_tasktab_free(t);
}

static void test_depth_limit(void **state)
{
    md_tasktab_t *t = new_tab(0, 3);
    add_ok(t, 0, -1, NOW + 100);
    add_ok(t, 1, 0, NOW + 100);
    add_ok(t, 2, 1, NOW + 100);
    add_ok(t, 3, 2, NOW + 100); /* depth 3 = max */
    md_task_id_t i4 = small_id(4), i3 = small_id(3);
    md_err_t err = {0};
    assert_int_equal(md_tasktab_add(t, &i4, &i3, NOW + 100, MD_TASK_ACTIVE, NOW, &err), MD_ELIMIT);
    assert_non_null(strstr(err.msg, "delegation depth 4 exceeds the maximum 3"));
    md_tasktab_free(t);

    /* max_depth 0: roots only */
    t = new_tab(0, 0);
    add_ok(t, 0, -1, NOW + 100);
    md_task_id_t i0 = small_id(0), i1 = small_id(1);
    assert_int_equal(md_tasktab_add(t, &i1, &i0, NOW + 100, MD_TASK_ACTIVE, NOW, NULL), MD_ELIMIT);
    md_tasktab_free(t);

    /* the count cap */
    md_tasktab_opts_t o = {.max_depth = 2, .max_tasks = 3};
    t = md_tasktab_new(&o);
    add_ok(t, 0, -1, NOW + 100);
    add_ok(t, 1, -1, NOW + 100);
    add_ok(t, 2, 0, NOW + 100);
    md_task_id_t i3b = small_id(3);
    md_err_clear(&err);
    assert_int_equal(md_tasktab_add(t, &i3b, NULL, NOW + 100, MD_TASK_ACTIVE, NOW, &err), MD_ELIMIT);
    assert_non_null(strstr(err.msg, "full"));
    md_tasktab_free(t);
}

/* ---- cascades ---- */

static void test_revoke_root_cascades(void **state)
{
    md_tasktab_t *t = two_trees();
    collected_t c;
    assert_int_equal(do_revoke(t, 1, MD_TASK_REVOKED, NOW, &c), 7);
    static const unsigned tree1[] = {1, 2, 3, 4, 5, 6, 7};
    expect_states(t, tree1, 7, MD_TASK_REVOKED, MD_TASK_ACTIVE); /* tree 10 untouched */
    /* pre-order: the root first, every task after its parent */
    assert_int_equal(c.ids[0].b[0], 1);
    for (size_t i = 0; i < c.n; i++) {
        assert_int_equal(c.old[i], MD_TASK_ACTIVE);
        md_task_info_t info;
        assert_int_equal(md_tasktab_get(t, &c.ids[i], NOW, &info), MD_OK);
        if (!info.has_parent) continue;
        bool parent_before = false;
        for (size_t k = 0; k < i; k++)
            parent_before |= md_task_id_eq(&c.ids[k], &info.parent);
        assert_true(parent_before);
    }
    md_tasktab_free(t);
}

static void test_revoke_child_leaves_parent_and_siblings(void **state)
{
    md_tasktab_t *t = two_trees();
    assert_int_equal(do_revoke(t, 2, MD_TASK_REVOKED, NOW, NULL), 4);
    static const unsigned sub2[] = {2, 4, 5, 7};
    expect_states(t, sub2, 4, MD_TASK_REVOKED, MD_TASK_ACTIVE);
    /* a leaf */
    assert_int_equal(do_revoke(t, 6, MD_TASK_REVOKED, NOW, NULL), 1);
    static const unsigned sub26[] = {2, 4, 5, 7, 6};
    expect_states(t, sub26, 5, MD_TASK_REVOKED, MD_TASK_ACTIVE);
    /* the rest of the tree: only what is still active changes */
    collected_t c;
    assert_int_equal(do_revoke(t, 1, MD_TASK_REVOKED, NOW, &c), 2); /* 1 and 3 */
    assert_int_equal(c.ids[0].b[0], 1);
    assert_int_equal(c.ids[1].b[0], 3);
    md_tasktab_free(t);
}

static void test_end_cascades(void **state)
{
    md_tasktab_t *t = two_trees();
    assert_int_equal(do_revoke(t, 5, MD_TASK_REVOKED, NOW, NULL), 2);
    assert_int_equal(do_revoke(t, 1, MD_TASK_ENDED, NOW, NULL), 5);
    for (size_t i = 0; i < NALL; i++) {
        unsigned id = all_ids[i];
        md_task_state_t want = id >= 10               ? MD_TASK_ACTIVE
                               : (id == 5 || id == 7) ? MD_TASK_REVOKED
                                                      : MD_TASK_ENDED;
        assert_int_equal(st(t, id, NOW), want);
    }
    /* terminal never changes: revoking an ended tree does nothing */
    assert_int_equal(do_revoke(t, 1, MD_TASK_REVOKED, NOW, NULL), 0);
    assert_int_equal(st(t, 1, NOW), MD_TASK_ENDED);
    assert_int_equal(st(t, 7, NOW), MD_TASK_REVOKED);
    md_tasktab_free(t);
}

static void test_idempotent(void **state)
{
    md_tasktab_t *t = two_trees();
    assert_int_equal(do_revoke(t, 10, MD_TASK_REVOKED, NOW, NULL), 2);
    assert_int_equal(do_revoke(t, 10, MD_TASK_REVOKED, NOW, NULL), 0);
    assert_int_equal(do_revoke(t, 11, MD_TASK_REVOKED, NOW, NULL), 0);
    assert_int_equal(do_revoke(t, 10, MD_TASK_ENDED, NOW, NULL), 0);
    assert_int_equal(st(t, 10, NOW), MD_TASK_REVOKED);
    md_task_id_t i99 = small_id(99), i1 = small_id(1);
    size_t changed = 7;
    assert_int_equal(md_tasktab_revoke(t, &i99, MD_TASK_REVOKED, NOW, NULL, NULL, &changed), MD_ENOENT);
    assert_int_equal(changed, 0);
    assert_int_equal(md_tasktab_revoke(t, &i1, MD_TASK_ACTIVE, NOW, NULL, NULL, &changed), MD_EINVAL);
    assert_int_equal(md_tasktab_revoke(t, &i1, MD_TASK_EXPIRED, NOW, NULL, NULL, NULL), MD_EINVAL);
    assert_int_equal(st(t, 1, NOW), MD_TASK_ACTIVE);
    md_tasktab_free(t);
}

static void test_add_under_inactive_parent(void **state)
{
    md_tasktab_t *t = two_trees();
    md_err_t err = {0};
    md_task_id_t i30 = small_id(30), i2 = small_id(2), i3 = small_id(3), i10 = small_id(10);
    assert_int_equal(do_revoke(t, 2, MD_TASK_REVOKED, NOW, NULL), 4);
    assert_int_equal(md_tasktab_add(t, &i30, &i2, NOW + 10, MD_TASK_ACTIVE, NOW, &err), MD_TASK_EINACTIVE);
    assert_non_null(strstr(err.msg, "is revoked"));
    md_err_clear(&err);
    assert_int_equal(do_revoke(t, 3, MD_TASK_ENDED, NOW, NULL), 2);
    assert_int_equal(md_tasktab_add(t, &i30, &i3, NOW + 10, MD_TASK_ACTIVE, NOW, &err), MD_TASK_EINACTIVE);
    assert_non_null(strstr(err.msg, "is ended"));
    md_err_clear(&err);
    /* task 10 expires at NOW + 900 */
    assert_int_equal(md_tasktab_add(t, &i30, &i10, NOW + 10, MD_TASK_ACTIVE, NOW + 900, &err),
                     MD_TASK_EINACTIVE);
    assert_non_null(strstr(err.msg, "is expired"));
    /* restoring: a terminal task may sit under a terminal parent */
    assert_int_equal(md_tasktab_add(t, &i30, &i2, NOW + 10, MD_TASK_REVOKED, NOW, NULL), MD_OK);
    assert_int_equal(st(t, 30, NOW), MD_TASK_REVOKED);
    md_task_id_t i31 = small_id(31);
    assert_int_equal(md_tasktab_add(t, &i31, &i3, NOW + 10, MD_TASK_ENDED, NOW, NULL), MD_OK);
    /* and an ended child under an active parent */
    md_task_id_t i32 = small_id(32);
    assert_int_equal(md_tasktab_add(t, &i32, &i10, NOW + 10, MD_TASK_ENDED, NOW, NULL), MD_OK);
    assert_int_equal(st(t, 32, NOW), MD_TASK_ENDED);
    assert_int_equal(st(t, 10, NOW), MD_TASK_ACTIVE);
    md_tasktab_free(t);
}

static void test_expiry_by_time(void **state)
{
    md_tasktab_t *t = two_trees();
    /* 6 expires at NOW+600, 4 at NOW+700, 2/5/7 at NOW+800, 1/3 at NOW+900 */
    assert_int_equal(st(t, 6, NOW + 599), MD_TASK_ACTIVE);
    assert_int_equal(st(t, 6, NOW + 600), MD_TASK_EXPIRED);
    assert_int_equal(st(t, 3, NOW + 600), MD_TASK_ACTIVE);
    assert_int_equal(st(t, 4, NOW + 750), MD_TASK_EXPIRED);
    assert_int_equal(st(t, 2, NOW + 750), MD_TASK_ACTIVE);
    /* a parent's expiry covers its subtree by itself (exp <= parent's) */
    for (size_t i = 0; i < 7; i++)
        assert_int_equal(st(t, all_ids[i], NOW + 900), MD_TASK_EXPIRED);
    /* terminal wins over expired */
    assert_int_equal(do_revoke(t, 5, MD_TASK_REVOKED, NOW, NULL), 2);
    assert_int_equal(st(t, 5, NOW + 2000), MD_TASK_REVOKED);
    /* revoking an expired task records it (old state: expired) */
    collected_t c;
    assert_int_equal(do_revoke(t, 4, MD_TASK_REVOKED, NOW + 750, &c), 1);
    assert_int_equal(c.old[0], MD_TASK_EXPIRED);
    md_task_info_t info;
    md_task_id_t i6 = small_id(6);
    assert_int_equal(md_tasktab_get(t, &i6, NOW + 650, &info), MD_OK);
    assert_int_equal(info.state, MD_TASK_EXPIRED);
    assert_int_equal(info.stored, MD_TASK_ACTIVE);
    /* an active task added already expired reads expired */
    md_task_id_t i40 = small_id(40);
    assert_int_equal(md_tasktab_add(t, &i40, NULL, NOW - 1, MD_TASK_ACTIVE, NOW, NULL), MD_OK);
    assert_int_equal(st(t, 40, NOW), MD_TASK_EXPIRED);
    md_tasktab_free(t);
}

/* ---- sweep ---- */

static int count_visit(void *arg, const md_task_info_t *task)
{
    (*(size_t *)arg)++;
    return 0;
}

static void test_sweep(void **state)
{
    md_tasktab_t *t = two_trees();
    assert_int_equal(md_tasktab_sweep(t, NOW + 600), 0); /* strictly before */
    assert_int_equal(md_tasktab_sweep(t, NOW + 601), 1); /* 6 */
    assert_int_equal(st(t, 6, NOW), MD_TASK_UNKNOWN);
    assert_int_equal(st(t, 3, NOW), MD_TASK_ACTIVE);
    md_task_id_t i3 = small_id(3), i2 = small_id(2), i6 = small_id(6), i50 = small_id(50);
    md_task_info_t info;
    assert_int_equal(md_tasktab_get(t, &i3, NOW, &info), MD_OK);
    assert_int_equal(info.children, 0);
    /* a swept parent is unknown: no child can be added under it */
    assert_int_equal(md_tasktab_add(t, &i50, &i6, NOW + 10, MD_TASK_ACTIVE, NOW, NULL), MD_ENOENT);
    /* revoked tasks stay (and read revoked) until they expire */
    assert_int_equal(do_revoke(t, 2, MD_TASK_REVOKED, NOW, NULL), 4);
    assert_int_equal(md_tasktab_sweep(t, NOW + 701), 1); /* 4 */
    assert_int_equal(st(t, 2, NOW), MD_TASK_REVOKED);
    assert_int_equal(md_tasktab_get(t, &i2, NOW, &info), MD_OK);
    assert_int_equal(info.children, 1); /* 5 remains */
    /* a whole subtree with its root */
    assert_int_equal(md_tasktab_sweep(t, NOW + 801), 3); /* 2, 5, 7 */
    size_t n = 0;
    md_task_id_t i1 = small_id(1);
    assert_int_equal(md_tasktab_walk(t, &i1, NOW, count_visit, &n), MD_OK);
    assert_int_equal(n, 2); /* 1 and 3 */
    assert_int_equal(md_tasktab_sweep(t, NOW + 10000), 4);
    for (size_t i = 0; i < NALL; i++)
        assert_int_equal(st(t, all_ids[i], NOW), MD_TASK_UNKNOWN);
    assert_int_equal(md_tasktab_stats(t).tasks, 0);
    md_tasktab_free(t);
}

/* Churn: adds and sweeps keep memory (the index) bounded by the live count. */
static void test_sweep_bounds_memory(void **state)
{
    md_tasktab_t *t = new_tab(64, 4);
    uint64_t seed = 42;
    size_t max_cap = 0;
    for (int round = 0; round < 200; round++) {
        for (uint32_t i = 0; i < 500; i++) {
            md_task_id_t id = tagged_id(&seed, i);
            assert_int_equal(md_tasktab_add(t, &id, NULL, NOW + round, MD_TASK_ACTIVE, 0, NULL), MD_OK);
        }
        if (round >= 4) assert_int_equal(md_tasktab_sweep(t, NOW + round - 3), 500);
        md_tasktab_stats_t s = md_tasktab_stats(t);
        assert_true(s.tasks <= 2500);
        assert_true(s.tombstones * 4 <= s.index_capacity);
        if (s.index_capacity > max_cap) max_cap = s.index_capacity;
    }
    assert_true(max_cap <= 16384); /* 2,500 live tasks at load <= 1/2, one doubling of slack */
    md_tasktab_stats_t s = md_tasktab_stats(t);
    assert_true(s.grace_periods > 0);
    /* shrinks back when emptied */
    assert_int_equal(md_tasktab_sweep(t, NOW + 100000), 2000);
    s = md_tasktab_stats(t);
    assert_int_equal(s.tasks, 0);
    assert_true(s.index_capacity <= 256);
    md_tasktab_free(t);
}

/* ---- walks ---- */

typedef struct walk_log {
    unsigned ids[32];
    unsigned parents[32];
    size_t n;
    size_t stop_after;
} walk_log_t;

static int log_visit(void *arg, const md_task_info_t *task)
{
    walk_log_t *w = arg;
    w->ids[w->n] = task->id.b[0];
    w->parents[w->n] = task->has_parent ? task->parent.b[0] : 255;
    w->n++;
    return w->stop_after && w->n >= w->stop_after ? 42 : 0;
}

static void test_walks(void **state)
{
    md_tasktab_t *t = two_trees();
    md_task_id_t i1 = small_id(1), i2 = small_id(2), i99 = small_id(99);
    walk_log_t w = {0};
    assert_int_equal(md_tasktab_walk(t, &i1, NOW, log_visit, &w), MD_OK);
    /* pre-order, children newest first */
    static const unsigned pre[] = {1, 3, 6, 2, 5, 7, 4};
    assert_int_equal(w.n, 7);
    for (size_t i = 0; i < 7; i++)
        assert_int_equal(w.ids[i], pre[i]);
    memset(&w, 0, sizeof(w));
    assert_int_equal(md_tasktab_children(t, &i2, NOW, log_visit, &w), MD_OK);
    assert_int_equal(w.n, 2);
    assert_int_equal(w.ids[0], 5);
    assert_int_equal(w.ids[1], 4);
    memset(&w, 0, sizeof(w));
    w.stop_after = 3;
    assert_int_equal(md_tasktab_walk(t, &i1, NOW, log_visit, &w), 42);
    assert_int_equal(w.n, 3);
    assert_int_equal(md_tasktab_walk(t, &i99, NOW, log_visit, &w), MD_ENOENT);
    assert_int_equal(md_tasktab_children(t, &i99, NOW, log_visit, &w), MD_ENOENT);
    /* each: every task once, parents before children */
    memset(&w, 0, sizeof(w));
    assert_int_equal(md_tasktab_each(t, NOW, log_visit, &w), MD_OK);
    assert_int_equal(w.n, NALL);
    for (size_t i = 0; i < w.n; i++) {
        if (w.parents[i] == 255) continue;
        bool before = false;
        for (size_t k = 0; k < i; k++)
            before |= w.ids[k] == w.parents[i];
        assert_true(before);
    }
    /* the order each() gives restores the table */
    md_tasktab_t *copy = new_tab(16, 8);
    assert_int_equal(do_revoke(t, 5, MD_TASK_REVOKED, NOW, NULL), 2);
    for (size_t i = 0; i < w.n; i++) {
        md_task_id_t id = small_id(w.ids[i]), par = small_id(w.parents[i]);
        md_task_info_t info;
        assert_int_equal(md_tasktab_get(t, &id, NOW, &info), MD_OK);
        assert_int_equal(
            md_tasktab_add(copy, &id, info.has_parent ? &par : NULL, info.exp, info.stored, NOW, NULL),
            MD_OK);
    }
    for (size_t i = 0; i < NALL; i++)
        assert_int_equal(st(copy, all_ids[i], NOW), st(t, all_ids[i], NOW));
    md_tasktab_free(copy);
    md_tasktab_free(t);
}

static void test_growth(void **state)
{
    md_tasktab_t *t = new_tab(1, 2);
    uint64_t seed = 7;
    enum { N = 50000 };
    md_task_id_t *ids = malloc(N * sizeof(*ids));
    for (uint32_t i = 0; i < N; i++) {
        ids[i] = tagged_id(&seed, i);
        const md_task_id_t *parent = i >= 100 ? &ids[i % 100] : NULL;
        assert_int_equal(md_tasktab_add(t, &ids[i], parent, NOW + 10, MD_TASK_ACTIVE, NOW, NULL), MD_OK);
    }
    md_tasktab_stats_t s = md_tasktab_stats(t);
    assert_int_equal(s.tasks, N);
    assert_true(s.rebuilds >= 10);
    assert_true(s.index_capacity >= 2 * N);
    for (uint32_t i = 0; i < N; i++)
        assert_int_equal(md_tasktab_state(t, &ids[i], NOW), MD_TASK_ACTIVE);
    /* sequential ids (not random): the keyed hash still spreads them */
    md_tasktab_t *q = new_tab(1, 0);
    for (uint32_t i = 0; i < 20000; i++) {
        md_task_id_t id = {{0}};
        memcpy(id.b + 12, &i, 4); /* only the last bytes vary */
        assert_int_equal(md_tasktab_add(q, &id, NULL, NOW + 10, MD_TASK_ACTIVE, NOW, NULL), MD_OK);
    }
    md_task_id_t absent = {{1}};
    assert_int_equal(md_tasktab_state(q, &absent, NOW), MD_TASK_UNKNOWN);
    md_tasktab_free(q);
    free(ids);
    md_tasktab_free(t);
}

/* ---- the property test: random delegation trees ---- */

enum { UNIVERSE = 48, PT_TREES = 20, PT_MIN = 2000, PT_MAX = 5000, PT_DEPTH = 8, PT_REVOKES = 6 };

typedef struct pnode {
    md_task_id_t id;
    int32_t parent;
    uint8_t depth;
    md_task_state_t model; /* stored state in the model */
    int64_t exp;
    md_scope_t scope;
    bool reported; /* by the last revoke's callback */
} pnode_t;

typedef struct ptree {
    pnode_t *n;
    size_t count;
    size_t root; /* of the revoke running */
    size_t reports;
    bool bad_report;
} ptree_t;

static void prop_changed(void *arg, const md_task_id_t *id, md_task_state_t old)
{
    ptree_t *p = arg;
    uint32_t i = id_tag(id);
    if (i >= p->count || !md_task_id_eq(&p->n[i].id, id) || p->n[i].reported) {
        p->bad_report = true;
        return;
    }
    /* pre-order: the parent, if it changes too, was reported first */
    const pnode_t *par = i == p->root ? NULL : &p->n[p->n[i].parent];
    if (par && par->model == MD_TASK_ACTIVE && !par->reported) p->bad_report = true;
    p->n[i].reported = true;
    p->reports++;
}

static bool in_subtree(const pnode_t *n, size_t i, size_t root)
{
    for (int64_t k = (int64_t)i; k >= 0; k = n[k].parent)
        if ((size_t)k == root) return true;
    return false;
}

static const char *universe[UNIVERSE];
static char universe_buf[UNIVERSE][24];

/* Derive a child's scope from its parent's through the scope functions:
 * a request = random subset of the parent's + maybe some extras, written in
 * random order as an OAuth string; the excess must be exactly the extras; the
 * grant is the request ∩ the parent's scope. */
static md_scope_t derive_scope(uint64_t *seed, const md_scope_t *parent, md_arena_t *a)
{
    const char *words[UNIVERSE];
    size_t nw = 0, nextra = 0;
    const char *extras[UNIVERSE];
    for (size_t i = 0; i < parent->n; i++)
        if (rnd(seed, 3) != 0) words[nw++] = parent->tok[i].p;
    if (rnd(seed, 3) == 0)
        for (size_t k = rnd(seed, 4); k > 0; k--) {
            const char *u = universe[rnd(seed, UNIVERSE)];
            bool dup = md_scope_contains(parent, md_str_c(u));
            for (size_t j = 0; j < nextra; j++)
                dup |= strcmp(extras[j], u) == 0;
            if (!dup) extras[nextra++] = words[nw++] = u;
        }
    if (nw == 0) return (md_scope_t){0};  /* nothing asked: the empty set (no OAuth string for it) */
    for (size_t i = nw - 1; i > 0; i--) { /* shuffle */
        size_t j = rnd(seed, i + 1);
        const char *x = words[i];
        words[i] = words[j];
        words[j] = x;
    }
    md_buf_t b;
    md_buf_init(&b);
    for (size_t i = 0; i < nw; i++)
        md_buf_printf(&b, "%s%s", i ? " " : "", words[i]);
    md_scope_t req, excess, grant;
    md_err_t err = {0};
    if (md_scope_parse((md_str_t){b.p, b.n}, a, &req, &err) != MD_OK) fail_msg("%s: %s", b.p, err.msg);
    assert_int_equal(md_scope_diff(&req, parent, a, &excess), MD_OK);
    assert_int_equal(excess.n, nextra);
    /* the excess in request order: the order the extras appear in the string */
    size_t k = 0;
    for (size_t i = 0; i < nw; i++)
        if (!md_scope_contains(parent, md_str_c(words[i])))
            assert_true(md_str_eqc(md_scope_given(&excess, k++), words[i]));
    md_err_clear(&err);
    int rc = md_scope_check_within(&req, parent, "the parent's scope", &err);
    assert_int_equal(rc, nextra ? MD_SCOPE_EEXCEEDS : MD_OK);
    if (nextra) assert_non_null(strstr(err.msg, extras[0]));
    assert_int_equal(md_scope_intersect(&req, parent, a, &grant), MD_OK);
    assert_int_equal(grant.n + excess.n, req.n);
    md_buf_free(&b);
    return grant;
}

static void test_property_random_trees(void **state)
{
    uint64_t seed;
    const char *env = getenv("MD_TEST_SEED");
    seed = env ? strtoull(env, NULL, 10) : (uint64_t)time(NULL) ^ ((uint64_t)getpid() << 32);
    printf("test_property_random_trees: seed=%llu (replay with MD_TEST_SEED=%llu)\n",
           (unsigned long long)seed, (unsigned long long)seed);
    for (int i = 0; i < UNIVERSE; i++) {
        snprintf(universe_buf[i], sizeof(universe_buf[i]), "svc%02d:%s", i / 2, i % 2 ? "write" : "read");
        universe[i] = universe_buf[i];
    }
    size_t total_nodes = 0, total_changed = 0;
    for (int tree = 0; tree < PT_TREES; tree++) {
        md_arena_t a;
        md_arena_init(&a, 1 << 16);
        size_t n = PT_MIN + rnd(&seed, PT_MAX - PT_MIN + 1);
        ptree_t p = {.n = calloc(n, sizeof(pnode_t)), .count = n};
        md_tasktab_t *t = new_tab(n, PT_DEPTH);
        /* root: a random ceiling from the universe */
        const char *ceiling[UNIVERSE];
        size_t nc = 0;
        for (int i = 0; i < UNIVERSE; i++)
            if (rnd(&seed, 3) != 0) ceiling[nc++] = universe[i];
        assert_int_equal(md_scope_from_list(ceiling, nc, &a, &p.n[0].scope, NULL), MD_OK);
        p.n[0].id = tagged_id(&seed, 0);
        p.n[0].parent = -1;
        p.n[0].exp = NOW + 900;
        p.n[0].model = MD_TASK_ACTIVE;
        assert_int_equal(md_tasktab_add(t, &p.n[0].id, NULL, p.n[0].exp, MD_TASK_ACTIVE, NOW, NULL), MD_OK);
        for (size_t i = 1; i < n; i++) {
            /* half the time a recent node (deep chains), else any node (wide trees) */
            size_t par = rnd(&seed, 2) ? i - 1 - rnd(&seed, i < 16 ? i : 16) : rnd(&seed, i);
            if (p.n[par].depth >= PT_DEPTH) {
                /* the table refuses a level too deep; branch off higher up instead */
                md_task_id_t extra = tagged_id(&seed, UINT32_MAX);
                assert_int_equal(
                    md_tasktab_add(t, &extra, &p.n[par].id, p.n[par].exp, MD_TASK_ACTIVE, NOW, NULL),
                    MD_ELIMIT);
                while (p.n[par].depth >= PT_DEPTH)
                    par = (size_t)p.n[par].parent;
            }
            pnode_t *c = &p.n[i], *pp = &p.n[par];
            c->id = tagged_id(&seed, (uint32_t)i);
            c->parent = (int32_t)par;
            c->depth = (uint8_t)(pp->depth + 1);
            c->exp = pp->exp - (int64_t)rnd(&seed, 30);
            c->model = MD_TASK_ACTIVE;
            c->scope = derive_scope(&seed, &pp->scope, &a);
            /* the derived properties */
            assert_true(md_scope_subset(&c->scope, &pp->scope));
            for (size_t k = 0; k < c->scope.n; k++)
                assert_true(md_scope_contains(&pp->scope, c->scope.tok[k]));
            assert_true(c->exp <= pp->exp);
            if (i % 97 == 0) { /* a child may not outlive its parent */
                md_task_id_t late = tagged_id(&seed, UINT32_MAX);
                assert_int_equal(md_tasktab_add(t, &late, &pp->id, pp->exp + 1, MD_TASK_ACTIVE, NOW, NULL),
                                 MD_TASK_EEXP);
            }
            md_err_t err = {0};
            int rc = md_tasktab_add(t, &c->id, &pp->id, c->exp, MD_TASK_ACTIVE, NOW, &err);
            if (rc != MD_OK)
                fail_msg("seed %llu tree %d node %zu: %s", (unsigned long long)seed, tree, i, err.msg);
        }
        /* the table agrees with the model on shape */
        for (size_t i = 0; i < n; i += 7) {
            md_task_info_t info;
            assert_int_equal(md_tasktab_get(t, &p.n[i].id, NOW, &info), MD_OK);
            assert_int_equal(info.depth, p.n[i].depth);
            assert_true(info.depth <= PT_DEPTH);
            assert_int_equal(info.exp, p.n[i].exp);
            if (p.n[i].parent >= 0) assert_true(md_task_id_eq(&info.parent, &p.n[p.n[i].parent].id));
        }
        total_nodes += n;
        for (int r = 0; r < PT_REVOKES; r++) {
            /* big subtrees too: a node at depth 1, one at depth <= 2, random ones, and sometimes the root */
            size_t root = rnd(&seed, n);
            unsigned want_depth = r == 0 ? 1 : r == 1 ? 2 : PT_DEPTH;
            for (int tries = 0; tries < 1000 && p.n[root].depth > want_depth; tries++)
                root = rnd(&seed, n);
            if (r == PT_REVOKES - 1 && rnd(&seed, 2)) root = 0;
            md_task_state_t to = rnd(&seed, 3) ? MD_TASK_REVOKED : MD_TASK_ENDED;
            size_t expect = 0;
            for (size_t i = 0; i < n; i++) {
                p.n[i].reported = false;
                if (p.n[i].model == MD_TASK_ACTIVE && in_subtree(p.n, i, root)) expect++;
            }
            p.reports = 0;
            p.root = root;
            size_t changed = 0;
            assert_int_equal(md_tasktab_revoke(t, &p.n[root].id, to, NOW, prop_changed, &p, &changed), MD_OK);
            assert_false(p.bad_report);
            if (changed != expect || p.reports != expect)
                fail_msg("seed %llu tree %d: revoking %zu changed %zu, reported %zu, model %zu",
                         (unsigned long long)seed, tree, root, changed, p.reports, expect);
            total_changed += changed;
            for (size_t i = 0; i < n; i++) {
                bool in = in_subtree(p.n, i, root);
                bool was_active = p.n[i].model == MD_TASK_ACTIVE;
                if (in && was_active) p.n[i].model = to;
                if (p.n[i].reported != (in && was_active))
                    fail_msg("seed %llu tree %d: node %zu reported %d", (unsigned long long)seed, tree, i,
                             p.n[i].reported);
                /* exactly the subtree is inactive; everything else keeps its state */
                md_task_state_t got = md_tasktab_state(t, &p.n[i].id, NOW);
                if (got != p.n[i].model)
                    fail_msg(
                        "seed %llu tree %d: after revoking %zu, node %zu (in subtree: %d) is %s, want %s",
                        (unsigned long long)seed, tree, root, i, in, md_task_state_name(got),
                        md_task_state_name(p.n[i].model));
                if (in) assert_false(md_task_state_usable(got));
            }
            /* no active child under the revoked node */
            md_task_id_t kid = tagged_id(&seed, UINT32_MAX);
            assert_int_equal(md_tasktab_add(t, &kid, &p.n[root].id, NOW + 1, MD_TASK_ACTIVE, NOW, NULL),
                             MD_TASK_EINACTIVE);
        }
        /* time: at the root's exp everything still active reads expired */
        for (size_t i = 0; i < n; i += 3) {
            md_task_state_t got = md_tasktab_state(t, &p.n[i].id, NOW + 900);
            assert_int_equal(got, p.n[i].model == MD_TASK_ACTIVE ? MD_TASK_EXPIRED : p.n[i].model);
        }
        md_tasktab_free(t);
        free(p.n);
        md_arena_free(&a);
    }
    printf("test_property_random_trees: %d trees, %zu tasks, %zu state changes checked\n", PT_TREES,
           total_nodes, total_changed);
}

/* ---- concurrency: readers hammer state() while a writer adds, revokes, grows and sweeps ---- */

enum { CC_ROUNDS = 300, CC_PER_ROUND = 120, CC_KEEP = 12, CC_READERS = 3 };

typedef struct cc {
    md_tasktab_t *t;
    md_task_id_t ids[CC_ROUNDS * CC_PER_ROUND];
    _Atomic size_t published;  /* ids[0..published) are in the table (or were) */
    _Atomic int revoked_below; /* rounds < this were revoked (revoke returned) */
    _Atomic int swept_below;   /* rounds < this may be swept (set before the sweep) */
    _Atomic bool done;
    _Atomic uint64_t lookups, violations;
    char first_violation[256];
    _Atomic bool have_violation;
} cc_t;

/* The i-th id of the concurrency test: readers compute ids the writer has not added yet. */
static md_task_id_t cc_id(size_t i)
{
    uint64_t seed = 0x5eed0000 + i * 0x10001;
    return tagged_id(&seed, (uint32_t)i);
}

static void cc_violation(cc_t *c, const char *what, size_t i, md_task_state_t s)
{
    atomic_fetch_add(&c->violations, 1);
    bool expected = false;
    if (atomic_compare_exchange_strong(&c->have_violation, &expected, true))
        snprintf(c->first_violation, sizeof(c->first_violation), "%s: task %zu (round %zu) read %s", what, i,
                 i / CC_PER_ROUND, md_task_state_name(s));
}

static void *cc_reader(void *arg)
{
    cc_t *c = arg;
    uint64_t seed = (uint64_t)(uintptr_t)&seed;
    unsigned char *last = calloc(CC_ROUNDS * CC_PER_ROUND, 1); /* last state this reader saw */
    uint64_t n = 0;
    while (!atomic_load(&c->done)) {
        size_t pub = atomic_load(&c->published);
        if (pub == 0) continue;
        for (int k = 0; k < 256; k++, n++) {
            size_t i = rnd(&seed, pub);
            int round = (int)(i / CC_PER_ROUND);
            int rv_before = atomic_load(&c->revoked_below);
            md_task_state_t s = md_tasktab_state(c->t, &c->ids[i], NOW);
            int sw_after = atomic_load(&c->swept_below);
            if (s == MD_TASK_UNKNOWN && round >= sw_after)
                cc_violation(c, "published, not swept, yet unknown", i, s);
            if (round < rv_before && s != MD_TASK_REVOKED && s != MD_TASK_UNKNOWN)
                cc_violation(c, "revoke returned, yet not revoked", i, s);
            if (s == MD_TASK_EXPIRED || s == MD_TASK_ENDED) cc_violation(c, "impossible state", i, s);
            if (last[i] == MD_TASK_REVOKED && s == MD_TASK_ACTIVE)
                cc_violation(c, "revoked, then active again", i, s);
            if (last[i] == MD_TASK_UNKNOWN + 10 && s != MD_TASK_UNKNOWN)
                cc_violation(c, "swept, then back", i, s);
            last[i] = s == MD_TASK_UNKNOWN ? MD_TASK_UNKNOWN + 10 : (unsigned char)s;
            /* an id the writer may be adding right now: no synchronisation
             * with that add but the slot's own state byte (so TSan checks it) */
            size_t ahead = pub + (size_t)rnd(&seed, CC_PER_ROUND);
            if (ahead < CC_ROUNDS * CC_PER_ROUND) {
                md_task_id_t soon = cc_id(ahead);
                md_task_state_t a = md_tasktab_state(c->t, &soon, NOW);
                if (a != MD_TASK_UNKNOWN && a != MD_TASK_ACTIVE && a != MD_TASK_REVOKED)
                    cc_violation(c, "not yet published", ahead, a);
            }
            /* and an id never added */
            md_task_id_t stranger = tagged_id(&seed, UINT32_MAX - 1);
            if (md_tasktab_state(c->t, &stranger, NOW) != MD_TASK_UNKNOWN) cc_violation(c, "stranger", 0, s);
        }
    }
    atomic_fetch_add(&c->lookups, n * 2);
    free(last);
    return NULL;
}

static void test_concurrent_readers(void **state)
{
    cc_t *c = calloc(1, sizeof(*c));
    c->t = new_tab(16, 8); /* small: the writer grows it under the readers */
    pthread_t th[CC_READERS];
    for (int i = 0; i < CC_READERS; i++)
        assert_int_equal(pthread_create(&th[i], NULL, cc_reader, c), 0);
    uint64_t seed = 99;
    size_t swept = 0, rebuilds_seen = 0;
    for (int round = 0; round < CC_ROUNDS; round++) {
        /* a tree per round: exp = NOW + 1000 + round so sweeps take whole rounds */
        int64_t exp = NOW + 1000 + round;
        for (int k = 0; k < CC_PER_ROUND; k++) {
            size_t i = (size_t)round * CC_PER_ROUND + (size_t)k;
            c->ids[i] = cc_id(i);
            const md_task_id_t *parent =
                k == 0 ? NULL : &c->ids[(size_t)round * CC_PER_ROUND + rnd(&seed, (uint64_t)k)];
            md_err_t err = {0};
            int rc = md_tasktab_add(c->t, &c->ids[i], parent, exp, MD_TASK_ACTIVE, NOW, &err);
            if (rc == MD_ELIMIT) { /* too deep: hang it under the round's root */
                rc = md_tasktab_add(c->t, &c->ids[i], &c->ids[(size_t)round * CC_PER_ROUND], exp,
                                    MD_TASK_ACTIVE, NOW, &err);
            }
            if (rc != MD_OK) fail_msg("add: %s", err.msg);
            atomic_store(&c->published, i + 1);
        }
        /* revoke a middle node of the previous round, then the whole tree two rounds back */
        if (round >= 1) {
            size_t mid = (size_t)(round - 1) * CC_PER_ROUND + 1 + rnd(&seed, CC_PER_ROUND - 1);
            assert_int_equal(md_tasktab_revoke(c->t, &c->ids[mid], MD_TASK_REVOKED, NOW, NULL, NULL, NULL),
                             MD_OK);
        }
        if (round >= 2) {
            size_t root = (size_t)(round - 2) * CC_PER_ROUND;
            size_t changed = 0;
            assert_int_equal(
                md_tasktab_revoke(c->t, &c->ids[root], MD_TASK_REVOKED, NOW, NULL, NULL, &changed), MD_OK);
            assert_true(changed >= 1);
            atomic_store(&c->revoked_below, round - 1);
        }
        if (round >= CC_KEEP && round % 4 == 0) {
            int below = round - CC_KEEP;
            atomic_store(&c->swept_below, below); /* announced before any removal */
            swept += md_tasktab_sweep(c->t, NOW + 1000 + below);
        }
        rebuilds_seen = md_tasktab_stats(c->t).rebuilds;
    }
    atomic_store(&c->done, true);
    for (int i = 0; i < CC_READERS; i++)
        pthread_join(th[i], NULL);
    md_tasktab_stats_t s = md_tasktab_stats(c->t);
    printf(
        "test_concurrent_readers: %d readers, %llu lookups, %zu adds, %zu swept, %llu rebuilds, %llu grace "
        "periods\n",
        CC_READERS, (unsigned long long)atomic_load(&c->lookups), (size_t)CC_ROUNDS * CC_PER_ROUND, swept,
        (unsigned long long)s.rebuilds, (unsigned long long)s.grace_periods);
    if (atomic_load(&c->violations) != 0)
        fail_msg("%llu violations; first: %s", (unsigned long long)atomic_load(&c->violations),
                 c->first_violation);
    assert_true(swept > 0);
    assert_true(rebuilds_seen >= 3);
    assert_true(atomic_load(&c->lookups) > 0);
    md_tasktab_free(c->t);
    free(c);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_ids_and_names),
        cmocka_unit_test(test_basic_states),
        cmocka_unit_test(test_depth_limit),
        cmocka_unit_test(test_revoke_root_cascades),
        cmocka_unit_test(test_revoke_child_leaves_parent_and_siblings),
        cmocka_unit_test(test_end_cascades),
        cmocka_unit_test(test_idempotent),
        cmocka_unit_test(test_add_under_inactive_parent),
        cmocka_unit_test(test_expiry_by_time),
        cmocka_unit_test(test_sweep),
        cmocka_unit_test(test_sweep_bounds_memory),
        cmocka_unit_test(test_walks),
        cmocka_unit_test(test_growth),
        cmocka_unit_test(test_property_random_trees),
        cmocka_unit_test(test_concurrent_readers),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
