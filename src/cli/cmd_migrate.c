/*
 * cmd_migrate.c - the schema commands: makemigrations, migrate,
 * showmigrations, sqlmigrate, check. Each reads its settings, calls
 * libprodata and prints results to stdout; warnings go to stderr, errors go
 * back to main. Files are written whole or not at all (temporary file,
 * fsync, rename), so an interrupted makemigrations never leaves half a
 * migration behind.
 */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cli.h"
#include "prodata/db.h"
#include "prodata/migrate.h"
#include "prodata/model.h"

/* Loads settings and the migration files, which every command here needs. */
static bool
load_files(PdArena *arena, const CliArgs *args, PdMigrateSettings *config, PdMigrationFile **files,
           size_t *count, PdError *err)
{
    if (!cli_load_config(arena, args, config, err))
        return false;
    if (!pd_migration_list(arena, config->migrations, files, count, err))
        return pd_error_context(err, "while reading the migrations in %s", config->migrations);
    return true;
}

/* The field `Model.field` of models, to be given a value: NULL (err set) when there is none. */
static PdField *
find_backfilled_field(PdCatalog *models, const char *spec, const char *models_name, PdError *err)
{
    const char *dot = strchr(spec, '.'), *equals = strchr(spec, '=');
    if (dot == NULL || equals == NULL || equals < dot || dot == spec || equals == dot + 1)
    {
        pd_error_set(err, PD_ERR_USAGE, "--backfill \"%s\": expected Model.field=VALUE", spec);
        pd_error_hint(err,
                      "For example --backfill Book.isbn=unknown (the value as the field's type reads it).");
        return NULL;
    }
    size_t model_length = (size_t)(dot - spec), field_length = (size_t)(equals - dot - 1);
    for (size_t m = 0; m < models->model_count; m++)
    {
        PdModel *model = &models->models[m];
        if (strlen(model->name) != model_length || strncmp(model->name, spec, model_length) != 0)
            continue;
        for (size_t f = 0; f < model->field_count; f++)
            if (strlen(model->fields[f].name) == field_length &&
                strncmp(model->fields[f].name, dot + 1, field_length) == 0)
                return &model->fields[f];
        pd_error_set(err, PD_ERR_INVALID_INPUT, "--backfill %.*s: model %s has no field \"%.*s\" in %s",
                     (int)(equals - spec), spec, model->name, (int)field_length, dot + 1, models_name);
        pd_error_hint(err, "Name a field of the model file, as it is written there.");
        return NULL;
    }
    pd_error_set(err, PD_ERR_INVALID_INPUT, "--backfill %.*s: no model \"%.*s\" in %s", (int)(equals - spec),
                 spec, (int)model_length, spec, models_name);
    pd_error_hint(err, "Name a model of the model file, as it is written there (Book, not book).");
    return NULL;
}

/*
 * Every --backfill Model.field=VALUE: the field's backfill= for this run, as if the model file said it (so
 * the migration's recorded state says it too, and a plan made again from the states writes the same SQL). The
 * value is read as the field's type reads it. Refused: an unknown model or field, a field without a column
 * or that is the primary key, a field that has backfill= in the file already, a value of the wrong type.
 */
static bool
apply_backfills(PdArena *arena, const CliArgs *args, PdCatalog *models, const char *models_name, PdError *err)
{
    for (int i = 0; i < args->flag_count; i++)
    {
        if (strcmp(args->flags[i], "--backfill") != 0)
            continue;
        const char *spec = args->flag_values[i];
        PdField *field = find_backfilled_field(models, spec, models_name, err);
        if (field == NULL)
            return false;
        const char *name = pd_arena_strndup(arena, spec, strcspn(spec, "="));
        const char *why = field->column == NULL          ? "a many-to-many field has no column to fill"
                          : field->is_primary_key        ? "a primary key's rows need values of their own"
                          : field->kind == PD_FIELD_AUTO ? "the implicit id is numbered by the database"
                          : field->backfill != NULL      ? "the field has backfill= in the model file already"
                          : field->generated != NULL     ? "a generated field's rows get the computed value"
                          : field->default_value.kind == PD_DEFAULT_SERIAL ? "its sequence numbers the rows"
                                                                           : NULL;
        if (why != NULL)
        {
            pd_error_set(err, PD_ERR_INVALID_INPUT, "--backfill %s: %s", name, why);
            return pd_error_hint(err, "Leave this --backfill out.");
        }
        PdLiteral *value = pd_arena_calloc(arena, 1, sizeof(*value));
        if (value == NULL)
            return pd_arena_error(arena, err);
        if (!pd_model_literal_from_text(arena, field, strchr(spec, '=') + 1, value, err))
        {
            PdError inner = *err;
            pd_error_set(err, PD_ERR_INVALID_INPUT, "--backfill %s: %s", name, inner.message);
            return pd_error_hint(err, "Give a value of the field's type, without the model file's quotes.");
        }
        field->backfill = value;
    }
    return true;
}

