/*
 * sqlite.c: the SQLite store backend.
 *
 * Owns one sqlite3 connection and its prepared statements.  The database is
 * in WAL mode (readers never block the writer), with a busy timeout for
 * writers, synchronous=FULL (an acknowledged write survives power loss) and
 * secure_delete (replaced credential hashes do not linger in free pages).
 *
 * Invariants: the database file is created 0600 and refused when group or
 * others may access it; the schema is at migrations[last].version once
 * open returns; a database whose schema_version is newer than the code, or
 * that is some other application's database, is refused untouched.
 */
#include "store/store_int.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#include <sqlite3.h>

/* "MNDT": written to the database header so another application's file is recognised. */
#define MD_SQLITE_APP_ID 0x4d4e4454

/*
 * The migrations, in order.  Append only: never edit one that has shipped.
 * Each runs in its own transaction together with its schema_version row.
 */
static const struct migration {
    int version;
    const char *description;
    const char *sql;
} migrations[] = {
    {1, "settings and admin tables",
     "CREATE TABLE settings ("
     "  key TEXT PRIMARY KEY NOT NULL CHECK (length(key) BETWEEN 1 AND 128),"
     "  value BLOB NOT NULL,"
     "  updated_at INTEGER NOT NULL"
     ") STRICT;"
     "CREATE TABLE admin ("
     "  name TEXT PRIMARY KEY NOT NULL CHECK (length(name) BETWEEN 1 AND 63),"
     "  token_sha256 BLOB NOT NULL CHECK (length(token_sha256) = 32),"
     "  created_at INTEGER NOT NULL"
     ") STRICT;"},
    /* the daemon's signing keys: schedule in the clear, private key sealed under the KEK (src/keys/) */
    {2, "signing keys",
     "CREATE TABLE signing_keys ("
     "  kid TEXT PRIMARY KEY NOT NULL CHECK (length(kid) BETWEEN 1 AND 64),"
     "  alg TEXT NOT NULL CHECK (alg IN ('ES256', 'EdDSA')),"
     "  state TEXT NOT NULL CHECK (state IN ('next', 'active', 'retired')),"
     "  published INTEGER NOT NULL,"
     "  activated INTEGER NOT NULL,"
     "  retired INTEGER NOT NULL,"
     "  remove_at INTEGER NOT NULL,"
     "  sealed TEXT NOT NULL CHECK (length(sealed) > 0)"
     ") STRICT;"},
    /* agent registration entries: `entry` is the canonical entry JSON; the other columns repeat
     * what queries select on */
    {3, "agent registration entries",
     "CREATE TABLE agents ("
     "  id TEXT PRIMARY KEY NOT NULL CHECK (length(id) BETWEEN 1 AND 64),"
     "  spiffe_id TEXT NOT NULL UNIQUE CHECK (length(spiffe_id) BETWEEN 1 AND 2048),"
     "  owner TEXT NOT NULL CHECK (length(owner) > 0),"
     "  env TEXT NOT NULL CHECK (length(env) > 0),"
     "  state TEXT NOT NULL CHECK (state IN ('active', 'quarantined')),"
     "  entry TEXT NOT NULL CHECK (length(entry) > 1),"
     "  created_at INTEGER NOT NULL,"
     "  updated_at INTEGER NOT NULL"
     ") STRICT;"
     "CREATE INDEX agents_owner ON agents (owner);"},
    /* the signing keys' metadata authenticated (src/token/keyset.c): the set's generation and each key's
     * MAC over its metadata.  Rows from before this migration get generation 0 and no MAC, and the key
     * manager refuses them (src/keys/keys.c says why) */
    {4, "signing keys: generation and metadata MAC",
     "ALTER TABLE signing_keys ADD COLUMN generation INTEGER NOT NULL DEFAULT 0;"
     "ALTER TABLE signing_keys ADD COLUMN mac TEXT NOT NULL DEFAULT '';"},
    /* tasks and their mandates (src/task/, src/server/tasks.c): one row per task, delegated ones
     * pointing at their parent; state is active, ended or revoked (expired is a matter of time) */
    {5, "tasks",
     "CREATE TABLE tasks ("
     "  id TEXT PRIMARY KEY NOT NULL CHECK (length(id) = 32),"
     "  parent TEXT REFERENCES tasks (id) CHECK (parent IS NULL OR length(parent) = 32),"
     "  root TEXT NOT NULL CHECK (length(root) = 32),"
     "  depth INTEGER NOT NULL CHECK (depth BETWEEN 0 AND 255),"
     "  subject TEXT NOT NULL CHECK (length(subject) > 0),"
     "  holder TEXT NOT NULL CHECK (length(holder) > 0),"
     "  agent_id TEXT NOT NULL CHECK (length(agent_id) > 0),"
     "  audience TEXT NOT NULL CHECK (length(audience) > 0),"
     "  intent TEXT NOT NULL,"
     "  scope TEXT NOT NULL,"
     "  obo TEXT,"
     "  jkt TEXT,"
     "  state TEXT NOT NULL CHECK (state IN ('active', 'ended', 'revoked')),"
     "  reason TEXT,"
     "  created_at INTEGER NOT NULL,"
     "  expires_at INTEGER NOT NULL,"
     "  ended_at INTEGER NOT NULL DEFAULT 0"
     ") STRICT;"
     "CREATE INDEX tasks_parent ON tasks (parent);"
     "CREATE INDEX tasks_holder ON tasks (holder, state);"
     "CREATE INDEX tasks_expires ON tasks (expires_at);"},
    /* revoking a whole tree by its root is one indexed UPDATE; state is no longer in an index, so
     * finishing 10,000 tasks does not rewrite 10,000 index entries */
    {6, "tasks: index by root; holder index without state",
     "DROP INDEX tasks_holder;"
     "CREATE INDEX tasks_holder ON tasks (holder);"
     "CREATE INDEX tasks_root ON tasks (root);"},
};
#define NMIGRATIONS ((int)(sizeof(migrations) / sizeof(migrations[0])))
/* The last migration's version; md_store_sqlite_open() checks they agree. */
#define CODE_VERSION 6

