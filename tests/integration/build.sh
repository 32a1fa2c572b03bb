#!/bin/bash
# build.sh - the boundaries the build enforces, and the installed library.
# check-layers passes on the tree and fails, naming file:line and the rule, on
# each kind of include it refuses, planted in a copy of the tree;
# check-exports fails on a library that exports a non-pd_ symbol or hides a
# public declaration; `make install DESTDIR=... PREFIX=/usr` installs what a C
# program needs to build against libprodata with pkg-config and run, and
# `make uninstall` removes every file it installed. The etcd client's outcome cannot be tested as a boolean,
# and a switch on it that forgets a status does not build.
source tests/lib/tap.sh
tap_plan 69
tap_workdir
BUILD=${PRODATA_BUILD:-build}
CC=${CC:-cc}

# ---- check-layers ---------------------------------------------------------------------------------

run_cmd scripts/check-layers.sh
expect_rc "check-layers passes on the tree" 0
expect_out "check-layers says what it checked" '^layers: [0-9]+ files'

# One copy of the tree (the sources and the checker) for every plant.
COPY="$TAP_WORKDIR/tree"
mkdir -p "$COPY/scripts"
cp -r src include tests "$COPY/"
cp scripts/check-layers.sh "$COPY/scripts/"

# plant FILE LINE TEXT [NEW_FILE...]: checks the copy with TEXT inserted after line LINE of FILE (created
# when missing) and each NEW_FILE created empty (headers of modules to come); then puts the copy back.
plant() {
    local file=$1 line=$2 text=$3 created=()
    shift 3
    if [ -f "$COPY/$file" ]; then
        cp "$COPY/$file" "$TAP_WORKDIR/saved"
    else
        mkdir -p "$(dirname "$COPY/$file")"
        printf '/* planted */\n' >"$COPY/$file"
        created+=("$COPY/$file")
    fi
    for new in "$@"; do
        mkdir -p "$(dirname "$COPY/$new")"
        touch "$COPY/$new"
        created+=("$COPY/$new")
    done
    sed -i "${line}a $text" "$COPY/$file"
    run_cmd "$COPY/scripts/check-layers.sh" "$COPY"
    if [ ${#created[@]} -gt 0 ]; then rm -f "${created[@]}"; fi
    [ -f "$TAP_WORKDIR/saved" ] && mv "$TAP_WORKDIR/saved" "$COPY/$file"
    find "$COPY/src" -mindepth 1 -type d -empty -delete
}

# expect_refused NAME WHERE RULE: the last plant failed, naming WHERE (file:line) with RULE, and nothing else.
expect_refused() {
    local name=$1 where=$2 rule=$3
    if [ "$RC" = 1 ] && grep -qF -- "$where: " <<<"$OUT" && grep -qF -- "$rule" <<<"$OUT" &&
        grep -q '^check-layers: 1 include(s) break the layering' <<<"$OUT"; then
        tap_ok "$name"
    else
        tap_not_ok "$name" "exit code $RC, expected 1 naming $where with: $rule" "$OUT"
    fi
}

plant src/model/lexer.c 5 '#include "prodata/migrate.h"'
expect_refused "an upward include (model -> migrate) is refused" "src/model/lexer.c:6" \
    "model includes include/prodata/migrate.h of migrate: includes point down only"

plant src/db/db.c 5 '#include "prodata/model.h"'
expect_refused "an include between siblings of one layer (db -> model) is refused" "src/db/db.c:6" \
    "db includes include/prodata/model.h of model: includes point down only"

plant src/migrate/apply.c 3 '#include "prodata/http.h"' include/prodata/http.h
expect_refused "libprodata (migrate) reaching http is refused" "src/migrate/apply.c:4" \
    "migrate includes include/prodata/http.h of http: libprodata (core model migrate query db) never reaches http"

plant src/http/server.c 1 '#include "prodata/ha.h"' include/prodata/ha.h
expect_refused "http including ha (same layer) is refused" "src/http/server.c:2" \
    "http includes include/prodata/ha.h of ha: includes point down only"

plant src/http/server.c 1 '#include "ha/keeper.h"' src/ha/keeper.h
expect_refused "http including a private header of ha is refused" "src/http/server.c:2" \
    "http includes src/ha/keeper.h, a private header of ha"

plant src/model/parser.c 3 '#include "../migrate/plan.h"'
expect_refused "a private header included by another module is refused" "src/model/parser.c:4" \
    "model includes src/migrate/plan.h, a private header of migrate: a private header is included only by its own module"

plant tests/unit/model/test_parse.c 3 '#include "migrate/plan.h"'
expect_refused "a module's tests may not include another module's private header" \
    "tests/unit/model/test_parse.c:4" "model includes src/migrate/plan.h, a private header of migrate"

plant tests/fuzz/fuzz_model.c 1 '#include "model/lexer.h"'
expect_refused "a test of no module (a fuzz target) may not include a private header" "tests/fuzz/fuzz_model.c:2" \
    "tests includes src/model/lexer.h, a private header of model"

plant include/prodata/model.h 3 '#include <libpq-fe.h>'
expect_refused "a public header including libpq-fe.h is refused" "include/prodata/model.h:4" \
    "public header includes <libpq-fe.h>: public headers include only prodata/*.h and the C library headers"

plant include/prodata/migrate.h 3 '#include "../../src/migrate/plan.h"'
expect_refused "a public header including a private header is refused" "include/prodata/migrate.h:4" \
    "public header includes the private header src/migrate/plan.h"

plant src/migrate/history.c 3 '#include <libpq-fe.h>'
expect_refused "libpq-fe.h outside src/db is refused" "src/migrate/history.c:4" \
    "migrate includes libpq-fe.h, which only db may include"

# Includes a line-by-line reading could miss: each is refused, so an upward include cannot hide in one.
plant src/model/lexer.c 15 '#define PLANTED_HEADER "../migrate/plan.h"\n#include PLANTED_HEADER'
expect_refused "a computed include (#include MACRO) is refused" "src/model/lexer.c:17" \
    "an include the layer check cannot read"

plant src/model/lexer.c 15 '#include \\\n    "../migrate/plan.h"'
expect_refused "an include continued on the next line is refused" "src/model/lexer.c:16" \
    "an include the layer check cannot read"

plant src/model/lexer.c 15 '/* planted */ #include "../migrate/plan.h"'
expect_refused "an include behind a comment is still checked" "src/model/lexer.c:16" \
    "model includes src/migrate/plan.h, a private header of migrate"

plant src/model/lexer.c 15 '#include_next "../migrate/plan.h"'
expect_refused "#include_next is checked as an include" "src/model/lexer.c:16" \
    "model includes src/migrate/plan.h, a private header of migrate"

plant src/model/lexer.c 15 '#include "lexer_table.inc"' src/model/lexer_table.inc
expect_refused "an included file the check does not read (.inc) is refused" "src/model/lexer.c:16" \
    "src/model/lexer_table.inc is not a .c or .h file"

plant include/extra.h 1 '#include "../src/cli/config.h"'
expect_refused "a header under include/ but outside include/prodata/ is refused" "include/extra.h" \
    "include/extra.h is outside include/prodata/"

plant src/migrate/history.c 3 '#include <postgresql/libpq-fe.h>'
expect_refused "libpq-fe.h through another folder outside src/db is refused" "src/migrate/history.c:4" \
    "migrate includes postgresql/libpq-fe.h, which only db may include"

plant src/migrate/history.c 3 '#include <postgres_ext.h>'
expect_refused "libpq's postgres_ext.h outside src/db is refused" "src/migrate/history.c:4" \
    "migrate includes postgres_ext.h, which only db may include"

plant src/cli/main.c 3 '#include "prodata/migrate.h"'
if [ "$RC" = 0 ]; then tap_ok "a downward include (cli -> migrate) passes"; else tap_not_ok "a downward include (cli -> migrate) passes" "$OUT"; fi

plant src/weird/thing.c 1 '#include "prodata/error.h"'
expect_refused "a folder of src/ missing from the layer table is refused" "src/weird" \
    "module weird has no layer: add it to LAYERS in scripts/check-layers.sh"

run_cmd "$COPY/scripts/check-layers.sh" "$COPY"
expect_rc "the copy passes again once every planted include is taken out" 0

# ---- check-exports ----------------------------------------------------------------------------------

run_cmd env CC="$CC" CPPFLAGS="-Iinclude" scripts/check-exports.sh "$BUILD/libprodata.so" include/prodata
expect_rc "check-exports passes on libprodata.so" 0
run_cmd nm -D --defined-only "$BUILD/libprodata.so"
expect_no_out "libprodata.so exports no module-private function (plan_, ddl_, diff_...)" ' T (plan|ddl|diff|schema|alter)_'

run_cmd nm -A -g --defined-only "$BUILD/libprodata.a"
expect_no_out "libprodata.a holds no object of src/cli (its modules come from check-layers.sh --library)" \
    '(cmd_migrate|main|config)\.o:'

# A library of one public header with the export macros, one without, and a leaked helper.
fake="$TAP_WORKDIR/fake"
mkdir -p "$fake/include/prodata"
cp include/prodata/export.h "$fake/include/prodata/"
printf '#include "prodata/export.h"\nPD_API_BEGIN\nint pd_fake_shown(void);\nPD_API_END\n' >"$fake/include/prodata/shown.h"
printf '/* no PD_API_BEGIN: pd_fake_hidden() stays hidden */\nint pd_fake_hidden(void);\n' >"$fake/include/prodata/hidden.h"
cat >"$fake/fake.c" <<'C'
#include "prodata/hidden.h"
#include "prodata/shown.h"
__attribute__((visibility("default"))) int fake_leaked_helper(void);
int fake_leaked_helper(void) { return 1; }
int pd_fake_shown(void) { return fake_leaked_helper(); }
int pd_fake_hidden(void) { return 2; }
C
"$CC" -shared -fPIC -fvisibility=hidden -I"$fake/include" -o "$fake/libfake.so" "$fake/fake.c"
run_cmd env CC="$CC" CPPFLAGS="-I$fake/include" scripts/check-exports.sh "$fake/libfake.so" "$fake/include/prodata"
expect_rc "check-exports fails on a library with a leak and a hidden declaration" 1
expect_out "check-exports names the exported symbol outside pd_" '^    fake_leaked_helper$'
expect_out "check-exports names the public declaration that is not exported" '^    pd_fake_hidden$'
expect_no_out "check-exports does not name an exported public function" 'pd_fake_shown'

# ---- the etcd client's outcome: read with a switch, never as a boolean -----------------------------

# outcome_program BODY: a function of the keeper's kind with BODY, compiled as the build compiles src/.
outcome_program() {
    cat >"$TAP_WORKDIR/outcome.c" <<C
#include "ha/etcd.h"
int renew(PdEtcd *etcd, PdError *err);
int
renew(PdEtcd *etcd, PdError *err)
{
    int64_t ttl = 0;
    $1
    return 0;
}
C
    run_cmd "$CC" -std=c11 -Wall -Wextra -Werror -fsyntax-only -Iinclude -Isrc "$TAP_WORKDIR/outcome.c"
}
outcome_program 'if (pd_etcd_lease_keepalive(etcd, 1, &ttl, err)) return 1;'
expect_rc "an etcd outcome tested as a boolean does not compile" 1
expect_out "... the compiler says it is no scalar" 'scalar'
outcome_program 'switch (pd_etcd_lease_keepalive(etcd, 1, &ttl, err).status) {
    case PD_ETCD_DONE: return 1;
    case PD_ETCD_LEASE_NOT_FOUND: return 2;
    case PD_ETCD_COMPARE_FAILED: case PD_ETCD_REJECTED: case PD_ETCD_UNKNOWN: return 3; }'
expect_rc "a switch on its status that covers every status compiles" 0
outcome_program 'switch (pd_etcd_lease_keepalive(etcd, 1, &ttl, err).status) {
    case PD_ETCD_DONE: return 1;
    case PD_ETCD_LEASE_NOT_FOUND: return 2;
    case PD_ETCD_COMPARE_FAILED: case PD_ETCD_REJECTED: return 3; }'
