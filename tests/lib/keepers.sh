#!/bin/bash
# keepers.sh - three `prodata keeper`s, each with its PostgreSQL in a network namespace of its own, an etcd
# member in another and a client node (tests/lib/netns.sh), and one fault trial on them with the writers
# running (tests/lib/writers.sh): the keeper fault tests (tests/integration/keeper_faults.sh), `make chaos`
# (tests/ha/chaos.sh) and bench/failover share it. Source tap.sh, etcd.sh, netns.sh and writers.sh first.
# docs/testing-ha.md describes the faults and what each trial asserts.
#   kc_up DIR                    namespaces e1 n1 n2 n3 client, etcd in e1, the cluster configuration
#                                (KC_CONFIG: assignments for `prodata cluster config set`), three keepers
#                                (KC_ARCHIVE: one WAL archive directory for all, archive_dir)
#   kc_healthy                   0 when one leader runs as the primary and both others stream from it
#   kc_wait_healthy SECONDS      polls kc_healthy
#   kc_leader                    the leader key's value (n1, n2, n3; empty when none or etcd unreachable)
#   kc_sql NODE SQL              one value from NODE's PostgreSQL, as its superuser over its socket
#   kc_trial FAULT TABLE         one trial (below): sets KC_RESULT, a line of figures, and KC_PROBLEMS
#   kc_down                      everything stopped (writers, keepers, PostgreSQL, etcd, namespaces)
#   kc_test_begin PLAN WHAT      a keeper test's start: tap_plan PLAN, a work directory the servers' account
#                                may enter, kc_down at exit; without root, PostgreSQL 15 or etcdctl every
#                                check is skipped (WHAT names them) and the test ends there
# FAULTS lists the faults kc_trial knows. Times are CLOCK_REALTIME milliseconds (date +%s%3N).

KC_FAULTS="isolate cut_etcd cut_peers etcd_all standby_isolated oneway loss pmkill pmkill_wal nodeloss sigstop etcd_restart switchover"
KC_WAL_ROWS=${KC_WAL_ROWS:-400000} # pmkill_wal: rows of 500 bytes written just before the kill (~250 MB of WAL)
KC_CLUSTER=kf
KC_PASSWORD=kf-s3cret-Pa55
KC_TTL_MS=3000          # the cluster configuration's default ttl_s
KC_FENCE_MARGIN_MS=500  # the keeper settings' default fence_margin_ms
KC_SLACK_MS=400         # the guard's wake-up and kill on a loaded machine, and this shell's clock reading
KC_FAILOVER_S=${KC_FAILOVER_S:-40}
KC_REJOIN_S=${KC_REJOIN_S:-120}
KC_OUTAGE_S=${KC_OUTAGE_S:-8}
KC_LOSS_PERCENT=${KC_LOSS_PERCENT:-20}
KC_SYNC=0
# The cluster's failsafe_mode (on by default): with it, a primary cut off from etcd alone, or during an etcd
# outage, keeps writing under its peers' grants (docs/ha.md, "The etcd outage: failsafe grants"). A test
# that sets failsafe_mode=false sets KC_FAILSAFE=0.
KC_FAILSAFE=${KC_FAILSAFE:-1}
declare -a KC_KPID

kc_now() { date +%s%3N; }

kc_test_begin() {
    local why=""
    tap_plan "$1"
    tap_workdir
    chmod 755 "$TAP_WORKDIR"
    WRITERS_DIR=$TAP_WORKDIR
    trap 'kc_down >/dev/null 2>&1; rm -rf "$TAP_WORKDIR"' EXIT
    netns_available 2>/dev/null || why=$NETNS_UNAVAILABLE
    [ -n "$why" ] || [ -x /usr/lib/postgresql/15/bin/initdb ] || why="no PostgreSQL 15"
    [ -n "$why" ] || command -v etcdctl >/dev/null || why="no etcdctl (Debian's etcd-client)"
    [ -z "$why" ] && return 0
    while [ "$TAP_COUNT" -lt "$TAP_PLAN" ]; do tap_skip "$2" "$why"; done
    tap_done
    exit
}

kc_etcdctl() {
    netns_exec e1 timeout 3 etcdctl --endpoints "http://$KC_E1:2379" --command-timeout=2s "$@" 2>/dev/null
}

