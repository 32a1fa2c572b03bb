#!/bin/bash
# backup.sh - base backups and point-in-time recovery on real PostgreSQL 15 clusters of its own: a primary with
# data checksums archiving through prodata-wal into a repository; a full backup taken while a writer inserts,
# listed, restored to a named restore point after the load and compared with the primary's table there; a
# restore to a time between two known transactions (the row before is there, the row after is not); refusals
# before anything is written (a directory that is not empty, a target before the backup's end, a malformed
# target, no archive_dir); a stored file damaged in the repository stops the restore naming it and leaves
# the new directory empty; a backup killed mid-copy is listed as incomplete and removed by the next backup; a
# corrupt page of the primary is reported by file and block and fails the backup (exit 3).
source tests/lib/pg.sh
source tests/lib/tap.sh
source tests/lib/backup.sh
tap_plan 52
tap_workdir
backup_test_dirs
WRITER_STOP="$TAP_WORKDIR/writer.stop"
stop_restored() { stop_data_dir "$RESTORED_DIR/data"; rm -rf "$RESTORED_DIR"; }
trap 'touch "$WRITER_STOP"; stop_restored; pg_instance_stop "$PRIMARY_DIR"; rm -rf "$TAP_WORKDIR"' EXIT
backup() { "$PRODATA" backup --archive-dir "$REPO" "$@"; }

run_cmd "$PRODATA" backup
expect_eq "backup without archive_dir: a usage error naming the setting" "$RC|$(head -1 <<<"$OUT")" \
    "2|prodata: error: archive_dir is not set"

backup_primary_start || exit 1
sql postgres "CREATE TABLE t (id bigserial PRIMARY KEY, note text NOT NULL, at timestamptz DEFAULT clock_timestamp())"
sql postgres "INSERT INTO t (note) SELECT 'seed ' || g FROM generate_series(1, 20000) g"

# start_restored: PostgreSQL on the restored directory, on a port and socket of its own; waits until its
# recovery ended (promoted).
start_restored() {
    RESTORED_PORT=$(pg_free_port)
    pg_as_owner "$PGBIN/pg_ctl" -D "$RESTORED_DIR/data" -l "$TAP_WORKDIR/owned/restored.log" -w -t 60 \
        -o "-p $RESTORED_PORT -k $TAP_WORKDIR/owned -c archive_mode=off" start >/dev/null 2>&1 || return 1
    PGPORT=$RESTORED_PORT poll_sql postgres "SELECT pg_is_in_recovery()" f 60
}
table_digest() { PGPORT=$1 sql postgres "SELECT md5(string_agg(id || ':' || note, ',' ORDER BY id)) FROM t"; }

# 1. a full backup while a writer inserts
(for i in $(seq 1 400); do
    [ -e "$WRITER_STOP" ] && break
    psql -X -q -d postgres -c "INSERT INTO t (note) VALUES ('during $i')" >/dev/null 2>&1
done) &
WRITER=$!
run_cmd backup --jobs 2 --json
expect_rc "a full backup under a write load succeeds" 0
LABEL=$(jq -r 'select(.backup) | .backup.label' <<<"$OUT" 2>/dev/null)
expect_eq "its outcome names a full backup's label, no bad page" \
    "$(jq -c 'select(.backup) | [(.backup.label | test("^[0-9]{8}-[0-9]{6}F$")), .backup.type, .backup.bad_pages]' <<<"$OUT")" \
    '[true,"full",0]'
touch "$WRITER_STOP"
wait "$WRITER"
rm -f "$WRITER_STOP"
expect_eq "the writer wrote during the backup" "$(sql postgres "SELECT count(*) > 0 FROM t WHERE note LIKE 'during%'")" t
run_cmd backup --pgdata "$TAP_WORKDIR/owned"
expect_eq "a --pgdata that is not the server's data directory is refused before the backup starts" \
    "$RC|$(grep -c 'is not a PostgreSQL data directory' <<<"$OUT")|$(ls "$REPO/backup" | grep -c F)" "1|1|1"
