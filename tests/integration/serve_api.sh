#!/bin/bash
# serve_api.sh - `prodata serve` over real HTTP (curl) against a real PostgreSQL: the URLs of DRF's routers
# (root, list, item, 301 to the trailing slash), page number / limit-offset / cursor pagination and their
# edges, filters, ordering (related fields too), search, fields, expand, unicode and nulls in the
# representation, every status code and error shape the server answers (400 per field, 404, 405 + Allow,
# 413, 415, 301), HEAD and OPTIONS, and injection attempts through query names, query values, headers and
# body fields: each is refused with a 4xx (or taken as plain data) and the table is unchanged.
source tests/lib/pg.sh
source tests/lib/tap.sh
tap_plan 130
source tests/lib/serve.sh

tap_fresh_db serve_api
tap_workdir
MODELS="$TESTS_ROOT/integration/serve/models.pdm"
"$PRODATA" makemigrations --models "$MODELS" --migrations "$TAP_WORKDIR/migrations" >/dev/null 2>&1
"$PRODATA" migrate --models "$MODELS" --migrations "$TAP_WORKDIR/migrations" >/dev/null 2>&1
psql -qX -v ON_ERROR_STOP=1 >/dev/null <<'SQL'
INSERT INTO author (name, email, born) VALUES
    ('Ann Émile', 'ann@example.com', '1970-01-02'), ('Bob', 'bob@example.com', NULL),
    ('Zoë 日本', 'zoe@example.com', '1980-05-06');
INSERT INTO tag (name) VALUES ('sf'), ('classic');
INSERT INTO book (title, author_id, price, published, in_stock, meta, status)
SELECT 'Book ' || i, 1 + i % 3, (i % 20) + 0.5, '2020-01-01T00:00:00Z'::timestamptz + i * interval '1 day',
       i % 2 = 0, CASE WHEN i % 5 = 0 THEN '{"k": [1, 2]}'::jsonb END, 'draft'
FROM generate_series(1, 12) i;
INSERT INTO book_tags (book_id, tag_id) VALUES (1, 1), (1, 2);
SQL
snapshot() { psql -X -At -c "SELECT count(*), sum(hashtext(b::text)) FROM book b"; }
BEFORE=$(snapshot)

serve_start --models "$MODELS" --anonymous-role postgres --default-page-size 5 --max-page-size 8 \
    --body-limit 4096 || exit 1

# --- the root, 301s, 404s ---------------------------------------------------------------------------
http GET /api/
expect_status "GET /api/ answers 200" 200
expect_json "the root lists every resource with its absolute URL" '.books' "\"$SERVE_URL/api/books/\""
http GET /api
expect_status "GET /api without the slash is a 301" 301
expect_eq "... to /api/" "$(http_header Location)" "/api/"
http GET '/api/books?price__gte=3&ordering=title'
expect_status "GET /api/books is a 301 (DRF's APPEND_SLASH)" 301
expect_eq "... keeping the query string" "$(http_header Location)" "/api/books/?price__gte=3&ordering=title"
http POST /api/books -H 'Content-Type: application/json' -d '{}'
expect_status "POST without the trailing slash is a 404, not a redirect" 404
http GET /api/nothing/
expect_status "an unknown resource is a 404" 404
expect_json "... in DRF's shape" '.' '{"detail":"Not found."}'
http GET /api/books/1/extra/
expect_status "a path below an item is a 404" 404
http GET /elsewhere
expect_status "a URL outside /api is a 404" 404

# --- list: page number ------------------------------------------------------------------------------
http GET /api/books/
expect_status "the list answers 200" 200
expect_json "page 1: count, next, previous" '[.count, .next, .previous]' "[12,\"$SERVE_URL/api/books/?page=2\",null]"
expect_json "page 1 holds default_page_size objects" '.results | length' 5
expect_json "in the model's ordering (-published)" '[.results[].id]' '[12,11,10,9,8]'
http GET '/api/books/?page=2'
expect_json "page 2 links back to the URL without page (as DRF)" '.previous' "\"$SERVE_URL/api/books/\""
http GET '/api/books/?page=3'
expect_json "the last page has no next" '[.next, (.results | length)]' '[null,2]'
http GET '/api/books/?page=4'
expect_status "a page past the last is a 404" 404
expect_json "... Invalid page." '.' '{"detail":"Invalid page."}'
http GET '/api/books/?page=0'
expect_status "page 0 is a 404" 404
http GET '/api/books/?page=abc'
expect_status "page abc is a 404" 404
http GET '/api/books/?page_size=100'
expect_json "page_size over the cap is cut to max_page_size (not an error)" '.results | length' 8
expect_json "... and next keeps the page_size asked" '.next' "\"$SERVE_URL/api/books/?page=2&page_size=100\""
http GET '/api/books/?page_size=-3'
expect_json "a page_size that is not a positive number falls back to the default" '.results | length' 5

