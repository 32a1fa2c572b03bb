#!/bin/bash
# backup_crypt.sh - an encrypted repository on real PostgreSQL 15: a primary archiving with its key file
# (uncompressed, so that plain text would show), a full and an incr backup under the key; no row's text, no
# manifest field readable in any file of the repository; list, info, verify and verify --restore with the
# key; a restore of the chain started and compared row by row with the primary; and the refusals, each before
# anything is written: no key, a wrong key (for wal-fetch, list and restore), a key for a plain repository, a
# key too short, archive_key on the command line, a restore whose key is not in a file; a changed byte of a
# stored file found by verify and by restore.
source tests/lib/pg.sh
source tests/lib/tap.sh
source tests/lib/backup.sh
tap_plan 29
tap_workdir
backup_test_dirs
RESTORED_PORT=
stop_restored() { stop_data_dir "$RESTORED_DIR/data"; rm -rf "$RESTORED_DIR"; }
trap 'stop_restored; pg_instance_stop "$PRIMARY_DIR"; rm -rf "$TAP_WORKDIR"' EXIT

KEY="$TAP_WORKDIR/owned/repo.key"
WRONG="$TAP_WORKDIR/owned/wrong.key"
openssl rand -base64 32 >"$KEY"
openssl rand -base64 32 >"$WRONG"
chmod 600 "$KEY" "$WRONG"
[ "$(id -u)" = 0 ] && chown postgres: "$KEY" "$WRONG"
crypt() { "$PRODATA" backup --archive-dir "$REPO" --archive-key-file "$KEY" "$@"; }
outcome() { jq -c "select(.backup) | .backup | $1" <<<"$OUT" 2>/dev/null; }

backup_primary_start "archive_command = '$PRODATA_WAL wal-push --archive-dir $REPO --archive-key-file $KEY --archive-compress none %p'" ||
    exit 1
MARK=plaintext-marker-7f3a
sql postgres "CREATE EXTENSION amcheck"
sql postgres "CREATE TABLE t (id bigserial PRIMARY KEY, note text NOT NULL)"
sql postgres "INSERT INTO t (note) SELECT '$MARK ' || g FROM generate_series(1, 20000) g"

# 1. a full backup under the key, the repository marked as encrypted
run_cmd crypt --archive-compress none --json
expect_eq "a full backup into an empty repository with a key" "$RC|$(outcome .type)" '0|"full"'
FULL=$(outcome .label | tr -d '"')
check "the repository is marked encrypted (prodata.keycheck)" test -s "$REPO/prodata.keycheck"
sql postgres "UPDATE t SET note = '$MARK changed ' || id WHERE id % 100 = 0"
sql postgres "INSERT INTO t (note) SELECT '$MARK later ' || g FROM generate_series(1, 500) g"
run_cmd crypt --archive-compress none --type incr --json
expect_eq "an incr on it under the key" "$RC|$(outcome '[.type, .prior]')" "0|[\"incr\",\"$FULL\"]"
INCR=$(outcome .label | tr -d '"')
EXPECTED=$(sql postgres "SELECT md5(string_agg(id || ':' || note, ',' ORDER BY id)) FROM t")
sql postgres "SELECT pg_switch_wal()" >/dev/null
poll_ok 30 test -n "$(ls "$REPO" | grep -E '^[0-9A-F]{24}$' | tail -1)"

# 2. nothing readable in the repository
check "no file of the repository holds a row's text (WAL, backup files)" bash -c "! grep -rqa '$MARK' '$REPO'"
check "no file holds a manifest's or a WAL file's header in the clear" \
    bash -c "! grep -rqaE 'PDWALARC|PDBLOCKS|start_lsn|\"entries\"' '$REPO'"
