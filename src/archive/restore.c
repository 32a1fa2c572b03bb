/*
 * restore.c - a backup of the repository written back into a data
 * directory that is empty or absent (or, with --delta, the cluster's own,
 * restore_delta.c), ready for PostgreSQL to recover: the plan made and
 * checked first (restore_plan.c), the folders with their modes, every file
 * by N threads (restore_write.c: decompressed, checked against the
 * manifest's hashes as it is written), the backup's
 * backup_label and tablespace_map, recovery.signal, and the recovery
 * settings appended to postgresql.auto.conf (restore_command through
 * wal-fetch from the same repository, the recovery target). Which backup:
 * the one named, or the newest that ends before the target. Nothing is
 * written before the target and the backup are found consistent with each
 * other and the archived WAL found to reach the target (restore_reach.c); a
 * file that does not verify stops the restore and names it.
 */
#define _GNU_SOURCE /* sync_file_range */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "backup.h"
#include "prodata/strbuf.h"
#include "restore_plan.h"
#include "restore_wal.h"
#include "store.h"

bool
pd_restore_make_path(PdArena *arena, const char *dir, bool *is_made, PdError *err)
{
    *is_made = false;
    if (mkdir(dir, 0700) == 0)
        return *is_made = true;
    if (errno == EEXIST)
        return true;
    if (errno != ENOENT)
        return pd_archive_io_error(err, "create", dir);
    char *parent = pd_arena_strdup(arena, dir);
    char *slash = parent != NULL ? strrchr(parent, '/') : NULL;
    if (parent == NULL)
        return pd_arena_error(arena, err);
    if (slash == NULL || slash == parent)
        return pd_archive_io_error(err, "create", dir);
    *slash = '\0';
    bool made_parent;
    if (!pd_restore_make_path(arena, parent, &made_parent, err))
        return false;
    if (mkdir(dir, 0700) != 0)
        return pd_archive_io_error(err, "create", dir);
    return *is_made = true;
}

/* The target directory: created (0700, with its parents) when absent; refused when it holds anything. */
static bool
prepare_target(PdArena *arena, const char *dir, bool *is_made, PdError *err)
{
    if (!pd_restore_make_path(arena, dir, is_made, err))
        return false;
    if (*is_made)
        return true;
    DIR *handle = opendir(dir);
    if (handle == NULL)
        return pd_archive_io_error(err, "open the directory", dir);
    struct dirent *item;
    char found[256] = "";
    while (found[0] == '\0' && (item = readdir(handle)) != NULL)
        if (strcmp(item->d_name, ".") != 0 && strcmp(item->d_name, "..") != 0)
            snprintf(found, sizeof(found), "%s", item->d_name);
    closedir(handle);
    if (found[0] != '\0')
    {
        pd_error_set(err, PD_ERR_REFUSED, "the data directory %s is not empty (it holds %s)", dir, found);
        return pd_error_hint(err, "Restore into an empty or new directory; nothing was written.");
    }
    return chmod(dir, 0700) == 0 || pd_archive_io_error(err, "chmod", dir);
}

/* The backup's folders, with their modes, a tablespace's in its directory (in a delta restore, those there
 * already are kept). */
static bool
make_dirs(PdArena *arena, const PdRestoreSpaces *spaces, const PdBackupManifest *manifest, bool is_delta,
          PdError *err)
{
    for (size_t i = 0; i < manifest->entry_count; i++)
    {
        const PdBackupEntry *entry = &manifest->entries[i];
        if (entry->kind != PD_BACKUP_ENTRY_DIR)
            continue;
        const char *dir = pd_restore_spaces_place(arena, spaces, entry->path);
        if (dir == NULL)
            return pd_arena_error(arena, err);
        if (mkdir(dir, entry->mode & 0777) != 0 && !(is_delta && errno == EEXIST))
            return pd_archive_io_error(err, "create", dir);
        if (is_delta && chmod(dir, entry->mode & 0777) != 0)
            return pd_archive_io_error(err, "chmod", dir);
    }
    return true;
}

