#!/bin/bash
# serve_batch.sh - single creates of one model that wait for the same COMMIT go as one multi-row INSERT
# (batch.c): behind a slow create (an AFTER INSERT trigger that sleeps keeps the group's COMMIT in flight),
# the creates sent meanwhile share one statement. Every create is answered once, with its own object, each
# row is written once, and the row counters (added by the shared transactions themselves) stay equal to
# count(*), also when the shared INSERT fails and its creates run again alone, and when the server's
# backends are terminated under creates.
source tests/lib/pg.sh
source tests/lib/tap.sh
tap_plan 18
source tests/lib/serve.sh

tap_fresh_db serve_batch
tap_workdir
MODELS="$TAP_WORKDIR/models.pdm"
cp "$TESTS_ROOT/integration/serve_batch/models.pdm" "$MODELS"
"$PRODATA" makemigrations --models "$MODELS" --migrations "$TAP_WORKDIR/migrations" >/dev/null 2>&1 &&
    "$PRODATA" migrate --models "$MODELS" --migrations "$TAP_WORKDIR/migrations" >/dev/null 2>&1 ||
    { echo "serve_batch: migrate failed" >&2; exit 1; }
psql -qX -v ON_ERROR_STOP=1 >/dev/null <<'SQL'
CREATE FUNCTION slow_row() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN PERFORM pg_sleep(2.5); RETURN NULL; END $$;
CREATE TRIGGER slow_note AFTER INSERT ON note FOR EACH ROW WHEN (NEW.body = 'Slow') EXECUTE FUNCTION slow_row();
CREATE TRIGGER slow_memo AFTER INSERT ON memo FOR EACH ROW WHEN (NEW.body = 'Slow') EXECUTE FUNCTION slow_row();
CREATE TRIGGER slow_item AFTER INSERT ON item FOR EACH ROW WHEN (NEW.name = 'Slow') EXECUTE FUNCTION slow_row();
-- memo drops a row whose body is 'Drop' without an error, as a trigger of a user's may
CREATE FUNCTION drop_row() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN RETURN NULL; END $$;
CREATE TRIGGER drop_memo BEFORE INSERT ON memo FOR EACH ROW WHEN (NEW.body = 'Drop') EXECUTE FUNCTION drop_row();
INSERT INTO tag (name) VALUES ('red'), ('blue');
CREATE TABLE statements (tab text, rows bigint);
CREATE FUNCTION log_statement() RETURNS trigger LANGUAGE plpgsql AS
  $$ BEGIN INSERT INTO statements SELECT TG_TABLE_NAME, count(*) FROM new_rows; RETURN NULL; END $$;
CREATE TRIGGER log_note AFTER INSERT ON note REFERENCING NEW TABLE AS new_rows
  FOR EACH STATEMENT EXECUTE FUNCTION log_statement();
CREATE TRIGGER log_item AFTER INSERT ON item REFERENCING NEW TABLE AS new_rows
  FOR EACH STATEMENT EXECUTE FUNCTION log_statement();
SQL
serve_start --models "$MODELS" --anonymous-role postgres --worker-threads 1 --pool-size 8 || exit 1

# post PATH BODY: one create; prints its status and body on one line
post() {
    curl -s --max-time 30 -w ' %{http_code}\n' -X POST -H 'Content-Type: application/json' -d "$2" "$SERVE_URL$1"
}
# behind PATH SLOW_BODY BODY...: a slow create, then (once it sleeps in its trigger) each BODY at once
# behind it, all from one curl so that they arrive together; $TAP_WORKDIR/answers.N gets the Nth BODY's
# answer and its status ("BODY STATUS")
behind() {
    local path=$1 slow=$2 i=0 config="$TAP_WORKDIR/behind.cfg" slow_pid body
    shift 2
    rm -f "$TAP_WORKDIR"/answers.*
    post "$path" "$slow" >"$TAP_WORKDIR/answers.slow" &
    slow_pid=$!
    for _ in $(seq 1 100); do
        [ "$(psql -tAX -c "SELECT count(*) FROM pg_stat_activity WHERE wait_event = 'PgSleep'")" = 1 ] && break
        sleep 0.05
    done
    : >"$config"
    for body in "$@"; do
        i=$((i + 1))
        [ "$i" = 1 ] || echo next >>"$config"
        printf 'header = "Content-Type: application/json"\nwrite-out = "%%{filename_effective} %%{http_code}\\n"\n' >>"$config"
        printf 'max-time = 30\nurl = "%s%s"\noutput = "%s/answers.%d.body"\ndata = "%s"\n' "$SERVE_URL" "$path" \
            "$TAP_WORKDIR" "$i" "${body//\"/\\\"}" >>"$config"
    done
    curl -s --no-progress-meter --parallel --parallel-immediate --parallel-max 50 -K "$config" |
        while read -r file status; do
            echo "$(cat "$file") $status" >"${file%.body}"
        done
    wait "$slow_pid"
}
# statuses: "STATUS:N ..." over the answers of the last behind call
statuses() {
    cat "$TAP_WORKDIR"/answers.[0-9] "$TAP_WORKDIR"/answers.[0-9][0-9] 2>/dev/null | awk '{ print $NF }' | sort | uniq -c | awk '{ printf "%s:%s ", $2, $1 }'
}
# counted TABLE: "rows counted/rows in the table"
counted() {
    psql -tAX -c "SELECT (SELECT coalesce(sum(n), 0) FROM prodata_row_counts WHERE relid = '$1'::regclass)
        || '/' || (SELECT count(*) FROM $1)"
}

