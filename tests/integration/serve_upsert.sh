#!/bin/bash
# serve_upsert.sh - PostgREST's upsert on `prodata serve` over real HTTP against a real PostgreSQL:
# POST /api/<resource>/?on_conflict=... with one object (201 + Location inserted, 200 updated, only the
# given fields changed) and with a JSON array (one statement, rows in input order, 200 when any existed);
# Prefer: resolution=ignore-duplicates (existing rows untouched, the answer holds only the rows written);
# a unique(...) set; refusals: a name that is no field, a field that is not unique, part of a unique set,
# two objects with one key (PostgreSQL's 21000, a 400 not a 500), injection attempts through on_conflict
# (each a 400, the data unchanged); row-level security through a token's role and subject.
source tests/lib/pg.sh
source tests/lib/tap.sh
tap_plan 86
source tests/lib/serve.sh

tap_fresh_db serve_upsert
tap_workdir
MODELS="$TESTS_ROOT/integration/serve_upsert/models.pdm"
"$PRODATA" makemigrations --models "$MODELS" --migrations "$TAP_WORKDIR/migrations" >/dev/null 2>&1
"$PRODATA" migrate --models "$MODELS" --migrations "$TAP_WORKDIR/migrations" >/dev/null 2>&1
psql -qX -v ON_ERROR_STOP=1 >/dev/null <<'SQL'
DO $$ BEGIN CREATE ROLE upsert_editor NOLOGIN; EXCEPTION WHEN duplicate_object THEN NULL; END $$;
GRANT USAGE ON SCHEMA public TO upsert_editor;
GRANT SELECT, INSERT, UPDATE ON note TO upsert_editor;
GRANT USAGE ON ALL SEQUENCES IN SCHEMA public TO upsert_editor;
INSERT INTO author (name, email, password) VALUES ('Ann', 'ann@example.com', 'pw-ann'), ('Bob', 'bob@example.com', 'pw-bob');
INSERT INTO tag (name) VALUES ('sf'), ('classic');
INSERT INTO book (title, author_id, isbn, price) VALUES ('Dune', 1, '111', 9.50), ('Emma', 2, '222', 5.00);
INSERT INTO book_tags (book_id, tag_id) VALUES (1, 1);
INSERT INTO note (slug, body, owner) VALUES ('a1', 'alice''s note', 'alice'), ('b1', 'bob''s note', 'bob');
ALTER TABLE note ENABLE ROW LEVEL SECURITY;
CREATE POLICY note_owner ON note USING (owner = current_setting('request.jwt.sub', true))
    WITH CHECK (owner = current_setting('request.jwt.sub', true));
SQL
snapshot() { psql -X -At -c "SELECT (SELECT string_agg(a::text, ';' ORDER BY id) FROM author a) || '|' || (SELECT string_agg(b::text, ';' ORDER BY id) FROM book b)"; }
authors() { psql -X -At -c "SELECT string_agg(name || ':' || email || ':' || password, ',' ORDER BY id) FROM author"; }
JSON=(-H 'Content-Type: application/json')

export PRODATA_JWT_SECRET=serve-upsert-test-secret-long-enough-for-hs256
export PRODATA_JWT_AUDIENCE=api
ALICE=$("$PRODATA" token --role upsert_editor --sub alice)

serve_start --models "$MODELS" --anonymous-role postgres --cors-origins "https://app.example" || exit 1

# --- one object ---------------------------------------------------------------------------------------
http POST '/api/authors/?on_conflict=email' "${JSON[@]}" -d '{"name":"Cy","email":"cy@example.com"}'
expect_status "on_conflict=email, a new email: inserted, 201" 201
expect_json "... the object" '[.name, .email]' '["Cy","cy@example.com"]'
expect_eq "... with Location" "$(http_header Location)" "$SERVE_URL/api/authors/3/"
http POST '/api/authors/?on_conflict=email' "${JSON[@]}" -d '{"name":"Ann Updated","email":"ann@example.com"}'
expect_status "an existing email: updated, 200" 200
expect_json "... the object, its id kept" '[.id, .name]' '[1,"Ann Updated"]'
expect_eq "... no Location for an update" "$(http_header Location)" ""
expect_eq "only the fields given changed (password kept)" "$(authors)" \
    "Ann Updated:ann@example.com:pw-ann,Bob:bob@example.com:pw-bob,Cy:cy@example.com:"
