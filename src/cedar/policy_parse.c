/*
 * policy_parse.c: lexer and recursive-descent parser for Cedar policies.
 *
 * Mirrors the reference grammar (cedar-policy-core/src/parser/grammar.lalrpop)
 * and its CST-to-AST checks (cst_to_ast.rs) so that exactly the same texts are
 * accepted.  Desugaring done here:
 *   a != b        -> NE node (evaluated as !(a == b))
 *   e is T in x   -> (e is T) && (e in x)
 *   e has a.b.c   -> e has a && e.a has b && e.a.b has c
 *   -<number>     -> a negative literal (one dash folded in, as the reference does)
 *
 * Every node, string and value lives in the policy set's arena.  The first
 * error stops parsing; it names file, line and column.  Recursion is bounded
 * by MD_CEDAR_MAX_DEPTH so hostile input cannot overflow the stack.
 */
#include "cedar/policy.h"
#include "cedar/authz.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>

typedef enum tok_kind {
    T_EOF = 0,
    T_IDENT,
    T_NUMBER,
    T_STRING,
    T_SLOT, /* ?name */
    T_AT,
    T_DOT,
    T_COMMA,
    T_SEMI,
    T_COLON,
    T_COLONCOLON,
    T_LPAREN,
    T_RPAREN,
    T_LBRACE,
    T_RBRACE,
    T_LBRACKET,
    T_RBRACKET,
    T_EQEQ,
    T_NE,
    T_LT,
    T_LE,
    T_GE,
    T_GT,
    T_OROR,
    T_ANDAND,
    T_PLUS,
    T_MINUS,
    T_STAR,
    T_SLASH,
    T_PERCENT,
    T_BANG,
    T_EQ,
} tok_kind_t;

typedef struct tok {
    tok_kind_t kind;
    const char *p; /* start in the source */
    size_t n;
    uint32_t line, col;
} tok_t;

typedef struct parser {
    const char *src;
    size_t len;
    size_t pos;
    uint32_t line;
    size_t line_start;
    const char *name;
    tok_t tok;  /* current token */
    tok_t peek; /* one token of lookahead (valid when has_peek) */
    bool has_peek;
    int depth;
    md_policyset_t *ps;
    md_arena_t *arena;
    md_err_t *err;
    bool failed;
    bool in_scope; /* slots are only valid in a scope */
} parser_t;

static int perr(parser_t *P, const tok_t *t, const char *fmt, ...) MD_PRINTF(3, 4);

static int perr(parser_t *P, const tok_t *t, const char *fmt, ...)
{
    char msg[400];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    if (!P->failed) {
        P->failed = true;
        md_err_set(P->err, MD_EINVAL, "%s:%u:%u: %s", P->name, t ? t->line : P->line,
                   t ? t->col : (uint32_t)(P->pos - P->line_start + 1), msg);
    }
    return MD_EINVAL;
}

static int oom(parser_t *P)
{
    if (!P->failed) {
        P->failed = true;
        md_err_set(P->err, MD_ENOMEM, "%s: out of memory", P->name);
    }
    return MD_ENOMEM;
}

/* ---- lexer ---- */

static bool is_ident_start(int c)
{
    return c == '_' || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
}
static bool is_ident_char(int c)
{
    return is_ident_start(c) || (c >= '0' && c <= '9');
}

/* Unicode White_Space (what the reference's \s skips). Returns its byte length or 0. */
static size_t unicode_space(const char *s, size_t n)
{
    size_t i = 0;
    int32_t c = md_utf8_next(s, n, &i);
    if (c < 0) return 0;
    switch (c) {
    case 0x85:
    case 0xa0:
    case 0x1680:
    case 0x2028:
    case 0x2029:
    case 0x202f:
    case 0x205f:
    case 0x3000: return i;
    default:
        if (c >= 0x2000 && c <= 0x200a) return i;
    }
    return 0;
}

static void skip_space(parser_t *P)
{
    for (;;) {
        if (P->pos >= P->len) return;
        char c = P->src[P->pos];
        if (c == '\n') {
            P->pos++;
            P->line++;
            P->line_start = P->pos;
        } else if (c == ' ' || c == '\t' || c == '\r' || c == '\v' || c == '\f') {
            P->pos++;
        } else if (c == '/' && P->pos + 1 < P->len && P->src[P->pos + 1] == '/') {
            while (P->pos < P->len && P->src[P->pos] != '\n' && P->src[P->pos] != '\r')
                P->pos++;
        } else if ((unsigned char)c >= 0x80) {
            size_t k = unicode_space(P->src + P->pos, P->len - P->pos);
            if (k == 0) return;
            P->pos += k;
        } else {
            return;
        }
    }
}

static int lex(parser_t *P, tok_t *t)
{
    skip_space(P);
    t->p = P->src + P->pos;
    t->n = 0;
    t->line = P->line;
    t->col = (uint32_t)(P->pos - P->line_start + 1);
    if (P->pos >= P->len) {
        t->kind = T_EOF;
        return MD_OK;
    }
    const char *s = P->src + P->pos;
    size_t rest = P->len - P->pos;
    char c = s[0];
    char d = rest > 1 ? s[1] : '\0';
    size_t n = 1;
    tok_kind_t k;

    if (is_ident_start((unsigned char)c)) {
        while (n < rest && is_ident_char((unsigned char)s[n]))
            n++;
        k = T_IDENT;
    } else if (c >= '0' && c <= '9') {
        while (n < rest && s[n] >= '0' && s[n] <= '9')
            n++;
        k = T_NUMBER;
    } else if (c == '"') {
        /* "(\\.|[^"\\])*" : escapes are checked when the string is used */
        for (;;) {
            if (n >= rest) return perr(P, t, "unterminated string literal");
            if (s[n] == '\\') {
                if (n + 1 >= rest) return perr(P, t, "unterminated string literal");
                n += 2;
                continue;
            }
            if (s[n] == '"') {
                n++;
                break;
            }
            n++;
        }
        k = T_STRING;
    } else if (c == '?' && rest > 1 && is_ident_start((unsigned char)d)) {
        n = 2;
        while (n < rest && is_ident_char((unsigned char)s[n]))
            n++;
        k = T_SLOT;
    } else {
        switch (c) {
        case '@': k = T_AT; break;
        case '.': k = T_DOT; break;
        case ',': k = T_COMMA; break;
        case ';': k = T_SEMI; break;
        case ':':
            k = T_COLON;
            if (d == ':') k = T_COLONCOLON, n = 2;
            break;
        case '(': k = T_LPAREN; break;
        case ')': k = T_RPAREN; break;
        case '{': k = T_LBRACE; break;
        case '}': k = T_RBRACE; break;
        case '[': k = T_LBRACKET; break;
        case ']': k = T_RBRACKET; break;
        case '=':
            k = T_EQ;
            if (d == '=') k = T_EQEQ, n = 2;
            break;
        case '!':
            k = T_BANG;
            if (d == '=') k = T_NE, n = 2;
            break;
        case '<':
            k = T_LT;
            if (d == '=') k = T_LE, n = 2;
            break;
        case '>':
            k = T_GT;
            if (d == '=') k = T_GE, n = 2;
            break;
        case '|':
            if (d != '|') return perr(P, t, "unexpected character '|' (did you mean '||'?)");
            k = T_OROR, n = 2;
            break;
        case '&':
            if (d != '&') return perr(P, t, "unexpected character '&' (did you mean '&&'?)");
            k = T_ANDAND, n = 2;
            break;
        case '+': k = T_PLUS; break;
        case '-': k = T_MINUS; break;
        case '*': k = T_STAR; break;
        case '/': k = T_SLASH; break;
        case '%': k = T_PERCENT; break;
        default:
            if ((unsigned char)c >= 0x20 && (unsigned char)c < 0x7f)
                return perr(P, t, "unexpected character '%c'", c);
            return perr(P, t, "unexpected byte 0x%02x", (unsigned char)c);
        }
    }
    /* strings may span lines: keep line counting right */
    for (size_t i = 0; i < n; i++) {
        if (s[i] == '\n') {
            P->line++;
            P->line_start = P->pos + i + 1;
        }
    }
    P->pos += n;
    t->kind = k;
    t->n = n;
    return MD_OK;
}

static int next(parser_t *P)
{
    if (P->has_peek) {
        P->tok = P->peek;
        P->has_peek = false;
        return MD_OK;
    }
    return lex(P, &P->tok);
}

static const tok_t *peek(parser_t *P)
{
    if (!P->has_peek) {
        if (lex(P, &P->peek) != MD_OK) {
            P->peek.kind = T_EOF;
        }
        P->has_peek = true;
    }
    return &P->peek;
}

