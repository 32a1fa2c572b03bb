/*
 * test_mux_group.c - the group-commit multiplexer (pd_db_mux_new_group,
 * src/db/mux.c) with concurrent callers against a real PostgreSQL. The
 * callers are coroutines (ucontext) scheduled here the way the server's
 * event loop runs its fibers: a caller parked in wait(-1) runs again once
 * woken, one waiting for its socket once the socket is readable. Cases an
 * independent review found: two groups that insert the same keys in
 * crossed order (a deadlock between shared transactions: each loser runs
 * again alone, never a server error), a default isolation of repeatable read
 * (a statement that joins late still sees what committed before it was
 * sent), a COMMIT that libpq refuses to send (nothing committed: the caller
 * may run again, and the accounting lets the loop replace the connection),
 * and a statement failing in a shared transaction (the others roll back and
 * are told so, nothing of theirs written); and a caller
 * woken from pd_db_share_await_commit, which counts as in flight until it
 * runs (else the loop may free the connection under it).
 */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <poll.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <ucontext.h>
#include <unistd.h>

#include <cmocka.h>

#include "pgtest.h"

/* libpq's PQsendQueryParams, refusing "COMMIT" while refuse_commit is set (a connection libpq found bad).
 * libpq's types stay inside src/db: its connection is opaque here, an Oid is libpq's unsigned int. */
typedef struct pg_conn PGconn;
typedef unsigned int Oid;
int PQsendQueryParams(PGconn *conn, const char *command, int count, const Oid *types,
                      const char *const *values, const int *lengths, const int *formats, int result_format);
static int refuse_commit;

int
PQsendQueryParams(PGconn *conn, const char *command, int count, const Oid *types, const char *const *values,
                  const int *lengths, const int *formats, int result_format)
{
    typedef int (*SendFn)(PGconn *, const char *, int, const Oid *, const char *const *, const int *,
                          const int *, int);
    static SendFn real;
    if (real == NULL)
        real = (SendFn)dlsym(RTLD_NEXT, "PQsendQueryParams");
    if (refuse_commit && strcmp(command, "COMMIT") == 0)
        return 0;
    return real(conn, command, count, types, values, lengths, formats, result_format);
}

/* ---- callers as coroutines ---- */

enum
{
    READY,
    PARKED,
    SOCKET,
    DONE
};

typedef struct Caller
{
    ucontext_t context;
    char stack[256 * 1024];
    int state;
    int socket;
    short events;
    PdArena *arena;
    PdDb *share;
    const char *sql;
    const char *param;
    bool awaits_commit; /* first waits while a COMMIT is in flight (pd_db_share_await_commit) */
    bool ok;
    PdError err;
} Caller;

static ucontext_t scheduler;
static Caller *running;

static bool
caller_wait(void *context, int socket, PdDbWaitFor what, int timeout_ms)
{
    (void)timeout_ms;
    Caller *caller = context;
    caller->state = what == PD_DB_WAIT_WAKE ? PARKED : SOCKET;
    caller->socket = socket;
    caller->events =
        (short)(((what & PD_DB_WAIT_READ) ? POLLIN : 0) | ((what & PD_DB_WAIT_WRITE) ? POLLOUT : 0));
    swapcontext(&caller->context, &scheduler);
    return true;
}

static void
caller_wake(void *context)
{
    Caller *caller = context;
    if (caller->state == PARKED || caller->state == SOCKET)
        caller->state = READY;
}

static void
caller_body(void)
{
    Caller *caller = running;
    const char *params[] = {caller->param};
    PdDbResult *result = NULL;
    if (caller->awaits_commit)
        pd_db_share_await_commit(caller->share);
    caller->ok =
        pd_db_query_prepared(caller->arena, caller->share, caller->sql, 1, params, &result, &caller->err);
    caller->state = DONE;
    swapcontext(&caller->context, &scheduler);
}

static Caller *
caller_new(PdDbMux *mux, const char *sql, const char *param)
{
    Caller *caller = calloc(1, sizeof(*caller));
    PdError err = {0};
    assert_non_null(caller);
    caller->arena = pd_arena_new(0);
    caller->sql = sql;
    caller->param = param;
    assert_true(pd_db_mux_share(mux, caller->arena, caller_wait, caller_wake, caller, &caller->share, &err));
    getcontext(&caller->context);
    caller->context.uc_stack.ss_sp = caller->stack;
    caller->context.uc_stack.ss_size = sizeof(caller->stack);
    caller->context.uc_link = &scheduler;
    makecontext(&caller->context, caller_body, 0);
    caller->state = READY;
    return caller;
}

/* Runs caller until it waits or is done. */
static void
step(Caller *caller)
{
    if (caller->state == SOCKET)
    {
        struct pollfd readable = {caller->socket, caller->events, 0};
        if (poll(&readable, 1, 0) <= 0)
            return;
        caller->state = READY;
    }
    if (caller->state != READY)
        return;
    running = caller;
    swapcontext(&scheduler, &caller->context);
}

