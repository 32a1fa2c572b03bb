#!/bin/bash
# notnull.sh - NOT NULL on a table with rows, without SET NOT NULL's scan under ACCESS EXCLUSIVE, and
# backfill=, on a real PostgreSQL:
#   null -> not null without a value to give: a check NOT VALID in the transaction, validated in the
#     concurrent part, then SET NOT NULL skips its scan (PostgreSQL's log says so); NULL rows are counted
#     before anything changes; a concurrent part that failed reverts, and resumes where it stopped;
#   null -> not null with backfill= or a default: the NULL rows filled in batches after the commit, the check
#     after them, rows written NULL in between filled too; resumed after a lock timeout, with the count of
#     statements done one short of the truth;
#   a new required field with backfill= (or makemigrations --backfill): the rows already there get the
#     value without the table being rewritten, the column ends NOT NULL without a default;
# each time: rows kept, check clean, makemigrations finds nothing left, the revert gives the schema back.
source tests/lib/tap.sh
tap_plan 68
tap_workdir
cd "$TAP_WORKDIR"
tap_fresh_db notnull_test
DB=notnull_test
SERVER_LOG=$(dirname "${PRODATA_TEST_PGDATA:-/nonexistent/data}")/postgres.log

cat >models.pdm <<'PDM'
model Book {
  title  string(100)  null
  pages  int  null
  price  int  null  default=5
}
PDM
"$PRODATA" makemigrations >/dev/null
"$PRODATA" migrate >/dev/null
sql $DB "INSERT INTO book (title, pages, price)
         SELECT CASE WHEN i % 1000 = 0 THEN NULL ELSE 't' || i END, CASE WHEN i % 3 = 0 THEN NULL ELSE i END,
                CASE WHEN i % 7 = 0 THEN NULL ELSE i END
         FROM generate_series(1, 3000) i" >/dev/null
applied() { sql $DB "SELECT count(*) FROM prodata_migrations"; }
nullable() { sql $DB "SELECT is_nullable FROM information_schema.columns WHERE table_name = 'book' AND column_name = '$1'"; }
checks_left() { sql $DB "SELECT count(*) FROM pg_constraint WHERE conrelid = 'book'::regclass AND conname LIKE '%notnull'"; }
schema() {
    sql $DB "SELECT string_agg(column_name || ' ' || is_nullable || ' ' || coalesce(column_default, '-'), ', ' ORDER BY column_name)
             FROM information_schema.columns WHERE table_name = 'book'"
}

# --- null -> not null, no value to give: the check NOT VALID, validated, then SET NOT NULL without a scan ------
sed -i 's/^  title  string(100)  null/  title  string(100)/' models.pdm
run_cmd "$PRODATA" makemigrations
expect_rc "makemigrations writes title -> not null" 0
expect_no_out "... with no warning about SET NOT NULL's scan" 'warning: .*SET NOT NULL'
FILE=$(ls migrations/0002_*.sql)
expect_eq "the transaction adds the check NOT VALID, and nothing else" \
    "$(sed -n '/^-- +up$/,/^-- +/p' "$FILE" | grep -v '^-- +')" \
    'ALTER TABLE "book" ADD CONSTRAINT "book_title_notnull" CHECK ("title" IS NOT NULL) NOT VALID;'
expect_eq "the concurrent part validates it, sets NOT NULL and drops it" \
    "$(sed -n '/^-- +up concurrently$/,/^-- +/p' "$FILE" | grep -v '^-- +' | tr '\n' ' ')" \
    'ALTER TABLE "book" VALIDATE CONSTRAINT "book_title_notnull"; ALTER TABLE "book" ALTER COLUMN "title" SET NOT NULL; ALTER TABLE "book" DROP CONSTRAINT IF EXISTS "book_title_notnull"; '
