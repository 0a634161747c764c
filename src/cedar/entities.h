/*
 * entities.h: the entity store, Cedar JSON values, and requests.
 *
 * An entity store is built once (from entity JSON, optionally with a schema)
 * and is read-only afterwards, so many threads may evaluate against it.  The
 * transitive closure of the parent relation is computed at load time; a
 * cycle is an error.  All memory belongs to the store's arena.
 *
 * JSON values follow cedar-docs _auth/entities-syntax.md: `__entity` and
 * `__extn` escapes; with a schema ("schema-based parsing") a value is read
 * as the declared type says (a string may become a decimal, ipaddr,
 * datetime or duration; a bare {"type","id"} an entity reference), and is
 * type-checked against it.
 */
#ifndef MD_CEDAR_ENTITIES_H
#define MD_CEDAR_ENTITIES_H

#include <jansson.h>

#include "cedar/schema.h"
#include "cedar/value.h"

typedef struct md_entity {
    const md_uid_t *uid;
    md_cv_t attrs; /* RECORD (possibly empty) */
    md_cv_t tags;  /* RECORD (possibly empty) */
    const md_uid_t **parents;
    uint32_t nparents;
    const md_uid_t **anc; /* transitive ancestors, sorted by (hash, uid) */
    uint32_t nanc;
} md_entity_t;

typedef struct md_entities {
    md_arena_t arena;  /* owns everything */
    md_entity_t *list; /* all entities */
    uint32_t n;
    uint32_t *slots; /* open addressing: index+1 into list, 0 = empty */
    uint32_t mask;
} md_entities_t;

/* Parse a Cedar entity JSON array.  schema may be NULL.  Errors name the
 * file and the JSON location ("name: entity 3 (User::\"alice\"): attribute `age`: ..."). */
int md_entities_parse_json(const char *text, size_t len, const char *name, const md_schema_t *schema,
                           md_entities_t **out, md_err_t *err) MD_WUR;
/* An empty store (for requests with no entities). */
md_entities_t *md_entities_new_empty(void);
void md_entities_free(md_entities_t *es);
const md_entity_t *md_entities_get(const md_entities_t *es, const md_uid_t *uid);
/* Cedar `in` between two entities: equal, or b is an ancestor of a. */
bool md_entities_in(const md_entities_t *es, const md_uid_t *a, const md_uid_t *b);
/* Bytes held, for memory reports. */
size_t md_entities_footprint(const md_entities_t *es);

/*
 * Convert a JSON value to a Cedar value in arena `a`.  `ty` is the expected
 * type from a schema, or NULL for schema-less parsing.  `path` names the
 * location for messages.  depth bounds recursion.
 */
int md_json_to_cv(const json_t *j, const md_ty_t *ty, md_arena_t *a, const char *path, int depth,
                  md_cv_t *out, md_err_t *err) MD_WUR;
/* An entity reference: {"type","id"} or {"__entity":{"type","id"}}. */
int md_json_to_uid(const json_t *j, md_arena_t *a, const char *path, const md_uid_t **out,
                   md_err_t *err) MD_WUR;

typedef struct md_request {
    const md_uid_t *principal;
    const md_uid_t *action;
    const md_uid_t *resource;
    md_cv_t context; /* RECORD */
} md_request_t;

/*
 * Build a request from a JSON object {"principal","action","resource","context"}.
 * With a schema, the context is parsed with the action's context type and,
 * when validate is true, the request is validated against the schema
 * (action declared, principal and resource types in appliesTo, context
 * conforming, enum entity ids valid).  Memory comes from arena `a`.
 */
int md_request_from_json(const json_t *j, const md_schema_t *schema, bool validate, md_arena_t *a,
                         md_request_t *out, md_err_t *err) MD_WUR;
/* The request validation step alone (for requests built in C). */
int md_request_validate(const md_request_t *r, const md_schema_t *schema, md_err_t *err) MD_WUR;

#endif
