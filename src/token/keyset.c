/*
 * keyset.c: our signing keys and their rotation (next → active → retired),
 * plus sealed storage of the set.  The schedule is documented in token.h.
 *
 * Invariants, true after every public function returns:
 *   - at most one key is active and at most one is next;
 *   - after the first md_keyset_rotate() exactly one key is active;
 *   - keys[] mirrors entries[] (same order), for md_keyset_keys();
 *   - every key's kid is its RFC 7638 thumbprint, so a kid names one key.
 * Nothing here reads a clock or does I/O: time comes in as `now`.
 *
 * Storage (md_keyset_save / md_keyset_load): each private key is sealed
 * (AES-256-GCM under the KEK, AAD = its kid), and each key's metadata — kid,
 * alg, state, the four times, its sealed value — is authenticated together
 * with the set's generation, the kids of the whole set and the caller's
 * `bound` bytes by HMAC-SHA256 under a key derived from the KEK with HKDF
 * (meta_key()).  Loading opens every seal first (a wrong KEK is reported as
 * such), then checks every MAC, and only then believes any state or time.
 */
#include "token/token_int.h"

#include <stdlib.h>

#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/kdf.h>

#define KEYSET_MAX 16 /* far above the 4 the schedule can ever hold */
/* Stored times above this (9999-12-31) are refused, so sums of times never overflow. */
#define MAX_TIME INT64_C(253402300799)

typedef struct keyset_entry {
    md_jwk_t *key; /* owned */
    md_key_state_t state;
    int64_t published, activated, retired, remove_at;
} keyset_entry_t;

struct md_keyset {
    keyset_entry_t entries[KEYSET_MAX];
    const md_jwk_t *keys[KEYSET_MAX]; /* borrowed views of entries[i].key */
    size_t n;
};

md_keyset_t *md_keyset_new(void)
{
    return calloc(1, sizeof(md_keyset_t));
}

void md_keyset_free(md_keyset_t *ks)
{
    if (ks == NULL) return;
    for (size_t i = 0; i < ks->n; i++)
        md_jwk_free(ks->entries[i].key);
    free(ks);
}

size_t md_keyset_count(const md_keyset_t *ks)
{
    return ks->n;
}

md_keyset_entry_t md_keyset_entry(const md_keyset_t *ks, size_t i)
{
    const keyset_entry_t *e = &ks->entries[i];
    return (md_keyset_entry_t){e->key, e->state, e->published, e->activated, e->retired, e->remove_at};
}

const md_jwk_t *const *md_keyset_keys(const md_keyset_t *ks, size_t *n)
{
    *n = ks->n;
    return ks->keys;
}

static keyset_entry_t *find_state(md_keyset_t *ks, md_key_state_t state)
{
    keyset_entry_t *found = NULL;
    for (size_t i = 0; i < ks->n; i++) /* the oldest, should there ever be several */
        if (ks->entries[i].state == state && (found == NULL || ks->entries[i].published < found->published))
            found = &ks->entries[i];
    return found;
}

const md_jwk_t *md_keyset_signer(const md_keyset_t *ks)
{
    keyset_entry_t *e = find_state((md_keyset_t *)ks, MD_KEY_ACTIVE);
    return e ? e->key : NULL;
}

static void sync_keys(md_keyset_t *ks)
{
    for (size_t i = 0; i < ks->n; i++)
        ks->keys[i] = ks->entries[i].key;
    for (size_t i = ks->n; i < KEYSET_MAX; i++)
        ks->keys[i] = NULL;
}

static void remove_at_index(md_keyset_t *ks, size_t i)
{
    md_jwk_free(ks->entries[i].key);
    memmove(&ks->entries[i], &ks->entries[i + 1], (ks->n - i - 1) * sizeof(ks->entries[0]));
    ks->n--;
    memset(&ks->entries[ks->n], 0, sizeof(ks->entries[0]));
}

