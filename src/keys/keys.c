/*
 * keys.c: the daemon's signing keys (see keys.h): the KEK file, the key set
 * persisted in the store with private keys sealed, the rotation tick and the
 * published views.
 *
 * Owns: the only copy of the KEK in memory (wiped on free) and the mutable
 * md_keyset_t.  Both are reachable only from md_keys_t, which one thread (the
 * main thread) uses.  Workers see md_keys_view_t: copies of the keys
 * (md_jwk_dup shares the immutable OpenSSL key by reference), the serialised
 * JWKS and the entries' times; nothing in a view changes after it is built.
 *
 * Invariants:
 *   - `published` is built only from a set that is in the store (persist
 *     first, then publish), so nothing signs or is announced unless durable;
 *   - `dirty` is set while the in-memory set has a change the store does not
 *     have yet; such a change is not visible to anyone;
 *   - high_water >= the lifetime every published view allowed since the
 *     current active key began signing (see keys.h).
 */
#include "keys/keys.h"

#include <errno.h>
#include <fcntl.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/crypto.h>
#include <openssl/rand.h>

#include "core/log.h"
#include "keys/keyfile.h"
#include "server/metrics.h"

struct md_keys_view {
    atomic_int refs;
    uint64_t generation;
    md_keyset_policy_t policy;
    size_t n;
    md_jwk_t **keys;            /* owned: n public-only keys, as published */
    md_keyset_entry_t *entries; /* owned array; .key points into keys[] */
    md_jwk_t *signer;           /* owned: the active key (with its private half), or NULL */
    char *jwks;                 /* owned: compact JSON */
    size_t jwks_len;
};

struct md_keys {
    unsigned char kek[MD_KEYS_KEK_LEN]; /* wiped on free */
    md_keyset_t *ks;                    /* owned */
    md_keys_view_t *published;          /* owned reference: the latest view */
    uint64_t generation;
    bool dirty;             /* the set has a change the store does not have */
    int64_t high_water;     /* seconds: see keys.h */
    int64_t set_generation; /* the generation of the set in the store, as last loaded or written; 0: none */
    char signer_kid[MD_JWK_THUMBPRINT_LEN + 1];
};

void md_keys_policy_from_config(const md_config_t *cfg, md_keyset_policy_t *out)
{
    out->alg = cfg->keys_algorithm == MD_KEYS_ALG_EDDSA ? MD_JOSE_EDDSA : MD_JOSE_ES256;
    out->rotation_period = cfg->keys_rotation_period / 1000;
    out->overlap = cfg->keys_overlap / 1000;
    out->max_token_lifetime = cfg->keys_max_token_lifetime / 1000;
}

/* ---------------------------------------------------------------- the KEK file */

/* err gets "kek: " + inner's message, with inner's code. */
static int kek_err(md_err_t *err, int rc, const md_err_t *inner)
{
    return md_err_set(err, rc, "kek: %s", inner->msg);
}

/*
 * Open the KEK's folder (checked, see keyfile.h) and the KEK in it (checked,
 * and exactly MD_KEYS_KEK_LEN bytes).  *dirfd is set whenever the folder
 * opened, also when the file is absent (MD_ENOENT): the caller may create it
 * there.  *fd only on MD_OK.
 */
static int kek_open(const char *path, int *dirfd, int *fd, md_err_t *err)
{
    char dir[4096];
    const char *name = NULL;
    struct stat st;
    md_err_t inner = {0};
    int rc;

    *dirfd = *fd = -1;
    if (path == NULL || path[0] == '\0') return md_err_set(err, MD_EINVAL, "kek: no file named");
    if (md_keyfile_split(path, dir, sizeof(dir), &name) != 0)
        return md_err_set(err, MD_EINVAL, "kek: %s: not a file name", path);
    rc = md_keyfile_dir_open(dir, false, dirfd, &inner);
    if (rc == MD_ENOENT)
        return md_err_set(err, MD_ENOENT, "kek: %s does not exist (nor does its folder)", path);
    if (rc != MD_OK) return kek_err(err, rc, &inner);
    rc = md_keyfile_open(*dirfd, name, path, fd, &inner);
    if (rc == MD_ENOENT) return md_err_set(err, MD_ENOENT, "kek: %s does not exist", path);
    if (rc != MD_OK) return kek_err(err, rc, &inner);
    if (fstat(*fd, &st) != 0 || st.st_size != MD_KEYS_KEK_LEN) {
        rc = md_err_set(err, MD_EINVAL, "kek: %s holds %lld bytes; a KEK is exactly %d random bytes", path,
                        (long long)st.st_size, MD_KEYS_KEK_LEN);
        close(*fd);
        *fd = -1;
        return rc;
    }
    return MD_OK;
}

