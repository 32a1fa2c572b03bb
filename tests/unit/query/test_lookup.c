/*
 * test_lookup.c - lookups to SQL without a database: for each lookup,
 * transform and path kind the condition text and the parameters a query
 * sends (pd_query_sql), and every error a name or a value can give, word for
 * word. Values appear only among the parameters, never in the SQL text.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "prodata/query.h"
#include "prodata/strbuf.h"
#include "testing.h"

static PdArena *arena;
static PdCatalog *catalog;

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

static PdQuery *
query_of(const char *model)
{
    PdQuery *query = pd_query_new(arena, catalog, pd_model_find(catalog, model));
    assert_non_null(query);
    return query;
}

/* The condition of a count statement, after "WHERE ". */
static const char *
condition_of(PdQuery *query, PdSqlText *text)
{
    PdError err = {0};
    if (!pd_query_sql(query, PD_SHAPE_COUNT, PD_COUNT_NONE, text, &err))
        fail_msg("sql: %s", err.message);
    const char *where = strstr(text->sql, " WHERE ");
    assert_non_null(where);
    return where + 7;
}

/* The condition of model filtered by one lookup; its parameters joined by "|" in *params. */
static const char *
sql_of(const char *model, const char *lookup, const char *value, const char **params)
{
    PdError err = {0};
    PdQuery *query = query_of(model);
    if (!pd_query_where(query, lookup, value, &err))
        fail_msg("%s: %s", lookup, err.message);
    PdSqlText text;
    const char *condition = condition_of(query, &text);
    char *joined = pd_arena_calloc(arena, 1, 256);
    for (int i = 0; i < text.param_count; i++)
    {
        size_t length = strlen(joined);
        snprintf(joined + length, 256 - length, "%s%s", i > 0 ? "|" : "",
                 text.params[i] ? text.params[i] : "NULL");
    }
    *params = joined;
    return condition;
}

static void
expect(const char *model, const char *lookup, const char *value, const char *sql, const char *params)
{
    const char *got_params = NULL;
    const char *got = sql_of(model, lookup, value, &got_params);
    if (strcmp(got, sql) != 0)
        fail_msg("%s:\n  got      %s\n  expected %s", lookup, got, sql);
    if (strcmp(got_params, params) != 0)
        fail_msg("%s parameters:\n  got      %s\n  expected %s", lookup, got_params, params);
}

static void
test_lookups_on_own_fields(void **state)
{
    (void)state;
    expect("Book", "title", "Dune", "\"pd_m\".\"title\" = $1::character varying", "Dune");
    expect("Book", "title__exact", "Dune", "\"pd_m\".\"title\" = $1::character varying", "Dune");
    expect("Book", "title__iexact", "dune", "upper(\"pd_m\".\"title\"::text) = upper($1::text)", "dune");
    expect("Book", "title__contains", "50%_\\", "\"pd_m\".\"title\"::text LIKE $1::text", "%50\\%\\_\\\\%");
    expect("Book", "title__icontains", "Dune", "\"pd_m\".\"title\"::text ILIKE $1::text", "%Dune%");
    expect("Book", "title__startswith", "An", "\"pd_m\".\"title\"::text LIKE $1::text", "An%");
    expect("Book", "title__istartswith", "an", "\"pd_m\".\"title\"::text ILIKE $1::text", "an%");
    expect("Book", "title__endswith", "ne", "\"pd_m\".\"title\"::text LIKE $1::text", "%ne");
    expect("Book", "title__iendswith", "NE", "\"pd_m\".\"title\"::text ILIKE $1::text", "%NE");
    expect("Book", "title__regex", "^D.*e$", "\"pd_m\".\"title\"::text ~ $1::text", "^D.*e$");
    expect("Book", "title__iregex", "^d", "\"pd_m\".\"title\"::text ~* $1::text", "^d");
    expect("Book", "price__gt", "1", "\"pd_m\".\"price\" > $1::numeric", "1");
    expect("Book", "price__gte", "1.5", "\"pd_m\".\"price\" >= $1::numeric", "1.5");
    expect("Book", "price__lt", "-2", "\"pd_m\".\"price\" < $1::numeric", "-2");
    expect("Book", "price__lte", "3.25", "\"pd_m\".\"price\" <= $1::numeric", "3.25");
    expect("Book", "price__range", "1,2", "\"pd_m\".\"price\" BETWEEN $1::numeric AND $2::numeric", "1|2");
    expect("Book", "id__in", "1,2", "\"pd_m\".\"id\" = ANY ($1::bigint[])", "{\"1\",\"2\"}");
    expect("Book", "title__in", "a\"b,c\\d", "\"pd_m\".\"title\" = ANY ($1::character varying[])",
           "{\"a\\\"b\",\"c\\\\d\"}");
    expect("Book", "id__in", "", "false", "");
    expect("Book", "in_stock", "True", "\"pd_m\".\"in_stock\" = $1::boolean", "true");
    expect("Book", "in_stock", "0", "\"pd_m\".\"in_stock\" = $1::boolean", "false");
    expect("Book", "meta__isnull", "true", "\"pd_m\".\"meta\" IS NULL", "");
    expect("Book", "meta__isnull", "false", "\"pd_m\".\"meta\" IS NOT NULL", "");
    expect("Author", "born", NULL, "\"pd_m\".\"born\" IS NULL", "");
    expect("Book", "published", "2024-01-02T10:00:00+02:00",
           "\"pd_m\".\"published\" = $1::timestamp with time zone", "2024-01-02T10:00:00+02:00");
    expect("Book", "pk", "7", "\"pd_m\".\"id\" = $1::bigint", "7");
    expect("Book", "author", "2", "\"pd_m\".\"author_id\" = $1::bigint", "2");
    expect("Book", "author__isnull", "true", "\"pd_m\".\"author_id\" IS NULL", "");
}

