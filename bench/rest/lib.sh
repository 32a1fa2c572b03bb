# bench/rest/lib.sh - the pieces of bench/rest/run.sh (sourced, not run): the database of prodata's side,
# prodata serve in the background, wrk runs and their figures. run.sh sets REPO, HERE, OUT, PRODATA, the
# PG* connection of the anchor's PostgreSQL and the load knobs before sourcing this.

SEED_AUTHORS=1000
SEED_BOOKS=100000

note() { echo "== $*"; }
skip() { echo "skipped: $*" | tee -a "$OUT/skipped.txt"; }

# psql on prodata's database (role BENCH_ROLE, the database's owner) or, with admin, as postgres.
psql_prodata() { psql -X -q -v ON_ERROR_STOP=1 -d "$BENCH_DB" "$@"; }
psql_admin() { PGUSER=postgres psql -X -q -v ON_ERROR_STOP=1 -d postgres "$@"; }

prodata_cli() { (cd "$HERE" && "$PRODATA" "$@"); }

# The database prodata_bench on the shared PostgreSQL: created, migrated by prodata from bench/rest's
# models, loaded once from the anchor's CSVs (or, without the anchor, from rows made by SQL), sequences set.
prodata_db_setup() {
    psql_admin -tAc "SELECT 1 FROM pg_roles WHERE rolname = '$BENCH_ROLE'" | grep -q 1 ||
        psql_admin -c "CREATE ROLE \"$BENCH_ROLE\" LOGIN"
    psql_admin -tAc "SELECT 1 FROM pg_database WHERE datname = '$BENCH_DB'" | grep -q 1 ||
        psql_admin -c "CREATE DATABASE \"$BENCH_DB\" OWNER \"$BENCH_ROLE\""
    note "prodata migrate (bench/rest/models.pdm into $BENCH_DB)"
    prodata_cli migrate
    if [ "$(psql_prodata -tAc 'SELECT count(*) FROM book')" != 0 ]; then
        prodata_reset
        echo "already loaded: $(psql_prodata -tAc 'SELECT count(*) FROM book') books (rows past the seed removed)"
        return 0
    fi
    if [ -n "${DATA_DIR:-}" ]; then
        psql_prodata <<SQL
\copy author (id, name, email, born) FROM '$DATA_DIR/authors.csv' WITH (FORMAT csv, HEADER true)
\copy book (id, title, author_id, price, published, in_stock) FROM '$DATA_DIR/books.csv' WITH (FORMAT csv, HEADER true)
SQL
    else
        prodata_generate_rows
    fi
    prodata_reset
    echo "loaded: $(psql_prodata -tAc 'SELECT count(*) FROM author') authors," \
        "$(psql_prodata -tAc 'SELECT count(*) FROM book') books"
}

# Without the anchor's gen_data.py: rows of the same shapes made by SQL (not the same values, so figures
# from such a run compare with nothing but themselves).
prodata_generate_rows() {
    psql_prodata <<SQL
INSERT INTO author (id, name, email, born)
SELECT i, 'Author ' || i, 'author' || i || '@example.com',
       CASE WHEN i % 10 = 0 THEN NULL ELSE date '1930-01-01' + (i * 7919) % 25000 END
FROM generate_series(1, $SEED_AUTHORS) AS i;
INSERT INTO book (id, title, author_id, price, published, in_stock)
SELECT i, 'Book ' || i, 1 + (i * 7919) % $SEED_AUTHORS, ((i * 104729) % 10000) / 100.0,
       timestamptz '2000-01-01 00:00:00+00' + ((i * 15485863) % 788400000) * interval '1 second', i % 7 <> 0
FROM generate_series(1::bigint, $SEED_BOOKS) AS i;
SQL
}

# Rows that create runs added are deleted (reset.sh, also bench.sh's RESET_CMD).
prodata_reset() { SEED_AUTHORS=$SEED_AUTHORS SEED_BOOKS=$SEED_BOOKS "$HERE/reset.sh"; }

