/*
 * config.c: the directive-table YAML config parser and the daemon's table.
 *
 * Owns: turning one YAML file into an md_config_t, and every message about
 * what is wrong with it.  Invariants: a returned config has every key set to
 * a checked value (defaults included) and all its strings in its own arena;
 * a config with any error is never returned; nothing here touches the data
 * directory or the network.
 */
#include "core/config.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <strings.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <libfyaml.h>

#define CONF_FILE_MAX (1024 * 1024)
#define CONF_STRING_MAX 4096
#define CONF_KEY_MAX 128

/* ---- diagnostics ---- */

void md_conf_diag_init(md_conf_diag_t *d)
{
    md_buf_init(&d->text);
    d->count = 0;
    d->dropped = 0;
}

void md_conf_diag_free(md_conf_diag_t *d)
{
    md_buf_free(&d->text);
    d->count = 0;
    d->dropped = 0;
}

void md_conf_diag_add(md_conf_diag_t *d, const char *file, int line, const char *key, const char *fmt, ...)
{
    va_list ap;
    char msg[1024];

    if (d->count >= MD_CONF_MAX_ERRORS) {
        d->dropped++;
        return;
    }
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    md_buf_adds(&d->text, file ? file : "(config)");
    if (line > 0) md_buf_printf(&d->text, ":%d", line);
    md_buf_adds(&d->text, ": ");
    if (key != NULL) md_buf_printf(&d->text, "key `%s`: ", key);
    /* keep one error per line whatever the message holds */
    for (char *p = msg; *p; p++)
        if (*p == '\n' || *p == '\r') *p = ' ';
    md_buf_adds(&d->text, msg);
    md_buf_addc(&d->text, '\n');
    d->count++;
}

/* ---- scalar parsers: 0 on success, -1 with a message ---- */

static int parse_int(const char *s, int64_t *out, char *msg, size_t msgsz)
{
    const char *p = s;
    bool neg = false;
    uint64_t v = 0;

    if (*p == '-') {
        neg = true;
        p++;
    }
    if (*p < '0' || *p > '9') {
        snprintf(msg, msgsz, "`%s` is not an integer", s);
        return -1;
    }
    for (; *p >= '0' && *p <= '9'; p++) {
        if (v > ((uint64_t)INT64_MAX - (uint64_t)(*p - '0')) / 10) {
            snprintf(msg, msgsz, "`%s` is too large", s);
            return -1;
        }
        v = v * 10 + (uint64_t)(*p - '0');
    }
    if (*p != '\0') {
        snprintf(msg, msgsz, "`%s` is not an integer", s);
        return -1;
    }
    *out = neg ? -(int64_t)v : (int64_t)v;
    return 0;
}

static int parse_size(const char *s, int64_t *out, char *msg, size_t msgsz)
{
    static const struct {
        const char *suffix;
        int64_t mult;
    } units[] = {
        {"", 1},          {"B", 1},           {"k", 1LL << 10},
        {"K", 1LL << 10}, {"KiB", 1LL << 10}, {"m", 1LL << 20},
        {"M", 1LL << 20}, {"MiB", 1LL << 20}, {"g", 1LL << 30},
        {"G", 1LL << 30}, {"GiB", 1LL << 30},
    };
    const char *p = s;
    int64_t v = 0;

    if (*p < '0' || *p > '9') goto bad;
    for (; *p >= '0' && *p <= '9'; p++) {
        if (v > (INT64_MAX - (*p - '0')) / 10) goto big;
        v = v * 10 + (*p - '0');
    }
    while (*p == ' ')
        p++;
    for (size_t i = 0; i < sizeof(units) / sizeof(units[0]); i++) {
        if (strcmp(p, units[i].suffix) == 0) {
            if (v > INT64_MAX / units[i].mult) goto big;
            *out = v * units[i].mult;
            return 0;
        }
    }
bad:
    snprintf(msg, msgsz, "`%s` is not a size (write e.g. 1048576, 512KiB, 1MiB)", s);
    return -1;
big:
    snprintf(msg, msgsz, "`%s` is too large", s);
    return -1;
}

static int parse_duration(const char *s, int64_t *out, char *msg, size_t msgsz)
{
    const char *p = s;
    int64_t total = 0;
    bool any = false;

    /* a bare number is seconds */
    bool bare = *p != '\0';
    for (const char *q = p; *q; q++)
        if (*q < '0' || *q > '9') bare = false;
    if (bare) {
        int64_t v;
        if (parse_int(s, &v, msg, msgsz) != 0) return -1;
        if (v > INT64_MAX / 1000) goto big;
        *out = v * 1000;
        return 0;
    }
    while (*p) {
        int64_t v = 0, mult;
        if (*p < '0' || *p > '9') goto bad;
        for (; *p >= '0' && *p <= '9'; p++) {
            if (v > (INT64_MAX - (*p - '0')) / 10) goto big;
            v = v * 10 + (*p - '0');
        }
        if (strncmp(p, "ms", 2) == 0) {
            mult = 1;
            p += 2;
        } else if (*p == 's') {
            mult = 1000;
            p++;
        } else if (*p == 'm') {
            mult = 60 * 1000;
            p++;
        } else if (*p == 'h') {
            mult = 3600 * 1000;
            p++;
        } else {
            goto bad;
        }
        if (v > INT64_MAX / mult || total > INT64_MAX - v * mult) goto big;
        total += v * mult;
        any = true;
    }
    if (!any) goto bad;
    *out = total;
    return 0;
bad:
    snprintf(msg, msgsz, "`%s` is not a duration (write e.g. 250ms, 10s, 5m, 1h, 1m30s)", s);
    return -1;
big:
    snprintf(msg, msgsz, "`%s` is too long", s);
    return -1;
}

static void format_ms(char *out, size_t n, int64_t ms)
{
    if (ms % 1000 != 0)
        snprintf(out, n, "%lldms", (long long)ms);
    else
        snprintf(out, n, "%llds", (long long)(ms / 1000));
}

/* ---- YAML walking ---- */

typedef struct conf_ctx {
    const char *file;
    const char *base_dir;
    const md_conf_directive_t *table;
    size_t n;
    void *target;
    int *lines;
    md_arena_t *arena;
    md_conf_diag_t *diag;
    bool oom;
    /* inside an item of a SECTIONS list: keys are shown as "list[i].key" (label "list[i]")
     * and looked up in the table as "list[].key" (lookup "list[]"); both NULL at the top */
    const char *label;
    const char *lookup;
} conf_ctx_t;

/* The key of d as the operator wrote it: "federation.issuers[0].audience" inside an item. */
static const char *shown_name(const conf_ctx_t *c, const md_conf_directive_t *d, char *buf, size_t n)
{
    if (c->label == NULL) return d->name;
    snprintf(buf, n, "%s%s", c->label, d->name + strlen(c->lookup));
    return buf;
}

/* Is d a key of the items of a list ("list[].key"), or, with list set, of that list? */
static bool is_item_key(const md_conf_directive_t *d, const char *list)
{
    if (list == NULL) return strstr(d->name, "[].") != NULL;
    size_t n = strlen(list);
    return strncmp(d->name, list, n) == 0 && d->name[n] == '.';
}

static const md_conf_directive_t *find_directive(const conf_ctx_t *c, const char *name, size_t *idx)
{
    for (size_t i = 0; i < c->n; i++)
        if (strcmp(c->table[i].name, name) == 0) {
            if (idx) *idx = i;
            return &c->table[i];
        }
    return NULL;
}

static bool is_section(const conf_ctx_t *c, const char *name)
{
    size_t len = strlen(name);
    for (size_t i = 0; i < c->n; i++)
        if (strncmp(c->table[i].name, name, len) == 0 && c->table[i].name[len] == '.') return true;
    return false;
}

static int node_line(struct fy_node *n)
{
    struct fy_token *t = n ? fy_node_get_scalar_token(n) : NULL;
    const struct fy_mark *m = t ? fy_token_start_mark(t) : NULL;
    return m ? m->line + 1 : 0;
}

