/*
 * test_config.c: unit tests for src/core/config.c (the directive-table YAML
 * parser and the daemon's table) and src/core/log.c (line format, escaping,
 * levels, secret hashing).
 *
 * Every error test checks the three things an operator needs: the file, the
 * line and the key.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/config.h"
#include "core/log.h"

/* ------------------------------------------------------------ helpers */

static const md_config_overrides_t with_dir = {"/var/lib/mandate", -1};
static const md_config_overrides_t no_ov = {NULL, -1};

static md_config_t *parse_ok(const char *text, const md_config_overrides_t *ov)
{
    md_conf_diag_t d;
    md_config_t *cfg = NULL;
    md_conf_diag_init(&d);
    int rc = md_config_parse_text("test.conf", text, strlen(text), ov, &cfg, &d);
    if (rc != MD_OK) fail_msg("expected the config to parse, got:\n%s", d.text.p ? d.text.p : "(no message)");
    assert_non_null(cfg);
    md_conf_diag_free(&d);
    return cfg;
}

/* Parse text expecting failure; every string in wants must appear in the report. */
static void parse_bad(const char *text, const md_config_overrides_t *ov, int nerrors, ...)
{
    md_conf_diag_t d;
    md_config_t *cfg = NULL;
    va_list ap;
    const char *want;

    md_conf_diag_init(&d);
    int rc = md_config_parse_text("test.conf", text, strlen(text), ov, &cfg, &d);
    if (rc == MD_OK) fail_msg("expected an error for:\n%s", text);
    assert_null(cfg);
    if (nerrors > 0 && d.count != nerrors)
        fail_msg("expected %d errors, got %d:\n%s", nerrors, d.count, d.text.p ? d.text.p : "");
    va_start(ap, nerrors);
    while ((want = va_arg(ap, const char *)) != NULL)
        if (d.text.p == NULL || strstr(d.text.p, want) == NULL)
            fail_msg("expected `%s` in:\n%s", want, d.text.p ? d.text.p : "(nothing)");
    va_end(ap);
    md_conf_diag_free(&d);
}

static char tmpdir[64];

static int setup_tmp(void **state)
{
    snprintf(tmpdir, sizeof(tmpdir), "/tmp/md-test-config-XXXXXX");
    return mkdtemp(tmpdir) ? 0 : -1;
}

static int teardown_tmp(void **state)
{
    char cmd[128];
    snprintf(cmd, sizeof(cmd), "rm -rf %s", tmpdir);
    return system(cmd) == 0 ? 0 : -1;
}

static void write_file(const char *path, const char *text, mode_t mode)
{
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    fputs(text, f);
    fclose(f);
    assert_int_equal(chmod(path, mode), 0);
}

/* ------------------------------------------------------------ defaults and values */

static void test_defaults(void **state)
{
    md_config_t *cfg = parse_ok("", &with_dir);
    assert_string_equal(cfg->listen, "127.0.0.1:7744");
    assert_string_equal(cfg->data_dir, "/var/lib/mandate");
    assert_int_equal(cfg->log_format, MD_LOG_TEXT);
    assert_int_equal(cfg->log_level, MD_LOG_INFO);
    assert_null(cfg->tls_cert);
    assert_null(cfg->tls_key);
    assert_int_equal(cfg->max_body, 1024 * 1024);
    assert_int_equal(cfg->header_timeout, 10000);
    assert_int_equal(cfg->body_timeout, 10000);
    assert_int_equal(cfg->max_connections, 1024);
    assert_int_equal(cfg->workers, 0);
    assert_int_equal(cfg->store_backend, MD_STORE_BACKEND_SQLITE);
    assert_string_equal(cfg->store_path, "/var/lib/mandate/mandate.db");
    assert_int_equal(md_config_line(cfg, "listen"), 0);
    md_config_free(cfg);
}