static bool tok_is(const tok_t *t, const char *word)
{
    size_t n = strlen(word);
    return t->kind == T_IDENT && t->n == n && memcmp(t->p, word, n) == 0;
}

static const char *tok_desc(const tok_t *t, char *buf, size_t cap)
{
    if (t->kind == T_EOF) return "end of input";
    size_t n = t->n < 40 ? t->n : 40;
    snprintf(buf, cap, "`%.*s`", (int)n, t->p);
    return buf;
}

static int expect(parser_t *P, tok_kind_t k, const char *what)
{
    if (P->failed) return MD_EINVAL;
    if (P->tok.kind != k) {
        char b[64];
        return perr(P, &P->tok, "expected %s, found %s", what, tok_desc(&P->tok, b, sizeof(b)));
    }
    return next(P);
}

/* Reserved words may not be used as identifiers in names and attributes by dot. */
static bool is_reserved(md_str_t s)
{
    static const char *const words[] = {"true", "false", "if", "then", "else", "in", "like", "has", "is"};
    for (size_t i = 0; i < sizeof(words) / sizeof(words[0]); i++)
        if (md_str_eqc(s, words[i])) return true;
    return false;
}

/* ---- string unescaping (Rust string literal rules, as rustc_literal_escaper) ---- */

static int hexval(int c)
{
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
}

/*
 * Unescape the body of a string token (without quotes).  When `pat` is
 * non-NULL the result is a like-pattern (code points, MD_LIKE_STAR for '*',
 * and `\*` allowed); otherwise UTF-8 bytes into `out`.
 */
static int unescape(parser_t *P, const tok_t *t, md_buf_t *out, md_buf_t *pat)
{
    const char *s = t->p + 1;
    size_t n = t->n - 2, i = 0;
    while (i < n) {
        uint32_t cp;
        if (s[i] == '\\') {
            if (i + 1 >= n) return perr(P, t, "invalid escape: lone backslash");
            char e = s[i + 1];
            i += 2;
            switch (e) {
            case 'n': cp = '\n'; break;
            case 'r': cp = '\r'; break;
            case 't': cp = '\t'; break;
            case '\\': cp = '\\'; break;
            case '0': cp = 0; break;
            case '\'': cp = '\''; break;
            case '"': cp = '"'; break;
            case '*':
                if (pat == NULL) return perr(P, t, "the input `\\*` is not a valid escape");
                {
                    uint32_t star = '*';
                    md_buf_add(pat, &star, sizeof(star));
                }
                continue;
            case 'x': {
                int h1 = i < n ? hexval((unsigned char)s[i]) : -1;
                int h2 = i + 1 < n ? hexval((unsigned char)s[i + 1]) : -1;
                if (h1 < 0 || h2 < 0) return perr(P, t, "invalid \\x escape in string literal");
                cp = (uint32_t)(h1 * 16 + h2);
                if (cp > 0x7f) return perr(P, t, "\\x escape out of range (must be at most \\x7F)");
                i += 2;
                break;
            }
            case 'u': {
                if (i >= n || s[i] != '{') return perr(P, t, "invalid \\u escape: missing `{`");
                i++;
                uint32_t v = 0;
                int digits = 0;
                if (i < n && s[i] == '_') return perr(P, t, "invalid \\u escape: leading underscore");
                for (;;) {
                    if (i >= n) return perr(P, t, "invalid \\u escape: unclosed");
                    char h = s[i++];
                    if (h == '}') break;
                    if (h == '_') continue;
                    int hv = hexval((unsigned char)h);
                    if (hv < 0) return perr(P, t, "invalid character in \\u escape");
                    if (++digits > 6) return perr(P, t, "overlong \\u escape");
                    v = v * 16 + (uint32_t)hv;
                }
                if (digits == 0) return perr(P, t, "empty \\u escape");
                if (v >= 0xd800 && v <= 0xdfff) return perr(P, t, "\\u escape is a lone surrogate");
                if (v > 0x10ffff) return perr(P, t, "\\u escape out of range");
                cp = v;
                break;
            }
            case '\n': {
                /* line continuation: skip the newline and following whitespace */
                while (i < n && (s[i] == ' ' || s[i] == '\t' || s[i] == '\n' || s[i] == '\r'))
                    i++;
                continue;
            }
            default: return perr(P, t, "the input `\\%c` is not a valid escape", e);
            }
        } else {
            if (s[i] == '\r') return perr(P, t, "bare carriage return in string literal");
            size_t j = i;
            int32_t c = md_utf8_next(s, n, &j);
            if (c < 0) return perr(P, t, "invalid UTF-8 in string literal");
            cp = (uint32_t)c;
            i = j;
        }
        /* The reference maps every '*' that is not written `\*` to a wildcard,
         * including escapes such as `\u{2a}` (unescape.rs, to_pattern). */
        if (pat && cp == '*') cp = MD_LIKE_STAR;
        if (pat)
            md_buf_add(pat, &cp, sizeof(cp));
        else
            md_utf8_put(out, cp);
    }
    if ((out && out->oom) || (pat && pat->oom)) return oom(P);
    return MD_OK;
}

static int str_lit(parser_t *P, const tok_t *t, md_str_t *out)
{
    md_buf_t b;
    md_buf_init(&b);
    int rc = unescape(P, t, &b, NULL);
    if (rc == MD_OK) {
        *out = md_arena_str(P->arena, (md_str_t){b.p ? b.p : "", b.n});
        if (out->p == NULL) rc = oom(P);
    }
    md_buf_free(&b);
    return rc;
}

/* ---- AST construction ---- */

static md_expr_t *node(parser_t *P, md_op_t op, const tok_t *at, uint32_t nargs)
{
    md_expr_t *e = md_arena_zalloc(P->arena, sizeof(*e));
    if (e == NULL) {
        oom(P);
        return NULL;
    }
    e->op = (uint8_t)op;
    e->line = at->line;
    e->col = at->col;
    e->nargs = nargs;
    if (nargs) {
        e->args = md_arena_zalloc(P->arena, nargs * sizeof(*e->args));
        if (e->args == NULL) {
            oom(P);
            return NULL;
        }
    }
    return e;
}

/* Set e's height once its children are in place; refuse trees too tall to evaluate. */
static md_expr_t *sealed(parser_t *P, md_expr_t *e)
{
    if (e == NULL) return NULL;
    uint32_t h = 0;
    for (uint32_t i = 0; i < e->nargs; i++)
        if (e->args[i] && e->args[i]->height > h) h = e->args[i]->height;
    e->height = h + 1;
    if (e->height > MD_CEDAR_MAX_HEIGHT) {
        perr(P, NULL, "expression is too deeply nested (more than %d levels)", MD_CEDAR_MAX_HEIGHT);
        return NULL;
    }
    return e;
}

static md_expr_t *binary(parser_t *P, md_op_t op, const tok_t *at, md_expr_t *a, md_expr_t *b)
{
    if (a == NULL || b == NULL) return NULL;
    md_expr_t *e = node(P, op, at, 2);
    if (e) e->args[0] = a, e->args[1] = b;
    return sealed(P, e);
}

static md_expr_t *unary(parser_t *P, md_op_t op, const tok_t *at, md_expr_t *a)
{
    if (a == NULL) return NULL;
    md_expr_t *e = node(P, op, at, 1);
    if (e) e->args[0] = a;
    return sealed(P, e);
}

/* A growable array of pointers on the heap while parsing, copied to the arena. */
typedef struct vec {
    void **v;
    uint32_t n, cap;
} vec_t;

static int vec_push(parser_t *P, vec_t *v, void *x)
{
    if (v->n == v->cap) {
        uint32_t cap = v->cap ? v->cap * 2 : 8;
        void **nv = realloc(v->v, cap * sizeof(*nv));
        if (nv == NULL) return oom(P);
        v->v = nv;
        v->cap = cap;
    }
    v->v[v->n++] = x;
    return MD_OK;
}

static void **vec_to_arena(parser_t *P, vec_t *v)
{
    if (v->n == 0) return NULL;
    void **a = md_arena_alloc(P->arena, v->n * sizeof(*a));
    if (a == NULL) {
        oom(P);
        return NULL;
    }
    memcpy(a, v->v, v->n * sizeof(*a));
    return a;
}

/* ---- names and entity references ---- */

/* A parsed Name: path components joined with "::", plus whether it is a
 * single unqualified identifier. */
typedef struct name {
    md_str_t full; /* "A::B::C" in the arena */
    md_str_t last; /* basename */
    uint32_t ncomp;
    tok_t at;
} name_t;

