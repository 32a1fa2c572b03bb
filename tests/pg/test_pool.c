/*
 * test_pool.c - the connection pool and the db additions it brings
 * (prepared statements, the request session, transactions, savepoints,
 * LISTEN/NOTIFY) against the real test cluster: threads hammering a small
 * pool, bounded waits and connects, recovery after the server ends our
 * backends, a multi-host conninfo whose first host is dead, callers that must
 * not block their thread (connects, flushes and waits for a free connection
 * through their wait function; waiters served in turn, woken by the release,
 * counted), and the session's role and settings as the server sees them.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "pgtest.h"
#include "prodata/pool.h"

static int64_t
now_ms(void)
{
    struct timespec now;
    clock_gettime(CLOCK_MONOTONIC, &now);
    return (int64_t)now.tv_sec * 1000 + now.tv_nsec / 1000000;
}

static PdPool *
make_pool(const char *conninfo, int size, int acquire_timeout_ms, const char *application_name)
{
    PdPoolOptions options = {.conninfo = conninfo,
                             .size = size,
                             .acquire_timeout_ms = acquire_timeout_ms,
                             .connect_timeout_ms = 2000,
                             .application_name = application_name};
    PdPool *pool = NULL;
    PdError err = {0};
    assert_true(pd_pool_new(&options, &pool, &err));
    return pool;
}

/* The single text value of sql run (prepared) on db, copied into buf. */
static const char *
query_text(PdDb *db, const char *sql, char *buf, size_t size)
{
    PdArena *arena = pd_arena_new(0);
    PdDbResult *result = NULL;
    PdError err = {0};
    bool ok = pd_db_query_prepared(arena, db, sql, 0, NULL, &result, &err);
    if (!ok)
        fprintf(stderr, "query failed: %s (%s)\n", err.message, err.sqlstate);
    assert_true(ok);
    snprintf(buf, size, "%s", pd_db_result_value(result, 0, 0));
    pd_arena_free(arena);
    return buf;
}

/* ---- many threads, a small pool ---- */

#define HAMMER_THREADS 8
#define HAMMER_ROUNDS 150
#define HAMMER_SIZE 3

static pthread_mutex_t held_lock = PTHREAD_MUTEX_INITIALIZER;
static PdDb *held[HAMMER_THREADS];
static int duplicates;
static int failures;

static void
note_held(int thread, PdDb *db)
{
    pthread_mutex_lock(&held_lock);
    for (int i = 0; i < HAMMER_THREADS; i++)
        if (db != NULL && held[i] == db)
            duplicates++;
    held[thread] = db;
    pthread_mutex_unlock(&held_lock);
}

typedef struct HammerArgs
{
    PdPool *pool;
    int thread;
} HammerArgs;

static void *
hammer(void *data)
{
    HammerArgs *args = data;
    PdArena *arena = pd_arena_new(0);
    for (int round = 0; round < HAMMER_ROUNDS; round++)
    {
        PdDb *db = NULL;
        PdError err = {0};
        if (!pd_pool_acquire(args->pool, &db, &err))
        {
            __atomic_add_fetch(&failures, 1, __ATOMIC_SEQ_CST);
            continue;
        }
        note_held(args->thread, db);
        char value[16];
        snprintf(value, sizeof(value), "%d", round);
        const char *params[] = {value};
        PdDbResult *result = NULL;
        if (!pd_db_query_prepared(arena, db, "SELECT $1::int + 1", 1, params, &result, &err) ||
            atoi(pd_db_result_value(result, 0, 0)) != round + 1)
            __atomic_add_fetch(&failures, 1, __ATOMIC_SEQ_CST);
        note_held(args->thread, NULL);
        pd_pool_release(args->pool, db);
        pd_arena_reset(arena);
    }
    pd_arena_free(arena);
    return NULL;
}

static void
test_many_threads_share_a_small_pool(void **state)
{
    (void)state;
    PdPool *pool = make_pool(pgtest_conninfo(), HAMMER_SIZE, 10000, "pool_hammer");
    pthread_t threads[HAMMER_THREADS];
    HammerArgs args[HAMMER_THREADS];
    for (int i = 0; i < HAMMER_THREADS; i++)
    {
        args[i] = (HammerArgs){pool, i};
        assert_int_equal(pthread_create(&threads[i], NULL, hammer, &args[i]), 0);
    }
    for (int i = 0; i < HAMMER_THREADS; i++)
        pthread_join(threads[i], NULL);
    assert_int_equal(duplicates, 0);
    assert_int_equal(failures, 0);
    PdPoolStats stats;
    pd_pool_stats(pool, &stats);
    assert_int_equal(stats.size, HAMMER_SIZE);
    assert_true(stats.open >= 1 && stats.open <= HAMMER_SIZE);
    assert_int_equal(stats.in_use, 0);
    assert_int_equal(stats.waiting, 0);
    assert_int_equal(stats.acquired, HAMMER_THREADS * HAMMER_ROUNDS);
    assert_int_equal(stats.timeouts, 0);
    assert_int_equal(stats.connects, (uint64_t)stats.open);
    assert_int_equal(stats.connect_failures, 0);
    /* The server agrees: no more backends than the bound. */
    PdDb *admin = pgtest_connect();
    char count[16];
    query_text(admin, "SELECT count(*) FROM pg_stat_activity WHERE application_name = 'pool_hammer'", count,
               sizeof(count));
    assert_int_equal(atoi(count), stats.open);
    pd_db_close(admin);
    pd_pool_free(pool);
}

/* ---- bounded waits ---- */

