#!/bin/bash
# backup_incr.sh - differential and block-level incremental backups on a real PostgreSQL 15 primary with data
# checksums: an incr with nothing to build on is taken in full and says why; after updates to a few pages, a
# table truncated by VACUUM and grown again, and visibility-map bits cleared by updates, an incr taken under a
# write load stores a fraction of the full's bytes, a second incr builds on the first and a diff on the full;
# each restores to a named point with the primary's rows there (also with --delta over a copy that went its own
# way, which rewrites only what differs), a visibility map that agrees with the heap
# (pg_visibility) and intact B-tree indexes (amcheck); verify passes; a damaged run of pages and a backup of the
# chain moved away are found by verify and refused by restore before anything is written; retention keeps
# what builds on a kept full and removes a whole chain once a newer full is kept; verify --restore restores a
# chain and runs amcheck on the copy (nothing found), fails cleanly when the copy cannot start, and finds an
# index that no longer matches its table.
source tests/lib/pg.sh
source tests/lib/tap.sh
source tests/lib/backup.sh
tap_plan 39
tap_workdir
backup_test_dirs
WRITER_STOP="$TAP_WORKDIR/writer.stop"
stop_restored() { stop_data_dir "$RESTORED_DIR/data"; rm -rf "$RESTORED_DIR"; }
trap 'touch "$WRITER_STOP"; stop_restored; pg_instance_stop "$PRIMARY_DIR"; rm -rf "$TAP_WORKDIR"' EXIT
backup() { "$PRODATA" backup --archive-dir "$REPO" "$@"; }
outcome() { jq -c "select(.backup) | .backup | $1" <<<"$OUT" 2>/dev/null; }

backup_primary_start || exit 1
sql postgres "CREATE EXTENSION pg_visibility; CREATE EXTENSION amcheck"
# no autovacuum: what changes between backups is what the test does
sql postgres "CREATE TABLE t (id bigserial PRIMARY KEY, note text NOT NULL, pad text NOT NULL) WITH (autovacuum_enabled = off)"
sql postgres "CREATE TABLE tail (id int PRIMARY KEY, pad text NOT NULL) WITH (autovacuum_enabled = off)"
# md5 padding: pages that do not compress to nothing, so stored bytes follow the pages stored
sql postgres "INSERT INTO t (note, pad) SELECT 'seed ' || g, repeat(md5(g::text), 6) FROM generate_series(1, 60000) g"
sql postgres "INSERT INTO tail SELECT g, repeat(md5(g::text), 6) FROM generate_series(1, 20000) g"
sql postgres "VACUUM (FREEZE) t"
sql postgres "VACUUM tail"

start_restored() {
    RESTORED_PORT=$(pg_free_port)
    pg_as_owner "$PGBIN/pg_ctl" -D "$RESTORED_DIR/data" -l "$TAP_WORKDIR/owned/restored.log" -w -t 60 \
        -o "-p $RESTORED_PORT -k $TAP_WORKDIR/owned -c archive_mode=off" start >/dev/null 2>&1 || return 1
    PGPORT=$RESTORED_PORT poll_sql postgres "SELECT pg_is_in_recovery()" f 60
}
digest() {
    PGPORT=$1 sql postgres "SELECT md5(string_agg(id || ':' || note || pad, ',' ORDER BY id)) FROM t" &&
        PGPORT=$1 sql postgres "SELECT md5(string_agg(id || ':' || pad, ',' ORDER BY id)) FROM tail"
}
archive_now() {
    local switched
    switched=$(sql postgres "SELECT pg_walfile_name(pg_switch_wal())")
    poll_sql postgres "SELECT coalesce(last_archived_wal, '') >= '$switched' FROM pg_stat_archiver" t 30
}
# restore_and_check NAME LABEL POINT DIGEST: restores LABEL to the restore point POINT and compares.
restore_and_check() {
    run_cmd "$PRODATA" restore --archive-dir "$REPO" --pgdata "$RESTORED_DIR/data" --set "$2" --target-name "$3" \
        --jobs 3
    expect_rc "$1: restore of $2 to $3" 0
    if start_restored; then
        expect_eq "$1: the rows are the primary's at the point" "$(digest "$RESTORED_PORT")" "$4"
        expect_eq "$1: the visibility map agrees with the heap, the indexes are intact" \
            "$(PGPORT=$RESTORED_PORT sql postgres "SELECT (SELECT count(*) FROM pg_check_visible('t')) +
                (SELECT count(*) FROM pg_check_frozen('t')) + (SELECT count(*) FROM pg_check_visible('tail'))")|$(
                PGPORT=$RESTORED_PORT sql postgres "SELECT bt_index_check('t_pkey', true), bt_index_check('tail_pkey', true)")" \
            "0||"
    else
        tap_not_ok "$1: the restored cluster started" "$(tail -20 "$TAP_WORKDIR/owned/restored.log")"
        tap_not_ok "$1: (nothing to compare)"
    fi
    stop_restored
}

