/*
 * schema_json.c: md_schema_parse_json, the Cedar JSON schema format read with
 * jansson into a raw schema for schema.c.
 *
 * The accepted shape follows the serde definitions in
 * cedar-policy-core/src/validator/json_schema.rs (and docs json-schema.md):
 *   { "NS": { "commonTypes"?: {T: Type+annotations}, "entityTypes": {E: ...},
 *             "actions": {a: ...}, "annotations"?: {...} }, ... }
 * Objects reject unknown keys (and, like serde, a struct may also be given as
 * an array of its fields in order); `entityTypes` and `actions` are required; an
 * entity type has memberOfTypes/shape/tags or else `enum` (non-empty), none of
 * them null; an action has appliesTo/memberOf (null means absent) and no
 * attributes; appliesTo needs principalTypes and resourceTypes (either may be
 * empty).  A type is {"type": "String"|"Long"|"Boolean"|"Set"(element)|
 * "Record"(attributes, additionalAttributes)|"Entity"(name)|
 * "EntityOrCommon"(name)|"Extension"(name)} or {"type": "<common type>"};
 * attribute types may add "required" and "annotations", common type
 * definitions "annotations".  Names must be normalized ("A::B", no spaces).
 * Duplicate keys are rejected by the JSON reader.  jansson cannot represent a
 * NUL byte inside an object key, so such keys are rejected too.
 */
#include "cedar/schema_raw.h"

#include <jansson.h>

#include "core/json.h"

typedef struct jctx {
    const char *src;
    md_err_t *err;
    md_arena_t *a;
    md_rschema_t *raw;
    md_buf_t path; /* "$.NS.entityTypes.User" for the value being read */
} jctx_t;

typedef enum tctx {
    TY_PLAIN,  /* shape, tags, element, context */
    TY_ATTR,   /* a record attribute: also "required" and "annotations" */
    TY_COMMON, /* a commonTypes entry: also "annotations" */
} tctx_t;

static int jerr(jctx_t *j, int code, const char *fmt, ...) MD_PRINTF(3, 4);

static int jerr(jctx_t *j, int code, const char *fmt, ...)
{
    char msg[400];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    md_sloc_t loc = {0, 0, j->path.oom || j->path.p == NULL ? "$" : j->path.p};
    return md_schema_errf(j->err, j->src, &loc, code, "%s", msg);
}

static int oom(jctx_t *j)
{
    return md_schema_errf(j->err, j->src, NULL, MD_ENOMEM, "out of memory");
}

/* Extend the path with a key; returns the old length for path_pop(). */
static size_t path_push(jctx_t *j, md_str_t key)
{
    size_t old = j->path.n;
    if (md_schema_is_ident(key)) {
        md_buf_addc(&j->path, '.');
        md_buf_add(&j->path, key.p, key.n);
    } else {
        md_buf_addc(&j->path, '[');
        md_buf_add_json_str(&j->path, key);
        md_buf_addc(&j->path, ']');
    }
    return old;
}

static size_t path_push_index(jctx_t *j, size_t i)
{
    size_t old = j->path.n;
    md_buf_printf(&j->path, "[%zu]", i);
    return old;
}

static void path_pop(jctx_t *j, size_t old)
{
    j->path.n = old;
    if (j->path.p) j->path.p[old] = '\0';
}

/* The current path as a location that outlives the buffer. */
static int here(jctx_t *j, md_sloc_t *loc)
{
    if (j->path.oom) return oom(j);
    char *p = md_arena_memdup(j->a, j->path.p, j->path.n);
    if (p == NULL) return oom(j);
    *loc = (md_sloc_t){0, 0, p};
    return MD_OK;
}

static const char *jtype_name(const json_t *v)
{
    switch (json_typeof(v)) {
    case JSON_OBJECT: return "an object";
    case JSON_ARRAY: return "an array";
    case JSON_STRING: return "a string";
    case JSON_INTEGER:
    case JSON_REAL: return "a number";
    case JSON_TRUE:
    case JSON_FALSE: return "a boolean";
    case JSON_NULL: return "null";
    }
    return "a value";
}

