#!/bin/bash
# netns.sh - a test's own little network of Linux network namespaces, and real faults in it (nftables).
# Sourced by fault tests, or run (see the end: down PREFIX, stale, list).
#
# netns_up PREFIX N1 N2 ... makes one namespace per node, named PREFIX-N1, PREFIX-N2, ..., each with lo up and
# one veth (eth0) to a bridge that lives in a namespace of its own, PREFIX-sw: node i (in the order given)
# gets 10.231.R.i/24, R derived from PREFIX. Nothing touches the root namespace: no route, address, link or
# firewall rule of the machine changes (the veth pairs are made inside PREFIX-sw and their node ends moved
# straight into the nodes), so a test's network reaches neither the host's nor another run's. Faults are
# nftables rules in the node namespaces (table inet prodata_fault), each tagged with what it is about, so that
# netns_heal NAME undoes every fault that involves NAME, on both sides:
#   netns_isolate NAME          everything in and out of NAME dropped (lo excepted)
#   netns_cut A B               packets between A and B dropped, both ways
#   netns_cut_oneway A B        A's packets to B dropped; B's packets to A pass
#   netns_loss NAME PERCENT     each packet in or out of NAME dropped with probability PERCENT/100
#   netns_heal NAME             the faults above that involve NAME removed
# A dropped packet is dropped silently (no reset, no ICMP): a peer sees a dead network, not a refusal.
# netns_down PREFIX deletes every namespace named PREFIX-* (the processes still inside killed by pid first):
# idempotent, it finds leftovers of an earlier run with the same prefix; call it from the test's EXIT trap.
# netns_prefix prints a prefix for this run, pdn<pid>: netns_down_stale removes the namespaces of every
# pdn<pid> prefix whose process is gone. Every ip and nft command runs under timeout (NETNS_TIMEOUT seconds,
# default 10). Needs root, ip netns (iproute2) and nft (nftables): netns_available says whether they are
# here and, when not, why (in NETNS_UNAVAILABLE), so a test can skip its checks and say why.

NETNS_TIMEOUT=${NETNS_TIMEOUT:-10}
NETNS_PREFIX=${NETNS_PREFIX:-}
NETNS_UNAVAILABLE=""
NETNS_TABLE=prodata_fault

# netns_available: 0 when namespaces and nftables can be used here; otherwise 1, the reason in
# NETNS_UNAVAILABLE (and on stderr).
netns_available() {
    local probe
    if [ "$(id -u)" != 0 ]; then
        NETNS_UNAVAILABLE="network namespaces need root"
    elif ! command -v ip >/dev/null 2>&1 || ! command -v nft >/dev/null 2>&1; then
        NETNS_UNAVAILABLE="ip (iproute2) or nft (nftables) is missing: make deps installs them"
    else
        probe="pdnprobe$$"
        if ! timeout "$NETNS_TIMEOUT" ip netns add "$probe" 2>/dev/null; then
            NETNS_UNAVAILABLE="ip netns add fails here (no CAP_SYS_ADMIN?)"
        elif ! timeout "$NETNS_TIMEOUT" ip netns exec "$probe" nft add table inet probe 2>/dev/null; then
            NETNS_UNAVAILABLE="nft cannot add a table in a namespace (no nf_tables in this kernel?)"
        fi
        timeout "$NETNS_TIMEOUT" ip netns del "$probe" 2>/dev/null
    fi
    [ -z "$NETNS_UNAVAILABLE" ] && return 0
    echo "netns.sh: $NETNS_UNAVAILABLE" >&2
    return 1
}

netns_prefix() {
    echo "pdn$$"
}

# Runs one ip or nft command within the time bound.
netns_cmd() {
    timeout "$NETNS_TIMEOUT" "$@"
}

netns_check_prefix() {
    [[ "$1" =~ ^[a-z][a-z0-9]{0,11}$ ]] && return 0
    echo "netns.sh: prefix \"$1\": want a lower-case letter then up to 11 letters or digits" >&2
    return 1
}

# The third byte of the run's addresses, from its prefix: 10.231.R.0/24.
netns_subnet_byte() {
    echo $(($(cksum <<<"$1" | cut -d' ' -f1) % 250 + 1))
}

# The namespace of node NAME in this run.
netns_name() {
    echo "$NETNS_PREFIX-$1"
}

# The base ruleset of a node: lo always passes; faults are added after it.
netns_base_rules() {
    cat <<RULES
table inet $NETNS_TABLE
delete table inet $NETNS_TABLE
table inet $NETNS_TABLE {
    chain input { type filter hook input priority 0; policy accept; iif lo accept; }
    chain output { type filter hook output priority 0; policy accept; oif lo accept; }
}
RULES
}

