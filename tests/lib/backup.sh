# tests/lib/backup.sh - what the backup tests share (source after pg.sh and tap.sh, in a test that called
# tap_workdir): a primary with data checksums archiving through prodata-wal into a repository, and stopping
# a PostgreSQL a test started on a data directory.
#
#   backup_test_dirs                    PRIMARY_DIR, REPO, RESTORED_DIR (its parent the account's), PRODATA_WAL
#   backup_primary_start [SETTING ...]  the primary, each SETTING a postgresql.conf line; sets PRIMARY_PORT
#   stop_data_dir DIR                   stops the PostgreSQL whose postmaster.pid is in DIR (immediate)

backup_test_dirs() {
    chmod 755 "$TAP_WORKDIR"
    PRIMARY_DIR="$TAP_WORKDIR/primary"
    REPO="$TAP_WORKDIR/repo"
    RESTORED_DIR="$TAP_WORKDIR/owned/restored"
    PRODATA_WAL="$(dirname "$PRODATA")/prodata-wal"
    mkdir -p "$REPO" "$TAP_WORKDIR/owned"
    [ "$(id -u)" = 0 ] && chown postgres: "$REPO" "$TAP_WORKDIR/owned"
    return 0
}

backup_primary_start() {
    local setting
    pg_instance_start "$PRIMARY_DIR" || return 1
    {
        echo "wal_level = replica"
        echo "archive_mode = on"
        echo "archive_command = '$PRODATA_WAL wal-push --archive-dir $REPO %p'"
        for setting in "$@"; do echo "$setting"; done
    } >>"$PG_DATA_DIR/postgresql.auto.conf"
    pg_as_owner "$PGBIN/pg_ctl" -D "$PG_DATA_DIR" -w -t 30 stop >/dev/null 2>&1
    pg_as_owner "$PGBIN/pg_checksums" --enable -D "$PG_DATA_DIR" >/dev/null 2>&1 ||
        { echo "backup.sh: pg_checksums failed" >&2; return 1; }
    pg_as_owner "$PGBIN/pg_ctl" -D "$PG_DATA_DIR" -l "$PRIMARY_DIR/postgres.log" -w -t 30 start >/dev/null 2>&1 ||
        { echo "backup.sh: restart failed" >&2; return 1; }
    PRIMARY_PORT=$PG_TEST_PORT
}

stop_data_dir() {
    local pid
    pid=$(head -1 "$1/postmaster.pid" 2>/dev/null || true)
    [[ "$pid" =~ ^[0-9]+$ ]] && pg_as_owner "$PGBIN/pg_ctl" -D "$1" -m immediate -w -t 30 stop >/dev/null 2>&1
    return 0
}