/* The model of `catalog` that `model` (of another catalog) continues: same name, or its renamed_from. */
static const PdModel *
continued_model(const PdCatalog *catalog, const PdModel *model)
{
    const PdModel *found = pd_model_find(catalog, model->name);
    return found != NULL || model->renamed_from == NULL ? found : pd_model_find(catalog, model->renamed_from);
}

/*
 * The state recorded keeps a field's backfill= while the field keeps its nullability, also once the model
 * file no longer says it: a squash of a range that adds the field plans from the states around it and needs
 * the value where the range ends. Harmless to the next plans: backfill= alone is no change, and a plan that
 * fills rows (a field made not null) reads the model file's value, and changes the nullability, where the
 * carrying stops.
 */
static void
carry_backfills(PdCatalog *models, const PdCatalog *state)
{
    for (size_t m = 0; state != NULL && m < models->model_count; m++)
    {
        const PdModel *old = continued_model(state, &models->models[m]);
        for (size_t f = 0; old != NULL && f < models->models[m].field_count; f++)
        {
            PdField *field = &models->models[m].fields[f];
            const PdField *old_field = pd_model_find_field(old, field->name);
            if (old_field == NULL && field->renamed_from != NULL)
                old_field = pd_model_find_field(old, field->renamed_from);
            if (field->backfill == NULL && old_field != NULL && old_field->backfill != NULL &&
                old_field->is_nullable == field->is_nullable)
                field->backfill = old_field->backfill;
        }
    }
}

/* Plans the change from the newest recorded state to the model file, with --backfill and --expand. */
static bool
plan_model_changes(PdArena *arena, const CliArgs *args, const PdMigrateSettings *config,
                   const PdMigrationFile *files, size_t count, PdCatalog **models, PdMigrationPlan **plan,
                   PdError *err)
{
    PdCatalog *state;
    if (!pd_model_load_file(arena, config->models, models, err))
        return false;
    if (args != NULL && !apply_backfills(arena, args, *models, config->models, err))
        return false;
    if (!pd_migration_latest_state(arena, files, count, &state, err))
        return false;
    PdPlanOptions options = {.is_expand = args != NULL && cli_has_flag(args, "--expand", NULL)};
    if (!pd_migrate_plan_with_options(arena, state, *models, &options, plan, err))
        return false;
    carry_backfills(*models, state); /* for the state written, after the plan read the file's values */
    return true;
}

static void
print_operations(FILE *out, const PdMigrationPlan *plan)
{
    for (size_t i = 0; i < plan->operation_count; i++)
        fprintf(out, "  - %s\n", plan->operations[i].description);
}

/* What makemigrations would record, for --check and check. */
static void
print_unmigrated(const PdMigrateSettings *config, const PdMigrationPlan *plan)
{
    printf("%s has %zu change%s not in a migration:\n", config->models, plan->operation_count,
           plan->operation_count == 1 ? "" : "s");
    print_operations(stdout, plan);
}

static bool
is_valid_name(const char *name)
{
    if (name[0] == '\0' || strlen(name) > 60)
        return false;
    for (const char *c = name; *c; c++)
        if (!((*c >= 'a' && *c <= 'z') || (*c >= '0' && *c <= '9') || *c == '_'))
            return false;
    return true;
}

/*
 * When the configured database can be reached and has applied every file
 * before the new one: tries the new one there in a transaction that rolls
 * back, and warns on stderr about the rows that would break it, as migrate
 * would refuse them. Silent when the database cannot tell.
 */
