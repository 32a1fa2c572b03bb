/*
 * test_log.c - the log module: silent until a handler is installed, levels
 * filtered by the minimum, fields passed through, key=value formatting with
 * quoting and escapes, truncation reported as snprintf does, and many threads
 * logging at once through one handler.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "prodata/log.h"

typedef struct Captured
{
    pthread_mutex_t lock;
    int calls;
    PdLogLevel level;
    char line[512];
} Captured;

static void
capture(PdLogLevel level, const char *message, const PdLogField *fields, size_t field_count, void *data)
{
    Captured *captured = data;
    pthread_mutex_lock(&captured->lock);
    captured->calls++;
    captured->level = level;
    pd_log_format(captured->line, sizeof(captured->line), level, message, fields, field_count);
    pthread_mutex_unlock(&captured->lock);
}

static void
test_log_is_silent_by_default(void **state)
{
    (void)state;
    for (int level = PD_LOG_DEBUG; level <= PD_LOG_ERROR; level++)
        assert_false(pd_log_enabled((PdLogLevel)level));
    pd_log(PD_LOG_ERROR, "nobody listens", NULL, 0); /* no handler: nothing happens, nothing crashes */
    pd_logf(PD_LOG_ERROR, "nor %s", "here");
}

static void
test_log_levels_and_fields_reach_the_handler(void **state)
{
    (void)state;
    Captured captured = {PTHREAD_MUTEX_INITIALIZER, 0, PD_LOG_DEBUG, ""};
    pd_log_set_handler(capture, &captured, PD_LOG_NOTICE);
    assert_false(pd_log_enabled(PD_LOG_INFO));
    assert_true(pd_log_enabled(PD_LOG_NOTICE));
    pd_log(PD_LOG_INFO, "below the minimum", NULL, 0);
    assert_int_equal(captured.calls, 0);
    PdLogField fields[] = {{"migration", "0003_books"}, {"elapsed_ms", "12"}};
    pd_log(PD_LOG_WARNING, "applied migration", fields, 2);
    assert_int_equal(captured.calls, 1);
    assert_int_equal(captured.level, PD_LOG_WARNING);
    assert_string_equal(captured.line,
                        "level=warning msg=\"applied migration\" migration=0003_books elapsed_ms=12");
    pd_logf(PD_LOG_ERROR, "retry %d of %d", 2, 5);
    assert_string_equal(captured.line, "level=error msg=\"retry 2 of 5\"");
    pd_log_set_handler(NULL, NULL, PD_LOG_DEBUG); /* back to silence, whatever the level */
    assert_false(pd_log_enabled(PD_LOG_ERROR));
    pd_log(PD_LOG_ERROR, "after", NULL, 0);
    assert_int_equal(captured.calls, 2);
}

static void
test_log_format_quotes_and_escapes(void **state)
{
    (void)state;
    char line[256];
    PdLogField fields[] = {
        {"plain", "abc"},
        {"space", "a b"},
        {"quote", "say \"hi\""},
        {"equals", "a=b"},
        {"newline", "a\nb"},
        {"control", "\x01"},
        {"empty", ""},
        {"null", NULL},
        {"bad key=x", "v"},
        {"slash", "a\\b"},
        {"slash_quoted", "a \\b"},
    };
    pd_log_format(line, sizeof(line), PD_LOG_INFO, "done", fields, sizeof(fields) / sizeof(fields[0]));
    assert_string_equal(line, "level=info msg=done plain=abc space=\"a b\" quote=\"say \\\"hi\\\"\" "
                              "equals=\"a=b\" newline=\"a\\nb\" control=\"\\x01\" empty=\"\" null=\"\" "
                              "bad_key_x=v slash=a\\b slash_quoted=\"a \\\\b\"");
    assert_string_equal(pd_log_level_name(PD_LOG_DEBUG), "debug");
    assert_string_equal(pd_log_level_name(PD_LOG_NOTICE), "notice");
    assert_string_equal(pd_log_level_name((PdLogLevel)42), "unknown");
}

