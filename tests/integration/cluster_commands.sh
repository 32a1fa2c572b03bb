#!/bin/bash
# cluster_commands.sh - `prodata cluster pause`, `resume`, `status`, `history` and `remove` over a real etcd
# of its own (tests/lib/etcd.sh), found through the keeper settings of a prodata.conf, with member, leader,
# roster and history keys written as the keepers write them (member keys and the leader key under leases):
# pause and resume by compare-and-swap (a second pause writes nothing); status as a table and --json (roster
# names without a live key shown down, no leader with and without a member within the lag bound, paused);
# history; remove refused while no member holds the leader key, while a keeper is live or holds it, a roster
# name removed once; malformed values in etcd named by their key (exit 2), never a crash; an etcd that does
# not answer exits 4.
source tests/lib/tap.sh
source tests/lib/etcd.sh
tap_plan 71
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

# ---- status ----
# member NAME ROLE STATE PORT LAG_BYTES: a member document as pd_member_json writes it.
member() {
    printf '{"version":1,"name":"%s","role":"%s","state":"%s","pg_host":"127.0.0.1","pg_port":%s,' "$1" "$2" "$3" "$4"
    printf '"api_url":"http://127.0.0.1:8%s","timeline":3,"write_lsn":"0/3000148","replay_lsn":"0/3000100",' "$4"
    printf '"is_streaming":%s,"lag_bytes":%s,"updated_ms":1764489600123,"waiting_for":"%s"}' \
        "$([ "$2" = standby ] && echo true || echo false)" "$5" "${6:-}"
}
LEASE=$(ETCDCTL_API=3 etcdctl --endpoints "$ENDPOINTS" lease grant 600 | awk '{print $2}')
lease_put() { ETCDCTL_API=3 etcdctl --endpoints "$ENDPOINTS" put --lease="$LEASE" "$1" "$2" >/dev/null; }

run_cmd "$PRODATA" cluster status
expect_rc "status of an empty cluster exits 0" 0
expect_out "it says there are no members" "^no members"
expect_out "and that no member can be promoted, naming the explicit way out" "no member is within maximum_lag_on_failover_bytes \(1048576\).*prodata cluster failover --to NODE --allow-data-loss"

etcdctl_put /prodata/it/roster '{"members":["n1","n2","n3"]}'
lease_put /prodata/it/members/n1 "$(member n1 primary running 5432 0)"
lease_put /prodata/it/members/n2 "$(member n2 standby running 5433 0)"
lease_put /prodata/it/leader n1
run_cmd "$PRODATA" cluster status
expect_rc "status of a healthy cluster exits 0" 0
expect_out "the header names the leader" "^cluster /prodata/it: leader n1, synchronous_mode off"
expect_out "the leader's row" "^n1 +leader +running +127.0.0.1:5432 +3 +0 +- +- *$"
expect_out "the standby's row" "^n2 +standby +running +127.0.0.1:5433 +3 +0 +- +async *$"
expect_out "a roster name without a live key is down" "^n3 +- +down +- +- +- +- +- *$"
expect_no_out "with a leader there is no failover message" "no leader"
run_cmd "$PRODATA" cluster status --json
expect_eq "--json: the leader" "$(jq -r .leader <<<"$OUT")" n1
expect_eq "--json: three members, n3 not live" "$(jq -c '[.members[] | [.name, .is_live, .in_roster]]' <<<"$OUT")" \
    '[["n1",true,true],["n2",true,true],["n3",false,true]]'
expect_eq "--json: the standby's lag and LSNs" "$(jq -c '.members[1] | [.lag_bytes, .write_lsn, .replay_lsn, .role]' <<<"$OUT")" \
    '[0,"0/3000148","0/3000100","standby"]'
expect_eq "--json: a state written before replay_lag_s and pending_restart reads as unknown, none" \
    "$(jq -c '.members[1] | [.lag_s, .pending_restart]' <<<"$OUT")" '[null,[]]'

# The primary's archiver: a line under the table, loud when its last attempt failed.
now=$(date +%s%3N)
archive='{"archived_count":12,"last_archived_wal":"000000030000000000000011","last_archived_ms":'$((now - 3000))
archive+=',"failed_count":1,"last_failed_wal":"000000030000000000000009","last_failed_ms":'$((now - 90000))',"ready_count":0}'
lease_put /prodata/it/members/n1 "$(member n1 primary running 5432 0 | sed 's/}$//'),\"archive\":$archive}"
run_cmd "$PRODATA" cluster status
expect_out "the primary's archive line: the last segment, its age, the counts" \
    '^n1: archive: 000000030000000000000011 archived [2-9] s ago \(12 archived, 1 failed\), 0 segments waiting$'
