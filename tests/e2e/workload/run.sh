#!/bin/sh
# End-to-end test of mandated's Workload API (src/server/workload.c) with real
# processes: build/mandated on 127.0.0.1 with its Workload API socket at
# $T/run/agent.sock (a 0755 folder, so another uid can reach it), agents
# registered with the real `mandate` CLI, and a tiny C client (wl_client.c)
# built several times with a different CLIENT_VARIANT so each binary has its
# own SHA-256:
#    1. the registered binary gets a JWT-SVID: answer members, claims, header,
#       lifetime, issuer; npm jose verifies it against GET /v1/bundle, and
#       refuses it for another audience or tampered
#    2. same uid, an unregistered binary: 403 no match (counted, logged, names
#       no entry)
#    3. another uid (a throwaway user, root only, else SKIPPED) running the
#       registered binary: 403; its own entry (its uid, another binary): 200
#   3b. the registered binary under strace (traced), or with real uid != effective
#       uid (root only): 403
#    4. the connecting process exits, its child asks on the inherited
#       connection: 403 "gone" (peer_gone; the log gives attestation's reason)
#    5. the binary is replaced by rename between two requests of one process:
#       200, then 403 exe_deleted (likewise logged with its reason)
#    6. quarantine through `mandate agent update`: 403 agent_quarantined from
#       both workers right after; reactivated: 200 from both; a selector change
#       is seen at once
#    7. lifetimes: min(ttl asked, the entry's --ttl, keys.max_token_lifetime);
#       ttl out of 1..3600 or not an integer: 400
#    8. every kind of bad body: its status and JSON error, before any
#       attestation; boundaries (16 audiences, 255 bytes) accepted; a chunked
#       body; the daemon still answers.  Then keep-alive and pipelined requests
#       (each attested), 20 clients hanging up mid-attestation, a full
#       attestation queue (workload.max_pending 1 by SIGHUP: 503), and a
#       reloaded keys.max_token_lifetime applied to the next SVID
#    9. routes: the Workload API only on the socket, nothing else on it (the
#       admin API not even with the admin token); GET /v1/bundle is
#       byte-identical to the JWKS on TCP
#   10. 50 concurrent clients: all 200, 50 distinct jti
#   11. trust_domain: registering another trust domain's SPIFFE ID is refused (400,
#       exit 3); a row outside it (written into the store while the daemon was
#       down) is refused at issuance
#   12. the socket file: a second daemon on a live socket fails; kill -9 leaves a
#       stale socket that the next start removes; an ambiguous registry (two
#       entries for one binary, written into the store) refuses with the same words
#       as no match; a regular file at the path fails start-up naming it and is
#       left alone; SIGTERM leaves alone a file that replaced the socket, and
#       removes the socket
#   13. mandate_tokens_issued_total counts every SVID handed out; no sanitizer
#       report in any daemon log (ASan/UBSan builds)
#
#   tests/e2e/workload/run.sh [BUILD]   BUILD defaults to build (needs BUILD/mandated and
#                                       BUILD/mandate: make BUILD=...)
# Installs its npm dependency (jose) with `npm ci` when missing.  Every process it
# starts is stopped by its PID; the whole run is bounded (timeout(1), 120 s).
# Ends with `N passed, N failed` (`, N skipped` when some were); exits non-zero on
# any failure.
set -u
if [ -z "${MD_WORKLOAD_E2E_BOUNDED:-}" ]; then
    MD_WORKLOAD_E2E_BOUNDED=1 exec timeout -k 10 120 sh "$0" "$@"
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
if [ ! -f "$here/node_modules/jose/package.json" ]; then
    (cd "$here" && npm ci --no-audit --no-fund --loglevel=error) || abort "npm ci failed"
fi

