#!/bin/bash
# fault_writer.sh - the fault tests' writer and checker (tests/ha/writer.c, check_writes.c) on a PostgreSQL 15
# of this test's own: rows acknowledged are counted and found; PostgreSQL stopped mid-run gives errors at
# once, not a hang, and the writer ends by itself at its duration; restarted in place, the checker measures
# the recovery but no failover; a backend that stops answering (SIGSTOP) ends the attempt at the client
# deadline; a commit whose wait for a synchronous standby is cancelled is "unsure", not acknowledged; SIGTERM
# ends the writer after its line (tests/lib/writers.sh: start, stop, wait for an acknowledgement, check); a row deleted behind the writer's back is reported lost (exit 1 only with
# --sync). Fabricated CSVs: overlapping writes of two servers are split brain, a handover (even with a slow
# last commit) and a failback on a new timeline are not; unavailability and the longest gap are exact.
source tests/lib/pg.sh
source tests/lib/tap.sh
source tests/lib/writers.sh
tap_plan 32
tap_workdir
chmod 755 "$TAP_WORKDIR"
PG_DIR="$TAP_WORKDIR/pg"
trap 'pg_instance_stop "$PG_DIR"; rm -rf "$TAP_WORKDIR"' EXIT
BIN=$(dirname "$PRODATA")/tests/ha
WRITER=$BIN/writer
CHECK=$BIN/check_writes
W=$TAP_WORKDIR
WRITERS_DIR=$W
now_ms() { date +%s%3N; }

if ! pg_instance_start "$PG_DIR" >"$W/pg.log" 2>&1; then
    while [ "$TAP_COUNT" -lt "$TAP_PLAN" ]; do tap_skip "writer and checker" "PostgreSQL does not start here"; done
    tap_done
    exit
fi
CI="host=127.0.0.1 port=$PGPORT user=postgres dbname=postgres"
present() { psql -X -Atc "select n, label from $1" >"$W/present"; }

# Acknowledged rows are counted and found on the server.
run_cmd "$WRITER" --conninfo "$CI" --table fw --duration-ms 1500 --interval-ms 20 --label a --out "$W/a.csv"
expect_rc "the writer ends by itself at its duration, exit 0" 0
expect_eq "its CSV's header" "$(head -1 "$W/a.csv")" "n,label,send_ms,done_ms,result,via,server,recovery,timeline,sqlstate,error"
OUT=$(awk -F, 'NR > 1 { print $5, $6 == $7, $8, $9 }' "$W/a.csv" | sort | uniq -c)
expect_out "every attempt acknowledged by the primary on timeline 1, via and server the same" "^ +[0-9]+ ok 1 f 1$"
ATTEMPTS=$(($(wc -l <"$W/a.csv") - 1))
present fw
run_cmd "$CHECK" --present "$W/present" --sync "$W/a.csv"
expect_out "check_writes counts them all, none lost, no split brain" \
    "^summary writers=1 acknowledged=$ATTEMPTS lost=0 split_brain=0$"
expect_eq "and the table holds exactly the acknowledged rows" "$(sql postgres 'select count(*) from fw')" "$ATTEMPTS"

# A row deleted behind the writer's back is lost.
sql postgres "delete from fw where n = 7" >/dev/null
present fw
run_cmd "$CHECK" --present "$W/present" "$W/a.csv"
expect_out "a deleted row is reported lost by number" "^lost: n 7 of a, acknowledged by 127\.0\.0\.1:$PGPORT at "
expect_rc "without --sync a lost row is reported, exit 0" 0
run_cmd "$CHECK" --present "$W/present" --sync "$W/a.csv"
expect_rc "with --sync a lost row fails the check, exit 1" 1
expect_out "and the summary counts it" "^summary writers=1 acknowledged=$ATTEMPTS lost=1 split_brain=0$"

