/*
 * schema.c: the resolved schema (lookups, freeing, printing types) and the
 * resolver shared by the two schema formats.
 *
 * The resolver takes the raw namespaces a parser produced (schema_raw.h) and
 * follows cedar-policy-core/src/validator/schema.rs, schema/namespace_def.rs,
 * schema/raw_name.rs and json_schema.rs:
 *   - declarations are checked for reserved names and duplicates, then for
 *     RFC 70 shadowing of empty-namespace definitions;
 *   - a name written in namespace NS resolves to NS::name, then to name in the
 *     empty namespace; at each step a common type wins over an entity type;
 *   - __cedar::{Bool,Long,String,ipaddr,decimal,datetime,duration} always
 *     exist, and the bare names alias them unless the empty namespace declares
 *     an entity or common type of that name;
 *   - each namespace with actions also declares the entity type NS::Action,
 *     usable in attribute types but not as a parent, principal or resource;
 *   - common types are resolved in dependency order and inlined (each once,
 *     so a common type used twice is one shared md_ty_t); cycles among them
 *     are errors, and so are types nested deeper than MD_SCHEMA_MAX_DEPTH
 *     after inlining;
 *   - action parents must be declared actions and the action hierarchy must be
 *     acyclic; entity types may form cycles (Cedar allows it).
 * Scratch data lives in the raw schema's arena; the result in its own arena.
 */
#include "cedar/schema_raw.h"

#include <stdio.h>
#include <stdlib.h>

/* Nested on-demand common-type expansions.  resolve_commons() resolves common
 * types in dependency order, so expansion never nests in practice; this only
 * bounds the recursion should that invariant ever break. */
#define MD_SCHEMA_MAX_HOPS 512

/* ---- small helpers shared with the parsers ---- */

void *md_schema_push(md_arena_t *a, void *arr_ptr, uint32_t *n, uint32_t *cap, size_t elem)
{
    void **arr = arr_ptr;
    if (*n == *cap) {
        if (*cap > UINT32_MAX / 2) return NULL;
        uint32_t ncap = *cap ? *cap * 2 : 4;
        if ((size_t)ncap > SIZE_MAX / elem) return NULL;
        char *p = md_arena_alloc(a, (size_t)ncap * elem);
        if (p == NULL) return NULL;
        if (*n) memcpy(p, *arr, (size_t)*n * elem);
        *arr = p;
        *cap = ncap;
    }
    char *slot = (char *)*arr + (size_t)*n * elem;
    memset(slot, 0, elem);
    (*n)++;
    return slot;
}

int md_schema_errf(md_err_t *err, const char *src, const md_sloc_t *loc, int code, const char *fmt, ...)
{
    char msg[400];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    if (src == NULL) src = "schema";
    if (loc != NULL && loc->path != NULL) return md_err_set(err, code, "%s: %s: %s", src, loc->path, msg);
    if (loc != NULL && loc->line != 0)
        return md_err_set(err, code, "%s:%u:%u: %s", src, (unsigned)loc->line, (unsigned)loc->col, msg);
    return md_err_set(err, code, "%s: %s", src, msg);
}

bool md_schema_is_ident(md_str_t s)
{
    if (s.n == 0) return false;
    for (size_t i = 0; i < s.n; i++) {
        unsigned char c = (unsigned char)s.p[i];
        bool alpha = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_';
        if (!alpha && !(i > 0 && c >= '0' && c <= '9')) return false;
    }
    return true;
}

bool md_schema_is_reserved_word(md_str_t s)
{
    static const char *const words[] = {"true", "false", "if", "then", "else", "in", "is", "like", "has"};
    for (size_t i = 0; i < sizeof(words) / sizeof(words[0]); i++)
        if (md_str_eqc(s, words[i])) return true;
    return false;
}

bool md_schema_is_name(md_str_t s)
{
    size_t start = 0;
    for (size_t i = 0; i <= s.n; i++) {
        if (i == s.n || (s.p[i] == ':' && i + 1 < s.n && s.p[i + 1] == ':')) {
            md_str_t part = {s.p + start, i - start};
            if (!md_schema_is_ident(part) || md_schema_is_reserved_word(part)) return false;
            start = i + 2;
            i++;
        }
    }
    return true;
}

/* ---- a fixed-size open-addressing table keyed by one or two strings ---- */

typedef struct tab_ent {
    md_str_t k1, k2;
    uint64_t h;
    void *v; /* NULL: empty slot */
} tab_ent_t;

typedef struct tab {
    tab_ent_t *e;
    size_t mask;
} tab_t;

static uint64_t tab_hash(md_str_t k1, md_str_t k2)
{
    return md_hash_bytes(k1.p, k1.n, 0x9e3779b97f4a7c15ULL) ^ (md_hash_bytes(k2.p, k2.n, 7) * 31);
}

static int tab_init(tab_t *t, md_arena_t *a, size_t expected)
{
    size_t cap = 16;
    while (cap < expected * 2 + 16) {
        if (cap > SIZE_MAX / 2 / sizeof(tab_ent_t)) return MD_ENOMEM;
        cap *= 2;
    }
    t->e = md_arena_zalloc(a, cap * sizeof(tab_ent_t));
    if (t->e == NULL) return MD_ENOMEM;
    t->mask = cap - 1;
    return MD_OK;
}

static void *tab_get(const tab_t *t, md_str_t k1, md_str_t k2)
{
    uint64_t h = tab_hash(k1, k2);
    for (size_t i = h & t->mask;; i = (i + 1) & t->mask) {
        const tab_ent_t *e = &t->e[i];
        if (e->v == NULL) return NULL;
        if (e->h == h && md_str_eq(e->k1, k1) && md_str_eq(e->k2, k2)) return e->v;
    }
}

/* Insert; returns the existing value instead when the key is present.  The
 * table is sized for every insertion up front, so it never fills. */
static void *tab_put(tab_t *t, md_str_t k1, md_str_t k2, void *v)
{
    uint64_t h = tab_hash(k1, k2);
    for (size_t i = h & t->mask;; i = (i + 1) & t->mask) {
        tab_ent_t *e = &t->e[i];
        if (e->v == NULL) {
            e->k1 = k1;
            e->k2 = k2;
            e->h = h;
            e->v = v;
            return NULL;
        }
        if (e->h == h && md_str_eq(e->k1, k1) && md_str_eq(e->k2, k2)) return e->v;
    }
}

