#!/bin/bash
# cli.sh - the command line itself: help, version, usage errors with exit 2,
# settings precedence and errors with file:line, no password on the command line.
source tests/lib/tap.sh
tap_plan 92
tap_workdir
cd "$TAP_WORKDIR"

run_cmd "$PRODATA" --version
expect_rc "--version exits 0" 0
expect_out "--version prints the version" '^prodata [0-9]+\.[0-9]+\.[0-9]+'

run_cmd "$PRODATA" --help
expect_rc "--help exits 0" 0
for command in makemigrations migrate showmigrations sqlmigrate check inspectdb; do
    expect_out "--help lists $command" "^  $command "
done

run_cmd "$PRODATA" migrate --help
expect_rc "migrate --help exits 0" 0
expect_out "migrate --help shows --to" '--to N'

# every option a command's --help names is one the command accepts (options past a fixed count were once
# refused as unknown)
unknown=""
for command in $("$PRODATA" --help | awk '/^commands:/ { on = 1; next } on && /^  [a-z]/ { print $1 }'); do
    for option in $("$PRODATA" "$command" --help 2>&1 | grep -oE '^  --[a-z][a-z-]*' | sort -u); do
        # a settings file that does not exist stops every command before it does anything
        timeout 10 "$PRODATA" "$command" "$option" --config /nonexistent/prodata.conf 2>&1 </dev/null |
            grep -qF "unknown option \"$option\"" && unknown="$unknown $command$option"
    done
done
expect_eq "every option in each command's --help is accepted" "$unknown" ""

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

# `migrate 3` (Django's way) is a usage error that names the option meant; nothing is read or connected
run_cmd "$PRODATA" migrate 3 --config /nonexistent/prodata.conf
expect_rc "a positional migration number exits 2, before any setting is read" 2
expect_out "... and suggests --to" '^prodata: error: migrate takes no positional argument "3"; did you mean --to 3\?$'
run_cmd "$PRODATA" migrate shop zero
expect_out "Django's \"migrate app zero\" suggests --to 0" '^prodata: error: migrate takes no positional argument "zero"; did you mean --to 0\?$'
run_cmd "$PRODATA" migrate shop
expect_out "any other positional argument is refused by name" '^prodata: error: migrate takes no positional argument "shop"$'

run_cmd "$PRODATA" migrate --database "host=127.0.0.1 password=hunter2"
expect_rc "password on the command line is refused" 2
expect_out "refusal says where to put it" 'pgpass'
expect_no_out "refusal does not echo the password" 'hunter2'

run_cmd "$PRODATA" migrate --database "postgresql://u:hunter2@127.0.0.1/x"
expect_rc "password in a URI on the command line is refused" 2

# --- settings: sources, precedence, file-relative paths ----------------------------------------
cat >prodata.conf <<'CONF'
# settings for this test
models = shop.pdm
lock_timeout_ms = 250
database = "host=127.0.0.1 password=secret"
CONF
HERE=$(pwd -P)
run_cmd "$PRODATA" config
expect_rc "config reads prodata.conf" 0
expect_out "a relative path in the file is resolved against its folder" "^models = \"$HERE/shop\.pdm\" +# prodata\.conf:2\$"
expect_out "file value is used, with its file:line" '^lock_timeout_ms = 250 +# prodata\.conf:3$'
expect_out "a default says so" '^migrations = "migrations" +# default$'
expect_out "the settings file is named" '^# settings file: prodata\.conf$'
expect_out "password is masked" 'password=\*\*\*\*\*\*\*\*'
expect_no_out "password never printed" 'secret'

PRODATA_LOCK_TIMEOUT_MS=300 run_cmd "$PRODATA" config
expect_out "environment overrides the file, and is named" '^lock_timeout_ms = 300 +# PRODATA_LOCK_TIMEOUT_MS$'
PRODATA_LOCK_TIMEOUT_MS=300 run_cmd "$PRODATA" config --lock-timeout-ms 400
expect_out "command line overrides the environment, named as typed" '^lock_timeout_ms = 400 +# --lock-timeout-ms$'
run_cmd "$PRODATA" config --lock_timeout_ms=2s --log-level=warning
expect_out "a duration takes a unit" '^lock_timeout_ms = 2000 +# --lock_timeout_ms$'
expect_out "an enum setting from the command line" '^log_level = warning +# --log-level$'
rm prodata.conf

