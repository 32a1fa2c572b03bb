#!/bin/bash
# backup_standby.sh - backups taken from a streaming standby (--from-standby) on real PostgreSQL 15: a primary
# with data checksums archiving into the repository, a standby made by pg_basebackup streaming from it; a
# backup of the standby without --from-standby is refused, --from-standby against the primary too; a full and
# then an incr from the standby under a write load on the primary, the incr building on the full; the incr
# restored to a restore point made on the primary afterwards has the primary's rows there; on a quiet primary
# just switched, a backup that ends at a segment's very start verifies by restoring it.
source tests/lib/pg.sh
source tests/lib/tap.sh
source tests/lib/backup.sh
tap_plan 7
tap_workdir
backup_test_dirs
STANDBY_DIR="$TAP_WORKDIR/standby"
WRITER_STOP="$TAP_WORKDIR/writer.stop"
trap 'touch "$WRITER_STOP"; stop_data_dir "$RESTORED_DIR/data"; stop_data_dir "$STANDBY_DIR/data"; pg_instance_stop "$PRIMARY_DIR"; rm -rf "$TAP_WORKDIR"' EXIT
mkdir -p "$STANDBY_DIR"
[ "$(id -u)" = 0 ] && chown postgres: "$STANDBY_DIR"
outcome() { jq -c "select(.backup) | .backup | $1" <<<"$OUT" 2>/dev/null; }

backup_primary_start "full_page_writes = on" || exit 1
sql postgres "CREATE TABLE t (id bigserial PRIMARY KEY, note text NOT NULL)"
sql postgres "INSERT INTO t (note) SELECT 'seed ' || g FROM generate_series(1, 20000) g"
sql postgres "CHECKPOINT" # a standby backup needs full-page writes since the restartpoint it starts from

# the standby: streaming from the primary, on a port and socket of its own
STANDBY_PORT=$(pg_free_port)
pg_as_owner "$PGBIN/pg_basebackup" -h 127.0.0.1 -p "$PRIMARY_PORT" -U postgres -D "$STANDBY_DIR/data" -X stream \
    -R -c fast >"$TAP_WORKDIR/basebackup.log" 2>&1 || { cat "$TAP_WORKDIR/basebackup.log"; exit 1; }
cat >>"$STANDBY_DIR/data/postgresql.auto.conf" <<CONF
port = $STANDBY_PORT
unix_socket_directories = '$STANDBY_DIR'
archive_mode = off
hot_standby = on
CONF
pg_as_owner "$PGBIN/pg_ctl" -D "$STANDBY_DIR/data" -l "$STANDBY_DIR/postgres.log" -w -t 30 start >/dev/null 2>&1 ||
    { tail -20 "$STANDBY_DIR/postgres.log"; exit 1; }
PGPORT=$STANDBY_PORT poll_sql postgres "SELECT count(*) >= 20000 FROM t" t 30
on_standby() { PGPORT=$STANDBY_PORT "$PRODATA" backup --archive-dir "$REPO" "$@"; }

run_cmd on_standby
expect_eq "a backup of a standby without --from-standby is refused, saying how" \
    "$RC|$(grep -c 'is a standby' <<<"$OUT")|$(grep -c -- '--from-standby' <<<"$OUT")" "1|1|1"
run_cmd "$PRODATA" backup --archive-dir "$REPO" --from-standby
expect_eq "--from-standby against the primary is refused" "$RC|$(grep -c 'is not a standby' <<<"$OUT")" "1|1"

(for i in $(seq 1 300); do
    [ -e "$WRITER_STOP" ] && break
    psql -X -q -d postgres -c "INSERT INTO t (note) VALUES ('during $i')" >/dev/null 2>&1
done) &
WRITER=$!
run_cmd on_standby --from-standby --json
expect_eq "a full backup from the standby under a write load on the primary" \
    "$RC|$(outcome '[.type, .bad_pages]')|$(grep -c 'BACKUP FROM: standby' "$REPO/backup/$(outcome .label | tr -d '"')/manifest.json")" \
    '0|["full",0]|1'
