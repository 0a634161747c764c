/*
 * replay_main.c: runs a fuzz target over files without libFuzzer, so the
 * seed corpora (and every crash found, once added there) are replayed by
 * the normal test run, in the normal and the sanitizer builds.
 * Usage: replay-<target> FILE...   prints `N passed, 0 failed` at the end
 * (a crash ends the process instead).
 */
#include <stdio.h>
#include <stdlib.h>

#include "core/core.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int main(int argc, char **argv)
{
    int n = 0;
    for (int i = 1; i < argc; i++) {
        char *buf = NULL;
        size_t len = 0;
        md_err_t err = {0};
        if (md_file_read(argv[i], 16u << 20, &buf, &len, &err) != MD_OK) {
            fprintf(stderr, "%s\n", err.msg);
            return 1;
        }
        LLVMFuzzerTestOneInput((const uint8_t *)buf, len);
        free(buf);
        n++;
    }
    printf("%d passed, 0 failed\n", n);
    return 0;
}
