/*
 * test_svid.c: unit tests for `mandate svid fetch|bundle` and the client's
 * Unix-socket mode (cmd/mandate/svid_cmd.c and client.c, included here since
 * the CLI is not part of the library).  A fake Workload API — a thread
 * listening on an AF_UNIX socket in a temporary folder — records each request
 * and answers a canned response, so the tests check what the client sends
 * (request line, headers, JSON body, no token) and what the commands make of
 * 200, 403, 500 and malformed answers: their output and exit codes.  Usage
 * errors must be reported without connecting at all.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <pthread.h>

#include "../../cmd/mandate/client.c"
#include "fake_http.h"
#include "../../cmd/mandate/svid_cmd.c"

#define JWT "eyJhbGciOiJFUzI1NiJ9.eyJzdWIiOiJzcGlmZmU6Ly9leGFtcGxlLm9yZy9hZ2VudC94In0.c2ln"

/* ---------------------------------------------------------------- the fake Workload API */

typedef struct fake {
    char dir[64];
    char path[100]; /* fits sun_path */
    int lfd;
    pthread_t thread;
    pthread_mutex_t mu;
    const char *answer; /* sent once the whole request is read; NULL: never answer */
    bool stop;
    int connections;
    char request[65536]; /* the last request, NUL-terminated */
    size_t request_n;
} fake_t;

static fake_t fake;

static void *fake_serve(void *arg)
{
    (void)arg;
    for (;;) {
        int fd = accept(fake.lfd, NULL, NULL);
        if (fd < 0) continue;
        pthread_mutex_lock(&fake.mu);
        bool stop = fake.stop;
        const char *answer = fake.answer;
        if (!stop) fake.connections++;
        pthread_mutex_unlock(&fake.mu);
        if (stop) {
            close(fd);
            return NULL;
        }
        char buf[sizeof(fake.request)];
        size_t n;
        read_request(fd, buf, sizeof(buf), &n);
        pthread_mutex_lock(&fake.mu);
        memcpy(fake.request, buf, n + 1);
        fake.request_n = n;
        pthread_mutex_unlock(&fake.mu);
        if (answer != NULL) {
            if (send(fd, answer, strlen(answer), MSG_NOSIGNAL) < 0) perror("fake: send");
        } else {
            /* silent: wait for the client to give up, at most 5 s (a client without a deadline then
             * sees the connection closed, and the test fails instead of hanging) */
            struct pollfd pfd = {fd, POLLIN, 0};
            char sink[256];
            while (poll(&pfd, 1, 5000) == 1 && recv(fd, sink, sizeof(sink), 0) > 0) {}
        }
        close(fd);
    }
}

static int fake_start(void **state)
{
    struct sockaddr_un sun;
    snprintf(fake.dir, sizeof(fake.dir), "/tmp/md-test-svid-XXXXXX");
    assert_non_null(mkdtemp(fake.dir));
    snprintf(fake.path, sizeof(fake.path), "%s/agent.sock", fake.dir);
    memset(&sun, 0, sizeof(sun));
    sun.sun_family = AF_UNIX;
    snprintf(sun.sun_path, sizeof(sun.sun_path), "%s", fake.path);
    fake.lfd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    assert_true(fake.lfd >= 0);
    assert_int_equal(bind(fake.lfd, (struct sockaddr *)&sun, sizeof(sun)), 0);
    assert_int_equal(listen(fake.lfd, 16), 0);
    pthread_mutex_init(&fake.mu, NULL);
    assert_int_equal(pthread_create(&fake.thread, NULL, fake_serve, NULL), 0);
    unsetenv(MD_CLIENT_SOCKET_ENV);
    return 0;
}

