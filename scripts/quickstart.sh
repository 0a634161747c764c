#!/bin/sh
# The main job: build mandate, start the daemon with the quickstart config on
# the embedded SQLite store, and run a short scripted agent story.
#
#   1. mandated starts on 127.0.0.1:7744 (examples/quickstart/mandate.conf),
#      data under build/quickstart/data; health and admin status are checked,
#      an agent is registered with the CLI and the signing keys are shown.
#   2. The agent fetches its JWT-SVID over the Workload API (attested by its
#      binary's hash), starts a task (Cedar start_task on policies/), delegates a
#      narrower mandate to a second agent binary (RFC 8693), shows the tree,
#      revokes the root and sees the child go inactive.
#   3. Tool calls: an agent task (Task::"t-1", acting for alice) makes tool
#      calls; each is decided by the Cedar policies in examples/quickstart
#      (mandate cedar authorize), showing the decision, reasons and errors.
#   4. The daemon is stopped by its PID (SIGTERM) and must exit cleanly.
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
# the example policies (policies/examples.cedar) decide which tasks start and which delegations happen
printf '\npolicies:\n  dir: %s/policies\n' "$top" >>"$run/mandate.conf"
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
    --owner alice@example.org --env dev --max-scope tickets:read,tickets:write,billing:refund | sed 's/^/  /'
# a sub-agent: another binary (a copy of the CLI with one byte appended: another SHA-256)
cp build/mandate "$run/summariser"
printf 'x' >>"$run/summariser"
build/mandate agent register --spiffe-id spiffe://example.org/agent/summariser \
    --selector "unix:uid:$(id -u)" --selector "unix:sha256:$(sha256sum "$run/summariser" | cut -d' ' -f1)" \
    --owner alice@example.org --env dev --max-scope tickets:read >/dev/null
echo "  (and spiffe://example.org/agent/summariser: another binary, same owner, tickets:read only)"
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

echo "a task: the triage agent asks for a mandate (its SVID for this daemon is fetched over the socket;"
echo "the grant is the Cedar start_task decision on policies/examples.cedar):"
umask 077
build/mandate task start --intent "answer ticket 42" --scope tickets:read,tickets:write --audience tickets-api \
    --ttl 10m >"$run/task.txt"
task=$(sed -n 's/^task //p' "$run/task.txt")
sed -n 's/^mandate //p' "$run/task.txt" >"$run/mandate.jwt"
echo "  task $task, mandate $(cut -c1-40 "$run/mandate.jwt")... (RFC 9068, typ at+jwt)"
echo "asking for a scope beyond the agent's ceiling is refused, naming it:"
build/mandate task start --intent "x" --scope tickets:read,admin --audience tickets-api 2>&1 | sed 's/^/  /' || true
echo "the triage agent delegates a narrower mandate to the summariser (RFC 8693 token exchange):"
"$run/summariser" svid fetch --audience "$url" >"$run/summariser.svid"
build/mandate task delegate --mandate @"$run/mandate.jwt" --to-svid @"$run/summariser.svid" --scope tickets:read \
    --mandate-only >"$run/child.jwt"
echo "  child mandate $(cut -c1-40 "$run/child.jwt")... for spiffe://example.org/agent/summariser, scope tickets:read"
echo "widening the scope in a delegation is refused:"
build/mandate task delegate --mandate @"$run/mandate.jwt" --to-svid @"$run/summariser.svid" \
    --scope tickets:write 2>&1 | sed 's/^/  /' || true
echo "the delegation tree:"
build/mandate task tree "$task" | sed 's/^/  /'
echo "revoking the root task kills the whole tree at once:"
build/mandate task revoke "$task" --reason "quickstart: done" >/dev/null
build/mandate task introspect @"$run/child.jwt" >/dev/null && echo "  child: still active (unexpected)" ||
    echo "  child mandate: inactive (introspection)"
build/mandate task tree "$task" | sed 's/^/  /'
umask 022
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
