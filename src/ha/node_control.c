/*
 * node_control.c - what a switchover needs of the node beyond pg_ctl: a
 * CHECKPOINT before the stop when much WAL was written since the last one
 * (so the shutdown checkpoint, written while no write is accepted, is
 * short; a small one costs less done once, by the shutdown itself) and
 * pg_controldata read after it (the state,
 * a clean "shut down", and the last checkpoint's location: after a clean stop
 * the last record the primary wrote). The output is read as LC_ALL=C writes
 * it (node_exec.c sets that); a field missing is an error, never a guess.
 * Also a WAL segment switch, which a backup taken on a standby waits for.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "ha/node_run.h"

bool
pd_node_checkpoint(PdNode *node, int64_t min_wal_bytes, bool *is_done, PdError *err)
{
    PdArena *arena = pd_arena_new(0);
    if (arena == NULL)
        return pd_error_set(err, PD_ERR_NO_MEMORY, "out of memory");
    *is_done = false;
    PdDb *db = NULL;
    PdDbResult *result;
    bool is_ok = pd_node_connect(node, &db, err) &&
                 pd_db_query(arena, db,
                             "SELECT pg_wal_lsn_diff(pg_current_wal_insert_lsn(), redo_lsn)::bigint "
                             "FROM pg_control_checkpoint()",
                             0, NULL, &result, err);
    if (is_ok && strtoll(pd_db_result_value(result, 0, 0), NULL, 10) >= min_wal_bytes)
    {
        is_ok = pd_db_query(arena, db, "CHECKPOINT", 0, NULL, &result, err);
        *is_done = is_ok;
    }
    pd_db_close(db);
    pd_arena_free(arena);
    return is_ok || pd_error_context(err, "while asking %s for a checkpoint", node->member);
}

bool
pd_node_switch_wal(PdNode *node, PdError *err)
{
    PdArena *arena = pd_arena_new(0);
    if (arena == NULL)
        return pd_error_set(err, PD_ERR_NO_MEMORY, "out of memory");
    PdDb *db = NULL;
    PdDbResult *result;
    /* one small record first: a switch in an empty segment does nothing, and a standby's backup may end at
       that segment's start (it needs the record there) */
    bool is_ok = pd_node_connect(node, &db, err) &&
                 pd_db_query(arena, db, "SELECT pg_logical_emit_message(false, 'prodata', 'switch')", 0, NULL,
                             &result, err) &&
                 pd_db_query(arena, db, "SELECT pg_switch_wal()", 0, NULL, &result, err);
    pd_db_close(db);
    pd_arena_free(arena);
    return is_ok || pd_error_context(err, "while asking %s for a WAL segment switch", node->member);
}

/* The value after "name:" and its padding on a line of output, into value; false when absent. */
static bool
field_of(const char *output, const char *name, char *value, size_t size)
{
    size_t length = strlen(name);
    for (const char *line = output; line != NULL && *line != '\0';)
    {
        const char *end = strchr(line, '\n');
        size_t line_length = end != NULL ? (size_t)(end - line) : strlen(line);
        if (line_length > length && strncmp(line, name, length) == 0 && line[length] == ':')
        {
            const char *start = line + length + 1;
            while (*start == ' ')
                start++;
            size_t value_length = (size_t)(line + line_length - start);
            if (value_length >= size)
                return false;
            memcpy(value, start, value_length);
            value[value_length] = '\0';
            return true;
        }
        line = end != NULL ? end + 1 : NULL;
    }
    return false;
}

bool
pd_node_control(PdNode *node, int timeout_ms, PdNodeControl *control, PdError *err)
{
    const char *argv[] = {"pg_controldata", "-D", node->config.data_dir, NULL};
    PdNodeRunResult result;
    if (!pd_node_exec(node, argv, timeout_ms, &result, err))
        return false;
    if (result.exit_code != 0)
        return pd_node_exec_error("pg_controldata", timeout_ms, &result, err);
    if (strstr(result.output, "CRC checksum does not match") != NULL)
    {
        pd_error_set(err, PD_ERR_INTERNAL, "pg_controldata of %s: the control file's CRC does not match",
                     node->member);
        return pd_error_detail(err, "%.400s", result.output);
    }
    char state[64], location[32], timeline[16], block[16], segment[24];
    uint64_t lsn = 0;
    if (!field_of(result.output, "Database cluster state", state, sizeof state) ||
        !field_of(result.output, "Latest checkpoint location", location, sizeof location) ||
        !field_of(result.output, "Latest checkpoint's TimeLineID", timeline, sizeof timeline) ||
        !field_of(result.output, "WAL block size", block, sizeof block) ||
        !field_of(result.output, "Bytes per WAL segment", segment, sizeof segment) ||
        !pd_node_lsn_parse(location, &lsn) || atoi(timeline) < 1 || atoi(block) < 1024 ||
        strtoull(segment, NULL, 10) < (1 << 20))
    {
        pd_error_set(err, PD_ERR_INTERNAL,
                     "pg_controldata of %s: its output lacks the state, the latest "
                     "checkpoint or its timeline",
                     node->member);
        return pd_error_detail(err, "%.400s", result.output);
    }
    *control = (PdNodeControl){.is_shut_down = strcmp(state, "shut down") == 0,
                               .checkpoint_lsn = lsn,
                               .timeline = (uint32_t)atoi(timeline),
                               .wal_block_bytes = (uint32_t)atoi(block),
                               .wal_segment_bytes = strtoull(segment, NULL, 10)};
    return true;
}

