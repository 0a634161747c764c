/*
 * entry.c: registration entries: validation, JSON parsing and printing (the
 * rules are in entry.h).
 *
 * Invariants: a parsed entry has passed md_entry_validate(); its strings are
 * NUL-terminated arena copies with no NUL inside; labels and scopes are sorted
 * bytewise and unique.  The parser reports the first problem, naming the JSON
 * member (and index) it is in; it never accepts a member it does not know.
 */
#include "identity/entry.h"

#include <stdio.h>
#include <stdlib.h>

/* Untrusted text for an error message: at most 48 bytes, non-printable bytes as '?'. */
static const char *quote(const char *s, size_t n, char out[64])
{
    size_t m = n > 48 ? 48 : n, j = 0;
    for (size_t i = 0; i < m; i++) {
        unsigned char c = (unsigned char)s[i];
        out[j++] = (c >= 0x20 && c < 0x7f && c != '"') ? (char)c : '?';
    }
    if (n > m) {
        memcpy(out + j, "...", 3);
        j += 3;
    }
    out[j] = '\0';
    return out;
}

/* ---- field rules, shared by the parser and md_entry_validate() ---- */

static bool has_control(const char *s, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c < 0x20 || c == 0x7f) return true;
    }
    return false;
}

static bool valid_utf8(const char *s, size_t n)
{
    for (size_t i = 0; i < n;)
        if (md_utf8_next(s, n, &i) < 0) return false;
    return true;
}

static int check_spiffe_id(const char *s, md_spiffe_id_t *id, md_err_t *err)
{
    md_spiffe_error_t e = md_spiffe_parse(md_str_c(s), id);
    if (e != MD_SPIFFE_OK) return md_err_set(err, MD_EINVAL, "spiffe_id: %s", md_spiffe_strerror(e));
    if (id->path.n == 0)
        return md_err_set(
            err, MD_EINVAL,
            "spiffe_id: must name a workload (a path after the trust domain), not a trust domain");
    return MD_OK;
}

static int check_owner(const char *s, md_err_t *err)
{
    size_t n = strlen(s);
    if (n == 0) return md_err_set(err, MD_EINVAL, "owner: must not be empty");
    if (n > MD_ENTRY_OWNER_MAX)
        return md_err_set(err, MD_EINVAL, "owner: longer than %d bytes", MD_ENTRY_OWNER_MAX);
    if (has_control(s, n)) return md_err_set(err, MD_EINVAL, "owner: has a control character");
    if (!valid_utf8(s, n)) return md_err_set(err, MD_EINVAL, "owner: is not valid UTF-8");
    if (s[0] == ' ' || s[n - 1] == ' ')
        return md_err_set(err, MD_EINVAL, "owner: has a leading or trailing space");
    return MD_OK;
}

static bool name_char(unsigned char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '.' ||
           c == '_' || c == '-';
}

static int check_env(const char *s, md_err_t *err)
{
    char q[64];
    size_t n = strlen(s);
    if (n == 0) return md_err_set(err, MD_EINVAL, "env: must not be empty");
    if (n > MD_ENTRY_ENV_MAX)
        return md_err_set(err, MD_EINVAL, "env: longer than %d bytes", MD_ENTRY_ENV_MAX);
    for (size_t i = 0; i < n; i++)
        if (!name_char((unsigned char)s[i]))
            return md_err_set(err, MD_EINVAL, "env: \"%s\" has a character outside [A-Za-z0-9._-]",
                              quote(s, n, q));
    return MD_OK;
}

