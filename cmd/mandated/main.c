/*
 * main.c: `mandated`, the mandate daemon.
 *
 * This build carries the policy engine only: the daemon's serving side
 * (identity, tokens, the HTTP API) is tracked as its own piece of work and
 * is not in this binary yet, so `mandated` refuses to start rather than
 * pretend to serve.  `mandated --version` and `mandated -h` work.
 */
#include <stdio.h>
#include <string.h>

int main(int argc, char **argv)
{
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--version") == 0 || strcmp(argv[i], "-V") == 0) {
            printf("mandated 0.1.0\n");
            return 0;
        }
        if (strcmp(argv[i], "-h") == 0 || strcmp(argv[i], "--help") == 0) {
            printf("usage: mandated --config FILE [--data-dir DIR]\n"
                   "This build has no serving side yet; it exits with status 1.\n");
            return 0;
        }
    }
    fprintf(stderr, "mandated: this build has no serving side yet (identity and the HTTP API come next)\n");
    return 1;
}
