/*
 * query_example.c - libprodata on the bookstore models, as a program of yours
 * would use it: load the models, connect, then write (create from JSON
 * bodies, get_or_create, a bulk create, update_or_create as one upsert, an
 * update through a query), read (filters across relations with a Q group,
 * ordering, a page with its exact count, select_related and prefetch, get
 * with its distinct errors), run a transaction whose savepoint undoes a
 * refused statement, and show what the library refuses in DRF's words. Every
 * object printed is the JSON PostgreSQL built. Run it on a freshly migrated
 * bookstore (make demo's database will do):
 *
 *   build/examples/query_example [CONNINFO [MODELS]]
 *
 * CONNINFO (empty or absent: $PRODATA_DATABASE, else libpq's PG* variables),
 * MODELS (default examples/bookstore/models.pdm). Exits 1 on an unexpected
 * error.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "prodata/db.h"
#include "prodata/model.h"
#include "prodata/object.h"
#include "prodata/query.h"

/* What every step needs: results live in the arena until the program ends. */
typedef struct Shop
{
    PdArena *arena;
    PdDb *db;
    PdCatalog *catalog;
} Shop;

static int
fail(const char *what, const PdError *err)
{
    fprintf(stderr, "query_example: %s: %s\n", what, err->message);
    for (size_t i = 0; i < err->problem_count; i++)
        fprintf(stderr, "  %s: %s\n", err->problems[i].field, err->problems[i].message);
    return 1;
}

static void
print_problems(const char *what, const PdError *err)
{
    printf("refused %s:\n", what);
    for (size_t i = 0; i < err->problem_count; i++)
        printf("  %s: %s\n", err->problems[i].field, err->problems[i].message);
}

/* The "id" of an object's JSON (the representation starts with it). */
static long long
id_of(const char *json)
{
    long long id = 0;
    return json != NULL && sscanf(json, "{\"id\":%lld", &id) == 1 ? id : 0;
}

static PdQuery *
query(Shop *shop, const char *model)
{
    return pd_query_new(shop->arena, shop->catalog, pd_model_find(shop->catalog, model));
}

static PdValues *
values_of(Shop *shop, const char *model)
{
    return pd_values_new(shop->arena, pd_model_find(shop->catalog, model));
}

/* A JSON body read into values of model, then created: the object's JSON, or NULL with err set. */
static const char *
create(Shop *shop, const char *model, const char *body, PdError *err)
{
    PdValues *values = values_of(shop, model);
    const char *json = NULL;
    if (values == NULL || !pd_values_from_json(values, body, strlen(body), err) ||
        !pd_object_create(shop->arena, shop->db, values, &json, err))
        return NULL;
    return json;
}

/* create, get_or_create and a bulk create; the new author's and Dune's ids. */
static int
create_books(Shop *shop, long long *author, long long *dune)
{
    PdError err = {0};
    char body[2][256];
    const char *json =
        create(shop, "Author", "{\"name\": \"Frank Herbert\", \"email\": \"frank@example.com\"}", &err);
    if (json == NULL)
        return fail("create author", &err);
    printf("created author %s\n", json);
    *author = id_of(json);

    bool created = false; /* the second call finds what the first made (or found) */
    PdValues *lookup = values_of(shop, "Tag");
    if (!pd_values_set_text(lookup, "name", "classic", &err) ||
        !pd_object_get_or_create(shop->arena, shop->db, lookup, NULL, &json, &created, &err) ||
        !pd_object_get_or_create(shop->arena, shop->db, lookup, NULL, &json, &created, &err))
        return fail("get_or_create tag", &err);
    printf("tag %s (created by this call: %s)\n", json, created ? "yes" : "no");
    long long classic = id_of(json);

    snprintf(body[0], sizeof(body[0]),
             "{\"title\": \"Dune\", \"author\": %lld, \"price\": \"9.99\", \"tags\": [%lld]}", *author,
             classic);
    if ((json = create(shop, "Book", body[0], &err)) == NULL)
        return fail("create book", &err);
    printf("created book %s\n", json);
    *dune = id_of(json);

    snprintf(body[0], sizeof(body[0]), "{\"title\": \"Dune Messiah\", \"author\": %lld, \"price\": 8.5}",
             *author);
    snprintf(body[1], sizeof(body[1]),
             "{\"title\": \"Children of Dune\", \"author\": %lld, \"tags\": [%lld]}", *author, classic);
    const PdValues *books[2];
    for (size_t i = 0; i < 2; i++)
    {
        PdValues *values = values_of(shop, "Book");
        if (values == NULL || !pd_values_from_json(values, body[i], strlen(body[i]), &err))
            return fail("read a body", &err);
        books[i] = values;
    }
    if (!pd_object_create_bulk(shop->arena, shop->db, books, 2, &json, &err))
        return fail("bulk create", &err);
    printf("created in one statement %s\n", json);
    return 0;
}

