#!/bin/bash
# steady.sh - `make bench-steady`: no false failover while both cores are saturated by an unrelated load, and
# the keepers' resident memory over that run (issue 10, section 8). Three keepers at their DEFAULT settings
# (ttl 3 s, loop 1 s) in network namespaces (tests/lib/keepers.sh), a writer through the multi-host conninfo,
# and CPU hogs (two per core, at the keepers' own priority) for DURATION seconds (default 600). Every 10 s it
# samples the leader, the failover history's length, each keeper's VmRSS and the load average; at the end it
# prints the leader changes, the longest gap between two acknowledged writes and the memory at start and end.
# Not a test: it prints figures and asserts nothing. Needs root (namespaces). README.md here.
#   DURATION=600 HOGS_PER_CORE=2 bench/failover/steady.sh
set -u
cd "$(dirname "$0")/../.."
export PRODATA=${PRODATA:-$PWD/build/prodata}
DURATION=${DURATION:-600}
HOGS_PER_CORE=${HOGS_PER_CORE:-2}
source tests/lib/tap.sh
source tests/lib/etcd.sh
source tests/lib/netns.sh
source tests/lib/writers.sh
source tests/lib/keepers.sh

WORK=$(mktemp -d /tmp/prodata-bench-steady.XXXXXX)
chmod 755 "$WORK"
WRITERS_DIR=$WORK
HOGS=()
cleanup() {
    [ ${#HOGS[@]} -gt 0 ] && kill "${HOGS[@]}" 2>/dev/null
    kc_down >/dev/null 2>&1
    rm -rf "$WORK"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

rss_kib() { awk '/^VmRSS:/ { print $2 }' "/proc/$1/status" 2>/dev/null || echo -; }
# The failover history's entries (0 while the key is absent, "-" when etcd did not answer).
history_length() {
    local doc
    doc=$(kc_etcdctl get "/prodata/$KC_CLUSTER/history" --print-value-only) || { echo -; return; }
    if [ -z "$doc" ]; then echo 0; else jq 'length' <<<"$doc" 2>/dev/null || echo -; fi
}

if ! netns_available 2>/dev/null; then
    echo "bench-steady: not run: $NETNS_UNAVAILABLE"
    exit 0
fi
echo "bench-steady: three keepers at default settings, $DURATION s with $((HOGS_PER_CORE * $(nproc))) CPU hogs on $(nproc) cores"
kc_up "$WORK/kc" || { echo "bench-steady: could not set up the namespaces or etcd"; exit 1; }
kc_wait_healthy 120 || { echo "bench-steady: the cluster did not bootstrap within 120 s"; exit 1; }
kc_table steady
writer_start multi client "$KC_MULTI" steady --interval-ms 50
writer_wait_ack multi "$(kc_now)" 30 >/dev/null || { echo "bench-steady: the writer got no acknowledgement"; exit 1; }

leader0=$(kc_leader)
history0=$(history_length)
declare -a rss0
declare -a rssmax=(0 0 0 0)
for i in 1 2 3; do rss0[i]=$(rss_kib "${KC_KPID[i]}") && rssmax[i]=${rss0[i]}; done
for i in $(seq 1 $((HOGS_PER_CORE * $(nproc)))); do
    sh -c 'while :; do :; done' &
    HOGS+=($!)
done

printf '%8s  %-6s  %7s  %10s %10s %10s  %s\n' elapsed leader history "n1 KiB" "n2 KiB" "n3 KiB" "load average"
start=$SECONDS
changes=0
last=$leader0
while [ $((SECONDS - start)) -lt "$DURATION" ]; do
    sleep 10
    leader=$(kc_leader)
    [ -n "$leader" ] && [ "$leader" != "$last" ] && { changes=$((changes + 1)); last=$leader; }
    line=()
    for i in 1 2 3; do
        r=$(rss_kib "${KC_KPID[i]}")
        line+=("$r")
        [[ $r =~ ^[0-9]+$ ]] && [ "$r" -gt "${rssmax[i]}" ] && rssmax[i]=$r
    done
    printf '%7ss  %-6s  %7s  %10s %10s %10s  %s\n' $((SECONDS - start)) "${leader:--}" "$(history_length)" \
        "${line[@]}" "$(cut -d' ' -f1-3 /proc/loadavg)"
done
kill "${HOGS[@]}" 2>/dev/null
wait "${HOGS[@]}" 2>/dev/null
HOGS=()
writer_stop multi
writers_check client "$KC_MULTI" steady -- multi

echo
echo "| measure | prodata keeper, defaults (ttl 3 s, loop 1 s) |"
echo "|---|---|"
echo "| run | $DURATION s, $((HOGS_PER_CORE * $(nproc))) CPU hogs on $(nproc) cores |"
echo "| leader at start / end | $leader0 / $(kc_leader) |"
echo "| leader changes seen (10 s samples) | $changes |"
history1=$(history_length)
if [[ $history0 =~ ^[0-9]+$ && $history1 =~ ^[0-9]+$ ]]; then added=$((history1 - history0)); else added="- (etcd did not answer)"; fi
echo "| failover history entries added | $added |"
echo "| writes acknowledged / lost / longest gap | $(kc_field acknowledged "$OUT") / $(grep -o 'lost=[0-9]*' <<<"$OUT" | head -1 | cut -d= -f2) / $(kc_field longest_gap_ms "$OUT") ms |"
for i in 1 2 3; do
    echo "| keeper n$i VmRSS start -> end (max) | ${rss0[i]} -> $(rss_kib "${KC_KPID[i]}") KiB (${rssmax[i]}) |"
done
echo "- load average at the end: $(cut -d' ' -f1-3 /proc/loadavg)"