static void
test_log_format_reports_truncation(void **state)
{
    (void)state;
    char full[128];
    size_t needed = pd_log_format(full, sizeof(full), PD_LOG_INFO, "a message", NULL, 0);
    assert_int_equal(needed, strlen("level=info msg=\"a message\""));
    assert_string_equal(full, "level=info msg=\"a message\"");
    char small[8];
    memset(small, 'x', sizeof(small));
    assert_int_equal(pd_log_format(small, sizeof(small), PD_LOG_INFO, "a message", NULL, 0), needed);
    assert_string_equal(small, "level=i");
    assert_int_equal(pd_log_format(NULL, 0, PD_LOG_INFO, "a message", NULL, 0), needed);
}

/* The raw message a handler gets. */
static char last_message[2048];

static void
keep_message(PdLogLevel level, const char *message, const PdLogField *fields, size_t field_count, void *data)
{
    (void)level, (void)fields, (void)field_count, (void)data;
    snprintf(last_message, sizeof(last_message), "%s", message);
}

/* A cut line or message ends before the character the cut would split (é is 2 bytes, € is 3). */
static void
test_log_cut_keeps_whole_characters(void **state)
{
    (void)state;
    char line[19]; /* "level=info msg=" and 3 bytes */
    size_t needed = pd_log_format(line, sizeof(line), PD_LOG_INFO, "\xc3\xa9\xc3\xa9\xc3\xa9", NULL, 0);
    assert_int_equal(needed, strlen("level=info msg=") + 6);
    assert_string_equal(line, "level=info msg=\xc3\xa9");
    char euro[21]; /* 5 bytes of the second € would be cut after its first two */
    pd_log_format(euro, sizeof(euro), PD_LOG_INFO, "\xe2\x82\xac\xe2\x82\xac", NULL, 0);
    assert_string_equal(euro, "level=info msg=\xe2\x82\xac");

    char long_text[1500] = "";
    for (int i = 0; i < 600; i++)
        strcat(long_text, "\xc3\xa9");
    pd_log_set_handler(keep_message, NULL, PD_LOG_DEBUG);
    pd_logf(PD_LOG_INFO, "%s", long_text);
    pd_log_set_handler(NULL, NULL, PD_LOG_DEBUG);
    assert_int_equal(strlen(last_message), 1022); /* 511 whole characters of the 1,023 bytes kept */
}

static Captured shared = {PTHREAD_MUTEX_INITIALIZER, 0, PD_LOG_DEBUG, ""};

static void *
log_many(void *arg)
{
    (void)arg;
    for (int i = 0; i < 1000; i++)
    {
        char value[16];
        snprintf(value, sizeof(value), "%d", i);
        PdLogField field = {"i", value};
        pd_log(PD_LOG_INFO, "from a thread", &field, 1);
    }
    return NULL;
}

static void
test_log_from_many_threads(void **state)
{
    (void)state;
    pd_log_set_handler(capture, &shared, PD_LOG_DEBUG);
    pthread_t threads[4];
    for (int i = 0; i < 4; i++)
        assert_int_equal(pthread_create(&threads[i], NULL, log_many, NULL), 0);
    for (int i = 0; i < 4; i++)
        pthread_join(threads[i], NULL);
    pd_log_set_handler(NULL, NULL, PD_LOG_DEBUG);
    assert_int_equal(shared.calls, 4000);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_log_is_silent_by_default),
        cmocka_unit_test(test_log_levels_and_fields_reach_the_handler),
        cmocka_unit_test(test_log_format_quotes_and_escapes),
        cmocka_unit_test(test_log_format_reports_truncation),
        cmocka_unit_test(test_log_cut_keeps_whole_characters),
        cmocka_unit_test(test_log_from_many_threads),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