expect_out "a switch that forgets PD_ETCD_UNKNOWN does not (-Wswitch)" "PD_ETCD_UNKNOWN.*not handled"

# ---- make install / uninstall -------------------------------------------------------------------

dest="$TAP_WORKDIR/dest"
run_cmd make --no-print-directory BUILD="$BUILD" DESTDIR="$dest" PREFIX=/usr install
expect_rc "make install DESTDIR=... PREFIX=/usr" 0
for path in usr/bin/prodata usr/bin/prodata-wal usr/lib/libprodata.a usr/lib/libprodata.so.0 usr/lib/libprodata.so \
    usr/include/prodata/model.h usr/include/prodata/export.h usr/lib/pkgconfig/prodata.pc; do
    [ -e "$dest/$path" ] && tap_ok "installed $path" || tap_not_ok "installed $path" "$(cd "$dest" && find . | sort)"
done
expect_eq "libprodata.so.0 is a link to the versioned library" "$(readlink "$dest/usr/lib/libprodata.so.0")" \
    "$(readlink "$BUILD/libprodata.so.0")"
run_cmd readelf -d "$dest/usr/lib/libprodata.so"
expect_out "the installed library carries the SONAME libprodata.so.0" 'SONAME.*\[libprodata\.so\.0\]'

# A program built the way a user would: pkg-config on the installed prodata.pc.
export PKG_CONFIG_PATH="$dest/usr/lib/pkgconfig" PKG_CONFIG_SYSROOT_DIR="$dest"
run_cmd pkg-config --cflags --libs prodata
expect_out "pkg-config gives the installed headers and -lprodata" "^-I$dest/usr/include .*-L$dest/usr/lib -lprodata"
flags=$OUT
run_cmd pkg-config --static --libs prodata
expect_out "pkg-config --static adds libpq, jansson and libcrypto" '-lpq.*-ljansson.*-lcrypto'
cat >"$TAP_WORKDIR/count.c" <<'C'
/* Counts the models of a model file through the installed libprodata. */
#include <prodata/arena.h>
#include <prodata/model.h>
#include <stdio.h>

