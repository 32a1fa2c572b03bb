/*
 * test_file.c - migration files: rendering is byte-for-byte deterministic,
 * parsing finds each section and keeps its bytes, a hand-written file with
 * only +up is valid and irreversible, listing sorts and refuses two files
 * with one number, and a history of plans written, read back and re-planned
 * always comes back to "no change". Also the statement splitter and checksum.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "prodata/migrate.h"
#include "testing.h"

/* Plans from -> to and renders it as migration `name`. */
static char *
render_after(PdArena *arena, PdCatalog *from, PdCatalog *to, const char *name, const char *parent_name,
             PdMigrationPlan **plan_out)
{
    PdMigrationPlan *plan;
    PdError err;
    char *text;
    if (!pd_migrate_plan(arena, from, to, &plan, &err))
        fail_msg("plan: %s", err.message);
    if (!pd_migration_render(arena, plan, name, parent_name, "models.pdm", to, &text, &err))
        fail_msg("render: %s", err.message);
    if (plan_out != NULL)
        *plan_out = plan;
    return text;
}

/* Plans from -> to and renders it as migration `name`, the first of its history. */
static char *
render(PdArena *arena, PdCatalog *from, PdCatalog *to, const char *name, PdMigrationPlan **plan_out)
{
    return render_after(arena, from, to, name, NULL, plan_out);
}

static const char *models = "model Author {\n  name string(200)\n  email email unique\n}\n"
                            "model Book {\n  title string(300) index\n  author Author related=books\n"
                            "  price decimal(8,2) default=0 check(>= 0)\n  tags Tag[]\n}\n"
                            "model Tag {\n  label slug unique\n}\n";

static void
test_render_parse_round_trip(void **state)
{
    (void)state;
    PdArena *arena = pd_arena_new(0);
    PdCatalog *to = testing_parse(arena, models);
    PdMigrationPlan *plan;
    char *text = render(arena, NULL, to, "0001_initial", &plan);
    static const char header[] =
        "-- prodata migration 0001_initial\n-- after: nothing (the first migration)\n"
        "-- from models.pdm; review before applying.\n";
    assert_true(strncmp(text, header, sizeof(header) - 1) == 0);
    assert_contains(text, "-- operations:\n--   create model Author (table author)\n");
    assert_contains(text, "\n-- +up\nCREATE TABLE \"author\" (\n");
    assert_contains(text, "\n-- +down\nDROP TABLE \"book_tags\";\n");
    assert_contains(text, "\n-- +state\n-- model Author {\n");

    /* Same inputs, same bytes. */
    assert_string_equal(text, render(arena, NULL, testing_parse(arena, models), "0001_initial", NULL));

    PdMigrationFile file;
    PdError err;
    assert_true(pd_migration_parse(arena, "migrations/0001_initial.sql", text, strlen(text), &file, &err));
    assert_string_equal(file.name, "0001_initial");
    assert_int_equal(file.number, 1);
    assert_string_equal(file.up_sql, plan->up_sql);
    assert_string_equal(file.up_concurrently_sql, "");
    assert_string_equal(file.down_sql, plan->down_sql);
    assert_null(file.irreversible_reason);
    assert_non_null(file.state_text);
    assert_contains(file.state_text, "model Author {\n");
    /* The state section is the canonical form: it parses to the same catalog, which plans nothing. */
    PdMigrationPlan *again;
    assert_true(pd_migrate_plan(arena, testing_parse(arena, file.state_text), to, &again, &err));
    assert_int_equal(again->operation_count, 0);
    assert_int_equal(file.text_length, strlen(text));
    assert_memory_equal(file.text, text, file.text_length);
    pd_arena_free(arena);
}