typedef struct sqlite_store {
    sqlite3 *db;
    char *path; /* owned: for messages */
    sqlite3_stmt *setting_get, *setting_put, *setting_delete;
    sqlite3_stmt *admin_get, *admin_put;
    sqlite3_stmt *keys_list, *keys_clear, *keys_insert;
    sqlite3_stmt *agent_insert, *agent_update, *agent_get_id, *agent_get_spiffe, *agent_list, *agent_delete;
    sqlite3_stmt *task_insert, *task_get, *task_list, *task_finish, *task_finish_holder, *task_live;
    sqlite3_stmt *task_is_root, *task_finish_root;
} sqlite_store_t;

static int db_error(sqlite_store_t *s, int src, md_err_t *err, const char *what)
{
    int code = (src & 0xff) == SQLITE_BUSY || (src & 0xff) == SQLITE_LOCKED ? MD_STORE_EBUSY
               : (src & 0xff) == SQLITE_NOMEM                               ? MD_ENOMEM
                                                                            : MD_EIO;
    return md_err_set(err, code, "store: %s: %s", what, s->db ? sqlite3_errmsg(s->db) : sqlite3_errstr(src));
}

static int exec(sqlite_store_t *s, const char *sql, md_err_t *err)
{
    int r = sqlite3_exec(s->db, sql, NULL, NULL, NULL);
    return r == SQLITE_OK ? MD_OK : db_error(s, r, err, sql);
}

/* Run a one-row, one-column integer query. */
static int query_int(sqlite_store_t *s, const char *sql, int64_t *out, md_err_t *err)
{
    sqlite3_stmt *st = NULL;
    int r = sqlite3_prepare_v2(s->db, sql, -1, &st, NULL);
    if (r != SQLITE_OK) return db_error(s, r, err, sql);
    r = sqlite3_step(st);
    if (r == SQLITE_ROW) {
        *out = sqlite3_column_int64(st, 0);
        r = SQLITE_OK;
    } else if (r == SQLITE_DONE) {
        *out = 0;
        r = SQLITE_OK;
    }
    int rc = r == SQLITE_OK ? MD_OK : db_error(s, r, err, sql);
    sqlite3_finalize(st);
    return rc;
}

/* The recorded version; 0 for a database without schema_version. */
static int read_version(sqlite_store_t *s, int *version, md_err_t *err)
{
    int64_t n = 0;
    int rc = query_int(
        s, "SELECT count(*) FROM sqlite_master WHERE type = 'table' AND name = 'schema_version'", &n, err);
    if (rc != MD_OK) return rc;
    if (n == 0) {
        *version = 0;
        return MD_OK;
    }
    rc = query_int(s, "SELECT coalesce(max(version), 0) FROM schema_version", &n, err);
    if (rc != MD_OK) return rc;
    if (n < 0 || n > 1000000) return md_err_set(err, MD_EIO, "store: %s: corrupt schema_version", s->path);
    *version = (int)n;
    return MD_OK;
}

static int check_not_too_new(sqlite_store_t *s, int version, md_err_t *err)
{
    if (version <= CODE_VERSION) return MD_OK;
    return md_err_set(err, MD_STORE_ETOONEW,
                      "store: %s has schema version %d, newer than this mandated supports (%d): "
                      "run a mandated at least as new as the one that wrote it",
                      s->path, version, CODE_VERSION);
}

/* Refuse another application's database before writing anything to it. */
static int check_ours(sqlite_store_t *s, md_err_t *err)
{
    int64_t app = 0, tables = 0, ours = 0;
    int rc = query_int(s, "PRAGMA application_id", &app, err);
    if (rc != MD_OK) return rc;
    if (app == MD_SQLITE_APP_ID) return MD_OK;
    if (app != 0)
        return md_err_set(err, MD_EINVAL, "store: %s belongs to another application (application_id %#llx)",
                          s->path, (unsigned long long)app);
    rc = query_int(s, "SELECT count(*) FROM sqlite_master WHERE type = 'table'", &tables, err);
    if (rc == MD_OK)
        rc = query_int(s,
                       "SELECT count(*) FROM sqlite_master WHERE type = 'table' AND name = 'schema_version'",
                       &ours, err);
    if (rc != MD_OK) return rc;
    if (tables > 0 && ours == 0)
        return md_err_set(err, MD_EINVAL, "store: %s is not a mandate database (it has other tables)",
                          s->path);
    return MD_OK;
}

static int migrate(sqlite_store_t *s, md_err_t *err)
{
    int version = 0, rc;

    rc = read_version(s, &version, err);
    if (rc != MD_OK) return rc;
    rc = check_not_too_new(s, version, err);
    if (rc != MD_OK) return rc;
    for (int i = 0; i < NMIGRATIONS; i++) {
        const struct migration *m = &migrations[i];
        sqlite3_stmt *ins = NULL;
        if (m->version <= version) continue;

        rc = exec(s, "BEGIN IMMEDIATE", err);
        if (rc != MD_OK) return rc;
        /* another process may have migrated while we waited for the lock */
        rc = read_version(s, &version, err);
        if (rc == MD_OK) rc = check_not_too_new(s, version, err);
        if (rc != MD_OK) goto fail;
        if (m->version <= version) {
            rc = exec(s, "COMMIT", err);
            if (rc != MD_OK) goto fail;
            continue;
        }
        if (version == 0) {
            rc = exec(s,
                      "CREATE TABLE schema_version ("
                      "  version INTEGER PRIMARY KEY NOT NULL,"
                      "  description TEXT NOT NULL,"
                      "  applied_at INTEGER NOT NULL"
                      ") STRICT;",
                      err);
            if (rc != MD_OK) goto fail;
            char pragma[64];
            snprintf(pragma, sizeof(pragma), "PRAGMA application_id = %d", MD_SQLITE_APP_ID);
            rc = exec(s, pragma, err);
            if (rc != MD_OK) goto fail;
        }
        rc = exec(s, m->sql, err);
        if (rc != MD_OK) goto fail;
        int r = sqlite3_prepare_v2(s->db,
                                   "INSERT INTO schema_version (version, description, applied_at) "
                                   "VALUES (?1, ?2, CAST(strftime('%s', 'now') AS INTEGER))",
                                   -1, &ins, NULL);
        if (r == SQLITE_OK) r = sqlite3_bind_int(ins, 1, m->version);
        if (r == SQLITE_OK) r = sqlite3_bind_text(ins, 2, m->description, -1, SQLITE_STATIC);
        if (r == SQLITE_OK) r = sqlite3_step(ins) == SQLITE_DONE ? SQLITE_OK : sqlite3_errcode(s->db);
        sqlite3_finalize(ins);
        if (r != SQLITE_OK) {
            rc = db_error(s, r, err, "recording the schema version");
            goto fail;
        }
        rc = exec(s, "COMMIT", err);
        if (rc != MD_OK) goto fail;
        version = m->version;
        continue;
    fail:
        sqlite3_exec(s->db, "ROLLBACK", NULL, NULL, NULL);
        return rc;
    }
    return MD_OK;
}

