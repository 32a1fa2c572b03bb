#!/bin/bash
# keeper_faults.sh - the keeper under real faults (tests/lib/keepers.sh): three `prodata keeper`s, each with
# its PostgreSQL in a network namespace of its own, etcd in another, writers in a client node through the
# multi-host conninfo and inside the primary's node straight to its address. Four faults, the most
# important, each on whichever node leads then: the primary cut off from everything (nftables), node loss
# (keeper, fence guard and postmaster killed together), kill -9 of the postmaster alone, the primary's keeper
# frozen by SIGSTOP. Each: no split brain (check_writes, by (server, timeline) terms), no write acknowledged
# by the old primary after its fence deadline (fault + ttl - fence margin), a write acknowledged on a new
# primary within 40 s (the same primary for the postmaster kill), the old primary back as a streaming
# standby within 120 s; synchronous_mode=on, and rows lost asserted 0 when the leader runs with
# synchronous_standby_names set (a keeper without synchronous mode: printed only). The
# figures of each trial are printed. The other faults run in `make chaos` (tests/ha/chaos.sh). Needs root
# (skipped and counted as a user), etcd and PostgreSQL 15.
source tests/lib/tap.sh
source tests/lib/etcd.sh
source tests/lib/netns.sh
source tests/lib/writers.sh
source tests/lib/keepers.sh
FAULTS=(isolate nodeloss pmkill sigstop)
tap_plan $((2 + 2 * ${#FAULTS[@]}))
tap_workdir
chmod 755 "$TAP_WORKDIR"
WRITERS_DIR=$TAP_WORKDIR
trap 'kc_down >/dev/null 2>&1; rm -rf "$TAP_WORKDIR"' EXIT

skip_all() {
    while [ "$TAP_COUNT" -lt "$TAP_PLAN" ]; do tap_skip "keeper under network faults" "$1"; done
    tap_done
    exit
}
netns_available 2>/dev/null || skip_all "$NETNS_UNAVAILABLE"
[ -x /usr/lib/postgresql/15/bin/initdb ] || skip_all "no PostgreSQL 15"
command -v etcdctl >/dev/null || skip_all "no etcdctl (Debian's etcd-client)"

KC_CONFIG="synchronous_mode=on postgresql_parameters.fsync=off postgresql_parameters.shared_buffers=16MB postgresql_parameters.max_connections=30"
T0=$(kc_now)
kc_up "$TAP_WORKDIR/kc" || tap_fail_all "the namespaces or etcd could not be set up"
check "bootstrap in namespaces: one primary, two standbys streaming (within 120 s)" kc_wait_healthy 120
echo "# bootstrap: $((($(kc_now) - T0) / 1000)) s"
kc_sync_check
if [ "$KC_SYNC" = 1 ]; then
    tap_ok "synchronous_mode=on: the leader has synchronous_standby_names ($(kc_sql "$(kc_leader)" 'show synchronous_standby_names')): rows lost are asserted 0"
else
    tap_not_ok "synchronous_mode=on: the leader has synchronous_standby_names" \
        "it has none: a fault of the keeper; rows lost are asserted 0 all the same"
    KC_SYNC=1
fi

for fault in "${FAULTS[@]}"; do
    kc_trial "$fault" "t_$fault"
    echo "# $KC_RESULT"
    sed 's/^/#   /' <<<"$KC_CHECK"
    if [ -z "$KC_UNSAFE" ] && [ -n "$KC_RESULT" ]; then
        tap_ok "$fault of the primary ($KC_OLD): no split brain, no write acknowledged by it after its fence deadline"
    else tap_not_ok "$fault of the primary: safety" "${KC_UNSAFE:-$KC_PROBLEMS}"; fi
    if [ -z "$KC_PROBLEMS" ]; then
        case "$fault" in
            pmkill) tap_ok "$fault: $KC_OLD writable again in place, its standbys streaming again" ;;
            *) tap_ok "$fault: a new primary ($(kc_field new "$KC_RESULT")) took writes, $KC_OLD rejoined as a standby" ;;
        esac
    else
        tap_not_ok "$fault: liveness" "$KC_PROBLEMS"
        for node in n1 n2 n3; do
            echo "# $node's keeper log ends:"
            grep -v 'slot .* created' "$KC_DIR/$node/keeper.log" | tail -n 12 | sed 's/^/#   /'
        done
    fi
done
tap_done
