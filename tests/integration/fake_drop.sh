#!/bin/bash
# fake_drop.sh - migrate --fake of a migration that drops: recorded only when
# what it drops (a column, an index, a table) is gone from the database, and
# check is clean afterwards (the snapshot forgets the dropped table too).
source tests/lib/tap.sh
tap_plan 8
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
