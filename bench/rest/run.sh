#!/bin/bash
# bench/rest/run.sh - `make bench-rest`: prodata serve beside the DRF and Fastify reference servers and
# pgbench's SQL ceiling, in one run, on one PostgreSQL 15 (the DRF anchor's, 127.0.0.1:55441) and the same
# rows (1,000 authors, 100,000 books from the anchor's gen_data.py). Prints one table with every system's
# requests/s and p50/p99 and the issue's goal ratios; README.md beside this file says what each row means.
#
#   bench/rest/run.sh                      everything (~25 min with the defaults)
#   DURATION=5 REPS=1 BENCH_MIXED_SECONDS=30 bench/rest/run.sh      a quick look
#   SYSTEMS="prodata pgbench" bench/rest/run.sh                     only these (drf fastify prodata pgbench)
#
# The anchors live outside the repository, in ../shared/anchors (ANCHORS= names another place, e.g.
# ANCHORS=/work/shared/anchors from a git worktree). A reference system that is missing or not installed is
# skipped with a line saying so; without the DRF anchor, prodata runs alone on a throwaway PostgreSQL with
# rows made by SQL. Raw wrk and pgbench output: $OUT (/tmp/prodata-bench-rest/<time>).
# Knobs: DURATION=15 REPS=3 WARMUP=5 THREADS=2 CONNECTIONS=32 TIMEOUT=10s (the anchors' bench.sh defaults)
# BENCH_MIXED_SECONDS=300 COUNTER_PAIRS=8 PGBENCH_SCRIPTS="..." PRODATA_PORT=18002 PRODATA=build/prodata.
set -euo pipefail
cd "$(dirname "$0")/../.."
REPO=$PWD
HERE=$REPO/bench/rest
ANCHORS=${ANCHORS:-$(cd .. && pwd)/shared/anchors}
PRODATA=${PRODATA:-$REPO/build/prodata}
export DURATION=${DURATION:-15} REPS=${REPS:-3} WARMUP=${WARMUP:-5} THREADS=${THREADS:-2}
export CONNECTIONS=${CONNECTIONS:-32} TIMEOUT=${TIMEOUT:-10s}
BENCH_MIXED_SECONDS=${BENCH_MIXED_SECONDS:-300}
# Pairs of create runs with the row counters on and off: one pair varies from -4% to +20% on this 2-core
# machine (2026-12-01, nine pairs), so the goal of 5% is judged on the median of several.
COUNTER_PAIRS=${COUNTER_PAIRS:-8}
SYSTEMS=${SYSTEMS:-drf fastify prodata pgbench}
PGBENCH_SCRIPTS=${PGBENCH_SCRIPTS:-select_pk select_pk_json page_json page_json_count filter_json_count insert}
PRODATA_PORT=${PRODATA_PORT:-18002}
PRODATA_URL=http://127.0.0.1:$PRODATA_PORT
BENCH_DB=${BENCH_DB:-prodata_bench}
BENCH_ROLE=${BENCH_ROLE:-bench}
OUT=${OUT:-/tmp/prodata-bench-rest/$(date +%Y%m%d-%H%M%S)}
DRF=$ANCHORS/drf
FASTIFY=$ANCHORS/fastify
mkdir -p "$OUT/prodata-extra"
LOAD_BEFORE=$(cut -d' ' -f1-3 /proc/loadavg)
: >"$OUT/skipped.txt"
source "$HERE/lib.sh"
has() { case " $SYSTEMS " in *" $1 "*) return 0 ;; esac; return 1; }

[ -x "$PRODATA" ] || { echo "bench: $PRODATA is missing; run make first" >&2; exit 1; }
command -v wrk >/dev/null || { echo "bench: wrk is missing (make bench-rest installs it)" >&2; exit 1; }

# --- PostgreSQL and the rows ---------------------------------------------------------------------------------
PG_DIR=""
cleanup() {
    if declare -F statement_logging_off >/dev/null; then statement_logging_off || true; fi
    serve_stop
    if [ -f "$DRF/serve.sh" ]; then "$DRF/serve.sh" stop >/dev/null 2>&1 || true; fi
    if [ -f "$FASTIFY/serve.sh" ]; then "$FASTIFY/serve.sh" stop >/dev/null 2>&1 || true; fi
    if [ -n "$PG_DIR" ]; then pg_instance_stop "$PG_DIR"; fi
}
trap cleanup EXIT

HAVE_ANCHOR=0
if [ -x "$DRF/setup.sh" ]; then
    note "the DRF anchor's PostgreSQL and rows ($DRF/setup.sh)"
    if "$DRF/setup.sh"; then HAVE_ANCHOR=1; else skip "the DRF anchor's setup.sh failed (above)"; fi