/* Runs the callers until all are done, for at most about seconds. */
static void
run_all(Caller **callers, size_t count, int seconds)
{
    for (int round = 0; round < seconds * 1000; round++)
    {
        size_t left = 0;
        for (size_t i = 0; i < count; i++)
        {
            step(callers[i]);
            left += callers[i]->state != DONE;
        }
        if (left == 0)
            return;
        usleep(1000);
    }
    fail_msg("callers still waiting after %d s", seconds);
}

static void
caller_free(Caller *caller)
{
    pd_arena_free(caller->arena);
    free(caller);
}

static const char *
one_text(PdDb *db, const char *sql)
{
    static char text[256];
    PdArena *arena = pd_arena_new(0);
    PdDbResult *result = NULL;
    PdError err = {0};
    assert_true(pd_db_query(arena, db, sql, 0, NULL, &result, &err));
    snprintf(text, sizeof(text), "%s", pd_db_result_value(result, 0, 0));
    pd_arena_free(arena);
    return text;
}

/* ---- the cases ---- */

#define LOCK_BOUND "SELECT pg_catalog.set_config('lock_timeout', '50ms', true)"

/* Loop A's transaction takes key 1 then 2, loop B's 2 then 1: each waits on the other's key; the bounded
 * lock wait ends it within a second, and no caller gets a server error (a deadlock, a lock timeout): each
 * is answered, told to run again alone, or refused for a key that another transaction committed first. */
static void
test_crossed_keys(void **state)
{
    (void)state;
    PdError err = {0};
    PdDb *admin = pgtest_connect();
    pgtest_exec(admin, "CREATE TABLE g_keys (k int PRIMARY KEY)");
    PdDbMux *a, *b;
    assert_true(pd_db_mux_new_group(pgtest_connect(), LOCK_BOUND, &a, &err));
    assert_true(pd_db_mux_new_group(pgtest_connect(), LOCK_BOUND, &b, &err));
    const char *insert = "INSERT INTO g_keys VALUES ($1::int) RETURNING k";
    Caller *all[] = {caller_new(a, insert, "100"), caller_new(a, insert, "1"), caller_new(b, insert, "200"),
                     caller_new(b, insert, "2"),   caller_new(a, insert, "2"), caller_new(b, insert, "1")};
    for (size_t i = 0; i < 4; i++)
        step(all[i]);   /* A and B: a COMMIT in flight each, then a transaction open with key 1 (A), 2 (B) */
    step(all[4]);       /* A: key 2, into B's uncommitted key */
    step(all[5]);       /* B: key 1, into A's */
    run_all(all, 6, 1); /* the lock bound ends the wait, not deadlock_timeout (1 s) */
    for (size_t i = 0; i < 6; i++)
    {
        /* rolled back (its caller runs it again alone), or the key another transaction committed first */
        bool is_expected = all[i]->ok || all[i]->err.code == PD_ERR_ROLLED_BACK ||
                           strcmp(all[i]->err.sqlstate, "23505") == 0;
        if (!is_expected)
            fail_msg("key %s: %s (%s)", all[i]->param, all[i]->err.message, all[i]->err.sqlstate);
        caller_free(all[i]);
    }
    assert_int_equal(pd_db_mux_in_flight(a), 0);
    assert_int_equal(pd_db_mux_in_flight(b), 0);
    pd_db_close(pd_db_mux_free(a));
    pd_db_close(pd_db_mux_free(b));
    pd_db_close(admin);
}

/* A role whose default is repeatable read: a statement joining an open transaction still sees a parent
 * committed (elsewhere) before it was sent. */
static void
test_late_joiner_sees_commits(void **state)
{
    (void)state;
    PdError err = {0};
    PdDb *admin = pgtest_connect();
    pgtest_exec(admin, "CREATE TABLE g_parent (id int PRIMARY KEY); "
                       "CREATE TABLE g_child (id serial PRIMARY KEY, parent int REFERENCES g_parent)");
    pgtest_exec(admin, "ALTER ROLE CURRENT_USER SET default_transaction_isolation = 'repeatable read'");
    PdDbMux *mux;
    assert_true(pd_db_mux_new_group(pgtest_connect(), NULL, &mux, &err));
    pgtest_exec(admin, "ALTER ROLE CURRENT_USER RESET default_transaction_isolation");
    Caller *all[] = {caller_new(mux, "INSERT INTO g_parent VALUES ($1::int) RETURNING id", "100"),
                     caller_new(mux, "INSERT INTO g_parent VALUES ($1::int) RETURNING id", "1"),
                     caller_new(mux, "INSERT INTO g_child (parent) VALUES ($1::int) RETURNING parent", "5")};
    step(all[0]);
    step(all[1]); /* opens the next transaction, its first statement run */
    usleep(100000);
    pgtest_exec(admin, "INSERT INTO g_parent VALUES (5)");
    step(all[2]); /* joins that transaction after the parent committed */
    run_all(all, 3, 10);
    for (size_t i = 0; i < 3; i++)
    {
        assert_true(all[i]->ok);
        caller_free(all[i]);
    }
    pd_db_close(pd_db_mux_free(mux));
    pd_db_close(admin);
}

