/*
 * test_client.c: unit tests for the CLI's HTTP client (cmd/mandate/client.c,
 * included here since the CLI is not part of the library): addresses,
 * response parsing (Content-Length, chunked, end of data, malformed),
 * path-segment encoding, the token file's checks, and the environment.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "../../cmd/mandate/client.c"

static void addr_ok(const char *s, bool tls, const char *host, const char *port, bool ipv6)
{
    md_client_addr_t a;
    md_err_t err = {0};
    if (md_client_addr_parse(s, &a, &err) != MD_OK) fail_msg("%s: %s", s, err.msg);
    assert_int_equal(a.tls, tls);
    assert_string_equal(a.host, host);
    assert_string_equal(a.port, port);
    assert_int_equal(a.ipv6, ipv6);
}

static void addr_bad(const char *s)
{
    md_client_addr_t a;
    md_err_t err = {0};
    if (md_client_addr_parse(s, &a, &err) == MD_OK) fail_msg("accepted %s", s);
    assert_true(err.msg[0] != '\0');
}

static void test_addresses(void **state)
{
    addr_ok("http://127.0.0.1:7744", false, "127.0.0.1", "7744", false);
    addr_ok("https://mandate.example.org", true, "mandate.example.org", "443", false);
    addr_ok("http://localhost", false, "localhost", "80", false);
    addr_ok("127.0.0.1:9000", false, "127.0.0.1", "9000", false);
    addr_ok("https://[::1]:8443", true, "::1", "8443", true);
    addr_ok("http://127.0.0.1:7744/", false, "127.0.0.1", "7744", false);
    addr_bad("");
    addr_bad("ftp://host");
    addr_bad("http://");
    addr_bad("http://host:0");
    addr_bad("http://host:65536");
    addr_bad("http://host:80x");
    addr_bad("http://host/api");
    addr_bad("http://host:80/api");
    addr_bad("http://host?x");
    addr_bad("http://user@host");
    addr_bad("http://[::1");
    addr_bad("http://ho st");
}

static void parse(const char *text, bool eof, int want_rc, bool want_complete, md_client_resp_t *r)
{
    bool complete = false;
    md_err_t err = {0};
    int rc = md_client_parse_response(text, strlen(text), eof, r, &complete, &err);
    if (rc != want_rc) fail_msg("rc %d (%s) for: %s", rc, err.msg, text);
    if (rc == MD_OK) assert_int_equal(complete, want_complete);
}

static void test_responses(void **state)
{
    md_client_resp_t r;
    md_client_resp_init(&r);
    parse("HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 2\r\n\r\n{}", false, MD_OK,
          true, &r);
    assert_int_equal(r.status, 200);
    assert_string_equal(r.content_type, "application/json");
    assert_int_equal(r.body.n, 2);
    assert_memory_equal(r.body.p, "{}", 2);
    /* not all there yet */
    parse("HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\n{}", false, MD_OK, false, &r);
    parse("HTTP/1.1 200 OK\r\nContent-Len", false, MD_OK, false, &r);
    /* ... and then the connection closed */
    parse("HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\n{}", true, MD_EINVAL, false, &r);
    parse("HTTP/1.1 200 OK\r\nContent-Len", true, MD_EINVAL, false, &r);
    /* no length: up to the end of the data */
    parse("HTTP/1.0 404 Not Found\r\n\r\nabc", false, MD_OK, false, &r);
    parse("HTTP/1.0 404 Not Found\r\n\r\nabc", true, MD_OK, true, &r);
    assert_int_equal(r.status, 404);
    assert_int_equal(r.body.n, 3);
    /* 204: no body whatever follows */
    parse("HTTP/1.1 204 No Content\r\n\r\n", false, MD_OK, true, &r);
    assert_int_equal(r.body.n, 0);
    /* chunked */
    parse("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n2;x=y\r\nde\r\n0\r\n\r\n", false,
          MD_OK, true, &r);
    assert_int_equal(r.body.n, 5);
    assert_memory_equal(r.body.p, "abcde", 5);
    parse("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nab", false, MD_OK, false, &r);
    parse("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n", false, MD_EINVAL, false, &r);
    parse("HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip\r\n\r\n", false, MD_EINVAL, false, &r);
    /* malformed */
    parse("SSH-2.0-OpenSSH\r\n\r\n", false, MD_EINVAL, false, &r);
    parse("HTTP/1.1 2x0 OK\r\n\r\n", false, MD_EINVAL, false, &r);
    parse("HTTP/1.1 200 OK\r\nContent-Length: -1\r\n\r\n", false, MD_EINVAL, false, &r);
    parse("HTTP/1.1 200 OK\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\n", false, MD_EINVAL, false, &r);
    parse("HTTP/1.1 200 OK\r\nContent-Length: 99999999999\r\n\r\n", false, MD_EINVAL, false, &r);
    md_client_resp_free(&r);
}

