/*
 * test_db.c - the db module. Without arguments: the SQLSTATE table and the
 * reading of a violated key's columns (pure, run with the unit tests). With
 * --server: the same against the real PostgreSQL that tests/integration/db.sh
 * points the PG* variables at: results, transaction states, cancelling, and
 * the errors a unique or foreign-key violation, a deadlock, a terminated
 * backend and a read-only transaction become.
 */
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <time.h>

#include <cmocka.h>

#include "db/sqlstate.h"
#include "prodata/db.h"
#include "prodata/log.h"
#include "testing.h"

static void
assert_class(const char *sqlstate, PdErrorCode code, bool is_retryable, bool is_constraint)
{
    PdDbSqlstateClass class = pd_db_sqlstate_classify(sqlstate);
    if (class.code != code || class.is_retryable != is_retryable || class.is_constraint != is_constraint)
        fail_msg("%s: got code %d retryable %d constraint %d", sqlstate ? sqlstate : "(null)", class.code,
                 class.is_retryable, class.is_constraint);
}

static void
test_sqlstate_table(void **state)
{
    (void)state;
    assert_class("23505", PD_ERR_INVALID_INPUT, false, true);
    assert_class("23503", PD_ERR_INVALID_INPUT, false, true);
    assert_class("23502", PD_ERR_INVALID_INPUT, false, true);
    assert_class("23514", PD_ERR_INVALID_INPUT, false, true);
    assert_class("40001", PD_ERR_DB_QUERY, true, false);
    assert_class("40P01", PD_ERR_DB_QUERY, true, false);
    assert_class("55P03", PD_ERR_LOCK_TIMEOUT, true, false);
    assert_class("25006", PD_ERR_DB_GONE, true, false);
    assert_class("57P01", PD_ERR_DB_GONE, true, false);
    assert_class("57P02", PD_ERR_DB_GONE, true, false);
    assert_class("57P03", PD_ERR_DB_GONE, true, false);
    assert_class("08006", PD_ERR_DB_GONE, true, false);
    assert_class("08000", PD_ERR_DB_GONE, true, false);
    /* A protocol violation on a live connection is the client's bug (a parameter count that does not match),
     * and trying again sends the same bug: not "the server went away". A lost connection is told by libpq's
     * state, not by this table. */
    assert_class("08P01", PD_ERR_DB_QUERY, false, false);
    /* Too many connections: the server is up but full; a later attempt may get in. */
    assert_class("53300", PD_ERR_DB_CONNECT, true, false);
    /* Neighbours of listed codes are plain query errors. */
    assert_class("23000", PD_ERR_DB_QUERY, false, false);
    assert_class("40000", PD_ERR_DB_QUERY, false, false);
    assert_class("57014", PD_ERR_DB_QUERY, false, false);
    assert_class("42P01", PD_ERR_DB_QUERY, false, false);
    assert_class("", PD_ERR_DB_QUERY, false, false);
    assert_class(NULL, PD_ERR_DB_QUERY, false, false);
    assert_class("08", PD_ERR_DB_QUERY, false, false);
}

static void
test_key_columns_from_the_detail(void **state)
{
    (void)state;
    char columns[64];
    assert_true(pd_db_key_columns("Key (email)=(a@b.c) already exists.", columns, sizeof(columns)));
    assert_string_equal(columns, "email");
    assert_true(pd_db_key_columns("Key (shop_id, sku)=(1, x) already exists.", columns, sizeof(columns)));
    assert_string_equal(columns, "shop_id, sku");
    assert_true(pd_db_key_columns("Key (author_id)=(99) is not present in table \"authors\".", columns,
                                  sizeof(columns)));
    assert_string_equal(columns, "author_id");
    assert_true(pd_db_key_columns("Key (lower(email::text))=(x) already exists.", columns, sizeof(columns)));
    assert_string_equal(columns, "lower(email::text)");
    char small[4];
    assert_true(pd_db_key_columns("Key (email)=(x) already exists.", small, sizeof(small)));
    assert_string_equal(small, "ema");
    assert_false(pd_db_key_columns("Failing row contains (1, null).", columns, sizeof(columns)));
    assert_string_equal(columns, "");
    assert_false(pd_db_key_columns(NULL, columns, sizeof(columns)));
    assert_false(pd_db_key_columns("Key ()=(x)", columns, sizeof(columns)));
}

