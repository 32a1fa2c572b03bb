#!/bin/bash
# serve_generated.sh - generated fields over REST: computed by the database on
# insert and on every update of their inputs, read-only for the API as DRF's
# read-only fields are (a value given in a body is ignored, OPTIONS says
# read_only, OpenAPI readOnly and not required), filterable and orderable as
# any field of their type; a generation expression changed by hand is drift.
source tests/lib/pg.sh
source tests/lib/tap.sh
tap_plan 17
source tests/lib/serve.sh

tap_fresh_db serve_generated
tap_workdir
cat >"$TAP_WORKDIR/models.pdm" <<'PDM'
model Line {
  price      decimal(10,2)
  quantity   int
  first      string(50)
  last       string(50)
  total      decimal(12,2)  generated(price * quantity)
  full_name  text           generated(first || " " || last)
  key        string(120)    index  generated(lower(first || "." || last))
}
PDM
MODELS="$TAP_WORKDIR/models.pdm"
MIGRATIONS="$TAP_WORKDIR/migrations"
run_cmd "$PRODATA" makemigrations --models "$MODELS" --migrations "$MIGRATIONS"
expect_rc "makemigrations writes the model" 0
run_cmd "$PRODATA" migrate --models "$MODELS" --migrations "$MIGRATIONS"
expect_rc "migrate applies it" 0

serve_start --models "$MODELS" --anonymous-role postgres || exit 1

http OPTIONS /api/lines/
expect_json "OPTIONS: generated fields are read-only and not required" \
    '.actions.POST | [.total.read_only, .total.required, .full_name.read_only, .price.read_only]' \
    '[true,false,true,false]'
http GET /openapi.json
expect_json "OpenAPI: readOnly, and not required in a request" \
    '[.components.schemas["Line.Request"].properties.total.readOnly, (.components.schemas["Line.Request"].required | index("total"))]' \
    '[true,null]'

http POST /api/lines/ -H 'Content-Type: application/json' \
    -d '{"price": "2.50", "quantity": 4, "first": "Ada", "last": "Lovelace"}'
expect_status "a POST without the generated fields answers 201" 201
expect_json "... with the values computed" '[.total, .full_name, .key]' '["10.00","Ada Lovelace","ada.lovelace"]'

http POST /api/lines/ -H 'Content-Type: application/json' \
    -d '{"price": "1.00", "quantity": 3, "first": "Alan", "last": "Turing", "total": "999.00", "full_name": "x"}'
expect_status "a POST giving a generated field answers 201 (ignored, as DRF ignores read-only fields)" 201
expect_json "... and the value is the computed one" '[.total, .full_name]' '["3.00","Alan Turing"]'

http PATCH /api/lines/1/ -H 'Content-Type: application/json' -d '{"quantity": 10, "total": "1.00"}'
expect_status "a PATCH of an input answers 200" 200
expect_json "... the generated value recomputed" '[.total, .quantity]' '["25.00",10]'

http PUT /api/lines/2/ -H 'Content-Type: application/json' \
    -d '{"price": "2.00", "quantity": 3, "first": "Grace", "last": "Hopper"}'
expect_json "a PUT without the generated fields recomputes them" '[.total, .key]' '["6.00","grace.hopper"]'

http GET '/api/lines/?total__gte=10'
expect_json "filter on a generated field" '[.results[].id]' '[1]'
http GET '/api/lines/?key__startswith=grace'
expect_json "filter on a generated text field" '[.results[].full_name]' '["Grace Hopper"]'
http GET '/api/lines/?ordering=-total'
expect_json "ordering by a generated field" '[.results[].total]' '["25.00","6.00"]'

run_cmd "$PRODATA" check --models "$MODELS" --migrations "$MIGRATIONS"
expect_rc "check: the generated columns are as the migrations made them" 0
psql -qX -c 'ALTER TABLE line DROP COLUMN total' -c \
    'ALTER TABLE line ADD COLUMN total numeric(12,2) NOT NULL GENERATED ALWAYS AS (price * quantity + 1) STORED' >/dev/null
run_cmd "$PRODATA" check --models "$MODELS" --migrations "$MIGRATIONS"
expect_rc "check: an expression changed by hand is drift" 3
expect_out "... the column named with both expressions" "column line.total: .*generated always as"
tap_done
