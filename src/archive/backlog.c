/*
 * backlog.c - the archiver's side of `prodata archive check`: one query on a
 * running server reads pg_stat_archiver (counts, last archived and last
 * failed file) and the .ready files of pg_wal/archive_status, the segments
 * PostgreSQL finished and still waits to hand to archive_command. A growing
 * ready count is an archiver falling behind; it ends in a full disk. The
 * connection is opened and closed here; its conninfo never appears in errors.
 */
#include <stdlib.h>

#include "archive.h"
#include "prodata/db.h"

static const char backlog_sql[] =
    "SELECT a.archived_count, a.failed_count, coalesce(a.last_archived_wal, ''), "
    "coalesce(to_char(a.last_archived_time AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"'), ''), "
    "coalesce(a.last_failed_wal, ''), "
    "coalesce(to_char(a.last_failed_time AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"'), ''), "
    "r.ready, coalesce(r.oldest, ''), "
    "CASE WHEN pg_is_in_recovery() THEN '' ELSE pg_walfile_name(pg_current_wal_lsn()) END "
    "FROM pg_stat_archiver a, "
    "(SELECT count(*) AS ready, min(left(name, -6)) AS oldest FROM pg_ls_archive_statusdir() "
    " WHERE name LIKE '%.ready') r";

static void
close_db(void *db)
{
    pd_db_close(db);
}

bool
pd_archive_backlog(PdArena *arena, const char *conninfo, PdArchiveBacklog *backlog, PdError *err)
{
    PdDb *db = NULL;
    PdDbResult *result;
    if (!pd_db_connect(conninfo, &db, err))
        return false;
    if (!pd_arena_on_free(arena, close_db, db))
    {
        pd_db_close(db);
        return pd_arena_error(arena, err);
    }
    if (!pd_db_query(arena, db, backlog_sql, 0, NULL, &result, err))
        return pd_error_context(err, "reading pg_stat_archiver and pg_ls_archive_statusdir()");
    if (pd_db_result_row_count(result) != 1)
        return pd_error_set(err, PD_ERR_INTERNAL, "pg_stat_archiver gave %zu rows",
                            pd_db_result_row_count(result));
    backlog->archived_count = atoll(pd_db_result_value(result, 0, 0));
    backlog->failed_count = atoll(pd_db_result_value(result, 0, 1));
    backlog->last_archived_wal = pd_db_result_value(result, 0, 2);
    backlog->last_archived_time = pd_db_result_value(result, 0, 3);
    backlog->last_failed_wal = pd_db_result_value(result, 0, 4);
    backlog->last_failed_time = pd_db_result_value(result, 0, 5);
    backlog->ready_count = atoll(pd_db_result_value(result, 0, 6));
    backlog->oldest_ready = pd_db_result_value(result, 0, 7);
    backlog->current_wal = pd_db_result_value(result, 0, 8);
    return true;
}