static void
test_acquire_times_out_when_all_are_busy(void **state)
{
    (void)state;
    PdPool *pool = make_pool(pgtest_conninfo(), 1, 200, NULL);
    PdDb *first = NULL;
    PdDb *second = NULL;
    PdError err = {0};
    assert_true(pd_pool_acquire(pool, &first, &err));
    int64_t start = now_ms();
    assert_false(pd_pool_acquire(pool, &second, &err));
    int64_t waited = now_ms() - start;
    assert_int_equal(err.code, PD_ERR_LOCK_TIMEOUT);
    assert_true(err.is_retryable);
    assert_string_equal(err.message, "no free database connection within 200 ms");
    assert_true(waited >= 190 && waited < 2000);
    PdPoolStats stats;
    pd_pool_stats(pool, &stats);
    assert_int_equal(stats.timeouts, 1);
    assert_int_equal(stats.in_use, 1);
    pd_pool_release(pool, first);
    assert_true(pd_pool_acquire(pool, &second, &err));
    assert_ptr_equal(first, second); /* the same connection, reused */
    pd_pool_release(pool, second);
    pd_pool_free(pool);
}

/* ---- the server ends our backends ---- */

static int
terminate_backends(const char *application_name)
{
    PdDb *admin = pgtest_connect();
    char sql[256];
    char count[16];
    snprintf(
        sql, sizeof(sql),
        "SELECT count(pg_terminate_backend(pid, 5000)) FROM pg_stat_activity WHERE application_name = '%s'",
        application_name);
    query_text(admin, sql, count, sizeof(count));
    pd_db_close(admin);
    return atoi(count);
}

static void
test_reconnects_after_backends_are_terminated(void **state)
{
    (void)state;
    PdPool *pool = make_pool(pgtest_conninfo(), 2, 2000, "pool_terminate");
    PdDb *a = NULL;
    PdDb *b = NULL;
    PdError err = {0};
    char buf[32];
    assert_true(pd_pool_acquire(pool, &a, &err) && pd_pool_acquire(pool, &b, &err));
    pd_pool_release(pool, a);
    pd_pool_release(pool, b);
    assert_int_equal(terminate_backends("pool_terminate"), 2);
    /* Idle connections whose backend is gone are replaced before they are handed out. */
    assert_true(pd_pool_acquire(pool, &a, &err));
    assert_string_equal(query_text(a, "SELECT 'alive'", buf, sizeof(buf)), "alive");
    pd_pool_release(pool, a);
    PdPoolStats stats;
    pd_pool_stats(pool, &stats);
    assert_int_equal(stats.connects, 3);
    /* A connection lost while in use fails its statement with PD_ERR_DB_GONE and is closed on release. */
    assert_true(pd_pool_acquire(pool, &a, &err));
    assert_int_equal(terminate_backends("pool_terminate"), 1);
    PdArena *arena = pd_arena_new(0);
    PdDbResult *result = NULL;
    assert_false(pd_db_query_prepared(arena, a, "SELECT 1", 0, NULL, &result, &err));
    assert_int_equal(err.code, PD_ERR_DB_GONE);
    assert_true(err.is_retryable);
    assert_false(pd_db_is_usable(a));
    pd_pool_release(pool, a);
    pd_pool_stats(pool, &stats);
    assert_int_equal(stats.open, 0);
    assert_true(pd_pool_acquire(pool, &a, &err));
    assert_string_equal(query_text(a, "SELECT 'back'", buf, sizeof(buf)), "back");
    pd_pool_release(pool, a);
    pd_arena_free(arena);
    pd_pool_free(pool);
}

/* ---- dead addresses ---- */

/* A loopback port that accepts TCP connections and never answers: a server that hangs. */
static int
silent_listener(int *port)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in address = {.sin_family = AF_INET, .sin_port = 0};
    address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t length = sizeof(address);
    assert_int_equal(bind(fd, (struct sockaddr *)&address, sizeof(address)), 0);
    assert_int_equal(listen(fd, 16), 0);
    assert_int_equal(getsockname(fd, (struct sockaddr *)&address, &length), 0);
    *port = ntohs(address.sin_port);
    return fd;
}

/* A loopback port nobody listens on (bound, then closed). */
static int
closed_port(void)
{
    int port = 0;
    int fd = silent_listener(&port);
    close(fd);
    return port;
}

static void
test_dead_address_fails_fast(void **state)
{
    (void)state;
    int port = 0;
    int listener = silent_listener(&port);
    char conninfo[128];
    snprintf(conninfo, sizeof(conninfo), "host=127.0.0.1 port=%d dbname=nothing user=nobody", port);
    PdPoolOptions options = {
        .conninfo = conninfo, .size = 4, .acquire_timeout_ms = 5000, .connect_timeout_ms = 300};
    PdPool *pool = NULL;
    PdDb *db = NULL;
    PdError err = {0};
    assert_true(pd_pool_new(&options, &pool, &err));
    int64_t start = now_ms();
    assert_false(pd_pool_acquire(pool, &db, &err));
    int64_t took = now_ms() - start;
    assert_int_equal(err.code, PD_ERR_DB_GONE);
    assert_true(err.is_retryable);
    assert_string_equal(err.message, "could not connect to PostgreSQL within 300 ms");
    assert_true(took >= 250 && took < 1500);
    /* Within the backoff, no new attempt: the same error at once. */
    start = now_ms();
    assert_false(pd_pool_acquire(pool, &db, &err));
    assert_int_equal(err.code, PD_ERR_DB_GONE);
    assert_true(now_ms() - start < 50);
    PdPoolStats stats;
    pd_pool_stats(pool, &stats);
    assert_int_equal(stats.connect_failures, 1);
    assert_int_equal(stats.open, 0);
    assert_int_equal(stats.in_use, 0);
    close(listener);
    pd_pool_free(pool);
    /* A refused port fails at once too. */
    snprintf(conninfo, sizeof(conninfo), "host=127.0.0.1 port=%d dbname=nothing", closed_port());
    assert_true(pd_pool_new(&options, &pool, &err));
    start = now_ms();
    assert_false(pd_pool_acquire(pool, &db, &err));
    assert_int_equal(err.code, PD_ERR_DB_GONE);
    assert_true(now_ms() - start < 1000);
    assert_non_null(strstr(err.detail, "refused"));
    pd_pool_free(pool);
}