# --- creates that give no field at all: one row each --------------------------------------------------
behind /api/notes/ '{"body": "Slow"}' '{}' '{}' '{}' '{}' '{}' '{}'
expect_eq "six empty creates behind a slow one: each 201" "$(statuses)" "201:6 "
expect_eq "... in multi-row INSERTs (fewer statements than creates)" \
    "$(psql -tAX -c "SELECT sum(rows) || ' rows, ' || (count(*) < sum(rows)) FROM statements WHERE tab = 'note'")" \
    "7 rows, true"
expect_eq "... seven rows written, one per create" "$(psql -tAX -c "SELECT count(*) FROM note")" 7
expect_eq "... and the row counter says so" "$(counted note)" "7/7"
http POST /api/notes/ -H 'Content-Type: application/json' -d '[{}, {}, {}]'
expect_eq "a bulk create of three empty objects: 201 with three objects" "$HTTP_STATUS $(jq length <<<"$HTTP_BODY")" "201 3"
expect_eq "... three rows written" "$(counted note)" "10/10"

# --- a trigger that drops a row of a shared INSERT: no row written twice ---------------------------------
behind /api/memos/ '{"body": "Slow"}' '{"body": "a"}' '{"body": "Drop"}' '{"body": "b"}'
expect_eq "a shared INSERT one of whose rows a trigger dropped: each other row written once" \
    "$(psql -tAX -c "SELECT string_agg(body || ':' || n, ' ' ORDER BY body) FROM (SELECT body, count(*) n FROM memo
        WHERE body IN ('a', 'b') GROUP BY body) c")" "a:1 b:1"
expect_eq "... and the dropped one is not answered 201" "$(awk '{ print $NF }' "$TAP_WORKDIR/answers.2")" 500

# --- different fields, nulls, defaults and tags in one INSERT; a duplicate among them -------------------
behind /api/items/ '{"name": "Slow"}' '{"name": "i1"}' '{"name": "i2", "size": null, "tags": [1]}' \
    '{"name": "i3", "color": "blue", "size": 3}' '{"name": "i4", "tags": [2, 1]}' '{"name": "i5", "size": 5}'
expect_eq "five creates of different fields in one INSERT: each answered 201 with its own object" \
    "$(for i in 1 2 3 4 5; do sed 's/ [0-9]*$//' "$TAP_WORKDIR/answers.$i" |
        jq -c '[.name, .size, .color, (.tags | sort)]'; awk '{ print $NF }' "$TAP_WORKDIR/answers.$i"; done | paste -sd' ')" \
    '["i1",null,"red",[]] 201 ["i2",null,"red",[1]] 201 ["i3",3,"blue",[]] 201 ["i4",null,"red",[1,2]] 201 ["i5",5,"red",[]] 201'
