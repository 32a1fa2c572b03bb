#!/bin/bash
# serve_batch.sh - single creates of one model that wait for the same COMMIT go as one multi-row INSERT
# (batch.c): behind a slow create (an AFTER INSERT trigger that sleeps keeps the group's COMMIT in flight),
# the creates sent meanwhile share one statement. Every create is answered once, with its own object, each
# row is written once, and the row counters (added by the shared transactions themselves) stay equal to
# count(*).
source tests/lib/pg.sh
source tests/lib/tap.sh
tap_plan 6
source tests/lib/serve.sh

tap_fresh_db serve_batch
tap_workdir
MODELS="$TAP_WORKDIR/models.pdm"
cp "$TESTS_ROOT/integration/serve_batch/models.pdm" "$MODELS"
"$PRODATA" makemigrations --models "$MODELS" --migrations "$TAP_WORKDIR/migrations" >/dev/null 2>&1 &&
    "$PRODATA" migrate --models "$MODELS" --migrations "$TAP_WORKDIR/migrations" >/dev/null 2>&1 ||
    { echo "serve_batch: migrate failed" >&2; exit 1; }
psql -qX -v ON_ERROR_STOP=1 >/dev/null <<'SQL'
CREATE FUNCTION slow_row() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN PERFORM pg_sleep(1.2); RETURN NULL; END $$;
CREATE TRIGGER slow_note AFTER INSERT ON note FOR EACH ROW WHEN (NEW.body = 'Slow') EXECUTE FUNCTION slow_row();
CREATE TABLE statements (tab text, rows bigint);
CREATE FUNCTION log_statement() RETURNS trigger LANGUAGE plpgsql AS
  $$ BEGIN INSERT INTO statements SELECT TG_TABLE_NAME, count(*) FROM new_rows; RETURN NULL; END $$;
CREATE TRIGGER log_note AFTER INSERT ON note REFERENCING NEW TABLE AS new_rows
  FOR EACH STATEMENT EXECUTE FUNCTION log_statement();
SQL
serve_start --models "$MODELS" --anonymous-role postgres --worker-threads 1 --pool-size 8 || exit 1

# post PATH BODY: one create; prints its status and body on one line
post() {
    curl -s --max-time 30 -w ' %{http_code}\n' -X POST -H 'Content-Type: application/json' -d "$2" "$SERVE_URL$1"
}
# behind PATH SLOW_BODY BODY...: a slow create, then each BODY at once behind it; $TAP_WORKDIR/answers.N
# gets the Nth BODY's answer
behind() {
    local path=$1 slow=$2 i=0 pids
    shift 2
    rm -f "$TAP_WORKDIR"/answers.*
    post "$path" "$slow" >"$TAP_WORKDIR/answers.slow" &
    pids=$!
    sleep 0.3
    for body in "$@"; do
        i=$((i + 1))
        post "$path" "$body" >"$TAP_WORKDIR/answers.$i" &
        pids="$pids $!"
    done
    # shellcheck disable=SC2086
    wait $pids
}
# statuses: "STATUS:N ..." over the answers of the last behind call
statuses() {
    cat "$TAP_WORKDIR"/answers.[0-9]* | awk '{ print $NF }' | sort | uniq -c | awk '{ printf "%s:%s ", $2, $1 }'
}
# counted TABLE: "rows counted/rows in the table"
counted() {
    psql -tAX -c "SELECT (SELECT coalesce(sum(n), 0) FROM prodata_row_counts WHERE relid = '$1'::regclass)
        || '/' || (SELECT count(*) FROM $1)"
}

# --- creates that give no field at all: one row each --------------------------------------------------
behind /api/notes/ '{"body": "Slow"}' '{}' '{}' '{}' '{}' '{}' '{}'
expect_eq "six empty creates behind a slow one: each 201" "$(statuses)" "201:6 "
expect_eq "... in multi-row INSERTs (fewer statements than creates)" \
    "$(psql -tAX -c "SELECT sum(rows) || ' rows, ' || (count(*) < sum(rows)) FROM statements WHERE tab = 'note'")" \
    "7 rows, true"
expect_eq "... seven rows written, one per create" "$(psql -tAX -c "SELECT count(*) FROM note")" 7
expect_eq "... and the row counter says so" "$(counted note)" "7/7"
http POST /api/notes/ -H 'Content-Type: application/json' -d '[{}, {}, {}]'
expect_eq "a bulk create of three empty objects: 201 with three objects" "$HTTP_STATUS $(jq length <<<"$HTTP_BODY")" "201 3"
expect_eq "... three rows written" "$(counted note)" "10/10"

serve_stop