# --- list: limit/offset -----------------------------------------------------------------------------
http GET '/api/books/?limit=4&offset=4'
expect_json "limit/offset: the slice" '[.results[].id]' '[8,7,6,5]'
expect_json "limit/offset: next and previous" '[.count, .next, .previous]' \
    "[12,\"$SERVE_URL/api/books/?limit=4&offset=8\",\"$SERVE_URL/api/books/?limit=4\"]"
http GET '/api/books/?limit=4&offset=8'
expect_json "limit/offset: the end has no next" '.next' 'null'
http GET '/api/books/?limit=4&offset=400'
expect_json "limit/offset past the end: empty results, not an error" '[.count, (.results | length)]' '[12,0]'

# --- list: cursor -----------------------------------------------------------------------------------
http GET '/api/books/?cursor=&page_size=5'
expect_json "cursor: first page, no count, no previous" '[has("count"), .previous, [.results[].id]]' \
    '[false,null,[12,11,10,9,8]]'
NEXT=$(jq -r .next <<<"$HTTP_BODY")
http GET "${NEXT#"$SERVE_URL"}"
expect_json "cursor: the next page continues after the last row" '[.results[].id]' '[7,6,5,4,3]'
PREVIOUS=$(jq -r .previous <<<"$HTTP_BODY")
psql -qX -c "INSERT INTO book (title, author_id, published) VALUES ('Newest', 1, '2030-01-01Z')" >/dev/null
http GET "${NEXT#"$SERVE_URL"}"
expect_json "cursor: stable under an insert before the page" '[.results[].id]' '[7,6,5,4,3]'
psql -qX -c "DELETE FROM book WHERE title = 'Newest'" >/dev/null
http GET "${PREVIOUS#"$SERVE_URL"}"
expect_json "cursor: previous goes back to the rows before" '[.results[].id]' '[12,11,10,9,8]'
CURSOR=$(sed -e 's/.*cursor=//' -e 's/&.*//' <<<"$NEXT")
http GET "/api/books/?page_size=5&cursor=${CURSOR%?}A"
expect_status "a tampered cursor is a 404" 404
expect_json "... Invalid cursor (DRF's words)" '.detail' '"Invalid cursor"'
http GET "/api/books/?page_size=5&ordering=title&cursor=$CURSOR"
expect_status "a cursor made for another ordering is refused" 404

