#!/bin/bash
# keeper_archive.sh - log shipping inside the cluster (issue 10, sections 3 and 7): three keepers in network
# namespaces of their own (tests/lib/keepers.sh) archiving into one directory (archive_dir, as a shared mount
# would be). A standby is cut off from the primary by nftables (it still reaches etcd and the other
# standby), the primary writes several segments and switches WAL; the standby, which cannot stream, catches
# up from the archive through `prodata wal-fetch` (restore_command, written by its keeper): its replay
# position passes the switch point while no WAL receiver streams, its PostgreSQL says it restored segments
# from the archive (its keeper stops the WAL receiver that hangs connecting to the black hole), and it holds
# the rows. Healed, it streams again; `prodata archive check` finds no gap.
# Needs root (skipped and counted as a user), etcd and PostgreSQL 15.
source tests/lib/tap.sh
source tests/lib/etcd.sh
source tests/lib/netns.sh
source tests/lib/writers.sh
source tests/lib/keepers.sh
kc_test_begin 8 "log shipping in the cluster"

KC_ARCHIVE=$TAP_WORKDIR/archive
KC_CONFIG="postgresql_parameters.fsync=off postgresql_parameters.shared_buffers=16MB postgresql_parameters.max_connections=30 postgresql_parameters.wal_receiver_timeout=5s"
kc_up "$TAP_WORKDIR/kc" || tap_fail_all "the namespaces or etcd could not be set up"
kc_wait_healthy 120 || tap_fail_all "no primary with two streaming standbys within 120 s: $(tail -n 3 "$KC_DIR"/n*/keeper.log | tr '\n' ' ')"
L=$(kc_leader)
S=""
for node in n1 n2 n3; do [ "$node" != "$L" ] && [ -z "$S" ] && S=$node; done
archived_past() { # SEGMENT: the leader's archiver has archived SEGMENT or a later one
    local last
    last=$(kc_sql "$L" "SELECT coalesce(last_archived_wal, '') FROM pg_stat_archiver")
    [ -n "$last" ] && [[ ! "$last" < "$1" ]]
}
kc_sql "$L" "CREATE TABLE first_segment (n int)" >/dev/null # a segment with a record: the switch switches
FIRST=$(kc_sql "$L" "SELECT pg_walfile_name(pg_current_wal_lsn())")
kc_sql "$L" "SELECT pg_switch_wal()" >/dev/null
if poll_ok 30 archived_past "$FIRST"; then tap_ok "the primary $L archives into archive_dir ($FIRST)"
else tap_not_ok "the primary $L archives into archive_dir" "pg_stat_archiver: $(kc_sql "$L" 'SELECT * FROM pg_stat_archiver')"; fi

# ---- the standby cut off from the primary: it catches up from the archive ------------------------------------
s_streaming() { [ "$(kc_sql "$S" "SELECT count(*) FROM pg_stat_wal_receiver WHERE status = 'streaming'")" = 1 ]; }
poll_ok 60 s_streaming || tap_fail_all "$S does not stream from $L: $(tail -n 3 "$KC_DIR/$S/keeper.log" | tr '\n' ' ')"
kc_cut "$S" "$L"
not_streaming() { [ "$(kc_sql "$S" "SELECT count(*) FROM pg_stat_wal_receiver WHERE status = 'streaming'")" = 0 ]; }
poll_ok 30 not_streaming
kc_sql "$L" "CREATE TABLE shipped (n int, pad text); INSERT INTO shipped SELECT g, repeat('x', 500) FROM generate_series(1, 60000) g" >/dev/null
TARGET=$(kc_sql "$L" "SELECT pg_current_wal_lsn()")
LAST=$(kc_sql "$L" "SELECT pg_walfile_name(pg_current_wal_lsn())")
kc_sql "$L" "SELECT pg_switch_wal()" >/dev/null
poll_ok 60 archived_past "$LAST"
echo "# $L wrote up to $TARGET (segment $LAST), archived: $(kc_sql "$L" 'SELECT last_archived_wal FROM pg_stat_archiver')"
replayed_past() {
    [ "$(kc_sql "$S" "SELECT pg_last_wal_replay_lsn() >= '$TARGET'::pg_lsn")" = t ]
}
T0=$SECONDS
if poll_ok 90 replayed_past && not_streaming; then
    tap_ok "$S, cut off from $L, replayed past $TARGET without streaming ($((SECONDS - T0)) s after the switch)"
else
    tap_not_ok "$S, cut off from $L, replays past $TARGET without streaming" \
        "replayed $(kc_sql "$S" 'SELECT pg_last_wal_replay_lsn()'), receiver: $(kc_sql "$S" 'SELECT status FROM pg_stat_wal_receiver')" \
        "$(tail -n 5 "$KC_DIR/$S/keeper.log")" "$(tail -n 5 "$KC_DIR/$S/state/postgres.log")"
fi
check "its PostgreSQL restored the segments from the archive (restore_command: prodata wal-fetch)" \
    grep -q "restored log file \"$LAST\" from archive" "$KC_DIR/$S/state/postgres.log"
# PostgreSQL's WAL receiver ignores connect_timeout: toward a black hole it would hold the standby for the
# kernel's SYN retries (about two minutes) before the archive is read; the keeper stops it after 5 s
check "its keeper stopped the WAL receiver stuck connecting to $L (it ignores connect_timeout)" \
    grep -q "has been connecting to $L for" "$KC_DIR/$S/keeper.log"
expect_eq "it holds the rows written while it was cut off" "$(kc_sql "$S" 'SELECT count(*) FROM shipped')" 60000
expect_eq "the leader did not change" "$(kc_leader)" "$L"

# ---- healed: streaming again; the archive has no gap ---------------------------------------------------------
netns_heal "$S"
netns_heal "$L"
if kc_wait_healthy 60; then tap_ok "healed: $S streams from $L again"
else tap_not_ok "healed: $S streams again" "$(tail -n 5 "$KC_DIR/$S/keeper.log")"; fi
run_cmd "$PRODATA" archive check --archive-dir "$KC_ARCHIVE"
expect_rc "prodata archive check: no gap in the archive" 0
tap_done
