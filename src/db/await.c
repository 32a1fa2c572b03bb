/*
 * await.c - how a connection waits for the server. Statements go out with
 * libpq's asynchronous calls (PQsend*) and their answers are read with
 * PQgetResult, which blocks the thread while the answer is incomplete. When
 * the caller set a wait function (pd_db_set_wait: `prodata serve` runs each
 * request as a coroutine on an event loop), the answer is awaited here
 * instead: the socket is waited for through that function, read with
 * PQconsumeInput, until libpq is no longer busy, so PQgetResult returns at
 * once and the thread served other requests in the meantime. Without one,
 * nothing changes: PQgetResult waits as PQexec would.
 */
#include "db/connection.h"

void
pd_db_set_wait(PdDb *db, PdDbWaitFn wait, void *context)
{
    db->wait = wait;
    db->wait_context = wait != NULL ? context : NULL;
}

void
pd_db_await(PdDb *db)
{
    if (db->wait == NULL)
        return;
    while (PQisBusy(db->connection))
    {
        db->wait(db->wait_context, PQsocket(db->connection));
        if (PQconsumeInput(db->connection) != 1)
            return; /* the connection failed: PQgetResult reports it without waiting */
    }
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
