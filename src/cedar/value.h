/*
 * value.h: Cedar runtime values and entity UIDs.
 *
 * A value is 24 bytes and never owns memory: strings, sets and records point
 * into an arena (the request arena during evaluation, the store arena for
 * entities and literals).  Sets are kept sorted by md_cv_cmp() and free of
 * duplicates; record fields are sorted by key.  So equality is structural and
 * set operations are merges.
 */
#ifndef MD_CEDAR_VALUE_H
#define MD_CEDAR_VALUE_H

#include "core/core.h"
#include "cedar/ext.h"

#define MD_CEDAR_MAX_DEPTH 200 /* nesting limit for parsing policies and JSON values */

typedef struct md_uid {
    md_str_t type; /* fully qualified entity type, e.g. "NS::User" */
    md_str_t id;   /* the entity id (any bytes) */
    uint64_t hash; /* md_uid_hash(type, id) */
} md_uid_t;

uint64_t md_uid_hash(md_str_t type, md_str_t id);
static inline bool md_uid_eq(const md_uid_t *a, const md_uid_t *b)
{
    return a == b || (a->hash == b->hash && md_str_eq(a->type, b->type) && md_str_eq(a->id, b->id));
}
int md_uid_cmp(const md_uid_t *a, const md_uid_t *b);
/* Is t a valid entity type name: Ident {"::" Ident}, no reserved word, no `__cedar`? */
bool md_type_name_valid(md_str_t t);
/* Allocate a uid in the arena (copies the bytes); NULL on OOM. */
md_uid_t *md_uid_new(md_arena_t *a, md_str_t type, md_str_t id);

typedef enum md_cv_kind {
    MD_CV_BOOL = 1,
    MD_CV_LONG,
    MD_CV_STRING,
    MD_CV_ENTITY,
    MD_CV_SET,
    MD_CV_RECORD,
    MD_CV_DECIMAL,
    MD_CV_IPADDR,
    MD_CV_DATETIME,
    MD_CV_DURATION,
} md_cv_kind_t;

typedef struct md_cv md_cv_t;
typedef struct md_cv_field md_cv_field_t;

struct md_cv {
    uint8_t kind; /* md_cv_kind_t; 0 means "no value" */
    union {
        bool b;
        int64_t i; /* LONG, DECIMAL (scaled 10^4), DATETIME, DURATION (ms) */
        md_str_t s;
        const md_uid_t *uid;
        struct {
            const md_cv_t *v; /* SET: sorted, unique */
            uint32_t n;
        } set;
        struct {
            const md_cv_field_t *f; /* RECORD: sorted by key, unique keys */
            uint32_t n;
        } rec;
        const md_ipaddr_t *ip;
    };
};

struct md_cv_field {
    md_str_t key;
    md_cv_t val;
};

static inline md_cv_t md_cv_bool(bool b)
{
    md_cv_t v = {.kind = MD_CV_BOOL};
    v.b = b;
    return v;
}
static inline md_cv_t md_cv_long(int64_t i)
{
    md_cv_t v = {.kind = MD_CV_LONG};
    v.i = i;
    return v;
}
static inline md_cv_t md_cv_string(md_str_t s)
{
    md_cv_t v = {.kind = MD_CV_STRING};
    v.s = s;
    return v;
}
static inline md_cv_t md_cv_entity(const md_uid_t *uid)
{
    md_cv_t v = {.kind = MD_CV_ENTITY};
    v.uid = uid;
    return v;
}

const char *md_cv_kind_name(int kind);
/* Total order over all values (kind first); 0 iff Cedar equality holds. */
int md_cv_cmp(const md_cv_t *a, const md_cv_t *b);
static inline bool md_cv_eq(const md_cv_t *a, const md_cv_t *b)
{
    return md_cv_cmp(a, b) == 0;
}
/* Sort and deduplicate n values in place; returns the new count. */
uint32_t md_cv_set_normalize(md_cv_t *v, uint32_t n);
/* Sort fields by key in place; returns MD_EINVAL if a key repeats. */
int md_cv_record_normalize(md_cv_field_t *f, uint32_t n) MD_WUR;
/* Field lookup in a record value; NULL when absent. */
const md_cv_t *md_cv_record_get(const md_cv_t *rec, md_str_t key);
/* Set membership by binary search. */
bool md_cv_set_contains(const md_cv_t *set, const md_cv_t *x);

/* Cedar JSON form of a value (as in entity files, with __entity/__extn). */
void md_cv_to_json(md_buf_t *b, const md_cv_t *v);
/* Cedar source form, for messages. */
void md_cv_to_cedar(md_buf_t *b, const md_cv_t *v);
void md_uid_to_cedar(md_buf_t *b, const md_uid_t *uid);

#endif
