#!/bin/bash
# serve_types.sh - array fields (int[], string(n)[], decimal(p,s)[], date[],
# timestamptz[]) and inet / cidr fields over real HTTP: a create, a read and
# an update with JSON arrays and addresses; each array element written in its
# kind's JSON encoding (a decimal as "1.50"); a bad element refused with DRF
# ListField's shape {"scores": {"1": [...]}}; a bad address refused; the array
# lookups (exact, contains, contained_by, overlap, len) and inet's exact and
# in; OPTIONS and OpenAPI; check sees a hand change to an array column.
source tests/lib/pg.sh
source tests/lib/tap.sh
tap_plan 36
source tests/lib/serve.sh

tap_fresh_db serve_types
tap_workdir
cat >"$TAP_WORKDIR/models.pdm" <<'PDM'
model Host {
  name    string(40)
  scores  int[]  default=[]
  labels  string(30)[]  null  index
  prices  decimal(6,2)[]  default=[1.5]
  days    date[]  null
  seen    timestamptz[]  null
  addr    inet  null
  net     cidr  default="10.0.0.0/8"
}
PDM
MODELS="$TAP_WORKDIR/models.pdm"
MIGRATIONS="$TAP_WORKDIR/migrations"
run_cmd "$PRODATA" makemigrations --models "$MODELS" --migrations "$MIGRATIONS"
expect_rc "makemigrations writes the model" 0
run_cmd "$PRODATA" migrate --models "$MODELS" --migrations "$MIGRATIONS"
expect_rc "migrate applies it" 0

serve_start --models "$MODELS" --anonymous-role postgres || exit 1
J='Content-Type: application/json'

http POST /api/hosts/ -H "$J" -d '{"name": "alpha", "scores": [3, 1, 2], "labels": ["a", "b c", "d\"e"],
    "prices": ["1.5", 2], "days": ["2024-02-29"], "seen": ["2024-01-02T08:00:00Z"],
    "addr": "192.168.1.5/24", "net": "2001:db8::/32"}'
expect_status "a create with arrays and addresses answers 201" 201
expect_json "arrays come back as JSON arrays, each element in its kind's encoding" \
    '[.scores, .labels, .prices, .days, .seen, .addr, .net]' \
    '[[3,1,2],["a","b c","d\"e"],["1.50","2.00"],["2024-02-29"],["2024-01-02T08:00:00Z"],"192.168.1.5/24","2001:db8::/32"]'
http POST /api/hosts/ -H "$J" -d '{"name": "beta"}'
expect_status "a create with the defaults answers 201" 201
expect_json "defaults: an empty array, [\"1.50\"], null, the cidr default" \
    '[.scores, .prices, .labels, .addr, .net]' '[[],["1.50"],null,null,"10.0.0.0/8"]'
expect_eq "the rows as PostgreSQL holds them" \
    "$(psql -X -At -c "SELECT scores::text || '|' || labels::text || '|' || prices::text FROM host ORDER BY id LIMIT 1")" \
    '{3,1,2}|{a,"b c","d\"e"}|{1.50,2.00}'

http PATCH /api/hosts/2/ -H "$J" -d '{"scores": [7], "labels": ["x", "a"], "addr": "::1"}'
expect_status "a PATCH of arrays answers 200" 200
expect_json "... and shows them" '[.scores, .labels, .addr]' '[[7],["x","a"],"::1"]'
http GET /api/hosts/1/
expect_json "a read gives the same arrays" '[.scores, .prices]' '[[3,1,2],["1.50","2.00"]]'

http POST /api/hosts/ -H "$J" -d '{"name": "bad", "scores": [1, "two", 3, "x"]}'
expect_status "a bad element answers 400" 400
expect_json "... in DRF ListField's shape: the index of each bad element" '.' \
    '{"scores":{"1":["A valid integer is required."],"3":["A valid integer is required."]}}'
http POST /api/hosts/ -H "$J" -d '{"name": "bad", "scores": 5}'
expect_json "a scalar for an array: DRF's not_a_list" '.' '{"scores":["Expected a list of items but got type \"int\"."]}'
http POST /api/hosts/ -H "$J" -d '{"name": "bad", "labels": ["0123456789012345678901234567890"], "days": ["2024-13-01"]}'
expect_json "a too long string and a bad date, each under its index" '.' \
    '{"labels":{"0":["Ensure this field has no more than 30 characters."]},"days":{"0":["Date has wrong format. Use one of these formats instead: YYYY-MM-DD."]}}'
