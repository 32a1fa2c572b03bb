#!/bin/bash
# evolution.sh - the machinery of the evolution tests (tests/integration/evolution*.sh):
# a model file evolved step by step, each step made into a migration and applied to
# a database holding rows. After every step, on a real PostgreSQL:
#   history = fresh: the live schema equals the schema that makemigrations from
#     scratch (an empty migrations folder) gives on an empty database;
#   down = previous: migrate --to <previous step> gives the previous step's
#     schema exactly, and migrating forward again gives this step's schema;
#   check agrees, makemigrations finds nothing left.
# A test sources tests/lib/tap.sh, then this file, calls evolution_begin NAME, one
# `step` per model file (on stdin), probes of its rows, and evolution_end.
# Schemas are compared as text (one catalog query: columns, constraints, indexes,
# auto_now triggers, comments), so a failure prints the lines that differ.

# evolution_begin NAME: the work folder and the two databases NAME_history, NAME_fresh.
evolution_begin() {
    tap_workdir
    cd "$TAP_WORKDIR" || exit 1
    HIST=$1_history
    FRESH=$1_fresh
    tap_fresh_db "$FRESH"
    tap_fresh_db "$HIST"
    STARTED=$SECONDS
    export PGDATABASE=$HIST
    STEP=0
    : >schema.0
}

# Every user table of the public schema (prodata's own left out): columns sorted by
# name (history adds them at the end, a fresh table in file order), constraints as
# PostgreSQL deparses them, indexes with their definitions and validity.
SCHEMA_QUERY=$(
    cat <<'SQL'
WITH t AS (
    SELECT c.oid, c.relname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
    WHERE n.nspname = 'public' AND c.relkind = 'r' AND c.relname NOT LIKE 'prodata\_%'
)
SELECT line FROM (
    SELECT 'table ' || t.relname AS line FROM t
    UNION ALL
    SELECT 'column ' || t.relname || '.' || a.attname || ' ' || format_type(a.atttypid, a.atttypmod)
        || CASE WHEN a.attnotnull THEN ' not null' ELSE '' END
        || CASE a.attidentity WHEN 'd' THEN ' identity by default' WHEN 'a' THEN ' identity always' ELSE '' END
        || COALESCE(CASE a.attgenerated WHEN 's' THEN ' generated ' ELSE ' default ' END
                    || pg_get_expr(d.adbin, d.adrelid), '')
    FROM t JOIN pg_attribute a ON a.attrelid = t.oid AND a.attnum > 0 AND NOT a.attisdropped
    LEFT JOIN pg_attrdef d ON d.adrelid = a.attrelid AND d.adnum = a.attnum
    UNION ALL
    SELECT 'constraint ' || t.relname || '.' || con.conname || ' ' || pg_get_constraintdef(con.oid)
        || CASE WHEN con.convalidated THEN '' ELSE ' (not validated)' END
    FROM t JOIN pg_constraint con ON con.conrelid = t.oid
    UNION ALL
    SELECT 'index ' || t.relname || '.' || ic.relname || ' ' || pg_get_indexdef(i.indexrelid)
        || CASE WHEN i.indisvalid THEN '' ELSE ' (invalid)' END
    FROM t JOIN pg_index i ON i.indrelid = t.oid JOIN pg_class ic ON ic.oid = i.indexrelid
    UNION ALL
    SELECT 'trigger ' || t.relname || '.' || g.tgname || ' ' || pg_get_triggerdef(g.oid)
    FROM t JOIN pg_trigger g ON g.tgrelid = t.oid AND g.tgname = 'prodata_auto_now'
    UNION ALL
    SELECT 'comment ' || t.relname || coalesce('.' || a.attname, '') || ' ' || ds.description
    FROM t JOIN pg_description ds ON ds.objoid = t.oid AND ds.classoid = 'pg_class'::regclass
    LEFT JOIN pg_attribute a ON a.attrelid = t.oid AND a.attnum = ds.objsubid AND ds.objsubid > 0
) lines ORDER BY line COLLATE "C"
SQL
)

