/*
 * pool.c - the bounded, thread-safe connection pool (pool.h). One mutex
 * guards the counters, the stack of idle connections and the queue of
 * acquires waiting for one. Nothing slow happens under the mutex:
 * connecting, checking a connection, rolling back and closing are done
 * outside it, with the slot reserved (`open` counts connections being made),
 * so the bound holds while a connect is under way. Idle connections are a
 * stack: the most recently used goes out first, its caches warm. Waiting is
 * fair: an acquire that finds nothing free joins a FIFO queue, and a release
 * hands its connection (or the slot a closed one left) to the oldest waiter
 * directly, so no newcomer overtakes it and nobody polls; a thread waits on
 * the condition variable, a coroutine parks through its wait function and is
 * woken by the releasing thread. After a failed connect the failure is kept
 * and, for PD_POOL_BACKOFF_MS, returned at once to whoever would connect, and
 * with no connection open the waiters hear it too: a dead server costs one
 * attempt per backoff, not one per request.
 */
#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "db/connection.h"
#include "prodata/pool.h"

/* What an acquire got: settled at once, or by a release while it waited in the queue. */
typedef enum Take
{
    TAKE_NONE,   /* nothing yet: queue (or, for a try, fail) */
    TAKE_IDLE,   /* an idle connection, to be checked */
    TAKE_SLOT,   /* a slot is reserved: connect */
    TAKE_FAILED, /* err (or the waiter's failure) says why: a timeout, or a connect failure in the backoff */
} Take;

/* One acquire queued for a connection, on the acquirer's stack while it waits. */
typedef struct Waiter Waiter;
struct Waiter
{
    Waiter *next;
    const PdPoolWaiter *how; /* NULL: a thread blocked on pool->handed */
    Take handed;             /* TAKE_NONE until a release or a failed connect settles it */
    PdDb *db;                /* with TAKE_IDLE */
    PdError failure;         /* with TAKE_FAILED */
};

struct PdPool
{
    pthread_mutex_t lock;
    pthread_cond_t handed; /* a blocked thread's wait was settled (each checks its own) */
    PdDbConnectOptions connect;
    char *conninfo;
    char *application_name;
    int size;
    int acquire_timeout_ms;
    PdDb **idle; /* a stack of idle_count connections, most recently released on top */
    int idle_count;
    Waiter *head; /* acquires waiting, oldest first: served in turn */
    Waiter *tail;
    PdPoolStats stats;
    int64_t backoff_until_ms; /* connects fail at once before this (monotonic ms) */
    PdError last_failure;     /* why the last connect failed */
};

static int64_t
monotonic_ms(void)
{
    struct timespec now;
    clock_gettime(CLOCK_MONOTONIC, &now);
    return (int64_t)now.tv_sec * 1000 + now.tv_nsec / 1000000;
}

static bool
check_options(const PdPoolOptions *options, PdError *err)
{
    if (options->size < 1)
        return pd_error_set(err, PD_ERR_INVALID_INPUT, "a pool needs a size of at least 1, not %d",
                            options->size);
    if (options->acquire_timeout_ms < 0 || options->connect_timeout_ms < 0 ||
        options->statement_timeout_ms < 0 || options->prepared_cache_size < 0)
        return pd_error_set(err, PD_ERR_INVALID_INPUT, "pool timeouts and sizes cannot be negative");
    return pd_db_conninfo_check(options->conninfo != NULL ? options->conninfo : "", err);
}

static char *
copy_text(const char *text, bool *ok)
{
    if (text == NULL)
        return NULL;
    char *copy = strdup(text);
    *ok = *ok && copy != NULL;
    return copy;
}

static bool
init_sync(PdPool *pool)
{
    pthread_condattr_t attributes;
    if (pthread_condattr_init(&attributes) != 0)
        return false;
    bool ok = pthread_condattr_setclock(&attributes, CLOCK_MONOTONIC) == 0 &&
              pthread_cond_init(&pool->handed, &attributes) == 0;
    pthread_condattr_destroy(&attributes);
    if (ok && pthread_mutex_init(&pool->lock, NULL) != 0)
    {
        pthread_cond_destroy(&pool->handed);
        ok = false;
    }
    return ok;
}

