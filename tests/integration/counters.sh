#!/bin/bash
# counters.sh - the exact row counters migrate keeps on model tables
# (prodata_row_counts, docs/query.md "Counts"): installed by migrate in each
# migration's transaction, never written into migration files; exact after
# inserts (single, bulk, COPY, upserts), deletes (cascades too), truncate,
# rollback and concurrent writers in many sessions; added by the client for
# the tables its transaction lists in prodata.client_counts (with
# savepoints, rollbacks, an INSERT-only role, and no skipping for a session
# whose login role may not write the counters);
# seeded exactly under a writer's open transaction; upgraded in place from
# the previous version's triggers; right across a table renamed, dropped and
# recreated by migrations; count_rows=off removes everything and on puts it
# back; drift and check stay clean in both modes.
source tests/lib/tap.sh
tap_plan 80
tap_workdir
cd "$TAP_WORKDIR"
tap_fresh_db counters_test
DB=counters_test

# counted TABLE: the counter's sum; actual TABLE: count(*).
counted() { sql $DB "SELECT coalesce(sum(n), 0) FROM prodata_row_counts WHERE relid = '$1'::regclass"; }
actual() { sql $DB "SELECT count(*) FROM $1"; }
expect_exact() { expect_eq "$1: counter of $2 equals count(*) ($(actual "$2"))" "$(counted "$2")" "$(actual "$2")"; }

cat >models.pdm <<'PDM'
model Author {
  name   string(200)
}
model Tag {
  name   string(50)
}
model Book {
  title   string(300)
  author  Author  on_delete=cascade  related=books
  tags    Tag[]
}
PDM
"$PRODATA" makemigrations >/dev/null

# --- off first: rows written before the counters exist are seeded later ----------------------------------
run_cmd env PRODATA_COUNT_ROWS=off "$PRODATA" migrate
expect_rc "migrate with count_rows=off" 0
expect_eq "off: no counter table" "$(sql $DB "SELECT to_regclass('prodata_row_counts') IS NULL")" t
sql $DB "INSERT INTO author (name) SELECT 'a' || g FROM generate_series(1, 300) g" >/dev/null
sql $DB "INSERT INTO tag (name) SELECT 't' || g FROM generate_series(1, 20) g" >/dev/null

# A writer's transaction is open while migrate turns the counters on: the seeding waits for it and counts its
# rows once it commits (its lock), so nothing is lost or counted twice.
psql -X -q -d $DB >writer.log 2>&1 <<'SQL' &
BEGIN;
INSERT INTO author (name) SELECT 'late' || g FROM generate_series(1, 50) g;
SELECT pg_sleep(1.5);
COMMIT;
SQL
WRITER=$!
poll_sql $DB "SELECT count(*) FROM pg_locks l JOIN pg_class c ON c.oid = l.relation WHERE c.relname = 'author' AND l.mode = 'RowExclusiveLock' AND l.granted" 1
run_cmd "$PRODATA" migrate
wait $WRITER
expect_rc "migrate turns count_rows on over an open writer" 0
expect_out "the report says the counters were installed" 'row counters installed on 3 tables'
expect_exact "seeded under the writer's lock" author
expect_eq "the writer's 50 rows are in" "$(actual author)" 350
expect_eq "64 slots per model table, no join table counted" \
    "$(sql $DB "SELECT string_agg(relid::regclass::text || ':' || n, ',' ORDER BY relid::regclass::text) FROM (SELECT relid, count(*) AS n FROM prodata_row_counts GROUP BY relid) s")" \
    "author:64,book:64,tag:64"
expect_eq "three triggers on each model table, none on book_tags" \
    "$(sql $DB "SELECT string_agg(tgrelid::regclass::text || ':' || n, ',' ORDER BY tgrelid::regclass::text) FROM (SELECT tgrelid, count(*) AS n FROM pg_trigger WHERE tgname LIKE 'prodata_count_%' GROUP BY tgrelid) g")" \
    "author:3,book:3,tag:3"
