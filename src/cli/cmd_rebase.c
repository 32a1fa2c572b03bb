/*
 * cmd_rebase.c - `prodata makemigrations --rebase NAME`: two branches that
 * each added migration 0005 meet, and this branch's migrations (NAME and
 * those made after it) are written again after the other branch's. The
 * other branch's files stay as they are (they may be applied anywhere); this
 * branch's are replaced by one migration planned from the other branch's
 * newest state to the model file, which holds both branches' changes after
 * the merge. A development database that applied this branch's files would
 * be left with a history no file describes: the command refuses, or with
 * --revert-applied first reverts them there (their +down), so that a plain
 * `prodata migrate` then goes forward. The new file is written before the
 * old ones are removed, so an interruption leaves a folder the next run
 * settles.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli.h"
#include "prodata/db.h"
#include "prodata/migrate.h"
#include "prodata/model.h"

/* This branch's files: NAME, and every file made after one of them (their "-- after:" lines). */
static bool
find_ours(PdArena *arena, const PdMigrationFile *files, size_t count, const char *name, bool **is_ours,
          size_t *ours_count, PdError *err)
{
    bool *ours = pd_arena_calloc(arena, count + 1, sizeof(*ours));
    if (ours == NULL)
        return pd_arena_error(arena, err);
    *ours_count = 0;
    for (size_t i = 0; i < count; i++)
        if (strcmp(files[i].name, name) == 0)
            ours[i] = true, (*ours_count)++;
    if (*ours_count == 0)
    {
        pd_error_set(err, PD_ERR_USAGE, "--rebase: no migration \"%s\"", name);
        return pd_error_hint(err, "Give the full name of this branch's first migration, e.g. 0005_add_isbn.");
    }
    for (bool is_grown = true; is_grown;)
    {
        is_grown = false;
        for (size_t i = 0; i < count; i++)
            for (size_t j = 0; j < count && !ours[i] && files[i].parent_name != NULL; j++)
                if (ours[j] && strcmp(files[i].parent_name, files[j].name) == 0)
                    ours[i] = is_grown = true, (*ours_count)++;
    }
    *is_ours = ours;
    return true;
}

/*
 * Refuses when the rebase would lose hand-written SQL: a file of ours that is
 * not what the planner makes of its state change (a data fix, a backfill: the
 * new file is planned from the states alone), or a file without an "-- after:"
 * line numbered from our first on (it cannot be told to be ours or theirs, and
 * kept where it is it would run before our changes).
 */
static bool
refuse_hand_written(PdArena *arena, const PdMigrationFile *files, size_t count, const bool *is_ours,
                    PdError *err)
{
    int first = -1;
    for (size_t i = 0; i < count; i++)
        if (is_ours[i] && (first < 0 || files[i].number < first))
            first = files[i].number;
    PdMigrationFile *chain = pd_arena_calloc(arena, count + 1, sizeof(*chain));
    if (chain == NULL)
        return pd_arena_error(arena, err);
    for (size_t i = 0; i < count; i++)
    {
        bool is_planned = true;
        if (!is_ours[i] && files[i].number >= first && files[i].parent_name == NULL)
        {
            pd_error_set(err, PD_ERR_REFUSED, "cannot rebase: %s has no \"-- after:\" line", files[i].name);
            pd_error_detail(err, "A hand-written migration numbered after this branch's first cannot be told to "
                                 "be this branch's or the other's; nothing was changed.");
            return pd_error_hint(err, "Move it out of the folder, rebase, then bring it back with the next number "
                                      "(or recreate it with prodata makemigrations --empty).");
        }
        if (!is_ours[i])
            continue;
        /* The file's own line of history, oldest first, through the "-- after:" lines. */
        size_t length = 0;
        for (const PdMigrationFile *at = &files[i]; at != NULL && length < count;)
        {
            chain[length++] = *at;
            const PdMigrationFile *parent = NULL;
            for (size_t j = 0; j < count && at->parent_name != NULL && parent == NULL; j++)
                parent = strcmp(files[j].name, at->parent_name) == 0 ? &files[j] : NULL;
            at = parent;
        }
        for (size_t a = 0, b = length - 1; a < b; a++, b--)
        {
            PdMigrationFile swap = chain[a];
            chain[a] = chain[b];
            chain[b] = swap;
        }
        if (!pd_migration_is_planned(arena, chain, length - 1, &is_planned, err))
            return false;
        if (is_planned)
            continue;
        pd_error_set(err, PD_ERR_REFUSED, "cannot rebase %s: its SQL is not what its model change plans",
                     files[i].name);
        pd_error_detail(err, "It was written or edited by hand (a data fix, a backfill); the rebased migration "
                             "is planned from the model states alone, so its statements would be lost. Nothing "
                             "was changed.");
        return pd_error_hint(err, "Move it out of the folder, rebase, then bring it back after the rebased "
                                  "migration (prodata makemigrations --empty, and copy its statements).");
    }
    return true;
}

