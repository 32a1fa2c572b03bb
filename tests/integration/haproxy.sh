#!/bin/bash
# haproxy.sh - Debian's haproxy 2.6 in front of three `prodata keeper`s, configured as Patroni documents it
# (option httpchk OPTIONS /primary, http-check expect status 200, default-server inter 1s fall 2 rise 1
# on-marked-down shutdown-sessions), on a real etcd and real PostgreSQL 15 nodes on loopback: the keepers'
# APIs agree with etcd (one 200 on /primary, the leader's; 200 on /replica from the streaming standbys),
# writes through haproxy land on the leader; after the leader's node is lost (keeper, fence guard and
# postmaster killed) writes through the same haproxy address land on the new leader; after a handover
# (SIGTERM of the leader's keeper) they follow again. Also /cluster and `prodata cluster status` on what
# live keepers publish (the lost node shown down). Skipped, counted, without haproxy, etcd or
# PostgreSQL 15.
source tests/lib/tap.sh
source tests/lib/etcd.sh
source tests/lib/keeper_local.sh
tap_plan 16
tap_workdir
W=$TAP_WORKDIR
BIN=/usr/lib/postgresql/15/bin
export ETCDCTL_API=3 PD_KEEPER_TEST_PASSWORD=hp-s3cret-Pa55 PGCONNECT_TIMEOUT=2
declare -a KPID PORT API

cleanup() {
    local i
    [ -n "${HAPROXY:-}" ] && kill "$HAPROXY" 2>/dev/null
    for i in 1 2 3; do
        [ -n "${KPID[$i]:-}" ] && kill -CONT "${KPID[$i]}" 2>/dev/null && kill -9 "${KPID[$i]}" 2>/dev/null
        guard_kill "$i"
        [ -f "$W/n$i/data/postmaster.pid" ] && kill -9 "$(head -1 "$W/n$i/data/postmaster.pid")" 2>/dev/null
    done
    etcd_cluster_stop "$W/etcd"
    rm -rf "$W"
}
trap cleanup EXIT

skip_all() {
    while [ "$TAP_COUNT" -lt "$TAP_PLAN" ]; do tap_skip "haproxy in front of keepers" "$1"; done
    tap_done
    exit
}

command -v haproxy >/dev/null || skip_all "no haproxy (Debian's haproxy, scripts/deps.sh)"
keeper_local_etcd

leader() { etcdctl --endpoints "$ENDPOINTS" get /prodata/hp/leader --print-value-only 2>/dev/null; }
index_of() { echo "${1#n}"; }
local_sql() { psql -X -q -At -h "$W/n$1/state" -p "${PORT[$1]}" -U postgres -d postgres -c "$2" 2>/dev/null; }
# through_haproxy SQL: one value through haproxy's frontend, as the application sees it.
through_haproxy() {
    PGPASSWORD=$PD_KEEPER_TEST_PASSWORD psql -X -q -At -h 127.0.0.1 -p "$HAPROXY_PORT" -U replicator -d postgres \
        -c "$1" 2>/dev/null
}
# api_status I PATH [METHOD]: the HTTP status of node I's keeper API (000 when it does not answer).
api_status() { curl -s -o /dev/null -m 2 -X "${3:-OPTIONS}" -w '%{http_code}' "http://127.0.0.1:${API[$1]}$2"; }
start_keeper() {
    (cd "$W/n$1" && exec "$PRODATA" keeper --config prodata.conf >>keeper.log 2>&1) &
    KPID[$1]=$!
}

for i in 1 2 3; do
    mkdir -p "$W/n$i"
    [ "$(id -u)" = 0 ] && chown postgres "$W/n$i"
    PORT[$i]=$(etcd_free_port "$W/etcd")
    API[$i]=$(etcd_free_port "$W/etcd")
    cat >"$W/n$i/prodata.conf" <<CONF
member_name = n$i
etcd_endpoints = "$ENDPOINTS"
cluster_name = hp
data_dir = $W/n$i/data
state_dir = $W/n$i/state
pg_port = ${PORT[$i]}
api_port = ${API[$i]}
replication_password_env = PD_KEEPER_TEST_PASSWORD
CONF
done
(cd "$W/n1" && "$PRODATA" cluster config set postgresql_parameters.fsync=off postgresql_parameters.shared_buffers=16MB \
    postgresql_parameters.max_connections=30 >/dev/null) || tap_fail_all "the cluster configuration could not be set"

