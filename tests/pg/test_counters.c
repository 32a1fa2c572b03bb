/*
 * test_counters.c - the query side of the row counters (src/query/count.c)
 * against a database migrated by the library itself: when the counter may
 * stand in for count(*) (installed, enabled, readable, no row-level
 * security) and that the count expression gives count(*)'s number under the
 * statement's snapshot, inside and outside a writing transaction, and under
 * row-level security enabled after that (count(*) for a role it filters);
 * and the counting by the client of a transaction that lists a table in
 * prodata.client_counts and adds its own inserts (prodata_count_add): with
 * a trigger of the user's inserting rows, savepoints, a truncate, a role
 * the session SET ROLEs to, a session whose login role may not write the
 * counters (which cannot skip its rows), the refusals, which models may
 * (pd_query_counter_client_table), and a table whose insert trigger is of
 * the version before, and its upgrade; and an INSERT that adds its own rows
 * in the same statement (pd_object_create_each's counted_oid, what serve
 * does), listed or not, under a BEFORE trigger that drops a row, and on a
 * trigger of the version before.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "pgtest.h"
#include "prodata/count.h"
#include "prodata/migrate.h"
#include "prodata/object.h"
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

/* The counter and count(*) of model_name as numbers, in one statement. */
static void
read_numbers(Fixture *fixture, const char *model_name, long long *counted, long long *actual)
{
    char *counted_text, *actual_text;
    read_counts(fixture, model_name, &counted_text, &actual_text);
    *counted = atoll(counted_text);
    *actual = atoll(actual_text);
}

static void
assert_exact(Fixture *fixture, const char *model_name, long long expected)
{
    long long counted, actual;
    read_numbers(fixture, model_name, &counted, &actual);
    assert_int_equal(actual, expected);
    assert_int_equal(counted, actual);
}

/* Whether sql fails (the transaction it runs in is then aborted). */
static bool
fails(Fixture *fixture, const char *sql)
{
    PdError err = {0};
    return !pd_db_exec(fixture->db, sql, &err);
}

/* The transaction lists a table whose inserts it adds itself (prodata.client_counts). */
#define LIST_AUTHOR "SELECT set_config('prodata.client_counts', ',' || 'author'::regclass::oid || ',', true)"
#define LIST_BOOK "SELECT set_config('prodata.client_counts', ',' || 'book'::regclass::oid || ',', true)"

static bool
may_tally(Fixture *fixture, const char *model_name)
{
    PdError err = {0};
    const char *oid = "unset";
    const PdModel *model = pd_model_find(fixture->catalog, model_name);
    assert_true(
        pd_query_counter_client_table(fixture->arena, fixture->db, fixture->catalog, model, &oid, &err));
    if (oid == NULL)
        return false;
    const char *params[] = {model->table};
    PdDbResult *result;
    assert_true(
        pd_db_query(fixture->arena, fixture->db, "SELECT to_regclass($1)::oid", 1, params, &result, &err));
    assert_string_equal(oid, pd_db_result_value(result, 0, 0));
    return true;
}

/*
 * A 'client' transaction's own inserts are in no slot until it adds them
 * (prodata_count_add), and go with it when it rolls back; rows a trigger of
 * the user's inserts (pg_trigger_depth() > 0) are counted by their
 * statements as ever.
 */
