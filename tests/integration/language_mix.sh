#!/bin/bash
# language_mix.sh - the model language's newer pieces together in one project, as a user would combine
# them: an abstract base with auto_now timestamps and an index named per table, citext, trigram and
# full-text search, arrays of citext and inet, cidr, generated columns, a many-to-many through a model
# whose primary key is its two foreign keys, the models split over a folder of files. Migrated, reverted
# and migrated again; served over real HTTP (create, read, filter, search, the composite key's detail
# URL, a generated value computed); inspectdb of the result read back into a model file that adopts a
# copy of the database (migrate --fake-initial) with check clean.
source tests/lib/pg.sh
source tests/lib/tap.sh
tap_plan 37
source tests/lib/serve.sh

tap_fresh_db language_mix
tap_workdir
cd "$TAP_WORKDIR" || exit 1
mkdir models
cat >models/0_base.pdm <<'PDM'
abstract model Stamped {
  created  timestamptz  auto_now_add
  updated  timestamptz  auto_now
  index(created)  name="%(class)s_created"
}
PDM
cat >models/people.pdm <<'PDM'
model Person extends Stamped {
  name        citext  unique
  nick        string(30)  search=trigram
  bio         text  default=""  search=fulltext(english)
  tags        citext[]  null
  ips         inet[]  default=[]
  net         cidr  null
  shout       text  generated(upper(nick) || "!")
  ordering    name
}
PDM
cat >models/groups.pdm <<'PDM'
model Group extends Stamped {
  title    string(100)
  members  Person[]  through=Membership
}

model Membership {
  person  Person  related=memberships
  group   Group   related=memberships
  role    string(20)  default="member"
  label   text  generated(role || ": " || lower(role))
  primary_key(person, group)
}
PDM
export PRODATA_MODELS=models PRODATA_MIGRATIONS=migrations
run_cmd "$PRODATA" makemigrations
expect_rc "makemigrations reads the folder of model files" 0
run_cmd "$PRODATA" migrate
expect_rc "migrate applies it" 0
run_cmd "$PRODATA" migrate --to 0
expect_rc "and reverts it" 0
run_cmd "$PRODATA" migrate
expect_rc "and applies it again" 0
run_cmd "$PRODATA" check
expect_rc "check is clean" 0
expect_eq "the index of the abstract base is named per table" \
    "$(sql language_mix "SELECT string_agg(indexname, ',' ORDER BY indexname) FROM pg_indexes WHERE indexname LIKE '%_created'")" \
    "group_created,person_created"

serve_start --anonymous-role postgres || exit 1
http POST /api/persons/ -H 'Content-Type: application/json' \
    -d '{"name": "Ann", "nick": "annie", "bio": "Writes about running databases", "tags": ["SQL", "Go"], "ips": ["10.0.0.1", "::1"], "net": "10.1.0.0/16"}'
expect_status "a person is created" 201
expect_json "... her generated value computed, arrays and addresses as given" \
    '[.shout, .tags, .ips, .net]' '["ANNIE!",["SQL","Go"],["10.0.0.1","::1"],"10.1.0.0/16"]'
http POST /api/persons/ -H 'Content-Type: application/json' -d '{"name": "ANN", "nick": "x"}'
expect_status "a name differing only in case is refused (citext unique)" 400
expect_json "... in DRF's shape" '.name | length' '1'
http POST /api/persons/ -H 'Content-Type: application/json' -d '{"name": "Bob", "nick": "bobby", "ips": ["10.0.0.300"]}'
expect_status "a bad address in an array is a 400" 400
expect_json "... keyed by the element's index" '.ips | keys' '["0"]'
http POST /api/persons/ -H 'Content-Type: application/json' -d '{"name": "Bob", "nick": "bobby", "tags": ["sql"]}'
expect_status "a second person" 201
http GET '/api/persons/?tags__contains=sql'
expect_status "an array filter" 200
expect_json "... compares citext elements without case" '[.results[].name]' '["Ann","Bob"]'
http GET '/api/persons/?search=running%20database'
expect_json "?search= finds the full-text field by its stem" '[.results[].name]' '["Ann"]'
http GET '/api/persons/?nick__icontains=OBB'
expect_json "icontains on the trigram field" '[.results[].name]' '["Bob"]'
http GET '/api/persons/?name=ann'
expect_json "exact on citext ignores case" '[.results[].name]' '["Ann"]'
http GET '/api/persons/?name__startswith=a'
expect_json "startswith on citext ignores case too" '[.results[].name]' '["Ann"]'
http GET '/api/persons/?name__regex=^B'
expect_json "... and regex" '[.results[].name]' '["Bob"]'
http GET '/api/persons/?name__regex=^b'
expect_json "... in either case" '[.results[].name]' '["Bob"]'

