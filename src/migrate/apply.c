/*
 * apply.c - bringing a database to a target migration. The deployers' lock
 * is polled (pg_try_advisory_lock, nothing open between tries), so a waiting
 * deployer holds no snapshot that the holder's CREATE INDEX CONCURRENTLY
 * would wait for. Everything is decided before anything changes: the history
 * is checked against the files (edited or missing files, out-of-order
 * history, irreversible reverts are refused up front), then each file runs in
 * its own transaction with a bounded lock_timeout, retried with jittered
 * backoff when a lock is not granted, and is recorded in the history inside
 * that same transaction, together with the schema change it made (for
 * `check`). A file's concurrent statements run after it commits
 * (concurrent.c), and the report says how far each file got. Each file works
 * in a scratch arena of its own; progress goes to the caller's callback.
 */
#include "prodata/migrate.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "apply.h"
#include "counters.h"
#include "drift.h"
#include "history.h"
#include "precheck.h"
#include "prodata/retry.h"
#include "prodata/strbuf.h"

void
pd_migrate_options_default(PdMigrateOptions *options)
{
    options->lock_timeout_ms = 5000;
    options->lock_retries = 3;
    options->lock_wait_ms = 60000;
    options->target = -1;
    options->is_dry_run = false;
    options->count_rows = true;
    options->check_data = true;
    options->is_fake = false;
    options->is_fake_initial = false;
    options->is_interrupted = NULL;
    options->progress = NULL;
    options->progress_data = NULL;
}

/* Tells the caller's progress callback, when there is one. */
void
pd_apply_emit(const PdMigrateOptions *options, PdMigrateEvent event)
{
    if (options->progress != NULL)
        options->progress(&event, options->progress_data);
}

/* Whether the caller asked to stop; fills err when it did. */
bool
pd_apply_was_interrupted(const PdMigrateOptions *options, const PdMigrateReport *report, PdError *err)
{
    if (options->is_interrupted == NULL || *options->is_interrupted == 0)
        return false;
    pd_error_set(err, PD_ERR_REFUSED, "migrate was interrupted");
    return !pd_error_detail(err,
                            "%d migration%s applied and %d reverted before it stopped; a migration not "
                            "counted here left no change. Run migrate again to go on.",
                            report->applied_count, report->applied_count == 1 ? "" : "s",
                            report->reverted_count);
}

bool
pd_apply_checksum(PdArena *arena, const PdMigrationFile *file, const char **checksum, PdError *err)
{
    char *made = pd_arena_alloc(arena, 65);
    if (made == NULL)
        return pd_arena_error(arena, err);
    if (!pd_migration_statement_checksum(arena, file, made, err))
        return false;
    *checksum = made;
    return true;
}

/*
 * Whether the checksum recorded for file still holds: the checksum of its
 * statements, or, recorded by an earlier version, the sha256 of its whole
 * bytes (*is_old: the row is to be given the new one).
 */
static bool
is_unchanged(PdArena *arena, const PdMigrationFile *file, const char *recorded, const char **checksum,
             bool *is_old, PdError *err)
{
    char whole[65];
    *is_old = false;
    if (!pd_apply_checksum(arena, file, checksum, err))
        return false;
    if (strcmp(*checksum, recorded) == 0)
        return true;
    pd_migration_checksum(file->text, file->text_length, whole);
    *is_old = strcmp(whole, recorded) == 0;
    return *is_old;
}

long
pd_apply_elapsed_ms(const struct timespec *start)
{
    struct timespec now;
    clock_gettime(CLOCK_MONOTONIC, &now);
    return (now.tv_sec - start->tv_sec) * 1000L + (now.tv_nsec - start->tv_nsec) / 1000000L;
}

void
pd_apply_report_line(PdArena *arena, PdMigrateReport *report, const char *fmt, ...)
{
    va_list args;
    va_start(args, fmt);
    char *line = pd_arena_vsprintf(arena, fmt, args);
    va_end(args);
    const char **lines =
        pd_arena_reserve_next(arena, (void *)report->lines, report->line_count, sizeof(*lines));
    if (line == NULL || lines == NULL)
        return; /* the report is informative; the work it describes is already done */
    lines[report->line_count++] = line;
    report->lines = lines;
}

/* Byte offset of the character_index-th character of UTF-8 text (PostgreSQL counts characters). */
static size_t
byte_offset_of_character(const char *text, int character_index)
{
    size_t offset = 0;
    for (int seen = 0; text[offset] != '\0'; offset++)
    {
        if (((unsigned char)text[offset] & 0xC0) == 0x80)
            continue;
        if (seen++ == character_index)
            break;
    }
    return offset;
}

/*
 * Adds where the server's error is in the file: "at path:line" when it gave a
 * position, else the line where the statement (or the section) that was
 * sent starts.
 */
void
pd_apply_add_position_context(PdDb *db, const PdApplySql *sent, PdError *err)
{
    int position = pd_db_error_position(db);
    const char *where = sent->file->path != NULL ? sent->file->path : sent->file->name;
    const char *statement_start = strstr(sent->section, sent->statement);
    if (statement_start == NULL || sent->first_line <= 0)
        return;
    const char *error_at = statement_start;
    if (position >= 0)
        error_at += byte_offset_of_character(sent->statement, position);
    else
        error_at += strspn(error_at, " \t\r\n");
    int line = sent->first_line;
    for (const char *c = sent->section; c < error_at; c++)
        line += *c == '\n';
    if (position >= 0 || sent->statement != sent->section)
        pd_error_context(err, "at %s:%d", where, line);
    else
        pd_error_context(err, "in the statements from %s:%d on", where, line);
}

