#!/bin/sh
# OIDC federation end-to-end: a real OpenID Connect provider (npm oidc-provider) on loopback
# issues ID tokens through the authorization code flow; mandate's src/identity/oidc (driven
# by oidc_tool) discovers the provider's keys over loopback HTTP (and HTTPS with a test CA),
# verifies the tokens and maps them to a SPIFFE ID and an owner.  Checked:
#   - tokens from the real provider verify (RS256 and ES256) and map as configured;
#   - refusals, each by its own code: unconfigured issuer (a second provider), wrong audience,
#     expired and too old (injected clock), issued in the future, tampered payload and signature,
#     an impersonating provider (same iss, other keys), a disallowed algorithm, required claim
#     mismatch, claim missing, claim unsafe for a SPIFFE ID;
#   - key rotation at the provider (restarted with new keys) is picked up by refresh-on-unknown-kid
#     in a long-lived registry, after the rate limit allows it; the rate limit holds under a stream
#     of made-up kids (JWKS requests counted at the provider); concurrent cold verifications
#     (blocking and async, 16 threads) cause one fetch;
#   - HTTPS: verification against a configured CA with IP and DNS-name hosts; an untrusted CA,
#     the system store and a certificate for another name are all refused;
#   - configuration checks: plain http to a non-loopback issuer, bad templates.
#
#   tests/e2e/oidc/run.sh [BUILD]    BUILD defaults to build (BUILD/libmandate.a is made when missing)
# Installs its npm dependencies with `npm ci` when missing.  Every process it starts is stopped
# by PID on exit; the whole run is bounded (timeout(1) ends it after 300 s).
# Ends with `N passed, N failed`; exits non-zero on any failure.
set -u
if [ -z "${MD_OIDC_E2E_BOUNDED:-}" ]; then
    MD_OIDC_E2E_BOUNDED=1 exec timeout -k 10 300 sh "$0" "$@"
