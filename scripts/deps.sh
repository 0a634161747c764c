#!/bin/sh
# Install what the build and the tests need and is missing (Debian 12).
# Idempotent: checks dpkg first, calls apt-get only for missing packages.
set -eu
PKGS="build-essential pkg-config clang libclang-rt-14-dev clang-format libjansson-dev libcmocka-dev libssl-dev \
libevent-dev libfyaml-dev libsqlite3-dev libpq-dev nodejs npm ca-certificates curl python3 openssl"
[ "${1:-}" = "--runtime-only" ] && PKGS="build-essential pkg-config libjansson-dev libssl-dev libevent-dev \
libfyaml-dev libsqlite3-dev"
missing=""
for p in $PKGS; do
    if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "ok installed"; then
        # nodejs may come from another origin with npm bundled: accept a working node+npm
        case "$p" in
        nodejs) command -v node >/dev/null 2>&1 && continue ;;
        npm) command -v npm >/dev/null 2>&1 && continue ;;
        esac
        missing="$missing $p"
    fi
done
if [ -n "$missing" ]; then
    echo "deps: installing$missing"
    SUDO=""
    [ "$(id -u)" -ne 0 ] && SUDO="sudo"
    $SUDO apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq $missing >/dev/null
fi
