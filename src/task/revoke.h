/*
 * revoke.h: the in-memory task table, checked on every use of a mandate.
 *
 * Every task (one mandate) has a 128-bit random id, an optional parent (the
 * task that delegated to it), a depth (root 0, child = parent + 1, at most
 * the table's max_depth), an exp (unix seconds, never later than the
 * parent's) and a stored state.  The state a caller sees is:
 *
 *   MD_TASK_REVOKED / MD_TASK_ENDED  stored terminal state: final, and it
 *                                    covers the whole subtree (see below)
 *   MD_TASK_EXPIRED                  stored active but now >= exp (computed
 *                                    on each read, never stored; since a
 *                                    child's exp <= its parent's, a parent's
 *                                    expiry covers its subtree by itself)
 *   MD_TASK_ACTIVE                   stored active and now < exp
 *   MD_TASK_UNKNOWN                  never added, or swept: fail closed
 *
 * Only MD_TASK_ACTIVE lets a mandate be used (md_task_state_usable()).
 *
 * Invariants the table enforces (md_tasktab_add refuses what breaks them):
 *   - every descendant of a task in a terminal state is itself terminal:
 *     an active task cannot be added under a parent that is not active at
 *     `now` (ended, revoked or expired), and md_tasktab_revoke() marks the
 *     whole subtree;
 *   - a child's exp <= its parent's exp; depth = parent's + 1 <= max_depth;
 *   - a terminal state never changes (revoked stays revoked, ended stays
 *     ended); revoking again is a no-op that reports 0 changes.
 *
 * Cascade: eager.  md_tasktab_revoke() walks the subtree once (O(subtree),
 * pruned at already-terminal subtrees, no allocation) and stores the new
 * state in every descendant, so md_tasktab_state() is one hash lookup and
 * one atomic byte load, whatever the depth.  The alternative, a generation
 * or an ancestor walk on every read, would make the hot path pay for the
 * rare revocation.  While a revoke runs, readers may see the part of the
 * subtree already marked (root first, pre-order); once it returns, every
 * reader sees the whole subtree inactive.
 *
 * Concurrency: many readers, rare writers.
 *   - md_tasktab_state() takes no lock and never allocates: it can be called
 *     from any number of threads at once, concurrently with every other call.
 *   - Every other function takes the table's mutex (writers and the tree and
 *     listing calls serialise on it; they are not on the hot path).
 *   - The index is an open-addressing array (linear probing, power-of-two
 *     capacity, load <= 1/2) of 32-byte slots that hold each task's id, exp
 *     and state byte inline, so a lookup reads one slot in one cache line
 *     and nothing else.  A slot goes empty -> live -> tombstone and is never
 *     reused within one array, so a reader never sees its id or exp change;
 *     the writer fills them and then publishes the slot with a release store
 *     of the state byte (acquire-loaded by readers); a revoke is a store of
 *     the state byte.  Growth, tombstone purges and shrinking build a new
 *     array beside the old one and publish it with an atomic pointer store.
 *     The tree (parent, children) lives in separate nodes only writers see.
 *   - An old array is freed only when no reader can still hold it: readers
 *     announce themselves in one of two per-stripe counters (the parity of a
 *     phase number; stripes are per thread, each on its own cache line, so
 *     readers do not share a contended line); a rebuild publishes the new
 *     array, flips the phase and waits until the old parity's counters drain
 *     (a grace period, as in SRCU), then frees.  Readers never wait for
 *     writers; a writer waits at most for lookups that were already running
 *     (each a few tens of nanoseconds).  revoke.c has the ordering argument.
 *
 * Hash: SipHash-1-3 of the 16 id bytes under a random per-table key
 * (md_siphash13, token/tcache.h).  Our ids come from RAND_bytes and so are
 * uniform already, but the table does not rely on that: a caller that adds
 * ids it did not generate (a restore, an import, a test with counters)
 * cannot build long probe chains, and nobody can aim lookups at one.
 *
 * Memory: per task a writer-side node (96 bytes from malloc) and 2 to 6
 * index slots of 32 bytes (load between 1/6 and 1/2): about 160-290 bytes.
 * md_tasktab_sweep() removes tasks whose exp is before a cutoff (with their
 * subtrees, which expired no later) and purges tombstones or shrinks the
 * index when it becomes mostly empty, so memory follows the number of live
 * tasks.  opts.max_tasks caps the count (MD_ELIMIT past it).
 *
 * Ids as text: 32 lowercase hex digits (md_task_id_hex); md_task_id_parse
 * accepts exactly that and nothing else, so one id has one text form (as the
 * jti, in the store, on the command line).
 */