/* A new KEK in dirfd: written to NAME.new, then linked to NAME, which must still not exist. */
static int kek_create(int dirfd, const char *path, unsigned char kek[MD_KEYS_KEK_LEN], md_err_t *err)
{
    char dir[4096], tmp[512];
    const char *name = NULL;
    md_err_t inner = {0};
    int rc;

    if (md_keyfile_split(path, dir, sizeof(dir), &name) != 0 ||
        (size_t)snprintf(tmp, sizeof(tmp), "%s.new", name) >= sizeof(tmp))
        return md_err_set(err, MD_EINVAL, "kek: %s: name too long", path);
    if (RAND_priv_bytes(kek, MD_KEYS_KEK_LEN) != 1) return md_err_set(err, MD_EIO, "kek: no randomness");
    rc = md_keyfile_write_tmp(dirfd, tmp, kek, MD_KEYS_KEK_LEN, path, &inner);
    if (rc == MD_OK) rc = md_keyfile_publish(dirfd, tmp, name, false, path, &inner);
    if (rc != MD_OK) {
        OPENSSL_cleanse(kek, MD_KEYS_KEK_LEN);
        return kek_err(err, rc, &inner);
    }
    return MD_OK;
}

int md_keys_kek_load(const char *path, bool may_create, unsigned char kek[MD_KEYS_KEK_LEN], bool *created,
                     md_err_t *err)
{
    unsigned char buf[MD_KEYS_KEK_LEN];
    md_err_t inner = {0};
    size_t n = 0;
    int dirfd = -1, fd = -1, rc;

    *created = false;
    rc = kek_open(path, &dirfd, &fd, &inner);
    if (rc == MD_ENOENT && may_create && dirfd >= 0) {
        rc = kek_create(dirfd, path, kek, err);
        if (rc == MD_OK) *created = true;
        goto out;
    }
    if (rc == MD_ENOENT) {
        rc = md_err_set(err, MD_ENOENT, "%s (create it with: head -c 32 /dev/urandom > %s; chmod 600 %s)",
                        inner.msg, path, path);
        goto out;
    }
    if (rc != MD_OK) {
        rc = md_err_set(err, rc, "%s", inner.msg);
        goto out;
    }
    rc = md_keyfile_read(fd, buf, sizeof(buf), &n, path, &inner);
    if (rc != MD_OK || n != MD_KEYS_KEK_LEN) {
        rc = rc != MD_OK && rc != MD_ELIMIT
                 ? kek_err(err, rc, &inner)
                 : md_err_set(err, MD_EINVAL, "kek: %s changed while it was read", path);
        goto out;
    }
    memcpy(kek, buf, MD_KEYS_KEK_LEN);
out:
    OPENSSL_cleanse(buf, sizeof(buf));
    if (fd >= 0) close(fd);
    if (dirfd >= 0) close(dirfd);
    return rc;
}

int md_keys_kek_check(const char *path, bool must_exist, md_err_t *err)
{
    md_err_t inner = {0};
    int dirfd = -1, fd = -1;
    int rc = kek_open(path, &dirfd, &fd, &inner);

    if (fd >= 0) close(fd);
    if (dirfd >= 0) close(dirfd);
    if (rc == MD_ENOENT && !must_exist) return MD_OK;
    if (rc != MD_OK) return md_err_set(err, rc, "%s", inner.msg);
    return MD_OK;
}

/* ---------------------------------------------------------------- views */

md_keys_view_t *md_keys_view_ref(md_keys_view_t *v)
{
    atomic_fetch_add_explicit(&v->refs, 1, memory_order_relaxed);
    return v;
}

static void view_free(md_keys_view_t *v)
{
    for (size_t i = 0; i < v->n; i++)
        md_jwk_free(v->keys[i]);
    md_jwk_free(v->signer);
    free(v->keys);
    free(v->entries);
    free(v->jwks);
    free(v);
}

