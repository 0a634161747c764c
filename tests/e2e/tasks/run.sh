#!/bin/sh
# End-to-end test of tasks, delegation and revocation (src/server/tasks.c) with real
# processes: build/mandated on 127.0.0.1 (trust_domain example.org, tasks.max_depth 1,
# tasks.max_ttl 5m, policies.dir = a copy of policies/examples.cedar plus a test policy,
# federation.issuers = a real npm oidc-provider on loopback whose users' ID tokens carry a
# `groups` claim: idp.mjs), and four agents, each a real process attesting over the
# Workload API socket: tk_client.c built once per agent (a different SHA-256 each),
# registered with the real `mandate agent register`:
#    orchestrator  env dev, owner e2e, ceiling tickets:read tickets:write kb:read
#    sub           env dev, owner e2e, ceiling tickets:read kb:read kb:search
#    prod          env prod (policies/examples.cedar "prod-needs-dpop" forbids its tasks)
#    stranger      env dev, another owner ("delegate-same-owner" refuses delegating to it)
# The HTTP API is driven with curl, each agent authenticating with the JWT-SVID its own
# process got (audience = mandated's issuer).  Checked:
#    1. SVIDs for every agent over the socket
#    2. start_task on behalf of a user (ID token from the real provider): 201, Location,
#       the mandate's header and claims, verified by npm jose against the JWKS; a user
#       outside the group the test policy asks for: 403; a token for another client: 400
#    3. RFC 8693 delegation to the sub-agent: 200, the child's claims (client_id, sub,
#       act, task.parent, depth, scope within the parent's, exp within the parent's),
#       jose; refusals each with its RFC 6749 error code and a readable description
#    4. start_task refusals: scope beyond the ceiling (naming exactly the excess), ttl,
#       Cedar forbids, bad bodies, missing/garbage/expired/other-audience SVIDs, nothing
#       started by any of them
#    5. introspection (admin token and agent SVID); admin revoke of the root cascades
#       (inactive at once, the tree all revoked); a revoked parent cannot be delegated
#    6. tasks.max_depth raised to 2 by SIGHUP: a second level (act nested, depth 2), a third
#       refused; ending by the holder (with both levels), by another agent (403), twice (409)
#    7. RFC 7009 revocation by the holder, by another agent (403), garbage (200)
#    8. expiry: ttl 2 active, then inactive, not delegable; a just-expired SVID: 401; ending
#       a parent whose delegation expired leaves that one expired (not counted, not "ended")
#    9. quarantine of the orchestrator: its tasks and their delegations revoked (its expired
#       task left expired), no SVID (403 agent_quarantined), its SVID starts nothing
#   10. metrics: mandate_tokens_issued_total = SVIDs + mandates issued, decisions by outcome
#   11. restart on the same data dir: revoked, ended, active and expired-while-down tasks
#       keep their state; the agent stays quarantined
#   12. an SVID expired beyond the 60 s clock skew: 401; SIGTERM exit 0; no sanitizer report
#
#   tests/e2e/tasks/run.sh [BUILD]   BUILD defaults to build (needs BUILD/mandated, BUILD/mandate)
# Uses the npm packages of tests/e2e/oidc (oidc-provider, jose; `npm ci` there when missing).
# Every process it starts is stopped by its PID; the whole run is bounded (timeout(1), 120 s).
# Ends with `N passed, N failed`; exits non-zero on any failure.
set -u
if [ -z "${MD_TASKS_E2E_BOUNDED:-}" ]; then
    MD_TASKS_E2E_BOUNDED=1 exec timeout -k 10 120 sh "$0" "$@"
