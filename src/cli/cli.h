/*
 * cli.h - what the command functions share: the parsed command line and the
 * settings. Each command returns bool with a PdError; main alone prints the
 * error and turns it into the exit code.
 */
#ifndef PRODATA_CLI_H
#define PRODATA_CLI_H

#include <stdbool.h>

#include "prodata/arena.h"
#include "prodata/error.h"
#include "prodata/log.h"
#include "prodata/db.h"
#include "prodata/settings.h"

#define CLI_MAX_ARGS 64

/* The command line after the command name: flags, settings, positional arguments. */
typedef struct CliArgs
{
    const char *flags[CLI_MAX_ARGS];       /* "--allow-destructive", "--to" ... as given, without value */
    const char *flag_values[CLI_MAX_ARGS]; /* the value of a flag that takes one, else NULL */
    int flag_count;
    const char *positional[CLI_MAX_ARGS];
    int positional_count;
    PdSettingOverride overrides[CLI_MAX_ARGS];
    size_t override_count;
    const char *config_path;
} CliArgs;

/* True when the flag was given; *value receives its value when it takes one. */
bool cli_has_flag(const CliArgs *args, const char *flag, const char **value);

/*
 * Loads the migrate surface's settings (settings file, environment, options)
 * config.c.
 */
bool cli_load_config(PdArena *arena, const CliArgs *args, PdMigrateSettings *config, PdError *err);

/* The settings file that --help names: ./prodata.conf when present. */
#define CLI_SETTINGS_FILE "prodata.conf"

/* Installs the log handler that prints the library's messages at min_level or above (PostgreSQL's notices
 * and warnings among them) on stderr (log_stderr.c). cli_load_config calls it with the log_level setting. */
void cli_log_to_stderr(PdLogLevel min_level);
/* Prints the error a command ends with on stderr: `prodata: error: message`, its problems with their
 * positions, DETAIL, HINT, CONTEXT and SQLSTATE lines, and with PRODATA_DEBUG=1 where it was raised. */
void cli_print_error(const PdError *err);

bool cmd_makemigrations(PdArena *arena, const CliArgs *args, PdError *err);
bool cmd_migrate(PdArena *arena, const CliArgs *args, PdError *err);
bool cmd_showmigrations(PdArena *arena, const CliArgs *args, PdError *err);
bool cmd_sqlmigrate(PdArena *arena, const CliArgs *args, PdError *err);
bool cmd_squashmigrations(PdArena *arena, const CliArgs *args, PdError *err);

/* `makemigrations --rebase NAME` (cmd_rebase.c): this branch's migrations written again after the other's. */
bool cli_rebase_migrations(PdArena *arena, const CliArgs *args, const char *name, PdError *err);

/* files.c. Writes text to path (in directory, created when absent) whole or not at all: a temporary file,
 * fsync, link (or rename with is_replacing), fsync of the folder. An existing file without is_replacing is
 * refused (PD_ERR_REFUSED "PATH exists already"). */
bool cli_write_file_atomically(PdArena *arena, const char *directory, const char *path, const char *text,
                               bool is_replacing, PdError *err);

/* Connects with config->database (a failure says where each part of it came from); the connection is
 * closed with arena (the command's). */
bool cli_connect_database(PdArena *arena, const PdMigrateSettings *config, PdDb **db, PdError *err);
bool cmd_check(PdArena *arena, const CliArgs *args, PdError *err);
bool cmd_inspectdb(PdArena *arena, const CliArgs *args, PdError *err);
bool cmd_config(PdArena *arena, const CliArgs *args, PdError *err);
bool cmd_serve(PdArena *arena, const CliArgs *args, PdError *err);
bool cmd_token(PdArena *arena, const CliArgs *args, PdError *err);
bool cmd_openapi(PdArena *arena, const CliArgs *args, PdError *err);
bool cmd_wal_push(PdArena *arena, const CliArgs *args, PdError *err);
bool cmd_wal_fetch(PdArena *arena, const CliArgs *args, PdError *err);
bool cmd_archive(PdArena *arena, const CliArgs *args, PdError *err);
bool cmd_backup(PdArena *arena, const CliArgs *args, PdError *err);
bool cmd_restore(PdArena *arena, const CliArgs *args, PdError *err);
bool cmd_cluster(PdArena *arena, const CliArgs *args, PdError *err);
bool cmd_demo(PdArena *arena, const CliArgs *args, PdError *err);
bool cmd_keeper(PdArena *arena, const CliArgs *args, PdError *err);

