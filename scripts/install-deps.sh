#!/usr/bin/env bash
# Installs the system packages Switchboard builds and runs with, if any is missing (Debian 12).
set -euo pipefail
packages=(libzmq3-dev libpq-dev postgresql-15 pkg-config)
# `install-deps.sh --for-tests`: also what the tests drive: a headless browser for the dashboard.
for_tests=false
[ "${1:-}" = "--for-tests" ] && for_tests=true
$for_tests && { command -v chromium >/dev/null || packages+=(chromium); }
command -v systemd-analyze >/dev/null || packages+=(systemd)
# man, to read (and test) the page `make install` installs.
command -v man >/dev/null || packages+=(man-db)
missing=()
for package in "${packages[@]}"; do
    dpkg-query -W -f='${Status}' "$package" 2>/dev/null | grep -q "install ok installed" || missing+=("$package")
done
if [ ${#missing[@]} -gt 0 ]; then
    echo "installing: ${missing[*]}"
    sudo=""
    [ "$(id -u)" -eq 0 ] || sudo="sudo"
    $sudo apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq "${missing[@]}" >/dev/null
fi
# prometheus_client, whose parser the metrics test reads /metrics with.
if $for_tests && command -v python3 >/dev/null && ! python3 -c 'import prometheus_client' 2>/dev/null; then
    echo "installing: prometheus_client"
    python3 -m pip install -q prometheus_client || apt-get install -y -qq python3-prometheus-client >/dev/null
fi
# pyzmq, for the protocol's Python example clients (exercised by `make test`).
if command -v python3 >/dev/null && ! python3 -c 'import zmq' 2>/dev/null; then
    echo "installing: pyzmq"
    python3 -m pip install -q pyzmq || apt-get install -y -qq python3-zmq >/dev/null
fi
