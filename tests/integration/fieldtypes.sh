#!/bin/bash
# fieldtypes.sh - every field type and option of the model language, migrated
# onto a real PostgreSQL and checked there: column types, nullability,
# defaults computed by the database, unique and check constraints, choices,
# every on_delete action, one-to-one, many-to-many join tables, composite
# unique and index, custom table names; then values over HTTP (`prodata serve`)
# as DRF reads them: reals in a json field, NaN and infinities, the forms of a
# uuid, fractions of a second past microseconds, in a body and in a filter.
source tests/lib/pg.sh
source tests/lib/tap.sh
tap_plan 63
source tests/lib/serve.sh
tap_workdir
cd "$TAP_WORKDIR"
tap_fresh_db fieldtypes_test
DB=fieldtypes_test

cat >models.pdm <<'PDM'
model Tag {
  label  slug  unique
}

model Publisher {
  name  string(100)  unique
  table "publishing_house"
}

model Item {
  code      uuid          primary_key  default=uuid
  title     string(120)
  body      text          null
  contact   email         null
  homepage  url           null
  handle    slug
  small     smallint      default=1
  medium    int           default=-5  check(>= -10)  check(< 100)
  large     bigint        null
  flag      bool          default=false
  ratio     float         null
  price     decimal(10,3) default=1.5
  day       date          default=now
  at_time   time          null
  stamp     timestamptz   default=now
  wait      duration      null
  token     uuid          default=uuid  unique
  data      json          null
  blob      binary        null
  status    string(10)    choices(new "New", done "Done")  default="new"
  publisher Publisher     null  on_delete=set_null
  editor    Publisher     null  on_delete=restrict  related=edited_items
  tags      Tag[]
  unique(title, publisher)
  index(day, flag)
}

model Profile {
  item  Item  one_to_one  on_delete=protect
  label string(20)  default="none"
  ordering label
}
PDM

run_cmd "$PRODATA" makemigrations
expect_rc "makemigrations for every type" 0
run_cmd "$PRODATA" migrate
expect_rc "migrate for every type" 0

coltype() { sql $DB "SELECT format_type(atttypid, atttypmod) || CASE WHEN attnotnull THEN ' not null' ELSE '' END FROM pg_attribute WHERE attrelid = '$1'::regclass AND attname = '$2'"; }
coldefault() { sql $DB "SELECT pg_get_expr(adbin, adrelid) FROM pg_attrdef d JOIN pg_attribute a ON a.attrelid = d.adrelid AND a.attnum = d.adnum WHERE d.adrelid = '$1'::regclass AND a.attname = '$2'"; }

