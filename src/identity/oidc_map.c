/*
 * oidc_map.c: from verified claims to our identity — SPIFFE ID and owner
 * templates, and the required-claims check.  Pure: no I/O, no globals.
 *
 * Invariants: a SPIFFE ID template can only ever produce IDs in its own
 * trust domain, each placeholder fills at most one path segment and never
 * adds one (values are limited to [A-Za-z0-9._-]), so two different claim
 * sets never map to the same ID through one template; a rendered ID always
 * passes md_spiffe_parse().  Messages name claims (config-chosen), never
 * their values (token-chosen).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "identity/oidc_int.h"
#include "identity/spiffe.h"

#define TMPL_MAX_LEN 2048
#define CLAIM_NAME_MAX 128
#define OWNER_MAX_LEN 1024

typedef struct tmpl_part {
    bool claim; /* text is a claim name, else literal text */
    char *text; /* owned */
    size_t n;
} tmpl_part_t;

struct md_oidc_tmpl {
    bool spiffe;
    size_t n;
    tmpl_part_t *parts; /* owned */
};

void md_oidc_tmpl_free(md_oidc_tmpl_t *t)
{
    if (t == NULL) return;
    for (size_t i = 0; i < t->n; i++)
        free(t->parts[i].text);
    free(t->parts);
    free(t);
}

static int add_part(md_oidc_tmpl_t *t, bool claim, const char *p, size_t n)
{
    tmpl_part_t *parts = realloc(t->parts, (t->n + 1) * sizeof(*parts));
    if (parts == NULL) return -1;
    t->parts = parts;
    parts[t->n].text = malloc(n + 1);
    if (parts[t->n].text == NULL) return -1;
    memcpy(parts[t->n].text, p, n);
    parts[t->n].text[n] = '\0';
    parts[t->n].n = n;
    parts[t->n].claim = claim;
    t->n++;
    return 0;
}

static bool claim_name_char(char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' ||
           c == '.' || c == ':' || c == '-';
}

/* Printable UTF-8: no C0 or C1 controls, no DEL, well-formed. */
static bool printable_utf8(const char *s, size_t n)
{
    size_t i = 0;
    while (i < n) {
        int32_t cp = md_utf8_next(s, n, &i);
        if (cp < 0x20 || cp == 0x7f || (cp >= 0x80 && cp < 0xa0)) return false;
    }
    return true;
}

int md_oidc_tmpl_compile(const char *src, bool spiffe, md_oidc_tmpl_t **out, char *msg, size_t msgsz)
{
    md_oidc_tmpl_t *t = NULL;
    size_t len = strlen(src), lit = 0, i = 0;
    size_t td_end = 0; /* SPIFFE: index of the '/' that ends the trust domain (0: none yet) */
    bool segment_has_claim = false;
    md_buf_t probe;
    int rc = MD_EINVAL;

    *out = NULL;
    md_buf_init(&probe);
    if (len == 0 || len > TMPL_MAX_LEN) {
        snprintf(msg, msgsz, "must be 1..%d bytes", TMPL_MAX_LEN);
        goto out;
    }
    if (!printable_utf8(src, len)) {
        snprintf(msg, msgsz, "contains a control character or is not UTF-8");
        goto out;
    }
    if (spiffe && strncmp(src, "spiffe://", 9) != 0) {
        snprintf(msg, msgsz, "must start with spiffe://");
        goto out;
    }
    if ((t = calloc(1, sizeof(*t))) == NULL) goto oom;
    t->spiffe = spiffe;
    while (i < len) {
        char c = src[i];
        if (spiffe && c == '/' && i >= 9) {
            if (td_end == 0) td_end = i;
            segment_has_claim = false;
        }
        if (c == '}') {
            snprintf(msg, msgsz, "a `}` without `{` at offset %zu (placeholders are {claims.NAME})", i);
            goto out;
        }
        if (c != '{') {
            i++;
            continue;
        }
        /* a placeholder: {claims.NAME} */
        size_t start = i;
        if (strncmp(src + i, "{claims.", 8) != 0) {
            snprintf(msg, msgsz, "unknown placeholder at offset %zu (write {claims.NAME})", i);
            goto out;
        }
        i += 8;
        size_t name = i;
        while (i < len && claim_name_char(src[i]))
            i++;
        if (i >= len || src[i] != '}' || i == name || i - name > CLAIM_NAME_MAX) {
            snprintf(
                msg, msgsz,
                "bad placeholder at offset %zu: write {claims.NAME} with NAME 1..%d of A-Z a-z 0-9 _ . : -",
                start, CLAIM_NAME_MAX);
            goto out;
        }
        if (spiffe && td_end == 0) {
            snprintf(msg, msgsz, "placeholders may appear only in the path, not in the trust domain");
            goto out;
        }
        if (spiffe && segment_has_claim) {
            snprintf(
                msg, msgsz,
                "at most one placeholder per path segment (two would make different claims map to one ID)");
            goto out;
        }
        segment_has_claim = true;
        if (start > lit && add_part(t, false, src + lit, start - lit) != 0) goto oom;
        if (add_part(t, true, src + name, i - name) != 0) goto oom;
        i++;
        lit = i;
    }
    if (len > lit && add_part(t, false, src + lit, len - lit) != 0) goto oom;
    if (spiffe) {
        md_spiffe_id_t id;
        md_spiffe_error_t se;
        for (size_t j = 0; j < t->n; j++)
            md_buf_add(&probe, t->parts[j].claim ? "x" : t->parts[j].text,
                       t->parts[j].claim ? 1 : t->parts[j].n);
        if (probe.oom) goto oom;
        se = md_spiffe_parse((md_str_t){probe.p, probe.n}, &id);
        if (se != MD_SPIFFE_OK) {
            snprintf(msg, msgsz, "is not a SPIFFE ID template (with each placeholder as `x`: %s)",
                     md_spiffe_strerror(se));
            goto out;
        }
    }
    *out = t;
    t = NULL;
    rc = MD_OK;
    goto out;
oom:
    snprintf(msg, msgsz, "out of memory");
    rc = MD_ENOMEM;
out:
    md_buf_free(&probe);
    md_oidc_tmpl_free(t);
    return rc;
}