static const char *node_kind(struct fy_node *n)
{
    if (n == NULL) return "nothing";
    if (fy_node_is_alias(n)) return "an alias";
    switch (fy_node_get_type(n)) {
    case FYNT_SCALAR: return "a scalar";
    case FYNT_SEQUENCE: return "a list";
    case FYNT_MAPPING: return "a mapping";
    }
    return "something else";
}

/* A null value: an absent node or a plain empty / ~ / null scalar. */
static bool node_is_null(struct fy_node *n)
{
    if (n == NULL) return true;
    if (fy_node_get_type(n) != FYNT_SCALAR || fy_node_is_alias(n)) return false;
    if (fy_node_get_style(n) != FYNS_PLAIN) return false;
    size_t len = 0;
    const char *s = fy_node_get_scalar(n, &len);
    return s == NULL || len == 0 || (len == 1 && s[0] == '~') || (len == 4 && memcmp(s, "null", 4) == 0);
}

/* The scalar text of n as a NUL-terminated arena string, or NULL with an error reported. */
static const char *scalar_text(conf_ctx_t *c, struct fy_node *n, int line, const char *key)
{
    size_t len = 0;
    const char *s;
    char *copy;

    if (n == NULL || fy_node_is_alias(n) || fy_node_get_type(n) != FYNT_SCALAR) {
        md_conf_diag_add(c->diag, c->file, line, key, "expected a single value, found %s", node_kind(n));
        return NULL;
    }
    s = fy_node_get_scalar(n, &len);
    if (s == NULL) len = 0;
    if (len > CONF_STRING_MAX) {
        md_conf_diag_add(c->diag, c->file, line, key, "value is longer than %d bytes", CONF_STRING_MAX);
        return NULL;
    }
    if (len > 0 && memchr(s, '\0', len) != NULL) {
        md_conf_diag_add(c->diag, c->file, line, key, "value contains a NUL character");
        return NULL;
    }
    copy = md_arena_memdup(c->arena, s ? s : "", len);
    if (copy == NULL) c->oom = true;
    return copy;
}

static char *join_path(conf_ctx_t *c, const char *base, const char *rel)
{
    size_t bl = strlen(base), rl = strlen(rel);
    char *p = md_arena_alloc(c->arena, bl + rl + 2);
    if (p == NULL) {
        c->oom = true;
        return NULL;
    }
    memcpy(p, base, bl);
    p[bl] = '/';
    memcpy(p + bl + 1, rel, rl + 1);
    return p;
}

/*
 * Parse text as directive d's value into its field.  Returns 0, or -1 after
 * reporting (line/key name the place; line 0 for defaults).
 */
static int set_value(conf_ctx_t *c, const md_conf_directive_t *d, const char *text, int line)
{
    char msg[512] = "", shown[CONF_KEY_MAX * 2];
    void *field = (char *)c->target + d->offset;
    int64_t v = 0;

    switch (d->type) {
    case MD_CONF_STRING:
    case MD_CONF_PATH:
        if (text[0] == '\0') {
            snprintf(msg, sizeof(msg), "value must not be empty");
            goto bad;
        }
        if (d->type == MD_CONF_PATH && text[0] != '/' && c->base_dir != NULL) {
            text = join_path(c, c->base_dir, text);
            if (text == NULL) return -1;
        }
        *(const char **)field = text;
        break;
    case MD_CONF_INT:
    case MD_CONF_SIZE:
    case MD_CONF_DURATION: {
        int r = d->type == MD_CONF_INT    ? parse_int(text, &v, msg, sizeof(msg))
                : d->type == MD_CONF_SIZE ? parse_size(text, &v, msg, sizeof(msg))
                                          : parse_duration(text, &v, msg, sizeof(msg));
        if (r != 0) goto bad;
        if (d->max > 0 && (v < d->min || v > d->max)) {
            if (d->type == MD_CONF_DURATION) {
                char lo[32], hi[32];
                format_ms(lo, sizeof(lo), d->min);
                format_ms(hi, sizeof(hi), d->max);
                snprintf(msg, sizeof(msg), "`%s` is out of range (%s..%s)", text, lo, hi);
            } else {
                snprintf(msg, sizeof(msg), "`%s` is out of range (%lld..%lld)", text, (long long)d->min,
                         (long long)d->max);
            }
            goto bad;
        }
        *(int64_t *)field = v;
        break;
    }
    case MD_CONF_BOOL:
        if (strcmp(text, "true") == 0)
            *(bool *)field = true;
        else if (strcmp(text, "false") == 0)
            *(bool *)field = false;
        else {
            snprintf(msg, sizeof(msg), "`%s` is not a boolean (write true or false)", text);
            goto bad;
        }
        break;
    case MD_CONF_ENUM: {
        md_buf_t names;
        for (int i = 0; d->enum_names[i]; i++)
            if (strcmp(text, d->enum_names[i]) == 0) {
                *(int *)field = i;
                goto validate;
            }
        md_buf_init(&names);
        for (int i = 0; d->enum_names[i]; i++) {
            if (i) md_buf_adds(&names, ", ");
            md_buf_adds(&names, d->enum_names[i]);
        }
        snprintf(msg, sizeof(msg), "`%s` is not one of: %s", text, names.p ? names.p : "");
        md_buf_free(&names);
        goto bad;
    }
    case MD_CONF_LIST:
        /* lists are set by set_list() */
        snprintf(msg, sizeof(msg), "expected a list");
        goto bad;
    case MD_CONF_MAP:
        /* set by set_map() */
        snprintf(msg, sizeof(msg), "expected a mapping");
        goto bad;
    case MD_CONF_SECTIONS:
        /* set by set_sections() */
        snprintf(msg, sizeof(msg), "expected a list of mappings");
        goto bad;
    }
validate:
    if (d->validate != NULL && d->validate(d, field, msg, sizeof(msg)) != 0) goto bad;
    return 0;
bad:
    md_conf_diag_add(c->diag, c->file, line, shown_name(c, d, shown, sizeof(shown)), "%s", msg);
    return -1;
}

static int set_list(conf_ctx_t *c, const md_conf_directive_t *d, struct fy_node *value, int line)
{
    md_conf_list_t *list = (md_conf_list_t *)((char *)c->target + d->offset);
    char msg[512] = "";
    void *iter = NULL;
    struct fy_node *item;
    size_t n, i = 0;
    char shown[CONF_KEY_MAX * 2];
    const char *key = shown_name(c, d, shown, sizeof(shown));

    if (node_is_null(value)) {
        list->items = NULL;
        list->n = 0;
        goto validate;
    }
    if (fy_node_is_alias(value) || fy_node_get_type(value) != FYNT_SEQUENCE) {
        md_conf_diag_add(c->diag, c->file, line, key, "expected a list, found %s", node_kind(value));
        return -1;
    }
    n = (size_t)fy_node_sequence_item_count(value);
    list->items = md_arena_zalloc(c->arena, (n ? n : 1) * sizeof(*list->items));
    if (list->items == NULL) {
        c->oom = true;
        return -1;
    }
    while ((item = fy_node_sequence_iterate(value, &iter)) != NULL && i < n) {
        const char *s = scalar_text(c, item, line, key);
        if (s == NULL) return -1;
        if (s[0] == '\0') {
            md_conf_diag_add(c->diag, c->file, line, key, "list item %zu is empty", i + 1);
            return -1;
        }
        list->items[i++] = s;
    }
    list->n = i;
validate:
    if (d->validate != NULL && d->validate(d, list, msg, sizeof(msg)) != 0) {
        md_conf_diag_add(c->diag, c->file, line, key, "%s", msg);
        return -1;
    }
    return 0;
}

