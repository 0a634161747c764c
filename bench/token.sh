#!/bin/sh
# JWT-SVID minting and verification in process, side by side with the
# machine's raw ECDSA P-256 rate (`openssl speed ecdsap256`) in the same
# invocation.  A benchmark, not a test: it never fails on a number.
#   bench/token.sh [SECONDS]     (default 3 per measurement)
set -eu
top=$(cd "$(dirname "$0")/.." && pwd)
cd "$top"
secs=${1:-3}
make -s -j2 bench >/dev/null
m=$(build/bench/token_bench "$secs")
echo "$m"
o=$(openssl speed -seconds "$secs" ecdsap256 2>/dev/null | grep -E '^ *256 bits ecdsa \(nistp256\)')
echo "openssl: $o"
sign=$(echo "$o" | awk '{print $(NF-1)}')
verify=$(echo "$o" | awk '{print $NF}')
mint=$(echo "$m" | sed -n 's/.*mint_per_s=\([0-9]*\).*/\1/p')
ver=$(echo "$m" | sed -n 's/.*verify_per_s=\([0-9]*\).*/\1/p')
awk -v m="$mint" -v s="$sign" -v v="$ver" -v sv="$verify" 'BEGIN {
    printf "mint: %d/s = %.0f%% of openssl ES256 sign (%d/s, one core)\n", m, 100 * m / s, s;
    printf "verify: %d/s = %.0f%% of openssl ES256 verify (%d/s)\n", v, 100 * v / sv, sv }'
echo "$m" | sed -n 's/.*cached_verify_p50_ns=\([0-9]*\) cached_verify_p99_ns=\([0-9]*\).*/cached verification: p50 \1 ns, p99 \2 ns/p'