bool
pd_pool_new(const PdPoolOptions *options, PdPool **pool, PdError *err)
{
    if (!check_options(options, err))
        return false;
    PdPool *made = calloc(1, sizeof(*made));
    if (made == NULL)
        return pd_error_set(err, PD_ERR_NO_MEMORY, "out of memory for the connection pool");
    bool ok = true;
    made->conninfo = copy_text(options->conninfo != NULL ? options->conninfo : "", &ok);
    made->application_name = copy_text(options->application_name, &ok);
    made->idle = calloc((size_t)options->size, sizeof(*made->idle));
    if (!ok || made->idle == NULL || !init_sync(made))
    {
        free(made->conninfo);
        free(made->application_name);
        free(made->idle);
        free(made);
        return pd_error_set(err, PD_ERR_NO_MEMORY, "out of memory for the connection pool");
    }
    made->connect = (PdDbConnectOptions){
        made->conninfo, options->connect_timeout_ms > 0 ? options->connect_timeout_ms : 2000,
        made->application_name, options->statement_timeout_ms, options->prepared_cache_size};
    made->size = options->size;
    made->acquire_timeout_ms = options->acquire_timeout_ms;
    made->stats.size = options->size;
    *pool = made;
    return true;
}

static struct timespec
timespec_at(int64_t at_ms)
{
    struct timespec at = {.tv_sec = (time_t)(at_ms / 1000), .tv_nsec = (long)(at_ms % 1000) * 1000000L};
    return at;
}

static bool
is_backing_off(const PdPool *pool)
{
    return monotonic_ms() < pool->backoff_until_ms;
}

/* Under the lock, with nobody queued: an idle connection, a slot to connect in, the failure of the last
 * connect (none open, within the backoff: nothing to wait for), or TAKE_NONE (wait). */
static Take
take_locked(PdPool *pool, PdDb **db, PdError *err)
{
    if (pool->idle_count > 0)
    {
        *db = pool->idle[--pool->idle_count];
        pool->stats.in_use++;
        pool->stats.acquired++; /* taken back should the check find it dead */
        return TAKE_IDLE;
    }
    bool is_off = is_backing_off(pool);
    if (pool->stats.open < pool->size && !is_off)
    {
        pool->stats.open++;
        pool->stats.in_use++;
        return TAKE_SLOT;
    }
    if (pool->stats.open == 0 && is_off)
    {
        *err = pool->last_failure;
        return TAKE_FAILED;
    }
    return TAKE_NONE;
}

static void
notify(PdPool *pool, Waiter *waiter)
{
    if (waiter->how == NULL)
        pthread_cond_broadcast(&pool->handed);
    else
        waiter->how->wake(waiter->how->context); /* under the lock: the waiter cannot have moved on */
}

/* Under the lock: settles the oldest waiters while there is something to give them (a connection, a slot,
 * or, with none open in the backoff, the failure), each woken in turn. */
static void
hand_out_locked(PdPool *pool)
{
    while (pool->head != NULL)
    {
        Waiter *waiter = pool->head;
        Take take = take_locked(pool, &waiter->db, &waiter->failure);
        if (take == TAKE_NONE)
            return;
        pool->head = waiter->next;
        if (pool->head == NULL)
            pool->tail = NULL;
        pool->stats.waiting--;
        waiter->handed = take;
        notify(pool, waiter);
    }
}

static void
unlink_waiter(PdPool *pool, Waiter *waiter)
{
    Waiter **link = &pool->head;
    Waiter *previous = NULL;
    while (*link != NULL && *link != waiter)
    {
        previous = *link;
        link = &(*link)->next;
    }
    if (*link == NULL)
        return;
    *link = waiter->next;
    if (pool->tail == waiter)
        pool->tail = previous;
    pool->stats.waiting--;
}

/* Under the lock: waits in the queue until a release settles the waiter or deadline_ms passes. A thread
 * blocks on the condition variable; a coroutine parks through its wait function (the lock released). */
