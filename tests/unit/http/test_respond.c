/*
 * test_respond.c - the writers every response goes through: JSON strings stay valid JSON whatever bytes
 * came in (quotes, backslashes, control characters escaped; UTF-8 kept; invalid, overlong and surrogate
 * sequences become U+FFFD), URLs are percent-encoded but for RFC 3986's unreserved characters, and a
 * member of a created object's JSON is found at the top level only (not inside nested objects, arrays or
 * strings that look like keys).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "http/server.h"
#include "testing.h"

static const char *
json_of(PdArena *arena, const char *text, size_t length)
{
    PdStrbuf out;
    pd_strbuf_init(&out, arena);
    pd_http_json_string_length(&out, text, length);
    return pd_strbuf_text(&out);
}

static void
test_json_string(void **state)
{
    (void)state;
    PdArena *arena = pd_arena_new(0);
    assert_string_equal(json_of(arena, "plain", 5), "\"plain\"");
    assert_string_equal(json_of(arena, "a\"b\\c", 5), "\"a\\\"b\\\\c\"");
    assert_string_equal(json_of(arena, "\n\t\x01", 3), "\"\\u000a\\u0009\\u0001\"");
    assert_string_equal(json_of(arena, "Zoë 日本 🙂", strlen("Zoë 日本 🙂")),
                        "\"Zoë 日本 🙂\"");
    assert_string_equal(json_of(arena,
                                "a\xff"
                                "b",
                                3),
                        "\"a\\ufffdb\"");                                                /* not UTF-8 */
    assert_string_equal(json_of(arena, "\xc0\xaf", 2), "\"\\ufffd\\ufffd\"");            /* overlong '/' */
    assert_string_equal(json_of(arena, "\xed\xa0\x80", 3), "\"\\ufffd\\ufffd\\ufffd\""); /* surrogate */
    assert_string_equal(json_of(arena, "\xe6\x97", 2), "\"\\ufffd\\ufffd\"");            /* cut short */
    assert_string_equal(json_of(arena, "a\0b", 3), "\"a\\u0000b\"");
    pd_arena_free(arena);
}

static void
test_url_encode(void **state)
{
    (void)state;
    PdArena *arena = pd_arena_new(0);
    PdStrbuf out;
    pd_strbuf_init(&out, arena);
    pd_http_url_encode(&out, "a-b_c.d~e f&g=h/é'");
    assert_string_equal(pd_strbuf_text(&out), "a-b_c.d~e%20f%26g%3Dh%2F%C3%A9%27");
    pd_arena_free(arena);
}

static void
expect_member(const char *json, const char *key, const char *expected)
{
    const char *value = NULL;
    size_t length = 0;
    bool is_found = pd_http_json_member(json, strlen(json), key, &value, &length);
    if (expected == NULL)
    {
        assert_false(is_found);
        return;
    }
    assert_true(is_found);
    assert_int_equal(length, strlen(expected));
    assert_memory_equal(value, expected, length);
}

static void
test_json_member(void **state)
{
    (void)state;
    const char *json = "{\"author\": {\"id\": 9, \"name\": \"x\"}, \"note\": \"\\\"id\\\": 8\", "
                       "\"tags\": [{\"id\": 7}], \"id\" : 12 , \"uuid\":\"ab-c\"}";
    expect_member(json, "id", "12");
    expect_member(json, "uuid", "\"ab-c\"");
    expect_member(json, "author", "{\"id\": 9, \"name\": \"x\"}");
    expect_member(json, "tags", "[{\"id\": 7}]");
    expect_member(json, "name", NULL); /* only nested */
    expect_member("[1, 2]", "id", NULL);
    expect_member("{\"id\": ", "id", "");
    expect_member("", "id", NULL);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_json_string),
        cmocka_unit_test(test_url_encode),
        cmocka_unit_test(test_json_member),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
