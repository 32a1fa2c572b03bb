#!/bin/bash
# serve_ops.sh - `prodata serve` as an operator runs it: /healthz, /metrics, /openapi.json, CORS, the access
# log, models reloaded by SIGHUP and by `prodata migrate`'s notification (a broken model file leaves the
# running models in place), reloads under load with no failed request, SIGTERM draining the requests under
# way, a rate limit as DRF's (at most N requests in any period, 429 with Retry-After until the oldest leaves
# the window), and 503 with Retry-After, quickly, while the database is down (a second throwaway cluster is
# stopped, never the shared one), then recovery when it is back.
source tests/lib/pg.sh
source tests/lib/tap.sh
tap_plan 34
source tests/lib/serve.sh

tap_fresh_db serve_ops
tap_workdir
MODELS="$TAP_WORKDIR/models.pdm"
cp "$TESTS_ROOT/integration/serve/models.pdm" "$MODELS"
migrate() {
    "$PRODATA" makemigrations --models "$MODELS" --migrations "$TAP_WORKDIR/migrations" >/dev/null 2>&1 &&
        "$PRODATA" migrate --models "$MODELS" --migrations "$TAP_WORKDIR/migrations" >/dev/null 2>&1
}
migrate
psql -qX -v ON_ERROR_STOP=1 >/dev/null <<'SQL'
INSERT INTO author (name, email) VALUES ('Ann', 'ann@example.com');
INSERT INTO book (title, author_id) SELECT 'Book ' || i, 1 FROM generate_series(1, 30) i;
SQL

serve_start --models "$MODELS" --anonymous-role postgres --cors-origins "https://app.example" \
    --shutdown-timeout-ms 15000 || exit 1

# --- health, metrics, OpenAPI -----------------------------------------------------------------------
http GET /healthz
expect_json "/healthz answers 200 with the database reachable" '.status' '"ok"'
http POST /healthz
expect_status "/healthz takes GET and HEAD only" 405
http GET /api/books/
http GET /metrics
expect_status "/metrics answers 200" 200
content_type=$(http_header Content-Type)
expect_eq "... in Prometheus' text format" "${content_type%%;*}" "text/plain"
http GET /openapi.json
expect_json "/openapi.json is an OpenAPI 3.1 document" '.openapi | startswith("3.1")' 'true'

# --- CORS -------------------------------------------------------------------------------------------
http GET /api/books/ -H 'Origin: https://app.example'
expect_eq "an allowed origin gets Access-Control-Allow-Origin" "$(http_header Access-Control-Allow-Origin)" \
    "https://app.example"
http GET /api/books/ -H 'Origin: https://evil.example'
expect_eq "another origin gets no CORS header" "$(http_header Access-Control-Allow-Origin)" ""
http OPTIONS /api/books/ -H 'Origin: https://app.example' -H 'Access-Control-Request-Method: POST'
expect_status "a preflight is answered 204" 204
allowed_methods=$(http_header Access-Control-Allow-Methods)
expect_eq "... naming the methods" "$allowed_methods" "GET, POST, PUT, PATCH, DELETE, HEAD, OPTIONS"

# --- the access log ---------------------------------------------------------------------------------
http GET '/api/books/?page=2'
if grep -qE 'request method=GET path=/api/books/ status=200 bytes=[0-9]+ ms=[0-9.]+ role=postgres address=127.0.0.1' "$SERVE_LOG"; then
    tap_ok "one access-log line per request: method, path, status, bytes, duration, role, address"
else
    tap_not_ok "one access-log line per request" "$(tail -5 "$SERVE_LOG")"
fi

