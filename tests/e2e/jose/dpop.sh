# dpop.sh: the DPoP (RFC 9449) part of the jose cross-check, sourced by run.sh (which defines
# here, top, build, T, NOW, ok, bad and expect, and counts what this adds).
#   1. jose makes proofs (SignJWT with typ dpop+jwt and the public jwk in the header) for ES256,
#      EdDSA, ES384, RS256, PS256: src/token/dpop.c verifies them, and its jkt is jose's
#      calculateJwkThumbprint; each proof is accepted once, then refused as a replay;
#   2. proofs jose makes wrong, or tampered with, are refused for their own reason;
#   3. md_dpop_sign makes proofs (ES256, EdDSA): jose's jwtVerify with EmbeddedJWK accepts them,
#      with our thumbprint, and refuses them tampered.
# shellcheck shell=sh disable=SC2154
DTOOL="$T/dpop_tool"
# shellcheck disable=SC2046
if ! ${CC:-cc} -std=c11 -D_GNU_SOURCE -O1 -g -Wall -Wextra -I"$top/src" $(pkg-config --cflags jansson openssl) \
    -o "$DTOOL" "$here/dpop_tool.c" "$build/libmandate.a" $(pkg-config --libs jansson openssl) -lm -lpthread; then
    bad "build dpop_tool"
    return 0
fi
dnode() { node "$here/dpop.mjs" "$@"; }
HTU=https://gw.example/v1/call
TOKEN=eyJhbGciOiJFUzI1NiJ9.eyJzdWIiOiJhZ2VudCJ9.c2lnbmF0dXJl
if ! dnode gen "$T" "$NOW" "$HTU" "$TOKEN" >"$T/out" 2>&1; then
    bad "jose makes DPoP proofs"
    return 0
fi
# dverify NAME STATUS TEXT PROOF-FILE [OPTIONS]: our verification of a jose proof for POST $HTU presenting
# $TOKEN bound to jose's ES256 key (a later --jkt replaces that)
dverify() {
    dname=$1 dwant=$2 dtext=$3 dfile=$4
    shift 4
    expect "$dname" "$dwant" "$dtext" "$DTOOL" verify "$(cat "$T/$dfile")" --htm POST --htu "$HTU" --now "$NOW" \
        --token "$TOKEN" --jkt "$(cat "$T/dpop-ES256.jkt")" "$@"
}

# ---- 1. jose's proofs verify; the thumbprints agree; a second use is a replay
for alg in ES256 EdDSA ES384 RS256 PS256; do
    jkt=$(cat "$T/dpop-$alg.jkt")
    dverify "jose DPoP $alg -> mandate verify, jkt = jose's thumbprint" 0 "\"jkt\":\"$jkt\"" "dpop-$alg.txt" --jkt "$jkt"
    dverify "jose DPoP $alg -> mandate: first use ok, second a replay" 0 MD_DPOP_REPLAY "dpop-$alg.txt" --jkt "$jkt" --uses 2
done
for alg in ES256 ES384; do
    jkt=$(cat "$T/dpop-$alg.jkt")
    dverify "jose DPoP $alg, low-S form -> mandate verify" 0 "\"jti\":\"jti-$alg\"" "dpop-$alg-low.txt" --jkt "$jkt"
    dverify "jose DPoP $alg, high-S form -> mandate verify" 0 "\"jti\":\"jti-$alg\"" "dpop-$alg-high.txt" --jkt "$jkt"
done
dverify "jose DPoP, htu spelled differently (case, :443, query, fragment) -> mandate verify" 0 '"jti":"jti-norm"' \
    dpop-normalised-htu.txt
dverify "jose DPoP with nonce -> mandate verify with that nonce" 0 '"jti":"jti-nonce"' dpop-nonce.txt --nonce n-0 --nonce n-1

