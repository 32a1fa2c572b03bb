#!/bin/bash
# etcd.sh - throwaway etcd clusters for tests, on free loopback ports in a directory of the test's own.
# Sourced (etcd_cluster_start / etcd_cluster_stop) or run:
#   tests/lib/etcd.sh start DIR [MEMBERS [OWNER_PID [tls]]]   MEMBERS defaults to 1
#   tests/lib/etcd.sh stop DIR
# start runs MEMBERS etcd members (Debian's etcd-server) under DIR/m1, DIR/m2, ... and returns once every one
# answers /health, within ETCD_START_SECONDS (default 20): DIR/endpoints then holds their client URLs, comma
# separated, and DIR/mN/url, DIR/mN/pid each member's. Short heartbeat and election timeouts keep a test's
# elections fast. When OWNER_PID is given, a watcher stops the cluster once that process is gone, so a test
# that crashes leaves no etcd behind. It exits 1 with the members' last log lines when etcd is missing or does
# not start: a test then skips, saying so. stop kills each member by its pid (checked to be an etcd of DIR)
# and removes DIR. With tls, clients speak https and must show a certificate (--client-cert-auth): a test CA,
# the members' certificate (for their addresses) and a client's are made in DIR/tls (ca.crt, client.crt,
# client.key).
#
# A member is described by files in DIR/mN: client and peer (its ports), host (the address it listens on and
# advertises; 127.0.0.1 when absent) and exec (a command prefix, one word a line, that etcd and the health
# probe run under; none when absent). etcd_cluster_start writes them for loopback members;
# netns_etcd_start (tests/lib/netns.sh) writes them for members each inside a network namespace of its own
# ("ip netns exec NS", host the namespace's address), then both call etcd_cluster_run.

ETCD_BIN=${ETCD_BIN:-etcd}

