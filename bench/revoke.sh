#!/bin/sh
# The task table (src/task/revoke.h): md_tasktab_state() on the hot path in a
# table of 100,000 tasks (random ids: mostly cache misses; hot: 64 ids), beside
# the same lookup under one mutex, single-threaded and with 2 threads; revoking
# a root with 10,000 descendants (bushy, wide, deep) and sweeping them.  Every
# figure is the median of RUNS runs.  A benchmark, not a test: it never fails
# on a number (issue 4's targets are printed beside the figures).
#   bench/revoke.sh [RUNS]     (default 9)
set -eu
top=$(cd "$(dirname "$0")/.." && pwd)
cd "$top"
runs=${1:-9}
make -s -j2 build/bench/revoke_bench >/dev/null
m=$(build/bench/revoke_bench "$runs")
echo "$m"
get() { echo "$m" | sed -n "s/.* $1=\([0-9.]*\).*/\1/p"; }
awk -v a="$(get lookup_active_ns)" -v r="$(get lookup_revoked_ns)" -v u="$(get lookup_unknown_ns)" \
    -v h="$(get lookup_hot_ns)" -v mx="$(get mutex_lookup_ns)" -v mr="$(get mutex_ratio)" \
    -v mt="$(get mt_lookups_per_s)" -v mtm="$(get mt_mutex_lookups_per_s)" -v mtr="$(get mt_ratio)" \
    -v rb="$(get revoke_bushy_ms)" -v rw="$(get revoke_wide_ms)" -v rd="$(get revoke_deep_ms)" \
    -v sw="$(get sweep_10k_ms)" 'BEGIN {
    printf "state(): %.1f ns active, %.1f ns revoked, %.1f ns unknown (random ids, 100k tasks), %.1f ns hot (target <= 100 ns)\n", a, r, u, h;
    printf "naive baseline (one mutex): %.1f ns single-threaded = %.2fx; 2 threads: %.1f M/s lock-free vs %.1f M/s locked = %.2fx\n", mx, mr, mt / 1e6, mtm / 1e6, mtr;
    printf "revoke 10,000 descendants: %.3f ms bushy, %.3f ms wide, %.3f ms deep (target <= 50 ms); sweep them: %.3f ms\n", rb, rw, rd, sw }'
