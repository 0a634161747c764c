/*
 * test_task_cmd.c: unit tests for `mandate task ...` and `mandate agent
 * quarantine` (cmd/mandate/task_cmd.c and client.c, included here since the
 * CLI is not part of the library).  A fake mandated — one thread listening on
 * loopback TCP (the daemon's API) and on a Unix socket (its Workload API) —
 * records every request and answers the next canned response, so the tests
 * check exactly what the commands send (request lines, Authorization, content
 * types, JSON and form bodies, percent-encoding, and that agent commands never
 * send the admin token) and what they make of the answers: the rendering of
 * start/delegate/show/list/tree/introspect and the exit codes.  Usage errors
 * must be reported without connecting at all.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <pthread.h>

#include "../../cmd/mandate/client.c"
#include "fake_http.h"
#include "../../cmd/mandate/task_cmd.c"

#define SVID "eyJhbGciOiJFUzI1NiJ9.eyJzdWIiOiJzcGlmZmU6Ly9leGFtcGxlLm9yZy9hZ2VudC9ib3QifQ.c3ZpZA"
#define SVID2 "eyJhbGciOiJFUzI1NiJ9.eyJzdWIiOiJzcGlmZmU6Ly9leGFtcGxlLm9yZy9hZ2VudC9zdWIifQ.c3ViLXN2aWQ"
#define MANDATE "eyJ0eXAiOiJhdCtqd3QifQ.eyJqdGkiOiJ0YXNrIn0.bWFuZGF0ZQ"
#define CHILD "eyJ0eXAiOiJhdCtqd3QifQ.eyJqdGkiOiJjaGlsZCJ9.Y2hpbGQ"
#define TASK "0123456789abcdef0123456789abcdef"
#define TASK_B "41d6000000000000000000000000000b"
#define TASK_C "4921000000000000000000000000000c"
#define TASK_D "77aa000000000000000000000000000d"
#define ADMIN_TOKEN "admin-secret-0123456789"
#define ISSUER "http://mandate.example.org:7744"

/* ---------------------------------------------------------------- the fake mandated */

#define FAKE_MAX 8

typedef struct fake {
    char dir[64];
    char sock[100]; /* the Workload API socket; fits sun_path */
    char token_file[128];
    char addr[64];
    int tcp_fd, unix_fd;
    pthread_t thread;
    pthread_mutex_t mu;
    bool stop;
    const char *answers[FAKE_MAX]; /* answered in turn; past the end: 599 */
    int n_answers, next;
    char requests[FAKE_MAX][65536]; /* what arrived, in order, NUL-terminated */
    char via[FAKE_MAX];             /* 't' TCP, 'u' Unix socket */
    int n_requests;
    int connections;
} fake_t;

static fake_t fake;

static void *fake_serve(void *arg)
{
    static char buf[65536];
    (void)arg;
    for (;;) {
        struct pollfd pfd[2] = {{fake.tcp_fd, POLLIN, 0}, {fake.unix_fd, POLLIN, 0}};
        int r = poll(pfd, 2, 50);
        pthread_mutex_lock(&fake.mu);
        bool stop = fake.stop;
        pthread_mutex_unlock(&fake.mu);
        if (stop) return NULL;
        if (r <= 0) continue;
        for (int k = 0; k < 2; k++) {
            if (!(pfd[k].revents & POLLIN)) continue;
            int fd = accept(pfd[k].fd, NULL, NULL);
            if (fd < 0) continue;
            size_t n;
            read_request(fd, buf, sizeof(buf), &n);
            pthread_mutex_lock(&fake.mu);
            fake.connections++;
            if (fake.n_requests < FAKE_MAX) {
                memcpy(fake.requests[fake.n_requests], buf, n + 1);
                fake.via[fake.n_requests++] = k == 0 ? 't' : 'u';
            }
            const char *answer = fake.next < fake.n_answers
                                     ? fake.answers[fake.next++]
                                     : "HTTP/1.1 599 Unexpected\r\nContent-Length: 0\r\n\r\n";
            pthread_mutex_unlock(&fake.mu);
            if (send(fd, answer, strlen(answer), MSG_NOSIGNAL) < 0) perror("fake: send");
            close(fd);
        }
    }
}

static int fake_start(void **state)
{
    struct sockaddr_un sun;
    struct sockaddr_in sin;
    socklen_t sl = sizeof(sin);

    snprintf(fake.dir, sizeof(fake.dir), "/tmp/md-test-task-XXXXXX");
    assert_non_null(mkdtemp(fake.dir));
    snprintf(fake.sock, sizeof(fake.sock), "%s/agent.sock", fake.dir);
    memset(&sun, 0, sizeof(sun));
    sun.sun_family = AF_UNIX;
    snprintf(sun.sun_path, sizeof(sun.sun_path), "%s", fake.sock);
    fake.unix_fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    assert_true(fake.unix_fd >= 0);
    assert_int_equal(bind(fake.unix_fd, (struct sockaddr *)&sun, sizeof(sun)), 0);
    assert_int_equal(listen(fake.unix_fd, 16), 0);
    memset(&sin, 0, sizeof(sin));
    sin.sin_family = AF_INET;
    sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    fake.tcp_fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    assert_true(fake.tcp_fd >= 0);
    assert_int_equal(bind(fake.tcp_fd, (struct sockaddr *)&sin, sizeof(sin)), 0);
    assert_int_equal(listen(fake.tcp_fd, 16), 0);
    assert_int_equal(getsockname(fake.tcp_fd, (struct sockaddr *)&sin, &sl), 0);
    snprintf(fake.addr, sizeof(fake.addr), "http://127.0.0.1:%d", ntohs(sin.sin_port));
    /* the admin token, private as the client demands */
    snprintf(fake.token_file, sizeof(fake.token_file), "%s/admin.token", fake.dir);
    int fd = open(fake.token_file, O_WRONLY | O_CREAT | O_EXCL, 0600);
    assert_true(fd >= 0);
    assert_int_equal(write(fd, ADMIN_TOKEN "\n", strlen(ADMIN_TOKEN) + 1), (ssize_t)strlen(ADMIN_TOKEN) + 1);
    close(fd);
    pthread_mutex_init(&fake.mu, NULL);
    assert_int_equal(pthread_create(&fake.thread, NULL, fake_serve, NULL), 0);
    setenv("MANDATE_ADDR", fake.addr, 1);
    setenv("MANDATE_TOKEN_FILE", fake.token_file, 1);
    unsetenv("MANDATE_CACERT");
    unsetenv(SVID_ENV);
    unsetenv(MD_CLIENT_SOCKET_ENV);
    return 0;
}

static int fake_stop(void **state)
{
    pthread_mutex_lock(&fake.mu);
    fake.stop = true;
    pthread_mutex_unlock(&fake.mu);
    pthread_join(fake.thread, NULL);
    close(fake.tcp_fd);
    close(fake.unix_fd);
    unlink(fake.sock);
    unlink(fake.token_file);
    rmdir(fake.dir);
    pthread_mutex_destroy(&fake.mu);
    return 0;
}

/* The answers to the next requests, in order; forget earlier requests. */
static void fake_answers(int n, ...)
{
    va_list ap;
    pthread_mutex_lock(&fake.mu);
    va_start(ap, n);
    for (int i = 0; i < n && i < FAKE_MAX; i++)
        fake.answers[i] = va_arg(ap, const char *);
    va_end(ap);
    fake.n_answers = n;
    fake.next = 0;
    fake.n_requests = 0;
    pthread_mutex_unlock(&fake.mu);
}

