#!/bin/bash
# migrate.sh - applying migrations to a real PostgreSQL: forward, back with
# --to, refusing irreversible reverts, edited or missing applied files,
# concurrent deployers applying each migration once, lock timeouts retried,
# concurrent index builds, and drift detection of a hand-made ALTER.
source tests/lib/tap.sh
tap_plan 120
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
run_cmd sql_verbose $DB "INSERT INTO book (title, author_id, price) VALUES ('x', 1, -1)"
expect_rc "check(>= 0) enforced by the database" 1
expect_out "refused by the check constraint (23514)" '23514.*violates check constraint "book_price_check"'
run_cmd sql_verbose $DB "INSERT INTO author (name, email) VALUES ('Bob', 'ann@example.com')"
expect_rc "unique enforced by the database" 1
expect_out "refused by the unique constraint (23505)" '23505.*violates unique constraint "author_email_key"'
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
expect_out "expected type shown" 'models\.pdm makes: character varying\(300\)'
expect_out "added column shown" 'column author\.nickname: in the database, not in models\.pdm'
expect_out "dropped index shown" 'index book\.book_title_idx: in models\.pdm, not in the database'
expect_out "each kind says which side to change" 'to keep it, declare it in models\.pdm.*migrate --fake N'
sql $DB 'ALTER TABLE book ALTER COLUMN title TYPE varchar(300)' >/dev/null
sql $DB 'ALTER TABLE author DROP COLUMN nickname' >/dev/null
sql $DB 'CREATE INDEX book_title_idx ON book (title)' >/dev/null
run_cmd "$PRODATA" check
expect_rc "drift undone: check agrees" 0

# --- an applied migration edited afterwards is refused ------------------------------
cp migrations/0002_*.sql saved.sql
# blanks and comments in an applied file do not count: re-indented, commented, it is the same migration
sed -i -e 's/^\(ALTER\|CREATE\)/  \1/' -e 's/^-- +up$/-- +up\n-- reviewed by the team\n/' migrations/0002_*.sql
sed -i -e 's/ (/ (   -- a comment inside a statement\n  /' migrations/0002_*.sql
run_cmd diff saved.sql migrations/0002_*.sql
expect_out "(the test edits the +up section: a comment inside a statement)" '^> .*-- a comment inside a statement'
run_cmd "$PRODATA" migrate
expect_rc "an applied file re-indented and commented is accepted" 0
run_cmd "$PRODATA" showmigrations
expect_no_out "... and not marked as edited" '^\[!\]'
cp saved.sql migrations/0002_*.sql
sed -i 's/^-- +down$/SELECT 1;\n-- +down/' migrations/0002_*.sql
run_cmd "$PRODATA" migrate
expect_rc "an applied file with a statement more is refused" 1
expect_out "... naming the edited statement's migration" 'a statement of migration 0002_[a-z_]+ was edited'
cp saved.sql migrations/0002_*.sql
# a history written by an earlier version holds the sha256 of the whole file: accepted, then replaced
whole=$(sha256sum migrations/0001_*.sql | cut -c1-64)
sql $DB "UPDATE prodata_migrations SET checksum = '$whole' WHERE number = 1" >/dev/null
run_cmd "$PRODATA" migrate
expect_rc "an earlier version's whole-file checksum is accepted" 0
expect_eq "... and replaced by the statements' checksum" \
    "$(sql $DB "SELECT checksum <> '$whole' AND checksum ~ '^[0-9a-f]{64}$' FROM prodata_migrations WHERE number = 1")" t
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
# The holder keeps its lock until this test ends it, so no timing decides the outcome.
hold_book() {
    psql -X -q -d $DB -c "BEGIN; LOCK TABLE book IN ACCESS SHARE MODE; SELECT pg_sleep(60); COMMIT;" >/dev/null 2>&1 &
    holder=$!
    poll_sql $DB "SELECT count(*) FROM pg_locks l JOIN pg_class c ON c.oid = l.relation
                  WHERE c.relname = 'book' AND l.mode = 'AccessShareLock' AND l.granted AND l.pid <> pg_backend_pid()" 1
}
release_book() {
    sql $DB "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity
             WHERE query LIKE 'BEGIN; LOCK TABLE book%' AND pid <> pg_backend_pid()" >/dev/null
    wait $holder
}
hold_book
"$PRODATA" migrate --lock-timeout-ms 200 --lock-retries 50 >retried.out 2>&1 &
migrating=$!
poll_file retried.out 'a lock was not granted in time; retry 1'
release_book
wait $migrating
RC=$?
OUT=$(cat retried.out)
expect_rc "migration behind a held lock applies after retries" 0
expect_out "lock timeout retried" 'retrying \(1 of 50\)'
expect_out "the migration applied" '^applied 0005_add_pages'