static void test_every_key(void **state)
{
    md_config_t *cfg = parse_ok("# a comment\n"
                                "listen: \"[::1]:9000\"\n"
                                "data_dir: /srv/mandate\n"
                                "workers: 3\n"
                                "log_format: json\n"
                                "log_level: debug\n"
                                "limits:\n"
                                "  max_body: 512KiB\n"
                                "  header_timeout: 1m30s\n"
                                "  body_timeout: 250ms\n"
                                "  max_connections: 50\n"
                                "store:\n"
                                "  backend: sqlite\n"
                                "  path: /srv/db/m.db\n",
                                &no_ov);
    assert_string_equal(cfg->listen, "[::1]:9000");
    assert_string_equal(cfg->data_dir, "/srv/mandate");
    assert_int_equal(cfg->workers, 3);
    assert_int_equal(cfg->log_format, MD_LOG_JSON);
    assert_int_equal(cfg->log_level, MD_LOG_DEBUG);
    assert_int_equal(cfg->max_body, 512 * 1024);
    assert_int_equal(cfg->header_timeout, 90000);
    assert_int_equal(cfg->body_timeout, 250);
    assert_int_equal(cfg->max_connections, 50);
    assert_string_equal(cfg->store_path, "/srv/db/m.db");
    assert_int_equal(md_config_line(cfg, "listen"), 2);
    assert_int_equal(md_config_line(cfg, "limits.body_timeout"), 10);
    assert_int_equal(md_config_line(cfg, "store.path"), 14);
    md_config_free(cfg);
}

static void test_sizes_and_durations(void **state)
{
    static const struct {
        const char *text;
        int64_t bytes;
    } sizes[] = {{"1", 1},          {"1048576", 1048576}, {"2k", 2048},         {"3K", 3072},
                 {"1MiB", 1 << 20}, {"1m", 1 << 20},      {"64 MiB", 64 << 20}, {"100B", 100}};
    static const struct {
        const char *text;
        int64_t ms;
    } durs[] = {{"10", 10000},   {"10s", 10000},   {"100ms", 100},   {"2m", 120000},
                {"1h", 3600000}, {"1m30s", 90000}, {"1s500ms", 1500}};
    char text[128];

    for (size_t i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++) {
        snprintf(text, sizeof(text), "limits:\n  max_body: %s\n", sizes[i].text);
        md_config_t *cfg = parse_ok(text, &with_dir);
        if (cfg->max_body != sizes[i].bytes)
            fail_msg("%s: got %lld", sizes[i].text, (long long)cfg->max_body);
        md_config_free(cfg);
    }
    for (size_t i = 0; i < sizeof(durs) / sizeof(durs[0]); i++) {
        snprintf(text, sizeof(text), "limits:\n  header_timeout: %s\n", durs[i].text);
        md_config_t *cfg = parse_ok(text, &with_dir);
        if (cfg->header_timeout != durs[i].ms)
            fail_msg("%s: got %lld", durs[i].text, (long long)cfg->header_timeout);
        md_config_free(cfg);
    }
}

static void test_overrides(void **state)
{
    md_config_overrides_t ov = {"/override", MD_LOG_JSON};
    md_config_t *cfg = parse_ok("data_dir: /in/file\nlog_format: text\n", &ov);
    assert_string_equal(cfg->data_dir, "/override");
    assert_string_equal(cfg->store_path, "/override/mandate.db");
    assert_int_equal(cfg->log_format, MD_LOG_JSON);
    md_config_free(cfg);
}

/* ------------------------------------------------------------ errors name file, line and key */

static void test_unknown_keys(void **state)
{
    parse_bad("listen: 127.0.0.1:1\nbogus: 3\n", &with_dir, 1, "test.conf:2: key `bogus`: unknown key", NULL);
    parse_bad("tls:\n  certificate: /x\n", &with_dir, 1, "test.conf:2: key `tls.certificate`: unknown key",
              NULL);
    parse_bad("limits:\n  max_body: 1k\n  nope: 1\n", &with_dir, 1, "test.conf:3: key `limits.nope`", NULL);
    /* one spelling only: sections are nested mappings */
    parse_bad("tls.cert: /x\n", &with_dir, 1, "test.conf:1: key `tls.cert`", "nested", NULL);
}