static int check_label(const char *key, const char *value, md_err_t *err)
{
    char q[64];
    size_t kn = strlen(key), vn = strlen(value);
    if (kn == 0) return md_err_set(err, MD_EINVAL, "labels: a key is empty");
    if (kn > MD_ENTRY_LABEL_KEY_MAX)
        return md_err_set(err, MD_EINVAL, "labels: key \"%s\" is longer than %d bytes", quote(key, kn, q),
                          MD_ENTRY_LABEL_KEY_MAX);
    unsigned char c0 = (unsigned char)key[0];
    if (!((c0 >= 'a' && c0 <= 'z') || (c0 >= 'A' && c0 <= 'Z') || (c0 >= '0' && c0 <= '9')))
        return md_err_set(err, MD_EINVAL, "labels: key \"%s\" must start with a letter or digit",
                          quote(key, kn, q));
    for (size_t i = 0; i < kn; i++)
        if (!name_char((unsigned char)key[i]) && key[i] != '/')
            return md_err_set(err, MD_EINVAL, "labels: key \"%s\" has a character outside [A-Za-z0-9._/-]",
                              quote(key, kn, q));
    if (vn > MD_ENTRY_LABEL_VALUE_MAX)
        return md_err_set(err, MD_EINVAL, "labels.%s: value is longer than %d bytes", key,
                          MD_ENTRY_LABEL_VALUE_MAX);
    if (has_control(value, vn))
        return md_err_set(err, MD_EINVAL, "labels.%s: value has a control character", key);
    if (!valid_utf8(value, vn)) return md_err_set(err, MD_EINVAL, "labels.%s: value is not valid UTF-8", key);
    return MD_OK;
}

/* RFC 6749 section 3.3: scope-token = 1*( %x21 / %x23-5B / %x5D-7E ) */
static int check_scope(const char *s, size_t i, md_err_t *err)
{
    size_t n = strlen(s);
    if (n == 0) return md_err_set(err, MD_EINVAL, "scope_ceiling[%zu]: empty scope", i);
    if (n > MD_ENTRY_SCOPE_MAX)
        return md_err_set(err, MD_EINVAL, "scope_ceiling[%zu]: longer than %d bytes", i, MD_ENTRY_SCOPE_MAX);
    for (size_t k = 0; k < n; k++) {
        unsigned char c = (unsigned char)s[k];
        if (c < 0x21 || c > 0x7e || c == '"' || c == '\\')
            return md_err_set(err, MD_EINVAL,
                              "scope_ceiling[%zu]: character %zu is not allowed in a scope (RFC 6749 "
                              "scope-token: printable ASCII except space, '\"' and '\\')",
                              i, k);
    }
    return MD_OK;
}

static int check_ttl(long long ttl, md_err_t *err)
{
    if (ttl < MD_ENTRY_TTL_MIN || ttl > MD_ENTRY_TTL_MAX)
        return md_err_set(err, MD_EINVAL, "svid_ttl: %lld is outside %d..%d seconds", ttl, MD_ENTRY_TTL_MIN,
                          MD_ENTRY_TTL_MAX);
    return MD_OK;
}

static int check_time(const char *field, long long t, md_err_t *err)
{
    if (t < 0 || t > MD_ENTRY_TIME_MAX)
        return md_err_set(err, MD_EINVAL, "%s: %lld is outside 0..%lld", field, t,
                          (long long)MD_ENTRY_TIME_MAX);
    return MD_OK;
}

static int check_times(int64_t created, int64_t updated, md_err_t *err)
{
    int rc = check_time("created_at", created, err);
    if (rc == MD_OK) rc = check_time("updated_at", updated, err);
    if (rc != MD_OK) return rc;
    if (created != 0 && updated != 0 && updated < created)
        return md_err_set(err, MD_EINVAL, "updated_at: %lld is before created_at %lld", (long long)updated,
                          (long long)created);
    return MD_OK;
}

const char *md_entry_state_name(md_entry_state_t s)
{
    switch (s) {
    case MD_ENTRY_ACTIVE: return "active";
    case MD_ENTRY_QUARANTINED: return "quarantined";
    }
    return "?";
}

int md_entry_state_parse(const char *name, md_entry_state_t *out)
{
    if (strcmp(name, "active") == 0) {
        *out = MD_ENTRY_ACTIVE;
        return MD_OK;
    }
    if (strcmp(name, "quarantined") == 0) {
        *out = MD_ENTRY_QUARANTINED;
        return MD_OK;
    }
    return MD_EINVAL;
}

