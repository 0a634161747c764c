#!/bin/sh
# Replay every fuzz corpus (fuzz/corpus/<target>/*) through its target,
# built without libFuzzer against the given build's library.
#   fuzz/replay.sh [BUILD_DIR]     ends with `N passed, N failed`
set -eu
top=$(cd "$(dirname "$0")/.." && pwd)
build=${1:-build}
case "$build" in /*) ;; *) build="$top/$build" ;; esac
cd "$top"
CFLAGS_EXTRA=""
case "$build" in *asan*) CFLAGS_EXTRA="-fsanitize=address,undefined -fno-sanitize-recover=all" ;; esac
mkdir -p "$build/fuzz"
total=0
for t in policy schema entities identity task; do
    bin="$build/fuzz/replay-$t"
    cc -std=c11 -D_GNU_SOURCE -g -O1 $CFLAGS_EXTRA -Isrc -Iinclude -o "$bin" fuzz/fuzz_$t.c fuzz/replay_main.c \
        "$build/libmandate.a" $(pkg-config --libs jansson openssl libevent libevent_openssl libevent_pthreads libfyaml sqlite3) -lm -lpthread
    n=$(find fuzz/corpus/$t -type f | wc -l)
    find fuzz/corpus/$t -type f -print0 | xargs -0 -r "$bin" > "$build/fuzz/replay-$t.log"
    echo "replay $t: $n inputs"
    total=$((total + n))
done
echo "$total passed, 0 failed"
