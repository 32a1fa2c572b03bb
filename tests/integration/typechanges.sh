#!/bin/bash
# typechanges.sh - the kind table's casts (src/model/kind.c) against a real
# PostgreSQL: for every ordered pair of 17 column types, one model whose
# field changes from the first to the second. The planner refuses the pairs
# without a cast (each refusal names its field; the field then keeps its
# type and makemigrations runs again), and a change it cannot cast back makes
# the migration irreversible; every other change must apply to a table
# holding a row, give the column the type it printed, and revert with
# migrate --to 1. The number of refusals is pinned: a change to the
# cast table shows up here and in docs/models.md ("Type changes").
source tests/lib/tap.sh
tap_plan 14
tap_workdir
cd "$TAP_WORKDIR"
tap_fresh_db typechanges_test
DB=typechanges_test

TYPES=("string(100)" "string(50)" text smallint int bigint "decimal(8,2)" "decimal(10,4)" float bool date time
    timestamptz duration uuid json binary)
SQL_TYPES=("character varying(100)" "character varying(50)" text smallint integer bigint "numeric(8,2)"
    "numeric(10,4)" "double precision" boolean date "time without time zone" "timestamp with time zone" interval
    uuid jsonb bytea)
N=${#TYPES[@]}
declare -A KEEP # "IxJ" -> 1 when the planner refused changing model MIxJ

# write_models OLD|NEW: one model per ordered pair, its field of the first type (OLD) or the second (NEW).
write_models() {
    local i j type
    for ((i = 0; i < N; i++)); do
        for ((j = 0; j < N; j++)); do
            [ $i = $j ] && continue
            type=${TYPES[$i]}
            [ "$1" = NEW ] && [ -z "${KEEP[${i}x$j]:-}" ] && type=${TYPES[$j]}
            printf 'model M%dx%d {\n  f %s null\n}\n' $i $j "$type"
        done
    done >models.pdm
}

write_models OLD
run_cmd "$PRODATA" makemigrations --name before
expect_rc "makemigrations: one model per pair of types" 0
run_cmd "$PRODATA" migrate
expect_rc "migrate: the tables before the changes" 0
sql $DB "DO \$\$ DECLARE t text; BEGIN
    FOR t IN SELECT relname FROM pg_class WHERE relkind = 'r' AND relname ~ '^m[0-9]+x[0-9]+$' LOOP
        EXECUTE format('INSERT INTO %I DEFAULT VALUES', t);
    END LOOP; END \$\$" >/dev/null

# A change without a cast back makes the migration irreversible (its reason names the field): kept out too,
# so that the rest can be reverted.
refused=0
irreversible=""
while [ $refused -le $((N * N)) ]; do
    write_models NEW
    run_cmd "$PRODATA" makemigrations --name changes --allow-destructive
    if [ "$RC" = 0 ]; then
        pair=$(grep -oE '^-- \+down irreversible: altered field M[0-9]+x[0-9]+' migrations/0002_changes.sql |
            grep -oE '[0-9]+x[0-9]+$')
        [ -z "$pair" ] && break
        rm migrations/0002_changes.sql
        irreversible="$irreversible $pair"
    else
        pair=$(grep -oE 'field M[0-9]+x[0-9]+\.f cannot change type' <<<"$OUT" | grep -oE '[0-9]+x[0-9]+')
        [ -n "$pair" ] || break
        refused=$((refused + 1))
    fi
    KEEP[$pair]=1
done
expect_rc "makemigrations writes every change the cast table allows" 0
expect_eq "pairs refused: no cast (or one that fails on most values)" "$refused" 147
expect_eq "irreversible: timestamptz to time (no cast from time back to timestamptz)" "$irreversible" " 12x11"
expect_eq "a refusal is never the same as a change (int and bool both ways are changes)" \
    "${KEEP[4x9]:-}${KEEP[9x4]:-}${KEEP[3x9]:-}" "1"

run_cmd "$PRODATA" migrate
expect_rc "migrate applies every type change to tables holding a row" 0

# column_types: "MIxJ type" per pair as PostgreSQL prints them; expected_types OLD|NEW likewise from the arrays.
column_types() {
    sql $DB "SELECT c.relname || ' ' || format_type(a.atttypid, a.atttypmod) FROM pg_class c
             JOIN pg_attribute a ON a.attrelid = c.oid AND a.attname = 'f'
             WHERE c.relname ~ '^m[0-9]+x[0-9]+$' ORDER BY c.relname"
}
expected_types() {
    local i j type
    for ((i = 0; i < N; i++)); do
        for ((j = 0; j < N; j++)); do
            [ $i = $j ] && continue
            type=${SQL_TYPES[$i]}
            [ "$1" = NEW ] && [ -z "${KEEP[${i}x$j]:-}" ] && type=${SQL_TYPES[$j]}
            echo "m${i}x$j $type"
        done
    done | LC_ALL=C sort
}
expect_eq "every column has the type the planner printed" "$(column_types | LC_ALL=C sort)" "$(expected_types NEW)"
expect_eq "the rows survived" "$(sql $DB "SELECT count(*) FROM m3x4")$(sql $DB "SELECT count(*) FROM m2x16")" "11"

run_cmd "$PRODATA" migrate --to 1
expect_rc "migrate --to 1 reverts every type change" 0
expect_eq "every column has its old type again" "$(column_types | LC_ALL=C sort)" "$(expected_types OLD)"

# A primary key keeps its type: widening string(20) to string(30) would rewrite every referencing table (a
# hand migration); the same key beside other changes plans.
mkdir pk && cd pk
printf 'model A {\n  code string(20) primary_key\n}\nmodel B {\n  a A\n}\n' >models.pdm
run_cmd "$PRODATA" makemigrations
expect_rc "a model keyed by a string" 0
printf 'model A {\n  code string(20) primary_key\n  n int null\n}\nmodel B {\n  a A\n}\n' >models.pdm
run_cmd "$PRODATA" makemigrations --dry-run
expect_rc "the key's type unchanged: the other change plans" 0
printf 'model A {\n  code string(30) primary_key\n}\nmodel B {\n  a A\n}\n' >models.pdm
run_cmd "$PRODATA" makemigrations --dry-run
expect_out "the key's type changed: refused" "changing the primary key \\(code\\) is not supported"

tap_done
