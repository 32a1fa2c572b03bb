/*
 * pool.h - a bounded pool of PostgreSQL connections shared by threads (the
 * REST server's workers). At most `size` connections are open; they are made
 * on demand (lazily), each attempt bounded by connect_timeout_ms, and reused
 * most recently released first. A thread that finds every connection busy
 * waits at most acquire_timeout_ms: never unboundedly. A connection found
 * broken (libpq's state, or a statement that returned PD_ERR_DB_GONE) is
 * closed on release and replaced on the next demand, so the pool recovers
 * when the server comes back, and, with a multi-host conninfo and
 * target_session_attrs=read-write, follows a primary that moved. After a
 * failed connect, acquires within a short backoff fail at once with
 * PD_ERR_DB_GONE instead of each trying (and waiting for) a connect of their
 * own. Every function is thread-safe; a PdDb acquired belongs to the thread
 * holding it until released.
 */
#ifndef PRODATA_POOL_H
#define PRODATA_POOL_H

#include <stdbool.h>
#include <stdint.h>

#include "prodata/db.h"
#include "prodata/error.h"
#include "prodata/export.h"

PD_API_BEGIN

typedef struct PdPool PdPool;

typedef struct PdPoolOptions
{
    const char *conninfo;         /* libpq keyword form or URI; multi-host + target_session_attrs welcome */
    int size;                     /* most connections open at once (>= 1) */
    int acquire_timeout_ms;       /* how long pd_pool_acquire waits for a free connection (0: not at all) */
    int connect_timeout_ms;       /* bound on one connection attempt, per host named (0: 2000); libpq
                                     itself moves to the next host after whole seconds, at least 2 */
    int statement_timeout_ms;     /* set on each new connection (a startup option); 0: the server's */
    const char *application_name; /* "prodata serve"; NULL: the conninfo's, else "prodata" */
    int prepared_cache_size;      /* statements kept prepared per connection; 0: 256 */
} PdPoolOptions;

typedef struct PdPoolStats
{
    int size;                  /* the bound */
    int open;                  /* connections open or being opened */
    int in_use;                /* acquired and not yet released */
    int waiting;               /* acquires queued for a connection now */
    uint64_t acquired;         /* successful acquires, ever */
    uint64_t timeouts;         /* acquires that gave up waiting */
    uint64_t connects;         /* connections made */
    uint64_t connect_failures; /* attempts that failed */
    uint64_t waits;            /* acquires that had to queue (found every connection lent) */
    uint64_t wait_us;          /* microseconds they spent queued, in all */
} PdPoolStats;

/*
 * A pool; connects nobody yet. The options are copied. Errors:
 * PD_ERR_INVALID_INPUT (size < 1, a negative timeout, a conninfo that does not
 * parse: as pd_db_conninfo_check, no value quoted), PD_ERR_NO_MEMORY.
 */
bool pd_pool_new(const PdPoolOptions *options, PdPool **pool, PdError *err);

/*
 * A free connection, or a new one while fewer than size are open; waits up
 * to acquire_timeout_ms for one to be released, then PD_ERR_LOCK_TIMEOUT
 * ("no free database connection within N ms", retryable). PD_ERR_DB_GONE
 * (retryable; detail: libpq's reason) when a connection cannot be made; for a
 * short backoff after that failure (PD_POOL_BACKOFF_MS) no connect is tried:
 * with no connection open an acquire fails at once with the same error, with
 * some open it waits (bounded) for one of them. Waits are served first come, first served. A
 * connection whose server end is known gone
 * (a terminated backend) is replaced before it is handed out. The PdDb is the
 * caller's until pd_pool_release; it has no session and no open transaction.
 */
bool pd_pool_acquire(PdPool *pool, PdDb **db, PdError *err);

/*
 * As pd_pool_acquire, but never waits for a release: with every connection
 * lent, or others queued before it (or, after a failed connect, within the
 * backoff) it fails at once with PD_ERR_LOCK_TIMEOUT "every database
 * connection is in use". A connect it makes blocks the thread (bounded).
 */
bool pd_pool_try_acquire(PdPool *pool, PdDb **db, PdError *err);

/* How a caller that must not block its thread (a coroutine on an event loop) waits: for sockets and for a
 * wake-up through wait (include/prodata/db.h), woken by wake(context) from whichever thread releases. */
typedef struct PdPoolWaiter
{
    PdDbWaitFn wait;
    PdDbWakeFn wake; /* called under the pool's lock: it must not call into the pool */
    void *context;
} PdPoolWaiter;

/*
 * As pd_pool_acquire (may_wait) or pd_pool_try_acquire (!may_wait), for a caller that must not block its
 * thread: a new connection is made through waiter->wait (libpq's nonblocking connect, bounded as ever; a
 * host name is still resolved by libpq, blocking), and a wait for a free connection parks the caller in
 * the pool's queue (wait with PD_DB_WAIT_WAKE, at most acquire_timeout_ms in all) until a release hands it
 * one. Waiters of both kinds are served in the order they came, and while any waits a newcomer queues
 * behind them. The PdDb comes with waiter's wait set (pd_db_set_wait: nonblocking mode).
 */
bool pd_pool_acquire_with(PdPool *pool, const PdPoolWaiter *waiter, bool may_wait, PdDb **db, PdError *err);

/* How long acquires fail at once after a failed connect. */
#define PD_POOL_BACKOFF_MS 500

/*
 * Gives db back: an open transaction is rolled back, the session cleared, a
 * LISTEN undone; a broken connection is closed and its slot freed. NULL is a
 * no-op.
 */
void pd_pool_release(PdPool *pool, PdDb *db);

/* A consistent snapshot of the counters. */
void pd_pool_stats(PdPool *pool, PdPoolStats *stats);

/* Closes every connection and frees the pool. Every connection must have been released. NULL: no-op. */
void pd_pool_free(PdPool *pool);

PD_API_END

#endif
