/*
 * test_error.c - the structure an error carries beside its text: the raise
 * site recorded by the pd_error_set macro, position and field, retryability,
 * the collected problem list with its cap, and the new code's exit and HTTP
 * mapping.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "prodata/error.h"

static void
test_error_set_records_the_raise_site(void **state)
{
    (void)state;
    PdError err;
    int line = __LINE__ + 1;
    assert_false(pd_error_set(&err, PD_ERR_IO, "cannot read \"%s\"", "x.pdm"));
    assert_string_equal(err.message, "cannot read \"x.pdm\"");
    assert_non_null(err.raise_file);
    assert_non_null(strstr(err.raise_file, "test_error.c"));
    assert_int_equal(err.raise_line, line);
    assert_string_equal(err.raise_function, "test_error_set_records_the_raise_site");
    /* A message without arguments still goes through the macro. */
    assert_false(pd_error_set(&err, PD_ERR_INTERNAL, "plain"));
    assert_string_equal(err.message, "plain");
    assert_false(pd_error_set(NULL, PD_ERR_INTERNAL, "no error to fill"));
}

static void
test_error_set_clears_structure(void **state)
{
    (void)state;
    PdError err;
    pd_error_set(&err, PD_ERR_DB_QUERY, "first");
    pd_error_field(&err, "column %s", "title");
    pd_error_constraint(&err, "book_title_key");
    pd_error_position(&err, "shop.pdm", 3, 7);
    pd_error_add_problem(&err, "shop.pdm", 4, 1, NULL, "another");
    assert_string_equal(err.field, "column title");
    assert_string_equal(err.constraint, "book_title_key");
    assert_int_equal(err.pos.line, 3);
    pd_error_set(&err, PD_ERR_IO, "second");
    assert_string_equal(err.field, "");
    assert_string_equal(err.constraint, "");
    assert_int_equal(err.pos.line, 0);
    assert_int_equal(err.problem_count, 0);
    assert_false(err.is_retryable);
}

static void
test_error_retryable_codes(void **state)
{
    (void)state;
    PdError err;
    pd_error_set(&err, PD_ERR_LOCK_TIMEOUT, "lock not granted");
    assert_true(pd_error_is_retryable(&err));
    pd_error_set(&err, PD_ERR_DB_GONE, "server closed the connection");
    assert_true(pd_error_is_retryable(&err));
    pd_error_set(&err, PD_ERR_DB_QUERY, "deadlock detected");
    assert_false(pd_error_is_retryable(&err));
    err.is_retryable = true; /* as db does for 40001 and 40P01 */
    assert_true(pd_error_is_retryable(&err));
    pd_error_set(&err, PD_ERR_INVALID_INPUT, "bad");
    assert_false(pd_error_is_retryable(&err));
    assert_false(pd_error_is_retryable(NULL));
    assert_int_equal(pd_error_exit_code(PD_ERR_DB_GONE), 1);
    assert_int_equal(pd_error_http_status(PD_ERR_DB_GONE), 503);
    assert_string_equal(pd_error_code_name(PD_ERR_DB_GONE), "database gone");
    assert_int_equal(pd_error_http_status(PD_ERR_MULTIPLE), 409);
    assert_int_equal(pd_error_http_status(PD_ERR_UNAUTHORIZED), 401);
    assert_int_equal(pd_error_http_status(PD_ERR_FORBIDDEN), 403);
    assert_int_equal(pd_error_http_status(PD_ERR_RATE_LIMITED), 429);
    assert_int_equal(pd_error_http_status(PD_ERR_ROLLED_BACK), 503);
    pd_error_set(&err, PD_ERR_ROLLED_BACK, "again");
    assert_true(pd_error_is_retryable(&err));
    assert_int_equal(pd_error_http_status(PD_ERR_DCS_UNKNOWN), 503);
    assert_string_equal(pd_error_code_name(PD_ERR_DCS_UNKNOWN), "dcs unknown");
    pd_error_set(&err, PD_ERR_DCS_UNKNOWN, "etcd timed out");
    assert_true(pd_error_is_retryable(&err));
    assert_string_equal(pd_error_code_name((PdErrorCode)999), "internal");
}