run_cmd "$PRODATA" check
expect_rc "check is clean with the counters on" 0
run_cmd "$PRODATA" migrate
expect_out "a second migrate has nothing to do" 'No migrations to apply'
run_cmd grep -l prodata_row_counts migrations/0001_initial.sql
expect_rc "the migration file does not mention the counters" 1
run_cmd "$PRODATA" sqlmigrate 1
expect_no_out "sqlmigrate shows no counter" 'prodata_row_counts|prodata_count'

# --- every kind of write -----------------------------------------------------------------------------------
sql $DB "INSERT INTO book (title, author_id) SELECT 'b' || g, 1 + g % 350 FROM generate_series(1, 5000) g" >/dev/null
expect_exact "bulk insert of 5,000" book
sql $DB "DELETE FROM book WHERE id % 3 = 0" >/dev/null
expect_exact "delete of a third" book
sql $DB "BEGIN; INSERT INTO book (title, author_id) VALUES ('gone', 1); DELETE FROM book WHERE id < 100; ROLLBACK" >/dev/null
expect_exact "a rolled back insert and delete" book
sql $DB "INSERT INTO book (title, author_id) SELECT 'none', 1 WHERE false" >/dev/null
expect_exact "an insert of no row" book
sql $DB "DELETE FROM author WHERE id <= 10" >/dev/null
expect_exact "a delete of authors" author
expect_exact "their books gone by cascade" book
BEFORE=$(counted book)
printf 'copied\t20\ncopied\t21\n' | psql -X -q -d $DB -c "COPY book (title, author_id) FROM STDIN" >/dev/null
expect_eq "COPY of two rows: counter of book equals count(*) and grew by 2" "$(counted book):$(actual book)" \
    "$((BEFORE + 2)):$((BEFORE + 2))"
sql $DB "ALTER TABLE tag ADD CONSTRAINT tag_name_unique_test UNIQUE (name)" >/dev/null
sql $DB "INSERT INTO tag (name) VALUES ('t1'), ('new1') ON CONFLICT (name) DO NOTHING" >/dev/null
expect_exact "an upsert that skips one row" tag
sql $DB "INSERT INTO tag (name) VALUES ('t2'), ('new2') ON CONFLICT (name) DO UPDATE SET name = excluded.name || 'x'" >/dev/null
expect_exact "an upsert that updates one row and inserts one" tag
sql $DB "ALTER TABLE tag DROP CONSTRAINT tag_name_unique_test" >/dev/null
sql $DB "UPDATE book SET title = 'u' WHERE id < 500" >/dev/null
expect_exact "an update" book
sql $DB "BEGIN; INSERT INTO tag (name) VALUES ('s'); SAVEPOINT a; INSERT INTO tag (name) SELECT 'r' FROM generate_series(1, 9); ROLLBACK TO a; COMMIT" >/dev/null
expect_exact "a savepoint rolled back inside a committed transaction" tag

# --- a role that may only insert needs no right on the counters ----------------------------------------------
sql $DB "DROP ROLE IF EXISTS counters_writer" >/dev/null 2>&1 # left by an earlier run on this cluster
sql $DB "CREATE ROLE counters_writer; GRANT INSERT, SELECT ON tag TO counters_writer" >/dev/null
run_cmd sql $DB "SET ROLE counters_writer; INSERT INTO tag (name) VALUES ('by a writer'); SELECT sum(n) FROM prodata_row_counts WHERE relid = 'tag'::regclass"
expect_rc "a writer with no right on prodata_row_counts inserts and reads the count" 0
run_cmd sql $DB "SET ROLE counters_writer; UPDATE prodata_row_counts SET n = n + 1"
expect_rc "but cannot change the counters" 1
expect_exact "the writer's insert counted" tag
# A session that may write the counters lists a table and adds its own rows itself; a role that may not (logged
# in as it, or SET ROLE to it) lists in vain: its rows are counted by their statements, its adds add nothing.
LIST_TAG="SELECT set_config('prodata.client_counts', ',' || 'tag'::regclass::oid || ',', true)"
BEFORE=$(counted tag)
run_cmd sql $DB "BEGIN; $LIST_TAG; INSERT INTO tag (name) VALUES ('d1'); INSERT INTO tag (name) VALUES ('d2'), ('d3'); SELECT sum(n) FROM prodata_row_counts WHERE relid = 'tag'::regclass; SELECT prodata_count_add('tag', 3); COMMIT"
expect_eq "the listing session's rows are skipped by the triggers: no slot change before it adds them" "$(echo "$OUT" | sed -n 2p)" "$BEFORE"
expect_exact "and its three rows are counted once it added them" tag
run_cmd sql $DB "SET SESSION AUTHORIZATION counters_writer; BEGIN; $LIST_TAG; INSERT INTO tag (name) VALUES ('f1'); SELECT sum(n) FROM prodata_row_counts WHERE relid = 'tag'::regclass; COMMIT"
expect_eq "a login role that may not write the counters is counted by its statement, whatever it lists" \
    "$(echo "$OUT" | tail -1)" "$((BEFORE + 4))"