static int fake_connections(void)
{
    pthread_mutex_lock(&fake.mu);
    int n = fake.connections;
    pthread_mutex_unlock(&fake.mu);
    return n;
}

/* A copy of request i (and where it arrived); "" when there is none. */
static const char *fake_request(int i, char *via)
{
    static char q[65536];
    pthread_mutex_lock(&fake.mu);
    if (i < fake.n_requests) {
        memcpy(q, fake.requests[i], sizeof(q));
        if (via) *via = fake.via[i];
    } else {
        q[0] = '\0';
    }
    pthread_mutex_unlock(&fake.mu);
    return q;
}

static int fake_requests(void)
{
    pthread_mutex_lock(&fake.mu);
    int n = fake.n_requests;
    pthread_mutex_unlock(&fake.mu);
    return n;
}

static const char *body_of(const char *request)
{
    const char *b = strstr(request, "\r\n\r\n");
    return b ? b + 4 : "";
}

/* Check request i: its request line, where it arrived, its Authorization (NULL: none). */
static void check_request(int i, const char *line, char via, const char *bearer)
{
    char got_via = 0, want[4096];
    const char *q = fake_request(i, &got_via);
    if (strncmp(q, line, strlen(line)) != 0 || strncmp(q + strlen(line), " HTTP/1.1\r\n", 11) != 0)
        fail_msg("request %d: want %s, got %.200s", i, line, q);
    if (got_via != via) fail_msg("request %d (%s) arrived on %c, not %c", i, line, got_via, via);
    if (bearer == NULL) {
        if (strcasestr(q, "\r\nAuthorization:") != NULL)
            fail_msg("request %d (%s) has an Authorization", i, line);
    } else {
        snprintf(want, sizeof(want), "\r\nAuthorization: Bearer %s\r\n", bearer);
        if (strstr(q, want) == NULL) fail_msg("request %d (%s): no %s in %.400s", i, line, want + 2, q);
    }
    if (strstr(q, ADMIN_TOKEN) != NULL && (bearer == NULL || strcmp(bearer, ADMIN_TOKEN) != 0))
        fail_msg("request %d (%s) carries the admin token", i, line);
}

/* Request i's JSON body equals want. */
static void check_json_body(int i, const char *want)
{
    const char *q = fake_request(i, NULL);
    json_t *got = json_loads(body_of(q), JSON_REJECT_DUPLICATES, NULL), *w = json_loads(want, 0, NULL);
    assert_non_null(w);
    if (got == NULL || !json_equal(got, w)) fail_msg("request %d: body %s, want %s", i, body_of(q), want);
    assert_non_null(strstr(q, "\r\nContent-Type: application/json\r\n"));
    json_decref(got);
    json_decref(w);
}

/* A canned answer with a JSON body (into one of a few rotating buffers). */
static const char *answer(int status, const char *body)
{
    static char bufs[FAKE_MAX][16384];
    static int k;
    char *buf = bufs[k++ % FAKE_MAX];
    snprintf(buf, sizeof(bufs[0]),
             "HTTP/1.1 %d X\r\nContent-Type: application/json\r\nContent-Length: %zu\r\n\r\n%s", status,
             strlen(body), body);
    return buf;
}

/* ---------------------------------------------------------------- running the command */

#define RUN(r, ...) run_argv(r, md_cmd_task, (char *[]){"task", __VA_ARGS__, NULL})
#define RUN_Q(r, ...) run_argv(r, md_cmd_agent_quarantine, (char *[]){"quarantine", __VA_ARGS__, NULL})

static void expect(const run_t *r, int rc, const char *out, const char *err)
{
    if (r->rc != rc) fail_msg("exit %d, want %d; out: %s; err: %s", r->rc, rc, r->out, r->err);
    if (out != NULL && strcmp(r->out, out) != 0) fail_msg("stdout:\n%s\nwant:\n%s", r->out, out);
    if (err != NULL && strcmp(r->err, err) != 0) fail_msg("stderr:\n%s\nwant:\n%s", r->err, err);
}

/* A private file holding text; its path in a static buffer. */
static char *secret_file(const char *name, const char *text, mode_t mode)
{
    static char path[4][160];
    static int k;
    char *p = path[k++ % 4];
    snprintf(p, sizeof(path[0]), "%s/%s", fake.dir, name);
    unlink(p);
    int fd = open(p, O_WRONLY | O_CREAT | O_EXCL, 0600);
    assert_true(fd >= 0);
    assert_int_equal(write(fd, text, strlen(text)), (ssize_t)strlen(text));
    fchmod(fd, mode);
    close(fd);
    return p;
}

static const char *const START_OK =
    "{\"task_id\": \"" TASK "\", \"mandate\": \"" MANDATE "\", \"expires_at\": 1795871700, "
    "\"scope\": [\"tickets:read\", \"tickets:write\"], \"token_type\": \"Bearer\"}";

/* ---------------------------------------------------------------- agent commands */

static void test_start_with_svid(void **state)
{
    run_t r;

    fake_answers(1, answer(201, START_OK));
    RUN(&r, "start", "--intent", "answer ticket 42", "--scope", "tickets:read,tickets:write", "--audience",
        "tickets-api", "--ttl", "10m", "--svid", SVID);
    expect(&r, MD_EXIT_OK,
           "task " TASK "\nmandate " MANDATE
           "\nexpires 2026-11-28T13:15:00Z\nscope tickets:read tickets:write\n",
           "");
    assert_int_equal(fake_requests(), 1);
    check_request(0, "POST /v1/tasks", 't',
                  SVID); /* the SVID, never the admin token of $MANDATE_TOKEN_FILE */
    check_json_body(0, "{\"intent\": \"answer ticket 42\", \"scope\": [\"tickets:read\", \"tickets:write\"], "
                       "\"audience\": \"tickets-api\", \"ttl\": 600}");

    /* --mandate-only: the mandate alone; the SVID from $MANDATE_SVID; scopes repeated and space-separated */
    setenv(SVID_ENV, SVID2, 1);
    fake_answers(1, answer(201, START_OK));
    RUN(&r, "start", "--intent", "x", "--scope", "a b", "--scope", "c", "--audience", "svc",
        "--mandate-only");
    unsetenv(SVID_ENV);
    expect(&r, MD_EXIT_OK, MANDATE "\n", "");
    check_request(0, "POST /v1/tasks", 't', SVID2);
    check_json_body(0, "{\"intent\": \"x\", \"scope\": [\"a\", \"b\", \"c\"], \"audience\": \"svc\"}");

    /* --svid wins over $MANDATE_SVID; @FILE; --json prints the server's answer */
    setenv(SVID_ENV, "@/nonexistent", 1);
    fake_answers(1, answer(201, START_OK));
    char at[200];
    snprintf(at, sizeof(at), "@%s", secret_file("svid", SVID "\n", 0600));
    RUN(&r, "start", "--intent", "x", "--scope", "a", "--audience", "svc", "--json", "--svid", at);
    unsetenv(SVID_ENV);
    expect(&r, MD_EXIT_OK, NULL, "");
    json_t *got = json_loads(r.out, 0, NULL), *want = json_loads(START_OK, 0, NULL);
    assert_non_null(got);
    assert_true(json_equal(got, want));
    json_decref(got);
    json_decref(want);
    check_request(0, "POST /v1/tasks", 't', SVID);
}