static void
test_client_adds_its_own_inserts(void **state)
{
    Fixture *fixture = *state;
    long long before, books, counted, actual;
    read_numbers(fixture, "Author", &before, &actual);
    read_numbers(fixture, "Book", &books, &actual);
    pgtest_exec(fixture->db, "BEGIN; " LIST_AUTHOR);
    pgtest_exec(fixture->db, "INSERT INTO author (name) VALUES ('c1'), ('c2')");
    read_numbers(fixture, "Author", &counted, &actual);
    assert_int_equal(actual, before + 2);
    assert_int_equal(counted, before); /* skipped: the client adds them */
    pgtest_exec(fixture->db, "SELECT prodata_count_add('author', 2)");
    read_numbers(fixture, "Author", &counted, &actual);
    assert_int_equal(counted, before + 2);
    pgtest_exec(fixture->db, "COMMIT");
    assert_exact(fixture, "Author", before + 2);
    pgtest_exec(fixture->db, "BEGIN; " LIST_AUTHOR "; INSERT INTO author (name) SELECT 'r' FROM "
                             "generate_series(1, 3); SELECT prodata_count_add('author', 3); ROLLBACK");
    assert_exact(fixture, "Author", before + 2);
    /* A row inserted by a trigger of the user's is counted by its statement, not skipped. */
    pgtest_exec(
        fixture->db,
        "CREATE FUNCTION test_author_per_book() RETURNS trigger LANGUAGE plpgsql AS 'BEGIN INSERT "
        "INTO author (name) VALUES (NEW.title); RETURN NULL; END'; CREATE TRIGGER test_author_per_book "
        "AFTER INSERT ON book FOR EACH ROW EXECUTE FUNCTION test_author_per_book()");
    pgtest_exec(fixture->db, "BEGIN; " LIST_BOOK "; INSERT INTO book (title, author_id) SELECT "
                             "'nested', min(id) FROM author; SELECT prodata_count_add('book', 1); COMMIT");
    assert_exact(fixture, "Author", before + 3);
    assert_exact(fixture, "Book", books + 1);
    pgtest_exec(fixture->db,
                "DROP TRIGGER test_author_per_book ON book; DROP FUNCTION test_author_per_book()");
    /* A table the transaction does not list is counted by its statements; adding to it adds nothing. */
    pgtest_exec(fixture->db,
                "BEGIN; " LIST_AUTHOR "; INSERT INTO book (title, author_id) SELECT 'unlisted', min(id) FROM "
                "author; SELECT prodata_count_add('book', 1); COMMIT");
    assert_exact(fixture, "Book", books + 2);
}

/*
 * The client adds what its transaction keeps: rows rolled back to a
 * savepoint are not added, an add rolled back to a savepoint is gone, and a
 * truncate zeroes what was added before it. A role the session SET ROLEs to
 * that may not write the counters has its rows counted by its statements,
 * and its adds add nothing.
 */
static void
test_client_savepoints_truncate_and_roles(void **state)
{
    Fixture *fixture = *state;
    long long before, actual;
    read_numbers(fixture, "Author", &before, &actual);
    pgtest_exec(fixture->db,
                "BEGIN; " LIST_AUTHOR "; INSERT INTO author (name) VALUES ('s1'), ('s2'); SAVEPOINT a; "
                "INSERT INTO author (name) SELECT 'gone' FROM generate_series(1, 3); ROLLBACK TO a");
    pgtest_exec(fixture->db, "SAVEPOINT b; SELECT prodata_count_add('author', 2); ROLLBACK TO b; SELECT "
                             "prodata_count_add('author', 2); COMMIT");
    assert_exact(fixture, "Author", before + 2);
    pgtest_exec(
        fixture->db,
        "BEGIN; " LIST_BOOK "; INSERT INTO book (title, author_id) SELECT 't' || g, (SELECT min(id) "
        "FROM author) FROM generate_series(1, 3) g; SELECT prodata_count_add('book', 3); TRUNCATE book; "
        "INSERT INTO book (title, author_id) SELECT 'u' || g, (SELECT min(id) FROM author) FROM "
        "generate_series(1, 2) g; SELECT prodata_count_add('book', 2); COMMIT");
    assert_exact(fixture, "Book", 2);
    pgtest_exec(fixture->db,
                "DROP ROLE IF EXISTS test_counters_inserter; CREATE ROLE test_counters_inserter; "
                "GRANT INSERT, SELECT ON author TO test_counters_inserter");
    pgtest_exec(fixture->db,
                "BEGIN; SET LOCAL ROLE test_counters_inserter; " LIST_AUTHOR "; INSERT INTO author (name) "
                "VALUES ('i1'), ('i2')");
    assert_true(fails(fixture, "SAVEPOINT p; UPDATE prodata_row_counts SET n = n + 1"));
    pgtest_exec(fixture->db, "ROLLBACK TO p; SELECT prodata_count_add('author', 2); COMMIT");
    assert_exact(fixture, "Author", before + 4);
    pgtest_exec(fixture->db,
                "REVOKE ALL ON author FROM test_counters_inserter; DROP ROLE test_counters_inserter");
    pgtest_exec(fixture->db, "TRUNCATE book");
}