static void
test_concurrent_and_irreversible_sections(void **state)
{
    (void)state;
    PdArena *arena = pd_arena_new(0);
    const char *from = "model T {\n  a int\n  b int null\n}\n";
    const char *to = "model T {\n  b int null index\n}\n";
    PdMigrationPlan *plan;
    char *text = render(arena, testing_parse(arena, from), testing_parse(arena, to), "0002_t_drop_a", &plan);
    assert_null(plan->down_sql);
    assert_contains(text, "-- +up concurrently\nCREATE INDEX CONCURRENTLY IF NOT EXISTS \"t_b_idx\"");
    assert_contains(text, "-- +down irreversible: dropped field T.a");
    assert_contains(text, "--   [destructive] drop field T.a\n");
    assert_contains(text, "-- data lost:\n--   drop field T.a: column");

    PdMigrationFile file;
    PdError err;
    assert_true(pd_migration_parse(arena, "0002_t_drop_a.sql", text, strlen(text), &file, &err));
    assert_string_equal(file.up_sql, "ALTER TABLE \"t\" DROP COLUMN \"a\";\n");
    assert_string_equal(file.up_concurrently_sql, plan->up_concurrently_sql);
    assert_null(file.down_sql);
    assert_string_equal(file.irreversible_reason, plan->irreversible_reason);
    pd_arena_free(arena);
}

/* A planned fill: "-- +up batched" between +up and +up concurrently (the order they run in), with the batch
 * size given when the plan sets one, read back as the executor reads it. */
static void
test_batched_section(void **state)
{
    (void)state;
    PdArena *arena = pd_arena_new(0);
    PdMigrationPlan *plan;
    char *text = render(arena, testing_parse(arena, "model T {\n  a int null\n}\n"),
                        testing_parse(arena, "model T {\n  a int default=1\n}\n"), "0002_t_alter_a", &plan);
    assert_contains(text, "\n-- +up\nALTER TABLE \"t\" ALTER COLUMN \"a\" SET DEFAULT 1;\n"
                          "-- +up batched\nSELECT count(*) FROM \"t\" WHERE \"a\" IS NULL;\nUPDATE \"t\" SET "
                          "\"a\" = 1\nWHERE \"id\" IN (SELECT \"id\" FROM \"t\" WHERE \"a\" IS NULL LIMIT $1 "
                          "FOR UPDATE SKIP LOCKED);\n-- +up concurrently\nDO $prodata$\n");
    PdMigrationFile file;
    PdError err;
    assert_true(pd_migration_parse(arena, "0002_t_alter_a.sql", text, strlen(text), &file, &err));
    assert_string_equal(file.up_batched_sql, plan->up_batched_sql);
    assert_int_equal(file.batch_rows, PD_MIGRATION_BATCH_ROWS);
    assert_string_equal(file.up_concurrently_sql, plan->up_concurrently_sql);

    plan->batch_rows = 250;
    assert_true(pd_migration_render(arena, plan, "0002_t_alter_a", NULL, "models.pdm", NULL, &text, &err));
    assert_contains(text, "\n-- +up batched 250\nSELECT count(*)");
    assert_true(pd_migration_parse(arena, "0002_t_alter_a.sql", text, strlen(text), &file, &err));
    assert_int_equal(file.batch_rows, 250);
    pd_arena_free(arena);
}

static void
test_hand_written_and_bad_files(void **state)
{
    (void)state;
    PdArena *arena = pd_arena_new(0);
    PdMigrationFile file;
    PdError err;
    const char *hand = "-- a data fix\n-- +up\nUPDATE book SET price = price;\n";
    assert_true(pd_migration_parse(arena, "m/0004_hand_written.sql", hand, strlen(hand), &file, &err));
    assert_string_equal(file.name, "0004_hand_written");
    assert_int_equal(file.number, 4);
    assert_string_equal(file.up_sql, "UPDATE book SET price = price;\n");
    assert_null(file.down_sql);
    assert_non_null(file.irreversible_reason);
    assert_null(file.state_text);
    /* The section's bytes are the file's, and its first line is known, so an offset in up_sql maps to a file
     * line. */
    assert_ptr_not_equal(strstr(hand, file.up_sql), NULL);
    assert_int_equal(file.up_line, 3);

    const char *unknown = "-- +up\nSELECT 1;\n-- +sideways\nSELECT 2;\n";
    assert_false(pd_migration_parse(arena, "m/0005_x.sql", unknown, strlen(unknown), &file, &err));
    assert_int_equal(err.code, PD_ERR_INVALID_INPUT);
    assert_contains(err.message, "m/0005_x.sql:3: unknown section");

    const char *twice = "-- +up\nSELECT 1;\n-- +down\nSELECT 2;\n-- +up\n";
    assert_false(pd_migration_parse(arena, "m/0005_x.sql", twice, strlen(twice), &file, &err));
    assert_contains(err.message, "m/0005_x.sql:5:");
    assert_contains(err.message, "line 1");

    const char *no_up = "-- just a comment\n";
    assert_false(pd_migration_parse(arena, "m/0005_x.sql", no_up, strlen(no_up), &file, &err));
    assert_contains(err.message, "no \"-- +up\" section");

    assert_false(pd_migration_parse(arena, "m/5_x.sql", hand, strlen(hand), &file, &err));
    assert_contains(err.message, "bad migration file name");
    assert_false(pd_migration_parse(arena, "m/0000_x.sql", hand, strlen(hand), &file, &err));
    assert_contains(err.message, "m/0000_x.sql: bad migration file name");
    pd_arena_free(arena);
}