fi
here=$(cd "$(dirname "$0")" && pwd)
top=$(cd "$here/../../.." && pwd)
build=${1:-build}
case "$build" in /*) ;; *) build="$top/$build" ;; esac
D="$build/mandated"
M="$build/mandate"
if [ -x /usr/bin/python3 ]; then PY=/usr/bin/python3; else PY=python3; fi
abort() { echo "$1"; echo "0 passed, 1 failed"; exit 1; }
command -v curl >/dev/null 2>&1 || abort "curl is required"
command -v node >/dev/null 2>&1 || abort "node is required"
[ -x "$D" ] && [ -x "$M" ] || abort "no $D or $M: build them first (make BUILD=${1:-build})"
if [ ! -f "$top/tests/e2e/oidc/node_modules/oidc-provider/package.json" ] ||
    [ ! -f "$top/tests/e2e/oidc/node_modules/jose/package.json" ]; then
    (cd "$top/tests/e2e/oidc" && npm ci --no-audit --no-fund --loglevel=error) || abort "npm ci in tests/e2e/oidc failed"
fi

T=$(mktemp -d /tmp/md-e2e-tasks.XXXXXX) || abort "mktemp failed"
. "$top/tests/e2e/lib.sh"
tk_cleanup() {
    # KEEP=DIR keeps the logs there
    [ -n "${KEEP:-}" ] && mkdir -p "$KEEP" && cp "$T"/*.log "$KEEP"/ 2>/dev/null
    cleanup
}
trap tk_cleanup EXIT
trap 'echo "interrupted or out of time"; fail=$((fail + 1)); echo "$pass passed, $fail failed"; exit 1' INT TERM
START=$(date +%s)
IDP_JS="$here/idp.mjs"

# ---- the agents' binaries: one build per agent, each with its own hash
mkdir -p "$T/bin"
for a in orchestrator sub prod stranger; do
    ${CC:-cc} -std=c11 -D_GNU_SOURCE -O1 -Wall -Wextra -DAGENT_NAME="\"$a\"" -o "$T/bin/$a" "$here/tk_client.c" ||
        abort "cannot build tk_client"
done
[ "$(sha256sum "$T"/bin/* | cut -d' ' -f1 | sort -u | wc -l)" = 4 ] || abort "the agents' binaries do not all have different hashes"
ME=$(id -u)

# ---- helpers
free_port() {
    "$PY" -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}
has() { case "$1" in *"$2"*) return 0 ;; esac; return 1; }
# jget EXPR: eval(EXPR) with the JSON $body as d (dicts and lists printed as JSON)
jget() {
    printf '%s' "$body" | "$PY" -c 'import json, sys
d = json.load(sys.stdin)
r = eval(sys.argv[1])
print(r if not isinstance(r, (dict, list, bool)) else json.dumps(r, sort_keys=True))' "$1" 2>/dev/null
}
# payload JWT: its claims as JSON
payload() {
    printf '%s' "$1" | "$PY" -c 'import base64, json, sys
p = sys.stdin.read().split(".")[1]
print(json.dumps(json.loads(base64.urlsafe_b64decode(p + "=" * (-len(p) % 4))), sort_keys=True))' 2>/dev/null
}
# http METHOD PATH [CURL ARGS]: over TCP; sets $code, $body ($T/headers has the answer's head)
http() {
    m=$1 p=$2
    shift 2
    code=$(curl -s --max-time 15 -X "$m" -D "$T/headers" -o "$T/body" -w '%{http_code}' "$@" "http://127.0.0.1:$PORT$p" 2>&1)
    body=$(cat "$T/body" 2>/dev/null)
}
header() { tr -d '\r' <"$T/headers" | sed -n "s/^$1: *//Ip" | head -1; }
# expect_oauth NAME ERROR [TEXT]: a 400 RFC 6749 error answer: {"error": ERROR, "error_description":
# a readable sentence (containing TEXT when given)}
expect_oauth() {
    name=$1
    shift
    if [ "$code" = 400 ] && printf '%s' "$body" | "$PY" -c 'import json, sys
d = json.load(sys.stdin)
desc = d.get("error_description")
ok = d.get("error") == sys.argv[1] and isinstance(desc, str) and len(desc) > 10
ok = ok and (len(sys.argv) < 3 or sys.argv[2] in desc)
sys.exit(0 if ok else 1)' "$@" 2>/dev/null; then ok "$name"; else bad "$name" "want 400 $1${2+ (\"$2\")}, got $code $body"; fi
}
# metric SERIES: its value from GET /metrics (0 when absent)
metric() {
    curl -s --max-time 10 "http://127.0.0.1:$PORT/metrics" | awk -v s="$1" '$1 == s {print $2; f = 1} END {if (!f) print 0}'
}
ISSUED=0 # SVIDs and mandates handed out (checked against mandate_tokens_issued_total)
ALLOW=0  # Cedar decisions expected
DENY=0
# svid AGENT AUDIENCE [TTL]: POST /v1/svid from the agent's own process; sets $code, $body, $SVID
svid() {
    resp=$(timeout 15 "$T/bin/$1" svid "$SOCK" "$2" ${3+"$3"} 2>&1)
    code=$(printf '%s\n' "$resp" | sed -n '1s/^HTTP\/1\.[01] \([0-9][0-9][0-9]\).*/\1/p')
    body=$(printf '%s\n' "$resp" | sed -n 2p)
    SVID=""
    if [ "$code" = 200 ]; then
        ISSUED=$((ISSUED + 1))
        SVID=$(jget 'd["svid"]')
    fi
    return 0
}
# start SVID JSON: POST /v1/tasks; on 201 sets $TASK and $MANDATE (else both empty)
start_task() {
    http POST /v1/tasks -H "Authorization: Bearer $1" -H 'Content-Type: application/json' --data-binary "$2"
    TASK="" MANDATE=""
    if [ "$code" = 201 ]; then
        ISSUED=$((ISSUED + 1))
        ALLOW=$((ALLOW + 1))
        TASK=$(jget 'd["task_id"]')
        MANDATE=$(jget 'd["mandate"]')
    fi
}
GT=urn:ietf:params:oauth:grant-type:token-exchange
AT=urn:ietf:params:oauth:token-type:access_token
JT=urn:ietf:params:oauth:token-type:jwt
# exchange CLIENT_SVID SUBJECT_TOKEN ACTOR_SVID [name=value...]: POST /oauth/token (RFC 8693);
# on 200 sets $CHILD_TASK and $CHILD (else both empty)
exchange() {
    a=$1 s=$2 act=$3
    shift 3
    set -- --data-urlencode "grant_type=$GT" --data-urlencode "subject_token=$s" \
        --data-urlencode "subject_token_type=$AT" --data-urlencode "actor_token=$act" \
        --data-urlencode "actor_token_type=$JT" "$@"
    exchange_raw "$a" "$@"
}
# exchange_raw CLIENT_SVID CURL_ARGS...: the same with the form given whole
exchange_raw() {
    a=$1
    shift
    http POST /oauth/token -H "Authorization: Bearer $a" "$@"
    CHILD_TASK="" CHILD=""
    if [ "$code" = 200 ]; then
        ISSUED=$((ISSUED + 1))
        ALLOW=$((ALLOW + 1))
        CHILD_TASK=$(jget 'd["task_id"]')
        CHILD=$(jget 'd["access_token"]')
    fi
}
# introspect TOKEN [AUTH]: POST /oauth/introspect (the admin token unless AUTH); sets $active
introspect() {
    http POST /oauth/introspect -H "Authorization: Bearer ${2:-$ADMIN}" --data-urlencode "token=$1"
    active=$(jget 'd["active"]')
}
expect_active() { # NAME TOKEN true|false
    introspect "$2"
    if [ "$code" = 200 ] && [ "$active" = "$3" ]; then ok "$1"; else bad "$1" "want active $3, got $code $body"; fi
}
# admin METHOD PATH [CURL ARGS]
admin() {
    m=$1 p=$2
    shift 2
    http "$m" "$p" -H "Authorization: Bearer $ADMIN" "$@"
}
task_state() { # ID: its state from GET /v1/admin/tasks/ID
    admin GET "/v1/admin/tasks/$1"
    jget 'd["state"]'
}
ntasks() { # how many tasks the store holds
    admin GET "/v1/admin/tasks?limit=100000"
    jget 'len(d["tasks"])'
}
# mandate_check TOKEN EXPECT_JSON: prints what is wrong with the mandate (nothing when right).
# EXPECT_JSON: sub, client_id, aud, scope, intent, depth, parent, act, obo (null: absent),
# ttl (exp - iat, or null), max_exp (exp at most, or null), task_id
mandate_check() {
    "$PY" - "$1" "$2" "$ISSUER" <<'PY' 2>&1
import base64, json, re, sys, time
tok, want, iss = sys.argv[1], json.loads(sys.argv[2]), sys.argv[3]
def b64(s): return json.loads(base64.urlsafe_b64decode(s + "=" * (-len(s) % 4)))
errs = []
parts = tok.split(".")
if len(parts) != 3: print("not a compact JWS"); sys.exit()
h, c = b64(parts[0]), b64(parts[1])
if h.get("typ") != "at+jwt" or h.get("alg") != "ES256" or not h.get("kid") or sorted(h) != ["alg", "kid", "typ"]:
    errs.append("header %s" % h)
keys = ["aud", "client_id", "exp", "iat", "iss", "jti", "scope", "sub", "task"]
keys += [k for k in ("act", "obo") if want.get(k) is not None]
if sorted(c) != sorted(keys): errs.append("claims %s, want %s" % (sorted(c), sorted(keys)))
for k in ("sub", "client_id", "aud", "scope", "act", "obo"):
    if c.get(k) != want.get(k): errs.append("%s %r, want %r" % (k, c.get(k), want.get(k)))
if c.get("iss") != iss: errs.append("iss %r" % c.get("iss"))
task = c.get("task", {})
wt = {"id": want["task_id"], "intent": want["intent"], "depth": want["depth"]}
if want.get("parent"): wt["parent"] = want["parent"]
if task != wt: errs.append("task %s, want %s" % (task, wt))
if c.get("jti") != want["task_id"] or not re.fullmatch(r"[0-9a-f]{32}", c.get("jti", "")): errs.append("jti %r" % c.get("jti"))
if c.get("scope", "").split() != sorted(c.get("scope", "").split()): errs.append("scope not sorted")
if want.get("ttl") is not None and c.get("exp", 0) - c.get("iat", 0) != want["ttl"]:
    errs.append("exp - iat = %s, want %s" % (c.get("exp", 0) - c.get("iat", 0), want["ttl"]))
if want.get("max_exp") is not None and c.get("exp", 0) > want["max_exp"]: errs.append("exp %s > %s" % (c.get("exp"), want["max_exp"]))
if abs(c.get("iat", 0) - time.time()) > 10: errs.append("iat %s is not now" % c.get("iat"))
print("; ".join(errs))
PY
}
# jose NAME TOKEN AUDIENCE SUBJECT: npm jose verifies the mandate against the daemon's JWKS
jose_verify() {
    curl -s --max-time 10 -o "$T/jwks.json" "http://127.0.0.1:$PORT/.well-known/jwks.json"
    out=$(timeout 20 node "$IDP_JS" verify "$T/jwks.json" "$2" "$ISSUER" "$3" "$4" 2>&1)
    if has "$out" verified; then ok "$1"; else bad "$1" "$out"; fi
}
# start_daemon NAME: start mandated on $CONF/$DATA, wait until it answers and its socket exists
start_daemon() {
    "$D" --config "$CONF" --data-dir "$DATA" 2>>"$T/$1.log" &
    MAIN=$!
    pids="$pids $MAIN"
    i=0
    while ! curl -s -o /dev/null --max-time 1 "http://127.0.0.1:$PORT/healthz" || [ ! -S "$SOCK" ]; do
        i=$((i + 1))
        if [ $i -gt 150 ] || ! kill -0 "$MAIN" 2>/dev/null; then
            bad "$1: the daemon did not start" "$(tail -20 "$T/$1.log")"
            echo "$pass passed, $fail failed"
            exit 1
        fi
        sleep 0.1
    done
}
# stop_daemon: SIGTERM, wait for the exit; sets $rc
stop_daemon() {
    kill -TERM "$MAIN"
    i=0
    while kill -0 "$MAIN" 2>/dev/null && [ $i -lt 150 ]; do i=$((i + 1)); sleep 0.1; done
    if kill -0 "$MAIN" 2>/dev/null; then rc=running; else wait "$MAIN"; rc=$?; fi
}

# ---- the identity provider and the users' ID tokens
echo "== the identity provider"
mkdir -p "$T/idp"
node "$IDP_JS" serve --state "$T/idp" >>"$T/idp.log" 2>&1 &
pids="$pids $!"
i=0
while [ ! -s "$T/idp/port" ]; do
    i=$((i + 1))
    [ $i -gt 150 ] && abort "the identity provider did not start: $(tail -5 "$T/idp.log")"
    sleep 0.1
done
IDP="http://127.0.0.1:$(cat "$T/idp/port")"
timeout 30 node "$IDP_JS" token --base "$IDP" mandate-tasks:alice mandate-tasks:bob other-app:alice >"$T/idtokens" 2>>"$T/idp.log"
ALICE=$(sed -n 1p "$T/idtokens")
BOB=$(sed -n 2p "$T/idtokens")
ALICE_OTHER=$(sed -n 3p "$T/idtokens")
[ -n "$ALICE" ] && [ -n "$BOB" ] && [ -n "$ALICE_OTHER" ] || abort "no ID tokens from the provider: $(tail -5 "$T/idp.log")"
body=$(payload "$ALICE")
check "alice's ID token from the provider carries groups [eng, support]" [ "$(jget 'd["groups"]')" = '["eng", "support"]' ]

# ---- policies and the daemon
mkdir -p "$T/policies"
install -m 644 "$top/policies/examples.cedar" "$T/policies/examples.cedar"
cat >"$T/policies/tasks-e2e.cedar" <<'EOF'
// tests/e2e/tasks: the orchestrator works on behalf of users of the "eng" group only
// (the group comes from the `groups` claim of the user's ID token).
@id("e2e-orchestrator-eng-users")
forbid (
    principal == Mandate::Agent::"spiffe://example.org/agent/orchestrator",
    action == Mandate::Action::"start_task",
    resource
)
when { context has user && !(context.user in Mandate::Group::"eng") };

// Nobody starts tasks for the payroll service.
@id("e2e-no-payroll")
forbid (principal, action == Mandate::Action::"start_task", resource == Mandate::Service::"payroll");
EOF
chmod 644 "$T/policies/tasks-e2e.cedar"
chmod 755 "$T/policies"
PORT=$(free_port)
DATA="$T/data"
SOCK="$DATA/agent.sock"
CONF="$T/mandate.conf"
cat >"$CONF" <<EOF
# written by tests/e2e/tasks/run.sh
listen: 127.0.0.1:$PORT
workers: 2
trust_domain: example.org
limits:
  max_body: 64KiB
  header_timeout: 5s
  body_timeout: 5s
policies:
  dir: $T/policies
tasks:
  default_ttl: 2m
  max_ttl: 5m
  max_depth: 1
federation:
  fetch_timeout: 5s
  issuers:
    - issuer: $IDP
      discovery: true
      audience: mandate-tasks
      spiffe_id: "spiffe://example.org/user/{claims.sub}"
      owner: "{claims.email}"
EOF
chmod 600 "$CONF"
ISSUER="http://127.0.0.1:$PORT"
echo "== start"
start_daemon main
ADMIN=$(cat "$DATA/admin.token")
http GET /.well-known/oauth-authorization-server
check "the issuer is http://127.0.0.1:PORT (metadata)" [ "$(jget 'd["issuer"]')" = "$ISSUER" ]