kc_leader() { kc_etcdctl get "/prodata/$KC_CLUSTER/leader" --print-value-only; }

kc_sql() {
    timeout 5 psql -X -q -At -h "$KC_DIR/$1/state" -p 5432 -U postgres -d postgres -c "$2" 2>/dev/null
}

# kc_addr NODE: the node's address, read once (a fault is made of few nft calls, none of them a lookup).
declare -A KC_ADDRS
kc_addr() {
    [ -n "${KC_ADDRS[$1]:-}" ] || KC_ADDRS[$1]=$(netns_addr "$1")
    echo "${KC_ADDRS[$1]}"
}

# kc_cut A B, kc_cut_oneway A B: netns_cut and netns_cut_oneway on the known addresses, A's side first.
kc_cut() {
    netns_drop_to "$1" "$2" "$(kc_addr "$2")" && netns_drop_from "$1" "$2" "$(kc_addr "$2")" &&
        netns_drop_to "$2" "$1" "$(kc_addr "$1")" && netns_drop_from "$2" "$1" "$(kc_addr "$1")"
}
kc_cut_oneway() { netns_drop_to "$1" "$2" "$(kc_addr "$2")" && netns_drop_from "$2" "$1" "$(kc_addr "$1")"; }

kc_keeper_start() {
    local node=$1
    netns_spawn "$node" env "PD_KF_PASSWORD=$KC_PASSWORD" sh -c \
        "cd '$KC_DIR/$node' && exec '$PRODATA' keeper --config prodata.conf >>keeper.log 2>&1"
    KC_KPID[${node#n}]=$NETNS_PID
}

# kc_keeper_kill NODE: SIGKILL to the keeper (continued first, should it be stopped) and its fence guard.
kc_keeper_kill() {
    local pid=${KC_KPID[${1#n}]:-} child
    [ -n "$pid" ] || return 0
    for child in $(ps -o pid= --ppid "$pid" 2>/dev/null); do kill -9 "$child" 2>/dev/null; done
    kill -CONT "$pid" 2>/dev/null
    kill -9 "$pid" 2>/dev/null
    wait "$pid" 2>/dev/null
    KC_KPID[${1#n}]=""
}

kc_postmaster() { head -1 "$KC_DIR/$1/data/postmaster.pid" 2>/dev/null; }

kc_healthy() {
    local leader
    leader=$(kc_leader)
    [ -n "$leader" ] && [ "$(kc_sql "$leader" 'select pg_is_in_recovery()')" = f ] &&
        [ "$(kc_sql "$leader" "select count(*) from pg_stat_replication where state = 'streaming'
            and application_name <> 'pg_basebackup'")" = 2 ] # a clone's WAL stream is not a standby
}

kc_wait_healthy() { poll_ok "$1" kc_healthy; }

kc_conf() {
    local node=$1
    mkdir -p "$KC_DIR/$node" && chown postgres: "$KC_DIR/$node"
    cat >"$KC_DIR/$node/prodata.conf" <<CONF
member_name = $node
etcd_endpoints = "http://$KC_E1:2379"
cluster_name = $KC_CLUSTER
data_dir = $KC_DIR/$node/data
state_dir = $KC_DIR/$node/state
pg_listen_address = $(kc_addr "$node")
pg_port = 5432
api_listen_address = $(kc_addr "$node")
api_port = 8008
replication_password_env = PD_KF_PASSWORD
CONF
    if [ -n "${KC_ARCHIVE:-}" ]; then # one archive directory every node reaches (a shared mount, in effect)
        mkdir -p "$KC_ARCHIVE" && chown postgres: "$KC_ARCHIVE" && echo "archive_dir = $KC_ARCHIVE" >>"$KC_DIR/$node/prodata.conf"
    fi
    if [ -n "${KC_ARCHIVE_KEY:-}" ]; then # an encrypted repository: its key file (the postgres account's)
        echo "archive_key_file = $KC_ARCHIVE_KEY" >>"$KC_DIR/$node/prodata.conf"
    fi
}

kc_up() {
    local node
    KC_DIR=$1
    mkdir -p "$KC_DIR" && chmod 755 "$KC_DIR"
    netns_up "$(netns_prefix)" e1 n1 n2 n3 client || return 1
    for node in e1 n1 n2 n3 client; do KC_ADDRS[$node]=$(netns_addr "$node"); done
    netns_etcd_start "$KC_DIR/etcd" $$ e1 >"$KC_DIR/etcd.log" 2>&1 || return 1
    KC_E1=$(kc_addr e1)
    KC_MULTI="host=$(kc_addr n1),$(kc_addr n2),$(kc_addr n3) port=5432,5432,5432 user=replicator dbname=postgres target_session_attrs=read-write"
    for node in n1 n2 n3; do kc_conf "$node"; done
    if [ -n "${KC_CONFIG:-}" ]; then
        # shellcheck disable=SC2086 # KC_CONFIG is a list of assignments
        (cd "$KC_DIR/n1" && netns_exec n1 timeout 20 "$PRODATA" cluster config set $KC_CONFIG >/dev/null) || return 1
    fi
    for node in n1 n2 n3; do kc_keeper_start "$node"; done
    export PGPASSWORD=$KC_PASSWORD
}

# kc_sync_check: after kc_up with synchronous_mode=on, whether the keeper manages synchronous_standby_names
# (KC_SYNC=1: losses are asserted with check_writes --sync), else 0: asynchronous, losses only reported.
kc_sync_check() {
    local leader names
    KC_SYNC=0
    leader=$(kc_leader)
    names=$(kc_sql "$leader" 'show synchronous_standby_names')
    [ -n "$names" ] && KC_SYNC=1
}

kc_down() {
    local i
    writer_stop multi direct 2>/dev/null
    for i in 1 2 3; do
        kc_keeper_kill "n$i"
        [ -n "$(kc_postmaster "n$i")" ] && kill -9 "$(kc_postmaster "n$i")" 2>/dev/null
    done
    [ -n "${KC_DIR:-}" ] && etcd_cluster_stop "$KC_DIR/etcd"
    [ -n "$NETNS_PREFIX" ] && netns_down "$NETNS_PREFIX"
}

# kc_table TABLE: the trial's table on the leader, owned by the role the writers log in as (which may create
# it: the writer's create table if not exists needs that right even when the table is there).
kc_table() {
    kc_sql "$(kc_leader)" "create table \"$1\" (n bigint not null, label text not null,
        at timestamptz not null default clock_timestamp(), primary key (label, n));
        alter table \"$1\" owner to replicator; grant create on schema public to replicator" >/dev/null
}

kc_other_standby() { # LEADER: a standby (not LEADER), the first by name
    local node
    for node in n1 n2 n3; do [ "$node" != "$1" ] && { echo "$node"; return; }; done
}

kc_etcd_stop() {
    local pid
    pid=$(cat "$KC_DIR/etcd/m1/pid")
    { kill -9 "$pid" && wait "$pid"; } 2>/dev/null
}
kc_etcd_restart() {
    etcd_member_start "$KC_DIR/etcd" m1 "m1=http://$KC_E1:2380"
    poll_ok 20 bash -c "ip netns exec $(netns_name e1) curl -s -m 1 http://$KC_E1:2379/health | grep -q true"
}

# kc_inject FAULT: what the fault does to the leader $KC_OLD (its node's address $KC_OLD_ADDR). Sets
# KC_EXPECT: failover (another node must take over), same (the same primary goes on), same_waiting (the same
# primary, its writes waiting until the heal: synchronous with no standby in reach), outage (no primary until
# it is undone: safety only), and KC_FENCED=1 when the old primary must be fenced.
kc_inject() {
    local s1 s2
    s1=$(kc_other_standby "$KC_OLD")
    s2=$(for n in n1 n2 n3; do [ "$n" != "$KC_OLD" ] && [ "$n" != "$s1" ] && echo "$n"; done)
    KC_EXPECT=failover KC_FENCED=1 KC_HOLD=$KC_OUTAGE_S
    # Cut off from etcd but not from its peers, or etcd out for all: with failsafe_mode the primary goes on
    # under its peers' grants (the same primary), without it it fences (a failover, or an outage).
    local etcd_cut=failover etcd_out=outage etcd_fenced=1
    [ "$KC_FAILSAFE" = 1 ] && etcd_cut=same etcd_out=same etcd_fenced=0
    case "$1" in
        isolate) netns_isolate "$KC_OLD" ;;
        cut_etcd) kc_cut "$KC_OLD" e1; KC_EXPECT=$etcd_cut KC_FENCED=$etcd_fenced ;;
        oneway) kc_cut_oneway "$KC_OLD" e1; KC_EXPECT=$etcd_cut KC_FENCED=$etcd_fenced ;;
        cut_peers) # synchronous: no standby can confirm a commit, so writes wait until the heal (docs/ha.md)
            kc_cut "$KC_OLD" "$s1" && kc_cut "$KC_OLD" "$s2"
            KC_EXPECT=same KC_FENCED=0
            [ "$KC_SYNC" = 1 ] && KC_EXPECT=same_waiting ;;
        standby_isolated) netns_isolate "$s1"; KC_EXPECT=same KC_FENCED=0 ;;
        loss) netns_loss "$KC_OLD" "$KC_LOSS_PERCENT"; KC_EXPECT=any KC_FENCED=0 ;;
        etcd_all) netns_isolate e1; KC_EXPECT=$etcd_out KC_FENCED=$etcd_fenced ;;
        etcd_restart) kc_etcd_stop; KC_EXPECT=$etcd_out KC_FENCED=$etcd_fenced ;;
        pmkill | pmkill_wal) kill -9 "$(kc_postmaster "$KC_OLD")"; KC_EXPECT=same KC_FENCED=0 KC_HOLD=0 ;;
        nodeloss)
            local pm
            pm=$(kc_postmaster "$KC_OLD")
            kc_keeper_kill "$KC_OLD"
            kill -9 "$pm" ;;
        sigstop) kill -STOP "${KC_KPID[${KC_OLD#n}]}" ;;
        # A planned switchover (not a fault): `prodata cluster switchover`, run from the client node in the
        # background (its answer in $KC_DIR/switchover.out), measured as a failover from its start.
        switchover)
            netns_spawn client "$PRODATA" cluster switchover --config "$KC_DIR/$KC_OLD/prodata.conf" \
                >"$KC_DIR/switchover.out" 2>&1
            KC_SWITCHOVER_PID=$NETNS_PID KC_FENCED=0 KC_HOLD=0 ;;
        *) echo "keepers.sh: no fault \"$1\"" >&2; return 1 ;;
    esac
}

