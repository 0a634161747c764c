#!/bin/sh
# End-to-end tests of the `mandated` daemon: each case starts build/mandated
# on a free 127.0.0.1 port with a temporary data dir and an inline config
# (mode 0600), talks to it with curl and with rawhttp.py (raw sockets, for
# what curl cannot send), and stops it by its PID.
#
#   sh tests/e2e/daemon/run.sh [BUILD_DIR]      (default: build)
#
# Covers: config check (-n) on good and bad files, refused modes, the secret
# files -n checks without touching them (data dir, KEK, admin.token), health,
# metrics format, admin authentication, the admin token at rest, routing
# errors, JSON validation, body and head limits, malformed framing (chunk
# lines, trailers), refusals answered before the body is read, slow clients,
# connection limits, SIGHUP reload (valid and invalid), graceful SIGTERM,
# TLS 1.3 (and TLS clients that close at once), restart persistence.  Ends with `N passed, N failed`
# and exits non-zero on any failure.  Every daemon started is stopped by
# its PID on exit, whatever happens.
set -u
top=$(cd "$(dirname "$0")/../../.." && pwd)
build=${1:-build}
case "$build" in /*) ;; *) build="$top/$build" ;; esac
D="$build/mandated"
RAW="$top/tests/e2e/daemon/rawhttp.py"
HT=2 # header and body timeouts in the test configs, seconds
# the system interpreter: version-manager shims cost a second per call
if [ -x /usr/bin/python3 ]; then PY=/usr/bin/python3; else PY=python3; fi

if ! command -v curl >/dev/null 2>&1; then
    echo "installing curl"
    (apt-get install -y -q curl >/dev/null 2>&1 || (apt-get update -q >/dev/null 2>&1 && apt-get install -y -q curl >/dev/null 2>&1)) ||
        { echo "curl is required"; exit 1; }
fi
[ -x "$D" ] || { echo "no $D: build it first (make BUILD=${1:-build})"; exit 1; }

T=$(mktemp -d /tmp/mandate-e2e-daemon.XXXXXX)
. "$top/tests/e2e/lib.sh"
# raw SUBCOMMAND ARGS...: run rawhttp.py, count its ok/FAIL lines
raw() {
    out=$(timeout 60 "$PY" "$RAW" "$@" 2>&1)
    p=$(printf '%s\n' "$out" | grep -c '^ok ')
    f=$(printf '%s\n' "$out" | grep -c '^FAIL ')
    pass=$((pass + p))
    fail=$((fail + f))
    printf '%s\n' "$out" | sed 's/^ok /ok   /'
    if [ "$p" -eq 0 ] && [ "$f" -eq 0 ]; then bad "rawhttp.py $1 ran no checks" "$out"; fi
}

free_port() {
    "$PY" -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

# conf FILE PORT [EXTRA YAML]: an inline config, mode 0600
conf() {
    cat >"$1" <<EOF
# written by tests/e2e/daemon/run.sh
listen: 127.0.0.1:$2
log_format: json
log_level: info
workers: 2
limits:
  max_body: 4KiB
  header_timeout: ${HT}s
  body_timeout: ${HT}s
  max_connections: 64
${3:-}
EOF
    chmod 600 "$1"
}

# start NAME CONF DATADIR [ARGS]: start a daemon, wait until it answers; sets $pid
start() {
    name=$1 cfg=$2 dd=$3
    shift 3
    "$D" --config "$cfg" --data-dir "$dd" "$@" 2>"$T/$name.log" &
    pid=$!
    pids="$pids $pid"
    port=$(sed -n 's/^listen: 127.0.0.1:\([0-9]*\)$/\1/p' "$cfg")
    scheme=http
    curlx=""
    grep -q '^  cert:' "$cfg" && scheme=https && curlx="--cacert $T/cert.pem"
    # shellcheck disable=SC2086
    await_daemon "$name" "$pid" "$scheme://127.0.0.1:$port" "" $curlx
}

# stop PID: SIGTERM, wait up to 15 s; sets $rc to the exit status
stop() {
    kill -TERM "$1" 2>/dev/null
    waitfor "$1"
}


# hup PID LOG: SIGHUP, then wait (up to 5 s) until the daemon logs how that reload ended
hup() {
    before=$(grep -c -E 'configuration reloaded|reload failed' "$2")
    kill -HUP "$1"
    i=0
    while [ "$(grep -c -E 'configuration reloaded|reload failed' "$2")" -le "$before" ] && [ $i -lt 50 ]; do
        sleep 0.1
        i=$((i + 1))
    done
}

# http METHOD PATH [CURL ARGS]: sets $code, $body, $hdrs for the main daemon
http() {
    m=$1 p=$2
    shift 2
    body=$(curl -s --max-time 5 -X "$m" -D "$T/hdrs" -o "$T/body" -w '%{http_code}' "$@" "http://127.0.0.1:$PORT$p" 2>&1)
    code=$body
    body=$(cat "$T/body" 2>/dev/null)
    hdrs=$(tr -d '\r' <"$T/hdrs" 2>/dev/null)
}
is_json_error() { # CODE: the body is {"error": CODE, "message": "..."}
    printf '%s' "$body" | "$PY" -c 'import json, sys
d = json.load(sys.stdin)
sys.exit(0 if isinstance(d.get("message"), str) and d.get("error") == sys.argv[1] else 1)' "$1" 2>/dev/null
}
expect() { # NAME STATUS [ERROR_CODE]
    if [ "$code" = "$2" ] && { [ -z "${3:-}" ] || is_json_error "$3"; }; then
        ok "$1"
    else
        bad "$1" "got HTTP $code, want $2 ${3:-}" "$body"
    fi
}
has() { printf '%s' "$1" | grep -q -- "$2"; }

echo "== command line"
check "--version" sh -c "'$D' --version | grep -q '^mandated [0-9]'"
check "-h exits 0" sh -c "'$D' -h | grep -q 'usage: mandated'"
"$D" --bogus >/dev/null 2>&1
check "unknown option exits 1" [ $? -eq 1 ]
"$D" >/dev/null 2>&1
check "--config is required" [ $? -eq 1 ]

echo "== configuration check (-n)"
conf "$T/good.conf" 7744
out=$("$D" -n --config "$T/good.conf" --data-dir "$T/unused" 2>&1)
rc=$?
if [ $rc -eq 0 ] && [ "$out" = "configuration OK" ]; then ok "-n on a good config"; else bad "-n on a good config" "exit $rc: $out"; fi
check "-n writes nothing" [ ! -e "$T/unused" ]
cat >"$T/bad.conf" <<EOF
# a comment
listen: 127.0.0.1:7744
bogus: 1
limits:
  max_body: 1KiB
  header_timeout: soon
EOF
chmod 600 "$T/bad.conf"
out=$("$D" -n --config "$T/bad.conf" --data-dir "$T/unused" 2>&1)
rc=$?
line=$(grep -n '^bogus' "$T/bad.conf" | cut -d: -f1)
if [ $rc -eq 1 ] && has "$out" "bad.conf:$line: key \`bogus\`: unknown key"; then ok "-n on a bad config: file:line and key"; else bad "-n on a bad config: file:line and key" "exit $rc: $out"; fi
line=$(grep -n 'soon' "$T/bad.conf" | cut -d: -f1)
if has "$out" "bad.conf:$line: key \`limits.header_timeout\`: \`soon\` is not a duration"; then ok "-n reports every error"; else bad "-n reports every error" "$out"; fi
printf 'listen: 127.0.0.1:7744\n' >"$T/nodir.conf"
chmod 600 "$T/nodir.conf"
out=$("$D" -n --config "$T/nodir.conf" 2>&1)
if [ $? -eq 1 ] && has "$out" "key \`data_dir\`: required"; then ok "-n without a data dir"; else bad "-n without a data dir" "$out"; fi
printf 'store:\n  backend: postgres\n' >"$T/pg.conf"
chmod 600 "$T/pg.conf"
out=$("$D" -n --config "$T/pg.conf" -d "$T/unused" 2>&1)
if [ $? -eq 1 ] && has "$out" "pg.conf:2: key \`store.backend\`: \`postgres\` is reserved"; then ok "postgres refused clearly"; else bad "postgres refused clearly" "$out"; fi
chmod 644 "$T/good.conf"
out=$("$D" -n --config "$T/good.conf" -d "$T/unused" 2>&1)
if [ $? -eq 1 ] && has "$out" "mode 0644 is too open"; then ok "-n refuses a config readable by others"; else bad "-n refuses a config readable by others" "$out"; fi
"$D" --config "$T/good.conf" --data-dir "$T/dd644" 2>"$T/refused.log" &
p=$!
pids="$pids $p"
waitfor $p
if [ "$rc" = 1 ] && grep -q "too open" "$T/refused.log" && [ ! -e "$T/dd644" ]; then ok "daemon refuses a config of mode 0644"; else bad "daemon refuses a config of mode 0644" "exit $rc" "$(cat "$T/refused.log")"; fi
chmod 600 "$T/good.conf"

echo "== -n checks the files on disk too, creating and changing nothing"
# nck NAME WANT_EXIT PATTERN CONF DATADIR: run -n, expect the exit status and PATTERN in its output,
# and the data dir exactly as it was (names, modes, sizes, times, link targets)
snap() { find "$1" -printf '%p %m %s %T@ %y %l\n' 2>/dev/null | sort | sha256sum; }
nck() {
    before=$(snap "$5")
    out=$("$D" -n --config "$4" --data-dir "$5" 2>&1)
    rc=$?
    if [ $rc -eq "$2" ] && has "$out" "$3" && [ "$(snap "$5")" = "$before" ]; then ok "$1"; else bad "$1" "exit $rc: $out"; fi
}
# a data dir as a first start leaves it: admin.token and kek
ND="$T/ndata"
mkdir -m 700 "$ND"
head -c 32 /dev/urandom >"$ND/kek"
chmod 600 "$ND/kek"
printf 'token\n' >"$ND/admin.token"
chmod 600 "$ND/admin.token"
nck "-n: a private data dir with a good KEK and token" 0 "^configuration OK$" "$T/good.conf" "$ND"
chmod 750 "$ND"
nck "-n: a data dir open to the group is reported (key data_dir, the fix)" 1 "key \`data_dir\`: $ND: mode 0750 is too open.*chmod 700" "$T/good.conf" "$ND"
chmod 700 "$ND"
chmod 640 "$ND/kek"
nck "-n: a group-readable KEK is reported (key keys.kek_file, chmod 600)" 1 "key \`keys.kek_file\`: kek: $ND/kek: mode 0640 is too open.*chmod 600 $ND/kek" "$T/good.conf" "$ND"
chmod 600 "$ND/kek"
mv "$ND/kek" "$T/kek.real"
ln -s "$T/kek.real" "$ND/kek"
nck "-n: a KEK that is a symbolic link is reported" 1 "kek: $ND/kek: is a symbolic link" "$T/good.conf" "$ND"
rm "$ND/kek"
mkfifo "$ND/kek"
nck "-n: a KEK that is a FIFO is reported (not waited on)" 1 "kek: $ND/kek: not a regular file" "$T/good.conf" "$ND"
rm "$ND/kek"
head -c 31 "$T/kek.real" >"$ND/kek"
chmod 600 "$ND/kek"
nck "-n: a KEK of the wrong size is reported" 1 "kek: $ND/kek holds 31 bytes; a KEK is exactly 32" "$T/good.conf" "$ND"
mv "$T/kek.real" "$ND/kek"
ln "$ND/kek" "$T/kek.link"
nck "-n: a hard-linked KEK is reported" 1 "has 2 hard links" "$T/good.conf" "$ND"
rm "$T/kek.link"
chmod 644 "$ND/admin.token"
nck "-n: an admin.token readable by others is reported" 1 "key \`data_dir\`: admin token: $ND/admin.token: mode 0644 is too open" "$T/good.conf" "$ND"
chmod 600 "$ND/admin.token"
conf "$T/namedkek.conf" 7744 "keys:
  kek_file: $T/no-such-dir/kek"
line=$(grep -n 'kek_file' "$T/namedkek.conf" | cut -d: -f1)
nck "-n: a KEK file named in the config must exist (file:line, key)" 1 "namedkek.conf:$line: key \`keys.kek_file\`: kek: $T/no-such-dir/kek does not exist" "$T/namedkek.conf" "$T/unused"
check "-n with a named KEK creates nothing" [ ! -e "$T/no-such-dir" ]
nck "-n: a default KEK that does not exist yet is fine (made at the first start)" 0 "^configuration OK$" "$T/good.conf" "$T/unused"
check "-n creates no data dir" [ ! -e "$T/unused" ]

echo "== the main daemon"
PORT=$(free_port)
DATA="$T/data"
conf "$T/main.conf" "$PORT"
if ! start main "$T/main.conf" "$DATA"; then
    echo "$pass passed, $fail failed"
    exit 1
fi
MAIN=$pid
check "data dir created 0700" [ "$(stat -c %a "$DATA")" = 700 ]
check "admin.token is 0600" [ "$(stat -c %a "$DATA/admin.token")" = 600 ]
check "database is 0600" [ "$(stat -c %a "$DATA/mandate.db")" = 600 ]
TOKEN=$(cat "$DATA/admin.token")
check "admin token is 43 base64url characters" sh -c "printf '%s' '$TOKEN' | grep -Eq '^[A-Za-z0-9_-]{43}\$'"
AUTH="Authorization: Bearer $TOKEN"

http GET /healthz
if [ "$code" = 200 ] && [ "$body" = '{"status":"ok"}' ] && has "$hdrs" "Content-Type: application/json"; then ok "GET /healthz"; else bad "GET /healthz" "$code $body"; fi
check "X-Request-Id on answers" sh -c "printf '%s' \"\$0\" | grep -Eq '^X-Request-Id: [0-9a-f]{16}\$'" "$hdrs"

http GET /v1/admin/status
expect "admin status without a token: 401" 401 unauthorized
if has "$hdrs" 'WWW-Authenticate: Bearer realm="mandate"'; then ok "401 carries WWW-Authenticate"; else bad "401 carries WWW-Authenticate" "$hdrs"; fi
http GET /v1/admin/status -H "Authorization: Bearer AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"
expect "admin status with a wrong token: 401" 401 unauthorized
if has "$hdrs" 'error="invalid_token"'; then ok "wrong token: error=invalid_token"; else bad "wrong token: error=invalid_token" "$hdrs"; fi
http GET /v1/admin/status -H "Authorization: Basic $TOKEN"
expect "admin status with Basic auth: 401" 401 unauthorized
http GET /v1/admin/status -H "Authorization: Bearer ${TOKEN}x"
expect "admin status with token + 1 char: 401" 401 unauthorized
http GET /v1/admin/status -H "Authorization: Bearer $(printf '%s' "$TOKEN" | cut -c1-42)"
expect "admin status with a truncated token: 401" 401 unauthorized
http GET /v1/admin/status -H "$AUTH" -H "$AUTH"
expect "two Authorization headers: 401" 401 unauthorized
http GET /v1/admin/status -H "$AUTH"
if [ "$code" = 200 ] && printf '%s' "$body" | "$PY" -c 'import json,sys; d=json.load(sys.stdin); sys.exit(0 if d["status"]=="ok" and d["config"]["generation"]==1 and d["store"]["backend"]=="sqlite" else 1)'; then ok "admin status with the token: 200"; else bad "admin status with the token: 200" "$code $body"; fi
http GET /v1/admin/status -H "authorization: bearer $TOKEN"
expect "auth scheme is case-insensitive" 200

# the token at rest: only its SHA-256 in the store
if grep -r -l -F "$TOKEN" "$DATA" | grep -v '/admin.token$' | grep -q .; then bad "token not in the database" "$(grep -r -l -F "$TOKEN" "$DATA")"; else ok "token not in the database"; fi
want=$(printf '%s' "$TOKEN" | sha256sum | cut -d' ' -f1)
got=$("$PY" -c 'import sqlite3, sys; print(sqlite3.connect(sys.argv[1]).execute("select lower(hex(token_sha256)) from admin").fetchone()[0])' "$DATA/mandate.db" 2>&1)
check "the store holds SHA-256(token)" [ "$want" = "$got" ]

http GET /nope
expect "unknown route: 404 JSON" 404 not_found
http DELETE /healthz
expect "wrong method: 405 JSON" 405 method_not_allowed
if has "$hdrs" "Allow: GET, HEAD"; then ok "405 carries Allow"; else bad "405 carries Allow" "$hdrs"; fi

echo "== admin settings (a JSON endpoint)"
J="Content-Type: application/json"
http POST /v1/admin/settings -H "$AUTH" -H "$J" --data-binary '{"key":"site.name","value":"Ünïcode ✓"}'
expect "store a setting" 200
http GET /v1/admin/settings/site.name -H "$AUTH"
if [ "$code" = 200 ] && has "$body" '"value":"Ünïcode ✓"'; then ok "read it back"; else bad "read it back" "$code $body"; fi
http POST /v1/admin/settings -H "$J" --data-binary '{"key":"x","value":"y"}'
expect "store without a token: 401" 401 unauthorized
http POST /v1/admin/settings -H "$AUTH" -H "$J" --data-binary '{"key": "x", "value": '
expect "malformed JSON: 400" 400 bad_request
http POST /v1/admin/settings -H "$AUTH" -H "$J" --data-binary '{"key": 5, "value": "y"}'
expect "key of the wrong type: 400" 400 invalid_request
http POST /v1/admin/settings -H "$AUTH" -H "$J" --data-binary '{"key": "x", "value": ["y"]}'
expect "value of the wrong type: 400" 400 invalid_request
http POST /v1/admin/settings -H "$AUTH" -H "$J" --data-binary '{"key": "x"}'
expect "missing value: 400" 400 invalid_request
http POST /v1/admin/settings -H "$AUTH" -H "$J" --data-binary '{"key": "a b", "value": "y"}'
expect "invalid key: 400" 400 invalid_request
http POST /v1/admin/settings -H "$AUTH" -H "$J" --data-binary '{"key": "x", "value": "y", "admin": true}'
expect "unknown field: 400" 400 invalid_request
http POST /v1/admin/settings -H "$AUTH" -H "$J" --data-binary '[1, 2]'
expect "not an object: 400" 400 bad_request
http POST /v1/admin/settings -H "$AUTH" --data-binary '{"key":"x","value":"y"}'
expect "form content type: 415" 415 unsupported_media_type
head -c 5000 /dev/zero | tr '\0' 'a' >"$T/5k"
http POST /v1/admin/settings -H "$AUTH" -H "$J" --data-binary "@$T/5k"
expect "body over limits.max_body: 413" 413 payload_too_large
http POST /v1/admin/settings -H "$AUTH" -H "$J" -H "Transfer-Encoding: chunked" --data-binary "@$T/5k"
expect "chunked body over the limit: 413" 413 payload_too_large
http DELETE /v1/admin/settings/site.name -H "$AUTH"
expect "delete it: 204" 204
http GET /v1/admin/settings/site.name -H "$AUTH"
expect "then it is gone: 404" 404 not_found

echo "== raw HTTP: malformed framing, limits, odd but valid requests"
raw malformed "$PORT" "$TOKEN"
raw valid "$PORT" "$TOKEN"
raw mutate "$PORT" "$TOKEN" 3000
raw metrics "$PORT"

echo "== slow clients (header_timeout = body_timeout = ${HT}s)"
raw slowloris "$PORT" "$HT"
raw slowbody "$PORT" "$HT" "$TOKEN"
http GET /healthz
check "daemon up after all bad input" [ "$code" = 200 ]
check "daemon process alive" kill -0 "$MAIN"

echo "== SIGHUP"
cp "$T/main.conf" "$T/main.conf.orig"
sed -i 's/max_body: 4KiB/max_body: 1KiB/; s/max_connections: 64/max_connections: 4/' "$T/main.conf"
head -c 2000 /dev/zero | tr '\0' 'b' >"$T/2k"
http POST /v1/admin/settings -H "$AUTH" -H "$J" --data-binary "@$T/2k"
expect "2 KiB body accepted under the 4 KiB limit (malformed JSON: 400)" 400 bad_request
hup "$MAIN" "$T/main.log"
if grep -q 'configuration reloaded (generation 2)' "$T/main.log"; then ok "valid reload logged"; else bad "valid reload logged" "$(tail -5 "$T/main.log")"; fi
http POST /v1/admin/settings -H "$AUTH" -H "$J" --data-binary "@$T/2k"
expect "after reload the 1 KiB limit applies: 413" 413 payload_too_large
raw maxconn "$PORT" 4
http GET /metrics
if has "$body" "mandate_config_generation 2" && has "$body" 'mandate_config_reloads_total{result="ok"} 1'; then ok "metrics show generation 2"; else bad "metrics show generation 2" "$(printf '%s' "$body" | grep config)"; fi

# an invalid file: logged with file:line and key, the running config kept
printf 'limits:\n  max_body: 1KiB\nnot_a_key: 1\n' >"$T/main.conf"
hup "$MAIN" "$T/main.log"
if grep -q 'reload failed: keeping the running configuration (generation 2)' "$T/main.log"; then ok "invalid reload refused"; else bad "invalid reload refused" "$(tail -5 "$T/main.log")"; fi
# shellcheck disable=SC2016 # literal backticks
if grep -q 'main.conf:3: key `not_a_key`: unknown key' "$T/main.log"; then ok "invalid reload names file:line and key"; else bad "invalid reload names file:line and key" "$(tail -5 "$T/main.log")"; fi
http POST /v1/admin/settings -H "$AUTH" -H "$J" --data-binary "@$T/2k"
expect "old config still in force (1 KiB limit)" 413 payload_too_large
http GET /healthz
check "still serving after an invalid reload" [ "$code" = 200 ]
cp "$T/main.conf.orig" "$T/main.conf"
chmod 644 "$T/main.conf"
hup "$MAIN" "$T/main.log"
if grep -q 'too open' "$T/main.log" && [ "$(grep -c 'reload failed' "$T/main.log")" = 2 ]; then ok "reload refuses a config of mode 0644"; else bad "reload refuses a config of mode 0644" "$(tail -3 "$T/main.log")"; fi
chmod 600 "$T/main.conf"
sed -i "s/^listen: .*/listen: 127.0.0.1:1/" "$T/main.conf"
hup "$MAIN" "$T/main.log"
# shellcheck disable=SC2016 # literal backticks
if grep -q '`listen` changed; that takes effect only after a restart' "$T/main.log" && grep -q 'configuration reloaded (generation 3)' "$T/main.log"; then ok "reload: listen change needs a restart (warned, kept)"; else bad "reload: listen change needs a restart (warned, kept)" "$(tail -3 "$T/main.log")"; fi
http POST /v1/admin/settings -H "$AUTH" -H "$J" --data-binary "@$T/2k"
expect "the restored 4 KiB limit applies again" 400 bad_request
cp "$T/main.conf.orig" "$T/main.conf"
raw reload-inflight "$PORT" "$MAIN" "$T/main.conf" "$T/main.log" "$TOKEN"

