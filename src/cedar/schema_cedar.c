/*
 * schema_cedar.c: md_schema_parse_cedar, a lexer and recursive-descent parser
 * for the Cedar schema text format, producing a raw schema for schema.c.
 *
 * The grammar is cedar-policy-core/src/validator/cedar_schema/grammar.lalrpop;
 * the checks made while converting to the JSON form are in to_json_schema.rs.
 * Notable points:
 *   - keywords (namespace entity action type in tags enum appliesTo principal
 *     resource context attributes Set Long String Bool) are also identifiers
 *     wherever an identifier may stand, so `entity tags in tags;` is valid;
 *     the words true false if then else in is like has are reserved and may
 *     not name anything (quote them as attribute names or action ids);
 *   - `Set` starts a set type only when `<` follows; otherwise it is a name;
 *   - whitespace is Unicode White_Space; comments run from // to end of line;
 *   - strings use Rust escapes (\n \r \t \\ \0 \' \" \xHH up to 7F,
 *     \u{1-6 hex digits, underscores after the first}); a raw CR inside a
 *     string and a backslash before a newline are errors;
 *   - annotations (@name or @name("text")) are accepted on namespaces,
 *     declarations and attributes, and ignored; a repeated name is an error;
 *   - declarations outside any namespace all belong to the empty namespace;
 *   - in appliesTo, principal and resource are required and non-empty, and
 *     none of the three may repeat; a repeated record attribute keeps the
 *     last declaration (as the reference does).
 */
#include "cedar/schema_raw.h"

#include <stdlib.h>

typedef enum tok_kind {
    T_EOF,
    T_IDENT,
    T_STR,
    T_NUM,
    T_COMMA,
    T_SEMI,
    T_COLON,
    T_DCOLON,
    T_LBRACE,
    T_RBRACE,
    T_LBRACK,
    T_RBRACK,
    T_LT,
    T_GT,
    T_EQ,
    T_QUEST,
    T_AT,
    T_LPAREN,
    T_RPAREN,
    T_ERR, /* a lexical error, already reported */
} tok_kind_t;

typedef struct tok {
    tok_kind_t k;
    md_str_t text; /* the token as written (a string includes its quotes) */
    md_sloc_t loc;
} tok_t;

typedef struct parser {
    const char *src;
    md_err_t *err;
    md_rschema_t *raw;
    md_arena_t *a;
    const char *text;
    size_t len, pos;
    uint32_t line, col;
    tok_t la[2];
    int nla;
    int64_t empty_ns; /* index of the empty namespace in raw->ns, or -1 */
} parser_t;

/* ---- lexer ---- */

static void advance(parser_t *p, size_t n)
{
    for (size_t i = 0; i < n && p->pos < p->len; i++) {
        unsigned char c = (unsigned char)p->text[p->pos++];
        if (c == '\n') {
            p->line++;
            p->col = 1;
        } else if ((c & 0xc0) != 0x80) {
            p->col++;
        }
    }
}

/* Unicode White_Space (what Rust's regex \s matches); returns its byte length or 0. */
static size_t space_len(const parser_t *p)
{
    unsigned char c = (unsigned char)p->text[p->pos];
    if (c == ' ' || (c >= '\t' && c <= '\r')) return 1;
    if (c < 0x80) return 0;
    size_t i = p->pos;
    int32_t cp = md_utf8_next(p->text, p->len, &i);
    if (cp == 0x85 || cp == 0xa0 || cp == 0x1680 || (cp >= 0x2000 && cp <= 0x200a) || cp == 0x2028 ||
        cp == 0x2029 || cp == 0x202f || cp == 0x205f || cp == 0x3000)
        return i - p->pos;
    return 0;
}

static bool is_ident_start(unsigned char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_';
}

static bool is_ident_char(unsigned char c)
{
    return is_ident_start(c) || (c >= '0' && c <= '9');
}

