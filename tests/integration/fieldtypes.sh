#!/bin/bash
# fieldtypes.sh - every field type and option of the model language, migrated
# onto a real PostgreSQL and checked there: column types, nullability,
# defaults computed by the database, unique and check constraints, choices,
# every on_delete action, one-to-one, many-to-many join tables, composite
# unique and index, custom table names.
source tests/lib/tap.sh
tap_plan 47
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

run_cmd "$PRODATA" check
expect_rc "check agrees for every type" 0
run_cmd "$PRODATA" migrate --to 0
expect_rc "the whole schema reverts" 0
expect_eq "no model tables left" "$(sql $DB "SELECT count(*) FROM pg_tables WHERE schemaname = 'public' AND tablename NOT LIKE 'prodata%'")" 0

tap_done
