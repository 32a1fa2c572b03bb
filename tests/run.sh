#!/bin/bash
# run.sh - runs every test and prints one closing line "N passed, N failed, N skipped".
#
# Unit tests are cmocka programs (build/tests/unit/<area>/test_*), run with TAP
# output; build/tests/pg/test_* are cmocka programs that need a database (each
# gets a fresh one, PRODATA_TEST_CONNINFO). Integration tests are tests/integration/*.sh, each against its own
# database on one throwaway PostgreSQL 15 instance that this script starts and
# stops (also on failure or Ctrl-C); the cluster tests among them run in a second lane beside the others
# (start_lane below; HA_SERIAL=1: one lane). Every "ok"/"not ok" line counts as one
# test; a line marked "# SKIP" (cmocka's skip() prints "not ok N # SKIP", tap_skip "ok N # SKIP") counts as
# skipped, not passed nor failed. Each file's line ends with its run time in seconds ("[12 s]"). Exit status
# is non-zero when any test failed or a program crashed.
#   tests/run.sh [--unit-only] [FILTER...]   (only the tests whose name, e.g. "pg/test_pool" or
#   "integration/serve_api.sh", contains one of the FILTERs)
set -uo pipefail
cd "$(dirname "$0")/.."
BUILD=${PRODATA_BUILD:-build}
export PRODATA_BUILD=$BUILD
UNIT_ONLY=0
FILTERS=()
for arg in "$@"; do
    case "$arg" in
        --unit-only) UNIT_ONLY=1 ;;
        *) FILTERS+=("$arg") ;;
    esac
done

