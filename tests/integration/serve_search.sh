#!/bin/bash
# serve_search.sh - citext and the search indexes over real HTTP: a citext field reads and
# writes as a string, its unique constraint is case-insensitive (DRF's 400 unique message),
# its exact filter matches any case; ?title__icontains= on a search=trigram field and
# ?search= on search=fulltext fields are served by their GIN indexes (pg_stat_user_indexes
# counts the scans the server's own queries made, with seq scans turned off for the small
# table; an idle backend reports its counts within PostgreSQL's 10 s idle interval; EXPLAIN of the same shapes names the indexes); ?search= mixes full-text fields (the
# whole text, websearch syntax) with plain ones (DRF's terms), keeps the model's ordering,
# and a bad search text is never a 500. check and migrate --fake-initial work with the
# extensions in the scratch schema.
source tests/lib/pg.sh
source tests/lib/tap.sh
tap_plan 34
source tests/lib/serve.sh

tap_fresh_db serve_search
tap_workdir
cat >"$TAP_WORKDIR/models.pdm" <<'PDM'
model Member {
  email  citext  unique
  name   string(100)  search
}

model Article {
  title  string(200)  search=trigram
  body   text  search=fulltext(english)
  tag    string(40)  null  search=fulltext
  ordering  title
}
PDM
MODELS="$TAP_WORKDIR/models.pdm"
MIGRATIONS="$TAP_WORKDIR/migrations"
run_cmd "$PRODATA" makemigrations --models "$MODELS" --migrations "$MIGRATIONS"
expect_rc "makemigrations writes the models" 0
expect_eq "the migration makes both extensions first" \
    "$(grep -c '^CREATE EXTENSION IF NOT EXISTS' "$MIGRATIONS"/0001_initial.sql)" "2"
run_cmd "$PRODATA" migrate --models "$MODELS" --migrations "$MIGRATIONS"
expect_rc "migrate applies it" 0
run_cmd "$PRODATA" check --models "$MODELS" --migrations "$MIGRATIONS"
expect_rc "check: the extensions and indexes are as the migrations made them" 0

psql -qX -c "INSERT INTO article (title, body, tag)
  SELECT 'filler ' || g, 'nothing to see ' || g, NULL FROM generate_series(1, 2000) g;
  INSERT INTO article (title, body, tag) VALUES
    ('Gardening with bees', 'The gardens of the north, and their bees', 'nature'),
    ('Baking bread', 'Flour, water and a hot oven', 'kitchen'),
    ('Zen of gardens', 'Raked gravel and stones', NULL);
  ANALYZE article" >/dev/null
psql -qX -c "ALTER DATABASE serve_search SET enable_seqscan = off" >/dev/null

serve_start --models "$MODELS" --anonymous-role postgres || exit 1

# --- citext over REST --------------------------------------------------------------
http POST /api/members/ -H 'Content-Type: application/json' -d '{"email": "ann@x.org", "name": "Ann"}'
expect_status "a citext value is written as a string: 201" 201
expect_json "... and read back as written" '.email' '"ann@x.org"'
http POST /api/members/ -H 'Content-Type: application/json' -d '{"email": "Ann@X.org", "name": "Other"}'
expect_status "unique on citext ignores case: 400" 400
expect_json "... with DRF's unique message on the field" '.email' '["member with this email already exists."]'
http GET '/api/members/?email=ANN@x.ORG'
expect_json "the exact filter on citext matches any case" '[.count, .results[0].name]' '[1,"Ann"]'
http POST /api/members/ -H 'Content-Type: application/json' -d '{"email": true, "name": "N"}'
expect_status "a boolean for a citext field is a 400, as for a string field" 400
http OPTIONS /api/members/
expect_json "OPTIONS: a citext field is a string" '.actions.POST.email.type' '"string"'
http GET /openapi.json
expect_json "OpenAPI: a citext field is a string" '.components.schemas.Member.properties.email.type' '"string"'
expect_json "OpenAPI: ?search= says which fields take the whole text as a web search" \
    '[.paths["/api/articles/"].get.parameters[] | select(.name == "search") | .description | test("full-text fields body, tag; or, for the other fields: Words .* one of title")]' \
    '[true]'

