#!/bin/sh
# Cedar authorization latency: mandate's engine (in process, C) against the
# reference cedar-wasm 4.13.0 (in process, Node; ../shared/peers/cedar), side
# by side in one invocation on the same files (../shared/peers/cedar/data).
# This is a benchmark, not a test: it never fails on a number.
#
#   bench/cedar.sh                 N = 10, 100, 1000
#   CALLS=20000 bench/cedar.sh     more calls per run (default 5000 for the peer, 20000 for mandate)
#
# Prints a table of p50/p99 per N for both and the ratio of medians.
set -eu
top=$(cd "$(dirname "$0")/.." && pwd)
cd "$top"
shared=${MANDATE_SHARED:-$top/../shared}
data="$shared/peers/cedar/data"
CALLS=${CALLS:-5000}
MCALLS=${MCALLS:-20000}
sh scripts/deps.sh >/dev/null
make -s -j2 bench >/dev/null

out=$(mktemp)
trap 'rm -f "$out"' EXIT
for n in 10 100 1000; do
    build/bench/cedar_bench "$data" "$n" "$MCALLS" 3000 | tee -a "$out"
done
# The peer harness copies itself to a writable folder and, with USE_EXISTING_DATA=1,
# measures exactly the files in data/ (the same ones mandate just read).
USE_EXISTING_DATA=1 CALLS=$CALLS STATELESS_CALLS=200 STATELESS_MAX_SECONDS=5 WARMUP_CALLS=1000 WARMUP_SECONDS=3 \
    bash "$shared/peers/cedar/bench.sh" 2>&1 | tee -a "$out" | grep -E '^cedar_wasm|^cedar-wasm' || true

echo
printf '%-6s %-14s %-14s %-16s %-16s %-12s\n' N mandate_p50_us mandate_p99_us cedarwasm_p50_us cedarwasm_p99_us ratio_p50
for n in 10 100 1000; do
    m=$(grep "^mandate_cedar_N=$n " "$out" || true)
    w=$(grep "^cedar_wasm_N=$n " "$out" | grep 'api=stateful' || true)
    mp50=$(echo "$m" | sed -n 's/.*p50_us=\([0-9.]*\).*/\1/p')
    mp99=$(echo "$m" | sed -n 's/.*p99_us=\([0-9.]*\).*/\1/p')
    wp50=$(echo "$w" | sed -n 's/.*p50_us=\([0-9.]*\).*/\1/p')
    wp99=$(echo "$w" | sed -n 's/.*p99_us=\([0-9.]*\).*/\1/p')
    ratio=$(awk -v a="$wp50" -v b="$mp50" 'BEGIN { if (a > 0 && b > 0) printf "%.0fx", a / b; else print "n/a" }')
    printf '%-6s %-14s %-14s %-16s %-16s %-12s\n' "$n" "$mp50" "$mp99" "${wp50:-n/a}" "${wp99:-n/a}" "$ratio"
done
grep '^mandate_cedar_N=' "$out" | sed -n 's/.*N=\([0-9]*\).*mallocs_in_loop=\([0-9]*\) policy_bytes_per_1000=\([0-9]*\) evaluated_avg=\([0-9.]*\).*/N=\1: mallocs in timed loop \2, policy memory per 1000 policies \3 bytes, policies evaluated per request \4/p'
