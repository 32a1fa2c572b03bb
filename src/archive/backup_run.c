/*
 * backup_run.c - one base backup, start to end: the server's facts checked
 * (a primary, archiving on, this repository's system), interrupted backups'
 * folders removed under the repository's backup lock, pg_backup_start on a
 * session held open for the whole backup (the non-exclusive API: the
 * backup ends by itself if this process dies), the files walked and copied
 * (backup_walk.c, backup_copy.c), pg_backup_stop, the WAL from start to
 * stop awaited in the repository itself (polled every 20 ms, not the
 * server's once-a-second check), and only then the manifest written. Until the manifest
 * exists the folder is an incomplete backup that nothing restores.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "backup.h"
#include "prodata/db.h"
#include "prodata/log.h"
#include "store.h"

static const char facts_sql[] =
    "SELECT s.system_identifier::text, current_setting('server_version_num'), pg_is_in_recovery()::text, "
    "current_setting('data_checksums'), current_setting('archive_mode'), current_setting('wal_level'), "
    "(SELECT setting FROM pg_settings WHERE name = 'wal_segment_size') FROM pg_control_system() s";

/* What the server says about itself. */
typedef struct Facts
{
    uint64_t system_identifier;
    int pg_version;
    bool has_checksums;
    uint32_t segment_bytes;
    const char *data_dir;
    bool is_standby;
} Facts;

static bool
refuse(PdError *err, const char *hint, const char *fmt, const char *value)
{
    pd_error_set(err, PD_ERR_REFUSED, fmt, value);
    pd_error_hint(err, "%s", hint);
    return false;
}

static bool
read_facts(PdArena *arena, PdDb *db, const PdBackupOptions *options, Facts *facts, PdError *err)
{
    PdDbResult *result;
    if (!pd_db_query(arena, db, facts_sql, 0, NULL, &result, err))
        return false;
    facts->system_identifier = strtoull(pd_db_result_value(result, 0, 0), NULL, 10);
    facts->pg_version = atoi(pd_db_result_value(result, 0, 1));
    facts->has_checksums = strcmp(pd_db_result_value(result, 0, 3), "on") == 0;
    facts->segment_bytes = (uint32_t)strtoul(pd_db_result_value(result, 0, 6), NULL, 10);
    bool is_standby = strcmp(pd_db_result_value(result, 0, 2), "true") == 0;
    facts->is_standby = is_standby;
    if (is_standby && !options->from_standby)
        return refuse(
            err,
            "Back up the primary, or this standby with --from-standby (the files are read here, the "
            "primary archives the WAL).",
            "%s is a standby", "the server");
    if (!is_standby && options->from_standby)
        return refuse(
            err,
            "Connect to a standby (the database setting, or PGHOST/PGPORT), or leave --from-standby out.",
            "%s is not a standby: --from-standby reads a standby's files", "the server");
    if (!is_standby && strcmp(pd_db_result_value(result, 0, 4), "off") == 0)
        return refuse(err,
                      "Set archive_mode = on and archive_command = 'prodata-wal wal-push ... %p' "
                      "(docs/archive.md), then restart PostgreSQL.",
                      "the server does not archive its WAL (archive_mode = %s): a backup could never be "
                      "restored",
                      "off");
    if (!pd_archive_is_segment_size(facts->segment_bytes))
        return pd_error_set(err, PD_ERR_DB_QUERY, "the server reports a WAL segment size of %s bytes",
                            pd_db_result_value(result, 0, 6));
    if (options->data_dir != NULL && options->data_dir[0] != '\0')
    {
        facts->data_dir = options->data_dir;
        return true;
    }
    if (!pd_db_query(arena, db, "SELECT current_setting('data_directory')", 0, NULL, &result, err))
    {
        pd_error_hint(err, "Give the data directory with --pgdata, or grant pg_read_all_settings.");
        return false;
    }
    facts->data_dir = pd_arena_strdup(arena, pd_db_result_value(result, 0, 0));
    return facts->data_dir != NULL || pd_arena_error(arena, err);
}

/*
 * The data directory is the server's: its global/pg_control starts with the server's system identifier (the
 * first field of PostgreSQL's ControlFileData, in this machine's byte order). Checked before
 * pg_backup_start, so a wrong --pgdata costs no checkpoint and leaves nothing behind.
 */