/*
 * prodata_count_add refuses a negative count and a table whose INSERT may
 * write no row without an error (a BEFORE INSERT row trigger of the
 * user's), which pd_query_counter_may_tally also says; a session whose
 * login role may not write the counters cannot skip its rows.
 */
static void
test_client_refusals(void **state)
{
    Fixture *fixture = *state;
    long long before, counted, actual;
    assert_true(may_tally(fixture, "Author"));
    assert_true(may_tally(fixture, "Book"));
    pgtest_exec(fixture->db, "BEGIN");
    assert_true(fails(fixture, "SELECT prodata_count_add('author', -1)"));
    pgtest_exec(fixture->db, "ROLLBACK");
    pgtest_exec(fixture->db,
                "CREATE FUNCTION test_keep() RETURNS trigger LANGUAGE plpgsql AS 'BEGIN RETURN NEW; END'; "
                "CREATE TRIGGER test_keep BEFORE INSERT ON author FOR EACH ROW EXECUTE FUNCTION test_keep()");
    assert_false(may_tally(fixture, "Author"));
    assert_true(may_tally(fixture, "Book"));
    pgtest_exec(fixture->db, "BEGIN; " LIST_AUTHOR);
    assert_true(fails(fixture, "SELECT prodata_count_add('author', 1)"));
    pgtest_exec(fixture->db, "ROLLBACK; DROP TRIGGER test_keep ON author; DROP FUNCTION test_keep()");
    assert_true(may_tally(fixture, "Author"));
    /* A default of another model's table that calls a function of the user's could insert authors in a book's
     * create statement: no table is listed. So with a rule (and not after it is dropped). */
    pgtest_exec(
        fixture->db,
        "CREATE FUNCTION test_make_author() RETURNS bigint LANGUAGE sql AS 'INSERT INTO author (name) "
        "VALUES (''by default'') RETURNING id'; ALTER TABLE book ADD COLUMN helper bigint DEFAULT "
        "test_make_author()");
    assert_false(may_tally(fixture, "Author"));
    assert_false(may_tally(fixture, "Book"));
    pgtest_exec(fixture->db, "ALTER TABLE book DROP COLUMN helper; DROP FUNCTION test_make_author()");
    assert_true(may_tally(fixture, "Author"));
    pgtest_exec(fixture->db, "CREATE RULE test_rule AS ON INSERT TO book DO ALSO NOTIFY test_counters");
    assert_false(may_tally(fixture, "Author"));
    pgtest_exec(fixture->db, "BEGIN; " LIST_BOOK);
    assert_true(fails(fixture, "SELECT prodata_count_add('book', 1)"));
    pgtest_exec(fixture->db, "ROLLBACK; DROP RULE test_rule ON book");
    assert_true(may_tally(fixture, "Author"));
    assert_true(may_tally(fixture, "Book"));

    read_numbers(fixture, "Author", &before, &actual);
    pgtest_exec(fixture->db, "DROP ROLE IF EXISTS test_counters_client; CREATE ROLE test_counters_client; "
                             "GRANT INSERT, SELECT ON author TO test_counters_client");
    pgtest_exec(fixture->db, "SET SESSION AUTHORIZATION test_counters_client");
    pgtest_exec(fixture->db, "BEGIN; " LIST_AUTHOR "; INSERT INTO author (name) VALUES ('x')");
    read_numbers(fixture, "Author", &counted, &actual);
    assert_int_equal(counted, before + 1); /* counted by the statement */
    pgtest_exec(fixture->db, "SELECT prodata_count_add('author', 1000); COMMIT; RESET SESSION AUTHORIZATION");
    assert_exact(fixture, "Author", before + 1); /* and its add added nothing */
    /* The same behind a login role that may write the counters: the current role may not, so neither. */
    pgtest_exec(fixture->db,
                "BEGIN; SET LOCAL ROLE test_counters_client; " LIST_AUTHOR "; INSERT INTO author (name) "
                "VALUES ('y'); SELECT prodata_count_add('author', 1000); COMMIT");
    assert_exact(fixture, "Author", before + 2);
    pgtest_exec(fixture->db,
                "REVOKE ALL ON author FROM test_counters_client; DROP ROLE test_counters_client");
}

