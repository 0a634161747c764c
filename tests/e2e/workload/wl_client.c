/*
 * wl_client.c: the Workload API e2e test's workload (tests/e2e/workload/run.sh).
 * Built several times with a different CLIENT_VARIANT so each binary has its
 * own SHA-256, and registered (or not) by that hash.
 *
 *   wl_client once SOCKET BODY [CONTENT_TYPE]   one POST /v1/svid with BODY
 *   wl_client twice SOCKET BODY                 the same, then waits for a line on
 *                                               stdin, then again on a new connection
 *   wl_client fork-exit SOCKET BODY             the connecting process exits before
 *                                               its child sends the request on the
 *                                               inherited connection (see below)
 *   wl_client keepalive SOCKET BODY N           N requests one after the other on one
 *                                               connection (keep-alive)
 *   wl_client pipeline SOCKET BODY N            N requests written at once on one
 *                                               connection, then the N answers read
 *   wl_client hangup SOCKET BODY                sends the request and closes at once
 *   wl_client raw SOCKET FILE                   FILE's bytes as they are (a whole request)
 *   wl_client get SOCKET PATH                   GET PATH
 *   wl_client variant                           prints its variant
 *
 * Each answer is printed as two lines: the HTTP status line (without CR) and
 * the body; "NO ANSWER" when the connection closed without one.  Exit status
 * 0 when every request got an answer, 1 otherwise, 2 on usage errors.
 * CONTENT_TYPE defaults to application/json; "-" sends no Content-Type.
 * Never runs for more than 20 s (alarm).
 */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#ifndef CLIENT_VARIANT
#define CLIENT_VARIANT 0
#endif
#define STR2(x) #x
#define STR(x) STR2(x)

/* different bytes in each build */
static const char variant[] = "wl_client variant " STR(CLIENT_VARIANT);

#define ANSWER_MAX (1 << 20)

static int dial(const char *path)
{
    struct sockaddr_un sa = {.sun_family = AF_UNIX};
    int s = socket(AF_UNIX, SOCK_STREAM, 0);
    if (s < 0 || strlen(path) >= sizeof(sa.sun_path)) {
        fprintf(stderr, "wl_client: bad socket path\n");
        exit(2);
    }
    memcpy(sa.sun_path, path, strlen(path) + 1);
    if (connect(s, (struct sockaddr *)&sa, sizeof(sa)) != 0) {
        fprintf(stderr, "wl_client: connect %s: %s\n", path, strerror(errno));
        exit(1);
    }
    return s;
}

static int send_all(int s, const char *p, size_t n)
{
    while (n > 0) {
        ssize_t w = send(s, p, n, MSG_NOSIGNAL);
        if (w < 0 && errno == EINTR) continue;
        if (w <= 0) return -1;
        p += w;
        n -= (size_t)w;
    }
    return 0;
}

/* "Connection: close" on every request but those sent with keep_alive set. */
static int keep_alive;

/* The request for BODY (POST /v1/svid) or for a GET of PATH, malloc'd. */
static char *build_request(const char *method, const char *path, const char *body, const char *ctype,
                           size_t *len)
{
    size_t blen = body ? strlen(body) : 0;
    size_t cap = blen + strlen(path) + 512;
    char *req = malloc(cap);
    int n;
    if (req == NULL) exit(1);
    const char *conn = keep_alive ? "" : "Connection: close\r\n";
    if (body == NULL)
        n = snprintf(req, cap, "%s %s HTTP/1.1\r\nHost: localhost\r\n%s\r\n", method, path, conn);
    else if (ctype != NULL && strcmp(ctype, "-") == 0)
        n = snprintf(req, cap, "%s %s HTTP/1.1\r\nHost: localhost\r\n%sContent-Length: %zu\r\n\r\n%s", method,
                     path, conn, blen, body);
    else
        n = snprintf(
            req, cap,
            "%s %s HTTP/1.1\r\nHost: localhost\r\n%sContent-Type: %s\r\nContent-Length: %zu\r\n\r\n%s",
            method, path, conn, ctype ? ctype : "application/json", blen, body);
    if (n < 0 || (size_t)n >= cap) exit(1);
    *len = (size_t)n;
    return req;
}

/* Bytes read from the connection and not yet printed (a pipelined answer may follow one). */
static char inbuf[ANSWER_MAX + 1];
static size_t inlen;

/* Read one answer from s (until its Content-Length is complete, or EOF) and print it. */
static int print_answer(int s)
{
    long clen = -1;
    size_t head = 0; /* bytes of the head, "\r\n\r\n" included; 0 until it is complete */

    for (;;) {
        if (head == 0) {
            inbuf[inlen] = '\0';
            char *end = strstr(inbuf, "\r\n\r\n");
            if (end != NULL) {
                head = (size_t)(end - inbuf) + 4;
                for (char *line = strstr(inbuf, "\r\n"); line != NULL && line < end;
                     line = strstr(line + 2, "\r\n"))
                    if (strncasecmp(line + 2, "content-length:", 15) == 0) clen = strtol(line + 17, NULL, 10);
            }
        }
        if (head > 0 && clen >= 0 && inlen - head >= (size_t)clen) break;
        if (inlen == ANSWER_MAX) break;
        ssize_t r = recv(s, inbuf + inlen, ANSWER_MAX - inlen, 0);
        if (r < 0 && errno == EINTR) continue;
        if (r <= 0) break;
        inlen += (size_t)r;
    }
    if (head == 0) {
        printf("NO ANSWER\n\n");
        fflush(stdout);
        inlen = 0;
        return 1;
    }
    size_t blen = inlen - head;
    if (clen >= 0 && (size_t)clen < blen) blen = (size_t)clen;
    printf("%.*s\n%.*s\n", (int)(strstr(inbuf, "\r\n") - inbuf), inbuf, (int)blen, inbuf + head);
    fflush(stdout);
    memmove(inbuf, inbuf + head + blen, inlen - head - blen);
    inlen -= head + blen;
    return 0;
}

