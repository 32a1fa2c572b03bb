#!/bin/bash
# serve_cpk.sh - a model with a composite primary key (primary_key(a, b)) over real HTTP: its detail URL
# is the key's values in declared order, each percent-encoded, joined by ',' (/api/order_lines/1,ab/):
# list, retrieve, create (201 and its Location), PUT, PATCH, DELETE by that key; a value holding a comma
# or a slash, encoded; a wrong number of parts, a bad escape or a value of the wrong type is a 404, never a
# 500; a duplicate key is a 400 as DRF's unique-together; cursor pagination keyed by the whole key; OPTIONS
# and OpenAPI (one path parameter per key field).
source tests/lib/pg.sh
source tests/lib/tap.sh
tap_plan 44
source tests/lib/serve.sh

tap_fresh_db serve_cpk
tap_workdir
cat >"$TAP_WORKDIR/models.pdm" <<'PDM'
model Order {
  code  string(20)
}

model OrderLine {
  order  Order
  sku    string(40)
  qty    int  default=1
  primary_key(order, sku)
}
PDM
MODELS="$TAP_WORKDIR/models.pdm"
MIGRATIONS="$TAP_WORKDIR/migrations"
run_cmd "$PRODATA" makemigrations --models "$MODELS" --migrations "$MIGRATIONS"
expect_rc "makemigrations writes the models" 0
run_cmd "$PRODATA" migrate --models "$MODELS" --migrations "$MIGRATIONS"
expect_rc "migrate applies them" 0
psql -qX -c "INSERT INTO \"order\" (code) VALUES ('o1'), ('o2');
    INSERT INTO order_line (order_id, sku, qty) VALUES (1, 'ab', 2), (1, 'a,b/c', 3), (2, 'ab', 4)" >/dev/null

serve_start --models "$MODELS" --anonymous-role postgres || exit 1

http GET /api/order_lines/
expect_status "list answers 200" 200
expect_json "list: the key's fields, no pk member, ordered by the whole key" \
    '[.results[] | [.order, .sku, .qty, has("pk"), has("id")]]' \
    '[[1,"a,b/c",3,false,false],[1,"ab",2,false,false],[2,"ab",4,false,false]]'

http GET /api/order_lines/1,ab/
expect_status "retrieve by 1,ab answers 200" 200
expect_json "... the object" '[.order, .sku, .qty]' '[1,"ab",2]'
http GET '/api/order_lines/1,a%2Cb%2Fc/'
expect_status "a value with a comma and a slash, encoded" 200
expect_json "... is that object" '[.order, .sku, .qty]' '[1,"a,b/c",3]'

http GET '/api/order_lines/1,a%2Cb%2Fc'
expect_status "without the slash: 301" 301
expect_eq "... to the same encoded key with the slash" "$(http_header Location)" "/api/order_lines/1,a%2Cb%2Fc/"
http GET /api/order_lines/1/
expect_status "one part of two: 404" 404
expect_json "... DRF's body" '.detail' '"Not found."'
http GET /api/order_lines/1,ab,x/
expect_status "three parts of two: 404" 404
http GET /api/order_lines/x,ab/
expect_status "a part of the wrong type: 404, not 500" 404
http GET '/api/order_lines/1,a%2/'
expect_status "a broken escape: 404" 404
http GET /api/order_lines/1,/
expect_status "an empty part: 404" 404

http POST /api/order_lines/ -H 'Content-Type: application/json' -d '{"order": 2, "sku": "x/y", "qty": 7}'
expect_status "create answers 201" 201
expect_eq "Location: the key's values encoded and joined by a comma" \
    "$(http_header Location)" "$SERVE_URL/api/order_lines/2,x%2Fy/"
http GET /api/order_lines/2,x%2Fy/
expect_json "... which retrieves it" '[.order, .sku, .qty]' '[2,"x/y",7]'
http POST /api/order_lines/ -H 'Content-Type: application/json' -d '{"order": 2, "sku": "x/y", "qty": 1}'
expect_status "a repeated key: 400" 400
expect_json "... as DRF's unique together" '.non_field_errors' '["The fields order, sku must make a unique set."]'