static bool
check_data_dir(PdArena *arena, const Facts *facts, PdError *err)
{
    char *path = pd_archive_join(arena, facts->data_dir, "global/pg_control");
    if (path == NULL)
        return pd_arena_error(arena, err);
    uint64_t found = 0;
    size_t got = 0;
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    bool is_read = fd >= 0 && pd_archive_read_full(fd, &found, sizeof(found), &got, path, err);
    if (fd >= 0)
        close(fd);
    if (fd < 0 || (is_read && got != sizeof(found)))
    {
        pd_error_set(err, PD_ERR_REFUSED,
                     "%s is not a PostgreSQL data directory (no readable global/pg_control)",
                     facts->data_dir);
        return pd_error_hint(err,
                             "Give the server's data directory with --pgdata, or leave it out to ask the "
                             "server (SHOW data_directory).");
    }
    if (!is_read)
        return false;
    if (found == facts->system_identifier)
        return true;
    pd_error_set(err, PD_ERR_REFUSED,
                 "%s is the data directory of another cluster (system %llu, the server's is %llu)",
                 facts->data_dir, (unsigned long long)found, (unsigned long long)facts->system_identifier);
    return pd_error_hint(err, "Give the server's own data directory with --pgdata, or leave it out.");
}

/* The repository holds this system's WAL, or none yet (then it is claimed for this one). */
static bool
check_repository(PdArena *arena, const char *repo, uint64_t system_identifier, PdError *err)
{
    struct stat st;
    if (stat(repo, &st) != 0 || !S_ISDIR(st.st_mode))
        return pd_error_set(err, PD_ERR_IO, "the repository (archive_dir) %s is not a directory", repo);
    return pd_archive_claim_system(arena, repo, system_identifier, repo, err);
}

static bool
remove_incomplete(PdArena *arena, const char *repo, const PdArchiveKey *key, size_t *removed, PdError *err)
{
    PdBackupList list;
    if (!pd_backup_list(arena, repo, key, &list, err))
        return false;
    for (size_t i = 0; i < list.incomplete_count; i++)
        if (!pd_backup_remove(arena, repo, list.incomplete[i], err))
            return false;
    *removed = list.incomplete_count;
    return true;
}

/* A label for now (UTC) not taken by a backup of any type: YYYYMMDD-HHMMSS and a letter set once the type is
 * known; waits out the second when it is. */
static bool
new_label(PdArena *arena, const char *repo, char label[17], PdError *err)
{
    for (int attempt = 0; attempt < 3; attempt++)
    {
        time_t now = time(NULL);
        struct tm utc;
        gmtime_r(&now, &utc);
        strftime(label, 17, "%Y%m%d-%H%M%SF", &utc);
        bool is_taken = false; /* by a backup of any type: labels sort by time, and the type is known later */
        for (const char *letter = "FDI"; *letter != '\0' && !is_taken; letter++)
        {
            label[15] = *letter;
            char *dir = pd_backup_dir(arena, repo, label);
            if (dir == NULL)
                return pd_arena_error(arena, err);
            is_taken = access(dir, F_OK) == 0;
        }
        label[15] = 'F';
        if (!is_taken)
            return true;
        sleep(1);
    }
    return pd_error_set(err, PD_ERR_REFUSED, "backup %s already exists", label);
}

static bool
lsn_of(PdDbResult *result, size_t column, uint64_t *lsn, PdError *err)
{
    const char *text = pd_db_result_value(result, 0, column);
    if (!pd_backup_parse_lsn(text, lsn))
        return pd_error_set(err, PD_ERR_DB_QUERY, "the server returned %s for an LSN", text);
    return true;
}

/*
 * The segment name of lsn on timeline, as pg_walfile_name names it (the segment holding the byte before lsn),
 * which a standby cannot run: arena-allocated, NULL when out of memory.
 */
static char *
segment_of(PdArena *arena, uint32_t timeline, uint64_t lsn, uint32_t segment_bytes)
{
    char name[25];
    pd_archive_segment_name(timeline, (lsn > 0 ? lsn - 1 : 0) / segment_bytes, segment_bytes, name);
    return pd_arena_strdup(arena, name);
}