/* The files that are not ours, checked as a folder of their own would be. */
static bool
keep_theirs(PdArena *arena, const PdMigrationFile *files, size_t count, const bool *is_ours,
            PdMigrationFile **theirs, size_t *theirs_count, PdError *err)
{
    PdMigrationFile *kept = pd_arena_calloc(arena, count + 1, sizeof(*kept));
    if (kept == NULL)
        return pd_arena_error(arena, err);
    *theirs_count = 0;
    for (size_t i = 0; i < count; i++)
        if (!is_ours[i])
            kept[(*theirs_count)++] = files[i];
    *theirs = kept;
    if (pd_migration_check_list(kept, *theirs_count, err))
        return true;
    return pd_error_context(err, "in the migrations that stay once this branch's are taken out");
}

/* The applied files among ours, named in *applied ("" when none); needs the database. */
static bool
read_applied(PdArena *arena, PdDb *db, const PdMigrationFile *files, size_t count, const bool *is_ours,
             const char **applied, PdError *err)
{
    PdMigrationState *states;
    size_t state_count;
    *applied = "";
    if (!pd_migrate_status(arena, db, files, count, &states, &state_count, err))
        return false;
    for (size_t i = 0; i < count; i++)
    {
        bool is_applied = false;
        for (size_t s = 0; s < state_count && is_ours[i]; s++)
            is_applied |=
                states[s].status != PD_MIGRATION_PENDING && strcmp(states[s].name, files[i].name) == 0;
        if (is_applied)
            *applied = pd_arena_sprintf(arena, "%s%s%s", *applied, (*applied)[0] ? ", " : "", files[i].name);
    }
    return *applied != NULL || pd_arena_error(arena, err);
}

/* Reverts this branch's applied files on the database: the files before the fork and ours, down to the fork.
 */
static bool
revert_ours(PdArena *arena, PdDb *db, const PdMigrationFile *files, size_t count, const bool *is_ours,
            const PdMigrateSettings *config, PdError *err)
{
    PdMigrationFile *line = pd_arena_calloc(arena, count + 1, sizeof(*line));
    if (line == NULL)
        return pd_arena_error(arena, err);
    int fork = -1;
    size_t used = 0;
    for (size_t i = 0; i < count; i++)
        if (is_ours[i] && (fork < 0 || files[i].number - 1 < fork))
            fork = files[i].number - 1;
    for (size_t i = 0; i < count; i++)
        if (is_ours[i] || files[i].number <= fork)
            line[used++] = files[i];
    PdMigrateOptions options;
    pd_migrate_options_default(&options);
    options.target = fork;
    options.lock_timeout_ms = config->lock_timeout_ms;
    options.lock_wait_ms = config->lock_wait_ms;
    options.count_rows = config->count_rows;
    PdMigrateReport report;
    if (!pd_migrate_apply(arena, db, line, used, &options, &report, err))
        return pd_error_context(err, "while reverting this branch's migrations before the rebase");
    for (size_t i = 0; i < report.line_count; i++)
        printf("%s\n", report.lines[i]);
    return true;
}

/* With a database: refuses to rebase files it applied, or reverts them first with --revert-applied. */
static bool
settle_database(PdArena *arena, const CliArgs *args, const PdMigrateSettings *config,
                const PdMigrationFile *files, size_t count, const bool *is_ours, PdError *err)
{
    PdDb *db;
    PdError unreachable = {0};
    if (!pd_db_connect(config->database, &db, &unreachable))
    {
        fprintf(stderr,
                "warning: the database could not be read (%s); if it applied this branch's "
                "migrations, revert them there before the next migrate\n",
                unreachable.message);
        return true;
    }
    const char *applied;
    bool is_done = read_applied(arena, db, files, count, is_ours, &applied, err);
    if (is_done && applied[0] != '\0' && !cli_has_flag(args, "--revert-applied", NULL))
    {
        pd_error_set(err, PD_ERR_REFUSED, "this branch's %s %s applied to the database", applied,
                     strchr(applied, ',') ? "are" : "is");
        pd_error_detail(err,
                        "Rebased, they would be replaced by a file the database's history does not name.");
        pd_error_hint(err, "Run again with --revert-applied: it reverts them on this database first (their "
                           "+down: data in what they made is lost), then rebases; then run prodata migrate.");
        is_done = false;
    }
    else if (is_done && applied[0] != '\0' && !cli_has_flag(args, "--dry-run", NULL))
        is_done = revert_ours(arena, db, files, count, is_ours, config, err);
    pd_db_close(db);
    return is_done;
}