static void
warn_breaking_rows(PdArena *arena, const PdMigrateSettings *config, const PdMigrationFile *files,
                   size_t count, const char *path, const char *text)
{
    PdDb *db;
    PdError err = {0};
    PdMigrationFile file;
    PdMigrationState *states;
    size_t state_count;
    bool is_behind = false;
    if (!pd_migration_parse(arena, path, text, strlen(text), &file, &err) ||
        !pd_db_connect(config->database, &db, &err))
        return;
    if (pd_migrate_status(arena, db, files, count, &states, &state_count, &err))
    {
        for (size_t i = 0; i < state_count; i++)
            is_behind |= states[i].status != PD_MIGRATION_APPLIED;
        if (!is_behind && !pd_migrate_try_data(arena, db, &file, &err) && err.code == PD_ERR_REFUSED)
        {
            fprintf(stderr,
                    "warning: migrate will refuse this migration on the data of the database now:\n  %s\n",
                    err.message);
            if (err.detail[0] != '\0')
                fprintf(stderr, "  %s\n", err.detail);
            if (err.hint[0] != '\0')
                fprintf(stderr, "  %s\n", err.hint);
        }
        else if (!is_behind && (strcmp(err.sqlstate, "55P03") == 0 || strcmp(err.sqlstate, "57014") == 0))
            fprintf(stderr, "note: the data of the database was not checked for this migration: %s (a try "
                            "holds a lock at most 0.5 s and runs a statement at most 5 s)\n",
                    err.message);
    }
    pd_db_close(db);
}

/* Renders plan as the migration after files and writes it, or prints it with --dry-run. */
static bool
write_next_migration(PdArena *arena, const CliArgs *args, const PdMigrateSettings *config,
                     const PdMigrationFile *files, size_t count, const PdMigrationPlan *plan,
                     const PdCatalog *state, const char *name, PdError *err)
{
    cli_has_flag(args, "--name", &name);
    if (!is_valid_name(name))
        return pd_error_set(err, PD_ERR_USAGE, "--name: \"%s\" must be 1 to 60 of a-z, 0-9 and _", name);
    int number = count > 0 ? files[count - 1].number + 1 : 1;
    char *file_name = pd_arena_sprintf(arena, "%04d_%s", number, name);
    char *text;
    const char *parent_name = count > 0 ? files[count - 1].name : NULL;
    if (!pd_migration_render(arena, plan, file_name, parent_name, config->models, state, &text, err))
        return false;
    for (size_t i = 0; i < plan->warning_count; i++)
        fprintf(stderr, "warning: %s\n", plan->warnings[i]);
    if (cli_has_flag(args, "--dry-run", NULL))
    {
        fputs(text, stdout);
        return true;
    }
    char *path = pd_arena_sprintf(arena, "%s/%s.sql", config->migrations, file_name);
    if (!cli_write_file_atomically(arena, config->migrations, path, text, false, err))
        return false;
    printf("Wrote %s%s\n", path, plan->operation_count > 0 ? ":" : "");
    print_operations(stdout, plan);
    if (plan->operation_count > 0)
        warn_breaking_rows(arena, config, files, count, path, text);
    return true;
}

/*
 * --empty: a migration for SQL written by hand (a data fix, a backfill). It
 * follows the newest file and carries its model state forward unchanged, so
 * the next makemigrations plans from the right place.
 */
static bool
make_empty_migration(PdArena *arena, const CliArgs *args, const PdMigrateSettings *config,
                     const PdMigrationFile *files, size_t count, PdError *err)
{
    PdCatalog *state;
    if (!pd_migration_latest_state(arena, files, count, &state, err))
        return false;
    PdMigrationPlan plan = {
        .up_sql = "-- Write the statements here; they run in one transaction, recorded with it.\n",
        .up_concurrently_sql = "",
        .down_sql = "-- Write the statements that undo them, or replace this section with a line\n"
                    "-- \"-- +down irreversible: <reason>\" when they cannot be undone.\n",
    };
    return write_next_migration(arena, args, config, files, count, &plan, state, "custom", err);
}

