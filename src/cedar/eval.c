/*
 * eval.c: the Cedar evaluator and authorizer.
 *
 * A direct transcription of cedar-spec cedar-lean/Cedar/Spec/Evaluator.lean
 * (evaluate, apply1, apply2, hasAttr, getAttr, inE, inS), ExtFun.lean (call)
 * and Authorizer.lean (isAuthorized).  Values produced during evaluation are
 * allocated from the request arena only; nothing here calls malloc.
 *
 * Error model: evaluation returns false on error and records the first
 * error's kind and message in the evaluator; the authorizer then skips the
 * policy and reports it (Cedar's skip-on-error).
 */
#include "cedar/authz.h"

#include <stdio.h>
#include <stdlib.h>

typedef struct ev {
    const md_entities_t *es;
    const md_request_t *req;
    md_arena_t *arena;
    md_cv_t vprincipal, vaction, vresource;
    md_eval_error_t error;
    md_str_t msg;
} ev_t;

static bool fail(ev_t *E, md_eval_error_t kind, const char *fmt, ...) MD_PRINTF(3, 4);

static bool fail(ev_t *E, md_eval_error_t kind, const char *fmt, ...)
{
    if (E->error) return false;
    E->error = kind;
    char buf[512];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(buf, sizeof(buf), fmt, ap);
    va_end(ap);
    if (n < 0) n = 0;
    if ((size_t)n >= sizeof(buf)) n = sizeof(buf) - 1;
    E->msg = md_arena_str(E->arena, (md_str_t){buf, (size_t)n});
    if (E->msg.p == NULL) E->msg = MD_STR("out of memory");
    return false;
}

static bool nomem(ev_t *E)
{
    return fail(E, MD_EVAL_NOMEM, "out of memory while evaluating");
}

static bool type_error(ev_t *E, const char *what, const md_cv_t *got)
{
    return fail(E, MD_EVAL_TYPE_ERROR, "type error: %s, got %s", what, md_cv_kind_name(got->kind));
}

/* Short printable form of a uid for messages. */
static const char *uid_str(const md_uid_t *u, char *buf, size_t cap)
{
    snprintf(buf, cap, "%.*s::\"%.*s\"", (int)(u->type.n > 60 ? 60 : u->type.n), u->type.p,
             (int)(u->id.n > 60 ? 60 : u->id.n), u->id.p);
    return buf;
}

static bool eval(ev_t *E, const md_expr_t *e, md_cv_t *out);

static bool eval_bool(ev_t *E, const md_expr_t *e, bool *b)
{
    md_cv_t v;
    if (!eval(E, e, &v)) return false;
    if (v.kind != MD_CV_BOOL) return type_error(E, "expected a boolean", &v);
    *b = v.b;
    return true;
}

/* like: code-point wildcard match (Wildcard.lean), iterative with backtracking to the last star. */
static bool like_match(md_str_t s, const uint32_t *pat, uint32_t np)
{
    size_t si = 0, star_si = 0;
    uint32_t pi = 0, star_pi = UINT32_MAX;
    while (si < s.n) {
        size_t next_si = si;
        int32_t c = md_utf8_next(s.p, s.n, &next_si);
        if (c < 0) { /* invalid UTF-8 cannot come from JSON or policy text; treat bytes as chars */
            c = (unsigned char)s.p[si];
            next_si = si + 1;
        }
        if (pi < np && pat[pi] == MD_LIKE_STAR) {
            star_pi = pi++;
            star_si = si;
        } else if (pi < np && pat[pi] == (uint32_t)c) {
            pi++;
            si = next_si;
        } else if (star_pi != UINT32_MAX) {
            pi = star_pi + 1;
            /* advance the star's match by one code point */
            size_t k = star_si;
            if (md_utf8_next(s.p, s.n, &k) < 0) k = star_si + 1;
            star_si = k;
            si = k;
        } else {
            return false;
        }
    }
    while (pi < np && pat[pi] == MD_LIKE_STAR)
        pi++;
    return pi == np;
}

