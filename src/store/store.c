/*
 * store.c: the backend-neutral face of the store (see store.h).
 *
 * Owns argument checking, so every backend sees only valid keys, names and
 * sizes, and dispatching to the backend's operations.
 */
#include "store/store_int.h"

#include <pthread.h>
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

/*
 * Writers in this process take one lock, so SQLite never sees two of them at
 * once: its busy handler would otherwise put a writer to sleep (1, 2, 5 ...
 * ms) whenever another worker thread holds the write lock, and concurrent
 * writes would crawl.  A transaction (md_store_begin .. commit/rollback)
 * holds it throughout; a single write outside one holds it for that write.
 * Waiting is bounded by the connection's busy timeout (then MD_STORE_EBUSY),
 * as SQLite's own wait would be.  Only one mandated uses a database (the data
 * dir's lock), so the process is the only writer.
 */
static pthread_mutex_t write_mu = PTHREAD_MUTEX_INITIALIZER;

static int write_lock(md_store_t *st, md_err_t *err)
{
    struct timespec until;
    if (st->in_tx) return MD_OK;
    clock_gettime(CLOCK_REALTIME, &until);
    until.tv_sec += st->busy_ms / 1000;
    until.tv_nsec += (long)(st->busy_ms % 1000) * 1000000L;
    if (until.tv_nsec >= 1000000000L) {
        until.tv_sec++;
        until.tv_nsec -= 1000000000L;
    }
    if (pthread_mutex_timedlock(&write_mu, &until) != 0)
        return md_err_set(err, MD_STORE_EBUSY, "store: another write did not finish within %d ms",
                          st->busy_ms);
    return MD_OK;
}

static void write_unlock(md_store_t *st)
{
    if (!st->in_tx) pthread_mutex_unlock(&write_mu);
}

/* A single write: under the writer lock unless a transaction holds it already. */
#define WRITE(st, call)                                                                                      \
    do {                                                                                                     \
        int wrc_ = write_lock(st, err);                                                                      \
        if (wrc_ != MD_OK) return wrc_;                                                                      \
        wrc_ = (call);                                                                                       \
        write_unlock(st);                                                                                    \
        return wrc_;                                                                                         \
    } while (0)

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
    st->busy_ms = opts->busy_timeout_ms > 0 ? opts->busy_timeout_ms : 5000;
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
    if (st->in_tx) return md_err_set(err, MD_EINVAL, "store: a transaction is already open");
    int rc = write_lock(st, err);
    if (rc != MD_OK) return rc;
    rc = st->ops->begin(st->h, err);
    if (rc != MD_OK)
        pthread_mutex_unlock(&write_mu);
    else
        st->in_tx = true;
    return rc;
}

int md_store_commit(md_store_t *st, md_err_t *err)
{
    int rc = st->ops->commit(st->h, err);
    if (rc == MD_OK && st->in_tx) { /* on failure the transaction stays open for the caller's rollback */
        st->in_tx = false;
        pthread_mutex_unlock(&write_mu);
    }
    return rc;
}

void md_store_rollback(md_store_t *st)
{
    st->ops->rollback(st->h);
    if (st->in_tx) {
        st->in_tx = false;
        pthread_mutex_unlock(&write_mu);
    }
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
    WRITE(st, st->ops->setting_put(st->h, key, value, (int64_t)time(NULL), err));
}

int md_store_setting_delete(md_store_t *st, const char *key, md_err_t *err)
{
    if (!md_store_key_valid(key)) return md_err_set(err, MD_EINVAL, "store: invalid settings key");
    WRITE(st, st->ops->setting_delete(st->h, key, err));
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
    WRITE(st, st->ops->admin_put(st->h, &a, err));
}

/* ---- signing keys ---- */

static bool kid_valid(const char *s)
{
    size_t n = 0;
    if (s == NULL) return false;
    for (; s[n]; n++) {
        char c = s[n];
        if (n >= MD_STORE_KID_MAX) return false;
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' ||
              c == '-'))
            return false;
    }
    return n > 0;
}

