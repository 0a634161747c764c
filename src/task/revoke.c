/*
 * revoke.c: the task table (see revoke.h for the contract).
 *
 * Layout
 *   index_t  a power-of-two array of 32-byte slots, each holding a task's
 *            id, exp and state byte (SLOT_EMPTY, SLOT_TOMB or the stored
 *            state), so a lookup touches one slot of one cache line.  Linear
 *            probing from siphash13(id).  A slot goes empty -> live ->
 *            tombstone and is never reused within one array, so its id and
 *            exp never change while a reader may read them; the state byte is
 *            the only thing that changes in a live slot (a revoke).  The
 *            writer keeps (live + tombstones) <= capacity / 2, so every probe
 *            meets an empty slot, and rebuilds (grow, purge, shrink) into a
 *            fresh array that it then publishes.
 *   node_t   the writer's view of each task: the tree links (parent, child =
 *            newest child, next/prev siblings) and the task's slot number.
 *            Readers never touch nodes, so nodes are freed at once.
 *
 * Readers (md_tasktab_state) and reclamation of index arrays
 *   A reader increments readers[parity] of its thread's stripe, re-checks
 *   that the phase still has that parity (otherwise it undoes and retries),
 *   loads the index pointer, probes, and decrements.  A rebuild publishes the
 *   new array, then calls grace_period(): it increments the phase and waits
 *   until every stripe's counter of the old parity is zero, then frees the
 *   old array.  Why that is enough (the phase, counter and index-pointer
 *   operations are seq_cst, so they have one total order S): a reader R that
 *   can still reach the old array loaded the index pointer before the
 *   publishing store P in S; R's parity re-check C precedes that load, and P
 *   precedes the phase flip F, so C <S F: R saw the old parity, and its
 *   increment I <S C <S F precedes the writer's scan.  The scan therefore
 *   sees R's increment until R's decrement, a release RMW the scan's load
 *   synchronises with, so all of R's reads happen before the free.  A reader
 *   whose re-check comes after F loads the new array.  Counters are only
 *   changed by RMWs, so a zero read after R's decrement carries R's release
 *   (release sequence).  A reader that read the phase long ago and registers
 *   after two flips uses the parity that is current again: its loads come
 *   after its re-check, which is what matters.
 *   Within one array, slot writes are ordered by the state byte: the writer
 *   fills id and exp, then stores the state with release; a reader loads the
 *   state with acquire before reading id and exp, and stops at an empty slot.
 *   No revoke or sweep runs during a rebuild (the mutex), and a rebuild
 *   returns only after its grace period, so a state change always lands in
 *   the only array a reader can still be using.
 *
 * Writers hold `mu` for every operation but md_tasktab_state().  The tree
 * invariants are in revoke.h; add() enforces them and revoke() relies on
 * them (a terminal node's subtree is terminal, so the walk prunes there).
 */
#include "task/revoke.h"

#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>

#include <openssl/crypto.h>
#include <openssl/rand.h>

#include "token/tcache.h"

#define NSTRIPES 32  /* reader stripes per table (threads beyond this share) */
#define MIN_CAP 64   /* smallest index array */
#define CACHELINE 64 /* stripes and the writer's fields each on their own lines */

/* Slot states besides the stored task states (MD_TASK_ACTIVE, _ENDED, _REVOKED). */
#define SLOT_EMPTY 0
#define SLOT_TOMB 0xff

/*
 * One index slot: everything a reader needs in one aligned half cache line.
 * id and exp are written while the slot is empty, before `state` is
 * released, and never again in this array (slots are not reused: empty ->
 * live -> tombstone).
 */
typedef struct slot {
    _Alignas(32) md_task_id_t id;
    int64_t exp;
    _Atomic unsigned char state; /* SLOT_EMPTY, SLOT_TOMB or the task's stored state */
} slot_t;
_Static_assert(sizeof(slot_t) == 32, "a slot is half a cache line");

typedef struct node node_t;

typedef struct index {
    size_t mask;    /* capacity - 1 */
    node_t **nodes; /* writer: the node of each live slot */
    slot_t slot[];  /* 32-byte aligned, in a 64-byte aligned block */
} index_t;

