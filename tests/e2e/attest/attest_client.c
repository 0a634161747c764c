/*
 * attest_client.c: the e2e test's workload.  Built several times with a
 * different CLIENT_VARIANT so each binary has its own SHA-256.
 *
 *   attest_client SOCKET [--gate FILE] [--exit-now]
 *
 * --gate FILE   wait (at most 10 s) until FILE exists before connecting, so the
 *               test can replace or delete this binary while it runs
 * --exit-now    connect and exit at once, without waiting for the answer
 * Otherwise prints "pid=<its pid> variant=<n> reply=<the server's line>" and
 * exits 0 once the server closes the connection (at most 10 s).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#ifndef CLIENT_VARIANT
#define CLIENT_VARIANT 0
#endif
#define STR2(x) #x
#define STR(x) STR2(x)

/* different bytes in each build */
static const char variant[] = "attest_client variant " STR(CLIENT_VARIANT);

int main(int argc, char **argv)
{
    if (argc < 2) {
        fprintf(stderr, "usage: attest_client SOCKET [--gate FILE] [--exit-now]\n");
        return 2;
    }
    const char *gate = NULL;
    int exit_now = 0;
    for (int i = 2; i < argc; i++) {
        if (strcmp(argv[i], "--gate") == 0 && i + 1 < argc)
            gate = argv[++i];
        else if (strcmp(argv[i], "--exit-now") == 0)
            exit_now = 1;
        else
            return 2;
    }
    alarm(20); /* never outlive the test */
    if (gate != NULL) {
        struct stat st;
        int waited = 0;
        while (stat(gate, &st) != 0) {
            if (++waited > 1000) return 3;
            struct timespec ts = {0, 10000000};
            nanosleep(&ts, NULL);
        }
    }
    int s = socket(AF_UNIX, SOCK_STREAM, 0);
    struct sockaddr_un sa = {.sun_family = AF_UNIX};
    if (s < 0 || strlen(argv[1]) >= sizeof(sa.sun_path)) return 4;
    strcpy(sa.sun_path, argv[1]);
    if (connect(s, (struct sockaddr *)&sa, sizeof(sa)) != 0) {
        perror("connect");
        return 4;
    }
    if (exit_now) _exit(0);
    char reply[8192];
    size_t n = 0;
    for (;;) {
        ssize_t r = read(s, reply + n, sizeof(reply) - 1 - n);
        if (r <= 0) break;
        n += (size_t)r;
        if (n == sizeof(reply) - 1) break;
    }
    reply[n] = '\0';
    if (n > 0 && reply[n - 1] == '\n') reply[n - 1] = '\0';
    printf("pid=%d variant=%s reply=%s\n", (int)getpid(), variant + sizeof("attest_client variant ") - 1,
           reply);
    return n > 0 ? 0 : 5;
}