run_cmd sql $DB "BEGIN; SET LOCAL ROLE counters_writer; $LIST_TAG; INSERT INTO tag (name) VALUES ('f2'); SELECT prodata_count_add('tag', 1000); COMMIT"
expect_rc "a role SET ROLE to that may not write the counters: its add runs" 0
expect_exact "and adds nothing, its row counted by its statement" tag

# --- concurrent writers in many sessions ---------------------------------------------------------------------
cat >insert.sql <<'SQL'
INSERT INTO tag (name) VALUES ('c' || :client_id);
SQL
cat >insert_many.sql <<'SQL'
INSERT INTO tag (name) SELECT 'm' FROM generate_series(1, 5);
SQL
cat >delete.sql <<'SQL'
DELETE FROM tag WHERE id = (SELECT id FROM tag ORDER BY random() LIMIT 1);
SQL
cat >rollback.sql <<'SQL'
BEGIN;
INSERT INTO tag (name) VALUES ('r');
ROLLBACK;
SQL
run_cmd pgbench -n -c 8 -j 2 -t 150 -f insert.sql@5 -f insert_many.sql@2 -f delete.sql@2 -f rollback.sql@1 $DB
expect_rc "pgbench: 8 sessions insert, delete and roll back at once" 0
expect_exact "after 1,200 concurrent transactions" tag
expect_eq "the sessions wrote to several slots" \
    "$(sql $DB "SELECT count(*) > 1 FROM prodata_row_counts WHERE relid = 'tag'::regclass AND n <> 0")" t

cat >savepoint.sql <<'SQL'
BEGIN;
INSERT INTO tag (name) VALUES ('s1');
SAVEPOINT a;
INSERT INTO tag (name) SELECT 'gone' FROM generate_series(1, 3);
ROLLBACK TO a;
INSERT INTO tag (name) VALUES ('s2');
COMMIT;
SQL
run_cmd pgbench -n -c 32 -j 2 -t 60 -f insert.sql@4 -f insert_many.sql@2 -f savepoint.sql@2 -f rollback.sql@1 \
    -f delete.sql@1 $DB
expect_rc "pgbench: 32 sessions insert, delete, roll back and use savepoints at once" 0
expect_exact "after 1,920 transactions of 32 sessions" tag

# Transactions that add their own rows (16 single-row inserts, as prodata serve's shared creates), with
# savepoints rolled back, deletes and whole rollbacks, beside writers that do not.
{
    echo "BEGIN;"
    echo "$LIST_TAG;"
    for i in $(seq 1 8); do echo "INSERT INTO tag (name) VALUES ('d$i');"; done
    echo "SAVEPOINT a;"
    echo "INSERT INTO tag (name) VALUES ('gone'), ('gone too');"
    echo "ROLLBACK TO a;"
    for i in $(seq 9 16); do echo "INSERT INTO tag (name) VALUES ('d$i');"; done
    echo "DELETE FROM tag WHERE id = (SELECT max(id) FROM tag);"
    echo "SELECT prodata_count_add('tag', 16);"
    echo "COMMIT;"
} >client.sql
cat >client_rollback.sql <<SQL
BEGIN;
$LIST_TAG;
INSERT INTO tag (name) VALUES ('r1');
INSERT INTO tag (name) VALUES ('r2');
SELECT prodata_count_add('tag', 2);
ROLLBACK;
SQL
run_cmd pgbench -n -c 16 -j 2 -t 60 -f client.sql@4 -f client_rollback.sql@1 -f insert.sql@2 -f delete.sql@1 $DB
expect_rc "pgbench: 16 sessions add their own rows, roll back, insert and delete at once" 0
expect_exact "after 960 transactions, most of them adding their own rows" tag

