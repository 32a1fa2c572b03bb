#!/bin/bash
# netns.sh - the fault tests' own network (tests/lib/netns.sh) checked against itself: four namespaces on a
# switch of their own (e1, e2, e3 each run an etcd member on their address, c is a client) leave the root
# namespace's addresses, routes and firewall as they were; a 3-member etcd across them answers from c and
# keeps serving with one member isolated (which alone answers nothing); isolate, cut (both sides), one-way
# (UDP counted by each namespace's kernel), packet loss (some but not all of 30 connects) and heal each do
# what they say within a bound; netns_down leaves no namespace and no process, twice; netns_down_stale
# removes the namespaces of a run whose process is gone; without root, netns_available says why. Run as a
# user, every check is skipped and counted as skipped.
source tests/lib/tap.sh
source tests/lib/etcd.sh
source tests/lib/netns.sh
tap_plan 26
tap_workdir
PREFIX=$(netns_prefix)
ETCD_DIR="$TAP_WORKDIR/etcd"
trap 'etcd_cluster_stop "$ETCD_DIR"; netns_down "$PREFIX"; rm -rf "$TAP_WORKDIR"' EXIT

# The user check runs first: it needs no root, and as root it shows the refusal a user would get.
if [ "$(id -u)" = 0 ] && id nobody >/dev/null 2>&1; then
    run_cmd setpriv --reuid=nobody --regid=nogroup --clear-groups bash -c 'source tests/lib/netns.sh; netns_available'
    expect_out "as a user, netns_available refuses and says why" "netns.sh: network namespaces need root"
else
    run_cmd netns_available
    expect_out "as a user, netns_available refuses and says why" "netns.sh: network namespaces need root"
fi
if ! netns_available 2>/dev/null; then
    while [ "$TAP_COUNT" -lt "$TAP_PLAN" ]; do tap_skip "network namespace faults" "$NETNS_UNAVAILABLE"; done
    tap_done
    exit
fi

root_state() {
    ip -o addr show
    ip route show table all
    nft list ruleset 2>&1
}
now_ms() { date +%s%3N; }
# tcp_connects FROM ADDR PORT SECONDS: a TCP connection from node FROM is made within SECONDS.
tcp_connects() {
    netns_exec "$1" timeout "$4" bash -c "exec 3<>/dev/tcp/$2/$3" 2>/dev/null
}
# curl_from FROM URL [BODY]: an etcd gateway call from node FROM, bounded to 2 s.
curl_from() {
    if [ -n "${3:-}" ]; then netns_exec "$1" curl -s -m 2 -X POST -d "$3" "$2"; else netns_exec "$1" curl -s -m 2 "$2"; fi
}
# udp_noports NAME: datagrams NAME's kernel received for a port nobody listens on (its own /proc/net/snmp).
udp_noports() {
    netns_exec "$1" awk '$1 == "Udp:" { if (!seen) { for (i = 2; i <= NF; i++) col[$i] = i; seen = 1 } else print $col["NoPorts"] }' /proc/net/snmp
}
# udp_send FROM ADDR: five datagrams from node FROM to port 9 (no listener) of ADDR.
udp_send() {
    netns_exec "$1" timeout 5 bash -c "for i in 1 2 3 4 5; do echo x >/dev/udp/$2/9; done" 2>/dev/null
}

BEFORE=$(root_state)
netns_up "$PREFIX" e1 e2 e3 c 2>"$TAP_WORKDIR/up.err"
RC=$? OUT=$(cat "$TAP_WORKDIR/up.err")
expect_rc "netns_up makes four nodes and a switch" 0
expect_eq "the run's namespaces are the nodes and the switch" \
    "$(ip netns list | awk -v p="$PREFIX-" 'index($1, p) == 1 { print $1 }' | sort | paste -sd' ')" \
    "$PREFIX-c $PREFIX-e1 $PREFIX-e2 $PREFIX-e3 $PREFIX-sw"