schema_of() {
    psql -X -q -At -v ON_ERROR_STOP=1 -d "$1" -c "$SCHEMA_QUERY"
}

# expect_same NAME EXPECTED_FILE ACTUAL_FILE: equal, or a failure showing the diff.
expect_same() {
    local diff_text
    if diff_text=$(diff -u --label expected --label actual "$2" "$3"); then
        tap_ok "$1"
    else
        tap_not_ok "$1" "$diff_text"
    fi
}

# probe NAME QUERY EXPECTED: rows written in early steps still read as EXPECTED.
probe() {
    run_cmd sql "$HIST" "$2"
    if [ "$RC" = 0 ] && [ "$OUT" = "$3" ]; then tap_ok "$1"; else tap_not_ok "$1" "got:      $OUT" "expected: $3"; fi
}

# step NAME [makemigrations options]: the next model file comes on stdin. Writes
# migration STEP, applies it, and checks the equivalences described above.
step() {
    local name=$1 file
    shift
    STEP=$((STEP + 1))
    local label="step $STEP ($name)"
    cat >models.pdm
    run_cmd "$PRODATA" makemigrations "$@"
    if [ "$RC" != 0 ]; then
        tap_not_ok "$label: makemigrations" "exit code $RC" "$OUT"
        return 1
    fi
    file=$(ls migrations/"$(printf '%04d' $STEP)"_*.sql 2>/dev/null)
    [ -n "$file" ] || { tap_not_ok "$label: migration $STEP written" "$OUT"; return 1; }

    run_cmd "$PRODATA" migrate --database "dbname=$HIST"
    expect_rc "$label: migrate applies it" 0
    schema_of "$HIST" >"schema.$STEP"
    run_cmd "$PRODATA" check --database "dbname=$HIST"
    expect_rc "$label: check exits 0" 0
    run_cmd "$PRODATA" makemigrations --check
    expect_out "$label: makemigrations finds no changes" 'No changes detected'

    # The same model file from scratch, onto an empty database.
    rm -rf fresh && mkdir fresh
    run_cmd "$PRODATA" makemigrations --migrations fresh
    if [ "$RC" = 0 ]; then
        tap_fresh_db "$FRESH"
        run_cmd "$PRODATA" migrate --migrations fresh --database "dbname=$FRESH"
    fi
    expect_rc "$label: fresh makemigrations and migrate" 0
    schema_of "$FRESH" >"fresh.$STEP"
    expect_same "$label: history schema = fresh schema" "fresh.$STEP" "schema.$STEP"

    if grep -q -- '^-- +down irreversible' "$file"; then
        tap_ok "$label: down = previous # SKIP irreversible: $(grep -- '^-- +down irreversible' "$file")"
        return 0
    fi
    run_cmd "$PRODATA" migrate --database "dbname=$HIST" --to $((STEP - 1))
    expect_rc "$label: migrate --to $((STEP - 1)) reverts it" 0
    schema_of "$HIST" >"down.$STEP"
    expect_same "$label: reverted schema = step $((STEP - 1)) schema" "schema.$((STEP - 1))" "down.$STEP"
    run_cmd "$PRODATA" migrate --database "dbname=$HIST"
    expect_rc "$label: migrate forward again" 0
    schema_of "$HIST" >"again.$STEP"
    expect_same "$label: forward again = step $STEP schema" "schema.$STEP" "again.$STEP"
}

# evolution_end: the whole history down to nothing and up again, then the TAP summary.
evolution_end() {
    run_cmd "$PRODATA" migrate --database "dbname=$HIST" --to 0
    expect_rc "the whole history reverts" 0
    schema_of "$HIST" >down.all
    expect_same "reverted to nothing: no table left" schema.0 down.all
    run_cmd "$PRODATA" migrate --database "dbname=$HIST"
    expect_rc "the whole history applies again" 0
    schema_of "$HIST" >again.all
    expect_same "history applied in one go = step $STEP schema" "schema.$STEP" again.all

    echo "# $STEP steps in $((SECONDS - STARTED)) s"
    tap_done
}