static int prepare(sqlite_store_t *s, sqlite3_stmt **st, const char *sql, md_err_t *err)
{
    int r = sqlite3_prepare_v3(s->db, sql, -1, SQLITE_PREPARE_PERSISTENT, st, NULL);
    return r == SQLITE_OK ? MD_OK : db_error(s, r, err, sql);
}

static void sqlite_close(void *h)
{
    sqlite_store_t *s = h;
    if (s == NULL) return;
    sqlite3_finalize(s->setting_get);
    sqlite3_finalize(s->setting_put);
    sqlite3_finalize(s->setting_delete);
    sqlite3_finalize(s->admin_get);
    sqlite3_finalize(s->admin_put);
    sqlite3_finalize(s->keys_list);
    sqlite3_finalize(s->keys_clear);
    sqlite3_finalize(s->keys_insert);
    sqlite3_finalize(s->agent_insert);
    sqlite3_finalize(s->agent_update);
    sqlite3_finalize(s->agent_get_id);
    sqlite3_finalize(s->agent_get_spiffe);
    sqlite3_finalize(s->agent_list);
    sqlite3_finalize(s->agent_delete);
    sqlite3_finalize(s->task_insert);
    sqlite3_finalize(s->task_get);
    sqlite3_finalize(s->task_list);
    sqlite3_finalize(s->task_finish);
    sqlite3_finalize(s->task_finish_holder);
    sqlite3_finalize(s->task_live);
    sqlite3_finalize(s->task_is_root);
    sqlite3_finalize(s->task_finish_root);
    if (s->db) sqlite3_close_v2(s->db);
    free(s->path);
    free(s);
}

/* Create the file 0600 (or check the existing one is private) before SQLite opens it. */
/*
 * Every directory above the store must be safe from other users: owned by
 * root or by us, and not writable by group or others unless sticky (then
 * others cannot rename or replace our entries).  Otherwise someone could
 * swap the database file between our checks and SQLite's own open by path.
 */
static int check_dirs(const char *path, md_err_t *err)
{
    char dir[4096];
    struct stat st;
    uid_t me = geteuid();
    if (strlen(path) >= sizeof(dir)) return md_err_set(err, MD_EINVAL, "store: path is too long");
    if (path[0] != '/') {
        if (getcwd(dir, sizeof(dir)) == NULL)
            return md_err_set(err, MD_EIO, "store: getcwd: %s", strerror(errno));
        if (strlen(dir) + 1 + strlen(path) >= sizeof(dir))
            return md_err_set(err, MD_EINVAL, "store: path is too long");
        strcat(dir, "/");
        strcat(dir, path);
    } else {
        strcpy(dir, path);
    }
    char *slash = strrchr(dir, '/');
    if (slash == NULL) return MD_OK;
    *slash = '\0';
    for (;;) {
        const char *d = dir[0] ? dir : "/";
        if (stat(d, &st) != 0) return md_err_set(err, MD_EIO, "store: %s: %s", d, strerror(errno));
        if (!S_ISDIR(st.st_mode)) return md_err_set(err, MD_EINVAL, "store: %s: not a directory", d);
        if (st.st_uid != 0 && st.st_uid != me)
            return md_err_set(err, MD_EINVAL,
                              "store: %s: owned by uid %u, not by us or root: refusing the store below it", d,
                              (unsigned)st.st_uid);
        if ((st.st_mode & (S_IWGRP | S_IWOTH)) && !(st.st_mode & S_ISVTX))
            return md_err_set(
                err, MD_EINVAL,
                "store: %s: writable by group or others: refusing the store below it (chmod go-w %s)", d, d);
        if (dir[0] == '\0') break;
        slash = strrchr(dir, '/');
        if (slash == NULL) break;
        *slash = '\0';
    }
    return MD_OK;
}

static int precreate(const char *path, md_err_t *err)
{
    struct stat st;
    int rc = check_dirs(path, err);
    if (rc != MD_OK) return rc;
    int fd = open(path, O_RDWR | O_CREAT | O_NOFOLLOW | O_CLOEXEC | O_NOCTTY, 0600);
    if (fd < 0) return md_err_set(err, MD_EIO, "store: %s: %s", path, strerror(errno));
    if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode))
        rc = md_err_set(err, MD_EIO, "store: %s: not a regular file", path);
    else if (st.st_uid != geteuid())
        rc = md_err_set(err, MD_EINVAL, "store: %s: owned by uid %u, not by us (uid %u): refusing to use it",
                        path, (unsigned)st.st_uid, (unsigned)geteuid());
    else if (st.st_mode & (S_IRWXG | S_IRWXO))
        rc = md_err_set(
            err, MD_EINVAL,
            "store: %s: mode %04o is too open: group and others must have no access (chmod 600 %s)", path,
            (unsigned)(st.st_mode & 07777), path);
    close(fd);
    return rc;
}