/* ---- resolver state ---- */

typedef struct ent_info {
    md_str_t out_name;      /* fully qualified, in the schema arena */
    const md_rentity_t *re; /* NULL: the implicit NS::Action type */
    const md_ty_t *node;    /* ENTITY node for references, built once */
} ent_info_t;

enum { CT_NEW, CT_BUSY, CT_DONE };

typedef struct ct_info {
    md_str_t full;
    const md_rcommon_t *rc; /* NULL: builtin */
    uint32_t ns;
    uint8_t state;
    uint32_t height; /* Set/Record levels of ty */
    const md_ty_t *ty;
    /* dependency graph among user common types, for the topological order */
    struct ct_info **deps; /* common types this one's definition names */
    uint32_t ndeps, capdeps;
    struct ct_info **users; /* the reverse edges */
    uint32_t nusers, capusers;
    uint32_t pending; /* deps not yet resolved */
} ct_info_t;

typedef struct act_info {
    md_uid_t uid; /* in the schema arena */
    const md_raction_t *ra;
    uint32_t ns;
    struct act_info **par; /* resolved parents, for the cycle check */
    uint32_t npar;
    uint8_t color;
} act_info_t;

typedef struct rctx {
    const md_rschema_t *raw;
    md_arena_t *tmp;
    md_arena_t *out; /* the schema arena */
    md_err_t *err;
    tab_t ents, cts, acts;
    md_str_t *action_type; /* per namespace: "NS::Action" */
    const md_ty_t *leaf[MD_TY_DURATION + 1];
    const md_ty_t *empty_rec;
    uint32_t hops;
    md_buf_t buf;
} rctx_t;

enum { REF_COMMON = 1, REF_ENTITY = 2, REF_ANY = 3 };

static int oom(rctx_t *c)
{
    return md_schema_errf(c->err, c->raw->src, NULL, MD_ENOMEM, "out of memory");
}

static bool has_colons(md_str_t s)
{
    for (size_t i = 0; i + 1 < s.n; i++)
        if (s.p[i] == ':' && s.p[i + 1] == ':') return true;
    return false;
}

/* "ns::base", or base itself in the empty namespace; in arena a. */
static md_str_t qualify(md_arena_t *a, md_str_t ns, md_str_t base)
{
    if (ns.n == 0) return md_arena_str(a, base);
    md_str_t r = {NULL, 0};
    if (ns.n > SIZE_MAX / 2 - base.n) return r;
    char *p = md_arena_alloc(a, ns.n + base.n + 3);
    if (p == NULL) return r;
    memcpy(p, ns.p, ns.n);
    memcpy(p + ns.n, "::", 2);
    if (base.n) memcpy(p + ns.n + 2, base.p, base.n);
    p[ns.n + 2 + base.n] = '\0';
    r.p = p;
    r.n = ns.n + 2 + base.n;
    return r;
}

const char *md_schema_show(char *buf, size_t cap, md_str_t s)
{
    size_t j = 0, i = 0;
    for (; i < s.n && j + 4 < cap; i++) {
        unsigned char ch = (unsigned char)s.p[i];
        buf[j++] = (ch < 0x20 || ch == 0x7f) ? '?' : (char)ch;
    }
    if (i < s.n) {
        while (j > 0 && ((unsigned char)buf[j - 1] & 0xc0) == 0x80)
            j--; /* whole characters only */
        if (j > 0 && (unsigned char)buf[j - 1] >= 0xc0) j--;
        memcpy(buf + j, "...", 3);
        j += 3;
    }
    buf[j] = '\0';
    return buf;
}

static bool any_part_is(md_str_t name, const char *word)
{
    size_t start = 0;
    for (size_t i = 0; i <= name.n; i++) {
        if (i == name.n || (name.p[i] == ':' && i + 1 < name.n && name.p[i + 1] == ':')) {
            md_str_t part = {name.p + start, i - start};
            if (md_str_eqc(part, word)) return true;
            start = i + 2;
            i++;
        }
    }
    return false;
}

static bool is_reserved_common_name(md_str_t s)
{
    static const char *const words[] = {"Bool", "Boolean", "Entity", "Extension",
                                        "Long", "Record",  "Set",    "String"};
    for (size_t i = 0; i < sizeof(words) / sizeof(words[0]); i++)
        if (md_str_eqc(s, words[i])) return true;
    return false;
}

static const md_ty_t *new_ty(rctx_t *c, md_ty_kind_t kind)
{
    md_ty_t *t = md_arena_zalloc(c->out, sizeof(*t));
    if (t) t->kind = kind;
    return t;
}

/*
 * Find what `name`, written in namespace ns, refers to: NS::name then name
 * (only name when it is qualified or ns is the empty namespace); at each step
 * a common type before an entity type.  Returns REF_COMMON or REF_ENTITY, or
 * 0 when nothing matches, or a negative code.
 */
static int lookup(rctx_t *c, uint32_t ns, md_str_t name, int want, ct_info_t **ct, ent_info_t **et)
{
    md_str_t nsn = c->raw->ns[ns].name;
    bool two = !has_colons(name) && nsn.n > 0;
    for (int step = 0; step < (two ? 2 : 1); step++) {
        md_str_t cand = name;
        if (two && step == 0) {
            md_buf_reset(&c->buf);
            md_buf_add(&c->buf, nsn.p, nsn.n);
            md_buf_add(&c->buf, "::", 2);
            md_buf_add(&c->buf, name.p, name.n);
            if (c->buf.oom) return oom(c);
            cand = (md_str_t){c->buf.p, c->buf.n};
        }
        if (want & REF_COMMON) {
            *ct = tab_get(&c->cts, cand, MD_STR_NULL);
            if (*ct) return REF_COMMON;
        }
        if (want & REF_ENTITY) {
            *et = tab_get(&c->ents, cand, MD_STR_NULL);
            if (*et) return REF_ENTITY;
        }
    }
    return 0;
}

static int conv(rctx_t *c, uint32_t ns, const md_rty_t *rt, uint32_t depth, const md_ty_t **out,
                uint32_t *height);

static int too_deep(rctx_t *c, const md_sloc_t *loc)
{
    return md_schema_errf(c->err, c->raw->src, loc, MD_ELIMIT, "type is nested more than %d levels deep",
                          MD_SCHEMA_MAX_DEPTH);
}

