/*
 * keys.h: the daemon's signing keys — the key-encryption key on disk, the
 * key set (token.h's md_keyset_*) persisted in the store with every private
 * key sealed under that KEK, rotation on a schedule, and the immutable
 * "views" through which the rest of the daemon sees the published keys.
 *
 * Two objects, two kinds of thread:
 *
 *   md_keys_t       the key manager.  It alone holds the KEK and the mutable
 *                   key set.  One thread owns it (the daemon's main thread):
 *                   it opens it, calls md_keys_tick() on a timer and frees it.
 *                   Not thread-safe, and never reachable from a request.
 *
 *   md_keys_view_t  one published state of the set: the public JWKS (already
 *                   serialised), the keys verifiers should accept, the key
 *                   that signs.  Immutable and refcounted (atomic), so any
 *                   thread may hold and read one.  Workers receive a new view
 *                   through the same hand-over as configuration snapshots and
 *                   read it without any lock.
 *
 * Guarantees:
 *   - a change of the set (a key generated, activated, retired or removed) is
 *     committed to the store before any view shows it: nothing signs, and no
 *     key appears in the JWKS, unless it is durable;
 *   - private keys reach the store only sealed (AES-256-GCM under the KEK,
 *     AAD = kid); the KEK never reaches the store;
 *   - every stored key's metadata (kid, alg, state, times, sealed value) is
 *     authenticated together with the set's generation, the kids of the whole
 *     set and the high-water setting below (token.h: md_keyset_save), so a
 *     change to any of them made in the store by someone without the KEK makes
 *     md_keys_open() fail ("signing key <kid>: stored metadata does not match
 *     its seal: the store was modified outside mandated");
 *   - the generation rises by one with every write of the set; a write that
 *     finds another generation in the store than the one this process last
 *     loaded or wrote logs an error (the store was changed behind its back)
 *     and replaces it.  Residual risk: a whole earlier set (rows and setting
 *     together) put back while mandated is stopped loads as authentic; see
 *     docs/DESIGN.md, "Signing keys at rest";
 *   - a retired key stays in every later view until every token it can have
 *     signed has expired (token.h: retired + max_token_lifetime + skew), also
 *     when max_token_lifetime is lowered while the key signs: the longest
 *     lifetime allowed since the active key began signing is remembered
 *     (settings key `keys.lifetime_high_water`, in seconds) and used when it
 *     retires.
 *
 * The KEK file: exactly 32 bytes; a regular file owned by the daemon's user
 * with no permission bit for group or others and one link, in a folder that
 * is not a symbolic link, belongs to that user or root and that nobody else
 * may write to (keys/keyfile.h).  The folder is opened once and the file
 * through it, never following a symbolic link; a FIFO or device is refused
 * without blocking.  When it is absent, md_keys_open() creates it (mode
 * 0600, O_EXCL, written to FILE.new, fsync'ed, linked to FILE only if FILE
 * still does not exist, folder fsync'ed) only if opts->create_kek is set AND
 * the store holds no sealed key; otherwise a missing KEK fails start-up
 * (sealed keys without their KEK are lost, and a new KEK would not open them).
 */
#ifndef MD_KEYS_KEYS_H
#define MD_KEYS_KEYS_H

#include <stdbool.h>
#include <stdint.h>

#include <jansson.h>

#include "core/config.h"
#include "core/core.h"
#include "store/store.h"
#include "token/token.h"

#define MD_KEYS_KEK_LEN MD_SEAL_KEY_LEN
/* The settings key holding the lifetime high-water mark (seconds). */
#define MD_KEYS_SETTING_HIGH_WATER "keys.lifetime_high_water"
/* The timer never sleeps longer than this, whatever the schedule says. */
#define MD_KEYS_TICK_MAX 60
/* The longest a JWKS answer may be cached (seconds). */
#define MD_KEYS_MAX_AGE_MAX 3600

typedef struct md_keys md_keys_t;
typedef struct md_keys_view md_keys_view_t;

typedef struct md_keys_opts {
    const char *kek_file;      /* path of the KEK */
    bool create_kek;           /* create kek_file when it is absent (and the store holds no key) */
    md_keyset_policy_t policy; /* seconds; see token.h */
} md_keys_opts_t;

/* The schedule the configuration asks for (keys.*, whole seconds). */
void md_keys_policy_from_config(const md_config_t *cfg, md_keyset_policy_t *out);

