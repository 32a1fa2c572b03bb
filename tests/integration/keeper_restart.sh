#!/bin/bash
# keeper_restart.sh - a primary's keeper killed (kill -9, its fence guard left running) and started again at
# once, as a service manager does: the new process finds the leader key under its former process's lease and
# revokes that lease, which frees the key at once, while the old guard fences only at that lease's deadline
# (ttl_s 10 here: seconds later). The new keeper must kill its primary BEFORE the revoke: it is frozen
# (SIGSTOP, a keeper hung at the worst moment) as soon as it logs the revoke, the standby (n0, the smaller
# name, so it wins the tie) takes over, and a write straight to the old primary must then fail: before the
# fix it was acknowledged there while n0 took writes too. After SIGCONT the old primary rejoins as a standby.
# Two `prodata keeper`s on loopback, a real etcd and PostgreSQL 15; skipped, counted, without them.
source tests/lib/tap.sh
source tests/lib/etcd.sh
source tests/lib/keeper_local.sh
tap_plan 5
tap_workdir
W=$TAP_WORKDIR
BIN=/usr/lib/postgresql/15/bin
KEEPER_LOCAL_LABEL="keeper restart"
KEEPER_LOCAL_NAME=kr
KEEPER_LOCAL_NODES="0 1"
KEEPER_LOCAL_LOGS=keeper-restart
export ETCDCTL_API=3 PD_KEEPER_TEST_PASSWORD=kr-s3cret-Pa55 PGCONNECT_TIMEOUT=2
declare -a KPID PORT

cleanup() {
    [ -n "${OLD_GUARD:-}" ] && kill -9 "$OLD_GUARD" 2>/dev/null
    keeper_local_cleanup
}
trap cleanup EXIT

keeper_local_etcd

keeper_local_configs
(cd "$W/n1" && "$PRODATA" cluster config set postgresql_parameters.fsync=off postgresql_parameters.shared_buffers=16MB \
    postgresql_parameters.max_connections=20 ttl_s=10 >/dev/null) || tap_fail_all "the cluster configuration could not be set"

# n1 initialises the cluster, n0 clones it.
start_keeper 1
n1_primary() { [ "$(etcd_value leader)" = n1 ] && [ "$(local_sql 1 'SELECT pg_is_in_recovery()')" = f ]; }
wait_for 60 n1_primary || tap_fail_all "n1 did not bootstrap a primary: $(tail -n 3 "$W/n1/keeper.log")"
start_keeper 0
# n0 must also have seen itself stream from the leader (its keeper's tick), or it counts in no leader's roster
# and may not take the key without grants (docs/ha.md, failsafe)
counted() { grep -q "in the leader's roster count" "$W/n0/keeper.log"; }
if wait_for 90 streams_from 1 && wait_for 10 counted; then tap_ok "bootstrap: n1 primary, n0 streaming"
else tap_not_ok "bootstrap: n1 primary, n0 streaming" "$(tail -n 5 "$W"/n*/keeper.log)"; fi
local_sql 1 "CREATE TABLE t (n int)" >/dev/null

# ---- n1's keeper killed and started again: the revoke of its former lease ---------------------------------
OLD_GUARD=$(pgrep -P "${KPID[1]}" -f "prodata keeper" | head -1)
REVOKES=$(grep -c "former lease [0-9a-f]*: revoked" "$W/n1/keeper.log")
kill -9 "${KPID[1]}"
start_keeper 1
revoked() { [ "$(grep -c "former lease [0-9a-f]*: revoked" "$W/n1/keeper.log")" -gt "$REVOKES" ]; }
if wait_for 20 revoked; then
    kill -STOP "${KPID[1]}"
    tap_ok "the restarted keeper revoked its former process's lease (then frozen)"
else
    tap_not_ok "the restarted keeper revoked its former process's lease" "$(tail -n 5 "$W/n1/keeper.log")"
fi
n0_writable() { [ "$(etcd_value leader)" = n0 ] && [ "$(local_sql 0 'INSERT INTO t VALUES (0) RETURNING n')" = 0 ]; }
T0=$(now_ms)
if wait_for 30 n0_writable; then tap_ok "n0 took the leader key and a write in $(seconds_since "$T0") s"
else tap_not_ok "n0 took the leader key and a write" "leader: $(etcd_value leader)" "$(tail -n 5 "$W/n0/keeper.log")"; fi
ON_N1=$(local_sql 1 'INSERT INTO t VALUES (1) RETURNING n')
expect_eq "no write acknowledged by the old primary n1 once n0 takes writes" "${ON_N1:-refused}" refused
kill -CONT "${KPID[1]}"

# ---- the old primary rejoins ----------------------------------------------------------------------------
T0=$(now_ms)
if wait_for 90 streams_from 0; then tap_ok "n1 rejoined as n0's standby in $(seconds_since "$T0") s"
else tap_not_ok "n1 rejoined as n0's standby" "$(tail -n 8 "$W/n1/keeper.log")"; fi
tap_done