echo "== refused before the body is read (limits.max_body = 8MiB)"
EPORT=$(free_port)
conf "$T/early.conf" "$EPORT"
sed -i 's/max_body: 4KiB/max_body: 8MiB/' "$T/early.conf"
if start early "$T/early.conf" "$T/earlydata"; then
    raw early "$EPORT" "$pid"
    stop "$pid"
    check "early daemon: SIGTERM exit 0" [ "$rc" = 0 ]
fi

echo "== logs"
if "$PY" - "$T/main.log" <<'PY'; then ok "every log line is one JSON object; request lines carry request_id"; else bad "every log line is one JSON object; request lines carry request_id"; fi
import json, sys
n = 0
for line in open(sys.argv[1], encoding="utf-8"):
    d = json.loads(line)
    assert {"ts", "level", "msg"} <= d.keys(), line
    if d["msg"].startswith("request "):
        assert len(d.get("request_id", "")) == 16, line
        n += 1
assert n > 50, n
PY
if grep -q -F "$TOKEN" "$T/main.log"; then bad "the admin token never appears in the log"; else ok "the admin token never appears in the log"; fi
if grep -q 'admin authentication failed (presented token sha256:' "$T/main.log"; then ok "failed auth logged by hash"; else bad "failed auth logged by hash"; fi