void md_keys_view_unref(md_keys_view_t *v)
{
    if (v != NULL && atomic_fetch_sub_explicit(&v->refs, 1, memory_order_acq_rel) == 1) view_free(v);
}

uint64_t md_keys_view_generation(const md_keys_view_t *v)
{
    return v->generation;
}

md_str_t md_keys_view_jwks(const md_keys_view_t *v)
{
    return (md_str_t){v->jwks, v->jwks_len};
}

int64_t md_keys_view_max_age(const md_keys_view_t *v)
{
    int64_t a = v->policy.overlap / 4;
    return a > MD_KEYS_MAX_AGE_MAX ? MD_KEYS_MAX_AGE_MAX : a;
}

const md_jwk_t *const *md_keys_view_keys(const md_keys_view_t *v, size_t *n)
{
    *n = v->n;
    return (const md_jwk_t *const *)v->keys;
}

size_t md_keys_view_count(const md_keys_view_t *v)
{
    return v->n;
}

md_keyset_entry_t md_keys_view_entry(const md_keys_view_t *v, size_t i)
{
    return v->entries[i];
}

const char *md_keys_view_signer_kid(const md_keys_view_t *v)
{
    return v->signer ? md_jwk_kid(v->signer) : NULL;
}

const md_keyset_policy_t *md_keys_view_policy(const md_keys_view_t *v)
{
    return &v->policy;
}

int md_keys_sign_jwt(const md_keys_view_t *v, int64_t now, const char *typ, const json_t *claims,
                     md_buf_t *out, md_err_t *err)
{
    if (v == NULL || v->signer == NULL) return md_err_set(err, MD_ENOENT, "keys: no active signing key");
    const json_t *exp = json_is_object(claims) ? json_object_get(claims, "exp") : NULL;
    if (!json_is_integer(exp) || json_integer_value(exp) <= now ||
        json_integer_value(exp) > now + v->policy.max_token_lifetime)
        return md_err_set(err, MD_JOSE_BAD_CLAIM, "keys: exp must be an integer in (now, now + %llds]",
                          (long long)v->policy.max_token_lifetime);
    int rc = md_jwt_sign(v->signer, 0, typ, claims, out, err);
    if (rc == MD_OK) md_metrics_token_issued();
    return rc;
}

/*
 * A view of the set as it is now.  Its verification keys are public-only
 * copies made from the published JWKS (so what verifiers accept is exactly
 * what is published); only the active key keeps its private half, since
 * workers sign with it.  NULL on OOM.
 */
static md_keys_view_t *view_build(const md_keyset_t *ks, const md_keyset_policy_t *policy,
                                  uint64_t generation)
{
    md_keys_view_t *v = calloc(1, sizeof(*v));
    json_t *doc = NULL;
    if (v == NULL) return NULL;
    atomic_init(&v->refs, 1);
    v->generation = generation;
    v->policy = *policy;
    if (md_keyset_jwks(ks, &doc) != MD_OK) goto fail;
    v->jwks = json_dumps(doc, JSON_COMPACT);
    if (v->jwks == NULL) goto fail;
    v->jwks_len = strlen(v->jwks);
    size_t n = md_keyset_count(ks);
    const json_t *pub = json_object_get(doc, "keys");
    if (json_array_size(pub) != n) goto fail;
    v->keys = calloc(n ? n : 1, sizeof(*v->keys));
    v->entries = calloc(n ? n : 1, sizeof(*v->entries));
    if (v->keys == NULL || v->entries == NULL) goto fail;
    for (size_t i = 0; i < n; i++) {
        md_keyset_entry_t e = md_keyset_entry(ks, i);
        md_err_t ignored = {0};
        if (md_jwk_from_json(json_array_get(pub, i), &v->keys[i], &ignored) != MD_OK) goto fail;
        v->n = i + 1;
        if (strcmp(md_jwk_kid(v->keys[i]), md_jwk_kid(e.key)) != 0) goto fail;
        if (e.state == MD_KEY_ACTIVE) {
            md_jwk_t *signer = NULL;
            if (md_jwk_dup(e.key, &signer) != MD_OK) goto fail;
            v->signer = signer;
        }
        e.key = v->keys[i];
        v->entries[i] = e;
    }
    json_decref(doc);
    return v;
fail:
    json_decref(doc);
    view_free(v);
    return NULL;
}

