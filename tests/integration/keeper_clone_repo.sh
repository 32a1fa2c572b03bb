#!/bin/bash
# keeper_clone_repo.sh - a standby made from the repository instead of a full copy of the primary (issue 11,
# section 3): three keepers in network namespaces of their own archiving into one encrypted repository
# (archive_key_file in their settings: archive_command and restore_command carry it). With no backup
# yet, the first standbys are cloned by pg_basebackup, and their keepers say why not from the repository. A
# full backup of the primary is taken, rows are written after it; then a standby loses its data directory:
# its keeper restores the newest backup (`prodata restore --as-standby`), which replays the archived WAL
# and streams, holding every row, and says so. `restore --max-age` refuses a backup older than asked.
# Needs root (skipped and counted as a user), etcd and PostgreSQL 15.
source tests/lib/tap.sh
source tests/lib/etcd.sh
source tests/lib/netns.sh
source tests/lib/writers.sh
source tests/lib/keepers.sh
kc_test_begin 8 "a standby from the repository"

KC_ARCHIVE=$TAP_WORKDIR/archive
KC_ARCHIVE_KEY=$TAP_WORKDIR/repo.key
openssl rand -base64 32 >"$KC_ARCHIVE_KEY" && chmod 600 "$KC_ARCHIVE_KEY" && chown postgres: "$KC_ARCHIVE_KEY"
KC_CONFIG="postgresql_parameters.fsync=off postgresql_parameters.shared_buffers=16MB postgresql_parameters.max_connections=30"
kc_up "$TAP_WORKDIR/kc" || tap_fail_all "the namespaces or etcd could not be set up"
kc_wait_healthy 120 || tap_fail_all "no primary with two streaming standbys within 120 s: $(tail -n 3 "$KC_DIR"/n*/keeper.log | tr '\n' ' ')"
L=$(kc_leader)
S=$(kc_other_standby "$L")
expect_eq "with no backup, $S was cloned by pg_basebackup, its keeper saying why not from the repository" \
    "$(grep -c "cloned from pg_basebackup (not the repository: the repository $KC_ARCHIVE holds no complete backup" "$KC_DIR/$S/keeper.log")" 1

kc_sql "$L" "CREATE TABLE before_backup AS SELECT g AS n, repeat('b', 200) AS pad FROM generate_series(1, 50000) g" >/dev/null
check "the archive is encrypted: its segments are sealed" bash -c \
    "[ \"\$(head -c 8 \"\$(ls -d '$KC_ARCHIVE'/0000000* | head -1)\")\" = PDSEALED ]"
run_cmd "$PRODATA" backup --archive-dir "$KC_ARCHIVE" --archive-key-file "$KC_ARCHIVE_KEY" --pgdata "$KC_DIR/$L/data" \
    --database "host=$KC_DIR/$L/state port=5432 user=postgres dbname=postgres" --json
expect_eq "a full backup of the primary $L into the repository" "$RC|$(jq -r 'select(.backup) | .backup.type' <<<"$OUT")" "0|full"
kc_sql "$L" "CREATE TABLE after_backup AS SELECT g AS n, repeat('a', 200) AS pad FROM generate_series(1, 30000) g" >/dev/null
kc_sql "$L" "SELECT pg_switch_wal()" >/dev/null

# ---- the standby loses its data directory: its keeper restores the backup, replays, streams ---------------------
kc_keeper_kill "$S"
[ -n "$(kc_postmaster "$S")" ] && kill -9 "$(kc_postmaster "$S")" 2>/dev/null
poll_ok 20 bash -c "! kill -0 $(kc_postmaster "$S" || echo 0) 2>/dev/null"
rm -rf "$KC_DIR/$S/data"
kc_keeper_start "$S"
s_streams() {
    [ "$(kc_sql "$S" "SELECT count(*) FROM pg_stat_wal_receiver WHERE status = 'streaming'")" = 1 ] &&
        [ "$(kc_sql "$S" "SELECT count(*) FROM after_backup")" = 30000 ]
}
if poll_ok 120 s_streams; then
    tap_ok "$S, its data directory lost, is a streaming standby again with the rows written after the backup"
else
    tap_not_ok "$S streams again with every row" "$(tail -n 5 "$KC_DIR/$S/keeper.log")"
fi
expect_eq "its keeper cloned it from the repository's newest backup, not from the primary" \
    "$(grep -c "cloned from the repository's newest backup" "$KC_DIR/$S/keeper.log")" 1
expect_eq "the rows from before the backup are there too" "$(kc_sql "$S" "SELECT count(*) FROM before_backup")" 50000
check "no pg_basebackup ran for it on the primary (the copy came from the repository)" \
    bash -c "[ \$(grep -c 'cloned from pg_basebackup' '$KC_DIR/$S/keeper.log') = 1 ]"

# ---- restore --max-age ------------------------------------------------------------------------------------------
sleep 2
run_cmd "$PRODATA" restore --archive-dir "$KC_ARCHIVE" --archive-key-file "$KC_ARCHIVE_KEY" \
    --pgdata "$TAP_WORKDIR/too-old" --as-standby --max-age 1
expect_eq "restore --max-age 1: the backup, older, refused before anything is written" \
    "$RC|$(grep -c 'longer than --max-age 1 s' <<<"$OUT")|$(test -e "$TAP_WORKDIR/too-old" && echo written)" "2|1|"
tap_done
