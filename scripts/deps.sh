#!/bin/sh
# Installs the Debian packages prodata needs that are missing, with apt-get,
# as root or through sudo. Idempotent and quiet when nothing is missing.
# PRODATA_DEPS_EXTRA adds packages (the benchmarks' reference systems).
# clang-format serves `make format` and `make format-check`; libclang-rt-14-dev
# holds clang's libFuzzer and sanitizer runtimes, which `make fuzz` links.
# libmicrohttpd-dev serves `prodata serve`; curl drives its tests over real HTTP; libzstd-dev compresses
# archived WAL (`prodata wal-push`).
# libcurl4-openssl-dev: the keeper's etcd client; etcd-server and etcd-client: the etcd its tests start.
# iproute2 (ip netns) and nftables: the fault tests' own networks and their partitions (tests/lib/netns.sh).
# haproxy: the load balancer in front of the keepers' API in tests/integration/haproxy.sh.
# jq reads JSON in the tests and the demo; openssl makes the demo's secrets; util-linux has setsid.
# python3-prometheus-client parses /metrics in the tests; npm installs the OpenAPI validator the tests run
# (tests/tools): Debian's npm only when the machine has no npm command (Node.js may bring its own).
set -eu

PACKAGES="gcc clang clang-format libclang-rt-14-dev make pkg-config binutils postgresql-15 postgresql-client-15
 libpq-dev libcmocka-dev libjansson-dev libssl-dev libmicrohttpd-dev libzstd-dev curl python3-prometheus-client
 libcurl4-openssl-dev etcd-server etcd-client iproute2 nftables haproxy jq openssl util-linux
 ${PRODATA_DEPS_EXTRA:-}"
command -v npm >/dev/null 2>&1 || PACKAGES="$PACKAGES npm"

missing=""
for package in $PACKAGES; do
    status=$(dpkg-query -W -f='${Status}' "$package" 2>/dev/null || true)
    case "$status" in
        *"install ok installed"*) ;;
        *) missing="$missing $package" ;;
    esac
done
[ -z "$missing" ] && exit 0

echo "deps: installing:$missing"
if [ "$(id -u)" = 0 ]; then
    SUDO=""
elif command -v sudo >/dev/null 2>&1; then
    SUDO="sudo"
else
    echo "deps: missing packages:$missing; run as root or install sudo" >&2
    exit 1
fi
# A fresh machine has no package lists yet; refresh them once before installing.
$SUDO apt-get update -qq
# shellcheck disable=SC2086
DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends $missing
