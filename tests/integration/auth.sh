#!/bin/bash
# auth.sh - a real password login: libpq's ~/.pgpass (PGPASSFILE) and
# PRODATA_DATABASE carry the password, the command line may not, and no
# message or output ever shows it, also when the login fails.
source tests/lib/tap.sh
tap_plan 14
tap_workdir
cd "$TAP_WORKDIR"
tap_fresh_db auth_test
SECRET='Pa55-word_9q'

# A role that must log in with a password (scram), on this run's own server.
sql postgres "DROP ROLE IF EXISTS pd_auth_user" >/dev/null
sql postgres "CREATE ROLE pd_auth_user LOGIN PASSWORD '$SECRET'" >/dev/null
sql postgres "GRANT ALL ON DATABASE auth_test TO pd_auth_user" >/dev/null
sql auth_test "GRANT ALL ON SCHEMA public TO pd_auth_user" >/dev/null
hba="$PRODATA_TEST_PGDATA/pg_hba.conf"
{ echo "host all pd_auth_user 127.0.0.1/32 scram-sha-256"; cat "$hba"; } >hba.new
cat hba.new >"$hba"   # same file, same owner: the server reads it as before
sql postgres "SELECT pg_reload_conf()" >/dev/null
# Bounded poll until the server asks that role for a password.
for _ in $(seq 1 50); do
    PGPASSFILE=/nonexistent psql -X -w -q -U pd_auth_user -d auth_test -c 'SELECT 1' >/dev/null 2>&1 || break
    sleep 0.1
done

cat >models.pdm <<'PDM'
model Note {
  text  string(100)
}
PDM
"$PRODATA" makemigrations >/dev/null
export PGUSER=pd_auth_user

printf '127.0.0.1:%s:auth_test:pd_auth_user:%s\n' "$PGPORT" "$SECRET" >pgpass
chmod 600 pgpass
PGPASSFILE=$PWD/pgpass run_cmd "$PRODATA" migrate
expect_rc "password from .pgpass logs in" 0
expect_no_out "output never shows it" "$SECRET"

run_cmd env PGPASSFILE=/nonexistent "$PRODATA" migrate
expect_rc "no password: the login fails with exit 1" 1
expect_out "failure says what" 'could not connect to PostgreSQL'
expect_out "failure says how to set the connection" 'HINT: Set the connection'
expect_out "... and where it looked for a password" '; the password file "/nonexistent" from PGPASSFILE$'

PGPASSFILE=/nonexistent PRODATA_DATABASE="host=127.0.0.1 port=$PGPORT dbname=auth_test user=pd_auth_user password=wrong-$SECRET" \
    run_cmd "$PRODATA" showmigrations
expect_rc "a wrong password fails with exit 1" 1
expect_out "the server's reason is shown" 'password authentication failed'
expect_no_out "the wrong password is not shown" "wrong-$SECRET"
expect_out "CONTEXT says the user and the password came from PRODATA_DATABASE" \
    '^CONTEXT: connecting with host "127\.0\.0\.1", port [0-9]+, dbname "auth_test", user "pd_auth_user" and the password from database \(PRODATA_DATABASE\)$'

PGPASSFILE=/nonexistent PRODATA_DATABASE="postgresql://pd_auth_user:$SECRET@127.0.0.1:$PGPORT/auth_test" \
    run_cmd "$PRODATA" check
expect_rc "a password in PRODATA_DATABASE logs in" 0
PGPASSFILE=/nonexistent PRODATA_DATABASE="postgresql://pd_auth_user:$SECRET@127.0.0.1:$PGPORT/auth_test" \
    run_cmd "$PRODATA" config
expect_no_out "config masks it" "$SECRET"

run_cmd "$PRODATA" check --database "postgresql://pd_auth_user:$SECRET@127.0.0.1:$PGPORT/auth_test"
expect_rc "the same on the command line is refused" 2
expect_no_out "and not echoed" "$SECRET"

# Leave the server as it was for the other tests.
tail -n +2 "$hba" >hba.new && cat hba.new >"$hba"
PGUSER=postgres sql postgres "SELECT pg_reload_conf()" >/dev/null
tap_done
