/*
 * expect.h - the schema that migration files (or a model file, through the
 * plan from an empty database) would make, read by making it: their SQL runs
 * in a scratch schema inside a transaction that is always rolled back, and
 * the result is read with the drift reader's own query, so it compares line
 * for line with the live schema. Used by `migrate --fake` and
 * `--fake-initial` (a schema adopted as it is must be what the migrations
 * would have made) and by `check` (the live schema against the model file
 * itself). Private to src/migrate.
 */
#ifndef PRODATA_MIGRATE_EXPECT_H
#define PRODATA_MIGRATE_EXPECT_H

#include <stdbool.h>
#include <stddef.h>

#include "drift.h"
#include "prodata/migrate.h"
#include "prodata/strbuf.h"

/*
 * Runs the +up and +up concurrently sections of files[0..count) in order in
 * a scratch schema (concurrent statements without CONCURRENTLY, in the same
 * transaction), reads the tables they made as drift lines sorted by key (the
 * scratch schema's name replaced by the live one's, as pg_get_indexdef
 * qualifies tables), and rolls everything back. Call outside a transaction.
 * Errors: a statement that fails names its file and line; PD_ERR_REFUSED
 * when the role may not create a schema.
 */
bool pd_expect_read(PdArena *arena, PdDb *db, const PdMigrationFile *files, size_t count, PdDriftLine **lines,
                    size_t *line_count, PdError *err);

/* The table a drift line belongs to ("column book.title" -> "book"), in arena; NULL on exhaustion. */
char *pd_expect_line_table(PdArena *arena, const PdDriftLine *line);

/*
 * The lines of `lines` whose table is one of the tables of `of` (its "table
 * X" lines), in order, into *kept (arena).
 */
bool pd_expect_filter(PdArena *arena, const PdDriftLine *of, size_t of_count, const PdDriftLine *lines,
                      size_t count, PdDriftLine **kept, size_t *kept_count);

/* What a comparison calls each side, for its lines. */
typedef struct PdExpectWords
{
    const char *only_expected; /* "missing (the migrations created it)" */
    const char *only_live;     /* "not created by the migrations" */
    const char *expected_name; /* "expected", "models.pdm says" */
} PdExpectWords;

/*
 * Appends to diff one line per difference between two sorted line lists:
 * "- key: <only_expected>: definition", "+ key: <only_live>: definition",
 * "~ key: changed: live\n    <expected_name>: expected", each after indent.
 * Returns how many; counts (when not NULL) gets how many of each kind are
 * added to it: only expected, only live, changed.
 */
size_t pd_expect_diff(PdStrbuf *diff, const PdDriftLine *expected, size_t expected_count,
                      const PdDriftLine *live, size_t live_count, const PdExpectWords *words,
                      const char *indent, size_t counts[3]);

#endif
