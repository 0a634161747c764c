/*
 * fake_http.h: what the CLI tests' fake servers share (included by the test
 * files that run a fake mandated on a thread).
 */
#ifndef MD_TESTS_FAKE_HTTP_H
#define MD_TESTS_FAKE_HTTP_H

#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

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

#endif