static int want(jctx_t *j, const json_t *v, json_type t, const char *what)
{
    if (v != NULL && json_typeof(v) == t) return MD_OK;
    return jerr(j, MD_EINVAL, "expected %s, found %s", what, v ? jtype_name(v) : "nothing");
}

/* Copy a JSON string into the arena. */
static int jstr(jctx_t *j, const json_t *v, md_str_t *out)
{
    int rc = want(j, v, JSON_STRING, "a string");
    if (rc != MD_OK) return rc;
    *out = md_arena_str(j->a, (md_str_t){json_string_value(v), json_string_length(v)});
    return out->p ? MD_OK : oom(j);
}

/* Keys may carry NUL characters (md_json_loadb's private encoding; core/json.h). */
static int jkey(jctx_t *j, const char *key, size_t klen, md_str_t *out)
{
    md_str_t k = md_json_key(key, klen, j->a);
    if (k.p == NULL) return oom(j);
    *out = md_arena_str(j->a, k);
    return out->p ? MD_OK : oom(j);
}

static int unknown_field(jctx_t *j, const char *key, size_t klen, const char *expected)
{
    char nb[64];
    return jerr(j, MD_EINVAL, "unknown field `%s`, expected %s",
                md_schema_show(nb, sizeof(nb), (md_str_t){key, klen}), expected);
}

/* A name string ("A::B") as a type or parent reference. */
static int jname(jctx_t *j, const json_t *v, md_str_t *out)
{
    int rc = jstr(j, v, out);
    if (rc != MD_OK) return rc;
    if (!md_schema_is_name(*out)) {
        char nb[64];
        return jerr(j, MD_EINVAL, "invalid name `%s`", md_schema_show(nb, sizeof(nb), *out));
    }
    return MD_OK;
}

/* {"id": AnyIdent: "text" or null}; checked and ignored. */
static int parse_annotations(jctx_t *j, const json_t *v, bool *nonempty)
{
    const char *key;
    size_t klen;
    json_t *val;
    int rc = want(j, v, JSON_OBJECT, "an object of annotations");
    if (rc != MD_OK) return rc;
    if (nonempty) *nonempty = json_object_size(v) > 0;
    json_object_keylen_foreach((json_t *)v, key, klen, val)
    {
        size_t old = path_push(j, (md_str_t){key, klen});
        if (!md_schema_is_ident((md_str_t){key, klen})) {
            char nb[64];
            return jerr(j, MD_EINVAL, "invalid annotation name `%s`",
                        md_schema_show(nb, sizeof(nb), (md_str_t){key, klen}));
        }
        if (!json_is_null(val) && (rc = want(j, val, JSON_STRING, "a string or null")) != MD_OK) return rc;
        path_pop(j, old);
    }
    return MD_OK;
}

static int parse_type(jctx_t *j, const json_t *v, uint32_t depth, tctx_t ctx, md_rty_t **out, bool *required);

static int too_deep(jctx_t *j)
{
    return jerr(j, MD_ELIMIT, "type is nested more than %d levels deep", MD_SCHEMA_MAX_DEPTH);
}

static int parse_attributes(jctx_t *j, const json_t *v, uint32_t depth, md_rty_t *rec)
{
    const char *key;
    size_t klen;
    json_t *val;
    uint32_t cap = 0;
    int rc = want(j, v, JSON_OBJECT, "an object of attributes");
    if (rc != MD_OK) return rc;
    json_object_keylen_foreach((json_t *)v, key, klen, val)
    {
        size_t old = path_push(j, (md_str_t){key, klen});
        md_rattr_t *at = md_schema_push(j->a, &rec->attrs, &rec->nattrs, &cap, sizeof(*at));
        if (at == NULL) return oom(j);
        if ((rc = jkey(j, key, klen, &at->name)) != MD_OK || (rc = here(j, &at->loc)) != MD_OK ||
            (rc = parse_type(j, val, depth + 1, TY_ATTR, &at->type, &at->required)) != MD_OK)
            return rc;
        path_pop(j, old);
    }
    return MD_OK;
}