/* The inlined type of a common type (resolving it first if it is not yet). */
static int use_common(rctx_t *c, ct_info_t *ct, uint32_t depth, const md_sloc_t *loc, const md_ty_t **out,
                      uint32_t *height)
{
    char nb[128];
    if (ct->state == CT_BUSY)
        return md_schema_errf(c->err, c->raw->src, &ct->rc->loc, MD_EINVAL,
                              "cycle in common type references containing `%s`",
                              md_schema_show(nb, sizeof(nb), ct->full));
    if (ct->state == CT_NEW) {
        if (c->hops >= MD_SCHEMA_MAX_HOPS)
            return md_schema_errf(c->err, c->raw->src, loc, MD_ELIMIT,
                                  "common type references are nested more than %d deep", MD_SCHEMA_MAX_HOPS);
        c->hops++;
        ct->state = CT_BUSY;
        int rc = conv(c, ct->ns, ct->rc->type, depth, &ct->ty, &ct->height);
        c->hops--;
        if (rc != MD_OK) return rc;
        ct->state = CT_DONE;
    }
    if (depth + ct->height > MD_SCHEMA_MAX_DEPTH) return too_deep(c, loc);
    *out = ct->ty;
    *height = ct->height;
    return MD_OK;
}

static const md_ty_t *entity_node(rctx_t *c, ent_info_t *et)
{
    if (et->node == NULL) {
        md_ty_t *t = md_arena_zalloc(c->out, sizeof(*t));
        if (t == NULL) return NULL;
        t->kind = MD_TY_ENTITY;
        t->entity = et->out_name;
        et->node = t;
    }
    return et->node;
}

typedef struct attr_ref {
    md_str_t name;
    uint32_t idx;
} attr_ref_t;

static int attr_ref_cmp(const void *a, const void *b)
{
    const attr_ref_t *x = a, *y = b;
    int r = md_str_cmp(x->name, y->name);
    if (r != 0) return r;
    return x->idx < y->idx ? -1 : x->idx > y->idx;
}

/* The attributes of a raw record that count, as indices sorted by name: a
 * repeated name keeps its last declaration (the Cedar text format collects
 * attributes into a map, dropping the others before they are resolved). */
static int live_attrs(rctx_t *c, const md_rty_t *rt, uint32_t **out, uint32_t *m)
{
    uint32_t n = rt->nattrs;
    *out = NULL;
    *m = 0;
    if (n == 0) return MD_OK;
    attr_ref_t *refs = md_arena_alloc(c->tmp, (size_t)n * sizeof(*refs));
    uint32_t *idx = md_arena_alloc(c->tmp, (size_t)n * sizeof(*idx));
    if (refs == NULL || idx == NULL) return oom(c);
    for (uint32_t i = 0; i < n; i++)
        refs[i] = (attr_ref_t){rt->attrs[i].name, i};
    qsort(refs, n, sizeof(*refs), attr_ref_cmp);
    for (uint32_t i = 0; i < n; i++)
        if (i + 1 == n || !md_str_eq(refs[i].name, refs[i + 1].name)) idx[(*m)++] = refs[i].idx;
    *out = idx;
    return MD_OK;
}

static int conv_record(rctx_t *c, uint32_t ns, const md_rty_t *rt, uint32_t depth, const md_ty_t **out,
                       uint32_t *height)
{
    uint32_t *idx, m, h = 0;
    int rc = live_attrs(c, rt, &idx, &m);
    if (rc != MD_OK) return rc;
    md_ty_attr_t *attrs = NULL;
    if (m > 0 && (attrs = md_arena_zalloc(c->out, (size_t)m * sizeof(*attrs))) == NULL) return oom(c);
    for (uint32_t i = 0; i < m; i++) {
        const md_rattr_t *ra = &rt->attrs[idx[i]];
        uint32_t ah = 0;
        if ((rc = conv(c, ns, ra->type, depth + 1, &attrs[i].type, &ah)) != MD_OK) return rc;
        attrs[i].name = md_arena_str(c->out, ra->name);
        if (attrs[i].name.p == NULL) return oom(c);
        attrs[i].required = ra->required;
        if (ah > h) h = ah;
    }
    md_ty_t *t = md_arena_zalloc(c->out, sizeof(*t));
    if (t == NULL) return oom(c);
    t->kind = MD_TY_RECORD;
    t->attrs = attrs;
    t->nattrs = m;
    *out = t;
    *height = h + 1;
    return MD_OK;
}

static int ext_kind(md_str_t name)
{
    if (md_str_eqc(name, "ipaddr")) return MD_TY_IPADDR;
    if (md_str_eqc(name, "decimal")) return MD_TY_DECIMAL;
    if (md_str_eqc(name, "datetime")) return MD_TY_DATETIME;
    if (md_str_eqc(name, "duration")) return MD_TY_DURATION;
    return 0;
}

static int conv(rctx_t *c, uint32_t ns, const md_rty_t *rt, uint32_t depth, const md_ty_t **out,
                uint32_t *height)
{
    char nb[128];
    *height = 0;
    switch (rt->kind) {
    case MD_RTY_BOOL: *out = c->leaf[MD_TY_BOOL]; return MD_OK;
    case MD_RTY_LONG: *out = c->leaf[MD_TY_LONG]; return MD_OK;
    case MD_RTY_STRING: *out = c->leaf[MD_TY_STRING]; return MD_OK;
    case MD_RTY_SET: {
        if (depth >= MD_SCHEMA_MAX_DEPTH) return too_deep(c, &rt->loc);
        const md_ty_t *elem;
        uint32_t eh;
        int rc = conv(c, ns, rt->elem, depth + 1, &elem, &eh);
        if (rc != MD_OK) return rc;
        md_ty_t *t = md_arena_zalloc(c->out, sizeof(*t));
        if (t == NULL) return oom(c);
        t->kind = MD_TY_SET;
        t->elem = elem;
        *out = t;
        *height = eh + 1;
        return MD_OK;
    }
    case MD_RTY_RECORD:
        if (rt->open)
            return md_schema_errf(c->err, c->raw->src, &rt->loc, MD_EINVAL,
                                  "unsupported feature: records with `additionalAttributes` are "
                                  "experimental (partial-validate)");
        if (depth >= MD_SCHEMA_MAX_DEPTH) return too_deep(c, &rt->loc);
        return conv_record(c, ns, rt, depth, out, height);
    case MD_RTY_EXT: {
        int k = ext_kind(rt->name);
        if (k == 0)
            return md_schema_errf(c->err, c->raw->src, &rt->loc, MD_EINVAL, "unknown extension type `%s`",
                                  md_schema_show(nb, sizeof(nb), rt->name));
        *out = c->leaf[k];
        return MD_OK;
    }
    case MD_RTY_ENTITY:
    case MD_RTY_REF:
    case MD_RTY_COMMON: {
        int want = rt->kind == MD_RTY_ENTITY ? REF_ENTITY : rt->kind == MD_RTY_COMMON ? REF_COMMON : REF_ANY;
        ct_info_t *ct = NULL;
        ent_info_t *et = NULL;
        int r = lookup(c, ns, rt->name, want, &ct, &et);
        if (r < 0) return r;
        if (r == REF_COMMON) return use_common(c, ct, depth, &rt->loc, out, height);
        if (r == REF_ENTITY) {
            *out = entity_node(c, et);
            return *out ? MD_OK : oom(c);
        }
        return md_schema_errf(c->err, c->raw->src, &rt->loc, MD_EINVAL, "undeclared %s `%s`",
                              want == REF_ENTITY   ? "entity type"
                              : want == REF_COMMON ? "common type"
                                                   : "common or entity type",
                              md_schema_show(nb, sizeof(nb), rt->name));
    }
    }
    return md_schema_errf(c->err, c->raw->src, &rt->loc, MD_EINVAL, "bad type");
}