OUT=$(for n in e1 e2 e3 c; do netns_addr "$n"; done | paste -sd' ')
expect_out "each node has its own address in 10.231.R.0/24, numbered in order" \
    "^10\.231\.([0-9]+)\.1 10\.231\.\1\.2 10\.231\.\1\.3 10\.231\.\1\.4$"
E1=$(netns_addr e1) E2=$(netns_addr e2) E3=$(netns_addr e3) C=$(netns_addr c)

run_cmd netns_etcd_start "$ETCD_DIR" $$ e1 e2 e3
expect_rc "a 3-member etcd starts, each member in its node's namespace on its address" 0
OUT=$(for i in 1 2 3; do pid=$(cat "$ETCD_DIR/m$i/pid"); echo "$(cat "/proc/$pid/comm") $(ip netns identify "$pid")"; done)
expect_eq "each member's pid is its etcd's, inside its node's namespace" "$OUT" \
    "etcd $PREFIX-e1"$'\n'"etcd $PREFIX-e2"$'\n'"etcd $PREFIX-e3"
expect_eq "the root namespace's addresses, routes and firewall are as they were" "$(root_state)" "$BEFORE"
OUT=$(for a in "$E1" "$E2" "$E3"; do curl_from c "http://$a:2379/health"; echo; done)
expect_eq "the client's namespace reaches every member over TCP" "$(grep -c '"health":"true"' <<<"$OUT")" 3
curl_from c "http://$E1:2379/v3/kv/put" '{"key":"ZmF1bHQ=","value":"djE="}' >/dev/null
OUT=$(curl_from c "http://$E3:2379/v3/kv/range" '{"key":"ZmF1bHQ="}')
expect_out "a key put through e1 is read through e3" '"value":"djE="'

netns_spawn c sleep 60
poll_ok 5 grep -qx sleep "/proc/$NETNS_PID/comm" # ip netns exec becomes sleep once it has entered c
OUT="$(cat "/proc/$NETNS_PID/comm") $(ip netns identify "$NETNS_PID")"
kill "$NETNS_PID"
expect_eq "netns_spawn: NETNS_PID is the command's own pid, inside the node" "$OUT" "sleep $PREFIX-c"

# Isolation: nothing in or out of e1; the other two keep a majority.
netns_isolate e1
START=$(now_ms)
run_cmd curl_from c "http://$E1:2379/health"
ELAPSED=$(($(now_ms) - START))
if [ "$RC" != 0 ] && [ "$ELAPSED" -lt 3000 ]; then tap_ok "isolated e1 gives no answer (curl gave up after $ELAPSED ms)"
else tap_not_ok "isolated e1 gives no answer" "curl exit $RC after $ELAPSED ms" "$OUT"; fi
put_get() {
    curl_from c "http://$E2:2379/v3/kv/put" "{\"key\":\"ZmF1bHQ=\",\"value\":\"$1\"}" | grep -q revision &&
        curl_from c "http://$E3:2379/v3/kv/range" '{"key":"ZmF1bHQ="}' | grep -q "\"value\":\"$1\""
}
check "with e1 isolated, the client puts through e2 and reads it through e3 (within 10 s)" poll_ok 10 put_get djI=
run_cmd netns_exec e1 curl -s -m 2 -X POST -d '{"key":"ZmF1bHQ="}' "http://$E1:2379/v3/kv/range"
expect_no_out "isolated e1 answers no linearizable read by itself (asked on its own address, which lo carries)" '"header"'
netns_heal e1
check "healed, e1 answers the client again and has the value written while it was away (within 10 s)" \
    poll_ok 10 bash -c "ip netns exec $PREFIX-c curl -s -m 1 -X POST -d '{\"key\":\"ZmF1bHQ=\"}' http://$E1:2379/v3/kv/range | grep -q djI="