/*
 * Runs the step's SQL inside the open transaction, adding where it failed;
 * rows that would break a statement, or the concurrent part to come, refuse
 * it with their count (precheck.c).
 */
static bool
run_step_sql(PdArena *arena, PdDb *db, PdApplyStep *step, PdError *err)
{
    if (step->unfinished != NULL)
        return pd_concurrent_run_partial_down(arena, db, step, err);
    return pd_precheck_run(arena, db, &step->sent, err) &&
           (step->is_revert || !step->check_data || pd_precheck_concurrent(arena, db, step->sent.file, err));
}

/*
 * Runs one file's section in one transaction: lock_timeout, the SQL, the
 * schema change it made recorded into the snapshot, the history row. All of
 * it commits together, so an interrupted run never leaves a change that the
 * history or the snapshot does not know.
 */
static bool
run_transaction(PdArena *arena, PdDb *db, PdApplyStep *step, int lock_timeout_ms, long *duration_ms,
                PdError *err)
{
    const PdMigrationFile *file = step->sent.file;
    struct timespec start;
    clock_gettime(CLOCK_MONOTONIC, &start);
    const char *schema_after = NULL, *checksum = NULL;
    step->skipped_count = 0;
    /* READ COMMITTED, whatever the default: the row counters' seeding counts in a snapshot taken after its
     * lock (counters.c). */
    if (!pd_db_exec(db, "BEGIN ISOLATION LEVEL READ COMMITTED", err) ||
        !pd_history_set_lock_timeout(arena, db, lock_timeout_ms, true, err) ||
        !pd_drift_run_begin(step->drift, arena, db, err) || !run_step_sql(arena, db, step, err))
        goto failed;
    if (pd_db_transaction_state(db) != PD_DB_TX_IN_TRANSACTION)
    {
        pd_error_set(err, PD_ERR_INVALID_INPUT, "the SQL of %s ended its transaction", file->name);
        pd_error_detail(err, "It contains COMMIT, ROLLBACK or END, so part of it may have been committed "
                             "without being recorded.");
        pd_error_hint(err,
                      "Remove transaction control from %s: prodata runs each migration in its own "
                      "transaction. Check the database by hand before running migrate again.",
                      file->path ? file->path : file->name);
        goto failed;
    }
    if (!pd_counters_sync(arena, db, step->counted, step->count_rows, false, NULL, err) ||
        !pd_drift_run_record(step->drift, arena, db, step->has_concurrent_part ? &schema_after : NULL, err))
        goto failed;
    bool is_recorded = step->is_revert
                           ? pd_history_forget(arena, db, file->number, err)
                           : pd_apply_checksum(arena, file, &checksum, err) &&
                                 pd_history_record(arena, db, file->number, file->name, checksum,
                                                   step->has_concurrent_part ? schema_after : NULL,
                                                   pd_apply_elapsed_ms(&start), err);
    if (!is_recorded || !pd_db_exec(db, "COMMIT", err))
        goto failed;
    *duration_ms = pd_apply_elapsed_ms(&start);
    return true;
failed:;
    PdError ignored;
    pd_db_exec(db, "ROLLBACK", &ignored);
    pd_drift_run_forget(step->drift); /* what it holds may be this transaction's */
    return false;
}

/*
 * The retries after a lock timeout: lock_retries more attempts, waits of
 * decorrelated jitter between 100 ms and 5 s (deployers retrying together
 * spread out), interruptible by the caller's flag.
 */
void
pd_apply_begin_lock_retries(PdRetry *retry, const PdMigrateOptions *options)
{
    PdRetryPolicy policy = {
        .max_attempts = options->lock_retries + 1, .base_delay_ms = 100, .max_delay_ms = 5000};
    pd_retry_begin(retry, &policy, NULL, pd_retry_seed());
}

/* run_transaction, again after a lock timeout, lock_retries times with backoff; the work in scratch. */
static bool
run_with_retries(PdArena *arena, PdArena *scratch, PdDb *db, PdApplyStep *step,
                 const PdMigrateOptions *options, PdMigrateReport *report, long *duration_ms, PdError *err)
{
    const PdMigrationFile *file = step->sent.file;
    pd_apply_emit(options, (PdMigrateEvent){.kind = PD_MIGRATE_MIGRATION_START,
                                            .migration = file->name,
                                            .is_revert = step->is_revert});
    PdRetry retry;
    pd_apply_begin_lock_retries(&retry, options);
    for (int attempt = 0;; attempt++)
    {
        if (run_transaction(scratch, db, step, options->lock_timeout_ms, duration_ms, err))
        {
            pd_apply_emit(options, (PdMigrateEvent){.kind = PD_MIGRATE_MIGRATION_END,
                                                    .migration = file->name,
                                                    .is_revert = step->is_revert,
                                                    .duration_ms = *duration_ms});
            return true;
        }
        if (err->code != PD_ERR_LOCK_TIMEOUT || attempt >= options->lock_retries)
            break;
        pd_apply_report_line(arena, report, "%s: a lock was not granted within %d ms; retrying (%d of %d)",
                             file->name, options->lock_timeout_ms, attempt + 1, options->lock_retries);
        pd_apply_emit(options, (PdMigrateEvent){.kind = PD_MIGRATE_LOCK_RETRY,
                                                .migration = file->name,
                                                .is_revert = step->is_revert,
                                                .attempt = attempt + 1});
        if (!pd_retry_next(&retry, options->is_interrupted))
            break; /* interrupted: the lock timeout stands, and was_interrupted stops the run */
    }
    if (err->code == PD_ERR_LOCK_TIMEOUT)
        pd_error_hint(err, "Another session holds a lock on a table this migration changes; find it in "
                           "pg_stat_activity, or raise lock_timeout_ms or lock_retries.");
    return pd_error_context(err, "while %s migration %s", step->is_revert ? "reverting" : "applying",
                            file->name);
}

