/*
 * db.c - one PostgreSQL connection over libpq and the translation of its
 * failures into PdError values. Connection parameters are libpq's own (a
 * conninfo or URI, PG* variables, ~/.pgpass); this file adds only
 * application_name and never logs or echoes a password. Server notices are
 * swallowed here: the library does not print, and the CLI asks for warnings
 * it wants through explicit queries.
 */
#include "prodata/db.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "prodata/strbuf.h"

struct PdDb
{
    PGconn *connection;
    PGcancel *cancel;
    int error_position; /* of the last failed statement, -1 when unknown */
};

static void
ignore_notice(void *arg, const char *message)
{
    (void)arg;
    (void)message;
}

bool
pd_db_conninfo_has_password(const char *conninfo)
{
    if (conninfo == NULL || *conninfo == '\0')
        return false;
    char *error_message = NULL;
    PQconninfoOption *options = PQconninfoParse(conninfo, &error_message);
    if (options == NULL)
    {
        /* Unparseable: it may hold a password we cannot find, so treat it as one. */
        PQfreemem(error_message);
        return true;
    }
    bool has_password = false;
    for (PQconninfoOption *option = options; option->keyword != NULL; option++)
        if (strcmp(option->keyword, "password") == 0 && option->val != NULL && option->val[0] != '\0')
            has_password = true;
    PQconninfoFree(options);
    return has_password;
}

char *
pd_db_mask_conninfo(PdArena *arena, const char *conninfo)
{
    if (conninfo == NULL)
        return pd_arena_strdup(arena, "");
    char *error_message = NULL;
    PQconninfoOption *options = PQconninfoParse(conninfo, &error_message);
    if (options == NULL)
    {
        PQfreemem(error_message);
        return pd_arena_strdup(arena, "(not a valid connection string; hidden)");
    }
    PdStrbuf buf;
    pd_strbuf_init(&buf, arena);
    for (PQconninfoOption *option = options; option->keyword != NULL; option++)
    {
        if (option->val == NULL || option->val[0] == '\0')
            continue;
        if (buf.length > 0)
            pd_strbuf_append_char(&buf, ' ');
        bool is_secret = strcmp(option->keyword, "password") == 0;
        pd_strbuf_appendf(&buf, "%s=%s", option->keyword, is_secret ? "********" : option->val);
    }
    PQconninfoFree(options);
    return (char *)pd_strbuf_text(&buf);
}

bool
pd_db_is_valid_conninfo(const char *conninfo)
{
    if (conninfo == NULL || conninfo[0] == '\0')
        return true;
    char *error_message = NULL;
    PQconninfoOption *options = PQconninfoParse(conninfo, &error_message);
    PQfreemem(error_message);
    if (options == NULL)
        return false;
    PQconninfoFree(options);
    return true;
}

/* Whether PGCONNECT_TIMEOUT (or a service file) already bounds the attempt: libpq's own defaults say. */
static bool
has_default_connect_timeout(void)
{
    PQconninfoOption *defaults = PQconndefaults();
    bool is_set = false;
    for (PQconninfoOption *option = defaults; option != NULL && option->keyword != NULL; option++)
        if (strcmp(option->keyword, "connect_timeout") == 0 && option->val != NULL && option->val[0] != '\0')
            is_set = true;
    PQconninfoFree(defaults);
    return is_set;
}