http POST /api/hosts/ -H "$J" -d '{"name": "bad", "scores": [null]}'
expect_json "a null element" '.' '{"scores":{"0":["This field may not be null."]}}'
http POST /api/hosts/ -H "$J" -d '{"name": "bad", "addr": "300.1.1.1", "net": "192.168.1.5/24"}'
expect_status "a bad address answers 400" 400
expect_json "... with a message for each address" '[.addr[0], .net[0]]' \
    '["Enter a valid IPv4 or IPv6 address.","Enter a valid IPv4 or IPv6 network, such as 10.0.0.0/8, with no bits set right of the prefix."]'
expect_eq "nothing bad was written" "$(psql -X -At -c "SELECT count(*) FROM host")" "2"

ids() { jq -c "[.results // . | .[] | .name]" <<<"$HTTP_BODY"; }
http GET '/api/hosts/?labels__contains=a,b%20c'
expect_eq "labels__contains: @>" "$(ids)" '["alpha"]'
http GET '/api/hosts/?labels__contains=a'
expect_eq "labels__contains one element" "$(ids)" '["alpha","beta"]'
http GET '/api/hosts/?scores__contained_by=1,2,3,4'
expect_eq "scores__contained_by: <@" "$(ids)" '["alpha"]'
http GET '/api/hosts/?scores__overlap=7,9'
expect_eq "scores__overlap: &&" "$(ids)" '["beta"]'
http GET '/api/hosts/?scores__len=3'
expect_eq "scores__len" "$(ids)" '["alpha"]'
http GET '/api/hosts/?scores__len__lt=2'
expect_eq "scores__len__lt" "$(ids)" '["beta"]'
http GET '/api/hosts/?scores=3,1,2'
expect_eq "scores exact: the whole array, in order" "$(ids)" '["alpha"]'
http GET '/api/hosts/?scores__contains=x'
expect_status "a bad element in a filter answers 400" 400
http GET '/api/hosts/?addr=::1'
expect_eq "addr exact" "$(ids)" '["beta"]'
http GET '/api/hosts/?net__in=10.0.0.0/8,2001:db8::/32'
expect_eq "net__in" "$(ids)" '["alpha","beta"]'

http GET '/api/hosts/?ordering=-scores'
expect_eq "ordering by an array field: PostgreSQL's array order" "$(ids)" '["beta","alpha"]'
http GET '/api/hosts/?ordering=scores&pagination=cursor&page_size=1'
expect_eq "a cursor page ordered by an array field" "$(ids)" '["alpha"]'
http GET "$(jq -r .next <<<"$HTTP_BODY" | sed 's|^https\?://[^/]*||')"
expect_eq "... and its next page" "$(ids)" '["beta"]'

http OPTIONS /api/hosts/
expect_json "OPTIONS: an array field is a list of its element kind, as DRF's ListField" \
    '.actions.POST.scores | [.type, .child.type]' '["list","integer"]'
http GET /openapi.json
expect_json "OpenAPI: type array, items of the element schema; inet a string" \
    '.components.schemas.Host.properties | [.scores.type, .scores.items.type, .prices.items.type, .addr.type[0]]' \
    '["array","integer","string","string"]'

expect_json "OpenAPI: the array filters, each a comma list of elements" \
    '[.paths[] | .get? // empty | .parameters[]? | select(.name == "scores__contains" or .name == "scores__len__gt") | .schema | (.items.type // .type)]' \
    '["integer","integer"]'

run_cmd "$PRODATA" check --models "$MODELS" --migrations "$MIGRATIONS"
expect_rc "check: no drift" 0
psql -qX -c 'ALTER TABLE host ALTER COLUMN scores TYPE bigint[]' >/dev/null
run_cmd "$PRODATA" check --models "$MODELS" --migrations "$MIGRATIONS"
expect_rc "check: an array's element type changed by hand is drift" 3
tap_done
