#!/bin/bash
# keeper_config.sh - the cluster configuration applied live by `prodata keeper` (a real etcd of its own,
# tests/lib/etcd.sh, a primary and a streaming standby on real PostgreSQL 15): an application role cannot
# connect over TCP
# until `cluster config set 'pg_hba+=...'` adds its rule, which the keeper writes after prodata's own and
# reloads; a parameter change (work_mem) is live on both nodes without a restart; shared_buffers shows up
# as pending restart in `cluster status` (the table and --json) and in the keeper's log once; a bad pg_hba
# line is refused by `config set` with its field named and nothing written; the primary publishes lag_s 0,
# the standby a number of seconds; a removed rule closes the access again. Skipped, counted, without etcd or PostgreSQL 15.
source tests/lib/tap.sh
source tests/lib/etcd.sh
source tests/lib/keeper_local.sh
tap_plan 19
tap_workdir
W=$TAP_WORKDIR
BIN=/usr/lib/postgresql/15/bin
KEEPER_LOCAL_LABEL="keeper configuration"
KEEPER_LOCAL_NAME=kc
KEEPER_LOCAL_NODES="1 2"
export ETCDCTL_API=3 PD_KEEPER_TEST_PASSWORD=kc-s3cret-Pa55 PGCONNECT_TIMEOUT=2
declare -a KPID PORT
RULE='host all app 127.0.0.1/32 scram-sha-256'

cleanup() {
    local i
    for i in 1 2; do
        [ -n "${KPID[$i]:-}" ] && kill "${KPID[$i]}" 2>/dev/null && wait "${KPID[$i]}" 2>/dev/null
        [ -f "$W/n$i/data/postmaster.pid" ] && kill -9 "$(head -1 "$W/n$i/data/postmaster.pid")" 2>/dev/null
    done
    etcd_cluster_stop "$W/etcd"
    rm -rf "$W"
}
trap cleanup EXIT

command -v jq >/dev/null || skip_all "no jq"
keeper_local_etcd
keeper_local_configs