static void test_start_fetches_svid(void **state)
{
    run_t r;

    fake_answers(3,
                 answer(200, "{\"issuer\": \"" ISSUER "\", \"token_endpoint\": \"" ISSUER "/oauth/token\"}"),
                 answer(200, "{\"spiffe_id\": \"spiffe://example.org/agent/bot\", \"svid\": \"" SVID2 "\"}"),
                 answer(201, START_OK));
    RUN(&r, "start", "--intent", "x", "--scope", "tickets:read", "--audience", "tickets-api", "--socket",
        fake.sock);
    expect(&r, MD_EXIT_OK, NULL, "");
    assert_int_equal(fake_requests(), 3);
    check_request(0, "GET /.well-known/oauth-authorization-server", 't', NULL);
    check_request(1, "POST /v1/svid", 'u', NULL);
    check_json_body(1, "{\"audience\": [\"" ISSUER "\"]}");
    check_request(2, "POST /v1/tasks", 't', SVID2);

    /* the socket from the environment */
    setenv(MD_CLIENT_SOCKET_ENV, fake.sock, 1);
    fake_answers(3, answer(200, "{\"issuer\": \"" ISSUER "\"}"), answer(200, "{\"svid\": \"" SVID "\"}"),
                 answer(201, START_OK));
    RUN(&r, "start", "--intent", "x", "--scope", "tickets:read", "--audience", "tickets-api",
        "--mandate-only");
    expect(&r, MD_EXIT_OK, MANDATE "\n", "");
    check_request(2, "POST /v1/tasks", 't', SVID);

    /* the Workload API refuses: its error, nothing else sent */
    fake_answers(
        2, answer(200, "{\"issuer\": \"" ISSUER "\"}"),
        answer(403, "{\"error\": \"agent_quarantined\", \"message\": \"this agent is quarantined\"}"));
    RUN(&r, "start", "--intent", "x", "--scope", "tickets:read", "--audience", "tickets-api");
    expect(&r, MD_EXIT_REFUSED, "", "mandate: this agent is quarantined (HTTP 403 agent_quarantined)\n");
    assert_int_equal(fake_requests(), 2);

    /* metadata without an issuer, an SVID answer without an SVID: server errors */
    fake_answers(1, answer(200, "{\"jwks_uri\": \"x\"}"));
    RUN(&r, "start", "--intent", "x", "--scope", "tickets:read", "--audience", "tickets-api");
    expect(&r, MD_EXIT_SERVER, "", "mandate: the server's metadata names no issuer\n");
    fake_answers(2, answer(200, "{\"issuer\": \"" ISSUER "\"}"), answer(200, "{\"svid\": \"a.b\"}"));
    RUN(&r, "start", "--intent", "x", "--scope", "tickets:read", "--audience", "tickets-api", "--json");
    expect(&r, MD_EXIT_SERVER, NULL, "");
    assert_non_null(strstr(r.out, "\"error\":\"bad_response\""));
    unsetenv(MD_CLIENT_SOCKET_ENV);
}

static void test_start_answers(void **state)
{
    run_t r;
    static const char *const bad[] = {
        "{\"task_id\": \"" TASK "\"}",
        "{\"task_id\": \"xyz\", \"mandate\": \"" MANDATE "\"}",
        "{\"task_id\": \"" TASK "\", \"mandate\": \"" MANDATE "\\n\"}",
        "[]",
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        fake_answers(1, answer(201, bad[i]));
        RUN(&r, "start", "--intent", "x", "--scope", "a", "--audience", "svc", "--svid", SVID);
        if (r.rc != MD_EXIT_SERVER || r.out[0] != '\0')
            fail_msg("answer %s: exit %d, out %s", bad[i], r.rc, r.out);
    }
    fake_answers(1,
                 answer(403, "{\"error\": \"invalid_scope\", \"message\": \"scope \\\"admin\\\" exceeds the "
                             "agent's scope ceiling\"}"));
    RUN(&r, "start", "--intent", "x", "--scope", "admin", "--audience", "svc", "--svid", SVID);
    expect(&r, MD_EXIT_REFUSED, "",
           "mandate: scope \"admin\" exceeds the agent's scope ceiling (HTTP 403 invalid_scope)\n");
    fake_answers(1, answer(503, "{\"error\": \"service_unavailable\", \"message\": \"retry\"}"));
    RUN(&r, "start", "--intent", "x", "--scope", "a", "--audience", "svc", "--svid", SVID, "--json");
    expect(&r, MD_EXIT_SERVER, "{\"error\":\"service_unavailable\",\"message\":\"retry\",\"status\":503}\n",
           "");
}

static void test_start_on_behalf_of(void **state)
{
    run_t r;
    const char *idt = "eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJhbGljZSJ9.dXNlcg";
    char file[200];

    fake_answers(1, answer(201, START_OK));
    snprintf(file, sizeof(file), "@%s",
             secret_file("user.jwt",
                         "eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJhbGljZSJ9.dXNlcg\n"
                         "trailing lines are ignored\n",
                         0600));
    RUN(&r, "start", "--intent", "x", "--scope", "a", "--audience", "svc", "--svid", SVID, "--on-behalf-of",
        file);
    expect(&r, MD_EXIT_OK, NULL, "");
    char want[512];
    snprintf(want, sizeof(want),
             "{\"intent\": \"x\", \"scope\": [\"a\"], \"audience\": \"svc\", \"on_behalf_of\": \"%s\"}", idt);
    check_json_body(0, want);

    /* a file others may read, not a JWT, missing: refused before sending */
    int n = fake_connections();
    snprintf(file, sizeof(file), "@%s", secret_file("open.jwt", "a.b.c\n", 0644));
    RUN(&r, "start", "--intent", "x", "--scope", "a", "--audience", "svc", "--svid", SVID, "--on-behalf-of",
        file);
    expect(&r, MD_EXIT_USAGE, "", NULL);
    assert_non_null(strstr(r.err, "mandate: --on-behalf-of: token file "));
    assert_non_null(strstr(r.err, "lets group or others read it"));
    RUN(&r, "start", "--intent", "x", "--scope", "a", "--audience", "svc", "--svid", SVID, "--on-behalf-of",
        "not-a-jwt");
    expect(&r, MD_EXIT_USAGE, "",
           "mandate: --on-behalf-of is not a JWT (three base64url parts separated by dots) (see `mandate "
           "help task "
           "start`)\n");
    RUN(&r, "start", "--intent", "x", "--scope", "a", "--audience", "svc", "--svid", "@/nonexistent/svid");
    expect(&r, MD_EXIT_USAGE, "",
           "mandate: --svid: token file /nonexistent/svid: No such file or directory\n");
    assert_int_equal(fake_connections(), n);
}

static void test_svid_from_stdin(void **state)
{
    run_t r;
    int p[2], saved = dup(0);
    assert_int_equal(pipe(p), 0);
    assert_int_equal(write(p[1], SVID "\n", strlen(SVID) + 1), (ssize_t)strlen(SVID) + 1);
    close(p[1]);
    dup2(p[0], 0);
    close(p[0]);
    fake_answers(1, answer(200, "{\"task_id\": \"" TASK "\", \"state\": \"ended\", \"tasks_changed\": 3}"));
    RUN(&r, "end", TASK, "--svid", "@-");
    dup2(saved, 0);
    close(saved);
    expect(&r, MD_EXIT_OK, "ended task " TASK " (3 tasks changed)\n", "");
    check_request(0, "POST /v1/tasks/" TASK "/end", 't', SVID);
    assert_null(strcasestr(fake_request(0, NULL), "Content-Length"));
}