static bool get_entity_attrs(ev_t *E, const md_uid_t *uid, const md_cv_t **attrs)
{
    const md_entity_t *ent = md_entities_get(E->es, uid);
    if (ent == NULL) {
        char b[160];
        return fail(E, MD_EVAL_ENTITY_DOES_NOT_EXIST, "entity `%s` does not exist",
                    uid_str(uid, b, sizeof(b)));
    }
    *attrs = &ent->attrs;
    return true;
}

static bool set_check_entities(ev_t *E, const md_cv_t *set)
{
    for (uint32_t i = 0; i < set->set.n; i++)
        if (set->set.v[i].kind != MD_CV_ENTITY)
            return type_error(E, "expected a set of entities on the right of `in`", &set->set.v[i]);
    return true;
}

static bool eval_in(ev_t *E, const md_cv_t *a, const md_cv_t *b, md_cv_t *out)
{
    if (a->kind != MD_CV_ENTITY) return type_error(E, "expected an entity on the left of `in`", a);
    if (b->kind == MD_CV_ENTITY) {
        *out = md_cv_bool(md_entities_in(E->es, a->uid, b->uid));
        return true;
    }
    if (b->kind != MD_CV_SET) return type_error(E, "expected an entity or a set on the right of `in`", b);
    if (!set_check_entities(E, b)) return false;
    bool r = false;
    for (uint32_t i = 0; i < b->set.n && !r; i++)
        r = md_entities_in(E->es, a->uid, b->set.v[i].uid);
    *out = md_cv_bool(r);
    return true;
}

static bool arith(ev_t *E, const md_expr_t *e, const md_cv_t *a, const md_cv_t *b, md_cv_t *out)
{
    if (a->kind != MD_CV_LONG) return type_error(E, "expected a long", a);
    if (b->kind != MD_CV_LONG) return type_error(E, "expected a long", b);
    int64_t r;
    bool ovf;
    const char *op;
    switch (e->op) {
    case MD_OP_ADD: ovf = __builtin_add_overflow(a->i, b->i, &r), op = "+"; break;
    case MD_OP_SUB: ovf = __builtin_sub_overflow(a->i, b->i, &r), op = "-"; break;
    default: ovf = __builtin_mul_overflow(a->i, b->i, &r), op = "*"; break;
    }
    if (ovf)
        return fail(E, MD_EVAL_ARITH_OVERFLOW, "integer overflow: %lld %s %lld", (long long)a->i, op,
                    (long long)b->i);
    *out = md_cv_long(r);
    return true;
}

static bool compare(ev_t *E, const md_expr_t *e, const md_cv_t *a, const md_cv_t *b, md_cv_t *out)
{
    bool ok = a->kind == b->kind &&
              (a->kind == MD_CV_LONG || a->kind == MD_CV_DATETIME || a->kind == MD_CV_DURATION);
    if (!ok) {
        if (a->kind != MD_CV_LONG && a->kind != MD_CV_DATETIME && a->kind != MD_CV_DURATION)
            return type_error(E, "expected long, datetime or duration for comparison", a);
        return type_error(E, "comparison operands must have the same type", b);
    }
    bool r;
    switch (e->op) {
    case MD_OP_LT: r = a->i < b->i; break;
    case MD_OP_LE: r = a->i <= b->i; break;
    case MD_OP_GT: r = a->i > b->i; break;
    default: r = a->i >= b->i; break;
    }
    *out = md_cv_bool(r);
    return true;
}

static bool ext_value(ev_t *E, md_cv_kind_t kind, int64_t i, md_cv_t *out)
{
    md_cv_t v = {.kind = (uint8_t)kind};
    v.i = i;
    *out = v;
    (void)E;
    return true;
}

