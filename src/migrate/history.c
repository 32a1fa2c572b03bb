/*
 * history.c - the prodata_migrations table and the deployers' lock. The lock
 * is a session-level advisory lock, so it is released even when the process
 * dies (the server ends the session); it is only ever tried, never waited
 * for inside a statement (apply.c polls, holding no snapshot). Rows are
 * written inside the transaction that applies the migration, so a file is
 * recorded exactly when its changes commit.
 */
#include "history.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* One fixed key for every deployer of a database; never change it, or old and new deployers stop excluding
 * each other. */
#define MIGRATE_LOCK_KEY "31650755335430241"

bool
pd_history_set_lock_timeout(PdArena *arena, PdDb *db, int timeout_ms, bool is_local, PdError *err)
{
    char value[32];
    snprintf(value, sizeof(value), "%dms", timeout_ms);
    const char *params[] = {value, is_local ? "true" : "false"};
    PdDbResult *result;
    return pd_db_query(arena, db, "SELECT set_config('lock_timeout', $1, $2::boolean)", 2, params, &result,
                       err);
}

bool
pd_history_try_lock(PdArena *arena, PdDb *db, bool *is_locked, PdError *err)
{
    PdDbResult *result;
    if (!pd_db_query(arena, db, "SELECT pg_try_advisory_lock(" MIGRATE_LOCK_KEY ")", 0, NULL, &result, err))
        return false;
    *is_locked = strcmp(pd_db_result_value(result, 0, 0), "t") == 0;
    return true;
}

bool
pd_history_lock_holder(PdArena *arena, PdDb *db, const char **holder, PdError *err)
{
    /* A bigint advisory key is held as classid (high 32 bits), objid (low 32 bits), objsubid 1. */
    PdDbResult *result;
    if (!pd_db_query(arena, db,
                     "SELECT format('pid %s (%s%s, %s since %s)', a.pid, coalesce(nullif(a.application_name, "
                     "''), 'no application_name'), coalesce(' from ' || host(a.client_addr), ''), "
                     "coalesce(a.state, 'unknown'), to_char(a.state_change AT TIME ZONE 'UTC', "
                     "'YYYY-MM-DD HH24:MI:SS \"UTC\"')) "
                     "FROM pg_locks l JOIN pg_stat_activity a ON a.pid = l.pid "
                     "WHERE l.locktype = 'advisory' AND l.granted AND l.objsubid = 1 "
                     "AND l.database = (SELECT oid FROM pg_database WHERE datname = current_database()) "
                     "AND l.classid = (" MIGRATE_LOCK_KEY "::bigint >> 32)::oid "
                     "AND l.objid = (" MIGRATE_LOCK_KEY "::bigint & 4294967295)::oid LIMIT 1",
                     0, NULL, &result, err))
        return false;
    *holder = pd_db_result_row_count(result) == 1 ? pd_db_result_value(result, 0, 0) : NULL;
    return true;
}

void
pd_history_unlock(PdDb *db)
{
    PdError ignored;
    pd_db_exec(db, "RESET lock_timeout; SELECT pg_advisory_unlock(" MIGRATE_LOCK_KEY ")", &ignored);
}

bool
pd_history_ensure(PdDb *db, PdError *err)
{
    /* IF NOT EXISTS draws a notice on every run once the tables exist: not news for the deployer's log. */
    static const char *sql =
        "SET client_min_messages = warning;\n"
        "CREATE TABLE IF NOT EXISTS " PD_HISTORY_TABLE " (\n"
        "    number integer PRIMARY KEY,\n"
        "    name text NOT NULL UNIQUE,\n"
        "    checksum text NOT NULL,\n"
        "    is_complete boolean NOT NULL,\n"
        "    schema_before_concurrent text,\n"
        "    concurrent_done integer NOT NULL DEFAULT 0,\n"
        "    applied_at timestamptz NOT NULL DEFAULT now(),\n"
        "    duration_ms bigint NOT NULL,\n"
        "    prodata_version text NOT NULL\n"
        ");\n"
        /* Histories written before concurrent_done existed gain it. Looked up first: ALTER TABLE takes its
         * lock even when the column exists, and would wait without bound for any open transaction that has
         * read the history. */
        "DO $prodata$ BEGIN IF NOT EXISTS (SELECT FROM pg_attribute WHERE attrelid = '" PD_HISTORY_TABLE
        "'::regclass AND attname = 'concurrent_done' AND NOT attisdropped) THEN ALTER TABLE " PD_HISTORY_TABLE
        " ADD COLUMN concurrent_done integer NOT NULL DEFAULT 0; END IF; END $prodata$;\n"
        /* an old single-text snapshot moves in on the next migration (drift_store.c) */
        "CREATE TABLE IF NOT EXISTS " PD_SNAPSHOT_LINES_TABLE " (\n"
        "    key text COLLATE \"C\" PRIMARY KEY,\n"
        "    definition text NOT NULL\n"
        ");\n"
        "RESET client_min_messages;";
    if (!pd_db_exec(db, sql, err))
        return pd_error_context(err, "while creating the migration history tables");
    return true;
}

