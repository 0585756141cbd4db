#!/usr/bin/env bash
# `make ha-test`: several hosts in network namespaces on this machine — three nodes with etcd and
# Patroni-managed PostgreSQL 15 (synchronous standby), two hubs — and a gateway and workers on the
# host, over a bridge. Under load it kills a hub (SIGKILL), cuts the other hub off from the
# database, and kills the PostgreSQL primary; after each it checks that every ACKed message is
# stored once and every task completed once or visibly pending (scripts/ha_driver.py), and reports
# the adoption time and the longest unavailable window. Needs root. `--short`: fewer messages and
# shorter pauses (what `make test` runs).
set -euo pipefail
cd "$(dirname "$0")/.."
short=false
[ "${1:-}" = "--short" ] && short=true
[ "$(id -u)" -eq 0 ] || { echo "ha-test needs root (network namespaces)"; exit 1; }

# What it needs, installed if missing: etcd and nftables from Debian, Patroni 4.1 from PyPI
# (Debian's 3.0.2 can lose an acknowledged write after a partition: docs/scaling.md).
missing=()
command -v etcd >/dev/null || missing+=(etcd-server etcd-client)
command -v nft >/dev/null || missing+=(nftables)
command -v ip >/dev/null || missing+=(iproute2)
if [ ${#missing[@]} -gt 0 ]; then
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null
fi
# Patroni runs as postgres: in a virtual environment of Debian's Python, which that user can read.
VENV=/opt/switchboard-ha/venv
if [ ! -x "$VENV/bin/patroni" ]; then
    /usr/bin/python3 -c 'import venv, ensurepip' 2>/dev/null || DEBIAN_FRONTEND=noninteractive apt-get install -y -qq python3-venv >/dev/null
    /usr/bin/python3 -m venv "$VENV"
    "$VENV/bin/pip" install -q 'patroni[etcd3,psycopg2-binary]>=4.1,<4.2'
fi
PATRONI="$VENV/bin/patroni"
python3 -c 'import zmq' 2>/dev/null || python3 -m pip install -q pyzmq
PGBIN=/usr/lib/postgresql/15/bin

swift build --product switchboard >/dev/null
BIN="$(swift build --show-bin-path)/switchboard"

# Namespaces share the file system: a folder the postgres user can reach, one socket directory per node.
RUN=/tmp/swb-ha
NODES=(1 2 3)
HUBS=(1 2)
node_ip() { echo "10.77.0.$1"; }
hub_ip() { echo "10.77.0.1$1"; }

cleanup() {
    set +e
    touch "$RUN/stop" 2>/dev/null
    for pidfile in "$RUN"/*.pid; do [ -e "$pidfile" ] && kill -9 "$(cat "$pidfile")" 2>/dev/null; done
    pkill -9 -f "$RUN/" 2>/dev/null
    sleep 0.5
    for n in "${NODES[@]}"; do ip netns del "swb-n$n" 2>/dev/null; done
    for h in "${HUBS[@]}"; do ip netns del "swb-h$h" 2>/dev/null; done
    ip link del swb-br0 2>/dev/null
}
trap cleanup EXIT
cleanup
rm -rf "$RUN"
mkdir -p "$RUN"
chmod 755 "$RUN"

# The network: a bridge on the host (10.77.0.254, so host processes reach every node), a veth per host.
ip link add swb-br0 type bridge
ip addr add 10.77.0.254/24 dev swb-br0
ip link set swb-br0 up
add_host() { # name address
    ip netns add "$1"
    ip link add "v-$1" type veth peer name eth0 netns "$1"
    ip link set "v-$1" master swb-br0 up
    ip -n "$1" addr add "$2/24" dev eth0
    ip -n "$1" link set eth0 up
    ip -n "$1" link set lo up
}
for n in "${NODES[@]}"; do add_host "swb-n$n" "$(node_ip "$n")"; done
for h in "${HUBS[@]}"; do add_host "swb-h$h" "$(hub_ip "$h")"; done

# etcd, three members.
cluster=""
for n in "${NODES[@]}"; do cluster+="${cluster:+,}e$n=http://$(node_ip "$n"):2380"; done
for n in "${NODES[@]}"; do
    ip=$(node_ip "$n")
    ip netns exec "swb-n$n" etcd --name "e$n" --data-dir "$RUN/etcd$n" \
        --listen-client-urls "http://$ip:2379,http://127.0.0.1:2379" --advertise-client-urls "http://$ip:2379" \
        --listen-peer-urls "http://$ip:2380" --initial-advertise-peer-urls "http://$ip:2380" \
        --initial-cluster "$cluster" --initial-cluster-state new --initial-cluster-token swb-ha --pre-vote=true \
        >"$RUN/etcd$n.log" 2>&1 &
    echo $! >"$RUN/etcd$n.pid"
    disown
done

# Patroni, one per node, as postgres; ttl 10 / loop_wait 2 / retry_timeout 3, synchronous mode.
etcd_hosts=""
for n in "${NODES[@]}"; do etcd_hosts+="${etcd_hosts:+,}$(node_ip "$n"):2379"; done
start_patroni() { # node
    local n=$1 ip
    ip=$(node_ip "$n")
    ip netns exec "swb-n$n" setpriv --reuid=postgres --regid=postgres --init-groups \
        env HOME="$RUN/n$n" "$PATRONI" "$RUN/n$n/patroni.yml" >>"$RUN/patroni$n.log" 2>&1 &
    echo $! >"$RUN/patroni$n.pid"
    disown
}
for n in "${NODES[@]}"; do
    ip=$(node_ip "$n")
    mkdir -p "$RUN/n$n/sock"
    cat >"$RUN/n$n/patroni.yml" <<EOF
scope: swb-ha
namespace: /service/
name: n$n
restapi: {listen: "$ip:8008", connect_address: "$ip:8008"}
etcd3: {hosts: "$etcd_hosts"}
bootstrap:
  dcs:
    ttl: 10
    loop_wait: 2
    retry_timeout: 3
    synchronous_mode: true
    postgresql:
      use_pg_rewind: true
      parameters: {wal_level: replica, hot_standby: "on", max_wal_senders: 10, max_replication_slots: 10, wal_log_hints: "on",
                   synchronous_commit: "on", fsync: "on"}
  initdb: [{encoding: UTF8}, {locale: C.UTF-8}]
postgresql:
  listen: "$ip:5432"
  connect_address: "$ip:5432"
  data_dir: "$RUN/n$n/data"
  pgpass: "$RUN/n$n/pgpass"
  bin_dir: "$PGBIN"
  use_unix_socket: true
  parameters: {unix_socket_directories: "$RUN/n$n/sock", max_connections: 100}
  pg_hba: ["local all all trust", "host all all 10.77.0.0/24 trust", "host replication all 10.77.0.0/24 trust"]
  authentication:
    superuser: {username: postgres}
    replication: {username: postgres}
EOF
    chown -R postgres:postgres "$RUN/n$n"
    start_patroni "$n"
done

echo "waiting for the PostgreSQL cluster (leader and synchronous standby)"
python3 scripts/ha_driver.py wait-cluster --nodes 10.77.0.1,10.77.0.2,10.77.0.3 --timeout 120 || {
    tail -n 20 "$RUN"/patroni*.log
    exit 1
}

CONNINFO="host=10.77.0.1,10.77.0.2,10.77.0.3 port=5432 user=postgres dbname=switchboard target_session_attrs=read-write connect_timeout=1"
psql "host=10.77.0.1,10.77.0.2,10.77.0.3 port=5432 user=postgres dbname=postgres target_session_attrs=read-write" -qc "CREATE DATABASE switchboard"
# A standby may lag a moment behind the new database: libpq tries the hosts in turn.
for attempt in 1 2 3 4 5 6 7 8 9 10; do
    "$BIN" migrate --database "$CONNINFO" >"$RUN/migrate.log" 2>&1 && break
    [ "$attempt" -lt 10 ] || { cat "$RUN/migrate.log"; exit 1; }
    sleep 1
done

# Two hubs, each restarted 3 s after it exits, as systemd's Restart=always with RestartSec=3 would.
for h in "${HUBS[@]}"; do
    ip=$(hub_ip "$h")
    cat >"$RUN/hub$h.yaml" <<EOF
hub_name: hub-$h
database: "$CONNINFO"
gateway_endpoint: "tcp://$ip:5570"
worker_endpoint: "tcp://$ip:5571"
http_endpoint: "$ip:9570"
security: off
heartbeat_ms: 200
heartbeat_timeout_ms: 1500
hub_lease_ms: 2000
drain_timeout_ms: 0
EOF
    (
        while [ ! -e "$RUN/stop" ]; do
            ip netns exec "swb-h$h" "$BIN" serve --config "$RUN/hub$h.yaml" --log-level info >>"$RUN/hub$h.log" 2>&1 &
            echo $! >"$RUN/hub$h.pid"
            wait $! || true
            sleep 3
        done
    ) 2>/dev/null &  # the hub logs to its file; bash would report each kill of it here
    echo $! >"$RUN/hub$h-supervisor.pid"
    disown
done

args=(run --run "$RUN" --database "$CONNINFO" --nodes 10.77.0.1,10.77.0.2,10.77.0.3
    --gateways "tcp://$(hub_ip 1):5570,tcp://$(hub_ip 2):5570" --workers "tcp://$(hub_ip 1):5571,tcp://$(hub_ip 2):5571")
$short && args+=(--short)
python3 scripts/ha_driver.py "${args[@]}"