/* libpq refuses to send the COMMIT: nothing was committed, so the caller may run its statement again, and
 * nothing stays counted in flight (the server would never replace the connection). */
static void
test_refused_commit(void **state)
{
    (void)state;
    PdError err = {0};
    PdDb *admin = pgtest_connect();
    pgtest_exec(admin, "CREATE TABLE g_refused (a int)");
    PdDbMux *mux;
    assert_true(pd_db_mux_new_group(pgtest_connect(), NULL, &mux, &err));
    Caller *caller = caller_new(mux, "INSERT INTO g_refused VALUES ($1::int) RETURNING a", "1");
    refuse_commit = 1;
    run_all(&caller, 1, 10);
    refuse_commit = 0;
    assert_false(caller->ok);
    assert_int_equal(caller->err.code, PD_ERR_ROLLED_BACK);
    assert_int_equal(pd_db_mux_in_flight(mux), 0);
    assert_false(pd_db_mux_is_usable(mux));
    assert_string_equal(one_text(admin, "SELECT count(*) FROM g_refused"), "0");
    caller_free(caller);
    pd_db_close(pd_db_mux_free(mux));
    pd_db_close(admin);
}

/* Four statements share a transaction and the third fails: it keeps its own error, the others are told
 * their transaction rolled back, and none of their rows is there. */
static void
test_failure_rolls_back_the_others(void **state)
{
    (void)state;
    PdError err = {0};
    PdDb *admin = pgtest_connect();
    pgtest_exec(admin, "CREATE TABLE g_checked (a int CHECK (a > 0))");
    PdDbMux *mux;
    assert_true(pd_db_mux_new_group(pgtest_connect(), NULL, &mux, &err));
    const char *insert = "INSERT INTO g_checked VALUES ($1::int) RETURNING a";
    Caller *all[] = {caller_new(mux, insert, "1"), caller_new(mux, insert, "2"), caller_new(mux, insert, "3"),
                     caller_new(mux, insert, "-4"), caller_new(mux, insert, "5")};
    for (size_t i = 0; i < 5; i++)
        step(all[i]); /* the first commits at once; the other four share the next transaction */
    run_all(all, 5, 10);
    assert_true(all[0]->ok);
    assert_int_equal(all[3]->err.code, PD_ERR_INVALID_INPUT);
    assert_string_equal(all[3]->err.sqlstate, "23514");
    for (size_t i = 1; i < 5; i++)
        if (i != 3)
            assert_int_equal(all[i]->err.code, PD_ERR_ROLLED_BACK);
    assert_string_equal(one_text(admin, "SELECT string_agg(a::text, ',' ORDER BY a) FROM g_checked"), "1");
    for (size_t i = 0; i < 5; i++)
        caller_free(all[i]);
    assert_int_equal(pd_db_mux_in_flight(mux), 0);
    pd_db_close(pd_db_mux_free(mux));
    pd_db_close(admin);
}

/* A caller parked until the COMMIT in flight is answered (as a batch's leader in serve) still holds the
 * connection once woken and until it runs: the loop frees a connection with nothing in flight, so it must
 * count as in flight. */
static void
test_commit_watcher_in_flight(void **state)
{
    (void)state;
    PdError err = {0};
    PdDb *admin = pgtest_connect();
    pgtest_exec(admin, "CREATE TABLE g_watched (a int)");
    PdDbMux *mux;
    assert_true(pd_db_mux_new_group(pgtest_connect(), NULL, &mux, &err));
    const char *insert = "INSERT INTO g_watched VALUES ($1::int) RETURNING a";
    Caller *first = caller_new(mux, insert, "1");
    Caller *watcher = caller_new(mux, insert, "2");
    watcher->awaits_commit = true;
    step(first); /* its statement and COMMIT in flight */
    step(watcher);
    assert_int_equal(watcher->state, PARKED);
    run_all(&first, 1, 10); /* reads the COMMIT's answer, which wakes the watcher */
    assert_int_equal(watcher->state, READY);
    assert_true(pd_db_mux_in_flight(mux) > 0);
    run_all(&watcher, 1, 10);
    assert_true(first->ok && watcher->ok);
    assert_int_equal(pd_db_mux_in_flight(mux), 0);
    assert_string_equal(one_text(admin, "SELECT string_agg(a::text, ',' ORDER BY a) FROM g_watched"), "1,2");
    caller_free(first);
    caller_free(watcher);
    pd_db_close(pd_db_mux_free(mux));
    pd_db_close(admin);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_failure_rolls_back_the_others),
        cmocka_unit_test(test_commit_watcher_in_flight),
        cmocka_unit_test(test_crossed_keys),
        cmocka_unit_test(test_late_joiner_sees_commits),
        cmocka_unit_test(test_refused_commit),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