static void
test_error_position_and_field(void **state)
{
    (void)state;
    PdError err;
    pd_error_set(&err, PD_ERR_INVALID_INPUT, "unclosed \"{\"");
    assert_false(pd_error_position(&err, "models/shop.pdm", 12, 5));
    assert_false(pd_error_field(&err, "%s.%s", "book", "title"));
    assert_string_equal(err.pos.file, "models/shop.pdm");
    assert_int_equal(err.pos.line, 12);
    assert_int_equal(err.pos.column, 5);
    assert_string_equal(err.field, "book.title");
    char where[64];
    assert_int_equal(pd_error_format_position(&err.pos, where, sizeof(where)),
                     strlen("models/shop.pdm:12:5"));
    assert_string_equal(where, "models/shop.pdm:12:5");
    pd_error_position(&err, NULL, 9, 0);
    pd_error_format_position(&err.pos, where, sizeof(where));
    assert_string_equal(where, "input:9");
    pd_error_position(&err, "x", 0, 0);
    assert_int_equal(pd_error_format_position(&err.pos, where, sizeof(where)), 0);
    assert_string_equal(where, "");
    /* A file name longer than the buffer is cut, never overflowed. */
    char long_name[600];
    memset(long_name, 'f', sizeof(long_name) - 1);
    long_name[sizeof(long_name) - 1] = '\0';
    pd_error_position(&err, long_name, 1, 1);
    assert_int_equal(strlen(err.pos.file), sizeof(err.pos.file) - 1);
}

static void
test_error_collects_problems(void **state)
{
    (void)state;
    PdError err;
    pd_error_clear(&err);
    int line = __LINE__ + 1;
    assert_false(pd_error_add_problem(&err, "shop.pdm", 3, 5, "book.price", "unknown type \"%s\"", "strng"));
    assert_false(pd_error_add_problem(&err, "shop.pdm", 9, 1, NULL, "unclosed \"{\" of model %s", "author"));
    assert_int_equal(err.code, PD_ERR_INVALID_INPUT);
    assert_string_equal(err.message, "shop.pdm:3:5: unknown type \"strng\"");
    assert_string_equal(err.field, "book.price");
    assert_int_equal(err.pos.line, 3);
    assert_int_equal(err.raise_line, line);
    assert_int_equal(err.problem_count, 2);
    assert_string_equal(err.problems[0].message, "unknown type \"strng\"");
    assert_string_equal(err.problems[0].field, "book.price");
    assert_string_equal(err.problems[1].pos.file, "shop.pdm");
    assert_int_equal(err.problems[1].pos.line, 9);
    assert_string_equal(err.problems[1].field, "");
    assert_string_equal(err.problems[1].message, "unclosed \"{\" of model author");
    assert_int_equal(err.problems_omitted, 0);
}

static void
test_error_problems_are_capped(void **state)
{
    (void)state;
    PdError err;
    pd_error_clear(&err);
    for (int i = 1; i <= PD_ERROR_MAX_PROBLEMS + 5; i++)
        pd_error_add_problem(&err, "big.pdm", i, 1, NULL, "problem %d", i);
    assert_int_equal(err.problem_count, PD_ERROR_MAX_PROBLEMS);
    assert_int_equal(err.problems_omitted, 5);
    assert_string_equal(err.problems[PD_ERROR_MAX_PROBLEMS - 1].message, "problem 16");
    assert_string_equal(err.message, "big.pdm:1:1: problem 1");
}

/* An error raised the old way (one positioned message) becomes problems[0] when more are added. */
static void
test_error_problem_after_a_raised_error(void **state)
{
    (void)state;
    PdError err;
    pd_error_set(&err, PD_ERR_INVALID_INPUT, "a.pdm:1:2: first");
    pd_error_position(&err, "a.pdm", 1, 2);
    pd_error_add_problem(&err, "a.pdm", 5, 6, "x", "second");
    assert_string_equal(err.message, "a.pdm:1:2: first");
    assert_int_equal(err.problem_count, 2);
    assert_string_equal(err.problems[0].message, "a.pdm:1:2: first");
    assert_int_equal(err.problems[0].pos.line, 1);
    assert_string_equal(err.problems[1].message, "second");
    assert_int_equal(err.problems[1].pos.column, 6);
}

/* Whether text is well-formed UTF-8 (no cut sequence, no stray continuation byte). */
static bool
is_utf8(const char *text)
{
    const unsigned char *c = (const unsigned char *)text;
    while (*c != '\0')
    {
        size_t length = *c < 0x80 ? 1 : *c >= 0xf0 ? 4 : *c >= 0xe0 ? 3 : *c >= 0xc0 ? 2 : 0;
        if (length == 0)
            return false;
        for (size_t i = 1; i < length; i++)
            if ((c[i] & 0xc0) != 0x80)
                return false;
        c += length;
    }
    return true;
}

/* n copies of piece, in buf. */
static const char *
repeat(char *buf, size_t size, const char *piece, size_t n)
{
    buf[0] = '\0';
    for (size_t i = 0; i < n && strlen(buf) + strlen(piece) < size; i++)
        strcat(buf, piece);
    return buf;
}

/* A text longer than its buffer is cut before the character the cut would split (a JSON encoder refuses
 * broken UTF-8: the HTTP layer sends these texts as they are). */