# Patroni's documented HAProxy configuration, the servers being our nodes: PostgreSQL's port, checked on the
# keeper's API port.
HAPROXY_PORT=$(etcd_free_port "$W/etcd")
{
    printf 'global\n    maxconn 100\n\ndefaults\n    mode tcp\n    retries 2\n'
    printf '    timeout client 30m\n    timeout connect 4s\n    timeout server 30m\n    timeout check 5s\n\n'
    printf 'listen primary\n    bind 127.0.0.1:%s\n' "$HAPROXY_PORT"
    printf '    option httpchk OPTIONS /primary\n    http-check expect status 200\n'
    printf '    default-server inter 1s fall 2 rise 1 on-marked-down shutdown-sessions\n'
    for i in 1 2 3; do printf '    server n%s 127.0.0.1:%s maxconn 100 check port %s\n' "$i" "${PORT[$i]}" "${API[$i]}"; done
} >"$W/haproxy.cfg"
haproxy -c -f "$W/haproxy.cfg" >"$W/haproxy-check.log" 2>&1 || tap_fail_all "haproxy refuses the configuration: $(tail -1 "$W/haproxy-check.log")"

T0=$(now_ms)
for i in 1 2 3; do start_keeper "$i"; done
streaming_count() { local l; l=$(leader); [ -n "$l" ] && local_sql "$(index_of "$l")" "SELECT count(*) FROM pg_stat_replication WHERE state = 'streaming' AND application_name <> 'pg_basebackup'"; }
two_streaming() { [ "$(streaming_count)" = 2 ]; }
wait_for 90 two_streaming || tap_fail_all "the keepers did not bootstrap a cluster: $(tail -n 3 "$W"/n*/keeper.log | tr '\n' ' ')"
echo "# bootstrap: $(seconds_since "$T0") s"
haproxy -f "$W/haproxy.cfg" -db >"$W/haproxy.log" 2>&1 &
HAPROXY=$!

L=$(leader)
LI=$(index_of "$L")
apis_agree() {
    local i
    for i in 1 2 3; do
        if [ "$i" = "$LI" ]; then [ "$(api_status "$i" /primary)" = 200 ] || return 1
        else [ "$(api_status "$i" /primary)" = 503 ] && [ "$(api_status "$i" /replica)" = 200 ] || return 1; fi
    done
}
if wait_for 15 apis_agree; then
    tap_ok "the keepers' APIs agree with etcd: /primary 200 on $L only, /replica 200 on both standbys"
else
    tap_not_ok "the keepers' APIs agree with etcd" "leader $L; /primary: $(for i in 1 2 3; do api_status "$i" /primary; echo -n ' '; done)" \
        "/replica: $(for i in 1 2 3; do api_status "$i" /replica; echo -n ' '; done)"
fi
expect_eq "HEAD and GET /primary on the leader answer 200 too" "$(api_status "$LI" /primary HEAD) $(api_status "$LI" /primary GET)" "200 200"
expect_eq "GET /cluster names the leader" "$(curl -s -m 2 "http://127.0.0.1:${API[1]}/cluster" | jq -r .leader)" "$L"
STATUS=$("$PRODATA" cluster status --config "$W/n1/prodata.conf" 2>&1)
expect_eq "cluster status on live keepers: the leader running, two standbys running" \
    "$(grep -cE "^$L +leader +running " <<<"$STATUS") $(grep -cE "^n[123] +standby +running " <<<"$STATUS")" "1 2"
local_sql "$LI" "CREATE TABLE t (n int); GRANT SELECT, INSERT ON t TO replicator" >/dev/null
# haproxy starts with every server up until its checks fail (fall 2, inter 1 s): six connections in a row
# on the leader's port, not one, say that the standbys are marked down
on_leader_port() {
    local k
    for k in 1 2 3 4 5 6; do [ "$(through_haproxy 'SELECT inet_server_port()')" = "${PORT[$LI]}" ] || return 1; done
}
if wait_for 15 on_leader_port; then tap_ok "haproxy sends connections to the leader $L"; else
    tap_not_ok "haproxy sends connections to the leader $L" "$(tail -n 5 "$W/haproxy.log")"; fi
