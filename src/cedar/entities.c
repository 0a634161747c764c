/*
 * entities.c: the entity store, JSON values (with and without a schema),
 * and requests.
 *
 * Reference: cedar-docs _auth/entities-syntax.md, cedar-policy-core
 * src/entities/json/{entities,value}.rs and src/transitive_closure.rs.
 *
 * Invariants after md_entities_parse_json() returns MD_OK: every entity's
 * `anc` holds its transitive ancestors sorted by (hash, uid); no entity is
 * its own ancestor (cycles are rejected); with a schema, every attribute,
 * tag and parent conforms to the entity type's declaration, and every
 * action declared in the schema is present.
 */
#include "cedar/entities.h"
#include "core/json.h"
#include "cedar/authz.h"

#include <stdio.h>
#include <stdlib.h>

/* ---- JSON values ---- */

static int jerr(md_err_t *err, const char *path, const char *fmt, ...) MD_PRINTF(3, 4);

static int jerr(md_err_t *err, const char *path, const char *fmt, ...)
{
    char msg[400];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    return md_err_set(err, MD_EINVAL, "%s: %s", path, msg);
}

static const char *jtype(const json_t *j)
{
    switch (json_typeof(j)) {
    case JSON_OBJECT: return "an object";
    case JSON_ARRAY: return "an array";
    case JSON_STRING: return "a string";
    case JSON_INTEGER: return "an integer";
    case JSON_REAL: return "a floating-point number";
    case JSON_TRUE:
    case JSON_FALSE: return "a boolean";
    case JSON_NULL: return "null";
    }
    return "?";
}

static md_str_t jstr(const json_t *j)
{
    return (md_str_t){json_string_value(j), json_string_length(j)};
}

int md_json_to_uid(const json_t *j, md_arena_t *a, const char *path, const md_uid_t **out, md_err_t *err)
{
    if (!json_is_object(j))
        return jerr(err, path, "expected an entity reference {\"type\", \"id\"}, found %s", jtype(j));
    const json_t *inner = json_object_get(j, "__entity");
    if (inner && json_object_size(j) == 1) j = inner;
    if (!json_is_object(j)) return jerr(err, path, "expected an entity reference {\"type\", \"id\"}");
    const json_t *t = json_object_get(j, "type"), *id = json_object_get(j, "id");
    if (!json_is_string(t) || !json_is_string(id) || json_object_size(j) != 2)
        return jerr(err, path,
                    "expected an entity reference with exactly the string fields \"type\" and \"id\"");
    md_str_t ts = jstr(t);
    if (ts.n == 0) return jerr(err, path, "entity type name is empty");
    if (!md_type_name_valid(ts))
        return jerr(err, path, "`%.*s` is not a valid entity type name", (int)(ts.n > 60 ? 60 : ts.n), ts.p);
    md_uid_t *u = md_uid_new(a, ts, jstr(id));
    if (u == NULL) return md_err_set(err, MD_ENOMEM, "out of memory");
    *out = u;
    return MD_OK;
}

static int ext_from_string(md_cv_kind_t k, md_str_t s, md_arena_t *a, const char *path, md_cv_t *out,
                           md_err_t *err)
{
    md_cv_t v = {.kind = (uint8_t)k};
    int rc = MD_EINVAL;
    switch (k) {
    case MD_CV_DECIMAL: rc = md_decimal_parse(s, &v.i); break;
    case MD_CV_DATETIME: rc = md_datetime_parse(s, &v.i); break;
    case MD_CV_DURATION: rc = md_duration_parse(s, &v.i); break;
    case MD_CV_IPADDR: {
        md_ipaddr_t ip;
        rc = md_ip_parse(s, &ip);
        if (rc == MD_OK) {
            md_ipaddr_t *p = md_arena_alloc(a, sizeof(*p));
            if (p == NULL) return md_err_set(err, MD_ENOMEM, "out of memory");
            *p = ip;
            v.ip = p;
        }
        break;
    }
    default: break;
    }
    if (rc != MD_OK)
        return jerr(err, path, "invalid %s literal \"%.*s\"", md_cv_kind_name(k), (int)(s.n > 80 ? 80 : s.n),
                    s.p);
    *out = v;
    return MD_OK;
}

static md_cv_kind_t ext_kind_of_fn(md_str_t fn)
{
    if (md_str_eqc(fn, "decimal")) return MD_CV_DECIMAL;
    if (md_str_eqc(fn, "ip")) return MD_CV_IPADDR;
    if (md_str_eqc(fn, "datetime")) return MD_CV_DATETIME;
    if (md_str_eqc(fn, "duration")) return MD_CV_DURATION;
    return 0;
}

/*
 * {"__extn": {"fn": F, "arg": S}} (also unwrapped), or {"__extn": {"fn": F,
 * "args": [v, ...]}} where each v is itself a JSON value (e.g. offset of a
 * datetime by a duration).  The function must yield an extension value.
 */
