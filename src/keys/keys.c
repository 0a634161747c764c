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
    bool dirty;         /* the set has a change the store does not have */
    int64_t high_water; /* seconds: see keys.h */
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

static int fsync_parent(const char *path)
{
    char dir[4096];
    const char *slash = strrchr(path, '/');
    size_t n = slash == NULL ? 1 : slash == path ? 1 : (size_t)(slash - path);
    if (n >= sizeof(dir)) return -1;
    memcpy(dir, slash == NULL ? "." : path, n);
    dir[n] = '\0';
    int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0) return -1;
    int r = fsync(fd);
    close(fd);
    return r;
}

static int kek_create(const char *path, unsigned char kek[MD_KEYS_KEK_LEN], md_err_t *err)
{
    char tmp[4096];
    int fd = -1, rc = MD_EIO;
    size_t off = 0;

    if ((size_t)snprintf(tmp, sizeof(tmp), "%s.new", path) >= sizeof(tmp))
        return md_err_set(err, MD_EINVAL, "kek: path too long");
    if (RAND_priv_bytes(kek, MD_KEYS_KEK_LEN) != 1) return md_err_set(err, MD_EIO, "kek: no randomness");
    if (unlink(tmp) != 0 && errno != ENOENT) {
        md_err_set(err, MD_EIO, "kek: %s: %s", tmp, strerror(errno));
        goto out;
    }
    fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
    if (fd < 0) {
        md_err_set(err, MD_EIO, "kek: %s: %s", tmp, strerror(errno));
        goto out;
    }
    while (off < MD_KEYS_KEK_LEN) {
        ssize_t w = write(fd, kek + off, MD_KEYS_KEK_LEN - off);
        if (w < 0 && errno == EINTR) continue;
        if (w <= 0) {
            md_err_set(err, MD_EIO, "kek: write %s: %s", tmp, strerror(errno));
            goto out;
        }
        off += (size_t)w;
    }
    if (fsync(fd) != 0) {
        md_err_set(err, MD_EIO, "kek: fsync %s: %s", tmp, strerror(errno));
        goto out;
    }
    close(fd);
    fd = -1;
    if (rename(tmp, path) != 0) {
        md_err_set(err, MD_EIO, "kek: rename %s: %s", tmp, strerror(errno));
        goto out;
    }
    fsync_parent(path);
    rc = MD_OK;
out:
    if (fd >= 0) close(fd);
    if (rc != MD_OK) {
        unlink(tmp);
        OPENSSL_cleanse(kek, MD_KEYS_KEK_LEN);
    }
    return rc;
}