echo "== second instance, busy port"
"$D" --config "$T/main.conf" --data-dir "$DATA" 2>"$T/second.log" &
p=$!
pids="$pids $p"
waitfor $p
if [ "$rc" = 1 ] && grep -q "another mandated (pid $MAIN) is running" "$T/second.log"; then ok "a second daemon on the same data dir is refused"; else bad "a second daemon on the same data dir is refused" "exit $rc" "$(cat "$T/second.log")"; fi
"$D" --config "$T/main.conf" --data-dir "$T/data2" 2>"$T/busy.log" &
p=$!
pids="$pids $p"
waitfor $p
if [ "$rc" = 1 ] && grep -q "cannot listen on 127.0.0.1:$PORT" "$T/busy.log"; then ok "a busy port fails start-up clearly"; else bad "a busy port fails start-up clearly" "exit $rc" "$(cat "$T/busy.log")"; fi

echo "== SIGTERM"
raw inflight "$PORT" "$MAIN" "$TOKEN"
waitfor "$MAIN"
check "SIGTERM: exit status 0" [ "$rc" = 0 ]
if curl -s -o /dev/null --max-time 2 "http://127.0.0.1:$PORT/healthz"; then bad "port closed after exit"; else ok "port closed after exit"; fi
if grep -q '"msg":"stopped"' "$T/main.log"; then ok "stop logged"; else bad "stop logged"; fi

