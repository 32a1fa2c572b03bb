#!/bin/bash
# serve_through.sh - a many-to-many field through a model of its own (Django's ManyToManyField(through=...))
# over real HTTP: the field reads as a list of the target's keys taken from the through model's table and
# is read-only (DRF: written through the through model's own resource), in OPTIONS and OpenAPI too; a
# value given for it is ignored; the through model is a resource like any other, with its own fields;
# filters across the field go through its table; no join table is made for it.
source tests/lib/pg.sh
source tests/lib/tap.sh
tap_plan 14
source tests/lib/serve.sh

tap_fresh_db serve_through
tap_workdir
cat >"$TAP_WORKDIR/models.pdm" <<'PDM'
model Person {
  name  string(50)
}

model Club {
  name     string(50)
  members  Person[]  through=Membership  related=clubs
}

model Membership {
  person  Person  related=memberships
  club    Club    related=memberships
  joined  date
  role    string(20)  default="member"
  unique(person, club)
}
PDM
MODELS="$TAP_WORKDIR/models.pdm"
MIGRATIONS="$TAP_WORKDIR/migrations"
run_cmd "$PRODATA" makemigrations --models "$MODELS" --migrations "$MIGRATIONS"
expect_rc "makemigrations writes the models" 0
run_cmd "$PRODATA" migrate --models "$MODELS" --migrations "$MIGRATIONS"
expect_rc "migrate applies them" 0
expect_eq "no join table for the field: three tables" \
    "$(psql -X -At -c "SELECT string_agg(tablename, ' ' ORDER BY tablename) FROM pg_tables WHERE schemaname = 'public' AND tablename NOT LIKE 'prodata%'")" \
    "club membership person"

serve_start --models "$MODELS" --anonymous-role postgres || exit 1
http POST /api/persons/ -H 'Content-Type: application/json' -d '{"name": "Ann"}'
http POST /api/persons/ -H 'Content-Type: application/json' -d '{"name": "Bob"}'
http POST /api/clubs/ -H 'Content-Type: application/json' -d '{"name": "chess", "members": [1, 2]}'
expect_status "POST a club: 201" 201
expect_json "... the members given are ignored (read-only, as DRF)" '.members' '[]'

http POST /api/memberships/ -H 'Content-Type: application/json' \
    -d '{"person": 1, "club": 1, "joined": "2024-01-02", "role": "captain"}'
expect_status "the through model is a resource: POST 201" 201
http POST /api/memberships/ -H 'Content-Type: application/json' -d '{"person": 2, "club": 1, "joined": "2024-03-04"}'
expect_json "... with its own fields and defaults" '[.joined, .role]' '["2024-03-04","member"]'

http GET /api/clubs/1/
expect_json "the club lists its members from the through model's table" '.members | sort' '[1,2]'
http GET '/api/clubs/?members__name=Bob'
expect_json "a filter across the field goes through it" '[.count, .results[0].name]' '[1,"chess"]'
http GET '/api/clubs/?members__name=Eve'
expect_json "... and finds nothing for a stranger" '.count' '0'

http PATCH /api/clubs/1/ -H 'Content-Type: application/json' -d '{"members": []}'
expect_json "PATCH members: ignored, the links stay" '.members | length' '2'

http OPTIONS /api/clubs/
expect_json "OPTIONS: members is read-only, not required" '.actions.POST.members | [.read_only, .required]' '[true,false]'
http GET /openapi.json
expect_json "OpenAPI: readOnly in the request schema" \
    '.components.schemas["Club.Request"].properties.members.readOnly' 'true'

http DELETE /api/memberships/2/
http GET /api/clubs/1/
expect_json "a membership deleted through its resource leaves the club's list" '.members' '[1]'
serve_stop
tap_done
