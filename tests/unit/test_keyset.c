/*
 * test_keyset.c: unit tests for the signing key set (src/token/keyset.c):
 * rotation on an injected clock and sealed storage.
 *
 * The properties under test, from token.h:
 *   publish-before-sign  a key is in the JWKS for >= overlap before it signs
 *   single signer        exactly one active key after the first rotate
 *   retire window        a retired key stays published until
 *                        retired + max_token_lifetime + MD_JWT_MAX_SKEW, and not a second longer
 *   sealed storage       round trip; a flipped bit, a wrong AAD (kid) or a wrong KEK is refused
 *   metadata MAC         a change to any key's state, times, alg or MAC, to the generation, to
 *                        the bound bytes, a key dropped or one mixed in from another save is
 *                        refused with "stored metadata does not match its seal"; a version 1
 *                        document (no MACs) is refused
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>

#include "token/token.h"

#define T0 INT64_C(1700000000)
#define MINUTE 60
#define HOUR 3600
#define DAY 86400

static const md_keyset_policy_t POLICY = {
    .alg = MD_JOSE_ES256,
    .rotation_period = 7 * DAY,
    .overlap = DAY,
    .max_token_lifetime = 15 * MINUTE,
};

static const unsigned char KEK[MD_SEAL_KEY_LEN] = "0123456789abcdef0123456789abcdef";
#define GEN 7
#define BOUND MD_STR("keys.lifetime_high_water=900")

/* ------------------------------------------------------------ helpers */

static void expect(int got, int want)
{
    if (got != want) fail_msg("got %s, want %s", md_jose_err_name(got), md_jose_err_name(want));
}

static void rotate(md_keyset_t *ks, int64_t now, const md_keyset_policy_t *p)
{
    md_err_t err = {0};
    int rc = md_keyset_rotate(ks, now, p, &err);
    if (rc != MD_OK) fail_msg("rotate: %s %s", md_jose_err_name(rc), err.msg);
}

static size_t count_state(const md_keyset_t *ks, md_key_state_t s)
{
    size_t n = 0;
    for (size_t i = 0; i < md_keyset_count(ks); i++)
        n += md_keyset_entry(ks, i).state == s;
    return n;
}

/* The entry whose kid is kid, or state 0 when absent. */
static md_keyset_entry_t entry_of(const md_keyset_t *ks, const char *kid)
{
    for (size_t i = 0; i < md_keyset_count(ks); i++) {
        md_keyset_entry_t e = md_keyset_entry(ks, i);
        if (strcmp(md_jwk_kid(e.key), kid) == 0) return e;
    }
    return (md_keyset_entry_t){0};
}

/* Is kid in the published JWKS? (Parsed back, as a verifier would.) */
static bool published(const md_keyset_t *ks, const char *kid)
{
    json_t *j = NULL;
    assert_int_equal(md_keyset_jwks(ks, &j), MD_OK);
    char *text = json_dumps(j, JSON_COMPACT);
    md_jwks_t set = {0};
    assert_int_equal(md_jwks_parse(md_str_c(text), &set, NULL, NULL), MD_OK);
    bool found = false;
    for (size_t i = 0; i < set.n; i++) {
        assert_false(md_jwk_has_private(set.keys[i]));
        if (strcmp(md_jwk_kid(set.keys[i]), kid) == 0) found = true;
    }
    md_jwks_free(&set);
    free(text);
    json_decref(j);
    return found;
}

/* A token signed by the set's active key at now, living as long as allowed. */
static char *sign_at(const md_keyset_t *ks, int64_t now, int64_t lifetime)
{
    json_t *c = json_pack("{s:s, s:I, s:I}", "sub", "agent", "iat", (json_int_t)now, "exp",
                          (json_int_t)(now + lifetime));
    md_buf_t b;
    md_buf_init(&b);
    md_err_t err = {0};
    int rc = md_keyset_sign_jwt(ks, now, &POLICY, "at+jwt", c, &b, &err);
    if (rc != MD_OK) fail_msg("sign: %s %s", md_jose_err_name(rc), err.msg);
    json_decref(c);
    return b.p;
}

/* Verify token at now against what the set publishes. */
static int verify_at(const md_keyset_t *ks, const char *token, int64_t now, const char **kid)
{
    size_t n = 0;
    const md_jwk_t *const *keys = md_keyset_keys(ks, &n);
    md_jwt_verify_opts_t o = {.now = now, .skew = MD_JWT_MAX_SKEW, .typ = "at+jwt", .algs = MD_JOSE_ES256};
    md_jwt_t jwt;
    int rc = md_jwt_verify(keys, n, md_str_c(token), &o, &jwt, NULL);
    if (rc == MD_OK && kid != NULL) *kid = md_jwk_kid(jwt.key);
    md_jwt_free(&jwt);
    return rc;
}

/* ------------------------------------------------------------ rotation */

