#!/bin/bash
# demo.sh - `make demo`: a highly available prodata on this machine, under one
# directory (/tmp/prodata-demo as root, /tmp/prodata-demo-<user> as a user, or
# PRODATA_DEMO_DIR): a single-member etcd and three `prodata keeper` nodes
# (one primary, two streaming standbys, WAL archived into the directory,
# synchronous mode on), the bookstore example migrated and seeded through the
# cluster, and `prodata serve` on it, connected with the libpq multi-host
# conninfo so that it follows the primary after a failover. It prints the
# conninfo, the cluster's status, how to kill the primary to watch a
# failover, and curl commands (a token for the editor role made by
# `prodata token`). Every process runs in the background with its PID in the
# directory; `make demo-stop` (demo.sh stop) stops them all, and so does
# Ctrl-C while it starts; `demo.sh foreground` (prodata demo foreground)
# stays after the summary and stops them all at Ctrl-C; a second
# `make demo` reuses the data and whatever still runs.
# As root, PostgreSQL runs as the unprivileged postgres account (the keepers
# see to it); as a user, as that user. Ports, so that two demos on one machine
# do not collide: PRODATA_DEMO_PORT=B moves them all (the three PostgreSQL at
# B..B+2, etcd at B+3 with its peer port B+13, the keepers' HTTP APIs at
# B+4..B+6, prodata serve at B+7); without it they are PostgreSQL
# 54331-54333, etcd 23790 (peer 23800), the APIs 18008-18010 and serve 8000.
# PRODATA_DEMO_ETCD_PORT, PRODATA_DEMO_API_PORT and PRODATA_DEMO_HTTP_PORT
# move one each. A port another program holds stops the demo before anything
# starts, naming the setting to change.
set -euo pipefail
cd "$(dirname "$0")/.."
if [ "$(id -u)" = 0 ]; then
    DEMO_DIR=${PRODATA_DEMO_DIR:-/tmp/prodata-demo}
else
    DEMO_DIR=${PRODATA_DEMO_DIR:-/tmp/prodata-demo-$(id -un)}
fi
PRODATA=${PRODATA:-$PWD/build/prodata}
ETCD_BIN=${ETCD_BIN:-etcd}
# check_port SETTING VALUE: exit 2 unless VALUE is a port the demo can use (it takes the next ones too).
check_port() {
    if ! [[ "$2" =~ ^[0-9]{1,5}$ ]] || [ "$2" -lt 1024 ] || [ "$2" -gt 65000 ]; then
        echo "demo: $1 is \"$2\": a port number from 1024 to 65000 (the demo uses the next ones too)" >&2
        exit 2
    fi
}
check_port PRODATA_DEMO_PORT "${PRODATA_DEMO_PORT:-54331}"
PG_PORT=${PRODATA_DEMO_PORT:-54331}
if [ -n "${PRODATA_DEMO_PORT:-}" ]; then
    ETCD_PORT=${PRODATA_DEMO_ETCD_PORT:-$((PG_PORT + 3))}
    API_PORT=${PRODATA_DEMO_API_PORT:-$((PG_PORT + 4))}
    HTTP_PORT=${PRODATA_DEMO_HTTP_PORT:-$((PG_PORT + 7))}
else
    ETCD_PORT=${PRODATA_DEMO_ETCD_PORT:-23790}
    API_PORT=${PRODATA_DEMO_API_PORT:-18008}
    HTTP_PORT=${PRODATA_DEMO_HTTP_PORT:-8000}
