#!/bin/sh
# End-to-end test of Unix-socket workload attestation (src/identity/attest.c)
# with real processes: a small server (attest_server.c) attests every
# connection and matches it against registration entries; clients are the
# same tiny program (attest_client.c) built with different CLIENT_VARIANTs, so
# each binary has its own SHA-256.
#
#   1. same uid, two binaries: only the one whose sha256 is registered matches
#      (pid, uid, exe path and sha256 in the answer checked against the client)
#   2. another uid (a throwaway user made with useradd; needs root, otherwise
#      SKIPPED and counted as skipped): the registered binary run by that user
#      does not match the entry for our uid; the entry that names that user
#      (unix:user, resolved from the attested uid) matches its own binary
#   3. a client that connects and exits before the server looks (the server
#      waits 500 ms first: --pause-ms) is refused as MD_ATTEST_EPEER_GONE
#   4. a running client whose binary is changed on disk before it connects:
#        replaced by rename (cp new; mv over)  -> MD_ATTEST_EEXE_DELETED: the
#            process runs an inode that no longer has its name; we refuse it
#            rather than vouch for a binary nobody can find on disk
#        unlinked                               -> MD_ATTEST_EEXE_DELETED
#        overwritten in place (cp onto it)      -> Linux refuses the write
#            (ETXTBSY); the hash is of the running binary, which still
#            matches.  (Where a filesystem allows the write, the hash is of the
#            inode the process runs, i.e. the new bytes: see attest.c.)
#   5. fail closed: two entries matching one binary -> MD_ATTEST_EAMBIGUOUS;
#      a quarantined entry -> MD_ATTEST_EQUARANTINED
#
#   tests/e2e/attest/run.sh [BUILD]   BUILD defaults to build (needs BUILD/libmandate.a;
#                                     it is made with `make` when missing)
# Ends with `N passed, N failed, N skipped`; exits non-zero on any failure.
# Every process it starts is stopped by its PID; every wait is bounded.
set -u
here=$(cd "$(dirname "$0")" && pwd)
top=$(cd "$here/../../.." && pwd)
build=${1:-build}
case "$build" in /*) ;; *) build="$top/$build" ;; esac

pass=0
fail=0
skipped=0
ok() { pass=$((pass + 1)); echo "ok - $1"; }
bad() { fail=$((fail + 1)); echo "FAIL - $1"; [ -n "${2:-}" ] && echo "    $2"; }
skip() { skipped=$((skipped + 1)); echo "SKIP - $1"; }
summary() { echo "$pass passed, $fail failed, $skipped skipped"; }

# Runtime files live in a world-traversable temp dir (clients run as another uid).
T=$(mktemp -d /tmp/md-e2e-attest.XXXXXX) || { echo "mktemp failed"; echo "0 passed, 1 failed, 0 skipped"; exit 1; }
chmod 755 "$T"
PIDS=""          # every background process we started
OTHER_USER=""    # the throwaway user, when we made one
cleanup() {
    for p in $PIDS; do kill "$p" 2>/dev/null; done
    for p in $PIDS; do wait "$p" 2>/dev/null; done
    [ -n "$OTHER_USER" ] && userdel "$OTHER_USER" 2>/dev/null
    rm -rf "$T"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

if [ ! -f "$build/libmandate.a" ]; then
    make -C "$top" BUILD="$build" "$build/libmandate.a" >/dev/null ||
        { echo "cannot build $build/libmandate.a"; echo "0 passed, 1 failed, 0 skipped"; exit 1; }
fi
CC=${CC:-cc}
# shellcheck disable=SC2046
$CC -std=c11 -D_GNU_SOURCE -O1 -g -Wall -Wextra -I"$top/src" $(pkg-config --cflags jansson openssl) \
    -o "$T/attest_server" "$here/attest_server.c" "$build/libmandate.a" $(pkg-config --libs jansson openssl) -lm ||
    { echo "cannot build attest_server"; echo "0 passed, 1 failed, 0 skipped"; exit 1; }
for v in 1 2 3; do
    $CC -std=c11 -D_GNU_SOURCE -O1 -Wall -Wextra -DCLIENT_VARIANT=$v -o "$T/client_$v" "$here/attest_client.c" ||
        { echo "cannot build attest_client"; echo "0 passed, 1 failed, 0 skipped"; exit 1; }
done
chmod 755 "$T"/client_*
SHA1=$(sha256sum "$T/client_1" | cut -d' ' -f1)
SHA2=$(sha256sum "$T/client_2" | cut -d' ' -f1)
SHA3=$(sha256sum "$T/client_3" | cut -d' ' -f1)
if [ "$SHA1" = "$SHA2" ] || [ "$SHA1" = "$SHA3" ] || [ "$SHA2" = "$SHA3" ]; then
    echo "the client variants have the same hash"; echo "0 passed, 1 failed, 0 skipped"; exit 1
fi
ME=$(id -u)
UNAME=md-e2e-attest

# ---- the other uid (root only)
OTHER_UID=""
if [ "$ME" != 0 ]; then
    OTHER_WHY="not running as root (cannot create a user or switch uid)"
elif ! command -v useradd >/dev/null || ! command -v setpriv >/dev/null; then
    OTHER_WHY="useradd or setpriv missing"
else
    if ! id -u "$UNAME" >/dev/null 2>&1; then
        useradd --system --no-create-home --shell /usr/sbin/nologin "$UNAME" >/dev/null 2>&1
    fi
    if id -u "$UNAME" >/dev/null 2>&1; then
        OTHER_USER=$UNAME
        OTHER_UID=$(id -u "$UNAME")
        OTHER_GID=$(id -g "$UNAME")
    else
        OTHER_WHY="useradd $UNAME failed"
    fi
fi

entry() { # spiffe-path state selector...
    id=$1 state=$2
    shift 2
    sels=""
    for s in "$@"; do sels="$sels${sels:+,}\"$s\""; done
    printf '{"spiffe_id":"spiffe://e2e.test/%s","selectors":[%s],"owner":"e2e@example.com","env":"test","scope_ceiling":["tickets:read"],"state":"%s"}' \
        "$id" "$sels" "$state"
}
{
    echo "["
    entry agent/one active "unix:uid:$ME" "unix:sha256:$SHA1"
    echo ","
    entry agent/two-as-other active "unix:user:$UNAME" "unix:sha256:$SHA2"
    echo "]"
} >"$T/entries.json"
{
    echo "["
    entry agent/one active "unix:uid:$ME" "unix:sha256:$SHA1"
    echo ","
    entry agent/one-again active "unix:sha256:$SHA1"
    echo ","
    entry agent/three quarantined "unix:sha256:$SHA3"
    echo "]"
} >"$T/entries-failclosed.json"

# ---- helpers
SERVER_PID=""
start_server() { # name entries [server args]
    name=$1 entries=$2
    shift 2
    SOCK="$T/$name.sock"
    OUT="$T/$name.jsonl"
    : >"$OUT"
    "$T/attest_server" --socket "$SOCK" --entries "$entries" --out "$OUT" --max-seconds 120 "$@" 2>"$T/$name.err" &
    SERVER_PID=$!
    PIDS="$PIDS $SERVER_PID"
    i=0
    while [ ! -S "$SOCK" ]; do
        i=$((i + 1))
        if [ $i -gt 250 ] || ! kill -0 "$SERVER_PID" 2>/dev/null; then
            echo "attest_server $name did not start:"; sed 's/^/    /' "$T/$name.err"
            return 1
        fi
        sleep 0.02
    done
}
stop_server() { # name: and check it stopped cleanly, having said nothing on stderr
    kill "$SERVER_PID" 2>/dev/null
    wait "$SERVER_PID" 2>/dev/null
    rc=$?
    if [ "$rc" -eq 0 ] && [ ! -s "$T/$1.err" ]; then ok "server $1 stopped cleanly"
    else bad "server $1 stopped cleanly" "exit $rc: $(head -c 400 "$T/$1.err")"; fi
}
# nth_line N: line N of $OUT, waiting for it (at most 10 s)
nth_line() {
    i=0
    while [ "$(wc -l <"$OUT")" -lt "$1" ] && [ $i -lt 500 ]; do
        i=$((i + 1))
        sleep 0.02
    done
    sed -n "${1}p" "$OUT"
}
# run_client ARGS...: run a client in the foreground (bounded), output in $T/client.out
run_client() {
    timeout 15 "$@" >"$T/client.out" 2>&1
    CLIENT_RC=$?
    REPLY=$(cat "$T/client.out")
}
has() { case "$1" in *"$2"*) return 0 ;; esac; return 1; }
# expect NAME TEXT NEEDLE...: TEXT contains every NEEDLE
expect() {
    name=$1 text=$2
    shift 2
    for needle in "$@"; do
        if ! has "$text" "$needle"; then bad "$name" "missing $needle in: $text"; return; fi
    done
    ok "$name"
}
# wait_exec PID PATH: until PID runs PATH (at most 5 s)
wait_exec() {
    i=0
    while [ "$(readlink "/proc/$1/exe" 2>/dev/null)" != "$2" ] && [ $i -lt 250 ]; do
        i=$((i + 1))
        sleep 0.02
    done
}
# start_gated NAME BINARY: copy BINARY to $T/NAME/agent, start it waiting on a gate
start_gated() {
    mkdir -p "$T/$1"
    AGENT="$T/$1/agent"
    GATE="$T/$1/gate"
    cp "$2" "$AGENT"
    "$AGENT" "$SOCK" --gate "$GATE" >"$T/$1/out" 2>&1 &
    AGENT_PID=$!
    PIDS="$PIDS $AGENT_PID"
    wait_exec "$AGENT_PID" "$AGENT"
}
# finish_gated: open the gate, wait for the client (bounded by its own alarm)
finish_gated() {
    touch "$GATE"
    wait "$AGENT_PID" 2>/dev/null
    REPLY=$(cat "$(dirname "$GATE")/out")
}

# ---- 1. same uid, two binaries
start_server main "$T/entries.json" || { summary; exit 1; }
run_client "$T/client_1" "$SOCK"
pid=$(echo "$REPLY" | sed -n 's/^pid=\([0-9]*\) .*/\1/p')
expect "registered binary matches" "$REPLY" '"result":"match"' '"spiffe_id":"spiffe://e2e.test/agent/one"'
expect "answer names the client: pid, uid, exe, sha256" "$REPLY" "\"pid\":$pid," "\"uid\":$ME," \
    "\"exe\":\"$T/client_1\"" "\"sha256\":\"$SHA1\""
