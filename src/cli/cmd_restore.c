/*
 * cmd_restore.c - `prodata restore --pgdata DIR [--set LABEL] [a target]`:
 * a backup of the repository (docs/backup.md) written into an empty or new
 * data directory with the recovery settings that bring it to the moment
 * asked for once PostgreSQL starts on it. restore_command runs prodata-wal
 * (the small program beside this one) with the same repository. At most one
 * target. The work is src/archive/restore.c's.
 */
#include <errno.h>
#include <libgen.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "archive/archive.h"
#include "cli.h"

static const struct
{
    const char *flag;
    PdRestoreTargetKind kind;
} target_flags[] = {
    {"--target-time", PD_RESTORE_TIME},
    {"--target-lsn", PD_RESTORE_LSN},
    {"--target-xid", PD_RESTORE_XID},
    {"--target-name", PD_RESTORE_NAME},
};

/* --target-timeline current | latest | a timeline number, and --archive-mode off | preserve. */
static bool
read_timeline(const CliArgs *args, PdRestoreOptions *options, PdError *err)
{
    const char *mode = "off", *timeline = NULL;
    if (cli_has_flag(args, "--target-timeline", &timeline) && strcmp(timeline, "current") != 0 &&
        strcmp(timeline, "latest") != 0 &&
        (timeline[0] == '\0' || timeline[0] == '0' || strspn(timeline, "0123456789") != strlen(timeline) ||
         strlen(timeline) > 10))
    {
        pd_error_set(err, PD_ERR_USAGE, "--target-timeline is current, latest or a timeline number, not '%s'",
                     timeline);
        return pd_error_field(err, "--target-timeline");
    }
    options->target_timeline = timeline;
    cli_has_flag(args, "--archive-mode", &mode);
    if (strcmp(mode, "off") != 0 && strcmp(mode, "preserve") != 0)
    {
        pd_error_set(err, PD_ERR_USAGE, "--archive-mode is off or preserve, not '%s'", mode);
        return pd_error_field(err, "--archive-mode");
    }
    options->keeps_archiving = strcmp(mode, "preserve") == 0;
    return true;
}

static bool
read_target(const CliArgs *args, PdRestoreOptions *options, PdError *err)
{
    int given = 0;
    options->target_kind = PD_RESTORE_END;
    for (size_t i = 0; i < sizeof(target_flags) / sizeof(target_flags[0]); i++)
        if (cli_has_flag(args, target_flags[i].flag, &options->target))
            options->target_kind = target_flags[i].kind, given++;
    if (cli_has_flag(args, "--target-immediate", NULL))
        options->target_kind = PD_RESTORE_IMMEDIATE, given++;
    if (given > 1)
        return pd_error_set(err, PD_ERR_USAGE, "restore: give at most one recovery target");
    options->exclusive = cli_has_flag(args, "--target-exclusive", NULL);
    options->target_action = "promote";
    cli_has_flag(args, "--target-action", &options->target_action);
    if (strcmp(options->target_action, "promote") != 0 && strcmp(options->target_action, "pause") != 0 &&
        strcmp(options->target_action, "shutdown") != 0)
    {
        pd_error_set(err, PD_ERR_USAGE, "--target-action is promote, pause or shutdown, not '%s'",
                     options->target_action);
        return pd_error_field(err, "--target-action");
    }
    if (given == 0 && (options->exclusive || cli_has_flag(args, "--target-action", NULL)))
        return pd_error_set(err, PD_ERR_USAGE,
                            "restore: --target-exclusive and --target-action need a target");
    return read_timeline(args, options, err);
}