/* The new file's name: ours' own when it is one file, else the plan's. */
static const char *
new_name(PdArena *arena, const PdMigrationFile *files, size_t count, const bool *is_ours, size_t ours_count,
         const PdMigrationPlan *plan, int number)
{
    const char *suffix = plan->suggested_name;
    for (size_t i = 0; i < count && ours_count == 1; i++)
        if (is_ours[i])
            suffix = strchr(files[i].name, '_') + 1;
    return pd_arena_sprintf(arena, "%04d_%s", number, suffix);
}

/* Writes the new file (unless there is nothing left to write), then removes ours. */
static bool
write_rebased(PdArena *arena, const CliArgs *args, const PdMigrateSettings *config,
              const PdMigrationFile *files, size_t count, const bool *is_ours, size_t ours_count,
              const PdMigrationFile *theirs, size_t theirs_count, const PdMigrationPlan *plan,
              const PdCatalog *models, PdError *err)
{
    bool is_dry_run = cli_has_flag(args, "--dry-run", NULL);
    int number = theirs_count > 0 ? theirs[theirs_count - 1].number + 1 : 1;
    const char *parent = theirs_count > 0 ? theirs[theirs_count - 1].name : NULL;
    const char *name = new_name(arena, files, count, is_ours, ours_count, plan, number);
    char *text, *path = pd_arena_sprintf(arena, "%s/%s.sql", config->migrations, name);
    if (name == NULL || path == NULL)
        return pd_arena_error(arena, err);
    if (plan->operation_count > 0 &&
        !pd_migration_render(arena, plan, name, parent, config->models, models, &text, err))
        return false;
    if (is_dry_run && plan->operation_count > 0)
        fputs(text, stdout);
    for (size_t i = 0; i < count && !is_dry_run && plan->operation_count > 0; i++)
        if (is_ours[i] && strcmp(files[i].path, path) == 0 && unlink(path) != 0)
            break; /* the new file takes the name of one it replaces: that one goes first */
    if (!is_dry_run && plan->operation_count > 0 &&
        !cli_write_file_atomically(arena, config->migrations, path, text, false, err))
        return false;
    for (size_t i = 0; i < count; i++)
        if (is_ours[i] && !is_dry_run && unlink(files[i].path) != 0 && errno != ENOENT)
        {
            pd_error_set(err, PD_ERR_IO, "could not remove %s", files[i].path);
            return pd_error_detail(err, "%s.", strerror(errno));
        }
    for (size_t i = 0; i < count; i++)
        if (is_ours[i])
            printf("%s %s\n", is_dry_run ? "would remove" : "removed", files[i].path);
    if (plan->operation_count == 0)
        printf("Nothing to write: the other branch's migrations hold this branch's changes already.\n");
    else
        printf("%s %s after %s:\n", is_dry_run ? "would write" : "Wrote", path, parent ? parent : "nothing");
    for (size_t i = 0; i < plan->operation_count; i++)
        printf("  - %s\n", plan->operations[i].description);
    return true;
}

bool
cli_rebase_migrations(PdArena *arena, const CliArgs *args, const char *name, PdError *err)
{
    PdMigrateSettings config;
    PdMigrationFile *files = NULL, *theirs = NULL;
    size_t count = 0, ours_count = 0, theirs_count = 0;
    bool *is_ours = NULL;
    PdCatalog *models = NULL, *state = NULL;
    PdMigrationPlan *plan = NULL;
    if (!cli_load_config(arena, args, &config, err) ||
        !pd_migration_list_unchecked(arena, config.migrations, &files, &count, err) ||
        !find_ours(arena, files, count, name, &is_ours, &ours_count, err) ||
        !refuse_hand_written(arena, files, count, is_ours, err) ||
        !keep_theirs(arena, files, count, is_ours, &theirs, &theirs_count, err) ||
        !pd_model_load_file(arena, config.models, &models, err) ||
        !pd_migration_latest_state(arena, theirs, theirs_count, &state, err) ||
        !pd_migrate_plan(arena, state, models, &plan, err))
        return false;
    if (plan->destructive_count > 0 && !cli_has_flag(args, "--allow-destructive", NULL))
    {
        pd_error_set(err, PD_ERR_REFUSED, "the rebased migration would destroy data; nothing was changed");
        pd_error_detail(err, "%s", plan->destructive_reasons[0]);
        return pd_error_hint(err, "Review, and run again with --allow-destructive.");
    }
    return settle_database(arena, args, &config, files, count, is_ours, err) &&
           write_rebased(arena, args, &config, files, count, is_ours, ours_count, theirs, theirs_count, plan,
                         models, err);
}
