/*
 * test_keys.c: unit tests for src/keys/ (the daemon's signing keys) and the
 * `keys:` / `issuer` configuration keys.
 *
 * Properties under test:
 *   KEK file        created 0600 with 32 random bytes; read back; refused when
 *                   group/other may access it, when it is not 32 bytes, when it
 *                   is a symbolic link (planted or dangling: never followed, the
 *                   target untouched), a FIFO (refused at once, not waited on),
 *                   hard-linked, another user's, or in a folder that is a link
 *                   or that others may write to; never created when sealed keys
 *                   exist; a KEK that appears while one is created is kept
 *   metadata        every stored column of a key (kid, alg, state, times,
 *                   generation, MAC), the high-water setting, a dropped key and
 *                   rows from before MACs existed: md_keys_open refuses; a set
 *                   put back behind a running manager is reported and replaced
 *   sealed at rest  no private key in the clear in the database (no PEM, no
 *                   JWK "d"); a wrong KEK does not open the set
 *   schedule        on an injected clock: next key published `overlap` before
 *                   it signs; the retired key stays until retired + lifetime +
 *                   skew, also when the lifetime is lowered while it signs
 *   durability      a change is persisted before it is published; while the
 *                   store is locked nothing new is published, and the change
 *                   is published once the store accepts it; reopening gives
 *                   the same keys
 *   signing         md_keys_sign_jwt enforces exp bounds, verifies with the
 *                   view's keys and counts mandate_tokens_issued_total
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <sqlite3.h>

#include "core/config.h"
#include "core/log.h"
#include "keys/keyfile.h"
#include "keys/keys.h"
#include "server/metrics.h"
#include "server/snapshot.h"

#define T0 INT64_C(1800000000)

static char dir[64];
static char dbpath[128];
static char kekpath[128];

static const md_keyset_policy_t POLICY = {
    .alg = MD_JOSE_ES256,
    .rotation_period = 100,
    .overlap = 20,
    .max_token_lifetime = 30,
};

static int setup(void **state)
{
    snprintf(dir, sizeof(dir), "/tmp/md-test-keys-XXXXXX");
    if (mkdtemp(dir) == NULL) return -1;
    snprintf(dbpath, sizeof(dbpath), "%s/mandate.db", dir);
    snprintf(kekpath, sizeof(kekpath), "%s/kek", dir);
    return 0;
}

static int teardown(void **state)
{
    char cmd[128];
    snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
    return system(cmd) == 0 ? 0 : -1;
}

static md_store_t *store_open(void)
{
    md_store_opts_t o = {MD_STORE_SQLITE, dbpath, 200};
    md_store_t *st = NULL;
    md_err_t err = {0};
    if (md_store_open(&o, &st, &err) != MD_OK) fail_msg("store: %s", err.msg);
    return st;
}

static md_keys_t *keys_open(md_store_t *st, int64_t now)
{
    md_keys_opts_t o = {kekpath, true, POLICY};
    md_keys_t *k = NULL;
    md_err_t err = {0};
    int rc = md_keys_open(st, &o, now, &k, &err);
    if (rc != MD_OK) fail_msg("md_keys_open: %s (%s)", md_jose_err_name(rc), err.msg);
    return k;
}

static void tick(md_keys_t *k, md_store_t *st, const md_keyset_policy_t *p, int64_t now, bool want_published)
{
    bool published = false;
    md_err_t err = {0};
    int rc = md_keys_tick(k, st, p, now, &published, &err);
    if (rc != MD_OK) fail_msg("tick at +%lld: %s", (long long)(now - T0), err.msg);
    if (published != want_published)
        fail_msg("tick at +%lld: published %d, want %d", (long long)(now - T0), published, want_published);
}

static size_t count_state(md_keys_view_t *v, md_key_state_t s)
{
    size_t n = 0;
    for (size_t i = 0; i < md_keys_view_count(v); i++)
        n += md_keys_view_entry(v, i).state == s;
    return n;
}

/* The kid in state s (the first), or "". */
static const char *kid_in(md_keys_view_t *v, md_key_state_t s)
{
    for (size_t i = 0; i < md_keys_view_count(v); i++)
        if (md_keys_view_entry(v, i).state == s) return md_jwk_kid(md_keys_view_entry(v, i).key);
    return "";
}

static bool jwks_has(md_keys_view_t *v, const char *kid)
{
    md_str_t j = md_keys_view_jwks(v);
    char needle[80];
    snprintf(needle, sizeof(needle), "\"kid\":\"%s\"", kid);
    return strstr(j.p, needle) != NULL;
}

static size_t jwks_count(md_keys_view_t *v)
{
    json_error_t je;
    md_str_t j = md_keys_view_jwks(v);
    json_t *doc = json_loadb(j.p, j.n, 0, &je);
    assert_non_null(doc);
    size_t n = json_array_size(json_object_get(doc, "keys"));
    json_decref(doc);
    return n;
}

static int64_t db_int(const char *sql)
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

/* The whole database file (and WAL) as bytes, to grep for secrets. */
static bool db_files_contain(const char *needle)
{
    const char *suffix[] = {"", "-wal"};
    for (int i = 0; i < 2; i++) {
        char path[160];
        char *text = NULL;
        size_t len = 0;
        md_err_t err = {0};
        snprintf(path, sizeof(path), "%s%s", dbpath, suffix[i]);
        if (md_file_read(path, 64u << 20, &text, &len, &err) != MD_OK) continue;
        bool found = memmem(text, len, needle, strlen(needle)) != NULL;
        free(text);
        if (found) return true;
    }
    return false;
}

/* ------------------------------------------------------------ the KEK */