static void
test_transforms(void **state)
{
    (void)state;
    expect("Book", "published__year", "2024", "extract(year FROM \"pd_m\".\"published\") = $1::integer",
           "2024");
    expect("Book", "published__month__gte", "6", "extract(month FROM \"pd_m\".\"published\") >= $1::integer",
           "6");
    expect("Author", "born__day__in", "1,2", "extract(day FROM \"pd_m\".\"born\") = ANY ($1::integer[])",
           "{\"1\",\"2\"}");
    expect("Book", "published__date", "2024-02-29", "(\"pd_m\".\"published\")::date = $1::date",
           "2024-02-29");
    expect("Book", "published__date__range", "2024-01-01,2024-12-31",
           "(\"pd_m\".\"published\")::date BETWEEN $1::date AND $2::date", "2024-01-01|2024-12-31");
}

static void
test_paths(void **state)
{
    (void)state;
    expect(
        "Book", "author__name__icontains", "her",
        "EXISTS (SELECT 1 FROM \"author\" AS \"pd_a1\" WHERE \"pd_a1\".\"id\" = \"pd_m\".\"author_id\" AND "
        "\"pd_a1\".\"name\"::text ILIKE $1::text)",
        "%her%");
    expect("Book", "tags__name", "scifi",
           "EXISTS (SELECT 1 FROM \"book_tags\" AS \"pd_a2\" JOIN \"tag\" AS \"pd_a1\" ON \"pd_a1\".\"id\" = "
           "\"pd_a2\".\"tag_id\" WHERE \"pd_a2\".\"book_id\" = \"pd_m\".\"id\" AND \"pd_a1\".\"name\" = "
           "$1::character varying)",
           "scifi");
    expect("Book", "tags", "3",
           "EXISTS (SELECT 1 FROM \"book_tags\" AS \"pd_a2\" JOIN \"tag\" AS \"pd_a1\" ON \"pd_a1\".\"id\" = "
           "\"pd_a2\".\"tag_id\" WHERE \"pd_a2\".\"book_id\" = \"pd_m\".\"id\" AND \"pd_a1\".\"id\" = "
           "$1::bigint)",
           "3");
    expect("Author", "books__title", "Dune",
           "EXISTS (SELECT 1 FROM \"book\" AS \"pd_a1\" WHERE \"pd_a1\".\"author_id\" = \"pd_m\".\"id\" AND "
           "\"pd_a1\".\"title\" = $1::character varying)",
           "Dune");
    expect("Author", "books__reviews__rating__gte", "4",
           "EXISTS (SELECT 1 FROM \"book\" AS \"pd_a1\" JOIN \"book_review\" AS \"pd_a3\" ON "
           "\"pd_a3\".\"book_id\" = "
           "\"pd_a1\".\"id\" WHERE \"pd_a1\".\"author_id\" = \"pd_m\".\"id\" AND \"pd_a3\".\"rating\" >= "
           "$1::smallint)",
           "4");
    expect(
        "Tag", "book_set__author__name", "Ann",
        "EXISTS (SELECT 1 FROM \"book_tags\" AS \"pd_a2\" JOIN \"book\" AS \"pd_a1\" ON \"pd_a1\".\"id\" = "
        "\"pd_a2\".\"book_id\" JOIN \"author\" AS \"pd_a3\" ON \"pd_a3\".\"id\" = \"pd_a1\".\"author_id\" "
        "WHERE "
        "\"pd_a2\".\"tag_id\" = \"pd_m\".\"id\" AND \"pd_a3\".\"name\" = $1::character varying)",
        "Ann");
    expect("Book", "tags__isnull", "true",
           "(NOT EXISTS (SELECT 1 FROM \"book_tags\" AS \"pd_a2\" JOIN \"tag\" AS \"pd_a1\" ON "
           "\"pd_a1\".\"id\" = "
           "\"pd_a2\".\"tag_id\" WHERE \"pd_a2\".\"book_id\" = \"pd_m\".\"id\") OR EXISTS (SELECT 1 FROM "
           "\"book_tags\" AS \"pd_a4\" JOIN \"tag\" AS \"pd_a3\" ON \"pd_a3\".\"id\" = \"pd_a4\".\"tag_id\" "
           "WHERE "
           "\"pd_a4\".\"book_id\" = \"pd_m\".\"id\" AND \"pd_a3\".\"id\" IS NULL))",
           "");
}

