/*
 * test_cursor.c - cursors round-trip (direction, ordering, values with nulls, empty strings, unicode and
 * bytes that need escaping in a URL), come out URL-safe, and are refused as "Invalid cursor" when any
 * letter is changed, when cut short or extended, under another key, or for another ordering.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "http/cursor.h"
#include "testing.h"

static const unsigned char key[PD_CURSOR_KEY_BYTES] = "0123456789abcdef0123456789abcde";

static char *
encode(PdArena *arena, const PdCursor *cursor)
{
    char *text = NULL;
    PdError err;
    if (!pd_http_cursor_encode(arena, key, cursor, &text, &err))
        fail_msg("cursor does not encode: %s", err.message);
    return text;
}

static void
expect_invalid(PdArena *arena, const unsigned char *with_key, const char *text)
{
    PdCursor cursor = {.ordering = "untouched"};
    PdError err;
    assert_false(pd_http_cursor_decode(arena, with_key, text, &cursor, &err));
    assert_int_equal(err.code, PD_ERR_INVALID_INPUT);
    assert_string_equal(err.message, "Invalid cursor");
    assert_string_equal(err.field, "cursor");
    assert_string_equal(cursor.ordering, "untouched");
}

static void
test_roundtrip(void **state)
{
    (void)state;
    PdArena *arena = pd_arena_new(0);
    const char *values[] = {"2024-01-02T03:04:05+00:00", NULL, "", "Ünïcødé & ?=/+#%", "42"};
    PdCursor cursor = {.is_before = true, .ordering = "-published,title", .values = values, .value_count = 5};
    char *text = encode(arena, &cursor);
    for (const char *c = text; *c != '\0'; c++)
        assert_true((*c >= 'A' && *c <= 'Z') || (*c >= 'a' && *c <= 'z') || (*c >= '0' && *c <= '9') ||
                    *c == '-' || *c == '_');
    PdCursor decoded;
    PdError err;
    assert_true(pd_http_cursor_decode_for(arena, key, text, "-published,title", &decoded, &err));
    assert_true(decoded.is_before);
    assert_string_equal(decoded.ordering, "-published,title");
    assert_int_equal(decoded.value_count, 5);
    assert_string_equal(decoded.values[0], values[0]);
    assert_null(decoded.values[1]);
    assert_string_equal(decoded.values[2], "");
    assert_string_equal(decoded.values[3], values[3]);
    assert_string_equal(decoded.values[4], "42");
    /* the same cursor always gives the same text; the direction changes it */
    assert_string_equal(encode(arena, &cursor), text);
    cursor.is_before = false;
    assert_string_not_equal(encode(arena, &cursor), text);
    pd_arena_free(arena);
}

static void
test_tampered(void **state)
{
    (void)state;
    PdArena *arena = pd_arena_new(0);
    const char *values[] = {"10", "7"};
    PdCursor cursor = {.ordering = "price", .values = values, .value_count = 2};
    char *text = encode(arena, &cursor);
    size_t length = strlen(text);
    /* every single letter changed */
    for (size_t i = 0; i < length; i++)
    {
        char *altered = pd_arena_strdup(arena, text);
        altered[i] = altered[i] == 'A' ? 'B' : 'A';
        expect_invalid(arena, key, altered);
    }
    /* cut short, extended, padded, not base64url, empty */
    expect_invalid(arena, key, pd_arena_strndup(arena, text, length - 1));
    expect_invalid(arena, key, pd_arena_strndup(arena, text, length - 4));
    expect_invalid(arena, key, pd_arena_sprintf(arena, "%sAAAA", text));
    expect_invalid(arena, key, pd_arena_sprintf(arena, "%s=", text));
    expect_invalid(arena, key, "not a cursor!");
    expect_invalid(arena, key, "");
    expect_invalid(arena, key, "AAAA");
    /* another key */
    unsigned char other[PD_CURSOR_KEY_BYTES];
    memcpy(other, key, sizeof(other));
    other[0] ^= 1;
    expect_invalid(arena, other, text);
    /* another ordering */
    PdCursor decoded;
    PdError err;
    assert_false(pd_http_cursor_decode_for(arena, key, text, "-price", &decoded, &err));
    assert_string_equal(err.message, "Invalid cursor");
    assert_true(pd_http_cursor_decode_for(arena, key, text, "price", &decoded, &err));
    pd_arena_free(arena);
}

static void
test_limits_and_keys(void **state)
{
    (void)state;
    PdArena *arena = pd_arena_new(0);
    PdError err;
    char *text = NULL;
    PdCursor none = {.ordering = "", .values = NULL, .value_count = 0};
    assert_false(pd_http_cursor_encode(arena, key, &none, &text, &err));
    char *big = pd_arena_alloc(arena, PD_CURSOR_MAX_VALUE_BYTES + 2);
    memset(big, 'x', PD_CURSOR_MAX_VALUE_BYTES + 1);
    big[PD_CURSOR_MAX_VALUE_BYTES + 1] = '\0';
    const char *values[] = {big};
    PdCursor too_long = {.ordering = "", .values = values, .value_count = 1};
    assert_false(pd_http_cursor_encode(arena, key, &too_long, &text, &err));
    assert_int_equal(err.code, PD_ERR_INVALID_INPUT);
    /* a derived key is stable; a random one differs each time */
    unsigned char a[PD_CURSOR_KEY_BYTES], b[PD_CURSOR_KEY_BYTES];
    assert_true(pd_http_cursor_key("a-shared-secret", a, &err));
    assert_true(pd_http_cursor_key("a-shared-secret", b, &err));
    assert_memory_equal(a, b, sizeof(a));
    assert_true(pd_http_cursor_key("another-secret", b, &err));
    assert_memory_not_equal(a, b, sizeof(a));
    assert_true(pd_http_cursor_key(NULL, a, &err));
    assert_true(pd_http_cursor_key("", b, &err));
    assert_memory_not_equal(a, b, sizeof(a));
    pd_arena_free(arena);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_roundtrip),
        cmocka_unit_test(test_tampered),
        cmocka_unit_test(test_limits_and_keys),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