static void test_every_error_is_reported(void **state)
{
    parse_bad("a: 1\n"
              "log_format: xml\n"
              "limits:\n"
              "  max_body: lots\n"
              "  header_timeout: 10 parsecs\n"
              "  max_connections: 0\n",
              &with_dir, 5, "test.conf:1: key `a`: unknown key",
              "test.conf:2: key `log_format`: `xml` is not one of: text, json",
              "test.conf:4: key `limits.max_body`: `lots` is not a size",
              "test.conf:5: key `limits.header_timeout`: `10 parsecs` is not a duration",
              "test.conf:6: key `limits.max_connections`: `0` is out of range (1..1000000)", NULL);
}

static void test_type_errors(void **state)
{
    parse_bad("listen: [1, 2]\n", &with_dir, 1,
              "test.conf:1: key `listen`: expected a single value, found a list", NULL);
    parse_bad("limits: 5\n", &with_dir, 1, "test.conf:1: key `limits`: expected a mapping", NULL);
    parse_bad("listen:\n", &with_dir, 1, "test.conf:1: key `listen`: a value is required", NULL);
    parse_bad("listen: \"\"\n", &with_dir, 1, "key `listen`: value must not be empty", NULL);
    parse_bad("workers: -1\n", &with_dir, 1, "key `workers`: `-1` is out of range (0..256)", NULL);
    parse_bad("workers: 99999999999999999999\n", &with_dir, 1,
              "key `workers`: `99999999999999999999` is too large", NULL);
    parse_bad("limits:\n  body_timeout: 50ms\n", &with_dir, 1, "out of range (100ms..3600s)", NULL);
    parse_bad("limits:\n  max_body: 1GiB\n", &with_dir, 1, "key `limits.max_body`: `1GiB` is out of range",
              NULL);
    parse_bad("limits:\n  max_body: 99999999999G\n", &with_dir, 1, "is too large", NULL);
    parse_bad("data_dir: &a /x\nstore:\n  path: *a\n", NULL, 0, "key `store.path`", "alias", NULL);
}

static void test_listen(void **state)
{
    parse_bad("listen: localhost:7744\n", &with_dir, 1, "test.conf:1: key `listen`", "must be an IP address",
              NULL);
    parse_bad("listen: 127.0.0.1:70000\n", &with_dir, 1, "key `listen`", "1..65535", NULL);
    parse_bad("listen: 127.0.0.1\n", &with_dir, 1, "key `listen`", "host:port", NULL);
    parse_bad("listen: \"[::1\"\n", &with_dir, 1, "key `listen`", "[addr]:port", NULL);
    md_config_t *cfg = parse_ok("listen: 0.0.0.0:1\n", &with_dir);
    md_config_free(cfg);

    struct sockaddr_storage ss;
    socklen_t len;
    char msg[128];
    assert_int_equal(md_listen_parse("127.0.0.1:7744", &ss, &len, msg, sizeof(msg)), 0);
    assert_int_equal(ss.ss_family, AF_INET);
    assert_int_equal(md_listen_parse("[::1]:7744", &ss, &len, msg, sizeof(msg)), 0);
    assert_int_equal(ss.ss_family, AF_INET6);
    assert_int_equal(md_listen_parse("127.0.0.1:", &ss, &len, msg, sizeof(msg)), -1);
    assert_int_equal(md_listen_parse("127.0.0.1:0", &ss, &len, msg, sizeof(msg)), -1);
    assert_int_equal(md_listen_parse(":80", &ss, &len, msg, sizeof(msg)), -1);
    assert_int_equal(md_listen_parse("1.2.3.4.5:80", &ss, &len, msg, sizeof(msg)), -1);
}

static void test_cross_key_checks(void **state)
{
    parse_bad("", &no_ov, 1, "test.conf: key `data_dir`: required", "--data-dir", NULL);
    parse_bad("store:\n  backend: postgres\n", &with_dir, 1, "test.conf:2: key `store.backend`",
              "not available in this build", NULL);
    parse_bad("tls:\n  cert: /etc/x.pem\n", &with_dir, 0,
              "test.conf:2: key `tls.key`: required when `tls.cert` is set", NULL);
    parse_bad("tls:\n  key: /etc/k.pem\n", &with_dir, 0, "key `tls.cert`: required when `tls.key` is set",
              NULL);
    parse_bad("tls:\n  cert: /nonexistent/c.pem\n  key: /nonexistent/k.pem\n", &with_dir, 2,
              "test.conf:2: key `tls.cert`: /nonexistent/c.pem", "test.conf:3: key `tls.key`", NULL);
}

