#!/bin/bash
# demo.sh - `make demo`: starts a local PostgreSQL 15 under a data directory
# (/tmp/prodata-demo by default, port 54329; reused when it already runs),
# migrates the bookstore example onto it, shows the result and how to
# connect. `make demo-stop` (demo.sh stop) stops that server by its PID.
# As root, PostgreSQL runs as the unprivileged postgres account.
set -euo pipefail
cd "$(dirname "$0")/.."
source tests/lib/pg.sh
DEMO_DIR=${PRODATA_DEMO_DIR:-/tmp/prodata-demo}
DEMO_PORT=${PRODATA_DEMO_PORT:-54329}
PGDATA_DIR="$DEMO_DIR/pgdata"
PRODATA="$PWD/build/prodata"

running_pid() {
    local pid
    pid=$(head -1 "$PGDATA_DIR/postmaster.pid" 2>/dev/null || true)
    if [[ "$pid" =~ ^[0-9]+$ ]] && tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null | grep -q -- "$PGDATA_DIR"; then
        echo "$pid"
    fi
}

if [ "${1:-}" = stop ]; then
    if [ -n "$(running_pid)" ]; then
        pg_as_owner "$PGBIN/pg_ctl" -D "$PGDATA_DIR" -m fast -w stop >/dev/null
        echo "demo PostgreSQL stopped (data kept in $PGDATA_DIR)"
    else
        echo "demo PostgreSQL is not running"
    fi
    exit 0
fi

mkdir -p "$DEMO_DIR"
[ "$(id -u)" = 0 ] && chown postgres: "$DEMO_DIR"
if [ ! -f "$PGDATA_DIR/PG_VERSION" ]; then
    echo "== initdb $PGDATA_DIR"
    pg_as_owner "$PGBIN/initdb" -D "$PGDATA_DIR" -U postgres --auth=trust --encoding=UTF8 --locale=C.UTF-8 \
        >"$DEMO_DIR/initdb.log"
    cat >>"$PGDATA_DIR/postgresql.conf" <<CONF
listen_addresses = '127.0.0.1'
port = $DEMO_PORT
unix_socket_directories = '$DEMO_DIR'
CONF
fi
if [ -z "$(running_pid)" ]; then
    if (exec 3<>"/dev/tcp/127.0.0.1/$DEMO_PORT") 2>/dev/null; then
        echo "demo: port $DEMO_PORT is taken by another server; set PRODATA_DEMO_PORT" >&2
        exit 1
    fi
    echo "== starting PostgreSQL 15 on 127.0.0.1:$DEMO_PORT"
    pg_as_owner "$PGBIN/pg_ctl" -D "$PGDATA_DIR" -l "$DEMO_DIR/postgres.log" -w -t 60 start >/dev/null
fi
export PGHOST=127.0.0.1 PGPORT=$DEMO_PORT PGUSER=postgres PGDATABASE=bookstore
psql -X -q -d postgres -tAc "SELECT 1 FROM pg_database WHERE datname = 'bookstore'" | grep -q 1 ||
    psql -X -q -d postgres -c "CREATE DATABASE bookstore"

cd examples/bookstore
echo "== prodata makemigrations --check   (the example's migrations cover its models)"
"$PRODATA" makemigrations --check
echo "== prodata migrate"
"$PRODATA" migrate
echo "== prodata showmigrations"
"$PRODATA" showmigrations
echo "== prodata check   (models, migrations and the live schema agree)"
"$PRODATA" check
echo "== the tables prodata made"
psql -X -q -c '\dt'
psql -X -q -c '\d book'
cat <<TEXT

The bookstore example is migrated onto a local PostgreSQL 15.
  connect:   psql "host=127.0.0.1 port=$DEMO_PORT user=postgres dbname=bookstore"
  prodata:   cd examples/bookstore && PGHOST=127.0.0.1 PGPORT=$DEMO_PORT PGUSER=postgres PGDATABASE=bookstore $PRODATA showmigrations
  change:    edit examples/bookstore/models.pdm, then prodata makemigrations and prodata migrate
  stop:      make demo-stop   (data stays in $PGDATA_DIR)
TEXT