static bool want_kind(ev_t *E, const md_cv_t *v, md_cv_kind_t k, const char *fn)
{
    if (v->kind == k) return true;
    char what[96];
    snprintf(what, sizeof(what), "`%s` expects %s", fn, md_cv_kind_name(k));
    return type_error(E, what, v);
}

static bool call_ext(ev_t *E, const md_expr_t *e, const md_cv_t *a, uint32_t n, md_cv_t *out)
{
    const char *fn = md_extfn_name(e->var);
    static const uint8_t arity[] = {
        [MD_EXT_DECIMAL] = 1,
        [MD_EXT_LESS_THAN] = 2,
        [MD_EXT_LESS_THAN_OR_EQUAL] = 2,
        [MD_EXT_GREATER_THAN] = 2,
        [MD_EXT_GREATER_THAN_OR_EQUAL] = 2,
        [MD_EXT_IP] = 1,
        [MD_EXT_IS_IPV4] = 1,
        [MD_EXT_IS_IPV6] = 1,
        [MD_EXT_IS_LOOPBACK] = 1,
        [MD_EXT_IS_MULTICAST] = 1,
        [MD_EXT_IS_IN_RANGE] = 2,
        [MD_EXT_DATETIME] = 1,
        [MD_EXT_DURATION] = 1,
        [MD_EXT_OFFSET] = 2,
        [MD_EXT_DURATION_SINCE] = 2,
        [MD_EXT_TO_DATE] = 1,
        [MD_EXT_TO_TIME] = 1,
        [MD_EXT_TO_MILLISECONDS] = 1,
        [MD_EXT_TO_SECONDS] = 1,
        [MD_EXT_TO_MINUTES] = 1,
        [MD_EXT_TO_HOURS] = 1,
        [MD_EXT_TO_DAYS] = 1,
    };
    if (e->var >= sizeof(arity) || arity[e->var] != n)
        return fail(E, MD_EVAL_TYPE_ERROR, "wrong number of arguments to `%s`: expected %u, got %u", fn,
                    e->var < sizeof(arity) ? arity[e->var] : 0, n);
    int64_t r;
    switch ((md_extfn_t)e->var) {
    case MD_EXT_DECIMAL:
    case MD_EXT_DATETIME:
    case MD_EXT_DURATION:
    case MD_EXT_IP: {
        if (!want_kind(E, &a[0], MD_CV_STRING, fn)) return false;
        int rc;
        if (e->var == MD_EXT_IP) {
            md_ipaddr_t ip, *p;
            if (md_ip_parse(a[0].s, &ip) != MD_OK) goto bad_literal;
            p = md_arena_alloc(E->arena, sizeof(*p));
            if (p == NULL) return nomem(E);
            *p = ip;
            md_cv_t v = {.kind = MD_CV_IPADDR};
            v.ip = p;
            *out = v;
            return true;
        }
        md_cv_kind_t k = e->var == MD_EXT_DECIMAL    ? MD_CV_DECIMAL
                         : e->var == MD_EXT_DATETIME ? MD_CV_DATETIME
                                                     : MD_CV_DURATION;
        rc = e->var == MD_EXT_DECIMAL    ? md_decimal_parse(a[0].s, &r)
             : e->var == MD_EXT_DATETIME ? md_datetime_parse(a[0].s, &r)
                                         : md_duration_parse(a[0].s, &r);
        if (rc != MD_OK) goto bad_literal;
        return ext_value(E, k, r, out);
    bad_literal:
        return fail(E, MD_EVAL_EXTENSION_ERROR,
                    "error while evaluating `%s` extension function: invalid %s literal \"%.*s\"", fn, fn,
                    (int)(a[0].s.n > 80 ? 80 : a[0].s.n), a[0].s.p);
    }
    case MD_EXT_LESS_THAN:
    case MD_EXT_LESS_THAN_OR_EQUAL:
    case MD_EXT_GREATER_THAN:
    case MD_EXT_GREATER_THAN_OR_EQUAL: {
        if (!want_kind(E, &a[0], MD_CV_DECIMAL, fn) || !want_kind(E, &a[1], MD_CV_DECIMAL, fn)) return false;
        int64_t x = a[0].i, y = a[1].i;
        bool b = e->var == MD_EXT_LESS_THAN            ? x < y
                 : e->var == MD_EXT_LESS_THAN_OR_EQUAL ? x <= y
                 : e->var == MD_EXT_GREATER_THAN       ? x > y
                                                       : x >= y;
        *out = md_cv_bool(b);
        return true;
    }
    case MD_EXT_IS_IPV4:
    case MD_EXT_IS_IPV6:
    case MD_EXT_IS_LOOPBACK:
    case MD_EXT_IS_MULTICAST: {
        if (!want_kind(E, &a[0], MD_CV_IPADDR, fn)) return false;
        const md_ipaddr_t *ip = a[0].ip;
        bool b = e->var == MD_EXT_IS_IPV4       ? !ip->v6
                 : e->var == MD_EXT_IS_IPV6     ? ip->v6
                 : e->var == MD_EXT_IS_LOOPBACK ? md_ip_is_loopback(ip)
                                                : md_ip_is_multicast(ip);
        *out = md_cv_bool(b);
        return true;
    }
    case MD_EXT_IS_IN_RANGE:
        if (!want_kind(E, &a[0], MD_CV_IPADDR, fn) || !want_kind(E, &a[1], MD_CV_IPADDR, fn)) return false;
        *out = md_cv_bool(md_ip_in_range(a[0].ip, a[1].ip));
        return true;
    case MD_EXT_OFFSET:
        if (!want_kind(E, &a[0], MD_CV_DATETIME, fn) || !want_kind(E, &a[1], MD_CV_DURATION, fn))
            return false;
        if (__builtin_add_overflow(a[0].i, a[1].i, &r))
            return fail(E, MD_EVAL_EXTENSION_ERROR, "overflow in `offset`");
        return ext_value(E, MD_CV_DATETIME, r, out);
    case MD_EXT_DURATION_SINCE:
        if (!want_kind(E, &a[0], MD_CV_DATETIME, fn) || !want_kind(E, &a[1], MD_CV_DATETIME, fn))
            return false;
        if (__builtin_sub_overflow(a[0].i, a[1].i, &r))
            return fail(E, MD_EVAL_EXTENSION_ERROR, "overflow in `durationSince`");
        return ext_value(E, MD_CV_DURATION, r, out);
    case MD_EXT_TO_DATE:
        if (!want_kind(E, &a[0], MD_CV_DATETIME, fn)) return false;
        if (md_datetime_to_date(a[0].i, &r) != MD_OK)
            return fail(E, MD_EVAL_EXTENSION_ERROR, "overflow in `toDate`");
        return ext_value(E, MD_CV_DATETIME, r, out);
    case MD_EXT_TO_TIME:
        if (!want_kind(E, &a[0], MD_CV_DATETIME, fn)) return false;
        return ext_value(E, MD_CV_DURATION, md_datetime_to_time(a[0].i), out);
    case MD_EXT_TO_MILLISECONDS:
    case MD_EXT_TO_SECONDS:
    case MD_EXT_TO_MINUTES:
    case MD_EXT_TO_HOURS:
    case MD_EXT_TO_DAYS: {
        if (!want_kind(E, &a[0], MD_CV_DURATION, fn)) return false;
        static const int64_t div[] = {1, 1000, 60000, 3600000, 86400000};
        *out = md_cv_long(a[0].i / div[e->var - MD_EXT_TO_MILLISECONDS]);
        return true;
    }
    }
    return fail(E, MD_EVAL_TYPE_ERROR, "unknown extension function");
}