static tok_t lex(parser_t *p)
{
    tok_t t;
    for (;;) {
        if (p->pos >= p->len) break;
        size_t w = space_len(p);
        if (w > 0) {
            advance(p, w);
            continue;
        }
        if (p->text[p->pos] == '/' && p->pos + 1 < p->len && p->text[p->pos + 1] == '/') {
            while (p->pos < p->len && p->text[p->pos] != '\n' && p->text[p->pos] != '\r')
                advance(p, 1);
            continue;
        }
        break;
    }
    t.loc = (md_sloc_t){p->line, p->col, NULL};
    t.text = (md_str_t){p->text + p->pos, 0};
    if (p->pos >= p->len) {
        t.k = T_EOF;
        return t;
    }
    size_t start = p->pos;
    unsigned char c = (unsigned char)p->text[p->pos];
    size_t n = 1;
    if (is_ident_start(c)) {
        while (start + n < p->len && is_ident_char((unsigned char)p->text[start + n]))
            n++;
        t.k = T_IDENT;
    } else if (c >= '0' && c <= '9') {
        while (start + n < p->len && p->text[start + n] >= '0' && p->text[start + n] <= '9')
            n++;
        t.k = T_NUM;
    } else if (c == '"') {
        for (;;) {
            if (start + n >= p->len) {
                md_schema_errf(p->err, p->src, &t.loc, MD_EINVAL, "unterminated string literal");
                t.k = T_ERR;
                return t;
            }
            char d = p->text[start + n];
            if (d == '"') {
                n++;
                break;
            }
            if (d == '\\') {
                if (start + n + 1 >= p->len || p->text[start + n + 1] == '\n') {
                    md_schema_errf(p->err, p->src, &t.loc, MD_EINVAL, "invalid token");
                    t.k = T_ERR;
                    return t;
                }
                n += 2;
            } else {
                n++;
            }
        }
        t.k = T_STR;
    } else if (c == ':') {
        if (start + 1 < p->len && p->text[start + 1] == ':') {
            n = 2;
            t.k = T_DCOLON;
        } else {
            t.k = T_COLON;
        }
    } else {
        switch (c) {
        case ',': t.k = T_COMMA; break;
        case ';': t.k = T_SEMI; break;
        case '{': t.k = T_LBRACE; break;
        case '}': t.k = T_RBRACE; break;
        case '[': t.k = T_LBRACK; break;
        case ']': t.k = T_RBRACK; break;
        case '<': t.k = T_LT; break;
        case '>': t.k = T_GT; break;
        case '=': t.k = T_EQ; break;
        case '?': t.k = T_QUEST; break;
        case '@': t.k = T_AT; break;
        case '(': t.k = T_LPAREN; break;
        case ')': t.k = T_RPAREN; break;
        default:
            md_schema_errf(p->err, p->src, &t.loc, MD_EINVAL, "invalid token");
            t.k = T_ERR;
            return t;
        }
    }
    t.text.n = n;
    advance(p, n);
    return t;
}

static const tok_t *peek(parser_t *p, int k)
{
    while (p->nla <= k) {
        /* once an error or EOF is seen, keep returning it */
        if (p->nla > 0 && (p->la[p->nla - 1].k == T_ERR || p->la[p->nla - 1].k == T_EOF)) {
            p->la[p->nla] = p->la[p->nla - 1];
            p->nla++;
            continue;
        }
        p->la[p->nla++] = lex(p);
    }
    return &p->la[k];
}

static tok_t next(parser_t *p)
{
    tok_t t = *peek(p, 0);
    if (t.k != T_ERR && t.k != T_EOF) {
        p->la[0] = p->la[1];
        p->nla--;
    }
    return t;
}

static bool is_kw(const tok_t *t, const char *kw)
{
    return t->k == T_IDENT && md_str_eqc(t->text, kw);
}

static int unexpected(parser_t *p, const tok_t *t)
{
    if (t->k == T_ERR) return p->err->code ? p->err->code : MD_EINVAL;
    if (t->k == T_EOF) return md_schema_errf(p->err, p->src, &t->loc, MD_EINVAL, "unexpected end of input");
    char nb[48];
    return md_schema_errf(p->err, p->src, &t->loc, MD_EINVAL, "unexpected token `%s`",
                          md_schema_show(nb, sizeof(nb), t->text));
}

static int expect(parser_t *p, tok_kind_t k, tok_t *out)
{
    const tok_t *t = peek(p, 0);
    if (t->k != k) return unexpected(p, t);
    tok_t got = next(p);
    if (out) *out = got;
    return MD_OK;
}

static int oom(parser_t *p)
{
    return md_schema_errf(p->err, p->src, NULL, MD_ENOMEM, "out of memory");
}

/* ---- string literals ---- */

static int hexval(char c)
{
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
}

