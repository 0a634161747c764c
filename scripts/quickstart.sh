#!/bin/sh
# The main job: build mandate, start the daemon with the quickstart config on
# the embedded SQLite store, and run a short scripted agent story.
#
#   1. mandated starts on 127.0.0.1:7744 (examples/quickstart/mandate.conf),
#      data under build/quickstart/data; health and admin status are checked,
#      an agent is registered with the CLI and the signing keys are shown.
#   2. The story: an agent task (Task::"t-1", acting for alice) makes tool
#      calls; each is decided by the Cedar policies in examples/quickstart
#      (mandate cedar authorize), showing the decision, reasons and errors.
#   3. The daemon is stopped by its PID (SIGTERM) and must exit cleanly.
set -eu
top=$(cd "$(dirname "$0")/.." && pwd)
cd "$top"
sh scripts/deps.sh --runtime-only
command -v curl >/dev/null 2>&1 || { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq curl >/dev/null; }
make -j"$(nproc 2>/dev/null || echo 2)" all >/dev/null

q=examples/quickstart
run=build/quickstart
rm -rf "$run"
mkdir -p "$run"
install -m 600 "$q/mandate.conf" "$run/mandate.conf"
build/mandated -n --config "$run/mandate.conf" --data-dir "$run/data"
build/mandated --config "$run/mandate.conf" --data-dir "$run/data" 2> "$run/mandated.log" &
pid=$!
trap 'kill -TERM $pid 2>/dev/null || true' EXIT INT TERM
url=http://127.0.0.1:7744
i=0
until curl -fsS "$url/healthz" >/dev/null 2>&1; do
    i=$((i + 1))
    if [ $i -gt 50 ] || ! kill -0 $pid 2>/dev/null; then
        echo "mandated did not start; its log:" >&2
        cat "$run/mandated.log" >&2
        exit 1
    fi
    sleep 0.1
done
echo "mandated (pid $pid) serving on $url"
echo "  GET /healthz           $(curl -fsS "$url/healthz")"
echo "  GET /v1/admin/status   $(curl -fsS -H "Authorization: Bearer $(cat "$run/data/admin.token")" "$url/v1/admin/status")"
echo "  without the token:     $(curl -sS -o /dev/null -w '%{http_code}' "$url/v1/admin/status")"
echo

export MANDATE_ADDR=$url MANDATE_TOKEN_FILE="$run/data/admin.token"
echo "register the triage agent (only its binary, under this uid, may ever attest as it):"
build/mandate agent register --spiffe-id spiffe://example.org/agent/triage \
    --selector "unix:uid:$(id -u)" --selector "unix:sha256:$(sha256sum build/mandate | cut -d' ' -f1)" \
    --owner alice@example.org --env prod --max-scope tickets:read,tickets:write,billing:refund | sed 's/^/  /'
echo "registered agents:"
build/mandate agent list | sed 's/^/  /'
echo "the signing keys published at $url/.well-known/jwks.json:"
curl -fsS "$url/.well-known/jwks.json" | sed 's/^/  /'
echo
echo
echo "the agent proves what it is: build/mandate (the registered binary) asks the Workload API"
echo "on $run/data/agent.sock for a JWT-SVID; mandated attests the calling process (uid, SHA-256"
echo "of its executable) and signs one for the entry it matches:"
export MANDATE_AGENT_SOCKET="$top/$run/data/agent.sock"
svid=$(build/mandate svid fetch --audience tickets-api --ttl 120)
echo "  $svid" | cut -c1-100 | sed 's/$/.../'
echo "  claims: $(printf '%s' "$svid" | cut -d. -f2 | tr '_-' '/+' | base64 -d 2>/dev/null || true)"
echo "another program (curl) asking on the same socket is refused:"
echo "  $(curl -sS --unix-socket "$run/data/agent.sock" -H 'Content-Type: application/json' \
    -d '{"audience":"tickets-api"}' http://localhost/v1/svid)"
echo

echo "the story: an agent task (Task::\"t-1\", on behalf of alice) calls tools"
echo "policies: $q/policies.cedar   schema: $q/schema.cedarschema"
for r in "$q"/requests/*.json; do
    name=$(basename "$r" .json)
    out=$(build/mandate cedar authorize --policies "$q/policies.cedar" --entities "$q/entities.json" \
        --schema "$q/schema.cedarschema" --request "$r") && rc=0 || rc=$?
    case $rc in
    0) verdict=ALLOW ;;
    2) verdict=DENY ;;
    *) echo "$name: error (exit $rc)"; exit 1 ;;
    esac
    printf '  %-28s %-5s %s\n' "$name" "$verdict" "$out"
done
echo

kill -TERM $pid
status=0
wait $pid || status=$?
trap - EXIT INT TERM
echo "mandated stopped (exit $status); its log is in $run/mandated.log"
exit $status