int md_store_sqlite_open(const md_store_opts_t *opts, void **h, md_err_t *err)
{
    sqlite_store_t *s = NULL;
    int rc, r;
    char pragma[64];

    *h = NULL;
    rc = precreate(opts->path, err);
    if (rc != MD_OK) return rc;
    if (migrations[NMIGRATIONS - 1].version != CODE_VERSION)
        return md_err_set(err, MD_EINVAL, "store: internal error: CODE_VERSION is not the last migration");
    s = calloc(1, sizeof(*s));
    if (s == NULL || (s->path = strdup(opts->path)) == NULL) {
        free(s);
        return md_err_set(err, MD_ENOMEM, "store: out of memory");
    }
    r = sqlite3_open_v2(
        opts->path, &s->db,
        SQLITE_OPEN_READWRITE | SQLITE_OPEN_NOMUTEX | SQLITE_OPEN_NOFOLLOW | SQLITE_OPEN_EXRESCODE, NULL);
    if (r != SQLITE_OK) {
        rc = db_error(s, r, err, opts->path);
        goto out;
    }
    sqlite3_busy_timeout(s->db, opts->busy_timeout_ms > 0 ? opts->busy_timeout_ms : 5000);
    /* refuse foreign files before anything writes to them */
    rc = check_ours(s, err);
    if (rc != MD_OK) goto out;
    {
        sqlite3_stmt *st = NULL;
        r = sqlite3_prepare_v2(s->db, "PRAGMA journal_mode = WAL", -1, &st, NULL);
        if (r == SQLITE_OK) r = sqlite3_step(st);
        bool wal = r == SQLITE_ROW && sqlite3_column_text(st, 0) != NULL &&
                   strcmp((const char *)sqlite3_column_text(st, 0), "wal") == 0;
        sqlite3_finalize(st);
        if (!wal) {
            rc = r == SQLITE_ROW ? md_err_set(err, MD_EIO, "store: %s: cannot switch to WAL mode", opts->path)
                                 : db_error(s, r, err, "PRAGMA journal_mode = WAL");
            goto out;
        }
    }
    rc = exec(s, "PRAGMA synchronous = FULL", err);
    if (rc == MD_OK) rc = exec(s, "PRAGMA foreign_keys = ON", err);
    if (rc == MD_OK) rc = exec(s, "PRAGMA secure_delete = ON", err);
    if (rc == MD_OK) rc = exec(s, "PRAGMA trusted_schema = OFF", err);
    if (rc != MD_OK) goto out;
    snprintf(pragma, sizeof(pragma), "PRAGMA busy_timeout = %d",
             opts->busy_timeout_ms > 0 ? opts->busy_timeout_ms : 5000);
    rc = exec(s, pragma, err);
    if (rc != MD_OK) goto out;
    rc = migrate(s, err);
    if (rc != MD_OK) goto out;

    rc = prepare(s, &s->setting_get, "SELECT value FROM settings WHERE key = ?1", err);
    if (rc == MD_OK)
        rc = prepare(
            s, &s->setting_put,
            "INSERT INTO settings (key, value, updated_at) VALUES (?1, ?2, ?3) "
            "ON CONFLICT (key) DO UPDATE SET value = excluded.value, updated_at = excluded.updated_at",
            err);
    if (rc == MD_OK) rc = prepare(s, &s->setting_delete, "DELETE FROM settings WHERE key = ?1", err);
    if (rc == MD_OK)
        rc = prepare(s, &s->admin_get, "SELECT token_sha256, created_at FROM admin WHERE name = ?1", err);
    if (rc == MD_OK)
        rc = prepare(s, &s->admin_put,
                     "INSERT INTO admin (name, token_sha256, created_at) VALUES (?1, ?2, ?3) "
                     "ON CONFLICT (name) DO UPDATE SET token_sha256 = excluded.token_sha256, "
                     "created_at = excluded.created_at",
                     err);
    if (rc == MD_OK)
        rc = prepare(
            s, &s->keys_list,
            "SELECT kid, alg, state, published, activated, retired, remove_at, sealed, generation, mac "
            "FROM signing_keys ORDER BY published, rowid",
            err);
    if (rc == MD_OK) rc = prepare(s, &s->keys_clear, "DELETE FROM signing_keys", err);
    if (rc == MD_OK)
        rc = prepare(
            s, &s->keys_insert,
            "INSERT INTO signing_keys (kid, alg, state, published, activated, retired, remove_at, sealed, "
            "generation, mac) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)",
            err);
    if (rc == MD_OK)
        rc = prepare(s, &s->agent_insert,
                     "INSERT INTO agents (id, spiffe_id, owner, env, state, entry, created_at, updated_at) "
                     "VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
                     err);
    if (rc == MD_OK)
        rc = prepare(s, &s->agent_update,
                     "UPDATE agents SET owner = ?3, env = ?4, state = ?5, entry = ?6, updated_at = ?8 "
                     "WHERE id = ?1 AND spiffe_id = ?2",
                     err);
    if (rc == MD_OK)
        rc = prepare(s, &s->agent_get_id,
                     "SELECT id, spiffe_id, owner, env, state, entry, created_at, updated_at FROM agents "
                     "WHERE id = ?1",
                     err);
    if (rc == MD_OK)
        rc = prepare(s, &s->agent_get_spiffe,
                     "SELECT id, spiffe_id, owner, env, state, entry, created_at, updated_at FROM agents "
                     "WHERE spiffe_id = ?1",
                     err);
    if (rc == MD_OK)
        rc = prepare(s, &s->agent_list,
                     "SELECT id, spiffe_id, owner, env, state, entry, created_at, updated_at FROM agents "
                     "ORDER BY spiffe_id",
                     err);
    if (rc == MD_OK) rc = prepare(s, &s->agent_delete, "DELETE FROM agents WHERE id = ?1", err);
#define TASK_COLUMNS                                                                                         \
    "id, parent, root, depth, subject, holder, agent_id, audience, intent, scope, obo, jkt, state, reason, " \
    "created_at, expires_at, ended_at"
    if (rc == MD_OK)
        rc = prepare(s, &s->task_insert,
                     "INSERT INTO tasks (" TASK_COLUMNS
                     ") VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, "
                     "?12, ?13, ?14, ?15, ?16, ?17)",
                     err);
    if (rc == MD_OK) rc = prepare(s, &s->task_get, "SELECT " TASK_COLUMNS " FROM tasks WHERE id = ?1", err);
    if (rc == MD_OK)
        rc = prepare(
            s, &s->task_list,
            "SELECT " TASK_COLUMNS " FROM tasks WHERE (?1 IS NULL OR holder = ?1) AND "
            "(?2 IS NULL OR root = ?2) AND (?3 IS NULL OR state = ?3) AND (?4 = 0 OR expires_at > ?4) "
            "ORDER BY created_at DESC, id LIMIT ?5",
            err);
    /* a task and every descendant still active, in one statement: the store cascades as memory does */
    if (rc == MD_OK)
        rc = prepare(s, &s->task_finish,
                     "WITH RECURSIVE sub(id) AS (SELECT ?1 UNION ALL SELECT t.id FROM tasks t JOIN sub ON "
                     "t.parent = sub.id) UPDATE tasks SET state = ?2, reason = ?3, ended_at = ?4 "
                     "WHERE state = 'active' AND expires_at > ?4 AND id IN (SELECT id FROM sub)",
                     err);
    if (rc == MD_OK)
        rc = prepare(s, &s->task_is_root, "SELECT 1 FROM tasks WHERE id = ?1 AND parent IS NULL", err);
    /* a root task: its whole tree shares its root column */
    if (rc == MD_OK)
        rc = prepare(s, &s->task_finish_root,
                     "UPDATE tasks SET state = ?2, reason = ?3, ended_at = ?4 WHERE root = ?1 AND state = "
                     "'active' AND expires_at > ?4",
                     err);
    if (rc == MD_OK)
        rc = prepare(s, &s->task_finish_holder,
                     "WITH RECURSIVE sub(id) AS (SELECT id FROM tasks WHERE holder = ?1 AND state = 'active' "
                     "UNION ALL SELECT t.id FROM tasks t JOIN sub ON t.parent = sub.id) UPDATE tasks SET "
                     "state = ?2, reason = ?3, ended_at = ?4 WHERE state = 'active' AND expires_at > ?4 AND "
                     "id IN (SELECT id FROM sub)",
                     err);
    if (rc == MD_OK)
        rc = prepare(
            s, &s->task_live,
            "SELECT " TASK_COLUMNS " FROM tasks WHERE expires_at > ?1 ORDER BY depth, created_at, id", err);
    if (rc != MD_OK) goto out;
    *h = s;
    s = NULL;
out:
    sqlite_close(s);
    return rc;
}