fi
check_port PRODATA_DEMO_ETCD_PORT "$ETCD_PORT"
check_port PRODATA_DEMO_API_PORT "$API_PORT"
check_port PRODATA_DEMO_HTTP_PORT "$HTTP_PORT"
# Every port the demo takes, with the setting that moves it: none may be another's.
DEMO_PORTS="$PG_PORT:PRODATA_DEMO_PORT $((PG_PORT + 1)):PRODATA_DEMO_PORT $((PG_PORT + 2)):PRODATA_DEMO_PORT
$ETCD_PORT:PRODATA_DEMO_ETCD_PORT $((ETCD_PORT + 10)):PRODATA_DEMO_ETCD_PORT $API_PORT:PRODATA_DEMO_API_PORT
$((API_PORT + 1)):PRODATA_DEMO_API_PORT $((API_PORT + 2)):PRODATA_DEMO_API_PORT $HTTP_PORT:PRODATA_DEMO_HTTP_PORT"
CLASH=$(tr ' ' '\n' <<<"$DEMO_PORTS" | sort -t: -k1,1n | awk -F: '$1 == port { print $1 " (" name " and " $2 ")"; exit }
    { port = $1; name = $2 }')
if [ -n "$CLASH" ]; then
    echo "demo: two of the demo's ports are the same: $CLASH; set them apart" >&2
    exit 2
fi
API="http://127.0.0.1:$HTTP_PORT"
# How to run make demo again for this very demo: with the settings it was given.
AGAIN=""
for setting in PRODATA_DEMO_DIR PRODATA_DEMO_PORT PRODATA_DEMO_ETCD_PORT PRODATA_DEMO_API_PORT PRODATA_DEMO_HTTP_PORT; do
    [ -z "${!setting:-}" ] || AGAIN="$AGAIN$setting=${!setting} "
done
NODES="1 2 3"
PORTS="$PG_PORT,$((PG_PORT + 1)),$((PG_PORT + 2))"
CONNINFO="host=127.0.0.1,127.0.0.1,127.0.0.1 port=$PORTS target_session_attrs=read-write dbname=bookstore user=bookstore"
CLUSTER_CONF="$DEMO_DIR/cluster.conf"
SERVE_CONF="$DEMO_DIR/serve.conf"
export PGPASSFILE="$DEMO_DIR/pgpass"

# The PID in FILE while that process's command line contains WORD (a PID file never names a stranger).
live_pid() {
    local pid
    pid=$(cat "$1" 2>/dev/null || true)
    if [[ "$pid" =~ ^[0-9]+$ ]] && tr '\0' ' ' 2>/dev/null <"/proc/$pid/cmdline" | grep -q -- "$2"; then
        echo "$pid"
    fi
}

# stop_pid FILE WORD WHAT SECONDS: SIGTERM, then SIGKILL after SECONDS.
stop_pid() {
    local pid i
    pid=$(live_pid "$1" "$2")
    rm -f "$1"
    [ -n "$pid" ] || return 0
    kill -TERM "$pid"
    for i in $(seq 1 $(($4 * 10))); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    if kill -0 "$pid" 2>/dev/null; then kill -KILL "$pid"; fi
    echo "demo: $3 stopped (pid $pid)"
}

stop_all() {
    stop_pid "$DEMO_DIR/serve.pid" "prodata serve" "prodata serve" 15
    # standbys first, the primary last: no failover is started by the stop itself
    local leader i
    leader=$("$PRODATA" cluster status --config "$CLUSTER_CONF" --json 2>/dev/null | jq -r '.leader // ""' || true)
    for i in $NODES; do
        [ "n$i" = "$leader" ] || stop_pid "$DEMO_DIR/n$i/keeper.pid" "prodata keeper" "keeper n$i" 40
    done
    [ -z "$leader" ] || stop_pid "$DEMO_DIR/${leader}/keeper.pid" "prodata keeper" "keeper $leader" 40
    stop_pid "$DEMO_DIR/etcd.pid" "etcd" "etcd" 10
}

if [ "${1:-}" = stop ]; then
    [ -d "$DEMO_DIR" ] && stop_all
    echo "demo: stopped (data kept in $DEMO_DIR; ${AGAIN}make demo starts it again)"
    exit 0
fi
FOREGROUND=0
case "${1:-}" in
"") ;;
foreground) FOREGROUND=1 ;;
*)
    echo "demo: unknown action \"$1\" (want nothing, foreground or stop)" >&2
    exit 2
    ;;
esac
# Ctrl-C (or SIGTERM) while it starts stops what it started; in the foreground, until it is stopped.
interrupted() {
    trap - INT TERM
    echo
    echo "demo: interrupted: stopping every process it started (the data stays in $DEMO_DIR)" >&2
    stop_all
    exit 130
}
trap interrupted INT TERM

