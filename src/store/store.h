/*
 * store.h: mandate's persistent state, behind one interface.
 *
 * An md_store_t is one connection to one backend: SQLite now (embedded, the
 * default), PostgreSQL later (many nodes).  A store handle is used by one
 * thread at a time; each thread that needs the store opens its own.
 *
 * Opening a store brings its schema up to date: migrations are numbered,
 * applied in order, each in its own transaction, and recorded in the table
 * `schema_version`.  A database written by a newer mandate (a version this
 * code does not know) is refused, never modified.
 *
 * Tables so far:
 *   settings      key → value, for operator settings and small daemon state
 *   admin         administrator credentials: a name and the SHA-256 of its token
 *                 (the token itself is never stored)
 *   signing_keys  the daemon's JWT signing keys: schedule (state and times) in
 *                 the clear but authenticated by a MAC under a key derived from
 *                 the KEK, the private key only sealed under the KEK (src/keys/)
 *   agents        agent registration entries (src/identity/entry.h), by a short
 *                 id and by SPIFFE ID (both unique)
 * Later tables (agents, tasks, keys, …) follow the same pattern: a migration
 * in the backend, a row struct and get/put/delete functions here, one
 * function pointer per operation in store_int.h.
 *
 * Every function returns MD_OK or a negative code and fills err once:
 * MD_ENOENT (no such row), MD_EINVAL (bad argument), MD_EIO (backend error),
 * MD_STORE_EBUSY (the database stayed locked past the busy timeout),
 * MD_STORE_ETOONEW (schema newer than this code), MD_ENOMEM.
 */
#ifndef MD_STORE_STORE_H
#define MD_STORE_STORE_H

#include <stdbool.h>
#include <stdint.h>

#include "core/core.h"

enum {
    MD_STORE_EBUSY = -32,   /* locked by another writer for longer than the busy timeout */
    MD_STORE_ETOONEW = -33, /* the database's schema is newer than this code */
    MD_STORE_EEXISTS = -34, /* a row with that unique key (id, SPIFFE ID) already exists */
};

typedef struct md_store md_store_t;

typedef enum md_store_backend {
    MD_STORE_SQLITE = 0,
    MD_STORE_POSTGRES = 1, /* reserved: refused by md_store_open() for now */
} md_store_backend_t;

typedef struct md_store_opts {
    md_store_backend_t backend;
    const char *path;    /* SQLite: the database file (created 0600 if absent) */
    int busy_timeout_ms; /* how long a writer waits for a lock; 0: 5000 */
} md_store_opts_t;

/* Limits enforced before any backend sees the data. */
#define MD_STORE_KEY_MAX 128 /* settings key: 1..128 bytes of [A-Za-z0-9._-] */
#define MD_STORE_VALUE_MAX (64 * 1024)
#define MD_STORE_NAME_MAX 63 /* admin name: 1..63 bytes of [A-Za-z0-9._-] */

/* The schema version this code writes (and the newest it can read). */
int md_store_code_version(md_store_backend_t backend);

/* Open (and migrate) a store.  *out is NULL on failure. */
int md_store_open(const md_store_opts_t *opts, md_store_t **out, md_err_t *err) MD_WUR;
void md_store_close(md_store_t *st);
const char *md_store_backend_name(const md_store_t *st);
/* The version recorded in the database. */
int md_store_schema_version(md_store_t *st, int *version, md_err_t *err) MD_WUR;

/* Transactions group several writes; without one each call is its own. */
int md_store_begin(md_store_t *st, md_err_t *err) MD_WUR;
int md_store_commit(md_store_t *st, md_err_t *err) MD_WUR;
void md_store_rollback(md_store_t *st);

/* Is key a valid settings key? */
bool md_store_key_valid(const char *key);

/* ---- settings ---- */

