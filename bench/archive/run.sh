#!/bin/bash
# bench/archive/run.sh - `make bench-archive`: how long `prodata wal-push` takes per 16 MB WAL segment while
# PostgreSQL 15 is under a write-heavy pgbench load, with zstd and without, beside pgBackRest's archive-push
# measured by its anchor (../shared/anchors/pgbackrest). A benchmark, not a test: it prints, never asserts.
#
#   bench/archive/run.sh                          both modes (~2 min with the defaults)
#   MODES=zstd SCALE=100 LOAD_SECONDS=60 bench/archive/run.sh       the anchor's own load size
#
# Per mode: a throwaway PostgreSQL 15 (tests/lib/pg.sh) with the server's durable defaults put back (fsync,
# synchronous_commit, full_page_writes on; shared_buffers 128MB) and archive_command = 'prodata wal-push
# --log-level=info ... %p', so every push writes its own duration into the server log, as pgBackRest's figures
# come from its log; then pgbench -i -s SCALE and pgbench -c CLIENTS -j 2 -T LOAD_SECONDS, the archiver's
# backlog (.ready files) sampled every second, a final pg_switch_wal() and the time until it is archived.
# Knobs: MODES="zstd none" SCALE=20 LOAD_SECONDS=30 CLIENTS=8 LEVEL=1 (zstd level), ANCHORS=../shared/anchors,
# OUT=/tmp/prodata-bench-archive/<time> (server logs, samples, table.md), PRODATA=build/prodata.
set -euo pipefail
cd "$(dirname "$0")/../.."
REPO=$PWD
PRODATA=${PRODATA:-$REPO/build/prodata}
ANCHORS=${ANCHORS:-$(cd .. && pwd)/shared/anchors}
MODES=${MODES:-zstd none}
SCALE=${SCALE:-20}
LOAD_SECONDS=${LOAD_SECONDS:-30}
CLIENTS=${CLIENTS:-8}
LEVEL=${LEVEL:-1}
OUT=${OUT:-/tmp/prodata-bench-archive/$(date +%Y%m%d-%H%M%S)}
[ -x "$PRODATA" ] || { echo "bench: $PRODATA is missing; run make first" >&2; exit 1; }
mkdir -p "$OUT" && chmod 755 "$OUT"
source tests/lib/pg.sh
source bench/archive/lib.sh

PG_DIR=""
SAMPLER=""
cleanup() {
    [ -n "$SAMPLER" ] && kill "$SAMPLER" 2>/dev/null
    [ -n "$PG_DIR" ] && pg_instance_stop "$PG_DIR"
    return 0
}
trap cleanup EXIT

echo "bench/archive: commit $(git rev-parse --short HEAD), $(nproc) cores, $(uname -sr), loadavg $(cut -d' ' -f1-3 /proc/loadavg)"
echo "bench/archive: pgbench -i -s $SCALE, then -c $CLIENTS -j 2 -T $LOAD_SECONDS; zstd level $LEVEL; raw output in $OUT"
: >"$OUT/rows.tsv"
for mode in $MODES; do
    run_mode "$mode"
done
print_table | tee "$OUT/table.md"