bool
cli_wal_fetch_program(PdArena *arena, const char **program, PdError *err)
{
    char self[PATH_MAX];
    ssize_t length = readlink("/proc/self/exe", self, sizeof(self) - 1);
    if (length <= 0)
        return pd_error_set(err, PD_ERR_IO, "could not find this program's path: %s", strerror(errno));
    self[length] = '\0';
    char *beside = pd_arena_sprintf(arena, "%s/prodata-wal", dirname(pd_arena_strdup(arena, self)));
    if (beside == NULL)
        return pd_arena_error(arena, err);
    *program = access(beside, X_OK) == 0 ? beside : pd_arena_strdup(arena, self);
    if (!cli_is_plain_path(*program))
        return pd_error_set(err, PD_ERR_REFUSED,
                            "restore_command would run %s, whose path has characters that need quoting",
                            *program);
    return true;
}

/* An optional whole number flag within [least, most]; *value = none when absent. */
static bool
read_number(const CliArgs *args, const char *flag, long least, long most, int none, int *value, PdError *err)
{
    const char *text;
    *value = none;
    if (!cli_has_flag(args, flag, &text))
        return true;
    char *end;
    long number = strtol(text, &end, 10);
    if (end == text || *end != '\0' || number < least || number > most)
    {
        pd_error_set(err, PD_ERR_USAGE, "%s must be a whole number from %ld to %ld, not '%s'", flag, least,
                     most, text);
        return pd_error_field(err, "%s", flag);
    }
    *value = (int)number;
    return true;
}

/* path made absolute (from the working directory) without a trailing slash, so that paths compare as text. */
static const char *
absolute(PdArena *arena, const char *path)
{
    char cwd[4096];
    const char *full = path[0] == '/'                     ? pd_arena_strdup(arena, path)
                       : getcwd(cwd, sizeof(cwd)) != NULL ? pd_arena_sprintf(arena, "%s/%s", cwd, path)
                                                          : NULL;
    char *trimmed = (char *)full;
    for (size_t length = trimmed != NULL ? strlen(trimmed) : 0; length > 1 && trimmed[length - 1] == '/';)
        trimmed[--length] = '\0';
    return trimmed;
}

static bool
read_options(PdArena *arena, const CliArgs *args, PdRestoreOptions *options, PdError *err)
{
    if (!cli_has_flag(args, "--pgdata", &options->data_dir))
    {
        pd_error_set(err, PD_ERR_USAGE, "restore: name the data directory to restore into with --pgdata DIR");
        return pd_error_field(err, "--pgdata");
    }
    if ((options->data_dir = absolute(arena, options->data_dir)) == NULL)
        return pd_error_set(err, PD_ERR_IO, "could not make --pgdata an absolute path");
    cli_has_flag(args, "--set", &options->label);
    options->is_delta = cli_has_flag(args, "--delta", NULL);
    cli_has_flag(args, "--pg-bin", &options->pg_bin);
    const char *tmp = getenv("TMPDIR");
    options->scratch_parent = tmp != NULL && tmp[0] == '/' ? tmp : "/tmp";
    options->skips_target_check = cli_has_flag(args, "--no-target-check", NULL);
    options->as_standby = cli_has_flag(args, "--as-standby", NULL);
    cli_has_flag(args, "--tablespace-map", &options->tablespace_map);
    if (cli_has_flag(args, "--tablespace-root", &options->tablespace_root) &&
        (options->tablespace_root = absolute(arena, options->tablespace_root)) == NULL)
        return pd_error_set(err, PD_ERR_IO, "could not make --tablespace-root an absolute path");
    if (!read_number(args, "--port", 1, 65535, 0, &options->port, err) ||
        !read_number(args, "--max-age", 1, 86400 * 3650, 0, &options->max_age_s, err))
        return false;
    if (!cli_read_jobs(args, &options->jobs, err))
        return false;
    if (options->label != NULL && !pd_backup_is_label(options->label))
    {
        pd_error_set(err, PD_ERR_USAGE, "--set '%s' is not a backup label (prodata backup list)",
                     options->label);
        return pd_error_field(err, "--set");
    }
    if (!read_target(args, options, err))
        return false;
    if (options->as_standby &&
        (options->target_kind != PD_RESTORE_END || options->is_delta || cli_has_flag(args, "--start", NULL)))
    {
        pd_error_set(err, PD_ERR_USAGE,
                     "--as-standby takes no target, --delta or --start: a standby follows its "
                     "primary to the end of its WAL");
        return pd_error_field(err, "--as-standby");
    }
    return cli_wal_fetch_program(arena, &options->wal_fetch, err);
}

