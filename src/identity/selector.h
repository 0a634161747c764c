/*
 * selector.h: workload selectors, the facts a registration entry requires of
 * an attested process.  Text forms (exactly these; anything else is refused):
 *
 *   unix:uid:<n>          effective uid from SO_PEERCRED; decimal, no sign, no
 *                         leading zero, 0..4294967294
 *   unix:gid:<n>          effective (primary) gid from SO_PEERCRED; same syntax;
 *                         supplementary groups are not consulted
 *   unix:user:<name>      the name getpwuid_r() gives for the attested uid (the
 *                         uid is resolved to a name, never a name to a uid); a
 *                         uid without a passwd entry matches no user selector.
 *                         1..32 bytes of [A-Za-z0-9._-], optionally ending in
 *                         '$', not starting with '-' or '.', not all digits
 *                         (write unix:uid:<n> for a uid)
 *   unix:path:<path>      the executable's path as /proc/<pid>/exe reads:
 *                         absolute, canonical (no "//", ".", "..", trailing
 *                         '/'), no control characters, at most 4095 bytes, not
 *                         ending in " (deleted)"
 *   unix:sha256:<hex>     SHA-256 of the executable: 64 lowercase hex digits
 *
 * Every process has one value of each type, so a selector list holds at most
 * one selector of each type (see md_selectors_check()).  A list matches an
 * attestation when it is non-empty and every selector matches; an empty list
 * never matches.
 */
#ifndef MD_IDENTITY_SELECTOR_H
#define MD_IDENTITY_SELECTOR_H

#include <stdbool.h>
#include <stdint.h>

#include "core/core.h"

#define MD_SELECTOR_USER_MAX 32
#define MD_SELECTOR_PATH_MAX 4095
#define MD_SELECTOR_TEXT_MAX (16 + MD_SELECTOR_PATH_MAX) /* longest text form */

typedef enum md_selector_type {
    MD_SEL_UNIX_UID = 0,
    MD_SEL_UNIX_GID,
    MD_SEL_UNIX_USER,
    MD_SEL_UNIX_PATH,
    MD_SEL_UNIX_SHA256,
    MD_SEL_TYPE_COUNT
} md_selector_type_t;

typedef struct md_selector {
    md_selector_type_t type;
    uint32_t id;     /* uid or gid; 0 for the other types */
    const char *str; /* user name, path or hex digest, NUL-terminated (from arena); NULL for uid/gid */
    size_t len;      /* strlen(str) */
} md_selector_t;

struct md_attestation; /* attest.h */

/*
 * Parse and validate one selector's text form.  On success *out's strings
 * live in arena `a`.  Returns MD_OK, MD_EINVAL (err says what is wrong, naming
 * the selector type) or MD_ENOMEM.
 */
int md_selector_parse(md_str_t text, md_arena_t *a, md_selector_t *out, md_err_t *err) MD_WUR;

/* Validate a selector built in code (the same rules as md_selector_parse). */
int md_selector_check(const md_selector_t *s, md_err_t *err) MD_WUR;

/* Validate a list: each selector valid and at most one of each type. */
int md_selectors_check(const md_selector_t *s, size_t n, md_err_t *err) MD_WUR;

/* Append the canonical text form (what md_selector_parse accepts) to b. */
void md_selector_format(const md_selector_t *s, md_buf_t *b);

/* "unix:uid", "unix:gid", ...; "?" for an out-of-range value. */
const char *md_selector_type_name(md_selector_type_t t);

/* Does one selector hold for a successful attestation?  False when the
 * attestation is not a successful one (att->ok false). */
bool md_selector_match(const md_selector_t *s, const struct md_attestation *att);

/* All of s[0..n) match and n > 0. */
bool md_selectors_match(const md_selector_t *s, size_t n, const struct md_attestation *att);

#endif