# A cut between c and e2, healed from e2's side.
netns_cut c e2
if ! tcp_connects c "$E2" 2379 1 && tcp_connects c "$E3" 2379 1 && tcp_connects e2 "$E3" 2379 1; then
    tap_ok "cut c-e2: c cannot reach e2; c reaches e3 and e2 reaches e3"
else tap_not_ok "cut c-e2: c cannot reach e2; c reaches e3 and e2 reaches e3" "$(netns_exec c nft list ruleset)"; fi
run_cmd tcp_connects e2 "$C" 2379 1
expect_eq "cut c-e2: e2's packets do not reach c either (no reset: a timeout)" "$RC" 124
netns_heal e2
check "netns_heal e2 removes the cut on both sides: c reaches e2" tcp_connects c "$E2" 2379 2
expect_eq "and c's ruleset has no fault rule left" "$(netns_exec c nft list ruleset | grep -c 'drop')" 0

# One way: c's packets to e2 are dropped, e2's to c pass (counted by the receiving kernel).
netns_cut_oneway c e2
N_C=$(udp_noports c) N_E2=$(udp_noports e2)
[ -n "$N_C" ] && [ -n "$N_E2" ] || N_C=unread
udp_send c "$E2"
udp_send e2 "$C"
c_has_five() { [ "$(udp_noports c)" -ge $((N_C + 5)) ]; }
poll_ok 3 c_has_five # counted on receipt; a bounded wait, not a sleep
expect_eq "one way c->e2: e2 received none of c's five datagrams" "$(($(udp_noports e2) - N_E2))" 0
expect_eq "one way c->e2: c received e2's five datagrams" "$(($(udp_noports c) - N_C))" 5
netns_heal c
check "healed from c's side, c reaches e2 again" tcp_connects c "$E2" 2379 2

# Random loss, 30% of c's packets each way: of 30 connects of at most 0.3 s, some pass and some do not.
netns_loss c 30
PASSED=0
for i in $(seq 1 30); do tcp_connects c "$E3" 2379 0.3 && PASSED=$((PASSED + 1)); done
if [ "$PASSED" -gt 0 ] && [ "$PASSED" -lt 30 ]; then tap_ok "30% loss: $PASSED of 30 connects passed"
else tap_not_ok "30% loss: some but not all of 30 connects pass" "$PASSED passed"; fi
netns_heal c
PASSED=0
for i in $(seq 1 10); do tcp_connects c "$E3" 2379 1 && PASSED=$((PASSED + 1)); done
expect_eq "healed: 10 of 10 connects pass" "$PASSED" 10

# Down: the namespaces and what ran inside them are gone, and a second call is a no-op.
PIDS=$(cat "$ETCD_DIR"/m*/pid)
run_cmd netns_down "$PREFIX"
# A killed child of this shell stays a zombie until reaped: running means a state other than Z.
ALIVE=$(for pid in $PIDS; do awk '$3 != "Z" { print FILENAME }' "/proc/$pid/stat" 2>/dev/null; done)
LEFT=$(ip netns list | awk -v p="$PREFIX-" 'index($1, p) == 1')
if [ "$RC" = 0 ] && [ -z "$LEFT" ] && [ -z "$ALIVE" ]; then tap_ok "netns_down leaves no namespace and no etcd"
else tap_not_ok "netns_down leaves no namespace and no etcd" "rc $RC" "left: $LEFT" "alive: $ALIVE"; fi
run_cmd netns_down "$PREFIX"
expect_rc "netns_down again: nothing to do, exit 0" 0
etcd_cluster_stop "$ETCD_DIR"

# Leftovers of a run whose process is gone (a pid that just ended) are found by netns_down_stale.
sleep 0 &
DEAD=$!
wait "$DEAD"
netns_up "pdn$DEAD" x y >/dev/null 2>&1
netns_down_stale
expect_eq "netns_down_stale removes a dead run's namespaces" \
    "$(ip netns list | awk -v p="pdn$DEAD-" 'index($1, p) == 1' | wc -l)" 0
NETNS_PREFIX=$PREFIX
tap_done