bool
cmd_makemigrations(PdArena *arena, const CliArgs *args, PdError *err)
{
    PdMigrateSettings config;
    PdMigrationFile *files;
    size_t count;
    PdCatalog *models;
    PdMigrationPlan *plan;
    const char *rebase;
    bool has_plan_flags = cli_has_flag(args, "--backfill", NULL) || cli_has_flag(args, "--expand", NULL);
    if (has_plan_flags && (cli_has_flag(args, "--rebase", NULL) || cli_has_flag(args, "--empty", NULL)))
    {
        pd_error_set(err, PD_ERR_USAGE,
                     "--backfill and --expand go with a migration planned from the model file");
        return pd_error_hint(err,
                             "--rebase and --empty plan none: leave them out, or run makemigrations once "
                             "without them.");
    }
    if (cli_has_flag(args, "--rebase", &rebase))
        return cli_rebase_migrations(arena, args, rebase, err);
    if (cli_has_flag(args, "--revert-applied", NULL))
        return pd_error_set(err, PD_ERR_USAGE, "--revert-applied goes with --rebase NAME");
    if (!load_files(arena, args, &config, &files, &count, err))
        return false;
    if (cli_has_flag(args, "--empty", NULL))
        return make_empty_migration(arena, args, &config, files, count, err);
    if (!plan_model_changes(arena, args, &config, files, count, &models, &plan, err))
        return false;
    if (plan->operation_count == 0)
    {
        printf("No changes detected in %s.\n", config.models);
        return true;
    }
    if (cli_has_flag(args, "--check", NULL))
    {
        print_unmigrated(&config, plan);
        pd_error_set(err, PD_ERR_DRIFT, "the models have changes that no migration records");
        return pd_error_hint(err, "Run prodata makemigrations.");
    }
    if (plan->destructive_count > 0 && !cli_has_flag(args, "--allow-destructive", NULL))
    {
        char detail[512] = "";
        for (size_t i = 0; i < plan->destructive_count; i++)
            snprintf(detail + strlen(detail), sizeof(detail) - strlen(detail), "%s%s", i ? " " : "",
                     plan->destructive_reasons[i]);
        pd_error_set(err, PD_ERR_REFUSED, "the change would destroy data; no migration was written");
        pd_error_detail(err, "%s", detail);
        return pd_error_hint(err,
                             "If a model or field was renamed, say so with renamed_from. Otherwise review "
                             "and run again with --allow-destructive.");
    }
    return write_next_migration(arena, args, &config, files, count, plan, models, plan->suggested_name, err);
}

/* The index of the file numbered `value` (a number or a name) that is not a squash beside its files. */
static bool
find_index(const char *value, const PdMigrationFile *files, size_t count, const char *what, size_t *index,
           PdError *err)
{
    char *end;
    long number = strtol(value, &end, 10);
    bool is_number = end != value && (*end == '\0' || *end == '_');
    for (size_t i = 0; is_number && i < count; i++)
    {
        bool is_beside = files[i].replace_count > 0 && i > 0 && files[i - 1].number == files[i].number;
        if (files[i].number == number && !is_beside && (*end == '\0' || strcmp(files[i].name, value) == 0))
        {
            *index = i;
            return true;
        }
    }
    pd_error_set(err, PD_ERR_USAGE, "%s: no migration \"%s\"", what, value);
    return pd_error_hint(err, "Give a migration number or name from prodata showmigrations.");
}

bool
cmd_squashmigrations(PdArena *arena, const CliArgs *args, PdError *err)
{
    PdMigrateSettings config;
    PdMigrationFile *files;
    size_t count, from = 0, to;
    if (args->positional_count < 1 || args->positional_count > 2)
        return pd_error_set(err, PD_ERR_USAGE, "squashmigrations: give [FROM] TO, e.g. 1 40");
    if (!load_files(arena, args, &config, &files, &count, err))
        return false;
    bool has_from = args->positional_count == 2;
    if ((has_from && !find_index(args->positional[0], files, count, "FROM", &from, err)) ||
        !find_index(args->positional[has_from ? 1 : 0], files, count, "TO", &to, err))
        return false;
    const char *name;
    char *text;
    if (!pd_migration_squash(arena, files, count, from, to, config.models, &name, &text, err))
        return false;
    if (cli_has_flag(args, "--dry-run", NULL))
    {
        fputs(text, stdout);
        return true;
    }
    char *path = pd_arena_sprintf(arena, "%s/%s.sql", config.migrations, name);
    if (!cli_write_file_atomically(arena, config.migrations, path, text, false, err))
        return false;
    printf("Wrote %s: it replaces %s to %s (%zu migrations).\n", path, files[from].name, files[to].name,
           to - from + 1);
    printf("A database that applied them is recorded as having applied it at its next migrate; a new "
           "database runs only it.\nOnce every database has migrated, delete the files it replaces.\n");
    return true;
}

