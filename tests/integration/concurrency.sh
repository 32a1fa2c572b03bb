#!/bin/bash
# concurrency.sh - two deployers running migrate at the same moment apply each
# migration exactly once (the advisory lock serialises them; the second finds
# the history up to date), and a migrate that cannot get the lock in time
# says who holds it instead of waiting forever.
source tests/lib/tap.sh
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

# Another deployer holds the lock: a bounded wait, then a clear error.
psql -X -q -d $DB -c "SELECT pg_advisory_lock(31650755335430241), pg_sleep(2)" >/dev/null 2>&1 &
holder=$!
sleep 0.4
run_cmd "$PRODATA" migrate --lock-wait-ms 300
wait $holder
expect_rc "migrate gives up on a held lock with exit 1" 1
expect_out "says another migrate is running" 'another prodata migrate is running'

tap_done
