#!/bin/bash
# serve_auth.sh - authentication and permissions of `prodata serve` over real HTTP against a real PostgreSQL:
# bearer tokens from `prodata token` (valid) and made here with openssl (expired, forged, wrong audience, alg
# none); no token (401 + WWW-Authenticate in DRF's shape) and the anonymous role; the model file's access
# directive (write=editor: 401 anonymous, 403 another role; read=authenticated; write=none: 405 + Allow);
# a role without a GRANT (403 from PostgreSQL); row-level security through the token's role and subject (a
# row the subject cannot see is 404), and enabled while the server runs (the list count is then the role's
# count(*), not the row counters' total, without a reload); rate limits per role and per address (429 +
# Retry-After). Refused writes leave the table unchanged.
source tests/lib/pg.sh
source tests/lib/tap.sh
tap_plan 60
source tests/lib/serve.sh

tap_fresh_db serve_auth
tap_workdir
MODELS="$TESTS_ROOT/integration/serve_auth/models.pdm"
"$PRODATA" makemigrations --models "$MODELS" --migrations "$TAP_WORKDIR/migrations" >/dev/null 2>&1
"$PRODATA" migrate --models "$MODELS" --migrations "$TAP_WORKDIR/migrations" >/dev/null 2>&1
psql -qX -v ON_ERROR_STOP=1 >/dev/null <<'SQL'
DO $$ BEGIN
    CREATE ROLE web_anon NOLOGIN; CREATE ROLE editor NOLOGIN; CREATE ROLE viewer NOLOGIN;
EXCEPTION WHEN duplicate_object THEN NULL; END $$;
GRANT USAGE ON SCHEMA public TO web_anon, editor, viewer;
GRANT SELECT ON book, log TO web_anon, editor, viewer;
GRANT INSERT, UPDATE, DELETE ON book TO editor;
GRANT SELECT, INSERT ON note TO editor, viewer;
GRANT USAGE ON ALL SEQUENCES IN SCHEMA public TO editor, viewer;
INSERT INTO book (title) VALUES ('Dune'), ('Emma');
INSERT INTO log (line) VALUES ('started');
INSERT INTO secret (code) VALUES ('s3cr3t');
INSERT INTO note (body, owner) VALUES ('alice''s note', 'alice'), ('bob''s note', 'bob');
ALTER TABLE note ENABLE ROW LEVEL SECURITY;
CREATE POLICY note_owner ON note USING (owner = current_setting('request.jwt.sub', true))
    WITH CHECK (owner = current_setting('request.jwt.sub', true));
SQL
books() { psql -X -At -c "SELECT count(*) || ':' || string_agg(title, ',' ORDER BY id) FROM book"; }

export PRODATA_JWT_SECRET=serve-auth-test-secret-long-enough-for-hs256
export PRODATA_JWT_AUDIENCE=api
token() { "$PRODATA" token "$@"; }
# make_token CLAIMS [SECRET [HEADER]]: a token signed here with openssl (prodata does not make bad ones).
b64url() { base64 -w0 | tr '+/' '-_' | tr -d '='; }
make_token() {
    local header=${3:-'{"alg":"HS256","typ":"JWT"}'} input
    input="$(printf '%s' "$header" | b64url).$(printf '%s' "$1" | b64url)"
    printf '%s.%s' "$input" "$(printf '%s' "$input" | openssl dgst -sha256 -hmac "${2:-$PRODATA_JWT_SECRET}" -binary | b64url)"
}
NOW=$(date +%s)
EDITOR=$(token --role editor --sub alice)
VIEWER=$(token --role viewer --sub bob)
auth() { echo "Authorization: Bearer $1"; }
expect_www_authenticate() {
    expect_eq "$1" "$(http_header WWW-Authenticate)" "$2"
}

serve_start --models "$MODELS" --anonymous-role web_anon || exit 1

# --- identities ---------------------------------------------------------------------------------------
http GET /api/books/
expect_status "no token: the anonymous role reads" 200
expect_json "... every book" '.count' 2
http GET /api/books/ -H "$(auth "$EDITOR")"
expect_status "a valid token (prodata token) reads" 200
http GET /api/books/ -H "$(auth "$(make_token "{\"role\":\"editor\",\"aud\":\"api\",\"exp\":$((NOW - 60))}")")"
expect_status "an expired token is a 401" 401
expect_json "... saying why" '.' '{"detail":"token expired"}'
expect_www_authenticate "... with WWW-Authenticate error=invalid_token" 'Bearer realm="api", error="invalid_token"'
http GET /api/books/ -H "$(auth "$(make_token '{"role":"editor","aud":"api"}' another-secret-that-is-long-enough-for-it)")"
expect_status "a forged token (another secret) is a 401" 401
expect_json "... signature does not verify" '.detail' '"signature does not verify"'
http GET /api/books/ -H "$(auth "$(make_token '{"role":"editor","aud":"other"}')")"
expect_status "a token for another audience is a 401" 401
expect_json "... wrong token audience" '.detail' '"wrong token audience"'
http GET /api/books/ -H "$(auth "$(make_token '{"role":"postgres","aud":"api"}' x '{"alg":"none"}' | sed 's/\.[^.]*$/./')")"
expect_status "alg none is a 401" 401
http GET /api/books/ -H "Authorization: Basic dXNlcjpwYXNz"
expect_status "another scheme is a 401" 401
expect_www_authenticate "... error=invalid_request" 'Bearer realm="api", error="invalid_request"'