static void test_kek_created_private_and_reloaded(void **state)
{
    unsigned char a[MD_KEYS_KEK_LEN], b[MD_KEYS_KEK_LEN];
    bool created = false;
    md_err_t err = {0};
    struct stat st;

    assert_int_equal(md_keys_kek_load(kekpath, false, a, &created, &err), MD_ENOENT);
    assert_non_null(strstr(err.msg, "does not exist"));
    md_err_clear(&err);
    assert_int_equal(md_keys_kek_load(kekpath, true, a, &created, &err), MD_OK);
    assert_true(created);
    assert_int_equal(stat(kekpath, &st), 0);
    assert_int_equal(st.st_mode & 07777, 0600);
    assert_int_equal(st.st_size, 32);
    assert_int_equal(md_keys_kek_load(kekpath, true, b, &created, &err), MD_OK);
    assert_false(created);
    assert_memory_equal(a, b, 32);
    /* no temporary file left behind */
    char tmp[160];
    snprintf(tmp, sizeof(tmp), "%s.new", kekpath);
    assert_int_not_equal(access(tmp, F_OK), 0);
}

static void test_kek_refusals(void **state)
{
    unsigned char k[MD_KEYS_KEK_LEN];
    bool created = false;
    md_err_t err = {0};

    assert_int_equal(md_keys_kek_load(kekpath, true, k, &created, &err), MD_OK);
    chmod(kekpath, 0640);
    assert_int_equal(md_keys_kek_load(kekpath, true, k, &created, &err), MD_EINVAL);
    assert_non_null(strstr(err.msg, "too open"));
    chmod(kekpath, 0604);
    md_err_clear(&err);
    assert_int_equal(md_keys_kek_load(kekpath, true, k, &created, &err), MD_EINVAL);
    chmod(kekpath, 0600);
    /* wrong size */
    FILE *f = fopen(kekpath, "a");
    fputc('x', f);
    fclose(f);
    md_err_clear(&err);
    assert_int_equal(md_keys_kek_load(kekpath, true, k, &created, &err), MD_EINVAL);
    assert_non_null(strstr(err.msg, "33 bytes"));
    /* a symbolic link is not followed */
    char link[160];
    snprintf(link, sizeof(link), "%s/kek-link", dir);
    assert_int_equal(truncate(kekpath, 32), 0);
    assert_int_equal(symlink(kekpath, link), 0);
    md_err_clear(&err);
    assert_int_equal(md_keys_kek_load(link, true, k, &created, &err), MD_EINVAL);
    assert_non_null(strstr(err.msg, "symbolic link"));
    /* a directory */
    md_err_clear(&err);
    assert_int_not_equal(md_keys_kek_load(dir, true, k, &created, &err), MD_OK);
}

/* Load the KEK at path; the code, with the message in msg. */
static int kek_try(const char *path, bool may_create, char *msg, size_t msgsz)
{
    unsigned char k[MD_KEYS_KEK_LEN];
    bool created = false;
    md_err_t err = {0};
    int rc = md_keys_kek_load(path, may_create, k, &created, &err);
    snprintf(msg, msgsz, "%s", err.msg);
    return rc;
}

static void write_file(const char *path, const char *text, mode_t mode)
{
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, mode);
    assert_true(fd >= 0);
    assert_int_equal(write(fd, text, strlen(text)), (ssize_t)strlen(text));
    close(fd);
    assert_int_equal(chmod(path, mode), 0);
}

static bool file_is(const char *path, const char *text)
{
    char buf[256];
    int fd = open(path, O_RDONLY);
    if (fd < 0) return false;
    ssize_t n = read(fd, buf, sizeof(buf) - 1);
    close(fd);
    if (n < 0) return false;
    buf[n] = '\0';
    return strcmp(buf, text) == 0;
}

static void test_kek_planted_symlink_never_followed(void **state)
{
    char target[160], msg[512];
    struct stat st;

    /* a link planted where the KEK will be created, pointing at a file someone wants overwritten */
    snprintf(target, sizeof(target), "%s/elsewhere", dir);
    write_file(target, "precious\n", 0600);
    assert_int_equal(symlink(target, kekpath), 0);
    assert_int_equal(kek_try(kekpath, true, msg, sizeof(msg)), MD_EINVAL);
    assert_non_null(strstr(msg, "symbolic link"));
    assert_non_null(strstr(msg, kekpath));
    assert_true(file_is(target, "precious\n"));
    assert_int_equal(lstat(kekpath, &st), 0);
    assert_true(S_ISLNK(st.st_mode)); /* left as it was */
    /* a dangling link: its target is not created */
    assert_int_equal(unlink(kekpath), 0);
    assert_int_equal(unlink(target), 0);
    assert_int_equal(symlink(target, kekpath), 0);
    assert_int_equal(kek_try(kekpath, true, msg, sizeof(msg)), MD_EINVAL);
    assert_int_not_equal(access(target, F_OK), 0);
    /* md_keys_open fails start-up the same way */
    md_store_t *st_ = store_open();
    md_keys_opts_t o = {kekpath, true, POLICY};
    md_keys_t *k = NULL;
    md_err_t err = {0};
    assert_int_equal(md_keys_open(st_, &o, T0, &k, &err), MD_EINVAL);
    assert_non_null(strstr(err.msg, "symbolic link"));
    assert_int_not_equal(access(target, F_OK), 0);
    md_store_close(st_);
    /* a stale KEK.new that is a link: removed, never written through */
    char tmp[160];
    assert_int_equal(unlink(kekpath), 0);
    write_file(target, "precious\n", 0600);
    snprintf(tmp, sizeof(tmp), "%s.new", kekpath);
    assert_int_equal(symlink(target, tmp), 0);
    assert_int_equal(kek_try(kekpath, true, msg, sizeof(msg)), MD_OK);
    assert_true(file_is(target, "precious\n"));
    assert_int_equal(lstat(kekpath, &st), 0);
    assert_true(S_ISREG(st.st_mode));
    assert_int_not_equal(access(tmp, F_OK), 0);
}

