#!/bin/bash
# demo.sh - `make demo`: starts a local PostgreSQL 15 under a data directory
# (/tmp/prodata-demo as root, /tmp/prodata-demo-<user> as a user, or
# PRODATA_DEMO_DIR; port 54329; reused when it already runs),
# migrates the bookstore example onto it, seeds it with sample rows
# (examples/bookstore/seed.sql), makes two demo roles with their GRANTs, starts
# `prodata serve` on it in the background (127.0.0.1:8000, pid file
# serve.pid beside the data) and prints curl commands to try, with a token
# for the editor role made by `prodata token`. `make demo-stop` (demo.sh stop)
# stops the server and PostgreSQL by their PIDs.
# As root, PostgreSQL runs as the unprivileged postgres account; as a user, as
# that user (each user's demo has a directory of its own, since another's is
# not writable; two demos at once need other ports: PRODATA_DEMO_PORT,
# PRODATA_DEMO_HTTP_PORT).
set -euo pipefail
cd "$(dirname "$0")/.."
source tests/lib/pg.sh
if [ "$(id -u)" = 0 ]; then
    DEMO_DIR=${PRODATA_DEMO_DIR:-/tmp/prodata-demo}
else
    DEMO_DIR=${PRODATA_DEMO_DIR:-/tmp/prodata-demo-$(id -un)}
fi
DEMO_PORT=${PRODATA_DEMO_PORT:-54329}
HTTP_PORT=${PRODATA_DEMO_HTTP_PORT:-8000}
PGDATA_DIR="$DEMO_DIR/pgdata"
PRODATA=${PRODATA:-$PWD/build/prodata}
SERVE_PIDFILE="$DEMO_DIR/serve.pid"
SERVE_LOG="$DEMO_DIR/serve.log"
API="http://127.0.0.1:$HTTP_PORT"

running_pid() {
    local pid
    pid=$(head -1 "$PGDATA_DIR/postmaster.pid" 2>/dev/null || true)
    if [[ "$pid" =~ ^[0-9]+$ ]] && tr '\0' ' ' 2>/dev/null <"/proc/$pid/cmdline" | grep -q -- "$PGDATA_DIR"; then
        echo "$pid"
    fi
}

# The demo's prodata serve: the PID in serve.pid while it is a prodata serve process.
serve_pid() {
    local pid
    pid=$(cat "$SERVE_PIDFILE" 2>/dev/null || true)
    if [[ "$pid" =~ ^[0-9]+$ ]] && tr '\0' ' ' 2>/dev/null <"/proc/$pid/cmdline" | grep -q -- "prodata serve"; then
        echo "$pid"
    fi
}

serve_stop() {
    local pid i
    pid=$(serve_pid)
    rm -f "$SERVE_PIDFILE"
    [ -n "$pid" ] || return 0
    kill -TERM "$pid"
    for i in $(seq 1 150); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    if kill -0 "$pid" 2>/dev/null; then kill -KILL "$pid"; fi
    echo "demo prodata serve stopped (pid $pid)"
}

if [ "${1:-}" = stop ]; then
    serve_stop
    if [ -n "$(running_pid)" ]; then
        pg_as_owner "$PGBIN/pg_ctl" -D "$PGDATA_DIR" -m fast -w stop >/dev/null
        echo "demo PostgreSQL stopped (data kept in $PGDATA_DIR)"
    else
        echo "demo PostgreSQL is not running"
    fi
    exit 0
fi

mkdir -p "$DEMO_DIR"
if [ "$(id -u)" = 0 ]; then
    chown postgres: "$DEMO_DIR"
elif [ ! -w "$DEMO_DIR" ]; then
    echo "demo: $DEMO_DIR belongs to $(stat -c %U "$DEMO_DIR"); set PRODATA_DEMO_DIR to a directory of yours" >&2
    exit 1
