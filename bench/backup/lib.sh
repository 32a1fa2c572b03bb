# bench/backup/lib.sh - the steps of run.sh: one PostgreSQL with data checksums archiving into a repository,
# prodata's full backups, restores and restores to a moment (PITR) timed, the pgBackRest anchor's steps run
# and read back, and the table of both.

# rec SIDE CASE REP SECONDS [NOTE]: one measured time, into times.tsv and on the console.
rec() {
    printf '%s\t%s\t%s\t%s\t%s\n' "$1" "$2" "$3" "$4" "${5:-}" >>"$OUT/times.tsv"
    echo "  [$1] $2 #$3: $4 s${5:+ ($5)}"
}
since() { awk -v a="$1" -v b="$EPOCHREALTIME" 'BEGIN { printf "%.2f", b - a }'; }

setup_cluster() {
    mkdir -p "$REPO" "$OUT/owned"
    [ "$(id -u)" = 0 ] && chown postgres: "$REPO" "$OUT/owned"
    pg_instance_start "$PG_DIR" >/dev/null || return 1
    cat >>"$PG_DATA_DIR/postgresql.auto.conf" <<CONF
fsync = on
synchronous_commit = on
full_page_writes = on
shared_buffers = 128MB
max_wal_size = 1GB
wal_level = replica
archive_mode = on
archive_command = '$PRODATA_WAL wal-push --archive-dir $REPO${KEY_FILE:+ --archive-key-file $KEY_FILE} %p'
CONF
    pg_as_owner "$PGBIN/pg_ctl" -D "$PG_DATA_DIR" -w -t 60 stop >/dev/null
    pg_as_owner "$PGBIN/pg_checksums" --enable -D "$PG_DATA_DIR" >/dev/null 2>&1
    pg_as_owner "$PGBIN/pg_ctl" -D "$PG_DATA_DIR" -l "$PG_DIR/postgres.log" -w -t 60 start >/dev/null
    echo "bench/backup: pgbench -i -s $SCALE"
    pgbench -i -s "$SCALE" -q postgres >"$OUT/init.log" 2>&1
    DB_MB=$(psql -X -At -c "SELECT round(sum(pg_database_size(datname)) / 1e6) FROM pg_database")
    echo "bench/backup: all databases: $DB_MB MB"
}

ours_full() {
    local rep t0 out
    psql -X -q -c "CHECKPOINT"
    for rep in $(seq 1 "$REPS"); do
        t0=$EPOCHREALTIME
        out=$("$PRODATA" backup --archive-dir "$REPO" ${KEY_FILE:+--archive-key-file "$KEY_FILE"} --jobs "$JOBS" --json | tail -1)
        rec prodata "full zstd jobs=$JOBS" "$rep" "$(since "$t0")" \
            "$(jq -r '.backup | "\(.label), stored \(.stored_bytes / 1e6 | floor) MB of \(.bytes / 1e6 | floor) MB"' <<<"$out")"
    done
    STORED_MB=$(jq -r '.backup.stored_bytes / 1e6 | floor' <<<"$out")
}

stop_restored() {
    local pid
    pid=$(head -1 "$RESTORED/data/postmaster.pid" 2>/dev/null || true)
    [[ "$pid" =~ ^[0-9]+$ ]] && pg_as_owner "$PGBIN/pg_ctl" -D "$RESTORED/data" -m immediate -w -t 60 stop \
        >/dev/null 2>&1
    rm -rf "$RESTORED"
    return 0
}

# start_timed PORT: PostgreSQL on the restored directory; prints the seconds until it is promoted (at most 600).
start_timed() { # PORT [ENV=VALUE ...]: the restored copy started (with those in its environment) until promoted
    local t0=$EPOCHREALTIME port=$1 deadline=$((SECONDS + 600))
    shift
    pg_as_owner env "$@" "$PGBIN/pg_ctl" -D "$RESTORED/data" -l "$OUT/owned/restored.log" \
        -o "-p $port -k $OUT/owned -c archive_mode=off" start >/dev/null 2>&1
    until [ "$(PGPORT=$port psql -X -At -c "SELECT pg_is_in_recovery()" 2>/dev/null)" = f ]; do
        [ $SECONDS -ge $deadline ] && { echo "timeout"; return; }
        sleep 0.02
    done
    since "$t0"
}

