/*
 * wal_main.c - prodata-wal, the archive's two per-segment commands in a
 * program of their own: `prodata-wal wal-push PATH` and `prodata-wal
 * wal-fetch NAME DEST` take the same options, settings and exit codes as
 * `prodata wal-push` and `prodata wal-fetch` (the same cmd_archive.c does
 * the work), but the program links no libpq, libcurl or libmicrohttpd.
 * PostgreSQL starts one process per segment, and loading those libraries'
 * thirty-odd dependencies costs more than the push itself on a busy small
 * machine (bench/archive/RESULTS.md). Like main.c, the only place here
 * that prints an error and picks the exit code.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"

static const char usage[] =
    "usage: prodata-wal wal-push [--archive-dir DIR] [--config FILE] [--name=value ...] PATH\n"
    "       prodata-wal wal-fetch [--archive-dir DIR] [--config FILE] [--name=value ...] NAME DEST\n"
    "\n"
    "prodata wal-push and wal-fetch in a program that starts faster (no libpq): the same\n"
    "settings (prodata config --surface archive), output and exit codes (docs/archive.md).\n";

/* "--name=value" or "--name value": a setting of the archive surface, or --config. */
static bool
take_option(PdArena *arena, int argc, char **argv, int *i, CliArgs *args, PdError *err)
{
    const char *arg = argv[*i], *equals = strchr(arg, '=');
    size_t length = equals != NULL ? (size_t)(equals - arg) : strlen(arg);
    char *name = pd_arena_strndup(arena, arg + 2, length - 2);
    for (char *c = name; c != NULL && *c != '\0'; c++)
        *c = *c == '-' ? '_' : *c;
    if (name == NULL)
        return pd_arena_error(arena, err);
    bool is_config = strcmp(name, "config") == 0;
    if (!is_config && pd_settings_find(&pd_settings_archive, name) == NULL)
        return pd_error_set(err, PD_ERR_USAGE, "unknown option \"%.*s\"", (int)length, arg);
    const char *value = equals != NULL ? equals + 1 : (*i + 1 < argc ? argv[++*i] : NULL);
    if (value == NULL)
        return pd_error_set(err, PD_ERR_USAGE, "option %s needs a value", arg);
    if (is_config)
        args->config_path = value;
    else if (args->override_count < CLI_MAX_ARGS)
        args->overrides[args->override_count++] =
            (PdSettingOverride){name, pd_arena_strndup(arena, arg, length), value};
    else
        return pd_error_set(err, PD_ERR_USAGE, "too many options");
    return true;
}

static bool
parse(PdArena *arena, int argc, char **argv, CliArgs *args, PdError *err)
{
    memset(args, 0, sizeof(*args));
    for (int i = 0; i < argc; i++)
    {
        if (strncmp(argv[i], "--", 2) == 0 && strcmp(argv[i], "--") != 0)
        {
            if (!take_option(arena, argc, argv, &i, args, err))
                return false;
        }
        else if (args->positional_count < CLI_MAX_ARGS)
            args->positional[args->positional_count++] = argv[i];
    }
    return true;
}

int
main(int argc, char **argv)
{
    bool is_push = argc >= 2 && strcmp(argv[1], "wal-push") == 0;
    bool is_fetch = argc >= 2 && strcmp(argv[1], "wal-fetch") == 0;
    for (int i = 1; i < argc; i++)
        if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0)
            return fputs(usage, stdout) == EOF;
    if (!is_push && !is_fetch)
    {
        fputs(usage, stderr);
        return 2;
    }
    PdArena *arena = pd_arena_new(0);
    if (arena == NULL)
        return fputs("prodata: error: out of memory\n", stderr), 1;
    PdError err;
    pd_error_clear(&err);
    CliArgs args;
    bool is_done = parse(arena, argc - 2, argv + 2, &args, &err) &&
                   (is_push ? cmd_wal_push(arena, &args, &err) : cmd_wal_fetch(arena, &args, &err));
    int exit_code = is_done ? 0 : pd_error_exit_code(err.code);
    if (!is_done && !(is_fetch && err.code == PD_ERR_NOT_FOUND)) /* a segment not archived: quiet */
        cli_print_error(&err);
    pd_arena_free(arena);
    return exit_code;
}
