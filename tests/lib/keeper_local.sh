# keeper_local.sh - what the tests that run keepers on loopback share (keeper_*.sh, switchover*.sh,
# failsafe_*.sh, haproxy.sh; the tests in network namespaces use keepers.sh): the etcd of the test with
# the checks that skip it, millisecond time, bounded waits, starting and killing node I (its keeper in
# $W/nI, the fence guard, the postmaster), its SQL and the cluster's keys, and the cleanup at exit.
# Sourced after tap.sh and etcd.sh; the test sets W (its work directory), BIN, the arrays KPID and PORT
# (by node number) and, for the functions below that read them:
#   KEEPER_LOCAL_LABEL        the name of the checks skip_all counts as skipped
#   KEEPER_LOCAL_NAME         the cluster_name, so its keys are /prodata/NAME/...
#   KEEPER_LOCAL_NODES        the node numbers, "1 2 3" (cleanup, all_running)
#   KEEPER_LOCAL_LOGS         the prefix of the keeper logs copied to build/test-logs (none when unset)
#   KEEPER_LOCAL_SQL_TIMEOUT  the seconds local_sql waits (5 when unset)
# A test redefines after sourcing whatever really differs for it.

# PostgreSQL 15, etcdctl and a one-member etcd in $W/etcd, or the whole test skipped; ENDPOINTS its URLs.
keeper_local_etcd() {
    [ -x "$BIN/initdb" ] || skip_all "no PostgreSQL 15 in $BIN"
    command -v etcdctl >/dev/null || skip_all "no etcdctl (Debian's etcd-client)"
    etcd_cluster_start "$W/etcd" 1 $$ >"$W/etcd.log" 2>&1 || skip_all "etcd does not start here"
    ENDPOINTS=$(cat "$W/etcd/endpoints")
    chmod 755 "$W" # the postgres account reaches the nodes' directories inside
}

# keeper_local_configs [LINE...]: for each node I of KEEPER_LOCAL_NODES, $W/nI (the postgres account's when
# root), free ports PORT[I] (PostgreSQL) and APORT[I] (the keeper's API), and $W/nI/prodata.conf: member nI
# of cluster KEEPER_LOCAL_NAME on this test's etcd, data and state in $W/nI, the replication password from
# PD_KEEPER_TEST_PASSWORD, then the LINEs given ("name = value").
keeper_local_configs() {
    local i line
    for i in $KEEPER_LOCAL_NODES; do
        mkdir -p "$W/n$i"
        [ "$(id -u)" = 0 ] && chown postgres "$W/n$i"
        PORT[$i]=$(etcd_free_port "$W/etcd")
        APORT[$i]=$(etcd_free_port "$W/etcd")
        cat >"$W/n$i/prodata.conf" <<CONF
member_name = n$i
etcd_endpoints = "$ENDPOINTS"
cluster_name = $KEEPER_LOCAL_NAME
data_dir = $W/n$i/data
state_dir = $W/n$i/state
pg_port = ${PORT[$i]}
api_port = ${APORT[$i]}
replication_password_env = PD_KEEPER_TEST_PASSWORD
CONF
        for line in "$@"; do echo "$line" >>"$W/n$i/prodata.conf"; done
    done
}

now_ms() { date +%s%3N; }
seconds_since() { awk -v a="$1" -v b="$(now_ms)" 'BEGIN { printf "%.2f", (b - a) / 1000 }'; }

# wait_for SECONDS COMMAND...: 0 once COMMAND succeeds, trying every 100 ms; 1 after SECONDS.
wait_for() {
    local deadline=$(($(now_ms) + $1 * 1000))
    shift
    until "$@"; do
        [ "$(now_ms)" -ge "$deadline" ] && return 1
        sleep 0.1
    done
}

# The fence guard of node I: the keeper's child that is a prodata keeper too.
guard_kill() { [ -n "${KPID[$1]:-}" ] && pkill -9 -P "${KPID[$1]}" -f "prodata keeper" 2>/dev/null; }

# skip_all REASON: every check left counted as skipped, then the test ends.
skip_all() {
    while [ "$TAP_COUNT" -lt "$TAP_PLAN" ]; do tap_skip "$KEEPER_LOCAL_LABEL" "$1"; done
    tap_done
    exit
}

# start_keeper I: the keeper of node I in the background from $W/nI, appending to its keeper.log.
start_keeper() {
    (cd "$W/n$1" && exec "$PRODATA" keeper --config prodata.conf >>keeper.log 2>&1) &
    KPID[$1]=$!
}