run_cmd "$PRODATA" backup --archive-dir repo
expect_eq "a relative archive_dir is a usage error" "$RC|$(grep -c 'must be an absolute path' <<<"$OUT")" "2|1"
run_cmd backup list --json
expect_eq "backup list shows it with its WAL range, nothing incomplete" \
    "$(jq -c '[(.backups | length), .backups[0].label, (.backups[0].start_wal | length), (.incomplete | length)]' <<<"$OUT")" \
    "[1,\"$LABEL\",24,0]"
run_cmd backup info "$LABEL"
expect_out "backup info prints its fields" "stop_lsn +[0-9A-F]+/[0-9A-F]+"
expect_eq "the repository's files belong to PostgreSQL's account" \
    "$(find "$REPO/backup" ! -user "$(stat -c %U "$PG_DATA_DIR")" | head -3)" ""
expect_eq "no relation data of pg_wal, postmaster.pid or pg_replslot is stored" \
    "$(cd "$REPO/backup/$LABEL/data" && find pg_wal pg_replslot -type f; ls postmaster.pid 2>/dev/null)" ""

# 2. restore to a named restore point after the load: the table as the primary had it there
sql postgres "SELECT pg_create_restore_point('after_load')" >/dev/null
DIGEST_AT_POINT=$(table_digest "$PRIMARY_PORT")
sql postgres "INSERT INTO t (note) VALUES ('after the point')"
SWITCHED=$(sql postgres "SELECT pg_walfile_name(pg_switch_wal())")
poll_sql postgres "SELECT coalesce(last_archived_wal, '') >= '$SWITCHED' FROM pg_stat_archiver" t 30
run_cmd "$PRODATA" restore --archive-dir "$REPO" --pgdata "$RESTORED_DIR/data" --target-name after_load
expect_rc "restore to a restore point writes the directory" 0
expect_eq "... and says which backup and target" \
    "$(grep -c -e "^restored backup $LABEL into" -e "^recovery target: recovery_target_name = 'after_load', then promote$" <<<"$OUT")" 2
expect_eq "the restored copy will not archive into the repository (archive_mode off after the backup's)" \
    "$(grep -E "^archive_mode" "$RESTORED_DIR/data/postgresql.auto.conf" | tail -1)" "archive_mode = 'off'"
if start_restored; then
    expect_eq "restored at the point, the table is the primary's there (rows written during the backup too)" \
        "$(table_digest "$RESTORED_PORT")" "$DIGEST_AT_POINT"
    expect_eq "... without the row inserted after the point" \
        "$(PGPORT=$RESTORED_PORT sql postgres "SELECT count(*) FROM t WHERE note = 'after the point'")" 0
else
    tap_not_ok "the restored cluster started" "$(tail -20 "$TAP_WORKDIR/owned/restored.log")"
    tap_not_ok "... (no table to compare)"
fi
stop_restored

# 3. point in time: between two known transactions
sql postgres "INSERT INTO t (note) VALUES ('before the moment')"
sleep 1.2
MOMENT=$(sql postgres "SELECT to_char(clock_timestamp() AT TIME ZONE 'UTC', 'YYYY-MM-DD HH24:MI:SS.US') || '+00'")
sleep 1.2
sql postgres "INSERT INTO t (note) VALUES ('after the moment')"
SWITCHED=$(sql postgres "SELECT pg_walfile_name(pg_switch_wal())")
poll_sql postgres "SELECT coalesce(last_archived_wal, '') >= '$SWITCHED' FROM pg_stat_archiver" t 30
run_cmd "$PRODATA" restore --archive-dir "$REPO" --pgdata "$RESTORED_DIR/data" --target-time "$MOMENT" --jobs 3
expect_rc "restore to a time" 0
if start_restored; then
    expect_eq "the row committed before the moment is there, the one after is not" \
        "$(PGPORT=$RESTORED_PORT sql postgres "SELECT string_agg(note, ',' ORDER BY id) FROM t WHERE note LIKE '% the moment'")" \
        "before the moment"
