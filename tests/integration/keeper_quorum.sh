#!/bin/bash
# keeper_quorum.sh - synchronous mode with a quorum of two (issue 10, section 4: ANY k with k > 1): three
# keepers on loopback, synchronous_quorum=2. The leader runs with synchronous_standby_names = 'ANY 2 (...)'
# of both standbys; a commit waits while one standby is down (fewer than k left: durability before
# availability, docs/ha.md) and is acknowledged once it is back; then the leader's node is lost and a standby
# takes over (with k = n = 2, reading one standby's position suffices: n - k + 1 = 1) holding every
# acknowledged row. Skipped, counted, without etcd or PostgreSQL 15.
source tests/lib/tap.sh
source tests/lib/etcd.sh
source tests/lib/keeper_local.sh
tap_plan 6
tap_workdir
W=$TAP_WORKDIR
BIN=/usr/lib/postgresql/15/bin
KEEPER_LOCAL_LABEL="a quorum of two"
KEEPER_LOCAL_NAME=kq
KEEPER_LOCAL_NODES="1 2 3"
KEEPER_LOCAL_LOGS=keeper-quorum
export ETCDCTL_API=3 PD_KEEPER_TEST_PASSWORD=kq-s3cret-Pa55 PGCONNECT_TIMEOUT=2
declare -a KPID PORT APORT

trap cleanup EXIT

keeper_local_etcd
keeper_local_configs
(cd "$W/n1" && "$PRODATA" cluster config set postgresql_parameters.fsync=off postgresql_parameters.shared_buffers=16MB \
    postgresql_parameters.max_connections=30 synchronous_mode=on synchronous_quorum=2 >/dev/null) ||
    tap_fail_all "the cluster configuration could not be set"
for i in 1 2 3; do start_keeper "$i"; done
two_streaming() { [ "$(streaming)" = 2 ]; }
wait_for 120 two_streaming || tap_fail_all "no primary with two streaming standbys: $(tail -n 3 "$W"/n*/keeper.log | tr '\n' ' ')"
L=$(leader)
LI=$(index_of "$L")
others() { local i; for i in 1 2 3; do [ "$i" != "$1" ] && printf 'n%s\n' "$i"; done; }
WANT="ANY 2 ($(others "$LI" | paste -sd, | sed 's/,/, /'))"
applied() { [ "$(local_sql "$LI" 'SHOW synchronous_standby_names')" = "$WANT" ]; }
if wait_for 20 applied; then tap_ok "the leader $L runs with synchronous_standby_names = '$WANT'"
else tap_not_ok "synchronous_standby_names = '$WANT'" "$(local_sql "$LI" 'SHOW synchronous_standby_names')" "sync key: $(etcd_value sync)"; fi
local_sql "$LI" "CREATE TABLE t (n int)" >/dev/null
expect_eq "with both standbys a commit is acknowledged" "$(local_sql "$LI" "INSERT INTO t VALUES (1) RETURNING n")" 1

# ---- one standby down: fewer than k left, commits wait -------------------------------------------------------
D=""
for i in 1 2 3; do [ "$i" != "$LI" ] && [ -z "$D" ] && D=$i; done
stop_keeper "$D" # its PostgreSQL stopped too
"$BIN/psql" -X -q -At -h "$W/n$LI/state" -p "${PORT[$LI]}" -U postgres -d postgres \
    -c "INSERT INTO t VALUES (2) RETURNING n" >"$W/waiting.out" 2>&1 &
WAITER=$!
sleep 3
if kill -0 "$WAITER" 2>/dev/null && [ ! -s "$W/waiting.out" ]; then
    tap_ok "n$D down (one standby of two left, k = 2): a commit waits, not acknowledged after 3 s"
else
    tap_not_ok "n$D down: a commit waits" "$(cat "$W/waiting.out")"
fi
start_keeper "$D"
acknowledged() { ! kill -0 "$WAITER" 2>/dev/null; }
if wait_for 90 acknowledged && [ "$(cat "$W/waiting.out")" = 2 ]; then
    tap_ok "n$D back: the waiting commit is acknowledged"
else
    tap_not_ok "n$D back: the waiting commit is acknowledged" "$(cat "$W/waiting.out")" "$(tail -n 3 "$W/n$D/keeper.log")"
fi
for n in 3 4 5; do local_sql "$LI" "INSERT INTO t VALUES ($n)" >/dev/null; done

# ---- the leader's node lost: a standby takes over with every acknowledged row ---------------------------------
wait_for 30 two_streaming
kill_node "$LI"
T0=$(now_ms)
new_leader() { local l; l=$(leader); [ -n "$l" ] && [ "$l" != "$L" ] && [ "$(local_sql "$(index_of "$l")" 'SELECT pg_is_in_recovery()')" = f ]; }
if wait_for 30 new_leader; then tap_ok "$L's node lost: $(leader) took over in $(seconds_since "$T0") s"
else tap_not_ok "$L's node lost: a standby takes over" "$(tail -n 4 "$W"/n*/keeper.log)"; fi
NL=$(index_of "$(leader)")
expect_eq "every acknowledged row is on the new primary" \
    "$(local_sql "$NL" "SELECT string_agg(n::text, ',' ORDER BY n) FROM t")" "1,2,3,4,5"
tap_done