int md_entry_validate(md_entry_t *e, md_err_t *err)
{
    if (e->spiffe_id == NULL) return md_err_set(err, MD_EINVAL, "spiffe_id: missing");
    int rc = check_spiffe_id(e->spiffe_id, &e->id, err);
    if (rc != MD_OK) return rc;
    if (e->n_selectors > 0 && e->selectors == NULL) return md_err_set(err, MD_EINVAL, "selectors: missing");
    if ((rc = md_selectors_check(e->selectors, e->n_selectors, err)) != MD_OK) return rc;
    if (e->owner == NULL) return md_err_set(err, MD_EINVAL, "owner: missing");
    if ((rc = check_owner(e->owner, err)) != MD_OK) return rc;
    if (e->env == NULL) return md_err_set(err, MD_EINVAL, "env: missing");
    if ((rc = check_env(e->env, err)) != MD_OK) return rc;
    if (e->n_labels > MD_ENTRY_LABELS_MAX)
        return md_err_set(err, MD_EINVAL, "labels: more than %d labels", MD_ENTRY_LABELS_MAX);
    if (e->n_labels > 0 && e->labels == NULL) return md_err_set(err, MD_EINVAL, "labels: missing");
    for (size_t i = 0; i < e->n_labels; i++) {
        const md_label_t *l = &e->labels[i];
        if (l->key == NULL || l->value == NULL) return md_err_set(err, MD_EINVAL, "labels[%zu]: missing", i);
        if ((rc = check_label(l->key, l->value, err)) != MD_OK) return rc;
        if (i > 0 && strcmp(e->labels[i - 1].key, l->key) >= 0)
            return md_err_set(err, MD_EINVAL, "labels: keys are not sorted and unique at %zu", i);
    }
    if (e->n_scopes > MD_ENTRY_SCOPES_MAX)
        return md_err_set(err, MD_EINVAL, "scope_ceiling: more than %d scopes", MD_ENTRY_SCOPES_MAX);
    if (e->n_scopes > 0 && e->scopes == NULL) return md_err_set(err, MD_EINVAL, "scope_ceiling: missing");
    for (size_t i = 0; i < e->n_scopes; i++) {
        if (e->scopes[i] == NULL) return md_err_set(err, MD_EINVAL, "scope_ceiling[%zu]: missing", i);
        if ((rc = check_scope(e->scopes[i], i, err)) != MD_OK) return rc;
        if (i > 0 && strcmp(e->scopes[i - 1], e->scopes[i]) >= 0)
            return md_err_set(err, MD_EINVAL, "scope_ceiling: scopes are not sorted and unique at %zu", i);
    }
    if ((rc = check_ttl(e->svid_ttl, err)) != MD_OK) return rc;
    if (e->state != MD_ENTRY_ACTIVE && e->state != MD_ENTRY_QUARANTINED)
        return md_err_set(err, MD_EINVAL, "state: %d is neither active nor quarantined", (int)e->state);
    return check_times(e->created_at, e->updated_at, err);
}

bool md_entry_has_scope(const md_entry_t *e, const char *scope)
{
    for (size_t i = 0; i < e->n_scopes; i++)
        if (strcmp(e->scopes[i], scope) == 0) return true;
    return false;
}

/* ---- JSON ---- */

static const char *const known_members[] = {"spiffe_id",  "selectors",     "owner",    "env",
                                            "labels",     "scope_ceiling", "svid_ttl", "state",
                                            "created_at", "updated_at"};

/* A JSON string member as an arena copy.  `where` names it in errors. */
static int arena_string(const json_t *v, const char *where, md_arena_t *a, const char **out, md_err_t *err)
{
    if (!json_is_string(v)) return md_err_set(err, MD_EINVAL, "%s: must be a string", where);
    const char *s = json_string_value(v);
    size_t n = json_string_length(v);
    if (memchr(s, '\0', n) != NULL) return md_err_set(err, MD_EINVAL, "%s: contains U+0000", where);
    char *c = md_arena_memdup(a, s, n);
    if (c == NULL) return md_err_set(err, MD_ENOMEM, "out of memory");
    *out = c;
    return MD_OK;
}