archive='{"archived_count":12,"last_archived_wal":"000000030000000000000011","last_archived_ms":'$((now - 200000))
archive+=',"failed_count":4,"last_failed_wal":"000000030000000000000012","last_failed_ms":'$((now - 5000))',"ready_count":3}'
lease_put /prodata/it/members/n1 "$(member n1 primary running 5432 0 | sed 's/}$//'),\"archive\":$archive}"
run_cmd "$PRODATA" cluster status
expect_out "a failing archiver is named as such, with the last success and the backlog" \
    '^n1: archive FAILING: 000000030000000000000012 failed [4-9] s ago \(4 failures; last success 000000030000000000000011 3 min ago\), 3 segments waiting'
run_cmd "$PRODATA" cluster status --json
expect_eq "--json: the archive object with is_failing; a standby's is null" \
    "$(jq -c '[.members[0].archive | .failed_count, .ready_count, .is_failing], .members[1].archive' <<<"$OUT")" \
    $'[4,3,true]\nnull'
lease_put /prodata/it/members/n1 "$(member n1 primary running 5432 0)"

"$PRODATA" cluster config set synchronous_mode=on synchronous_quorum=1 >/dev/null
lease_put /prodata/it/members/n2 "$(member n2 standby running 5433 0 "the leader's WAL")"
run_cmd "$PRODATA" cluster status
expect_out "synchronous mode: the standby is one of the quorum, and its waiting_for shown" "^n2 +standby +running +127.0.0.1:5433 +3 +0 +- +quorum +the leader's WAL$"

etcdctl_del /prodata/it/leader
etcdctl_del /prodata/it/members/n1
run_cmd "$PRODATA" cluster status
expect_out "no leader, a standby within the bound: the keepers will promote" "^no leader: the keepers will promote the most advanced of the 1 member"
expect_out "the old leader is down" "^n1 +- +down"
lease_put /prodata/it/members/n2 "$(member n2 standby running 5433 2097152)"
run_cmd "$PRODATA" cluster status
expect_rc "no leader, none within the bound: still exit 0" 0
expect_out "no automatic failover, and the explicit way out, with the most advanced member" "no automatic failover will happen.*prodata cluster failover --to NODE --allow-data-loss \(the most advanced is n2, 2097152 bytes behind\)"
run_cmd "$PRODATA" cluster status --json
expect_out "--json carries the message" '"message": "no leader, and no member is within'
"$PRODATA" cluster pause >/dev/null
run_cmd "$PRODATA" cluster status
expect_out "paused: the header says so" "PAUSED \(no automatic action\)"
expect_out "paused, no leader: no automatic failover until resume" "^no leader, and the cluster is paused: no automatic failover"
"$PRODATA" cluster resume >/dev/null

lease_put /prodata/it/members/n4 '{"version":2,"name":"n4"}'
lease_put /prodata/it/members/n5 "$(member n6 standby running 5435 0)"
run_cmd "$PRODATA" cluster status
expect_rc "a member key that does not parse: exit 2" 2
expect_out "it is named with its problem" "^problem: /prodata/it/members/n4: "
expect_out "a document naming another member is named too" "^problem: /prodata/it/members/n5: the document names member \"n6\""
expect_out "the other members are still shown" "^n2 +standby +running"
expect_out "the unreadable member's row" "^n4 +- +unreadable"
etcdctl_del /prodata/it/members/n4
etcdctl_del /prodata/it/members/n5
etcdctl_put /prodata/it/roster '{"members":["n1","n1"]}'
run_cmd "$PRODATA" cluster status --json
expect_rc "a roster that does not parse: exit 2 (--json too)" 2
expect_out "naming the roster key" '"key": "/prodata/it/roster"'
etcdctl_put /prodata/it/roster '{"members":["n1","n2","n3"]}'
etcdctl_put /prodata/it/config '{"ttl_s": 1}'
lease_put /prodata/it/leader 'Not A Name'
run_cmd "$PRODATA" cluster status
expect_rc "a configuration and a leader key that do not parse: exit 2" 2
expect_out "the configuration key is named, with its field" "^problem: /prodata/it/config: ttl_s 1 is out of bounds"
expect_out "the leader key is named" "^problem: /prodata/it/leader: "
expect_out "the members are still shown, with the defaults' bound" "maximum_lag_on_failover_bytes 1048576"
etcdctl_del /prodata/it/config
etcdctl_del /prodata/it/leader

