/*
 * policy_print.c: policies and expressions back to Cedar text.
 *
 * The output is fully parenthesised where precedence could matter, so that
 * parsing it again yields the same AST (used by tests and the fuzzer).
 */
#include "cedar/policy.h"

static void str_lit(md_buf_t *b, md_str_t s)
{
    md_cv_t v = md_cv_string(s);
    md_cv_to_cedar(b, &v);
}

static void pattern(md_buf_t *b, const uint32_t *pat, uint32_t n)
{
    md_buf_addc(b, '"');
    for (uint32_t i = 0; i < n; i++) {
        uint32_t c = pat[i];
        if (c == MD_LIKE_STAR)
            md_buf_addc(b, '*');
        else if (c == '*')
            md_buf_adds(b, "\\*");
        else if (c == '"')
            md_buf_adds(b, "\\\"");
        else if (c == '\\')
            md_buf_adds(b, "\\\\");
        else if (c < 0x20 || c == 0x7f)
            md_buf_printf(b, "\\u{%x}", c);
        else
            md_utf8_put(b, c);
    }
    md_buf_addc(b, '"');
}

static const char *binop(int op)
{
    switch (op) {
    case MD_OP_AND: return " && ";
    case MD_OP_OR: return " || ";
    case MD_OP_EQ: return " == ";
    case MD_OP_NE: return " != ";
    case MD_OP_LT: return " < ";
    case MD_OP_LE: return " <= ";
    case MD_OP_GT: return " > ";
    case MD_OP_GE: return " >= ";
    case MD_OP_IN: return " in ";
    case MD_OP_ADD: return " + ";
    case MD_OP_SUB: return " - ";
    case MD_OP_MUL: return " * ";
    }
    return NULL;
}

static const char *method(int op)
{
    switch (op) {
    case MD_OP_CONTAINS: return "contains";
    case MD_OP_CONTAINS_ALL: return "containsAll";
    case MD_OP_CONTAINS_ANY: return "containsAny";
    case MD_OP_IS_EMPTY: return "isEmpty";
    case MD_OP_HAS_TAG: return "hasTag";
    case MD_OP_GET_TAG: return "getTag";
    }
    return NULL;
}

static bool ident_ok(md_str_t s)
{
    if (s.n == 0) return false;
    for (size_t i = 0; i < s.n; i++) {
        char c = s.p[i];
        bool alpha = c == '_' || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
        if (!alpha && !(i > 0 && c >= '0' && c <= '9')) return false;
    }
    static const char *const reserved[] = {"true", "false", "if", "then", "else", "in", "like", "has", "is"};
    for (size_t i = 0; i < sizeof(reserved) / sizeof(reserved[0]); i++)
        if (md_str_eqc(s, reserved[i])) return false;
    return !md_str_eqc(s, "__cedar");
}