/* The writer's view of a task: its tree links.  Readers never see nodes. */
struct node {
    md_task_id_t id;
    int64_t exp;
    size_t slot; /* its slot in the current index */
    unsigned char depth;
    bool doomed;     /* being swept */
    node_t *parent;  /* NULL for a root */
    node_t *child;   /* newest child */
    node_t *next;    /* next (older) sibling */
    node_t *prev;    /* previous (newer) sibling */
    node_t *gc_next; /* the sweep's list */
    size_t nchildren;
};

typedef struct stripe {
    _Alignas(CACHELINE) _Atomic uint64_t readers[2];
} stripe_t;

struct md_tasktab {
    stripe_t stripes[NSTRIPES];
    /* read by every reader, written only on a rebuild or a grace period */
    _Alignas(CACHELINE) _Atomic uint64_t phase;
    _Atomic(index_t *) index;
    unsigned char key[16]; /* immutable */
    /* the writer's */
    _Alignas(CACHELINE) pthread_mutex_t mu;
    size_t count, tombs;
    size_t min_cap, max_tasks;
    unsigned max_depth;
    uint64_t rebuilds, graces;
};

/* Each thread's stripe, handed out round robin (one process-wide counter). */
static _Atomic unsigned next_stripe;
static _Thread_local unsigned stripe_plus1;

static unsigned my_stripe(void)
{
    unsigned s = stripe_plus1;
    if (s == 0) {
        s = atomic_fetch_add_explicit(&next_stripe, 1, memory_order_relaxed) % NSTRIPES + 1;
        stripe_plus1 = s;
    }
    return s - 1;
}

static inline void cpu_relax(void)
{
#if defined(__x86_64__) || defined(__i386__)
    __builtin_ia32_pause();
#elif defined(__aarch64__)
    __asm__ __volatile__("yield");
#endif
}

static inline uint64_t hash_id(const md_tasktab_t *t, const md_task_id_t *id)
{
    return md_siphash13(t->key, id->b, MD_TASK_ID_LEN);
}

static inline md_task_state_t classify(unsigned stored, int64_t exp, int64_t now)
{
    if (stored != MD_TASK_ACTIVE) return (md_task_state_t)stored;
    return now >= exp ? MD_TASK_EXPIRED : MD_TASK_ACTIVE;
}

/* ------------------------------------------------------------------ names and ids */

static const char *const state_names[] = {"unknown", "active", "expired", "ended", "revoked"};

const char *md_task_state_name(md_task_state_t s)
{
    return (unsigned)s < sizeof(state_names) / sizeof(state_names[0]) ? state_names[s] : "?";
}

int md_task_state_parse(const char *name, md_task_state_t *out)
{
    for (unsigned i = 0; name != NULL && i < sizeof(state_names) / sizeof(state_names[0]); i++)
        if (strcmp(name, state_names[i]) == 0) {
            *out = (md_task_state_t)i;
            return MD_OK;
        }
    return MD_EINVAL;
}

int md_task_id_new(md_task_id_t *out)
{
    if (RAND_bytes(out->b, MD_TASK_ID_LEN) != 1) {
        memset(out, 0, sizeof(*out));
        return MD_EIO;
    }
    return MD_OK;
}

void md_task_id_hex(const md_task_id_t *id, char out[MD_TASK_ID_HEX_LEN + 1])
{
    static const char hex[] = "0123456789abcdef";
    for (size_t i = 0; i < MD_TASK_ID_LEN; i++) {
        out[2 * i] = hex[id->b[i] >> 4];
        out[2 * i + 1] = hex[id->b[i] & 15];
    }
    out[MD_TASK_ID_HEX_LEN] = '\0';
}

static int hexval(char c)
{
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    return -1;
}

int md_task_id_parse(md_str_t text, md_task_id_t *out)
{
    memset(out, 0, sizeof(*out));
    if (text.n != MD_TASK_ID_HEX_LEN || text.p == NULL) return MD_EINVAL;
    for (size_t i = 0; i < MD_TASK_ID_LEN; i++) {
        int hi = hexval(text.p[2 * i]), lo = hexval(text.p[2 * i + 1]);
        if (hi < 0 || lo < 0) {
            memset(out, 0, sizeof(*out));
            return MD_EINVAL;
        }
        out->b[i] = (uint8_t)(hi << 4 | lo);
    }
    return MD_OK;
}

/* ------------------------------------------------------------------ table */

