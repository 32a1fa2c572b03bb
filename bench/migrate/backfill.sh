#!/bin/bash
# bench/migrate/backfill.sh - a backfill of a big table while the application writes to it: a
# "-- +up batched" migration (short transactions of BATCH rows, skipping rows a writer holds)
# beside the one UPDATE a hand-written migration would run, on the same table, each under the
# same pgbench writer (random-row UPDATEs and INSERTs that fill the new columns themselves, 4 clients). Prints, for each: the time,
# the longest lock on rows (the longest batch; the whole statement for one UPDATE), the writes
# the writer completed during it and its worst one-second latency.
#   bench/migrate/backfill.sh          ROWS=10000000 BATCH=5000 (environment)
# Runs on a throwaway PostgreSQL 15 with the server's defaults (fsync on), stopped at exit.
set -euo pipefail
cd "$(dirname "$0")/../.."
ROWS=${ROWS:-10000000}
BATCH=${BATCH:-5000}
PRODATA=${PRODATA:-$PWD/build/prodata}
source tests/lib/pg.sh
PG_DIR=$(mktemp -d "${TMPDIR:-/tmp}/prodata-bench-pg.XXXXXX")
WORK=$(mktemp -d "${TMPDIR:-/tmp}/prodata-bench-backfill.XXXXXX")
WRITER=""
cleanup() {
    [ -n "$WRITER" ] && kill "$WRITER" 2>/dev/null
    pg_instance_stop "$PG_DIR"
    rm -rf "$WORK"
}
trap cleanup EXIT
pg_instance_start "$PG_DIR"
psql -X -q -d postgres -c "ALTER SYSTEM RESET fsync" -c "ALTER SYSTEM RESET synchronous_commit" \
    -c "ALTER SYSTEM RESET full_page_writes" -c "ALTER SYSTEM SET max_wal_size = '4GB'" \
    -c "SELECT pg_reload_conf()" >/dev/null
psql -X -q -d postgres -c "CREATE DATABASE backfill" >/dev/null
export PGDATABASE=backfill
cd "$WORK"

cat >models.pdm <<'PDM'
model Book {
  price  decimal(8,2)
}
PDM
"$PRODATA" makemigrations >/dev/null
"$PRODATA" migrate >/dev/null
echo "bench: loading $ROWS rows" >&2
psql -X -q -c "INSERT INTO book (price) SELECT (i % 1000) / 10.0 FROM generate_series(1, $ROWS) i" -c "VACUUM ANALYZE book"
sed -i 's/^  price  decimal(8,2)/&\n  cents  bigint  null\n  cents2  bigint  null/' models.pdm
"$PRODATA" makemigrations >/dev/null
# The index that keeps each batch's search for rows still to do short (built concurrently, after the commit).
cat >migrations/0003_book_cents_todo.sql <<'SQL'
-- +up
-- +up concurrently
CREATE INDEX CONCURRENTLY IF NOT EXISTS book_cents_todo ON book (id) WHERE cents IS NULL;
-- +down
DROP INDEX book_cents_todo;
SQL
"$PRODATA" migrate >/dev/null
cat >migrations/0004_book_fill_cents.sql <<SQL
-- +up
-- +up batched $BATCH
SELECT count(*) FROM book WHERE cents IS NULL;
UPDATE book SET cents = (price * 100)::bigint
WHERE id IN (SELECT id FROM book WHERE cents IS NULL LIMIT \$1 FOR UPDATE SKIP LOCKED);
-- +down
UPDATE book SET cents = NULL;
SQL

# The application: 4 clients, each a random-row UPDATE and an INSERT per transaction.
cat >writer.sql <<SQL
\set id random(1, $ROWS)
UPDATE book SET price = price WHERE id = :id;
INSERT INTO book (price, cents, cents2) VALUES (-1, -100, -100);
SQL
start_writer() {
    pgbench -n -c 4 -j 2 -T 3600 -P 1 -f writer.sql >/dev/null 2>"$1" &
    WRITER=$!
    sleep 3 # warmed up before the migration starts
}
stop_writer() {
    kill "$WRITER" 2>/dev/null || true
    wait "$WRITER" 2>/dev/null || true
    WRITER=""
}
inserted() { psql -X -At -c "SELECT count(*) FROM book WHERE price = -1"; }
# The worst one-second average latency pgbench reported while the migration ran (seconds from..to of its clock).
worst_latency() {
    awk -v from="$2" -v to="$3" '/^progress:/ { t = $2 + 0; if (t >= from && t <= to) { for (i = 1; i <= NF; i++) if ($i == "lat") { l = $(i + 1) + 0; if (l > m) m = l } } } END { printf "%.1f", m }' "$1"
}
now() { date +%s.%N; }

echo "bench: batched backfill of $ROWS rows, $BATCH a batch, under the writer" >&2
start_writer writer1.log
w_start=$(now)
before=$(inserted)
t0=$(now)
"$PRODATA" migrate 2>migrate.err >/dev/null
t1=$(now)
after=$(inserted)
stop_writer
batched_s=$(echo "$t1 - $t0" | bc)
batched_writes=$((after - before))
longest=$(grep -o 'longest batch [0-9]* ms' migrate.err | tail -1 | grep -o '[0-9]*')
from=$(echo "$t0 - $w_start + 3" | bc); to=$(echo "$t1 - $w_start + 3" | bc)
batched_lat=$(worst_latency writer1.log "$from" "$to")
left=$(psql -X -At -c "SELECT count(*) FROM book WHERE cents IS NULL AND price <> -1")

echo "bench: one UPDATE of every row (a hand-written migration), under the writer" >&2
cat >migrations/0005_book_fill_cents2.sql <<'SQL'
-- +up
UPDATE book SET cents2 = (price * 100)::bigint;
-- +down
UPDATE book SET cents2 = NULL;
SQL
start_writer writer2.log
w_start=$(now)
before=$(inserted)
t0=$(now)
"$PRODATA" migrate 2>/dev/null >/dev/null
t1=$(now)
after=$(inserted)
stop_writer
single_s=$(echo "$t1 - $t0" | bc)
single_writes=$((after - before))
from=$(echo "$t0 - $w_start + 3" | bc); to=$(echo "$t1 - $w_start + 3" | bc)
single_lat=$(worst_latency writer2.log "$from" "$to")

printf '\nbackfill of %s rows (PostgreSQL 15, fsync on), writer: pgbench 4 clients, UPDATE a random row + INSERT\n\n' "$ROWS"
printf '| migration | time s | longest lock on rows ms | writer transactions during it | writer tps | writer worst 1-s latency ms |\n'
printf '|---|---:|---:|---:|---:|---:|\n'
printf '| batched, %s rows a batch | %.1f | %s | %s | %.0f | %s |\n' "$BATCH" "$batched_s" "${longest:-?}" "$batched_writes" \
    "$(echo "$batched_writes / $batched_s" | bc -l)" "$batched_lat"
printf '| one UPDATE of every row | %.1f | %.0f (the whole statement) | %s | %.0f | %s |\n' "$single_s" \
    "$(echo "$single_s * 1000" | bc)" "$single_writes" "$(echo "$single_writes / $single_s" | bc -l)" "$single_lat"
printf '\nrows the batched backfill left undone: %s\n' "$left"