bool
pd_history_read(PdArena *arena, PdDb *db, PdHistoryRow **rows, size_t *count, PdError *err)
{
    PdDbResult *result;
    const char *params[] = {PD_HISTORY_TABLE};
    if (!pd_db_query(arena, db, "SELECT to_regclass($1) IS NOT NULL", 1, params, &result, err))
        return pd_error_context(err, "while reading the migration history");
    if (strcmp(pd_db_result_value(result, 0, 0), "t") != 0)
    {
        *rows = NULL;
        *count = 0;
        return true;
    }
    /* concurrent_done through to_jsonb: a dry run reads, without altering, a history older than it */
    if (!pd_db_query(arena, db,
                     "SELECT number, name, checksum, is_complete, "
                     "to_char(applied_at AT TIME ZONE 'UTC', 'YYYY-MM-DD HH24:MI:SS') || ' UTC', "
                     "coalesce((to_jsonb(h) ->> 'concurrent_done')::integer, 0) "
                     "FROM " PD_HISTORY_TABLE " h ORDER BY number",
                     0, NULL, &result, err))
        return pd_error_context(err, "while reading the migration history");
    size_t row_count = pd_db_result_row_count(result);
    PdHistoryRow *history = pd_arena_calloc(arena, row_count ? row_count : 1, sizeof(*history));
    if (history == NULL)
        return pd_arena_error(arena, err);
    for (size_t row = 0; row < row_count; row++)
    {
        history[row].number = atoi(pd_db_result_value(result, row, 0));
        history[row].name = pd_db_result_value(result, row, 1);
        history[row].checksum = pd_db_result_value(result, row, 2);
        history[row].is_complete = strcmp(pd_db_result_value(result, row, 3), "t") == 0;
        history[row].applied_at = pd_db_result_value(result, row, 4);
        history[row].concurrent_done = atoi(pd_db_result_value(result, row, 5));
    }
    *rows = history;
    *count = row_count;
    return true;
}

bool
pd_history_record(PdArena *arena, PdDb *db, int number, const char *name, const char *checksum,
                  const char *schema_before_concurrent, long duration_ms, PdError *err)
{
    char number_text[16], duration_text[32];
    snprintf(number_text, sizeof(number_text), "%d", number);
    snprintf(duration_text, sizeof(duration_text), "%ld", duration_ms);
    const char *params[] = {number_text, name, checksum, schema_before_concurrent, duration_text, PD_VERSION};
    PdDbResult *result;
    return pd_db_query(arena, db,
                       "INSERT INTO " PD_HISTORY_TABLE
                       " (number, name, checksum, is_complete, schema_before_concurrent, duration_ms,"
                       " prodata_version) VALUES ($1, $2, $3, $4::text IS NULL, $4, $5, $6)",
                       6, params, &result, err);
}

/* Runs sql with the migration number as its one parameter. */
static bool
query_by_number(PdArena *arena, PdDb *db, const char *sql, int number, PdDbResult **result, PdError *err)
{
    char number_text[16];
    snprintf(number_text, sizeof(number_text), "%d", number);
    const char *params[] = {number_text};
    return pd_db_query(arena, db, sql, 1, params, result, err);
}

bool
pd_history_set_checksum(PdArena *arena, PdDb *db, int number, const char *checksum, PdError *err)
{
    char number_text[16];
    snprintf(number_text, sizeof(number_text), "%d", number);
    const char *params[] = {number_text, checksum};
    PdDbResult *result;
    return pd_db_query(arena, db, "UPDATE " PD_HISTORY_TABLE " SET checksum = $2 WHERE number = $1", 2,
                       params, &result, err);
}

bool
pd_history_schema_before_concurrent(PdArena *arena, PdDb *db, int number, const char **schema, PdError *err)
{
    PdDbResult *result;
    if (!query_by_number(arena, db,
                         "SELECT coalesce(schema_before_concurrent, '') FROM " PD_HISTORY_TABLE
                         " WHERE number = $1",
                         number, &result, err))
        return false;
    *schema = pd_db_result_row_count(result) == 1 ? pd_db_result_value(result, 0, 0) : "";
    return true;
}

bool
pd_history_mark_complete(PdArena *arena, PdDb *db, int number, PdError *err)
{
    PdDbResult *result;
    return query_by_number(arena, db,
                           "UPDATE " PD_HISTORY_TABLE
                           " SET is_complete = true, schema_before_concurrent = NULL "
                           "WHERE number = $1",
                           number, &result, err);
}

bool
pd_history_set_concurrent_done(PdArena *arena, PdDb *db, int number, int done, PdError *err)
{
    char number_text[16], done_text[16];
    snprintf(number_text, sizeof(number_text), "%d", number);
    snprintf(done_text, sizeof(done_text), "%d", done);
    const char *params[] = {number_text, done_text};
    PdDbResult *result;
    return pd_db_query(arena, db, "UPDATE " PD_HISTORY_TABLE " SET concurrent_done = $2 WHERE number = $1", 2,
                       params, &result, err);
}

bool
pd_history_forget(PdArena *arena, PdDb *db, int number, PdError *err)
{
    PdDbResult *result;
    return query_by_number(arena, db, "DELETE FROM " PD_HISTORY_TABLE " WHERE number = $1", number, &result,
                           err);
}