/* Transaction control inside a migration would commit part of it behind prodata's back. */
static bool
is_transaction_control(const char *statement)
{
    static const char *const keywords[] = {"begin", "commit", "rollback", "end", "abort", "start"};
    size_t length = strcspn(statement, " \t\r\n;(");
    for (size_t i = 0; i < sizeof(keywords) / sizeof(keywords[0]); i++)
        if (length == strlen(keywords[i]) && strncasecmp(statement, keywords[i], length) == 0)
            return true;
    return false;
}

/* Splits a section (checking its quotes and comments) and refuses transaction control, with path:line. */
static bool
check_section(PdArena *arena, const PdMigrationFile *file, const char *sql, int first_line, PdError *err)
{
    const char *where = file->path ? file->path : file->name;
    const char **statements;
    size_t count;
    if (sql == NULL || sql[0] == '\0')
        return true;
    if (!pd_migration_split_statements(arena, sql, where, first_line, &statements, &count, err))
        return false;
    for (size_t i = 0; i < count; i++)
    {
        if (!is_transaction_control(statements[i]))
            continue;
        const char *at = strstr(sql, statements[i]);
        int line = first_line;
        for (const char *c = sql; at != NULL && c < at; c++)
            line += *c == '\n';
        pd_error_set(err, PD_ERR_INVALID_INPUT, "%s:%d: transaction control in a migration", where, line);
        pd_error_detail(err,
                        "Each migration runs in its own transaction; a COMMIT or ROLLBACK inside it would "
                        "commit part of it without recording it.");
        return pd_error_hint(err, "Remove the statement; for work that cannot run in a transaction, use the "
                                  "-- +up concurrently section.");
    }
    return true;
}

static const PdMigrationFile *
find_file(const PdMigrationFile *files, size_t count, int number)
{
    for (size_t i = 0; i < count; i++)
        if (files[i].number == number)
            return &files[i];
    return NULL;
}

/*
 * Refuses, before any change, a history that the files no longer describe.
 * A row with the whole-file checksum of an earlier version is given the
 * statements' checksum (unless dry_run), so that from now on only a change
 * to a statement counts.
 */
static bool
verify_history(PdArena *arena, PdDb *db, const PdHistoryRow *rows, size_t row_count,
               const PdMigrationFile *files, size_t count, bool is_dry_run, PdError *err)
{
    for (size_t r = 0; r < row_count; r++)
    {
        const PdMigrationFile *file = find_file(files, count, rows[r].number);
        if (pd_replaced_is_covered(files, count, rows[r].name))
            continue; /* applied as part of a squash that is in the files (replaced.c) */
        if (file == NULL || strcmp(file->name, rows[r].name) != 0)
        {
            pd_error_set(err, PD_ERR_REFUSED, "applied migration %s has no file", rows[r].name);
            if (file != NULL)
                pd_error_detail(err, "Migration number %d is %s in the files but %s in the database.",
                                rows[r].number, file->name, rows[r].name);
            return pd_error_hint(err, "Restore %s.sql into the migrations directory.", rows[r].name);
        }
        const char *checksum = NULL;
        bool is_old = false;
        if (!is_unchanged(arena, file, rows[r].checksum, &checksum, &is_old, err))
        {
            if (checksum == NULL)
                return pd_error_context(err, "while reading applied migration %s", file->name);
            pd_error_set(err, PD_ERR_REFUSED, "a statement of migration %s was edited after it was applied",
                         file->name);
            pd_error_detail(err,
                            "Its checksum was %s when applied and is %s now (%s); changes to blanks and "
                            "comments do not count, changes to statements or the state do.",
                            rows[r].checksum, checksum, file->path ? file->path : file->name);
            return pd_error_hint(err, "Put the applied version back and write the change as a new migration "
                                      "(prodata makemigrations).");
        }
        if (is_old && !is_dry_run && !pd_history_set_checksum(arena, db, file->number, checksum, err))
            return false;
    }
    for (size_t i = 0; i < count && row_count > 0; i++)
    {
        bool is_applied = false;
        for (size_t r = 0; r < row_count; r++)
            is_applied |= rows[r].number == files[i].number;
        if (!is_applied && files[i].number < rows[row_count - 1].number)
        {
            pd_error_set(err, PD_ERR_REFUSED, "migration %s is not applied but a later one, %s, is",
                         files[i].name, rows[row_count - 1].name);
            return pd_error_hint(err,
                                 "Two branches added migrations: renumber %s after %s, or revert with "
                                 "migrate --to %d first.",
                                 files[i].name, rows[row_count - 1].name, files[i].number - 1);
        }
    }
    return true;
}

/* Resumes the concurrent parts left unfinished by an earlier migrate, from the statement where each stopped.
 */