/*
 * Parse `Ident ("::" Ident)*` stopping before a `::` that is followed by a
 * string or `{` (an entity reference).  The current token must be an ident.
 */
static int parse_name(parser_t *P, name_t *nm)
{
    md_buf_t b;
    md_buf_init(&b);
    nm->at = P->tok;
    nm->ncomp = 0;
    for (;;) {
        if (P->tok.kind != T_IDENT) {
            char d[64];
            md_buf_free(&b);
            return perr(P, &P->tok, "expected an identifier, found %s", tok_desc(&P->tok, d, sizeof(d)));
        }
        if (nm->ncomp) md_buf_adds(&b, "::");
        md_buf_add(&b, P->tok.p, P->tok.n);
        nm->last = (md_str_t){P->tok.p, P->tok.n};
        nm->ncomp++;
        if (next(P) != MD_OK) break;
        if (P->tok.kind != T_COLONCOLON) break;
        const tok_t *pk = peek(P);
        if (pk->kind != T_IDENT) break; /* `::"id"` or `::{` belongs to the caller */
        if (next(P) != MD_OK) break;
    }
    if (P->failed) {
        md_buf_free(&b);
        return MD_EINVAL;
    }
    nm->full = md_arena_str(P->arena, (md_str_t){b.p, b.n});
    md_buf_free(&b);
    if (nm->full.p == NULL) return oom(P);
    return MD_OK;
}

/* Names used as entity types and in entity refs: no reserved component
 * (cst_to_ast.rs to_valid_ident), and no `__cedar` namespace. */
static int check_type_name(parser_t *P, const name_t *nm)
{
    const char *s = nm->full.p;
    size_t n = nm->full.n, i = 0;
    while (i <= n) {
        size_t j = i;
        while (j < n && !(s[j] == ':' && j + 1 < n && s[j + 1] == ':'))
            j++;
        md_str_t comp = {s + i, j - i};
        if (is_reserved(comp))
            return perr(P, &nm->at, "this identifier is reserved and cannot be used: `%.*s`", (int)comp.n,
                        comp.p);
        if (md_str_eqc(comp, "__cedar"))
            return perr(P, &nm->at, "the name `%.*s` contains `__cedar`, which is reserved", (int)n, s);
        i = j + 2;
    }
    return MD_OK;
}

/* An identifier used as an attribute name (after `.` or `has`, or as a record key). */
static int check_attr_ident(parser_t *P, const tok_t *t)
{
    md_str_t a = {t->p, t->n};
    if (is_reserved(a))
        return perr(P, t, "this identifier is reserved and cannot be used as an attribute name: `%.*s`",
                    (int)a.n, a.p);
    if (md_str_eqc(a, "__cedar"))
        return perr(P, t, "`__cedar` is reserved and cannot be used as an attribute name");
    return MD_OK;
}

/* After a name, at `::` followed by a string: parse the entity reference. */
static const md_uid_t *parse_ref_tail(parser_t *P, const name_t *nm)
{
    if (expect(P, T_COLONCOLON, "`::`") != MD_OK) return NULL;
    if (P->tok.kind == T_LBRACE)
        return perr(P, &P->tok, "invalid entity literal: record-style entity references are not supported"),
               NULL;
    if (P->tok.kind != T_STRING) {
        char d[64];
        perr(P, &P->tok, "expected an entity id string, found %s", tok_desc(&P->tok, d, sizeof(d)));
        return NULL;
    }
    if (check_type_name(P, nm) != MD_OK) return NULL;
    md_str_t id;
    if (str_lit(P, &P->tok, &id) != MD_OK) return NULL;
    if (next(P) != MD_OK) return NULL;
    md_uid_t *u = md_uid_new(P->arena, nm->full, id);
    if (u == NULL) oom(P);
    return u;
}

/* ---- expressions ---- */

static md_expr_t *parse_expr(parser_t *P);
static md_expr_t *parse_add(parser_t *P);

static int enter(parser_t *P)
{
    if (++P->depth > MD_CEDAR_MAX_DEPTH) return perr(P, &P->tok, "expression nested too deeply");
    return MD_OK;
}

static const struct {
    const char *name;
    md_extfn_t fn;
    bool method;
} extfns[] = {
    {"decimal", MD_EXT_DECIMAL, false},
    {"lessThan", MD_EXT_LESS_THAN, true},
    {"lessThanOrEqual", MD_EXT_LESS_THAN_OR_EQUAL, true},
    {"greaterThan", MD_EXT_GREATER_THAN, true},
    {"greaterThanOrEqual", MD_EXT_GREATER_THAN_OR_EQUAL, true},
    {"ip", MD_EXT_IP, false},
    {"isIpv4", MD_EXT_IS_IPV4, true},
    {"isIpv6", MD_EXT_IS_IPV6, true},
    {"isLoopback", MD_EXT_IS_LOOPBACK, true},
    {"isMulticast", MD_EXT_IS_MULTICAST, true},
    {"isInRange", MD_EXT_IS_IN_RANGE, true},
    {"datetime", MD_EXT_DATETIME, false},
    {"duration", MD_EXT_DURATION, false},
    {"offset", MD_EXT_OFFSET, true},
    {"durationSince", MD_EXT_DURATION_SINCE, true},
    {"toDate", MD_EXT_TO_DATE, true},
    {"toTime", MD_EXT_TO_TIME, true},
    {"toMilliseconds", MD_EXT_TO_MILLISECONDS, true},
    {"toSeconds", MD_EXT_TO_SECONDS, true},
    {"toMinutes", MD_EXT_TO_MINUTES, true},
    {"toHours", MD_EXT_TO_HOURS, true},
    {"toDays", MD_EXT_TO_DAYS, true},
};

const char *md_extfn_name(int fn)
{
    for (size_t i = 0; i < sizeof(extfns) / sizeof(extfns[0]); i++)
        if ((int)extfns[i].fn == fn) return extfns[i].name;
    return "?";
}

int md_extfn_lookup(md_str_t name, bool *method)
{
    for (size_t i = 0; i < sizeof(extfns) / sizeof(extfns[0]); i++)
        if (md_str_eqc(name, extfns[i].name)) {
            *method = extfns[i].method;
            return (int)extfns[i].fn;
        }
    return 0;
}

static bool is_builtin_method(md_str_t s, md_op_t *op)
{
    static const struct {
        const char *n;
        md_op_t op;
    } m[] = {{"contains", MD_OP_CONTAINS},        {"containsAll", MD_OP_CONTAINS_ALL},
             {"containsAny", MD_OP_CONTAINS_ANY}, {"isEmpty", MD_OP_IS_EMPTY},
             {"getTag", MD_OP_GET_TAG},           {"hasTag", MD_OP_HAS_TAG}};
    for (size_t i = 0; i < sizeof(m) / sizeof(m[0]); i++)
        if (md_str_eqc(s, m[i].n)) {
            if (op) *op = m[i].op;
            return true;
        }
    return false;
}

/* Parse `( args )` (the current token is `(`). */
static int parse_args(parser_t *P, vec_t *args)
{
    if (expect(P, T_LPAREN, "`(`") != MD_OK) return MD_EINVAL;
    while (P->tok.kind != T_RPAREN) {
        md_expr_t *a = parse_expr(P);
        if (a == NULL) return MD_EINVAL;
        if (vec_push(P, args, a) != MD_OK) return MD_ENOMEM;
        if (P->tok.kind == T_COMMA) {
            if (next(P) != MD_OK) return MD_EINVAL;
            continue;
        }
        if (P->tok.kind != T_RPAREN) return expect(P, T_RPAREN, "`,` or `)`");
    }
    return next(P);
}

static md_expr_t *make_call(parser_t *P, const tok_t *at, md_op_t op, int fn, md_expr_t *self, vec_t *args)
{
    uint32_t n = args->n + (self ? 1 : 0);
    md_expr_t *e = node(P, op, at, n);
    if (e == NULL) return NULL;
    e->var = (uint8_t)fn;
    uint32_t k = 0;
    if (self) e->args[k++] = self;
    for (uint32_t i = 0; i < args->n; i++)
        e->args[k++] = args->v[i];
    return sealed(P, e);
}

