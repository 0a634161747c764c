#!/bin/sh
# End-to-end tests of the daemon's signing keys and agent registry: starts
# build/mandated on a free 127.0.0.1 port with a temporary data dir and an
# inline config (mode 0600) whose key rotation period is short (6 s, next
# key published 2 s ahead, tokens at most 3 s), and drives it with curl, a
# little Python and the real `mandate` CLI.  Every daemon is stopped by its
# PID on exit.
#
#   sh tests/e2e/registry/run.sh [BUILD_DIR]      (default: build)
#   SLOW=1 sh tests/e2e/registry/run.sh           also wait (~70 s) for a retired
#                                                 key to leave the JWKS
#
# Covers: the KEK file (created 0600, 32 bytes; a looser mode or a missing
# named file refuses start-up), links (symbolic or hard), FIFOs and loose modes
# at the KEK and admin.token refuse start-up and are never followed, key
# metadata changed in the database refuses start-up, no private key material
# in the database,
# the JWKS (exactly the published keys, public members only, RFC 7638 kids,
# Cache-Control), rotation (a next key is in the JWKS for the overlap before
# it signs; a retired key stays published for its tokens' lifetime + skew),
# the RFC 8414 metadata, authentication of every new endpoint, the agent
# registry through the CLI (human and --json output, exit codes), every kind
# of bad input on the new endpoints (4xx JSON, nothing written), restart
# (agents, KEK and keys kept).  Ends with `N passed, N failed`; exits
# non-zero on any failure.
set -u
top=$(cd "$(dirname "$0")/../../.." && pwd)
build=${1:-build}
case "$build" in /*) ;; *) build="$top/$build" ;; esac
D="$build/mandated"
M="$build/mandate"
if [ -x /usr/bin/python3 ]; then PY=/usr/bin/python3; else PY=python3; fi
command -v curl >/dev/null 2>&1 || { echo "curl is required"; exit 1; }
[ -x "$D" ] && [ -x "$M" ] || { echo "no $D or $M: build them first (make BUILD=${1:-build})"; exit 1; }

T=$(mktemp -d /tmp/mandate-e2e-registry.XXXXXX)
. "$top/tests/e2e/lib.sh"
has() { printf '%s' "$1" | grep -q -- "$2"; }

free_port() {
    "$PY" -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

# conf FILE PORT [EXTRA YAML]
conf() {
    cat >"$1" <<EOF
# written by tests/e2e/registry/run.sh
listen: 127.0.0.1:$2
log_format: json
workers: 2
limits:
  max_body: 8KiB
  header_timeout: 5s
  body_timeout: 5s
keys:
  rotation_period: 6s
  overlap: 2s
  max_token_lifetime: 3s
${3:-}
EOF
    chmod 600 "$1"
}

# start NAME CONF DATADIR: start a daemon, wait until it answers; sets $pid
start() {
    name=$1 cfg=$2 dd=$3
    "$D" --config "$cfg" --data-dir "$dd" 2>>"$T/$name.log" &
    pid=$!
    pids="$pids $pid"
    sport=$(sed -n 's/^listen: 127.0.0.1:\([0-9]*\)$/\1/p' "$cfg")
    await_daemon "$name" "$pid" "http://127.0.0.1:$sport"
}

stop() {
    kill -TERM "$1" 2>/dev/null
    waitfor "$1"
}

# http METHOD PATH [CURL ARGS]: sets $code, $body, $hdrs
http() {
    m=$1 p=$2
    shift 2
    code=$(curl -s --max-time 10 -X "$m" -D "$T/hdrs" -o "$T/body" -w '%{http_code}' "$@" "http://127.0.0.1:$PORT$p" 2>&1)
    body=$(cat "$T/body" 2>/dev/null)
    hdrs=$(tr -d '\r' <"$T/hdrs" 2>/dev/null)
}
is_json_error() { # CODE
    printf '%s' "$body" | "$PY" -c 'import json, sys
d = json.load(sys.stdin)
sys.exit(0 if isinstance(d.get("message"), str) and d["message"] and d.get("error") == sys.argv[1] else 1)' "$1" 2>/dev/null
}
# jq-like: jget EXPR reads $body as `d` and prints eval(EXPR)
jget() {
    printf '%s' "$body" | "$PY" -c 'import json, sys
d = json.load(sys.stdin)
r = eval(sys.argv[1])
print(r if not isinstance(r, (dict, list)) else json.dumps(r, sort_keys=True))' "$1" 2>/dev/null
}
# the agents table: its row count and a digest of every row (to prove "nothing written";
# signing_keys is left out: it changes on its own schedule)
state() {
    if command -v sqlite3 >/dev/null 2>&1; then
        n=$(sqlite3 -readonly "$DATA/mandate.db" "SELECT count(*) FROM agents")
        h=$(sqlite3 -readonly "$DATA/mandate.db" \
            "SELECT quote(id), quote(spiffe_id), quote(owner), quote(env), quote(state), quote(entry), created_at, updated_at FROM agents ORDER BY id" |
            sha256sum | cut -c1-16)
        echo "$n $h"
        return
    fi
    "$PY" - "$DATA/mandate.db" <<'PY'
import hashlib, sqlite3, sys
db = sqlite3.connect("file:" + sys.argv[1] + "?mode=ro", uri=True)
rows = [str(r) for r in db.execute("SELECT id, spiffe_id, owner, env, state, entry, created_at, updated_at FROM agents ORDER BY id")]
print(len(rows), hashlib.sha256("|".join(rows).encode()).hexdigest()[:16])
PY
}

PORT=$(free_port)
DATA="$T/data"
conf "$T/main.conf" "$PORT"
export MANDATE_ADDR="http://127.0.0.1:$PORT"

echo "== first start: KEK and the first key"
if ! start main "$T/main.conf" "$DATA"; then
    echo "$pass passed, $fail failed"
    exit 1
fi
MAIN=$pid
START=$(date +%s)
check "kek is mode 0600" [ "$(stat -c %a "$DATA/kek")" = 600 ]
check "kek is 32 bytes" [ "$(stat -c %s "$DATA/kek")" = 32 ]
KEKSUM=$(sha256sum "$DATA/kek" | cut -d' ' -f1)
TOKEN=$(cat "$DATA/admin.token")
AUTH="Authorization: Bearer $TOKEN"
export MANDATE_TOKEN_FILE="$DATA/admin.token"

echo "== rotation (6 s period, 2 s overlap): watching the JWKS and the signer"
# Poll the JWKS and the admin view every 100 ms for 8.5 s and check, for every
# observation: the signer is in the JWKS; a key signs only after it was seen in
# the JWKS as a non-signer for ~overlap; a key once published stays (retired
# keys remain for lifetime + skew = 63 s, longer than the test); the JWKS kids
# are exactly the admin view's kids.
obs=$("$PY" - "$PORT" "$TOKEN" <<'PY'
import json, sys, time, urllib.request
port, token = sys.argv[1], sys.argv[2]
def get(path, auth=False):
    req = urllib.request.Request("http://127.0.0.1:%s%s" % (port, path))
    if auth: req.add_header("Authorization", "Bearer " + token)
    return json.load(urllib.request.urlopen(req, timeout=5))
first_seen, first_signed, seen_ever, problems = {}, {}, set(), []
signers = []
end = time.time() + 8.5
while time.time() < end:
    t = time.time()
    jwks = {k["kid"] for k in get("/.well-known/jwks.json")["keys"]}
    adm = get("/v1/admin/keys", True)
    again = {k["kid"] for k in get("/.well-known/jwks.json")["keys"]}
    s = adm["signer"]
    if again == jwks and {k["kid"] for k in adm["keys"]} != jwks:
        problems.append("admin view and JWKS differ")
    for k in jwks: first_seen.setdefault(k, t)
    if s not in jwks: problems.append("signer %s not in the JWKS" % s)
    if s not in first_signed: first_signed[s] = t; signers.append(s)
    gone = seen_ever - jwks
    if gone: problems.append("keys left the JWKS too early: %s" % sorted(gone))
    seen_ever |= jwks
    time.sleep(0.1)
for s in signers[1:]:
    lead = first_signed[s] - first_seen[s]
    if lead < 1.5: problems.append("key %s signed %.2fs after it was published" % (s, lead))
adm = get("/v1/admin/keys", True)
for k in adm["keys"]:
    if k["state"] == "retired" and k["remove_at"] != k["retired"] + 3 + 60:
        problems.append("remove_at %d != retired %d + 63" % (k["remove_at"], k["retired"]))
print(json.dumps({"signers": len(signers), "retired": sum(k["state"] == "retired" for k in adm["keys"]),
                  "problems": problems}))
PY
)
if [ -z "$obs" ]; then bad "rotation observed" "no output"; else
    body=$obs
    check "rotation: a handover happened during the watch" [ "$(jget 'd["signers"]')" -ge 2 ]
    check "rotation: the old signer is retired and still published" [ "$(jget 'd["retired"]')" -ge 1 ]
    if [ "$(jget 'len(d["problems"])')" = 0 ]; then ok "rotation: next key published >= overlap before it signs; no key left early; remove_at = retired + lifetime + skew"; else bad "rotation: publish-before-sign and retire window" "$obs"; fi
fi
if grep -q '"msg":"signing keys: generation [0-9]* published' "$T/main.log"; then ok "rotation logged"; else bad "rotation logged" "$(tail -5 "$T/main.log")"; fi

echo "== JWKS and metadata"
http GET /.well-known/jwks.json
check "JWKS: 200 without credentials" [ "$code" = 200 ]
check "JWKS: Content-Type application/jwk-set+json" has "$hdrs" "Content-Type: application/jwk-set+json"
check "JWKS: Cache-Control public, max-age" has "$hdrs" "Cache-Control: public, max-age=0"
check "JWKS: one Cache-Control header" [ "$(printf '%s\n' "$hdrs" | grep -ci '^cache-control')" = 1 ]
out=$("$PY" - "$PORT" "$TOKEN" <<'PY'
import base64, hashlib, json, sys, urllib.request
port, token = sys.argv[1], sys.argv[2]
def get(path, auth=False):
    req = urllib.request.Request("http://127.0.0.1:%s%s" % (port, path))
    if auth: req.add_header("Authorization", "Bearer " + token)
    return json.load(urllib.request.urlopen(req, timeout=5))
# read the JWKS and the admin view with no rotation in between (retried if one happened)
for attempt in range(10):
    jwks, adm, again = get("/.well-known/jwks.json"), get("/v1/admin/keys", True), get("/.well-known/jwks.json")
    if jwks == again: break
errs = []
kids = [k["kid"] for k in jwks["keys"]]
if sorted(kids) != sorted(k["kid"] for k in adm["keys"]): errs.append("JWKS kids != published keys")
if len(set(kids)) != len(kids): errs.append("duplicate kid")
states = [k["state"] for k in adm["keys"]]
if states.count("active") != 1 or states.count("next") > 1: errs.append("states %s" % states)
for k in jwks["keys"]:
    if set(k) != {"kty", "crv", "x", "y", "kid", "use", "alg"}: errs.append("members %s" % sorted(k))
    if (k.get("kty"), k.get("crv"), k.get("alg"), k.get("use")) != ("EC", "P-256", "ES256", "sig"): errs.append("type %s" % k)
    canon = json.dumps({"crv": k["crv"], "kty": k["kty"], "x": k["x"], "y": k["y"]}, separators=(",", ":"), sort_keys=True)
    tp = base64.urlsafe_b64encode(hashlib.sha256(canon.encode()).digest()).rstrip(b"=").decode()
    if tp != k["kid"]: errs.append("kid is not the RFC 7638 thumbprint")
if adm["signer"] not in kids: errs.append("signer not published")
if errs: errs += [json.dumps(jwks), json.dumps(adm)]
print("; ".join(errs))
PY
)
if [ -z "$out" ]; then ok "JWKS holds exactly the published keys: public EC P-256 members, kid = RFC 7638 thumbprint"; else bad "JWKS holds exactly the published keys" "$out"; fi
http GET /.well-known/oauth-authorization-server
if [ "$code" = 200 ] && [ "$(jget 'd["issuer"]')" = "http://127.0.0.1:$PORT" ] &&
    [ "$(jget 'd["jwks_uri"]')" = "http://127.0.0.1:$PORT/.well-known/jwks.json" ] &&
    [ "$(jget 'd["response_types_supported"]')" = "[]" ] &&
    [ "$(jget 'sorted(d)')" = '["issuer", "jwks_uri", "response_types_supported"]' ]; then
    ok "metadata: issuer (default from listen), jwks_uri, nothing that does not exist"
else
    bad "metadata document" "$code $body"
fi
check "metadata: cacheable" has "$hdrs" "Cache-Control: public, max-age=300"
http GET /metrics
check "metrics: mandate_tokens_issued_total exported" has "$body" "mandate_tokens_issued_total 0"

echo "== keys at rest"
leak=$("$PY" - "$DATA" <<'PY'
import base64, glob, sqlite3, sys
d = sys.argv[1]
found = []
for f in glob.glob(d + "/mandate.db*"):
    data = open(f, "rb").read()
    for needle in (b"PRIVATE KEY", b"BEGIN EC", b'"d":', b'"d" :'):
        if needle in data: found.append("%s in %s" % (needle.decode(), f))
db = sqlite3.connect("file:%s/mandate.db?mode=ro" % d, uri=True)
for kid, sealed in db.execute("SELECT kid, sealed FROM signing_keys"):
    raw = base64.urlsafe_b64decode(sealed + "=" * (-len(sealed) % 4))
    if b"PRIVATE" in raw or len(raw) < 28 + 100: found.append("sealed value of %s looks wrong" % kid)
print("; ".join(found))
PY
)
if [ -z "$leak" ]; then ok "no private key material in the clear in the database (no PEM, no \"d\"); sealed blobs only"; else bad "no private key material in the database" "$leak"; fi
same=$("$PY" - "$PORT" "$DATA/mandate.db" <<'PY'
import json, sqlite3, sys, urllib.request
# the JWKS and the table are read a moment apart; a rotation in between is retried
for attempt in range(5):
    jwks = {k["kid"] for k in json.load(urllib.request.urlopen("http://127.0.0.1:%s/.well-known/jwks.json" % sys.argv[1], timeout=5))["keys"]}
    db = {r[0] for r in sqlite3.connect("file:" + sys.argv[2] + "?mode=ro", uri=True).execute("SELECT kid FROM signing_keys")}
    if jwks == db:
        print("same")
        break
else:
    print("JWKS %s, store %s" % (sorted(jwks), sorted(db)))
PY
)
check "the store holds exactly the published keys" [ "$same" = same ]
if grep -q 'PRIVATE KEY' "$T/main.log"; then bad "no key material in the log"; else ok "no key material in the log"; fi
http POST /v1/admin/settings -H "$AUTH" -H "Content-Type: application/json" --data-binary '{"key":"keys.lifetime_high_water","value":"86400"}'
if [ "$code" = 400 ] && is_json_error invalid_request; then ok "the key manager's settings cannot be written through the admin API"; else bad "keys.* settings not writable" "$code $body"; fi
http DELETE /v1/admin/settings/keys.lifetime_high_water -H "$AUTH"
if [ "$code" = 400 ] && is_json_error invalid_request; then ok "... nor deleted"; else bad "keys.* settings not deletable" "$code $body"; fi

echo "== authentication of the new endpoints"
for ep in "GET /v1/admin/keys" "GET /v1/admin/agents" "POST /v1/admin/agents" "GET /v1/admin/agents/ag_0123456789abcdef" "PATCH /v1/admin/agents/ag_0123456789abcdef" "DELETE /v1/admin/agents/ag_0123456789abcdef"; do
    set -- $ep
    http "$1" "$2" -H "Content-Type: application/json" --data-binary '{}'
    if [ "$code" = 401 ] && is_json_error unauthorized; then ok "$ep without a token: 401 JSON"; else bad "$ep without a token: 401 JSON" "$code $body"; fi
done
http GET /v1/admin/agents -H "Authorization: Bearer AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"
if [ "$code" = 401 ] && is_json_error unauthorized; then ok "agents with a wrong token: 401"; else bad "agents with a wrong token: 401" "$code $body"; fi

echo "== agents through the CLI"
SHA=$(printf 'agent-binary' | sha256sum | cut -d' ' -f1)
TRIAGE=spiffe://example.org/agent/triage
out=$("$M" agent register --spiffe-id "$TRIAGE" --selector unix:uid:1000 --selector "unix:sha256:$SHA" \
    --owner alice@example.org --env prod --max-scope tickets:read,tickets:write --label team=support 2>&1)
rc=$?
ID1=$(printf '%s\n' "$out" | sed -n 's/^registered agent \(ag_[0-9a-f]*\) .*/\1/p')
if [ $rc = 0 ] && [ -n "$ID1" ] && has "$out" "owner:     alice@example.org" && has "$out" "max_scope: tickets:read, tickets:write"; then ok "register (human output)"; else bad "register (human output)" "exit $rc" "$out"; fi
body=$("$M" agent register --json --spiffe-id spiffe://example.org/agent/billing --selector unix:uid:1001 \
    --owner bob@example.org --env staging --max-scope invoices:read --ttl 2m 2>&1)