typedef struct DelayedRelease
{
    PdPool *pool;
    PdDb *db;
    int delay_ms;
} DelayedRelease;

static void *
release_later(void *data)
{
    DelayedRelease *release = data;
    usleep((useconds_t)release->delay_ms * 1000);
    pd_pool_release(release->pool, release->db);
    return NULL;
}

static void
test_failed_connect_lets_waiters_wait_for_open_connections(void **state)
{
    (void)state;
    PdDb *admin = pgtest_connect();
    pgtest_exec(admin, "DO $$ BEGIN CREATE ROLE pool_limited LOGIN CONNECTION LIMIT 1; "
                       "EXCEPTION WHEN duplicate_object THEN NULL; END $$");
    pd_db_close(admin);
    char conninfo[512];
    snprintf(conninfo, sizeof(conninfo), "%s user=pool_limited", pgtest_conninfo());
    PdPool *pool = make_pool(conninfo, 2, 3000, NULL);
    PdDb *first = NULL;
    PdDb *second = NULL;
    PdError err = {0};
    assert_true(pd_pool_acquire(pool, &first, &err));
    /* The role's limit refuses a second connection: the pool says the database cannot be reached. */
    assert_false(pd_pool_acquire(pool, &second, &err));
    assert_int_equal(err.code, PD_ERR_DB_GONE);
    assert_non_null(strstr(err.detail, "too many connections"));
    /* Within the backoff no connect is tried, but the open connection is worth waiting for. */
    DelayedRelease release = {pool, first, 200};
    pthread_t thread;
    assert_int_equal(pthread_create(&thread, NULL, release_later, &release), 0);
    int64_t start = now_ms();
    assert_true(pd_pool_acquire(pool, &second, &err));
    assert_true(now_ms() - start >= 150);
    assert_ptr_equal(second, first);
    pthread_join(thread, NULL);
    PdPoolStats stats;
    pd_pool_stats(pool, &stats);
    assert_int_equal(stats.connects, 1);
    assert_int_equal(stats.connect_failures, 1);
    assert_int_equal(stats.open, 1);
    pd_pool_release(pool, second);
    pd_pool_free(pool);
}

/* The value of `key=` in the test conninfo (keyword form). */
static void
conninfo_value(const char *key, char *buf, size_t size)
{
    char pattern[32];
    snprintf(pattern, sizeof(pattern), "%s=", key);
    const char *at = strstr(pgtest_conninfo(), pattern);
    assert_non_null(at);
    at += strlen(pattern);
    snprintf(buf, size, "%.*s", (int)strcspn(at, " "), at);
}

/* A multi-host conninfo whose first host refuses connections and whose second is the test database (its port
 * in port). */
static void
dead_first_host(char *port, size_t port_size, char *conninfo, size_t conninfo_size)
{
    char dbname[128];
    conninfo_value("port", port, port_size);
    conninfo_value("dbname", dbname, sizeof(dbname));
    snprintf(conninfo, conninfo_size,
             "host=127.0.0.1,127.0.0.1 port=%d,%s dbname=%s user=postgres target_session_attrs=read-write",
             closed_port(), port, dbname);
}

static void
test_multi_host_skips_a_dead_first_host(void **state)
{
    (void)state;
    char port[16], conninfo[512], buf[32];
    dead_first_host(port, sizeof(port), conninfo, sizeof(conninfo));
    PdPool *pool = make_pool(conninfo, 2, 2000, NULL);
    PdDb *db = NULL;
    PdError err = {0};
    assert_true(pd_pool_acquire(pool, &db, &err));
    assert_string_equal(query_text(db, "SELECT inet_server_port()::text", buf, sizeof(buf)), port);
    pd_pool_release(pool, db);
    pd_pool_free(pool);
}

/* ---- callers that must not block their thread (pd_pool_acquire_with) ---- */

/* A caller's waits, recorded: sockets with poll(), wake-ups on a condition variable that wake signals. */
typedef struct Recorder
{
    pthread_mutex_t lock;
    pthread_cond_t signal;
    bool is_woken;
    int socket_waits;
    int write_waits; /* with PD_DB_WAIT_WRITE: a flush that could not finish at once */
    int wake_waits;
    int wakes;
    int longest_timeout_ms;
} Recorder;

static void
recorder_init(Recorder *recorder)
{
    memset(recorder, 0, sizeof(*recorder));
    pthread_mutex_init(&recorder->lock, NULL);
    pthread_cond_init(&recorder->signal, NULL);
}

static bool
park(Recorder *recorder, int timeout_ms)
{
    struct timespec until;
    clock_gettime(CLOCK_REALTIME, &until);
    until.tv_sec += timeout_ms / 1000 + 1;
    pthread_mutex_lock(&recorder->lock);
    recorder->wake_waits++;
    int waited = 0;
    while (!recorder->is_woken && waited == 0)
        waited = pthread_cond_timedwait(&recorder->signal, &recorder->lock, &until);
    bool is_woken = recorder->is_woken;
    recorder->is_woken = false;
    pthread_mutex_unlock(&recorder->lock);
    return is_woken;
}