static void test_end(void **state)
{
    run_t r;
    fake_answers(1, answer(409, "{\"error\": \"conflict\", \"message\": \"task " TASK " is ended\"}"));
    RUN(&r, "end", TASK, "--svid", SVID);
    expect(&r, MD_EXIT_REFUSED, "", "mandate: task " TASK " is ended (HTTP 409 conflict)\n");
    fake_answers(1, answer(200, "{\"task_id\": \"" TASK "\", \"state\": \"ended\", \"tasks_changed\": 1}"));
    RUN(&r, "end", "--json", TASK, "--svid", SVID);
    expect(&r, MD_EXIT_OK, NULL, "");
    assert_non_null(strstr(r.out, "\"tasks_changed\": 1"));
}

static const char *const DELEGATE_OK =
    "{\"access_token\": \"" CHILD
    "\", \"issued_token_type\": \"urn:ietf:params:oauth:token-type:access_token\", "
    "\"token_type\": \"Bearer\", \"expires_in\": 120, \"scope\": \"tickets:read\", \"task_id\": \"" TASK_B
    "\"}";

static void test_delegate(void **state)
{
    run_t r;
    char mandate_file[200];

    snprintf(mandate_file, sizeof(mandate_file), "@%s", secret_file("parent.jwt", MANDATE "\n", 0600));
    fake_answers(1, answer(200, DELEGATE_OK));
    time_t before = time(NULL);
    RUN(&r, "delegate", "--mandate", mandate_file, "--to-svid", SVID2, "--scope", "tickets:read,a&b=c%",
        "--ttl", "2m", "--audience", "tickets api/\xc3\xa9", "--svid", SVID);
    time_t after = time(NULL);
    expect(&r, MD_EXIT_OK, NULL, "");
    check_request(0, "POST /oauth/token", 't', SVID);
    const char *q = fake_request(0, NULL);
    assert_non_null(strstr(q, "\r\nContent-Type: application/x-www-form-urlencoded\r\n"));
    assert_string_equal(
        body_of(q), "grant_type=urn%3Aietf%3Aparams%3Aoauth%3Agrant-type%3Atoken-exchange"
                    "&subject_token=" MANDATE
                    "&subject_token_type=urn%3Aietf%3Aparams%3Aoauth%3Atoken-type%3Aaccess_token"
                    "&actor_token=" SVID2 "&actor_token_type=urn%3Aietf%3Aparams%3Aoauth%3Atoken-type%3Ajwt"
                    "&scope=tickets%3Aread%20a%26b%3Dc%25&ttl=120"
                    "&audience=tickets%20api%2F%C3%A9");
    /* expires: now + expires_in */
    char want1[512], want2[512], t[32];
    json_t *e = json_integer((json_int_t)before + 120);
    snprintf(want1, sizeof(want1), "task " TASK_B "\nmandate " CHILD "\nexpires %s\nscope tickets:read\n",
             iso_time(e, t));
    json_decref(e);
    e = json_integer((json_int_t)after + 120);
    snprintf(want2, sizeof(want2), "task " TASK_B "\nmandate " CHILD "\nexpires %s\nscope tickets:read\n",
             iso_time(e, t));
    json_decref(e);
    if (strcmp(r.out, want1) != 0 && strcmp(r.out, want2) != 0) fail_msg("out: %s", r.out);

    /* only the required parameters; --mandate-only */
    fake_answers(1, answer(200, DELEGATE_OK));
    RUN(&r, "delegate", "--mandate", MANDATE, "--to-svid", SVID2, "--svid", SVID, "--mandate-only");
    expect(&r, MD_EXIT_OK, CHILD "\n", "");
    assert_string_equal(
        body_of(fake_request(0, NULL)),
        "grant_type=urn%3Aietf%3Aparams%3Aoauth%3Agrant-type%3Atoken-exchange"
        "&subject_token=" MANDATE "&subject_token_type=urn%3Aietf%3Aparams%3Aoauth%3Atoken-type%3A"
        "access_token&actor_token=" SVID2 "&actor_token_type=urn%3Aietf%3Aparams%3Aoauth%3Atoken-type%3Ajwt");

    /* RFC 6749 errors: error_description, HTTP 400 and the code, exit 3 */
    const char *oauth =
        "{\"error\": \"invalid_scope\", \"error_description\": \"scope \\\"admin\\\" exceeds the "
        "parent mandate's scope\"}";
    fake_answers(1, answer(400, oauth));
    RUN(&r, "delegate", "--mandate", MANDATE, "--to-svid", SVID2, "--svid", SVID, "--scope", "admin");
    expect(&r, MD_EXIT_REFUSED, "",
           "mandate: scope \"admin\" exceeds the parent mandate's scope (HTTP 400 invalid_scope)\n");
    fake_answers(1, answer(400, oauth));
    RUN(&r, "delegate", "--mandate", MANDATE, "--to-svid", SVID2, "--svid", SVID, "--json");
    expect(
        &r, MD_EXIT_REFUSED,
        "{\"error\":\"invalid_scope\",\"message\":\"scope \\\"admin\\\" exceeds the parent mandate's scope\","
        "\"status\":400}\n",
        "");

    /* an answer without the child's task or token */
    fake_answers(1, answer(200, "{\"access_token\": \"" CHILD "\", \"expires_in\": 120}"));
    RUN(&r, "delegate", "--mandate", MANDATE, "--to-svid", SVID2, "--svid", SVID);
    expect(&r, MD_EXIT_SERVER, "", NULL);
}

static void test_introspect(void **state)
{
    run_t r;
    const char *active =
        "{\"active\": true, \"scope\": \"tickets:read\", \"client_id\": \"spiffe://example.org/agent/sub2\", "
        "\"sub\": \"spiffe://example.org/agent/bot\", \"aud\": \"tickets-api\", \"iss\": \"" ISSUER "\", "
        "\"exp\": 1795871700, \"iat\": 1795871100, \"jti\": \"" TASK_C "\", \"token_type\": \"Bearer\", "
        "\"task\": {\"id\": \"" TASK_C
        "\", \"intent\": \"answer ticket 42\", \"depth\": 2, \"parent\": \"" TASK_B
        "\"}, \"act\": {\"sub\": \"spiffe://example.org/agent/sub2\", \"act\": {\"sub\": "
        "\"spiffe://example.org/agent/sub\"}}, \"obo\": {\"iss\": \"https://idp.example.org\", \"sub\": "
        "\"alice\", "
        "\"email\": \"alice@example.org\"}}";

    /* the admin token ($MANDATE_TOKEN_FILE) when no SVID is given */
    fake_answers(1, answer(200, active));
    RUN(&r, "introspect", CHILD);
    expect(&r, MD_EXIT_OK,
           "active\n"
           "task:         " TASK_C "\n"
           "intent:       answer ticket 42\n"
           "depth:        2\n"
           "parent:       " TASK_B "\n"
           "holder:       spiffe://example.org/agent/sub2\n"
           "subject:      spiffe://example.org/agent/bot\n"
           "audience:     tickets-api\n"
           "scope:        tickets:read\n"
           "issued:       2026-11-28T13:05:00Z\n"
           "expires:      2026-11-28T13:15:00Z\n"
           "issuer:       " ISSUER "\n"
           "token_type:   Bearer\n"
           "actors:       spiffe://example.org/agent/sub2\n"
           "              spiffe://example.org/agent/sub\n"
           "on_behalf_of: alice (https://idp.example.org) alice@example.org\n",
           "");
    check_request(0, "POST /oauth/introspect", 't', ADMIN_TOKEN);
    const char *q = fake_request(0, NULL);
    assert_non_null(strstr(q, "\r\nContent-Type: application/x-www-form-urlencoded\r\n"));
    assert_string_equal(body_of(q), "token=" CHILD);

    /* inactive: exit 2; as an agent with --svid */
    fake_answers(1, answer(200, "{\"active\": false}"));
    RUN(&r, "introspect", CHILD, "--svid", SVID);
    expect(&r, TASK_EXIT_INACTIVE, "inactive\n", "");
    check_request(0, "POST /oauth/introspect", 't', SVID);
    fake_answers(1, answer(200, "{\"active\": false}"));
    RUN(&r, "introspect", "--json", CHILD, "--token-file", fake.token_file);
    expect(&r, TASK_EXIT_INACTIVE, "{\n  \"active\": false\n}\n", "");
    /* $MANDATE_SVID comes before the admin token */
    setenv(SVID_ENV, SVID2, 1);
    fake_answers(1, answer(200, active));
    RUN(&r, "introspect", CHILD, "--json");
    unsetenv(SVID_ENV);
    expect(&r, MD_EXIT_OK, NULL, "");
    check_request(0, "POST /oauth/introspect", 't', SVID2);
    /* a bad answer */
    fake_answers(1, answer(200, "{\"active\": \"yes\"}"));
    RUN(&r, "introspect", CHILD);
    expect(&r, MD_EXIT_SERVER, "", "mandate: the server's answer has no \"active\" member\n");
    /* nothing to authenticate with */
    unsetenv("MANDATE_TOKEN_FILE");
    int n = fake_connections();
    RUN(&r, "introspect", CHILD);
    setenv("MANDATE_TOKEN_FILE", fake.token_file, 1);
    expect(&r, MD_EXIT_USAGE, "", NULL);
    assert_non_null(strstr(r.err, "no credentials"));
    assert_int_equal(fake_connections(), n);
}