port_taken() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }
# need_port PORT WHAT SETTING: exit 1, naming the setting that moves it, when another program holds PORT.
need_port() {
    if port_taken "$1"; then
        local move="set $3 to another port, or PRODATA_DEMO_PORT=N to move every port of the demo"
        [ "$3" = PRODATA_DEMO_PORT ] && move="set PRODATA_DEMO_PORT=N to move every port of the demo"
        echo "demo: port $1 ($2) is in use by another program (another demo?); $move (N to N+7 and N+13)" >&2
        exit 1
    fi
}
# Every port of a process about to start, before any starts: a demo stopped by a port in use leaves nothing
# running behind it.
need_ports() {
    local i
    if [ -z "$(live_pid "$DEMO_DIR/etcd.pid" etcd)" ]; then
        need_port "$ETCD_PORT" "etcd" PRODATA_DEMO_ETCD_PORT
        need_port $((ETCD_PORT + 10)) "etcd's peer port" PRODATA_DEMO_ETCD_PORT
    fi
    for i in $NODES; do
        if [ -z "$(live_pid "$DEMO_DIR/n$i/keeper.pid" "prodata keeper")" ]; then
            need_port $((PG_PORT + i - 1)) "PostgreSQL of n$i" PRODATA_DEMO_PORT
            need_port $((API_PORT + i - 1)) "the keeper API of n$i" PRODATA_DEMO_API_PORT
        fi
    done
    [ -n "$(live_pid "$DEMO_DIR/serve.pid" "prodata serve")" ] || need_port "$HTTP_PORT" "prodata serve" PRODATA_DEMO_HTTP_PORT
}
wait_for() { # SECONDS WHAT COMMAND...: polls every 0.2 s
    local deadline=$((SECONDS + $1)) what=$2
    shift 2
    until "$@"; do
        if [ "$SECONDS" -ge "$deadline" ]; then
            echo "demo: gave up waiting for $what; the logs are in $DEMO_DIR" >&2
            return 1
        fi
        sleep 0.2
    done
}

mkdir -p "$DEMO_DIR"
if [ "$(id -u)" != 0 ] && [ ! -w "$DEMO_DIR" ]; then
    echo "demo: $DEMO_DIR belongs to $(stat -c %U "$DEMO_DIR"); set PRODATA_DEMO_DIR to a directory of yours" >&2
    exit 1
fi
chmod 700 "$DEMO_DIR"
[ "$(id -u)" = 0 ] && chmod 711 "$DEMO_DIR" # the postgres account reaches its nodes' directories inside
need_ports

# ---- etcd ---------------------------------------------------------------------------------------------------
if [ -z "$(live_pid "$DEMO_DIR/etcd.pid" etcd)" ]; then
    echo "== etcd on 127.0.0.1:$ETCD_PORT (data $DEMO_DIR/etcd)"
    nohup "$ETCD_BIN" --name demo --data-dir "$DEMO_DIR/etcd" \
        --listen-client-urls "http://127.0.0.1:$ETCD_PORT" --advertise-client-urls "http://127.0.0.1:$ETCD_PORT" \
        --listen-peer-urls "http://127.0.0.1:$((ETCD_PORT + 10))" \
        --initial-advertise-peer-urls "http://127.0.0.1:$((ETCD_PORT + 10))" \
        --initial-cluster "demo=http://127.0.0.1:$((ETCD_PORT + 10))" \
        --heartbeat-interval 100 --election-timeout 1000 >"$DEMO_DIR/etcd.log" 2>&1 </dev/null &
    echo $! >"$DEMO_DIR/etcd.pid"
    wait_for 30 "etcd" curl -sf -m 1 -o /dev/null "http://127.0.0.1:$ETCD_PORT/health"
fi

# ---- the keepers' settings ----------------------------------------------------------------------------------
if [ ! -s "$DEMO_DIR/replication.password" ]; then
    (umask 077 && openssl rand -hex 24 >"$DEMO_DIR/replication.password")
fi
cat >"$CLUSTER_CONF" <<CONF
# what \`prodata cluster\` needs to find this demo's cluster: prodata cluster status --config $CLUSTER_CONF
etcd_endpoints = "http://127.0.0.1:$ETCD_PORT"
cluster_name = demo
CONF
for i in $NODES; do
    mkdir -p "$DEMO_DIR/n$i"
    [ "$(id -u)" = 0 ] && chown postgres: "$DEMO_DIR/n$i"
    cat >"$DEMO_DIR/n$i/prodata.conf" <<CONF
# prodata keeper settings of demo node n$i (prodata config --surface keeper lists them all)
member_name = n$i
etcd_endpoints = "http://127.0.0.1:$ETCD_PORT"
cluster_name = demo
data_dir = $DEMO_DIR/n$i/data
state_dir = $DEMO_DIR/n$i/state
pg_port = $((PG_PORT + i - 1))
api_port = $((API_PORT + i - 1))
archive_dir = $DEMO_DIR/archive
replication_password_file = $DEMO_DIR/replication.password
CONF
done
mkdir -p "$DEMO_DIR/archive"
[ "$(id -u)" = 0 ] && chown postgres: "$DEMO_DIR/archive"

# The cluster-wide configuration, before the first node starts: synchronous mode (a commit waits for one
# standby), and the application's way in: its role by password from this machine, to its database only.
"$PRODATA" cluster config set --config "$CLUSTER_CONF" synchronous_mode=on synchronous_quorum=1 \
    'pg_hba+=host bookstore bookstore 127.0.0.1/32 scram-sha-256' >/dev/null