static bool eval(ev_t *E, const md_expr_t *e, md_cv_t *out)
{
    md_cv_t a, b;
    switch ((md_op_t)e->op) {
    case MD_OP_LIT: *out = e->lit; return true;
    case MD_OP_VAR:
        switch (e->var) {
        case MD_VAR_PRINCIPAL: *out = E->vprincipal; return true;
        case MD_VAR_ACTION: *out = E->vaction; return true;
        case MD_VAR_RESOURCE: *out = E->vresource; return true;
        default: *out = E->req->context; return true;
        }
    case MD_OP_SLOT: return fail(E, MD_EVAL_TYPE_ERROR, "unlinked template slot");
    case MD_OP_AND:
    case MD_OP_OR: {
        bool x;
        if (!eval_bool(E, e->args[0], &x)) return false;
        if (e->op == MD_OP_AND ? !x : x) {
            *out = md_cv_bool(x);
            return true;
        }
        if (!eval_bool(E, e->args[1], &x)) return false;
        *out = md_cv_bool(x);
        return true;
    }
    case MD_OP_IF: {
        bool c;
        if (!eval_bool(E, e->args[0], &c)) return false;
        return eval(E, e->args[c ? 1 : 2], out);
    }
    case MD_OP_NOT:
        if (!eval(E, e->args[0], &a)) return false;
        if (a.kind != MD_CV_BOOL) return type_error(E, "`!` expects a boolean", &a);
        *out = md_cv_bool(!a.b);
        return true;
    case MD_OP_NEG:
        if (!eval(E, e->args[0], &a)) return false;
        if (a.kind != MD_CV_LONG) return type_error(E, "unary `-` expects a long", &a);
        if (a.i == INT64_MIN)
            return fail(E, MD_EVAL_ARITH_OVERFLOW, "integer overflow: -(%lld)", (long long)a.i);
        *out = md_cv_long(-a.i);
        return true;
    case MD_OP_IS_EMPTY:
        if (!eval(E, e->args[0], &a)) return false;
        if (a.kind != MD_CV_SET) return type_error(E, "`isEmpty` expects a set", &a);
        *out = md_cv_bool(a.set.n == 0);
        return true;
    case MD_OP_LIKE:
        if (!eval(E, e->args[0], &a)) return false;
        if (a.kind != MD_CV_STRING) return type_error(E, "`like` expects a string", &a);
        *out = md_cv_bool(like_match(a.s, e->pat, e->npat));
        return true;
    case MD_OP_IS:
        if (!eval(E, e->args[0], &a)) return false;
        if (a.kind != MD_CV_ENTITY) return type_error(E, "`is` expects an entity", &a);
        *out = md_cv_bool(md_str_eq(a.uid->type, e->name));
        return true;
    case MD_OP_HAS:
    case MD_OP_GETATTR: {
        if (!eval(E, e->args[0], &a)) return false;
        const md_cv_t *rec = NULL;
        if (a.kind == MD_CV_RECORD) {
            rec = &a;
        } else if (a.kind == MD_CV_ENTITY) {
            if (e->op == MD_OP_HAS) {
                const md_entity_t *ent = md_entities_get(E->es, a.uid);
                *out = md_cv_bool(ent && md_cv_record_get(&ent->attrs, e->name) != NULL);
                return true;
            }
            if (!get_entity_attrs(E, a.uid, &rec)) return false;
        } else {
            return type_error(E,
                              e->op == MD_OP_HAS ? "`has` expects an entity or a record"
                                                 : "attribute access expects an entity or a record",
                              &a);
        }
        const md_cv_t *v = md_cv_record_get(rec, e->name);
        if (e->op == MD_OP_HAS) {
            *out = md_cv_bool(v != NULL);
            return true;
        }
        if (v == NULL) {
            char ub[160];
            return fail(E, MD_EVAL_ATTR_DOES_NOT_EXIST, "%s%s does not have the attribute `%.*s`",
                        a.kind == MD_CV_ENTITY ? "entity " : "record",
                        a.kind == MD_CV_ENTITY ? uid_str(a.uid, ub, sizeof(ub)) : "",
                        (int)(e->name.n > 80 ? 80 : e->name.n), e->name.p);
        }
        *out = *v;
        return true;
    }
    case MD_OP_SET: {
        md_cv_t *items = e->nargs ? md_arena_alloc(E->arena, e->nargs * sizeof(*items)) : NULL;
        if (e->nargs && items == NULL) return nomem(E);
        for (uint32_t i = 0; i < e->nargs; i++)
            if (!eval(E, e->args[i], &items[i])) return false;
        md_cv_t v = {.kind = MD_CV_SET};
        v.set.v = items;
        v.set.n = md_cv_set_normalize(items, e->nargs);
        *out = v;
        return true;
    }
    case MD_OP_RECORD: {
        md_cv_field_t *f = e->nargs ? md_arena_alloc(E->arena, e->nargs * sizeof(*f)) : NULL;
        if (e->nargs && f == NULL) return nomem(E);
        for (uint32_t i = 0; i < e->nargs; i++) {
            f[i].key = e->keys[i];
            if (!eval(E, e->args[i], &f[i].val)) return false;
        }
        if (md_cv_record_normalize(f, e->nargs) != MD_OK)
            return fail(E, MD_EVAL_TYPE_ERROR, "duplicate key in record literal");
        md_cv_t v = {.kind = MD_CV_RECORD};
        v.rec.f = f;
        v.rec.n = e->nargs;
        *out = v;
        return true;
    }
    case MD_OP_EXT: {
        md_cv_t argv[4];
        if (e->nargs > 4)
            return fail(E, MD_EVAL_TYPE_ERROR, "too many arguments to `%s`", md_extfn_name(e->var));
        for (uint32_t i = 0; i < e->nargs; i++)
            if (!eval(E, e->args[i], &argv[i])) return false;
        return call_ext(E, e, argv, e->nargs, out);
    }
    default: break;
    }

    /* binary operators: both operands are evaluated, left first.  Recursion
     * depth is bounded by the tree's height, which the parser caps
     * (MD_CEDAR_MAX_HEIGHT). */
    if (!eval(E, e->args[0], &a) || !eval(E, e->args[1], &b)) return false;
    switch ((md_op_t)e->op) {
    case MD_OP_EQ: *out = md_cv_bool(md_cv_eq(&a, &b)); return true;
    case MD_OP_NE: *out = md_cv_bool(!md_cv_eq(&a, &b)); return true;
    case MD_OP_LT:
    case MD_OP_LE:
    case MD_OP_GT:
    case MD_OP_GE: return compare(E, e, &a, &b, out);
    case MD_OP_ADD:
    case MD_OP_SUB:
    case MD_OP_MUL: return arith(E, e, &a, &b, out);
    case MD_OP_IN: return eval_in(E, &a, &b, out);
    case MD_OP_CONTAINS:
        if (a.kind != MD_CV_SET) return type_error(E, "`contains` expects a set", &a);
        *out = md_cv_bool(md_cv_set_contains(&a, &b));
        return true;
    case MD_OP_CONTAINS_ALL:
    case MD_OP_CONTAINS_ANY: {
        const char *fn = e->op == MD_OP_CONTAINS_ALL ? "`containsAll`" : "`containsAny`";
        char what[64];
        snprintf(what, sizeof(what), "%s expects sets", fn);
        if (a.kind != MD_CV_SET) return type_error(E, what, &a);
        if (b.kind != MD_CV_SET) return type_error(E, what, &b);
        bool all = true, any = false;
        for (uint32_t i = 0; i < b.set.n; i++) {
            bool in = md_cv_set_contains(&a, &b.set.v[i]);
            all = all && in;
            any = any || in;
        }
        *out = md_cv_bool(e->op == MD_OP_CONTAINS_ALL ? all : any);
        return true;
    }
    case MD_OP_HAS_TAG:
    case MD_OP_GET_TAG: {
        const char *fn = e->op == MD_OP_HAS_TAG ? "`hasTag`" : "`getTag`";
        char what[64];
        snprintf(what, sizeof(what), "%s expects an entity and a string", fn);
        if (a.kind != MD_CV_ENTITY) return type_error(E, what, &a);
        if (b.kind != MD_CV_STRING) return type_error(E, what, &b);
        const md_entity_t *ent = md_entities_get(E->es, a.uid);
        if (e->op == MD_OP_HAS_TAG) {
            *out = md_cv_bool(ent && md_cv_record_get(&ent->tags, b.s) != NULL);
            return true;
        }
        char ub[160];
        if (ent == NULL)
            return fail(E, MD_EVAL_ENTITY_DOES_NOT_EXIST, "entity `%s` does not exist",
                        uid_str(a.uid, ub, sizeof(ub)));
        const md_cv_t *v = md_cv_record_get(&ent->tags, b.s);
        if (v == NULL)
            return fail(E, MD_EVAL_TAG_DOES_NOT_EXIST, "entity `%s` does not have the tag `%.*s`",
                        uid_str(a.uid, ub, sizeof(ub)), (int)(b.s.n > 80 ? 80 : b.s.n), b.s.p);
        *out = *v;
        return true;
    }
    default: break;
    }
    return fail(E, MD_EVAL_TYPE_ERROR, "unknown operator %d", e->op);
}

