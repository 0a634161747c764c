#!/bin/sh
# End-to-end tests of the `mandate` CLI: decisions on the quickstart story,
# exit codes, and bad input (every case must give a clear error and a
# non-zero exit, never a crash).  The cases are declared in cli/cases.txt:
#
#   name | expected exit status | text the output must contain | command
#
# $M is the binary, $Q the quickstart folder, $T a scratch folder with the
# generated hostile inputs.  Ends with `N passed, N failed`.
set -u
top=$(cd "$(dirname "$0")/../.." && pwd)
build=${1:-build}
case "$build" in /*) ;; *) build="$top/$build" ;; esac
M="$build/mandate"
Q="$top/examples/quickstart"
T="$build/e2e-cli"
rm -rf "$T"
mkdir -p "$T"
export M Q T

# hostile inputs, generated (not stored)
python3 - "$T" <<'PY'
import sys, os
t = sys.argv[1]
open(os.path.join(t, "deep-parens.cedar"), "w").write("permit(principal, action, resource) when { " + "(" * 100000 + "true" + ")" * 100000 + " };\n")
open(os.path.join(t, "long-and.cedar"), "w").write("permit(principal, action, resource) when { " + " && ".join(["true"] * 50000) + " };\n")
open(os.path.join(t, "deep-json.json"), "w").write("[" * 100000 + "]" * 100000)
open(os.path.join(t, "deep-attr.json"), "w").write('[{"uid":{"type":"A","id":"a"},"attrs":{"x":' + '{"y":' * 500 + '1' + '}' * 500 + '},"parents":[]}]')
open(os.path.join(t, "deeper-attr.json"), "w").write('[{"uid":{"type":"A","id":"a"},"attrs":{"x":' + '{"y":' * 5000 + '1' + '}' * 5000 + '},"parents":[]}]')
open(os.path.join(t, "cycle.json"), "w").write('[{"uid":{"type":"A","id":"a"},"attrs":{},"parents":[{"type":"A","id":"b"}]},{"uid":{"type":"A","id":"b"},"attrs":{},"parents":[{"type":"A","id":"a"}]}]')
open(os.path.join(t, "binary.cedar"), "wb").write(bytes(range(256)) * 4)
open(os.path.join(t, "empty.json"), "w").write("")
open(os.path.join(t, "dup-keys.json"), "w").write('[{"uid":{"type":"A","id":"a"},"uid":{"type":"A","id":"b"},"attrs":{},"parents":[]}]')
open(os.path.join(t, "req-wrong-type.json"), "w").write('{"principal":{"type":"Tool","id":"x"},"action":{"type":"Action","id":"call"},"resource":{"type":"Tool","id":"tickets/read"},"context":{"args":{},"time":"2026-11-28T13:05:00Z","calls":3,"approved":false,"source_ip":"10.1.2.3"}}')
open(os.path.join(t, "req-bad-ctx.json"), "w").write('{"principal":{"type":"Task","id":"t-1"},"action":{"type":"Action","id":"call"},"resource":{"type":"Tool","id":"tickets/read"},"context":{"args":{},"time":"not a time","calls":3,"approved":false,"source_ip":"10.1.2.3"}}')
open(os.path.join(t, "req-float.json"), "w").write('{"principal":{"type":"Task","id":"t-1"},"action":{"type":"Action","id":"call"},"resource":{"type":"Tool","id":"tickets/read"},"context":{"args":{},"time":"2026-11-28T13:05:00Z","calls":3.5,"approved":false,"source_ip":"10.1.2.3"}}')
open(os.path.join(t, "unterminated.cedar"), "w").write('permit(principal, action, resource) when { "abc };\n')
open(os.path.join(t, "bad-line3.cedar"), "w").write('permit(principal, action, resource);\n\nforbid(principal, action, resource) when { 1 +* 2 };\n')
open(os.path.join(t, "empty-req.json"), "w").write('{}')
PY

pass=0
fail=0
while IFS='|' read -r name want_rc want_text cmd; do
    case "$name" in ''|'#'*) continue ;; esac
    name=$(echo "$name" | sed 's/ *$//')
    want_rc=$(echo "$want_rc" | tr -d ' ')
    want_text=$(echo "$want_text" | sed 's/^ *//; s/ *$//')
    out=$(sh -c "$cmd" 2>&1)
    rc=$?
    ok=1
    [ "$rc" = "$want_rc" ] || ok=0
    [ "$rc" -ge 128 ] && ok=0 # killed by a signal: a crash
    case "$out" in *"$want_text"*) ;; *) ok=0 ;; esac
    if [ $ok = 1 ]; then
        pass=$((pass + 1))
    else
        fail=$((fail + 1))
        echo "FAIL $name: exit $rc (want $want_rc), output must contain: $want_text"
        echo "$out" | head -5 | sed 's/^/    /'
    fi
done < "$top/tests/e2e/cli/cases.txt"
echo "$pass passed, $fail failed"
[ $fail = 0 ]