# --- filters, ordering, search, fields, expand -----------------------------------------------------
http GET '/api/books/?price__gte=10&ordering=price,id&page_size=8'
expect_json "a lookup filter (price__gte) with ordering" '[.count, [.results[].price][0:2]]' '[3,["10.50","11.50"]]'
http GET '/api/books/?id__in=3,5,7&ordering=id'
expect_json "__in with commas" '[.results[].id]' '[3,5,7]'
http GET '/api/books/?author=2&ordering=id'
expect_json "a relation filters on its key" '[.results[].id]' '[1,4,7,10]'
http GET '/api/books/?author__name__icontains=%C3%A9mile&ordering=id'
expect_json "a lookup across a relation, unicode in the value" '[.results[].id]' '[3,6,9,12]'
http GET '/api/books/?ordering=author__name,-id&page_size=8'
expect_json "ordering on a related field" '[.results[].author][0:5]' '[1,1,1,1,2]'
http GET '/api/books/?search=book%201&ordering=id'
expect_json "search: every word in some searchable field" '[.results[].id]' '[1,10,11,12]'
http GET '/api/books/7/?fields=id,title'
expect_json "fields keeps those keys only" '.' '{"id":7,"title":"Book 7"}'
http GET '/api/books/7/?expand=author'
expect_json "expand embeds the related object" '.author' '{"id":2,"name":"Bob","email":"bob@example.com","born":null}'
http GET '/api/books/1/'
expect_json "many-to-many as an array of keys" '.tags' '[1,2]'
http GET '/api/books/?pric__gte=3'
expect_status "an unknown filter is a 400 (not the whole table)" 400
expect_json "... naming the argument" 'keys' '["pric__gte"]'
http GET '/api/books/?ordering=-nothing'
expect_status "an unknown ordering field is a 400" 400
expect_json "... under ordering" 'keys' '["ordering"]'
http GET '/api/books/?fields=id,nothing'
expect_status "an unknown field in ?fields= is a 400" 400
expect_json "... under fields" 'keys' '["fields"]'
http GET '/api/books/?expand=price'
expect_status "expand of a field that is no relation is a 400" 400
http GET '/api/books/?price__gte=ten'
expect_status "a malformed value for a decimal filter is a 400" 400
http GET '/api/books/?format=json&page_size=1'
expect_status "?format=json is accepted, as DRF's" 200
# Every lookup over HTTP, each with the ids it must select (book i: "Book i", price i + 0.5, published
# 2020-01-(1+i) at midnight UTC).
http GET '/api/books/?title__iexact=bOOK%207&fields=id'
expect_json "iexact ignores case" '[.results[].id]' '[7]'
http GET '/api/books/?title__istartswith=bOoK%201&ordering=id&fields=id'
expect_json "istartswith ignores case" '[.results[].id]' '[1,10,11,12]'
http GET '/api/books/?title__endswith=1&ordering=id&fields=id'
expect_json "endswith" '[.results[].id]' '[1,11]'
http GET '/api/authors/?name__iendswith=OB&fields=id'
expect_json "iendswith ignores case" '[.results[].id]' '[2]'
http GET '/api/books/?price__gt=10.5&ordering=id&fields=id'
expect_json "gt is strict" '[.results[].id]' '[11,12]'
http GET '/api/books/?price__lt=2.5&ordering=id&fields=id'
expect_json "lt is strict" '[.results[].id]' '[1]'
http GET '/api/books/?price__lte=2.5&ordering=id&fields=id'
expect_json "lte takes the bound" '[.results[].id]' '[1,2]'
# Time stamps at noon UTC, so that their date is the same in the session's time zone whatever it is.
IFS=, read -r IDES AFTER_IDES DECEMBER <<<"$(psql -qX -At -c "INSERT INTO book (title, author_id, published) VALUES
    ('Ides', 1, '2021-03-15T12:00:00Z'), ('After the ides', 1, '2021-03-16T12:00:00Z'),
    ('December', 1, '2021-12-15T12:00:00Z') RETURNING id" | paste -sd,)"
http GET '/api/books/?published__month=3&ordering=id&fields=id'
expect_json "__month on a timestamptz" '[.results[].id]' "[$IDES,$AFTER_IDES]"
http GET '/api/books/?published__day=15&ordering=id&fields=id'
expect_json "__day on a timestamptz" '[.results[].id]' "[$IDES,$DECEMBER]"
http GET '/api/books/?published__date=2021-03-15&ordering=id&fields=id'
expect_json "__date on a timestamptz" '[.results[].id]' "[$IDES]"
psql -qX -c "DELETE FROM book WHERE title IN ('Ides', 'After the ides', 'December')" >/dev/null

# --- the representation -----------------------------------------------------------------------------
http GET '/api/authors/?ordering=id'
expect_json "unicode passes through unchanged" '[.results[].name]' '["Ann Émile","Bob","Zoë 日本"]'
expect_json "null is null, a date YYYY-MM-DD" '[.results[].born]' '["1970-01-02",null,"1980-05-06"]'
http GET '/api/books/5/'
expect_json "decimal as a string, timestamptz in UTC with Z (as DRF), json as JSON" '[.price, .published, .meta]' \
    '["5.50","2020-01-06T00:00:00Z",{"k":[1,2]}]'
http GET '/api/books/99999/'
expect_status "an object that does not exist is a 404" 404
expect_json "... Not found." '.' '{"detail":"Not found."}'
http GET '/api/books/abc/'
expect_status "a key that cannot be an id is a 404 (as get_object_or_404)" 404