/* pg_backup_start, with a checkpoint right away (on a standby, a restartpoint). */
static bool
start_backup(PdArena *arena, PdDb *db, const Facts *facts, PdBackupManifest *manifest, PdError *err)
{
    const char *params[] = {pd_arena_sprintf(arena, "prodata %.15s", manifest->label)};
    PdDbResult *result;
    if (params[0] == NULL)
        return pd_arena_error(arena, err);
    if (!pd_db_query(arena, db,
                     "SELECT lsn::text, (SELECT timeline_id FROM pg_control_checkpoint())::text "
                     "FROM pg_backup_start($1, true) AS lsn",
                     1, params, &result, err) ||
        !lsn_of(result, 0, &manifest->start_lsn, err))
        return false;
    manifest->start_time = time(NULL);
    manifest->timeline = (uint32_t)strtoul(pd_db_result_value(result, 0, 1), NULL, 10);
    manifest->start_wal = segment_of(arena, manifest->timeline, manifest->start_lsn, facts->segment_bytes);
    return manifest->start_wal != NULL || pd_arena_error(arena, err);
}

static bool
stop_backup(PdArena *arena, PdDb *db, const Facts *facts, PdBackupManifest *manifest, PdError *err)
{
    PdDbResult *result;
    if (!pd_db_query(arena, db, "SELECT lsn::text, labelfile, spcmapfile FROM pg_backup_stop(false)", 0, NULL,
                     &result, err) ||
        !lsn_of(result, 0, &manifest->stop_lsn, err))
        return false;
    manifest->stop_time = time(NULL);
    /* a standby promoted meanwhile makes pg_backup_stop fail: the stop is on the start's timeline. A
       standby's stop is its minimum recovery point, which can be a segment's very start (it replayed a
       switch): recovery reads the record there before it calls itself consistent, so that segment is needed
       too (switch_primary has one written there) */
    uint64_t stop = manifest->stop_lsn;
    if (facts->is_standby && stop % facts->segment_bytes == 0)
        stop++;
    manifest->stop_wal = segment_of(arena, manifest->timeline, stop, facts->segment_bytes);
    manifest->backup_label = pd_arena_strdup(arena, pd_db_result_value(result, 0, 1));
    const char *map = pd_db_result_value(result, 0, 2);
    manifest->tablespace_map =
        pd_db_result_is_null(result, 0, 2) || map[0] == '\0' ? NULL : pd_arena_strdup(arena, map);
    if (manifest->stop_wal == NULL || manifest->backup_label == NULL)
        return pd_arena_error(arena, err);
    return true;
}

/*
 * Waits until path exists, checking every 20 ms for at most PD_BACKUP_ARCHIVE_WAIT_S seconds. Why not
 * pg_backup_stop(wait_for_archive => true): it checks once a second, which is most of a small backup's time,
 * and whether it is archived into this repository is what matters.
 */
static bool
wait_archived(const char *path, long *waited_ms)
{
    struct timespec pause = {0, 20 * 1000 * 1000};
    for (; *waited_ms <= PD_BACKUP_ARCHIVE_WAIT_S * 1000L; *waited_ms += 20)
    {
        if (access(path, F_OK) == 0)
            return true;
        nanosleep(&pause, NULL);
    }
    return false;
}

/*
 * From a standby: the primary archives the WAL, and the segment holding the backup's stop stays open there
 * until it fills or archive_timeout passes. The primary (the one given, or the standby's primary_conninfo)
 * is asked to write one small record (a logical message, so that the segment is not empty: a switch in an
 * empty segment does nothing) and to switch to a new segment. Not an error when it cannot be reached or
 * refuses: the wait after says so. Always true.
 */
static bool
switch_primary(PdArena *arena, PdDb *standby, const PdBackupOptions *options)
{
    PdError ignored;
    PdDbResult *result;
    pd_error_init(&ignored);
    const char *conninfo = options->primary_conninfo;
    if ((conninfo == NULL || conninfo[0] == '\0') &&
        pd_db_query(arena, standby, "SELECT current_setting('primary_conninfo')", 0, NULL, &result, &ignored))
        conninfo = pd_db_result_value(result, 0, 0);
    PdDb *primary = NULL;
    if (conninfo != NULL && conninfo[0] != '\0' && pd_db_connect(conninfo, &primary, &ignored))
    {
        (void)pd_db_query(arena, primary, "SELECT pg_logical_emit_message(false, 'prodata', 'backup stop')",
                          0, NULL, &result, &ignored);
        (void)pd_db_query(arena, primary, "SELECT pg_switch_wal()", 0, NULL, &result, &ignored);
    }
    pd_db_close(primary);
    return true;
}