/* author's oid as text, in the fixture's arena. */
static const char *
author_oid(Fixture *fixture)
{
    PdError err = {0};
    PdDbResult *result;
    assert_true(pd_db_query(fixture->arena, fixture->db, "SELECT 'author'::regclass::oid::text", 0, NULL,
                            &result, &err));
    return pd_db_result_value(result, 0, 0);
}

/* Authors named by names[0..count) through pd_object_create_each with author's oid as counted_oid. */
static bool
create_named(Fixture *fixture, const char *const *names, size_t count, PdError *err)
{
    const PdModel *model = pd_model_find(fixture->catalog, "Author");
    const PdValues *objects[4];
    const char *jsons[4];
    assert_true(count <= 4);
    for (size_t i = 0; i < count; i++)
    {
        PdValues *values = pd_values_new(fixture->arena, model);
        assert_true(pd_values_set_text(values, "name", names[i], err));
        objects[i] = values;
    }
    return pd_object_create_each(fixture->arena, fixture->db, objects, count, author_oid(fixture), jsons,
                                 err);
}

/* count authors named from prefix, counted by their INSERT; in a transaction that lists author when
 * is_listed (its own, committed). */
static void
create_counted(Fixture *fixture, const char *prefix, size_t count, bool is_listed)
{
    const char *names[4];
    assert_true(count <= 4);
    for (size_t i = 0; i < count; i++)
        names[i] = pd_arena_sprintf(fixture->arena, "%s %zu", prefix, i);
    if (is_listed)
        pgtest_exec(fixture->db, "BEGIN; " LIST_AUTHOR);
    PdError err = {0};
    if (!create_named(fixture, names, count, &err))
        fail_msg("create_each: %s", err.message);
    if (is_listed)
        pgtest_exec(fixture->db, "COMMIT");
}

/*
 * An INSERT that adds its own rows (counted_oid, what serve does) adds them
 * exactly when the trigger skipped them: in a transaction that lists the
 * table, in the statement itself; in one that does not, nothing (the
 * trigger counted them).
 */
static void
test_insert_adds_its_own_rows(void **state)
{
    Fixture *fixture = *state;
    long long before, counted, actual;
    read_numbers(fixture, "Author", &before, &actual);
    pgtest_exec(fixture->db, "BEGIN; " LIST_AUTHOR);
    PdError err = {0};
    const char *names[] = {"listed 1", "listed 2", "listed 3"};
    assert_true(create_named(fixture, names, 3, &err));
    read_numbers(fixture, "Author", &counted, &actual);
    assert_int_equal(counted, before + 3); /* in the statement, not at commit */
    pgtest_exec(fixture->db, "COMMIT");
    assert_exact(fixture, "Author", before + 3);
    create_counted(fixture, "unlisted", 2, false);
    assert_exact(fixture, "Author", before + 5);
}

/*
 * What the INSERT adds is what it wrote: a BEFORE trigger that drops a row
 * (one back for two sent: an error for the callers, the other row written
 * and counted), and nothing past an INSTEAD rule, which put the rows
 * elsewhere.
 */
static void
test_insert_adds_what_it_wrote(void **state)
{
    Fixture *fixture = *state;
    long long before, actual;
    read_numbers(fixture, "Author", &before, &actual);
    pgtest_exec(fixture->db, "CREATE FUNCTION test_drop_author() RETURNS trigger LANGUAGE plpgsql AS 'BEGIN "
                             "IF NEW.name LIKE ''dropped%'' THEN RETURN NULL; END IF; RETURN NEW; END'; "
                             "CREATE TRIGGER test_drop_author BEFORE INSERT ON author FOR EACH ROW EXECUTE "
                             "FUNCTION test_drop_author()");
    pgtest_exec(fixture->db, "BEGIN; " LIST_AUTHOR);
    PdError err = {0};
    const char *names[] = {"kept", "dropped"};
    assert_false(create_named(fixture, names, 2, &err));
    pgtest_exec(fixture->db,
                "COMMIT; DROP TRIGGER test_drop_author ON author; DROP FUNCTION test_drop_author()");
    assert_exact(fixture, "Author", before + 1);
    pgtest_exec(fixture->db,
                "CREATE TABLE test_author_elsewhere (LIKE author INCLUDING DEFAULTS); CREATE RULE "
                "test_redirect AS ON INSERT TO author DO INSTEAD INSERT INTO test_author_elsewhere "
                "VALUES (NEW.*) RETURNING *");
    create_counted(fixture, "redirected", 2, true);
    pgtest_exec(fixture->db, "DROP RULE test_redirect ON author; DROP TABLE test_author_elsewhere");
    assert_exact(fixture, "Author", before + 1);
}