static bool
recorder_wait(void *context, int socket, PdDbWaitFor what, int timeout_ms)
{
    Recorder *recorder = context;
    if (what == PD_DB_WAIT_WAKE)
        return park(recorder, timeout_ms);
    pthread_mutex_lock(&recorder->lock);
    recorder->socket_waits++;
    recorder->write_waits += (what & PD_DB_WAIT_WRITE) != 0;
    if (timeout_ms > recorder->longest_timeout_ms)
        recorder->longest_timeout_ms = timeout_ms;
    pthread_mutex_unlock(&recorder->lock);
    struct pollfd ready = {
        socket, (short)(((what & PD_DB_WAIT_READ) ? POLLIN : 0) | ((what & PD_DB_WAIT_WRITE) ? POLLOUT : 0)),
        0};
    return poll(&ready, 1, timeout_ms) > 0;
}

static void
recorder_wake(void *context)
{
    Recorder *recorder = context;
    pthread_mutex_lock(&recorder->lock);
    recorder->is_woken = true;
    recorder->wakes++;
    pthread_cond_signal(&recorder->signal);
    pthread_mutex_unlock(&recorder->lock);
}

static void
test_waiter_connects_through_its_wait(void **state)
{
    (void)state;
    char port[16], conninfo[512], buf[32];
    dead_first_host(port, sizeof(port), conninfo, sizeof(conninfo));
    PdPool *pool = make_pool(conninfo, 2, 2000, NULL);
    Recorder recorder;
    recorder_init(&recorder);
    PdPoolWaiter waiter = {recorder_wait, recorder_wake, &recorder};
    PdDb *db = NULL;
    PdError err = {0};
    assert_true(pd_pool_acquire_with(pool, &waiter, true, &db, &err));
    /* libpq's connect went through the caller's wait (the dead first host skipped, the primary found) */
    assert_true(recorder.socket_waits >= 2);
    assert_true(recorder.longest_timeout_ms > 0 && recorder.longest_timeout_ms <= 4000);
    int connect_waits = recorder.socket_waits;
    assert_string_equal(query_text(db, "SELECT inet_server_port()::text", buf, sizeof(buf)), port);
    assert_true(recorder.socket_waits > connect_waits); /* and so do its statements */
    pd_pool_release(pool, db);
    /* An idle connection taken again comes with the new caller's wait too. */
    Recorder second;
    recorder_init(&second);
    PdPoolWaiter other = {recorder_wait, recorder_wake, &second};
    assert_true(pd_pool_acquire_with(pool, &other, true, &db, &err));
    assert_string_equal(query_text(db, "SELECT 'again'", buf, sizeof(buf)), "again");
    assert_true(second.socket_waits >= 1);
    pd_pool_release(pool, db);
    pd_pool_free(pool);
}

static void
test_waiter_connect_is_bounded_through_its_wait(void **state)
{
    (void)state;
    int port = 0;
    int silent = silent_listener(&port); /* accepts, never answers: libpq waits for its first reply */
    char conninfo[256];
    snprintf(conninfo, sizeof(conninfo), "host=127.0.0.1 port=%d dbname=x user=x", port);
    PdPoolOptions options = {
        .conninfo = conninfo, .size = 1, .acquire_timeout_ms = 100, .connect_timeout_ms = 300};
    PdPool *pool = NULL;
    PdError err = {0};
    assert_true(pd_pool_new(&options, &pool, &err));
    Recorder recorder;
    recorder_init(&recorder);
    PdPoolWaiter waiter = {recorder_wait, recorder_wake, &recorder};
    PdDb *db = NULL;
    int64_t start = now_ms();
    assert_false(pd_pool_acquire_with(pool, &waiter, true, &db, &err));
    int64_t took = now_ms() - start;
    assert_int_equal(err.code, PD_ERR_DB_GONE);
    assert_string_equal(err.message, "could not connect to PostgreSQL within 300 ms");
    assert_true(took >= 280 && took < 3000);
    assert_true(recorder.socket_waits >= 1 && recorder.longest_timeout_ms <= 300);
    pd_pool_free(pool);
    close(silent);
}

static void
test_large_parameter_is_flushed_through_the_wait(void **state)
{
    (void)state;
    PdPool *pool = make_pool(pgtest_conninfo(), 1, 2000, NULL);
    Recorder recorder;
    recorder_init(&recorder);
    PdPoolWaiter waiter = {recorder_wait, recorder_wake, &recorder};
    PdDb *db = NULL;
    PdError err = {0};
    assert_true(pd_pool_acquire_with(pool, &waiter, true, &db, &err));
    size_t size = (size_t)32 * 1024 * 1024; /* far past the kernel's socket buffers */
    char *large = malloc(size + 1);
    assert_non_null(large);
    memset(large, 'x', size);
    large[size] = '\0';
    const char *params[] = {large};
    PdArena *arena = pd_arena_new(0);
    PdDbResult *result = NULL;
    recorder.write_waits = 0;
    assert_true(pd_db_query(arena, db, "SELECT length($1)::text", 1, params, &result, &err));
    assert_string_equal(pd_db_result_value(result, 0, 0), "33554432");
    /* libpq could not send it at once: the rest went out as the caller's wait said the socket took more
     * (in blocking mode the thread would have blocked inside libpq, the caller none the wiser) */
    assert_true(recorder.write_waits >= 1);
    free(large);
    pd_arena_free(arena);
    pd_pool_release(pool, db);
    pd_pool_free(pool);
}

typedef struct Queued
{
    PdPool *pool;
    Recorder *recorder; /* NULL: a thread in pd_pool_acquire */
    int id;
    PdDb *db;
    bool ok;
    PdError err;
} Queued;