static bool one_of(const char *s, const char *const *words)
{
    if (s == NULL) return false;
    for (; *words; words++)
        if (strcmp(s, *words) == 0) return true;
    return false;
}

int md_store_signing_keys_list(md_store_t *st, md_arena_t *a, md_store_signing_key_t **rows, size_t *n,
                               md_err_t *err)
{
    *rows = NULL;
    *n = 0;
    return st->ops->signing_keys_list(st->h, a, rows, n, err);
}

int md_store_signing_keys_replace(md_store_t *st, const md_store_signing_key_t *rows, size_t n, md_err_t *err)
{
    static const char *const algs[] = {"ES256", "EdDSA", NULL};
    static const char *const states[] = {"next", "active", "retired", NULL};
    if (n > 0 && rows == NULL) return md_err_set(err, MD_EINVAL, "store: no rows");
    for (size_t i = 0; i < n; i++) {
        const md_store_signing_key_t *r = &rows[i];
        if (!kid_valid(r->kid) || !one_of(r->alg, algs) || !one_of(r->state, states) || r->sealed == NULL ||
            r->sealed[0] == '\0' || strlen(r->sealed) > MD_STORE_SEALED_MAX || r->generation < 0 ||
            (r->mac != NULL && strlen(r->mac) > MD_STORE_MAC_MAX))
            return md_err_set(err, MD_EINVAL, "store: signing key %zu is malformed", i);
        for (size_t j = 0; j < i; j++)
            if (strcmp(rows[j].kid, r->kid) == 0)
                return md_err_set(err, MD_EINVAL, "store: signing key %zu repeats a kid", i);
    }
    WRITE(st, st->ops->signing_keys_replace(st->h, rows, n, err));
}

/* ---- agents ---- */

static int agent_check(const md_store_agent_t *a, md_err_t *err)
{
    static const char *const states[] = {"active", "quarantined", NULL};
    size_t el;
    if (!word_valid(a->id, MD_STORE_AGENT_ID_MAX))
        return md_err_set(err, MD_EINVAL, "store: invalid agent id");
    if (a->spiffe_id == NULL || a->spiffe_id[0] == '\0' || strlen(a->spiffe_id) > 2048)
        return md_err_set(err, MD_EINVAL, "store: invalid SPIFFE ID");
    if (a->owner == NULL || a->owner[0] == '\0' || a->env == NULL || a->env[0] == '\0')
        return md_err_set(err, MD_EINVAL, "store: agent owner and env are required");
    if (!one_of(a->state, states)) return md_err_set(err, MD_EINVAL, "store: invalid agent state");
    if (a->entry == NULL || (el = strlen(a->entry)) < 2 || el > MD_STORE_ENTRY_MAX || a->entry[0] != '{')
        return md_err_set(err, MD_EINVAL, "store: the entry must be a JSON object of at most %d bytes",
                          MD_STORE_ENTRY_MAX);
    return MD_OK;
}

int md_store_agent_insert(md_store_t *st, const md_store_agent_t *agent, md_err_t *err)
{
    int rc = agent_check(agent, err);
    if (rc != MD_OK) return rc;
    WRITE(st, st->ops->agent_insert(st->h, agent, err));
}

int md_store_agent_update(md_store_t *st, const md_store_agent_t *agent, md_err_t *err)
{
    int rc = agent_check(agent, err);
    if (rc != MD_OK) return rc;
    WRITE(st, st->ops->agent_update(st->h, agent, err));
}

int md_store_agent_get(md_store_t *st, const char *key, bool by_spiffe_id, md_arena_t *a,
                       md_store_agent_t *out, md_err_t *err)
{
    memset(out, 0, sizeof(*out));
    if (by_spiffe_id ? (key == NULL || key[0] == '\0' || strlen(key) > 2048)
                     : !word_valid(key, MD_STORE_AGENT_ID_MAX))
        return md_err_set(err, MD_EINVAL, "store: invalid agent key");
    return st->ops->agent_get(st->h, key, by_spiffe_id, a, out, err);
}