/* --- against the server ------------------------------------------------------------------------------- */

static PdDb *
connect_or_fail(void)
{
    PdDb *db = NULL;
    PdError err;
    if (!pd_db_connect("", &db, &err))
        fail_msg("cannot connect: %s: %s", err.message, err.detail);
    return db;
}

static void
exec_or_fail(PdDb *db, const char *sql)
{
    PdError err;
    if (!pd_db_exec(db, sql, &err))
        fail_msg("%s: %s", sql, err.message);
}

static void
test_result_rows_values_and_nulls(void **state)
{
    (void)state;
    PdDb *db = connect_or_fail();
    PdArena *arena = pd_arena_new(0);
    PdDbResult *result;
    PdError err;
    const char *params[] = {"héllo", NULL};
    assert_true(pd_db_query(arena, db,
                            "SELECT $1::text AS word, $2::int AS nothing, n FROM generate_series(1, 3) n", 2,
                            params, &result, &err));
    assert_int_equal(pd_db_result_row_count(result), 3);
    assert_int_equal(pd_db_result_column_count(result), 3);
    assert_string_equal(pd_db_result_column_name(result, 0), "word");
    assert_string_equal(pd_db_result_column_name(result, 1), "nothing");
    assert_null(pd_db_result_column_name(result, 3));
    assert_string_equal(pd_db_result_value(result, 2, 0), "héllo");
    assert_int_equal(pd_db_result_length(result, 2, 0), strlen("héllo"));
    assert_false(pd_db_result_is_null(result, 0, 0));
    assert_true(pd_db_result_is_null(result, 0, 1));
    assert_string_equal(pd_db_result_value(result, 0, 1), "");
    assert_int_equal(pd_db_result_length(result, 0, 1), 0);
    assert_string_equal(pd_db_result_value(result, 2, 2), "3");
    /* Out of range is NULL, never a read past the result. */
    assert_null(pd_db_result_value(result, 3, 0));
    assert_null(pd_db_result_value(result, 0, 3));
    assert_false(pd_db_result_is_null(result, 3, 1));
    assert_int_equal(pd_db_result_length(result, 9, 9), 0);
    pd_arena_free(arena);
    pd_db_close(db);
}

static void
test_result_memory_counts_against_the_budget(void **state)
{
    (void)state;
    PdDb *db = connect_or_fail();
    PdArena *arena = pd_arena_new(64 * 1024);
    PdDbResult *result;
    PdError err;
    size_t used_before = pd_arena_used(arena);
    assert_true(pd_db_query(arena, db, "SELECT repeat('x', 20000)", 0, NULL, &result, &err));
    assert_true(pd_arena_used(arena) >= used_before + 20000);
    assert_false(pd_db_query(arena, db, "SELECT repeat('x', 60000)", 0, NULL, &result, &err));
    assert_int_equal(err.code, PD_ERR_TOO_LARGE);
    pd_arena_free(arena);
    /* A child arena's results count in its parent too, and leave with the child. */
    PdArena *parent = pd_arena_new(0);
    PdArena *child = pd_arena_new_child(parent, 0);
    assert_true(pd_db_query(child, db, "SELECT repeat('x', 20000)", 0, NULL, &result, &err));
    assert_true(pd_arena_used(parent) >= 20000);
    pd_arena_free(child);
    assert_true(pd_arena_used(parent) < 20000);
    pd_arena_free(parent);
    pd_db_close(db);
}