fi
if [ ! -f "$PGDATA_DIR/PG_VERSION" ]; then
    echo "== initdb $PGDATA_DIR"
    pg_as_owner "$PGBIN/initdb" -D "$PGDATA_DIR" -U postgres --auth=trust --encoding=UTF8 --locale=C.UTF-8 \
        >"$DEMO_DIR/initdb.log"
    cat >>"$PGDATA_DIR/postgresql.conf" <<CONF
listen_addresses = '127.0.0.1'
port = $DEMO_PORT
unix_socket_directories = '$DEMO_DIR'
CONF
fi
if [ -z "$(running_pid)" ]; then
    if (exec 3<>"/dev/tcp/127.0.0.1/$DEMO_PORT") 2>/dev/null; then
        echo "demo: port $DEMO_PORT is taken by another server; set PRODATA_DEMO_PORT" >&2
        exit 1
    fi
    echo "== starting PostgreSQL 15 on 127.0.0.1:$DEMO_PORT"
    pg_as_owner "$PGBIN/pg_ctl" -D "$PGDATA_DIR" -l "$DEMO_DIR/postgres.log" -w -t 60 start >/dev/null
fi
export PGHOST=127.0.0.1 PGPORT=$DEMO_PORT PGUSER=postgres PGDATABASE=bookstore
psql -X -q -d postgres -tAc "SELECT 1 FROM pg_database WHERE datname = 'bookstore'" | grep -q 1 ||
    psql -X -q -d postgres -c "CREATE DATABASE bookstore"

cd examples/bookstore
echo "== prodata makemigrations --check   (the example's migrations cover its models)"
"$PRODATA" makemigrations --check
echo "== prodata migrate"
"$PRODATA" migrate
echo "== prodata showmigrations"
"$PRODATA" showmigrations
echo "== prodata check   (models, migrations and the live schema agree)"
"$PRODATA" check
echo "== the tables prodata made"
psql -X -q -c '\dt'
psql -X -q -c '\d book'

echo "== sample rows (examples/bookstore/seed.sql)"
psql -X -q -v ON_ERROR_STOP=1 -f seed.sql >/dev/null
psql -X -q -tAc "SELECT count(*) || ' authors, ' || (SELECT count(*) FROM book) || ' books, ' ||
                        (SELECT count(*) FROM book_review) || ' reviews' FROM author"

# Two roles for the API: anonymous requests run as bookstore_anon (read only), a token's role claim picks
# bookstore_editor (read and write). GRANTs decide what each may do; prodata serve switches to the role
# inside each request's transaction.
echo "== demo roles and their GRANTs"
psql -X -q -v ON_ERROR_STOP=1 <<'SQL'
DO $$
BEGIN
    IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'bookstore_anon') THEN
        CREATE ROLE bookstore_anon NOLOGIN;
    END IF;
    IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'bookstore_editor') THEN
        CREATE ROLE bookstore_editor NOLOGIN;
    END IF;
END
$$;
GRANT USAGE ON SCHEMA public TO bookstore_anon, bookstore_editor;
GRANT SELECT ON author, tag, book, book_tags, book_review TO bookstore_anon;
GRANT SELECT, INSERT, UPDATE, DELETE ON author, tag, book, book_tags, book_review TO bookstore_editor;
GRANT USAGE ON ALL SEQUENCES IN SCHEMA public TO bookstore_editor;
SQL
psql -X -q -c '\dp (author|tag|book|book_tags|book_review)'

if ! "$PRODATA" serve --help >/dev/null 2>&1; then
    echo "demo: this prodata has no serve command: the bookstore is migrated and seeded, not served"
    echo "  connect:   psql \"host=127.0.0.1 port=$DEMO_PORT user=postgres dbname=bookstore\""
    echo "  stop:      make demo-stop   (data stays in $PGDATA_DIR)"
    exit 0
fi

# The server's settings: a file of its own beside the data (the example's prodata.conf holds migrate's
# settings), with the token key of this demo, made once and readable by its owner only.
SERVE_CONF="$DEMO_DIR/serve.conf"
if [ ! -s "$SERVE_CONF" ] || ! grep -q '^jwt_secret' "$SERVE_CONF"; then
    (umask 077 && cat >"$SERVE_CONF" <<CONF
# prodata serve settings of make demo (prodata config --surface serve --config $SERVE_CONF lists them all)
models = "$PWD/models.pdm"
port = $HTTP_PORT
anonymous_role = bookstore_anon
jwt_secret = "$(openssl rand -hex 32)"
CONF
    )
