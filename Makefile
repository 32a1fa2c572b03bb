# prodata build. `make` builds build/prodata and libprodata (static and shared);
# `make test` runs every unit and integration test on a real PostgreSQL 15, after
# the boundary checks (check-layers, check-exports, check-lib, a clang build);
# `make install` / `make uninstall` (PREFIX, DESTDIR) put it on a system;
# `make asan` builds with AddressSanitizer + UBSan and runs the same tests (ASAN_TESTS= picks some);
# `make demo` migrates the example onto a local PostgreSQL, seeds it and serves it (`make demo-stop`; its
# folder and ports: PRODATA_DEMO_DIR=... PRODATA_DEMO_PORT=N, in the environment or after `make demo`);
# `make bench`, `make bench-rest`, `make bench-archive`, `make bench-backup` and `make bench-failover` run the benchmarks beside their
# reference systems; `make chaos` runs random faults on three keepers (root; not part of `make test`).
# Every target that needs packages depends on `deps`, which installs only what is missing.

BUILD    ?= build
CC       ?= cc
CSTD      = -std=c11 -D_POSIX_C_SOURCE=200809L -D_DEFAULT_SOURCE
WARN      = -Wall -Wextra -Werror -Wshadow -Wstrict-prototypes -Wmissing-prototypes -Wno-missing-field-initializers
OPT      ?= -O2 -g
PG_INC   := $(shell pg_config --includedir 2>/dev/null || echo /usr/include/postgresql)
CPPFLAGS += -Iinclude -Isrc -I$(PG_INC)
# Hidden by default: libprodata.so exports only what the public headers declare between
# PD_API_BEGIN and PD_API_END (include/prodata/export.h); `check-exports` holds it to that.
CFLAGS   += $(CSTD) $(WARN) $(OPT) -pthread -fPIC -fvisibility=hidden $(EXTRA_CFLAGS)
LDLIBS   += -lpq -ljansson -lcrypto -pthread
# The prodata binary also serves HTTP (src/http), compresses archived WAL (src/archive) and speaks to
# etcd (src/ha, libcurl); libprodata itself links neither libmicrohttpd, libzstd nor libcurl.
BIN_LDLIBS := -lmicrohttpd -lzstd -lcurl
LDFLAGS  += $(EXTRA_LDFLAGS)

VERSION  := 0.1.0
SOVERSION := $(firstword $(subst ., ,$(VERSION)))
SONAME   := libprodata.so.$(SOVERSION)
CPPFLAGS += -DPD_VERSION=\"$(VERSION)\"