static char *
make_directory(PdArena *arena)
{
    char template[] = "/tmp/prodata-migrate-test.XXXXXX";
    char *dir = mkdtemp(template);
    assert_non_null(dir);
    return pd_arena_strdup(arena, dir);
}

static void
write_text(const char *path, const char *text)
{
    FILE *stream = fopen(path, "w");
    assert_non_null(stream);
    fputs(text, stream);
    fclose(stream);
}

static void
remove_directory(const char *dir, const char **names, size_t count)
{
    char path[512];
    for (size_t i = 0; i < count; i++)
    {
        snprintf(path, sizeof(path), "%s/%s", dir, names[i]);
        unlink(path);
    }
    rmdir(dir);
}

static void
test_list_sorts_and_refuses_conflicts(void **state)
{
    (void)state;
    PdArena *arena = pd_arena_new(0);
    PdMigrationFile *files;
    size_t count = 99;
    PdError err;
    assert_true(pd_migration_list(arena, "/tmp/prodata-no-such-directory", &files, &count, &err));
    assert_int_equal(count, 0);

    char *dir = make_directory(arena);
    const char *names[] = {"0002_b.sql", "0001_a.sql", "README.md", "0010.sql", "0003_c.sql", "0003_d.sql"};
    char path[512];
    for (size_t i = 0; i < 6; i++)
    {
        snprintf(path, sizeof(path), "%s/%s", dir, names[i]);
        write_text(path, "-- +up\nSELECT 1;\n");
    }
    assert_false(pd_migration_list(arena, dir, &files, &count, &err));
    assert_int_equal(err.code, PD_ERR_INVALID_INPUT);
    assert_contains(err.message, "conflicting migrations 0003_c and 0003_d");
    assert_contains(err.hint, "makemigrations --rebase with the name of your branch");

    snprintf(path, sizeof(path), "%s/0003_d.sql", dir);
    unlink(path);
    assert_true(pd_migration_list(arena, dir, &files, &count, &err));
    assert_int_equal(count, 3);
    assert_string_equal(files[0].name, "0001_a");
    assert_string_equal(files[1].name, "0002_b");
    assert_string_equal(files[2].name, "0003_c");
    assert_contains(files[2].path, "/0003_c.sql");
    assert_null(files[0].parent_name); /* hand-written: no "-- after:" line, nothing to check */
    remove_directory(dir, names, 6);
    pd_arena_free(arena);
}

/* A file renumbered after a branch conflict still names its old predecessor: refused with the fix. */
static void
test_list_refuses_a_renumbered_file(void **state)
{
    (void)state;
    PdArena *arena = pd_arena_new(0);
    PdMigrationFile *files;
    size_t count;
    PdError err;
    char *dir = make_directory(arena);
    const char *names[] = {"0001_a.sql", "0002_b.sql", "0003_c.sql"};
    const char *texts[] = {"-- after: nothing (the first migration)\n-- +up\nSELECT 1;\n",
                           "-- after: 0001_a\n-- +up\nSELECT 2;\n", "-- after: 0001_a\n-- +up\nSELECT 3;\n"};
    char path[512];
    for (size_t i = 0; i < 3; i++)
    {
        snprintf(path, sizeof(path), "%s/%s", dir, names[i]);
        write_text(path, texts[i]);
    }
    assert_false(pd_migration_list(arena, dir, &files, &count, &err));
    assert_int_equal(err.code, PD_ERR_INVALID_INPUT);
    assert_string_equal(err.message, "migration 0003_c was made after 0001_a, but now follows 0002_b");
    assert_contains(err.hint, "run prodata makemigrations --rebase 0003_c");

    snprintf(path, sizeof(path), "%s/0003_c.sql", dir);
    write_text(path, "-- after: 0002_b\n-- +up\nSELECT 3;\n");
    assert_true(pd_migration_list(arena, dir, &files, &count, &err));
    assert_int_equal(count, 3);
    assert_string_equal(files[0].parent_name, "");
    assert_string_equal(files[2].parent_name, "0002_b");
    remove_directory(dir, names, 3);
    pd_arena_free(arena);
}