# A settings file in one folder, its models beside it, migrate run from a third folder: the model file is
# found only if the file's relative path is resolved against the file's folder (not the working folder).
mkdir -p deploy/conf deploy/app elsewhere
cat >deploy/app/shop.pdm <<'PDM'
model Shelf {
  label  string(40)
}
PDM
printf 'models = ../app/shop.pdm\nmigrations = ../app/migrations\n' >deploy/conf/prodata.conf
mkdir -p deploy/app/migrations
(cd elsewhere && run_cmd "$PRODATA" config --config ../deploy/conf/prodata.conf && printf '%s' "$OUT") >config.out
OUT=$(cat config.out)
expect_out "relative path from another folder made absolute" "^models = \"$HERE/deploy/conf/\.\./app/shop\.pdm\" +# \.\./deploy/conf/prodata\.conf:1\$"
cd elsewhere
run_cmd "$PRODATA" makemigrations --config ../deploy/conf/prodata.conf
cd ..
expect_rc "makemigrations finds the models relative to the settings file" 0
expect_eq "and writes the migration beside them" "$(ls deploy/app/migrations)" "0001_initial.sql"
tap_fresh_db cli_test
cd elsewhere
run_cmd "$PRODATA" migrate --config ../deploy/conf/prodata.conf
cd ..
expect_rc "migrate run from a third folder finds models and migrations" 0
expect_eq "the table exists" "$(sql cli_test "SELECT count(*) FROM information_schema.tables WHERE table_name = 'shelf'")" 1

# --- bad settings: all at once, each with file:line ---------------------------------------------
cat >bad.conf <<'CONF'
models = a.pdm
lock_timeout_ms = soon
colour = blue
lock_retrys = 4
log_level = loud
this line has no equals sign
CONF
run_cmd "$PRODATA" config --config bad.conf
expect_rc "bad configuration exits 2" 2
expect_out "first problem is the message" '^prodata: error: bad\.conf:2: lock_timeout_ms must be a duration'
expect_eq "every problem is reported, one line each" "$(grep -cE '^(prodata: error: )?bad\.conf:[0-9]+: ' <<<"$OUT")" 5
expect_out "bad duration with file:line" '^prodata: error: bad\.conf:2: lock_timeout_ms must be a duration from 1 to 600000 ms'
expect_out "unknown name with file:line" '^bad\.conf:3: unknown setting "colour"$'
expect_out "a misspelt name gets the closest one" '^bad\.conf:4: unknown setting "lock_retrys"; did you mean "lock_retries"\?'
expect_out "bad enum lists the choices" '^bad\.conf:5: log_level must be one of debug, info, notice, warning, error'
expect_out "a line without = is placed" '^bad\.conf:6: expected "name = value"'
printf 'lock_retries = 4\nlock_timeout_ms = -5\n' >bad2.conf
PRODATA_LOCK_RETRIES=many run_cmd "$PRODATA" config --config bad2.conf --lock-wait-ms=0
expect_eq "file, environment and option problems reported together" "$(grep -cE '^(prodata: error: )?(bad2\.conf:2|PRODATA_LOCK_RETRIES|--lock-wait-ms): ' <<<"$OUT")" 3
expect_out "a negative duration refused with file:line" '^prodata: error: bad2\.conf:2: lock_timeout_ms must be a duration'

expect_out "environment problems are named by variable, beside the file's" '^PRODATA_LOCK_RETRIES: lock_retries must be a whole number'
expect_out "option problems are named by option" '^--lock-wait-ms: lock_wait_ms must be a duration'
run_cmd "$PRODATA" migrate --lock-retrys 4
expect_rc "misspelt option exits 2" 2
expect_out "misspelt option gets the closest setting" 'HINT: Did you mean --lock-retries\?'

