#!/bin/bash
# keeper_api_fence.sh - the keeper's /primary answers from the snapshot its loop published at the end of its
# last tick; during an etcd outage a tick lasts several etcd timeouts, so the fence deadline can pass, and the
# guard kill PostgreSQL, well before the next publish. /primary must not answer 200 past the fence deadline
# (docs/ha.md: "holds the leader key (with a lease not past its fence deadline)"): HAProxy would keep a fenced
# node, whose lease may be gone and whose key may be another's, as the writable primary. The keeper reaches etcd
# through tests/ha/delay_proxy (200 ms each way, so a tick spends most of its time in etcd calls), and etcd is
# frozen (SIGSTOP) three times at arbitrary moments, failsafe_mode off (so that an outage fences): an outage that
# begins after a tick's renewal and before its read leaves the deadline to pass during the tick. Before the
# fix /primary answered 200 after the postmaster was dead. One `prodata keeper` on loopback, a real etcd and
# PostgreSQL 15; skipped, counted, without them.
source tests/lib/tap.sh
source tests/lib/etcd.sh
source tests/lib/keeper_local.sh
tap_plan 5
tap_workdir
W=$TAP_WORKDIR
BIN=/usr/lib/postgresql/15/bin
KEEPER_LOCAL_LABEL="keeper api fence"
KEEPER_LOCAL_NAME=ka
KEEPER_LOCAL_NODES=1
KEEPER_LOCAL_LOGS=keeper-api-fence
export ETCDCTL_API=3 PD_KEEPER_TEST_PASSWORD=ka-s3cret-Pa55 PGCONNECT_TIMEOUT=2
declare -a KPID

cleanup() {
    [ -n "${ETCD_PID:-}" ] && kill -CONT "$ETCD_PID" 2>/dev/null
    [ -n "${PROXY_PID:-}" ] && kill "$PROXY_PID" 2>/dev/null
    keeper_local_cleanup
}
trap cleanup EXIT

keeper_local_etcd
ETCD_PID=$(cat "$W/etcd/m1/pid")
PROXY=$(dirname "$PRODATA")/tests/ha/delay_proxy
[ -x "$PROXY" ] || skip_all "no $PROXY (make)"
PROXY_PORT=$(etcd_free_port "$W/etcd")
"$PROXY" --listen "127.0.0.1:$PROXY_PORT" --to "${ENDPOINTS#http://}" --delay-ms 200 2>"$W/proxy.err" &
PROXY_PID=$!

local_sql() { timeout -s KILL 5 "$BIN/psql" -X -q -At -h "$W/n1/state" -p "$PORT" -U postgres -d postgres -c "$1" 2>/dev/null; }
mkdir -p "$W/n1"
[ "$(id -u)" = 0 ] && chown postgres "$W/n1"
PORT=$(etcd_free_port "$W/etcd")
APORT=$(etcd_free_port "$W/etcd")
cat >"$W/n1/prodata.conf" <<CONF
member_name = n1
etcd_endpoints = "http://127.0.0.1:$PROXY_PORT"
cluster_name = ka
data_dir = $W/n1/data
state_dir = $W/n1/state
pg_port = $PORT
api_port = $APORT
replication_password_env = PD_KEEPER_TEST_PASSWORD
CONF
(cd "$W/n1" && "$PRODATA" cluster config set postgresql_parameters.fsync=off postgresql_parameters.shared_buffers=16MB \
    postgresql_parameters.max_connections=20 failsafe_mode=false >/dev/null) ||
    tap_fail_all "the cluster configuration could not be set"
start_keeper 1
primary_code() { curl -s -o /dev/null -m 1 -X OPTIONS -w '%{http_code}' "http://127.0.0.1:$APORT/primary"; }
is_primary() { [ "$(local_sql 'SELECT pg_is_in_recovery()')" = f ] && [ "$(primary_code)" = 200 ]; }
wait_for 60 is_primary || tap_fail_all "the keeper did not bootstrap a primary: $(tail -n 3 "$W/n1/keeper.log")"
expect_eq "before the outage: /primary 200" "$(primary_code)" 200

# ---- etcd frozen three times: the guard fences at the deadline; /primary must say 503 from then on ----------
# outage: freezes etcd, probes /primary every 50 ms until 6 s after the postmaster died, thaws etcd. LATE counts
# the 200s answered after the postmaster was seen dead; DEAD_IN the outages in which it died.
LATE=0 LATE_LAST= DEAD_IN=0
# is_dead PID: gone, or a zombie not reaped yet (as the guard judges it)
is_dead() { local state; state=$(awk '{ print $3 }' "/proc/$1/stat" 2>/dev/null); [ -z "$state" ] || [ "$state" = Z ]; }
outage() {
    local pm dead_at= t0 code
    pm=$(head -1 "$W/n1/data/postmaster.pid")
    kill -STOP "$ETCD_PID"
    t0=$(now_ms)
    while [ $(( $(now_ms) - t0 )) -lt 15000 ]; do
        if [ -z "$dead_at" ] && is_dead "$pm"; then dead_at=$(now_ms); fi
        code=$(primary_code)
        if [ -n "$dead_at" ] && [ "$code" = 200 ]; then
            LATE=$((LATE + 1))
            LATE_LAST=$(( $(now_ms) - dead_at ))
        fi
        [ -n "$dead_at" ] && [ $(( $(now_ms) - dead_at )) -gt 6000 ] && break
        sleep 0.05
    done
    kill -CONT "$ETCD_PID"
    [ -n "$dead_at" ] && DEAD_IN=$((DEAD_IN + 1))
    echo "# outage $1: postmaster dead after $(( ${dead_at:-0} - t0 )) ms; late 200s so far: $LATE"
    wait_for 60 is_primary
}
for trial in 1 2 3; do
    sleep "0.$((RANDOM % 10))"
    outage "$trial"
done
expect_eq "three etcd outages: the guard killed the postmaster in each" "$DEAD_IN" 3
expect_eq "no /primary 200 once the postmaster was dead (the last one ${LATE_LAST:--} ms after)" "$LATE" 0
check "etcd back: /primary 200 again" is_primary
check "the proxy ran throughout" kill -0 "$PROXY_PID"
tap_done