int md_keys_kek_load(const char *path, bool may_create, unsigned char kek[MD_KEYS_KEK_LEN], bool *created,
                     md_err_t *err)
{
    char msg[768];
    unsigned char buf[MD_KEYS_KEK_LEN + 1];
    struct stat st;
    size_t n = 0;
    int fd, rc = MD_EINVAL;

    *created = false;
    if (path == NULL || path[0] == '\0') return md_err_set(err, MD_EINVAL, "kek: no file named");
    fd = open(path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC | O_NOCTTY);
    if (fd < 0 && errno == ENOENT) {
        if (!may_create)
            return md_err_set(
                err, MD_ENOENT,
                "kek: %s does not exist (create it with: head -c 32 /dev/urandom > %s; chmod 600 %s)", path,
                path, path);
        rc = kek_create(path, kek, err);
        if (rc == MD_OK) *created = true;
        return rc;
    }
    if (fd < 0)
        return md_err_set(err, errno == ELOOP ? MD_EINVAL : MD_EIO, "kek: %s: %s", path,
                          errno == ELOOP ? "is a symbolic link: name the real file" : strerror(errno));
    if (md_conf_check_private(path, fd, msg, sizeof(msg)) != 0) {
        md_err_set(err, MD_EINVAL, "kek: %s", msg);
        goto out;
    }
    if (fstat(fd, &st) != 0 || st.st_size != MD_KEYS_KEK_LEN) {
        md_err_set(err, MD_EINVAL, "kek: %s holds %lld bytes; a KEK is exactly %d random bytes", path,
                   (long long)st.st_size, MD_KEYS_KEK_LEN);
        goto out;
    }
    while (n < sizeof(buf)) {
        ssize_t r = read(fd, buf + n, sizeof(buf) - n);
        if (r < 0 && errno == EINTR) continue;
        if (r < 0) {
            md_err_set(err, MD_EIO, "kek: read %s: %s", path, strerror(errno));
            goto out;
        }
        if (r == 0) break;
        n += (size_t)r;
    }
    if (n != MD_KEYS_KEK_LEN) {
        md_err_set(err, MD_EINVAL, "kek: %s changed while it was read", path);
        goto out;
    }
    memcpy(kek, buf, MD_KEYS_KEK_LEN);
    rc = MD_OK;
out:
    OPENSSL_cleanse(buf, sizeof(buf));
    close(fd);
    return rc;
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

/* The stored rows as the document md_keyset_load() reads. */
static int load_set(md_store_t *st, const unsigned char *kek, md_keyset_t **out, size_t *nrows, md_err_t *err)
{
    md_arena_t a;
    md_store_signing_key_t *rows = NULL;
    size_t n = 0;
    json_t *arr = NULL, *doc = NULL;
    char *text = NULL;
    int rc;

    *out = NULL;
    md_arena_init(&a, 4096);
    rc = md_store_signing_keys_list(st, &a, &rows, &n, err);
    if (rc != MD_OK) goto out;
    *nrows = n;
    rc = MD_ENOMEM;
    arr = json_array();
    if (arr == NULL) goto oom;
    for (size_t i = 0; i < n; i++) {
        const md_store_signing_key_t *r = &rows[i];
        json_t *j = json_pack("{s:s, s:s, s:s, s:I, s:I, s:I, s:I, s:s}", "kid", r->kid, "alg", r->alg,
                              "state", r->state, "published", (json_int_t)r->published, "activated",
                              (json_int_t)r->activated, "retired", (json_int_t)r->retired, "remove_at",
                              (json_int_t)r->remove_at, "sealed", r->sealed);
        if (j == NULL || json_array_append_new(arr, j) != 0) goto oom;
    }
    doc = json_pack("{s:i, s:O}", "version", 1, "keys", arr);
    if (doc == NULL || (text = json_dumps(doc, JSON_COMPACT)) == NULL) goto oom;
    rc = md_keyset_load(md_str_c(text), kek, out, err);
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

/* Write the whole set, and the high-water mark, in one transaction. */
static int persist(md_keys_t *keys, md_store_t *st, md_err_t *err)
{
    char *text = NULL;
    size_t len = 0;
    json_t *doc = NULL, *arr;
    md_store_signing_key_t *rows = NULL;
    char hw[32];
    int rc = md_keyset_save(keys->ks, keys->kek, &text, &len, err);
    if (rc != MD_OK) return rc;
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
        if (json_unpack(j, "{s:s, s:s, s:s, s:I, s:I, s:I, s:I, s:s}", "kid", &rows[i].kid, "alg",
                        &rows[i].alg, "state", &rows[i].state, "published", &p, "activated", &ac, "retired",
                        &re, "remove_at", &ra, "sealed", &rows[i].sealed) != 0) {
            rc = md_err_set(err, MD_EINVAL, "keys: unexpected key set document");
            goto out;
        }
        rows[i].published = p;
        rows[i].activated = ac;
        rows[i].retired = re;
        rows[i].remove_at = ra;
    }
    snprintf(hw, sizeof(hw), "%lld", (long long)keys->high_water);
    rc = md_store_begin(st, err);
    if (rc != MD_OK) goto out;
    rc = md_store_signing_keys_replace(st, rows, n, err);
    if (rc == MD_OK) rc = md_store_setting_put(st, MD_KEYS_SETTING_HIGH_WATER, md_str_c(hw), err);
    if (rc == MD_OK) rc = md_store_commit(st, err);
    if (rc != MD_OK) md_store_rollback(st);
out:
    free(rows);
    json_decref(doc);
    free(text);
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
    md_buf_t hw;
    bool created = false, published = false;
    int rc;

    *out = NULL;
    md_arena_init(&a, 1024);
    md_buf_init(&hw);
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
    rc = load_set(st, keys->kek, &keys->ks, &nrows, err);
    if (rc != MD_OK) goto out;
    rc = md_store_setting_get(st, MD_KEYS_SETTING_HIGH_WATER, &hw, err);
    if (rc == MD_OK) {
        char *end = NULL;
        long long v = strtoll(hw.p ? hw.p : "", &end, 10);
        if (end == NULL || *end != '\0' || v < 0 || v > INT64_C(100) * 366 * 86400) {
            rc = md_err_set(err, MD_EINVAL, "keys: setting %s is malformed", MD_KEYS_SETTING_HIGH_WATER);
            goto out;
        }
        keys->high_water = v;
    } else if (rc == MD_ENOENT) {
        md_err_clear(err);
        keys->high_water = opts->policy.max_token_lifetime;
    } else {
        goto out;
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