# --- a mistyped connection keyword: named with the setting's source, never a value ---------------
printf 'models = a.pdm\ndatabase = "hots=localhost dbname=x password=hunter2"\n' >conninfo.conf
run_cmd "$PRODATA" migrate --config conninfo.conf
expect_rc "an unknown connection keyword exits 2, before connecting" 2
expect_out "it is named with the setting and its file:line" '^prodata: error: unknown connection keyword "hots" in database \(conninfo\.conf:2\)$'
expect_out "the hint names the close valid keyword" '^HINT: Did you mean "host"\?'
expect_no_out "no value is shown" 'hunter2|localhost'
PRODATA_DATABASE="postgresql://u:hunter2@127.0.0.1/x?sslmod=require" run_cmd "$PRODATA" showmigrations
expect_out "in a URI from the environment: named with its variable" '^prodata: error: unknown connection keyword "sslmod" in database \(PRODATA_DATABASE\)$'
expect_no_out "... and the URI's password is not shown" 'hunter2'
run_cmd "$PRODATA" config --surface serve --database "host=localhost dbnme=x"
expect_out "from the command line: named with the option, not refused as a secret" '^prodata: error: unknown connection keyword "dbnme" in database \(--database\)$'
printf 'lock_retries = many\ndatabase = "host=x password=hunter2 more=tail"\n' >conninfo2.conf
run_cmd "$PRODATA" check --config conninfo2.conf
expect_out "reported with the other settings' problems" '^prodata: error: conninfo2\.conf:1: lock_retries must be a whole number'
expect_out "... a word after an unquoted password is not shown" '^unknown connection keyword after the value of "password" in database \(conninfo2\.conf:2\)$'
expect_no_out "... nor the password" "hunter2|more|tail"

# --- a failed connect says where each part of the connection came from, never the password -----
printf 'models = a.pdm\ndatabase = "host=127.0.0.1 port=1 dbname=nowhere password=hunter2"\n' >refused.conf
run_cmd "$PRODATA" migrate --config refused.conf
expect_rc "a refused connection exits 1" 1
expect_out "CONTEXT names the setting and its line for what the conninfo gives, PGUSER for the user" \
    '^CONTEXT: connecting with host "127\.0\.0\.1", port 1, dbname "nowhere" and the password from database \(refused\.conf:2\); user "'"$PGUSER"'" from PGUSER$'
expect_no_out "... and never the password" 'hunter2'
PGHOST=127.0.0.1 PGPORT=1 run_cmd "$PRODATA" showmigrations
expect_out "without a database setting: each PG* variable named" \
    '^CONTEXT: connecting with host "127\.0\.0\.1" from PGHOST; port 1 from PGPORT; dbname "'"$PGDATABASE"'" from PGDATABASE; user "'"$PGUSER"'" from PGUSER; '
run_cmd env -u PGDATABASE -u PGPORT "$PRODATA" showmigrations --database "host=nohost.invalid"
expect_out "a host not found: the option named, libpq's defaults said as such" \
    '^CONTEXT: connecting with host "nohost\.invalid" from database \(--database\); port 5432 by libpq.s default; dbname "'"$PGUSER"'" by libpq.s default \(the user name\); user "'"$PGUSER"'" from PGUSER; '
PRODATA_DATABASE="postgresql://127.0.0.1:1/x" run_cmd env -u PGPASSWORD PGPASSFILE=/nonexistent/pgpass "$PRODATA" migrate
expect_out "a URI from the environment: PRODATA_DATABASE named, the password file from PGPASSFILE" \
    '^CONTEXT: connecting with host "127\.0\.0\.1", port 1 and dbname "x" from database \(PRODATA_DATABASE\); user "'"$PGUSER"'" from PGUSER; the password file "/nonexistent/pgpass" from PGPASSFILE$'

mkdir -p repo
[ "$(id -u)" = 0 ] && chmod 711 "$TAP_WORKDIR" && chown postgres: repo # root works as the repository's owner
run_cmd "$PRODATA" backup restore-point p1 --archive-dir "$TAP_WORKDIR/repo" --database "host=127.0.0.1 port=1"
expect_rc "backup restore-point with the server refusing exits 1 (it reported success, then crashed)" 1
expect_out "... saying where the connection came from" '^CONTEXT: connecting with host "127\.0\.0\.1" and port 1 from database \(--database\); '