kc_undo() {
    case "$1" in
        isolate | cut_etcd | oneway | cut_peers | loss) netns_heal "$KC_OLD" ;;
        standby_isolated) netns_heal "$(kc_other_standby "$KC_OLD")" ;;
        etcd_all) netns_heal e1 ;;
        etcd_restart) kc_etcd_restart ;;
        nodeloss) kc_keeper_start "$KC_OLD" ;;
        sigstop) kill -CONT "${KC_KPID[${KC_OLD#n}]}" ;;
        switchover)
            wait "$KC_SWITCHOVER_PID" ||
                KC_PROBLEMS="${KC_PROBLEMS:+$KC_PROBLEMS; }the switchover failed: $(tail -n 3 "$KC_DIR/switchover.out")"
            echo "  $(head -n 1 "$KC_DIR/switchover.out")" ;;
    esac
}

# kc_field NAME TEXT: the value of NAME=... in the check's summary or writer line.
kc_field() { grep -oE "(^| )$1=[^ ]+" <<<"$2" | head -1 | cut -d= -f2; }

# kc_late_acks FROM_MS TO_MS: acknowledgements of the direct writer by the old primary's address sent in
# [FROM_MS, TO_MS): the old primary took a write after its fence deadline.
kc_late_acks() {
    awk -F, -v server="$KC_OLD_ADDR:5432" -v from="$1" -v to="$2" \
        'NR > 1 && ($5 == "ok" || $5 == "unsure") && $7 == server && $3 >= from && $3 < to { c++ } END { print c + 0 }' \
        "$WRITERS_DIR/direct.csv"
}