rc=$?
ID2=$(jget 'd["id"]')
if [ $rc = 0 ] && [ "$(jget 'd["svid_ttl"]')" = 120 ] && [ "$(jget 'd["env"]')" = staging ] && printf '%s' "$ID2" | grep -Eq '^ag_[0-9a-f]{16}$'; then ok "register --json"; else bad "register --json" "exit $rc" "$body"; fi
out=$("$M" agent list 2>&1)
rc=$?
if [ $rc = 0 ] && has "$out" "^ID  *SPIFFE ID" && has "$out" "$ID1  *$TRIAGE  *alice@example.org  *prod  *active  *tickets:read,tickets:write" && has "$out" "$ID2"; then ok "list (human table)"; else bad "list (human table)" "exit $rc" "$out"; fi
body=$("$M" agent list --json)
if [ "$(jget 'len(d["agents"])')" = 2 ] && [ "$(jget '[a["spiffe_id"] for a in d["agents"]]')" = '["spiffe://example.org/agent/billing", "spiffe://example.org/agent/triage"]' ]; then ok "list --json (ordered by SPIFFE ID)"; else bad "list --json" "$body"; fi
out=$("$M" agent show "$TRIAGE" 2>&1)
if [ $? = 0 ] && has "$out" "^id:        $ID1" && has "$out" "unix:sha256:$SHA" && has "$out" "team=support"; then ok "show by SPIFFE ID (human)"; else bad "show by SPIFFE ID" "$out"; fi
body=$("$M" agent show "$ID1" --json)
if [ "$(jget 'd["spiffe_id"]')" = "$TRIAGE" ] && [ "$(jget 'd["selectors"]')" = "[\"unix:uid:1000\", \"unix:sha256:$SHA\"]" ] && [ "$(jget 'd["labels"]')" = '{"team": "support"}' ]; then ok "show by id --json"; else bad "show by id --json" "$body"; fi
body=$("$M" agent update "$ID1" --owner carol@example.org --state quarantined --label team=ops --label tier=1 --json)
rc=$?
if [ $rc = 0 ] && [ "$(jget 'd["owner"]')" = carol@example.org ] && [ "$(jget 'd["state"]')" = quarantined ] && [ "$(jget 'd["labels"]')" = '{"team": "ops", "tier": "1"}' ] && [ "$(jget 'd["env"]')" = prod ] && [ "$(jget 'd["updated_at"] >= d["created_at"]')" = True ]; then ok "update --json (only the named members change)"; else bad "update --json" "exit $rc" "$body"; fi
out=$("$M" agent update "$TRIAGE" --no-labels --max-scope tickets:read 2>&1)
if [ $? = 0 ] && has "$out" "^updated agent $ID1" && has "$out" "labels:    -" && has "$out" "max_scope: tickets:read$"; then ok "update by SPIFFE ID (human)"; else bad "update by SPIFFE ID (human)" "$out"; fi

