#!/bin/bash
# serve_edges.sh - `prodata serve` over real HTTP (curl) against a real PostgreSQL, at the edges a hostile
# client reaches: the query string of an item (PUT, PATCH, DELETE and GET go through the filters, as DRF's
# get_object; nothing half-applied), too many arguments and too long targets (a 4xx in DRF's shape, never an
# empty reply), invalid regexes, invalid UTF-8 and NUL in names, values, the path and a JSON body's strings
# (a 400 under the field), offsets near 2^63, repeated and nameless arguments, malformed Host headers, mixed
# pagination styles, the expand parameter's errors; what the database refuses (a trigger's RAISE, a CHECK
# added in SQL: a 400, never a 500), empty bodies (DRF's {}), the Accept header (406), ?search= on a model
# without search fields (ignored). Every refusal leaves the table unchanged.
source tests/lib/pg.sh
source tests/lib/tap.sh
tap_plan 100
source tests/lib/serve.sh

tap_fresh_db serve_edges
tap_workdir
MODELS="$TESTS_ROOT/integration/serve/models.pdm"
"$PRODATA" makemigrations --models "$MODELS" --migrations "$TAP_WORKDIR/migrations" >/dev/null 2>&1
"$PRODATA" migrate --models "$MODELS" --migrations "$TAP_WORKDIR/migrations" >/dev/null 2>&1
psql -qX -v ON_ERROR_STOP=1 >/dev/null <<'SQL'
INSERT INTO author (name, email) VALUES ('Ann', 'ann@example.com'), ('Bob', 'bob@example.com');
INSERT INTO tag (name) VALUES ('sf');
INSERT INTO book (title, author_id, price, published)
SELECT 'Book ' || i, 1 + i % 2, i + 0.5, '2020-01-01T00:00:00Z'::timestamptz + i * interval '1 day'
FROM generate_series(1, 6) i;
INSERT INTO book_tags (book_id, tag_id) VALUES (2, 1);
SQL
snapshot() { psql -X -At -c "SELECT count(*), sum(hashtext(b::text)) FROM book b"; }
BEFORE=$(snapshot)

serve_start --models "$MODELS" --anonymous-role postgres --default-page-size 2 --max-page-size 4 || exit 1
JSON=(-H 'Content-Type: application/json')

# --- 1. an item's query string: DRF's get_object filters before it looks the key up --------------------
# Book 3's author is Bob (1 + 3 % 2 = 2), book 4's Ann.
http DELETE '/api/books/3/?title=nomatch'
expect_status "DELETE through a filter that excludes the object is a 404" 404
http DELETE '/api/books/3/?nofield=x'
expect_json "DELETE with an unknown filter is a 400 naming it" 'keys' '["nofield"]'
http DELETE '/api/books/abc/?nofield=x'
expect_status "... before the key is looked at (filter_queryset comes first)" 400
http PATCH '/api/books/3/?author__name=Ann' "${JSON[@]}" -d '{"title": "Changed"}'
expect_status "PATCH through a filter across a relation that excludes the object is a 404" 404
http PUT '/api/books/3/?search=nomatch' "${JSON[@]}" -d '{"title": "Changed", "author": 1}'
expect_status "PUT through a search that excludes the object is a 404" 404
http PATCH '/api/books/3/?tags__name=sf' "${JSON[@]}" -d '{"tags": []}'
expect_status "PATCH through a filter over a many-to-many that excludes the object is a 404" 404
http PATCH '/api/books/3/?ordering=nothing' "${JSON[@]}" -d '{"title": "Changed"}'
expect_json "an unknown ordering on an item is a 400 as on the list" 'keys' '["ordering"]'
http PATCH '/api/books/3/?expand=nothing' "${JSON[@]}" -d '{"title": "Changed"}'
expect_json "... and an unknown expand" 'keys' '["expand"]'
http PATCH '/api/books/999/' "${JSON[@]}" -d '{"price": "abc"}'
expect_status "an invalid body for an object that does not exist is a 404 (get_object before the body)" 404
http PUT '/api/books/999/' "${JSON[@]}" -d '{"title": '
expect_status "... malformed JSON too" 404
http PATCH '/api/books/3/?title=nomatch' "${JSON[@]}" -d '{"price": "abc", "nofield": 1}'
expect_status "... and for one a filter excludes" 404
http PATCH '/api/books/3/' "${JSON[@]}" -d '{"price": "abc"}'
expect_json "an invalid body for an object that exists is the 400" '.' '{"price":["A valid number is required."]}'
http PUT '/api/books/3/' "${JSON[@]}" -d '{"title": '
expect_json "... malformed JSON too" '.detail | startswith("JSON parse error")' 'true'
expect_eq "none of these changed a row" "$(snapshot)" "$BEFORE"
http GET '/api/books/3/?author__name=Ann'
expect_status "GET of an item through a filter that excludes it is a 404" 404
http GET '/api/books/3/?author__name=Bob&fields=id,title'
expect_json "... and answers it when the filter selects it" '.' '{"id":3,"title":"Book 3"}'
http PATCH '/api/books/4/?author__name=Ann&search=book&tags__isnull=true' "${JSON[@]}" -d '{"in_stock": false}'
expect_json "PATCH through filters that select the object changes it" '[.id, .in_stock]' '[4,false]'
psql -qX -c "UPDATE book SET in_stock = true WHERE id = 4" >/dev/null

