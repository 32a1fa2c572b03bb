/*
 * test_mux.c - the multiplexed connection (pd_db_mux_*, src/db/mux.c) against
 * a real PostgreSQL: shares answer prepared and unprepared statements; an
 * error aborts only its own statement; a Prepare that fails leaves nothing
 * cached; a plan made stale by a schema change is prepared again; the LRU
 * eviction of prepared statements works inside the pipeline; a terminated
 * backend fails the share with PD_ERR_DB_GONE and marks the multiplexer
 * unusable; transactions and pd_db_exec are refused on a share; a group-commit
 * multiplexer commits what it answers and keeps a failure to its statement. Callers run
 * one after the other here (concurrent callers are tested over HTTP, where
 * the server's event loops run them as fibers: serve_concurrency.sh).
 */
#include <poll.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "pgtest.h"

static int wakes;

static bool
wait_poll(void *context, int socket, PdDbWaitFor what, int timeout_ms)
{
    (void)context;
    (void)timeout_ms;
    assert_true(what != PD_DB_WAIT_WAKE); /* a lone caller is always the oldest in flight: never parked */
    struct pollfd wait = {
        socket, (short)(((what & PD_DB_WAIT_READ) ? POLLIN : 0) | ((what & PD_DB_WAIT_WRITE) ? POLLOUT : 0)),
        0};
    return poll(&wait, 1, 5000) > 0;
}

static void
wake_count(void *context)
{
    (void)context;
    wakes++;
}

typedef struct Fixture
{
    PdArena *arena;
    PdDb *admin;
    PdDbMux *mux;
    PdDb *share;
} Fixture;

static int
setup(void **state)
{
    static Fixture fixture;
    PdError err = {0};
    fixture.arena = pd_arena_new(0);
    fixture.admin = pgtest_connect();
    pgtest_exec(fixture.admin,
                "DROP TABLE IF EXISTS mux_t; CREATE TABLE mux_t (a int); INSERT INTO mux_t VALUES (7)");
    assert_true(pd_db_mux_new(pgtest_connect(), &fixture.mux, &err));
    assert_true(
        pd_db_mux_share(fixture.mux, fixture.arena, wait_poll, wake_count, NULL, &fixture.share, &err));
    *state = &fixture;
    return 0;
}

static int
teardown(void **state)
{
    Fixture *fixture = *state;
    pd_db_close(pd_db_mux_free(fixture->mux));
    pd_db_close(fixture->admin);
    pd_arena_free(fixture->arena);
    return 0;
}

static const char *
one_value(Fixture *fixture, const char *sql, bool is_prepared, const char *param, PdError *err)
{
    PdDbResult *result = NULL;
    const char *params[] = {param};
    bool ok =
        is_prepared
            ? pd_db_query_prepared(fixture->arena, fixture->share, sql, param ? 1 : 0, params, &result, err)
            : pd_db_query(fixture->arena, fixture->share, sql, param ? 1 : 0, params, &result, err);
    return ok ? pd_db_result_value(result, 0, 0) : NULL;
}

static void
test_statements_answer(void **state)
{
    Fixture *fixture = *state;
    PdError err = {0};
    assert_string_equal(one_value(fixture, "SELECT $1::int + 1", true, "41", &err), "42");
    assert_string_equal(one_value(fixture, "SELECT $1::int + 1", true, "1", &err), "2"); /* cached */
    assert_string_equal(one_value(fixture, "SELECT upper($1)", false, "abc", &err), "ABC");
    assert_int_equal(pd_db_mux_in_flight(fixture->mux), 0);
    assert_true(pd_db_is_share(fixture->share));
}

static void
test_error_aborts_only_its_statement(void **state)
{
    Fixture *fixture = *state;
    PdError err = {0};
    assert_null(one_value(fixture, "SELECT 1 / $1::int", true, "0", &err));
    assert_string_equal(err.sqlstate, "22012");
    PdError next = {0};
    assert_string_equal(one_value(fixture, "SELECT 1 / $1::int", true, "1", &next), "1");
    assert_true(pd_db_mux_is_usable(fixture->mux));
}

static void
test_failed_prepare_is_not_cached(void **state)
{
    Fixture *fixture = *state;
    for (int i = 0; i < 2; i++)
    {
        PdError err = {0};
        assert_null(one_value(fixture, "SELECT * FROM mux_missing", true, NULL, &err));
        assert_string_equal(err.sqlstate, "42P01"); /* never 26000: no entry was left behind */
    }
    pgtest_exec(fixture->admin, "CREATE TABLE mux_missing (b int); INSERT INTO mux_missing VALUES (3)");
    PdError err = {0};
    assert_string_equal(one_value(fixture, "SELECT * FROM mux_missing", true, NULL, &err), "3");
}

static void
test_stale_plan_is_prepared_again(void **state)
{
    Fixture *fixture = *state;
    PdError err = {0};
    assert_string_equal(one_value(fixture, "SELECT a FROM mux_t", true, NULL, &err), "7");
    pgtest_exec(fixture->admin, "ALTER TABLE mux_t ALTER a TYPE text USING 'seven'");
    assert_string_equal(one_value(fixture, "SELECT a FROM mux_t", true, NULL, &err), "seven");
}