static pthread_mutex_t order_lock = PTHREAD_MUTEX_INITIALIZER;
/* A waiter that got the connection keeps it until the gate opens: the test's own checks come first, however
 * the threads are scheduled. */
static pthread_cond_t gate_cond = PTHREAD_COND_INITIALIZER;
static bool is_gate_open = true;

static void
gate_set(bool is_open)
{
    pthread_mutex_lock(&order_lock);
    is_gate_open = is_open;
    pthread_cond_broadcast(&gate_cond);
    pthread_mutex_unlock(&order_lock);
}
static int order[4];
static int order_count;

static void *
acquire_queued(void *data)
{
    Queued *queued = data;
    PdPoolWaiter waiter = {recorder_wait, recorder_wake, queued->recorder};
    queued->ok = queued->recorder != NULL
                     ? pd_pool_acquire_with(queued->pool, &waiter, true, &queued->db, &queued->err)
                     : pd_pool_acquire(queued->pool, &queued->db, &queued->err);
    pthread_mutex_lock(&order_lock);
    order[order_count++] = queued->id;
    while (!is_gate_open)
        pthread_cond_wait(&gate_cond, &order_lock);
    pthread_mutex_unlock(&order_lock);
    if (queued->ok)
        pd_pool_release(queued->pool, queued->db);
    return NULL;
}

/* Waits (bounded) until n acquires are queued. */
static void
wait_for_waiting(PdPool *pool, int n)
{
    PdPoolStats stats;
    for (int i = 0; i < 500; i++)
    {
        pd_pool_stats(pool, &stats);
        if (stats.waiting == n)
            return;
        usleep(10000);
    }
    fail_msg("waiting stayed %d, not %d", stats.waiting, n);
}

static void
test_waiters_are_served_in_turn_and_woken(void **state)
{
    (void)state;
    PdPool *pool = make_pool(pgtest_conninfo(), 1, 10000, NULL);
    PdDb *lent = NULL;
    PdError err = {0};
    assert_true(pd_pool_acquire(pool, &lent, &err));
    Recorder recorder;
    recorder_init(&recorder);
    Queued first = {pool, &recorder, 1, NULL, false, {0}};
    Queued second = {pool, NULL, 2, NULL, false, {0}};
    pthread_t threads[2];
    order_count = 0;
    gate_set(false);
    assert_int_equal(pthread_create(&threads[0], NULL, acquire_queued, &first), 0);
    wait_for_waiting(pool, 1);
    assert_int_equal(pthread_create(&threads[1], NULL, acquire_queued, &second), 0);
    wait_for_waiting(pool, 2);
    /* The release hands the connection to the oldest waiter at once: a newcomer cannot take it. */
    pd_pool_release(pool, lent);
    PdDb *newcomer = NULL;
    bool is_taken = pd_pool_try_acquire(pool, &newcomer, &err);
    gate_set(true);
    assert_false(is_taken);
    assert_int_equal(err.code, PD_ERR_LOCK_TIMEOUT);
    pthread_join(threads[0], NULL);
    pthread_join(threads[1], NULL);
    assert_true(first.ok && second.ok);
    assert_int_equal(order_count, 2);
    assert_int_equal(order[0], 1);
    assert_int_equal(order[1], 2);
    /* The coroutine-style waiter parked once and was woken once by the release: no polling. */
    assert_int_equal(recorder.wake_waits, 1);
    assert_int_equal(recorder.wakes, 1);
    PdPoolStats stats;
    pd_pool_stats(pool, &stats);
    assert_int_equal(stats.waits, 2);
    assert_int_equal(stats.timeouts, 0);
    assert_int_equal(stats.waiting, 0);
    assert_true(stats.wait_us > 0);
    pd_pool_free(pool);
}

static void
test_waiter_times_out_and_is_counted(void **state)
{
    (void)state;
    PdPool *pool = make_pool(pgtest_conninfo(), 1, 300, NULL);
    PdDb *lent = NULL;
    PdError err = {0};
    assert_true(pd_pool_acquire(pool, &lent, &err));
    Recorder recorder;
    recorder_init(&recorder);
    PdPoolWaiter waiter = {recorder_wait, recorder_wake, &recorder};
    PdDb *db = NULL;
    int64_t start = now_ms();
    assert_false(pd_pool_acquire_with(pool, &waiter, true, &db, &err));
    int64_t waited = now_ms() - start;
    assert_int_equal(err.code, PD_ERR_LOCK_TIMEOUT);
    assert_string_equal(err.message, "no free database connection within 300 ms");
    assert_true(waited >= 290 && waited < 3000);
    assert_int_equal(recorder.wakes, 0);
    assert_false(pd_pool_acquire_with(pool, &waiter, false, &db, &err)); /* no wait at all */
    assert_string_equal(err.message, "every database connection is in use");
    PdPoolStats stats;
    pd_pool_stats(pool, &stats);
    assert_int_equal(stats.waits, 1);
    assert_int_equal(stats.timeouts, 1);
    assert_int_equal(stats.waiting, 0);
    assert_true(stats.wait_us >= 290000);
    pd_pool_release(pool, lent);
    pd_pool_free(pool);
}

/* ---- prepared statements ---- */

static int
prepared_count(PdDb *db, const char *sql)
{
    PdArena *arena = pd_arena_new(0);
    PdDbResult *result = NULL;
    PdError err = {0};
    const char *params[] = {sql};
    assert_true(pd_db_query(arena, db,
                            "SELECT count(*) FROM pg_prepared_statements WHERE name LIKE 'pd\\_s%' "
                            "AND ($1::text IS NULL OR statement = $1)",
                            1, params, &result, &err));
    int count = atoi(pd_db_result_value(result, 0, 0));
    pd_arena_free(arena);
    return count;
}

