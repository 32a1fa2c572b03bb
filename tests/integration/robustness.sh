#!/bin/bash
# robustness.sh - bad and unlucky input to migrate, each found in review:
# malformed sections refused before anything changes, transaction control in
# a migration, numbers out of range, migration 0000, error lines placed
# exactly (non-ASCII text, concurrent statements, identical sections), the
# server's own hint kept, a schema whose name needs quoting, a migrate killed
# between its steps leaving no false drift, an interrupted migrate cancelling
# its statement and releasing its lock, definitions with newlines in the
# drift report, a migration's warnings shown, and connection strings that must
# not echo a password or any other secret option (sslpassword).
source tests/lib/tap.sh
tap_plan 88
tap_workdir
cd "$TAP_WORKDIR"
tap_fresh_db robustness_test
DB=robustness_test
export PRODATA_MODELS=/dev/null   # these tests write migrations by hand
new_folder() { rm -rf migrations; mkdir migrations; tap_fresh_db robustness_test; }
history_count() { sql $DB "SELECT count(*) FROM prodata_migrations" 2>/dev/null || echo 0; }

# --- a malformed concurrent section is refused before the transactional part runs --------
new_folder
printf -- '-- +up\nCREATE TABLE a (id int);\n-- +up concurrently\nSELECT 1;\n/* never closed\n' >migrations/0001_a.sql
run_cmd "$PRODATA" migrate
expect_rc "malformed concurrent section refused" 2
expect_out "refusal names file and line" 'migrations/0001_a\.sql:5: unterminated block comment'
expect_eq "nothing was applied" "$(sql $DB "SELECT to_regclass('a') IS NULL")" t

printf -- "-- +up\nCREATE TABLE a (id int);\nSELECT 'open;\n" >migrations/0001_a.sql
run_cmd "$PRODATA" migrate
expect_rc "unterminated quote in +up refused" 2
expect_out "quote error placed" 'migrations/0001_a\.sql:3: unterminated quoted string'

# --- transaction control inside a migration --------------------------------------------
printf -- '-- +up\nCREATE TABLE a (id int);\nCOMMIT;\nCREATE TABLE b (id nosuchtype);\n' >migrations/0001_a.sql
run_cmd "$PRODATA" migrate
expect_rc "COMMIT inside a migration refused" 2
expect_out "refusal placed at the COMMIT" 'migrations/0001_a\.sql:3: transaction control in a migration'
expect_eq "nothing committed behind the history's back" "$(sql $DB "SELECT to_regclass('a') IS NULL")" t

# --- numbers ------------------------------------------------------------------------------
printf -- '-- +up\nCREATE TABLE a (id int);\n-- +down\nDROP TABLE a;\n' >migrations/0001_a.sql
printf -- '-- +up\nCREATE TABLE b (id int);\n-- +down\nDROP TABLE b;\n' >migrations/0002_b.sql
"$PRODATA" migrate >/dev/null
run_cmd "$PRODATA" migrate --to 4294967297
expect_rc "--to beyond int range is a usage error" 2
expect_eq "nothing reverted by a wrapped number" "$(history_count)" 2
run_cmd "$PRODATA" sqlmigrate 4294967298
expect_rc "sqlmigrate beyond int range refused" 2
printf -- '-- +up\nCREATE TABLE z (id int);\n' >migrations/0000_z.sql
run_cmd "$PRODATA" migrate
expect_rc "migration 0000 refused" 2
expect_out "0000 named" '0000_z\.sql: bad migration file name'
rm migrations/0000_z.sql

# --- an applied name taken over by another file -------------------------------------------
mv migrations/0002_b.sql migrations/0002_c.sql
run_cmd "$PRODATA" showmigrations
expect_out "the new file is shown pending" '^\[ \] 0002_c$'
expect_out "the applied one is shown missing" '^\[\?\] 0002_b .*file is missing'
mv migrations/0002_c.sql migrations/0002_b.sql

