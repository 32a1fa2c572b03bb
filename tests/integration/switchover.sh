#!/bin/bash
# switchover.sh - `prodata cluster switchover` and `cluster failover` on three `prodata keeper`s on loopback
# (a real etcd of their own, real PostgreSQL 15, the keepers' default settings): refusals first (--to the
# leader, an unknown member, a pending request, a paused cluster, a member whose keeper is stopped), each
# with exit 1 and its reason; then a switchover to a named standby under a writer (tests/ha/writer through
# the multi-host conninfo, judged by check_writes: no acknowledged row lost, no split brain), its time
# printed; the old primary streaming from the new one again without pg_rewind and without a clone; a
# switchover without --to; and a failover on a leaderless cluster whose only live standby is further
# behind than maximum_lag_on_failover_bytes (its WAL receiver stopped while the primary writes, then the
# primary's node lost): refused without --allow-data-loss, printing the bytes, done with it once
# failsafe_mode is set off (the WAL receiver stopped until then, so its position is the one judged). Skipped,
# counted, without etcd or PostgreSQL 15.
source tests/lib/tap.sh
source tests/lib/etcd.sh
source tests/lib/keeper_local.sh
source tests/lib/writers.sh
tap_plan 29
tap_workdir
W=$TAP_WORKDIR
WRITERS_DIR=$W
BIN=/usr/lib/postgresql/15/bin
KEEPER_LOCAL_LABEL=switchover
KEEPER_LOCAL_NAME=so
KEEPER_LOCAL_NODES="1 2 3"
KEEPER_LOCAL_LOGS=switchover
export ETCDCTL_API=3 PD_KEEPER_TEST_PASSWORD=so-s3cret-Pa55 PGCONNECT_TIMEOUT=2
export PGPASSWORD=$PD_KEEPER_TEST_PASSWORD # the writer and the checker log in as the replication role
declare -a KPID PORT

cleanup() {
    writer_stop multi 2>/dev/null
    keeper_local_cleanup
}
trap cleanup EXIT

[ -x "$WRITERS_BIN/writer" ] && [ -x "$WRITERS_BIN/check_writes" ] || skip_all "no tests/ha/writer (make)"
keeper_local_etcd

multi_host() {
    echo "host=127.0.0.1,127.0.0.1,127.0.0.1 port=${PORT[1]},${PORT[2]},${PORT[3]} user=replicator dbname=postgres target_session_attrs=read-write connect_timeout=2"
}

keeper_local_configs
cluster config set postgresql_parameters.fsync=off postgresql_parameters.shared_buffers=16MB \
    postgresql_parameters.max_connections=30 >/dev/null 2>&1 || tap_fail_all "the cluster configuration could not be set"

# ---- bootstrap -----------------------------------------------------------------------------------------------
for i in 1 2 3; do start_keeper "$i"; done
healthy() { [ "$(streaming)" = 2 ] && [ "$(local_sql "$(index_of "$(leader)")" 'SELECT pg_is_in_recovery()')" = f ]; }
if wait_for 90 healthy && wait_for 10 all_running; then tap_ok "bootstrap: one primary, two streaming standbys"
else tap_not_ok "bootstrap" "$(tail -n 5 "$W"/n*/keeper.log)"; skip_all "no healthy cluster"; fi
L=$(leader)
LI=$(index_of "$L")
S1=n$((LI % 3 + 1))
S2=n$(((LI + 1) % 3 + 1))
local_sql "$LI" "CREATE TABLE t (n bigint NOT NULL, label text NOT NULL, at timestamptz NOT NULL DEFAULT clock_timestamp(),
    PRIMARY KEY (label, n)); ALTER TABLE t OWNER TO replicator; GRANT CREATE ON SCHEMA public TO replicator" >/dev/null

# ---- refusals --------------------------------------------------------------------------------------------------
run_cmd cluster failover
expect_rc "usage: failover without --to (exit 2)" 2
run_cmd cluster switchover --allow-data-loss
expect_out "usage: --allow-data-loss goes with failover only" "allow-data-loss goes with failover"
run_cmd cluster switchover --to "$L"
expect_rc "refused: --to the leader (exit 1)" 1
expect_out "  ... saying it is the leader" "$L is the leader"
run_cmd cluster switchover --to n9
expect_rc "refused: --to an unknown member (exit 1)" 1
expect_out "  ... saying it is not a member" "n9 is not a member of the cluster"
# a live request pending (a leaderless failover's, which a leader leaves to expire): refused, naming it
NOW=$(now_ms)
etcdctl --endpoints "$ENDPOINTS" put /prodata/so/switchover \
    "{\"kind\":\"failover\",\"from\":null,\"to\":\"$S2\",\"requested_ms\":$NOW,\"timeout_ms\":600000,\"allow_data_loss\":false,\"lsn\":null,\"released_ms\":null,\"aborted\":null}" >/dev/null
run_cmd cluster switchover --to "$S1"
expect_rc "refused: a request pending (exit 1)" 1
expect_out "  ... naming it" "a failover from \(no leader\) to $S2 asked [0-9.]+ s ago is pending"
run_cmd cluster status
expect_out "cluster status shows the pending request in one line" "^failover from \(no leader\) to $S2, asked [0-9.]+ s ago"
etcdctl --endpoints "$ENDPOINTS" del /prodata/so/switchover >/dev/null
cluster pause >/dev/null
run_cmd cluster switchover --to "$S1"
expect_rc "refused: a paused cluster (exit 1)" 1
cluster resume >/dev/null
stop_keeper "$(index_of "$S2")"
run_cmd cluster switchover --to "$S2"
expect_out "refused: a member whose keeper is stopped, saying so" "$S2 has no member state in etcd"
start_keeper "$(index_of "$S2")"
expect_eq "nothing was written by the refusals (no request, the same leader)" "$(etcd_value switchover)|$(leader)" "|$L"

