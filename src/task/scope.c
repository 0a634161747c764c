/*
 * scope.c: OAuth scope sets (see scope.h).
 *
 * Invariants: a set built here has tok[] sorted bytewise (md_str_cmp) and
 * unique, every token valid by md_scope_token_valid(), n <= MD_SCOPE_MAX;
 * token bytes live in the caller's arena, NUL-terminated.  Nothing here
 * allocates outside the arena except md_scope_format() (into the caller's
 * buffer) and md_scope_to_json().  The first problem found is the one
 * reported.
 */
#include "task/scope.h"

#include <stdio.h>
#include <stdlib.h>

#include "identity/entry.h"

/* One rule for scopes across the registry and tasks. */
_Static_assert(MD_SCOPE_TOKEN_MAX == MD_ENTRY_SCOPE_MAX, "scope-token length differs from the registry's");
_Static_assert(MD_SCOPE_MAX == MD_ENTRY_SCOPES_MAX, "scope count differs from the registry's");

/* Longest well-formed OAuth scope string: MD_SCOPE_MAX maximal tokens and the spaces between. */
#define SCOPE_TEXT_MAX (MD_SCOPE_MAX * (MD_SCOPE_TOKEN_MAX + 1) - 1)

/* Untrusted text for a message: at most 48 bytes, bytes outside printable ASCII (and '"') as '?'. */
static const char *quote(md_str_t s, char out[64])
{
    size_t m = s.n > 48 ? 48 : s.n, j = 0;
    for (size_t i = 0; i < m; i++) {
        unsigned char c = (unsigned char)s.p[i];
        out[j++] = (c >= 0x20 && c < 0x7f && c != '"') ? (char)c : '?';
    }
    if (s.n > m) {
        memcpy(out + j, "...", 3);
        j += 3;
    }
    out[j] = '\0';
    return out;
}

static bool token_byte_ok(unsigned char c)
{
    return c >= 0x21 && c <= 0x7e && c != '"' && c != '\\';
}

bool md_scope_token_valid(md_str_t tok)
{
    if (tok.n == 0 || tok.n > MD_SCOPE_TOKEN_MAX) return false;
    for (size_t i = 0; i < tok.n; i++)
        if (!token_byte_ok((unsigned char)tok.p[i])) return false;
    return true;
}

/* `where` names the token ("scope token 3", "scope[2]"). */
static int check_token(md_str_t tok, const char *where, md_err_t *err)
{
    char q[64];
    if (tok.n == 0) return md_err_set(err, MD_EINVAL, "%s: empty scope", where);
    if (tok.n > MD_SCOPE_TOKEN_MAX)
        return md_err_set(err, MD_ELIMIT, "%s (\"%s\"): longer than %d bytes", where, quote(tok, q),
                          MD_SCOPE_TOKEN_MAX);
    for (size_t i = 0; i < tok.n; i++) {
        unsigned char c = (unsigned char)tok.p[i];
        if (!token_byte_ok(c))
            return md_err_set(
                err, MD_EINVAL,
                "%s (\"%s\"): byte %zu (0x%02x) is not allowed in a scope (RFC 6749 scope-token: "
                "printable ASCII except space, '\"' and '\\'%s)",
                where, quote(tok, q), i + 1, c,
                c == ' ' || c == '\t' || c == '\n' || c == '\r' ? "; tokens are separated by one space" : "");
    }
    return MD_OK;
}

typedef struct ranked {
    md_str_t s;
    size_t pos; /* index in written order */
} ranked_t;

static int cmp_ranked(const void *x, const void *y)
{
    const ranked_t *a = x, *b = y;
    int c = md_str_cmp(a->s, b->s);
    if (c != 0) return c;
    return a->pos < b->pos ? -1 : a->pos > b->pos;
}

/*
 * The set of the n valid tokens in given[] (written order; arena storage
 * kept by the set).  Refuses duplicates, naming both positions; `json`
 * chooses how positions are written (0-based "scope[i]" or 1-based "token i").
 */