static md_expr_t *parse_method(parser_t *P, md_expr_t *self, const tok_t *mtok)
{
    md_str_t m = {mtok->p, mtok->n};
    vec_t args = {0};
    md_expr_t *r = NULL;
    if (parse_args(P, &args) != MD_OK) goto out;
    md_op_t op;
    if (is_builtin_method(m, &op)) {
        uint32_t want = op == MD_OP_IS_EMPTY ? 0 : 1;
        if (args.n != want) {
            perr(P, mtok, "call to `%.*s` requires exactly %u argument%s, but got %u", (int)m.n, m.p, want,
                 want == 1 ? "" : "s", args.n);
            goto out;
        }
        r = make_call(P, mtok, op, 0, self, &args);
        goto out;
    }
    bool method = false;
    int fn = md_extfn_lookup(m, &method);
    if (fn && method) {
        r = make_call(P, mtok, MD_OP_EXT, fn, self, &args);
    } else if (fn) {
        perr(P, mtok, "`%.*s` is a function, not a method; call it as `%.*s(...)`", (int)m.n, m.p, (int)m.n,
             m.p);
    } else {
        perr(P, mtok, "`%.*s` is not a known method", (int)m.n, m.p);
    }
out:
    free(args.v);
    return r;
}

static md_expr_t *parse_ext_call(parser_t *P, const name_t *nm)
{
    vec_t args = {0};
    md_expr_t *r = NULL;
    if (parse_args(P, &args) != MD_OK) goto out;
    bool method = false;
    int fn = nm->ncomp == 1 ? md_extfn_lookup(nm->full, &method) : 0;
    if (nm->ncomp == 1 && (method || is_builtin_method(nm->full, NULL))) {
        perr(P, &nm->at, "`%.*s` is a method, not a function; call it as `e.%.*s(...)`", (int)nm->full.n,
             nm->full.p, (int)nm->full.n, nm->full.p);
        goto out;
    }
    if (!fn) {
        perr(P, &nm->at, "`%.*s` is not a known extension function", (int)nm->full.n, nm->full.p);
        goto out;
    }
    r = make_call(P, &nm->at, MD_OP_EXT, fn, NULL, &args);
out:
    free(args.v);
    return r;
}

static md_expr_t *lit_node(parser_t *P, const tok_t *at, md_cv_t v)
{
    md_expr_t *e = node(P, MD_OP_LIT, at, 0);
    if (e) e->lit = v;
    return sealed(P, e);
}

static int var_of(md_str_t s)
{
    if (md_str_eqc(s, "principal")) return MD_VAR_PRINCIPAL;
    if (md_str_eqc(s, "action")) return MD_VAR_ACTION;
    if (md_str_eqc(s, "resource")) return MD_VAR_RESOURCE;
    if (md_str_eqc(s, "context")) return MD_VAR_CONTEXT;
    return 0;
}

/* Record key: an identifier or a string literal. */
static int parse_record_key(parser_t *P, md_str_t *key)
{
    if (P->tok.kind == T_STRING) {
        if (str_lit(P, &P->tok, key) != MD_OK) return MD_EINVAL;
        return next(P);
    }
    if (P->tok.kind == T_IDENT) {
        if (peek(P)->kind != T_COLON) {
            char d[64];
            return perr(P, &P->tok,
                        "invalid record key: expected an identifier or string followed by `:`, near %s",
                        tok_desc(&P->tok, d, sizeof(d)));
        }
        if (check_attr_ident(P, &P->tok) != MD_OK) return MD_EINVAL;
        *key = md_arena_str(P->arena, (md_str_t){P->tok.p, P->tok.n});
        if (key->p == NULL) return oom(P);
        return next(P);
    }
    char d[64];
    return perr(P, &P->tok, "invalid record key %s: expected an identifier or a string",
                tok_desc(&P->tok, d, sizeof(d)));
}

static md_expr_t *parse_primary(parser_t *P, bool *is_num_lit, uint64_t *num)
{
    tok_t t = P->tok;
    char d[64];
    *is_num_lit = false;
    switch (t.kind) {
    case T_NUMBER: {
        /* u64 parse, as the reference grammar does */
        uint64_t v = 0;
        for (size_t i = 0; i < t.n; i++) {
            unsigned dg = (unsigned)(t.p[i] - '0');
            if (v > (UINT64_MAX - dg) / 10) {
                perr(P, &t, "integer literal is too large");
                return NULL;
            }
            v = v * 10 + dg;
        }
        if (next(P) != MD_OK) return NULL;
        *is_num_lit = true;
        *num = v;
        /* The caller folds a leading dash; here only the positive range is valid. */
        return lit_node(P, &t, md_cv_long(v > (uint64_t)INT64_MAX ? 0 : (int64_t)v));
    }
    case T_STRING: {
        md_str_t s;
        if (str_lit(P, &t, &s) != MD_OK) return NULL;
        if (next(P) != MD_OK) return NULL;
        return lit_node(P, &t, md_cv_string(s));
    }
    case T_SLOT: {
        md_str_t s = {t.p, t.n};
        if (!md_str_eqc(s, "?principal") && !md_str_eqc(s, "?resource")) {
            perr(P, &t, "`%.*s` is not a valid template slot", (int)s.n, s.p);
            return NULL;
        }
        if (!P->in_scope) {
            perr(P, &t,
                 "found template slot `%.*s` in a `when` or `unless` clause; slots are only allowed in the "
                 "policy scope",
                 (int)s.n, s.p);
            return NULL;
        }
        if (next(P) != MD_OK) return NULL;
        md_expr_t *e = node(P, MD_OP_SLOT, &t, 0);
        if (e) e->var = md_str_eqc(s, "?principal") ? MD_VAR_PRINCIPAL : MD_VAR_RESOURCE;
        return sealed(P, e);
    }
    case T_LPAREN: {
        if (next(P) != MD_OK) return NULL;
        md_expr_t *e = parse_expr(P);
        if (e == NULL || expect(P, T_RPAREN, "`)`") != MD_OK) return NULL;
        return e;
    }
    case T_LBRACKET: {
        if (next(P) != MD_OK) return NULL;
        vec_t items = {0};
        md_expr_t *e = NULL;
        while (P->tok.kind != T_RBRACKET) {
            md_expr_t *x = parse_expr(P);
            if (x == NULL || vec_push(P, &items, x) != MD_OK) goto set_out;
            if (P->tok.kind == T_COMMA) {
                if (next(P) != MD_OK) goto set_out;
                continue;
            }
            if (P->tok.kind != T_RBRACKET) {
                expect(P, T_RBRACKET, "`,` or `]`");
                goto set_out;
            }
        }
        if (next(P) != MD_OK) goto set_out;
        e = node(P, MD_OP_SET, &t, items.n);
        if (e)
            for (uint32_t i = 0; i < items.n; i++)
                e->args[i] = items.v[i];
        e = sealed(P, e);
    set_out:
        free(items.v);
        return P->failed ? NULL : e;
    }
    case T_LBRACE: {
        if (next(P) != MD_OK) return NULL;
        vec_t vals = {0};
        md_buf_t keys;
        md_buf_init(&keys);
        md_expr_t *e = NULL;
        while (P->tok.kind != T_RBRACE) {
            tok_t kt = P->tok;
            md_str_t key;
            if (parse_record_key(P, &key) != MD_OK) goto rec_out;
            for (size_t i = 0; i < keys.n / sizeof(md_str_t); i++)
                if (md_str_eq(((md_str_t *)keys.p)[i], key)) {
                    perr(P, &kt, "duplicate key `%.*s` in record literal", (int)key.n, key.p);
                    goto rec_out;
                }
            md_buf_add(&keys, &key, sizeof(key));
            if (expect(P, T_COLON, "`:`") != MD_OK) goto rec_out;
            md_expr_t *x = parse_expr(P);
            if (x == NULL || vec_push(P, &vals, x) != MD_OK) goto rec_out;
            if (P->tok.kind == T_COMMA) {
                if (next(P) != MD_OK) goto rec_out;
                continue;
            }
            if (P->tok.kind != T_RBRACE) {
                expect(P, T_RBRACE, "`,` or `}`");
                goto rec_out;
            }
        }
        if (keys.oom) {
            oom(P);
            goto rec_out;
        }
        if (next(P) != MD_OK) goto rec_out;
        e = node(P, MD_OP_RECORD, &t, vals.n);
        if (e && vals.n) {
            e->keys = md_arena_alloc(P->arena, vals.n * sizeof(md_str_t));
            if (e->keys == NULL) {
                oom(P);
                e = NULL;
                goto rec_out;
            }
            memcpy(e->keys, keys.p, vals.n * sizeof(md_str_t));
            for (uint32_t i = 0; i < vals.n; i++)
                e->args[i] = vals.v[i];
        }
        e = sealed(P, e);
    rec_out:
        free(vals.v);
        md_buf_free(&keys);
        return P->failed ? NULL : e;
    }
    case T_IDENT: {
        if (tok_is(&t, "true") || tok_is(&t, "false")) {
            if (next(P) != MD_OK) return NULL;
            if (P->tok.kind == T_COLONCOLON) {
                perr(P, &t, "this identifier is reserved and cannot be used: `%.*s`", (int)t.n, t.p);
                return NULL;
            }
            return lit_node(P, &t, md_cv_bool(tok_is(&t, "true")));
        }
        if (tok_is(&t, "if")) {
            perr(P, &t, "unexpected `if`: wrap an if-then-else in parentheses here");
            return NULL;
        }
        name_t nm;
        if (parse_name(P, &nm) != MD_OK) return NULL;
        if (P->tok.kind == T_COLONCOLON) {
            const md_uid_t *u = parse_ref_tail(P, &nm);
            if (u == NULL) return NULL;
            md_expr_t *e = lit_node(P, &t, md_cv_entity(u));
            return e;
        }
        if (P->tok.kind == T_LPAREN) return parse_ext_call(P, &nm);
        int v = nm.ncomp == 1 ? var_of(nm.full) : 0;
        if (v) {
            md_expr_t *e = node(P, MD_OP_VAR, &t, 0);
            if (e) e->var = (uint8_t)v;
            return sealed(P, e);
        }
        perr(P, &t, "invalid variable `%.*s`: expected principal, action, resource or context",
             (int)nm.full.n, nm.full.p);
        return NULL;
    }
    default: perr(P, &t, "unexpected %s in expression", tok_desc(&t, d, sizeof(d))); return NULL;
    }
}