static bool
complete_partial_files(PdArena *arena, PdDb *db, const PdHistoryRow *rows, size_t row_count,
                       const PdMigrationFile *files, size_t count, const PdMigrateOptions *options,
                       PdMigrateReport *report, PdError *err)
{
    for (size_t r = 0; r < row_count; r++)
    {
        if (rows[r].is_complete)
            continue;
        const PdMigrationFile *file = find_file(files, count, rows[r].number);
        if (options->is_dry_run)
        {
            pd_apply_report_line(arena, report, "would complete %s", file->name);
            continue;
        }
        PdArena *scratch = pd_arena_new_child(arena, 0);
        if (scratch == NULL)
            return pd_arena_error(arena, err);
        bool is_done =
            pd_concurrent_run(arena, scratch, db, file, rows[r].concurrent_done, options, report, err);
        pd_arena_free(scratch);
        if (!is_done)
        {
            pd_apply_report_line(arena, report, "%s: concurrent part still pending: %s", file->name,
                                 err->message);
            report->partial_count++;
            return false;
        }
    }
    return true;
}

/*
 * The step's row counters: on or off, and the models whose tables are
 * counted after it, those of the newest of the first state_count files that
 * records a state (parsed in scratch). A file that records none (written by
 * hand) keeps the state before it.
 */
static bool
set_counted(PdArena *scratch, PdApplyStep *step, const PdMigrationFile *files, size_t state_count,
            const PdMigrateOptions *options, PdError *err)
{
    PdCatalog *state = NULL;
    step->count_rows = options->count_rows;
    if (options->count_rows && !pd_migration_latest_state(scratch, files, state_count, &state, err))
        return false;
    step->counted = state;
    return true;
}

/*
 * Applies one pending file: its transaction, then its concurrent part. The
 * report says exactly how far it got: "applied X (N ms)", or, when the
 * concurrent part fails, that only the transactional part is applied and why
 * the rest is pending.
 */
static bool
apply_file_in(PdArena *arena, PdArena *scratch, PdDb *db, PdDriftRun *drift, const PdMigrationFile *files,
              const PdMigrationFile *file, const PdMigrateOptions *options, PdMigrateReport *report,
              PdError *err)
{
    bool has_concurrent_part = (file->up_concurrently_sql != NULL && file->up_concurrently_sql[0] != '\0') ||
                               (file->up_batched_sql != NULL && file->up_batched_sql[0] != '\0');
    PdApplyStep step = {.sent = {file, file->up_sql, file->up_line, file->up_sql},
                        .has_concurrent_part = has_concurrent_part,
                        .check_data = options->check_data,
                        .drift = drift};
    long duration_ms = 0;
    if (!set_counted(scratch, &step, files, (size_t)(file - files) + 1, options, err))
        return pd_error_context(err, "while applying migration %s", file->name);
    if (!run_with_retries(arena, scratch, db, &step, options, report, &duration_ms, err))
        return false;
    size_t line = report->line_count;
    pd_apply_report_line(arena, report, "applied %s (%ld ms)", file->name, duration_ms);
    if (has_concurrent_part && !pd_concurrent_run(arena, scratch, db, file, 0, options, report, err))
    {
        char *truthful = pd_arena_sprintf(arena,
                                          "applied %s (transactional part, %ld ms); concurrent part "
                                          "pending: %s",
                                          file->name, duration_ms, err->message);
        if (truthful != NULL && line < report->line_count)
            report->lines[line] = truthful;
        report->partial_count++;
        return false;
    }
    report->applied_count++;
    return true;
}

/*
 * One file's work in a scratch arena of its own, dropped when it is done:
 * the catalog scans and the tables it reads, the snapshot lines it writes and
 * every result die with it; the report lines stay in the command's arena,
 * and the run's view of the schema in drift's own (the size of the schema).
 * Peak memory follows the schema and the largest file, not the length of
 * the history.
 */
static bool
apply_file(PdArena *arena, PdDb *db, PdDriftRun *drift, const PdMigrationFile *files,
           const PdMigrationFile *file, const PdMigrateOptions *options, PdMigrateReport *report,
           PdError *err)
{
    PdArena *scratch = pd_arena_new_child(arena, 0);
    if (scratch == NULL)
        return pd_arena_error(arena, err);
    bool is_done = apply_file_in(arena, scratch, db, drift, files, file, options, report, err);
    pd_arena_free(scratch);
    return is_done;
}

/* pd_fake_record of files[first..last] in a scratch arena of its own. */
static bool
fake_files(PdArena *arena, PdDb *db, const PdMigrationFile *files, size_t first, size_t last,
           const PdMigrateOptions *options, PdMigrateReport *report, PdError *err)
{
    PdArena *scratch = pd_arena_new_child(arena, 0);
    if (scratch == NULL)
        return pd_arena_error(arena, err);
    bool is_done = pd_fake_record(arena, scratch, db, files, first, last, options, report, err);
    pd_arena_free(scratch);
    return is_done;
}

/* Whether --fake-initial records file rather than running it (pd_fake_is_initial_done). */
static bool
is_fake_initial(PdArena *arena, PdDb *db, const PdMigrationFile *file, const PdMigrateOptions *options,
                bool *is_fake, PdError *err)
{
    *is_fake = false;
    if (!options->is_fake_initial)
        return true;
    PdArena *scratch = pd_arena_new_child(arena, 0);
    if (scratch == NULL)
        return pd_arena_error(arena, err);
    bool is_done = pd_fake_is_initial_done(scratch, db, file, is_fake, err);
    pd_arena_free(scratch);
    return is_done;
}