# ---- switchover --to S1 under a writer ----------------------------------------------------------------------
wait_for 60 healthy && wait_for 10 all_running
writer_start multi - "$(multi_host)" t
writer_wait_ack multi 0 15 >/dev/null || echo "# the writer is not acknowledged: $(tail -n 2 "$W/multi.csv" "$W/multi.err")"
sleep 0.5
T0=$(now_ms)
run_cmd cluster switchover --to "$S1"
expect_rc "switchover --to $S1: exit 0" 0
expect_out "  ... printing the handover and its time" "^switchover: $L -> $S1 in [0-9]+\.[0-9]+ s, timeline [2-9]"
echo "# switchover: $OUT"
writer_wait_ack multi "$T0" 20 "127.0.0.1:${PORT[$LI]}" >/dev/null
expect_eq "the leader key names $S1" "$(leader)" "$S1"
if wait_for 30 healthy; then tap_ok "the old primary $L streams from $S1 again"
else tap_not_ok "the old primary $L streams from $S1 again" "$(tail -n 8 "$W/n$LI/keeper.log")"; fi
if grep -q "rewind not needed" "$W/n$LI/keeper.log" && ! grep -qE "rejoining .* by pg_rewind|cloning from" "$W/n$LI/keeper.log"; then
    tap_ok "  ... without pg_rewind and without a clone (its keeper's log says rewind not needed)"
else tap_not_ok "  ... without pg_rewind and without a clone" "$(grep -E 'rewind|clon' "$W/n$LI/keeper.log")"; fi
sleep 1
writer_stop multi
writers_check - "$(multi_host)" t --fault-ms "$T0" -- multi
grep '^writer=multi ' <<<"$OUT" | sed 's/^/# switchover: /'
SUMMARY=$(grep '^summary ' <<<"$OUT")
expect_eq "the writer: no acknowledged row lost, no split brain" \
    "$(grep -oE 'lost=[0-9]+' <<<"$SUMMARY") $(grep -oE 'split_brain=[0-9]+' <<<"$SUMMARY")" "lost=0 split_brain=0"
expect_out "  ... and writes acknowledged after the switchover" "^writer=multi .*acknowledged=[1-9]"
HISTORY=$(etcd_value history)
check "the history holds $L -> $S1, reason switchover" grep -q "\"from\":\"$L\",\"to\":\"$S1\",\"reason\":\"switchover\"" <<<"$HISTORY"
expect_eq "the request is gone once done" "$(etcd_value switchover)" ""

# ---- switchover without --to ----------------------------------------------------------------------------------
wait_for 10 all_running
run_cmd cluster switchover --json
expect_rc "switchover without --to: exit 0" 0
NEW=$(jq -r .to <<<"$OUT" 2>/dev/null)
expect_eq "  ... --json names from and to, the leader key agrees" "$(jq -r .from <<<"$OUT" 2>/dev/null) $(leader)" "$S1 $NEW"
wait_for 30 healthy
wait_for 10 all_running

# ---- failover on a leaderless cluster, the standby further behind than the lag bound --------------------------
L=$(leader)
LI=$(index_of "$L")
A=n$((LI % 3 + 1))
AI=$(index_of "$A")
B=n$(((LI + 1) % 3 + 1))
stop_keeper "$(index_of "$B")" # B down: A is the only candidate
RECEIVER=$(local_sql "$AI" "SELECT pid FROM pg_stat_wal_receiver")
kill -STOP "$RECEIVER"
local_sql "$LI" "CREATE TABLE big AS SELECT g, repeat('x', 200) AS pad FROM generate_series(1, 40000) g" >/dev/null
sleep 1.5 # the leader publishes its position, A's keeper reads it
guard_kill "$LI"
kill -9 "${KPID[$LI]}" "$(head -1 "$W/n$LI/data/postmaster.pid")"
KPID[$LI]=""
behind() { etcd_value "members/$A" | grep -q 'a member within maximum_lag_on_failover_bytes'; }
if wait_for 20 behind; then tap_ok "no leader: $A waits, further behind than maximum_lag_on_failover_bytes"
else tap_not_ok "no leader: $A waits for a member within the lag bound" "$(etcd_value "members/$A")" "leader: $(leader)"; fi
run_cmd cluster failover --to "$A"
expect_rc "failover --to $A without --allow-data-loss: refused (exit 1)" 1
expect_out "  ... printing the bytes that may be lost" "promoting $A may lose up to [0-9]+ bytes"
kill -CONT "$RECEIVER" # its promotion stops it: it must run (what it still had buffered does not matter now)
# With failsafe_mode (the default), a member alone of three never takes the key: it cannot rule out the old
# primary writing without etcd under B's grant (docs/ha.md, "The etcd outage: failsafe grants"). The operator
# who knows both are down says so by setting it off, then fails over.
cluster config set failsafe_mode=false >/dev/null 2>&1
run_cmd cluster failover --to "$A" --allow-data-loss
expect_rc "failover --to $A --allow-data-loss: exit 0" 0
expect_eq "  ... $A leads as a primary" "$(leader) $(local_sql "$AI" 'SELECT pg_is_in_recovery()')" "$A f"
tap_done