# --- a writer does not wait for another's slot ------------------------------------------------------------------
# A transaction holds slots 0..62 of tag as writers on them would (each slot's advisory lock and row): a writer,
# whatever its pid, takes slot 63 at once rather than waiting for that transaction to end.
hold_slots() { # hold_slots LAST SECONDS: an open transaction holding slots 0..LAST of tag for SECONDS
    psql -X -q -d $DB >holder.log 2>&1 <<SQL &
BEGIN;
SELECT count(pg_advisory_xact_lock('tag'::regclass::oid::int4, s)) FROM generate_series(0, $1) s;
SELECT count(*) FROM (SELECT FROM prodata_row_counts WHERE relid = 'tag'::regclass AND slot <= $1 FOR UPDATE) s;
SELECT pg_sleep($2);
COMMIT;
SQL
    HOLDER=$!
    poll_sql $DB "SELECT count(*) FROM pg_stat_activity WHERE query = 'SELECT pg_sleep($2);'" 1
}
hold_slots 62 4
BEFORE=$(counted tag)
run_cmd sql $DB "SET lock_timeout = '1s'; INSERT INTO tag (name) VALUES ('beside'), ('the holder')"
expect_rc "with 63 of 64 slots held by an open transaction, an insert does not wait (lock_timeout 1 s)" 0
expect_eq "it is counted, in slot 63" "$(counted tag):$(actual tag):$(sql $DB "SELECT n <> 0 FROM prodata_row_counts WHERE relid = 'tag'::regclass AND slot = 63")" \
    "$((BEFORE + 2)):$((BEFORE + 2)):t"
wait $HOLDER
hold_slots 63 3
run_cmd sql $DB "SET lock_timeout = '300ms'; INSERT INTO tag (name) VALUES ('waits')"
expect_out "with all 64 held, a writer waits for its own slot rather than skipping the count" 'lock timeout'
wait $HOLDER
expect_exact "and nothing was counted twice or lost" tag

# --- a database counted by the previous version is upgraded in place ---------------------------------------------
# An earlier version: three statement triggers (the insert trigger without WHEN), older function bodies, no
# prodata_count_add.
for table in author book tag; do
    sql $DB "DROP TRIGGER prodata_count_insert ON $table; CREATE TRIGGER prodata_count_insert AFTER INSERT ON $table REFERENCING NEW TABLE AS prodata_inserted FOR EACH STATEMENT EXECUTE FUNCTION prodata_count_insert()" >/dev/null
done
sql $DB "DROP FUNCTION prodata_count_add(regclass, int8)" >/dev/null
for kind in insert:+:prodata_inserted delete:-:prodata_deleted; do
    IFS=: read -r name op transition <<<"$kind"
    sql $DB "CREATE OR REPLACE FUNCTION prodata_count_$name() RETURNS trigger LANGUAGE plpgsql SECURITY DEFINER AS \$f\$BEGIN
    UPDATE public.prodata_row_counts
    SET n = n OPERATOR(pg_catalog.$op) (SELECT pg_catalog.count(*) FROM $transition)
    WHERE relid OPERATOR(pg_catalog.=) TG_RELID
      AND slot OPERATOR(pg_catalog.=) (pg_catalog.pg_backend_pid() OPERATOR(pg_catalog.%) 64)
      AND EXISTS (SELECT FROM $transition);
    RETURN NULL;
