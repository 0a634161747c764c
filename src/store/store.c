/*
 * store.c: the backend-neutral face of the store (see store.h).
 *
 * Owns argument checking, so every backend sees only valid keys, names and
 * sizes, and dispatching to the backend's operations.
 */
#include "store/store_int.h"

#include <stdlib.h>
#include <time.h>

static bool word_valid(const char *s, size_t max)
{
    size_t n = 0;
    if (s == NULL) return false;
    for (; s[n]; n++) {
        char c = s[n];
        if (n >= max) return false;
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '.' ||
              c == '_' || c == '-'))
            return false;
    }
    return n > 0;
}

bool md_store_key_valid(const char *key)
{
    return word_valid(key, MD_STORE_KEY_MAX);
}

int md_store_code_version(md_store_backend_t backend)
{
    return backend == MD_STORE_SQLITE ? md_store_sqlite_ops.code_version : 0;
}

int md_store_open(const md_store_opts_t *opts, md_store_t **out, md_err_t *err)
{
    md_store_t *st = NULL;
    void *h = NULL;
    int rc;

    *out = NULL;
    if (opts == NULL || opts->path == NULL || opts->path[0] == '\0')
        return md_err_set(err, MD_EINVAL, "store: no database path");
    if (opts->backend == MD_STORE_POSTGRES)
        return md_err_set(err, MD_EINVAL, "store: the postgres backend is not available in this build");
    if (opts->backend != MD_STORE_SQLITE) return md_err_set(err, MD_EINVAL, "store: unknown backend");
    st = calloc(1, sizeof(*st));
    if (st == NULL) return md_err_set(err, MD_ENOMEM, "store: out of memory");
    rc = md_store_sqlite_open(opts, &h, err);
    if (rc != MD_OK) {
        free(st);
        return rc;
    }
    st->ops = &md_store_sqlite_ops;
    st->h = h;
    *out = st;
    return MD_OK;
}

void md_store_close(md_store_t *st)
{
    if (st == NULL) return;
    if (st->ops && st->h) st->ops->close(st->h);
    free(st);
}

const char *md_store_backend_name(const md_store_t *st)
{
    return st->ops->name;
}

int md_store_schema_version(md_store_t *st, int *version, md_err_t *err)
{
    return st->ops->schema_version(st->h, version, err);
}

int md_store_begin(md_store_t *st, md_err_t *err)
{
    return st->ops->begin(st->h, err);
}

int md_store_commit(md_store_t *st, md_err_t *err)
{
    return st->ops->commit(st->h, err);
}

void md_store_rollback(md_store_t *st)
{
    st->ops->rollback(st->h);
}

int md_store_setting_get(md_store_t *st, const char *key, md_buf_t *value, md_err_t *err)
{
    if (!md_store_key_valid(key)) return md_err_set(err, MD_EINVAL, "store: invalid settings key");
    md_buf_reset(value);
    return st->ops->setting_get(st->h, key, value, err);
}

int md_store_setting_put(md_store_t *st, const char *key, md_str_t value, md_err_t *err)
{
    if (!md_store_key_valid(key)) return md_err_set(err, MD_EINVAL, "store: invalid settings key");
    if (value.n > MD_STORE_VALUE_MAX || (value.n > 0 && value.p == NULL))
        return md_err_set(err, MD_EINVAL, "store: settings value longer than %d bytes", MD_STORE_VALUE_MAX);
    return st->ops->setting_put(st->h, key, value, (int64_t)time(NULL), err);
}

int md_store_setting_delete(md_store_t *st, const char *key, md_err_t *err)
{
    if (!md_store_key_valid(key)) return md_err_set(err, MD_EINVAL, "store: invalid settings key");
    return st->ops->setting_delete(st->h, key, err);
}

int md_store_admin_get(md_store_t *st, const char *name, md_store_admin_t *out, md_err_t *err)
{
    if (!word_valid(name, MD_STORE_NAME_MAX)) return md_err_set(err, MD_EINVAL, "store: invalid admin name");
    memset(out, 0, sizeof(*out));
    return st->ops->admin_get(st->h, name, out, err);
}

int md_store_admin_put(md_store_t *st, const md_store_admin_t *admin, md_err_t *err)
{
    md_store_admin_t a;
    if (!word_valid(admin->name, MD_STORE_NAME_MAX))
        return md_err_set(err, MD_EINVAL, "store: invalid admin name");
    a = *admin;
    if (a.created_at == 0) a.created_at = (int64_t)time(NULL);
    return st->ops->admin_put(st->h, &a, err);
}