export MANDATE_ADDR="$ISSUER" MANDATE_TOKEN_FILE="$DATA/admin.token"
# register NAME OWNER ENV CEILING: agent spiffe://example.org/agent/NAME for its binary; sets ID_NAME
register() {
    out=$("$M" agent register --json --spiffe-id "spiffe://example.org/agent/$1" --selector "unix:uid:$ME" \
        --selector "unix:sha256:$(sha256sum "$T/bin/$1" | cut -d' ' -f1)" --owner "$2" --env "$3" --max-scope "$4" 2>&1)
    rc=$?
    if [ $rc = 0 ]; then ok "register agent/$1 (env $3, ceiling $4)"; else bad "register agent/$1" "exit $rc" "$out"; fi
    body=$out
    eval "ID_$1=$(jget 'd["id"]')"
}
register orchestrator e2e@example.org dev tickets:read,tickets:write,kb:read
register sub e2e@example.org dev tickets:read,kb:read,kb:search
register prod e2e@example.org prod tickets:read
register stranger other@example.org dev tickets:read,kb:read
ORCH=spiffe://example.org/agent/orchestrator
SUBA=spiffe://example.org/agent/sub

echo "== 1. SVIDs from the Workload API"
svid orchestrator "$ISSUER"
if [ "$code" = 200 ] && [ "$(jget 'd["spiffe_id"]')" = "$ORCH" ]; then ok "the orchestrator's process gets its SVID for the issuer"; else bad "orchestrator SVID" "$code $body"; fi
S_ORCH=$SVID
svid sub "$ISSUER"
if [ "$code" = 200 ] && [ "$(jget 'd["spiffe_id"]')" = "$SUBA" ]; then ok "the sub-agent's process gets its SVID"; else bad "sub-agent SVID" "$code $body"; fi
S_SUB=$SVID
svid prod "$ISSUER"
S_PROD=$SVID
svid stranger "$ISSUER"
S_STRANGER=$SVID
if [ -n "$S_PROD" ] && [ -n "$S_STRANGER" ]; then
    ok "the prod agent and the stranger get theirs"
else bad "the prod agent and the stranger get theirs" "$code $body"; fi
svid orchestrator tickets-api
S_ORCH_OTHERAUD=$SVID
svid sub tickets-api
S_SUB_OTHERAUD=$SVID
svid sub "$ISSUER" 1
S_SUB_SHORT=$SVID # ttl 1: expired beyond the 60 s skew at the end of the run
body=$(payload "$S_SUB_SHORT")
SHORT_EXP=$(jget 'd["exp"]')
if [ -n "$S_ORCH_OTHERAUD" ] && [ -n "$S_SUB_OTHERAUD" ] && [ -n "$SHORT_EXP" ]; then
    ok "SVIDs for another audience and one of 1 s"
else bad "SVIDs for another audience and one of 1 s" "$code $body"; fi

echo "== 2. start_task on behalf of a user"
start_task "$S_ORCH" "{\"intent\":\"triage the inbox\",\"scope\":[\"tickets:write\",\"tickets:read\",\"kb:read\"],\"audience\":\"tickets-api\",\"ttl\":240,\"on_behalf_of\":\"$ALICE\"}"
ROOT=$TASK
R_MANDATE=$MANDATE
if [ "$code" = 201 ]; then ok "the orchestrator starts a task on behalf of alice: 201"; else bad "start on behalf of alice: 201" "$code $body"; fi
if [ "$(jget 'sorted(d)')" = '["expires_at", "mandate", "scope", "task_id", "token_type"]' ] &&
    [ "$(jget 'd["token_type"]')" = Bearer ] && [ "$(jget 'd["scope"]')" = '["kb:read", "tickets:read", "tickets:write"]' ]; then
    ok "the answer: task_id, mandate, expires_at, scope, token_type Bearer"
else bad "the answer: task_id, mandate, expires_at, scope, token_type Bearer" "$code $body"; fi
check "Location: /v1/tasks/<task_id>" [ "$(header Location)" = "/v1/tasks/$ROOT" ]
R_EXP=$(jget 'd["expires_at"]')
why=$(mandate_check "$R_MANDATE" "{\"sub\":\"$ORCH\",\"client_id\":\"$ORCH\",\"aud\":\"tickets-api\",\"scope\":\"kb:read tickets:read tickets:write\",
  \"intent\":\"triage the inbox\",\"depth\":0,\"parent\":null,\"act\":null,\"ttl\":240,\"task_id\":\"$ROOT\",
  \"obo\":{\"iss\":\"$IDP\",\"sub\":\"alice\",\"email\":\"alice@example.org\",\"email_verified\":true}}")