# --- prodata serve in the background ---------------------------------------------------------------------
SERVE_PID=""
serve_start() {
    local log="$OUT/prodata-serve.log"
    (cd "$HERE" && PRODATA_CURSOR_SECRET=bench-rest-cursor-key exec "$PRODATA" serve "${SERVE_ARGS[@]}") >>"$log" 2>&1 </dev/null &
    SERVE_PID=$!
    echo "$SERVE_PID" >"$OUT/prodata-serve.pid"
    local i
    for i in $(seq 1 100); do
        if curl -s -o /dev/null --max-time 2 "$PRODATA_URL/api/books/1/"; then
            echo "prodata serve on $PRODATA_URL (pid $SERVE_PID; log $log)"
            return 0
        fi
        kill -0 "$SERVE_PID" 2>/dev/null || break
        sleep 0.1
    done
    echo "bench: prodata serve did not come up; see $log" >&2
    tail -5 "$log" >&2 || true
    serve_stop
    return 1
}

serve_stop() {
    [ -n "$SERVE_PID" ] || return 0
    if kill -0 "$SERVE_PID" 2>/dev/null; then
        kill -TERM "$SERVE_PID"
        local i
        for i in $(seq 1 100); do kill -0 "$SERVE_PID" 2>/dev/null || break; sleep 0.1; done
        kill -0 "$SERVE_PID" 2>/dev/null && kill -KILL "$SERVE_PID" 2>/dev/null
    fi
    SERVE_PID=""
    rm -f "$OUT/prodata-serve.pid"
}

rss_kb() { awk '/^VmRSS:/ { print $2 }' "/proc/$1/status" 2>/dev/null || echo 0; }

# --- wrk ---------------------------------------------------------------------------------------------------
# run_wrk NAME SECONDS OUTFILE SCRIPT [VAR=value...]: one wrk run against prodata with a script of lua/.
run_wrk() {
    local name=$1 seconds=$2 file=$3 script=$4
    shift 4
    {
        echo "# $(date -Is) $name load: $(cut -d' ' -f1-3 /proc/loadavg) $*"
        echo "# wrk -t$THREADS -c$CONNECTIONS -d${seconds}s --timeout $TIMEOUT --latency -s lua/$script.lua $PRODATA_URL"
        (cd "$HERE" && env "$@" wrk -t"$THREADS" -c"$CONNECTIONS" -d"${seconds}s" --timeout "$TIMEOUT" \
            --latency -s "lua/$script.lua" "$PRODATA_URL")
    } >"$file" 2>&1
    sleep 1
}

# Prints: requests_per_s p50_ms p99_ms non2xx socket_errors requests (of one wrk output)
parse_wrk() {
    awk '
    function ms(v) { if (v ~ /us$/) return v / 1000; if (v ~ /ms$/) return v + 0;
                     if (v ~ /m$/) return v * 60000; if (v ~ /s$/) return v * 1000; return v }
    /Requests\/sec:/ { rps = $2 }
    /^ +50%/ { p50 = ms($2) }
    /^ +99%/ { p99 = ms($2) }
    /Non-2xx or 3xx responses:/ { non2xx = $NF }
    /Socket errors:/ { gsub(/,/, ""); err = $4 + $6 + $8 + $10 }
    / requests in / { reqs = $1 }
    END { printf "%s %.2f %.2f %d %d %d\n", rps, p50, p99, non2xx, err, reqs }' "$1"
}

# measure NAME REP SCRIPT [VAR=value...]: one run, its figures appended to $EXTRA_SAMPLES.
measure() {
    local name=$1 rep=$2 script=$3 file="$OUT/prodata-extra/$1-$2.txt"
    shift 3
    run_wrk "$name" "$DURATION" "$file" "$script" "$@"
    local rps p50 p99 non2xx err reqs
    read -r rps p50 p99 non2xx err reqs < <(parse_wrk "$file")
    printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$name" "$rep" "$rps" "$p50" "$p99" "$non2xx" "$err" "$reqs" \
        >>"$EXTRA_SAMPLES"
    printf '%-16s rep %d: %9s req/s  p50 %8s ms  p99 %8s ms  non-2xx %s  socket errors %s\n' \
        "$name" "$rep" "$rps" "$p50" "$p99" "$non2xx" "$err"
}

# check NAME EXPECTED_STATUS PATTERN curl-args...: one request whose status and body must be as expected.
check() {
    local name=$1 want=$2 pattern=$3 body status
    shift 3
    body=$(curl -s -w '\n%{http_code}' "$@")
    status=${body##*$'\n'}
    body=${body%$'\n'*}
    if [ "$status" != "$want" ] || ! grep -q -- "$pattern" <<<"$body"; then
        echo "bench: check '$name' failed: HTTP $status (want $want), body: ${body:0:300}" >&2
        return 1
    fi
    echo "check $name: HTTP $status ok"
}
