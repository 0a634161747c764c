/*
 * tk_client.c: the agents of the tasks e2e test (tests/e2e/tasks/run.sh).
 * Built once per agent with a different AGENT_NAME, so each binary has its
 * own SHA-256 and is registered as its own agent by that hash.  The process
 * asks mandated's Workload API for its JWT-SVID; mandated attests it (the
 * socket's peer: this process) and answers with the SVID of the agent whose
 * selectors match.
 *
 *   tk_client svid SOCKET AUDIENCE [TTL]   POST /v1/svid {"audience": AUDIENCE[, "ttl": TTL]}
 *   tk_client name                         prints the agent name it was built as
 *
 * Prints the answer as two lines: the HTTP status line (without CR) and the
 * body; "NO ANSWER" when the connection closed without one.  Exit status 0
 * when an answer came, 1 otherwise, 2 on usage errors.  Never runs for more
 * than 20 s (alarm).
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#ifndef AGENT_NAME
#define AGENT_NAME "none"
#endif

/* different bytes in each build */
static const char agent_name[] = "tk_client agent " AGENT_NAME;

#define ANSWER_MAX (1 << 16)

static int dial(const char *path)
{
    struct sockaddr_un sa = {.sun_family = AF_UNIX};
    int s = socket(AF_UNIX, SOCK_STREAM, 0);
    if (s < 0 || strlen(path) >= sizeof(sa.sun_path)) {
        fprintf(stderr, "tk_client: bad socket path\n");
        exit(2);
    }
    memcpy(sa.sun_path, path, strlen(path) + 1);
    if (connect(s, (struct sockaddr *)&sa, sizeof(sa)) != 0) {
        fprintf(stderr, "tk_client: connect %s: %s\n", path, strerror(errno));
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

/* The audience and ttl must not need JSON escaping: the test passes plain URLs and names. */
static int plain(const char *s)
{
    for (; *s; s++)
        if ((unsigned char)*s < 0x20 || *s == '"' || *s == '\\') return 0;
    return 1;
}

static int svid(const char *sock, const char *aud, const char *ttl)
{
    char body[1024], req[2048], in[ANSWER_MAX + 1];
    size_t len = 0;
    long clen = -1;
    char *head_end = NULL;
    int n;

    if (!plain(aud) || (ttl && strspn(ttl, "0123456789") != strlen(ttl))) return 2;
    if (ttl)
        n = snprintf(body, sizeof(body), "{\"audience\":\"%s\",\"ttl\":%s}", aud, ttl);
    else
        n = snprintf(body, sizeof(body), "{\"audience\":\"%s\"}", aud);
    if (n < 0 || (size_t)n >= sizeof(body)) return 2;
    n = snprintf(req, sizeof(req),
                 "POST /v1/svid HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n"
                 "Content-Type: application/json\r\nContent-Length: %zu\r\n\r\n%s",
                 strlen(body), body);
    if (n < 0 || (size_t)n >= sizeof(req)) return 2;
    int s = dial(sock);
    if (send_all(s, req, (size_t)n) != 0) {
        printf("NO ANSWER\n\n");
        return 1;
    }
    for (;;) {
        in[len] = '\0';
        if (head_end == NULL && (head_end = strstr(in, "\r\n\r\n")) != NULL) {
            for (char *line = strstr(in, "\r\n"); line != NULL && line < head_end;
                 line = strstr(line + 2, "\r\n"))
                if (strncasecmp(line + 2, "content-length:", 15) == 0) clen = strtol(line + 17, NULL, 10);
        }
        if (head_end != NULL && clen >= 0 && len - (size_t)(head_end + 4 - in) >= (size_t)clen) break;
        if (len == ANSWER_MAX) break;
        ssize_t r = recv(s, in + len, ANSWER_MAX - len, 0);
        if (r < 0 && errno == EINTR) continue;
        if (r <= 0) break;
        len += (size_t)r;
    }
    close(s);
    if (head_end == NULL) {
        printf("NO ANSWER\n\n");
        return 1;
    }
    in[len] = '\0';
    head_end = strstr(in, "\r\n\r\n");
    printf("%.*s\n%s\n", (int)(strstr(in, "\r\n") - in), in, head_end + 4);
    return 0;
}

int main(int argc, char **argv)
{
    alarm(20); /* never outlive the test */
    if (argc == 2 && strcmp(argv[1], "name") == 0) {
        printf("%s\n", agent_name);
        return 0;
    }
    if (argc >= 4 && argc <= 5 && strcmp(argv[1], "svid") == 0)
        return svid(argv[2], argv[3], argc > 4 ? argv[4] : NULL);
    fprintf(stderr, "usage: tk_client svid SOCKET AUDIENCE [TTL] | name (%s)\n", agent_name);
    return 2;
}