# --- the access directive -----------------------------------------------------------------------------
BEFORE=$(books)
http POST /api/books/ -H 'Content-Type: application/json' -d '{"title":"Anon"}'
expect_status "write=editor: anonymous POST is a 401" 401
expect_json "... credentials not provided" '.' '{"detail":"Authentication credentials were not provided."}'
expect_www_authenticate "... WWW-Authenticate without an error" 'Bearer realm="api"'
http POST /api/books/ -H "$(auth "$VIEWER")" -H 'Content-Type: application/json' -d '{"title":"Viewer"}'
expect_status "write=editor: another role's POST is a 403" 403
expect_json "... DRF's words" '.' '{"detail":"You do not have permission to perform this action."}'
expect_eq "refused writes leave book unchanged" "$(books)" "$BEFORE"
http POST /api/books/ -H "$(auth "$EDITOR")" -H 'Content-Type: application/json' -d '{"title":"Ubik"}'
expect_status "write=editor: the editor's POST is a 201" 201
expect_eq "... and the row is there" "$(books)" "3:Dune,Emma,Ubik"
http DELETE /api/books/1/ -H "$(auth "$VIEWER")"
expect_status "DELETE by another role is a 403" 403
expect_eq "... the row stays" "$(psql -X -At -c 'SELECT count(*) FROM book WHERE id = 1')" 1

http GET /api/logs/
expect_status "write=none: reading is fine" 200
http POST /api/logs/ -H "$(auth "$EDITOR")" -H 'Content-Type: application/json' -d '{"line":"x"}'
expect_status "write=none: POST is a 405 even for a token" 405
expect_eq "... Allow: GET, HEAD, OPTIONS" "$(http_header Allow)" "GET, HEAD, OPTIONS"
http DELETE /api/logs/1/ -H "$(auth "$EDITOR")"
expect_status "write=none: DELETE of an item is a 405" 405
expect_eq "log unchanged" "$(psql -X -At -c 'SELECT count(*) FROM log')" 1

http GET /api/notes/
expect_status "read=authenticated: anonymous is a 401" 401
expect_www_authenticate "... WWW-Authenticate: Bearer realm=\"api\"" 'Bearer realm="api"'

# --- PostgreSQL decides: GRANTs and row-level security ------------------------------------------------
http GET /api/secrets/ -H "$(auth "$VIEWER")"
expect_status "a role without a GRANT on the table gets 403" 403
expect_json "... in DRF's shape" '.detail' '"You do not have permission to perform this action."'
http GET /api/secrets/
expect_status "the anonymous role has no GRANT either: 403" 403
http GET /api/notes/ -H "$(auth "$EDITOR")"
expect_status "row-level security: alice lists notes" 200
expect_json "... and sees only her own" '[.count, [.results[].owner]]' '[1,["alice"]]'
http GET /api/notes/2/ -H "$(auth "$EDITOR")"
expect_status "bob's note is a 404 for alice" 404
http PATCH /api/notes/2/ -H "$(auth "$EDITOR")" -H 'Content-Type: application/json' -d '{"body": ["x"]}'
expect_status "an invalid body for bob's note is a 404 for alice too (DRF's get_object comes first)" 404
http PATCH /api/notes/1/ -H "$(auth "$EDITOR")" -H 'Content-Type: application/json' -d '{"body": ["x"]}'
expect_json "... and a 400 naming the field on her own note" 'keys' '["body"]'
http GET /api/notes/2/ -H "$(auth "$VIEWER")"
expect_status "... and a 200 for bob" 200
expect_json "... his note" '.body' "\"bob's note\""
http POST /api/notes/ -H "$(auth "$EDITOR")" -H 'Content-Type: application/json' -d '{"body":"forged","owner":"bob"}'
expect_status "alice cannot write a note as bob (the policy's WITH CHECK): 403" 403
expect_eq "... nothing written" "$(psql -X -At -c "SELECT count(*) FROM note WHERE body = 'forged'")" 0
NOBODY=$(token --role nobody_at_all)
http GET /api/books/ -H "$(auth "$NOBODY")"
expect_status "a role that does not exist gets 403" 403