http POST '/api/books/?on_conflict=id' "${JSON[@]}" -d '{"id":2,"title":"Emma","author":2,"price":"6.25"}'
expect_status "on_conflict=id (the primary key, read from the body for it): 200" 200
expect_eq "... the row changed" "$(psql -X -At -c 'SELECT price FROM book WHERE id = 2')" "6.25"
http POST '/api/books/?on_conflict=title,author' "${JSON[@]}" -d '{"title":"Dune","author":1,"price":"11.00"}'
expect_status "on_conflict=title,author (a unique(...) set): 200" 200
expect_json "... tags untouched (the join rows are the row's)" '[.id, .price, .tags]' '[1,"11.00",[1]]'
http POST '/api/books/?on_conflict=author,title' "${JSON[@]}" -d '{"title":"Dune","author":1,"price":"12.00"}'
expect_status "... the set in another order is the same set" 200
http POST '/api/authors/?on_conflict=email' "${JSON[@]}" -d '{"email":"dee@example.com"}'
expect_status "validation as for a create: a required field missing is a 400" 400
expect_json "... under the field" '.name' '["This field is required."]'
http POST '/api/authors/?on_conflict=email' "${JSON[@]}" -d '{"name":"Dee","email":"not-an-email"}'
expect_json "... a malformed email too" '.email' '["Enter a valid email address."]'

# --- bulk ---------------------------------------------------------------------------------------------
BEFORE_BULK=$(psql -X -At -c "SELECT count(*) FROM author")
http POST '/api/authors/?on_conflict=email' "${JSON[@]}" \
    -d '[{"name":"Eve","email":"eve@example.com"},{"name":"Bob Two","email":"bob@example.com"},{"name":"Fay","email":"fay@example.com"}]'
expect_status "bulk, one existing among new ones: 200" 200
expect_json "... the rows in input order" '[.[].name]' '["Eve","Bob Two","Fay"]'
expect_eq "... two inserted, one updated" "$(psql -X -At -c "SELECT count(*) - $BEFORE_BULK || ':' || (SELECT name FROM author WHERE id = 2) FROM author")" "2:Bob Two"
http POST '/api/authors/?on_conflict=email' "${JSON[@]}" \
    -d '[{"name":"Gus","email":"gus@example.com"},{"name":"Hal","email":"hal@example.com"}]'
expect_status "bulk, all new: 201" 201
expect_json "... both, in order" '[.[].name]' '["Gus","Hal"]'
http POST '/api/authors/?on_conflict=email' "${JSON[@]}" -d '[{"name":"Ivy","email":"ivy@example.com"},{"email":"x@example.com"}]'
expect_status "bulk with an invalid element: 400" 400
expect_json "... in DRF's list shape" '.' '[{},{"name":["This field is required."]}]'
http POST '/api/authors/?on_conflict=email' "${JSON[@]}" -d '[{"name":"Ivy","email":"ivy@example.com"},{"name":"Jo","email":"jo@example.com","password":"p"}]'
expect_status "bulk objects giving different fields: 400 (PostgREST's rule)" 400
expect_eq "... nothing written" "$(psql -X -At -c "SELECT count(*) FROM author WHERE email IN ('ivy@example.com', 'jo@example.com')")" 0

# --- ignore-duplicates --------------------------------------------------------------------------------
BEFORE=$(authors)
http POST '/api/authors/?on_conflict=email' "${JSON[@]}" -H 'Prefer: resolution=ignore-duplicates' \
    -d '{"name":"Not Ann","email":"ann@example.com"}'