# --- 2. too many arguments, too long a target: a 4xx in DRF's shape, never an empty reply ---------------
ARGS=$(seq 1 1001 | sed 's/^/a/; s/$/=1/' | paste -sd '&')
http GET "/api/books/?$ARGS"
expect_status "1,001 query arguments are a 400 (Django's DATA_UPLOAD_MAX_NUMBER_FIELDS)" 400
expect_json "... saying so" '.detail' '"Too many query parameters (at most 1000)."'
AMPERSANDS=$(head -c 5000 /dev/zero | tr '\0' '&')
http GET "/api/books/?$AMPERSANDS"
expect_status "5,000 empty arguments too (each costs the connection a record)" 400
ARGS=$(seq 1 1000 | sed 's/^/page_size=/' | paste -sd '&')
http GET "/api/books/?$ARGS" -H "Cookie: $(head -c 6000 /dev/zero | tr '\0' 'c')"
expect_json "1,000 arguments (13 KB) with 6 KB of headers are answered (the last page_size wins)" \
    '[.count, (.results | length)]' '[6,4]'
LONG=$(head -c 17000 /dev/zero | tr '\0' 'a')
http GET "/api/books/?title=$LONG"
expect_status "a request target over 16 KB is a 414" 414
expect_json "... in DRF's shape" '.detail' '"Request-URI too long (at most 16384 bytes)."'
http POST "/api/books/?title=$LONG" "${JSON[@]}" -d '{"title": "T", "author": 1}'
expect_status "... with a body too, creating nothing" 414
http GET '/api/books/?page_size=1'
expect_status "the server answers the next request" 200

# --- 3. invalid regex, invalid UTF-8: 400 under the argument, never PostgreSQL's words ------------------
http GET '/api/books/?title__regex=('
expect_status "an invalid regex is a 400" 400
expect_json "... under the argument's name, PostgreSQL's reason as the message" \
    '[keys, (.title__regex[0] | startswith("invalid regular expression"))]' '[["title__regex"],true]'
http DELETE '/api/books/2/?title__iregex=%5B'
expect_json "an invalid regex on a DELETE: the same 400, nothing deleted" 'keys' '["title__iregex"]'
http GET '/api/books/?title=%FF'
expect_json "invalid UTF-8 in a value is a 400 naming the argument" '.' '{"title":["The value is not valid UTF-8."]}'
http GET '/api/books/?search=%C3%28'
expect_json "... in search too (refused before the database)" 'keys' '["search"]'
http GET '/api/books/?ti%FFtle=x'
expect_json "invalid UTF-8 in a name is a 400 too" '.[] | .[0]' '"The parameter'"'"'s name is not valid UTF-8."'
http GET '/api/books/%FF/'
expect_status "invalid UTF-8 in the path is a 404 (no such URL)" 404