static void
test_error_truncation_keeps_whole_characters(void **state)
{
    (void)state;
    char two[2048], three[2048];
    repeat(two, sizeof(two), "\xc3\xa9", 600);         /* é: 2 bytes */
    repeat(three, sizeof(three), "\xe2\x82\xac", 600); /* €: 3 bytes */
    PdError err;
    pd_error_set(&err, PD_ERR_INVALID_INPUT, "%s", two);
    assert_true(is_utf8(err.message));
    assert_int_equal(strlen(err.message), 254);
    pd_error_detail(&err, "%s", two);
    assert_true(is_utf8(err.detail));
    pd_error_hint(&err, "x%s", three);
    assert_true(is_utf8(err.hint));
    pd_error_field(&err, "%s", two);
    assert_true(is_utf8(err.field));
    pd_error_constraint(&err, two);
    assert_true(is_utf8(err.constraint));
    pd_error_context(&err, "%s", three);
    assert_true(is_utf8(err.context));
    pd_error_position(&err, two, 1, 1);
    assert_true(is_utf8(err.pos.file));

    PdError problems = {0};
    pd_error_add_problem(&problems, "a.pdm", 1, 2, two, "%s", three);
    pd_error_add_problem(&problems, "a.pdm", 3, 4, NULL, "x%s", three);
    assert_true(is_utf8(problems.message));
    assert_true(is_utf8(problems.field));
    assert_true(is_utf8(problems.problems[0].message));
    assert_true(is_utf8(problems.problems[0].field));
    assert_true(is_utf8(problems.problems[1].message));
    assert_int_equal(strlen(problems.problems[1].message), 199); /* "x" and 66 whole euros */
}

/* A full context takes no more entries: none is glued on without its separator, none leaves a dangling "; ".
 */
static void
test_error_context_when_full(void **state)
{
    (void)state;
    char filler[600];
    PdError err = {0};
    pd_error_context(&err, "%s", repeat(filler, sizeof(filler), "x", 510));
    pd_error_context(&err, "next");
    assert_string_equal(err.context, filler);
    pd_error_clear(&err);
    pd_error_context(&err, "%s", repeat(filler, sizeof(filler), "x", 509));
    pd_error_context(&err, "next");
    assert_string_equal(err.context, filler);
}

/* As snprintf: the length needed, also when the buffer is empty. */
static void
test_error_format_position_needs(void **state)
{
    (void)state;
    PdErrorPos pos = {"a.pdm", 3, 4};
    char buf[4];
    assert_int_equal(pd_error_format_position(&pos, buf, 0), strlen("a.pdm:3:4"));
    assert_int_equal(pd_error_format_position(&pos, buf, sizeof(buf)), strlen("a.pdm:3:4"));
    assert_string_equal(buf, "a.p");
}

/* pd_error_init over memory full of garbage gives what = {0} gives to every reader and pd_error_ function. */
static void
test_error_init_is_an_empty_error(void **state)
{
    (void)state;
    PdError err;
    memset(&err, 0xA5, sizeof(err));
    pd_error_init(&err);
    assert_int_equal(err.code, PD_OK);
    assert_string_equal(err.message, "");
    assert_string_equal(err.detail, "");
    assert_string_equal(err.hint, "");
    assert_string_equal(err.context, "");
    assert_string_equal(err.sqlstate, "");
    assert_string_equal(err.field, "");
    assert_string_equal(err.constraint, "");
    assert_int_equal(err.pos.line, 0);
    assert_false(err.is_retryable);
    assert_int_equal(err.problem_count, 0);
    assert_int_equal(err.problems_omitted, 0);
    /* collect-then-report starts from it as from a cleared error */
    pd_error_add_problem(&err, "m.pdm", 3, 4, "title", "first");
    pd_error_add_problem(&err, "m.pdm", 5, 1, "price", "second");
    assert_int_equal(err.code, PD_ERR_INVALID_INPUT);
    assert_int_equal(err.problem_count, 2);
    assert_string_equal(err.problems[0].field, "title");
    assert_string_equal(err.problems[1].message, "second");
    assert_string_equal(err.detail, "");
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_error_set_records_the_raise_site),
        cmocka_unit_test(test_error_set_clears_structure),
        cmocka_unit_test(test_error_init_is_an_empty_error),
        cmocka_unit_test(test_error_retryable_codes),
        cmocka_unit_test(test_error_position_and_field),
        cmocka_unit_test(test_error_collects_problems),
        cmocka_unit_test(test_error_problems_are_capped),
        cmocka_unit_test(test_error_problem_after_a_raised_error),
        cmocka_unit_test(test_error_truncation_keeps_whole_characters),
        cmocka_unit_test(test_error_context_when_full),
        cmocka_unit_test(test_error_format_position_needs),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