/* MD_CONF_MAP: a mapping of free-form keys, each to a scalar or a list of scalars. */
static int set_map(conf_ctx_t *c, const md_conf_directive_t *d, struct fy_node *value, int line)
{
    md_conf_map_t *map = (md_conf_map_t *)((char *)c->target + d->offset);
    char shown[CONF_KEY_MAX * 2], msg[512] = "";
    const char *key = shown_name(c, d, shown, sizeof(shown));
    void *iter = NULL;
    struct fy_node_pair *pair;
    size_t n, i = 0;

    map->items = NULL;
    map->n = 0;
    if (node_is_null(value)) goto validate;
    if (fy_node_is_alias(value) || fy_node_get_type(value) != FYNT_MAPPING) {
        md_conf_diag_add(c->diag, c->file, line, key, "expected a mapping, found %s", node_kind(value));
        return -1;
    }
    n = (size_t)fy_node_mapping_item_count(value);
    map->items = md_arena_zalloc(c->arena, (n ? n : 1) * sizeof(*map->items));
    if (map->items == NULL) {
        c->oom = true;
        return -1;
    }
    while ((pair = fy_node_mapping_iterate(value, &iter)) != NULL && i < n) {
        struct fy_node *k = fy_node_pair_key(pair), *v = fy_node_pair_value(pair);
        md_conf_map_entry_t *e = &map->items[i];
        int kline = node_line(k) ? node_line(k) : line;
        char ekey[CONF_KEY_MAX * 3 + 4];
        const char *ktext = scalar_text(c, k, kline, key);

        if (ktext == NULL) return -1;
        if (ktext[0] == '\0' || strlen(ktext) > CONF_KEY_MAX) {
            md_conf_diag_add(c->diag, c->file, kline, key, "keys must be 1..%d bytes", CONF_KEY_MAX);
            return -1;
        }
        snprintf(ekey, sizeof(ekey), "%.250s.%.128s", key, ktext);
        e->key = ktext;
        e->line = kline;
        if (!node_is_null(v) && !fy_node_is_alias(v) && fy_node_get_type(v) == FYNT_SEQUENCE) {
            void *vi = NULL;
            struct fy_node *item;
            size_t m = (size_t)fy_node_sequence_item_count(v), j = 0;
            if (m == 0) {
                md_conf_diag_add(c->diag, c->file, kline, ekey, "the list of values is empty");
                return -1;
            }
            e->values.items = md_arena_zalloc(c->arena, m * sizeof(*e->values.items));
            if (e->values.items == NULL) {
                c->oom = true;
                return -1;
            }
            while ((item = fy_node_sequence_iterate(v, &vi)) != NULL && j < m) {
                const char *s = scalar_text(c, item, kline, ekey);
                if (s == NULL) return -1;
                if (s[0] == '\0') {
                    md_conf_diag_add(c->diag, c->file, kline, ekey, "value %zu is empty", j + 1);
                    return -1;
                }
                e->values.items[j++] = s;
            }
            e->values.n = j;
        } else {
            const char *s = node_is_null(v) ? "" : scalar_text(c, v, kline, ekey);
            if (s == NULL) return -1;
            if (s[0] == '\0') {
                md_conf_diag_add(c->diag, c->file, kline, ekey, "a value is required");
                return -1;
            }
            e->values.items = md_arena_zalloc(c->arena, sizeof(*e->values.items));
            if (e->values.items == NULL) {
                c->oom = true;
                return -1;
            }
            e->values.items[0] = s;
            e->values.n = 1;
        }
        i++;
    }
    map->n = i;
validate:
    if (d->validate != NULL && d->validate(d, map, msg, sizeof(msg)) != 0) {
        md_conf_diag_add(c->diag, c->file, line, key, "%s", msg);
        return -1;
    }
    return 0;
}

static void walk_mapping(conf_ctx_t *c, struct fy_node *map, const char *prefix, int depth);

/*
 * MD_CONF_SECTIONS: a sequence of mappings.  Each item gets the sub-table's
 * defaults, then its keys; keys flagged MD_CONF_REQUIRED must be written.
 */
static int set_sections(conf_ctx_t *c, const md_conf_directive_t *d, struct fy_node *value, int line,
                        const char *key, int depth)
{
    md_conf_sections_t *list = (md_conf_sections_t *)((char *)c->target + d->offset);
    size_t item_size = (size_t)d->max;
    char msg[512] = "", lookup[CONF_KEY_MAX * 2];
    void *iter = NULL;
    struct fy_node *node;
    size_t n, i = 0;
    int errors_before = c->diag->count + c->diag->dropped;

    list->items = NULL;
    list->n = 0;
    if (item_size < sizeof(md_conf_item_t) || c->label != NULL) {
        /* a bug in the table: lists of sections do not nest */
        md_conf_diag_add(c->diag, c->file, line, key, "internal: bad list directive");
        return -1;
    }
    snprintf(lookup, sizeof(lookup), "%s[]", d->name);
    if (node_is_null(value)) goto validate;
    if (fy_node_is_alias(value) || fy_node_get_type(value) != FYNT_SEQUENCE) {
        md_conf_diag_add(c->diag, c->file, line, key, "expected a list of mappings, found %s",
                         node_kind(value));
        return -1;
    }
    n = (size_t)fy_node_sequence_item_count(value);
    list->items = md_arena_zalloc(c->arena, (n ? n : 1) * item_size);
    if (list->items == NULL) {
        c->oom = true;
        return -1;
    }
    while ((node = fy_node_sequence_iterate(value, &iter)) != NULL && i < n) {
        md_conf_item_t *item = (md_conf_item_t *)((char *)list->items + i * item_size);
        char label[CONF_KEY_MAX * 2];
        conf_ctx_t sub = *c;
        struct fy_node_pair *first;

        snprintf(label, sizeof(label), "%.200s[%zu]", key, i);
        i++;
        if (fy_node_is_alias(node) || fy_node_get_type(node) != FYNT_MAPPING) {
            md_conf_diag_add(c->diag, c->file, node_line(node) ? node_line(node) : line, label,
                             "expected a mapping of keys, found %s", node_kind(node));
            continue;
        }
        first = fy_node_mapping_get_by_index(node, 0);
        item->line =
            first != NULL && node_line(fy_node_pair_key(first)) ? node_line(fy_node_pair_key(first)) : line;
        item->lines = md_arena_zalloc(c->arena, (c->n ? c->n : 1) * sizeof(int));
        if (item->lines == NULL) {
            c->oom = true;
            return -1;
        }
        sub.target = item;
        sub.lines = item->lines;
        sub.label = label;
        sub.lookup = lookup;
        sub.oom = false;
        for (size_t j = 0; j < c->n; j++) {
            char *def;
            if (!is_item_key(&c->table[j], lookup) || c->table[j].def == NULL ||
                c->table[j].type == MD_CONF_LIST)
                continue;
            if ((def = md_arena_memdup(c->arena, c->table[j].def, strlen(c->table[j].def))) == NULL) {
                c->oom = true;
                return -1;
            }
            (void)set_value(&sub, &c->table[j], def, 0);
        }
        walk_mapping(&sub, node, label, depth + 1);
        if (sub.oom) {
            c->oom = true;
            return -1;
        }
        for (size_t j = 0; j < c->n; j++)
            if (is_item_key(&c->table[j], lookup) && (c->table[j].flags & MD_CONF_REQUIRED) &&
                item->lines[j] == 0) {
                char shown[CONF_KEY_MAX * 2];
                md_conf_diag_add(c->diag, c->file, item->line,
                                 shown_name(&sub, &c->table[j], shown, sizeof(shown)), "required");
            }
    }
    list->n = i;
    if (c->diag->count + c->diag->dropped > errors_before) return -1;
validate:
    if (d->validate != NULL && d->validate(d, list, msg, sizeof(msg)) != 0) {
        md_conf_diag_add(c->diag, c->file, line, key, "%s", msg);
        return -1;
    }
    return 0;
}