# --- HEAD and OPTIONS -------------------------------------------------------------------------------
http GET '/api/books/3/'
GET_LENGTH=$(http_header Content-Length)
http HEAD '/api/books/3/'
expect_status "HEAD answers as GET" 200
expect_eq "HEAD has GET's Content-Length" "$(http_header Content-Length)" "$GET_LENGTH"
http OPTIONS /api/books/
expect_status "OPTIONS on a list" 200
expect_eq "OPTIONS names the methods in Allow" "$(http_header Allow)" "GET, POST, HEAD, OPTIONS"
expect_json "OPTIONS describes the fields for POST (DRF's metadata)" \
    '[.name, .actions.POST.title.type, .actions.POST.title.max_length, .actions.POST.id.read_only, .actions.POST.price.type]' \
    '["Book List","string",300,true,"decimal"]'
expect_json "choices with their labels" '.actions.POST.status.choices' \
    '[{"value":"draft","display_name":"Draft"},{"value":"published","display_name":"Published"}]'
http OPTIONS /api/books/3/
expect_json "OPTIONS on an item describes PUT" '[.name, (.actions | keys)]' '["Book Instance",["PUT"]]'

# --- writes -----------------------------------------------------------------------------------------
http POST /api/authors/ -H 'Content-Type: application/json' -d '{"name": "Łukasz", "email": "l@example.com"}'
expect_status "POST creates: 201" 201
expect_json "... answering the object as stored" '[.name, .born]' '["Łukasz",null]'
NEW_ID=$(jq -r .id <<<"$HTTP_BODY")
expect_eq "... with Location naming it" "$(http_header Location)" "$SERVE_URL/api/authors/$NEW_ID/"
http POST /api/authors/ -H 'Content-Type: application/json' -d '{"name": "Twin", "email": "l@example.com"}'
expect_status "a unique violation is a 400" 400
expect_json "... naming the field" 'keys' '["email"]'
http POST /api/authors/ -H 'Content-Type: application/json' -d '{"email": "not an address"}'
expect_status "invalid fields are a 400" 400
expect_json "... every field with its message" 'keys' '["email","name"]'
http POST /api/books/ -H 'Content-Type: application/json' -d '{"title": "X", "author": 999}'
expect_status "a foreign key to nothing is a 400" 400
expect_json "... naming the field" 'keys' '["author"]'
http POST /api/authors/ -H 'Content-Type: application/json' -d '{"name": '
expect_status "malformed JSON is a 400" 400
expect_json "... with DRF's detail" '.detail | startswith("JSON parse error")' 'true'
http POST /api/authors/ -H 'Content-Type: text/plain' -d 'name=x'
expect_status "a body that is not JSON is a 415" 415
expect_json "... DRF's words" '.detail' '"Unsupported media type \"text/plain\" in request."'
BIG=$(head -c 5000 /dev/zero | tr '\0' 'a')
http POST /api/authors/ -H 'Content-Type: application/json' -d "{\"name\": \"$BIG\"}"
expect_status "a body over body_limit is a 413" 413
http PATCH "/api/authors/$NEW_ID/" -H 'Content-Type: application/json' -d '{"born": "1999-12-31"}'
expect_status "PATCH changes some fields: 200" 200
expect_json "... answering the whole object" '[.name, .born]' '["Łukasz","1999-12-31"]'
http PUT "/api/authors/$NEW_ID/" -H 'Content-Type: application/json' -d '{"name": "Luke", "email": "l@example.com"}'
expect_status "PUT replaces: 200" 200
expect_json "... a field left out of PUT keeps its value (as DRF's update)" '[.name, .born]' '["Luke","1999-12-31"]'
http PUT "/api/authors/$NEW_ID/" -H 'Content-Type: application/json' -d '{"name": "Luke"}'
expect_status "PUT without a required field is a 400" 400
http DELETE "/api/authors/$NEW_ID/"
expect_status "DELETE: 204" 204
http GET "/api/authors/$NEW_ID/"
expect_status "... and the object is gone" 404
http DELETE "/api/authors/$NEW_ID/"
expect_status "DELETE of what does not exist is a 404" 404
# Time stamps as DRF's DateTimeField writes them ("Z" for UTC, six digits of fraction or none) in every
# answer; either form of UTC is read.
http POST /api/books/ -H 'Content-Type: application/json' \
    -d '{"title": "Stamp", "author": 3, "published": "2024-05-01T10:30:00+00:00"}'