int
main(int argc, char **argv)
{
    PdArena *arena = pd_arena_new(0);
    PdCatalog *catalog = NULL;
    PdError err = {0};
    if (argc != 2 || arena == NULL || !pd_model_load_file(arena, argv[1], &catalog, &err))
    {
        fprintf(stderr, "count: %s\n", err.message);
        return 1;
    }
    printf("%zu models\n", catalog->model_count);
    pd_arena_free(arena);
    return 0;
}
C
# An AddressSanitizer build of the library needs the program built with the same runtime.
sanitize=""
readelf -d "$BUILD/libprodata.so" | grep -q 'libasan' && sanitize="-fsanitize=address,undefined"
# shellcheck disable=SC2086
run_cmd "$CC" -std=c11 -Wall -Werror $sanitize -o "$TAP_WORKDIR/count" "$TAP_WORKDIR/count.c" $flags
expect_rc "a C program compiles and links against the installed headers and library" 0
run_cmd readelf -d "$TAP_WORKDIR/count"
expect_out "the program needs libprodata.so.0 (the SONAME), not the unversioned name" 'NEEDED.*\[libprodata\.so\.0\]'
run_cmd env LD_LIBRARY_PATH="$dest/usr/lib" "$TAP_WORKDIR/count" examples/bookstore/models.pdm
expect_eq "the program runs and counts the example's models" "$OUT" \
    "$(grep -c '^model ' examples/bookstore/models.pdm) models"