fi
sed -i "s/^port = .*/port = $HTTP_PORT/" "$SERVE_CONF"

echo "== prodata serve on $API (settings $SERVE_CONF, log $SERVE_LOG)"
serve_stop >/dev/null
if (exec 3<>"/dev/tcp/127.0.0.1/$HTTP_PORT") 2>/dev/null; then
    echo "demo: port $HTTP_PORT is taken by another server; set PRODATA_DEMO_HTTP_PORT" >&2
    exit 1
fi
nohup "$PRODATA" serve --config "$SERVE_CONF" >"$SERVE_LOG" 2>&1 </dev/null &
echo $! >"$SERVE_PIDFILE"
for _ in $(seq 1 100); do
    curl -s -o /dev/null --max-time 2 "$API/healthz" && break
    if [ -z "$(serve_pid)" ]; then
        echo "demo: prodata serve did not start; its log:" >&2
        tail -20 "$SERVE_LOG" >&2
        exit 1
    fi
    sleep 0.1
done
TOKEN=$("$PRODATA" token --config "$SERVE_CONF" --role bookstore_editor --sub demo-editor --expires 24h) ||
    TOKEN="(this prodata has no token command)"
echo "== GET $API/api/books/?ordering=-price&page_size=2"
curl -s "$API/api/books/?ordering=-price&page_size=2"
echo

cat <<TEXT

The bookstore example is migrated onto a local PostgreSQL 15, seeded, and served as a REST API
by prodata serve (pid $(cat "$SERVE_PIDFILE")) on $API. Try:

  curl -s $API/api/
  curl -s '$API/api/books/?author__name__icontains=le+guin&ordering=-published'
  curl -s '$API/api/books/?price__gte=12&in_stock=true&fields=id,title,price'
  curl -s '$API/api/books/?search=shore&expand=author'
  curl -s '$API/api/books/4/'
  curl -s '$API/api/book_reviews/?rating__gte=4'
  curl -s '$API/api/books/?cursor=&page_size=5'
  curl -s $API/openapi.json | head -c 400; echo
  curl -s $API/metrics | head

Anonymous requests run as the role bookstore_anon, which may only read (GRANT SELECT):
  curl -s -i -X POST -H 'Content-Type: application/json' -d '{"name": "demo", "email": "demo@example.com"}' $API/api/authors/

A token for the role bookstore_editor (GRANT SELECT, INSERT, UPDATE, DELETE), valid 24 hours:
  TOKEN=$TOKEN
  curl -s -X POST -H "Authorization: Bearer \$TOKEN" -H 'Content-Type: application/json' \\
       -d '{"name": "Octavia E. Butler", "email": "octavia@example.org", "born": "1947-06-22"}' $API/api/authors/
  curl -s -X PATCH -H "Authorization: Bearer \$TOKEN" -H 'Content-Type: application/json' \\
       -d '{"price": "8.99"}' $API/api/books/1/
  curl -s -i -X DELETE -H "Authorization: Bearer \$TOKEN" $API/api/book_reviews/3/
  another token: $PRODATA token --config $SERVE_CONF --role bookstore_editor --sub you --expires 1h

  connect:   psql "host=127.0.0.1 port=$DEMO_PORT user=postgres dbname=bookstore"
  prodata:   cd examples/bookstore && PGHOST=127.0.0.1 PGPORT=$DEMO_PORT PGUSER=postgres PGDATABASE=bookstore $PRODATA showmigrations
  change:    edit examples/bookstore/models.pdm, then prodata makemigrations and prodata migrate
             (the running server picks up the new models)
  stop:      make demo-stop   (the server and PostgreSQL; data stays in $PGDATA_DIR)
TEXT