/* Finish a statement that returns no row. */
static int step_done(sqlite_store_t *s, sqlite3_stmt *st, md_err_t *err, const char *what)
{
    int r = sqlite3_step(st);
    int rc = r == SQLITE_DONE ? MD_OK : db_error(s, r, err, what);
    sqlite3_reset(st);
    sqlite3_clear_bindings(st);
    return rc;
}

static int sqlite_schema_version(void *h, int *version, md_err_t *err)
{
    return read_version(h, version, err);
}

static int sqlite_begin(void *h, md_err_t *err)
{
    return exec(h, "BEGIN IMMEDIATE", err);
}

static int sqlite_commit(void *h, md_err_t *err)
{
    return exec(h, "COMMIT", err);
}

static void sqlite_rollback(void *h)
{
    sqlite_store_t *s = h;
    if (!sqlite3_get_autocommit(s->db)) sqlite3_exec(s->db, "ROLLBACK", NULL, NULL, NULL);
}

static int sqlite_setting_get(void *h, const char *key, md_buf_t *value, md_err_t *err)
{
    sqlite_store_t *s = h;
    sqlite3_stmt *st = s->setting_get;
    int rc;
    int r = sqlite3_bind_text(st, 1, key, -1, SQLITE_STATIC);
    if (r != SQLITE_OK) return db_error(s, r, err, "settings get");
    r = sqlite3_step(st);
    if (r == SQLITE_ROW) {
        const void *p = sqlite3_column_blob(st, 0);
        int n = sqlite3_column_bytes(st, 0);
        if (n > 0 && p == NULL) {
            rc = md_err_set(err, MD_ENOMEM, "store: out of memory");
        } else {
            md_buf_add(value, p ? p : "", (size_t)n);
            rc = value->oom ? md_err_set(err, MD_ENOMEM, "store: out of memory") : MD_OK;
        }
    } else if (r == SQLITE_DONE) {
        rc = md_err_set(err, MD_ENOENT, "store: no setting `%s`", key);
    } else {
        rc = db_error(s, r, err, "settings get");
    }
    sqlite3_reset(st);
    sqlite3_clear_bindings(st);
    return rc;
}

static int sqlite_setting_put(void *h, const char *key, md_str_t value, int64_t now, md_err_t *err)
{
    sqlite_store_t *s = h;
    sqlite3_stmt *st = s->setting_put;
    int r = sqlite3_bind_text(st, 1, key, -1, SQLITE_STATIC);
    if (r == SQLITE_OK) r = sqlite3_bind_blob(st, 2, value.n ? value.p : "", (int)value.n, SQLITE_STATIC);
    if (r == SQLITE_OK) r = sqlite3_bind_int64(st, 3, now);
    if (r != SQLITE_OK) {
        sqlite3_clear_bindings(st);
        return db_error(s, r, err, "settings put");
    }
    return step_done(s, st, err, "settings put");
}

static int sqlite_setting_delete(void *h, const char *key, md_err_t *err)
{
    sqlite_store_t *s = h;
    sqlite3_stmt *st = s->setting_delete;
    int r = sqlite3_bind_text(st, 1, key, -1, SQLITE_STATIC);
    if (r != SQLITE_OK) return db_error(s, r, err, "settings delete");
    int rc = step_done(s, st, err, "settings delete");
    if (rc == MD_OK && sqlite3_changes(s->db) == 0)
        rc = md_err_set(err, MD_ENOENT, "store: no setting `%s`", key);
    return rc;
}

static int sqlite_admin_get(void *h, const char *name, md_store_admin_t *out, md_err_t *err)
{
    sqlite_store_t *s = h;
    sqlite3_stmt *st = s->admin_get;
    int rc;
    int r = sqlite3_bind_text(st, 1, name, -1, SQLITE_STATIC);
    if (r != SQLITE_OK) return db_error(s, r, err, "admin get");
    r = sqlite3_step(st);
    if (r == SQLITE_ROW) {
        const void *p = sqlite3_column_blob(st, 0);
        if (p == NULL || sqlite3_column_bytes(st, 0) != (int)sizeof(out->token_sha256)) {
            rc = md_err_set(err, MD_EIO, "store: admin `%s`: malformed token hash", name);
        } else {
            snprintf(out->name, sizeof(out->name), "%s", name);
            memcpy(out->token_sha256, p, sizeof(out->token_sha256));
            out->created_at = sqlite3_column_int64(st, 1);
            rc = MD_OK;
        }
    } else if (r == SQLITE_DONE) {
        rc = md_err_set(err, MD_ENOENT, "store: no admin `%s`", name);
    } else {
        rc = db_error(s, r, err, "admin get");
    }
    sqlite3_reset(st);
    sqlite3_clear_bindings(st);
    return rc;
}

static int sqlite_admin_put(void *h, const md_store_admin_t *a, md_err_t *err)
{
    sqlite_store_t *s = h;
    sqlite3_stmt *st = s->admin_put;
    int r = sqlite3_bind_text(st, 1, a->name, -1, SQLITE_STATIC);
    if (r == SQLITE_OK) r = sqlite3_bind_blob(st, 2, a->token_sha256, sizeof(a->token_sha256), SQLITE_STATIC);
    if (r == SQLITE_OK) r = sqlite3_bind_int64(st, 3, a->created_at);
    if (r != SQLITE_OK) {
        sqlite3_clear_bindings(st);
        return db_error(s, r, err, "admin put");
    }
    return step_done(s, st, err, "admin put");
}

