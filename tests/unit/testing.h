/*
 * testing.h - helpers the cmocka unit tests share: model text to a catalog
 * (failing the test with the parser's message), substring assertions that
 * print both sides, and reading a data file into an arena. Included after
 * <cmocka.h>; every helper is static inline, so a test uses what it needs.
 */
#ifndef PRODATA_TESTS_TESTING_H
#define PRODATA_TESTS_TESTING_H

#include <stdio.h>
#include <string.h>

#include "prodata/arena.h"
#include "prodata/model.h"

/* Parses model text as "models.pdm"; a parse error fails the test with its message. */
static inline PdCatalog *
testing_parse(PdArena *arena, const char *text)
{
    PdCatalog *catalog = NULL;
    PdError err;
    if (!pd_model_parse(arena, "models.pdm", text, &catalog, &err))
        fail_msg("model text does not parse: %s", err.message);
    return catalog;
}

/*
 * A cmocka group fixture's body: a new arena in *arena and the model file at path (relative to the
 * repository, where the tests run) loaded into *catalog. 0, or -1 with the loader's message on stderr.
 */
static inline int
testing_load_models(const char *path, PdArena **arena, PdCatalog **catalog)
{
    PdError err = {0};
    *arena = pd_arena_new(0);
    if (*arena != NULL && pd_model_load_file(*arena, path, catalog, &err))
        return 0;
    fprintf(stderr, "setup: %s: %s\n", path, err.message);
    return -1;
}

/* The group teardown of testing_load_models' arena (or any fixture's). */
static inline int
testing_free_arena(PdArena **arena)
{
    pd_arena_free(*arena);
    *arena = NULL;
    return 0;
}

static inline void
assert_contains(const char *text, const char *part)
{
    if (text == NULL || strstr(text, part) == NULL)
        fail_msg("expected to find\n  %s\nin\n%s", part, text != NULL ? text : "(null)");
}

static inline void
assert_lacks(const char *text, const char *part)
{
    if (text != NULL && strstr(text, part) != NULL)
        fail_msg("did not expect\n  %s\nin\n%s", part, text);
}

/* The whole file, NUL-terminated, in arena; NULL when it cannot be opened. */
static inline char *
testing_read_text(PdArena *arena, const char *path)
{
    FILE *file = fopen(path, "rb");
    if (file == NULL)
        return NULL;
    fseek(file, 0, SEEK_END);
    long size = ftell(file);
    fseek(file, 0, SEEK_SET);
    char *text = size >= 0 ? pd_arena_alloc(arena, (size_t)size + 1) : NULL;
    size_t got = text != NULL ? fread(text, 1, (size_t)size, file) : 0;
    fclose(file);
    if (text != NULL)
        text[got] = '\0';
    return text;
}

#endif