static int parse_type(jctx_t *j, const json_t *v, uint32_t depth, tctx_t ctx, md_rty_t **out, bool *required)
{
    const json_t *type = NULL, *element = NULL, *attributes = NULL, *additional = NULL, *name = NULL;
    const char *key;
    size_t klen;
    json_t *val;
    int rc;

    if (required) *required = true;
    if (!json_is_object(v)) return want(j, v, JSON_OBJECT, "a type (an object with a \"type\" field)");
    json_object_keylen_foreach((json_t *)v, key, klen, val)
    {
        md_str_t k = {key, klen};
        if (md_str_eqc(k, "type"))
            type = val;
        else if (md_str_eqc(k, "element"))
            element = val;
        else if (md_str_eqc(k, "attributes"))
            attributes = val;
        else if (md_str_eqc(k, "additionalAttributes"))
            additional = val;
        else if (md_str_eqc(k, "name"))
            name = val;
        else if (ctx != TY_PLAIN && md_str_eqc(k, "annotations")) {
            size_t old = path_push(j, k);
            if ((rc = parse_annotations(j, val, NULL)) != MD_OK) return rc;
            path_pop(j, old);
        } else if (ctx == TY_ATTR && md_str_eqc(k, "required")) {
            size_t old = path_push(j, k);
            if (!json_is_boolean(val)) return want(j, val, JSON_TRUE, "a boolean");
            *required = json_is_true(val);
            path_pop(j, old);
        } else {
            return unknown_field(j, key, klen,
                                 "one of `type`, `element`, `attributes`, `additionalAttributes`, `name`");
        }
    }
    if (type == NULL) return jerr(j, MD_EINVAL, "missing field `type`");
    md_rty_t *t = md_arena_zalloc(j->a, sizeof(*t));
    if (t == NULL) return oom(j);
    *out = t;
    if ((rc = here(j, &t->loc)) != MD_OK) return rc;
    size_t old = path_push(j, MD_STR("type"));
    md_str_t tn;
    if ((rc = jstr(j, type, &tn)) != MD_OK) return rc;
    path_pop(j, old);

    bool is_set = md_str_eqc(tn, "Set"), is_rec = md_str_eqc(tn, "Record");
    bool is_named =
        md_str_eqc(tn, "Entity") || md_str_eqc(tn, "EntityOrCommon") || md_str_eqc(tn, "Extension");
    if (element && !is_set) return unknown_field(j, "element", 7, "other fields for this type");
    if ((attributes || additional) && !is_rec)
        return unknown_field(j, attributes ? "attributes" : "additionalAttributes", attributes ? 10 : 20,
                             "other fields for this type");
    if (name && !is_named) return unknown_field(j, "name", 4, "other fields for this type");

    if (md_str_eqc(tn, "String")) {
        t->kind = MD_RTY_STRING;
    } else if (md_str_eqc(tn, "Long")) {
        t->kind = MD_RTY_LONG;
    } else if (md_str_eqc(tn, "Boolean")) {
        t->kind = MD_RTY_BOOL;
    } else if (is_set) {
        if (element == NULL) return jerr(j, MD_EINVAL, "missing field `element`");
        if (depth >= MD_SCHEMA_MAX_DEPTH) return too_deep(j);
        t->kind = MD_RTY_SET;
        old = path_push(j, MD_STR("element"));
        if ((rc = parse_type(j, element, depth + 1, TY_PLAIN, &t->elem, NULL)) != MD_OK) return rc;
        path_pop(j, old);
    } else if (is_rec) {
        if (attributes == NULL) return jerr(j, MD_EINVAL, "missing field `attributes`");
        if (depth >= MD_SCHEMA_MAX_DEPTH) return too_deep(j);
        t->kind = MD_RTY_RECORD;
        if (additional != NULL) {
            old = path_push(j, MD_STR("additionalAttributes"));
            if (!json_is_boolean(additional)) return want(j, additional, JSON_TRUE, "a boolean");
            t->open = json_is_true(additional);
            path_pop(j, old);
        }
        old = path_push(j, MD_STR("attributes"));
        if ((rc = parse_attributes(j, attributes, depth, t)) != MD_OK) return rc;
        path_pop(j, old);
    } else if (is_named) {
        if (name == NULL) return jerr(j, MD_EINVAL, "missing field `name`");
        old = path_push(j, MD_STR("name"));
        if (md_str_eqc(tn, "Extension")) {
            t->kind = MD_RTY_EXT;
            if ((rc = jstr(j, name, &t->name)) != MD_OK) return rc;
            if (!md_schema_is_ident(t->name) || md_schema_is_reserved_word(t->name)) {
                char nb[64];
                return jerr(j, MD_EINVAL, "invalid extension type `%s`",
                            md_schema_show(nb, sizeof(nb), t->name));
            }
        } else {
            t->kind = md_str_eqc(tn, "Entity") ? MD_RTY_ENTITY : MD_RTY_REF;
            if ((rc = jname(j, name, &t->name)) != MD_OK) return rc;
        }
        path_pop(j, old);
    } else {
        t->kind = MD_RTY_COMMON;
        t->name = tn;
        if (!md_schema_is_name(tn)) {
            char nb[64];
            return jerr(j, MD_EINVAL, "invalid common type `%s`", md_schema_show(nb, sizeof(nb), tn));
        }
    }
    return MD_OK;
}

