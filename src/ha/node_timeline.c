/*
 * node_timeline.c - where an older timeline ended in the primary's lineage,
 * from the timeline history file in the node's own pg_wal (the WAL receiver
 * fetches it when it connects to the primary; db/wal_history.c reads it). A
 * standby that holds WAL of an older timeline past that end holds a fork:
 * PostgreSQL will not switch it to the primary's timeline, and its WAL
 * receiver would report its replay position to the primary as flushed
 * (pd_node_set_joining in node.h). Before a standby starts, the segment of
 * an older timeline that holds a switch point is renamed to <name>.forked
 * (a name recovery never reads) when the newer timeline's segment is not
 * there: PostgreSQL, knowing the new timeline at start, would otherwise
 * replay the older one's WAL past the switch from it.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "ha/node_run.h"
#include "prodata/wal.h"

/* The history file at path into *text (malloc'd, *length bytes); *text NULL when there is none. */
static bool
read_history(const char *path, char **text, size_t *length, PdError *err)
{
    *text = NULL;
    *length = 0;
    FILE *file = fopen(path, "r");
    if (file == NULL)
        return errno == ENOENT || pd_error_set(err, PD_ERR_IO, "cannot open %s: %s", path, strerror(errno));
    char *read = malloc(PD_WAL_HISTORY_MAX);
    size_t count = read != NULL ? fread(read, 1, PD_WAL_HISTORY_MAX, file) : 0;
    bool is_read = read != NULL && !ferror(file) && count < PD_WAL_HISTORY_MAX;
    fclose(file);
    if (!is_read)
    {
        free(read);
        return pd_error_set(err, PD_ERR_IO, "cannot read %s whole (%d bytes at most)", path,
                            PD_WAL_HISTORY_MAX);
    }
    *text = read;
    *length = count;
    return true;
}

/* pg_wal/<history_timeline>.history's lines into *switches (arena), *count; 0 of them when there is none. */
static bool
read_switches(PdArena *arena, const PdNode *node, uint32_t history_timeline, PdWalSwitch **switches,
              size_t *count, PdError *err)
{
    char path[PD_NODE_PATH_MAX + 64];
    snprintf(path, sizeof path, "%s/pg_wal/%08X.history", node->config.data_dir, history_timeline);
    char *text = NULL;
    size_t length = 0;
    *switches = NULL;
    *count = 0;
    if (!read_history(path, &text, &length, err))
        return false;
    bool ok = text == NULL ||
              pd_wal_history_parse(arena, text, length, path, history_timeline, switches, count, err);
    free(text);
    return ok;
}

