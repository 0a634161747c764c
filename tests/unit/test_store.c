/*
 * test_store.c: unit tests for src/store/ (the storage interface and its
 * SQLite backend): file mode, WAL, migrations (idempotent, recorded,
 * refusing a newer schema or a foreign database), data surviving a reopen,
 * settings and admin rows, transactions and argument checks.
 *
 * Each test gets its own temporary folder.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <sqlite3.h>

#include "store/store.h"

static char dir[64];
static char dbpath[128];

static int setup(void **state)
{
    snprintf(dir, sizeof(dir), "/tmp/md-test-store-XXXXXX");
    if (mkdtemp(dir) == NULL) return -1;
    snprintf(dbpath, sizeof(dbpath), "%s/mandate.db", dir);
    return 0;
}

static int teardown(void **state)
{
    char cmd[128];
    snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
    return system(cmd) == 0 ? 0 : -1;
}

static md_store_t *open_ok(void)
{
    md_store_opts_t o = {MD_STORE_SQLITE, dbpath, 1000};
    md_store_t *st = NULL;
    md_err_t err = {0};
    int rc = md_store_open(&o, &st, &err);
    if (rc != MD_OK) fail_msg("open failed: %s", err.msg);
    assert_non_null(st);
    return st;
}

static int open_err(md_err_t *err)
{
    md_store_opts_t o = {MD_STORE_SQLITE, dbpath, 1000};
    md_store_t *st = NULL;
    int rc = md_store_open(&o, &st, err);
    assert_null(st);
    return rc;
}

/* Run SQL on the file directly, behind the store's back. */
static void raw_sql(const char *sql)
{
    sqlite3 *db = NULL;
    assert_int_equal(sqlite3_open(dbpath, &db), SQLITE_OK);
    char *msg = NULL;
    if (sqlite3_exec(db, sql, NULL, NULL, &msg) != SQLITE_OK) fail_msg("%s: %s", sql, msg);
    sqlite3_close(db);
}

static int64_t raw_int(const char *sql)
{
    sqlite3 *db = NULL;
    sqlite3_stmt *st = NULL;
    int64_t v = -1;
    assert_int_equal(sqlite3_open(dbpath, &db), SQLITE_OK);
    assert_int_equal(sqlite3_prepare_v2(db, sql, -1, &st, NULL), SQLITE_OK);
    if (sqlite3_step(st) == SQLITE_ROW) v = sqlite3_column_int64(st, 0);
    sqlite3_finalize(st);
    sqlite3_close(db);
    return v;
}

static void test_open_creates_private_wal_db(void **state)
{
    md_store_t *st = open_ok();
    struct stat sb;
    int v = 0;
    md_err_t err = {0};

    assert_int_equal(stat(dbpath, &sb), 0);
    assert_int_equal(sb.st_mode & 0777, 0600);
    assert_string_equal(md_store_backend_name(st), "sqlite");
    assert_int_equal(md_store_schema_version(st, &v, &err), MD_OK);
    assert_int_equal(v, md_store_code_version(MD_STORE_SQLITE));
    assert_true(v >= 1);
    md_store_close(st);
    assert_int_equal(raw_int("SELECT count(*) FROM pragma_journal_mode WHERE journal_mode = 'wal'"), 1);
    assert_int_equal(raw_int("PRAGMA application_id"), 0x4d4e4454);
}

static void test_migrations_idempotent(void **state)
{
    for (int i = 0; i < 3; i++)
        md_store_close(open_ok());
    /* each migration recorded exactly once, in order */
    assert_int_equal(raw_int("SELECT count(*) FROM schema_version"), md_store_code_version(MD_STORE_SQLITE));
    assert_int_equal(raw_int("SELECT count(DISTINCT version) FROM schema_version"),
                     md_store_code_version(MD_STORE_SQLITE));
    assert_int_equal(raw_int("SELECT min(version) FROM schema_version"), 1);
    assert_int_equal(raw_int("SELECT count(*) FROM sqlite_master WHERE name IN ('settings', 'admin')"), 2);
}

