#!/bin/bash
# bench/migrate/run.sh - makemigrations + migrate of the 200-model project,
# prodata beside Django (the django-migrate anchor) in one run, on the same
# PostgreSQL 15 server (the anchor's: 127.0.0.1:55451, PostgreSQL defaults,
# fsync on). Prints one table with both.
#   bench/migrate/run.sh [N]        N models (default 200); REPS=5 repetitions of ours
#   SKIP_DJANGO=1 bench/migrate/run.sh   only ours (Django takes about two minutes)
set -euo pipefail
cd "$(dirname "$0")/../.."
ANCHOR=${ANCHOR:-$(cd ../shared/anchors/django-migrate 2>/dev/null && pwd || true)}
[ -n "$ANCHOR" ] && [ -f "$ANCHOR/run.sh" ] || { echo "bench: the django-migrate anchor was not found (set ANCHOR=)" >&2; exit 1; }
export ANCHOR N=${1:-200}
"$ANCHOR/run.sh" start >/dev/null
exec /usr/bin/python3 bench/migrate/bench.py