# --- 4. NUL ----------------------------------------------------------------------------------------------
http GET '/api/books/?title=Book%001'
expect_json "a NUL in a value is a 400 (DRF's words)" '.' '{"title":["Null characters are not allowed."]}'
http GET '/api/books/?title%00x=1'
expect_json "a NUL in a name is a 400 under the name before it" '.' '{"title":["Null characters are not allowed."]}'
http GET '/api/books%00/'
expect_json "a NUL in the path is a 400, not a 301 to a shorter path" '[.detail, "'"$HTTP_STATUS"'"]' \
    '["Null characters are not allowed in the path.","400"]'
http DELETE '/api/books/1%00/'
expect_status "... nor a DELETE of book 1" 400

# --- 5. offsets and page numbers near 2^63 ---------------------------------------------------------------
http GET '/api/books/?limit=2&offset=9223372036854775807'
expect_json "offset 2^63-1: an empty page, no next, a previous that does not overflow" \
    '[.count, (.results | length), .next, (.previous | test("offset=4611686018427387901$"))]' '[6,0,null,true]'
http GET '/api/books/?limit=2&offset=99999999999999999999999'
expect_json "an offset past 2^63 is an empty page too (not the first page)" '[(.results | length), .next]' '[0,null]'
http GET '/api/books/?limit=99999999999999999999'
expect_json "a limit past 2^63 is cut to the cap (DRF's _positive_int with a cutoff)" '.results | length' 4
http GET '/api/books/?page_size=99999999999999999999'
expect_json "a page_size past 2^63 too" '.results | length' 4
http GET '/api/books/?page=9223372036854775807&page_size=4'
expect_status "page 2^63-1 is a 404 Invalid page." 404
http GET '/api/books/?page=99999999999999999999'
expect_status "a page past 2^63 too" 404

# --- 6. a repeated argument: the last value, as Django's QueryDict --------------------------------------
http GET '/api/books/?title=Book%201&title=Book%202'
expect_json "a repeated filter takes the last value" '[.results[].id]' '[2]'
http GET '/api/books/?page_size=1&page_size=3'
expect_json "a repeated page_size too, and the links carry that one" '[(.results | length), .next]' \
    "[3,\"$SERVE_URL/api/books/?page=2&page_size=3\"]"
http GET '/api/books?title=a&title=b&x=%20y'
expect_eq "the 301 to the slash keeps the query string as sent" "$(http_header Location)" \
    "/api/books/?title=a&title=b&x=%20y"

# --- 7. nameless arguments ------------------------------------------------------------------------------
http GET '/api/books/?&&page_size=1&'
expect_json "empty segments are no arguments (as Python's parse_qsl)" '.results | length' 1
http GET '/api/books/?=Dune'
expect_json "a value without a name is a 400 under non_field_errors" '.' \
    '{"non_field_errors":["A query parameter has no name."]}'

# --- 8. Host ---------------------------------------------------------------------------------------------
STATUSES=""
for host in '[::1' 'example.com:99999999' 'a b' 'example.com:' 'example.com:80:80' '[zz::1]' 'ex@mple.com'; do
    http GET '/api/books/?page_size=1' -H "Host: $host"
    STATUSES="$STATUSES $HTTP_STATUS"
done
expect_eq "a malformed Host is a 400, never echoed into a link" "$STATUSES" " 400 400 400 400 400 400 400"
expect_json "... Django's words" '.detail' '"Invalid Host header."'
http GET '/api/books/?page_size=1' -H 'Host: [::1]:8080'
expect_json "an IPv6 literal with a port is a host" '.next' '"http://[::1]:8080/api/books/?page=2&page_size=1"'
http POST /api/authors/ -H 'Host: example.com:65535' "${JSON[@]}" -d '{"name": "H", "email": "h@example.com"}'
expect_eq "Location is built from a valid Host" "$(http_header Location)" \
    "http://example.com:65535/api/authors/$(jq -r .id <<<"$HTTP_BODY")/"