/* Scope tests never error (Cedar's `==` and entity `in` are total). */
static bool scope_match(const ev_t *E, const md_scope_t *sc, const md_uid_t *u)
{
    switch (sc->kind) {
    case MD_SCOPE_ANY: return true;
    case MD_SCOPE_EQ: return md_uid_eq(u, sc->uid);
    case MD_SCOPE_IN: return md_entities_in(E->es, u, sc->uid);
    case MD_SCOPE_IS: return md_str_eq(u->type, sc->type);
    case MD_SCOPE_IS_IN: return md_str_eq(u->type, sc->type) && md_entities_in(E->es, u, sc->uid);
    case MD_SCOPE_IN_SET:
        for (uint32_t i = 0; i < sc->nuids; i++)
            if (md_entities_in(E->es, u, sc->uids[i])) return true;
        return false;
    }
    return false;
}

/* 1: satisfied, 0: not satisfied, -1: error (E->error set). */
static int eval_policy(ev_t *E, const md_policy_t *p)
{
    if (!scope_match(E, &p->principal, E->req->principal) || !scope_match(E, &p->action, E->req->action) ||
        !scope_match(E, &p->resource, E->req->resource))
        return 0;
    for (uint32_t i = 0; i < p->nconds; i++) {
        md_cv_t v;
        if (!eval(E, p->conds[i], &v)) return -1;
        if (v.kind != MD_CV_BOOL) {
            type_error(E,
                       p->unless[i] ? "`unless` condition must be a boolean"
                                    : "`when` condition must be a boolean",
                       &v);
            return -1;
        }
        if (v.b == p->unless[i]) return 0;
    }
    return 1;
}