static md_expr_t *parse_member_rest(parser_t *P, md_expr_t *e)
{
    while (e && !P->failed) {
        if (P->tok.kind == T_DOT) {
            if (next(P) != MD_OK) return NULL;
            tok_t id = P->tok;
            if (id.kind != T_IDENT) {
                char d[64];
                perr(P, &id, "expected an attribute or method name after `.`, found %s",
                     tok_desc(&id, d, sizeof(d)));
                return NULL;
            }
            if (next(P) != MD_OK) return NULL;
            if (P->tok.kind == T_LPAREN) {
                e = parse_method(P, e, &id);
                continue;
            }
            md_str_t a = {id.p, id.n};
            if (check_attr_ident(P, &id) != MD_OK) return NULL;
            md_expr_t *g = node(P, MD_OP_GETATTR, &id, 1);
            if (g == NULL) return NULL;
            g->args[0] = e;
            g->name = md_arena_str(P->arena, a);
            e = sealed(P, g);
        } else if (P->tok.kind == T_LBRACKET) {
            tok_t at = P->tok;
            if (next(P) != MD_OK) return NULL;
            if (P->tok.kind != T_STRING) {
                perr(P, &P->tok, "the index of `[...]` must be a string literal");
                return NULL;
            }
            md_str_t a;
            if (str_lit(P, &P->tok, &a) != MD_OK || next(P) != MD_OK) return NULL;
            if (expect(P, T_RBRACKET, "`]`") != MD_OK) return NULL;
            md_expr_t *g = node(P, MD_OP_GETATTR, &at, 1);
            if (g == NULL) return NULL;
            g->args[0] = e;
            g->name = a;
            e = sealed(P, g);
        } else if (P->tok.kind == T_LPAREN) {
            perr(P, &P->tok, "this expression cannot be called like a function");
            return NULL;
        } else {
            break;
        }
    }
    return e;
}

static md_expr_t *parse_unary(parser_t *P)
{
    tok_t at = P->tok;
    int nbang = 0, ndash = 0;
    while (P->tok.kind == T_BANG) {
        nbang++;
        if (next(P) != MD_OK) return NULL;
    }
    if (nbang == 0)
        while (P->tok.kind == T_MINUS) {
            ndash++;
            if (next(P) != MD_OK) return NULL;
        }
    if (nbang > 4 || ndash > 4) {
        perr(P, &at, "too many occurrences of `%s`: at most four are allowed", nbang ? "!" : "-");
        return NULL;
    }
    if (P->tok.kind == T_BANG || P->tok.kind == T_MINUS) {
        char d[64];
        perr(P, &P->tok, "unexpected %s: mix of `!` and `-` needs parentheses",
             tok_desc(&P->tok, d, sizeof(d)));
        return NULL;
    }
    bool is_num = false;
    uint64_t num = 0;
    tok_t pt = P->tok;
    md_expr_t *e = parse_primary(P, &is_num, &num);
    if (e == NULL) return NULL;
    bool bare_num = is_num && P->tok.kind != T_DOT && P->tok.kind != T_LBRACKET && P->tok.kind != T_LPAREN;
    if (is_num && !(bare_num && ndash > 0) && num > (uint64_t)INT64_MAX) {
        perr(P, &pt, "integer literal `%llu` is too large", (unsigned long long)num);
        return NULL;
    }
    if (bare_num && ndash > 0) {
        if (num > (uint64_t)INT64_MAX + 1) {
            perr(P, &pt, "integer literal `-%llu` is too large", (unsigned long long)num);
            return NULL;
        }
        e->lit = md_cv_long(num == (uint64_t)INT64_MAX + 1 ? INT64_MIN : -(int64_t)num);
        ndash--;
    }
    e = parse_member_rest(P, e);
    for (int i = 0; e && i < ndash; i++)
        e = unary(P, MD_OP_NEG, &at, e);
    for (int i = 0; e && i < nbang; i++)
        e = unary(P, MD_OP_NOT, &at, e);
    return e;
}

static md_expr_t *parse_mult(parser_t *P)
{
    md_expr_t *e = parse_unary(P);
    while (e && (P->tok.kind == T_STAR || P->tok.kind == T_SLASH || P->tok.kind == T_PERCENT)) {
        tok_t op = P->tok;
        if (op.kind != T_STAR) {
            perr(P, &op, "division and remainder (`%c`) are not supported in Cedar", *op.p);
            return NULL;
        }
        if (next(P) != MD_OK) return NULL;
        e = binary(P, MD_OP_MUL, &op, e, parse_unary(P));
    }
    return e;
}

static md_expr_t *parse_add(parser_t *P)
{
    if (enter(P) != MD_OK) return NULL;
    md_expr_t *e = parse_mult(P);
    while (e && (P->tok.kind == T_PLUS || P->tok.kind == T_MINUS)) {
        tok_t op = P->tok;
        if (next(P) != MD_OK) return NULL;
        e = binary(P, op.kind == T_PLUS ? MD_OP_ADD : MD_OP_SUB, &op, e, parse_mult(P));
    }
    P->depth--;
    return e;
}

/* A HAS node for one attribute on target (target is shared, not copied). */
static md_expr_t *has_node(parser_t *P, const tok_t *at, md_expr_t *target, md_str_t attr)
{
    md_expr_t *h = node(P, MD_OP_HAS, at, 1);
    if (h == NULL) return NULL;
    h->args[0] = target;
    h->name = attr;
    return sealed(P, h);
}

static md_expr_t *parse_has_rhs(parser_t *P, md_expr_t *target, const tok_t *at)
{
    if (P->tok.kind == T_STRING) {
        md_str_t a;
        if (str_lit(P, &P->tok, &a) != MD_OK || next(P) != MD_OK) return NULL;
        return has_node(P, at, target, a);
    }
    if (P->tok.kind != T_IDENT) {
        char d[64];
        perr(P, &P->tok, "expected an attribute name or string after `has`, found %s",
             tok_desc(&P->tok, d, sizeof(d)));
        return NULL;
    }
    /* a.b.c : target has a && target.a has b && target.a.b has c */
    md_expr_t *result = NULL, *cur = target;
    for (;;) {
        tok_t id = P->tok;
        if (check_attr_ident(P, &id) != MD_OK) return NULL;
        md_str_t a = md_arena_str(P->arena, (md_str_t){id.p, id.n});
        if (a.p == NULL) {
            oom(P);
            return NULL;
        }
        if (next(P) != MD_OK) return NULL;
        md_expr_t *h = has_node(P, &id, cur, a);
        if (h == NULL) return NULL;
        result = result ? binary(P, MD_OP_AND, at, result, h) : h;
        if (result == NULL) return NULL;
        if (P->tok.kind != T_DOT) break;
        if (next(P) != MD_OK) return NULL;
        if (P->tok.kind != T_IDENT) {
            perr(P, &P->tok, "expected an attribute name after `.` in `has`");
            return NULL;
        }
        md_expr_t *g = node(P, MD_OP_GETATTR, &id, 1);
        if (g == NULL) return NULL;
        g->args[0] = cur;
        g->name = a;
        cur = sealed(P, g);
        if (cur == NULL) return NULL;
    }
    if (P->tok.kind == T_LPAREN || P->tok.kind == T_LBRACKET) {
        perr(P, &P->tok, "invalid attribute path on the right of `has`");
        return NULL;
    }
    return result;
}