# Runtime files live in a world-traversable temp dir (a client runs as another uid).
T=$(mktemp -d /tmp/md-e2e-workload.XXXXXX) || abort "mktemp failed"
chmod 755 "$T"
. "$top/tests/e2e/lib.sh"
OTHER_USER="" # the throwaway user, when we made one
skipped=0
skip() { skipped=$((skipped + 1)); echo "SKIP $1"; }
summary() {
    if [ "$skipped" -gt 0 ]; then echo "$pass passed, $fail failed, $skipped skipped"; else echo "$pass passed, $fail failed"; fi
}
wl_cleanup() {
    exec 3>&- 2>/dev/null
    # KEEP=DIR keeps the daemon logs there
    [ -n "${KEEP:-}" ] && mkdir -p "$KEEP" && cp "$T"/*.log "$KEEP"/ 2>/dev/null
    cleanup
    [ -n "$OTHER_USER" ] && userdel "$OTHER_USER" 2>/dev/null
}
trap wl_cleanup EXIT
trap 'echo "interrupted or out of time"; fail=$((fail + 1)); summary; exit 1' INT TERM
START=$(date +%s)

# ---- the clients: one binary per variant, each with its own hash
mkdir -p "$T/bin" "$T/run"
chmod 755 "$T/bin" "$T/run"
for v in 1 2 3 4 5 6 7; do
    ${CC:-cc} -std=c11 -D_GNU_SOURCE -O1 -Wall -Wextra -DCLIENT_VARIANT=$v -o "$T/bin/client_$v" \
        "$here/wl_client.c" || abort "cannot build wl_client"
done
chmod 755 "$T"/bin/client_*
for v in 1 2 3 4 5 6 7; do
    eval "SHA$v=$(sha256sum "$T/bin/client_$v" | cut -d' ' -f1)"
done
[ "$(for v in 1 2 3 4 5 6 7; do sha256sum "$T/bin/client_$v" | cut -d' ' -f1; done | sort -u | wc -l)" = 7 ] ||
    abort "the client variants do not all have different hashes"
C1="$T/bin/client_1" # agent/wl (default SVID ttl 5m)
C2="$T/bin/client_2" # registered for nobody
C3="$T/bin/client_3" # agent/ttl120 (--ttl 2m)
C4="$T/bin/client_4" # agent/ttl1h (--ttl 1h: above keys.max_token_lifetime 30m)
C5="$T/bin/client_5" # agent/amb (later duplicated in the store: ambiguous)
C6="$T/bin/client_6" # agent/td (later moved outside the trust domain in the store)
C7="$T/bin/client_7" # agent/other: the throwaway user's binary
ME=$(id -u)

# ---- the other uid (root only; as tests/e2e/attest/run.sh)
UNAME=md-e2e-workload
OTHER_UID=""
if [ "$ME" != 0 ]; then
    OTHER_WHY="not running as root (cannot create a user or switch uid)"
elif ! command -v useradd >/dev/null || ! command -v setpriv >/dev/null; then
    OTHER_WHY="useradd or setpriv missing"
else
    if ! id -u "$UNAME" >/dev/null 2>&1; then
        useradd --system --no-create-home --shell /usr/sbin/nologin "$UNAME" >/dev/null 2>&1
    fi
    if id -u "$UNAME" >/dev/null 2>&1; then
        OTHER_USER=$UNAME
        OTHER_UID=$(id -u "$UNAME")
        OTHER_GID=$(id -g "$UNAME")
    else
        OTHER_WHY="useradd $UNAME failed"
    fi
fi

# ---- helpers
free_port() {
    "$PY" -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}
# conf FILE PORT SOCKET: the daemon's config (mode 0600)
conf() {
    cat >"$1" <<EOF
# written by tests/e2e/workload/run.sh
listen: 127.0.0.1:$2
workers: 2
trust_domain: example.org
limits:
  max_body: 8KiB
  header_timeout: 5s
  body_timeout: 2s
keys:
  max_token_lifetime: 30m
workload:
  socket: $3
EOF
    chmod 600 "$1"
}
# start NAME CONF DATADIR: start a daemon, wait until it answers on TCP and its socket
# exists (at most 15 s); sets $pid.  Its stderr goes to $T/NAME.log.
start() {
    name=$1 cfg=$2 dd=$3
    "$D" --config "$cfg" --data-dir "$dd" 2>>"$T/$name.log" &
    pid=$!
    pids="$pids $pid"
    sport=$(sed -n 's/^listen: 127.0.0.1:\([0-9]*\)$/\1/p' "$cfg")
    ssock=$(sed -n 's/^  socket: //p' "$cfg")
    await_daemon "$name" "$pid" "http://127.0.0.1:$sport" "$ssock"
}
# parse: $resp (the client's two lines) -> $code, $body
parse() {
    code=$(printf '%s\n' "$resp" | sed -n '1s/^HTTP\/1\.[01] \([0-9][0-9][0-9]\).*/\1/p')
    body=$(printf '%s\n' "$resp" | sed -n 2p)
}
ISSUED=0 # SVIDs handed out so far (checked against mandate_tokens_issued_total)
# svid BIN BODY [CONTENT_TYPE]: POST /v1/svid from BIN over the socket; sets $code, $body
svid() {
    bin=$1
    shift
    resp=$(timeout 15 "$bin" once "$SOCK" "$@" 2>&1)
    parse
    [ "$code" = 200 ] && ISSUED=$((ISSUED + 1))
    return 0
}
# sockget PATH: GET PATH over the socket (from client 1); sets $code, $body
sockget() {
    resp=$(timeout 15 "$C1" get "$SOCK" "$1" 2>&1)
    parse
}
# sockraw FILE: FILE's bytes as a request over the socket; sets $code, $body
sockraw() {
    resp=$(timeout 15 "$C1" raw "$SOCK" "$1" 2>&1)
    parse
}
# http METHOD PATH [CURL ARGS]: over TCP; sets $code, $body
http() {
    m=$1 p=$2
    shift 2
    code=$(curl -s --max-time 10 -X "$m" -o "$T/body" -w '%{http_code}' "$@" "http://127.0.0.1:$PORT$p" 2>&1)
    body=$(cat "$T/body" 2>/dev/null)
}
has() { case "$1" in *"$2"*) return 0 ;; esac; return 1; }
# jget EXPR: eval(EXPR) with the JSON $body as d
jget() {
    printf '%s' "$body" | "$PY" -c 'import json, sys
d = json.load(sys.stdin)
r = eval(sys.argv[1])
print(r if not isinstance(r, (dict, list)) else json.dumps(r, sort_keys=True))' "$1" 2>/dev/null
}
# metric SERIES: its value from GET /metrics (0 when absent)
metric() {
    curl -s --max-time 10 "http://127.0.0.1:$PORT/metrics" | awk -v s="$1" '$1 == s {print $2; f = 1} END {if (!f) print 0}'
}
fails() { metric "mandate_attestation_failures_total{reason=\"$1\"}"; }
# svid_check EXPECTED_SUB AUD_JSON TTL: checks the 200 answer in $body; prints what is wrong
svid_check() {
    printf '%s' "$body" | "$PY" -c '
import base64, json, re, sys, time
sub, aud, ttl, iss = sys.argv[1], json.loads(sys.argv[2]), int(sys.argv[3]), sys.argv[4]
d = json.load(sys.stdin)
def b64(s): return json.loads(base64.urlsafe_b64decode(s + "=" * (-len(s) % 4)))
errs = []
if sorted(d) != ["audience", "expires_at", "issued_at", "kid", "spiffe_id", "svid"]: errs.append("members %s" % sorted(d))
parts = d["svid"].split(".")
if len(parts) != 3: errs.append("not a compact JWS")
h, c = b64(parts[0]), b64(parts[1])
if h != {"alg": "ES256", "kid": d["kid"], "typ": "JWT"}: errs.append("header %s" % h)
if sorted(c) != ["aud", "exp", "iat", "iss", "jti", "sub"]: errs.append("claims %s" % sorted(c))
if c.get("iss") != iss: errs.append("iss %s != %s" % (c.get("iss"), iss))
if c.get("sub") != sub or d["spiffe_id"] != sub: errs.append("sub %s / spiffe_id %s" % (c.get("sub"), d["spiffe_id"]))
if c.get("aud") != aud or d["audience"] != aud: errs.append("aud %s / audience %s" % (c.get("aud"), d["audience"]))
if c.get("exp", 0) - c.get("iat", 0) != ttl: errs.append("exp - iat = %s, want %d" % (c.get("exp", 0) - c.get("iat", 0), ttl))
if (c.get("iat"), c.get("exp")) != (d["issued_at"], d["expires_at"]): errs.append("issued_at/expires_at differ from iat/exp")
if abs(c.get("iat", 0) - time.time()) > 10: errs.append("iat %s is not now" % c.get("iat"))
if not re.fullmatch(r"[A-Za-z0-9_-]{22}", c.get("jti", "")): errs.append("jti %r is not 128 bits base64url" % c.get("jti"))
print("; ".join(errs))' "$1" "$2" "$3" "$ISSUER" 2>&1
}
# expect_svid NAME SUB AUD_JSON TTL: $code is 200 and svid_check passes
expect_svid() {
    if [ "$code" != 200 ]; then bad "$1" "got $code $body"; return; fi
    why=$(svid_check "$2" "$3" "$4")
    if [ -z "$why" ]; then ok "$1"; else bad "$1" "$why" "$body"; fi
}
# register NAME SHA [EXTRA ARGS]: agent spiffe://example.org/agent/NAME for uid $ME and SHA
register() {
    n=$1 s=$2
    shift 2
    out=$("$M" agent register --spiffe-id "spiffe://example.org/agent/$n" --selector "unix:uid:$ME" \
        --selector "unix:sha256:$s" --owner e2e@example.org --env test --max-scope tickets:read "$@" 2>&1)
    rc=$?
    if [ $rc = 0 ]; then ok "register agent/$n"; else bad "register agent/$n" "exit $rc" "$out"; fi
}