if [ -z "$why" ]; then ok "the mandate: typ at+jwt, ES256, sub = client_id = the orchestrator, aud, sorted scope, task {id, intent, depth 0}, obo {iss, sub, email, email_verified} of alice, exp - iat = 240"; else bad "the root mandate's claims" "$why" "$(payload "$R_MANDATE")"; fi
body=$(payload "$R_MANDATE")
check "expires_at is the mandate's exp" [ "$(jget 'd["exp"]')" = "$R_EXP" ]
jose_verify "npm jose verifies the mandate against /.well-known/jwks.json (ES256, typ at+jwt, iss, aud, sub)" "$R_MANDATE" tickets-api "$ORCH"
out=$(timeout 20 node "$IDP_JS" verify "$T/jwks.json" "$R_MANDATE" "$ISSUER" other-api "$ORCH" 2>&1)
if has "$out" "refused"; then ok "npm jose refuses it for another audience"; else bad "jose refuses another audience" "$out"; fi
tampered=$(printf '%s' "$R_MANDATE" | "$PY" -c 'import base64, json, sys
h, p, s = sys.stdin.read().split(".")
c = json.loads(base64.urlsafe_b64decode(p + "=" * (-len(p) % 4)))
c["scope"] = "kb:read tickets:admin tickets:read tickets:write"
print(h + "." + base64.urlsafe_b64encode(json.dumps(c).encode()).decode().rstrip("=") + "." + s)')
out=$(timeout 20 node "$IDP_JS" verify "$T/jwks.json" "$tampered" "$ISSUER" tickets-api "$ORCH" 2>&1)
if has "$out" "refused ERR_JWS_SIGNATURE_VERIFICATION_FAILED"; then ok "npm jose refuses it with a widened scope"; else bad "jose refuses a tampered mandate" "$out"; fi
expect_active "mandated's introspection refuses the tampered mandate" "$tampered" false
admin GET "/v1/admin/tasks/$ROOT"
check "GET /v1/admin/tasks/{id}: active, depth 0, holder and subject the orchestrator, on_behalf_of alice" \
    [ "$(jget '(d["state"], d["depth"], d["holder"], d["subject"], d["parent"], d["on_behalf_of"]["sub"], d["audience"])')" = "('active', 0, '$ORCH', '$ORCH', None, 'alice', 'tickets-api')" ]
start_task "$S_ORCH" "{\"intent\":\"triage\",\"scope\":\"tickets:read\",\"audience\":\"tickets-api\",\"on_behalf_of\":\"$BOB\"}"
DENY=$((DENY + 1))
expect_error "on behalf of bob (not in group eng): the test policy forbids it, 403 access_denied" 403 access_denied
start_task "$S_SUB" "{\"intent\":\"triage\",\"scope\":\"tickets:read\",\"audience\":\"tickets-api\",\"on_behalf_of\":\"$BOB\"}"
SUB_BOB=$TASK
if [ "$code" = 201 ]; then ok "the same for bob by the sub-agent (the policy names the orchestrator): 201"; else bad "bob by the sub-agent: 201" "$code $body"; fi
start_task "$S_ORCH" "{\"intent\":\"triage\",\"scope\":\"tickets:read\",\"audience\":\"tickets-api\",\"on_behalf_of\":\"$ALICE_OTHER\"}"
expect_error "an ID token issued to another client: 400 invalid_request" 400 invalid_request
has "$body" "audience" && ok "...naming the audience check" || bad "...naming the audience check" "$body"
start_task "$S_ORCH" "{\"intent\":\"triage\",\"scope\":\"tickets:read\",\"audience\":\"tickets-api\",\"on_behalf_of\":\"$ALICE.x\"}"
expect_error "a tampered ID token: 400 invalid_request" 400 invalid_request
start_task "$S_ORCH" '{"intent":"summarise the knowledge base","scope":"tickets:read kb:read","audience":"kb-api"}'
R2=$TASK
R2_MANDATE=$MANDATE
if [ "$code" = 201 ] && [ "$(jget 'd["scope"]')" = '["kb:read", "tickets:read"]' ]; then ok "a task on no one's behalf, scope as a string, default ttl: 201"; else bad "task without on_behalf_of" "$code $body"; fi
why=$(mandate_check "$R2_MANDATE" "{\"sub\":\"$ORCH\",\"client_id\":\"$ORCH\",\"aud\":\"kb-api\",\"scope\":\"kb:read tickets:read\",
  \"intent\":\"summarise the knowledge base\",\"depth\":0,\"parent\":null,\"act\":null,\"obo\":null,\"ttl\":120,\"task_id\":\"$R2\"}")
if [ -z "$why" ]; then ok "...its mandate: no obo, exp - iat = tasks.default_ttl (120)"; else bad "the second mandate's claims" "$why"; fi

echo "== 3. delegation (RFC 8693 token exchange)"
exchange "$S_ORCH" "$R_MANDATE" "$S_SUB" --data-urlencode "scope=tickets:read kb:read"
C1=$CHILD_TASK
C1_MANDATE=$CHILD
if [ "$code" = 200 ]; then ok "the orchestrator delegates tickets:read kb:read to the sub-agent: 200"; else bad "delegate: 200" "$code $body"; fi
check "the answer: access_token, issued_token_type access_token, token_type Bearer, expires_in, scope, task_id" \
    [ "$(jget '(sorted(d), d["issued_token_type"], d["token_type"], d["scope"])')" = "(['access_token', 'expires_in', 'issued_token_type', 'scope', 'task_id', 'token_type'], '$AT', 'Bearer', 'kb:read tickets:read')" ]
EXPIN=$(jget 'd["expires_in"]')
why=$(mandate_check "$C1_MANDATE" "{\"sub\":\"$ORCH\",\"client_id\":\"$SUBA\",\"aud\":\"tickets-api\",\"scope\":\"kb:read tickets:read\",
  \"intent\":\"triage the inbox\",\"depth\":1,\"parent\":\"$ROOT\",\"act\":{\"sub\":\"$SUBA\"},\"max_exp\":$R_EXP,\"task_id\":\"$C1\",
  \"obo\":{\"iss\":\"$IDP\",\"sub\":\"alice\",\"email\":\"alice@example.org\",\"email_verified\":true}}")
if [ -z "$why" ]; then ok "the child mandate: client_id the sub-agent, sub the orchestrator, act.sub the sub-agent, task.parent the root, depth 1, scope within the parent's, exp within the parent's, obo kept"; else bad "the child's claims" "$why" "$(payload "$C1_MANDATE")"; fi
body=$(payload "$C1_MANDATE")
if [ "$(jget 'd["exp"] - d["iat"]')" = "$EXPIN" ] && [ "$(jget 'd["exp"]')" = "$R_EXP" ]; then
    ok "expires_in = exp - iat, and exp = the parent's (no ttl asked)"
else bad "expires_in = exp - iat, and exp = the parent's (no ttl asked)" "$code $body"; fi
jose_verify "npm jose verifies the child mandate" "$C1_MANDATE" tickets-api "$ORCH"
exchange "$S_ORCH" "$R_MANDATE" "$S_SUB" --data-urlencode "ttl=60"
C2=$CHILD_TASK
C2_MANDATE=$CHILD
if [ "$code" = 200 ] && [ "$(jget 'd["scope"]')" = "kb:read tickets:read" ] && [ "$(jget 'd["expires_in"]')" = 60 ]; then
    ok "no scope asked: the parent's within the sub-agent's ceiling (kb:read tickets:read); ttl 60 honoured"
else bad "delegation with the default scope, ttl 60" "$code $body"; fi
admin GET "/v1/admin/tasks/$C1"
check "GET /v1/admin/tasks/{child}: parent, root, depth 1, holder the sub-agent, subject the orchestrator" \
    [ "$(jget '(d["parent"], d["root"], d["depth"], d["holder"], d["subject"], d["agent_id"], d["state"])')" = "('$ROOT', '$ROOT', 1, '$SUBA', '$ORCH', '$ID_sub', 'active')" ]
n_before=$(ntasks)
exchange "$S_ORCH" "$R_MANDATE" "$S_SUB" --data-urlencode "scope=tickets:read kb:search"
expect_oauth "widening beyond the parent's scope: invalid_scope" invalid_scope 'scope "kb:search" exceeds the parent mandate'"'"'s scope'
exchange "$S_ORCH" "$R_MANDATE" "$S_SUB" --data-urlencode "scope=tickets:read tickets:write"
expect_oauth "beyond the sub-agent's ceiling: invalid_scope" invalid_scope 'scope "tickets:write" exceeds the sub-agent'"'"'s scope ceiling'
exchange "$S_ORCH" "$R_MANDATE" "$S_SUB" --data-urlencode 'scope=tickets:read kb\read'
expect_oauth "a malformed scope: invalid_scope" invalid_scope
exchange "$S_ORCH" "$R_MANDATE" "$S_SUB" --data-urlencode "audience=kb-api"
expect_oauth "another audience: invalid_target" invalid_target "tickets-api"
exchange "$S_ORCH" "$R_MANDATE" "$S_SUB" --data-urlencode "ttl=300"
expect_oauth "a ttl that outlives the parent: invalid_request" invalid_request "cannot outlive its parent"
exchange "$S_ORCH" "$R_MANDATE" "$S_SUB" --data-urlencode "ttl=soon"
expect_oauth "a ttl that is not a number: invalid_request" invalid_request
exchange "$S_SUB" "$C1_MANDATE" "$S_ORCH"
expect_oauth "over tasks.max_depth 1 (the child delegated further): invalid_grant" invalid_grant "depth 1"
exchange "$S_STRANGER" "$R_MANDATE" "$S_SUB"
expect_oauth "the parent's mandate presented with another agent's SVID: invalid_grant" invalid_grant "held by another agent"
exchange "$S_SUB" "$R_MANDATE" "$S_SUB"
expect_oauth "...with the intended sub-agent's own SVID: invalid_grant" invalid_grant "held by another agent"
exchange "$S_ORCH" "$C1_MANDATE" "$S_SUB"
expect_oauth "...the child's mandate with the parent holder's SVID: invalid_grant" invalid_grant "held by another agent"
http POST /oauth/token --data-urlencode "grant_type=$GT" --data-urlencode "subject_token=$R_MANDATE" \
    --data-urlencode "subject_token_type=$AT" --data-urlencode "actor_token=$S_SUB" --data-urlencode "actor_token_type=$JT"
expect_error "the mandate alone, no client SVID: 401" 401 invalid_token
exchange "$R_MANDATE" "$R_MANDATE" "$S_SUB"
expect_error "the mandate as its own client credential: 401" 401 invalid_token
exchange "$S_ORCH" "$R_MANDATE" "$S_STRANGER"
DENY=$((DENY + 1))
expect_oauth "to an agent of another owner: the delegate-same-owner policy refuses, invalid_grant" invalid_grant "policy"
exchange "$S_ORCH" "garbage.not.ajwt" "$S_SUB"
expect_oauth "a garbage subject_token: invalid_grant" invalid_grant "not a valid mandate"
exchange "$S_ORCH" "$S_ORCH" "$S_SUB"
expect_oauth "an SVID as subject_token: invalid_grant" invalid_grant "not a valid mandate"
exchange "$S_ORCH" "$tampered" "$S_SUB"
expect_oauth "a tampered subject_token (widened scope): invalid_grant" invalid_grant "not a valid mandate"
exchange "$S_ORCH" "$R_MANDATE" "garbage"
expect_oauth "a garbage actor_token: invalid_grant" invalid_grant "actor_token"
exchange "$S_ORCH" "$R_MANDATE" "$S_SUB_OTHERAUD"
expect_oauth "an actor SVID for another audience: invalid_grant" invalid_grant "actor_token"
exchange "$S_ORCH" "$R_MANDATE" "$C1_MANDATE"
expect_oauth "a mandate as actor_token: invalid_grant" invalid_grant "actor_token"
exchange_raw "$S_ORCH" --data-urlencode "grant_type=authorization_code" --data-urlencode "code=x"
expect_oauth "grant_type authorization_code: unsupported_grant_type" unsupported_grant_type "token-exchange"
exchange_raw "$S_ORCH" --data-urlencode "grant_type=$GT" --data-urlencode "subject_token_type=$AT" \
    --data-urlencode "actor_token=$S_SUB" --data-urlencode "actor_token_type=$JT"
expect_oauth "no subject_token: 400 invalid_request, described" invalid_request "subject_token"

exchange "$S_ORCH" "$R_MANDATE" "$S_SUB" --data-urlencode "actor_token_type=urn:ietf:params:oauth:token-type:id_token"
expect_oauth "a repeated actor_token_type: 400 invalid_request, described" invalid_request "more than once"
exchange_raw "$S_ORCH" --data-urlencode "grant_type=$GT" --data-urlencode "subject_token=$R_MANDATE" \
    --data-urlencode "subject_token_type=$AT" --data-urlencode "actor_token=$S_SUB" \
    --data-urlencode "actor_token_type=urn:ietf:params:oauth:token-type:id_token"
expect_oauth "actor_token_type id_token: invalid_request" invalid_request "actor_token_type"
http POST /oauth/token -H "Authorization: Bearer $S_ORCH" -H 'Content-Type: application/json' --data-binary '{"grant_type":"x"}'
expect_oauth "a JSON body: 400 invalid_request, described" invalid_request "x-www-form-urlencoded"
check "the refused exchanges started no task" [ "$(ntasks)" = "$n_before" ]

echo "== 4. start_task refusals"
n_before=$(ntasks)
start_task "$S_ORCH" '{"intent":"x","scope":["tickets:read","admin:all","billing:write"],"audience":"tickets-api"}'
expect_error "scope beyond the agent's ceiling: 403 invalid_scope naming exactly the excess" 403 invalid_scope \
    'scope "admin:all" and "billing:write" exceed the agent'"'"'s scope ceiling'
start_task "$S_SUB" '{"intent":"x","scope":"tickets:write","audience":"tickets-api"}'
expect_error "...one scope in another agent's ceiling only: 403 invalid_scope" 403 invalid_scope \
    'scope "tickets:write" exceeds the agent'"'"'s scope ceiling'
start_task "$S_ORCH" '{"intent":"x","scope":"tickets:read","audience":"tickets-api","ttl":301}'
expect_error "ttl 301 over tasks.max_ttl 5m: 400 invalid_request" 400 invalid_request '`ttl` must be an integer number of seconds, 1 to 300'
start_task "$S_ORCH" '{"intent":"x","scope":"tickets:read","audience":"tickets-api","ttl":0}'
expect_error "ttl 0: 400" 400 invalid_request
start_task "$S_ORCH" '{"intent":"x","scope":"tickets:read","audience":"tickets-api","ttl":"60"}'
expect_error "ttl as a string: 400" 400 invalid_request
start_task "$S_PROD" '{"intent":"deploy","scope":"tickets:read","audience":"tickets-api"}'
DENY=$((DENY + 1))
expect_error "an env prod agent without DPoP (examples.cedar prod-needs-dpop): 403 access_denied" 403 access_denied
start_task "$S_ORCH" '{"intent":"pay","scope":"tickets:read","audience":"payroll"}'
DENY=$((DENY + 1))
expect_error "audience payroll (the test policy forbids it): 403 access_denied" 403 access_denied
start_task "$S_ORCH" '{"intent":"x","scope":"tickets:read","audience":"tickets-api","dpop":true}'
expect_error "an unknown member: 400 invalid_request" 400 invalid_request
has "$body" dpop && ok "...naming it" || bad "...naming it" "$body"
start_task "$S_ORCH" '{"intent":"x","scope":[],"audience":"tickets-api"}'
expect_error "scope []: 400 invalid_scope" 400 invalid_scope
start_task "$S_ORCH" '{"intent":"x","scope":"","audience":"tickets-api"}'
check "scope \"\": 400" [ "$code" = 400 ]
start_task "$S_ORCH" '{"intent":"x","audience":"tickets-api"}'
expect_error "no scope: 400 invalid_request" 400 invalid_request
start_task "$S_ORCH" '{"intent":"x","scope":["tickets:read","kb\\read"],"audience":"tickets-api"}'
expect_error "a scope with a backslash (not an RFC 6749 scope-token): 400 invalid_scope" 400 invalid_scope
start_task "$S_ORCH" '{"intent":"x","scope":"tickets:read  kb:read","audience":"tickets-api"}'
expect_error "a scope string with two spaces in a row: 400 invalid_scope" 400 invalid_scope
start_task "$S_ORCH" '{"intent":"x","scope":["tickets:read",7],"audience":"tickets-api"}'
check "a scope array with a number: 400" [ "$code" = 400 ]
start_task "$S_ORCH" '{"scope":"tickets:read","audience":"tickets-api"}'
expect_error "no intent: 400 invalid_request" 400 invalid_request
start_task "$S_ORCH" '{"intent":"","scope":"tickets:read","audience":"tickets-api"}'
expect_error "an empty intent: 400 invalid_request" 400 invalid_request
start_task "$S_ORCH" '{"intent":"line\nbreak","scope":"tickets:read","audience":"tickets-api"}'
expect_error "an intent with a newline: 400 invalid_request" 400 invalid_request
start_task "$S_ORCH" '{"intent":"a\u0000b","scope":"tickets:read","audience":"tickets-api"}'
expect_error "an intent with NUL: 400 invalid_request" 400 invalid_request
start_task "$S_ORCH" '{"intent":"a\u007fb","scope":"tickets:read","audience":"tickets-api"}'
expect_error "an intent with DEL: 400 invalid_request" 400 invalid_request
start_task "$S_ORCH" '{"intent":"x","scope":"tickets:read","audience":"tickets\u0001api"}'
expect_error "an audience with a control character: 400 invalid_request" 400 invalid_request
start_task "$S_ORCH" '{"intent":"x","scope":"tickets:read"}'
expect_error "no audience: 400 invalid_request" 400 invalid_request
start_task "$S_ORCH" '{"intent":"x","scope":"tickets:read","audience":"tickets-api","on_behalf_of":""}'
expect_error "an empty on_behalf_of: 400 invalid_request" 400 invalid_request
start_task "$S_ORCH" '{"intent":"x","scope":"tickets:read","audience":"tickets-api","on_behalf_of":"not-a-jwt"}'
expect_error "a garbage on_behalf_of: 400 invalid_request" 400 invalid_request
start_task "$S_ORCH" '{"intent":"x",'
expect_error "malformed JSON: 400 bad_request" 400 bad_request
start_task "$S_ORCH" '["intent"]'
expect_error "a JSON array: 400 bad_request" 400 bad_request
start_task "$S_ORCH" '{"intent":"x","intent":"y","scope":"tickets:read","audience":"tickets-api"}'
expect_error "a duplicate key: 400 bad_request" 400 bad_request
http POST /v1/tasks -H "Authorization: Bearer $S_ORCH" -H 'Content-Type: text/plain' --data-binary '{"intent":"x","scope":"tickets:read","audience":"a"}'
expect_error "Content-Type text/plain: 415" 415 unsupported_media_type
http POST /v1/tasks -H 'Content-Type: application/json' --data-binary '{"intent":"x","scope":"tickets:read","audience":"tickets-api"}'
expect_error "no SVID: 401 invalid_token" 401 invalid_token
check "...with WWW-Authenticate: Bearer" has "$(header WWW-Authenticate)" Bearer
start_task "garbage.garbage.garbage" '{"intent":"x","scope":"tickets:read","audience":"tickets-api"}'
expect_error "a garbage SVID: 401 invalid_token" 401 invalid_token
http POST /v1/tasks -H "Authorization: Basic $S_ORCH" -H 'Content-Type: application/json' --data-binary '{"intent":"x","scope":"tickets:read","audience":"tickets-api"}'
expect_error "Authorization: Basic: 401 invalid_token" 401 invalid_token
start_task "$S_ORCH_OTHERAUD" '{"intent":"x","scope":"tickets:read","audience":"tickets-api"}'
expect_error "an SVID for another audience (tickets-api): 401 invalid_token" 401 invalid_token
start_task "$R_MANDATE" '{"intent":"x","scope":"tickets:read","audience":"tickets-api"}'
expect_error "a mandate instead of an SVID: 401 invalid_token" 401 invalid_token
start_task "$ADMIN" '{"intent":"x","scope":"tickets:read","audience":"tickets-api"}'
expect_error "the admin token instead of an SVID: 401 invalid_token" 401 invalid_token
s=$(printf '%s' "$S_ORCH" | cut -d. -f3)
case "$s" in A*) s="B${s#?}" ;; *) s="A${s#?}" ;; esac
start_task "$(printf '%s' "$S_ORCH" | cut -d. -f1-2).$s" '{"intent":"x","scope":"tickets:read","audience":"tickets-api"}'
expect_error "an SVID with a tampered signature: 401 invalid_token" 401 invalid_token
check "the refusals started no task" [ "$(ntasks)" = "$n_before" ]