# 1. an incr with nothing to build on is a full backup, and says why
run_cmd backup --type incr --json
expect_eq "an incr with no backup to build on is taken in full, saying why" \
    "$RC|$(outcome '[.type, .why_full, (.label | test("F$"))]')" '0|["full","no backup exists to build on",true]'
FULL=$(outcome .label | tr -d '"')
FULL_STORED=$(outcome .stored_bytes)

# 2. changes: a few pages updated (visibility bits cleared), a table truncated by VACUUM and grown again
sql postgres "UPDATE t SET note = 'changed ' || id WHERE id % 2000 = 0"
sql postgres "DELETE FROM tail WHERE id > 5000"
sql postgres "VACUUM tail"
TAIL_PAGES=$(sql postgres "SELECT pg_relation_size('tail') / 8192")
sql postgres "INSERT INTO tail SELECT g, repeat(md5((g * 7)::text), 6) FROM generate_series(5001, 8000) g"
(for i in $(seq 1 300); do
    [ -e "$WRITER_STOP" ] && break
    psql -X -q -d postgres -c "INSERT INTO t (note, pad) VALUES ('during $i', 'x')" >/dev/null 2>&1
done) &
WRITER=$!
run_cmd backup --type incr --json --jobs 2
check "VACUUM truncated the table before it grew again ($TAIL_PAGES pages of about 800)" test "$TAIL_PAGES" -lt 300
touch "$WRITER_STOP"
wait "$WRITER"
rm -f "$WRITER_STOP"
expect_eq "an incr under a write load builds on the full" \
    "$RC|$(outcome '[.type, .prior, (.label | test("I$")), .bad_pages]')" "0|[\"incr\",\"$FULL\",true,0]"
INCR1=$(outcome .label | tr -d '"')
INCR1_STORED=$(outcome .stored_bytes)
expect_eq "it stores under a fifth of the full's bytes ($INCR1_STORED of $FULL_STORED)" \
    "$((INCR1_STORED * 5 < FULL_STORED))" 1
