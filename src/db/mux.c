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

/* A member of a commit group, on its caller's stack until the group's COMMIT is answered. */
typedef struct Member Member;
struct Member
{
    Member *next;
    PdDb *share;
};

/* One transaction of a group-commit multiplexer: BEGIN, its members' statements, then COMMIT. */
typedef struct Group Group;
struct Group
{
    Group *next;   /* the multiplexer's live groups */
    Waiter commit; /* the COMMIT's segment in the queue; read by the member that joined last */
    Member *members;
    size_t staying; /* members that have not left yet: the last one frees the group */
    bool is_closed; /* no one joins any more: whoever comes next opens a group of its own */
    bool is_queued; /* its COMMIT was sent and waits in the queue for its answer */
    bool is_done;   /* its COMMIT was answered */
    bool is_committed;
};

/* How a member's group ended, read before the member leaves it. */
typedef struct GroupEnd
{
    bool ok; /* its own statement succeeded */
    int failed_step;
    bool is_done;
    bool is_queued;
    bool is_committed;
} GroupEnd;

struct PdDbMux
{
    PdDb *db; /* the connection and its prepared statements */
    Waiter *head;
    Waiter *tail;
    size_t in_flight;
    bool is_broken;
    char stale[PD_DB_MUX_STALE_MAX][24]; /* names to deallocate before the next statement */
    size_t stale_count;
    bool is_group;            /* a group-commit multiplexer (pd_db_mux_new_group) */
    char *begin_sql;          /* run after each group's BEGIN; NULL: none */
    Group *open;              /* the group new statements join; NULL: the next one opens one */
    Group *groups;            /* every group some member still waits on */
    size_t commits_in_flight; /* COMMITs sent and not yet answered */
    size_t members;           /* callers in a group, until they leave it (pd_db_mux_in_flight counts them) */
    Waiter *watchers; /* callers parked until the COMMIT in flight is answered (pd_db_share_await_commit) */
    size_t watching;  /* those callers, until each runs again (woken, it still holds the connection) */
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
pd_db_mux_new_group(PdDb *db, const char *begin_sql, PdDbMux **mux, PdError *err)
{
    char *begin = NULL;
    if (begin_sql != NULL && (begin = strdup(begin_sql)) == NULL)
        return pd_error_set(err, PD_ERR_NO_MEMORY, "out of memory");
    if (!pd_db_mux_new(db, mux, err))
    {
        free(begin);
        return false;
    }
    (*mux)->is_group = true;
    (*mux)->begin_sql = begin;
    return true;
}

const char *
pd_db_mux_begin_sql(const PdDbMux *mux)
{
    return mux->begin_sql;
}

/* Wakes every caller parked in pd_db_share_await_commit; the list is emptied first (its nodes live on the
 * callers' stacks). */
static void
wake_watchers(PdDbMux *mux)
{
    Waiter *watcher = mux->watchers;
    mux->watchers = NULL;
    while (watcher != NULL)
    {
        Waiter *next = watcher->next;
        watcher->share->wake(watcher->share->wait_context);
        watcher = next;
    }
}

void
pd_db_share_await_commit(PdDb *share)
{
    PdDbMux *mux = share->mux;
    if (mux == NULL || !mux->is_group || mux->commits_in_flight == 0 || mux->is_broken)
        return;
    Waiter watcher = {.next = mux->watchers, .share = share};
    mux->watchers = &watcher;
    mux->watching++;
    share->wait(share->wait_context, PD_DB_NO_SOCKET, PD_DB_WAIT_WAKE, PD_DB_WAIT_FOREVER);
    mux->watching--;
    for (Waiter **link = &mux->watchers; *link != NULL; link = &(*link)->next) /* woken otherwise */
    {
        if (*link == &watcher)
        {
            *link = watcher.next;
            break;
        }
    }
}

static void
wake_members(const Group *group)
{
    for (const Member *member = group->members; member != NULL; member = member->next)
        member->share->wake(member->share->wait_context);
}

/* The connection is gone: every caller behind, and every member awaiting a COMMIT, is woken to find out. */
static void
break_mux(PdDbMux *mux)
{
    mux->is_broken = true;
    mux->db->is_broken = true;
    Waiter *waiter = mux->head;
    mux->head = mux->tail = NULL;
    for (; waiter != NULL; waiter = waiter->next)
        waiter->share->wake(waiter->share->wait_context);
    for (Group *group = mux->groups; group != NULL; group = group->next)
        if (!group->is_done) /* the members of a done group have their answer (some may have left) */
            wake_members(group);
    wake_watchers(mux);
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
    return mux->in_flight + mux->members + mux->watching;
}

PdDb *
pd_db_mux_free(PdDbMux *mux)
{
    PdDb *db = mux->db;
    if (mux->is_broken || PQexitPipelineMode(db->connection) != 1)
        db->is_broken = true;
    free(mux->begin_sql);
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

/* BEGIN (and the group's begin_sql) in a segment of its own: the statements sent after it, up to the
 * COMMIT, are one transaction. */
static bool
send_begin(PdDbMux *mux, Sent *sent, PdError *err)
{
    PGconn *connection = mux->db->connection;
    /* READ COMMITTED whatever the role's default: a statement that joins late sees what committed before
     * it was sent (a parent another request created), as it would in a transaction of its own. */
    if (PQsendQueryParams(connection, "BEGIN ISOLATION LEVEL READ COMMITTED", 0, NULL, NULL, NULL, NULL, 0) !=
            1 ||
        (mux->begin_sql != NULL &&
         PQsendQueryParams(connection, mux->begin_sql, 0, NULL, NULL, NULL, NULL, 0) != 1) ||
        PQpipelineSync(connection) != 1)
        return pd_db_set_query_error(mux->db, NULL, err);
    sent->prefix_syncs++;
    return true;
}

static bool
send_segment(PdDbMux *mux, const char *sql, bool is_prepared, int param_count, const char *const *params,
             bool with_begin, Sent *sent, PdError *err)
{
    PGconn *connection = mux->db->connection;
    *sent = (Sent){0};
    if (!send_stale(mux, sent, err) || (with_begin && !send_begin(mux, sent, err)))
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
        share->wait(share->wait_context, PD_DB_NO_SOCKET, PD_DB_WAIT_WAKE, PD_DB_WAIT_FOREVER);
}

/* The next result, waiting through the share for it; NULL with *is_lost when the connection went away. */
static PGresult *
next_result(PGconn *connection, PdDb *share, bool *is_lost)
{
    pd_db_await_connection(connection, share->wait, share->wait_context); /* flushed, then read */
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
    if (!send_segment(mux, sql, is_prepared, param_count, params, false, sent, err))
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

/* ---- group commit ---- */

/* The COMMIT (a Sync after it), read by the member that joined the group last. */
static bool
close_group(PdDbMux *mux, Group *group)
{
    PGconn *connection = mux->db->connection;
    group->is_closed = true;
    if (mux->open == group)
        mux->open = NULL;
    if (PQsendQueryParams(connection, "COMMIT", 0, NULL, NULL, NULL, NULL, 0) != 1 ||
        PQpipelineSync(connection) != 1)
        return false;
    enqueue(mux, &group->commit);
    group->is_queued = true;
    mux->commits_in_flight++;
    if (mux->head == &group->commit) /* every statement ahead was answered: its reader waits for no turn */
        group->commit.share->wake(group->commit.share->wait_context);
    return true;
}

/* The group a new statement joins: the open one, else a new one (its BEGIN goes before the statement). */
static Group *
join_group(PdDbMux *mux, Member *member, bool *is_new)
{
    Group *group = mux->open;
    *is_new = group == NULL;
    if (group == NULL)
    {
        group = calloc(1, sizeof(*group));
        if (group == NULL)
            return NULL;
        group->next = mux->groups;
        mux->groups = group;
        mux->open = group;
    }
    member->next = group->members;
    group->members = member;
    group->staying++;
    group->commit.share = member->share;
    mux->members++;
    return group;
}

/* The member goes (its node lives on its caller's stack); the last one frees the group. */
static void
leave_group(PdDbMux *mux, Group *group, Member *member)
{
    for (Member **link = &group->members; *link != NULL; link = &(*link)->next)
    {
        if (*link == member)
        {
            *link = member->next;
            break;
        }
    }
    mux->members--;
    if (--group->staying > 0)
        return;
    if (mux->open == group)
        mux->open = NULL;
    if (group->is_queued && !group->is_done) /* the connection broke before its COMMIT was answered */
    {
        mux->in_flight--;
        mux->commits_in_flight--;
    }
    for (Group **link = &mux->groups; *link != NULL; link = &(*link)->next)
    {
        if (*link == group)
        {
            *link = group->next;
            break;
        }
    }
    free(group);
}

/* Reads the COMMIT's answer ("ROLLBACK" after an error in the transaction), wakes the members, and closes
 * the group that formed meanwhile: its COMMIT goes out now, behind its statements. */
static void
read_commit(PdDbMux *mux, Group *group, PdDb *share)
{
    PGconn *connection = mux->db->connection;
    for (int syncs = 1; syncs > 0;)
    {
        bool is_lost;
        PGresult *result = next_result(connection, share, &is_lost);
        if (is_lost)
        {
            break_mux(mux);
            return;
        }
        if (result == NULL)
            continue;
        ExecStatusType status = PQresultStatus(result);
        if (status == PGRES_COMMAND_OK && strcmp(PQcmdStatus(result), "COMMIT") == 0)
            group->is_committed = true;
        syncs -= status == PGRES_PIPELINE_SYNC;
        PQclear(result);
    }
    mux->in_flight--;
    mux->commits_in_flight--;
    group->is_done = true;
    dequeue_head(mux);
    wake_members(group);
    wake_watchers(mux);
    if (mux->open != NULL && mux->open->members != NULL && !close_group(mux, mux->open))
        break_mux(mux);
}

/* Waits until the group's COMMIT is answered, reading it when this member is the one to. */
static void
await_commit(PdDbMux *mux, Group *group, PdDb *share)
{
    while (!group->is_done && !mux->is_broken)
    {
        if (mux->head == &group->commit && group->commit.share == share)
            read_commit(mux, group, share);
        else
            share->wait(share->wait_context, PD_DB_NO_SOCKET, PD_DB_WAIT_WAKE, PD_DB_WAIT_FOREVER);
    }
}

static bool
rolled_back(PdError *err)
{
    return pd_error_set(
        err, PD_ERR_ROLLED_BACK,
        "the transaction this statement shared rolled back for another statement; nothing was "
        "written: run it again on a connection of its own");
}

/* A statement's segment sent after its group's BEGIN (sent first when it opens the group). */
static bool
send_member(PdDbMux *mux, PdDb *share, const char *sql, bool is_prepared, int param_count,
            const char *const *params, Member *member, Group **group, Sent *sent, PdError *err)
{
    bool is_new;
    *group = join_group(mux, member, &is_new);
    if (*group == NULL)
        return pd_error_set(err, PD_ERR_NO_MEMORY, "out of memory");
    if (!send_segment(mux, sql, is_prepared, param_count, params, is_new, sent, err))
    {
        leave_group(mux, *group, member);
        break_mux(mux);
        return gone(share, err);
    }
    return true;
}

/*
 * Errors that come from sharing the transaction, not from the statement: an earlier statement's failure
 * (25P02), a deadlock or serialization failure between groups (40P01, 40001), a lock not granted within
 * the group's lock_timeout (55P03) or a cancel (57014). Run alone, the statement may well succeed.
 */
static bool
is_shared_failure(const PdError *err)
{
    static const char *const states[] = {"25P02", "40P01", "40001", "55P03", "57014"};
    for (size_t i = 0; i < sizeof(states) / sizeof(states[0]); i++)
        if (strcmp(err->sqlstate, states[i]) == 0)
            return true;
    return pd_db_statement_is_stale(err);
}

/* What a member's caller gets once its group is over (or its connection gone). */
static bool
group_outcome(PdDbMux *mux, PdDb *share, PdArena *arena, const char *sql, const Sent *sent,
              const GroupEnd *end, PGresult *answer, PdDbResult **result, PdError *err)
{
    if (!end->is_done)
    {
        PQclear(answer);
        if (!end->is_queued)
            return rolled_back(err); /* no COMMIT went out: the server rolls the transaction back */
        gone(share, err); /* its COMMIT went out: whether it committed is unknown, so never run it again */
        err->is_retryable = false;
        return false;
    }
    if (end->ok && end->is_committed && answer != NULL)
        return pd_db_adopt_result(arena, answer, result, err);
    PQclear(answer);
    if (!end->ok && sent->is_cached && (end->failed_step < sent->steps || pd_db_statement_is_stale(err)))
        forget(mux, sql, sent, end->failed_step == sent->steps && strcmp(err->sqlstate, "0A000") == 0);
    if (end->ok && answer == NULL && end->is_committed)
        return pd_error_set(err, PD_ERR_DB_QUERY, "the statement returned no result");
    if (!end->ok && !is_shared_failure(err))
        return false;
    return rolled_back(err);
}

/*
 * A statement in a group commit: it joins the open transaction (or opens one), and when no COMMIT is in
 * flight the group closes at once; else it closes when the COMMIT ahead is answered, so every statement
 * that arrived while one transaction was being made durable shares the next COMMIT (and its WAL flush).
 * The answer is handed back only once the COMMIT is. A statement that failed keeps its own error; one whose
 * transaction rolled back for another's error, or that failed for sharing it (is_shared_failure), gets
 * PD_ERR_ROLLED_BACK: nothing of it was written, and the caller runs it again on its own.
 */
static bool
group_query(PdArena *arena, PdDb *share, const char *sql, bool is_prepared, int param_count,
            const char *const *params, PdDbResult **result, PdError *err)
{
    PdDbMux *mux = share->mux;
    if (!pd_db_mux_is_usable(mux))
        return gone(share, err);
    Member member = {.share = share};
    Group *group;
    Sent sent;
    if (!send_member(mux, share, sql, is_prepared, param_count, params, &member, &group, &sent, err))
        return false;
    Waiter waiter = {.share = share};
    enqueue(mux, &waiter);
    if (mux->commits_in_flight == 0 && !close_group(mux, group))
        break_mux(mux);
    PGresult *answer = NULL;
    GroupEnd end = {.ok = true, .failed_step = -1};
    wait_turn(mux, &waiter);
    bool is_read =
        !mux->is_broken && read_segment(mux, share, &sent, &answer, &end.failed_step, &end.ok, err);
    mux->in_flight--;
    if (!is_read && !mux->is_broken)
        break_mux(mux);
    if (mux->head == &waiter)
        dequeue_head(mux);
    if (is_read) /* even after an error: a member stays listed (and may be the COMMIT's reader) */
        await_commit(mux, group, share);
    end.is_done = is_read && group->is_done;
    end.is_queued = group->is_queued;
    end.is_committed = group->is_committed;
    leave_group(mux, group, &member);
    return group_outcome(mux, share, arena, sql, &sent, &end, answer, result, err);
}

bool
pd_db_mux_query(PdArena *arena, PdDb *share, const char *sql, bool is_prepared, int param_count,
                const char *const *params, PdDbResult **result, PdError *err)
{
    PdDbMux *mux = share->mux;
    if (share->session != NULL)
        return pd_error_set(err, PD_ERR_INTERNAL, "a shared connection runs no session");
    if (mux->is_group)
        return group_query(arena, share, sql, is_prepared, param_count, params, result, err);
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
