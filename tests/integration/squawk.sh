#!/bin/bash
# squawk.sh - the migrations makemigrations writes, linted by squawk (npm squawk-cli, the PostgreSQL
# migration linter), one generated migration per kind of change. A finding counts unless the migration's
# own header already names it (a warning, the data lost, a widening that rewrites nothing), or it is one of
# the rules migrate itself answers or the model file decides:
#   require-lock-timeout, require-statement-timeout  migrate sets lock_timeout on every step (lock_timeout_ms)
#   prefer-robust-stmts, transaction-nesting         the +up section runs in one transaction (it rolls back
#                                                    whole), the concurrent one is IF NOT EXISTS already
#   prefer-text-field, prefer-bigint-over-int,
#   prefer-bigint-over-smallint, prefer-identity,
#   prefer-timestamptz                               the column's type is the model file's choice
# Each file's sections are linted apart: +up as in a transaction, +up concurrently as outside one.
source tests/lib/tap.sh
tap_workdir
cd "$TAP_WORKDIR"
# squawk-cli pinned to one version; installed with npm install, not npm ci (tests/tools/install.sh): its lock
# entries name platform packages that npm does not publish for every platform, which npm ci refuses.
SQUAWK_DIR="$(cd "$TESTS_ROOT/.." && pwd)/${PRODATA_BUILD:-build}/tools-squawk"
SQUAWK="$SQUAWK_DIR/node_modules/.bin/squawk"
if [ ! -x "$SQUAWK" ] && ! npm install --prefix "$SQUAWK_DIR" --no-save --no-audit --no-fund --loglevel=error \
    squawk-cli@2.66.0 >"$TAP_WORKDIR/npm.log" 2>&1; then
    tap_plan 1
    sed 's/^/# /' "$TAP_WORKDIR/npm.log"
    tap_not_ok "squawk-cli 2.66.0 installs with npm (is the npm registry reachable?)"
    exit 1
fi
EXCLUDE=require-lock-timeout,require-statement-timeout,prefer-robust-stmts,transaction-nesting,prefer-text-field,prefer-bigint-over-int,prefer-bigint-over-smallint,prefer-identity,prefer-timestamptz

# The warning of a migration that names what a squawk rule finds (a regex over its "-- warnings:" lines).
warned_by() {
    case "$1" in
        # a widening of varchar (or to text) changes no stored value and rewrites nothing: squawk cannot tell
        changing-column-type) echo 'changing the type|type character varying\([0-9]+\) -> (character varying|text)' ;;
        adding-not-nullable-field | setting-not-nullable-field) echo 'NOT NULL' ;;
        renaming-column | renaming-table) echo 'renam' ;;
        adding-field-with-default) echo 'default=(uuid|now)|volatile' ;;
        adding-foreign-key-constraint | constraint-missing-not-valid) echo 'NOT VALID' ;;
        ban-drop-column | ban-drop-table) echo '^-- data lost:' ;;
        *) echo '^$NOTHING' ;;
    esac
}

# lint FILE: the findings of FILE's two sections that its warnings do not name, one per line.
lint() {
    local file=$1 up concurrent warnings line rule
    up=$(sed -n '/^-- +up$/,/^-- +\(up concurrently\|up batched.*\|down.*\|state\)$/p' "$file" | sed '1d;$d')
    concurrent=$(sed -n '/^-- +up concurrently$/,/^-- +\(up batched.*\|down.*\|state\)$/p' "$file" | sed '1d;$d')
    warnings=$(sed -n '1,/^-- +up$/p' "$file") # the header: operations, warnings, data lost
    {
        [ -n "$up" ] && printf '%s\n' "$up" >up.sql && "$SQUAWK" --pg-version=15.0 --assume-in-transaction \
            --reporter=gcc --exclude="$EXCLUDE" up.sql 2>&1
        [ -n "$concurrent" ] && printf '%s\n' "$concurrent" >concurrent.sql && "$SQUAWK" --pg-version=15.0 \
            --no-assume-in-transaction --reporter=gcc --exclude="$EXCLUDE" concurrent.sql 2>&1
    } | grep -E '^(up|concurrent)\.sql:[0-9]+:[0-9]+: ' | while IFS= read -r line; do
        rule=$(grep -oE '(warning|error): [a-z-]+' <<<"$line" | awk '{print $2}')
        grep -qiE -- "$(warned_by "$rule")" <<<"$warnings" || echo "$line"
    done
}

# One model change per step: "description|sed expression on models.pdm|makemigrations flags".
cat >models.pdm <<'PDM'
model Author {
  name   string(200)
  email  email  unique
}
model Book {
  title   string(300)
  author  Author
  price   decimal(8,2)  default=0
}
PDM
STEPS=(
    "create models|s/^}\$/}/|"
    "add a nullable field|s/^  price   decimal(8,2)  default=0\$/&\n  isbn    string(20)  null/|"
    "add a field with a default|s/^  isbn    string(20)  null\$/&\n  pages   int  default=0/|"
    "add a unique|s/^  isbn    string(20)  null\$/  isbn    string(20)  null  unique/|"
    "add an index|s/^  title   string(300)\$/  title   string(300)  index/|"
    "add a check|s/^  pages   int  default=0\$/  pages   int  default=0  check(>= 0)/|"
    "add a foreign key field|s/^  pages   int  default=0  check(>= 0)\$/&\n  editor  Author  null  related=edited/|"
    "add a composite index|s/^}\$/}/;/^model Book {\$/,/^}\$/{s/^}\$/  index(title, price)\n}/}|"
    "widen a type (no rewrite)|s/^  isbn    string(20)  null  unique\$/  isbn    string(40)  null  unique/|"
    "change a type (rewrite)|s/^  pages   int  default=0  check(>= 0)\$/  pages   bigint  default=0  check(>= 0)/|"
    "null to not null|s/^  isbn    string(40)  null  unique\$/  isbn    string(40)  unique/|"
    "rename a field|s/^  pages   bigint  default=0  check(>= 0)\$/  page_count  bigint  default=0  check(>= 0)  renamed_from=pages/|"
    "drop a field|/^  page_count/d|--allow-destructive"
    "add a model with a many-to-many|s/^  price   decimal(8,2)  default=0\$/&\n  tags    Tag[]/;\$a model Tag {\n  label  slug  unique\n}|"
    "drop a model|/^model Tag {\$/,/^}\$/d;/^  tags    Tag\[\]\$/d|--allow-destructive"
)
tap_plan $((${#STEPS[@]} * 2 + 1))
expect_rc_ok=0
for step in "${STEPS[@]}"; do
    IFS='|' read -r what expr flags <<<"$step"
    sed -i "$expr" models.pdm
    before=$(ls migrations 2>/dev/null | wc -l)
    run_cmd "$PRODATA" makemigrations $flags
    after=$(ls migrations | wc -l)
    check "makemigrations writes a migration: $what" test "$after" -gt "$before"
    file=$(ls migrations/*.sql | tail -1)
    found=$(lint "$file")
    expect_eq "squawk finds nothing its warnings do not name: $what" "$found" ""
done
run_cmd "$SQUAWK" --version
expect_out "squawk itself ran (its version)" '^squawk [0-9]'