ours_restore() {
    local rep t0 restore promote out
    for rep in $(seq 1 "$REPS"); do
        stop_restored
        t0=$EPOCHREALTIME
        "$PRODATA" restore --archive-dir "$REPO" ${KEY_FILE:+--archive-key-file "$KEY_FILE"} --pgdata "$RESTORED/data" --jobs "$JOBS" >/dev/null
        restore=$(since "$t0")
        promote=$(start_timed "$(pg_free_port)")
        rec prodata "restore into empty dir jobs=$JOBS: restore command" "$rep" "$restore"
        rec prodata "restore into empty dir jobs=$JOBS: start -> promoted (end of archive)" "$rep" "$promote"
        rec prodata "restore into empty dir jobs=$JOBS: total until writable" "$rep" \
            "$(awk -v a="$restore" -v b="$promote" 'BEGIN { printf "%.2f", a + b }')"
        # as the anchor: the copy (promoted, so it went its own way a little) stopped, the same backup again
        pg_as_owner "$PGBIN/pg_ctl" -D "$RESTORED/data" -m fast -w -t 60 stop >/dev/null 2>&1
        t0=$EPOCHREALTIME
        out=$("$PRODATA" restore --archive-dir "$REPO" ${KEY_FILE:+--archive-key-file "$KEY_FILE"} --pgdata "$RESTORED/data" --jobs "$JOBS" --delta | grep '^delta:')
        restore=$(since "$t0")
        promote=$(start_timed "$(pg_free_port)")
        rec prodata "restore --delta into the existing dir jobs=$JOBS: restore command" "$rep" "$restore" "$out"
        rec prodata "restore --delta into the existing dir jobs=$JOBS: total until writable" "$rep" \
            "$(awk -v a="$restore" -v b="$promote" 'BEGIN { printf "%.2f", a + b }')"
    done
    stop_restored
}

# load_with_markers: pgbench for LOAD_SECONDS; halfway, marker A, then the moment T (a whole second, UTC),
# then marker B; sets MOMENT.
load_with_markers() {
    psql -X -q -c "CREATE TABLE IF NOT EXISTS marker (name text)"
    pgbench -n -c 8 -j 2 -T "$LOAD_SECONDS" postgres >"$OUT/load.log" 2>&1 &
    local load=$!
    sleep $((LOAD_SECONDS / 2))
    psql -X -q -c "INSERT INTO marker VALUES ('A')"
    sleep 1.5
    MOMENT=$(psql -X -At -c "SELECT to_char(date_trunc('second', clock_timestamp()) AT TIME ZONE 'UTC', 'YYYY-MM-DD HH24:MI:SS') || '+00'")
    sleep 1.5
    psql -X -q -c "INSERT INTO marker VALUES ('B')"
    wait "$load"
    local last
    last=$(psql -X -At -c "SELECT pg_walfile_name(pg_switch_wal())")
    until [ "$(psql -X -At -c "SELECT coalesce(last_archived_wal, '') >= '$last' FROM pg_stat_archiver")" = t ]; do
        sleep 0.05
    done
    echo "bench/backup: load $(grep -oE 'tps = [0-9.]+' "$OUT/load.log" | head -1), moment $MOMENT"
}

# ours_diff: REPS diffs after the load, each on the last full (as the anchor's incr and diff after the load).
ours_diff() {
    local rep t0 out
    for rep in $(seq 1 "$REPS"); do
        t0=$EPOCHREALTIME
        out=$("$PRODATA" backup --archive-dir "$REPO" ${KEY_FILE:+--archive-key-file "$KEY_FILE"} --type diff --jobs "$JOBS" --json | tail -1)
        rec prodata "diff after the load jobs=$JOBS" "$rep" "$(since "$t0")" \
            "$(jq -r '.backup | "\(.label), stored \(.stored_bytes / 1e6 * 10 | floor / 10) MB, read \(.bytes / 1e6 | floor) MB, \(.pages_stored) of \(.pages_read) relation pages changed"' <<<"$out")"
        printf '%s\t%s\n' "$rep" "$(jq -r '.backup.stored_bytes / 1e6 * 10 | floor / 10' <<<"$out")" >>"$OUT/diff-stored.tsv"
    done
}

