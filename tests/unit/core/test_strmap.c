/*
 * test_strmap.c - the string map: many keys with growth, absent keys, keys
 * sharing prefixes or differing only in length, keys that are not
 * NUL-terminated, replacement, NULL values, iteration, and a budget that
 * runs out while growing.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "prodata/arena.h"
#include "prodata/strmap.h"

static void
test_strmap_many_keys(void **state)
{
    (void)state;
    PdArena *arena = pd_arena_new(0);
    PdStrmap *map = pd_strmap_new(arena, 0);
    assert_non_null(map);
    enum
    {
        COUNT = 100000
    };
    char **keys = pd_arena_calloc(arena, COUNT, sizeof(char *));
    for (size_t i = 0; i < COUNT; i++)
    {
        keys[i] = pd_arena_sprintf(arena, "model_%zu", i);
        assert_true(pd_strmap_put(map, keys[i], &keys[i]));
    }
    assert_int_equal(pd_strmap_count(map), COUNT);
    for (size_t i = 0; i < COUNT; i++)
        assert_ptr_equal(pd_strmap_get(map, keys[i]), &keys[i]);
    /* Absent keys, also looked up with a copy (not the same pointer) of present ones. */
    char probe[32];
    for (size_t i = 0; i < COUNT; i++)
    {
        snprintf(probe, sizeof(probe), "field_%zu", i);
        assert_null(pd_strmap_get(map, probe));
        assert_false(pd_strmap_contains(map, probe));
        snprintf(probe, sizeof(probe), "model_%zu", i);
        assert_ptr_equal(pd_strmap_get(map, probe), &keys[i]);
    }
    assert_null(pd_strmap_get(map, ""));
    assert_null(pd_strmap_get(map, "model_100000"));
    pd_arena_free(arena);
}

static void
test_strmap_prefixes_and_lengths(void **state)
{
    (void)state;
    PdArena *arena = pd_arena_new(0);
    PdStrmap *map = pd_strmap_new(arena, 4);
    static int a, ab, abc, empty;
    assert_true(pd_strmap_put(map, "ab", &ab));
    assert_true(pd_strmap_put(map, "abc", &abc));
    assert_true(pd_strmap_put(map, "a", &a));
    assert_true(pd_strmap_put(map, "", &empty));
    assert_ptr_equal(pd_strmap_get(map, "a"), &a);
    assert_ptr_equal(pd_strmap_get(map, "ab"), &ab);
    assert_ptr_equal(pd_strmap_get(map, "abc"), &abc);
    assert_ptr_equal(pd_strmap_get(map, ""), &empty);
    assert_null(pd_strmap_get(map, "abcd"));
    assert_null(pd_strmap_get(map, "b"));
    /* Lengths slice a longer buffer: the bytes past the length are not part of the key. */
    const char *buffer = "abcdef";
    assert_ptr_equal(pd_strmap_get_length(map, buffer, 1), &a);
    assert_ptr_equal(pd_strmap_get_length(map, buffer, 2), &ab);
    assert_ptr_equal(pd_strmap_get_length(map, buffer, 3), &abc);
    assert_null(pd_strmap_get_length(map, buffer, 4));
    assert_ptr_equal(pd_strmap_get_length(map, buffer, 0), &empty);
    /* Embedded NUL bytes are part of a key given by length. */
    static int with_nul;
    assert_true(pd_strmap_put_length(map, "a\0z", 3, &with_nul));
    assert_ptr_equal(pd_strmap_get_length(map, "a\0z", 3), &with_nul);
    assert_ptr_equal(pd_strmap_get(map, "a"), &a);
    assert_int_equal(pd_strmap_count(map), 5);
    pd_arena_free(arena);
}