/* The plan carried out, its figures kept when asked for. */
static bool
copy_files(PdArena *arena, const PdRestoreOptions *options, const PdRestorePlan *plan, PdError *err)
{
    PdRestoreWrite job = {.plan = plan, .is_delta = options->is_delta, .jobs = options->jobs};
    bool ok = pd_restore_write(arena, &job, err);
    if (options->stats != NULL)
    {
        options->stats->bytes_written = job.bytes_written;
        options->stats->bytes_kept = job.bytes_kept;
        options->stats->chain = plan->chain;
        options->stats->chain_count = plan->chain_count;
    }
    return ok;
}

static bool
write_file(PdArena *arena, const char *dir, const char *name, const char *text, int flags, PdError *err)
{
    char *path = pd_archive_join(arena, dir, name);
    if (path == NULL)
        return pd_arena_error(arena, err);
    int fd = open(path, O_WRONLY | O_CREAT | O_CLOEXEC | flags, 0600);
    if (fd < 0)
        return pd_archive_io_error(err, "create", path);
    bool ok = pd_archive_write_all(fd, text, strlen(text), path, err) &&
              (fsync(fd) == 0 || pd_archive_io_error(err, "fsync", path));
    if (close(fd) != 0 && ok)
        ok = pd_archive_io_error(err, "close", path);
    return ok;
}

/* The recovery settings, one per line, appended to postgresql.auto.conf (the last value of a name wins). */
/* The recovery settings of the backup's own postgresql.auto.conf (a backup of a restored cluster holds its
 * target): commented out, or two targets would make PostgreSQL refuse to start. */
static const char *const recovery_names[] = {
    "restore_command",           "archive_cleanup_command",  "recovery_end_command",   "recovery_target",
    "recovery_target_name",      "recovery_target_time",     "recovery_target_xid",    "recovery_target_lsn",
    "recovery_target_inclusive", "recovery_target_timeline", "recovery_target_action",
};

static bool
is_recovery_line(const char *line, size_t length)
{
    size_t skip = strspn(line, " \t");
    for (size_t i = 0; i < sizeof(recovery_names) / sizeof(recovery_names[0]); i++)
    {
        size_t name = strlen(recovery_names[i]);
        if (skip + name <= length && strncmp(line + skip, recovery_names[i], name) == 0 &&
            strchr(" \t=", line[skip + name]) != NULL)
            return true;
    }
    return false;
}

/* The restored postgresql.auto.conf with its recovery lines commented out (NULL when out of memory). */
static char *
comment_recovery(PdArena *arena, const char *text, size_t length)
{
    PdStrbuf out;
    pd_strbuf_init(&out, arena);
    for (size_t at = 0; at < length;)
    {
        const char *end = memchr(text + at, '\n', length - at);
        size_t line = end != NULL ? (size_t)(end - (text + at)) + 1 : length - at;
        if (is_recovery_line(text + at, line))
            pd_strbuf_append(&out, "# (commented out by prodata restore) ");
        pd_strbuf_append_length(&out, text + at, line);
        at += line;
    }
    pd_strbuf_append(&out, "");
    return pd_strbuf_failed(&out) ? NULL : (char *)pd_strbuf_text(&out);
}

