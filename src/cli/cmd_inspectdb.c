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
connect_database(PdArena *arena, const PdMigrateSettings *config, PdDb **db, PdError *err)
{
    if (!pd_db_connect(config->database, db, err))
        return false;
    /* The connection belongs to the command: closed with its arena, also on error paths. */
    if (!pd_arena_on_free(arena, (void (*)(void *))pd_db_close, *db))
    {
        pd_db_close(*db);
        return pd_arena_error(arena, err);
    }
    return true;
}

static bool
refuse_existing(const char *path, PdError *err)
{
    pd_error_set(err, PD_ERR_REFUSED, "%s exists already", path);
    return pd_error_hint(err, "Give another --output, or add --force to replace it.");
}

static bool
write_all(int fd, const char *text)
{
    size_t length = strlen(text), written = 0;
    while (written < length)
    {
        ssize_t n = write(fd, text + written, length - written);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            return false;
        written += (size_t)n;
    }
    return true;
}

/* The folder holding path, synced so that the new name survives a crash. */
static void
sync_folder(PdArena *arena, const char *path)
{
    char *copy = pd_arena_strdup(arena, path);
    if (copy == NULL)
        return;
    int fd = open(dirname(copy), O_RDONLY | O_DIRECTORY);
    if (fd >= 0)
    {
        fsync(fd);
        close(fd);
    }
}

/* text into path: temporary file, fsync, then link (never replaces) or, forced, rename. */
static bool
write_file(PdArena *arena, const char *path, const char *text, bool is_forced, PdError *err)
{
    char *temporary = pd_arena_sprintf(arena, "%s.tmp.%d", path, (int)getpid());
    if (temporary == NULL)
        return pd_arena_error(arena, err);
    int fd = open(temporary, O_WRONLY | O_CREAT | O_EXCL, 0644);
    if (fd < 0)
    {
        pd_error_set(err, PD_ERR_IO, "could not write %s", temporary);
        return pd_error_detail(err, "%s.", strerror(errno));
    }
    bool is_written = write_all(fd, text) && fsync(fd) == 0;
    int saved_errno = errno;
    close(fd);
    bool is_placed = is_written && (is_forced ? rename(temporary, path) : link(temporary, path)) == 0;
    if (is_written && !is_placed)
        saved_errno = errno;
    unlink(temporary); /* after link: the file keeps its new name; after rename: already gone */
    if (!is_placed)
    {
        if (saved_errno == EEXIST)
            return refuse_existing(path, err);
        pd_error_set(err, PD_ERR_IO, "could not write %s", path);
        return pd_error_detail(err, "%s.", strerror(saved_errno));
    }
    sync_folder(arena, path);
    return true;
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
    if (!cli_load_config(arena, args, &config, err) || !connect_database(arena, &config, &db, err))
        return false;
    if (!pd_migrate_inspect(arena, db, patterns, pattern_count, &text, err))
        return has_tables ? pd_error_context(err, "with --tables \"%s\"", tables) : false;
    if (output == NULL)
    {
        fputs(text, stdout);
        return true;
    }
    if (!write_file(arena, output, text, is_forced, err))
        return false;
    printf("Wrote %s\n", output);
    return true;
}
