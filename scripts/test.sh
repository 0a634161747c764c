#!/bin/sh
# The test command: builds everything and runs every test, in a normal build
# and under AddressSanitizer + UndefinedBehaviorSanitizer.  Installs what is
# missing first.  Ends with one `N passed, N failed` line summing the suites.
#
#   scripts/test.sh            everything
#   QUICK=1 scripts/test.sh    skip the sanitizer pass and shorten the differential run
set -eu
top=$(cd "$(dirname "$0")/.." && pwd)
cd "$top"
sh scripts/deps.sh

JOBS=$(nproc 2>/dev/null || echo 2)
summary="$top/build/test-summary.txt"
mkdir -p build
: > "$summary"
failed_suites=""

# run NAME CMD...: runs a suite, records its `N passed, N failed` line.
run() {
    name=$1
    shift
    log="build/log-$name.txt"
    echo "== $name"
    if "$@" > "$log" 2>&1; then rc=0; else rc=$?; fi
    tail -n 3 "$log" | sed 's/^/   /'
    line=$(grep -E '^[0-9]+ passed, [0-9]+ failed' "$log" | tail -n 1 || true)
    if [ -z "$line" ]; then
        # cmocka: "[  PASSED  ] N test(s)." / "[  FAILED  ] N test(s)"
        p=$(grep -E '^\[  PASSED  \] [0-9]+ test' "$log" | awk '{s+=$4} END {print s+0}')
        f=$(grep -E '^\[  FAILED  \] [0-9]+ test' "$log" | awk '{s+=$4} END {print s+0}')
        line="$p passed, $f failed"
    fi
    echo "$name: $line" >> "$summary"
    if [ "$rc" -ne 0 ]; then
        failed_suites="$failed_suites $name"
        echo "   FAILED (exit $rc): see $log"
    fi
}

make -j"$JOBS" WERROR=1 all build/libmandate.a >/dev/null
run unit make -j"$JOBS" WERROR=1 unit
run cli sh tests/e2e/cli.sh build
run daemon sh tests/e2e/daemon/run.sh build
run jose sh tests/e2e/jose/run.sh build
run attest sh tests/e2e/attest/run.sh build
run workload sh tests/e2e/workload/run.sh build
run tasks sh tests/e2e/tasks/run.sh build
run registry sh tests/e2e/registry/run.sh build
run oidc sh tests/e2e/oidc/run.sh build
run policies sh tests/policies/run.sh build
run conformance sh tests/conformance/run.sh build
run fuzz-replay sh fuzz/replay.sh build
if [ -n "${QUICK:-}" ]; then DIFF_CASES=${DIFF_CASES:-1000}; fi
if [ -x tests/diff/run.sh ]; then
    run differential bash tests/diff/run.sh --cases "${DIFF_CASES:-10000}"
    run diff-regressions bash tests/diff/regress.sh
fi

if [ -z "${QUICK:-}" ]; then
    make -j"$JOBS" BUILD=build-asan SANITIZE=address,undefined all build-asan/libmandate.a >/dev/null
    export ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1
    run unit-asan make -j"$JOBS" BUILD=build-asan SANITIZE=address,undefined unit
    run cli-asan sh tests/e2e/cli.sh build-asan
    run daemon-asan sh tests/e2e/daemon/run.sh build-asan
    run attest-asan env CC="cc -fsanitize=address,undefined" sh tests/e2e/attest/run.sh build-asan
    run workload-asan sh tests/e2e/workload/run.sh build-asan
    run tasks-asan sh tests/e2e/tasks/run.sh build-asan
    run registry-asan sh tests/e2e/registry/run.sh build-asan
    run oidc-asan sh tests/e2e/oidc/run.sh build-asan
    run conformance-asan sh tests/conformance/run.sh build-asan
fi

echo
echo "== summary"
cat "$summary"
awk -F': ' '{split($2, a, " "); p += a[1]; f += a[3]} END {printf "%d passed, %d failed\n", p, f}' "$summary"
if [ -n "$failed_suites" ]; then
    echo "failed suites:$failed_suites"
    exit 1
fi