/* Smallest power of two >= n, at least min. */
static size_t pow2_at_least(size_t n, size_t min)
{
    size_t c = min;
    while (c < n && c < SIZE_MAX / 4)
        c *= 2;
    return c;
}

/* Capacity for n live tasks after a rebuild: load <= 1/3. */
static size_t cap_for(const md_tasktab_t *t, size_t n)
{
    return pow2_at_least(n > SIZE_MAX / 8 ? SIZE_MAX / 4 : 3 * n + 3, t->min_cap);
}

static index_t *index_new(size_t cap)
{
    if (cap > (SIZE_MAX - 2 * CACHELINE) / sizeof(slot_t)) return NULL;
    size_t bytes = offsetof(index_t, slot) + cap * sizeof(slot_t);
    bytes = (bytes + CACHELINE - 1) / CACHELINE * CACHELINE; /* aligned_alloc wants a multiple */
    index_t *ix = aligned_alloc(CACHELINE, bytes);
    node_t **nodes = calloc(cap, sizeof(node_t *));
    if (ix == NULL || nodes == NULL) {
        free(ix);
        free(nodes);
        return NULL;
    }
    memset(ix, 0, bytes);
    ix->mask = cap - 1;
    ix->nodes = nodes;
    for (size_t i = 0; i < cap; i++)
        atomic_init(&ix->slot[i].state, SLOT_EMPTY);
    return ix;
}

static void index_free(index_t *ix)
{
    if (ix == NULL) return;
    free(ix->nodes);
    free(ix);
}

md_tasktab_t *md_tasktab_new(const md_tasktab_opts_t *opts)
{
    md_tasktab_opts_t o = opts ? *opts : (md_tasktab_opts_t){0};
    if (o.max_depth > MD_TASK_DEPTH_LIMIT) return NULL;
    if (o.expected == 0) o.expected = 1024;
    md_tasktab_t *t = aligned_alloc(CACHELINE, sizeof(*t));
    if (t == NULL) return NULL;
    memset(t, 0, sizeof(*t));
    for (int i = 0; i < NSTRIPES; i++) {
        atomic_init(&t->stripes[i].readers[0], 0);
        atomic_init(&t->stripes[i].readers[1], 0);
    }
    atomic_init(&t->phase, 0);
    t->min_cap = pow2_at_least(o.expected > SIZE_MAX / 8 ? SIZE_MAX / 4 : 2 * o.expected + 2, MIN_CAP);
    t->max_tasks = o.max_tasks;
    t->max_depth = o.max_depth;
    index_t *ix = index_new(t->min_cap);
    if (ix == NULL || RAND_bytes(t->key, sizeof(t->key)) != 1 || pthread_mutex_init(&t->mu, NULL) != 0) {
        index_free(ix);
        free(t);
        return NULL;
    }
    atomic_init(&t->index, ix);
    return t;
}

void md_tasktab_free(md_tasktab_t *t)
{
    if (t == NULL) return;
    index_t *ix = atomic_load_explicit(&t->index, memory_order_relaxed);
    for (size_t i = 0; i <= ix->mask; i++)
        free(ix->nodes[i]); /* NULL for empty and tombstoned slots */
    index_free(ix);
    pthread_mutex_destroy(&t->mu);
    OPENSSL_cleanse(t->key, sizeof(t->key));
    free(t);
}

/* ------------------------------------------------------------------ the hot path */

md_task_state_t md_tasktab_state(md_tasktab_t *t, const md_task_id_t *id, int64_t now)
{
    uint64_t h = hash_id(t, id);
    stripe_t *s = &t->stripes[my_stripe()];
    uint64_t p;
    for (;;) {
        p = atomic_load(&t->phase) & 1;
        atomic_fetch_add(&s->readers[p], 1);
        if ((atomic_load(&t->phase) & 1) == p) break;
        atomic_fetch_sub(&s->readers[p], 1); /* a grace period started: register under the new parity */
    }
    md_task_state_t st = MD_TASK_UNKNOWN;
    const index_t *ix = atomic_load(&t->index);
    size_t mask = ix->mask;
    for (size_t i = h & mask, probes = 0; probes <= mask; i = (i + 1) & mask, probes++) {
        const slot_t *sl = &ix->slot[i];
        unsigned state = atomic_load_explicit(&sl->state, memory_order_acquire);
        if (state == SLOT_EMPTY) break;
        if (state == SLOT_TOMB || memcmp(sl->id.b, id->b, MD_TASK_ID_LEN) != 0) continue;
        st = classify(state, sl->exp, now);
        break;
    }
    atomic_fetch_sub(&s->readers[p], 1);
    return st;
}