/* ---------------------------------------------------------------- admin commands */

static void test_revoke(void **state)
{
    run_t r;
    const char *ok = "{\"task_id\": \"" TASK "\", \"state\": \"revoked\", \"tasks_changed\": 4}";

    fake_answers(1, answer(200, ok));
    RUN(&r, "revoke", TASK, "--reason", "wrong sub-agent \xc3\xa9");
    expect(&r, MD_EXIT_OK, "revoked task " TASK " (4 tasks changed)\n", "");
    check_request(0, "POST /v1/admin/tasks/" TASK "/revoke", 't', ADMIN_TOKEN);
    check_json_body(0, "{\"reason\": \"wrong sub-agent \\u00e9\"}");
    fake_answers(1, answer(200, ok));
    RUN(&r, "revoke", TASK, "--json");
    expect(&r, MD_EXIT_OK, NULL, "");
    assert_string_equal(body_of(fake_request(0, NULL)), "");
    assert_null(strcasestr(fake_request(0, NULL), "Content-Length"));
    char reason[513], want[600];
    memset(reason, 'r', 512);
    reason[512] = '\0';
    fake_answers(1, answer(200, ok));
    RUN(&r, "revoke", TASK, "--reason", reason);
    expect(&r, MD_EXIT_OK, NULL, "");
    snprintf(want, sizeof(want), "{\"reason\": \"%s\"}", reason);
    check_json_body(0, want);
    fake_answers(1, answer(404, "{\"error\": \"not_found\", \"message\": \"no task " TASK "\"}"));
    RUN(&r, "revoke", TASK);
    expect(&r, MD_EXIT_REFUSED, "", "mandate: no task " TASK " (HTTP 404 not_found)\n");
    fake_answers(1, answer(401, "{\"error\": \"unauthorized\", \"message\": \"bad admin token\"}"));
    RUN(&r, "revoke", TASK, "--json");
    expect(&r, MD_EXIT_REFUSED,
           "{\"error\":\"unauthorized\",\"message\":\"bad admin token\",\"status\":401}\n", "");
}

static const char *const SHOW_OK =
    "{\"id\": \"" TASK_B "\", \"parent\": \"" TASK "\", \"root\": \"" TASK "\", \"depth\": 1, "
    "\"subject\": \"spiffe://example.org/agent/bot\", \"holder\": \"spiffe://example.org/agent/sub\", "
    "\"agent_id\": \"ag_ac4041f7cd328048\", \"audience\": \"tickets-api\", "
    "\"intent\": \"answer ticket 42\\u001b[2J\", \"scope\": \"tickets:read tickets:write\", \"state\": "
    "\"revoked\", "
    "\"reason\": \"wrong sub-agent\", \"created_at\": 1795871100, \"expires_at\": 1795871700, "
    "\"ended_at\": 1795871400, \"on_behalf_of\": {\"iss\": \"https://idp.example.org\", \"sub\": \"alice\"}}";

static void test_show(void **state)
{
    run_t r;
    fake_answers(1, answer(200, SHOW_OK));
    RUN(&r, "show", TASK_B);
    expect(&r, MD_EXIT_OK,
           "id:           " TASK_B "\n"
           "state:        revoked\n"
           "intent:       answer ticket 42?[2J\n" /* a terminal escape from the server is not passed on */
           "holder:       spiffe://example.org/agent/sub\n"
           "agent_id:     ag_ac4041f7cd328048\n"
           "subject:      spiffe://example.org/agent/bot\n"
           "audience:     tickets-api\n"
           "scope:        tickets:read tickets:write\n"
           "depth:        1\n"
           "parent:       " TASK "\n"
           "root:         " TASK "\n"
           "reason:       wrong sub-agent\n"
           "created:      2026-11-28T13:05:00Z\n"
           "expires:      2026-11-28T13:15:00Z\n"
           "ended:        2026-11-28T13:10:00Z\n"
           "on_behalf_of: alice (https://idp.example.org)\n",
           "");
    check_request(0, "GET /v1/admin/tasks/" TASK_B, 't', ADMIN_TOKEN);
    /* a root task that is active: no parent, no reason, not ended */
    fake_answers(1,
                 answer(200, "{\"id\": \"" TASK "\", \"parent\": null, \"root\": \"" TASK "\", \"depth\": 0, "
                             "\"state\": \"active\", \"reason\": null, \"ended_at\": 0, \"scope\": \"a\"}"));
    RUN(&r, "show", TASK);
    expect(&r, MD_EXIT_OK, NULL, "");
    assert_non_null(strstr(r.out, "\nparent:       -\n"));
    assert_non_null(strstr(r.out, "\nreason:       -\n"));
    assert_non_null(strstr(r.out, "\nended:        -\n"));
    assert_null(strstr(r.out, "on_behalf_of"));
    fake_answers(1, answer(200, "[1]"));
    RUN(&r, "show", TASK);
    expect(&r, MD_EXIT_SERVER, "", "mandate: the server's answer is not a task\n");
}

