#!/bin/bash
# writers.sh - the writers of a fault trial (tests/ha/writer) started, awaited, stopped and judged
# (tests/ha/check_writes), so that a fault test reads as its scenario. Sourced after tap.sh (and netns.sh
# when the writers run in a node of the test's network). docs/testing-ha.md describes the writer's CSV
# and the checker's figures.
#   writer_start NAME NODE CONNINFO TABLE [WRITER_ARGS...]  starts writer NAME (its label) in node NODE
#       ("-": this shell's own namespace), writing WRITERS_DIR/NAME.csv, until writer_stop (or
#       --duration-ms, default 10 minutes); WRITER_ARGS go to the writer (--interval-ms, --timeout-ms).
#   writer_stop NAME...     SIGTERM, then waits (10 s at most; SIGKILL after that): the last line is whole.
#   writer_wait_ack NAME SINCE_MS SECONDS [NOT_SERVER]  waits until NAME was acknowledged on an attempt sent
#       at or after SINCE_MS (by a server other than NOT_SERVER, when given); prints that server. 1 if
#       none came within SECONDS.
#   writer_last_server NAME  the server of NAME's last acknowledgement (empty when none).
#   writers_check NODE CONNINFO TABLE [CHECK_ARGS...] -- NAME...  reads the rows of TABLE on the server of
#       CONNINFO (psql in NODE), then runs check_writes on the writers' CSVs: its output in OUT, exit in RC,
#       as run_cmd leaves them (--sync, --fault-ms MS go in CHECK_ARGS).
# Times are CLOCK_REALTIME milliseconds, as `date +%s%3N` prints them.

WRITERS_BIN=${WRITERS_BIN:-$(dirname "${PRODATA:-$PWD/build/prodata}")/tests/ha}
WRITERS_DIR=${WRITERS_DIR:-${TAP_WORKDIR:-${TMPDIR:-/tmp}}}

# writers_in NODE CMD...: CMD in node NODE (netns_exec), or here for "-".
writers_in() {
    local node=$1
    shift
    if [ "$node" = - ]; then "$@"; else netns_exec "$node" "$@"; fi
}

writer_start() {
    local name=$1 node=$2 conninfo=$3 table=$4 prefix=()
    shift 4
    # Started here, not through a function sent to the background (a subshell): the pid must be the writer's.
    [ "$node" = - ] || prefix=(ip netns exec "$(netns_name "$node")")
    "${prefix[@]}" "$WRITERS_BIN/writer" --conninfo "$conninfo" --table "$table" --label "$name" \
        --out "$WRITERS_DIR/$name.csv" --duration-ms 600000 "$@" </dev/null 2>"$WRITERS_DIR/$name.err" &
    echo $! >"$WRITERS_DIR/$name.pid"
}

writer_stop() {
    local name pid deadline
    for name in "$@"; do
        pid=$(cat "$WRITERS_DIR/$name.pid" 2>/dev/null) || continue
        kill -TERM "$pid" 2>/dev/null
        deadline=$((SECONDS + 10))
        while kill -0 "$pid" 2>/dev/null && [ "$(awk '{ print $3 }' "/proc/$pid/stat" 2>/dev/null)" != Z ]; do
            [ "$SECONDS" -ge "$deadline" ] && { kill -KILL "$pid" 2>/dev/null; break; }
            sleep 0.05
        done
        wait "$pid" 2>/dev/null
        rm -f "$WRITERS_DIR/$name.pid"
    done
}

# The server of the first acknowledgement sent at or after SINCE_MS by a server other than NOT_SERVER.
writer_ack_since() {
    awk -F, -v since="$2" -v not="${3:-}" 'NR > 1 && $5 == "ok" && $3 >= since && $7 != not { print $7; exit }' \
        "$WRITERS_DIR/$1.csv" 2>/dev/null
}

writer_wait_ack() {
    local name=$1 since=$2 deadline=$((SECONDS + $3)) not=${4:-} server
    while :; do
        server=$(writer_ack_since "$name" "$since" "$not")
        [ -n "$server" ] && { echo "$server"; return 0; }
        [ "$SECONDS" -ge "$deadline" ] && return 1
        sleep 0.1
    done
}

writer_last_server() {
    awk -F, 'NR > 1 && $5 == "ok" { server = $7 } END { print server }' "$WRITERS_DIR/$1.csv" 2>/dev/null
}

writers_check() {
    local node=$1 conninfo=$2 table=$3 args=() csvs=() name
    shift 3
    while [ $# -gt 0 ] && [ "$1" != -- ]; do args+=("$1"); shift; done
    shift
    for name in "$@"; do csvs+=("$WRITERS_DIR/$name.csv"); done
    if ! writers_in "$node" timeout 30 psql -X -At -v ON_ERROR_STOP=1 -d "$conninfo" \
        -c "select n, label from \"$table\"" >"$WRITERS_DIR/present.$table" 2>"$WRITERS_DIR/present.err"; then
        OUT="writers_check: could not read $table: $(cat "$WRITERS_DIR/present.err")"
        RC=2
        return
    fi
    OUT=$("$WRITERS_BIN/check_writes" --present "$WRITERS_DIR/present.$table" "${args[@]}" "${csvs[@]}" 2>&1)
    RC=$?
}