static void test_bootstrap(void **state)
{
    md_keyset_t *ks = md_keyset_new();
    assert_null(md_keyset_signer(ks));
    md_buf_t b;
    md_buf_init(&b);
    json_t *c = json_pack("{s:I}", "exp", (json_int_t)(T0 + 60));
    expect(md_keyset_sign_jwt(ks, T0, &POLICY, NULL, c, &b, NULL), MD_ENOENT);
    rotate(ks, T0, &POLICY);
    assert_int_equal(md_keyset_count(ks), 1);
    md_keyset_entry_t e = md_keyset_entry(ks, 0);
    assert_int_equal(e.state, MD_KEY_ACTIVE);
    assert_int_equal(e.published, T0);
    assert_int_equal(e.activated, T0);
    assert_ptr_equal(md_keyset_signer(ks), e.key);
    assert_true(published(ks, md_jwk_kid(e.key)));
    assert_int_equal(md_jwk_algs(e.key), MD_JOSE_ES256);
    /* Calling again at the same time changes nothing. */
    rotate(ks, T0, &POLICY);
    assert_int_equal(md_keyset_count(ks), 1);
    assert_ptr_equal(md_keyset_signer(ks), e.key);
    expect(md_keyset_sign_jwt(ks, T0, &POLICY, NULL, c, &b, NULL), MD_OK);
    md_buf_free(&b);
    json_decref(c);
    md_keyset_free(ks);
}

static void test_schedule_step_by_step(void **state)
{
    md_keyset_t *ks = md_keyset_new();
    rotate(ks, T0, &POLICY);
    const md_jwk_t *a = md_keyset_signer(ks);
    char akid[64];
    snprintf(akid, sizeof(akid), "%s", md_jwk_kid(a));

    /* One second before the successor is due: nothing new. */
    const int64_t due_next = T0 + POLICY.rotation_period - POLICY.overlap;
    rotate(ks, due_next - 1, &POLICY);
    assert_int_equal(md_keyset_count(ks), 1);
    /* At due_next the successor is published, but does not sign. */
    rotate(ks, due_next, &POLICY);
    assert_int_equal(md_keyset_count(ks), 2);
    assert_int_equal(count_state(ks, MD_KEY_NEXT), 1);
    assert_ptr_equal(md_keyset_signer(ks), a);
    const md_jwk_t *n = md_keyset_entry(ks, 1).key;
    assert_int_equal(md_keyset_entry(ks, 1).published, due_next);
    assert_true(published(ks, md_jwk_kid(n)));

    /* Hand-over exactly at the end of the period, when the successor has been
     * published for exactly `overlap`. */
    const int64_t t1 = T0 + POLICY.rotation_period;
    rotate(ks, t1 - 1, &POLICY);
    assert_ptr_equal(md_keyset_signer(ks), a);
    rotate(ks, t1, &POLICY);
    assert_ptr_equal(md_keyset_signer(ks), n);
    md_keyset_entry_t ea = entry_of(ks, akid);
    assert_int_equal(ea.state, MD_KEY_RETIRED);
    assert_int_equal(ea.retired, t1);
    assert_int_equal(ea.remove_at, t1 + POLICY.max_token_lifetime + MD_JWT_MAX_SKEW);
    assert_int_equal(entry_of(ks, md_jwk_kid(n)).activated, t1);
    assert_int_equal(count_state(ks, MD_KEY_ACTIVE), 1);
    assert_true(published(ks, akid));
    md_keyset_free(ks);
}

static void test_retired_kept_exactly_until_last_token_expires(void **state)
{
    md_keyset_t *ks = md_keyset_new();
    rotate(ks, T0, &POLICY);
    const int64_t t1 = T0 + POLICY.rotation_period;
    rotate(ks, t1 - POLICY.overlap, &POLICY);
    /* The last token the old key signs: at t1, just before the hand-over, with the longest lifetime. */
    char akid[64];
    snprintf(akid, sizeof(akid), "%s", md_jwk_kid(md_keyset_signer(ks)));
    char *last = sign_at(ks, t1, POLICY.max_token_lifetime);
    rotate(ks, t1, &POLICY);
    assert_string_not_equal(md_jwk_kid(md_keyset_signer(ks)), akid);

    const int64_t remove_at = t1 + POLICY.max_token_lifetime + MD_JWT_MAX_SKEW;
    /* The last second that a verifier with the largest skew still accepts the token ... */
    rotate(ks, remove_at - 1, &POLICY);
    assert_true(published(ks, akid));
    const char *kid = NULL;
    expect(verify_at(ks, last, remove_at - 1, &kid), MD_OK);
    assert_string_equal(kid, akid);
    /* ... and the first second it does not: the key goes. */
    expect(verify_at(ks, last, remove_at, NULL), MD_JOSE_EXPIRED);
    rotate(ks, remove_at, &POLICY);
    assert_false(published(ks, akid));
    assert_int_equal(entry_of(ks, akid).state, 0);
    assert_int_equal(md_keyset_count(ks), 1);
    expect(verify_at(ks, last, remove_at, NULL), MD_JOSE_UNKNOWN_KID);
    free(last);
    md_keyset_free(ks);
}

