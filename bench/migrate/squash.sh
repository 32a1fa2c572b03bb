#!/bin/bash
# bench/migrate/squash.sh - the squash of a 200-migration history: 200 migrations written by
# makemigrations (one model added per migration, each with a unique, a check, an index and a
# key to the one before), then `prodata squashmigrations 200`; a fresh database migrated
# through the 200 files beside one migrated through the squash alone, their schemas compared,
# and the first database recorded as having applied the squash.
#   bench/migrate/squash.sh          N=200 (environment)
# Runs on a throwaway PostgreSQL 15 with the server's defaults (fsync on), stopped at exit.
set -euo pipefail
cd "$(dirname "$0")/../.."
N=${N:-200}
PRODATA=${PRODATA:-$PWD/build/prodata}
source tests/lib/pg.sh
PG_DIR=$(mktemp -d "${TMPDIR:-/tmp}/prodata-bench-pg.XXXXXX")
WORK=$(mktemp -d "${TMPDIR:-/tmp}/prodata-bench-squash.XXXXXX")
trap 'pg_instance_stop "$PG_DIR"; rm -rf "$WORK"' EXIT
pg_instance_start "$PG_DIR"
psql -X -q -d postgres -c "ALTER SYSTEM RESET fsync" -c "ALTER SYSTEM RESET synchronous_commit" \
    -c "ALTER SYSTEM RESET full_page_writes" -c "SELECT pg_reload_conf()" \
    -c "CREATE DATABASE squash_files" -c "CREATE DATABASE squash_one" >/dev/null
cd "$WORK"
now() { date +%s.%N; }
since() { echo "$(now) - $1" | bc; }

echo "bench: writing $N migrations with makemigrations" >&2
: >models.pdm
t0=$(now)
for i in $(seq 1 "$N"); do
    {
        echo "model M$i {"
        echo "  name  string(100)  index"
        echo "  code  string(40)  unique"
        echo "  size  int  default=0  check(>= 0)"
        [ "$i" -gt 1 ] && echo "  parent  M$((i - 1))  null  on_delete=set_null"
        echo "}"
    } >>models.pdm
    "$PRODATA" makemigrations >/dev/null
done
write_s=$(since "$t0")

t0=$(now)
PGDATABASE=squash_files "$PRODATA" migrate >/dev/null 2>&1
files_s=$(since "$t0")

t0=$(now)
"$PRODATA" squashmigrations "$N" >/dev/null
squash_s=$(since "$t0")
squash_file=$(ls migrations/*_squashed_*.sql)

t0=$(now)
PGDATABASE=squash_one "$PRODATA" migrate >one.out 2>/dev/null
one_s=$(since "$t0")

t0=$(now)
PGDATABASE=squash_files "$PRODATA" migrate >adopt.out 2>/dev/null
adopt_s=$(since "$t0")

schema() {
    psql -X -At -d "$1" -c "SELECT string_agg(x, E'\n' ORDER BY x) FROM (
      SELECT table_name || '.' || column_name || ' ' || data_type || ' ' || is_nullable || ' ' || coalesce(column_default, '') AS x
        FROM information_schema.columns WHERE table_schema = 'public' AND table_name NOT LIKE 'prodata%'
      UNION ALL SELECT indexdef FROM pg_indexes WHERE schemaname = 'public' AND tablename NOT LIKE 'prodata%'
      UNION ALL SELECT conname || ' ' || pg_get_constraintdef(oid) FROM pg_constraint
        WHERE connamespace = 'public'::regnamespace AND conrelid::regclass::text NOT LIKE 'prodata%') s"
}
same=no
[ "$(schema squash_files)" = "$(schema squash_one)" ] && same=yes
statements=$(grep -c ';$' "$squash_file" || true)

printf '\nsquash of a %s-migration history (PostgreSQL 15, fsync on)\n\n' "$N"
printf '| step | seconds |\n|---|---:|\n'
printf '| makemigrations, %s times (writing the history) | %.2f |\n' "$N" "$write_s"
printf '| migrate a fresh database through the %s files | %.2f |\n' "$N" "$files_s"
printf '| squashmigrations %s (one file, %s lines ending a statement) | %.2f |\n' "$N" "$statements" "$squash_s"
printf '| migrate a fresh database through the squash | %.2f |\n' "$one_s"
printf '| migrate the database that applied the %s files (recorded as the squash) | %.2f |\n' "$N" "$adopt_s"
printf '\nsame schema both ways: %s; history rows: %s and %s\n' "$same" \
    "$(psql -X -At -d squash_files -c 'SELECT count(*) FROM prodata_migrations')" \
    "$(psql -X -At -d squash_one -c 'SELECT count(*) FROM prodata_migrations')"
