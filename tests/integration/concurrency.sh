#!/bin/bash
# concurrency.sh - deployers running migrate at the same moment apply each
# migration exactly once (the advisory lock serialises them; the others find
# the history up to date), also when a pending migration builds an index,
# a unique constraint or validates a foreign key concurrently (a waiter must
# hold no snapshot, or CREATE INDEX CONCURRENTLY waits for it while it waits
# for the lock: a deadlock), and a migrate that cannot get the lock in time
# says who holds it instead of waiting forever.
source tests/lib/tap.sh
tap_plan 24
tap_workdir
cd "$TAP_WORKDIR"
tap_fresh_db concurrency_test
DB=concurrency_test

# Forty models, one migration each, so that the two runs overlap for a while.
: >models.pdm
for i in $(seq 1 40); do
    {
        echo "model Thing$i {"
        echo "  name   string(100)  index"
        echo "  code   slug         unique"
        echo "  size   int          default=0  check(>= 0)"
        [ "$i" -gt 1 ] && echo "  parent Thing$((i - 1))  null  on_delete=set_null"
        echo "}"
    } >>models.pdm
    "$PRODATA" makemigrations --name "thing$i" >/dev/null || echo "makemigrations $i failed"
done
expect_eq "forty migrations written" "$(ls migrations/*.sql | wc -l)" 40

"$PRODATA" migrate >first.out 2>&1 &
first=$!
"$PRODATA" migrate >second.out 2>&1 &
second=$!
wait $first; rc_first=$?
wait $second; rc_second=$?
expect_eq "first deployer succeeds" "$rc_first" 0
expect_eq "second deployer succeeds" "$rc_second" 0
applied=$(cat first.out second.out | grep -c '^applied ')
expect_eq "each migration applied exactly once across both" "$applied" 40
expect_eq "history has forty rows" "$(sql $DB 'SELECT count(*) FROM prodata_migrations')" 40
expect_eq "forty tables" "$(sql $DB "SELECT count(*) FROM pg_tables WHERE schemaname = 'public' AND tablename LIKE 'thing%'")" 40

# --- deployers at once on migrations with concurrent statements ----------------------
# A table with rows, then rounds that each add one migration whose +up concurrently
# part builds an index, attaches a unique constraint, or validates a foreign key
# on it; every round starts N deployers at the same moment.
tap_fresh_db concurrency_index_test
DB=concurrency_index_test
mkdir -p indexed && cd indexed
{
    echo "model Owner {"
    echo "  name  string(100)"
    echo "}"
    echo "model Item {"
    echo "  name  string(100)"
} >head.pdm
fields=""
write_models() { { cat head.pdm; printf '%b' "$fields"; echo "}"; } >models.pdm; }
write_models
"$PRODATA" makemigrations --name initial >/dev/null
"$PRODATA" migrate >/dev/null
sql $DB "INSERT INTO item (name) SELECT 'item ' || g FROM generate_series(1, 20000) g" >/dev/null

# deploy_round ROUND DEPLOYERS FIELD-LINE: adds the field, writes its migration, runs the deployers at once;
# sets round_applied to how many of them applied it and adds those that failed to round_failures.
round_failures=0
deploy_round() {
    local round=$1 deployers=$2 line=$3 pids=() rc d
    fields="$fields  $line\n"
    write_models
    "$PRODATA" makemigrations --name "round$round" >/dev/null || echo "makemigrations round $round failed"
    grep -q '^-- +up concurrently' migrations/*_round"$round".sql || echo "round $round has no concurrent part"
    for d in $(seq 1 "$deployers"); do
        "$PRODATA" migrate >"round$round.$d.out" 2>&1 &
        pids+=($!)
    done
    for d in $(seq 1 "$deployers"); do
        wait "${pids[$((d - 1))]}"; rc=$?
        if [ "$rc" != 0 ]; then
            round_failures=$((round_failures + 1))
            echo "# round $round deployer $d exited $rc:"; sed 's/^/#   /' "round$round.$d.out"
        fi
    done
    round_applied=$(cat round"$round".*.out | grep -c "^applied [0-9]*_round$round\b")
}
kinds=("cN  string(40)  null  index" "uN  string(40)  null  unique" "oN  Owner  null  related=itemsN")
expected=1
for round in 1 2 3 4 5 6; do
    deployers=2
    [ "$round" -gt 3 ] && deployers=5
    line=${kinds[$(((round - 1) % 3))]//N/$round}
    deploy_round "$round" "$deployers" "$line"
    expect_eq "round $round: $deployers deployers at once apply migration round$round exactly once" \
        "$round_applied" 1
    expected=$((expected + 1))
done
expect_eq "every deployer of every round exits 0" "$round_failures" 0
expect_eq "history has each migration once, all complete" \
    "$(sql $DB 'SELECT count(*), count(DISTINCT name), bool_and(is_complete) FROM prodata_migrations')" \
    "$expected|$expected|t"
expect_eq "every index built concurrently is valid" \
    "$(sql $DB "SELECT count(*) FILTER (WHERE NOT indisvalid) FROM pg_index WHERE indrelid = 'item'::regclass")" 0
cd ..
DB=concurrency_test
export PGDATABASE=$DB

# Another deployer holds the lock: a bounded wait, then a clear error.
psql -X -q -d $DB -c "SELECT pg_advisory_lock(31650755335430241), pg_sleep(30)" >/dev/null 2>&1 &
holder=$!
poll_sql $DB "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND granted
              AND database = (SELECT oid FROM pg_database WHERE datname = current_database())" 1
run_cmd "$PRODATA" migrate --lock-wait-ms 300
expect_rc "migrate gives up on a held lock with exit 1" 1
expect_out "says another migrate is running" 'another prodata migrate is running'
expect_out "says how long it waited" 'Waited 300 ms'
holder_pid=$(sql $DB "SELECT pid FROM pg_locks WHERE locktype = 'advisory' AND granted
                     AND database = (SELECT oid FROM pg_database WHERE datname = current_database())")
expect_out "names the session that holds it, so an orphan can be ended" "held by pid $holder_pid \\(psql"
expect_out "progress says it is waiting, and for how long at most" \
    'migrate: another deployer holds the migrate lock; waiting up to 300 ms'

# A deployer that finds the lock held waits, then goes on once it is released.
cat >migrations/0041_after_wait.sql <<'SQL'
-- +up
CREATE TABLE after_wait (id bigint PRIMARY KEY);
-- +down
DROP TABLE after_wait;
SQL
"$PRODATA" migrate --lock-wait-ms 30000 >waiter.out 2>&1 &
waiter=$!
poll_sql $DB "SELECT count(*) FROM pg_stat_activity WHERE query LIKE 'SELECT pg_try_advisory_lock%'
              AND datname = current_database()" 1
sql $DB "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE query LIKE '%pg_advisory_lock(31650755335430241), pg_sleep%' AND pid <> pg_backend_pid()" >/dev/null
wait $holder
wait $waiter; rc_waiter=$?
OUT=$(cat waiter.out)
expect_eq "the waiting deployer succeeds once the lock is free" "$rc_waiter" 0
expect_out "it said it was waiting" 'waiting up to 30000 ms'
expect_out "it says when it got the lock" 'migrate: lock taken after [0-9]+ ms'
expect_out "then applied the pending migration" '^applied 0041_after_wait'

tap_done