static void test_lifetime_change_only_extends_retirement(void **state)
{
    md_keyset_t *ks = md_keyset_new();
    rotate(ks, T0, &POLICY);
    char akid[64];
    snprintf(akid, sizeof(akid), "%s", md_jwk_kid(md_keyset_signer(ks)));
    const int64_t t1 = T0 + POLICY.rotation_period;
    rotate(ks, t1 - POLICY.overlap, &POLICY);
    rotate(ks, t1, &POLICY);
    const int64_t remove_at = t1 + POLICY.max_token_lifetime + MD_JWT_MAX_SKEW;
    /* Shorter lifetime now: tokens signed under the old policy still need the old window. */
    md_keyset_policy_t shorter = POLICY;
    shorter.max_token_lifetime = MINUTE;
    rotate(ks, remove_at - 1, &shorter);
    assert_true(published(ks, akid));
    assert_int_equal(entry_of(ks, akid).remove_at, remove_at);
    /* Longer lifetime: the window grows. */
    md_keyset_policy_t longer = POLICY;
    longer.max_token_lifetime = HOUR;
    rotate(ks, remove_at - 1, &longer);
    assert_int_equal(entry_of(ks, akid).remove_at, t1 + HOUR + MD_JWT_MAX_SKEW);
    rotate(ks, remove_at, &longer);
    assert_true(published(ks, akid));
    rotate(ks, t1 + HOUR + MD_JWT_MAX_SKEW, &longer);
    assert_false(published(ks, akid));
    md_keyset_free(ks);
}

static void test_late_rotate_still_publishes_before_signing(void **state)
{
    /* The daemon was down for three periods: the successor appears only when
     * rotate runs again, and must wait `overlap` before it signs. */
    md_keyset_t *ks = md_keyset_new();
    rotate(ks, T0, &POLICY);
    const md_jwk_t *a = md_keyset_signer(ks);
    const int64_t late = T0 + 3 * POLICY.rotation_period;
    rotate(ks, late, &POLICY);
    assert_int_equal(count_state(ks, MD_KEY_NEXT), 1);
    assert_ptr_equal(md_keyset_signer(ks), a);
    rotate(ks, late + POLICY.overlap - 1, &POLICY);
    assert_ptr_equal(md_keyset_signer(ks), a);
    rotate(ks, late + POLICY.overlap, &POLICY);
    assert_ptr_not_equal(md_keyset_signer(ks), a);
    assert_int_equal(count_state(ks, MD_KEY_ACTIVE), 1);
    assert_int_equal(count_state(ks, MD_KEY_RETIRED), 1);
    md_keyset_free(ks);
}

typedef struct outstanding {
    char *token;
    int64_t exp;
    char kid[64];
} outstanding_t;

static void test_simulated_months(void **state)
{
    /* Ten weeks on an 11-minute clock (prime, so steps land on every phase of
     * the schedule), signing one token per step.  At every step: one signer,
     * at most one successor, and every token still within its lifetime
     * verifies against what is published. */
    md_keyset_t *ks = md_keyset_new();
    const int64_t step = 11 * MINUTE, end = T0 + 70 * DAY;
    enum { MAXTOK = 16 };
    outstanding_t live[MAXTOK] = {{0}};
    struct {
        char kid[64];
        int64_t first_seen, first_signed;
    } seen[32];
    size_t nseen = 0, rotations = 0, verified = 0;
    char last_signer[64] = "";
    for (int64_t now = T0; now < end; now += step) {
        rotate(ks, now, &POLICY);
        assert_int_equal(count_state(ks, MD_KEY_ACTIVE), 1);
        assert_true(count_state(ks, MD_KEY_NEXT) <= 1);
        assert_true(md_keyset_count(ks) <= 3);
        /* Record when each kid was first published. */
        for (size_t i = 0; i < md_keyset_count(ks); i++) {
            const char *kid = md_jwk_kid(md_keyset_entry(ks, i).key);
            size_t j = 0;
            while (j < nseen && strcmp(seen[j].kid, kid) != 0)
                j++;
            if (j == nseen) {
                assert_true(nseen < 32);
                snprintf(seen[nseen].kid, sizeof(seen[nseen].kid), "%s", kid);
                seen[nseen].first_seen = now;
                seen[nseen].first_signed = 0;
                nseen++;
            }
        }
        const char *signer = md_jwk_kid(md_keyset_signer(ks));
        if (strcmp(signer, last_signer) != 0) {
            if (last_signer[0] != '\0') rotations++;
            snprintf(last_signer, sizeof(last_signer), "%s", signer);
            for (size_t j = 0; j < nseen; j++) {
                if (strcmp(seen[j].kid, signer) == 0 && seen[j].first_signed == 0) {
                    seen[j].first_signed = now;
                    /* Publish-before-sign (the first key has no predecessor to overlap). */
                    if (j > 0) assert_true(now - seen[j].first_seen >= POLICY.overlap);
                }
            }
        }
        /* Every live token verifies, under the key that signed it. */
        for (int i = 0; i < MAXTOK; i++) {
            if (live[i].token == NULL) continue;
            if (now >= live[i].exp + MD_JWT_MAX_SKEW) {
                free(live[i].token);
                live[i].token = NULL;
                continue;
            }
            const char *kid = NULL;
            expect(verify_at(ks, live[i].token, now, &kid), MD_OK);
            assert_string_equal(kid, live[i].kid);
            verified++;
        }
        int slot = 0;
        while (live[slot].token != NULL)
            slot++;
        live[slot].token = sign_at(ks, now, POLICY.max_token_lifetime);
        live[slot].exp = now + POLICY.max_token_lifetime;
        snprintf(live[slot].kid, sizeof(live[slot].kid), "%s", signer);
    }
    assert_int_equal(rotations, 9); /* 70 days, one hand-over a week after the first */
    assert_true(verified > 5000);
    for (int i = 0; i < MAXTOK; i++)
        free(live[i].token);
    md_keyset_free(ks);
}

