/*
 * registry.c: the admin API's rules for registration entries (registry.h).
 *
 * Invariants: an entry returned by md_registry_parse_create/_update passed
 * md_entry_from_json() (hence md_entry_validate()) and the API's stricter
 * scope rule; the daemon-owned members (id, times) never come from a client.
 */
#include "identity/registry.h"

#include <stdio.h>

#include <openssl/rand.h>

static const char *const owned_members[] = {"id", "created_at", "updated_at"};
static const char *const mutable_members[] = {"selectors",     "owner",    "env",  "labels",
                                              "scope_ceiling", "svid_ttl", "state"};

#define NELEM(a) (sizeof(a) / sizeof((a)[0]))

int md_registry_new_id(char out[MD_AGENT_ID_LEN + 1])
{
    static const char hex[] = "0123456789abcdef";
    unsigned char raw[8];
    if (RAND_bytes(raw, sizeof(raw)) != 1) return MD_EIO;
    memcpy(out, MD_AGENT_ID_PREFIX, 3);
    for (size_t i = 0; i < sizeof(raw); i++) {
        out[3 + 2 * i] = hex[raw[i] >> 4];
        out[4 + 2 * i] = hex[raw[i] & 15];
    }
    out[MD_AGENT_ID_LEN] = '\0';
    return MD_OK;
}

bool md_registry_id_valid(const char *s)
{
    if (s == NULL || strlen(s) != MD_AGENT_ID_LEN || strncmp(s, MD_AGENT_ID_PREFIX, 3) != 0) return false;
    for (size_t i = 3; i < MD_AGENT_ID_LEN; i++)
        if (!((s[i] >= '0' && s[i] <= '9') || (s[i] >= 'a' && s[i] <= 'f'))) return false;
    return true;
}

md_registry_key_t md_registry_key_kind(const char *key)
{
    if (key == NULL) return MD_REGISTRY_KEY_BAD;
    if (strncmp(key, "spiffe://", 9) == 0) return MD_REGISTRY_KEY_SPIFFE;
    return md_registry_id_valid(key) ? MD_REGISTRY_KEY_ID : MD_REGISTRY_KEY_BAD;
}

static bool in_list(const char *key, const char *const *list, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (strcmp(key, list[i]) == 0) return true;
    return false;
}

/* Printable, bounded copy of a client-supplied member name for messages. */
static const char *shown(const char *key, char out[64])
{
    size_t j = 0;
    for (size_t i = 0; key[i] && j < 48; i++) {
        unsigned char c = (unsigned char)key[i];
        out[j++] = c >= 0x20 && c < 0x7f && c != '"' ? (char)c : '?';
    }
    out[j] = '\0';
    return out;
}

/* The API's scope rule: [a-z0-9_.:-]+ (the entry checked the length). */
static int check_scopes(const md_entry_t *e, md_err_t *err)
{
    for (size_t i = 0; i < e->n_scopes; i++)
        for (const char *p = e->scopes[i]; *p; p++) {
            char c = *p;
            if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_' || c == '.' || c == ':' ||
                  c == '-'))
                return md_err_set(err, MD_EINVAL,
                                  "scope_ceiling: scope \"%.64s\" has a character outside [a-z0-9_.:-]",
                                  e->scopes[i]);
        }
    return MD_OK;
}

static int finish(json_t *doc, md_arena_t *a, md_entry_t *out, md_err_t *err)
{
    int rc = md_entry_from_json(doc, a, out, err);
    if (rc == MD_OK && (rc = check_scopes(out, err)) != MD_OK) memset(out, 0, sizeof(*out));
    return rc;
}

int md_registry_parse_create(const json_t *body, int64_t now, md_arena_t *a, md_entry_t *out, md_err_t *err)
{
    const char *key;
    json_t *v, *doc;
    char q[64];
    int rc;

    memset(out, 0, sizeof(*out));
    if (!json_is_object(body)) return md_err_set(err, MD_EINVAL, "the body must be a JSON object");
    json_object_foreach((json_t *)body, key, v)
    {
        if (in_list(key, owned_members, NELEM(owned_members)))
            return md_err_set(err, MD_EINVAL, "%s: set by the daemon, not by a request", shown(key, q));
    }
    doc = json_copy((json_t *)body); /* shallow: only the times are added */
    if (doc == NULL) return md_err_set(err, MD_ENOMEM, "out of memory");
    if (json_object_set_new(doc, "created_at", json_integer(now)) != 0 ||
        json_object_set_new(doc, "updated_at", json_integer(now)) != 0) {
        json_decref(doc);
        return md_err_set(err, MD_ENOMEM, "out of memory");
    }
    rc = finish(doc, a, out, err);
    json_decref(doc);
    return rc;
}

