#!/bin/bash
# serve_gather.sh - single gets by key that arrive together are read in one statement (gather.c): a burst
# of parallel GETs of objects, present and missing, integer and uuid keys, each answered with its own
# object or a 404, and PostgreSQL's log showing statements that read several keys at once; keys written
# otherwise than PostgreSQL writes them, HEAD and gets with a query string still answer right; among those,
# ?fields= with ?expand= of a reverse relation (a key like any other: shown when listed, else not).
source tests/lib/pg.sh
source tests/lib/tap.sh
tap_plan 24
source tests/lib/serve.sh

tap_fresh_db serve_gather
tap_workdir
MODELS="$TAP_WORKDIR/models.pdm"
cp "$TESTS_ROOT/integration/serve_gather/models.pdm" "$MODELS"
cat >>"$MODELS" <<'PDM'

# authors and their books: a reverse relation for ?expand= with ?fields=
model Author {
  name  string(100)
}

model Book {
  title   string(100)
  author  Author  on_delete=cascade  related=books
}
PDM
"$PRODATA" makemigrations --models "$MODELS" --migrations "$TAP_WORKDIR/migrations" >/dev/null 2>&1 &&
    "$PRODATA" migrate --models "$MODELS" --migrations "$TAP_WORKDIR/migrations" >/dev/null 2>&1 ||
    { echo "serve_gather: migrate failed" >&2; exit 1; }
psql -qX -v ON_ERROR_STOP=1 >/dev/null <<'SQL'
INSERT INTO note (body) SELECT 'note ' || i FROM generate_series(1, 60) i;
INSERT INTO author (name) VALUES ('Le Guin'), ('Herbert');
INSERT INTO book (title, author_id) VALUES ('Earthsea', 1), ('Dune', 2), ('Lathe', 1);
INSERT INTO thing (code, name) SELECT ('00000000-0000-4000-8000-' || lpad(i::text, 12, '0'))::uuid, 'thing ' || i
  FROM generate_series(1, 8) i;
SQL
# Every statement of the server's new connections, with its parameters, in PostgreSQL's log.
LOG_FILE="$(sql postgres "SHOW data_directory")/../postgres.log"
LOG_START=$(stat -c %s "$LOG_FILE" 2>/dev/null || echo 0)
sql postgres "ALTER DATABASE serve_gather SET log_min_duration_statement = 0" >/dev/null
serve_start --models "$MODELS" --anonymous-role postgres --worker-threads 1 || exit 1

# burst NAME URL_PATH...: every path fetched by one curl, 32 at a time; $TAP_WORKDIR/NAME.N holds the Nth
# answer's body, $TAP_WORKDIR/NAME.status "N STATUS" lines
burst() {
    local name=$1 i=0 config="$TAP_WORKDIR/$name.cfg" path
    shift
    : >"$config"
    for path in "$@"; do
        i=$((i + 1))
        [ "$i" = 1 ] || echo next >>"$config"
        printf 'url = "%s%s"\noutput = "%s/%s.%d"\nwrite-out = "%d %%{http_code}\\n"\n' \
            "$SERVE_URL" "$path" "$TAP_WORKDIR" "$name" "$i" "$i" >>"$config"
    done
    curl -s --no-progress-meter --max-time 30 --parallel --parallel-immediate --parallel-max 32 -K "$config" \
        >"$TAP_WORKDIR/$name.status"
}

# mismatches NAME EXPECTED...: the answers of burst NAME whose status and body are not as EXPECTED (one
# "STATUS ID" per request, ID the key the body must name; "404 -" for {"detail":"Not found."})
mismatches() {
    local name=$1 i=0 expected status id body
    shift
    for expected in "$@"; do
        i=$((i + 1))
        status=$(awk -v n="$i" '$1 == n { print $2 }' "$TAP_WORKDIR/$name.status")
        body=$(cat "$TAP_WORKDIR/$name.$i" 2>/dev/null)
        read -r want_status id <<<"$expected"
        if [ "$want_status" = 404 ]; then
            [ "$status" = 404 ] && [ "$body" = '{"detail":"Not found."}' ] && continue
        else
            [ "$status" = "$want_status" ] && grep -qF "$id" <<<"$body" && continue
        fi
        echo "request $i: expected $expected, got $status $body"
    done
}

# 1. 400 gets of notes 1..80 (61..80 do not exist), in an order that repeats keys within a burst.
PATHS=()
EXPECT=()
for i in $(seq 1 400); do
    id=$(( (i * 37) % 80 + 1 ))
    PATHS+=("/api/notes/$id/")
    if [ "$id" -le 60 ]; then EXPECT+=("200 \"id\":$id,\"body\":\"note $id\""); else EXPECT+=("404 -"); fi