# --- the list count under row-level security enabled while the server runs ---------------------------
# The catalog was loaded with book free of row-level security, so its total comes from the row counters (a
# slot offset shows it). Once a policy hides rows from a role the total must be that role's count(*) at
# once, without a reload: the counters' total would tell the role that the hidden rows exist.
sql_now() { psql -qX -v ON_ERROR_STOP=1 -c "$1" >/dev/null; }
sql_now "INSERT INTO book (title) SELECT 'Hidden ' || g FROM generate_series(1, 11) g"
sql_now "UPDATE prodata_row_counts SET n = n + 100 WHERE relid = 'book'::regclass AND slot = 0"
http GET /api/books/ -H "$(auth "$VIEWER")"
expect_json "an unfiltered total of book comes from the row counters (a slot offset by 100)" '.count' 114
sql_now "UPDATE prodata_row_counts SET n = n - 100 WHERE relid = 'book'::regclass AND slot = 0"
sql_now "ALTER TABLE book ENABLE ROW LEVEL SECURITY;
    CREATE POLICY book_shown ON book FOR SELECT TO viewer USING (title NOT LIKE 'Hidden %')"
http GET /api/books/ -H "$(auth "$VIEWER")"
expect_status "row-level security enabled while the server runs: the viewer lists books" 200
expect_json "... the count is the 3 rows it sees of 14, without a reload" '[.count, (.results | length)]' '[3,3]'
http GET /api/books/ -H "$(auth "$EDITOR")"
expect_json "... a role no policy admits counts none" '[.count, (.results | length)]' '[0,0]'
sql_now "DROP POLICY book_shown ON book; ALTER TABLE book DISABLE ROW LEVEL SECURITY"
http GET /api/books/ -H "$(auth "$VIEWER")"
expect_json "... disabled again: every row counted" '[.count, (.results | length)]' '[14,14]'
serve_stop

# --- rate limits --------------------------------------------------------------------------------------
serve_start --models "$MODELS" --rate-per-role "editor=3/min" --rate-per-address "6/min" || exit 1
http GET /api/books/
expect_status "no anonymous role: no token is a 401" 401
expect_www_authenticate "... WWW-Authenticate: Bearer realm=\"api\"" 'Bearer realm="api"'
for i in 1 2 3; do http GET /api/books/ -H "$(auth "$EDITOR")"; done
expect_status "three requests within the editor's 3/min" 200
http GET /api/books/ -H "$(auth "$EDITOR")"
expect_status "the fourth is a 429" 429
WAIT=$(http_header Retry-After)
expect_eq "... Retry-After: the seconds until the first of the three is a minute old (50 to 60)" \
    "$([ "$WAIT" -ge 50 ] 2>/dev/null && [ "$WAIT" -le 60 ] && echo yes)" yes
expect_json "... DRF's words, the same seconds" '.detail' "\"Request was throttled. Expected available in $WAIT seconds.\""
http GET /api/books/ -H "$(auth "$(token --role editor --sub carol)")"
expect_status "another editor (subject) has a bucket of its own" 200
http GET /api/books/ -H "$(auth "$VIEWER")"
expect_status "the seventh request from the address is a 429, whatever the role" 429
WAIT=$(http_header Retry-After)
expect_eq "... Retry-After: until the address's first request is a minute old (50 to 60)" \
    "$([ "$WAIT" -ge 50 ] 2>/dev/null && [ "$WAIT" -le 60 ] && echo yes)" yes
serve_stop

# --- the secret from jwt_secret_file (not only from jwt_secret) --------------------------------------------
printf '%s\n' "file-secret-for-serve-auth-long-enough-for-hs256" >"$TAP_WORKDIR/jwt.secret"
FILE_TOKEN=$(env -u PRODATA_JWT_SECRET "$PRODATA" token --jwt-secret-file "$TAP_WORKDIR/jwt.secret" --role editor)
PRODATA_JWT_SECRET= serve_start --models "$MODELS" --jwt-secret-file "$TAP_WORKDIR/jwt.secret" || exit 1
http GET /api/books/ -H "$(auth "$FILE_TOKEN")"
expect_status "a server given jwt_secret_file accepts a token signed with the file's secret" 200
http GET /api/books/ -H "$(auth "$(token --role editor)")"
expect_status "... and refuses one signed with another secret" 401
expect_json "... saying why" '.detail' '"signature does not verify"'
serve_stop

tap_done