static void
test_transaction_states(void **state)
{
    (void)state;
    PdDb *db = connect_or_fail();
    assert_int_equal(pd_db_transaction_state(db), PD_DB_TX_IDLE);
    exec_or_fail(db, "BEGIN");
    assert_int_equal(pd_db_transaction_state(db), PD_DB_TX_IN_TRANSACTION);
    PdError err;
    assert_false(pd_db_exec(db, "SELECT 1/0", &err));
    assert_string_equal(err.sqlstate, "22012");
    assert_int_equal(err.code, PD_ERR_DB_QUERY);
    assert_false(err.is_retryable);
    assert_int_equal(pd_db_transaction_state(db), PD_DB_TX_FAILED);
    exec_or_fail(db, "ROLLBACK");
    assert_int_equal(pd_db_transaction_state(db), PD_DB_TX_IDLE);
    pd_db_close(db);
}

static void *
cancel_soon(void *cancel)
{
    struct timespec delay = {0, 200 * 1000 * 1000};
    nanosleep(&delay, NULL);
    pd_db_cancel_send(cancel);
    return NULL;
}

static void
test_cancel_ends_the_running_statement(void **state)
{
    (void)state;
    PdDb *db = connect_or_fail();
    PdDbCancel *cancel = pd_db_cancel_handle(db);
    assert_non_null(cancel);
    assert_true(pd_db_cancel_send(NULL));
    pthread_t thread;
    assert_int_equal(pthread_create(&thread, NULL, cancel_soon, cancel), 0);
    PdError err;
    time_t started = time(NULL);
    assert_false(pd_db_exec(db, "SELECT pg_sleep(30)", &err));
    pthread_join(thread, NULL);
    assert_string_equal(err.sqlstate, "57014");
    assert_true(time(NULL) - started < 20);
    /* The connection stays usable. */
    exec_or_fail(db, "SELECT 1");
    pd_db_close(db);
}

/* Runs sql on a fresh table pair (shop_authors, shop_books) and returns the error it gives. */
static PdError
violation(const char *sql)
{
    PdDb *db = connect_or_fail();
    exec_or_fail(db, "DROP TABLE IF EXISTS shop_books, shop_authors;"
                     "CREATE TABLE shop_authors (id int PRIMARY KEY, email text NOT NULL,"
                     " CONSTRAINT shop_authors_email_key UNIQUE (email), CHECK (id > 0));"
                     "CREATE TABLE shop_books (id int PRIMARY KEY, author_id int"
                     " CONSTRAINT shop_books_author_fk REFERENCES shop_authors (id));"
                     "INSERT INTO shop_authors VALUES (1, 'a@example.com')");
    PdArena *arena = pd_arena_new(0);
    PdDbResult *result;
    PdError err;
    memset(&err, 0, sizeof(err));
    if (pd_db_query(arena, db, sql, 0, NULL, &result, &err))
        fail_msg("%s succeeded", sql);
    pd_arena_free(arena);
    pd_db_close(db);
    return err;
}

static void
test_unique_violation_is_input_with_constraint_and_column(void **state)
{
    (void)state;
    PdError err = violation("INSERT INTO shop_authors VALUES (2, 'a@example.com')");
    assert_int_equal(err.code, PD_ERR_INVALID_INPUT);
    assert_string_equal(err.sqlstate, "23505");
    assert_string_equal(err.constraint, "shop_authors_email_key");
    assert_string_equal(err.field, "email");
    assert_false(err.is_retryable);
    assert_contains(err.detail, "already exists");
}

static void
test_foreign_key_violation_is_input_with_constraint_and_column(void **state)
{
    (void)state;
    PdError err = violation("INSERT INTO shop_books VALUES (1, 99)");
    assert_int_equal(err.code, PD_ERR_INVALID_INPUT);
    assert_string_equal(err.sqlstate, "23503");
    assert_string_equal(err.constraint, "shop_books_author_fk");
    assert_string_equal(err.field, "author_id");
    assert_false(err.is_retryable);
}