static void test_eddsa_policy(void **state)
{
    md_keyset_t *ks = md_keyset_new();
    md_keyset_policy_t p = POLICY;
    p.alg = MD_JOSE_EDDSA;
    rotate(ks, T0, &p);
    assert_int_equal(md_jwk_type(md_keyset_signer(ks)), MD_JWK_ED25519);
    json_t *j = NULL;
    assert_int_equal(md_keyset_jwks(ks, &j), MD_OK);
    json_t *k0 = json_array_get(json_object_get(j, "keys"), 0);
    assert_string_equal(json_string_value(json_object_get(k0, "alg")), "EdDSA");
    assert_string_equal(json_string_value(json_object_get(k0, "kty")), "OKP");
    assert_null(json_object_get(k0, "d"));
    json_decref(j);
    md_keyset_free(ks);
}

static void test_sign_enforces_lifetime(void **state)
{
    md_keyset_t *ks = md_keyset_new();
    rotate(ks, T0, &POLICY);
    md_buf_t b;
    md_buf_init(&b);
    static const char *bad[] = {"{}", "{\"exp\": 1700000000}", "{\"exp\": 1700000901}",
                                "{\"exp\": 1700000300.5}", "{\"exp\": \"1700000300\"}"};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        json_t *c = json_loads(bad[i], 0, NULL);
        expect(md_keyset_sign_jwt(ks, T0, &POLICY, NULL, c, &b, NULL), MD_JOSE_BAD_CLAIM);
        json_decref(c);
    }
    assert_null(b.p);
    json_t *c = json_loads("{\"exp\": 1700000900}", 0, NULL);
    expect(md_keyset_sign_jwt(ks, T0, &POLICY, NULL, c, &b, NULL), MD_OK);
    json_decref(c);
    md_buf_free(&b);
    md_keyset_free(ks);
}

static void test_policy_validation(void **state)
{
    md_keyset_t *ks = md_keyset_new();
    md_keyset_policy_t p = POLICY;
    p.overlap = p.rotation_period;
    expect(md_keyset_rotate(ks, T0, &p, NULL), MD_EINVAL);
    p = POLICY;
    p.overlap = 0;
    expect(md_keyset_rotate(ks, T0, &p, NULL), MD_EINVAL);
    p = POLICY;
    p.max_token_lifetime = 0;
    expect(md_keyset_rotate(ks, T0, &p, NULL), MD_EINVAL);
    p = POLICY;
    p.max_token_lifetime = p.rotation_period + 1; /* retired keys would pile up */
    expect(md_keyset_rotate(ks, T0, &p, NULL), MD_EINVAL);
    p = POLICY;
    p.alg = MD_JOSE_RS256;
    expect(md_keyset_rotate(ks, T0, &p, NULL), MD_EINVAL);
    expect(md_keyset_rotate(ks, 0, &POLICY, NULL), MD_EINVAL);
    expect(md_keyset_rotate(ks, T0, NULL, NULL), MD_EINVAL);
    assert_int_equal(md_keyset_count(ks), 0);
    md_keyset_free(ks);
}

/* ------------------------------------------------------------ sealed storage */

/* A schedule short enough that a retired, an active and a next key coexist. */
static const md_keyset_policy_t STORE_POLICY = {
    .alg = MD_JOSE_ES256,
    .rotation_period = 2 * DAY,
    .overlap = DAY,
    .max_token_lifetime = DAY,
};

/* A set holding, in order, a retired, the active and the next key. */
static md_keyset_t *three_keys(void)
{
    md_keyset_t *ks = md_keyset_new();
    for (int d = 0; d <= 3; d++)
        rotate(ks, T0 + d * DAY, &STORE_POLICY);
    assert_int_equal(md_keyset_count(ks), 3);
    assert_int_equal(md_keyset_entry(ks, 0).state, MD_KEY_RETIRED);
    assert_int_equal(md_keyset_entry(ks, 1).state, MD_KEY_ACTIVE);
    assert_int_equal(md_keyset_entry(ks, 2).state, MD_KEY_NEXT);
    return ks;
}