MANIFEST="$REPO/backup/$INCR1/manifest.json"
expect_eq "its manifest holds partial relation files and references unchanged ones" \
    "$(jq '[.entries[] | select(.partial)] | length > 0' "$MANIFEST")|$(jq "[.entries[] | select(.reference == \"$FULL\")] | length > 100" "$MANIFEST")" \
    "true|true"

# 3. a second incr on the first, a diff on the full
sql postgres "UPDATE t SET note = 'again ' || id WHERE id % 3000 = 1"
run_cmd backup --type incr --json
INCR2=$(outcome .label | tr -d '"')
expect_eq "a second incr builds on the first" "$RC|$(outcome '[.type, .prior]')" "0|[\"incr\",\"$INCR1\"]"
sql postgres "UPDATE tail SET pad = 'diff' WHERE id = 42"
run_cmd backup --type diff --json
DIFF=$(outcome .label | tr -d '"')
expect_eq "a diff builds on the full" "$RC|$(outcome '[.type, .prior, (.label | test("D$"))]')" "0|[\"diff\",\"$FULL\",true]"
sql postgres "SELECT pg_create_restore_point('after_diff')" >/dev/null
DIGEST_AT_POINT=$(digest "$PRIMARY_PORT")
sql postgres "UPDATE t SET note = 'after the point' WHERE id = 1"
archive_now

# 4. each restores to the point with the primary's rows
restore_and_check "incr chain" "$INCR2" after_diff "$DIGEST_AT_POINT"
restore_and_check "diff" "$DIFF" after_diff "$DIGEST_AT_POINT"

# 4b. delta: the full restored and started, changed, stopped; then the incr chain restored over it with --delta
run_cmd "$PRODATA" restore --archive-dir "$REPO" --pgdata "$RESTORED_DIR/data" --set "$FULL" --target-immediate
start_restored || tap_not_ok "the full restored for the delta test started"
PGPORT=$RESTORED_PORT sql postgres "INSERT INTO t (note, pad) SELECT 'stray', 'x' FROM generate_series(1, 500)"
PGPORT=$RESTORED_PORT sql postgres "CREATE TABLE stray AS SELECT g FROM generate_series(1, 1000) g"
run_cmd "$PRODATA" restore --archive-dir "$REPO" --pgdata "$RESTORED_DIR/data" --delta --set "$INCR2"
expect_eq "a delta restore is refused while PostgreSQL runs on the directory" \
    "$RC|$(grep -c 'PostgreSQL runs on .*postmaster.pid names process' <<<"$OUT")" "1|1"
pg_as_owner "$PGBIN/pg_ctl" -D "$RESTORED_DIR/data" -w -t 30 stop >/dev/null 2>&1
run_cmd "$PRODATA" restore --archive-dir "$REPO" --pgdata "$RESTORED_DIR/data" --delta --set "$INCR2" \
    --target-name after_diff --target-action promote --target-timeline latest --archive-mode off --jobs 2
expect_eq "the delta restore rewrites what differs, keeps the rest, removes what the backup lacks" \
    "$RC|$(grep -cE '^delta: [0-9.]+ MB rewritten, [0-9.]+ MB found in place, [1-9][0-9]* entries' <<<"$OUT")|$(
        awk '/^delta:/ { print ($6 > $2) }' <<<"$OUT")" "0|1|1"
if start_restored; then
    expect_eq "delta: the rows are the primary's at the point, no stray table" \
        "$(digest "$RESTORED_PORT")|$(PGPORT=$RESTORED_PORT sql postgres "SELECT to_regclass('stray') IS NULL")" \
        "$DIGEST_AT_POINT|t"
else
    tap_not_ok "delta: the restored cluster started" "$(tail -20 "$TAP_WORKDIR/owned/restored.log")"
fi
stop_restored
# 4c. restore --start: PostgreSQL started, the restore waiting until the target is reached
PORT=$(pg_free_port)
run_cmd "$PRODATA" restore --archive-dir "$REPO" --pgdata "$RESTORED_DIR/data" --set "$INCR2" \
    --target-name after_diff --start --port "$PORT" --wait 120
expect_eq "restore --start waits for the target and says where recovery stopped" \
    "$RC|$(grep -c '^reached: recovery stopping at restore point "after_diff"' <<<"$OUT")|$(grep -c '^PostgreSQL is promoted' <<<"$OUT")|$(
        psql -X -At -h 127.0.0.1 -p "$PORT" -d postgres -c "SELECT md5(string_agg(id || ':' || note || pad, ',' ORDER BY id)) FROM t")" \
    "0|1|1|${DIGEST_AT_POINT%%$'\n'*}"
stop_restored
run_cmd "$PRODATA" restore --archive-dir "$REPO" --pgdata "$RESTORED_DIR/data" --set "$INCR2" \
    --target-name after_diff --target-action pause --start --port "$PORT" --wait 120
