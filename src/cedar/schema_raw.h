/*
 * schema_raw.h: the unresolved schema both schema parsers produce, and the
 * resolver (schema.c) that turns it into an md_schema_t.  Internal to
 * schema.c, schema_cedar.c and schema_json.c.
 *
 * A raw schema is a list of namespaces holding entity types, common types and
 * actions exactly as written: type references are still the names from the
 * source ("User", "NS::User", "__cedar::String"), not yet qualified.  All of
 * it lives in a scratch arena that the parser frees after resolution.
 */
#ifndef MD_CEDAR_SCHEMA_RAW_H
#define MD_CEDAR_SCHEMA_RAW_H

#include "cedar/schema.h"

/* Nesting limit for Set/Record types, syntactic and after common-type inlining. */
#define MD_SCHEMA_MAX_DEPTH 64

/* Where a raw node came from: a line and column (text) or a JSON path. */
typedef struct md_sloc {
    uint32_t line, col; /* 1-based; 0 when unknown */
    const char *path;   /* JSON: "$.NS.entityTypes.User"; NULL for text */
} md_sloc_t;

typedef enum md_rty_kind {
    MD_RTY_BOOL = 1,
    MD_RTY_LONG,
    MD_RTY_STRING,
    MD_RTY_SET,
    MD_RTY_RECORD,
    MD_RTY_EXT,    /* JSON "Extension": name is the extension type */
    MD_RTY_ENTITY, /* JSON "Entity": must name an entity type */
    MD_RTY_REF,    /* a Cedar path, JSON "EntityOrCommon": common type first, then entity */
    MD_RTY_COMMON, /* JSON {"type": "T"}, Cedar `context: T`: must name a common type */
} md_rty_kind_t;

typedef struct md_rty md_rty_t;

typedef struct md_rattr {
    md_str_t name;
    md_rty_t *type;
    bool required;
    md_sloc_t loc;
} md_rattr_t;

struct md_rty {
    md_rty_kind_t kind;
    md_sloc_t loc;
    md_str_t name;     /* EXT, ENTITY, REF, COMMON: the name as written */
    md_rty_t *elem;    /* SET */
    md_rattr_t *attrs; /* RECORD: source order; a repeated name keeps the last */
    uint32_t nattrs;
    bool open; /* RECORD: additionalAttributes (rejected when resolving) */
};

/* A name as written, with its location. */
typedef struct md_rname {
    md_str_t name;
    md_sloc_t loc;
} md_rname_t;

/* An action reference: `type::"id"`, or just "id" meaning type `Action`. */
typedef struct md_raref {
    bool has_type;
    md_str_t type;
    md_str_t id;
    md_sloc_t loc;
} md_raref_t;

typedef struct md_rentity {
    md_str_t name; /* unqualified */
    md_sloc_t loc;
    md_rname_t *parents;
    uint32_t nparents, capparents;
    md_rty_t *shape; /* NULL: the empty record */
    md_rty_t *tags;  /* NULL: no tags */
    bool is_enum;
    md_str_t *enum_ids;
    uint32_t nenum, capenum;
} md_rentity_t;

typedef struct md_rcommon {
    md_str_t name; /* unqualified */
    md_sloc_t loc;
    md_rty_t *type;
} md_rcommon_t;

typedef struct md_raction {
    md_str_t id;
    md_sloc_t loc;
    md_raref_t *parents;
    uint32_t nparents, capparents;
    bool has_applies_to;
    md_rname_t *principals;
    uint32_t nprincipals, capprincipals;
    md_rname_t *resources;
    uint32_t nresources, capresources;
    md_rty_t *context; /* NULL: the empty record */
} md_raction_t;

typedef struct md_rns {
    md_str_t name; /* "" for the empty namespace, else "A::B" */
    md_sloc_t loc;
    md_rentity_t *entities;
    uint32_t nentities, capentities;
    md_rcommon_t *commons;
    uint32_t ncommons, capcommons;
    md_raction_t *actions;
    uint32_t nactions, capactions;
} md_rns_t;

typedef struct md_rschema {
    md_arena_t *scratch; /* owns every raw node */
    const char *src;     /* the name used in messages */
    md_rns_t *ns;
    uint32_t nns, capns;
} md_rschema_t;

/*
 * Append a zeroed element to a growable array in the arena; NULL on OOM or
 * when the count would pass UINT32_MAX.  `*arr` must have been created by
 * this function (or be NULL with *n == *cap == 0).
 */
void *md_schema_push(md_arena_t *a, void *arr_ptr, uint32_t *n, uint32_t *cap, size_t elem) MD_WUR;

/* Format "src:line:col: msg" or "src: $.path: msg" into err; returns code. */
int md_schema_errf(md_err_t *err, const char *src, const md_sloc_t *loc, int code, const char *fmt, ...)
    MD_PRINTF(5, 6);

/* s for a message: control characters become '?', long strings end in "..." (cap >= 8). */
const char *md_schema_show(char *buf, size_t cap, md_str_t s);

/* [_a-zA-Z][_a-zA-Z0-9]* */
bool md_schema_is_ident(md_str_t s);
/* One of Cedar's reserved identifiers: true false if then else in is like has. */
bool md_schema_is_reserved_word(md_str_t s);
/* A normalized name: identifiers joined by "::", none of them reserved words. */
bool md_schema_is_name(md_str_t s);

/* Resolve and check a raw schema; *out gets a new schema or stays NULL on error. */
int md_schema_resolve(const md_rschema_t *raw, md_schema_t **out, md_err_t *err) MD_WUR;

#endif