static int fake_stop(void **state)
{
    md_client_t c;
    md_client_resp_t r;
    md_err_t err = {0};
    pthread_mutex_lock(&fake.mu);
    fake.stop = true;
    pthread_mutex_unlock(&fake.mu);
    /* wake the accept() */
    if (md_client_init_unix(&c, fake.path, &err) == MD_OK) {
        md_client_resp_init(&r);
        c.timeout_ms = 1000;
        if (md_client_request(&c, "GET", "/", NULL, 0, &r, &err) == MD_OK)
            fprintf(stderr, "fake: answered?\n");
        md_client_resp_free(&r);
        md_client_free(&c);
    }
    pthread_join(fake.thread, NULL);
    close(fake.lfd);
    unlink(fake.path);
    rmdir(fake.dir);
    pthread_mutex_destroy(&fake.mu);
    return 0;
}

/* The next answer, and forget the last request. */
static void fake_answer(const char *answer)
{
    pthread_mutex_lock(&fake.mu);
    fake.answer = answer;
    fake.request[0] = '\0';
    fake.request_n = 0;
    pthread_mutex_unlock(&fake.mu);
}

static int fake_connections(void)
{
    pthread_mutex_lock(&fake.mu);
    int n = fake.connections;
    pthread_mutex_unlock(&fake.mu);
    return n;
}

/* A copy of the last request (asserting while holding the lock would stop the server for good). */
static void fake_request(char out[sizeof(fake.request)])
{
    pthread_mutex_lock(&fake.mu);
    memcpy(out, fake.request, fake.request_n + 1);
    pthread_mutex_unlock(&fake.mu);
}

/* The last request's body, parsed. */
static json_t *fake_request_body(void)
{
    static char q[sizeof(fake.request)];
    fake_request(q);
    const char *b = strstr(q, "\r\n\r\n");
    return b ? json_loads(b + 4, JSON_REJECT_DUPLICATES, NULL) : NULL;
}

/* A canned answer with a JSON body. */
static const char *answer(char *buf, size_t cap, int status, const char *body)
{
    snprintf(buf, cap, "HTTP/1.1 %d X\r\nContent-Type: application/json\r\nContent-Length: %zu\r\n\r\n%s",
             status, strlen(body), body);
    return buf;
}

/* ---------------------------------------------------------------- running the command */

#define RUN(r, ...) run_argv(r, md_cmd_svid, (char *[]){"svid", __VA_ARGS__, NULL})

/* ---------------------------------------------------------------- tests */

static void sock_ok(const char *s, const char *want)
{
    char out[MD_CLIENT_SOCKET_PATH_MAX];
    md_err_t err = {0};
    if (md_client_socket_parse(s, out, &err) != MD_OK) fail_msg("%s: %s", s, err.msg);
    assert_string_equal(out, want);
}

static void sock_bad(const char *s, const char *why)
{
    char out[MD_CLIENT_SOCKET_PATH_MAX];
    md_err_t err = {0};
    if (md_client_socket_parse(s, out, &err) == MD_OK) fail_msg("accepted %s", s);
    if (strstr(err.msg, why) == NULL) fail_msg("%s: \"%s\" does not say \"%s\"", s, err.msg, why);
}

static void test_socket_parse(void **state)
{
    char longest[MD_CLIENT_SOCKET_PATH_MAX + 8];
    sock_ok("/run/mandate/agent.sock", "/run/mandate/agent.sock");
    sock_ok("unix:/run/mandate/agent.sock", "/run/mandate/agent.sock");
    sock_ok("unix:///run/mandate/agent.sock", "/run/mandate/agent.sock");
    sock_bad("", "empty");
    sock_bad("agent.sock", "absolute");
    sock_bad("./agent.sock", "absolute");
    sock_bad("unix:agent.sock", "absolute");
    sock_bad("unix:", "absolute");
    sock_bad("unix://", "without a host");
    sock_bad("unix://localhost/run/agent.sock", "without a host");
    sock_bad("unix:///run/agent.sock?x=1", "no query");
    sock_bad("unix:/run/agent.sock#x", "no query");
    sock_bad("http://localhost/agent.sock", "absolute");
    /* 107 bytes fit (with the NUL, sun_path's 108); 108 do not */
    memset(longest, 'a', sizeof(longest));
    longest[0] = '/';
    longest[MD_CLIENT_SOCKET_PATH_MAX - 1] = '\0';
    sock_ok(longest, longest);
    longest[MD_CLIENT_SOCKET_PATH_MAX - 1] = 'a';
    longest[MD_CLIENT_SOCKET_PATH_MAX] = '\0';
    sock_bad(longest, "is 108 bytes");
}