/* PostgreSQL 15's pg_control (ControlFileData, pg_control.h): pg_control_version at byte 8, the cluster
   state at 16 (DBState, DB_SHUTDOWNED = 1). Read only to learn early that a shutdown checkpoint was
   written; pd_node_control (pg_controldata, its CRC warning taken as an error) then says so for certain. */
enum
{
    CONTROL_VERSION_15 = 1300,
    CONTROL_VERSION_AT = 8,
    CONTROL_STATE_AT = 16,
    CONTROL_SHUT_DOWN = 1,
};

bool
pd_node_control_says_shut_down(const PdNode *node)
{
    char path[PD_NODE_PATH_MAX + 32];
    snprintf(path, sizeof path, "%s/global/pg_control", node->config.data_dir);
    FILE *file = fopen(path, "rb");
    if (file == NULL)
        return false;
    unsigned char bytes[CONTROL_STATE_AT + 4];
    bool is_read = fread(bytes, 1, sizeof bytes, file) == sizeof bytes;
    fclose(file);
    uint32_t version, state;
    memcpy(&version, bytes + CONTROL_VERSION_AT, sizeof version);
    memcpy(&state, bytes + CONTROL_STATE_AT, sizeof state);
    return is_read && version == CONTROL_VERSION_15 && state == CONTROL_SHUT_DOWN;
}

/* PostgreSQL 15's WAL layout (xlog_internal.h, xlogrecord.h, pg_control.h): a record's header is
   xl_tot_len (4), xl_xid (4), xl_prev (8), xl_info (1), xl_rmid (1); records are placed at MAXALIGN'd
   offsets; a page header is 24 bytes on every page but a segment's first (40). A shutdown checkpoint is
   rmgr 0 (XLOG) with info 0x00 (XLOG_CHECKPOINT_SHUTDOWN) in the high four bits. */
enum
{
    WAL_SHORT_HEADER = 24,
    WAL_LONG_HEADER = 40,
    WAL_RECORD_HEADER = 24,
    WAL_INFO_AT = 16,
    WAL_RMID_AT = 17,
    WAL_RECORD_MAX = 4096, /* a shutdown checkpoint is about 120 bytes */
};

/* lsn moved on by length bytes of record data, page headers skipped (lsn itself past any header). */
static uint64_t
advance(uint64_t lsn, uint64_t length, uint64_t block, uint64_t segment_bytes)
{
    while (length > 0)
    {
        uint64_t room = block - lsn % block, take = length < room ? length : room;
        lsn += take;
        length -= take;
        if (length > 0)
            lsn += lsn % segment_bytes == 0 ? WAL_LONG_HEADER : WAL_SHORT_HEADER;
    }
    return lsn;
}

bool
pd_node_record_end(const PdNode *node, const PdNodeControl *control, uint64_t *end, PdError *err)
{
    uint64_t lsn = control->checkpoint_lsn, size = control->wal_segment_bytes,
             block = control->wal_block_bytes;
    if (size == 0 || block == 0)
        return pd_error_set(err, PD_ERR_INTERNAL, "the WAL block and segment sizes are not known");
    uint64_t segno = lsn / size, per_log = UINT64_C(0x100000000) / size;
    char path[PD_NODE_PATH_MAX + 48];
    snprintf(path, sizeof path, "%s/pg_wal/%08X%08X%08X", node->config.data_dir, control->timeline,
             (uint32_t)(segno / per_log), (uint32_t)(segno % per_log));
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return pd_error_set(err, PD_ERR_NOT_FOUND, "cannot open %s: %s", path, strerror(errno));
    unsigned char header[WAL_RECORD_HEADER];
    bool is_whole = lsn % block + sizeof header <= block; /* the header on one page: checked whole */
    size_t wanted = is_whole ? sizeof header : sizeof(uint32_t);
    bool is_read = lsn % block + sizeof(uint32_t) <= block &&
                   pread(fd, header, wanted, (off_t)(lsn % size)) == (ssize_t)wanted;
    close(fd);
    uint32_t total = 0;
    memcpy(&total, header, sizeof total);
    if (!is_read || total < WAL_RECORD_HEADER || total > WAL_RECORD_MAX ||
        (is_whole && (header[WAL_RMID_AT] != 0 || (header[WAL_INFO_AT] & 0xF0) != 0)))
        return pd_error_set(err, PD_ERR_INTERNAL, "no shutdown checkpoint record at %X/%X in %s",
                            (unsigned)(lsn >> 32), (unsigned)lsn, path);
    *end = advance(lsn, ((uint64_t)total + 7) & ~UINT64_C(7), block, size);
    return true;
}
