# bench/rest/prodata.sh - prodata's side of bench/rest/run.sh (sourced after lib.sh): the anchors' four
# endpoints through their bench.sh (the same load as DRF's and Fastify's), then what only prodata has: the
# list page 1,000 deep by page number and by cursor beside the first pages, create with the row counters on
# and off, and the resident memory over a mixed run.

EXTRA_SAMPLES="$OUT/prodata-extra/samples.tsv"
# Anonymous requests run as the database's owner (the anchors have no authentication either); no access
# log (neither has gunicorn here), warnings still go to the log file. The server's defaults otherwise (one
# event loop per core, 32 database connections). SERVE_OPTIONS adds options (e.g. --pool-size 16).
SERVE_ARGS=(--config "$HERE/prodata.conf" --port "$PRODATA_PORT" --anonymous-role "$BENCH_ROLE" --log-level warning
    ${SERVE_OPTIONS:-})
# The first page of the cursor-paginated list (serve's per-request switch to CursorPagination).
CURSOR_FIRST_PATH=${CURSOR_FIRST_PATH:-/api/books/?cursor=}
DEEP_PAGE=${DEEP_PAGE:-1000}

# counters_set on|off: `prodata migrate` with the row counters' setting; false when this prodata has none.
counters_set() {
    prodata_cli migrate --count-rows="$1" >/dev/null
}

counter_triggers() {
    psql_prodata -tAc "SELECT count(*) FROM pg_trigger WHERE tgrelid = 'book'::regclass AND NOT tgisinternal"
}

prodata_checks() {
    check get 200 '"id":12345,' "$PRODATA_URL/api/books/12345/"
    check list 200 '"count":100000,' "$PRODATA_URL/api/books/?page=7"
    check deep-page 200 '"results":\[{"id":49951,' "$PRODATA_URL/api/books/?page=$DEEP_PAGE"
    check filter 200 '"results":\[{"id":' "$PRODATA_URL/api/books/?price__gte=10&ordering=-published"
    check cursor 200 '"results":\[{"id":1,' "$PRODATA_URL$CURSOR_FIRST_PATH"
    check create 201 '"title":"bench check"' -X POST -H 'Content-Type: application/json' \
        -d '{"title":"bench check","author":7,"price":"12.34","in_stock":true}' "$PRODATA_URL/api/books/"
    prodata_reset
}

# The path of the cursor page DEEP_PAGE pages in, walked from the first by the `next` links.
cursor_deep_path() {
    local path first_id
    path=$(/usr/bin/python3 "$HERE/walk_cursor.py" "$PRODATA_URL" "$CURSOR_FIRST_PATH" "$DEEP_PAGE" \
        2>"$OUT/prodata-extra/walk.txt") || { cat "$OUT/prodata-extra/walk.txt" >&2; return 1; }
    first_id=$(tail -1 "$OUT/prodata-extra/walk.txt")
    echo "cursor page $DEEP_PAGE starts at id $first_id (page=$DEEP_PAGE too: 49951): ${path:0:80}..." >&2
    echo "$path"
}

# The anchors' load (bench.sh) when present, else the same four requests through lua/ (not the same
# random sequence: such figures compare with nothing but themselves).
prodata_standard() {
    if [ -x "$DRF/bench.sh" ]; then
        LABEL=prodata OUTDIR="$OUT/prodata" RESET_CMD="$HERE/reset.sh" "$DRF/bench.sh" "$PRODATA_URL"
        return
    fi
    local rep
    EXTRA_SAMPLES="$OUT/prodata/samples.tsv"
    mkdir -p "$OUT/prodata"
    printf 'endpoint\trep\treq_per_s\tp50_ms\tp99_ms\tnon2xx\tsocket_errors\trequests\n' >"$EXTRA_SAMPLES"
    for rep in $(seq 1 "$REPS"); do
        measure get "$rep" path BENCH_PATH='/api/books/{n}/' BENCH_MAX=100000
        measure list "$rep" path BENCH_PATH='/api/books/?page={n}' BENCH_MAX=200
        measure filter "$rep" path BENCH_PATH='/api/books/?price__gte=10&ordering=-published'
        measure create "$rep" create
        prodata_reset
    done
    EXTRA_SAMPLES="$OUT/prodata-extra/samples.tsv"
}

