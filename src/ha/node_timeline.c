/*
 * node_timeline.c - where an older timeline ended in the primary's lineage,
 * from the timeline history file in the node's own pg_wal (the WAL receiver
 * fetches it when it connects to the primary; db/wal_history.c reads it). A
 * standby that holds WAL of an older timeline past that end holds a fork:
 * PostgreSQL will not switch it to the primary's timeline, and its WAL
 * receiver would report its replay position to the primary as flushed
 * (pd_node_set_joining in node.h).
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ha/node_run.h"
#include "prodata/wal.h"

enum
{
    HISTORY_MAX = 1 << 20 /* bytes read of a history file: one line per promotion */
};

static bool
find_end(const char *text, size_t length, const char *path, uint32_t history_timeline, uint32_t timeline,
         uint64_t *end, bool *is_found, PdError *err)
{
    PdArena *arena = pd_arena_new(0);
    if (arena == NULL)
        return pd_error_set(err, PD_ERR_NO_MEMORY, "out of memory");
    PdWalSwitch *switches = NULL;
    size_t count = 0;
    bool ok = pd_wal_history_parse(arena, text, length, path, history_timeline, &switches, &count, err);
    for (size_t i = 0; ok && i < count; i++)
        if (switches[i].parent == timeline)
        {
            *end = switches[i].switch_lsn;
            *is_found = true;
        }
    pd_arena_free(arena);
    return ok;
}

bool
pd_node_timeline_end(const PdNode *node, uint32_t history_timeline, uint32_t timeline, uint64_t *end,
                     bool *has_history, bool *is_found, PdError *err)
{
    *has_history = false;
    *is_found = false;
    char path[PD_NODE_PATH_MAX + 64];
    snprintf(path, sizeof path, "%s/pg_wal/%08X.history", node->config.data_dir, history_timeline);
    FILE *file = fopen(path, "r");
    if (file == NULL)
        return errno == ENOENT || pd_error_set(err, PD_ERR_IO, "cannot open %s: %s", path, strerror(errno));
    char *text = malloc(HISTORY_MAX);
    size_t length = text != NULL ? fread(text, 1, HISTORY_MAX, file) : 0;
    bool is_read = text != NULL && !ferror(file);
    fclose(file);
    *has_history = is_read;
    bool ok = is_read ? find_end(text, length, path, history_timeline, timeline, end, is_found, err)
                      : pd_error_set(err, PD_ERR_IO, "cannot read %s", path);
    free(text);
    return ok;
}