expect_eq "uuid primary key"            "$(coltype item code)"      "uuid not null"
expect_eq "uuid default generated"      "$(coldefault item code)"   "gen_random_uuid()"
expect_eq "string(n)"                   "$(coltype item title)"     "character varying(120) not null"
expect_eq "text null"                   "$(coltype item body)"      "text"
expect_eq "email is varchar(254)"       "$(coltype item contact)"   "character varying(254)"
expect_eq "url is varchar(200)"         "$(coltype item homepage)"  "character varying(200)"
expect_eq "slug is varchar(50)"         "$(coltype item handle)"    "character varying(50) not null"
expect_eq "smallint"                    "$(coltype item small)"     "smallint not null"
expect_eq "int"                         "$(coltype item medium)"    "integer not null"
expect_eq "negative default"            "$(coldefault item medium)" "'-5'::integer"
expect_eq "bigint null"                 "$(coltype item large)"     "bigint"
expect_eq "bool"                        "$(coltype item flag)"      "boolean not null"
expect_eq "float"                       "$(coltype item ratio)"     "double precision"
expect_eq "decimal(p,s)"                "$(coltype item price)"     "numeric(10,3) not null"
expect_eq "date"                        "$(coltype item day)"       "date not null"
expect_eq "date default now is CURRENT_DATE" "$(coldefault item day)" "CURRENT_DATE"
expect_eq "time"                        "$(coltype item at_time)"   "time without time zone"
expect_eq "timestamptz"                 "$(coltype item stamp)"     "timestamp with time zone not null"
expect_eq "timestamptz default now"     "$(coldefault item stamp)"  "now()"
expect_eq "duration is interval"        "$(coltype item wait)"      "interval"
expect_eq "json is jsonb"               "$(coltype item data)"      "jsonb"
expect_eq "binary is bytea"             "$(coltype item blob)"      "bytea"
expect_eq "foreign key column to a custom table" "$(coltype item publisher_id)" "bigint"
expect_eq "implicit id is bigint identity" "$(sql $DB "SELECT format_type(atttypid, atttypmod) || ' ' || attidentity::text FROM pg_attribute WHERE attrelid = 'tag'::regclass AND attname = 'id'")" "bigint d"
expect_eq "custom table name" "$(sql $DB "SELECT to_regclass('publishing_house') IS NOT NULL")" t
expect_eq "one-to-one column takes the target's key type" "$(coltype profile item_id)" "uuid not null"
expect_eq "many-to-many join table" "$(sql $DB "SELECT string_agg(attname || ':' || format_type(atttypid, atttypmod), ',' ORDER BY attnum) FROM pg_attribute WHERE attrelid = 'item_tags'::regclass AND attnum > 0")" "id:bigint,item_id:uuid,tag_id:bigint"
expect_eq "slug indexed by default" "$(sql $DB "SELECT count(*) FROM pg_indexes WHERE tablename = 'item' AND indexdef LIKE '%(handle)%'")" 1
expect_eq "composite index" "$(sql $DB "SELECT count(*) FROM pg_indexes WHERE tablename = 'item' AND indexdef LIKE '%(day, flag)%'")" 1
expect_eq "foreign key column indexed" "$(sql $DB "SELECT count(*) FROM pg_indexes WHERE tablename = 'item' AND indexdef LIKE '%(publisher_id)%'")" 1

# --- behaviour in the database ---------------------------------------------------
sql $DB "INSERT INTO publishing_house (name) VALUES ('P1'), ('P2')" >/dev/null
sql $DB "INSERT INTO tag (label) VALUES ('sci-fi')" >/dev/null
sql $DB "INSERT INTO item (title, handle, publisher_id, editor_id) VALUES ('Dune', 'dune', 1, 2)" >/dev/null
expect_eq "defaults filled by the database" "$(sql $DB "SELECT small || ' ' || medium || ' ' || flag || ' ' || price || ' ' || status || ' ' || (day = CURRENT_DATE) || ' ' || (token IS NOT NULL) FROM item")" "1 -5 false 1.500 new true true"
run_cmd sql_verbose $DB "INSERT INTO item (title, handle, medium) VALUES ('a', 'a', 200)"
expect_out "check(< 100) enforced (SQLSTATE and constraint)" '^ERROR:  23514: .*violates check constraint "item_medium_check1"'
run_cmd sql_verbose $DB "INSERT INTO item (title, handle, medium) VALUES ('a', 'a', -11)"
expect_out "check(>= -10) enforced (SQLSTATE and constraint)" '^ERROR:  23514: .*violates check constraint "item_medium_check"$'
run_cmd sql_verbose $DB "INSERT INTO item (title, handle, status) VALUES ('a', 'a', 'lost')"
expect_out "choices enforced (SQLSTATE and constraint)" '^ERROR:  23514: .*violates check constraint "item_status_choices"'
run_cmd sql_verbose $DB "INSERT INTO item (title, handle, publisher_id) VALUES ('Dune', 'b', 1)"
expect_out "composite unique(title, publisher) enforced (SQLSTATE and constraint)" '^ERROR:  23505: .*violates unique constraint "item_title_publisher_id_uniq"'
run_cmd sql_verbose $DB "INSERT INTO tag (label) VALUES ('sci-fi')"
expect_out "unique enforced (SQLSTATE and constraint)" '^ERROR:  23505: .*violates unique constraint "tag_label_key"'
sql $DB "INSERT INTO item_tags (item_id, tag_id) SELECT code, 1 FROM item" >/dev/null
run_cmd sql_verbose $DB "INSERT INTO item_tags (item_id, tag_id) SELECT code, 1 FROM item"
expect_out "many-to-many pair unique (SQLSTATE and constraint)" '^ERROR:  23505: .*violates unique constraint "item_tags_item_id_tag_id_key"'
run_cmd sql_verbose $DB "DELETE FROM publishing_house WHERE id = 2"
expect_out "on_delete=restrict refuses (SQLSTATE and constraint)" '^ERROR:  23503: .*violates foreign key constraint "item_editor_id_fkey"'
sql $DB "DELETE FROM publishing_house WHERE id = 1" >/dev/null
expect_eq "on_delete=set_null nulls the key" "$(sql $DB "SELECT publisher_id IS NULL FROM item")" t
sql $DB "INSERT INTO profile (item_id) SELECT code FROM item" >/dev/null
run_cmd sql_verbose $DB "INSERT INTO profile (item_id) SELECT code FROM item"
expect_out "one_to_one is unique (SQLSTATE and constraint)" '^ERROR:  23505: .*violates unique constraint "profile_item_id_key"'
run_cmd sql_verbose $DB "DELETE FROM item"
expect_out "on_delete=protect refuses (SQLSTATE and constraint)" '^ERROR:  23503: .*violates foreign key constraint "profile_item_id_fkey"'
sql $DB "DELETE FROM profile" >/dev/null
sql $DB "DELETE FROM item" >/dev/null
expect_eq "deleting an item cascades to its join rows" "$(sql $DB "SELECT count(*) FROM item_tags")" 0