check "every stored file starts as a sealed file" \
    bash -c "for f in \$(find '$REPO' -type f ! -name prodata.archive ! -name .lock ! -path '*/points/*'); do
        [ \"\$(head -c 8 \"\$f\")\" = PDSEALED ] || { echo \"\$f\"; exit 1; }; done"

# 3. the key is needed, and must be the repository's
run_cmd "$PRODATA" backup list --archive-dir "$REPO"
expect_eq "list without a key: refused, naming the setting" \
    "$RC|$(grep -c 'is encrypted, and no key is set' <<<"$OUT")|$(grep -c archive_key_file <<<"$OUT")" "1|1|1"
run_cmd "$PRODATA" backup list --archive-dir "$REPO" --archive-key-file "$WRONG"
expect_eq "list with another key: refused" "$RC|$(grep -c 'does not open the repository' <<<"$OUT")" "1|1"
run_cmd crypt list --json
expect_eq "list with the key: both backups" "$RC|$(jq -c '[.backups[].label]' <<<"$OUT")" "0|[\"$FULL\",\"$INCR\"]"
run_cmd crypt info "$INCR" --json
expect_eq "info with the key reads the manifest" "$RC|$(jq -r '.label' <<<"$OUT")" "0|$INCR"
SEGMENT=$(ls "$REPO" | grep -E '^[0-9A-F]{24}$' | head -1)
run_cmd "$PRODATA_WAL" wal-fetch --archive-dir "$REPO" --archive-key-file "$WRONG" "$SEGMENT" "$TAP_WORKDIR/seg"
expect_eq "wal-fetch with another key: refused, nothing written" "$RC|$(test -e "$TAP_WORKDIR/seg" && echo there)" "1|"
run_cmd "$PRODATA_WAL" wal-fetch --archive-dir "$REPO" --archive-key-file "$KEY" "$SEGMENT" "$TAP_WORKDIR/seg"
expect_eq "wal-fetch with the key: the segment, whole" "$RC|$(stat -c %s "$TAP_WORKDIR/seg")" "0|16777216"
run_cmd "$PRODATA" restore --archive-dir "$REPO" --archive-key-file "$WRONG" --pgdata "$RESTORED_DIR/data"
expect_eq "restore with another key: refused before anything is written" \
    "$RC|$(test -e "$RESTORED_DIR" && echo written)" "1|"
run_cmd env PRODATA_ARCHIVE_KEY="$(cat "$KEY")" "$PRODATA" restore --archive-dir "$REPO" --pgdata "$RESTORED_DIR/data"
expect_eq "restore with the key as archive_key only: refused (restore_command reads a file)" \
    "$RC|$(grep -c 'archive_key only' <<<"$OUT")|$(test -e "$RESTORED_DIR" && echo written)" "2|1|"
run_cmd env PRODATA_ARCHIVE_KEY="$(cat "$KEY")" "$PRODATA" backup list --archive-dir "$REPO" --json
expect_eq "archive_key from the environment opens the repository" "$RC|$(jq '.backups | length' <<<"$OUT")" "0|2"
run_cmd "$PRODATA" backup list --archive-dir "$REPO" --archive-key "$(cat "$KEY")"
expect_eq "archive_key on the command line: refused" "$RC|$(grep -c 'secret on the command line' <<<"$OUT")" "2|1"
echo short >"$TAP_WORKDIR/short.key"
run_cmd "$PRODATA" backup list --archive-dir "$REPO" --archive-key-file "$TAP_WORKDIR/short.key"
expect_eq "a key of 5 bytes: a usage error saying how to make one" \
    "$RC|$(grep -c 'needs at least 32' <<<"$OUT")|$(grep -c 'openssl rand' <<<"$OUT")" "2|1|1"
mkdir -p "$TAP_WORKDIR/plain"
[ "$(id -u)" = 0 ] && chown postgres: "$TAP_WORKDIR/plain"
"$PRODATA_WAL" wal-push --archive-dir "$TAP_WORKDIR/plain" "$PG_DATA_DIR/pg_wal/$(sql postgres "SELECT pg_walfile_name(pg_current_wal_lsn())")" >/dev/null 2>&1
run_cmd "$PRODATA" backup list --archive-dir "$TAP_WORKDIR/plain" --archive-key-file "$KEY"
expect_eq "a key for a repository that holds plain files: refused" \
    "$RC|$(grep -c 'is not encrypted, and a key is set' <<<"$OUT")" "1|1"

# a sealed file is bound to its name: a segment copied over a later one's name does not open
cp "$REPO/$SEGMENT" "$REPO/000000010000000F00000001"
run_cmd "$PRODATA_WAL" wal-fetch --archive-dir "$REPO" --archive-key-file "$KEY" 000000010000000F00000001 "$TAP_WORKDIR/seg2"
expect_eq "a segment copied under another segment's name: refused" \
    "$RC|$(grep -c 'under another name' <<<"$OUT")|$(test -e "$TAP_WORKDIR/seg2" && echo written)" "1|1|"
rm -f "$REPO/000000010000000F00000001"
if [ "$(id -u)" = 0 ]; then
    cp "$KEY" "$TAP_WORKDIR/root.key" && chmod 600 "$TAP_WORKDIR/root.key" # root's: the postgres account cannot read it
    run_cmd "$PRODATA" backup list --archive-dir "$REPO" --archive-key-file "$TAP_WORKDIR/root.key"
    expect_eq "a key file the repository's owner cannot read: refused (restore_command could not read it)" \
        "$RC|$(grep -c 'cannot be read by uid' <<<"$OUT")" "1|1"
else
    tap_skip "a key file the repository's owner cannot read" "needs root"
fi
# eight first writers at once into empty repositories, with the same key: each repository marked once, no refusal
RACE_FAILS=0
cp "$TAP_WORKDIR/seg" "$TAP_WORKDIR/owned/$SEGMENT" && chmod 644 "$TAP_WORKDIR/owned/$SEGMENT"
for round in $(seq 1 30); do
    mkdir -p "$TAP_WORKDIR/owned/race$round"
    [ "$(id -u)" = 0 ] && chown postgres: "$TAP_WORKDIR/owned/race$round"
    for i in $(seq 1 8); do
        pg_as_owner "$PRODATA_WAL" wal-push --archive-dir "$TAP_WORKDIR/owned/race$round" --archive-key-file "$KEY" \
            "$TAP_WORKDIR/owned/$SEGMENT" >"$TAP_WORKDIR/race$round.$i" 2>&1 &
    done
    wait
    for i in $(seq 1 8); do [ -s "$TAP_WORKDIR/race$round.$i" ] && RACE_FAILS=$((RACE_FAILS + 1)); done
done
expect_eq "240 first writers in 30 empty repositories: none refused" "$RACE_FAILS" 0

# 4. verify, restore of the chain, verify --restore
run_cmd crypt verify --json
expect_eq "verify with the key: every file and the WAL read back" "$RC|$(jq -c '[.ok, .backups]' <<<"$OUT")" "0|[true,2]"
run_cmd crypt verify --restore --set "$INCR" --json
expect_eq "verify --restore with the key: restored, started (restore_command with the key file), amcheck clean" \
    "$RC|$(jq -s -c 'map(select(.trial)) | .[0].trial.ok' <<<"$OUT")" "0|true"
run_cmd "$PRODATA" restore --archive-dir "$REPO" --archive-key-file "$KEY" --pgdata "$RESTORED_DIR/data" \
    --target-lsn FF/0
expect_eq "an LSN past the archived WAL: refused, the sealed segments read with the key" \
    "$RC|$(grep -c 'is past the archived WAL' <<<"$OUT")|$(test -e "$RESTORED_DIR" && echo written)" "1|1|"
run_cmd "$PRODATA" restore --archive-dir "$REPO" --archive-key-file "$KEY" --pgdata "$RESTORED_DIR/data" \
    --set "$INCR" --target-immediate --jobs 3
expect_rc "restore of the incr's chain with the key" 0
check "the restored restore_command carries the key file" grep -q -- "--archive-key-file $KEY" \
    "$RESTORED_DIR/data/postgresql.auto.conf"
RESTORED_PORT=$(pg_free_port)
if pg_as_owner "$PGBIN/pg_ctl" -D "$RESTORED_DIR/data" -l "$TAP_WORKDIR/owned/restored.log" -w -t 60 \
    -o "-p $RESTORED_PORT -k $TAP_WORKDIR/owned" start >/dev/null 2>&1 &&
    PGPORT=$RESTORED_PORT poll_sql postgres "SELECT pg_is_in_recovery()" f 60; then
    expect_eq "the restored rows are the primary's at the incr" \
        "$(PGPORT=$RESTORED_PORT sql postgres "SELECT md5(string_agg(id || ':' || note, ',' ORDER BY id)) FROM t")" \
        "$EXPECTED"
else
    tap_not_ok "the restored copy started" "$(tail -20 "$TAP_WORKDIR/owned/restored.log")"
fi
stop_restored

# 5. a byte changed in a stored file: verify and restore say which
STORED=$(find "$REPO/backup/$FULL/data/base" -type f -size +100k | head -1)
BYTE=$(dd if="$STORED" bs=1 skip=70000 count=1 status=none | od -An -tx1 | tr -d ' ')
[ "$BYTE" = 58 ] && CHANGED=59 || CHANGED=58 # a byte that differs from the one there
printf "\x$CHANGED" | dd of="$STORED" bs=1 seek=70000 conv=notrunc status=none
run_cmd crypt verify --set "$FULL"
expect_eq "verify finds the changed unit (exit 3), naming the file" \
    "$RC|$(grep -q "${STORED#$REPO/backup/$FULL/data/}" <<<"$OUT" && echo named)" "3|named"
run_cmd "$PRODATA" restore --archive-dir "$REPO" --archive-key-file "$KEY" --pgdata "$RESTORED_DIR/data" --set "$FULL"
expect_eq "restore stops at it, naming the tag that failed" "$RC|$(grep -c 'fails its AES-256-GCM tag' <<<"$OUT")" "1|1"
tap_done
