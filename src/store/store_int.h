/*
 * store_int.h: what a storage backend implements (private to src/store/).
 *
 * store.c checks every argument before it calls a backend, so a backend may
 * assume valid keys, names and lengths.  A backend reports through err and
 * returns the codes listed in store.h.
 */
#ifndef MD_STORE_STORE_INT_H
#define MD_STORE_STORE_INT_H

#include "store/store.h"

typedef struct md_store_ops {
    const char *name;
    int code_version;
    void (*close)(void *h);
    int (*schema_version)(void *h, int *version, md_err_t *err);
    int (*begin)(void *h, md_err_t *err);
    int (*commit)(void *h, md_err_t *err);
    void (*rollback)(void *h);
    int (*setting_get)(void *h, const char *key, md_buf_t *value, md_err_t *err);
    int (*setting_put)(void *h, const char *key, md_str_t value, int64_t now, md_err_t *err);
    int (*setting_delete)(void *h, const char *key, md_err_t *err);
    int (*admin_get)(void *h, const char *name, md_store_admin_t *out, md_err_t *err);
    int (*admin_put)(void *h, const md_store_admin_t *admin, md_err_t *err);
    int (*signing_keys_list)(void *h, md_arena_t *a, md_store_signing_key_t **rows, size_t *n, md_err_t *err);
    int (*signing_keys_replace)(void *h, const md_store_signing_key_t *rows, size_t n, md_err_t *err);
    int (*agent_insert)(void *h, const md_store_agent_t *agent, md_err_t *err);
    int (*agent_update)(void *h, const md_store_agent_t *agent, md_err_t *err);
    int (*agent_get)(void *h, const char *key, bool by_spiffe_id, md_arena_t *a, md_store_agent_t *out,
                     md_err_t *err);
    int (*agent_list)(void *h, md_arena_t *a, md_store_agent_t **rows, size_t *n, md_err_t *err);
    int (*agent_delete)(void *h, const char *id, md_err_t *err);
    int (*task_insert)(void *h, const md_store_task_t *task, md_err_t *err);
    int (*task_get)(void *h, const char *id, md_arena_t *a, md_store_task_t *out, md_err_t *err);
    int (*task_list)(void *h, const md_store_task_filter_t *f, md_arena_t *a, md_store_task_t **rows,
                     size_t *n, md_err_t *err);
    int (*task_finish)(void *h, const char *key, bool by_holder, const char *state, const char *reason,
                       int64_t at, size_t *changed, md_err_t *err);
    int (*task_live)(void *h, int64_t now, md_arena_t *a, md_store_task_t **rows, size_t *n, md_err_t *err);
} md_store_ops_t;

struct md_store {
    const md_store_ops_t *ops; /* static */
    void *h;                   /* owned by the backend; freed by ops->close */
    int busy_ms;               /* how long a writer waits for the process's writer lock */
    bool in_tx;                /* md_store_begin() took the writer lock; commit or rollback releases it */
};

/* SQLite: open (creating the file 0600 when absent) and migrate.  *h on success. */
int md_store_sqlite_open(const md_store_opts_t *opts, void **h, md_err_t *err);
extern const md_store_ops_t md_store_sqlite_ops;

#endif
