#!/bin/bash
# keeper_release.sh - a deliberate release of the leader key lets a lone survivor take over, a lost leader
# does not (docs/ha.md "A released key needs no grants"): three keepers on loopback with failsafe_mode on
# (the default) and one standby's node lost for good. A leader lost without a release (keeper, fence guard
# and postmaster killed) is NOT failed over by the last standby (it has one grant of the two needed); the
# lost leader started again leads again; a SIGTERM of the leader (PostgreSQL stopped, then the leader key
# deleted and the released key written in one transaction) hands over to the last standby within seconds,
# and its take deletes the released key; the node lost for good, taken out with `prodata cluster remove`,
# loses its replication slot on the leader. Skipped, counted, without etcd or PostgreSQL 15.
source tests/lib/tap.sh
source tests/lib/etcd.sh
source tests/lib/keeper_local.sh
tap_plan 9
tap_workdir
W=$TAP_WORKDIR
BIN=/usr/lib/postgresql/15/bin
KEEPER_LOCAL_LABEL="a released leader key"
KEEPER_LOCAL_NAME=rl
KEEPER_LOCAL_LOGS=keeper-release
KEEPER_LOCAL_NODES="1 2 3"
export ETCDCTL_API=3 PD_KEEPER_TEST_PASSWORD=rl-s3cret-Pa55 PGCONNECT_TIMEOUT=2
declare -a KPID PORT APORT

trap cleanup EXIT

keeper_local_etcd

released() { etcd_value released; }
keeper_local_configs
(cd "$W/n1" && "$PRODATA" cluster config set postgresql_parameters.fsync=off postgresql_parameters.shared_buffers=16MB \
    postgresql_parameters.max_connections=30 >/dev/null) || tap_fail_all "the cluster configuration could not be set"

for i in 1 2 3; do start_keeper "$i"; done
two_streaming() { [ "$(streaming)" = 2 ]; }
one_streaming() { [ "$(streaming)" = 1 ]; }
wait_for 90 two_streaming || tap_fail_all "the keepers did not bootstrap a cluster: $(tail -n 3 "$W"/n*/keeper.log | tr '\n' ' ')"
L=$(leader)
LI=$(index_of "$L")
DOWN=$((LI % 3 + 1))        # a standby lost for good
S=$((6 - LI - DOWN))        # the last standby
kill_node "$DOWN"
local_sql "$LI" "CREATE TABLE t (n int); INSERT INTO t VALUES (1)" >/dev/null

# ---- the leader lost without a release: the last standby holds one grant of the two it needs --------------
# the last standby streams, and its keeper has seen it at a tick: it is in the leader's roster count, so it
# may give grants (a standby that never was gives none, not even its own: docs/ha.md)
counted() { one_streaming && grep -qF "in the leader's roster count ($L)" "$W/n$S/keeper.log"; }
wait_for 30 counted || true
T0=$(now_ms)
kill_node "$LI"
taken_by_s() { [ "$(leader)" = "n$S" ]; }
if wait_for 15 taken_by_s; then
    tap_not_ok "a leader lost without a release is not failed over by the last standby" "n$S took the key"
else
    tap_ok "a leader lost without a release is not failed over by the last standby ($(seconds_since "$T0") s, key: '$(leader)')"
fi
expect_eq "no released key after a lost leader" "$(released)" ""
member() { etcd_value "members/n$1"; }
waits_grants() { member "$S" | grep -q '"waiting_for":"failsafe grants'; }
if wait_for 5 waits_grants; then tap_ok "n$S says it waits for failsafe grants"; else
    tap_not_ok "n$S says it waits for failsafe grants" "$(member "$S")"; fi

# ---- the lost leader back: a leader again (two of three grant), the last standby streaming ----------------
start_keeper "$LI"
if wait_for 120 one_streaming; then
    L=$(leader)
    LI=$(index_of "$L")
    S=$((6 - LI - DOWN))
    tap_ok "with two of three members alive $L leads and n$S streams from it"
else
    tap_not_ok "with two of three members alive a leader and a streaming standby" "$(tail -n 5 "$W"/n*/keeper.log)" \
        "members: $(etcd_get members --prefix --print-value-only | cut -c1-400)"
fi

# ---- the leader's SIGTERM: released, the last standby takes over without grants -----------------------------
T0=$(now_ms)
kill -TERM "${KPID[$LI]}"
promoted() { [ "$(leader)" = "n$S" ] && [ "$(local_sql "$S" 'SELECT pg_is_in_recovery()')" = f ]; }
if wait_for 10 promoted; then
    tap_ok "a SIGTERM of the leader hands over to the last standby n$S in $(seconds_since "$T0") s"
else
    tap_not_ok "a SIGTERM of the leader hands over to the last standby n$S" "$(tail -n 5 "$W"/n*/keeper.log)"
fi
grep -q "released by its last holder" "$W/n$S/keeper.log" && tap_ok "n$S took the key on the release" ||
    tap_not_ok "n$S took the key on the release" "$(grep 'leader key' "$W/n$S/keeper.log" | tail -n 3)"
expect_eq "the take deleted the released key" "$(released)" ""
wait_for 20 bash -c "! kill -0 ${KPID[$LI]} 2>/dev/null" || true

# ---- the node lost for good taken out of the roster: the leader drops its replication slot -----------------
slot_of_down() { local_sql "$S" "SELECT count(*) FROM pg_replication_slots WHERE slot_name = 'prodata_n$DOWN'"; }
slot_kept() { [ "$(slot_of_down)" = 1 ]; }
check "n$S, the leader now, keeps a slot for the lost n$DOWN (a roster member)" wait_for 15 slot_kept
cluster remove "n$DOWN" >"$W/remove.txt" 2>&1
slot_gone() { [ "$(slot_of_down)" = 0 ]; }
if wait_for 15 slot_gone; then tap_ok "prodata cluster remove n$DOWN: n$S dropped its slot prodata_n$DOWN"
else tap_not_ok "prodata cluster remove n$DOWN: the leader drops its slot" "$(cat "$W/remove.txt")" \
    "$(local_sql "$S" 'SELECT slot_name FROM pg_replication_slots')"; fi
tap_done