# netns_add_node INDEX NAME BYTE: namespace, lo, the veth pair made in the switch, address, base rules.
netns_add_node() {
    local index=$1 name=$2 byte=$3 ns sw
    ns=$(netns_name "$name")
    sw=$(netns_name sw)
    netns_cmd ip netns add "$ns" &&
        netns_cmd ip -n "$ns" link set lo up &&
        netns_cmd ip -n "$sw" link add "p$index" type veth peer name eth0 netns "$ns" &&
        netns_cmd ip -n "$sw" link set "p$index" master br0 &&
        netns_cmd ip -n "$sw" link set "p$index" up &&
        netns_cmd ip -n "$ns" addr add "10.231.$byte.$index/24" dev eth0 &&
        netns_cmd ip -n "$ns" link set eth0 up &&
        netns_base_rules | netns_cmd ip netns exec "$ns" nft -f -
}

# netns_up PREFIX NODE...: the run's switch and one namespace per NODE (names: letters, digits, "_").
netns_up() {
    local prefix=$1 index=0 name byte sw
    shift
    netns_check_prefix "$prefix" || return 1
    netns_available || return 1
    [ $# -ge 1 ] && [ $# -le 250 ] || { echo "netns.sh: netns_up PREFIX NODE... (1 to 250 nodes)" >&2; return 1; }
    NETNS_PREFIX=$prefix
    byte=$(netns_subnet_byte "$prefix")
    sw=$(netns_name sw)
    if ! { netns_cmd ip netns add "$sw" && netns_cmd ip -n "$sw" link set lo up &&
        netns_cmd ip -n "$sw" link add br0 type bridge && netns_cmd ip -n "$sw" link set br0 up; }; then
        echo "netns.sh: could not make the switch namespace $sw" >&2
        return 1
    fi
    for name in "$@"; do
        index=$((index + 1))
        if [[ ! "$name" =~ ^[A-Za-z0-9_]+$ ]] || [ "$name" = sw ]; then
            echo "netns.sh: node name \"$name\": letters, digits and _ only, and not sw" >&2
            return 1
        fi
        netns_add_node "$index" "$name" "$byte" || { echo "netns.sh: could not make node $name" >&2; return 1; }
    done
}

# netns_exec NAME CMD...: runs CMD inside node NAME's namespace, as root, not bounded in time: bound CMD
# yourself when it may hang (timeout, curl -m). A daemon is started with netns_spawn.
netns_exec() {
    local name=$1
    shift
    ip netns exec "$(netns_name "$name")" "$@"
}

# netns_spawn NAME CMD...: starts CMD in the background inside node NAME; NETNS_PID is CMD's own pid
# ("netns_exec NAME CMD &" would give the pid of a subshell: a signal to it would not reach CMD).
netns_spawn() {
    local name=$1
    shift
    ip netns exec "$(netns_name "$name")" "$@" &
    NETNS_PID=$!
}

# netns_addr NAME: node NAME's IPv4 address.
netns_addr() {
    netns_cmd ip -n "$(netns_name "$1")" -4 -o addr show dev eth0 | awk '{ split($4, a, "/"); print a[1]; exit }'
}

# netns_nft NAME RULES: applies an nft script in node NAME.
netns_nft() {
    netns_cmd ip netns exec "$(netns_name "$1")" nft -f - <<<"$2"
}

netns_isolate() {
    netns_nft "$1" "add rule inet $NETNS_TABLE input drop comment \"isolate\"
add rule inet $NETNS_TABLE output drop comment \"isolate\""
}

# netns_drop_from NAME PEER_NAME PEER_ADDR: NAME drops what comes from PEER_ADDR.
netns_drop_from() {
    netns_nft "$1" "add rule inet $NETNS_TABLE input ip saddr $3 drop comment \"with $2\""
}

# netns_drop_to NAME PEER_NAME PEER_ADDR: NAME drops what it sends to PEER_ADDR.
netns_drop_to() {
    netns_nft "$1" "add rule inet $NETNS_TABLE output ip daddr $3 drop comment \"with $2\""
}

netns_cut() {
    local a=$1 b=$2 addr_a addr_b
    addr_a=$(netns_addr "$a") && addr_b=$(netns_addr "$b") && [ -n "$addr_a" ] && [ -n "$addr_b" ] || return 1
    netns_drop_to "$a" "$b" "$addr_b" && netns_drop_from "$a" "$b" "$addr_b" &&
        netns_drop_to "$b" "$a" "$addr_a" && netns_drop_from "$b" "$a" "$addr_a"
}

# netns_cut_oneway A B: dropped as A sends them and, should A's rule go, as B receives them.
netns_cut_oneway() {
    local a=$1 b=$2 addr_a addr_b
    addr_a=$(netns_addr "$a") && addr_b=$(netns_addr "$b") && [ -n "$addr_a" ] && [ -n "$addr_b" ] || return 1
    netns_drop_to "$a" "$b" "$addr_b" && netns_drop_from "$b" "$a" "$addr_a"
}

netns_loss() {
    local name=$1 percent=$2
    [[ "$percent" =~ ^[0-9]+$ ]] && [ "$percent" -le 100 ] || {
        echo "netns.sh: loss percent \"$percent\": 0 to 100" >&2; return 1; }
    netns_nft "$name" "add rule inet $NETNS_TABLE input numgen random mod 100 < $percent drop comment \"loss\"
add rule inet $NETNS_TABLE output numgen random mod 100 < $percent drop comment \"loss\""
}

# The nodes of this run (the namespaces named PREFIX-*, the switch excepted).
netns_nodes() {
    netns_cmd ip netns list | awk -v prefix="$NETNS_PREFIX-" \
        'index($1, prefix) == 1 { name = substr($1, length(prefix) + 1); if (name != "sw") print name }'
}

# netns_heal_peer NAME PEER: removes from NAME the rules tagged "with PEER" (by their handles).
netns_heal_peer() {
    local ns chain handle
    ns=$(netns_name "$1")
    for chain in input output; do
        for handle in $(netns_cmd ip netns exec "$ns" nft -a list chain inet "$NETNS_TABLE" "$chain" |
            awk -v tag="comment \"with $2\"" 'index($0, tag) { print $NF }'); do
            netns_cmd ip netns exec "$ns" nft delete rule inet "$NETNS_TABLE" "$chain" handle "$handle" || return 1
        done
    done
}

netns_heal() {
    local name=$1 other
    netns_base_rules | netns_cmd ip netns exec "$(netns_name "$name")" nft -f - || return 1
    for other in $(netns_nodes); do
        [ "$other" = "$name" ] || netns_heal_peer "$other" "$name" || return 1
    done
}

# netns_etcd_start DIR OWNER_PID NODE...: one etcd member per NODE, inside NODE's namespace, on its address
# (client port 2379, peer port 2380: each namespace has ports of its own), as one cluster described in DIR as
# tests/lib/etcd.sh describes (source it first; DIR/endpoints, DIR/mN/{url,pid}; stop it with
# etcd_cluster_stop DIR). The cluster answers only inside the run's network: reach it with netns_exec.
netns_etcd_start() {
    local dir=$1 owner=$2 index=0 name
    shift 2
    declare -F etcd_cluster_run >/dev/null || { echo "netns.sh: source tests/lib/etcd.sh first" >&2; return 1; }
    for name in "$@"; do
        index=$((index + 1))
        mkdir -p "$dir/m$index"
        echo 2379 >"$dir/m$index/client"
        echo 2380 >"$dir/m$index/peer"
        netns_addr "$name" >"$dir/m$index/host" && [ -s "$dir/m$index/host" ] || return 1
        printf '%s\n' ip netns exec "$(netns_name "$name")" >"$dir/m$index/exec"
        echo "$name" >"$dir/m$index/node"
    done
    etcd_cluster_run "$dir" "$owner"
}

# netns_wait_empty NS: waits (up to NETNS_TIMEOUT) until no process is left in namespace NS.
netns_wait_empty() {
    local deadline=$((SECONDS + NETNS_TIMEOUT))
    while [ -n "$(netns_cmd ip netns pids "$1" 2>/dev/null)" ] && [ "$SECONDS" -lt "$deadline" ]; do
        sleep 0.05
    done
}

# netns_down PREFIX: kills the processes left in the run's namespaces (by pid) and deletes them.
netns_down() {
    local prefix=${1:-$NETNS_PREFIX} ns pid
    netns_check_prefix "$prefix" || return 1
    command -v ip >/dev/null 2>&1 || return 0
    for ns in $(netns_cmd ip netns list 2>/dev/null | awk -v p="$prefix-" 'index($1, p) == 1 { print $1 }'); do
        for pid in $(netns_cmd ip netns pids "$ns" 2>/dev/null); do
            kill -9 "$pid" 2>/dev/null
        done
        netns_wait_empty "$ns"
        netns_cmd ip netns del "$ns" 2>/dev/null
    done
    ! netns_cmd ip netns list 2>/dev/null | awk -v p="$prefix-" 'index($1, p) == 1 { found = 1 } END { exit !found }'
}

# netns_down_stale: netns_down for every pdn<pid> prefix whose process is gone.
netns_down_stale() {
    local prefix
    for prefix in $(netns_cmd ip netns list 2>/dev/null | sed -nE 's/^(pdn[0-9]+)-.*/\1/p' | sort -u); do
        kill -0 "${prefix#pdn}" 2>/dev/null || netns_down "$prefix"
    done
}

if [ "${BASH_SOURCE[0]}" = "$0" ]; then
    case "${1:-}" in
        down) netns_down "${2:?PREFIX}" ;;
        stale) netns_down_stale ;;
        list) ip netns list | grep -E '^[a-z][a-z0-9]*-' ;;
        *) echo "usage: $0 down PREFIX | stale | list" >&2; exit 2 ;;
    esac
fi
