#!/bin/bash
# wal_prefetch.sh - wal-fetch's read-ahead for recovery (docs/archive.md, "Read-ahead") on a real archive: a
# primary archives a dozen segments; recovery's request for one (into pg_wal/RECOVERYXLOG, in a data directory
# with recovery.signal) leaves the next wal_fetch_prefetch (8) in pg_wal/prodata-prefetch, written by a detached
# process; the next request takes its segment from there, byte for byte the archived one, and the spool keeps
# nothing older; a request outside recovery's name (a plain destination) or with wal_fetch_prefetch=0 spools
# nothing; a spooled file that is zeroed or cut short is passed over for the archived segment; a spooled
# segment past its timeline's end in a newer timeline's history is refused as the archived
# one would be (exit 2); with recovery over (no signal file), the prefetcher empties the spool. A warm standby
# on restore_command = prodata-wal wal-fetch replays every row through the spool, which never holds more than 8
# segments.
source tests/lib/pg.sh
source tests/lib/tap.sh
tap_plan 13
tap_workdir
chmod 755 "$TAP_WORKDIR"
PRIMARY_DIR="$TAP_WORKDIR/primary"
STANDBY_DIR="$TAP_WORKDIR/standby"
trap 'pg_instance_stop "$STANDBY_DIR"; pg_instance_stop "$PRIMARY_DIR"; rm -rf "$TAP_WORKDIR"' EXIT
ARCH="$TAP_WORKDIR/archive"
PRODATA_WAL="$(dirname "$PRODATA")/prodata-wal"
mkdir -p "$ARCH"
[ "$(id -u)" = 0 ] && chown postgres: "$ARCH"

pg_instance_start "$PRIMARY_DIR" || exit 1
cat >>"$PG_DATA_DIR/postgresql.auto.conf" <<CONF
wal_level = replica
archive_mode = on
archive_command = '$PRODATA_WAL wal-push --archive-dir $ARCH %p'
CONF
pg_as_owner "$PGBIN/pg_ctl" -D "$PG_DATA_DIR" -w -t 30 restart >/dev/null 2>&1 || { echo "restart failed"; exit 1; }
PRIMARY_PORT=$PG_TEST_PORT
sql postgres "CREATE TABLE t (id int PRIMARY KEY, note text)"
switch_and_wait() { # N: N rounds of rows and a segment switch, then waits until the last is archived
    local i last
    for i in $(seq "$1"); do
        sql postgres "INSERT INTO t SELECT g, 'row ' || g FROM generate_series((SELECT coalesce(max(id), 0) + 1
                      FROM t), (SELECT coalesce(max(id), 0) + 500 FROM t)) g" >/dev/null
        last=$(sql postgres "SELECT pg_walfile_name(pg_switch_wal())")
    done
    poll_sql postgres "SELECT coalesce(last_archived_wal, '') >= '$last' FROM pg_stat_archiver" t 30
}
# a base backup without WAL for the standby, then a dozen more segments
mkdir -p "$STANDBY_DIR" && [ "$(id -u)" = 0 ] && chown postgres: "$STANDBY_DIR"
pg_as_owner "$PGBIN/pg_basebackup" -h 127.0.0.1 -p "$PRIMARY_PORT" -U postgres -D "$STANDBY_DIR/data" -X none -c fast \
    >"$TAP_WORKDIR/basebackup.log" 2>&1 || cat "$TAP_WORKDIR/basebackup.log"
