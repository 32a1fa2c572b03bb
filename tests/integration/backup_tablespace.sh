#!/bin/bash
# backup_tablespace.sh - a cluster with a tablespace, backed up and restored on real PostgreSQL 15: the backup
# lists the tablespace as a link with its target and copies its files; a restore whose tablespace directory
# is the live one (not empty) is refused before anything is written; --tablespace-map OID=DIR and
# --tablespace-root DIR put it elsewhere (the link, tablespace_map and pg_tablespace_location agree), the copy
# starts with the rows of the table and its index in the tablespace; an incr after changes there restores
# whole; a delta restore into that copy, whose tablespace rows diverged, keeps the tablespace where its link
# points, removes a stray file there and gives the backup's rows again, while one that would send the
# tablespace to a directory in use is refused before anything changes; verify --restore puts the copy's
# tablespace in its scratch directory; an unknown OID and a directory inside the data directory are refused.
source tests/lib/pg.sh
source tests/lib/tap.sh
source tests/lib/backup.sh
tap_plan 17
tap_workdir
backup_test_dirs
stop_restored() { stop_data_dir "$RESTORED_DIR/data"; rm -rf "$RESTORED_DIR"; }
trap 'stop_restored; pg_instance_stop "$PRIMARY_DIR"; rm -rf "$TAP_WORKDIR"' EXIT
backup() { "$PRODATA" backup --archive-dir "$REPO" "$@"; }
restore() { "$PRODATA" restore --archive-dir "$REPO" --pgdata "$RESTORED_DIR/data" "$@"; }
outcome() { jq -c "select(.backup) | .backup | $1" <<<"$OUT" 2>/dev/null; }

backup_primary_start || exit 1
LIVE="$TAP_WORKDIR/owned/ts_live"
mkdir -p "$LIVE" && [ "$(id -u)" = 0 ] && chown postgres: "$LIVE"
sql postgres "CREATE EXTENSION amcheck"
sql postgres "CREATE TABLESPACE ts1 LOCATION '$LIVE'"
sql postgres "CREATE TABLE tt (id bigserial PRIMARY KEY USING INDEX TABLESPACE ts1, note text) TABLESPACE ts1"
sql postgres "INSERT INTO tt (note) SELECT 'in ts1 ' || g FROM generate_series(1, 30000) g"
OID=$(sql postgres "SELECT oid FROM pg_tablespace WHERE spcname = 'ts1'")
digest() { PGPORT=$1 sql postgres "SELECT count(*) || ':' || md5(string_agg(id || note, ',' ORDER BY id)) FROM tt"; }
# start_restored: PostgreSQL on the restored directory, on a port and socket of its own, until promoted
start_restored() {
    RESTORED_PORT=$(pg_free_port)
    pg_as_owner "$PGBIN/pg_ctl" -D "$RESTORED_DIR/data" -l "$TAP_WORKDIR/owned/restored.log" -w -t 60 \
        -o "-p $RESTORED_PORT -k $TAP_WORKDIR/owned -c archive_mode=off" start >/dev/null 2>&1 || return 1
    PGPORT=$RESTORED_PORT poll_sql postgres "SELECT pg_is_in_recovery()" f 60
}

