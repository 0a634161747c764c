#!/bin/sh
# Cedar conformance: the 22 hand-written tests and the 7,809 corpus tests of
# cedar-integration-tests, read from ../shared at test time (never copied into
# the repository).  The corpus tarball is extracted into the build folder.
#
#   tests/conformance/run.sh [BUILD_DIR]      (default: build)
#
# Ends with `N passed, N failed` counting requests; exits non-zero on any
# disagreement.
set -eu
top=$(cd "$(dirname "$0")/../.." && pwd)
build=${1:-build}
case "$build" in /*) ;; *) build="$top/$build" ;; esac
shared=${MANDATE_SHARED:-$top/../shared}
src="$shared/cedar-integration-tests"
[ -d "$src" ] || { echo "conformance: $src not found" >&2; exit 1; }
root="$build/conformance"
if [ ! -f "$root/.extracted" ] || [ "$src/corpus-tests.tar.gz" -nt "$root/.extracted" ]; then
    rm -rf "$root"
    mkdir -p "$root"
    tar -xzf "$src/corpus-tests.tar.gz" -C "$root"
    touch "$root/.extracted"
fi
ln -sfn "$src/tests" "$root/tests"
ln -sfn "$src/sample-data" "$root/sample-data"
out="$build/conformance.log"
cd "$root"
# One run over every test file (names on stdin); failures are listed in the log.
status=0
{ ls tests/*/*.json; ls corpus-tests/*.json | grep -v '\.entities\.json$'; } |
    "$build/mandate" cedar run-tests --root "$root" --files-from - > "$out" 2>&1 || status=$?
fails=$(grep -c '^FAIL' "$out" || true)
if [ "$fails" -gt 0 ]; then
    echo "conformance: $fails disagreements (first 20; all in $out):"
    grep '^FAIL' "$out" | head -20
fi
tail -2 "$out"
exit $status