/* "--to 2", "--to 0002" or "--to 0002_name". */
static bool
parse_target(const char *value, const PdMigrationFile *files, size_t count, int *target, PdError *err)
{
    char *end;
    errno = 0;
    long number = strtol(value, &end, 10);
    if (end != value && (*end == '\0' || *end == '_') && number >= 0 && number <= INT_MAX && errno == 0)
    {
        *target = (int)number;
        if (*end == '\0')
            return true;
        for (size_t i = 0; i < count; i++)
            if (strcmp(files[i].name, value) == 0)
                return true;
    }
    pd_error_set(err, PD_ERR_USAGE, "--to: no migration \"%s\"", value);
    return pd_error_hint(err,
                         "Give a migration number (0 undoes all) or a name from prodata showmigrations.");
}

/* Tells, on stderr, when the model file has changes that no migration holds yet. */
static void
warn_unmigrated_models(PdArena *arena, const PdMigrateSettings *config, const PdMigrationFile *files,
                       size_t count)
{
    if (access(config->models, F_OK) != 0)
        return;
    PdError ignored;
    PdCatalog *models;
    PdMigrationPlan *plan;
    if (plan_model_changes(arena, NULL, config, files, count, &models, &plan, &ignored) &&
        plan->operation_count > 0)
        fprintf(stderr, "warning: %s has %zu change%s not in a migration; run prodata makemigrations\n",
                config->models, plan->operation_count, plan->operation_count == 1 ? "" : "s");
}

/* Set by the first SIGINT or SIGTERM: migrate stops before its next step. */
static volatile sig_atomic_t stop_signal;
static PdDbCancel *volatile running_statement;

/*
 * Cancels the statement under way so that its transaction rolls back now,
 * instead of leaving it running on the server, holding the deployers' lock,
 * after this process is gone. A second signal ends the process at once.
 */
static void
on_stop_signal(int signal_number)
{
    if (stop_signal != 0)
    {
        signal(signal_number, SIG_DFL);
        raise(signal_number);
        return;
    }
    stop_signal = signal_number;
    pd_db_cancel_send(running_statement);
}

static void
catch_stop_signals(PdDbCancel *cancel)
{
    running_statement = cancel;
    struct sigaction action;
    memset(&action, 0, sizeof(action));
    action.sa_handler = on_stop_signal;
    sigemptyset(&action.sa_mask);
    sigaction(SIGINT, &action, NULL);
    sigaction(SIGTERM, &action, NULL);
}

/*
 * A batched statement's progress: rows done, the rate and, when a count
 * came first, the time left; at most one line a second (redrawn in place on
 * a terminal), and the last batch always.
 */
static bool is_batch_line_open; /* a batched statement's line drawn in place, not yet ended */

static void
print_batch(const PdMigrateEvent *event)
{
    static long last_ms = -1000;
    bool is_terminal = isatty(STDERR_FILENO);
    double seconds = event->duration_ms > 0 ? event->duration_ms / 1000.0 : 0.001;
    double rate = event->rows_done / seconds;
    if (event->is_batch_done)
    {
        fprintf(stderr,
                "%smigrate: %s batched: done, %lld rows in %.1f s (%.0f rows/s), longest batch %ld ms%s\n",
                is_terminal ? "\r" : "", event->migration, event->rows_done, seconds, rate,
                event->longest_batch_ms, is_terminal ? "\033[K" : "");
        is_batch_line_open = false;
        last_ms = -1000;
        return;
    }
    if (event->duration_ms - last_ms < 1000 && event->duration_ms >= last_ms)
        return;
    last_ms = event->duration_ms;
    char left[64] = "";
    if (event->rows_total > event->rows_done && rate > 0)
        snprintf(left, sizeof(left), ", %.0f s left", (event->rows_total - event->rows_done) / rate);
    else if (event->rows_total >= 0)
        snprintf(left, sizeof(left), ", none left");
    char total[32] = "";
    if (event->rows_total >= 0)
        snprintf(total, sizeof(total), " of %lld", event->rows_total);
    is_batch_line_open = is_terminal;
    fprintf(stderr, "%smigrate: %s batched: %lld%s rows, %.0f rows/s%s%s", is_terminal ? "\r" : "",
            event->migration, event->rows_done, total, rate, left, is_terminal ? "\033[K" : "\n");
    fflush(stderr);
}

