/*
 * entry.h: registration entries, the model of one agent identity and the
 * rules it must satisfy.  Storage is the store module's business; this is the
 * struct, its validation and its JSON form.
 *
 * JSON form (one object; members in any order; unknown members refused):
 *   "spiffe_id"     required  a SPIFFE ID (spiffe.h) naming a workload: its
 *                             path must not be empty
 *   "selectors"     required  array of selector strings (selector.h), at most
 *                             one of each type; may be empty (an entry with no
 *                             selectors is never matched by attestation, e.g. an
 *                             agent that proves itself by OIDC federation)
 *   "owner"         required  the person accountable, e.g. an email: 1..254
 *                             bytes, no control characters, no leading or
 *                             trailing space
 *   "env"           required  environment name: 1..63 bytes of [A-Za-z0-9._-]
 *   "labels"        optional  object of string values; keys 1..63 bytes of
 *                             [A-Za-z0-9._/-] starting with a letter or digit;
 *                             values 0..255 bytes without control characters;
 *                             at most 64 labels
 *   "scope_ceiling" required  array of scope strings (RFC 6749 scope-token:
 *                             1..128 bytes of %x21 / %x23-5B / %x5D-7E), no
 *                             duplicates, at most 128; the widest scope the
 *                             agent may ever hold; may be empty
 *   "svid_ttl"      optional  integer seconds, 1..3600 (default 300)
 *   "state"         optional  "active" (default) or "quarantined"
 *   "created_at"    optional  integer unix seconds, 0..253402300799 (0: unset)
 *   "updated_at"    optional  likewise, and not before created_at
 * Strings must not contain U+0000.  Errors name the member, e.g.
 * `selectors[1]: unknown selector type "k8s:ns"`.
 *
 * Canonical form: md_entry_to_json() writes every member; scope_ceiling and
 * labels sorted bytewise, selectors in the order given.
 */
#ifndef MD_IDENTITY_ENTRY_H
#define MD_IDENTITY_ENTRY_H

#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>

#include "core/core.h"
#include "identity/selector.h"
#include "identity/spiffe.h"

#define MD_ENTRY_TTL_DEFAULT 300
#define MD_ENTRY_TTL_MIN 1
#define MD_ENTRY_TTL_MAX 3600
#define MD_ENTRY_OWNER_MAX 254
#define MD_ENTRY_ENV_MAX 63
#define MD_ENTRY_LABELS_MAX 64
#define MD_ENTRY_LABEL_KEY_MAX 63
#define MD_ENTRY_LABEL_VALUE_MAX 255
#define MD_ENTRY_SCOPES_MAX 128
#define MD_ENTRY_SCOPE_MAX 128
#define MD_ENTRY_TIME_MAX INT64_C(253402300799) /* 9999-12-31T23:59:59Z */
#define MD_ENTRY_JSON_MAX (256 * 1024)          /* md_entry_parse() input limit */

typedef enum md_entry_state {
    MD_ENTRY_ACTIVE = 0,
    MD_ENTRY_QUARANTINED = 1,
} md_entry_state_t;

typedef struct md_label {
    const char *key;   /* NUL-terminated */
    const char *value; /* NUL-terminated */
} md_label_t;

/*
 * One registration entry.  Entries made by md_entry_parse()/_from_json()
 * point into the arena they were parsed into; entries built in code may point
 * anywhere that outlives them (check them with md_entry_validate()).
 */
typedef struct md_entry {
    const char *spiffe_id; /* NUL-terminated */
    md_spiffe_id_t id;     /* views into spiffe_id (set by the parser; md_entry_validate() refreshes it) */
    const md_selector_t *selectors;
    size_t n_selectors;
    const char *owner;
    const char *env;
    const md_label_t *labels; /* sorted by key, keys unique */
    size_t n_labels;
    const char *const *scopes; /* the scope ceiling: sorted, unique */
    size_t n_scopes;
    uint32_t svid_ttl; /* seconds */
    md_entry_state_t state;
    int64_t created_at; /* unix seconds; 0: unset */
    int64_t updated_at;
} md_entry_t;

/*
 * Parse a JSON document / object into *out (strings, arrays in arena `a`).
 * Returns MD_OK, MD_EINVAL (err names the member and the problem), MD_ELIMIT
 * (document over MD_ENTRY_JSON_MAX) or MD_ENOMEM.  On failure *out is zeroed.
 */
int md_entry_parse(const char *text, size_t len, md_arena_t *a, md_entry_t *out, md_err_t *err) MD_WUR;
int md_entry_from_json(const json_t *obj, md_arena_t *a, md_entry_t *out, md_err_t *err) MD_WUR;

/*
 * Check an entry built in code against every rule above (labels and scopes
 * must already be sorted and unique).  Also refreshes e->id.
 * Returns MD_OK or MD_EINVAL with err naming the field.
 */
int md_entry_validate(md_entry_t *e, md_err_t *err) MD_WUR;

/* The canonical JSON object (a new reference), or NULL on allocation failure. */
json_t *md_entry_to_json(const md_entry_t *e);

/* Is `scope` (exact bytes) in the entry's ceiling? */
bool md_entry_has_scope(const md_entry_t *e, const char *scope);

/* "active" / "quarantined"; "?" for anything else. */
const char *md_entry_state_name(md_entry_state_t s);
/* From its name; MD_OK or MD_EINVAL. */
int md_entry_state_parse(const char *name, md_entry_state_t *out) MD_WUR;

#endif
