#!/bin/bash
# archive.sh - the WAL archive on real PostgreSQL 15 clusters of its own: a primary with archive_mode=on and
# archive_command = 'prodata wal-push' archives segments (zstd, then plain after a reload), every file verifies;
# an identical re-push succeeds, a different file under an archived name is refused and the original kept, and
# so are a segment of another database system and a file that is no WAL segment;
# wal-fetch of a missing segment exits 2 without a word, a corrupt file is named; archive check finds an
# injected gap (exit 3) and a push killed mid-write leaves only a temporary file, never a half file under the
# final name; a warm standby made by pg_basebackup without WAL restores through restore_command = 'prodata
# wal-fetch' alone (log shipping; prodata-wal, the lean program, pushes and fetches part of it) and reaches the primary's rows without a line of noise in its log; promoted,
# it archives its timeline's history file, which archive check follows: a segment missing just before the
# switch is a gap.
source tests/lib/pg.sh
source tests/lib/tap.sh
tap_plan 36
tap_workdir
chmod 755 "$TAP_WORKDIR"
STANDBY_DIR="$TAP_WORKDIR/standby"
PRIMARY_DIR="$TAP_WORKDIR/primary"
trap 'pg_instance_stop "$STANDBY_DIR"; pg_instance_stop "$PRIMARY_DIR"; rm -rf "$TAP_WORKDIR"' EXIT
ARCH="$TAP_WORKDIR/archive"
PRODATA_WAL="$(dirname "$PRODATA")/prodata-wal"
mkdir -p "$ARCH"
[ "$(id -u)" = 0 ] && chown postgres: "$ARCH"

# as_owner CMD...: as the account PostgreSQL runs as (what archive_command and restore_command run as).
as_owner() { pg_as_owner "$@"; }
# The one-byte compression field of an archived file's header: 0 none, 1 zstd.
compression_of() { od -An -tu1 -j9 -N1 "$1" | tr -d ' '; }
# switch_and_wait N: N rounds of a few rows then pg_switch_wal(), then waits until the last is archived.
switch_and_wait() {
    local i last
    for i in $(seq "$1"); do
        sql postgres "INSERT INTO t SELECT g, 'row ' || g FROM generate_series((SELECT coalesce(max(id), 0) + 1
                      FROM t), (SELECT coalesce(max(id), 0) + 500 FROM t)) g" >/dev/null
        last=$(sql postgres "SELECT pg_walfile_name(pg_switch_wal())")
    done
    poll_sql postgres "SELECT coalesce(last_archived_wal, '') >= '$last' FROM pg_stat_archiver" t 30
}

run_cmd "$PRODATA" config --docs --surface archive
expect_eq "docs/configuration.md holds exactly the archive settings' generated table" \
    "$(sed -n '/^<!-- settings:archive begin -->$/,/^<!-- settings:archive end -->$/p' docs/configuration.md | sed '1d;$d')" "$OUT"
run_cmd "$PRODATA" wal-push 000000010000000000000001
expect_eq "wal-push without archive_dir: a usage error naming the setting" "$RC|$(head -1 <<<"$OUT")" \
    "2|prodata: error: archive_dir is not set"

pg_instance_start "$PRIMARY_DIR" || exit 1
cat >>"$PG_DATA_DIR/postgresql.auto.conf" <<CONF
wal_level = replica
archive_mode = on
archive_command = '$PRODATA wal-push --archive-dir $ARCH %p'
CONF
as_owner "$PGBIN/pg_ctl" -D "$PG_DATA_DIR" -w -t 30 restart >/dev/null 2>&1 || { echo "restart failed"; exit 1; }
PRIMARY_PORT=$PG_TEST_PORT
sql postgres "CREATE TABLE t (id int PRIMARY KEY, note text)"

