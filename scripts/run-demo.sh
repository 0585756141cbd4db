#!/usr/bin/env bash
# `make run`: the hub and the demo gateways and workers against the throwaway cluster; Ctrl-C stops all.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
bin="$1"
export SWITCHBOARD_DATABASE="$(bash "$root/scripts/pg.sh" conninfo switchboard)"
config="$root/deploy/switchboard.yaml"
log="$root/.run/hub.log"

"$bin" migrate --config "$config"
"$bin" serve --config "$config" >"$log" 2>&1 &
hub=$!
stop() {
    trap - EXIT
    kill -TERM "$hub" 2>/dev/null && wait "$hub" 2>/dev/null || true
    bash "$root/scripts/pg.sh" stop
    echo "stopped: hub log in .run/hub.log; 'make run' starts again where this left off"
}
# Ctrl-C reaches the hub and the demo too; the demo returns, the status is printed, then all stops.
trap stop EXIT
trap : INT TERM
for _ in $(seq 1 100); do
    grep -q "hub serving" "$log" 2>/dev/null && break
    kill -0 "$hub" 2>/dev/null || { cat "$log"; exit 1; }
    sleep 0.1
done
echo "hub running (log: .run/hub.log); gateways on tcp://127.0.0.1:5570, workers on tcp://127.0.0.1:5571"
"$bin" demo --gateway-endpoint tcp://127.0.0.1:5570 --worker-endpoint tcp://127.0.0.1:5571 ${DEMO_ARGS:-} || true
"$bin" status --config "$config"