expect_status "ignore-duplicates on an existing row: 204, nothing written" 204
expect_eq "... the row untouched" "$(authors)" "$BEFORE"
expect_eq "... Preference-Applied" "$(http_header Preference-Applied)" "resolution=ignore-duplicates"
http POST '/api/authors/?on_conflict=email' "${JSON[@]}" -H 'Prefer: return=representation, resolution=ignore-duplicates' \
    -d '[{"name":"Not Bob","email":"bob@example.com"},{"name":"Kim","email":"kim@example.com"},{"name":"Kim Again","email":"kim@example.com"}]'
expect_status "bulk ignore-duplicates: 201 (nothing updated)" 201
expect_json "... only the row written (the first of a key)" '[.[].name]' '["Kim"]'
expect_eq "... Bob untouched" "$(psql -X -At -c 'SELECT name FROM author WHERE id = 2')" "Bob Two"
http POST '/api/authors/' "${JSON[@]}" -H 'Prefer: resolution=merge-duplicates' -d '{"name":"Lee","email":"lee@example.com"}'
expect_status "a Prefer resolution without on_conflict upserts on the primary key (no id given: refused)" 400
expect_json "... the key is required to identify the row" '.id' '["This field is required to identify the row (on_conflict)."]'
http POST '/api/authors/' "${JSON[@]}" -H 'Prefer: resolution=merge-duplicates' -d '{"id":3,"name":"Cy Two","email":"cy@example.com"}'
expect_status "... and with the key given, updates that row: 200" 200
expect_eq "... Cy renamed" "$(psql -X -At -c 'SELECT name FROM author WHERE id = 3')" "Cy Two"

# --- refusals -----------------------------------------------------------------------------------------
BEFORE=$(snapshot)
http POST '/api/authors/?on_conflict=nothing' "${JSON[@]}" -d '{"name":"Zed","email":"zed@example.com"}'
expect_status "a name that is no field: 400" 400
expect_json "... naming on_conflict and the unique sets" '.on_conflict' \
    '["\"nothing\" is not a unique constraint of authors. Use one of: id; email."]'
http POST '/api/books/?on_conflict=price' "${JSON[@]}" -d '{"title":"Zed","author":1}'
expect_status "a field that is not unique: 400" 400
expect_json "... listing the book's sets" '.on_conflict' \
    '["\"price\" is not a unique constraint of books. Use one of: id; isbn; title,author."]'
http POST '/api/books/?on_conflict=title' "${JSON[@]}" -d '{"title":"Zed","author":1}'
expect_status "part of a unique set: 400" 400
http POST '/api/books/?on_conflict=title,title' "${JSON[@]}" -d '{"title":"Zed","author":1}'
expect_status "a name twice: 400" 400
http POST '/api/books/?on_conflict=' "${JSON[@]}" -d '{"title":"Zed","author":1}'
expect_status "an empty on_conflict: 400" 400
http POST '/api/authors/?on_conflict=email,' "${JSON[@]}" -d '{"name":"Zed","email":"zed@example.com"}'
expect_status "an empty name after a comma: 400" 400
http POST '/api/books/?on_conflict=tags' "${JSON[@]}" -d '{"title":"Zed","author":1}'
expect_status "a many-to-many field: 400" 400
http POST '/api/authors/?on_conflict=id%3B--' "${JSON[@]}" -d '{"name":"Zed","email":"zed@example.com"}'
expect_status "injection: on_conflict=id;-- is a 400" 400
http POST '/api/books/?on_conflict=author__password' "${JSON[@]}" -d '{"title":"Zed","author":1}'
expect_status "injection: on_conflict=author__password is a 400" 400
http POST "/api/authors/?on_conflict=email%29%20DO%20NOTHING%3B%20DROP%20TABLE%20author%3B--" "${JSON[@]}" -d '{"name":"Zed","email":"zed@example.com"}'
expect_status "injection: SQL after the name is a 400" 400
http POST '/api/authors/?on_conflict=%22email%22' "${JSON[@]}" -d '{"name":"Zed","email":"zed@example.com"}'
expect_status "injection: a quoted name is a 400" 400
http POST '/api/authors/?on_conflict=email' "${JSON[@]}" -d "{\"name\":\"'; DROP TABLE author; --\",\"email\":\"ann@example.com\"}"
expect_status "a value with SQL in it is plain data (200)" 200
expect_eq "... stored as it is" "$(psql -X -At -c 'SELECT name FROM author WHERE id = 1')" "'; DROP TABLE author; --"
psql -qX -c "UPDATE author SET name = 'Ann Updated' WHERE id = 1"
expect_eq "the refused requests changed nothing" "$(snapshot)" "$BEFORE"
http POST '/api/authors/?on_conflict=email' "${JSON[@]}" \
    -d '[{"name":"One","email":"dup@example.com"},{"name":"Two","email":"dup@example.com"}]'