static void test_init_unix(void **state)
{
    md_client_t c;
    md_err_t err = {0};
    unsetenv(MD_CLIENT_SOCKET_ENV);
    assert_int_equal(md_client_init_unix(&c, NULL, &err), MD_EINVAL);
    assert_string_equal(err.msg, "no Workload API socket: give --socket PATH or set MANDATE_AGENT_SOCKET");
    setenv(MD_CLIENT_SOCKET_ENV, "", 1); /* empty: as if unset */
    md_err_clear(&err);
    assert_int_equal(md_client_init_unix(&c, NULL, &err), MD_EINVAL);
    assert_non_null(strstr(err.msg, "no Workload API socket"));
    setenv(MD_CLIENT_SOCKET_ENV, "unix:///run/env.sock", 1);
    /* an admin token in the environment is never read nor sent on the Workload API */
    setenv("MANDATE_TOKEN_FILE", "/nonexistent/token", 1);
    assert_int_equal(md_client_init_unix(&c, NULL, &err), MD_OK);
    assert_string_equal(c.unix_path, "/run/env.sock");
    assert_string_equal(c.origin, "unix:/run/env.sock");
    assert_null(c.token);
    assert_null(c.tls);
    md_client_free(&c);
    assert_int_equal(md_client_init_unix(&c, "/run/opt.sock", &err), MD_OK); /* the option wins */
    assert_string_equal(c.unix_path, "/run/opt.sock");
    md_client_free(&c);
    md_err_clear(&err);
    assert_int_equal(md_client_init_unix(&c, "", &err), MD_EINVAL); /* an empty option is not "unset" */
    setenv(MD_CLIENT_SOCKET_ENV, "relative.sock", 1);
    md_err_clear(&err);
    assert_int_equal(md_client_init_unix(&c, NULL, &err), MD_EINVAL);
    assert_non_null(strstr(err.msg, "absolute"));
    unsetenv(MD_CLIENT_SOCKET_ENV);
    unsetenv("MANDATE_TOKEN_FILE");
}

static void test_request_over_unix(void **state)
{
    md_client_t c;
    md_client_resp_t r;
    md_err_t err = {0};
    char buf[512];
    const char *body = "{\"audience\":[\"a\"]}";

    fake_answer(answer(buf, sizeof(buf), 200, "{\"ok\":true}"));
    assert_int_equal(md_client_init_unix(&c, fake.path, &err), MD_OK);
    md_client_resp_init(&r);
    assert_int_equal(md_client_request(&c, "POST", "/v1/svid", body, strlen(body), &r, &err), MD_OK);
    assert_int_equal(r.status, 200);
    assert_string_equal(r.content_type, "application/json");
    assert_memory_equal(r.body.p, "{\"ok\":true}", r.body.n);
    static char q[sizeof(fake.request)];
    fake_request(q);
    if (strncmp(q, "POST /v1/svid HTTP/1.1\r\nHost: localhost\r\n", 41) != 0) fail_msg("request: %s", q);
    assert_non_null(strstr(q, "\r\nConnection: close\r\n"));
    assert_non_null(strstr(q, "\r\nContent-Type: application/json\r\n"));
    assert_non_null(strstr(q, "\r\nContent-Length: 18\r\n"));
    assert_null(strcasestr(q, "Authorization"));
    assert_string_equal(strstr(q, "\r\n\r\n") + 4, body);
    md_client_resp_free(&r);
    md_client_free(&c);
}