expect_json "a create answers a UTC time stamp with Z, read from +00:00" '[.published]' '["2024-05-01T10:30:00Z"]'
STAMP_ID=$(jq -r .id <<<"$HTTP_BODY")
http PATCH "/api/books/$STAMP_ID/" -H 'Content-Type: application/json' -d '{"published": "2024-05-01T10:30:00.5Z"}'
expect_json "... an update too, read from Z, six digits of fraction" '.published' '"2024-05-01T10:30:00.500000Z"'
http GET "/api/authors/3/?expand=books"
expect_json "... an embedded object too" '[.books[] | select(.title == "Stamp") | .published]' \
    '["2024-05-01T10:30:00.500000Z"]'
http GET '/api/books/?published=2024-05-01T10:30:00.500%2B00:00&fields=id'
expect_json "... and a filter reads +00:00" '[.results[].id]' "[$STAMP_ID]"
http GET '/api/books/?published=2024-05-01T10:30:00.5Z&fields=id'
expect_json "... and Z" '[.results[].id]' "[$STAMP_ID]"
# Years past 9999 (PostgreSQL has them, Python has not): refused on write as DRF's DateTimeField refuses them;
# rows holding them (inserted with SQL), a year BC or infinity are read without a 500, cursor pages included.
http PATCH "/api/books/$STAMP_ID/" -H 'Content-Type: application/json' -d '{"published": "9999-12-31T23:00:00-05:00"}'
expect_json "a time stamp past 9999 once in UTC is a 400 naming the field (DRF's words)" '.' \
    '{"published":["Datetime value out of range."]}'
