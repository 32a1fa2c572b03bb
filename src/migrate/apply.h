/*
 * apply.h - what the two files of migrate's applying half share: apply.c
 * (the lock, the checks, a file's transaction, the order of work) and
 * concurrent.c (a file's concurrent part: running, resuming, and undoing
 * exactly what ran of it when a partly applied file is reverted). Private to
 * src/migrate.
 */
#ifndef PRODATA_MIGRATE_APPLY_H
#define PRODATA_MIGRATE_APPLY_H

#include <stdbool.h>
#include <stddef.h>
#include <time.h>

#include "drift.h"
#include "history.h"
#include "prodata/migrate.h"
#include "prodata/retry.h"

/* One section of a file as sent to the server, and where it starts in the file. */
typedef struct PdApplySql
{
    const PdMigrationFile *file;
    const char *section;   /* the whole section's SQL */
    int first_line;        /* its first line in the file */
    const char *statement; /* what was sent: the section, or one statement inside it */
} PdApplySql;

/*
 * One file's transaction as a unit of work: what runs, which way, and for the
 * revert of a partly applied file, the objects that its unfinished concurrent
 * statements would have made (quoted, as they appear in the SQL).
 */
typedef struct PdApplyStep
{
    PdApplySql sent;
    bool is_revert;
    bool has_concurrent_part;
    const char **unfinished; /* NULL unless reverting a partial file */
    size_t unfinished_count;
    const char **built; /* indexes its finished concurrent statements built (quoted) */
    size_t built_count;
    size_t skipped_count;     /* out: down statements skipped for the unfinished part */
    PdDriftRun *drift;        /* the run's view of the schema, for the snapshot (drift.h) */
    bool count_rows;          /* options->count_rows: row counters on or off (counters.h) */
    bool check_data;          /* options->check_data: count what the concurrent part's data would fail */
    const PdCatalog *counted; /* the models after the step, whose tables are counted; NULL: none */
} PdApplyStep;

/* The checksum recorded for file (pd_migration_statement_checksum), in arena. */
bool pd_apply_checksum(PdArena *arena, const PdMigrationFile *file, const char **checksum, PdError *err);

/* Tells the caller's progress callback, when there is one. */
void pd_apply_emit(const PdMigrateOptions *options, PdMigrateEvent event);

/* Whether the caller asked to stop; fills err (PD_ERR_REFUSED, what was done before) when it did. */
bool pd_apply_was_interrupted(const PdMigrateOptions *options, const PdMigrateReport *report, PdError *err);

/* Milliseconds since start (CLOCK_MONOTONIC). */
long pd_apply_elapsed_ms(const struct timespec *start);

/* Appends a line to the report, allocated in arena (the caller's: it outlives every scratch arena). */
void pd_apply_report_line(PdArena *arena, PdMigrateReport *report, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* Adds to err where the server's error is in the file: "at path:line". */
void pd_apply_add_position_context(PdDb *db, const PdApplySql *sent, PdError *err);

/* The retries after a lock timeout: lock_retries more attempts, jittered waits (core retry policy). */
void pd_apply_begin_lock_retries(PdRetry *retry, const PdMigrateOptions *options);

/*
 * Runs the concurrent part of file from statement number `done` (0-based
 * count of those already done) on, one autocommit statement each, recording
 * each success in the history, then marks the file complete. Work in
 * scratch; the "completed" report line in arena. Errors: the failing
 * statement's, with its number and the file in context.
 */
bool pd_concurrent_run(PdArena *arena, PdArena *scratch, PdDb *db, const PdMigrationFile *file, int done,
                       const PdMigrateOptions *options, PdMigrateReport *report, PdError *err);

/*
 * For the revert of a file whose concurrent part stopped after `done`
 * statements: fills step->unfinished (the objects the rest would have made or
 * dropped) and step->built (the indexes the finished ones built, and those a
 * later build finished after its deployer died, before the count said so),
 * and drops an INVALID index a stopped build left. Outside a transaction.
 */
bool pd_concurrent_find_unfinished(PdArena *arena, PdDb *db, const PdMigrationFile *file, int done,
                                   PdApplyStep *step, PdError *err);

/*
 * Inside the revert's transaction: step's +down statement by statement, each
 * behind a savepoint; one that fails on a missing or existing object that an
 * unfinished statement names is rolled back and counted in
 * step->skipped_count. Any other failure is returned.
 */
bool pd_concurrent_run_partial_down(PdArena *arena, PdDb *db, PdApplyStep *step, PdError *err);

/* batched.c. Whether a statement of a batched section is the SELECT that counts what the next one does. */
bool pd_batched_is_count(const char *statement);

/*
 * Runs a batched statement (sent->statement, its batch size as $1) in
 * transactions of its own until one changes no row, retrying a batch after
 * a lock timeout, each batch a PD_MIGRATE_BATCH event; count_sql (or NULL)
 * counts the rows to do first. Stops between batches when interrupted.
 */
bool pd_batched_run(PdArena *arena, PdDb *db, const PdApplySql *sent, const char *count_sql,
                    const PdMigrateOptions *options, PdMigrateReport *report, PdError *err);

/* replaced.c. Whether a squash among files replaces the migration called name. */
bool pd_replaced_is_covered(const PdMigrationFile *files, size_t count, const char *name);

/*
 * For each squash whose replaced files the database applied, all of them
 * and not the squash: their history rows become the squash's one row, in one
 * transaction (nothing in a dry run). *is_changed when a row changed: read
 * the history again.
 */
bool pd_replaced_adopt(PdArena *arena, PdDb *db, const PdMigrationFile *files, size_t count,
                       const PdHistoryRow *rows, size_t row_count, const PdMigrateOptions *options,
                       PdMigrateReport *report, bool *is_changed, PdError *err);

/*
 * The files this database runs, in order: of a squash and the files it
 * replaces, the squash when the database applied it or none of them (or all
 * of them, their files deleted), else the files. PD_ERR_REFUSED when it
 * applied only some and their files are deleted. *chosen in arena.
 */
bool pd_replaced_choose(PdArena *arena, const PdHistoryRow *rows, size_t row_count,
                        const PdMigrationFile *files, size_t count, PdMigrationFile **chosen,
                        size_t *chosen_count, PdError *err);

/*
 * fake.c. For --fake-initial: whether file is to be recorded without running
 * it (*is_fake: every table its +up creates exists already), or run (none
 * does). PD_ERR_REFUSED when only some exist.
 */
bool pd_fake_is_initial_done(PdArena *arena, PdDb *db, const PdMigrationFile *file, bool *is_fake,
                             PdError *err);

/*
 * Records files[first..last] as applied without running them, in one
 * transaction, after comparing the live schema of the tables that
 * files[0..last] make (in a scratch schema) with what they make: refused
 * with the differences, nothing recorded, when they differ. The stored
 * snapshot takes those tables' live lines. A dry run compares and records
 * nothing. Report lines in arena, the work in scratch.
 */
bool pd_fake_record(PdArena *arena, PdArena *scratch, PdDb *db, const PdMigrationFile *files, size_t first,
                    size_t last, const PdMigrateOptions *options, PdMigrateReport *report, PdError *err);

/* Forgets an applied file without running its +down (migrate --fake back to a target). */
bool pd_fake_forget(PdArena *arena, PdDb *db, const PdMigrationFile *file, const PdMigrateOptions *options,
                    PdMigrateReport *report, PdError *err);

#endif
