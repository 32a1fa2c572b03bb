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

/*
 * Statements are read as PostgreSQL reads names: an unquoted name is folded
 * to lower case, a quoted one kept, and both are compared in quoted form
 * ("name"), so CREATE INDEX CONCURRENTLY IF NOT EXISTS Items_Idx and DROP
 * INDEX "items_idx" name one index. Comments and string literals are skipped;
 * a dollar-quoted body is read as tokens (the DO block that attaches a unique
 * index names its constraint there).
 */
typedef struct SqlToken
{
    const char *name; /* a name in quoted form, NULL for another character */
    bool is_quoted;   /* written in quotes (never a keyword) */
    char other;       /* the character that is not a name */
} SqlToken;

static const char *
skip_ignored(const char *c)
{
    for (;;)
    {
        c += strspn(c, " \t\r\n\f\v");
        if (c[0] == '-' && c[1] == '-')
            c += strcspn(c, "\n");
        else if (c[0] == '/' && c[1] == '*')
        {
            const char *end = strstr(c + 2, "*/");
            c = end != NULL ? end + 2 : c + strlen(c);
        }
        else if (c[0] == '\'')
        {
            for (c++; *c != '\0' && !(*c == '\'' && c[1] != '\''); c += *c == '\'' ? 2 : 1)
                ;
            c += *c == '\'';
        }
        else
            return c;
    }
}

static bool
is_name_start(char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_' || (unsigned char)c >= 0x80;
}

static bool
is_name_part(char c)
{
    return is_name_start(c) || (c >= '0' && c <= '9') || c == '$';
}

/* The unquoted name at c, folded to lower case, in quoted form. */
static const char *
fold_name(PdArena *arena, const char *c, size_t length)
{
    char *name = pd_arena_alloc(arena, length + 3);
    if (name == NULL)
        return NULL;
    name[0] = '"';
    for (size_t i = 0; i < length; i++)
        name[i + 1] = c[i] >= 'A' && c[i] <= 'Z' ? (char)(c[i] - 'A' + 'a') : c[i];
    name[length + 1] = '"';
    name[length + 2] = '\0';
    return name;
}

/* Reads the next token from *cursor; false at the end (or when the arena is exhausted). */
static bool
next_token(PdArena *arena, const char **cursor, SqlToken *token)
{
    const char *c = skip_ignored(*cursor);
    *token = (SqlToken){0};
    if (*c == '\0')
    {
        *cursor = c;
        return false;
    }
    size_t length = 1;
    if (*c == '"')
    {
        while (c[length] != '\0' && !(c[length] == '"' && c[length + 1] != '"'))
            length += c[length] == '"' ? 2 : 1;
        length += c[length] == '"';
        token->name = pd_arena_strndup(arena, c, length);
        token->is_quoted = true;
    }
    else if (is_name_start(*c))
    {
        while (is_name_part(c[length]))
            length++;
        token->name = fold_name(arena, c, length);
    }
    else
        token->other = *c;
    *cursor = c + length;
    return token->name != NULL || token->other != '\0';
}

/* Whether the token is the keyword (lower case) written without quotes. */
static bool
is_keyword(const SqlToken *token, const char *keyword)
{
    size_t length = strlen(keyword);
    return token->name != NULL && !token->is_quoted && strncmp(token->name + 1, keyword, length) == 0 &&
           strcmp(token->name + 1 + length, "\"") == 0;
}

/* The position in statement just after the first run of keywords (lower case), or NULL. */
static const char *
after_keywords(PdArena *arena, const char *statement, const char *const *keywords, size_t count)
{
    const char *cursor = statement;
    SqlToken token;
    size_t matched = 0;
    while (next_token(arena, &cursor, &token))
    {
        if (is_keyword(&token, keywords[matched]))
            matched++;
        else
            matched = is_keyword(&token, keywords[0]) ? 1 : 0;
        if (matched == count)
            return cursor;
    }
    return NULL;
}