# local_sql [I] SQL: one value from node I (1: the primary) as its superuser over its socket.
local_sql() {
    local i=1
    [ $# = 2 ] && i=$1 && shift
    psql -X -q -At -h "$W/n$i/state" -p "${PORT[$i]}" -U postgres -d postgres -c "$1" 2>/dev/null
}
# app_sql: the application role over TCP with its password (what pg_hba.conf must let in).
app_sql() { PGPASSWORD=app-pa55word psql -X -q -At -h 127.0.0.1 -p "${PORT[1]}" -U app -d postgres -c "SELECT 'in'" 2>&1; }
app_in() { [ "$(app_sql)" = in ]; }
app_out() { app_sql | grep -q 'no pg_hba.conf entry'; }
postmaster() { head -1 "$W/n1/data/postmaster.pid" 2>/dev/null; }
revision() { cluster config --json | jq -r .mod_revision; }

cluster config set postgresql_parameters.fsync=off postgresql_parameters.shared_buffers=16MB \
    postgresql_parameters.max_connections=30 >/dev/null 2>&1 || tap_fail_all "the cluster configuration could not be set"
start_keeper 1
primary_up() { [ "$(local_sql 'SELECT pg_is_in_recovery()')" = f ]; }
if wait_for 60 primary_up; then tap_ok "the first keeper bootstraps a primary"
else tap_not_ok "the first keeper bootstraps a primary" "$(tail -n 5 "$W/n1/keeper.log")"; skip_all "no primary"; fi
start_keeper 2
standby_streams() { [ "$(local_sql "SELECT count(*) FROM pg_stat_replication WHERE application_name = 'n2' AND state = 'streaming'")" = 1 ]; }
if wait_for 60 standby_streams; then tap_ok "the second keeper clones a streaming standby"
else tap_not_ok "the second keeper clones a streaming standby" "$(tail -n 5 "$W/n2/keeper.log")"; fi
local_sql "CREATE ROLE app LOGIN PASSWORD 'app-pa55word'" >/dev/null

# ---- pg_hba: a client rule added live ----------------------------------------------------------------------
if app_out; then tap_ok "before: the application role is refused over TCP (no pg_hba.conf entry)"
else tap_not_ok "before: the application role is refused over TCP" "$(app_sql)"; fi
PID0=$(postmaster)
run_cmd cluster config set "pg_hba+=$RULE"
expect_rc "config set 'pg_hba+=host all app 127.0.0.1/32 scram-sha-256' is accepted" 0
if wait_for 10 app_in; then tap_ok "after: the application role connects over TCP with its password"
else tap_not_ok "after: the application role connects over TCP" "$(app_sql)" "$(tail -n 5 "$W/n1/keeper.log")"; fi
expect_eq "the rule is written after prodata's own (the last line of pg_hba.conf)" \
    "$(tail -n 1 "$W/n1/data/pg_hba.conf")" "$RULE"

# ---- a parameter live, one pending restart -----------------------------------------------------------------
cluster config set postgresql_parameters.work_mem=64MB >/dev/null 2>&1
work_mem_live() { [ "$(local_sql 1 'SHOW work_mem') $(local_sql 2 'SHOW work_mem')" = "64MB 64MB" ]; }
if wait_for 10 work_mem_live; then tap_ok "work_mem=64MB is live on both nodes"
else tap_not_ok "work_mem=64MB is live on both nodes" "$(local_sql 1 'SHOW work_mem') $(local_sql 2 'SHOW work_mem')"; fi
expect_eq "without a restart (the same postmaster)" "$(postmaster)" "$PID0"
cluster config set postgresql_parameters.shared_buffers=32MB >/dev/null 2>&1
pending() { cluster status --json 2>/dev/null | jq -c '[.members[] | [.name, .pending_restart]]'; }
shows_pending() { [ "$(pending)" = '[["n1",["shared_buffers"]],["n2",["shared_buffers"]]]' ]; }
if wait_for 10 shows_pending; then tap_ok "cluster status --json: pending_restart [\"shared_buffers\"] on both members"
else tap_not_ok "cluster status --json: pending_restart" "$(pending)"; fi
run_cmd cluster status
expect_out "cluster status: the member's pending restart named" "^n1: pending restart: shared_buffers"
expect_out "cluster status: the standby's lag_s (a number of seconds)" "^n2 +standby +running +127.0.0.1:${PORT[2]} +1 +[0-9]+ +[0-9]+\.[0-9]{3} "
expect_eq "shared_buffers is not restarted on its own" "$(local_sql 'SHOW shared_buffers') $(postmaster)" "16MB $PID0"
sleep 2
expect_eq "the keeper logs the pending restart once" \
    "$(grep -c 'must be restarted to apply shared_buffers' "$W/n1/keeper.log")" 1
run_cmd cluster status --json
expect_eq "the primary's lag_s is 0, not null" "$(jq -c '.members[] | select(.name == "n1") | .lag_s' <<<"$OUT")" 0
expect_eq "the standby's lag_s is a number" "$(jq -c '.members[] | select(.name == "n2") | .lag_s | type' <<<"$OUT")" '"number"' 

# ---- a bad line refused, a rule removed ----------------------------------------------------------------------
REV=$(revision)
run_cmd cluster config set 'pg_hba+=host all app 127.0.0.1 scram-sha-256'
expect_rc "a pg_hba line without its mask is refused (exit 2)" 2
expect_out "the refusal names the field" "pg_hba\[1\]: 5 fields, a host line needs 6"
expect_eq "nothing written" "$(revision)" "$REV"
cluster config set "pg_hba-=$RULE" >/dev/null 2>&1
if wait_for 10 app_out; then tap_ok "pg_hba-= removes the rule: the application role is refused again"
else tap_not_ok "pg_hba-= removes the rule" "$(app_sql)"; fi
tap_done