static char *save(const md_keyset_t *ks)
{
    char *text = NULL;
    size_t n = 0;
    md_err_t err = {0};
    int rc = md_keyset_save(ks, KEK, GEN, BOUND, &text, &n, &err);
    if (rc != MD_OK) fail_msg("save: %s %s", md_jose_err_name(rc), err.msg);
    assert_int_equal(strlen(text), n);
    return text;
}

/* Load with bound; the error message (when it failed) in msg. */
static int load_bound(const char *text, const unsigned char *kek, md_str_t bound, char *msg, size_t msgsz)
{
    md_keyset_t *ks = (md_keyset_t *)0x1;
    md_err_t err = {0};
    int64_t gen = -1;
    int rc = md_keyset_load(md_str_c(text), kek, bound, &ks, &gen, &err);
    if (rc == MD_OK) {
        assert_int_equal(gen, GEN);
        md_keyset_free(ks);
    } else {
        assert_null(ks);
    }
    if (msg != NULL) snprintf(msg, msgsz, "%s", err.msg);
    return rc;
}

static int load_rc(const char *text, const unsigned char *kek)
{
    return load_bound(text, kek, BOUND, NULL, 0);
}

/* Edit a saved document with jansson; returns the new text. */
static char *edit(const char *text, void (*fn)(json_t *keys))
{
    json_t *doc = json_loads(text, 0, NULL);
    assert_non_null(doc);
    fn(json_object_get(doc, "keys"));
    char *out = json_dumps(doc, 0);
    json_decref(doc);
    return out;
}

/* Edit the whole saved document (not just its keys). */
static char *edit_doc(const char *text, void (*fn)(json_t *doc))
{
    json_t *doc = json_loads(text, 0, NULL);
    assert_non_null(doc);
    fn(doc);
    char *out = json_dumps(doc, 0);
    json_decref(doc);
    return out;
}

static void test_storage_round_trip(void **state)
{
    md_keyset_t *ks = three_keys();
    const int64_t t = T0 + 3 * DAY + HOUR;
    char *text = save(ks);
    /* No private key material in the clear. */
    assert_null(strstr(text, "PRIVATE"));
    assert_null(strstr(text, "MIG"));
    md_keyset_t *back = NULL;
    md_err_t err = {0};
    int64_t gen = 0;
    int rc = md_keyset_load(md_str_c(text), KEK, BOUND, &back, &gen, &err);
    if (rc != MD_OK) fail_msg("load: %s %s", md_jose_err_name(rc), err.msg);
    assert_int_equal(gen, GEN);
    assert_int_equal(md_keyset_count(back), md_keyset_count(ks));
    for (size_t i = 0; i < md_keyset_count(ks); i++) {
        md_keyset_entry_t a = md_keyset_entry(ks, i), b = md_keyset_entry(back, i);
        assert_string_equal(md_jwk_kid(a.key), md_jwk_kid(b.key));
        assert_int_equal(a.state, b.state);
        assert_int_equal(a.published, b.published);
        assert_int_equal(a.activated, b.activated);
        assert_int_equal(a.retired, b.retired);
        assert_int_equal(a.remove_at, b.remove_at);
        assert_true(md_jwk_has_private(b.key));
        assert_int_equal(md_jwk_algs(b.key), MD_JOSE_ES256);
    }
    /* The loaded private key signs what the original set verifies. */
    char *tok = sign_at(back, t, MINUTE);
    const char *kid = NULL;
    expect(verify_at(ks, tok, t, &kid), MD_OK);
    assert_string_equal(kid, md_jwk_kid(md_keyset_signer(ks)));
    /* And the schedule goes on from where it was. */
    rotate(back, T0 + 4 * DAY, &STORE_POLICY);
    rotate(ks, T0 + 4 * DAY, &STORE_POLICY);
    assert_int_equal(md_keyset_count(back), 2);
    assert_string_equal(md_jwk_kid(md_keyset_signer(back)), md_jwk_kid(md_keyset_signer(ks)));
    free(tok);
    free(text);
    md_keyset_free(back);
    md_keyset_free(ks);
}

static void flip_ciphertext_bit(json_t *keys)
{
    json_t *k = json_array_get(keys, 0);
    unsigned char *raw = NULL;
    size_t n = 0;
    assert_int_equal(md_b64url_decode(md_str_c(json_string_value(json_object_get(k, "sealed"))), &raw, &n),
                     MD_OK);
    raw[MD_SEAL_NONCE_LEN + 40] ^= 0x04; /* inside the ciphertext */
    md_buf_t b;
    md_buf_init(&b);
    md_b64url_encode(&b, raw, n);
    json_object_set_new(k, "sealed", json_string(b.p));
    md_buf_free(&b);
    free(raw);
}

