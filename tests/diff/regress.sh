#!/usr/bin/env bash
# Runs `build/mandate cedar run-tests` over every saved regression case in
# tests/diff/regressions/<seed>-<k>/ (one directory per case, written by
# run.sh on a disagreement). Prints the engine's output for failing cases and
# ends with `N passed, N failed` (requests). Exit 0 only if all passed; with no
# regressions saved it prints `0 passed, 0 failed` and succeeds.
#
#   tests/diff/regress.sh [--engine CMD]      (or MANDATE=CMD)
set -uo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
repo="$(cd "$here/../.." && pwd)"
engine="${MANDATE:-$repo/build/mandate}"
if [ "${1:-}" = "--engine" ]; then engine="$2"; fi

dirs=()
if [ -d "$here/regressions" ]; then
  while IFS= read -r d; do dirs+=("$d"); done < <(find "$here/regressions" -mindepth 1 -maxdepth 1 -type d | sort)
fi

passed=0
failed=0
if [ ${#dirs[@]} -gt 0 ]; then
  read -r -a cmd <<<"$engine"
  # the engine runs inside each case directory: make relative paths absolute
  for i in "${!cmd[@]}"; do
    case "${cmd[$i]}" in
      /*) ;;
      */*) [ -e "${cmd[$i]}" ] && cmd[$i]="$PWD/${cmd[$i]}" ;;
    esac
  done
  if ! command -v "${cmd[0]}" >/dev/null 2>&1; then
    echo "regress.sh: $engine not found: build it first (make), or pass --engine CMD" >&2
    exit 2
  fi
fi
for d in ${dirs[@]+"${dirs[@]}"}; do
  files=()
  while IFS= read -r f; do files+=("$(basename "$f")"); done < <(find "$d" -maxdepth 1 -name '*.json' ! -name '*.entities.json' | sort)
  [ ${#files[@]} -gt 0 ] || continue
  out="$(cd "$d" && "${cmd[@]}" cedar run-tests --root . "${files[@]}" 2>&1)"
  rc=$?
  line="$(printf '%s\n' "$out" | sed -nE 's/^([[:alnum:]_]+:[[:space:]]*)?([0-9]+) passed, ([0-9]+) failed.*/\2 \3/p' | tail -n 1)"
  if [ -n "$line" ]; then
    p="${line% *}"; f="${line#* }"
  else
    # crashed or printed no summary: count every request of the case as failed
    p=0; f=0
    for j in "${files[@]}"; do f=$((f + $(grep -c '"decision"' "$d/$j"))); done
  fi
  passed=$((passed + p))
  failed=$((failed + f))
  if [ "$rc" -ne 0 ] || [ "$f" -ne 0 ] || [ -z "$line" ]; then
    echo "FAIL ${d#"$repo"/} (exit $rc)"
    printf '%s\n' "$out" | grep -vE '^([[:alnum:]_]+:[[:space:]]*)?[0-9]+ passed, [0-9]+ failed' | sed 's/^/  | /'
    [ "$f" -ne 0 ] || failed=$((failed + 1))
  fi
done
echo "regressions: ${#dirs[@]} case(s)"
echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
