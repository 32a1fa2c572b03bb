#!/bin/bash
# keeper_sync_timeline.sh - synchronous mode (ANY 1 of the two standbys), a double fault: the primary n1 writes
# WAL its standbys do not receive (their WAL receivers frozen with SIGSTOP: a one-way cut), is fenced (its keeper
# frozen), a standby X takes over on timeline 2 and acknowledges rows (on the other standby Y), X is lost, then
# n1's keeper comes back. n1's last position is on timeline 1 and further than Y's on timeline 2; the failover
# rule compares the LSNs alone, so n1 counts itself "the most advanced" of the n - k + 1 positions read and
# takes the key back: the rows X acknowledged are gone, and Y can never follow n1's older timeline. The rule
# must compare (timeline, LSN) positions: a member on an older timeline holds no commit of a newer one. Fixed:
# Y takes over, n1 (stopped, publishing its timeline-1 position) counted among the n - k + 1 positions read.
# Three `prodata keeper`s on loopback, a real etcd and PostgreSQL 15; skipped, counted, without them.
source tests/lib/tap.sh
source tests/lib/etcd.sh
source tests/lib/keeper_local.sh
tap_plan 6
tap_workdir
W=$TAP_WORKDIR
BIN=/usr/lib/postgresql/15/bin
KEEPER_LOCAL_LABEL="keeper sync timeline"
KEEPER_LOCAL_NAME=ks
KEEPER_LOCAL_NODES="1 2 3"
KEEPER_LOCAL_LOGS=keeper-sync-timeline
export ETCDCTL_API=3 PD_KEEPER_TEST_PASSWORD=ks-s3cret-Pa55 PGCONNECT_TIMEOUT=2
declare -a KPID PORT

trap cleanup EXIT

keeper_local_etcd

keeper_local_configs
(cd "$W/n1" && "$PRODATA" cluster config set postgresql_parameters.fsync=off postgresql_parameters.shared_buffers=16MB \
    postgresql_parameters.max_connections=20 synchronous_mode=on synchronous_quorum=1 >/dev/null) ||
    tap_fail_all "the cluster configuration could not be set"

streaming_count() { local_sql "$1" "SELECT count(*) FROM pg_stat_replication WHERE state = 'streaming' AND application_name <> 'pg_basebackup'"; }
start_keeper 1
wait_for 60 primary_is 1 || tap_fail_all "n1 did not bootstrap a primary: $(tail -n 3 "$W/n1/keeper.log")"
start_keeper 2
start_keeper 3
two_streaming() { [ "$(streaming_count 1)" = 2 ] && [ -n "$(etcd_value sync)" ]; }
if wait_for 120 two_streaming; then tap_ok "bootstrap: n1 primary, n2 and n3 streaming, sync key $(etcd_value sync)"
else tap_not_ok "bootstrap" "$(tail -n 5 "$W"/n*/keeper.log)"; fi
local_sql 1 "CREATE TABLE t (n int); CREATE TABLE big (n int, pad text)" >/dev/null

# ---- n1 writes WAL no standby receives, then is fenced -----------------------------------------------------------
RECEIVERS="$(local_sql 2 "SELECT pid FROM pg_stat_wal_receiver") $(local_sql 3 "SELECT pid FROM pg_stat_wal_receiver")"
kill -STOP $RECEIVERS
BEFORE=$(lsn_of 1)
# Its commit waits for a standby forever; the WAL is on n1's disk meanwhile.
local_sql 1 "INSERT INTO big SELECT g, repeat('x', 400) FROM generate_series(1, 200000) g" 60 >/dev/null &
tail_published() { [ "$(local_sql 2 "SELECT pg_wal_lsn_diff('$(lsn_of 1)', '$BEFORE') > 50000000")" = t ]; }
if wait_for 60 tail_published; then tap_ok "n1 published a position 50 MB past what its standbys received"
else tap_not_ok "n1 published a position past its standbys" "$(lsn_of 1) vs $BEFORE"; fi
PM1=$(head -1 "$W/n1/data/postmaster.pid")
kill -STOP "${KPID[1]}"
n1_dead() { ! kill -0 "$PM1" 2>/dev/null; }
wait_for 20 n1_dead
kill -CONT $RECEIVERS

