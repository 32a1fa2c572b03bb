/*
 * config.c - the CLI's use of the settings module: it hands the loader the
 * process environment and the --name options, lends it libpq's notion of a
 * secret inside a connection string (masking, and the refusal of a password
 * on the command line), and runs `prodata config`, which prints every value
 * with its source, or with --docs the reference table of
 * docs/configuration.md. The table and the loader live in core (settings.c).
 */
#include <stdio.h>

#include "cli.h"
#include "prodata/db.h"

extern char **environ;

static const char *
refuse_conninfo(const char *value)
{
    if (!pd_db_is_valid_conninfo(value))
        return "not a valid connection string (not shown: it may hold a password)";
    if (pd_db_conninfo_has_password(value))
        return "a password on the command line is visible to every user of the machine; put it in "
               "~/.pgpass, PGPASSWORD, PRODATA_DATABASE or prodata.conf";
    return NULL;
}

static const PdSecretHooks conninfo_secrets = {pd_db_mask_conninfo, refuse_conninfo};

static bool
load(PdArena *arena, const CliArgs *args, void *values, PdSettings *settings, PdError *err)
{
    PdSettingsInput input = {
        .file = args->config_path,
        .default_file = CLI_SETTINGS_FILE,
        .environ = (const char *const *)environ,
        .overrides = args->overrides,
        .override_count = args->override_count,
        .secrets = &conninfo_secrets,
    };
    return pd_settings_load(arena, &pd_settings_migrate, &input, values, settings, err);
}

bool
cli_load_config(PdArena *arena, const CliArgs *args, PdMigrateSettings *config, PdError *err)
{
    PdSettings settings;
    if (!load(arena, args, config, &settings, err))
        return false;
    cli_log_to_stderr((PdLogLevel)config->log_level);
    return true;
}

bool
cmd_config(PdArena *arena, const CliArgs *args, PdError *err)
{
    const char *text;
    if (cli_has_flag(args, "--docs", NULL))
        text = pd_settings_docs(arena, &pd_settings_migrate);
    else
    {
        PdMigrateSettings config;
        PdSettings settings;
        if (!load(arena, args, &config, &settings, err))
            return false;
        text = pd_settings_describe(arena, &settings, &conninfo_secrets);
    }
    if (text == NULL)
        return pd_arena_error(arena, err);
    fputs(text, stdout);
    return true;
}