static int ext_from_json(const json_t *j, md_arena_t *a, const char *path, int depth, md_cv_t *out,
                         md_err_t *err)
{
    if (depth > MD_CEDAR_MAX_DEPTH) return jerr(err, path, "value nested too deeply");
    const json_t *x = json_object_get(j, "__extn");
    if (x) j = x;
    const json_t *fn = json_object_get(j, "fn"), *arg = json_object_get(j, "arg"),
                 *args = json_object_get(j, "args");
    if (!json_is_string(fn) || json_object_size(j) != 2 || !(json_is_string(arg) || json_is_array(args)))
        return jerr(err, path, "expected {\"__extn\": {\"fn\": ..., \"arg\": ...}} with string fields");
    md_str_t fname = jstr(fn);
    if (arg) {
        md_cv_kind_t k = ext_kind_of_fn(fname);
        if (k == 0)
            return jerr(err, path, "unknown extension constructor `%.*s`", (int)(fname.n > 60 ? 60 : fname.n),
                        fname.p);
        return ext_from_string(k, jstr(arg), a, path, out, err);
    }
    bool method = false;
    int f = md_extfn_lookup(fname, &method);
    size_t n = json_array_size(args);
    if (f == 0)
        return jerr(err, path, "unknown extension function `%.*s`", (int)(fname.n > 60 ? 60 : fname.n),
                    fname.p);
    if (n > 4) return jerr(err, path, "too many arguments to `%.*s`", (int)fname.n, fname.p);
    md_cv_t argv[4];
    char sub[256];
    for (size_t i = 0; i < n; i++) {
        snprintf(sub, sizeof(sub), "%s.args[%zu]", path, i);
        int rc = md_json_to_cv(json_array_get(args, i), NULL, a, sub, depth + 1, &argv[i], err);
        if (rc != MD_OK) return rc;
    }
    md_str_t msg = MD_STR_NULL;
    if (md_ext_apply(f, argv, (uint32_t)n, a, out, &msg) != MD_EVAL_OK)
        return jerr(err, path, "%.*s", (int)msg.n, msg.p ? msg.p : "");
    if (out->kind < MD_CV_DECIMAL)
        return jerr(err, path, "`%.*s` does not produce an extension value", (int)fname.n, fname.p);
    return MD_OK;
}

static int json_set(const json_t *j, const md_ty_t *elem, bool typed, md_arena_t *a, const char *path,
                    int depth, md_cv_t *out, md_err_t *err)
{
    size_t n = json_array_size(j);
    md_cv_t *items = n ? md_arena_alloc(a, n * sizeof(*items)) : NULL;
    if (n && items == NULL) return md_err_set(err, MD_ENOMEM, "out of memory");
    char sub[256];
    for (size_t i = 0; i < n; i++) {
        snprintf(sub, sizeof(sub), "%s[%zu]", path, i);
        int rc = md_json_to_cv(json_array_get(j, i), typed ? elem : NULL, a, sub, depth + 1, &items[i], err);
        if (rc != MD_OK) return rc;
    }
    md_cv_t v = {.kind = MD_CV_SET};
    v.set.v = items;
    v.set.n = md_cv_set_normalize(items, (uint32_t)n);
    *out = v;
    return MD_OK;
}

static int json_record_untyped(const json_t *j, md_arena_t *a, const char *path, int depth, md_cv_t *out,
                               md_err_t *err)
{
    size_t n = json_object_size(j);
    md_cv_field_t *f = n ? md_arena_alloc(a, n * sizeof(*f)) : NULL;
    if (n && f == NULL) return md_err_set(err, MD_ENOMEM, "out of memory");
    const char *key;
    size_t klen;
    json_t *val;
    uint32_t k = 0;
    char sub[256];
    json_object_keylen_foreach((json_t *)j, key, klen, val)
    {
        f[k].key = md_arena_str(a, md_json_key(key, klen, a));
        if (f[k].key.p == NULL) return md_err_set(err, MD_ENOMEM, "out of memory");
        snprintf(sub, sizeof(sub), "%s.%.*s", path, (int)(klen > 60 ? 60 : klen), key);
        int rc = md_json_to_cv(val, NULL, a, sub, depth + 1, &f[k].val, err);
        if (rc != MD_OK) return rc;
        k++;
    }
    if (md_cv_record_normalize(f, k) != MD_OK) return jerr(err, path, "duplicate key in record");
    md_cv_t v = {.kind = MD_CV_RECORD};
    v.rec.f = f;
    v.rec.n = k;
    *out = v;
    return MD_OK;
}