/* update_or_create (one INSERT ... ON CONFLICT (title, author) DO UPDATE) and an update through a query. */
static int
change_books(Shop *shop, long long author)
{
    PdError err = {0};
    char body[128];
    const char *json = NULL;
    bool created = false;
    const char *identity[] = {"title", "author"};
    PdValues *change = values_of(shop, "Book");
    snprintf(body, sizeof(body), "{\"title\": \"Dune\", \"author\": %lld, \"price\": \"12.50\"}", author);
    if (!pd_values_from_json(change, body, strlen(body), &err) ||
        !pd_object_update_or_create(shop->arena, shop->db, change, identity, 2, &json, &created, &err))
        return fail("update_or_create", &err);
    printf("update_or_create %s (created: %s)\n", json, created ? "yes" : "no");

    /* update through a query: the author's books under 10 go out of stock */
    PdQuery *cheap = query(shop, "Book");
    PdValues *out = values_of(shop, "Book");
    int64_t updated = 0;
    snprintf(body, sizeof(body), "%lld", author);
    if (!pd_query_where(cheap, "author", body, &err) || !pd_query_where(cheap, "price__lt", "10", &err) ||
        !pd_values_set_text(out, "in_stock", "false", &err) ||
        !pd_object_update(shop->arena, shop->db, cheap, out, PD_VALIDATE_PARTIAL, NULL, &updated, &err))
        return fail("update", &err);
    printf("out of stock: %lld books\n", (long long)updated);
    return 0;
}

/* Books by "herbert" that cost 10 or more or are tagged classic, dearest first: a page of 1, the count. */
static int
read_page(Shop *shop)
{
    PdError err = {0};
    PdQuery *books = query(shop, "Book");
    PdQ *dear_or_classic =
        pd_q_or(books, pd_q(books, "price__gte", "10", &err), pd_q(books, "tags__name", "classic", &err));
    if (!pd_query_where(books, "author__name__icontains", "herbert", &err) ||
        !pd_query_filter(books, dear_or_classic, &err) || !pd_query_order_by(books, "-price,title", &err) ||
        !pd_query_only(books, "id,title,price,author,tags", &err) ||
        !pd_query_select_related(books, "author", &err) || !pd_query_prefetch(books, "tags", &err))
        return fail("build the query", &err);
    pd_query_slice(books, 0, 1);
    PdPage page;
    if (!pd_query_page(books, shop->db, PD_COUNT_EXACT, &page, &err))
        return fail("page", &err);
    printf("%lld books match; the first %zu%s: %s\n", (long long)page.count, page.row_count,
           page.has_more ? " (more follow)" : "", page.json);
    return 0;
}

