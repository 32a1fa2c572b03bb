/*
 * node_status.c - what the keeper publishes about its node, read in one
 * bounded connection: the postmaster's state (from its pid file, so a node
 * that is down or still recovering is a state, not an error), then, when it
 * accepts connections, its role, timeline and WAL positions, the standbys
 * streaming from it (pg_stat_replication), its physical slots and the
 * parameters waiting for a restart (pg_settings.pending_restart), and a
 * primary's archiver (pg_stat_archiver, the .ready files). A standby's
 * timeline is the one its received WAL ends on: the WAL receiver's while it
 * runs, else the newest timeline of the segment files in pg_wal that hold
 * its last received (or replayed) LSN (a segment on the new timeline exists
 * once WAL of it was received or restored; the last checkpoint's timeline
 * lags a switch until the next restartpoint). LSNs are
 * numbers, so the keeper compares them without parsing.
 */
#include <stdlib.h>
#include <string.h>

#include "ha/node_run.h"

static const char SELF_SQL[] =
    "SELECT pg_is_in_recovery(), "
    "CASE WHEN NOT pg_is_in_recovery() THEN pg_current_wal_lsn()::text END, "
    "CASE WHEN NOT pg_is_in_recovery() THEN pg_current_wal_flush_lsn()::text END, "
    "pg_last_wal_receive_lsn()::text, pg_last_wal_replay_lsn()::text, "
    "CASE WHEN NOT pg_is_in_recovery() "
    "  THEN ('x' || substr(pg_walfile_name(pg_current_wal_lsn()), 1, 8))::bit(32)::int "
    "  ELSE greatest((SELECT received_tli FROM pg_stat_wal_receiver), "
    "                (SELECT timeline_id FROM pg_control_checkpoint()), "
    "                (SELECT max(('x' || substr(w.name, 1, 8))::bit(32)::int) FROM pg_ls_waldir() w, "
    "                   (SELECT floor((greatest(pg_last_wal_receive_lsn(), pg_last_wal_replay_lsn()) "
    "                                  - '0/1'::pg_lsn) / s.size)::bigint AS segno, "
    "                           (4294967296 / s.size)::bigint AS per "
    "                      FROM (SELECT setting::bigint AS size FROM pg_settings "
    "                             WHERE name = 'wal_segment_size') s) e "
    "                  WHERE length(w.name) = 24 AND e.segno >= 0 AND substr(w.name, 9) = "
    "                        upper(lpad(to_hex(e.segno / e.per), 8, '0') || "
    "                              lpad(to_hex(e.segno % e.per), 8, '0')))) END, "
    "coalesce((SELECT status FROM pg_stat_wal_receiver), ''), "
    "coalesce((SELECT sender_host FROM pg_stat_wal_receiver), ''), "
    "coalesce((SELECT received_tli FROM pg_stat_wal_receiver), 0), "
    "CASE WHEN pg_is_in_recovery() THEN "
    "  floor(extract(epoch FROM clock_timestamp() - pg_last_xact_replay_timestamp()) * 1000)::bigint END, "
    "coalesce((SELECT pid FROM pg_stat_activity WHERE backend_type = 'walreceiver' "
    "            AND wait_event = 'LibPQWalReceiverConnect' LIMIT 1), 0), "
    "coalesce((SELECT floor(extract(epoch FROM clock_timestamp() - backend_start) * 1000)::bigint "
    "            FROM pg_stat_activity WHERE backend_type = 'walreceiver' "
    "            AND wait_event = 'LibPQWalReceiverConnect' LIMIT 1), 0)";

static const char PENDING_SQL[] = "SELECT name FROM pg_settings WHERE pending_restart ORDER BY name LIMIT 64";

static const char STANDBYS_SQL[] =
    "SELECT application_name, coalesce(state, ''), coalesce(sync_state, ''), flush_lsn::text, "
    "replay_lsn::text FROM pg_stat_replication ORDER BY application_name";

static const char SLOTS_SQL[] = "SELECT slot_name, active, restart_lsn::text FROM pg_replication_slots "
                                "WHERE slot_type = 'physical' ORDER BY slot_name";

/* One row on a primary that archives, none otherwise (a standby archives only with archive_mode always,
 * which prodata does not set). Ages in ms; the .ready files are the segments the archiver has not done. */