# kc_late_detail FAULT_MS: when the direct writer's last acknowledgement by the old primary was sent and
# answered, and the multi-host writer's first by another server, in ms after the fault.
kc_late_detail() {
    local last first
    last=$(awk -F, -v server="$KC_OLD_ADDR:5432" -v f="$1" \
        'NR > 1 && ($5 == "ok" || $5 == "unsure") && $7 == server { s = $3 - f; d = $4 - f } END { print s "-" d }' \
        "$WRITERS_DIR/direct.csv")
    first=$(awk -F, -v server="$KC_OLD_ADDR:5432" -v f="$1" \
        'NR > 1 && $5 == "ok" && $7 != server && $3 >= f { print $4 - f; exit }' "$WRITERS_DIR/multi.csv")
    echo "the last at +$last ms after the fault was in force; the new primary's first acknowledgement at +${first:-none} ms"
}

# kc_trial FAULT TABLE: waits for a healthy cluster, starts the writers ("multi" in the client node through
# the multi-host conninfo, "direct" inside the leader's node to its own address), injects FAULT, waits for
# what it expects (a write acknowledged by another node, by any, or the fault's hold time), undoes it, waits
# for the cluster to be healthy again (the old primary rejoined), stops the writers and runs check_writes.
# KC_RESULT: "fault=F old=N new=N unavailability_ms= recovery_ms= longest_gap_ms= acknowledged= lost=
# split_brain= late_acks= rejoin_ms="; KC_UNSAFE: the safety promises broken (split brain, a write acknowledged
# by the old primary after its fence deadline, a row lost in synchronous mode), KC_PROBLEMS: the liveness ones
# (no new primary in time, no rejoin, a leader that moved when it should not); both empty: all kept.
kc_trial() {
    local fault=$1 table=$2 fault_ms in_force_ms new_server new="" undo_ms end_ms rejoin_ms=none late=0 check_args=()
    KC_PROBLEMS="" KC_UNSAFE="" KC_RESULT=""
    kc_wait_healthy 120 || { KC_PROBLEMS="the cluster was not healthy before the fault"; return 1; }
    KC_OLD=$(kc_leader)
    KC_OLD_ADDR=$(kc_addr "$KC_OLD")
    kc_table "$table" || { KC_PROBLEMS="could not create $table"; return 1; }
    rm -f "$WRITERS_DIR/multi.csv" "$WRITERS_DIR/direct.csv"
    writer_start multi client "$KC_MULTI" "$table"
    writer_start direct "$KC_OLD" "host=$KC_OLD_ADDR port=5432 user=replicator dbname=postgres" "$table"
    if ! writer_wait_ack multi 0 15 >/dev/null || ! writer_wait_ack direct 0 15 >/dev/null; then
        KC_PROBLEMS="the writers were not acknowledged before the fault: $(tail -qn 1 "$WRITERS_DIR/multi.csv" \
            "$WRITERS_DIR/direct.csv" "$WRITERS_DIR/multi.err" "$WRITERS_DIR/direct.err" 2>&1)"
        writer_stop multi direct
        return 1
    fi
    # pmkill_wal: WAL since the last checkpoint that crash recovery must replay (seconds of it).
    [ "$fault" = pmkill_wal ] && timeout 300 psql -X -q -h "$KC_DIR/$KC_OLD/state" -p 5432 -U postgres -d postgres \
        -c "create table \"${table}_wal\" as select g, repeat('x', 500) as pad from generate_series(1, $KC_WAL_ROWS) g" \
        >/dev/null 2>&1
    sleep 1
    fault_ms=$(kc_now)
    kc_inject "$fault" || { writer_stop multi direct; KC_PROBLEMS="could not inject $fault"; return 1; }
    # The fault is certainly in force from here (its nft rules or kills take a moment under load): the last
    # renewal the old primary's keeper could make started before this, its fence deadline is within ttl -
    # margin of it. Unavailability counts from fault_ms, before the fault began.
    in_force_ms=$(kc_now)
    case "$KC_EXPECT" in
        failover)
            if new_server=$(writer_wait_ack multi "$fault_ms" "$KC_FAILOVER_S" "$KC_OLD_ADDR:5432"); then
                new=$(for n in n1 n2 n3; do [ "$(kc_addr "$n"):5432" = "$new_server" ] && echo "$n"; done)
            else KC_PROBLEMS="no write acknowledged by another node within $KC_FAILOVER_S s"; fi ;;
        same | any)
            sleep "$KC_HOLD"
            writer_wait_ack multi "$(kc_now)" "$KC_FAILOVER_S" >/dev/null ||
                KC_PROBLEMS="no write acknowledged within $KC_FAILOVER_S s while the fault held" ;;
        outage | same_waiting) sleep "$KC_OUTAGE_S" ;;
    esac
    undo_ms=$(kc_now)
    kc_undo "$fault"
    [ "$KC_EXPECT" = outage ] && ! writer_wait_ack multi "$undo_ms" "$KC_FAILOVER_S" >/dev/null &&
        KC_PROBLEMS="no write acknowledged within $KC_FAILOVER_S s after etcd came back"
    [ "$KC_EXPECT" = same_waiting ] && ! writer_wait_ack multi "$undo_ms" "$KC_FAILOVER_S" >/dev/null &&
        KC_PROBLEMS="no write acknowledged within $KC_FAILOVER_S s after the heal"
    if kc_wait_healthy "$KC_REJOIN_S"; then rejoin_ms=$(($(kc_now) - undo_ms))
    else KC_PROBLEMS="${KC_PROBLEMS:+$KC_PROBLEMS; }the cluster not healthy again within $KC_REJOIN_S s of the undo"; fi
    { [ "$KC_EXPECT" = same ] || [ "$KC_EXPECT" = same_waiting ]; } && [ "$(kc_leader)" != "$KC_OLD" ] &&
        KC_PROBLEMS="${KC_PROBLEMS:+$KC_PROBLEMS; }the leader moved from $KC_OLD to $(kc_leader) (not expected)"
    sleep 1
    end_ms=$(kc_now)
    writer_stop multi direct
    if [ "$KC_FENCED" = 1 ]; then
        # fence_at = s + ttl - margin, s the last renewal's start, before the fault.
        local until=$end_ms
        [ "$KC_EXPECT" = outage ] && until=$undo_ms
        late=$(kc_late_acks $((in_force_ms + KC_TTL_MS - KC_FENCE_MARGIN_MS + KC_SLACK_MS)) "$until")
        [ "$late" = 0 ] || KC_UNSAFE="${KC_UNSAFE:+$KC_UNSAFE; }$late writes acknowledged by $KC_OLD after its fence deadline (sent $(kc_late_detail "$in_force_ms"))"
    fi
    [ "$KC_SYNC" = 1 ] && check_args=(--sync)
    writers_check client "$KC_MULTI" "$table" --fault-ms "$fault_ms" "${check_args[@]}" -- multi direct
    KC_CHECK=$OUT
    local summary multi_line
    summary=$(grep '^summary ' <<<"$OUT")
    multi_line=$(grep '^writer=multi ' <<<"$OUT")
    [ -n "$summary" ] || KC_PROBLEMS="${KC_PROBLEMS:+$KC_PROBLEMS; }check_writes: $(tail -2 <<<"$OUT")"
    [ "$(kc_field split_brain "$summary")" = 0 ] || KC_UNSAFE="${KC_UNSAFE:+$KC_UNSAFE; }split brain"
    [ "$KC_SYNC" = 1 ] && [ "$(kc_field lost "$summary")" != 0 ] &&
        KC_UNSAFE="${KC_UNSAFE:+$KC_UNSAFE; }acknowledged rows lost in synchronous mode"
    KC_RESULT="fault=$fault old=$KC_OLD new=${new:-$(kc_leader)} unavailability_ms=$(kc_field unavailability_ms "$multi_line")"
    KC_RESULT+=" recovery_ms=$(kc_field recovery_ms "$multi_line") longest_gap_ms=$(kc_field longest_gap_ms "$multi_line")"
    KC_RESULT+=" acknowledged=$(kc_field acknowledged "$summary") lost=$(kc_field lost "$summary")"
    KC_RESULT+=" split_brain=$(kc_field split_brain "$summary") late_acks=$late rejoin_ms=$rejoin_ms"
    KC_FAULT_MS=$fault_ms KC_UNDO_MS=$undo_ms
    [ -z "$KC_PROBLEMS" ] && [ -z "$KC_UNSAFE" ]
}