fi
here=$(cd "$(dirname "$0")" && pwd)
top=$(cd "$here/../../.." && pwd)
build=${1:-build}
case "$build" in /*) ;; *) build="$top/$build" ;; esac
T="$build/e2e-oidc"
rm -rf "$T"
mkdir -p "$T"
chmod 700 "$T"

pass=0
fail=0
pids=""
abort() { echo "$1"; echo "$pass passed, $((fail + 1)) failed"; exit 1; }

cleanup() {
    exec 3>&- 4<&- 2>/dev/null
    for p in $pids; do kill "$p" 2>/dev/null; done
    for p in $pids; do wait "$p" 2>/dev/null; done
}
trap cleanup EXIT
trap 'echo "interrupted or out of time"; echo "$pass passed, $((fail + 1)) failed"; exit 1' INT TERM

if [ ! -f "$here/node_modules/oidc-provider/package.json" ]; then
    (cd "$here" && npm ci --no-audit --no-fund --loglevel=error) || abort "npm ci failed"
fi
if [ ! -f "$build/libmandate.a" ]; then
    make -C "$top" BUILD="$build" "$build/libmandate.a" >/dev/null || abort "cannot build $build/libmandate.a"
fi
TOOL="$T/oidc_tool"
SAN="" # a sanitizer build's library needs the tool linked with the same runtime
nm "$build/libmandate.a" 2>/dev/null | grep -q __asan_ && SAN="-fsanitize=address,undefined"
nm "$build/libmandate.a" 2>/dev/null | grep -q __tsan_ && SAN="-fsanitize=thread"
# shellcheck disable=SC2046
${CC:-cc} -std=c11 -D_GNU_SOURCE -O1 -g $SAN -Wall -Wextra -I"$top/src" \
    $(pkg-config --cflags jansson openssl libevent) -o "$TOOL" "$here/oidc_tool.c" "$build/libmandate.a" \
    $(pkg-config --libs jansson openssl libevent libevent_openssl libevent_pthreads libfyaml sqlite3) -lm -lpthread ||
    abort "cannot build oidc_tool"

NODE="node $here/provider.mjs"
ok() { pass=$((pass + 1)); echo "ok - $1"; }
bad() { fail=$((fail + 1)); echo "FAIL - $1"; [ -s "$T/out" ] && sed 's/^/    /' "$T/out" | head -5; }
# expect NAME TEXT CMD...: CMD's output contains TEXT, and CMD exits 0 or 1 (a sanitizer report
# or a crash exits otherwise).
expect() {
    name=$1 text=$2
    shift 2
    "$@" >"$T/out" 2>&1
    st=$?
    if [ $st -le 1 ] && grep -qF -- "$text" "$T/out"; then ok "$name"; else bad "$name (exit $st)"; fi
}

# start NAME ARGS...: a provider with its state in $T/NAME; sets PORT.
start() {
    name=$1
    shift
    mkdir -p "$T/$name"
    rm -f "$T/$name/port"
    $NODE serve --state "$T/$name" "$@" >>"$T/$name/log" 2>&1 &
    echo $! >"$T/$name/pid"
    pids="$pids $!"
    i=0
    while [ ! -s "$T/$name/port" ]; do
        i=$((i + 1))
        [ $i -gt 100 ] && abort "provider $name did not start: $(tail -3 "$T/$name/log")"
        sleep 0.1
    done
    PORT=$(cat "$T/$name/port")
}
stop() {
    p=$(cat "$T/$1/pid")
    kill "$p" 2>/dev/null
    wait "$p" 2>/dev/null
}
# token BASE CLIENT ACCOUNT [--ca FILE]: an ID token from the provider at BASE (empty on failure).
token() {
    base=$1 client=$2 account=$3
    shift 3
    $NODE token --base "$base" --client "$client" --account "$account" "$@" 2>>"$T/token-errors"
}
jwks_count() { grep -c '^GET /jwks$' "$T/$1/requests.log" 2>/dev/null || true; }
# conf NAME ISSUER EXTRA...: a private config file; EXTRA lines go inside the issuer entry.
conf() {
    name=$1 issuer=$2 audience=$3
    shift 3
    {
        echo "data_dir: $T/data"
        echo "federation:"
        echo "  min_refresh_interval: 10s"
        echo "  fetch_timeout: 5s"
        echo "  issuers:"
        echo "    - issuer: $issuer"
        echo "      audience: $audience"
        echo "      spiffe_id: \"spiffe://example.org/ci/{claims.repository_owner}/{claims.repository}/{claims.ref}\""
        echo "      owner: \"{claims.email}\""
        echo "      required_claims:"
        echo "        repository_owner: acme"
        echo "        email_verified: \"true\""
        for line in "$@"; do echo "      $line"; done
    } >"$T/$name.conf"
    chmod 600 "$T/$name.conf"
}

# ---- 1. one provider over loopback HTTP, discovery
start a
A="http://127.0.0.1:$PORT"
APORT=$PORT
conf a "$A" mandate-ci "discovery: true"
conf es "$A" mandate-ci-es "discovery: true" "algorithms: [ES256]"
conf rsonly "$A" mandate-ci-es "discovery: true" "algorithms: [RS256]"
conf age "$A" mandate-ci "discovery: true" "max_age: 1m"
expect "config with discovery over loopback http is accepted" "configuration OK" "$TOOL" check "$T/a.conf"

T1=$(token "$A" mandate-ci ci-job)
TES=$(token "$A" mandate-ci-es ci-job)
TREL=$(token "$A" mandate-ci release-job)
TOTHER=$(token "$A" other-app ci-job)
TEVIL=$(token "$A" mandate-ci evil-job)
TSLASH=$(token "$A" mandate-ci slash-job)
TNOREF=$(token "$A" mandate-ci noref-job)
[ -n "$T1" ] && [ -n "$TES" ] && [ -n "$TOTHER" ] || abort "cannot get tokens from the provider: $(tail -5 "$T/token-errors")"
NOW=$(date +%s)

expect "RS256 ID token from oidc-provider verifies and maps to the SPIFFE ID and owner" \
    "ok spiffe://example.org/ci/acme/widgets/main ci-bot@acme.example ci-job rs256-" "$TOOL" verify "$T/a.conf" "$NOW" "$T1"
expect "ES256 ID token verifies" "ok spiffe://example.org/ci/acme/widgets/main ci-bot@acme.example ci-job es256-" \
    "$TOOL" verify "$T/es.conf" "$NOW" "$TES"
# oidc-provider (npm jose) does not normalise ECDSA's s: about half of its ES256 signatures have
# s > n/2, which RFC 7518 allows; all must verify (mandate's own tokens are low-S only).
token "$A" mandate-ci-es ci-job --count 8 >"$T/es-tokens"
nes=0
while read -r t; do
    "$TOOL" verify "$T/es.conf" "$NOW" "$t" >"$T/out" 2>&1 && nes=$((nes + 1))
done <"$T/es-tokens"
high=$($NODE high-s <"$T/es-tokens")
if [ "$nes" = 8 ]; then ok "8 more ES256 ID tokens verify, $high of them with a high s"; else
    bad "8 more ES256 ID tokens verify, $high of them with a high s (only $nes did)"; fi
expect "another job's token maps to its own SPIFFE ID" "ok spiffe://example.org/ci/acme/gadgets/v1.2.3 release@acme.example" \
    "$TOOL" verify "$T/a.conf" "$NOW" "$TREL"
expect "a token for another audience is refused" "refused MD_JOSE_BAD_AUDIENCE" "$TOOL" verify "$T/a.conf" "$NOW" "$TOTHER"
expect "an algorithm outside the issuer's list is refused" "refused MD_JOSE_ALG_NOT_ALLOWED" \
    "$TOOL" verify "$T/rsonly.conf" "$NOW" "$TES"
expect "expired (clock one hour and a minute on) is refused" "refused MD_JOSE_EXPIRED" \
    "$TOOL" verify "$T/a.conf" "$((NOW + 3600 + 61))" "$T1"
expect "older than max_age is refused" "refused MD_OIDC_TOO_OLD" "$TOOL" verify "$T/age.conf" "$((NOW + 120))" "$T1"
expect "issued in the future (clock two minutes back) is refused" "refused MD_JOSE_ISSUED_IN_FUTURE" \
    "$TOOL" verify "$T/a.conf" "$((NOW - 120))" "$T1"
expect "a required claim with another value is refused" "refused MD_OIDC_CLAIM_MISMATCH required claim \`repository_owner\`" \
    "$TOOL" verify "$T/a.conf" "$NOW" "$TEVIL"
expect "a claim value that would add a path segment is refused" "refused MD_OIDC_UNSAFE_CLAIM claim \`repository\`" \
    "$TOOL" verify "$T/a.conf" "$NOW" "$TSLASH"
expect "a claim the SPIFFE ID needs is missing: refused" "refused MD_OIDC_CLAIM_MISSING" \
    "$TOOL" verify "$T/a.conf" "$NOW" "$TNOREF"

# tampering: another repository_owner in the payload; a flipped signature byte
h=$(printf '%s' "$T1" | cut -d. -f1)
s=$(printf '%s' "$T1" | cut -d. -f3)
p=$(printf '%s' "$T1" | cut -d. -f2 | node -e '
let s = require("fs").readFileSync(0, "utf8").trim();
const c = JSON.parse(Buffer.from(s, "base64url"));
c.repository = "gadgets";
process.stdout.write(Buffer.from(JSON.stringify(c)).toString("base64url"));')
expect "a tampered payload is refused" "refused MD_JOSE_BAD_SIGNATURE" "$TOOL" verify "$T/a.conf" "$NOW" "$h.$p.$s"
case "$s" in A*) s2="B${s#?}" ;; *) s2="A${s#?}" ;; esac
expect "a tampered signature is refused" "refused MD_JOSE_BAD_SIGNATURE" "$TOOL" verify "$T/a.conf" "$NOW" \
    "$(printf '%s' "$T1" | cut -d. -f1-2).$s2"

# ---- 2. other issuers
start b
B="http://127.0.0.1:$PORT"
TB=$(token "$B" mandate-ci ci-job)
expect "a token from an unconfigured issuer (a second oidc-provider) is refused" "refused MD_OIDC_UNKNOWN_ISSUER" \
    "$TOOL" verify "$T/a.conf" "$NOW" "$TB"
start c --issuer "$A"
TC=$(token "http://127.0.0.1:$PORT" mandate-ci ci-job)
expect "a provider impersonating the configured issuer (same iss, its own keys) is refused" \
    "refused MD_JOSE_UNKNOWN_KID" "$TOOL" verify "$T/a.conf" "$NOW" "$TC"
stop b
stop c

# ---- 3. a long-lived registry: key rotation and the refresh rate limit
mkfifo "$T/in" "$T/answers"
"$TOOL" serve "$T/a.conf" <"$T/in" >"$T/answers" 2>"$T/serve-errors" &
serve_pid=$!
pids="$pids $serve_pid"
exec 3>"$T/in" 4<"$T/answers"
read -r line <&4
[ "$line" = ready ] || abort "oidc_tool serve did not start: $(cat "$T/serve-errors")"
ask() {
    printf '%s\n' "$1" >&3
    read -r answer <&4
    printf '%s\n' "$answer" >"$T/out"
}
# check NAME TEXT: the last answer contains TEXT.
check() { if grep -qF -- "$2" "$T/out"; then ok "$1"; else bad "$1"; fi; }
count_is() { if [ "$(jwks_count a)" = "$2" ]; then ok "$1"; else bad "$1 (JWKS requests at the provider: $(jwks_count a), expected $2)"; fi; }

j0=$(jwks_count a)
ask "verify $NOW $T1"
check "long-lived registry: first token verifies (keys fetched)" "ok spiffe://example.org/ci/acme/widgets/main"
count_is "one JWKS fetch for it" $((j0 + 1))
ask "averify $NOW $T1"
check "the same token through the async API, from the cache" "ok spiffe://example.org/ci/acme/widgets/main"
count_is "no fetch for a cached key" $((j0 + 1))

stop a
start a --port "$APORT" --rotate
[ "$PORT" = "$APORT" ] || abort "the provider did not come back on port $APORT"
T2=$(token "$A" mandate-ci ci-job)
[ -n "$T2" ] || abort "no token after the key rotation"
ask "averify $((NOW + 1)) $T2"
check "after rotation, a token with the new kid inside the rate-limit interval is refused" "refused MD_JOSE_UNKNOWN_KID"
count_is "...without asking the provider" $((j0 + 1))
ask "verify $((NOW + 11)) $T2"
check "once the interval has passed, refresh on unknown kid picks up the rotated key" "ok spiffe://example.org/ci/acme/widgets/main"
count_is "...with one JWKS fetch" $((j0 + 2))
ask "verify $((NOW + 12)) $T1"
check "a token signed with the retired key is refused" "refused MD_JOSE_UNKNOWN_KID"

$NODE forge --issuer "$A" --aud mandate-ci --count 21 >"$T/forged" 2>>"$T/token-errors"
[ "$(wc -l <"$T/forged")" = 21 ] || abort "cannot forge tokens: $(tail -3 "$T/token-errors")"
i=0
refused=0
while [ $i -lt 20 ]; do
    i=$((i + 1))
    f=$(sed -n "${i}p" "$T/forged")
    if [ $((i % 2)) = 0 ]; then ask "verify $((NOW + 13)) $f"; else ask "averify $((NOW + 13)) $f"; fi
    grep -q "refused MD_JOSE_UNKNOWN_KID" "$T/out" && refused=$((refused + 1))
done
[ $refused = 20 ] && ok "20 tokens with made-up kids are refused" || bad "20 tokens with made-up kids are refused ($refused)"
count_is "the rate limit holds: no JWKS request for them" $((j0 + 2))
ask "verify $((NOW + 22)) $(sed -n 21p "$T/forged")"
check "after the interval a made-up kid is refused after one refresh" "even after refreshing"
count_is "...which is one JWKS request" $((j0 + 3))
printf 'stats\n' >&3
read -r answer <&4
read -r _end <&4
printf '%s\n' "$answer" >"$T/out"
if grep -q "limited=2[1-9]" "$T/out"; then ok "stats count the refreshes refused by the rate limit"; else bad "stats count the refreshes refused by the rate limit"; fi
printf 'quit\n' >&3
exec 3>&- 4<&-
wait "$serve_pid"
st=$?
rm -f "$T/in" "$T/answers"
if [ $st = 0 ] && ! grep -q "Sanitizer\|runtime error" "$T/serve-errors"; then ok "the long-lived registry shut down cleanly"; else
    bad "the long-lived registry shut down cleanly (exit $st: $(head -3 "$T/serve-errors"))"; fi

j1=$(jwks_count a)
expect "16 threads verifying at once on a cold registry (blocking and async) all succeed" "race 16 of 16 ok" \
    "$TOOL" race "$T/a.conf" "$NOW" 16 "$T2"
count_is "...with a single JWKS fetch" $((j1 + 1))

# ---- 4. HTTPS with a test CA
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 2 -subj "/CN=mandate test CA" \
    -keyout "$T/ca.key" -out "$T/ca.pem" >/dev/null 2>&1 || abort "openssl: CA"
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 2 -subj "/CN=other CA" \
    -keyout "$T/other-ca.key" -out "$T/other-ca.pem" >/dev/null 2>&1 || abort "openssl: other CA"
leaf() { # leaf NAME SAN
    openssl req -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -subj "/CN=$1" -keyout "$T/$1.key" \
        -out "$T/$1.csr" >/dev/null 2>&1 &&
        printf 'subjectAltName=%s\nbasicConstraints=CA:FALSE\nextendedKeyUsage=serverAuth\n' "$2" >"$T/$1.ext" &&
        openssl x509 -req -in "$T/$1.csr" -CA "$T/ca.pem" -CAkey "$T/ca.key" -CAcreateserial -days 2 \
            -extfile "$T/$1.ext" -out "$T/$1.pem" >/dev/null 2>&1 || abort "openssl: leaf $1"
}
leaf idp "IP:127.0.0.1,DNS:localhost"
leaf wrongname "DNS:other.example"
start h --tls "$T/idp.pem,$T/idp.key"
H="https://127.0.0.1:$PORT"
conf h "$H" mandate-ci "discovery: true" "ca_file: $T/ca.pem"
conf hother "$H" mandate-ci "discovery: true" "ca_file: $T/other-ca.pem"
conf hsys "$H" mandate-ci "discovery: true"
TH=$(token "$H" mandate-ci ci-job --ca "$T/ca.pem")
expect "over HTTPS with the configured CA (IP address host), the token verifies" "ok spiffe://example.org/ci/acme/widgets/main" \
    "$TOOL" verify "$T/h.conf" "$NOW" "$TH"
expect "a CA that did not sign the IdP's certificate: keys unavailable" "refused MD_OIDC_KEYS_UNAVAILABLE" \
    "$TOOL" verify "$T/hother.conf" "$NOW" "$TH"
grep -q "certificate" "$T/out" && ok "...and the message says why (certificate)" || bad "...and the message says why (certificate)"
expect "the system store does not trust the test CA: keys unavailable" "refused MD_OIDC_KEYS_UNAVAILABLE" \
    "$TOOL" verify "$T/hsys.conf" "$NOW" "$TH"
start hn --tls "$T/idp.pem,$T/idp.key" --name localhost
HN="https://localhost:$PORT"
conf hn "$HN" mandate-ci "discovery: true" "ca_file: $T/ca.pem"
THN=$(token "https://127.0.0.1:$PORT" mandate-ci ci-job --ca "$T/ca.pem")
expect "over HTTPS to a DNS name (resolved asynchronously, SNI, name checked), the token verifies" \
    "ok spiffe://example.org/ci/acme/widgets/main" "$TOOL" verify "$T/hn.conf" "$NOW" "$THN"
start hw --tls "$T/wrongname.pem,$T/wrongname.key"
HW="https://127.0.0.1:$PORT"
conf hw "$HW" mandate-ci "discovery: true" "ca_file: $T/ca.pem"
THW=$(token "$H" mandate-ci ci-job --ca "$T/ca.pem") # any token: the fetch fails first
expect "a trusted certificate for another name: keys unavailable" "refused MD_OIDC_KEYS_UNAVAILABLE" \
    "$TOOL" verify "$T/hw.conf" "$NOW" "$(
        printf '%s' "$THW" | cut -d. -f1
    ).$(printf '{"iss":"%s","aud":"mandate-ci","sub":"x","iat":%s,"exp":%s}' "$HW" "$NOW" "$((NOW + 60))" |
        node -e 'process.stdout.write(Buffer.from(require("fs").readFileSync(0)).toString("base64url"))').x"
grep -q "mismatch" "$T/out" && ok "...and the message says why (host name mismatch)" || bad "...and the message says why (host name mismatch)"

# ---- 5. configuration checks
conf plain "http://10.1.2.3:8080" mandate-ci "discovery: true"
expect "plain http to a non-loopback issuer is refused at load" "plain http:// is fetched only from a loopback" \
    "$TOOL" check "$T/plain.conf"
conf tdtmpl "$A" mandate-ci "discovery: true"
sed -i 's#spiffe://example.org/ci/#spiffe://{claims.repository_owner}.example.org/#' "$T/tdtmpl.conf"
expect "a placeholder in the trust domain is refused at load, with its line" "tdtmpl.conf:8: key \`federation.issuers[0].spiffe_id\`" \
    "$TOOL" check "$T/tdtmpl.conf"

# ---- 6. the daemon: POST /v1/svid/federated exchanges a platform token for our JWT-SVID
PY=python3
[ -x /usr/bin/python3 ] && PY=/usr/bin/python3
DPORT=$("$PY" -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
start d
DI="http://127.0.0.1:$PORT"
conf daemon "$DI" mandate-ci "discovery: true"
sed -i "s#^data_dir: .*#listen: 127.0.0.1:$DPORT\ntrust_domain: example.org\nworkers: 2\nkeys:\n  max_token_lifetime: 10m#" "$T/daemon.conf"
"$build/mandated" --config "$T/daemon.conf" --data-dir "$T/ddata" 2>"$T/daemon.log" &
dpid=$!
pids="$pids $dpid"
i=0
while ! curl -s -o /dev/null --max-time 1 "http://127.0.0.1:$DPORT/healthz"; do
    i=$((i + 1))
    [ $i -gt 100 ] && abort "mandated did not start: $(tail -5 "$T/daemon.log")"
    sleep 0.1
done
# fed TOKEN [AUDIENCE JSON] [EXTRA JSON MEMBERS]: the status line then the body, in $T/out
fed() {
    printf '{"token":"%s","audience":%s%s}' "$1" "${2:-\"svc\"}" "${3:-}" >"$T/fedbody"
    curl -s -o "$T/fedresp" -w '%{http_code}\n' -H 'Content-Type: application/json' --data-binary @"$T/fedbody" \
        "http://127.0.0.1:$DPORT/v1/svid/federated" >"$T/out"
    cat "$T/fedresp" >>"$T/out"
}
# claims: the JWT-SVID payload of the last answer, as JSON
claims() { node -e 'const r=JSON.parse(require("fs").readFileSync(process.argv[1]));process.stdout.write(Buffer.from(r.svid.split(".")[1],"base64url").toString())' "$T/fedresp"; }
TD=$(token "$DI" mandate-ci ci-job)
TDO=$(token "$DI" other-app ci-job)
TDE=$(token "$DI" mandate-ci evil-job)
j0=$(jwks_count d)
fed "$TD"
check "federated: a token from the configured issuer is exchanged (keys fetched without blocking the loop)" '"spiffe_id":"spiffe://example.org/ci/acme/widgets/main"'
count_is_d() { if [ "$(jwks_count d)" = "$2" ]; then ok "$1"; else bad "$1 (JWKS requests: $(jwks_count d), expected $2)"; fi; }
count_is_d "...one JWKS fetch for it" $((j0 + 1))
claims >"$T/claims"
if node -e '
const c=JSON.parse(require("fs").readFileSync(process.argv[1]));const t=JSON.parse(require("fs").readFileSync(process.argv[2]));
const ok=c.sub==="spiffe://example.org/ci/acme/widgets/main"&&JSON.stringify(c.aud)==="[\"svc\"]"&&c.iss==="http://127.0.0.1:"+process.argv[3]&&
 c.exp-c.iat===300&&typeof c.jti==="string"&&t.expires_at===c.exp;process.exit(ok?0:1)' "$T/claims" "$T/fedresp" "$DPORT"; then
    ok "...the SVID: sub is the mapped SPIFFE ID, aud, iss, 300 s by default"
else bad "...the SVID claims: $(cat "$T/claims")"; fi
fed "$TD" '["svc","other"]' ',"ttl":60'
claims >"$T/claims"
node -e 'const c=JSON.parse(require("fs").readFileSync(process.argv[1]));process.exit(c.exp-c.iat===60&&c.aud.length===2?0:1)' "$T/claims" &&
    ok "...ttl and several audiences are honoured (from the key cache)" || bad "...ttl 60, two audiences: $(cat "$T/claims")"
count_is_d "...no second fetch" $((j0 + 1))
fed "$TDO"
check "federated: a token for another audience is refused 401" '"error":"invalid_token"'
fed "$TDE"
check "federated: a token whose claims the configuration does not admit is refused 403" '"error":"access_denied"'
fed "$TD.x"
check "federated: a tampered token is refused 401" '"error":"invalid_token"'
start e
TE=$(token "http://127.0.0.1:$PORT" mandate-ci ci-job)
fed "$TE"
check "federated: a token from an unconfigured issuer is refused 401" 'MD_OIDC_UNKNOWN_ISSUER'
stop e
fed "$TD" '[]'
check "federated: an empty audience list is refused 400" '"error":"invalid_request"'
printf '{"audience":"svc"}' >"$T/fedbody"
curl -s -H 'Content-Type: application/json' --data-binary @"$T/fedbody" "http://127.0.0.1:$DPORT/v1/svid/federated" >"$T/out"
check "federated: no token is refused 400" '`token` is required'
# bad bodies: each a 4xx with a JSON error body, nothing issued
fedraw() { # fedraw CONTENT-TYPE BODY-FILE
    curl -s -o "$T/fedresp" -w '%{http_code}\n' -H "Content-Type: $1" --data-binary @"$2" \
        "http://127.0.0.1:$DPORT/v1/svid/federated" >"$T/out"
    cat "$T/fedresp" >>"$T/out"
}
printf '{"token":' >"$T/fedbody"
fedraw application/json "$T/fedbody"
check "federated: malformed JSON is refused 400" '"error":"bad_request"'
printf '{"token":"%s","audience":"svc"}' "$TD" >"$T/fedbody"
fedraw text/plain "$T/fedbody"
check "federated: a body that is not JSON by its type is refused 415" '415'
printf '{"token":42,"audience":"svc"}' >"$T/fedbody"
fedraw application/json "$T/fedbody"
check "federated: a token that is not a string is refused 400" '`token` is required'
{ printf '{"token":"'; head -c 20000 /dev/zero | tr '\0' a; printf '","audience":"svc"}'; } >"$T/fedbody"
fedraw application/json "$T/fedbody"
check "federated: an oversized token is refused 400" 'longer than 16384 bytes'
printf '{"token":"%s","audience":"svc","admin":true}' "$TD" >"$T/fedbody"
fedraw application/json "$T/fedbody"
check "federated: an unknown member is refused 400" 'unknown member'
# a quarantined agent with the mapped SPIFFE ID cannot come back through federation
MANDATE_ADDR="http://127.0.0.1:$DPORT" MANDATE_TOKEN_FILE="$T/ddata/admin.token" "$build/mandate" agent register \
    --spiffe-id spiffe://example.org/ci/acme/widgets/main --selector unix:uid:54321 --owner ci@example.org --env ci \
    --state quarantined >"$T/out" 2>&1 || bad "register the quarantined agent: $(cat "$T/out")"
fed "$TD"
check "federated: the SPIFFE ID of a quarantined agent is refused 403" '"error":"agent_quarantined"'
MANDATE_ADDR="http://127.0.0.1:$DPORT" MANDATE_TOKEN_FILE="$T/ddata/admin.token" "$build/mandate" agent register \
    --spiffe-id spiffe://other.org/x --selector unix:uid:54322 --owner ci@example.org --env ci >"$T/out" 2>&1
st=$?
[ $st -eq 3 ] && grep -q "outside this trust domain" "$T/out" && ok "an agent outside trust_domain is refused at registration" ||
    bad "agent outside trust_domain: exit $st: $(cat "$T/out")"
# the same daemon with another trust domain: the mapped ID is outside it
kill -TERM "$dpid"
wait "$dpid" 2>/dev/null
sed -i 's/^trust_domain: example.org/trust_domain: other.org/' "$T/daemon.conf"
"$build/mandated" --config "$T/daemon.conf" --data-dir "$T/ddata" 2>>"$T/daemon.log" &
dpid=$!
pids="$pids $dpid"
i=0
while ! curl -s -o /dev/null --max-time 1 "http://127.0.0.1:$DPORT/healthz"; do
    i=$((i + 1))
    [ $i -gt 100 ] && abort "mandated did not restart: $(tail -5 "$T/daemon.log")"
    sleep 0.1
done
fed "$TD"
check "federated: a mapped SPIFFE ID outside trust_domain is refused 403" 'outside this trust domain'
kill -TERM "$dpid"
wait "$dpid"
[ $? -eq 0 ] && ok "mandated stopped cleanly" || bad "mandated exit status"
if grep -q "ERROR: AddressSanitizer\|runtime error:\|LeakSanitizer" "$T/daemon.log"; then
    bad "sanitizer report in the daemon log"
    grep -m5 "ERROR\|runtime error" "$T/daemon.log"
else ok "no sanitizer report in the daemon log"; fi
stop d

echo "$pass passed, $fail failed"
[ "$fail" -eq 0 ]
