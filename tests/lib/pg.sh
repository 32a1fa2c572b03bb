# pg.sh - throwaway PostgreSQL 15 instances for tests, sourced by bash.
#
# pg_instance_start DIR sets PG_DATA_DIR, PG_TEST_PORT, PG_TEST_PID and exports
# PGHOST/PGPORT/PGUSER so that libpq clients (prodata, psql) reach it: initdb
# into DIR/data (as the unprivileged postgres account when run as root, since
# PostgreSQL refuses root), a free loopback port, a socket inside DIR, trust
# authentication, fsync off. pg_instance_stop stops the postmaster by its PID
# (the one in postmaster.pid, checked against its command line) and removes
# DIR. Callers install a trap so that a failure or Ctrl-C still stops it.

PGBIN=${PGBIN:-/usr/lib/postgresql/15/bin}

pg_as_owner() {
    if [ "$(id -u)" = 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi
}

# A port nobody listens on, from the ephemeral-free range 20000-29999.
pg_free_port() {
    local port tries=0
    while [ $tries -lt 200 ]; do
        port=$((20000 + (RANDOM % 10000)))
        if ! (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then
            echo "$port"
            return 0
        fi
        tries=$((tries + 1))
    done
    echo "pg.sh: no free port found" >&2
    return 1
}

pg_instance_start() {
    local dir=$1 attempt
    mkdir -p "$dir"
    [ "$(id -u)" = 0 ] && chown postgres: "$dir"
    PG_DATA_DIR="$dir/data"
    pg_as_owner "$PGBIN/initdb" -D "$PG_DATA_DIR" -U postgres --auth=trust --encoding=UTF8 \
        --locale=C.UTF-8 --no-sync >"$dir/initdb.log" 2>&1 || {
        echo "pg.sh: initdb failed:" >&2; cat "$dir/initdb.log" >&2; return 1; }
    # A port can be taken between the probe and the start: try a few.
    for attempt in 1 2 3 4 5; do
        PG_TEST_PORT=$(pg_free_port) || return 1
        cat >"$PG_DATA_DIR/postgresql.auto.conf" <<CONF
listen_addresses = '127.0.0.1'
port = $PG_TEST_PORT
unix_socket_directories = '$dir'
fsync = off
synchronous_commit = off
full_page_writes = off
max_connections = 50
shared_buffers = 64MB
log_min_messages = warning
CONF
        if pg_as_owner "$PGBIN/pg_ctl" -D "$PG_DATA_DIR" -l "$dir/postgres.log" -w -t 30 start >/dev/null 2>&1; then
            PG_TEST_PID=$(head -1 "$PG_DATA_DIR/postmaster.pid")
            export PGHOST=127.0.0.1 PGPORT=$PG_TEST_PORT PGUSER=postgres PGDATABASE=postgres
            unset PGPASSWORD PGSERVICE
            return 0
        fi
    done
    echo "pg.sh: could not start PostgreSQL; log:" >&2
    tail -20 "$dir/postgres.log" >&2
    return 1
}

pg_instance_stop() {
    local dir=$1 pid
    [ -n "$dir" ] && [ -d "$dir" ] || return 0
    pid=$(head -1 "$dir/data/postmaster.pid" 2>/dev/null || true)
    if [[ "$pid" =~ ^[0-9]+$ ]] && tr '\0' '\n' <"/proc/$pid/cmdline" 2>/dev/null | grep -qxF -- "$dir/data"; then
        pg_as_owner "$PGBIN/pg_ctl" -D "$dir/data" -m immediate -w -t 30 stop >/dev/null 2>&1 || kill -9 "$pid" 2>/dev/null
    fi
    rm -rf "$dir"
}