run_client "$T/client_2" "$SOCK"
expect "unregistered binary, same uid: no match" "$REPLY" '"result":"refused"' '"code":"MD_ATTEST_ENO_MATCH"' \
    "\"sha256\":\"$SHA2\""
if has "$REPLY" "spiffe://"; then bad "a refusal names no entry" "$REPLY"; else ok "a refusal names no entry"; fi

# ---- 2. another uid
if [ -n "$OTHER_UID" ]; then
    run_client setpriv --reuid="$OTHER_UID" --regid="$OTHER_GID" --clear-groups "$T/client_1" "$SOCK"
    expect "registered binary under uid $OTHER_UID: no match for the uid $ME entry" "$REPLY" \
        '"result":"refused"' '"code":"MD_ATTEST_ENO_MATCH"' "\"uid\":$OTHER_UID," "\"sha256\":\"$SHA1\""
    run_client setpriv --reuid="$OTHER_UID" --regid="$OTHER_GID" --clear-groups "$T/client_2" "$SOCK"
    expect "unix:user:$UNAME entry matches its binary run as $UNAME" "$REPLY" '"result":"match"' \
        '"spiffe_id":"spiffe://e2e.test/agent/two-as-other"' "\"user\":\"$UNAME\"" "\"uid\":$OTHER_UID,"