http PATCH "/api/books/$STAMP_ID/" -H 'Content-Type: application/json' -d '{"published": "0001-01-01T00:30:00+01:00"}'
expect_json "... and one before year 1" '.' '{"published":["Datetime value out of range."]}'
http PATCH "/api/books/$STAMP_ID/" -H 'Content-Type: application/json' -d '{"published": "10000-01-01T00:00:00Z"}'
expect_json "... a five-digit year is a wrong format" '.published[0] | startswith("Datetime has wrong format.")' true
http PATCH "/api/books/$STAMP_ID/" -H 'Content-Type: application/json' -d '{"published": "9999-12-31T23:00:00+05:00"}'
expect_json "9999-12-31 with an offset that stays within the year is taken" '.published' '"9999-12-31T18:00:00Z"'
FAR_ID=$(psql -X -At -c "INSERT INTO book (title, author_id, published) VALUES ('Far', 1, '12345-06-01T10:00:00Z'),
    ('Old', 1, '0044-03-15 12:00:00+00 BC'), ('Never', 1, 'infinity') RETURNING id" | head -1)
http GET "/api/books/$FAR_ID/"
expect_json "a row of year 12345 is read" '.published' '"12345-06-01T10:00:00Z"'
http GET '/api/books/?ordering=-published&page_size=4&fields=title,published'
expect_json "... in a list too, beside a year BC and infinity (PostgreSQL's words)" '[.results[].published]' \
    '["infinity","12345-06-01T10:00:00Z","9999-12-31T18:00:00Z","2020-01-13T00:00:00Z"]'
WALKED="" STATUSES="" URL="/api/books/?pagination=cursor&ordering=published&page_size=5&fields=id"
while [ -n "$URL" ]; do
    http GET "$URL"
    STATUSES="$STATUSES $HTTP_STATUS"
    WALKED="$WALKED$(jq -r '[.results[].id | tostring] | join(",")' <<<"$HTTP_BODY"),"
    URL=$(jq -r '.next // empty' <<<"$HTTP_BODY")
    URL=${URL#"$SERVE_URL"}
done
expect_eq "cursor pages walk past the rows of year 12345, BC and infinity" "$STATUSES ${WALKED%,}" \
    " 200 200 200 200 $(psql -X -At -c "SELECT string_agg(id::text, ',' ORDER BY published, id) FROM book")"
http GET "$(jq -r .previous <<<"$HTTP_BODY" | sed "s|^$SERVE_URL||")"
expect_json "... and back" '[.results[].id]' "[$(psql -X -At -c "SELECT string_agg(id::text, ',') FROM (SELECT id FROM book
    ORDER BY published, id OFFSET 10 LIMIT 5) b")]"
psql -qX -c "DELETE FROM book WHERE title IN ('Far', 'Old', 'Never')" >/dev/null
http DELETE "/api/books/$STAMP_ID/"
expect_status "... (the book deleted again)" 204

http PATCH /api/books/ -H 'Content-Type: application/json' -d '{}'
expect_status "PATCH on a list is a 405" 405
expect_json "... Method \"PATCH\" not allowed." '.detail' '"Method \"PATCH\" not allowed."'
expect_eq "... with Allow" "$(http_header Allow)" "GET, POST, HEAD, OPTIONS"
http POST /api/books/3/ -H 'Content-Type: application/json' -d '{}'
expect_eq "POST on an item is a 405 with the item's Allow" "$HTTP_STATUS $(http_header Allow)" \
    "405 GET, PUT, PATCH, DELETE, HEAD, OPTIONS"

# --- a read-only model (access write=none) ------------------------------------------------------------
http POST /api/genres/ -H 'Content-Type: application/json' -d '{"name": "x"}'
expect_eq "a write on a read-only model is a 405 naming the reads in Allow" "$HTTP_STATUS $(http_header Allow)" \
    "405 GET, HEAD, OPTIONS"
http DELETE /api/genres/1/
expect_status "... on its items too" 405
http OPTIONS /api/genres/
expect_json "its OPTIONS describe no write action" 'has("actions")' 'false'
http GET /api/genres/
expect_status "... and it reads as any other" 200

# --- injection: names, values, headers, body fields -------------------------------------------------
INJECT="'; DROP TABLE book; --"
STATUSES=""
for query in "id;--=1" "author__password=x" "title%27%3B--=x" "price__gte=$(jq -rn --arg v "$INJECT" '$v|@uri')" \
    "ordering=$(jq -rn --arg v "id;DROP TABLE book" '$v|@uri')" "fields=$(jq -rn --arg v "id,(select 1)" '$v|@uri')" \
    "expand=$(jq -rn --arg v "author;--" '$v|@uri')" "id__in=1,$(jq -rn --arg v "$INJECT" '$v|@uri')" \
    "published__year=$(jq -rn --arg v "2020 OR 1=1" '$v|@uri')"; do
    http GET "/api/books/?$query"
    STATUSES="$STATUSES $HTTP_STATUS"
done
expect_eq "every injected query name or typed value gets a 400" "$STATUSES" " 400 400 400 400 400 400 400 400 400"
http GET "/api/books/?title=$(jq -rn --arg v "$INJECT" '$v|@uri')"
expect_json "an injected text value is plain data: it matches nothing" '.count' 0
http GET "/api/books/$(jq -rn --arg v "1 OR 1=1" '$v|@uri')/"
expect_status "an injected key in the path is a 404" 404
http GET /api/books/ -H 'Host: evil.example/x?y'
expect_status "a Host header that is no host name is a 400" 400
http POST /api/books/ -H "Content-Type: application/json$INJECT" -d '{"title": "T", "author": 1}'
expect_status "an injected Content-Type is a 415" 415
http GET /api/books/ -H "Authorization: Bearer $INJECT"
expect_status "an injected Authorization header is a 401" 401
http POST /api/books/ -H 'Content-Type: application/json' \
    -d "{\"title\": \"$INJECT\", \"author\": \"1; DROP TABLE book\", \"price\": \"1); DROP TABLE book; --\"}"
expect_status "injected body values of typed fields are a 400" 400
http POST /api/books/ -H 'Content-Type: application/json' -d "{\"title; DROP TABLE book\": \"x\", \"author\": 1}"
expect_status "an injected body field name is a 400" 400
expect_eq "the table is unchanged after every attempt" "$(snapshot)" "$BEFORE"

serve_stop
expect_eq "SIGTERM stops the server with exit 0" "$SERVE_RC" 0
tap_done
