#!/bin/bash
# keeper_lease.sh - the lease is kept by a thread of its own, so a long PostgreSQL step does not starve it:
# one `prodata keeper` on a real etcd and a real PostgreSQL 15, a few hundred MB of WAL written with no
# checkpoint since, then kill -9 of the postmaster. Its start in place replays that WAL for longer than the
# fence deadline allows after a renewal (ttl_s 2 - fence_margin_ms 1000: 1 s, a tight but legal setting, so the
# case shows on a fast machine too; checked from the keeper's log, so the test shows the case it is about); the keeper restarts
# it in place while the lease thread renews the lease, so the fence guard never kills the starting
# postmaster (before the lease thread it did, again at each restart, and the leader's PostgreSQL never ran),
# the same keeper keeps the leader key under the same lease, and the primary takes writes again. Then the
# leader key is deleted by hand while the lease lives: the keeper, reading its key gone, kills its primary at
# once (another member could take the key now), then takes the key again and restarts it. Skipped, counted,
# without etcd or PostgreSQL 15.
source tests/lib/tap.sh
source tests/lib/etcd.sh
source tests/lib/keeper_local.sh
tap_plan 9
tap_workdir
W=$TAP_WORKDIR
BIN=/usr/lib/postgresql/15/bin
KEEPER_LOCAL_LABEL="keeper lease"
KEEPER_LOCAL_NAME=kl
KEEPER_LOCAL_NODES=1
KEEPER_LOCAL_LOGS=keeper-lease
export ETCDCTL_API=3 PD_KEEPER_TEST_PASSWORD=kl-s3cret-Pa55 PGCONNECT_TIMEOUT=2
declare -a KPID

trap cleanup EXIT

keeper_local_etcd

local_sql() { timeout -s KILL "${2:-5}" "$BIN/psql" -X -q -At -h "$W/n1/state" -p "$PORT" -U postgres -d postgres -c "$1" 2>/dev/null; }

mkdir -p "$W/n1"
[ "$(id -u)" = 0 ] && chown postgres "$W/n1"
PORT=$(etcd_free_port "$W/etcd")
cat >"$W/n1/prodata.conf" <<CONF
member_name = n1
etcd_endpoints = "$ENDPOINTS"
cluster_name = kl
data_dir = $W/n1/data
state_dir = $W/n1/state
pg_port = $PORT
api_port = $(etcd_free_port "$W/etcd")
replication_password_env = PD_KEEPER_TEST_PASSWORD
fence_margin_ms = 1000
CONF
# No checkpoint during the load: the crash recovery replays all of it.
(cd "$W/n1" && "$PRODATA" cluster config set postgresql_parameters.fsync=off postgresql_parameters.shared_buffers=16MB \
    postgresql_parameters.max_wal_size=8GB postgresql_parameters.checkpoint_timeout=1h \
    postgresql_parameters.full_page_writes=on postgresql_parameters.max_connections=20 ttl_s=2 >/dev/null) ||
    tap_fail_all "the cluster configuration could not be set"
start_keeper 1
is_primary() { [ "$(local_sql 'SELECT pg_is_in_recovery()')" = f ] && [ -n "$(etcd_get leader --print-value-only)" ]; }
wait_for 60 is_primary || tap_fail_all "the keeper did not bootstrap a primary: $(tail -n 3 "$W/n1/keeper.log")"
LEASE_BEFORE=$(etcd_get leader -w fields | awk -F' : ' '/"Lease"/ { print $2 }')

