#!/bin/bash
# bench/backup/run.sh - `make bench-backup`: prodata backup and restore beside pgBackRest 2.45, measured in the
# same run on the same data (pgbench -i -s SCALE, data checksums, zstd level 1, 2 workers). A benchmark, not a
# test: it prints, never asserts.
#
#   bench/backup/run.sh                         ours, then the anchor's steps (~15 min at scale 100)
#   SCALE=10 REPS=1 ANCHOR=0 bench/backup/run.sh    a quick look at ours alone
#
# Ours: a throwaway PostgreSQL 15 (tests/lib/pg.sh) with the durable defaults put back (fsync,
# synchronous_commit, full_page_writes on; shared_buffers 128MB), data checksums (pg_checksums --enable),
# archive_command = 'prodata-wal wal-push ... %p' into the repository; then REPS full backups (--jobs JOBS),
# a pgbench load of LOAD_SECONDS with marker A committed before a moment T and marker B after it, REPS diff
# backups after it (stored MB beside pgBackRest's repository growth for its diff and incr), REPS restores of
# the newest backup (the diff, with its full) into an empty directory each started until it is promoted,
# and REPS rounds of restores to T (PITR) started until promoted, checked to hold A and not B: with
# wal-fetch's read-ahead, without it, and with the WAL put in pg_wal first (PostgreSQL's replay alone). The anchor (../shared/anchors/pgbackrest/run.sh setup, then
# measure with STEPS="full load diffincr restore pitr") runs the same steps on its own cluster; its
# times.tsv is read back. Knobs: SCALE=100 REPS=3 JOBS=2 LOAD_SECONDS=60 ANCHOR=1 ANCHORS=../shared/anchors
# OUT=/tmp/prodata-bench-backup/<time> PRODATA=build/prodata; ENCRYPT=1 makes ours an encrypted repository
# (AES-256-GCM, a key file), to compare with a plain run.
set -euo pipefail
cd "$(dirname "$0")/../.."
ROOT=$PWD
PRODATA=${PRODATA:-$ROOT/build/prodata}
PRODATA_WAL="$(dirname "$PRODATA")/prodata-wal"
ANCHORS=${ANCHORS:-$(cd .. && pwd)/shared/anchors}
SCALE=${SCALE:-100}
REPS=${REPS:-3}
JOBS=${JOBS:-2}
LOAD_SECONDS=${LOAD_SECONDS:-60}
ANCHOR=${ANCHOR:-1}
OUT=${OUT:-/tmp/prodata-bench-backup/$(date +%Y%m%d-%H%M%S)}
[ -x "$PRODATA" ] && [ -x "$PRODATA_WAL" ] || { echo "bench: build prodata first (make)" >&2; exit 1; }
mkdir -p "$OUT" && chmod 755 "$OUT"
source tests/lib/pg.sh
source bench/backup/lib.sh

PG_DIR="$OUT/pg"
REPO="$OUT/repo"
KEY_FILE=""
if [ "${ENCRYPT:-0}" = 1 ]; then
    mkdir -p "$OUT/owned" && KEY_FILE="$OUT/owned/repo.key"
    openssl rand -base64 32 >"$KEY_FILE" && chmod 600 "$KEY_FILE"
    [ "$(id -u)" = 0 ] && chown postgres: "$OUT/owned" "$KEY_FILE"
fi
RESTORED="$OUT/owned/restored"
cleanup() {
    stop_restored
    pg_instance_stop "$PG_DIR"
    return 0
}
trap cleanup EXIT

echo "bench/backup: commit $(git rev-parse --short HEAD), $(nproc) cores, $(uname -sr), loadavg $(cut -d' ' -f1-3 /proc/loadavg)"
echo "bench/backup: pgbench -i -s $SCALE, $REPS repetitions, $JOBS workers, zstd level 1${KEY_FILE:+, encrypted repository}; raw output in $OUT"
: >"$OUT/times.tsv"
setup_cluster
ours_full
load_with_markers
ours_diff
ours_restore
ours_pitr
pg_instance_stop "$PG_DIR"
PG_DIR=""
if [ "$ANCHOR" = 1 ] && [ -x "$ANCHORS/pgbackrest/run.sh" ] && command -v pgbackrest >/dev/null; then
    anchor_run
else
    echo "bench/backup: pgBackRest anchor skipped (ANCHOR=0, or $ANCHORS/pgbackrest/run.sh or pgbackrest missing)"
fi
print_table | tee "$OUT/table.md"