# create_pair FIRST SECOND: creates measured with the counters as they are (FIRST), then switched (SECOND).
create_pair() {
    echo "counter triggers on book: $(counter_triggers)"
    measure "create_$1" "$rep" create
    prodata_reset
    if [ "$1" = counted ]; then counters_set off; else counters_set on; fi
    echo "counter triggers on book: $(counter_triggers)"
    measure "create_$2" "$rep" create
    prodata_reset
    [ "$2" = counted ] || counters_set on
}

# First and deep pages by page number and by cursor, then create with the counters on and off, interleaved.
prodata_extras() {
    local cursor_deep rep has_counters=1
    cursor_deep=$(cursor_deep_path) || { skip "prodata cursor pages: walking the cursor pages failed"; cursor_deep=""; }
    if ! counters_set off 2>"$OUT/prodata-extra/counters.txt"; then
        skip "prodata create with counters off: 'prodata migrate --count-rows=off' failed: $(head -1 "$OUT/prodata-extra/counters.txt")"
        has_counters=0
    else
        counters_set on
    fi
    if [ "$WARMUP" -gt 0 ]; then
        run_wrk warmup "$WARMUP" "$OUT/prodata-extra/warmup-deep.txt" path BENCH_PATH="/api/books/?page=$DEEP_PAGE"
        [ -n "$cursor_deep" ] && run_wrk warmup "$WARMUP" "$OUT/prodata-extra/warmup-cursor.txt" path BENCH_PATH="$cursor_deep"
    fi
    for rep in $(seq 1 "$REPS"); do
        measure first_page "$rep" path BENCH_PATH='/api/books/?page=1'
        measure deep_page "$rep" path BENCH_PATH="/api/books/?page=$DEEP_PAGE"
        if [ -n "$cursor_deep" ]; then
            measure cursor_first "$rep" path BENCH_PATH="$CURSOR_FIRST_PATH"
            measure cursor_deep "$rep" path BENCH_PATH="$cursor_deep"
        fi
    done
    # COUNTER_PAIRS pairs, in alternating order (on, off, then off, on) so that a drift of the machine over
    # the run weighs on both sides alike; report.py takes the median of the pairs' ratios
    for rep in $(seq 1 $((has_counters ? COUNTER_PAIRS : 0))); do
        if [ $((rep % 2)) = 1 ]; then
            create_pair counted uncounted
        else
            counters_set off
            create_pair uncounted counted
        fi
    done
    BENCH_CURSOR_PATH=$cursor_deep
}

# The server's resident memory at the start and end of a mixed run (and every 10 s in between).
prodata_mixed() {
    local file="$OUT/prodata-extra/mixed.txt" sampler
    local start
    start=$(rss_kb "$SERVE_PID")
    (while kill -0 "$SERVE_PID" 2>/dev/null; do echo "$(date +%s) $(rss_kb "$SERVE_PID")"; sleep 10; done) \
        >"$OUT/prodata-extra/rss.txt" &
    sampler=$!
    note "mixed load for ${BENCH_MIXED_SECONDS}s (60% get, 27% list page, 8% deep cursor page, 5% create); RSS $start kB"
    run_wrk mixed "$BENCH_MIXED_SECONDS" "$file" mixed BENCH_CURSOR_PATH="$BENCH_CURSOR_PATH"
    local end rps p50 p99 non2xx err reqs
    end=$(rss_kb "$SERVE_PID")
    kill "$sampler" 2>/dev/null || true
    wait "$sampler" 2>/dev/null || true
    read -r rps p50 p99 non2xx err reqs < <(parse_wrk "$file")
    printf 'rss_start_kb\t%s\nrss_end_kb\t%s\nrss_max_kb\t%s\nrequests\t%s\nreq_per_s\t%s\np99_ms\t%s\nnon2xx\t%s\nsocket_errors\t%s\nseconds\t%s\n' \
        "$start" "$end" "$(awk '{ if ($2 > m) m = $2 } END { print m + 0 }' "$OUT/prodata-extra/rss.txt")" \
        "$reqs" "$rps" "$p99" "$non2xx" "$err" "$BENCH_MIXED_SECONDS" >"$OUT/prodata-extra/mixed.tsv"
    echo "mixed: $reqs requests, $rps req/s, p99 $p99 ms, non-2xx $non2xx; RSS $start kB -> $end kB"
    prodata_reset
}