static md_op_t relop(tok_kind_t k)
{
    switch (k) {
    case T_EQEQ: return MD_OP_EQ;
    case T_NE: return MD_OP_NE;
    case T_LT: return MD_OP_LT;
    case T_LE: return MD_OP_LE;
    case T_GT: return MD_OP_GT;
    case T_GE: return MD_OP_GE;
    default: return 0;
    }
}

static bool at_relop(parser_t *P)
{
    return relop(P->tok.kind) || P->tok.kind == T_EQ || tok_is(&P->tok, "in") || tok_is(&P->tok, "has") ||
           tok_is(&P->tok, "like") || tok_is(&P->tok, "is");
}

static int parse_type_name(parser_t *P, name_t *nm)
{
    if (P->tok.kind != T_IDENT) {
        char d[64];
        return perr(P, &P->tok, "expected an entity type name, found %s", tok_desc(&P->tok, d, sizeof(d)));
    }
    if (parse_name(P, nm) != MD_OK) return MD_EINVAL;
    if (P->tok.kind == T_COLONCOLON || P->tok.kind == T_DOT || P->tok.kind == T_LPAREN)
        return perr(P, &P->tok, "expected an entity type name after `is`");
    return check_type_name(P, nm);
}

static md_expr_t *parse_relation(parser_t *P)
{
    md_expr_t *e = parse_add(P);
    if (e == NULL || !at_relop(P)) return e;
    tok_t op = P->tok;
    if (op.kind == T_EQ) {
        perr(P, &op, "`=` is not a valid operator; use `==` for equality");
        return NULL;
    }
    if (next(P) != MD_OK) return NULL;
    if (tok_is(&op, "has")) {
        e = parse_has_rhs(P, e, &op);
    } else if (tok_is(&op, "like")) {
        if (P->tok.kind != T_STRING) {
            perr(P, &P->tok, "the right side of `like` must be a string literal pattern");
            return NULL;
        }
        md_buf_t pat;
        md_buf_init(&pat);
        tok_t pt = P->tok;
        if (unescape(P, &pt, NULL, &pat) != MD_OK || next(P) != MD_OK) {
            md_buf_free(&pat);
            return NULL;
        }
        md_expr_t *l = node(P, MD_OP_LIKE, &op, 1);
        if (l) {
            l->args[0] = e;
            l->npat = (uint32_t)(pat.n / sizeof(uint32_t));
            l->pat = (const uint32_t *)md_arena_memdup(P->arena, pat.p ? pat.p : "", pat.n);
            if (l->pat == NULL) l = NULL, oom(P);
        }
        l = sealed(P, l);
        md_buf_free(&pat);
        if (P->tok.kind == T_DOT || P->tok.kind == T_LBRACKET || P->tok.kind == T_PLUS ||
            P->tok.kind == T_MINUS || P->tok.kind == T_STAR) {
            perr(P, &P->tok, "the right side of `like` must be a string literal pattern");
            return NULL;
        }
        e = l;
    } else if (tok_is(&op, "is")) {
        name_t nm;
        if (parse_type_name(P, &nm) != MD_OK) return NULL;
        md_expr_t *is = node(P, MD_OP_IS, &op, 1);
        if (is == NULL) return NULL;
        is->args[0] = e;
        is->name = nm.full;
        if (sealed(P, is) == NULL) return NULL;
        if (tok_is(&P->tok, "in")) {
            tok_t in = P->tok;
            if (next(P) != MD_OK) return NULL;
            md_expr_t *rhs = parse_add(P);
            e = binary(P, MD_OP_AND, &op, is, binary(P, MD_OP_IN, &in, e, rhs));
        } else {
            e = is;
        }
    } else {
        md_op_t o = tok_is(&op, "in") ? MD_OP_IN : relop(op.kind);
        e = binary(P, o, &op, e, parse_add(P));
    }
    if (e && at_relop(P)) {
        perr(P, &P->tok, "relational operators are not associative; use parentheses");
        return NULL;
    }
    return e;
}

static md_expr_t *parse_and(parser_t *P)
{
    md_expr_t *e = parse_relation(P);
    while (e && P->tok.kind == T_ANDAND) {
        tok_t op = P->tok;
        if (next(P) != MD_OK) return NULL;
        e = binary(P, MD_OP_AND, &op, e, parse_relation(P));
    }
    return e;
}

static md_expr_t *parse_or(parser_t *P)
{
    md_expr_t *e = parse_and(P);
    while (e && P->tok.kind == T_OROR) {
        tok_t op = P->tok;
        if (next(P) != MD_OK) return NULL;
        e = binary(P, MD_OP_OR, &op, e, parse_and(P));
    }
    return e;
}

static md_expr_t *parse_expr(parser_t *P)
{
    if (enter(P) != MD_OK) return NULL;
    md_expr_t *e;
    if (tok_is(&P->tok, "if")) {
        tok_t at = P->tok;
        if (next(P) != MD_OK) return NULL;
        md_expr_t *c = parse_expr(P);
        if (c == NULL) return NULL;
        if (!tok_is(&P->tok, "then")) {
            perr(P, &P->tok, "expected `then`");
            return NULL;
        }
        if (next(P) != MD_OK) return NULL;
        md_expr_t *a = parse_expr(P);
        if (a == NULL) return NULL;
        if (!tok_is(&P->tok, "else")) {
            perr(P, &P->tok, "expected `else`");
            return NULL;
        }
        if (next(P) != MD_OK) return NULL;
        md_expr_t *b = parse_expr(P);
        if (b == NULL) return NULL;
        e = node(P, MD_OP_IF, &at, 3);
        if (e) e->args[0] = c, e->args[1] = a, e->args[2] = b;
        e = sealed(P, e);
    } else {
        e = parse_or(P);
    }
    P->depth--;
    return P->failed ? NULL : e;
}

/* ---- scope ---- */

static bool is_action_type(md_str_t t)
{
    return md_str_eqc(t, "Action") || (t.n > 8 && memcmp(t.p + t.n - 8, "::Action", 8) == 0);
}

/* Parse an entity reference or slot in a scope. */
static int parse_scope_target(parser_t *P, int var, md_scope_t *sc)
{
    if (P->tok.kind == T_SLOT) {
        md_str_t s = {P->tok.p, P->tok.n};
        int want = var == MD_VAR_PRINCIPAL ? MD_VAR_PRINCIPAL : MD_VAR_RESOURCE;
        bool is_p = md_str_eqc(s, "?principal"), is_r = md_str_eqc(s, "?resource");
        if (!is_p && !is_r) return perr(P, &P->tok, "`%.*s` is not a valid template slot", (int)s.n, s.p);
        if (var == MD_VAR_ACTION || (is_p ? MD_VAR_PRINCIPAL : MD_VAR_RESOURCE) != want)
            return perr(P, &P->tok, "the slot `%.*s` cannot be used in the %s scope", (int)s.n, s.p,
                        var == MD_VAR_PRINCIPAL ? "principal"
                        : var == MD_VAR_ACTION  ? "action"
                                                : "resource");
        sc->slot = true;
        return next(P);
    }
    if (P->tok.kind != T_IDENT || tok_is(&P->tok, "true") || tok_is(&P->tok, "false") ||
        tok_is(&P->tok, "if")) {
        return perr(P, &P->tok, "expected an entity uid%s",
                    var == MD_VAR_ACTION ? "" : " or a template slot");
    }
    name_t nm;
    if (parse_name(P, &nm) != MD_OK) return MD_EINVAL;
    if (P->tok.kind != T_COLONCOLON) return perr(P, &nm.at, "expected an entity uid, found a name");
    sc->uid = parse_ref_tail(P, &nm);
    return sc->uid ? MD_OK : MD_EINVAL;
}