static char *
recovery_settings(PdArena *arena, const PdRestoreOptions *options, const PdBackupManifest *manifest)
{
    PdStrbuf text;
    pd_strbuf_init(&text, arena);
    if (options->as_standby)
        return pd_arena_sprintf(arena, "\n# backup %s, restored by prodata restore --as-standby\n",
                                manifest->label);
    pd_strbuf_appendf(&text, "\n# recovery of backup %s, written by prodata restore\n", manifest->label);
    pd_strbuf_appendf(&text, "restore_command = '%s wal-fetch --archive-dir %s%s%s %%f %%p'\n",
                      options->wal_fetch, options->repo, options->key != NULL ? " --archive-key-file " : "",
                      options->key != NULL ? options->key_file : "");
    if (options->port > 0)
        pd_strbuf_appendf(&text, "port = %d\n", options->port);
    if (!options->keeps_archiving) /* a restored copy must not push its own timeline into this repository */
        pd_strbuf_append(&text, "archive_mode = 'off'\n");
    if (options->target_timeline != NULL)
        pd_strbuf_appendf(&text, "recovery_target_timeline = '%s'\n", options->target_timeline);
    const char *name = pd_restore_target_setting(options->target_kind);
    if (name != NULL)
    {
        pd_strbuf_appendf(&text, "%s = '", name);
        for (const char *c = options->target_kind == PD_RESTORE_IMMEDIATE ? "immediate" : options->target; *c;
             c++)
            pd_strbuf_append_length(&text, *c == '\'' ? "''" : c, *c == '\'' ? 2 : 1);
        pd_strbuf_append(&text, "'\n");
        if (options->target_kind != PD_RESTORE_IMMEDIATE)
            pd_strbuf_appendf(&text, "recovery_target_inclusive = %s\n", options->exclusive ? "off" : "on");
        pd_strbuf_appendf(&text, "recovery_target_action = '%s'\n", options->target_action);
    }
    return pd_strbuf_failed(&text) ? NULL : (char *)pd_strbuf_text(&text);
}

/* postgresql.auto.conf as restored, its recovery lines commented out, then ours. */
static bool
write_auto_conf(PdArena *arena, const PdRestoreOptions *options, const PdBackupManifest *manifest,
                PdError *err)
{
    PdStrbuf old;
    pd_strbuf_init(&old, arena);
    char *path = pd_archive_join(arena, options->data_dir, "postgresql.auto.conf");
    if (path == NULL)
        return pd_arena_error(arena, err);
    if (access(path, F_OK) == 0 && !pd_strbuf_append_file(&old, path, err))
        return false;
    pd_strbuf_append(&old, "");
    char *kept = pd_strbuf_failed(&old) ? NULL : comment_recovery(arena, pd_strbuf_text(&old), old.length);
    char *ours = recovery_settings(arena, options, manifest);
    char *text = kept != NULL && ours != NULL ? pd_arena_sprintf(arena, "%s%s", kept, ours) : NULL;
    if (text == NULL)
        return pd_arena_error(arena, err);
    return write_file(arena, options->data_dir, "postgresql.auto.conf", text, O_TRUNC, err);
}

/* backup_label (and tablespace_map), then recovery's settings and recovery.signal; a copy that is to become
 * a standby gets neither: whoever makes it one writes standby.signal and its own settings. */
static bool
write_recovery(PdArena *arena, const PdRestoreOptions *options, const PdBackupManifest *manifest,
               const PdRestoreSpaces *spaces, PdError *err)
{
    const char *dir = options->data_dir;
    const char *map = pd_restore_spaces_map(arena, spaces, manifest->tablespace_map);
    if (manifest->tablespace_map != NULL && map == NULL)
        return pd_arena_error(arena, err);
    return write_file(arena, dir, "backup_label", manifest->backup_label, O_EXCL, err) &&
           (map == NULL || write_file(arena, dir, "tablespace_map", map, O_EXCL, err)) &&
           write_auto_conf(arena, options, manifest, err) &&
           (options->as_standby || write_file(arena, dir, "recovery.signal", "", O_EXCL, err));
}

/* Everything written into the target, after a failure: its folder made empty again (or removed if made). */
static void
undo(const char *data_dir, bool is_made)
{
    PdError ignored;
    pd_error_init(&ignored);
    pd_backup_remove_tree(data_dir, !is_made, &ignored);
}

/*
 * What can be checked before anything is written: the backup is of the repository's cluster, and the WAL that
 * makes it consistent is archived.
 */
