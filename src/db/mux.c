/*
 * mux.c - a multiplexed connection: one PostgreSQL connection in libpq's
 * pipeline mode that carries the single statements of many callers of one
 * thread at once. Why: with a connection per statement in flight, every
 * statement costs the server a wake-up of its own backend, and that, not
 * the statement, caps the rate of short reads (pgbench's one statement per
 * round trip is the "SQL ceiling"); here the backend finds a burst of
 * statements waiting and answers them in one go. Each caller's statement is
 * a segment of its own: [DEALLOCATE of an evicted statement] [Prepare of a
 * new one] Execute, then Sync, so each runs in its own implicit transaction
 * and an error aborts only that segment. Answers come back in the order the
 * segments went out: callers wait in a FIFO; only the oldest reads the
 * socket (through its wait function), takes its results up to its Sync,
 * and then wakes the next. A connection that breaks fails every caller in
 * the queue with PD_ERR_DB_GONE and is not used again.
 */
#include <stdlib.h>
#include <string.h>

#include "db/connection.h"

/* One caller's segment in flight, on the caller's stack while it waits. */
typedef struct Waiter Waiter;
struct Waiter
{
    Waiter *next;
    PdDb *share;
};

struct PdDbMux
{
    PdDb *db; /* the connection and its prepared statements */
    Waiter *head;
    Waiter *tail;
    size_t in_flight;
    bool is_broken;
};

bool
pd_db_mux_new(PdDb *db, PdDbMux **mux, PdError *err)
{
    PdDbMux *made = calloc(1, sizeof(*made));
    if (made == NULL)
        return pd_error_set(err, PD_ERR_NO_MEMORY, "out of memory");
    if (PQenterPipelineMode(db->connection) != 1)
    {
        free(made);
        return pd_db_set_query_error(db, NULL, err);
    }
    made->db = db;
    *mux = made;
    return true;
}

bool
pd_db_mux_is_usable(const PdDbMux *mux)
{
    return !mux->is_broken && pd_db_is_usable(mux->db);
}

size_t
pd_db_mux_in_flight(const PdDbMux *mux)
{
    return mux->in_flight;
}

PdDb *
pd_db_mux_free(PdDbMux *mux)
{
    PdDb *db = mux->db;
    if (mux->is_broken || PQexitPipelineMode(db->connection) != 1)
        db->is_broken = true;
    free(mux);
    return db;
}

bool
pd_db_mux_share(PdDbMux *mux, PdArena *arena, PdDbWaitFn wait, PdDbWakeFn wake, void *context, PdDb **share,
                PdError *err)
{
    PdDb *made = pd_arena_calloc(arena, 1, sizeof(*made));
    if (made == NULL)
        return pd_arena_error(arena, err);
    made->connection = mux->db->connection;
    made->error_position = -1;
    made->mux = mux;
    made->wait = wait;
    made->wake = wake;
    made->wait_context = context;
    *share = made;
    return true;
}

bool
pd_db_is_share(const PdDb *db)
{
    return db->mux != NULL;
}

/* ---- the queue ---- */

/* The connection is gone: every caller behind is woken to find that out. */
static void
break_mux(PdDbMux *mux)
{
    mux->is_broken = true;
    mux->db->is_broken = true;
    Waiter *waiter = mux->head;
    mux->head = mux->tail = NULL;
    for (; waiter != NULL; waiter = waiter->next)
        waiter->share->wake(waiter->share->wait_context);
}

static void
enqueue(PdDbMux *mux, Waiter *waiter)
{
    waiter->next = NULL;
    if (mux->tail != NULL)
        mux->tail->next = waiter;
    else
        mux->head = waiter;
    mux->tail = waiter;
    mux->in_flight++;
}

/* The head is done: off the queue, and the next one woken to read its answer. */
static void
dequeue_head(PdDbMux *mux)
{
    Waiter *done = mux->head;
    mux->head = done->next;
    if (mux->head == NULL)
        mux->tail = NULL;
    if (mux->head != NULL)
        mux->head->share->wake(mux->head->share->wait_context);
}

static bool
gone(PdDb *share, PdError *err)
{
    pd_error_set(err, PD_ERR_DB_GONE, "the connection to the database was lost");
    err->is_retryable = true;
    share->is_broken = true;
    return false;
}

/* ---- one statement ---- */

