#!/bin/bash
# failsafe_counted.sh - a member gives failsafe grants only once it is in a leader's roster count (docs/ha.md,
# "The etcd outage: failsafe grants"): three keepers on loopback, then the cluster paused and a fourth keeper
# n4 started: it adds itself to the roster but clones nothing (paused), so it never streams; a signed
# POST /failsafe to it for a member of the roster is refused (409, naming why), where a standby that streams
# grants the same request. Once the cluster is resumed, n4 clones, streams from the leader and grants too.
# Needs etcd and PostgreSQL 15.
source tests/lib/tap.sh
source tests/lib/etcd.sh
source tests/lib/keeper_local.sh
tap_plan 5
tap_workdir
W=$TAP_WORKDIR
BIN=/usr/lib/postgresql/15/bin
KEEPER_LOCAL_LABEL="failsafe counted"
KEEPER_LOCAL_NAME=fc
KEEPER_LOCAL_NODES="1 2 3 4"
KEEPER_LOCAL_SQL_TIMEOUT=3
export ETCDCTL_API=3 PD_KEEPER_TEST_PASSWORD=so-s3cret-Pa55 PGCONNECT_TIMEOUT=1
declare -a KPID PORT APORT
trap cleanup EXIT
keeper_local_etcd
keeper_local_configs
(cd "$W/n1" && "$PRODATA" cluster config set postgresql_parameters.fsync=off >/dev/null 2>&1)
for i in 1 2 3; do start_keeper "$i"; done
streams() { [ "$(streaming)" = "$1" ]; }
if wait_for 120 streams 2; then tap_ok "bootstrap: a primary and two streaming standbys"
else tap_not_ok "bootstrap" "$(tail -n 3 "$W"/n*/keeper.log)"; skip_all "no cluster"; fi
L=$(leader)
S=""
for i in 1 2 3; do [ "n$i" != "$L" ] && [ -z "$S" ] && S=$i; done
# ask I HOLDER: a POST /failsafe to n<I> for HOLDER, signed with the cluster's password (read from the
# environment, as the keepers do), sent_ms read just before it leaves; prints "body status"
ask() {
    python3 - "${APORT[$1]}" "$2" "n$1" <<'PY'
import hashlib, hmac, json, os, sys, time, urllib.error, urllib.request
port, holder, granter = sys.argv[1], sys.argv[2], sys.argv[3]
now = int(time.time() * 1000)
message = "prodata-failsafe\nfc\n%s\n%s\n1000\n%d" % (granter, holder, now)
mac = hmac.new(os.environ["PD_KEEPER_TEST_PASSWORD"].encode(), message.encode(), hashlib.sha256).hexdigest()
body = json.dumps({"holder": holder, "granter": granter, "duration_ms": 1000, "cluster": "fc",
                   "sent_ms": now}).encode()
request = urllib.request.Request("http://127.0.0.1:%s/failsafe" % port, data=body, method="POST",
                                 headers={"X-Prodata-Failsafe-Hmac": mac})
try:
    with urllib.request.urlopen(request, timeout=5) as answer:
        print(answer.read().decode(), answer.status)
except urllib.error.HTTPError as refused:
    print(refused.read().decode(), refused.code)
PY
}
counted() { grep -qF "in the leader's roster count ($L)" "$W/n$S/keeper.log"; }
wait_for 10 counted # its keeper has seen it streaming at a tick
(cd "$W/n1" && "$PRODATA" cluster pause >/dev/null 2>&1)
start_keeper 4
in_roster() { etcdctl --endpoints "$ENDPOINTS" get /prodata/fc/roster --print-value-only | grep -q '"n4"'; }
wait_for 20 in_roster
sleep 1 # its roster read
quiet_over() { OUT=$(ask 4 "$L"); [[ "$OUT" != *"restarted less than"* ]]; }
wait_for 30 quiet_over # n4's quiet period after its start (a grant's duration)
if [[ "$OUT" == *" 409" && "$OUT" == *"has not streamed from a leader"* ]]; then
    tap_ok "n4, in the roster but never streamed, grants nothing (409: has not streamed from a leader)"
else tap_not_ok "n4, never streamed, grants nothing" "answer: $OUT"; fi
OUT=$(ask "$S" n4)
if [[ "$OUT" == *" 200" ]]; then tap_ok "n$S, streaming from $L, grants the same kind of request"
else tap_not_ok "n$S, streaming, grants" "answer: $OUT"; fi
(cd "$W/n1" && "$PRODATA" cluster resume >/dev/null 2>&1)
if wait_for 90 streams 3; then tap_ok "resumed: n4 cloned and streams"
else tap_not_ok "resumed: n4 streams" "$(tail -n 3 "$W/n4/keeper.log")"; fi
granted() { [[ "$(ask 4 "n$S")" == *" 200" ]]; }
if wait_for 10 granted; then tap_ok "n4, streaming now, grants"
else tap_not_ok "n4, streaming now, grants" "answer: $(ask 4 "n$S")"; fi
tap_done