# 1. the backup
run_cmd backup --json
expect_eq "a full backup of a cluster with a tablespace" "$RC|$(outcome .type)" '0|"full"'
FULL=$(outcome .label | tr -d '"')
MANIFEST="$REPO/backup/$FULL/manifest.json"
expect_eq "its manifest lists the tablespace as a link to its directory, and the table's files under it" \
    "$(jq -c "[.entries[] | select(.kind == \"link\") | [.path, .target]]" "$MANIFEST")|$(jq "[.entries[] | select(.kind == \"file\" and (.path | startswith(\"pg_tblspc/$OID/\")))] | length > 1" "$MANIFEST")" \
    "[[\"pg_tblspc/$OID\",\"$LIVE\"]]|true"
EXPECTED=$(digest "$PG_TEST_PORT")

# 2. refusals, before anything is written
run_cmd restore --target-immediate
expect_eq "a restore into the live tablespace's directory (not empty): refused, naming it, nothing written" \
    "$RC|$(grep -c "tablespace $OID's directory $LIVE is not empty" <<<"$OUT")|$(ls -A "$RESTORED_DIR" 2>/dev/null | wc -l)" "1|1|0"
run_cmd restore --target-immediate --tablespace-map "999=$TAP_WORKDIR/owned/x"
expect_eq "--tablespace-map naming no tablespace of the backup: a usage error" \
    "$RC|$(grep -c 'names no tablespace' <<<"$OUT")" "2|1"
run_cmd restore --target-immediate --tablespace-map "$OID=$RESTORED_DIR/data/inside"
expect_eq "a tablespace directory inside the data directory: refused" \
    "$RC|$(grep -c 'outside the data directory' <<<"$OUT")" "2|1"

# 3. restored elsewhere with --tablespace-map, started
MOVED="$TAP_WORKDIR/owned/ts_mo\\ved" # a backslash: tablespace_map escapes it, as PostgreSQL reads it
run_cmd restore --target-immediate --tablespace-map "$OID=$MOVED" --jobs 3
expect_eq "restore with --tablespace-map: the link and tablespace_map (its backslash escaped) name the new directory" \
    "$RC|$(readlink "$RESTORED_DIR/data/pg_tblspc/$OID")|$(cat "$RESTORED_DIR/data/tablespace_map" 2>/dev/null)" \
    "0|$MOVED|$OID ${MOVED//\\/\\\\}"
if start_restored; then
    expect_eq "the copy starts: its rows are the primary's, its tablespace where it was sent, the index intact" \
        "$(digest "$RESTORED_PORT")|$(PGPORT=$RESTORED_PORT sql postgres "SELECT pg_tablespace_location($OID)")|$(PGPORT=$RESTORED_PORT sql postgres "SELECT bt_index_check('tt_pkey', true)")" \
        "$EXPECTED|$MOVED|"
else
    tap_not_ok "the restored copy started" "$(tail -20 "$TAP_WORKDIR/owned/restored.log")"
fi
stop_restored
rm -rf "$MOVED"

# 4. an incr after changes in the tablespace, restored with --tablespace-root
sql postgres "UPDATE tt SET note = 'changed ' || id WHERE id % 100 = 0; INSERT INTO tt (note) SELECT 'more ' || g FROM generate_series(1, 2000) g"
run_cmd backup --type incr --json
expect_eq "an incr after changes in the tablespace" "$RC|$(outcome '[.type, .prior]')" "0|[\"incr\",\"$FULL\"]"
INCR=$(outcome .label | tr -d '"')
EXPECTED=$(digest "$PG_TEST_PORT")
ROOT="$TAP_WORKDIR/owned/spaces"
run_cmd restore --set "$INCR" --target-immediate --tablespace-root "$ROOT"
expect_eq "restore of the incr with --tablespace-root: the tablespace in ROOT/OID" \
    "$RC|$(readlink "$RESTORED_DIR/data/pg_tblspc/$OID")" "0|$ROOT/$OID"
if start_restored; then
    expect_eq "the copy of the incr holds the changed rows" "$(digest "$RESTORED_PORT")" "$EXPECTED"
    PGPORT=$RESTORED_PORT sql postgres "UPDATE tt SET note = 'diverged' WHERE id % 7 = 0; CHECKPOINT" >/dev/null
else
    tap_not_ok "the restored copy of the incr started" "$(tail -20 "$TAP_WORKDIR/owned/restored.log")"
fi
pg_as_owner "$PGBIN/pg_ctl" -D "$RESTORED_DIR/data" -m fast -w -t 60 stop >/dev/null 2>&1

# 4b. delta restores of the copy, whose tablespace rows diverged and which holds a stray file there
STRAY=$(ls -d "$ROOT/$OID"/PG_15_*)/stray
touch "$STRAY"
run_cmd restore --delta --set "$INCR" --target-immediate
expect_eq "a delta restore sending the tablespace to a directory in use (the live one): refused, nothing changed" \
    "$RC|$(grep -c "tablespace $OID's directory $LIVE is not empty" <<<"$OUT")|$(ls "$RESTORED_DIR/data/global/pg_control" "$STRAY" 2>/dev/null | wc -l)" \
    "1|1|2"
run_cmd restore --delta --set "$INCR" --target-immediate --tablespace-root "$ROOT"
expect_eq "delta restore into the copy, its tablespace where its link points: the link kept, the stray file removed" \
    "$RC|$(readlink "$RESTORED_DIR/data/pg_tblspc/$OID")|$(ls "$STRAY" 2>/dev/null | wc -l)" "0|$ROOT/$OID|0"
if start_restored; then
    expect_eq "the copy after the delta restore: the backup's rows again, the index in the tablespace intact" \
        "$(digest "$RESTORED_PORT")|$(PGPORT=$RESTORED_PORT sql postgres "SELECT bt_index_check('tt_pkey', true)")" \
        "$EXPECTED|"
else
    tap_not_ok "the copy started after the delta restore" "$(tail -20 "$TAP_WORKDIR/owned/restored.log")"
fi
stop_restored
rm -rf "$ROOT"

# 5. verify --restore: the copy's tablespace in its scratch directory, the live one untouched
BEFORE=$(find "$LIVE" -type f | wc -l)
run_cmd backup verify --restore --set "$INCR" --json
expect_eq "verify --restore of the backup with a tablespace: amcheck clean, the live tablespace untouched" \
    "$RC|$(jq -s -c 'map(select(.trial)) | .[0].trial.ok' <<<"$OUT")|$(find "$LIVE" -type f | wc -l)" "0|true|$BEFORE"
check "no scratch copy is left behind" bash -c "! ls -d ${TMPDIR:-/tmp}/prodata-verify-* 2>/dev/null"

# 6. a tablespace made after the backup: recovery would re-make it where the WAL says, the live one
LIVE2="$TAP_WORKDIR/owned/ts_later"
mkdir -p "$LIVE2" && [ "$(id -u)" = 0 ] && chown postgres: "$LIVE2"
sql postgres "CREATE TABLESPACE ts2 LOCATION '$LIVE2'"
sql postgres "CREATE TABLE t2 TABLESPACE ts2 AS SELECT g FROM generate_series(1, 1000) g"
SWITCHED=$(sql postgres "SELECT pg_walfile_name(pg_switch_wal())")
poll_sql postgres "SELECT coalesce(last_archived_wal, '') >= '$SWITCHED' FROM pg_stat_archiver" t 30
run_cmd restore --set "$INCR" --tablespace-root "$TAP_WORKDIR/owned/spaces2"
expect_eq "a restore whose WAL makes a tablespace in a directory in use: refused, naming it, nothing written" \
    "$RC|$(grep -c "creates tablespace [0-9]* at $LIVE2" <<<"$OUT")|$(ls -A "$RESTORED_DIR" 2>/dev/null | wc -l)" "1|1|0"
run_cmd restore --set "$INCR" --tablespace-root "$TAP_WORKDIR/owned/spaces2" --target-immediate
expect_eq "the same backup to its consistency point (before that WAL) is restored" "$RC" 0
stop_restored
tap_done
