# bench/archive/lib.sh - the steps of run.sh: one PostgreSQL per mode under load with prodata wal-push as its
# archive_command, the durations read back from the server log, and the table beside pgBackRest's anchor.

# start_server DIR MODE ARCHIVE: a throwaway PostgreSQL archiving into ARCHIVE with compression MODE.
start_server() {
    local dir=$1 mode=$2 archive=$3
    pg_instance_start "$dir" || return 1
    cat >>"$PG_DATA_DIR/postgresql.auto.conf" <<CONF
fsync = on
synchronous_commit = on
full_page_writes = on
shared_buffers = 128MB
max_wal_size = 1GB
wal_level = replica
archive_mode = on
archive_command = '$REPO/bench/archive/timed.sh $PRODATA wal-push --archive-dir $archive --archive-compress=$mode --archive-compress-level=$LEVEL --log-level=info %p'
CONF
    pg_as_owner "$PGBIN/pg_ctl" -D "$PG_DATA_DIR" -l "$dir/postgres.log" -w -t 60 restart >/dev/null
}

# sample_backlog FILE: the number of .ready files once a second, until killed.
sample_backlog() {
    while :; do
        ls "$PG_DATA_DIR/pg_wal/archive_status" 2>/dev/null | grep -c '\.ready$' >>"$1" || true
        sleep 1
    done
}

# wait_archived: pg_switch_wal(), then seconds until that segment is archived (at most 300).
wait_archived() {
    local last start=$EPOCHREALTIME deadline=$((SECONDS + 300))
    last=$(psql -X -At -c "SELECT pg_walfile_name(pg_switch_wal())")
    until [ "$(psql -X -At -c "SELECT coalesce(last_archived_wal, '') >= '$last' FROM pg_stat_archiver")" = t ]; do
        [ $SECONDS -ge $deadline ] && { echo "timeout"; return; }
        sleep 0.02
    done
    awk -v a="$start" -v b="$EPOCHREALTIME" 'BEGIN { printf "%.2f", b - a }'
}

# split_durations LOG PUSH WALL: for each 16 MB segment pushed, the duration wal-push logged (PUSH) and the
# wall time timed.sh logged right after it, exec included (WALL), one number a line.
split_durations() {
    awk -v push="$2" -v wall="$3" '
        /wal-push: [^ ]*\/[0-9A-F]+ archived \([0-9.]+ ms\)/ {
            match($0, /\([0-9.]+ ms\)/); pending = substr($0, RSTART + 1, RLENGTH - 5); next }
        /^wall [0-9.]+ ms$/ && pending != "" { print pending > push; print $2 > wall; pending = "" }
        /^wall / { pending = "" }' "$1"
    touch "$2" "$3"
}

# stats FILE: "n min p50 p95 max" of the numbers in FILE (nearest rank).
stats() {
    sort -n "$1" | awk '{ v[NR] = $1 } END {
        if (NR == 0) { print "0 - - - -"; exit }
        p50 = v[int(0.5 * NR + 0.999999)]; p95 = v[int(0.95 * NR + 0.999999)]
        printf "%d %.0f %.0f %.0f %.0f\n", NR, v[1], p50, p95, v[NR] }'
}

run_mode() {
    local mode=$1 dir archive tps catchup original stored
    dir="$OUT/pg-$mode"
    archive="$OUT/archive-$mode"
    PG_DIR=$dir
    mkdir -p "$archive"
    [ "$(id -u)" = 0 ] && chown postgres: "$archive"
    start_server "$dir" "$mode" "$archive"
    echo "bench/archive: $mode: pgbench -i -s $SCALE"
    pgbench -i -s "$SCALE" -q postgres >"$OUT/init-$mode.log" 2>&1
    sample_backlog "$OUT/backlog-$mode.txt" &
    SAMPLER=$!
    echo "bench/archive: $mode: pgbench -c $CLIENTS -T $LOAD_SECONDS"
    pgbench -n -c "$CLIENTS" -j 2 -T "$LOAD_SECONDS" postgres >"$OUT/pgbench-$mode.log" 2>&1
    kill "$SAMPLER" && wait "$SAMPLER" 2>/dev/null || true
    SAMPLER=""
    catchup=$(wait_archived)
    tps=$(grep -oE 'tps = [0-9.]+' "$OUT/pgbench-$mode.log" | head -1 | cut -d' ' -f3)
    split_durations "$dir/postgres.log" "$OUT/push-ms-$mode.txt" "$OUT/wall-ms-$mode.txt"
    original=$(find "$archive" -name '[0-9A-F]*' -type f | grep -cE '/[0-9A-F]{24}$' || true)
    stored=$(du -sm "$archive" | cut -f1)
    printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$mode" "$(stats "$OUT/push-ms-$mode.txt")" "$(stats "$OUT/wall-ms-$mode.txt")" \
        "$(sort -n "$OUT/backlog-$mode.txt" | tail -1)" "$catchup" "$tps" "$original" "$stored" >>"$OUT/rows.tsv"
    cp "$dir/postgres.log" "$OUT/postgres-$mode.log"
    pg_instance_stop "$dir"
    PG_DIR=""
    rm -rf "$archive"
}

# The recorded figures of the pgBackRest anchor (README.md there): what is printed when it was not run here.
ANCHOR_RECORDED="120 42 73 144 216 1 0.08"

print_table() {
    local readme="$ANCHORS/pgbackrest/README.md"
    echo
    echo "| system | compression | segments | min / p50 / p95 / max ms per 16 MB segment (as logged) | the same with exec | worst .ready backlog | last segment archived after switch | pgbench tps | archive MB |"
    echo "|---|---|---:|---|---|---:|---:|---:|---:|"
    while IFS=$'\t' read -r mode numbers wall backlog catchup tps segments megabytes; do
        read -r n min p50 p95 max <<<"$numbers"
        read -r _ wmin wp50 wp95 wmax <<<"$wall"
        echo "| prodata wal-push | $([ "$mode" = zstd ] && echo "zstd level $LEVEL" || echo none) | $n | $min / **$p50** / **$p95** / $max | $wmin / $wp50 / $wp95 / $wmax | $backlog | $catchup s | ${tps%.*} | $megabytes ($segments segments) |"
    done <"$OUT/rows.tsv"
    read -r n min p50 p95 max backlog catchup <<<"$ANCHOR_RECORDED"
    echo "| pgBackRest 2.45 archive-push | zst (its default level) | $n | $min / **$p50** / **$p95** / $max | not measured | $backlog | $catchup s | 3237 | - |"
    echo
    if [ -f "$readme" ]; then
        echo "pgBackRest's row is the anchor's recorded run (2026-11-24: pgbench -i -s 100, then -c 8 -T 60, 2010 MB of"
        echo "WAL; $readme), not measured in this run: running it here needs its own 1.5 GB cluster and the"
        echo "anchor lock. Compare the columns as figures of one machine on different days."
    else
        echo "pgBackRest's row is the anchor's recorded figures (73 / 144 ms), the anchor being absent at $readme."
    fi
    echo "prodata's durations are the ones wal-push logs, measured inside the process from the command's start to the"
    echo "directory's fsync, as pgBackRest's \"archive-push command end: completed successfully (N ms)\" is; the exec"
    echo "of the process is in neither. \"With exec\" is timed.sh's wall time around the whole command (fork, exec,"
    echo "loading prodata's libraries, the push): what the archiver waits per segment. loadavg now $(cut -d' ' -f1-3 /proc/loadavg)."
}
