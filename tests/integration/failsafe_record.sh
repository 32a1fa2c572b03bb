#!/bin/bash
# failsafe_record.sh - a keeper that finds no state_dir/failsafe_grant_ms (a new member, or its state
# directory lost) and cannot read the cluster configuration from etcd gives no failsafe grant for the
# longest failsafe_grant_ms any configuration allows (600000 ms), since its former process may have given
# one that long; once the configuration is read, the configured duration applies from its start and is
# recorded. With the record present, etcd still down: the recorded duration (docs/ha.md, "The etcd
# outage: failsafe grants"). Before, a missing record read as 0 and the default 3 s applied. One keeper on
# loopback; needs etcd and PostgreSQL 15.
source tests/lib/tap.sh
source tests/lib/etcd.sh
source tests/lib/keeper_local.sh
tap_plan 4
tap_workdir
W=$TAP_WORKDIR
BIN=/usr/lib/postgresql/15/bin
KEEPER_LOCAL_LABEL="failsafe record"
KEEPER_LOCAL_NAME=rec
KEEPER_LOCAL_NODES=1
export ETCDCTL_API=3 PD_KEEPER_TEST_PASSWORD=so-s3cret-Pa55
declare -a KPID
trap cleanup EXIT
[ -x "$BIN/initdb" ] || skip_all "no PostgreSQL 15 in $BIN"
command -v etcdctl >/dev/null || skip_all "no etcdctl (Debian's etcd-client)"
chmod 755 "$W"
mkdir -p "$W/etcd/m1" "$W/n1"
chown postgres "$W/n1" 2>/dev/null
etcd_free_port "$W/etcd" >"$W/etcd/m1/client"
etcd_free_port "$W/etcd" >"$W/etcd/m1/peer"
write_conf() {
    cat >"$W/n1/prodata.conf" <<CONF
member_name = n1
etcd_endpoints = "$1"
cluster_name = rec
data_dir = $W/n1/data
state_dir = $W/n1/state
pg_port = $(etcd_free_port "$W/etcd")
api_port = $(etcd_free_port "$W/etcd")
replication_password_env = PD_KEEPER_TEST_PASSWORD
CONF
}
logged() { grep -qF -- "$1" "$W/n1/keeper.log"; }
write_conf "http://127.0.0.1:$(cat "$W/etcd/m1/client")" # etcd not running yet
start_keeper 1
if wait_for 10 logged "no failsafe grant given for 600000 ms"; then
    tap_ok "no record, etcd down: no grant for the longest failsafe_grant_ms allows (600000 ms)"
else tap_not_ok "no record, etcd down: no grant for 600000 ms" "$(grep -F failsafe "$W/n1/keeper.log")"; fi
etcd_cluster_run "$W/etcd" $$ >"$W/etcd.log" 2>&1 || skip_all "etcd does not start here"
if wait_for 15 logged "the cluster configuration read: no failsafe grant given for 3000 ms from the start"; then
    tap_ok "the configuration read: the configured 3000 ms from the start"
else tap_not_ok "the configuration read: the configured 3000 ms" "$(grep -F failsafe "$W/n1/keeper.log")"; fi
expect_eq "the configured duration recorded" "$(cat "$W/n1/state/failsafe_grant_ms" 2>/dev/null)" 3000
kill_node 1
: >"$W/n1/keeper.log"
write_conf "http://127.0.0.1:$(etcd_free_port "$W/etcd")" # nothing listens there
start_keeper 1
if wait_for 10 logged "no failsafe grant given for 3000 ms (grants given before a restart are forgotten)"; then
    tap_ok "a record present, etcd down: the recorded 3000 ms"
else tap_not_ok "a record present, etcd down: the recorded 3000 ms" "$(grep -F failsafe "$W/n1/keeper.log")"; fi
tap_done
