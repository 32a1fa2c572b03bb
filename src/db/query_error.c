/*
 * query_error.c - a failed statement becomes a PdError: the server's sqlstate,
 * message, detail and hint; a code and is_retryable from the SQLSTATE table
 * (sqlstate.c); for a constraint that refused a value, the constraint and
 * the column at fault; and the position of the error in the statement, kept
 * on the connection for callers that place it in a file. A connection lost
 * during the statement is "the server went away" whatever the server said.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "db/connection.h"
#include "db/sqlstate.h"

static const char *
error_field(const PGresult *result, int field)
{
    return result != NULL ? PQresultErrorField(result, field) : NULL;
}

static void
copy_field(char *target, size_t size, const PGresult *result, int field)
{
    const char *value = error_field(result, field);
    snprintf(target, size, "%s", value ? value : "");
}

static void
copy_server_parts(const PGresult *result, PdError *err)
{
    copy_field(err->sqlstate, sizeof(err->sqlstate), result, PG_DIAG_SQLSTATE);
    copy_field(err->detail, sizeof(err->detail), result, PG_DIAG_MESSAGE_DETAIL);
    copy_field(err->hint, sizeof(err->hint), result, PG_DIAG_MESSAGE_HINT);
}

/* The server is gone (shut down, crashed, terminated our backend) or the network is: say so, retryably. */
static bool
set_connection_lost(PdDb *db, const PGresult *result, PdError *err)
{
    const char *primary = error_field(result, PG_DIAG_MESSAGE_PRIMARY);
    pd_error_set(err, PD_ERR_DB_GONE, "lost the connection to PostgreSQL");
    db->is_broken = true;
    copy_server_parts(result, err);
    err->is_retryable = true;
    if (primary != NULL)
        return pd_error_detail(err, "%s", primary);
    /* libpq's own text ends with a newline. */
    char message[512];
    snprintf(message, sizeof(message), "%s", PQerrorMessage(db->connection));
    message[strcspn(message, "\n")] = '\0';
    return pd_error_detail(err, "%s", message);
}

/* Names the constraint, and the column from the server's field or, for a key, from the detail. */
static void
name_constraint(const PGresult *result, PdError *err)
{
    const char *constraint = error_field(result, PG_DIAG_CONSTRAINT_NAME);
    if (constraint != NULL)
        pd_error_constraint(err, constraint);
    const char *column = error_field(result, PG_DIAG_COLUMN_NAME);
    if (column != NULL)
        pd_error_field(err, "%s", column);
    else
        pd_db_key_columns(err->detail, err->field, sizeof(err->field));
}

bool
pd_db_set_query_error(PdDb *db, const PGresult *result, PdError *err)
{
    db->error_position = -1;
    if (PQstatus(db->connection) == CONNECTION_BAD)
        return set_connection_lost(db, result, err);
    const char *primary = error_field(result, PG_DIAG_MESSAGE_PRIMARY);
    PdDbSqlstateClass class = pd_db_sqlstate_classify(error_field(result, PG_DIAG_SQLSTATE));
    pd_error_set(err, class.code, "%s", primary ? primary : PQerrorMessage(db->connection));
    err->is_retryable = class.is_retryable;
    if (class.code == PD_ERR_DB_GONE)
        db->is_broken = true; /* a pool closes it: reconnecting may find the server, or the new primary */
    copy_server_parts(result, err);
    if (class.is_constraint)
        name_constraint(result, err);
    const char *position = error_field(result, PG_DIAG_STATEMENT_POSITION);
    if (position != NULL)
        db->error_position = atoi(position) - 1; /* PostgreSQL counts characters from 1 */
    return false;
}