# --- values over HTTP, as DRF reads them ------------------------------------------
serve_start --anonymous-role postgres || exit 1
JSON='Content-Type: application/json'
# jq would rewrite the numbers: the answer's own text is compared
member() { grep -o "\"$1\":[[{][^]}]*[]}]" <<<"$HTTP_BODY"; }
http POST /api/items/ -H "$JSON" -d '{"title": "Reals", "handle": "reals"}'
CODE=$(jq -r .code <<<"$HTTP_BODY")
http PATCH "/api/items/$CODE/" -H "$JSON" -d '{"data": {"a": 0.1, "c": 3.14159, "d": 1e-7}}'
http GET "/api/items/$CODE/"
expect_eq "a json field keeps a real's shortest digits (Python's repr), not 17" "$(member data)" \
    '"data":{"a": 0.1, "c": 3.14159, "d": 0.0000001}'
http POST /api/items/ -H "$JSON" -d '[{"title": "Bulk", "handle": "bulk", "data": [0.1, 3.14159]}]'
expect_eq "... in a bulk create" "$HTTP_STATUS $(member data)" '201 "data":[0.1, 3.14159]'
http POST "/api/items/?on_conflict=code" -H "$JSON" \
    -d "{\"code\": \"$CODE\", \"title\": \"Reals\", \"handle\": \"reals\", \"data\": {\"u\": 0.1}}"
expect_eq "... in an upsert" "$HTTP_STATUS $(member data)" '200 "data":{"u": 0.1}'

http PATCH "/api/items/$CODE/" -H "$JSON" -d '{"ratio": "nan"}'
expect_eq "a float refuses NaN (DRF's FloatField)" "$HTTP_STATUS $HTTP_BODY" \
    '400 {"ratio":["A valid number is required."]}'
http PATCH "/api/items/$CODE/" -H "$JSON" -d '{"ratio": "-Infinity"}'
expect_eq "... and the infinities" "$HTTP_STATUS $HTTP_BODY" '400 {"ratio":["A valid number is required."]}'
http PATCH "/api/items/$CODE/" -H "$JSON" -d '{"price": "inf"}'
expect_eq "a decimal refuses them as well (DRF's DecimalField)" "$HTTP_STATUS $HTTP_BODY" \
    '400 {"price":["A valid number is required."]}'

