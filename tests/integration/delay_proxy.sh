#!/bin/bash
# delay_proxy.sh - the fault tests' latency (tests/ha/delay_proxy.c) in front of a PostgreSQL 15 of this test's
# own: each insert of the writer through a 100 ms proxy takes at least one round trip (200 ms), never less,
# and every row gets there; a 5 MB answer comes through byte for byte; a target that refuses closes the
# client at once; SIGTERM ends the proxy, and a writer through it then fails at once instead of hanging.
source tests/lib/pg.sh
source tests/lib/tap.sh
source tests/lib/writers.sh
tap_plan 7
tap_workdir
chmod 755 "$TAP_WORKDIR"
PG_DIR="$TAP_WORKDIR/pg"
PROXY_PID=""
trap '[ -n "$PROXY_PID" ] && kill "$PROXY_PID" 2>/dev/null; pg_instance_stop "$PG_DIR"; rm -rf "$TAP_WORKDIR"' EXIT
PROXY=$(dirname "$PRODATA")/tests/ha/delay_proxy
WRITERS_DIR=$TAP_WORKDIR
W=$TAP_WORKDIR
now_ms() { date +%s%3N; }

if ! pg_instance_start "$PG_DIR" >"$W/pg.log" 2>&1; then
    while [ "$TAP_COUNT" -lt "$TAP_PLAN" ]; do tap_skip "delay proxy" "PostgreSQL does not start here"; done
    tap_done
    exit
fi
DIRECT="host=127.0.0.1 port=$PGPORT user=postgres dbname=postgres"
# proxy_start DELAY_MS TARGET_PORT: a proxy on a free port (PROXY_PORT) to 127.0.0.1:TARGET_PORT.
proxy_start() {
    PROXY_PORT=$(pg_free_port)
    "$PROXY" --listen "127.0.0.1:$PROXY_PORT" --to "127.0.0.1:$2" --delay-ms "$1" 2>"$W/proxy.err" &
    PROXY_PID=$!
    poll_ok_tcp "$PROXY_PORT"
}
poll_ok_tcp() {
    local deadline=$((SECONDS + 5))
    until (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; do
        [ "$SECONDS" -ge "$deadline" ] && return 1
        sleep 0.05
    done
}

proxy_start 100 "$PGPORT"
VIA="host=127.0.0.1 port=$PROXY_PORT user=postgres dbname=postgres"
"$(dirname "$PROXY")/writer" --conninfo "$VIA" --table px --duration-ms 2000 --interval-ms 10 --label p --out "$W/p.csv"
OUT=$(awk -F, 'NR > 1 { print $4 - $3 }' "$W/p.csv" | sort -n | awk '{ d[NR] = $1 } END { print d[1], d[int((NR + 1) / 2)] }')
read -r FASTEST MEDIAN <<<"$OUT"
if [ "${FASTEST:-0}" -ge 200 ] && [ "${MEDIAN:-0}" -lt 1000 ]; then
    tap_ok "through a 100 ms proxy an insert takes a round trip: fastest $FASTEST ms, median $MEDIAN ms"
else tap_not_ok "through a 100 ms proxy an insert takes a round trip (at least 200 ms)" "fastest $FASTEST, median $MEDIAN"; fi
writers_check - "$DIRECT" px --sync -- p
expect_out "every acknowledged row got through" "^summary writers=1 acknowledged=[1-9][0-9]* lost=0 split_brain=0$"
QUERY="select string_agg(md5(i::text), ',') from generate_series(1, 150000) i"
psql -X -At -d "$DIRECT" -c "$QUERY" >"$W/direct.out"
psql -X -At -d "$VIA" -c "$QUERY" >"$W/via.out"
expect_eq "a 5 MB answer comes through byte for byte" "$(cmp "$W/direct.out" "$W/via.out" && wc -c <"$W/via.out")" \
    "$(wc -c <"$W/direct.out")"

# SIGTERM ends the proxy; a writer through it fails at once.
writer_start q - "$VIA" px --interval-ms 20 --timeout-ms 5000
writer_wait_ack q 0 10 >/dev/null
START=$(now_ms)
kill -TERM "$PROXY_PID"
wait "$PROXY_PID"
RC=$?
PROXY_PID=""
expect_eq "SIGTERM ends the proxy, exit 0" "$RC $(($(now_ms) - START < 2000))" "0 1"
poll_file "$W/q.csv" ",error," 5
writer_stop q
OUT=$(awk -F, '$5 == "error" { print $4 - $3; exit }' "$W/q.csv")
if [ -n "$OUT" ] && [ "$OUT" -lt 1000 ]; then tap_ok "the writer's attempt through the stopped proxy failed after $OUT ms, not at its 5 s deadline"
else tap_not_ok "the writer's attempt through the stopped proxy fails at once" "$OUT ms"; fi

# A target that refuses: the client is closed at once.
DEAD=$(pg_free_port)
proxy_start 0 "$DEAD"
START=$(now_ms)
run_cmd timeout 10 psql -X -At -d "host=127.0.0.1 port=$PROXY_PORT user=postgres dbname=postgres" -c "select 1"
ELAPSED=$(($(now_ms) - START))
expect_out "a refused target: the client's connection is closed" "server closed the connection|connection.*closed"
if [ "$ELAPSED" -lt 2000 ]; then tap_ok "at once ($ELAPSED ms)"; else tap_not_ok "at once" "$ELAPSED ms"; fi
kill "$PROXY_PID"
wait "$PROXY_PID"
PROXY_PID=""
tap_done