run_cmd "$dest/usr/bin/prodata" --version
expect_out "the installed prodata runs" "prodata"
for path in usr/share/prodata/scripts/demo.sh usr/share/prodata/examples/bookstore/models.pdm \
    usr/share/prodata/examples/bookstore/migrations/0001_initial.sql; do
    [ -e "$dest/$path" ] && tap_ok "installed $path" || tap_not_ok "installed $path" "$(cd "$dest" && find . | sort)"
done
# prodata demo finds the installed script and example (stop: a demo directory of this test's, nothing to stop).
run_cmd env PRODATA_DEMO_DIR="$TAP_WORKDIR/demo" "$dest/usr/bin/prodata" demo stop
expect_rc "the installed prodata demo stop runs the installed script" 0
expect_out "  and it says the demo is stopped" "demo: stopped"
run_cmd env PRODATA_DEMO_HOME="$TAP_WORKDIR/nowhere" "$dest/usr/bin/prodata" demo
expect_rc "prodata demo without its files exits 2" 2
expect_out "  naming where it looked" "no scripts/demo.sh with examples/bookstore in $TAP_WORKDIR/nowhere"
run_cmd "$dest/usr/bin/prodata" demo start
expect_rc "prodata demo with an unknown action exits 2" 2
expect_out "  naming the action" 'unknown action "start"'
run_cmd "$dest/usr/bin/prodata" demo --database=x
expect_rc "prodata demo takes no settings" 2