static const char ARCHIVE_SQL[] =
    "SELECT archived_count, coalesce(last_archived_wal, ''), "
    "floor(extract(epoch FROM clock_timestamp() - last_archived_time) * 1000)::bigint, failed_count, "
    "coalesce(last_failed_wal, ''), "
    "floor(extract(epoch FROM clock_timestamp() - last_failed_time) * 1000)::bigint, "
    "(SELECT count(*) FROM pg_ls_archive_statusdir() WHERE name LIKE '%.ready') "
    "FROM pg_stat_archiver WHERE NOT pg_is_in_recovery() AND current_setting('archive_mode') <> 'off'";

static uint64_t
lsn_at(const PdDbResult *result, size_t row, size_t column)
{
    uint64_t lsn = 0;
    if (!pd_db_result_is_null(result, row, column))
        pd_node_lsn_parse(pd_db_result_value(result, row, column), &lsn);
    return lsn;
}

static bool
read_self(PdArena *arena, PdDb *db, PdNodeStatus *status, PdError *err)
{
    PdDbResult *result;
    if (!pd_db_query(arena, db, SELF_SQL, 0, NULL, &result, err))
        return false;
    status->is_in_recovery = strcmp(pd_db_result_value(result, 0, 0), "t") == 0;
    status->current_lsn = lsn_at(result, 0, 1);
    status->flush_lsn = lsn_at(result, 0, 2);
    status->received_lsn = lsn_at(result, 0, 3);
    status->replayed_lsn = lsn_at(result, 0, 4);
    /* A WAL receiver that starts again reports the start of the segment it asks for as received, which
     * can be behind what was replayed: what a standby holds is at least what it replayed. */
    if (status->received_lsn > 0 && status->received_lsn < status->replayed_lsn)
        status->received_lsn = status->replayed_lsn;
    status->timeline = (uint32_t)strtoul(pd_db_result_value(result, 0, 5), NULL, 10);
    status->receiver_status = pd_arena_strdup(arena, pd_db_result_value(result, 0, 6));
    status->receiver_host = pd_arena_strdup(arena, pd_db_result_value(result, 0, 7));
    status->receiver_timeline = (uint32_t)strtoul(pd_db_result_value(result, 0, 8), NULL, 10);
    status->replay_age_ms =
        pd_db_result_is_null(result, 0, 9) ? -1 : strtoll(pd_db_result_value(result, 0, 9), NULL, 10);
    if (status->replay_age_ms < -1)
        status->replay_age_ms = 0; /* the primary's clock ahead of ours */
    status->connecting_pid = (int)strtol(pd_db_result_value(result, 0, 10), NULL, 10);
    status->connecting_ms = strtoll(pd_db_result_value(result, 0, 11), NULL, 10);
    return !pd_arena_failed(arena) || pd_arena_error(arena, err);
}

static bool
read_standbys(PdArena *arena, PdDb *db, PdNodeStatus *status, PdError *err)
{
    PdDbResult *result;
    if (!pd_db_query(arena, db, STANDBYS_SQL, 0, NULL, &result, err))
        return false;
    size_t count = pd_db_result_row_count(result);
    status->standbys = pd_arena_calloc(arena, count + 1, sizeof *status->standbys);
    if (status->standbys == NULL)
        return pd_arena_error(arena, err);
    for (size_t row = 0; row < count; row++)
    {
        PdNodeStandby *standby = &status->standbys[row];
        standby->name = pd_arena_strdup(arena, pd_db_result_value(result, row, 0));
        standby->state = pd_arena_strdup(arena, pd_db_result_value(result, row, 1));
        standby->sync_state = pd_arena_strdup(arena, pd_db_result_value(result, row, 2));
        standby->flush_lsn = lsn_at(result, row, 3);
        standby->replay_lsn = lsn_at(result, row, 4);
    }
    status->standby_count = count;
    return !pd_arena_failed(arena) || pd_arena_error(arena, err);
}

static bool
read_slots(PdArena *arena, PdDb *db, PdNodeStatus *status, PdError *err)
{
    PdDbResult *result;
    if (!pd_db_query(arena, db, SLOTS_SQL, 0, NULL, &result, err))
        return false;
    size_t count = pd_db_result_row_count(result);
    status->slots = pd_arena_calloc(arena, count + 1, sizeof *status->slots);
    if (status->slots == NULL)
        return pd_arena_error(arena, err);
    for (size_t row = 0; row < count; row++)
    {
        status->slots[row].name = pd_arena_strdup(arena, pd_db_result_value(result, row, 0));
        status->slots[row].is_active = strcmp(pd_db_result_value(result, row, 1), "t") == 0;
        status->slots[row].restart_lsn = lsn_at(result, row, 2);
    }
    status->slot_count = count;
    return !pd_arena_failed(arena) || pd_arena_error(arena, err);
}