static void
test_trees_exclude_and_search(void **state)
{
    (void)state;
    PdError err = {0};
    PdSqlText text;
    PdQuery *query = query_of("Book");
    PdQ *a = pd_q(query, "price__lt", "5", &err);
    PdQ *b = pd_q(query, "in_stock", "true", &err);
    assert_true(pd_query_filter(query, pd_q_or(query, a, pd_q_not(query, b)), &err));
    assert_true(pd_query_exclude(query, pd_q(query, "title", "x", &err), &err));
    assert_string_equal(
        condition_of(query, &text),
        "((\"pd_m\".\"price\" < $1::numeric OR NOT coalesce(\"pd_m\".\"in_stock\" = $2::boolean, "
        "false)) AND NOT coalesce(\"pd_m\".\"title\" = $3::character varying, false))");
    assert_int_equal(text.param_count, 3);

    query = query_of("Author");
    assert_true(pd_query_search(query, "le, 100%", &err));
    assert_string_equal(condition_of(query, &text), "(\"pd_m\".\"name\"::text ILIKE $1::text AND "
                                                    "\"pd_m\".\"name\"::text ILIKE $2::text)");
    assert_string_equal(text.params[0], "%le%");
    assert_string_equal(text.params[1], "%100\\%%");
}

static void
test_ordering_keyset_and_page(void **state)
{
    (void)state;
    PdError err = {0};
    PdSqlText text;
    PdQuery *query = query_of("Book");
    assert_true(pd_query_order_by(query, "price", &err));
    const char *keys[] = {"9.99", "3"};
    assert_true(pd_query_after(query, keys, 2, false, &err));
    pd_query_slice(query, 0, 50);
    assert_true(pd_query_sql(query, PD_SHAPE_ROWS, PD_COUNT_NONE, &text, &err));
    assert_contains(text.sql,
                    " WHERE (\"pd_m\".\"price\", \"pd_m\".\"id\") > ((SELECT $1::numeric), (SELECT "
                    "$2::bigint)) ORDER BY \"pd_m\".\"price\", \"pd_m\".\"id\" LIMIT (SELECT $3::bigint)");
    assert_string_equal(text.params[2], "50");

    query = query_of("Book"); /* -published, title, id: mixed directions */
    const char *mixed[] = {"2024-01-01", "Dune", "3"};
    assert_true(pd_query_after(query, mixed, 3, false, &err));
    assert_true(pd_query_sql(query, PD_SHAPE_ROWS, PD_COUNT_NONE, &text, &err));
    assert_contains(
        text.sql,
        " WHERE (\"pd_m\".\"published\" <= (SELECT $1::timestamp with time zone) AND "
        "((\"pd_m\".\"published\" "
        "< (SELECT $2::timestamp with time zone)) OR (\"pd_m\".\"published\" = (SELECT $3::timestamp with "
        "time "
        "zone) AND \"pd_m\".\"title\" > (SELECT $4::character varying)) OR (\"pd_m\".\"published\" = (SELECT "
        "$5::timestamp with time zone) AND \"pd_m\".\"title\" = (SELECT $6::character varying) AND "
        "\"pd_m\".\"id\" > (SELECT $7::bigint)))) "
        "ORDER BY \"pd_m\".\"published\" DESC, \"pd_m\".\"title\", \"pd_m\".\"id\"");

    query = query_of("Author");
    assert_true(pd_query_order_by(query, "-born", &err));
    const char *null_key[] = {NULL, "3"};
    assert_true(pd_query_after(query, null_key, 2, true, &err));
    assert_true(pd_query_sql(query, PD_SHAPE_ROWS, PD_COUNT_NONE, &text, &err));
    assert_contains(text.sql, " WHERE (((false) OR (\"pd_m\".\"born\" IS NULL AND \"pd_m\".\"id\" < (SELECT "
                              "$1::bigint)))) "
                              "ORDER BY \"pd_m\".\"born\", \"pd_m\".\"id\" DESC");

    query = query_of("Book");
    assert_true(pd_query_order_by(query, "author__name", &err));
    pd_query_slice(query, 100, 10);
    assert_true(pd_query_sql(query, PD_SHAPE_PAGE, PD_COUNT_EXACT, &text, &err));
    assert_contains(text.sql, "SELECT (SELECT count(*) FROM \"book\" AS pd_m) AS count, ");
    assert_contains(text.sql,
                    " LEFT JOIN \"author\" AS \"pd_a1\" ON \"pd_a1\".\"id\" = \"pd_m\".\"author_id\" "
                    "ORDER BY \"pd_a1\".\"name\", \"pd_m\".\"id\" LIMIT (SELECT $4::bigint) "
                    "OFFSET (SELECT $5::bigint)"); /* no condition: hidden, so the generic plan is kept */
    assert_lacks(text.sql, "100");
    assert_int_equal(text.param_count,
                     5); /* the filter's limit, the two keys' last index, limit + 1, offset */
    assert_string_equal(text.params[3], "11");
    assert_string_equal(text.params[4], "100");

    pd_query_use_counter(query, true); /* no condition: the row counter (count.c words the expression) */
    assert_true(pd_query_sql(query, PD_SHAPE_PAGE, PD_COUNT_EXACT, &text, &err));
    assert_contains(text.sql, "SELECT (SELECT ");
    assert_contains(text.sql, "(SELECT coalesce(sum(prodata_slot.n), 0)::int8 FROM prodata_row_counts "
                              "prodata_slot WHERE prodata_slot.relid = '\"book\"'::regclass)");
    assert_contains(text.sql, ") AS count, ");
    assert_true(pd_query_where(query, "price__gt", "1", &err));
    assert_true(pd_query_sql(query, PD_SHAPE_PAGE, PD_COUNT_EXACT, &text, &err));
    assert_contains(text.sql, "::bigint OFFSET $"); /* a condition: the numbers plain, for custom plans */
    assert_lacks(text.sql, "(SELECT $");
    assert_true(pd_query_sql(query, PD_SHAPE_COUNT, PD_COUNT_NONE, &text, &err));
    assert_string_equal(text.sql,
                        "SELECT count(*) FROM \"book\" AS pd_m WHERE \"pd_m\".\"price\" > $1::numeric");
}

