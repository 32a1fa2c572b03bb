#!/bin/bash
# keeper_reinit.sh - the member that initialised the cluster loses its data directory (a replaced disk) while
# no leader runs (both keepers stopped, the last primary being the other member): started again, it must
# wait for a leader to clone, not run initdb and take the leader key with an empty second cluster (docs/ha.md:
# "a node with an empty data directory that finds [the initialize key], and no leader, waits"). Before the
# fix it did, and the former primary, started next, found a leader of another system, could not rewind onto
# it and was cloned from it: every row gone. Two `prodata keeper`s on loopback, a real etcd and PostgreSQL 15;
# skipped, counted, without them.
source tests/lib/tap.sh
source tests/lib/etcd.sh
source tests/lib/keeper_local.sh
tap_plan 5
tap_workdir
W=$TAP_WORKDIR
BIN=/usr/lib/postgresql/15/bin
KEEPER_LOCAL_LABEL="keeper reinit"
KEEPER_LOCAL_NAME=ki
KEEPER_LOCAL_NODES="1 2"
KEEPER_LOCAL_LOGS=keeper-reinit
export ETCDCTL_API=3 PD_KEEPER_TEST_PASSWORD=ki-s3cret-Pa55 PGCONNECT_TIMEOUT=2
declare -a KPID PORT

trap cleanup EXIT

keeper_local_etcd

keeper_local_configs
(cd "$W/n1" && "$PRODATA" cluster config set postgresql_parameters.fsync=off postgresql_parameters.shared_buffers=16MB \
    postgresql_parameters.max_connections=20 >/dev/null) || tap_fail_all "the cluster configuration could not be set"

start_keeper 1
wait_for 60 primary_is 1 || tap_fail_all "n1 did not bootstrap a primary: $(tail -n 3 "$W/n1/keeper.log")"
start_keeper 2
if wait_for 90 streams_from 1; then tap_ok "bootstrap: n1 initialised the cluster, n2 streams from it"
else tap_not_ok "bootstrap: n1 initialised the cluster, n2 streams from it" "$(tail -n 5 "$W"/n*/keeper.log)"; fi
local_sql 1 "CREATE TABLE t (n int); INSERT INTO t SELECT generate_series(1, 100)" >/dev/null

# ---- n2 becomes the primary, then both keepers stop ---------------------------------------------------------
stop_keeper 1
if wait_for 30 primary_is 2 && [ "$(local_sql 2 'INSERT INTO t SELECT generate_series(101, 200) RETURNING 1' | wc -l)" = 100 ]; then
    tap_ok "n1's keeper stopped: n2 took over and took 100 more rows"
else
    tap_not_ok "n1's keeper stopped: n2 took over" "leader: $(etcd_value leader)" "$(tail -n 5 "$W/n2/keeper.log")"
fi
stop_keeper 2

# ---- n1's data directory lost; n1 started alone, with no leader ------------------------------------------------
INITS=$(grep -c "initialising the cluster's first primary" "$W/n1/keeper.log")
rm -rf "$W/n1/data"
start_keeper 1
n1_waits() { etcd_value members/n1 | grep -q '"waiting_for":"a leader to clone'; }
wait_for 20 n1_waits
expect_eq "n1, its data directory lost, runs no initdb and takes no leader key (it waits for a leader)" \
    "$(grep -c "initialising the cluster's first primary" "$W/n1/keeper.log") $(etcd_value leader)" "$INITS "

# ---- n2 back: it leads again with every row, n1 clones it -----------------------------------------------------
start_keeper 2
if wait_for 60 primary_is 2 && [ "$(local_sql 2 'SELECT count(*) FROM t')" = 200 ]; then
    tap_ok "n2 leads again with the 200 rows"
else
    tap_not_ok "n2 leads again with the 200 rows" "leader: $(etcd_value leader)" "rows on n2: $(local_sql 2 'SELECT count(*) FROM t')" \
        "$(tail -n 5 "$W/n2/keeper.log")"
fi
if wait_for 90 streams_from 2 && [ "$(local_sql 1 'SELECT count(*) FROM t')" = 200 ]; then
    tap_ok "n1 cloned n2 and streams from it, the 200 rows there"
else
    tap_not_ok "n1 cloned n2 and streams from it" "rows on n1: $(local_sql 1 'SELECT count(*) FROM t')" "$(tail -n 5 "$W/n1/keeper.log")"
fi
tap_done
