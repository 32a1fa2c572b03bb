# keeper_local.sh - what the tests that run keepers on loopback share (keeper.sh, keeper_config.sh,
# keeper_lease.sh, haproxy.sh; the tests in network namespaces use keepers.sh): the etcd of the test with
# the checks that skip it, millisecond time, bounded waits, and the fence guard of node I. Sourced after
# tap.sh and etcd.sh; the test defines skip_all (its own label), W (its work directory), BIN and KPID.

# PostgreSQL 15, etcdctl and a one-member etcd in $W/etcd, or the whole test skipped; ENDPOINTS its URLs.
keeper_local_etcd() {
    [ -x "$BIN/initdb" ] || skip_all "no PostgreSQL 15 in $BIN"
    command -v etcdctl >/dev/null || skip_all "no etcdctl (Debian's etcd-client)"
    etcd_cluster_start "$W/etcd" 1 $$ >"$W/etcd.log" 2>&1 || skip_all "etcd does not start here"
    ENDPOINTS=$(cat "$W/etcd/endpoints")
    chmod 755 "$W" # the postgres account reaches the nodes' directories inside
}

now_ms() { date +%s%3N; }
seconds_since() { awk -v a="$1" -v b="$(now_ms)" 'BEGIN { printf "%.2f", (b - a) / 1000 }'; }

# wait_for SECONDS COMMAND...: 0 once COMMAND succeeds, trying every 100 ms; 1 after SECONDS.
wait_for() {
    local deadline=$(($(now_ms) + $1 * 1000))
    shift
    until "$@"; do
        [ "$(now_ms)" -ge "$deadline" ] && return 1
        sleep 0.1
    done
}

# The fence guard of node I: the keeper's child that is a prodata keeper too.
guard_kill() { [ -n "${KPID[$1]:-}" ] && pkill -9 -P "${KPID[$1]}" -f "prodata keeper" 2>/dev/null; }