/* The settings surfaces `prodata config --surface` knows: migrate, serve, archive, keeper (config.c). NULL:
 * unknown.
 */
const PdSettingTable *pd_cli_surface(const char *name);

/*
 * Installs the log handler at the archive settings' log_level and fills options with the archive directory,
 * compression and key (read from archive_key_file, or archive_key; cmd_archive.c). Errors: PD_ERR_USAGE
 * (archive_dir not set, a key too short), PD_ERR_IO (the key file), PD_ERR_NO_MEMORY.
 */
struct PdArchiveOptions;
bool pd_cli_archive_fill(PdArena *arena, const PdArchiveSettings *settings, struct PdArchiveOptions *options,
                         PdError *err);

/* Checks options->key against the repository (pd_archive_key_check; may_mark for commands that write into
 * it), as the account that owns it. Errors: as pd_archive_key_check. */
bool pd_cli_archive_key_check(PdArena *arena, const struct PdArchiveOptions *options, bool may_mark,
                              PdError *err);

/* Checks that repo is an absolute path of plain characters (restore_command carries it unquoted), then, run
 * as root, becomes its owner (uid and gid; refused when that is root). Errors: PD_ERR_USAGE, PD_ERR_IO,
 * PD_ERR_REFUSED. */
bool cli_become_repository_owner(const char *repo, PdError *err);

/* Whether path is absolute and only letters, digits and / . _ - + (restore_command carries it unquoted). */
bool cli_is_plain_path(const char *path);

/* The program a restored server's restore_command runs: prodata-wal beside this program, else this program
 * (both run wal-fetch). Errors: PD_ERR_IO, PD_ERR_REFUSED (a path that would need quoting). */
bool cli_wal_fetch_program(PdArena *arena, const char **program, PdError *err);

/* Checks that archive_key_file, when set, is a path restore_command can carry (cmd_backup.c). Errors:
 * PD_ERR_USAGE. */
bool cli_check_key_path(const PdArchiveSettings *settings, PdError *err);

/* --jobs N of backup and restore into *jobs (2 when absent). Errors: PD_ERR_USAGE naming --jobs. */
bool cli_read_jobs(const CliArgs *args, int *jobs, PdError *err);

/*
 * Loads the settings of any surface (table) into values, as cli_load_config does for migrate's, and
 * installs the stderr log handler at the surface's log_level (log_level_offset into values).
 */
/*
 * The serve settings' jwt_secret from jwt_secret_file when that is set (its final newline dropped), so a
 * deployment keeps the key out of prodata.conf and the environment. Errors: PD_ERR_IO.
 */
bool cli_read_jwt_secret(PdArena *arena, PdServeSettings *settings, PdError *err);

bool cli_load_settings(PdArena *arena, const CliArgs *args, const PdSettingTable *table, void *values,
                       PdSettings *settings, PdError *err);

/*
 * Adds to a PD_ERR_DB_CONNECT error a CONTEXT saying where conninfo's host, port, dbname, user and
 * password came from (pd_db_conninfo_origins): the database setting the command loaded, named with its
 * source, when conninfo is that setting's value; the PG* variables; libpq's defaults. Other errors are left
 * alone. Returns false (a failure line: `return pd_cli_explain_connect(arena, conninfo, err);`).
 */
bool pd_cli_explain_connect(PdArena *arena, const char *conninfo, PdError *err);

#endif