static int exchange(int s, const char *req, size_t len)
{
    if (send_all(s, req, len) != 0) {
        printf("NO ANSWER\n\n");
        fflush(stdout);
        return 1;
    }
    return print_answer(s);
}

static int once(const char *sock, const char *body, const char *ctype)
{
    size_t len;
    char *req = build_request("POST", "/v1/svid", body, ctype, &len);
    int s = dial(sock), rc = exchange(s, req, len);
    close(s);
    free(req);
    return rc;
}

/*
 * fork-exit: process A (this one) becomes a subreaper and forks B; B connects
 * (so SO_PEERCRED names B), forks C and exits at once; A reaps B, so B's pid is
 * gone, not a zombie.  C waits for the pipe whose write end only B held to
 * reach EOF, then until B's pid no longer exists, then sends the request on the
 * connection it inherited and prints the answer.  A waits for C (reparented to
 * it) and exits with its status.
 */
static int fork_exit(const char *sock, const char *body)
{
    int status = 0;
    if (prctl(PR_SET_CHILD_SUBREAPER, 1) != 0) return 1;
    pid_t b = fork();
    if (b < 0) return 1;
    if (b == 0) {
        int p[2];
        pid_t parent = getpid(); /* B, as C will know it */
        int s = dial(sock);
        if (pipe(p) != 0) _exit(1);
        pid_t c = fork();
        if (c < 0) _exit(1);
        if (c > 0) _exit(0); /* B: holds p[1] until now */
        /* C */
        char ch;
        close(p[1]);
        while (read(p[0], &ch, 1) > 0)
            ;
        close(p[0]);
        for (int i = 0; i < 500 && (kill(parent, 0) == 0 || errno != ESRCH); i++) {
            struct timespec ts = {0, 10000000};
            nanosleep(&ts, NULL);
        }
        size_t len;
        char *req = build_request("POST", "/v1/svid", body, NULL, &len);
        int rc = exchange(s, req, len);
        free(req);
        _exit(rc);
    }
    /* A: reap B at once, then C (or anything else reparented to us) */
    pid_t w;
    int rc = 0;
    while ((w = wait(&status)) > 0)
        if (w != b) rc = WIFEXITED(status) ? WEXITSTATUS(status) : 1;
    return rc;
}

static char *read_file(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    char *p = malloc(ANSWER_MAX);
    if (f == NULL || p == NULL) {
        fprintf(stderr, "wl_client: cannot read %s\n", path);
        exit(2);
    }
    *len = fread(p, 1, ANSWER_MAX, f);
    fclose(f);
    return p;
}

int main(int argc, char **argv)
{
    alarm(20); /* never outlive the test */
    if (argc == 2 && strcmp(argv[1], "variant") == 0) {
        printf("%s\n", variant);
        return 0;
    }
    if (argc < 4) {
        fprintf(
            stderr,
            "usage: wl_client once|twice|fork-exit|keepalive|pipeline|hangup|raw|get SOCKET ARG [...] (%s)\n",
            variant);
        return 2;
    }
    const char *mode = argv[1], *sock = argv[2], *arg = argv[3];
    if (strcmp(mode, "once") == 0) return once(sock, arg, argc > 4 ? argv[4] : NULL);
    if (strcmp(mode, "twice") == 0) {
        char line[64];
        int rc = once(sock, arg, NULL);
        if (fgets(line, sizeof(line), stdin) == NULL) return 1;
        return once(sock, arg, NULL) | rc;
    }
    if (strcmp(mode, "fork-exit") == 0) return fork_exit(sock, arg);
    if (strcmp(mode, "keepalive") == 0 || strcmp(mode, "pipeline") == 0) {
        int n = argc > 4 ? atoi(argv[4]) : 2, rc = 0, s = dial(sock);
        if (n < 1 || n > 100) return 2;
        size_t len, all_len = 0;
        char *all = NULL;
        for (int i = 0; i < n; i++) {
            keep_alive = i + 1 < n;
            char *req = build_request("POST", "/v1/svid", arg, NULL, &len);
            if (mode[0] == 'k') {
                rc |= exchange(s, req, len);
            } else {
                all = realloc(all, all_len + len);
                if (all == NULL) return 1;
                memcpy(all + all_len, req, len);
                all_len += len;
            }
            free(req);
        }
        if (mode[0] == 'p') {
            rc = send_all(s, all, all_len) != 0;
            for (int i = 0; i < n; i++)
                rc |= print_answer(s);
            free(all);
        }
        close(s);
        return rc;
    }
    if (strcmp(mode, "hangup") == 0) {
        size_t len;
        char *req = build_request("POST", "/v1/svid", arg, NULL, &len);
        int s = dial(sock), rc = send_all(s, req, len) != 0;
        close(s);
        free(req);
        return rc;
    }
    if (strcmp(mode, "raw") == 0) {
        size_t len;
        char *req = read_file(arg, &len);
        int s = dial(sock), rc = exchange(s, req, len);
        close(s);
        free(req);
        return rc;
    }
    if (strcmp(mode, "get") == 0) {
        size_t len;
        char *req = build_request("GET", arg, NULL, NULL, &len);
        int s = dial(sock), rc = exchange(s, req, len);
        close(s);
        free(req);
        return rc;
    }
    fprintf(stderr, "wl_client: unknown mode %s\n", mode);
    return 2;
}
