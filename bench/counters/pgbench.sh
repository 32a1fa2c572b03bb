#!/bin/bash
# bench/counters/pgbench.sh - what the row counters (count_rows, docs/query.md
# "Counts") cost writers and save readers, measured with pgbench on a
# throwaway PostgreSQL 15 (tests/lib/pg.sh: fsync off, so a commit costs no
# disk flush and the triggers' share of an insert shows at its largest;
# FSYNC=on gives it PostgreSQL's defaults, fsync, synchronous_commit and
# full_page_writes on, as bench/rest's server has them).
# The bookstore shape of the DRF anchor (1,000 authors, 100,000 books) is
# made by prodata migrate (count_rows on: book is counted), with a copy of
# book made by hand (book_plain: its indexes and its foreign key to author,
# no counter trigger). Each pair runs both sides AT
# ONCE, CLIENTS connections each (32), for DURATION seconds (10), -M
# prepared, so both meet the same load (this machine is shared; a lone run
# moves by tens of percent from one minute to the next):
#   insert   one book per transaction (the anchor's insert.sql): book vs book_plain
#   bulk     1,000 books per INSERT ... SELECT: book vs book_plain
#   page     a page of 50 as JSON with its exact total: from the counter vs count(*)
# Prints one TSV line per pair and the medians. Not a test: nothing is
# asserted. Rows the inserts add are deleted after each pair.
#   bench/counters/pgbench.sh
#   REPS=3 DURATION=15 bench/counters/pgbench.sh
#   FSYNC=on CLIENTS=8 bench/counters/pgbench.sh
#   WORKLOADS=insert REPS=9 bench/counters/pgbench.sh    (one or more of insert, bulk, page)
set -euo pipefail
cd "$(dirname "$0")/../.."
PRODATA=${PRODATA:-$PWD/build/prodata}
CLIENTS=${CLIENTS:-32}
JOBS=${JOBS:-2}
DURATION=${DURATION:-10}
REPS=${REPS:-3}
FSYNC=${FSYNC:-off}
WORKLOADS=${WORKLOADS:-insert bulk page}
case "$FSYNC" in on | off) ;; *) echo "pgbench.sh: FSYNC is on or off, not '$FSYNC'" >&2; exit 2 ;; esac
[ -x "$PRODATA" ] || { echo "pgbench.sh: $PRODATA not found: run make first" >&2; exit 1; }
source tests/lib/pg.sh
WORK=$(mktemp -d "${TMPDIR:-/tmp}/prodata-counters.XXXXXX")
chmod 755 "$WORK"
trap 'pg_instance_stop "$WORK/pg"; rm -rf "$WORK"' EXIT
pg_instance_start "$WORK/pg" >/dev/null
sed -i 's/^max_connections = 50/max_connections = 100/' "$WORK/pg/data/postgresql.auto.conf"
if [ "$FSYNC" = on ]; then
    sed -i -e '/^fsync = /d' -e '/^synchronous_commit = /d' -e '/^full_page_writes = /d' "$WORK/pg/data/postgresql.auto.conf"
fi
pg_as_owner "$PGBIN/pg_ctl" -D "$WORK/pg/data" -w restart >/dev/null
export PGDATABASE=bench
psql -X -q -d postgres -c "CREATE DATABASE bench"
cd "$WORK"
cat >models.pdm <<'PDM'
model Author {
  name   string(200)
}
model Book {
  title      string(300)
  author     Author  related=books
  price      decimal(8,2)
  published  timestamptz
  in_stock   bool
}
PDM
"$PRODATA" makemigrations >/dev/null
"$PRODATA" migrate >/dev/null
psql -X -q <<'SQL'
INSERT INTO author (name) SELECT 'author ' || g FROM generate_series(1, 1000) g;
INSERT INTO book (title, author_id, price, published, in_stock)
SELECT 'book ' || g, 1 + g % 1000, (g % 9000) / 100.0 + 1, now() - g * interval '1 hour', g % 2 = 0
FROM generate_series(1, 100000) g;
VACUUM ANALYZE;
SQL

# LIKE copies no foreign key: book_plain gets book's, so both sides pay the same check and differ by the counter.
psql -X -q -c "CREATE TABLE book_plain (LIKE book INCLUDING ALL)" -c "INSERT INTO book_plain SELECT * FROM book" \
    -c "ALTER TABLE book_plain ADD FOREIGN KEY (author_id) REFERENCES author (id) ON DELETE CASCADE" \
    -c "SELECT setval(pg_get_serial_sequence('book_plain', 'id'), 100000)" -c "VACUUM ANALYZE book_plain"

# Each script twice: on book (counted) and on book_plain (a copy made by hand: no trigger).
for table in book book_plain; do
    cat >"insert_$table.sql" <<SQL