static void test_list(void **state)
{
    run_t r;
    const char *tasks =
        "{\"tasks\": [{\"id\": \"" TASK_B "\", \"state\": \"active\", \"depth\": 1, \"holder\": "
        "\"spiffe://example.org/agent/sub\", \"audience\": \"tickets-api\", \"scope\": \"tickets:read\", "
        "\"expires_at\": 1795871700}, {\"id\": \"" TASK
        "\", \"state\": \"revoked\", \"depth\": 0, \"holder\": "
        "\"spiffe://example.org/agent/bot\", \"audience\": \"t\\u00e9\", \"scope\": \"tickets:read "
        "tickets:write\", "
        "\"expires_at\": 1795871100}]}";

    fake_answers(1, answer(200, tasks));
    RUN(&r, "list");
    expect(
        &r, MD_EXIT_OK,
        "ID                                STATE    DEPTH  HOLDER                          AUDIENCE     SCOPE"
        "                       EXPIRES\n" TASK_B
        "  active   1      spiffe://example.org/agent/sub  tickets-api  tickets:read"
        "                2026-11-28T13:15:00Z\n" TASK
        "  revoked  0      spiffe://example.org/agent/bot  t\xc3\xa9           tickets:read,tickets:write"
        "  2026-11-28T13:05:00Z\n",
        "");
    check_request(0, "GET /v1/admin/tasks", 't', ADMIN_TOKEN);
    fake_answers(1, answer(200, "{\"tasks\": []}"));
    RUN(&r, "list", "--holder", "spiffe://example.org/agent/bot", "--root", TASK, "--state", "expired",
        "--limit", "100000");
    expect(&r, MD_EXIT_OK, "no tasks\n", "");
    check_request(0,
                  "GET /v1/admin/tasks?holder=spiffe://example.org/agent/bot&root=" TASK
                  "&state=expired&limit=100000",
                  't', ADMIN_TOKEN);
    fake_answers(1, answer(200, "{\"tasks\": []}"));
    RUN(&r, "list", "--state", "active", "--json");
    expect(&r, MD_EXIT_OK, "{\n  \"tasks\": []\n}\n", "");
    check_request(0, "GET /v1/admin/tasks?state=active", 't', ADMIN_TOKEN);
    fake_answers(1, answer(200, "{\"agents\": []}"));
    RUN(&r, "list");
    expect(&r, MD_EXIT_SERVER, "", "mandate: the server's answer has no \"tasks\" array\n");
}

static const char *const TREE =
    "{\"id\": \"" TASK "\", \"state\": \"active\", \"holder\": \"spiffe://example.org/agent/bot\", "
    "\"scope\": \"tickets:read tickets:write\", \"intent\": \"answer ticket 42\", \"children\": ["
    "  {\"id\": \"" TASK_B "\", \"state\": \"revoked\", \"holder\": \"spiffe://example.org/agent/sub\", "
    "   \"scope\": \"tickets:read\", \"intent\": \"answer ticket 42\", \"children\": ["
    "     {\"id\": \"" TASK_C "\", \"state\": \"revoked\", \"holder\": \"spiffe://example.org/agent/sub\", "
    "      \"scope\": \"tickets:read\", \"intent\": \"answer ticket 42\", \"children\": []}]},"
    "  {\"id\": \"" TASK_D "\", \"state\": \"ended\", \"holder\": \"spiffe://example.org/agent/summarizer\", "
    "   \"scope\": \"tickets:write\", \"intent\": \"summarize\", \"children\": []}]}";

static void test_tree(void **state)
{
    run_t r;
    fake_answers(1, answer(200, TREE));
    RUN(&r, "tree", TASK);
    expect(&r, MD_EXIT_OK,
           TASK
           " active  spiffe://example.org/agent/bot         tickets:read tickets:write  (answer ticket 42)\n"
           "├── " TASK_B " revoked spiffe://example.org/agent/sub         tickets:read\n"
           "│   └── " TASK_C " revoked spiffe://example.org/agent/sub         tickets:read\n"
           "└── " TASK_D " ended   spiffe://example.org/agent/summarizer  tickets:write  (summarize)\n",
           "");
    check_request(0, "GET /v1/admin/tasks/" TASK "/tree", 't', ADMIN_TOKEN);
    fake_answers(1, answer(200, TREE));
    RUN(&r, "tree", TASK, "--ascii");
    expect(&r, MD_EXIT_OK,
           TASK
           " active  spiffe://example.org/agent/bot         tickets:read tickets:write  (answer ticket 42)\n"
           "|-- " TASK_B " revoked spiffe://example.org/agent/sub         tickets:read\n"
           "|   `-- " TASK_C " revoked spiffe://example.org/agent/sub         tickets:read\n"
           "`-- " TASK_D " ended   spiffe://example.org/agent/summarizer  tickets:write  (summarize)\n",
           "");
    fake_answers(1, answer(200, TREE));
    RUN(&r, "tree", TASK, "--json");
    expect(&r, MD_EXIT_OK, NULL, "");
    json_t *got = json_loads(r.out, 0, NULL), *want = json_loads(TREE, 0, NULL);
    assert_true(json_equal(got, want));
    json_decref(got);
    json_decref(want);
    fake_answers(1, answer(200, "{\"tasks\": []}"));
    RUN(&r, "tree", TASK);
    expect(&r, MD_EXIT_SERVER, "", "mandate: the server's answer is not a task tree\n");
    /* a very deep answer is cut, not a stack overflow */
    static char deep[200000];
    size_t n = 0;
    for (int i = 0; i < 1500; i++)
        n += (size_t)snprintf(deep + n, sizeof(deep) - n, "{\"id\":\"%d\",\"children\":[", i);
    for (int i = 0; i < 1500; i++)
        n += (size_t)snprintf(deep + n, sizeof(deep) - n, "]}");
    static char deep_answer[220000];
    snprintf(deep_answer, sizeof(deep_answer), "HTTP/1.1 200 OK\r\nContent-Length: %zu\r\n\r\n%s", n, deep);
    fake_answers(1, deep_answer);
    RUN(&r, "tree", TASK);
    assert_true(r.rc == MD_EXIT_OK || r.rc == MD_EXIT_SERVER); /* jansson may refuse the depth itself */
}

static void test_quarantine(void **state)
{
    run_t r;
    const char *ok = "{\"id\": \"ag_4bb5bd645ac8cd69\", \"spiffe_id\": \"spiffe://example.org/agent/bot\", "
                     "\"state\": \"quarantined\", \"tasks_revoked\": 3}";
    fake_answers(1, answer(200, ok));
    RUN_Q(&r, "spiffe://example.org/agent/bot", "--reason", "leaked its mandate");
    expect(&r, MD_EXIT_OK,
           "quarantined agent ag_4bb5bd645ac8cd69 (spiffe://example.org/agent/bot): 3 tasks revoked\n", "");
    check_request(0, "POST /v1/admin/agents/spiffe%3A%2F%2Fexample.org%2Fagent%2Fbot/quarantine", 't',
                  ADMIN_TOKEN);
    check_json_body(0, "{\"reason\": \"leaked its mandate\"}");
    fake_answers(1, answer(200, ok));
    RUN_Q(&r, "ag_4bb5bd645ac8cd69", "--json");
    expect(&r, MD_EXIT_OK, NULL, "");
    check_request(0, "POST /v1/admin/agents/ag_4bb5bd645ac8cd69/quarantine", 't', ADMIN_TOKEN);
    assert_null(strcasestr(fake_request(0, NULL), "Content-Length"));
    fake_answers(1, answer(404, "{\"error\": \"not_found\", \"message\": \"no such agent\"}"));
    RUN_Q(&r, "ag_0000000000000000");
    expect(&r, MD_EXIT_REFUSED, "", "mandate: no such agent (HTTP 404 not_found)\n");
    int n = fake_connections();
    RUN_Q(&r, "ag_1", "--svid", SVID);
    expect(&r, MD_EXIT_USAGE, "",
           "mandate: `agent quarantine` does not take --svid (see `mandate help agent quarantine`)\n");
    RUN_Q(&r, "--reason", "x");
    expect(
        &r, MD_EXIT_USAGE, "",
        "mandate: name the agent: its id (ag_...) or its SPIFFE ID (see `mandate help agent quarantine`)\n");
    RUN_Q(&r, "a\nb");
    expect(&r, MD_EXIT_USAGE, "", NULL);
    assert_non_null(strstr(r.err, "has a control character"));
    assert_int_equal(fake_connections(), n);
}

/* ---------------------------------------------------------------- usage */

