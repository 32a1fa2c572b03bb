#!/bin/bash
# switchover_behind.sh - a switchover to a standby that has NOT received the old primary's last WAL, on two
# `prodata keeper`s on loopback (a real etcd of their own, real PostgreSQL 15, asynchronous mode, the keepers'
# default settings). The standby's WAL receiver is frozen (SIGSTOP: pg_stat_wal_receiver still says
# "streaming", so its member state qualifies) and its walsender on the primary ended, then the primary
# acknowledges 100 rows the standby never gets. A switchover to it must not lose them: the leader may
# release its key only once the candidate has published a position past its last record; otherwise the
# request is aborted (exit 1, the reason named) and the old primary goes on leading with every row.
# Skipped, counted, without etcd or PostgreSQL 15.
source tests/lib/tap.sh
source tests/lib/etcd.sh
source tests/lib/keeper_local.sh
tap_plan 5
tap_workdir
W=$TAP_WORKDIR
BIN=/usr/lib/postgresql/15/bin
KEEPER_LOCAL_LABEL="switchover behind"
KEEPER_LOCAL_NAME=sb
KEEPER_LOCAL_NODES="1 2"
KEEPER_LOCAL_LOGS=switchover_behind
export ETCDCTL_API=3 PD_KEEPER_TEST_PASSWORD=so-s3cret-Pa55 PGCONNECT_TIMEOUT=2
declare -a KPID PORT
RECEIVER=""

cleanup() {
    [ -n "$RECEIVER" ] && kill -CONT "$RECEIVER" 2>/dev/null
    keeper_local_cleanup
}
trap cleanup EXIT

keeper_local_etcd

keeper_local_configs
cluster config set postgresql_parameters.fsync=off postgresql_parameters.shared_buffers=16MB \
    postgresql_parameters.max_connections=30 >/dev/null 2>&1 || tap_fail_all "the cluster configuration could not be set"

for i in 1 2; do start_keeper "$i"; done
healthy() { [ "$(streaming)" = 1 ]; }
if wait_for 90 healthy && wait_for 10 all_running; then tap_ok "bootstrap: one primary, one streaming standby"
else tap_not_ok "bootstrap" "$(tail -n 5 "$W"/n*/keeper.log)"; skip_all "no healthy cluster"; fi
L=$(leader)
LI=$(index_of "$L")
SI=$((LI % 2 + 1))
S=n$SI
local_sql "$LI" "CREATE TABLE t (n int PRIMARY KEY)" >/dev/null
has_table() { [ "$(local_sql "$SI" "SELECT count(*) FROM pg_class WHERE relname = 't'")" = 1 ]; }
wait_for 10 has_table

# The standby's receiver frozen (still "streaming" to its keeper), its walsender ended: nothing more reaches it.
RECEIVER=$(local_sql "$SI" "SELECT pid FROM pg_stat_wal_receiver")
kill -STOP "$RECEIVER"
local_sql "$LI" "SELECT pg_terminate_backend(pid) FROM pg_stat_replication" >/dev/null
no_sender() { [ "$(local_sql "$LI" "SELECT count(*) FROM pg_stat_replication")" = 0 ]; }
wait_for 10 no_sender
ACKED=0
for n in $(seq 1 100); do local_sql "$LI" "INSERT INTO t VALUES ($n)" >/dev/null && ACKED=$((ACKED + 1)); done
sleep 1.5 # the leader publishes its position; the standby's lag stays far below maximum_lag_on_failover_bytes
(sleep 2 && kill -CONT "$RECEIVER") &

run_cmd cluster switchover --to "$S" --timeout 40
echo "# switchover: rc $RC: $OUT"
expect_rc "switchover --to $S, which lacks the last WAL: refused (exit 1)" 1
expect_out "  ... naming why" "$S has not received"
primary_leads() { local l; l=$(leader); [ -n "$l" ] && [ "$(local_sql "$(index_of "$l")" 'SELECT pg_is_in_recovery()')" = f ]; }
wait_for 60 primary_leads
NL=$(leader)
expect_eq "every acknowledged row ($ACKED) is on the leader ($NL) afterwards" \
    "$(local_sql "$(index_of "$NL")" 'SELECT count(*) FROM t')" "$ACKED"
if wait_for 60 healthy; then tap_ok "the standby streams again"
else tap_not_ok "the standby streams again" "$(tail -n 5 "$W"/n*/keeper.log)"; fi
tap_done