# restore_to_moment: the newest backup before MOMENT restored into $RESTORED/data, set to recover to it; prints
# the restore command's seconds.
restore_to_moment() {
    local t0=$EPOCHREALTIME
    "$PRODATA" restore --archive-dir "$REPO" ${KEY_FILE:+--archive-key-file "$KEY_FILE"} --pgdata "$RESTORED/data" \
        --jobs "$JOBS" --target-time "$MOMENT" >/dev/null
    since "$t0"
}

# wal_in_place: every archived segment of timeline 1 from the restored backup's on put in its pg_wal, and
# restore_command made a no-op: recovery then replays from pg_wal, PostgreSQL's own replay alone.
wal_in_place() {
    local first name
    first=$(sed -n 's/^START WAL LOCATION: .*(file \([0-9A-F]*\))$/\1/p' "$RESTORED/data/backup_label")
    for name in $(ls "$REPO" | grep -E '^00000001[0-9A-F]{16}$'); do
        [[ "$name" < "$first" ]] && continue
        pg_as_owner "$PRODATA_WAL" wal-fetch --archive-dir "$REPO" ${KEY_FILE:+--archive-key-file "$KEY_FILE"} \
            "$name" "$RESTORED/data/pg_wal/$name"
    done
    sed -i "s|^restore_command = .*|restore_command = '/bin/false'|" "$RESTORED/data/postgresql.auto.conf"
}

# REPS rounds, each of three PITRs to MOMENT in turn (so that the machine's drift hits each alike): with
# wal-fetch's read-ahead (the default), without it, and with the WAL already in pg_wal (replay alone).
ours_pitr() {
    local rep restore promote markers
    for rep in $(seq 1 "$REPS"); do
        stop_restored
        restore=$(restore_to_moment)
        RESTORED_PORT=$(pg_free_port)
        promote=$(start_timed "$RESTORED_PORT")
        markers=$(PGPORT=$RESTORED_PORT psql -X -At -c "SELECT string_agg(name, ',' ORDER BY name) FROM marker")
        rec prodata "PITR: restore command" "$rep" "$restore"
        rec prodata "PITR: start -> target reached, promoted" "$rep" "$promote" "markers $markers (A expected)"
        rec prodata "PITR end to end (restore + replay to T + promote)" "$rep" \
            "$(awk -v a="$restore" -v b="$promote" 'BEGIN { printf "%.2f", a + b }')"
        stop_restored
        restore_to_moment >/dev/null
        RESTORED_PORT=$(pg_free_port)
        promote=$(start_timed "$RESTORED_PORT" PRODATA_WAL_FETCH_PREFETCH=0)
        rec prodata "PITR: start -> target reached, promoted, wal_fetch_prefetch=0" "$rep" "$promote"
        stop_restored
        restore_to_moment >/dev/null
        wal_in_place
        RESTORED_PORT=$(pg_free_port)
        promote=$(start_timed "$RESTORED_PORT")
        rec prodata "PITR: start -> target reached, promoted, WAL in pg_wal" "$rep" "$promote"
    done
    stop_restored
}

