/*
 * backup_expire.c - `prodata backup expire`: retention. A backup is kept
 * when it is one of the newest N full backups or builds on one (a diff or
 * incr on it, and so on), when a kept backup builds on it, or
 * when it is needed to restore to any moment of the last D days: the newest
 * backup that ended before the window opened, and every later one. The
 * newest backup is always kept. The others are removed, oldest first, and
 * then the archived WAL that no kept backup can use: segments (and their
 * .partial and .backup files) before the oldest kept backup's start on its
 * timeline or an earlier one. History files and anything unknown stay. Runs
 * under the repository's backup lock, so no backup starts meanwhile.
 */
#include <dirent.h>
#include <errno.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "backup.h"
#include "store.h"

/* Marks backup i kept, with the chain it builds on (prior labels, which sort before it). */
static void
keep_chain(const PdBackupList *list, bool *keep, size_t i)
{
    while (!keep[i])
    {
        keep[i] = true;
        const char *prior = list->backups[i].prior;
        size_t j = i;
        bool is_found = false;
        while (prior != NULL && !is_found && j-- > 0)
            is_found = strcmp(list->backups[j].label, prior) == 0;
        if (!is_found)
            return;
        i = j;
    }
}

static void
choose(const PdBackupList *list, const PdBackupExpireOptions *options, bool *keep)
{
    size_t fulls = 0;
    for (size_t i = list->count; i-- > 0;)
        if (options->retain_full > 0 && list->backups[i].type == PD_BACKUP_FULL &&
            fulls < (size_t)options->retain_full)
            fulls++, keep_chain(list, keep, i);
    for (size_t i = 0; options->retain_full > 0 && i < list->count;
         i++) /* what builds on a kept full stays */
        for (size_t j = 0; !keep[i] && list->backups[i].prior != NULL && j < i; j++)
            keep[i] = keep[j] && strcmp(list->backups[j].label, list->backups[i].prior) == 0;
    if (options->retain_days >= 0)
    {
        int64_t opens = (int64_t)time(NULL) - (int64_t)options->retain_days * 86400;
        for (size_t i = list->count; i-- > 0;)
        {
            keep_chain(list, keep, i);
            if (list->backups[i].stop_time <= opens)
                break; /* the newest that ended before the window opened: restores to its start */
        }
    }
    if (list->count > 0)
        keep_chain(list, keep, list->count - 1);
}

/* Whether the archived file name is WAL that no kept backup needs: before start on timeline or earlier. */
static bool
is_old_wal(const char *name, const PdWalName *start, uint64_t start_segno, uint32_t segment_bytes)
{
    PdWalName parsed;
    PdError ignored;
    uint64_t segno;
    pd_error_init(&ignored);
    if (!pd_archive_parse_name(name, &parsed, &ignored) || parsed.kind == PD_WAL_HISTORY ||
        !pd_archive_segno(&parsed, segment_bytes, &segno))
        return false;
    return parsed.timeline <= start->timeline && segno < start_segno;
}

static bool
expire_wal(PdArena *arena, const char *repo, const PdBackupManifest *oldest,
           const PdBackupExpireOptions *options, PdBackupExpireReport *report, PdError *err)
{
    PdArchiveReport scan;
    PdWalName start;
    uint64_t start_segno;
    if (!pd_archive_scan(arena, repo, options->key, false, &scan, err) ||
        !pd_archive_parse_name(oldest->start_wal, &start, err) ||
        !pd_archive_segno(&start, scan.segment_bytes, &start_segno))
        return false;
    DIR *handle = opendir(repo);
    if (handle == NULL)
        return pd_archive_io_error(err, "open the directory", repo);
    struct dirent *item;
    bool ok = true;
    while (ok && (item = readdir(handle)) != NULL)
    {
        if (!is_old_wal(item->d_name, &start, start_segno, scan.segment_bytes))
            continue;
        char *path = pd_archive_join(arena, repo, item->d_name);
        struct stat st;
        if (path == NULL)
        {
            ok = pd_arena_error(arena, err);
            continue;
        }
        uint64_t size = stat(path, &st) == 0 ? (uint64_t)st.st_size : 0;
        if (options->is_dry_run || unlink(path) == 0 || errno == ENOENT)
        {
            report->wal_removed++;
            report->wal_bytes += size;
        }
        else
            ok = pd_archive_io_error(err, "remove", path);
    }
    closedir(handle);
    return ok && (options->is_dry_run || pd_archive_fsync_dir(repo, err));
}

static bool
expire_locked(PdArena *arena, const PdBackupExpireOptions *options, PdBackupExpireReport *report,
              PdError *err)
{
    PdBackupList list;
    if (!pd_backup_list(arena, options->repo, options->key, &list, err))
        return false;
    if (list.count == 0)
        return true;
    bool *keep = pd_arena_calloc(arena, list.count, sizeof(*keep));
    report->removed = pd_arena_calloc(arena, list.count, sizeof(*report->removed));
    if (keep == NULL || report->removed == NULL)
        return pd_arena_error(arena, err);
    choose(&list, options, keep);
    const PdBackupManifest *oldest = NULL;
    for (size_t i = 0; i < list.count; i++)
    {
        if (keep[i])
        {
            oldest = oldest != NULL ? oldest : &list.backups[i];
            report->kept++;
            continue;
        }
        report->removed[report->removed_count++] = list.backups[i].label;
    }
    /* newest first: a diff or incr goes before what it builds on, so a crash meanwhile never leaves one whose
     * prior is gone */
    for (size_t i = report->removed_count; !options->is_dry_run && i-- > 0;)
        if (!pd_backup_remove(arena, options->repo, report->removed[i], err))
            return false;
    report->oldest_kept = oldest->label;
    return expire_wal(arena, options->repo, oldest, options, report, err);
}

bool
pd_backup_expire(PdArena *arena, const PdBackupExpireOptions *options, PdBackupExpireReport *report,
                 PdError *err)
{
    *report = (PdBackupExpireReport){0};
    if (options->retain_full < 1 && options->retain_days < 0)
    {
        pd_error_set(err, PD_ERR_USAGE,
                     "backup expire: say what to keep: --retain-full N, --retain-days D, or both");
        return pd_error_hint(err, "Nothing was removed.");
    }
    int lock_fd;
    if (!pd_backup_lock(arena, options->repo, &lock_fd, err))
        return false;
    bool ok = expire_locked(arena, options, report, err);
    close(lock_fd);
    return ok;
}