# --- error positions -----------------------------------------------------------------------
printf -- '-- +up\nCOMMENT ON TABLE a IS '"'"'größe ünd ßpäce'"'"';\nSELECT 1;\nSELECT 2;\n\nSELECT nosuchcolumn FROM a;\n' >migrations/0003_pos.sql
run_cmd "$PRODATA" migrate
expect_rc "failing statement after non-ASCII text" 1
expect_out "placed on its line despite multi-byte characters" 'migrations/0003_pos\.sql:6'
printf -- '-- +up\nSELECT 1;\n-- +up concurrently\nSELECT 1;\nSELECT 2;\n\nSELECT nosuchfunc(1);\n' >migrations/0003_pos.sql
run_cmd "$PRODATA" migrate
expect_rc "failing concurrent statement" 1
expect_out "concurrent statement placed on its line" 'migrations/0003_pos\.sql:7'
expect_out "PostgreSQL's own hint is kept" 'HINT: No function matches'
expect_out "the resume note is in the context" 'migrate resumes here'
# The transactional part of 0003_pos was recorded; forget it so the next case can use number 3.
rm migrations/0003_pos.sql
sql $DB "DELETE FROM prodata_migrations WHERE number = 3" >/dev/null
printf -- '-- +up\nSELECT * FROM nosuch;\n-- +down\n\n\nSELECT * FROM nosuch;\n' >migrations/0003_same.sql
sql $DB "INSERT INTO prodata_migrations (number, name, checksum, is_complete, duration_ms, prodata_version) VALUES (3, '0003_same', encode(sha256(convert_to(\$\$$(cat migrations/0003_same.sql)
\$\$, 'UTF8')), 'hex'), true, 0, 'test')" >/dev/null
run_cmd "$PRODATA" migrate --to 2
expect_rc "failing revert" 1
expect_out "revert error placed in the down section, not the identical up" 'migrations/0003_same\.sql:6'
sql $DB "DELETE FROM prodata_migrations WHERE number = 3" >/dev/null
rm migrations/0003_same.sql

# --- a schema whose name needs quoting ------------------------------------------------------
new_folder
sql $DB 'CREATE SCHEMA "App"' >/dev/null
printf -- '-- +up\nCREATE TABLE t (id int);\n-- +down\nDROP TABLE t;\n' >migrations/0001_t.sql
PGOPTIONS='-c search_path="App"' run_cmd "$PRODATA" migrate
expect_rc "migrate in a schema named \"App\"" 0
expect_eq "table made in that schema" "$(sql $DB "SELECT to_regclass('\"App\".t') IS NOT NULL")" t
PGOPTIONS='-c search_path="App"' run_cmd "$PRODATA" check
expect_rc "check in a schema named \"App\"" 0

# --- killed between the transactional and the concurrent part: no false drift ---------------
new_folder
printf -- '-- +up\nCREATE TABLE a (id int);\n-- +down\nDROP TABLE a;\n' >migrations/0001_a.sql
"$PRODATA" migrate >/dev/null
printf -- '-- +up\nCREATE TABLE b (id int);\n-- +up concurrently\nSELECT pg_sleep(2);\nCREATE INDEX CONCURRENTLY IF NOT EXISTS b_id_idx ON b (id);\n-- +down\nDROP TABLE b;\n' >migrations/0002_b.sql
"$PRODATA" migrate >/dev/null 2>&1 &
victim=$!
for _ in $(seq 1 50); do
    [ "$(sql $DB "SELECT count(*) FROM prodata_migrations WHERE number = 2")" = 1 ] && break
    sleep 0.1
done
kill -9 $victim 2>/dev/null
wait $victim 2>/dev/null
run_cmd "$PRODATA" showmigrations
expect_out "the killed migration is marked unfinished" '^\[~\] 0002_b'
run_cmd "$PRODATA" migrate
expect_rc "the next migrate completes it" 0
expect_out "completion reported" 'completed 0002_b: 2 concurrent statements'
run_cmd "$PRODATA" check
expect_rc "no false drift after the kill" 0

# --- an interrupted migrate cancels its statement and frees the lock -------------------------
printf -- '-- +up\nCREATE TABLE c (id int);\nSELECT pg_sleep(20);\n-- +down\nDROP TABLE c;\n' >migrations/0003_slow.sql
"$PRODATA" migrate >interrupted.out 2>&1 &
slow=$!
for _ in $(seq 1 50); do
    [ "$(sql $DB "SELECT count(*) FROM pg_stat_activity WHERE query LIKE '%pg_sleep(20)%' AND application_name = 'prodata'")" = 1 ] && break
    sleep 0.1