static void test_yaml_errors(void **state)
{
    parse_bad("listen: 1\nlisten: 2\n", &with_dir, 0, "test.conf:2:", "duplicate key", NULL);
    parse_bad("limits: {max_body: 1k\nworkers: 1\n", &with_dir, 0, "test.conf:", "YAML", NULL);
    parse_bad("- a\n- b\n", &with_dir, 1, "must be a mapping of keys, found a list", NULL);
    parse_bad("workers: 1\n---\nworkers: 2\n", &with_dir, 1, "more than one YAML document", NULL);
    char nul[] = "workers: 1\n\0x: 1\n";
    md_conf_diag_t d;
    md_config_t *cfg = NULL;
    md_conf_diag_init(&d);
    assert_int_equal(md_config_parse_text("test.conf", nul, sizeof(nul) - 1, &with_dir, &cfg, &d), MD_EINVAL);
    assert_non_null(strstr(d.text.p, "NUL"));
    md_conf_diag_free(&d);
}

/* ------------------------------------------------------------ files */

static void test_file_permissions(void **state)
{
    char path[128], msg[512];
    md_conf_diag_t d;
    md_config_t *cfg = NULL;

    snprintf(path, sizeof(path), "%s/mandate.conf", tmpdir);
    write_file(path, "data_dir: data\nlog_level: warn\n", 0644);
    md_conf_diag_init(&d);
    assert_int_equal(md_config_load(path, &no_ov, &cfg, &d), MD_EINVAL);
    assert_null(cfg);
    assert_non_null(strstr(d.text.p, "mode 0644 is too open"));
    assert_non_null(strstr(d.text.p, "chmod 600"));
    assert_int_equal(md_conf_check_private(path, -1, msg, sizeof(msg)), -1);
    md_conf_diag_free(&d);

    /* 0600: accepted; relative paths are relative to the file's folder */
    assert_int_equal(chmod(path, 0600), 0);
    md_conf_diag_init(&d);
    assert_int_equal(md_config_load(path, &no_ov, &cfg, &d), MD_OK);
    char want[160];
    snprintf(want, sizeof(want), "%s/data", tmpdir);
    char *real = realpath(tmpdir, NULL);
    snprintf(want, sizeof(want), "%s/data", real);
    free(real);
    assert_string_equal(cfg->data_dir, want);
    assert_int_equal(cfg->log_level, MD_LOG_WARN);
    md_config_free(cfg);
    md_conf_diag_free(&d);

    /* 0640 and 0604 are refused too */
    assert_int_equal(chmod(path, 0640), 0);
    assert_int_equal(md_conf_check_private(path, -1, msg, sizeof(msg)), -1);
    assert_int_equal(chmod(path, 0604), 0);
    assert_int_equal(md_conf_check_private(path, -1, msg, sizeof(msg)), -1);
    assert_int_equal(chmod(path, 0400), 0);
    assert_int_equal(md_conf_check_private(path, -1, msg, sizeof(msg)), 0);

    /* a missing file names itself */
    snprintf(path, sizeof(path), "%s/missing.conf", tmpdir);
    md_conf_diag_init(&d);
    assert_int_not_equal(md_config_load(path, &no_ov, &cfg, &d), MD_OK);
    assert_non_null(strstr(d.text.p, "missing.conf: cannot open"));
    md_conf_diag_free(&d);

    /* a folder is not a config file */
    md_conf_diag_init(&d);
    assert_int_not_equal(md_config_load(tmpdir, &no_ov, &cfg, &d), MD_OK);
    md_conf_diag_free(&d);
}

