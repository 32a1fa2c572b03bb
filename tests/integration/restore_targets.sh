#!/bin/bash
# restore_targets.sh - a recovery target checked against the archived WAL before anything is written, on a real
# PostgreSQL 15 primary archiving through prodata-wal: after a full backup, known transactions (a commit before
# a moment, one after it, one rolled back), a restore point made by SQL alone and a last commit whose time the
# server records (track_commit_timestamp). A time at or after the last commit, an LSN past the last archived
# record, an xid that never ended and a restore point not in the WAL are refused, naming what the archive
# reaches, and the target directory is never made; a time between the two commits, the last record's LSN
# itself, the rolled-back xid (recovery stops at an abort too), the committed xid and the SQL restore point are
# accepted, and PostgreSQL started on three of them stops where the check said it would. --no-target-check
# writes a target the WAL does not reach; without pg_waldump the restore is refused, saying how to point at it.
# A copy promoted onto timeline 2 that archives into the repository: its restore point is found along the
# newest timeline, and not with --target-timeline current.
source tests/lib/pg.sh
source tests/lib/tap.sh
source tests/lib/backup.sh
tap_plan 24
tap_workdir
backup_test_dirs
stop_restored() { stop_data_dir "$RESTORED_DIR/data"; rm -rf "$RESTORED_DIR"; }
trap 'stop_restored; pg_instance_stop "$PRIMARY_DIR"; rm -rf "$TAP_WORKDIR"' EXIT
restore() { "$PRODATA" restore --archive-dir "$REPO" --pgdata "$RESTORED_DIR/data" "$@"; }
written() { [ -e "$RESTORED_DIR/data" ] && echo written || echo "nothing written"; }
utc_now() { sql postgres "SELECT to_char(clock_timestamp() AT TIME ZONE 'UTC', 'YYYY-MM-DD HH24:MI:SS.US') || '+00'"; }
PORT=$(pg_free_port)
start() { restore --start --port "$PORT" --wait 120 "$@"; }

# no autovacuum: every commit in the WAL is one of the test's
backup_primary_start "autovacuum = off" "track_commit_timestamp = on" || tap_fail_all "the primary did not start"
sql postgres "CREATE TABLE t (id bigserial PRIMARY KEY, note text NOT NULL)"
run_cmd "$PRODATA" backup --archive-dir "$REPO"
expect_rc "a full backup" 0

sql postgres "INSERT INTO t (note) VALUES ('before the moment')"
sleep 1.2
MOMENT=$(utc_now)
sleep 1.2
XID_AFTER=$(sql postgres "INSERT INTO t (note) VALUES ('after the moment') RETURNING xmin")
LSN_AFTER=$(sql postgres "SELECT pg_current_wal_lsn()")
XID_ROLLED_BACK=$(psql -X -q -At -d postgres -c "BEGIN" -c "INSERT INTO t (note) VALUES ('rolled back')" \
    -c "SELECT txid_current()" -c "ROLLBACK")
sql postgres "SELECT pg_create_restore_point('sql_point')" >/dev/null
sql postgres "INSERT INTO t (note) VALUES ('last')"
LAST_COMMIT=$(sql postgres "SELECT to_char(timestamp AT TIME ZONE 'UTC', 'YYYY-MM-DD HH24:MI:SS.US') || '+00' FROM pg_last_committed_xact()")
BEYOND=$(sql postgres "SELECT pg_current_wal_lsn() + 100000000")
SWITCHED=$(sql postgres "SELECT pg_walfile_name(pg_switch_wal())")
poll_sql postgres "SELECT coalesce(last_archived_wal, '') >= '$SWITCHED' FROM pg_stat_archiver" t 30 ||
    tap_fail_all "the last segment was not archived"

# 1. time
run_cmd restore --target-time "2099-01-01 00:00:00+00"
expect_eq "a time after the last commit is refused, naming the last commit's time" \
    "$RC|$(grep -c "is not before the last commit in the archived WAL, at $LAST_COMMIT" <<<"$OUT")" "1|1"
expect_eq "... the hint names the newest time that works, and nothing was written" \
    "$(grep -c "^HINT: The archived WAL ends with a commit at $LAST_COMMIT: give --target-time before it; nothing was written" <<<"$OUT")|$(written)" \
    "1|nothing written"
run_cmd restore --target-time "$LAST_COMMIT"
expect_eq "a time at the last commit is refused (recovery stops only before a later commit)" \
    "$RC|$(grep -c 'is not before the last commit' <<<"$OUT")|$(written)" "1|1|nothing written"
run_cmd restore --target-time "$LAST_COMMIT" --target-exclusive
expect_eq "... and accepted with --target-exclusive (it stops before that commit)" "$RC" 0
stop_restored
run_cmd start --target-time "$MOMENT"
expect_eq "a time between two commits is accepted, and recovery stops before the commit after it" \
    "$RC|$(grep -c "^reached: recovery stopping before commit of transaction $XID_AFTER" <<<"$OUT")" "0|1"
expect_eq "... the row before the moment is there, the one after is not" \
    "$(psql -X -At -h 127.0.0.1 -p "$PORT" -d postgres -c "SELECT string_agg(note, ',' ORDER BY id) FROM t")" \
    "before the moment"
stop_restored