/* An entity type named in memberOf / principal / resource: must be declared by
 * the schema (the implicit NS::Action types do not count). */
static int resolve_etype(rctx_t *c, uint32_t ns, const md_rname_t *rn, md_str_t *out)
{
    char nb[128];
    ct_info_t *ct = NULL;
    ent_info_t *et = NULL;
    int r = lookup(c, ns, rn->name, REF_ENTITY, &ct, &et);
    if (r < 0) return r;
    if (r == 0)
        return md_schema_errf(c->err, c->raw->src, &rn->loc, MD_EINVAL, "undeclared entity type `%s`",
                              md_schema_show(nb, sizeof(nb), rn->name));
    if (et->re == NULL)
        return md_schema_errf(c->err, c->raw->src, &rn->loc, MD_EINVAL, "undeclared entity type `%s`",
                              md_schema_show(nb, sizeof(nb), et->out_name));
    *out = et->out_name;
    return MD_OK;
}

static int str_cmp_p(const void *a, const void *b)
{
    return md_str_cmp(*(const md_str_t *)a, *(const md_str_t *)b);
}

static uint32_t sort_unique_strs(md_str_t *v, uint32_t n)
{
    if (n < 2) return n;
    qsort(v, n, sizeof(*v), str_cmp_p);
    uint32_t m = 1;
    for (uint32_t i = 1; i < n; i++)
        if (!md_str_eq(v[i], v[m - 1])) v[m++] = v[i];
    return m;
}

static int uid_cmp_p(const void *a, const void *b)
{
    const md_uid_t *x = a, *y = b;
    int r = md_str_cmp(x->type, y->type);
    return r != 0 ? r : md_str_cmp(x->id, y->id);
}

static int etype_cmp_p(const void *a, const void *b)
{
    return md_str_cmp(((const md_schema_etype_t *)a)->name, ((const md_schema_etype_t *)b)->name);
}

static int action_cmp_p(const void *a, const void *b)
{
    return uid_cmp_p(&((const md_schema_action_t *)a)->uid, &((const md_schema_action_t *)b)->uid);
}

/* Resolve a list of entity type names into a sorted, duplicate-free array. */
static int resolve_etype_list(rctx_t *c, uint32_t ns, const md_rname_t *names, uint32_t n,
                              const md_str_t **out, uint32_t *nout)
{
    *out = NULL;
    *nout = 0;
    if (n == 0) return MD_OK;
    md_str_t *v = md_arena_alloc(c->out, (size_t)n * sizeof(*v));
    if (v == NULL) return oom(c);
    for (uint32_t i = 0; i < n; i++) {
        int rc = resolve_etype(c, ns, &names[i], &v[i]);
        if (rc != MD_OK) return rc;
    }
    *out = v;
    *nout = sort_unique_strs(v, n);
    return MD_OK;
}

/* ---- the passes ---- */

static int check_namespaces(rctx_t *c)
{
    const md_rschema_t *raw = c->raw;
    char nb[128];
    tab_t seen;
    if (tab_init(&seen, c->tmp, raw->nns) != MD_OK) return oom(c);
    for (uint32_t i = 0; i < raw->nns; i++) {
        const md_rns_t *ns = &raw->ns[i];
        if (ns->name.n > 0 && any_part_is(ns->name, "__cedar"))
            return md_schema_errf(c->err, raw->src, &ns->loc, MD_EINVAL,
                                  "namespace `%s` uses the reserved `__cedar` namespace",
                                  md_schema_show(nb, sizeof(nb), ns->name));
        if (tab_put(&seen, ns->name, MD_STR_NULL, (void *)ns) != NULL)
            return md_schema_errf(c->err, raw->src, &ns->loc, MD_EINVAL, "duplicate namespace `%s`",
                                  md_schema_show(nb, sizeof(nb), ns->name));
    }
    return MD_OK;
}