#ifndef MD_TASK_REVOKE_H
#define MD_TASK_REVOKE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/core.h"

#define MD_TASK_ID_LEN 16
#define MD_TASK_ID_HEX_LEN 32
#define MD_TASK_DEPTH_LIMIT 255 /* the largest max_depth a table accepts */

/* Task module status codes (-250..-269; scope.h has -250). */
enum {
    MD_TASK_EEXISTS = -251,   /* a task with that id is already in the table */
    MD_TASK_EINACTIVE = -252, /* the parent is ended, revoked or expired: no new active child */
    MD_TASK_EEXP = -253,      /* the task's exp is later than its parent's */
};

typedef struct md_task_id {
    uint8_t b[MD_TASK_ID_LEN];
} md_task_id_t;

typedef enum md_task_state {
    MD_TASK_UNKNOWN = 0, /* not in the table: treat as inactive */
    MD_TASK_ACTIVE = 1,
    MD_TASK_EXPIRED = 2, /* computed from exp, never stored */
    MD_TASK_ENDED = 3,   /* terminal: the task finished */
    MD_TASK_REVOKED = 4, /* terminal: an admin, policy or parent revoked it */
} md_task_state_t;

static inline bool md_task_state_usable(md_task_state_t s)
{
    return s == MD_TASK_ACTIVE;
}
static inline bool md_task_state_terminal(md_task_state_t s)
{
    return s == MD_TASK_ENDED || s == MD_TASK_REVOKED;
}
/* "unknown", "active", "expired", "ended", "revoked"; "?" otherwise. */
const char *md_task_state_name(md_task_state_t s);
/* From a name above; MD_OK or MD_EINVAL. */
int md_task_state_parse(const char *name, md_task_state_t *out) MD_WUR;

/* A fresh random id (RAND_bytes).  MD_OK or MD_EIO when no randomness is available. */
int md_task_id_new(md_task_id_t *out) MD_WUR;
/* 32 lowercase hex digits and a NUL. */
void md_task_id_hex(const md_task_id_t *id, char out[MD_TASK_ID_HEX_LEN + 1]);
/* Exactly 32 lowercase hex digits; MD_OK or MD_EINVAL (*out zeroed). */
int md_task_id_parse(md_str_t text, md_task_id_t *out) MD_WUR;
static inline bool md_task_id_eq(const md_task_id_t *x, const md_task_id_t *y)
{
    return memcmp(x->b, y->b, MD_TASK_ID_LEN) == 0;
}

typedef struct md_tasktab md_tasktab_t;

typedef struct md_tasktab_opts {
    size_t expected;    /* tasks to size the index for (it grows past this); 0: 1024 */
    unsigned max_depth; /* deepest delegation allowed (root = 0), 0..MD_TASK_DEPTH_LIMIT */
    size_t max_tasks;   /* refuse adds beyond this many tasks (MD_ELIMIT); 0: no cap */
} md_tasktab_opts_t;

/* A new empty table; NULL on OOM, on max_depth > MD_TASK_DEPTH_LIMIT or when
 * no randomness is available for the hash key. */
md_tasktab_t *md_tasktab_new(const md_tasktab_opts_t *opts);
/* Free the table and every task.  No other call may be running or start. */
void md_tasktab_free(md_tasktab_t *t);

/*
 * Add a task.  parent: NULL for a root task.  state: MD_TASK_ACTIVE for a
 * new task; MD_TASK_ENDED or MD_TASK_REVOKED too when restoring persisted
 * tasks (add parents before children: md_tasktab_each() gives that order).
 * Returns
 *   MD_OK
 *   MD_TASK_EEXISTS    the id is taken
 *   MD_ENOENT          parent is not in the table (never added, or swept)
 *   MD_TASK_EINACTIVE  state is active and the parent is not active at now
 *   MD_TASK_EEXP       exp is later than the parent's exp
 *   MD_ELIMIT          depth would exceed max_depth, or the table is full
 *   MD_EINVAL          state is not active, ended or revoked
 *   MD_ENOMEM
 * err gets a message naming the id (and the parent).  An active task whose
 * exp is already <= now is accepted and reads as expired.
 */
