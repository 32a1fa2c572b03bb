/*
 * fuzz.h - what the libFuzzer targets share: the entry point's prototype (the
 * build warns on a function without one), copying the input into a
 * NUL-terminated string, and failing loudly when an invariant breaks, so
 * libFuzzer keeps the input that broke it. Each target runs in one arena per
 * input, freed before it returns.
 */
#ifndef PRODATA_TESTS_FUZZ_H
#define PRODATA_TESTS_FUZZ_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "prodata/arena.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* The bookstore models the query-string and lookup targets parse their inputs against. */
#define FUZZ_BOOKSTORE_MODELS                                                                                \
    "model Author {\n"                                                                                       \
    "  name     string(200)   search\n"                                                                      \
    "  email    email          unique\n"                                                                     \
    "  born     date           null\n"                                                                       \
    "}\n"                                                                                                    \
    "model Tag {\n"                                                                                          \
    "  name  slug(40)  unique\n"                                                                             \
    "}\n"                                                                                                    \
    "model Book {\n"                                                                                         \
    "  title      string(300)   index  search\n"                                                             \
    "  author     Author        related=books\n"                                                             \
    "  price      decimal(8,2)  default=0  check(>= 0)\n"                                                    \
    "  published  timestamptz   default=now\n"                                                               \
    "  in_stock   bool          default=true\n"                                                              \
    "  meta       json          null\n"                                                                      \
    "  tags       Tag[]\n"                                                                                   \
    "}\n"

/* The input as a C string in arena (a NUL byte inside ends it early, as it would for a file read as text). */
static inline char *
fuzz_text(PdArena *arena, const uint8_t *data, size_t size)
{
    char *text = pd_arena_alloc(arena, size + 1);
    if (text == NULL)
        abort();
    memcpy(text, data, size);
    text[size] = '\0';
    return text;
}

/* An invariant broke: say which, then abort so libFuzzer saves the input. */
#define FUZZ_ASSERT(condition, ...)                                                                          \
    do                                                                                                       \
    {                                                                                                        \
        if (!(condition))                                                                                    \
        {                                                                                                    \
            fprintf(stderr, "fuzz invariant broken: " __VA_ARGS__);                                          \
            fputc('\n', stderr);                                                                             \
            abort();                                                                                         \
        }                                                                                                    \
    } while (0)

#endif