/* Enter every declaration into the tables, rejecting reserved names and duplicates. */
static int declare(rctx_t *c)
{
    const md_rschema_t *raw = c->raw;
    char nb[128];
    for (uint32_t i = 0; i < raw->nns; i++) {
        const md_rns_t *ns = &raw->ns[i];
        for (uint32_t j = 0; j < ns->nentities; j++) {
            const md_rentity_t *re = &ns->entities[j];
            if (md_str_eqc(re->name, "__cedar"))
                return md_schema_errf(c->err, raw->src, &re->loc, MD_EINVAL,
                                      "`__cedar` is reserved and cannot name an entity type");
            if (md_str_eqc(re->name, "Action"))
                return md_schema_errf(c->err, raw->src, &re->loc, MD_EINVAL,
                                      "entity type `Action` cannot be declared: it is the type of actions");
            ent_info_t *et = md_arena_zalloc(c->tmp, sizeof(*et));
            if (et == NULL) return oom(c);
            et->re = re;
            et->out_name = qualify(c->out, ns->name, re->name);
            if (et->out_name.p == NULL) return oom(c);
            if (tab_put(&c->ents, et->out_name, MD_STR_NULL, et) != NULL)
                return md_schema_errf(c->err, raw->src, &re->loc, MD_EINVAL,
                                      "entity type `%s` is declared twice",
                                      md_schema_show(nb, sizeof(nb), et->out_name));
        }
        for (uint32_t j = 0; j < ns->ncommons; j++) {
            const md_rcommon_t *rc = &ns->commons[j];
            if (md_str_eqc(rc->name, "__cedar"))
                return md_schema_errf(c->err, raw->src, &rc->loc, MD_EINVAL,
                                      "`__cedar` is reserved and cannot name a common type");
            if (is_reserved_common_name(rc->name))
                return md_schema_errf(c->err, raw->src, &rc->loc, MD_EINVAL,
                                      "`%s` is a reserved schema keyword and cannot name a common type",
                                      md_schema_show(nb, sizeof(nb), rc->name));
            ct_info_t *ct = md_arena_zalloc(c->tmp, sizeof(*ct));
            if (ct == NULL) return oom(c);
            ct->rc = rc;
            ct->ns = i;
            ct->full = qualify(c->tmp, ns->name, rc->name);
            if (ct->full.p == NULL) return oom(c);
            if (tab_put(&c->cts, ct->full, MD_STR_NULL, ct) != NULL)
                return md_schema_errf(c->err, raw->src, &rc->loc, MD_EINVAL,
                                      "common type `%s` is declared twice",
                                      md_schema_show(nb, sizeof(nb), ct->full));
        }
        if (ns->nactions > 0) {
            c->action_type[i] = qualify(c->out, ns->name, MD_STR("Action"));
            if (c->action_type[i].p == NULL) return oom(c);
        }
        for (uint32_t j = 0; j < ns->nactions; j++) {
            const md_raction_t *ra = &ns->actions[j];
            act_info_t *ai = md_arena_zalloc(c->tmp, sizeof(*ai));
            if (ai == NULL) return oom(c);
            ai->ra = ra;
            ai->ns = i;
            ai->uid.type = c->action_type[i];
            ai->uid.id = md_arena_str(c->out, ra->id);
            if (ai->uid.id.p == NULL) return oom(c);
            ai->uid.hash = md_uid_hash(ai->uid.type, ai->uid.id);
            if (tab_put(&c->acts, ai->uid.type, ai->uid.id, ai) != NULL)
                return md_schema_errf(c->err, raw->src, &ra->loc, MD_EINVAL, "action `%s` is declared twice",
                                      md_schema_show(nb, sizeof(nb), ra->id));
        }
    }
    return MD_OK;
}

/* RFC 70: nothing in a named namespace may share its basename with an entity
 * or common type of the empty namespace, and likewise for action ids. */
static int check_shadowing(rctx_t *c)
{
    const md_rschema_t *raw = c->raw;
    char nb[128], nb2[128];
    const md_rns_t *empty = NULL;
    for (uint32_t i = 0; i < raw->nns; i++)
        if (raw->ns[i].name.n == 0) empty = &raw->ns[i];
    if (empty == NULL) return MD_OK;
    for (uint32_t i = 0; i < raw->nns; i++) {
        const md_rns_t *ns = &raw->ns[i];
        if (ns == empty) continue;
        for (uint32_t k = 0; k < ns->nentities + ns->ncommons; k++) {
            md_str_t base = k < ns->nentities ? ns->entities[k].name : ns->commons[k - ns->nentities].name;
            const md_sloc_t *loc =
                k < ns->nentities ? &ns->entities[k].loc : &ns->commons[k - ns->nentities].loc;
            ent_info_t *et = tab_get(&c->ents, base, MD_STR_NULL);
            ct_info_t *ct = tab_get(&c->cts, base, MD_STR_NULL);
            if ((et && et->re) || (ct && ct->rc))
                return md_schema_errf(
                    c->err, raw->src, loc, MD_EINVAL,
                    "definition of `%s::%s` illegally shadows the existing definition of `%s`",
                    md_schema_show(nb, sizeof(nb), ns->name), md_schema_show(nb2, sizeof(nb2), base),
                    md_schema_show(nb2, sizeof(nb2), base));
        }
        for (uint32_t k = 0; k < ns->nactions; k++) {
            const md_raction_t *ra = &ns->actions[k];
            if (tab_get(&c->acts, MD_STR("Action"), ra->id) != NULL)
                return md_schema_errf(c->err, raw->src, &ra->loc, MD_EINVAL,
                                      "definition of `%s::Action::\"%s\"` illegally shadows the existing "
                                      "definition of `Action::\"%s\"`",
                                      md_schema_show(nb, sizeof(nb), ns->name),
                                      md_schema_show(nb2, sizeof(nb2), ra->id),
                                      md_schema_show(nb2, sizeof(nb2), ra->id));
        }
    }
    return MD_OK;
}

/* __cedar::T for every primitive and extension type, the bare aliases where the
 * empty namespace does not claim the name, and NS::Action entity types. */
static int declare_builtins(rctx_t *c)
{
    static const struct {
        const char *name;
        md_ty_kind_t kind;
    } builtins[] = {
        {"Bool", MD_TY_BOOL},         {"Long", MD_TY_LONG},       {"String", MD_TY_STRING},
        {"ipaddr", MD_TY_IPADDR},     {"decimal", MD_TY_DECIMAL}, {"datetime", MD_TY_DATETIME},
        {"duration", MD_TY_DURATION},
    };
    for (size_t i = 0; i < sizeof(builtins) / sizeof(builtins[0]); i++) {
        md_str_t base = md_str_c(builtins[i].name);
        bool claimed = tab_get(&c->ents, base, MD_STR_NULL) || tab_get(&c->cts, base, MD_STR_NULL);
        for (int alias = 0; alias < 2; alias++) {
            if (alias && claimed) continue;
            ct_info_t *ct = md_arena_zalloc(c->tmp, sizeof(*ct));
            if (ct == NULL) return oom(c);
            ct->full = alias ? base : qualify(c->tmp, MD_STR("__cedar"), base);
            if (ct->full.p == NULL) return oom(c);
            ct->state = CT_DONE;
            ct->ty = c->leaf[builtins[i].kind];
            (void)tab_put(&c->cts, ct->full, MD_STR_NULL, ct);
        }
    }
    for (uint32_t i = 0; i < c->raw->nns; i++) {
        if (c->action_type[i].p == NULL) continue;
        ent_info_t *et = md_arena_zalloc(c->tmp, sizeof(*et));
        if (et == NULL) return oom(c);
        et->out_name = c->action_type[i];
        (void)tab_put(&c->ents, et->out_name, MD_STR_NULL, et);
    }
    return MD_OK;
}