# ---- the daemon
PORT=$(free_port)
DATA="$T/data"
SOCK="$T/run/agent.sock"
conf "$T/main.conf" "$PORT" "$SOCK"
export MANDATE_ADDR="http://127.0.0.1:$PORT"
echo "== start"
if ! start main "$T/main.conf" "$DATA"; then
    summary
    exit 1
fi
MAIN=$pid
export MANDATE_TOKEN_FILE="$DATA/admin.token"
check "the socket is 0666" [ "$(stat -c %a "$SOCK")" = 666 ]
http GET /.well-known/oauth-authorization-server
ISSUER=$(jget 'd["issuer"]')
check "the issuer is known (metadata)" [ "$ISSUER" = "http://127.0.0.1:$PORT" ]

echo "== registration"
register wl "$SHA1"
register ttl120 "$SHA3" --ttl 2m
register ttl1h "$SHA4" --ttl 1h
register amb "$SHA5"
register td "$SHA6"
if [ -n "$OTHER_UID" ]; then
    out=$("$M" agent register --spiffe-id spiffe://example.org/agent/other --selector "unix:uid:$OTHER_UID" \
        --selector "unix:sha256:$SHA7" --owner e2e@example.org --env test --max-scope tickets:read 2>&1)
    rc=$?
    if [ $rc = 0 ]; then ok "register agent/other (uid $OTHER_UID)"; else bad "register agent/other" "exit $rc" "$out"; fi
fi
WL=spiffe://example.org/agent/wl

echo "== 1. the registered binary gets an SVID"
issued0=$(metric mandate_tokens_issued_total)
svid "$C1" '{"audience":"a"}'
expect_svid "registered binary, audience \"a\": 200; members, header (ES256, kid, typ JWT), iss, sub, aud [\"a\"], exp - iat = 300 (entry default), jti" \
    "$WL" '["a"]' 300