static void test_kek_fifo_refused_at_once(void **state)
{
    char msg[512];
    assert_int_equal(mkfifo(kekpath, 0600), 0);
    alarm(10); /* opening a FIFO for reading blocks until a writer comes: that must not happen */
    assert_int_equal(kek_try(kekpath, true, msg, sizeof(msg)), MD_EINVAL);
    assert_int_equal(kek_try(kekpath, false, msg, sizeof(msg)), MD_EINVAL);
    alarm(0);
    assert_non_null(strstr(msg, "not a regular file"));
    md_err_t err = {0};
    assert_int_equal(md_keys_kek_check(kekpath, false, &err), MD_EINVAL);
}

static void test_kek_links_owner_and_folder(void **state)
{
    char msg[512], other[160], sub[160], subkek[200], sublink[160];

    assert_int_equal(kek_try(kekpath, true, msg, sizeof(msg)), MD_OK);
    /* a second name for the KEK */
    snprintf(other, sizeof(other), "%s/kek-copy", dir);
    assert_int_equal(link(kekpath, other), 0);
    assert_int_equal(kek_try(kekpath, false, msg, sizeof(msg)), MD_EINVAL);
    assert_non_null(strstr(msg, "2 hard links"));
    assert_int_equal(unlink(other), 0);
    assert_int_equal(kek_try(kekpath, false, msg, sizeof(msg)), MD_OK);
    /* another user's file */
    if (geteuid() == 0) {
        assert_int_equal(chown(kekpath, 65534, 65534), 0);
        assert_int_equal(kek_try(kekpath, false, msg, sizeof(msg)), MD_EINVAL);
        assert_non_null(strstr(msg, "owned by uid 65534"));
        assert_int_equal(chown(kekpath, 0, 0), 0);
    }
    /* a folder others may write to */
    snprintf(sub, sizeof(sub), "%s/sub", dir);
    snprintf(subkek, sizeof(subkek), "%s/kek", sub);
    assert_int_equal(mkdir(sub, 0700), 0);
    assert_int_equal(kek_try(subkek, true, msg, sizeof(msg)), MD_OK);
    assert_int_equal(chmod(sub, 0770), 0);
    assert_int_equal(kek_try(subkek, false, msg, sizeof(msg)), MD_EINVAL);
    assert_non_null(strstr(msg, "writable by group or others"));
    assert_int_equal(chmod(sub, 0755), 0);
    assert_int_equal(kek_try(subkek, false, msg, sizeof(msg)), MD_OK); /* readable is fine: the file is not */
    /* a folder that is a symbolic link */
    snprintf(sublink, sizeof(sublink), "%s/sub-link", dir);
    assert_int_equal(symlink(sub, sublink), 0);
    snprintf(subkek, sizeof(subkek), "%s/kek", sublink);
    assert_int_equal(kek_try(subkek, false, msg, sizeof(msg)), MD_EINVAL);
    assert_non_null(strstr(msg, "symbolic link"));
    /* -n's check: creates nothing */
    md_err_t err = {0};
    snprintf(subkek, sizeof(subkek), "%s/absent-kek", sub);
    assert_int_equal(md_keys_kek_check(subkek, false, &err), MD_OK);
    assert_int_equal(md_keys_kek_check(subkek, true, &err), MD_ENOENT);
    assert_non_null(strstr(err.msg, "does not exist"));
    assert_int_not_equal(access(subkek, F_OK), 0);
}

static void test_keyfile_publish_never_replaces(void **state)
{
    int dfd = -1;
    md_err_t err = {0};
    char shown[160];
    snprintf(shown, sizeof(shown), "%s/kek", dir);
    assert_int_equal(md_keyfile_dir_open(dir, true, &dfd, &err), MD_OK);
    /* a KEK that appeared between "absent" and the link: kept, ours discarded */
    write_file(kekpath, "first", 0600);
    assert_int_equal(md_keyfile_write_tmp(dfd, "kek.new", "second", 6, shown, &err), MD_OK);
    assert_int_equal(md_keyfile_publish(dfd, "kek.new", "kek", false, shown, &err), MD_EINVAL);
    assert_true(file_is(kekpath, "first"));
    assert_false(md_keyfile_exists(dfd, "kek.new"));
    /* with replace (the admin token), a link at the name is replaced, its target untouched */
    char target[160], tok[160];
    struct stat st;
    snprintf(target, sizeof(target), "%s/target", dir);
    snprintf(tok, sizeof(tok), "%s/tok", dir);
    write_file(target, "precious", 0600);
    assert_int_equal(symlink(target, tok), 0);
    md_err_clear(&err);
    assert_int_equal(md_keyfile_write_tmp(dfd, "tok.new", "new", 3, tok, &err), MD_OK);
    assert_int_equal(md_keyfile_publish(dfd, "tok.new", "tok", true, tok, &err), MD_OK);
    assert_true(file_is(target, "precious"));
    assert_int_equal(lstat(tok, &st), 0);
    assert_true(S_ISREG(st.st_mode));
    assert_int_equal(st.st_mode & 07777, 0600);
    assert_true(file_is(tok, "new"));
    /* the data dir itself: a link, or open to others, is refused */
    char ddl[160];
    snprintf(ddl, sizeof(ddl), "%s-link", dir);
    assert_int_equal(symlink(dir, ddl), 0);
    int fd2 = -1;
    md_err_clear(&err);
    assert_int_equal(md_keyfile_dir_open(ddl, true, &fd2, &err), MD_EINVAL);
    assert_non_null(strstr(err.msg, "symbolic link"));
    unlink(ddl);
    assert_int_equal(chmod(dir, 0750), 0);
    md_err_clear(&err);
    assert_int_equal(md_keyfile_dir_open(dir, true, &fd2, &err), MD_EINVAL);
    assert_non_null(strstr(err.msg, "chmod 700"));
    assert_int_equal(chmod(dir, 0700), 0);
    close(dfd);
}