static void test_reopen_keeps_data(void **state)
{
    md_store_t *st = open_ok();
    md_err_t err = {0};
    md_buf_t v;
    md_store_admin_t a, b;

    assert_int_equal(md_store_setting_put(st, "greeting", MD_STR("hello"), &err), MD_OK);
    assert_int_equal(md_store_setting_put(st, "bin", (md_str_t){"a\0b", 3}, &err), MD_OK);
    memset(&a, 0, sizeof(a));
    snprintf(a.name, sizeof(a.name), "admin");
    for (int i = 0; i < 32; i++)
        a.token_sha256[i] = (uint8_t)i;
    assert_int_equal(md_store_admin_put(st, &a, &err), MD_OK);
    md_store_close(st);

    st = open_ok();
    md_buf_init(&v);
    assert_int_equal(md_store_setting_get(st, "greeting", &v, &err), MD_OK);
    assert_int_equal(v.n, 5);
    assert_memory_equal(v.p, "hello", 5);
    assert_int_equal(md_store_setting_get(st, "bin", &v, &err), MD_OK);
    assert_int_equal(v.n, 3);
    assert_memory_equal(v.p, "a\0b", 3);
    assert_int_equal(md_store_admin_get(st, "admin", &b, &err), MD_OK);
    assert_memory_equal(b.token_sha256, a.token_sha256, 32);
    assert_true(b.created_at > 0);
    md_buf_free(&v);
    md_store_close(st);
}

static void test_settings_crud(void **state)
{
    md_store_t *st = open_ok();
    md_err_t err = {0};
    md_buf_t v;

    md_buf_init(&v);
    assert_int_equal(md_store_setting_get(st, "absent", &v, &err), MD_ENOENT);
    md_err_clear(&err);
    assert_int_equal(md_store_setting_put(st, "k", MD_STR("one"), &err), MD_OK);
    assert_int_equal(md_store_setting_put(st, "k", MD_STR("two"), &err), MD_OK); /* replaces */
    assert_int_equal(md_store_setting_get(st, "k", &v, &err), MD_OK);
    assert_string_equal(v.p, "two");
    assert_int_equal(md_store_setting_put(st, "empty", MD_STR(""), &err), MD_OK);
    assert_int_equal(md_store_setting_get(st, "empty", &v, &err), MD_OK);
    assert_int_equal(v.n, 0);
    assert_int_equal(md_store_setting_delete(st, "k", &err), MD_OK);
    assert_int_equal(md_store_setting_delete(st, "k", &err), MD_ENOENT);
    md_err_clear(&err);
    assert_int_equal(md_store_setting_get(st, "k", &v, &err), MD_ENOENT);
    md_buf_free(&v);
    md_store_close(st);
}

static void test_argument_checks(void **state)
{
    md_store_t *st = open_ok();
    md_err_t err = {0};
    md_buf_t v;
    char long_key[MD_STORE_KEY_MAX + 2];
    static char big[MD_STORE_VALUE_MAX + 1];
    md_store_admin_t a;

    md_buf_init(&v);
    assert_int_equal(md_store_setting_put(st, "", MD_STR("x"), &err), MD_EINVAL);
    assert_int_equal(md_store_setting_put(st, "a b", MD_STR("x"), &err), MD_EINVAL);
    assert_int_equal(md_store_setting_put(st, "a/b", MD_STR("x"), &err), MD_EINVAL);
    assert_int_equal(md_store_setting_put(st, "x'; DROP TABLE settings; --", MD_STR("x"), &err), MD_EINVAL);
    memset(long_key, 'a', sizeof(long_key) - 1);
    long_key[sizeof(long_key) - 1] = '\0';
    assert_int_equal(md_store_setting_put(st, long_key, MD_STR("x"), &err), MD_EINVAL);
    long_key[MD_STORE_KEY_MAX] = '\0'; /* exactly the maximum: fine */
    assert_int_equal(md_store_setting_put(st, long_key, MD_STR("x"), &err), MD_OK);
    assert_int_equal(md_store_setting_put(st, "big", (md_str_t){big, sizeof(big)}, &err), MD_EINVAL);
    assert_int_equal(md_store_setting_put(st, "big", (md_str_t){big, sizeof(big) - 1}, &err), MD_OK);
    assert_int_equal(md_store_setting_get(st, "../etc", &v, &err), MD_EINVAL);
    memset(&a, 0, sizeof(a));
    assert_int_equal(md_store_admin_put(st, &a, &err), MD_EINVAL); /* empty name */
    assert_int_equal(md_store_admin_get(st, "no such", &a, &err), MD_EINVAL);
    assert_int_equal(raw_int("SELECT count(*) FROM settings"), 2);
    md_buf_free(&v);
    md_store_close(st);
}

