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
};
#define NMIGRATIONS ((int)(sizeof(migrations) / sizeof(migrations[0])))
/* The last migration's version; md_store_sqlite_open() checks they agree. */
#define CODE_VERSION 1

typedef struct sqlite_store {
    sqlite3 *db;
    char *path; /* owned: for messages */
    sqlite3_stmt *setting_get, *setting_put, *setting_delete;
    sqlite3_stmt *admin_get, *admin_put;
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
    if (s->db) sqlite3_close_v2(s->db);
    free(s->path);
    free(s);
}

/* Create the file 0600 (or check the existing one is private) before SQLite opens it. */
static int precreate(const char *path, md_err_t *err)
{
    struct stat st;
    int fd = open(path, O_RDWR | O_CREAT | O_NOFOLLOW | O_CLOEXEC | O_NOCTTY, 0600);
    if (fd < 0) return md_err_set(err, MD_EIO, "store: %s: %s", path, strerror(errno));
    int rc = MD_OK;
    if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode))
        rc = md_err_set(err, MD_EIO, "store: %s: not a regular file", path);
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
};
