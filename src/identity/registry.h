/*
 * registry.h: the agent registry's rules on top of registration entries
 * (entry.h): what the admin API accepts when an entry is registered or
 * updated, the short ids the daemon assigns, the API's JSON form, and the
 * check that keeps two entries from claiming the same process.
 *
 * Pure: no I/O, no clock (times come in), randomness only in
 * md_registry_new_id().  Storage is the store's (md_store_agent_*), HTTP the
 * server's (src/server/agents.c).
 *
 * The API form of an agent is the entry's canonical JSON (md_entry_to_json)
 * with one more member first: "id", the short id ("ag_" and 16 lowercase hex
 * digits) assigned at registration and never changed.  An agent is named in
 * a URL by that id or by its SPIFFE ID (percent-encoded: the router decodes
 * one path segment, so every '/' must be sent as %2F).
 *
 * What the API adds to the entry's own rules:
 *   - the members the daemon owns ("id", "created_at", "updated_at") are
 *     refused in a request body;
 *   - every scope of "scope_ceiling" is 1..128 bytes of [a-z0-9_.:-]
 *     (stricter than the entry's RFC 6749 scope-token);
 *   - an update (PATCH) names only the members it changes, each replacing the
 *     old value whole; "spiffe_id" may be repeated but not changed (an
 *     identity is not renamed: register a new agent); an empty update is
 *     refused;
 *   - two entries whose selectors could both match one process are refused
 *     (md_registry_selectors_overlap): attestation must find exactly one.
 */
#ifndef MD_IDENTITY_REGISTRY_H
#define MD_IDENTITY_REGISTRY_H

#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>

#include "core/core.h"
#include "identity/entry.h"

#define MD_AGENT_ID_PREFIX "ag_"
#define MD_AGENT_ID_LEN 19 /* "ag_" + 16 hex digits */

/* A new random short id (NUL-terminated).  MD_OK or MD_EIO (no randomness). */
int md_registry_new_id(char out[MD_AGENT_ID_LEN + 1]) MD_WUR;
/* Is s a well-formed short id? */
bool md_registry_id_valid(const char *s);

typedef enum md_registry_key {
    MD_REGISTRY_KEY_BAD = 0,
    MD_REGISTRY_KEY_ID,     /* a short id */
    MD_REGISTRY_KEY_SPIFFE, /* a SPIFFE ID (starts with "spiffe://"; validity checked by the caller's lookup)
                             */
} md_registry_key_t;

/* How a URL names an agent: by short id, by SPIFFE ID, or neither. */
md_registry_key_t md_registry_key_kind(const char *key);

/*
 * A registration request body → a validated entry (strings in arena a) with
 * created_at = updated_at = now.  MD_OK, MD_EINVAL (err names the member),
 * MD_ENOMEM.
 */
int md_registry_parse_create(const json_t *body, int64_t now, md_arena_t *a, md_entry_t *out,
                             md_err_t *err) MD_WUR;

/*
 * An update body applied to the current entry (its canonical JSON, as stored)
 * → the validated new entry, with updated_at = now (never before
 * created_at).  MD_OK, MD_EINVAL, MD_ENOMEM.
 */
int md_registry_parse_update(const json_t *current, const json_t *patch, int64_t now, md_arena_t *a,
                             md_entry_t *out, md_err_t *err) MD_WUR;

/*
 * Could one process match both entries' selectors?  False when either entry
 * has no selectors (it never matches), or when some selector type appears in
 * both with different values (a process has one value of each type).
 * unix:user and unix:uid are not compared with each other (a name and a
 * number may be the same account), so such pairs count as overlapping.
 */
bool md_registry_selectors_overlap(const md_entry_t *a, const md_entry_t *b);

/* The API form {"id": ..., <entry members>}: a new reference, NULL on OOM. */
json_t *md_registry_agent_json(const char *id, const md_entry_t *e);

#endif