/*
 * Another writer holds this session's first slot (its lock, and the row):
 * the INSERT takes the next instead of waiting. A role that may not write
 * the counters cannot run an INSERT that counts (42501, nothing written;
 * serve then runs the create again uncounted).
 */
static void
test_insert_slot_and_rights(void **state)
{
    Fixture *fixture = *state;
    long long before, actual;
    read_numbers(fixture, "Author", &before, &actual);
    PdError err = {0};
    PdDbResult *result;
    assert_true(pd_db_query(fixture->arena, fixture->db, "SELECT (pg_backend_pid() % 64)::text", 0, NULL,
                            &result, &err));
    const char *slot = pd_db_result_value(result, 0, 0);
    PdDb *other = pgtest_connect();
    pgtest_exec(other, pd_arena_sprintf(fixture->arena,
                                        "BEGIN; SELECT pg_advisory_xact_lock(CAST('author'::regclass::oid AS "
                                        "int4), %s); UPDATE prodata_row_counts SET n = n WHERE relid = "
                                        "'author'::regclass AND slot = %s",
                                        slot, slot));
    pgtest_exec(fixture->db, "SET lock_timeout = '2s'");
    create_counted(fixture, "next slot", 2, true);
    pgtest_exec(fixture->db, "RESET lock_timeout");
    pgtest_exec(other, "ROLLBACK");
    pd_db_close(other);
    assert_exact(fixture, "Author", before + 2);
    pgtest_exec(fixture->db, "DROP ROLE IF EXISTS test_counters_writer; CREATE ROLE test_counters_writer; "
                             "GRANT INSERT, SELECT ON author TO test_counters_writer");
    pgtest_exec(fixture->db, "BEGIN; SET LOCAL ROLE test_counters_writer; " LIST_AUTHOR);
    const char *names[] = {"denied"};
    assert_false(create_named(fixture, names, 1, &err));
    assert_string_equal(err.sqlstate, "42501");
    pgtest_exec(fixture->db, "ROLLBACK; REVOKE ALL ON author FROM test_counters_writer; DROP ROLE "
                             "test_counters_writer");
    assert_exact(fixture, "Author", before + 2);
}

/* On an insert trigger of the version before (it counts every statement's rows) the INSERT adds none. */
static void
test_insert_on_an_older_trigger(void **state)
{
    Fixture *fixture = *state;
    long long before, actual;
    read_numbers(fixture, "Author", &before, &actual);
    pgtest_exec(
        fixture->db,
        "DROP TRIGGER prodata_count_insert ON author; CREATE TRIGGER prodata_count_insert AFTER INSERT "
        "ON author REFERENCING NEW TABLE AS prodata_inserted FOR EACH STATEMENT EXECUTE FUNCTION "
        "prodata_count_insert()");
    create_counted(fixture, "older", 2, true);
    assert_exact(fixture, "Author", before + 2);
    migrate(fixture, true);
    assert_exact(fixture, "Author", before + 2);
}

/*
 * A table whose insert trigger is the version before the client mode (no
 * argument; it counts every statement's rows): prodata_count_add adds
 * nothing to it, so nothing is counted twice; migrate then replaces its
 * triggers and keeps its slots (no recount: an offset put in a slot stays).
 */