# wanted NAME: whether the test NAME is to run (no FILTER, or one that NAME contains).
wanted() {
    local filter
    [ ${#FILTERS[@]} = 0 ] && return 0
    for filter in "${FILTERS[@]}"; do
        [[ "$1" == *"$filter"* ]] && return 0
    done
    return 1
}

PASSED=0
FAILED=0
SKIPPED=0
CHILD=""

# run_bounded SECONDS LOG COMMAND...: runs COMMAND under timeout in the background and waits for it, so that a
# Ctrl-C reaches this script at once (timeout puts the test in its own process group, away from the terminal's
# signals); the trap below then ends that group and the PostgreSQL instance.
run_bounded() {
    local seconds=$1 log=$2
    shift 2
    local started=$SECONDS
    timeout "$seconds" "$@" >"$log" 2>&1 &
    CHILD=$!
    wait "$CHILD"
    local rc=$?
    CHILD=""
    ELAPSED=$((SECONDS - started))
    return $rc
}
interrupted() {
    [ -n "$CHILD" ] && kill -TERM -- "-$CHILD" 2>/dev/null
    [ -n "${LANE_PID:-}" ] && kill -TERM "$LANE_PID" 2>/dev/null && wait "$LANE_PID" 2>/dev/null
    echo "interrupted"
    exit 130
}
trap interrupted INT TERM
LOG_DIR="$BUILD/test-logs"
mkdir -p "$LOG_DIR"

# count_tap NAME LOGFILE EXIT_CODE: adds the file's ok/not ok lines to the totals;
# a program that exited non-zero without a failing line counts as one failure.
count_tap() {
    local name=$1 log=$2 rc=$3 ok notok skipped
    skipped=$(grep -cE '^(not )?ok [0-9]+.*# (SKIP|skip)' "$log")
    ok=$(grep -E '^ok [0-9]+' "$log" | grep -cvE '# (SKIP|skip)')
    notok=$(grep -E '^not ok [0-9]+' "$log" | grep -cvE '# (SKIP|skip)')
    # A script that stopped early prints no plan (or a wrong one): count that as a failure too.
    plan=$(grep -oE '^1\.\.[0-9]+' "$log" | tail -1 | cut -d. -f3)
    if [ -z "$plan" ] || [ "$plan" != $((ok + notok + skipped)) ]; then
        [ "$rc" = 0 ] && rc=1
        echo "FAIL $name: plan ${plan:-missing} does not match $((ok + notok + skipped)) tests run"
    fi
    PASSED=$((PASSED + ok))
    FAILED=$((FAILED + notok))
    SKIPPED=$((SKIPPED + skipped))
    if [ "$rc" != 0 ] && [ "$notok" = 0 ]; then
        FAILED=$((FAILED + 1))
        notok=1
        echo "FAIL $name exited $rc without a failing test; last lines:"
        tail -15 "$log" | sed 's/^/    /'
    fi
    if [ "$notok" != 0 ]; then
        echo "FAIL $name: $ok passed, $notok failed [${ELAPSED:-0} s] (log: $log)"
        grep -E -A12 '^not ok' "$log" | head -60 | sed 's/^/    /'
    elif [ "$skipped" != 0 ]; then
        echo "ok   $name: $ok passed, $skipped skipped ($(grep -m1 -E '^# .*skip' "$log" | sed 's/^# //')) [${ELAPSED:-0} s]"
    else
        echo "ok   $name: $ok passed [${ELAPSED:-0} s]"
    fi
}

# run_scripts SCRIPT...: the integration scripts given, one after the other, each counted.
run_scripts() {
    local script name log
    for script in "$@"; do
        name=${script#tests/}
        wanted "$name" || continue
        log="$LOG_DIR/${name//\//_}.log"
        run_bounded 600 "$log" bash "$script"
        count_tap "$name" "$log" $?
    done
}

# Two lanes, so that the run stays short on a machine of two cores: the cluster tests (keepers, switchover,
# failsafe, haproxy, the demo: mostly waiting on timeouts and leases, each with its own etcd and ports) run in
# the background while the unit, library and other integration tests run here; their lines are printed after
# this lane's, and their counts added. HA_SERIAL=1 runs everything in one lane, in name order.
is_cluster_test() { [[ "$1" =~ /(keeper|switchover|failsafe|haproxy|demo)[^/]*\.sh$ ]]; }
LANE_PID=""
start_lane() {
    local script cluster=()
    OTHER_SCRIPTS=()
    for script in tests/integration/*.sh; do
        [ -e "$script" ] || continue
        if [ "${HA_SERIAL:-0}" != 1 ] && is_cluster_test "$script"; then cluster+=("$script")
        else OTHER_SCRIPTS+=("$script"); fi
    done
    [ ${#cluster[@]} -gt 0 ] || return 0
    rm -f "$LOG_DIR/lane.$$.totals"
    (
        PASSED=0 FAILED=0 SKIPPED=0
        trap 'kill -TERM -- "-$CHILD" 2>/dev/null; exit 130' TERM
        run_scripts "${cluster[@]}"
        echo "$PASSED $FAILED $SKIPPED" >"$LOG_DIR/lane.$$.totals"
    ) >"$LOG_DIR/lane.$$.out" 2>&1 &
    LANE_PID=$!
}
wait_lane() {
    run_scripts "${OTHER_SCRIPTS[@]}"
    [ -n "$LANE_PID" ] || return 0
    wait "$LANE_PID"
    LANE_PID=""
    cat "$LOG_DIR/lane.$$.out"
    local totals
    totals=$(cat "$LOG_DIR/lane.$$.totals" 2>/dev/null)
    rm -f "$LOG_DIR/lane.$$.totals" "$LOG_DIR/lane.$$.out"
    [ -n "$totals" ] || {
        FAILED=$((FAILED + 1))
        echo "FAIL the cluster tests' lane ended without its totals"
        return
    }
    read -r lane_passed lane_failed lane_skipped <<<"$totals"
    PASSED=$((PASSED + lane_passed))
    FAILED=$((FAILED + lane_failed))
    SKIPPED=$((SKIPPED + lane_skipped))
}

for bin in $(find "$BUILD/tests/unit" -type f -name 'test_*' -perm -u+x 2>/dev/null | sort); do
    name=${bin#"$BUILD"/tests/}
    wanted "$name" || continue
    log="$LOG_DIR/${name//\//_}.log"
    CMOCKA_MESSAGE_OUTPUT=TAP run_bounded 300 "$log" "$bin"
    count_tap "$name" "$log" $?
done

if [ "$UNIT_ONLY" = 0 ]; then
    source tests/lib/pg.sh
    PG_DIR=$(mktemp -d "${TMPDIR:-/tmp}/prodata-pg.XXXXXX")
    trap 'pg_instance_stop "$PG_DIR"' EXIT
    if pg_instance_start "$PG_DIR"; then
        echo "PostgreSQL 15 on 127.0.0.1:$PG_TEST_PORT (pid $PG_TEST_PID)"
        # For tests that must change server settings (authentication in auth.sh).
        export PRODATA_TEST_PGDATA=$PG_DATA_DIR
        case $BUILD in
            /*) export PRODATA="$BUILD/prodata" ;; # an absolute PRODATA_BUILD (/tmp/mine) as it is
            *) export PRODATA="$PWD/$BUILD/prodata" ;;
        esac
        start_lane
        # Library tests that need a database: each program gets a fresh database of its own.
        for bin in $(find "$BUILD/tests/pg" -type f -name 'test_*' -perm -u+x 2>/dev/null | sort); do
            name=${bin#"$BUILD"/tests/}
            wanted "$name" || continue
            log="$LOG_DIR/${name//\//_}.log"
            db="pgt_$(basename "$bin")"
            psql -qX -c "DROP DATABASE IF EXISTS $db" -c "CREATE DATABASE $db" >"$log" 2>&1
            PRODATA_TEST_CONNINFO="host=127.0.0.1 port=$PG_TEST_PORT user=postgres dbname=$db" \
                CMOCKA_MESSAGE_OUTPUT=TAP run_bounded 300 "$log" "$bin"
            count_tap "$name" "$log" $?
        done
        wait_lane
    else
        FAILED=$((FAILED + 1))
        echo "FAIL could not start a PostgreSQL instance for the integration tests"
    fi
fi

echo "$PASSED passed, $FAILED failed, $SKIPPED skipped"
[ "$FAILED" = 0 ]