run_cmd "$PRODATA" migrate
expect_rc "NULL titles: refused before anything changes" 1
expect_out "... with the count, as a NOT NULL" '0002_[a-z_]+: 3 rows of "book" hold NULL in "title", which this migration makes NOT NULL'
expect_out "... their keys" 'Primary keys of some of them: 1000, 2000, 3000'
expect_out "... and the way out, backfill= first" 'Give them a value first: backfill='
expect_eq "... nothing applied, no check left" "$(applied)|$(checks_left)|$(nullable title)" "1|0|YES"

# Without the count, the concurrent part meets the NULLs itself: partial, revertible, resumable.
run_cmd env PRODATA_CHECK_DATA=off "$PRODATA" migrate
expect_rc "check_data off: the VALIDATE fails after the commit" 2
expect_out "... the transactional part applied, the rest pending" '^applied 0002_[a-z_]+ \(transactional part, [0-9]+ ms\); concurrent part pending: check constraint "book_title_notnull"'
expect_eq "... history: incomplete, nothing of the concurrent part done" \
    "$(sql $DB "SELECT is_complete, concurrent_done FROM prodata_migrations WHERE number = 2")" 'f|0'
run_cmd sql $DB "INSERT INTO book (title) VALUES (NULL)"
expect_out "... a NULL written now is refused already (the check NOT VALID checks new rows)" 'violates check constraint "book_title_notnull"'
run_cmd "$PRODATA" migrate --to 1
expect_rc "the partly applied migration reverts" 0
expect_eq "... the column takes NULL again, no check left" "$(nullable title)|$(checks_left)" "YES|0"
run_cmd env PRODATA_CHECK_DATA=off "$PRODATA" migrate
expect_rc "applied again, it stops at the same place" 2
sql $DB "UPDATE book SET title = 'untitled' WHERE title IS NULL" >/dev/null
sql postgres "ALTER DATABASE $DB SET log_min_messages = debug1" >/dev/null
run_cmd "$PRODATA" migrate
sql postgres "ALTER DATABASE $DB RESET log_min_messages" >/dev/null
expect_rc "with the rows fixed migrate resumes and completes it" 0
expect_out "... at the VALIDATE" 'concurrent 1/3: ALTER TABLE "book" VALIDATE CONSTRAINT "book_title_notnull"'
expect_eq "title is NOT NULL, the check gone" "$(nullable title)|$(checks_left)" "NO|0"
if [ -r "$SERVER_LOG" ]; then
    check "SET NOT NULL did not scan: the valid check proved it (server log)" \
        grep -q 'existing constraints on column "book.title" are sufficient to prove that it does not contain nulls' "$SERVER_LOG"
else
    tap_skip "SET NOT NULL did not scan: the valid check proved it (server log)" "no server log at $SERVER_LOG"
fi
run_cmd "$PRODATA" check
expect_rc "check is clean" 0

# --- null -> not null with a value: backfill= and a default fill the NULL rows in batches -----------------
before_rows=$(sql $DB "SELECT count(*), sum(pages), sum(price) FROM book")
pages_sum=$(sql $DB "SELECT sum(pages) FROM book")
sed -i 's/^  pages  int  null/  pages  int  backfill=0/; s/^  price  int  null  default=5/  price  int  default=5/' models.pdm
run_cmd "$PRODATA" makemigrations
expect_rc "makemigrations writes pages and price -> not null" 0
expect_out "... saying what the NULL rows get" 'alter field Book.pages: null -> not null \(rows holding NULL get 0\)'
FILE=$(ls migrations/0003_*.sql)
expect_eq "nothing in the transaction" "$(sed -n '/^-- +up$/,/^-- +/p' "$FILE" | grep -vc '^-- +')" 0
check "the fill is a batched section" grep -q '^-- +up batched$' "$FILE"
check "... of the UPDATE by key, SKIP LOCKED" grep -q 'WHERE "id" IN (SELECT "id" FROM "book" WHERE "pages" IS NULL LIMIT \$1 FOR UPDATE SKIP LOCKED);' "$FILE"
check "... before the concurrent part" test "$(grep -n '^-- +up batched' "$FILE" | cut -d: -f1)" -lt "$(grep -n '^-- +up concurrently' "$FILE" | cut -d: -f1)"