# libprodata's modules, from the layer table in scripts/check-layers.sh (which keeps them from
# including the others); every other folder of src/ goes into the prodata binary only.
LIB_MODULES := $(shell scripts/check-layers.sh --library)
BIN_MODULES := $(filter-out $(LIB_MODULES),$(notdir $(wildcard src/*)))
LIB_SRC  := $(sort $(wildcard $(LIB_MODULES:%=src/%/*.c)))
# src/cli/wal_main.c is the main of prodata-wal (below), not of prodata.
CLI_SRC  := $(filter-out src/cli/wal_main.c,$(sort $(wildcard $(BIN_MODULES:%=src/%/*.c))))
UNIT_SRC := $(sort $(wildcard tests/unit/*/test_*.c))
# cmocka programs that need a database (tests/pg/test_*.c): tests/run.sh runs each on a fresh database of its
# throwaway PostgreSQL, connection in PRODATA_TEST_CONNINFO.
PGT_SRC  := $(sort $(wildcard tests/pg/test_*.c))

# Short programs using libprodata's public headers only (examples/*.c: query_example, the program of
# docs/query.md), built against the static library as a user's program would be.
EXAMPLE_SRC := $(sort $(wildcard examples/*.c))
EXAMPLE_BIN := $(patsubst examples/%.c,$(BUILD)/examples/%,$(EXAMPLE_SRC))

# The fault tests' tools (tests/ha/*.c: writer, check_writes): built by make, never installed. The writer
# plays an application through libpq alone, none of prodata's code (docs/testing-ha.md).
HA_TOOL_SRC := $(sort $(wildcard tests/ha/*.c))
HA_TOOL_BIN := $(patsubst tests/ha/%.c,$(BUILD)/tests/ha/%,$(HA_TOOL_SRC))

LIB_OBJ  := $(LIB_SRC:%.c=$(BUILD)/obj/%.o)
CLI_OBJ  := $(CLI_SRC:%.c=$(BUILD)/obj/%.o)
UNIT_BIN := $(patsubst tests/unit/%.c,$(BUILD)/tests/unit/%,$(UNIT_SRC))
PGT_BIN  := $(patsubst tests/pg/%.c,$(BUILD)/tests/pg/%,$(PGT_SRC))

.PHONY: all deps test unit integration asan clang demo demo-stop bench bench-backfill bench-rest bench-archive bench-backup bench-failover bench-failover-deps bench-steady chaos bench-deps clean format format-check check-lib check-exports check-layers check-prefix install uninstall
.DEFAULT_GOAL := all

all: deps $(BUILD)/prodata $(BUILD)/prodata-wal $(BUILD)/libprodata.a $(BUILD)/libprodata.so $(UNIT_BIN) $(PGT_BIN) $(EXAMPLE_BIN) $(HA_TOOL_BIN) check-lib check-exports

deps:
	@scripts/deps.sh

# Objects depend on the Makefile too, so a change of flags (visibility, warnings) rebuilds them.
$(BUILD)/obj/%.o: %.c Makefile
	@mkdir -p $(dir $@)
	$(CC) $(CPPFLAGS) $(CFLAGS) -MMD -MP -c $< -o $@

$(BUILD)/libprodata.a: $(LIB_OBJ)
	@rm -f $@
	ar rcs $@ $^

# libprodata.so.0.1.0 carries the SONAME libprodata.so.0 (the major version: programs linked
# against it keep working until the ABI breaks); libprodata.so is the name the linker looks for.
$(BUILD)/libprodata.so.$(VERSION): $(LIB_OBJ)
	$(CC) -shared -Wl,-soname,$(SONAME) $(LDFLAGS) -o $@ $^ $(LDLIBS)

$(BUILD)/$(SONAME) $(BUILD)/libprodata.so: $(BUILD)/libprodata.so.$(VERSION)
	ln -sf libprodata.so.$(VERSION) $(BUILD)/$(SONAME)
	ln -sf $(SONAME) $(BUILD)/libprodata.so

$(BUILD)/prodata: $(CLI_OBJ) $(BUILD)/libprodata.a
	$(CC) $(LDFLAGS) -o $@ $(CLI_OBJ) $(BUILD)/libprodata.a $(BIN_LDLIBS) $(LDLIBS)

# prodata-wal: wal-push and wal-fetch without libpq, libcurl or libmicrohttpd, which every start of prodata
# loads (PostgreSQL starts one process per WAL segment; src/cli/wal_main.c).
WAL_OBJ := $(patsubst %.c,$(BUILD)/obj/%.o,src/cli/wal_main.c src/cli/cmd_archive.c src/cli/log_stderr.c)
$(BUILD)/prodata-wal: $(WAL_OBJ) $(BUILD)/archive.a $(BUILD)/libprodata.a
	$(CC) $(LDFLAGS) -o $@ $(WAL_OBJ) $(BUILD)/archive.a $(BUILD)/libprodata.a -lzstd -lcrypto -pthread

$(BUILD)/tests/unit/%: tests/unit/%.c $(BUILD)/libprodata.a
	@mkdir -p $(dir $@)
	$(CC) $(CPPFLAGS) $(CFLAGS) -Itests/unit -o $@ $< $(BUILD)/libprodata.a $(LDLIBS) -lcmocka

# src/http is not in libprodata: its unit tests (and the fuzz targets) also link http.a, an archive of its
# objects, so each program pulls in only the files it uses (and libmicrohttpd for those that serve).
HTTP_OBJ := $(patsubst %.c,$(BUILD)/obj/%.o,$(sort $(wildcard src/http/*.c)))
$(BUILD)/http.a: $(HTTP_OBJ)
	@rm -f $@
	ar rcs $@ $^

$(BUILD)/tests/unit/http/%: tests/unit/http/%.c $(BUILD)/http.a $(BUILD)/libprodata.a
	@mkdir -p $(dir $@)
	$(CC) $(CPPFLAGS) $(CFLAGS) -Itests/unit -o $@ $< $(BUILD)/http.a $(BUILD)/libprodata.a $(BIN_LDLIBS) $(LDLIBS) -lcmocka

# src/archive is not in libprodata either: its unit tests and fuzz target link archive.a the same way.
ARCHIVE_OBJ := $(patsubst %.c,$(BUILD)/obj/%.o,$(sort $(wildcard src/archive/*.c)))
$(BUILD)/archive.a: $(ARCHIVE_OBJ)
	@rm -f $@
	ar rcs $@ $^

$(BUILD)/tests/unit/archive/%: tests/unit/archive/%.c $(BUILD)/archive.a $(BUILD)/libprodata.a
	@mkdir -p $(dir $@)
	$(CC) $(CPPFLAGS) $(CFLAGS) -Itests/unit -o $@ $< $(BUILD)/archive.a $(BUILD)/libprodata.a $(BIN_LDLIBS) $(LDLIBS) -lcmocka

# Nor is src/ha (the etcd client): its tests (each starts its own etcd) and the fuzz targets link ha.a.
HA_OBJ := $(patsubst %.c,$(BUILD)/obj/%.o,$(sort $(wildcard src/ha/*.c)))
$(BUILD)/ha.a: $(HA_OBJ)
	@rm -f $@
	ar rcs $@ $^

$(BUILD)/tests/unit/ha/%: tests/unit/ha/%.c $(wildcard tests/unit/ha/*.h) $(BUILD)/ha.a $(BUILD)/libprodata.a
	@mkdir -p $(dir $@)
	$(CC) $(CPPFLAGS) $(CFLAGS) -Itests/unit -o $@ $< $(BUILD)/ha.a $(BUILD)/libprodata.a $(BIN_LDLIBS) $(LDLIBS) -lcmocka -lpthread

$(BUILD)/tests/pg/%: tests/pg/%.c $(wildcard tests/pg/*.h) $(BUILD)/libprodata.a
	@mkdir -p $(dir $@)
	$(CC) $(CPPFLAGS) $(CFLAGS) -Itests/pg -o $@ $< $(BUILD)/libprodata.a $(LDLIBS) -lcmocka

$(BUILD)/tests/ha/%: tests/ha/%.c Makefile
	@mkdir -p $(dir $@)
	$(CC) $(CPPFLAGS) $(CFLAGS) -o $@ $< -lpq

$(BUILD)/examples/%: examples/%.c $(BUILD)/libprodata.a
	@mkdir -p $(dir $@)
	$(CC) -Iinclude $(CFLAGS) -o $@ $< $(BUILD)/libprodata.a $(LDLIBS)

# The library never prints or exits: only src/cli may (docs/STYLE, as libpq's own check).
check-lib: $(BUILD)/libprodata.a
	@bad=$$(nm -u $(BUILD)/libprodata.a | grep -wE 'exit|_exit|abort|printf|fprintf|vprintf|vfprintf|puts|fputs|putchar|perror|fwrite|stdout|stderr|__printf_chk|__fprintf_chk|__vfprintf_chk|srand|getenv' | sort -u); \
	if [ -n "$$bad" ]; then echo "libprodata must not call: $$bad" >&2; exit 1; fi

# libprodata.so exports only pd_ symbols, and every function a public header declares.
check-exports: $(BUILD)/libprodata.so
	@CC="$(CC)" CPPFLAGS="$(CPPFLAGS)" scripts/check-exports.sh $(BUILD)/libprodata.so include/prodata

# Functions shared between the files of one module are static or named pd_<module>_... (src/*/README.md):
# every global symbol of libprodata.a starts with pd_. Not yet part of `make test`: src/migrate still
# shares schema_, ddl_ and alter_ functions (hidden from libprodata.so, global in libprodata.a).
check-prefix: $(BUILD)/libprodata.a
	@bad=$$(nm -A -g --defined-only $(BUILD)/libprodata.a | awk 'NF == 3 && $$3 !~ /^pd_/ { split($$1, where, ":"); print "    " where[2] ": " $$3 }'); \
	if [ -n "$$bad" ]; then echo "libprodata.a: global symbols outside pd_ (make them static or name them pd_<module>_...):" >&2; \
	echo "$$bad" >&2; exit 1; fi; echo "prefix: every global symbol of libprodata.a starts with pd_"

# Includes point down only (cli -> {http, ha, migrate, archive} -> query -> {model, db} -> core), private
# headers stay in their module, public headers need no other package: the table is in the script.
check-layers:
	@scripts/check-layers.sh

test: all clang check-layers
	@PRODATA_BUILD=$(BUILD) tests/run.sh

# The same sources must build warning-free with clang too (-Werror): checked on every test run.
clang: deps
	@$(MAKE) --no-print-directory CC=clang BUILD=build/clang OPT=-O0 build/clang/prodata build/clang/prodata-wal build/clang/libprodata.a \
		$(HA_TOOL_SRC:tests/ha/%.c=build/clang/tests/ha/%) >/dev/null
	@echo "clang: warning-free build"

unit: all
	@PRODATA_BUILD=$(BUILD) tests/run.sh --unit-only

# `make asan`: build/asan with AddressSanitizer + UBSan, then the tests on it: the unit and tests/pg programs,
# and the integration files, whose every prodata process (the server of the serve tests included) is
# build/asan/prodata. ASAN_TESTS="pg/ serve_ counters" runs only the tests whose names contain one of the
# words. A sanitizer report (an error, or leaks at exit) is written under build/asan/sanitizer/, not into a
# test's output where a server's stderr would be lost with its test's files: the reports are printed at the
# end and fail the run even when every test passed. ASan's one-line warning that it does not fully support
# swapcontext, which every server process prints (it runs requests as fibers), is not a report.
ASAN_TESTS ?=
ASAN_FLAGS := -fsanitize=address,undefined -fno-sanitize-recover=undefined
ASAN_REPORTS = $(CURDIR)/build/asan/sanitizer
asan: deps
	@$(MAKE) --no-print-directory BUILD=build/asan OPT="-O1 -g -fno-omit-frame-pointer" \
		EXTRA_CFLAGS="$(ASAN_FLAGS)" EXTRA_LDFLAGS="$(ASAN_FLAGS)" all
	@rm -rf $(ASAN_REPORTS) && mkdir -p $(ASAN_REPORTS)
	@ASAN_OPTIONS="log_path=$(ASAN_REPORTS)/asan:detect_leaks=1" \
		UBSAN_OPTIONS="log_path=$(ASAN_REPORTS)/ubsan:print_stacktrace=1" \
		PRODATA_BUILD=build/asan tests/run.sh $(ASAN_TESTS); rc=$$?; \
	for report in $(ASAN_REPORTS)/*; do [ -e "$$report" ] || continue; \
		grep -qvE "^(==[0-9]+==)?WARNING: ASan doesn't fully support makecontext/swapcontext" "$$report" || \
			rm -f "$$report"; done; \
	if [ -n "$$(ls $(ASAN_REPORTS))" ]; then \
		echo "asan: $$(ls $(ASAN_REPORTS) | wc -l) sanitizer report(s) in $(ASAN_REPORTS):"; \
		for report in $(ASAN_REPORTS)/*; do echo "== $$report"; head -n 40 "$$report"; done; exit 1; \
	fi; [ $$rc = 0 ] && echo "asan: no sanitizer report"; exit $$rc

demo: all
	@scripts/demo.sh

demo-stop:
	@scripts/demo.sh stop

# The reference systems of the benchmarks: Django (bench), DRF under gunicorn and wrk (bench-rest). The
# Fastify anchor needs Node.js 20 with npm, which Debian 12 does not ship: bench-rest skips it without them.
bench-deps:
	@PRODATA_DEPS_EXTRA="python3-django python3-psycopg2 python3-djangorestframework python3-django-filters gunicorn wrk" scripts/deps.sh

bench: all bench-deps
	@bench/migrate/run.sh
	@bench/migrate/squash.sh
	@bench/migrate/backfill.sh

# The batched backfill of 10 million rows under a writer, beside one UPDATE (bench/migrate/backfill.sh).
bench-backfill: all
	@bench/migrate/backfill.sh

# prodata serve beside DRF, Fastify and pgbench on the same rows (bench/rest/README.md).
bench-rest: all bench-deps
	@bench/rest/run.sh

# prodata wal-push per 16 MB segment under a pgbench write load, with zstd and without, beside pgBackRest's
# archive-push (bench/archive/README.md).
bench-archive: all
	@bench/archive/run.sh

# prodata backup, restore and PITR beside pgBackRest (../shared/anchors/pgbackrest) on pgbench -s 100, one run.
bench-backup: all
	@PRODATA_DEPS_EXTRA="pgbackrest jq" scripts/deps.sh
	@bench/backup/run.sh

# prodata's keeper beside Patroni (../shared/anchors/patroni) after a postmaster crash, node loss, network
# isolation and switchover: write unavailability, rows lost, rejoin time (bench/failover/README.md; root).
# REPS=3 make bench-failover for a shorter run.
bench-failover: all bench-failover-deps
	@bench/failover/run.sh

# The Patroni anchor's packages (Debian 12's patroni 3.0.2 and its Python modules).
bench-failover-deps:
	@PRODATA_DEPS_EXTRA="patroni python3-etcd python3-psycopg2 python3-yaml etcd-client" scripts/deps.sh

# No false failover over 10 minutes with both cores saturated, and the keepers' memory (root).
bench-steady: all
	@bench/failover/steady.sh

# Random faults on three keepers in network namespaces with writers running, not part of `make test`
# (docs/testing-ha.md; root): CHAOS_N=16 CHAOS_SEED=... make chaos.
chaos: deps all
	@tests/ha/chaos.sh

format: deps
	clang-format -i $$(git ls-files '*.c' '*.h')

# Fails when a file is not as .clang-format would write it.
format-check: deps
	@clang-format --dry-run --Werror $$(git ls-files '*.c' '*.h') && echo "format: clean"

# `make fuzz` (not part of `make test`): the libFuzzer targets in tests/fuzz, built by clang with ASan and
# UBSan, each run for FUZZ_SECONDS (default 30) on seeds copied from the examples and the test data.
# FUZZ_TARGETS="model split" runs only those. Findings are kept in build/fuzz/artifacts/<target>/.
FUZZ_SECONDS ?= 30
FUZZ_TARGETS ?=
FUZZ_SAN     := -fsanitize=address,undefined -fno-sanitize-recover=undefined
.PHONY: fuzz fuzz-build

fuzz: deps
	@$(MAKE) --no-print-directory CC=clang BUILD=build/fuzz OPT="-O1 -g -fno-omit-frame-pointer" \
		EXTRA_CFLAGS="$(FUZZ_SAN) -fsanitize=fuzzer-no-link" EXTRA_LDFLAGS="$(FUZZ_SAN)" fuzz-build
	@FUZZ_SECONDS=$(FUZZ_SECONDS) tests/fuzz/run.sh build/fuzz $(FUZZ_TARGETS)

# A target that reads a private header of a module in libprodata sits with that module's unit tests
# (tests/unit/<module>/fuzz_*.c), which count as the module for the layering rules.
MODULE_FUZZ_SRC := $(sort $(wildcard tests/unit/*/fuzz_*.c))
fuzz-build: $(patsubst tests/fuzz/%.c,$(BUILD)/bin/%,$(sort $(wildcard tests/fuzz/fuzz_*.c))) \
	$(addprefix $(BUILD)/bin/,$(notdir $(MODULE_FUZZ_SRC:.c=)))