static void ev_init(ev_t *E, const md_entities_t *es, const md_request_t *req, md_arena_t *arena)
{
    memset(E, 0, sizeof(*E));
    E->es = es;
    E->req = req;
    E->arena = arena;
    E->vprincipal = md_cv_entity(req->principal);
    E->vaction = md_cv_entity(req->action);
    E->vresource = md_cv_entity(req->resource);
}

md_eval_error_t md_eval_expr(const md_expr_t *e, const md_entities_t *es, const md_request_t *req,
                             md_arena_t *arena, md_cv_t *out, md_str_t *msg)
{
    ev_t E;
    ev_init(&E, es, req, arena);
    if (eval(&E, e, out)) return MD_EVAL_OK;
    if (msg) *msg = E.msg;
    return E.error;
}

md_eval_error_t md_ext_apply(int fn, const md_cv_t *args, uint32_t nargs, md_arena_t *arena, md_cv_t *out,
                             md_str_t *msg)
{
    ev_t E;
    md_request_t none = {0};
    md_expr_t call = {.op = MD_OP_EXT, .var = (uint8_t)fn, .nargs = nargs};
    memset(&E, 0, sizeof(E));
    E.req = &none;
    E.arena = arena;
    if (call_ext(&E, &call, args, nargs, out)) return MD_EVAL_OK;
    if (msg) *msg = E.msg;
    return E.error;
}

