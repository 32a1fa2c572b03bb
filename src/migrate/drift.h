/*
 * drift.h - the schema snapshot recorded by migrate and compared by `check`.
 * drift.c reads the live schema (whole, or only some tables, and what changed
 * without deparsing); drift_store.c keeps the stored snapshot, one row per
 * line, and compares for `check`; drift_run.c follows one migrate run, so
 * that each migration deparses only the tables it touched. Private to
 * src/migrate; the public entry is pd_migrate_check_drift.
 */
#ifndef PRODATA_MIGRATE_DRIFT_H
#define PRODATA_MIGRATE_DRIFT_H

#include <stdbool.h>
#include <stddef.h>

#include "prodata/arena.h"
#include "prodata/db.h"
#include "prodata/error.h"
#include "prodata/strmap.h"

/* One line of a snapshot: "key<TAB>definition", newlines and tabs inside escaped. */
typedef struct PdDriftLine
{
    const char *key;
    size_t key_length;
    const char *definition;
    size_t definition_length;
} PdDriftLine;

/* One line read from the live schema, with the table it belongs to (its oid, decimal). */
typedef struct PdDriftRow
{
    const char *table_oid;
    PdDriftLine line;
} PdDriftRow;

/*
 * The live schema's lines sorted by key (COLLATE "C"), in arena. With
 * table_oids (a PostgreSQL array literal of oids, "{1,2}"), only those
 * tables; NULL reads every migrated table.
 */
bool pd_drift_read_rows(PdArena *arena, PdDb *db, const char *table_oids, PdDriftRow **rows, size_t *count,
                        PdError *err);

/*
 * For every migrated table (with table_oids, only those): oid text -> its
 * count of constraints and indexes ("3:2"), in arena. A deletion leaves no
 * new row version behind; it changes these counts.
 */
bool pd_drift_read_census(PdArena *arena, PdDb *db, const char *table_oids, PdStrmap **census, PdError *err);

/*
 * The oldest transaction still running as this statement starts (a 32-bit
 * xid's text): whatever commits later has an xid not older than it.
 */
bool pd_drift_read_horizon(PdArena *arena, PdDb *db, const char **xid, PdError *err);

/*
 * The tables whose catalog rows (or those their definitions name) were
 * written by a transaction not older than `since` other than `own` (xids),
 * as an array literal of oids. No deparsing: a few catalog scans.
 */
bool pd_drift_read_changed_since(PdArena *arena, PdDb *db, const char *since, const char *own,
                                 const char **table_oids, PdError *err);

/*
 * Inside a transaction: the relations it changed (it locked them), with the
 * tables whose definitions name them, as an array literal of oids; and its
 * xid ("0" when none). May hold oids that are no migrated table; the
 * readers above filter them out.
 */
bool pd_drift_read_changed(PdArena *arena, PdDb *db, const char **table_oids, const char **own, PdError *err);

/* The live schema as one text of sorted lines (for the history's schema_before_concurrent). */
bool pd_drift_read_schema(PdArena *arena, PdDb *db, const char **snapshot, PdError *err);

/*
 * Inside the migration's transaction, before writing: moves an old
 * single-text snapshot into the lines table (dropping the old table), and
 * says whether a snapshot exists (*is_taken; false before the first migrate).
 */
bool pd_drift_prepare_store(PdArena *arena, PdDb *db, bool *is_taken, PdError *err);

/*
 * Writes into the stored snapshot the change from before to after (both
 * sorted by key, unique keys): lines whose key vanished are deleted, new or
 * changed ones written. With is_first (no snapshot taken yet), every line of
 * before is written first, so the schema as found is the starting point.
 */
bool pd_drift_store_change(PdArena *arena, PdDb *db, const PdDriftLine *before, size_t before_count,
                           const PdDriftLine *after, size_t after_count, bool is_first, PdError *err);

/* The stored snapshot's lines, sorted by key; *is_found false when no snapshot was taken (the old single
 * text is read too). */
bool pd_drift_read_stored(PdArena *arena, PdDb *db, PdDriftLine **lines, size_t *count, bool *is_found,
                          PdError *err);

/* Sorts lines by key, as the "C" collation orders them. */
void pd_drift_sort_lines(PdDriftLine *lines, size_t count);

/* Orders two lines by key, as the "C" collation does. */
int pd_drift_compare_keys(const PdDriftLine *a, const PdDriftLine *b);

/* Splits a text of lines (from pd_drift_join_lines) into *lines, pointing into text. False on exhaustion. */
bool pd_drift_split_text(PdArena *arena, const char *text, PdDriftLine **lines, size_t *count);

/* Joins sorted lines into one text, "key\tdefinition" separated by newlines. */
const char *pd_drift_join_lines(PdArena *arena, const PdDriftLine *lines, size_t count);

/*
 * Writes into the stored snapshot exactly the lines that differ between two
 * texts of the live schema (from pd_drift_read_schema), before and after a
 * change, so drift made by hand stays visible. Call under the migrate lock,
 * inside the transaction.
 */
bool pd_drift_record_change(PdArena *arena, PdDb *db, const char *before_text, const char *after_text,
                            PdError *err);

/*
 * One migrate run's view of the schema, kept between its migrations so that
 * each deparses only what changed: the lines of every migrated table, their
 * census, and the transactions already seen. Lives in a child of the
 * arena given to pd_drift_run_new, compacted so that it stays the size of the
 * schema however long the run.
 */
typedef struct PdDriftRun PdDriftRun;

PdDriftRun *pd_drift_run_new(PdArena *arena);

/*
 * Inside a migration's transaction, before its SQL: brings the run's lines up
 * to date with the live schema (all of it for the first migration of a run;
 * afterwards only the tables someone else changed since the previous
 * migration: by hand or by a concurrent part in between).
 */
bool pd_drift_run_begin(PdDriftRun *run, PdArena *scratch, PdDb *db, PdError *err);

/*
 * After the SQL, in the same transaction: re-reads the tables it changed and
 * writes the lines that differ into the stored snapshot. With
 * schema_after non-NULL, also the whole schema after it as one text.
 */
bool pd_drift_run_record(PdDriftRun *run, PdArena *scratch, PdDb *db, const char **schema_after,
                         PdError *err);

/* After a transaction that did not commit: the next begin reads everything again. */
void pd_drift_run_forget(PdDriftRun *run);

/* Frees the run's state (the run itself lives in the arena given to pd_drift_run_new). */
void pd_drift_run_free(PdDriftRun *run);

#endif