echo "== restart keeps state"
if start main2 "$T/main.conf" "$DATA"; then
    check "admin token unchanged across restart" [ "$(cat "$DATA/admin.token")" = "$TOKEN" ]
    http GET /v1/admin/settings/inflight -H "$AUTH"
    if [ "$code" = 200 ] && has "$body" "finished during shutdown"; then ok "the request finished during shutdown was stored"; else bad "the request finished during shutdown was stored" "$code $body"; fi
    stop "$pid"
    check "SIGTERM on an idle daemon: exit 0" [ "$rc" = 0 ]
fi
start rotate "$T/main.conf" "$DATA" --new-admin-token
NEW=$(cat "$DATA/admin.token")
http GET /v1/admin/status -H "Authorization: Bearer $NEW"
new_code=$code
http GET /v1/admin/status -H "$AUTH"
if [ "$new_code" = 200 ] && [ "$code" = 401 ] && [ "$NEW" != "$TOKEN" ]; then ok "--new-admin-token replaces the token"; else bad "--new-admin-token replaces the token" "new $new_code old $code"; fi
stop "$pid"

echo "== data dir checks"
mkdir -m 755 "$T/open-dir"
"$D" --config "$T/main.conf" --data-dir "$T/open-dir" 2>"$T/open.log" &
p=$!
pids="$pids $p"
waitfor $p
if [ "$rc" = 1 ] && grep -q "mode 0755 is too open" "$T/open.log"; then ok "a data dir readable by others is refused"; else bad "a data dir readable by others is refused" "exit $rc" "$(cat "$T/open.log")"; fi