# ---- the keepers ----------------------------------------------------------------------------------------------
for i in $NODES; do
    if [ -z "$(live_pid "$DEMO_DIR/n$i/keeper.pid" "prodata keeper")" ]; then
        echo "== prodata keeper n$i (PostgreSQL on 127.0.0.1:$((PG_PORT + i - 1)), API on :$((API_PORT + i - 1)), log $DEMO_DIR/n$i/keeper.log)"
        # its own session: kill -9 -- -PID then takes the keeper and its fence guard together (a lost node)
        (cd "$DEMO_DIR/n$i" && exec setsid "$PRODATA" keeper --config "$DEMO_DIR/n$i/prodata.conf" >>keeper.log 2>&1 </dev/null) &
        echo $! >"$DEMO_DIR/n$i/keeper.pid"
    fi
done
status_json() { "$PRODATA" cluster status --config "$CLUSTER_CONF" --json 2>/dev/null || true; }
cluster_ready() { # a leader, three members running, two of them streaming
    status_json | jq -e 'select(.leader != null)
        | ([.members[] | select(.is_live and .state == "running")] | length) == 3
          and ([.members[] | select(.is_streaming == true)] | length) == 2' >/dev/null 2>&1
}
echo "== waiting for a primary and two streaming standbys (the first start runs initdb and two clones)"
wait_for 180 "a primary and two streaming standbys" cluster_ready
LEADER=$(status_json | jq -r .leader)
LEADER_DIR="$DEMO_DIR/$LEADER"
LEADER_PORT=$((PG_PORT + ${LEADER#n} - 1))

# ---- the application's role and database, on the primary (its superuser over its socket) ---------------------
if [ ! -s "$PGPASSFILE" ]; then
    (umask 077 && echo "*:*:bookstore:bookstore:$(openssl rand -hex 16)" >"$PGPASSFILE")
fi
APP_PASSWORD=$(cut -d: -f5 "$PGPASSFILE")
as_superuser() { # psql on the primary as postgres over its Unix socket (peer authentication)
    psql -X -q -v ON_ERROR_STOP=1 -h "$LEADER_DIR/state" -p "$LEADER_PORT" -U postgres "$@"
}
as_superuser -d postgres -v pw="$APP_PASSWORD" >/dev/null <<'SQL'
SELECT format('CREATE ROLE bookstore LOGIN PASSWORD %L', :'pw') WHERE NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'bookstore')
\gexec
SELECT format('ALTER ROLE bookstore PASSWORD %L', :'pw')
\gexec
SELECT 'CREATE DATABASE bookstore OWNER bookstore' WHERE NOT EXISTS (SELECT 1 FROM pg_database WHERE datname = 'bookstore')
\gexec
SELECT 'CREATE ROLE bookstore_anon NOLOGIN' WHERE NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'bookstore_anon')
\gexec
SELECT 'CREATE ROLE bookstore_editor NOLOGIN' WHERE NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'bookstore_editor')
\gexec
GRANT bookstore_anon, bookstore_editor TO bookstore;
SQL
# The multi-host conninfo tries the hosts in order, and a standby that has not yet replayed CREATE DATABASE
# ends the attempt there (libpq moves on for a host it cannot reach or that is read-only, not for an error
# the server sends): wait (bounded) until every streaming standby has replayed up to here.
CREATED_AT=$(as_superuser -d postgres -tAc "SELECT pg_current_wal_lsn()")
for _ in $(seq 1 300); do
    [ "$(as_superuser -d postgres -tAc "SELECT count(*) FILTER (WHERE replay_lsn IS NULL OR replay_lsn < '$CREATED_AT')
        FROM pg_stat_replication WHERE state = 'streaming'")" = 0 ] && break
    sleep 0.1
done

# ---- migrate and seed through the cluster (the multi-host conninfo finds the primary) --------------------------
export PGHOST=127.0.0.1,127.0.0.1,127.0.0.1 PGPORT=$PORTS PGTARGETSESSIONATTRS=read-write PGUSER=bookstore PGDATABASE=bookstore
cd examples/bookstore
echo "== prodata migrate   (through $CONNINFO)"
"$PRODATA" migrate
"$PRODATA" check
if [ "$(psql -X -tAc 'SELECT count(*) FROM book')" = 0 ]; then
    echo "== sample rows (examples/bookstore/seed.sql)"
    psql -X -q -v ON_ERROR_STOP=1 -f seed.sql >/dev/null