static int policy_check(const md_keyset_policy_t *p, int64_t now, md_err_t *err)
{
    /* A bound on every duration keeps sums of times below INT64_MAX. */
    const int64_t max = INT64_C(100) * 366 * 86400;
    if (p == NULL || (p->alg != MD_JOSE_ES256 && p->alg != MD_JOSE_EDDSA))
        return md_err_set(err, MD_EINVAL, "key set policy: alg must be ES256 or EdDSA");
    /* max_token_lifetime <= rotation_period bounds the retired keys to two at a time. */
    if (p->overlap <= 0 || p->rotation_period <= p->overlap || p->max_token_lifetime <= 0 ||
        p->max_token_lifetime > p->rotation_period || p->rotation_period > max)
        return md_err_set(err, MD_EINVAL,
                          "key set policy: need 0 < overlap < rotation_period and 0 < max_token_lifetime <= "
                          "rotation_period");
    if (now <= 0 || now > max * 100) return md_err_set(err, MD_EINVAL, "key set: now out of range");
    return MD_OK;
}

/* A new key in state `state` at time now.  The set is unchanged on failure. */
static int add_new_key(md_keyset_t *ks, md_jose_alg_t alg, md_key_state_t state, int64_t now, md_err_t *err)
{
    if (ks->n == KEYSET_MAX) return md_err_set(err, MD_ELIMIT, "key set is full");
    md_jwk_t *k = NULL;
    int rc = md_jwk_generate(alg, &k, err);
    if (rc != MD_OK) return rc;
    keyset_entry_t *e = &ks->entries[ks->n++];
    *e = (keyset_entry_t){k, state, now, state == MD_KEY_ACTIVE ? now : 0, 0, 0};
    sync_keys(ks);
    return MD_OK;
}

int md_keyset_rotate(md_keyset_t *ks, int64_t now, const md_keyset_policy_t *policy, md_err_t *err)
{
    int rc = policy_check(policy, now, err);
    if (rc != MD_OK) return rc;
    const int64_t keep = policy->max_token_lifetime + MD_JWT_MAX_SKEW;

    /* 1. Retired keys leave once their last token has expired everywhere. */
    for (size_t i = 0; i < ks->n;) {
        keyset_entry_t *e = &ks->entries[i];
        if (e->state == MD_KEY_RETIRED) {
            if (e->retired + keep > e->remove_at) e->remove_at = e->retired + keep;
            if (now >= e->remove_at) {
                remove_at_index(ks, i);
                continue;
            }
        }
        i++;
    }
    sync_keys(ks);

    /* 2. No signer: promote the waiting key, or start with a new one. */
    keyset_entry_t *active = find_state(ks, MD_KEY_ACTIVE), *next = find_state(ks, MD_KEY_NEXT);
    if (active == NULL) {
        if (next != NULL) {
            next->state = MD_KEY_ACTIVE;
            next->activated = now;
            return MD_OK;
        }
        return add_new_key(ks, policy->alg, MD_KEY_ACTIVE, now, err);
    }

    /* 3. Publish the successor `overlap` before the active key's period ends. */
    if (next == NULL && now >= active->activated + policy->rotation_period - policy->overlap)
        return add_new_key(ks, policy->alg, MD_KEY_NEXT, now, err);

    /* 4. Hand over, but never to a key published for less than `overlap`. */
    if (next != NULL && now >= active->activated + policy->rotation_period &&
        now >= next->published + policy->overlap) {
        active->state = MD_KEY_RETIRED;
        active->retired = now;
        active->remove_at = now + keep;
        next->state = MD_KEY_ACTIVE;
        next->activated = now;
    }
    return MD_OK;
}

int md_keyset_jwks(const md_keyset_t *ks, json_t **out)
{
    return md_jwks_to_json(ks->keys, ks->n, out);
}

int md_keyset_sign_jwt(const md_keyset_t *ks, int64_t now, const md_keyset_policy_t *policy, const char *typ,
                       const json_t *claims, md_buf_t *out, md_err_t *err)
{
    int rc = policy_check(policy, now, err);
    if (rc != MD_OK) return rc;
    const md_jwk_t *signer = md_keyset_signer(ks);
    if (signer == NULL) return md_err_set(err, MD_ENOENT, "key set has no active key");
    const json_t *exp = json_object_get(claims, "exp");
    if (!json_is_integer(exp) || json_integer_value(exp) <= now ||
        json_integer_value(exp) > now + policy->max_token_lifetime)
        return md_err_set(err, MD_JOSE_BAD_CLAIM, "exp must be an integer in (now, now + %lld]",
                          (long long)policy->max_token_lifetime);
    return md_jwt_sign(signer, 0, typ, claims, out, err);
}