anchor_run() {
    local script="$ANCHORS/pgbackrest/run.sh" res
    echo "bench/backup: pgBackRest anchor: setup and steps full load diffincr restore pitr (SCALE=$SCALE REPS=$REPS)"
    SCALE=$SCALE REPS=$REPS "$script" setup >"$OUT/anchor-setup.log" 2>&1 || { echo "anchor setup failed"; return; }
    SCALE=$SCALE REPS=$REPS LOAD_SECONDS=$LOAD_SECONDS STEPS="full load diffincr restore pitr" "$script" measure \
        >"$OUT/anchor-measure.log" 2>&1 || echo "bench/backup: anchor measure failed (see $OUT/anchor-measure.log)"
    "$script" stop >/dev/null 2>&1 || true
    res=$(ls -d /tmp/anchor-pgbackrest/results/*/ 2>/dev/null | sort | tail -1)
    [ -n "$res" ] && [ -f "$res/times.tsv" ] || { echo "bench/backup: no anchor times found"; return; }
    awk -F'\t' -v OFS='\t' '{ print "pgbackrest", $2, $3, $4, $7 }' "$res/times.tsv" >>"$OUT/times.tsv"
    awk -F'\t' '$2 ~ /^(incr|diff) after the load/ && $6 != "" { printf "%s\t%.1f\n", $2, $6 / 1e6 }' \
        "$res/times.tsv" >"$OUT/anchor-stored.tsv"
}

# median SIDE CASE: the median of the times recorded for that case, or "-".
median() {
    awk -F'\t' -v side="$1" -v case_="$2" '$1 == side && $2 == case_ { print $4 }' "$OUT/times.tsv" | sort -n |
        awk '{ v[NR] = $1 } END { if (NR == 0) print "-"; else print v[int((NR + 1) / 2)] }'
}

ratio() { awk -v a="$1" -v b="$2" 'BEGIN { if (a == "-" || b == "-" || a == 0) print "-"; else printf "%.2fx", b / a }'; }

print_table() {
    local ours theirs
    echo
    echo "| what | prodata s | pgBackRest s | pgBackRest / prodata |"
    echo "|---|---:|---:|---:|"
    while IFS='|' read -r what ours_case their_case; do
        ours=$(median prodata "$ours_case")
        theirs=$(median pgbackrest "$their_case")
        echo "| $what | $ours | $theirs | $(ratio "$ours" "$theirs") |"
    done <<EOF
full backup, zstd, 2 workers|full zstd jobs=$JOBS|full zst pmax=2
diff after the 60 s load (prodata's diff; pgBackRest's diff)|diff after the load jobs=$JOBS|diff after the load (prior = last full)
diff after the load (prodata's diff; pgBackRest's incr)|diff after the load jobs=$JOBS|incr after the load (prior = last full)
restore of the diff (diff + full; pgBackRest: incr + diff + full) into an empty directory|restore into empty dir jobs=$JOBS: restore command|restore into empty dir pmax=2: restore command
restore and start until writable|restore into empty dir jobs=$JOBS: total until writable|restore into empty dir pmax=2: total until writable
restore --delta into the restored copy|restore --delta into the existing dir jobs=$JOBS: restore command|restore --delta into the existing dir pmax=2: restore command
PITR: start until the target is reached (WAL replay)|PITR: start -> target reached, promoted|PITR: start -> target reached, promoted
PITR end to end|PITR end to end (restore + replay to T + promote)|PITR end to end (restore + replay to T + promote)
PITR replay with wal-fetch's read-ahead off (wal_fetch_prefetch=0)|PITR: start -> target reached, promoted, wal_fetch_prefetch=0|PITR: start -> target reached, promoted
PITR replay alone: the WAL already in pg_wal, no restore_command|PITR: start -> target reached, promoted, WAL in pg_wal|-
EOF
    echo
    echo "stored after the load: prodata's diff $(sort -n -k2 "$OUT/diff-stored.tsv" 2>/dev/null | awk '{ v[NR] = $2 } END { print (NR ? v[int((NR + 1) / 2)] : "-") }') MB;" \
        "pgBackRest's diff $(awk -F'\t' '/^diff/ { print $2; exit }' "$OUT/anchor-stored.tsv" 2>/dev/null) MB," \
        "incr $(awk -F'\t' '/^incr/ { print $2; exit }' "$OUT/anchor-stored.tsv" 2>/dev/null) MB (repository growth)"
    echo "prodata: ${DB_MB:-?} MB of databases, a full backup stores ${STORED_MB:-?} MB. PITR end to end over WAL replay alone:" \
        "$(awk -v a="$(median prodata 'PITR end to end (restore + replay to T + promote)')" \
            -v b="$(median prodata 'PITR: start -> target reached, promoted')" \
            'BEGIN { if (b == "-" || b == 0) print "-"; else printf "%.2fx (goal <= 1.2x)", a / b }');" \
        "over PostgreSQL's replay alone (the WAL in pg_wal): $(awk -v a="$(median prodata 'PITR end to end (restore + replay to T + promote)')" \
            -v b="$(median prodata 'PITR: start -> target reached, promoted, WAL in pg_wal')" \
            'BEGIN { if (b == "-" || b == 0) print "-"; else printf "%.2fx", a / b }')"
}