/* Unescape a string token (quotes included) into the arena. */
static int unescape(parser_t *p, const tok_t *t, md_str_t *out)
{
    const char *s = t->text.p + 1;
    size_t n = t->text.n - 2, j = 0;
    char *d = md_arena_alloc(p->a, n + 1);
    if (d == NULL) return oom(p);
    for (size_t i = 0; i < n;) {
        char c = s[i];
        if (c == '\r') goto bad;
        if (c != '\\') {
            d[j++] = c;
            i++;
            continue;
        }
        char e = s[i + 1]; /* the lexer guarantees a character after '\' */
        i += 2;
        switch (e) {
        case 'n': d[j++] = '\n'; break;
        case 'r': d[j++] = '\r'; break;
        case 't': d[j++] = '\t'; break;
        case '\\': d[j++] = '\\'; break;
        case '0': d[j++] = '\0'; break;
        case '\'': d[j++] = '\''; break;
        case '"': d[j++] = '"'; break;
        case 'x': {
            if (i + 2 > n) goto bad;
            int hi = hexval(s[i]), lo = hexval(s[i + 1]);
            if (hi < 0 || lo < 0 || hi > 7) goto bad;
            d[j++] = (char)(hi * 16 + lo);
            i += 2;
            break;
        }
        case 'u': {
            if (i >= n || s[i] != '{') goto bad;
            i++;
            if (i >= n || s[i] == '_' || s[i] == '}') goto bad;
            uint32_t cp = 0;
            int digits = 0;
            for (;;) {
                if (i >= n) goto bad;
                char h = s[i++];
                if (h == '}') break;
                if (h == '_') continue;
                int v = hexval(h);
                if (v < 0 || ++digits > 6) goto bad;
                cp = cp * 16 + (uint32_t)v;
            }
            if (cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff)) goto bad;
            /* UTF-8: at most 4 bytes, and the escape took at least 5 */
            if (cp < 0x80) {
                d[j++] = (char)cp;
            } else if (cp < 0x800) {
                d[j++] = (char)(0xc0 | (cp >> 6));
                d[j++] = (char)(0x80 | (cp & 0x3f));
            } else if (cp < 0x10000) {
                d[j++] = (char)(0xe0 | (cp >> 12));
                d[j++] = (char)(0x80 | ((cp >> 6) & 0x3f));
                d[j++] = (char)(0x80 | (cp & 0x3f));
            } else {
                d[j++] = (char)(0xf0 | (cp >> 18));
                d[j++] = (char)(0x80 | ((cp >> 12) & 0x3f));
                d[j++] = (char)(0x80 | ((cp >> 6) & 0x3f));
                d[j++] = (char)(0x80 | (cp & 0x3f));
            }
            break;
        }
        default: goto bad;
        }
    }
    d[j] = '\0';
    *out = (md_str_t){d, j};
    return MD_OK;
bad:
    return md_schema_errf(p->err, p->src, &t->loc, MD_EINVAL, "invalid escape sequence in string literal");
}

/* ---- names ---- */

/* An identifier that is not a reserved word (the grammar's Ident). */
static int parse_ident(parser_t *p, md_str_t *out, md_sloc_t *loc)
{
    const tok_t *t = peek(p, 0);
    if (t->k != T_IDENT) return unexpected(p, t);
    if (md_schema_is_reserved_word(t->text))
        return md_schema_errf(p->err, p->src, &t->loc, MD_EINVAL, "`%.*s` is a reserved identifier",
                              (int)t->text.n, t->text.p); /* a short ASCII word */
    tok_t got = next(p);
    *out = got.text;
    if (loc) *loc = got.loc;
    return MD_OK;
}

/* Ident | STR */
static int parse_name(parser_t *p, md_str_t *out, md_sloc_t *loc)
{
    const tok_t *t = peek(p, 0);
    if (t->k == T_STR) {
        tok_t got = next(p);
        if (loc) *loc = got.loc;
        return unescape(p, &got, out);
    }
    return parse_ident(p, out, loc);
}