$(BUILD)/bin/fuzz_%: tests/fuzz/fuzz_%.c tests/fuzz/fuzz.h $(BUILD)/http.a $(BUILD)/archive.a $(BUILD)/ha.a \
		$(BUILD)/libprodata.a
	@mkdir -p $(dir $@)
	$(CC) $(CPPFLAGS) $(CFLAGS) -fsanitize=fuzzer -o $@ $< $(BUILD)/http.a $(BUILD)/archive.a $(BUILD)/ha.a \
		$(BUILD)/libprodata.a $(BIN_LDLIBS) $(LDLIBS) $(LDFLAGS)

$(BUILD)/bin/fuzz_%: tests/unit/migrate/fuzz_%.c tests/fuzz/fuzz.h $(BUILD)/libprodata.a
	@mkdir -p $(dir $@)
	$(CC) $(CPPFLAGS) $(CFLAGS) -fsanitize=fuzzer -o $@ $< $(BUILD)/libprodata.a $(BIN_LDLIBS) $(LDLIBS) $(LDFLAGS)

# `make install [PREFIX=/usr/local] [DESTDIR=staging]`: the binary, libprodata (static, and shared with
# its SONAME links), the public headers under include/prodata and prodata.pc for pkg-config (from
# prodata.pc.in). `make uninstall` with the same variables removes exactly these. Neither builds:
# run `make` first (as a user) when installing as root.
PREFIX       ?= /usr/local
BINDIR       ?= $(PREFIX)/bin
DATADIR      ?= $(PREFIX)/share
LIBDIR       ?= $(PREFIX)/lib
INCLUDEDIR   ?= $(PREFIX)/include
PKGCONFIGDIR ?= $(LIBDIR)/pkgconfig
INSTALL      ?= install
PUBLIC_HEADERS := $(sort $(wildcard include/prodata/*.h))

# Every path is quoted in the recipes, so a DESTDIR or PREFIX with spaces stays one word (unquoted, `rm -rf`
# would remove whatever its first word names). In prodata.pc spaces are escaped (pkg-config splits Cflags and
# Libs at spaces); pc_path also escapes what sed's replacement treats specially.
empty :=
space := $(empty) $(empty)
pc_path = $(subst |,\|,$(subst &,\&,$(subst \,\\,$(subst $(space),\$(space),$(subst \,\\,$(1))))))

install: $(BUILD)/prodata $(BUILD)/prodata-wal $(BUILD)/libprodata.a $(BUILD)/libprodata.so
	$(INSTALL) -d "$(DESTDIR)$(BINDIR)" "$(DESTDIR)$(LIBDIR)" "$(DESTDIR)$(INCLUDEDIR)/prodata" "$(DESTDIR)$(PKGCONFIGDIR)"
	$(INSTALL) -m 755 $(BUILD)/prodata "$(DESTDIR)$(BINDIR)/prodata"
	$(INSTALL) -m 755 $(BUILD)/prodata-wal "$(DESTDIR)$(BINDIR)/prodata-wal"
	$(INSTALL) -m 644 $(BUILD)/libprodata.a "$(DESTDIR)$(LIBDIR)/libprodata.a"
	$(INSTALL) -m 755 $(BUILD)/libprodata.so.$(VERSION) "$(DESTDIR)$(LIBDIR)/libprodata.so.$(VERSION)"
	ln -sf libprodata.so.$(VERSION) "$(DESTDIR)$(LIBDIR)/$(SONAME)"
	ln -sf $(SONAME) "$(DESTDIR)$(LIBDIR)/libprodata.so"
	$(INSTALL) -m 644 $(PUBLIC_HEADERS) "$(DESTDIR)$(INCLUDEDIR)/prodata/"
	@# prodata demo finds its script and the bookstore example here (src/cli/cmd_demo.c).
	$(INSTALL) -d "$(DESTDIR)$(DATADIR)/prodata/scripts" "$(DESTDIR)$(DATADIR)/prodata/examples/bookstore/migrations"
	$(INSTALL) -m 755 scripts/demo.sh "$(DESTDIR)$(DATADIR)/prodata/scripts/demo.sh"
	$(INSTALL) -m 644 examples/bookstore/models.pdm examples/bookstore/prodata.conf examples/bookstore/seed.sql \
		"$(DESTDIR)$(DATADIR)/prodata/examples/bookstore/"
	$(INSTALL) -m 644 examples/bookstore/migrations/*.sql "$(DESTDIR)$(DATADIR)/prodata/examples/bookstore/migrations/"
	sed -e 's|@PREFIX@|$(call pc_path,$(PREFIX))|' -e 's|@LIBDIR@|$(call pc_path,$(LIBDIR))|' \
		-e 's|@INCLUDEDIR@|$(call pc_path,$(INCLUDEDIR))|' -e 's|@VERSION@|$(VERSION)|' \
		prodata.pc.in >"$(DESTDIR)$(PKGCONFIGDIR)/prodata.pc"
	@# The dynamic linker finds a new library under /usr/local/lib only after ldconfig.
	@if [ -z "$(DESTDIR)" ] && [ "$$(id -u)" = 0 ]; then ldconfig; fi

uninstall:
	rm -f "$(DESTDIR)$(BINDIR)/prodata" "$(DESTDIR)$(BINDIR)/prodata-wal" "$(DESTDIR)$(LIBDIR)/libprodata.a" "$(DESTDIR)$(LIBDIR)/libprodata.so" \
		"$(DESTDIR)$(LIBDIR)/$(SONAME)" "$(DESTDIR)$(LIBDIR)/libprodata.so.$(VERSION)" \
		"$(DESTDIR)$(PKGCONFIGDIR)/prodata.pc"
	rm -rf "$(DESTDIR)$(INCLUDEDIR)/prodata" "$(DESTDIR)$(DATADIR)/prodata"

clean:
	rm -rf build

-include $(shell find $(BUILD)/obj -name '*.d' 2>/dev/null)