END\$f\$" >/dev/null
done
sql $DB "INSERT INTO tag (name) SELECT 'old' FROM generate_series(1, 40) g; DELETE FROM tag WHERE id % 7 = 0" >/dev/null
expect_exact "written through the previous version's functions" tag
OLD_FUNCTIONS="proname IN ('prodata_count_insert', 'prodata_count_delete', 'prodata_count_truncate')"
FUNCTION_OIDS=$(sql $DB "SELECT string_agg(oid::text, ',' ORDER BY proname) FROM pg_proc WHERE $OLD_FUNCTIONS")
SLOTS="SELECT string_agg(relid::regclass::text || slot || ':' || n || ':' || xmin, ',' ORDER BY relid::regclass::text, slot) FROM prodata_row_counts"
SLOTS_BEFORE=$(sql $DB "$SLOTS")
expect_eq "the tag counter is spread over several slots (a recount would put it in one)" \
    "$(sql $DB "SELECT count(*) > 1 FROM prodata_row_counts WHERE relid = 'tag'::regclass AND n <> 0")" t
run_cmd "$PRODATA" migrate
expect_rc "migrate over the previous version's triggers and functions" 0
expect_eq "replaces both writing functions (same oids, the triggers keep them)" \
    "$(sql $DB "SELECT count(*) FILTER (WHERE prosrc LIKE '%pg_try_advisory_xact_lock%') || ':' || string_agg(oid::text, ',' ORDER BY proname) FROM pg_proc WHERE $OLD_FUNCTIONS")" \
    "2:$FUNCTION_OIDS"
expect_eq "puts this version's three triggers on each table (the insert trigger with its WHEN and argument)" \
    "$(sql $DB "SELECT count(*) || ':' || count(*) FILTER (WHERE tgname = 'prodata_count_insert' AND tgqual IS NOT NULL AND tgnargs = 1) FROM pg_trigger WHERE tgname LIKE 'prodata_count_%'")" \
    "9:3"
expect_eq "leaves every slot untouched (no recount)" "$(sql $DB "$SLOTS")" "$SLOTS_BEFORE"
expect_exact "the count is still exact after the upgrade" tag
sql $DB "BEGIN; $LIST_TAG; INSERT INTO tag (name) SELECT 'mine' FROM generate_series(1, 7) g; INSERT INTO tag (name) VALUES ('one more'); SELECT prodata_count_add('tag', 8); COMMIT" >/dev/null
expect_exact "and a client's own inserts are counted after it" tag
sql $DB "INSERT INTO tag (name) SELECT 'new' FROM generate_series(1, 40) g; DELETE FROM tag WHERE id % 11 = 0" >/dev/null
expect_exact "and after writes through the new functions" tag
XMIN=$(sql $DB "SELECT string_agg(xmin::text, ',' ORDER BY proname) FROM pg_proc WHERE proname LIKE 'prodata_count_%'")
"$PRODATA" migrate >/dev/null
expect_eq "a second migrate leaves the current functions alone" \
    "$(sql $DB "SELECT string_agg(xmin::text, ',' ORDER BY proname) FROM pg_proc WHERE proname LIKE 'prodata_count_%'")" "$XMIN"

sql $DB "TRUNCATE tag, book, book_tags" >/dev/null
expect_eq "truncate sets the count to 0" "$(counted tag):$(counted book)" "0:0"
sql $DB "BEGIN; TRUNCATE author CASCADE; ROLLBACK" >/dev/null
expect_exact "a rolled back truncate" author

# --- a disabled trigger is noticed and the counter rebuilt ------------------------------------------------------
sql $DB "ALTER TABLE author DISABLE TRIGGER prodata_count_insert" >/dev/null
sql $DB "INSERT INTO author (name) VALUES ('unseen')" >/dev/null
expect_eq "with its trigger disabled the counter is behind" "$(( $(actual author) - $(counted author) ))" 1
run_cmd "$PRODATA" migrate
expect_out "migrate reinstalls it" 'row counters installed on 1 table'
expect_exact "reseeded" author

