/*
 * concurrent.c - a migration's concurrent part: the statements that cannot
 * run in a transaction (CREATE INDEX CONCURRENTLY, VALIDATE CONSTRAINT, a
 * unique attached USING INDEX), run one autocommit statement at a time after
 * the file's transaction commits. Each success is counted in the history
 * (concurrent_done) at once, so a later migrate resumes at the first statement
 * not done, and a revert of a partly applied file knows which statements never
 * ran: their objects are read from the statements themselves, and the +down
 * statements that would undo them are skipped, each behind a savepoint, only
 * when they fail on exactly such an object. An INVALID index left by a build
 * that stopped is dropped before building again or reverting.
 */
#include <string.h>

#include "apply.h"
#include "drift.h"
#include "history.h"

/* The first quoted name in the text after `marker` (quotes included), or NULL. */
static const char *
quoted_name_after(PdArena *arena, const char *statement, const char *marker)
{
    const char *at = strstr(statement, marker);
    if (at == NULL)
        return NULL;
    const char *name = at + strlen(marker);
    if (*name != '"')
        return NULL;
    const char *end = name + 1;
    while (*end != '\0' && !(*end == '"' && end[1] != '"'))
        end += *end == '"' ? 2 : 1;
    return *end == '"' ? pd_arena_strndup(arena, name, (size_t)(end - name) + 1) : NULL;
}

/* The index or constraint a concurrent statement creates or drops (quoted), or NULL (VALIDATE, others). */
static const char *
concurrent_object(PdArena *arena, const char *statement)
{
    static const char *const markers[] = {"CONCURRENTLY IF NOT EXISTS ", "CONCURRENTLY IF EXISTS ",
                                          "ADD CONSTRAINT "};
    for (size_t i = 0; i < sizeof(markers) / sizeof(markers[0]); i++)
    {
        const char *name = quoted_name_after(arena, statement, markers[i]);
        if (name != NULL)
            return name;
    }
    return NULL;
}

/* Whether statement names (quoted) one of names. */
static bool
names_any(const char *statement, const char *const *names, size_t count)
{
    for (size_t i = 0; i < count; i++)
        if (strstr(statement, names[i]) != NULL)
            return true;
    return false;
}

/* A missing or already existing object: what a down statement meets when its concurrent statement never ran.
 */
static bool
is_missing_or_existing_object(const PdError *err)
{
    return strcmp(err->sqlstate, "42704") == 0 || strcmp(err->sqlstate, "42P07") == 0 ||
           strcmp(err->sqlstate, "42710") == 0;
}

/*
 * A skipped statement that undid a constraint the unfinished part never
 * attached (DROP CONSTRAINT of a unique made USING INDEX) would also have
 * dropped the index a finished statement built for it: drop that index.
 */
static bool
drop_built_indexes(PdArena *arena, PdDb *db, const PdApplyStep *step, const char *skipped, PdError *err)
{
    for (size_t i = 0; i < step->built_count; i++)
    {
        if (strstr(skipped, step->built[i]) == NULL)
            continue;
        char *sql = pd_arena_sprintf(arena, "DROP INDEX IF EXISTS %s", step->built[i]);
        if (sql == NULL)
            return pd_arena_error(arena, err);
        if (!pd_db_exec(db, sql, err))
            return false;
    }
    return true;
}

/*
 * The +down of a partly applied file, statement by statement, each behind a
 * savepoint: a statement that fails because the object it undoes was never
 * made (or never dropped) by an unfinished concurrent statement is rolled back
 * and skipped; any other failure stands.
 */
bool
pd_concurrent_run_partial_down(PdArena *arena, PdDb *db, PdApplyStep *step, PdError *err)
{
    const PdMigrationFile *file = step->sent.file;
    const char **statements;
    size_t count;
    if (!pd_migration_split_statements(arena, step->sent.section, file->path ? file->path : file->name,
                                       step->sent.first_line, &statements, &count, err))
        return false;
    for (size_t i = 0; i < count; i++)
    {
        if (!pd_db_exec(db, "SAVEPOINT prodata_step", err))
            return false;
        if (pd_db_exec(db, statements[i], err))
            continue;
        PdApplySql sent = step->sent;
        sent.statement = statements[i];
        pd_apply_add_position_context(db, &sent, err);
        if (!is_missing_or_existing_object(err) ||
            !names_any(statements[i], step->unfinished, step->unfinished_count))
            return false;
        PdError ignored;
        if (!pd_db_exec(db, "ROLLBACK TO SAVEPOINT prodata_step", &ignored))
            return pd_error_context(err, "while skipping a statement of %s", file->name);
        step->skipped_count++;
        *err = (PdError){0};
        if (!drop_built_indexes(arena, db, step, statements[i], err))
            return false;
    }
    return true;
}