/* An identifier declared here: not a reserved word, not `__cedar`. */
static int decl_name(jctx_t *j, const char *key, size_t klen, const char *what, md_str_t *out)
{
    md_str_t k = {key, klen};
    if (!md_schema_is_ident(k) || md_schema_is_reserved_word(k) || md_str_eqc(k, "__cedar")) {
        char nb[64];
        return jerr(j, MD_EINVAL, "invalid %s name `%s`", what, md_schema_show(nb, sizeof(nb), k));
    }
    return jkey(j, key, klen, out);
}

static int parse_name_list(jctx_t *j, const json_t *v, md_rname_t **arr, uint32_t *n, uint32_t *cap)
{
    size_t i;
    json_t *el;
    int rc = want(j, v, JSON_ARRAY, "an array of type names");
    if (rc != MD_OK) return rc;
    json_array_foreach((json_t *)v, i, el)
    {
        size_t old = path_push_index(j, i);
        md_rname_t *rn = md_schema_push(j->a, arr, n, cap, sizeof(*rn));
        if (rn == NULL) return oom(j);
        if ((rc = here(j, &rn->loc)) != MD_OK || (rc = jname(j, el, &rn->name)) != MD_OK) return rc;
        path_pop(j, old);
    }
    return MD_OK;
}

/*
 * Read the fields of a serde struct: an object whose keys must be among
 * names[], or (as serde also accepts) an array giving the fields in order,
 * possibly leaving off trailing ones.  out[i] is NULL for an absent field.
 */
static int get_fields(jctx_t *j, const json_t *v, const char *const *names, size_t n, const json_t **out,
                      const char *what)
{
    for (size_t i = 0; i < n; i++)
        out[i] = NULL;
    if (json_is_array(v)) {
        if (json_array_size(v) > n)
            return jerr(j, MD_EINVAL, "invalid length %zu, expected %s with at most %zu elements",
                        json_array_size(v), what, n);
        for (size_t i = 0; i < json_array_size(v); i++)
            out[i] = json_array_get(v, i);
        return MD_OK;
    }
    if (!json_is_object(v)) return jerr(j, MD_EINVAL, "expected %s, found %s", what, jtype_name(v));
    const char *key;
    size_t klen;
    json_t *val;
    json_object_keylen_foreach((json_t *)v, key, klen, val)
    {
        size_t i = 0;
        while (i < n && !md_str_eqc((md_str_t){key, klen}, names[i]))
            i++;
        if (i == n) {
            md_buf_t b;
            md_buf_init(&b);
            for (size_t k = 0; k < n; k++)
                md_buf_printf(&b, "%s`%s`", k ? ", " : "", names[k]);
            int rc = unknown_field(j, key, klen, b.oom ? "another field" : b.p);
            md_buf_free(&b);
            return rc;
        }
        out[i] = val;
    }
    return MD_OK;
}

enum { ENT_MOT, ENT_SHAPE, ENT_TAGS, ENT_ENUM, ENT_ANNOT, ENT_N };