static bool
read_pending_restart(PdArena *arena, PdDb *db, PdNodeStatus *status, PdError *err)
{
    PdDbResult *result;
    if (!pd_db_query(arena, db, PENDING_SQL, 0, NULL, &result, err))
        return false;
    size_t count = pd_db_result_row_count(result);
    status->pending_restart = pd_arena_calloc(arena, count + 1, sizeof *status->pending_restart);
    if (status->pending_restart == NULL)
        return pd_arena_error(arena, err);
    for (size_t i = 0; i < count; i++)
        status->pending_restart[i] = pd_arena_strdup(arena, pd_db_result_value(result, i, 0));
    status->pending_restart_count = count;
    return !pd_arena_failed(arena) || pd_arena_error(arena, err);
}

static int64_t
age_at(const PdDbResult *result, size_t column)
{
    if (pd_db_result_is_null(result, 0, column))
        return -1;
    int64_t age = strtoll(pd_db_result_value(result, 0, column), NULL, 10);
    return age < 0 ? 0 : age;
}

static bool
read_archive(PdArena *arena, PdDb *db, PdNodeStatus *status, PdError *err)
{
    PdDbResult *result;
    if (!pd_db_query(arena, db, ARCHIVE_SQL, 0, NULL, &result, err))
        return false;
    PdNodeArchive *archive = &status->archive;
    archive->last_archived_wal = "";
    archive->last_failed_wal = "";
    if (pd_db_result_row_count(result) == 0)
        return true;
    archive->is_known = true;
    archive->archived_count = strtoll(pd_db_result_value(result, 0, 0), NULL, 10);
    archive->last_archived_wal = pd_arena_strdup(arena, pd_db_result_value(result, 0, 1));
    archive->last_archived_age_ms = age_at(result, 2);
    archive->failed_count = strtoll(pd_db_result_value(result, 0, 3), NULL, 10);
    archive->last_failed_wal = pd_arena_strdup(arena, pd_db_result_value(result, 0, 4));
    archive->last_failed_age_ms = age_at(result, 5);
    archive->ready_count = strtoll(pd_db_result_value(result, 0, 6), NULL, 10);
    return !pd_arena_failed(arena) || pd_arena_error(arena, err);
}

static void
status_init(PdNodeStatus *status, PdNodeRun run, int pid)
{
    memset(status, 0, sizeof *status);
    status->receiver_status = "";
    status->receiver_host = "";
    status->replay_age_ms = -1;
    status->archive.last_archived_wal = "";
    status->archive.last_failed_wal = "";
    status->run = run;
    status->pid = pid;
}

static bool
read_rest(PdArena *arena, PdDb *db, PdNodeStatus *status, PdError *err)
{
    return read_standbys(arena, db, status, err) && read_slots(arena, db, status, err) &&
           read_pending_restart(arena, db, status, err) && read_archive(arena, db, status, err);
}

/*
 * The connection is kept from one call to the next (a new backend for every call cost tens of ms a tick on a
 * busy machine, twice a tick); one that was lost (PostgreSQL stopped or restarted since) is closed and the
 * status read again on a new one, so a restart costs no tick.
 */
bool
pd_node_status(PdArena *arena, PdNode *node, PdNodeStatus *status, PdError *err)
{
    int pid = 0;
    PdNodeRun run = pd_node_run_state(node, &pid);
    status_init(status, run, pid);
    if (run != PD_NODE_READY)
    {
        pd_node_status_close(node);
        return true;
    }
    if (node->status_db != NULL)
    {
        /* a second try only when the kept connection was found lost at its first statement (PostgreSQL
           restarted since): later failures, or a statement timed out, are errors, so the call keeps its
           bound */
        PdError kept_err = {0};
        bool is_self_read = read_self(arena, node->status_db, status, &kept_err);
        if (is_self_read && read_rest(arena, node->status_db, status, &kept_err))
        {
            status->is_connected = true;
            return true;
        }
        pd_node_status_close(node);
        if (is_self_read || kept_err.code != PD_ERR_DB_GONE)
        {
            if (err != NULL)
                *err = kept_err;
            return pd_error_context(err, "while reading the status of %s", node->member);
        }
    }
    status_init(status, run, pid);
    PdDb *db = NULL;
    if (!pd_node_connect(node, &db, err) || !read_self(arena, db, status, err) ||
        !read_rest(arena, db, status, err))
    {
        pd_db_close(db);
        return pd_error_context(err, "while reading the status of %s", node->member);
    }
    node->status_db = db;
    status->is_connected = true;
    return true;
}

void
pd_node_status_close(PdNode *node)
{
    pd_db_close(node->status_db);
    node->status_db = NULL;
}