expect_eq "... and each row holds what its answer says" \
    "$(psql -tAX -c "SELECT string_agg(i.name || '=' || i.id || ':' || coalesce(i.size::text, '-') || ':' || i.color || ':' ||
        coalesce((SELECT string_agg(t.tag_id::text, ',' ORDER BY t.tag_id) FROM item_tags t WHERE t.item_id = i.id), ''),
        ' ' ORDER BY i.name) FROM item i WHERE i.name LIKE 'i_'")" \
    "$(for i in 1 2 3 4 5; do sed 's/ [0-9]*$//' "$TAP_WORKDIR/answers.$i" |
        jq -r '"\(.name)=\(.id):\(.size // "-"):\(.color):\(.tags | sort | map(tostring) | join(","))"'; done | paste -sd' ')"
expect_eq "... in fewer INSERTs than rows" \
    "$(psql -tAX -c "SELECT sum(rows) || ' rows, ' || (count(*) < sum(rows)) FROM statements WHERE tab = 'item'")" \
    "6 rows, true"
behind /api/items/ '{"name": "Slow 2"}' '{"name": "j1", "tags": [1]}' '{"name": "i1", "size": 1}' '{"name": "j2"}'
expect_eq "a duplicate in a shared INSERT: it gets its own 400, the others 201" \
    "$(for i in 1 2 3; do awk '{ print $NF }' "$TAP_WORKDIR/answers.$i"; done | paste -sd' ') $(sed 's/ [0-9]*$//' "$TAP_WORKDIR/answers.2" | jq -c .)" \
    '201 400 201 {"name":["item with this name already exists."]}'
expect_eq "... each written once, the counter exact" \
    "$(psql -tAX -c "SELECT count(*) FROM item WHERE name IN ('j1', 'j2')")/$(counted item)" "2/9/9"

# --- many creates at once with failures among them: the counter stays count(*) -------------------------
seq 1 80 | xargs -P 24 -I{} sh -c 'n={}; name=k$n; [ $((n % 7)) = 0 ] && name=i1;
    curl -s -o /dev/null -w "%{http_code}\n" --max-time 30 -X POST -H "Content-Type: application/json" \
        -d "{\"name\": \"$name\", \"tags\": [$((n % 2 + 1))]}" '"$SERVE_URL"'/api/items/' >"$TAP_WORKDIR/many"
expect_eq "80 creates at once, 11 duplicates among them: 69 201, 11 400" \
    "$(sort "$TAP_WORKDIR/many" | uniq -c | awk '{ printf "%s:%s ", $2, $1 }')" "201:69 400:11 "
expect_eq "... the row counters equal count(*)" "$(counted item) $(counted note) $(counted memo)" \
    "$(psql -tAX -c "SELECT count(*) FROM item")/$(psql -tAX -c "SELECT count(*) FROM item") 10/10 $(psql -tAX -c "SELECT count(*) FROM memo")/$(psql -tAX -c "SELECT count(*) FROM memo")"

# --- backends terminated under creates: a 201 always has its row, no row is written twice -----------------
psql -qX -v ON_ERROR_STOP=1 >/dev/null <<'SQL'
CREATE FUNCTION pause_statement() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN PERFORM pg_sleep(0.05); RETURN NULL; END $$;
CREATE TRIGGER pause_note AFTER INSERT ON note FOR EACH STATEMENT EXECUTE FUNCTION pause_statement();
SQL
seq 1 150 | xargs -P 24 -I{} curl -s -o /dev/null -w "{} %{http_code}\n" --max-time 30 -X POST \
    -H 'Content-Type: application/json' -d '{"body": "t{}"}' "$SERVE_URL/api/notes/" >"$TAP_WORKDIR/cut" &
CREATES=$!
sleep 0.5
psql -qX -c "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name = 'prodata serve'" >/dev/null
wait $CREATES
expect_eq "150 creates while the server's backends are terminated: 201 or 503 only" \
    "$(awk '$2 != 201 && $2 != 503' "$TAP_WORKDIR/cut" | wc -l)" 0
expect_eq "... every 201 has its row, and no row is there twice" \
    "$(psql -tAX -c "SELECT count(*) FROM unnest(string_to_array('$(awk '$2 == 201 { printf "t%s,", $1 }' "$TAP_WORKDIR/cut")', ','))
        b WHERE b <> '' AND NOT EXISTS (SELECT 1 FROM note WHERE body = b)")/$(psql -tAX -c "SELECT count(*) FROM
        (SELECT body FROM note WHERE body LIKE 't%' GROUP BY body HAVING count(*) > 1) twice")" "0/0"
expect_eq "... and the row counter equals count(*)" "$(counted note | awk -F/ '{ print ($1 == $2) }')" 1
serve_stop