/* The candidate list from the index (index.c); NULL means "all policies". */
extern const md_policy_t **md_pindex_candidates(const md_policyset_t *ps, const md_entities_t *es,
                                                const md_request_t *req, md_arena_t *arena, uint32_t *n);

int md_authorize(const md_policyset_t *ps, const md_entities_t *es, const md_request_t *req,
                 md_arena_t *arena, md_response_t *resp)
{
    ev_t E;
    memset(resp, 0, sizeof(*resp));
    ev_init(&E, es, req, arena);

    uint32_t ncand = ps->npolicies;
    const md_policy_t **cand = NULL;
    if (ps->index) {
        cand = md_pindex_candidates(ps, es, req, arena, &ncand);
        if (cand == NULL) return MD_ENOMEM;
    }
    /* Results are collected in two arrays of at most ncand entries. */
    const md_policy_t **permits = md_arena_alloc(arena, (ncand + 1) * sizeof(*permits));
    const md_policy_t **forbids = md_arena_alloc(arena, (ncand + 1) * sizeof(*forbids));
    md_policy_error_t *errors = NULL;
    uint32_t np = 0, nf = 0, ne = 0, ecap = 0;
    if (permits == NULL || forbids == NULL) return MD_ENOMEM;

    for (uint32_t i = 0; i < ncand; i++) {
        const md_policy_t *p = cand ? cand[i] : ps->policies[i];
        if (p->is_template) continue;
        resp->evaluated++;
        E.error = MD_EVAL_OK;
        int r = eval_policy(&E, p);
        if (r > 0) {
            if (p->forbid)
                forbids[nf++] = p;
            else
                permits[np++] = p;
        } else if (r < 0) {
            if (E.error == MD_EVAL_NOMEM) return MD_ENOMEM;
            if (ne == ecap) {
                uint32_t cap = ecap ? ecap * 2 : 4;
                md_policy_error_t *ne_arr = md_arena_alloc(arena, cap * sizeof(*ne_arr));
                if (ne_arr == NULL) return MD_ENOMEM;
                if (ne) memcpy(ne_arr, errors, ne * sizeof(*ne_arr));
                errors = ne_arr;
                ecap = cap;
            }
            errors[ne].policy = p;
            errors[ne].kind = E.error;
            errors[ne].message = E.msg;
            ne++;
        }
    }
    if (nf > 0) {
        resp->allow = false;
        resp->reasons = forbids;
        resp->nreasons = nf;
    } else {
        resp->allow = np > 0;
        resp->reasons = permits;
        resp->nreasons = np;
    }
    resp->errors = errors;
    resp->nerrors = ne;
    return MD_OK;
}

void md_response_to_json(md_buf_t *b, const md_response_t *r)
{
    md_buf_printf(b, "{\"decision\":\"%s\",\"reasons\":[", r->allow ? "allow" : "deny");
    for (uint32_t i = 0; i < r->nreasons; i++) {
        if (i) md_buf_addc(b, ',');
        md_buf_add_json_str(b, r->reasons[i]->id);
    }
    md_buf_adds(b, "],\"errors\":[");
    for (uint32_t i = 0; i < r->nerrors; i++) {
        if (i) md_buf_addc(b, ',');
        md_buf_adds(b, "{\"policy\":");
        md_buf_add_json_str(b, r->errors[i].policy->id);
        md_buf_adds(b, ",\"message\":");
        md_buf_add_json_str(b, r->errors[i].message);
        md_buf_addc(b, '}');
    }
    md_buf_adds(b, "]}");
}