http PUT /api/order_lines/1,ab/ -H 'Content-Type: application/json' -d '{"order": 1, "sku": "ab", "qty": 9}'
expect_status "PUT answers 200" 200
http PATCH /api/order_lines/1,ab/ -H 'Content-Type: application/json' -d '{"qty": 10}'
expect_json "PATCH changes the one row" '[.order, .sku, .qty]' '[1,"ab",10]'
expect_eq "... and no other" "$(psql -X -At -c "SELECT string_agg(qty::text, ' ' ORDER BY order_id, sku) FROM order_line")" \
    "3 10 4 7"

http DELETE /api/order_lines/1,a%2Cb%2Fc/
expect_status "DELETE by an encoded key answers 204" 204
expect_eq "... and deletes that row only" "$(psql -X -At -c "SELECT count(*) FROM order_line")" "3"

http GET '/api/order_lines/?pagination=cursor&page_size=2'
expect_json "cursor pagination: the first page" '[.results[] | [.order, .sku]]' '[[1,"ab"],[2,"ab"]]'
next=$(jq -r .next <<<"$HTTP_BODY")
http GET "${next#"$SERVE_URL"}"
expect_json "... the next page, by the whole key" '[[.results[] | [.order, .sku]], .next]' '[[[2,"x/y"]],null]'

http POST /api/order_lines/ -H 'Content-Type: application/json' \
    -d '[{"order": 2, "sku": "b1", "qty": 1}, {"order": 2, "sku": "b2", "qty": 2}]'
expect_status "a bulk create answers 201" 201
expect_json "... with both objects" '[.[] | [.order, .sku]]' '[[2,"b1"],[2,"b2"]]'
http POST /api/order_lines/ -H 'Content-Type: application/json' -H 'Prefer: resolution=merge-duplicates' \
    -d '[{"order": 2, "sku": "b1", "qty": 5}, {"order": 2, "sku": "b3", "qty": 6}]'
expect_status "an upsert without on_conflict matches on the composite key" 200
expect_eq "... one row updated, one inserted" \
    "$(psql -X -At -c "SELECT string_agg(sku || '=' || qty, ' ' ORDER BY sku) FROM order_line WHERE order_id = 2 AND sku LIKE 'b%'")" \
    "b1=5 b2=2 b3=6"
psql -qX -c "DELETE FROM order_line WHERE sku LIKE 'b%'" >/dev/null
http GET '/api/order_lines/?order=1&ordering=-qty'
expect_json "an ordering on another field, completed by the key" '[.results[] | .sku]' '["ab"]'

http GET '/api/order_lines/?order=1'
expect_json "a filter on a key part" '[.results[] | .sku]' '["ab"]'

http GET '/api/order_lines/?pk=1'
expect_status "pk names no one field of a composite key: 400, not 500" 400
http GET '/api/orders/1/?expand=order_line_set'
expect_json "an embed of the composite-key rows, ordered by their key" '[.order_line_set[] | .sku]' '["ab"]'
http GET '/api/orders/?order_line_set__qty=4'
expect_json "a filter through the reverse relation" '[.results[] | .code]' '["o2"]'
http GET '/api/orders/?order_line_set__isnull=true'
expect_json "... and isnull on it" '[.results[] | .code]' '[]'

http OPTIONS /api/order_lines/
expect_json "OPTIONS: the key's fields are written by the client" \
    '.actions.POST | [.order.read_only, .order.required, .sku.required]' '[false,true,true]'
http GET /openapi.json
expect_json "OpenAPI: the item path takes one parameter per key field" \
    '.paths["/api/order_lines/{order},{sku}/"].parameters | map(.name)' '["order","sku"]'
expect_json "OpenAPI: on_conflict may name the key" \
    '[.paths["/api/order_lines/"].post.parameters[] | select(.name == "on_conflict") | .schema.enum[]] | index("order,sku") != null' 'true'

run_cmd "$PRODATA" check --models "$MODELS" --migrations "$MIGRATIONS"
expect_rc "check: the key is as the migrations made it" 0
psql -qX -c 'ALTER TABLE order_line DROP CONSTRAINT order_line_pkey, ADD CONSTRAINT order_line_pkey PRIMARY KEY (sku, order_id)' >/dev/null
run_cmd "$PRODATA" check --models "$MODELS" --migrations "$MIGRATIONS"
expect_rc "check: the key's columns reordered by hand is drift" 3
expect_out "... named in the report" 'order_line_pkey'
tap_done