static int build_set(md_str_t *given, size_t n, bool json, md_arena_t *a, md_scope_t *out, md_err_t *err)
{
    if (n == 0) return MD_OK;
    ranked_t *r = md_arena_alloc(a, n * sizeof(*r));
    md_str_t *tok = md_arena_alloc(a, n * sizeof(*tok));
    if (r == NULL || tok == NULL) return md_err_set(err, MD_ENOMEM, "out of memory");
    for (size_t i = 0; i < n; i++)
        r[i] = (ranked_t){given[i], i};
    qsort(r, n, sizeof(*r), cmp_ranked);
    for (size_t i = 0; i < n; i++) {
        if (i > 0 && md_str_eq(r[i - 1].s, r[i].s)) {
            char q[64];
            if (json)
                return md_err_set(err, MD_EINVAL, "scope[%zu]: duplicates scope[%zu] (\"%s\")", r[i].pos,
                                  r[i - 1].pos, quote(r[i].s, q));
            return md_err_set(err, MD_EINVAL, "scope token %zu (\"%s\"): duplicates token %zu", r[i].pos + 1,
                              quote(r[i].s, q), r[i - 1].pos + 1);
        }
        tok[i] = r[i].s;
    }
    out->tok = tok;
    out->given = given;
    out->n = n;
    return MD_OK;
}

int md_scope_parse(md_str_t text, md_arena_t *a, md_scope_t *out, md_err_t *err)
{
    memset(out, 0, sizeof(*out));
    if (text.n == 0)
        return md_err_set(err, MD_EINVAL,
                          "scope: empty (RFC 6749 needs at least one scope-token; omit the scope instead)");
    if (text.p == NULL) return md_err_set(err, MD_EINVAL, "scope: missing");
    if (text.n > SCOPE_TEXT_MAX)
        return md_err_set(err, MD_ELIMIT, "scope: longer than %d bytes (%d tokens of at most %d bytes)",
                          SCOPE_TEXT_MAX, MD_SCOPE_MAX, MD_SCOPE_TOKEN_MAX);
    if (text.p[0] == ' ') return md_err_set(err, MD_EINVAL, "scope: starts with a space");
    if (text.p[text.n - 1] == ' ') return md_err_set(err, MD_EINVAL, "scope: ends with a space");
    size_t n = 1;
    for (size_t i = 0; i < text.n; i++)
        if (text.p[i] == ' ') n++;
    if (n > MD_SCOPE_MAX) return md_err_set(err, MD_ELIMIT, "scope: more than %d scopes", MD_SCOPE_MAX);

    /* One copy; each space becomes the NUL that ends the token before it. */
    char *copy = md_arena_memdup(a, text.p, text.n);
    md_str_t *given = md_arena_alloc(a, n * sizeof(*given));
    if (copy == NULL || given == NULL) return md_err_set(err, MD_ENOMEM, "out of memory");
    size_t k = 0, start = 0;
    for (size_t i = 0; i <= text.n; i++) {
        if (i < text.n && copy[i] != ' ') continue;
        md_str_t tok = {copy + start, i - start};
        char where[48];
        if (tok.n == 0) {
            char q[64];
            return md_err_set(err, MD_EINVAL, "scope: two spaces in a row after token %zu (\"%s\")", k,
                              quote(given[k - 1], q));
        }
        snprintf(where, sizeof(where), "scope token %zu", k + 1);
        int rc = check_token(tok, where, err);
        if (rc != MD_OK) return rc;
        if (i < text.n) copy[i] = '\0';
        given[k++] = tok;
        start = i + 1;
    }
    int rc = build_set(given, k, false, a, out, err);
    if (rc != MD_OK) memset(out, 0, sizeof(*out));
    return rc;
}