int md_tasktab_add(md_tasktab_t *t, const md_task_id_t *id, const md_task_id_t *parent, int64_t exp,
                   md_task_state_t state, int64_t now, md_err_t *err) MD_WUR;

/*
 * The hot path: the task's state at `now` (see the table at the top).
 * Lock-free, wait-free for practical purposes (a reader retries only if a
 * grace period starts in the instant it registers), no allocation.
 */
md_task_state_t md_tasktab_state(md_tasktab_t *t, const md_task_id_t *id, int64_t now);

/* Called for each task a revoke changed, in pre-order (the task first),
 * under the table's mutex: it must not call into the table.  `old` is the
 * state that was read at `now` (active or expired). */
typedef void (*md_task_changed_fn)(void *arg, const md_task_id_t *id, md_task_state_t old);

/*
 * Give task `id` and every descendant that is not already terminal the
 * terminal state `to` (MD_TASK_REVOKED or MD_TASK_ENDED).  Tasks already
 * ended or revoked keep their state (and so do their subtrees, which are
 * terminal by the invariant); expired tasks get `to` (it is what the store
 * should say about them).  Each changed task is passed to on_change (may be
 * NULL) so the caller can persist exactly those in one transaction; the
 * change is effective in memory before this returns, whatever the caller
 * then manages to persist.
 * Returns MD_OK with *changed (may be NULL) = the number changed (0: nothing
 * to do, e.g. revoking twice), MD_ENOENT for an unknown id, MD_EINVAL for a
 * `to` that is not terminal.  O(changed).
 */
int md_tasktab_revoke(md_tasktab_t *t, const md_task_id_t *id, md_task_state_t to, int64_t now,
                      md_task_changed_fn on_change, void *arg, size_t *changed) MD_WUR;

/* What the tree, listing and persistence calls report about one task. */
typedef struct md_task_info {
    md_task_id_t id;
    md_task_id_t parent; /* zero when has_parent is false */
    bool has_parent;
    unsigned depth;
    int64_t exp;
    md_task_state_t state;  /* at the `now` of the call */
    md_task_state_t stored; /* active, ended or revoked: what to persist */
    size_t children;        /* direct children currently in the table */
} md_task_info_t;

/* Called under the table's mutex (must not call into the table); return
 * non-zero to stop the walk (that value is then returned by the walker). */
typedef int (*md_task_visit_fn)(void *arg, const md_task_info_t *task);

/* One task (parent lookup: info.parent).  MD_OK or MD_ENOENT. */
int md_tasktab_get(md_tasktab_t *t, const md_task_id_t *id, int64_t now, md_task_info_t *out) MD_WUR;

/* The task's direct children, newest first.  MD_OK, MD_ENOENT, or the
 * visitor's non-zero value. */
int md_tasktab_children(md_tasktab_t *t, const md_task_id_t *id, int64_t now, md_task_visit_fn fn,
                        void *arg) MD_WUR;

/* The task and its whole subtree, pre-order (a parent before its
 * children), iteratively (no recursion, no allocation).  Same returns. */
int md_tasktab_walk(md_tasktab_t *t, const md_task_id_t *id, int64_t now, md_task_visit_fn fn,
                    void *arg) MD_WUR;

/* Every task, each root's tree in pre-order (so parents come first: the
 * order md_tasktab_add needs for a restore).  MD_OK or the visitor's value. */
int md_tasktab_each(md_tasktab_t *t, int64_t now, md_task_visit_fn fn, void *arg) MD_WUR;

/*
 * Remove every task with exp < before (callers pass now minus a grace
 * period, so a task reads "expired" for a while before it reads "unknown";
 * both are refused).  Whole subtrees go, since a child never outlives its
 * parent.  Removed tasks read MD_TASK_UNKNOWN.  Returns the number removed.
 */
size_t md_tasktab_sweep(md_tasktab_t *t, int64_t before);

typedef struct md_tasktab_stats {
    size_t tasks;          /* in the table now */
    size_t index_capacity; /* slots in the current index array */
    size_t tombstones;     /* index slots of removed tasks not yet purged */
    uint64_t rebuilds;     /* index arrays built (growth, purge, shrink) */
    uint64_t grace_periods;
} md_tasktab_stats_t;

md_tasktab_stats_t md_tasktab_stats(md_tasktab_t *t);

#endif