echo "== 5. introspection and revoking the root"
introspect "$R_MANDATE"
check "the root is active; introspection gives scope, client_id, sub, aud, iss, exp, iat, jti, token_type, task, obo" \
    [ "$(jget '(d["active"], d["scope"], d["client_id"], d["sub"], d["aud"], d["iss"], d["exp"], d["jti"], d["token_type"], d["task"]["depth"], d["obo"]["sub"], "act" in d)')" = \
    "(True, 'kb:read tickets:read tickets:write', '$ORCH', '$ORCH', 'tickets-api', '$ISSUER', $R_EXP, '$ROOT', 'Bearer', 0, 'alice', False)" ]
introspect "$C1_MANDATE" "$S_SUB"
check "the child, introspected with the sub-agent's SVID: active, act.sub, task.parent" \
    [ "$(jget '(d["active"], d["client_id"], d["act"], d["task"]["parent"], d["scope"])')" = "(True, '$SUBA', {'sub': '$SUBA'}, '$ROOT', 'kb:read tickets:read')" ]
expect_active "the second child is active" "$C2_MANDATE" true
expect_active "a garbage token: active false" "garbage" false
expect_active "an SVID: active false" "$S_ORCH" false
http POST /oauth/introspect --data-urlencode "token=$R_MANDATE"
expect_error "introspection without credentials: 401" 401 invalid_token
http POST /oauth/introspect -H "Authorization: Bearer wrong-admin-token" --data-urlencode "token=$R_MANDATE"
check "introspection with a wrong admin token: 401" [ "$code" = 401 ]
admin GET "/v1/admin/tasks?root=$ROOT"
check "GET /v1/admin/tasks?root=: the root and its two children" [ "$(jget 'sorted(t["id"] for t in d["tasks"])')" = "$(printf '%s\n' "$ROOT" "$C1" "$C2" | sort | "$PY" -c 'import json, sys; print(json.dumps([l.strip() for l in sys.stdin]))')" ]
admin GET "/v1/admin/tasks?holder=$SUBA&state=active"
check "GET /v1/admin/tasks?holder=<sub-agent>&state=active: its 2 children and bob's task" [ "$(jget 'len(d["tasks"])')" = 3 ]
admin POST "/v1/admin/tasks/$ROOT/revoke" -H 'Content-Type: application/json' --data-binary '{"reason":"e2e: the user left"}'
if [ "$code" = 200 ] &&
    [ "$(jget '(d["task_id"], d["state"], d["tasks_changed"])')" = "('$ROOT', 'revoked', 3)" ]; then
    ok "POST /v1/admin/tasks/{root}/revoke: 200, revoked, 3 tasks changed"
else bad "POST /v1/admin/tasks/{root}/revoke: 200, revoked, 3 tasks changed" "$code $body"; fi
expect_active "the revoked root: inactive at the next introspection" "$R_MANDATE" false
expect_active "its child: inactive" "$C1_MANDATE" false
expect_active "its second child: inactive" "$C2_MANDATE" false
admin GET "/v1/admin/tasks/$ROOT/tree"
check "GET /v1/admin/tasks/{root}/tree: the root and both children, all revoked, with the reason" \
    [ "$(jget '(d["id"], d["state"], d["reason"], sorted((c["state"], c["parent"], len(c["children"])) for c in d["children"]))')" = \
    "('$ROOT', 'revoked', 'e2e: the user left', [('revoked', '$ROOT', 0), ('revoked', '$ROOT', 0)])" ]