# A reader holds the table: the batches go on beside it (row locks only), the check it then adds cannot.
psql -X -q -d $DB -c "BEGIN; LOCK TABLE book IN ACCESS SHARE MODE; SELECT pg_sleep(60); COMMIT;" >/dev/null 2>&1 &
holder=$!
poll_sql $DB "SELECT count(*) FROM pg_locks l JOIN pg_class c ON c.oid = l.relation
              WHERE c.relname = 'book' AND l.mode = 'AccessShareLock' AND l.granted AND l.pid <> pg_backend_pid()" 1
run_cmd "$PRODATA" migrate --lock-timeout-ms 200 --lock-retries 0
expect_rc "held by a reader: the concurrent part stops on a lock timeout" 1
expect_out "... after the batches" 'batched: done, 1000 rows'
expect_out "... at the check" 'statement 5 of 14 of the concurrent part'
expect_eq "... the NULL pages are filled, the others kept" \
    "$(sql $DB "SELECT count(*) FILTER (WHERE pages IS NULL), count(*) FILTER (WHERE pages = 0), sum(pages) FROM book")" \
    "0|1000|$pages_sum"
expect_eq "... history: incomplete, the four batched statements done" \
    "$(sql $DB "SELECT is_complete, concurrent_done FROM prodata_migrations WHERE number = 3")" 'f|4'
# The application writes a NULL before the check is in; and the count is one short of the truth (a deployer
# that died between a statement and its record): the batched statement runs again.
sql $DB "INSERT INTO book (title, pages, price) VALUES ('late', NULL, NULL)" >/dev/null
sql $DB 'UPDATE prodata_migrations SET concurrent_done = 3 WHERE number = 3' >/dev/null
sql $DB "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity
         WHERE query LIKE 'BEGIN; LOCK TABLE book%' AND pid <> pg_backend_pid()" >/dev/null
wait $holder
run_cmd "$PRODATA" migrate
expect_rc "released: migrate resumes and completes it" 0
expect_out "... reported complete" '^completed 0003_[a-z_]+: 14 concurrent statements'
expect_eq "the row written NULL in between got the values" "$(sql $DB "SELECT pages, price FROM book WHERE title = 'late'")" "0|5"
expect_eq "rows kept: count, and sums with the fills (0 and 5 for each NULL)" \
    "$(sql $DB "SELECT count(*) - 1, sum(pages), sum(price) - 5 * (SELECT count(*) FROM book WHERE id % 7 = 0 AND id <= 3000) - 5 FROM book")" \
    "$before_rows"
expect_eq "pages and price NOT NULL, price keeps its default, pages has none, no check left" \
    "$(nullable pages)|$(nullable price)|$(schema | grep -o 'pages NO [^,]*, price NO [^,]*')|$(checks_left)" \
    "NO|NO|pages NO -, price NO 5|0"
run_cmd sql $DB "INSERT INTO book (title) VALUES ('no pages')"
expect_out "a row without pages is refused" 'null value in column "pages"'
run_cmd "$PRODATA" check
expect_rc "check is clean" 0
run_cmd "$PRODATA" makemigrations --check
expect_out "makemigrations finds nothing left" 'No changes detected'
schema_3=$(schema)
run_cmd "$PRODATA" migrate --to 2
expect_rc "reverts" 0
expect_eq "... pages and price take NULL again" "$(nullable pages)|$(nullable price)|$(checks_left)" "YES|YES|0"
run_cmd "$PRODATA" migrate
expect_rc "forward again" 0
expect_eq "... the same schema" "$(schema)" "$schema_3"