/* Writes each step's migration, lists the directory, reads the newest state and plans from it again. */
static void
test_history_round_trips_to_no_change(void **state)
{
    (void)state;
    PdArena *arena = pd_arena_new(0);
    const char *steps[] = {
        models,
        "model Author {\n  name string(200)\n  email email unique\n  born date null\n}\n"
        "model Book {\n  title string(300) index\n  author Author related=books\n"
        "  price decimal(8,2) default=0 check(>= 0)\n  tags Tag[]\n  meta json null\n}\n"
        "model Tag {\n  label slug unique\n}\n",
        "model Writer {\n  name string(250)\n  email email unique\n  born date null index\n  renamed_from "
        "Author\n}\n"
        "model Book {\n  headline string(300) index renamed_from=title\n  author Writer related=books\n"
        "  price decimal(10,2) default=0 check(>= 0)\n  tags Tag[]\n  unique(headline, author)\n}\n"
        "model Tag {\n  label slug unique\n}\n",
        "model Writer {\n  name string(250)\n  email email unique\n  born date null index\n  renamed_from "
        "Author\n}\n"
        "model Book {\n  headline string(300) index renamed_from=title\n  author Writer related=books\n"
        "  price decimal(10,2) default=0 check(>= 0)\n  unique(headline, author)\n}\n",
    };
    char *dir = make_directory(arena);
    const char *written[4];
    for (size_t i = 0; i < 4; i++)
    {
        PdMigrationFile *files;
        size_t count;
        PdCatalog *latest;
        PdError err;
        assert_true(pd_migration_list(arena, dir, &files, &count, &err));
        assert_int_equal(count, i);
        assert_true(pd_migration_latest_state(arena, files, count, &latest, &err));
        assert_true(i == 0 ? latest == NULL : latest != NULL);
        PdCatalog *to = testing_parse(arena, steps[i]);
        PdMigrationPlan *plan;
        char *name = pd_arena_sprintf(arena, "%04zu_step", i + 1);
        char *text = render_after(arena, latest, to, name, i > 0 ? files[i - 1].name : NULL, &plan);
        assert_true(plan->operation_count > 0);
        if (i == 0)
            assert_string_equal(plan->suggested_name, "initial");
        written[i] = pd_arena_sprintf(arena, "%s.sql", name);
        write_text(pd_arena_sprintf(arena, "%s/%s", dir, written[i]), text);

        /* Read back: the recorded state equals the models, so nothing is left to plan. */
        assert_true(pd_migration_list(arena, dir, &files, &count, &err));
        assert_true(pd_migration_latest_state(arena, files, count, &latest, &err));
        PdMigrationPlan *none;
        assert_true(pd_migrate_plan(arena, latest, to, &none, &err));
        assert_int_equal(none->operation_count, 0);
    }
    remove_directory(dir, written, 4);
    pd_arena_free(arena);
}

static void
test_state_errors_point_into_the_migration_file(void **state)
{
    (void)state;
    PdArena *arena = pd_arena_new(0);
    const char *text = "-- +up\nSELECT 1;\n-- +state\n-- model A {\n--   x strng(5)\n-- }\n";
    PdMigrationFile file;
    PdError err;
    assert_true(pd_migration_parse(arena, "migrations/0007_x.sql", text, strlen(text), &file, &err));
    assert_string_equal(file.state_text, "model A {\n  x strng(5)\n}\n");
    PdCatalog *state_catalog = NULL;
    assert_false(pd_migration_latest_state(arena, &file, 1, &state_catalog, &err));
    assert_int_equal(err.code, PD_ERR_INVALID_INPUT);
    assert_contains(err.message, "migrations/0007_x.sql:5:");
    pd_arena_free(arena);
}

/*
 * A copy of text[0..length) that ends exactly where a page that cannot be read begins, so a read past
 * length crashes in every build, not only under AddressSanitizer. Unmapped by release_guarded.
 */
