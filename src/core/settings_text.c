/*
 * settings_text.c - settings shown to people, all from the tables of
 * settings.c: a value with its source (`prodata config`), the options part of
 * --help, and the markdown reference table that docs/configuration.md holds
 * verbatim. A secret value is shown only through the caller's mask (libpq
 * knows what a password looks like in a conninfo), else as "********".
 */
#include <inttypes.h>
#include <string.h>

#include "prodata/settings.h"
#include "prodata/strbuf.h"

static const char *
unit_of(const PdSetting *setting)
{
    return setting->unit != NULL ? setting->unit : "";
}

static char *
format_field(PdArena *arena, const PdSetting *setting, const void *values, const PdSecretHooks *secrets)
{
    const char *field = (const char *)values + setting->offset;
    switch (setting->type)
    {
        case PD_SETTING_INT:
        case PD_SETTING_DURATION_MS:
            return pd_arena_sprintf(arena, "%d", *(const int *)field);
        case PD_SETTING_BOOL:
            return pd_arena_strdup(arena, *(const bool *)field ? "on" : "off");
        case PD_SETTING_ENUM:
            return pd_arena_strdup(arena, setting->choices[*(const int *)field]);
        case PD_SETTING_PATH:
        case PD_SETTING_STRING:
            break;
    }
    const char *text = *(const char *const *)field;
    if (text == NULL)
        text = "";
    if (setting->may_hold_secret && secrets != NULL && secrets->mask != NULL)
        text = secrets->mask(arena, text);
    else if (setting->may_hold_secret && text[0] != '\0')
        text = "********";
    return pd_arena_sprintf(arena, "\"%s\"", text != NULL ? text : "");
}

char *
pd_settings_format_value(PdArena *arena, const PdSettings *settings, size_t index,
                         const PdSecretHooks *secrets)
{
    return format_field(arena, &settings->table->settings[index], settings->values, secrets);
}

char *
pd_settings_format_source(PdArena *arena, const PdSettingSource *source)
{
    switch (source->origin)
    {
        case PD_SETTING_FROM_DEFAULT:
            return pd_arena_strdup(arena, "default");
        case PD_SETTING_FROM_FILE:
            return pd_arena_sprintf(arena, "%s:%d", source->where, source->line);
        case PD_SETTING_FROM_ENVIRONMENT:
        case PD_SETTING_FROM_COMMAND_LINE:
            break;
    }
    return pd_arena_strdup(arena, source->where);
}

char *
pd_settings_describe(PdArena *arena, const PdSettings *settings, const PdSecretHooks *secrets)
{
    PdStrbuf out;
    pd_strbuf_init(&out, arena);
    if (settings->file != NULL)
        pd_strbuf_appendf(&out, "# settings file: %s\n", settings->file);
    else
        pd_strbuf_append(&out, "# no settings file\n");
    for (size_t i = 0; i < settings->table->count; i++)
    {
        char *line = pd_arena_sprintf(arena, "%s = %s", settings->table->settings[i].name,
                                      pd_settings_format_value(arena, settings, i, secrets));
        pd_strbuf_appendf(&out, "%-40s # %s\n", line ? line : "",
                          pd_settings_format_source(arena, &settings->sources[i]));
    }
    return (char *)pd_strbuf_text(&out);
}

char *
pd_settings_option(PdArena *arena, const PdSetting *setting)
{
    char *option = pd_arena_sprintf(arena, "--%s", setting->name);
    for (char *c = option; c != NULL && *c != '\0'; c++)
        if (*c == '_')
            *c = '-';
    return option;
}

static const char *
placeholder(PdArena *arena, const PdSetting *setting)
{
    if (setting->placeholder != NULL)
        return setting->placeholder;
    switch (setting->type)
    {
        case PD_SETTING_INT:
            return "N";
        case PD_SETTING_DURATION_MS:
            return "MS";
        case PD_SETTING_BOOL:
            return "on|off";
        case PD_SETTING_ENUM:
            return pd_settings_choices(arena, setting, "|");
        case PD_SETTING_PATH:
            return "PATH";
        case PD_SETTING_STRING:
            break;
    }
    return "TEXT";
}