static int parse_scope_var(parser_t *P, int var, md_scope_t *sc)
{
    static const char *const names[] = {"", "principal", "action", "resource"};
    if (!tok_is(&P->tok, names[var])) {
        char d[64];
        return perr(P, &P->tok, "expected `%s` in the policy scope, found %s", names[var],
                    tok_desc(&P->tok, d, sizeof(d)));
    }
    if (next(P) != MD_OK) return MD_EINVAL;
    if (P->tok.kind == T_COLON)
        return perr(P, &P->tok, "type constraints using `:` are not supported; use `is`");
    sc->kind = MD_SCOPE_ANY;
    if (tok_is(&P->tok, "is")) {
        if (var == MD_VAR_ACTION) return perr(P, &P->tok, "`is` cannot appear in the action scope");
        if (next(P) != MD_OK) return MD_EINVAL;
        name_t nm;
        if (parse_type_name(P, &nm) != MD_OK) return MD_EINVAL;
        sc->kind = MD_SCOPE_IS;
        sc->type = nm.full;
        if (tok_is(&P->tok, "in")) {
            if (next(P) != MD_OK) return MD_EINVAL;
            sc->kind = MD_SCOPE_IS_IN;
            return parse_scope_target(P, var, sc);
        }
        if (P->tok.kind == T_EQEQ)
            return perr(P, &P->tok, "`is` and `==` cannot be combined in a scope; use `is ... in`");
        return MD_OK;
    }
    if (P->tok.kind == T_EQEQ) {
        if (next(P) != MD_OK) return MD_EINVAL;
        sc->kind = MD_SCOPE_EQ;
        if (parse_scope_target(P, var, sc) != MD_OK) return MD_EINVAL;
    } else if (tok_is(&P->tok, "in")) {
        if (next(P) != MD_OK) return MD_EINVAL;
        sc->kind = MD_SCOPE_IN;
        if (var == MD_VAR_ACTION && P->tok.kind == T_LBRACKET) {
            tok_t lb = P->tok;
            if (next(P) != MD_OK) return MD_EINVAL;
            vec_t uids = {0};
            while (P->tok.kind != T_RBRACKET) {
                md_scope_t one = {0};
                if (parse_scope_target(P, var, &one) != MD_OK ||
                    vec_push(P, &uids, (void *)one.uid) != MD_OK) {
                    free(uids.v);
                    return MD_EINVAL;
                }
                if (P->tok.kind == T_COMMA) {
                    if (next(P) != MD_OK) {
                        free(uids.v);
                        return MD_EINVAL;
                    }
                    continue;
                }
                if (P->tok.kind != T_RBRACKET) {
                    free(uids.v);
                    return expect(P, T_RBRACKET, "`,` or `]`");
                }
            }
            (void)lb;
            sc->kind = MD_SCOPE_IN_SET;
            sc->nuids = uids.n;
            sc->uids = (const md_uid_t **)vec_to_arena(P, &uids);
            free(uids.v);
            if (P->failed || next(P) != MD_OK) return MD_EINVAL;
        } else {
            if (parse_scope_target(P, var, sc) != MD_OK) return MD_EINVAL;
            if (tok_is(&P->tok, "is") && var != MD_VAR_ACTION)
                return perr(P, &P->tok, "`in ... is ...` is not valid; write `is ... in ...`");
            if (tok_is(&P->tok, "is")) return perr(P, &P->tok, "`is` cannot appear in the action scope");
        }
    } else if (P->tok.kind == T_EQ) {
        return perr(P, &P->tok, "`=` is not a valid operator; use `==`");
    } else if (relop(P->tok.kind) || tok_is(&P->tok, "has") || tok_is(&P->tok, "like")) {
        char d[64];
        return perr(P, &P->tok, "%s is not a valid operator in the policy scope",
                    tok_desc(&P->tok, d, sizeof(d)));
    }
    if (var == MD_VAR_ACTION) {
        const md_uid_t *bad = NULL;
        if (sc->uid && !is_action_type(sc->uid->type)) bad = sc->uid;
        for (uint32_t i = 0; i < sc->nuids && !bad; i++)
            if (!is_action_type(sc->uids[i]->type)) bad = sc->uids[i];
        if (bad)
            return perr(P, &P->tok,
                        "expected an entity uid with type `Action` in the action scope, found `%.*s`",
                        (int)bad->type.n, bad->type.p);
    }
    return MD_OK;
}

/* ---- policies ---- */

static int parse_policy(parser_t *P, md_policy_t *pol)
{
    vec_t anns = {0}, conds = {0};
    md_buf_t unless;
    md_buf_init(&unless);
    int rc = MD_EINVAL;

    pol->line = P->tok.line;
    pol->col = P->tok.col;
    while (P->tok.kind == T_AT) {
        tok_t at = P->tok;
        if (next(P) != MD_OK) goto out;
        if (P->tok.kind != T_IDENT) {
            perr(P, &P->tok, "expected an annotation name after `@`");
            goto out;
        }
        md_annotation_t *a = md_arena_zalloc(P->arena, sizeof(*a));
        if (a == NULL) {
            oom(P);
            goto out;
        }
        a->key = md_arena_str(P->arena, (md_str_t){P->tok.p, P->tok.n});
        if (next(P) != MD_OK) goto out;
        if (P->tok.kind == T_LPAREN) {
            if (next(P) != MD_OK) goto out;
            if (P->tok.kind != T_STRING) {
                perr(P, &P->tok, "expected a string as the annotation value");
                goto out;
            }
            if (str_lit(P, &P->tok, &a->value) != MD_OK || next(P) != MD_OK) goto out;
            if (expect(P, T_RPAREN, "`)`") != MD_OK) goto out;
        } else {
            a->value = MD_STR("");
        }
        for (uint32_t i = 0; i < anns.n; i++)
            if (md_str_eq(((md_annotation_t *)anns.v[i])->key, a->key)) {
                perr(P, &at, "duplicate annotation `@%.*s`", (int)a->key.n, a->key.p);
                goto out;
            }
        if (vec_push(P, &anns, a) != MD_OK) goto out;
    }
    if (tok_is(&P->tok, "permit")) {
        pol->forbid = false;
    } else if (tok_is(&P->tok, "forbid")) {
        pol->forbid = true;
    } else {
        char d[64];
        perr(P, &P->tok, "expected `permit` or `forbid`, found %s", tok_desc(&P->tok, d, sizeof(d)));
        goto out;
    }
    if (next(P) != MD_OK || expect(P, T_LPAREN, "`(`") != MD_OK) goto out;
    P->in_scope = true;
    if (parse_scope_var(P, MD_VAR_PRINCIPAL, &pol->principal) != MD_OK) goto out;
    if (expect(P, T_COMMA, "`,` after the principal constraint") != MD_OK) goto out;
    if (parse_scope_var(P, MD_VAR_ACTION, &pol->action) != MD_OK) goto out;
    if (expect(P, T_COMMA, "`,` after the action constraint") != MD_OK) goto out;
    if (parse_scope_var(P, MD_VAR_RESOURCE, &pol->resource) != MD_OK) goto out;
    P->in_scope = false;
    if (P->tok.kind == T_COMMA) {
        const tok_t *pk = peek(P);
        if (pk->kind == T_RPAREN) {
            if (next(P) != MD_OK) goto out;
        } else {
            perr(P, &P->tok, "a policy scope has exactly three constraints: principal, action and resource");
            goto out;
        }
    }
    if (expect(P, T_RPAREN, "`)` after the resource constraint") != MD_OK) goto out;
    while (tok_is(&P->tok, "when") || tok_is(&P->tok, "unless")) {
        bool is_unless = tok_is(&P->tok, "unless");
        if (next(P) != MD_OK) goto out;
        if (expect(P, T_LBRACE, "`{`") != MD_OK) goto out;
        if (P->tok.kind == T_RBRACE) {
            perr(P, &P->tok, "`%s` condition is empty", is_unless ? "unless" : "when");
            goto out;
        }
        md_expr_t *c = parse_expr(P);
        if (c == NULL || expect(P, T_RBRACE, "`}`") != MD_OK) goto out;
        if (vec_push(P, &conds, c) != MD_OK) goto out;
        md_buf_addc(&unless, is_unless ? 1 : 0);
    }
    if (P->tok.kind == T_IDENT && peek(P)->kind == T_LBRACE) {
        perr(P, &P->tok, "invalid policy condition `%.*s`: expected `when` or `unless`", (int)P->tok.n,
             P->tok.p);
        goto out;
    }
    if (expect(P, T_SEMI, "`;` at the end of the policy") != MD_OK) goto out;
    if (unless.oom) {
        oom(P);
        goto out;
    }
    pol->nconds = conds.n;
    pol->conds = (md_expr_t **)vec_to_arena(P, &conds);
    if (conds.n) {
        pol->unless = md_arena_alloc(P->arena, conds.n * sizeof(bool));
        if (pol->unless == NULL) {
            oom(P);
            goto out;
        }
        for (uint32_t i = 0; i < conds.n; i++)
            pol->unless[i] = unless.p[i] != 0;
    }
    pol->nannotations = anns.n;
    if (anns.n) {
        pol->annotations = md_arena_alloc(P->arena, anns.n * sizeof(md_annotation_t));
        if (pol->annotations == NULL) {
            oom(P);
            goto out;
        }
        for (uint32_t i = 0; i < anns.n; i++)
            pol->annotations[i] = *(md_annotation_t *)anns.v[i];
    }
    pol->is_template = pol->principal.slot || pol->resource.slot;
    rc = P->failed ? MD_EINVAL : MD_OK;
out:
    free(anns.v);
    free(conds.v);
    md_buf_free(&unless);
    P->in_scope = false;
    return P->failed ? (P->err && P->err->code ? P->err->code : MD_EINVAL) : rc;
}