static void
test_not_null_and_check_violations_are_input(void **state)
{
    (void)state;
    PdError err = violation("INSERT INTO shop_authors VALUES (2, NULL)");
    assert_int_equal(err.code, PD_ERR_INVALID_INPUT);
    assert_string_equal(err.sqlstate, "23502");
    assert_string_equal(err.field, "email");
    err = violation("INSERT INTO shop_authors VALUES (-1, 'b@example.com')");
    assert_int_equal(err.code, PD_ERR_INVALID_INPUT);
    assert_string_equal(err.sqlstate, "23514");
    assert_string_equal(err.constraint, "shop_authors_id_check");
}

typedef struct Captured
{
    int count;
    PdLogLevel levels[4];
    char lines[4][256];
} Captured;

static void
capture(PdLogLevel level, const char *message, const PdLogField *fields, size_t field_count, void *data)
{
    Captured *captured = data;
    if (captured->count >= 4)
        return;
    captured->levels[captured->count] = level;
    pd_log_format(captured->lines[captured->count], sizeof(captured->lines[0]), level, message, fields,
                  field_count);
    captured->count++;
}

static void
test_notices_pass_to_the_log(void **state)
{
    (void)state;
    Captured captured = {0};
    pd_log_set_handler(capture, &captured, PD_LOG_DEBUG);
    PdDb *db = connect_or_fail();
    exec_or_fail(db, "DO $$ BEGIN RAISE WARNING 'careful now' USING ERRCODE = '01P42', DETAIL = 'a detail';"
                     " RAISE NOTICE 'for your information'; END $$");
    pd_log_set_handler(NULL, NULL, PD_LOG_DEBUG);
    pd_db_close(db);
    assert_int_equal(captured.count, 2);
    assert_int_equal(captured.levels[0], PD_LOG_WARNING);
    assert_string_equal(captured.lines[0],
                        "level=warning msg=\"careful now\" sqlstate=01P42 detail=\"a detail\"");
    assert_int_equal(captured.levels[1], PD_LOG_NOTICE);
    assert_string_equal(captured.lines[1], "level=notice msg=\"for your information\" sqlstate=00000");
}

typedef struct DeadlockSide
{
    PdDb *db;
    const char *sql;
    bool is_done;
    PdError err;
} DeadlockSide;

static void *
run_side(void *data)
{
    DeadlockSide *side = data;
    side->is_done = pd_db_exec(side->db, side->sql, &side->err);
    return NULL;
}

static void
test_deadlock_is_retryable(void **state)
{
    (void)state;
    PdDb *first = connect_or_fail();
    PdDb *second = connect_or_fail();
    exec_or_fail(first, "DROP TABLE IF EXISTS pair; CREATE TABLE pair (id int PRIMARY KEY, v int);"
                        "INSERT INTO pair VALUES (1, 0), (2, 0)");
    exec_or_fail(first, "SET deadlock_timeout = '100ms'; BEGIN; UPDATE pair SET v = 1 WHERE id = 1");
    exec_or_fail(second, "SET deadlock_timeout = '100ms'; BEGIN; UPDATE pair SET v = 2 WHERE id = 2");
    DeadlockSide sides[2] = {{first, "UPDATE pair SET v = 1 WHERE id = 2", false, {0}},
                             {second, "UPDATE pair SET v = 2 WHERE id = 1", false, {0}}};
    pthread_t threads[2];
    for (int i = 0; i < 2; i++)
        assert_int_equal(pthread_create(&threads[i], NULL, run_side, &sides[i]), 0);
    for (int i = 0; i < 2; i++)
        pthread_join(threads[i], NULL);
    assert_true(sides[0].is_done != sides[1].is_done);
    PdError *err = sides[0].is_done ? &sides[1].err : &sides[0].err;
    assert_string_equal(err->sqlstate, "40P01");
    assert_int_equal(err->code, PD_ERR_DB_QUERY);
    assert_true(err->is_retryable);
    assert_true(pd_error_is_retryable(err));
    pd_db_close(first);
    pd_db_close(second);
}