# 1. archiving with zstd (the default), then plain after a reload
switch_and_wait 3
FIRST=$(sql postgres "SELECT last_archived_wal FROM pg_stat_archiver")
expect_eq "segments archived under PostgreSQL's names" "$(ls "$ARCH" | grep -cE '^[0-9A-F]{24}$' | awk '$1 >= 3 {print "ok"}')" ok
expect_eq "stored with zstd by default" "$(compression_of "$ARCH/$FIRST")" 1
sql postgres "ALTER SYSTEM SET archive_command = '$PRODATA_WAL wal-push --archive-dir $ARCH --archive-compress=none %p'" &&
    sql postgres "SELECT pg_reload_conf()" >/dev/null
sleep 0.2 # the archiver reads the reload between files: give it one round
switch_and_wait 2
LAST=$(sql postgres "SELECT last_archived_wal FROM pg_stat_archiver")
expect_eq "stored plain with archive_compress=none, by prodata-wal" "$(compression_of "$ARCH/$LAST")" 0
expect_eq "no archiving failure" "$(sql postgres "SELECT failed_count FROM pg_stat_archiver")" 0
run_cmd "$PRODATA" archive check --archive-dir "$ARCH" --verify --json
expect_rc "archive check --verify passes" 0
expect_eq "every file verifies, no gap, newest is the last archived" \
    "$(jq -c "[.ok, .verified == (.segments + .history + .partial + .backup_labels), (.gaps | length), .newest]" <<<"$OUT")" \
    "[true,true,0,\"$LAST\"]"
run_cmd "$PRODATA" archive check --archive-dir "$ARCH" --backlog
expect_out "the table shows the archiver's counts and backlog" "archiver: [0-9]+ archived, 0 failed; last archived $LAST"
expect_out "the table names the backlog" "backlog: [0-9]+ segment\(s\) waiting"

# 2. re-push and conflicts
cd "$TAP_WORKDIR"
run_cmd "$PRODATA" wal-fetch --archive-dir "$ARCH" "$FIRST" "$TAP_WORKDIR/$FIRST"
expect_rc "wal-fetch restores an archived segment" 0
expect_eq "restored segment is 16 MB" "$(stat -c %s "$TAP_WORKDIR/$FIRST")" 16777216
BEFORE=$(sha256sum <"$ARCH/$FIRST")
run_cmd "$PRODATA" wal-push --archive-dir "$ARCH" "$TAP_WORKDIR/$FIRST"
expect_rc "an identical re-push exits 0" 0
mkdir other && cp "$TAP_WORKDIR/$FIRST" "other/$FIRST"
printf 'changed' | dd of="other/$FIRST" bs=1 seek=8000000 conv=notrunc status=none
run_cmd "$PRODATA" wal-push --archive-dir "$ARCH" "other/$FIRST"
expect_rc "a different segment under an archived name exits 1" 1
expect_out "the refusal names the file and why" "refusing to overwrite $ARCH/$FIRST: a different file is already archived"
expect_eq "the archived file is untouched" "$(sha256sum <"$ARCH/$FIRST")" "$BEFORE"
printf '\x01' | dd of="other/$FIRST" bs=1 seek=24 conv=notrunc status=none
run_cmd "$PRODATA" wal-push --archive-dir "$ARCH" "other/$FIRST"
expect_out "a segment of another database system is refused, both named" \
    "refusing other/$FIRST: it is WAL of database system [0-9]+, and the archive $ARCH holds system $(sed 's/.* = //' "$ARCH/prodata.archive")"
head -c 16777216 /dev/urandom >"other/$FIRST"
run_cmd "$PRODATA" wal-push --archive-dir "$ARCH" "other/$FIRST"
expect_eq "a file that is no WAL segment is refused (exit 2)" "$RC|$(grep -c 'is not the WAL segment its name says' <<<"$OUT")" "2|1"