/* ------------------------------------------------------------ stored metadata */

static void db_exec(const char *sql)
{
    sqlite3 *db = NULL;
    char *msg = NULL;
    assert_int_equal(sqlite3_open(dbpath, &db), SQLITE_OK);
    if (sqlite3_exec(db, sql, NULL, NULL, &msg) != SQLITE_OK) fail_msg("%s: %s", sql, msg);
    sqlite3_close(db);
}

/* Put the database back as it was saved in `good`. */
static void restore_db(const char *good)
{
    char cmd[1024];
    snprintf(cmd, sizeof(cmd), "cp %s %s && rm -f %s-wal %s-shm", good, dbpath, dbpath, dbpath);
    assert_int_equal(system(cmd), 0);
}

/* md_keys_open's code at now; its message in msg. */
static int open_rc(int64_t now, char *msg, size_t msgsz)
{
    md_store_t *st = store_open();
    md_keys_opts_t o = {kekpath, true, POLICY};
    md_keys_t *k = NULL;
    md_err_t err = {0};
    int rc = md_keys_open(st, &o, now, &k, &err);
    snprintf(msg, msgsz, "%s", err.msg);
    md_keys_free(k);
    md_store_close(st);
    return rc;
}

static void test_tampered_metadata_refused(void **state)
{
    static const struct {
        const char *what, *tamper, *undo;
    } cases[] = {
        /* a retired key made active again (the active one demoted), and each time moved */
        {"state",
         "UPDATE signing_keys SET state = CASE state WHEN 'retired' THEN 'active' WHEN 'active' THEN "
         "'retired' ELSE state END",
         "UPDATE signing_keys SET state = CASE state WHEN 'retired' THEN 'active' WHEN 'active' THEN "
         "'retired' "
         "ELSE state END"},
        {"published", "UPDATE signing_keys SET published = published - 1",
         "UPDATE signing_keys SET published = published + 1"},
        {"activated", "UPDATE signing_keys SET activated = activated + 1 WHERE state = 'active'",
         "UPDATE signing_keys SET activated = activated - 1 WHERE state = 'active'"},
        {"retired", "UPDATE signing_keys SET retired = retired + 1 WHERE state = 'retired'",
         "UPDATE signing_keys SET retired = retired - 1 WHERE state = 'retired'"},
        /* publication of a retired key extended */
        {"remove_at", "UPDATE signing_keys SET remove_at = remove_at + 86400 WHERE state = 'retired'",
         "UPDATE signing_keys SET remove_at = remove_at - 86400 WHERE state = 'retired'"},
        {"alg", "UPDATE signing_keys SET alg = 'EdDSA' WHERE state = 'active'",
         "UPDATE signing_keys SET alg = 'ES256' WHERE state = 'active'"},
        {"generation", "UPDATE signing_keys SET generation = generation + 5",
         "UPDATE signing_keys SET generation = generation - 5"},
        {"mac",
         "UPDATE signing_keys SET mac = (SELECT mac FROM signing_keys WHERE state = 'retired') "
         "WHERE state = 'active'",
         NULL},
        {"high water",
         "UPDATE settings SET value = CAST('86400' AS BLOB) WHERE key = 'keys.lifetime_high_water'",
         "UPDATE settings SET value = CAST('30' AS BLOB) WHERE key = 'keys.lifetime_high_water'"},
    };
    char msg[512];

    /* a set with a retired, an active and a next key */
    md_store_t *st = store_open();
    md_keys_t *k = keys_open(st, T0);
    tick(k, st, &POLICY, T0 + 80, true);
    tick(k, st, &POLICY, T0 + 100, true);
    tick(k, st, &POLICY, T0 + 180, true);
    md_keys_free(k);
    md_store_close(st);
    assert_int_equal(db_int("SELECT count(*) FROM signing_keys"), 3);
    assert_int_equal(db_int("SELECT count(DISTINCT generation) FROM signing_keys"), 1);
    assert_int_equal(db_int("SELECT min(length(mac)) FROM signing_keys"), 43);

    /* a copy of the untampered database to go back to */
    char good[160], cmd[400];
    snprintf(good, sizeof(good), "%s/good.db", dir);
    snprintf(cmd, sizeof(cmd), "cp %s %s", dbpath, good);
    assert_int_equal(system(cmd), 0);
    assert_int_equal(open_rc(T0 + 181, msg, sizeof(msg)), MD_OK); /* control */

    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        db_exec(cases[i].tamper);
        int rc = open_rc(T0 + 181, msg, sizeof(msg));
        if (rc != MD_JOSE_SEAL_BROKEN ||
            strstr(msg, "stored metadata does not match its seal: the store was modified outside mandated") ==
                NULL)
            fail_msg("%s changed: got %s (%s)", cases[i].what, md_jose_err_name(rc), msg);
        if (cases[i].undo != NULL) {
            db_exec(cases[i].undo);
            rc = open_rc(T0 + 181, msg, sizeof(msg));
            if (rc != MD_OK) fail_msg("%s changed back: %s", cases[i].what, msg);
        }
        restore_db(good);
    }

    /* the kid: the seal itself no longer opens */
    db_exec("UPDATE signing_keys SET kid = CASE substr(kid, 1, 1) WHEN 'A' THEN 'B' ELSE 'A' END || "
            "substr(kid, 2) "
            "WHERE state = 'next'");
    assert_int_equal(open_rc(T0 + 181, msg, sizeof(msg)), MD_JOSE_SEAL_BROKEN);
    assert_non_null(strstr(msg, "does not open"));
    restore_db(good);
    /* a key dropped from the set */
    db_exec("DELETE FROM signing_keys WHERE state = 'retired'");
    assert_int_equal(open_rc(T0 + 181, msg, sizeof(msg)), MD_JOSE_SEAL_BROKEN);
    assert_non_null(strstr(msg, "stored metadata does not match its seal"));
    restore_db(good);
    /* one row's generation alone */
    db_exec("UPDATE signing_keys SET generation = generation + 1 WHERE state = 'next'");
    assert_int_equal(open_rc(T0 + 181, msg, sizeof(msg)), MD_JOSE_SEAL_BROKEN);
    assert_non_null(strstr(msg, "different generations"));
    restore_db(good);
    /* rows as an earlier mandated wrote them (before schema version 4): refused, not re-sealed */
    db_exec("UPDATE signing_keys SET generation = 0, mac = ''");
    assert_int_equal(open_rc(T0 + 181, msg, sizeof(msg)), MD_JOSE_SEAL_BROKEN);
    assert_non_null(strstr(msg, "stored without a MAC"));
    assert_non_null(strstr(msg, "DELETE FROM signing_keys"));
    assert_int_equal(db_int("SELECT count(*) FROM signing_keys WHERE mac = ''"), 3); /* untouched */
    restore_db(good);
    assert_int_equal(open_rc(T0 + 181, msg, sizeof(msg)), MD_OK);
}

