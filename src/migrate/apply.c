/*
 * apply.c - bringing a database to a target migration. Everything is decided
 * before anything changes: the history is checked against the files (edited
 * or missing files, out-of-order history, irreversible reverts are refused up
 * front), then each file runs in its own transaction with a bounded
 * lock_timeout, retried with jittered backoff when a lock is not granted, and
 * is recorded in the history inside that same transaction. A file's
 * concurrent statements (CREATE INDEX CONCURRENTLY, VALIDATE CONSTRAINT) run
 * after it commits, one autocommit statement each; until they all succeed the
 * history row stays incomplete and the next migrate resumes them. The whole
 * run holds the deployers' advisory lock, and ends by recording the schema
 * snapshot that `check` compares against.
 */
#include "prodata/migrate.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "drift.h"
#include "history.h"
#include "prodata/strbuf.h"

void
pd_migrate_options_default(PdMigrateOptions *options)
{
    options->lock_timeout_ms = 5000;
    options->lock_retries = 3;
    options->lock_wait_ms = 60000;
    options->target = -1;
    options->is_dry_run = false;
}

/* The sha256 recorded in the history: of the whole file, so any edit shows. */
static char *
file_checksum(PdArena *arena, const PdMigrationFile *file)
{
    char *checksum = pd_arena_alloc(arena, 65);
    if (checksum != NULL)
        pd_migration_checksum(file->text, file->text_length, checksum);
    return checksum;
}

static long
elapsed_ms(const struct timespec *start)
{
    struct timespec now;
    clock_gettime(CLOCK_MONOTONIC, &now);
    return (now.tv_sec - start->tv_sec) * 1000L + (now.tv_nsec - start->tv_nsec) / 1000000L;
}