# ---- X (n2 or n3) takes over on timeline 2, acknowledges rows on Y; X is lost ------------------------------------
X=
new_leader() { X=$(etcd_value leader); [ "$X" = n2 ] || [ "$X" = n3 ]; }
xi() { echo "${X#n}"; }
x_writable() { new_leader && [ "$(local_sql "$(xi)" 'INSERT INTO t VALUES (0) RETURNING n')" = 0 ]; }
if wait_for 60 x_writable && [ "$(local_sql "$(xi)" 'INSERT INTO t SELECT generate_series(1, 20) RETURNING 1' 20 | wc -l)" = 20 ]; then
    tap_ok "$X took over (timeline $(local_sql "$(xi)" "SELECT timeline_id FROM pg_control_checkpoint()")) and acknowledged 21 rows in synchronous mode"
else
    tap_not_ok "a standby took over and acknowledged rows" "leader: $(etcd_value leader)" "$(tail -n 5 "$W/n2/keeper.log" "$W/n3/keeper.log")"
fi
# The new primary publishes where its timeline branched off (a standby stopped meanwhile keeps the old
# timeline's WAL past that point out of its recovery with it: docs/ha.md, "Joining standbys").
published_switch() { etcd_value "members/$X" | grep -o '"timeline_switch":{"parent":1,"lsn":"[0-9A-F]*/[0-9A-F]*"}'; }
wait_for 10 published_switch
expect_eq "$X publishes its timeline's switch from timeline 1" "$(published_switch | cut -c1-37)" '"timeline_switch":{"parent":1,"lsn":"'
XI=$(xi)
kill -9 "${KPID[$XI]}"
guard_kill "$XI"
kill -9 "$(head -1 "$W/n$XI/data/postmaster.pid")"
KPID[$XI]=
kill -CONT "${KPID[1]}"

# ---- who leads now, and with which rows ---------------------------------------------------------------------------
L=
writable_leader() { L=$(etcd_value leader); [ -n "$L" ] && [ "$L" != "$X" ] && [ "$(local_sql "${L#n}" 'SELECT pg_is_in_recovery()')" = f ]; }
if wait_for 90 writable_leader; then tap_ok "$L leads after $X's loss"
else
    # what the survivor Y holds, for the report: its positions (receive|replay|receiver tli|checkpoint tli|receiver status), WAL files, member states
    for y in 1 2 3; do [ "n$y" = "$X" ] || [ "$y" = 1 ] || Y=$y; done
    echo "DIAG Y=n$Y $(local_sql "$Y" "SELECT pg_last_wal_receive_lsn(), pg_last_wal_replay_lsn(), (SELECT received_tli FROM pg_stat_wal_receiver), (SELECT timeline_id FROM pg_control_checkpoint()), (SELECT status FROM pg_stat_wal_receiver)")" >&2
    echo "DIAG pg_wal: $(ls "$W/n$Y/data/pg_wal" | tr '\n' ' ')" >&2
    echo "DIAG member: $(etcd_value "members/n$Y")" >&2
    echo "DIAG member n1: $(etcd_value "members/n1")" >&2
    tap_not_ok "a member leads after $X's loss" "leader: $(etcd_value leader)" "$(tail -n 4 "$W/n1/keeper.log")"; fi
# The rows 0 to 20 were acknowledged; a first "INSERT ... VALUES (0)" whose client gave up while its commit
# waited for the standby may be there too, unacknowledged (docs/ha.md, patroni PR #1414): count distinct values.
expect_eq "the new leader ($L) holds the 21 rows $X acknowledged" "$(local_sql "${L#n}" 'SELECT count(DISTINCT n) FROM t')" 21
tap_done
