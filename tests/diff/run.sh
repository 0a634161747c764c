#!/usr/bin/env bash
# Differential test of mandate's Cedar engine against the reference
# implementation (@cedar-policy/cedar-wasm 4.13.0). See tests/diff/README.md.
#
#   tests/diff/run.sh [--cases N] [--seed S] [--case K] [--engine CMD] [--keep]
#                     [--chunk N] [--batch N] [--jobs N]
#
# Without --seed it runs ceil(N/2) cases of the fixed seed 1 and floor(N/2)
# cases of a random seed that it prints. With --seed S it runs N cases of S;
# with --seed S --case K only case K. Disagreeing cases are copied to
# tests/diff/regressions/<seed>-<k>/. The last line is `N passed, N failed`
# (requests, summed over all seeds); the exit code is non-zero on any
# disagreement.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
repo="$(cd "$here/../.." && pwd)"

engine="${MANDATE:-}"
args=()
while [ $# -gt 0 ]; do
  case "$1" in
    --engine) engine="$2"; shift 2 ;;
    -h|--help) sed -n '2,13p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) args+=("$1"); shift ;;
  esac
done

if [ ! -d "$here/node_modules/@cedar-policy/cedar-wasm" ]; then
  echo "installing node dependencies (npm ci in tests/diff)" >&2
  (cd "$here" && npm ci --no-audit --no-fund --loglevel=error) >&2
fi

if [ -z "$engine" ]; then
  engine="$repo/build/mandate"
  if [ ! -x "$engine" ]; then
    echo "run.sh: $engine not found: build it first (make), or pass --engine CMD" >&2
    echo "        (e.g. --engine \"node $here/selfcheck.js\" checks the generator against the reference itself)" >&2
    exit 2
  fi
fi

# --no-turbo-inline-js-wasm-calls: see lib/v8fix.js
exec node --no-turbo-inline-js-wasm-calls "$here/runner.js" --repo "$repo" --engine "$engine" ${args[@]+"${args[@]}"}