static int ps_add(md_policyset_t *ps, md_policy_t *p)
{
    if (ps->npolicies == ps->cap) {
        uint32_t cap = ps->cap ? ps->cap * 2 : 16;
        md_policy_t **np = realloc(ps->policies, cap * sizeof(*np));
        if (np == NULL) return MD_ENOMEM;
        ps->policies = np;
        ps->cap = cap;
    }
    ps->policies[ps->npolicies++] = p;
    return MD_OK;
}

int md_policyset_parse(const char *text, size_t len, const char *name, md_policyset_t **out, md_err_t *err)
{
    md_policyset_t *ps = calloc(1, sizeof(*ps));
    parser_t P;
    int rc = MD_ENOMEM;

    *out = NULL;
    if (ps == NULL) return md_err_set(err, MD_ENOMEM, "%s: out of memory", name);
    md_arena_init(&ps->arena, 64 * 1024);
    memset(&P, 0, sizeof(P));
    P.src = text;
    P.len = len;
    P.line = 1;
    P.name = name ? name : "<policies>";
    P.ps = ps;
    P.arena = &ps->arena;
    P.err = err;

    if (next(&P) != MD_OK) goto fail;
    while (P.tok.kind != T_EOF) {
        md_policy_t *pol = md_arena_zalloc(&ps->arena, sizeof(*pol));
        if (pol == NULL) {
            oom(&P);
            goto fail;
        }
        if (parse_policy(&P, pol) != MD_OK) goto fail;
        char idb[32];
        int n = snprintf(idb, sizeof(idb), "policy%u", ps->npolicies);
        pol->id = md_arena_str(&ps->arena, (md_str_t){idb, (size_t)n});
        if (pol->id.p == NULL || ps_add(ps, pol) != MD_OK) {
            oom(&P);
            goto fail;
        }
    }
    *out = ps;
    return MD_OK;
fail:
    rc = err && err->code ? err->code : MD_EINVAL;
    md_policyset_free(ps);
    return rc;
}

/* Skip to just after the next `;` (or the end), stepping over bytes the lexer rejects. */
static void recover(parser_t *P)
{
    for (;;) {
        P->failed = false;
        P->has_peek = false;
        if (P->tok.kind == T_SEMI || P->tok.kind == T_EOF) break;
        size_t before = P->pos;
        md_err_t scratch = {0};
        md_err_t *keep = P->err;
        P->err = &scratch;
        int rc = lex(P, &P->tok);
        P->err = keep;
        if (rc != MD_OK) {
            if (P->pos == before) P->pos++;
            if (P->pos >= P->len) {
                P->tok.kind = T_EOF;
                break;
            }
            P->tok.kind = T_IDENT; /* anything that is not `;` or the end */
        }
    }
    P->failed = false;
    if (P->tok.kind == T_SEMI) {
        md_err_t scratch = {0};
        md_err_t *keep = P->err;
        P->err = &scratch;
        if (next(P) != MD_OK) P->tok.kind = T_EOF;
        P->err = keep;
        P->failed = false;
    }
}

int md_uid_parse(const char *text, size_t len, md_arena_t *arena, const md_uid_t **out, md_err_t *err)
{
    parser_t P;
    memset(&P, 0, sizeof(P));
    P.src = text;
    P.len = len;
    P.line = 1;
    P.name = "entity uid";
    P.arena = arena;
    P.err = err;
    *out = NULL;
    if (next(&P) != MD_OK) return MD_EINVAL;
    if (P.tok.kind != T_IDENT) return perr(&P, &P.tok, "expected an entity uid like Type::\"id\"");
    name_t nm;
    if (parse_name(&P, &nm) != MD_OK) return MD_EINVAL;
    if (P.tok.kind != T_COLONCOLON) return perr(&P, &P.tok, "expected an entity uid like Type::\"id\"");
    const md_uid_t *u = parse_ref_tail(&P, &nm);
    if (u == NULL) return err && err->code ? err->code : MD_EINVAL;
    if (P.tok.kind != T_EOF) return perr(&P, &P.tok, "unexpected text after the entity uid");
    *out = u;
    return MD_OK;
}

int md_policyset_check(const char *text, size_t len, const char *name, md_buf_t *out, int max_errors)
{
    md_policyset_t *ps = calloc(1, sizeof(*ps));
    parser_t P;
    md_err_t err = {0};
    int nerr = 0;
    if (ps == NULL) {
        md_buf_adds(out, "out of memory\n");
        return 1;
    }
    md_arena_init(&ps->arena, 64 * 1024);
    memset(&P, 0, sizeof(P));
    P.src = text;
    P.len = len;
    P.line = 1;
    P.name = name ? name : "<policies>";
    P.ps = ps;
    P.arena = &ps->arena;
    P.err = &err;
    if (next(&P) != MD_OK) {
        md_buf_printf(out, "%s\n", err.msg);
        nerr++;
        md_err_clear(&err);
        recover(&P);
    }
    while (P.tok.kind != T_EOF && nerr < max_errors) {
        md_policy_t *pol = md_arena_zalloc(&ps->arena, sizeof(*pol));
        if (pol == NULL) {
            md_buf_adds(out, "out of memory\n");
            nerr++;
            break;
        }
        P.depth = 0;
        if (parse_policy(&P, pol) != MD_OK) {
            md_buf_printf(out, "%s\n", err.msg);
            nerr++;
            md_err_clear(&err);
            if (err.code == MD_ENOMEM) break;
            recover(&P);
        }
    }
    md_policyset_free(ps);
    return nerr;
}

void md_policyset_free(md_policyset_t *ps)
{
    if (ps == NULL) return;
    extern void md_pindex_free(struct md_pindex * ix);
    md_pindex_free(ps->index);
    free(ps->policies);
    md_arena_free(&ps->arena);
    free(ps);
}

const md_policy_t *md_policyset_find(const md_policyset_t *ps, md_str_t id)
{
    for (uint32_t i = 0; i < ps->npolicies; i++)
        if (md_str_eq(ps->policies[i]->id, id)) return ps->policies[i];
    return NULL;
}

int md_policyset_link(md_policyset_t *ps, md_str_t tmpl_id, md_str_t new_id, const md_uid_t *principal,
                      const md_uid_t *resource, md_err_t *err)
{
    const md_policy_t *t = md_policyset_find(ps, tmpl_id);
    if (t == NULL) return md_err_set(err, MD_ENOENT, "no template with id `%.*s`", (int)tmpl_id.n, tmpl_id.p);
    if (!t->is_template)
        return md_err_set(err, MD_EINVAL, "`%.*s` is a static policy, not a template", (int)tmpl_id.n,
                          tmpl_id.p);
    if (md_policyset_find(ps, new_id))
        return md_err_set(err, MD_EINVAL, "a policy with id `%.*s` already exists", (int)new_id.n, new_id.p);
    if (t->principal.slot != (principal != NULL) || t->resource.slot != (resource != NULL))
        return md_err_set(err, MD_EINVAL, "template `%.*s` needs values for exactly its slots (%s%s%s)",
                          (int)tmpl_id.n, tmpl_id.p, t->principal.slot ? "?principal" : "",
                          t->principal.slot && t->resource.slot ? ", " : "",
                          t->resource.slot ? "?resource" : "");
    md_policy_t *p = md_arena_alloc(&ps->arena, sizeof(*p));
    if (p == NULL) return md_err_set(err, MD_ENOMEM, "out of memory");
    *p = *t;
    p->is_template = false;
    p->tmpl = t;
    p->id = md_arena_str(&ps->arena, new_id);
    if (principal) {
        p->principal.uid = md_uid_new(&ps->arena, principal->type, principal->id);
        p->principal.slot = false;
    }
    if (resource) {
        p->resource.uid = md_uid_new(&ps->arena, resource->type, resource->id);
        p->resource.slot = false;
    }
    if (p->id.p == NULL || (principal && !p->principal.uid) || (resource && !p->resource.uid) ||
        ps_add(ps, p) != MD_OK)
        return md_err_set(err, MD_ENOMEM, "out of memory");
    /* An index built before this link does not know the new policy: rebuild it. */
    if (ps->index && md_policyset_index(ps) != MD_OK) return md_err_set(err, MD_ENOMEM, "out of memory");
    return MD_OK;
}