done
burst notes "${PATHS[@]}"
expect_eq "400 parallel gets: each its own note or a 404" "$(mismatches notes "${EXPECT[@]}" | head -5)" ""
expect_eq "400 parallel gets: 400 answers" "$(wc -l <"$TAP_WORKDIR/notes.status")" "400"

# 2. PostgreSQL read several keys in one statement.
sleep 0.2
GATHERED=$(tail -c +"$((LOG_START + 1))" "$LOG_FILE" | grep -oE "parameters: \\\$1 = '\\{[0-9,]+\\}'" |
    awk -F, '{ if (NF > max) max = NF } END { print max + 0 }')
if [ "$GATHERED" -ge 2 ]; then
    tap_ok "gets that came together were read in one statement (up to $GATHERED keys)"
else
    tap_not_ok "gets that came together were read in one statement" "largest key list: $GATHERED" \
        "$(tail -c +"$((LOG_START + 1))" "$LOG_FILE" | grep -m3 -A1 'ANY' )"
fi

# 3. uuid keys: lower case (gathered) and upper case (read alone), present and missing.
PATHS=()
EXPECT=()
for i in $(seq 1 120); do
    n=$(( (i * 7) % 10 + 1 ))
    code="00000000-0000-4000-8000-$(printf '%012d' "$n")"
    [ $((i % 3)) = 0 ] && code=${code^^}
    PATHS+=("/api/things/$code/")
    if [ "$n" -le 8 ]; then EXPECT+=("200 \"name\":\"thing $n\""); else EXPECT+=("404 -"); fi
done
burst things "${PATHS[@]}"
expect_eq "120 parallel gets by uuid (either case): each its own thing or a 404" \
    "$(mismatches things "${EXPECT[@]}" | head -5)" ""
run_cmd curl -s "$SERVE_URL/api/things/00000000-0000-4000-8000-000000000003/"
expect_eq "a uuid key's object names the key as PostgreSQL writes it" \
    "$OUT" '{"code":"00000000-0000-4000-8000-000000000003","name":"thing 3"}'

# 4. Keys that are not as PostgreSQL writes them, and requests that are not plain gets.
run_cmd curl -s -w ' %{http_code}' "$SERVE_URL/api/notes/007/"
expect_eq "a key with leading zeros: the object" "$OUT" '{"id":7,"body":"note 7"} 200'
run_cmd curl -s -w ' %{http_code}' "$SERVE_URL/api/notes/-0/"
expect_eq "a negative zero key: 404" "$OUT" '{"detail":"Not found."} 404'
run_cmd curl -s -w ' %{http_code}' "$SERVE_URL/api/notes/99999999999999999999/"
expect_eq "a key past bigint: 404" "$OUT" '{"detail":"Not found."} 404'
run_cmd curl -s -w ' %{http_code}' "$SERVE_URL/api/notes/12/?fields=body"
expect_eq "a get with a query string: read alone, fields applied" "$OUT" '{"body":"note 12"} 200'
run_cmd curl -s -I -o /dev/null -w '%{http_code}' "$SERVE_URL/api/notes/12/"
expect_eq "HEAD of an object: 200" "$OUT" "200"
PATHS=()
EXPECT=()
for i in $(seq 1 64); do
    PATHS+=("/api/notes/$(( i % 20 + 1 ))/?fields=id")
    EXPECT+=("200 {\"id\":$(( i % 20 + 1 ))}")
done
burst fields "${PATHS[@]}"
expect_eq "64 parallel gets with a query string: each its own" "$(mismatches fields "${EXPECT[@]}" | head -5)" ""

# 5. ?fields= with ?expand= of a reverse relation, on an item and a list: listed, shown; left out, not shown;
# named but not expanded, the unknown field it was. A forward relation obeys ?fields= as before.
BOOKS='[{"id":1,"title":"Earthsea","author":1}, {"id":3,"title":"Lathe","author":1}]'
run_cmd curl -s -w ' %{http_code}' "$SERVE_URL/api/authors/1/?expand=books&fields=name"
expect_eq "an item, books expanded, fields=name: no books" "$OUT" '{"name":"Le Guin"} 200'
run_cmd curl -s -w ' %{http_code}' "$SERVE_URL/api/authors/1/?expand=books&fields=id,books"
expect_eq "an item, books expanded, fields=id,books: both" "$OUT" "{\"id\":1,\"books\":$BOOKS} 200"
run_cmd curl -s -w ' %{http_code}' "$SERVE_URL/api/authors/1/?fields=books,name&expand=books"
expect_eq "an item, fields=books,name: in that order" "$OUT" "{\"books\":$BOOKS,\"name\":\"Le Guin\"} 200"
run_cmd curl -s -w ' %{http_code}' "$SERVE_URL/api/authors/?expand=books&fields=name"
expect_eq "a list, books expanded, fields=name: no books" "$OUT" \
    '{"count":2,"next":null,"previous":null,"results":[{"name":"Le Guin"}, {"name":"Herbert"}]} 200'