void md_expr_to_cedar(md_buf_t *b, const md_expr_t *e)
{
    static const char *const vars[] = {"", "principal", "action", "resource", "context"};
    const char *s;
    switch (e->op) {
    case MD_OP_LIT:
        if (e->lit.kind == MD_CV_LONG && e->lit.i < 0) {
            md_buf_printf(b, "(%lld)", (long long)e->lit.i);
            return;
        }
        md_cv_to_cedar(b, &e->lit);
        return;
    case MD_OP_VAR: md_buf_adds(b, vars[e->var]); return;
    case MD_OP_SLOT: md_buf_adds(b, e->var == MD_VAR_PRINCIPAL ? "?principal" : "?resource"); return;
    case MD_OP_NOT:
    case MD_OP_NEG:
        /* fully bracketed: `(-(x)).a` must not print as `-(x).a` */
        md_buf_adds(b, e->op == MD_OP_NOT ? "(!(" : "(-(");
        md_expr_to_cedar(b, e->args[0]);
        md_buf_adds(b, "))");
        return;
    case MD_OP_IF:
        md_buf_adds(b, "(if ");
        md_expr_to_cedar(b, e->args[0]);
        md_buf_adds(b, " then ");
        md_expr_to_cedar(b, e->args[1]);
        md_buf_adds(b, " else ");
        md_expr_to_cedar(b, e->args[2]);
        md_buf_addc(b, ')');
        return;
    case MD_OP_HAS:
    case MD_OP_GETATTR:
        md_buf_addc(b, '(');
        md_expr_to_cedar(b, e->args[0]);
        if (e->op == MD_OP_HAS) {
            md_buf_adds(b, " has ");
            str_lit(b, e->name);
        } else if (ident_ok(e->name)) {
            md_buf_addc(b, '.');
            md_buf_add(b, e->name.p, e->name.n);
        } else {
            md_buf_addc(b, '[');
            str_lit(b, e->name);
            md_buf_addc(b, ']');
        }
        md_buf_addc(b, ')');
        return;
    case MD_OP_LIKE:
        md_buf_addc(b, '(');
        md_expr_to_cedar(b, e->args[0]);
        md_buf_adds(b, " like ");
        pattern(b, e->pat, e->npat);
        md_buf_addc(b, ')');
        return;
    case MD_OP_IS:
        md_buf_addc(b, '(');
        md_expr_to_cedar(b, e->args[0]);
        md_buf_adds(b, " is ");
        md_buf_add(b, e->name.p, e->name.n);
        md_buf_addc(b, ')');
        return;
    case MD_OP_SET:
        md_buf_addc(b, '[');
        for (uint32_t i = 0; i < e->nargs; i++) {
            if (i) md_buf_adds(b, ", ");
            md_expr_to_cedar(b, e->args[i]);
        }
        md_buf_addc(b, ']');
        return;
    case MD_OP_RECORD:
        md_buf_addc(b, '{');
        for (uint32_t i = 0; i < e->nargs; i++) {
            if (i) md_buf_adds(b, ", ");
            str_lit(b, e->keys[i]);
            md_buf_adds(b, ": ");
            md_expr_to_cedar(b, e->args[i]);
        }
        md_buf_addc(b, '}');
        return;
    case MD_OP_EXT: {
        /* constructors are functions, the rest are methods on the first argument */
        bool fn = e->var == MD_EXT_DECIMAL || e->var == MD_EXT_IP || e->var == MD_EXT_DATETIME ||
                  e->var == MD_EXT_DURATION;
        uint32_t first = 0;
        if (!fn && e->nargs > 0) {
            md_buf_addc(b, '(');
            md_expr_to_cedar(b, e->args[0]);
            md_buf_adds(b, ").");
            first = 1;
        }
        md_buf_adds(b, md_extfn_name(e->var));
        md_buf_addc(b, '(');
        for (uint32_t i = first; i < e->nargs; i++) {
            if (i > first) md_buf_adds(b, ", ");
            md_expr_to_cedar(b, e->args[i]);
        }
        md_buf_addc(b, ')');
        return;
    }
    }
    if ((s = method(e->op)) != NULL) {
        md_buf_addc(b, '(');
        md_expr_to_cedar(b, e->args[0]);
        md_buf_printf(b, ").%s(", s);
        if (e->nargs > 1) md_expr_to_cedar(b, e->args[1]);
        md_buf_addc(b, ')');
        return;
    }
    if ((s = binop(e->op)) != NULL) {
        md_buf_addc(b, '(');
        md_expr_to_cedar(b, e->args[0]);
        md_buf_adds(b, s);
        md_expr_to_cedar(b, e->args[1]);
        md_buf_addc(b, ')');
        return;
    }
    md_buf_adds(b, "<?>");
}

static void scope(md_buf_t *b, const char *var, const md_scope_t *sc, const char *slot)
{
    md_buf_adds(b, var);
    if (sc->kind == MD_SCOPE_IS || sc->kind == MD_SCOPE_IS_IN) {
        md_buf_adds(b, " is ");
        md_buf_add(b, sc->type.p, sc->type.n);
    }
    switch (sc->kind) {
    case MD_SCOPE_EQ: md_buf_adds(b, " == "); break;
    case MD_SCOPE_IN:
    case MD_SCOPE_IS_IN:
    case MD_SCOPE_IN_SET: md_buf_adds(b, " in "); break;
    default: return;
    }
    if (sc->kind == MD_SCOPE_IN_SET) {
        md_buf_addc(b, '[');
        for (uint32_t i = 0; i < sc->nuids; i++) {
            if (i) md_buf_adds(b, ", ");
            md_uid_to_cedar(b, sc->uids[i]);
        }
        md_buf_addc(b, ']');
    } else if (sc->slot) {
        md_buf_adds(b, slot);
    } else if (sc->uid) {
        md_uid_to_cedar(b, sc->uid);
    }
}

void md_policy_to_cedar(md_buf_t *b, const md_policy_t *p)
{
    for (uint32_t i = 0; i < p->nannotations; i++) {
        md_buf_printf(b, "@%.*s(", (int)p->annotations[i].key.n, p->annotations[i].key.p);
        str_lit(b, p->annotations[i].value);
        md_buf_adds(b, ")\n");
    }
    md_buf_adds(b, p->forbid ? "forbid (\n  " : "permit (\n  ");
    scope(b, "principal", &p->principal, "?principal");
    md_buf_adds(b, ",\n  ");
    scope(b, "action", &p->action, "");
    md_buf_adds(b, ",\n  ");
    scope(b, "resource", &p->resource, "?resource");
    md_buf_adds(b, "\n)");
    for (uint32_t i = 0; i < p->nconds; i++) {
        md_buf_adds(b, p->unless[i] ? "\nunless { " : "\nwhen { ");
        md_expr_to_cedar(b, p->conds[i]);
        md_buf_adds(b, " }");
    }
    md_buf_adds(b, ";\n");
}
