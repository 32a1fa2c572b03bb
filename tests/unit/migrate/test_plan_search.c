/*
 * test_plan_search.c - the planner for citext fields and search indexes: the
 * extensions made by the first migration that needs them (and never dropped:
 * +down of a migration that stops needing one makes it again first), the
 * GIN indexes of search=trigram and search=fulltext and their switches,
 * renames and drops, and --expand refusing a field with a search index.
 * evolution_search.sh applies the same changes to PostgreSQL.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "prodata/migrate.h"
#include "testing.h"

static PdMigrationPlan *
plan_texts(PdArena *arena, const char *from, const char *to, bool is_expand, PdError *err)
{
    PdMigrationPlan *plan = NULL;
    PdPlanOptions options = {.is_expand = is_expand};
    if (!pd_migrate_plan_with_options(arena, from != NULL ? testing_parse(arena, from) : NULL,
                                      testing_parse(arena, to), &options, &plan, err))
        return NULL;
    return plan;
}

static size_t
count_of(const char *text, const char *part)
{
    size_t count = 0;
    for (const char *at = strstr(text, part); at != NULL; at = strstr(at + 1, part))
        count++;
    return count;
}

static void
test_initial_makes_extensions_and_indexes(void **state)
{
    (void)state;
    PdArena *arena = pd_arena_new(0);
    PdError err;
    PdMigrationPlan *plan = plan_texts(arena, NULL,
                                       "model Member {\n  email citext unique\n  nick citext null\n}\n"
                                       "model Article {\n  title string(200) search=trigram\n"
                                       "  body text search=fulltext(english)\n  tag text search\n}\n",
                                       false, &err);
    assert_non_null(plan);
    assert_int_equal(count_of(plan->up_sql, "CREATE EXTENSION IF NOT EXISTS \"citext\";\n"), 1);
    assert_int_equal(count_of(plan->up_sql, "CREATE EXTENSION IF NOT EXISTS \"pg_trgm\";\n"), 1);
    assert_true(strstr(plan->up_sql, "\"pg_trgm\"") < strstr(plan->up_sql, "CREATE TABLE"));
    assert_contains(plan->up_sql, "\"email\" citext NOT NULL");
    assert_contains(
        plan->up_sql,
        "CREATE INDEX \"article_title_trgm\" ON \"article\" USING gin (\"title\" gin_trgm_ops);\n");
    assert_contains(plan->up_sql,
                    "CREATE INDEX \"article_body_fts\" ON \"article\" USING gin "
                    "(to_tsvector('english'::regconfig, COALESCE(\"body\"::text, ''::text)));\n");
    assert_null(strstr(plan->up_sql, "article_tag_")); /* plain search: no index */
    assert_null(strstr(plan->down_sql, "EXTENSION"));  /* never dropped */
    pd_arena_free(arena);
}

static void
test_switch_and_drop_search_indexes(void **state)
{
    (void)state;
    PdArena *arena = pd_arena_new(0);
    PdError err;
    const char *from = "model Article {\n  title string(200) search=trigram\n  body text search=fulltext\n"
                       "  tag text search=fulltext\n}\n";
    const char *to =
        "model Article {\n  title string(200) search=fulltext\n  body text search=fulltext(english)\n"
        "  tag text\n}\n";
    PdMigrationPlan *plan = plan_texts(arena, from, to, false, &err);
    assert_non_null(plan);
    assert_int_equal(plan->operation_count, 3);
    assert_string_equal(plan->up_sql, "");
    assert_contains(plan->up_concurrently_sql,
                    "DROP INDEX CONCURRENTLY IF EXISTS \"article_title_trgm\";\n"
                    "CREATE INDEX CONCURRENTLY IF NOT EXISTS \"article_title_fts\" ON "
                    "\"article\" USING gin (to_tsvector('simple'::regconfig");
    /* another configuration is another index of the same name: dropped, then built */
    assert_contains(plan->up_concurrently_sql,
                    "DROP INDEX CONCURRENTLY IF EXISTS \"article_body_fts\";\n"
                    "CREATE INDEX CONCURRENTLY IF NOT EXISTS \"article_body_fts\" ON "
                    "\"article\" USING gin (to_tsvector('english'::regconfig");
    assert_contains(plan->up_concurrently_sql, "DROP INDEX CONCURRENTLY IF EXISTS \"article_tag_fts\";\n");
    /* +down: pg_trgm made first (the new state no longer needs it), the old indexes back */
    assert_true(strncmp(plan->down_sql, "-- pg_trgm", 10) == 0);
    assert_contains(plan->down_sql, "CREATE INDEX \"article_title_trgm\" ON \"article\" USING gin (\"title\" "
                                    "gin_trgm_ops);\n");
    assert_contains(plan->down_sql, "CREATE INDEX \"article_tag_fts\"");
    bool has_description = false;
    for (size_t i = 0; i < plan->operation_count; i++)
        has_description |= strstr(plan->operations[i].description,
                                  "search index article_title_trgm -> article_title_fts") != NULL;
    assert_true(has_description);
    pd_arena_free(arena);
}

static void
test_rename_and_type_changes(void **state)
{
    (void)state;
    PdArena *arena = pd_arena_new(0);
    PdError err;
    PdMigrationPlan *plan = plan_texts(
        arena, "model Article {\n  title string(200) search=trigram\n}\n",
        "model Article {\n  headline string(200) search=trigram renamed_from=title\n}\n", false, &err);
    assert_non_null(plan);
    assert_contains(plan->up_sql,
                    "ALTER INDEX \"article_title_trgm\" RENAME TO \"article_headline_trgm\";\n");
    assert_null(strstr(plan->up_sql, "EXTENSION")); /* both states need pg_trgm: nothing to make */

    /* string -> citext: in place, lossless, the extension made first; citext -> string(n): destructive */
    plan = plan_texts(arena, "model M {\n  email string(254)\n}\n", "model M {\n  email citext\n}\n", false,
                      &err);
    assert_non_null(plan);
    assert_contains(plan->up_sql, "CREATE EXTENSION IF NOT EXISTS \"citext\";\n");
    assert_contains(plan->up_sql, "TYPE citext USING \"email\"::citext");
    assert_int_equal(plan->warning_count, 0);
    assert_int_equal(plan->destructive_count, 0);
    plan = plan_texts(arena, "model M {\n  email citext\n}\n", "model M {\n  email string(254)\n}\n", false,
                      &err);
    assert_non_null(plan);
    assert_int_equal(plan->destructive_count, 1);
    assert_true(strncmp(plan->down_sql, "-- citext", 9) == 0);

    /* --expand would drop the search index with the old column: refused with the way out */
    assert_null(plan_texts(arena, "model M {\n  n string(20) search=trigram\n}\n",
                           "model M {\n  n string(10) search=trigram\n}\n", true, &err));
    assert_non_null(strstr(err.message, "its search index is not built again on the new column"));
    pd_arena_free(arena);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_initial_makes_extensions_and_indexes),
        cmocka_unit_test(test_switch_and_drop_search_indexes),
        cmocka_unit_test(test_rename_and_type_changes),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
