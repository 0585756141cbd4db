#!/usr/bin/env bash
# `make run`: the hub and the demo gateways and workers against the throwaway cluster; Ctrl-C stops all.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
bin="$1"
export SWITCHBOARD_DATABASE="$(bash "$root/scripts/pg.sh" conninfo switchboard)"
log="$root/.run/hub.log"
# The packaged config, with quiet hours off and a campaign pass every 2 s: the demo's campaign runs
# at any hour, and soon.
mkdir -p "$root/.run"
config="$root/.run/switchboard.yaml"
cat "$root/deploy/switchboard.yaml" >"$config"
printf '\noutbound:\n  quiet_hours: null\n  campaign_every_ms: 2000\n' >>"$config"

# The packaged config runs with CURVE: the demo makes its own keys once, as an operator would.
keys="$root/.run/keys"
if [ ! -f "$keys/hub.key" ]; then
    mkdir -p "$keys"
    for name in hub demo-gw-1 demo-gw-2 demo-gw-3 demo-workers; do "$bin" keygen "$name" --directory "$keys" >/dev/null; done
    cat "$keys"/demo-gw-*.pub >"$keys/gateways.allow"
    cat "$keys/demo-workers.pub" >"$keys/workers.allow"
fi
export SWITCHBOARD_SERVER_KEY_FILE="$keys/hub.key"
export SWITCHBOARD_GATEWAY_KEYS_FILE="$keys/gateways.allow"
export SWITCHBOARD_WORKER_KEYS_FILE="$keys/workers.allow"

if ! "$bin" migrate --config "$config"; then
    # make run's database is a throwaway: one another build migrated is made anew.
    echo "make run: the demo database was migrated by another build of switchboard; making it anew"
    bash "$root/scripts/pg.sh" recreate-database switchboard
    "$bin" migrate --config "$config"
fi
# One small campaign (made once, started each run): its SMS go out through the demo gateways.
"$bin" campaign create "$root/scripts/demo-campaign.yaml" --config "$config" >/dev/null 2>&1 || true
"$bin" campaign start demo-welcome --config "$config" >/dev/null 2>&1 || true
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
echo "dashboard: http://127.0.0.1:9570/ (live), metrics: http://127.0.0.1:9570/metrics"
"$bin" demo --gateway-endpoint tcp://127.0.0.1:5570 --worker-endpoint tcp://127.0.0.1:5571 --keys "$keys" ${DEMO_ARGS:-} || true
# What the run left, as an analyst sees it: value tiers and feedback signals computed now (a hub
# does it on its schedule), and the report of the week as a page to open.
"$bin" customer tiers --config "$config"
"$bin" customer signals --config "$config"
"$bin" report --config "$config" --html "$root/.run/report.html" >/dev/null && echo "report: .run/report.html"
"$bin" campaign report demo-welcome --config "$config"
"$bin" status --config "$config"