# PostgreSQL stopped mid-run, then restarted in place.
"$WRITER" --conninfo "$CI" --table fw --duration-ms 6000 --interval-ms 50 --label b --out "$W/b.csv" &
WRITER_PID=$!
poll_file "$W/b.csv" "^10,b,.*,ok," 10
FAULT=$(now_ms)
pg_as_owner "$PGBIN/pg_ctl" -D "$PG_DATA_DIR" -m immediate -w stop >/dev/null
sleep 1
pg_as_owner "$PGBIN/pg_ctl" -D "$PG_DATA_DIR" -l "$PG_DIR/postgres.log" -w -t 30 start >/dev/null
wait "$WRITER_PID"
RC=$? ENDED=$(now_ms)
expect_eq "the writer outlives the stop and ends at its duration, exit 0" "$RC" 0
if [ $((ENDED - FAULT)) -lt 8500 ]; then tap_ok "it ended $((ENDED - FAULT)) ms after the stop (duration 6 s)"
else tap_not_ok "it ends near its duration" "$((ENDED - FAULT)) ms after the stop"; fi
OUT=$(awk -F, 'NR > 1 && $5 == "error" && $4 - $3 > 2600' "$W/b.csv")
expect_eq "no attempt took longer than its bound (2 s statement, 2 s connect, 0.5 s margin)" "$OUT" ""
OUT=$(awk -F, 'NR > 1 && $5 == "error" { print $11 }' "$W/b.csv" | sort -u)
expect_out "the errors say the server went away or refused the connection" "(Connection refused|server closed the connection|terminating connection)"
run_cmd "$CHECK" --fault-ms "$FAULT" "$W/b.csv"
expect_out "restarted in place: a recovery of about the restart's time, no failover to another server" \
    "^writer=b .* unavailability_ms=none recovery_ms=(9[0-9][0-9]|[1-5][0-9]{3}) "

# A backend that stops answering: the attempt ends at the client deadline, the next connects again.
"$WRITER" --conninfo "$CI" --table fw --duration-ms 3000 --interval-ms 50 --timeout-ms 400 --label c --out "$W/c.csv" &
WRITER_PID=$!
poll_file "$W/c.csv" "^5,c,.*,ok," 10
BACKEND=$(sql postgres "select pid from pg_stat_activity where application_name = 'prodata-test-writer'")
kill -STOP "$BACKEND"
poll_file "$W/c.csv" ",error,.*client deadline" 5
kill -CONT "$BACKEND"
wait "$WRITER_PID"
OUT=$(awk -F, '$5 == "error" { print $4 - $3, $11 }' "$W/c.csv")
expect_out "a stopped backend: the attempt fails at the client deadline (0.4 s + 0.5 s)" "^(9[0-9][0-9]|1[0-4][0-9][0-9]) client deadline passed"
OUT=$(awk -F, '$5 == "error" { failed = 1 } failed && $5 == "ok" { print "acknowledged again"; exit }' "$W/c.csv")
expect_eq "and the writer connects again and is acknowledged" "$OUT" "acknowledged again"

# A commit waiting for a standby that does not exist, its wait cancelled (pg_cancel_backend, as a client's
# cancel request would): PostgreSQL answers the commit with a warning, and the row stays.
sql postgres "alter system set synchronous_standby_names = 'nobody'" >/dev/null
sql postgres "alter system set synchronous_commit = on" >/dev/null
sql postgres "select pg_reload_conf()" >/dev/null
"$WRITER" --conninfo "$CI" --table fw --duration-ms 1000 --interval-ms 50 --label d --out "$W/d.csv" &
WRITER_PID=$!
while kill -0 "$WRITER_PID" 2>/dev/null; do
    sql postgres "select pg_cancel_backend(pid) from pg_stat_activity where wait_event = 'SyncRep'" >/dev/null
    sleep 0.05
done
wait "$WRITER_PID"
sql postgres "alter system set synchronous_commit = off" >/dev/null
sql postgres "alter system reset synchronous_standby_names" >/dev/null
sql postgres "select pg_reload_conf()" >/dev/null
OUT=$(awk -F, 'NR > 1 { print $5, $11 }' "$W/d.csv" | sort -u)
expect_eq "each is unsure: committed locally, the wait for synchronous replication cancelled" "$OUT" \
    "unsure committed locally but the wait for synchronous replication was cancelled"
present fw
run_cmd "$CHECK" --present "$W/present" --sync "$W/d.csv"
expect_out "check_writes: unsure rows are not acknowledged, and present ones are ambiguous commits" \
    "^lost: 0 of 0 acknowledged rows missing on the final primary; [1-9][0-9]* rows there that were not acknowledged"