/*
 * One line on stderr per step of a migrate, as it happens, so a long run is
 * not silent; stdout keeps only the final report, for scripts.
 */
static void
print_progress(const PdMigrateEvent *event, void *data)
{
    (void)data;
    const char *name = event->migration != NULL ? event->migration : "";
    switch (event->kind)
    {
        case PD_MIGRATE_LOCK_WAIT:
            fprintf(stderr, "migrate: another deployer holds the migrate lock; waiting up to %d ms\n",
                    event->wait_ms);
            break;
        case PD_MIGRATE_LOCK_TAKEN:
            fprintf(stderr, "migrate: lock taken after %ld ms\n", event->duration_ms);
            break;
        case PD_MIGRATE_MIGRATION_START:
            fprintf(stderr, "migrate: %s %s\n", event->is_revert ? "reverting" : "applying", name);
            break;
        case PD_MIGRATE_MIGRATION_END:
            fprintf(stderr, "migrate: %s committed (%ld ms)\n", name, event->duration_ms);
            break;
        case PD_MIGRATE_LOCK_RETRY:
            fprintf(stderr, "migrate: %s: a lock was not granted in time; retry %d\n", name, event->attempt);
            break;
        case PD_MIGRATE_STATEMENT_START:
            fprintf(stderr, "migrate: %s concurrent %d/%d: %s\n", name, event->statement_number,
                    event->statement_count, event->statement);
            break;
        case PD_MIGRATE_BATCH:
            print_batch(event);
            break;
        case PD_MIGRATE_STATEMENT_END:
            if (is_batch_line_open)
                fputc('\n', stderr); /* end the batched statement's line redrawn in place */
            is_batch_line_open = false;
            fprintf(stderr, "migrate: %s concurrent %d/%d done (%ld ms)\n", name, event->statement_number,
                    event->statement_count, event->duration_ms);
            break;
    }
}

/* --fake N (recording up to N, or back to N, without running) and --fake-initial. */
static bool
read_fake_flags(const CliArgs *args, const PdMigrationFile *files, size_t count, PdMigrateOptions *options,
                PdError *err)
{
    const char *fake;
    options->is_fake_initial = cli_has_flag(args, "--fake-initial", NULL);
    options->is_fake = cli_has_flag(args, "--fake", &fake);
    if (options->is_fake && options->is_fake_initial)
        return pd_error_set(err, PD_ERR_USAGE, "--fake and --fake-initial exclude each other");
    if (options->is_fake && cli_has_flag(args, "--to", NULL))
        return pd_error_set(err, PD_ERR_USAGE, "--fake N takes its target itself; leave out --to");
    if (options->is_fake && !parse_target(fake, files, count, &options->target, err))
    {
        pd_error_set(err, PD_ERR_USAGE, "--fake: no migration \"%s\"", fake);
        return pd_error_hint(err, "Give the number or name of the last migration to record (prodata "
                                  "showmigrations lists them), or 0 to unrecord all.");
    }
    return true;
}

