/*
 * value.c: entity UIDs and Cedar values: ordering, set and record
 * normalisation, lookups, and printing in Cedar JSON and Cedar syntax.
 *
 * Invariant kept by every constructor in the engine: a SET value is sorted by
 * md_cv_cmp() with no duplicates and a RECORD's fields are sorted by key with
 * no duplicate key.  md_cv_cmp() is then structural equality.
 */
#include "cedar/value.h"

#include <stdlib.h>

uint64_t md_uid_hash(md_str_t type, md_str_t id)
{
    uint64_t h = md_hash_bytes(type.p, type.n, 0x9e3779b97f4a7c15ULL);
    return md_hash_bytes(id.p, id.n, h);
}

bool md_type_name_valid(md_str_t t)
{
    static const char *const reserved[] = {"true", "false", "if", "then", "else", "in", "like", "has", "is"};
    size_t i = 0;
    if (t.n == 0) return false;
    for (;;) {
        size_t j = i;
        if (j >= t.n ||
            !(t.p[j] == '_' || (t.p[j] >= 'a' && t.p[j] <= 'z') || (t.p[j] >= 'A' && t.p[j] <= 'Z')))
            return false;
        while (j < t.n && (t.p[j] == '_' || (t.p[j] >= 'a' && t.p[j] <= 'z') ||
                           (t.p[j] >= 'A' && t.p[j] <= 'Z') || (t.p[j] >= '0' && t.p[j] <= '9')))
            j++;
        md_str_t comp = {t.p + i, j - i};
        for (size_t k = 0; k < sizeof(reserved) / sizeof(reserved[0]); k++)
            if (md_str_eqc(comp, reserved[k])) return false;
        if (md_str_eqc(comp, "__cedar")) return false;
        if (j == t.n) return true;
        if (j + 2 > t.n || t.p[j] != ':' || t.p[j + 1] != ':') return false;
        i = j + 2;
    }
}

int md_uid_cmp(const md_uid_t *a, const md_uid_t *b)
{
    int c = md_str_cmp(a->type, b->type);
    return c ? c : md_str_cmp(a->id, b->id);
}

md_uid_t *md_uid_new(md_arena_t *a, md_str_t type, md_str_t id)
{
    md_uid_t *u = md_arena_alloc(a, sizeof(*u));
    if (u == NULL) return NULL;
    u->type = md_arena_str(a, type);
    u->id = md_arena_str(a, id);
    if (u->type.p == NULL || u->id.p == NULL) return NULL;
    u->hash = md_uid_hash(type, id);
    return u;
}

const char *md_cv_kind_name(int kind)
{
    switch (kind) {
    case MD_CV_BOOL: return "bool";
    case MD_CV_LONG: return "long";
    case MD_CV_STRING: return "string";
    case MD_CV_ENTITY: return "entity";
    case MD_CV_SET: return "set";
    case MD_CV_RECORD: return "record";
    case MD_CV_DECIMAL: return "decimal";
    case MD_CV_IPADDR: return "ipaddr";
    case MD_CV_DATETIME: return "datetime";
    case MD_CV_DURATION: return "duration";
    }
    return "none";
}

static int cmp_i64(int64_t a, int64_t b)
{
    return a < b ? -1 : a > b ? 1 : 0;
}

int md_cv_cmp(const md_cv_t *a, const md_cv_t *b)
{
    if (a->kind != b->kind) return a->kind < b->kind ? -1 : 1;
    switch (a->kind) {
    case MD_CV_BOOL: return (int)a->b - (int)b->b;
    case MD_CV_LONG:
    case MD_CV_DECIMAL:
    case MD_CV_DATETIME:
    case MD_CV_DURATION: return cmp_i64(a->i, b->i);
    case MD_CV_STRING: return md_str_cmp(a->s, b->s);
    case MD_CV_ENTITY: return a->uid == b->uid ? 0 : md_uid_cmp(a->uid, b->uid);
    case MD_CV_IPADDR: return md_ip_cmp(a->ip, b->ip);
    case MD_CV_SET: {
        if (a->set.n != b->set.n) return a->set.n < b->set.n ? -1 : 1;
        for (uint32_t i = 0; i < a->set.n; i++) {
            int c = md_cv_cmp(&a->set.v[i], &b->set.v[i]);
            if (c) return c;
        }
        return 0;
    }
    case MD_CV_RECORD: {
        if (a->rec.n != b->rec.n) return a->rec.n < b->rec.n ? -1 : 1;
        for (uint32_t i = 0; i < a->rec.n; i++) {
            int c = md_str_cmp(a->rec.f[i].key, b->rec.f[i].key);
            if (c) return c;
            c = md_cv_cmp(&a->rec.f[i].val, &b->rec.f[i].val);
            if (c) return c;
        }
        return 0;
    }
    }
    return 0;
}

