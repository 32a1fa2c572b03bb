#!/bin/bash
# backfill.sh - a "-- +up batched" section on a real PostgreSQL: the statement runs in
# short transactions of $1 rows until it changes nothing, with progress and the time
# left; stopped by Ctrl-C it keeps what it committed and the next migrate goes on;
# writers are not held up (a row locked by another session is skipped, then done);
# a statement without $1 is refused before anything runs.
source tests/lib/tap.sh
tap_plan 19
tap_workdir
cd "$TAP_WORKDIR"
tap_fresh_db backfill_test
DB=backfill_test

cat >models.pdm <<'PDM'
model Book {
  price  decimal(8,2)
}
PDM
"$PRODATA" makemigrations >/dev/null
"$PRODATA" migrate >/dev/null
sql $DB "INSERT INTO book (price) SELECT (i % 100) + 0.25 FROM generate_series(1, 60000) i" >/dev/null
sed -i 's/^  price  decimal(8,2)/&\n  cents  bigint  null/' models.pdm
"$PRODATA" makemigrations >/dev/null
cat >migrations/0003_book_fill_cents.sql <<'SQL'
-- Fill book.cents in batches: the table is never held.
-- +up
-- +up batched 500
SELECT count(*) FROM book WHERE cents IS NULL;
UPDATE book SET cents = (price * 100)::bigint
WHERE id IN (SELECT id FROM book WHERE cents IS NULL ORDER BY id LIMIT $1 FOR UPDATE SKIP LOCKED);
-- +down
UPDATE book SET cents = NULL;
SQL
filled() { sql $DB "SELECT count(*) FROM book WHERE cents IS NOT NULL"; }

# Stopped half way: what was committed stays, the history says the file is unfinished.
"$PRODATA" migrate >migrate.out 2>migrate.err &
pid=$!
for _ in $(seq 1 100); do
    [ "$(filled)" -gt 5000 ] && break
    sleep 0.1
done
kill -INT "$pid"
wait "$pid"
rc=$?
OUT=$(cat migrate.out migrate.err)
check "Ctrl-C stops the backfill" [ "$rc" -ne 0 ]
done_rows=$(filled)
check "... keeping the batches it committed ($done_rows rows)" test "$done_rows" -gt 0 -a "$done_rows" -lt 60000
expect_eq "... and every committed row is right" "$(sql $DB "SELECT count(*) FROM book WHERE cents IS NOT NULL AND cents <> (price * 100)::bigint")" 0
expect_eq "... the file is recorded unfinished" "$(sql $DB "SELECT is_complete FROM prodata_migrations WHERE number = 3")" f
expect_out "... progress was shown: rows of the count, rate, time left" 'migrate: 0003_book_fill_cents batched: [0-9]+ of 60000 rows, [0-9]+ rows/s, [0-9]+ s left'

# Writers are not held up: a row locked by another session is skipped and done after it commits.
psql -X -q -d $DB -c "BEGIN; SELECT id FROM book WHERE cents IS NULL ORDER BY id DESC LIMIT 1 FOR UPDATE; SELECT pg_sleep(4); UPDATE book SET price = 1 WHERE id = (SELECT max(id) FROM book); COMMIT" >/dev/null &
locker=$!
sleep 0.5
run_cmd "$PRODATA" migrate
wait $locker
expect_rc "the next migrate goes on" 0
expect_out "... and completes the file" '^completed 0003_book_fill_cents'
expect_out "... saying how long it took and the longest batch" 'batched: done, [0-9]+ rows in [0-9.]+ s \([0-9]+ rows/s\), longest batch [0-9]+ ms'
expect_eq "every row is filled" "$(filled)" 60000
expect_eq "... right" "$(sql $DB "SELECT count(*) FROM book WHERE cents <> (price * 100)::bigint")" 0
expect_eq "... the history complete" "$(sql $DB "SELECT is_complete FROM prodata_migrations WHERE number = 3")" t
run_cmd "$PRODATA" check
expect_rc "check is clean" 0
run_cmd "$PRODATA" sqlmigrate 3
expect_out "sqlmigrate shows the batched section" 'again and again, \$1 = 500 rows a time'

# Refused before anything runs: a batched statement without its batch size.
cat >migrations/0004_bad.sql <<'SQL'
-- +up
ALTER TABLE book ADD COLUMN note text;
-- +up batched
UPDATE book SET note = 'x' WHERE note IS NULL;
SQL
run_cmd "$PRODATA" migrate
expect_rc "a batched statement without \$1 is refused" 2
expect_out "... naming the file" 'migrations/0004_bad\.sql: a batched statement without \$1'
expect_eq "... before anything ran" "$(sql $DB "SELECT count(*) FROM information_schema.columns WHERE table_name = 'book' AND column_name = 'note'")" 0
sed -i 's/^-- +up batched$/-- +up batched 0/' migrations/0004_bad.sql
run_cmd "$PRODATA" migrate
expect_out "a batch of 0 rows is an unknown section" 'unknown section "-- \+up batched 0"'
rm migrations/0004_bad.sql

# A statement that changes rows that still match (no WHERE that the change makes false) would run for ever:
# with a count before it, it stops once it changed more rows than the count said and the count did not fall.
cat >migrations/0004_touch.sql <<'SQL'
-- +up
-- +up batched 5000
SELECT count(*) FROM book WHERE price > 0;
UPDATE book SET price = price + 1 WHERE id IN (SELECT id FROM book WHERE price > 0 LIMIT $1 FOR UPDATE SKIP LOCKED);
SQL
timeout 120 "$PRODATA" migrate >migrate.out 2>migrate.err
rc=$?
OUT=$(cat migrate.out migrate.err)
expect_rc_is() { check "$1" [ "$rc" = "$2" ]; }
expect_rc_is "a batched statement that never ends is stopped" 2
expect_out "... saying its rows left do not fall" 'the batched statement changed [0-9]+ rows, but the rows left to do are 60000, not fewer than 60000'
rm migrations/0004_touch.sql
