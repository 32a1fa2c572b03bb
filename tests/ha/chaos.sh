#!/bin/bash
# chaos.sh - `make chaos`: a bounded run of N faults drawn at random (a seed makes the draw repeatable) from
# tests/lib/keepers.sh's list, on three `prodata keeper`s in network namespaces with the writers running
# (through the multi-host conninfo, and inside the primary's node straight to its address). Per fault it
# prints the write unavailability, the acknowledged rows lost, any write the old primary acknowledged after
# its fence deadline and any split brain (two writable primaries: check_writes' terms); at the end a summary
# line. Exit 1 on a split brain, a write acknowledged after a fence deadline, or an acknowledged row lost
# while the cluster runs synchronous; 2 when a promise of liveness failed (no new primary in time, no
# rejoin) and safety held; 3 when it cannot run (not root, no etcd). Not part of `make test`.
#   CHAOS_N (16, about 10 minutes; "each": every fault of the list once, in order)  CHAOS_SEED (the time)
#   CHAOS_FAULTS ("all": every fault; or a list)
#   CHAOS_SYNC (on: synchronous_mode=on in the cluster configuration; off)
set -u
cd "$(dirname "$0")/../.."
export PRODATA=${PRODATA:-$PWD/build/prodata}
source tests/lib/tap.sh
source tests/lib/etcd.sh
source tests/lib/netns.sh
source tests/lib/writers.sh
source tests/lib/keepers.sh
N=${CHAOS_N:-16}
SEED=${CHAOS_SEED:-$(date +%s)}
FAULT_LIST=${CHAOS_FAULTS:-all}
[ "$FAULT_LIST" = all ] && FAULT_LIST=$KC_FAULTS
read -r -a FAULT_ARRAY <<<"$FAULT_LIST"
EACH=0
[ "$N" = each ] && EACH=1 N=${#FAULT_ARRAY[@]}

netns_available || { echo "chaos: cannot run: $NETNS_UNAVAILABLE"; exit 3; }
command -v etcdctl >/dev/null || { echo "chaos: cannot run: no etcdctl (make deps)"; exit 3; }
WORK=$(mktemp -d /tmp/prodata-chaos.XXXXXX)
chmod 755 "$WORK"
WRITERS_DIR=$WORK
trap 'kc_down >/dev/null 2>&1; rm -rf "$WORK"' EXIT
trap 'exit 130' INT TERM

KC_CONFIG="postgresql_parameters.fsync=off postgresql_parameters.shared_buffers=16MB"
[ "${CHAOS_SYNC:-on}" = on ] && KC_CONFIG="synchronous_mode=on $KC_CONFIG"
echo "chaos: $N faults from {${FAULT_ARRAY[*]}}, seed $SEED (CHAOS_SEED=$SEED repeats the draw)"
kc_up "$WORK/kc" || { echo "chaos: could not set up the namespaces or etcd"; exit 3; }
if ! kc_wait_healthy 120; then
    echo "chaos: the cluster did not bootstrap within 120 s"
    tail -n 5 "$WORK"/kc/n*/keeper.log
    exit 2
fi
kc_sync_check
NO_SYNC=0
if [ "$KC_SYNC" = 1 ]; then echo "chaos: synchronous (rows lost must be 0)"
else
    # synchronous_mode is on (kc_up): a leader without synchronous_standby_names is a fault of the keeper
    echo "chaos: FAILED: synchronous_mode=on, yet the leader has no synchronous_standby_names (rows lost must be 0 all the same)"
    NO_SYNC=1 KC_SYNC=1
fi

RANDOM=$SEED
SPLIT=0 LATE=0 LOST=0 ACKED=0 UNSAFE=0 STUCK=0
for i in $(seq 1 "$N"); do
    if [ "$EACH" = 1 ]; then fault=${FAULT_ARRAY[$((i - 1))]}; else fault=${FAULT_ARRAY[$((RANDOM % ${#FAULT_ARRAY[@]}))]}; fi
    kc_trial "$fault" "chaos_$i"
    printf 'fault %d/%d %s\n' "$i" "$N" "$KC_RESULT"
    [ -n "$KC_UNSAFE" ] && { echo "  UNSAFE: $KC_UNSAFE"; UNSAFE=$((UNSAFE + 1)); grep -E '^(split brain|lost)' <<<"$KC_CHECK" | sed 's/^/  /'; }
    if [ -n "$KC_PROBLEMS" ]; then
        echo "  problem: $KC_PROBLEMS"
        STUCK=$((STUCK + 1))
        for node in n1 n2 n3; do
            grep -v 'slot .* created' "$KC_DIR/$node/keeper.log" | tail -n 6 | sed "s/^/  $node: /"
        done
    fi
    SPLIT=$((SPLIT + $(kc_field split_brain "$KC_RESULT" | grep -E '^[0-9]+$' || echo 0)))
    LATE=$((LATE + $(kc_field late_acks "$KC_RESULT" | grep -E '^[0-9]+$' || echo 0)))
    LOST=$((LOST + $(kc_field lost "$KC_RESULT" | grep -E '^[0-9]+$' || echo 0)))
    ACKED=$((ACKED + $(kc_field acknowledged "$KC_RESULT" | grep -E '^[0-9]+$' || echo 0)))
done
MODE=$([ "$KC_SYNC" = 1 ] && echo synchronous || echo asynchronous)
echo "chaos summary: faults=$N seed=$SEED mode=$MODE acknowledged=$ACKED lost=$LOST split_brain=$SPLIT late_acks=$LATE unsafe_faults=$UNSAFE stuck_faults=$STUCK"
[ "$UNSAFE" = 0 ] && [ "$NO_SYNC" = 0 ] || exit 1
[ "$STUCK" = 0 ] || exit 2
exit 0