static int parse_entity(jctx_t *j, md_rentity_t *e, const json_t *v)
{
    static const char *const names[ENT_N] = {"memberOfTypes", "shape", "tags", "enum", "annotations"};
    const json_t *f[ENT_N];
    int rc = get_fields(j, v, names, ENT_N, f, "an entity type");
    if (rc != MD_OK) return rc;
    for (int i = 0; i < ENT_N; i++) {
        if (f[i] == NULL) continue;
        size_t old = path_push(j, md_str_c(names[i]));
        switch (i) {
        case ENT_MOT: rc = parse_name_list(j, f[i], &e->parents, &e->nparents, &e->capparents); break;
        case ENT_SHAPE: rc = parse_type(j, f[i], 0, TY_PLAIN, &e->shape, NULL); break;
        case ENT_TAGS: rc = parse_type(j, f[i], 0, TY_PLAIN, &e->tags, NULL); break;
        case ENT_ANNOT: rc = parse_annotations(j, f[i], NULL); break;
        case ENT_ENUM: {
            size_t k;
            json_t *el;
            if ((rc = want(j, f[i], JSON_ARRAY, "a non-empty array of strings")) != MD_OK) return rc;
            if (json_array_size(f[i]) == 0) return jerr(j, MD_EINVAL, "`enum` must not be empty");
            json_array_foreach((json_t *)f[i], k, el)
            {
                md_str_t *id = md_schema_push(j->a, &e->enum_ids, &e->nenum, &e->capenum, sizeof(*id));
                if (id == NULL) return oom(j);
                size_t o2 = path_push_index(j, k);
                if ((rc = jstr(j, el, id)) != MD_OK) return rc;
                path_pop(j, o2);
            }
            break;
        }
        }
        if (rc != MD_OK) return rc;
        path_pop(j, old);
    }
    if (f[ENT_ENUM] != NULL) {
        if (f[ENT_MOT] || f[ENT_SHAPE] || f[ENT_TAGS])
            return jerr(j, MD_EINVAL, "unexpected field in an enumerated entity type: %s",
                        f[ENT_MOT]     ? "memberOfTypes"
                        : f[ENT_SHAPE] ? "shape"
                                       : "tags");
        e->is_enum = true;
    }
    return MD_OK;
}

enum { APP_RES, APP_PRIN, APP_CTX, APP_N };

static int parse_applies_to(jctx_t *j, md_raction_t *a, const json_t *v)
{
    static const char *const names[APP_N] = {"resourceTypes", "principalTypes", "context"};
    const json_t *f[APP_N];
    int rc = get_fields(j, v, names, APP_N, f, "appliesTo");
    if (rc != MD_OK) return rc;
    a->has_applies_to = true;
    if (f[APP_RES] == NULL) return jerr(j, MD_EINVAL, "missing field `resourceTypes`");
    if (f[APP_PRIN] == NULL) return jerr(j, MD_EINVAL, "missing field `principalTypes`");
    size_t old = path_push(j, MD_STR("resourceTypes"));
    if ((rc = parse_name_list(j, f[APP_RES], &a->resources, &a->nresources, &a->capresources)) != MD_OK)
        return rc;
    path_pop(j, old);
    old = path_push(j, MD_STR("principalTypes"));
    if ((rc = parse_name_list(j, f[APP_PRIN], &a->principals, &a->nprincipals, &a->capprincipals)) != MD_OK)
        return rc;
    path_pop(j, old);
    if (f[APP_CTX] != NULL) {
        old = path_push(j, MD_STR("context"));
        if ((rc = parse_type(j, f[APP_CTX], 0, TY_PLAIN, &a->context, NULL)) != MD_OK) return rc;
        path_pop(j, old);
    }
    return MD_OK;
}

