#!/bin/bash
# migrate.sh - applying migrations to a real PostgreSQL: forward, back with
# --to, refusing irreversible reverts, edited or missing applied files,
# concurrent deployers applying each migration once, lock timeouts retried,
# concurrent index builds, and drift detection of a hand-made ALTER.
source tests/lib/tap.sh
tap_workdir
cd "$TAP_WORKDIR"
tap_fresh_db migrate_test
DB=migrate_test

cat >models.pdm <<'PDM'
model Author {
  name   string(200)
  email  email   unique
}
model Book {
  title   string(300)
  author  Author  related=books
  price   decimal(8,2)  default=0  check(>= 0)
}
PDM
"$PRODATA" makemigrations >/dev/null
printf '  born   date  null\n' >/dev/null
sed -i 's/^  email  email   unique/  email  email   unique\n  born   date    null/' models.pdm
"$PRODATA" makemigrations >/dev/null
sed -i 's/^  title   string(300)/  title   string(300)  index/' models.pdm
"$PRODATA" makemigrations >/dev/null
expect_eq "three migrations written" "$(ls migrations/*.sql | wc -l)" 3

run_cmd "$PRODATA" showmigrations
expect_out "showmigrations lists pending migrations" '^\[ \] 0001_initial'

run_cmd "$PRODATA" migrate --dry-run
expect_rc "dry run succeeds" 0
expect_out "dry run says what would run" 'would apply 0001_initial'
expect_eq "dry run changes nothing" "$(sql $DB "SELECT to_regclass('author') IS NULL")" t

run_cmd "$PRODATA" migrate
expect_rc "migrate applies all" 0
expect_out "each migration reported" 'applied 0003_'
expect_eq "history has three rows" "$(sql $DB 'SELECT count(*) FROM prodata_migrations')" 3
expect_eq "history rows carry sha256 checksums" "$(sql $DB "SELECT count(*) FROM prodata_migrations WHERE checksum ~ '^[0-9a-f]{64}$'")" 3
expect_eq "concurrent index is valid" "$(sql $DB "SELECT bool_and(indisvalid) FROM pg_index WHERE indrelid = 'book'::regclass")" t

run_cmd "$PRODATA" migrate
expect_rc "second migrate is a no-op" 0
expect_out "no-op says so" 'No migrations to apply'

run_cmd "$PRODATA" showmigrations
expect_out "showmigrations marks applied" '^\[X\] 0003_'

# --- constraints from the models hold in the database -----------------------
sql $DB "INSERT INTO author (name, email) VALUES ('Ann', 'ann@example.com')" >/dev/null
run_cmd sql $DB "INSERT INTO book (title, author_id, price) VALUES ('x', 1, -1)"
expect_rc "check(>= 0) enforced by the database" 1
run_cmd sql $DB "INSERT INTO author (name, email) VALUES ('Bob', 'ann@example.com')"
expect_rc "unique enforced by the database" 1
sql $DB "INSERT INTO book (title, author_id) VALUES ('Dune', 1)" >/dev/null
expect_eq "default applied by the database" "$(sql $DB "SELECT price FROM book WHERE title = 'Dune'")" 0.00
sql $DB "DELETE FROM author WHERE id = 1" >/dev/null
expect_eq "on_delete=cascade (the default) deletes books" "$(sql $DB 'SELECT count(*) FROM book')" 0

# --- back and forth -----------------------------------------------------------
run_cmd "$PRODATA" migrate --to 1
expect_rc "migrate --to 1 reverts" 0
expect_out "reverts newest first" 'reverted 0003_.*'
expect_eq "history back to one row" "$(sql $DB 'SELECT count(*) FROM prodata_migrations')" 1
expect_eq "reverted column is gone" "$(sql $DB "SELECT count(*) FROM information_schema.columns WHERE table_name='author' AND column_name='born'")" 0
run_cmd "$PRODATA" check
expect_rc "check reports pending migrations after a revert" 3
expect_out "pending files listed" '0002_.*not applied'
run_cmd "$PRODATA" migrate --to 0
expect_rc "migrate --to 0 undoes everything" 0
expect_eq "no tables left" "$(sql $DB "SELECT count(*) FROM pg_tables WHERE schemaname='public' AND tablename IN ('author','book')")" 0
run_cmd "$PRODATA" migrate
expect_rc "forward again" 0
run_cmd "$PRODATA" check
expect_rc "check agrees after forward again" 0
expect_out "check says OK" '^OK'

# --- drift: a hand-made ALTER ---------------------------------------------------
sql $DB 'ALTER TABLE book ALTER COLUMN title TYPE varchar(500)' >/dev/null
sql $DB 'ALTER TABLE author ADD COLUMN nickname text' >/dev/null
sql $DB 'DROP INDEX book_title_idx' >/dev/null
run_cmd "$PRODATA" check
expect_rc "drift exits 3" 3
expect_out "changed column type shown with the expected one" 'column book\.title: changed: character varying\(500\)'
expect_out "expected type shown" 'expected: character varying\(300\)'
expect_out "added column shown" 'column author\.nickname: not created by the migrations'
expect_out "dropped index shown" 'index book\.book_title_idx: missing'
sql $DB 'ALTER TABLE book ALTER COLUMN title TYPE varchar(300)' >/dev/null
sql $DB 'ALTER TABLE author DROP COLUMN nickname' >/dev/null
sql $DB 'CREATE INDEX book_title_idx ON book (title)' >/dev/null
run_cmd "$PRODATA" check
expect_rc "drift undone: check agrees" 0

