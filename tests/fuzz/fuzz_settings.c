/*
 * fuzz_settings.c - the settings file parser on any text, against the
 * migrate table. It succeeds or gives an input error (never another code);
 * every value it takes names a line of the input; and what `prodata config`
 * prints for the values taken is itself a settings file that parses to the
 * same values (unless a value holds a double quote: the format has no
 * escapes, so such a value can only be written bare).
 */
#include "fuzz.h"
#include "prodata/settings.h"

static char *
show_as_is(PdArena *arena, const char *value)
{
    return pd_arena_strdup(arena, value);
}

static const PdSecretHooks as_is = {show_as_is, NULL};

/* A string value holding a double quote: the format can write it only bare, so no round trip is promised. */
static bool
has_inner_quote(PdArena *arena, const PdSettings *settings)
{
    for (size_t i = 0; i < settings->table->count; i++)
    {
        const char *shown = pd_settings_format_value(arena, settings, i, &as_is);
        FUZZ_ASSERT(shown != NULL, "out of memory");
        size_t length = strlen(shown);
        if (shown[0] == '"' && memchr(shown + 1, '"', length - 2) != NULL)
            return true;
    }
    return false;
}

static bool
is_same(PdArena *arena, const PdSettings *a, const PdSettings *b)
{
    for (size_t i = 0; i < a->table->count; i++)
        if (strcmp(pd_settings_format_value(arena, a, i, &as_is),
                   pd_settings_format_value(arena, b, i, &as_is)) != 0)
            return false;
    return true;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    PdArena *arena = pd_arena_new(0);
    PdMigrateSettings values, again_values;
    PdSettings settings, again;
    PdError err;
    if (!pd_settings_parse(arena, &pd_settings_migrate, "fuzz.conf", NULL, (const char *)data, size, &values,
                           &settings, &err))
    {
        FUZZ_ASSERT(err.code == PD_ERR_INVALID_INPUT, "parse failed with code %d: %s", (int)err.code,
                    err.message);
        pd_arena_free(arena);
        return 0;
    }
    size_t lines = 1;
    for (size_t i = 0; i < size; i++)
        lines += data[i] == '\n';
    for (size_t i = 0; i < settings.table->count; i++)
    {
        const PdSettingSource *source = &settings.sources[i];
        FUZZ_ASSERT(source->origin == PD_SETTING_FROM_DEFAULT || source->origin == PD_SETTING_FROM_FILE,
                    "setting %zu from origin %d", i, (int)source->origin);
        FUZZ_ASSERT(source->origin == PD_SETTING_FROM_DEFAULT ||
                        (source->line >= 1 && (size_t)source->line <= lines),
                    "setting %zu from line %d of %zu", i, source->line, lines);
    }
    const char *shown = pd_settings_describe(arena, &settings, &as_is);
    FUZZ_ASSERT(shown != NULL, "out of memory");
    if (!has_inner_quote(arena, &settings))
    {
        FUZZ_ASSERT(pd_settings_parse(arena, &pd_settings_migrate, "shown.conf", NULL, shown, strlen(shown),
                                      &again_values, &again, &err),
                    "what config shows does not parse: %s\n%s", err.message, shown);
        FUZZ_ASSERT(is_same(arena, &settings, &again), "values change when shown and read again:\n%s", shown);
    }
    pd_arena_free(arena);
    return 0;
}