TOKEN_A=$(jget 'd["svid"]')
KID_A=$(jget 'd["kid"]')
sockget /v1/bundle
printf '%s' "$body" >"$T/bundle.json"
check "GET /v1/bundle over the socket: 200" [ "$code" = 200 ]
if has "$body" "\"kid\":\"$KID_A\""; then ok "the SVID's kid is in the bundle"; else bad "the SVID's kid is in the bundle" "$KID_A" "$body"; fi
JOSE="node $here/verify.mjs $T/bundle.json"
out=$($JOSE "$TOKEN_A" "$ISSUER" a "$WL" 2>&1)
if [ $? = 0 ] && has "$out" verified; then ok "jose verifies the SVID against the bundle (ES256, typ JWT, iss, aud a, sub)"; else bad "jose verifies the SVID" "$out"; fi
out=$($JOSE "$TOKEN_A" "$ISSUER" b "$WL" 2>&1)
if [ $? = 1 ] && has "$out" "refused ERR_JWT_CLAIM_VALIDATION_FAILED" && has "$out" aud; then ok "jose refuses the audience-a SVID for audience b"; else bad "jose refuses the SVID for audience b" "$out"; fi
out=$($JOSE "$TOKEN_A" "https://someone.else" a "$WL" 2>&1)
if [ $? = 1 ] && has "$out" "refused ERR_JWT_CLAIM_VALIDATION_FAILED"; then ok "jose refuses it for another issuer"; else bad "jose refuses it for another issuer" "$out"; fi
TAMPERED=$(printf '%s' "$TOKEN_A" | "$PY" -c '
import base64, json, sys
h, p, s = sys.stdin.read().split(".")
c = json.loads(base64.urlsafe_b64decode(p + "=" * (-len(p) % 4)))
c["sub"] = "spiffe://example.org/agent/admin"
print(h + "." + base64.urlsafe_b64encode(json.dumps(c, separators=(",", ":")).encode()).rstrip(b"=").decode() + "." + s)')
out=$($JOSE "$TAMPERED" "$ISSUER" a spiffe://example.org/agent/admin 2>&1)
if [ $? = 1 ] && has "$out" "refused ERR_JWS_SIGNATURE_VERIFICATION_FAILED"; then ok "jose refuses it with another sub (tampered)"; else bad "jose refuses the tampered SVID" "$out"; fi
svid "$C1" '{"audience":["a","b"]}'
expect_svid "audience [\"a\",\"b\"]: aud is both" "$WL" '["a","b"]' 300
out=$($JOSE "$(jget 'd["svid"]')" "$ISSUER" b "$WL" 2>&1)
if [ $? = 0 ]; then ok "jose verifies the two-audience SVID for audience b"; else bad "jose verifies the two-audience SVID for b" "$out"; fi
svid "$C1" '{"audience":"a"}' "application/json; charset=utf-8"
check "Content-Type application/json; charset=utf-8: 200" [ "$code" = 200 ]
check "issued SVIDs counted (mandate_tokens_issued_total +3)" [ "$(metric mandate_tokens_issued_total)" = $((issued0 + 3)) ]
if grep -q "svid issued: $WL to pid=[0-9]* uid=$ME exe=$C1" "$T/main.log"; then ok "issuance logged with pid, uid, exe"; else bad "issuance logged" "$(grep 'svid' "$T/main.log" | tail -3)"; fi
if grep -qF -e "$TOKEN_A" -e "$(printf "%s" "$TOKEN_A" | cut -d. -f3)" "$T/main.log"; then bad "the token is not in the log"; else ok "the token is not in the log"; fi

echo "== 2. same uid, an unregistered binary"
nm0=$(fails no_match)
svid "$C2" '{"audience":"a"}'
expect_error "unregistered binary, same uid: 403 attestation_failed, no match" 403 attestation_failed \
    "no registration entry matches this workload"
if has "$body" "spiffe://"; then bad "the refusal names no entry" "$body"; else ok "the refusal names no entry"; fi
check "no_match counted (+1)" [ "$(fails no_match)" = $((nm0 + 1)) ]
if grep -q "svid refused: MD_ATTEST_ENO_MATCH.*uid=$ME .*exe=$C2 sha256=$SHA2" "$T/main.log"; then ok "the refusal is logged with uid, exe and sha256"; else bad "the refusal is logged" "$(grep 'svid refused' "$T/main.log" | tail -2)"; fi

echo "== 3. another uid"
if [ -n "$OTHER_UID" ]; then
    nm0=$(fails no_match)
    resp=$(timeout 15 setpriv --reuid="$OTHER_UID" --regid="$OTHER_GID" --clear-groups "$C1" once "$SOCK" '{"audience":"a"}' 2>&1)
    parse
    expect_error "the registered binary run by uid $OTHER_UID: 403 no match" 403 attestation_failed \
        "no registration entry matches this workload"
    check "no_match counted (+1)" [ "$(fails no_match)" = $((nm0 + 1)) ]
    if grep -q "svid refused: MD_ATTEST_ENO_MATCH.*uid=$OTHER_UID .*exe=$C1 sha256=$SHA1" "$T/main.log"; then ok "attested as uid $OTHER_UID running $C1"; else bad "attested as uid $OTHER_UID" "$(grep 'svid refused' "$T/main.log" | tail -2)"; fi
    resp=$(timeout 15 setpriv --reuid="$OTHER_UID" --regid="$OTHER_GID" --clear-groups "$C7" once "$SOCK" '{"audience":"a"}' 2>&1)
    parse
    [ "$code" = 200 ] && ISSUED=$((ISSUED + 1))
    expect_svid "uid $OTHER_UID running its own registered binary: 200 as agent/other" spiffe://example.org/agent/other '["a"]' 300
    svid "$C7" '{"audience":"a"}'
    expect_error "that binary run by uid $ME: 403 no match" 403 attestation_failed "no registration entry matches this workload"
else
    skip "the registered binary run by another uid: 403 ($OTHER_WHY)"
    skip "another uid running its own registered binary: 200 ($OTHER_WHY)"
fi

echo "== 3b. processes attestation refuses whatever their binary"
if command -v strace >/dev/null 2>&1; then
    tr0=$(fails traced)
    resp=$(timeout 15 strace -f -qq -o /dev/null "$C1" once "$SOCK" '{"audience":"a"}' 2>&1)
    parse
    if [ "$code" = "" ] && has "$resp" "Operation not permitted"; then
        skip "the registered binary under strace: 403 traced (ptrace not permitted here)"
    else
        expect_error "the registered binary under strace: 403 traced" 403 attestation_failed "the process is being traced"
        check "traced counted (+1)" [ "$(fails traced)" = $((tr0 + 1)) ]
    fi
else
    skip "the registered binary under strace: 403 traced (no strace)"
fi
if [ -n "$OTHER_UID" ]; then
    um0=$(fails uid_mismatch)
    resp=$(timeout 15 setpriv --ruid="$OTHER_UID" "$C1" once "$SOCK" '{"audience":"a"}' 2>&1)
    parse
    expect_error "the registered binary with real uid $OTHER_UID, effective uid $ME: 403" 403 attestation_failed \
        "the process's user or group ids are not consistent"
    check "uid_mismatch counted (+1)" [ "$(fails uid_mismatch)" = $((um0 + 1)) ]
else
    skip "a process whose real and effective uids differ: 403 ($OTHER_WHY)"
fi

echo "== 4. the connecting process is gone"
pg0=$(fails peer_gone)
resp=$(timeout 15 "$C1" fork-exit "$SOCK" '{"audience":"a"}' 2>&1)
parse
expect_error "request from the child of a process that connected and exited: 403 gone" 403 attestation_failed \
    "the process that connected is gone"
check "peer_gone counted (+1)" [ "$(fails peer_gone)" = $((pg0 + 1)) ]
line=$(grep 'svid refused: MD_ATTEST_EPEER_GONE' "$T/main.log" | tail -1)
if has "$line" "peer process "; then ok "the log gives attestation's own reason (peer process ... exited)"; else bad "the log gives attestation's own reason" "$line"; fi

echo "== 5. the binary replaced on disk between two requests"
mkdir -p "$T/replace"
cp "$C1" "$T/replace/agent"
mkfifo "$T/replace/fifo"
: >"$T/replace/out"
ed0=$(fails exe_deleted)
"$T/replace/agent" twice "$SOCK" '{"audience":"a"}' <"$T/replace/fifo" >"$T/replace/out" 2>&1 &
RPID=$!
pids="$pids $RPID"
exec 3>"$T/replace/fifo"
i=0
while [ "$(wc -l <"$T/replace/out")" -lt 2 ] && [ $i -lt 150 ]; do
    i=$((i + 1))
    sleep 0.1
done
resp=$(sed -n 1,2p "$T/replace/out")
parse
[ "$code" = 200 ] && ISSUED=$((ISSUED + 1))
expect_svid "first request (binary as registered): 200" "$WL" '["a"]' 300
cp "$C2" "$T/replace/agent.new" && mv -f "$T/replace/agent.new" "$T/replace/agent"
echo go >&3
exec 3>&-
waitfor "$RPID"
resp=$(sed -n 3,4p "$T/replace/out")
parse
expect_error "second request, after another binary was renamed over it: 403 replaced" 403 attestation_failed \
    "the process's executable was removed or replaced on disk"
check "exe_deleted counted (+1)" [ "$(fails exe_deleted)" = $((ed0 + 1)) ]
line=$(grep 'svid refused: MD_ATTEST_EEXE_DELETED' "$T/main.log" | tail -1)
if has "$line" "was deleted or replaced on disk"; then ok "the log gives attestation's own reason (deleted or replaced)"; else bad "the log gives attestation's own reason" "$line"; fi

echo "== 6. quarantine and back, seen at once by every worker"
# workers_seen FROM PATTERN: how many workers (request id prefixes) answered on the lines of
# main.log after line FROM that match PATTERN
workers_seen() {
    tail -n +"$(($1 + 1))" "$T/main.log" | grep -e "$2" | sed -n 's/.*\[req=\([0-9a-f]\{8\}\).*/\1/p' | sort -u | wc -l
}
# burst NAME PATTERN STATUS [ERROR MESSAGE]: client 1 asks at least 4 times, until both workers
# answered (a line matching PATTERN each), at most 20 times; every answer must be STATUS
# (with that error); sets $n to the number of requests
burst() {
    name=$1 pat=$2
    shift 2
    from=$(wc -l <"$T/main.log")
    n=0
    why=""
    while [ $n -lt 4 ] || { [ "$(workers_seen "$from" "$pat")" -lt 2 ] && [ $n -lt 20 ]; }; do
        n=$((n + 1))
        svid "$C1" '{"audience":"a"}'
        if [ $# -gt 1 ]; then is_error "$@" || why="request $n: $code $body"; else [ "$code" = "$1" ] || why="request $n: $code $body"; fi
        [ -n "$why" ] && break
    done
    if [ -z "$why" ]; then ok "$name: $n requests, all $1"; else bad "$name: every request $1" "$why"; fi
    if [ "$(workers_seen "$from" "$pat")" -ge 2 ]; then ok "$name: both workers answered"; else skip "$name: both workers answered (only one took the $n connections)"; fi
}
burst "before: the registered binary" "svid issued: $WL" 200
q0=$(fails quarantined)
out=$("$M" agent update "$WL" --state quarantined 2>&1)
check "mandate agent update --state quarantined: exit 0" [ $? = 0 ]
burst "quarantined, right after" "svid refused: MD_ATTEST_EQUARANTINED" 403 agent_quarantined "this agent is quarantined"
check "quarantined counted (+$n)" [ "$(fails quarantined)" = $((q0 + n)) ]
out=$("$M" agent update "$WL" --state active 2>&1)
check "mandate agent update --state active: exit 0" [ $? = 0 ]
burst "reactivated, right after" "svid issued: $WL" 200
out=$("$M" agent update "$WL" --selector "unix:uid:$ME" --selector "unix:sha256:$SHA2" 2>&1)
check "selectors changed to the other binary's hash: exit 0" [ $? = 0 ]
svid "$C2" '{"audience":"a"}'
c2=$code
svid "$C1" '{"audience":"a"}'
if [ "$c2" = 200 ] && [ "$code" = 403 ]; then ok "the new selectors apply at once: other binary 200, old binary 403"; else bad "the new selectors apply at once" "new $c2, old $code"; fi
out=$("$M" agent update "$WL" --selector "unix:uid:$ME" --selector "unix:sha256:$SHA1" 2>&1)
svid "$C1" '{"audience":"a"}'
check "selectors back: 200" [ "$code" = 200 ]

echo "== 7. lifetimes"
svid "$C1" '{"audience":"a","ttl":60}'
expect_svid "ttl 60 asked, entry 5m: exp - iat = 60" "$WL" '["a"]' 60
svid "$C1" '{"audience":"a","ttl":1}'
expect_svid "ttl 1 asked: exp - iat = 1" "$WL" '["a"]' 1
svid "$C1" '{"audience":"a","ttl":3600}'
expect_svid "ttl 3600 asked, entry 5m: 300" "$WL" '["a"]' 300
svid "$C3" '{"audience":"a","ttl":3600}'
expect_svid "ttl 3600 asked, entry --ttl 2m: 120" spiffe://example.org/agent/ttl120 '["a"]' 120
svid "$C3" '{"audience":"a"}'
expect_svid "no ttl asked, entry --ttl 2m: 120" spiffe://example.org/agent/ttl120 '["a"]' 120
svid "$C3" '{"audience":"a","ttl":30}'
expect_svid "ttl 30 asked, entry --ttl 2m: 30" spiffe://example.org/agent/ttl120 '["a"]' 30
svid "$C4" '{"audience":"a","ttl":3600}'
expect_svid "ttl 3600 asked, entry --ttl 1h, keys.max_token_lifetime 30m: 1800" spiffe://example.org/agent/ttl1h '["a"]' 1800
svid "$C4" '{"audience":"a"}'
expect_svid "no ttl asked, entry --ttl 1h, keys.max_token_lifetime 30m: 1800" spiffe://example.org/agent/ttl1h '["a"]' 1800
TTL_MSG='`ttl` must be an integer number of seconds, 1 to 3600'
for t in 0 3601 '"5"' 1.5 -1 null true '[60]' 1e2 -9223372036854775808 9223372036854775807; do
    svid "$C1" "{\"audience\":\"a\",\"ttl\":$t}"
    expect_error "ttl $t: 400 invalid_request" 400 invalid_request "$TTL_MSG"
done
svid "$C1" '{"audience":"a","ttl":99999999999999999999}'
expect_error "ttl beyond 64 bits: 400 bad_request" 400 bad_request

out=$("$M" agent remove spiffe://example.org/agent/ttl120 2>&1)
check "mandate agent remove agent/ttl120: exit 0" [ $? = 0 ]
burst_removed=""
for i in 1 2 3 4; do
    svid "$C3" '{"audience":"a"}'
    is_error 403 attestation_failed "no registration entry matches this workload" || burst_removed="$code $body"
done
if [ -z "$burst_removed" ]; then ok "removed: its binary is refused at once (4 requests, 403 no match)"; else bad "removed: its binary is refused at once" "$burst_removed"; fi

echo "== 8. bad bodies"
nm0=$(fails no_match)
issued_before=$(metric mandate_tokens_issued_total)
AUD_MSG='`audience` must name 1 to 16 audiences'
# bad_body NAME STATUS ERROR BODY [MESSAGE]
bad_body() {
    svid "$C1" "$4"
    expect_error "$1: $2 $3" "$2" "$3" ${5+"$5"}
}
A256=$(printf '%0256d' 0 | tr 0 x)
A255=$(printf '%0255d' 0 | tr 0 x)
AUD17=$("$PY" -c 'import json; print(json.dumps({"audience": ["a%d" % i for i in range(17)]}))')
AUD16=$("$PY" -c 'import json; print(json.dumps({"audience": ["a%d" % i for i in range(16)]}))')
bad_body "no audience" 400 invalid_request '{}' '`audience` is required: whom the SVID is for'
bad_body "ttl without audience" 400 invalid_request '{"ttl":60}' '`audience` is required: whom the SVID is for'
bad_body "audience []" 400 invalid_request '{"audience":[]}' "$AUD_MSG"
bad_body "17 audiences" 400 invalid_request "$AUD17" "$AUD_MSG"
bad_body "duplicate audiences" 400 invalid_request '{"audience":["a","b","a"]}' '`audience`[2] repeats `audience`[0]'
bad_body "audience a number" 400 invalid_request '{"audience":5}' '`audience` must be a string or an array of strings'
bad_body "audience null" 400 invalid_request '{"audience":null}' '`audience` must be a string or an array of strings'
bad_body "audience an object" 400 invalid_request '{"audience":{"a":1}}' '`audience` must be a string or an array of strings'
bad_body "audience [1]" 400 invalid_request '{"audience":[1]}'
bad_body "audience [[\"a\"]]" 400 invalid_request '{"audience":[["a"]]}'
bad_body "audience \"\"" 400 invalid_request '{"audience":""}'
bad_body "audience [\"a\",\"\"]" 400 invalid_request '{"audience":["a",""]}'
bad_body "audience of 256 bytes" 400 invalid_request "{\"audience\":\"$A256\"}"
bad_body "audience with \\u0001" 400 invalid_request '{"audience":"a\u0001b"}' '`audience`[0]: control characters are not allowed'
bad_body "audience with a newline" 400 invalid_request '{"audience":["ok","a\nb"]}' '`audience`[1]: control characters are not allowed'
bad_body "audience with DEL" 400 invalid_request '{"audience":"a\u007f"}' '`audience`[0]: control characters are not allowed'
bad_body "audience with NUL" 400 invalid_request '{"audience":"a\u0000b"}'
bad_body "unknown member" 400 invalid_request '{"audience":"a","scope":"x"}'
bad_body "unknown member with NUL in its name" 400 invalid_request '{"audience":"a","ttl\u0000":5}'
bad_body "spiffe_id asked for" 400 invalid_request '{"audience":"a","spiffe_id":"spiffe://example.org/agent/admin"}'
bad_body "duplicate key" 400 bad_request '{"audience":"a","audience":"b"}'
bad_body "malformed JSON" 400 bad_request '{"audience":'
bad_body "trailing garbage" 400 bad_request '{"audience":"a"} x'
bad_body "JSON array" 400 bad_request '["a"]' "the request body must be a JSON object"
bad_body "JSON string" 400 bad_request '"a"'
bad_body "empty body" 400 bad_request '' "the request body must be a JSON object"
bad_body "invalid UTF-8" 400 bad_request "$(printf '{"audience":"\377"}')"
svid "$C1" '{"audience":"a"}' text/plain
expect_error "Content-Type text/plain: 415" 415 unsupported_media_type
svid "$C1" '{"audience":"a"}' -
expect_error "no Content-Type: 415" 415 unsupported_media_type
svid "$C1" '{"audience":"a"}' application/jsonx
expect_error "Content-Type application/jsonx: 415" 415 unsupported_media_type
"$PY" -c 'print("{\"audience\":\"%s\"}" % ("x" * 9000), end="")' >"$T/huge.json"
svid "$C1" "$(cat "$T/huge.json")"
expect_error "body over limits.max_body: 413" 413 payload_too_large
printf 'GET /v1/svid HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n' >"$T/get-svid.req"
sockraw "$T/get-svid.req"
expect_error "GET /v1/svid: 405" 405 method_not_allowed
printf 'POST /v1/svid HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 5\r\nContent-Length: 6\r\n\r\n{"a":1}' >"$T/two-cl.req"
sockraw "$T/two-cl.req"
check "two Content-Lengths: 400" [ "$code" = 400 ]
printf 'POST /v1/svid HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 40\r\n\r\n{"audience":"a"}' >"$T/short.req"
resp=$(timeout 15 "$C1" raw "$SOCK" "$T/short.req" 2>&1)
parse
check "body shorter than Content-Length: 408 after body_timeout" [ "$code" = 408 ]
printf 'BLAH\r\n\r\n' >"$T/garbage.req"
sockraw "$T/garbage.req"
check "garbage request line: 400" [ "$code" = 400 ]
svid "$C2" '{"audience":[]}'
expect_error "unregistered binary with a bad body: 400 (the body is checked first)" 400 invalid_request "$AUD_MSG"
check "bad bodies are not attested: no_match unchanged" [ "$(fails no_match)" = "$nm0" ]
check "bad bodies issue nothing" [ "$(metric mandate_tokens_issued_total)" = "$issued_before" ]
printf 'POST /v1/svid HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n5\r\n{"aud\r\nb\r\nience":"a"}\r\n0\r\n\r\n' >"$T/chunked.req"
sockraw "$T/chunked.req"
[ "$code" = 200 ] && ISSUED=$((ISSUED + 1))
expect_svid "a chunked body: 200" "$WL" '["a"]' 300
svid "$C1" "$AUD16"
check "16 audiences: 200" [ "$code" = 200 ]
svid "$C1" "{\"audience\":[\"$A255\",\"spiffe://example.org/x\",\"h\\u00e9\"]}"
expect_svid "audiences of 255 bytes, a URI, non-ASCII: 200" "$WL" "[\"$A255\", \"spiffe://example.org/x\", \"h\\u00e9\"]" 300
check "the daemon is still running" kill -0 "$MAIN"

echo "== 8b. connections: keep-alive, pipelining, hang-ups, a full queue"
resp=$(timeout 15 "$C1" keepalive "$SOCK" '{"audience":"a"}' 3 2>&1)
n=$(printf '%s\n' "$resp" | grep -c '^HTTP/1.1 200 ')
ISSUED=$((ISSUED + n))
check "3 requests one after the other on one connection: 3 x 200" [ "$n" = 3 ]
resp=$(timeout 15 "$C1" pipeline "$SOCK" '{"audience":"a"}' 3 2>&1)
n=$(printf '%s\n' "$resp" | grep -c '^HTTP/1.1 200 ')
ISSUED=$((ISSUED + n))
check "3 pipelined requests on one connection: 3 x 200" [ "$n" = 3 ]
resp=$(timeout 15 "$C2" pipeline "$SOCK" '{"audience":"a"}' 2 2>&1)
check "2 pipelined requests from an unregistered binary: 2 x 403" [ "$(printf '%s\n' "$resp" | grep -c '^HTTP/1.1 403 ')" = 2 ]
hpids=""
for i in $(seq 1 20); do
    timeout 15 "$C1" hangup "$SOCK" '{"audience":"a"}' >/dev/null 2>&1 &
    hpids="$hpids $!"
done
for p in $hpids; do wait "$p"; done
sleep 0.5
ISSUED=$(metric mandate_tokens_issued_total) # hung-up requests may or may not have been issued
svid "$C1" '{"audience":"a"}'
check "20 clients that hang up before the answer: the daemon still answers (200)" [ "$code" = 200 ]
check "and is still running" kill -0 "$MAIN"
# workload.max_pending 1 (reloaded with SIGHUP): concurrent requests beyond it get 503
gen0=$(metric mandate_config_generation)
sed -i -e 's/^  socket: .*/&\n  max_pending: 1/' -e 's/^  max_token_lifetime: 30m$/  max_token_lifetime: 100s/' "$T/main.conf"
kill -HUP "$MAIN"
i=0
while [ "$(metric mandate_config_generation)" = "$gen0" ] && [ $i -lt 50 ]; do i=$((i + 1)); sleep 0.1; done
check "SIGHUP with workload.max_pending: 1, keys.max_token_lifetime: 100s: reloaded" [ "$(metric mandate_config_generation)" != "$gen0" ]
svid "$C1" '{"audience":"a"}'
expect_svid "after the reload: entry 5m, keys.max_token_lifetime 100s: exp - iat = 100" "$WL" '["a"]' 100
rm -rf "$T/full"
mkdir -p "$T/full"
fpids=""
for i in $(seq 1 30); do
    timeout 15 "$C1" once "$SOCK" '{"audience":"full"}' >"$T/full/$i" 2>&1 &
    fpids="$fpids $!"
done
for p in $fpids; do wait "$p"; done
n200=$(grep -l '^HTTP/1.1 200 ' "$T"/full/* | wc -l)
n503=$(grep -l '^HTTP/1.1 503 ' "$T"/full/* | wc -l)
ISSUED=$((ISSUED + n200))
check "30 concurrent requests with max_pending 1: each answered 200 or 503 ($n200 + $n503)" [ $((n200 + n503)) = 30 ]
if [ "$n503" -gt 0 ]; then
    f=$(grep -l '^HTTP/1.1 503 ' "$T"/full/* | head -1)
    resp=$(cat "$f")
    parse
    expect_error "a full attestation queue: 503 service_unavailable" 503 service_unavailable \
        "too many attestations in progress; retry"
else
    skip "a full attestation queue: 503 (no request found the queue full)"
fi
sed -i -e '/^  max_pending: 1$/d' -e 's/^  max_token_lifetime: 100s$/  max_token_lifetime: 30m/' "$T/main.conf"
gen0=$(metric mandate_config_generation)
kill -HUP "$MAIN"
i=0
while [ "$(metric mandate_config_generation)" = "$gen0" ] && [ $i -lt 50 ]; do i=$((i + 1)); sleep 0.1; done
check "SIGHUP back to the default max_pending and 30m: reloaded" [ "$(metric mandate_config_generation)" != "$gen0" ]
svid "$C1" '{"audience":"a"}'
expect_svid "after the second reload: exp - iat = 300 again" "$WL" '["a"]' 300

echo "== 9. routes"
http POST /v1/svid -H "Content-Type: application/json" --data-binary '{"audience":"a"}'
expect_error "POST /v1/svid over TCP: 404" 404 not_found
http GET /v1/bundle
expect_error "GET /v1/bundle over TCP: 404" 404 not_found
ADMIN=$(cat "$DATA/admin.token")
for p in /v1/admin/status /v1/admin/agents /healthz /metrics /.well-known/jwks.json /.well-known/oauth-authorization-server; do
    printf 'GET %s HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer %s\r\nConnection: close\r\n\r\n' "$p" "$ADMIN" >"$T/route.req"
    sockraw "$T/route.req"
    expect_error "GET $p over the socket (admin token sent): 404" 404 not_found
done
printf 'POST /v1/svid/federated HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 16\r\nConnection: close\r\n\r\n{"audience":"a"}' >"$T/route.req"
sockraw "$T/route.req"
expect_error "POST /v1/svid/federated over the socket: 404" 404 not_found
sockget /v1/bundle
printf '%s' "$body" >"$T/bundle2.json"
curl -s --max-time 10 -o "$T/jwks.json" "http://127.0.0.1:$PORT/.well-known/jwks.json"
if [ -s "$T/jwks.json" ] && cmp -s "$T/bundle2.json" "$T/jwks.json"; then ok "GET /v1/bundle is byte-identical to GET /.well-known/jwks.json"; else bad "bundle = JWKS" "$(cat "$T/bundle2.json")" "$(cat "$T/jwks.json")"; fi

echo "== 10. 50 concurrent clients"
mkdir -p "$T/conc"
cpids=""
for i in $(seq 1 50); do
    timeout 15 "$C1" once "$SOCK" '{"audience":"conc"}' >"$T/conc/$i" 2>&1 &
    cpids="$cpids $!"
done
for p in $cpids; do wait "$p"; done
n200=$(grep -l '^HTTP/1.1 200 ' "$T"/conc/* | wc -l)
ISSUED=$((ISSUED + n200))
check "50 concurrent requests: 50 answered 200" [ "$n200" = 50 ]
njti=$(for f in "$T"/conc/*; do sed -n 2p "$f"; done | "$PY" -c '
import base64, json, sys
jtis = set()
for line in sys.stdin:
    try:
        t = json.loads(line)["svid"].split(".")[1]
        jtis.add(json.loads(base64.urlsafe_b64decode(t + "=" * (-len(t) % 4)))["jti"])
    except Exception:
        pass
print(len(jtis))')
check "50 distinct jti" [ "$njti" = 50 ]

echo "== 11. trust domain"
body=$("$M" agent register --json --spiffe-id spiffe://other.org/x --selector unix:uid:4242 --owner e2e@example.org \
    --env test --max-scope tickets:read 2>/dev/null)
rc=$?
if [ $rc = 3 ] && [ "$(jget 'd["status"]')" = 400 ] && has "$(jget 'd["message"]')" example.org; then
    ok "register spiffe://other.org/x with trust_domain example.org: 400, exit 3"
else
    bad "register outside the trust domain: 400, exit 3" "exit $rc" "$body"
fi
"$M" agent show spiffe://other.org/x >/dev/null 2>&1
check "nothing was registered" [ $? = 3 ]

echo "== 11b. attestation change: the binary at a registered path replaced"
PB="$T/bin/pathbot"
cp "$C2" "$PB"
chmod 755 "$PB"
out=$("$M" agent register --spiffe-id spiffe://example.org/agent/pathbot --selector "unix:path:$PB" \
    --selector "unix:sha256:$SHA2" --owner e2e@example.org --env test --max-scope tickets:read 2>&1)
check "register agent/pathbot (unix:path + unix:sha256)" [ $? = 0 ]
svid "$PB" '{"audience":"a"}'
expect_svid "agent/pathbot's binary at its path gets an SVID" "spiffe://example.org/agent/pathbot" '["a"]' 300
q0=$(fails quarantined)
rm -f "$PB"
cp "$C3" "$PB"
chmod 755 "$PB"
svid "$PB" '{"audience":"a"}'
expect_error "another binary at that path: refused, saying nothing about the entry" 403 attestation_failed \
    "no registration entry matches this workload"
out=$("$M" agent show spiffe://example.org/agent/pathbot --json 2>&1)
if has "$out" '"state":"quarantined"' || has "$out" '"state": "quarantined"'; then ok "...and agent/pathbot is quarantined (its binary changed)"; else bad "agent/pathbot quarantined after its binary changed" "$out"; fi
check "...counted as quarantined" [ "$(fails quarantined)" = $((q0 + 1)) ]
if grep -q "agent spiffe://example.org/agent/pathbot quarantined.*attestation changed: $PB now runs with sha256 $SHA3" "$T/main.log"; then ok "...and the log says why (path, new hash)"; else bad "the quarantine is logged with the path and the new hash" "$(grep pathbot "$T/main.log" | tail -3)"; fi
rm -f "$PB"
cp "$C2" "$PB"
chmod 755 "$PB"
svid "$PB" '{"audience":"a"}'
expect_error "the original binary back at the path: still quarantined" 403 agent_quarantined "this agent is quarantined"
svid "$C1" '{"audience":"a"}'
check "an agent without a unix:path selector is never attributed a change (agent/wl still served)" [ "$code" = 200 ]

echo "== 12. the socket file"
conf "$T/second.conf" "$(free_port)" "$SOCK"
"$D" --config "$T/second.conf" --data-dir "$T/data2" 2>"$T/second.log" &
p=$!
pids="$pids $p"
waitfor $p
if [ "$rc" != 0 ] && [ "$rc" != running ] && grep -q "workload.socket $SOCK: another process serves it" "$T/second.log"; then ok "a second daemon on the live socket: start-up fails, naming it"; else bad "a second daemon on the live socket fails" "exit $rc" "$(cat "$T/second.log")"; fi
svid "$C1" '{"audience":"a"}'
check "the first daemon still serves the socket" [ "$code" = 200 ]
# everything issued so far is counted (the counter dies with this daemon)
check "mandate_tokens_issued_total = the $ISSUED SVIDs handed out" [ "$(metric mandate_tokens_issued_total)" = "$ISSUED" ]
kill -KILL "$MAIN"
waitfor "$MAIN"
check "kill -9 leaves the socket file behind" [ -S "$SOCK" ]
# while it is down, write what the admin API refuses straight into the store: a second
# entry for client 5's binary (ambiguous), and agent/td moved to another trust domain
"$PY" - "$DATA/mandate.db" <<'PY' 2>"$T/sqlite.err"
import json, sqlite3, sys
db = sqlite3.connect(sys.argv[1])
def moved(entry, sid):
    e = json.loads(entry)
    e["spiffe_id"] = sid
    return json.dumps(e, separators=(",", ":"))
row = db.execute("SELECT owner, env, state, entry, created_at, updated_at FROM agents WHERE spiffe_id = ?",
                 ("spiffe://example.org/agent/amb",)).fetchone()
sid = "spiffe://example.org/agent/amb2"
db.execute("INSERT INTO agents (id, spiffe_id, owner, env, state, entry, created_at, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
           ("ag_00000000000000aa", sid, row[0], row[1], row[2], moved(row[3], sid), row[4], row[5]))
old = "spiffe://example.org/agent/td"
(entry,) = db.execute("SELECT entry FROM agents WHERE spiffe_id = ?", (old,)).fetchone()
sid = "spiffe://other.org/agent/td"
db.execute("UPDATE agents SET spiffe_id = ?, entry = ? WHERE spiffe_id = ?", (sid, moved(entry, sid), old))
db.commit()
PY
check "the store edited while the daemon is down" [ ! -s "$T/sqlite.err" ]
if start restart "$T/main.conf" "$DATA"; then
    MAIN=$pid
    if grep -q "workload.socket $SOCK: removed a stale socket" "$T/restart.log"; then ok "restart after kill -9: the stale socket is removed (logged)"; else bad "restart logs the stale socket" "$(cat "$T/restart.log")"; fi
    svid "$C1" '{"audience":"a"}'
    expect_svid "restarted: the registered binary gets an SVID" "$WL" '["a"]' 300
    svid "$C5" '{"audience":"a"}'
    expect_error "two entries match one binary: 403, the same words as no match" 403 attestation_failed \
        "no registration entry matches this workload"
    if has "$body" "spiffe://"; then bad "the ambiguity names no entry" "$body"; else ok "the ambiguity names no entry"; fi
    check "ambiguous counted (+1)" [ "$(fails ambiguous)" = 1 ]
    svid "$C6" '{"audience":"a"}'
    expect_error "an entry outside trust_domain (written into the store): 403" 403 attestation_failed \
        "this agent's SPIFFE ID is outside this trust domain"
    if grep -q "spiffe://other.org/agent/td is outside trust_domain example.org" "$T/restart.log"; then ok "the out-of-domain entry is logged"; else bad "the out-of-domain entry is logged" "$(grep refused "$T/restart.log" | tail -2)"; fi
fi
mkdir -p "$T/run2"
printf 'not a socket\n' >"$T/run2/agent.sock"
touch -d '2001-01-01 00:00:00' "$T/run2/agent.sock"
before=$(stat -c '%s %Y %i %a' "$T/run2/agent.sock")
conf "$T/regular.conf" "$(free_port)" "$T/run2/agent.sock"
"$D" --config "$T/regular.conf" --data-dir "$T/data3" 2>"$T/regular.log" &
p=$!
pids="$pids $p"
waitfor $p
if [ "$rc" != 0 ] && [ "$rc" != running ] && grep -q "$T/run2/agent.sock exists and is not a socket" "$T/regular.log"; then ok "a regular file at the socket path: start-up fails, naming the path"; else bad "a regular file at the socket path fails start-up" "exit $rc" "$(cat "$T/regular.log")"; fi
if [ "$(stat -c '%s %Y %i %a' "$T/run2/agent.sock")" = "$before" ] && [ "$(cat "$T/run2/agent.sock")" = "not a socket" ]; then ok "the regular file is left alone"; else bad "the regular file is left alone" "$(stat "$T/run2/agent.sock")"; fi
mkdir -p "$T/run3"
conf "$T/third.conf" "$(free_port)" "$T/run3/agent.sock"
if start third "$T/third.conf" "$T/data4"; then
    THIRD=$pid
    mv "$T/run3/agent.sock" "$T/run3/moved.sock"
    printf 'someone else\n' >"$T/run3/agent.sock"
    kill -TERM "$THIRD"
    waitfor "$THIRD"
    if [ "$rc" = 0 ] && [ "$(cat "$T/run3/agent.sock")" = "someone else" ]; then ok "SIGTERM leaves alone a file that replaced the socket at its path"; else bad "SIGTERM leaves alone a file that replaced the socket" "exit $rc" "$(ls -l "$T/run3")"; fi
fi
kill -TERM "$MAIN"
waitfor "$MAIN"
check "SIGTERM: exit 0" [ "$rc" = 0 ]
check "SIGTERM removes the socket file" [ ! -e "$SOCK" ]

echo "== 13. sanitizer reports (in ASan/UBSan builds)"
if grep -l -E 'ERROR: (Address|Leak)Sanitizer|runtime error:' "$T"/*.log >/dev/null 2>&1; then
    bad "no sanitizer report in any daemon log" "$(grep -h -A20 -E 'Sanitizer|runtime error:' "$T"/*.log | head -60)"
else
    ok "no sanitizer report in any daemon log"
fi
echo "(took $(($(date +%s) - START)) s)"
summary
[ "$fail" -eq 0 ]