/* The object named at cursor after an optional IF [NOT] EXISTS (of schema.name, the name), or NULL. */
static const char *
object_name_at(PdArena *arena, const char *cursor)
{
    SqlToken token;
    if (!next_token(arena, &cursor, &token))
        return NULL;
    if (is_keyword(&token, "if"))
    {
        if (!next_token(arena, &cursor, &token) ||
            (is_keyword(&token, "not") && !next_token(arena, &cursor, &token)) ||
            !is_keyword(&token, "exists") || !next_token(arena, &cursor, &token))
            return NULL;
    }
    if (token.name == NULL || is_keyword(&token, "on"))
        return NULL; /* CREATE INDEX CONCURRENTLY ON t: PostgreSQL picks the name */
    const char *name = token.name;
    SqlToken dot;
    if (next_token(arena, &cursor, &dot) && dot.other == '.' && next_token(arena, &cursor, &token) &&
        token.name != NULL)
        name = token.name;
    return name;
}

/* The index or constraint a concurrent statement creates or drops (quoted), or NULL (VALIDATE, others). */
static const char *
concurrent_object(PdArena *arena, const char *statement)
{
    static const char *const concurrently[] = {"concurrently"};
    static const char *const add_constraint[] = {"add", "constraint"};
    const char *at = after_keywords(arena, statement, concurrently, 1);
    if (at == NULL)
        at = after_keywords(arena, statement, add_constraint, 2);
    return at != NULL ? object_name_at(arena, at) : NULL;
}

/* Whether statement names one of names (quoted form). */
static bool
names_any(PdArena *arena, const char *statement, const char *const *names, size_t count)
{
    const char *cursor = statement;
    SqlToken token;
    while (next_token(arena, &cursor, &token))
        for (size_t i = 0; token.name != NULL && i < count; i++)
            if (strcmp(token.name, names[i]) == 0)
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
        if (!names_any(arena, skipped, &step->built[i], 1))
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
            !names_any(arena, statements[i], step->unfinished, step->unfinished_count))
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
 * index_name is quoted, as in the statement. *is_built (when not NULL) says
 * whether a valid index of that name is there.
 */
static bool
drop_invalid_index(PdArena *arena, PdDb *db, const char *index_name, bool *is_built, PdError *err)
{
    const char *params[] = {index_name};
    PdDbResult *result;
    if (!pd_db_query(arena, db,
                     "SELECT x.indisvalid, format('DROP INDEX CONCURRENTLY IF EXISTS %I.%I', n.nspname, "
                     "c.relname) FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace "
                     "JOIN pg_index x ON x.indexrelid = c.oid "
                     "WHERE '\"' || replace(c.relname, '\"', '\"\"') || '\"' = $1 AND n.nspname = "
                     "current_schema()",
                     1, params, &result, err))
        return false;
    bool is_valid = pd_db_result_row_count(result) == 1 && strcmp(pd_db_result_value(result, 0, 0), "t") == 0;
    if (is_built != NULL)
        *is_built = is_valid;
    if (pd_db_result_row_count(result) == 0 || is_valid)
        return true;
    return pd_db_exec(db, pd_db_result_value(result, 0, 1), err);
}