# SIGTERM: the writer finishes its line and exits; here through tests/lib/writers.sh, as fault tests do.
writer_start e - "$CI" fw --interval-ms 20
poll_file "$W/e.csv" "^5,e," 10
START=$(now_ms)
writer_stop e
if [ $(($(now_ms) - START)) -lt 2000 ] && [ ! -e "$W/e.pid" ]; then tap_ok "writer_stop: SIGTERM ends the writer at once"
else tap_not_ok "writer_stop: SIGTERM ends the writer at once" "$(($(now_ms) - START)) ms"; fi
OUT=$(tail -1 "$W/e.csv" | grep -cE '^[0-9]+,e,[0-9]+,[0-9]+,ok,')
expect_eq "its last line is whole" "$OUT" 1
expect_eq "writer_wait_ack names the server that acknowledged" "$(writer_wait_ack e 0 1)" "127.0.0.1:$PGPORT"
START=$SECONDS
run_cmd writer_wait_ack e 0 1 "127.0.0.1:$PGPORT"
expect_eq "writer_wait_ack for another server gives up after its bound, exit 1" "$RC $(((SECONDS - START) <= 2))" "1 1"
writers_check - "$CI" fw --sync -- e
expect_out "writers_check reads the table and judges the CSV" "^summary writers=1 acknowledged=$(($(wc -l <"$W/e.csv") - 1)) lost=0 split_brain=0$"

# --exit-with-parent (writers.sh uses it): a writer whose parent is gone stops, so a test that dies leaves none.
bash -c '"$1" --conninfo "$2" --table fw --duration-ms 60000 --label f --out "$3/f.csv" --exit-with-parent &
    echo $! >"$3/f.pid"; sleep 0.3' - "$WRITER" "$CI" "$W"
PID=$(cat "$W/f.pid")
check "--exit-with-parent: the writer ends once its parent has (within 5 s)" \
    bash -c "for i in \$(seq 50); do kill -0 $PID 2>/dev/null || exit 0; sleep 0.1; done; exit 1"

# Fabricated CSVs. acks LABEL SERVER TIMELINE FIRST_N FROM TO [LATENCY]: acknowledged attempts sent every
# 100 ms from FROM to TO (ms), each answered LATENCY ms later (10).
acks() {
    awk -v label="$1" -v server="$2" -v tl="$3" -v n="$4" -v from="$5" -v to="$6" -v lat="${7:-10}" 'BEGIN {
        for (t = from; t <= to; t += 100) printf "%d,%s,%d,%d,ok,%s,%s,f,%s,,\n", n++, label, t, t + lat, server, server, tl }'
}
HEADER="n,label,send_ms,done_ms,result,via,server,recovery,timeline,sqlstate,error"
{ echo "$HEADER"; acks m A:1 1 1 1000 2000; acks m B:1 2 100 1500 3000; } >"$W/split.csv"
run_cmd "$CHECK" "$W/split.csv"
expect_rc "two servers taking writes at once: exit 1" 1
expect_out "it names both terms and how long after the new one's first write the old one still took one" \
    "^split brain: A:1 \(timeline 1, 11 writes, first n 1 of m done at 1010\) took n 11 of m sent 490 ms after the first write of B:1 \(timeline 2, 16 writes, first n 100 of m done at 1510\)$"
{ echo "$HEADER"; acks m A:1 1 1 1000 1900; echo "20,m,1950,2100,ok,A:1,A:1,f,1,,"; acks m B:1 2 100 1990 3000 10; } >"$W/handover.csv"
run_cmd "$CHECK" "$W/handover.csv"
expect_out "a handover whose last old commit was slow but sent before the new server's first answer is not split brain" \
    "^summary writers=1 split_brain=0$"
{ echo "$HEADER"; acks m A:1 1 1 1000 1900; acks m B:1 2 100 2500 3500; acks m A:1 3 200 4000 5000; } >"$W/failback.csv"
run_cmd "$CHECK" "$W/failback.csv"
expect_out "a failback to A on a new timeline is not split brain" "^summary writers=1 split_brain=0$"
{ echo "$HEADER"; acks m A:1 1 1 1000 1900; acks m B:1 2 100 2500 3500; acks m A:1 1 200 4000 5000; } >"$W/stale.csv"
run_cmd "$CHECK" "$W/stale.csv"
expect_out "A writing again on its old timeline after B's term is split brain" "^summary writers=1 split_brain=1$"
{ echo "$HEADER"; acks m A:1 1 1 1000 1900; echo "11,m,2000,2001,error,A:1,A:1,f,1,,gone"; acks m B:1 2 100 3500 4000; } >"$W/failover.csv"
run_cmd "$CHECK" --fault-ms 2000 "$W/failover.csv"
expect_out "a failover: unavailability from the fault to B's first answer, the longest gap between answers" \
    "^writer=m attempts=17 acknowledged=16 errors=1 unsure=0 unavailability_ms=1510 recovery_ms=1510 longest_gap_ms=1600$"
echo "12,m,not a number" >>"$W/failover.csv"
run_cmd "$CHECK" "$W/failover.csv"
expect_rc "a line that is not the writer's: exit 2" 2
expect_out "naming the file and line" "failover\.csv:19: not a writer line"
tap_done
