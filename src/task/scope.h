/*
 * scope.h: OAuth scopes as sets: parsing, subset, intersection, difference,
 * formatting.  Used for mandates (the `scope` claim), delegation (a child's
 * scope must be a subset of its parent's) and ceilings (an agent's
 * registered `scope_ceiling`, identity/entry.h).
 *
 * The token rule is the one place the task module defines it, and it is the
 * registry's rule (identity/entry.c check_scope, which is static there):
 * RFC 6749 section 3.3 scope-token = 1*( %x21 / %x23-5B / %x5D-7E ), that is
 * printable ASCII except space, '"' and '\', 1..MD_SCOPE_TOKEN_MAX bytes; at
 * most MD_SCOPE_MAX tokens in a set.  scope.c asserts at compile time that
 * both limits equal the registry's (MD_ENTRY_SCOPE_MAX, MD_ENTRY_SCOPES_MAX)
 * and test_task_scope checks every byte against md_entry_validate(), so a
 * ceiling the registry accepts is always a scope this module accepts.
 *
 * Matching is exact, bytewise and case-sensitive (RFC 6749: scope strings are
 * case-sensitive).  There are NO wildcards and no hierarchy: "tickets:*" is
 * just a token that matches only "tickets:*", and "tickets" does not imply
 * "tickets:read".  Narrowing is therefore always a plain subset test that a
 * reviewer can check by eye; a pattern language would need its own
 * subset-of-patterns algebra to keep delegation attenuation-only.
 *
 * A set is kept sorted bytewise and unique, so equality is element-wise and
 * subset/intersection/difference are linear merges.  Tokens point into the
 * arena the set was built in and are NUL-terminated there (so they can be
 * passed as C strings).  Nothing here keeps state; everything is safe to call
 * from any thread on distinct arenas.
 *
 * Errors: MD_EINVAL for a malformed scope string or array (the message names
 * the offending token, quoted with non-printable bytes as '?' and cut at 48
 * bytes, and its 1-based position), MD_ELIMIT for more than MD_SCOPE_MAX
 * tokens or a token over MD_SCOPE_TOKEN_MAX bytes, MD_ENOMEM, and
 * MD_SCOPE_EEXCEEDS from md_scope_check_within().
 */
#ifndef MD_TASK_SCOPE_H
#define MD_TASK_SCOPE_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>

#include "core/core.h"

#define MD_SCOPE_TOKEN_MAX 128 /* bytes in one scope-token (= MD_ENTRY_SCOPE_MAX) */
#define MD_SCOPE_MAX 128       /* tokens in one set (= MD_ENTRY_SCOPES_MAX) */

/* Task module status codes (-250..-269; revoke.h has the others). */
enum {
    MD_SCOPE_EEXCEEDS = -250, /* a requested scope is not within the ceiling (OAuth "invalid_scope") */
};

/*
 * A set of scope tokens.
 *   tok:   sorted bytewise, unique; each tok[i].p is NUL-terminated
 *   given: the same tokens in the order they were written (md_scope_parse,
 *          md_scope_from_json, md_scope_from_list) or, for md_scope_diff,
 *          in the order of the request; NULL when that order is the sorted
 *          one (sets built by md_scope_intersect).  Use md_scope_given().
 * A zeroed md_scope_t is the empty set.  Both arrays are from the arena.
 */
typedef struct md_scope {
    const md_str_t *tok;   /* from arena */
    const md_str_t *given; /* from arena, or NULL */
    size_t n;
} md_scope_t;

/* The i-th token in written order (i < s->n). */
static inline md_str_t md_scope_given(const md_scope_t *s, size_t i)
{
    return s->given ? s->given[i] : s->tok[i];
}

/* Is tok a valid scope-token (the rule above)? */
bool md_scope_token_valid(md_str_t tok);

/*
 * Parse an OAuth `scope` value: scope-tokens separated by single spaces
 * (RFC 6749 section 3.3: scope = scope-token *( SP scope-token )).  Refused:
 * the empty string (the grammar needs one token: a request without scopes
 * omits the parameter), leading, trailing or doubled spaces, any other
 * whitespace, a byte outside the token rule, a duplicate token, more than
 * MD_SCOPE_MAX tokens.  On success *out is the set (given = written order);
 * on failure *out is zeroed and err says which token and why.
 */
int md_scope_parse(md_str_t text, md_arena_t *a, md_scope_t *out, md_err_t *err) MD_WUR;

/*
 * A JSON array of strings (the registry's `scope_ceiling` form, a `scope`
 * claim written as an array).  [] is the empty set.  Refused: not an array,
 * a member that is not a string or contains U+0000, the same rules per token
 * as md_scope_parse, duplicates.  Errors name the index: `scope[2]: ...`.
 */
int md_scope_from_json(const json_t *arr, md_arena_t *a, md_scope_t *out, md_err_t *err) MD_WUR;

/* From n C strings (e.g. md_entry_t.scopes), validated like md_scope_from_json. */
int md_scope_from_list(const char *const *items, size_t n, md_arena_t *a, md_scope_t *out,
                       md_err_t *err) MD_WUR;

/* Is tok in s?  O(log n). */
bool md_scope_contains(const md_scope_t *s, md_str_t tok);
/* Is every token of sub in super?  O(|sub| + |super|).  The empty set is a subset of everything. */
bool md_scope_subset(const md_scope_t *sub, const md_scope_t *super);
/* Same tokens? */
bool md_scope_equal(const md_scope_t *x, const md_scope_t *y);

/* x ∩ y into *out (tokens shared with x's storage; given = NULL).  MD_OK or MD_ENOMEM. */
int md_scope_intersect(const md_scope_t *x, const md_scope_t *y, md_arena_t *a, md_scope_t *out) MD_WUR;

/* req \ ceiling into *out: exactly the requested tokens the ceiling lacks,
 * out->given in req's written order.  MD_OK or MD_ENOMEM. */
int md_scope_diff(const md_scope_t *req, const md_scope_t *ceiling, md_arena_t *a, md_scope_t *out) MD_WUR;

/*
 * MD_OK when req ⊆ ceiling.  Otherwise MD_SCOPE_EEXCEEDS with err naming
 * every excess token in request order, e.g.
 *   scope "repo:write" and "admin" exceed the parent mandate's scope
 * where `ceiling_name` ("the parent mandate's scope", "the agent's
 * scope_ceiling") completes the sentence.  A long list is cut with ", ...".
 */
int md_scope_check_within(const md_scope_t *req, const md_scope_t *ceiling, const char *ceiling_name,
                          md_err_t *err) MD_WUR;

/* Append the set as an OAuth scope string (sorted, single spaces; "" for
 * the empty set, which md_scope_parse refuses: omit the claim instead).
 * Returns MD_OK or MD_ENOMEM (out->oom). */
int md_scope_format(const md_scope_t *s, md_buf_t *out) MD_WUR;

/* The set as a JSON array of strings, sorted (a new reference); NULL on OOM. */
json_t *md_scope_to_json(const md_scope_t *s);

#endif