# --- a new required field: backfill= in the file, or --backfill for one run ------------------------------
sed -i 's/^  price  int  default=5/&\n  isbn  string(20)  unique\n  copies  int/' models.pdm
run_cmd "$PRODATA" makemigrations
expect_rc "a required field without a value for the rows there is refused" 2
expect_out "... saying how to give one" 'add backfill=\.\.\. .*--backfill Book\.isbn=VALUE'
sed -i 's/^  isbn  string(20)  unique/  isbn  string(20)  backfill="unknown"/' models.pdm
run_cmd "$PRODATA" makemigrations --backfill Book.copies=abc
expect_rc "--backfill checks the value against the type" 2
expect_out "... naming the field" '^prodata: error: --backfill Book.copies: string "abc" is not a valid int'
run_cmd "$PRODATA" makemigrations --backfill Book.nosuch=1
expect_out "--backfill refuses an unknown field" 'model Book has no field "nosuch" in models.pdm'
run_cmd "$PRODATA" makemigrations --backfill Book.copies=1
expect_rc "makemigrations with backfill= and --backfill" 0
expect_out "... saying what the rows there get" "add field Book.copies \(int\), rows already there get 1"
FILE=$(ls migrations/0004_*.sql)
expect_eq "the value is the column's default for the ADD COLUMN only" "$(grep -A1 'ADD COLUMN "isbn"' "$FILE")" \
    "ALTER TABLE \"book\" ADD COLUMN \"isbn\" character varying(20) NOT NULL DEFAULT 'unknown';
ALTER TABLE \"book\" ALTER COLUMN \"isbn\" DROP DEFAULT;"
check "the recorded state says backfill=, --backfill's too" grep -q '^--   copies int backfill=1$' "$FILE"
filenode=$(sql $DB "SELECT pg_relation_filenode('book')")
run_cmd "$PRODATA" migrate
expect_rc "migrate applies it" 0
expect_eq "the table was not rewritten (same file)" "$(sql $DB "SELECT pg_relation_filenode('book')")" "$filenode"
expect_eq "every row there has the values" \
    "$(sql $DB "SELECT count(*) FILTER (WHERE isbn = 'unknown' AND copies = 1) = count(*) FROM book")" t
expect_eq "both NOT NULL without a default" \
    "$(sql $DB "SELECT string_agg(is_nullable || coalesce(column_default, '-'), ',') FROM information_schema.columns WHERE table_name = 'book' AND column_name IN ('isbn', 'copies')")" \
    "NO-,NO-"
run_cmd sql $DB "INSERT INTO book (title, pages) VALUES ('new', 1)"
expect_out "a new row must give a value" 'null value in column "(isbn|copies)"'
run_cmd "$PRODATA" check
expect_rc "check is clean" 0
run_cmd "$PRODATA" makemigrations --check
expect_out "makemigrations finds nothing left, --backfill not repeated" 'No changes detected'
sed -i 's/  backfill="unknown"//' models.pdm
run_cmd "$PRODATA" makemigrations --check
expect_out "... nor once backfill= is taken out of the file" 'No changes detected'
run_cmd "$PRODATA" migrate --to 3
expect_rc "reverts" 0
expect_eq "... the columns are gone" "$(schema)" "$schema_3"
run_cmd "$PRODATA" migrate
expect_rc "forward again" 0
expect_eq "... the rows have the values again" \
    "$(sql $DB "SELECT count(*) FILTER (WHERE isbn = 'unknown' AND copies = 1) = count(*) FROM book")" t

# The states after it keep the values (the model file no longer says them), so a squash of a range that adds
# the fields, planned from the states around it, gives the rows there the same values.
sed -i 's/^  copies  int/&\n  note  text  null/' models.pdm
"$PRODATA" makemigrations >/dev/null
check "the next state keeps backfill= of fields that keep their nullability" \
    grep -q '^--   isbn string(20) backfill="unknown"$' migrations/0005_*.sql
run_cmd "$PRODATA" squashmigrations 4 5 --dry-run
expect_rc "a squash of the range that adds them plans" 0
expect_out "... with the same value for the rows there" "ADD COLUMN \"isbn\" character varying\(20\) NOT NULL DEFAULT 'unknown';"
tap_done