static void
test_eviction_in_the_pipeline(void **state)
{
    Fixture *fixture = *state;
    char sql[64];
    for (int i = 0; i < 300; i++) /* more than the cache holds (256): the oldest are deallocated */
    {
        PdError err = {0};
        snprintf(sql, sizeof(sql), "SELECT %d + $1::int", i);
        const char *value = one_value(fixture, sql, true, "1", &err);
        assert_non_null(value);
        char expected[16];
        snprintf(expected, sizeof(expected), "%d", i + 1);
        assert_string_equal(value, expected);
    }
    PdError err = {0};
    assert_string_equal(one_value(fixture, "SELECT count(*) FROM pg_prepared_statements", true, NULL, &err),
                        "256");
}

static void
test_refused_on_a_share(void **state)
{
    Fixture *fixture = *state;
    PdError err = {0};
    assert_false(pd_db_begin(fixture->share, &err));
    assert_int_equal(err.code, PD_ERR_INTERNAL);
    PdError exec_err = {0};
    assert_false(pd_db_exec(fixture->share, "SELECT 1", &exec_err));
    assert_int_equal(exec_err.code, PD_ERR_INTERNAL);
    PdError next = {0};
    assert_string_equal(one_value(fixture, "SELECT 5", true, NULL, &next), "5");
}

static void
test_terminated_backend(void **state)
{
    Fixture *fixture = *state;
    PdError err = {0};
    const char *pid = one_value(fixture, "SELECT pg_backend_pid()::text", true, NULL, &err);
    assert_non_null(pid);
    char sql[96];
    snprintf(sql, sizeof(sql), "SELECT pg_terminate_backend(%s, 5000)", pid);
    pgtest_exec(fixture->admin, sql);
    PdError gone = {0};
    assert_null(one_value(fixture, "SELECT 1", true, NULL, &gone));
    assert_int_equal(gone.code, PD_ERR_DB_GONE);
    assert_false(pd_db_mux_is_usable(fixture->mux));
    PdError again = {0};
    assert_null(one_value(fixture, "SELECT 1", true, NULL, &again));
    assert_int_equal(again.code, PD_ERR_DB_GONE);
    assert_int_equal(pd_db_mux_in_flight(fixture->mux), 0);
}

/* A group-commit multiplexer with one caller: each statement is BEGIN, itself, COMMIT; its answer comes
 * once committed; a failing statement keeps its own error, writes nothing, and leaves no transaction open. */
static void
test_group_commit_alone(void **state)
{
    Fixture *fixture = *state;
    PdError err = {0};
    PdDbMux *group;
    PdDb *share;
    pgtest_exec(fixture->admin, "CREATE TABLE mux_g (a int CHECK (a > 0))");
    assert_true(
        pd_db_mux_new_group(pgtest_connect(), "SET LOCAL application_name = 'grouped'", &group, &err));
    assert_true(pd_db_mux_share(group, fixture->arena, wait_poll, wake_count, NULL, &share, &err));
    const char *insert =
        "INSERT INTO mux_g VALUES ($1::int) RETURNING a, current_setting('application_name')";
    for (int i = 1; i <= 3; i++)
    {
        char text[16];
        snprintf(text, sizeof(text), "%d", i);
        const char *params[] = {text};
        PdDbResult *result = NULL;
        assert_true(pd_db_query_prepared(fixture->arena, share, insert, 1, params, &result, &err));
        assert_string_equal(pd_db_result_value(result, 0, 0), text);
        assert_string_equal(pd_db_result_value(result, 0, 1),
                            "grouped"); /* begin_sql ran in its transaction */
        assert_int_equal(pd_db_mux_in_flight(group), 0);
    }
    const char *bad[] = {"-1"};
    PdDbResult *result = NULL;
    PdError refused = {0};
    assert_false(pd_db_query_prepared(fixture->arena, share, insert, 1, bad, &result, &refused));
    assert_int_equal(refused.code, PD_ERR_INVALID_INPUT);
    assert_string_equal(refused.sqlstate, "23514");
    const char *good[] = {"4"};
    assert_true(pd_db_query_prepared(fixture->arena, share, insert, 1, good, &result, &err));
    PdDbResult *rows = NULL;
    assert_true(pd_db_query(fixture->arena, fixture->admin,
                            "SELECT string_agg(a::text, ',' ORDER BY a) FROM mux_g", 0, NULL, &rows, &err));
    assert_string_equal(pd_db_result_value(rows, 0, 0), "1,2,3,4");
    assert_true(pd_db_mux_is_usable(group));
    pd_db_close(pd_db_mux_free(group));
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_statements_answer),
        cmocka_unit_test(test_error_aborts_only_its_statement),
        cmocka_unit_test(test_failed_prepare_is_not_cached),
        cmocka_unit_test(test_stale_plan_is_prepared_again),
        cmocka_unit_test(test_eviction_in_the_pipeline),
        cmocka_unit_test(test_refused_on_a_share),
        cmocka_unit_test(test_group_commit_alone),
        cmocka_unit_test(test_terminated_backend),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