static const md_ty_attr_t *ty_attr(const md_ty_t *ty, md_str_t name)
{
    uint32_t lo = 0, hi = ty->nattrs;
    while (lo < hi) {
        uint32_t mid = lo + (hi - lo) / 2;
        int c = md_str_cmp(ty->attrs[mid].name, name);
        if (c == 0) return &ty->attrs[mid];
        if (c < 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    return NULL;
}

static int json_record_typed(const json_t *j, const md_ty_t *ty, md_arena_t *a, const char *path, int depth,
                             md_cv_t *out, md_err_t *err)
{
    size_t n = json_object_size(j);
    md_cv_field_t *f = n ? md_arena_alloc(a, n * sizeof(*f)) : NULL;
    if (n && f == NULL) return md_err_set(err, MD_ENOMEM, "out of memory");
    const char *key;
    size_t klen;
    json_t *val;
    uint32_t k = 0;
    char sub[256];
    json_object_keylen_foreach((json_t *)j, key, klen, val)
    {
        md_str_t ks = md_json_key(key, klen, a);
        if (ks.p == NULL) return md_err_set(err, MD_ENOMEM, "out of memory");
        const md_ty_attr_t *at = ty_attr(ty, ks);
        if (at == NULL && !ty->open)
            return jerr(err, path, "attribute `%.*s` is not declared in the schema",
                        (int)(klen > 60 ? 60 : klen), key);
        f[k].key = md_arena_str(a, ks);
        if (f[k].key.p == NULL) return md_err_set(err, MD_ENOMEM, "out of memory");
        snprintf(sub, sizeof(sub), "%s.%.*s", path, (int)(klen > 60 ? 60 : klen), key);
        int rc = md_json_to_cv(val, at ? at->type : NULL, a, sub, depth + 1, &f[k].val, err);
        if (rc != MD_OK) return rc;
        k++;
    }
    if (md_cv_record_normalize(f, k) != MD_OK) return jerr(err, path, "duplicate key in record");
    md_cv_t v = {.kind = MD_CV_RECORD};
    v.rec.f = f;
    v.rec.n = k;
    for (uint32_t i = 0; i < ty->nattrs; i++)
        if (ty->attrs[i].required && md_cv_record_get(&v, ty->attrs[i].name) == NULL)
            return jerr(err, path, "required attribute `%.*s` is missing", (int)ty->attrs[i].name.n,
                        ty->attrs[i].name.p);
    *out = v;
    return MD_OK;
}

static const char *ty_name(const md_ty_t *ty, char *buf, size_t cap)
{
    md_buf_t b;
    md_buf_init(&b);
    md_ty_to_cedar(&b, ty);
    snprintf(buf, cap, "%s", b.p ? b.p : "?");
    md_buf_free(&b);
    return buf;
}

int md_json_to_cv(const json_t *j, const md_ty_t *ty, md_arena_t *a, const char *path, int depth,
                  md_cv_t *out, md_err_t *err)
{
    if (depth > MD_CEDAR_MAX_DEPTH) return jerr(err, path, "value nested too deeply");
    char tn[128];
    if (ty == NULL) {
        switch (json_typeof(j)) {
        case JSON_TRUE:
        case JSON_FALSE: *out = md_cv_bool(json_is_true(j)); return MD_OK;
        case JSON_INTEGER: *out = md_cv_long((int64_t)json_integer_value(j)); return MD_OK;
        case JSON_STRING: {
            md_str_t s = md_arena_str(a, jstr(j));
            if (s.p == NULL) return md_err_set(err, MD_ENOMEM, "out of memory");
            *out = md_cv_string(s);
            return MD_OK;
        }
        case JSON_ARRAY: return json_set(j, NULL, false, a, path, depth, out, err);
        case JSON_OBJECT:
            if (json_object_size(j) == 1 && json_object_get(j, "__entity")) {
                const md_uid_t *u;
                int rc = md_json_to_uid(j, a, path, &u, err);
                if (rc == MD_OK) *out = md_cv_entity(u);
                return rc;
            }
            if (json_object_size(j) == 1 && json_object_get(j, "__extn"))
                return ext_from_json(j, a, path, depth, out, err);
            if (json_object_size(j) == 1 && json_object_get(j, "__expr"))
                return jerr(err, path,
                            "`__expr` escapes are no longer supported; use `__entity` or `__extn`");
            return json_record_untyped(j, a, path, depth, out, err);
        case JSON_REAL: return jerr(err, path, "floating-point numbers are not Cedar values; use decimal");
        case JSON_NULL: return jerr(err, path, "null is not a Cedar value");
        }
        return jerr(err, path, "unsupported JSON value");
    }
    switch (ty->kind) {
    case MD_TY_BOOL:
        if (!json_is_boolean(j)) goto mismatch;
        *out = md_cv_bool(json_is_true(j));
        return MD_OK;
    case MD_TY_LONG:
        if (!json_is_integer(j)) goto mismatch;
        *out = md_cv_long((int64_t)json_integer_value(j));
        return MD_OK;
    case MD_TY_STRING: {
        if (!json_is_string(j)) goto mismatch;
        md_str_t s = md_arena_str(a, jstr(j));
        if (s.p == NULL) return md_err_set(err, MD_ENOMEM, "out of memory");
        *out = md_cv_string(s);
        return MD_OK;
    }
    case MD_TY_SET:
        if (!json_is_array(j)) goto mismatch;
        return json_set(j, ty->elem, true, a, path, depth, out, err);
    case MD_TY_RECORD:
        if (!json_is_object(j)) goto mismatch;
        return json_record_typed(j, ty, a, path, depth, out, err);
    case MD_TY_ENTITY: {
        const md_uid_t *u;
        if (!json_is_object(j)) goto mismatch;
        int rc = md_json_to_uid(j, a, path, &u, err);
        if (rc != MD_OK) return rc;
        if (!md_str_eq(u->type, ty->entity))
            return jerr(err, path, "expected an entity of type `%.*s`, found `%.*s`", (int)ty->entity.n,
                        ty->entity.p, (int)u->type.n, u->type.p);
        *out = md_cv_entity(u);
        return MD_OK;
    }
    case MD_TY_DECIMAL:
    case MD_TY_IPADDR:
    case MD_TY_DATETIME:
    case MD_TY_DURATION: {
        md_cv_kind_t k = ty->kind == MD_TY_DECIMAL    ? MD_CV_DECIMAL
                         : ty->kind == MD_TY_IPADDR   ? MD_CV_IPADDR
                         : ty->kind == MD_TY_DATETIME ? MD_CV_DATETIME
                                                      : MD_CV_DURATION;
        if (json_is_string(j)) return ext_from_string(k, jstr(j), a, path, out, err);
        if (json_is_object(j)) {
            int rc = ext_from_json(j, a, path, depth, out, err);
            if (rc == MD_OK && out->kind != k) goto mismatch;
            return rc;
        }
        goto mismatch;
    }
    }
mismatch:
    return jerr(err, path, "expected a value of type %s, found %s", ty_name(ty, tn, sizeof(tn)), jtype(j));
}

/* ---- the store ---- */

static int anc_cmp(const void *x, const void *y)
{
    const md_uid_t *a = *(const md_uid_t *const *)x, *b = *(const md_uid_t *const *)y;
    if (a->hash != b->hash) return a->hash < b->hash ? -1 : 1;
    return md_uid_cmp(a, b);
}

const md_entity_t *md_entities_get(const md_entities_t *es, const md_uid_t *uid)
{
    if (es == NULL || es->slots == NULL) return NULL;
    uint32_t i = (uint32_t)uid->hash & es->mask;
    for (;;) {
        uint32_t s = es->slots[i];
        if (s == 0) return NULL;
        const md_entity_t *e = &es->list[s - 1];
        if (md_uid_eq(e->uid, uid)) return e;
        i = (i + 1) & es->mask;
    }
}

bool md_entities_in(const md_entities_t *es, const md_uid_t *a, const md_uid_t *b)
{
    if (md_uid_eq(a, b)) return true;
    const md_entity_t *e = md_entities_get(es, a);
    if (e == NULL || e->nanc == 0) return false;
    uint32_t lo = 0, hi = e->nanc;
    while (lo < hi) {
        uint32_t mid = lo + (hi - lo) / 2;
        const md_uid_t *m = e->anc[mid];
        int c = m->hash != b->hash ? (m->hash < b->hash ? -1 : 1) : md_uid_cmp(m, b);
        if (c == 0) return true;
        if (c < 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    return false;
}

size_t md_entities_footprint(const md_entities_t *es)
{
    return md_arena_footprint(&es->arena) + sizeof(*es);
}

md_entities_t *md_entities_new_empty(void)
{
    md_entities_t *es = calloc(1, sizeof(*es));
    if (es) md_arena_init(&es->arena, 4096);
    return es;
}

void md_entities_free(md_entities_t *es)
{
    if (es == NULL) return;
    free(es->slots);
    free(es->list);
    md_arena_free(&es->arena);
    free(es);
}

static int table_build(md_entities_t *es, const char *name, md_err_t *err)
{
    uint32_t cap = 16;
    while (cap < es->n * 2 + 2)
        cap *= 2;
    es->slots = calloc(cap, sizeof(uint32_t));
    if (es->slots == NULL) return md_err_set(err, MD_ENOMEM, "out of memory");
    es->mask = cap - 1;
    for (uint32_t k = 0; k < es->n; k++) {
        uint32_t i = (uint32_t)es->list[k].uid->hash & es->mask;
        while (es->slots[i]) {
            const md_entity_t *o = &es->list[es->slots[i] - 1];
            if (md_uid_eq(o->uid, es->list[k].uid)) {
                md_buf_t b;
                md_buf_init(&b);
                md_uid_to_cedar(&b, o->uid);
                int rc = md_err_set(err, MD_EINVAL, "%s: duplicate entity %s", name, b.p ? b.p : "");
                md_buf_free(&b);
                return rc;
            }
            i = (i + 1) & es->mask;
        }
        es->slots[i] = k + 1;
    }
    return MD_OK;
}

/*
 * Transitive closure by depth-first search with colours; a grey node met
 * again is a cycle.  Iterative, so deep hierarchies cannot overflow the stack.
 */
static int closure(md_entities_t *es, const char *name, md_err_t *err)
{
    uint32_t n = es->n;
    uint8_t *colour = calloc(n ? n : 1, 1); /* 0 white, 1 grey, 2 black */
    uint32_t *stack = malloc((n ? n : 1) * sizeof(uint32_t));
    uint32_t *edge = malloc((n ? n : 1) * sizeof(uint32_t));
    const md_uid_t **acc = NULL;
    size_t acc_cap = 0;
    int rc = MD_ENOMEM;
    if (colour == NULL || stack == NULL || edge == NULL) {
        md_err_set(err, MD_ENOMEM, "out of memory");
        goto out;
    }
    for (uint32_t root = 0; root < n; root++) {
        if (colour[root]) continue;
        uint32_t sp = 0;
        stack[sp] = root;
        edge[sp++] = 0;
        colour[root] = 1;
        while (sp) {
            uint32_t v = stack[sp - 1];
            md_entity_t *e = &es->list[v];
            if (edge[sp - 1] < e->nparents) {
                const md_uid_t *pu = e->parents[edge[sp - 1]++];
                const md_entity_t *pe = md_entities_get(es, pu);
                if (pe == NULL) continue; /* a parent with no entry has no ancestors of its own */
                uint32_t w = (uint32_t)(pe - es->list);
                if (colour[w] == 1) {
                    md_buf_t b;
                    md_buf_init(&b);
                    md_uid_to_cedar(&b, pe->uid);
                    rc = md_err_set(err, MD_EINVAL, "%s: the entity hierarchy has a cycle through %s", name,
                                    b.p ? b.p : "");
                    md_buf_free(&b);
                    goto out;
                }
                if (colour[w] == 0) {
                    colour[w] = 1;
                    stack[sp] = w;
                    edge[sp++] = 0;
                }
                continue;
            }
            /* all parents done: ancestors = parents ∪ their ancestors */
            size_t cnt = 0;
            for (uint32_t i = 0; i < e->nparents; i++) {
                const md_entity_t *pe = md_entities_get(es, e->parents[i]);
                size_t need = cnt + 1 + (pe ? pe->nanc : 0);
                if (need > acc_cap) {
                    size_t cap = acc_cap ? acc_cap : 16;
                    while (cap < need)
                        cap *= 2;
                    const md_uid_t **na = realloc(acc, cap * sizeof(*na));
                    if (na == NULL) {
                        md_err_set(err, MD_ENOMEM, "out of memory");
                        goto out;
                    }
                    acc = na;
                    acc_cap = cap;
                }
                acc[cnt++] = pe ? pe->uid : e->parents[i];
                if (pe)
                    for (uint32_t k = 0; k < pe->nanc; k++)
                        acc[cnt++] = pe->anc[k];
            }
            if (cnt) {
                qsort(acc, cnt, sizeof(*acc), anc_cmp);
                size_t u = 1;
                for (size_t i = 1; i < cnt; i++)
                    if (anc_cmp(&acc[u - 1], &acc[i]) != 0) acc[u++] = acc[i];
                cnt = u;
                for (size_t i = 0; i < cnt; i++)
                    if (md_uid_eq(acc[i], e->uid)) {
                        md_buf_t b;
                        md_buf_init(&b);
                        md_uid_to_cedar(&b, e->uid);
                        rc = md_err_set(err, MD_EINVAL, "%s: the entity hierarchy has a cycle through %s",
                                        name, b.p ? b.p : "");
                        md_buf_free(&b);
                        goto out;
                    }
                e->anc = md_arena_alloc(&es->arena, cnt * sizeof(*e->anc));
                if (e->anc == NULL) {
                    md_err_set(err, MD_ENOMEM, "out of memory");
                    goto out;
                }
                memcpy(e->anc, acc, cnt * sizeof(*e->anc));
                e->nanc = (uint32_t)cnt;
            }
            colour[v] = 2;
            sp--;
        }
    }
    rc = MD_OK;
out:
    free(colour);
    free(stack);
    free(edge);
    free(acc);
    return rc;
}

static const char *ent_path(char *buf, size_t cap, const char *name, size_t idx, const md_uid_t *u)
{
    if (u)
        snprintf(buf, cap, "%s: entity %zu (%.*s::\"%.*s\")", name, idx,
                 (int)(u->type.n > 60 ? 60 : u->type.n), u->type.p, (int)(u->id.n > 60 ? 60 : u->id.n),
                 u->id.p);
    else
        snprintf(buf, cap, "%s: entity %zu", name, idx);
    return buf;
}

static bool str_in(md_str_t s, const md_str_t *list, uint32_t n)
{
    for (uint32_t i = 0; i < n; i++)
        if (md_str_eq(s, list[i])) return true;
    return false;
}

/* Is `u` a (transitive) parent of action `act` per the schema's memberOf?
 * Entity files may list an action's ancestors, not only its direct parents. */
static bool action_ancestor(const md_schema_t *schema, const md_schema_action_t *act, const md_uid_t *u,
                            int depth)
{
    if (depth > 64) return false;
    for (uint32_t k = 0; k < act->nmember_of; k++) {
        if (md_uid_eq(&act->member_of[k], u)) return true;
        const md_schema_action_t *up = md_schema_action(schema, &act->member_of[k]);
        if (up && action_ancestor(schema, up, u, depth + 1)) return true;
    }
    return false;
}

static int check_enum(const md_schema_t *schema, const md_uid_t *u, const char *path, md_err_t *err)
{
    if (schema == NULL) return MD_OK;
    const md_schema_etype_t *et = md_schema_etype(schema, u->type);
    if (et && et->is_enum && !str_in(u->id, et->enum_ids, et->nenum))
        return md_err_set(err, MD_ESCHEMA,
                          "%s: entity id \"%.*s\" is not one of the values of the enum type `%.*s`", path,
                          (int)(u->id.n > 60 ? 60 : u->id.n), u->id.p, (int)u->type.n, u->type.p);
    return MD_OK;
}

/* Every entity reference inside a value must use a declared enum id
 * (the reference's validate_euids_in_partial_value). */
static int check_enums_in_value(const md_schema_t *schema, const md_cv_t *v, const char *path, int depth,
                                md_err_t *err)
{
    if (schema == NULL || depth > MD_CEDAR_MAX_DEPTH) return MD_OK;
    switch (v->kind) {
    case MD_CV_ENTITY: return check_enum(schema, v->uid, path, err);
    case MD_CV_SET:
        for (uint32_t i = 0; i < v->set.n; i++) {
            int rc = check_enums_in_value(schema, &v->set.v[i], path, depth + 1, err);
            if (rc != MD_OK) return rc;
        }
        return MD_OK;
    case MD_CV_RECORD:
        for (uint32_t i = 0; i < v->rec.n; i++) {
            int rc = check_enums_in_value(schema, &v->rec.f[i].val, path, depth + 1, err);
            if (rc != MD_OK) return rc;
        }
        return MD_OK;
    default: return MD_OK;
    }
}

/* One entity object from the JSON array. */
static int parse_entity(md_entities_t *es, const json_t *j, size_t idx, const char *name,
                        const md_schema_t *schema, md_entity_t *e, md_err_t *err)
{
    char path[400], sub[480];
    ent_path(path, sizeof(path), name, idx, NULL);
    if (!json_is_object(j)) return jerr(err, path, "expected an object, found %s", jtype(j));
    const char *key;
    json_t *val;
    json_object_foreach((json_t *)j, key, val)
    {
        if (strcmp(key, "uid") && strcmp(key, "attrs") && strcmp(key, "parents") && strcmp(key, "tags"))
            return jerr(err, path, "unexpected field \"%s\" (expected uid, attrs, parents, tags)", key);
    }
    const json_t *ju = json_object_get(j, "uid");
    if (ju == NULL) return jerr(err, path, "missing \"uid\"");
    snprintf(sub, sizeof(sub), "%s.uid", path);
    int rc = md_json_to_uid(ju, &es->arena, sub, &e->uid, err);
    if (rc != MD_OK) return rc;
    ent_path(path, sizeof(path), name, idx, e->uid);

    const md_schema_etype_t *et = NULL;
    const md_schema_action_t *act = NULL;
    if (schema) {
        et = md_schema_etype(schema, e->uid->type);
        act = et ? NULL : md_schema_action(schema, e->uid);
        if (et == NULL && act == NULL) {
            if (md_schema_is_action_type(schema, e->uid->type))
                return jerr(err, path, "action `%.*s` is not declared in the schema", (int)e->uid->id.n,
                            e->uid->id.p);
            return jerr(err, path, "entity type `%.*s` is not declared in the schema", (int)e->uid->type.n,
                        e->uid->type.p);
        }
        if ((rc = check_enum(schema, e->uid, path, err)) != MD_OK) return rc;
    }

    /* `attrs` and `parents` are required, as in the reference's entity JSON */
    if (json_object_get(j, "attrs") == NULL) return jerr(err, path, "missing \"attrs\"");
    if (json_object_get(j, "parents") == NULL) return jerr(err, path, "missing \"parents\"");
    const json_t *ja = json_object_get(j, "attrs");
    snprintf(sub, sizeof(sub), "%s.attrs", path);
    if (ja == NULL)
        ja = json_object(); /* absent attrs: an empty record (decref below) */
    else
        json_incref((json_t *)ja);
    if (!json_is_object(ja)) {
        json_decref((json_t *)ja);
        return jerr(err, sub, "expected an object");
    }
    if (act && json_object_size(ja) != 0) {
        json_decref((json_t *)ja);
        return jerr(err, sub, "actions cannot have attributes");
    }
    rc = md_json_to_cv(ja, et ? et->shape : NULL, &es->arena, sub, 0, &e->attrs, err);
    json_decref((json_t *)ja);
    if (rc != MD_OK) return rc;
    if ((rc = check_enums_in_value(schema, &e->attrs, sub, 0, err)) != MD_OK) return rc;

    const json_t *jt = json_object_get(j, "tags");
    snprintf(sub, sizeof(sub), "%s.tags", path);
    e->tags = (md_cv_t){.kind = MD_CV_RECORD};
    if (jt && !json_is_object(jt)) return jerr(err, sub, "expected an object");
    if (jt && json_object_size(jt)) {
        if (schema && (et == NULL || et->tags == NULL))
            return jerr(err, sub, "entity type `%.*s` does not declare tags", (int)e->uid->type.n,
                        e->uid->type.p);
        size_t n = json_object_size(jt);
        md_cv_field_t *f = md_arena_alloc(&es->arena, n * sizeof(*f));
        if (f == NULL) return md_err_set(err, MD_ENOMEM, "out of memory");
        uint32_t k = 0;
        size_t klen;
        char tsub[600];
        json_object_keylen_foreach((json_t *)jt, key, klen, val)
        {
            f[k].key = md_arena_str(&es->arena, md_json_key(key, klen, &es->arena));
            if (f[k].key.p == NULL) return md_err_set(err, MD_ENOMEM, "out of memory");
            snprintf(tsub, sizeof(tsub), "%s.%.*s", sub, (int)(klen > 60 ? 60 : klen), key);
            rc = md_json_to_cv(val, et ? et->tags : NULL, &es->arena, tsub, 0, &f[k].val, err);
            if (rc != MD_OK) return rc;
            k++;
        }
        if (md_cv_record_normalize(f, k) != MD_OK) return jerr(err, sub, "duplicate tag");
        e->tags.rec.f = f;
        e->tags.rec.n = k;
        if ((rc = check_enums_in_value(schema, &e->tags, sub, 0, err)) != MD_OK) return rc;
    }

    const json_t *jp = json_object_get(j, "parents");
    snprintf(sub, sizeof(sub), "%s.parents", path);
    if (jp && !json_is_array(jp)) return jerr(err, sub, "expected an array");
    size_t np = jp ? json_array_size(jp) : 0;
    if (np) {
        e->parents = md_arena_alloc(&es->arena, np * sizeof(*e->parents));
        if (e->parents == NULL) return md_err_set(err, MD_ENOMEM, "out of memory");
    }
    for (size_t i = 0; i < np; i++) {
        char psub[600];
        snprintf(psub, sizeof(psub), "%s[%zu]", sub, i);
        const md_uid_t *pu;
        rc = md_json_to_uid(json_array_get(jp, i), &es->arena, psub, &pu, err);
        if (rc != MD_OK) return rc;
        if (et) {
            if (!str_in(pu->type, et->member_of, et->nmember_of))
                return jerr(err, psub,
                            "`%.*s` entities cannot be members of `%.*s` entities (not in memberOfTypes)",
                            (int)e->uid->type.n, e->uid->type.p, (int)pu->type.n, pu->type.p);
            if ((rc = check_enum(schema, pu, psub, err)) != MD_OK) return rc;
        }
        if (act && !action_ancestor(schema, act, pu, 0))
            return jerr(err, psub, "action's parent does not match the schema's memberOf declaration");
        e->parents[e->nparents++] = pu;
    }
    return MD_OK;
}

int md_entities_parse_json(const char *text, size_t len, const char *name, const md_schema_t *schema,
                           md_entities_t **out, md_err_t *err)
{
    json_error_t je;
    json_t *root = NULL;
    md_entities_t *es = NULL;
    int rc = MD_EINVAL;

    *out = NULL;
    name = name ? name : "<entities>";
    root = md_json_loadb(text, len, &je);
    if (root == NULL) {
        md_err_set(err, MD_EINVAL, "%s:%d:%d: invalid JSON: %s", name, je.line, je.column, je.text);
        goto out;
    }
    if (!json_is_array(root)) {
        md_err_set(err, MD_EINVAL, "%s: expected a JSON array of entities", name);
        goto out;
    }
    es = md_entities_new_empty();
    if (es == NULL) {
        rc = md_err_set(err, MD_ENOMEM, "out of memory");
        goto out;
    }
    size_t n = json_array_size(root);
    uint32_t extra = schema ? schema->nactions : 0;
    es->list = calloc(n + extra + 1, sizeof(md_entity_t));
    if (es->list == NULL) {
        rc = md_err_set(err, MD_ENOMEM, "out of memory");
        goto out;
    }
    for (size_t i = 0; i < n; i++) {
        rc = parse_entity(es, json_array_get(root, i), i, name, schema, &es->list[i], err);
        if (rc != MD_OK) goto out;
        es->n++;
    }
    rc = table_build(es, name, err);
    if (rc != MD_OK) goto out;
    /* actions declared in the schema but absent from the file are added from it */
    if (schema) {
        bool added = false;
        for (uint32_t k = 0; k < schema->nactions; k++) {
            const md_schema_action_t *act = &schema->actions[k];
            if (md_entities_get(es, &act->uid)) continue;
            md_entity_t *e = &es->list[es->n++];
            memset(e, 0, sizeof(*e));
            e->uid = &act->uid;
            e->attrs = (md_cv_t){.kind = MD_CV_RECORD};
            e->tags = (md_cv_t){.kind = MD_CV_RECORD};
            if (act->nmember_of) {
                e->parents = md_arena_alloc(&es->arena, act->nmember_of * sizeof(*e->parents));
                if (e->parents == NULL) {
                    rc = md_err_set(err, MD_ENOMEM, "out of memory");
                    goto out;
                }
                for (uint32_t i = 0; i < act->nmember_of; i++)
                    e->parents[i] = &act->member_of[i];
                e->nparents = act->nmember_of;
            }
            added = true;
        }
        if (added) {
            free(es->slots);
            es->slots = NULL;
            rc = table_build(es, name, err);
            if (rc != MD_OK) goto out;
        }
    }
    rc = closure(es, name, err);
    if (rc != MD_OK) goto out;
    *out = es;
    es = NULL;
out:
    json_decref(root);
    md_entities_free(es);
    return rc;
}

/* ---- requests ---- */

static int validate_uid_type(const md_schema_t *schema, const md_uid_t *u, const md_str_t *allowed,
                             uint32_t n, const char *what, md_err_t *err)
{
    if (!str_in(u->type, allowed, n))
        return md_err_set(err, MD_ESCHEMA, "request: %s type `%.*s` is not valid for this action", what,
                          (int)u->type.n, u->type.p);
    return check_enum(schema, u, "request", err);
}

static bool cv_conforms(const md_cv_t *v, const md_ty_t *ty, int depth)
{
    if (depth > MD_CEDAR_MAX_DEPTH) return false;
    switch (ty->kind) {
    case MD_TY_BOOL: return v->kind == MD_CV_BOOL;
    case MD_TY_LONG: return v->kind == MD_CV_LONG;
    case MD_TY_STRING: return v->kind == MD_CV_STRING;
    case MD_TY_DECIMAL: return v->kind == MD_CV_DECIMAL;
    case MD_TY_IPADDR: return v->kind == MD_CV_IPADDR;
    case MD_TY_DATETIME: return v->kind == MD_CV_DATETIME;
    case MD_TY_DURATION: return v->kind == MD_CV_DURATION;
    case MD_TY_ENTITY: return v->kind == MD_CV_ENTITY && md_str_eq(v->uid->type, ty->entity);
    case MD_TY_SET:
        if (v->kind != MD_CV_SET) return false;
        for (uint32_t i = 0; i < v->set.n; i++)
            if (!cv_conforms(&v->set.v[i], ty->elem, depth + 1)) return false;
        return true;
    case MD_TY_RECORD:
        if (v->kind != MD_CV_RECORD) return false;
        for (uint32_t i = 0; i < v->rec.n; i++) {
            const md_ty_attr_t *at = ty_attr(ty, v->rec.f[i].key);
            if (at == NULL) {
                if (!ty->open) return false;
                continue;
            }
            if (!cv_conforms(&v->rec.f[i].val, at->type, depth + 1)) return false;
        }
        for (uint32_t i = 0; i < ty->nattrs; i++)
            if (ty->attrs[i].required && md_cv_record_get(v, ty->attrs[i].name) == NULL) return false;
        return true;
    }
    return false;
}

int md_request_validate(const md_request_t *r, const md_schema_t *schema, md_err_t *err)
{
    const md_schema_action_t *act = md_schema_action(schema, r->action);
    if (act == NULL)
        return md_err_set(err, MD_ESCHEMA, "request: action `%.*s::\"%.*s\"` is not declared in the schema",
                          (int)r->action->type.n, r->action->type.p, (int)r->action->id.n, r->action->id.p);
    if (!act->has_applies_to)
        return md_err_set(err, MD_ESCHEMA,
                          "request: action `%.*s` does not apply to any principal or resource",
                          (int)r->action->id.n, r->action->id.p);
    int rc = validate_uid_type(schema, r->principal, act->principals, act->nprincipals, "principal", err);
    if (rc != MD_OK) return rc;
    rc = validate_uid_type(schema, r->resource, act->resources, act->nresources, "resource", err);
    if (rc != MD_OK) return rc;
    rc = check_enums_in_value(schema, &r->context, "request.context", 0, err);
    if (rc != MD_OK) return rc;
    if (!cv_conforms(&r->context, act->context, 0))
        return md_err_set(err, MD_ESCHEMA, "request: context does not conform to the action's context type");
    return MD_OK;
}

int md_request_from_json(const json_t *j, const md_schema_t *schema, bool validate, md_arena_t *a,
                         md_request_t *out, md_err_t *err)
{
    int rc;
    memset(out, 0, sizeof(*out));
    if (!json_is_object(j)) return md_err_set(err, MD_EINVAL, "request: expected a JSON object");
    const json_t *p = json_object_get(j, "principal"), *ac = json_object_get(j, "action"),
                 *r = json_object_get(j, "resource"), *c = json_object_get(j, "context");
    if (p == NULL || ac == NULL || r == NULL)
        return md_err_set(err, MD_EINVAL, "request: \"principal\", \"action\" and \"resource\" are required");
    if ((rc = md_json_to_uid(p, a, "request.principal", &out->principal, err)) != MD_OK) return rc;
    if ((rc = md_json_to_uid(ac, a, "request.action", &out->action, err)) != MD_OK) return rc;
    if ((rc = md_json_to_uid(r, a, "request.resource", &out->resource, err)) != MD_OK) return rc;
    const md_ty_t *cty = NULL;
    if (schema) {
        const md_schema_action_t *act = md_schema_action(schema, out->action);
        if (act) cty = act->context;
    }
    if (c == NULL || json_is_null(c)) {
        out->context = (md_cv_t){.kind = MD_CV_RECORD};
    } else {
        if (!json_is_object(c)) return md_err_set(err, MD_EINVAL, "request.context: expected a JSON object");
        if ((rc = md_json_to_cv(c, cty, a, "request.context", 0, &out->context, err)) != MD_OK) return rc;
    }
    if (schema && validate) return md_request_validate(out, schema, err);
    return MD_OK;
}