static void test_rollback_while_running_reported(void **state)
{
    char logpath[160];
    snprintf(logpath, sizeof(logpath), "%s/log", dir);

    md_store_t *st = store_open();
    md_keys_t *k = keys_open(st, T0); /* generation 1 */
    assert_int_equal(db_int("SELECT max(generation) FROM signing_keys"), 1);
    tick(k, st, &POLICY, T0 + 80, true); /* generation 2: a next key */
    assert_int_equal(db_int("SELECT max(generation) FROM signing_keys"), 2);
    /* someone puts generation 1's rows back behind the running manager */
    md_store_t *other = store_open();
    md_err_t err = {0};
    md_store_signing_key_t one;
    md_arena_t a;
    md_arena_init(&a, 1024);
    md_store_signing_key_t *rows = NULL;
    size_t n = 0;
    assert_int_equal(md_store_signing_keys_list(other, &a, &rows, &n, &err), MD_OK);
    assert_int_equal(n, 2);
    one = rows[0];
    one.generation = 1;
    assert_int_equal(md_store_begin(other, &err), MD_OK);
    assert_int_equal(md_store_signing_keys_replace(other, &one, 1, &err), MD_OK);
    assert_int_equal(md_store_commit(other, &err), MD_OK);
    md_arena_free(&a);
    md_store_close(other);

    int fd = open(logpath, O_WRONLY | O_CREAT | O_TRUNC, 0600);
    assert_true(fd >= 0);
    md_log_set_fd(fd);
    tick(k, st, &POLICY, T0 + 100, true); /* the hand-over: written as generation 3 */
    md_log_set_fd(2);
    close(fd);
    char *text = NULL;
    size_t len = 0;
    assert_int_equal(md_file_read(logpath, 1 << 20, &text, &len, &err), MD_OK);
    if (strstr(text, "the store holds key set generation 1, but this mandated last wrote generation 2") ==
        NULL)
        fail_msg("no report in the log: %s", text);
    free(text);
    assert_int_equal(db_int("SELECT count(*) FROM signing_keys WHERE generation = 3"), 2);
    md_keys_free(k);
    md_store_close(st);
}

/* ------------------------------------------------------------ open, seal, persist */

static void test_first_start_makes_one_sealed_key(void **state)
{
    md_store_t *st = store_open();
    md_keys_t *k = keys_open(st, T0);
    md_keys_view_t *v = md_keys_current(k);

    assert_int_equal(md_keys_view_count(v), 1);
    assert_int_equal(count_state(v, MD_KEY_ACTIVE), 1);
    assert_non_null(md_keys_view_signer_kid(v));
    assert_int_equal(jwks_count(v), 1);
    assert_true(jwks_has(v, md_keys_view_signer_kid(v)));
    assert_null(strstr(md_keys_view_jwks(v).p, "\"d\""));
    assert_int_equal(md_keys_view_generation(v), 1);
    /* overlap 20 → JWKS cacheable for 5 s */
    assert_int_equal(md_keys_view_max_age(v), 5);
    /* verification keys are public only */
    size_t n = 0;
    const md_jwk_t *const *keys = md_keys_view_keys(v, &n);
    assert_int_equal(n, 1);
    assert_false(md_jwk_has_private(keys[0]));

    assert_int_equal(db_int("SELECT count(*) FROM signing_keys"), 1);
    assert_int_equal(db_int("SELECT count(*) FROM signing_keys WHERE state = 'active'"), 1);
    assert_int_equal(db_int("SELECT count(*) FROM signing_keys WHERE sealed LIKE '%PRIVATE%'"), 0);
    assert_false(db_files_contain("PRIVATE KEY"));
    assert_false(db_files_contain("\"d\":"));
    assert_int_equal(
        db_int("SELECT CAST(value AS INTEGER) FROM settings WHERE key = 'keys.lifetime_high_water'"), 30);
    md_keys_view_unref(v);
    md_keys_free(k);
    md_store_close(st);
}