static void swap_sealed(json_t *keys)
{
    json_t *a = json_array_get(keys, 0), *b = json_array_get(keys, 1);
    json_t *sa = json_incref(json_object_get(a, "sealed"));
    json_object_set(a, "sealed", json_object_get(b, "sealed"));
    json_object_set_new(b, "sealed", sa);
}

static void rename_kid(json_t *keys)
{
    json_t *a = json_array_get(keys, 0);
    char kid[64];
    snprintf(kid, sizeof(kid), "%s", json_string_value(json_object_get(a, "kid")));
    kid[0] = kid[0] == 'A' ? 'B' : 'A';
    json_object_set_new(a, "kid", json_string(kid));
}

static void test_tamper_flipped_ciphertext_bit(void **state)
{
    md_keyset_t *ks = three_keys();
    char *text = save(ks);
    expect(load_rc(text, KEK), MD_OK); /* control */
    char *bad = edit(text, flip_ciphertext_bit);
    expect(load_rc(bad, KEK), MD_JOSE_SEAL_BROKEN);
    free(bad);
    free(text);
    md_keyset_free(ks);
}

static void test_tamper_wrong_aad(void **state)
{
    md_keyset_t *ks = three_keys();
    char *text = save(ks);
    /* Each sealed key moved under the other's kid. */
    char *bad = edit(text, swap_sealed);
    expect(load_rc(bad, KEK), MD_JOSE_SEAL_BROKEN);
    free(bad);
    /* A kid changed by one character. */
    bad = edit(text, rename_kid);
    expect(load_rc(bad, KEK), MD_JOSE_SEAL_BROKEN);
    free(bad);
    free(text);
    md_keyset_free(ks);
}

static void test_tamper_wrong_kek(void **state)
{
    md_keyset_t *ks = three_keys();
    char *text = save(ks);
    unsigned char kek[MD_SEAL_KEY_LEN];
    memcpy(kek, KEK, sizeof(kek));
    kek[31] ^= 0x80;
    expect(load_rc(text, kek), MD_JOSE_SEAL_BROKEN);
    free(text);
    md_keyset_free(ks);
}

static void test_kid_must_be_the_thumbprint(void **state)
{
    /* Whoever holds the KEK could seal another key under an existing kid;
     * the loader still refuses a kid that is not the key's own thumbprint. */
    md_keyset_t *ks = three_keys();
    char *text = save(ks);
    json_t *doc = json_loads(text, 0, NULL);
    json_t *k0 = json_array_get(json_object_get(doc, "keys"), 0);
    const char *kid = json_string_value(json_object_get(k0, "kid"));
    md_jwk_t *other = NULL;
    assert_int_equal(md_jwk_generate(MD_JOSE_ES256, &other, NULL), MD_OK);
    char *pem = NULL;
    size_t pem_len = 0;
    assert_int_equal(md_jwk_to_pem(other, &pem, &pem_len, NULL), MD_OK);
    unsigned char *sealed = NULL;
    size_t sealed_len = 0;
    assert_int_equal(md_jose_seal(KEK, md_str_c(kid), pem, pem_len, &sealed, &sealed_len), MD_OK);
    md_buf_t b;
    md_buf_init(&b);
    md_b64url_encode(&b, sealed, sealed_len);
    json_object_set_new(k0, "sealed", json_string(b.p));
    char *bad = json_dumps(doc, 0);
    expect(load_rc(bad, KEK), MD_JOSE_BAD_KEY);
    free(bad);
    md_buf_free(&b);
    free(sealed);
    md_jose_secret_free(pem, pem_len);
    md_jwk_free(other);
    json_decref(doc);
    free(text);
    md_keyset_free(ks);
}

static void set_both_active(json_t *keys)
{
    for (size_t i = 0; i < 2; i++) {
        json_t *k = json_array_get(keys, i);
        json_object_set_new(k, "state", json_string("active"));
        json_object_set_new(k, "activated",
                            json_integer(json_integer_value(json_object_get(k, "published"))));
        json_object_set_new(k, "retired", json_integer(0));
        json_object_set_new(k, "remove_at", json_integer(0));
    }
}
static void set_bad_state(json_t *keys)
{
    json_object_set_new(json_array_get(keys, 0), "state", json_string("revoked"));
}
static void set_next_with_activation(json_t *keys)
{
    json_t *k = json_array_get(keys, 2); /* the next key */
    json_object_set_new(k, "activated", json_integer(T0));
}
static void set_time_overflow(json_t *keys)
{
    json_object_set_new(json_array_get(keys, 0), "remove_at", json_integer(INT64_MAX));
}
static void add_member(json_t *keys)
{
    json_object_set_new(json_array_get(keys, 0), "d", json_string("AAAA"));
}
static void drop_member(json_t *keys)
{
    json_object_del(json_array_get(keys, 0), "remove_at");
}
static void duplicate_entry(json_t *keys)
{
    json_array_append(keys, json_array_get(keys, 0));
}

