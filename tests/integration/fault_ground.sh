#!/bin/bash
# fault_ground.sh - the fault tests' ground seen whole, before any keeper: a PostgreSQL primary (n1) and a
# streaming standby (n2), each in a namespace of its own (tests/lib/netns.sh), two writers (tests/lib/
# writers.sh): "multi" in the client node through a multi-host conninfo, "local" inside n1 on n1's own
# address. n1 is isolated and n2 promoted by hand, with nothing to fence n1: the multi-host writer moves to
# n2, the local one goes on writing to n1, and check_writes must see what a cluster manager has to prevent:
# split brain between n1 on timeline 1 and n2 on timeline 2, acknowledged rows lost, and the unavailability
# of the failover. Needs root (skipped and counted as a user).
source tests/lib/pg.sh
source tests/lib/tap.sh
source tests/lib/netns.sh
source tests/lib/writers.sh
tap_plan 8
tap_workdir
chmod 755 "$TAP_WORKDIR"
W=$TAP_WORKDIR
WRITERS_DIR=$W
PREFIX=$(netns_prefix)
PGD="$W/pg" # the nodes' data directories, owned by postgres
now_ms() { date +%s%3N; }
# as_pg NODE CMD...: CMD as the postgres account inside node NODE, within 60 s.
as_pg() {
    local node=$1
    shift
    netns_exec "$node" runuser -u postgres -- timeout 60 "$@"
}
stop_nodes() {
    local node
    for node in n1 n2; do
        [ -f "$PGD/$node/postmaster.pid" ] && as_pg "$node" "$PGBIN/pg_ctl" -D "$PGD/$node" -m immediate -w stop
    done
}
trap 'writer_stop multi local; stop_nodes >/dev/null 2>&1; netns_down "$PREFIX"; rm -rf "$TAP_WORKDIR"' EXIT

if ! netns_available 2>/dev/null; then
    while [ "$TAP_COUNT" -lt "$TAP_PLAN" ]; do tap_skip "a partition without fencing" "$NETNS_UNAVAILABLE"; done
    tap_done
    exit
fi
netns_up "$PREFIX" n1 n2 client || exit 1
A1=$(netns_addr n1) A2=$(netns_addr n2)

# node_conf NODE: the node's address and its own socket directory, WAL for a standby, trust on the test's net.
node_conf() {
    mkdir -p "$PGD/$1.sock" && chown postgres: "$PGD/$1.sock"
    cat >>"$PGD/$1/postgresql.auto.conf" <<CONF
listen_addresses = '$(netns_addr "$1")'
port = 5432
unix_socket_directories = '$PGD/$1.sock'
fsync = off
wal_level = replica
max_wal_senders = 5
log_min_messages = warning
CONF
}
mkdir -p "$PGD" && chown postgres: "$PGD"
runuser -u postgres -- "$PGBIN/initdb" -D "$PGD/n1" -U postgres --auth=trust --no-sync >"$W/initdb.log" 2>&1
printf 'host all all 10.231.0.0/16 trust\nhost replication all 10.231.0.0/16 trust\n' >>"$PGD/n1/pg_hba.conf"
node_conf n1
as_pg n1 "$PGBIN/pg_ctl" -D "$PGD/n1" -l "$PGD/n1.log" -w start >/dev/null
as_pg n2 "$PGBIN/pg_basebackup" -h "$A1" -p 5432 -U postgres -D "$PGD/n2" -R -X stream --no-sync >"$W/basebackup.log" 2>&1
node_conf n2
as_pg n2 "$PGBIN/pg_ctl" -D "$PGD/n2" -l "$PGD/n2.log" -w start >/dev/null
ON_N1="host=$A1 port=5432 user=postgres dbname=postgres"
ON_N2="host=$A2 port=5432 user=postgres dbname=postgres"
streaming() {
    [ "$(netns_exec client timeout 5 psql -X -At -d "$ON_N1" -c \
        "select count(*) from pg_stat_replication where state = 'streaming' and application_name <> 'pg_basebackup'" 2>/dev/null)" = 1 ]
}
check "a primary in n1, a standby in n2 streaming from it over the test's network (within 20 s)" \
    poll_ok 20 streaming

netns_exec client timeout 10 psql -X -q -d "$ON_N1" \
    -c "create table fg (n bigint not null, label text not null, at timestamptz not null default clock_timestamp(), primary key (label, n))"
writer_start multi client "host=$A1,$A2 port=5432,5432 user=postgres dbname=postgres target_session_attrs=read-write" fg
writer_start local n1 "$ON_N1" fg
if writer_wait_ack multi 0 10 >/dev/null && writer_wait_ack local 0 10 >/dev/null; then
    tap_ok "both writers are acknowledged by n1"
else tap_not_ok "both writers are acknowledged by n1" "$(tail -3 "$W/multi.csv" "$W/local.csv")"; fi

FAULT=$(now_ms)
netns_isolate n1
as_pg n2 "$PGBIN/pg_ctl" -D "$PGD/n2" -w promote >/dev/null
run_cmd writer_wait_ack multi "$FAULT" 30 "$A1:5432"
expect_eq "n1 isolated, n2 promoted: the multi-host writer is acknowledged by n2 (within 30 s)" "$OUT" "$A2:5432"
run_cmd writer_wait_ack local "$FAULT" 5
expect_eq "nothing fences n1: its local writer is still acknowledged there" "$OUT" "$A1:5432"
sleep 1
writer_stop multi local

writers_check client "$ON_N2" fg --fault-ms "$FAULT" --sync -- multi local
sed 's/^/# /' <<<"$OUT" # the checker's report, kept in the test's log
expect_rc "check_writes fails the run" 1
expect_out "it names the split brain: n1 on timeline 1 still took writes after n2's first on timeline 2" \
    "^split brain: $A1:5432 \(timeline 1, .* after the first write of $A2:5432 \(timeline 2, "
expect_out "it counts the local writer's acknowledged rows missing on n2 as lost" "^summary writers=2 acknowledged=[0-9]+ lost=[1-9][0-9]* split_brain=1$"
expect_out "and measures the multi-host writer's unavailability" "^writer=multi .* unavailability_ms=[0-9]+ "
tap_done