# --- tables renamed, created, dropped and recreated by migrations ------------------------------------------------
sql $DB "INSERT INTO tag (name) SELECT 'k' || g FROM generate_series(1, 77) g" >/dev/null
cat >models.pdm <<'PDM'
model Author {
  name   string(200)
}
model Label {
  renamed_from Tag
  name   string(50)
}
model Book {
  title   string(300)
  author  Author  on_delete=cascade  related=books
  tags    Label[]
}
model Shelf {
  name   string(50)
}
PDM
"$PRODATA" makemigrations >/dev/null
TAG_OID=$(sql $DB "SELECT 'tag'::regclass::oid")
run_cmd "$PRODATA" migrate
expect_rc "migration 2 renames Tag to Label and adds Shelf" 0
expect_eq "the renamed table is the same table" "$(sql $DB "SELECT 'label'::regclass::oid")" "$TAG_OID"
expect_exact "renamed: the counter follows" label
expect_eq "the new table is counted" "$(sql $DB "SELECT count(*) FROM prodata_row_counts WHERE relid = 'shelf'::regclass")" 64
sql $DB "INSERT INTO shelf (name) VALUES ('s1'), ('s2')" >/dev/null
expect_exact "writes to the new table" shelf
SHELF_OID=$(sql $DB "SELECT 'shelf'::regclass::oid")

sed -i '/^model Shelf/,/^}/d' models.pdm
"$PRODATA" makemigrations --allow-destructive >/dev/null
run_cmd "$PRODATA" migrate
expect_rc "migration 3 drops Shelf" 0
expect_eq "the dropped table's slots are gone" "$(sql $DB "SELECT count(*) FROM prodata_row_counts WHERE relid = $SHELF_OID")" 0
expect_eq "no slot belongs to a table that is gone" \
    "$(sql $DB "SELECT count(*) FROM prodata_row_counts s WHERE NOT EXISTS (SELECT 1 FROM pg_class c WHERE c.oid = s.relid)")" 0
run_cmd "$PRODATA" migrate --to 2
expect_rc "reverting migration 3 recreates Shelf" 0
expect_eq "the recreated table is counted from 0" "$(counted shelf):$(actual shelf)" "0:0"
run_cmd "$PRODATA" migrate --to 1
expect_rc "reverting migration 2 renames Label back to Tag and drops Shelf" 0
expect_exact "renamed back" tag
run_cmd "$PRODATA" migrate
expect_rc "forward again" 0
expect_exact "label again" label
run_cmd "$PRODATA" check
expect_rc "check is clean after the renames and drops" 0

# --- count_rows off removes everything; on again counts exactly ----------------------------------------------------
run_cmd env PRODATA_COUNT_ROWS=off "$PRODATA" migrate
expect_rc "count_rows=off with nothing to migrate" 0
expect_out "says what it removed" 'row counters removed from 3 tables'
expect_eq "no counter table, function, trigger or constraint trigger is left" \
    "$(sql $DB "SELECT (to_regclass('prodata_row_counts') IS NULL) AND NOT EXISTS (SELECT 1 FROM pg_proc WHERE proname LIKE 'prodata_count_%') AND NOT EXISTS (SELECT 1 FROM pg_trigger WHERE tgname LIKE 'prodata_count_%') AND NOT EXISTS (SELECT 1 FROM pg_constraint WHERE conname LIKE 'prodata_count_%')")" t
run_cmd env PRODATA_COUNT_ROWS=off "$PRODATA" check
expect_rc "check is clean with the counters off" 0
sql $DB "INSERT INTO label (name) SELECT 'off' FROM generate_series(1, 13) g" >/dev/null
sed -i 's/^  name   string(200)/  name   string(200)\n  born   date  null/' models.pdm
"$PRODATA" makemigrations >/dev/null
run_cmd env PRODATA_COUNT_ROWS=off "$PRODATA" migrate
expect_eq "a migration with count_rows=off installs nothing" "$(sql $DB "SELECT to_regclass('prodata_row_counts') IS NULL")" t
run_cmd "$PRODATA" migrate
expect_out "on again: installed" 'row counters installed on 3 tables'
expect_exact "on again: rows written while off are counted" label
run_cmd "$PRODATA" check
expect_rc "check is clean after on, off and on" 0

tap_done