# 3. missing, corrupt, gaps
run_cmd "$PRODATA" wal-fetch --archive-dir "$ARCH" 0000000100000000000000F0 "$TAP_WORKDIR/missing"
expect_eq "wal-fetch of a missing segment: exit 2, no output, no file" "$RC|$OUT|$(ls missing* 2>/dev/null)" "2||"
run_cmd "$PRODATA_WAL" wal-fetch --archive-dir "$ARCH" 0000000100000000000000F0 "$TAP_WORKDIR/missing"
expect_eq "prodata-wal wal-fetch of a missing segment: exit 2, no output" "$RC|$OUT" "2|"
run_cmd "$PRODATA_WAL" wal-push --archive-dir "$ARCH" --database=x "$TAP_WORKDIR/$FIRST"
expect_eq "prodata-wal refuses the secret setting on its command line, as a usage error" "$RC" 2
run_cmd "$PRODATA" wal-fetch --archive-dir "$TAP_WORKDIR/unmounted" 0000000100000000000000F0 "$TAP_WORKDIR/missing"
expect_eq "wal-fetch from a missing archive directory: exit 1, said" "$RC|$(head -1 <<<"$OUT")" \
    "1|prodata: error: the archive directory $TAP_WORKDIR/unmounted does not exist"
cp -r "$ARCH" copy
printf '\x00\x01\x02' | dd of="copy/$FIRST" bs=1 seek=5000 conv=notrunc status=none
run_cmd "$PRODATA" wal-fetch --archive-dir copy "$FIRST" "$TAP_WORKDIR/corrupt"
expect_eq "wal-fetch of a corrupt file exits 1 and restores nothing" "$RC|$(ls corrupt* 2>/dev/null)" "1|"
expect_out "the error names the corrupt file" "archived file copy/$FIRST is corrupt"
GAP=$(ls copy | grep -E '^[0-9A-F]{24}$' | sort | sed -n 2p)
rm "copy/$GAP"
run_cmd "$PRODATA" archive check --archive-dir copy
expect_rc "archive check exits 3 on a gap" 3
expect_out "the gap is named" "gap: timeline 1, $GAP \.\. $GAP \(1 missing\)"

# 4. a push killed mid-write: a temporary file, never a half file under the final name
# (segment 4 of a 64 MB-segment cluster: its page header, then random bytes that zstd level 19 chews on slowly)
mkdir crash
{ printf '\x10\xd1\x02\x00\x01\x00\x00\x00\x00\x00\x00\x10\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00'
  printf '\x01\x02\x03\x04\x05\x06\x07\x08\x00\x00\x00\x04\x00\x20\x00\x00'
  head -c $((67108864 - 40)) /dev/urandom; } >000000010000000000000004
"$PRODATA" wal-push --archive-dir crash --archive-compress-level=19 000000010000000000000004 2>/dev/null &
PUSH=$!
# (the push writes the archive's identity file, prodata.archive, first: wait for the segment's own temporary file)
for _ in $(seq 200); do ls -A crash | grep -q '^\.000000010000000000000004\..*\.tmp$' && break; sleep 0.05; done
kill -9 "$PUSH" 2>/dev/null; wait "$PUSH" 2>/dev/null
expect_eq "killed mid-write: a temporary file, nothing under the segment's name" \
    "$(ls -A crash | sed -E 's/[0-9]+\.tmp$/PID.tmp/' | tr '\n' ' ')" ".000000010000000000000004.PID.tmp prodata.archive "
run_cmd "$PRODATA" archive check --archive-dir crash
expect_out "archive check lists the leftover temporary file" "^  \.000000010000000000000004\.[0-9]+\.tmp$"
run_cmd "$PRODATA" wal-push --archive-dir crash 000000010000000000000004
"$PRODATA" wal-fetch --archive-dir crash 000000010000000000000004 back4
expect_eq "the next push stores it whole" "$RC|$(cmp -s back4 000000010000000000000004 && echo same)" "0|same"