# stop_keeper I: the keeper of node I told to stop (SIGTERM), waited for.
stop_keeper() { kill "${KPID[$1]}" 2>/dev/null && wait "${KPID[$1]}" 2>/dev/null; KPID[$1]=""; }

# kill_node I: node I's keeper (woken first if stopped), its fence guard and its postmaster killed at once.
kill_node() {
    [ -n "${KPID[$1]:-}" ] && kill -CONT "${KPID[$1]}" 2>/dev/null && kill -9 "${KPID[$1]}" 2>/dev/null
    guard_kill "$1"
    [ -f "$W/n$1/data/postmaster.pid" ] && kill -9 "$(head -1 "$W/n$1/data/postmaster.pid")" 2>/dev/null
    KPID[$1]=""
}

# keeper_local_cleanup: every node killed, its keeper.log kept as build/test-logs/LOGS-nI.log, etcd and $W gone.
keeper_local_cleanup() {
    local i
    for i in $KEEPER_LOCAL_NODES; do kill_node "$i"; done
    if [ -n "${KEEPER_LOCAL_LOGS:-}" ]; then
        for i in $KEEPER_LOCAL_NODES; do
            cp "$W/n$i/keeper.log" "${PRODATA_BUILD:-build}/test-logs/$KEEPER_LOCAL_LOGS-n$i.log" 2>/dev/null
        done
    fi
    etcd_cluster_stop "$W/etcd"
    rm -rf "$W"
}

# cleanup: the trap at exit; a test with more to stop redefines it and calls keeper_local_cleanup last.
cleanup() { keeper_local_cleanup; }

# local_sql I SQL [SECONDS]: SQL run as postgres on node I's socket, its rows unaligned; stderr dropped.
local_sql() {
    timeout -s KILL "${3:-${KEEPER_LOCAL_SQL_TIMEOUT:-5}}" "$BIN/psql" -X -q -At -v ON_ERROR_STOP=1 \
        -h "$W/n$1/state" -p "${PORT[$1]}" -U postgres -d postgres -c "$2" 2>/dev/null
}

# etcd_get KEY ETCDCTL-OPTIONS...: the cluster's key /prodata/NAME/KEY as etcdctl get prints it.
etcd_get() { etcdctl --endpoints "$ENDPOINTS" get "/prodata/$KEEPER_LOCAL_NAME/$1" "${@:2}" 2>/dev/null; }

# etcd_value KEY: the value of /prodata/NAME/KEY, empty when there is none.
etcd_value() { etcd_get "$1" --print-value-only; }

# leader: the member name in the leader key (n2), empty when no one holds it.
leader() { etcd_value leader; }

# index_of MEMBER: the node number of a member name (n2 -> 2).
index_of() { echo "${1#n}"; }

# cluster ARGS...: `prodata cluster ARGS` with node 1's configuration.
cluster() { (cd "$W/n1" && "$PRODATA" cluster "$@"); }

# all_running: `cluster status` shows every node of KEEPER_LOCAL_NODES running and live.
all_running() {
    local n
    n=$(wc -w <<<"$KEEPER_LOCAL_NODES")
    [ "$(cluster status --json 2>/dev/null | jq '[.members[] | select(.state == "running" and .is_live)] | length')" = "$n" ]
}

# streaming: the number of standbys streaming from the leader (empty when there is no leader).
streaming() {
    local l
    l=$(leader)
    [ -n "$l" ] && local_sql "$(index_of "$l")" "SELECT count(*) FROM pg_stat_replication WHERE state = 'streaming'
        AND application_name <> 'pg_basebackup'" # a clone's WAL stream is not a standby
}

# primary_is I: node I holds the leader key and its PostgreSQL is out of recovery.
primary_is() { [ "$(leader)" = "n$1" ] && [ "$(local_sql "$1" 'SELECT pg_is_in_recovery()')" = f ]; }

# streams_from I: one standby (not a pg_basebackup) streams from node I.
streams_from() {
    [ "$(local_sql "$1" "SELECT count(*) FROM pg_stat_replication WHERE state = 'streaming' AND application_name <> 'pg_basebackup'")" = 1 ]
}

# lsn_of I: the write_lsn node I last published in its member key.
lsn_of() { etcd_value "members/n$1" | sed 's/.*"write_lsn":"\([0-9A-F/]*\)".*/\1/'; }