static void test_fetch(void **state)
{
    run_t r;
    char buf[1024];
    const char *ok = "{\"spiffe_id\": \"spiffe://example.org/agent/x\", \"svid\": \"" JWT "\", "
                     "\"audience\": [\"a\", \"b\"], \"expires_at\": 1790000000, \"kid\": \"k1\"}";

    fake_answer(answer(buf, sizeof(buf), 200, ok));
    RUN(&r, "fetch", "--audience", "a", "--audience", "b", "--ttl", "120", "--socket", fake.path);
    assert_int_equal(r.rc, MD_EXIT_OK);
    assert_string_equal(r.out, JWT "\n"); /* the JWT alone: TOKEN=$(mandate svid fetch ...) */
    assert_string_equal(r.err, "");
    json_t *sent = fake_request_body();
    json_t *want = json_loads("{\"audience\": [\"a\", \"b\"], \"ttl\": 120}", 0, NULL);
    assert_true(json_equal(sent, want));
    json_decref(sent);
    json_decref(want);
    static char q[sizeof(fake.request)];
    fake_request(q);
    assert_int_equal(strncmp(q, "POST /v1/svid HTTP/1.1\r\n", 24), 0);

    /* no --ttl: none sent; the socket from the environment, in its unix: form */
    char env[160];
    snprintf(env, sizeof(env), "unix://%s", fake.path);
    setenv(MD_CLIENT_SOCKET_ENV, env, 1);
    fake_answer(answer(buf, sizeof(buf), 200, ok));
    RUN(&r, "fetch", "--audience", "spiffe://example.org/tool/é");
    unsetenv(MD_CLIENT_SOCKET_ENV);
    assert_int_equal(r.rc, MD_EXIT_OK);
    sent = fake_request_body();
    want = json_loads("{\"audience\": [\"spiffe://example.org/tool/\u00e9\"]}", 0, NULL);
    assert_true(json_equal(sent, want));
    json_decref(sent);
    json_decref(want);

    /* --json: the server's object */
    fake_answer(answer(buf, sizeof(buf), 200, ok));
    RUN(&r, "fetch", "--json", "--audience", "a", "--socket", fake.path);
    assert_int_equal(r.rc, MD_EXIT_OK);
    json_t *got = json_loads(r.out, 0, NULL);
    want = json_loads(ok, 0, NULL);
    assert_non_null(got);
    assert_true(json_equal(got, want));
    json_decref(got);
    json_decref(want);
}

static void test_fetch_refused(void **state)
{
    run_t r;
    char buf[1024];
    const char *refused =
        "{\"error\": \"attestation_failed\", \"message\": \"the caller is not a registered workload\"}";

    fake_answer(answer(buf, sizeof(buf), 403, refused));
    RUN(&r, "fetch", "--audience", "a", "--socket", fake.path);
    assert_int_equal(r.rc, MD_EXIT_REFUSED);
    assert_string_equal(r.out, "");
    assert_string_equal(r.err,
                        "mandate: the caller is not a registered workload (HTTP 403 attestation_failed)\n");

    fake_answer(answer(buf, sizeof(buf), 403, refused));
    RUN(&r, "fetch", "--audience", "a", "--socket", fake.path, "--json");
    assert_int_equal(r.rc, MD_EXIT_REFUSED);
    json_t *got = json_loads(r.out, 0, NULL);
    json_t *want = json_pack("{s:s, s:s, s:i}", "error", "attestation_failed", "message",
                             "the caller is not a registered workload", "status", 403);
    assert_true(json_equal(got, want));
    json_decref(got);
    json_decref(want);

    /* 5xx: a server error */
    fake_answer(answer(buf, sizeof(buf), 500, "{\"error\": \"internal\", \"message\": \"signing failed\"}"));
    RUN(&r, "fetch", "--audience", "a", "--socket", fake.path);
    assert_int_equal(r.rc, MD_EXIT_SERVER);
    assert_non_null(strstr(r.err, "signing failed (HTTP 500 internal)"));
    fake_answer("HTTP/1.1 503 Busy\r\nContent-Length: 0\r\n\r\n");
    RUN(&r, "fetch", "--audience", "a", "--socket", fake.path, "--json");
    assert_int_equal(r.rc, MD_EXIT_SERVER);
    assert_non_null(strstr(r.out, "\"status\":503"));
}