/*
 * Read (or, when allowed, create) the KEK into kek.  may_create: create the
 * file when it does not exist.  *created tells whether it did.  Refuses a
 * file that is a symbolic link, not regular, not exactly 32 bytes, has any
 * permission bit for group or others, more than one link, or belongs to
 * another user; and a folder that fails keyfile.h's checks.  MD_OK,
 * MD_ENOENT (absent and not created), MD_EINVAL (refused), MD_EIO.
 */
int md_keys_kek_load(const char *path, bool may_create, unsigned char kek[MD_KEYS_KEK_LEN], bool *created,
                     md_err_t *err) MD_WUR;

/*
 * The same checks without reading the key or creating anything (for
 * `mandated -n`): MD_OK when the file passes them, or is absent and
 * !must_exist; otherwise md_keys_kek_load()'s code and message.
 */
int md_keys_kek_check(const char *path, bool must_exist, md_err_t *err) MD_WUR;

/*
 * Load the key set from st (unsealing every key with the KEK), apply the
 * schedule at `now` (on a first start this makes the first key), persist any
 * change and publish the first view.  *out on success (md_keys_free).
 * Errors: the KEK's (above), MD_JOSE_SEAL_BROKEN (a sealed key does not open:
 * wrong KEK or tampering; or a key's stored metadata does not match its MAC;
 * or rows stored before metadata was authenticated, which are refused, not
 * re-sealed), MD_JOSE_MALFORMED (stored rows inconsistent), the store's
 * codes, MD_EINVAL (bad policy), MD_ENOMEM.
 */
int md_keys_open(md_store_t *st, const md_keys_opts_t *opts, int64_t now, md_keys_t **out,
                 md_err_t *err) MD_WUR;
void md_keys_free(md_keys_t *keys);

/*
 * Apply the schedule at `now` with `policy` (which may differ from the last
 * one: the configuration can be reloaded).  When the set changed, or an
 * earlier change could not be stored, persist it in one transaction and
 * publish a new view; *published tells whether a new view exists.  On a
 * store failure nothing new is published (the running view stays) and the
 * next tick tries again.
 */
int md_keys_tick(md_keys_t *keys, md_store_t *st, const md_keyset_policy_t *policy, int64_t now,
                 bool *published, md_err_t *err) MD_WUR;

/* The unix second at which the schedule next changes something: in
 * [now + 1, now + MD_KEYS_TICK_MAX]. */
int64_t md_keys_next_due(const md_keys_t *keys, const md_keyset_policy_t *policy, int64_t now);

/* A new reference to the latest published view (never NULL once open succeeded). */
md_keys_view_t *md_keys_current(md_keys_t *keys);

/* ---- views: immutable, any thread ---- */

md_keys_view_t *md_keys_view_ref(md_keys_view_t *view);
void md_keys_view_unref(md_keys_view_t *view); /* NULL is fine */

/* 1 for the first view, +1 per published change. */
uint64_t md_keys_view_generation(const md_keys_view_t *view);
/* {"keys":[...]}: the public JWKS, compact JSON.  Borrowed (lives as long as the view). */
md_str_t md_keys_view_jwks(const md_keys_view_t *view);
/* How long (seconds) a JWKS answer may be cached: a quarter of the overlap, at
 * most MD_KEYS_MAX_AGE_MAX, so that a verifier (and a cache in front of it)
 * sees a next key well before it signs. */
int64_t md_keys_view_max_age(const md_keys_view_t *view);
/* The keys a verifier of our tokens must accept (exactly those in the JWKS). Borrowed. */
const md_jwk_t *const *md_keys_view_keys(const md_keys_view_t *view, size_t *n);
/* Entry i (0 <= i < count): state and times; entry.key is borrowed from the view. */
size_t md_keys_view_count(const md_keys_view_t *view);
md_keyset_entry_t md_keys_view_entry(const md_keys_view_t *view, size_t i);
/* The kid of the signing key; NULL when there is none. */
const char *md_keys_view_signer_kid(const md_keys_view_t *view);
/* The schedule the view was published under (seconds). */
const md_keyset_policy_t *md_keys_view_policy(const md_keys_view_t *view);

/*
 * Sign claims as a JWT with the view's active key (header alg, typ — NULL:
 * "JWT" — and kid) and count it in mandate_tokens_issued_total.  claims must
 * carry an integer exp with now < exp <= now + max_token_lifetime
 * (MD_JOSE_BAD_CLAIM otherwise): the rotation schedule relies on it.
 * MD_ENOENT when the view has no active key.  Appends to out; out is left as
 * it was on failure.  Safe from any thread.
 */
int md_keys_sign_jwt(const md_keys_view_t *view, int64_t now, const char *typ, const json_t *claims,
                     md_buf_t *out, md_err_t *err) MD_WUR;

#endif