/* Every segment from start_wal to stop_wal reaches the repository (pg_backup_stop switched to the next). */
static bool
check_wal(PdArena *arena, const char *repo, const PdBackupManifest *manifest, uint32_t segment_bytes,
          PdError *err)
{
    PdBackupWalRange range;
    if (!pd_backup_wal_range(arena, repo, manifest, segment_bytes, &range, err))
        return false;
    long waited_ms = 0; /* one budget for the whole range */
    for (size_t i = 0; i < range.count; i++)
    {
        if (wait_archived(range.paths[i], &waited_ms))
            continue;
        pd_error_set(err, PD_ERR_REFUSED,
                     "WAL segment %s, which the backup needs, did not reach the repository %s within %d s",
                     range.names[i], repo, PD_BACKUP_ARCHIVE_WAIT_S);
        return pd_error_hint(err,
                             "Is archiving failing (pg_stat_archiver, prodata archive check --backlog)? "
                             "archive_command must push into this directory: 'prodata-wal wal-push "
                             "--archive-dir %s %%p' (docs/archive.md).",
                             repo);
    }
    return true;
}

/* The files as copied: the vanished ones left out. */
static void
keep_copied(PdBackupManifest *manifest, PdBackupOutcome *outcome)
{
    size_t kept = 0;
    for (size_t i = 0; i < manifest->entry_count; i++)
    {
        PdBackupEntry *entry = &manifest->entries[i];
        if (entry->kind == PD_BACKUP_ENTRY_FILE && entry->is_vanished)
            continue;
        if (entry->kind == PD_BACKUP_ENTRY_FILE)
        {
            outcome->file_count++;
            outcome->stored_bytes += entry->reference == NULL ? entry->stored_bytes : 0;
            outcome->unchanged_count += entry->reference != NULL;
        }
        manifest->entries[kept++] = *entry;
    }
    manifest->entry_count = kept;
}

typedef struct Progress
{
    const PdBackupOptions *options;
    uint64_t total;
} Progress;

static void
on_progress(void *context, uint64_t done)
{
    Progress *progress = context;
    progress->options->progress(progress->options->progress_context, done, progress->total);
}

/* The prior backup's files by path, for a diff or incr. */
static bool
index_prior(PdArena *arena, const PdBackupManifest *prior, PdStrmap **files, PdError *err)
{
    *files = NULL;
    if (prior == NULL)
        return true;
    *files = pd_strmap_new(arena, prior->entry_count);
    if (*files == NULL)
        return pd_arena_error(arena, err);
    for (size_t i = 0; i < prior->entry_count; i++)
        if (!pd_strmap_put(*files, prior->entries[i].path, &prior->entries[i]))
            return pd_arena_error(arena, err);
    return true;
}

static bool
copy_files(PdArena *arena, const PdBackupOptions *options, const Facts *facts, PdBackupManifest *manifest,
           const PdBackupManifest *prior, PdBackupOutcome *outcome, PdError *err)
{
    uint64_t total;
    char *backup_dir = pd_backup_dir(arena, options->repo, manifest->label);
    char *data = backup_dir != NULL ? pd_archive_join(arena, backup_dir, "data") : NULL;
    if (data == NULL)
        return pd_arena_error(arena, err);
    if (mkdir(backup_dir, 0700) != 0)
        return pd_archive_io_error(err, "create", backup_dir);
    PdStrmap *prior_files;
    if (!pd_backup_walk(arena, facts->data_dir, &manifest->entries, &manifest->entry_count, &total, err) ||
        !index_prior(arena, prior, &prior_files, err))
        return false;
    Progress progress = {options, total};
    PdBackupCopy job = {.repo = options->repo,
                        .key = options->key,
                        .data_dir = facts->data_dir,
                        .dest_dir = data,
                        .entries = manifest->entries,
                        .entry_count = manifest->entry_count,
                        .compress = options->compress,
                        .compress_level = options->compress_level,
                        .prior = prior,
                        .prior_files = prior_files,
                        .jobs = options->jobs,
                        .check_pages = facts->has_checksums,
                        .start_lsn = manifest->start_lsn,
                        .progress = options->progress != NULL ? on_progress : NULL,
                        .progress_context = &progress};
    if (!pd_backup_copy(arena, &job, err))
        return false;
    outcome->bytes = job.bytes_done;
    outcome->pages_read = job.pages_read;
    outcome->pages_stored = job.pages_stored;
    outcome->bad_page_count = job.bad_page_count;
    memcpy(outcome->bad_pages, job.bad_pages, sizeof(job.bad_pages));
    return true;
}

