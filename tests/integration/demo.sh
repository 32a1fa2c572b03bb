#!/bin/bash
# demo.sh - `make demo` as a new user meets it (scripts/demo.sh, in a directory and on ports of the test's
# own, all moved by PRODATA_DEMO_PORT alone; a port in use stops it before anything starts, naming the
# setting to change): it brings up etcd and three keepers, migrates and seeds the bookstore through the multi-host
# conninfo it prints, serves it; the curl commands it prints answer (an anonymous read, a write with its
# token); after the primary's node is lost (keeper, fence guard and postmaster killed, as the demo says)
# a standby takes over and the same API answers again, the write made before the loss still there
# (synchronous mode), and every request made meanwhile got a 200 or a 503 with Retry-After, none hung; a
# second run reuses the data and brings the lost node back as a standby; the stop leaves no process behind;
# in the foreground, the demo stops everything it started at SIGTERM (Ctrl-C's trap). Skipped, counted,
# without etcd or PostgreSQL 15.
source tests/lib/tap.sh
source tests/lib/etcd.sh
tap_plan 16
tap_workdir
W=$TAP_WORKDIR
[ "$(id -u)" = 0 ] && chmod 711 "$W"
D="$W/demo"
export PRODATA_DEMO_DIR=$D
unset PRODATA_DEMO_ETCD_PORT PRODATA_DEMO_API_PORT PRODATA_DEMO_HTTP_PORT
# One base port moves them all: PostgreSQL B..B+2, etcd B+3 (its peer B+13), the keepers' APIs B+4..B+6,
# serve B+7. A base whose every port is free now (below the kernel's ephemeral range, as etcd_free_port).
demo_base() {
    local base offset
    for _ in $(seq 1 200); do
        base=$((20000 + RANDOM % 9000))
        for offset in 0 1 2 3 4 5 6 7 13; do
            (exec 3<>"/dev/tcp/127.0.0.1/$((base + offset))") 2>/dev/null && continue 2
        done
        echo "$base"
        return 0
    done
    return 1
}
export PRODATA_DEMO_PORT=$(demo_base)
API="http://127.0.0.1:$((PRODATA_DEMO_PORT + 7))"

cleanup() {
    timeout 120 scripts/demo.sh stop >/dev/null 2>&1
    pkill -9 -f "$D/" 2>/dev/null
    rm -rf "$W"
}
trap cleanup EXIT

skip_all() {
    while [ "$TAP_COUNT" -lt "$TAP_PLAN" ]; do tap_skip "make demo" "$1"; done
    tap_done
    exit
}
[ -x /usr/lib/postgresql/15/bin/initdb ] || skip_all "no PostgreSQL 15"
command -v "$ETCD_BIN" >/dev/null || skip_all "no etcd (Debian's etcd-server)"

expect_eq "a demo port that is not a number: refused, the setting named, nothing started" \
    "$(PRODATA_DEMO_HTTP_PORT=80a scripts/demo.sh 2>&1 >/dev/null; echo "rc=$?"; [ -e "$D" ] && echo started)" \
    "demo: PRODATA_DEMO_HTTP_PORT is \"80a\": a port number from 1024 to 65000 (the demo uses the next ones too)
rc=2"
# A port of the demo held by another program (n2's PostgreSQL here): refused before anything starts.
python3 -c 'import socket, sys, time
s = socket.socket(); s.bind(("127.0.0.1", int(sys.argv[1]))); s.listen(); time.sleep(60)' $((PRODATA_DEMO_PORT + 1)) &
HOLDER=$!
for _ in $(seq 1 50); do (exec 3<>"/dev/tcp/127.0.0.1/$((PRODATA_DEMO_PORT + 1))") 2>/dev/null && break; sleep 0.1; done
expect_eq "a demo port in use: refused (exit 1), the setting that moves it named" \
    "$(timeout 60 scripts/demo.sh 2>&1 >/dev/null; echo "rc=$?")" \
    "demo: port $((PRODATA_DEMO_PORT + 1)) (PostgreSQL of n2) is in use by another program (another demo?); set PRODATA_DEMO_PORT=N to move every port of the demo (N to N+7 and N+13)
rc=1"
expect_eq "... before anything started" "$(ls "$D"/*.pid "$D"/n*/keeper.pid 2>/dev/null; pgrep -f "$D/" | wc -l)" 0
kill "$HOLDER"
wait "$HOLDER" 2>/dev/null
if timeout 300 scripts/demo.sh >"$W/run1.txt" 2>&1; then
    tap_ok "make demo: a three-node cluster, the bookstore migrated, seeded and served"
else
    tap_not_ok "make demo: a three-node cluster, the bookstore migrated, seeded and served" \
        "$(tail -n 15 "$W/run1.txt")" "$(tail -n 5 "$D"/n*/keeper.log 2>/dev/null)"
fi
CONNINFO=$(sed -n 's/^  conninfo:  //p' "$W/run1.txt")
expect_eq "it prints the multi-host conninfo" "$(echo "$CONNINFO" | grep -c 'target_session_attrs=read-write')" 1
expect_eq "... which reaches the primary with the password it keeps" \
    "$(PGPASSFILE=$D/pgpass PGCONNECT_TIMEOUT=5 psql -X -tAc 'SELECT pg_is_in_recovery()' "$CONNINFO")" f
