#!/bin/bash
# switchover_unknown.sh - a switchover whose release transaction etcd applies but whose answer the old
# primary never gets (a proxy in front of etcd for n1 drops every answer but lease keepalives for 12 s once
# the transaction passed), on two `prodata keeper`s on loopback (real etcd, real PostgreSQL 15). The old
# primary must not start PostgreSQL again as a primary on a read of etcd that gives no answer: its leader
# key may be gone (it is), and n2 took it and promoted. Asserted: no instant at which both accept writes.
source tests/lib/tap.sh
source tests/lib/etcd.sh
source tests/lib/keeper_local.sh
tap_plan 4
tap_workdir
W=$TAP_WORKDIR
BIN=/usr/lib/postgresql/15/bin
KEEPER_LOCAL_LABEL="switchover unknown"
KEEPER_LOCAL_NAME=su
KEEPER_LOCAL_NODES="1 2"
KEEPER_LOCAL_LOGS=switchover_unknown
KEEPER_LOCAL_SQL_TIMEOUT=3
export ETCDCTL_API=3 PD_KEEPER_TEST_PASSWORD=so-s3cret-Pa55 PGCONNECT_TIMEOUT=1
declare -a KPID PORT
PROXY=""

cleanup() {
    [ -n "$PROXY" ] && kill "$PROXY" 2>/dev/null
    cp "$W/proxy.log" "${PRODATA_BUILD:-build}/test-logs/switchover_unknown-proxy.log" 2>/dev/null
    keeper_local_cleanup
}
trap cleanup EXIT

command -v python3 >/dev/null || skip_all "no python3 for the proxy"
keeper_local_etcd
PROXY_PORT=$(etcd_free_port "$W/etcd")
python3 "$TESTS_ROOT/integration/switchover/etcd_blackhole.py" "$PROXY_PORT" "${ENDPOINTS#http://}" "$(echo -n /prodata/su/leader | base64)" 12 "$W/proxy.log" &
PROXY=$!

cluster() { (cd "$W/n2" && "$PRODATA" cluster "$@"); }

keeper_local_configs
# n1 reaches etcd only through the proxy, which drops etcd's answers once armed
sed -i "s#^etcd_endpoints = .*#etcd_endpoints = \"http://127.0.0.1:$PROXY_PORT\"#" "$W/n1/prodata.conf"
cluster config set postgresql_parameters.fsync=off \
    >/dev/null 2>&1 || tap_fail_all "the cluster configuration could not be set"

start_keeper 1
n1_leads() { [ "$(leader)" = n1 ] && [ "$(local_sql 1 'SELECT pg_is_in_recovery()')" = f ]; }
wait_for 60 n1_leads
start_keeper 2
healthy() { [ "$(local_sql 1 "SELECT count(*) FROM pg_stat_replication WHERE state = 'streaming' AND application_name <> 'pg_basebackup'")" = 1 ]; }
if wait_for 90 healthy && wait_for 10 all_running; then tap_ok "bootstrap: n1 primary (its etcd through the proxy), n2 streaming"
else tap_not_ok "bootstrap" "$(tail -n 5 "$W"/n*/keeper.log)"; skip_all "no healthy cluster"; fi
local_sql 1 "CREATE TABLE t (node text, at bigint)" >/dev/null
sleep 1

# Writers straight to each node's address, every 100 ms for 25 s: the times at which each acknowledged a write.
probe() {
    local end=$(($(now_ms) + 25000))
    while [ "$(now_ms)" -lt "$end" ]; do
        local_sql "$1" "INSERT INTO t VALUES ('n$1', 0)" >/dev/null && echo "$(now_ms)"
        sleep 0.1
    done >"$W/acked.n$1"
}
probe 1 & P1=$!
probe 2 & P2=$!
run_cmd cluster switchover --to n2 --timeout 30
echo "# switchover: rc $RC: $OUT"
wait "$P1" "$P2"
cat "$W/proxy.log" | head -3 | sed 's/^/# proxy: /'
check "the proxy dropped the answer to the release transaction" grep -q "trigger" "$W/proxy.log"
expect_eq "n2 leads" "$(leader)" "n2"
# n2's first acknowledged write after n1's last before the switchover ... overlap: n1 acknowledging after n2 did
FIRST2=$(head -1 "$W/acked.n2")
LATE1=$(awk -v f="${FIRST2:-99999999999999}" '$1 >= f' "$W/acked.n1" | wc -l)
echo "# n2 first acknowledged at ${FIRST2:-never}; n1 acknowledged $LATE1 writes after that (first $(awk -v f="${FIRST2:-99999999999999}" '$1 >= f' "$W/acked.n1" | head -1))"
expect_eq "no write acknowledged by n1 once n2 acknowledged one (no two primaries)" "$LATE1" "0"
tap_done