static bool
migrate_forward(PdArena *arena, PdDb *db, PdDriftRun *drift, const PdHistoryRow *rows, size_t row_count,
                const PdMigrationFile *files, size_t count, const PdMigrateOptions *options,
                PdMigrateReport *report, PdError *err)
{
    int newest_applied = row_count ? rows[row_count - 1].number : 0;
    if (!complete_partial_files(arena, db, rows, row_count, files, count, options, report, err))
        return false;
    for (size_t i = 0; i < count; i++)
    {
        const PdMigrationFile *file = &files[i];
        if (file->number <= newest_applied || (options->target >= 0 && file->number > options->target))
            continue;
        if (pd_apply_was_interrupted(options, report, err))
            return false;
        if (options->is_fake)
        {
            size_t last = i;
            while (last + 1 < count && (options->target < 0 || files[last + 1].number <= options->target))
                last++;
            return fake_files(arena, db, files, i, last, options, report, err);
        }
        bool is_fake = false;
        if (!is_fake_initial(arena, db, file, options, &is_fake, err))
            return false;
        if (is_fake && !fake_files(arena, db, files, i, i, options, report, err))
            return false;
        if (is_fake)
            continue;
        if (options->is_dry_run)
            pd_apply_report_line(arena, report, "would apply %s", file->name);
        else if (!apply_file(arena, db, drift, files, file, options, report, err))
            return false;
    }
    return true;
}

/* Reverts one applied file; a partly applied one undoes exactly what was applied (see run_partial_down). */
static bool
revert_file_in(PdArena *arena, PdArena *scratch, PdDb *db, PdDriftRun *drift, const PdMigrationFile *files,
               const PdMigrationFile *file, const PdHistoryRow *row, const PdMigrateOptions *options,
               PdMigrateReport *report, PdError *err)
{
    PdApplyStep step = {
        .sent = {file, file->down_sql, file->down_line, file->down_sql}, .is_revert = true, .drift = drift};
    if (!set_counted(scratch, &step, files, (size_t)(file - files), options, err))
        return pd_error_context(err, "while reverting migration %s", file->name);
    if (!row->is_complete &&
        !pd_concurrent_find_unfinished(scratch, db, file, row->concurrent_done, &step, err))
        return pd_error_context(err, "while reverting migration %s", file->name);
    long duration_ms = 0;
    if (!run_with_retries(arena, scratch, db, &step, options, report, &duration_ms, err))
        return false;
    if (step.skipped_count > 0)
        pd_apply_report_line(
            arena, report,
            "reverted %s (%ld ms; %zu statement%s skipped: they undo its unfinished concurrent part)",
            file->name, duration_ms, step.skipped_count, step.skipped_count == 1 ? "" : "s");
    else
        pd_apply_report_line(arena, report, "reverted %s (%ld ms)", file->name, duration_ms);
    report->reverted_count++;
    return true;
}

/* revert_file_in in a scratch arena of its own, as apply_file. */
static bool
revert_file(PdArena *arena, PdDb *db, PdDriftRun *drift, const PdMigrationFile *files,
            const PdMigrationFile *file, const PdHistoryRow *row, const PdMigrateOptions *options,
            PdMigrateReport *report, PdError *err)
{
    PdArena *scratch = pd_arena_new_child(arena, 0);
    if (scratch == NULL)
        return pd_arena_error(arena, err);
    bool is_done = revert_file_in(arena, scratch, db, drift, files, file, row, options, report, err);
    pd_arena_free(scratch);
    return is_done;
}

static bool
migrate_backward(PdArena *arena, PdDb *db, PdDriftRun *drift, const PdHistoryRow *rows, size_t row_count,
                 const PdMigrationFile *files, size_t count, const PdMigrateOptions *options,
                 PdMigrateReport *report, PdError *err)
{
    for (size_t r = row_count; r-- > 0;)
    {
        const PdMigrationFile *file = find_file(files, count, rows[r].number);
        if (rows[r].number > options->target && file->down_sql == NULL && !options->is_fake)
        {
            pd_error_set(err, PD_ERR_REFUSED, "migration %s cannot be reverted", file->name);
            pd_error_detail(err, "%s",
                            file->irreversible_reason ? file->irreversible_reason
                                                      : "It has no -- +down section.");
            return pd_error_hint(err,
                                 "Nothing was reverted. Choose a target after %s, or write its -- +down "
                                 "section by hand before it is applied elsewhere.",
                                 file->name);
        }
    }
    for (size_t r = row_count; r-- > 0;)
    {
        if (rows[r].number <= options->target)
            break;
        const PdMigrationFile *file = find_file(files, count, rows[r].number);
        if (pd_apply_was_interrupted(options, report, err))
            return false;
        if (options->is_fake)
        {
            if (!pd_fake_forget(arena, db, file, options, report, err))
                return false;
        }
        else if (options->is_dry_run)
            pd_apply_report_line(arena, report, "would revert %s", file->name);
        else if (!revert_file(arena, db, drift, files, file, &rows[r], options, report, err))
            return false;
    }
    return true;
}