static void test_path_segment(void **state)
{
    md_buf_t b;
    md_buf_init(&b);
    md_client_path_segment(&b, "spiffe://example.org/agent/x y");
    assert_string_equal(b.p, "spiffe%3A%2F%2Fexample.org%2Fagent%2Fx%20y");
    md_buf_reset(&b);
    md_client_path_segment(&b, "ag_0123-~.");
    assert_string_equal(b.p, "ag_0123-~.");
    md_buf_free(&b);
}

static void test_token_file(void **state)
{
    char dir[] = "/tmp/md-test-client-XXXXXX", path[64];
    char *tok = NULL;
    md_err_t err = {0};
    assert_non_null(mkdtemp(dir));
    snprintf(path, sizeof(path), "%s/token", dir);
    FILE *f = fopen(path, "w");
    fputs("abcDEF-_123\nsecond line\n", f);
    fclose(f);
    chmod(path, 0600);
    assert_int_equal(md_client_read_token(path, &tok, &err), MD_OK);
    assert_string_equal(tok, "abcDEF-_123");
    md_client_secret_free(tok);
    chmod(path, 0640);
    assert_int_equal(md_client_read_token(path, &tok, &err), MD_EINVAL);
    assert_non_null(strstr(err.msg, "chmod 600"));
    assert_null(tok);
    chmod(path, 0604);
    md_err_clear(&err);
    assert_int_equal(md_client_read_token(path, &tok, &err), MD_EINVAL);
    chmod(path, 0600);
    f = fopen(path, "w");
    fputs("\n", f);
    fclose(f);
    md_err_clear(&err);
    assert_int_equal(md_client_read_token(path, &tok, &err), MD_EINVAL);
    md_err_clear(&err);
    assert_int_equal(md_client_read_token("/nonexistent/token", &tok, &err), MD_EINVAL);

    /* init: the environment, and a token required */
    md_client_t c;
    md_client_opts_t o = {NULL, NULL, NULL, true};
    unsetenv("MANDATE_TOKEN_FILE");
    setenv("MANDATE_ADDR", "http://127.0.0.2:9", 1);
    md_err_clear(&err);
    assert_int_equal(md_client_init(&c, &o, &err), MD_EINVAL);
    assert_non_null(strstr(err.msg, "MANDATE_TOKEN_FILE"));
    f = fopen(path, "w");
    fputs("tok\n", f);
    fclose(f);
    setenv("MANDATE_TOKEN_FILE", path, 1);
    assert_int_equal(md_client_init(&c, &o, &err), MD_OK);
    assert_string_equal(c.origin, "http://127.0.0.2:9");
    assert_string_equal(c.token, "tok");
    md_client_free(&c);
    o.addr = "https://[::1]:8443"; /* the option wins over the environment */
    assert_int_equal(md_client_init(&c, &o, &err), MD_OK);
    assert_string_equal(c.origin, "https://[::1]:8443");
    assert_non_null(c.tls);
    md_client_free(&c);
    unsetenv("MANDATE_ADDR");
    unsetenv("MANDATE_TOKEN_FILE");
    unlink(path);
    rmdir(dir);
}

static void test_no_server(void **state)
{
    md_client_t c;
    md_client_opts_t o = {"http://127.0.0.1:1", NULL, NULL, false};
    md_client_resp_t r;
    md_err_t err = {0};
    assert_int_equal(md_client_init(&c, &o, &err), MD_OK);
    md_client_resp_init(&r);
    assert_int_equal(md_client_request(&c, "GET", "/healthz", NULL, 0, &r, &err), MD_EIO);
    assert_non_null(strstr(err.msg, "cannot connect"));
    md_client_resp_free(&r);
    md_client_free(&c);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_addresses),    cmocka_unit_test(test_responses),
        cmocka_unit_test(test_path_segment), cmocka_unit_test(test_token_file),
        cmocka_unit_test(test_no_server),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