run_cmd "$PRODATA" config --config missing.conf
expect_rc "missing configuration file exits 1" 1
expect_out "missing file named" 'missing.conf'

# --- generated from the table: docs and --help ------------------------------------------------
run_cmd "$PRODATA" config --docs
expect_rc "config --docs exits 0" 0
DOCS_TABLE=$(sed -n '/^<!-- settings:migrate begin -->$/,/^<!-- settings:migrate end -->$/p' "$TESTS_ROOT/../docs/configuration.md" | sed '1d;$d')
expect_eq "docs/configuration.md holds exactly the generated table (prodata config --docs)" "$DOCS_TABLE" "$OUT"
SETTING_NAMES=$(sed -n 's/^| `\([a-z_]*\)` |.*/\1/p' <<<"$OUT")
run_cmd "$PRODATA" config --docs --surface serve
SERVE_TABLE=$(sed -n '/^<!-- settings:serve begin -->$/,/^<!-- settings:serve end -->$/p' "$TESTS_ROOT/../docs/configuration.md" | sed '1d;$d')
expect_eq "docs/configuration.md holds exactly serve's generated table (config --docs --surface serve)" "$SERVE_TABLE" "$OUT"
run_cmd "$PRODATA" config --surface serve --port 9000
expect_out "config --surface serve shows serve's values with their source" '^port = 9000 +# --port'
run_cmd "$PRODATA" config --surface nothing
expect_rc "an unknown surface is a usage error" 2
printf 'migrations = m\nport = 9001\nlock_retries = 7\nworker_threads = 4\n' >"$TAP_WORKDIR/shared.conf"
run_cmd "$PRODATA" config --config "$TAP_WORKDIR/shared.conf"
expect_out "one settings file serves every command: migrate skips serve's settings" '^lock_retries = 7 '
run_cmd "$PRODATA" config --surface serve --config "$TAP_WORKDIR/shared.conf"
expect_out "... and serve skips migrate's" '^worker_threads = 4 '
expect_no_out "... without a problem" 'unknown setting' 
run_cmd "$PRODATA" migrate --help
missing=""
for name in $SETTING_NAMES; do
    grep -qE -- "^  --${name//_/-} " <<<"$OUT" || missing="$missing $name"
done
expect_eq "--help lists every setting of the table ($(wc -w <<<"$SETTING_NAMES") settings)" "$missing" ""
expect_out "--help shows a setting with its default and unit" '--lock-wait-ms MS +how long migrate waits'

# --- the log handler: its line, quoting, and log_level from the environment --------------------
mkdir -p logs/migrations
printf 'model Note {\n  text  string(20)\n}\n' >logs/models.pdm
printf -- "-- +up\nCREATE TABLE note (id bigint);\nDO \$\$ BEGIN RAISE WARNING 'look=here' USING HINT = 'say \"yes\"'; END \$\$;\n-- +down\nDROP TABLE note;\n" >logs/migrations/0001_note.sql
cd logs
tap_fresh_db cli_log
run_cmd "$PRODATA" migrate
expect_out "a warning is one line: level, message, fields quoted as needed" '^prodata: warning: look=here sqlstate=01000 hint="say \\"yes\\""$'
"$PRODATA" migrate --to 0 >/dev/null 2>&1
PRODATA_LOG_LEVEL=error run_cmd "$PRODATA" migrate
expect_rc "PRODATA_LOG_LEVEL=error: migrate succeeds" 0
expect_no_out "and prints no warning" 'prodata: warning:'
cd ..

# --- CONTEXT lines, innermost first (as PostgreSQL prints them) ---------------------------------
mkdir -p ctx/migrations
printf 'model Tag {\n  name  string(20)\n}\n' >ctx/models.pdm
printf -- '-- +up\nCREATE TABLE tag (id bigint);\nSELECT no_such_function();\n-- +down\nDROP TABLE tag;\n' >ctx/migrations/0001_tag.sql
tap_fresh_db cli_context
cd ctx
run_cmd "$PRODATA" migrate
cd ..
expect_rc "failing migration exits 1" 1
expect_out "CONTEXT: the statement's place, then the migration" '^CONTEXT: at migrations/0001_tag\.sql:3; while applying migration 0001_tag$'

tap_done
