# serve.sh - `prodata serve` for tests over real HTTP, sourced after pg.sh and tap.sh.
#
# serve_start [OPTION...] starts $PRODATA serve on a free loopback port against the database
# the PG* variables name (PGDATABASE: tap_fresh_db's), with OPTIONs added (--models FILE ...),
# and waits (bounded, 15 s) until GET /healthz answers 200. It sets SERVE_PID, SERVE_PORT,
# SERVE_URL ("http://127.0.0.1:PORT") and SERVE_LOG (the server's stderr), and returns
# non-zero, the log on stderr, when the server did not come up. Every server started is
# stopped at exit (by its PID) even when the test fails.
# serve_stop [SIGNAL] sends SIGTERM (or SIGNAL) and waits (bounded, 20 s) for the process to
# end; SERVE_RC is its exit status (124: still running, then killed).
# serve_reload sends SIGHUP.
# http METHOD PATH [CURL_ARG...] sends one request to SERVE_URL (PATH may hold a query
# string), setting HTTP_STATUS, HTTP_BODY and HTTP_HEADERS (CR stripped); HEAD uses curl -I (no body read).
# http_header NAME prints the value of a response header of the last http call.
# expect_status NAME CODE and expect_json NAME JQ_FILTER EXPECTED check the last http call
# (jq -c output compared as text; a body that is not JSON fails).

SERVE_PIDS=""
SERVE_DIR=""

serve_cleanup() {
    local pid
    for pid in $SERVE_PIDS; do
        kill -0 "$pid" 2>/dev/null && kill -KILL "$pid" 2>/dev/null
    done
    [ -n "$SERVE_DIR" ] && rm -rf "$SERVE_DIR"
    return 0
}

serve_install_trap() {
    local previous
    previous=$(trap -p EXIT | sed -e "s/^trap -- '//" -e "s/' EXIT\$//")
    # shellcheck disable=SC2064
    trap "serve_cleanup; $previous" EXIT
}

serve_start() {
    if [ -z "$SERVE_DIR" ]; then
        SERVE_DIR=$(mktemp -d "${TMPDIR:-/tmp}/prodata-serve.XXXXXX")
        serve_install_trap
    fi
    local attempt waited
    for attempt in 1 2 3; do
        SERVE_PORT=$(pg_free_port) || return 1
        SERVE_URL="http://127.0.0.1:$SERVE_PORT"
        SERVE_LOG="$SERVE_DIR/serve-$SERVE_PORT.log"
        "$PRODATA" serve --listen-address 127.0.0.1 --port "$SERVE_PORT" --worker-threads 4 \
            --shutdown-timeout-ms 5000 "$@" >"$SERVE_LOG" 2>&1 &
        SERVE_PID=$!
        SERVE_PIDS="$SERVE_PIDS $SERVE_PID"
        for waited in $(seq 1 150); do
            if ! kill -0 "$SERVE_PID" 2>/dev/null; then
                break
            fi
            if [ "$(curl -s -o /dev/null -w '%{http_code}' --max-time 2 "$SERVE_URL/healthz")" = 200 ]; then
                return 0
            fi
            sleep 0.1
        done
        if kill -0 "$SERVE_PID" 2>/dev/null; then
            kill -KILL "$SERVE_PID" 2>/dev/null
            echo "serve.sh: the server did not answer /healthz within 15 s; log:" >&2
            cat "$SERVE_LOG" >&2
            return 1
        fi
        # Exited: another process took the port between the probe and the bind? Try again.
        grep -q "could not listen" "$SERVE_LOG" || break
    done
    echo "serve.sh: prodata serve did not start; log:" >&2
    cat "$SERVE_LOG" >&2
    return 1
}

serve_stop() {
    local signal=${1:-TERM} waited
    kill "-$signal" "$SERVE_PID" 2>/dev/null
    for waited in $(seq 1 200); do
        kill -0 "$SERVE_PID" 2>/dev/null || break
        sleep 0.1
    done
    if kill -0 "$SERVE_PID" 2>/dev/null; then
        kill -KILL "$SERVE_PID" 2>/dev/null
        wait "$SERVE_PID" 2>/dev/null
        SERVE_RC=124
        return 0
    fi
    wait "$SERVE_PID" 2>/dev/null
    SERVE_RC=$?
}

serve_reload() {
    kill -HUP "$SERVE_PID"
}

http() {
    local method=$1 path=$2
    shift 2
    local head_args=(-X "$method")
    [ "$method" = HEAD ] && head_args=(-I)
    HTTP_STATUS=$(curl -s -o "$SERVE_DIR/body" -D "$SERVE_DIR/headers" -w '%{http_code}' --max-time 30 \
        "${head_args[@]}" "$@" "$SERVE_URL$path")
    HTTP_BODY=$(cat "$SERVE_DIR/body" 2>/dev/null)
    [ "$method" = HEAD ] && HTTP_BODY="" # curl -I reads no body: what it wrote there are the headers
    HTTP_HEADERS=$(tr -d '\r' <"$SERVE_DIR/headers" 2>/dev/null)
}

http_header() {
    grep -i "^$1:" <<<"$HTTP_HEADERS" | tail -1 | sed -e 's/^[^:]*: *//'
}

expect_status() {
    if [ "$HTTP_STATUS" = "$2" ]; then
        tap_ok "$1"
    else
        tap_not_ok "$1" "status $HTTP_STATUS, expected $2" "$HTTP_BODY"
    fi
}

expect_json() {
    local got
    if ! got=$(jq -c "$2" <<<"$HTTP_BODY" 2>&1); then
        tap_not_ok "$1" "not JSON or jq failed: $got" "$HTTP_BODY"
    elif [ "$got" = "$3" ]; then
        tap_ok "$1"
    else
        tap_not_ok "$1" "jq $2: $got" "expected: $3" "status $HTTP_STATUS"
    fi
}