# 2. LSN
run_cmd restore --target-lsn "$BEYOND"
LAST_RECORD=$(grep -oE 'Give --target-lsn [0-9A-F]+/[0-9A-F]+' <<<"$OUT" | awk '{print $3}')
expect_eq "an LSN past the archive's end is refused, naming the last archived record, nothing written" \
    "$RC|$(grep -c "the recovery target LSN $BEYOND is past the archived WAL, whose last record starts at $LAST_RECORD" <<<"$OUT")|$(written)" \
    "1|1|nothing written"
NEXT=$(printf '%X/%X' "$((16#${LAST_RECORD%/*}))" "$((16#${LAST_RECORD#*/} + 1))")
run_cmd restore --target-lsn "$NEXT"
expect_eq "... one byte past that record's start is refused too" "$RC|$(written)" "1|nothing written"
run_cmd restore --target-lsn "$LSN_AFTER"
expect_eq "an LSN before the end is accepted" "$RC" 0
stop_restored
run_cmd start --target-lsn "$LAST_RECORD"
expect_eq "the last record's LSN itself is accepted, and recovery reaches it" \
    "$RC|$(grep -c "^reached: recovery stopping after WAL location (LSN) \"$LAST_RECORD\"" <<<"$OUT")" "0|1"
stop_restored

# 3. xid
run_cmd restore --target-xid 4000000000
expect_eq "an xid that never ended is refused, naming the xids that end in the archive, nothing written" \
    "$RC|$(grep -c 'transaction 4000000000 neither commits nor aborts in the archived WAL after backup' <<<"$OUT")|$(grep -cE '^HINT: The transactions that commit or abort there are [0-9]+ to [0-9]+: give one of them' <<<"$OUT")|$(written)" \
    "1|1|1|nothing written"
run_cmd restore --target-xid "$XID_AFTER"
expect_eq "a committed xid is accepted" "$RC" 0
stop_restored
run_cmd start --target-xid "$XID_ROLLED_BACK"
expect_eq "a rolled-back xid is accepted: recovery stops at its abort" \
    "$RC|$(grep -c "^reached: recovery stopping after abort of transaction $XID_ROLLED_BACK" <<<"$OUT")" "0|1"
stop_restored

# 4. restore point
run_cmd restore --target-name no_such_point
expect_eq "a restore point not in the WAL is refused, listing those found, nothing written" \
    "$RC|$(grep -c "restore point 'no_such_point' is not in the archived WAL after backup" <<<"$OUT")|$(grep -c "^HINT: The restore points there: 'sql_point'; nothing was written" <<<"$OUT")|$(written)" \
    "1|1|1|nothing written"
run_cmd restore --target-name sql_point
expect_eq "a restore point made by SQL alone (not recorded by prodata) is accepted" \
    "$RC|$(grep -c "^recovery target: recovery_target_name = 'sql_point'" <<<"$OUT")" "0|1"
stop_restored

# 5. the escape hatch, and no pg_waldump
run_cmd restore --target-time "2099-01-01 00:00:00+00" --no-target-check
expect_eq "--no-target-check writes a target the archived WAL does not reach" "$RC|$(written)" "0|written"
stop_restored
run_cmd restore --target-name sql_point --pg-bin "$TAP_WORKDIR/nowhere"
expect_eq "without pg_waldump the restore is refused, saying how to point at it, nothing written" \
    "$RC|$(grep -c "no pg_waldump at $TAP_WORKDIR/nowhere/pg_waldump" <<<"$OUT")|$(grep -c -- '--pg-bin' <<<"$OUT")|$(written)" \
    "1|1|1|nothing written"
run_cmd restore --target-immediate --pg-bin "$TAP_WORKDIR/nowhere" --no-target-check
expect_eq "... --no-target-check needs none (a restore reads the WAL it replays for new tablespaces too)" "$RC" 0
stop_restored
# 6. timelines: a copy promoted onto timeline 2 that archives into the repository (--archive-mode preserve)
run_cmd start --target-xid "$XID_AFTER" --archive-mode preserve
expect_rc "a copy restored and promoted onto timeline 2, archiving into the repository" 0
copy_sql() { psql -X -q -At -v ON_ERROR_STOP=1 -h 127.0.0.1 -p "$PORT" -d postgres -c "$1"; }
copy_sql "SELECT pg_create_restore_point('on_timeline_2')" >/dev/null
SWITCHED=$(copy_sql "SELECT pg_walfile_name(pg_switch_wal())")
poll_ok 30 test -e "$REPO/$SWITCHED"
stop_restored
run_cmd restore --target-name on_timeline_2
expect_eq "a restore point on timeline 2 is found following the switch (latest: the newest archived history)" \
    "$SWITCHED|$RC" "00000002${SWITCHED:8}|0"
stop_restored
run_cmd restore --target-name on_timeline_2 --target-timeline current
expect_eq "... and not on the backup's own timeline (--target-timeline current)" \
    "$RC|$(grep -c "^HINT: The restore points there: 'sql_point'" <<<"$OUT")|$(written)" "1|1|nothing written"
run_cmd restore --target-lsn "$LAST_RECORD" --target-timeline current
expect_eq "... where timeline 1's WAL is still all there" "$RC" 0
stop_restored

expect_eq "no scratch directory is left behind" \
    "$(find "${TMPDIR:-/tmp}" -maxdepth 1 -name 'prodata-restore-*' -user postgres -newer "$REPO/backup" 2>/dev/null | wc -l)" 0

tap_done