else
    skip "registered binary under another uid: no match for the uid $ME entry ($OTHER_WHY)"
    skip "unix:user entry matches its binary run as that user ($OTHER_WHY)"
fi

# ---- 4. binaries changed on disk while running
start_gated rename "$T/client_1"
cp "$T/client_2" "$T/rename/agent.new" && mv -f "$T/rename/agent.new" "$AGENT"
finish_gated
expect "binary replaced by rename after start: refused as deleted" "$REPLY" '"code":"MD_ATTEST_EEXE_DELETED"'

start_gated unlink "$T/client_1"
rm -f "$AGENT"
finish_gated
expect "binary unlinked after start: refused as deleted" "$REPLY" '"code":"MD_ATTEST_EEXE_DELETED"'

start_gated inplace "$T/client_1"
if cp "$T/client_2" "$AGENT" 2>"$T/inplace/cp.err"; then
    # the filesystem let us write a running executable: the hash must be of the
    # inode the process runs, which now holds client_2's bytes
    finish_gated
    now=$(sha256sum "$AGENT" | cut -d' ' -f1)
    expect "binary overwritten in place (write allowed here): hash is of the running inode" "$REPLY" \
        "\"sha256\":\"$now\""
else
    finish_gated
    if grep -q "Text file busy" "$T/inplace/cp.err"; then ok "overwriting a running binary in place: refused by the kernel (ETXTBSY)"
    else bad "overwriting a running binary in place" "$(cat "$T/inplace/cp.err")"; fi
    expect "binary someone tried to overwrite: hash is of the running binary, still matches" "$REPLY" \
        '"result":"match"' "\"sha256\":\"$SHA1\"" "\"exe\":\"$AGENT\""
fi
stop_server main

# ---- 3. a client that is gone before the server looks
start_server paused "$T/entries.json" --pause-ms 500 || { summary; exit 1; }
run_client "$T/client_1" "$SOCK" --exit-now
line=$(nth_line 1)
expect "client that connects and exits at once: refused as gone" "$line" '"result":"refused"' \
    '"code":"MD_ATTEST_EPEER_GONE"'
run_client "$T/client_1" "$SOCK"
expect "same server, a client that stays: matches (the pause alone refuses nothing)" "$REPLY" '"result":"match"'
stop_server paused

# ---- 5. fail closed
start_server failclosed "$T/entries-failclosed.json" || { summary; exit 1; }
run_client "$T/client_1" "$SOCK"
expect "two entries match one binary: refused as ambiguous" "$REPLY" '"code":"MD_ATTEST_EAMBIGUOUS"'
if has "$REPLY" "spiffe://"; then bad "ambiguity names no entry" "$REPLY"; else ok "ambiguity names no entry"; fi
run_client "$T/client_3" "$SOCK"
expect "quarantined entry: refused" "$REPLY" '"code":"MD_ATTEST_EQUARANTINED"'
run_client "$T/client_2" "$SOCK"
expect "no entry: refused" "$REPLY" '"code":"MD_ATTEST_ENO_MATCH"'
stop_server failclosed

# every answer was pinned by a pidfd, or not: say which (a fact about this kernel)
if grep -q '"pidfd":true' "$T"/main.jsonl; then echo "# SO_PEERPIDFD available: pid reuse window closed"
else echo "# SO_PEERPIDFD unavailable (kernel < 6.5): pid reuse before /proc is opened is not detected"; fi

summary
[ "$fail" -eq 0 ]