/* Validate and copy one string member; where = "scope[i]". */
static int take_string(const char *s, size_t len, const char *where, md_arena_t *a, md_str_t *out,
                       md_err_t *err)
{
    if (memchr(s, '\0', len) != NULL) return md_err_set(err, MD_EINVAL, "%s: contains U+0000", where);
    int rc = check_token((md_str_t){s, len}, where, err);
    if (rc != MD_OK) return rc;
    *out = md_arena_str(a, (md_str_t){s, len});
    if (out->p == NULL) return md_err_set(err, MD_ENOMEM, "out of memory");
    return MD_OK;
}

int md_scope_from_json(const json_t *arr, md_arena_t *a, md_scope_t *out, md_err_t *err)
{
    memset(out, 0, sizeof(*out));
    if (!json_is_array(arr)) return md_err_set(err, MD_EINVAL, "scope: must be an array of strings");
    size_t n = json_array_size(arr);
    if (n > MD_SCOPE_MAX) return md_err_set(err, MD_ELIMIT, "scope: more than %d scopes", MD_SCOPE_MAX);
    if (n == 0) return MD_OK;
    md_str_t *given = md_arena_alloc(a, n * sizeof(*given));
    if (given == NULL) return md_err_set(err, MD_ENOMEM, "out of memory");
    for (size_t i = 0; i < n; i++) {
        const json_t *v = json_array_get(arr, i);
        char where[32];
        snprintf(where, sizeof(where), "scope[%zu]", i);
        if (!json_is_string(v)) return md_err_set(err, MD_EINVAL, "%s: must be a string", where);
        int rc = take_string(json_string_value(v), json_string_length(v), where, a, &given[i], err);
        if (rc != MD_OK) return rc;
    }
    int rc = build_set(given, n, true, a, out, err);
    if (rc != MD_OK) memset(out, 0, sizeof(*out));
    return rc;
}

int md_scope_from_list(const char *const *items, size_t n, md_arena_t *a, md_scope_t *out, md_err_t *err)
{
    memset(out, 0, sizeof(*out));
    if (n > MD_SCOPE_MAX) return md_err_set(err, MD_ELIMIT, "scope: more than %d scopes", MD_SCOPE_MAX);
    if (n == 0) return MD_OK;
    if (items == NULL) return md_err_set(err, MD_EINVAL, "scope: missing");
    md_str_t *given = md_arena_alloc(a, n * sizeof(*given));
    if (given == NULL) return md_err_set(err, MD_ENOMEM, "out of memory");
    for (size_t i = 0; i < n; i++) {
        char where[32];
        snprintf(where, sizeof(where), "scope[%zu]", i);
        if (items[i] == NULL) return md_err_set(err, MD_EINVAL, "%s: missing", where);
        int rc = take_string(items[i], strlen(items[i]), where, a, &given[i], err);
        if (rc != MD_OK) return rc;
    }
    int rc = build_set(given, n, true, a, out, err);
    if (rc != MD_OK) memset(out, 0, sizeof(*out));
    return rc;
}