static void test_reopen_same_keys_and_wrong_kek(void **state)
{
    md_store_t *st = store_open();
    md_keys_t *k = keys_open(st, T0);
    tick(k, st, &POLICY, T0 + 80, true); /* a next key */
    md_keys_view_t *v = md_keys_current(k);
    char active[64], next[64];
    snprintf(active, sizeof(active), "%s", kid_in(v, MD_KEY_ACTIVE));
    snprintf(next, sizeof(next), "%s", kid_in(v, MD_KEY_NEXT));
    md_keys_view_unref(v);
    md_keys_free(k);

    k = keys_open(st, T0 + 81);
    v = md_keys_current(k);
    assert_string_equal(kid_in(v, MD_KEY_ACTIVE), active);
    assert_string_equal(kid_in(v, MD_KEY_NEXT), next);
    assert_int_equal(md_keys_view_count(v), 2);
    md_keys_view_unref(v);
    md_keys_free(k);

    /* another KEK does not open the sealed keys */
    FILE *f = fopen(kekpath, "r+");
    fputc('Z', f);
    fclose(f);
    md_keys_opts_t o = {kekpath, true, POLICY};
    md_err_t err = {0};
    assert_int_equal(md_keys_open(st, &o, T0 + 82, &k, &err), MD_JOSE_SEAL_BROKEN);
    assert_null(k);
    /* and a missing KEK is never replaced while sealed keys exist */
    unlink(kekpath);
    md_err_clear(&err);
    assert_int_equal(md_keys_open(st, &o, T0 + 82, &k, &err), MD_ENOENT);
    assert_non_null(strstr(err.msg, "sealed"));
    assert_int_not_equal(access(kekpath, F_OK), 0);
    md_store_close(st);
}

/* ------------------------------------------------------------ the schedule */

static void test_publish_before_sign_and_retire_window(void **state)
{
    md_store_t *st = store_open();
    md_keys_t *k = keys_open(st, T0);
    md_keys_view_t *v = md_keys_current(k);
    char first[64], second[64];
    snprintf(first, sizeof(first), "%s", md_keys_view_signer_kid(v));
    md_keys_view_unref(v);

    /* nothing to do before period - overlap */
    tick(k, st, &POLICY, T0 + 79, false);
    assert_int_equal(md_keys_next_due(k, &POLICY, T0 + 79), T0 + 80);
    tick(k, st, &POLICY, T0 + 80, true);
    v = md_keys_current(k);
    assert_int_equal(md_keys_view_count(v), 2);
    assert_string_equal(md_keys_view_signer_kid(v), first); /* still signing with the first */
    snprintf(second, sizeof(second), "%s", kid_in(v, MD_KEY_NEXT));
    assert_true(jwks_has(v, second)); /* published before it signs */
    assert_int_equal(db_int("SELECT count(*) FROM signing_keys WHERE state = 'next'"), 1);
    md_keys_view_unref(v);
    assert_int_equal(md_keys_next_due(k, &POLICY, T0 + 80), T0 + 100);

    tick(k, st, &POLICY, T0 + 99, false);
    tick(k, st, &POLICY, T0 + 100, true);
    v = md_keys_current(k);
    assert_string_equal(md_keys_view_signer_kid(v), second);
    assert_true(jwks_has(v, first)); /* retired, still published */
    md_keyset_entry_t e = md_keys_view_entry(v, 0);
    assert_int_equal(e.state, MD_KEY_RETIRED);
    assert_int_equal(e.remove_at, T0 + 100 + 30 + MD_JWT_MAX_SKEW);
    md_keys_view_unref(v);

    tick(k, st, &POLICY, T0 + 100 + 30 + MD_JWT_MAX_SKEW - 1, true); /* a next key again at +180 */
    v = md_keys_current(k);
    assert_true(jwks_has(v, first));
    md_keys_view_unref(v);
    tick(k, st, &POLICY, T0 + 100 + 30 + MD_JWT_MAX_SKEW, true);
    v = md_keys_current(k);
    assert_false(jwks_has(v, first)); /* gone once every token it signed expired */
    assert_int_equal(count_state(v, MD_KEY_RETIRED), 0);
    md_keys_view_unref(v);
    assert_int_equal(db_int("SELECT count(*) FROM signing_keys WHERE state = 'retired'"), 0);
    md_keys_free(k);
    md_store_close(st);
}

static void test_lowered_lifetime_keeps_retired_key_long_enough(void **state)
{
    md_store_t *st = store_open();
    md_keys_t *k = keys_open(st, T0); /* the active key signs with lifetime 30 */
    md_keyset_policy_t shorter = POLICY;
    shorter.max_token_lifetime = 10;

    tick(k, st, &shorter, T0 + 10, true); /* policy changed: a new view, lifetime 10 for new tokens */
    md_keys_view_t *v = md_keys_current(k);
    assert_int_equal(md_keys_view_policy(v)->max_token_lifetime, 10);
    md_keys_view_unref(v);
    tick(k, st, &shorter, T0 + 80, true);
    tick(k, st, &shorter, T0 + 100, true);
    v = md_keys_current(k);
    md_keyset_entry_t e = md_keys_view_entry(v, 0);
    assert_int_equal(e.state, MD_KEY_RETIRED);
    /* tokens signed before the change may live 30 s: the key stays for them */
    assert_int_equal(e.remove_at, T0 + 100 + 30 + MD_JWT_MAX_SKEW);
    md_keys_view_unref(v);
    /* the new signer started under lifetime 10: the high-water mark follows */
    assert_int_equal(
        db_int("SELECT CAST(value AS INTEGER) FROM settings WHERE key = 'keys.lifetime_high_water'"), 10);
    md_keys_free(k);
    md_store_close(st);
}

