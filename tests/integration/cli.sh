#!/bin/bash
# cli.sh - the command line itself: help, version, usage errors with exit 2,
# settings precedence and errors with file:line, no password on the command line.
source tests/lib/tap.sh
tap_workdir
cd "$TAP_WORKDIR"

run_cmd "$PRODATA" --version
expect_rc "--version exits 0" 0
expect_out "--version prints the version" '^prodata [0-9]+\.[0-9]+\.[0-9]+'

run_cmd "$PRODATA" --help
expect_rc "--help exits 0" 0
for command in makemigrations migrate showmigrations sqlmigrate check; do
    expect_out "--help lists $command" "^  $command "
done

run_cmd "$PRODATA" migrate --help
expect_rc "migrate --help exits 0" 0
expect_out "migrate --help shows --to" '--to N'

run_cmd "$PRODATA"
expect_rc "no command exits 2" 2

run_cmd "$PRODATA" frobnicate
expect_rc "unknown command exits 2" 2
expect_out "unknown command is named" 'unknown command "frobnicate"'

run_cmd "$PRODATA" migrate --frob
expect_rc "unknown option exits 2" 2
expect_out "unknown option is named" 'unknown option "--frob"'

run_cmd "$PRODATA" migrate --to
expect_rc "option without its value exits 2" 2
expect_out "missing value is named" 'option --to needs a value'

run_cmd "$PRODATA" migrate --database "host=127.0.0.1 password=hunter2"
expect_rc "password on the command line is refused" 2
expect_out "refusal says where to put it" 'pgpass'
expect_no_out "refusal does not echo the password" 'hunter2'

run_cmd "$PRODATA" migrate --database "postgresql://u:hunter2@127.0.0.1/x"
expect_rc "password in a URI on the command line is refused" 2

cat >prodata.conf <<'CONF'
# settings for this test
models = shop.pdm
lock_timeout_ms = 250
database = "host=127.0.0.1 password=secret"
CONF
run_cmd "$PRODATA" config
expect_rc "config reads prodata.conf" 0
expect_out "relative paths resolve against the file's folder" "models = \"$TAP_WORKDIR/shop.pdm\"|models = \"\./shop.pdm\"|models = \"shop.pdm\""
expect_out "file value is used" 'lock_timeout_ms = 250'
expect_out "password is masked" 'password=\*\*\*\*\*\*\*\*'
expect_no_out "password never printed" 'secret'

PRODATA_LOCK_TIMEOUT_MS=300 run_cmd "$PRODATA" config
expect_out "environment overrides the file" 'lock_timeout_ms = 300'
PRODATA_LOCK_TIMEOUT_MS=300 run_cmd "$PRODATA" config --lock-timeout-ms 400
expect_out "command line overrides the environment" 'lock_timeout_ms = 400'

cat >bad.conf <<'CONF'
models = a.pdm
lock_timeout_ms = soon
colour = blue
CONF
run_cmd "$PRODATA" config --config bad.conf
expect_rc "bad configuration exits 2" 2
expect_out "bad value named with file:line" 'bad.conf:2: lock_timeout_ms must be a whole number'
expect_out "every problem reported at once" 'bad.conf:3: unknown setting "colour"'

run_cmd "$PRODATA" config --config missing.conf
expect_rc "missing configuration file exits 1" 1
expect_out "missing file named" 'missing.conf'

tap_done
