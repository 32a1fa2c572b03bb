# tap.sh - TAP output for bash integration tests, sourced after pg.sh.
# Each check prints "ok N - name" or "not ok N - name" plus indented
# diagnostics; tests/run.sh counts these lines. Every test gets its own
# database (tap_fresh_db) on the run's shared PostgreSQL instance.

TAP_COUNT=0
TAP_FAILED=0
PRODATA=${PRODATA:-$PWD/${PRODATA_BUILD:-build}/prodata}
TESTS_ROOT=${TESTS_ROOT:-$PWD/tests}

tap_ok() {
    TAP_COUNT=$((TAP_COUNT + 1))
    echo "ok $TAP_COUNT - $1"
}

tap_not_ok() {
    TAP_COUNT=$((TAP_COUNT + 1))
    TAP_FAILED=$((TAP_FAILED + 1))
    echo "not ok $TAP_COUNT - $1"
    shift
    [ $# -gt 0 ] && printf '%s\n' "$@" | sed 's/^/#   /'
    return 0
}

# tap_skip NAME REASON: a check that cannot run here (no root, no etcd); tests/run.sh counts it as skipped.
tap_skip() {
    TAP_COUNT=$((TAP_COUNT + 1))
    echo "ok $TAP_COUNT - $1 # SKIP $2"
}

# tap_fail_all REASON: the set-up every check needs failed (a cluster that did not bootstrap, a configuration
# refused): one check not ok with REASON, the rest skipped, and the test ends failed. A missing tool or no
# root is a skip (each test's skip_all); a set-up that ran and failed is not.
tap_fail_all() {
    tap_not_ok "set-up: $1"
    while [ "$TAP_COUNT" -lt "$TAP_PLAN" ]; do tap_skip "after a failed set-up" "$1"; done
    tap_done
    exit 1
}

# check NAME COMMAND...: passes when COMMAND exits 0.
check() {
    local name=$1; shift
    local out
    if out=$("$@" 2>&1); then tap_ok "$name"; else tap_not_ok "$name" "command: $*" "$out"; fi
}

# run_cmd CMD...: runs, keeps stdout+stderr in $OUT and the exit code in $RC.
run_cmd() {
    OUT=$("$@" 2>&1)
    RC=$?
}

# expect_rc NAME CODE: the last run_cmd exited CODE.
expect_rc() {
    if [ "$RC" = "$2" ]; then tap_ok "$1"; else tap_not_ok "$1" "exit code $RC, expected $2" "$OUT"; fi
}

# expect_out NAME PATTERN: the last run_cmd's output matches the extended regex PATTERN.
expect_out() {
    if grep -qE -- "$2" <<<"$OUT"; then tap_ok "$1"; else tap_not_ok "$1" "output does not match: $2" "$OUT"; fi
}

expect_no_out() {
    if grep -qE -- "$2" <<<"$OUT"; then tap_not_ok "$1" "output matches: $2" "$OUT"; else tap_ok "$1"; fi
}

# expect_eq NAME ACTUAL EXPECTED
expect_eq() {
    if [ "$2" = "$3" ]; then tap_ok "$1"; else tap_not_ok "$1" "got:      $2" "expected: $3"; fi
}

# sql DB QUERY: one value (psql -At), errors to stderr.
sql() {
    psql -X -q -At -v ON_ERROR_STOP=1 -d "$1" -c "$2"
}

# tap_fresh_db NAME: drops and creates database NAME; sets PGDATABASE to it.
tap_fresh_db() {
    psql -X -q -d postgres -c "DROP DATABASE IF EXISTS \"$1\" WITH (FORCE)" >/dev/null
    psql -X -q -d postgres -c "CREATE DATABASE \"$1\"" >/dev/null
    export PGDATABASE=$1
}

# A scratch directory for this test, removed at exit.
tap_workdir() {
    TAP_WORKDIR=$(mktemp -d "${TMPDIR:-/tmp}/prodata-test.XXXXXX")
    trap 'rm -rf "$TAP_WORKDIR"' EXIT
}

# tap_plan N: declares up front how many checks the file runs (TAP's "1..N" first), so a check that a
# changed branch or an early exit skips is a failure, not a smaller total.
TAP_PLAN=""
tap_plan() {
    TAP_PLAN=$1
    echo "1..$TAP_PLAN"
}

# tap_done: the file's last line. Fails when any check failed, when no plan was declared, or when the number
# of checks run differs from the plan.
tap_done() {
    if [ -z "$TAP_PLAN" ]; then
        echo "# no plan declared: call tap_plan N before the first check"
        return 1
    fi
    if [ "$TAP_COUNT" != "$TAP_PLAN" ]; then
        echo "# planned $TAP_PLAN checks, ran $TAP_COUNT: a check was skipped or added without updating tap_plan"
        return 1
    fi
    [ "$TAP_FAILED" = 0 ]
}

# poll_sql DB QUERY EXPECTED [SECONDS]: waits until QUERY gives EXPECTED, checking every 50 ms for at most
# SECONDS (default 10): the bounded wait that replaces a fixed sleep. Silent when it comes; a failed check
# naming the query when it does not.
poll_sql() {
    local db=$1 query=$2 expected=$3 deadline=$((SECONDS + ${4:-10})) got
    while :; do
        got=$(psql -X -q -At -d "$db" -c "$query" 2>&1)
        [ "$got" = "$expected" ] && return 0
        if [ "$SECONDS" -ge "$deadline" ]; then
            tap_not_ok "waited ${4:-10} s for: $query" "got:      $got" "expected: $expected"
            return 1
        fi
        sleep 0.05
    done
}

# sql_verbose DB QUERY: as sql, with errors in verbose form ("ERROR:  23505: ..."), so a check sees the SQLSTATE.
sql_verbose() {
    psql -X -q -At -v ON_ERROR_STOP=1 -v VERBOSITY=verbose -d "$1" -c "$2"
}

# poll_file FILE PATTERN [SECONDS]: waits until FILE has a line matching the extended regex PATTERN, checking
# every 50 ms for at most SECONDS (default 10). Silent when it comes; a failed check when it does not.
poll_file() {
    local file=$1 pattern=$2 deadline=$((SECONDS + ${3:-10}))
    until grep -qE -- "$pattern" "$file" 2>/dev/null; do
        if [ "$SECONDS" -ge "$deadline" ]; then
            tap_not_ok "waited ${3:-10} s for $pattern in $file" "$(cat "$file" 2>/dev/null)"
            return 1
        fi
        sleep 0.05
    done
}

# poll_ok SECONDS COMMAND...: waits until COMMAND succeeds, trying every 200 ms for at most SECONDS; 0 when it
# did, 1 when it did not (silent: the caller's check says what it waited for).
poll_ok() {
    local deadline=$((SECONDS + $1))
    shift
    until "$@" >/dev/null 2>&1; do
        [ "$SECONDS" -ge "$deadline" ] && return 1
        sleep 0.2
    done
}