static char *
guarded_copy(const char *text, size_t length, size_t *mapped)
{
    size_t page = (size_t)sysconf(_SC_PAGESIZE);
    size_t pages = (length + page - 1) / page + 1;
    char *base = mmap(NULL, pages * page, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    assert_true(base != MAP_FAILED);
    assert_int_equal(mprotect(base + (pages - 1) * page, page, PROT_NONE), 0);
    *mapped = pages * page;
    char *copy = base + (pages - 1) * page - length;
    memcpy(copy, text, length);
    return copy;
}

static void
release_guarded(char *copy, size_t length, size_t mapped)
{
    size_t page = (size_t)sysconf(_SC_PAGESIZE);
    char *end = copy + length;
    munmap(end + page - mapped, mapped);
}

/* Found by fuzzing: a blank last state line without a newline was read past the given length. */
static void
test_parse_honours_the_length(void **state)
{
    (void)state;
    PdArena *arena = pd_arena_new(0);
    static const char *texts[] = {
        "-- +up\nSELECT 1;\n-- +state\n-- model A {\n--   x int\n-- }\n   ",
        "-- +up\nSELECT 1;\n-- +state\n \t",
        "-- after: nothing (the first migration)\n-- +up",
        "-- +up\n-- +down irreversible:   ",
        "-- +up\nSELECT 1;\n-- +state\n-- model A {\n--   x int\n-- }",
    };
    for (size_t i = 0; i < sizeof(texts) / sizeof(texts[0]); i++)
    {
        size_t length = strlen(texts[i]), mapped;
        char *text = guarded_copy(texts[i], length, &mapped);
        PdMigrationFile file;
        PdError err;
        assert_true(pd_migration_parse(arena, "m/0001_x.sql", text, length, &file, &err));
        PdCatalog *catalog = NULL;
        assert_true(pd_migration_latest_state(arena, &file, 1, &catalog, &err));
        release_guarded(text, length, mapped);
    }
    pd_arena_free(arena);
}

/* Found by fuzzing: a NUL byte in the state section cut the recorded state short without a word. */
static void
test_parse_refuses_nul_bytes(void **state)
{
    (void)state;
    PdArena *arena = pd_arena_new(0);
    static const char text[] = "-- +up\nSELECT 1;\n-- +state\n-- model A {\n--   x int\0\n--   y int\n-- }\n";
    PdMigrationFile file;
    PdError err;
    assert_false(pd_migration_parse(arena, "m/0003_x.sql", text, sizeof(text) - 1, &file, &err));
    assert_int_equal(err.code, PD_ERR_INVALID_INPUT);
    assert_string_equal(err.message, "m/0003_x.sql:5: a NUL byte in the file, expected text");
    static const char in_up[] = "\0-- +up\nSELECT 1;\n";
    assert_false(pd_migration_parse(arena, "m/0003_x.sql", in_up, sizeof(in_up) - 1, &file, &err));
    assert_string_equal(err.message, "m/0003_x.sql:1: a NUL byte in the file, expected text");
    pd_arena_free(arena);
}

/* Found by fuzzing: a budget that ran out inside the header crashed rendering instead of failing it. */
static void
test_render_reports_an_exhausted_budget(void **state)
{
    (void)state;
    PdArena *setup = pd_arena_new(0);
    PdCatalog *from = testing_parse(setup, "model T {\n  a int\n  b int null\n}\n");
    PdCatalog *to = testing_parse(setup, "model T {\n  b int null index\n  c string(20) null\n}\n");
    PdMigrationPlan *plan;
    PdError err;
    assert_true(pd_migrate_plan(setup, from, to, &plan, &err));
    char *expected;
    assert_true(
        pd_migration_render(setup, plan, "0002_t", "0001_initial", "models.pdm", to, &expected, &err));
    bool has_succeeded = false;
    for (size_t budget = 1; !has_succeeded && budget < 1024 * 1024; budget += budget < 4096 ? 1 : 64)
    {
        PdArena *arena = pd_arena_new(budget);
        assert_non_null(arena);
        char *text = NULL;
        PdError budget_err;
        has_succeeded =
            pd_migration_render(arena, plan, "0002_t", "0001_initial", "models.pdm", to, &text, &budget_err);
        if (has_succeeded)
            assert_string_equal(text, expected);
        else
            assert_int_equal(budget_err.code, PD_ERR_TOO_LARGE);
        pd_arena_free(arena);
    }
    assert_true(has_succeeded);
    pd_arena_free(setup);
}

static void
test_split_statements(void **state)
{
    (void)state;
    PdArena *arena = pd_arena_new(0);
    const char **statements;
    size_t count;
    PdError err;
    const char *sql = "-- leading comment\n"
                      "CREATE INDEX CONCURRENTLY IF NOT EXISTS \"a;b\" ON \"t\" (\"x\");\n"
                      "INSERT INTO t VALUES ('it''s; fine', E'back\\'slash;');\n"
                      "/* block /* nested; */ still; */ SELECT 1;\n"
                      ";;  \n"
                      "DO $body$ BEGIN PERFORM 1; END $body$;\n"
                      "DO $$ SELECT ';' $$;\n"
                      "SELECT $1, x$y FROM t; -- trailing; comment\n"
                      "-- only a comment;\n"
                      "SELECT 'last without semicolon'";
    assert_true(pd_migration_split_statements(arena, sql, NULL, 0, &statements, &count, &err));
    assert_int_equal(count, 7);
    assert_string_equal(statements[0], "CREATE INDEX CONCURRENTLY IF NOT EXISTS \"a;b\" ON \"t\" (\"x\")");
    assert_string_equal(statements[1], "INSERT INTO t VALUES ('it''s; fine', E'back\\'slash;')");
    assert_string_equal(statements[2], "SELECT 1");
    assert_string_equal(statements[3], "DO $body$ BEGIN PERFORM 1; END $body$");
    assert_string_equal(statements[4], "DO $$ SELECT ';' $$");
    assert_string_equal(statements[5], "SELECT $1, x$y FROM t");
    assert_string_equal(statements[6], "SELECT 'last without semicolon'");

    assert_true(pd_migration_split_statements(arena, "", NULL, 0, &statements, &count, &err));
    assert_int_equal(count, 0);
    assert_true(
        pd_migration_split_statements(arena, "-- nothing\n/* here */\n", NULL, 0, &statements, &count, &err));
    assert_int_equal(count, 0);

    assert_false(pd_migration_split_statements(arena, "SELECT 1;\nSELECT 'open;\n", NULL, 0, &statements,
                                               &count, &err));
    assert_int_equal(err.code, PD_ERR_INVALID_INPUT);
    assert_contains(err.message, "unterminated quoted string starting on line 2");
    assert_false(pd_migration_split_statements(arena, "SELECT 1;\nSELECT 'open;\n", "m/0002_x.sql", 10,
                                               &statements, &count, &err));
    assert_string_equal(err.message, "m/0002_x.sql:11: unterminated quoted string");
    assert_false(
        pd_migration_split_statements(arena, "DO $x$ never closed", NULL, 0, &statements, &count, &err));
    assert_contains(err.message, "dollar-quoted");
    pd_arena_free(arena);
}

/*
 * Found by fuzzing: a '$' inside an identifier (x$a$$b$) was taken for the start of a dollar quote, which
 * hid the COMMIT after it from the transaction-control check and merged the statements around it.
 */
static void
test_split_dollar_inside_a_word(void **state)
{
    (void)state;
    PdArena *arena = pd_arena_new(0);
    const char **statements;
    size_t count;
    PdError err;
    const char *sql = "SELECT x$a$$b$ FROM t;\nCOMMIT;\nCREATE INDEX CONCURRENTLY i ON t (y$$z);\n"
                      "SELECT x$E'\\';\nSELECT $1$q$;$q$;\nSELECT 1$q$;$q$";
    assert_true(pd_migration_split_statements(arena, sql, NULL, 0, &statements, &count, &err));
    assert_int_equal(count, 6);
    assert_string_equal(statements[0], "SELECT x$a$$b$ FROM t");
    assert_string_equal(statements[1], "COMMIT");
    assert_string_equal(statements[2], "CREATE INDEX CONCURRENTLY i ON t (y$$z)");
    assert_string_equal(statements[3], "SELECT x$E'\\'");
    assert_string_equal(statements[4], "SELECT $1$q$;$q$");
    assert_string_equal(statements[5], "SELECT 1$q$;$q$");
    /* A word that is only E (or e) still opens an escape string. */
    assert_true(
        pd_migration_split_statements(arena, "SELECT e'\\';';SELECT 2", NULL, 0, &statements, &count, &err));
    assert_int_equal(count, 2);
    assert_string_equal(statements[0], "SELECT e'\\';'");
    pd_arena_free(arena);
}

/* A SQL-standard function body (BEGIN ATOMIC ... END, with a CASE ... END inside) is one statement. */
static void
test_split_begin_atomic(void **state)
{
    (void)state;
    PdArena *arena = pd_arena_new(0);
    const char **statements;
    size_t count;
    PdError err;
    const char *sql = "CREATE FUNCTION f(i int) RETURNS int LANGUAGE sql\nBEGIN /* c */ Atomic\n"
                      "  SELECT CASE WHEN i > 0 THEN i END;\n  SELECT i + 1;\nEND;\nSELECT 2;\nBEGIN;\nEND";
    assert_true(pd_migration_split_statements(arena, sql, NULL, 0, &statements, &count, &err));
    assert_int_equal(count, 4);
    assert_string_equal(statements[0],
                        "CREATE FUNCTION f(i int) RETURNS int LANGUAGE sql\nBEGIN /* c */ Atomic\n"
                        "  SELECT CASE WHEN i > 0 THEN i END;\n  SELECT i + 1;\nEND");
    assert_string_equal(statements[1], "SELECT 2");
    assert_string_equal(statements[2], "BEGIN");
    assert_string_equal(statements[3], "END");
    pd_arena_free(arena);
}

/* The statements' checksum: blanks and comments do not count; the boundary of two quoted tokens does. */
static void
test_statement_checksum_keeps_quote_boundaries(void **state)
{
    (void)state;
    PdArena *arena = pd_arena_new(0);
    PdError err;
    char a[65], b[65];
    PdMigrationFile file = {.name = "0001_x", .up_sql = "SELECT 'a'\n  'b';", .down_sql = NULL};
    assert_true(pd_migration_statement_checksum(arena, &file, a, &err));
    file.up_sql = "SELECT 'a''b';";
    assert_true(pd_migration_statement_checksum(arena, &file, b, &err));
    assert_string_not_equal(a, b);
    file.up_sql = "SELECT \"x\" \"y\" FROM t;";
    assert_true(pd_migration_statement_checksum(arena, &file, a, &err));
    file.up_sql = "SELECT \"x\"\"y\" FROM t;";
    assert_true(pd_migration_statement_checksum(arena, &file, b, &err));
    assert_string_not_equal(a, b);
    file.up_sql = "SELECT  \"x\"   \"y\"  -- alias\n FROM   t;";
    assert_true(pd_migration_statement_checksum(arena, &file, b, &err));
    assert_string_equal(a, b);
    file.up_sql = "SELECT a,b FROM t WHERE c = 'x';";
    assert_true(pd_migration_statement_checksum(arena, &file, a, &err));
    file.up_sql = "SELECT a , b\nFROM t /* c */ WHERE c='x' ;";
    assert_true(pd_migration_statement_checksum(arena, &file, b, &err));
    assert_string_equal(a, b);
    pd_arena_free(arena);
}

static void
test_checksum_is_sha256_hex(void **state)
{
    (void)state;
    char out[65];
    pd_migration_checksum("abc", 3, out);
    assert_string_equal(out, "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
    pd_migration_checksum("", 0, out);
    assert_string_equal(out, "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_render_parse_round_trip),
        cmocka_unit_test(test_concurrent_and_irreversible_sections),
        cmocka_unit_test(test_batched_section),
        cmocka_unit_test(test_hand_written_and_bad_files),
        cmocka_unit_test(test_list_sorts_and_refuses_conflicts),
        cmocka_unit_test(test_list_refuses_a_renumbered_file),
        cmocka_unit_test(test_history_round_trips_to_no_change),
        cmocka_unit_test(test_state_errors_point_into_the_migration_file),
        cmocka_unit_test(test_parse_honours_the_length),
        cmocka_unit_test(test_parse_refuses_nul_bytes),
        cmocka_unit_test(test_render_reports_an_exhausted_budget),
        cmocka_unit_test(test_split_statements),
        cmocka_unit_test(test_split_dollar_inside_a_word),
        cmocka_unit_test(test_split_begin_atomic),
        cmocka_unit_test(test_statement_checksum_keeps_quote_boundaries),
        cmocka_unit_test(test_checksum_is_sha256_hex),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
