#!/bin/bash
# squash.sh - squashmigrations on a real PostgreSQL: the squash beside its files
# (a database that applied them is recorded as having applied it, a fresh one
# runs only it, one that applied part finishes the files), the same schema on
# both, the files deleted (every database still migrates, the next migration
# follows the squash), part-applied refused once the files are gone, and
# hand-written migrations refused in a range.
source tests/lib/tap.sh
tap_plan 39
tap_workdir
cd "$TAP_WORKDIR"

cat >models.pdm <<'PDM'
model Author {
  name  string(200)
}
PDM
"$PRODATA" makemigrations >/dev/null
sed -i 's/^  name  string(200)/&\n  born  date  null/' models.pdm
"$PRODATA" makemigrations >/dev/null
sed -i 's/^  name  string(200)/&  index/' models.pdm
"$PRODATA" makemigrations >/dev/null
cat >>models.pdm <<'PDM'
model Book {
  title   string(300)
  author  Author  on_delete=protect
}
PDM
"$PRODATA" makemigrations >/dev/null
expect_eq "four migrations" "$(ls migrations | wc -l)" 4

tap_fresh_db squash_old
"$PRODATA" migrate >/dev/null
sql squash_old "INSERT INTO author (name) VALUES ('Jemisin')" >/dev/null
tap_fresh_db squash_part
"$PRODATA" migrate --to 2 >/dev/null
tap_fresh_db squash_late
"$PRODATA" migrate --to 2 >/dev/null

run_cmd "$PRODATA" squashmigrations 4
expect_rc "squashmigrations 4" 0
expect_out "... names the squash and what it replaces" 'squashed_0001_to_0004\.sql: it replaces 0001_initial to 0004_'
SQUASH=$(ls migrations/0004_squashed_0001_to_0004.sql)
expect_eq "... the squash lists the four files" "$(grep -c '^-- replaces: 0001_initial 0002_[a-z_]* 0003_[a-z_]* 0004_[a-z_]*$' "$SQUASH")" 1
expect_eq "... makes the tables in one go" "$(grep -c '^CREATE TABLE' "$SQUASH")" 2

export PGDATABASE=squash_old
run_cmd "$PRODATA" migrate --dry-run
expect_out "a dry run says the squash would be recorded" '^would record 0004_squashed_0001_to_0004 as applied'
expect_eq "... and records nothing" "$(sql squash_old 'SELECT count(*) FROM prodata_migrations')" 4
run_cmd "$PRODATA" migrate
expect_rc "a database that applied the files migrates" 0
expect_out "... and is recorded as having applied the squash" 'recorded 0004_squashed_0001_to_0004 as applied'
expect_eq "... in one history row" "$(sql squash_old 'SELECT number || name FROM prodata_migrations')" 40004_squashed_0001_to_0004
run_cmd "$PRODATA" showmigrations
expect_out "showmigrations shows the squash applied" '^\[X\] 0004_squashed_0001_to_0004'
run_cmd "$PRODATA" check
expect_rc "check is clean on the database that applied the files" 0

tap_fresh_db squash_new
run_cmd "$PRODATA" migrate
expect_rc "a fresh database migrates" 0
expect_out "... applying only the squash" '^applied 0004_squashed_0001_to_0004'
expect_no_out "... and none of the files" 'applied 0001_initial'
run_cmd "$PRODATA" check
expect_rc "check is clean on the fresh database" 0
schema() {
    sql "$1" "SELECT string_agg(x, E'\n' ORDER BY x) FROM (
      SELECT table_name || '.' || column_name || ' ' || data_type || ' ' || is_nullable AS x
        FROM information_schema.columns WHERE table_schema = 'public' AND table_name NOT LIKE 'prodata%'
      UNION ALL SELECT indexdef FROM pg_indexes WHERE schemaname = 'public' AND tablename NOT LIKE 'prodata%'
      UNION ALL SELECT conname || ' ' || pg_get_constraintdef(oid) FROM pg_constraint
        WHERE connamespace = 'public'::regnamespace AND conrelid::regclass::text NOT LIKE 'prodata%') s"
}
expect_eq "the squash makes the schema the files made" "$(schema squash_new)" "$(schema squash_old)"

export PGDATABASE=squash_part
run_cmd "$PRODATA" migrate
expect_rc "a database that applied two of the files migrates" 0
expect_out "... finishing the files" 'applied 0004_'
expect_no_out "... not running the squash" '^applied 0004_squashed'
expect_out "... then recorded as having applied the squash" 'recorded 0004_squashed_0001_to_0004 as applied'
expect_eq "... the same schema" "$(schema squash_part)" "$(schema squash_old)"

tap_fresh_db squash_target
run_cmd "$PRODATA" migrate --to 2
expect_rc "a fresh database cannot stop inside a squash" 2
expect_out "... saying why" 'migration 2 is inside 0004_squashed_0001_to_0004'

# The replaced files deleted: every database still migrates; the next migration follows the squash.
export PGDATABASE=squash_late
grep '^-- replaces:' "$SQUASH" | cut -d' ' -f3- | tr ' ' '\n' | while read -r f; do rm "migrations/$f.sql"; done
expect_eq "the replaced files are deleted" "$(ls migrations | wc -l)" 1
run_cmd "$PRODATA" migrate
expect_rc "a database that applied part of the deleted files is refused" 1
expect_out "... saying how much it applied" 'applied 2 of the 4 migrations 0004_squashed_0001_to_0004 replaces'
sed -i 's/^  title   string(300)/&\n  pages   int  null/' models.pdm
run_cmd "$PRODATA" makemigrations
expect_rc "makemigrations after the squash" 0
expect_eq "... follows the squash" "$(grep -c '^-- after: 0004_squashed_0001_to_0004$' migrations/0005_*.sql)" 1
for db in squash_old squash_new squash_part; do
    export PGDATABASE=$db
    run_cmd "$PRODATA" migrate
    expect_rc "$db: migrates past the squash" 0
done
run_cmd "$PRODATA" check
expect_rc "check is clean with the files deleted" 0

# A squash cannot be squashed again yet: its replaces line would name files the folder no longer holds
# beside ones it does, and a database that recorded it would count as having applied part of the new one.
run_cmd "$PRODATA" squashmigrations 5
expect_rc "a range holding a squash is refused" 1
expect_out "... saying it is one" 'cannot squash 0004_squashed_0001_to_0004: it is a squash itself'
expect_eq "... writing nothing" "$(ls migrations | wc -l)" 2

# A hand-written migration cannot be squashed: its statements would be lost.
"$PRODATA" makemigrations --empty --name backfill >/dev/null
sed -i 's/^-- Write the statements here.*/UPDATE book SET pages = 0 WHERE pages IS NULL;/' migrations/0006_backfill.sql
run_cmd "$PRODATA" squashmigrations 5 6
expect_rc "a range with a hand-written migration is refused" 1
expect_out "... naming it" 'cannot squash 0006_backfill: its SQL is not what its model change plans'
run_cmd "$PRODATA" squashmigrations 9
expect_rc "a squash to a migration that does not exist is a usage error" 2
