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
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "db/connection.h"

/* Stale statements remembered for deallocation at once (more are left to the connection's end). */
#define PD_DB_MUX_STALE_MAX 8

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
    char stale[PD_DB_MUX_STALE_MAX][24]; /* names to deallocate before the next statement */
    size_t stale_count;
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

/*
 * Whether the connection still stands. While idle, a backend that was terminated or a server that shut
 * down has sent its farewell and closed the socket: the socket reads ready with nothing asked, and libpq,
 * reading it, finds the connection bad. One poll() when all is well; nothing while statements are in
 * flight (their reader finds out).
 */
bool
pd_db_mux_is_usable(PdDbMux *mux)
{
    if (mux->is_broken || !pd_db_is_usable(mux->db))
        return false;
    if (mux->in_flight > 0)
        return true;
    PGconn *connection = mux->db->connection;
    for (int round = 0; round < 2 && !mux->is_broken; round++) /* the farewell, then the end of the stream */
    {
        struct pollfd check = {PQsocket(connection), POLLIN, 0};
        if (poll(&check, 1, 0) <= 0)
            break;
        if (PQconsumeInput(connection) != 1 || PQstatus(connection) != CONNECTION_OK)
            break_mux(mux);
    }
    return !mux->is_broken;
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

/* What a caller sent: segments of housekeeping first (each up to its own Sync, read past), then its own:
 * steps statements (a Prepare) before the statement whose answer it wants. */
typedef struct Sent
{
    int prefix_syncs;
    int steps;
    bool is_cached; /* a cached statement was executed: its name below (the entry itself may be gone by the
                       time the answer comes: callers ahead forget or evict entries while this one waits) */
    char name[24];
} Sent;

/* Statements whose plans went stale are deallocated in segments of their own, before the next statement. */
static bool
send_stale(PdDbMux *mux, Sent *sent, PdError *err)
{
    for (size_t i = 0; i < mux->stale_count; i++)
    {
        if (!pd_db_statement_send_deallocate(mux->db, mux->stale[i], err))
            return false;
        sent->prefix_syncs++;
    }
    mux->stale_count = 0;
    return true;
}

static bool
send_segment(PdDbMux *mux, const char *sql, bool is_prepared, int param_count, const char *const *params,
             Sent *sent, PdError *err)
{
    PGconn *connection = mux->db->connection;
    *sent = (Sent){0};
    if (!send_stale(mux, sent, err))
        return false;
    int is_sent;
    if (is_prepared)
    {
        PdDbStatement *statement;
        if (!pd_db_statement_send(mux->db, sql, param_count, &statement, &sent->steps, &sent->prefix_syncs,
                                  err))
            return false;
        sent->is_cached = true;
        snprintf(sent->name, sizeof(sent->name), "%s", statement->name);
        is_sent = PQsendQueryPrepared(connection, sent->name, param_count, params, NULL, NULL, 0);
    }
    else
        is_sent = PQsendQueryParams(connection, sql, param_count, NULL, params, NULL, NULL, 0);
    if (is_sent != 1 || PQpipelineSync(connection) != 1)
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

/* The next result, waiting through the share for it; NULL with *is_lost when the connection went away. */
static PGresult *
next_result(PGconn *connection, PdDb *share, bool *is_lost)
{
    while (PQisBusy(connection))
    {
        share->wait(share->wait_context, PQsocket(connection));
        if (PQconsumeInput(connection) != 1)
            break;
    }
    PGresult *result = PQgetResult(connection);
    *is_lost = result == NULL && PQstatus(connection) != CONNECTION_OK;
    return result;
}

/* Reads the head's results up to its last Sync: the statement's own result into *answer, the first error
 * of its own segment into err and *failed_step. False when the connection went away. */
static bool
read_segment(PdDbMux *mux, PdDb *share, const Sent *sent, PGresult **answer, int *failed_step, bool *ok,
             PdError *err)
{
    PGconn *connection = mux->db->connection;
    int syncs = 0, step = 0;
    for (;;)
    {
        bool is_lost;
        PGresult *result = next_result(connection, share, &is_lost);
        if (is_lost)
            return false;
        if (result == NULL)
        {
            step++;
            continue;
        }
        ExecStatusType status = PQresultStatus(result);
        bool is_own = syncs == sent->prefix_syncs;
        bool is_good = status == PGRES_TUPLES_OK || status == PGRES_COMMAND_OK;
        if (status == PGRES_PIPELINE_SYNC)
            step = 0;
        if (is_own && is_good && step == sent->steps && *answer == NULL)
        {
            *answer = result;
            result = NULL;
        }
        else if (is_own && !is_good && status != PGRES_PIPELINE_ABORTED && status != PGRES_PIPELINE_SYNC &&
                 *ok)
        {
            *ok = false;
            *failed_step = step;
            pd_db_set_query_error(share, result, err);
        }
        PQclear(result);
        if (status == PGRES_PIPELINE_SYNC && ++syncs > sent->prefix_syncs)
            return true;
    }
}

/* One try: sent, awaited in turn, read. */
static bool
query_once(PdDbMux *mux, PdDb *share, const char *sql, bool is_prepared, int param_count,
           const char *const *params, PGresult **answer, Sent *sent, int *failed_step, PdError *err)
{
    *answer = NULL;
    if (!send_segment(mux, sql, is_prepared, param_count, params, sent, err))
    {
        break_mux(mux);
        return gone(share, err);
    }
    Waiter waiter = {.share = share};
    enqueue(mux, &waiter);
    wait_turn(mux, &waiter);
    bool ok = true;
    bool is_read = !mux->is_broken && read_segment(mux, share, sent, answer, failed_step, &ok, err);
    mux->in_flight--;
    if (!is_read)
    {
        if (!mux->is_broken)
            break_mux(mux);
        PQclear(*answer);
        *answer = NULL;
        return gone(share, err);
    }
    if (mux->head == &waiter) /* else a failed send behind broke the queue while this one read */
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

/*
 * Forgets the cached statement sent, when the cache still holds it under the same name (another caller may
 * have forgotten or replaced it meanwhile). One whose plan went stale (0A000) still exists on the server: it
 * is deallocated before the next statement.
 */
static void
forget(PdDbMux *mux, const char *sql, const Sent *sent, bool is_on_server)
{
    PdDbStatement *entry = pd_db_statement_find(mux->db, sql);
    if (entry == NULL || strcmp(entry->name, sent->name) != 0)
        return;
    if (is_on_server && mux->stale_count < PD_DB_MUX_STALE_MAX)
        snprintf(mux->stale[mux->stale_count++], sizeof(mux->stale[0]), "%s", sent->name);
    pd_db_statement_forget(mux->db, entry, false);
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
        Sent sent;
        int failed_step = -1;
        if (query_once(mux, share, sql, is_prepared, param_count, params, &answer, &sent, &failed_step, err))
            return pd_db_adopt_result(arena, answer, result, err);
        if (mux->is_broken || !sent.is_cached)
            return false;
        /* A Prepare that failed leaves no statement behind; a plan a schema change made stale (or a
         * statement the server lost) is forgotten and the statement tried once more. */
        bool is_stale = failed_step == sent.steps && pd_db_statement_is_stale(err);
        if (failed_step < sent.steps || is_stale)
            forget(mux, sql, &sent, is_stale && strcmp(err->sqlstate, "0A000") == 0);
        if (attempt > 0 || !is_stale)
            return false;
    }
}