switch_and_wait 12
seg() { printf '%08X%08X%08X' 1 0 $(( 16#$FIRST + $1 )); } # seg N: the segment N after FIRST (same log)
FIRST=$(ls "$ARCH" | grep -E '^000000010000000000000[0-9A-F]{3}$' | sort | sed -n 2p | cut -c17-)
spooled() { ls "$1/pg_wal/prodata-prefetch" 2>/dev/null | grep -E '^[0-9A-F]{24}$' | tr '\n' ' '; }
# fake DIR: a data directory in recovery, its server running, as restore_command sees it (it runs in it)
fake() { rm -rf "$1"; mkdir -p "$1/pg_wal"; touch "$1/recovery.signal" "$1/postmaster.pid"; }
fetch_in() { (cd "$1" && shift && "$PRODATA_WAL" wal-fetch "$@"); }

# ---- recovery's request spools the next 8 ----------------------------------------------------------------------
fake "$TAP_WORKDIR/d1"
fetch_in "$TAP_WORKDIR/d1" --archive-dir "$ARCH" "$(seg 0)" pg_wal/RECOVERYXLOG
EXPECT="$(for i in 1 2 3 4 5 6 7 8; do seg "$i"; echo; done | tr '\n' ' ')"
full_spool() { [ "$(spooled "$TAP_WORKDIR/d1")" = "$EXPECT" ]; }
if poll_ok 20 full_spool; then tap_ok "a request for $(seg 0) spools the next 8 segments"
else tap_not_ok "a request spools the next 8" "spool: $(spooled "$TAP_WORKDIR/d1"), expected $EXPECT"; fi
fetch_in "$TAP_WORKDIR/d1" --archive-dir "$ARCH" "$(seg 1)" pg_wal/RECOVERYXLOG
"$PRODATA_WAL" wal-fetch --archive-dir "$ARCH" "$(seg 1)" "$TAP_WORKDIR/plain1"
check "the next request takes its segment from the spool, byte for byte the archived one" \
    cmp -s "$TAP_WORKDIR/d1/pg_wal/RECOVERYXLOG" "$TAP_WORKDIR/plain1"
expect_eq "the spool keeps nothing older than the request" "$(spooled "$TAP_WORKDIR/d1" | cut -d' ' -f1)" "$(seg 2)"
check "a plain destination spools nothing" test ! -e "$TAP_WORKDIR/prodata-prefetch"
fake "$TAP_WORKDIR/d2"
fetch_in "$TAP_WORKDIR/d2" --archive-dir "$ARCH" --wal-fetch-prefetch=0 "$(seg 0)" pg_wal/RECOVERYXLOG
sleep 1
expect_eq "wal_fetch_prefetch=0: restored, nothing spooled" "$(ls "$TAP_WORKDIR/d2/pg_wal")" "RECOVERYXLOG"

fake "$TAP_WORKDIR/d5" && rm "$TAP_WORKDIR/d5/postmaster.pid"
fetch_in "$TAP_WORKDIR/d5" --archive-dir "$ARCH" "$(seg 0)" pg_wal/RECOVERYXLOG
sleep 1
expect_eq "the server stopped (no postmaster.pid): restored, the prefetcher spools nothing" \
    "$(cmp -s "$TAP_WORKDIR/d5/pg_wal/RECOVERYXLOG" "$ARCH/../d2/pg_wal/RECOVERYXLOG" && echo same)|$(spooled "$TAP_WORKDIR/d5")" "same|"

# ---- a spooled segment past its timeline's end is refused as the archived one is ---------------------------------
# a copy of the archive where timeline 2 branched off 1 at the start of seg 5: seg 5 of timeline 1 is a fork
cp -r "$ARCH" "$TAP_WORKDIR/forked"
printf '1\t0/%X\tno recovery target specified\n' $(( (16#$FIRST + 5) * 16777216 )) >"$TAP_WORKDIR/00000002.history"
"$PRODATA" wal-push --archive-dir "$TAP_WORKDIR/forked" "$TAP_WORKDIR/00000002.history" >/dev/null
fake "$TAP_WORKDIR/d3"
fetch_in "$TAP_WORKDIR/d3" --archive-dir "$ARCH" "$(seg 3)" pg_wal/RECOVERYXLOG # spools 4 .. 11
five_spooled() { [ -f "$TAP_WORKDIR/d3/pg_wal/prodata-prefetch/$(seg 5)" ]; }
poll_ok 20 five_spooled || tap_fail_all "$(seg 5) was not spooled within 20 s: $(spooled "$TAP_WORKDIR/d3")"
(cd "$TAP_WORKDIR/d3" && "$PRODATA_WAL" wal-fetch --archive-dir "$TAP_WORKDIR/forked" "$(seg 4)" pg_wal/RECOVERYXLOG)
RC4="$? $([ -e "$TAP_WORKDIR/d3/pg_wal/prodata-prefetch/$(seg 4)" ] && echo left || echo taken)"
(cd "$TAP_WORKDIR/d3" && "$PRODATA_WAL" wal-fetch --archive-dir "$TAP_WORKDIR/forked" "$(seg 5)" pg_wal/RECOVERYXLOG)
expect_eq "spooled: the segment before the switch is taken (0), the one past it refused as not archived (2)" \
    "$RC4 $?" "0 taken 2"

# ---- a spooled file that is not the whole segment is never used ---------------------------------------------------
fake "$TAP_WORKDIR/d4"
fetch_in "$TAP_WORKDIR/d4" --archive-dir "$ARCH" "$(seg 0)" pg_wal/RECOVERYXLOG
four_spooled() { [ -f "$TAP_WORKDIR/d4/pg_wal/prodata-prefetch/$(seg 8)" ]; }
poll_ok 20 four_spooled || tap_fail_all "$(seg 8) was not spooled within 20 s: $(spooled "$TAP_WORKDIR/d4")"
SPOOL4="$TAP_WORKDIR/d4/pg_wal/prodata-prefetch"
head -c 16777216 /dev/zero >"$SPOOL4/$(seg 1)"             # zeros at full size (a crash before the flush)
truncate -s 8388608 "$SPOOL4/$(seg 2)"                      # cut short
"$PRODATA_WAL" wal-fetch --archive-dir "$ARCH" "$(seg 1)" "$TAP_WORKDIR/plain-1"
"$PRODATA_WAL" wal-fetch --archive-dir "$ARCH" "$(seg 2)" "$TAP_WORKDIR/plain-2"
fetch_in "$TAP_WORKDIR/d4" --archive-dir "$ARCH" "$(seg 1)" pg_wal/RECOVERYXLOG && cp "$TAP_WORKDIR/d4/pg_wal/RECOVERYXLOG" "$TAP_WORKDIR/got-1"
fetch_in "$TAP_WORKDIR/d4" --archive-dir "$ARCH" "$(seg 2)" pg_wal/RECOVERYXLOG && cp "$TAP_WORKDIR/d4/pg_wal/RECOVERYXLOG" "$TAP_WORKDIR/got-2"
check "a zeroed or cut spooled file is passed over: recovery gets the archived segments" \
    bash -c "cmp -s '$TAP_WORKDIR/got-1' '$TAP_WORKDIR/plain-1' && cmp -s '$TAP_WORKDIR/got-2' '$TAP_WORKDIR/plain-2'"
# a spool written before the machine last started (its boot marker another's) is not trusted at all: a
# segment there whose first page is right but whose later pages are not is passed over
wait_spooled() { [ -f "$SPOOL4/$(seg 9)" ]; }
poll_ok 20 wait_spooled
printf 'X%.0s' $(seq 64) | dd of="$SPOOL4/$(seg 3)" bs=1 seek=8388608 conv=notrunc 2>/dev/null
"$PRODATA_WAL" wal-fetch --archive-dir "$ARCH" "$(seg 3)" "$TAP_WORKDIR/plain-3"
for m in "$SPOOL4"/.boot-*; do mv "$m" "$SPOOL4/.boot-00000000-0000-0000-0000-000000000000"; done
fetch_in "$TAP_WORKDIR/d4" --archive-dir "$ARCH" "$(seg 3)" pg_wal/RECOVERYXLOG
check "a spool of another boot is passed over: recovery gets the archived segment, not the damaged copy" \
    cmp -s "$TAP_WORKDIR/d4/pg_wal/RECOVERYXLOG" "$TAP_WORKDIR/plain-3"

# ---- recovery over: the prefetcher empties the spool -----------------------------------------------------------
rm "$TAP_WORKDIR/d1/recovery.signal"
fetch_in "$TAP_WORKDIR/d1" --archive-dir "$ARCH" "$(seg 2)" pg_wal/RECOVERYXLOG
gone() { [ ! -e "$TAP_WORKDIR/d1/pg_wal/prodata-prefetch" ]; }
check "no signal file: the prefetcher removes the spool" poll_ok 20 gone

# ---- a warm standby replays through the spool -------------------------------------------------------------------
ROWS=$(sql postgres "SELECT count(*) FROM t")
STANDBY_PORT=$(pg_free_port)
cat >>"$STANDBY_DIR/data/postgresql.auto.conf" <<CONF
port = $STANDBY_PORT
unix_socket_directories = '$STANDBY_DIR'
restore_command = '$PRODATA_WAL wal-fetch --archive-dir $ARCH %f %p'
hot_standby = on
CONF
touch "$STANDBY_DIR/data/standby.signal" && chown -R postgres: "$STANDBY_DIR" 2>/dev/null
MOST=0
watch_spool() { while [ -e "$STANDBY_DIR/data" ]; do
    n=$(ls "$STANDBY_DIR/data/pg_wal/prodata-prefetch" 2>/dev/null | grep -cE '^[0-9A-F]{24}$')
    [ "$n" -gt "$MOST" ] && MOST=$n && echo "$MOST" >"$TAP_WORKDIR/most"; sleep 0.02; done; }
watch_spool & WATCH=$!
pg_as_owner "$PGBIN/pg_ctl" -D "$STANDBY_DIR/data" -l "$STANDBY_DIR/postgres.log" -w -t 60 start >/dev/null 2>&1
if PGPORT=$STANDBY_PORT poll_sql postgres "SELECT count(*) FROM t" "$ROWS" 60; then
    tap_ok "the standby replayed every row from the archive"
else tap_not_ok "the standby replayed every row" "$(tail -n 5 "$STANDBY_DIR/postgres.log")"; fi
kill "$WATCH" 2>/dev/null
expect_eq "the spool held at most 8 segments (most seen: $(cat "$TAP_WORKDIR/most" 2>/dev/null))" \
    "$(awk '{ print ($1 >= 1 && $1 <= 8) ? "ok" : "no" }' "$TAP_WORKDIR/most" 2>/dev/null)" ok
expect_eq "recovery said nothing of wal-fetch in its log" "$(grep -E 'prodata: |wal-fetch' "$STANDBY_DIR/postgres.log")" ""
tap_done
