#!/bin/bash
# precheck.sh - migrate counts the rows that would break a step before anything
# changes: SET NOT NULL on NULLs, a unique on repeated values (a concurrent
# index), a check the rows fail (validated concurrently), a type the values
# cannot take, a required column on a table with rows, a foreign key to rows
# that do not exist. Each is refused with the count, some keys and the way out,
# nothing applied; once the data is fixed the same migration applies.
source tests/lib/tap.sh
tap_plan 45
tap_workdir
cd "$TAP_WORKDIR"
tap_fresh_db precheck_test
DB=precheck_test

cat >models.pdm <<'PDM'
model Author {
  name  string(200)
}
model Book {
  title  string(200)  null
  isbn   string(20)   null
  price  decimal(8,2)  null
  code   text  null
  owner  bigint  null
}
PDM
"$PRODATA" makemigrations >/dev/null
"$PRODATA" migrate >/dev/null
sql $DB "INSERT INTO author (name) VALUES ('Butler');
INSERT INTO book (title, isbn, price, code, owner) VALUES
  (NULL, '111', 1, '1', 1), ('Kindred', '111', -2, '2', 1), (NULL, '222', 3, 'x3', 7),
  ('Dawn', '222', 4, '4', NULL), (NULL, NULL, NULL, NULL, NULL)" >/dev/null
applied() { sql $DB "SELECT count(*) FROM prodata_migrations"; }

# A migration that only makes a table is not tried on the database: nothing there can break it.
rolled_back() { sql $DB "SELECT xact_rollback FROM pg_stat_database WHERE datname = current_database()"; }
cp models.pdm models.saved
printf 'model Shelf {\n  name  string(40)\n}\n' >>models.pdm
before=$(rolled_back)
run_cmd "$PRODATA" makemigrations
expect_rc "makemigrations of a new model" 0
expect_eq "... tries nothing on the database (no transaction rolled back)" "$(rolled_back)" "$before"
rm migrations/0002_*.sql
cp models.saved models.pdm

# SET NOT NULL on a column holding NULLs.
sed -i 's/^  title  string(200)  null/  title  string(200)/' models.pdm
# The try on the database holds no lock long: with the table locked by another session, makemigrations
# writes the file at once, noting that the data was not checked.
psql -X -q -d $DB -c "BEGIN; LOCK TABLE book IN ACCESS SHARE MODE; SELECT pg_sleep(3); COMMIT" >/dev/null &
locker=$!
sleep 0.5
run_cmd "$PRODATA" makemigrations --allow-destructive
expect_out "makemigrations beside a lock notes the data was not checked" '^note: the data of the database was not checked for this migration: canceling statement due to lock timeout'
wait $locker
rm migrations/0002_*.sql
before=$(rolled_back)
run_cmd "$PRODATA" makemigrations --allow-destructive
expect_rc "makemigrations writes the migration" 0
check "... after trying it on the database in a transaction rolled back" test "$(rolled_back)" -gt "$before"
expect_out "... and says at once that migrate will refuse it" 'warning: migrate will refuse this migration on the data'
expect_out "... and why" '^  0002_[a-z_]+: 3 rows of "book" hold NULL in "title"'
run_cmd "$PRODATA" migrate
expect_rc "SET NOT NULL over NULLs is refused" 1
expect_out "... with the count" '0002_[a-z_]+: 3 rows of "book" hold NULL in "title", which this migration makes NOT NULL'
expect_out "... some primary keys" 'Primary keys of some of them: 1, 3, 5'
expect_out "... and the way out" 'Give them a value first'
expect_eq "... nothing applied" "$(applied)" 1
expect_eq "... the column still takes NULL" "$(sql $DB "SELECT is_nullable FROM information_schema.columns WHERE table_name = 'book' AND column_name = 'title'")" YES
sql $DB "UPDATE book SET title = 'untitled' WHERE title IS NULL" >/dev/null
run_cmd "$PRODATA" migrate
expect_rc "with the rows fixed it applies" 0

# A unique constraint over repeated values: its index is built concurrently, after the commit.
sed -i 's/^  isbn   string(20)   null/  isbn   string(20)   null  unique/' models.pdm
"$PRODATA" makemigrations >/dev/null
run_cmd "$PRODATA" migrate
expect_rc "a unique over repeated values is refused" 1
expect_out "... counting the repeated values" '2 values of "book" \("isbn"\) appear more than once'
expect_out "... naming them" 'Repeated values: \(111\); \(222\)'
expect_eq "... before the transactional part committed" "$(applied)" 2
expect_eq "... no index left behind" "$(sql $DB "SELECT count(*) FROM pg_indexes WHERE tablename = 'book' AND indexname LIKE '%isbn%'")" 0
sql $DB "UPDATE book SET isbn = isbn || '-' || id WHERE id IN (2, 4)" >/dev/null
run_cmd "$PRODATA" migrate
expect_rc "with the duplicates fixed it applies" 0