fi
psql -X -q -tAc "SELECT count(*) || ' authors, ' || (SELECT count(*) FROM book) || ' books' FROM author"
echo "== demo roles and their GRANTs (anonymous: read only; the token's bookstore_editor: read and write)"
psql -X -q -v ON_ERROR_STOP=1 >/dev/null <<'SQL'
GRANT USAGE ON SCHEMA public TO bookstore_anon, bookstore_editor;
GRANT SELECT ON author, tag, book, book_tags, book_review TO bookstore_anon;
GRANT SELECT, INSERT, UPDATE, DELETE ON author, tag, book, book_tags, book_review TO bookstore_editor;
GRANT USAGE ON ALL SEQUENCES IN SCHEMA public TO bookstore_editor;
SQL

# ---- prodata serve on the cluster ------------------------------------------------------------------------------
if [ ! -s "$SERVE_CONF" ] || ! grep -q '^jwt_secret' "$SERVE_CONF"; then
    (umask 077 && cat >"$SERVE_CONF" <<CONF
# prodata serve settings of make demo (prodata config --surface serve --config $SERVE_CONF lists them all)
models = "$PWD/models.pdm"
port = $HTTP_PORT
anonymous_role = bookstore_anon
jwt_secret = "$(openssl rand -hex 32)"
CONF
    )
fi
sed -i "s/^port = .*/port = $HTTP_PORT/" "$SERVE_CONF"
stop_pid "$DEMO_DIR/serve.pid" "prodata serve" "the previous prodata serve" 15 >/dev/null
need_port "$HTTP_PORT" "prodata serve" PRODATA_DEMO_HTTP_PORT
echo "== prodata serve on $API (settings $SERVE_CONF, log $DEMO_DIR/serve.log)"
nohup "$PRODATA" serve --config "$SERVE_CONF" >"$DEMO_DIR/serve.log" 2>&1 </dev/null &
echo $! >"$DEMO_DIR/serve.pid"
wait_for 30 "prodata serve" curl -s -o /dev/null -m 2 "$API/healthz"
TOKEN=$("$PRODATA" token --config "$SERVE_CONF" --role bookstore_editor --sub demo-editor --expires 24h)
echo "== GET $API/api/books/?ordering=-price&page_size=2"
curl -s "$API/api/books/?ordering=-price&page_size=2"
echo
echo "== prodata cluster status --config $CLUSTER_CONF"
"$PRODATA" cluster status --config "$CLUSTER_CONF" || true

cat <<TEXT

A three-node cluster (etcd, three keepers, PostgreSQL 15 each; synchronous mode, one standby in every
commit) under $DEMO_DIR serves the bookstore example on $API.

  conninfo:  $CONNINFO
             (password in $PGPASSFILE: PGPASSFILE=$PGPASSFILE psql "$CONNINFO")
  cluster:   $PRODATA cluster status --config $CLUSTER_CONF
             $PRODATA cluster history --config $CLUSTER_CONF
             curl -s http://127.0.0.1:$API_PORT/cluster      (each keeper's API: /primary, /replica, /health)

Watch a failover: kill the primary's keeper and PostgreSQL together (a lost node) and read the status again;
a standby is the primary within a few seconds, and prodata serve follows it (requests in the gap get 503
with Retry-After). The killed node comes back as a standby with ${AGAIN}make demo.
  kill -9 -- -\$(cat $LEADER_DIR/keeper.pid) -\$(head -1 $LEADER_DIR/data/postmaster.pid)
  $PRODATA cluster status --config $CLUSTER_CONF
  while sleep 1; do curl -s -o /dev/null -w '%{http_code} ' $API/api/books/1/; done

Try the API:
  curl -s '$API/api/books/?author__name__icontains=le+guin&ordering=-published'
  curl -s '$API/api/books/?search=shore&expand=author'
  curl -s $API/openapi.json | head -c 400; echo
A token for the role bookstore_editor (read and write), valid 24 hours:
  TOKEN=$TOKEN
  curl -s -X POST -H "Authorization: Bearer \$TOKEN" -H 'Content-Type: application/json' \\
       -d '{"name": "Octavia E. Butler", "email": "octavia@example.org", "born": "1947-06-22"}' $API/api/authors/

  stop:      ${AGAIN}make demo-stop   (every process above; the data stays in $DEMO_DIR)
TEXT
if [ "$FOREGROUND" = 1 ]; then
    echo "The demo runs in the foreground: Ctrl-C stops every process above."
    while true; do sleep 1; done # the trap ends it
fi
trap - INT TERM