# --- reload: SIGHUP, prodata migrate, a broken file ---------------------------------------------------
wait_for() { # wait_for PATH STATUS: polls (bounded, 10 s) until GET PATH answers STATUS
    local waited
    for waited in $(seq 1 100); do
        http GET "$1"
        [ "$HTTP_STATUS" = "$2" ] && return 0
        sleep 0.1
    done
    return 1
}
http GET /healthz
GENERATION=$(jq .generation <<<"$HTTP_BODY")
sed -i 's/^model Book {/model Book {\n  resource "volumes"/' "$MODELS"
serve_reload
check "SIGHUP reloads the models: /api/volumes/ answers" wait_for /api/volumes/ 200
http GET /api/books/
expect_status "... and /api/books/ is gone" 404
http GET /healthz
expect_json "... in a new catalog generation" ".generation > $GENERATION" 'true'
cp "$MODELS" "$TAP_WORKDIR/good.pdm"
echo "model Broken {" >>"$MODELS"
serve_reload
poll_file "$SERVE_LOG" "reloading the models" 10 && tap_ok "a model file that does not load is logged"
http GET /api/volumes/
expect_status "... and the running models stay" 200
cp "$TAP_WORKDIR/good.pdm" "$MODELS"
printf 'model Publisher {\n  name string(100)\n}\n' >>"$MODELS"
migrate
check "prodata migrate's notification reloads the models: /api/publishers/ answers" wait_for /api/publishers/ 200

# --- reload under load: no request fails ------------------------------------------------------------
load() { # load N OUT: N requests one after the other, each status on a line of OUT
    local i
    for i in $(seq 1 "$1"); do
        curl -s -o /dev/null -w '%{http_code}\n' --max-time 10 \
            "$SERVE_URL/api/volumes/?page_size=5&page=$((i % 6 + 1))" >>"$2"
    done
}
LOADERS=""
for worker in 1 2 3 4; do
    load 150 "$TAP_WORKDIR/load.$worker" &
    LOADERS="$LOADERS $!"
done
for reload in $(seq 1 15); do
    serve_reload
    sleep 0.1
done
# shellcheck disable=SC2086
wait $LOADERS
ANSWERS=$(cat "$TAP_WORKDIR"/load.* | sort | uniq -c | awk '{ printf "%s:%s ", $2, $1 }')
expect_eq "600 requests during 15 reloads: every one answered 200" "$ANSWERS" "200:600 "

# --- SIGTERM: requests under way finish, then the server stops --------------------------------------
psql -X -q -c "BEGIN; LOCK TABLE book IN ACCESS EXCLUSIVE MODE; SELECT pg_sleep(6); COMMIT;" >/dev/null 2>&1 &
LOCKER=$!
poll_sql "$PGDATABASE" "SELECT count(*) FROM pg_locks WHERE relation = 'book'::regclass AND mode = 'AccessExclusiveLock' AND granted" 1
curl -s -o "$TAP_WORKDIR/slow.body" -w '%{http_code}' --max-time 20 "$SERVE_URL/api/volumes/3/" >"$TAP_WORKDIR/slow.status" &
SLOW=$!
poll_sql "$PGDATABASE" "SELECT count(*) > 0 FROM pg_stat_activity WHERE application_name = 'prodata serve' AND wait_event_type = 'Lock'" t
STARTED=$SECONDS
serve_stop TERM
wait "$SLOW"
wait "$LOCKER"
expect_eq "a request under way at SIGTERM finishes with its answer" "$(cat "$TAP_WORKDIR/slow.status")" 200
slow_id=$(jq -c '.id' "$TAP_WORKDIR/slow.body" 2>&1)
expect_eq "... the whole object" "$slow_id" 3
expect_eq "the server then exits 0" "$SERVE_RC" 0
run_cmd curl -s -o /dev/null -w '%{http_code}' --max-time 2 "$SERVE_URL/healthz"
expect_eq "and no longer accepts connections" "$OUT" "000"

# --- a drain longer than shutdown_timeout_ms is cut at the bound ------------------------------------
serve_start --models "$MODELS" --anonymous-role postgres --shutdown-timeout-ms 300 || exit 1
psql -X -q -c "BEGIN; LOCK TABLE book IN ACCESS EXCLUSIVE MODE; SELECT pg_sleep(6); COMMIT;" >/dev/null 2>&1 &
LOCKER=$!
poll_sql "$PGDATABASE" "SELECT count(*) FROM pg_locks WHERE relation = 'book'::regclass AND mode = 'AccessExclusiveLock' AND granted" 1
curl -s -o /dev/null --max-time 20 "$SERVE_URL/api/volumes/3/" &
SLOW=$!
poll_sql "$PGDATABASE" "SELECT count(*) > 0 FROM pg_stat_activity WHERE application_name = 'prodata serve' AND wait_event_type = 'Lock'" t
STARTED=$SECONDS
serve_stop TERM
expect_eq "a request longer than shutdown_timeout_ms does not hold the stop (exit 0)" "$SERVE_RC" 0
if [ $((SECONDS - STARTED)) -le 3 ]; then tap_ok "... the server stopped within the bound"; else
    tap_not_ok "... the server stopped within the bound" "took $((SECONDS - STARTED)) s"; fi