static void
test_prepared_statements_are_reused_and_bounded(void **state)
{
    (void)state;
    PdPoolOptions options = {
        .conninfo = pgtest_conninfo(), .size = 1, .acquire_timeout_ms = 1000, .prepared_cache_size = 4};
    PdPool *pool = NULL;
    PdDb *db = NULL;
    PdError err = {0};
    assert_true(pd_pool_new(&options, &pool, &err) && pd_pool_acquire(pool, &db, &err));
    PdArena *arena = pd_arena_new(0);
    PdDbResult *result = NULL;
    for (int i = 0; i < 5; i++)
    {
        char value[16];
        snprintf(value, sizeof(value), "%d", i);
        const char *params[] = {value};
        assert_true(pd_db_query_prepared(arena, db, "SELECT $1::int * 2", 1, params, &result, &err));
        assert_int_equal(atoi(pd_db_result_value(result, 0, 0)), i * 2);
    }
    assert_int_equal(prepared_count(db, "SELECT $1::int * 2"), 1);
    /* Past the bound, the least recently used is deallocated on the server too. */
    const char *texts[] = {"SELECT 1", "SELECT 2", "SELECT 3", "SELECT 4", "SELECT 5"};
    for (int i = 0; i < 5; i++)
        assert_true(pd_db_query_prepared(arena, db, texts[i], 0, NULL, &result, &err));
    assert_int_equal(prepared_count(db, NULL), 4);
    assert_int_equal(prepared_count(db, "SELECT $1::int * 2"), 0);
    assert_int_equal(prepared_count(db, "SELECT 5"), 1);
    /* Statements the server lost are prepared again. */
    pgtest_exec(db, "DEALLOCATE ALL");
    assert_true(pd_db_query_prepared(arena, db, "SELECT 5", 0, NULL, &result, &err));
    assert_string_equal(pd_db_result_value(result, 0, 0), "5");
    /* A plan a schema change made stale (0A000) is prepared again. */
    pgtest_exec(db, "CREATE TABLE stale_plan (a int); INSERT INTO stale_plan VALUES (1)");
    assert_true(pd_db_query_prepared(arena, db, "SELECT * FROM stale_plan", 0, NULL, &result, &err));
    assert_int_equal(pd_db_result_column_count(result), 1);
    pgtest_exec(db, "ALTER TABLE stale_plan ADD COLUMN b int DEFAULT 7");
    bool ok = pd_db_query_prepared(arena, db, "SELECT * FROM stale_plan", 0, NULL, &result, &err);
    if (!ok)
        fprintf(stderr, "%s %s\n", err.sqlstate, err.message);
    assert_true(ok);
    assert_int_equal(pd_db_result_column_count(result), 2);
    assert_string_equal(pd_db_result_value(result, 0, 1), "7");
    /* An error in a statement is the server's, with its position. */
    assert_false(pd_db_query_prepared(arena, db, "SELECT nosuchcolumn", 0, NULL, &result, &err));
    assert_int_equal(err.code, PD_ERR_DB_QUERY);
    assert_string_equal(err.sqlstate, "42703");
    pd_arena_free(arena);
    pd_pool_release(pool, db);
    pd_pool_free(pool);
}

/* ---- the request session ---- */

static const char *const IDENTITY_SQL =
    "SELECT current_user || '|' || coalesce(current_setting('request.jwt.sub', true), '') || '|' || "
    "coalesce(current_setting('request.jwt.claims', true), '')";

static void
test_session_role_and_settings_last_one_statement(void **state)
{
    (void)state;
    PdDb *db = pgtest_connect();
    pgtest_exec(db, "DO $$ BEGIN CREATE ROLE pool_reader; EXCEPTION WHEN duplicate_object THEN NULL; END $$");
    char buf[256];
    PdDbSetting settings[] = {{"request.jwt.sub", "42"},
                              {"request.jwt.claims", "{\"role\": \"pool_reader\"}"}};
    PdDbSession session = {"pool_reader", settings, 2};
    pd_db_set_session(db, &session);
    assert_string_equal(query_text(db, IDENTITY_SQL, buf, sizeof(buf)),
                        "pool_reader|42|{\"role\": \"pool_reader\"}");
    assert_int_equal(pd_db_transaction_state(db), PD_DB_TX_IDLE);
    /* Unprepared queries are wrapped the same way. */
    PdArena *arena = pd_arena_new(0);
    PdDbResult *result = NULL;
    PdError err = {0};
    assert_true(pd_db_query(arena, db, "SELECT current_user", 0, NULL, &result, &err));
    assert_string_equal(pd_db_result_value(result, 0, 0), "pool_reader");
    /* A statement that fails rolls its transaction back; pd_db_exec is wrapped too. */
    pd_db_set_session(db, NULL);
    pgtest_exec(db,
                "CREATE TABLE session_item (id int PRIMARY KEY); GRANT ALL ON session_item TO pool_reader");
    pd_db_set_session(db, &session);
    assert_true(
        pd_db_exec(db, "INSERT INTO session_item VALUES (1); INSERT INTO session_item VALUES (2)", &err));
    assert_false(
        pd_db_query_prepared(arena, db, "INSERT INTO session_item VALUES (1)", 0, NULL, &result, &err));
    assert_int_equal(err.code, PD_ERR_INVALID_INPUT);
    assert_string_equal(err.constraint, "session_item_pkey");
    assert_int_equal(pd_db_transaction_state(db), PD_DB_TX_IDLE);
    assert_false(
        pd_db_exec(db, "INSERT INTO session_item VALUES (3); INSERT INTO session_item VALUES (1)", &err));
    assert_int_equal(pd_db_transaction_state(db), PD_DB_TX_IDLE);
    /* A table the role has no GRANT on: 42501, forbidden. */
    pd_db_set_session(db, NULL);
    pgtest_exec(db, "REVOKE ALL ON session_item FROM pool_reader");
    pd_db_set_session(db, &session);
    assert_false(
        pd_db_query_prepared(arena, db, "SELECT count(*) FROM session_item", 0, NULL, &result, &err));
    assert_int_equal(err.code, PD_ERR_FORBIDDEN);
    assert_string_equal(err.sqlstate, "42501");
    /* Gone once the statement is over. */
    pd_db_set_session(db, NULL);
    assert_string_equal(query_text(db, IDENTITY_SQL, buf, sizeof(buf)), "postgres||");
    assert_string_equal(
        query_text(db, "SELECT string_agg(id::text, ',' ORDER BY id) FROM session_item", buf, sizeof(buf)),
        "1,2");
    /* Inside an explicit transaction, pd_db_begin applies it once for every statement. */
    pd_db_set_session(db, &session);
    assert_true(pd_db_begin(db, &err));
    assert_string_equal(query_text(db, IDENTITY_SQL, buf, sizeof(buf)),
                        "pool_reader|42|{\"role\": \"pool_reader\"}");
    assert_string_equal(query_text(db, "SELECT current_user", buf, sizeof(buf)), "pool_reader");
    assert_true(pd_db_commit(db, &err));
    pd_db_set_session(db, NULL);
    assert_string_equal(query_text(db, "SELECT current_user", buf, sizeof(buf)), "postgres");
    /* A session with settings only keeps the login role. */
    PdDbSession settings_only = {NULL, settings, 1};
    pd_db_set_session(db, &settings_only);
    assert_string_equal(query_text(db, IDENTITY_SQL, buf, sizeof(buf)), "postgres|42|");
    pd_db_set_session(db, NULL);
    pd_arena_free(arena);
    pd_db_close(db);
}

