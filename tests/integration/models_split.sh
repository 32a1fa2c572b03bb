#!/bin/bash
# models_split.sh - a project split over several model files, one per app (as Django's apps): the models
# setting names a folder and every command reads its *.pdm files as one, in name order (makemigrations,
# migrate, showmigrations, check, openapi, serve); relations and abstract bases across files; a model
# defined in two files is refused with both places; a folder without model files is refused.
source tests/lib/pg.sh
source tests/lib/tap.sh
tap_plan 15
source tests/lib/serve.sh

tap_fresh_db models_split
tap_workdir
cd "$TAP_WORKDIR" || exit 1
mkdir -p apps
cat >apps/blog.pdm <<'PDM'
# blog: posts by the shop's authors
model Post extends Timestamped {
  title   string(100)
  author  Author  related=posts
}
PDM
cat >apps/shop.pdm <<'PDM'
# shop: authors, and the base every app uses
abstract model Timestamped {
  created  timestamptz  auto_now_add
}

model Author extends Timestamped {
  name  string(50)
}
PDM

run_cmd "$PRODATA" makemigrations --models apps
expect_rc "makemigrations reads the folder" 0
expect_eq "... and the file says where the models come from" "$(grep -c '^-- from apps;' migrations/0001_*.sql)" "1"
expect_eq "... both files' models in one migration" \
    "$(grep -c '^CREATE TABLE' migrations/0001_*.sql)" "2"
run_cmd "$PRODATA" migrate --models apps
expect_rc "migrate applies it" 0
run_cmd "$PRODATA" showmigrations --models apps
expect_out "showmigrations lists it as applied" '\[X\] 0001_initial'
run_cmd "$PRODATA" check --models apps
expect_rc "check agrees" 0

export PRODATA_MODELS=apps # the setting, as prodata.conf or the environment gives it
run_cmd "$PRODATA" openapi
expect_rc "openapi reads the folder" 0
expect_eq "... both apps' resources, the inherited field included" \
    "$(jq -c '[(.paths | has("/api/posts/")), (.paths | has("/api/authors/")), (.components.schemas.Post.properties | has("created"))]' <<<"$OUT")" \
    "[true,true,true]"

serve_start --anonymous-role postgres || exit 1
http POST /api/authors/ -H 'Content-Type: application/json' -d '{"name": "Ann"}'
expect_status "serve: POST to a model of shop.pdm" 201
http POST /api/posts/ -H 'Content-Type: application/json' -d '{"title": "Hello", "author": 1}'
expect_status "serve: POST to a model of blog.pdm relating to it" 201
http GET '/api/posts/?author__name=Ann'
expect_json "serve: a filter across the files' relation" '[.results[0].title, (.results[0].created != null)]' '["Hello",true]'
serve_stop

# a model moved from one file to another is no change
cat >apps/blog.pdm <<'PDM'
model Author extends Timestamped {
  name  string(50)
}

model Post extends Timestamped {
  title   string(100)
  author  Author  related=posts
}
PDM
sed -i '/^model Author/,/^}/d' apps/shop.pdm
run_cmd "$PRODATA" makemigrations --check
expect_out "a model moved between files: no change" 'No changes detected in apps'

cat >apps/tags.pdm <<'PDM'
model Author {
  name  string(50)
}
PDM
run_cmd "$PRODATA" makemigrations --check
expect_rc "a model defined in two files: exit 2" 2
expect_out "... naming both places" 'apps/tags.pdm:1:7: model Author defined in apps/blog.pdm:1:7 and apps/tags.pdm:1:7, expected each model once across the model files'
rm apps/tags.pdm

mkdir -p empty
run_cmd "$PRODATA" makemigrations --check --models empty
expect_out "a folder without model files is refused" 'model folder "empty" holds no model file, expected files named \*.pdm'

tap_done