else
    tap_not_ok "the cluster restored to a time started" "$(tail -20 "$TAP_WORKDIR/owned/restored.log")"
fi

# 4. refusals, before anything is written
run_cmd "$PRODATA" restore --archive-dir "$REPO" --pgdata "$RESTORED_DIR/data" --target-time "$MOMENT"
expect_eq "restore into a directory that is not empty is refused" "$RC|$(grep -c 'is not empty' <<<"$OUT")" "1|1"
stop_restored
run_cmd "$PRODATA" restore --archive-dir "$REPO" --pgdata "$RESTORED_DIR/data" --target-time "2001-01-01 00:00:00+00"
expect_eq "a target before the backup's end is refused, naming where it is consistent from" \
    "$RC|$(grep -c "before the end of backup $LABEL, which is consistent only from" <<<"$OUT")" "1|1"
expect_eq "... and nothing was written" "$(ls -A "$RESTORED_DIR/data" 2>/dev/null | wc -l)" 0
run_cmd "$PRODATA" restore --archive-dir "$REPO" --pgdata "$RESTORED_DIR/data" --target-time "2026-12-01 10:00"
expect_eq "a time without its offset is a usage error saying the expected shape" \
    "$RC|$(grep -c 'is not a time with its offset' <<<"$OUT")" "2|1"
run_cmd "$PRODATA" restore --archive-dir "$REPO" --pgdata "$RESTORED_DIR/data" --target-lsn 0/1 --target-name x
expect_eq "two targets are a usage error" "$RC" 2
run_cmd "$PRODATA" restore --archive-dir "$REPO" --pgdata "$RESTORED_DIR/data" --target-name "$(printf 'a\nb')"
expect_eq "a target with a newline (it would break postgresql.auto.conf) is a usage error" \
    "$RC|$(grep -c 'control character' <<<"$OUT")" "2|1"
run_cmd "$PRODATA" restore --archive-dir "$REPO" --pgdata "$RESTORED_DIR/data" --set 20990101-000000F
expect_eq "an unknown backup label is not found" "$RC|$(grep -c 'no complete backup 20990101-000000F' <<<"$OUT")" "2|1"

# 5. a damaged file in the repository stops the restore, naming it; the new directory is left empty
VICTIM=$(cd "$REPO/backup/$LABEL/data" && find base -type f -size +20k | head -1)
cp "$REPO/backup/$LABEL/data/$VICTIM" "$TAP_WORKDIR/victim.saved"
printf '\x00\x01\x02\x03' | dd of="$REPO/backup/$LABEL/data/$VICTIM" bs=1 seek=200 conv=notrunc 2>/dev/null
run_cmd backup verify
expect_eq "backup verify finds the damaged file (exit 3), naming the backup and the file" \
    "$RC|$(grep -c "^file: $LABEL: $VICTIM: " <<<"$OUT")" "3|1"
run_cmd "$PRODATA" restore --archive-dir "$REPO" --pgdata "$RESTORED_DIR/data"
expect_eq "a damaged stored file fails the restore" "$RC" 1
expect_out "... naming the file" "$VICTIM"
expect_eq "... and the directory is left empty" "$(ls -A "$RESTORED_DIR/data" 2>/dev/null | wc -l)" 0
cp "$TAP_WORKDIR/victim.saved" "$REPO/backup/$LABEL/data/$VICTIM"
rm -rf "$RESTORED_DIR"
START_WAL=$(jq -r '.start_wal' "$REPO/backup/$LABEL/manifest.json")
mv "$REPO/$START_WAL" "$TAP_WORKDIR/wal.saved"
run_cmd backup verify --set "$LABEL"
expect_eq "backup verify finds a missing WAL segment the backup needs (exit 3)" \
    "$RC|$(grep -c "^wal: $LABEL: WAL segment $START_WAL, which makes it consistent, is not archived" <<<"$OUT")" "3|1"
