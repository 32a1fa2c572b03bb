#!/bin/bash
# keeper.sh - three `prodata keeper`s on loopback, on a real etcd of their own (tests/lib/etcd.sh) and real
# PostgreSQL 15 nodes: the bootstrap (one primary, two streaming standbys, a slot for each), a write through
# the libpq multi-host conninfo (target_session_attrs=read-write), then the faults, each measured and
# printed: kill -9 of the postmaster alone (restarted in place, same primary); kill -9 of the primary's
# keeper, its fence guard and its postmaster (node loss: a standby takes over, the other follows, writes
# work again, the history has the entry; the old node rejoins by rewind when its keeper comes back);
# SIGSTOP of the primary's keeper (its PostgreSQL is killed by the fence guard BEFORE the leader key
# leaves etcd, no write to its port is acknowledged after that, a standby takes over, and after SIGCONT the
# old primary rejoins as a standby by rewind); SIGTERM of the primary's keeper (a quick handover). Timing
# is asserted only as the fence-before-expiry order and generous upper bounds. Skipped, counted, without
# etcd or PostgreSQL 15.
source tests/lib/tap.sh
source tests/lib/etcd.sh
source tests/lib/keeper_local.sh
tap_plan 29
tap_workdir
W=$TAP_WORKDIR
BIN=/usr/lib/postgresql/15/bin
KEEPER_LOCAL_NAME=kt
KEEPER_LOCAL_NODES="1 2 3"
export ETCDCTL_API=3 PD_KEEPER_TEST_PASSWORD=kt-s3cret-Pa55 PGCONNECT_TIMEOUT=2
declare -a KPID PORT APORT

cleanup() {
    local i
    for i in 1 2 3; do
        [ -n "${KPID[$i]:-}" ] && kill -CONT "${KPID[$i]}" 2>/dev/null && kill -9 "${KPID[$i]}" 2>/dev/null
        guard_kill "$i"
        [ -f "$W/n$i/data/postmaster.pid" ] && kill -9 "$(head -1 "$W/n$i/data/postmaster.pid")" 2>/dev/null
    done
    [ -n "${WRITER:-}" ] && kill "$WRITER" 2>/dev/null
    for i in 1 2 3; do cp "$W/n$i/keeper.log" "${PRODATA_BUILD:-build}/test-logs/keeper-n$i.log" 2>/dev/null; done
    etcd_cluster_stop "$W/etcd"
    rm -rf "$W"
}
trap cleanup EXIT

skip_all() {
    while [ "$TAP_COUNT" -lt "$TAP_PLAN" ]; do tap_skip "keeper cluster" "$1"; done
    tap_done
    exit
}

keeper_local_etcd

etcd_value() { etcdctl --endpoints "$ENDPOINTS" get "/prodata/kt/$1" --print-value-only 2>/dev/null; }
leader() { etcd_value leader; }
index_of() { echo "${1#n}"; }
# local_sql I SQL: one value from node I as its superuser over its socket.
local_sql() { timeout -s KILL 5 "$BIN/psql" -X -q -At -h "$W/n$1/state" -p "${PORT[$1]}" -U postgres -d postgres -c "$2" 2>/dev/null; }
multi_host() {
    echo "host=127.0.0.1,127.0.0.1,127.0.0.1 port=${PORT[1]},${PORT[2]},${PORT[3]} user=replicator dbname=postgres target_session_attrs=read-write connect_timeout=2"
}
# write N: one row through the multi-host conninfo; exit status says whether it was acknowledged.
# Bounded by killing psql (a cancel would not do: a commit whose wait for the synchronous standbys is cancelled
# is reported as done, with a warning).
write_row() {
    PGPASSWORD=$PD_KEEPER_TEST_PASSWORD timeout -s KILL 5 "$BIN/psql" -X -q -At "$(multi_host)" -c "INSERT INTO t VALUES ($1)" >/dev/null 2>&1
}
# wait_for SECONDS COMMAND...: polls COMMAND every 100 ms until it succeeds (0) or SECONDS pass (1).

keeper_local_configs
(cd "$W/n1" && "$PRODATA" cluster config set postgresql_parameters.fsync=off postgresql_parameters.shared_buffers=16MB \
    postgresql_parameters.max_connections=30 >/dev/null) || tap_fail_all "the cluster configuration could not be set"