static void test_fetch_bad_answers(void **state)
{
    static const char *const bodies[] = {
        "not json",
        "[\"" JWT "\"]",
        "{\"spiffe_id\": \"spiffe://example.org/agent/x\"}",
        "{\"svid\": 42}",
        "{\"svid\": \"\"}",
        "{\"svid\": \"" JWT "\\n\"}",     /* would print two lines */
        "{\"svid\": \"a.b\"}",            /* not three segments */
        "{\"svid\": \"a.b.c.d\"}",        /* four segments */
        "{\"svid\": \"a..c\"}",           /* an empty payload */
        "{\"svid\": \"a.b.\"}",           /* no signature */
        "{\"svid\": \"a.b.c d\"}",        /* a space */
        "{\"svid\": \"a.b.\\u001b[2J\"}", /* a terminal escape */
    };
    run_t r;
    char buf[1024];
    for (size_t i = 0; i < sizeof(bodies) / sizeof(bodies[0]); i++) {
        fake_answer(answer(buf, sizeof(buf), 200, bodies[i]));
        RUN(&r, "fetch", "--audience", "a", "--socket", fake.path);
        if (r.rc != MD_EXIT_SERVER || r.out[0] != '\0')
            fail_msg("answer %s: exit %d, out %s", bodies[i], r.rc, r.out);
        assert_non_null(strstr(r.err, "mandate: "));
    }
    /* not HTTP, or cut short */
    fake_answer("SSH-2.0-OpenSSH\r\n\r\n");
    RUN(&r, "fetch", "--audience", "a", "--socket", fake.path);
    assert_int_equal(r.rc, MD_EXIT_SERVER);
    assert_non_null(strstr(r.err, "bad response from unix:"));
    fake_answer("HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\n{\"svid\"");
    RUN(&r, "fetch", "--audience", "a", "--socket", fake.path, "--json");
    assert_int_equal(r.rc, MD_EXIT_SERVER);
    assert_non_null(strstr(r.out, "\"error\":\"connection\""));
}

static void test_bundle(void **state)
{
    run_t r;
    char buf[1024];
    const char *jwks =
        "{\"keys\": [{\"kty\": \"EC\", \"crv\": \"P-256\", \"kid\": \"k1\", \"x\": \"AA\", \"y\": \"BB\", "
        "\"use\": \"jwt-svid\"}], \"spiffe_refresh_hint\": 300}";

    fake_answer(answer(buf, sizeof(buf), 200, jwks));
    RUN(&r, "bundle", "--socket", fake.path);
    assert_int_equal(r.rc, MD_EXIT_OK);
    assert_string_equal(r.err, "");
    json_t *got = json_loads(r.out, 0, NULL), *want = json_loads(jwks, 0, NULL);
    assert_true(json_equal(got, want));                /* every member, as received */
    assert_non_null(strstr(r.out, "\n  \"keys\": [")); /* pretty-printed */
    json_decref(got);
    json_decref(want);
    static char q[sizeof(fake.request)];
    fake_request(q);
    if (strncmp(q, "GET /v1/bundle HTTP/1.1\r\nHost: localhost\r\n", 42) != 0) fail_msg("request: %s", q);
    assert_null(strcasestr(q, "Content-Length"));
    assert_null(strcasestr(q, "Authorization"));

    fake_answer(answer(buf, sizeof(buf), 200, "{\"keys\": {}}"));
    RUN(&r, "bundle", "--socket", fake.path);
    assert_int_equal(r.rc, MD_EXIT_SERVER);
    assert_non_null(strstr(r.err, "not a JWKS"));
    fake_answer(answer(buf, sizeof(buf), 403, "{\"error\": \"attestation_failed\", \"message\": \"no\"}"));
    RUN(&r, "bundle", "--socket", fake.path, "--json");
    assert_int_equal(r.rc, MD_EXIT_REFUSED);
    assert_non_null(strstr(r.out, "\"error\":\"attestation_failed\""));
}