/* Ident {'::' Ident}, returned as one string "A::B::C". */
static int parse_path(parser_t *p, md_str_t *out, md_sloc_t *loc)
{
    md_str_t first;
    int rc = parse_ident(p, &first, loc);
    if (rc != MD_OK) return rc;
    if (peek(p, 0)->k != T_DCOLON) {
        *out = first;
        return MD_OK;
    }
    md_buf_t b;
    md_buf_init(&b);
    md_buf_add(&b, first.p, first.n);
    while (peek(p, 0)->k == T_DCOLON) {
        md_str_t part;
        (void)next(p);
        if ((rc = parse_ident(p, &part, NULL)) != MD_OK) goto out;
        md_buf_add(&b, "::", 2);
        md_buf_add(&b, part.p, part.n);
    }
    if (b.oom) {
        rc = oom(p);
        goto out;
    }
    *out = md_arena_str(p->a, (md_str_t){b.p, b.n});
    rc = out->p ? MD_OK : oom(p);
out:
    md_buf_free(&b);
    return rc;
}

/* ---- annotations ---- */

static int str_cmp_p(const void *a, const void *b)
{
    return md_str_cmp(*(const md_str_t *)a, *(const md_str_t *)b);
}

/* {'@' AnyIdent ['(' STR ')']}: checked for repeats, then ignored. */
static int parse_annotations(parser_t *p)
{
    md_str_t *keys = NULL;
    md_sloc_t *locs = NULL;
    uint32_t n = 0, cap = 0, ncap = 0, nl = 0;
    while (peek(p, 0)->k == T_AT) {
        (void)next(p);
        const tok_t *t = peek(p, 0);
        if (t->k != T_IDENT) return unexpected(p, t);
        tok_t key = next(p);
        md_str_t *slot = md_schema_push(p->a, &keys, &n, &cap, sizeof(*keys));
        md_sloc_t *lslot = md_schema_push(p->a, &locs, &nl, &ncap, sizeof(*locs));
        if (slot == NULL || lslot == NULL) return oom(p);
        *slot = key.text;
        *lslot = key.loc;
        if (peek(p, 0)->k == T_LPAREN) {
            tok_t val;
            md_str_t unused;
            int rc;
            (void)next(p);
            if ((rc = expect(p, T_STR, &val)) != MD_OK || (rc = unescape(p, &val, &unused)) != MD_OK ||
                (rc = expect(p, T_RPAREN, NULL)) != MD_OK)
                return rc;
        }
    }
    if (n < 2) return MD_OK;
    md_str_t *sorted = md_arena_alloc(p->a, (size_t)n * sizeof(*sorted));
    if (sorted == NULL) return oom(p);
    memcpy(sorted, keys, (size_t)n * sizeof(*sorted));
    qsort(sorted, n, sizeof(*sorted), str_cmp_p);
    for (uint32_t i = 1; i < n; i++) {
        if (!md_str_eq(sorted[i], sorted[i - 1])) continue;
        /* report at the second occurrence in source order */
        uint32_t seen = 0;
        for (uint32_t k = 0; k < n; k++) {
            if (md_str_eq(keys[k], sorted[i]) && ++seen == 2) {
                char nb[64];
                return md_schema_errf(p->err, p->src, &locs[k], MD_EINVAL, "duplicate annotation `@%s`",
                                      md_schema_show(nb, sizeof(nb), keys[k]));
            }
        }
    }
    return MD_OK;
}

/* ---- types ---- */

static int parse_type(parser_t *p, uint32_t depth, md_rty_t **out);

static int too_deep(parser_t *p, const md_sloc_t *loc)
{
    return md_schema_errf(p->err, p->src, loc, MD_ELIMIT, "type is nested more than %d levels deep",
                          MD_SCHEMA_MAX_DEPTH);
}

/* After '{': [AttrDecls] '}' into a RECORD. */
static int parse_record_body(parser_t *p, uint32_t depth, md_rty_t *rec)
{
    rec->kind = MD_RTY_RECORD;
    uint32_t cap = 0;
    for (;;) {
        if (peek(p, 0)->k == T_RBRACE) {
            (void)next(p);
            return MD_OK;
        }
        int rc = parse_annotations(p);
        if (rc != MD_OK) return rc;
        md_rattr_t *at = md_schema_push(p->a, &rec->attrs, &rec->nattrs, &cap, sizeof(*at));
        if (at == NULL) return oom(p);
        if ((rc = parse_name(p, &at->name, &at->loc)) != MD_OK) return rc;
        at->required = true;
        if (peek(p, 0)->k == T_QUEST) {
            (void)next(p);
            at->required = false;
        }
        if ((rc = expect(p, T_COLON, NULL)) != MD_OK || (rc = parse_type(p, depth + 1, &at->type)) != MD_OK)
            return rc;
        const tok_t *t = peek(p, 0);
        if (t->k == T_COMMA) {
            (void)next(p);
        } else if (t->k != T_RBRACE) {
            return unexpected(p, t);
        }
    }
}