/* True when reaching the target changes anything: a file to apply, revert or complete. */
static bool
has_work(const PdHistoryRow *rows, size_t row_count, const PdMigrationFile *files, size_t count,
         const PdMigrateOptions *options)
{
    int newest_applied = row_count ? rows[row_count - 1].number : 0;
    if (options->target >= 0 && options->target < newest_applied)
        return true;
    for (size_t r = 0; r < row_count; r++)
        if (!rows[r].is_complete)
            return true;
    for (size_t i = 0; i < count; i++)
        if (files[i].number > newest_applied && (options->target < 0 || files[i].number <= options->target))
            return true;
    return false;
}

/* A batched section: checked as the others, and each statement that changes rows takes the batch size as $1.
 */
static bool
check_batched(PdArena *arena, const PdMigrationFile *file, PdError *err)
{
    const char **statements;
    size_t count;
    const char *where = file->path ? file->path : file->name;
    if (file->up_batched_sql == NULL || file->up_batched_sql[0] == '\0')
        return true;
    if (!check_section(arena, file, file->up_batched_sql, file->up_batched_line, err) ||
        !pd_migration_split_statements(arena, file->up_batched_sql, where, file->up_batched_line, &statements,
                                       &count, err))
        return false;
    for (size_t i = 0; i < count; i++)
    {
        if (pd_batched_is_count(statements[i]) || strstr(statements[i], "$1") != NULL)
            continue;
        pd_error_set(err, PD_ERR_INVALID_INPUT, "%s: a batched statement without $1 (the batch size)", where);
        pd_error_detail(err, "It would run on every row at once, again and again: %.120s", statements[i]);
        return pd_error_hint(err,
                             "Limit it to $1 rows, e.g. UPDATE t SET c = ... WHERE id IN (SELECT id FROM t "
                             "WHERE c IS NULL LIMIT $1 FOR UPDATE SKIP LOCKED).");
    }
    return true;
}

/* Checks every section this run will send, so a malformed file is refused before anything changes. */
static bool
check_sections(PdArena *arena, const PdHistoryRow *rows, size_t row_count, const PdMigrationFile *files,
               size_t count, const PdMigrateOptions *options, PdError *err)
{
    int newest_applied = row_count ? rows[row_count - 1].number : 0;
    bool is_backward = options->target >= 0 && options->target < newest_applied;
    for (size_t i = 0; i < count; i++)
    {
        const PdMigrationFile *file = &files[i];
        bool is_applied = file->number <= newest_applied;
        if (is_backward && is_applied && file->number > options->target &&
            !check_section(arena, file, file->down_sql, file->down_line, err))
            return false;
        if (!is_backward && !is_applied && (options->target < 0 || file->number <= options->target) &&
            !check_section(arena, file, file->up_sql, file->up_line, err))
            return false;
        /* Applied files may still have their concurrent part to run. */
        if (!is_backward &&
            (!check_section(arena, file, file->up_concurrently_sql, file->up_concurrently_line, err) ||
             !check_batched(arena, file, err)))
            return false;
    }
    return true;
}

/* One try of the run's last counter sync: its own READ COMMITTED transaction, bounded lock waits. */
static bool
sync_counters_once(PdArena *scratch, PdDb *db, const PdCatalog *state, const PdMigrateOptions *options,
                   int *changed, PdError *err)
{
    if (pd_db_exec(db, "BEGIN ISOLATION LEVEL READ COMMITTED", err) &&
        pd_history_set_lock_timeout(scratch, db, options->lock_timeout_ms, true, err) &&
        pd_counters_sync(scratch, db, state, options->count_rows, true, changed, err) &&
        pd_db_exec(db, "COMMIT", err))
        return true;
    PdError ignored;
    pd_db_exec(db, "ROLLBACK", &ignored);
    return false;
}

/*
 * After the last migration, or when none was pending: the row counters as
 * count_rows says for the state of the newest applied file (a setting
 * turned on or off takes effect without a migration), and the slots of
 * dropped tables deleted. Retried after a lock timeout like a migration; a
 * change is reported.
 */
static bool
sync_counters_at_end(PdArena *arena, PdArena *scratch, PdDb *db, const PdMigrationFile *files, size_t count,
                     const PdMigrateOptions *options, PdMigrateReport *report, PdError *err)
{
    PdHistoryRow *rows;
    size_t row_count, state_count = 0;
    PdCatalog *state = NULL;
    if (!pd_history_read(scratch, db, &rows, &row_count, err))
        return false;
    while (row_count > 0 && state_count < count && files[state_count].number <= rows[row_count - 1].number)
        state_count++;
    if (options->count_rows && !pd_migration_latest_state(scratch, files, state_count, &state, err))
        return false;
    PdRetry retry;
    pd_apply_begin_lock_retries(&retry, options);
    int changed = 0;
    while (!sync_counters_once(scratch, db, state, options, &changed, err))
        if (err->code != PD_ERR_LOCK_TIMEOUT || !pd_retry_next(&retry, options->is_interrupted))
            return pd_error_context(err, "while %s the row counters (count_rows = %s)",
                                    options->count_rows ? "installing" : "removing",
                                    options->count_rows ? "on" : "off");
    if (changed > 0)
        pd_apply_report_line(arena, report, "row counters %s %d table%s (count_rows = %s)",
                             options->count_rows ? "installed on" : "removed from", changed,
                             changed == 1 ? "" : "s", options->count_rows ? "on" : "off");
    return true;
}