static void
test_session_role_that_cannot_be_assumed_is_forbidden(void **state)
{
    (void)state;
    PdDb *db = pgtest_connect();
    pgtest_exec(db, "DO $$ BEGIN CREATE ROLE pool_reader; EXCEPTION WHEN duplicate_object THEN NULL; END $$");
    pgtest_exec(
        db, "DO $$ BEGIN CREATE ROLE pool_login LOGIN; EXCEPTION WHEN duplicate_object THEN NULL; END $$");
    PdArena *arena = pd_arena_new(0);
    PdDbResult *result = NULL;
    PdError err = {0};
    PdDbSession missing = {"pool_no_such_role", NULL, 0};
    pd_db_set_session(db, &missing);
    assert_false(pd_db_query_prepared(arena, db, "SELECT 1", 0, NULL, &result, &err));
    assert_int_equal(err.code, PD_ERR_FORBIDDEN);
    assert_non_null(strstr(err.message, "pool_no_such_role"));
    assert_int_equal(pd_db_transaction_state(db), PD_DB_TX_IDLE);
    assert_false(pd_db_begin(db, &err));
    assert_int_equal(err.code, PD_ERR_FORBIDDEN);
    assert_int_equal(pd_db_transaction_state(db), PD_DB_TX_IDLE);
    pd_db_set_session(db, NULL);
    assert_true(pd_db_query_prepared(arena, db, "SELECT 1", 0, NULL, &result, &err));
    pd_db_close(db);
    /* A login that is not a member of the role: 42501. */
    char conninfo[512];
    snprintf(conninfo, sizeof(conninfo), "%s user=pool_login", pgtest_conninfo());
    assert_true(pd_db_connect(conninfo, &db, &err));
    PdDbSession other = {"pool_reader", NULL, 0};
    pd_db_set_session(db, &other);
    assert_false(pd_db_query_prepared(arena, db, "SELECT 1", 0, NULL, &result, &err));
    assert_int_equal(err.code, PD_ERR_FORBIDDEN);
    assert_string_equal(err.sqlstate, "42501");
    assert_int_equal(pd_db_transaction_state(db), PD_DB_TX_IDLE);
    pd_arena_free(arena);
    pd_db_close(db);
}

/* ---- transactions and savepoints ---- */

static void
test_savepoint_rollback_keeps_the_transaction(void **state)
{
    (void)state;
    PdDb *db = pgtest_connect();
    pgtest_exec(db, "CREATE TABLE sp_item (id int PRIMARY KEY)");
    PdError err = {0};
    char buf[16];
    assert_true(pd_db_begin(db, &err));
    pgtest_exec(db, "INSERT INTO sp_item VALUES (1)");
    assert_true(pd_db_savepoint(db, "before_dup", &err));
    assert_false(pd_db_exec(db, "INSERT INTO sp_item VALUES (1)", &err));
    assert_int_equal(err.code, PD_ERR_INVALID_INPUT);
    assert_int_equal(pd_db_transaction_state(db), PD_DB_TX_FAILED);
    assert_true(pd_db_rollback_to_savepoint(db, "before_dup", &err));
    pgtest_exec(db, "INSERT INTO sp_item VALUES (2)");
    assert_true(pd_db_savepoint(db, "s2", &err));
    assert_true(pd_db_release_savepoint(db, "s2", &err));
    assert_true(pd_db_commit(db, &err));
    assert_string_equal(
        query_text(db, "SELECT string_agg(id::text, ',' ORDER BY id) FROM sp_item", buf, sizeof(buf)), "1,2");
    /* Names are checked, never pasted. */
    assert_true(pd_db_begin(db, &err));
    assert_false(pd_db_savepoint(db, "x\"; DROP TABLE sp_item; --", &err));
    assert_int_equal(err.code, PD_ERR_INVALID_INPUT);
    /* A commit after a failure says nothing was kept. */
    assert_false(pd_db_exec(db, "INSERT INTO sp_item VALUES (1)", &err));
    assert_false(pd_db_commit(db, &err));
    assert_int_equal(err.code, PD_ERR_DB_QUERY);
    assert_string_equal(err.message, "the transaction was rolled back: a statement in it failed");
    assert_int_equal(pd_db_transaction_state(db), PD_DB_TX_IDLE);
    assert_true(pd_db_begin(db, &err));
    assert_false(pd_db_begin(db, &err));
    assert_true(pd_db_rollback(db, &err));
    pd_db_close(db);
}