static void
report_line(PdArena *arena, PdMigrateReport *report, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

static void
report_line(PdArena *arena, PdMigrateReport *report, const char *fmt, ...)
{
    va_list args;
    va_start(args, fmt);
    char *line = pd_arena_vsprintf(arena, fmt, args);
    va_end(args);
    const char **lines = pd_arena_grow(arena, report->lines, report->line_count, report->line_count + 1,
                                       sizeof(*lines));
    if (line == NULL || lines == NULL)
        return; /* the report is informative; the work it describes is already done */
    lines[report->line_count++] = line;
    report->lines = lines;
}

/* Sleeps 100 ms, 200 ms, 400 ms ... plus up to 100 ms of jitter, so deployers retrying together spread out. */
static void
backoff(int attempt)
{
    long ms = (100L << (attempt < 6 ? attempt : 6)) + rand() % 100;
    struct timespec pause = {ms / 1000, (ms % 1000) * 1000000L};
    nanosleep(&pause, NULL);
}

/* Line in the file of byte offset `position` inside `section`, or 0 when it cannot be placed. */
static int
file_line_of(const PdMigrationFile *file, const char *section, int position)
{
    if (position < 0 || section == NULL)
        return 0;
    const char *start = strstr(file->text, section);
    if (start == NULL || (size_t)position > strlen(section))
        return 0;
    int line = 1;
    for (const char *c = file->text; c < start + position; c++)
        line += *c == '\n';
    return line;
}

static bool
add_statement_context(PdDb *db, const PdMigrationFile *file, const char *section, PdError *err)
{
    int line = file_line_of(file, section, pd_db_error_position(db));
    if (line > 0)
        return pd_error_context(err, "at %s:%d", file->path ? file->path : file->name, line);
    return false;
}

/* Runs one transaction: lock_timeout, the section, the history change. */
static bool
run_transaction(PdArena *arena, PdDb *db, const PdMigrationFile *file, const char *sql, bool is_revert,
                bool is_complete, int lock_timeout_ms, long *duration_ms, PdError *err)
{
    struct timespec start;
    clock_gettime(CLOCK_MONOTONIC, &start);
    if (!pd_db_exec(db, "BEGIN", err) || !pd_history_set_lock_timeout(arena, db, lock_timeout_ms, true, err))
        goto failed;
    if (!pd_db_exec(db, sql, err))
    {
        add_statement_context(db, file, sql, err);
        goto failed;
    }
    bool is_recorded = is_revert ? pd_history_forget(arena, db, file->number, err)
                                 : pd_history_record(arena, db, file->number, file->name, file_checksum(arena, file),
                                                     is_complete, elapsed_ms(&start), err);
    if (!is_recorded || !pd_db_exec(db, "COMMIT", err))
        goto failed;
    *duration_ms = elapsed_ms(&start);
    return true;
failed:;
    PdError ignored;
    pd_db_exec(db, "ROLLBACK", &ignored);
    return false;
}

/* run_transaction, again after a lock timeout, lock_retries times with backoff. */
static bool
run_with_retries(PdArena *arena, PdDb *db, const PdMigrationFile *file, const char *sql, bool is_revert,
                 bool is_complete, const PdMigrateOptions *options, PdMigrateReport *report, PdError *err)
{
    for (int attempt = 0;; attempt++)
    {
        long duration_ms = 0;
        if (run_transaction(arena, db, file, sql, is_revert, is_complete, options->lock_timeout_ms, &duration_ms,
                            err))
        {
            report_line(arena, report, "%s %s (%ld ms)", is_revert ? "reverted" : "applied", file->name,
                        duration_ms);
            return true;
        }
        if (err->code != PD_ERR_LOCK_TIMEOUT || attempt >= options->lock_retries)
            break;
        report_line(arena, report, "%s: a lock was not granted within %d ms; retrying (%d of %d)", file->name,
                    options->lock_timeout_ms, attempt + 1, options->lock_retries);
        backoff(attempt);
    }
    if (err->code == PD_ERR_LOCK_TIMEOUT)
        pd_error_hint(err, "Another session holds a lock on a table this migration changes; find it in "
                           "pg_stat_activity, or raise lock_timeout_ms or lock_retries.");
    return pd_error_context(err, "while %s migration %s", is_revert ? "reverting" : "applying", file->name);
}

/* The quoted index name after "IF NOT EXISTS" in a CREATE INDEX CONCURRENTLY statement, or NULL. */
static char *
concurrent_index_name(PdArena *arena, const char *statement)
{
    if (strstr(statement, "CONCURRENTLY") == NULL || strncmp(statement, "CREATE", 6) != 0)
        return NULL;
    const char *marker = strstr(statement, "IF NOT EXISTS \"");
    if (marker == NULL)
        return NULL;
    const char *name = marker + strlen("IF NOT EXISTS \"");
    PdStrbuf buf;
    pd_strbuf_init(&buf, arena);
    for (const char *c = name; *c != '\0'; c++)
    {
        if (*c == '"' && c[1] == '"')
            c++;
        else if (*c == '"')
            return buf.data;
        pd_strbuf_append_char(&buf, *c);
    }
    return NULL;
}

/*
 * A failed CREATE INDEX CONCURRENTLY leaves an INVALID index behind, which
 * IF NOT EXISTS would then accept: drop such a leftover before (re)building.
 */
static bool
drop_invalid_index(PdArena *arena, PdDb *db, const char *index_name, PdError *err)
{
    const char *params[] = {index_name};
    PGresult *result;
    if (!pd_db_query(arena, db,
                     "SELECT format('DROP INDEX CONCURRENTLY IF EXISTS %I.%I', n.nspname, c.relname) "
                     "FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace "
                     "JOIN pg_index x ON x.indexrelid = c.oid "
                     "WHERE c.relname = $1 AND n.oid = current_schema()::regnamespace AND NOT x.indisvalid",
                     1, params, &result, err))
        return false;
    if (PQntuples(result) == 0)
        return true;
    return pd_db_exec(db, PQgetvalue(result, 0, 0), err);
}

static bool
run_concurrently(PdArena *arena, PdDb *db, const PdMigrationFile *file, const PdMigrateOptions *options,
                 PdMigrateReport *report, PdError *err)
{
    const char **statements;
    size_t count;
    if (!pd_migration_split_statements(arena, file->up_concurrently_sql, &statements, &count, err))
        return pd_error_context(err, "while reading migration %s", file->name);
    if (!pd_history_set_lock_timeout(arena, db, options->lock_timeout_ms, false, err))
        return false;
    for (size_t i = 0; i < count; i++)
    {
        char *index_name = concurrent_index_name(arena, statements[i]);
        for (int attempt = 0;; attempt++)
        {
            if (index_name != NULL && !drop_invalid_index(arena, db, index_name, err))
                return pd_error_context(err, "while dropping the invalid index \"%s\" of %s", index_name,
                                        file->name);
            if (pd_db_exec(db, statements[i], err))
                break;
            add_statement_context(db, file, file->up_concurrently_sql, err);
            PdError ignored;
            if (index_name != NULL)
                drop_invalid_index(arena, db, index_name, &ignored);
            if (err->code != PD_ERR_LOCK_TIMEOUT || attempt >= options->lock_retries)
            {
                pd_error_context(err, "while running statement %zu of the concurrent part of %s", i + 1,
                                 file->name);
                return pd_error_hint(err, "The transactional part is applied; run migrate again to resume "
                                          "the concurrent part after fixing the cause.");
            }
            backoff(attempt);
        }
    }
    if (!pd_history_mark_complete(arena, db, file->number, err))
        return false;
    report_line(arena, report, "completed %s: %zu concurrent statement%s", file->name, count,
                count == 1 ? "" : "s");
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

/* Refuses, before any change, a history that the files no longer describe. */
static bool
verify_history(PdArena *arena, const PdHistoryRow *rows, size_t row_count, const PdMigrationFile *files,
               size_t count, PdError *err)
{
    for (size_t r = 0; r < row_count; r++)
    {
        const PdMigrationFile *file = find_file(files, count, rows[r].number);
        if (file == NULL || strcmp(file->name, rows[r].name) != 0)
        {
            pd_error_set(err, PD_ERR_REFUSED, "applied migration %s has no file", rows[r].name);
            if (file != NULL)
                pd_error_detail(err, "Migration number %d is %s in the files but %s in the database.",
                                rows[r].number, file->name, rows[r].name);
            return pd_error_hint(err, "Restore %s.sql into the migrations directory.", rows[r].name);
        }
        const char *checksum = file_checksum(arena, file);
        if (checksum == NULL)
            return pd_arena_error(arena, err);
        if (strcmp(checksum, rows[r].checksum) != 0)
        {
            pd_error_set(err, PD_ERR_REFUSED, "migration %s was edited after it was applied", file->name);
            pd_error_detail(err, "Its checksum was %s when applied and is %s now (%s).", rows[r].checksum,
                            checksum, file->path ? file->path : file->name);
            return pd_error_hint(err, "Put the applied version back and write the change as a new migration "
                                      "(prodata makemigrations).");
        }
    }
    for (size_t i = 0; i < count && row_count > 0; i++)
    {
        bool is_applied = false;
        for (size_t r = 0; r < row_count; r++)
            is_applied |= rows[r].number == files[i].number;
        if (!is_applied && files[i].number < rows[row_count - 1].number)
        {
            pd_error_set(err, PD_ERR_REFUSED, "migration %s is not applied but a later one, %s, is", files[i].name,
                         rows[row_count - 1].name);
            return pd_error_hint(err, "Two branches added migrations: renumber %s after %s, or revert with "
                                      "migrate --to %d first.",
                                 files[i].name, rows[row_count - 1].name, files[i].number - 1);
        }
    }
    return true;
}

static bool
migrate_forward(PdArena *arena, PdDb *db, const PdHistoryRow *rows, size_t row_count, const PdMigrationFile *files,
                size_t count, const PdMigrateOptions *options, PdMigrateReport *report, PdError *err)
{
    int newest_applied = row_count ? rows[row_count - 1].number : 0;
    for (size_t r = 0; r < row_count; r++)
    {
        if (rows[r].is_complete)
            continue;
        const PdMigrationFile *file = find_file(files, count, rows[r].number);
        if (options->is_dry_run)
            report_line(arena, report, "would complete %s", file->name);
        else if (!run_concurrently(arena, db, file, options, report, err))
            return false;
    }
    for (size_t i = 0; i < count; i++)
    {
        const PdMigrationFile *file = &files[i];
        if (file->number <= newest_applied || (options->target >= 0 && file->number > options->target))
            continue;
        if (options->is_dry_run)
        {
            report_line(arena, report, "would apply %s", file->name);
            continue;
        }
        bool has_concurrent_part = file->up_concurrently_sql != NULL && file->up_concurrently_sql[0] != '\0';
        if (!run_with_retries(arena, db, file, file->up_sql, false, !has_concurrent_part, options, report, err))
            return false;
        if (has_concurrent_part && !run_concurrently(arena, db, file, options, report, err))
            return false;
        report->applied_count++;
    }
    return true;
}

static bool
migrate_backward(PdArena *arena, PdDb *db, const PdHistoryRow *rows, size_t row_count,
                 const PdMigrationFile *files, size_t count, const PdMigrateOptions *options,
                 PdMigrateReport *report, PdError *err)
{
    for (size_t r = row_count; r-- > 0;)
    {
        const PdMigrationFile *file = find_file(files, count, rows[r].number);
        if (rows[r].number > options->target && file->down_sql == NULL)
        {
            pd_error_set(err, PD_ERR_REFUSED, "migration %s cannot be reverted", file->name);
            pd_error_detail(err, "%s", file->irreversible_reason ? file->irreversible_reason
                                                                 : "It has no -- +down section.");
            return pd_error_hint(err, "Nothing was reverted. Choose a target after %s, or write its -- +down "
                                      "section by hand before it is applied elsewhere.",
                                 file->name);
        }
    }
    for (size_t r = row_count; r-- > 0;)
    {
        if (rows[r].number <= options->target)
            break;
        const PdMigrationFile *file = find_file(files, count, rows[r].number);
        if (options->is_dry_run)
            report_line(arena, report, "would revert %s", file->name);
        else if (!run_with_retries(arena, db, file, file->down_sql, true, false, options, report, err))
            return false;
        else
            report->reverted_count++;
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

static bool
migrate_locked(PdArena *arena, PdDb *db, const PdMigrationFile *files, size_t count,
               const PdMigrateOptions *options, PdMigrateReport *report, PdError *err)
{
    PdHistoryRow *rows;
    size_t row_count;
    if (!options->is_dry_run && !pd_history_ensure(db, err))
        return false;
    if (!pd_history_read(arena, db, &rows, &row_count, err) || !verify_history(arena, rows, row_count, files, count, err))
        return false;
    if (options->target > 0 && find_file(files, count, options->target) == NULL)
        return pd_error_set(err, PD_ERR_NOT_FOUND, "no migration numbered %d", options->target);
    if (!has_work(rows, row_count, files, count, options))
        return true;
    const char *schema_before = NULL;
    if (!options->is_dry_run && !pd_drift_read_schema(arena, db, &schema_before, err))
        return false;
    int newest_applied = row_count ? rows[row_count - 1].number : 0;
    bool is_backward = options->target >= 0 && options->target < newest_applied;
    bool is_done = is_backward ? migrate_backward(arena, db, rows, row_count, files, count, options, report, err)
                               : migrate_forward(arena, db, rows, row_count, files, count, options, report, err);
    if (options->is_dry_run)
        return is_done;
    /* Even a failed run may have committed earlier files: record what they changed. */
    PdError snapshot_err;
    const char *schema_after;
    if (!pd_drift_read_schema(arena, db, &schema_after, &snapshot_err) ||
        !pd_drift_record_change(arena, db, schema_before, schema_after, &snapshot_err))
    {
        if (is_done)
            *err = snapshot_err;
        return false;
    }
    return is_done;
}

bool
pd_migrate_apply(PdArena *arena, PdDb *db, const PdMigrationFile *files, size_t count,
                 const PdMigrateOptions *options, PdMigrateReport *report, PdError *err)
{
    memset(report, 0, sizeof(*report));
    srand((unsigned)time(NULL) ^ (unsigned)getpid());
    if (!pd_history_lock(db, options->lock_wait_ms, err))
        return false;
    bool is_done = migrate_locked(arena, db, files, count, options, report, err);
    pd_history_unlock(db);
    return is_done;
}

bool
pd_migrate_status(PdArena *arena, PdDb *db, const PdMigrationFile *files, size_t count, PdMigrationState **states,
                  size_t *state_count, PdError *err)
{
    PdHistoryRow *rows;
    size_t row_count;
    if (!pd_history_read(arena, db, &rows, &row_count, err))
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
            const char *checksum = file_checksum(arena, &files[i]);
            if (checksum == NULL)
                return pd_arena_error(arena, err);
            if (strcmp(rows[r].name, files[i].name) != 0)
                result[used].status = PD_MIGRATION_MISSING;
            else if (strcmp(rows[r].checksum, checksum) != 0)
                result[used].status = PD_MIGRATION_MODIFIED;
            else
                result[used].status = rows[r].is_complete ? PD_MIGRATION_APPLIED : PD_MIGRATION_PARTIAL;
        }
        used++;
    }
    for (size_t r = 0; r < row_count; r++)
    {
        const PdMigrationFile *file = find_file(files, count, rows[r].number);
        if (file != NULL && strcmp(file->name, rows[r].name) == 0)
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