# ---- a long crash recovery -------------------------------------------------------------------------------
local_sql "CHECKPOINT; CREATE TABLE big (n int, pad text); CREATE TABLE t (n int)" >/dev/null
T0=$(now_ms)
local_sql "INSERT INTO big SELECT g, repeat('x', 400) FROM generate_series(1, 1200000) g" 300 >/dev/null
WAL_MB=$(local_sql "SELECT pg_wal_lsn_diff(pg_current_wal_lsn(), redo_lsn) / 1048576 FROM pg_control_checkpoint()" | cut -d. -f1)
echo "# ${WAL_MB} MB of WAL since the last checkpoint, written in $(seconds_since "$T0") s"
FENCES_BEFORE=$(grep -c "fence: killed" "$W/n1/keeper.log")
OLD_PM=$(head -1 "$W/n1/data/postmaster.pid")
T0=$(now_ms)
kill -9 "$OLD_PM"
writable() {
    local pm
    pm=$(head -1 "$W/n1/data/postmaster.pid" 2>/dev/null)
    [ -n "$pm" ] && [ "$pm" != "$OLD_PM" ] && local_sql "INSERT INTO t VALUES (1)" >/dev/null && [ "$(local_sql 'SELECT count(*) FROM t')" = 1 ]
}
if wait_for 120 writable; then
    tap_ok "postmaster killed with ${WAL_MB} MB of WAL to replay: restarted in place, writable after $(seconds_since "$T0") s"
else
    tap_not_ok "postmaster killed with WAL to replay: restarted in place and writable" "$(tail -n 8 "$W/n1/keeper.log")"
fi
started_logged() { grep -q "PostgreSQL started in place in" "$W/n1/keeper.log"; }
wait_for 10 started_logged # written once the start returns, which may be after the first write succeeded
START_MS=$(sed -n 's/.*PostgreSQL started in place in \([0-9]*\) ms.*/\1/p' "$W/n1/keeper.log" | tail -1)
REDO=$(grep -o "redo done at .*elapsed: [0-9.]* s" "$W/n1/state/postgres.log" | tail -1 | sed 's/.*elapsed: \([0-9.]*\) s/\1/')
echo "# the start in place took ${START_MS:-?} ms (redo ${REDO:-?} s); the fence comes 1000 ms after a renewal (TTL 2 s - margin 1 s)"
check "the start in place outlasted the fence deadline after a renewal (1 s): the case the lease thread is for" \
    test "${START_MS:-0}" -gt 1000
expect_eq "the fence guard killed nothing" "$(grep -c "fence: killed" "$W/n1/keeper.log")" "$FENCES_BEFORE"
expect_eq "the same keeper holds the leader key under the same lease" \
    "$(etcd_get leader --print-value-only) $(etcd_get leader -w fields | awk -F' : ' '/"Lease"/ { print $2 }')" "n1 $LEASE_BEFORE"
check "the keeper restarted it in place once" test "$(grep -c "starting it in place" "$W/n1/keeper.log")" = 1
expect_eq "the rows written before the crash are there" "$(local_sql 'SELECT count(*) FROM big' 60)" 1200000

# ---- the leader key deleted under a live lease: the primary is killed before anything else -----------------
OLD_PM=$(head -1 "$W/n1/data/postmaster.pid")
etcdctl --endpoints "$ENDPOINTS" del "/prodata/kl/leader" >/dev/null
T0=$(now_ms)
pm_dead() { local state; state=$(cut -d' ' -f3 "/proc/$OLD_PM/stat" 2>/dev/null); [ -z "$state" ] || [ "$state" = Z ]; }
if wait_for 10 pm_dead && grep -q "the leader key is gone while PostgreSQL (postmaster $OLD_PM) may take writes: killing it now" \
    "$W/n1/keeper.log"; then
    tap_ok "leader key deleted by hand: the keeper killed its primary ($(seconds_since "$T0") s)"
else
    tap_not_ok "leader key deleted by hand: the keeper kills its primary" "$(tail -n 6 "$W/n1/keeper.log")"
fi
writable_again() { [ "$(leader)" = n1 ] && local_sql "INSERT INTO t VALUES (2)" >/dev/null; }
check "then it takes the key again and its primary takes writes" wait_for 60 writable_again
expect_eq "no acknowledged row lost" "$(local_sql "SELECT string_agg(n::text, ',' ORDER BY n) FROM t")" "1,2"
tap_done
