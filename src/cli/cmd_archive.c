/*
 * cmd_archive.c - `prodata wal-push PATH` and `prodata wal-fetch NAME DEST`,
 * PostgreSQL's archive_command and restore_command (docs/archive.md). Both
 * run once per WAL file, started by PostgreSQL in its data directory, so
 * they load the archive settings, do one thing and say nothing on success
 * (a line at info for those who ask). wal-fetch of a file that is not
 * archived exits 2 without a word: recovery asks for the next segment every
 * few seconds until it exists. The work is src/archive's. Both the prodata
 * binary and the lean prodata-wal (wal_main.c) link this file.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "archive/archive.h"
#include "cli.h"

extern char **environ;

/*
 * The archive settings, read without libpq's conninfo hooks, so that this file links into prodata-wal
 * (wal_main.c) without libpq: the one secret setting, database, serves archive check only; here it is
 * masked whole and refused on the command line.
 */
static bool
load_archive_settings(PdArena *arena, const CliArgs *args, PdArchiveSettings *settings, PdError *err)
{
    PdSettings loaded;
    PdSettingsInput input = {
        .file = args->config_path,
        .default_file = CLI_SETTINGS_FILE,
        .environ = (const char *const *)environ,
        .overrides = args->overrides,
        .override_count = args->override_count,
    };
    return pd_settings_load(arena, &pd_settings_archive, &input, settings, &loaded, err);
}

/* The key's material: archive_key_file's bytes (its final newline dropped) or archive_key; NULL when none. */
static bool
read_key(PdArena *arena, const PdArchiveSettings *settings, PdArchiveOptions *options, PdError *err)
{
    const char *file = settings->archive_key_file, *what = "archive_key";
    char buffer[4096];
    size_t length = strlen(settings->archive_key);
    options->key = NULL;
    options->key_file = NULL;
    if (file[0] != '\0')
    {
        FILE *in = fopen(file, "rb");
        if (in == NULL)
            return pd_error_set(err, PD_ERR_IO, "could not read archive_key_file %s: %s", file,
                                strerror(errno)),
                   pd_error_field(err, "archive_key_file");
        length = fread(buffer, 1, sizeof(buffer), in);
        bool is_whole = feof(in) && !ferror(in);
        fclose(in);
        if (!is_whole)
            return pd_error_set(err, PD_ERR_IO, "could not read archive_key_file %s (at most %zu bytes)",
                                file, sizeof(buffer) - 1),
                   pd_error_field(err, "archive_key_file");
        while (length > 0 && (buffer[length - 1] == '\n' || buffer[length - 1] == '\r'))
            length--;
        what = pd_arena_sprintf(arena, "archive_key_file %s", file);
        options->key_file = file;
    }
    else if (length > 0)
        memcpy(buffer, settings->archive_key, length < sizeof(buffer) ? length : sizeof(buffer));
    else
        return true;
    PdArchiveKey *derived = pd_arena_alloc(arena, sizeof(*derived));
    bool ok =
        derived != NULL && what != NULL &&
        pd_archive_key_derive(buffer, length < sizeof(buffer) ? length : sizeof(buffer), what, derived, err);
    explicit_bzero(buffer, sizeof(buffer));
    if (derived == NULL || what == NULL)
        return pd_arena_error(arena, err);
    options->key = derived;
    return ok;
}

bool
pd_cli_archive_key_check(PdArena *arena, const PdArchiveOptions *options, bool may_mark, PdError *err)
{
    /* restore_command and archive_command read the file as this account (the repository's owner): a file
       only root can read makes a restored server that cannot recover */
    if (options->key_file != NULL && access(options->key_file, R_OK) != 0)
    {
        pd_error_set(err, PD_ERR_REFUSED,
                     "archive_key_file %s cannot be read by uid %u, the repository's owner, "
                     "which PostgreSQL's restore_command and archive_command run as: %s",
                     options->key_file, (unsigned)geteuid(), strerror(errno));
        pd_error_field(err, "archive_key_file");
        return pd_error_hint(err, "Give the file to that account (chown postgres: FILE; chmod 600 FILE).");
    }
    return pd_archive_key_check(arena, options->dir, options->key, may_mark, err);
}

bool
pd_cli_archive_fill(PdArena *arena, const PdArchiveSettings *settings, PdArchiveOptions *options,
                    PdError *err)
{
    cli_log_to_stderr((PdLogLevel)settings->log_level);
    if (settings->archive_dir[0] == '\0')
    {
        pd_error_set(err, PD_ERR_USAGE, "archive_dir is not set");
        pd_error_field(err, "archive_dir");
        return pd_error_hint(err, "Name the archive directory: --archive-dir DIR on the command line, "
                                  "archive_dir = DIR in the file of --config, or PRODATA_ARCHIVE_DIR.");
    }
    options->dir = settings->archive_dir;
    options->compress = (PdArchiveCompress)settings->archive_compress;
    options->zstd_level = settings->archive_compress_level;
    options->prefetch = settings->wal_fetch_prefetch;
    return read_key(arena, settings, options, err);
}

static bool
archive_options(PdArena *arena, const CliArgs *args, PdArchiveSettings *settings, PdArchiveOptions *options,
                PdError *err)
{
    return load_archive_settings(arena, args, settings, err) &&
           pd_cli_archive_fill(arena, settings, options, err);
}

static double
elapsed_ms(const struct timespec *start)
{
    struct timespec now;
    clock_gettime(CLOCK_MONOTONIC, &now);
    return (double)(now.tv_sec - start->tv_sec) * 1e3 + (double)(now.tv_nsec - start->tv_nsec) / 1e6;
}

bool
cmd_wal_push(PdArena *arena, const CliArgs *args, PdError *err)
{
    PdArchiveSettings settings;
    PdArchiveOptions options;
    PdArchivePushOutcome outcome;
    struct timespec start;
    clock_gettime(CLOCK_MONOTONIC, &start);
    if (args->positional_count != 1)
        return pd_error_set(err, PD_ERR_USAGE,
                            "wal-push: give the path of one WAL file (archive_command's %%p)");
    if (!archive_options(arena, args, &settings, &options, err) ||
        !pd_cli_archive_key_check(arena, &options, true, err) ||
        !pd_archive_push(arena, &options, args->positional[0], &outcome, err))
        return false;
    pd_logf(PD_LOG_INFO, "wal-push: %s %s (%.1f ms)", args->positional[0],
            outcome == PD_ARCHIVE_STORED ? "archived" : "was already archived with the same bytes",
            elapsed_ms(&start));
    return true;
}

bool
cmd_wal_fetch(PdArena *arena, const CliArgs *args, PdError *err)
{
    PdArchiveSettings settings;
    PdArchiveOptions options;
    if (args->positional_count != 2)
        return pd_error_set(
            err, PD_ERR_USAGE,
            "wal-fetch: give the WAL file's name and where to put it (restore_command's %%f %%p)");
    if (!archive_options(arena, args, &settings, &options, err) ||
        !pd_cli_archive_key_check(arena, &options, false, err))
        return false;
    if (!pd_archive_fetch(arena, &options, args->positional[0], args->positional[1], err))
    {
        if (err->code == PD_ERR_NOT_FOUND && strcmp(err->field, "timeline") == 0)
            pd_logf(PD_LOG_NOTICE, "wal-fetch: %s", err->message); /* said, though the exit stays quiet */
        return false;
    }
    pd_logf(PD_LOG_INFO, "wal-fetch: restored %s", args->positional[0]);
    return true;
}
