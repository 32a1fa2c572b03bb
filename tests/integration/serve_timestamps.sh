#!/bin/bash
# serve_timestamps.sh - auto_now_add and auto_now kept by the database for every writer: the REST API
# treats them as read-only (OPTIONS, OpenAPI, a given value ignored), an insert gets now, an update from
# the API or from psql sets the auto_now fields through the migrations' trigger and leaves auto_now_add
# alone; a trigger dropped by hand is drift for `check`.
source tests/lib/pg.sh
source tests/lib/tap.sh
tap_plan 13
source tests/lib/serve.sh

tap_fresh_db serve_timestamps
tap_workdir
cat >"$TAP_WORKDIR/models.pdm" <<'PDM'
model Note {
  body     text
  created  timestamptz  auto_now_add
  updated  timestamptz  auto_now
  day      date         null  auto_now
}
PDM
MODELS="$TAP_WORKDIR/models.pdm"
MIGRATIONS="$TAP_WORKDIR/migrations"
run_cmd "$PRODATA" makemigrations --models "$MODELS" --migrations "$MIGRATIONS"
expect_rc "makemigrations writes the model" 0
run_cmd "$PRODATA" migrate --models "$MODELS" --migrations "$MIGRATIONS"
expect_rc "migrate applies it" 0

serve_start --models "$MODELS" --anonymous-role postgres || exit 1

http OPTIONS /api/notes/
expect_json "OPTIONS: auto_now and auto_now_add are read-only and not required, as DRF's" \
    '.actions.POST | [.created.read_only, .created.required, .updated.read_only, .body.read_only]' \
    '[true,false,true,false]'
http GET /openapi.json
expect_json "OpenAPI: readOnly, and not required in a request" \
    '[.components.schemas["Note.Request"].properties.updated.readOnly, (.components.schemas["Note.Request"].required | index("updated"))]' \
    '[true,null]'

http POST /api/notes/ -H 'Content-Type: application/json' \
    -d '{"body": "a", "created": "2000-01-01T00:00:00Z", "updated": "2000-01-01T00:00:00Z"}'
expect_status "a create answers 201" 201
expect_eq "given values are ignored: the insert gets the database's now" \
    "$(psql -X -At -c "SELECT created = updated AND created > now() - interval '1 hour' AND day = CURRENT_DATE FROM note")" "t"
psql -qX -c "UPDATE note SET created = '2001-01-01', updated = '2001-01-01', day = NULL" >/dev/null
expect_eq "an UPDATE from psql: auto_now set again, auto_now_add as written" \
    "$(psql -X -At -c "SELECT created = '2001-01-01', updated > now() - interval '1 hour', day = CURRENT_DATE FROM note")" \
    "t|t|t"
before=$(psql -X -At -c "SELECT updated FROM note")
http PATCH /api/notes/1/ -H 'Content-Type: application/json' -d '{"body": "b", "updated": "2000-01-01T00:00:00Z"}'
expect_status "a PATCH answers 200" 200
expect_json "the answer shows the row as the trigger left it" '[.body, (.updated | startswith("2000"))]' '["b",false]'
expect_eq "the API's update moved updated forward" \
    "$(psql -X -At -c "SELECT updated > '$before' FROM note")" "t"

run_cmd "$PRODATA" check --models "$MODELS" --migrations "$MIGRATIONS"
expect_rc "check: the trigger is as the migrations made it" 0
psql -qX -c 'DROP TRIGGER prodata_auto_now ON note' >/dev/null
run_cmd "$PRODATA" check --models "$MODELS" --migrations "$MIGRATIONS"
expect_rc "check: a trigger dropped by hand is drift" 3
expect_out "... named in the report" 'trigger note.prodata_auto_now: in .*models.pdm, not in the database'
tap_done