static void test_transactions(void **state)
{
    md_store_t *st = open_ok();
    md_err_t err = {0};
    md_buf_t v;

    md_buf_init(&v);
    assert_int_equal(md_store_begin(st, &err), MD_OK);
    assert_int_equal(md_store_setting_put(st, "a", MD_STR("1"), &err), MD_OK);
    assert_int_equal(md_store_setting_put(st, "b", MD_STR("2"), &err), MD_OK);
    md_store_rollback(st);
    assert_int_equal(md_store_setting_get(st, "a", &v, &err), MD_ENOENT);
    md_err_clear(&err);
    assert_int_equal(md_store_begin(st, &err), MD_OK);
    assert_int_equal(md_store_setting_put(st, "a", MD_STR("1"), &err), MD_OK);
    assert_int_equal(md_store_commit(st, &err), MD_OK);
    assert_int_equal(md_store_setting_get(st, "a", &v, &err), MD_OK);
    md_store_rollback(st); /* outside a transaction: harmless */
    md_buf_free(&v);
    md_store_close(st);
}

static void test_refuses_newer_schema(void **state)
{
    md_err_t err = {0};

    md_store_close(open_ok());
    raw_sql(
        "INSERT INTO schema_version (version, description, applied_at) VALUES (999, 'from the future', 0)");
    assert_int_equal(open_err(&err), MD_STORE_ETOONEW);
    assert_non_null(strstr(err.msg, "schema version 999"));
    assert_non_null(strstr(err.msg, "newer than this mandated"));
    /* refused untouched */
    assert_int_equal(raw_int("SELECT max(version) FROM schema_version"), 999);
}

static void test_refuses_foreign_database(void **state)
{
    md_err_t err = {0};

    raw_sql("CREATE TABLE someone_elses (x INTEGER)");
    chmod(dbpath, 0600);
    assert_int_equal(open_err(&err), MD_EINVAL);
    assert_non_null(strstr(err.msg, "not a mandate database"));
    assert_int_equal(raw_int("SELECT count(*) FROM sqlite_master WHERE name = 'schema_version'"), 0);

    unlink(dbpath);
    raw_sql("PRAGMA application_id = 1234");
    chmod(dbpath, 0600);
    md_err_clear(&err);
    assert_int_equal(open_err(&err), MD_EINVAL);
    assert_non_null(strstr(err.msg, "another application"));
}

static void test_refuses_garbage_and_open_files(void **state)
{
    md_err_t err = {0};
    FILE *f = fopen(dbpath, "w");
    assert_non_null(f);
    fputs("this is not a database, just text that is long enough to have a header......................", f);
    fclose(f);
    chmod(dbpath, 0600);
    assert_int_not_equal(open_err(&err), MD_OK);
    assert_non_null(strstr(err.msg, "store:"));

    unlink(dbpath);
    md_store_close(open_ok());
    chmod(dbpath, 0644);
    md_err_clear(&err);
    assert_int_equal(open_err(&err), MD_EINVAL);
    assert_non_null(strstr(err.msg, "too open"));

    /* a symlink in place of the database is refused, not followed */
    char target[160];
    snprintf(target, sizeof(target), "%s/elsewhere.db", dir);
    unlink(dbpath);
    assert_int_equal(symlink(target, dbpath), 0);
    md_err_clear(&err);
    assert_int_not_equal(open_err(&err), MD_OK);
    assert_int_not_equal(access(target, F_OK), 0);
}

