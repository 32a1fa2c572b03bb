/*
 * test_history.c - the failover history as `prodata cluster history` and
 * `status` read it: a document as the keeper appends it, read back whole;
 * every way an entry can be wrong refused, naming the entry and its field.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>

#include <cmocka.h>

#include "ha/history.h"
#include "testing.h"

static bool
parse(PdArena *arena, const char *text, PdHistoryEntry **entries, size_t *count, PdError *err)
{
    return pd_history_parse(arena, text, strlen(text), entries, count, err);
}

static void
test_read(void **state)
{
    (void)state;
    PdArena *arena = pd_arena_new(0);
    PdError err = {0};
    PdHistoryEntry *entries = NULL;
    size_t count = 9;
    assert_true(parse(arena, "[]", &entries, &count, &err));
    assert_int_equal(count, 0);
    assert_true(parse(
        arena,
        "[{\"at_ms\":1764489600123,\"from\":\"n1\",\"to\":\"n2\",\"reason\":\"failover\",\"timeline\":4,"
        "\"lsn\":\"0/5000060\"},{\"lsn\":\"1/0\",\"timeline\":5,\"reason\":\"switchover\",\"to\":\"n1\","
        "\"from\":\"\",\"at_ms\":1764489700000}]",
        &entries, &count, &err));
    assert_int_equal(count, 2);
    assert_int_equal(entries[0].at_ms, 1764489600123);
    assert_string_equal(entries[0].from, "n1");
    assert_string_equal(entries[0].to, "n2");
    assert_string_equal(entries[0].reason, "failover");
    assert_int_equal(entries[0].timeline, 4);
    assert_int_equal(entries[0].lsn, 0x5000060);
    assert_string_equal(entries[1].from, "");
    assert_int_equal(entries[1].lsn, (uint64_t)1 << 32);
    pd_arena_free(arena);
}

static void
test_refused(void **state)
{
    (void)state;
    PdArena *arena = pd_arena_new(0);
    PdError err = {0};
    PdHistoryEntry *entries = (PdHistoryEntry *)&err; /* untouched on failure */
    size_t count = 7;
    const char *good =
        "{\"at_ms\":1,\"from\":\"n1\",\"to\":\"n2\",\"reason\":\"failover\",\"timeline\":4,\"lsn\":\"0/1\"}";
    struct
    {
        const char *entry;
        const char *field;
    } bad[] = {
        {"3", "[1].entry"},
        {"{\"at_ms\":-1,\"from\":\"n1\",\"to\":\"n2\",\"reason\":\"failover\",\"timeline\":4,\"lsn\":\"0/"
         "1\"}",
         "[1].at_ms"},
        {"{\"at_ms\":1,\"from\":\"N1\",\"to\":\"n2\",\"reason\":\"failover\",\"timeline\":4,\"lsn\":\"0/1\"}",
         "[1].from"},
        {"{\"at_ms\":1,\"from\":\"n1\",\"to\":\"\",\"reason\":\"failover\",\"timeline\":4,\"lsn\":\"0/1\"}",
         "[1].to"},
        {"{\"at_ms\":1,\"from\":\"n1\",\"to\":\"n2\",\"reason\":\"oops\",\"timeline\":4,\"lsn\":\"0/1\"}",
         "[1].reason"},
        {"{\"at_ms\":1,\"from\":\"n1\",\"to\":\"n2\",\"reason\":\"manual\",\"timeline\":0,\"lsn\":\"0/1\"}",
         "[1].timeline"},
        {"{\"at_ms\":1,\"from\":\"n1\",\"to\":\"n2\",\"reason\":\"manual\",\"timeline\":2,\"lsn\":\"x\"}",
         "[1].lsn"},
        {"{\"at_ms\":1,\"from\":\"n1\",\"to\":\"n2\",\"reason\":\"manual\",\"timeline\":2}", "[1].lsn"},
        {"{\"at_ms\":1,\"from\":\"n1\",\"to\":\"n2\",\"reason\":\"manual\",\"timeline\":2,\"lsn\":\"0/"
         "1\",\"x\":1}",
         "[1].x"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
    {
        char *text = pd_arena_sprintf(arena, "[%s,%s]", good, bad[i].entry);
        if (parse(arena, text, &entries, &count, &err))
            fail_msg("accepted: %s", bad[i].entry);
        assert_int_equal(err.code, PD_ERR_INVALID_INPUT);
        assert_string_equal(err.field, bad[i].field);
        assert_contains(err.message, "the history's entry 1:");
    }
    const char *not_arrays[] = {"", "{}", "[", "[1] x", "null"};
    for (size_t i = 0; i < sizeof not_arrays / sizeof not_arrays[0]; i++)
    {
        assert_false(parse(arena, not_arrays[i], &entries, &count, &err));
        assert_contains(err.message, "the history is not a JSON array");
    }
    assert_int_equal(count, 7);
    assert_ptr_equal(entries, (PdHistoryEntry *)&err);
    pd_arena_free(arena);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {cmocka_unit_test(test_read), cmocka_unit_test(test_refused)};
    return cmocka_run_group_tests(tests, NULL, NULL);
}