int md_store_agent_list(md_store_t *st, md_arena_t *a, md_store_agent_t **rows, size_t *n, md_err_t *err)
{
    *rows = NULL;
    *n = 0;
    return st->ops->agent_list(st->h, a, rows, n, err);
}

int md_store_agent_delete(md_store_t *st, const char *id, md_err_t *err)
{
    if (!word_valid(id, MD_STORE_AGENT_ID_MAX)) return md_err_set(err, MD_EINVAL, "store: invalid agent id");
    WRITE(st, st->ops->agent_delete(st->h, id, err));
}

/* ---- tasks ---- */

static bool task_id_valid(const char *s)
{
    if (s == NULL || strlen(s) != MD_STORE_TASK_ID_LEN) return false;
    for (size_t i = 0; i < MD_STORE_TASK_ID_LEN; i++)
        if (!((s[i] >= '0' && s[i] <= '9') || (s[i] >= 'a' && s[i] <= 'f'))) return false;
    return true;
}

static bool task_state_valid(const char *s)
{
    return s != NULL && (strcmp(s, "active") == 0 || strcmp(s, "ended") == 0 || strcmp(s, "revoked") == 0);
}

int md_store_task_insert(md_store_t *st, const md_store_task_t *t, md_err_t *err)
{
    if (!task_id_valid(t->id) || !task_id_valid(t->root) || (t->parent != NULL && !task_id_valid(t->parent)))
        return md_err_set(err, MD_EINVAL, "store: invalid task id");
    if (!task_state_valid(t->state) || t->depth < 0 || t->depth > 255 ||
        (t->parent == NULL) != (t->depth == 0))
        return md_err_set(err, MD_EINVAL, "store: invalid task state or depth");
    if (t->subject == NULL || t->holder == NULL || t->agent_id == NULL || t->audience == NULL ||
        t->intent == NULL || t->scope == NULL || !t->subject[0] || !t->holder[0] || !t->agent_id[0] ||
        !t->audience[0])
        return md_err_set(err, MD_EINVAL,
                          "store: a task needs subject, holder, agent, audience, intent and scope");
    WRITE(st, st->ops->task_insert(st->h, t, err));
}

int md_store_task_get(md_store_t *st, const char *id, md_arena_t *a, md_store_task_t *out, md_err_t *err)
{
    memset(out, 0, sizeof(*out));
    if (!task_id_valid(id)) return md_err_set(err, MD_EINVAL, "store: invalid task id");
    return st->ops->task_get(st->h, id, a, out, err);
}

int md_store_task_list(md_store_t *st, const md_store_task_filter_t *f, md_arena_t *a, md_store_task_t **rows,
                       size_t *n, md_err_t *err)
{
    *rows = NULL;
    *n = 0;
    if (f->limit < 1 || f->limit > 100000)
        return md_err_set(err, MD_EINVAL, "store: task list limit 1..100000");
    if ((f->root != NULL && !task_id_valid(f->root)) || (f->state != NULL && !task_state_valid(f->state)))
        return md_err_set(err, MD_EINVAL, "store: invalid task filter");
    return st->ops->task_list(st->h, f, a, rows, n, err);
}

int md_store_task_finish(md_store_t *st, const char *key, bool by_holder, const char *state,
                         const char *reason, int64_t at, size_t *changed, md_err_t *err)
{
    *changed = 0;
    if (by_holder ? (key == NULL || key[0] == '\0') : !task_id_valid(key))
        return md_err_set(err, MD_EINVAL, "store: invalid task key");
    if (state == NULL || (strcmp(state, "ended") != 0 && strcmp(state, "revoked") != 0))
        return md_err_set(err, MD_EINVAL, "store: a task finishes as ended or revoked");
    WRITE(st, st->ops->task_finish(st->h, key, by_holder, state, reason, at, changed, err));
}

int md_store_task_live(md_store_t *st, int64_t now, md_arena_t *a, md_store_task_t **rows, size_t *n,
                       md_err_t *err)
{
    *rows = NULL;
    *n = 0;
    return st->ops->task_live(st->h, now, a, rows, n, err);
}