run_cmd make --no-print-directory BUILD="$BUILD" DESTDIR="$dest" PREFIX=/usr uninstall
expect_rc "make uninstall DESTDIR=... PREFIX=/usr" 0
expect_eq "make uninstall leaves no file behind" "$(cd "$dest" && find . ! -type d | sort)" ""

# Paths with spaces: every path is one word to the shell and to pkg-config, and uninstall removes exactly what
# install put there (unquoted, "rm -rf $(DESTDIR)..." would remove the folder "$TAP_WORKDIR/my" below).
spaced="$TAP_WORKDIR/my dest"
mkdir -p "$TAP_WORKDIR/my"
touch "$TAP_WORKDIR/my/keep"
run_cmd make --no-print-directory BUILD="$BUILD" DESTDIR="$spaced" PREFIX="/opt/pro data" install
expect_rc "make install with spaces in DESTDIR and PREFIX" 0
installed=$({
    printf '%s\n' ./bin/prodata ./bin/prodata-wal ./lib/libprodata.a ./lib/libprodata.so ./lib/libprodata.so.0 \
        "./lib/$(readlink "$BUILD/libprodata.so.0")" ./lib/pkgconfig/prodata.pc
    for header in include/prodata/*.h; do echo "./$header"; done
    printf '%s\n' ./share/prodata/scripts/demo.sh ./share/prodata/examples/bookstore/models.pdm \
        ./share/prodata/examples/bookstore/prodata.conf ./share/prodata/examples/bookstore/seed.sql
    for migration in examples/bookstore/migrations/*.sql; do echo "./share/prodata/$migration"; done
} | sort)
expect_eq "everything lands under the spaced prefix" \
    "$(cd "$spaced/opt/pro data" 2>/dev/null && find . ! -type d | sort)" "$installed"
run_cmd env PKG_CONFIG_PATH="$spaced/opt/pro data/lib/pkgconfig" PKG_CONFIG_SYSROOT_DIR= pkg-config --cflags --libs prodata
expect_out "pkg-config keeps a spaced prefix one word (spaces escaped)" \
    '^-I/opt/pro\\ data/include .*-L/opt/pro\\ data/lib -lprodata'
run_cmd make --no-print-directory BUILD="$BUILD" DESTDIR="$spaced" PREFIX="/opt/pro data" uninstall
expect_rc "make uninstall with spaces in DESTDIR and PREFIX" 0
expect_eq "uninstall removes every installed file and nothing else" \
    "$(cd "$spaced" 2>/dev/null && find . ! -type d | sort)|$(ls "$TAP_WORKDIR/my" 2>&1)" "|keep"

tap_done