static int required_string(const json_t *obj, const char *name, md_arena_t *a, const char **out,
                           md_err_t *err)
{
    const json_t *v = json_object_get(obj, name);
    if (v == NULL) return md_err_set(err, MD_EINVAL, "%s: missing (required)", name);
    return arena_string(v, name, a, out, err);
}

static int parse_selectors(const json_t *v, md_arena_t *a, md_entry_t *e, md_err_t *err)
{
    if (v == NULL) return md_err_set(err, MD_EINVAL, "selectors: missing (required; may be [])");
    if (!json_is_array(v)) return md_err_set(err, MD_EINVAL, "selectors: must be an array of strings");
    size_t n = json_array_size(v);
    if (n > MD_SEL_TYPE_COUNT)
        return md_err_set(err, MD_EINVAL,
                          "selectors: %zu selectors, but there are only %d types and each may "
                          "appear once",
                          n, MD_SEL_TYPE_COUNT);
    md_selector_t *sel = n ? md_arena_zalloc(a, n * sizeof(*sel)) : NULL;
    if (n && sel == NULL) return md_err_set(err, MD_ENOMEM, "out of memory");
    for (size_t i = 0; i < n; i++) {
        const json_t *s = json_array_get(v, i);
        if (!json_is_string(s)) return md_err_set(err, MD_EINVAL, "selectors[%zu]: must be a string", i);
        md_err_t one = {0};
        int rc = md_selector_parse((md_str_t){json_string_value(s), json_string_length(s)}, a, &sel[i], &one);
        if (rc != MD_OK) return md_err_set(err, rc, "selectors[%zu]: %s", i, one.msg);
    }
    e->selectors = sel;
    e->n_selectors = n;
    return md_selectors_check(sel, n, err);
}

static int cmp_label(const void *x, const void *y)
{
    return strcmp(((const md_label_t *)x)->key, ((const md_label_t *)y)->key);
}

static int parse_labels(const json_t *v, md_arena_t *a, md_entry_t *e, md_err_t *err)
{
    if (v == NULL) return MD_OK;
    if (!json_is_object(v)) return md_err_set(err, MD_EINVAL, "labels: must be an object of strings");
    size_t n = json_object_size(v);
    if (n > MD_ENTRY_LABELS_MAX)
        return md_err_set(err, MD_EINVAL, "labels: more than %d labels", MD_ENTRY_LABELS_MAX);
    md_label_t *labels = n ? md_arena_zalloc(a, n * sizeof(*labels)) : NULL;
    if (n && labels == NULL) return md_err_set(err, MD_ENOMEM, "out of memory");
    size_t i = 0;
    const char *key;
    size_t klen;
    json_t *val;
    char q[64];
    /* the object is not modified; jansson's iteration macros take a non-const pointer */
    json_object_keylen_foreach((json_t *)v, key, klen, val)
    {
        if (memchr(key, '\0', klen) != NULL)
            return md_err_set(err, MD_EINVAL, "labels: a key contains U+0000");
        char where[96];
        snprintf(where, sizeof(where), "labels.%s", quote(key, klen, q));
        const char *value;
        int rc = arena_string(val, where, a, &value, err);
        if (rc != MD_OK) return rc;
        char *k = md_arena_memdup(a, key, klen);
        if (k == NULL) return md_err_set(err, MD_ENOMEM, "out of memory");
        if ((rc = check_label(k, value, err)) != MD_OK) return rc;
        labels[i].key = k;
        labels[i].value = value;
        i++;
    }
    if (n > 1) qsort(labels, n, sizeof(*labels), cmp_label);
    e->labels = labels;
    e->n_labels = n;
    return MD_OK;
}

static int cmp_str(const void *x, const void *y)
{
    return strcmp(*(const char *const *)x, *(const char *const *)y);
}