static int parse_member_of(jctx_t *j, md_raction_t *a, const json_t *v)
{
    static const char *const names[2] = {"id", "type"};
    size_t i;
    json_t *el;
    int rc = want(j, v, JSON_ARRAY, "an array of action references");
    if (rc != MD_OK) return rc;
    json_array_foreach((json_t *)v, i, el)
    {
        const json_t *f[2];
        size_t old = path_push_index(j, i);
        md_raref_t *ref = md_schema_push(j->a, &a->parents, &a->nparents, &a->capparents, sizeof(*ref));
        if (ref == NULL) return oom(j);
        if ((rc = here(j, &ref->loc)) != MD_OK ||
            (rc = get_fields(j, el, names, 2, f, "an action reference")) != MD_OK)
            return rc;
        if (f[0] == NULL) return jerr(j, MD_EINVAL, "missing field `id`");
        size_t o2 = path_push(j, MD_STR("id"));
        if ((rc = jstr(j, f[0], &ref->id)) != MD_OK) return rc;
        path_pop(j, o2);
        if (f[1] != NULL && !json_is_null(f[1])) {
            o2 = path_push(j, MD_STR("type"));
            ref->has_type = true;
            if ((rc = jname(j, f[1], &ref->type)) != MD_OK) return rc;
            path_pop(j, o2);
        }
        path_pop(j, old);
    }
    return MD_OK;
}

enum { ACT_ATTRS, ACT_APPLIES, ACT_MEMBER, ACT_ANNOT, ACT_N };

static int parse_action(jctx_t *j, md_raction_t *a, const json_t *v)
{
    static const char *const names[ACT_N] = {"attributes", "appliesTo", "memberOf", "annotations"};
    const json_t *f[ACT_N];
    int rc = get_fields(j, v, names, ACT_N, f, "an action");
    if (rc != MD_OK) return rc;
    for (int i = 0; i < ACT_N; i++) {
        if (f[i] == NULL || (i != ACT_ANNOT && json_is_null(f[i]))) continue; /* null: absent */
        size_t old = path_push(j, md_str_c(names[i]));
        switch (i) {
        case ACT_ATTRS:
            if (json_is_object(f[i]))
                return jerr(j, MD_EINVAL, "unsupported feature: action declared with attributes");
            return want(j, f[i], JSON_OBJECT, "an object");
        case ACT_APPLIES: rc = parse_applies_to(j, a, f[i]); break;
        case ACT_MEMBER: rc = parse_member_of(j, a, f[i]); break;
        case ACT_ANNOT: rc = parse_annotations(j, f[i], NULL); break;
        }
        if (rc != MD_OK) return rc;
        path_pop(j, old);
    }
    return MD_OK;
}

enum { NS_COMMON, NS_ENTITIES, NS_ACTIONS, NS_ANNOT, NS_N };