# A check the rows fail (added NOT VALID, validated in the concurrent part).
sed -i 's/^  price  decimal(8,2)  null/  price  decimal(8,2)  null  check(>= 0)/' models.pdm
"$PRODATA" makemigrations >/dev/null
run_cmd "$PRODATA" migrate
expect_rc "a check the rows fail is refused" 1
expect_out "... with the count and the check" '1 row of "book" fails the check \(price >= \(0\)::numeric\) that'
expect_out "... and the key" 'Primary keys of some of them: 2'
expect_eq "... nothing applied" "$(applied)" 3
sql $DB "UPDATE book SET price = 0 WHERE price < 0" >/dev/null
run_cmd "$PRODATA" migrate
expect_rc "with the row fixed it applies" 0

# A type some values cannot take.
sed -i 's/^  code   text  null/  code   int  null/' models.pdm
"$PRODATA" makemigrations --allow-destructive >/dev/null
run_cmd "$PRODATA" migrate
expect_rc "a type change some values cannot take is refused" 1
expect_out "... with the count" '1 row of "book" holds a value of "code" that cannot become integer'
expect_out "... and the key" 'Primary keys of some of them: 3'
expect_eq "... nothing applied" "$(applied)" 4
expect_eq "... the column still text" "$(sql $DB "SELECT data_type FROM information_schema.columns WHERE table_name = 'book' AND column_name = 'code'")" text
sql $DB "UPDATE book SET code = '3' WHERE id = 3" >/dev/null
run_cmd "$PRODATA" migrate
expect_rc "with the value fixed it applies" 0

# Hand-written steps are read the same way: a required column, a foreign key.
"$PRODATA" makemigrations --empty --name required >/dev/null
sed -i 's/^-- Write the statements here.*/ALTER TABLE book ADD COLUMN pages integer NOT NULL;/' migrations/0006_required.sql
run_cmd "$PRODATA" migrate
expect_rc "a required column without a default on a table with rows is refused" 1
expect_out "... saying how many rows" 'book has 5 rows, and the new column pages is NOT NULL without a default'
expect_eq "... nothing applied" "$(applied)" 5
sed -i 's/^ALTER TABLE book ADD COLUMN pages integer NOT NULL;/ALTER TABLE book ADD COLUMN pages integer NOT NULL DEFAULT 0;/' migrations/0006_required.sql
run_cmd "$PRODATA" migrate
expect_rc "with a default it applies" 0

"$PRODATA" makemigrations --empty --name owner_fk >/dev/null
sed -i 's/^-- Write the statements here.*/UPDATE book SET owner = owner; ALTER TABLE book ADD CONSTRAINT book_owner_fkey FOREIGN KEY (owner) REFERENCES author (id);/' migrations/0007_owner_fk.sql
run_cmd "$PRODATA" migrate
expect_rc "a foreign key to rows that do not exist is refused" 1
expect_out "... with the count" '1 row of book points with \(owner\) to no row of author \(id\)'
expect_out "... and the key" 'Primary keys of some of them: 3'
expect_eq "... nothing applied" "$(applied)" 6
sql $DB "UPDATE book SET owner = NULL WHERE owner = 7" >/dev/null
run_cmd "$PRODATA" migrate
expect_rc "with the row fixed it applies" 0

# An error that is not the data's keeps PostgreSQL's own message and the file's line.
"$PRODATA" makemigrations --empty --name broken >/dev/null
sed -i 's/^-- Write the statements here.*/ALTER TABLE book ALTER COLUMN nosuch SET NOT NULL;/' migrations/0008_broken.sql
run_cmd "$PRODATA" migrate
expect_rc "a statement that fails for another reason" 1
expect_out "... keeps the server's message" 'column "nosuch" of relation "book" does not exist'
expect_out "... and the line" 'at migrations/0008_broken\.sql:[0-9]+'
rm migrations/0008_broken.sql
run_cmd "$PRODATA" check
expect_rc "check is clean at the end" 0
expect_eq "the rows all survived" "$(sql $DB "SELECT count(*) FROM book")" 5