hold_book
run_cmd "$PRODATA" migrate --to 4 --lock-timeout-ms 100 --lock-retries 1
release_book
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
expect_out "hand-made column still shown" 'column author\.nickname: in the database, not in models\.pdm'
expect_no_out "the migration's own column is not drift" 'book\.isbn'

# --- a concurrent part that fails: reported truthfully, revertible, resumable ------------
# Two authors share a name, so the unique index on it cannot be built: statement 2 of
# the concurrent part (code index, unique index, unique constraint) fails.
sql $DB "INSERT INTO author (name, email) VALUES ('Ann', 'ann1@example.com'), ('Ann', 'ann2@example.com')" >/dev/null
sed -i 's/^  name   string(200)$/  code   string(20)  null  index\n  name   string(200)  unique/' models.pdm
"$PRODATA" makemigrations --name author_code_unique_name >/dev/null
expect_eq "the new migration builds indexes concurrently" "$(grep -c 'CONCURRENTLY' migrations/0007_*.sql)" 2
run_cmd "$PRODATA" migrate
expect_rc "the duplicates are counted before the transaction commits: refused" 1
expect_out "... naming the repeated value" 'Repeated values: \(Ann\)'
expect_eq "... nothing of 0007 applied" "$(sql $DB 'SELECT count(*) FROM prodata_migrations WHERE number = 7')" 0
# With check_data off the concurrent part meets the duplicates itself (as it would meet rows written
# between the commit and the index build): the partial state below.
export PRODATA_CHECK_DATA=off
run_cmd "$PRODATA" migrate
expect_rc "a failing concurrent part exits 2 (the data breaks a constraint: an input error, SQLSTATE 23505)" 2
expect_out "the report says only the transactional part is applied, and why the rest is pending" \
    '^applied 0007_author_code_unique_name \(transactional part, [0-9]+ ms\); concurrent part pending: could not create unique index "author_name_key"'
expect_no_out "the file is not reported as applied whole" '^applied 0007_[a-z_]+ \([0-9]+ ms\)'
expect_out "the error says which statement and how to go on" 'statement 2 of 3 of the concurrent part of 0007_.*migrate --to 6'
expect_out "progress: the first concurrent statement ran" 'migrate: 0007_author_code_unique_name concurrent 1/3 done'
expect_eq "history: applied, incomplete, one concurrent statement done" \
    "$(sql $DB "SELECT is_complete, concurrent_done FROM prodata_migrations WHERE number = 7")" 'f|1'
run_cmd "$PRODATA" showmigrations
expect_out "showmigrations marks the concurrent part unfinished" '^\[~\] 0007_'

objects_0007="SELECT (SELECT count(*) FROM pg_class WHERE relname IN ('author_code_idx', 'author_name_key'))
    + (SELECT count(*) FROM pg_constraint WHERE conname = 'author_name_key')
    + (SELECT count(*) FROM information_schema.columns WHERE table_name = 'author' AND column_name = 'code')"
run_cmd "$PRODATA" migrate --to 6
expect_rc "a partly applied migration reverts" 0
expect_out "the revert says what it skipped" '^reverted 0007_author_code_unique_name \([0-9]+ ms; 1 statement skipped'
expect_eq "history back to six rows" "$(sql $DB 'SELECT count(*) FROM prodata_migrations')" 6
expect_eq "nothing of 0007 is left (column, indexes, constraint)" "$(sql $DB "$objects_0007")" 0

# As a crash between the unique index and its constraint would leave it: the index built, the constraint not.
run_cmd "$PRODATA" migrate
expect_rc "applied again, the concurrent part fails again" 2
sql $DB "DELETE FROM author WHERE email = 'ann2@example.com'" >/dev/null
sql $DB 'CREATE UNIQUE INDEX author_name_key ON author (name)' >/dev/null
sql $DB 'UPDATE prodata_migrations SET concurrent_done = 2 WHERE number = 7' >/dev/null
run_cmd "$PRODATA" migrate --to 6
expect_rc "reverting with the constraint never attached succeeds" 0
expect_eq "the index built for the constraint is dropped too" "$(sql $DB "$objects_0007")" 0