static int parse_scopes(const json_t *v, md_arena_t *a, md_entry_t *e, md_err_t *err)
{
    if (v == NULL) return md_err_set(err, MD_EINVAL, "scope_ceiling: missing (required; may be [])");
    if (!json_is_array(v)) return md_err_set(err, MD_EINVAL, "scope_ceiling: must be an array of strings");
    size_t n = json_array_size(v);
    if (n > MD_ENTRY_SCOPES_MAX)
        return md_err_set(err, MD_EINVAL, "scope_ceiling: more than %d scopes", MD_ENTRY_SCOPES_MAX);
    const char **scopes = n ? md_arena_zalloc(a, n * sizeof(*scopes)) : NULL;
    if (n && scopes == NULL) return md_err_set(err, MD_ENOMEM, "out of memory");
    for (size_t i = 0; i < n; i++) {
        char where[48];
        snprintf(where, sizeof(where), "scope_ceiling[%zu]", i);
        int rc = arena_string(json_array_get(v, i), where, a, &scopes[i], err);
        if (rc != MD_OK) return rc;
        if ((rc = check_scope(scopes[i], i, err)) != MD_OK) return rc;
        for (size_t j = 0; j < i; j++)
            if (strcmp(scopes[j], scopes[i]) == 0)
                return md_err_set(err, MD_EINVAL, "scope_ceiling[%zu]: duplicates scope_ceiling[%zu]", i, j);
    }
    if (n > 1) qsort(scopes, n, sizeof(*scopes), cmp_str);
    e->scopes = scopes;
    e->n_scopes = n;
    return MD_OK;
}

static int optional_int(const json_t *obj, const char *name, long long dflt, long long *out, md_err_t *err)
{
    const json_t *v = json_object_get(obj, name);
    if (v == NULL) {
        *out = dflt;
        return MD_OK;
    }
    if (!json_is_integer(v)) return md_err_set(err, MD_EINVAL, "%s: must be an integer", name);
    *out = (long long)json_integer_value(v);
    return MD_OK;
}

static int from_json(const json_t *obj, md_arena_t *a, md_entry_t *e, md_err_t *err)
{
    char q[64];
    if (!json_is_object(obj)) return md_err_set(err, MD_EINVAL, "entry: must be a JSON object");
    const char *key;
    size_t klen;
    json_t *val;
    json_object_keylen_foreach((json_t *)obj, key, klen, val)
    {
        bool known = false;
        for (size_t i = 0; i < sizeof(known_members) / sizeof(known_members[0]); i++)
            if (strlen(known_members[i]) == klen && memcmp(known_members[i], key, klen) == 0) known = true;
        if (!known) return md_err_set(err, MD_EINVAL, "entry: unknown member \"%s\"", quote(key, klen, q));
    }
    int rc = required_string(obj, "spiffe_id", a, &e->spiffe_id, err);
    if (rc != MD_OK) return rc;
    if ((rc = check_spiffe_id(e->spiffe_id, &e->id, err)) != MD_OK) return rc;
    if ((rc = parse_selectors(json_object_get(obj, "selectors"), a, e, err)) != MD_OK) return rc;
    if ((rc = required_string(obj, "owner", a, &e->owner, err)) != MD_OK) return rc;
    if ((rc = check_owner(e->owner, err)) != MD_OK) return rc;
    if ((rc = required_string(obj, "env", a, &e->env, err)) != MD_OK) return rc;
    if ((rc = check_env(e->env, err)) != MD_OK) return rc;
    if ((rc = parse_labels(json_object_get(obj, "labels"), a, e, err)) != MD_OK) return rc;
    if ((rc = parse_scopes(json_object_get(obj, "scope_ceiling"), a, e, err)) != MD_OK) return rc;
    long long ttl, created, updated;
    if ((rc = optional_int(obj, "svid_ttl", MD_ENTRY_TTL_DEFAULT, &ttl, err)) != MD_OK) return rc;
    if ((rc = check_ttl(ttl, err)) != MD_OK) return rc;
    e->svid_ttl = (uint32_t)ttl;
    const json_t *state = json_object_get(obj, "state");
    e->state = MD_ENTRY_ACTIVE;
    if (state != NULL) {
        if (!json_is_string(state)) return md_err_set(err, MD_EINVAL, "state: must be a string");
        const char *s = json_string_value(state);
        if (strlen(s) != json_string_length(state) || md_entry_state_parse(s, &e->state) != MD_OK)
            return md_err_set(err, MD_EINVAL, "state: \"%s\" is neither \"active\" nor \"quarantined\"",
                              quote(s, json_string_length(state), q));
    }
    if ((rc = optional_int(obj, "created_at", 0, &created, err)) != MD_OK) return rc;
    if ((rc = check_time("created_at", created, err)) != MD_OK) return rc;
    if ((rc = optional_int(obj, "updated_at", 0, &updated, err)) != MD_OK) return rc;
    if ((rc = check_time("updated_at", updated, err)) != MD_OK) return rc;
    e->created_at = created;
    e->updated_at = updated;
    if ((rc = check_times(created, updated, err)) != MD_OK) return rc;
    /* the parser checked each rule as it went; this is the single definition of "valid" */
    return md_entry_validate(e, err);
}