run_cmd curl -s -w ' %{http_code}' "$SERVE_URL/api/authors/?expand=books&fields=name,books&name=Herbert"
expect_eq "a list, books expanded, fields=name,books: both" "$OUT" \
    '{"count":1,"next":null,"previous":null,"results":[{"name":"Herbert","books":[{"id":2,"title":"Dune","author":2}]}]} 200'
run_cmd curl -s -w ' %{http_code}' "$SERVE_URL/api/authors/1/?fields=id,books"
expect_eq "fields=id,books without expanding books: 400, an unknown field" "$OUT" \
    '{"fields":["Author has no field \"books\"; fields: id, name; related: books"]} 400'
run_cmd curl -s -w ' %{http_code}' "$SERVE_URL/api/authors/?expand=books&fields=id,nope"
expect_eq "fields=id,nope with books expanded: 400, an unknown field" "$OUT" \
    '{"fields":["Author has no field \"nope\"; fields: id, name; related: books"]} 400'
run_cmd curl -s -w ' %{http_code}' "$SERVE_URL/api/books/2/?expand=author&fields=id"
expect_eq "a forward relation expanded, fields=id: no author" "$OUT" '{"id":2} 200'

# 6. A shared statement that fails for one key's row (here a view whose function raises for note 13) leaves
# every other get its own answer; a key with two rows (the view repeats note 20) is a 409, as alone.
serve_stop
psql -qX -v ON_ERROR_STOP=1 >/dev/null <<'SQL'
ALTER TABLE note RENAME TO note_t;
CREATE FUNCTION body_of(i bigint, b text) RETURNS text LANGUAGE plpgsql AS
  $$ BEGIN IF i = 13 THEN RAISE division_by_zero; END IF; RETURN b; END $$;
CREATE VIEW note AS SELECT id, body_of(id, body)::varchar(100) AS body FROM note_t
  UNION ALL SELECT id, body FROM note_t WHERE id = 20;
SQL
serve_start --models "$MODELS" --anonymous-role postgres --worker-threads 1 || exit 1
PATHS=()
EXPECT=()
for i in $(seq 1 200); do
    if [ $((i % 2)) = 0 ]; then PATHS+=("/api/notes/12/"); EXPECT+=("200 \"id\":12,\"body\":\"note 12\"");
    else PATHS+=("/api/notes/13/"); EXPECT+=("400 division_by_zero"); fi
done
burst failing "${PATHS[@]}"
expect_eq "200 parallel gets, half of a row that fails: the others answered as alone" \
    "$(mismatches failing "${EXPECT[@]}" | head -5)" ""
PATHS=()
EXPECT=()
for i in $(seq 1 64); do
    if [ $((i % 2)) = 0 ]; then PATHS+=("/api/notes/20/"); EXPECT+=("409 more than one Note");
    else PATHS+=("/api/notes/21/"); EXPECT+=("200 \"id\":21,\"body\":\"note 21\""); fi
done
burst twice "${PATHS[@]}"
expect_eq "64 parallel gets, half of a key with two rows: 409 for those, as alone" \
    "$(mismatches twice "${EXPECT[@]}" | head -5)" ""
run_cmd curl -s -w ' %{http_code}' "$SERVE_URL/api/notes/020/"
expect_out "the same key read alone: 409" '^\{"detail":"get\(\) returned more than one Note"\} 409$'
run_cmd curl -s -w ' %{http_code}' "$SERVE_URL/api/notes/13/"
expect_out "the failing row alone: its own error" 'division_by_zero.* 400$'

# 7. Nothing was written and the server logged no failure.
expect_eq "no server error logged" "$(grep -c 'status=5' "$SERVE_LOG")" "0"

sql postgres "ALTER DATABASE serve_gather RESET log_min_duration_statement" >/dev/null
serve_stop
tap_done