static int parse_type(parser_t *p, uint32_t depth, md_rty_t **out)
{
    const tok_t *t = peek(p, 0);
    md_rty_t *ty = md_arena_zalloc(p->a, sizeof(*ty));
    if (ty == NULL) return oom(p);
    ty->loc = t->loc;
    *out = ty;
    if (t->k == T_LBRACE) {
        if (depth >= MD_SCHEMA_MAX_DEPTH) return too_deep(p, &t->loc);
        (void)next(p);
        return parse_record_body(p, depth, ty);
    }
    if (is_kw(t, "Set") && peek(p, 1)->k == T_LT) {
        if (depth >= MD_SCHEMA_MAX_DEPTH) return too_deep(p, &t->loc);
        (void)next(p);
        (void)next(p);
        ty->kind = MD_RTY_SET;
        int rc = parse_type(p, depth + 1, &ty->elem);
        if (rc != MD_OK) return rc;
        return expect(p, T_GT, NULL);
    }
    ty->kind = MD_RTY_REF;
    return parse_path(p, &ty->name, NULL);
}

/* Path | '[' [Path {',' Path}] ']' appended to a name list. */
static int parse_enttypes(parser_t *p, md_rname_t **arr, uint32_t *n, uint32_t *cap)
{
    int rc;
    bool list = peek(p, 0)->k == T_LBRACK;
    if (list) {
        (void)next(p);
        if (peek(p, 0)->k == T_RBRACK) {
            (void)next(p);
            return MD_OK;
        }
    }
    for (;;) {
        md_rname_t *rn = md_schema_push(p->a, arr, n, cap, sizeof(*rn));
        if (rn == NULL) return oom(p);
        if ((rc = parse_path(p, &rn->name, &rn->loc)) != MD_OK) return rc;
        if (!list) return MD_OK;
        const tok_t *t = peek(p, 0);
        if (t->k == T_RBRACK) {
            (void)next(p);
            return MD_OK;
        }
        if (t->k != T_COMMA) return unexpected(p, t);
        (void)next(p);
    }
}

/* ---- declarations ---- */

static int parse_entity(parser_t *p, md_rns_t *ns)
{
    md_rname_t *names = NULL;
    uint32_t nn = 0, capn = 0;
    md_rentity_t tmpl;
    int rc;
    memset(&tmpl, 0, sizeof(tmpl));
    for (;;) {
        md_rname_t *rn = md_schema_push(p->a, &names, &nn, &capn, sizeof(*rn));
        if (rn == NULL) return oom(p);
        if ((rc = parse_ident(p, &rn->name, &rn->loc)) != MD_OK) return rc;
        if (peek(p, 0)->k != T_COMMA) break;
        (void)next(p);
    }
    const tok_t *t = peek(p, 0);
    if (is_kw(t, "enum")) {
        (void)next(p);
        tmpl.is_enum = true;
        if ((rc = expect(p, T_LBRACK, NULL)) != MD_OK) return rc;
        for (;;) {
            tok_t s;
            if ((rc = expect(p, T_STR, &s)) != MD_OK) return rc;
            md_str_t *id = md_schema_push(p->a, &tmpl.enum_ids, &tmpl.nenum, &tmpl.capenum, sizeof(*id));
            if (id == NULL) return oom(p);
            if ((rc = unescape(p, &s, id)) != MD_OK) return rc;
            t = peek(p, 0);
            if (t->k == T_RBRACK) break;
            if (t->k != T_COMMA) return unexpected(p, t);
            (void)next(p);
        }
        (void)next(p);
    } else {
        if (is_kw(t, "in")) {
            (void)next(p);
            if ((rc = parse_enttypes(p, &tmpl.parents, &tmpl.nparents, &tmpl.capparents)) != MD_OK) return rc;
        }
        t = peek(p, 0);
        if (t->k == T_EQ || t->k == T_LBRACE) {
            if (t->k == T_EQ) {
                (void)next(p);
                t = peek(p, 0);
                if (t->k != T_LBRACE) return unexpected(p, t);
            }
            tmpl.shape = md_arena_zalloc(p->a, sizeof(*tmpl.shape));
            if (tmpl.shape == NULL) return oom(p);
            tmpl.shape->loc = t->loc;
            (void)next(p);
            if ((rc = parse_record_body(p, 0, tmpl.shape)) != MD_OK) return rc;
        }
        if (is_kw(peek(p, 0), "tags")) {
            (void)next(p);
            if ((rc = parse_type(p, 0, &tmpl.tags)) != MD_OK) return rc;
        }
    }
    if ((rc = expect(p, T_SEMI, NULL)) != MD_OK) return rc;
    for (uint32_t i = 0; i < nn; i++) {
        md_rentity_t *e = md_schema_push(p->a, &ns->entities, &ns->nentities, &ns->capentities, sizeof(*e));
        if (e == NULL) return oom(p);
        *e = tmpl;
        e->name = names[i].name;
        e->loc = names[i].loc;
    }
    return MD_OK;
}