# ---- bootstrap ---------------------------------------------------------------------------------------------
T0=$(now_ms)
for i in 1 2 3; do start_keeper "$i"; done
streaming_count() { local l; l=$(leader); [ -n "$l" ] && local_sql "$(index_of "$l")" "SELECT count(*) FROM pg_stat_replication WHERE state = 'streaming' AND application_name <> 'pg_basebackup'"; }
two_streaming() { [ "$(streaming_count)" = 2 ]; }
if wait_for 90 two_streaming; then
    tap_ok "bootstrap: one primary and two streaming standbys in $(seconds_since "$T0") s"
else
    tap_not_ok "bootstrap: one primary and two streaming standbys" "$(tail -n 5 "$W"/n*/keeper.log)"
fi
echo "# bootstrap: $(seconds_since "$T0") s"
L=$(leader)
LI=$(index_of "$L")
expect_eq "the leader runs as the primary" "$(local_sql "$LI" 'SELECT pg_is_in_recovery()')" f
slots() { local_sql "$LI" "SELECT string_agg(slot_name || ':' || active::int, ',' ORDER BY slot_name) FROM pg_replication_slots"; }
SLOTS_WANT=$(for i in 1 2 3; do [ "$i" != "$LI" ] && printf 'prodata_n%s:1\n' "$i"; done | paste -sd,)
slots_active() { [ "$(slots)" = "$SLOTS_WANT" ]; }
wait_for 10 slots_active
expect_eq "the primary holds an active slot for each standby (from the roster)" "$(slots)" "$SLOTS_WANT"
expect_eq "the roster names the three members" "$(etcd_value roster)" '{"members":["n1","n2","n3"]}'
SI=$(( LI % 3 + 1 ))
http_code() { curl -s -o /dev/null -m 2 -w '%{http_code}' "http://127.0.0.1:${APORT[$1]}$2"; }
api_codes() { echo "$(http_code "$LI" /primary) $(http_code "$SI" /primary) $(http_code "$LI" /replica) $(http_code "$SI" /replica)"; }
# A standby's WAL receiver restarts once when it joins under its own name (docs/ha.md, "Joining standbys").
api_settled() { [ "$(api_codes)" = "200 503 503 200" ]; }
wait_for 10 api_settled
expect_eq "the keepers' API: /primary 200 on the leader, 503 on a standby; /replica 503 and 200" "$(api_codes)" \
    "200 503 503 200"
local_sql "$LI" "CREATE TABLE t (n int); GRANT SELECT, INSERT ON t TO replicator" >/dev/null
check "a write through the multi-host conninfo (target_session_attrs=read-write)" write_row 1

# ---- kill -9 of the postmaster alone: restarted in place ------------------------------------------------
OLD_PM=$(head -1 "$W/n$LI/data/postmaster.pid")
T0=$(now_ms)
kill -9 "$OLD_PM"
restarted() { local pm; pm=$(head -1 "$W/n$LI/data/postmaster.pid" 2>/dev/null); [ -n "$pm" ] && [ "$pm" != "$OLD_PM" ] && [ "$(local_sql "$LI" 'SELECT pg_is_in_recovery()')" = f ]; }
if wait_for 20 restarted && [ "$(leader)" = "$L" ]; then
    tap_ok "postmaster killed: restarted in place, $L still the primary"
else
    tap_not_ok "postmaster killed: restarted in place" "leader: $(leader)" "$(tail -n 5 "$W/n$LI/keeper.log")"
fi
echo "# postmaster crash: writable again after $(seconds_since "$T0") s"
wait_for 20 write_row 2
check "writes work after the restart in place" write_row 3
wait_for 30 two_streaming
echo "# postmaster crash: both standbys streaming again after $(seconds_since "$T0") s"

# ---- paused: no restart in place until resumed -----------------------------------------------------------
(cd "$W/n1" && "$PRODATA" cluster pause >/dev/null)
sleep 1.5
OLD_PM=$(head -1 "$W/n$LI/data/postmaster.pid")
kill -9 "$OLD_PM"
sleep 3
member_waits() { etcd_value "members/$L" | grep -q '"waiting_for":"the cluster to be resumed'; }
if ! restarted && wait_for 5 member_waits; then tap_ok "paused: the killed postmaster is not restarted, the member says why"
else tap_not_ok "paused: no automatic restart" "$(etcd_value "members/$L")"; fi
T0=$(now_ms)
(cd "$W/n1" && "$PRODATA" cluster resume >/dev/null)
if wait_for 20 restarted && [ "$(leader)" = "$L" ]; then tap_ok "resumed: restarted in place in $(seconds_since "$T0") s"
else tap_not_ok "resumed: restarted in place" "$(tail -n 5 "$W/n$LI/keeper.log")"; fi
wait_for 30 two_streaming