else
    skip "the DRF anchor is not at $DRF (set ANCHORS= to the folder holding drf/ and fastify/)"
fi
if [ "$HAVE_ANCHOR" = 1 ]; then
    export PGHOST=127.0.0.1 PGPORT=${ANCHOR_PGPORT:-55441} PGUSER=$BENCH_ROLE PGDATABASE=$BENCH_DB
    DATA_DIR=${ANCHOR_DIR:-/tmp/anchor-drf}/data
    [ -f "$DATA_DIR/books.csv" ] || /usr/bin/python3 "$DRF/gen_data.py" "$DATA_DIR" "$SEED_AUTHORS" "$SEED_BOOKS"
else
    note "a throwaway PostgreSQL 15 with the server's defaults (no anchor: prodata alone, rows made by SQL)"
    source "$REPO/tests/lib/pg.sh"
    PG_DIR=$(mktemp -d "${TMPDIR:-/tmp}/prodata-bench-rest-pg.XXXXXX")
    pg_instance_start "$PG_DIR"
    psql -X -q -d postgres -c "ALTER SYSTEM RESET fsync" -c "ALTER SYSTEM RESET synchronous_commit" \
        -c "ALTER SYSTEM RESET full_page_writes" -c "ALTER SYSTEM SET max_connections = 200" >/dev/null
    pg_as_owner "$PGBIN/pg_ctl" -D "$PG_DATA_DIR" -w -t 60 restart >/dev/null
    export PGUSER=$BENCH_ROLE PGDATABASE=$BENCH_DB
    DATA_DIR=""
    SYSTEMS="prodata"
fi
prodata_db_setup

# --- the reference systems ------------------------------------------------------------------------------------
if has drf && [ "$HAVE_ANCHOR" = 1 ]; then
    note "DRF (gunicorn sync4), the anchors' bench.sh"
    "$DRF/serve.sh" sync4 18001
    LABEL=drf OUTDIR="$OUT/drf" RESET_CMD="$DRF/setup.sh --reset" "$DRF/bench.sh" http://127.0.0.1:18001
    "$DRF/serve.sh" stop 18001
fi
if has fastify && [ "$HAVE_ANCHOR" = 1 ]; then
    if [ ! -x "$FASTIFY/serve.sh" ]; then
        skip "Fastify: the anchor is not at $FASTIFY"
    elif ! command -v node >/dev/null || ! command -v npm >/dev/null; then
        skip "Fastify: node and npm are not installed (Debian: nodejs, npm)"
    else
        note "Fastify (2 cluster workers), the anchors' bench.sh"
        if PGDATABASE=bench PGUSER=bench "$FASTIFY/serve.sh" 18003; then
            LABEL=fastify OUTDIR="$OUT/fastify" RESET_CMD="$DRF/setup.sh --reset" "$DRF/bench.sh" http://127.0.0.1:18003
            "$FASTIFY/serve.sh" stop 18003
        else
            skip "Fastify: its serve.sh failed (above)"
        fi
    fi
fi

# --- prodata serve ------------------------------------------------------------------------------------------
if has prodata && ! "$PRODATA" serve --help >/dev/null 2>&1; then
    skip "prodata serve: $PRODATA has no serve command"
elif has prodata; then
    source "$HERE/prodata.sh"
    prodata_bench
fi

if has pgbench && [ "$HAVE_ANCHOR" = 1 ]; then
    note "pgbench: the SQL ceiling (the anchors' pgbench.sh on database bench)"
    # shellcheck disable=SC2086
    OUTDIR="$OUT/pgbench" "$DRF/pgbench.sh" $PGBENCH_SCRIPTS
fi

note "the table"
/usr/bin/python3 "$HERE/report.py" "$OUT" | tee "$OUT/table.md"
{
    echo "## bench/rest run of $(date -u '+%Y-%m-%d %H:%M UTC')"
    echo
    echo "Machine: $(nproc) cores, $(awk '/MemTotal/ { printf "%.0f GiB", $2 / 1048576 }' /proc/meminfo)," \
        "$(uname -sr); PostgreSQL $(psql -X -tAc 'SHOW server_version' 2>/dev/null | cut -d' ' -f1)" \
        "(fsync on); prodata at $(git -C "$REPO" rev-parse --short HEAD 2>/dev/null || echo '?');" \
        "load average before the run: $LOAD_BEFORE."
    echo "Knobs: DURATION=$DURATION REPS=$REPS WARMUP=$WARMUP BENCH_MIXED_SECONDS=$BENCH_MIXED_SECONDS" \
        "THREADS=$THREADS CONNECTIONS=$CONNECTIONS; raw output was in $OUT."
    echo
    cat "$OUT/table.md"
} >"$OUT/RESULTS.md"
echo "raw output: $OUT (RESULTS.md: the table with the date and machine)"