/* Record that the definition of `from` names the user common type `to`. */
static int add_dep(rctx_t *c, ct_info_t *from, ct_info_t *to)
{
    ct_info_t **d = md_schema_push(c->tmp, &from->deps, &from->ndeps, &from->capdeps, sizeof(*d));
    ct_info_t **u = md_schema_push(c->tmp, &to->users, &to->nusers, &to->capusers, sizeof(*u));
    if (d == NULL || u == NULL) return oom(c);
    *d = to;
    *u = from;
    return MD_OK;
}

/* The user common types a raw type names (unresolvable names are left for
 * conv() to report).  Recursion is bounded by the parsers' nesting limit. */
static int collect_deps(rctx_t *c, ct_info_t *from, const md_rty_t *rt)
{
    int rc;
    switch (rt->kind) {
    case MD_RTY_SET: return collect_deps(c, from, rt->elem);
    case MD_RTY_RECORD: {
        uint32_t *idx, m;
        if ((rc = live_attrs(c, rt, &idx, &m)) != MD_OK) return rc;
        for (uint32_t i = 0; i < m; i++)
            if ((rc = collect_deps(c, from, rt->attrs[idx[i]].type)) != MD_OK) return rc;
        return MD_OK;
    }
    case MD_RTY_REF:
    case MD_RTY_COMMON: {
        ct_info_t *ct = NULL;
        ent_info_t *et = NULL;
        int r = lookup(c, from->ns, rt->name, rt->kind == MD_RTY_REF ? REF_ANY : REF_COMMON, &ct, &et);
        if (r < 0) return r;
        if (r == REF_COMMON && ct->rc != NULL) return add_dep(c, from, ct);
        return MD_OK;
    }
    default: return MD_OK;
    }
}

/*
 * Resolve every user common type, dependencies first (Kahn's algorithm, as
 * CommonTypeResolver::topo_sort does), so that inlining never recurses
 * through a chain of common types.  What cannot be ordered lies on or behind
 * a cycle.
 */
static int resolve_commons(rctx_t *c)
{
    const md_rschema_t *raw = c->raw;
    uint32_t n = 0, head = 0, tail = 0;
    int rc;
    for (uint32_t i = 0; i < raw->nns; i++)
        n += raw->ns[i].ncommons;
    if (n == 0) return MD_OK;
    ct_info_t **all = md_arena_alloc(c->tmp, (size_t)n * sizeof(*all));
    ct_info_t **queue = md_arena_alloc(c->tmp, (size_t)n * sizeof(*queue));
    if (all == NULL || queue == NULL) return oom(c);
    n = 0;
    for (uint32_t i = 0; i < raw->nns; i++) {
        const md_rns_t *ns = &raw->ns[i];
        for (uint32_t j = 0; j < ns->ncommons; j++) {
            md_str_t full = qualify(c->tmp, ns->name, ns->commons[j].name);
            if (full.p == NULL) return oom(c);
            all[n++] = tab_get(&c->cts, full, MD_STR_NULL);
        }
    }
    for (uint32_t i = 0; i < n; i++)
        if ((rc = collect_deps(c, all[i], all[i]->rc->type)) != MD_OK) return rc;
    for (uint32_t i = 0; i < n; i++) {
        all[i]->pending = all[i]->ndeps;
        if (all[i]->pending == 0) queue[tail++] = all[i];
    }
    while (head < tail) {
        ct_info_t *ct = queue[head++];
        const md_ty_t *ty;
        uint32_t h;
        if ((rc = use_common(c, ct, 0, &ct->rc->loc, &ty, &h)) != MD_OK) return rc;
        for (uint32_t k = 0; k < ct->nusers; k++)
            if (--ct->users[k]->pending == 0) queue[tail++] = ct->users[k];
    }
    if (tail == n) return MD_OK;
    /* Walk unresolved dependencies until the walk must have entered a cycle. */
    ct_info_t *ct = NULL;
    for (uint32_t i = 0; i < n && ct == NULL; i++)
        if (all[i]->pending > 0) ct = all[i];
    for (uint32_t steps = 0; steps < n; steps++) {
        uint32_t k = 0;
        while (k < ct->ndeps && ct->deps[k]->pending == 0)
            k++;
        ct = ct->deps[k];
    }
    char nb[128];
    return md_schema_errf(c->err, raw->src, &ct->rc->loc, MD_EINVAL,
                          "cycle in common type references containing `%s`",
                          md_schema_show(nb, sizeof(nb), ct->full));
}

static int resolve_entities(rctx_t *c, md_schema_t *s)
{
    const md_rschema_t *raw = c->raw;
    char nb[128];
    uint32_t k = 0;
    for (uint32_t i = 0; i < raw->nns; i++) {
        const md_rns_t *ns = &raw->ns[i];
        for (uint32_t j = 0; j < ns->nentities; j++) {
            const md_rentity_t *re = &ns->entities[j];
            md_schema_etype_t *et = &s->etypes[k++];
            md_str_t full = qualify(c->tmp, ns->name, re->name);
            if (full.p == NULL) return oom(c);
            const ent_info_t *ei = tab_get(&c->ents, full, MD_STR_NULL);
            et->name = ei->out_name;
            int rc = resolve_etype_list(c, i, re->parents, re->nparents, &et->member_of, &et->nmember_of);
            if (rc != MD_OK) return rc;
            et->shape = c->empty_rec;
            if (re->shape != NULL) {
                uint32_t h;
                rc = conv(c, i, re->shape, 0, &et->shape, &h);
                if (rc != MD_OK) return rc;
                if (et->shape->kind != MD_TY_RECORD)
                    return md_schema_errf(c->err, raw->src, &re->shape->loc, MD_EINVAL,
                                          "the shape of entity type `%s` is not a record",
                                          md_schema_show(nb, sizeof(nb), et->name));
            }
            if (re->tags != NULL) {
                uint32_t h;
                rc = conv(c, i, re->tags, 0, &et->tags, &h);
                if (rc != MD_OK) return rc;
            }
            if (re->is_enum) {
                et->is_enum = true;
                md_str_t *ids = md_arena_alloc(c->out, (size_t)re->nenum * sizeof(*ids));
                if (ids == NULL && re->nenum > 0) return oom(c);
                for (uint32_t e = 0; e < re->nenum; e++) {
                    ids[e] = md_arena_str(c->out, re->enum_ids[e]);
                    if (ids[e].p == NULL) return oom(c);
                }
                et->enum_ids = ids;
                et->nenum = re->nenum;
            }
        }
    }
    s->netypes = k;
    return MD_OK;
}