# --- an applied migration edited afterwards is refused ------------------------------
cp migrations/0002_*.sql saved.sql
echo "-- a harmless-looking edit" >>migrations/0002_*.sql
run_cmd "$PRODATA" migrate
expect_rc "edited applied migration refused" 1
expect_out "refusal names the migration" 'migration 0002_[a-z_]+ was edited after it was applied'
run_cmd "$PRODATA" showmigrations
expect_out "showmigrations marks the edit" '^\[!\] 0002_'
cp saved.sql migrations/0002_*.sql

mv migrations/0003_*.sql saved3.sql
run_cmd "$PRODATA" migrate
expect_rc "missing applied migration refused" 1
expect_out "refusal names the missing file" 'applied migration 0003_[a-z_]+ has no file'
mv saved3.sql "migrations/$(sql $DB 'SELECT name FROM prodata_migrations WHERE number = 3').sql"

# --- irreversible migrations are refused before anything is reverted --------------
cat >migrations/0004_hand_written.sql <<'SQL'
-- a hand-written data migration without a down section
-- +up
UPDATE book SET price = price;
SQL
run_cmd "$PRODATA" migrate
expect_rc "hand-written migration applies" 0
run_cmd "$PRODATA" migrate --to 2
expect_rc "revert through an irreversible migration refused" 1
expect_out "refusal names it" 'migration 0004_hand_written cannot be reverted'
expect_eq "nothing was reverted" "$(sql $DB 'SELECT count(*) FROM prodata_migrations')" 4

# --- a failing statement: rolled back whole, reported with its line ------------------
cat >migrations/0005_broken.sql <<'SQL'
-- +up
ALTER TABLE book ADD COLUMN isbn text;
ALTER TABLE book ADD COLUMN pages integr;
-- +down
ALTER TABLE book DROP COLUMN isbn;
SQL
run_cmd "$PRODATA" migrate
expect_rc "failing migration exits 1" 1
expect_out "failing statement located by file:line" '0005_broken\.sql:3'
expect_out "PostgreSQL's message shown" 'type "integr" does not exist'
expect_eq "failed migration left nothing behind" "$(sql $DB "SELECT count(*) FROM information_schema.columns WHERE table_name='book' AND column_name='isbn'")" 0
expect_eq "failed migration not recorded" "$(sql $DB 'SELECT count(*) FROM prodata_migrations')" 4
rm migrations/0005_broken.sql

# --- lock timeout: retried with backoff, then applied ------------------------------
cat >migrations/0005_add_pages.sql <<'SQL'
-- +up
ALTER TABLE book ADD COLUMN pages integer;
-- +down
ALTER TABLE book DROP COLUMN pages;
SQL
psql -X -q -d $DB -c "BEGIN; LOCK TABLE book IN ACCESS SHARE MODE; SELECT pg_sleep(1.5); COMMIT;" >/dev/null 2>&1 &
holder=$!
sleep 0.3
run_cmd "$PRODATA" migrate --lock-timeout-ms 200 --lock-retries 6
wait $holder
expect_rc "migration behind a held lock applies after retries" 0
expect_out "lock timeout retried" 'retrying \(1 of 6\)'

psql -X -q -d $DB -c "BEGIN; LOCK TABLE book IN ACCESS SHARE MODE; SELECT pg_sleep(2); COMMIT;" >/dev/null 2>&1 &
holder=$!
sleep 0.3
run_cmd "$PRODATA" migrate --to 4 --lock-timeout-ms 100 --lock-retries 1
wait $holder
expect_rc "lock timeout after the retries fails with exit 1" 1
expect_out "lock timeout explained" 'lock timeout|canceling statement due to lock timeout'
expect_out "lock timeout hint" 'pg_stat_activity'
expect_eq "timed-out revert left the migration applied" "$(sql $DB 'SELECT count(*) FROM prodata_migrations')" 5

# --- drift made before a migrate stays visible after it ------------------------------
sql $DB 'ALTER TABLE author ADD COLUMN nickname text' >/dev/null
cat >migrations/0006_add_isbn.sql <<'SQL'
-- +up
ALTER TABLE book ADD COLUMN isbn text;
-- +down
ALTER TABLE book DROP COLUMN isbn;
SQL
run_cmd "$PRODATA" migrate
expect_rc "migrate over a drifted schema applies" 0
run_cmd "$PRODATA" check
expect_rc "the earlier hand-made change is still reported" 3
expect_out "hand-made column still shown" 'column author\.nickname: not created by the migrations'
expect_no_out "the migration's own column is not drift" 'book\.isbn'

tap_done
