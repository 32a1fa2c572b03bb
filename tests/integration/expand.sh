#!/bin/bash
# expand.sh - makemigrations --expand on a real PostgreSQL: type changes that would rewrite the table become
# a new column kept in step by a trigger, filled in batches, and swapped in under a short lock. A swap that
# fails (a view on the old column) leaves the file partly applied: writes meanwhile go through the trigger,
# the revert takes back exactly what was made, and once the cause is gone migrate resumes at the swap, also
# when the count of statements done is short of the truth. Rows keep their values, the indexes and checks
# come back under their names, check is clean, and the revert of the whole gives the old types back.
source tests/lib/tap.sh
tap_plan 41
tap_workdir
cd "$TAP_WORKDIR"
tap_fresh_db expand_test
DB=expand_test

cat >models.pdm <<'PDM'
model Book {
  title   string(100)
  weight  int  null
  pages   int  default=1  check(>= 0)
  index(title, pages)
}
PDM
"$PRODATA" makemigrations >/dev/null
"$PRODATA" migrate >/dev/null
sql $DB "INSERT INTO book (title, weight, pages)
         SELECT 't' || i, CASE WHEN i % 10 = 0 THEN NULL ELSE i * 3 END, i FROM generate_series(1, 20000) i" >/dev/null
sql $DB "CREATE VIEW book_weight AS SELECT id, weight FROM book" >/dev/null
values() { sql $DB "SELECT md5(string_agg(id || ':' || title || ':' || coalesce(weight::text, '-') || ':' || pages, ',' ORDER BY id)) FROM book WHERE id <= 20000"; }
types() { sql $DB "SELECT string_agg(column_name || ' ' || data_type || ' ' || is_nullable || ' ' || coalesce(column_default, '-'), ', ' ORDER BY column_name) FROM information_schema.columns WHERE table_name = 'book'"; }
leftovers() {
    sql $DB "SELECT (SELECT count(*) FROM pg_attribute WHERE attrelid = 'book'::regclass AND attname LIKE '%\_NEW' AND NOT attisdropped)
                    + (SELECT count(*) FROM pg_trigger WHERE tgname LIKE '%\_EXPAND') + (SELECT count(*) FROM pg_proc WHERE proname LIKE '%\_EXPAND')
                    + (SELECT count(*) FROM pg_class WHERE relname LIKE '%\_NEW' OR relname LIKE '%\_notnull')
                    + (SELECT count(*) FROM pg_constraint WHERE conname LIKE '%\_notnull')"
}
VALUES_BEFORE=$(values)
TYPES_BEFORE=$(types)

sed -i 's/^  weight  int  null/  weight  bigint  null/; s/^  pages   int  default=1/  pages   bigint  default=1/' models.pdm
run_cmd "$PRODATA" makemigrations --expand
expect_rc "makemigrations --expand writes the migration" 0
expect_out "... saying how" 'alter field Book.weight: type integer -> bigint \(expand, backfill, swap\)'
expect_out "... and warning of the trigger and the short lock" 'warning: Book.pages: type integer -> bigint by expand, backfill and swap'
expect_no_out "... not of a rewrite" 'rewrites table "book" and its indexes'
FILE=$(ls migrations/0002_*.sql)
expect_eq "no ALTER COLUMN TYPE on the way up" "$(sed -n '/^-- +up$/,/^-- +down$/p' "$FILE" | grep -c 'TYPE bigint')" 0
check "the fill is a batched section" grep -q '^-- +up batched$' "$FILE"

run_cmd "$PRODATA" migrate
expect_rc "the swap meets a view on the old column and stops" 1
expect_out "... with PostgreSQL's reason" 'cannot drop column weight of table book because other objects depend on it'
expect_out "... after the batches" 'batched: done, 18000 rows'
expect_eq "... history: incomplete, the batched statements done" \
    "$(sql $DB "SELECT is_complete, concurrent_done FROM prodata_migrations WHERE number = 2")" 'f|4'
expect_eq "... the new columns hold every value, converted" \
    "$(sql $DB 'SELECT count(*) FILTER (WHERE "weight_NEW" IS NOT DISTINCT FROM weight AND "pages_NEW" = pages) FROM book')" \
    "$(sql $DB "SELECT count(*) FROM book")"

# Until the swap, the trigger keeps the new columns in step with the application's writes.
sql $DB "INSERT INTO book (title, weight) VALUES ('during', 77); UPDATE book SET weight = 5, pages = 6 WHERE id = 10" >/dev/null
expect_eq "a row written meanwhile, and one changed, are in step" \
    "$(sql $DB "SELECT string_agg(\"weight_NEW\" || ':' || \"pages_NEW\", ',' ORDER BY id) FROM book WHERE title = 'during' OR id = 10")" \
    "5:6,77:1"