static void
test_release_rolls_back_and_clears(void **state)
{
    (void)state;
    PdPool *pool = make_pool(pgtest_conninfo(), 1, 1000, NULL);
    PdDb *db = NULL;
    PdError err = {0};
    char buf[64];
    assert_true(pd_pool_acquire(pool, &db, &err));
    pgtest_exec(db, "CREATE TABLE rel_item (id int)");
    assert_true(pd_db_begin(db, &err));
    pgtest_exec(db, "INSERT INTO rel_item VALUES (1)");
    PdDbSetting settings[] = {{"request.jwt.sub", "7"}};
    PdDbSession session = {NULL, settings, 1};
    pd_db_set_session(db, &session);
    assert_true(pd_db_listen(db, "pool_release_chan", &err));
    pd_pool_release(pool, db);
    assert_true(pd_pool_acquire(pool, &db, &err));
    assert_int_equal(pd_db_transaction_state(db), PD_DB_TX_IDLE);
    assert_string_equal(query_text(db, "SELECT count(*) FROM rel_item", buf, sizeof(buf)), "0");
    assert_string_equal(
        query_text(db, "SELECT coalesce(current_setting('request.jwt.sub', true), '')", buf, sizeof(buf)),
        "");
    assert_string_equal(query_text(db, "SELECT count(*) FROM pg_listening_channels()", buf, sizeof(buf)),
                        "0");
    pd_pool_release(pool, db);
    pd_pool_free(pool);
}

/* ---- LISTEN / NOTIFY ---- */

static void
test_notification_arrives_or_times_out(void **state)
{
    (void)state;
    PdDb *listener = pgtest_connect();
    PdDb *sender = pgtest_connect();
    PdArena *arena = pd_arena_new(0);
    PdError err = {0};
    bool received = true;
    char *channel = NULL;
    char *payload = NULL;
    assert_true(pd_db_listen(listener, "catalog reload", &err));
    int64_t start = now_ms();
    assert_true(pd_db_wait_notification(arena, listener, 150, &received, &channel, &payload, &err));
    int64_t waited = now_ms() - start;
    assert_false(received);
    assert_true(waited >= 140 && waited < 1500);
    pgtest_exec(sender, "SELECT pg_notify('catalog reload', 'migration 0004')");
    start = now_ms();
    assert_true(pd_db_wait_notification(arena, listener, 5000, &received, &channel, &payload, &err));
    assert_true(received);
    assert_true(now_ms() - start < 4000);
    assert_string_equal(channel, "catalog reload");
    assert_string_equal(payload, "migration 0004");
    /* Bad channel names are refused. */
    assert_false(pd_db_listen(listener, "", &err));
    assert_int_equal(err.code, PD_ERR_INVALID_INPUT);
    pd_arena_free(arena);
    pd_db_close(sender);
    pd_db_close(listener);
}

static void
test_pool_options_are_checked(void **state)
{
    (void)state;
    PdPool *pool = NULL;
    PdError err = {0};
    PdPoolOptions zero = {.conninfo = "", .size = 0};
    assert_false(pd_pool_new(&zero, &pool, &err));
    assert_int_equal(err.code, PD_ERR_INVALID_INPUT);
    PdPoolOptions bad = {.conninfo = "host=x password=secret = =", .size = 2};
    assert_false(pd_pool_new(&bad, &pool, &err));
    assert_int_equal(err.code, PD_ERR_INVALID_INPUT);
    assert_null(strstr(err.message, "secret"));
    pd_pool_free(NULL);
    pd_pool_release(NULL, NULL);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_many_threads_share_a_small_pool),
        cmocka_unit_test(test_acquire_times_out_when_all_are_busy),
        cmocka_unit_test(test_reconnects_after_backends_are_terminated),
        cmocka_unit_test(test_dead_address_fails_fast),
        cmocka_unit_test(test_failed_connect_lets_waiters_wait_for_open_connections),
        cmocka_unit_test(test_multi_host_skips_a_dead_first_host),
        cmocka_unit_test(test_waiter_connects_through_its_wait),
        cmocka_unit_test(test_waiter_connect_is_bounded_through_its_wait),
        cmocka_unit_test(test_large_parameter_is_flushed_through_the_wait),
        cmocka_unit_test(test_waiters_are_served_in_turn_and_woken),
        cmocka_unit_test(test_waiter_times_out_and_is_counted),
        cmocka_unit_test(test_prepared_statements_are_reused_and_bounded),
        cmocka_unit_test(test_session_role_and_settings_last_one_statement),
        cmocka_unit_test(test_session_role_that_cannot_be_assumed_is_forbidden),
        cmocka_unit_test(test_savepoint_rollback_keeps_the_transaction),
        cmocka_unit_test(test_release_rolls_back_and_clears),
        cmocka_unit_test(test_notification_arrives_or_times_out),
        cmocka_unit_test(test_pool_options_are_checked),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