expect_eq "restore --start with --target-action pause returns once recovery pauses there" \
    "$RC|$(grep -c '^PostgreSQL is paused at the target' <<<"$OUT")" "0|1"
stop_restored
run_cmd "$PRODATA" restore --archive-dir "$REPO" --pgdata "$RESTORED_DIR/data" --set "$INCR2" \
    --target-time "2099-01-01 00:00:00+00" --no-target-check --start --port "$PORT" --wait 120
expect_eq "a target past the archived WAL, unchecked: restore --start fails with PostgreSQL's reason" \
    "$RC|$(grep -c 'recovery ended before configured recovery target was reached' <<<"$OUT")" "1|1"
stop_restored
mkdir -p "$RESTORED_DIR/data" && echo keep >"$RESTORED_DIR/data/notes.txt"
[ "$(id -u)" = 0 ] && chown -R postgres: "$RESTORED_DIR"
run_cmd "$PRODATA" restore --archive-dir "$REPO" --pgdata "$RESTORED_DIR/data" --delta
expect_eq "a delta into a directory that is no data directory is refused, nothing removed" \
    "$RC|$(grep -c 'is not a PostgreSQL data directory (no PG_VERSION)' <<<"$OUT")|$(cat "$RESTORED_DIR/data/notes.txt")" \
    "1|1|keep"
rm -rf "$RESTORED_DIR"
run_cmd backup verify
expect_eq "verify passes on full, incr, incr and diff" "$RC|$(grep -c '^verified 4 backup' <<<"$OUT")" "0|1"
ROWS=$(sql postgres "SELECT (SELECT count(*) FROM t) + (SELECT count(*) FROM tail)")
run_cmd backup verify --restore --set "$INCR2"
expect_eq "verify --restore restores the incr chain, and amcheck finds nothing ($ROWS rows)" \
    "$RC|$(grep -c "^restored $INCR2 into " <<<"$OUT")|$(grep -cE "^checked [0-9]+ database\(s\): [0-9]+ B-tree indexes .*, $ROWS rows in user tables$" <<<"$OUT")|$(grep -c '^amcheck:' <<<"$OUT")" \
    "0|1|1|0"
expect_eq "... records it, shown by backup info; the scratch copy is gone" \
    "$("$PRODATA" backup info --archive-dir "$REPO" "$INCR2" --json | jq -c '[.last_verify.ok, .last_verify.rows, .last_verify.indexes > 0]')|$(ls -d "${TMPDIR:-/tmp}"/prodata-verify-* 2>/dev/null | wc -l)" \
    "[true,$ROWS,true]|0"
run_cmd backup verify --restore --set "$DIFF" --pg-bin /nonexistent
expect_eq "a copy that cannot start is a failure naming pg_ctl, and leaves nothing behind" \
    "$RC|$(grep -c '/nonexistent/pg_ctl' <<<"$OUT")|$(ls -d "${TMPDIR:-/tmp}"/prodata-verify-* 2>/dev/null | wc -l)" "1|1|0"
mkdir -p "$TAP_WORKDIR/owned/brokenbin" # a pg_ctl that never starts anything: the trial fails after the restore
printf '#!/bin/sh\necho "pg_ctl: could not start server" >&2\nexit 1\n' >"$TAP_WORKDIR/owned/brokenbin/pg_ctl"
chmod 755 "$TAP_WORKDIR/owned/brokenbin" "$TAP_WORKDIR/owned/brokenbin/pg_ctl"
run_cmd backup verify --restore --set "$INCR2" --pg-bin "$TAP_WORKDIR/owned/brokenbin"
expect_eq "a trial that fails is recorded as the last verify (ok false, its error), not the older success" \
    "$RC|$("$PRODATA" backup info --archive-dir "$REPO" "$INCR2" --json | jq -c '[.last_verify.ok, (.last_verify.error | length > 0)]')" \
    "1|[false,true]"