static int resolve_action(rctx_t *c, act_info_t *ai, md_schema_action_t *a)
{
    const md_rschema_t *raw = c->raw;
    const md_raction_t *ra = ai->ra;
    md_str_t nsn = raw->ns[ai->ns].name;
    char nb[128], nb2[128];
    int rc;

    a->uid = ai->uid;
    if (ra->nparents > 0) {
        md_uid_t *mo = md_arena_alloc(c->out, (size_t)ra->nparents * sizeof(*mo));
        ai->par = md_arena_alloc(c->tmp, (size_t)ra->nparents * sizeof(*ai->par));
        if (mo == NULL || ai->par == NULL) return oom(c);
        for (uint32_t p = 0; p < ra->nparents; p++) {
            const md_raref_t *ref = &ra->parents[p];
            md_str_t ty = ref->has_type ? ref->type : MD_STR("Action");
            bool two = !has_colons(ty) && nsn.n > 0;
            act_info_t *found = NULL;
            for (int step = 0; step < (two ? 2 : 1) && found == NULL; step++) {
                md_str_t cand = ty;
                if (two && step == 0) {
                    md_buf_reset(&c->buf);
                    md_buf_add(&c->buf, nsn.p, nsn.n);
                    md_buf_add(&c->buf, "::", 2);
                    md_buf_add(&c->buf, ty.p, ty.n);
                    if (c->buf.oom) return oom(c);
                    cand = (md_str_t){c->buf.p, c->buf.n};
                }
                found = tab_get(&c->acts, cand, ref->id);
            }
            if (found == NULL)
                return md_schema_errf(c->err, raw->src, &ref->loc, MD_EINVAL,
                                      "undeclared action `%s::\"%s\"`", md_schema_show(nb, sizeof(nb), ty),
                                      md_schema_show(nb2, sizeof(nb2), ref->id));
            ai->par[ai->npar++] = found;
            mo[p] = found->uid;
        }
        uint32_t n = ra->nparents, m = 1;
        qsort(mo, n, sizeof(*mo), uid_cmp_p);
        for (uint32_t i = 1; i < n; i++)
            if (uid_cmp_p(&mo[i], &mo[m - 1]) != 0) mo[m++] = mo[i];
        a->member_of = mo;
        a->nmember_of = m;
    }
    a->has_applies_to = ra->has_applies_to;
    rc = resolve_etype_list(c, ai->ns, ra->principals, ra->nprincipals, &a->principals, &a->nprincipals);
    if (rc != MD_OK) return rc;
    rc = resolve_etype_list(c, ai->ns, ra->resources, ra->nresources, &a->resources, &a->nresources);
    if (rc != MD_OK) return rc;
    a->context = c->empty_rec;
    if (ra->context != NULL) {
        uint32_t h;
        rc = conv(c, ai->ns, ra->context, 0, &a->context, &h);
        if (rc != MD_OK) return rc;
        if (a->context->kind != MD_TY_RECORD)
            return md_schema_errf(c->err, raw->src, &ra->context->loc, MD_EINVAL,
                                  "the context of action `%s::\"%s\"` is not a record",
                                  md_schema_show(nb, sizeof(nb), a->uid.type),
                                  md_schema_show(nb2, sizeof(nb2), a->uid.id));
    }
    return MD_OK;
}

/* Depth-first search over parent edges with an explicit stack. */
static int check_action_cycles(rctx_t *c, act_info_t **all, uint32_t n)
{
    char nb[128], nb2[128];
    if (n == 0) return MD_OK;
    struct frame {
        act_info_t *a;
        uint32_t next;
    } *stack = md_arena_alloc(c->tmp, (size_t)n * sizeof(*stack));
    if (stack == NULL) return oom(c);
    for (uint32_t i = 0; i < n; i++) {
        if (all[i]->color != 0) continue;
        uint32_t sp = 0;
        stack[sp++] = (struct frame){all[i], 0};
        all[i]->color = 1;
        while (sp > 0) {
            struct frame *f = &stack[sp - 1];
            if (f->next == f->a->npar) {
                f->a->color = 2;
                sp--;
                continue;
            }
            act_info_t *p = f->a->par[f->next++];
            if (p->color == 1)
                return md_schema_errf(c->err, c->raw->src, &p->ra->loc, MD_EINVAL,
                                      "cycle in action hierarchy containing `%s::\"%s\"`",
                                      md_schema_show(nb, sizeof(nb), p->uid.type),
                                      md_schema_show(nb2, sizeof(nb2), p->uid.id));
            if (p->color == 0) {
                p->color = 1;
                stack[sp++] = (struct frame){p, 0};
            }
        }
    }
    return MD_OK;
}

static int resolve_actions(rctx_t *c, md_schema_t *s)
{
    const md_rschema_t *raw = c->raw;
    uint32_t k = 0;
    act_info_t **all = md_arena_alloc(c->tmp, (size_t)(s->nactions ? s->nactions : 1) * sizeof(*all));
    if (all == NULL) return oom(c);
    for (uint32_t i = 0; i < raw->nns; i++) {
        const md_rns_t *ns = &raw->ns[i];
        for (uint32_t j = 0; j < ns->nactions; j++) {
            act_info_t *ai = tab_get(&c->acts, c->action_type[i], ns->actions[j].id);
            all[k] = ai;
            int rc = resolve_action(c, ai, &s->actions[k]);
            if (rc != MD_OK) return rc;
            k++;
        }
    }
    return check_action_cycles(c, all, k);
}

