/*
 * schema.h: Cedar schemas, parsed from the Cedar text format or the JSON
 * format into one resolved form.
 *
 * After parsing, every name is resolved and fully qualified: common types
 * are inlined (md_ty_t trees, shared where the same common type is used
 * twice), entity type references carry the entity type's full name
 * ("NS::User"), action references are full uids ("NS::Action"::"view").
 * All memory belongs to the schema's arena; md_schema_free() releases it.
 *
 * References: cedar-docs docs/collections/_schema/human-readable-schema.md,
 * human-readable-schema-grammar.md, json-schema.md, json-schema-grammar.md;
 * cedar-policy-core/src/validator/cedar_schema/ and json_schema.rs.
 */
#ifndef MD_CEDAR_SCHEMA_H
#define MD_CEDAR_SCHEMA_H

#include "core/core.h"
#include "cedar/value.h"

typedef enum md_ty_kind {
    MD_TY_BOOL = 1,
    MD_TY_LONG,
    MD_TY_STRING,
    MD_TY_SET,
    MD_TY_RECORD,
    MD_TY_ENTITY,
    MD_TY_DECIMAL,
    MD_TY_IPADDR,
    MD_TY_DATETIME,
    MD_TY_DURATION,
} md_ty_kind_t;

typedef struct md_ty md_ty_t;

typedef struct md_ty_attr {
    md_str_t name;
    const md_ty_t *type;
    bool required; /* false for `name?: T` / "required": false */
} md_ty_attr_t;

struct md_ty {
    md_ty_kind_t kind;
    const md_ty_t *elem;       /* SET: element type */
    const md_ty_attr_t *attrs; /* RECORD: sorted by name (md_str_cmp), unique */
    uint32_t nattrs;
    bool open;       /* RECORD: JSON "additionalAttributes": true */
    md_str_t entity; /* ENTITY: fully qualified entity type name */
};

typedef struct md_schema_etype {
    md_str_t name;             /* fully qualified, e.g. "NS::User" */
    const md_str_t *member_of; /* fully qualified parent type names */
    uint32_t nmember_of;
    const md_ty_t *shape; /* a RECORD; an empty record when the schema gives none */
    const md_ty_t *tags;  /* NULL when the type declares no tags */
    bool is_enum;         /* `entity E enum ["a","b"]` */
    const md_str_t *enum_ids;
    uint32_t nenum;
} md_schema_etype_t;

typedef struct md_schema_action {
    md_uid_t uid;              /* type "NS::Action" (or "Action"), id as declared */
    const md_uid_t *member_of; /* parent actions, fully qualified */
    uint32_t nmember_of;
    bool has_applies_to;        /* false: the action applies to no request at all */
    const md_str_t *principals; /* fully qualified principal type names */
    uint32_t nprincipals;
    const md_str_t *resources;
    uint32_t nresources;
    const md_ty_t *context; /* a RECORD; an empty record when not given */
} md_schema_action_t;

typedef struct md_schema {
    md_arena_t arena;          /* owns everything below */
    md_schema_etype_t *etypes; /* sorted by name */
    uint32_t netypes;
    md_schema_action_t *actions; /* sorted by (uid.type, uid.id) */
    uint32_t nactions;
} md_schema_t;

/*
 * Parse a schema in the Cedar text format.  `name` is used in messages
 * (a file name).  On error returns a negative code and sets err to
 * "name:line:col: message".  *out is owned by the caller.
 */
int md_schema_parse_cedar(const char *text, size_t len, const char *name, md_schema_t **out,
                          md_err_t *err) MD_WUR;
/* The same for the JSON format; errors name the JSON path ("name: $.NS.entityTypes.User: ..."). */
int md_schema_parse_json(const char *text, size_t len, const char *name, md_schema_t **out,
                         md_err_t *err) MD_WUR;
void md_schema_free(md_schema_t *s);

/* Lookups (binary search); NULL when absent. */
const md_schema_etype_t *md_schema_etype(const md_schema_t *s, md_str_t name);
const md_schema_action_t *md_schema_action(const md_schema_t *s, const md_uid_t *uid);
/* True when `name` is the type of some action ("Action" or "NS::Action" with actions declared). */
bool md_schema_is_action_type(const md_schema_t *s, md_str_t name);

/* Write the type in Cedar schema syntax (for messages). */
void md_ty_to_cedar(md_buf_t *b, const md_ty_t *t);

#endif