# 5. damage: a run of pages, then a backup of the chain moved away
PARTIAL=$(jq -r '[.entries[] | select(.partial and .stored_bytes > 200)][0].path' "$REPO/backup/$INCR1/manifest.json")
STORED="$REPO/backup/$INCR1/data/$PARTIAL"
cp -p "$STORED" "$TAP_WORKDIR/saved"
printf 'XXXXXXXX' | dd of="$STORED" bs=1 seek=80 conv=notrunc status=none
run_cmd backup verify
expect_eq "verify finds the damaged run, naming the backup and the file (exit 3)" \
    "$RC|$(grep -c "$INCR1: $PARTIAL: backup file .* is corrupt" <<<"$OUT")" "3|1"
run_cmd backup verify --set "$INCR2"
expect_eq "verify --set of a backup built on it reads it too (exit 3)" \
    "$RC|$(grep -c "$INCR1: $PARTIAL: backup file .* is corrupt" <<<"$OUT")" "3|1"
run_cmd "$PRODATA" restore --archive-dir "$REPO" --pgdata "$RESTORED_DIR/data" --set "$INCR2"
expect_eq "restore of a chain through it stops naming the file, and leaves the directory empty" \
    "$RC|$(grep -c "$PARTIAL.* is corrupt" <<<"$OUT")|$(ls -A "$RESTORED_DIR/data" 2>/dev/null | wc -l)" "1|1|0"
mv "$STORED" "$TAP_WORKDIR/moved-file"
run_cmd backup verify
expect_eq "a stored file missing is a problem verify reports, not an error that stops it (exit 3)" \
    "$RC|$(grep -c "$INCR1: $PARTIAL: missing from the repository" <<<"$OUT")|$(grep -c '^verified ' <<<"$OUT")" "3|1|1"
cp -p "$TAP_WORKDIR/saved" "$STORED"
mv "$REPO/backup/$FULL" "$TAP_WORKDIR/moved"
run_cmd backup verify
expect_eq "verify finds the chain broken: the full the incr builds on is gone" \
    "$RC|$(grep -E -c -e "^file: $INCR1: backup $FULL, which $INCR1 needs, is not in the repository" \
        -e "^file: $INCR2: backup $FULL, which ($INCR1|$INCR2) needs, is not in the repository" \
        -e "^file: $DIFF: backup $FULL, which $DIFF needs, is not in the repository" <<<"$OUT")" "3|3"
run_cmd "$PRODATA" restore --archive-dir "$REPO" --pgdata "$RESTORED_DIR/data" --set "$INCR2"
expect_eq "restore refuses before writing anything" \
    "$RC|$(grep -E -c "backup $FULL, which ($INCR1|$INCR2) needs, is not in the repository" <<<"$OUT")|$(ls -A "$RESTORED_DIR/data" 2>/dev/null | wc -l)" \
    "1|1|0"
rm -rf "$RESTORED_DIR"
run_cmd backup --type incr --json
BROKEN_CHAIN=$(outcome .label | tr -d '"')
expect_eq "an incr whose prior cannot be restored is taken in full, saying why" \
    "$RC|$(outcome '[.type, (.why_full | test("could not be restored: backup '"$FULL"'"))]')" '0|["full",true]'
rm -rf "${REPO:?}/backup/$BROKEN_CHAIN" # out of the way of the retention checks below
mv "$TAP_WORKDIR/moved" "$REPO/backup/$FULL"

# 6. retention
run_cmd backup expire --retain-full 1 --json
expect_eq "retain-full 1 keeps the full and everything built on it" "$RC|$(jq -c '.removed' <<<"$OUT")" "0|[]"
run_cmd backup --json
FULL2=$(outcome .label | tr -d '"')
run_cmd backup expire --retain-full 1 --json
expect_eq "with a newer full kept, the old chain goes whole" "$RC|$(jq -c '.removed' <<<"$OUT")" \
    "0|[\"$FULL\",\"$INCR1\",\"$INCR2\",\"$DIFF\"]"
