#!/bin/bash
# keeper_etcd3.sh - a three-member etcd works as well as one, and losing one member changes nothing (issue
# 10, section 1): two keepers on loopback with all three client URLs in etcd_endpoints, a primary and a
# streaming standby; then the member behind the first URL is killed (kill -9). For five TTLs the same member
# leads, no fence guard kills anything, a write every half second is acknowledged, and both members keep
# publishing their state through the two members left. Skipped, counted, without etcd or PostgreSQL 15.
source tests/lib/tap.sh
source tests/lib/etcd.sh
source tests/lib/keeper_local.sh
tap_plan 6
tap_workdir
W=$TAP_WORKDIR
BIN=/usr/lib/postgresql/15/bin
KEEPER_LOCAL_LABEL="a three-member etcd"
KEEPER_LOCAL_NAME=e3
KEEPER_LOCAL_NODES="1 2"
KEEPER_LOCAL_LOGS=keeper-etcd3
export ETCDCTL_API=3 PD_KEEPER_TEST_PASSWORD=e3-s3cret-Pa55 PGCONNECT_TIMEOUT=2
declare -a KPID PORT APORT

trap cleanup EXIT

[ -x "$BIN/initdb" ] || skip_all "no PostgreSQL 15 in $BIN"
command -v etcdctl >/dev/null || skip_all "no etcdctl (Debian's etcd-client)"
etcd_cluster_start "$W/etcd" 3 $$ >"$W/etcd.log" 2>&1 || skip_all "a three-member etcd does not start here"
ENDPOINTS=$(cat "$W/etcd/endpoints")
chmod 755 "$W"
keeper_local_configs
(cd "$W/n1" && "$PRODATA" cluster config set postgresql_parameters.fsync=off postgresql_parameters.shared_buffers=16MB \
    postgresql_parameters.max_connections=30 >/dev/null) || tap_fail_all "the cluster configuration could not be set"
for i in 1 2; do start_keeper "$i"; done
one_streaming() { [ "$(streaming)" = 1 ]; }
if wait_for 90 one_streaming; then tap_ok "on a three-member etcd ($ENDPOINTS): a primary and a streaming standby"
else tap_fail_all "no primary with a streaming standby: $(tail -n 3 "$W"/n*/keeper.log | tr '\n' ' ')"; fi
L=$(leader)
LI=$(index_of "$L")
local_sql "$LI" "CREATE TABLE t (n int)" >/dev/null

# ---- the member behind the first URL killed ---------------------------------------------------------------
M1=$(cat "$W/etcd/m1/pid")
FENCES_BEFORE=$(cat "$W"/n*/keeper.log | grep -c "fence: killed")
KILLED_MS=$(now_ms)
kill -9 "$M1"
LEADERS="" FAILED=0 N=0
for i in $(seq 1 30); do # 15 s: five TTLs of 3 s
    N=$((N + 1))
    local_sql "$LI" "INSERT INTO t VALUES ($N)" >/dev/null || FAILED=$((FAILED + 1))
    LEADERS="$LEADERS $(leader)"
    sleep 0.5
done
expect_eq "etcd member m1 killed: $L leads throughout (30 samples over 15 s)" \
    "$(tr ' ' '\n' <<<"$LEADERS" | grep -v '^$' | sort -u | tr '\n' ' ')" "$L "
expect_eq "no fence guard killed a postmaster" "$(cat "$W"/n*/keeper.log | grep -c "fence: killed")" "$FENCES_BEFORE"
expect_eq "every write was acknowledged ($N, one each half second)" "$FAILED:$(local_sql "$LI" 'SELECT count(*) FROM t')" "0:$N"
published() { # both members' states written since the kill
    local i updated
    for i in 1 2; do
        updated=$(etcd_value "members/n$i" | jq -r .updated_ms)
        [ -n "$updated" ] && [ "$updated" -gt "$KILLED_MS" ] || return 1
    done
}
check "both members still publish their state, through the two members left" wait_for 10 published
run_cmd "$PRODATA" cluster status --config "$W/n1/prodata.conf"
expect_rc "prodata cluster status answers with one endpoint of three down" 0
tap_done
