#!/bin/bash
# rebase_hand.sh - makemigrations --rebase never loses hand-written SQL: a
# backfill made with --empty on this branch (its SQL is not what its model
# change plans) is refused, naming it, and nothing changes; with it moved
# out, the rebase goes on (a generated file of this branch, numbered beside
# the other branch's, is not mistaken for a hand-written one).
source tests/lib/tap.sh
tap_plan 7
tap_workdir
cd "$TAP_WORKDIR"
export PGDATABASE=rebase_hand_unreachable PGPORT=1 # no database: the rebase warns and goes on

cat >models.pdm <<'PDM'
model Author {
  name  string(200)
}
model Book {
  title string(100)
}
PDM
"$PRODATA" makemigrations >/dev/null 2>&1
cp models.pdm base.pdm
sed -i 's/^  name  string(200)/&\n  twitter string(50) null/' models.pdm
"$PRODATA" makemigrations --name theirs >/dev/null 2>&1
mv migrations/0002_theirs.sql theirs.sql
cp base.pdm models.pdm
sed -i 's/^  title string(100)/&\n  isbn string(20) null/' models.pdm
"$PRODATA" makemigrations --name ours >/dev/null 2>&1
"$PRODATA" makemigrations --empty --name backfill >/dev/null 2>&1
sed -i "s/^-- Write the statements here.*/UPDATE book SET isbn = 'unknown' WHERE isbn IS NULL;/" migrations/0003_backfill.sql
mv theirs.sql migrations/0002_theirs.sql
sed -i 's/^  name  string(200)/&\n  twitter string(50) null/' models.pdm

run_cmd "$PRODATA" makemigrations --rebase 0002_ours
expect_rc "a rebase that would drop a hand-written backfill is refused" 1
expect_out "... naming it" 'cannot rebase 0003_backfill: its SQL is not what its model change plans'
expect_eq "... changing no file" "$(ls migrations | tr '\n' ' ')" "0001_initial.sql 0002_ours.sql 0002_theirs.sql 0003_backfill.sql "

mv migrations/0003_backfill.sql .
run_cmd "$PRODATA" makemigrations --rebase 0002_ours
expect_rc "with the backfill moved out, the rebase goes on" 0
expect_out "... removing this branch's file" 'removed migrations/0002_ours\.sql'
expect_out "... writing it after the other branch's" 'Wrote migrations/0003_ours\.sql after 0002_theirs'
expect_eq "... the folder" "$(ls migrations | tr '\n' ' ')" "0001_initial.sql 0002_theirs.sql 0003_ours.sql "