static void test_load_refuses_broken_states(void **state)
{
    md_keyset_t *ks = three_keys();
    char *text = save(ks);
    char msg[512];
    /* changed states and times: the MAC catches them before the consistency checks would */
    void (*metadata[])(json_t *) = {set_both_active, set_bad_state, set_next_with_activation,
                                    set_time_overflow};
    for (size_t i = 0; i < sizeof(metadata) / sizeof(metadata[0]); i++) {
        char *bad = edit(text, metadata[i]);
        int rc = load_bound(bad, KEK, BOUND, msg, sizeof(msg));
        if (rc != MD_JOSE_SEAL_BROKEN || strstr(msg, "stored metadata does not match its seal") == NULL)
            fail_msg("metadata edit %zu: got %s (%s)", i, md_jose_err_name(rc), msg);
        free(bad);
    }
    /* a document of the wrong shape */
    void (*shape[])(json_t *) = {add_member, drop_member, duplicate_entry};
    for (size_t i = 0; i < sizeof(shape) / sizeof(shape[0]); i++) {
        char *bad = edit(text, shape[i]);
        int rc = load_rc(bad, KEK);
        if (rc != MD_JOSE_MALFORMED) fail_msg("edit %zu: got %s", i, md_jose_err_name(rc));
        free(bad);
    }
    expect(load_rc("{\"version\":2,\"keys\":[]}", KEK), MD_JOSE_MALFORMED);
    expect(load_rc("{\"version\":2,\"generation\":0,\"keys\":[]}", KEK), MD_JOSE_MALFORMED);
    expect(load_rc("{\"version\":2,\"generation\":1,\"keys\":[],\"version\":2}", KEK), MD_JOSE_DUPLICATE_KEY);
    md_keyset_t *empty = NULL;
    int64_t gen = 0;
    assert_int_equal(md_keyset_load(MD_STR("{\"version\":2,\"generation\":3,\"keys\":[]}"), KEK, BOUND,
                                    &empty, &gen, NULL),
                     MD_OK);
    assert_int_equal(md_keyset_count(empty), 0);
    assert_int_equal(gen, 3);
    md_keyset_free(empty);
    free(text);
    md_keyset_free(ks);
}

/* ------------------------------------------------------------ the metadata MAC */

static size_t tamper_index;
static const char *tamper_member;
static void tamper_one(json_t *keys)
{
    json_t *k = json_array_get(keys, tamper_index);
    json_t *v = json_object_get(k, tamper_member);
    if (json_is_integer(v)) {
        json_object_set_new(k, tamper_member, json_integer(json_integer_value(v) + 1));
    } else if (strcmp(tamper_member, "state") == 0) {
        /* the retired key back to active, the active one to retired, the next one to active */
        const char *s = json_string_value(v);
        json_object_set_new(k, "state",
                            json_string(strcmp(s, "retired") == 0  ? "active"
                                        : strcmp(s, "active") == 0 ? "retired"
                                                                   : "active"));
    } else if (strcmp(tamper_member, "alg") == 0) {
        json_object_set_new(k, "alg", json_string("EdDSA"));
    } else { /* mac: one character changed */
        char m[128];
        snprintf(m, sizeof(m), "%s", json_string_value(v));
        m[3] = m[3] == 'A' ? 'B' : 'A';
        json_object_set_new(k, tamper_member, json_string(m));
    }
}

static void test_metadata_tamper_each_field(void **state)
{
    static const char *members[] = {"state", "published", "activated", "retired", "remove_at", "alg", "mac"};
    md_keyset_t *ks = three_keys();
    char *text = save(ks);
    char msg[512];
    expect(load_rc(text, KEK), MD_OK); /* control: untampered loads */
    for (size_t i = 0; i < 3; i++) {
        for (size_t m = 0; m < sizeof(members) / sizeof(members[0]); m++) {
            tamper_index = i;
            tamper_member = members[m];
            char *bad = edit(text, tamper_one);
            assert_string_not_equal(bad, text);
            int rc = load_bound(bad, KEK, BOUND, msg, sizeof(msg));
            if (rc != MD_JOSE_SEAL_BROKEN || strstr(msg, "stored metadata does not match its seal: the store "
                                                         "was modified outside mandated") == NULL)
                fail_msg("key %zu, %s changed: got %s (%s)", i, members[m], md_jose_err_name(rc), msg);
            /* the message names the key whose metadata changed */
            json_t *doc = json_loads(text, 0, NULL);
            const char *kid =
                json_string_value(json_object_get(json_array_get(json_object_get(doc, "keys"), i), "kid"));
            assert_non_null(strstr(msg, kid));
            json_decref(doc);
            free(bad);
        }
    }
    free(text);
    md_keyset_free(ks);
}

static void bump_generation(json_t *doc)
{
    json_object_set_new(doc, "generation", json_integer(GEN + 1));
}
static void drop_last_key(json_t *keys)
{
    json_array_remove(keys, json_array_size(keys) - 1);
}
static void reverse_keys(json_t *keys)
{
    json_t *first = json_incref(json_array_get(keys, 0));
    json_array_remove(keys, 0);
    json_array_append_new(keys, first);
}

