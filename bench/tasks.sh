#!/bin/sh
# Tasks through a running mandated (SQLite, one node), beside the machine's raw
# ES256 signing rate (`openssl speed ecdsap256`) in the same invocation:
#   - tasks started per second (SVID check from cache, Cedar start_task decision,
#     store insert committed, task table, mandate signed), 1 and 2 client threads;
#   - token exchanges per second (RFC 8693 delegation: mandate and SVID verified,
#     Cedar delegate decision, store insert, signed);
#   - revoking a tree of TREE descendants through the admin API (memory and store,
#     one transaction), and a leaf checked inactive right after;
#   - the revocation check on the hot path (bench/revoke.sh: in-memory table).
# A benchmark, not a test: it never fails on a number.
#   bench/tasks.sh [SECONDS] [TREE]     (defaults 3 and 10000)
set -eu
top=$(cd "$(dirname "$0")/.." && pwd)
cd "$top"
secs=${1:-3}
tree=${2:-10000}
make -s -j2 all build/bench/task_client build/bench/revoke_bench >/dev/null
T=$(mktemp -d /tmp/mandate-bench-tasks.XXXXXX)
dpid=""
trap '[ -n "$dpid" ] && kill "$dpid" 2>/dev/null; [ -n "$dpid" ] && wait "$dpid" 2>/dev/null; [ -n "${KEEP:-}" ] && cp "$T/log" /tmp/tasks-bench.log; rm -rf "$T"' EXIT
port=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
mkdir -m 755 "$T/policies"
cat >"$T/policies/bench.cedar" <<'P'
permit (principal is Mandate::Agent, action == Mandate::Action::"start_task", resource)
when { principal.state == "active" };
permit (principal is Mandate::Agent, action == Mandate::Action::"delegate", resource is Mandate::Task)
when { context.depth <= 4 };
P
chmod 644 "$T/policies/bench.cedar"
cat >"$T/conf" <<C
listen: 127.0.0.1:$port
log_level: ${LOGLEVEL:-warn}
workload:
  socket: $T/agent.sock
policies:
  dir: $T/policies
tasks:
  max_depth: 4
C
chmod 600 "$T/conf"
build/mandated --config "$T/conf" --data-dir "$T/data" 2>"$T/log" &
dpid=$!
i=0
until [ -S "$T/agent.sock" ] && [ -s "$T/data/admin.token" ]; do
    i=$((i + 1))
    [ $i -gt 100 ] && { echo "mandated did not start: $(cat "$T/log")"; exit 1; }
    sleep 0.1
done
C=build/bench/task_client
MANDATE_ADDR="http://127.0.0.1:$port" MANDATE_TOKEN_FILE="$T/data/admin.token" build/mandate agent register \
    --spiffe-id spiffe://bench.example/tasks --selector "unix:uid:$(id -u)" \
    --selector "unix:sha256:$(sha256sum "$C" | cut -c1-64)" --owner bench@example.org --env bench \
    --max-scope tickets:read >/dev/null
o=$(openssl speed -seconds "$secs" ecdsap256 2>/dev/null | grep -E '^ *256 bits ecdsa \(nistp256\)')
sign=$(echo "$o" | awk '{print $(NF-1)}')
echo "openssl: $o"
for th in 1 2; do
    r=$("$C" "$T/agent.sock" "$port" "http://127.0.0.1:$port" "$T/data/admin.token" "$secs" "$th" "$tree") || true
    echo "client threads=$th: $r"
    get() { echo "$r" | sed -n "s/.*$1=\([0-9.]*\).*/\1/p"; }
    awk -v s="$(get start_per_s)" -v e="$(get exchange_per_s)" -v sp="$(get start_p50_us)" -v ep="$(get exchange_p50_us)" \
        -v rv="$(get revoke_tree_ms)" -v n="$(get tree_descendants)" -v li="$(get leaf_inactive)" -v sg="$sign" -v t="$th" 'BEGIN {
        printf "  %d thread(s): tasks started %d/s (p50 %d us) = %.0f%% of raw ES256 signing; token exchanges %d/s (p50 %d us)\n", t, s, sp, 100 * s / sg, e, ep;
        printf "  revoking a tree of %d descendants through the admin API: %.1f ms (target <= 50 ms); a leaf inactive right after: %s\n", n, rv, li == 1 ? "yes" : "NO" }'
done
echo "hot path (in-memory task table, bench/revoke.sh):"
sh bench/revoke.sh 5 | tail -3 | sed 's/^/  /'