int md_schema_resolve(const md_rschema_t *raw, md_schema_t **out, md_err_t *err)
{
    int rc = MD_ENOMEM;
    md_schema_t *s = NULL;
    rctx_t c;
    memset(&c, 0, sizeof(c));
    md_buf_init(&c.buf);
    c.raw = raw;
    c.tmp = raw->scratch;
    c.err = err;
    *out = NULL;

    s = calloc(1, sizeof(*s));
    if (s == NULL) {
        rc = oom(&c);
        goto out;
    }
    md_arena_init(&s->arena, 0);
    c.out = &s->arena;

    size_t nents = 0, ncts = 0, nacts = 0;
    for (uint32_t i = 0; i < raw->nns; i++) {
        nents += raw->ns[i].nentities;
        ncts += raw->ns[i].ncommons;
        nacts += raw->ns[i].nactions;
    }
    if (nents > UINT32_MAX || nacts > UINT32_MAX) {
        rc = md_schema_errf(err, raw->src, NULL, MD_ELIMIT, "too many declarations");
        goto out;
    }
    c.action_type = md_arena_zalloc(c.tmp, (size_t)(raw->nns ? raw->nns : 1) * sizeof(md_str_t));
    if (c.action_type == NULL || tab_init(&c.ents, c.tmp, nents + raw->nns) != MD_OK ||
        tab_init(&c.cts, c.tmp, ncts + 14) != MD_OK || tab_init(&c.acts, c.tmp, nacts) != MD_OK) {
        rc = oom(&c);
        goto out;
    }
    for (int k = MD_TY_BOOL; k <= MD_TY_DURATION; k++) {
        if (k == MD_TY_SET || k == MD_TY_RECORD || k == MD_TY_ENTITY) continue;
        if ((c.leaf[k] = new_ty(&c, (md_ty_kind_t)k)) == NULL) {
            rc = oom(&c);
            goto out;
        }
    }
    if ((c.empty_rec = new_ty(&c, MD_TY_RECORD)) == NULL) {
        rc = oom(&c);
        goto out;
    }
    s->etypes = md_arena_zalloc(&s->arena, (nents ? nents : 1) * sizeof(*s->etypes));
    s->actions = md_arena_zalloc(&s->arena, (nacts ? nacts : 1) * sizeof(*s->actions));
    if (s->etypes == NULL || s->actions == NULL) {
        rc = oom(&c);
        goto out;
    }
    s->nactions = (uint32_t)nacts;

    if ((rc = check_namespaces(&c)) != MD_OK || (rc = declare(&c)) != MD_OK ||
        (rc = check_shadowing(&c)) != MD_OK || (rc = declare_builtins(&c)) != MD_OK ||
        (rc = resolve_commons(&c)) != MD_OK || (rc = resolve_entities(&c, s)) != MD_OK ||
        (rc = resolve_actions(&c, s)) != MD_OK)
        goto out;

    if (s->netypes > 1) qsort(s->etypes, s->netypes, sizeof(*s->etypes), etype_cmp_p);
    if (s->nactions > 1) qsort(s->actions, s->nactions, sizeof(*s->actions), action_cmp_p);
    *out = s;
    s = NULL;
    rc = MD_OK;
out:
    md_buf_free(&c.buf);
    md_schema_free(s);
    return rc;
}

/* ---- the public API ---- */

void md_schema_free(md_schema_t *s)
{
    if (s == NULL) return;
    md_arena_free(&s->arena);
    free(s);
}

const md_schema_etype_t *md_schema_etype(const md_schema_t *s, md_str_t name)
{
    uint32_t lo = 0, hi = s ? s->netypes : 0;
    while (lo < hi) {
        uint32_t mid = lo + (hi - lo) / 2;
        int r = md_str_cmp(s->etypes[mid].name, name);
        if (r == 0) return &s->etypes[mid];
        if (r < 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    return NULL;
}

const md_schema_action_t *md_schema_action(const md_schema_t *s, const md_uid_t *uid)
{
    uint32_t lo = 0, hi = s ? s->nactions : 0;
    while (lo < hi) {
        uint32_t mid = lo + (hi - lo) / 2;
        int r = uid_cmp_p(&s->actions[mid].uid, uid);
        if (r == 0) return &s->actions[mid];
        if (r < 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    return NULL;
}

bool md_schema_is_action_type(const md_schema_t *s, md_str_t name)
{
    uint32_t lo = 0, hi = s ? s->nactions : 0;
    while (lo < hi) {
        uint32_t mid = lo + (hi - lo) / 2;
        int r = md_str_cmp(s->actions[mid].uid.type, name);
        if (r == 0) return true;
        if (r < 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    return false;
}

/* Output budget per call: types are DAGs, so a tree walk can be exponential. */
#define MD_TY_PRINT_MAX 65536

static void ty_print(md_buf_t *b, const md_ty_t *t, size_t limit, int depth)
{
    if (b->n > limit || b->oom) return;
    if (t == NULL || depth > MD_SCHEMA_MAX_DEPTH + 1) {
        md_buf_adds(b, "?");
        return;
    }
    switch (t->kind) {
    case MD_TY_BOOL: md_buf_adds(b, "Bool"); break;
    case MD_TY_LONG: md_buf_adds(b, "Long"); break;
    case MD_TY_STRING: md_buf_adds(b, "String"); break;
    case MD_TY_DECIMAL: md_buf_adds(b, "decimal"); break;
    case MD_TY_IPADDR: md_buf_adds(b, "ipaddr"); break;
    case MD_TY_DATETIME: md_buf_adds(b, "datetime"); break;
    case MD_TY_DURATION: md_buf_adds(b, "duration"); break;
    case MD_TY_ENTITY: md_buf_add(b, t->entity.p, t->entity.n); break;
    case MD_TY_SET:
        md_buf_adds(b, "Set<");
        ty_print(b, t->elem, limit, depth + 1);
        md_buf_adds(b, ">");
        break;
    case MD_TY_RECORD:
        md_buf_adds(b, "{");
        for (uint32_t i = 0; i < t->nattrs && b->n <= limit; i++) {
            const md_ty_attr_t *a = &t->attrs[i];
            if (i > 0) md_buf_adds(b, ", ");
            if (md_schema_is_ident(a->name) && !md_schema_is_reserved_word(a->name))
                md_buf_add(b, a->name.p, a->name.n);
            else
                md_buf_add_json_str(b, a->name);
            md_buf_adds(b, a->required ? ": " : "?: ");
            ty_print(b, a->type, limit, depth + 1);
        }
        md_buf_adds(b, "}");
        break;
    default: md_buf_adds(b, "?"); break;
    }
}

void md_ty_to_cedar(md_buf_t *b, const md_ty_t *t)
{
    size_t limit = b->n + MD_TY_PRINT_MAX;
    ty_print(b, t, limit, 0);
    if (b->n > limit) md_buf_adds(b, "...");
}
