#!/bin/bash
# cluster_commands.sh - `prodata cluster pause`, `resume`, over a real etcd of its own (tests/lib/etcd.sh),
# found through the keeper settings of a prodata.conf: the "paused" field set and cleared by compare-and-swap
# (a second pause writes nothing), seen by `cluster config`; a document in etcd that does not parse is named,
# nothing written (exit 2); an etcd that does not answer exits 4.
source tests/lib/tap.sh
source tests/lib/etcd.sh
tap_plan 14
tap_workdir
ETCD_DIR="$TAP_WORKDIR/etcd"
trap 'etcd_cluster_stop "$ETCD_DIR"; rm -rf "$TAP_WORKDIR"' EXIT

if ! etcd_cluster_start "$ETCD_DIR" 1 $$ >"$TAP_WORKDIR/etcd.log" 2>&1; then
    while [ "$TAP_COUNT" -lt "$TAP_PLAN" ]; do tap_skip "cluster commands over etcd" "etcd does not start here"; done
    tap_done
    exit
fi
ENDPOINTS=$(cat "$ETCD_DIR/endpoints")
cat >"$TAP_WORKDIR/prodata.conf" <<CONF
etcd_endpoints = "$ENDPOINTS"
cluster_name = it
etcd_request_timeout_ms = 1500
CONF
cd "$TAP_WORKDIR" || exit 1
# etcdctl_put KEY VALUE: a key written the way a keeper (or an operator by hand) would.
etcdctl_put() { ETCDCTL_API=3 etcdctl --endpoints "$ENDPOINTS" put "$1" "$2" >/dev/null; }
etcdctl_del() { ETCDCTL_API=3 etcdctl --endpoints "$ENDPOINTS" del "$1" >/dev/null; }

# ---- pause / resume ----
run_cmd "$PRODATA" cluster pause
expect_rc "pause exits 0" 0
expect_out "pause says the cluster is paused and what that means" "^/prodata/it/config: paused \(revision [0-9]+\): the keepers take no automatic action"
REVISION=$(sed -n 's|.*(revision \([0-9]*\)).*|\1|p' <<<"$OUT")
run_cmd "$PRODATA" cluster config --json
expect_out "the configuration holds paused: true" '"paused": true'
run_cmd "$PRODATA" cluster pause
expect_out "a second pause writes nothing" "^/prodata/it/config: already paused \(revision $REVISION\)"
run_cmd "$PRODATA" cluster config set ttl_s=4
run_cmd "$PRODATA" cluster config
expect_out "another change keeps the pause" "^paused +true +false$"
run_cmd "$PRODATA" cluster resume
expect_rc "resume exits 0" 0
expect_out "resume says so" "^/prodata/it/config: resumed \(revision [0-9]+\): the keepers act on their own again"
run_cmd "$PRODATA" cluster config
expect_out "paused is false again, ttl_s kept" "^paused +false +false$"
expect_out "and the other change is kept" "^ttl_s +4 +3$"
run_cmd "$PRODATA" cluster resume --json
expect_out "resume --json prints the document" '"paused": false'

etcdctl_put /prodata/it/config '{"ttl_s": "x", "paused": 1}'
run_cmd "$PRODATA" cluster pause
expect_rc "a document in etcd that does not parse: pause exits 2" 2
expect_out "naming the field" "paused must be true or false"
etcdctl_del /prodata/it/config

kill -STOP "$(cat "$ETCD_DIR/m1/pid")"
run_cmd "$PRODATA" cluster pause
kill -CONT "$(cat "$ETCD_DIR/m1/pid")"
expect_rc "a stopped etcd: pause exits 4" 4
expect_out "saying etcd gave no answer to trust, with what to do" "^HINT: "
tap_done