psql -qX -c "DELETE FROM author WHERE name = 'H'" >/dev/null

# --- 9. pagination styles ------------------------------------------------------------------------------
http GET '/api/books/?cursor=&page=2'
expect_json "cursor with page is a 400 naming page" '.' '{"page":["Cannot be used with cursor pagination."]}'
http GET '/api/books/?pagination=cursor&limit=2&offset=2'
expect_json "cursor with limit/offset names both" 'keys' '["limit","offset"]'
http GET '/api/books/?page=2&offset=2'
expect_json "page with offset is a 400 naming page" '.' '{"page":["Cannot be used with limit/offset pagination."]}'
http GET '/api/books/?pagination=bogus'
expect_json "an unknown pagination style is a 400 naming the parameter" 'keys' '["pagination"]'
http GET '/api/books/?pagination=cursor&page_size=2'
expect_json "pagination=cursor with page_size is a cursor page" '[has("count"), (.results | length)]' '[false,2]'

# --- 10. expand ------------------------------------------------------------------------------------------
KEYS=""
for expand in nothing author__nothing title author__books__author__books; do
    http GET "/api/books/?expand=$expand"
    KEYS="$KEYS $HTTP_STATUS $(jq -c keys <<<"$HTTP_BODY")"
done
expect_eq "every bad expand path is a 400 under \"expand\", not under the path" "$KEYS" \
    ' 400 ["expand"] 400 ["expand"] 400 ["expand"] 400 ["expand"]'

# --- 11. empty filter values, long searches ---------------------------------------------------------------
http GET '/api/books/?author=&price__gte=&id__in=&author__isnull=&published__range=&title=&published__year='
expect_json "empty filter values filter nothing, __in and __isnull too (django-filter skips them)" '.count' 6
http GET '/api/books/3/?title=&fields=id'
expect_json "... on an item as well" '.' '{"id":3}'
http GET '/api/books/?pric='
expect_json "an unknown name with an empty value is still a 400 naming it" 'keys' '["pric"]'
http GET '/api/books/?in_stock__gte='
expect_json "... as is a lookup that does not apply to the field" 'keys' '["in_stock__gte"]'
http GET "/api/books/?search=$(printf 'book%%20%.0s' $(seq 1 10))"
expect_json "a search of 10 words is answered" '.count' 6
http GET "/api/books/?search=$(printf 'book%%20%.0s' $(seq 1 11))"
expect_json "11 words are a 400 under search (one condition per word: bounded)" '.' \
    '{"search":["Ensure this value has no more than 10 words."]}'

# --- 12. what the database refuses: a 4xx for what a client or a trigger of the user's refused -------------
psql -qX -v ON_ERROR_STOP=1 >/dev/null <<'SQL'
CREATE FUNCTION refuse_author() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF NEW.name = 'raise' THEN RAISE EXCEPTION 'custom failure'; END IF;
    IF NEW.name = 'own code' THEN RAISE EXCEPTION 'refused with a code of its own' USING ERRCODE = 'ZZ001'; END IF;
    IF NEW.name = 'borrowed' THEN RAISE EXCEPTION 'borrowed' USING ERRCODE = 'syntax_error'; END IF;
    RETURN NEW;
END $$;
CREATE TRIGGER refuse_author BEFORE INSERT OR UPDATE ON author FOR EACH ROW EXECUTE FUNCTION refuse_author();
ALTER TABLE author ADD CONSTRAINT c CHECK (name <> 'bad');
ALTER TABLE author ADD CONSTRAINT name_not_email CHECK (name <> email);
ALTER TABLE book ADD CONSTRAINT not_bob CHECK (author_id <> 2) NOT VALID;
SQL
AUTHORS=$(psql -X -At -c "SELECT count(*), sum(hashtext(a::text)) FROM author a")
http POST /api/authors/ "${JSON[@]}" -d '{"name": "raise", "email": "r@example.com"}'
expect_eq "a trigger's RAISE EXCEPTION (P0001) on a create is a 400 with its message, not a 500" \
    "$HTTP_STATUS $HTTP_BODY" '400 {"detail":"custom failure"}'