echo "== TLS"
if command -v openssl >/dev/null 2>&1 &&
    openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 1 -subj /CN=127.0.0.1 \
        -addext subjectAltName=IP:127.0.0.1 -keyout "$T/key.pem" -out "$T/cert.pem" >/dev/null 2>&1; then
    chmod 600 "$T/key.pem" "$T/cert.pem"
    TPORT=$(free_port)
    conf "$T/tls.conf" "$TPORT" "tls:
  cert: $T/cert.pem
  key: $T/key.pem"
    out=$("$D" -n --config "$T/tls.conf" -d "$T/tlsdata" 2>&1)
    check "-n loads and matches the certificate and key" [ "$out" = "configuration OK" ]
    chmod 644 "$T/key.pem"
    out=$("$D" -n --config "$T/tls.conf" -d "$T/tlsdata" 2>&1)
    if has "$out" "key \`tls.key\`" && has "$out" "too open"; then ok "a key readable by others is refused"; else bad "a key readable by others is refused" "$out"; fi
    chmod 600 "$T/key.pem"
    if start tls "$T/tls.conf" "$T/tlsdata"; then
        TPID=$pid
        v=$(curl -sv --max-time 5 --cacert "$T/cert.pem" "https://127.0.0.1:$TPORT/healthz" 2>&1)
        if has "$v" "TLSv1.3" && has "$v" '{"status":"ok"}'; then ok "HTTPS with TLS 1.3"; else bad "HTTPS with TLS 1.3" "$v"; fi
        if curl -s -o /dev/null --max-time 5 --cacert "$T/cert.pem" --tls-max 1.2 "https://127.0.0.1:$TPORT/healthz"; then bad "TLS 1.2 refused"; else ok "TLS 1.2 refused"; fi
        if curl -s -o /dev/null --max-time 3 "http://127.0.0.1:$TPORT/healthz"; then bad "plain HTTP refused on the TLS port"; else ok "plain HTTP refused on the TLS port"; fi
        c=$(curl -s -o /dev/null -w '%{http_code}' --max-time 5 --cacert "$T/cert.pem" -H "Authorization: Bearer $(cat "$T/tlsdata/admin.token")" "https://127.0.0.1:$TPORT/v1/admin/status")
        check "admin over TLS" [ "$c" = 200 ]
        hup "$TPID" "$T/tls.log"
        if grep -q 'configuration reloaded (generation 2)' "$T/tls.log"; then ok "TLS reload (certificate re-read)"; else bad "TLS reload (certificate re-read)" "$(tail -3 "$T/tls.log")"; fi
        stop "$TPID"
        check "TLS daemon: SIGTERM exit 0" [ "$rc" = 0 ]
    fi
    # clients that send a request and close at once: libevent stops writing to a TLS
    # connection after EOF, so such a connection must be freed, not left waiting to write
    LPORT=$(free_port)
    conf "$T/tlsleak.conf" "$LPORT" "tls:
  cert: $T/cert.pem
  key: $T/key.pem"
    sed -i 's/max_connections: 64/max_connections: 8/' "$T/tlsleak.conf"
    if start tlsleak "$T/tlsleak.conf" "$T/tlsleakdata"; then
        raw tlsleak "$LPORT" "$T/cert.pem" 20
        stop "$pid"
        check "TLS (max_connections 8) daemon: SIGTERM exit 0" [ "$rc" = 0 ]
    fi