# --- the trigram index serves icontains --------------------------------------------
idx_scans() { psql -X -At -c "SELECT idx_scan FROM pg_stat_user_indexes WHERE indexrelname = '$1'"; }
trgm_before=$(idx_scans article_title_trgm)
http GET '/api/articles/?title__icontains=GARDEN'
expect_json "icontains on a trigram field finds the rows" '[.results[].title]' '["Gardening with bees","Zen of gardens"]'
poll_sql serve_search "SELECT idx_scan > $trgm_before FROM pg_stat_user_indexes WHERE indexrelname = 'article_title_trgm'" t 30 \
    && tap_ok "the server's icontains query scanned article_title_trgm"
expect_eq "EXPLAIN of that shape uses the trigram index" \
    "$(psql -X -At -c "SET enable_seqscan = off; EXPLAIN SELECT 1 FROM article a WHERE a.title::text ILIKE '%garden%'" | grep -c 'article_title_trgm')" "1"

# --- the full-text index serves ?search= -------------------------------------------
fts_before=$(idx_scans article_body_fts)
http GET '/api/articles/?search=garden'
expect_json "?search= over a fulltext(english) field matches the stem, in the model's ordering" \
    '[.results[].title]' '["Gardening with bees","Zen of gardens"]'
poll_sql serve_search "SELECT idx_scan > $fts_before FROM pg_stat_user_indexes WHERE indexrelname = 'article_body_fts'" t 30 \
    && tap_ok "the server's ?search= query scanned article_body_fts"
expect_eq "EXPLAIN of that shape uses the full-text index" \
    "$(psql -X -At -c "SET enable_seqscan = off; EXPLAIN SELECT 1 FROM article a WHERE to_tsvector('english'::regconfig, COALESCE(a.body::text, ''::text)) @@ websearch_to_tsquery('english'::regconfig, 'garden')" | grep -c 'article_body_fts')" "1"
http GET '/api/articles/?search=%22hot%20oven%22'
expect_json "websearch syntax: a quoted phrase" '[.results[].title]' '["Baking bread"]'
http GET '/api/articles/?search=gardens%20-gravel'
expect_json "websearch syntax: -word excludes" '[.results[].title]' '["Gardening with bees"]'
http GET '/api/articles/?search=kitchen'
expect_json "a fulltext field with the simple configuration (and a null one) takes part" '[.results[].title]' '["Baking bread"]'
http GET '/api/articles/?search=bak'
expect_json "the trigram field takes DRF's terms (icontains) beside the full-text ones" '[.results[].title]' '["Baking bread"]'
http GET '/api/articles/?search=%22%20%26%20!%20(%20:*'
expect_status "a search text of operators only is no error" 200
http GET '/api/members/?search=ANN'
expect_json "plain search on a model with a citext field" '[.results[].name]' '["Ann"]'

# --- drift and adoption ------------------------------------------------------------
psql -qX -c "DROP INDEX article_body_fts" >/dev/null
run_cmd "$PRODATA" check --models "$MODELS" --migrations "$MIGRATIONS"
expect_rc "check: a search index dropped by hand is drift" 3
expect_out "... named in the report" 'article_body_fts'
psql -qX -c "DROP EXTENSION pg_trgm CASCADE" >/dev/null
run_cmd "$PRODATA" check --models "$MODELS" --migrations "$MIGRATIONS"
expect_rc "check: an extension dropped by hand is drift" 3
expect_out "... named, with the index that went with it" '- extension pg_trgm: in .*models.pdm, not in the database'
tap_fresh_db serve_search_adopt
psql -qX -d serve_search_adopt -c "CREATE EXTENSION citext; CREATE EXTENSION pg_trgm" >/dev/null
sed -n '/^-- +up$/,/^-- +down$/p' "$MIGRATIONS"/0001_initial.sql | grep -v '^-- ' |
    psql -qX -v ON_ERROR_STOP=1 -d serve_search_adopt >/dev/null
run_cmd "$PRODATA" migrate --models "$MODELS" --migrations "$MIGRATIONS" --database dbname=serve_search_adopt --fake-initial
expect_rc "migrate --fake-initial adopts tables with citext and search indexes made by hand" 0
run_cmd "$PRODATA" inspectdb --database dbname=serve_search_adopt
expect_rc "inspectdb reads the tables" 0
expect_out "... a citext column as citext" '^  email citext unique'
expect_out "... the trigram index of a field as search=trigram" '^  title string\(200\) search=trigram$'
expect_out "... a full-text index left as a note, not lost silently" 'index article_body_fts: .*not expressed'
tap_done