# 5. a warm standby by log shipping alone: base backup without WAL, restore_command = prodata wal-fetch
mkdir -p "$STANDBY_DIR" && [ "$(id -u)" = 0 ] && chown postgres: "$STANDBY_DIR"
as_owner "$PGBIN/pg_basebackup" -h 127.0.0.1 -p "$PRIMARY_PORT" -U postgres -D "$STANDBY_DIR/data" -X none -c fast \
    >"$TAP_WORKDIR/basebackup.log" 2>&1 || cat "$TAP_WORKDIR/basebackup.log"
switch_and_wait 2
ROWS=$(sql postgres "SELECT count(*) FROM t")
STANDBY_PORT=$(pg_free_port)
cat >>"$STANDBY_DIR/data/postgresql.auto.conf" <<CONF
port = $STANDBY_PORT
unix_socket_directories = '$STANDBY_DIR'
restore_command = '$PRODATA_WAL wal-fetch --archive-dir $ARCH %f %p'
hot_standby = on
CONF
touch "$STANDBY_DIR/data/standby.signal" && chown -R postgres: "$STANDBY_DIR" 2>/dev/null
as_owner "$PGBIN/pg_ctl" -D "$STANDBY_DIR/data" -l "$STANDBY_DIR/postgres.log" -w -t 60 start >/dev/null 2>&1
if PGPORT=$STANDBY_PORT poll_sql postgres "SELECT count(*) FROM t" "$ROWS" 60; then
    tap_ok "the standby replayed every row from the archive"
fi
expect_eq "the standby is in recovery with no primary_conninfo" \
    "$(PGPORT=$STANDBY_PORT sql postgres "SELECT pg_is_in_recovery() AND current_setting('primary_conninfo') = ''")" t
expect_eq "recovery asked for missing segments without noise in the log" "$(grep -E 'prodata: |wal-fetch' "$STANDBY_DIR/postgres.log")" ""


# 6. promoted: the new timeline's history file reaches the archive. (A log-shipping standby ends recovery at a
# segment boundary, so PostgreSQL sends no .partial here: one is pushed as it would send it after streaming.)
as_owner "$PGBIN/pg_ctl" -D "$STANDBY_DIR/data" -w -t 30 promote >/dev/null 2>&1
for _ in $(seq 200); do [ -e "$ARCH/00000002.history" ] && break; sleep 0.05; done
cp "$TAP_WORKDIR/$FIRST" "$TAP_WORKDIR/$FIRST.partial"
run_cmd "$PRODATA" wal-push --archive-dir "$ARCH" "$TAP_WORKDIR/$FIRST.partial"
run_cmd "$PRODATA" archive check --archive-dir "$ARCH" --json
expect_eq "archive check: timeline 2 branched off 1 (its history read), the .partial, still no gap" \
    "$(jq -c '[(.timelines | map(select(.timeline == 2 and .history and .parent == 1)) | length), .partial, (.gaps | length)]' <<<"$OUT")" \
    "[1,1,0]"
# the parent's segment just before the switch, removed from a copy: only the history file shows it missing
SWITCH=$(jq -r '.timelines[] | select(.timeline == 2) | .switch_lsn' <<<"$OUT")
SEGNO=$(( 16#${SWITCH%/*} * 256 + 16#${SWITCH#*/} / 16777216 ))
BEFORE_SWITCH=$(printf '%08X%08X%08X' 1 $(( (SEGNO - 1) / 256 )) $(( (SEGNO - 1) % 256 )))
rm -rf copy && cp -r "$ARCH" copy && rm "copy/$BEFORE_SWITCH"
run_cmd "$PRODATA" archive check --archive-dir copy
expect_rc "archive check exits 3 on a gap before a timeline switch" 3
expect_out "the gap before the switch is named" "gap: timeline 1, $BEFORE_SWITCH \.\. $BEFORE_SWITCH \(1 missing\)"
run_cmd "$PRODATA" wal-fetch --archive-dir "$ARCH" 00000002.history "$TAP_WORKDIR/history"
expect_eq "wal-fetch restores the history file" "$RC|$(head -c 2 "$TAP_WORKDIR/history")" "0|1"$'\t'

tap_done