run_cmd backup --type diff --json
expect_eq "a diff after it builds on the new full" "$RC|$(outcome '[.type, .prior]')" "0|[\"diff\",\"$FULL2\"]"
DIFF2=$(outcome .label | tr -d '"')
printf 'archive_dir = %s\nbackup_retain_full = 1\n' "$REPO" >"$TAP_WORKDIR/retain.conf"
run_cmd "$PRODATA" backup --config "$TAP_WORKDIR/retain.conf" --json
expect_eq "with backup_retain_full set, a backup applies it once complete" \
    "$RC|$(jq -c 'select(.removed) | .removed' <<<"$OUT")|$("$PRODATA" backup list --archive-dir "$REPO" --json | jq '.backups | length')" \
    "0|[\"$FULL2\",\"$DIFF2\"]|1"

# 7. a database dropped and created again at the same OID from a template (FILE_COPY: old pages, old LSNs):
# the incr compares contents, so the new database's files are stored, not taken for the old ones
DB_OID=$(sql postgres "CREATE DATABASE db_old" >/dev/null; sql postgres "SELECT oid FROM pg_database WHERE datname = 'db_old'")
PGDATABASE=db_old sql db_old "CREATE TABLE gone AS SELECT g FROM generate_series(1, 5000) g"
run_cmd backup --type incr --json
sql postgres "DROP DATABASE db_old"
sql postgres "CREATE DATABASE db_new OID $DB_OID TEMPLATE template0 STRATEGY FILE_COPY"
run_cmd backup --type incr --json
REUSED=$(outcome .label | tr -d '"')
sql postgres "SELECT pg_create_restore_point('after_reuse')" >/dev/null
archive_now
run_cmd "$PRODATA" restore --archive-dir "$REPO" --pgdata "$RESTORED_DIR/data" --set "$REUSED" --target-name after_reuse
if [ "$RC" = 0 ] && start_restored; then
    expect_eq "a database recreated at a reused OID is restored as it is, not as the dropped one was" \
        "$(PGPORT=$RESTORED_PORT sql db_new "SELECT count(*) FROM pg_class")|$(PGPORT=$RESTORED_PORT sql db_new "SELECT to_regclass('gone') IS NULL")" \
        "$(sql db_new "SELECT count(*) FROM pg_class")|t"
else
    tap_not_ok "the restore of the incr after the OID reuse started" "$OUT" "$(tail -20 "$TAP_WORKDIR/owned/restored.log")"
fi
stop_restored

# 8. a backup refused midway (a link in the data directory that is no tablespace's) leaves no folder behind
mkdir -p "$TAP_WORKDIR/owned/elsewhere" && [ "$(id -u)" = 0 ] && chown postgres: "$TAP_WORKDIR/owned/elsewhere"
ln -s "$TAP_WORKDIR/owned/elsewhere" "$PG_DATA_DIR/base/linked"
run_cmd backup --json
expect_eq "a backup refused for a link that is no tablespace's leaves no incomplete folder" \
    "$RC|$(grep -c 'is a symbolic link, and not a tablespace' <<<"$OUT")|$("$PRODATA" backup list --archive-dir "$REPO" --json | jq '.incomplete | length')" "1|1|0"
rm -f "$PG_DATA_DIR/base/linked"

# 9. an index that no longer matches its table (an "immutable" function changed under it): amcheck finds it
sql postgres "CREATE FUNCTION shift(bigint) RETURNS bigint IMMUTABLE LANGUAGE sql AS 'SELECT \$1'"
sql postgres "CREATE INDEX t_shift ON t (shift(id))"
sql postgres "CREATE OR REPLACE FUNCTION shift(bigint) RETURNS bigint IMMUTABLE LANGUAGE sql AS 'SELECT \$1 + 1'"
run_cmd backup --type incr --json
BROKEN=$(outcome .label | tr -d '"')
run_cmd backup verify --restore --set "$BROKEN"
expect_eq "verify --restore reports the index amcheck finds inconsistent (exit 3)" \
    "$RC|$(grep -c '^amcheck: postgres: t_shift: .*lacks matching index tuple' <<<"$OUT")" "3|1"
tap_done