http PATCH /api/authors/1/ "${JSON[@]}" -d '{"name": "raise"}'
expect_eq "... on an update too" "$HTTP_STATUS $HTTP_BODY" '400 {"detail":"custom failure"}'
http POST /api/authors/ "${JSON[@]}" -d '[{"name": "Ok", "email": "ok2@example.com"}, {"name": "raise", "email": "r@example.com"}]'
expect_eq "... and on a bulk create" "$HTTP_STATUS $HTTP_BODY" '400 {"detail":"custom failure"}'
http POST /api/authors/ "${JSON[@]}" -d '{"name": "own code", "email": "o@example.com"}'
expect_eq "a code of a class PostgreSQL does not define (RAISE ... USING ERRCODE) is a 400 too" \
    "$HTTP_STATUS $HTTP_BODY" '400 {"detail":"refused with a code of its own"}'
http POST /api/authors/ "${JSON[@]}" -d '{"name": "borrowed", "email": "b@example.com"}'
expect_eq "a standard code borrowed from another class stays a 500, its cause logged, never sent" \
    "$HTTP_STATUS $HTTP_BODY $(grep -c 'error: borrowed .*sqlstate=42601' "$SERVE_LOG")" \
    '500 {"detail":"A server error occurred."} 1'
http POST /api/authors/ "${JSON[@]}" -d '{"name": "bad", "email": "bad@example.com"}'
expect_eq "a CHECK added in SQL is a 400 under the field of its one column (from pg_constraint)" \
    "$HTTP_STATUS $HTTP_BODY" '400 {"name":["new row for relation \"author\" violates check constraint \"c\""]}'
http PUT /api/authors/2/ "${JSON[@]}" -d '{"name": "bad", "email": "bob@example.com"}'
expect_eq "... on an update too" "$HTTP_STATUS $HTTP_BODY" \
    '400 {"name":["new row for relation \"author\" violates check constraint \"c\""]}'
http PATCH /api/authors/2/ "${JSON[@]}" -d '{"name": "bob@example.com"}'
expect_eq "a CHECK over two columns is a 400 under non_field_errors" "$HTTP_STATUS $HTTP_BODY" \
    '400 {"non_field_errors":["new row for relation \"author\" violates check constraint \"name_not_email\""]}'
http PATCH /api/books/4/ "${JSON[@]}" -d '{"author": 2}'
expect_eq "a CHECK on a foreign key's column is under the API field (author, not author_id)" \
    "$HTTP_STATUS $HTTP_BODY" '400 {"author":["new row for relation \"book\" violates check constraint \"not_bob\""]}'
expect_eq "none of these wrote a row" "$(psql -X -At -c "SELECT count(*), sum(hashtext(a::text)) FROM author a")" \
    "$AUTHORS"
psql -qX -v ON_ERROR_STOP=1 >/dev/null <<'SQL'
DROP TRIGGER refuse_author ON author;
DROP FUNCTION refuse_author();
ALTER TABLE author DROP CONSTRAINT c, DROP CONSTRAINT name_not_email;
ALTER TABLE book DROP CONSTRAINT not_bob;
SQL

# --- 13. an empty body is no data, as DRF's parsers read it --------------------------------------------------
http POST /api/authors/ "${JSON[@]}" --data-binary ''
expect_eq "an empty POST body is {}: each required field is refused, not a JSON parse error" \
    "$HTTP_STATUS $HTTP_BODY" '400 {"name":["This field is required."],"email":["This field is required."]}'
http PUT /api/authors/2/ "${JSON[@]}" --data-binary ''
expect_eq "... an empty PUT body too" "$HTTP_STATUS $HTTP_BODY" \
    '400 {"name":["This field is required."],"email":["This field is required."]}'
http PATCH /api/authors/2/ "${JSON[@]}" --data-binary ''
expect_eq "... and an empty PATCH body changes nothing" "$HTTP_STATUS $(jq -c '[.id, .name, .email]' <<<"$HTTP_BODY")" \
    '200 [2,"Bob","bob@example.com"]'
