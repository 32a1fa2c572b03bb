#!/bin/bash
# failsafe_stranger.sh - POST /failsafe is authenticated (docs/ha.md, "The etcd outage: failsafe grants"):
# three keepers on loopback; a stranger who can reach the keepers' API posts to each standby's /failsafe
# every 0.3 s, for a made-up member x9 and for the real members, unsigned (in the body of before the
# signature too), with a guessed password's signature, and with a well-formed but wrong signature. Every
# such request is refused (401 or 403, never a grant), and when the primary's node is lost (keeper, guard and postmaster killed) a standby still takes
# over while the stranger goes on posting: its own round (its grant and the other standby's, signed with the
# replication password) is not blocked. Before the signature, the stranger's grant to x9 blocked every
# takeover. Needs etcd and PostgreSQL 15.
source tests/lib/tap.sh
source tests/lib/etcd.sh
source tests/lib/keeper_local.sh
tap_plan 4
tap_workdir
W=$TAP_WORKDIR
BIN=/usr/lib/postgresql/15/bin
KEEPER_LOCAL_LABEL="failsafe stranger"
KEEPER_LOCAL_NAME=fs
KEEPER_LOCAL_NODES="1 2 3"
KEEPER_LOCAL_SQL_TIMEOUT=3
export ETCDCTL_API=3 PD_KEEPER_TEST_PASSWORD=so-s3cret-Pa55 PGCONNECT_TIMEOUT=1
declare -a KPID PORT APORT
STRANGER=""
cleanup() {
    [ -n "$STRANGER" ] && kill "$STRANGER" 2>/dev/null
    keeper_local_cleanup
}
trap cleanup EXIT
keeper_local_etcd
keeper_local_configs
(cd "$W/n1" && "$PRODATA" cluster config set postgresql_parameters.fsync=off >/dev/null 2>&1)
for i in 1 2 3; do start_keeper "$i"; done
healthy() { [ "$(streaming)" = 2 ]; }
if wait_for 120 healthy; then tap_ok "bootstrap: a primary and two streaming standbys"
else tap_not_ok "bootstrap" "$(tail -n 3 "$W"/n*/keeper.log)"; skip_all "no cluster"; fi
sleep 4 # the keepers' quiet period after their start (a grant's duration) over
L=$(leader)
LI=${L#n}
# stranger I HOLDER: four requests to n<I> (the body of before the signature, then unsigned, signed with a
# guessed password, with a made-up signature), each answer's status on its own line
stranger() {
    local body now url="http://127.0.0.1:${APORT[$1]}"
    now=$(now_ms)
    body="{\"holder\":\"$2\",\"duration_ms\":3000,\"cluster\":\"fs\"}"
    curl -s -m 1 -o /dev/null -w "%{http_code}\n" -X POST -d "$body" "$url/failsafe"
    body="{\"holder\":\"$2\",\"granter\":\"n$1\",\"duration_ms\":3000,\"cluster\":\"fs\",\"sent_ms\":$now}"
    curl -s -m 1 -o /dev/null -w "%{http_code}\n" -X POST -d "$body" "$url/failsafe"
    curl -s -m 1 -o /dev/null -w "%{http_code}\n" -X POST -d "$body" \
        -H "X-Prodata-Failsafe-Hmac: $(printf 'prodata-failsafe\nfs\nn%s\n%s\n3000\n%s' "$1" "$2" "$now" |
            openssl dgst -sha256 -hmac guessed-password -r | cut -d' ' -f1)" "$url/failsafe"
    curl -s -m 1 -o /dev/null -w "%{http_code}\n" -X POST -d "$body" \
        -H "X-Prodata-Failsafe-Hmac: $(printf '%064d' 0)" "$url/failsafe"
}
(while true; do
    for i in 1 2 3; do
        [ "$i" = "$LI" ] && continue
        stranger "$i" x9
    done
    for i in 1 2 3; do [ "$i" != "$LI" ] && stranger "$i" "n$i"; done
    sleep 0.3
done) >"$W/stranger.codes" &
STRANGER=$!
sleep 1.5
codes=$(sort "$W/stranger.codes" | uniq -c | tr -s ' \n' ' ')
if [ -s "$W/stranger.codes" ] && ! grep -qvE '^(401|403)$' "$W/stranger.codes"; then
    tap_ok "the stranger's requests are refused, 401 unsigned, 403 wrongly signed (${codes})"
else tap_not_ok "the stranger's requests are refused" "answers: ${codes}"; fi
guard_kill "$LI"
kill -9 "${KPID[$LI]}" "$(head -1 "$W/n$LI/data/postmaster.pid")"
KPID[$LI]=""
T0=$(now_ms)
new_leader() { local l; l=$(leader); [ -n "$l" ] && [ "$l" != "$L" ]; }
if wait_for 20 new_leader; then
    tap_ok "a standby took over while the stranger kept posting ($(seconds_since "$T0") s after the node loss)"
else
    tap_not_ok "a standby took over while the stranger kept posting" \
        "$(for i in 1 2 3; do [ "$i" != "$LI" ] && grep -E 'failsafe|grant' "$W/n$i/keeper.log" | tail -n 2; done)"
fi
kill "$STRANGER"
STRANGER=""
if ! grep -qvE '^(401|403)$' "$W/stranger.codes"; then tap_ok "no request of the stranger was granted"
else tap_not_ok "no request of the stranger was granted" "$(sort "$W/stranger.codes" | uniq -c | tr -s ' \n' ' ')"; fi
tap_done
