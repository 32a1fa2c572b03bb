#!/bin/bash
# run.sh - `make bench-failover`: write unavailability, acknowledged rows lost and rejoin time of prodata's
# keeper at its DEFAULT settings (no cluster configuration set: ttl 3 s, loop 1 s, asynchronous), beside
# Patroni 3 with ../shared/anchors/patroni (its own defaults: ttl 30 s, loop_wait 10 s) in the same run.
# Trials: postmaster crash, whole-node loss (keeper, fence guard, postmaster killed), primary network
# isolation (nftables, tests/lib/netns.sh), switchover. REPS trials each (default 10). Not a test: it prints
# a table, asserts nothing. Needs root (namespaces; the Patroni anchor runs as root too). README.md here.
#   REPS=3 bench/failover/run.sh     PATRONI_ANCHOR=/path (default /work/shared/anchors/patroni; "none": skip)
set -u
cd "$(dirname "$0")/../.."
export PRODATA=${PRODATA:-$PWD/build/prodata}
REPS=${REPS:-10}
ANCHOR=${PATRONI_ANCHOR:-/work/shared/anchors/patroni}
source tests/lib/tap.sh
source tests/lib/etcd.sh
source tests/lib/netns.sh
source tests/lib/writers.sh
source tests/lib/keepers.sh

WORK=$(mktemp -d /tmp/prodata-bench-failover.XXXXXX)
chmod 755 "$WORK"
WRITERS_DIR=$WORK
ROWS=$WORK/rows.tsv # system scenario unavailability_s lost rejoin_s split_brain ("-": not judged)
: >"$ROWS"
PATRONI_DONE=0
cleanup() {
    kc_down >/dev/null 2>&1
    [ "$PATRONI_DONE" = started ] && "$WORK/patroni/run.sh" stop >/dev/null 2>&1
    rm -rf "$WORK"
}
trap cleanup EXIT
trap 'exit 130' INT TERM
NOTES=()

seconds() { awk -v ms="$1" 'BEGIN { if (ms ~ /^[0-9]+$/) printf "%.2f", ms / 1000; else print "-" }'; }

prodata_trials() {
    local scenario=$1 fault=$2 i unavail
    for i in $(seq 1 "$REPS"); do
        if ! kc_trial "$fault" "b_${fault}_$i"; then
            echo "  prodata $scenario $i: ${KC_UNSAFE:+UNSAFE: $KC_UNSAFE; }$KC_PROBLEMS"
        fi
        # A crash restarted in place is measured to the first write acknowledged after the failed ones
        # (recovery); a failover to the first write acknowledged by the new primary (unavailability).
        if [ "$fault" = pmkill ]; then unavail=$(kc_field recovery_ms "$KC_RESULT")
        else unavail=$(kc_field unavailability_ms "$KC_RESULT"); fi
        echo "  prodata $scenario $i: $KC_RESULT"
        grep -E '^split brain: [^n]' <<<"$KC_CHECK" | sed 's/^/    /'
        printf 'prodata\t%s\t%s\t%s\t%s\t%s\n' "$scenario" "$(seconds "$unavail")" "$(kc_field lost "$KC_RESULT")" \
            "$(seconds "$(kc_field rejoin_ms "$KC_RESULT")")" "$(kc_field split_brain "$KC_RESULT")" >>"$ROWS"
    done
}

run_prodata() {
    if ! netns_available 2>/dev/null; then NOTES+=("prodata: not run: $NETNS_UNAVAILABLE"); return; fi
    echo "prodata: three keepers in network namespaces, default settings, $REPS trials each"
    kc_up "$WORK/kc" || { NOTES+=("prodata: could not set up the namespaces or etcd"); return; }
    kc_wait_healthy 120 || { NOTES+=("prodata: the cluster did not bootstrap within 120 s"); return; }
    prodata_trials "postmaster crash" pmkill
    prodata_trials "node loss" nodeloss
    prodata_trials "network isolation" isolate
    prodata_trials "switchover" switchover
    kc_down >/dev/null 2>&1
}

