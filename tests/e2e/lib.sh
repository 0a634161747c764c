# lib.sh: what the e2e shell suites share (sourced, not run).
#
# Before sourcing, set T to the suite's scratch folder.  Then:
#   pids="$pids $!"    after starting a server, so cleanup() stops it
#   ok NAME / bad NAME [DETAIL...] / check NAME CMD...   count results
# The suite ends with: echo "$pass passed, $fail failed"; [ "$fail" = 0 ]
pids=""
cleanup() {
    for p in $pids; do kill -TERM "$p" 2>/dev/null; done
    sleep 0.2
    for p in $pids; do kill -KILL "$p" 2>/dev/null; done
    rm -rf "$T"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

pass=0
fail=0
ok() { pass=$((pass + 1)); echo "ok   $1"; }
bad() {
    fail=$((fail + 1))
    echo "FAIL $1"
    shift
    for line in "$@"; do printf '%s\n' "$line" | head -c 3000 | sed 's/^/     /'; echo; done
}
# check NAME CMD...: passes when CMD succeeds
check() {
    name=$1
    shift
    if "$@"; then ok "$name"; else bad "$name"; fi
}

# The JSON error answers of mandated (suites that set $PY, and $code and $body per request):
# is_error STATUS ERROR [MESSAGE]: $code is STATUS and $body is {"error": ERROR, "message": ...}
# (exactly MESSAGE when given)
is_error() {
    [ "$code" = "$1" ] || return 1
    printf '%s' "$body" | "$PY" -c 'import json, sys
d = json.load(sys.stdin)
ok = d.get("error") == sys.argv[1] and isinstance(d.get("message"), str) and d["message"]
ok = ok and (len(sys.argv) < 3 or d["message"] == sys.argv[2])
sys.exit(0 if ok else 1)' "$2" ${3+"$3"} 2>/dev/null
}
# expect_error NAME STATUS ERROR [MESSAGE]
expect_error() {
    name=$1
    shift
    if is_error "$@"; then ok "$name"; else bad "$name" "want $1 $2${3+ \"$3\"}, got $code $body"; fi
}

# waitfor PID: wait (at most 15 s) for this shell's child PID to exit; sets $rc to its status, or
# "running".  (Not in $(...): a subshell cannot wait for this shell's children.)
waitfor() {
    i=0
    while kill -0 "$1" 2>/dev/null; do
        i=$((i + 1))
        if [ $i -gt 150 ]; then
            rc=running
            return
        fi
        sleep 0.1
    done
    wait "$1"
    rc=$?
}

# await_daemon NAME PID URL [SOCKET] [CURL ARGS...]: wait (at most 15 s) until URL/healthz answers and,
# when SOCKET is not empty, that Unix socket exists; `bad` with $T/NAME.log and return 1 when the daemon
# died or did not come up.
await_daemon() {
    aname=$1 apid=$2 aurl=$3 asock=${4:-}
    shift 3
    [ $# -gt 0 ] && shift
    i=0
    while ! curl -s -o /dev/null --max-time 1 "$@" "$aurl/healthz" || { [ -n "$asock" ] && [ ! -S "$asock" ]; }; do
        i=$((i + 1))
        if [ $i -gt 150 ] || ! kill -0 "$apid" 2>/dev/null; then
            bad "$aname: daemon did not start" "$(cat "$T/$aname.log")"
            return 1
        fi
        sleep 0.1
    done
    return 0
}