/* QualName := Name | Path '::' STR */
static int parse_qualname(parser_t *p, md_raref_t *ref)
{
    const tok_t *t = peek(p, 0);
    ref->loc = t->loc;
    if (t->k == T_STR) {
        tok_t s = next(p);
        return unescape(p, &s, &ref->id);
    }
    md_str_t first;
    int rc = parse_ident(p, &first, NULL);
    if (rc != MD_OK) return rc;
    if (peek(p, 0)->k != T_DCOLON) {
        ref->id = first;
        return MD_OK;
    }
    md_buf_t b;
    md_buf_init(&b);
    md_buf_add(&b, first.p, first.n);
    for (;;) {
        t = peek(p, 0);
        if (t->k != T_DCOLON) {
            rc = unexpected(p, t); /* a path must end in ::"id" here */
            goto out;
        }
        (void)next(p);
        t = peek(p, 0);
        if (t->k == T_STR) {
            tok_t s = next(p);
            if ((rc = unescape(p, &s, &ref->id)) != MD_OK) goto out;
            break;
        }
        md_str_t part;
        if ((rc = parse_ident(p, &part, NULL)) != MD_OK) goto out;
        md_buf_add(&b, "::", 2);
        md_buf_add(&b, part.p, part.n);
    }
    if (b.oom) {
        rc = oom(p);
        goto out;
    }
    ref->has_type = true;
    ref->type = md_arena_str(p->a, (md_str_t){b.p, b.n});
    rc = ref->type.p ? MD_OK : oom(p);
out:
    md_buf_free(&b);
    return rc;
}

