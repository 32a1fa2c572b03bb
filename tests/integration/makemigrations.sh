#!/bin/bash
# makemigrations.sh - writing migrations from model changes: bad model files
# refused with file:line:col and nothing written, the initial migration, no-op,
# each change kind named after what changed, destructive changes refused
# without --allow-destructive, renames only through renamed_from, --check,
# and a multi-step history replayed from scratch onto an empty database.
source tests/lib/tap.sh
tap_plan 68
tap_workdir
cd "$TAP_WORKDIR"
tap_fresh_db makemigrations_test

write_models() { cat >models.pdm; }

write_models <<'PDM'
model Author {
  name   string(200)
  email  email   unique
  born   date    null
}

model Book {
  title     string(300)   index
  author    Author        on_delete=cascade  related=books
  price     decimal(8,2)  default=0  check(>= 0)
  published timestamptz   default=now
  ordering  -published
}
PDM

# --- bad input: exit 2, position, nothing written ------------------------
printf 'model Author {\n  name strng(20)\n}\n' >bad.pdm
run_cmd "$PRODATA" makemigrations --models bad.pdm
expect_rc "unknown type exits 2" 2
expect_out "unknown type error names file:line:col" 'bad\.pdm:2:8'
expect_out "unknown type error names the type" 'strng'
[ ! -d migrations ] && tap_ok "nothing written for a bad model file" || tap_not_ok "nothing written for a bad model file"

printf 'model Book {\n  author  Writer\n}\n' >bad.pdm
run_cmd "$PRODATA" makemigrations --models bad.pdm
expect_rc "unknown referenced model exits 2" 2
expect_out "unknown model named with position" 'bad\.pdm:2:11.*Writer'

# --- initial -------------------------------------------------------------
run_cmd "$PRODATA" makemigrations
expect_rc "initial makemigrations succeeds" 0
expect_out "initial migration file written" 'migrations/0001_initial\.sql'
check "0001 has an up section" grep -q -- '^-- +up' migrations/0001_initial.sql
check "0001 records the state" grep -q -- '^-- +state' migrations/0001_initial.sql
check "0001 creates table author" grep -q 'CREATE TABLE "author"' migrations/0001_initial.sql

run_cmd "$PRODATA" makemigrations
expect_rc "no change exits 0" 0
expect_out "no change says so" 'No changes detected'
expect_eq "no change writes nothing" "$(ls migrations | wc -l)" 1

run_cmd "$PRODATA" makemigrations --check
expect_rc "--check with no change exits 0" 0

before=$(sha256sum migrations/0001_initial.sql)
rm -rf migrations.again && mkdir migrations.again
run_cmd "$PRODATA" makemigrations --migrations migrations.again
expect_eq "makemigrations is deterministic" "$(sha256sum <migrations.again/0001_initial.sql | cut -d' ' -f1)" "$(cut -d' ' -f1 <<<"$before")"

# --- add a field ----------------------------------------------------------
sed -i 's/^  ordering  -published/  meta      json  null\n  ordering  -published/' models.pdm
run_cmd "$PRODATA" makemigrations --check
expect_rc "--check with a change exits 3" 3
expect_out "--check lists the change" 'meta'
expect_eq "--check writes nothing" "$(ls migrations | wc -l)" 1

run_cmd "$PRODATA" makemigrations
expect_rc "add field succeeds" 0
expect_out "add field migration is named after the change" '0002_book_add_meta\.sql'
check "add field SQL" grep -q 'ADD COLUMN "meta" jsonb' migrations/0002_book_add_meta.sql

# --- an index on an existing table is built concurrently ---------------------
sed -i 's/^  born   date    null/  born   date    null  index/' models.pdm
run_cmd "$PRODATA" makemigrations --name author_born_index
expect_rc "add index succeeds" 0
check "--name names the file" test -f migrations/0003_author_born_index.sql
check "index on an existing table is built concurrently" grep -q 'CREATE INDEX CONCURRENTLY' migrations/0003_author_born_index.sql

# --- destructive: refused, then allowed ------------------------------------
sed -i '/^  meta      json  null/d' models.pdm
run_cmd "$PRODATA" makemigrations
expect_rc "drop field without --allow-destructive is refused" 1
expect_out "refusal explains what is lost" 'meta'
expect_out "refusal hints at the flag" 'allow-destructive'
expect_eq "refused change writes nothing" "$(ls migrations | wc -l)" 3
run_cmd "$PRODATA" makemigrations --allow-destructive
expect_rc "drop field with --allow-destructive succeeds" 0
check "drop column SQL" grep -q 'DROP COLUMN "meta"' migrations/0004_*.sql

# --- rename through renamed_from, never guessed ------------------------------
sed -i 's/^  title     string(300)   index/  headline  string(300)   index  renamed_from=title/' models.pdm
run_cmd "$PRODATA" makemigrations
expect_rc "rename field succeeds without --allow-destructive" 0
check "rename column SQL" grep -q 'RENAME COLUMN "title" TO "headline"' migrations/0005_*.sql
check "rename drops nothing" bash -c '! grep -q "DROP COLUMN" migrations/0005_*.sql'