/* Read a setting into value (reset first).  MD_ENOENT when absent. */
int md_store_setting_get(md_store_t *st, const char *key, md_buf_t *value, md_err_t *err) MD_WUR;
/* Insert or replace. */
int md_store_setting_put(md_store_t *st, const char *key, md_str_t value, md_err_t *err) MD_WUR;
/* MD_ENOENT when absent. */
int md_store_setting_delete(md_store_t *st, const char *key, md_err_t *err) MD_WUR;

/* ---- administrators ---- */

typedef struct md_store_admin {
    char name[MD_STORE_NAME_MAX + 1];
    uint8_t token_sha256[32];
    int64_t created_at; /* unix seconds */
} md_store_admin_t;

/* MD_ENOENT when there is no administrator of that name. */
int md_store_admin_get(md_store_t *st, const char *name, md_store_admin_t *out, md_err_t *err) MD_WUR;
/* Insert or replace (created_at 0: now). */
int md_store_admin_put(md_store_t *st, const md_store_admin_t *admin, md_err_t *err) MD_WUR;

/* ---- signing keys ---- */

#define MD_STORE_KID_MAX 64
#define MD_STORE_SEALED_MAX (16 * 1024)
#define MD_STORE_MAC_MAX 128

/*
 * One signing key as stored.  Strings are borrowed when writing; when
 * reading they live in the arena passed to the list function.
 */
typedef struct md_store_signing_key {
    const char *kid;    /* 1..64 bytes of [A-Za-z0-9_-] (an RFC 7638 thumbprint) */
    const char *alg;    /* "ES256" | "EdDSA" */
    const char *state;  /* "next" | "active" | "retired" */
    int64_t published;  /* unix seconds, as md_keyset_entry_t */
    int64_t activated;  /* 0: not yet */
    int64_t retired;    /* 0: not yet */
    int64_t remove_at;  /* 0: not retired */
    const char *sealed; /* base64url of the sealed PKCS#8 key (md_jose_seal), 1..MD_STORE_SEALED_MAX bytes */
    int64_t generation; /* the saved set's generation (>= 0; 0: a row from before schema version 4) */
    const char *mac;    /* base64url metadata MAC (md_keyset_save), 0..MD_STORE_MAC_MAX bytes; NULL: "" */
} md_store_signing_key_t;

/* Every stored key, in the order they were published.  *rows in arena a (NULL when n == 0). */
int md_store_signing_keys_list(md_store_t *st, md_arena_t *a, md_store_signing_key_t **rows, size_t *n,
                               md_err_t *err) MD_WUR;
/*
 * Make the table hold exactly rows[0..n) (kids unique).  Not a transaction by
 * itself: wrap it in md_store_begin/commit so the set is never half-written.
 */
int md_store_signing_keys_replace(md_store_t *st, const md_store_signing_key_t *rows, size_t n,
                                  md_err_t *err) MD_WUR;

/* ---- agents (registration entries) ---- */

#define MD_STORE_AGENT_ID_MAX 64
#define MD_STORE_ENTRY_MAX (256 * 1024)

/*
 * One registration entry as stored.  `entry` is its canonical JSON
 * (md_entry_to_json); owner, env, state and the times repeat what is in it,
 * so queries need not parse JSON.  Strings are borrowed when writing and in
 * the caller's arena when read.
 */
typedef struct md_store_agent {
    const char *id;        /* 1..64 bytes of [A-Za-z0-9._-]: the short id the daemon assigned */
    const char *spiffe_id; /* 1..2048 bytes */
    const char *owner;     /* non-empty */
    const char *env;       /* non-empty */
    const char *state;     /* "active" | "quarantined" */
    const char *entry;     /* JSON object text, 2..MD_STORE_ENTRY_MAX bytes */
    int64_t created_at;    /* unix seconds */
    int64_t updated_at;
} md_store_agent_t;

/* Insert a new entry.  MD_STORE_EEXISTS when its id or SPIFFE ID is taken. */
int md_store_agent_insert(md_store_t *st, const md_store_agent_t *agent, md_err_t *err) MD_WUR;
/* Replace the entry with agent->id (its id and SPIFFE ID stay).  MD_ENOENT when absent;
 * MD_EINVAL when agent->spiffe_id differs from the stored one. */