/* The error of one lookup, which must fail with err->field set to the lookup. */
static void
expect_error(const char *model, const char *lookup, const char *value, const char *message)
{
    PdError err = {0};
    PdQuery *query = query_of(model);
    if (pd_query_where(query, lookup, value, &err))
        fail_msg("%s=%s was accepted", lookup, value);
    assert_int_equal(err.code, PD_ERR_INVALID_INPUT);
    assert_string_equal(err.field, lookup);
    if (strcmp(err.message, message) != 0)
        fail_msg("%s:\n  got      %s\n  expected %s", lookup, err.message, message);
}

static void
test_errors(void **state)
{
    (void)state;
    expect_error(
        "Book", "pric", "1",
        "Book has no field \"pric\"; fields: id, title, author, price, published, in_stock, meta, tags, "
        "status; related: reviews");
    expect_error("Book", "author__password", "1",
                 "Author has no field \"password\"; fields: id, name, email, born, website; related: books");
    expect_error(
        "Book", "id;--", "1",
        "Book has no field \"id;--\"; fields: id, title, author, price, published, in_stock, meta, tags, "
        "status; related: reviews");
    expect_error("Book", "tags__label", "x",
                 "Tag has no field \"label\"; fields: id, name; related: book_set");
    expect_error("Book", "in_stock__gte", "true", "lookup \"gte\" does not apply to bool field \"in_stock\"");
    expect_error("Book", "in_stock__contains", "t",
                 "lookup \"contains\" does not apply to bool field \"in_stock\"");
    expect_error("Book", "price__icontains", "1",
                 "lookup \"icontains\" does not apply to decimal field \"price\"");
    expect_error("Book", "meta__gt", "1", "lookup \"gt\" does not apply to json field \"meta\"");
    expect_error("Book", "title__overlap", "a,b",
                 "lookup \"overlap\" does not apply to string field \"title\"");
    expect_error("Book", "price__len", "2", "transform \"len\" does not apply to decimal field \"price\"");
    expect_error("Book", "published__year__icontains", "1",
                 "lookup \"icontains\" does not apply to \"year\" of timestamptz field \"published\"");
    expect_error(
        "Book", "price__near", "1",
        "unknown lookup \"near\" on decimal field \"price\"; lookups: exact, iexact, contains, icontains, "
        "startswith, istartswith, endswith, iendswith, in, gt, gte, lt, lte, range, isnull, regex, iregex, "
        "contained_by, overlap; transforms: year, month, day, date, len");
    expect_error("Book", "title__year", "2000",
                 "transform \"year\" does not apply to string field \"title\"");
    expect_error("Author", "born__date", "2000-01-01",
                 "transform \"date\" does not apply to date field \"born\"");
    expect_error("Book", "published__year", "20x", "\"20x\" is not a valid year, expected a whole number");
    expect_error("Book", "published__month", "", "\"\" is not a valid month, expected a whole number");
    expect_error("Author", "born__isnull", "maybe", "isnull takes true or false, not \"maybe\"");
    expect_error("Book", "price__range", "1", "range takes two values, not 1");
    expect_error("Book", "price__range", "1,2,3", "range takes two values, not 3");
    expect_error("Book", "in_stock", "yes", "\"yes\" is not a valid boolean, expected true, false, 1 or 0");
    expect_error("Book", "price", "abc", "\"abc\" is not a valid decimal, expected a number");
    expect_error("Book", "id", "1 OR 1=1", "\"1 OR 1=1\" is not a valid auto, expected a number");
    expect_error("Book", "author", "x", "\"x\" is not a valid auto, expected a number");
    expect_error("Book", "title__gt", NULL, "lookup \"gt\" takes a value, not null");
    expect_error("Book", "title__regex", NULL, "lookup \"regex\" takes a value, not null");
    PdError err = {0};
    PdQuery *query = query_of("Book");
    assert_false(pd_query_where(query, "price__gte", "1.999", &err));
    assert_contains(err.message, "at most 6 digits before the point and 2 after");
    assert_false(pd_query_where(query, "status", "archived", &err));
    assert_contains(err.message,
                    "is not one of the choices of field \"status\", expected one of draft, published");
    assert_false(pd_query_where(query, "published", "yesterday", &err));
    assert_contains(err.message, "\"yesterday\" is not a valid timestamptz");
    assert_false(pd_query_filter(query, NULL, &err));
}

