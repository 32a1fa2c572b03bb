/*
 * test_db_session.c - the database-backed test tier itself: a program here
 * gets a fresh database of its own from tests/run.sh and reaches it through
 * PRODATA_TEST_CONNINFO. This first program checks exactly that (the
 * database is empty and ours), so a broken tier fails loudly instead of
 * every later test being skipped.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "pgtest.h"

static void
test_fresh_database_is_ours(void **state)
{
    (void)state;
    PdDb *db = pgtest_connect();
    PdArena *arena = pd_arena_new(0);
    PdDbResult *result = NULL;
    PdError err = {0};
    pgtest_exec(db, "CREATE TABLE tier_probe (id int)");
    assert_true(pd_db_query(arena, db,
                            "SELECT count(*) FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace "
                            "WHERE n.nspname = 'public' AND c.relkind = 'r'",
                            0, NULL, &result, &err));
    assert_string_equal(pd_db_result_value(result, 0, 0), "1");
    pd_arena_free(arena);
    pd_db_close(db);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_fresh_database_is_ours),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