/* sync_counters_at_end in a scratch arena of its own; nothing in a dry run. */
static bool
sync_counters(PdArena *arena, PdDb *db, const PdMigrationFile *files, size_t count,
              const PdMigrateOptions *options, PdMigrateReport *report, PdError *err)
{
    if (options->is_dry_run)
        return true;
    PdArena *scratch = pd_arena_new_child(arena, 0);
    if (scratch == NULL)
        return pd_arena_error(arena, err);
    bool is_done = sync_counters_at_end(arena, scratch, db, files, count, options, report, err);
    pd_arena_free(scratch);
    return is_done;
}

/* A target that is no file of this database's list: inside a squash it runs whole, or no migration at all. */
static bool
refuse_target(const PdMigrationFile *files, size_t count, int target, PdError *err)
{
    for (size_t i = 0; i < count; i++)
        if (files[i].replace_count > 0 && atoi(files[i].replaces[0]) <= target && target < files[i].number)
        {
            pd_error_set(err, PD_ERR_NOT_FOUND, "migration %d is inside %s, which this database runs whole",
                         target, files[i].name);
            return pd_error_hint(err, "Choose --to %d (the squash) or an earlier migration.",
                                 files[i].number);
        }
    return pd_error_set(err, PD_ERR_NOT_FOUND, "no migration numbered %d", target);
}

/*
 * The history, with the rows of squashed files the database applied turned
 * into their squash's, and the files this database runs (replaced.c).
 */
static bool
read_history(PdArena *arena, PdDb *db, const PdMigrationFile *all_files, size_t all_count,
             const PdMigrateOptions *options, PdMigrateReport *report, PdHistoryRow **rows, size_t *row_count,
             PdMigrationFile **files, size_t *count, PdError *err)
{
    bool is_changed = false;
    if (!pd_history_read(arena, db, rows, row_count, err) ||
        !pd_replaced_adopt(arena, db, all_files, all_count, *rows, *row_count, options, report, &is_changed,
                           err) ||
        (is_changed && !pd_history_read(arena, db, rows, row_count, err)))
        return false;
    return pd_replaced_choose(arena, *rows, *row_count, all_files, all_count, files, count, err);
}

static bool
migrate_locked(PdArena *arena, PdDb *db, const PdMigrationFile *all_files, size_t all_count,
               const PdMigrateOptions *options, PdMigrateReport *report, PdError *err)
{
    PdHistoryRow *rows;
    size_t row_count, count;
    PdMigrationFile *files;
    if (!options->is_dry_run && !pd_history_ensure(db, err))
        return false;
    if (!read_history(arena, db, all_files, all_count, options, report, &rows, &row_count, &files, &count,
                      err) ||
        !verify_history(arena, db, rows, row_count, files, count, options->is_dry_run, err))
        return false;
    if (options->target > 0 && find_file(files, count, options->target) == NULL)
        return refuse_target(files, count, options->target, err);
    if (!has_work(rows, row_count, files, count, options))
        return sync_counters(arena, db, files, count, options, report, err);
    if (!check_sections(arena, rows, row_count, files, count, options, err))
        return false;
    int newest_applied = row_count ? rows[row_count - 1].number : 0;
    bool is_backward = options->target >= 0 && options->target < newest_applied;
    PdDriftRun *drift = pd_drift_run_new(arena); /* the schema as the run goes: see drift_run.c */
    if (drift == NULL)
        return pd_arena_error(arena, err);
    bool is_done =
        is_backward ? migrate_backward(arena, db, drift, rows, row_count, files, count, options, report, err)
                    : migrate_forward(arena, db, drift, rows, row_count, files, count, options, report, err);
    pd_drift_run_free(drift);
    bool is_changed = false;
    /* Files a squash replaces, just finished here: the database is now one that applied the squash. */
    if (is_done && !is_backward && !options->is_dry_run &&
        !(pd_history_read(arena, db, &rows, &row_count, err) &&
          pd_replaced_adopt(arena, db, all_files, all_count, rows, row_count, options, report, &is_changed,
                            err)))
        return false;
    return is_done && sync_counters(arena, db, files, count, options, report, err);
}

/*
 * Takes the deployers' lock, polling pg_try_advisory_lock for at most
 * lock_wait_ms with waits of decorrelated jitter (20 ms to 1 s). Between
 * tries this session runs nothing, so it holds no snapshot that the holder's
 * CREATE INDEX CONCURRENTLY would wait for (waiting inside pg_advisory_lock
 * did, and deadlocked). Each try's result lives in a scratch arena reset for
 * the next, so a long wait costs no memory.
 */
