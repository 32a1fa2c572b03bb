/*
 * node_control.c - what a switchover needs of the node beyond pg_ctl: a
 * CHECKPOINT before the stop when much WAL was written since the last one
 * (so the shutdown checkpoint, written while no write is accepted, is
 * short; a small one costs less done once, by the shutdown itself) and
 * pg_controldata read after it (the state,
 * a clean "shut down", and the last checkpoint's location: after a clean stop
 * the last record the primary wrote). The output is read as LC_ALL=C writes
 * it (node_exec.c sets that); a field missing is an error, never a guess.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

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
    char state[64], location[32], timeline[16];
    uint64_t lsn = 0;
    if (!field_of(result.output, "Database cluster state", state, sizeof state) ||
        !field_of(result.output, "Latest checkpoint location", location, sizeof location) ||
        !field_of(result.output, "Latest checkpoint's TimeLineID", timeline, sizeof timeline) ||
        !pd_node_lsn_parse(location, &lsn) || atoi(timeline) < 1)
    {
        pd_error_set(err, PD_ERR_INTERNAL,
                     "pg_controldata of %s: its output lacks the state, the latest "
                     "checkpoint or its timeline",
                     node->member);
        return pd_error_detail(err, "%.400s", result.output);
    }
    *control = (PdNodeControl){.is_shut_down = strcmp(state, "shut down") == 0,
                               .checkpoint_lsn = lsn,
                               .timeline = (uint32_t)atoi(timeline)};
    return true;
}

/* PostgreSQL 15's pg_control (ControlFileData, pg_control.h): pg_control_version at byte 8, the cluster
   state at 16 (DBState, DB_SHUTDOWNED = 1). Read only to learn early that a shutdown checkpoint was
   written; pd_node_control (pg_controldata, which checks the file's CRC) then says so for certain. */
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