/* No query string can ask for an unbounded statement: ordering terms, embed depth and embeds are capped. */
static void
test_bounds(void **state)
{
    (void)state;
    PdError err = {0};
    PdQuery *query = query_of("Book");
    assert_true(pd_query_order_by(query,
                                  "title,title,title,title,title,title,title,title,title,title,title,"
                                  "title,title,title,title,title",
                                  &err));
    assert_false(pd_query_order_by(query,
                                   "title,title,title,title,title,title,title,title,title,title,title,"
                                   "title,title,title,title,title,title",
                                   &err));
    assert_int_equal(err.code, PD_ERR_INVALID_INPUT);
    assert_string_equal(err.field, "ordering");
    PdError deep = {0};
    assert_true(pd_query_select_related(query_of("BookReview"), "book__author", &deep));
    PdQuery *books = query_of("Book");
    assert_false(pd_query_prefetch(books, "author__books__author__books", &deep));
    assert_int_equal(deep.code, PD_ERR_INVALID_INPUT);
    assert_string_equal(deep.field, "author__books__author__books");
    assert_non_null(strstr(deep.message, "at most 3"));
    PdError search = {0};
    PdQuery *searched = query_of("Book");
    assert_true(pd_query_search(searched, "a b,c d e f g h i j ,, ", &search));
    assert_false(pd_query_search(searched, "a b c d e f g h i j k", &search));
    assert_int_equal(search.code, PD_ERR_INVALID_INPUT);
    assert_string_equal(search.field, "search");
    assert_string_equal(search.message, "Ensure this value has no more than 10 words.");
}

