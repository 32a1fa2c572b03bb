/*
 * await.c - how a connection waits for the server. Statements go out with
 * libpq's asynchronous calls (PQsend*) and their answers are read with
 * PQgetResult, which blocks the thread while the answer is incomplete. When
 * the caller set a wait function (pd_db_set_wait: `prodata serve` runs each
 * request as a coroutine on an event loop), the connection is in libpq's
 * nonblocking mode and nothing here blocks the thread: what libpq could not
 * send at once (large parameters, a full socket buffer) is flushed while the
 * socket is writable, the answer read while it is readable, both awaited
 * through that function, until libpq is no longer busy, so PQgetResult
 * returns at once and the thread served other requests in the meantime.
 * Without one, nothing changes: PQgetResult waits as PQexec would.
 */
#include "db/connection.h"

void
pd_db_set_wait(PdDb *db, PdDbWaitFn wait, void *context)
{
    db->wait = wait;
    db->wait_context = wait != NULL ? context : NULL;
    if (db->connection != NULL && db->mux == NULL)
        PQsetnonblocking(db->connection, wait != NULL); /* fails only while output is pending: none here */
}

bool
pd_db_await_connection(PGconn *connection, PdDbWaitFn wait, void *context)
{
    if (wait == NULL)
        return true;
    for (;;)
    {
        int unsent = PQflush(connection); /* 0: all sent, 1: some left (the socket was full), -1: failed */
        if (unsent < 0)
            return false;
        if (unsent == 0 && !PQisBusy(connection))
            return true;
        /* Bytes left to send: the server may be waiting to send us its answer first (libpq's advice: wait
         * for either, read what came). */
        wait(context, PQsocket(connection), unsent ? PD_DB_WAIT_READ_WRITE : PD_DB_WAIT_READ,
             PD_DB_WAIT_FOREVER);
        if (PQconsumeInput(connection) != 1)
            return false; /* the connection failed: PQgetResult reports it without waiting */
    }
}

void
pd_db_await(PdDb *db)
{
    pd_db_await_connection(db->connection, db->wait, db->wait_context);
}

static bool
is_copy(ExecStatusType status)
{
    return status == PGRES_COPY_IN || status == PGRES_COPY_OUT || status == PGRES_COPY_BOTH;
}

PGresult *
pd_db_collect(PdDb *db, int sent)
{
    if (sent != 1)
        return NULL;
    PGresult *kept = NULL;
    for (;;)
    {
        pd_db_await(db);
        PGresult *result = PQgetResult(db->connection);
        if (result == NULL)
            break;
        ExecStatusType status = PQresultStatus(result);
        if (kept != NULL && PQresultStatus(kept) == PGRES_FATAL_ERROR)
            PQclear(result); /* the first error is the one to report */
        else
        {
            PQclear(kept);
            kept = result;
        }
        if (is_copy(status))
            break; /* as PQexec: the caller goes on with the copy */
    }
    return kept;
}