bool
cmd_migrate(PdArena *arena, const CliArgs *args, PdError *err)
{
    /* `migrate 3` (Django: `migrate app 3`, `migrate app zero`) is how a newcomer guesses --to 3. */
    for (int i = 0; i < args->positional_count; i++)
        if ((args->positional[i][0] >= '0' && args->positional[i][0] <= '9') ||
            strcmp(args->positional[i], "zero") == 0)
            return pd_error_set(
                err, PD_ERR_USAGE, "migrate takes no positional argument \"%s\"; did you mean --to %s?",
                args->positional[i], args->positional[i][0] == 'z' ? "0" : args->positional[i]);
    if (args->positional_count > 0)
        return pd_error_set(err, PD_ERR_USAGE, "migrate takes no positional argument \"%s\"",
                            args->positional[0]);
    PdMigrateSettings config;
    PdMigrationFile *files;
    size_t count;
    if (!load_files(arena, args, &config, &files, &count, err))
        return false;
    PdMigrateOptions options;
    pd_migrate_options_default(&options);
    options.lock_timeout_ms = config.lock_timeout_ms;
    options.lock_retries = config.lock_retries;
    options.lock_wait_ms = config.lock_wait_ms;
    options.count_rows = config.count_rows;
    options.check_data = config.check_data;
    options.is_dry_run = cli_has_flag(args, "--dry-run", NULL);
    options.progress = print_progress;
    const char *target;
    if (cli_has_flag(args, "--to", &target) && !parse_target(target, files, count, &options.target, err))
        return false;
    if (!read_fake_flags(args, files, count, &options, err))
        return false;
    PdDb *db;
    if (!cli_connect_database(arena, &config, &db, err))
        return false;
    options.is_interrupted = &stop_signal;
    catch_stop_signals(pd_db_cancel_handle(db));
    PdMigrateReport report;
    bool is_done = pd_migrate_apply(arena, db, files, count, &options, &report, err);
    running_statement = NULL;
    PdError unheard = {
        0}; /* a running `prodata serve` reloads its models on this; none listening is no error */
    if (is_done && !options.is_dry_run && report.line_count > 0)
        pd_db_exec(db, "NOTIFY prodata_catalog", &unheard);
    for (size_t i = 0; i < report.line_count; i++)
        printf("%s\n", report.lines[i]);
    if (is_done && report.line_count == 0)
        printf("No migrations to apply.\n");
    const char *debug = getenv("PRODATA_DEBUG");
    if (debug != NULL && strcmp(debug, "1") == 0) /* for bench/migrate/memory.sh and migrate.sh */
        fprintf(stderr, "migrate: memory: arena peak %zu KB\n", pd_arena_peak(arena) / 1024);
    if (is_done && options.target < 0)
        warn_unmigrated_models(arena, &config, files, count);
    return is_done;
}

static const char *
status_mark(PdMigrationStatus status)
{
    switch (status)
    {
        case PD_MIGRATION_APPLIED:
            return "[X]";
        case PD_MIGRATION_PARTIAL:
            return "[~]";
        case PD_MIGRATION_MODIFIED:
            return "[!]";
        case PD_MIGRATION_MISSING:
            return "[?]";
        case PD_MIGRATION_PENDING:
            break;
    }
    return "[ ]";
}

static const char *
status_note(PdMigrationStatus status)
{
    switch (status)
    {
        case PD_MIGRATION_PARTIAL:
            return "  (concurrent part unfinished: run migrate)";
        case PD_MIGRATION_MODIFIED:
            return "  (file edited after it was applied)";
        case PD_MIGRATION_MISSING:
            return "  (applied, but its file is missing)";
        default:
            return "";
    }
}

bool
cmd_showmigrations(PdArena *arena, const CliArgs *args, PdError *err)
{
    PdMigrateSettings config;
    PdMigrationFile *files;
    size_t count;
    PdDb *db;
    PdMigrationState *states;
    size_t state_count;
    if (!load_files(arena, args, &config, &files, &count, err) ||
        !cli_connect_database(arena, &config, &db, err) ||
        !pd_migrate_status(arena, db, files, count, &states, &state_count, err))
        return false;
    if (state_count == 0)
        printf("(no migrations in %s)\n", config.migrations);
    for (size_t i = 0; i < state_count; i++)
    {
        printf("%s %s", status_mark(states[i].status), states[i].name);
        if (states[i].applied_at != NULL)
            printf("  applied %s", states[i].applied_at);
        printf("%s\n", status_note(states[i].status));
    }
    return true;
}

