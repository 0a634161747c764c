/*
 * fake_http.h: what the CLI tests share (included by the test files that run
 * a fake mandated on a thread and a command with its output captured).
 */
#ifndef MD_TESTS_FAKE_HTTP_H
#define MD_TESTS_FAKE_HTTP_H

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

/* Read one request (head, then Content-Length bytes of body) or until the peer closes. */
static inline void read_request(int fd, char *buf, size_t cap, size_t *n)
{
    *n = 0;
    for (;;) {
        ssize_t r = recv(fd, buf + *n, cap - 1 - *n, 0);
        if (r <= 0) break;
        *n += (size_t)r;
        buf[*n] = '\0';
        char *end = strstr(buf, "\r\n\r\n");
        if (end == NULL) continue;
        const char *cl = strcasestr(buf, "\r\nContent-Length:");
        size_t want = (size_t)(end + 4 - buf) + (cl != NULL && cl < end ? (size_t)atol(cl + 17) : 0);
        if (*n >= want || *n == cap - 1) break;
    }
    buf[*n] = '\0';
}

/* A command's exit status and what it printed. */
typedef struct run {
    int rc;
    char out[16384];
    char err[8192];
} run_t;

static inline void slurp(FILE *f, char *buf, size_t cap)
{
    rewind(f);
    size_t n = fread(buf, 1, cap - 1, f);
    buf[n] = '\0';
    fclose(f);
}

/* fn(argv) with stdout and stderr captured into r. */
static inline void run_argv(run_t *r, int (*fn)(int, char **), char **argv)
{
    int argc = 0;
    while (argv[argc] != NULL)
        argc++;
    fflush(stdout);
    fflush(stderr);
    FILE *fo = tmpfile(), *fe = tmpfile();
    assert_non_null(fo);
    assert_non_null(fe);
    int so = dup(1), se = dup(2);
    dup2(fileno(fo), 1);
    dup2(fileno(fe), 2);
    r->rc = fn(argc, argv);
    fflush(stdout);
    fflush(stderr);
    dup2(so, 1);
    dup2(se, 2);
    close(so);
    close(se);
    slurp(fo, r->out, sizeof(r->out));
    slurp(fe, r->err, sizeof(r->err));
}

#endif