/* ---------------------------------------------------------------- storage */

static const char *state_name(md_key_state_t s)
{
    return s == MD_KEY_NEXT ? "next" : s == MD_KEY_ACTIVE ? "active" : "retired";
}

#define META_KEY_LEN 32
#define META_MAC_LEN 32
#define META_LABEL "mandate signing-key metadata v1"

/* The metadata MAC key: HKDF-SHA256(KEK, salt "mandate", info META_LABEL). */
static int meta_key(const unsigned char *kek, unsigned char out[META_KEY_LEN])
{
    EVP_KDF *kdf = EVP_KDF_fetch(NULL, "HKDF", NULL);
    EVP_KDF_CTX *ctx = kdf ? EVP_KDF_CTX_new(kdf) : NULL;
    OSSL_PARAM params[] = {
        OSSL_PARAM_construct_utf8_string(OSSL_KDF_PARAM_DIGEST, (char *)"SHA256", 0),
        OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_KEY, (void *)kek, MD_SEAL_KEY_LEN),
        OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_SALT, (void *)"mandate", 7),
        OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_INFO, (void *)META_LABEL, sizeof(META_LABEL) - 1),
        OSSL_PARAM_construct_end(),
    };
    int rc = ctx != NULL && EVP_KDF_derive(ctx, out, META_KEY_LEN, params) == 1 ? MD_OK : MD_JOSE_CRYPTO;
    EVP_KDF_CTX_free(ctx);
    EVP_KDF_free(kdf);
    return rc;
}

/* What one key's MAC covers; every variable part is length-prefixed, so no two
 * different inputs have the same text. */
typedef struct meta {
    const char *kid, *alg, *state, *sealed;
    int64_t published, activated, retired, remove_at;
} meta_t;

static void meta_text(md_buf_t *b, int64_t generation, md_str_t bound, md_str_t set, const meta_t *m)
{
    md_buf_reset(b);
    md_buf_printf(b, "%s\ngeneration %lld\nbound %zu:", META_LABEL, (long long)generation, bound.n);
    md_buf_add(b, bound.p, bound.n);
    md_buf_printf(b, "\nset %zu:", set.n);
    md_buf_add(b, set.p, set.n);
    md_buf_printf(b,
                  "\nkid %zu:%s\nalg %zu:%s\nstate %zu:%s\npublished %lld\nactivated %lld\nretired %lld\n"
                  "remove_at %lld\nsealed %zu:%s\n",
                  strlen(m->kid), m->kid, strlen(m->alg), m->alg, strlen(m->state), m->state,
                  (long long)m->published, (long long)m->activated, (long long)m->retired,
                  (long long)m->remove_at, strlen(m->sealed), m->sealed);
}

static int meta_mac(const unsigned char *mkey, const md_buf_t *text, unsigned char out[META_MAC_LEN])
{
    size_t len = 0;
    if (text->oom) return MD_ENOMEM;
    if (EVP_Q_mac(NULL, "HMAC", NULL, "SHA256", NULL, mkey, META_KEY_LEN, (const unsigned char *)text->p,
                  text->n, out, META_MAC_LEN, &len) == NULL ||
        len != META_MAC_LEN)
        return MD_JOSE_CRYPTO;
    return MD_OK;
}

