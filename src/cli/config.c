/*
 * config.c - the CLI's use of the settings module: it hands the loader the
 * process environment and the --name options, lends it libpq's notion of a
 * secret inside a connection string (masking, and the refusal of a password
 * on the command line), and runs `prodata config`, which prints every value
 * with its source, or with --docs the reference table of
 * docs/configuration.md. The table and the loader live in core (settings.c).
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "cli.h"
#include "prodata/db.h"

extern char **environ;

/*
 * The secret settings are a connection string (database) or a key (serve's jwt_secret, cursor_secret):
 * whatever is not a valid connection string is a key, never shown and never taken from the command line.
 */
static const char *
refuse_conninfo(const char *value)
{
    if (!pd_db_is_valid_conninfo(value))
        return "a secret on the command line is visible to every user of the machine; put it in prodata.conf "
               "or the PRODATA_ variable (a connection string it is not: not shown)";
    if (pd_db_conninfo_has_password(value))
        return "a password on the command line is visible to every user of the machine; put it in "
               "~/.pgpass, PGPASSWORD, PRODATA_DATABASE or prodata.conf";
    return NULL;
}

static char *
mask_secret(PdArena *arena, const char *value)
{
    if (value[0] != '\0' && !pd_db_is_valid_conninfo(value))
        return pd_arena_strdup(arena, "********");
    return pd_db_mask_conninfo(arena, value);
}

static const PdSecretHooks conninfo_secrets = {mask_secret, refuse_conninfo};

/*
 * Adds to err (as the error, or as one more problem after the other settings' problems) why conninfo, the
 * database setting's value from source, is not a connection string as libpq reads it:
 * `unknown connection keyword "hots" in database (prodata.conf:2)`. No value is ever quoted: one may be a
 * password. True when conninfo parses and err holds nothing.
 */
static bool
check_conninfo(const char *conninfo, const char *source, PdError *err)
{
    PdError why;
    pd_error_clear(&why);
    if (conninfo == NULL || pd_db_conninfo_check(conninfo, &why))
        return err->code == PD_OK;
    if (err->code != PD_OK)
        pd_error_add_problem(err, NULL, 0, 0, "database", "%s in database (%s)", why.message, source);
    else
    {
        pd_error_set(err, why.code, "%s in database (%s)", why.message, source);
        pd_error_field(err, "database");
    }
    return err->hint[0] == '\0' ? pd_error_hint(err, "%s", why.hint) : false;
}

/* Whether an override is a --database that libpq would not parse: the loader would refuse it as a possible
 * secret, which misleads; check_conninfo names what is wrong instead. */
static bool
is_unparsed_database(const PdSettingTable *table, const PdSettingOverride *override)
{
    const PdSetting *row = pd_settings_find(table, override->name);
    return row != NULL && strcmp(row->name, "database") == 0 && !pd_db_is_valid_conninfo(override->value);
}

/* The database setting the command loaded and its label, "database (prodata.conf:3)", for
 * pd_cli_explain_connect. A process runs one command; set by load. */
static const char *loaded_database;
static const char *loaded_database_label;

static void
remember_database(PdArena *arena, const PdSettingTable *table, const void *values, const PdSettings *settings)
{
    const PdSetting *row = pd_settings_find(table, "database");
    if (row == NULL)
        return;
    loaded_database = *(const char *const *)((const char *)values + row->offset);
    loaded_database_label = pd_arena_sprintf(
        arena, "database (%s)", pd_settings_format_source(arena, &settings->sources[row - table->settings]));
}

bool
pd_cli_explain_connect(PdArena *arena, const char *conninfo, PdError *err)
{
    if (err->code != PD_ERR_DB_CONNECT)
        return false;
    bool is_setting = loaded_database != NULL && conninfo != NULL && strcmp(conninfo, loaded_database) == 0;
    char *origins = pd_db_conninfo_origins(arena, conninfo, is_setting ? loaded_database_label : NULL,
                                           (const char *const *)environ);
    if (origins != NULL)
        pd_error_context(err, "connecting with %s", origins);
    return false;
}

