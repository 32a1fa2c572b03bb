#!/bin/bash
# keeper_ttl.sh - a legal configuration change on a running cluster, ttl_s 3 -> 60 with loop_interval_ms 1000
# -> 20000 (Patroni-like, slow and safe), must not fence the primary: the new ttl_s applies to the next lease
# only, so the lease in force (granted 3 s) must still be renewed within its own fence window, whatever the
# new interval. Before the fix the lease thread spaced its renewals by the new interval (20 s), the 3 s lease
# lapsed, the guard killed the primary and the keeper lost the leader key. One `prodata keeper` on loopback,
# a real etcd and PostgreSQL 15; skipped, counted, without them.
source tests/lib/tap.sh
source tests/lib/etcd.sh
source tests/lib/keeper_local.sh
tap_plan 3
tap_workdir
W=$TAP_WORKDIR
BIN=/usr/lib/postgresql/15/bin
KEEPER_LOCAL_LABEL="keeper ttl"
KEEPER_LOCAL_NAME=ku
KEEPER_LOCAL_NODES=1
KEEPER_LOCAL_LOGS=keeper-ttl
export ETCDCTL_API=3 PD_KEEPER_TEST_PASSWORD=kt-s3cret-Pa55 PGCONNECT_TIMEOUT=2
declare -a KPID

trap cleanup EXIT

keeper_local_etcd

local_sql() { timeout -s KILL 5 "$BIN/psql" -X -q -At -h "$W/n1/state" -p "$PORT" -U postgres -d postgres -c "$1" 2>/dev/null; }
lease_of_leader() { etcd_get leader -w fields | awk -F' : ' '/"Lease"/ { print $2 }'; }

mkdir -p "$W/n1"
[ "$(id -u)" = 0 ] && chown postgres "$W/n1"
PORT=$(etcd_free_port "$W/etcd")
cat >"$W/n1/prodata.conf" <<CONF
member_name = n1
etcd_endpoints = "$ENDPOINTS"
cluster_name = ku
data_dir = $W/n1/data
state_dir = $W/n1/state
pg_port = $PORT
api_port = $(etcd_free_port "$W/etcd")
replication_password_env = PD_KEEPER_TEST_PASSWORD
CONF
(cd "$W/n1" && "$PRODATA" cluster config set postgresql_parameters.fsync=off postgresql_parameters.shared_buffers=16MB \
    postgresql_parameters.max_connections=20 >/dev/null) || tap_fail_all "the cluster configuration could not be set"
start_keeper 1
is_primary() { [ "$(local_sql 'SELECT pg_is_in_recovery()')" = f ] && [ "$(etcd_get leader --print-value-only)" = n1 ]; }
wait_for 60 is_primary || tap_fail_all "the keeper did not bootstrap a primary: $(tail -n 3 "$W/n1/keeper.log")"
LEASE=$(lease_of_leader)
PM=$(head -1 "$W/n1/data/postmaster.pid")

cd "$W/n1" && run_cmd "$PRODATA" cluster config set ttl_s=60 loop_interval_ms=20000
cd - >/dev/null
expect_rc "ttl_s=60 loop_interval_ms=20000 accepted" 0
# The keeper takes the new interval at its next tick, sleeps 20 s, then gives it to the lease thread: a 3 s
# lease renewed every 20 s from then on lapses within about 23 s of the change. 35 s covers that.
sleep 35
expect_eq "35 s later: the same lease holds the leader key, nothing fenced" \
    "$(lease_of_leader) $(grep -c "fence: killed" "$W/n1/keeper.log")" "$LEASE 0"
expect_eq "the same postmaster runs as the primary" "$(head -1 "$W/n1/data/postmaster.pid") $(local_sql 'SELECT pg_is_in_recovery()')" "$PM f"
tap_done