/* get: one object, or PD_ERR_NOT_FOUND / PD_ERR_MULTIPLE, each with Django's words. */
static int
get_book(Shop *shop, const char *lookup, const char *value)
{
    PdError err = {0};
    PdQuery *book = query(shop, "Book");
    const char *json = NULL;
    if (!pd_query_where(book, lookup, value, &err))
        return fail("get", &err);
    if (pd_query_get_json(book, shop->db, &json, NULL, &err))
        printf("get %s=%s: %s\n", lookup, value, json);
    else if (err.code == PD_ERR_NOT_FOUND || err.code == PD_ERR_MULTIPLE)
        printf("get %s=%s: %s: %s\n", lookup, value, err.code == PD_ERR_NOT_FOUND ? "none" : "several",
               err.message);
    else
        return fail("get", &err);
    return 0;
}

static int
abandon(Shop *shop, const char *what, const PdError *err)
{
    PdError ignored = {0};
    pd_db_rollback(shop->db, &ignored);
    return fail(what, err);
}

/* A review and, after a savepoint, a second "Dune" the database refuses: back to the savepoint, commit. */
static int
review_in_transaction(Shop *shop, long long author, long long dune)
{
    PdError err = {0};
    char body[160];
    if (!pd_db_begin(shop->db, &err))
        return fail("begin", &err);
    snprintf(body, sizeof(body), "{\"book\": %lld, \"reviewer\": \"ann@example.com\", \"rating\": 5}", dune);
    const char *review = create(shop, "BookReview", body, &err);
    if (review == NULL || !pd_db_savepoint(shop->db, "second_copy", &err))
        return abandon(shop, "review", &err);
    snprintf(body, sizeof(body), "{\"title\": \"Dune\", \"author\": %lld}", author);
    if (create(shop, "Book", body, &err) != NULL)
        return abandon(shop, "a second Dune was accepted", &err);
    print_problems("a second Dune inside the transaction", &err);
    err = (PdError){0};
    if (!pd_db_rollback_to_savepoint(shop->db, "second_copy", &err) || !pd_db_commit(shop->db, &err))
        return fail("savepoint and commit", &err);
    printf("committed the review %s\n", review);
    return 0;
}

/* Values the library refuses before the database (validation) and one the database refuses (a key to none).
 */
static int
show_refusals(Shop *shop)
{
    const char *bodies[] = {
        "{\"title\": \"Orphan\", \"author\": 424242}",
        "{\"title\": \"\", \"author\": \"x\", \"price\": \"12.345\", \"status\": \"lost\"}",
    };
    for (size_t i = 0; i < sizeof(bodies) / sizeof(bodies[0]); i++)
    {
        PdError err = {0};
        if (create(shop, "Book", bodies[i], &err) != NULL)
            return fprintf(stderr, "query_example: %s was accepted\n", bodies[i]), 1;
        print_problems(bodies[i], &err);
    }
    return 0;
}

int
main(int argc, char **argv)
{
    const char *conninfo = argc > 1 && argv[1][0] != '\0' ? argv[1] : getenv("PRODATA_DATABASE");
    const char *models = argc > 2 ? argv[2] : "examples/bookstore/models.pdm";
    Shop shop = {pd_arena_new(0), NULL, NULL};
    PdError err = {0};
    if (shop.arena == NULL)
        return 1;
    long long author = 0, dune = 0;
    int status = 1;
    if (!pd_model_load_file(shop.arena, models, &shop.catalog, &err))
        status = fail("load models", &err);
    else if (!pd_db_connect(conninfo != NULL ? conninfo : "", &shop.db, &err))
        status = fail("connect", &err);
    else
        status = create_books(&shop, &author, &dune) || change_books(&shop, author) || read_page(&shop) ||
                 get_book(&shop, "title", "Dune") || get_book(&shop, "title", "Dune Returns") ||
                 get_book(&shop, "author__name", "Frank Herbert") ||
                 review_in_transaction(&shop, author, dune) || show_refusals(&shop);
    pd_db_close(shop.db); /* NULL when the connection was not made */
    pd_arena_free(shop.arena);
    return status;
}