exchange "$S_ORCH" "$R_MANDATE" "$S_SUB"
expect_oauth "delegating the revoked root: invalid_grant" invalid_grant "revoked"
http POST "/v1/tasks/$C1/end" -H "Authorization: Bearer $S_SUB"
expect_error "the sub-agent ending its revoked child: 409" 409 conflict
admin POST "/v1/admin/tasks/0123456789abcdef0123456789abcdef/revoke"
expect_error "revoking an unknown task: 404" 404 not_found
admin POST "/v1/admin/tasks/xyz/revoke"
expect_error "revoking a malformed task id: 400" 400 invalid_request
http POST "/v1/admin/tasks/$R2/revoke"
check "revoking without the admin token: 401" [ "$code" = 401 ]
expect_active "...and the task is untouched" "$R2_MANDATE" true

echo "== 6. two levels of delegation (tasks.max_depth 2 by SIGHUP), ending a task"
gen0=$(metric mandate_config_generation)
sed -i 's/^  max_depth: 1$/  max_depth: 2/' "$CONF"
kill -HUP "$MAIN"
i=0
while [ "$(metric mandate_config_generation)" = "$gen0" ] && [ $i -lt 50 ]; do i=$((i + 1)); sleep 0.1; done
check "SIGHUP with tasks.max_depth: 2: reloaded" [ "$(metric mandate_config_generation)" != "$gen0" ]
start_task "$S_ORCH" '{"intent":"end me","scope":"tickets:read kb:read","audience":"tickets-api","ttl":200}'
E1=$TASK
E1_MANDATE=$MANDATE
exchange "$S_ORCH" "$E1_MANDATE" "$S_SUB"
E1C=$CHILD_TASK
E1C_MANDATE=$CHILD
if [ -n "$E1" ] && [ -n "$E1C_MANDATE" ]; then
    ok "a task and its delegation to the sub-agent"
else bad "a task and its delegation to the sub-agent" "$code $body"; fi
exchange "$S_SUB" "$E1C_MANDATE" "$S_ORCH" --data-urlencode "scope=kb:read" --data-urlencode "audience=tickets-api"
E1G=$CHILD_TASK
E1G_MANDATE=$CHILD
if [ "$code" = 200 ]; then ok "the sub-agent delegates it further (depth 2), naming the same audience: 200"; else bad "delegation at depth 2: 200" "$code $body"; fi
why=$(mandate_check "$E1G_MANDATE" "{\"sub\":\"$ORCH\",\"client_id\":\"$ORCH\",\"aud\":\"tickets-api\",\"scope\":\"kb:read\",
  \"intent\":\"end me\",\"depth\":2,\"parent\":\"$E1C\",\"act\":{\"sub\":\"$ORCH\",\"act\":{\"sub\":\"$SUBA\"}},\"obo\":null,\"task_id\":\"$E1G\"}")
if [ -z "$why" ]; then ok "the grandchild: depth 2, task.parent the child, act = the holder with the prior holder nested"; else bad "the grandchild's claims" "$why" "$(payload "$E1G_MANDATE")"; fi
expect_active "...active" "$E1G_MANDATE" true
exchange "$S_ORCH" "$E1G_MANDATE" "$S_SUB"
expect_oauth "a third level over tasks.max_depth 2: invalid_grant" invalid_grant "depth 2"
http POST "/v1/tasks/$E1/end" -H "Authorization: Bearer $S_STRANGER"
expect_error "ended by another agent: 403" 403 access_denied
http POST "/v1/tasks/$E1/end" -H "Authorization: Bearer $S_SUB"
expect_error "ended by the sub-agent holding only its delegation: 403" 403 access_denied
expect_active "...still active" "$E1_MANDATE" true
http POST "/v1/tasks/$E1/end"
expect_error "ended without an SVID: 401" 401 invalid_token
http POST "/v1/tasks/$E1/end" -H "Authorization: Bearer $S_ORCH"
if [ "$code" = 200 ] &&
    [ "$(jget '(d["task_id"], d["state"], d["tasks_changed"])')" = "('$E1', 'ended', 3)" ]; then
    ok "ended by its holder: 200, ended, 3 tasks changed (with both levels of delegation)"
else bad "ended by its holder: 200, ended, 3 tasks changed (with both levels of delegation)" "$code $body"; fi
expect_active "the ended task: inactive" "$E1_MANDATE" false
expect_active "its delegation: inactive" "$E1C_MANDATE" false
expect_active "the delegation's delegation: inactive" "$E1G_MANDATE" false
check "GET /v1/admin/tasks/{id}: ended, and both descendants" [ "$(task_state "$E1") $(task_state "$E1C") $(task_state "$E1G")" = "ended ended ended" ]
http POST "/v1/tasks/$E1/end" -H "Authorization: Bearer $S_ORCH"
expect_error "ended twice: 409" 409 conflict
exchange "$S_ORCH" "$E1_MANDATE" "$S_SUB"
expect_oauth "delegating the ended task: invalid_grant" invalid_grant "ended"
admin POST "/v1/admin/tasks/$E1/revoke"
check "an administrator revoking the ended task: it stays ended" [ "$(task_state "$E1")" = ended ]
http POST "/v1/tasks/0123456789abcdef0123456789abcdef/end" -H "Authorization: Bearer $S_ORCH"
expect_error "ending an unknown task: 404" 404 not_found
http POST "/v1/tasks/not-a-task/end" -H "Authorization: Bearer $S_ORCH"
expect_error "ending a malformed task id: 400" 400 invalid_request

echo "== 7. RFC 7009 revocation"
start_task "$S_ORCH" '{"intent":"revoke me","scope":"tickets:read","audience":"tickets-api","ttl":200}'
V1=$TASK
V1_MANDATE=$MANDATE
exchange "$S_ORCH" "$V1_MANDATE" "$S_SUB"
V1C_MANDATE=$CHILD
http POST /oauth/revoke -H "Authorization: Bearer $S_STRANGER" --data-urlencode "token=$V1_MANDATE"
expect_error "revoked by another agent: 403 unauthorized_client" 403 unauthorized_client
expect_active "...still active" "$V1_MANDATE" true
http POST /oauth/revoke --data-urlencode "token=$V1_MANDATE"
expect_error "revoke without credentials: 401" 401 invalid_token
http POST /oauth/revoke -H "Authorization: Bearer $S_SUB" --data-urlencode "token=$V1C_MANDATE"
if [ "$code" = 200 ] && [ "$body" = "{}" ]; then
    ok "the sub-agent revokes its delegation: 200 {}"
else bad "the sub-agent revokes its delegation: 200 {}" "$code $body"; fi
expect_active "...the delegation is inactive" "$V1C_MANDATE" false
expect_active "...its parent is still active" "$V1_MANDATE" true
http POST /oauth/revoke -H "Authorization: Bearer $S_ORCH" --data-urlencode "token=$V1_MANDATE"
if [ "$code" = 200 ] && [ "$body" = "{}" ]; then
    ok "revoked by its holder: 200 {}"
else bad "revoked by its holder: 200 {}" "$code $body"; fi
expect_active "...inactive" "$V1_MANDATE" false
check "...GET /v1/admin/tasks/{id}: revoked" [ "$(task_state "$V1")" = revoked ]
http POST /oauth/revoke -H "Authorization: Bearer $S_ORCH" --data-urlencode "token=garbage"
if [ "$code" = 200 ] && [ "$body" = "{}" ]; then
    ok "revoking garbage: 200 {}"
else bad "revoking garbage: 200 {}" "$code $body"; fi
http POST /oauth/revoke -H "Authorization: Bearer $S_ORCH" --data-urlencode "token=$V1_MANDATE"
check "revoking it again: 200" [ "$code" = 200 ]
http POST /oauth/revoke -H "Authorization: Bearer $ADMIN" --data-urlencode "token=$R2_MANDATE"
check "revoked with the admin token: 200" [ "$code" = 200 ]
expect_active "...inactive" "$R2_MANDATE" false

echo "== 7b. DPoP-bound mandates (RFC 9449)"
# proofs are made by src/token/dpop.h's signer (tests/e2e/jose/dpop_tool.c; jose cross-checks it there)
DT="$T/bin/dpop_tool"
SAN=""
nm "$build/libmandate.a" 2>/dev/null | grep -q __asan_ && SAN="-fsanitize=address,undefined"
# shellcheck disable=SC2046
${CC:-cc} -std=c11 -D_GNU_SOURCE -O1 $SAN -I"$top/src" $(pkg-config --cflags jansson openssl libevent) -o "$DT" \
    "$top/tests/e2e/jose/dpop_tool.c" "$build/libmandate.a" \
    $(pkg-config --libs jansson openssl libevent libevent_openssl libevent_pthreads libfyaml sqlite3) -lm -lpthread ||
    abort "cannot build dpop_tool"
"$DT" keygen ES256 "$T/dpop.pem" >/dev/null && "$DT" keygen ES256 "$T/dpop2.pem" >/dev/null || abort "dpop keygen"
JKT=$("$DT" thumbprint "$T/dpop.pem")
proof() { "$DT" sign "$T/dpop.pem" "$@"; } # HTM HTU IAT [--token T]
BODY='{"intent":"bound","scope":"tickets:read","audience":"tickets-api","ttl":200}'
P=$(proof POST "$ISSUER/v1/tasks" "$(date +%s)")
http POST /v1/tasks -H "Authorization: Bearer $S_ORCH" -H "DPoP: $P" -H 'Content-Type: application/json' --data-binary "$BODY"
if [ "$code" = 201 ] && [ "$(jget 'd["token_type"]')" = DPoP ]; then
    ISSUED=$((ISSUED + 1)); ALLOW=$((ALLOW + 1))
    ok "a task started with a DPoP proof: 201, token_type DPoP"