static void walk_mapping(conf_ctx_t *c, struct fy_node *map, const char *prefix, int depth)
{
    void *iter = NULL;
    struct fy_node_pair *pair;

    while ((pair = fy_node_mapping_iterate(map, &iter)) != NULL) {
        struct fy_node *k = fy_node_pair_key(pair), *v = fy_node_pair_value(pair);
        int line = node_line(k);
        size_t klen = 0;
        const char *ktext;
        char name[CONF_KEY_MAX * 2], lname[CONF_KEY_MAX * 2];
        const char *lookup = name;
        const md_conf_directive_t *d;
        size_t idx = 0;

        if (k == NULL || fy_node_is_alias(k) || fy_node_get_type(k) != FYNT_SCALAR) {
            md_conf_diag_add(c->diag, c->file, line ? line : node_line(v), prefix[0] ? prefix : NULL,
                             "keys must be plain words, found %s", node_kind(k));
            continue;
        }
        ktext = fy_node_get_scalar(k, &klen);
        if (ktext == NULL || klen == 0 || klen > CONF_KEY_MAX || memchr(ktext, '\0', klen) != NULL) {
            md_conf_diag_add(c->diag, c->file, line, NULL, "malformed key");
            continue;
        }
        snprintf(name, sizeof(name), "%s%s%.*s", prefix, prefix[0] ? "." : "", (int)klen, ktext);
        if (memchr(ktext, '.', klen) != NULL) {
            md_conf_diag_add(c->diag, c->file, line, name,
                             "unknown key (write sections as nested mappings, e.g. `tls:` then `cert:`)");
            continue;
        }
        if (memchr(ktext, '[', klen) != NULL || memchr(ktext, ']', klen) != NULL) {
            md_conf_diag_add(c->diag, c->file, line, name, "unknown key");
            continue;
        }
        if (c->label != NULL) { /* "list[2].key" is looked up as "list[].key" */
            snprintf(lname, sizeof(lname), "%s%s", c->lookup, name + strlen(c->label));
            lookup = lname;
        }
        if (is_section(c, lookup) && depth < 4) {
            if (node_is_null(v)) continue;
            if (fy_node_is_alias(v) || fy_node_get_type(v) != FYNT_MAPPING) {
                md_conf_diag_add(c->diag, c->file, line, name, "expected a mapping of keys, found %s",
                                 node_kind(v));
                continue;
            }
            walk_mapping(c, v, name, depth + 1);
            continue;
        }
        d = find_directive(c, lookup, &idx);
        if (d == NULL) {
            md_conf_diag_add(c->diag, c->file, line, name, "unknown key");
            continue;
        }
        if (c->lines) c->lines[idx] = line;
        if (d->type == MD_CONF_LIST) {
            (void)set_list(c, d, v, line);
            continue;
        }
        if (d->type == MD_CONF_MAP) {
            (void)set_map(c, d, v, line);
            continue;
        }
        if (d->type == MD_CONF_SECTIONS) {
            (void)set_sections(c, d, v, line, name, depth);
            continue;
        }
        if (node_is_null(v)) {
            md_conf_diag_add(c->diag, c->file, line, name, "a value is required");
            continue;
        }
        const char *text = scalar_text(c, v, line, name);
        if (text == NULL) continue;
        (void)set_value(c, d, text, line);
    }
}

static struct fy_diag *make_diag(void)
{
    struct fy_diag_cfg dc;
    struct fy_diag *fd;

    fy_diag_cfg_default(&dc);
    dc.fp = NULL;
    dc.output_fn = NULL;
    dc.colorize = false;
    fd = fy_diag_create(&dc);
    if (fd != NULL) fy_diag_set_collect_errors(fd, true);
    return fd;
}

int md_conf_parse(const char *file, const char *text, size_t len, const char *base_dir,
                  const md_conf_directive_t *table, size_t n, void *target, int *lines, md_arena_t *arena,
                  md_conf_diag_t *diag)
{
    conf_ctx_t c = {file, base_dir, table, n, target, lines, arena, diag, false, NULL, NULL};
    struct fy_diag *fdiag = NULL;
    struct fy_parser *fyp = NULL;
    struct fy_document *doc = NULL, *doc2 = NULL;
    struct fy_parse_cfg pcfg;
    int errors_before = diag->count + diag->dropped;
    int rc = MD_EINVAL;

    /* defaults first (a bad default is a bug in the table, reported like any error) */
    for (size_t i = 0; i < n; i++) {
        if (lines) lines[i] = 0;
        if (table[i].def == NULL || is_item_key(&table[i], NULL)) continue; /* item keys: per item */
        char *def = md_arena_memdup(arena, table[i].def, strlen(table[i].def));
        if (def == NULL) {
            rc = MD_ENOMEM;
            goto out;
        }
        if (table[i].type != MD_CONF_LIST) (void)set_value(&c, &table[i], def, 0);
    }

    if (len > 0 && memchr(text, '\0', len) != NULL) {
        md_conf_diag_add(diag, file, 0, NULL, "the file contains a NUL byte; it must be UTF-8 YAML text");
        goto out;
    }
    fdiag = make_diag();
    if (fdiag == NULL) {
        rc = MD_ENOMEM;
        goto out;
    }
    memset(&pcfg, 0, sizeof(pcfg));
    pcfg.flags = FYPCF_QUIET | FYPCF_COLLECT_DIAG | FYPCF_DEFAULT_VERSION_1_2;
    pcfg.diag = fdiag;
    fyp = fy_parser_create(&pcfg);
    if (fyp == NULL || fy_parser_set_string(fyp, text, len) != 0) {
        rc = MD_ENOMEM;
        goto out;
    }
    doc = fy_parse_load_document(fyp);
    if (doc != NULL) doc2 = fy_parse_load_document(fyp);
    {
        void *iter = NULL;
        struct fy_diag_error *e;
        bool any = false;
        while ((e = fy_diag_errors_iterate(fdiag, &iter)) != NULL) {
            md_conf_diag_add(diag, file, e->line > 0 ? e->line : 0, NULL, "YAML: %s",
                             e->msg ? e->msg : "error");
            any = true;
        }
        if (any) goto out;
    }
    if (doc2 != NULL) {
        md_conf_diag_add(diag, file, 0, NULL, "the file holds more than one YAML document");
        goto out;
    }
    if (doc != NULL) {
        struct fy_node *root = fy_document_root(doc);
        if (root != NULL && !node_is_null(root)) {
            if (fy_node_is_alias(root) || fy_node_get_type(root) != FYNT_MAPPING) {
                md_conf_diag_add(diag, file, 1, NULL, "the file must be a mapping of keys, found %s",
                                 node_kind(root));
                goto out;
            }
            walk_mapping(&c, root, "", 0);
        }
    }
    if (c.oom) {
        rc = MD_ENOMEM;
        goto out;
    }
    rc = diag->count + diag->dropped > errors_before ? MD_EINVAL : MD_OK;
out:
    if (doc2) fy_parse_document_destroy(fyp, doc2);
    if (doc) fy_parse_document_destroy(fyp, doc);
    if (fyp) fy_parser_destroy(fyp);
    if (fdiag) fy_diag_destroy(fdiag);
    if (rc == MD_ENOMEM) md_conf_diag_add(diag, file, 0, NULL, "out of memory");
    return rc;
}

int md_conf_check_private(const char *path, int fd, char *msg, size_t msgsz)
{
    struct stat st;

    if ((fd >= 0 ? fstat(fd, &st) : stat(path, &st)) != 0) {
        snprintf(msg, msgsz, "%s: %s", path, strerror(errno));
        return -1;
    }
    if (!S_ISREG(st.st_mode)) {
        snprintf(msg, msgsz, "%s: not a regular file", path);
        return -1;
    }
    if (st.st_mode & (S_IRWXG | S_IRWXO)) {
        snprintf(msg, msgsz,
                 "%s: mode %04o is too open: group and others must have no access to it (chmod 600 %s)", path,
                 (unsigned)(st.st_mode & 07777), path);
        return -1;
    }
    if (st.st_uid != geteuid() && st.st_uid != 0) {
        snprintf(msg, msgsz, "%s: owned by uid %u, not by the user running mandated (uid %u) or root", path,
                 (unsigned)st.st_uid, (unsigned)geteuid());
        return -1;
    }
    return 0;
}