sql $DB "DELETE FROM book WHERE title = 'during'; UPDATE book SET weight = NULL, pages = 10 WHERE id = 10" >/dev/null

run_cmd "$PRODATA" migrate --to 1
expect_rc "the partly applied migration reverts" 0
expect_eq "... nothing of the expansion left (columns, trigger, function, indexes, checks)" "$(leftovers)" 0
expect_eq "... the columns as they were" "$(types)" "$TYPES_BEFORE"
expect_eq "... the rows as they were" "$(values)" "$VALUES_BEFORE"
run_cmd "$PRODATA" check
expect_out "... check sees the migration not applied" '\[ \] 0002_book_alter_weight_and_more  \(not applied\)'
expect_no_out "... and nothing the expansion made" '_NEW|_EXPAND|_notnull'

run_cmd "$PRODATA" migrate
expect_rc "applied again, it stops at the view again" 1
sql $DB "DROP VIEW book_weight" >/dev/null
run_cmd "$PRODATA" migrate
expect_rc "the view gone, migrate completes it" 0
expect_out "... resuming at the swap" 'concurrent 5/10: DO \$prodata\$'
expect_no_out "... not running the batches again" 'concurrent [1-4]/10'
expect_eq "bigint now, defaults and nullability as the model says" "$(types)" \
    "id bigint NO -, pages bigint NO 1, title character varying NO -, weight bigint YES -"
expect_eq "the rows kept their values" "$(values)" "$VALUES_BEFORE"
expect_eq "nothing of the expansion left" "$(leftovers)" 0
expect_eq "the composite index is back under its name, on the new column" \
    "$(sql $DB "SELECT pg_get_indexdef('book_title_pages_idx'::regclass) || ' ' || indisvalid FROM pg_index WHERE indexrelid = 'book_title_pages_idx'::regclass")" \
    "CREATE INDEX book_title_pages_idx ON public.book USING btree (title, pages) true"
expect_eq "the check is back and validated" \
    "$(sql $DB "SELECT pg_get_constraintdef(oid) || ' ' || convalidated FROM pg_constraint WHERE conname = 'book_pages_check'")" \
    "CHECK ((pages >= 0)) true"
run_cmd sql $DB "INSERT INTO book (title, pages) VALUES ('big', 3000000000)"
expect_rc "the new type takes what the old one could not" 0
run_cmd sql $DB "INSERT INTO book (title, pages) VALUES ('bad', -1)"
expect_out "the check holds" 'violates check constraint "book_pages_check"'
run_cmd "$PRODATA" check
expect_rc "check is clean" 0
run_cmd "$PRODATA" makemigrations --check
expect_out "makemigrations finds nothing left" 'No changes detected'

# A deployer that died after the last swap ran but before its record: the swap runs again and does nothing.
sql $DB "UPDATE prodata_migrations SET is_complete = false, concurrent_done = 8 WHERE number = 2" >/dev/null
TYPES_AFTER=$(types)
run_cmd "$PRODATA" migrate
expect_rc "resumed with the count two short of the truth" 0
expect_out "... running the swap again" 'concurrent 9/10: DO \$prodata\$'
expect_eq "... which changed nothing" "$(types)|$(values)" "$TYPES_AFTER|$VALUES_BEFORE"

sql $DB "DELETE FROM book WHERE title = 'big'" >/dev/null
run_cmd "$PRODATA" migrate --to 1
expect_rc "the complete migration reverts (ALTER COLUMN TYPE back)" 0
expect_eq "... the old types" "$(types)" "$TYPES_BEFORE"
expect_eq "... the rows kept" "$(values)" "$VALUES_BEFORE"
run_cmd "$PRODATA" migrate
expect_rc "forward again" 0

# A squash plans from the model states alone, without --expand: it takes the expanded migration for one
# written by hand, and leaves it out (docs/migrations.md, "Type changes without the rewrite").
sed -i 's/^  title   string(100)/&\n  note    text  null/' models.pdm
"$PRODATA" makemigrations >/dev/null
run_cmd "$PRODATA" squashmigrations 2 3 --dry-run
expect_out "a squash refuses the range that holds it" 'cannot squash 0002_book_alter_weight_and_more: its SQL is not what its model change plans'

# What --expand cannot carry is refused, naming the field and the way out.
sed -i 's/^  weight  bigint  null/  weight  decimal(20,0)/' models.pdm
run_cmd "$PRODATA" makemigrations --expand
expect_rc "a type change that also makes the field not null is refused" 2
expect_out "... saying why and what to do" 'models.pdm:4:3: field Book.weight cannot change type by --expand: it also changes between null and not null'
tap_done