WROTE=$(PGPASSWORD=$PD_KEEPER_TEST_PASSWORD psql -X -q -At -h 127.0.0.1 -p "$HAPROXY_PORT" -U replicator -d postgres \
    -c 'INSERT INTO t VALUES (1) RETURNING n' 2>&1)
expect_eq "a write through haproxy is acknowledged" "$WROTE" 1

# ---- node loss: the writes follow the new leader through the same address -----------------------------------
T0=$(now_ms)
guard_kill "$LI"
kill -9 "${KPID[$LI]}" "$(head -1 "$W/n$LI/data/postmaster.pid")"
KPID[$LI]=""
OLD=$LI
new_leader() { local l; l=$(leader); [ -n "$l" ] && [ "$l" != "$L" ] && [ "$(local_sql "$(index_of "$l")" 'SELECT pg_is_in_recovery()')" = f ]; }
if wait_for 30 new_leader; then
    L=$(leader)
    LI=$(index_of "$L")
    tap_ok "node loss: $L took over in $(seconds_since "$T0") s"
else
    tap_not_ok "node loss: a standby took over" "$(tail -n 5 "$W"/n*/keeper.log)"
fi
write_through() { [ "$(through_haproxy "INSERT INTO t VALUES ($1) RETURNING n")" = "$1" ]; }
if wait_for 30 write_through 2; then
    tap_ok "node loss: a write through haproxy is acknowledged again $(seconds_since "$T0") s after the loss"
else
    tap_not_ok "node loss: writes through haproxy work again" "$(tail -n 5 "$W/haproxy.log")"
fi
echo "# node loss: first write acknowledged through haproxy after $(seconds_since "$T0") s"
expect_eq "node loss: it landed on the new leader $L" "$(local_sql "$LI" 'SELECT count(*) FROM t WHERE n = 2')" 1
expect_eq "node loss: haproxy's connections go to $L's port" "$(through_haproxy 'SELECT inet_server_port()')" "${PORT[$LI]}"
expect_eq "node loss: the lost node's API does not answer" "$(api_status "$OLD" /primary)" 000
down_in_status() { "$PRODATA" cluster status --config "$W/n1/prodata.conf" 2>/dev/null | grep -qE "^n$OLD +- +down"; }
if wait_for 10 down_in_status; then tap_ok "node loss: cluster status shows n$OLD down"; else
    tap_not_ok "node loss: cluster status shows n$OLD down" "$("$PRODATA" cluster status --config "$W/n1/prodata.conf" 2>&1)"; fi

# ---- handover: SIGTERM of the leader's keeper ----------------------------------------------------------------
# The remaining standby is a handover candidate once it streams from L on L's timeline (a standby still on
# the old timeline may yet be rewound or cloned by its keeper) and its API calls it a healthy replica.
OTHER=$((6 - OLD - LI))
one_following() {
    [ "$(local_sql "$LI" "SELECT count(*) FROM pg_stat_replication WHERE state = 'streaming' AND application_name <> 'pg_basebackup'")" = 1 ] &&
        [ "$("$PRODATA" cluster status --json --config "$W/n1/prodata.conf" 2>/dev/null |
            jq '[.members[] | select(.is_live) | .timeline] | unique | length')" = 1 ] &&
        [ "$(api_status "$OTHER" /replica)" = 200 ]
}
if wait_for 120 one_following; then tap_ok "n$OTHER streams from $L on its timeline (a handover candidate)"; else
    tap_not_ok "n$OTHER streams from $L on its timeline" "$(tail -n 5 "$W"/n*/keeper.log)"; fi
T0=$(now_ms)
kill -TERM "${KPID[$LI]}"
if wait_for 30 new_leader; then
    L=$(leader)
    LI=$(index_of "$L")
    tap_ok "handover: $L took over in $(seconds_since "$T0") s"
else
    tap_not_ok "handover: the other standby took over" "$(tail -n 5 "$W"/n*/keeper.log)"
fi
if wait_for 30 write_through 3; then
    tap_ok "handover: a write through haproxy is acknowledged $(seconds_since "$T0") s after it began"
else
    tap_not_ok "handover: writes through haproxy work again" "$(tail -n 5 "$W/haproxy.log")"
fi
expect_eq "handover: it landed on $L" "$(local_sql "$LI" 'SELECT count(*) FROM t WHERE n = 3')" 1
tap_done