static void test_nothing_published_while_the_store_refuses(void **state)
{
    md_store_t *st = store_open();
    md_keys_t *k = keys_open(st, T0);
    md_store_t *other = store_open();
    md_err_t err = {0};
    bool published = true;

    assert_int_equal(md_store_begin(other, &err), MD_OK); /* holds the write lock */
    assert_int_not_equal(md_keys_tick(k, st, &POLICY, T0 + 80, &published, &err), MD_OK);
    assert_false(published);
    md_keys_view_t *v = md_keys_current(k);
    assert_int_equal(md_keys_view_count(v), 1); /* the next key is not announced */
    assert_int_equal(md_keys_view_generation(v), 1);
    md_keys_view_unref(v);
    assert_int_equal(md_keys_next_due(k, &POLICY, T0 + 80), T0 + 81); /* retry soon */
    md_store_rollback(other);
    md_store_close(other);

    tick(k, st, &POLICY, T0 + 81, true);
    v = md_keys_current(k);
    assert_int_equal(md_keys_view_count(v), 2);
    assert_int_equal(db_int("SELECT count(*) FROM signing_keys"), 2);
    md_keys_view_unref(v);
    md_keys_free(k);
    md_store_close(st);
}

static void test_views_outlive_the_manager(void **state)
{
    md_store_t *st = store_open();
    md_keys_t *k = keys_open(st, T0);
    md_keys_view_t *old = md_keys_current(k);
    tick(k, st, &POLICY, T0 + 80, true);
    md_keys_view_t *cur = md_keys_current(k);
    assert_int_equal(md_keys_view_generation(old), 1);
    assert_int_equal(md_keys_view_generation(cur), 2);
    md_keys_free(k);
    /* a worker's reference stays valid */
    assert_int_equal(jwks_count(old), 1);
    assert_int_equal(jwks_count(cur), 2);
    md_keys_view_unref(old);
    md_keys_view_unref(cur);
    md_store_close(st);
}

/* ------------------------------------------------------------ signing */

static uint64_t tokens_issued(void)
{
    md_buf_t b;
    md_buf_init(&b);
    md_metrics_render(&b);
    const char *p = strstr(b.p, "\nmandate_tokens_issued_total ");
    uint64_t n = p ? strtoull(p + 29, NULL, 10) : 0;
    md_buf_free(&b);
    return n;
}

static void test_sign_jwt(void **state)
{
    md_store_t *st = store_open();
    md_keys_t *k = keys_open(st, T0);
    md_keys_view_t *v = md_keys_current(k);
    md_buf_t out;
    md_err_t err = {0};
    uint64_t before = tokens_issued();

    md_buf_init(&out);
    json_t *claims = json_pack("{s:s, s:s, s:I, s:I}", "iss", "http://127.0.0.1:7744", "sub", "spiffe://td/a",
                               "iat", (json_int_t)T0, "exp", (json_int_t)(T0 + 30));
    assert_int_equal(md_keys_sign_jwt(v, T0, "JWT", claims, &out, &err), MD_OK);
    assert_int_equal(tokens_issued(), before + 1);

    size_t n = 0;
    const md_jwk_t *const *keys = md_keys_view_keys(v, &n);
    md_jwt_verify_opts_t vo = {.now = T0 + 1, .iss = "http://127.0.0.1:7744"};
    md_jwt_t jwt;
    memset(&jwt, 0, sizeof(jwt));
    assert_int_equal(md_jwt_verify(keys, n, (md_str_t){out.p, out.n}, &vo, &jwt, &err), MD_OK);
    assert_string_equal(md_jwk_kid(jwt.key), md_keys_view_signer_kid(v));
    md_jwt_free(&jwt);

    /* exp beyond the lifetime, in the past, or missing: refused and not counted */
    json_object_set_new(claims, "exp", json_integer(T0 + 31));
    md_buf_reset(&out);
    assert_int_equal(md_keys_sign_jwt(v, T0, NULL, claims, &out, &err), MD_JOSE_BAD_CLAIM);
    assert_int_equal(out.n, 0);
    json_object_set_new(claims, "exp", json_integer(T0));
    assert_int_equal(md_keys_sign_jwt(v, T0, NULL, claims, &out, &err), MD_JOSE_BAD_CLAIM);
    json_object_del(claims, "exp");
    assert_int_equal(md_keys_sign_jwt(v, T0, NULL, claims, &out, &err), MD_JOSE_BAD_CLAIM);
    assert_int_equal(tokens_issued(), before + 1);
    json_decref(claims);
    md_buf_free(&out);
    md_keys_view_unref(v);
    md_keys_free(k);
    md_store_close(st);
}

static void test_eddsa(void **state)
{
    md_store_t *st = store_open();
    md_keys_opts_t o = {kekpath, true, POLICY};
    o.policy.alg = MD_JOSE_EDDSA;
    md_keys_t *k = NULL;
    md_err_t err = {0};
    assert_int_equal(md_keys_open(st, &o, T0, &k, &err), MD_OK);
    md_keys_view_t *v = md_keys_current(k);
    assert_non_null(strstr(md_keys_view_jwks(v).p, "\"crv\":\"Ed25519\""));
    assert_int_equal(db_int("SELECT count(*) FROM signing_keys WHERE alg = 'EdDSA'"), 1);
    md_keys_view_unref(v);
    md_keys_free(k);
    md_store_close(st);
}

/* ------------------------------------------------------------ configuration */

static md_config_t *conf(const char *text, md_conf_diag_t *d)
{
    md_config_overrides_t ov = {"/var/lib/mandate", -1};
    md_config_t *cfg = NULL;
    md_conf_diag_init(d);
    if (md_config_parse_text("t.conf", text, strlen(text), &ov, &cfg, d) != MD_OK) return NULL;
    return cfg;
}

static void changed_cb(const char *key, void *arg)
{
    md_buf_adds(arg, key);
    md_buf_addc(arg, ';');
}