# ---- synchronous mode: ANY 1 of the two standbys, recorded in etcd --------------------------------------------
(cd "$W/n1" && "$PRODATA" cluster config set synchronous_mode=on synchronous_quorum=1 >/dev/null)
others() { local i; for i in 1 2 3; do [ "$i" != "$1" ] && printf 'n%s\n' "$i"; done; }
SYNC_WANT="{\"leader\":\"$L\",\"quorum\":1,\"members\":[$(others "$LI" | sed 's/.*/"&"/' | paste -sd,)]}"
sync_applied() {
    [ "$(etcd_value sync)" = "$SYNC_WANT" ] &&
        [ "$(local_sql "$LI" 'SHOW synchronous_standby_names')" = "ANY 1 ($(others "$LI" | paste -sd, | sed 's/,/, /'))" ]
}
if wait_for 15 sync_applied; then tap_ok "synchronous mode: the sync key, then synchronous_standby_names = ANY 1 (...)"
else tap_not_ok "synchronous mode applied" "sync key: $(etcd_value sync)" "$(local_sql "$LI" 'SHOW synchronous_standby_names')"; fi
write_row 9 >/dev/null 2>&1
expect_eq "synchronous mode: both standbys confirm commits as a quorum" \
    "$(local_sql "$LI" "SELECT string_agg(sync_state, ',') FROM pg_stat_replication")" "quorum,quorum"

# caught_up: both standbys have flushed everything the leader wrote (what a kill -9 must not lose: the
# synchronous quorum guarantees one of them has it, this lets the test say both).
caught_up() {
    [ "$(local_sql "$(index_of "$(leader)")" "SELECT count(*) FROM pg_stat_replication WHERE flush_lsn >= pg_current_wal_lsn()")" = 2 ]
}

# ---- kill -9 of keeper, guard and postmaster: node loss ----------------------------------------------------
new_leader() { local l; l=$(leader); [ -n "$l" ] && [ "$l" != "$L" ] && [ "$(local_sql "$(index_of "$l")" 'SELECT pg_is_in_recovery()')" = f ]; }
failover_from() { # I: waits for another member to lead as a primary; sets NL, NLI
    if wait_for "$1" new_leader; then NL=$(leader); NLI=$(index_of "$NL"); return 0; fi
    return 1
}
wait_for 10 caught_up
T0=$(now_ms)
guard_kill "$LI"
kill -9 "${KPID[$LI]}" "$(head -1 "$W/n$LI/data/postmaster.pid")"
if failover_from 20; then
    tap_ok "node loss: $NL took over from $L in $(seconds_since "$T0") s (ttl 3 s + loop 1 s + promotion)"
else
    tap_not_ok "node loss: a standby took over" "leader: $(leader)" "$(tail -n 5 "$W"/n*/keeper.log)"
    NL=$L NLI=$LI
fi
echo "# node loss: new primary after $(seconds_since "$T0") s"
wait_for 20 write_row 4
echo "# node loss: first acknowledged write after $(seconds_since "$T0") s"
check "node loss: writes through the multi-host conninfo work again" write_row 5
OTHER=$((6 - LI - NLI))
one_streaming() { [ "$(local_sql "$NLI" "SELECT string_agg(application_name, ',') FROM pg_stat_replication WHERE state = 'streaming' AND application_name <> 'pg_basebackup'")" = "n$OTHER" ]; }
if wait_for 30 one_streaming; then tap_ok "node loss: n$OTHER follows the new primary $NL"; else
    tap_not_ok "node loss: n$OTHER follows the new primary $NL" "$(tail -n 5 "$W/n$OTHER/keeper.log")"; fi
