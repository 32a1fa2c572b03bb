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
