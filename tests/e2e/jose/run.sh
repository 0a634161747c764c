#!/bin/sh
# Cross-check of src/token/ with the npm `jose` library, in both directions:
#   1. jose signs (ES256, ES384, EdDSA, RS256, PS256); our jose_tool verifies;
#      tokens jose makes that must be refused are refused for the right reason
#      (an ECDSA signature in its high-S form too, unless allowed);
#   2. jose_tool signs (ES256, EdDSA); jose's jwtVerify accepts them against
#      our published JWKS, and refuses them tampered or for another audience;
#   3. RFC 7638 thumbprints agree (jose's calculateJwkThumbprint vs ours);
#   4. DPoP proofs (RFC 9449) both ways: dpop.sh, with dpop.mjs and dpop_tool.c.
#
#   tests/e2e/jose/run.sh [BUILD]     BUILD defaults to build (needs BUILD/libmandate.a;
#                                     it is made with `make` when missing)
# Installs its npm dependencies with `npm ci` when they are missing.
# Ends with `N passed, N failed`; exits non-zero on any failure.
set -u
here=$(cd "$(dirname "$0")" && pwd)
top=$(cd "$here/../../.." && pwd)
build=${1:-build}
case "$build" in /*) ;; *) build="$top/$build" ;; esac
T="$build/e2e-jose"
rm -rf "$T"
mkdir -p "$T"

if [ ! -f "$here/node_modules/jose/package.json" ]; then
    (cd "$here" && npm ci --no-audit --no-fund --loglevel=error) || { echo "npm ci failed"; echo "0 passed, 1 failed"; exit 1; }
fi
if [ ! -f "$build/libmandate.a" ]; then
    make -C "$top" BUILD="$build" "$build/libmandate.a" >/dev/null || { echo "cannot build $build/libmandate.a"; echo "0 passed, 1 failed"; exit 1; }
fi
TOOL="$T/jose_tool"
# shellcheck disable=SC2046
${CC:-cc} -std=c11 -D_GNU_SOURCE -O1 -g -Wall -Wextra -I"$top/src" $(pkg-config --cflags jansson openssl) \
    -o "$TOOL" "$here/jose_tool.c" "$build/libmandate.a" $(pkg-config --libs jansson openssl) -lm ||
    { echo "cannot build jose_tool"; echo "0 passed, 1 failed"; exit 1; }

NODE="node $here/cross.mjs"
NOW=$(date +%s)
ISS=https://mandate.test
AUD=gateway
pass=0
fail=0

ok() { pass=$((pass + 1)); echo "ok - $1"; }
bad() { fail=$((fail + 1)); echo "FAIL - $1"; [ -s "$T/out" ] && sed 's/^/    /' "$T/out" | head -5; }
# expect NAME STATUS TEXT CMD...: CMD exits with STATUS and its output contains TEXT.
expect() {
    name=$1 want=$2 text=$3
    shift 3
    "$@" >"$T/out" 2>&1
    got=$?
    if [ "$got" = "$want" ] && grep -qF -- "$text" "$T/out"; then ok "$name"; else bad "$name (exit $got)"; fi
}

# ---- 1. jose signs, we verify
$NODE gen "$T" "$NOW" "$ISS" "$AUD" || { echo "jose could not generate"; echo "0 passed, 1 failed"; exit 1; }
for alg in ES256 ES384 EdDSA RS256 PS256; do
    expect "jose $alg -> mandate verify" 0 '"sub":"spiffe://td/agent/x"' \
        "$TOOL" verify "$T/jose-jwks.json" "$(cat "$T/token-$alg.txt")" --now "$NOW" --iss "$ISS" --aud "$AUD" --typ at+jwt
done
# ECDSA: jose does not normalise s; mandate takes the high-S form only when told to
for alg in ES256 ES384; do
    expect "jose $alg, high-S form -> mandate refuses" 1 MD_JOSE_BAD_SIGNATURE \
        "$TOOL" verify "$T/jose-jwks.json" "$(cat "$T/token-$alg-high.txt")" --now "$NOW" --iss "$ISS" --aud "$AUD" --typ at+jwt
    expect "jose $alg, high-S form -> mandate verify with allow_high_s" 0 '"sub":"spiffe://td/agent/x"' \
        "$TOOL" verify "$T/jose-jwks.json" "$(cat "$T/token-$alg-high.txt")" --now "$NOW" --iss "$ISS" --aud "$AUD" --typ at+jwt --allow-high-s
done
expect "jose ES256 -> mandate refuses another audience" 1 MD_JOSE_BAD_AUDIENCE \
    "$TOOL" verify "$T/jose-jwks.json" "$(cat "$T/token-ES256.txt")" --now "$NOW" --iss "$ISS" --aud elsewhere
expect "jose expired -> mandate refuses" 1 MD_JOSE_EXPIRED \
    "$TOOL" verify "$T/jose-jwks.json" "$(cat "$T/token-expired.txt")" --now "$NOW" --iss "$ISS" --aud "$AUD"
expect "jose wrong aud -> mandate refuses" 1 MD_JOSE_BAD_AUDIENCE \
    "$TOOL" verify "$T/jose-jwks.json" "$(cat "$T/token-wrong-aud.txt")" --now "$NOW" --iss "$ISS" --aud "$AUD"
expect "jose alg none -> mandate refuses" 1 MD_JOSE_ALG_NONE \
    "$TOOL" verify "$T/jose-jwks.json" "$(cat "$T/token-none.txt")" --now "$NOW" --iss "$ISS" --aud "$AUD"
expect "jose HS256 keyed with our public key -> mandate refuses" 1 MD_JOSE_ALG_UNSUPPORTED \
    "$TOOL" verify "$T/jose-jwks.json" "$(cat "$T/token-hs256-pubkey.txt")" --now "$NOW" --iss "$ISS" --aud "$AUD"
expect "jose tampered payload -> mandate refuses" 1 MD_JOSE_BAD_SIGNATURE \
    "$TOOL" verify "$T/jose-jwks.json" "$(cat "$T/token-tampered.txt")" --now "$NOW" --iss "$ISS" --aud "$AUD"

# ---- 2. we sign, jose verifies against our JWKS
for alg in ES256 EdDSA; do
    "$TOOL" keygen "$alg" "$T/our-$alg.pem" >"$T/out" 2>&1 || bad "keygen $alg"
done
"$TOOL" jwks "$T/our-ES256.pem" "$T/our-EdDSA.pem" >"$T/our-jwks.json" 2>"$T/out" || bad "our JWKS"
if grep -q '"d"' "$T/our-jwks.json"; then bad "our JWKS holds no private member"; else ok "our JWKS holds no private member"; fi
printf '{"iss":"%s","aud":["%s","other"],"sub":"spiffe://td/agent/y","iat":%s,"exp":%s,"task":{"id":"t1","depth":0}}\n' \
    "$ISS" "$AUD" "$NOW" "$((NOW + 300))" >"$T/claims.json"
for alg in ES256 EdDSA; do
    "$TOOL" sign "$T/our-$alg.pem" "$alg" "$T/claims.json" at+jwt >"$T/our-token-$alg.txt" 2>"$T/out" || bad "sign $alg"
    tok=$(cat "$T/our-token-$alg.txt")
    expect "mandate $alg -> jose jwtVerify" 0 '"task":{"id":"t1","depth":0}' \
        $NODE verify "$T/our-jwks.json" "$tok" "$NOW" "$ISS" "$AUD" at+jwt
    expect "mandate $alg -> jose refuses another audience" 1 ERR_JWT_CLAIM_VALIDATION_FAILED \
        $NODE verify "$T/our-jwks.json" "$tok" "$NOW" "$ISS" elsewhere at+jwt
    expect "mandate $alg -> jose refuses it after expiry" 1 ERR_JWT_EXPIRED \
        $NODE verify "$T/our-jwks.json" "$tok" "$((NOW + 301))" "$ISS" "$AUD" at+jwt
    tampered=$(printf '%s' "$tok" | awk -F. '{ printf "%s.%s.%s", $1, "eyJzdWIiOiJyb290In0", $3 }')
    expect "mandate $alg tampered -> jose refuses" 1 ERR_JWS_SIGNATURE_VERIFICATION_FAILED \
        $NODE verify "$T/our-jwks.json" "$tampered" "$NOW" "$ISS" "$AUD" at+jwt
    expect "mandate $alg -> mandate verify" 0 '"sub":"spiffe://td/agent/y"' \
        "$TOOL" verify "$T/our-jwks.json" "$tok" --now "$NOW" --iss "$ISS" --aud "$AUD" --typ at+jwt
done

# ---- 3. thumbprints
for alg in ES256 ES384 EdDSA RS256 PS256; do
    ours=$("$TOOL" thumbprint "$T/jwk-$alg.json" 2>"$T/out")
    theirs=$($NODE thumbprint "$T/jwk-$alg.json" 2>>"$T/out")
    if [ -n "$ours" ] && [ "$ours" = "$theirs" ]; then ok "thumbprint of jose's $alg key"; else bad "thumbprint of jose's $alg key ($ours vs $theirs)"; fi
done
$NODE kids "$T/our-jwks.json" >"$T/kids" 2>"$T/out"
n=0
while read -r kid tp; do
    n=$((n + 1))
    if [ "$kid" = "$tp" ]; then ok "our kid $n is jose's thumbprint"; else bad "our kid $n is jose's thumbprint ($kid vs $tp)"; fi
done <"$T/kids"
[ "$n" = 2 ] || bad "jose read both of our keys"
# RFC 7638 §3.1's own example, through both.
cat >"$T/rfc7638.json" <<'EOF'
{"kty":"RSA","n":"0vx7agoebGcQSuuPiLJXZptN9nndrQmbXEps2aiAFbWhM78LhWx4cbbfAAtVT86zwu1RK7aPFFxuhDR1L6tSoc_BJECPebWKRXjBZCiFV4n3oknjhMstn64tZ_2W-5JsGY4Hc5n9yBXArwl93lqt7_RN5w6Cf0h4QyQ5v-65YGjQR0_FDW2QvzqY368QQMicAtaSqzs8KJZgnYb9c7d0zgdAZHzu6qMQvRL5hajrn1n91CbOpbISD08qNLyrdkt-bFTWhAI4vMQFh6WeZu0fM4lFd2NcRwr3XPksINHaQ-G_xBniIqbw0Ls1jF44-csFCur-kEgU8awapJzKnqDKgw","e":"AQAB","alg":"RS256","kid":"2011-04-29"}
EOF
expect "RFC 7638 example, ours" 0 NzbLsXh8uDCcd-6MNwXF4W_7noWXFZAfHkxZsRGC9Xs "$TOOL" thumbprint "$T/rfc7638.json"
expect "RFC 7638 example, jose" 0 NzbLsXh8uDCcd-6MNwXF4W_7noWXFZAfHkxZsRGC9Xs $NODE thumbprint "$T/rfc7638.json"

# ---- 4. DPoP proofs: jose's verified by us, ours by jose (adds to pass and fail)
. "$here/dpop.sh"

echo "$pass passed, $fail failed"
[ "$fail" -eq 0 ]
