/*
 * attest_server.c: the e2e test's stand-in for mandated's identity endpoint.
 * Listens on a Unix socket, attests each connection with src/identity, matches
 * the result against registration entries read from a JSON file (an array of
 * entry objects, entry.h), and for each connection writes one JSON line, to
 * the output file and back to the client, then closes the connection:
 *
 *   {"conn":1,"result":"match","spiffe_id":"spiffe://…","pid":…,"uid":…,"gid":…,
 *    "user":"…","exe":"…","sha256":"…","start_time":…,"pidfd":true}
 *   {"conn":2,"result":"refused","code":"MD_ATTEST_ENO_MATCH","message":"…",
 *    "pid":…, …}      (attestation fields present when attestation succeeded)
 *
 *   attest_server --socket PATH --entries FILE --out FILE
 *                 [--pause-ms N]      test knob: wait after reading the peer's
 *                                     credentials, before looking at /proc
 *                 [--max-seconds N]   exit after N seconds whatever happens (default 120)
 *
 * Stops on SIGTERM/SIGINT.  The socket is made connectable by every uid (the
 * test runs clients under another uid).
 */
#include <errno.h>
#include <jansson.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "identity/attest.h"
#include "identity/entry.h"

static volatile sig_atomic_t stopping;

static void on_signal(int sig)
{
    (void)sig;
    stopping = 1;
}

static void usage(void)
{
    fprintf(stderr, "usage: attest_server --socket PATH --entries FILE --out FILE [--pause-ms N] "
                    "[--max-seconds N]\n");
    exit(2);
}

/* Load the entries file into `a`; exits on any problem (a test setup error). */
static md_entry_t *load_entries(const char *path, md_arena_t *a, size_t *n)
{
    json_error_t je;
    json_t *doc = json_load_file(path, JSON_REJECT_DUPLICATES, &je);
    if (doc == NULL || !json_is_array(doc)) {
        fprintf(stderr, "attest_server: %s: %s\n", path, doc ? "not an array" : je.text);
        exit(2);
    }
    *n = json_array_size(doc);
    md_entry_t *entries = calloc(*n ? *n : 1, sizeof(*entries));
    if (entries == NULL) exit(2);
    for (size_t i = 0; i < *n; i++) {
        md_err_t err = {0};
        if (md_entry_from_json(json_array_get(doc, i), a, &entries[i], &err) != MD_OK) {
            fprintf(stderr, "attest_server: %s: entry %zu: %s\n", path, i, err.msg);
            exit(2);
        }
    }
    json_decref(doc);
    return entries;
}

static void add_attestation(json_t *o, const md_attestation_t *att)
{
    json_object_set_new(o, "pid", json_integer(att->pid));
    json_object_set_new(o, "uid", json_integer(att->uid));
    json_object_set_new(o, "gid", json_integer(att->gid));
    json_object_set_new(o, "user", att->user_known ? json_string(att->user) : json_null());
    json_t *exe = json_string(att->exe_path); /* NULL when not UTF-8 */
    json_object_set_new(o, "exe", exe ? exe : json_null());
    json_object_set_new(o, "sha256", json_string(att->exe_sha256));
    json_object_set_new(o, "start_time", json_integer((json_int_t)att->start_time));
    json_object_set_new(o, "pidfd", json_boolean(att->pidfd_pinned));
}

static char *handle(int conn, long n, const md_entry_t *entries, size_t n_entries,
                    const md_attest_opts_t *opts)
{
    md_attestation_t att;
    md_err_t err = {0};
    json_t *o = json_object();
    json_object_set_new(o, "conn", json_integer(n));
    int rc = md_attest_peer_opts(conn, opts, &att, &err);
    if (rc == MD_OK) {
        const md_entry_t *e = NULL;
        rc = md_attest_match(entries, n_entries, &att, &e, &err);
        if (rc == MD_OK) {
            json_object_set_new(o, "result", json_string("match"));
            json_object_set_new(o, "spiffe_id", json_string(e->spiffe_id));
        }
        add_attestation(o, &att);
    }
    if (rc != MD_OK) {
        json_object_set_new(o, "result", json_string("refused"));
        json_object_set_new(o, "code", json_string(md_attest_code_name(rc)));
        json_object_set_new(o, "message", json_string(err.msg));
    }
    char *line = json_dumps(o, JSON_COMPACT | JSON_PRESERVE_ORDER);
    json_decref(o);
    return line;
}

int main(int argc, char **argv)
{
    const char *sock = NULL, *entries_path = NULL, *out_path = NULL;
    md_attest_opts_t opts = {0};
    unsigned max_seconds = 120;
    for (int i = 1; i < argc; i++) {
        if (i + 1 >= argc) usage();
        if (strcmp(argv[i], "--socket") == 0)
            sock = argv[++i];
        else if (strcmp(argv[i], "--entries") == 0)
            entries_path = argv[++i];
        else if (strcmp(argv[i], "--out") == 0)
            out_path = argv[++i];
        else if (strcmp(argv[i], "--pause-ms") == 0)
            opts.pause_ms = (unsigned)strtoul(argv[++i], NULL, 10);
        else if (strcmp(argv[i], "--max-seconds") == 0)
            max_seconds = (unsigned)strtoul(argv[++i], NULL, 10);
        else
            usage();
    }
    if (sock == NULL || entries_path == NULL || out_path == NULL) usage();
    alarm(max_seconds); /* bounded whatever the test script does */
    signal(SIGPIPE, SIG_IGN);
    struct sigaction sa = {.sa_handler = on_signal};
    sigaction(SIGTERM, &sa, NULL);
    sigaction(SIGINT, &sa, NULL);

    md_arena_t arena;
    md_arena_init(&arena, 16384);
    size_t n_entries = 0;
    md_entry_t *entries = load_entries(entries_path, &arena, &n_entries);
    FILE *out = fopen(out_path, "a");
    if (out == NULL) {
        perror(out_path);
        return 2;
    }

    int lfd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    struct sockaddr_un addr = {.sun_family = AF_UNIX};
    if (lfd < 0 || strlen(sock) >= sizeof(addr.sun_path)) {
        fprintf(stderr, "attest_server: bad socket\n");
        return 2;
    }
    strcpy(addr.sun_path, sock);
    unlink(sock);
    if (bind(lfd, (struct sockaddr *)&addr, sizeof(addr)) != 0 || chmod(sock, 0777) != 0 ||
        listen(lfd, 16) != 0) {
        perror(sock);
        return 2;
    }
    long n = 0;
    while (!stopping) {
        struct pollfd p = {.fd = lfd, .events = POLLIN};
        int r = poll(&p, 1, 200);
        if (r <= 0) continue;
        int conn = accept4(lfd, NULL, NULL, SOCK_CLOEXEC);
        if (conn < 0) continue;
        char *line = handle(conn, ++n, entries, n_entries, &opts);
        if (line != NULL) {
            fprintf(out, "%s\n", line);
            fflush(out);
            size_t len = strlen(line);
            line[len] = '\n';
            (void)write(conn, line, len + 1); /* the peer may be gone */
            free(line);
        }
        close(conn);
    }
    close(lfd);
    unlink(sock);
    fclose(out);
    free(entries);
    md_arena_free(&arena);
    return 0;
}