/* ------------------------------------------------------------------ writer side (t->mu held) */

/* Wait until no reader can still be using anything unpublished before this call. */
static void grace_period(md_tasktab_t *t)
{
    uint64_t old = atomic_fetch_add(&t->phase, 1) & 1;
    for (int i = 0; i < NSTRIPES; i++) {
        unsigned spins = 0;
        while (atomic_load(&t->stripes[i].readers[old]) != 0) {
            if (++spins < 128)
                cpu_relax();
            else
                sched_yield(); /* the reader was preempted mid-lookup */
        }
    }
    t->graces++;
}

static index_t *cur_index(md_tasktab_t *t)
{
    return atomic_load_explicit(&t->index, memory_order_relaxed); /* only the writer stores it */
}

static unsigned slot_state(const slot_t *sl)
{
    return atomic_load_explicit(&sl->state, memory_order_relaxed); /* only the writer stores it */
}

static node_t *find(md_tasktab_t *t, const md_task_id_t *id)
{
    index_t *ix = cur_index(t);
    for (size_t i = hash_id(t, id) & ix->mask;; i = (i + 1) & ix->mask) {
        unsigned state = slot_state(&ix->slot[i]);
        if (state == SLOT_EMPTY) return NULL;
        if (state != SLOT_TOMB && md_task_id_eq(&ix->slot[i].id, id)) return ix->nodes[i];
    }
}

static unsigned node_state(md_tasktab_t *t, const node_t *n)
{
    return slot_state(&cur_index(t)->slot[n->slot]);
}

/* Put a node known to be absent into the first empty slot on its path (never a tombstone: see the top). */
static void index_insert(md_tasktab_t *t, index_t *ix, node_t *n, unsigned state)
{
    size_t i = hash_id(t, &n->id) & ix->mask;
    while (slot_state(&ix->slot[i]) != SLOT_EMPTY)
        i = (i + 1) & ix->mask;
    ix->slot[i].id = n->id;
    ix->slot[i].exp = n->exp;
    ix->nodes[i] = n;
    n->slot = i;
    atomic_store_explicit(&ix->slot[i].state, (unsigned char)state, memory_order_release); /* publishes */
}

/* Build a fresh index of `cap` slots with every live task, publish it, free the old one. */
static int rebuild(md_tasktab_t *t, size_t cap)
{
    index_t *old = cur_index(t), *nx = index_new(cap);
    if (nx == NULL) return MD_ENOMEM;
    for (size_t i = 0; i <= old->mask; i++) {
        unsigned state = slot_state(&old->slot[i]);
        if (state != SLOT_EMPTY && state != SLOT_TOMB) index_insert(t, nx, old->nodes[i], state);
    }
    atomic_store(&t->index, nx);
    grace_period(t);
    index_free(old);
    t->tombs = 0;
    t->rebuilds++;
    return MD_OK;
}

static void fill_info(md_tasktab_t *t, const node_t *n, int64_t now, md_task_info_t *out)
{
    memset(out, 0, sizeof(*out));
    out->id = n->id;
    if (n->parent) {
        out->parent = n->parent->id;
        out->has_parent = true;
    }
    out->depth = n->depth;
    out->exp = n->exp;
    out->stored = (md_task_state_t)node_state(t, n);
    out->state = classify(out->stored, n->exp, now);
    out->children = n->nchildren;
}