int md_registry_parse_update(const json_t *current, const json_t *patch, int64_t now, md_arena_t *a,
                             md_entry_t *out, md_err_t *err)
{
    const char *key;
    json_t *v, *doc;
    char q[64];
    int rc;

    memset(out, 0, sizeof(*out));
    if (!json_is_object(patch)) return md_err_set(err, MD_EINVAL, "the body must be a JSON object");
    if (!json_is_object(current)) return md_err_set(err, MD_EINVAL, "the stored entry is not a JSON object");
    if (json_object_size(patch) == 0)
        return md_err_set(err, MD_EINVAL, "the body names nothing to change (send the members to replace)");
    json_object_foreach((json_t *)patch, key, v)
    {
        if (strcmp(key, "spiffe_id") == 0) {
            const json_t *old = json_object_get(current, "spiffe_id");
            if (!json_is_string(v)) return md_err_set(err, MD_EINVAL, "spiffe_id: must be a string");
            if (!json_equal(v, (json_t *)old))
                return md_err_set(
                    err, MD_EINVAL,
                    "spiffe_id: cannot change (an identity is not renamed: register a new agent "
                    "and remove this one)");
            continue;
        }
        if (in_list(key, owned_members, NELEM(owned_members)))
            return md_err_set(err, MD_EINVAL, "%s: set by the daemon, not by a request", shown(key, q));
        if (!in_list(key, mutable_members, NELEM(mutable_members)))
            return md_err_set(err, MD_EINVAL, "entry: unknown member \"%s\"", shown(key, q));
    }
    doc = json_deep_copy((json_t *)current);
    if (doc == NULL) return md_err_set(err, MD_ENOMEM, "out of memory");
    json_object_foreach((json_t *)patch, key, v)
    {
        if (json_object_set(doc, key, v) != 0) {
            json_decref(doc);
            return md_err_set(err, MD_ENOMEM, "out of memory");
        }
    }
    const json_t *created = json_object_get(doc, "created_at");
    int64_t updated = now;
    if (json_is_integer(created) && json_integer_value(created) > updated)
        updated = json_integer_value(created);
    if (json_object_set_new(doc, "updated_at", json_integer(updated)) != 0) {
        json_decref(doc);
        return md_err_set(err, MD_ENOMEM, "out of memory");
    }
    rc = finish(doc, a, out, err);
    json_decref(doc);
    return rc;
}

static bool same_value(const md_selector_t *x, const md_selector_t *y)
{
    if (x->type == MD_SEL_UNIX_UID || x->type == MD_SEL_UNIX_GID) return x->id == y->id;
    return x->len == y->len && (x->len == 0 || memcmp(x->str, y->str, x->len) == 0);
}

bool md_registry_selectors_overlap(const md_entry_t *a, const md_entry_t *b)
{
    if (a->n_selectors == 0 || b->n_selectors == 0) return false;
    for (size_t i = 0; i < a->n_selectors; i++)
        for (size_t j = 0; j < b->n_selectors; j++)
            if (a->selectors[i].type == b->selectors[j].type &&
                !same_value(&a->selectors[i], &b->selectors[j]))
                return false; /* one process cannot have both values */
    return true;
}

json_t *md_registry_agent_json(const char *id, const md_entry_t *e)
{
    json_t *entry = md_entry_to_json(e), *out = json_object();
    const char *key;
    json_t *v;
    if (entry == NULL || out == NULL || json_object_set_new(out, "id", json_string(id)) != 0) goto fail;
    json_object_foreach(entry, key, v)
    {
        if (json_object_set(out, key, v) != 0) goto fail;
    }
    json_decref(entry);
    return out;
fail:
    json_decref(entry);
    json_decref(out);
    return NULL;
}