static void usage_is(const char *why, const run_t *r, const char *text, int connections_before)
{
    if (r->rc != MD_EXIT_USAGE) fail_msg("%s: exit %d (%s%s)", why, r->rc, r->out, r->err);
    if (fake_connections() != connections_before) fail_msg("%s: connected to the server", why);
    if (text != NULL && strstr(r->err, text) == NULL && strstr(r->out, text) == NULL)
        fail_msg("%s: \"%s\" does not say \"%s\"", why, r->err, text);
}

static void test_usage(void **state)
{
    run_t r;
    char big[600], scope[200];
    int n = fake_connections();

    fake_answers(0);
    setenv(MD_CLIENT_SOCKET_ENV, fake.sock, 1);
    RUN(&r, "start", "--scope", "a", "--audience", "svc");
    usage_is("no --intent", &r,
             "--intent, --scope and --audience are required (see `mandate help task start`)", n);
    RUN(&r, "start", "--intent", "", "--scope", "a", "--audience", "svc");
    usage_is("empty intent", &r, "--intent must not be empty", n);
    memset(big, 'x', 513);
    big[513] = '\0';
    RUN(&r, "start", "--intent", big, "--scope", "a", "--audience", "svc");
    usage_is("long intent", &r, "--intent is longer than 512 bytes", n);
    RUN(&r, "revoke", TASK, "--reason", big);
    usage_is("long reason", &r, "--reason is longer than 512 bytes", n);
    RUN(&r, "start", "--intent", "a\tb", "--scope", "a", "--audience", "svc");
    usage_is("intent with a tab", &r, "--intent has a control character", n);
    RUN(&r, "start", "--intent", "a\xc2\x85", "--scope", "a", "--audience", "svc");
    usage_is("intent with a C1 control", &r, "--intent has a control character", n);
    RUN(&r, "start", "--intent", "a\xff", "--scope", "a", "--audience", "svc");
    usage_is("intent not UTF-8", &r, "--intent is not valid UTF-8", n);
    RUN(&r, "start", "--intent", "x", "--scope", "a", "--audience", "");
    usage_is("empty audience", &r, "--audience must not be empty", n);
    memset(big, 'a', 256);
    big[256] = '\0';
    RUN(&r, "start", "--intent", "x", "--scope", "a", "--audience", big);
    usage_is("long audience", &r, "--audience is longer than 255 bytes", n);
    RUN(&r, "start", "--intent", "x", "--scope", "a,,", "--audience", "svc", "--scope", ",");
    usage_is("empty scope", &r, "--scope: no scope given", n);
    RUN(&r, "start", "--intent", "x", "--scope", "a\"b", "--audience", "svc");
    usage_is("scope with a quote", &r, "--scope: `a\"b` is not a scope", n);
    RUN(&r, "start", "--intent", "x", "--scope", "a\x01", "--audience", "svc");
    usage_is("scope with a control", &r, "--scope: `a?` is not a scope", n);
    memset(scope, 's', 129);
    scope[129] = '\0';
    RUN(&r, "start", "--intent", "x", "--scope", scope, "--audience", "svc");
    usage_is("long scope", &r, "is not a scope (1 to 128 bytes", n);
    RUN(&r, "start", "--intent", "x", "--scope", "a,b", "--scope", "a", "--audience", "svc");
    usage_is("scope twice", &r, "--scope a is given twice", n);
    static char many[129 * 5];
    size_t k = 0;
    for (int i = 0; i < 129; i++)
        k += (size_t)snprintf(many + k, sizeof(many) - k, "%s%d", i ? "," : "", i);
    RUN(&r, "start", "--intent", "x", "--scope", many, "--audience", "svc");
    usage_is("too many scopes", &r, "--scope: more than 128 scopes", n);
    static char *const ttls[] = {"0", "-5", "5d", "", "1e3", "9999999999"};
    for (size_t i = 0; i < sizeof(ttls) / sizeof(ttls[0]); i++) {
        RUN(&r, "start", "--intent", "x", "--scope", "a", "--audience", "svc", "--ttl", ttls[i]);
        usage_is(ttls[i], &r, "--ttl must be a duration such as 300, 90s, 5m or 1h", n);
    }
    RUN(&r, "start", "--intent", "x", "--scope", "a", "--audience", "svc", "--svid", SVID, "--socket",
        fake.sock);
    usage_is("--svid and --socket", &r, "give --svid or --socket, not both", n);
    RUN(&r, "start", "--intent", "x", "--scope", "a", "--audience", "svc", "--json", "--mandate-only");
    usage_is("--json and --mandate-only", &r, "give --json or --mandate-only, not both", n);
    RUN(&r, "start", "--intent", "x", "--scope", "a", "--audience", "svc", "--token-file", fake.token_file);
    usage_is("start --token-file", &r, "`task start` does not take --token-file", n);
    RUN(&r, "start", "--intent", "x", "--scope", "a", "--audience", "svc", "--svid", "a.b");
    usage_is("--svid not a JWT", &r, "--svid is not a JWT", n);
    RUN(&r, "start", "--intent", "x", "--scope", "a", "--audience", "svc", "--svid", SVID "\r\nX-Evil: 1");
    usage_is("--svid with a header", &r, "--svid is not a JWT", n);
    setenv(SVID_ENV, "garbage", 1);
    RUN(&r, "start", "--intent", "x", "--scope", "a", "--audience", "svc");
    usage_is("$MANDATE_SVID not a JWT", &r, "MANDATE_SVID is not a JWT", n);
    unsetenv(SVID_ENV);
    /* a path without @ is taken as the token itself, and is not one */
    RUN(&r, "start", "--intent", "x", "--scope", "a", "--audience", "svc", "--svid",
        secret_file("open-svid", SVID "\n", 0640));
    usage_is("--svid PATH without @", &r, "--svid is not a JWT", n);
    char at[200];
    snprintf(at, sizeof(at), "@%s", secret_file("open-svid", SVID "\n", 0640));
    RUN(&r, "start", "--intent", "x", "--scope", "a", "--audience", "svc", "--svid", at);
    usage_is("--svid @FILE readable by the group", &r, "lets group or others read it", n);
    unsetenv(MD_CLIENT_SOCKET_ENV);
    RUN(&r, "start", "--intent", "x", "--scope", "a", "--audience", "svc");
    usage_is("no SVID at all", &r,
             "no SVID: give --svid TOKEN|@FILE or set MANDATE_SVID, or give --socket PATH or set "
             "MANDATE_AGENT_SOCKET to fetch one",
             n);
    RUN(&r, "start", "--intent", "x", "--scope", "a", "--audience", "svc", "--socket", "relative.sock");
    usage_is("relative socket", &r, "the path must be absolute", n);
    RUN(&r, "start", "--intent", "x", "--scope", "a", "--audience", "svc", "--svid", SVID, "--addr",
        "ftp://x");
    usage_is("bad address", &r, "the scheme must be http:// or https://", n);
    /* task ids */
    static char *const ids[] = {"",
                                "0123",
                                TASK "0",
                                "0123456789ABCDEF0123456789ABCDEF",
                                "g123456789abcdef0123456789abcdef",
                                "../../v1/admin/tasks0123456789ab"};
    for (size_t i = 0; i < sizeof(ids) / sizeof(ids[0]); i++) {
        RUN(&r, "show", ids[i]);
        usage_is(ids[i], &r, "the task id must be 32 lowercase hex digits", n);
        RUN(&r, "end", ids[i], "--svid", SVID);
        usage_is(ids[i], &r, "the task id must be 32 lowercase hex digits", n);
    }
    RUN(&r, "tree");
    usage_is("tree without an id", &r, "name the task: its id (32 lowercase hex digits)", n);
    RUN(&r, "show", TASK, TASK_B);
    usage_is("two ids", &r, "unexpected argument `" TASK_B "`", n);
    RUN(&r, "revoke", TASK, "--reason", "");
    usage_is("empty reason", &r, "--reason must not be empty", n);
    RUN(&r, "revoke", TASK, "--reason", "a\nb");
    usage_is("reason with a newline", &r, "--reason has a control character", n);
    RUN(&r, "list", "--state", "gone");
    usage_is("bad state", &r, "--state must be active, ended, revoked or expired", n);
    static char *const limits[] = {"0", "100001", "-1", "1x", ""};
    for (size_t i = 0; i < sizeof(limits) / sizeof(limits[0]); i++) {
        RUN(&r, "list", "--limit", limits[i]);
        usage_is(limits[i], &r, "--limit must be 1 to 100000", n);
    }
    RUN(&r, "list", "--holder", "spiffe://example.org/a b");
    usage_is("bad holder", &r, "--holder must be a SPIFFE ID", n);
    RUN(&r, "list", "--holder", "spiffe://example.org/a&state=x");
    usage_is("holder smuggling a parameter", &r, "--holder must be a SPIFFE ID", n);
    RUN(&r, "list", "--root", "abc");
    usage_is("bad root", &r, "--root must be a task id", n);
    RUN(&r, "list", "--ascii");
    usage_is("list --ascii", &r, "`task list` does not take --ascii", n);
    RUN(&r, "tree", TASK, "--svid", SVID);
    usage_is("tree --svid", &r, "`task tree` does not take --svid", n);
    RUN(&r, "delegate", "--mandate", MANDATE, "--svid", SVID);
    usage_is("delegate without --to-svid", &r, "--mandate and --to-svid are required", n);
    RUN(&r, "delegate", "--mandate", "x.y", "--to-svid", SVID2, "--svid", SVID);
    usage_is("delegate --mandate not a JWT", &r, "--mandate is not a JWT", n);
    RUN(&r, "delegate", "--mandate", MANDATE, "--to-svid", "@", "--svid", SVID);
    usage_is("delegate --to-svid @", &r, "--to-svid: token file", n);
    RUN(&r, "introspect");
    usage_is("introspect without a token", &r, "give the mandate to introspect: TOKEN, @FILE or @-", n);
    RUN(&r, "introspect", "nope");
    usage_is("introspect not a JWT", &r, "the token is not a JWT", n);
    RUN(&r, "introspect", MANDATE, "--svid", SVID, "--token-file", fake.token_file);
    usage_is("introspect as both", &r, "not both", n);
    RUN(&r, "show", TASK, "--token-file", "/nonexistent/token");
    usage_is("missing token file", &r, "token file /nonexistent/token", n);
    unsetenv("MANDATE_TOKEN_FILE");
    RUN(&r, "list");
    setenv("MANDATE_TOKEN_FILE", fake.token_file, 1);
    usage_is("no admin token", &r, "no admin token", n);
    RUN(&r, "start", "--frobnicate");
    usage_is("unknown option", &r, "unknown option or missing value: --frobnicate", n);
    RUN(&r, "start", "--intent");
    usage_is("missing value", &r, "unknown option or missing value: --intent", n);
    /* --json: one JSON error on stdout */
    RUN(&r, "list", "--limit", "0", "--json");
    usage_is("--json usage", &r, NULL, n);
    assert_string_equal(r.err, "");
    assert_string_equal(r.out,
                        "{\"error\":\"usage\",\"message\":\"--limit must be 1 to 100000\",\"status\":0}\n");
    /* help and dispatch */
    RUN(&r, "start", "--help");
    assert_int_equal(r.rc, MD_EXIT_OK);
    assert_non_null(strstr(r.out, "usage: mandate task start --intent TEXT"));
    RUN(&r, "help");
    assert_int_equal(r.rc, MD_EXIT_OK);
    assert_non_null(
        strstr(r.out, "usage: mandate task <start|end|delegate|introspect|revoke|show|list|tree>"));
    run_argv(&r, md_cmd_task, (char *[]){"task", NULL});
    assert_int_equal(r.rc, MD_EXIT_USAGE);
    assert_non_null(strstr(r.err, "usage: mandate task"));
    RUN(&r, "frobnicate");
    assert_int_equal(r.rc, MD_EXIT_USAGE);
    assert_string_equal(r.err, "mandate: unknown command `task frobnicate` (see `mandate help task`)\n");
    static const char *const helps[] = {
        "task",        "task start", "task end",  "task delegate", "task introspect",
        "task revoke", "task show",  "task list", "task tree",     "agent quarantine"};
    for (size_t i = 0; i < sizeof(helps) / sizeof(helps[0]); i++) {
        const char *h = md_cmd_task_help(helps[i]);
        if (h == NULL || strncmp(h, "usage: mandate ", 15) != 0 || strstr(h, "Exit status") == NULL)
            fail_msg("help of %s", helps[i]);
    }
    assert_null(md_cmd_task_help("task frobnicate"));
    assert_int_equal(fake_connections(), n);
}

