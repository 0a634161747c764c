#!/bin/sh
# Run the libFuzzer targets for a bounded time each (default 600 s), starting
# from the seed corpora.  New interesting inputs go to build/fuzz/corpus-<t>/,
# crashes to build/fuzz/crash-<t>/ (copy a crash into fuzz/corpus/<t>/ once
# fixed, so replay.sh keeps it as a regression).
#   fuzz/run.sh [SECONDS] [TARGET...]
set -eu
top=$(cd "$(dirname "$0")/.." && pwd)
cd "$top"
secs=${1:-600}
[ $# -gt 0 ] && shift
targets=${*:-policy schema entities identity task}
make -s -j2 fuzz
for t in $targets; do
    mkdir -p build/fuzz/corpus-$t build/fuzz/crash-$t
    dict=""
    [ -f fuzz/$t.dict ] && dict="-dict=fuzz/$t.dict"
    build/fuzz/fuzz_$t -max_total_time="$secs" -max_len=8192 -timeout=10 -rss_limit_mb=2048 $dict \
        -artifact_prefix=build/fuzz/crash-$t/ build/fuzz/corpus-$t fuzz/corpus/$t > build/fuzz/run-$t.log 2>&1 || true
    echo "$t: $(grep -E '^#[0-9]+.*(DONE|pulse)' build/fuzz/run-$t.log | tail -1)"
    echo "$t: crashes: $(ls build/fuzz/crash-$t | wc -l)"
done