# The anchor is copied into the work directory: its results (results/trials.jsonl) stay out of the shared
# folder, and this run reads only its own trials.
run_patroni() {
    local scenario trial line
    if [ ! -x "$ANCHOR/run.sh" ]; then NOTES+=("patroni: skipped: no anchor at $ANCHOR"); return; fi
    if ! command -v patroni >/dev/null || ! /usr/bin/python3 -c 'import psycopg2, yaml, etcd' 2>/dev/null; then
        NOTES+=("patroni: skipped: Debian's patroni, python3-etcd, python3-psycopg2, python3-yaml are not installed")
        return
    fi
    cp -r "$ANCHOR" "$WORK/patroni" && rm -rf "$WORK/patroni/results"
    echo "patroni: the anchor's cluster, its default settings (ttl 30, loop_wait 10, retry_timeout 10), $REPS trials each"
    PATRONI_DONE=started
    if ! "$WORK/patroni/run.sh" setup default >"$WORK/patroni-setup.log" 2>&1; then
        NOTES+=("patroni: setup failed: $(tail -1 "$WORK/patroni-setup.log")")
        return
    fi
    for scenario in pmkill nodeloss switchover; do
        for trial in $(seq 1 "$REPS"); do
            ANCHOR_IDX=$trial "$WORK/patroni/run.sh" trial default "$scenario" >"$WORK/patroni-trial.log" 2>&1 ||
                echo "  patroni $scenario $trial: failed: $(tail -1 "$WORK/patroni-trial.log")"
            grep -h 'RESULT' "$WORK/patroni-trial.log" | sed 's/^/  patroni: /'
        done
    done
    /usr/bin/python3 - "$WORK/patroni/results/trials.jsonl" >>"$ROWS" <<'PY'
import json, sys
names = {'pmkill': 'postmaster crash', 'nodeloss': 'node loss', 'switchover': 'switchover'}
for line in open(sys.argv[1]):
    t = json.loads(line)
    if 'failed' in t:
        continue
    scenario = names.get(t['trial'].split('-')[1], t['trial'])
    rejoin = t.get('rejoin_s')
    print('patroni\t%s\t%.2f\t%d\t%s\t-' % (scenario, t['unavail_s'], t['acked_lost'],
                                            '-' if rejoin is None else '%.2f' % rejoin))
PY
    NOTES+=("patroni: network isolation not measured: the anchor has no isolation trial")
    "$WORK/patroni/run.sh" stop >/dev/null 2>&1
    PATRONI_DONE=1
}

# The table: per system and scenario, unavailability min/median/max, rows lost (total), rejoin median, the
# trials with a split brain (check_writes; "-": the anchor does not judge it).
report() {
    echo
    echo "| system | scenario | trials | write unavailability s (min / median / max) | acknowledged rows lost | rejoin s (median) | split brain (trials) |"
    echo "|---|---|---:|---|---:|---:|---:|"
    sort -t$'\t' -k1,1 -k2,2 -s "$ROWS" | awk -F'\t' '
        function median(list, n,   a, i, j, t) {
            n = split(list, a, " ")
            if (n == 0) return "-"
            for (i = 1; i <= n; i++) for (j = i + 1; j <= n; j++) if (a[j] + 0 < a[i] + 0) { t = a[i]; a[i] = a[j]; a[j] = t }
            lo = a[1]; hi = a[n]
            return (n % 2) ? a[(n + 1) / 2] : sprintf("%.2f", (a[n / 2] + a[n / 2 + 1]) / 2)
        }
        function flush() {
            if (key == "") return
            m = median(u); ulo = lo; uhi = hi
            split(key, k, SUBSEP)
            printf "| %s | %s | %d | %s |", k[1], k[2], count, (m == "-") ? "- (" none " without a new primary)" : ulo " / " m " / " uhi (none ? " (" none " none)" : "")
            printf " %d | %s | %s |\n", lost, median(r), judged ? nsplit : "-"
        }
        { this = $1 SUBSEP $2
          if (this != key) { flush(); key = this; u = ""; r = ""; count = 0; lost = 0; none = 0; nsplit = 0; judged = 0 }
          if ($6 ~ /^[0-9]+$/) { judged = 1; if ($6 > 0) nsplit++ }
          count++
          if ($3 ~ /^[0-9.]+$/) u = u " " $3; else none++
          if ($4 ~ /^[0-9]+$/) lost += $4
          if ($5 ~ /^[0-9.]+$/) r = r " " $5 }
        END { flush() }'
    printf '%s\n' "${NOTES[@]/#/- }"
    echo "- load average at the end: $(cut -d' ' -f1-3 /proc/loadavg) ($(nproc) cores)"
}

echo "bench/failover: $(date -u '+%Y-%m-%d %H:%M UTC'), REPS=$REPS"
run_prodata
run_patroni
report