expect_eq "an anonymous read through the API it prints" \
    "$(curl -s -m 10 "$API/api/books/?page_size=1" | jq -r '.count > 0')" true
TOKEN=$(sed -n 's/^  TOKEN=//p' "$W/run1.txt")
code=$(curl -s -o "$W/created.json" -w '%{http_code}' -m 10 -X POST -H "Authorization: Bearer $TOKEN" \
    -H 'Content-Type: application/json' -d '{"name": "Before the loss", "email": "before@example.org"}' \
    "$API/api/authors/")
expect_eq "a write with the token it prints: 201" "$code" 201
archiving() {
    build/prodata cluster status --config "$D/cluster.conf" --json |
        jq -e '[.members[] | select(.is_leader) | .archive | type == "object" and (.is_failing | not)] == [true]' >/dev/null
}
if poll_ok 10 archiving; then tap_ok "cluster status shows the primary's WAL archiver, not failing"
else tap_not_ok "cluster status shows the primary's WAL archiver" "$(build/prodata cluster status --config "$D/cluster.conf" 2>&1)"; fi

# The loss of the primary's node, with the command the demo prints.
LOSS=$(grep -m1 '^  kill -9 -- ' "$W/run1.txt" | sed 's/^  //')
LEADER=$(build/prodata cluster status --config "$D/cluster.conf" --json | jq -r .leader)
# a client polling a book through the gap: status, seconds, whether a Retry-After came, one line each
(while true; do
    out=$(curl -s -o /dev/null -D "$W/gap.headers" -m 15 -w '%{http_code} %{time_total}' "$API/api/books/1/")
    echo "$out $(grep -ci '^retry-after: [0-9]' "$W/gap.headers" 2>/dev/null)"
    sleep 0.05
done) >"$W/gap.txt" 2>/dev/null &
GAP=$!
sleep 0.5
T0=$SECONDS
eval "$LOSS"
back() { [ "$(curl -s -o /dev/null -w '%{http_code}' -m 3 "$API/api/authors/?name=Before+the+loss")" = 200 ] &&
    [ "$(build/prodata cluster status --config "$D/cluster.conf" --json | jq -r '.leader // "" ')" != "$LEADER" ] &&
    [ "$(build/prodata cluster status --config "$D/cluster.conf" --json | jq -r '.leader // "" ')" != "" ]; }
if poll_ok 60 back; then
    tap_ok "the primary's node lost: another leads and the API answers again ($((SECONDS - T0)) s)"
else
    tap_not_ok "the primary's node lost: another leads and the API answers again" \
        "$(build/prodata cluster status --config "$D/cluster.conf" 2>&1)"
fi
expect_eq "... the write acknowledged before the loss is there (synchronous mode)" \
    "$(curl -s -m 10 "$API/api/authors/?name=Before+the+loss" | jq -r .count)" 1
sleep 1
kill "$GAP" 2>/dev/null
wait "$GAP" 2>/dev/null
GAP_SUMMARY=$(awk '{ n[$1]++ } $1 == 503 && $3 == 0 { bare++ } $2 > slow { slow = $2 }
    END { for (c in n) printf "%s x%d, ", c, n[c]; printf "slowest %.2f s, 503 without Retry-After %d", slow, bare }' "$W/gap.txt")
if [ -s "$W/gap.txt" ] && awk '($1 != 200 && $1 != 503) || ($1 == 503 && $3 == 0) || $2 > 5 { bad = 1 } END { exit bad }' "$W/gap.txt"; then
    tap_ok "requests through the failover: 200 or 503 with Retry-After, none hung ($GAP_SUMMARY)"
else
    tap_not_ok "requests through the failover: 200 or 503 with Retry-After, none hung" "$GAP_SUMMARY" "$(grep -v '^200 ' "$W/gap.txt" | head -5)"
fi

if timeout 300 scripts/demo.sh >"$W/run2.txt" 2>&1; then
    tap_ok "make demo again: the data reused, the lost node back as a standby"
else
    tap_not_ok "make demo again: the data reused, the lost node back as a standby" "$(tail -n 15 "$W/run2.txt")"
fi
timeout 120 scripts/demo.sh stop >"$W/stop.txt" 2>&1
expect_eq "make demo-stop leaves no process of the demo" "$(pgrep -f "$D/" | wc -l)" 0

# In the foreground: it stays after its summary; SIGTERM (the trap Ctrl-C runs too) stops all it started.
scripts/demo.sh foreground >"$W/run3.txt" 2>&1 &
FG=$!
summary() { grep -q "Ctrl-C stops every process above" "$W/run3.txt"; }
if poll_ok 300 summary && kill -0 "$FG" 2>/dev/null; then
    tap_ok "demo foreground: started again, and still running after its summary"
else
    tap_not_ok "demo foreground: started again, and still running after its summary" "$(tail -n 15 "$W/run3.txt")"
fi
kill -TERM "$FG"
timeout 120 tail --pid="$FG" -f /dev/null
wait "$FG"
expect_eq "demo foreground: SIGTERM stops every process it started (exit 130)" \
    "$?:$(pgrep -f "$D/" | wc -l)" "130:0"
tap_done
