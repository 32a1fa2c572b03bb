/*
 * cmd_backup.c - `prodata backup [list | info | verify | expire | restore-point]`, `prodata restore`:
 * base backups into the WAL archive's directory, which holds them beside
 * the WAL as one repository (docs/backup.md), and a backup written back
 * into a data directory ready to recover to a chosen moment. Settings are
 * the archive's (archive_dir, archive_compress, archive_compress_level,
 * database). Run as root, both commands become the account that owns the
 * repository (the one PostgreSQL runs as) before touching a file, so what
 * they write is that account's. The work is src/archive's; this file reads
 * options, prints progress and outcomes (a table or --json).
 */
#include <errno.h>
#include <grp.h>
#include <inttypes.h>
#include <jansson.h>
#include <limits.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "archive/archive.h"
#include "cli.h"

bool
cli_is_plain_path(const char *path)
{
    return path[0] == '/' &&
           strspn(path, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789/._-+") ==
               strlen(path);
}

/* A repository a restore can name in restore_command unquoted: an absolute path of plain characters. */
static bool
check_repository_path(const char *repo, PdError *err)
{
    if (repo[0] != '/')
    {
        pd_error_set(err, PD_ERR_USAGE, "archive_dir must be an absolute path, not '%s'", repo);
        return pd_error_field(err, "archive_dir");
    }
    if (cli_is_plain_path(repo))
        return true;
    pd_error_set(err, PD_ERR_USAGE,
                 "archive_dir '%s' has characters a restore's restore_command cannot carry unquoted", repo);
    pd_error_field(err, "archive_dir");
    return pd_error_hint(err, "Use a path of letters, digits and / . _ - + (a link to it will do).");
}

bool
cli_check_key_path(const PdArchiveSettings *settings, PdError *err)
{
    const char *path = settings->archive_key_file;
    if (path[0] == '\0' || cli_is_plain_path(path))
        return true;
    pd_error_set(err, PD_ERR_USAGE,
                 "archive_key_file '%s' is not an absolute path of plain characters, which a restore's "
                 "restore_command carries unquoted",
                 path);
    pd_error_field(err, "archive_key_file");
    return pd_error_hint(err, "Use a path of letters, digits and / . _ - + (a link to it will do).");
}

bool
cli_become_repository_owner(const char *repo, PdError *err)
{
    if (!check_repository_path(repo, err))
        return false;
    if (geteuid() != 0)
        return true;
    struct stat st;
    if (stat(repo, &st) != 0)
        return pd_error_set(err, PD_ERR_IO, "could not stat the repository %s: %s", repo, strerror(errno));
    if (st.st_uid == 0)
    {
        pd_error_set(err, PD_ERR_REFUSED, "the repository %s belongs to root", repo);
        return pd_error_hint(err,
                             "Give it to the account PostgreSQL runs as (chown postgres:postgres), or run "
                             "this as that account.");
    }
    if (setgroups(0, NULL) != 0 || setgid(st.st_gid) != 0 || setuid(st.st_uid) != 0)
        return pd_error_set(err, PD_ERR_IO, "could not become the repository's owner (uid %u): %s",
                            (unsigned)st.st_uid, strerror(errno));
    return true;
}

/* The settings, the repository's owner become, and the key checked (may_mark: a backup, which writes). */
static bool
load_for(PdArena *arena, const CliArgs *args, PdArchiveSettings *settings, PdArchiveOptions *options,
         bool may_mark, PdError *err)
{
    PdSettings loaded;
    return cli_load_settings(arena, args, &pd_settings_archive, settings, &loaded, err) &&
           pd_cli_archive_fill(arena, settings, options, err) &&
           cli_become_repository_owner(options->dir, err) &&
           pd_cli_archive_key_check(arena, options, may_mark, err);
}

static bool
load(PdArena *arena, const CliArgs *args, PdArchiveSettings *settings, PdArchiveOptions *options,
     PdError *err)
{
    return load_for(arena, args, settings, options, false, err);
}

bool
cli_read_jobs(const CliArgs *args, int *jobs, PdError *err)
{
    const char *text;
    *jobs = 2;
    if (!cli_has_flag(args, "--jobs", &text))
        return true;
    char *end;
    long value = strtol(text, &end, 10);
    if (*end != '\0' || value < 1 || value > PD_BACKUP_MAX_JOBS)
    {
        pd_error_set(err, PD_ERR_USAGE, "--jobs must be a number from 1 to %d, not '%s'", PD_BACKUP_MAX_JOBS,
                     text);
        return pd_error_field(err, "--jobs");
    }
    *jobs = (int)value;
    return true;
}

/* ---- backup ---- */

static bool expire_after(PdArena *arena, const PdArchiveSettings *settings, const PdArchiveOptions *archive,
                         bool is_json, PdError *err);

typedef struct Progress
{
    bool is_json;
    struct timespec start;
    int64_t last_second;
} Progress;

static double
seconds_since(const struct timespec *start)
{
    struct timespec now;
    clock_gettime(CLOCK_MONOTONIC, &now);
    return (double)(now.tv_sec - start->tv_sec) + (double)(now.tv_nsec - start->tv_nsec) / 1e9;
}

/* Once a second: a line that rewrites itself on a terminal, a JSON line with --json, nothing otherwise. */
static void
show_progress(void *context, uint64_t done, uint64_t total)
{
    Progress *progress = context;
    double elapsed = seconds_since(&progress->start);
    if ((int64_t)elapsed == progress->last_second || (!progress->is_json && !isatty(STDERR_FILENO)))
        return;
    progress->last_second = (int64_t)elapsed;
    double rate = elapsed > 0 ? (double)done / elapsed : 0;
    double left = rate > 0 && total > done ? (double)(total - done) / rate : 0;
    if (progress->is_json)
        printf("{\"progress\": {\"bytes_done\": %" PRIu64 ", \"bytes_total\": %" PRIu64
               ", \"bytes_per_second\": %.0f, \"seconds_left\": %.0f}}\n",
               done, total, rate, left);
    else
        fprintf(stderr, "\r%.1f of %.1f MB, %.1f MB/s, about %.0f s left   ", done / 1048576.0,
                total / 1048576.0, rate / 1048576.0, left);
    fflush(progress->is_json ? stdout : stderr);
}

/* A JSON line on stdout (the outcome of --json runs, after the progress lines). */
static void
print_json_line(json_t *value)
{
    char *text = value != NULL ? json_dumps(value, JSON_COMPACT | JSON_PRESERVE_ORDER) : NULL;
    json_decref(value);
    if (text != NULL)
        puts(text);
    free(text);
}

static void
print_taken(const PdBackupOutcome *outcome, double seconds, bool is_json)
{
    const PdBackupManifest *manifest = &outcome->manifest;
    char start[20], stop[20];
    pd_backup_format_lsn(manifest->start_lsn, start);
    pd_backup_format_lsn(manifest->stop_lsn, stop);
    if (is_json)
    {
        json_t *line = json_pack(
            "{s:{s:s, s:s, s:s?, s:s?, s:I, s:I, s:I, s:I, s:I, s:I, s:f, s:s, s:s, s:I, s:I}}", "backup",
            "label", manifest->label, "type", pd_backup_type_name(manifest->type), "prior", manifest->prior,
            "why_full", outcome->why_full, "files", (json_int_t)outcome->file_count, "unchanged_files",
            (json_int_t)outcome->unchanged_count, "bytes", (json_int_t)outcome->bytes, "stored_bytes",
            (json_int_t)outcome->stored_bytes, "pages_read", (json_int_t)outcome->pages_read, "pages_stored",
            (json_int_t)outcome->pages_stored, "seconds", seconds, "start_lsn", start, "stop_lsn", stop,
            "bad_pages", (json_int_t)outcome->bad_page_count, "removed_incomplete",
            (json_int_t)outcome->removed_incomplete);
        print_json_line(line);
        return;
    }
    if (isatty(STDERR_FILENO))
        fprintf(stderr, "\n");
    if (outcome->removed_incomplete > 0)
        printf("removed %zu incomplete backup(s) of interrupted runs\n", outcome->removed_incomplete);
    if (outcome->why_full != NULL)
        printf("taking a full backup instead: %s\n", outcome->why_full);
    if (manifest->prior != NULL)
        printf("building on %s: %zu of %zu files unchanged (referenced, not stored); %" PRIu64 " of %" PRIu64
               " relation pages changed and stored (%.1f%%)\n",
               manifest->prior, outcome->unchanged_count, outcome->file_count, outcome->pages_stored,
               outcome->pages_read,
               outcome->pages_read > 0 ? 100.0 * (double)outcome->pages_stored / (double)outcome->pages_read
                                       : 0.0);
    printf("backup %s (%s): %zu files, %.1f MB read, %.1f MB stored, %.1f s; WAL %s .. %s (%s .. %s)\n",
           manifest->label, pd_backup_type_name(manifest->type), outcome->file_count,
           outcome->bytes / 1048576.0, outcome->stored_bytes / 1048576.0, seconds, manifest->start_wal,
           manifest->stop_wal, start, stop);
    for (size_t i = 0; i < outcome->bad_page_count && i < PD_BACKUP_BAD_PAGES_SHOWN; i++)
        printf("bad page: %s block %u (its data checksum does not match)\n", outcome->bad_pages[i].path,
               outcome->bad_pages[i].block);
}

static bool read_retention(const CliArgs *args, PdArchiveSettings *settings, PdError *err);

static bool
take(PdArena *arena, const CliArgs *args, PdError *err)
{
    PdArchiveSettings settings;
    PdArchiveOptions archive;
    PdBackupOptions options = {0};
    const char *type = "full";
    cli_has_flag(args, "--type", &type);
    if (!pd_backup_parse_type(type, &options.type))
    {
        pd_error_set(err, PD_ERR_USAGE, "--type is full, diff or incr, not '%s'", type);
        return pd_error_field(err, "--type");
    }
    if (!cli_read_jobs(args, &options.jobs, err) || !load_for(arena, args, &settings, &archive, true, err) ||
        !read_retention(args, &settings, err))
        return false;
    Progress progress = {.is_json = cli_has_flag(args, "--json", NULL), .last_second = -1};
    clock_gettime(CLOCK_MONOTONIC, &progress.start);
    options.repo = archive.dir;
    options.key = archive.key;
    options.conninfo = settings.database;
    cli_has_flag(args, "--pgdata", &options.data_dir);
    options.from_standby = cli_has_flag(args, "--from-standby", NULL);
    options.compress = archive.compress;
    options.compress_level = archive.zstd_level;
    options.progress = show_progress;
    options.progress_context = &progress;
    PdBackupOutcome outcome;
    if (!pd_backup_take(arena, &options, &outcome, err))
        return pd_cli_explain_connect(arena, settings.database, err);
    print_taken(&outcome, seconds_since(&progress.start), progress.is_json);
    fflush(stdout);
    /* corrupt pages: no retention, so the backups from before the damage stay */
    if (outcome.bad_page_count > 0)
        return pd_error_set(err, PD_ERR_DRIFT,
                            "backup %s holds %zu page(s) whose data checksums do not match: the cluster has "
                            "corrupt pages (listed above); no older backup was expired",
                            outcome.manifest.label, outcome.bad_page_count);
    if (!expire_after(arena, &settings, &archive, progress.is_json, err))
        return false;
    fflush(stdout);
    return true;
}

/* ---- list and info ---- */

static json_t *
backup_json(const PdBackupManifest *backup)
{
    char start[20], stop[20], start_time[32], stop_time[32], system[24];
    pd_backup_format_lsn(backup->start_lsn, start);
    pd_backup_format_lsn(backup->stop_lsn, stop);
    pd_backup_format_time(backup->start_time, start_time);
    pd_backup_format_time(backup->stop_time, stop_time);
    snprintf(system, sizeof(system), "%" PRIu64, backup->system_identifier);
    uint64_t bytes = 0, stored = 0;
    size_t files = 0;
    for (size_t i = 0; i < backup->entry_count; i++)
        if (backup->entries[i].kind == PD_BACKUP_ENTRY_FILE)
            files++, bytes += backup->entries[i].bytes,
                stored += backup->entries[i].reference == NULL ? backup->entries[i].stored_bytes : 0;
    return json_pack("{s:s, s:s, s:s?, s:s, s:s, s:s, s:s, s:s, s:s, s:I, s:I, s:I, s:I, s:s, s:I}", "label",
                     backup->label, "type", pd_backup_type_name(backup->type), "prior", backup->prior,
                     "start_time", start_time, "stop_time", stop_time, "start_lsn", start, "stop_lsn", stop,
                     "start_wal", backup->start_wal, "stop_wal", backup->stop_wal, "timeline",
                     (json_int_t)backup->timeline, "files", (json_int_t)files, "bytes", (json_int_t)bytes,
                     "stored_bytes", (json_int_t)stored, "system_identifier", system, "pg_version",
                     (json_int_t)backup->pg_version);
}

static bool
print_json(json_t *value, PdError *err)
{
    char *text = value != NULL ? json_dumps(value, JSON_INDENT(2) | JSON_PRESERVE_ORDER) : NULL;
    json_decref(value);
    if (text == NULL)
        return pd_error_set(err, PD_ERR_NO_MEMORY, "out of memory for the JSON report");
    puts(text);
    free(text);
    return true;
}

static json_t *
strings_json(const char *const *items, size_t count)
{
    json_t *array = json_array();
    for (size_t i = 0; array != NULL && i < count; i++)
        json_array_append_new(array, json_string(items[i]));
    return array;
}

static bool
list(PdArena *arena, const CliArgs *args, PdError *err)
{
    PdArchiveSettings settings;
    PdArchiveOptions archive;
    PdBackupList backups;
    if (!load(arena, args, &settings, &archive, err) ||
        !pd_backup_list(arena, archive.dir, archive.key, &backups, err))
        return false;
    if (cli_has_flag(args, "--json", NULL))
    {
        json_t *array = json_array(), *incomplete = json_array();
        for (size_t i = 0; i < backups.count; i++)
            json_array_append_new(array, backup_json(&backups.backups[i]));
        for (size_t i = 0; i < backups.incomplete_count; i++)
            json_array_append_new(incomplete, json_string(backups.incomplete[i]));
        return print_json(json_pack("{s:s, s:o, s:o, s:o}", "repository", archive.dir, "backups", array,
                                    "incomplete", incomplete, "damaged",
                                    strings_json(backups.damaged, backups.damaged_count)),
                          err);
    }
    printf("%-17s %-5s %-22s %-22s %10s %10s\n", "label", "type", "start", "stop (consistent from)", "MB",
           "stored MB");
    for (size_t i = 0; i < backups.count; i++)
    {
        const PdBackupManifest *backup = &backups.backups[i];
        char start[32], stop[32];
        pd_backup_format_time(backup->start_time, start);
        pd_backup_format_time(backup->stop_time, stop);
        uint64_t bytes = 0, stored = 0;
        for (size_t j = 0; j < backup->entry_count; j++)
            bytes += backup->entries[j].bytes,
                stored += backup->entries[j].reference == NULL ? backup->entries[j].stored_bytes : 0;
        printf("%-17s %-5s %-22s %-22s %10.1f %10.1f\n", backup->label, pd_backup_type_name(backup->type),
               start, stop, bytes / 1048576.0, stored / 1048576.0);
    }
    for (size_t i = 0; i < backups.incomplete_count; i++)
        printf("%-17s incomplete (interrupted; removed by the next backup)\n", backups.incomplete[i]);
    for (size_t i = 0; i < backups.damaged_count; i++)
        printf("damaged: %s\n", backups.damaged[i]);
    if (backups.count == 0 && backups.incomplete_count == 0)
        printf("(no backup in %s)\n", archive.dir);
    return true;
}

static bool
info(PdArena *arena, const CliArgs *args, PdError *err)
{
    PdArchiveSettings settings;
    PdArchiveOptions archive;
    PdBackupManifest backup;
    if (args->positional_count != 2)
        return pd_error_set(err, PD_ERR_USAGE, "backup info: give the backup's label (prodata backup list)");
    if (!pd_backup_is_label(args->positional[1]))
        return pd_error_set(err, PD_ERR_USAGE, "backup info: '%s' is not a backup label (YYYYMMDD-HHMMSSF)",
                            args->positional[1]);
    if (!load(arena, args, &settings, &archive, err) ||
        !pd_backup_read(arena, archive.dir, archive.key, args->positional[1], &backup, err))
        return false;
    char *trial;
    if (!pd_backup_trial_read(arena, archive.dir, archive.key, backup.label, &trial, err))
        return false;
    json_t *value = backup_json(&backup);
    json_t *last = trial != NULL ? json_loads(trial, 0, NULL) : NULL;
    if (value != NULL) /* the last verify --restore, or null: never tried */
        json_object_set_new(value, "last_verify", last != NULL ? last : json_null());
    if (cli_has_flag(args, "--json", NULL))
        return print_json(value, err);
    const char *key;
    json_t *field;
    json_object_foreach(value, key, field)
    {
        char *text = json_is_string(field) ? NULL : json_dumps(field, JSON_ENCODE_ANY);
        printf("%-18s %s\n", key,
               text != NULL            ? text
               : json_is_string(field) ? json_string_value(field)
                                       : "");
        free(text);
    }
    json_decref(value);
    return true;
}

/* ---- verify ---- */

static void
print_verified(const PdBackupVerifyReport *report)
{
    printf("verified %zu backup(s): %zu stored files, %.1f MB read back; WAL: %zu segments, newest %s\n",
           report->backup_count, report->file_count, report->bytes / 1048576.0, report->wal.segment_count,
           report->wal.newest[0] ? report->wal.newest : "(none)");
    for (size_t i = 0; i < report->problem_count; i++)
        printf("file: %s\n", report->problems[i]);
    for (size_t i = 0; i < report->wal_problem_count; i++)
        printf("wal: %s\n", report->wal_problems[i]);
    if (report->problem_count + report->wal_problem_count == 0)
        printf("no problem found\n");
}

static void
print_trial(const PdBackupTrialReport *trial)
{
    printf("restored %s into %s in %.1f s, consistent and promoted in %.1f s; amcheck in %.1f s\n",
           trial->label, trial->scratch, trial->restore_seconds, trial->start_seconds, trial->check_seconds);
    printf("checked %zu database(s): %zu B-tree indexes (bt_index_check, heapallindexed), %zu tables "
           "(verify_heapam), %" PRId64 " rows in user tables\n",
           trial->database_count, trial->index_count, trial->table_count, trial->rows);
    for (size_t i = 0; i < trial->problem_count; i++)
        printf("amcheck: %s\n", trial->problems[i]);
}

/* verify --restore: the files of the backup, then the backup restored and checked by PostgreSQL. */
static bool
verify_by_restoring(PdArena *arena, const CliArgs *args, const PdArchiveOptions *archive,
                    const PdArchiveSettings *settings, const char *label, int jobs, PdError *err)
{
    const char *tmp = getenv("TMPDIR");
    struct passwd *account = getpwuid(geteuid());
    const char *repo = archive->dir;
    PdBackupTrialOptions options = {.repo = repo,
                                    .key = archive->key,
                                    .key_file = settings->archive_key_file,
                                    .label = label,
                                    .scratch_parent = tmp != NULL && tmp[0] == '/' ? tmp : "/tmp",
                                    .user = account != NULL ? account->pw_name : "postgres",
                                    .jobs = jobs};
    cli_has_flag(args, "--pg-bin", &options.pg_bin);
    PdBackupTrialReport trial;
    if (!cli_wal_fetch_program(arena, &options.wal_fetch, err) || !cli_check_key_path(settings, err) ||
        !pd_backup_trial(arena, &options, &trial, err))
        return false;
    if (cli_has_flag(args, "--json", NULL))
    {
        char *record;
        if (!pd_backup_trial_read(arena, repo, archive->key, trial.label, &record, err))
            return false;
        printf("{\"label\": \"%s\", \"trial\": %s}\n", trial.label, record != NULL ? record : "null");
    }
    else
        print_trial(&trial);
    fflush(stdout);
    if (trial.problem_count > 0)
        return pd_error_set(err, PD_ERR_DRIFT, "amcheck found %zu problem(s) in the restored copy of %s",
                            trial.problem_count, trial.label);
    return true;
}

static bool
verify(PdArena *arena, const CliArgs *args, PdError *err)
{
    PdArchiveSettings settings;
    PdArchiveOptions archive;
    PdBackupVerifyReport report;
    const char *label = NULL;
    int jobs;
    cli_has_flag(args, "--set", &label);
    if (!cli_read_jobs(args, &jobs, err) || !load(arena, args, &settings, &archive, err) ||
        !pd_backup_verify(arena, archive.dir, archive.key, label, jobs, &report, err))
        return false;
    bool is_ok = report.problem_count + report.wal_problem_count == 0;
    if (cli_has_flag(args, "--json", NULL))
    {
        if (!print_json(json_pack("{s:s, s:I, s:I, s:I, s:o, s:o, s:s?, s:b}", "repository", archive.dir,
                                  "backups", (json_int_t)report.backup_count, "files",
                                  (json_int_t)report.file_count, "bytes", (json_int_t)report.bytes,
                                  "problems", strings_json(report.problems, report.problem_count),
                                  "wal_problems", strings_json(report.wal_problems, report.wal_problem_count),
                                  "newest_wal", report.wal.newest[0] ? report.wal.newest : NULL, "ok", is_ok),
                        err))
            return false;
    }
    else
        print_verified(&report);
    fflush(stdout);
    if (!is_ok)
        return pd_error_set(err, PD_ERR_DRIFT,
                            "the repository has %zu damaged or missing file(s) and %zu WAL problem(s)",
                            report.problem_count, report.wal_problem_count);
    return !cli_has_flag(args, "--restore", NULL) ||
           verify_by_restoring(arena, args, &archive, &settings, label, jobs, err);
}

/* ---- expire ---- */

/* flag's whole number, at least least; *value = otherwise when the flag is absent. */
static bool
read_count(const CliArgs *args, const char *flag, int least, int otherwise, int *value, PdError *err)
{
    const char *text;
    *value = otherwise;
    if (!cli_has_flag(args, flag, &text))
        return true;
    char *end;
    long number = strtol(text, &end, 10);
    if (*end != '\0' || end == text || number < least || number > 100000)
    {
        pd_error_set(err, PD_ERR_USAGE, "%s must be a whole number%s, not '%s'", flag,
                     least == 1 ? " from 1" : "", text);
        return pd_error_field(err, "%s", flag);
    }
    *value = (int)number;
    return true;
}

/* --retain-full and --retain-days over the settings' backup_retain_full and backup_retain_days. */
static bool
read_retention(const CliArgs *args, PdArchiveSettings *settings, PdError *err)
{
    return read_count(args, "--retain-full", 1, settings->backup_retain_full, &settings->backup_retain_full,
                      err) &&
           read_count(args, "--retain-days", 0, settings->backup_retain_days, &settings->backup_retain_days,
                      err);
}

static bool
print_expired(const PdBackupExpireOptions *options, const PdBackupExpireReport *report, bool is_json,
              PdError *err)
{
    const char *verb = options->is_dry_run ? "would remove" : "removed";
    if (is_json)
        return print_json(json_pack("{s:b, s:o, s:I, s:s?, s:I, s:I}", "dry_run", options->is_dry_run,
                                    "removed", strings_json(report->removed, report->removed_count), "kept",
                                    (json_int_t)report->kept, "oldest_kept", report->oldest_kept,
                                    "wal_removed", (json_int_t)report->wal_removed, "wal_bytes",
                                    (json_int_t)report->wal_bytes),
                          err);
    for (size_t i = 0; i < report->removed_count; i++)
        printf("%s backup %s\n", verb, report->removed[i]);
    printf("%s %zu backup(s) and %zu archived WAL file(s) (%.1f MB); kept %zu backup(s), WAL from the start "
           "of %s on\n",
           verb, report->removed_count, report->wal_removed, report->wal_bytes / 1048576.0, report->kept,
           report->oldest_kept != NULL ? report->oldest_kept : "(none)");
    return true;
}

static bool
expire(PdArena *arena, const CliArgs *args, PdError *err)
{
    PdArchiveSettings settings;
    PdArchiveOptions archive;
    PdBackupExpireOptions options = {.is_dry_run = cli_has_flag(args, "--dry-run", NULL)};
    PdBackupExpireReport report;
    if (!load(arena, args, &settings, &archive, err) || !read_retention(args, &settings, err))
        return false;
    options.retain_full = settings.backup_retain_full;
    options.retain_days = settings.backup_retain_days;
    options.repo = archive.dir;
    options.key = archive.key;
    if (!pd_backup_expire(arena, &options, &report, err))
        return false;
    return print_expired(&options, &report, cli_has_flag(args, "--json", NULL), err);
}

/* After a backup, the retention the settings hold (backup_retain_full, backup_retain_days), when they hold
 * any: the backup is complete whatever happens here. */
static bool
expire_after(PdArena *arena, const PdArchiveSettings *settings, const PdArchiveOptions *archive, bool is_json,
             PdError *err)
{
    if (settings->backup_retain_full < 1 && settings->backup_retain_days < 0)
        return true;
    PdBackupExpireOptions options = {.repo = archive->dir,
                                     .key = archive->key,
                                     .retain_full = settings->backup_retain_full,
                                     .retain_days = settings->backup_retain_days};
    PdBackupExpireReport report;
    if (!pd_backup_expire(arena, &options, &report, err))
        return pd_error_hint(err, "The backup itself is complete; run prodata backup expire to retry."),
               false;
    return print_expired(&options, &report, is_json, err);
}

/* ---- restore points ---- */

static bool
restore_point(PdArena *arena, const CliArgs *args, PdError *err)
{
    PdArchiveSettings settings;
    PdArchiveOptions archive;
    PdBackupPoint point;
    if (args->positional_count != 2)
        return pd_error_set(err, PD_ERR_USAGE, "backup restore-point: give the point's name");
    if (!load(arena, args, &settings, &archive, err))
        return false;
    if (!pd_backup_point_create(arena, archive.dir, settings.database, args->positional[1], &point, err))
        return pd_cli_explain_connect(arena, settings.database, err);
    char lsn[20];
    pd_backup_format_lsn(point.lsn, lsn);
    if (cli_has_flag(args, "--json", NULL))
        return print_json(
            json_pack("{s:s, s:s, s:I}", "name", point.name, "lsn", lsn, "time", (json_int_t)point.time),
            err);
    printf("restore point %s at %s (recorded; restore --target-name %s stops there)\n", point.name, lsn,
           point.name);
    return true;
}

bool
cmd_backup(PdArena *arena, const CliArgs *args, PdError *err)
{
    if (args->positional_count == 0)
        return take(arena, args, err);
    if (strcmp(args->positional[0], "list") == 0 && args->positional_count == 1)
        return list(arena, args, err);
    if (strcmp(args->positional[0], "info") == 0)
        return info(arena, args, err);
    if (strcmp(args->positional[0], "verify") == 0 && args->positional_count == 1)
        return verify(arena, args, err);
    if (strcmp(args->positional[0], "expire") == 0 && args->positional_count == 1)
        return expire(arena, args, err);
    if (strcmp(args->positional[0], "restore-point") == 0)
        return restore_point(arena, args, err);
    return pd_error_set(
        err, PD_ERR_USAGE,
        "backup: the subcommands are list, info LABEL, verify, expire and restore-point NAME, not '%s'",
        args->positional[0]);
}