/* Review finding: a database planted by another user, or one in a directory
 * others can write to, must never be opened (its admin row would be trusted). */
static void test_refuses_unsafe_dirs(void **state)
{
    md_err_t err = {0};
    char sub[160];
    snprintf(sub, sizeof(sub), "%s/open", dir);
    assert_int_equal(mkdir(sub, 0700), 0);
    assert_int_equal(chmod(sub, 0777), 0); /* writable by all, not sticky */
    md_store_opts_t o = {MD_STORE_SQLITE, NULL, 1000};
    char path[200];
    snprintf(path, sizeof(path), "%s/mandate.db", sub);
    o.path = path;
    md_store_t *st = NULL;
    assert_int_equal(md_store_open(&o, &st, &err), MD_EINVAL);
    assert_null(st);
    assert_non_null(strstr(err.msg, "writable by group or others"));
    assert_int_not_equal(access(path, F_OK), 0); /* nothing was created there */
    /* sticky (like /tmp): others cannot replace our entries, so it is accepted */
    assert_int_equal(chmod(sub, 01777), 0);
    md_err_clear(&err);
    assert_int_equal(md_store_open(&o, &st, &err), MD_OK);
    md_store_close(st);
}

static void test_refuses_file_of_another_user(void **state)
{
    if (geteuid() != 0) skip(); /* needs root to give the file away; reported as skipped */
    md_store_close(open_ok());
    assert_int_equal(chown(dbpath, 65534, 65534), 0);
    md_err_t err = {0};
    assert_int_equal(open_err(&err), MD_EINVAL);
    assert_non_null(strstr(err.msg, "not by us"));
}

static void test_backends(void **state)
{
    md_store_opts_t o = {MD_STORE_POSTGRES, "postgres://x", 0};
    md_store_t *st = NULL;
    md_err_t err = {0};
    assert_int_equal(md_store_open(&o, &st, &err), MD_EINVAL);
    assert_non_null(strstr(err.msg, "postgres"));
    md_store_opts_t none = {MD_STORE_SQLITE, NULL, 0};
    md_err_clear(&err);
    assert_int_equal(md_store_open(&none, &st, &err), MD_EINVAL);
    md_store_opts_t nodir = {MD_STORE_SQLITE, "/nonexistent/dir/x.db", 0};
    md_err_clear(&err);
    assert_int_equal(md_store_open(&nodir, &st, &err), MD_EIO);
    assert_null(st);
    md_store_close(NULL);
}

static void test_two_connections(void **state)
{
    /* each worker thread has its own connection: writes of one are seen by the other */
    md_store_t *a = open_ok(), *b = open_ok();
    md_err_t err = {0};
    md_buf_t v;
    md_buf_init(&v);
    assert_int_equal(md_store_setting_put(a, "shared", MD_STR("yes"), &err), MD_OK);
    assert_int_equal(md_store_setting_get(b, "shared", &v, &err), MD_OK);
    assert_string_equal(v.p, "yes");
    /* a writer holding the lock makes the other report busy after its timeout, not hang */
    assert_int_equal(md_store_begin(a, &err), MD_OK);
    md_store_opts_t o = {MD_STORE_SQLITE, dbpath, 50};
    md_store_t *c = NULL;
    assert_int_equal(md_store_open(&o, &c, &err), MD_OK);
    md_err_clear(&err);
    assert_int_equal(md_store_setting_put(c, "x", MD_STR("1"), &err), MD_STORE_EBUSY);
    md_store_rollback(a);
    md_err_clear(&err);
    assert_int_equal(md_store_setting_put(c, "x", MD_STR("1"), &err), MD_OK);
    md_buf_free(&v);
    md_store_close(a);
    md_store_close(b);
    md_store_close(c);
}

