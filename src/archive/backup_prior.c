/*
 * backup_prior.c - which backup a diff or incr builds on: an incr on the
 * newest complete backup, a diff on the newest full one, of the same
 * PostgreSQL major version, whose whole copy lies on the history of the
 * timeline the server is on now. A page unchanged since the prior backup's
 * start is only known to be the prior's copy if the server's history runs
 * through that copy: a timeline that branched off before the prior backup
 * ended (a restore to an earlier moment, then writes) may hold other pages
 * with the same old LSNs. When no backup qualifies, the backup is taken in
 * full, and the caller says why, as pgBackRest does.
 */
#include <stdio.h>
#include <string.h>

#include "backup.h"
#include "restore_plan.h"

/* The timeline's entry in the archive's scan, or NULL. */
static const PdArchiveTimeline *
find_timeline(const PdArchiveReport *scan, uint32_t timeline)
{
    for (size_t i = 0; i < scan->timeline_count; i++)
        if (scan->timelines[i].timeline == timeline)
            return &scan->timelines[i];
    return NULL;
}

/*
 * Whether the server's timeline descends from prior's after prior ended: following the history files from
 * timeline back to prior's, the branch off prior's timeline is at or after prior's stop.
 */
static bool
is_on_history(const PdArchiveReport *scan, const PdBackupManifest *prior, uint32_t timeline)
{
    for (int hops = 0; timeline != prior->timeline && hops < 1000; hops++)
    {
        const PdArchiveTimeline *entry = find_timeline(scan, timeline);
        if (entry == NULL || entry->parent == 0 || entry->parent >= timeline)
            return false;
        if (entry->parent == prior->timeline)
            return entry->switch_lsn >= prior->stop_lsn;
        timeline = entry->parent;
    }
    return timeline == prior->timeline;
}

/* Whether found, with its chain, could be restored (every backup it needs there, every map as recorded): a
 * backup built on a broken chain could never be. */
static bool
is_restorable(PdArena *arena, const char *repo, const PdArchiveKey *key, const PdBackupManifest *found,
              bool *restorable, const char **why_full, PdError *err)
{
    PdArena *scratch = pd_arena_new(0);
    PdRestorePlan plan;
    if (scratch == NULL)
        return pd_error_set(err, PD_ERR_NO_MEMORY, "out of memory for a restore plan");
    PdError problem;
    pd_error_init(&problem);
    *restorable = pd_restore_plan(scratch, repo, key, found, "/", &plan, &problem);
    if (!*restorable)
        *why_full = pd_arena_sprintf(arena, "the prior backup %s could not be restored: %s", found->label,
                                     problem.message);
    pd_arena_free(scratch);
    return problem.code != PD_ERR_NO_MEMORY || pd_error_set(err, PD_ERR_NO_MEMORY, "%s", problem.message);
}

bool
pd_backup_choose_prior(PdArena *arena, const char *repo, const PdArchiveKey *key, PdBackupType type,
                       uint32_t timeline, int pg_version, const PdBackupManifest **prior,
                       const char **why_full, PdError *err)
{
    *prior = NULL;
    *why_full = NULL;
    if (type == PD_BACKUP_FULL)
        return true;
    PdBackupList list;
    PdArchiveReport scan;
    if (!pd_backup_list(arena, repo, key, &list, err) ||
        !pd_archive_scan(arena, repo, key, false, &scan, err))
        return false;
    const PdBackupManifest *found = NULL;
    bool is_usable = false;
    for (size_t i = list.count; found == NULL && i-- > 0;)
        if (type == PD_BACKUP_INCR || list.backups[i].type == PD_BACKUP_FULL)
            found = &list.backups[i];
    if (found == NULL)
        *why_full =
            type == PD_BACKUP_DIFF ? "no full backup exists to build on" : "no backup exists to build on";
    else if (found->pg_version / 10000 != pg_version / 10000)
        *why_full = pd_arena_sprintf(arena, "the prior backup %s is of PostgreSQL %d", found->label,
                                     found->pg_version / 10000);
    else if (!is_on_history(&scan, found, timeline))
        *why_full = pd_arena_sprintf(arena,
                                     "the server's timeline %u did not continue from the prior backup %s "
                                     "(timeline %u) after it ended",
                                     timeline, found->label, found->timeline);
    else if (!is_restorable(arena, repo, key, found, &is_usable, why_full, err))
        return false;
    *prior = is_usable ? found : NULL;
    return is_usable || *why_full != NULL || pd_arena_error(arena, err); /* why_full NULL: no memory */
}