else bad "a task started with a DPoP proof" "$code $body"; fi
B_TASK=$(jget 'd["task_id"]')
B_MANDATE=$(jget 'd["mandate"]')
body=$(payload "$B_MANDATE")
check "...the mandate's cnf.jkt is the proof key's RFC 7638 thumbprint" [ "$(jget 'd["cnf"]["jkt"]')" = "$JKT" ]
expect_active "...introspection: active" "$B_MANDATE" true
if [ "$(jget 'd["token_type"]')" = DPoP ] && [ "$(jget 'd["cnf"]["jkt"]')" = "$JKT" ]; then ok "...introspection: token_type DPoP and cnf.jkt"; else bad "introspection token_type/cnf" "$body"; fi
n0=$(ntasks)
http POST /v1/tasks -H "Authorization: Bearer $S_ORCH" -H "DPoP: $P" -H 'Content-Type: application/json' --data-binary "$BODY"
expect_error "the same proof again (replay): 400 invalid_dpop_proof" 400 invalid_dpop_proof
has "$body" MD_DPOP_REPLAY && ok "...naming the replay" || bad "replay named" "$body"
P=$(proof POST "$ISSUER/v1/other" "$(date +%s)")
http POST /v1/tasks -H "Authorization: Bearer $S_ORCH" -H "DPoP: $P" -H 'Content-Type: application/json' --data-binary "$BODY"
expect_error "a proof for another URI (htu): 400" 400 invalid_dpop_proof
has "$body" MD_DPOP_HTU_MISMATCH && ok "...naming htu" || bad "htu named" "$body"
P=$(proof GET "$ISSUER/v1/tasks" "$(date +%s)")
http POST /v1/tasks -H "Authorization: Bearer $S_ORCH" -H "DPoP: $P" -H 'Content-Type: application/json' --data-binary "$BODY"
expect_error "a proof for another method (htm): 400" 400 invalid_dpop_proof
P=$(proof POST "$ISSUER/v1/tasks" "$(($(date +%s) - 600))")
http POST /v1/tasks -H "Authorization: Bearer $S_ORCH" -H "DPoP: $P" -H 'Content-Type: application/json' --data-binary "$BODY"
expect_error "a proof 10 minutes old (iat): 400" 400 invalid_dpop_proof
http POST /v1/tasks -H "Authorization: Bearer $S_ORCH" -H "DPoP: garbage" -H 'Content-Type: application/json' --data-binary "$BODY"
expect_error "a DPoP header that is no JWT: 400" 400 invalid_dpop_proof
check "...none of the refused requests started a task" [ "$(ntasks)" = "$n0" ]
# using the bound mandate: Authorization: DPoP <mandate> with a proof over it (ath) by its key
END="$ISSUER/v1/tasks/$B_TASK/end"
http POST "/v1/tasks/$B_TASK/end" -H "Authorization: Bearer $B_MANDATE"
expect_error "the bound mandate as a Bearer token: 401" 401 invalid_token
http POST "/v1/tasks/$B_TASK/end" -H "Authorization: DPoP $B_MANDATE"
expect_error "Authorization: DPoP without a proof: 400" 400 invalid_dpop_proof
P=$("$DT" sign "$T/dpop2.pem" POST "$END" "$(date +%s)" --token "$B_MANDATE")
http POST "/v1/tasks/$B_TASK/end" -H "Authorization: DPoP $B_MANDATE" -H "DPoP: $P"
expect_error "a proof by another key (cnf.jkt): 400" 400 invalid_dpop_proof
has "$body" MD_DPOP_JKT_MISMATCH && ok "...naming the key mismatch" || bad "jkt mismatch named" "$body"
P=$(proof POST "$END" "$(date +%s)")
http POST "/v1/tasks/$B_TASK/end" -H "Authorization: DPoP $B_MANDATE" -H "DPoP: $P"
expect_error "a proof without ath: 400" 400 invalid_dpop_proof
P=$(proof POST "$END" "$(date +%s)" --token "$S_ORCH")
http POST "/v1/tasks/$B_TASK/end" -H "Authorization: DPoP $B_MANDATE" -H "DPoP: $P"
expect_error "a proof whose ath is another token's: 400" 400 invalid_dpop_proof
check "...the task is still active" [ "$(task_state "$B_TASK")" = active ]
# delegation of a bound mandate: the holder proves the key over the subject token
EXCH="$ISSUER/oauth/token"
exchange "$S_ORCH" "$B_MANDATE" "$S_SUB"
expect_oauth "exchanging a bound mandate without a proof: 400 invalid_dpop_proof" invalid_dpop_proof
P=$(proof POST "$EXCH" "$(date +%s)" --token "$B_MANDATE")
http POST /oauth/token -H "Authorization: Bearer $S_ORCH" -H "DPoP: $P" --data-urlencode "grant_type=$GT" \
    --data-urlencode "subject_token=$B_MANDATE" --data-urlencode "subject_token_type=$AT" \
    --data-urlencode "actor_token=$S_SUB" --data-urlencode "actor_token_type=$JT"
if [ "$code" = 200 ]; then
    ISSUED=$((ISSUED + 1)); ALLOW=$((ALLOW + 1))
    ok "...with a proof by its key over it: 200"
else bad "exchanging a bound mandate with a proof" "$code $body"; fi
P=$(proof POST "$END" "$(date +%s)" --token "$B_MANDATE")
http POST "/v1/tasks/$B_TASK/end" -H "Authorization: DPoP $B_MANDATE" -H "DPoP: $P"
if [ "$code" = 200 ] && [ "$(jget 'd["state"]')" = ended ]; then ok "ended with Authorization: DPoP and a proof (htm, htu, ath, cnf.jkt): 200"; else bad "ended with DPoP" "$code $body"; fi
http POST "/v1/tasks/$B_TASK/end" -H "Authorization: DPoP $B_MANDATE" -H "DPoP: $P"
expect_error "...the same proof once more: 400 (replay)" 400 invalid_dpop_proof
check "...the task and its delegation are ended" [ "$(task_state "$B_TASK")" = ended ]

echo "== 8. expiry"
start_task "$S_ORCH" '{"intent":"short","scope":"tickets:read","audience":"tickets-api","ttl":2}'
X=$TASK
X_MANDATE=$MANDATE
expect_active "a task with ttl 2: active" "$X_MANDATE" true
start_task "$S_ORCH" '{"intent":"parent of a short delegation","scope":"tickets:read","audience":"tickets-api","ttl":200}'
E3=$TASK
E3_MANDATE=$MANDATE
exchange "$S_ORCH" "$E3_MANDATE" "$S_SUB" --data-urlencode "ttl=1"
E3C=$CHILD_TASK
check "a delegation of 1 s" [ -n "$E3C" ]
svid sub "$ISSUER" 1
S_SUB_1S=$SVID
sleep 3
expect_active "3 s later: inactive" "$X_MANDATE" false
exchange "$S_ORCH" "$X_MANDATE" "$S_SUB"
expect_oauth "the expired task cannot be delegated: invalid_grant" invalid_grant "expired"
check "GET /v1/admin/tasks/{id}: expired" [ "$(task_state "$X")" = expired ]
http POST "/v1/tasks/$X/end" -H "Authorization: Bearer $S_ORCH"
expect_error "ending it: 409" 409 conflict
start_task "$S_SUB_1S" '{"intent":"x","scope":"tickets:read","audience":"tickets-api"}'
expect_error "an SVID of 1 s used 3 s later: 401 invalid_token" 401 invalid_token
check "the 1 s delegation: expired" [ "$(task_state "$E3C")" = expired ]
http POST "/v1/tasks/$E3/end" -H "Authorization: Bearer $S_ORCH"
if [ "$code" = 200 ] && [ "$(jget 'd["tasks_changed"]')" = 1 ]; then
    ok "ending its parent: 200, 1 task changed (the expired delegation is not counted)"
else bad "ending its parent: 200, 1 task changed (the expired delegation is not counted)" "$code $body"; fi
check "the expired delegation still reads expired, not ended" [ "$(task_state "$E3C")" = expired ]

echo "== 9. quarantine"
start_task "$S_ORCH" '{"intent":"quarantine a","scope":"tickets:read kb:read","audience":"tickets-api","ttl":200}'
QA=$TASK
QA_MANDATE=$MANDATE
exchange "$S_ORCH" "$QA_MANDATE" "$S_SUB"
QC=$CHILD_TASK
QC_MANDATE=$CHILD
start_task "$S_ORCH" '{"intent":"quarantine b","scope":"tickets:read","audience":"kb-api","ttl":200}'
QB_MANDATE=$MANDATE
start_task "$S_SUB" '{"intent":"the sub-agent own work","scope":"kb:search","audience":"kb-api","ttl":200}'
KEEP_TASK=$TASK
KEEP_MANDATE=$MANDATE
if [ -n "$QA" ] && [ -n "$QC" ] && [ -n "$QB_MANDATE" ] && [ -n "$KEEP_TASK" ]; then
    ok "the orchestrator holds two tasks, one delegated; the sub-agent has its own"
else bad "the orchestrator holds two tasks, one delegated; the sub-agent has its own" "$code $body"; fi
admin POST "/v1/admin/agents/$ID_orchestrator/quarantine" -H 'Content-Type: application/json' --data-binary '{"reason":"e2e: compromised"}'
if [ "$code" = 200 ] && [ "$(jget '(d["id"], d["spiffe_id"], d["state"])')" = "('$ID_orchestrator', '$ORCH', 'quarantined')" ]; then
    ok "POST /v1/admin/agents/{id}/quarantine: 200, quarantined"