# Resumed where it stopped once the cause is fixed.
sql $DB "INSERT INTO author (name, email) VALUES ('Ann', 'ann2@example.com')" >/dev/null
run_cmd "$PRODATA" migrate
expect_rc "fails once more on the duplicate" 2
sql $DB "DELETE FROM author WHERE email = 'ann2@example.com'" >/dev/null
run_cmd "$PRODATA" migrate
expect_rc "migrate completes it once the duplicate is gone" 0
expect_out "reported as completed" '^completed 0007_author_code_unique_name: 3 concurrent statements'
expect_no_out "the statement that succeeded before is not run again" 'concurrent 1/3'
expect_out "it resumes at the statement that failed" 'migrate: 0007_author_code_unique_name concurrent 2/3: CREATE UNIQUE INDEX'
expect_eq "history complete" "$(sql $DB "SELECT is_complete, concurrent_done FROM prodata_migrations WHERE number = 7")" 't|3'
run_cmd "$PRODATA" migrate --to 6
expect_rc "the complete migration reverts" 0
expect_out "without skipping anything" '^reverted 0007_author_code_unique_name \([0-9]+ ms\)$'
expect_eq "nothing of 0007 is left" "$(sql $DB "$objects_0007")" 0
unset PRODATA_CHECK_DATA

# --- the snapshot follows a run migration by migration, re-reading only what changed ----------------
# Each migration deparses only the tables it touched (or that changed since the previous); the lines kept from earlier
# migrations of the run must still be the live ones, so check agrees after every kind of change below
# and still reports a hand-made one.
tap_fresh_db migrate_drift_run_test
DRUN="--migrations drun --models drun/none.pdm"
mkdir -p drun && : >drun/none.pdm
drun_file() { printf -- '-- +up\n%s\n-- +down\nSELECT 1;\n' "$2" >"drun/$1.sql"; }
drun_file 0001_p_q 'CREATE TABLE p (id int PRIMARY KEY, x int CONSTRAINT p_x_check CHECK (x > 0));
CREATE TABLE q (id int PRIMARY KEY, p_id int REFERENCES p (id), y int);
CREATE INDEX q_y_idx ON q (y);'
run_cmd "$PRODATA" migrate $DRUN
expect_rc "run: first migrate" 0
run_cmd "$PRODATA" check $DRUN
expect_rc "run: check agrees" 0
expect_eq "run: the snapshot is stored one row per line, with its mark" \
    "$(sql migrate_drift_run_test "SELECT count(*) FILTER (WHERE key = ''), count(*) FILTER (WHERE key = 'index q.q_y_idx') FROM prodata_schema_snapshot_lines")" "1|1"

# a hand change before the run, on a table the run's second migration alters
sql migrate_drift_run_test 'ALTER TABLE q ADD COLUMN hand text' >/dev/null
drun_file 0002_r 'CREATE TABLE r (id int);'
drun_file 0003_q_z 'ALTER TABLE q ADD COLUMN z int;'
run_cmd "$PRODATA" migrate $DRUN
expect_rc "run: two migrations over a hand change" 0
run_cmd "$PRODATA" check $DRUN
expect_rc "run: the hand change is still reported" 3
expect_out "run: the hand-made column is shown" 'column q\.hand: not created by the migrations'
expect_no_out "run: the migrations' own changes are not drift" 'q\.z|table r'
sql migrate_drift_run_test 'ALTER TABLE q DROP COLUMN hand' >/dev/null
run_cmd "$PRODATA" check $DRUN
expect_rc "run: hand change undone, check agrees" 0

# migrations that only drop a constraint, only drop an index, rename what a foreign key names
drun_file 0004_s 'CREATE TABLE s (id int);'
drun_file 0005_drop_check 'ALTER TABLE p DROP CONSTRAINT p_x_check;'
drun_file 0006_drop_index 'DROP INDEX q_y_idx;'
drun_file 0007_rename_p 'ALTER TABLE p RENAME TO p2;'
drun_file 0008_rename_id 'ALTER TABLE p2 RENAME COLUMN id TO pid;'
run_cmd "$PRODATA" migrate $DRUN
expect_rc "run: drops and renames applied" 0
run_cmd "$PRODATA" check $DRUN
expect_rc "run: a dropped constraint, a dropped index and renames are recorded" 0
expect_eq "run: their lines are gone from the snapshot" \
    "$(sql migrate_drift_run_test "SELECT count(*) FROM prodata_schema_snapshot_lines WHERE key IN ('constraint p.p_x_check', 'index q.q_y_idx', 'table p')")" 0
expect_eq "run: the foreign key of the table not altered is stored under the new names" \
    "$(sql migrate_drift_run_test "SELECT definition FROM prodata_schema_snapshot_lines WHERE key = 'constraint q.q_p_id_fkey'")" \
    'FOREIGN KEY (p_id) REFERENCES p2(pid)'