/*
 * A failed CREATE INDEX CONCURRENTLY leaves an INVALID index behind, which
 * IF NOT EXISTS would then accept: drop such a leftover before (re)building.
 * index_name is quoted, as in the statement.
 */
static bool
drop_invalid_index(PdArena *arena, PdDb *db, const char *index_name, PdError *err)
{
    const char *params[] = {index_name};
    PdDbResult *result;
    if (!pd_db_query(arena, db,
                     "SELECT format('DROP INDEX CONCURRENTLY IF EXISTS %I.%I', n.nspname, c.relname) "
                     "FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace "
                     "JOIN pg_index x ON x.indexrelid = c.oid "
                     "WHERE '\"' || replace(c.relname, '\"', '\"\"') || '\"' = $1 AND n.nspname = "
                     "current_schema() AND NOT x.indisvalid",
                     1, params, &result, err))
        return false;
    if (pd_db_result_row_count(result) == 0)
        return true;
    return pd_db_exec(db, pd_db_result_value(result, 0, 0), err);
}

/* The name of the index a CREATE INDEX CONCURRENTLY statement builds (quoted), or NULL. */
static const char *
concurrent_index_name(PdArena *arena, const char *statement)
{
    if (strncmp(statement, "CREATE", 6) != 0)
        return NULL;
    return quoted_name_after(arena, statement, "CONCURRENTLY IF NOT EXISTS ");
}

/* One concurrent statement, retried after a lock timeout; an invalid index it leaves is dropped. */
static bool
run_concurrent_statement(PdArena *arena, PdDb *db, const PdApplySql *sent, const PdMigrateOptions *options,
                         PdError *err)
{
    const char *index_name = concurrent_index_name(arena, sent->statement);
    PdRetry retry;
    pd_apply_begin_lock_retries(&retry, options);
    for (int attempt = 0;; attempt++)
    {
        if (index_name != NULL && !drop_invalid_index(arena, db, index_name, err))
            return pd_error_context(err, "while dropping the invalid index %s", index_name);
        if (pd_db_exec(db, sent->statement, err))
            return true;
        pd_apply_add_position_context(db, sent, err);
        PdError ignored;
        if (index_name != NULL)
            drop_invalid_index(arena, db, index_name, &ignored);
        if (err->code != PD_ERR_LOCK_TIMEOUT || attempt >= options->lock_retries)
            return false;
        pd_apply_emit(options, (PdMigrateEvent){.kind = PD_MIGRATE_LOCK_RETRY,
                                                .migration = sent->file->name,
                                                .attempt = attempt + 1});
        if (!pd_retry_next(&retry, options->is_interrupted))
            return false;
    }
}

/* In one transaction: what the concurrent part changed goes into the snapshot, and the file is complete. */
static bool
complete_concurrent_part(PdArena *arena, PdDb *db, const PdMigrationFile *file, PdError *err)
{
    const char *schema_before, *schema_after;
    bool is_done = pd_db_exec(db, "BEGIN", err) &&
                   pd_history_schema_before_concurrent(arena, db, file->number, &schema_before, err) &&
                   pd_drift_read_schema(arena, db, &schema_after, err) &&
                   pd_drift_record_change(arena, db, schema_before, schema_after, err) &&
                   pd_history_mark_complete(arena, db, file->number, err) && pd_db_exec(db, "COMMIT", err);
    if (!is_done)
    {
        PdError ignored;
        pd_db_exec(db, "ROLLBACK", &ignored);
    }
    return is_done;
}

/* The statement's first line, for a progress event. */
static const char *
first_line(PdArena *arena, const char *statement)
{
    const char *line = pd_arena_strndup(arena, statement, strcspn(statement, "\n"));
    return line != NULL ? line : "";
}

