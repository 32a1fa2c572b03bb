/*
 * test_counters.c - the query side of the row counters (src/query/count.c)
 * against a database migrated by the library itself: when the counter may
 * stand in for count(*) (installed, enabled, readable, no row-level
 * security) and that the count expression gives count(*)'s number under the
 * statement's snapshot, inside and outside a writing transaction.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "pgtest.h"
#include "prodata/count.h"
#include "prodata/migrate.h"
#include "prodata/strbuf.h"

static const char *models_text = "model Author {\n"
                                 "  name string(200)\n"
                                 "}\n"
                                 "model Book {\n"
                                 "  title string(300)\n"
                                 "  author Author related=books\n"
                                 "}\n";

typedef struct Fixture
{
    PdArena *arena;
    PdDb *db;
    PdCatalog *catalog;
    PdMigrationFile file;
} Fixture;

/* Migrates the models onto the program's database with count_rows as given. */
static void
migrate(Fixture *fixture, bool count_rows)
{
    PdError err = {0};
    PdMigrateOptions options;
    pd_migrate_options_default(&options);
    options.count_rows = count_rows;
    PdMigrateReport report;
    assert_true(pd_migrate_apply(fixture->arena, fixture->db, &fixture->file, 1, &options, &report, &err));
}

static int
setup(void **state)
{
    static Fixture fixture;
    PdError err = {0};
    PdMigrationPlan *plan;
    char *text;
    fixture.arena = pd_arena_new(0);
    fixture.db = pgtest_connect();
    assert_true(pd_model_parse(fixture.arena, "models.pdm", models_text, &fixture.catalog, &err));
    assert_true(pd_migrate_plan(fixture.arena, NULL, fixture.catalog, &plan, &err));
    assert_true(pd_migration_render(fixture.arena, plan, "0001_initial", NULL, "models.pdm", fixture.catalog,
                                    &text, &err));
    assert_true(
        pd_migration_parse(fixture.arena, "0001_initial.sql", text, strlen(text), &fixture.file, &err));
    migrate(&fixture, true);
    *state = &fixture;
    return 0;
}

static int
teardown(void **state)
{
    Fixture *fixture = *state;
    pd_db_close(fixture->db);
    pd_arena_free(fixture->arena);
    return 0;
}

static bool
available(Fixture *fixture, const char *model_name)
{
    PdError err = {0};
    bool is_available = false;
    const PdModel *model = pd_model_find(fixture->catalog, model_name);
    assert_non_null(model);
    assert_true(pd_query_counter_available(fixture->arena, fixture->db, model, &is_available, &err));
    return is_available;
}

/* The counter's number and count(*)'s, in one statement (one snapshot). */
static void
read_counts(Fixture *fixture, const char *model_name, char **counted, char **actual)
{
    PdError err = {0};
    PdStrbuf sql;
    pd_strbuf_init(&sql, fixture->arena);
    const PdModel *model = pd_model_find(fixture->catalog, model_name);
    pd_strbuf_append(&sql, "SELECT ");
    assert_true(pd_query_count_expression(&sql, model, &err));
    pd_strbuf_appendf(&sql, ", (SELECT count(*) FROM \"%s\")", model->table);
    assert_false(pd_strbuf_failed(&sql));
    PdDbResult *result;
    assert_true(pd_db_query(fixture->arena, fixture->db, pd_strbuf_text(&sql), 0, NULL, &result, &err));
    *counted = (char *)pd_db_result_value(result, 0, 0);
    *actual = (char *)pd_db_result_value(result, 0, 1);
}

static void
test_expression_counts_exactly(void **state)
{
    Fixture *fixture = *state;
    char *counted, *actual;
    pgtest_exec(fixture->db, "INSERT INTO author (name) SELECT 'a' || g FROM generate_series(1, 1234) g");
    pgtest_exec(fixture->db, "DELETE FROM author WHERE id % 5 = 0");
    read_counts(fixture, "Author", &counted, &actual);
    assert_string_equal(actual, "988");
    assert_string_equal(counted, actual);
    /* Inside a writing transaction the statement sees its own rows, in the table and in the slots. */
    pgtest_exec(fixture->db, "BEGIN; INSERT INTO author (name) VALUES ('mine'), ('mine too')");
    read_counts(fixture, "Author", &counted, &actual);
    assert_string_equal(actual, "990");
    assert_string_equal(counted, actual);
    pgtest_exec(fixture->db, "ROLLBACK");
    read_counts(fixture, "Author", &counted, &actual);
    assert_string_equal(counted, "988");
    read_counts(fixture, "Book", &counted, &actual);
    assert_string_equal(counted, "0");
    assert_string_equal(actual, "0");
}

static void
test_available_when_installed(void **state)
{
    Fixture *fixture = *state;
    assert_true(available(fixture, "Author"));
    assert_true(available(fixture, "Book"));
}

static void
test_not_available_with_row_level_security(void **state)
{
    Fixture *fixture = *state;
    pgtest_exec(fixture->db, "ALTER TABLE book ENABLE ROW LEVEL SECURITY");
    assert_false(available(fixture, "Book"));
    assert_true(available(fixture, "Author"));
    pgtest_exec(fixture->db, "ALTER TABLE book DISABLE ROW LEVEL SECURITY");
    assert_true(available(fixture, "Book"));
}

static void
test_not_available_with_a_disabled_trigger(void **state)
{
    Fixture *fixture = *state;
    pgtest_exec(fixture->db, "ALTER TABLE author DISABLE TRIGGER prodata_count_delete");
    assert_false(available(fixture, "Author"));
    pgtest_exec(fixture->db, "ALTER TABLE author ENABLE TRIGGER prodata_count_delete");
    assert_true(available(fixture, "Author"));
}

static void
test_not_available_for_a_table_migrate_did_not_make(void **state)
{
    Fixture *fixture = *state;
    PdError err = {0};
    PdCatalog *other;
    bool is_available = true;
    assert_true(
        pd_model_parse(fixture->arena, "other.pdm", "model Loose {\n  name string(20)\n}\n", &other, &err));
    /* No table at all: false, not an error. */
    assert_true(
        pd_query_counter_available(fixture->arena, fixture->db, &other->models[0], &is_available, &err));
    assert_false(is_available);
    pgtest_exec(fixture->db, "CREATE TABLE loose (id bigint PRIMARY KEY, name varchar(20))");
    is_available = true;
    assert_true(
        pd_query_counter_available(fixture->arena, fixture->db, &other->models[0], &is_available, &err));
    assert_false(is_available);
}

static void
test_not_available_when_turned_off(void **state)
{
    Fixture *fixture = *state;
    migrate(fixture, false);
    assert_false(available(fixture, "Author"));
    assert_false(available(fixture, "Book"));
    migrate(fixture, true);
    assert_true(available(fixture, "Author"));
    char *counted, *actual;
    read_counts(fixture, "Author", &counted, &actual);
    assert_string_equal(counted, actual);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_expression_counts_exactly),
        cmocka_unit_test(test_available_when_installed),
        cmocka_unit_test(test_not_available_with_row_level_security),
        cmocka_unit_test(test_not_available_with_a_disabled_trigger),
        cmocka_unit_test(test_not_available_for_a_table_migrate_did_not_make),
        cmocka_unit_test(test_not_available_when_turned_off),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