int md_listen_parse(const char *s, struct sockaddr_storage *ss, socklen_t *sslen, char *msg, size_t msgsz)
{
    char host[64];
    const char *colon, *port;
    int64_t p;
    char pmsg[128];

    memset(ss, 0, sizeof(*ss));
    if (s[0] == '[') {
        const char *close = strchr(s, ']');
        if (close == NULL || close[1] != ':') {
            snprintf(msg, msgsz, "`%s`: write an IPv6 address as [addr]:port", s);
            return -1;
        }
        if ((size_t)(close - s - 1) >= sizeof(host)) goto badhost;
        memcpy(host, s + 1, (size_t)(close - s - 1));
        host[close - s - 1] = '\0';
        port = close + 2;
    } else {
        colon = strrchr(s, ':');
        if (colon == NULL) {
            snprintf(msg, msgsz, "`%s`: write host:port, e.g. 127.0.0.1:7744", s);
            return -1;
        }
        if ((size_t)(colon - s) >= sizeof(host)) goto badhost;
        memcpy(host, s, (size_t)(colon - s));
        host[colon - s] = '\0';
        port = colon + 1;
    }
    if (parse_int(port, &p, pmsg, sizeof(pmsg)) != 0 || p < 1 || p > 65535) {
        snprintf(msg, msgsz, "`%s`: the port must be a number in 1..65535", s);
        return -1;
    }
    if (s[0] == '[') {
        struct sockaddr_in6 *a6 = (struct sockaddr_in6 *)ss;
        if (inet_pton(AF_INET6, host, &a6->sin6_addr) != 1) goto badhost;
        a6->sin6_family = AF_INET6;
        a6->sin6_port = htons((uint16_t)p);
        *sslen = sizeof(*a6);
    } else {
        struct sockaddr_in *a4 = (struct sockaddr_in *)ss;
        if (inet_pton(AF_INET, host, &a4->sin_addr) != 1) goto badhost;
        a4->sin_family = AF_INET;
        a4->sin_port = htons((uint16_t)p);
        *sslen = sizeof(*a4);
    }
    return 0;
badhost:
    snprintf(msg, msgsz, "`%s`: the host must be an IP address (e.g. 127.0.0.1, 0.0.0.0 or [::1])", s);
    return -1;
}

/* ---- the daemon's table ---- */

static const char *const log_formats[] = {"text", "json", NULL};
static const char *const log_levels[] = {"debug", "info", "warn", "error", NULL};
static const char *const store_backends[] = {"sqlite", "postgres", NULL};

static int validate_listen(const md_conf_directive_t *d, const void *field, char *msg, size_t msgsz)
{
    struct sockaddr_storage ss;
    socklen_t len;
    return md_listen_parse(*(const char *const *)field, &ss, &len, msg, msgsz);
}

static int validate_backend(const md_conf_directive_t *d, const void *field, char *msg, size_t msgsz)
{
    if (*(const int *)field == MD_STORE_BACKEND_POSTGRES) {
        snprintf(msg, msgsz,
                 "`postgres` is reserved for multi-node deployments and not available in this build; "
                 "use `sqlite`");
        return -1;
    }
    return 0;
}

static const char *const keys_algorithms[] = {"ES256", "EdDSA", NULL};

/* Key schedule durations are kept in whole seconds (token times are seconds). */
static int validate_whole_seconds(const md_conf_directive_t *d, const void *field, char *msg, size_t msgsz)
{
    if (*(const int64_t *)field % 1000 != 0) {
        snprintf(msg, msgsz, "must be a whole number of seconds");
        return -1;
    }
    return 0;
}

/* issuer: "http(s)://host[:port]", nothing after (no path, query, fragment or userinfo). */
/* A SPIFFE trust domain name: 1..255 of [a-z0-9._-] (the SPIFFE ID spec's set; no upper case). */
static int validate_trust_domain(const md_conf_directive_t *d, const void *field, char *msg, size_t msgsz)
{
    const char *s = *(const char *const *)field;
    size_t n = strlen(s);
    if (n == 0 || n > 255 || strspn(s, "abcdefghijklmnopqrstuvwxyz0123456789.-_") != n) {
        snprintf(msg, msgsz,
                 "`%.300s` is not a SPIFFE trust domain: 1 to 255 lowercase letters, digits, '.', '-' or '_' "
                 "(e.g. example.org)",
                 s);
        return -1;
    }
    return 0;
}