# Where the time goes: each kind of request once with every statement logged (log_min_duration_statement =
# 0 for a moment, then reset; cleanup() resets it too), the statements printed with their durations
# (statements.py), then the slowest statement of each under pgbench with the same 32 clients: the SQL ceiling
# of prodata's own statement. PG_LOG is the anchor's PostgreSQL log (setup.sh's pg_ctl -l).
PG_LOG=${PG_LOG:-${ANCHOR_DIR:-/tmp/anchor-drf}/postgres.log}
prodata_statements() {
    local dir="$OUT/prodata-sql" name path
    if [ "${SQL_CEILING:-1}" = 0 ] || [ ! -r "$PG_LOG" ]; then
        skip "prodata's own statements under pgbench (SQL_CEILING=0, or no readable PostgreSQL log at $PG_LOG)"
        return 0
    fi
    mkdir -p "$dir"
    local -A paths=([get]="/api/books/12345/" [list]="/api/books/?page=7" [deep_page]="/api/books/?page=$DEEP_PAGE"
        [filter]="/api/books/?price__gte=10&ordering=-published" [cursor_deep]="${BENCH_CURSOR_PATH:-}")
    LOGGING_STATEMENTS=1
    psql_admin -c "ALTER SYSTEM SET log_min_duration_statement = 0" -c "SELECT pg_reload_conf()" >/dev/null
    sleep 0.5
    for name in get list deep_page filter cursor_deep create; do
        psql_admin -c "SELECT 'bench-marker-$name'" >/dev/null
        path=${paths[$name]:-}
        if [ "$name" = create ]; then
            curl -s -o /dev/null -X POST -H 'Content-Type: application/json' \
                -d '{"title":"bench sql","author":7,"price":"12.34","in_stock":true}' "$PRODATA_URL/api/books/"
        elif [ -n "$path" ]; then
            curl -s -o /dev/null "$PRODATA_URL$path"
        fi
    done
    statement_logging_off
    prodata_reset
    printf 'script\trep\ttps\tlatency_avg_ms\tfailed\n' >"$dir/samples.tsv"
    for name in get list deep_page filter cursor_deep create; do
        /usr/bin/python3 "$HERE/statements.py" "$PG_LOG" "bench-marker-$name" "$dir" | tee "$dir/$name.txt"
        [ -f "$dir/bench-marker-$name.sql" ] || continue
        "${PGBIN:-/usr/lib/postgresql/15/bin}/pgbench" -n -f "$dir/bench-marker-$name.sql" -c "$CONNECTIONS" -j "$THREADS" -T "$DURATION" -M prepared \
            >"$dir/pgbench-$name.txt" 2>&1 || echo "pgbench failed: see $dir/pgbench-$name.txt" >&2
        [ "$name" = create ] && prodata_reset
        local tps lat
        tps=$(awk '/^tps = / { print $3 }' "$dir/pgbench-$name.txt")
        lat=$(awk '/^latency average = / { print $4 }' "$dir/pgbench-$name.txt")
        printf '%s\t1\t%s\t%s\t0\n' "$name" "${tps:-0}" "${lat:-0}" >>"$dir/samples.tsv"
        echo "--   pgbench -c $CONNECTIONS -j $THREADS -T $DURATION -M prepared, that statement alone: ${tps:-?} tps"
    done
}

statement_logging_off() {
    [ "${LOGGING_STATEMENTS:-0}" = 1 ] || return 0
    psql_admin -c "SELECT 'bench-marker-end'" -c "ALTER SYSTEM RESET log_min_duration_statement" \
        -c "SELECT pg_reload_conf()" >/dev/null
    LOGGING_STATEMENTS=0
}

prodata_bench() {
    note "prodata serve"
    serve_start
    prodata_checks
    prodata_standard
    printf 'endpoint\trep\treq_per_s\tp50_ms\tp99_ms\tnon2xx\tsocket_errors\trequests\n' >"$EXTRA_SAMPLES"
    prodata_extras
    prodata_statements
    prodata_mixed
    serve_stop
}