int md_entry_from_json(const json_t *obj, md_arena_t *a, md_entry_t *out, md_err_t *err)
{
    md_entry_t e;
    memset(&e, 0, sizeof(e));
    int rc = from_json(obj, a, &e, err);
    if (rc != MD_OK) {
        memset(out, 0, sizeof(*out));
        return rc;
    }
    *out = e;
    return MD_OK;
}

int md_entry_parse(const char *text, size_t len, md_arena_t *a, md_entry_t *out, md_err_t *err)
{
    memset(out, 0, sizeof(*out));
    if (len > MD_ENTRY_JSON_MAX)
        return md_err_set(err, MD_ELIMIT, "entry: document is larger than %d bytes", MD_ENTRY_JSON_MAX);
    json_error_t je;
    /* no JSON_ALLOW_NUL: "\u0000" anywhere is refused by jansson itself */
    json_t *doc = json_loadb(text, len, JSON_REJECT_DUPLICATES, &je);
    if (doc == NULL)
        return md_err_set(err, MD_EINVAL, "entry: invalid JSON at line %d column %d: %s", je.line, je.column,
                          je.text);
    int rc = md_entry_from_json(doc, a, out, err);
    json_decref(doc);
    return rc;
}

/* json_object_set_new that remembers a failure (including a NULL value). */
static void set_member(json_t *obj, const char *key, json_t *v, bool *ok)
{
    if (v == NULL || json_object_set_new(obj, key, v) != 0) *ok = false;
}

json_t *md_entry_to_json(const md_entry_t *e)
{
    json_t *obj = json_object();
    if (obj == NULL) return NULL;
    bool ok = true;
    md_buf_t b;
    md_buf_init(&b);
    set_member(obj, "spiffe_id", json_string(e->spiffe_id ? e->spiffe_id : ""), &ok);
    json_t *sels = json_array();
    for (size_t i = 0; sels != NULL && i < e->n_selectors; i++) {
        md_buf_reset(&b);
        md_selector_format(&e->selectors[i], &b);
        if (b.oom || json_array_append_new(sels, json_stringn(b.p, b.n)) != 0) ok = false;
    }
    set_member(obj, "selectors", sels, &ok);
    set_member(obj, "owner", json_string(e->owner ? e->owner : ""), &ok);
    set_member(obj, "env", json_string(e->env ? e->env : ""), &ok);
    json_t *labels = json_object();
    for (size_t i = 0; labels != NULL && i < e->n_labels; i++)
        if (json_object_set_new(labels, e->labels[i].key, json_string(e->labels[i].value)) != 0) ok = false;
    set_member(obj, "labels", labels, &ok);
    json_t *scopes = json_array();
    for (size_t i = 0; scopes != NULL && i < e->n_scopes; i++)
        if (json_array_append_new(scopes, json_string(e->scopes[i])) != 0) ok = false;
    set_member(obj, "scope_ceiling", scopes, &ok);
    set_member(obj, "svid_ttl", json_integer(e->svid_ttl), &ok);
    set_member(obj, "state", json_string(md_entry_state_name(e->state)), &ok);
    set_member(obj, "created_at", json_integer(e->created_at), &ok);
    set_member(obj, "updated_at", json_integer(e->updated_at), &ok);
    md_buf_free(&b);
    if (!ok) {
        json_decref(obj);
        return NULL;
    }
    return obj;
}