static void test_config_keys(void **state)
{
    md_conf_diag_t d;
    md_keyset_policy_t p;
    md_config_t *cfg = conf("listen: 127.0.0.1:7744\n", &d);
    assert_non_null(cfg);
    assert_null(cfg->issuer); /* derived by the snapshot from the listen address that runs */
    assert_string_equal(cfg->keys_kek_file, "/var/lib/mandate/kek");
    md_keys_policy_from_config(cfg, &p);
    assert_int_equal(p.alg, MD_JOSE_ES256);
    assert_int_equal(p.rotation_period, 86400);
    assert_int_equal(p.overlap, 3600);
    assert_int_equal(p.max_token_lifetime, 3600);
    md_snapshot_t *snap = NULL;
    assert_int_equal(md_snapshot_build(cfg, 1, NULL, &snap, &d), MD_OK);
    assert_string_equal(snap->issuer, "http://127.0.0.1:7744");
    md_snapshot_unref(snap);
    md_conf_diag_free(&d);

    /* a reload that changes only the (restart-only) listen address reports only that */
    md_config_t *old = conf("listen: 127.0.0.1:1\n", &d);
    md_conf_diag_free(&d);
    md_config_t *next = conf("listen: 127.0.0.1:2\n", &d);
    md_buf_t changed;
    md_buf_init(&changed);
    assert_int_equal(md_config_keep_restart_keys(next, old, changed_cb, &changed), MD_OK);
    assert_string_equal(changed.p, "listen;");
    md_buf_free(&changed);
    md_config_free(old);
    md_config_free(next);
    md_conf_diag_free(&d);

    cfg = conf("issuer: https://mandate.example.org\nkeys:\n  algorithm: EdDSA\n  rotation_period: 8s\n"
               "  kek_file: /secrets/kek\n",
               &d);
    assert_non_null(cfg);
    md_keys_policy_from_config(cfg, &p);
    assert_int_equal(p.alg, MD_JOSE_EDDSA);
    assert_int_equal(p.rotation_period, 8);
    assert_int_equal(p.overlap, 2);            /* a quarter */
    assert_int_equal(p.max_token_lifetime, 8); /* at most the period */
    assert_string_equal(cfg->issuer, "https://mandate.example.org");
    assert_string_equal(cfg->keys_kek_file, "/secrets/kek");
    assert_int_not_equal(md_config_line(cfg, "keys.kek_file"), 0);
    snap = NULL;
    assert_int_equal(md_snapshot_build(cfg, 1, NULL, &snap, &d), MD_OK); /* takes cfg */
    assert_string_equal(snap->issuer, "https://mandate.example.org");
    md_snapshot_unref(snap);
    md_conf_diag_free(&d);
}

static void expect_bad(const char *text, const char *want)
{
    md_conf_diag_t d;
    md_config_t *cfg = conf(text, &d);
    if (cfg != NULL) fail_msg("expected an error for:\n%s", text);
    if (d.text.p == NULL || strstr(d.text.p, want) == NULL)
        fail_msg("expected `%s` in:\n%s", want, d.text.p ? d.text.p : "(nothing)");
    md_conf_diag_free(&d);
}

static void test_config_keys_refused(void **state)
{
    expect_bad("keys:\n  rotation_period: 1s\n", "t.conf:2: key `keys.rotation_period`");
    expect_bad("keys:\n  rotation_period: 6500ms\n", "whole number of seconds");
    expect_bad("keys:\n  rotation_period: 10s\n  overlap: 10s\n",
               "t.conf:3: key `keys.overlap`: must be shorter");
    expect_bad("keys:\n  rotation_period: 10s\n  max_token_lifetime: 11s\n",
               "t.conf:3: key `keys.max_token_lifetime`: must not be longer");
    expect_bad("keys:\n  algorithm: RS256\n", "key `keys.algorithm`");
    expect_bad("keys:\n  bogus: 1\n", "key `keys.bogus`: unknown key");
    expect_bad("issuer: https://a.example/path\n", "not an issuer URL");
    expect_bad("issuer: https://a.example/\n", "not an issuer URL");
    expect_bad("issuer: ftp://a.example\n", "not an issuer URL");
    expect_bad("issuer: https://a.example?x=1\n", "not an issuer URL");
    expect_bad("issuer: https://user@a.example\n", "not an issuer URL");
    expect_bad("issuer: https://a.example:0\n", "not an issuer URL");
    expect_bad("issuer: https://a.example:99999\n", "not an issuer URL");

    md_conf_diag_t d;
    md_config_t *cfg = conf("issuer: http://[::1]:7744\n", &d);
    assert_non_null(cfg);
    md_config_free(cfg);
    md_conf_diag_free(&d);
}

#define T(f) cmocka_unit_test_setup_teardown(f, setup, teardown)

int main(void)
{
    const struct CMUnitTest tests[] = {
        T(test_kek_created_private_and_reloaded),
        T(test_kek_refusals),
        T(test_kek_planted_symlink_never_followed),
        T(test_kek_fifo_refused_at_once),
        T(test_kek_links_owner_and_folder),
        T(test_keyfile_publish_never_replaces),
        T(test_first_start_makes_one_sealed_key),
        T(test_reopen_same_keys_and_wrong_kek),
        T(test_publish_before_sign_and_retire_window),
        T(test_lowered_lifetime_keeps_retired_key_long_enough),
        T(test_nothing_published_while_the_store_refuses),
        T(test_views_outlive_the_manager),
        T(test_sign_jwt),
        T(test_eddsa),
        T(test_tampered_metadata_refused),
        T(test_rollback_while_running_reported),
        T(test_config_keys),
        T(test_config_keys_refused),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