kill "$LOCKER" "$SLOW" 2>/dev/null
wait "$LOCKER" "$SLOW" 2>/dev/null

# --- rate limits: DRF's window, not a token bucket --------------------------------------------------
# 4/s: four requests, the fifth refused, and no request allowed until the first is a second old (a token
# bucket would give one back after 250 ms). Times are taken before the first request is sent and after the
# allowed one is answered, so the server's own times lie between them.
serve_start --models "$MODELS" --anonymous-role postgres --rate-per-address "4/s" || exit 1
FIRST_MS=$(date +%s%3N)
STATUSES=""
for i in 1 2 3 4; do
    http GET /api/authors/
    STATUSES="$STATUSES$HTTP_STATUS "
done
expect_eq "four requests within the address's 4/s: 200" "$STATUSES" "200 200 200 200 "
http GET /api/authors/
expect_json "the fifth: 429 in DRF's words" '.detail' '"Request was throttled. Expected available in 1 second."'
expect_eq "... with Retry-After in whole seconds" "$(http_header Retry-After)" "1"
for polls in $(seq 1 150); do
    http GET /api/authors/
    [ "$HTTP_STATUS" = 200 ] && break
    sleep 0.02
done
ALLOWED_MS=$(($(date +%s%3N) - FIRST_MS))
if [ "$HTTP_STATUS" = 200 ] && [ "$ALLOWED_MS" -ge 1000 ] && [ "$ALLOWED_MS" -le 3000 ]; then
    tap_ok "the next request is allowed once the first is a second old ($ALLOWED_MS ms, $polls polls)"
else
    tap_not_ok "the next request is allowed once the first is a second old" \
        "status $HTTP_STATUS after $ALLOWED_MS ms ($polls polls)"
fi
serve_stop

# --- 503 while the database is down (a second, throwaway cluster) -----------------------------------
SAVED_ENV=$(declare -p PGHOST PGPORT PGUSER PGDATABASE)
SECOND=$(mktemp -d "${TMPDIR:-/tmp}/prodata-second.XXXXXX")
trap 'serve_cleanup; pg_instance_stop "$SECOND"; rm -rf "$TAP_WORKDIR"' EXIT
if pg_instance_start "$SECOND"; then
    migrate
    psql -qX -c "INSERT INTO author (name, email) VALUES ('Solo', 'solo@example.com')" >/dev/null
    serve_start --models "$MODELS" --anonymous-role postgres --connect-timeout-ms 1000 --pool-timeout-ms 1000 || exit 1
    http GET /api/authors/
    expect_json "the second server answers from the second cluster" '.count' 1
    pg_as_owner "$PGBIN/pg_ctl" -D "$SECOND/data" -m immediate -w stop >/dev/null 2>&1
    STARTED=$SECONDS
    http GET /api/authors/
    expect_status "with the database stopped: 503" 503
    expect_json "... DRF's shape" '.detail' '"Database unavailable, try again shortly."'
    expect_eq "... with Retry-After" "$(http_header Retry-After)" "1"
    http GET /healthz
    expect_status "/healthz says 503 too" 503
    if [ $((SECONDS - STARTED)) -le 5 ]; then tap_ok "... answered at once, never a hang"; else
        tap_not_ok "... answered at once, never a hang" "took $((SECONDS - STARTED)) s"; fi
    pg_as_owner "$PGBIN/pg_ctl" -D "$SECOND/data" -l "$SECOND/postgres.log" -w start >/dev/null 2>&1
    check "once the database is back the same server answers 200 again" wait_for /api/authors/ 200
    serve_stop
    pg_instance_stop "$SECOND"
else
    for skipped in 1 2 3 4 5 6 7; do tap_not_ok "the second cluster did not start"; done
fi
eval "$SAVED_ENV"
tap_done
