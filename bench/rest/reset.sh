#!/bin/bash
# bench/rest/reset.sh - deletes the rows that create runs added to prodata's benchmark database and sets
# the identities past every committed id (a request in flight when wrk stopped may commit after the
# DELETE). The connection comes from PGHOST/PGPORT/PGUSER/PGDATABASE, as run.sh sets them.
set -euo pipefail
SEED_AUTHORS=${SEED_AUTHORS:-1000}
SEED_BOOKS=${SEED_BOOKS:-100000}
psql -X -q -v ON_ERROR_STOP=1 >/dev/null <<SQL
DELETE FROM book WHERE id > $SEED_BOOKS;
DELETE FROM author WHERE id > $SEED_AUTHORS;
SELECT setval(pg_get_serial_sequence('book', 'id'), GREATEST((SELECT max(id) FROM book), $SEED_BOOKS));
SELECT setval(pg_get_serial_sequence('author', 'id'), GREATEST((SELECT max(id) FROM author), $SEED_AUTHORS));
VACUUM ANALYZE book;
VACUUM ANALYZE author;
SQL