md_keys_view_t *md_keys_current(md_keys_t *keys)
{
    return md_keys_view_ref(keys->published);
}

/* ---------------------------------------------------------------- persistence */

/* The bytes every key's metadata MAC binds besides the set itself: the high-water setting
 * (a raised mark would stretch the rotation period, a lowered one would drop retired keys early). */
static void bound_text(md_buf_t *b, const char *high_water)
{
    md_buf_reset(b);
    md_buf_printf(b, "%s=%s", MD_KEYS_SETTING_HIGH_WATER, high_water ? high_water : "");
}

/*
 * Load the stored rows (the document md_keyset_load() reads) with their MACs
 * checked against `bound`.  Rows from before the MACs existed (generation 0 or
 * no MAC) are refused, not re-sealed: re-sealing would vouch for a schedule
 * nobody authenticated, and would keep open a path by which old, unauthenticated
 * rows could be brought back later.
 */
static int load_set(md_store_t *st, const unsigned char *kek, md_str_t bound, md_keyset_t **out,
                    int64_t *generation, md_err_t *err)
{
    md_arena_t a;
    md_store_signing_key_t *rows = NULL;
    size_t n = 0;
    json_t *arr = NULL, *doc = NULL;
    char *text = NULL;
    int rc;

    *out = NULL;
    *generation = 0;
    md_arena_init(&a, 4096);
    rc = md_store_signing_keys_list(st, &a, &rows, &n, err);
    if (rc != MD_OK) goto out;
    if (n == 0) { /* a first start */
        *out = md_keyset_new();
        rc = *out ? MD_OK : md_err_set(err, MD_ENOMEM, "keys: out of memory");
        goto out;
    }
    for (size_t i = 0; i < n; i++) {
        if (rows[i].generation == 0 || rows[i].mac == NULL || rows[i].mac[0] == '\0') {
            rc = md_err_set(err, MD_JOSE_SEAL_BROKEN,
                            "signing key %s: stored without a MAC over its state and times (by a mandated "
                            "older than schema version 4, or the store was modified outside mandated): "
                            "refusing the key set. To start over with new keys, delete the stored ones "
                            "(sqlite3 STORE 'DELETE FROM signing_keys'; tokens they signed stop verifying)",
                            rows[i].kid);
            goto out;
        }
        if (rows[i].generation != rows[0].generation) {
            rc = md_err_set(
                err, MD_JOSE_SEAL_BROKEN,
                "signing keys %s and %s: stored with different generations (%lld, %lld): the store "
                "was modified outside mandated",
                rows[0].kid, rows[i].kid, (long long)rows[0].generation, (long long)rows[i].generation);
            goto out;
        }
    }
    rc = MD_ENOMEM;
    arr = json_array();
    if (arr == NULL) goto oom;
    for (size_t i = 0; i < n; i++) {
        const md_store_signing_key_t *r = &rows[i];
        json_t *j = json_pack("{s:s, s:s, s:s, s:I, s:I, s:I, s:I, s:s, s:s}", "kid", r->kid, "alg", r->alg,
                              "state", r->state, "published", (json_int_t)r->published, "activated",
                              (json_int_t)r->activated, "retired", (json_int_t)r->retired, "remove_at",
                              (json_int_t)r->remove_at, "sealed", r->sealed, "mac", r->mac);
        if (j == NULL || json_array_append_new(arr, j) != 0) goto oom;
    }
    doc =
        json_pack("{s:i, s:I, s:O}", "version", 2, "generation", (json_int_t)rows[0].generation, "keys", arr);
    if (doc == NULL || (text = json_dumps(doc, JSON_COMPACT)) == NULL) goto oom;
    rc = md_keyset_load(md_str_c(text), kek, bound, out, generation, err);
    goto out;
oom:
    md_err_set(err, MD_ENOMEM, "keys: out of memory");
out:
    free(text);
    json_decref(doc);
    json_decref(arr);
    md_arena_free(&a);
    return rc;
}

