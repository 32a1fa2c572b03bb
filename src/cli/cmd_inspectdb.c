/*
 * cmd_inspectdb.c - prodata inspectdb: a model file that describes an existing
 * database (pd_migrate_inspect does the reading and writing), printed to
 * stdout or, with --output FILE, written whole or not at all: a temporary file
 * beside it, fsynced, then linked under its name, so an existing file is never
 * replaced (--force renames over it instead) and an interrupted run leaves
 * nothing half written. The connection comes from the migrate settings, as
 * for the other schema commands.
 */
#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cli.h"
#include "prodata/db.h"
#include "prodata/migrate.h"

/* --tables "shop_*, auth_user": the comma-separated patterns, blanks around each dropped. */
static bool
split_patterns(PdArena *arena, const char *text, const char ***patterns, size_t *count, PdError *err)
{
    *patterns = NULL;
    *count = 0;
    const char *start = text;
    for (;;)
    {
        const char *end = strchr(start, ',');
        size_t length = end != NULL ? (size_t)(end - start) : strlen(start);
        while (length > 0 && (*start == ' ' || *start == '\t'))
            start++, length--;
        while (length > 0 && (start[length - 1] == ' ' || start[length - 1] == '\t'))
            length--;
        *patterns = pd_arena_reserve_next(arena, *patterns, *count, sizeof(char *));
        if (*patterns == NULL || ((*patterns)[*count] = pd_arena_strndup(arena, start, length)) == NULL)
            return pd_arena_error(arena, err);
        (*count)++;
        if (end == NULL)
            return true;
        start = end + 1;
    }
}

static bool
refuse_existing(const char *path, PdError *err)
{
    pd_error_set(err, PD_ERR_REFUSED, "%s exists already", path);
    return pd_error_hint(err, "Give another --output, or add --force to replace it.");
}

bool
cmd_inspectdb(PdArena *arena, const CliArgs *args, PdError *err)
{
    const char *tables = NULL, *output = NULL;
    const char **patterns = NULL;
    size_t pattern_count = 0;
    bool has_tables = cli_has_flag(args, "--tables", &tables);
    bool is_forced = cli_has_flag(args, "--force", NULL);
    if (cli_has_flag(args, "--output", &output) && output[0] == '\0')
        return pd_error_set(err, PD_ERR_USAGE, "inspectdb: --output needs a file name");
    if (is_forced && output == NULL)
        return pd_error_set(err, PD_ERR_USAGE, "inspectdb: --force only applies with --output FILE");
    if (has_tables && !split_patterns(arena, tables, &patterns, &pattern_count, err))
        return false;
    /* Refused before any work; write_file's link refuses a file made meanwhile too. */
    if (output != NULL && !is_forced && access(output, F_OK) == 0)
        return refuse_existing(output, err);
    PdMigrateSettings config;
    PdDb *db;
    char *text;
    if (!cli_load_config(arena, args, &config, err) || !cli_connect_database(arena, &config, &db, err))
        return false;
    if (!pd_migrate_inspect(arena, db, patterns, pattern_count, &text, err))
        return has_tables ? pd_error_context(err, "with --tables \"%s\"", tables) : false;
    if (output == NULL)
    {
        fputs(text, stdout);
        return true;
    }
    char *folder = pd_arena_strdup(arena, output);
    if (folder == NULL)
        return pd_arena_error(arena, err);
    if (!cli_write_file_atomically(arena, dirname(folder), output, text, is_forced, err))
        return err->code == PD_ERR_REFUSED ? refuse_existing(output, err) : false;
    printf("Wrote %s\n", output);
    return true;
}