http PUT /api/authors/999/ "${JSON[@]}" --data-binary ''
expect_status "... an empty PUT body for an object that does not exist is a 404 (get_object first)" 404
expect_eq "none of these wrote a row" "$(psql -X -At -c "SELECT count(*), sum(hashtext(a::text)) FROM author a")" \
    "$AUTHORS"

# --- 14. content negotiation: JSON only, as a DRF view with JSONRenderer alone ------------------------------
http GET '/api/books/?page_size=1' -H 'Accept: application/xml'
expect_eq "Accept: application/xml is a 406 (in JSON, as DRF)" "$HTTP_STATUS $HTTP_BODY" \
    '406 {"detail":"Could not satisfy the request Accept header."}'
STATUSES=""
for accept in 'text/html' 'application/json;q=0' 'application/json;q=0, */*' '*/*;q=0.0' 'application/vnd.api+json'; do
    http GET '/api/books/3/' -H "Accept: $accept"
    STATUSES="$STATUSES $HTTP_STATUS"
done
http GET /api/ -H 'Accept;'
STATUSES="$STATUSES $HTTP_STATUS"
http POST /api/authors/ "${JSON[@]}" -H 'Accept: text/csv' -d '{"name": "Csv", "email": "csv@example.com"}'
STATUSES="$STATUSES $HTTP_STATUS"
expect_eq "no JSON allowed, a q=0 on the most specific range, an empty Accept: 406, on a POST too" \
    "$STATUSES" " 406 406 406 406 406 406 406"
STATUSES=""
for accept in 'application/json' 'APPLICATION/JSON; indent=4' 'application/*' '*/*' \
    'text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8' 'application/*;q=0, application/json;q=0.5'; do
    http GET '/api/books/3/?fields=id' -H "Accept: $accept"
    STATUSES="$STATUSES $HTTP_STATUS"
done
http GET '/api/books/3/?fields=id' -H 'Accept:'
STATUSES="$STATUSES $HTTP_STATUS"
expect_eq "JSON by name, application/*, */*, a browser's Accept, a more specific q, or no Accept: 200" \
    "$STATUSES" " 200 200 200 200 200 200 200"
http GET /api/nothing/ -H 'Accept: application/xml'
STATUSES="$HTTP_STATUS"
http GET /api/books -H 'Accept: application/xml'
STATUSES="$STATUSES $HTTP_STATUS"
http GET /healthz -H 'Accept: application/xml'
STATUSES="$STATUSES $HTTP_STATUS"
expect_eq "the URL is resolved first (404, 301), and /healthz does not negotiate" "$STATUSES" "404 301 200"
http DELETE /api/genres/1/ -H 'Accept: application/xml'
expect_status "negotiation comes before the method (406, not a read-only model's 405)" 406

# --- 15. ?search= on a model without searchable fields is ignored, as SearchFilter without search_fields ---
http GET '/api/tags/?search=nothing%20matches'
expect_json "?search= on a model without search fields filters nothing (not a 400)" '[.count, [.results[].name]]' \
    '[1,["sf"]]'
http GET "/api/tags/?search=$(printf 'x%%20%.0s' $(seq 1 11))"
expect_json "... however many words it has" '.count' 1

# --- hostile requests ------------------------------------------------------------------------------------
http GET /api/books/ -H 'Content-Type: application/json' --data-binary '{}' -X GET
expect_status "a GET with a body is answered as a GET" 200
AUTHORS=$(psql -X -At -c "SELECT count(*) FROM author")
http POST /api/authors/ "${JSON[@]}" --data-binary '{"name": "a\u0000b", "email": "z@example.com"}'
expect_eq "a NUL in a JSON string is a 400 under the field, in DRF's words (CharField)" "$HTTP_STATUS $HTTP_BODY" \
    '400 {"name":["Null characters are not allowed."]}'
http PATCH /api/books/3/ "${JSON[@]}" --data-binary '{"price": "1\u0000", "status": "draft\u0000"}'
expect_eq "... other fields cannot read it: their own messages (the text is never cut at the NUL)" \
    "$HTTP_STATUS $HTTP_BODY" \
    '400 {"price":["A valid number is required."],"status":["\"draft\\u0000\" is not a valid choice."]}'