static void
test_terminated_backend_is_gone(void **state)
{
    (void)state;
    PdDb *db = connect_or_fail();
    PdError err;
    assert_false(pd_db_exec(db, "SELECT pg_terminate_backend(pg_backend_pid())", &err));
    assert_int_equal(err.code, PD_ERR_DB_GONE);
    assert_true(err.is_retryable);
    /* Later statements on the dead connection are gone too. */
    PdArena *arena = pd_arena_new(0);
    PdDbResult *result;
    assert_false(pd_db_query(arena, db, "SELECT 1", 0, NULL, &result, &err));
    assert_int_equal(err.code, PD_ERR_DB_GONE);
    assert_int_equal(pd_db_transaction_state(db), PD_DB_TX_UNKNOWN);
    pd_arena_free(arena);
    pd_db_close(db);
}

/* A parameter count that does not match the statement is 08P01 from a server that is still there. */
static void
test_protocol_violation_is_a_query_error(void **state)
{
    (void)state;
    PdDb *db = connect_or_fail();
    PdArena *arena = pd_arena_new(0);
    PdDbResult *result;
    PdError err;
    const char *params[] = {"1"};
    assert_false(pd_db_query(arena, db, "SELECT 1", 1, params, &result, &err));
    assert_string_equal(err.sqlstate, "08P01");
    assert_int_equal(err.code, PD_ERR_DB_QUERY);
    assert_false(pd_error_is_retryable(&err));
    /* The connection is fine: the next statement runs. */
    assert_true(pd_db_query(arena, db, "SELECT 1", 0, NULL, &result, &err));
    pd_arena_free(arena);
    pd_db_close(db);
}

static void
test_read_only_transaction_is_gone(void **state)
{
    (void)state;
    PdDb *db = connect_or_fail();
    exec_or_fail(db, "DROP TABLE IF EXISTS ro; CREATE TABLE ro (id int)");
    exec_or_fail(db, "SET default_transaction_read_only = on");
    PdError err;
    assert_false(pd_db_exec(db, "INSERT INTO ro VALUES (1)", &err));
    assert_string_equal(err.sqlstate, "25006");
    assert_int_equal(err.code, PD_ERR_DB_GONE);
    assert_true(err.is_retryable);
    pd_db_close(db);
}

int
main(int argc, char **argv)
{
    const struct CMUnitTest pure_tests[] = {
        cmocka_unit_test(test_sqlstate_table),
        cmocka_unit_test(test_key_columns_from_the_detail),
    };
    const struct CMUnitTest server_tests[] = {
        cmocka_unit_test(test_result_rows_values_and_nulls),
        cmocka_unit_test(test_result_memory_counts_against_the_budget),
        cmocka_unit_test(test_transaction_states),
        cmocka_unit_test(test_cancel_ends_the_running_statement),
        cmocka_unit_test(test_unique_violation_is_input_with_constraint_and_column),
        cmocka_unit_test(test_foreign_key_violation_is_input_with_constraint_and_column),
        cmocka_unit_test(test_not_null_and_check_violations_are_input),
        cmocka_unit_test(test_notices_pass_to_the_log),
        cmocka_unit_test(test_deadlock_is_retryable),
        cmocka_unit_test(test_terminated_backend_is_gone),
        cmocka_unit_test(test_read_only_transaction_is_gone),
        cmocka_unit_test(test_protocol_violation_is_a_query_error),
    };
    if (argc > 1 && strcmp(argv[1], "--server") == 0)
        return cmocka_run_group_tests(server_tests, NULL, NULL);
    return cmocka_run_group_tests(pure_tests, NULL, NULL);
}
