#!/bin/sh
# The shipped policies (policies/examples.cedar against policies/mandate.cedarschema)
# decide the requests in policies/tests/*.test.json as written there, in mandate's engine
# and in the reference (cedar-wasm, through tests/diff/selfcheck.js), and both parse
# with the schema.  Ends with `N passed, N failed` (requests, both engines summed).
#   tests/policies/run.sh [BUILD]
set -u
top=$(cd "$(dirname "$0")/../.." && pwd)
build=${1:-build}
case "$build" in /*) ;; *) build="$top/$build" ;; esac
cd "$top"
pass=0
fail=0
add() { # add OUTPUT-FILE: adds its `N passed, N failed` line
    line=$(grep -E '^[0-9]+ passed, [0-9]+ failed' "$1" | tail -n 1)
    if [ -z "$line" ]; then
        fail=$((fail + 1))
        cat "$1"
        return
    fi
    pass=$((pass + $(echo "$line" | cut -d' ' -f1)))
    fail=$((fail + $(echo "$line" | cut -d' ' -f3)))
}
out=$(mktemp)
trap 'rm -f "$out"' EXIT
if "$build/mandate" cedar check-parse --policies policies/examples.cedar --schema policies/mandate.cedarschema >"$out" 2>&1; then
    pass=$((pass + 1))
    echo "ok   policies/examples.cedar and policies/mandate.cedarschema parse"
else
    fail=$((fail + 1))
    echo "FAIL policies do not parse:"
    cat "$out"
fi
"$build/mandate" cedar run-tests --root . --verbose policies/tests/*.test.json >"$out" 2>&1
echo "mandate:   $(tail -n 1 "$out")"
add "$out"
if [ ! -d tests/diff/node_modules/@cedar-policy ]; then
    (cd tests/diff && npm ci --no-audit --no-fund --loglevel=error) >/dev/null 2>&1
fi
node tests/diff/selfcheck.js cedar run-tests --root . policies/tests/*.test.json >"$out" 2>&1
echo "reference: $(tail -n 1 "$out")"
add "$out"
echo "$pass passed, $fail failed"
[ "$fail" -eq 0 ]