http PATCH /api/books/3/ "${JSON[@]}" --data-binary '{"meta": {"k": ["x", "a\u0000"]}}'
expect_eq "... a json field refuses it (PostgreSQL's jsonb cannot store \\u0000): a 400, not a 500" \
    "$HTTP_STATUS $HTTP_BODY" \
    '400 {"meta":["Null characters are not allowed: PostgreSQL'"'"'s jsonb cannot store \\u0000."]}'
http POST /api/authors/ "${JSON[@]}" \
    --data-binary '[{"name": "Ok", "email": "ok3@example.com"}, {"name": "n\u0000", "email": "n@example.com"}]'
expect_eq "... in a bulk create: per element" "$HTTP_STATUS $HTTP_BODY" \
    '400 [{},{"name":["Null characters are not allowed."]}]'
http POST '/api/authors/?on_conflict=email' "${JSON[@]}" --data-binary '{"name": "u\u0000", "email": "ann@example.com"}'
expect_eq "... in an upsert" "$HTTP_STATUS $HTTP_BODY" '400 {"name":["Null characters are not allowed."]}'
http POST /api/authors/ "${JSON[@]}" --data-binary '[{"name": "D", "name": "E", "email": "d@example.com"}]'
expect_json "a key repeated in a bulk element is a parse error, as in a single object" \
    '.detail | startswith("JSON parse error - duplicate object key")' 'true'
expect_eq "none of these wrote an author" "$(psql -X -At -c "SELECT count(*) FROM author")" "$AUTHORS"
http POST /api/authors/ "${JSON[@]}" --data-binary $'{"name": "\xff", "email": "z@example.com"}'
expect_json "invalid UTF-8 in a JSON body is a 400 parse error" '.detail | startswith("JSON parse error")' 'true'
AUTHORS=$(psql -X -At -c "SELECT count(*) FROM author")
http POST /api/authors/ "${JSON[@]}" -d '[{"name": "Ok", "email": "ok@example.com"}, {"name": ""}, 5]'
expect_json "a bulk create's problems are DRF's list shape, one object per element, {} for a valid one" '.' \
    '[{},{"name":["This field may not be blank."],"email":["This field is required."]},{"non_field_errors":["Invalid data. Expected a dictionary, but got int."]}]'
expect_eq "... and create nothing" "$(psql -X -At -c "SELECT count(*) FROM author")" "$AUTHORS"
http BREW /api/books/
expect_json "an unknown method is a 405 with Allow" "[.detail, \"$(http_header Allow)\"]" \
    '["Method \"BREW\" not allowed.","GET, POST, HEAD, OPTIONS"]'

expect_eq "the table is unchanged after every refusal" "$(snapshot)" "$BEFORE"
serve_stop
expect_eq "SIGTERM stops the server with exit 0" "$SERVE_RC" 0

# --- an HTTP/1.0 request without Host to a server on an IPv6 address: links in brackets ----------------
V6_PORT=$(pg_free_port)
"$PRODATA" serve --models "$MODELS" --listen-address ::1 --port "$V6_PORT" --worker-threads 2 \
    --anonymous-role postgres --default-page-size 2 >"$SERVE_DIR/serve-v6.log" 2>&1 &
SERVE_PID=$!
SERVE_PIDS="$SERVE_PIDS $SERVE_PID"
for waited in $(seq 1 150); do
    curl -s -o /dev/null --max-time 2 "http://[::1]:$V6_PORT/healthz" && break
    sleep 0.1
done
V6_NEXT=$(curl -s --max-time 10 --http1.0 -H 'Host:' "http://[::1]:$V6_PORT/api/books/?page_size=1" | jq -r .next)
expect_eq "the address listened on, bracketed, stands in for a missing Host" "$V6_NEXT" \
    "http://[::1]:$V6_PORT/api/books/?page=2&page_size=1"
serve_stop
tap_done