static void usage_case(const char *why, run_t *r, int connections_before)
{
    if (r->rc != MD_EXIT_USAGE) fail_msg("%s: exit %d (%s%s)", why, r->rc, r->out, r->err);
    if (fake_connections() != connections_before) fail_msg("%s: connected to the server", why);
}

static void test_usage(void **state)
{
    run_t r;
    char big[300], aud[300];
    int n = fake_connections();

    fake_answer(NULL);
    RUN(&r, "fetch", "--socket", fake.path);
    usage_case("no --audience", &r, n);
    assert_non_null(strstr(r.err, "at least one --audience is required (see `mandate help svid fetch`)"));
    RUN(&r, "fetch", "--socket", fake.path, "--audience", "");
    usage_case("empty audience", &r, n);
    memset(aud, 'a', 256);
    aud[256] = '\0';
    RUN(&r, "fetch", "--socket", fake.path, "--audience", aud);
    usage_case("256-byte audience", &r, n);
    assert_non_null(strstr(r.err, "255 bytes"));
    RUN(&r, "fetch", "--socket", fake.path, "--audience", "a\xff");
    usage_case("audience not UTF-8", &r, n);
    RUN(&r, "fetch", "--socket", fake.path, "--audience", "\xed\xa0\x80"); /* a surrogate */
    usage_case("audience with a surrogate", &r, n);
    RUN(&r, "fetch", "--socket", fake.path, "--audience", "a\nb");
    usage_case("audience with a newline", &r, n);
    RUN(&r, "fetch", "--socket", fake.path, "--audience", "a\x7f");
    usage_case("audience with DEL", &r, n);
    RUN(&r, "fetch", "--socket", fake.path, "--audience", "a\xc2\x85"); /* U+0085, a C1 control */
    usage_case("audience with a C1 control", &r, n);
    RUN(&r, "fetch", "--socket", fake.path, "--audience", "a", "--audience", "b", "--audience", "a");
    usage_case("audience given twice", &r, n);
    assert_non_null(strstr(r.err, "given twice"));
    static char *const ttls[] = {"0", "86401", "-5", "+5", "5s", "", "1e3", " 5", "99999999999999999999"};
    for (size_t i = 0; i < sizeof(ttls) / sizeof(ttls[0]); i++) {
        RUN(&r, "fetch", "--socket", fake.path, "--audience", "a", "--ttl", ttls[i]);
        usage_case(ttls[i], &r, n);
        assert_non_null(strstr(r.err, "--ttl must be"));
    }
    RUN(&r, "fetch", "--socket", fake.path, "--audience", "a", "--ttl");
    usage_case("--ttl without a value", &r, n);
    RUN(&r, "fetch", "--socket", fake.path, "--audience", "a", "extra");
    usage_case("a positional argument", &r, n);
    RUN(&r, "fetch", "--socket", fake.path, "--audience", "a", "--token-file", "/x");
    usage_case("an option of the admin commands", &r, n);
    RUN(&r, "bundle", "--socket", fake.path, "--audience", "a");
    usage_case("bundle --audience", &r, n);
    assert_non_null(strstr(r.err, "`svid bundle` does not take --audience"));
    RUN(&r, "bundle", "--socket", fake.path, "--ttl=5");
    usage_case("bundle --ttl", &r, n);
    /* the socket */
    unsetenv(MD_CLIENT_SOCKET_ENV);
    RUN(&r, "fetch", "--audience", "a");
    usage_case("no socket", &r, n);
    assert_string_equal(r.err,
                        "mandate: no Workload API socket: give --socket PATH or set MANDATE_AGENT_SOCKET\n");
    RUN(&r, "bundle", "--socket", "agent.sock");
    usage_case("relative socket", &r, n);
    memset(big, 'a', sizeof(big) - 1);
    big[0] = '/';
    big[sizeof(big) - 1] = '\0';
    RUN(&r, "bundle", "--socket", big);
    usage_case("socket path too long", &r, n);
    assert_non_null(strstr(r.err, "at most 107"));
    /* --json: one JSON error document on stdout */
    RUN(&r, "fetch", "--json", "--ttl", "0", "--audience", "a", "--socket", fake.path);
    usage_case("--json usage", &r, n);
    assert_string_equal(r.err, "");
    json_t *got = json_loads(r.out, 0, NULL);
    assert_string_equal(json_string_value(json_object_get(got, "error")), "usage");
    assert_int_equal(json_integer_value(json_object_get(got, "status")), 0);
    json_decref(got);
    RUN(&r, "bundle", "--json", "--socket", "agent\xff.sock"); /* named in the message, and not UTF-8 */
    usage_case("--json usage, bytes that are not UTF-8", &r, n);
    got = json_loads(r.out, 0, NULL);
    assert_non_null(got);
    assert_non_null(strstr(json_string_value(json_object_get(got, "message")), "agent\xef\xbf\xbd.sock"));
    json_decref(got);
    /* help and unknown subcommands */
    RUN(&r, "fetch", "--help");
    assert_int_equal(r.rc, MD_EXIT_OK);
    assert_non_null(strstr(r.out, "usage: mandate svid fetch --audience AUD"));
    RUN(&r, "help");
    assert_int_equal(r.rc, MD_EXIT_OK);
    assert_non_null(strstr(r.out, "usage: mandate svid <fetch|bundle>"));
    RUN(&r, "frobnicate");
    assert_int_equal(r.rc, MD_EXIT_USAGE);
    assert_non_null(md_cmd_svid_help("svid bundle"));
    assert_null(md_cmd_svid_help("svid frobnicate"));
    assert_int_equal(fake_connections(), n);
}

