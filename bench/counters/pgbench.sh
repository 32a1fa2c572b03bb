#!/bin/bash
# bench/counters/pgbench.sh - what the row counters (count_rows, docs/query.md
# "Counts") cost writers and save readers, measured with pgbench on a
# throwaway PostgreSQL 15 (tests/lib/pg.sh: fsync off, so a commit costs no
# disk flush and the triggers' share of an insert shows at its largest).
# The bookstore shape of the DRF anchor (1,000 authors, 100,000 books) is
# made by prodata migrate, then, each with count_rows on and off, REPS times
# alternating:
#   insert      one book per transaction (the anchor's insert.sql)
#   bulk        1,000 books per INSERT ... SELECT
#   page_count  a page of 50 as JSON with the exact total by count(*)
#   page_counter the same page with the total from prodata_row_counts
# All at CLIENTS connections (32) for DURATION seconds (10), -M prepared.
# Prints one TSV line per run and a median table. Not a test: nothing is
# asserted. Rows the inserts add are deleted after each run.
#   bench/counters/pgbench.sh
#   REPS=3 DURATION=15 bench/counters/pgbench.sh
set -euo pipefail
cd "$(dirname "$0")/../.."
PRODATA=${PRODATA:-$PWD/build/prodata}
CLIENTS=${CLIENTS:-32}
JOBS=${JOBS:-2}
DURATION=${DURATION:-10}
REPS=${REPS:-2}
[ -x "$PRODATA" ] || { echo "pgbench.sh: $PRODATA not found: run make first" >&2; exit 1; }
source tests/lib/pg.sh
WORK=$(mktemp -d "${TMPDIR:-/tmp}/prodata-counters.XXXXXX")
chmod 755 "$WORK"
trap 'pg_instance_stop "$WORK/pg"; rm -rf "$WORK"' EXIT
pg_instance_start "$WORK/pg" >/dev/null
sed -i 's/^max_connections = 50/max_connections = 100/' "$WORK/pg/data/postgresql.auto.conf"
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

cat >insert.sql <<'SQL'
\set author random(1, 1000)
\set cents random(100, 9999)
INSERT INTO book (title, author_id, price, published, in_stock)
VALUES ('pgbench book', :author, :cents / 100.0, now(), true) RETURNING id;
SQL
cat >bulk.sql <<'SQL'
INSERT INTO book (title, author_id, price, published, in_stock)
SELECT 'bulk book', 1 + g % 1000, 9.99, now(), true FROM generate_series(1, 1000) g;
SQL
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

# run SCRIPT MODE: one pgbench run, its TPS on stdout.
run() {
    local tps
    tps=$(pgbench -n -f "$1.sql" -c "$CLIENTS" -j "$JOBS" -T "$DURATION" -M prepared 2>/dev/null |
        awk '/^tps = / { print $3 }')
    psql -X -q -c "DELETE FROM book WHERE id > 100000" >/dev/null
    echo "${tps:-0}"
}

SAMPLES=$WORK/samples.tsv
printf 'script\tcount_rows\trep\ttps\n' | tee "$SAMPLES"
for rep in $(seq 1 "$REPS"); do
    for mode in on off; do
        PRODATA_COUNT_ROWS=$mode "$PRODATA" migrate >/dev/null
        scripts="insert bulk page_count"
        [ "$mode" = on ] && scripts="$scripts page_counter"
        for script in $scripts; do
            printf '%s\t%s\t%s\t%s\n' "$script" "$mode" "$rep" "$(run "$script")" | tee -a "$SAMPLES"
        done
    done
done

median() { sort -g | awk '{ v[NR] = $1 } END { if (NR % 2) print v[(NR + 1) / 2]; else printf "%.0f\n", (v[NR / 2] + v[NR / 2 + 1]) / 2 }'; }
tps_of() { awk -F'\t' -v s="$1" -v m="$2" 'NR > 1 && $1 == s && $2 == m { print $4 }' "$SAMPLES" | median; }
echo
echo "pgbench -c $CLIENTS -j $JOBS -T $DURATION -M prepared, median of $REPS; $(date -u '+%Y-%m-%d %H:%M UTC'); load $(cut -d' ' -f1-3 /proc/loadavg)"
echo
echo "| script | count_rows on | count_rows off | on / off |"
echo "|---|---:|---:|---:|"
for script in insert bulk page_count; do
    on=$(tps_of "$script" on) off=$(tps_of "$script" off)
    printf '| %s | %.0f | %.0f | %.3f |\n' "$script" "$on" "$off" "$(awk -v a="$on" -v b="$off" 'BEGIN { print (b > 0 ? a / b : 0) }')"
done
printf '| page_counter | %.0f | | %.2fx page_count |\n' "$(tps_of page_counter on)" \
    "$(awk -v a="$(tps_of page_counter on)" -v b="$(tps_of page_count on)" 'BEGIN { print (b > 0 ? a / b : 0) }')"