int md_tasktab_add(md_tasktab_t *t, const md_task_id_t *id, const md_task_id_t *parent, int64_t exp,
                   md_task_state_t state, int64_t now, md_err_t *err)
{
    char hid[MD_TASK_ID_HEX_LEN + 1], hpar[MD_TASK_ID_HEX_LEN + 1];
    if (state != MD_TASK_ACTIVE && state != MD_TASK_ENDED && state != MD_TASK_REVOKED)
        return md_err_set(err, MD_EINVAL, "task: a new task must be active, ended or revoked, not %s",
                          md_task_state_name(state));
    md_task_id_hex(id, hid);
    if (parent) md_task_id_hex(parent, hpar);
    int rc = MD_OK;
    pthread_mutex_lock(&t->mu);
    node_t *p = NULL;
    unsigned depth = 0;
    if (t->max_tasks > 0 && t->count >= t->max_tasks) {
        rc = md_err_set(err, MD_ELIMIT, "task %s: the task table is full (%zu tasks)", hid, t->count);
        goto out;
    }
    if (find(t, id) != NULL) {
        rc = md_err_set(err, MD_TASK_EEXISTS, "task %s: already exists", hid);
        goto out;
    }
    if (parent) {
        if ((p = find(t, parent)) == NULL) {
            rc = md_err_set(err, MD_ENOENT, "task %s: parent task %s is not known", hid, hpar);
            goto out;
        }
        md_task_state_t ps = classify(node_state(t, p), p->exp, now);
        if (state == MD_TASK_ACTIVE && ps != MD_TASK_ACTIVE) {
            rc = md_err_set(err, MD_TASK_EINACTIVE, "task %s: parent task %s is %s", hid, hpar,
                            md_task_state_name(ps));
            goto out;
        }
        if (exp > p->exp) {
            rc = md_err_set(err, MD_TASK_EEXP, "task %s: exp %lld is after its parent %s's exp %lld", hid,
                            (long long)exp, hpar, (long long)p->exp);
            goto out;
        }
        depth = p->depth + 1u;
        if (depth > t->max_depth) {
            rc = md_err_set(err, MD_ELIMIT, "task %s: delegation depth %u exceeds the maximum %u", hid, depth,
                            t->max_depth);
            goto out;
        }
    }
    if ((t->count + t->tombs + 1) * 2 > cur_index(t)->mask + 1 &&
        (rc = rebuild(t, cap_for(t, t->count + 1))) != MD_OK) {
        rc = md_err_set(err, rc, "task %s: out of memory growing the task index", hid);
        goto out;
    }
    node_t *n = calloc(1, sizeof(*n));
    if (n == NULL) {
        rc = md_err_set(err, MD_ENOMEM, "task %s: out of memory", hid);
        goto out;
    }
    n->id = *id;
    n->exp = exp;
    n->depth = (unsigned char)depth;
    if (p) {
        n->parent = p;
        n->next = p->child;
        if (p->child) p->child->prev = n;
        p->child = n;
        p->nchildren++;
    }
    index_insert(t, cur_index(t), n, state);
    t->count++;
out:
    pthread_mutex_unlock(&t->mu);
    return rc;
}

/* Pre-order successor of cur within the subtree of root, skipping cur's children when !descend. */
static node_t *next_preorder(node_t *cur, const node_t *root, bool descend)
{
    if (descend && cur->child) return cur->child;
    while (cur != root && cur->next == NULL)
        cur = cur->parent;
    return cur == root ? NULL : cur->next;
}

int md_tasktab_revoke(md_tasktab_t *t, const md_task_id_t *id, md_task_state_t to, int64_t now,
                      md_task_changed_fn on_change, void *arg, size_t *changed)
{
    if (changed) *changed = 0;
    if (to != MD_TASK_REVOKED && to != MD_TASK_ENDED) return MD_EINVAL;
    pthread_mutex_lock(&t->mu);
    node_t *root = find(t, id);
    if (root == NULL) {
        pthread_mutex_unlock(&t->mu);
        return MD_ENOENT;
    }
    index_t *ix = cur_index(t);
    size_t count = 0;
    for (node_t *cur = root; cur != NULL;) {
        slot_t *sl = &ix->slot[cur->slot];
        unsigned stored = slot_state(sl);
        bool live = stored == MD_TASK_ACTIVE; /* terminal: so is its whole subtree; skip it */
        if (live) {
            atomic_store(&sl->state, (unsigned char)to);
            count++;
            if (on_change) on_change(arg, &cur->id, classify(stored, cur->exp, now));
        }
        cur = next_preorder(cur, root, live);
    }
    pthread_mutex_unlock(&t->mu);
    if (changed) *changed = count;
    return MD_OK;
}

int md_tasktab_get(md_tasktab_t *t, const md_task_id_t *id, int64_t now, md_task_info_t *out)
{
    pthread_mutex_lock(&t->mu);
    node_t *n = find(t, id);
    if (n) fill_info(t, n, now, out);
    pthread_mutex_unlock(&t->mu);
    if (n == NULL) memset(out, 0, sizeof(*out));
    return n ? MD_OK : MD_ENOENT;
}