sync_moved() { etcd_value sync | grep -q "^{\"leader\":\"$NL\",\"quorum\":1,"; }
if wait_for 10 sync_moved; then tap_ok "node loss: the new primary records its own synchronous set ($(etcd_value sync))"
else tap_not_ok "node loss: the sync key names the new primary" "$(etcd_value sync)"; fi
HISTORY=$(etcd_value history)
expect_out_history() { grep -qE "\"from\":\"$L\",\"to\":\"$NL\",\"reason\":\"failover\",\"timeline\":[2-9]" <<<"$HISTORY"; }
check "node loss: the history holds $L -> $NL" expect_out_history
T0=$(now_ms)
start_keeper "$LI"
both_streaming() { [ "$(local_sql "$NLI" "SELECT count(*) FROM pg_stat_replication WHERE state = 'streaming' AND application_name <> 'pg_basebackup'")" = 2 ]; }
if wait_for 60 both_streaming && grep -q "rewound" "$W/n$LI/keeper.log"; then
    tap_ok "node loss: $L's keeper back, it rejoins as a standby by pg_rewind in $(seconds_since "$T0") s"
else
    tap_not_ok "node loss: $L rejoins as a standby by pg_rewind" "$(tail -n 8 "$W/n$LI/keeper.log")"
fi

# ---- SIGSTOP of the primary's keeper: fenced before its lease can end --------------------------------------
L=$NL LI=$NLI
wait_for 10 caught_up
OLD_PM=$(head -1 "$W/n$LI/data/postmaster.pid")
: >"$W/acks"
( n=1000; while :; do
      n=$((n + 1))
      if PGPASSWORD=$PD_KEEPER_TEST_PASSWORD timeout -s KILL 2 "$BIN/psql" -X -q -At -h 127.0.0.1 -p "${PORT[$LI]}" -U replicator -d postgres \
          -c "INSERT INTO t VALUES ($n)" >/dev/null 2>&1; then echo "$n $(date +%s%3N)" >>"$W/acks"; fi
      sleep 0.05
  done ) &
WRITER=$!
has_ack() { [ -s "$W/acks" ]; }
wait_for 10 has_ack
T0=$(now_ms)
kill -STOP "${KPID[$LI]}"
# Two watchers, each on its own clock reading: the postmaster's death (its /proc state, every 10 ms) and the
# leader key leaving etcd (etcdctl, every 20 ms or its own run time).
( while :; do
      state=$(cut -d' ' -f3 "/proc/$OLD_PM/stat" 2>/dev/null)
      if [ -z "$state" ] || [ "$state" = Z ]; then date +%s%3N >"$W/pg_dead"; exit; fi
      sleep 0.01
  done ) &
WATCH_PG=$!
( while [ "$(leader)" = "$L" ]; do sleep 0.02; done; date +%s%3N >"$W/key_gone" ) &
WATCH_KEY=$!
wait_files() { [ -s "$W/pg_dead" ] && [ -s "$W/key_gone" ]; }
wait_for 15 wait_files
kill "$WATCH_PG" "$WATCH_KEY" 2>/dev/null
PG_DEAD=$(cat "$W/pg_dead" 2>/dev/null || echo 0)
KEY_GONE=$(cat "$W/key_gone" 2>/dev/null || echo 0)
kill "$WRITER" 2>/dev/null
wait "$WRITER" 2>/dev/null
WRITER=""
LAST_ACK=$(tail -n 1 "$W/acks" | cut -d' ' -f2)
echo "# SIGSTOP: PostgreSQL killed after $(awk -v a="$T0" -v b="$PG_DEAD" 'BEGIN{printf "%.2f", (b-a)/1000}') s," \
    "leader key gone after $(awk -v a="$T0" -v b="$KEY_GONE" 'BEGIN{printf "%.2f", (b-a)/1000}') s," \
    "last write acknowledged by the old primary at $(awk -v a="$T0" -v b="${LAST_ACK:-0}" 'BEGIN{printf "%.2f", (b-a)/1000}') s" \
    "($(wc -l <"$W/acks") acknowledged)"
if [ "$PG_DEAD" != 0 ] && [ "$KEY_GONE" != 0 ] && [ "$PG_DEAD" -lt "$KEY_GONE" ]; then
    tap_ok "SIGSTOP: the fence guard killed PostgreSQL before the leader key left etcd"
else
    tap_not_ok "SIGSTOP: PostgreSQL dead before the leader key left etcd" "pg dead at $PG_DEAD, key gone at $KEY_GONE"