static void
test_client_mode_on_an_older_trigger(void **state)
{
    Fixture *fixture = *state;
    long long before, counted, actual;
    pgtest_exec(
        fixture->db,
        "DROP TRIGGER prodata_count_insert ON author; CREATE TRIGGER prodata_count_insert AFTER INSERT "
        "ON author REFERENCING NEW TABLE AS prodata_inserted FOR EACH STATEMENT WHEN (NOT "
        "COALESCE(current_setting('prodata.defer_counts', true) = 'on', false)) EXECUTE FUNCTION "
        "prodata_count_insert()");
    assert_true(may_tally(fixture, "Author")); /* the function decides per table, in the transaction */
    read_numbers(fixture, "Author", &before, &actual);
    pgtest_exec(fixture->db, "BEGIN; " LIST_AUTHOR "; INSERT INTO author (name) VALUES ('o1'), "
                             "('o2'); SELECT prodata_count_add('author', 2); COMMIT");
    assert_exact(fixture, "Author", before + 2);
    pgtest_exec(fixture->db,
                "UPDATE prodata_row_counts SET n = n + 5 WHERE relid = 'author'::regclass AND slot = 0");
    migrate(fixture, true);
    PdError err = {0};
    PdDbResult *result;
    assert_true(pd_db_query(fixture->arena, fixture->db,
                            "SELECT tgnargs FROM pg_trigger WHERE tgrelid = 'author'::regclass AND tgname = "
                            "'prodata_count_insert'",
                            0, NULL, &result, &err));
    assert_string_equal(pd_db_result_value(result, 0, 0), "1");
    read_numbers(fixture, "Author", &counted, &actual);
    assert_int_equal(counted, actual + 5); /* the slots were kept, offset and all */
    pgtest_exec(fixture->db,
                "UPDATE prodata_row_counts SET n = n - 5 WHERE relid = 'author'::regclass AND slot = 0");
    assert_exact(fixture, "Author", before + 2);
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

/*
 * Row-level security enabled after the counter was found available (as when prodata serve loaded its catalog
 * before): the count expression itself asks row_security_active at each execution, so a role the policy
 * filters gets count(*) of what it sees, never the counters' total, while the owner (to whom RLS does not
 * apply) keeps the counters: a slot offset in the transaction shows which one answered.
 */
static void
test_expression_under_row_level_security(void **state)
{
    Fixture *fixture = *state;
    char *counted, *actual;
    assert_true(available(fixture, "Author"));
    pgtest_exec(fixture->db, "DROP ROLE IF EXISTS test_counters_reader; CREATE ROLE test_counters_reader; "
                             "GRANT SELECT ON author TO test_counters_reader");
    pgtest_exec(fixture->db, "BEGIN; ALTER TABLE author ENABLE ROW LEVEL SECURITY; "
                             "CREATE POLICY test_counters_some ON author FOR SELECT USING (id % 2 = 0); "
                             "UPDATE prodata_row_counts SET n = n + 1000 WHERE relid = 'author'::regclass "
                             "AND slot = 0");
    read_counts(fixture, "Author", &counted, &actual);
    assert_int_equal(atoll(counted), atoll(actual) + 1000); /* the owner: the counters */
    char *total = actual;
    pgtest_exec(fixture->db, "SET LOCAL ROLE test_counters_reader");
    read_counts(fixture, "Author", &counted, &actual);
    assert_string_equal(counted, actual); /* the policy's rows, not the counters' */
    assert_true(atoll(actual) > 0 && atoll(actual) < atoll(total));
    pgtest_exec(fixture->db, "ROLLBACK; REVOKE ALL ON author FROM test_counters_reader; "
                             "DROP ROLE test_counters_reader");
    read_counts(fixture, "Author", &counted, &actual);
    assert_string_equal(counted, actual);
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
        cmocka_unit_test(test_client_adds_its_own_inserts),
        cmocka_unit_test(test_client_savepoints_truncate_and_roles),
        cmocka_unit_test(test_client_refusals),
        cmocka_unit_test(test_client_mode_on_an_older_trigger),
        cmocka_unit_test(test_insert_adds_its_own_rows),
        cmocka_unit_test(test_insert_adds_what_it_wrote),
        cmocka_unit_test(test_insert_slot_and_rights),
        cmocka_unit_test(test_insert_on_an_older_trigger),
        cmocka_unit_test(test_available_when_installed),
        cmocka_unit_test(test_not_available_with_row_level_security),
        cmocka_unit_test(test_expression_under_row_level_security),
        cmocka_unit_test(test_not_available_with_a_disabled_trigger),
        cmocka_unit_test(test_not_available_for_a_table_migrate_did_not_make),
        cmocka_unit_test(test_not_available_when_turned_off),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