expect_status "two objects with one key (PostgreSQL's 21000): 400, not 500" 400
expect_json "... saying so" '.non_field_errors | length' 1
expect_eq "... nothing written" "$(psql -X -At -c "SELECT count(*) FROM author WHERE email = 'dup@example.com'")" 0
http POST '/api/books/?on_conflict=isbn' "${JSON[@]}" -d '{"title":"Zed","author":1,"isbn":null}'
expect_status "a null key identifies no row: 400" 400
http POST '/api/books/?on_conflict=isbn' "${JSON[@]}" -d '{"title":"Dune","author":1,"isbn":"999"}'
expect_status "a conflict on another unique set is refused as a create's: 400" 400
expect_json "... DRF's words" '.non_field_errors' '["The fields title, author must make a unique set."]'
http POST '/api/authors/?on_conflict=email' "${JSON[@]}" -d '{"name":"Zed","email":"zed@example.com"'
expect_status "malformed JSON: 400" 400
expect_eq "the refused requests wrote nothing" "$(snapshot)" "$BEFORE"

# --- many-to-many keys, written by the same statement --------------------------------------------------
JOINS() { psql -X -At -c "SELECT coalesce(string_agg(b.isbn || '=' || t.tag_id, ',' ORDER BY b.isbn, t.tag_id), '') FROM book_tags t JOIN book b ON b.id = t.book_id WHERE b.isbn IN ('333', '444')"; }
http POST '/api/books/?on_conflict=isbn' "${JSON[@]}" -d '{"title":"New","author":1,"isbn":"333","tags":[1]}'
expect_status "an upsert giving tags inserts: 201" 201
expect_json "... the answer shows them" '.tags' '[1]'
http POST '/api/books/?on_conflict=isbn' "${JSON[@]}" -d '{"title":"New","author":1,"isbn":"333","tags":[2]}'
expect_status "the same key with other tags updates: 200" 200
expect_json "... the answer shows the new keys" '.tags' '[2]'
expect_eq "... the join rows replaced" "$(JOINS)" "333=2"
http POST '/api/books/?on_conflict=isbn' "${JSON[@]}" \
    -d '[{"title":"Old","author":2,"isbn":"444","tags":[2,1]},{"title":"New","author":1,"isbn":"333","tags":[]}]'
expect_status "bulk with tags, one existing: 200" 200
expect_json "... each row's keys, in input order" '[.[] | [.isbn, .tags]]' '[["444",[1,2]],["333",[]]]'
expect_eq "... the join rows: 444's two, none left for 333" "$(JOINS)" "444=1,444=2"
http POST '/api/books/?on_conflict=isbn' "${JSON[@]}" -H 'Prefer: resolution=ignore-duplicates' \
    -d '[{"title":"Old","author":2,"isbn":"444","tags":[]},{"title":"Third","author":2,"isbn":"555","tags":[1]}]'
expect_json "ignore-duplicates with tags: only the new row, with its keys" '[.[] | [.isbn, .tags]]' '[["555",[1]]]'
expect_eq "... the skipped row's join rows untouched" "$(JOINS)" "444=1,444=2"
BEFORE=$(JOINS)
http POST '/api/books/?on_conflict=isbn' "${JSON[@]}" -d '{"title":"Old","author":2,"isbn":"444","tags":[99]}'
expect_status "a tag that does not exist: 400" 400
expect_eq "... the join rows unchanged" "$(JOINS)" "$BEFORE"