/* The name of the index a CREATE INDEX CONCURRENTLY statement builds (quoted), or NULL. */
static const char *
concurrent_index_name(PdArena *arena, const char *statement)
{
    const char *cursor = statement;
    SqlToken first;
    if (!next_token(arena, &cursor, &first) || !is_keyword(&first, "create"))
        return NULL;
    static const char *const concurrently[] = {"concurrently"};
    const char *at = after_keywords(arena, cursor, concurrently, 1);
    return at != NULL ? object_name_at(arena, at) : NULL;
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
        if (index_name != NULL && !drop_invalid_index(arena, db, index_name, NULL, err))
            return pd_error_context(err, "while dropping the invalid index %s", index_name);
        if (pd_db_exec(db, sent->statement, err))
            return true;
        pd_apply_add_position_context(db, sent, err);
        PdError ignored;
        if (index_name != NULL)
            drop_invalid_index(arena, db, index_name, NULL, &ignored);
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

/*
 * What runs after a file's transaction commits, in order: its batched
 * statements (the first *batched_count), then its concurrent ones; one
 * count, concurrent_done, says how far it got.
 */
static bool
after_commit_statements(PdArena *arena, const PdMigrationFile *file, const char ***statements, size_t *count,
                        size_t *batched_count, PdError *err)
{
    const char *where = file->path ? file->path : file->name;
    const char **batched, **concurrent;
    size_t concurrent_count;
    if (!pd_migration_split_statements(arena, file->up_batched_sql, where, file->up_batched_line, &batched,
                                       batched_count, err) ||
        !pd_migration_split_statements(arena, file->up_concurrently_sql, where, file->up_concurrently_line,
                                       &concurrent, &concurrent_count, err))
        return false;
    const char **all = pd_arena_calloc(arena, *batched_count + concurrent_count + 1, sizeof(*all));
    if (all == NULL)
        return pd_arena_error(arena, err);
    for (size_t i = 0; i < *batched_count; i++)
        all[i] = batched[i];
    for (size_t i = 0; i < concurrent_count; i++)
        all[*batched_count + i] = concurrent[i];
    *statements = all;
    *count = *batched_count + concurrent_count;
    return true;
}

/* Runs statement i of the part after the commit: a batched one until it changes nothing, or a concurrent one.
 */
static bool
run_after_commit(PdArena *arena, PdDb *db, const PdMigrationFile *file, const char **statements,
                 size_t batched_count, size_t i, const PdMigrateOptions *options, PdMigrateReport *report,
                 PdError *err)
{
    if (i >= batched_count)
    {
        PdApplySql sent = {file, file->up_concurrently_sql, file->up_concurrently_line, statements[i]};
        return run_concurrent_statement(arena, db, &sent, options, err);
    }
    if (pd_batched_is_count(statements[i]))
        return true; /* run with the statement after it, for its time left */
    PdApplySql sent = {file, file->up_batched_sql, file->up_batched_line, statements[i]};
    const char *count_sql = i > 0 && pd_batched_is_count(statements[i - 1]) ? statements[i - 1] : NULL;
    return pd_batched_run(arena, db, &sent, count_sql, options, report, err);
}

/* The statements after the commit from number `done` on, each recorded as done. */
static bool
run_concurrent_statements(PdArena *arena, PdDb *db, const PdMigrationFile *file, const char **statements,
                          size_t count, size_t batched_count, int done, const PdMigrateOptions *options,
                          PdMigrateReport *report, PdError *err)
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
        if (!run_after_commit(arena, db, file, statements, batched_count, i, options, report, err))
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
    size_t count, batched_count;
    if (!after_commit_statements(scratch, file, &statements, &count, &batched_count, err) ||
        !pd_history_set_lock_timeout(scratch, db, options->lock_timeout_ms, false, err) ||
        !run_concurrent_statements(scratch, db, file, statements, count, batched_count, done, options, report,
                                   err))
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
    size_t count, batched_count;
    if (!after_commit_statements(arena, file, &statements, &count, &batched_count, err))
        return false;
    step->unfinished = pd_arena_calloc(arena, count + 1, sizeof(*step->unfinished));
    step->built = pd_arena_calloc(arena, count + 1, sizeof(*step->built));
    if (step->unfinished == NULL || step->built == NULL)
        return pd_arena_error(arena, err);
    for (size_t i = batched_count; i < count; i++) /* batched statements make no object */
    {
        const char *name = concurrent_object(arena, statements[i]);
        const char *index_name = concurrent_index_name(arena, statements[i]);
        if (i < (size_t)done)
        {
            if (index_name != NULL)
                step->built[step->built_count++] = index_name;
            continue;
        }
        bool is_built = false;
        if (index_name != NULL && !drop_invalid_index(arena, db, index_name, &is_built, err))
            return pd_error_context(err, "while dropping the invalid index %s", index_name);
        if (is_built) /* it ran, but its deployer died (or failed to record it) before the count said so */
            step->built[step->built_count++] = index_name;
        else if (name != NULL)
            step->unfinished[step->unfinished_count++] = name;
    }
    return true;
}