static int validate_issuer(const md_conf_directive_t *d, const void *field, char *msg, size_t msgsz)
{
    const char *s = *(const char *const *)field, *h;
    size_t n;

    if (strncmp(s, "https://", 8) == 0)
        h = s + 8;
    else if (strncmp(s, "http://", 7) == 0)
        h = s + 7;
    else
        goto bad;
    if (*h == '[') { /* IPv6 literal */
        const char *close = strchr(h, ']');
        if (close == NULL || close == h + 1) goto bad;
        for (const char *p = h + 1; p < close; p++)
            if (!((*p >= '0' && *p <= '9') || (*p >= 'a' && *p <= 'f') || (*p >= 'A' && *p <= 'F') ||
                  *p == ':' || *p == '.'))
                goto bad;
        h = close + 1;
    } else {
        n = strspn(h, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789.-");
        if (n == 0 || h[0] == '.' || h[0] == '-') goto bad;
        h += n;
    }
    if (*h == ':') {
        char *end = NULL;
        long port = strtol(h + 1, &end, 10);
        if (h[1] < '0' || h[1] > '9' || port < 1 || port > 65535 || end == NULL) goto bad;
        h = end;
    }
    if (*h == '\0' && strlen(s) <= 255) return 0;
bad:
    snprintf(msg, msgsz,
             "`%s` is not an issuer URL: write http(s)://host[:port] with nothing after it (no path, query, "
             "fragment or trailing slash)",
             s);
    return -1;
}

/* ---- federation: trusted external OIDC issuers ---- */

static const char *const fed_algorithms[] = {"ES256", "ES384", "EdDSA", "RS256", "PS256", NULL};

static int validate_fed_algorithms(const md_conf_directive_t *d, const void *field, char *msg, size_t msgsz)
{
    const md_conf_list_t *l = field;

    if (l->n == 0) {
        snprintf(msg, msgsz, "list at least one algorithm (default when the key is absent: RS256, ES256)");
        return -1;
    }
    for (size_t i = 0; i < l->n; i++) {
        bool known = false;
        for (size_t j = 0; fed_algorithms[j]; j++)
            known = known || strcmp(l->items[i], fed_algorithms[j]) == 0;
        if (!known) {
            snprintf(msg, msgsz, "`%s` is not one of: ES256, ES384, EdDSA, RS256, PS256", l->items[i]);
            return -1;
        }
        for (size_t j = 0; j < i; j++)
            if (strcmp(l->items[i], l->items[j]) == 0) {
                snprintf(msg, msgsz, "`%s` is listed twice", l->items[i]);
                return -1;
            }
    }
    return 0;
}

/* An issuer or a JWKS URL: http(s)://, printable, no spaces; the full policy is in src/identity/oidc.c. */
static int validate_fed_url(const md_conf_directive_t *d, const void *field, char *msg, size_t msgsz)
{
    const char *s = *(const char *const *)field;

    if (strncmp(s, "https://", 8) != 0 && strncmp(s, "http://", 7) != 0) {
        snprintf(msg, msgsz, "`%s` is not an https:// (or loopback http://) URL", s);
        return -1;
    }
    if (strlen(s) > 1024) {
        snprintf(msg, msgsz, "the URL is longer than 1024 bytes");
        return -1;
    }
    for (const char *p = s; *p; p++)
        if ((unsigned char)*p <= 0x20 || (unsigned char)*p >= 0x7f) {
            snprintf(msg, msgsz, "the URL contains a space, a control character or a non-ASCII byte");
            return -1;
        }
    return 0;
}

#define ISS_OFF(f) offsetof(md_config_oidc_issuer_t, f)

#define OFF(f) offsetof(md_config_t, f)
#define MS_HOUR (3600LL * 1000)
static const md_conf_directive_t directives[] = {
    {"listen", MD_CONF_STRING, OFF(listen), "127.0.0.1:7744", 0, 0, NULL, validate_listen, MD_CONF_RESTART},
    {"data_dir", MD_CONF_PATH, OFF(data_dir), NULL, 0, 0, NULL, NULL, MD_CONF_RESTART},
    {"workers", MD_CONF_INT, OFF(workers), "0", 0, 256, NULL, NULL, MD_CONF_RESTART},
    {"log_format", MD_CONF_ENUM, OFF(log_format), "text", 0, 0, log_formats, NULL, 0},
    {"log_level", MD_CONF_ENUM, OFF(log_level), "info", 0, 0, log_levels, NULL, 0},
    {"tls.cert", MD_CONF_PATH, OFF(tls_cert), NULL, 0, 0, NULL, NULL, 0},
    {"tls.key", MD_CONF_PATH, OFF(tls_key), NULL, 0, 0, NULL, NULL, 0},
    {"limits.max_body", MD_CONF_SIZE, OFF(max_body), "1MiB", 1, 64LL << 20, NULL, NULL, 0},
    {"limits.header_timeout", MD_CONF_DURATION, OFF(header_timeout), "10s", 100, MS_HOUR, NULL, NULL, 0},
    {"limits.body_timeout", MD_CONF_DURATION, OFF(body_timeout), "10s", 100, MS_HOUR, NULL, NULL, 0},
    {"limits.max_connections", MD_CONF_INT, OFF(max_connections), "1024", 1, 1000000, NULL, NULL, 0},
    {"store.backend", MD_CONF_ENUM, OFF(store_backend), "sqlite", 0, 0, store_backends, validate_backend,
     MD_CONF_RESTART},
    {"store.path", MD_CONF_PATH, OFF(store_path), NULL, 0, 0, NULL, NULL, MD_CONF_RESTART},
    {"issuer", MD_CONF_STRING, OFF(issuer), NULL, 0, 0, NULL, validate_issuer, MD_CONF_RESTART},
    {"trust_domain", MD_CONF_STRING, OFF(trust_domain), NULL, 0, 0, NULL, validate_trust_domain, 0},
    {"keys.algorithm", MD_CONF_ENUM, OFF(keys_algorithm), "ES256", 0, 0, keys_algorithms, NULL, 0},
    {"keys.rotation_period", MD_CONF_DURATION, OFF(keys_rotation_period), "24h", 6000, 366 * 24 * MS_HOUR,
     NULL, validate_whole_seconds, 0},
    {"keys.overlap", MD_CONF_DURATION, OFF(keys_overlap), NULL, 1000, 366 * 24 * MS_HOUR, NULL,
     validate_whole_seconds, 0},
    {"keys.max_token_lifetime", MD_CONF_DURATION, OFF(keys_max_token_lifetime), NULL, 1000,
     366 * 24 * MS_HOUR, NULL, validate_whole_seconds, 0},
    {"keys.kek_file", MD_CONF_PATH, OFF(keys_kek_file), NULL, 0, 0, NULL, NULL, MD_CONF_RESTART},
    {"policies.dir", MD_CONF_PATH, OFF(policies_dir), NULL, 0, 0, NULL, NULL, 0},
    {"policies.schema", MD_CONF_PATH, OFF(policies_schema), NULL, 0, 0, NULL, NULL, 0},
    {"tasks.default_ttl", MD_CONF_DURATION, OFF(tasks_default_ttl), "10m", 1000, 15 * 60 * 1000, NULL,
     validate_whole_seconds, 0},
    {"tasks.max_ttl", MD_CONF_DURATION, OFF(tasks_max_ttl), "15m", 1000, 15 * 60 * 1000, NULL,
     validate_whole_seconds, 0},
    {"tasks.max_depth", MD_CONF_INT, OFF(tasks_max_depth), "3", 0, 16, NULL, NULL, 0},
    {"workload.socket", MD_CONF_PATH, OFF(workload_socket), NULL, 0, 0, NULL, NULL, MD_CONF_RESTART},
    {"workload.threads", MD_CONF_INT, OFF(workload_threads), "4", 1, 64, NULL, NULL, MD_CONF_RESTART},
    {"workload.max_pending", MD_CONF_INT, OFF(workload_max_pending), "256", 1, 100000, NULL, NULL, 0},
    {"federation.issuers", MD_CONF_SECTIONS, OFF(fed_issuers), NULL, 0, sizeof(md_config_oidc_issuer_t), NULL,
     NULL, 0},
    {"federation.issuers[].issuer", MD_CONF_STRING, ISS_OFF(issuer), NULL, 0, 0, NULL, validate_fed_url,
     MD_CONF_REQUIRED},
    {"federation.issuers[].discovery", MD_CONF_BOOL, ISS_OFF(discovery), "false", 0, 0, NULL, NULL, 0},
    {"federation.issuers[].jwks_uri", MD_CONF_STRING, ISS_OFF(jwks_uri), NULL, 0, 0, NULL, validate_fed_url,
     0},
    {"federation.issuers[].jwks_file", MD_CONF_PATH, ISS_OFF(jwks_file), NULL, 0, 0, NULL, NULL, 0},
    {"federation.issuers[].ca_file", MD_CONF_PATH, ISS_OFF(ca_file), NULL, 0, 0, NULL, NULL, 0},
    {"federation.issuers[].audience", MD_CONF_STRING, ISS_OFF(audience), NULL, 0, 0, NULL, NULL,
     MD_CONF_REQUIRED},
    {"federation.issuers[].algorithms", MD_CONF_LIST, ISS_OFF(algorithms), NULL, 0, 0, NULL,
     validate_fed_algorithms, 0},
    {"federation.issuers[].spiffe_id", MD_CONF_STRING, ISS_OFF(spiffe_id), NULL, 0, 0, NULL, NULL,
     MD_CONF_REQUIRED},
    {"federation.issuers[].owner", MD_CONF_STRING, ISS_OFF(owner), NULL, 0, 0, NULL, NULL, MD_CONF_REQUIRED},
    {"federation.issuers[].required_claims", MD_CONF_MAP, ISS_OFF(required_claims), NULL, 0, 0, NULL, NULL,
     0},
    {"federation.issuers[].max_age", MD_CONF_DURATION, ISS_OFF(max_age), "1h", 1000, 24 * MS_HOUR, NULL, NULL,
     0},
    {"federation.fetch_timeout", MD_CONF_DURATION, OFF(fed_fetch_timeout), "10s", 100, 60000, NULL, NULL, 0},
    {"federation.cache_min", MD_CONF_DURATION, OFF(fed_cache_min), "5m", 1000, 24 * MS_HOUR, NULL, NULL, 0},
    {"federation.cache_max", MD_CONF_DURATION, OFF(fed_cache_max), "24h", 1000, 7 * 24 * MS_HOUR, NULL, NULL,
     0},
    {"federation.min_refresh_interval", MD_CONF_DURATION, OFF(fed_min_refresh_interval), "30s", 1000, MS_HOUR,
     NULL, NULL, 0},
};
#define NDIRECTIVES (sizeof(directives) / sizeof(directives[0]))

int md_config_line(const md_config_t *cfg, const char *key)
{
    for (size_t i = 0; i < NDIRECTIVES; i++)
        if (strcmp(directives[i].name, key) == 0) return cfg->lines ? cfg->lines[i] : 0;
    return 0;
}

const md_config_oidc_issuer_t *md_config_fed_issuer(const md_config_t *cfg, size_t i)
{
    if (i >= cfg->fed_issuers.n) return NULL;
    return (const md_config_oidc_issuer_t *)cfg->fed_issuers.items + i;
}

int md_config_fed_issuer_line(const md_config_t *cfg, size_t i, const char *key)
{
    const md_config_oidc_issuer_t *iss = md_config_fed_issuer(cfg, i);
    static const char prefix[] = "federation.issuers[].";
    if (iss == NULL) return 0;
    for (size_t j = 0; j < NDIRECTIVES; j++)
        if (strncmp(directives[j].name, prefix, sizeof(prefix) - 1) == 0 &&
            strcmp(directives[j].name + sizeof(prefix) - 1, key) == 0 && iss->item.lines &&
            iss->item.lines[j] > 0)
            return iss->item.lines[j];
    return iss->item.line;
}

void md_config_free(md_config_t *cfg)
{
    if (cfg == NULL) return;
    md_arena_free(&cfg->arena);
    free(cfg);
}

static char *arena_strdup(md_arena_t *a, const char *s)
{
    return md_arena_memdup(a, s, strlen(s));
}

/* An absolute form of a command-line path (relative to the working directory). */
static char *absolute_from_cwd(md_arena_t *a, const char *p)
{
    char cwd[PATH_MAX];
    if (p[0] == '/') return arena_strdup(a, p);
    while (p[0] == '.' && p[1] == '/') { /* "./data" is "data" */
        p += 2;
        while (*p == '/')
            p++;
    }
    if (p[0] == '\0' || strcmp(p, ".") == 0) return getcwd(cwd, sizeof(cwd)) ? arena_strdup(a, cwd) : NULL;
    if (getcwd(cwd, sizeof(cwd)) == NULL) return NULL;
    size_t cl = strlen(cwd), pl = strlen(p);
    char *r = md_arena_alloc(a, cl + pl + 2);
    if (r == NULL) return NULL;
    memcpy(r, cwd, cl);
    r[cl] = '/';
    memcpy(r + cl + 1, p, pl + 1);
    return r;
}

static void check_tls_file(md_config_t *cfg, const char *key, const char *path, md_conf_diag_t *diag)
{
    char msg[768];
    if (md_conf_check_private(path, -1, msg, sizeof(msg)) != 0)
        md_conf_diag_add(diag, cfg->file, md_config_line(cfg, key), key, "%s", msg);
}

/* keys.*: defaults that depend on other keys, and the checks between them.  (An unset
 * `issuer` stays NULL here: the snapshot derives it from the listen address that runs.) */
static int finish_keys(md_config_t *cfg, md_conf_diag_t *diag)
{
    int64_t period = cfg->keys_rotation_period;

    if (cfg->keys_overlap == 0) { /* default: a quarter of the period, at most an hour, whole seconds */
        int64_t o = period / 4 < MS_HOUR ? period / 4 : MS_HOUR;
        cfg->keys_overlap = o - o % 1000 < 1000 ? 1000 : o - o % 1000;
    }
    if (cfg->keys_max_token_lifetime == 0) cfg->keys_max_token_lifetime = period < MS_HOUR ? period : MS_HOUR;
    if (cfg->keys_overlap >= period)
        md_conf_diag_add(diag, cfg->file, md_config_line(cfg, "keys.overlap"), "keys.overlap",
                         "must be shorter than keys.rotation_period (%llds)", (long long)(period / 1000));
    if (cfg->keys_max_token_lifetime > period)
        md_conf_diag_add(diag, cfg->file, md_config_line(cfg, "keys.max_token_lifetime"),
                         "keys.max_token_lifetime", "must not be longer than keys.rotation_period (%llds)",
                         (long long)(period / 1000));
    if (cfg->keys_kek_file == NULL && cfg->data_dir != NULL) {
        size_t dl = strlen(cfg->data_dir);
        char *p = md_arena_alloc(&cfg->arena, dl + sizeof("/kek"));
        if (p == NULL) return MD_ENOMEM;
        memcpy(p, cfg->data_dir, dl);
        memcpy(p + dl, "/kek", sizeof("/kek"));
        cfg->keys_kek_file = p;
    }
    return MD_OK;
}

/* workload.*: the socket's default path, and a path that fits a sockaddr_un. */
static int finish_workload(md_config_t *cfg, md_conf_diag_t *diag)
{
    struct sockaddr_un sun;

    if (cfg->workload_socket == NULL && cfg->data_dir != NULL) {
        size_t dl = strlen(cfg->data_dir);
        char *p = md_arena_alloc(&cfg->arena, dl + sizeof("/agent.sock"));
        if (p == NULL) return MD_ENOMEM;
        memcpy(p, cfg->data_dir, dl);
        memcpy(p + dl, "/agent.sock", sizeof("/agent.sock"));
        cfg->workload_socket = p;
    }
    if (cfg->workload_socket != NULL && strlen(cfg->workload_socket) >= sizeof(sun.sun_path))
        md_conf_diag_add(
            diag, cfg->file, md_config_line(cfg, "workload.socket"), "workload.socket",
            "`%s` is %zu bytes long: a Unix socket path has at most %zu%s", cfg->workload_socket,
            strlen(cfg->workload_socket), sizeof(sun.sun_path) - 1,
            md_config_line(cfg, "workload.socket") == 0
                ? " (it defaults to <data_dir>/agent.sock: set workload.socket to a shorter path)"
                : "");
    return MD_OK;
}

/* federation.*: one source of keys per issuer, issuers unique, cache bounds in order. */
static void finish_federation(md_config_t *cfg, md_conf_diag_t *diag)
{
    for (size_t i = 0; i < cfg->fed_issuers.n; i++) {
        const md_config_oidc_issuer_t *iss = md_config_fed_issuer(cfg, i);
        int sources = (iss->discovery ? 1 : 0) + (iss->jwks_uri ? 1 : 0) + (iss->jwks_file ? 1 : 0);
        char key[96];

        if (sources != 1) {
            snprintf(key, sizeof(key), "federation.issuers[%zu]", i);
            md_conf_diag_add(diag, cfg->file, md_config_fed_issuer_line(cfg, i, "issuer"), key,
                             "set exactly one source of keys: `discovery: true`, `jwks_uri` or `jwks_file` "
                             "(found %d)",
                             sources);
        }
        if (iss->ca_file != NULL && iss->jwks_file != NULL) {
            snprintf(key, sizeof(key), "federation.issuers[%zu].ca_file", i);
            md_conf_diag_add(diag, cfg->file, md_config_fed_issuer_line(cfg, i, "ca_file"), key,
                             "only for keys fetched over HTTPS, not with `jwks_file`");
        }
        for (size_t j = 0; j < i && iss->issuer != NULL; j++) {
            const md_config_oidc_issuer_t *other = md_config_fed_issuer(cfg, j);
            if (other->issuer != NULL && strcmp(other->issuer, iss->issuer) == 0) {
                snprintf(key, sizeof(key), "federation.issuers[%zu].issuer", i);
                md_conf_diag_add(diag, cfg->file, md_config_fed_issuer_line(cfg, i, "issuer"), key,
                                 "`%s` is already configured by federation.issuers[%zu]", iss->issuer, j);
                break;
            }
        }
    }
    if (cfg->fed_cache_min > cfg->fed_cache_max)
        md_conf_diag_add(diag, cfg->file, md_config_line(cfg, "federation.cache_min"), "federation.cache_min",
                         "must not be longer than federation.cache_max");
}

/* The checks that span keys, after overrides. */
static int finish(md_config_t *cfg, const md_config_overrides_t *ov, md_conf_diag_t *diag)
{
    int before = diag->count + diag->dropped;

    if (ov != NULL && ov->data_dir != NULL) {
        cfg->data_dir = absolute_from_cwd(&cfg->arena, ov->data_dir);
        if (cfg->data_dir == NULL) {
            md_conf_diag_add(diag, cfg->file, 0, "data_dir", "--data-dir %s: cannot make it absolute",
                             ov->data_dir);
            return MD_EINVAL;
        }
    }
    if (ov != NULL && ov->log_format >= 0) cfg->log_format = ov->log_format;
    if (cfg->data_dir == NULL)
        md_conf_diag_add(diag, cfg->file, 0, "data_dir", "required: set it in the file or pass --data-dir");
    else if (strlen(cfg->data_dir) > 3000)
        md_conf_diag_add(diag, cfg->file, md_config_line(cfg, "data_dir"), "data_dir", "path is too long");
    if ((cfg->tls_cert == NULL) != (cfg->tls_key == NULL)) {
        const char *given = cfg->tls_cert ? "tls.cert" : "tls.key";
        const char *missing = cfg->tls_cert ? "tls.key" : "tls.cert";
        md_conf_diag_add(diag, cfg->file, md_config_line(cfg, given), missing, "required when `%s` is set",
                         given);
    }
    if (cfg->tls_cert != NULL) check_tls_file(cfg, "tls.cert", cfg->tls_cert, diag);
    if (cfg->tls_key != NULL) check_tls_file(cfg, "tls.key", cfg->tls_key, diag);
    if (cfg->store_path == NULL && cfg->data_dir != NULL) {
        size_t dl = strlen(cfg->data_dir);
        char *p = md_arena_alloc(&cfg->arena, dl + sizeof("/mandate.db"));
        if (p == NULL) return MD_ENOMEM;
        memcpy(p, cfg->data_dir, dl);
        memcpy(p + dl, "/mandate.db", sizeof("/mandate.db"));
        cfg->store_path = p;
    }
    if (finish_keys(cfg, diag) != MD_OK) return MD_ENOMEM;
    if (cfg->tasks_default_ttl > cfg->tasks_max_ttl)
        md_conf_diag_add(diag, cfg->file, md_config_line(cfg, "tasks.default_ttl"), "tasks.default_ttl",
                         "must not be longer than tasks.max_ttl (%llds)",
                         (long long)(cfg->tasks_max_ttl / 1000));
    if (finish_workload(cfg, diag) != MD_OK) return MD_ENOMEM;
    finish_federation(cfg, diag);
    return diag->count + diag->dropped > before ? MD_EINVAL : MD_OK;
}

static int parse_into_new(const char *file, const char *text, size_t len, const char *base_dir,
                          const md_config_overrides_t *ov, md_config_t **out, md_conf_diag_t *diag)
{
    md_config_t *cfg = NULL;
    int rc;

    *out = NULL;
    cfg = calloc(1, sizeof(*cfg));
    if (cfg == NULL) {
        md_conf_diag_add(diag, file, 0, NULL, "out of memory");
        return MD_ENOMEM;
    }
    md_arena_init(&cfg->arena, 4096);
    cfg->file = arena_strdup(&cfg->arena, file);
    cfg->lines = md_arena_zalloc(&cfg->arena, NDIRECTIVES * sizeof(int));
    if (cfg->file == NULL || cfg->lines == NULL) {
        rc = MD_ENOMEM;
        md_conf_diag_add(diag, file, 0, NULL, "out of memory");
        goto out;
    }
    rc = md_conf_parse(cfg->file, text, len, base_dir, directives, NDIRECTIVES, cfg, cfg->lines, &cfg->arena,
                       diag);
    if (rc != MD_OK) goto out;
    rc = finish(cfg, ov, diag);
    if (rc != MD_OK) goto out;
    *out = cfg;
    cfg = NULL;
out:
    md_config_free(cfg);
    return rc;
}

int md_config_parse_text(const char *file, const char *text, size_t len, const md_config_overrides_t *ov,
                         md_config_t **out, md_conf_diag_t *diag)
{
    return parse_into_new(file, text, len, NULL, ov, out, diag);
}

int md_config_load(const char *path, const md_config_overrides_t *ov, md_config_t **out, md_conf_diag_t *diag)
{
    int fd = -1, rc = MD_EIO;
    char *text = NULL, *real = NULL;
    size_t n = 0, cap = 0;
    struct stat st;
    char msg[768];

    *out = NULL;
    fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY);
    if (fd < 0) {
        md_conf_diag_add(diag, path, 0, NULL, "cannot open: %s", strerror(errno));
        goto out;
    }
    if (md_conf_check_private(path, fd, msg, sizeof(msg)) != 0) {
        /* msg starts with the path already */
        const char *m = strncmp(msg, path, strlen(path)) == 0 ? msg + strlen(path) + 2 : msg;
        md_conf_diag_add(diag, path, 0, NULL, "%s", m);
        rc = MD_EINVAL;
        goto out;
    }
    if (fstat(fd, &st) != 0 || st.st_size > CONF_FILE_MAX) {
        md_conf_diag_add(diag, path, 0, NULL, "the file is larger than %d bytes", CONF_FILE_MAX);
        rc = MD_ELIMIT;
        goto out;
    }
    cap = (size_t)st.st_size + 1;
    text = malloc(cap);
    if (text == NULL) {
        md_conf_diag_add(diag, path, 0, NULL, "out of memory");
        rc = MD_ENOMEM;
        goto out;
    }
    for (;;) {
        ssize_t r = read(fd, text + n, cap - n - 1);
        if (r < 0 && errno == EINTR) continue;
        if (r < 0) {
            md_conf_diag_add(diag, path, 0, NULL, "read: %s", strerror(errno));
            goto out;
        }
        if (r == 0) break;
        n += (size_t)r;
        if (n + 1 == cap) break; /* grew while we read: what st_size said is what we parse */
    }
    text[n] = '\0';

    /* relative paths in the file are relative to the file's folder */
    real = realpath(path, NULL);
    if (real == NULL) {
        md_conf_diag_add(diag, path, 0, NULL, "realpath: %s", strerror(errno));
        goto out;
    }
    char *slash = strrchr(real, '/');
    if (slash == real)
        slash[1] = '\0';
    else if (slash != NULL)
        *slash = '\0';
    rc = parse_into_new(path, text, n, real, ov, out, diag);
out:
    free(real);
    free(text);
    if (fd >= 0) close(fd);
    return rc;
}