fi
if [ -n "$LAST_ACK" ] && [ "$PG_DEAD" != 0 ] && [ "$LAST_ACK" -le "$PG_DEAD" ] && [ "$LAST_ACK" -lt "$KEY_GONE" ]; then
    tap_ok "SIGSTOP: no write to the old primary's port acknowledged after it was fenced"
else
    tap_not_ok "SIGSTOP: no write acknowledged after the fence" "last ack $LAST_ACK, pg dead $PG_DEAD, key gone $KEY_GONE"
fi
run_cmd env PGPASSWORD=$PD_KEEPER_TEST_PASSWORD "$BIN/psql" -X -q -At -h 127.0.0.1 -p "${PORT[$LI]}" -U replicator -d postgres \
    -c "INSERT INTO t VALUES (-1)"
expect_rc "SIGSTOP: a write straight to the fenced primary's port is refused" 2
T0=$(now_ms)
if failover_from 20; then tap_ok "SIGSTOP: $NL took over after the fence"; else
    tap_not_ok "SIGSTOP: a standby took over" "leader: $(leader)"; NL=$L NLI=$LI; fi
wait_for 20 write_row 6
check "SIGSTOP: writes through the multi-host conninfo work on $NL" write_row 7
T0=$(now_ms)
kill -CONT "${KPID[$LI]}"
if wait_for 60 both_streaming && [ "$(grep -c rewound "$W/n$LI/keeper.log")" -ge 1 ] &&
    [ "$(local_sql "$LI" 'SELECT pg_is_in_recovery()')" = t ]; then
    tap_ok "SIGCONT: the old primary $L rejoins $NL as a standby (rewind) in $(seconds_since "$T0") s"
else
    tap_not_ok "SIGCONT: the old primary rejoins as a standby" "$(tail -n 8 "$W/n$LI/keeper.log")"
fi
check "SIGCONT: the keeper says its PostgreSQL was fenced" grep -q "fence guard killed PostgreSQL" "$W/n$LI/keeper.log"

# ---- SIGTERM of the primary's keeper: a quick handover ----------------------------------------------------
L=$NL LI=$NLI
wait_for 10 caught_up
T0=$(now_ms)
kill -TERM "${KPID[$LI]}"
if failover_from 15; then tap_ok "SIGTERM: $NL took over from $L in $(seconds_since "$T0") s"; else
    tap_not_ok "SIGTERM: a standby took over" "leader: $(leader)" "$(tail -n 5 "$W/n$LI/keeper.log")"; fi
echo "# SIGTERM handover: new primary after $(seconds_since "$T0") s"
wait_for 20 write_row 8
echo "# SIGTERM handover: first acknowledged write after $(seconds_since "$T0") s"
wait "${KPID[$LI]}"
expect_eq "SIGTERM: the keeper exits 0 with its PostgreSQL stopped" "$?:$([ -f "$W/n$LI/data/postmaster.pid" ] && echo running || echo stopped)" "0:stopped"
KPID[$LI]=""
expect_eq "every acknowledged write through the multi-host conninfo is on the last primary" \
    "$(local_sql "$NLI" "SELECT string_agg(DISTINCT n::text, ',' ORDER BY n::text) FROM t WHERE n BETWEEN 1 AND 9")" "1,2,3,4,5,6,7,8,9"

# ---- a double fault: the keeper and its guard both frozen past the lease; the keeper, back, kills at once -----
L=$NL LI=$NLI
GUARD=$(pgrep -P "${KPID[$LI]}" -f "prodata keeper" | head -1)
OLD_PM=$(head -1 "$W/n$LI/data/postmaster.pid")
kill -STOP "$GUARD" "${KPID[$LI]}"
key_gone() { [ "$(leader)" != "$L" ]; }
wait_for 15 key_gone
T0=$(now_ms)
kill -CONT "${KPID[$LI]}"
pm_dead() { local state; state=$(cut -d' ' -f3 "/proc/$OLD_PM/stat" 2>/dev/null); [ -z "$state" ] || [ "$state" = Z ]; }
if wait_for 10 pm_dead && grep -q "may take writes: killing it now" "$W/n$LI/keeper.log"; then
    tap_ok "guard frozen too: the keeper back after its lease ended kills its primary first ($(seconds_since "$T0") s)"
else
    tap_not_ok "guard frozen too: the keeper kills its primary once it learns its lease is gone" "$(tail -n 6 "$W/n$LI/keeper.log")"
fi
kill -CONT "$GUARD"
tap_done