static bool
run(PdArena *arena, PdDb *db, const PdBackupOptions *options, PdBackupOutcome *outcome, PdError *err)
{
    Facts facts = {0};
    PdBackupManifest *manifest = &outcome->manifest;
    char label[17];
    if (!read_facts(arena, db, options, &facts, err) || !check_data_dir(arena, &facts, err) ||
        !check_repository(arena, options->repo, facts.system_identifier, err) ||
        !remove_incomplete(arena, options->repo, options->key, &outcome->removed_incomplete, err) ||
        !new_label(arena, options->repo, label, err))
        return false;
    *manifest = (PdBackupManifest){.format = PD_BACKUP_MANIFEST_FORMAT,
                                   .label = pd_arena_strdup(arena, label),
                                   .type = PD_BACKUP_FULL,
                                   .system_identifier = facts.system_identifier,
                                   .pg_version = facts.pg_version,
                                   .compress = options->compress,
                                   .compress_level = options->compress_level};
    if (manifest->label == NULL)
        return pd_arena_error(arena, err);
    const PdBackupManifest *prior;
    if (!start_backup(arena, db, &facts, manifest, err) ||
        !pd_backup_choose_prior(arena, options->repo, options->key, options->type, manifest->timeline,
                                facts.pg_version, &prior, &outcome->why_full, err))
        return false;
    if (prior != NULL)
    {
        manifest->type = options->type;
        manifest->prior = prior->label;
        label[15] = manifest->type == PD_BACKUP_DIFF ? 'D' : 'I';
        manifest->label = pd_arena_strdup(arena, label);
        if (manifest->label == NULL)
            return pd_arena_error(arena, err);
    }
    if (!copy_files(arena, options, &facts, manifest, prior, outcome, err) ||
        !stop_backup(arena, db, &facts, manifest, err) ||
        (options->from_standby && !switch_primary(arena, db, options)) ||
        !check_wal(arena, options->repo, manifest, facts.segment_bytes, err))
        return false;
    keep_copied(manifest, outcome);
    char *backup_dir = pd_backup_dir(arena, options->repo, manifest->label);
    if (backup_dir == NULL)
        return pd_arena_error(arena, err);
    return pd_backup_write_manifest(arena, backup_dir, options->key, manifest, err) &&
           pd_archive_fsync_dir(pd_backup_dir(arena, options->repo, NULL), err);
}

bool
pd_backup_take(PdArena *arena, const PdBackupOptions *options, PdBackupOutcome *outcome, PdError *err)
{
    *outcome = (PdBackupOutcome){0};
    int lock_fd;
    if (!pd_backup_lock(arena, options->repo, &lock_fd, err))
        return false;
    PdDb *db = NULL;
    bool ok = pd_db_connect(options->conninfo, &db, err) && run(arena, db, options, outcome, err);
    pd_db_close(db); /* on an error before pg_backup_stop, the server ends the backup with the session */
    if (!ok && outcome->manifest.label != NULL) /* a failure, not an interruption: leave no folder behind */
    {
        PdError ignored;
        pd_error_init(&ignored);
        char *dir = pd_backup_dir(arena, options->repo, outcome->manifest.label);
        if (dir != NULL && access(dir, F_OK) == 0)
            (void)pd_backup_remove(arena, options->repo, outcome->manifest.label, &ignored);
    }
    close(lock_fd);
    return ok;
}
