#!/bin/bash
# fake_drop.sh - migrate --fake of a migration that drops: recorded only when
# what it drops (a column, an index, a table) is gone from the database, and
# check is clean afterwards (the snapshot forgets the dropped table too); and
# a hand-written migration using an extension's operator class (pg_trgm in
# public) can be faked: the scratch schema sees the live search_path.
source tests/lib/tap.sh
tap_plan 11
tap_workdir
cd "$TAP_WORKDIR"
tap_fresh_db fake_drop
DB=fake_drop

cat >models.pdm <<'PDM'
model Book {
  title  string(200)
  legacy string(20) null index
}
model Old {
  name string(10)
}
PDM
"$PRODATA" makemigrations >/dev/null
"$PRODATA" migrate >/dev/null
sed -i '/legacy/d; /model Old/,$d' models.pdm
"$PRODATA" makemigrations --allow-destructive >/dev/null
expect_eq "a second migration drops a field and a model" "$(ls migrations | wc -l)" 2

run_cmd "$PRODATA" migrate --fake 2
expect_rc "--fake of the drop while the column and the table are still there is refused" 1
expect_out "... naming the column" '\+ column book\.legacy: in the database, removed by the migrations'
expect_out "... and the table" '\+ table old: in the database, removed by the migrations'
expect_eq "... recording nothing" "$(sql $DB "SELECT count(*) FROM prodata_migrations")" 1

sql $DB "ALTER TABLE book DROP COLUMN legacy; DROP TABLE old" >/dev/null
run_cmd "$PRODATA" migrate --fake 2
expect_rc "once dropped by hand, --fake 2 records it" 0
expect_out "... as faked" 'faked 0002_'
run_cmd "$PRODATA" check
expect_rc "... and check is clean (the dropped table is no drift)" 0

# An extension's operator class, named unqualified as people write it.
"$PRODATA" makemigrations --empty --name trgm >/dev/null
sed -i 's/^-- Write the statements here.*/CREATE EXTENSION IF NOT EXISTS pg_trgm;\nCREATE INDEX book_title_trgm ON book USING gin (title gin_trgm_ops);/' migrations/0003_trgm.sql
sql $DB "CREATE EXTENSION pg_trgm; CREATE INDEX book_title_trgm ON book USING gin (title gin_trgm_ops)" >/dev/null
run_cmd "$PRODATA" migrate --fake 3
expect_rc "--fake of a migration using gin_trgm_ops from public" 0
expect_out "... records it" 'faked 0003_trgm'
expect_eq "... and leaves no scratch schema" "$(sql $DB "SELECT count(*) FROM pg_namespace WHERE nspname LIKE 'prodata_expect%'")" 0