# a concurrent part between two migrations of a run: the next one sees the index it built
printf -- '-- +up\nCREATE TABLE c (id int, v int);\n-- +up concurrently\nCREATE INDEX CONCURRENTLY IF NOT EXISTS c_v_idx ON c (v);\n-- +down\nDROP TABLE c;\n' >drun/0009_c.sql
drun_file 0010_drop_c_v_idx 'DROP INDEX c_v_idx;'
run_cmd "$PRODATA" migrate $DRUN
expect_rc "run: a concurrent index, then its drop" 0
run_cmd "$PRODATA" check $DRUN
expect_rc "run: the drop after the concurrent part is recorded" 0

# a snapshot stored by an earlier version (one text) keeps its drift baseline
sql migrate_drift_run_test "CREATE TABLE prodata_schema_snapshot (is_current boolean PRIMARY KEY DEFAULT true CHECK (is_current),
    snapshot text NOT NULL, taken_at timestamptz NOT NULL DEFAULT now());
INSERT INTO prodata_schema_snapshot (snapshot) SELECT string_agg(key || E'\t' || definition, E'\n' ORDER BY key COLLATE \"C\")
    FROM prodata_schema_snapshot_lines WHERE key <> '';
DROP TABLE prodata_schema_snapshot_lines;
ALTER TABLE s ADD COLUMN legacy_hand text;" >/dev/null
run_cmd "$PRODATA" check $DRUN
expect_rc "old snapshot: check reads it" 3
expect_out "old snapshot: the hand change is reported" 'column s\.legacy_hand: not created by the migrations'
drun_file 0011_s_w 'ALTER TABLE s ADD COLUMN w int;'
run_cmd "$PRODATA" migrate $DRUN
expect_rc "old snapshot: migrate applies" 0
expect_eq "old snapshot: moved into the lines table, the old one dropped" \
    "$(sql migrate_drift_run_test "SELECT to_regclass('prodata_schema_snapshot') IS NULL AND EXISTS (SELECT FROM prodata_schema_snapshot_lines WHERE key = 'table q')")" t
run_cmd "$PRODATA" check $DRUN
expect_rc "old snapshot: the hand change is still reported after the upgrade" 3
expect_out "old snapshot: the hand-made column is shown" 'column s\.legacy_hand: not created by the migrations'
expect_no_out "old snapshot: the migration's column is not drift" 's\.w'
sql migrate_drift_run_test 'ALTER TABLE s DROP COLUMN legacy_hand' >/dev/null
run_cmd "$PRODATA" check $DRUN
expect_rc "old snapshot: hand change undone, check agrees" 0

# --- memory: each migration's work is dropped with its scratch arena -------------------------------
# The command arena's peak (PRODATA_DEBUG=1 prints it) over 100 one-table migrations stays within a small
# multiple of the peak over 10: it follows one migration's work. When every migration's two reads of the
# whole schema stayed in the command arena it grew with the square of the history (about 100 times).
write_one_table_migrations() {
    local dir=$1 n=$2 i
    mkdir -p "$dir"
    for i in $(seq 1 "$n"); do
        printf -- '-- +up\nCREATE TABLE m%d (id bigint PRIMARY KEY, name varchar(100) NOT NULL UNIQUE, size int CHECK (size >= 0));\nCREATE INDEX m%d_size_idx ON m%d (size);\n-- +down\nDROP TABLE m%d;\n' \
            "$i" "$i" "$i" "$i" >"$dir/$(printf '%04d' "$i")_m$i.sql"
    done
}
arena_peak_kb() {
    tap_fresh_db "$2"
    PRODATA_DEBUG=1 "$PRODATA" migrate --migrations "$1" --models "$1/none.pdm" 2>&1 >/dev/null |
        sed -n 's/^migrate: memory: arena peak \([0-9]*\) KB$/\1/p'
}
write_one_table_migrations short 10
write_one_table_migrations long 100
peak_short=$(arena_peak_kb short migrate_memory_short_test)
peak_long=$(arena_peak_kb long migrate_memory_long_test)
echo "# arena peak: $peak_short KB for 10 migrations, $peak_long KB for 100"
expect_eq "the arena peak is reported" "$([ -n "$peak_short" ] && [ -n "$peak_long" ] && echo yes)" yes
expect_eq "100 migrations peak under 20 times what 10 do ($peak_long KB against $peak_short KB)" \
    "$([ "${peak_long:-0}" -lt $((20 * ${peak_short:-0})) ] && echo yes)" yes

tap_done