http PATCH "/api/items/$CODE/" -H "$JSON" -d '{"token": "22222222222222222222222222222222"}'
expect_eq "a uuid of 32 hex digits is taken (Python's uuid.UUID), stored hyphenated" \
    "$HTTP_STATUS $(jq -r .token <<<"$HTTP_BODY") $(sql $DB "SELECT token FROM item WHERE code = '$CODE'")" \
    "200 22222222-2222-2222-2222-222222222222 22222222-2222-2222-2222-222222222222"
http PATCH "/api/items/$CODE/" -H "$JSON" -d '{"token": "urn:uuid:{3333AAAA-3333-3333-3333-333333333333}"}'
expect_eq "... in upper case, in braces, after urn:uuid:" "$HTTP_STATUS $(jq -r .token <<<"$HTTP_BODY")" \
    "200 3333aaaa-3333-3333-3333-333333333333"
HEX=$(tr -d - <<<"$CODE" | tr a-f A-F)
http GET "/api/items/$HEX/"
expect_eq "a path key in hex digits names the object" "$HTTP_STATUS $(jq -r .code <<<"$HTTP_BODY")" "200 $CODE"
http PATCH "/api/items/$HEX/" -H "$JSON" -d '{"title": "Reals 2"}'
expect_eq "... and changes it" "$HTTP_STATUS $(jq -r .title <<<"$HTTP_BODY")" "200 Reals 2"
http POST /api/profiles/ -H "$JSON" -d "{\"item\": \"{$HEX}\"}"
expect_eq "a relation to a uuid key takes the same forms" "$HTTP_STATUS $(jq -r .item <<<"$HTTP_BODY")" "201 $CODE"

http PATCH "/api/items/$CODE/" -H "$JSON" -d '{"stamp": "2024-05-06T13:45:00.123456789Z", "at_time": "13:45:00.999999999"}'
expect_eq "fractions past microseconds are cut, not rounded (Django's parse_datetime, parse_time)" \
    "$HTTP_STATUS $(jq -c '[.stamp, .at_time]' <<<"$HTTP_BODY")" '200 ["2024-05-06T13:45:00.123456Z","13:45:00.999999"]'

# filters read a uuid and a time as a body does (django-filter's form fields)
codes() { jq -c '[(.results // .)[] | (.code // .item)]' <<<"$HTTP_BODY"; }
http GET "/api/items/?token=3333AAAA333333333333333333333333"
expect_eq "a uuid filter takes the forms a body takes (32 hex digits, upper case)" "$HTTP_STATUS $(codes)" \
    "200 [\"$CODE\"]"
http GET "/api/profiles/?item=urn:uuid:$HEX"
expect_eq "... a relation's filter too" "$HTTP_STATUS $(codes)" "200 [\"$CODE\"]"
http GET "/api/items/?at_time=13:45:00.999999999"
expect_eq "a time filter's fraction past microseconds is cut as a body's (not rounded to 13:45:01)" \
    "$HTTP_STATUS $(codes)" "200 [\"$CODE\"]"
http GET "/api/items/?stamp__gte=2024-05-06T13:45:00.123456789Z&stamp__lte=2024-05-06T13:45:00.1234569Z"
expect_eq "... and a time stamp's" "$HTTP_STATUS $(codes)" "200 [\"$CODE\"]"
serve_stop

run_cmd "$PRODATA" check
expect_rc "check agrees for every type" 0
run_cmd "$PRODATA" migrate --to 0
expect_rc "the whole schema reverts" 0
expect_eq "no model tables left" "$(sql $DB "SELECT count(*) FROM pg_tables WHERE schemaname = 'public' AND tablename NOT LIKE 'prodata%'")" 0

tap_done