static int cmp_kid(const void *a, const void *b)
{
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

/* The set's kids, sorted (so the stored order does not matter), each length-prefixed. */
static int set_text(const char **kids, size_t n, md_buf_t *out)
{
    qsort(kids, n, sizeof(*kids), cmp_kid);
    md_buf_reset(out);
    md_buf_printf(out, "%zu", n);
    for (size_t i = 0; i < n; i++)
        md_buf_printf(out, " %zu:%s", strlen(kids[i]), kids[i]);
    return out->oom ? MD_ENOMEM : MD_OK;
}

static int entry_to_json(const keyset_entry_t *e, const unsigned char *kek, const unsigned char *mkey,
                         int64_t generation, md_str_t bound, md_str_t set, json_t **out, md_err_t *err)
{
    *out = NULL;
    char *pem = NULL;
    size_t pem_len = 0;
    unsigned char *sealed = NULL, mac[META_MAC_LEN];
    size_t sealed_len = 0;
    md_buf_t enc, text, mac_enc;
    md_buf_init(&enc);
    md_buf_init(&text);
    md_buf_init(&mac_enc);
    json_t *j = NULL;
    const char *kid = md_jwk_kid(e->key);
    const char *alg = md_jose_alg_name((md_jose_alg_t)md_jwk_algs(e->key));
    int rc = md_jwk_to_pem(e->key, &pem, &pem_len, err);
    if (rc != MD_OK) goto out;
    rc = md_jose_seal(kek, md_str_c(kid), pem, pem_len, &sealed, &sealed_len);
    if (rc != MD_OK) {
        md_err_set(err, rc, "sealing a key failed");
        goto out;
    }
    md_b64url_encode(&enc, sealed, sealed_len);
    meta_t m = {kid,          alg,          state_name(e->state), enc.p ? enc.p : "",
                e->published, e->activated, e->retired,           e->remove_at};
    meta_text(&text, generation, bound, set, &m);
    rc = meta_mac(mkey, &text, mac);
    if (rc != MD_OK) {
        md_err_set(err, rc, "authenticating a key's metadata failed");
        goto out;
    }
    md_b64url_encode(&mac_enc, mac, sizeof(mac));
    j = json_pack("{s:s, s:s, s:s, s:I, s:I, s:I, s:I, s:s, s:s}", "kid", kid, "alg", alg, "state", m.state,
                  "published", (json_int_t)e->published, "activated", (json_int_t)e->activated, "retired",
                  (json_int_t)e->retired, "remove_at", (json_int_t)e->remove_at, "sealed", m.sealed, "mac",
                  mac_enc.p ? mac_enc.p : "");
    if (j == NULL || enc.oom || mac_enc.oom) {
        rc = md_err_set(err, MD_ENOMEM, "out of memory");
        goto out;
    }
    *out = j;
    j = NULL;
out:
    json_decref(j);
    md_jose_secret_free(pem, pem_len);
    free(sealed);
    md_buf_free(&enc);
    md_buf_free(&text);
    md_buf_free(&mac_enc);
    return rc;
}

static int keyset_save(const md_keyset_t *ks, const unsigned char *kek, int64_t generation, md_str_t bound,
                       char **out, size_t *out_len, md_err_t *err)
{
    *out = NULL;
    *out_len = 0;
    int rc = MD_ENOMEM;
    unsigned char mkey[META_KEY_LEN];
    const char *kids[KEYSET_MAX];
    md_buf_t set;
    md_buf_init(&set);
    json_t *doc = NULL, *arr = NULL;
    if (generation < 1) return md_err_set(err, MD_EINVAL, "key set: generation must be at least 1");
    rc = meta_key(kek, mkey);
    if (rc != MD_OK) {
        md_err_set(err, rc, "deriving the metadata key failed");
        goto out;
    }
    for (size_t i = 0; i < ks->n; i++)
        kids[i] = md_jwk_kid(ks->entries[i].key);
    rc = set_text(kids, ks->n, &set);
    if (rc != MD_OK) goto out;
    rc = MD_ENOMEM;
    arr = json_array();
    if (arr == NULL) goto out;
    for (size_t i = 0; i < ks->n; i++) {
        json_t *j = NULL;
        rc = entry_to_json(&ks->entries[i], kek, mkey, generation, bound, (md_str_t){set.p, set.n}, &j, err);
        if (rc != MD_OK) goto out;
        if (json_array_append_new(arr, j) != 0) {
            rc = MD_ENOMEM;
            goto out;
        }
    }
    doc = json_pack("{s:i, s:I, s:o}", "version", 2, "generation", (json_int_t)generation, "keys", arr);
    arr = NULL; /* "o" steals the reference, even on failure */
    rc = MD_ENOMEM;
    if (doc == NULL) goto out;
    char *text = json_dumps(doc, JSON_INDENT(1));
    if (text == NULL) goto out;
    *out = text;
    *out_len = strlen(text);
    rc = MD_OK;
out:
    if (rc == MD_ENOMEM) md_err_set(err, rc, "out of memory");
    OPENSSL_cleanse(mkey, sizeof(mkey));
    md_buf_free(&set);
    json_decref(arr);
    json_decref(doc);
    return rc;
}

int md_keyset_save(const md_keyset_t *ks, const unsigned char kek[MD_SEAL_KEY_LEN], int64_t generation,
                   md_str_t bound, char **out, size_t *out_len, md_err_t *err)
{
    JOSE_OPENSSL_SCOPE(keyset_save(ks, kek, generation, bound, out, out_len, err));
}

static int parse_state(const char *s, md_key_state_t *out)
{
    if (strcmp(s, "next") == 0)
        *out = MD_KEY_NEXT;
    else if (strcmp(s, "active") == 0)
        *out = MD_KEY_ACTIVE;
    else if (strcmp(s, "retired") == 0)
        *out = MD_KEY_RETIRED;
    else
        return MD_JOSE_MALFORMED;
    return MD_OK;
}

/* The times must tell a possible story for the state. */
static bool entry_consistent(const keyset_entry_t *e)
{
    if (e->published <= 0 || e->published > MAX_TIME || e->activated > MAX_TIME || e->retired > MAX_TIME ||
        e->remove_at > MAX_TIME)
        return false;
    switch (e->state) {
    case MD_KEY_NEXT: return e->activated == 0 && e->retired == 0 && e->remove_at == 0;
    case MD_KEY_ACTIVE: return e->activated >= e->published && e->retired == 0 && e->remove_at == 0;
    case MD_KEY_RETIRED:
        return e->activated >= e->published && e->retired >= e->activated && e->remove_at >= e->retired;
    }
    return false;
}

/* The members of one stored entry, as strings and numbers, before anything is believed. */
typedef struct entry_raw {
    meta_t m;
    const char *mac;
} entry_raw_t;

static int entry_unpack(const json_t *j, entry_raw_t *r, md_err_t *err)
{
    json_int_t published = 0, activated = 0, retired = 0, remove_at = 0;
    json_error_t je;
    memset(r, 0, sizeof(*r));
    if (json_unpack_ex((json_t *)j, &je, JSON_STRICT, "{s:s, s:s, s:s, s:I, s:I, s:I, s:I, s:s, s:s}", "kid",
                       &r->m.kid, "alg", &r->m.alg, "state", &r->m.state, "published", &published,
                       "activated", &activated, "retired", &retired, "remove_at", &remove_at, "sealed",
                       &r->m.sealed, "mac", &r->mac) != 0)
        return md_err_set(err, MD_JOSE_MALFORMED,
                          "key set entry: members missing, extra or of the wrong type");
    r->m.published = published;
    r->m.activated = activated;
    r->m.retired = retired;
    r->m.remove_at = remove_at;
    return MD_OK;
}

/* One entry's private key: its seal must open under the KEK with its kid, and the key must be the kid's. */
static int entry_unseal(const entry_raw_t *r, const unsigned char *kek, md_jwk_t **out, md_err_t *err)
{
    const char *kid = r->m.kid;
    unsigned char *sealed = NULL, *pem = NULL;
    size_t sealed_len = 0, pem_len = 0;
    md_jwk_t *k = NULL;
    int rc;

    *out = NULL;
    rc = md_b64url_decode(md_str_c(r->m.sealed), &sealed, &sealed_len);
    if (rc != MD_OK) {
        if (rc != MD_ENOMEM) rc = MD_JOSE_MALFORMED;
        md_err_set(err, rc, "signing key %.64s: sealed is not base64url", kid);
        goto out;
    }
    /* The kid is the AAD: a sealed key moved under another kid does not open. */
    rc = md_jose_unseal(kek, md_str_c(kid), sealed, sealed_len, &pem, &pem_len);
    if (rc != MD_OK) {
        md_err_set(err, rc,
                   "signing key %.64s: the sealed key does not open: the KEK is not the one it was sealed "
                   "under, or the sealed value or kid was changed",
                   kid);
        goto out;
    }
    rc = md_jwk_from_pem((md_str_t){(const char *)pem, pem_len}, &k, err);
    if (rc != MD_OK) goto out;
    /* md_jwk_from_pem set kid = thumbprint; it must be the stored kid. */
    const char *tp = md_jwk_kid(k);
    if (strlen(kid) != MD_JWK_THUMBPRINT_LEN || CRYPTO_memcmp(tp, kid, MD_JWK_THUMBPRINT_LEN) != 0) {
        rc = md_err_set(err, MD_JOSE_BAD_KEY, "signing key %.64s: kid is not the key's thumbprint", kid);
        goto out;
    }
    *out = k;
    k = NULL;
out:
    md_jwk_free(k);
    md_jose_secret_free(pem, pem_len);
    free(sealed);
    return rc;
}

/*
 * One entry's metadata, once every seal has opened (so the KEK is right): its
 * MAC must match, and only then are its alg, state and times believed.  On
 * success e takes k.
 */
static int entry_check(const entry_raw_t *r, md_jwk_t *k, const unsigned char *mkey, int64_t generation,
                       md_str_t bound, md_str_t set, keyset_entry_t *e, md_err_t *err)
{
    const char *kid = r->m.kid;
    unsigned char *mac = NULL, want[META_MAC_LEN];
    size_t mac_len = 0;
    md_buf_t text;
    md_jose_alg_t a;
    int rc;

    md_buf_init(&text);
    memset(e, 0, sizeof(*e));
    meta_text(&text, generation, bound, set, &r->m);
    rc = meta_mac(mkey, &text, want);
    if (rc != MD_OK) {
        md_err_set(err, rc, "signing key %.64s: checking its metadata failed", kid);
        goto out;
    }
    rc = md_b64url_decode(md_str_c(r->mac), &mac, &mac_len);
    if (rc == MD_ENOMEM) {
        md_err_set(err, rc, "out of memory");
        goto out;
    }
    if (rc != MD_OK || mac_len != META_MAC_LEN || CRYPTO_memcmp(mac, want, META_MAC_LEN) != 0) {
        rc = md_err_set(err, MD_JOSE_SEAL_BROKEN,
                        "signing key %.64s: stored metadata does not match its seal: the store was modified "
                        "outside mandated",
                        kid);
        goto out;
    }
    rc = MD_JOSE_MALFORMED;
    if (md_jose_alg_from_name(md_str_c(r->m.alg), &a) != MD_OK ||
        (a != MD_JOSE_ES256 && a != MD_JOSE_EDDSA)) {
        md_err_set(err, rc, "signing key %.64s: alg must be ES256 or EdDSA", kid);
        goto out;
    }
    if (parse_state(r->m.state, &e->state) != MD_OK) {
        md_err_set(err, rc, "signing key %.64s: unknown state", kid);
        goto out;
    }
    e->published = r->m.published;
    e->activated = r->m.activated;
    e->retired = r->m.retired;
    e->remove_at = r->m.remove_at;
    if (!entry_consistent(e)) {
        md_err_set(err, rc, "signing key %.64s: times do not fit the state", kid);
        goto out;
    }
    rc = md_jwk_set_algs(k, (unsigned)a);
    if (rc != MD_OK) {
        md_err_set(err, rc, "signing key %.64s: alg does not fit the key", kid);
        goto out;
    }
    e->key = k;
out:
    free(mac);
    md_buf_free(&text);
    OPENSSL_cleanse(want, sizeof(want));
    return rc;
}

static int keyset_load(md_str_t text, const unsigned char *kek, md_str_t bound, md_keyset_t **out,
                       int64_t *generation, md_err_t *err)
{
    *out = NULL;
    json_t *doc = NULL, *keys = NULL;
    json_int_t version = 0, gen = 0;
    json_error_t je;
    entry_raw_t raw[KEYSET_MAX];
    md_jwk_t *opened[KEYSET_MAX] = {0};
    const char *kids[KEYSET_MAX];
    unsigned char mkey[META_KEY_LEN];
    md_buf_t set;
    md_buf_init(&set);
    md_keyset_t *ks = md_keyset_new();
    int rc = MD_ENOMEM;
    if (ks == NULL) goto out;
    rc = jose_json_object(text.p, text.n, &doc);
    if (rc != MD_OK) {
        md_err_set(err, rc, "key set is not a JSON object without duplicate members");
        goto out;
    }
    rc = MD_JOSE_MALFORMED;
    if (json_unpack_ex(doc, &je, 0, "{s:I}", "version", &version) == 0 && version == 1) {
        md_err_set(err, rc,
                   "key set: written by an earlier mandated, whose seals did not cover the keys' state and "
                   "times: refusing it");
        goto out;
    }
    if (json_unpack_ex(doc, &je, JSON_STRICT, "{s:I, s:I, s:o}", "version", &version, "generation", &gen,
                       "keys", &keys) != 0 ||
        version != 2 || gen < 1 || !json_is_array(keys)) {
        md_err_set(err, rc, "key set: expected {\"version\": 2, \"generation\": N >= 1, \"keys\": [...]}");
        goto out;
    }
    size_t n = json_array_size(keys);
    if (n > KEYSET_MAX) {
        md_err_set(err, rc, "key set: more than %d keys", KEYSET_MAX);
        goto out;
    }
    /* first the members and the set's kids, which every MAC covers */
    for (size_t i = 0; i < n; i++) {
        rc = entry_unpack(json_array_get(keys, i), &raw[i], err);
        if (rc != MD_OK) goto out;
        for (size_t m = 0; m < i; m++) {
            if (strcmp(raw[m].m.kid, raw[i].m.kid) == 0) {
                rc = md_err_set(err, MD_JOSE_MALFORMED, "key set: the same key twice");
                goto out;
            }
        }
        kids[i] = raw[i].m.kid;
    }
    rc = set_text(kids, n, &set);
    if (rc != MD_OK) goto out;
    rc = meta_key(kek, mkey);
    if (rc != MD_OK) {
        md_err_set(err, rc, "deriving the metadata key failed");
        goto out;
    }
    /* every seal first: a wrong KEK is reported as such, not as changed metadata */
    for (size_t i = 0; i < n; i++) {
        rc = entry_unseal(&raw[i], kek, &opened[i], err);
        if (rc != MD_OK) goto out;
    }
    for (size_t i = 0; i < n; i++) {
        rc = entry_check(&raw[i], opened[i], mkey, gen, bound, (md_str_t){set.p, set.n}, &ks->entries[ks->n],
                         err);
        if (rc != MD_OK) goto out;
        opened[i] = NULL; /* now the set's */
        ks->n++;
    }
    size_t nactive = 0, nnext = 0;
    for (size_t m = 0; m < ks->n; m++) {
        nactive += ks->entries[m].state == MD_KEY_ACTIVE;
        nnext += ks->entries[m].state == MD_KEY_NEXT;
    }
    if (nactive > 1 || nnext > 1) {
        rc = md_err_set(err, MD_JOSE_MALFORMED, "key set: more than one active or next key");
        goto out;
    }
    sync_keys(ks);
    if (generation != NULL) *generation = gen;
    *out = ks;
    ks = NULL;
    rc = MD_OK;
out:
    if (rc == MD_ENOMEM) md_err_set(err, rc, "out of memory");
    OPENSSL_cleanse(mkey, sizeof(mkey));
    for (size_t i = 0; i < KEYSET_MAX; i++)
        md_jwk_free(opened[i]);
    md_buf_free(&set);
    md_keyset_free(ks);
    json_decref(doc);
    return rc;
}

int md_keyset_load(md_str_t text, const unsigned char kek[MD_SEAL_KEY_LEN], md_str_t bound, md_keyset_t **out,
                   int64_t *generation, md_err_t *err)
{
    JOSE_OPENSSL_SCOPE(keyset_load(text, kek, bound, out, generation, err));
}
