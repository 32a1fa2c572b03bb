/*
 * query_error.c - a failed statement becomes a PdError: the server's sqlstate,
 * message, detail and hint, and the position of the error in the statement,
 * kept on the connection for callers that place it in a file. A connection
 * lost during the statement is told apart from an error the server answered.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "db/connection.h"

static void
copy_field(char *target, size_t size, const PGresult *result, int field)
{
    const char *value = result ? PQresultErrorField(result, field) : NULL;
    snprintf(target, size, "%s", value ? value : "");
}

bool
pd_db_set_query_error(PdDb *db, const PGresult *result, PdError *err)
{
    db->error_position = -1;
    if (PQstatus(db->connection) == CONNECTION_BAD)
    {
        pd_error_set(err, PD_ERR_DB_CONNECT, "lost the connection to PostgreSQL");
        return pd_error_detail(err, "%s", PQerrorMessage(db->connection));
    }
    const char *sqlstate = result ? PQresultErrorField(result, PG_DIAG_SQLSTATE) : NULL;
    const char *primary = result ? PQresultErrorField(result, PG_DIAG_MESSAGE_PRIMARY) : NULL;
    PdErrorCode code = PD_ERR_DB_QUERY;
    if (sqlstate != NULL && strcmp(sqlstate, "55P03") == 0)
        code = PD_ERR_LOCK_TIMEOUT;
    pd_error_set(err, code, "%s", primary ? primary : PQerrorMessage(db->connection));
    if (sqlstate != NULL)
        snprintf(err->sqlstate, sizeof(err->sqlstate), "%s", sqlstate);
    copy_field(err->detail, sizeof(err->detail), result, PG_DIAG_MESSAGE_DETAIL);
    copy_field(err->hint, sizeof(err->hint), result, PG_DIAG_MESSAGE_HINT);
    const char *position = result ? PQresultErrorField(result, PG_DIAG_STATEMENT_POSITION) : NULL;
    if (position != NULL)
        db->error_position = atoi(position) - 1; /* PostgreSQL counts characters from 1 */
    return false;
}