# A port nobody listens on, from 20000-29999 (outside the ephemeral range), not in DIR/ports yet.
etcd_free_port() {
    local dir=$1 port tries=0
    while [ $tries -lt 200 ]; do
        port=$((20000 + (RANDOM % 10000)))
        if ! grep -qx "$port" "$dir/ports" 2>/dev/null && ! (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then
            echo "$port" >>"$dir/ports"
            echo "$port"
            return 0
        fi
        tries=$((tries + 1))
    done
    echo "etcd.sh: no free port found" >&2
    return 1
}

# etcd_make_certs DIR: a CA, a certificate for the members (every DIR/m*/host, server and client use: the
# gateway inside etcd presents it to etcd's own gRPC server) and one for clients, in DIR/tls.
etcd_make_certs() {
    local tls=$1/tls name sans
    mkdir -p "$tls"
    sans=$(etcd_member_hosts "$1" | sort -u | sed 's/^/IP:/' | paste -sd,)
    openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 2 -subj /CN=prodata-test-ca \
        -keyout "$tls/ca.key" -out "$tls/ca.crt" 2>/dev/null || return 1
    printf 'subjectAltName=%s\nextendedKeyUsage=serverAuth,clientAuth\n' "$sans" >"$tls/server.ext"
    printf 'extendedKeyUsage=clientAuth\n' >"$tls/client.ext"
    for name in server client; do
        openssl req -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -subj "/CN=prodata-test-$name" \
            -keyout "$tls/$name.key" -out "$tls/$name.csr" 2>/dev/null &&
            openssl x509 -req -in "$tls/$name.csr" -CA "$tls/ca.crt" -CAkey "$tls/ca.key" -CAcreateserial \
                -days 2 -extfile "$tls/$name.ext" -out "$tls/$name.crt" 2>/dev/null || return 1
    done
}

# The members of DIR (m1, m2, ...: the folders with a client port), in order.
etcd_members() {
    local i=1
    while [ -e "$1/m$i/client" ]; do
        echo "m$i"
        i=$((i + 1))
    done
}

# etcd_member_host DIR NAME: the address member NAME listens on (DIR/NAME/host, or 127.0.0.1).
etcd_member_host() {
    if [ -s "$1/$2/host" ]; then cat "$1/$2/host"; else echo 127.0.0.1; fi
}

etcd_member_hosts() {
    local name
    for name in $(etcd_members "$1"); do etcd_member_host "$1" "$name"; done
}

# etcd_member_exec DIR NAME CMD...: runs CMD under the member's exec prefix (DIR/NAME/exec), or as is.
etcd_member_exec() {
    local dir=$1 name=$2 prefix=()
    shift 2
    [ -s "$dir/$name/exec" ] && mapfile -t prefix <"$dir/$name/exec"
    "${prefix[@]}" "$@"
}

# etcd_member_start DIR NAME CLUSTER [tls]: starts the member NAME described by DIR/NAME (see the top).
etcd_member_start() {
    local dir=$1 name=$2 cluster=$3 client peer host scheme=http tls_args=() prefix=()
    client=$(cat "$dir/$name/client")
    peer=$(cat "$dir/$name/peer")
    host=$(etcd_member_host "$dir" "$name")
    if [ "${4:-}" = tls ]; then
        scheme=https
        tls_args=(--cert-file "$dir/tls/server.crt" --key-file "$dir/tls/server.key"
            --trusted-ca-file "$dir/tls/ca.crt" --client-cert-auth)
    fi
    # Not through etcd_member_exec: a function sent to the background is a subshell, and $! must be etcd's pid
    # (the prefix, "ip netns exec NS", execs etcd in its own process).
    [ -s "$dir/$name/exec" ] && mapfile -t prefix <"$dir/$name/exec"
    "${prefix[@]}" "$ETCD_BIN" --name "$name" --data-dir "$dir/$name/data" "${tls_args[@]}" \
        --listen-client-urls "$scheme://$host:$client" --advertise-client-urls "$scheme://$host:$client" \
        --listen-peer-urls "http://$host:$peer" --initial-advertise-peer-urls "http://$host:$peer" \
        --initial-cluster "$cluster" --initial-cluster-token "prodata-test-$$" --initial-cluster-state new \
        --heartbeat-interval 50 --election-timeout 500 --logger zap --log-level warn \
        </dev/null >"$dir/$name/log" 2>&1 &
    echo $! >"$dir/$name/pid"
    echo "$scheme://$host:$client" >"$dir/$name/url"
}

etcd_cluster_start() {
    local dir=$1 members=${2:-1} owner=${3:-} tls=${4:-} i
    mkdir -p "$dir"
    for i in $(seq 1 "$members"); do
        mkdir -p "$dir/m$i"
        etcd_free_port "$dir" >"$dir/m$i/client" && etcd_free_port "$dir" >"$dir/m$i/peer" || return 1
    done
    etcd_cluster_run "$dir" "$owner" "$tls"
}

# etcd_cluster_run DIR [OWNER_PID [tls]]: starts the members described in DIR/m1, DIR/m2, ... as one new
# cluster and waits until each answers /health (probed under its exec prefix), as start does.
etcd_cluster_run() {
    local dir=$1 owner=${2:-} tls=${3:-} name cluster="" urls="" deadline curl_tls=()
    if ! command -v "$ETCD_BIN" >/dev/null 2>&1; then
        echo "etcd.sh: no etcd binary ($ETCD_BIN): install Debian's etcd-server (make deps)" >&2
        return 1
    fi
    if [ "$tls" = tls ]; then
        etcd_make_certs "$dir" || { echo "etcd.sh: openssl could not make the test certificates" >&2; return 1; }
        curl_tls=(--cacert "$dir/tls/ca.crt" --cert "$dir/tls/client.crt" --key "$dir/tls/client.key")
    fi
    for name in $(etcd_members "$dir"); do
        cluster="$cluster${cluster:+,}$name=http://$(etcd_member_host "$dir" "$name"):$(cat "$dir/$name/peer")"
    done
    for name in $(etcd_members "$dir"); do
        etcd_member_start "$dir" "$name" "$cluster" "$tls"
        urls="$urls${urls:+,}$(cat "$dir/$name/url")"
    done
    echo "$urls" >"$dir/endpoints"
    [ -n "$owner" ] && etcd_watch_owner "$dir" "$owner"
    deadline=$((SECONDS + ${ETCD_START_SECONDS:-20}))
    for name in $(etcd_members "$dir"); do
        until etcd_member_exec "$dir" "$name" curl -s -m 1 "${curl_tls[@]}" "$(cat "$dir/$name/url")/health" \
            2>/dev/null | grep -q '"health":"true"'; do
            if [ "$SECONDS" -ge "$deadline" ] || ! kill -0 "$(cat "$dir/$name/pid")" 2>/dev/null; then
                echo "etcd.sh: member $name did not become healthy; its log ends:" >&2
                tail -5 "$dir/$name/log" >&2
                return 1
            fi
            sleep 0.1
        done
    done
}

# Stops the cluster in DIR once the process OWNER is gone (or DIR was removed by a stop).
etcd_watch_owner() {
    local dir=$1 owner=$2
    (
        while kill -0 "$owner" 2>/dev/null && [ -d "$dir" ]; do sleep 0.5; done
        etcd_cluster_stop "$dir"
    ) </dev/null >/dev/null 2>&1 &
}

etcd_cluster_stop() {
    local dir=$1 pidfile pid
    [ -n "$dir" ] && [ -d "$dir" ] || return 0
    for pidfile in "$dir"/m*/pid; do
        [ -e "$pidfile" ] || continue
        pid=$(cat "$pidfile")
        if [[ "$pid" =~ ^[0-9]+$ ]] && tr '\0' '\n' 2>/dev/null <"/proc/$pid/cmdline" | grep -qxF -- "$(dirname "$pidfile")/data"; then
            kill -9 "$pid" 2>/dev/null
        fi
    done
    rm -rf "$dir"
}

if [ "${BASH_SOURCE[0]}" = "$0" ]; then
    case "${1:-}" in
        start) etcd_cluster_start "${2:?DIR}" "${3:-1}" "${4:-}" "${5:-}" ;;
        stop) etcd_cluster_stop "${2:?DIR}" ;;
        *) echo "usage: $0 start DIR [MEMBERS [OWNER_PID [tls]]] | stop DIR" >&2; exit 2 ;;
    esac
fi