bool
cmd_sqlmigrate(PdArena *arena, const CliArgs *args, PdError *err)
{
    PdMigrateSettings config;
    PdMigrationFile *files;
    size_t count;
    if (args->positional_count != 1)
        return pd_error_set(err, PD_ERR_USAGE, "sqlmigrate: which migration? give its number or name");
    if (!load_files(arena, args, &config, &files, &count, err))
        return false;
    int number = -1;
    if (!parse_target(args->positional[0], files, count, &number, err))
        return pd_error_set(err, PD_ERR_NOT_FOUND, "no migration \"%s\" in %s", args->positional[0],
                            config.migrations);
    for (size_t i = 0; i < count; i++)
    {
        if (files[i].number != number)
            continue;
        if (cli_has_flag(args, "--down", NULL))
        {
            if (files[i].down_sql == NULL)
            {
                pd_error_set(err, PD_ERR_REFUSED, "migration %s cannot be reverted", files[i].name);
                return pd_error_detail(err, "%s",
                                       files[i].irreversible_reason ? files[i].irreversible_reason
                                                                    : "It has no -- +down section.");
            }
            printf("BEGIN;\n%s\nCOMMIT;\n", files[i].down_sql);
            return true;
        }
        printf("BEGIN;\n%s\nCOMMIT;\n", files[i].up_sql);
        if (files[i].up_batched_sql[0] != '\0')
            printf(
                "-- then each statement again and again, $1 = %d rows a time, until it changes no row:\n%s\n",
                files[i].batch_rows, files[i].up_batched_sql);
        if (files[i].up_concurrently_sql[0] != '\0')
            printf("-- then, outside a transaction, one statement at a time:\n%s\n",
                   files[i].up_concurrently_sql);
        return true;
    }
    return pd_error_set(err, PD_ERR_NOT_FOUND, "no migration numbered %d in %s", number, config.migrations);
}

/* Prints what differs between files and history; returns how many differ. */
static int
report_history(const PdMigrationState *states, size_t state_count)
{
    int problems = 0;
    for (size_t i = 0; i < state_count; i++)
    {
        if (states[i].status == PD_MIGRATION_APPLIED)
            continue;
        if (problems++ == 0)
            printf("migrations not in step with the database:\n");
        printf("  %s %s%s\n", status_mark(states[i].status), states[i].name,
               states[i].status == PD_MIGRATION_PENDING ? "  (not applied)" : status_note(states[i].status));
    }
    return problems;
}

/* Which side to change for each kind of difference found, and the command that does it. */
static void
print_settle(const char *models, const PdSchemaCheck *schema)
{
    printf("how to settle them:\n");
    if (schema->only_in_models > 0)
        printf("  - (in %s only): prodata migrate applies a pending migration that makes it; if none is "
               "pending, it was removed by hand: put it back (prodata sqlmigrate N prints the SQL that made "
               "it), or take it out of %s and run prodata makemigrations and prodata migrate.\n",
               models, models);
    if (schema->only_in_database > 0)
        printf("  + (in the database only): to keep it, declare it in %s, run prodata makemigrations, then "
               "prodata migrate --fake N with the new migration's number: that records the migration "
               "without running it, and the data stays. To get rid of it, drop it by hand.\n",
               models);
    if (schema->changed > 0)
        printf("  ~ (defined differently): to keep the database's definition, change %s to match and run "
               "prodata makemigrations, then prodata migrate --fake N; to keep the model's, change the "
               "database (prodata makemigrations --empty writes a migration for hand-written SQL).\n",
               models);
}

bool
cmd_check(PdArena *arena, const CliArgs *args, PdError *err)
{
    PdMigrateSettings config;
    PdMigrationFile *files;
    size_t count;
    PdCatalog *models;
    PdMigrationPlan *plan;
    if (!load_files(arena, args, &config, &files, &count, err) ||
        !plan_model_changes(arena, NULL, &config, files, count, &models, &plan, err))
        return false;
    int problems = 0;
    if (plan->operation_count > 0)
    {
        print_unmigrated(&config, plan);
        problems++;
    }
    PdDb *db;
    PdMigrationState *states;
    size_t state_count;
    PdSchemaCheck schema;
    if (!cli_connect_database(arena, &config, &db, err) ||
        !pd_migrate_status(arena, db, files, count, &states, &state_count, err))
        return false;
    problems += report_history(states, state_count);
    if (!pd_migrate_check_schema(arena, db, models, config.models, &schema, err))
        return false;
    if (schema.model_diff != NULL)
    {
        printf("the database differs from %s in the tables of its models:\n%s", config.models,
               schema.model_diff);
        print_settle(config.models, &schema);
        problems++;
    }
    if (schema.other_diff != NULL)
    {
        printf("other tables differ from what the migrations made:\n%s", schema.other_diff);
        problems++;
    }
    if (problems > 0)
    {
        pd_error_set(err, PD_ERR_DRIFT, "models, migrations and database disagree");
        return pd_error_hint(err, "makemigrations records model changes, migrate applies them; a hand-made "
                                  "change must be undone or written as a migration.");
    }
    printf("OK: %s, %zu migration%s and the database agree.\n", config.models, count, count == 1 ? "" : "s");
    return true;
}
