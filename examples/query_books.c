/*
 * query_books.c - the query library on the bookstore models: connects with
 * libpq's settings (PG* variables or the first argument), loads
 * examples/bookstore/models.pdm and prints, as PostgreSQL built them, a page
 * of books over a price with their authors embedded and the exact count, then
 * one book by key, then the number of books per author. A sketch of the calls
 * a program makes; `make` builds it as build/examples/query_books.
 *
 *   build/examples/query_books "dbname=shop"   (after prodata migrate on that database)
 */
#include <stdio.h>

#include "prodata/db.h"
#include "prodata/model.h"
#include "prodata/query.h"

static int
fail(const PdError *err)
{
    fprintf(stderr, "query_books: %s%s%s\n", err->message, err->field[0] != '\0' ? " in " : "", err->field);
    return 1;
}

static int
print_page(PdArena *arena, const PdCatalog *catalog, PdDb *db, PdError *err)
{
    PdQuery *books = pd_query_new(arena, catalog, pd_model_find(catalog, "Book"));
    if (books == NULL || !pd_query_where(books, "price__gte", "10", err) ||
        !pd_query_order_by(books, "-published,title", err) ||
        !pd_query_select_related(books, "author", err) || !pd_query_only(books, "id,title,author,price", err))
        return fail(err);
    pd_query_slice(books, 0, 5);
    PdPage page;
    if (!pd_query_page(books, db, PD_COUNT_EXACT, &page, err))
        return fail(err);
    printf("%lld books cost 10 or more; the first %zu%s:\n%s\n", (long long)page.count, page.row_count,
           page.has_more ? " (more follow)" : "", page.json);
    return 0;
}

static int
print_one(PdArena *arena, const PdCatalog *catalog, PdDb *db, PdError *err)
{
    PdQuery *book = pd_query_new(arena, catalog, pd_model_find(catalog, "Book"));
    const char *json = NULL;
    if (book == NULL || !pd_query_where(book, "pk", "1", err))
        return fail(err);
    if (!pd_query_get_json(book, db, &json, NULL, err))
        return err->code == PD_ERR_NOT_FOUND ? (printf("no book 1: %s\n", err->message), 0) : fail(err);
    printf("book 1: %s\n", json);
    return 0;
}

static int
print_counts(PdArena *arena, const PdCatalog *catalog, PdDb *db, PdError *err)
{
    PdQuery *books = pd_query_new(arena, catalog, pd_model_find(catalog, "Book"));
    PdAggregate per_author[] = {{PD_AGG_COUNT, NULL, "books"}, {PD_AGG_AVG, "price", NULL}};
    PdDbResult *rows = NULL;
    if (books == NULL || !pd_query_aggregate(books, db, "author__name", per_author, 2, &rows, err))
        return fail(err);
    for (size_t row = 0; row < pd_db_result_row_count(rows); row++)
        printf("%-30s %4s books, %s on average\n", pd_db_result_value(rows, row, 0),
               pd_db_result_value(rows, row, 1), pd_db_result_value(rows, row, 2));
    return 0;
}

int
main(int argc, char **argv)
{
    PdArena *arena = pd_arena_new(0);
    PdCatalog *catalog = NULL;
    PdDb *db = NULL;
    PdError err = {0};
    if (arena == NULL)
        return 1;
    int status = 1;
    if (!pd_model_load_file(arena, "examples/bookstore/models.pdm", &catalog, &err) ||
        !pd_db_connect(argc > 1 ? argv[1] : "", &db, &err))
        status = fail(&err);
    else
        status = print_page(arena, catalog, db, &err) || print_one(arena, catalog, db, &err) ||
                 print_counts(arena, catalog, db, &err);
    pd_db_close(db);
    pd_arena_free(arena);
    return status;
}