/*
 * "  --option VALUE           text" with text wrapped at 100 columns under
 * its first line; a long option puts the text on the next line.
 */
static void
append_help_line(PdStrbuf *out, const char *usage, const char *text)
{
    enum
    {
        INDENT = 27,
        WIDTH = 100
    };
    size_t column = (size_t)INDENT;
    if (strlen(usage) + 3 > (size_t)INDENT)
        pd_strbuf_appendf(out, "  %s\n%*s", usage, INDENT, "");
    else
        pd_strbuf_appendf(out, "  %-24s ", usage);
    for (const char *word = text; *word != '\0';)
    {
        size_t length = strcspn(word, " ");
        if (column > (size_t)INDENT && column + 1 + length > (size_t)WIDTH)
        {
            pd_strbuf_appendf(out, "\n%*s", INDENT, "");
            column = (size_t)INDENT;
        }
        else if (column > (size_t)INDENT)
        {
            pd_strbuf_append_char(out, ' ');
            column++;
        }
        pd_strbuf_append_length(out, word, length);
        column += length;
        word += length;
        while (*word == ' ')
            word++;
    }
    pd_strbuf_append_char(out, '\n');
}

char *
pd_settings_help(PdArena *arena, const PdSettingTable *table)
{
    PdStrbuf out;
    pd_strbuf_init(&out, arena);
    for (size_t i = 0; i < table->count; i++)
    {
        const PdSetting *setting = &table->settings[i];
        char *usage =
            pd_arena_sprintf(arena, "%s %s", pd_settings_option(arena, setting), placeholder(arena, setting));
        const char *default_text = setting->default_value[0] != '\0' ? setting->default_value : "empty";
        char *text = pd_arena_sprintf(arena, "%s (default %s%s%s)", setting->description, default_text,
                                      unit_of(setting)[0] ? " " : "", unit_of(setting));
        if (usage == NULL || text == NULL)
            return NULL;
        append_help_line(&out, usage, text);
    }
    return (char *)pd_strbuf_text(&out);
}

static const char *
type_name(const PdSetting *setting)
{
    static const char *const names[] = {"string", "path", "integer", "boolean", "duration", "enum"};
    return names[setting->type];
}

/* One markdown row of the reference table. */
static void
docs_row(PdArena *arena, PdStrbuf *out, const PdSetting *setting)
{
    pd_strbuf_appendf(out, "| `%s` | %s%s%s%s | ", setting->name, type_name(setting),
                      unit_of(setting)[0] ? " (" : "", unit_of(setting), unit_of(setting)[0] ? ")" : "");
    if (setting->default_value[0] != '\0')
        pd_strbuf_appendf(out, "`%s` | ", setting->default_value);
    else
        pd_strbuf_append(out, "empty | ");
    if (setting->type == PD_SETTING_INT || setting->type == PD_SETTING_DURATION_MS)
        pd_strbuf_appendf(out, "%" PRId64 " to %" PRId64, setting->min_value, setting->max_value);
    else if (setting->type == PD_SETTING_ENUM)
        pd_strbuf_appendf(out, "`%s`", pd_settings_choices(arena, setting, "`, `"));
    pd_strbuf_appendf(out, " | %s | %s%s |\n", setting->apply == PD_SETTING_RELOAD ? "reload" : "restart",
                      setting->description,
                      setting->may_hold_secret ? "; may hold a password: masked when shown, refused on the "
                                                 "command line"
                                               : "");
}

char *
pd_settings_docs(PdArena *arena, const PdSettingTable *table)
{
    PdStrbuf out;
    pd_strbuf_init(&out, arena);
    pd_strbuf_append(&out, "| setting | type | default | bounds | takes effect | what |\n"
                           "|---|---|---|---|---|---|\n");
    for (size_t i = 0; i < table->count; i++)
        docs_row(arena, &out, &table->settings[i]);
    return (char *)pd_strbuf_text(&out);
}