/* The generation of the set in the store now (0: no keys), to notice a change made behind our back. */
static int stored_generation(md_store_t *st, int64_t *out, md_err_t *err)
{
    md_arena_t a;
    md_store_signing_key_t *rows = NULL;
    size_t n = 0;
    md_arena_init(&a, 1024);
    int rc = md_store_signing_keys_list(st, &a, &rows, &n, err);
    *out = 0;
    for (size_t i = 0; rc == MD_OK && i < n; i++)
        if (rows[i].generation > *out || i == 0) *out = rows[i].generation;
    md_arena_free(&a);
    return rc;
}

/* Write the whole set, and the high-water mark, in one transaction, as the next generation. */
static int persist(md_keys_t *keys, md_store_t *st, md_err_t *err)
{
    char *text = NULL;
    size_t len = 0;
    json_t *doc = NULL, *arr;
    md_store_signing_key_t *rows = NULL;
    char hw[32];
    md_buf_t bound;
    int64_t gen = keys->set_generation + 1, found = 0;
    int rc;

    md_buf_init(&bound);
    snprintf(hw, sizeof(hw), "%lld", (long long)keys->high_water);
    bound_text(&bound, hw);
    if (bound.oom) {
        rc = md_err_set(err, MD_ENOMEM, "keys: out of memory");
        goto out;
    }
    rc = md_keyset_save(keys->ks, keys->kek, gen, (md_str_t){bound.p, bound.n}, &text, &len, err);
    if (rc != MD_OK) goto out;
    json_error_t je;
    doc = json_loadb(text, len, 0, &je);
    arr = doc ? json_object_get(doc, "keys") : NULL;
    size_t n = json_array_size(arr);
    rows = calloc(n ? n : 1, sizeof(*rows));
    if (doc == NULL || !json_is_array(arr) || rows == NULL) {
        rc = md_err_set(err, MD_ENOMEM, "keys: out of memory");
        goto out;
    }
    for (size_t i = 0; i < n; i++) {
        json_t *j = json_array_get(arr, i);
        json_int_t p = 0, ac = 0, re = 0, ra = 0;
        if (json_unpack(j, "{s:s, s:s, s:s, s:I, s:I, s:I, s:I, s:s, s:s}", "kid", &rows[i].kid, "alg",
                        &rows[i].alg, "state", &rows[i].state, "published", &p, "activated", &ac, "retired",
                        &re, "remove_at", &ra, "sealed", &rows[i].sealed, "mac", &rows[i].mac) != 0) {
            rc = md_err_set(err, MD_EINVAL, "keys: unexpected key set document");
            goto out;
        }
        rows[i].published = p;
        rows[i].activated = ac;
        rows[i].retired = re;
        rows[i].remove_at = ra;
        rows[i].generation = gen;
    }
    rc = md_store_begin(st, err);
    if (rc != MD_OK) goto out;
    /* The set in the store should be the one we loaded or wrote last.  If it is not, someone
     * changed it (an older copy put back, say); ours replaces it, and the operator is told. */
    rc = stored_generation(st, &found, err);
    if (rc == MD_OK && found != keys->set_generation)
        md_log_error("signing keys: the store holds key set generation %lld, but this mandated last wrote "
                     "generation %lld: the store was modified outside mandated; replacing it with the "
                     "running set",
                     (long long)found, (long long)keys->set_generation);
    if (rc == MD_OK) rc = md_store_signing_keys_replace(st, rows, n, err);
    if (rc == MD_OK) rc = md_store_setting_put(st, MD_KEYS_SETTING_HIGH_WATER, md_str_c(hw), err);
    if (rc == MD_OK) rc = md_store_commit(st, err);
    if (rc != MD_OK) {
        md_store_rollback(st);
        goto out;
    }
    keys->set_generation = gen;
out:
    free(rows);
    json_decref(doc);
    free(text);
    md_buf_free(&bound);
    return rc;
}

/* ---------------------------------------------------------------- the schedule */

/* "kid state published activated retired remove_at;..." — what a change of the set changes. */
static void fingerprint(const md_keyset_t *ks, md_buf_t *b)
{
    md_buf_reset(b);
    for (size_t i = 0; i < md_keyset_count(ks); i++) {
        md_keyset_entry_t e = md_keyset_entry(ks, i);
        md_buf_printf(b, "%s %d %lld %lld %lld %lld;", md_jwk_kid(e.key), (int)e.state,
                      (long long)e.published, (long long)e.activated, (long long)e.retired,
                      (long long)e.remove_at);
    }
}