http POST /api/groups/ -H 'Content-Type: application/json' -d '{"title": "Runners"}'
expect_status "a group is created" 201
http POST /api/memberships/ -H 'Content-Type: application/json' -d '{"person": 1, "group": 1, "role": "Lead"}'
expect_status "a membership is created by its two keys" 201
expect_eq "... its Location is the composite key's URL" "$(http_header Location | sed 's|^https\?://[^/]*||')" "/api/memberships/1,1/"
expect_json "... its label generated" '.label' '"Lead: lead"'
http GET /api/memberships/1,1/
expect_status "the detail URL of the composite key" 200
http PATCH /api/memberships/1,1/ -H 'Content-Type: application/json' -d '{"role": "Coach", "label": "ignored"}'
expect_json "PATCH recomputes the generated label and ignores a given one" '.label' '"Coach: coach"'
http GET /api/groups/1/
expect_json "the through field lists the members' keys" '.members' '[1]'
http POST /api/groups/ -H 'Content-Type: application/json' -d '{"title": "Walkers", "members": [2]}'
expect_status "a group given members through a model is created" 201
expect_json "... the read-only through field ignored, as DRF does" '.members' '[]'
http GET '/api/groups/?members__name=ANN'
expect_json "a filter across the through model (citext)" '[.results[].title]' '["Runners"]'
http GET /api/memberships/1,x/
expect_status "a malformed composite key is a 404" 404
serve_stop

# inspectdb of it, adopted by a copy without prodata's history.
sql postgres "DROP DATABASE IF EXISTS language_mix_copy" >/dev/null
sql postgres "CREATE DATABASE language_mix_copy TEMPLATE language_mix" >/dev/null
sql language_mix_copy "DROP TABLE prodata_migrations" >/dev/null
mkdir adopt && cd adopt
run_cmd env -u PRODATA_MODELS -u PRODATA_MIGRATIONS "$PRODATA" inspectdb --database dbname=language_mix_copy --output models.pdm
expect_rc "inspectdb reads the database" 0
check "... the composite key, arrays, addresses, citext, the generated value, trigram search and auto_now read back" bash -c \
    "grep -qxF '  primary_key(person, group)' models.pdm && grep -qE '^  tags citext\[\] null' models.pdm &&
     grep -qE '^  ips inet\[\] default=\[\]' models.pdm && grep -qE '^  net cidr null' models.pdm &&
     grep -qE '^  shout text generated\(' models.pdm && grep -qE '^  nick string\(30\) search=trigram' models.pdm &&
     grep -qE '^  updated timestamptz auto_now' models.pdm && grep -qF 'index(created) name=\"person_created\"' models.pdm"
run_cmd env -u PRODATA_MODELS -u PRODATA_MIGRATIONS "$PRODATA" makemigrations
expect_rc "makemigrations reads what inspectdb wrote" 0
run_cmd env -u PRODATA_MODELS -u PRODATA_MIGRATIONS "$PRODATA" migrate --fake-initial --database dbname=language_mix_copy
expect_rc "migrate --fake-initial adopts the copy" 0
run_cmd env -u PRODATA_MODELS -u PRODATA_MIGRATIONS "$PRODATA" check --database dbname=language_mix_copy
expect_rc "check is clean on it" 0
tap_done
