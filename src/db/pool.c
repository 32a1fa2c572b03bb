/*
 * pool.c - the bounded, thread-safe connection pool (pool.h). One mutex
 * guards the counters and the stack of idle connections; a condition
 * variable (on the monotonic clock) wakes a waiter when a connection or a
 * slot is given back. Nothing slow happens under the mutex: connecting,
 * checking a connection, rolling back and closing are done outside it, with
 * the slot reserved (`open` counts connections being made), so the bound
 * holds while a connect is under way. Idle connections are a stack: the most
 * recently used goes out first, its caches warm. After a failed connect the
 * failure is kept and, for PD_POOL_BACKOFF_MS, returned at once to whoever
 * would connect, and the waiters are woken to hear it: a dead server costs
 * one attempt per backoff, not one per request.
 */
#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "db/connection.h"
#include "prodata/pool.h"

struct PdPool
{
    pthread_mutex_t lock;
    pthread_cond_t released; /* a connection or a slot came free, or a connect failed */
    PdDbConnectOptions connect;
    char *conninfo;
    char *application_name;
    int size;
    int acquire_timeout_ms;
    PdDb **idle; /* a stack of idle_count connections, most recently released on top */
    int idle_count;
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
    if (!pd_db_is_valid_conninfo(options->conninfo != NULL ? options->conninfo : ""))
        return pd_error_set(err, PD_ERR_INVALID_INPUT,
                            "the database setting is not a valid connection string");
    return true;
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
              pthread_cond_init(&pool->released, &attributes) == 0;
    pthread_condattr_destroy(&attributes);
    if (ok && pthread_mutex_init(&pool->lock, NULL) != 0)
    {
        pthread_cond_destroy(&pool->released);
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
deadline_after(int timeout_ms)
{
    struct timespec deadline;
    clock_gettime(CLOCK_MONOTONIC, &deadline);
    deadline.tv_sec += timeout_ms / 1000;
    deadline.tv_nsec += (long)(timeout_ms % 1000) * 1000000L;
    if (deadline.tv_nsec >= 1000000000L)
    {
        deadline.tv_sec++;
        deadline.tv_nsec -= 1000000000L;
    }
    return deadline;
}

typedef enum Take
{
    TAKE_IDLE,   /* *db is an idle connection, to be checked */
    TAKE_SLOT,   /* a slot is reserved: connect */
    TAKE_FAILED, /* err says why: a timeout, or a connect failure within the backoff */
} Take;

/* Under the lock: an idle connection, a slot to connect in, or a bounded wait for either (deadline NULL:
 * no wait, PD_ERR_LOCK_TIMEOUT at once, not counted as a timeout). */
static Take
take_locked(PdPool *pool, const struct timespec *deadline, PdDb **db, PdError *err)
{
    for (;;)
    {
        if (pool->idle_count > 0)
        {
            *db = pool->idle[--pool->idle_count];
            pool->stats.in_use++;
            pool->stats.acquired++; /* taken back should the check find it dead */
            return TAKE_IDLE;
        }
        bool is_backing_off = monotonic_ms() < pool->backoff_until_ms;
        if (pool->stats.open < pool->size && !is_backing_off)
        {
            pool->stats.open++;
            pool->stats.in_use++;
            return TAKE_SLOT;
        }
        /* No connect now: with none open there is nothing to wait for; else one may come back. */
        if (pool->stats.open == 0)
        {
            *err = pool->last_failure;
            return TAKE_FAILED;
        }
        if (deadline == NULL)
            return pd_error_set(err, PD_ERR_LOCK_TIMEOUT, "every database connection is in use"), TAKE_FAILED;
        pool->stats.waiting++;
        int waited = pthread_cond_timedwait(&pool->released, &pool->lock, deadline);
        pool->stats.waiting--;
        bool may_connect = pool->stats.open < pool->size && monotonic_ms() >= pool->backoff_until_ms;
        if (waited == ETIMEDOUT && pool->idle_count == 0 && !may_connect)
        {
            pool->stats.timeouts++;
            pd_error_set(err, PD_ERR_LOCK_TIMEOUT, "no free database connection within %d ms",
                         pool->acquire_timeout_ms);
            pd_error_hint(err,
                          "Every one of the pool's %d connections stayed busy; raise the pool size or "
                          "find what holds them.",
                          pool->size);
            return TAKE_FAILED;
        }
    }
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
    pthread_cond_broadcast(&pool->released);
}

static bool
connect_in_slot(PdPool *pool, PdDb **db, PdError *err)
{
    bool ok = pd_db_connect_bounded(&pool->connect, db, err);
    if (!ok && err != NULL && (err->code == PD_ERR_DB_CONNECT || err->code == PD_ERR_INVALID_INPUT))
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

static bool
acquire(PdPool *pool, const struct timespec *deadline, PdDb **db, PdError *err)
{
    PdError scratch = {0};
    if (err == NULL)
        err = &scratch;
    pthread_mutex_lock(&pool->lock);
    for (;;)
    {
        PdDb *taken = NULL;
        Take take = take_locked(pool, deadline, &taken, err);
        pthread_mutex_unlock(&pool->lock);
        if (take == TAKE_FAILED)
            return false;
        if (take == TAKE_SLOT)
            return connect_in_slot(pool, db, err);
        if (is_alive(taken))
        {
            *db = taken;
            return true;
        }
        pd_db_close(taken); /* gone while idle: its slot is free for a new one */
        pthread_mutex_lock(&pool->lock);
        pool->stats.open--;
        pool->stats.in_use--;
        pool->stats.acquired--;
    }
}

bool
pd_pool_acquire(PdPool *pool, PdDb **db, PdError *err)
{
    struct timespec deadline = deadline_after(pool->acquire_timeout_ms);
    return acquire(pool, &deadline, db, err);
}

bool
pd_pool_try_acquire(PdPool *pool, PdDb **db, PdError *err)
{
    return acquire(pool, NULL, db, err);
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
    pthread_cond_signal(&pool->released);
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
    pthread_cond_destroy(&pool->released);
    pthread_mutex_destroy(&pool->lock);
    free(pool->idle);
    free(pool->conninfo);
    free(pool->application_name);
    free(pool);
}