/* ---------------------------------------------------------------- the client's additions */

static void test_client_parts(void **state)
{
    md_buf_t b;
    md_buf_init(&b);
    form_add(&b, "a b", "x+y&z=%\xc3\xa9~-._");
    form_add(&b, "token", MANDATE);
    md_buf_adds(&b, "");
    assert_string_equal(b.p, "a%20b=x%2By%26z%3D%25%C3%A9~-._&token=" MANDATE);
    md_buf_free(&b);
    assert_true(md_client_is_jws(SVID));
    assert_false(md_client_is_jws("a.b"));
    assert_false(md_client_is_jws("a.b.c.d"));
    assert_false(md_client_is_jws(".b.c"));
    assert_false(md_client_is_jws("a.b.c\n"));
    assert_false(md_client_is_jws(NULL));
    assert_int_equal(md_client_parse_duration("90"), 90);
    assert_int_equal(md_client_parse_duration("1m30s"), 90);
    assert_int_equal(md_client_parse_duration("1h"), 3600);
    assert_int_equal(md_client_parse_duration("5d"), -1);
    assert_int_equal(md_client_parse_duration(""), -1);
    /* a larger secret than an admin token */
    char *tok = NULL;
    md_err_t err = {0};
    static char long_token[8000];
    memset(long_token, 'a', sizeof(long_token) - 2);
    long_token[sizeof(long_token) - 2] = '\n';
    const char *p = secret_file("long", long_token, 0600);
    assert_int_equal(md_client_read_token(p, &tok, &err), MD_EINVAL); /* 4096 at most */
    assert_int_equal(md_client_read_secret(p, TASK_TOKEN_MAX, &tok, &err), MD_OK);
    assert_int_equal(strlen(tok), sizeof(long_token) - 2);
    md_client_secret_free(tok);
    unlink(p);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_start_with_svid),
        cmocka_unit_test(test_start_fetches_svid),
        cmocka_unit_test(test_start_answers),
        cmocka_unit_test(test_start_on_behalf_of),
        cmocka_unit_test(test_svid_from_stdin),
        cmocka_unit_test(test_end),
        cmocka_unit_test(test_delegate),
        cmocka_unit_test(test_introspect),
        cmocka_unit_test(test_revoke),
        cmocka_unit_test(test_show),
        cmocka_unit_test(test_list),
        cmocka_unit_test(test_tree),
        cmocka_unit_test(test_quarantine),
        cmocka_unit_test(test_usage),
        cmocka_unit_test(test_client_parts),
    };
    return cmocka_run_group_tests(tests, fake_start, fake_stop);
}