/* Sends the caller's segment; *steps counts the statements sent before its own. */
static bool
send_segment(PdDbMux *mux, const char *sql, bool is_prepared, int param_count, const char *const *params,
             PdDbStatement **statement, int *steps, PdError *err)
{
    PGconn *connection = mux->db->connection;
    int sent;
    *steps = 0;
    if (is_prepared)
    {
        if (!pd_db_statement_send(mux->db, sql, param_count, statement, steps, err))
            return false;
        sent = PQsendQueryPrepared(connection, (*statement)->name, param_count, params, NULL, NULL, 0);
    }
    else
        sent = PQsendQueryParams(connection, sql, param_count, NULL, params, NULL, NULL, 0);
    if (sent != 1 || PQpipelineSync(connection) != 1)
        return pd_db_set_query_error(mux->db, NULL, err);
    return true;
}

/* Waits (parked) until the caller's segment is the oldest in flight, or the connection broke. */
static void
wait_turn(PdDbMux *mux, Waiter *waiter)
{
    PdDb *share = waiter->share;
    while (mux->head != waiter && !mux->is_broken)
        share->wait(share->wait_context, -1);
}

/* Reads the head's results up to its Sync: the statement's own result (step == steps) into *answer, the
 * first error into err and *failed_step. False with the connection broken when it went away. */
static bool
read_segment(PdDbMux *mux, PdDb *share, int steps, PGresult **answer, int *failed_step, bool *ok,
             PdError *err)
{
    PGconn *connection = mux->db->connection;
    for (int step = 0;;)
    {
        while (PQisBusy(connection))
        {
            share->wait(share->wait_context, PQsocket(connection));
            if (PQconsumeInput(connection) != 1)
                return false;
        }
        PGresult *result = PQgetResult(connection);
        if (result == NULL)
        {
            if (PQstatus(connection) != CONNECTION_OK)
                return false;
            step++;
            continue;
        }
        ExecStatusType status = PQresultStatus(result);
        if (status == PGRES_PIPELINE_SYNC)
        {
            PQclear(result);
            return true;
        }
        if ((status == PGRES_TUPLES_OK || status == PGRES_COMMAND_OK) && step == steps && *answer == NULL)
            *answer = result;
        else
        {
            if (status != PGRES_TUPLES_OK && status != PGRES_COMMAND_OK && status != PGRES_PIPELINE_ABORTED &&
                *ok)
            {
                *ok = false;
                *failed_step = step;
                pd_db_set_query_error(share, result, err);
            }
            PQclear(result);
        }
    }
}

/* One try: sent, awaited in turn, read. *statement: the cached statement used (NULL: none); *steps: the
 * statements sent before it (a failed_step below steps was a Prepare or DEALLOCATE). */
static bool
query_once(PdDbMux *mux, PdDb *share, const char *sql, bool is_prepared, int param_count,
           const char *const *params, PGresult **answer, PdDbStatement **statement, int *steps,
           int *failed_step, PdError *err)
{
    *statement = NULL;
    *answer = NULL;
    if (!send_segment(mux, sql, is_prepared, param_count, params, statement, steps, err))
    {
        break_mux(mux);
        return gone(share, err);
    }
    Waiter waiter = {.share = share};
    enqueue(mux, &waiter);
    wait_turn(mux, &waiter);
    bool ok = true;
    bool is_read = !mux->is_broken && read_segment(mux, share, *steps, answer, failed_step, &ok, err);
    mux->in_flight--;
    if (!is_read)
    {
        if (!mux->is_broken)
            break_mux(mux);
        PQclear(*answer);
        *answer = NULL;
        return gone(share, err);
    }
    dequeue_head(mux);
    if (ok && *answer == NULL)
        ok = pd_error_set(err, PD_ERR_DB_QUERY, "the statement returned no result");
    if (!ok)
    {
        PQclear(*answer);
        *answer = NULL;
    }
    return ok;
}

bool
pd_db_mux_query(PdArena *arena, PdDb *share, const char *sql, bool is_prepared, int param_count,
                const char *const *params, PdDbResult **result, PdError *err)
{
    PdDbMux *mux = share->mux;
    if (share->session != NULL)
        return pd_error_set(err, PD_ERR_INTERNAL, "a shared connection runs no session");
    for (int attempt = 0;; attempt++)
    {
        if (!pd_db_mux_is_usable(mux))
            return gone(share, err);
        PGresult *answer;
        PdDbStatement *statement;
        int steps = 0, failed_step = -1;
        if (query_once(mux, share, sql, is_prepared, param_count, params, &answer, &statement, &steps,
                       &failed_step, err))
            return pd_db_adopt_result(arena, answer, result, err);
        if (mux->is_broken || statement == NULL)
            return false;
        /* A Prepare that failed leaves no statement behind; a plan a schema change made stale (or a
         * statement the server lost) is forgotten and the statement tried once more. */
        bool is_stale = failed_step == steps && pd_db_statement_is_stale(err);
        if (failed_step < steps || is_stale)
            pd_db_statement_forget(mux->db, statement, false);
        if (attempt > 0 || !is_stale)
            return false;
    }
}