static void test_tls_file_permissions(void **state)
{
    char cert[128], key[128], text[512];
    md_conf_diag_t d;
    md_config_t *cfg = NULL;

    snprintf(cert, sizeof(cert), "%s/cert.pem", tmpdir);
    snprintf(key, sizeof(key), "%s/key.pem", tmpdir);
    write_file(cert, "not a cert\n", 0600);
    write_file(key, "not a key\n", 0644);
    snprintf(text, sizeof(text), "tls:\n  cert: %s\n  key: %s\n", cert, key);
    parse_bad(text, &with_dir, 1, "test.conf:3: key `tls.key`", "mode 0644 is too open", NULL);
    assert_int_equal(chmod(key, 0600), 0);
    md_conf_diag_init(&d);
    /* permissions are the config loader's business; whether the PEM parses is the TLS loader's */
    assert_int_equal(md_config_parse_text("test.conf", text, strlen(text), &with_dir, &cfg, &d), MD_OK);
    assert_string_equal(cfg->tls_cert, cert);
    md_config_free(cfg);
    md_conf_diag_free(&d);
}

/* ------------------------------------------------------------ reload */

static void changed_cb(const char *key, void *arg)
{
    md_buf_t *b = arg;
    md_buf_adds(b, key);
    md_buf_addc(b, ';');
}

static void test_keep_restart_keys(void **state)
{
    md_config_t *old = parse_ok("listen: 127.0.0.1:1\nworkers: 2\nlimits:\n  max_body: 1k\n", &with_dir);
    md_config_t *next = parse_ok("listen: 127.0.0.1:2\nworkers: 2\nlimits:\n  max_body: 2k\n", &with_dir);
    md_buf_t changed;
    md_buf_init(&changed);
    assert_int_equal(md_config_keep_restart_keys(next, old, changed_cb, &changed), MD_OK);
    assert_string_equal(changed.p, "listen;");
    assert_string_equal(next->listen, "127.0.0.1:1"); /* the running value, kept */
    assert_int_equal(next->max_body, 2048);           /* reloadable: the new value */
    md_buf_free(&changed);
    md_config_free(next);
    /* the old config can go: next owns its copy */
    md_config_free(old);
}

/* ------------------------------------------------------------ the generic engine: bool and list */

typedef struct toy {
    bool flag;
    md_conf_list_t names;
    const char *word;
} toy_t;

static int validate_word(const md_conf_directive_t *d, const void *field, char *msg, size_t msgsz)
{
    if (strcmp(*(const char *const *)field, "forbidden") == 0) {
        snprintf(msg, msgsz, "that word is not allowed");
        return -1;
    }
    return 0;
}

static const md_conf_directive_t toy_table[] = {
    {"flag", MD_CONF_BOOL, offsetof(toy_t, flag), "false", 0, 0, NULL, NULL, 0},
    {"names", MD_CONF_LIST, offsetof(toy_t, names), NULL, 0, 0, NULL, NULL, 0},
    {"deep.word", MD_CONF_STRING, offsetof(toy_t, word), "hello", 0, 0, NULL, validate_word, 0},
};

static int toy_parse(const char *text, toy_t *t, md_arena_t *a, md_conf_diag_t *d)
{
    memset(t, 0, sizeof(*t));
    return md_conf_parse("toy.yaml", text, strlen(text), NULL, toy_table, 3, t, NULL, a, d);
}

