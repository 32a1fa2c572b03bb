#!/bin/bash
# bench/migrate/run.sh - makemigrations + migrate of the 200-model project,
# prodata beside Django (the django-migrate anchor) in one run, on the same
# PostgreSQL 15 server (the anchor's: 127.0.0.1:55451, PostgreSQL defaults,
# fsync on). Prints one table with both.
#   bench/migrate/run.sh [N]        N models (default 200); REPS=5 repetitions of ours
#   SKIP_DJANGO=1 bench/migrate/run.sh   only ours (Django takes about two minutes)
# Then bench/migrate/memory.sh: migrate's time and peak memory against the length of the history.
# The anchor lives outside the repository, in ../shared/anchors/django-migrate
# (ANCHOR= names another place). Without it, Django's side is skipped with a
# message naming the path, and ours runs alone on the 200-model project kept in
# models-200.pdm (the anchor's generator, seed 20261124), on a throwaway
# PostgreSQL 15 with the server's defaults, stopped at exit.
set -euo pipefail
cd "$(dirname "$0")/../.."
ANCHOR_DEFAULT="$(cd .. && pwd)/shared/anchors/django-migrate"
ANCHOR=${ANCHOR:-$ANCHOR_DEFAULT}
export N=${1:-200}
if [ -f "$ANCHOR/run.sh" ] && [ -f "$ANCHOR/gen_models.py" ]; then
    export ANCHOR=$(cd "$ANCHOR" && pwd)
    "$ANCHOR/run.sh" start >/dev/null
    /usr/bin/python3 bench/migrate/bench.py
    exec bench/migrate/memory.sh
fi

echo "bench: Django's side skipped: the django-migrate anchor is not at $ANCHOR (it lives outside the" \
    "repository; set ANCHOR= to its folder to compare). Measuring prodata alone." >&2
if [ "$N" != 200 ]; then
    echo "bench: N=$N needs the anchor's generator ($ANCHOR/gen_models.py); without it only N=200 runs" >&2
    exit 1
fi
export ANCHOR="" SKIP_DJANGO=1
source tests/lib/pg.sh
PG_DIR=$(mktemp -d "${TMPDIR:-/tmp}/prodata-bench-pg.XXXXXX")
trap 'pg_instance_stop "$PG_DIR"' EXIT
pg_instance_start "$PG_DIR"
# pg.sh tunes its instance for tests (fsync off); a benchmark measures the server's defaults, as the anchor's.
psql -X -q -d postgres -c "ALTER SYSTEM RESET fsync" -c "ALTER SYSTEM RESET synchronous_commit" \
    -c "ALTER SYSTEM RESET full_page_writes" -c "SELECT pg_reload_conf()" >/dev/null
export BENCH_PGPORT=$PG_TEST_PORT BENCH_MODELS="$PWD/bench/migrate/models-200.pdm"
/usr/bin/python3 bench/migrate/bench.py
bench/migrate/memory.sh
