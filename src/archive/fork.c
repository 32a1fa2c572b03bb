/*
 * fork.c - wal-fetch never restores WAL of a timeline past the point where
 * that timeline ended in the newest timeline's lineage. A primary fenced
 * after it archived WAL its standbys never received leaves segments of its
 * timeline past the switch a new primary made; a standby that restored one
 * (PostgreSQL asks for the older timeline's segment when it does not know
 * the newer one yet, or when the newer one is not archived yet) would replay
 * the fork, could never follow the new primary, and its WAL receiver would
 * report that replay position to it as flushed. The newest timeline is the
 * highest one whose history file the archive holds, probed upward from the
 * segment's own (promotions number timelines one after the other); its
 * history says where each ancestor ended. A segment that holds anything past
 * that end is answered "not archived": recovery then streams or restores the
 * newer timeline's segment for that place, whose WAL up to the switch is the
 * same. Only recovery's own requests are judged (PostgreSQL restores into
 * pg_wal/RECOVERYXLOG): pg_rewind --restore-target-wal reads a rewound
 * node's own fork on purpose, under the segment's name. A restore to an older
 * timeline on purpose (point-in-time recovery on a branch) is the backup
 * work's, not wal-fetch's.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#include "prodata/wal.h"
#include "store.h"

enum
{
    PROBE_MAX = 1024 /* timelines probed past the segment's: far more promotions than any archive saw */
};

/* The highest timeline above timeline whose history file the archive holds, or timeline itself. */
static uint32_t
newest_timeline(PdArena *arena, const char *dir, uint32_t timeline)
{
    uint32_t newest = timeline;
    for (uint32_t next = timeline + 1; next != 0 && next - timeline <= PROBE_MAX; next++)
    {
        struct stat info;
        char *path = pd_archive_join(arena, dir, pd_arena_sprintf(arena, "%08X.history", next));
        if (path == NULL || stat(path, &info) != 0)
            break;
        newest = next;
    }
    return newest;
}

/* The archived history file of timeline, into *text (arena). */
static bool
read_history(PdArena *arena, const char *dir, const PdArchiveKey *key, uint32_t timeline, char **text,
             size_t *length, PdError *err)
{
    char *name = pd_arena_sprintf(arena, "%08X.history", timeline);
    char *path = name != NULL ? pd_archive_join(arena, dir, name) : NULL;
    if (path == NULL)
        return pd_arena_error(arena, err);
    return pd_archive_read_small(arena, key, path, PD_WAL_HISTORY_MAX, text, length, err);
}

bool
pd_archive_check_fork(PdArena *arena, const PdArchiveOptions *options, const PdWalName *name,
                      uint64_t segment_bytes, PdError *err)
{
    uint64_t segno;
    if (name->kind != PD_WAL_SEGMENT || !pd_archive_is_segment_size(segment_bytes) ||
        !pd_archive_segno(name, (uint32_t)segment_bytes, &segno))
        return true;
    uint32_t newest = newest_timeline(arena, options->dir, name->timeline);
    if (newest == name->timeline)
        return true;
    char *text = NULL, *path = pd_arena_sprintf(arena, "%08X.history", newest);
    size_t length = 0;
    PdWalSwitch *switches = NULL;
    size_t count = 0;
    if (path == NULL || !read_history(arena, options->dir, options->key, newest, &text, &length, err) ||
        !pd_wal_history_parse(arena, text, length, path, newest, &switches, &count, err))
        return false;
    for (size_t i = 0; i < count; i++)
        if (switches[i].parent == name->timeline && (segno + 1) * segment_bytes > switches[i].switch_lsn)
        {
            uint64_t end = switches[i].switch_lsn;
            pd_error_set(err, PD_ERR_NOT_FOUND,
                         "not restored: %08X%08X%08X holds WAL of timeline %u past its end at %X/%X in the "
                         "lineage of timeline %u (%s)",
                         name->timeline, name->log, name->seg, name->timeline, (unsigned)(end >> 32),
                         (unsigned)end, newest, path);
            return pd_error_field(err, "timeline");
        }
    return true;
}