int md_tasktab_children(md_tasktab_t *t, const md_task_id_t *id, int64_t now, md_task_visit_fn fn, void *arg)
{
    int rc = MD_OK;
    pthread_mutex_lock(&t->mu);
    node_t *n = find(t, id);
    if (n == NULL) rc = MD_ENOENT;
    for (node_t *c = n ? n->child : NULL; c != NULL && rc == MD_OK; c = c->next) {
        md_task_info_t info;
        fill_info(t, c, now, &info);
        rc = fn(arg, &info);
    }
    pthread_mutex_unlock(&t->mu);
    return rc;
}

static int walk_from(md_tasktab_t *t, node_t *root, int64_t now, md_task_visit_fn fn, void *arg)
{
    int rc = MD_OK;
    for (node_t *cur = root; cur != NULL && rc == MD_OK; cur = next_preorder(cur, root, true)) {
        md_task_info_t info;
        fill_info(t, cur, now, &info);
        rc = fn(arg, &info);
    }
    return rc;
}

int md_tasktab_walk(md_tasktab_t *t, const md_task_id_t *id, int64_t now, md_task_visit_fn fn, void *arg)
{
    pthread_mutex_lock(&t->mu);
    node_t *n = find(t, id);
    int rc = n ? walk_from(t, n, now, fn, arg) : MD_ENOENT;
    pthread_mutex_unlock(&t->mu);
    return rc;
}

int md_tasktab_each(md_tasktab_t *t, int64_t now, md_task_visit_fn fn, void *arg)
{
    int rc = MD_OK;
    pthread_mutex_lock(&t->mu);
    index_t *ix = cur_index(t);
    for (size_t i = 0; i <= ix->mask && rc == MD_OK; i++) {
        node_t *n = ix->nodes[i];
        if (n != NULL && n->parent == NULL) rc = walk_from(t, n, now, fn, arg);
    }
    pthread_mutex_unlock(&t->mu);
    return rc;
}

size_t md_tasktab_sweep(md_tasktab_t *t, int64_t before)
{
    pthread_mutex_lock(&t->mu);
    index_t *ix = cur_index(t);
    node_t *gc = NULL;
    size_t removed = 0;
    for (size_t i = 0; i <= ix->mask; i++) {
        node_t *n = ix->nodes[i];
        if (n == NULL || n->exp >= before) continue;
        /* readers that already matched the slot may still read its id and
         * exp: they stay in place until the array itself is retired */
        atomic_store(&ix->slot[i].state, SLOT_TOMB);
        ix->nodes[i] = NULL;
        n->doomed = true;
        n->gc_next = gc;
        gc = n;
        removed++;
    }
    t->count -= removed;
    t->tombs += removed;
    /* A doomed node's children are doomed too (exp <= its exp); only a
     * surviving parent needs the node unlinked from its list. */
    for (node_t *n = gc; n != NULL; n = n->gc_next) {
        node_t *p = n->parent;
        if (p == NULL || p->doomed) continue;
        if (n->prev)
            n->prev->next = n->next;
        else
            p->child = n->next;
        if (n->next) n->next->prev = n->prev;
        p->nchildren--;
    }
    while (gc != NULL) { /* readers never see nodes: no grace period needed */
        node_t *n = gc;
        gc = n->gc_next;
        free(n);
    }
    /* Purge tombstones, or shrink an index that is mostly empty.  If the
     * allocation fails the old index stays, still correct. */
    size_t cap = ix->mask + 1, want = cap_for(t, t->count);
    if (t->tombs * 4 > cap || (want < cap && t->count * 8 < cap)) (void)rebuild(t, want);
    pthread_mutex_unlock(&t->mu);
    return removed;
}

md_tasktab_stats_t md_tasktab_stats(md_tasktab_t *t)
{
    pthread_mutex_lock(&t->mu);
    md_tasktab_stats_t st = {
        .tasks = t->count,
        .index_capacity = cur_index(t)->mask + 1,
        .tombstones = t->tombs,
        .rebuilds = t->rebuilds,
        .grace_periods = t->graces,
    };
    pthread_mutex_unlock(&t->mu);
    return st;
}