/* --start: PostgreSQL started on the copy, the restore waiting until the target is reached. */
static bool
start_copy(PdArena *arena, const CliArgs *args, const PdRestoreOptions *options,
           const PdBackupManifest *chosen, PdError *err)
{
    PdRestoreStartOptions start = {0};
    PdRestoreReached reached;
    cli_has_flag(args, "--pg-bin", &start.pg_bin);
    if (!read_number(args, "--wait", 1, 86400 * 7, 3600, &start.wait_seconds, err))
        return false;
    printf("starting PostgreSQL on %s (its log: %s/%s)\n", options->data_dir, options->data_dir,
           PD_RESTORE_LOG_NAME);
    fflush(stdout);
    if (!pd_restore_start(arena, options, chosen, &start, &reached, err))
        return false;
    printf("reached: %s\n", reached.stopped_at != NULL ? reached.stopped_at : "the end of the archived WAL");
    if (reached.last_transaction != NULL)
        printf("%s\n", reached.last_transaction);
    printf("PostgreSQL is %s\n", reached.state);
    return true;
}

bool
cmd_restore(PdArena *arena, const CliArgs *args, PdError *err)
{
    PdArchiveSettings settings;
    PdArchiveOptions archive;
    PdSettings loaded;
    PdRestoreOptions options = {0};
    if (args->positional_count != 0)
        return pd_error_set(err, PD_ERR_USAGE, "restore takes options only (prodata help restore)");
    if (!read_options(arena, args, &options, err) ||
        !cli_load_settings(arena, args, &pd_settings_archive, &settings, &loaded, err) ||
        !pd_cli_archive_fill(arena, &settings, &archive, err) || !cli_check_key_path(&settings, err) ||
        !cli_become_repository_owner(archive.dir, err) ||
        !pd_cli_archive_key_check(arena, &archive, false, err))
        return false;
    options.repo = archive.dir;
    options.key = archive.key;
    options.key_file = settings.archive_key_file;
    PdBackupManifest chosen;
    PdRestoreStats stats = {0};
    options.stats = &stats;
    if (!pd_backup_restore(arena, &options, &chosen, err))
        return false;
    char stop[20];
    pd_backup_format_lsn(chosen.stop_lsn, stop);
    printf("restored backup %s into %s (consistent from %s)\n", chosen.label, options.data_dir, stop);
    if (stats.chain_count > 1)
    {
        printf("with the backups it builds on:");
        for (size_t i = 1; i < stats.chain_count; i++)
            printf(" %s", stats.chain[i]);
        printf("\n");
    }
    if (options.is_delta)
        printf("delta: %.1f MB rewritten, %.1f MB found in place, %zu entries the backup does not hold "
               "removed\n",
               stats.bytes_written / 1048576.0, stats.bytes_kept / 1048576.0, stats.removed);
    const char *setting = pd_restore_target_setting(options.target_kind);
    if (setting != NULL)
        printf("recovery target: %s = '%s', then %s\n", setting,
               options.target_kind == PD_RESTORE_IMMEDIATE ? "immediate" : options.target,
               options.target_action);
    else
        printf("recovery target: the end of the archived WAL, then promote\n");
    if (!options.keeps_archiving)
        printf(
            "archive_mode = off in its postgresql.auto.conf (--archive-mode preserve keeps the backup's)\n");
    if (cli_has_flag(args, "--start", NULL))
        return start_copy(arena, args, &options, &chosen, err);
    printf("start PostgreSQL on it to recover (its port and other settings are the backup's; -o \"-p PORT\" "
           "gives another): pg_ctl -D %s start\n",
           options.data_dir);
    return true;
}