FULL=$(outcome .label | tr -d '"')
sql postgres "UPDATE t SET note = 'changed' WHERE id % 1000 = 0"
run_cmd on_standby --from-standby --type incr --json
expect_eq "an incr from the standby builds on it" "$RC|$(outcome '[.type, .prior]')" "0|[\"incr\",\"$FULL\"]"
INCR=$(outcome .label | tr -d '"')
touch "$WRITER_STOP"
wait "$WRITER"

sql postgres "SELECT pg_create_restore_point('after_standby_backups')" >/dev/null
DIGEST=$(sql postgres "SELECT md5(string_agg(id || ':' || note, ',' ORDER BY id)) FROM t")
SWITCHED=$(sql postgres "SELECT pg_walfile_name(pg_switch_wal())")
poll_sql postgres "SELECT coalesce(last_archived_wal, '') >= '$SWITCHED' FROM pg_stat_archiver" t 30
run_cmd "$PRODATA" restore --archive-dir "$REPO" --pgdata "$RESTORED_DIR/data" --set "$INCR" \
    --target-name after_standby_backups
expect_rc "the incr taken from the standby restores" 0
RESTORED_PORT=$(pg_free_port)
rm -f "$RESTORED_DIR/data/standby.signal"
if pg_as_owner "$PGBIN/pg_ctl" -D "$RESTORED_DIR/data" -l "$TAP_WORKDIR/owned/restored.log" -w -t 60 \
    -o "-p $RESTORED_PORT -k $TAP_WORKDIR/owned -c archive_mode=off -c primary_conninfo=''" start >/dev/null 2>&1 &&
    PGPORT=$RESTORED_PORT poll_sql postgres "SELECT pg_is_in_recovery()" f 60; then
    expect_eq "... with the primary's rows at the restore point" \
        "$(PGPORT=$RESTORED_PORT sql postgres "SELECT md5(string_agg(id || ':' || note, ',' ORDER BY id)) FROM t")" \
        "$DIGEST"
else
    tap_not_ok "... the restored cluster started" "$(tail -20 "$TAP_WORKDIR/owned/restored.log")"
fi
stop_data_dir "$RESTORED_DIR/data"
rm -rf "$RESTORED_DIR"

# a quiet primary that has just switched segments: the standby's minimum recovery point, where its backup
# ends, is then a segment's very start, and recovery needs the record there (the primary writes one)
at_boundary() { [ "$(PGPORT=$STANDBY_PORT sql postgres "SELECT (pg_last_wal_replay_lsn() - '0/0'::pg_lsn) % 16777216 = 0")" = t ]; }
BOUNDARY=""
for _ in 1 2 3 4 5; do
    sql postgres "INSERT INTO t (note) SELECT 'quiet ' || g FROM generate_series(1, 100) g; CHECKPOINT" >/dev/null
    sql postgres "SELECT pg_switch_wal()" >/dev/null
    poll_ok 10 at_boundary || continue
    run_cmd on_standby --from-standby --json
    QUIET=$(outcome .label | tr -d '"')
    STOP=$(jq -r .stop_lsn "$REPO/backup/$QUIET/manifest.json" 2>/dev/null)
    [ "$RC" = 0 ] && [ $(( 16#${STOP#*/} % 16777216 )) = 0 ] && { BOUNDARY=$STOP; break; }
done
if [ -z "$BOUNDARY" ]; then
    tap_skip "a standby backup ending at a segment's start restores to its end" \
        "no backup ended at a segment boundary in 5 tries (the standby wrote past it)"
else
    run_cmd "$PRODATA" backup verify --archive-dir "$REPO" --set "$QUIET" --restore --json
    expect_eq "a standby backup ending at a segment's start ($BOUNDARY) restores to its end: verify --restore ok" \
        "$RC|$(jq -s -c 'map(select(.trial)) | .[0].trial.ok' <<<"$OUT")" "0|true"
fi
tap_done
