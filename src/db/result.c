/*
 * result.c - queries with parameters and the rows they return. A PdDbResult
 * wraps libpq's PGresult so that no libpq type leaves src/db; the PGresult is
 * freed with the arena the caller gave, and its size (PQresultMemorySize) is
 * charged against that arena's budget, so a request arena bounds the rows it
 * holds as it bounds its own allocations. Values are text (libpq's text format):
 * callers parse what they need. Accessors check their indexes, so a caller's
 * wrong guess about the shape of a result is a NULL, never a read past it.
 */
#include <stdlib.h>

#include "db/connection.h"

struct PdDbResult
{
    PGresult *result;
    size_t row_count;
    size_t column_count;
};

static void
clear_result(void *result)
{
    PQclear(result);
}

/*
 * Ties answer to the arena: its memory counts against the arena's budget and
 * it is freed with the arena. libpq has already read the whole result by now,
 * so a budget bounds what is kept, not the peak while reading. False (answer
 * cleared) on exhaustion.
 */
bool
pd_db_adopt_result(PdArena *arena, PGresult *answer, PdDbResult **result, PdError *err)
{
    size_t size = PQresultMemorySize(answer);
    if (!pd_arena_charge(arena, size))
    {
        PQclear(answer);
        return pd_arena_error(arena, err);
    }
    if (!pd_arena_on_free(arena, clear_result, answer))
    {
        pd_arena_uncharge(arena, size);
        PQclear(answer);
        return pd_arena_error(arena, err);
    }
    PdDbResult *wrapped = pd_arena_alloc(arena, sizeof(*wrapped));
    if (wrapped == NULL)
        return pd_arena_error(arena, err);
    wrapped->result = answer;
    wrapped->row_count = (size_t)PQntuples(answer);
    wrapped->column_count = (size_t)PQnfields(answer);
    *result = wrapped;
    return true;
}

bool
pd_db_query(PdArena *arena, PdDb *db, const char *sql, int param_count, const char *const *params,
            PdDbResult **result, PdError *err)
{
    if (db->mux != NULL)
        return pd_db_mux_query(arena, db, sql, false, param_count, params, result, err);
    if (pd_db_session_wraps(db))
        return pd_db_session_query(arena, db, sql, false, param_count, params, result, err);
    PGresult *answer =
        pd_db_collect(db, PQsendQueryParams(db->connection, sql, param_count, NULL, params, NULL, NULL, 0));
    ExecStatusType status = PQresultStatus(answer);
    if (status != PGRES_COMMAND_OK && status != PGRES_TUPLES_OK)
    {
        pd_db_set_query_error(db, answer, err);
        PQclear(answer);
        return false;
    }
    return pd_db_adopt_result(arena, answer, result, err);
}

long long
pd_db_result_affected(const PdDbResult *result)
{
    const char *text = result->result != NULL ? PQcmdTuples(result->result) : "";
    return text[0] != '\0' ? atoll(text) : -1;
}

size_t
pd_db_result_row_count(const PdDbResult *result)
{
    return result->row_count;
}

size_t
pd_db_result_column_count(const PdDbResult *result)
{
    return result->column_count;
}

const char *
pd_db_result_column_name(const PdDbResult *result, size_t column)
{
    if (column >= result->column_count)
        return NULL;
    return PQfname(result->result, (int)column);
}

static bool
is_in_range(const PdDbResult *result, size_t row, size_t column)
{
    return row < result->row_count && column < result->column_count;
}

const char *
pd_db_result_value(const PdDbResult *result, size_t row, size_t column)
{
    if (!is_in_range(result, row, column))
        return NULL;
    return PQgetvalue(result->result, (int)row, (int)column);
}

bool
pd_db_result_is_null(const PdDbResult *result, size_t row, size_t column)
{
    return is_in_range(result, row, column) && PQgetisnull(result->result, (int)row, (int)column) == 1;
}

size_t
pd_db_result_length(const PdDbResult *result, size_t row, size_t column)
{
    if (!is_in_range(result, row, column))
        return 0;
    return (size_t)PQgetlength(result->result, (int)row, (int)column);
}