bool
pd_db_connect(const char *conninfo, PdDb **db, PdError *err)
{
    if (conninfo == NULL)
        conninfo = "";
    /* libpq's parse errors quote the text, which may hold a password: say only that it is invalid. */
    if (!pd_db_is_valid_conninfo(conninfo))
    {
        pd_error_set(err, PD_ERR_INVALID_INPUT, "the database setting is not a valid connection string");
        return pd_error_hint(err, "Use key=value pairs (host=... dbname=...) or a URI "
                                  "(postgresql://user@host/dbname); see libpq's connection strings.");
    }
    /* expand_dbname lets dbname carry a whole conninfo or URI, as psql does. A host that never answers must
     * not hang a deploy, so the attempt is bounded; libpq lets a later keyword win, so a connect_timeout in
     * the conninfo (after ours) overrides our 10 s, and PGCONNECT_TIMEOUT is honoured by leaving ours out. */
    const char *keywords[] = {"connect_timeout", "fallback_application_name", "dbname", NULL};
    const char *values[] = {"10", "prodata", conninfo, NULL};
    int first = has_default_connect_timeout() ? 1 : 0;
    PGconn *connection = PQconnectdbParams(keywords + first, values + first, 1);
    if (connection == NULL)
        return pd_error_set(err, PD_ERR_NO_MEMORY, "out of memory while connecting");
    if (PQstatus(connection) != CONNECTION_OK)
    {
        char message[512];
        snprintf(message, sizeof(message), "%s", PQerrorMessage(connection));
        size_t length = strlen(message);
        while (length > 0 && (message[length - 1] == '\n' || message[length - 1] == ' '))
            message[--length] = '\0';
        PQfinish(connection);
        pd_error_set(err, PD_ERR_DB_CONNECT, "could not connect to PostgreSQL");
        pd_error_detail(err, "%s", message);
        return pd_error_hint(err, "Set the connection with --database, PRODATA_DATABASE, \"database\" in "
                                  "prodata.conf, or the PG* environment variables.");
    }
    PQsetNoticeProcessor(connection, ignore_notice, NULL);
    PdDb *result = calloc(1, sizeof(*result));
    if (result == NULL)
    {
        PQfinish(connection);
        return pd_error_set(err, PD_ERR_NO_MEMORY, "out of memory while connecting");
    }
    result->connection = connection;
    result->cancel = PQgetCancel(connection);
    result->error_position = -1;
    *db = result;
    return true;
}

void
pd_db_close(PdDb *db)
{
    if (db == NULL)
        return;
    PQfreeCancel(db->cancel);
    PQfinish(db->connection);
    free(db);
}

PGconn *
pd_db_connection(PdDb *db)
{
    return db->connection;
}

PGcancel *
pd_db_cancel_handle(PdDb *db)
{
    return db->cancel;
}

int
pd_db_error_position(const PdDb *db)
{
    return db->error_position;
}

static void
copy_field(char *target, size_t size, const PGresult *result, int field)
{
    const char *value = result ? PQresultErrorField(result, field) : NULL;
    snprintf(target, size, "%s", value ? value : "");
}

/* Fills err from a failed result (or the connection when result is NULL). Returns false. */
static bool
set_query_error(PdDb *db, const PGresult *result, PdError *err)
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

bool
pd_db_exec(PdDb *db, const char *sql, PdError *err)
{
    /* PQexec returns only the last result of a multi-statement string; an error stops it there. */
    PGresult *result = PQexec(db->connection, sql);
    ExecStatusType status = PQresultStatus(result);
    if (status != PGRES_COMMAND_OK && status != PGRES_TUPLES_OK && status != PGRES_EMPTY_QUERY)
    {
        set_query_error(db, result, err);
        PQclear(result);
        return false;
    }
    PQclear(result);
    return true;
}

static void
clear_result(void *result)
{
    PQclear(result);
}

bool
pd_db_query(PdArena *arena, PdDb *db, const char *sql, int param_count, const char *const *params,
            PGresult **result, PdError *err)
{
    PGresult *answer = PQexecParams(db->connection, sql, param_count, NULL, params, NULL, NULL, 0);
    ExecStatusType status = PQresultStatus(answer);
    if (status != PGRES_COMMAND_OK && status != PGRES_TUPLES_OK)
    {
        set_query_error(db, answer, err);
        PQclear(answer);
        return false;
    }
    if (!pd_arena_on_free(arena, clear_result, answer))
    {
        PQclear(answer);
        return pd_arena_error(arena, err);
    }
    *result = answer;
    return true;
}
