#!/usr/bin/env bash
# A throwaway PostgreSQL 15 cluster for `make run` and `make test`, under .run/ (or $SWITCHBOARD_RUN_DIR).
#   scripts/pg.sh start [--fast]   start it (creating it first); --fast turns fsync off (tests only)
#   scripts/pg.sh start --bench    durable, with memory for the benchmark's 10 M-row tables
#   scripts/pg.sh stop             stop it
#   scripts/pg.sh conninfo DBNAME  print the libpq connection string for a database in it
#   scripts/pg.sh drop-test-databases
#                                  drop the databases earlier test runs made (swb_test_*)
#   scripts/pg.sh drop-bench-databases
#                                  drop the databases the bench made (switchboard_bench_*)
# As root, PostgreSQL runs as the `postgres` user; if that user cannot reach .run/ (a home folder
# of mode 700), the cluster lives in a folder under /tmp and .run/pg links to it.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
run="${SWITCHBOARD_RUN_DIR:-$root/.run}"
port="${SWITCHBOARD_PG_PORT:-54329}"
bin=/usr/lib/postgresql/15/bin
mkdir -p "$run"

# The server outlives this script: it must not keep the caller's pipes open (a caller waiting
# for end-of-output, or Foundation's Process waiting for exit, would wait forever).
close_inherited_fds() {
    local fd
    for fd in $(ls /proc/$$/fd); do
        case "$fd" in 0|1|2|255) ;; *) eval "exec $fd>&-" 2>/dev/null || true ;; esac
    done
}

as_pg() {
    if [ "$(id -u)" -eq 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi
}

# Drops every database whose name is LIKE the pattern (underscores escaped by the caller).
drop_databases() {
    local dir
    dir=$(readlink -f "$run/pg")
    echo "SELECT format('DROP DATABASE %I WITH (FORCE)', datname) FROM pg_database WHERE datname LIKE '$1' \\gexec" \
        | as_pg /usr/bin/psql -h "$dir" -p "$port" -U postgres -qAt postgres >/dev/null
}

cluster_dir() {
    if [ -L "$run/pg" ] || [ -d "$run/pg" ]; then
        readlink -f "$run/pg"
        return
    fi
    local dir="$run/pg"
    if [ "$(id -u)" -eq 0 ] && ! runuser -u postgres -- test -x "$run" 2>/dev/null; then
        dir=$(mktemp -d /tmp/switchboard-pg.XXXXXX)
        ln -sfn "$dir" "$run/pg"
    elif [ ${#dir} -gt 80 ]; then
        # Unix socket paths are limited to 107 bytes.
        dir=$(mktemp -d /tmp/switchboard-pg.XXXXXX)
        ln -sfn "$dir" "$run/pg"
    fi
    mkdir -p "$dir"
    [ "$(id -u)" -eq 0 ] && chown postgres:postgres "$dir"
    echo "$dir"
}

case "${1:-}" in
start)
    dir=$(cluster_dir)
    if [ ! -f "$dir/data/PG_VERSION" ]; then
        as_pg "$bin/initdb" -D "$dir/data" -U postgres -A trust -E UTF8 --no-sync >"$run/initdb.log" 2>&1 \
            || { cat "$run/initdb.log"; exit 1; }
    fi
    if as_pg "$bin/pg_ctl" -D "$dir/data" status >/dev/null 2>&1; then
        echo "PostgreSQL already running (port $port)"
    else
        options="-k $dir -p $port -c listen_addresses='' -c max_connections=200"
        [ "${2:-}" = "--fast" ] && options="$options -c fsync=off -c synchronous_commit=off -c full_page_writes=off"
        if [ "${2:-}" = "--bench" ]; then
            # As an operator would set it for a database of this size: a quarter of the memory for
            # shared buffers (at most 4 GiB), and checkpoints spaced so that seeding millions of rows
            # does not leave the measured runs behind a checkpoint's writes. Durability is unchanged.
            memory_kb=$(awk '/^MemTotal:/ { print $2 }' /proc/meminfo)
            buffers_mb=$(( memory_kb / 4 / 1024 ))
            [ "$buffers_mb" -gt 4096 ] && buffers_mb=4096
            [ "$buffers_mb" -lt 128 ] && buffers_mb=128
            options="$options -c shared_buffers=${buffers_mb}MB -c max_wal_size=8GB -c checkpoint_timeout=15min"
        fi
        close_inherited_fds
        as_pg "$bin/pg_ctl" -D "$dir/data" -l "$dir/server.log" -w -o "$options" start </dev/null >/dev/null 2>&1 \
            || { cat "$dir/server.log"; exit 1; }
    fi
    # Made again if missing, also when the server was running already (a database dropped by hand).
    for name in switchboard switchboard_test; do
        as_pg /usr/bin/psql -h "$dir" -p "$port" -U postgres -qAtc \
            "SELECT 1 FROM pg_database WHERE datname = '$name'" postgres | grep -q 1 \
            || as_pg /usr/bin/createdb -h "$dir" -p "$port" -U postgres "$name"
    done
    echo "PostgreSQL running: socket $dir, port $port"
    ;;
stop)
    [ -e "$run/pg" ] || exit 0
    dir=$(readlink -f "$run/pg")
    as_pg "$bin/pg_ctl" -D "$dir/data" -m fast -w stop >/dev/null 2>&1 || true
    ;;
drop-test-databases)
    # Each integration test makes a database of its own and leaves it for inspection; without
    # this, a cluster kept between `make test` runs grows by one database per test on every run.
    drop_databases 'swb\_test\_%'
    ;;
drop-bench-databases)
    # The bench leaves its databases for inspection and makes each again at its next run; after
    # a full run they hold some 12 GB (10 M backlog rows, 10 M customers, the ceiling's forms).
    drop_databases 'switchboard\_bench\_%'
    ;;
recreate-database)
    # A throwaway database made anew (make run's, when another build of switchboard migrated it).
    drop_databases "${2:?usage: $0 recreate-database NAME}"
    dir=$(readlink -f "$run/pg")
    as_pg /usr/bin/createdb -h "$dir" -p "$port" -U postgres "$2"
    ;;
conninfo)
    dir=$(readlink -f "$run/pg")
    echo "host=$dir port=$port user=postgres dbname=${2:-switchboard}"
    ;;
*)
    echo "usage: $0 start [--fast | --bench] | stop | conninfo [DBNAME] | recreate-database NAME | drop-test-databases | drop-bench-databases" >&2
    exit 2
    ;;
esac