else bad "POST /v1/admin/agents/{id}/quarantine: 200, quarantined" "$code $body"; fi
check "...tasks_revoked 3: its 2 active tasks and their delegation (not its expired task)" [ "$(jget 'd["tasks_revoked"]')" = 3 ]
check "its expired task still reads expired, not revoked" [ "$(task_state "$X")" = expired ]
expect_active "its first task: inactive" "$QA_MANDATE" false
expect_active "its second task: inactive" "$QB_MANDATE" false
expect_active "the delegation held by the sub-agent: inactive" "$QC_MANDATE" false
expect_active "the sub-agent's own task: still active" "$KEEP_MANDATE" true
check "GET /v1/admin/tasks/{delegation}: revoked" [ "$(task_state "$QC")" = revoked ]
exchange "$S_SUB" "$QC_MANDATE" "$S_STRANGER"
expect_oauth "the sub-agent cannot delegate the revoked delegation further: invalid_grant" invalid_grant
svid orchestrator "$ISSUER"
expect_error "the orchestrator's next SVID fetch over the socket: 403 agent_quarantined" 403 agent_quarantined
start_task "$S_ORCH" '{"intent":"after","scope":"tickets:read","audience":"tickets-api"}'
expect_error "its existing SVID starts no task: 403 agent_quarantined" 403 agent_quarantined
exchange "$S_SUB" "$KEEP_MANDATE" "$S_ORCH"
expect_oauth "delegating to the quarantined orchestrator: invalid_grant" invalid_grant "not a registered, active agent"
http POST /oauth/revoke -H "Authorization: Bearer $S_ORCH" --data-urlencode "token=$KEEP_MANDATE"
check "its SVID cannot revoke either: 403" [ "$code" = 403 ]
admin POST "/v1/admin/agents/ag_0000000000000000/quarantine"
expect_error "quarantining an unknown agent: 404" 404 not_found
svid sub "$ISSUER"
check "the sub-agent still gets SVIDs" [ "$code" = 200 ]
S_SUB=$SVID

echo "== 10. metrics"
check "mandate_tokens_issued_total = the $ISSUED SVIDs and mandates issued" [ "$(metric mandate_tokens_issued_total)" = "$ISSUED" ]
check "mandate_decisions_total{decision=\"allow\"} = $ALLOW (tasks started, delegations)" [ "$(metric 'mandate_decisions_total{decision="allow"}')" = "$ALLOW" ]
check "mandate_decisions_total{decision=\"deny\"} = $DENY (policy refusals)" [ "$(metric 'mandate_decisions_total{decision="deny"}')" = "$DENY" ]

echo "== 10b. the CLI against the daemon (mandate task ..., mandate agent quarantine)"
( umask 077; printf '%s\n' "$S_SUB" >"$T/sub.svid" )
out=$("$M" task start --svid @"$T/sub.svid" --intent "from the CLI" --scope kb:read --audience kb-api --ttl 5m 2>&1)
rc=$?
C_TASK=$(printf '%s\n' "$out" | sed -n 's/^task //p')
( umask 077; printf '%s\n' "$out" | sed -n 's/^mandate //p' >"$T/cli.jwt" )
if [ $rc = 0 ] && [ -n "$C_TASK" ] && [ -s "$T/cli.jwt" ]; then ok "mandate task start: exit 0, task and mandate printed"; else bad "mandate task start" "exit $rc" "$out"; fi
out=$("$M" task list --holder "$SUBA" --state active 2>&1)
if [ $? = 0 ] && has "$out" "$C_TASK"; then ok "mandate task list --holder --state active shows it"; else bad "mandate task list" "$out"; fi
out=$("$M" task show "$C_TASK" --json 2>&1)
body=$out
if [ "$(jget 'd["state"]')" = active ] && [ "$(jget 'd["holder"]')" = "$SUBA" ]; then ok "mandate task show --json: active, held by the sub-agent"; else bad "mandate task show" "$out"; fi
"$M" task introspect @"$T/cli.jwt" >/dev/null 2>&1
check "mandate task introspect: exit 0 (active)" [ $? = 0 ]
out=$("$M" task start --svid @"$T/sub.svid" --intent x --scope tickets:write --audience kb-api 2>&1)
rc=$?
if [ $rc = 3 ] && has "$out" 'scope "tickets:write" exceeds'; then ok "mandate task start beyond the ceiling: exit 3, naming the scope"; else bad "CLI scope refusal" "exit $rc" "$out"; fi
out=$("$M" task end "$C_TASK" --svid @"$T/sub.svid" 2>&1)
check "mandate task end: exit 0" [ $? = 0 ]
"$M" task introspect @"$T/cli.jwt" >/dev/null 2>&1
check "...mandate task introspect: exit 2 (inactive)" [ $? = 2 ]
out=$("$M" task start --svid @"$T/sub.svid" --intent "to revoke" --scope kb:read --audience kb-api 2>&1)
C2=$(printf '%s\n' "$out" | sed -n 's/^task //p')
out=$("$M" task revoke "$C2" --reason "from the CLI" 2>&1)
check "mandate task revoke --reason: exit 0" [ $? = 0 ]
out=$("$M" task tree "$C2" 2>&1)
if [ $? = 0 ] && has "$out" "$C2" && has "$out" revoked; then ok "mandate task tree: the task, revoked"; else bad "mandate task tree" "$out"; fi
check "...GET /v1/admin/tasks/{id}: revoked" [ "$(task_state "$C2")" = revoked ]
out=$("$M" agent quarantine spiffe://example.org/agent/stranger --reason "from the CLI" 2>&1)
check "mandate agent quarantine: exit 0" [ $? = 0 ]
out=$("$M" agent show spiffe://example.org/agent/stranger --json 2>&1)
body=$out
check "...the agent is quarantined" [ "$(jget 'd["state"]')" = quarantined ]

echo "== 11. restart"
start_task "$S_SUB" '{"intent":"expires while down","scope":"kb:read","audience":"kb-api","ttl":2}'
Z=$TASK
Z_MANDATE=$MANDATE
check "a task of 2 s" [ -n "$Z" ]
stop_daemon
check "SIGTERM: exit 0" [ "$rc" = 0 ]
sleep 3
start_daemon restart
ISSUED=0
ALLOW=0
DENY=0
check "started again on the same data dir" kill -0 "$MAIN"
expect_active "the revoked root stays inactive" "$R_MANDATE" false
expect_active "its delegation stays inactive" "$C1_MANDATE" false
expect_active "the ended task stays inactive" "$E1_MANDATE" false
expect_active "the quarantined agent's task stays inactive" "$QA_MANDATE" false
expect_active "its delegation too" "$QC_MANDATE" false
expect_active "the active task stays active" "$KEEP_MANDATE" true
expect_active "the 2 s task, expired while the daemon was down: inactive" "$Z_MANDATE" false
check "states in the store: revoked, ended, revoked, active, expired" \
    [ "$(task_state "$ROOT") $(task_state "$E1") $(task_state "$QC") $(task_state "$KEEP_TASK") $(task_state "$Z")" = "revoked ended revoked active expired" ]
http POST "/v1/tasks/$E1/end" -H "Authorization: Bearer $S_SUB"
check "the ended task still cannot be ended by another (403)" [ "$code" = 403 ]
exchange "$S_SUB" "$Z_MANDATE" "$S_STRANGER"
expect_oauth "the expired task cannot be delegated: invalid_grant" invalid_grant
svid orchestrator "$ISSUER"
expect_error "the orchestrator is still quarantined: 403 agent_quarantined" 403 agent_quarantined
exchange "$S_SUB" "$KEEP_MANDATE" "$S_ORCH"
expect_oauth "...and cannot be delegated to" invalid_grant
start_task "$S_SUB" '{"intent":"after the restart","scope":"kb:read","audience":"kb-api","ttl":60}'
if [ "$code" = 201 ]; then ok "an SVID from before the restart starts a task: 201"; else bad "start after restart" "$code $body"; fi
jose_verify "npm jose verifies the mandate from before the restart (same keys)" "$KEEP_MANDATE" kb-api "$SUBA"
http POST "/v1/tasks/$KEEP_TASK/end" -H "Authorization: Bearer $S_SUB"
check "the active task is ended by its holder after the restart: 200" [ "$code" = 200 ]
expect_active "...inactive" "$KEEP_MANDATE" false
check "after the restart: mandate_tokens_issued_total = $ISSUED" [ "$(metric mandate_tokens_issued_total)" = "$ISSUED" ]
check "after the restart: decisions allow = $ALLOW" [ "$(metric 'mandate_decisions_total{decision="allow"}')" = "$ALLOW" ]

echo "== 12. an SVID expired beyond the clock skew"
now=$(date +%s)
wait_s=$((${SHORT_EXP:-0} + 62 - now))
if [ "$wait_s" -gt 0 ]; then
    echo "   (waiting ${wait_s} s for the 1 s SVID to be 61 s past its exp)"
    sleep "$wait_s"
fi
start_task "$S_SUB_SHORT" '{"intent":"x","scope":"tickets:read","audience":"tickets-api"}'
expect_error "an SVID expired over 60 s ago: 401 invalid_token" 401 invalid_token
has "$body" "expired" && ok "...saying it expired" || bad "...saying it expired" "$body"
stop_daemon
check "SIGTERM: exit 0" [ "$rc" = 0 ]

echo "== sanitizer reports (in ASan/UBSan builds)"
if grep -l -E 'ERROR: (Address|Leak)Sanitizer|runtime error:' "$T"/main.log "$T"/restart.log >/dev/null 2>&1; then
    bad "no sanitizer report in the daemon logs" "$(grep -h -A20 -E 'Sanitizer|runtime error:' "$T"/main.log "$T"/restart.log | head -60)"
else
    ok "no sanitizer report in the daemon logs"
fi
echo "(took $(($(date +%s) - START)) s)"
echo "$pass passed, $fail failed"
[ "$fail" -eq 0 ]