# ---- 2. refusals
dverify "jose DPoP tampered payload -> mandate refuses" 1 MD_JOSE_BAD_SIGNATURE dpop-tampered.txt
dverify "jose DPoP with another key's jwk -> mandate refuses" 1 MD_JOSE_BAD_SIGNATURE dpop-swapped-jwk.txt
dverify "jose DPoP EdDSA, one signature bit flipped -> mandate refuses" 1 MD_JOSE_BAD_SIGNATURE dpop-ed-bad-sig.txt
dverify "jose DPoP typ JWT -> mandate refuses" 1 MD_DPOP_BAD_TYP dpop-typ-jwt.txt
dverify "jose DPoP with a private jwk -> mandate refuses" 1 MD_DPOP_PRIVATE_JWK dpop-private-jwk.txt
dverify "jose DPoP with a kid beside the jwk -> mandate refuses" 1 MD_DPOP_KEY_REFERENCE dpop-kid.txt
dverify "DPoP alg none -> mandate refuses" 1 MD_JOSE_ALG_NONE dpop-none.txt
dverify "DPoP HS256 keyed with the jwk -> mandate refuses" 1 MD_JOSE_ALG_UNSUPPORTED dpop-hs256.txt
dverify "jose DPoP an hour old -> mandate refuses" 1 MD_DPOP_IAT_TOO_OLD dpop-old.txt
dverify "jose DPoP from the future -> mandate refuses" 1 MD_DPOP_IAT_IN_FUTURE dpop-future.txt
dverify "jose DPoP, ath of another token -> mandate refuses" 1 MD_DPOP_ATH_MISMATCH dpop-wrong-ath.txt
dverify "jose DPoP without ath -> mandate refuses" 1 MD_DPOP_ATH_MISSING dpop-no-ath.txt
dverify "jose DPoP without jti -> mandate refuses" 1 MD_DPOP_MISSING_CLAIM dpop-no-jti.txt
dverify "jose DPoP for a GET -> mandate refuses it on a POST" 1 MD_DPOP_HTM_MISMATCH dpop-get.txt
dverify "jose DPoP for another URI -> mandate refuses" 1 MD_DPOP_HTU_MISMATCH dpop-other-htu.txt
dverify "jose DPoP without the required nonce -> mandate refuses" 1 MD_DPOP_NONCE_MISSING dpop-ES256.txt --nonce n-1
dverify "jose DPoP with a stale nonce -> mandate refuses" 1 MD_DPOP_NONCE_MISMATCH dpop-nonce.txt --nonce n-2
dverify "jose DPoP ES256 for a token bound to the EdDSA key -> mandate refuses" 1 MD_DPOP_JKT_MISMATCH dpop-ES256.txt \
    --jkt "$(cat "$T/dpop-EdDSA.jkt")"

# ---- 3. we make proofs, jose verifies them
for alg in ES256 EdDSA; do
    if ! "$DTOOL" keygen "$alg" "$T/dpop-our-$alg.pem" >"$T/out" 2>&1; then
        bad "dpop keygen $alg"
        continue
    fi
    ours=$("$DTOOL" thumbprint "$T/dpop-our-$alg.pem")
    p=$("$DTOOL" sign "$T/dpop-our-$alg.pem" POST "$HTU" "$NOW" --token "$TOKEN" --jti "our-$alg")
    expect "mandate DPoP $alg -> jose verify, jose's thumbprint = ours" 0 "{\"jkt\":\"$ours\",\"jti\":\"our-$alg\"}" \
        dnode verify "$p" POST "$HTU" "$NOW" "$TOKEN"
    expect "mandate DPoP $alg -> mandate verify" 0 "\"jkt\":\"$ours\"" \
        "$DTOOL" verify "$p" --htm POST --htu "$HTU" --now "$NOW" --token "$TOKEN" --jkt "$ours"
    tampered=$(printf '%s' "$p" | awk -F. -v body="$(printf '{"jti":"x","htm":"POST","htu":"%s","iat":%s}' "$HTU" "$NOW" |
        base64 -w0 | tr '+/' '-_' | tr -d '=')" '{ printf "%s.%s.%s", $1, body, $3 }')
    expect "mandate DPoP $alg tampered -> jose refuses" 1 ERR_JWS_SIGNATURE_VERIFICATION_FAILED \
        dnode verify "$tampered" POST "$HTU" "$NOW"
    expect "mandate DPoP $alg -> jose refuses it after 60 s" 1 ERR_JWT_EXPIRED \
        dnode verify "$p" POST "$HTU" "$((NOW + 120))" "$TOKEN"
done