\set author random(1, 1000)
\set cents random(100, 9999)
INSERT INTO $table (title, author_id, price, published, in_stock)
VALUES ('pgbench book', :author, :cents / 100.0, now(), true) RETURNING id;
SQL
    cat >"bulk_$table.sql" <<SQL
INSERT INTO $table (title, author_id, price, published, in_stock)
SELECT 'bulk book', 1 + g % 1000, 9.99, now(), true FROM generate_series(1, 1000) g;
SQL
done
cat >page_count.sql <<'SQL'
\set off 50 * random(0, 199)
SELECT (SELECT count(*) FROM book) AS count,
       (SELECT coalesce(json_agg(t), '[]')
        FROM (SELECT id, title, author_id AS author, price, published, in_stock
              FROM book ORDER BY id LIMIT 50 OFFSET :off) t) AS results;
SQL
cat >page_counter.sql <<'SQL'
\set off 50 * random(0, 199)
SELECT (SELECT coalesce(sum(n), 0)::int8 FROM prodata_row_counts WHERE relid = '"book"'::regclass) AS count,
       (SELECT coalesce(json_agg(t), '[]')
        FROM (SELECT id, title, author_id AS author, price, published, in_stock
              FROM book ORDER BY id LIMIT 50 OFFSET :off) t) AS results;
SQL

# pair A B: pgbench on scripts A and B at the same time, CLIENTS connections each, so that both meet the same
# load from the rest of the machine (a shared machine moves a lone run by tens of percent); prints "tpsA tpsB".
pair() {
    pgbench -n -f "$1.sql" -c "$CLIENTS" -j "$JOBS" -T "$DURATION" -M prepared >"$WORK/a.out" 2>&1 &
    local first=$!
    pgbench -n -f "$2.sql" -c "$CLIENTS" -j "$JOBS" -T "$DURATION" -M prepared >"$WORK/b.out" 2>&1
    wait $first
    psql -X -q -c "DELETE FROM book WHERE id > 100000; DELETE FROM book_plain WHERE id > 100000" >/dev/null
    echo "$(awk '/^tps = / { print $3 }' "$WORK/a.out") $(awk '/^tps = / { print $3 }' "$WORK/b.out")"
}

SAMPLES=$WORK/samples.tsv
printf 'pair\trep\ttps_a\ttps_b\n' | tee "$SAMPLES"
declare -A PAIRS=([insert]="insert_book insert_book_plain" [bulk]="bulk_book bulk_book_plain"
    [page]="page_counter page_count")
for workload in $WORKLOADS; do
    [ -n "${PAIRS[$workload]:-}" ] || { echo "pgbench.sh: no workload '$workload' (insert, bulk, page)" >&2; exit 2; }
done
for rep in $(seq 1 "$REPS"); do
    for workload in $WORKLOADS; do
        set -- ${PAIRS[$workload]}
        read -r a b < <(pair "$1" "$2")
        printf '%s/%s\t%s\t%s\t%s\n' "$1" "$2" "$rep" "$a" "$b" | tee -a "$SAMPLES"
    done
done

median() { sort -g | awk '{ v[NR] = $1 } END { if (NR % 2) print v[(NR + 1) / 2]; else printf "%.3f\n", (v[NR / 2] + v[NR / 2 + 1]) / 2 }'; }
col() { awk -F'\t' -v p="$1" -v c="$2" 'NR > 1 && $1 == p { print $c }' "$SAMPLES"; }
ratio() { awk -F'\t' -v p="$1" 'NR > 1 && $1 == p && $4 > 0 { print $3 / $4 }' "$SAMPLES"; }
echo
echo "pgbench -c $CLIENTS -j $JOBS -T $DURATION -M prepared per side, both sides at once, median of $REPS;"
echo "fsync $(psql -X -At -c 'SHOW fsync'), synchronous_commit $(psql -X -At -c 'SHOW synchronous_commit');" \
    "slot: $(psql -X -At -c "SELECT CASE WHEN prosrc LIKE '%pg_try_advisory_xact_lock%' THEN 'the first no other transaction holds' ELSE 'pg_backend_pid() % 64' END FROM pg_proc WHERE proname = 'prodata_count_insert'")"
echo "$(date -u '+%Y-%m-%d %H:%M UTC'); load $(cut -d' ' -f1-3 /proc/loadavg)"
echo
echo "| workload | A: tps | B: tps | A / B (median of the runs' ratios) | the runs' ratios |"
echo "|---|---:|---:|---:|---|"
for workload in $WORKLOADS; do
    set -- ${PAIRS[$workload]}
    p=$1/$2
    printf '| %s | %.0f | %.0f | %.3f | %s |\n' "$p" "$(col "$p" 3 | median)" "$(col "$p" 4 | median)" \
        "$(ratio "$p" | median)" "$(ratio "$p" | awk '{ printf "%s%.2f", (NR > 1 ? ", " : ""), $1 }')"
done