static Take
wait_in_queue(PdPool *pool, Waiter *waiter, int64_t deadline_ms, PdDb **db, PdError *err)
{
    int64_t started_ms = monotonic_ms();
    waiter->next = NULL;
    if (pool->tail != NULL)
        pool->tail->next = waiter;
    else
        pool->head = waiter;
    pool->tail = waiter;
    pool->stats.waiting++;
    pool->stats.waits++;
    while (waiter->handed == TAKE_NONE)
    {
        int64_t now_ms = monotonic_ms();
        if (now_ms >= deadline_ms)
        {
            unlink_waiter(pool, waiter);
            pool->stats.timeouts++;
            pool->stats.wait_us += (uint64_t)(now_ms - started_ms) * 1000;
            pd_error_set(err, PD_ERR_LOCK_TIMEOUT, "no free database connection within %d ms",
                         pool->acquire_timeout_ms);
            return pd_error_hint(err,
                                 "Every one of the pool's %d connections stayed busy; raise the pool size or "
                                 "find what holds them.",
                                 pool->size),
                   TAKE_FAILED;
        }
        int64_t until_ms = deadline_ms;
        if (pool->stats.open < pool->size && pool->backoff_until_ms > now_ms &&
            pool->backoff_until_ms < until_ms)
            until_ms = pool->backoff_until_ms; /* then a slot may be connected in */
        if (waiter->how == NULL)
        {
            struct timespec until = timespec_at(until_ms);
            pthread_cond_timedwait(&pool->handed, &pool->lock, &until);
        }
        else
        {
            pthread_mutex_unlock(&pool->lock);
            waiter->how->wait(waiter->how->context, PD_DB_NO_SOCKET, PD_DB_WAIT_WAKE,
                              (int)(until_ms - now_ms));
            pthread_mutex_lock(&pool->lock);
        }
        if (waiter->handed == TAKE_NONE)
            hand_out_locked(pool); /* the backoff may have ended */
    }
    pool->stats.wait_us += (uint64_t)(monotonic_ms() - started_ms) * 1000;
    *db = waiter->db;
    if (waiter->handed == TAKE_FAILED)
        *err = waiter->failure;
    return waiter->handed;
}

/*
 * Whether an idle connection is still good. A backend that was terminated or a server that shut down sent
 * its farewell and closed the socket: the socket reads ready while nothing was asked, and libpq, reading
 * it, finds the connection bad. One poll() when all is well.
 */
static bool
is_alive(PdDb *db)
{
    if (!pd_db_is_usable(db))
        return false;
    for (int round = 0; round < 2; round++)
    {
        struct pollfd check = {PQsocket(db->connection), POLLIN, 0};
        if (poll(&check, 1, 0) <= 0)
            break;
        if (PQconsumeInput(db->connection) != 1)
            return false;
    }
    return PQstatus(db->connection) == CONNECTION_OK;
}

/* A failed connect: the slot freed, the failure kept for the backoff, the waiters told. Under the lock. */
static void
note_failure_locked(PdPool *pool, const PdError *err)
{
    pool->stats.open--;
    pool->stats.in_use--;
    pool->stats.connect_failures++;
    pool->last_failure = *err;
    pool->backoff_until_ms = monotonic_ms() + PD_POOL_BACKOFF_MS;
    hand_out_locked(pool); /* with none open, every waiter hears the failure */
}

static bool
connect_in_slot(PdPool *pool, const PdPoolWaiter *how, PdDb **db, PdError *err)
{
    bool ok = pd_db_connect_bounded(&pool->connect, how != NULL ? how->wait : NULL,
                                    how != NULL ? how->context : NULL, db, err);
    if (!ok && (err->code == PD_ERR_DB_CONNECT || err->code == PD_ERR_INVALID_INPUT))
    {
        err->code = PD_ERR_DB_GONE; /* for callers: the database cannot be reached now (503) */
        err->is_retryable = true;
    }
    pthread_mutex_lock(&pool->lock);
    if (ok)
    {
        pool->stats.connects++;
        pool->stats.acquired++;
    }
    else
        note_failure_locked(pool, err);
    pthread_mutex_unlock(&pool->lock);
    return ok;
}

/* An idle connection found dead: closed, its slot freed (the next idle one is tried then: a warm connection
 * beats a new one). */
static void
drop_dead(PdPool *pool, PdDb *dead)
{
    pd_db_close(dead);
    pthread_mutex_lock(&pool->lock);
    pool->stats.open--;
    pool->stats.in_use--;
    pool->stats.acquired--;
    hand_out_locked(pool);
    pthread_mutex_unlock(&pool->lock);
}