static bool field_equal(const md_conf_directive_t *d, const void *a, const void *b)
{
    switch (d->type) {
    case MD_CONF_STRING:
    case MD_CONF_PATH: {
        const char *x = *(const char *const *)a, *y = *(const char *const *)b;
        return (x == NULL && y == NULL) || (x != NULL && y != NULL && strcmp(x, y) == 0);
    }
    case MD_CONF_INT:
    case MD_CONF_SIZE:
    case MD_CONF_DURATION: return *(const int64_t *)a == *(const int64_t *)b;
    case MD_CONF_BOOL: return *(const bool *)a == *(const bool *)b;
    case MD_CONF_ENUM: return *(const int *)a == *(const int *)b;
    case MD_CONF_LIST: {
        const md_conf_list_t *x = a, *y = b;
        if (x->n != y->n) return false;
        for (size_t i = 0; i < x->n; i++)
            if (strcmp(x->items[i], y->items[i]) != 0) return false;
        return true;
    }
    case MD_CONF_MAP:
    case MD_CONF_SECTIONS: return false; /* never MD_CONF_RESTART (config.h) */
    }
    return false;
}

int md_config_keep_restart_keys(md_config_t *next, const md_config_t *old,
                                void (*changed)(const char *key, void *arg), void *arg)
{
    for (size_t i = 0; i < NDIRECTIVES; i++) {
        const md_conf_directive_t *d = &directives[i];
        void *nf = (char *)next + d->offset;
        const void *of = (const char *)old + d->offset;
        if (!(d->flags & MD_CONF_RESTART) || field_equal(d, nf, of)) continue;
        if (changed) changed(d->name, arg);
        switch (d->type) {
        case MD_CONF_STRING:
        case MD_CONF_PATH: {
            const char *s = *(const char *const *)of;
            char *copy = NULL;
            if (s != NULL && (copy = arena_strdup(&next->arena, s)) == NULL) return MD_ENOMEM;
            *(const char **)nf = copy;
            break;
        }
        case MD_CONF_INT:
        case MD_CONF_SIZE:
        case MD_CONF_DURATION: *(int64_t *)nf = *(const int64_t *)of; break;
        case MD_CONF_BOOL: *(bool *)nf = *(const bool *)of; break;
        case MD_CONF_ENUM: *(int *)nf = *(const int *)of; break;
        case MD_CONF_LIST: {
            const md_conf_list_t *ol = of;
            md_conf_list_t *nl = nf;
            const char **items = md_arena_zalloc(&next->arena, (ol->n ? ol->n : 1) * sizeof(*items));
            if (items == NULL) return MD_ENOMEM;
            for (size_t j = 0; j < ol->n; j++)
                if ((items[j] = arena_strdup(&next->arena, ol->items[j])) == NULL) return MD_ENOMEM;
            nl->items = items;
            nl->n = ol->n;
            break;
        }
        case MD_CONF_MAP:
        case MD_CONF_SECTIONS: break; /* never MD_CONF_RESTART (config.h) */
        }
    }
    return MD_OK;
}