static bool
check_restorable(PdArena *arena, const char *repo, const PdArchiveKey *key, const PdBackupManifest *backup,
                 PdError *err)
{
    uint64_t system;
    bool is_recorded;
    if (!pd_archive_read_system(repo, &system, &is_recorded, err))
        return false;
    if (is_recorded && system != backup->system_identifier)
        return pd_error_set(err, PD_ERR_REFUSED,
                            "backup %s is of database system %llu, the repository %s holds the WAL of %llu",
                            backup->label, (unsigned long long)backup->system_identifier, repo,
                            (unsigned long long)system);
    PdArchiveReport scan; /* for the segment size, read from the archived segments' headers */
    PdBackupWalRange range;
    if (!pd_archive_scan(arena, repo, key, false, &scan, err) ||
        !pd_backup_wal_range(arena, repo, backup, scan.segment_bytes, &range, err))
        return false;
    for (size_t i = 0; i < range.count; i++)
    {
        if (access(range.paths[i], F_OK) == 0)
            continue;
        pd_error_set(err, PD_ERR_REFUSED,
                     "WAL segment %s, which backup %s needs to be consistent, is not in the repository",
                     range.names[i], backup->label);
        return pd_error_hint(err, "Restore another backup (prodata backup list), or put the segment back; "
                                  "nothing was written.");
    }
    return true;
}

/* restore_command reads the repository's key from a file: a key given as archive_key alone cannot reach it.
 */
static bool
check_key_file(const PdRestoreOptions *options, PdError *err)
{
    if (options->key == NULL || options->as_standby ||
        (options->key_file != NULL && options->key_file[0] != '\0'))
        return true;
    pd_error_set(err, PD_ERR_USAGE,
                 "the repository is encrypted and its key is set as archive_key only: the "
                 "restored server's restore_command cannot read it from there");
    pd_error_field(err, "archive_key_file");
    return pd_error_hint(err,
                         "Keep the key in a file the account PostgreSQL runs as can read, and name it with "
                         "archive_key_file; nothing was written.");
}

/* Each file of the plan placed: in its tablespace's directory when it is one's. */
static bool
place_files(PdArena *arena, PdRestorePlan *plan, const PdRestoreSpaces *spaces, PdError *err)
{
    for (size_t i = 0; spaces->count > 0 && i < plan->file_count; i++)
        if ((plan->files[i].dest = pd_restore_spaces_place(arena, spaces, plan->files[i].entry->path)) ==
            NULL)
            return pd_arena_error(arena, err);
    return true;
}

/* What is read and decided before anything is written: the backup, its plan, where its tablespaces go. */
static bool
decide(PdArena *arena, const PdRestoreOptions *options, PdBackupManifest *chosen, PdRestorePlan *plan,
       PdRestoreSpaces *spaces, PdError *err)
{
    return check_key_file(options, err) && pd_restore_choose(arena, options, chosen, err) &&
           check_restorable(arena, options->repo, options->key, chosen, err) &&
           pd_restore_check_reach(arena, options, chosen, err) &&
           pd_restore_spaces_plan(arena, options, chosen, spaces, err) &&
           pd_restore_plan(arena, options->repo, options->key, chosen, options->data_dir, plan, err) &&
           place_files(arena, plan, spaces, err);
}

bool
pd_backup_restore(PdArena *arena, const PdRestoreOptions *options, PdBackupManifest *chosen, PdError *err)
{
    bool is_made = false;
    size_t removed = 0;
    PdRestorePlan plan;
    PdRestoreSpaces spaces;
    if (!decide(arena, options, chosen, &plan, &spaces, err) ||
        !(options->is_delta
              ? pd_restore_delta_prepare(arena, options->data_dir, chosen, &spaces, &removed, err)
              : prepare_target(arena, options->data_dir, &is_made, err)))
        return false;
    if (options->stats != NULL)
        options->stats->removed = removed;
    if (pd_restore_spaces_prepare(arena, &spaces, err) &&
        make_dirs(arena, &spaces, chosen, options->is_delta, err) && pd_restore_spaces_link(&spaces, err) &&
        copy_files(arena, options, &plan, err) && write_recovery(arena, options, chosen, &spaces, err) &&
        pd_backup_sync_tree(arena, options->data_dir, chosen->entries, chosen->entry_count, err) &&
        pd_restore_spaces_sync(&spaces, err))
        return true;
    if (options->is_delta) /* without global/pg_control, which goes last, the directory is no cluster */
        return pd_error_hint(err,
                             "The directory is half restored and will not start: run the restore again.");
    undo(options->data_dir, is_made);
    pd_restore_spaces_undo(&spaces);
    return false;
}