int md_store_agent_update(md_store_t *st, const md_store_agent_t *agent, md_err_t *err) MD_WUR;
/* By short id, or (by_spiffe_id) by SPIFFE ID.  MD_ENOENT when absent. */
int md_store_agent_get(md_store_t *st, const char *key, bool by_spiffe_id, md_arena_t *a,
                       md_store_agent_t *out, md_err_t *err) MD_WUR;
/* Every entry, ordered by SPIFFE ID.  *rows in arena a (NULL when n == 0). */
int md_store_agent_list(md_store_t *st, md_arena_t *a, md_store_agent_t **rows, size_t *n,
                        md_err_t *err) MD_WUR;
/* MD_ENOENT when absent. */
int md_store_agent_delete(md_store_t *st, const char *id, md_err_t *err) MD_WUR;

/* ---- tasks (src/task/, src/server/tasks.c) ---- */

#define MD_STORE_TASK_ID_LEN 32

/*
 * One task as stored.  Strings are borrowed when writing and in the caller's
 * arena when read; optional ones are NULL when absent.
 */
typedef struct md_store_task {
    const char *id;       /* 32 lowercase hex digits */
    const char *parent;   /* a task id, or NULL for a root task */
    const char *root;     /* the root task's id (its own for a root) */
    int64_t depth;        /* 0 for a root */
    const char *subject;  /* the mandate's sub: the root agent's SPIFFE ID */
    const char *holder;   /* the mandate's client_id: the holding agent's SPIFFE ID */
    const char *agent_id; /* the holder's registry id */
    const char *audience;
    const char *intent;
    const char *scope;                        /* space-separated, sorted */
    const char *obo;                          /* the user (JSON object text), or NULL */
    const char *jkt;                          /* DPoP key thumbprint, or NULL */
    const char *state;                        /* "active" | "ended" | "revoked" */
    const char *reason;                       /* why it ended or was revoked, or NULL */
    int64_t created_at, expires_at, ended_at; /* unix seconds; ended_at 0 while active */
} md_store_task_t;

typedef struct md_store_task_filter {
    const char *holder; /* NULL: any */
    const char *root;   /* NULL: any */
    const char *state;  /* NULL: any */
    int64_t live_at;    /* > 0: only tasks with expires_at > live_at */
    int64_t limit;      /* 1..100000 */
} md_store_task_filter_t;

/* Insert a task.  MD_STORE_EEXISTS when its id is taken. */
int md_store_task_insert(md_store_t *st, const md_store_task_t *task, md_err_t *err) MD_WUR;
/* MD_ENOENT when absent. */
int md_store_task_get(md_store_t *st, const char *id, md_arena_t *a, md_store_task_t *out,
                      md_err_t *err) MD_WUR;
/* Newest first.  *rows in arena a (NULL when n == 0). */
int md_store_task_list(md_store_t *st, const md_store_task_filter_t *f, md_arena_t *a, md_store_task_t **rows,
                       size_t *n, md_err_t *err) MD_WUR;
/*
 * End or revoke (state "ended" | "revoked") a task and every descendant still
 * active, in one statement; *changed counts the rows changed (0: nothing was
 * active).  With by_holder, key is a holder's SPIFFE ID and every active task
 * it holds is finished with its descendants (quarantine).
 */
int md_store_task_finish(md_store_t *st, const char *key, bool by_holder, const char *state,
                         const char *reason, int64_t at, size_t *changed, md_err_t *err) MD_WUR;
/* Every task with expires_at > now, parents before children (to rebuild the in-memory table). */
int md_store_task_live(md_store_t *st, int64_t now, md_arena_t *a, md_store_task_t **rows, size_t *n,
                       md_err_t *err) MD_WUR;

#endif
