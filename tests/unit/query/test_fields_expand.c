/*
 * test_fields_expand.c - a field subset with embeds, without a database: the object PostgreSQL is asked to
 * build (pd_query_sql, as a list's page, an item's get and pd_query_fetch's columns) has exactly the keys
 * ?fields= names, in its order, whether they are fields or reverse relations expanded before; an embed
 * the subset leaves out costs no join nor sub-query; a reverse relation that is not expanded is the
 * unknown field it was, word for word.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "prodata/query.h"
#include "testing.h"

static PdArena *arena;
static PdCatalog *catalog;

static const char author_fields[] = "Author has no field \"books\"; fields: id, name, email, born, website; "
                                    "related: books";

static int
setup(void **state)
{
    (void)state;
    return testing_load_models("examples/bookstore/models.pdm", &arena, &catalog);
}

static int
teardown(void **state)
{
    (void)state;
    return testing_free_arena(&arena);
}

/* model with the expand paths (comma list, prefetch when select_related refuses, as the server does),
 * then the field subset; the statement of shape. */
static const char *
sql_of(const char *model, const char *expand, const char *fields, PdQueryShape shape)
{
    PdError err = {0};
    PdQuery *query = pd_query_new(arena, catalog, pd_model_find(catalog, model));
    assert_non_null(query);
    char paths[200];
    snprintf(paths, sizeof(paths), "%s", expand);
    for (char *rest = paths, *path; (path = strsep(&rest, ",")) != NULL;)
        if (path[0] != '\0' && !pd_query_select_related(query, path, &err) &&
            !pd_query_prefetch(query, path, &err))
            fail_msg("expand %s: %s", path, err.message);
    if (fields != NULL && !pd_query_only(query, fields, &err))
        fail_msg("fields %s: %s", fields, err.message);
    PdSqlText text;
    if (!pd_query_sql(query, shape, PD_COUNT_NONE, &text, &err))
        fail_msg("sql: %s", err.message);
    return text.sql;
}

/* The keys of the (first) object the statement builds, in order, "id,books": the " AS \"name\"" aliases of
 * its row at its own level (nested objects' keys sit inside parentheses and are skipped). */
static const char *
keys_of(const char *sql)
{
    const char *start = strstr(sql, "row_to_json(pd_row) FROM (SELECT ");
    assert_non_null(start);
    start += strlen("row_to_json(pd_row) FROM (SELECT ");
    char *keys = pd_arena_calloc(arena, 1, 512);
    int depth = 0;
    for (const char *c = start; *c != '\0' && depth >= 0; c++)
    {
        if (*c == '(')
            depth++;
        else if (*c == ')')
            depth--;
        else if (depth == 0 && strncmp(c, " AS \"", 5) == 0)
        {
            const char *name = c + 5;
            size_t length = strcspn(name, "\"");
            size_t used = strlen(keys);
            snprintf(keys + used, 512 - used, "%s%.*s", used > 0 ? "," : "", (int)length, name);
            c = name + length;
        }
    }
    return keys;
}

static void
test_reverse_relation_listed(void **state)
{
    (void)state;
    const char *sql = sql_of("Author", "books", "id,books", PD_SHAPE_GET);
    assert_string_equal(keys_of(sql), "id,books");
    assert_contains(
        sql, "FROM \"book\" AS \"pd_a1\" WHERE \"pd_a1\".\"author_id\" = \"pd_m\".\"id\") AS \"books\"");
    /* where ?fields= puts it, as any field */
    assert_string_equal(keys_of(sql_of("Author", "books", "books,name", PD_SHAPE_GET)), "books,name");
    /* a list's page builds the same object */
    assert_string_equal(keys_of(sql_of("Author", "books", "name,books", PD_SHAPE_PAGE)), "name,books");
    /* named twice: once */
    assert_string_equal(keys_of(sql_of("Author", "books", "books,id,books", PD_SHAPE_GET)), "books,id");
    /* without ?fields=: every field, then the reverse relation (unchanged) */
    assert_string_equal(keys_of(sql_of("Author", "books", NULL, PD_SHAPE_GET)),
                        "id,name,email,born,website,books");
}

