/*
 * test_settings.c - the settings loader without a process environment: every
 * table's defaults parse, values come with their source, precedence default
 * < file < environment < command line, durations with units, every problem
 * reported at once with its place, secrets refused on the command line and
 * masked when shown, names suggested for typos, and the reference table.
 */
#include <limits.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "prodata/settings.h"
#include "testing.h"

static const PdSettingTable *const tables[] = {&pd_settings_migrate};

static void
test_every_table_is_well_formed(void **state)
{
    (void)state;
    for (size_t t = 0; t < sizeof(tables) / sizeof(tables[0]); t++)
    {
        const PdSettingTable *table = tables[t];
        for (size_t i = 0; i < table->count; i++)
        {
            const PdSetting *setting = &table->settings[i];
            assert_true(strlen(setting->name) <= 63);
            assert_non_null(setting->description);
            assert_true(setting->min_value <= setting->max_value);
            assert_true(setting->min_value >= INT_MIN && setting->max_value <= INT_MAX);
            assert_true(setting->type != PD_SETTING_ENUM || setting->choices != NULL);
            assert_ptr_equal(pd_settings_find(table, setting->name), setting);
        }
        PdArena *arena = pd_arena_new(0);
        union
        {
            PdMigrateSettings migrate;
            max_align_t room[64]; /* any surface's struct */
        } values;
        PdSettings settings;
        PdError err;
        if (!pd_settings_parse(arena, table, "empty.conf", NULL, "", 0, &values, &settings, &err))
            fail_msg("defaults of %s do not parse: %s", table->surface, err.message);
        for (size_t i = 0; i < table->count; i++)
            assert_int_equal(settings.sources[i].origin, PD_SETTING_FROM_DEFAULT);
        pd_arena_free(arena);
    }
}

static void
test_file_values_carry_file_and_line(void **state)
{
    (void)state;
    PdArena *arena = pd_arena_new(0);
    const char *text = "# comment\n\nmodels = shop.pdm\nlock_wait_ms = 2min  # two minutes\n"
                       "lock_timeout_ms = \"250ms\"\nlog_level = NOTICE\n";
    PdMigrateSettings values;
    PdSettings settings;
    PdError err;
    assert_true(pd_settings_parse(arena, &pd_settings_migrate, "conf/p.conf", "/srv/conf", text, strlen(text),
                                  &values, &settings, &err));
    assert_string_equal(values.models, "/srv/conf/shop.pdm");
    assert_string_equal(values.migrations, "migrations");
    assert_int_equal(values.lock_wait_ms, 120000);
    assert_int_equal(values.lock_timeout_ms, 250);
    assert_int_equal(values.log_level, 2);
    size_t models = (size_t)(pd_settings_find(&pd_settings_migrate, "models") - pd_settings_migrate.settings);
    assert_int_equal(settings.sources[models].origin, PD_SETTING_FROM_FILE);
    assert_string_equal(pd_settings_format_source(arena, &settings.sources[models]), "conf/p.conf:3");
    char *described = pd_settings_describe(arena, &settings, NULL);
    assert_contains(described, "lock_wait_ms = 120000");
    assert_contains(described, "# conf/p.conf:4\n");
    assert_contains(described, "migrations = \"migrations\"");
    assert_contains(described, "# default\n");
    pd_arena_free(arena);
}

static void
test_every_problem_at_once(void **state)
{
    (void)state;
    PdArena *arena = pd_arena_new(0);
    const char text[] = "lock_retries = 101\nmodles = x\nlock_timeout_ms = 5 days\nnothing here\n"
                        "log_level = \"info\n\0models = y\n";
    PdMigrateSettings values;
    PdSettings settings;
    PdError err;
    assert_false(pd_settings_parse(arena, &pd_settings_migrate, "p.conf", NULL, text, sizeof(text) - 1,
                                   &values, &settings, &err));
    assert_int_equal(err.code, PD_ERR_INVALID_INPUT);
    assert_string_equal(err.message,
                        "p.conf:1: lock_retries must be a whole number from 0 to 100, not \"101\"");
    static const char *const expected[] = {
        "lock_retries must be a whole number from 0 to 100, not \"101\"",
        "unknown setting \"modles\"; did you mean \"models\"?",
        "lock_timeout_ms must be a duration from 1 to 600000 ms, not \"5 days\"",
        "expected \"name = value\"",
        "log_level: unterminated quoted value",
        "a NUL byte in the line",
    };
    assert_int_equal(err.problem_count, 6);
    for (size_t i = 0; i < 6; i++)
    {
        assert_string_equal(err.problems[i].message, expected[i]);
        assert_string_equal(err.problems[i].pos.file, "p.conf");
        assert_int_equal(err.problems[i].pos.line, (int)i + 1);
    }
    assert_string_equal(err.field, "lock_retries");
    assert_string_equal(err.problems[1].field, "modles");
    assert_string_equal(err.problems[3].field, "");
    pd_arena_free(arena);
}