static void test_generic_types(void **state)
{
    md_arena_t a;
    md_conf_diag_t d;
    toy_t t;

    md_arena_init(&a, 1024);
    md_conf_diag_init(&d);
    assert_int_equal(toy_parse("", &t, &a, &d), MD_OK);
    assert_false(t.flag);
    assert_int_equal(t.names.n, 0);
    assert_string_equal(t.word, "hello");

    assert_int_equal(toy_parse("flag: true\nnames: [a, b, \"c d\"]\ndeep:\n  word: bye\n", &t, &a, &d),
                     MD_OK);
    assert_true(t.flag);
    assert_int_equal(t.names.n, 3);
    assert_string_equal(t.names.items[2], "c d");
    assert_string_equal(t.word, "bye");

    assert_int_equal(toy_parse("flag: yes\n", &t, &a, &d), MD_EINVAL);
    assert_non_null(strstr(d.text.p, "toy.yaml:1: key `flag`: `yes` is not a boolean"));
    md_conf_diag_free(&d);
    md_conf_diag_init(&d);
    assert_int_equal(toy_parse("names: a\n", &t, &a, &d), MD_EINVAL);
    assert_non_null(strstr(d.text.p, "key `names`: expected a list, found a scalar"));
    md_conf_diag_free(&d);
    md_conf_diag_init(&d);
    assert_int_equal(toy_parse("names: [a, [b]]\n", &t, &a, &d), MD_EINVAL);
    md_conf_diag_free(&d);
    md_conf_diag_init(&d);
    assert_int_equal(toy_parse("deep:\n  word: forbidden\n", &t, &a, &d), MD_EINVAL);
    assert_non_null(strstr(d.text.p, "toy.yaml:2: key `deep.word`: that word is not allowed"));
    md_conf_diag_free(&d);

    /* more errors than the report holds: counted, not lost */
    md_buf_t many;
    md_buf_init(&many);
    for (int i = 0; i < MD_CONF_MAX_ERRORS + 5; i++)
        md_buf_printf(&many, "k%d: 1\n", i);
    md_conf_diag_init(&d);
    assert_int_equal(toy_parse(many.p, &t, &a, &d), MD_EINVAL);
    assert_int_equal(d.count, MD_CONF_MAX_ERRORS);
    assert_int_equal(d.dropped, 5);
    md_conf_diag_free(&d);
    md_buf_free(&many);
    md_arena_free(&a);
}

/* ------------------------------------------------------------ log */

static char *capture(void (*emit)(void))
{
    int fds[2];
    static char out[8192];
    assert_int_equal(pipe(fds), 0);
    md_log_set_fd(fds[1]);
    emit();
    md_log_set_fd(2);
    close(fds[1]);
    ssize_t n = read(fds[0], out, sizeof(out) - 1);
    close(fds[0]);
    out[n > 0 ? n : 0] = '\0';
    return out;
}

static void emit_text(void)
{
    md_log_set_format(MD_LOG_TEXT);
    md_log_set_level(MD_LOG_INFO);
    md_log(MD_LOG_INFO, "abc123", "hello %d\nforged line", 42);
    md_log_debug("not shown at info");
}

static void emit_json(void)
{
    md_log_set_format(MD_LOG_JSON);
    md_log(MD_LOG_WARN, "r1", "quote \" and \x01 control");
    md_log_error("no request");
    md_log_set_format(MD_LOG_TEXT);
}

static void test_log_lines(void **state)
{
    char *out = capture(emit_text);
    /* one line, escaped newline, the request id, the level */
    assert_non_null(strstr(out, " info [req=abc123] hello 42\\nforged line\n"));
    assert_null(strstr(out, "not shown"));
    assert_int_equal(strchr(out, '\n') - out + 1, (long)strlen(out));

    out = capture(emit_json);
    assert_non_null(strstr(
        out, "\"level\":\"warn\",\"request_id\":\"r1\",\"msg\":\"quote \\\" and \\u0001 control\"}\n"));
    assert_non_null(strstr(out, "\"level\":\"error\",\"msg\":\"no request\"}\n"));
    assert_true(out[0] == '{');
}

static void test_log_hash(void **state)
{
    char h[MD_LOG_HASH_SIZE];
    md_log_hash(h, "abc", 3);
    /* SHA-256("abc") = ba7816bf8f01cfea… */
    assert_string_equal(h, "sha256:ba7816bf8f01cfea");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_defaults),
        cmocka_unit_test(test_every_key),
        cmocka_unit_test(test_sizes_and_durations),
        cmocka_unit_test(test_overrides),
        cmocka_unit_test(test_unknown_keys),
        cmocka_unit_test(test_every_error_is_reported),
        cmocka_unit_test(test_type_errors),
        cmocka_unit_test(test_listen),
        cmocka_unit_test(test_cross_key_checks),
        cmocka_unit_test(test_yaml_errors),
        cmocka_unit_test_setup_teardown(test_file_permissions, setup_tmp, teardown_tmp),
        cmocka_unit_test_setup_teardown(test_tls_file_permissions, setup_tmp, teardown_tmp),
        cmocka_unit_test(test_keep_restart_keys),
        cmocka_unit_test(test_generic_types),
        cmocka_unit_test(test_log_lines),
        cmocka_unit_test(test_log_hash),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