static bool
load(PdArena *arena, const CliArgs *args, const PdSettingTable *table, void *values, PdSettings *settings,
     PdError *err)
{
    PdSettingOverride kept[CLI_MAX_ARGS];
    size_t kept_count = 0;
    for (size_t i = 0; i < args->override_count && i < CLI_MAX_ARGS; i++)
        if (!is_unparsed_database(table, &args->overrides[i]))
            kept[kept_count++] = args->overrides[i];
    PdSettingsInput input = {
        .file = args->config_path,
        .default_file = CLI_SETTINGS_FILE,
        .environ = (const char *const *)environ,
        .overrides = kept,
        .override_count = kept_count,
        .secrets = &conninfo_secrets,
    };
    if (!pd_settings_load(arena, table, &input, values, settings, err) && err->code != PD_ERR_INVALID_INPUT)
        return false; /* the file could not be read, or memory ran out: nothing more to say */
    remember_database(arena, table, values, settings);
    bool is_checked = true;
    for (size_t i = 0; i < args->override_count; i++)
        if (is_unparsed_database(table, &args->overrides[i]))
            is_checked =
                check_conninfo(args->overrides[i].value, args->overrides[i].option, err) && is_checked;
    const PdSetting *row = pd_settings_find(table, "database");
    if (row != NULL && kept_count == args->override_count) /* else the value in effect is not the one given */
        is_checked = check_conninfo(
                         *(const char **)((char *)values + row->offset),
                         pd_settings_format_source(arena, &settings->sources[row - table->settings]), err) &&
                     is_checked;
    return is_checked && err->code == PD_OK;
}

bool
cli_load_settings(PdArena *arena, const CliArgs *args, const PdSettingTable *table, void *values,
                  PdSettings *settings, PdError *err)
{
    return load(arena, args, table, values, settings, err);
}

bool
cli_load_config(PdArena *arena, const CliArgs *args, PdMigrateSettings *config, PdError *err)
{
    PdSettings settings;
    if (!load(arena, args, &pd_settings_migrate, config, &settings, err))
        return false;
    cli_log_to_stderr((PdLogLevel)config->log_level);
    return true;
}

const PdSettingTable *
pd_cli_surface(const char *name)
{
    static const PdSettingTable *const tables[] = {&pd_settings_migrate, &pd_settings_serve,
                                                   &pd_settings_archive, &pd_settings_keeper};
    for (size_t i = 0; i < sizeof(tables) / sizeof(tables[0]); i++)
        if (strcmp(tables[i]->surface, name) == 0)
            return tables[i];
    return NULL;
}

/* --surface NAME: the table named (migrate when absent). */
static bool
surface_table(const CliArgs *args, const PdSettingTable **table, PdError *err)
{
    const char *name = "migrate";
    cli_has_flag(args, "--surface", &name);
    *table = pd_cli_surface(name);
    if (*table != NULL)
        return true;
    pd_error_set(err, PD_ERR_USAGE, "config: unknown surface \"%s\"", name);
    return pd_error_hint(err, "The surfaces are migrate, serve, archive and keeper.");
}

bool
cmd_config(PdArena *arena, const CliArgs *args, PdError *err)
{
    const PdSettingTable *table = &pd_settings_migrate;
    if (!surface_table(args, &table, err))
        return false;
    const char *text;
    if (cli_has_flag(args, "--docs", NULL))
        text = pd_settings_docs(arena, table);
    else
    {
        /* Large enough for any surface's struct. */
        union
        {
            PdMigrateSettings migrate;
            PdServeSettings serve;
            PdArchiveSettings archive;
            PdKeeperSettings keeper;
        } config;
        PdSettings settings;
        if (!load(arena, args, table, &config, &settings, err))
            return false;
        text = pd_settings_describe(arena, &settings, &conninfo_secrets);
    }
    if (text == NULL)
        return pd_arena_error(arena, err);
    fputs(text, stdout);
    return true;
}

bool
cli_read_jwt_secret(PdArena *arena, PdServeSettings *settings, PdError *err)
{
    if (settings->jwt_secret_file[0] == '\0')
        return true;
    FILE *file = fopen(settings->jwt_secret_file, "rb");
    if (file == NULL)
        return pd_error_set(err, PD_ERR_IO, "could not read jwt_secret_file %s: %s",
                            settings->jwt_secret_file, strerror(errno));
    char buffer[8192];
    size_t length = fread(buffer, 1, sizeof(buffer) - 1, file);
    bool is_whole = feof(file) && !ferror(file);
    fclose(file);
    if (!is_whole)
        return pd_error_set(err, PD_ERR_IO, "could not read jwt_secret_file %s (at most %zu bytes)",
                            settings->jwt_secret_file, sizeof(buffer) - 1);
    while (length > 0 && (buffer[length - 1] == '\n' || buffer[length - 1] == '\r'))
        length--;
    settings->jwt_secret = pd_arena_strndup(arena, buffer, length);
    return settings->jwt_secret != NULL || pd_arena_error(arena, err);
}
