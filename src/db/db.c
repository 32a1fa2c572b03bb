/*
 * db.c - one PostgreSQL connection over libpq: connecting, closing, running
 * statements that return no rows, the transaction state and the cancel handle.
 * Queries and their results are result.c's; turning a server error into a
 * PdError is query_error.c's. Connection parameters are libpq's own (a
 * conninfo or URI, PG* variables, ~/.pgpass); this file adds only
 * application_name and a connect timeout, and never logs or echoes a password.
 * Server notices and warnings go to the log module (pd_log, silent unless the
 * program installs a handler), with their sqlstate, detail and hint.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "db/connection.h"
#include "prodata/log.h"

/* libpq's severity (never translated) as a log level; DEBUG and LOG messages are debug. */
static PdLogLevel
notice_level(const char *severity)
{
    if (severity == NULL || strcmp(severity, "NOTICE") == 0)
        return PD_LOG_NOTICE;
    if (strcmp(severity, "WARNING") == 0)
        return PD_LOG_WARNING;
    if (strcmp(severity, "INFO") == 0)
        return PD_LOG_INFO;
    return PD_LOG_DEBUG;
}

/* A notice or warning from the server goes to the program's log handler, with its sqlstate, detail, hint. */
static void
pass_notice(void *data, const PGresult *notice)
{
    (void)data;
    PdLogLevel level = notice_level(PQresultErrorField(notice, PG_DIAG_SEVERITY_NONLOCALIZED));
    if (!pd_log_enabled(level))
        return;
    static const struct
    {
        const char *key;
        int code;
    } parts[] = {
        {"sqlstate", PG_DIAG_SQLSTATE}, {"detail", PG_DIAG_MESSAGE_DETAIL}, {"hint", PG_DIAG_MESSAGE_HINT}};
    PdLogField fields[3];
    size_t count = 0;
    for (size_t i = 0; i < 3; i++)
    {
        const char *value = PQresultErrorField(notice, parts[i].code);
        if (value != NULL)
            fields[count++] = (PdLogField){parts[i].key, value};
    }
    const char *message = PQresultErrorField(notice, PG_DIAG_MESSAGE_PRIMARY);
    pd_log(level, message != NULL ? message : PQresultErrorMessage(notice), fields, count);
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
    /* libpq's parse errors quote the text, which may hold a password: the check names keywords only. */
    if (!pd_db_conninfo_check(conninfo, err))
        return false;
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
    return pd_db_wrap(connection, db, err);
}

bool
pd_db_wrap(PGconn *connection, PdDb **db, PdError *err)
{
    PQsetNoticeReceiver(connection, pass_notice, NULL);
    PdDb *result = calloc(1, sizeof(*result));
    if (result == NULL)
    {
        PQfinish(connection);
        return pd_error_set(err, PD_ERR_NO_MEMORY, "out of memory while connecting");
    }
    result->connection = connection;
    result->cancel.handle = PQgetCancel(connection);
    result->error_position = -1;
    result->statements.capacity = PD_DB_STATEMENT_CACHE_DEFAULT;
    *db = result;
    return true;
}

void
pd_db_close(PdDb *db)
{
    if (db == NULL)
        return;
    pd_db_statements_free(db);
    PQfreeCancel(db->cancel.handle);
    PQfinish(db->connection);
    free(db);
}

PdDbCancel *
pd_db_cancel_handle(PdDb *db)
{
    return db->cancel.handle != NULL ? &db->cancel : NULL;
}

bool
pd_db_cancel_send(PdDbCancel *cancel)
{
    if (cancel == NULL || cancel->handle == NULL)
        return true;
    /* PQcancel is async-signal-safe: it writes only to this stack buffer and to a socket. */
    char message[256];
    return PQcancel(cancel->handle, message, sizeof(message)) == 1;
}

int
pd_db_error_position(const PdDb *db)
{
    return db->error_position;
}

PdDbTxState
pd_db_transaction_state(const PdDb *db)
{
    switch (PQtransactionStatus(db->connection))
    {
        case PQTRANS_IDLE:
            return PD_DB_TX_IDLE;
        case PQTRANS_ACTIVE:
            return PD_DB_TX_ACTIVE;
        case PQTRANS_INTRANS:
            return PD_DB_TX_IN_TRANSACTION;
        case PQTRANS_INERROR:
            return PD_DB_TX_FAILED;
        case PQTRANS_UNKNOWN:
            break;
    }
    return PD_DB_TX_UNKNOWN;
}

/* As PQexec: the last result of a multi-statement string, or the error that stopped it. */
static bool
exec_plain(PdDb *db, const char *sql, PdError *err)
{
    PGresult *result = pd_db_collect(db, PQsendQuery(db->connection, sql));
    ExecStatusType status = PQresultStatus(result);
    if (status != PGRES_COMMAND_OK && status != PGRES_TUPLES_OK && status != PGRES_EMPTY_QUERY)
    {
        pd_db_set_query_error(db, result, err);
        PQclear(result);
        return false;
    }
    PQclear(result);
    return true;
}

bool
pd_db_exec(PdDb *db, const char *sql, PdError *err)
{
    if (db->mux != NULL)
        return pd_error_set(err, PD_ERR_INTERNAL, "a shared connection runs single statements only");
    if (!pd_db_session_wraps(db))
        return exec_plain(db, sql, err);
    /* Several statements cannot go through a pipeline: the session's transaction is opened first. */
    if (!pd_db_begin(db, err))
        return false;
    if (!exec_plain(db, sql, err))
    {
        PdError ignored = {0};
        pd_db_rollback(db, &ignored);
        return false;
    }
    return pd_db_commit(db, err);
}

bool
pd_db_is_usable(const PdDb *db)
{
    return !db->is_broken && PQstatus(db->connection) == CONNECTION_OK;
}