/* A value or name quoted in a problem is cut between characters (é is 2 bytes: the 80th and 81st here). */
static void
test_quoted_values_are_cut_between_characters(void **state)
{
    (void)state;
    PdArena *arena = pd_arena_new(0);
    char x79[80], x63[64];
    memset(x79, 'x', 79), x79[79] = '\0';
    memset(x63, 'x', 63), x63[63] = '\0';
    char *text = pd_arena_sprintf(arena, "lock_retries = %s\xc3\xa9 and more\n%s\xc3\xa9 = 1\n", x79, x63);
    PdMigrateSettings values;
    PdSettings settings;
    PdError err;
    assert_false(pd_settings_parse(arena, &pd_settings_migrate, "p.conf", NULL, text, strlen(text), &values,
                                   &settings, &err));
    assert_int_equal(err.problem_count, 2);
    char *expected =
        pd_arena_sprintf(arena, "lock_retries must be a whole number from 0 to 100, not \"%s\"", x79);
    assert_string_equal(err.problems[0].message, expected);
    assert_string_equal(err.problems[1].message, pd_arena_sprintf(arena, "unknown setting \"%s\"", x63));
    pd_arena_free(arena);
}

/* A problem longer than a problem's text (199 bytes) is cut between characters too: here the list of
 * choices puts the cut inside the quoted value's 25th é. */
static void
test_long_problem_is_cut_between_characters(void **state)
{
    (void)state;
    static const char *const choices[] = {"choice_number1", "choice_number2", "choice_number3",
                                          "choice_number4", "choice_number5", "choice_number6",
                                          "choice_number7", "choice_number8", NULL};
    static const PdSetting rows[] = {{.name = "n",
                                      .type = PD_SETTING_ENUM,
                                      .default_value = "choice_number1",
                                      .choices = choices,
                                      .description = "a setting with many choices"}};
    static const PdSettingTable table = {"test", rows, 1};
    PdArena *arena = pd_arena_new(0);
    char text[128] = "n = ";
    for (int i = 0; i < 40; i++)
        strcat(text, "\xc3\xa9");
    int values[16];
    PdSettings settings;
    PdError err;
    assert_false(
        pd_settings_parse(arena, &table, "p.conf", NULL, text, strlen(text), values, &settings, &err));
    const char *message = err.problems[0].message;
    assert_int_equal(strlen(message), 198); /* "n must be one of ..., not \"" (150 bytes) and 24 é */
    assert_int_equal((unsigned char)message[197], 0xa9);
    pd_arena_free(arena);
}

static void
test_precedence_and_sources(void **state)
{
    (void)state;
    PdArena *arena = pd_arena_new(0);
    const char *environment[] = {"PRODATA_LOCK_RETRIES=7", "PRODATA_LOCK_WAIT_MS=9", "PRODATA_LOCK_RETRIES=8",
                                 "HOME=/root", NULL};
    PdSettingOverride overrides[] = {{"lock_wait_ms", "--lock-wait-ms", "1s"}, {"models", NULL, "m.pdm"}};
    PdSettingsInput input = {.environ = environment, .overrides = overrides, .override_count = 2};
    PdMigrateSettings values;
    PdSettings settings;
    PdError err;
    assert_true(pd_settings_load(arena, &pd_settings_migrate, &input, &values, &settings, &err));
    assert_null(settings.file);
    assert_int_equal(values.lock_retries, 7); /* the first of two, as getenv */
    assert_int_equal(values.lock_wait_ms, 1000);
    assert_string_equal(values.models, "m.pdm"); /* not from a file: stays relative */
    char *described = pd_settings_describe(arena, &settings, NULL);
    assert_contains(described, "# no settings file\n");
    assert_contains(described, "lock_retries = 7");
    assert_contains(described, "# PRODATA_LOCK_RETRIES\n");
    assert_contains(described, "# --lock-wait-ms\n");
    assert_contains(described, "# --models\n");
    pd_arena_free(arena);
}

static const char *
refuse_passwords(const char *value)
{
    return strstr(value, "password") != NULL ? "no passwords here" : NULL;
}