done
kill -INT $slow
wait $slow
rc=$?
expect_eq "interrupted migrate exits 1" "$rc" 1
check "interruption reported" grep -q 'canceling statement due to user request' interrupted.out
expect_eq "its statement no longer runs" "$(sql $DB "SELECT count(*) FROM pg_stat_activity WHERE query LIKE '%pg_sleep(20)%' AND application_name = 'prodata'")" 0
expect_eq "its transaction rolled back" "$(sql $DB "SELECT to_regclass('c') IS NULL")" t
rm migrations/0003_slow.sql
run_cmd "$PRODATA" migrate --lock-wait-ms 1000
expect_rc "the lock is free again" 0

# --- definitions with newlines stay one line in the drift report ---------------------------------
printf -- "-- +up\nCREATE TABLE d (s text DEFAULT E'a\\\\n0 zz');\n-- +down\nDROP TABLE d;\n" >migrations/0003_d.sql
"$PRODATA" migrate >/dev/null
sql $DB "ALTER TABLE d ALTER COLUMN s SET DEFAULT E'a\\n1 yy'" >/dev/null
run_cmd "$PRODATA" check
expect_rc "changed default found" 3
expect_out "reported on the column, with the newline escaped" "column d\\.s: changed: text null default 'a\\\\n1 yy'"

# --- the server's warnings reach the deployer ------------------------------------------------------
new_folder
printf -- "-- +up\nCREATE TABLE w (id int);\nDO \$\$ BEGIN RAISE WARNING 'rows to check by hand' USING DETAIL = 'see the runbook'; RAISE NOTICE 'fyi'; END \$\$;\n-- +down\nDROP TABLE w;\n" >migrations/0001_w.sql
OUT=$("$PRODATA" migrate 2>&1 >/dev/null)
expect_out "a migration's RAISE WARNING is printed on stderr" '^prodata: warning: rows to check by hand sqlstate=01000 detail="see the runbook"$'
expect_no_out "its RAISE NOTICE is not, at the default log_level (warning)" 'fyi'
"$PRODATA" migrate --to 0 >/dev/null 2>&1
OUT=$("$PRODATA" migrate --log-level notice 2>&1 >/dev/null)
expect_out "log_level notice shows the notice" '^prodata: notice: fyi sqlstate=00000$'
expect_out "and still the warning" '^prodata: warning: rows to check by hand'
expect_no_out "but not migrate's own IF NOT EXISTS notices" 'already exists|skipping'
OUT=$("$PRODATA" migrate --to 0 --log-level debug 2>&1 >/dev/null)
expect_no_out "nor, on a second run, at debug" 'already exists|skipping'

# --- interrupted between two concurrent statements: the error says what stays applied ---------
# The first statement swallows the cancel the signal sends, so migrate stops at its next step, after the
# transactional part committed and one concurrent statement ran: nothing of that was rolled back.
new_folder
cat >migrations/0001_s.sql <<'SQL'
-- +up
CREATE TABLE s (id int);
-- +up concurrently
DO $$ BEGIN PERFORM pg_sleep(1); EXCEPTION WHEN query_canceled THEN NULL; END $$;
CREATE INDEX CONCURRENTLY IF NOT EXISTS s_id_idx ON s (id);
-- +down
DROP TABLE s;
SQL
"$PRODATA" migrate >between.out 2>&1 &
between=$!
poll_file between.out 'concurrent 1/2:'
kill -INT $between
wait $between
expect_eq "interrupted between concurrent statements: exit 1" "$?" 1
OUT=$(cat between.out)
expect_out "it says it was interrupted" 'error: migrate was interrupted'
expect_no_out "it does not claim the migration was rolled back" 'rolled back'
expect_out "it says the transactional part and one concurrent statement stay applied" \
    'transactional part of 0001_s is applied and 1 of its 2 concurrent statements'
expect_eq "history: applied, one concurrent statement done" \
    "$(sql $DB "SELECT is_complete, concurrent_done FROM prodata_migrations WHERE number = 1")" "f|1"
run_cmd "$PRODATA" migrate
expect_out "the next migrate resumes at the second statement" 'concurrent 2/2: CREATE INDEX'
expect_no_out "and does not run the first again" 'concurrent 1/2'
expect_out "then completes the file" 'completed 0001_s: 2 concurrent statements'

# --- hand-written concurrent statements: unquoted names, lower-case keywords ------------------
# A build that failed leaves an INVALID index; IF NOT EXISTS would accept it on the next run, so it must be
# dropped first, whether the name is quoted or not. A revert must skip what the unfinished part never made.
new_folder
printf -- '-- +up\nCREATE TABLE u (a int, b int);\nINSERT INTO u VALUES (1, 1), (1, 2);\n-- +down\nDROP TABLE u;\n' \
    >migrations/0001_u.sql