/* ---- tasks ---- */

static md_store_task_t task(const char *id, const char *parent, const char *root, int depth,
                            const char *holder)
{
    md_store_task_t t = {0};
    t.id = id;
    t.parent = parent;
    t.root = root;
    t.depth = depth;
    t.subject = "spiffe://example.org/agent/root";
    t.holder = holder;
    t.agent_id = "ag_0123456789abcdef";
    t.audience = "tickets-api";
    t.intent = "answer ticket 42";
    t.scope = "tickets:read tickets:write";
    t.state = "active";
    t.created_at = 1000 + depth;
    t.expires_at = 2000 - depth;
    return t;
}

#define ID(c) c c c c c c c c c c c c c c c c c c c c c c c c c c c c c c c c

static void test_tasks(void **state)
{
    md_store_t *st = open_ok();
    md_err_t err = {0};
    md_arena_t a;
    md_store_task_t got, *rows = NULL;
    size_t n = 0, changed = 0;
    const char *R = ID("a"), *C1 = ID("b"), *C2 = ID("c"), *G = ID("d"), *O = ID("e");
    md_store_task_t r = task(R, NULL, R, 0, "spiffe://example.org/agent/root");
    md_store_task_t c1 = task(C1, R, R, 1, "spiffe://example.org/agent/sub");
    md_store_task_t c2 = task(C2, R, R, 1, "spiffe://example.org/agent/sub2");
    md_store_task_t g = task(G, C1, R, 2, "spiffe://example.org/agent/sub3");
    md_store_task_t o = task(O, NULL, O, 0, "spiffe://example.org/agent/other");

    md_arena_init(&a, 4096);
    r.obo = "{\"iss\":\"https://idp\",\"sub\":\"alice\"}";
    c1.jkt = "thumb";
    assert_int_equal(md_store_task_insert(st, &r, &err), MD_OK);
    assert_int_equal(md_store_task_insert(st, &c1, &err), MD_OK);
    assert_int_equal(md_store_task_insert(st, &c2, &err), MD_OK);
    assert_int_equal(md_store_task_insert(st, &g, &err), MD_OK);
    assert_int_equal(md_store_task_insert(st, &o, &err), MD_OK);
    assert_int_equal(md_store_task_insert(st, &o, &err), MD_STORE_EEXISTS);
    md_err_clear(&err);
    /* refused before the backend: bad ids, a child without parent, a root with one, bad state */
    md_store_task_t bad = task("xyz", NULL, "xyz", 0, "h");
    assert_int_equal(md_store_task_insert(st, &bad, &err), MD_EINVAL);
    md_err_clear(&err);
    bad = task(ID("f"), NULL, ID("f"), 1, "h");
    assert_int_equal(md_store_task_insert(st, &bad, &err), MD_EINVAL);
    md_err_clear(&err);
    bad = task(ID("f"), NULL, ID("f"), 0, "h");
    bad.state = "expired";
    assert_int_equal(md_store_task_insert(st, &bad, &err), MD_EINVAL);
    md_err_clear(&err);
    /* a parent that does not exist: the foreign key refuses it */
    bad = task(ID("f"), ID("9"), ID("9"), 1, "h");
    assert_int_not_equal(md_store_task_insert(st, &bad, &err), MD_OK);
    md_err_clear(&err);

    assert_int_equal(md_store_task_get(st, R, &a, &got, &err), MD_OK);
    assert_string_equal(got.obo, r.obo);
    assert_null(got.parent);
    assert_null(got.jkt);
    assert_int_equal(got.expires_at, 2000);
    assert_int_equal(md_store_task_get(st, C1, &a, &got, &err), MD_OK);
    assert_string_equal(got.parent, R);
    assert_string_equal(got.jkt, "thumb");
    assert_int_equal(md_store_task_get(st, ID("0"), &a, &got, &err), MD_ENOENT);
    md_err_clear(&err);

    /* list: filters and order (newest first) */
    md_store_task_filter_t f = {0};
    f.limit = 100;
    assert_int_equal(md_store_task_list(st, &f, &a, &rows, &n, &err), MD_OK);
    assert_int_equal(n, 5);
    f.root = R;
    assert_int_equal(md_store_task_list(st, &f, &a, &rows, &n, &err), MD_OK);
    assert_int_equal(n, 4);
    assert_string_equal(rows[0].id, G);
    f.root = NULL;
    f.holder = "spiffe://example.org/agent/sub";
    assert_int_equal(md_store_task_list(st, &f, &a, &rows, &n, &err), MD_OK);
    assert_int_equal(n, 1);
    f.holder = NULL;
    f.limit = 0;
    assert_int_equal(md_store_task_list(st, &f, &a, &rows, &n, &err), MD_EINVAL);
    md_err_clear(&err);

    /* revoking C1 takes G with it, and nothing else */
    assert_int_equal(md_store_task_finish(st, C1, false, "revoked", "test", 1500, &changed, &err), MD_OK);
    assert_int_equal(changed, 2);
    assert_int_equal(md_store_task_get(st, G, &a, &got, &err), MD_OK);
    assert_string_equal(got.state, "revoked");
    assert_string_equal(got.reason, "test");
    assert_int_equal(got.ended_at, 1500);
    assert_int_equal(md_store_task_get(st, C2, &a, &got, &err), MD_OK);
    assert_string_equal(got.state, "active");
    /* again: nothing active left below C1 */
    assert_int_equal(md_store_task_finish(st, C1, false, "revoked", "again", 1600, &changed, &err), MD_OK);
    assert_int_equal(changed, 0);
    /* ending the root ends the rest of the tree, never turning revoked into ended */
    assert_int_equal(md_store_task_finish(st, R, false, "ended", "done", 1700, &changed, &err), MD_OK);
    assert_int_equal(changed, 2);
    assert_int_equal(md_store_task_get(st, G, &a, &got, &err), MD_OK);
    assert_string_equal(got.state, "revoked");
    assert_int_equal(md_store_task_finish(st, R, false, "active", NULL, 1, &changed, &err), MD_EINVAL);
    md_err_clear(&err);
    /* by holder (quarantine): every active task it holds */
    assert_int_equal(md_store_task_finish(st, "spiffe://example.org/agent/other", true, "revoked",
                                          "quarantined", 1800, &changed, &err),
                     MD_OK);
    assert_int_equal(changed, 1);

    /* live tasks, parents first, persist across reopening */
    md_store_close(st);
    st = open_ok();
    assert_int_equal(md_store_task_live(st, 1998, &a, &rows, &n, &err), MD_OK);
    assert_int_equal(n, 4); /* expires_at 2000 (R, O) and 1999 (C1, C2) are > 1998; G (1998) is not */
    assert_int_equal(md_store_task_live(st, 0, &a, &rows, &n, &err), MD_OK);
    assert_int_equal(n, 5);
    for (size_t i = 1; i < n; i++)
        assert_true(rows[i - 1].depth <= rows[i].depth);
    md_arena_free(&a);
    md_store_close(st);
}

#define T(f) cmocka_unit_test_setup_teardown(f, setup, teardown)

int main(void)
{
    const struct CMUnitTest tests[] = {
        T(test_open_creates_private_wal_db),
        T(test_migrations_idempotent),
        T(test_reopen_keeps_data),
        T(test_settings_crud),
        T(test_argument_checks),
        T(test_transactions),
        T(test_refuses_newer_schema),
        T(test_refuses_foreign_database),
        T(test_refuses_garbage_and_open_files),
        T(test_refuses_unsafe_dirs),
        T(test_refuses_file_of_another_user),
        T(test_backends),
        T(test_two_connections),
        T(test_tasks),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