static char *
mask_everything(PdArena *arena, const char *value)
{
    return pd_arena_sprintf(arena, "masked(%zu)", strlen(value));
}

static void
test_secrets(void **state)
{
    (void)state;
    PdArena *arena = pd_arena_new(0);
    PdSettingOverride overrides[] = {{"database", NULL, "host=x"}};
    PdSettingsInput input = {.overrides = overrides, .override_count = 1};
    PdMigrateSettings values;
    PdSettings settings;
    PdError err;
    /* Without hooks, any command-line value of a secret setting is refused. */
    assert_false(pd_settings_load(arena, &pd_settings_migrate, &input, &values, &settings, &err));
    assert_contains(err.message, "--database: it may hold a secret");
    PdSecretHooks hooks = {mask_everything, refuse_passwords};
    input.secrets = &hooks;
    assert_true(pd_settings_load(arena, &pd_settings_migrate, &input, &values, &settings, &err));
    assert_string_equal(values.database, "host=x");
    assert_contains(pd_settings_describe(arena, &settings, &hooks), "database = \"masked(6)\"");
    assert_contains(pd_settings_describe(arena, &settings, NULL), "database = \"********\"");
    overrides[0].value = "host=x password=p";
    assert_false(pd_settings_load(arena, &pd_settings_migrate, &input, &values, &settings, &err));
    assert_string_equal(err.message, "--database: no passwords here");
    assert_string_equal(err.field, "database");
    assert_int_equal(err.pos.line, 0);
    pd_arena_free(arena);
}

static void
test_suggestions(void **state)
{
    (void)state;
    assert_string_equal(pd_settings_suggest(&pd_settings_migrate, "lock-timout-ms"), "lock_timeout_ms");
    assert_string_equal(pd_settings_suggest(&pd_settings_migrate, "migration"), "migrations");
    assert_string_equal(pd_settings_suggest(&pd_settings_migrate, "loglevel"), "log_level");
    assert_null(pd_settings_suggest(&pd_settings_migrate, "colour"));
    assert_null(pd_settings_suggest(&pd_settings_migrate, "db"));
    assert_null(pd_settings_suggest(&pd_settings_migrate, ""));
}

static void
test_suggestions_among_other_names(void **state)
{
    (void)state;
    static const char *const keywords[] = {"host", "hostaddr", "port", "dbname", "user", "sslmode", NULL};
    assert_ptr_equal(pd_settings_suggest_among("hots", keywords), keywords[0]);
    assert_string_equal(pd_settings_suggest_among("Host", keywords), "host");
    assert_string_equal(pd_settings_suggest_among("db-name", keywords), "dbname");
    assert_string_equal(pd_settings_suggest_among("sslmod", keywords), "sslmode");
    assert_null(pd_settings_suggest_among("colour", keywords));
    assert_null(pd_settings_suggest_among("", keywords));
    assert_null(pd_settings_suggest_among("host", NULL));
}

static void
test_help_and_docs_come_from_the_table(void **state)
{
    (void)state;
    PdArena *arena = pd_arena_new(0);
    char *help = pd_settings_help(arena, &pd_settings_migrate);
    char *docs = pd_settings_docs(arena, &pd_settings_migrate);
    for (size_t i = 0; i < pd_settings_migrate.count; i++)
    {
        const PdSetting *setting = &pd_settings_migrate.settings[i];
        assert_contains(help, pd_arena_sprintf(arena, "\n  %s ", pd_settings_option(arena, setting)) + 1);
        assert_contains(docs, pd_arena_sprintf(arena, "| `%s` |", setting->name));
    }
    assert_contains(help, "--lock-wait-ms MS");
    assert_contains(docs, "| `lock_timeout_ms` | duration (ms) | `5000` | 1 to 600000 | restart |");
    assert_contains(docs, "`debug`, `info`, `notice`, `warning`, `error` | reload |");
    pd_arena_free(arena);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_every_table_is_well_formed),
        cmocka_unit_test(test_file_values_carry_file_and_line),
        cmocka_unit_test(test_every_problem_at_once),
        cmocka_unit_test(test_quoted_values_are_cut_between_characters),
        cmocka_unit_test(test_long_problem_is_cut_between_characters),
        cmocka_unit_test(test_precedence_and_sources),
        cmocka_unit_test(test_secrets),
        cmocka_unit_test(test_suggestions),
        cmocka_unit_test(test_suggestions_among_other_names),
        cmocka_unit_test(test_help_and_docs_come_from_the_table),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