# --- row-level security through the token's role ------------------------------------------------------
NOTES() { psql -X -At -c "SELECT string_agg(slug || ':' || body || ':' || owner, ',' ORDER BY id) FROM note"; }
http POST '/api/notes/?on_conflict=slug' "${JSON[@]}" -H "Authorization: Bearer $ALICE" \
    -d '{"slug":"a1","body":"alice edited","owner":"alice"}'
expect_status "alice upserts her own note: 200" 200
expect_json "... changed" '.body' '"alice edited"'
BEFORE=$(NOTES)
http POST '/api/notes/?on_conflict=slug' "${JSON[@]}" -H "Authorization: Bearer $ALICE" \
    -d '{"slug":"b1","body":"taken over","owner":"alice"}'
expect_status "alice upserting bob's note (hidden by RLS) is refused: 403" 403
expect_eq "... bob's note unchanged" "$(NOTES)" "$BEFORE"
http POST '/api/notes/?on_conflict=slug' "${JSON[@]}" -H "Authorization: Bearer $ALICE" \
    -d '{"slug":"a2","body":"new","owner":"bob"}'
expect_status "a row the policy's WITH CHECK refuses: 403" 403
http POST '/api/notes/?on_conflict=slug' "${JSON[@]}" -d '{"slug":"a3","body":"anon","owner":"alice"}'
expect_status "write=authenticated: anonymous upsert is a 401" 401
expect_eq "... notes unchanged" "$(NOTES)" "$BEFORE"
http POST '/api/notes/?on_conflict=slug' "${JSON[@]}" -H "Authorization: Bearer $ALICE" \
    -d '{"slug":"a3","body":"new","owner":"alice"}'
expect_status "alice inserts a note of hers by upsert: 201" 201
# --- CORS: a browser may send Prefer and read Preference-Applied --------------------------------------
http OPTIONS '/api/authors/?on_conflict=email' -H 'Origin: https://app.example' \
    -H 'Access-Control-Request-Method: POST' -H 'Access-Control-Request-Headers: content-type, prefer'
expect_eq "a preflight allows the Prefer header" "$(http_header Access-Control-Allow-Headers)" "Authorization, Content-Type, Prefer"
http POST '/api/authors/?on_conflict=email' "${JSON[@]}" -H 'Origin: https://app.example' \
    -H 'Prefer: resolution=merge-duplicates' -d '{"name":"Cy Three","email":"cy@example.com"}'
expect_eq "... and the answer exposes Preference-Applied" "$(http_header Access-Control-Expose-Headers)" \
    "Location, Retry-After, WWW-Authenticate, Preference-Applied"

# --- the list's count (the row counters) after upserts -------------------------------------------------
http GET /api/authors/
expect_json "the list's count is exact after inserts, updates and skips by upsert" '.count' \
    "$(psql -X -At -c 'SELECT count(*) FROM author')"
http GET /api/books/
expect_json "... books too" '.count' "$(psql -X -At -c 'SELECT count(*) FROM book')"

# --- the OpenAPI document says so -----------------------------------------------------------------------
http GET /openapi.json
expect_json "OpenAPI: on_conflict takes the unique sets of book" \
    '.paths["/api/books/"].post.parameters | map(select(.name == "on_conflict"))[0].schema.enum' '["id","isbn","title,author"]'
expect_json "... with the Prefer header and the 200/201/204 answers" \
    '[(.paths["/api/books/"].post.parameters | map(select(.in == "header"))[0].schema.enum), (.paths["/api/books/"].post.responses | has("200") and has("201") and has("204"))]' \
    '[["resolution=merge-duplicates","resolution=ignore-duplicates"],true]'
expect_eq "the server logged no error (no 500 on any of these)" "$(grep -ci 'error' "$SERVE_LOG")" 0

serve_stop
expect_eq "SIGTERM stops the server with exit 0" "$SERVE_RC" 0
tap_done
