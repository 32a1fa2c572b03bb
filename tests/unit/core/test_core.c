/*
 * test_core.c - the pieces every module stands on: arena budgets and
 * cleanup order, string building with SQL quoting, error values with context
 * and their exit/HTTP mapping.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "prodata/arena.h"
#include "prodata/error.h"
#include "prodata/strbuf.h"

static void
test_arena_budget_is_an_error_value(void **state)
{
    (void)state;
    PdArena *arena = pd_arena_new(1024);
    assert_non_null(pd_arena_alloc(arena, 512));
    assert_null(pd_arena_alloc(arena, 1024));
    assert_true(pd_arena_failed(arena));
    PdError err;
    assert_false(pd_arena_error(arena, &err));
    assert_int_equal(err.code, PD_ERR_TOO_LARGE);
    assert_string_equal(err.message, "memory budget of 1024 bytes exhausted");
    /* Smaller requests still fit after a refusal. */
    assert_non_null(pd_arena_alloc(arena, 64));
    pd_arena_free(arena);
}

static void
test_arena_large_and_many_allocations(void **state)
{
    (void)state;
    PdArena *arena = pd_arena_new(0);
    char *big = pd_arena_alloc(arena, 3 * 1024 * 1024);
    assert_non_null(big);
    memset(big, 'x', 3 * 1024 * 1024);
    for (int i = 0; i < 10000; i++)
    {
        int *value = pd_arena_alloc(arena, sizeof(int));
        assert_non_null(value);
        assert_int_equal((uintptr_t)value % 16, 0);
        *value = i;
    }
    int *grown = NULL;
    for (size_t count = 0; count < 100; count++)
    {
        grown = pd_arena_grow(arena, grown, count, count + 1, sizeof(int));
        grown[count] = (int)count;
    }
    for (int i = 0; i < 100; i++)
        assert_int_equal(grown[i], i);
    assert_string_equal(pd_arena_sprintf(arena, "%s-%d", "a", 7), "a-7");
    assert_string_equal(pd_arena_strndup(arena, "abcdef", 3), "abc");
    pd_arena_free(arena);
}

static int cleanup_order[3];
static int cleanup_count;

static void
record_cleanup(void *resource)
{
    cleanup_order[cleanup_count++] = *(int *)resource;
}

static void
test_arena_cleanups_run_newest_first(void **state)
{
    (void)state;
    static int first = 1, second = 2;
    cleanup_count = 0;
    PdArena *arena = pd_arena_new(0);
    assert_true(pd_arena_on_free(arena, record_cleanup, &first));
    assert_true(pd_arena_on_free(arena, record_cleanup, &second));
    pd_arena_free(arena);
    assert_int_equal(cleanup_count, 2);
    assert_int_equal(cleanup_order[0], 2);
    assert_int_equal(cleanup_order[1], 1);
}

static void
test_strbuf_quotes_identifiers_and_literals(void **state)
{
    (void)state;
    PdArena *arena = pd_arena_new(0);
    PdStrbuf buf;
    pd_strbuf_init(&buf, arena);
    assert_string_equal(pd_strbuf_text(&buf), "");
    pd_strbuf_append(&buf, "ALTER TABLE ");
    pd_strbuf_append_identifier(&buf, "we\"ird");
    pd_strbuf_append(&buf, " SET DEFAULT ");
    pd_strbuf_append_literal(&buf, "it's");
    pd_strbuf_append(&buf, ", ");
    pd_strbuf_append_literal(&buf, "C:\\dir\n-- +down\t\x01");
    pd_strbuf_appendf(&buf, " -- %d", 42);
    assert_string_equal(
        pd_strbuf_text(&buf),
        "ALTER TABLE \"we\"\"ird\" SET DEFAULT 'it''s', E'C:\\\\dir\\n-- +down\\t\\x01' -- 42");
    for (int i = 0; i < 5000; i++)
        pd_strbuf_append_char(&buf, 'z');
    assert_int_equal(buf.length, strlen(buf.data));
    pd_arena_free(arena);
}

static void
test_strbuf_failure_is_sticky(void **state)
{
    (void)state;
    PdArena *arena = pd_arena_new(300);
    PdStrbuf buf;
    pd_strbuf_init(&buf, arena);
    for (int i = 0; i < 100; i++)
        pd_strbuf_append(&buf, "0123456789");
    assert_true(pd_strbuf_failed(&buf));
    assert_null(pd_strbuf_text(&buf));
    pd_arena_free(arena);
}

static void
test_error_context_and_codes(void **state)
{
    (void)state;
    PdError err;
    assert_false(pd_error_set(&err, PD_ERR_DB_QUERY, "relation \"%s\" does not exist", "book"));
    assert_false(pd_error_context(&err, "while applying migration %s", "0002_x"));
    assert_false(pd_error_context(&err, "while migrating"));
    assert_string_equal(err.message, "relation \"book\" does not exist");
    assert_string_equal(err.context, "while applying migration 0002_x; while migrating");
    assert_int_equal(pd_error_exit_code(PD_ERR_USAGE), 2);
    assert_int_equal(pd_error_exit_code(PD_ERR_INVALID_INPUT), 2);
    assert_int_equal(pd_error_exit_code(PD_ERR_DB_CONNECT), 1);
    assert_int_equal(pd_error_exit_code(PD_ERR_DRIFT), 3);
    assert_int_equal(pd_error_exit_code(PD_ERR_DCS_UNKNOWN), 4);
    assert_int_equal(pd_error_exit_code(PD_OK), 0);
    assert_int_equal(pd_error_http_status(PD_ERR_NOT_FOUND), 404);
    assert_int_equal(pd_error_http_status(PD_ERR_TOO_LARGE), 413);
    assert_string_equal(pd_error_code_name(PD_ERR_LOCK_TIMEOUT), "lock timeout");
    char long_text[1000];
    memset(long_text, 'a', sizeof(long_text) - 1);
    long_text[sizeof(long_text) - 1] = '\0';
    pd_error_set(&err, PD_ERR_INTERNAL, "%s", long_text);
    assert_int_equal(strlen(err.message), sizeof(err.message) - 1);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_arena_budget_is_an_error_value),
        cmocka_unit_test(test_arena_large_and_many_allocations),
        cmocka_unit_test(test_arena_cleanups_run_newest_first),
        cmocka_unit_test(test_strbuf_quotes_identifiers_and_literals),
        cmocka_unit_test(test_strbuf_failure_is_sticky),
        cmocka_unit_test(test_error_context_and_codes),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