run_cmd "$PRODATA" restore --archive-dir "$REPO" --pgdata "$RESTORED_DIR/data"
expect_eq "... and restore refuses that backup before writing anything" \
    "$RC|$(grep -c "WAL segment $START_WAL, which backup $LABEL needs to be consistent, is not in the repository" <<<"$OUT")|$(ls -A "$RESTORED_DIR/data" 2>/dev/null | wc -l)" \
    "1|1|0"
mv "$TAP_WORKDIR/wal.saved" "$REPO/$START_WAL"
cp "$REPO/backup/$LABEL/manifest.json" "$TAP_WORKDIR/manifest.saved"
head -c 300 "$TAP_WORKDIR/manifest.saved" >"$REPO/backup/$LABEL/manifest.json"
run_cmd backup list --json
expect_eq "a manifest that does not read is listed as damaged, not an error" \
    "$RC|$(jq -c '[(.backups | length), (.damaged | length)]' <<<"$OUT")" "0|[0,1]"
run_cmd backup verify
expect_eq "... and verify reports it (exit 3)" "$RC|$(grep -c "^file: $LABEL: manifest" <<<"$OUT")" "3|1"
cp "$TAP_WORKDIR/manifest.saved" "$REPO/backup/$LABEL/manifest.json"
run_cmd backup verify --json --jobs 3
expect_eq "repaired, the repository verifies: every stored file read back, no problem" \
    "$RC|$(jq -c '[.ok, .backups, (.files > 900), (.problems | length), (.wal_problems | length)]' <<<"$OUT")" \
    "0|[true,1,true,0,0]"
run_cmd backup verify --set 20990101-000000F
expect_eq "verify of an unknown backup is not found" "$RC" 2