/* The policy rotation runs under: the configured one, with the lifetime raised to the
 * high-water mark so that a key retiring now stays published long enough. */
static md_keyset_policy_t effective_policy(const md_keys_t *keys, const md_keyset_policy_t *policy)
{
    md_keyset_policy_t p = *policy;
    if (keys->high_water > p.max_token_lifetime) p.max_token_lifetime = keys->high_water;
    if (p.max_token_lifetime > p.rotation_period) p.rotation_period = p.max_token_lifetime;
    return p;
}

static const char *active_kid(const md_keyset_t *ks)
{
    const md_jwk_t *k = md_keyset_signer(ks);
    return k ? md_jwk_kid(k) : "";
}

int md_keys_tick(md_keys_t *keys, md_store_t *st, const md_keyset_policy_t *policy, int64_t now,
                 bool *published, md_err_t *err)
{
    md_buf_t before, after;
    md_keys_view_t *v;
    int rc;

    *published = false;
    md_buf_init(&before);
    md_buf_init(&after);
    fingerprint(keys->ks, &before);
    md_keyset_policy_t eff = effective_policy(keys, policy);
    rc = md_keyset_rotate(keys->ks, now, &eff, err);
    if (rc != MD_OK) goto out;
    fingerprint(keys->ks, &after);
    if (before.oom || after.oom) {
        rc = md_err_set(err, MD_ENOMEM, "keys: out of memory");
        goto out;
    }
    bool changed = strcmp(before.p ? before.p : "", after.p ? after.p : "") != 0;
    /* a new signer starts a new high-water period; otherwise it only grows */
    int64_t hw = keys->high_water;
    if (strcmp(active_kid(keys->ks), keys->signer_kid) != 0) hw = policy->max_token_lifetime;
    if (policy->max_token_lifetime > hw) hw = policy->max_token_lifetime;
    if (hw != keys->high_water) changed = true;
    const md_keyset_policy_t *pp = keys->published ? &keys->published->policy : NULL;
    bool policy_changed = pp == NULL || pp->alg != policy->alg ||
                          pp->rotation_period != policy->rotation_period || pp->overlap != policy->overlap ||
                          pp->max_token_lifetime != policy->max_token_lifetime;
    if (!changed && !keys->dirty && !policy_changed) goto out;

    if (changed || keys->dirty) {
        int64_t old_hw = keys->high_water;
        keys->high_water = hw;
        rc = persist(keys, st, err);
        if (rc != MD_OK) {
            keys->high_water = old_hw;
            keys->dirty = true;
            goto out;
        }
        keys->dirty = false;
    }
    v = view_build(keys->ks, policy, keys->generation + 1);
    if (v == NULL) {
        rc = md_err_set(err, MD_ENOMEM, "keys: out of memory building the published view");
        goto out;
    }
    keys->generation++;
    md_keys_view_unref(keys->published);
    keys->published = v;
    snprintf(keys->signer_kid, sizeof(keys->signer_kid), "%s", active_kid(keys->ks));
    *published = true;
out:
    md_buf_free(&before);
    md_buf_free(&after);
    return rc;
}

int64_t md_keys_next_due(const md_keys_t *keys, const md_keyset_policy_t *policy, int64_t now)
{
    md_keyset_policy_t p = effective_policy(keys, policy);
    int64_t due = now + MD_KEYS_TICK_MAX;
    const md_keyset_entry_t *active = NULL, *next = NULL;
    md_keyset_entry_t entries[32];
    size_t n = md_keyset_count(keys->ks);

    if (keys->dirty) return now + 1;
    if (n > sizeof(entries) / sizeof(entries[0])) n = sizeof(entries) / sizeof(entries[0]);
    for (size_t i = 0; i < n; i++) {
        entries[i] = md_keyset_entry(keys->ks, i);
        if (entries[i].state == MD_KEY_ACTIVE) active = &entries[i];
        if (entries[i].state == MD_KEY_NEXT) next = &entries[i];
        if (entries[i].state == MD_KEY_RETIRED) {
            int64_t at = entries[i].remove_at;
            int64_t keep = entries[i].retired + p.max_token_lifetime + MD_JWT_MAX_SKEW;
            if (keep > at) at = keep;
            if (at < due) due = at;
        }
    }
    if (active == NULL) return now + 1;
    if (next == NULL) {
        int64_t at = active->activated + p.rotation_period - p.overlap;
        if (at < due) due = at;
    } else {
        int64_t at = active->activated + p.rotation_period;
        if (next->published + p.overlap > at) at = next->published + p.overlap;
        if (at < due) due = at;
    }
    return due <= now ? now + 1 : due;
}