/* 'appliesTo' '{' AppDecls '}' with the first token already consumed. */
static int parse_applies_to(parser_t *p, md_raction_t *a, const md_rname_t *first)
{
    bool seen_p = false, seen_r = false, seen_c = false;
    char nb[64];
    int rc = expect(p, T_LBRACE, NULL);
    if (rc != MD_OK) return rc;
    a->has_applies_to = true;
    for (;;) {
        tok_t t = *peek(p, 0);
        if (is_kw(&t, "principal") || is_kw(&t, "resource")) {
            bool is_p = is_kw(&t, "principal");
            (void)next(p);
            if ((is_p && seen_p) || (!is_p && seen_r))
                return md_schema_errf(
                    p->err, p->src, &t.loc, MD_EINVAL, "duplicate `%s` declaration in action `%s`",
                    is_p ? "principal" : "resource", md_schema_show(nb, sizeof(nb), first->name));
            if ((rc = expect(p, T_COLON, NULL)) != MD_OK) return rc;
            uint32_t before = is_p ? a->nprincipals : a->nresources;
            rc = is_p ? parse_enttypes(p, &a->principals, &a->nprincipals, &a->capprincipals)
                      : parse_enttypes(p, &a->resources, &a->nresources, &a->capresources);
            if (rc != MD_OK) return rc;
            if ((is_p ? a->nprincipals : a->nresources) == before)
                return md_schema_errf(p->err, p->src, &t.loc, MD_EINVAL, "`%s` is `[]`, which is invalid",
                                      is_p ? "principal" : "resource");
            if (is_p)
                seen_p = true;
            else
                seen_r = true;
        } else if (is_kw(&t, "context")) {
            (void)next(p);
            if (seen_c)
                return md_schema_errf(p->err, p->src, &t.loc, MD_EINVAL,
                                      "duplicate context declaration in action `%s`",
                                      md_schema_show(nb, sizeof(nb), first->name));
            seen_c = true;
            if ((rc = expect(p, T_COLON, NULL)) != MD_OK) return rc;
            const tok_t *v = peek(p, 0);
            a->context = md_arena_zalloc(p->a, sizeof(*a->context));
            if (a->context == NULL) return oom(p);
            a->context->loc = v->loc;
            if (v->k == T_LBRACE) {
                (void)next(p);
                if ((rc = parse_record_body(p, 0, a->context)) != MD_OK) return rc;
            } else {
                a->context->kind = MD_RTY_COMMON;
                if ((rc = parse_path(p, &a->context->name, NULL)) != MD_OK) return rc;
            }
        } else {
            return unexpected(p, &t);
        }
        const tok_t *s = peek(p, 0);
        if (s->k == T_RBRACE) {
            (void)next(p);
            break;
        }
        if (s->k != T_COMMA) return unexpected(p, s); /* declarations are separated by commas */
        (void)next(p);
        if (peek(p, 0)->k == T_RBRACE) {
            (void)next(p);
            break;
        }
    }
    if (!seen_r)
        return md_schema_errf(p->err, p->src, &first->loc, MD_EINVAL,
                              "missing `resource` declaration for `%s`",
                              md_schema_show(nb, sizeof(nb), first->name));
    if (!seen_p)
        return md_schema_errf(p->err, p->src, &first->loc, MD_EINVAL,
                              "missing `principal` declaration for `%s`",
                              md_schema_show(nb, sizeof(nb), first->name));
    return MD_OK;
}

static int parse_action(parser_t *p, md_rns_t *ns)
{
    md_rname_t *names = NULL;
    uint32_t nn = 0, capn = 0;
    md_raction_t tmpl;
    int rc;
    memset(&tmpl, 0, sizeof(tmpl));
    for (;;) {
        md_rname_t *rn = md_schema_push(p->a, &names, &nn, &capn, sizeof(*rn));
        if (rn == NULL) return oom(p);
        if ((rc = parse_name(p, &rn->name, &rn->loc)) != MD_OK) return rc;
        if (peek(p, 0)->k != T_COMMA) break;
        (void)next(p);
    }
    if (is_kw(peek(p, 0), "in")) {
        (void)next(p);
        bool list = peek(p, 0)->k == T_LBRACK;
        if (list) (void)next(p);
        for (;;) {
            md_raref_t *ref =
                md_schema_push(p->a, &tmpl.parents, &tmpl.nparents, &tmpl.capparents, sizeof(*ref));
            if (ref == NULL) return oom(p);
            if ((rc = parse_qualname(p, ref)) != MD_OK) return rc;
            if (!list) break;
            const tok_t *t = peek(p, 0);
            if (t->k == T_RBRACK) {
                (void)next(p);
                break;
            }
            if (t->k != T_COMMA) return unexpected(p, t);
            (void)next(p);
        }
    }
    if (is_kw(peek(p, 0), "appliesTo")) {
        (void)next(p);
        if ((rc = parse_applies_to(p, &tmpl, &names[0])) != MD_OK) return rc;
    }
    if (is_kw(peek(p, 0), "attributes")) {
        (void)next(p);
        if ((rc = expect(p, T_LBRACE, NULL)) != MD_OK || (rc = expect(p, T_RBRACE, NULL)) != MD_OK) return rc;
    }
    if ((rc = expect(p, T_SEMI, NULL)) != MD_OK) return rc;
    for (uint32_t i = 0; i < nn; i++) {
        md_raction_t *a = md_schema_push(p->a, &ns->actions, &ns->nactions, &ns->capactions, sizeof(*a));
        if (a == NULL) return oom(p);
        *a = tmpl;
        a->id = names[i].name;
        a->loc = names[i].loc;
    }
    return MD_OK;
}