/* A text column copied into the arena (NULL column: ""); NULL on OOM. */
static const char *column_str(sqlite3_stmt *st, int col, md_arena_t *a)
{
    const unsigned char *p = sqlite3_column_text(st, col);
    int n = sqlite3_column_bytes(st, col);
    if (p == NULL) return n == 0 ? md_arena_memdup(a, "", 0) : NULL;
    return md_arena_memdup(a, p, (size_t)n);
}

/*
 * Run a SELECT and collect its rows: row_fn fills one row of `size` bytes from
 * the statement (returns -1 on OOM).  The rows end up in one arena array.
 */
static int collect(sqlite_store_t *s, sqlite3_stmt *st, size_t size,
                   int (*row_fn)(sqlite3_stmt *, md_arena_t *, void *), md_arena_t *a, void **rows, size_t *n,
                   const char *what, md_err_t *err)
{
    char *heap = NULL, *grown;
    size_t count = 0, cap = 0;
    int rc = MD_OK, r;

    while ((r = sqlite3_step(st)) == SQLITE_ROW) {
        if (count == cap) {
            cap = cap ? cap * 2 : 8;
            grown = realloc(heap, cap * size);
            if (grown == NULL) {
                rc = md_err_set(err, MD_ENOMEM, "store: out of memory");
                goto out;
            }
            heap = grown;
        }
        memset(heap + count * size, 0, size);
        if (row_fn(st, a, heap + count * size) != 0) {
            rc = md_err_set(err, MD_ENOMEM, "store: out of memory");
            goto out;
        }
        count++;
    }
    if (r != SQLITE_DONE) {
        rc = db_error(s, r, err, what);
        goto out;
    }
    if (count > 0) {
        void *copy = md_arena_alloc(a, count * size);
        if (copy == NULL) {
            rc = md_err_set(err, MD_ENOMEM, "store: out of memory");
            goto out;
        }
        memcpy(copy, heap, count * size);
        *rows = copy;
    }
    *n = count;
out:
    free(heap);
    sqlite3_reset(st);
    sqlite3_clear_bindings(st);
    return rc;
}

static int key_row(sqlite3_stmt *st, md_arena_t *a, void *out)
{
    md_store_signing_key_t *k = out;
    k->kid = column_str(st, 0, a);
    k->alg = column_str(st, 1, a);
    k->state = column_str(st, 2, a);
    k->published = sqlite3_column_int64(st, 3);
    k->activated = sqlite3_column_int64(st, 4);
    k->retired = sqlite3_column_int64(st, 5);
    k->remove_at = sqlite3_column_int64(st, 6);
    k->sealed = column_str(st, 7, a);
    k->generation = sqlite3_column_int64(st, 8);
    k->mac = column_str(st, 9, a);
    return k->kid && k->alg && k->state && k->sealed && k->mac ? 0 : -1;
}

static int sqlite_signing_keys_list(void *h, md_arena_t *a, md_store_signing_key_t **rows, size_t *n,
                                    md_err_t *err)
{
    sqlite_store_t *s = h;
    return collect(s, s->keys_list, sizeof(**rows), key_row, a, (void **)rows, n, "signing keys list", err);
}

static int sqlite_signing_keys_replace(void *h, const md_store_signing_key_t *rows, size_t n, md_err_t *err)
{
    sqlite_store_t *s = h;
    int rc = step_done(s, s->keys_clear, err, "signing keys clear");
    for (size_t i = 0; rc == MD_OK && i < n; i++) {
        sqlite3_stmt *st = s->keys_insert;
        const md_store_signing_key_t *k = &rows[i];
        int r = sqlite3_bind_text(st, 1, k->kid, -1, SQLITE_STATIC);
        if (r == SQLITE_OK) r = sqlite3_bind_text(st, 2, k->alg, -1, SQLITE_STATIC);
        if (r == SQLITE_OK) r = sqlite3_bind_text(st, 3, k->state, -1, SQLITE_STATIC);
        if (r == SQLITE_OK) r = sqlite3_bind_int64(st, 4, k->published);
        if (r == SQLITE_OK) r = sqlite3_bind_int64(st, 5, k->activated);
        if (r == SQLITE_OK) r = sqlite3_bind_int64(st, 6, k->retired);
        if (r == SQLITE_OK) r = sqlite3_bind_int64(st, 7, k->remove_at);
        if (r == SQLITE_OK) r = sqlite3_bind_text(st, 8, k->sealed, -1, SQLITE_STATIC);
        if (r == SQLITE_OK) r = sqlite3_bind_int64(st, 9, k->generation);
        if (r == SQLITE_OK) r = sqlite3_bind_text(st, 10, k->mac ? k->mac : "", -1, SQLITE_STATIC);
        if (r != SQLITE_OK) {
            sqlite3_clear_bindings(st);
            return db_error(s, r, err, "signing keys insert");
        }
        rc = step_done(s, st, err, "signing keys insert");
    }
    return rc;
}

static int bind_agent(sqlite3_stmt *st, const md_store_agent_t *a)
{
    int r = sqlite3_bind_text(st, 1, a->id, -1, SQLITE_STATIC);
    if (r == SQLITE_OK) r = sqlite3_bind_text(st, 2, a->spiffe_id, -1, SQLITE_STATIC);
    if (r == SQLITE_OK) r = sqlite3_bind_text(st, 3, a->owner, -1, SQLITE_STATIC);
    if (r == SQLITE_OK) r = sqlite3_bind_text(st, 4, a->env, -1, SQLITE_STATIC);
    if (r == SQLITE_OK) r = sqlite3_bind_text(st, 5, a->state, -1, SQLITE_STATIC);
    if (r == SQLITE_OK) r = sqlite3_bind_text(st, 6, a->entry, -1, SQLITE_STATIC);
    if (r == SQLITE_OK) r = sqlite3_bind_int64(st, 7, a->created_at);
    if (r == SQLITE_OK) r = sqlite3_bind_int64(st, 8, a->updated_at);
    return r;
}