/* A keyset position takes any time stamp PostgreSQL writes (a page's keys are its text), and no other text.
 */
static void
test_positions_past_9999(void **state)
{
    (void)state;
    static const char *const taken[] = {"12345-06-01T10:00:00.5+00:00", "0044-03-15T12:00:00+00:00 BC",
                                        "12345-06-01 10:00:00.5+00", "infinity", "-infinity"};
    static const char *const refused[] = {"12345-13-01T10:00:00+00:00", "123-06-01T10:00:00Z",
                                          "2020-06-01T10:00:00Z BC x", "infinity BC", "0044-03-15T25:00 BC"};
    for (size_t i = 0; i < sizeof(taken) / sizeof(taken[0]); i++)
    {
        PdError err = {0};
        PdQuery *query = query_of("Book");
        assert_true(pd_query_order_by(query, "published", &err));
        if (!pd_query_after(query, (const char *const[]){taken[i], "7"}, 2, false, &err))
            fail_msg("%s was refused: %s", taken[i], err.message);
    }
    for (size_t i = 0; i < sizeof(refused) / sizeof(refused[0]); i++)
    {
        PdError err = {0};
        PdQuery *query = query_of("Book");
        assert_true(pd_query_order_by(query, "published", &err));
        if (pd_query_after(query, (const char *const[]){refused[i], "7"}, 2, false, &err))
            fail_msg("%s was taken", refused[i]);
        assert_string_equal(err.field, "cursor");
    }
}

/* A lookup checked without a value: the name's errors, no condition added. */
static void
test_check_lookup(void **state)
{
    (void)state;
    PdError err = {0};
    PdQuery *query = query_of("Book");
    assert_true(pd_query_check_lookup(query, "price__gte", &err));
    assert_true(pd_query_check_lookup(query, "author__name__in", &err));
    assert_true(pd_query_check_lookup(query, "published__year__range", &err));
    assert_true(pd_query_check_lookup(query, "tags__isnull", &err));
    PdSqlText text;
    assert_true(pd_query_sql(query, PD_SHAPE_COUNT, PD_COUNT_NONE, &text, &err));
    assert_null(strstr(text.sql, " WHERE "));
    assert_false(pd_query_check_lookup(query, "in_stock__gte", &err));
    assert_string_equal(err.field, "in_stock__gte");
    assert_string_equal(err.message, "lookup \"gte\" does not apply to bool field \"in_stock\"");
    assert_false(pd_query_check_lookup(query, "author__password", &err));
    assert_string_equal(err.field, "author__password");
}

/* The parameters of model (in catalog `in`) filtered by one lookup, joined by "|"; the message of its error.
 */