else
    echo "skip TLS: no openssl command"
fi

echo "== the quickstart config"
install -m 600 "$top/examples/quickstart/mandate.conf" "$T/quickstart.conf"
out=$("$D" -n --config "$T/quickstart.conf" --data-dir "$T/qsdata" 2>&1)
check "examples/quickstart/mandate.conf passes -n" [ "$out" = "configuration OK" ]
QPORT=$(free_port)
sed -i "s/^listen: 127.0.0.1:7744\$/listen: 127.0.0.1:$QPORT/" "$T/quickstart.conf"
if start quickstart "$T/quickstart.conf" "$T/qsdata" --log-format json; then
    check "--log-format json overrides log_format: text" sh -c "head -n 1 '$T/quickstart.log' | grep -q '^{\"ts\":'"
    c=$(curl -s -o /dev/null -w '%{http_code}' --max-time 5 -H "Authorization: Bearer $(cat "$T/qsdata/admin.token")" "http://127.0.0.1:$QPORT/v1/admin/status")
    check "the quickstart config serves (port changed for the test)" [ "$c" = 200 ]
    kill -INT "$pid"
    waitfor "$pid"
    check "quickstart daemon: SIGINT exit 0" [ "$rc" = 0 ]
fi

echo "== sanitizer reports (in ASan/UBSan builds)"
if grep -l -E 'ERROR: (Address|Leak)Sanitizer|runtime error:' "$T"/*.log >/dev/null 2>&1; then
    bad "no sanitizer report in any daemon log" "$(grep -l -E 'Sanitizer|runtime error:' "$T"/*.log)"
else
    ok "no sanitizer report in any daemon log"
fi

echo "$pass passed, $fail failed"
[ "$fail" -eq 0 ]