static int sqlite_agent_insert(void *h, const md_store_agent_t *a, md_err_t *err)
{
    sqlite_store_t *s = h;
    sqlite3_stmt *st = s->agent_insert;
    int r = bind_agent(st, a);
    if (r != SQLITE_OK) {
        sqlite3_clear_bindings(st);
        return db_error(s, r, err, "agent insert");
    }
    r = sqlite3_step(st);
    int rc = MD_OK;
    if (r == SQLITE_CONSTRAINT_PRIMARYKEY || r == SQLITE_CONSTRAINT_UNIQUE)
        rc = md_err_set(err, MD_STORE_EEXISTS, "store: an agent with that id or SPIFFE ID exists");
    else if (r != SQLITE_DONE)
        rc = db_error(s, r, err, "agent insert");
    sqlite3_reset(st);
    sqlite3_clear_bindings(st);
    return rc;
}

static int sqlite_agent_update(void *h, const md_store_agent_t *a, md_err_t *err)
{
    sqlite_store_t *s = h;
    sqlite3_stmt *st = s->agent_update;
    int r = bind_agent(st, a);
    if (r != SQLITE_OK) {
        sqlite3_clear_bindings(st);
        return db_error(s, r, err, "agent update");
    }
    int rc = step_done(s, st, err, "agent update");
    if (rc == MD_OK && sqlite3_changes(s->db) == 0)
        rc = md_err_set(err, MD_ENOENT, "store: no agent `%s` with that SPIFFE ID", a->id);
    return rc;
}

static int agent_row(sqlite3_stmt *st, md_arena_t *a, void *out)
{
    md_store_agent_t *g = out;
    g->id = column_str(st, 0, a);
    g->spiffe_id = column_str(st, 1, a);
    g->owner = column_str(st, 2, a);
    g->env = column_str(st, 3, a);
    g->state = column_str(st, 4, a);
    g->entry = column_str(st, 5, a);
    g->created_at = sqlite3_column_int64(st, 6);
    g->updated_at = sqlite3_column_int64(st, 7);
    return g->id && g->spiffe_id && g->owner && g->env && g->state && g->entry ? 0 : -1;
}

static int sqlite_agent_get(void *h, const char *key, bool by_spiffe_id, md_arena_t *a, md_store_agent_t *out,
                            md_err_t *err)
{
    sqlite_store_t *s = h;
    sqlite3_stmt *st = by_spiffe_id ? s->agent_get_spiffe : s->agent_get_id;
    md_store_agent_t *rows = NULL;
    size_t n = 0;
    int r = sqlite3_bind_text(st, 1, key, -1, SQLITE_STATIC);
    if (r != SQLITE_OK) return db_error(s, r, err, "agent get");
    int rc = collect(s, st, sizeof(*rows), agent_row, a, (void **)&rows, &n, "agent get", err);
    if (rc != MD_OK) return rc;
    if (n == 0) return md_err_set(err, MD_ENOENT, "store: no such agent");
    *out = rows[0];
    return MD_OK;
}

static int sqlite_agent_list(void *h, md_arena_t *a, md_store_agent_t **rows, size_t *n, md_err_t *err)
{
    sqlite_store_t *s = h;
    return collect(s, s->agent_list, sizeof(**rows), agent_row, a, (void **)rows, n, "agent list", err);
}

static int sqlite_agent_delete(void *h, const char *id, md_err_t *err)
{
    sqlite_store_t *s = h;
    sqlite3_stmt *st = s->agent_delete;
    int r = sqlite3_bind_text(st, 1, id, -1, SQLITE_STATIC);
    if (r != SQLITE_OK) return db_error(s, r, err, "agent delete");
    int rc = step_done(s, st, err, "agent delete");
    if (rc == MD_OK && sqlite3_changes(s->db) == 0)
        rc = md_err_set(err, MD_ENOENT, "store: no agent `%s`", id);
    return rc;
}

static int bind_opt_text(sqlite3_stmt *st, int i, const char *v)
{
    return v ? sqlite3_bind_text(st, i, v, -1, SQLITE_STATIC) : sqlite3_bind_null(st, i);
}

static int sqlite_task_insert(void *h, const md_store_task_t *t, md_err_t *err)
{
    sqlite_store_t *s = h;
    sqlite3_stmt *st = s->task_insert;
    int r = sqlite3_bind_text(st, 1, t->id, -1, SQLITE_STATIC);
    if (r == SQLITE_OK) r = bind_opt_text(st, 2, t->parent);
    if (r == SQLITE_OK) r = sqlite3_bind_text(st, 3, t->root, -1, SQLITE_STATIC);
    if (r == SQLITE_OK) r = sqlite3_bind_int64(st, 4, t->depth);
    if (r == SQLITE_OK) r = sqlite3_bind_text(st, 5, t->subject, -1, SQLITE_STATIC);
    if (r == SQLITE_OK) r = sqlite3_bind_text(st, 6, t->holder, -1, SQLITE_STATIC);
    if (r == SQLITE_OK) r = sqlite3_bind_text(st, 7, t->agent_id, -1, SQLITE_STATIC);
    if (r == SQLITE_OK) r = sqlite3_bind_text(st, 8, t->audience, -1, SQLITE_STATIC);
    if (r == SQLITE_OK) r = sqlite3_bind_text(st, 9, t->intent, -1, SQLITE_STATIC);
    if (r == SQLITE_OK) r = sqlite3_bind_text(st, 10, t->scope, -1, SQLITE_STATIC);
    if (r == SQLITE_OK) r = bind_opt_text(st, 11, t->obo);
    if (r == SQLITE_OK) r = bind_opt_text(st, 12, t->jkt);
    if (r == SQLITE_OK) r = sqlite3_bind_text(st, 13, t->state, -1, SQLITE_STATIC);
    if (r == SQLITE_OK) r = bind_opt_text(st, 14, t->reason);
    if (r == SQLITE_OK) r = sqlite3_bind_int64(st, 15, t->created_at);
    if (r == SQLITE_OK) r = sqlite3_bind_int64(st, 16, t->expires_at);
    if (r == SQLITE_OK) r = sqlite3_bind_int64(st, 17, t->ended_at);
    if (r != SQLITE_OK) {
        sqlite3_clear_bindings(st);
        return db_error(s, r, err, "task insert");
    }
    r = sqlite3_step(st);
    int rc = MD_OK;
    if (r == SQLITE_CONSTRAINT_PRIMARYKEY)
        rc = md_err_set(err, MD_STORE_EEXISTS, "store: a task with that id exists");
    else if (r != SQLITE_DONE)
        rc = db_error(s, r, err, "task insert");
    sqlite3_reset(st);
    sqlite3_clear_bindings(st);
    return rc;
}