static void test_metadata_binds_the_set(void **state)
{
    md_keyset_t *ks = three_keys();
    char *text = save(ks);
    char msg[512];

    /* another generation */
    char *bad = edit_doc(text, bump_generation);
    expect(load_bound(bad, KEK, BOUND, msg, sizeof(msg)), MD_JOSE_SEAL_BROKEN);
    assert_non_null(strstr(msg, "stored metadata does not match its seal"));
    free(bad);
    /* other bound bytes (the caller's settings) */
    expect(load_bound(text, KEK, MD_STR("keys.lifetime_high_water=901"), msg, sizeof(msg)),
           MD_JOSE_SEAL_BROKEN);
    assert_non_null(strstr(msg, "stored metadata does not match its seal"));
    expect(load_bound(text, KEK, MD_STR_NULL, msg, sizeof(msg)), MD_JOSE_SEAL_BROKEN);
    /* a key dropped from the set */
    bad = edit(text, drop_last_key);
    expect(load_bound(bad, KEK, BOUND, msg, sizeof(msg)), MD_JOSE_SEAL_BROKEN);
    assert_non_null(strstr(msg, "stored metadata does not match its seal"));
    free(bad);
    /* the stored order does not matter */
    bad = edit(text, reverse_keys);
    expect(load_rc(bad, KEK), MD_OK);
    free(bad);

    /* a key from an earlier save mixed into a later one: each save is its own whole */
    char *later = NULL;
    size_t n = 0;
    assert_int_equal(md_keyset_save(ks, KEK, GEN + 1, BOUND, &later, &n, NULL), MD_OK);
    json_t *old_doc = json_loads(text, 0, NULL), *new_doc = json_loads(later, 0, NULL);
    json_array_set(json_object_get(new_doc, "keys"), 0, json_array_get(json_object_get(old_doc, "keys"), 0));
    char *mixed = json_dumps(new_doc, 0);
    md_keyset_t *back = NULL;
    md_err_t err = {0};
    expect(md_keyset_load(md_str_c(mixed), KEK, BOUND, &back, NULL, &err), MD_JOSE_SEAL_BROKEN);
    assert_non_null(strstr(err.msg, "stored metadata does not match its seal"));
    free(mixed);
    json_decref(old_doc);
    json_decref(new_doc);
    free(later);

    /* generation 0 cannot be saved */
    assert_int_equal(md_keyset_save(ks, KEK, 0, BOUND, &later, &n, NULL), MD_EINVAL);
    free(text);
    md_keyset_free(ks);
}

static void test_version_1_refused_and_wrong_kek_named(void **state)
{
    md_keyset_t *ks = three_keys();
    char *text = save(ks);
    char msg[512];
    json_t *doc = json_loads(text, 0, NULL);
    json_object_set_new(doc, "version", json_integer(1));
    json_object_del(doc, "generation");
    char *v1 = json_dumps(doc, 0);
    expect(load_bound(v1, KEK, BOUND, msg, sizeof(msg)), MD_JOSE_MALFORMED);
    assert_non_null(strstr(msg, "earlier mandated"));
    free(v1);
    json_decref(doc);
    /* a wrong KEK is reported as such, not as changed metadata */
    unsigned char kek[MD_SEAL_KEY_LEN];
    memcpy(kek, KEK, sizeof(kek));
    kek[0] ^= 1;
    expect(load_bound(text, kek, BOUND, msg, sizeof(msg)), MD_JOSE_SEAL_BROKEN);
    assert_non_null(strstr(msg, "does not open"));
    assert_null(strstr(msg, "metadata"));
    free(text);
    md_keyset_free(ks);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_bootstrap),
        cmocka_unit_test(test_schedule_step_by_step),
        cmocka_unit_test(test_retired_kept_exactly_until_last_token_expires),
        cmocka_unit_test(test_lifetime_change_only_extends_retirement),
        cmocka_unit_test(test_late_rotate_still_publishes_before_signing),
        cmocka_unit_test(test_simulated_months),
        cmocka_unit_test(test_eddsa_policy),
        cmocka_unit_test(test_sign_enforces_lifetime),
        cmocka_unit_test(test_policy_validation),
        cmocka_unit_test(test_storage_round_trip),
        cmocka_unit_test(test_tamper_flipped_ciphertext_bit),
        cmocka_unit_test(test_tamper_wrong_aad),
        cmocka_unit_test(test_tamper_wrong_kek),
        cmocka_unit_test(test_kid_must_be_the_thumbprint),
        cmocka_unit_test(test_load_refuses_broken_states),
        cmocka_unit_test(test_metadata_tamper_each_field),
        cmocka_unit_test(test_metadata_binds_the_set),
        cmocka_unit_test(test_version_1_refused_and_wrong_kek_named),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