cat >migrations/0002_keys.sql <<'SQL'
-- +up
ALTER TABLE u ADD COLUMN c int;
-- +up concurrently
CREATE UNIQUE INDEX CONCURRENTLY IF NOT EXISTS u_a_key ON u (a);
create index concurrently if not exists U_B_Idx on u (b);
-- +down
DROP INDEX u_b_idx;
DROP INDEX u_a_key;
ALTER TABLE u DROP COLUMN c;
SQL
run_cmd "$PRODATA" migrate
expect_out "the duplicates are counted before the commit" '1 value of u \(a\) appears more than once'
export PRODATA_CHECK_DATA=off # the concurrent part meets them itself, as rows written after the commit
run_cmd "$PRODATA" migrate
expect_out "a unique build over duplicates fails in the concurrent part" 'concurrent part pending: could not create unique index'
expect_eq "the INVALID index it left is dropped (unquoted name)" \
    "$(sql $DB "SELECT count(*) FROM pg_index WHERE indrelid = 'u'::regclass")" 0
run_cmd "$PRODATA" migrate --to 1
expect_rc "the partly applied file reverts" 0
expect_out "skipping the statements that undo what never ran" 'reverted 0002_keys .*2 statements skipped'
expect_eq "its transactional part is undone" "$(sql $DB "SELECT count(*) FROM pg_attribute WHERE attrelid = 'u'::regclass AND attname = 'c'")" 0
run_cmd "$PRODATA" migrate
sql $DB "DELETE FROM u WHERE b = 2" >/dev/null
run_cmd "$PRODATA" migrate
expect_out "once the duplicate is gone, migrate completes the file" 'completed 0002_keys: 2 concurrent statements'
unset PRODATA_CHECK_DATA
expect_eq "both indexes exist and are valid" \
    "$(sql $DB "SELECT count(*), bool_and(indisvalid) FROM pg_index WHERE indrelid = 'u'::regclass")" "2|t"
run_cmd sql_verbose $DB "INSERT INTO u VALUES (1, 3)"
expect_out "the unique index refuses a duplicate" '23505'

# --- the history table: an older one gains concurrent_done; an open reader does not hold migrate up ---
new_folder
printf -- '-- +up\nCREATE TABLE h (id int);\n-- +up concurrently\nCREATE INDEX CONCURRENTLY IF NOT EXISTS h_id_idx ON h (id);\n-- +down\nDROP TABLE h;\n' \
    >migrations/0001_h.sql
"$PRODATA" migrate >/dev/null 2>&1
# As a deployer from before concurrent_done left it: killed before its concurrent part.
sql $DB "ALTER TABLE prodata_migrations DROP COLUMN concurrent_done; UPDATE prodata_migrations SET is_complete = false;
         DROP INDEX h_id_idx" >/dev/null
run_cmd "$PRODATA" migrate
expect_out "an older history's unfinished file is completed" 'completed 0001_h: 1 concurrent statement'
expect_eq "the older history gained concurrent_done" \
    "$(sql $DB "SELECT is_complete, concurrent_done FROM prodata_migrations WHERE number = 1")" "t|1"
# A session that read the history and stays in its transaction (an operator's psql, a health check) must not
# hold up a migrate that has nothing to do: the upgrade's ALTER TABLE ran on every migrate and waited for it.
psql -X -q -d $DB -c "BEGIN; SELECT count(*) FROM prodata_migrations; SELECT pg_sleep(30); COMMIT" >/dev/null 2>&1 &
reader=$!
poll_sql $DB "SELECT count(*) FROM pg_stat_activity WHERE query LIKE '%FROM prodata_migrations; SELECT pg_sleep(30)%'
              AND pid <> pg_backend_pid()" 1
started=$SECONDS
run_cmd timeout 20 "$PRODATA" migrate
expect_out "migrate beside an open reader of the history has nothing to do" '^No migrations to apply\.$'
expect_eq "and does not wait for the reader's transaction" "$([ $((SECONDS - started)) -lt 10 ] && echo yes)" yes
sql $DB "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE query LIKE '%FROM prodata_migrations; SELECT pg_sleep(30)%'
         AND pid <> pg_backend_pid()" >/dev/null
wait $reader