static int task_row(sqlite3_stmt *st, md_arena_t *a, void *out)
{
    md_store_task_t *t = out;
    t->id = column_str(st, 0, a);
    t->parent = sqlite3_column_type(st, 1) == SQLITE_NULL ? NULL : column_str(st, 1, a);
    t->root = column_str(st, 2, a);
    t->depth = sqlite3_column_int64(st, 3);
    t->subject = column_str(st, 4, a);
    t->holder = column_str(st, 5, a);
    t->agent_id = column_str(st, 6, a);
    t->audience = column_str(st, 7, a);
    t->intent = column_str(st, 8, a);
    t->scope = column_str(st, 9, a);
    t->obo = sqlite3_column_type(st, 10) == SQLITE_NULL ? NULL : column_str(st, 10, a);
    t->jkt = sqlite3_column_type(st, 11) == SQLITE_NULL ? NULL : column_str(st, 11, a);
    t->state = column_str(st, 12, a);
    t->reason = sqlite3_column_type(st, 13) == SQLITE_NULL ? NULL : column_str(st, 13, a);
    t->created_at = sqlite3_column_int64(st, 14);
    t->expires_at = sqlite3_column_int64(st, 15);
    t->ended_at = sqlite3_column_int64(st, 16);
    return t->id && t->root && t->subject && t->holder && t->agent_id && t->audience && t->intent &&
                   t->scope && t->state
               ? 0
               : -1;
}

static int sqlite_task_get(void *h, const char *id, md_arena_t *a, md_store_task_t *out, md_err_t *err)
{
    sqlite_store_t *s = h;
    md_store_task_t *rows = NULL;
    size_t n = 0;
    int r = sqlite3_bind_text(s->task_get, 1, id, -1, SQLITE_STATIC);
    if (r != SQLITE_OK) return db_error(s, r, err, "task get");
    int rc = collect(s, s->task_get, sizeof(*rows), task_row, a, (void **)&rows, &n, "task get", err);
    if (rc != MD_OK) return rc;
    if (n == 0) return md_err_set(err, MD_ENOENT, "store: no such task");
    *out = rows[0];
    return MD_OK;
}

static int sqlite_task_list(void *h, const md_store_task_filter_t *f, md_arena_t *a, md_store_task_t **rows,
                            size_t *n, md_err_t *err)
{
    sqlite_store_t *s = h;
    sqlite3_stmt *st = s->task_list;
    int r = bind_opt_text(st, 1, f->holder);
    if (r == SQLITE_OK) r = bind_opt_text(st, 2, f->root);
    if (r == SQLITE_OK) r = bind_opt_text(st, 3, f->state);
    if (r == SQLITE_OK) r = sqlite3_bind_int64(st, 4, f->live_at);
    if (r == SQLITE_OK) r = sqlite3_bind_int64(st, 5, f->limit);
    if (r != SQLITE_OK) {
        sqlite3_clear_bindings(st);
        return db_error(s, r, err, "task list");
    }
    int rc = collect(s, st, sizeof(**rows), task_row, a, (void **)rows, n, "task list", err);
    sqlite3_clear_bindings(st);
    return rc;
}

static int sqlite_task_finish(void *h, const char *key, bool by_holder, const char *state, const char *reason,
                              int64_t at, size_t *changed, md_err_t *err)
{
    sqlite_store_t *s = h;
    sqlite3_stmt *st = by_holder ? s->task_finish_holder : s->task_finish;
    int r;
    if (!by_holder) {
        r = sqlite3_bind_text(s->task_is_root, 1, key, -1, SQLITE_STATIC);
        if (r == SQLITE_OK) r = sqlite3_step(s->task_is_root);
        if (r == SQLITE_ROW) st = s->task_finish_root;
        sqlite3_reset(s->task_is_root);
        sqlite3_clear_bindings(s->task_is_root);
        if (r != SQLITE_ROW && r != SQLITE_DONE) return db_error(s, r, err, "task finish");
    }
    r = sqlite3_bind_text(st, 1, key, -1, SQLITE_STATIC);
    if (r == SQLITE_OK) r = sqlite3_bind_text(st, 2, state, -1, SQLITE_STATIC);
    if (r == SQLITE_OK) r = bind_opt_text(st, 3, reason);
    if (r == SQLITE_OK) r = sqlite3_bind_int64(st, 4, at);
    if (r != SQLITE_OK) {
        sqlite3_clear_bindings(st);
        return db_error(s, r, err, "task finish");
    }
    int rc = step_done(s, st, err, "task finish");
    sqlite3_clear_bindings(st);
    if (rc == MD_OK) *changed = (size_t)sqlite3_changes(s->db);
    return rc;
}

static int sqlite_task_live(void *h, int64_t now, md_arena_t *a, md_store_task_t **rows, size_t *n,
                            md_err_t *err)
{
    sqlite_store_t *s = h;
    int r = sqlite3_bind_int64(s->task_live, 1, now);
    if (r != SQLITE_OK) return db_error(s, r, err, "task live");
    return collect(s, s->task_live, sizeof(**rows), task_row, a, (void **)rows, n, "task live", err);
}

const md_store_ops_t md_store_sqlite_ops = {
    .name = "sqlite",
    .code_version = CODE_VERSION,
    .close = sqlite_close,
    .schema_version = sqlite_schema_version,
    .begin = sqlite_begin,
    .commit = sqlite_commit,
    .rollback = sqlite_rollback,
    .setting_get = sqlite_setting_get,
    .setting_put = sqlite_setting_put,
    .setting_delete = sqlite_setting_delete,
    .admin_get = sqlite_admin_get,
    .admin_put = sqlite_admin_put,
    .signing_keys_list = sqlite_signing_keys_list,
    .signing_keys_replace = sqlite_signing_keys_replace,
    .agent_insert = sqlite_agent_insert,
    .agent_update = sqlite_agent_update,
    .agent_get = sqlite_agent_get,
    .agent_list = sqlite_agent_list,
    .agent_delete = sqlite_agent_delete,
    .task_insert = sqlite_task_insert,
    .task_get = sqlite_task_get,
    .task_list = sqlite_task_list,
    .task_finish = sqlite_task_finish,
    .task_live = sqlite_task_live,
};