bool md_scope_contains(const md_scope_t *s, md_str_t tok)
{
    size_t lo = 0, hi = s->n;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        int c = md_str_cmp(s->tok[mid], tok);
        if (c == 0) return true;
        if (c < 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    return false;
}

bool md_scope_subset(const md_scope_t *sub, const md_scope_t *super)
{
    if (sub->n > super->n) return false;
    size_t j = 0;
    for (size_t i = 0; i < sub->n; i++) {
        int c = -1;
        while (j < super->n && (c = md_str_cmp(super->tok[j], sub->tok[i])) < 0)
            j++;
        if (j == super->n || c != 0) return false;
        j++;
    }
    return true;
}

bool md_scope_equal(const md_scope_t *x, const md_scope_t *y)
{
    if (x->n != y->n) return false;
    for (size_t i = 0; i < x->n; i++)
        if (!md_str_eq(x->tok[i], y->tok[i])) return false;
    return true;
}

int md_scope_intersect(const md_scope_t *x, const md_scope_t *y, md_arena_t *a, md_scope_t *out)
{
    memset(out, 0, sizeof(*out));
    size_t cap = x->n < y->n ? x->n : y->n;
    if (cap == 0) return MD_OK;
    md_str_t *tok = md_arena_alloc(a, cap * sizeof(*tok));
    if (tok == NULL) return MD_ENOMEM;
    size_t i = 0, j = 0, k = 0;
    while (i < x->n && j < y->n) {
        int c = md_str_cmp(x->tok[i], y->tok[j]);
        if (c == 0) {
            tok[k++] = x->tok[i];
            i++;
            j++;
        } else if (c < 0) {
            i++;
        } else {
            j++;
        }
    }
    out->tok = k ? tok : NULL;
    out->n = k;
    return MD_OK;
}

int md_scope_diff(const md_scope_t *req, const md_scope_t *ceiling, md_arena_t *a, md_scope_t *out)
{
    memset(out, 0, sizeof(*out));
    size_t k = 0;
    for (size_t i = 0; i < req->n; i++)
        if (!md_scope_contains(ceiling, req->tok[i])) k++;
    if (k == 0) return MD_OK;
    md_str_t *tok = md_arena_alloc(a, k * sizeof(*tok));
    md_str_t *given = md_arena_alloc(a, k * sizeof(*given));
    if (tok == NULL || given == NULL) return MD_ENOMEM;
    size_t t = 0, g = 0;
    for (size_t i = 0; i < req->n; i++) {
        if (!md_scope_contains(ceiling, req->tok[i])) tok[t++] = req->tok[i];
        md_str_t w = md_scope_given(req, i);
        if (!md_scope_contains(ceiling, w)) given[g++] = w;
    }
    out->tok = tok;
    out->given = given;
    out->n = k;
    return MD_OK;
}

int md_scope_check_within(const md_scope_t *req, const md_scope_t *ceiling, const char *ceiling_name,
                          md_err_t *err)
{
    size_t excess = 0;
    for (size_t i = 0; i < req->n; i++)
        if (!md_scope_contains(ceiling, req->tok[i])) excess++;
    if (excess == 0) return MD_OK;
    /* A sentence naming every excess token in request order, as long as it fits. */
    char list[360];
    size_t used = 0, shown = 0;
    for (size_t i = 0; i < req->n && shown < excess; i++) {
        md_str_t w = md_scope_given(req, i);
        if (md_scope_contains(ceiling, w)) continue;
        char q[64], item[80];
        const char *sep = shown == 0 ? "" : shown + 1 == excess ? " and " : ", ";
        int m = snprintf(item, sizeof(item), "%s\"%s\"", sep, quote(w, q));
        if (used + (size_t)m + 16 >= sizeof(list)) break;
        memcpy(list + used, item, (size_t)m);
        used += (size_t)m;
        shown++;
    }
    list[used] = '\0';
    const char *more = shown < excess ? ", ..." : "";
    return md_err_set(err, MD_SCOPE_EEXCEEDS, "scope %s%s %s %s", list, more,
                      excess == 1 ? "exceeds" : "exceed", ceiling_name ? ceiling_name : "the ceiling");
}

int md_scope_format(const md_scope_t *s, md_buf_t *out)
{
    for (size_t i = 0; i < s->n; i++) {
        if (i > 0) md_buf_addc(out, ' ');
        md_buf_add(out, s->tok[i].p, s->tok[i].n);
    }
    if (s->n == 0) md_buf_add(out, "", 0); /* a NUL-terminated "" even in a fresh buffer */
    return out->oom ? MD_ENOMEM : MD_OK;
}

json_t *md_scope_to_json(const md_scope_t *s)
{
    json_t *arr = json_array();
    for (size_t i = 0; arr != NULL && i < s->n; i++) {
        if (json_array_append_new(arr, json_stringn(s->tok[i].p, s->tok[i].n)) != 0) {
            json_decref(arr);
            return NULL;
        }
    }
    return arr;
}
