/*
 * history.c - timeline history files, so archive check can follow WAL
 * across a promotion. PostgreSQL writes one per new timeline: a line per
 * ancestor, "parent<TAB>X/Y<TAB>reason", the last line being the switch
 * from the direct parent at LSN X/Y. Recovery along that timeline reads the
 * parent's segments up to the one holding the switch point and the child's
 * from there, so a segment missing on either side of the switch is a gap
 * that the per-timeline ranges (gaps.c) cannot see. The file is read by
 * db/wal_history.c, strictly, naming path:line.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "archive.h"
#include "prodata/wal.h"

bool
pd_archive_parse_history(const char *text, size_t length, const char *path, uint32_t timeline,
                         PdArchiveSwitch *out, PdError *err)
{
    PdArena *arena = pd_arena_new(0);
    if (arena == NULL)
        return pd_error_set(err, PD_ERR_NO_MEMORY, "out of memory");
    PdWalSwitch *switches = NULL;
    size_t count = 0;
    bool ok = pd_wal_history_parse(arena, text, length, path, timeline, &switches, &count, err);
    if (ok)
        *out = (PdArchiveSwitch){timeline, switches[count - 1].parent, switches[count - 1].switch_lsn};
    pd_arena_free(arena);
    return ok;
}