static int parse_typedecl(parser_t *p, md_rns_t *ns)
{
    md_str_t name;
    md_sloc_t loc;
    md_rty_t *ty;
    int rc;
    if ((rc = parse_ident(p, &name, &loc)) != MD_OK || (rc = expect(p, T_EQ, NULL)) != MD_OK ||
        (rc = parse_type(p, 0, &ty)) != MD_OK || (rc = expect(p, T_SEMI, NULL)) != MD_OK)
        return rc;
    md_rcommon_t *c = md_schema_push(p->a, &ns->commons, &ns->ncommons, &ns->capcommons, sizeof(*c));
    if (c == NULL) return oom(p);
    c->name = name;
    c->loc = loc;
    c->type = ty;
    return MD_OK;
}

static bool is_decl_start(const tok_t *t)
{
    return is_kw(t, "entity") || is_kw(t, "action") || is_kw(t, "type");
}

/* Decl with its annotations already consumed; ns is an index (the array may move). */
static int parse_decl(parser_t *p, uint32_t ns)
{
    tok_t t = next(p);
    if (is_kw(&t, "entity")) return parse_entity(p, &p->raw->ns[ns]);
    if (is_kw(&t, "action")) return parse_action(p, &p->raw->ns[ns]);
    return parse_typedecl(p, &p->raw->ns[ns]);
}

static int parse_namespace(parser_t *p)
{
    md_str_t name;
    md_sloc_t loc;
    int rc;
    (void)next(p); /* 'namespace' */
    if ((rc = parse_path(p, &name, &loc)) != MD_OK || (rc = expect(p, T_LBRACE, NULL)) != MD_OK) return rc;
    md_rns_t *ns = md_schema_push(p->a, &p->raw->ns, &p->raw->nns, &p->raw->capns, sizeof(*ns));
    if (ns == NULL) return oom(p);
    ns->name = name;
    ns->loc = loc;
    uint32_t idx = p->raw->nns - 1;
    for (;;) {
        if (peek(p, 0)->k == T_RBRACE) {
            (void)next(p);
            return MD_OK;
        }
        if ((rc = parse_annotations(p)) != MD_OK) return rc;
        const tok_t *t = peek(p, 0);
        if (!is_decl_start(t)) return unexpected(p, t);
        if ((rc = parse_decl(p, idx)) != MD_OK) return rc;
    }
}

static int parse_schema(parser_t *p)
{
    for (;;) {
        const tok_t *t = peek(p, 0);
        if (t->k == T_EOF) return MD_OK;
        int rc = parse_annotations(p);
        if (rc != MD_OK) return rc;
        t = peek(p, 0);
        if (is_kw(t, "namespace")) {
            rc = parse_namespace(p);
        } else if (is_decl_start(t)) {
            if (p->empty_ns < 0) {
                md_rns_t *ns = md_schema_push(p->a, &p->raw->ns, &p->raw->nns, &p->raw->capns, sizeof(*ns));
                if (ns == NULL) return oom(p);
                ns->name = (md_str_t){"", 0};
                ns->loc = t->loc;
                p->empty_ns = p->raw->nns - 1;
            }
            rc = parse_decl(p, (uint32_t)p->empty_ns);
        } else {
            rc = unexpected(p, t);
        }
        if (rc != MD_OK) return rc;
    }
}

int md_schema_parse_cedar(const char *text, size_t len, const char *name, md_schema_t **out, md_err_t *err)
{
    md_arena_t scratch;
    md_rschema_t raw;
    parser_t p;
    int rc;

    *out = NULL;
    md_arena_init(&scratch, 0);
    memset(&raw, 0, sizeof(raw));
    raw.scratch = &scratch;
    raw.src = name ? name : "schema";
    memset(&p, 0, sizeof(p));
    p.src = raw.src;
    p.err = err;
    p.raw = &raw;
    p.a = &scratch;
    p.text = text ? text : "";
    p.len = text ? len : 0;
    p.line = 1;
    p.col = 1;
    p.empty_ns = -1;

    /* The reference reads the schema as a Rust string: it must be UTF-8. */
    for (size_t i = 0; i < p.len;) {
        size_t at = i;
        if (md_utf8_next(p.text, p.len, &i) < 0) {
            advance(&p, at);
            md_sloc_t loc = {p.line, p.col, NULL};
            rc = md_schema_errf(err, raw.src, &loc, MD_EINVAL, "invalid UTF-8");
            goto out;
        }
    }
    if ((rc = parse_schema(&p)) != MD_OK) goto out;
    rc = md_schema_resolve(&raw, out, err);
out:
    md_arena_free(&scratch);
    return rc;
}