static int cv_qcmp(const void *x, const void *y)
{
    return md_cv_cmp(x, y);
}

uint32_t md_cv_set_normalize(md_cv_t *v, uint32_t n)
{
    if (n < 2) return n;
    /* already sorted and unique? (common for literals and small sets) */
    uint32_t i;
    for (i = 1; i < n; i++)
        if (md_cv_cmp(&v[i - 1], &v[i]) >= 0) break;
    if (i == n) return n;
    qsort(v, n, sizeof(*v), cv_qcmp);
    uint32_t k = 1;
    for (i = 1; i < n; i++)
        if (md_cv_cmp(&v[k - 1], &v[i]) != 0) v[k++] = v[i];
    return k;
}

static int field_qcmp(const void *x, const void *y)
{
    const md_cv_field_t *a = x, *b = y;
    return md_str_cmp(a->key, b->key);
}

int md_cv_record_normalize(md_cv_field_t *f, uint32_t n)
{
    if (n < 2) return MD_OK;
    qsort(f, n, sizeof(*f), field_qcmp);
    for (uint32_t i = 1; i < n; i++)
        if (md_str_eq(f[i - 1].key, f[i].key)) return MD_EINVAL;
    return MD_OK;
}

const md_cv_t *md_cv_record_get(const md_cv_t *rec, md_str_t key)
{
    uint32_t lo = 0, hi = rec->rec.n;
    while (lo < hi) {
        uint32_t mid = lo + (hi - lo) / 2;
        int c = md_str_cmp(rec->rec.f[mid].key, key);
        if (c == 0) return &rec->rec.f[mid].val;
        if (c < 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    return NULL;
}

bool md_cv_set_contains(const md_cv_t *set, const md_cv_t *x)
{
    uint32_t lo = 0, hi = set->set.n;
    while (lo < hi) {
        uint32_t mid = lo + (hi - lo) / 2;
        int c = md_cv_cmp(&set->set.v[mid], x);
        if (c == 0) return true;
        if (c < 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    return false;
}

static void uid_to_json(md_buf_t *b, const md_uid_t *u)
{
    md_buf_adds(b, "{\"type\":");
    md_buf_add_json_str(b, u->type);
    md_buf_adds(b, ",\"id\":");
    md_buf_add_json_str(b, u->id);
    md_buf_addc(b, '}');
}

static void extn_to_json(md_buf_t *b, const char *fn, const char *arg, size_t n)
{
    md_buf_printf(b, "{\"__extn\":{\"fn\":\"%s\",\"arg\":", fn);
    md_buf_add_json_str(b, (md_str_t){arg, n});
    md_buf_adds(b, "}}");
}

void md_cv_to_json(md_buf_t *b, const md_cv_t *v)
{
    char t[96];
    size_t n;
    switch (v->kind) {
    case MD_CV_BOOL: md_buf_adds(b, v->b ? "true" : "false"); return;
    case MD_CV_LONG: md_buf_printf(b, "%lld", (long long)v->i); return;
    case MD_CV_STRING: md_buf_add_json_str(b, v->s); return;
    case MD_CV_ENTITY:
        md_buf_adds(b, "{\"__entity\":");
        uid_to_json(b, v->uid);
        md_buf_addc(b, '}');
        return;
    case MD_CV_SET:
        md_buf_addc(b, '[');
        for (uint32_t i = 0; i < v->set.n; i++) {
            if (i) md_buf_addc(b, ',');
            md_cv_to_json(b, &v->set.v[i]);
        }
        md_buf_addc(b, ']');
        return;
    case MD_CV_RECORD:
        md_buf_addc(b, '{');
        for (uint32_t i = 0; i < v->rec.n; i++) {
            if (i) md_buf_addc(b, ',');
            md_buf_add_json_str(b, v->rec.f[i].key);
            md_buf_addc(b, ':');
            md_cv_to_json(b, &v->rec.f[i].val);
        }
        md_buf_addc(b, '}');
        return;
    case MD_CV_DECIMAL:
        n = md_decimal_format(v->i, t, sizeof(t));
        extn_to_json(b, "decimal", t, n);
        return;
    case MD_CV_IPADDR:
        n = md_ip_format(v->ip, t, sizeof(t));
        extn_to_json(b, "ip", t, n);
        return;
    case MD_CV_DATETIME:
        n = md_datetime_format(v->i, t, sizeof(t));
        extn_to_json(b, "datetime", t, n);
        return;
    case MD_CV_DURATION:
        n = md_duration_format(v->i, t, sizeof(t));
        extn_to_json(b, "duration", t, n);
        return;
    }
    md_buf_adds(b, "null");
}

/* Cedar string literal: escapes as Rust's escape_debug would print them. */
static void cedar_str(md_buf_t *b, md_str_t s)
{
    md_buf_addc(b, '"');
    for (size_t i = 0; i < s.n; i++) {
        unsigned char c = (unsigned char)s.p[i];
        switch (c) {
        case '"': md_buf_adds(b, "\\\""); break;
        case '\\': md_buf_adds(b, "\\\\"); break;
        case '\n': md_buf_adds(b, "\\n"); break;
        case '\r': md_buf_adds(b, "\\r"); break;
        case '\t': md_buf_adds(b, "\\t"); break;
        case '\0': md_buf_adds(b, "\\0"); break;
        default:
            if (c < 0x20 || c == 0x7f)
                md_buf_printf(b, "\\u{%x}", c);
            else
                md_buf_addc(b, (char)c);
        }
    }
    md_buf_addc(b, '"');
}

void md_uid_to_cedar(md_buf_t *b, const md_uid_t *u)
{
    md_buf_add(b, u->type.p, u->type.n);
    md_buf_adds(b, "::");
    cedar_str(b, u->id);
}

void md_cv_to_cedar(md_buf_t *b, const md_cv_t *v)
{
    char t[96];
    size_t n;
    switch (v->kind) {
    case MD_CV_BOOL: md_buf_adds(b, v->b ? "true" : "false"); return;
    case MD_CV_LONG: md_buf_printf(b, "%lld", (long long)v->i); return;
    case MD_CV_STRING: cedar_str(b, v->s); return;
    case MD_CV_ENTITY: md_uid_to_cedar(b, v->uid); return;
    case MD_CV_SET:
        md_buf_addc(b, '[');
        for (uint32_t i = 0; i < v->set.n; i++) {
            if (i) md_buf_adds(b, ", ");
            md_cv_to_cedar(b, &v->set.v[i]);
        }
        md_buf_addc(b, ']');
        return;
    case MD_CV_RECORD:
        md_buf_addc(b, '{');
        for (uint32_t i = 0; i < v->rec.n; i++) {
            if (i) md_buf_adds(b, ", ");
            cedar_str(b, v->rec.f[i].key);
            md_buf_adds(b, ": ");
            md_cv_to_cedar(b, &v->rec.f[i].val);
        }
        md_buf_addc(b, '}');
        return;
    case MD_CV_DECIMAL:
        n = md_decimal_format(v->i, t, sizeof(t));
        md_buf_adds(b, "decimal(");
        cedar_str(b, (md_str_t){t, n});
        md_buf_addc(b, ')');
        return;
    case MD_CV_IPADDR:
        n = md_ip_format(v->ip, t, sizeof(t));
        md_buf_adds(b, "ip(");
        cedar_str(b, (md_str_t){t, n});
        md_buf_addc(b, ')');
        return;
    case MD_CV_DATETIME:
        n = md_datetime_format(v->i, t, sizeof(t));
        md_buf_adds(b, "datetime(");
        cedar_str(b, (md_str_t){t, n});
        md_buf_addc(b, ')');
        return;
    case MD_CV_DURATION:
        n = md_duration_format(v->i, t, sizeof(t));
        md_buf_adds(b, "duration(");
        cedar_str(b, (md_str_t){t, n});
        md_buf_addc(b, ')');
        return;
    }
}