static void
test_reverse_relation_left_out(void **state)
{
    (void)state;
    const char *sql = sql_of("Author", "books", "name", PD_SHAPE_GET);
    assert_string_equal(keys_of(sql), "name");
    assert_lacks(sql, "\"book\""); /* no sub-query for what is not shown */
    sql = sql_of("Author", "books", "id,name", PD_SHAPE_PAGE);
    assert_string_equal(keys_of(sql), "id,name");
    assert_lacks(sql, "\"book\"");
    /* nested: the embed's own embeds go with it */
    sql = sql_of("Author", "books__reviews", "name", PD_SHAPE_GET);
    assert_lacks(sql, "\"book\"");
    assert_lacks(sql, "book_review");
    sql = sql_of("Author", "books__reviews", "name,books", PD_SHAPE_GET);
    assert_string_equal(keys_of(sql), "name,books");
    assert_contains(sql, "AS \"reviews\"");
}

/* Forward relations and many-to-many fields obeyed ?fields= already; they still do. */
static void
test_forward_and_many_to_many(void **state)
{
    (void)state;
    const char *sql = sql_of("Book", "author", "id", PD_SHAPE_GET);
    assert_string_equal(keys_of(sql), "id");
    assert_lacks(sql, "LEFT JOIN");
    sql = sql_of("Book", "author", "id,author", PD_SHAPE_GET);
    assert_string_equal(keys_of(sql), "id,author");
    assert_contains(sql, "LEFT JOIN \"author\"");
    sql = sql_of("Book", "tags", "title", PD_SHAPE_PAGE);
    assert_string_equal(keys_of(sql), "title");
    assert_lacks(sql, "book_tags");
    assert_string_equal(keys_of(sql_of("Book", "tags,author", "tags,title", PD_SHAPE_GET)), "tags,title");
    sql = sql_of("BookReview", "book__author,book__tags", "rating", PD_SHAPE_GET);
    assert_lacks(sql, "LEFT JOIN");
    assert_lacks(sql, "book_tags");
}

/* pd_query_fetch's text columns follow the same subset. */
static void
test_columns(void **state)
{
    (void)state;
    const char *sql = sql_of("Author", "books", "books,name", PD_SHAPE_ROWS);
    assert_contains(sql, "SELECT (SELECT coalesce(json_agg(");
    assert_contains(sql, ") AS \"books\", \"pd_m\".\"name\" AS \"name\" FROM \"author\"");
    sql = sql_of("Author", "books", "name", PD_SHAPE_ROWS);
    assert_contains(sql, "SELECT \"pd_m\".\"name\" AS \"name\" FROM \"author\" AS pd_m ");
    assert_lacks(sql, "\"book\"");
}

static void
test_unknown_names(void **state)
{
    (void)state;
    PdError err = {0};
    /* a reverse relation that is not expanded is no key of the object: the unknown field it always was */
    PdQuery *query = pd_query_new(arena, catalog, pd_model_find(catalog, "Author"));
    assert_false(pd_query_only(query, "id,books", &err));
    assert_int_equal(err.code, PD_ERR_INVALID_INPUT);
    assert_string_equal(err.field, "books");
    assert_string_equal(err.message, author_fields);
    assert_string_equal(err.hint, "A reverse relation is a key of the object once it is prefetched: prefetch "
                                  "\"books\" before the field subset.");
    /* expanded through another path's first step it is expanded */
    query = pd_query_new(arena, catalog, pd_model_find(catalog, "Author"));
    assert_true(pd_query_prefetch(query, "books__reviews", &err));
    assert_true(pd_query_only(query, "books", &err));
    /* the subset is checked against the embeds added before it */
    query = pd_query_new(arena, catalog, pd_model_find(catalog, "Author"));
    assert_false(pd_query_only(query, "books", &err));
    assert_true(pd_query_prefetch(query, "books", &err));
    assert_true(pd_query_only(query, "books", &err));
    /* neither field nor relation, with or without embeds */
    err = (PdError){0};
    assert_false(pd_query_only(query, "id,nope", &err));
    assert_string_equal(err.field, "nope");
    assert_string_equal(
        err.message, "Author has no field \"nope\"; fields: id, name, email, born, website; related: books");
    assert_string_equal(err.hint, "");
    /* a nested embed's name is not a key of the top object */
    query = pd_query_new(arena, catalog, pd_model_find(catalog, "Author"));
    assert_true(pd_query_prefetch(query, "books__reviews", &err));
    assert_false(pd_query_only(query, "reviews", &err));
    assert_string_equal(err.field, "reviews");
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_reverse_relation_listed),
        cmocka_unit_test(test_reverse_relation_left_out),
        cmocka_unit_test(test_forward_and_many_to_many),
        cmocka_unit_test(test_columns),
        cmocka_unit_test(test_unknown_names),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