# --- a revert after a deployer died before recording a finished concurrent statement ------------
# A deployer killed during CREATE INDEX CONCURRENTLY leaves its backend building the index to the end, with
# nobody left to record it: the history counts one statement fewer than ran. The revert must still drop that
# index, not leave a unique index behind (here the count is set back by hand, as the kill leaves it).
new_folder
printf -- '-- +up\nCREATE TABLE v (a int);\n-- +down\nDROP TABLE v;\n' >migrations/0001_v.sql
cat >migrations/0002_v_key.sql <<'SQL'
-- +up
ALTER TABLE v ADD COLUMN b int;
-- +up concurrently
CREATE UNIQUE INDEX CONCURRENTLY IF NOT EXISTS "v_a_key" ON v (a);
SELECT 1 / 0;
DO $$ BEGIN ALTER TABLE v ADD CONSTRAINT "v_a_key" UNIQUE USING INDEX "v_a_key"; END $$;
-- +down
ALTER TABLE v DROP CONSTRAINT "v_a_key";
ALTER TABLE v DROP COLUMN b;
SQL
run_cmd "$PRODATA" migrate
expect_out "the second concurrent statement fails" 'concurrent part pending: division by zero'
sql $DB "UPDATE prodata_migrations SET concurrent_done = 0 WHERE number = 2" >/dev/null
run_cmd "$PRODATA" migrate --to 1
expect_rc "the partly applied file reverts" 0
expect_eq "the unique index its first statement built is dropped" \
    "$(sql $DB "SELECT count(*) FROM pg_index WHERE indrelid = 'v'::regclass")" 0
run_cmd "$PRODATA" check
expect_no_out "check finds no index the migrations did not make" 'not created by the migrations'

# --- connection strings -----------------------------------------------------------------------
run_cmd "$PRODATA" migrate --database 'postgresql://u:s3cret@[::1'
expect_rc "an unparseable URI on the command line is refused" 2
expect_no_out "its password is not echoed" 's3cret'
PRODATA_DATABASE='postgresql://u:s3cret@[::1' run_cmd "$PRODATA" migrate
expect_rc "an unparseable URI in the environment is an input error" 2
expect_no_out "its password is not echoed either" 's3cret'
PRODATA_DATABASE='postgresql://u:s3cret@[::1' run_cmd "$PRODATA" config
expect_no_out "config hides it" 's3cret'

# Every option libpq marks secret is one (found by fuzzing: sslpassword was printed and accepted).
printf 'database = "host=x sslpassword=s3cretssl"\n' >secret.conf
run_cmd "$PRODATA" config --config secret.conf
expect_rc "config with an sslpassword in the file runs" 0
expect_no_out "config does not print the sslpassword" 's3cretssl'
expect_out "config shows it masked" 'sslpassword=\*{8}'
PRODATA_DATABASE='postgresql://u:s3cretpw@127.0.0.1/x?sslpassword=s3cretssl' run_cmd "$PRODATA" config
expect_no_out "config masks a URI's password and sslpassword parameter" 's3cret'
expect_out "the URI's other parts are shown" 'host=127\.0\.0\.1'
run_cmd "$PRODATA" migrate --database 'host=127.0.0.1 sslpassword=s3cretssl'
expect_rc "an sslpassword on the command line is refused" 2
expect_out "refused as a password is" 'pgpass'
expect_no_out "the refusal does not echo it" 's3cretssl'
run_cmd "$PRODATA" migrate --database 'postgresql://127.0.0.1/x?sslpassword=s3cretssl'
expect_rc "an sslpassword in a URI on the command line is refused" 2
expect_no_out "that refusal does not echo it either" 's3cretssl'

# --- prodata.conf quoting ---------------------------------------------------------------------
printf 'database = "host=nowhere.invalid" # production\nlock_timeout_ms = 100 # fast\n' >q.conf
run_cmd "$PRODATA" config --config q.conf
expect_out "a quoted value with a comment after it" 'database = "host=nowhere.invalid"'
expect_out "an unquoted value with a comment after it" 'lock_timeout_ms = 100'
printf 'database = "host=x\n' >q.conf
run_cmd "$PRODATA" config --config q.conf
expect_rc "unterminated quote refused" 2
expect_out "unterminated quote placed" 'q\.conf:1: database: unterminated quoted value'
run_cmd "$PRODATA" config --config /tmp
expect_rc "a directory as the settings file refused" 1

tap_done