# ---- history ----
run_cmd "$PRODATA" cluster history
expect_rc "history without the key exits 0" 0
expect_out "and says there was none" "^/prodata/it/history: no failover or switchover yet"
etcdctl_put /prodata/it/history '[{"at_ms":1764489600123,"from":"n1","to":"n2","reason":"failover","timeline":4,"lsn":"0/5000060"},{"at_ms":1764489700000,"from":"","to":"n1","reason":"switchover","timeline":5,"lsn":"0/6000000"}]'
run_cmd "$PRODATA" cluster history
expect_out "a failover's row: time, from, to, reason, timeline, LSN" "^2025-11-30 08:00:00.123 UTC +n1 +n2 +failover +4 +0/5000060$"
expect_out "an unknown from is shown as -" "^2025-11-30 08:01:40.000 UTC +- +n1 +switchover +5 +0/6000000$"
run_cmd "$PRODATA" cluster history --json
expect_eq "--json: the entries" "$(jq -c '[.history[] | [.to, .timeline, .lsn]]' <<<"$OUT")" '[["n2",4,"0/5000060"],["n1",5,"0/6000000"]]'
etcdctl_put /prodata/it/history '[{"at_ms":1,"from":"n1","to":"n2","reason":"failover","timeline":4,"lsn":"0/5000060"},{"at_ms":2,"from":"n1","to":"n2","reason":"failover","timeline":4,"lsn":"nope"}]'
run_cmd "$PRODATA" cluster history
expect_rc "a history that does not parse: exit 2" 2
expect_out "naming the entry and the field, and the key" "entry 1: lsn must be an LSN.*|CONTEXT: while reading /prodata/it/history"
etcdctl_put /prodata/it/history '{"not": "an array"}'
run_cmd "$PRODATA" cluster history
expect_out "a history that is not an array says so" "the history is not a JSON array"

# ---- remove ----
run_cmd "$PRODATA" cluster remove n3
expect_rc "remove while no member holds the leader key exits 1" 1
expect_out "saying why" "no member holds the leader key: the roster changes only while a leader renews its lease"
lease_put /prodata/it/leader n1
lease_put /prodata/it/members/n1 "$(member n1 primary running 5432 0)"
run_cmd "$PRODATA" cluster remove n2
expect_rc "remove of a member whose keeper is live exits 1" 1
expect_out "saying to stop its keeper first" "the keeper of n2 is running \(/prodata/it/members/n2 is live\): stop its keeper first"
run_cmd "$PRODATA" cluster remove n1
expect_out "the leader is refused" "n1 holds the leader key: stop its keeper first"
run_cmd "$PRODATA" cluster remove n3
expect_rc "remove of a roster name whose keeper is gone exits 0" 0
expect_out "it says what happens to its slot" "^/prodata/it/roster: removed n3 for good; the leader's keeper drops its replication slot prodata_n3$"
expect_eq "the roster no longer holds it" "$(ETCDCTL_API=3 etcdctl --endpoints "$ENDPOINTS" get --print-value-only /prodata/it/roster)" '{"members":["n1","n2"]}'
run_cmd "$PRODATA" cluster remove n3
expect_out "a second remove says there is nothing to remove" "n3 is not in the roster: nothing to remove"
etcdctl_put /prodata/it/roster '{"members":["n1","n2","n7"]}'
etcdctl_put /prodata/it/members/n7 "$(member n7 standby stopped 5437 -1)"
run_cmd "$PRODATA" cluster remove n7
expect_rc "a member key left without a lease: removed" 0
expect_eq "and its key deleted" "$(ETCDCTL_API=3 etcdctl --endpoints "$ENDPOINTS" get --print-value-only /prodata/it/members/n7)" ""
run_cmd "$PRODATA" cluster remove N-1
expect_rc "a name that is no member name: exit 2" 2
run_cmd "$PRODATA" cluster remove
expect_rc "remove without a name: exit 2" 2

kill -STOP "$(cat "$ETCD_DIR/m1/pid")"
run_cmd "$PRODATA" cluster pause
run_cmd_status() { STATUS_OUT=$("$PRODATA" cluster status 2>&1); STATUS_RC=$?; }
run_cmd_status
kill -CONT "$(cat "$ETCD_DIR/m1/pid")"
expect_rc "a stopped etcd: pause exits 4" 4
expect_out "saying etcd gave no answer to trust, with what to do" "^HINT: "
expect_eq "a stopped etcd: status exits 4" "$STATUS_RC" 4
tap_done