static const char *
params_in(const PdCatalog *in, const char *model, const char *lookup, const char *value)
{
    PdError err = {0};
    PdQuery *query = pd_query_new(arena, in, pd_model_find(in, model));
    assert_non_null(query);
    PdSqlText text;
    if (!pd_query_where(query, lookup, value, &err) ||
        !pd_query_sql(query, PD_SHAPE_COUNT, PD_COUNT_NONE, &text, &err))
        return pd_arena_sprintf(arena, "error: %s", err.message);
    PdStrbuf joined;
    pd_strbuf_init(&joined, arena);
    for (int i = 0; i < text.param_count; i++)
        pd_strbuf_appendf(&joined, "%s%s", i > 0 ? "|" : "", text.params[i] ? text.params[i] : "NULL");
    return pd_strbuf_text(&joined);
}

/* A uuid and a time in a filter (or a path key, which is one) are read as a body's: every form Python's
 * uuid.UUID takes, sent hyphenated in lower case; seven to nine digits of a second's fraction cut to six. */
static void
test_uuid_and_time_values(void **state)
{
    (void)state;
    static const char *models = "model Thing {\n"
                                "  code  uuid         primary_key  default=uuid\n"
                                "  at    time         null\n"
                                "  seen  timestamptz  null\n"
                                "}\n"
                                "model Part {\n"
                                "  thing  Thing\n"
                                "}\n";
    const PdCatalog *in = testing_parse(arena, models);
    static const struct
    {
        const char *model, *lookup, *value, *params;
    } cases[] = {
        {"Thing", "code", "22222222222222222222222222222222", "22222222-2222-2222-2222-222222222222"},
        {"Thing", "pk", "{123E4567-E89B-12D3-A456-426614174000}", "123e4567-e89b-12d3-a456-426614174000"},
        {"Thing", "code", "urn:uuid:123e4567e89b12d3a456426614174000",
         "123e4567-e89b-12d3-a456-426614174000"},
        {"Thing", "code__in", "22222222222222222222222222222222,123E4567-E89B-12D3-A456-426614174000",
         "{\"22222222-2222-2222-2222-222222222222\",\"123e4567-e89b-12d3-a456-426614174000\"}"},
        {"Part", "thing", "22222222222222222222222222222222", "22222222-2222-2222-2222-222222222222"},
        {"Part", "thing__code", "{22222222222222222222222222222222}", "22222222-2222-2222-2222-222222222222"},
        {"Thing", "code", "2222222222222222222222222222222",
         "error: string \"2222222222222222222222222222222\" is not a valid uuid, expected a uuid as "
         "\"xxxxxxxx-xxxx-xxxx-xxxx-xxxxxxxxxxxx\""},
        {"Thing", "at", "13:45:00.123456789", "13:45:00.123456"},
        {"Thing", "at__gt", "23:59:59.9999999", "23:59:59.999999"},
        {"Thing", "seen__range", "2024-05-06T13:45:00.123456789Z,2024-05-07 00:00:00.1234567+02:00",
         "2024-05-06T13:45:00.123456Z|2024-05-07 00:00:00.123456+02:00"},
        {"Thing", "seen", "2024-05-06T13:45:00.5Z", "2024-05-06T13:45:00.5Z"},
        {"Thing", "at", "13:45:00.1234567890",
         "error: string \"13:45:00.1234567890\" is not a valid time, expected a time as \"HH:MM\", "
         "\"HH:MM:SS\" or \"HH:MM:SS.ffffff\""},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
    {
        const char *got = params_in(in, cases[i].model, cases[i].lookup, cases[i].value);
        if (strcmp(got, cases[i].params) != 0)
            fail_msg("%s=%s:\n  got      %s\n  expected %s", cases[i].lookup, cases[i].value, got,
                     cases[i].params);
    }
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_lookups_on_own_fields),
        cmocka_unit_test(test_transforms),
        cmocka_unit_test(test_paths),
        cmocka_unit_test(test_trees_exclude_and_search),
        cmocka_unit_test(test_ordering_keyset_and_page),
        cmocka_unit_test(test_errors),
        cmocka_unit_test(test_bounds),
        cmocka_unit_test(test_check_lookup),
        cmocka_unit_test(test_positions_past_9999),
        cmocka_unit_test(test_uuid_and_time_values),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