echo "== CLI errors and exit codes"
out=$("$M" agent register --spiffe-id "$TRIAGE" --owner x --env prod 2>&1)
rc=$?
if [ $rc = 3 ] && has "$out" "HTTP 409 conflict"; then ok "duplicate SPIFFE ID: exit 3, 409"; else bad "duplicate SPIFFE ID: exit 3" "exit $rc" "$out"; fi
body=$("$M" agent register --json --spiffe-id spiffe://example.org/agent/x --selector unix:uid:1000 --owner x --env prod 2>/dev/null)
rc=$?
if [ $rc = 3 ] && [ "$(jget 'd["status"]')" = 409 ] && [ "$(jget 'd["error"]')" = conflict ]; then ok "overlapping selectors: exit 3, --json error object"; else bad "overlapping selectors" "exit $rc" "$body"; fi
out=$("$M" agent register --spiffe-id spiffe://example.org/agent/x --selector unix:uid:abc --owner x --env prod 2>&1)
rc=$?
if [ $rc = 3 ] && has "$out" "selectors\[0\]"; then ok "bad selector: exit 3, names the member"; else bad "bad selector: exit 3" "exit $rc" "$out"; fi
out=$("$M" agent show ag_ffffffffffffffff 2>&1)
rc=$?
if [ $rc = 3 ] && has "$out" "HTTP 404"; then ok "show unknown: exit 3, 404"; else bad "show unknown" "exit $rc" "$out"; fi
out=$("$M" agent register --owner x --env prod 2>&1)
check "register without --spiffe-id: exit 1" [ $? = 1 ]
out=$("$M" agent show 2>&1)
check "show without ID: exit 1" [ $? = 1 ]
out=$("$M" agent list --bogus 2>&1)
check "unknown option: exit 1" [ $? = 1 ]
out=$("$M" agent update "$ID1" 2>&1)
check "update with nothing to change: exit 1" [ $? = 1 ]
out=$("$M" agent register --spiffe-id spiffe://e.org/a --owner x --env p --ttl soon 2>&1)
check "bad --ttl: exit 1" [ $? = 1 ]
out=$(MANDATE_TOKEN_FILE= "$M" agent list 2>&1)
rc=$?
if [ $rc = 1 ] && has "$out" "MANDATE_TOKEN_FILE"; then ok "no token: exit 1"; else bad "no token: exit 1" "exit $rc" "$out"; fi
cp "$DATA/admin.token" "$T/open.token"
chmod 644 "$T/open.token"
out=$("$M" agent list --token-file "$T/open.token" 2>&1)
rc=$?
if [ $rc = 1 ] && has "$out" "chmod 600"; then ok "token file readable by others refused: exit 1"; else bad "token file readable by others refused" "exit $rc" "$out"; fi
printf 'AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA\n' >"$T/wrong.token"
chmod 600 "$T/wrong.token"
out=$("$M" agent list --token-file "$T/wrong.token" 2>&1)
rc=$?
if [ $rc = 3 ] && has "$out" "HTTP 401"; then ok "wrong token: exit 3, 401"; else bad "wrong token" "exit $rc" "$out"; fi
DEAD=$(free_port)
out=$("$M" agent list --addr "http://127.0.0.1:$DEAD" 2>&1)
rc=$?
if [ $rc = 4 ] && has "$out" "cannot connect"; then ok "no daemon: exit 4"; else bad "no daemon: exit 4" "exit $rc" "$out"; fi
body=$("$M" agent list --json --addr "http://127.0.0.1:$DEAD" 2>/dev/null)
check "no daemon with --json: an error object" [ "$(jget 'd["error"]')" = connection ]
out=$(MANDATE_ADDR="http://127.0.0.1:$DEAD" "$M" agent list --addr "http://127.0.0.1:$PORT" 2>&1)
check "--addr wins over MANDATE_ADDR" [ $? = 0 ]
out=$("$M" agent list --addr "ftp://127.0.0.1:$PORT" 2>&1)
check "bad address: exit 1" [ $? = 1 ]
for c in agent "agent register" "agent list" "agent show" "agent update" "agent remove"; do
    # shellcheck disable=SC2086
    out=$("$M" help $c 2>&1)
    if [ $? = 0 ] && has "$out" "usage: mandate $c" && has "$out" "Exit status"; then ok "mandate help $c"; else bad "mandate help $c" "$out"; fi
done
out=$("$M" help 2>&1)
if has "$out" "agent register" && has "$out" "3 the server refused"; then ok "mandate help lists agent commands and exit codes"; else bad "mandate help" "$out"; fi
out=$("$M" cedar check-parse --policies "$top/examples/quickstart/policies.cedar" 2>&1)
check "mandate cedar still works" [ $? = 0 ]

echo "== bad input on the new endpoints: 4xx JSON, nothing written"
J="Content-Type: application/json"
VALID='{"spiffe_id":"spiffe://example.org/agent/new","selectors":["unix:uid:2000"],"owner":"dana@example.org","env":"dev","scope_ceiling":["a:b"]}'
"$PY" -c 'print("{\"spiffe_id\":\"spiffe://example.org/agent/big\",\"selectors\":[],\"owner\":\"x\",\"env\":\"p\",\"scope_ceiling\":[],\"labels\":{\"k\":\"" + "v" * 20000 + "\"}}")' >"$T/huge.json"
# bad NAME STATUS ERROR METHOD PATH [CURL ARGS]
bad_input() {
    name=$1 want=$2 err=$3 m=$4 p=$5
    shift 5
    before=$(state)
    http "$m" "$p" "$@"
    after=$(state)
    if [ "$code" = "$want" ] && is_json_error "$err" && [ "$before" = "$after" ]; then
        ok "$name: $want $err, nothing written"
    else
        bad "$name: want $want $err, nothing written" "got $code" "$body" "state $before -> $after"
    fi
}
A="/v1/admin/agents"
bad_input "POST malformed JSON" 400 bad_request POST $A -H "$AUTH" -H "$J" --data-binary '{"spiffe_id": '
bad_input "POST empty body" 400 bad_request POST $A -H "$AUTH" -H "$J" --data-binary ''
bad_input "POST a JSON array" 400 bad_request POST $A -H "$AUTH" -H "$J" --data-binary '[1,2]'
bad_input "POST duplicate member" 400 bad_request POST $A -H "$AUTH" -H "$J" --data-binary '{"owner":"a","owner":"b"}'
bad_input "POST spiffe_id of the wrong type" 400 invalid_request POST $A -H "$AUTH" -H "$J" --data-binary '{"spiffe_id":5,"selectors":[],"owner":"a","env":"p","scope_ceiling":[]}'
bad_input "POST selectors of the wrong type" 400 invalid_request POST $A -H "$AUTH" -H "$J" --data-binary '{"spiffe_id":"spiffe://example.org/a","selectors":"unix:uid:1","owner":"a","env":"p","scope_ceiling":[]}'
bad_input "POST svid_ttl as a string" 400 invalid_request POST $A -H "$AUTH" -H "$J" --data-binary '{"spiffe_id":"spiffe://example.org/a","selectors":[],"owner":"a","env":"p","scope_ceiling":[],"svid_ttl":"300"}'
bad_input "POST labels as an array" 400 invalid_request POST $A -H "$AUTH" -H "$J" --data-binary '{"spiffe_id":"spiffe://example.org/a","selectors":[],"owner":"a","env":"p","scope_ceiling":[],"labels":["x"]}'
bad_input "POST unknown field" 400 invalid_request POST $A -H "$AUTH" -H "$J" --data-binary '{"spiffe_id":"spiffe://example.org/a","selectors":[],"owner":"a","env":"p","scope_ceiling":[],"admin":true}'
bad_input "POST id set by the client" 400 invalid_request POST $A -H "$AUTH" -H "$J" --data-binary '{"id":"ag_0000000000000000","spiffe_id":"spiffe://example.org/a","selectors":[],"owner":"a","env":"p","scope_ceiling":[]}'
bad_input "POST bad SPIFFE ID (scheme)" 400 invalid_request POST $A -H "$AUTH" -H "$J" --data-binary '{"spiffe_id":"https://example.org/a","selectors":[],"owner":"a","env":"p","scope_ceiling":[]}'
bad_input "POST bad SPIFFE ID (dot segment)" 400 invalid_request POST $A -H "$AUTH" -H "$J" --data-binary '{"spiffe_id":"spiffe://example.org/a/../b","selectors":[],"owner":"a","env":"p","scope_ceiling":[]}'
bad_input "POST bad SPIFFE ID (no path)" 400 invalid_request POST $A -H "$AUTH" -H "$J" --data-binary '{"spiffe_id":"spiffe://example.org","selectors":[],"owner":"a","env":"p","scope_ceiling":[]}'
bad_input "POST bad selector type" 400 invalid_request POST $A -H "$AUTH" -H "$J" --data-binary '{"spiffe_id":"spiffe://example.org/a","selectors":["k8s:ns:default"],"owner":"a","env":"p","scope_ceiling":[]}'
bad_input "POST bad sha256 selector" 400 invalid_request POST $A -H "$AUTH" -H "$J" --data-binary '{"spiffe_id":"spiffe://example.org/a","selectors":["unix:sha256:XYZ"],"owner":"a","env":"p","scope_ceiling":[]}'
bad_input "POST two uid selectors" 400 invalid_request POST $A -H "$AUTH" -H "$J" --data-binary '{"spiffe_id":"spiffe://example.org/a","selectors":["unix:uid:1","unix:uid:2"],"owner":"a","env":"p","scope_ceiling":[]}'
bad_input "POST empty owner" 400 invalid_request POST $A -H "$AUTH" -H "$J" --data-binary '{"spiffe_id":"spiffe://example.org/a","selectors":[],"owner":"","env":"p","scope_ceiling":[]}'
bad_input "POST bad env" 400 invalid_request POST $A -H "$AUTH" -H "$J" --data-binary '{"spiffe_id":"spiffe://example.org/a","selectors":[],"owner":"a","env":"pr od","scope_ceiling":[]}'
bad_input "POST scope outside [a-z0-9_.:-]" 400 invalid_request POST $A -H "$AUTH" -H "$J" --data-binary '{"spiffe_id":"spiffe://example.org/a","selectors":[],"owner":"a","env":"p","scope_ceiling":["Tickets/Read"]}'
bad_input "POST ttl out of bounds" 400 invalid_request POST $A -H "$AUTH" -H "$J" --data-binary '{"spiffe_id":"spiffe://example.org/a","selectors":[],"owner":"a","env":"p","scope_ceiling":[],"svid_ttl":999999}'
bad_input "POST NUL in a key" 400 invalid_request POST $A -H "$AUTH" -H "$J" --data-binary '{"spiffe_id":"spiffe://example.org/a","selectors":[],"owner":"a","env":"p","scope_ceiling":[],"labels":{"a\u0000b":"c"}}'
bad_input "POST duplicate SPIFFE ID" 409 conflict POST $A -H "$AUTH" -H "$J" --data-binary "{\"spiffe_id\":\"$TRIAGE\",\"selectors\":[],\"owner\":\"a\",\"env\":\"p\",\"scope_ceiling\":[]}"
bad_input "POST overlapping selectors" 409 conflict POST $A -H "$AUTH" -H "$J" --data-binary '{"spiffe_id":"spiffe://example.org/agent/y","selectors":["unix:uid:1001"],"owner":"a","env":"p","scope_ceiling":[]}'
bad_input "POST without a token" 401 unauthorized POST $A -H "$J" --data-binary "$VALID"
bad_input "POST huge body" 413 payload_too_large POST $A -H "$AUTH" -H "$J" --data-binary "@$T/huge.json"
bad_input "POST form content type" 415 unsupported_media_type POST $A -H "$AUTH" --data-binary "$VALID"
P1="$A/$ID1"
bad_input "PATCH malformed JSON" 400 bad_request PATCH "$P1" -H "$AUTH" -H "$J" --data-binary '{"owner"'
bad_input "PATCH empty object" 400 invalid_request PATCH "$P1" -H "$AUTH" -H "$J" --data-binary '{}'
bad_input "PATCH owner of the wrong type" 400 invalid_request PATCH "$P1" -H "$AUTH" -H "$J" --data-binary '{"owner":["x"]}'
bad_input "PATCH unknown field" 400 invalid_request PATCH "$P1" -H "$AUTH" -H "$J" --data-binary '{"color":"red"}'
bad_input "PATCH another SPIFFE ID" 400 invalid_request PATCH "$P1" -H "$AUTH" -H "$J" --data-binary '{"spiffe_id":"spiffe://example.org/agent/renamed"}'
bad_input "PATCH created_at" 400 invalid_request PATCH "$P1" -H "$AUTH" -H "$J" --data-binary '{"created_at":1}'
bad_input "PATCH bad selector" 400 invalid_request PATCH "$P1" -H "$AUTH" -H "$J" --data-binary '{"selectors":["unix:path:relative"]}'
bad_input "PATCH bad state" 400 invalid_request PATCH "$P1" -H "$AUTH" -H "$J" --data-binary '{"state":"deleted"}'
bad_input "PATCH overlapping selectors" 409 conflict PATCH "$P1" -H "$AUTH" -H "$J" --data-binary '{"selectors":["unix:uid:1001"]}'
bad_input "PATCH unknown agent" 404 not_found PATCH "$A/ag_ffffffffffffffff" -H "$AUTH" -H "$J" --data-binary '{"owner":"x"}'
bad_input "PATCH without a token" 401 unauthorized PATCH "$P1" -H "$J" --data-binary '{"owner":"x"}'
bad_input "PATCH huge body" 413 payload_too_large PATCH "$P1" -H "$AUTH" -H "$J" --data-binary "@$T/huge.json"
bad_input "GET a malformed id" 400 invalid_request GET "$A/triage" -H "$AUTH"
bad_input "GET an invalid SPIFFE ID" 400 invalid_request GET "$A/spiffe%3A%2F%2FEXAMPLE.org%2Fa" -H "$AUTH"
bad_input "GET a NUL in the id" 400 bad_request GET "$A/ag_%00" -H "$AUTH"
bad_input "GET an unknown SPIFFE ID" 404 not_found GET "$A/spiffe%3A%2F%2Fexample.org%2Fnobody" -H "$AUTH"
bad_input "DELETE an unknown agent" 404 not_found DELETE "$A/ag_ffffffffffffffff" -H "$AUTH"
bad_input "DELETE without a token" 401 unauthorized DELETE "$P1" 
bad_input "PUT (no such method)" 405 method_not_allowed PUT "$P1" -H "$AUTH" -H "$J" --data-binary '{}'
bad_input "POST to the JWKS" 405 method_not_allowed POST /.well-known/jwks.json -H "$J" --data-binary '{}'
http GET /healthz
check "daemon up after all bad input" [ "$code" = 200 ]
check "daemon process alive" kill -0 "$MAIN"

echo "== register over raw HTTP, remove through the CLI"
http POST $A -H "$AUTH" -H "$J" --data-binary "$VALID"
ID3=$(jget 'd["id"]')
if [ "$code" = 201 ] && has "$hdrs" "Location: /v1/admin/agents/$ID3"; then ok "POST: 201 with Location"; else bad "POST: 201 with Location" "$code $body" "$hdrs"; fi
out=$("$M" agent remove spiffe://example.org/agent/new 2>&1)
if [ $? = 0 ] && has "$out" "removed agent $ID3"; then ok "remove by SPIFFE ID"; else bad "remove by SPIFFE ID" "$out"; fi
body=$("$M" agent remove "$ID3" --json 2>/dev/null)
rc=$?
if [ $rc = 3 ] && [ "$(jget 'd["status"]')" = 404 ]; then ok "remove twice: exit 3, 404"; else bad "remove twice" "exit $rc" "$body"; fi
body=$("$M" agent list --json)
check "two agents remain" [ "$(jget 'len(d["agents"])')" = 2 ]

echo "== concurrent registrations of one SPIFFE ID: exactly one wins"
RACE='{"spiffe_id":"spiffe://example.org/agent/race","selectors":["unix:uid:3000"],"owner":"r@example.org","env":"dev","scope_ceiling":[]}'
racers=""
for i in 1 2 3 4 5 6 7 8; do
    curl -s -o /dev/null -w '%{http_code}\n' --max-time 10 -X POST -H "$AUTH" -H "$J" --data-binary "$RACE" "http://127.0.0.1:$PORT$A" >"$T/race.$i" &
    racers="$racers $!"
done
for r in $racers; do wait "$r"; done
codes=$(cat "$T"/race.* | sort | uniq -c | tr -s ' ' | tr '\n' ';')
if [ "$(cat "$T"/race.* | grep -c '^201$')" = 1 ] && [ "$(cat "$T"/race.* | grep -c '^409$')" = 7 ]; then ok "8 racing registrations: one 201, seven 409"; else bad "8 racing registrations: one 201, seven 409" "$codes"; fi
out=$("$M" agent remove spiffe://example.org/agent/race 2>&1)
check "the winner is removed" [ $? = 0 ]

echo "== restart keeps agents and keys"
http GET /v1/admin/keys -H "$AUTH"
SIGNER=$(jget 'd["signer"]')
KIDS_BEFORE=$(jget 'sorted(k["kid"] for k in d["keys"])')
AGENTS_BEFORE=$("$M" agent list --json | "$PY" -c 'import json,sys; print(json.dumps(json.load(sys.stdin), sort_keys=True))')
stop "$MAIN"
check "SIGTERM: exit 0" [ "$rc" = 0 ]
# a KEK readable by the group refuses start-up
chmod 640 "$DATA/kek"
"$D" --config "$T/main.conf" --data-dir "$DATA" 2>"$T/kek640.log" &
p=$!
pids="$pids $p"
waitfor $p
if [ "$rc" = 1 ] && grep -q 'kek.*too open' "$T/kek640.log"; then ok "a KEK of mode 0640 refuses start-up"; else bad "a KEK of mode 0640 refuses start-up" "exit $rc" "$(cat "$T/kek640.log")"; fi
chmod 600 "$DATA/kek"
# a KEK file named in the config must exist
conf "$T/named.conf" "$(free_port)" "  kek_file: $T/nowhere/kek"
"$D" --config "$T/named.conf" --data-dir "$T/data-named" 2>"$T/named.log" &
p=$!
pids="$pids $p"
waitfor $p
if [ "$rc" = 1 ] && grep -q 'does not exist' "$T/named.log" && [ ! -e "$T/nowhere/kek" ]; then ok "a named KEK file that is missing refuses start-up (not created)"; else bad "a named KEK file that is missing refuses start-up" "exit $rc" "$(cat "$T/named.log")"; fi

echo "== secret files in the data dir: links, FIFOs and loose modes refuse start-up, nothing followed"
# refused NAME PATTERN [DATADIR]: a daemon that must exit 1 within 10 s with PATTERN in its log
refused() {
    "$D" --config "$T/main.conf" --data-dir "${3:-$DATA}" 2>"$T/refused.log" &
    p=$!
    pids="$pids $p"
    waitfor $p
    [ "$rc" = running ] && kill -KILL "$p" 2>/dev/null
    if [ "$rc" = 1 ] && grep -q -- "$2" "$T/refused.log"; then ok "$1"; else bad "$1" "exit $rc" "$(cat "$T/refused.log")"; fi
}
printf 'not a token\n' >"$T/victim"
chmod 600 "$T/victim"
VICTIM=$(sha256sum "$T/victim" | cut -d' ' -f1)
mv "$DATA/admin.token" "$T/admin.token.saved"
ln -s "$T/victim" "$DATA/admin.token"
refused "a symbolic link planted at admin.token refuses start-up" "admin token: $DATA/admin.token: is a symbolic link"
check "... its target is untouched and the link left as it was" test "$(sha256sum "$T/victim" | cut -d' ' -f1)" = "$VICTIM" -a -L "$DATA/admin.token"
rm "$DATA/admin.token"
mv "$T/admin.token.saved" "$DATA/admin.token"
chmod 640 "$DATA/admin.token"
refused "an admin.token readable by the group refuses start-up (chmod 600 named)" "admin token: $DATA/admin.token: mode 0640 is too open.*chmod 600"
chmod 600 "$DATA/admin.token"
mkdir -m 700 "$T/fresh"
ln -s "$T/victim" "$T/fresh/admin.token"
refused "first start: a link planted at admin.token refuses start-up" "is a symbolic link" "$T/fresh"
check "... its target is untouched, no KEK made" test "$(sha256sum "$T/victim" | cut -d' ' -f1)" = "$VICTIM" -a ! -e "$T/fresh/kek"
mv "$DATA/kek" "$T/kek.saved"
ln -s "$T/victim" "$DATA/kek"
refused "a symbolic link planted at the KEK refuses start-up" "kek: $DATA/kek: is a symbolic link"
check "... its target is untouched" [ "$(sha256sum "$T/victim" | cut -d' ' -f1)" = "$VICTIM" ]
rm "$DATA/kek"
mkfifo "$DATA/kek"
refused "a FIFO at the KEK refuses start-up at once (not waited on)" "kek: $DATA/kek: not a regular file"
rm "$DATA/kek"
mv "$T/kek.saved" "$DATA/kek"
ln "$DATA/kek" "$T/kek.hardlink"
refused "a KEK with a second hard link refuses start-up" "kek: $DATA/kek: has 2 hard links"
rm "$T/kek.hardlink"

echo "== the stored key set: metadata changed in the database refuses start-up"
mkdir "$T/dbsave"
cp "$DATA"/mandate.db* "$T/dbsave/"
# tamper SQL: change the store as someone who can write the database but not read the KEK
tamper() {
    "$PY" - "$DATA/mandate.db" "$1" <<'PY'
import sqlite3, sys
db = sqlite3.connect(sys.argv[1])
db.execute(sys.argv[2])
db.commit()
PY
}
restore_db() {
    rm -f "$DATA"/mandate.db*
    cp "$T/dbsave"/mandate.db* "$DATA/"
}
# publish-before-sign undone: every key "published" a minute earlier, so a next key could sign at once
tamper "UPDATE signing_keys SET published = published - 60"
refused "keys published earlier than they were: refused" "signing key .*: stored metadata does not match its seal: the store was modified outside mandated"
restore_db
# the signer demoted and another key made active (a retired one when there is one)
tamper "UPDATE signing_keys SET state = CASE state WHEN 'active' THEN 'next' ELSE 'active' END, activated = CASE state WHEN 'active' THEN 0 ELSE published END, retired = 0, remove_at = 0 WHERE kid IN (SELECT kid FROM signing_keys ORDER BY state = 'active' DESC, published LIMIT 2)"
refused "another key made the signer: refused" "stored metadata does not match its seal"
restore_db
tamper "UPDATE settings SET value = CAST('86400' AS BLOB) WHERE key = 'keys.lifetime_high_water'"
refused "the lifetime high-water mark raised (the rotation stretched): refused" "stored metadata does not match its seal"
restore_db
tamper "UPDATE signing_keys SET generation = 0, mac = ''"
refused "rows without MACs (as an earlier mandated stored them): refused, with the way out" "stored without a MAC.*DELETE FROM signing_keys"
restore_db
conf "$T/main2.conf" "$PORT" "issuer: https://mandate.example.test"
if start main2 "$T/main2.conf" "$DATA"; then
    MAIN=$pid
    check "KEK unchanged" [ "$(sha256sum "$DATA/kek" | cut -d' ' -f1)" = "$KEKSUM" ]
    AGENTS_AFTER=$("$M" agent list --json | "$PY" -c 'import json,sys; print(json.dumps(json.load(sys.stdin), sort_keys=True))')
    check "agents unchanged across restart" [ "$AGENTS_BEFORE" = "$AGENTS_AFTER" ]
    http GET /.well-known/jwks.json
    if has "$body" "\"kid\":\"$SIGNER\""; then ok "the signer before the restart is still published"; else bad "the signer before the restart is still published" "$SIGNER" "$body"; fi
    body_keys=$body
    body=$KIDS_BEFORE
    missing=$(printf '%s' "$body_keys" | "$PY" -c 'import json,sys; have={k["kid"] for k in json.load(sys.stdin)["keys"]}; want=json.loads(sys.argv[1]); print(" ".join(k for k in want if k not in have))' "$KIDS_BEFORE")
    if [ -z "$missing" ]; then ok "every key published before the restart is still published"; else bad "keys kept across restart" "missing: $missing"; fi
    http GET /.well-known/oauth-authorization-server
    if [ "$(jget 'd["issuer"]')" = "https://mandate.example.test" ] && [ "$(jget 'd["jwks_uri"]')" = "https://mandate.example.test/.well-known/jwks.json" ]; then ok "metadata: configured issuer"; else bad "metadata: configured issuer" "$body"; fi
    # a reload publishes a changed schedule
    sed -i 's/max_token_lifetime: 3s/max_token_lifetime: 2s/' "$T/main2.conf"
    kill -HUP "$MAIN"
    i=0
    while :; do
        http GET /v1/admin/keys -H "$AUTH"
        [ "$(jget 'd["policy"]["max_token_lifetime"]')" = 2 ] && break
        i=$((i + 1))
        [ $i -gt 30 ] && break
        sleep 0.1
    done
    if [ "$(jget 'd["policy"]["max_token_lifetime"]')" = 2 ]; then ok "SIGHUP: a new keys.max_token_lifetime is published"; else bad "SIGHUP: a new keys.max_token_lifetime is published" "$body"; fi
    if [ -n "${SLOW:-}" ]; then
        echo "== SLOW: a retired key leaves the JWKS after retired + lifetime + skew"
        http GET /v1/admin/keys -H "$AUTH"
        OLD=$(jget '[k for k in d["keys"] if k["state"] == "retired"][0]["kid"]')
        RA=$(jget '[k for k in d["keys"] if k["state"] == "retired"][0]["remove_at"]')
        now=$(date +%s)
        sleep $((RA - now + 2))
        http GET /.well-known/jwks.json
        if has "$body" "\"kid\":\"$OLD\""; then bad "retired key removed after remove_at" "$OLD"; else ok "retired key removed after remove_at"; fi
    fi
    stop "$MAIN"
    check "second run: SIGTERM exit 0" [ "$rc" = 0 ]
fi

echo "== the CLI over TLS verifies the server"
if command -v openssl >/dev/null 2>&1 &&
    openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 1 -subj /CN=127.0.0.1 \
        -addext subjectAltName=IP:127.0.0.1 -keyout "$T/key.pem" -out "$T/cert.pem" >/dev/null 2>&1 &&
    openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 1 -subj /CN=other \
        -addext subjectAltName=DNS:other.example -keyout "$T/key2.pem" -out "$T/other.pem" >/dev/null 2>&1; then
    chmod 600 "$T/key.pem" "$T/cert.pem"
    TPORT=$(free_port)
    conf "$T/tls.conf" "$TPORT" "tls:
  cert: $T/cert.pem
  key: $T/key.pem"
    "$D" --config "$T/tls.conf" --data-dir "$T/tlsdata" 2>"$T/tls.log" &
    TPID=$!
    pids="$pids $TPID"
    i=0
    while ! curl -s -o /dev/null --max-time 1 --cacert "$T/cert.pem" "https://127.0.0.1:$TPORT/healthz" && [ $i -lt 100 ]; do
        i=$((i + 1))
        sleep 0.1
    done
    TT="$T/tlsdata/admin.token"
    out=$("$M" agent list --addr "https://127.0.0.1:$TPORT" --token-file "$TT" --cacert "$T/cert.pem" 2>&1)
    rc=$?
    if [ $rc = 0 ] && has "$out" "no agents registered"; then ok "https with the right CA: exit 0"; else bad "https with the right CA" "exit $rc" "$out"; fi
    out=$(MANDATE_CACERT="$T/cert.pem" "$M" agent list --addr "https://127.0.0.1:$TPORT" --token-file "$TT" 2>&1)
    check "MANDATE_CACERT is honoured" [ $? = 0 ]
    out=$("$M" agent list --addr "https://127.0.0.1:$TPORT" --token-file "$TT" 2>&1)
    rc=$?
    if [ $rc = 4 ] && has "$out" "does not verify"; then ok "https with an unknown CA: refused, exit 4"; else bad "https with an unknown CA: refused, exit 4" "exit $rc" "$out"; fi
    out=$("$M" agent list --addr "https://127.0.0.1:$TPORT" --token-file "$TT" --cacert "$T/other.pem" 2>&1)
    check "https with another CA: exit 4" [ $? = 4 ]
    out=$("$M" agent list --addr "https://localhost:$TPORT" --token-file "$TT" --cacert "$T/cert.pem" 2>&1)
    rc=$?
    if [ $rc = 4 ] && has "$out" "does not verify"; then ok "https to a name the certificate does not hold: refused, exit 4"; else bad "https to a name the certificate does not hold: exit 4" "exit $rc" "$out"; fi
    body=$(curl -s --max-time 5 --cacert "$T/cert.pem" "https://127.0.0.1:$TPORT/.well-known/oauth-authorization-server")
    check "TLS: the default issuer is https://" [ "$(jget 'd["issuer"]')" = "https://127.0.0.1:$TPORT" ]
    stop "$TPID"
else
    echo "skip TLS: no openssl command"
fi

echo "== sanitizer reports (in ASan/UBSan builds)"
if grep -l -E 'ERROR: (Address|Leak)Sanitizer|runtime error:' "$T"/*.log >/dev/null 2>&1; then
    bad "no sanitizer report in any daemon log" "$(grep -h -A20 -E 'Sanitizer|runtime error:' "$T"/*.log | head -60)"
else
    ok "no sanitizer report in any daemon log"
fi
echo "(took $(($(date +%s) - START)) s after the first start)"
echo "$pass passed, $fail failed"
[ "$fail" -eq 0 ]