static int parse_namespace(jctx_t *j, const char *nskey, size_t nslen, const json_t *v)
{
    static const char *const names[NS_N] = {"commonTypes", "entityTypes", "actions", "annotations"};
    const json_t *f[NS_N];
    const char *key;
    size_t klen;
    json_t *val;
    int rc;

    md_rns_t *ns = md_schema_push(j->a, &j->raw->ns, &j->raw->nns, &j->raw->capns, sizeof(*ns));
    if (ns == NULL) return oom(j);
    if ((rc = here(j, &ns->loc)) != MD_OK || (rc = jkey(j, nskey, nslen, &ns->name)) != MD_OK) return rc;
    if (nslen > 0 && !md_schema_is_name(ns->name)) {
        char nb[64];
        return jerr(j, MD_EINVAL, "invalid namespace `%s`", md_schema_show(nb, sizeof(nb), ns->name));
    }
    if ((rc = get_fields(j, v, names, NS_N, f, "a namespace")) != MD_OK) return rc;
    if (f[NS_ENTITIES] == NULL) return jerr(j, MD_EINVAL, "missing field `entityTypes`");
    if (f[NS_ACTIONS] == NULL) return jerr(j, MD_EINVAL, "missing field `actions`");
    if (f[NS_ANNOT] != NULL) {
        bool nonempty = false;
        size_t old = path_push(j, MD_STR("annotations"));
        if ((rc = parse_annotations(j, f[NS_ANNOT], &nonempty)) != MD_OK) return rc;
        if (nonempty && nslen == 0)
            return jerr(j, MD_EINVAL, "annotations are not allowed on the empty namespace");
        path_pop(j, old);
    }
    if (f[NS_COMMON] != NULL) {
        size_t old = path_push(j, MD_STR("commonTypes"));
        if ((rc = want(j, f[NS_COMMON], JSON_OBJECT, "an object of common types")) != MD_OK) return rc;
        json_object_keylen_foreach((json_t *)f[NS_COMMON], key, klen, val)
        {
            size_t o2 = path_push(j, (md_str_t){key, klen});
            md_rcommon_t *c = md_schema_push(j->a, &ns->commons, &ns->ncommons, &ns->capcommons, sizeof(*c));
            if (c == NULL) return oom(j);
            if ((rc = decl_name(j, key, klen, "common type", &c->name)) != MD_OK ||
                (rc = here(j, &c->loc)) != MD_OK ||
                (rc = parse_type(j, val, 0, TY_COMMON, &c->type, NULL)) != MD_OK)
                return rc;
            path_pop(j, o2);
        }
        path_pop(j, old);
    }
    size_t old = path_push(j, MD_STR("entityTypes"));
    if ((rc = want(j, f[NS_ENTITIES], JSON_OBJECT, "an object of entity types")) != MD_OK) return rc;
    json_object_keylen_foreach((json_t *)f[NS_ENTITIES], key, klen, val)
    {
        size_t o2 = path_push(j, (md_str_t){key, klen});
        md_rentity_t *e = md_schema_push(j->a, &ns->entities, &ns->nentities, &ns->capentities, sizeof(*e));
        if (e == NULL) return oom(j);
        if ((rc = decl_name(j, key, klen, "entity type", &e->name)) != MD_OK ||
            (rc = here(j, &e->loc)) != MD_OK || (rc = parse_entity(j, e, val)) != MD_OK)
            return rc;
        path_pop(j, o2);
    }
    path_pop(j, old);
    old = path_push(j, MD_STR("actions"));
    if ((rc = want(j, f[NS_ACTIONS], JSON_OBJECT, "an object of actions")) != MD_OK) return rc;
    json_object_keylen_foreach((json_t *)f[NS_ACTIONS], key, klen, val)
    {
        size_t o2 = path_push(j, (md_str_t){key, klen});
        md_raction_t *a = md_schema_push(j->a, &ns->actions, &ns->nactions, &ns->capactions, sizeof(*a));
        if (a == NULL) return oom(j);
        if ((rc = jkey(j, key, klen, &a->id)) != MD_OK || (rc = here(j, &a->loc)) != MD_OK ||
            (rc = parse_action(j, a, val)) != MD_OK)
            return rc;
        path_pop(j, o2);
    }
    path_pop(j, old);
    return MD_OK;
}

int md_schema_parse_json(const char *text, size_t len, const char *name, md_schema_t **out, md_err_t *err)
{
    md_arena_t scratch;
    md_rschema_t raw;
    jctx_t j;
    json_t *root = NULL;
    json_error_t jerror;
    const char *key;
    size_t klen;
    json_t *val;
    int rc;

    *out = NULL;
    md_arena_init(&scratch, 0);
    memset(&raw, 0, sizeof(raw));
    raw.scratch = &scratch;
    raw.src = name ? name : "schema";
    memset(&j, 0, sizeof(j));
    j.src = raw.src;
    j.err = err;
    j.a = &scratch;
    j.raw = &raw;
    md_buf_init(&j.path);
    md_buf_adds(&j.path, "$");

    root = md_json_loadb(text ? text : "", text ? len : 0, &jerror);
    if (root == NULL) {
        rc = md_err_set(err, MD_EINVAL, "%s: $: invalid JSON at line %d column %d: %s", raw.src, jerror.line,
                        jerror.column, jerror.text);
        goto out;
    }
    if ((rc = want(&j, root, JSON_OBJECT, "an object of namespaces")) != MD_OK) goto out;
    json_object_keylen_foreach(root, key, klen, val)
    {
        size_t old = path_push(&j, (md_str_t){key, klen});
        if ((rc = parse_namespace(&j, key, klen, val)) != MD_OK) goto out;
        path_pop(&j, old);
    }
    rc = md_schema_resolve(&raw, out, err);
out:
    json_decref(root);
    md_buf_free(&j.path);
    md_arena_free(&scratch);
    return rc;
}