/* The concurrent statements from number `done` on, one autocommit statement each, each recorded as done. */
static bool
run_concurrent_statements(PdArena *arena, PdDb *db, const PdMigrationFile *file, const char **statements,
                          size_t count, int done, const PdMigrateOptions *options, PdMigrateReport *report,
                          PdError *err)
{
    for (size_t i = (size_t)done; i < count; i++)
    {
        if (pd_apply_was_interrupted(options, report, err))
            return pd_error_detail(
                err,
                "%d migration%s applied before it stopped; the transactional part of %s is "
                "applied and %zu of its %zu concurrent statements ran: the next migrate "
                "resumes there (migrate --to %d reverts what was applied).",
                report->applied_count, report->applied_count == 1 ? "" : "s", file->name, i, count,
                file->number - 1);
        PdMigrateEvent event = {.kind = PD_MIGRATE_STATEMENT_START,
                                .migration = file->name,
                                .statement = first_line(arena, statements[i]),
                                .statement_number = (int)i + 1,
                                .statement_count = (int)count};
        pd_apply_emit(options, event);
        struct timespec start;
        clock_gettime(CLOCK_MONOTONIC, &start);
        PdApplySql sent = {file, file->up_concurrently_sql, file->up_concurrently_line, statements[i]};
        if (!run_concurrent_statement(arena, db, &sent, options, err))
            return pd_error_context(err,
                                    "while running statement %zu of %zu of the concurrent part of %s; its "
                                    "transactional part is applied, and migrate resumes here once the "
                                    "cause is fixed (or migrate --to %d reverts what was applied)",
                                    i + 1, count, file->name, file->number - 1);
        PdError ignored; /* a count not recorded is only lower than the truth: see history.h */
        pd_history_set_concurrent_done(arena, db, file->number, (int)i + 1, &ignored);
        event.kind = PD_MIGRATE_STATEMENT_END;
        event.duration_ms = pd_apply_elapsed_ms(&start);
        pd_apply_emit(options, event);
    }
    return true;
}

/* The concurrent part of file from statement number `done` on, then the file is marked complete. */
bool
pd_concurrent_run(PdArena *arena, PdArena *scratch, PdDb *db, const PdMigrationFile *file, int done,
                  const PdMigrateOptions *options, PdMigrateReport *report, PdError *err)
{
    const char **statements;
    size_t count;
    const char *where = file->path ? file->path : file->name;
    if (!pd_migration_split_statements(scratch, file->up_concurrently_sql, where, file->up_concurrently_line,
                                       &statements, &count, err) ||
        !pd_history_set_lock_timeout(scratch, db, options->lock_timeout_ms, false, err) ||
        !run_concurrent_statements(scratch, db, file, statements, count, done, options, report, err))
        return false;
    if (!complete_concurrent_part(scratch, db, file, err))
        return pd_error_context(err, "while completing migration %s", file->name);
    pd_apply_report_line(arena, report, "completed %s: %zu concurrent statement%s", file->name, count,
                         count == 1 ? "" : "s");
    return true;
}

/*
 * For the revert of a file whose concurrent part did not finish: the objects
 * its unfinished statements would have made or dropped (their +down
 * statements meet nothing to undo), after dropping an invalid index a build
 * that stopped half way left.
 */
bool
pd_concurrent_find_unfinished(PdArena *arena, PdDb *db, const PdMigrationFile *file, int done,
                              PdApplyStep *step, PdError *err)
{
    const char **statements;
    size_t count;
    if (!pd_migration_split_statements(arena, file->up_concurrently_sql, file->path ? file->path : file->name,
                                       file->up_concurrently_line, &statements, &count, err))
        return false;
    step->unfinished = pd_arena_calloc(arena, count + 1, sizeof(*step->unfinished));
    step->built = pd_arena_calloc(arena, count + 1, sizeof(*step->built));
    if (step->unfinished == NULL || step->built == NULL)
        return pd_arena_error(arena, err);
    for (size_t i = 0; i < count; i++)
    {
        const char *name = concurrent_object(arena, statements[i]);
        const char *index_name = concurrent_index_name(arena, statements[i]);
        if (i < (size_t)done)
        {
            if (index_name != NULL)
                step->built[step->built_count++] = index_name;
            continue;
        }
        if (index_name != NULL && !drop_invalid_index(arena, db, index_name, err))
            return pd_error_context(err, "while dropping the invalid index %s", index_name);
        if (name != NULL)
            step->unfinished[step->unfinished_count++] = name;
    }
    return true;
}
