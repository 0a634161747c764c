#!/bin/sh
# JWT-SVID minting and verification in process, and minting through the
# Workload API socket of a running mandated (each request attested: SO_PEERCRED,
# /proc, SHA-256 of the client's executable; then matched and signed), side
# by side with the machine's raw ECDSA P-256 rate (`openssl speed ecdsap256`)
# in the same invocation.  A benchmark, not a test: it never fails on a number.
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

# ---- through the socket: a daemon on a temporary data dir, the load client registered by its hash
T=$(mktemp -d /tmp/mandate-bench-svid.XXXXXX)
dpid=""
trap '[ -n "$dpid" ] && kill "$dpid" 2>/dev/null; [ -n "$dpid" ] && wait "$dpid" 2>/dev/null; rm -rf "$T"' EXIT
port=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
printf 'listen: 127.0.0.1:%s\nlog_level: warn\nworkload:\n  socket: %s/agent.sock\n' "$port" "$T" >"$T/conf"
chmod 600 "$T/conf"
build/mandated --config "$T/conf" --data-dir "$T/data" 2>"$T/log" &
dpid=$!
i=0
until [ -S "$T/agent.sock" ] && [ -s "$T/data/admin.token" ]; do
    i=$((i + 1))
    [ $i -gt 100 ] && { echo "mandated did not start: $(cat "$T/log")"; exit 1; }
    sleep 0.1
done
C=build/bench/svid_client
MANDATE_ADDR="http://127.0.0.1:$port" MANDATE_TOKEN_FILE="$T/data/admin.token" build/mandate agent register \
    --spiffe-id spiffe://bench.example/load --selector "unix:uid:$(id -u)" \
    --selector "unix:sha256:$(sha256sum "$C" | cut -c1-64)" --owner bench@example.org --env bench >/dev/null
echo "socket client: $(wc -c <"$C") byte executable hashed per request"
for mode in connect keepalive; do
    for th in 1 4; do
        r=$("$C" "$T/agent.sock" "$secs" "$th" "$mode")
        per=$(echo "$r" | sed -n 's/.*per_s=\([0-9]*\).*/\1/p')
        awk -v r="$r" -v p="$per" -v s="$sign" -v m="$mode" -v t="$th" 'BEGIN {
            printf "socket %-9s %d client threads: %s = %.0f%% of openssl ES256 sign\n", m, t, r, 100 * p / s }'
    done
done