/* ---------------------------------------------------------------- open / free */

int md_keys_open(md_store_t *st, const md_keys_opts_t *opts, int64_t now, md_keys_t **out, md_err_t *err)
{
    md_keys_t *keys = NULL;
    md_arena_t a;
    md_store_signing_key_t *rows = NULL;
    size_t nrows = 0;
    md_buf_t hw, bound;
    bool created = false, published = false;
    int rc;

    *out = NULL;
    md_arena_init(&a, 1024);
    md_buf_init(&hw);
    md_buf_init(&bound);
    keys = calloc(1, sizeof(*keys));
    if (keys == NULL) {
        rc = md_err_set(err, MD_ENOMEM, "keys: out of memory");
        goto out;
    }
    /* a KEK may be made only while there is nothing sealed under another one */
    rc = md_store_signing_keys_list(st, &a, &rows, &nrows, err);
    if (rc != MD_OK) goto out;
    rc = md_keys_kek_load(opts->kek_file, opts->create_kek && nrows == 0, keys->kek, &created, err);
    if (rc == MD_ENOENT && nrows > 0) {
        md_err_clear(err);
        rc = md_err_set(
            err, MD_ENOENT,
            "kek: %s is missing, but the store holds %zu signing keys sealed under it: restore the "
            "file from a backup (a new KEK cannot open them)",
            opts->kek_file, nrows);
    }
    if (rc != MD_OK) goto out;
    if (created)
        md_log_info("created the key-encryption key %s (back it up apart from the database)", opts->kek_file);
    rc = md_store_setting_get(st, MD_KEYS_SETTING_HIGH_WATER, &hw, err);
    if (rc == MD_ENOENT) {
        md_err_clear(err);
        md_buf_reset(&hw);
    } else if (rc != MD_OK) {
        goto out;
    }
    bound_text(&bound, hw.n > 0 ? hw.p : NULL);
    if (hw.oom || bound.oom) {
        rc = md_err_set(err, MD_ENOMEM, "keys: out of memory");
        goto out;
    }
    rc = load_set(st, keys->kek, (md_str_t){bound.p, bound.n}, &keys->ks, &keys->set_generation, err);
    if (rc != MD_OK) goto out;
    if (hw.n > 0) { /* authenticated by every key's MAC when there are keys */
        char *end = NULL;
        long long v = strtoll(hw.p, &end, 10);
        if (end == NULL || *end != '\0' || v < 0 || v > INT64_C(100) * 366 * 86400) {
            rc = md_err_set(err, MD_EINVAL, "keys: setting %s is malformed", MD_KEYS_SETTING_HIGH_WATER);
            goto out;
        }
        keys->high_water = v;
    } else {
        keys->high_water = opts->policy.max_token_lifetime;
    }
    snprintf(keys->signer_kid, sizeof(keys->signer_kid), "%s", active_kid(keys->ks));
    keys->dirty = nrows == 0; /* a first start writes the first key */
    rc = md_keys_tick(keys, st, &opts->policy, now, &published, err);
    if (rc != MD_OK) goto out;
    if (keys->published == NULL) { /* nothing changed: publish what was loaded */
        keys->published = view_build(keys->ks, &opts->policy, ++keys->generation);
        if (keys->published == NULL) {
            rc = md_err_set(err, MD_ENOMEM, "keys: out of memory");
            goto out;
        }
    }
    *out = keys;
    keys = NULL;
out:
    md_keys_free(keys);
    md_buf_free(&hw);
    md_buf_free(&bound);
    md_arena_free(&a);
    return rc;
}

void md_keys_free(md_keys_t *keys)
{
    if (keys == NULL) return;
    md_keyset_free(keys->ks);
    md_keys_view_unref(keys->published);
    OPENSSL_cleanse(keys, sizeof(*keys));
    free(keys);
}