static bool
acquire(PdPool *pool, const PdPoolWaiter *how, bool may_wait, PdDb **db, PdError *err)
{
    PdError scratch = {0};
    if (err == NULL)
        err = &scratch;
    int64_t deadline_ms = monotonic_ms() + pool->acquire_timeout_ms;
    bool has_turn = false; /* it took a dead connection: it takes again without queueing behind others */
    for (;;)
    {
        PdDb *taken = NULL;
        Waiter waiter = {.how = how};
        pthread_mutex_lock(&pool->lock);
        Take take = pool->head == NULL || has_turn ? take_locked(pool, &taken, err) : TAKE_NONE;
        if (take == TAKE_NONE && !may_wait)
        {
            pd_error_set(err, PD_ERR_LOCK_TIMEOUT, "every database connection is in use");
            take = TAKE_FAILED;
        }
        else if (take == TAKE_NONE)
            take = wait_in_queue(pool, &waiter, deadline_ms, &taken, err);
        pthread_mutex_unlock(&pool->lock);
        if (take == TAKE_FAILED)
            return false;
        if (take == TAKE_SLOT)
            return connect_in_slot(pool, how, db, err);
        if (is_alive(taken))
        {
            pd_db_set_wait(taken, how != NULL ? how->wait : NULL, how != NULL ? how->context : NULL);
            *db = taken;
            return true;
        }
        drop_dead(pool, taken);
        has_turn = true;
    }
}

bool
pd_pool_acquire(PdPool *pool, PdDb **db, PdError *err)
{
    return acquire(pool, NULL, true, db, err);
}

bool
pd_pool_try_acquire(PdPool *pool, PdDb **db, PdError *err)
{
    return acquire(pool, NULL, false, db, err);
}

bool
pd_pool_acquire_with(PdPool *pool, const PdPoolWaiter *waiter, bool may_wait, PdDb **db, PdError *err)
{
    return acquire(pool, waiter, may_wait, db, err);
}

/* Leaves db as a new acquirer expects it: no session, no transaction, no LISTEN. False when it cannot. */
static bool
reset_for_reuse(PdDb *db)
{
    pd_db_set_session(db, NULL);
    if (!pd_db_is_usable(db) || PQpipelineStatus(db->connection) != PQ_PIPELINE_OFF)
        return false;
    PGTransactionStatusType state = PQtransactionStatus(db->connection);
    PdError ignored = {0};
    if (state == PQTRANS_ACTIVE || state == PQTRANS_UNKNOWN)
        return false;
    if (state != PQTRANS_IDLE && !pd_db_rollback(db, &ignored))
        return false;
    if (db->is_listening)
    {
        if (!pd_db_exec(db, "UNLISTEN *", &ignored))
            return false;
        PGnotify *notify;
        while ((notify = PQnotifies(db->connection)) != NULL)
            PQfreemem(notify);
        db->is_listening = false;
    }
    return pd_db_is_usable(db);
}

void
pd_pool_release(PdPool *pool, PdDb *db)
{
    if (db == NULL)
        return;
    bool is_kept = reset_for_reuse(db);
    pd_db_set_wait(db, NULL, NULL);
    pthread_mutex_lock(&pool->lock);
    pool->stats.in_use--;
    if (is_kept && pool->idle_count < pool->size)
        pool->idle[pool->idle_count++] = db;
    else
    {
        is_kept = false;
        pool->stats.open--;
    }
    hand_out_locked(pool); /* to the oldest waiter: the connection, or the slot it left */
    pthread_mutex_unlock(&pool->lock);
    if (!is_kept)
        pd_db_close(db);
}

void
pd_pool_stats(PdPool *pool, PdPoolStats *stats)
{
    pthread_mutex_lock(&pool->lock);
    *stats = pool->stats;
    pthread_mutex_unlock(&pool->lock);
}

void
pd_pool_free(PdPool *pool)
{
    if (pool == NULL)
        return;
    for (int i = 0; i < pool->idle_count; i++)
        pd_db_close(pool->idle[i]);
    pthread_cond_destroy(&pool->handed);
    pthread_mutex_destroy(&pool->lock);
    free(pool->idle);
    free(pool->conninfo);
    free(pool->application_name);
    free(pool);
}
