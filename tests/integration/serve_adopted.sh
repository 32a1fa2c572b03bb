#!/bin/bash
# serve_adopted.sh - `prodata serve` on tables described as Django made them (docs/models.md, "From Django"):
# a serial primary key (AutoField before Django 4.1) is the database's, as the implicit id: read-only in
# OPTIONS and OpenAPI, a given id ignored, the sequence numbering single, bulk and many-to-many creates; a
# serial field that is no key needs no value; a deferrable foreign key with its own name (checked at COMMIT,
# so inside the group-commit transaction too) is refused in DRF's words under its field, and creates that
# share a group with refused ones still get their rows, each exactly once.
source tests/lib/pg.sh
source tests/lib/tap.sh
tap_plan 21
source tests/lib/serve.sh

tap_fresh_db serve_adopted
tap_workdir
cat >"$TAP_WORKDIR/models.pdm" <<'PDM'
model Shelf {
  table "app_shelf"
  id      int  primary_key  default=serial
  name    string(40)
  ordering id
}

model Tag {
  table "app_tag"
  label   string(20)  unique
}

model Loan {
  table "app_loan"
  id      bigint  primary_key  default=serial
  shelf   Shelf   on_delete=protect  fk_name="app_loan_shelf_id_4c2a1b9e_fk_app_shelf_id"  deferrable
  number  int     default=serial
  note    string(20)  default=""
  tags    Tag[]
  index(note varchar_pattern_ops)  name="app_loan_note_5f1d2c3b_like"
}
PDM
MODELS="$TAP_WORKDIR/models.pdm"
run_cmd "$PRODATA" makemigrations --models "$MODELS" --migrations "$TAP_WORKDIR/migrations"
expect_rc "makemigrations writes the models" 0
run_cmd "$PRODATA" migrate --models "$MODELS" --migrations "$TAP_WORKDIR/migrations"
expect_rc "migrate applies them" 0
expect_eq "the key is DEFERRABLE INITIALLY DEFERRED under its own name" \
    "$(psql -X -At -c "SELECT conname, condeferrable, condeferred FROM pg_constraint WHERE contype = 'f' AND conrelid = 'app_loan'::regclass")" \
    "app_loan_shelf_id_4c2a1b9e_fk_app_shelf_id|t|t"
psql -qX -c "INSERT INTO app_tag (label) VALUES ('old'), ('rare')" >/dev/null

serve_start --models "$MODELS" --anonymous-role postgres || exit 1

http OPTIONS /api/shelfs/
expect_json "OPTIONS: the serial key is read-only and not required, as DRF's AutoField" \
    '.actions.POST.id | [.read_only, .required]' '[true,false]'
http GET /openapi.json
expect_json "OpenAPI: readOnly, and not required in a request" \
    '[.components.schemas["Shelf.Request"].properties.id.readOnly, (.components.schemas["Shelf.Request"].required | index("id"))]' \
    '[true,null]'

http POST /api/shelfs/ -H 'Content-Type: application/json' -d '{"id": 900, "name": "First"}'
expect_status "a create answers 201" 201
expect_json "a given id is ignored: the sequence numbers the row" '.' '{"id":1,"name":"First"}'
http POST /api/shelfs/ -H 'Content-Type: application/json' -d '[{"name": "Second"}, {"name": "Third"}]'
expect_json "a bulk create numbers each row" '[.[].id]' '[2,3]'
http PUT /api/shelfs/2/ -H 'Content-Type: application/json' -d '{"id": 7, "name": "Second again"}'
expect_json "an update leaves the key alone" '.' '{"id":2,"name":"Second again"}'

http POST /api/loans/ -H 'Content-Type: application/json' -d '{"shelf": 1, "tags": [1, 2]}'
expect_status "a create with many-to-many keys answers 201" 201
expect_json "its bigserial key and its serial field come from their sequences" \
    '[.id, .number, .note, .tags]' '[1,1,"",[1,2]]'
expect_eq "the join rows name the key the row got" \
    "$(psql -X -At -c "SELECT string_agg(loan_id || ':' || tag_id, ',' ORDER BY tag_id) FROM app_loan_tags")" "1:1,1:2"
http POST /api/loans/ -H 'Content-Type: application/json' -d '{"shelf": 424242}'
expect_status "a key to nothing is a 400, although checked at COMMIT" 400
expect_json "... in DRF's words under the field, matched by the key's own name" '.' \
    '{"shelf":["Invalid pk \"424242\" - object does not exist."]}'

# Creates at once: those sharing a group-commit transaction with a refused one still get their rows.
CLIENTS=()
for i in $(seq 1 24); do
    shelf=1
    [ $((i % 4)) = 0 ] && shelf=777
    curl -s -o /dev/null -w "%{http_code}\n" --max-time 30 -X POST "$SERVE_URL/api/loans/" \
        -H 'Content-Type: application/json' -d "{\"shelf\": $shelf, \"note\": \"n$i\"}" >"$TAP_WORKDIR/status.$i" &
    CLIENTS+=($!)
done
wait "${CLIENTS[@]}" # not the server, also a child of this shell
expect_eq "concurrent creates: 18 created, 6 refused" \
    "$(cat "$TAP_WORKDIR"/status.* | sort | uniq -c | awk '{print $2 "x" $1}' | tr '\n' ' ')" "201x18 400x6 "
expect_eq "... each created row written once" \
    "$(psql -X -At -c "SELECT count(*), count(DISTINCT note), count(DISTINCT number) FROM app_loan WHERE note LIKE 'n%'")" \
    "18|18|18"
expect_eq "the LIKE index serves a prefix search" \
    "$(psql -X -At -c "SET enable_seqscan = off; EXPLAIN (COSTS OFF) SELECT id FROM app_loan WHERE note LIKE 'n1%'" | grep -c app_loan_note_5f1d2c3b_like)" \
    "1"

http DELETE /api/shelfs/1/
expect_status "deleting a shelf a loan protects is refused (the deferred key, at COMMIT)" 400
expect_json "... in Django's words, the key found by its own name" '.non_field_errors[0] | test("protected foreign keys: .Loan.shelf.")' 'true'

run_cmd "$PRODATA" check --models "$MODELS" --migrations "$TAP_WORKDIR/migrations"
expect_rc "check: the database is as the migrations made it" 0
run_cmd "$PRODATA" makemigrations --check --models "$MODELS" --migrations "$TAP_WORKDIR/migrations"
expect_out "makemigrations finds nothing to do" 'No changes detected'
tap_done