static bool spiffe_safe(const char *s, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        char c = s[i];
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '.' ||
              c == '_' || c == '-'))
            return false;
    }
    return true;
}

int md_oidc_tmpl_render(const md_oidc_tmpl_t *t, const json_t *claims, md_buf_t *out, md_err_t *err)
{
    const char *what = t->spiffe ? "the SPIFFE ID" : "the owner";
    size_t start = out->n;

    for (size_t i = 0; i < t->n; i++) {
        const tmpl_part_t *p = &t->parts[i];
        const json_t *v;
        char num[32];
        const char *s;
        size_t n;

        if (!p->claim) {
            md_buf_add(out, p->text, p->n);
            continue;
        }
        v = json_is_object(claims) ? json_object_get(claims, p->text) : NULL;
        if (v == NULL || json_is_null(v))
            return md_err_set(err, MD_OIDC_CLAIM_MISSING,
                              "the token has no claim `%s`, which %s is made from", p->text, what);
        if (json_is_string(v)) {
            s = json_string_value(v);
            n = json_string_length(v);
        } else if (json_is_integer(v)) {
            n = (size_t)snprintf(num, sizeof(num), "%lld", (long long)json_integer_value(v));
            s = num;
        } else {
            return md_err_set(err, MD_OIDC_UNSAFE_CLAIM, "claim `%s`, which %s is made from, is not a string",
                              p->text, what);
        }
        if (n == 0 || n > MD_OIDC_MAX_CLAIM_VALUE)
            return md_err_set(err, MD_OIDC_UNSAFE_CLAIM,
                              "claim `%s`, which %s is made from, must be 1..%d bytes", p->text, what,
                              MD_OIDC_MAX_CLAIM_VALUE);
        if (t->spiffe && !spiffe_safe(s, n))
            return md_err_set(
                err, MD_OIDC_UNSAFE_CLAIM,
                "claim `%s` has a character outside A-Z a-z 0-9 . _ - and cannot be part of the "
                "SPIFFE ID",
                p->text);
        if (!t->spiffe && !printable_utf8(s, n))
            return md_err_set(err, MD_OIDC_UNSAFE_CLAIM,
                              "claim `%s` has a control character or is not UTF-8 and cannot be the owner",
                              p->text);
        md_buf_add(out, s, n);
    }
    if (out->oom) return md_err_set(err, MD_ENOMEM, "out of memory");
    if (t->spiffe) {
        md_spiffe_id_t id;
        md_spiffe_error_t se = md_spiffe_parse((md_str_t){out->p + start, out->n - start}, &id);
        if (se != MD_SPIFFE_OK)
            return md_err_set(err, MD_OIDC_BAD_SPIFFE_ID, "the mapped SPIFFE ID is not valid: %s",
                              md_spiffe_strerror(se));
    } else if (out->n - start > OWNER_MAX_LEN) {
        return md_err_set(err, MD_OIDC_UNSAFE_CLAIM, "the mapped owner is longer than %d bytes",
                          OWNER_MAX_LEN);
    }
    return MD_OK;
}

int md_oidc_claims_check(const md_conf_map_t *required, const json_t *claims, md_err_t *err)
{
    for (size_t i = 0; i < required->n; i++) {
        const md_conf_map_entry_t *e = &required->items[i];
        const json_t *v = json_is_object(claims) ? json_object_get(claims, e->key) : NULL;
        char num[32];
        const char *s;
        size_t n;

        if (v == NULL || json_is_null(v))
            return md_err_set(err, MD_OIDC_CLAIM_MISSING, "the token has no claim `%s`, which is required",
                              e->key);
        if (json_is_string(v)) {
            s = json_string_value(v);
            n = json_string_length(v);
        } else if (json_is_boolean(v)) {
            s = json_is_true(v) ? "true" : "false";
            n = strlen(s);
        } else if (json_is_integer(v)) {
            n = (size_t)snprintf(num, sizeof(num), "%lld", (long long)json_integer_value(v));
            s = num;
        } else {
            return md_err_set(err, MD_OIDC_CLAIM_MISMATCH,
                              "required claim `%s` is not a string, boolean or integer", e->key);
        }
        bool match = false;
        for (size_t j = 0; j < e->values.n && !match; j++)
            match = strlen(e->values.items[j]) == n && memcmp(e->values.items[j], s, n) == 0;
        if (!match)
            return md_err_set(err, MD_OIDC_CLAIM_MISMATCH,
                              "required claim `%s` has a value that is not allowed", e->key);
    }
    return MD_OK;
}