static void
test_strmap_non_terminated_keys(void **state)
{
    (void)state;
    PdArena *arena = pd_arena_new(0);
    PdStrmap *map = pd_strmap_new(arena, 0);
    /* Names taken straight out of a source text, as a lexer would: no NUL after each. */
    const char text[] = {'b', 'o', 'o', 'k', 'a', 'u', 't', 'h', 'o', 'r', 'b', 'o', 'o', 'k'};
    static int book, author;
    assert_true(pd_strmap_put_length(map, text, 4, &book));
    assert_true(pd_strmap_put_length(map, text + 4, 6, &author));
    assert_ptr_equal(pd_strmap_get(map, "book"), &book);
    assert_ptr_equal(pd_strmap_get(map, "author"), &author);
    assert_true(pd_strmap_contains_length(map, text + 10, 4));
    /* The second "book" replaces the value of the first key. */
    static int book_again;
    assert_true(pd_strmap_put_length(map, text + 10, 4, &book_again));
    assert_ptr_equal(pd_strmap_get(map, "book"), &book_again);
    assert_int_equal(pd_strmap_count(map), 2);
    pd_arena_free(arena);
}

static void
test_strmap_null_values_and_iteration(void **state)
{
    (void)state;
    PdArena *arena = pd_arena_new(0);
    PdStrmap *map = pd_strmap_new(arena, 0);
    assert_true(pd_strmap_put(map, "set_member", NULL));
    assert_true(pd_strmap_contains(map, "set_member"));
    assert_null(pd_strmap_get(map, "set_member"));
    for (int i = 0; i < 20; i++)
        assert_true(pd_strmap_put(map, pd_arena_sprintf(arena, "k%d", i), map));
    size_t cursor = 0, seen = 0, nulls = 0;
    const char *key;
    size_t length;
    void *value;
    while (pd_strmap_next(map, &cursor, &key, &length, &value))
    {
        assert_int_equal(strlen(key), length);
        seen++;
        nulls += value == NULL;
    }
    assert_int_equal(seen, 21);
    assert_int_equal(nulls, 1);
    pd_arena_free(arena);
}

static void
test_strmap_exhaustion_is_a_value(void **state)
{
    (void)state;
    PdArena *arena = pd_arena_new(2048);
    PdStrmap *map = pd_strmap_new(arena, 0);
    assert_non_null(map);
    size_t put = 0;
    static const char *names[] = {"a", "b", "c", "d", "e", "f", "g", "h", "i", "j", "k", "l", "m",
                                  "n", "o", "p", "q", "r", "s", "t", "u", "v", "w", "x", "y", "z"};
    bool ok = true;
    for (size_t i = 0; i < 26 && ok; i++)
    {
        ok = pd_strmap_put(map, names[i], NULL);
        put += ok;
    }
    /* Growing from 32 to 64 slots does not fit 2,048 bytes: refused, and what was put is still there. */
    assert_int_equal(put, 22);
    assert_false(ok);
    assert_true(pd_arena_failed(arena));
    assert_int_equal(pd_strmap_count(map), put);
    for (size_t i = 0; i < put; i++)
        assert_true(pd_strmap_contains(map, names[i]));
    assert_null(pd_strmap_new(arena, SIZE_MAX / 2));
    pd_arena_free(arena);
}

/* The empty key given as (NULL, 0), as an empty slice often is: a NULL key marked an empty slot, so it was
 * counted on every put and never found. */
static void
test_strmap_empty_key_without_pointer(void **state)
{
    (void)state;
    PdArena *arena = pd_arena_new(0);
    PdStrmap *map = pd_strmap_new(arena, 0);
    int first, second;
    assert_true(pd_strmap_put_length(map, NULL, 0, &first));
    assert_true(pd_strmap_put_length(map, NULL, 0, &second));
    assert_int_equal(pd_strmap_count(map), 1);
    assert_true(pd_strmap_contains_length(map, NULL, 0));
    assert_ptr_equal(pd_strmap_get(map, ""), &second);
    size_t cursor = 0, length = 99;
    const char *key = NULL;
    assert_true(pd_strmap_next(map, &cursor, &key, &length, NULL));
    assert_non_null(key);
    assert_int_equal(length, 0);
    pd_arena_free(arena);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_strmap_many_keys),
        cmocka_unit_test(test_strmap_prefixes_and_lengths),
        cmocka_unit_test(test_strmap_non_terminated_keys),
        cmocka_unit_test(test_strmap_null_values_and_iteration),
        cmocka_unit_test(test_strmap_exhaustion_is_a_value),
        cmocka_unit_test(test_strmap_empty_key_without_pointer),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