static void test_no_server(void **state)
{
    run_t r;
    char path[160], file[160];
    snprintf(path, sizeof(path), "%s/nobody.sock", fake.dir);
    RUN(&r, "fetch", "--audience", "a", "--socket", path);
    assert_int_equal(r.rc, MD_EXIT_SERVER);
    char want[256];
    snprintf(want, sizeof(want), "mandate: cannot connect to unix:%s: No such file or directory\n", path);
    assert_string_equal(r.err, want);
    /* a file that is not a socket */
    snprintf(file, sizeof(file), "%s/plain", fake.dir);
    FILE *f = fopen(file, "w");
    assert_non_null(f);
    fclose(f);
    RUN(&r, "bundle", "--json", "--socket", file);
    assert_int_equal(r.rc, MD_EXIT_SERVER);
    assert_non_null(strstr(r.out, "\"error\":\"connection\""));
    assert_non_null(strstr(r.out, file));
    unlink(file);
}

static void test_read_timeout(void **state)
{
    md_client_t c;
    md_client_resp_t r;
    md_err_t err = {0};
    fake_answer(NULL); /* reads the request, never answers */
    assert_int_equal(md_client_init_unix(&c, fake.path, &err), MD_OK);
    c.timeout_ms = 200;
    md_client_resp_init(&r);
    assert_int_equal(md_client_request(&c, "GET", "/v1/bundle", NULL, 0, &r, &err), MD_EIO);
    assert_non_null(strstr(err.msg, "timed out"));
    assert_non_null(strstr(err.msg, fake.path));
    md_client_resp_free(&r);
    md_client_free(&c);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_socket_parse),
        cmocka_unit_test(test_init_unix),
        cmocka_unit_test(test_request_over_unix),
        cmocka_unit_test(test_fetch),
        cmocka_unit_test(test_fetch_refused),
        cmocka_unit_test(test_fetch_bad_answers),
        cmocka_unit_test(test_bundle),
        cmocka_unit_test(test_usage),
        cmocka_unit_test(test_no_server),
        cmocka_unit_test(test_read_timeout),
    };
    return cmocka_run_group_tests(tests, fake_start, fake_stop);
}
