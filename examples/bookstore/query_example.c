/*
 * query_example.c - libprodata on the bookstore models, as a program of
 * yours would use it: load the models, connect, create an author and two
 * books (one with tags) from JSON bodies, create several books in one
 * statement, change a book's price with update_or_create, get_or_create a
 * tag, and show what the database refuses in DRF's words. Every object
 * printed is the JSON PostgreSQL built. Run it on a migrated database:
 *
 *   query_example [CONNINFO [MODELS]]
 *
 * CONNINFO (empty or absent: $PRODATA_DATABASE else libpq's PG* variables),
 * MODELS to examples/bookstore/models.pdm. Exits 1 on an unexpected error.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "prodata/db.h"
#include "prodata/model.h"
#include "prodata/object.h"

static int
fail(const char *what, const PdError *err)
{
    fprintf(stderr, "query_example: %s: %s\n", what, err->message);
    for (size_t i = 0; i < err->problem_count; i++)
        fprintf(stderr, "  %s: %s\n", err->problems[i].field, err->problems[i].message);
    return 1;
}

/* The "id" of an object's JSON (the representation starts with it). */
static long long
id_of(const char *json)
{
    long long id = 0;
    return json != NULL && sscanf(json, "{\"id\":%lld", &id) == 1 ? id : 0;
}

/* A JSON body read into values, then created; the object's JSON, or NULL with err set. */
static const char *
create(PdArena *arena, PdDb *db, const PdModel *model, const char *body, PdError *err)
{
    PdValues *values = pd_values_new(arena, model);
    const char *json = NULL;
    if (values == NULL || !pd_values_from_json(values, body, strlen(body), err) ||
        !pd_object_create(arena, db, values, &json, err))
        return NULL;
    return json;
}

static int
show_refusals(PdArena *arena, PdDb *db, const PdCatalog *catalog, long long author_id)
{
    char taken[128];
    snprintf(taken, sizeof(taken), "{\"title\": \"Dune\", \"author\": %lld}", author_id);
    const char *bodies[] = {
        "{\"title\": \"Orphan\", \"author\": 424242}",
        "{\"title\": \"\", \"author\": \"x\", \"price\": \"12.345\", \"status\": \"lost\"}",
        taken,
    };
    for (size_t i = 0; i < sizeof(bodies) / sizeof(bodies[0]); i++)
    {
        PdError err = {0};
        if (create(arena, db, pd_model_find(catalog, "Book"), bodies[i], &err) != NULL)
            return fprintf(stderr, "query_example: %s was accepted\n", bodies[i]), 1;
        printf("refused %s:\n", bodies[i]);
        for (size_t p = 0; p < err.problem_count; p++)
            printf("  %s: %s\n", err.problems[p].field, err.problems[p].message);
    }
    return 0;
}

static int
run(PdArena *arena, PdDb *db, const PdCatalog *catalog)
{
    const PdModel *author = pd_model_find(catalog, "Author");
    const PdModel *book = pd_model_find(catalog, "Book");
    const PdModel *tag = pd_model_find(catalog, "Tag");
    PdError err = {0};
    const char *json =
        create(arena, db, author, "{\"name\": \"Frank Herbert\", \"email\": \"frank@example.com\"}", &err);
    if (json == NULL)
        return fail("create author", &err);
    printf("created author %s\n", json);
    long long author_id = id_of(json);
    char text[256];

    /* get_or_create: the second call finds the first one's tag */
    bool created = false;
    PdValues *lookup = pd_values_new(arena, tag);
    if (!pd_values_set_text(lookup, "name", "classic", &err) ||
        !pd_object_get_or_create(arena, db, lookup, NULL, &json, &created, &err) ||
        !pd_object_get_or_create(arena, db, lookup, NULL, &json, &created, &err))
        return fail("get_or_create tag", &err);
    printf("tag %s (created by this call: %s)\n", json, created ? "yes" : "no");
    long long tag_id = id_of(json);

    snprintf(text, sizeof(text),
             "{\"title\": \"Dune\", \"author\": %lld, \"price\": \"9.99\", \"tags\": [%lld]}", author_id,
             tag_id);
    json = create(arena, db, book, text, &err);
    if (json == NULL)
        return fail("create book", &err);
    printf("created book %s\n", json);

    char bodies[2][256];
    snprintf(bodies[0], sizeof(bodies[0]), "{\"title\": \"Dune Messiah\", \"author\": %lld, \"price\": 8.5}",
             author_id);
    snprintf(bodies[1], sizeof(bodies[1]),
             "{\"title\": \"Children of Dune\", \"author\": %lld, \"tags\": [%lld]}", author_id, tag_id);
    const PdValues *objects[2];
    for (size_t i = 0; i < 2; i++)
    {
        PdValues *values = pd_values_new(arena, book);
        if (values == NULL || !pd_values_from_json(values, bodies[i], strlen(bodies[i]), &err))
            return fail("read bulk body", &err);
        objects[i] = values;
    }
    if (!pd_object_create_bulk(arena, db, objects, 2, &json, &err))
        return fail("bulk create", &err);
    printf("created in one statement %s\n", json);

    const char *identity[] = {"title", "author"};
    PdValues *change = pd_values_new(arena, book);
    snprintf(text, sizeof(text), "{\"title\": \"Dune\", \"author\": %lld, \"price\": \"12.50\"}", author_id);
    if (!pd_values_from_json(change, text, strlen(text), &err) ||
        !pd_object_update_or_create(arena, db, change, identity, 2, &json, &created, &err))
        return fail("update_or_create", &err);
    printf("update_or_create %s (created: %s)\n", json, created ? "yes" : "no");
    return show_refusals(arena, db, catalog, author_id);
}

int
main(int argc, char **argv)
{
    const char *conninfo = argc > 1 && argv[1][0] != '\0' ? argv[1] : getenv("PRODATA_DATABASE");
    const char *models = argc > 2 ? argv[2] : "examples/bookstore/models.pdm";
    PdArena *arena = pd_arena_new(0);
    PdCatalog *catalog = NULL;
    PdDb *db = NULL;
    PdError err = {0};
    if (arena == NULL)
        return 1;
    if (!pd_model_load_file(arena, models, &catalog, &err))
        return fail("load models", &err);
    if (!pd_db_connect(conninfo != NULL ? conninfo : "", &db, &err))
        return fail("connect", &err);
    int status = run(arena, db, catalog);
    pd_db_close(db);
    pd_arena_free(arena);
    return status;
}
