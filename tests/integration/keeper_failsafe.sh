#!/bin/bash
# keeper_failsafe.sh - an etcd outage is not a partition (docs/ha.md, "The etcd outage: failsafe grants"):
# three keepers and etcd in network namespaces (tests/lib/keepers.sh), the writers running, failsafe_mode on
# (the default) unless said. (a) etcd unreachable for every keeper for 9 s (3 x ttl_s): the primary stays
# writable the whole time (the multi-host writer's longest gap under 2 s), no failover, the history and the
# timeline unchanged, and the same node holds the leader key once etcd is back. (b) the primary cut off from
# etcd but not from its peers: it keeps writing under their grants (the leader key expires in etcd, yet no
# standby takes it: each holds a live grant to the primary), no split brain, and it takes its key back when
# the cut heals. (c) the primary cut off from everything: no grant reaches it, it fences at its lease's
# deadline (no write acknowledged by it after), another node takes over (the failover time printed: the
# taker's round returns with the one grant it needs), no split brain. (d) failsafe_mode=false, then (a)'s
# outage: the primary fences as before (no write acknowledged after its deadline), writes come back after
# etcd does. Needs root (skipped and counted as a user), etcd and PostgreSQL 15.
source tests/lib/tap.sh
source tests/lib/etcd.sh
source tests/lib/netns.sh
source tests/lib/writers.sh
source tests/lib/keepers.sh
kc_test_begin 12 "failsafe under network faults"

KC_CONFIG="postgresql_parameters.fsync=off postgresql_parameters.shared_buffers=16MB postgresql_parameters.max_connections=30"
kc_up "$TAP_WORKDIR/kc" || tap_fail_all "the namespaces or etcd could not be set up"
check "bootstrap in namespaces: one primary, two standbys streaming (within 120 s)" kc_wait_healthy 120

# fs_timeline NODE: the timeline of NODE's current WAL file (a promotion starts a new one).
fs_timeline() { kc_sql "$1" "select substr(pg_walfile_name(pg_current_wal_lsn()), 1, 8)"; }
fs_history() { kc_etcdctl get "/prodata/$KC_CLUSTER/history" --print-value-only | md5sum; }

fs_report() {
    echo "# $KC_RESULT"
    sed 's/^/#   /' <<<"$KC_CHECK"
    if [ -n "$KC_PROBLEMS$KC_UNSAFE" ]; then
        for node in n1 n2 n3; do
            echo "# $node's keeper log ends:"
            grep -v 'slot .* created' "$KC_DIR/$node/keeper.log" | tail -n 15 | sed 's/^/#   /'
        done
    fi
}

# fs_same NAME FAULT: a trial where the primary must go on writing; the checks of (a) and (b).
fs_same() {
    local name=$1 fault=$2 timeline history gap
    kc_wait_healthy 60
    timeline=$(fs_timeline "$(kc_leader)") history=$(fs_history)
    kc_trial "$fault" "t_$fault"
    fs_report
    gap=$(kc_field longest_gap_ms "$(grep '^writer=multi ' <<<"$KC_CHECK")")
    if [ -z "$KC_UNSAFE" ] && [ -n "$KC_RESULT" ] && [ "$(kc_field split_brain "$KC_RESULT")" = 0 ]; then
        tap_ok "$name: no split brain, the same primary ($KC_OLD) throughout"
    else tap_not_ok "$name: safety" "${KC_UNSAFE:-$KC_PROBLEMS}"; fi
    if [ -z "$KC_PROBLEMS" ] && [ "$(kc_leader)" = "$KC_OLD" ] && [ -n "$gap" ] && [ "$gap" -lt 2000 ]; then
        tap_ok "$name: $KC_OLD writable the whole time (longest gap $gap ms) and holds the leader key again"
    else tap_not_ok "$name: liveness" "${KC_PROBLEMS:-leader $(kc_leader), longest gap ${gap:-none} ms}"; fi
    if [ "$(fs_timeline "$KC_OLD")" = "$timeline" ] && [ "$(fs_history)" = "$history" ]; then
        tap_ok "$name: no failover: timeline $timeline and the history unchanged"
    else tap_not_ok "$name: no failover" "timeline $timeline -> $(fs_timeline "$KC_OLD"), history changed?"; fi
}

# (a) etcd unreachable for all for 3 x ttl_s
KC_OUTAGE_S=9
fs_same "(a) etcd unreachable for every keeper for 9 s" etcd_all
grep -q 'writable without etcd, failsafe granted by' "$KC_DIR/$KC_OLD/keeper.log" &&
    echo "# $KC_OLD's log: $(grep -m1 'writable without etcd' "$KC_DIR/$KC_OLD/keeper.log" | cut -c1-200)"

# (b) the primary cut off from etcd only: it keeps writing under grants (the standbys hold live grants to it,
# so none takes the expired key)
KC_OUTAGE_S=8
fs_same "(b) the primary cut off from etcd, not from its peers" cut_etcd

# (c) the primary cut off from everything: fenced, failover
kc_trial isolate t_isolate
fs_report
if [ -z "$KC_UNSAFE" ] && [ -n "$KC_RESULT" ]; then
    tap_ok "(c) the primary ($KC_OLD) isolated: no split brain, no write acknowledged by it after its fence deadline"
else tap_not_ok "(c) isolated primary: safety" "${KC_UNSAFE:-$KC_PROBLEMS}"; fi
if [ -z "$KC_PROBLEMS" ] && [ "$(kc_field new "$KC_RESULT")" != "$KC_OLD" ]; then
    tap_ok "(c) $(kc_field new "$KC_RESULT") took over in $(kc_field unavailability_ms "$KC_RESULT") ms, $KC_OLD rejoined"
else tap_not_ok "(c) isolated primary: liveness" "$KC_PROBLEMS"; fi
echo "# failover time (isolation, failsafe on): unavailability_ms=$(kc_field unavailability_ms "$KC_RESULT")"

# (d) failsafe_mode off: the etcd outage fences the primary, as before failsafe existed
check "(d) failsafe_mode=false set" bash -c "cd '$KC_DIR/n1' && ip netns exec $(netns_name n1) timeout 20 '$PRODATA' cluster config set failsafe_mode=false >/dev/null"
sleep 2 # every keeper reads it within a loop
KC_FAILSAFE=0 KC_OUTAGE_S=8
kc_trial etcd_all t_off
fs_report
if [ -z "$KC_UNSAFE" ] && [ -n "$KC_RESULT" ] && [ "$(kc_field late_acks "$KC_RESULT")" = 0 ]; then
    tap_ok "(d) failsafe off, etcd out: $KC_OLD fenced (no write acknowledged after its deadline), no split brain"
else tap_not_ok "(d) failsafe off: safety" "${KC_UNSAFE:-$KC_PROBLEMS}"; fi
gap=$(kc_field longest_gap_ms "$(grep '^writer=multi ' <<<"$KC_CHECK")")
if [ -z "$KC_PROBLEMS" ] && [ -n "$gap" ] && [ "$gap" -ge 5000 ]; then
    tap_ok "(d) writes stopped during the outage (longest gap $gap ms) and came back after etcd did"
else tap_not_ok "(d) failsafe off: the outage" "${KC_PROBLEMS:-longest gap ${gap:-none} ms: the primary was not fenced?}"; fi
tap_done