# --- the whole history replayed from scratch ---------------------------------
run_cmd "$PRODATA" migrate
expect_rc "five migrations apply from scratch" 0
expect_eq "five history rows" "$(sql makemigrations_test 'SELECT count(*) FROM prodata_migrations')" 5
expect_eq "renamed column exists" "$(sql makemigrations_test "SELECT count(*) FROM information_schema.columns WHERE table_name='book' AND column_name='headline'")" 1
expect_eq "dropped column is gone" "$(sql makemigrations_test "SELECT count(*) FROM information_schema.columns WHERE table_name='book' AND column_name='meta'")" 0
run_cmd "$PRODATA" makemigrations
expect_out "after the history, the models need no migration" 'No changes detected'
run_cmd "$PRODATA" check
expect_rc "check agrees after the replay" 0

# --- two branches each add a migration ------------------------------------------
cp models.pdm models.base.pdm
sed -i 's/^  born   date    null  index/  born   date    null  index\n  twitter  string(50)  null/' models.pdm
"$PRODATA" makemigrations --name branch_a >/dev/null
mv migrations/0006_branch_a.sql branch_a.sql
cp models.base.pdm models.pdm
sed -i 's/^  price     decimal(8,2)  default=0  check(>= 0)/&\n  isbn      string(20)  null/' models.pdm
"$PRODATA" makemigrations --name branch_b >/dev/null
run_cmd "$PRODATA" migrate
expect_rc "this branch's migration is applied on the development database" 0
mv branch_a.sql migrations/0006_branch_a.sql
sed -i 's/^  born   date    null  index/  born   date    null  index\n  twitter  string(50)  null/' models.pdm
run_cmd "$PRODATA" makemigrations
expect_rc "two migrations with one number are refused" 2
expect_out "the conflict names both files" 'conflicting migrations 0006_branch_a and 0006_branch_b'
expect_out "... and says how to rebase" 'makemigrations --rebase with the name of your branch'
mv migrations/0006_branch_b.sql migrations/0007_branch_b.sql
run_cmd "$PRODATA" makemigrations
expect_rc "a renumbered file with a stale state is refused" 2
expect_out "the refusal explains the chain" 'migration 0007_branch_b was made after 0005_[a-z_]+, but now follows 0006_branch_a'
expect_out "the refusal says how to fix it" 'run prodata makemigrations --rebase 0007_branch_b'
mv migrations/0007_branch_b.sql migrations/0006_branch_b.sql
run_cmd "$PRODATA" makemigrations --rebase 0006_branch_b
expect_rc "rebasing a migration the database applied is refused" 1
expect_out "... naming it" "this branch's 0006_branch_b is applied to the database"
expect_out "... with the way back" 'Run again with --revert-applied'
expect_eq "... changing no file" "$(ls migrations | wc -l)" 7
run_cmd "$PRODATA" makemigrations --rebase 0006_branch_b --revert-applied
expect_rc "makemigrations --rebase --revert-applied" 0
expect_out "... reverts it on the database first" 'reverted 0006_branch_b'
expect_out "... removes this branch's file" 'removed migrations/0006_branch_b\.sql'
expect_out "... and writes it again after the other branch's" 'Wrote migrations/0007_branch_b\.sql after 0006_branch_a'
expect_eq "the isbn column was reverted" "$(sql makemigrations_test "SELECT count(*) FROM information_schema.columns WHERE table_name='book' AND column_name='isbn'")" 0
up_section=$(sed -n '/^-- +up/,/^-- +down/p' migrations/0007_*.sql)
expect_out_text() { OUT=$up_section; expect_out "$@"; }
expect_out_text "the new migration adds this branch's column" 'ADD COLUMN "isbn"'
OUT=$up_section; expect_no_out "the new migration does not repeat the other branch's change" 'twitter'
run_cmd "$PRODATA" migrate
expect_rc "the merged history applies (the way forward)" 0
run_cmd "$PRODATA" check
expect_rc "check agrees after the rebase" 0
run_cmd "$PRODATA" makemigrations --rebase 0099_nothing
expect_rc "--rebase of a migration that does not exist is a usage error" 2

# --- a migration written by hand ---------------------------------------------------
run_cmd "$PRODATA" makemigrations --empty --name backfill_prices
expect_rc "makemigrations --empty writes a template" 0
check "the template follows the newest migration" grep -q '^-- after: 0007_' migrations/0008_backfill_prices.sql
check "the template carries the model state forward" grep -q '^-- +state' migrations/0008_backfill_prices.sql
sed -i 's/^-- Write the statements here.*/UPDATE book SET price = 1 WHERE price = 0;/' migrations/0008_backfill_prices.sql
run_cmd "$PRODATA" makemigrations
expect_out "after a hand-written migration, the models still need none" 'No changes detected'
run_cmd "$PRODATA" migrate
expect_rc "the hand-written migration applies" 0
expect_out "and is reported" 'applied 0008_backfill_prices'
run_cmd "$PRODATA" migrate --to 7
expect_rc "its down section (only comments) reverts" 0

tap_done