static bool
take_deployer_lock(PdArena *arena, PdDb *db, const PdMigrateOptions *options, PdError *err)
{
    bool is_locked;
    if (!pd_history_try_lock(arena, db, &is_locked, err))
        return false;
    if (is_locked)
        return true;
    pd_apply_emit(options, (PdMigrateEvent){.kind = PD_MIGRATE_LOCK_WAIT, .wait_ms = options->lock_wait_ms});
    PdArena *scratch = pd_arena_new_child(arena, 0);
    if (scratch == NULL)
        return pd_arena_error(arena, err);
    PdRetryPolicy policy = {.max_total_ms = options->lock_wait_ms > 0 ? options->lock_wait_ms : 1,
                            .base_delay_ms = 20,
                            .max_delay_ms = 1000};
    PdRetry retry;
    pd_retry_begin(&retry, &policy, NULL, pd_retry_seed());
    bool is_tried = true;
    while (!is_locked && is_tried && pd_retry_next(&retry, options->is_interrupted))
    {
        pd_arena_reset(scratch);
        is_tried = pd_history_try_lock(scratch, db, &is_locked, err);
    }
    pd_arena_free(scratch);
    if (is_locked)
    {
        pd_apply_emit(options, (PdMigrateEvent){.kind = PD_MIGRATE_LOCK_TAKEN,
                                                .duration_ms = (long)(retry.clock->now_ms(retry.clock->data) -
                                                                      retry.started_ms)});
        return true;
    }
    if (!is_tried)
        return false;
    if (options->is_interrupted != NULL && *options->is_interrupted != 0)
        return pd_error_set(err, PD_ERR_REFUSED, "migrate was interrupted while waiting for the lock");
    const char *holder = NULL;
    PdError ignored; /* the holder only adds to the error */
    pd_history_lock_holder(arena, db, &holder, &ignored);
    pd_error_set(err, PD_ERR_LOCK_TIMEOUT, "another prodata migrate is running on this database");
    pd_error_detail(err, "Waited %d ms for its advisory lock%s%s.", options->lock_wait_ms,
                    holder != NULL ? ", held by " : "", holder != NULL ? holder : "");
    return pd_error_hint(err,
                         "Wait for it to finish, or raise lock_wait_ms. A deployer killed in the middle of a "
                         "statement holds the lock until the server has finished that statement.");
}

bool
pd_migrate_apply(PdArena *arena, PdDb *db, const PdMigrationFile *files, size_t count,
                 const PdMigrateOptions *options, PdMigrateReport *report, PdError *err)
{
    memset(report, 0, sizeof(*report));
    if (!take_deployer_lock(arena, db, options, err))
        return false;
    bool is_done = migrate_locked(arena, db, files, count, options, report, err);
    pd_history_unlock(db);
    return is_done;
}

bool
pd_migrate_status(PdArena *arena, PdDb *db, const PdMigrationFile *all_files, size_t all_count,
                  PdMigrationState **states, size_t *state_count, PdError *err)
{
    PdHistoryRow *rows;
    size_t row_count, count;
    PdMigrationFile *files;
    if (!pd_history_read(arena, db, &rows, &row_count, err) ||
        !pd_replaced_choose(arena, rows, row_count, all_files, all_count, &files, &count, err))
        return false;
    PdMigrationState *result = pd_arena_calloc(arena, count + row_count + 1, sizeof(*result));
    if (result == NULL)
        return pd_arena_error(arena, err);
    size_t used = 0;
    for (size_t i = 0; i < count; i++)
    {
        result[used].name = files[i].name;
        result[used].status = PD_MIGRATION_PENDING;
        for (size_t r = 0; r < row_count; r++)
        {
            if (rows[r].number != files[i].number)
                continue;
            result[used].applied_at = rows[r].applied_at;
            const char *checksum = NULL;
            bool is_old, is_same = is_unchanged(arena, &files[i], rows[r].checksum, &checksum, &is_old, err);
            if (checksum == NULL)
                return false;
            if (files[i].replace_count > 0 && pd_replaced_is_covered(&files[i], 1, rows[r].name))
            {
                result[used].status = PD_MIGRATION_APPLIED; /* as the files it replaces */
                continue;
            }
            if (strcmp(rows[r].name, files[i].name) != 0)
            {
                /* Its number is taken by another, applied migration (listed below as missing). */
                result[used].applied_at = NULL;
                continue;
            }
            if (!is_same)
                result[used].status = PD_MIGRATION_MODIFIED;
            else
                result[used].status = rows[r].is_complete ? PD_MIGRATION_APPLIED : PD_MIGRATION_PARTIAL;
        }
        used++;
    }
    for (size_t r = 0; r < row_count; r++)
    {
        const PdMigrationFile *file = find_file(files, count, rows[r].number);
        if ((file != NULL && strcmp(file->name, rows[r].name) == 0) ||
            pd_replaced_is_covered(files, count, rows[r].name))
            continue;
        result[used].name = rows[r].name;
        result[used].status = PD_MIGRATION_MISSING;
        result[used].applied_at = rows[r].applied_at;
        used++;
    }
    *states = result;
    *state_count = used;
    return true;
}

bool
pd_migrate_try_data(PdArena *arena, PdDb *db, const PdMigrationFile *file, PdError *err)
{
    PdApplySql sent = {file, file->up_sql, file->up_line, file->up_sql};
    bool is_needed = false;
    if (!pd_precheck_is_needed(arena, file, &is_needed, err))
        return false;
    if (!is_needed)
        return true; /* nothing existing rows can break: no DDL is sent to the database at all */
    /* A try, on a database that may serve traffic: its locks are short (a lock waited for queues every
     * writer behind it) and so is each statement (a type change rewrites the table under ACCESS
     * EXCLUSIVE); a try that runs out of either says nothing. */
    bool is_done = pd_db_exec(db, "BEGIN ISOLATION LEVEL READ COMMITTED", err) &&
                   pd_history_set_lock_timeout(arena, db, 500, true, err) &&
                   pd_db_exec(db, "SET LOCAL statement_timeout = '5s'", err) &&
                   pd_precheck_run(arena, db, &sent, err) && pd_precheck_concurrent(arena, db, file, err);
    PdError ignored;
    pd_db_exec(db, "ROLLBACK", &ignored);
    return is_done;
}