bool
pd_node_timeline_end(const PdNode *node, uint32_t history_timeline, uint32_t timeline, uint64_t *end,
                     bool *has_history, bool *is_found, PdError *err)
{
    *has_history = false;
    *is_found = false;
    PdArena *arena = pd_arena_new(0);
    PdWalSwitch *switches = NULL;
    size_t count = 0;
    bool ok = arena != NULL ? read_switches(arena, node, history_timeline, &switches, &count, err)
                            : pd_error_set(err, PD_ERR_NO_MEMORY, "out of memory");
    *has_history = count > 0;
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
pd_node_timeline_switch(const PdNode *node, uint32_t timeline, PdWalSwitch *last, PdError *err)
{
    *last = (PdWalSwitch){0};
    PdArena *arena = pd_arena_new(0);
    PdWalSwitch *switches = NULL;
    size_t count = 0;
    bool ok = arena != NULL ? read_switches(arena, node, timeline, &switches, &count, err)
                            : pd_error_set(err, PD_ERR_NO_MEMORY, "out of memory");
    if (ok && count > 0)
        *last = switches[count - 1];
    pd_arena_free(arena);
    return ok;
}

/* The size of the WAL segment files in dir (every segment file has it), or 0 when there is none. */
static uint64_t
segment_size(const char *dir)
{
    DIR *entries = opendir(dir);
    if (entries == NULL)
        return 0;
    uint64_t size = 0;
    struct dirent *entry;
    while (size == 0 && (entry = readdir(entries)) != NULL)
    {
        char path[PD_NODE_PATH_MAX + 64];
        struct stat info;
        if (strlen(entry->d_name) != 24 || strspn(entry->d_name, "0123456789ABCDEF") != 24)
            continue;
        /* the name is 24 characters (checked above); a path cut short would only fail stat */
        if (snprintf(path, sizeof path, "%s/%.24s", dir, entry->d_name) >= (int)sizeof path)
            continue;
        if (stat(path, &info) == 0 && S_ISREG(info.st_mode) && info.st_size >= (1 << 20) &&
            (info.st_size & (info.st_size - 1)) == 0)
            size = (uint64_t)info.st_size;
    }
    closedir(entries);
    return size;
}

/* The file name of the segment of timeline holding lsn. */
static void
segment_name(uint32_t timeline, uint64_t lsn, uint64_t size, char name[25])
{
    uint64_t segno = lsn / size, per_log = UINT64_C(0x100000000) / size;
    snprintf(name, 25, "%08X%08X%08X", timeline, (uint32_t)(segno / per_log), (uint32_t)(segno % per_log));
}

static bool
file_exists(const char *dir, const char *name)
{
    char path[PD_NODE_PATH_MAX + 64];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    return access(path, F_OK) == 0;
}

/* pg_wal/name renamed to name.forked (or name.forked.N when taken: never over another), in the same
 * directory so on the same file system, the directory synced. */
static bool
set_aside(const char *wal_dir, const char *name, PdError *err)
{
    char from[PD_NODE_PATH_MAX + 64], to[PD_NODE_PATH_MAX + 96];
    snprintf(from, sizeof from, "%s/%s", wal_dir, name);
    int result = -1;
    for (int n = 0; n < 100 && result != 0; n++)
    {
        if (n == 0)
            snprintf(to, sizeof to, "%s/%s.forked", wal_dir, name);
        else
            snprintf(to, sizeof to, "%s/%s.forked.%d", wal_dir, name, n);
        result = link(from, to);
        if (result != 0 && errno != EEXIST)
            return pd_error_set(err, PD_ERR_IO, "cannot link %s to %s: %s", from, to, strerror(errno));
    }
    if (result != 0)
        return pd_error_set(err, PD_ERR_IO, "cannot set %s aside: 100 copies are there already", from);
    if (unlink(from) != 0)
        return pd_error_set(err, PD_ERR_IO, "cannot remove %s: %s", from, strerror(errno));
    int dir = open(wal_dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    bool is_synced = dir >= 0 && fsync(dir) == 0;
    if (dir >= 0)
        close(dir);
    return is_synced || pd_error_set(err, PD_ERR_IO, "cannot sync %s: %s", wal_dir, strerror(errno));
}

bool
pd_node_set_fork_aside(PdNode *node, uint32_t history_timeline, const PdWalSwitch *published, int *moved,
                       PdError *err)
{
    *moved = 0;
    char wal_dir[PD_NODE_PATH_MAX + 16];
    snprintf(wal_dir, sizeof wal_dir, "%s/pg_wal", node->config.data_dir);
    uint64_t size = segment_size(wal_dir);
    PdArena *arena = pd_arena_new(0);
    PdWalSwitch *switches = NULL;
    size_t count = 0;
    bool ok = arena != NULL
                  ? size == 0 || read_switches(arena, node, history_timeline, &switches, &count, err)
                  : pd_error_set(err, PD_ERR_NO_MEMORY, "out of memory");
    const PdWalSwitch *lines = switches;
    if (ok && size > 0 && count == 0 && published != NULL && published->parent > 0)
    {
        lines = published;
        count = 1;
    }
    for (size_t i = 0; ok && size > 0 && i < count; i++)
    {
        uint32_t child = i + 1 < count ? lines[i + 1].parent : history_timeline;
        char old_name[25], new_name[25];
        segment_name(lines[i].parent, lines[i].switch_lsn, size, old_name);
        segment_name(child, lines[i].switch_lsn, size, new_name);
        if (file_exists(wal_dir, old_name) && !file_exists(wal_dir, new_name))
        {
            ok = set_aside(wal_dir, old_name, err);
            *moved += ok;
        }
    }
    pd_arena_free(arena);
    return ok;
}