# 6. a backup killed mid-copy is incomplete, and the next backup removes it
sql postgres "INSERT INTO t (note) SELECT repeat('x', 500) FROM generate_series(1, 200000)"
"$PRODATA" backup --archive-dir "$REPO" --jobs 1 >/dev/null 2>&1 &
KILLED=$!
for i in $(seq 1 400); do
    ls -d "$REPO"/backup/*/data 2>/dev/null | grep -qv "$LABEL" && break
    sleep 0.01
done
kill -9 "$KILLED" 2>/dev/null
wait "$KILLED" 2>/dev/null
run_cmd backup list --json
expect_eq "the killed backup is listed as incomplete" "$(jq -c '[(.backups | length), (.incomplete | length)]' <<<"$OUT")" "[1,1]"
run_cmd backup
expect_out "the next backup removes it" "removed 1 incomplete backup"
run_cmd backup list --json
expect_eq "two complete backups, none incomplete" "$(jq -c '[(.backups | length), (.incomplete | length)]' <<<"$OUT")" "[2,0]"
expect_eq "the server's backup ended with the killed process (a new one could start)" \
    "$(sql postgres "SELECT count(*) FROM pg_stat_activity WHERE backend_type = 'client backend' AND query LIKE '%pg_backup_start%' AND pid <> pg_backend_pid()")" 0

# 7. a corrupt page of the primary: named by file and block, the backup fails
sql postgres "CREATE TABLE c AS SELECT g AS id, repeat('y', 100) AS pad FROM generate_series(1, 3000) g"
sql postgres "CHECKPOINT"
REL=$(sql postgres "SELECT pg_relation_filepath('c')")
pg_as_owner "$PGBIN/pg_ctl" -D "$PG_DATA_DIR" -w -t 30 stop >/dev/null 2>&1
printf 'garbage' | dd of="$PG_DATA_DIR/$REL" bs=1 seek=$((8192 * 2 + 4000)) conv=notrunc 2>/dev/null
pg_as_owner "$PGBIN/pg_ctl" -D "$PG_DATA_DIR" -l "$PRIMARY_DIR/postgres.log" -w -t 30 start >/dev/null 2>&1
run_cmd backup
expect_eq "a corrupt page fails the backup with exit 3" "$RC" 3
expect_out "... naming the file and the block" "bad page: $REL block 2"
expect_out "... and saying so" "holds 1 page\(s\) whose data checksums do not match"

# 8. retention: expire keeps what is asked and the WAL those backups need, nothing else
run_cmd backup expire
expect_eq "expire without a rule is a usage error, removing nothing" "$RC|$(ls "$REPO/backup" | grep -c F)" "2|3"
SECOND=$(ls "$REPO/backup" | grep F | sed -n 2p)
SECOND_WAL=$(jq -r '.start_wal' "$REPO/backup/$SECOND/manifest.json")
WAL_BEFORE=$(ls "$REPO" | grep -cE '^[0-9A-F]{24}$')
run_cmd backup expire --retain-full 2 --dry-run --json
expect_eq "a dry run names the oldest backup and the WAL before the second, removing nothing" \
    "$(jq -c '[.dry_run, .removed, .kept, .oldest_kept, (.wal_removed > 0)]' <<<"$OUT")|$(ls "$REPO" | grep -cE '^[0-9A-F]{24}$')" \
    "[true,[\"$LABEL\"],2,\"$SECOND\",true]|$WAL_BEFORE"
NEWEST_TWO=$(ls "$REPO/backup" | grep F | sed 1d | tr '\n' ' ')
run_cmd backup expire --retain-full 2
expect_eq "expire --retain-full 2 removes the oldest backup" "$RC|$(ls "$REPO/backup" | grep F | tr '\n' ' ')" \
    "0|$NEWEST_TWO"
expect_eq "... and only the WAL before the oldest kept backup's start" \
    "$([ -d "$REPO/backup/$LABEL" ] && echo kept || echo gone)|$(ls "$REPO" | grep -E '^[0-9A-F]{24}$' | head -1)" \
    "gone|$SECOND_WAL"
run_cmd backup verify
expect_eq "what is left verifies: every kept backup and the WAL it needs" "$RC" 0
run_cmd backup expire --retain-days 0 --json
expect_eq "--retain-days 0 keeps what restores to now: the newest backup" \
    "$RC|$(jq -c '[.kept, (.removed | length)]' <<<"$OUT")|$(ls "$REPO/backup" | grep -c F)" "0|[1,1]|1"

# 9. a recorded restore point: a restore to it starts from the newest backup that ends before it
KEPT=$(ls "$REPO/backup" | grep F)
run_cmd backup restore-point before_next
expect_out "backup restore-point makes and records a point" "^restore point before_next at [0-9A-F]+/[0-9A-F]+ "
run_cmd backup restore-point before_next
expect_eq "the same name again is refused" "$RC|$(grep -c 'exists already' <<<"$OUT")" "1|1"
run_cmd backup restore-point "a/b"
expect_eq "a name with a slash is a usage error" "$RC" 2
run_cmd backup --json
NEXT=$(jq -r 'select(.backup) | .backup.label' <<<"$OUT" 2>/dev/null)
run_cmd "$PRODATA" restore --archive-dir "$REPO" --pgdata "$RESTORED_DIR/data" --target-name before_next
expect_eq "restore to the point starts from the backup before it, not the newer one" \
    "$RC|$(grep -c "^restored backup $KEPT into" <<<"$OUT")" "0|1"
rm -rf "$RESTORED_DIR"
run_cmd "$PRODATA" restore --archive-dir "$REPO" --pgdata "$RESTORED_DIR/data" --set "$NEXT" --target-name before_next
expect_eq "... and a backup that ends after the point is refused, writing nothing" \
    "$RC|$(grep -c "before the end of backup $NEXT" <<<"$OUT")|$(ls -A "$RESTORED_DIR/data" 2>/dev/null | wc -l)" "1|1|0"

tap_done
